// main.cpp: the command line (manual §3), parsed with cxxopts. Picks the mode
// and hands plain options to the asio shells. Usage errors name the
// argument and the rule it broke, and exit with status 2.
#include <arpa/inet.h>

#include <cxxopts.hpp>

#include <charconv>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "app/shell.hpp"
#include "crypto/sodium.hpp"
#include "protocol/text.hpp"

#ifndef UDPCHAT_VERSION
#define UDPCHAT_VERSION "0.0.0"
#endif

namespace {

using namespace udpchat;

struct UsageError {
  std::string message;
};

constexpr const char* kSynopsis =
    "  udpchat -s <port> [options]                                          run the server\n"
    "  udpchat -c <nick> <server-ip> <server-port> <client-port> [options]  run a client\n";

template <typename T>
std::optional<T> parse_int(const std::string& s) {
  T value{};
  const auto* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (ec != std::errc() || ptr != end || s.empty()) return std::nullopt;
  return value;
}

std::uint16_t parse_port(const std::string& what, const std::string& value) {
  const auto v = parse_int<long long>(value);
  if (!v || *v < static_cast<long long>(kMinPort) || *v > static_cast<long long>(kMaxPort)) {
    throw UsageError{what + " must be an integer from " + std::to_string(kMinPort) + " to " +
                     std::to_string(kMaxPort) + " (got '" + value + "')"};
  }
  return static_cast<std::uint16_t>(*v);
}

int parse_bounded(const cxxopts::ParseResult& r, const std::string& name, int lo, int hi,
                  int fallback) {
  if (r.count(name) == 0) return fallback;
  const std::string value = r[name].as<std::string>();
  const auto v = parse_int<long long>(value);
  if (!v || *v < lo || *v > hi) {
    throw UsageError{"--" + name + " must be an integer from " + std::to_string(lo) + " to " +
                     std::to_string(hi) + " (got '" + value + "')"};
  }
  return static_cast<int>(*v);
}

CommonOptions parse_common(const cxxopts::ParseResult& r) {
  CommonOptions c;
  if (r.count("bind") != 0) {
    c.bind = r["bind"].as<std::string>();
    unsigned char buf[16];
    if (inet_pton(AF_INET, c.bind.c_str(), buf) != 1 &&
        inet_pton(AF_INET6, c.bind.c_str(), buf) != 1) {
      throw UsageError{"--bind must be a numeric IPv4 or IPv6 address (got '" + c.bind + "')"};
    }
  }
  c.ack_timeout = milliseconds(parse_bounded(r, "ack-timeout-ms", 10, 60000, 500));
  c.server_retries = parse_bounded(r, "server-retries", 1, 100, kDefaultServerRetries);
  c.heartbeat = milliseconds(parse_bounded(r, "heartbeat-ms", 100, 86400000, 30000));
  const std::string level = r["log-level"].as<std::string>();
  if (level == "default") {
    return c;  // the caller picks the mode's default
  }
  const auto parsed = parse_log_level(level);
  if (!parsed) {
    throw UsageError{"--log-level must be one of trace, debug, info, warn, error (got '" + level +
                     "')"};
  }
  c.log_level = *parsed;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  cxxopts::Options options("udpchat",
                           "udpchat: chat over UDP with acknowledgements, a registry "
                           "server and offline messages.\n\nUsage:\n" +
                               std::string(kSynopsis));
  options.custom_help("-s <port> | -c <nick> <server-ip> <server-port> <client-port> [options]");
  options.positional_help("");
  // Every value is read as a string and checked here, so the error names
  // the argument and the rule rather than a C++ type.
  options.add_options()("s,server", "run the server on UDP <port>", cxxopts::value<std::string>(),
                        "<port>")("c,client", "run a client named <nick>",
                                  cxxopts::value<std::string>(), "<nick>")(
      "data-dir", "server: directory of the SQLite store",
      cxxopts::value<std::string>()->default_value("./udpchat-data"),
      "DIR")("bind", "local address to bind (default 0.0.0.0, or :: for an IPv6 server)",
             cxxopts::value<std::string>(), "ADDR")(
      "ack-timeout-ms", "ack window of a direct message, and spacing of server retries",
      cxxopts::value<std::string>(),
      "N")("server-retries", "tries of each request to the server (default 5)",
           cxxopts::value<std::string>(), "N")(
      "heartbeat-ms", "client: heartbeat interval announced to the server (default 30000)",
      cxxopts::value<std::string>(),
      "N")("max-clients", "server: registered nicknames at most (default 100000)",
           cxxopts::value<std::string>(),
           "N")("max-stored", "server: messages waiting per recipient at most (default 10000)",
                cxxopts::value<std::string>(),
                "N")("max-pending", "client: messages waiting for one peer at most (default 100)",
                     cxxopts::value<std::string>(), "N")(
      "table-batch-ms",
      "server: table changes within this window go out as one version (default 20)",
      cxxopts::value<std::string>(), "N")(
      "full-table-limit",
      "server: up to this many registered clients everyone holds the whole table (default 1000)",
      cxxopts::value<std::string>(),
      "N")("fanout-window",
           "server: channel, group and stored deliveries awaiting an ack at once (default 512)",
           cxxopts::value<std::string>(),
           "N")("rate-limit", "server: datagrams per second one source may send (default 1000)",
                cxxopts::value<std::string>(), "N")(
      "handshake-rate", "server: session handshakes per second over all sources (default 2000)",
      cxxopts::value<std::string>(),
      "N")("key-file", "client: its secret key (default $XDG_DATA_HOME/udpchat/<nick>.key)",
           cxxopts::value<std::string>(), "FILE")(
      "server-key", "client: the server's public key (64 hex digits) instead of known_servers",
      cxxopts::value<std::string>(),
      "HEX")("password",
             "client: the nickname's password (moves it to a new key); alone: asked without echo",
             cxxopts::value<std::string>()->implicit_value(""), "PASSWORD")(
      "log-level", "trace, debug, info, warn or error (default: server info, client warn)",
      cxxopts::value<std::string>()->default_value("default"),
      "LEVEL")("h,help", "show this help")("version", "show the version")(
      "args", "positional arguments", cxxopts::value<std::vector<std::string>>());
  options.parse_positional({"args"});

  try {
    const auto r = options.parse(argc, argv);
    if (r.count("help") != 0) {
      std::cout << options.help({""}) << "\n";
      return 0;
    }
    if (r.count("version") != 0) {
      std::cout << "udpchat " << UDPCHAT_VERSION << "\n";
      return 0;
    }
    const std::vector<std::string> args = r.count("args") != 0
                                              ? r["args"].as<std::vector<std::string>>()
                                              : std::vector<std::string>{};
    const bool server = r.count("server") != 0;
    const bool client = r.count("client") != 0;
    if (server == client) {
      throw UsageError{"give exactly one of -s <port> (server) or -c <nick> ... (client)"};
    }
    const bool default_level = r["log-level"].as<std::string>() == "default";
    if (server) {
      if (!args.empty()) {
        throw UsageError{"-s takes one argument, <port>; unexpected '" + args.front() + "'"};
      }
      ServerOptions o;
      o.port = parse_port("<port>", r["server"].as<std::string>());
      o.data_dir = r["data-dir"].as<std::string>();
      o.max_clients =
          static_cast<std::size_t>(parse_bounded(r, "max-clients", 1, 10000000, 100000));
      o.max_stored = static_cast<std::size_t>(parse_bounded(r, "max-stored", 1, 10000000, 10000));
      o.table_batch = milliseconds(parse_bounded(r, "table-batch-ms", 0, 10000, 20));
      o.full_table_limit =
          static_cast<std::size_t>(parse_bounded(r, "full-table-limit", 0, 20000, 1000));
      o.fanout_window = static_cast<std::size_t>(parse_bounded(r, "fanout-window", 1, 100000, 512));
      o.rate_limit =
          parse_bounded(r, "rate-limit", 1, 1000000, static_cast<int>(kDefaultRateLimit));
      o.handshake_rate =
          parse_bounded(r, "handshake-rate", 1, 1000000, static_cast<int>(kDefaultHandshakeRate));
      o.common = parse_common(r);
      if (default_level) o.common.log_level = LogLevel::kInfo;
      return run_server(o);
    }
    ClientOptions o;
    o.nick = r["client"].as<std::string>();
    if (!is_valid_nickname(o.nick)) {
      throw UsageError{"<nick> must be 1 to 32 characters from A-Z a-z 0-9 _ - . (got '" +
                       printable(o.nick) + "')"};
    }
    if (args.size() != 3) {
      throw UsageError{"-c needs <nick> <server-ip> <server-port> <client-port> (got " +
                       std::to_string(args.size() + 1) + " of 4)"};
    }
    o.server_host = args[0];
    if (o.server_host.empty()) {
      throw UsageError{"<server-ip> must be an IPv4 or IPv6 address or a host name"};
    }
    o.server_port = parse_port("<server-port>", args[1]);
    o.client_port = parse_port("<client-port>", args[2]);
    o.max_pending = static_cast<std::size_t>(parse_bounded(r, "max-pending", 1, 100000, 100));
    if (r.count("key-file") != 0) {
      o.key_file = r["key-file"].as<std::string>();
      if (o.key_file.empty()) throw UsageError{"--key-file must name a file"};
    }
    if (r.count("server-key") != 0) {
      o.server_key = r["server-key"].as<std::string>();
      if (!crypto::key_from_hex(o.server_key)) {
        throw UsageError{"--server-key must be 64 hexadecimal digits (got '" +
                         printable(o.server_key) + "')"};
      }
    }
    if (r.count("password") != 0) {
      o.password = r["password"].as<std::string>();
      o.ask_password = o.password.empty();
    }
    o.common = parse_common(r);
    if (default_level) o.common.log_level = LogLevel::kWarn;
    return run_client(o);
  } catch (const UsageError& e) {
    std::cerr << "udpchat: " << e.message << "\nUsage:\n"
              << kSynopsis << "Try 'udpchat --help' for the options.\n";
    return 2;
  } catch (const cxxopts::exceptions::exception& e) {
    std::cerr << "udpchat: " << e.what() << "\nUsage:\n"
              << kSynopsis << "Try 'udpchat --help' for the options.\n";
    return 2;
  }
}
