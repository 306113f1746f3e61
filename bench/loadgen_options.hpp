// loadgen_options.hpp: the command line of udpchat_loadgen (loadgen.cpp,
// whose opening comment lists every mode and option).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "crypto/sodium.hpp"
#include "protocol/limits.hpp"

namespace udpchat::bench {

/// Every option of every mode; a mode reads the ones it needs.
struct Options {
  std::string mode;
  std::uint16_t server_port = 0;
  std::uint16_t watch_port = 0;  ///< lag: the server of the client that watches
  std::size_t clients = 0;
  std::size_t senders = 0;
  std::size_t messages = 0;
  std::string to;
  std::size_t recipients = 1;
  std::size_t bytes = 100;
  std::size_t batch = 100;
  std::string dir;
  std::string samples;         ///< pingpong/bare: write every sample (us) here
  unsigned first_address = 2;  ///< clients bind 127.0.0.N, N+1, ... (25,000 each)
  bool heartbeats = false;
  std::string prefix = "v";
  std::size_t rows = 0;  ///< rows each must hold to count as converged (0: all N)
  double timeout_s = 60;
  double hold_s = 10;
  int heartbeat_ms = 30000;
  std::size_t procs = 1;  ///< saves: processes the senders are spread over
  long server_pid = 0;  ///< the server's process: its CPU per operation is reported
  int server_retries = kDefaultServerRetries;  ///< each virtual client's tries per request
  /// The server's public key, pinned by every client (as in its
  /// known_servers after a first run); unset, it is learnt at first contact.
  std::optional<crypto::Key> server_key;
};

/// Prints `why` and the usage line to stderr, then exits with status 2.
[[noreturn]] void usage(const char* why);
/// The mode (argv[1]) and its options; exits through usage() on a missing
/// mode, an unknown option, an option without its value or a bad server key.
Options parse_options(int argc, char** argv);

}  // namespace udpchat::bench
