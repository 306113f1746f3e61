// loadgen_options.cpp: udpchat_loadgen's command line (loadgen_options.hpp).
#include "bench/loadgen_options.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace udpchat::bench {

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr,
      "udpchat_loadgen: %s\nusage: udpchat_loadgen storm|online|saves|fanout|soak|pingpong|bare|oneway|"
      "sqlite|lag "
      "--server-port P [--watch-port W] "
      "[--clients N] [--rows R] [--timeout-s T] [--heartbeat-ms H] [--hold-s T] "
      "[--senders M --recipients R --messages K] [--heartbeats] [--bytes B] [--batch B] "
      "[--dir D] [--samples FILE] [--prefix P] [--first-address N] [--server-key HEX] "
      "[--server-retries N] [--to NICK] [--procs N] [--server-pid PID]\n",
      why);
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options o;
  if (argc < 2) usage("no mode");
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--heartbeats") {
      o.heartbeats = true;
      continue;
    }
    if (i + 1 >= argc) usage("an option needs a value");
    const std::string v = argv[++i];
    if (a == "--server-port")
      o.server_port = static_cast<std::uint16_t>(std::stoul(v));
    else if (a == "--watch-port")
      o.watch_port = static_cast<std::uint16_t>(std::stoul(v));
    else if (a == "--clients")
      o.clients = std::stoul(v);
    else if (a == "--senders")
      o.senders = std::stoul(v);
    else if (a == "--messages")
      o.messages = std::stoul(v);
    else if (a == "--to")
      o.to = v;
    else if (a == "--recipients")
      o.recipients = std::stoul(v);
    else if (a == "--bytes")
      o.bytes = std::stoul(v);
    else if (a == "--batch")
      o.batch = std::stoul(v);
    else if (a == "--dir")
      o.dir = v;
    else if (a == "--samples")
      o.samples = v;
    else if (a == "--first-address")
      o.first_address = static_cast<unsigned>(std::stoul(v));
    else if (a == "--prefix")
      o.prefix = v;
    else if (a == "--rows")
      o.rows = std::stoul(v);
    else if (a == "--timeout-s")
      o.timeout_s = std::stod(v);
    else if (a == "--server-key") {
      o.server_key = crypto::key_from_hex(v);
      if (!o.server_key) usage("--server-key needs 64 hex digits");
    } else if (a == "--hold-s")
      o.hold_s = std::stod(v);
    else if (a == "--heartbeat-ms")
      o.heartbeat_ms = std::stoi(v);
    else if (a == "--procs")
      o.procs = std::stoul(v);
    else if (a == "--server-pid")
      o.server_pid = std::stol(v);
    else if (a == "--server-retries")
      o.server_retries = std::stoi(v);
    else
      usage(("unknown option " + a).c_str());
  }
  if (o.server_port == 0 && o.mode != "bare" && o.mode != "sqlite" && o.mode != "oneway") {
    usage("--server-port is required");
  }
  return o;
}

}  // namespace udpchat::bench
