// shell.hpp: the entry points of the asio shells, as main() sees them.
//
// Nothing here includes asio: main.cpp parses the command line (cxxopts)
// and hands over plain option structs. Each run_* function owns the socket,
// timers, terminal and signals of its mode and returns the exit status
// (manual §3: 0 normal end, 1 runtime failure).
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <utility>
#include <vector>

#include "core/base/log.hpp"
#include "core/base/time.hpp"
#include "protocol/limits.hpp"

namespace udpchat {

struct CommonOptions {
  std::string bind;  ///< local address; empty: 0.0.0.0, or :: for an IPv6 server
  Duration ack_timeout = kDefaultAckTimeout;
  int server_retries = kDefaultServerRetries;
  Duration heartbeat = kDefaultHeartbeat;
  LogLevel log_level = LogLevel::kInfo;
  bool log_level_given = false;  ///< --log-level was set (command line or file)
  std::string log_file;          ///< --log-file FILE; empty: see run_client / stderr
};

struct ServerOptions {
  CommonOptions common;
  std::uint16_t port = 0;
  std::string data_dir = "./udpchat-data";
  /// --store URI: the state in PostgreSQL (manual §6.12); empty: SQLite in data_dir.
  std::string store;
  std::size_t max_clients = kDefaultMaxClients;
  std::size_t max_stored = kDefaultMaxStoredPerClient;
  std::size_t max_posts_per_minute = kDefaultMaxPostsPerMinute;  ///< 0: no limit
  std::size_t max_log_posts = kDefaultMaxLogPosts;  ///< untrimmed per client and log; 0: no limit
  /// --log-retention-days: a member offline longer no longer holds the
  /// channel and group logs back (0: for ever).
  Duration log_retention = kDefaultLogRetention;
  Duration table_batch = kDefaultTableBatch;
  std::size_t full_table_limit = kDefaultFullTableLimit;
  std::size_t fanout_window = kDefaultFanoutWindow;  ///< manual §4.9
  double rate_limit = kDefaultRateLimit;             ///< datagrams/s per source (manual §9)
  double handshake_rate = kDefaultHandshakeRate;     ///< handshakes/s, all sources
  std::string metrics_host;  ///< --metrics ADDR:PORT (manual §6.10); empty: none
  std::uint16_t metrics_port = 0;
};

struct ClientOptions {
  CommonOptions common;
  std::string nick;
  std::string server_host;  ///< IPv4, IPv6 or a host name
  /// --cluster: the other servers of its cluster (docs/CLUSTER.md), host and port.
  std::vector<std::pair<std::string, std::uint16_t>> other_servers;
  std::uint16_t server_port = 0;
  std::uint16_t client_port = 0;
  std::size_t max_pending = kDefaultMaxPendingPerPeer;
  /// docs/NAT.md: heartbeats at most this far apart behind a NAT.
  std::chrono::milliseconds nat_keepalive = kDefaultNatKeepalive;
  std::string key_file;          ///< empty: $XDG_DATA_HOME/udpchat/<nick>.key
  std::string server_key;        ///< 64 hex digits, or empty: known_servers (manual §9)
  std::string password;          ///< manual §9: --password=<password>, or empty
  bool ask_password = false;     ///< --password alone: asked on the terminal, without echo
  bool json = false;             ///< manual §4.10: --json, events as JSON lines
  bool no_history = false;       ///< manual §4.11: --no-history
  int history_days = 0;          ///< manual §4.11: --history-days (0: for ever)
  bool store_sync_full = false;  ///< manual §4.11: --store-sync full (fsync each commit)
};

int run_server(const ServerOptions& options);
int run_client(const ClientOptions& options);

/// Writes one log record to stderr through spdlog when `level` is at or
/// above `threshold`: "YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL text" (UTC), or
/// "<priority>text" when stderr is the systemd journal (stderr_is_journal).
/// Thread-safe; each record is flushed at once.
void write_log(LogLevel threshold, LogLevel level, const std::string& text);

/// From now on, write_log writes to the file `path` (appended to; made
/// with mode 0600 if a regular file; at 1 MiB renamed with .1 before its
/// extension, alice.log -> alice.1.log, the older one to alice.2.log)
/// instead of stderr, in the same format as on a terminal. Call before any
/// thread that logs starts. Error: why the file cannot be opened (the log
/// stays on stderr).
std::expected<void, std::string> log_to_file(const std::string& path);

/// manual §4.8: where a client's log goes. `--log-file` names a file;
/// otherwise a client whose standard error is the terminal of its chat
/// (fd 1 and fd 2 the same terminal, not --json) logs to `<key file>.log`
/// beside `key_file`, so the screen carries only ">>> " lines and the
/// prompt, unless the user asked for a level with --log-level (then the
/// records are wanted on the screen). Elsewhere (a pipe, a file, the
/// journal) standard error, as the server does. Error: a --log-file that
/// cannot be written (the caller exits 1). A log beside the key file that
/// cannot be written stays on standard error, said there once.
std::expected<void, std::string> route_client_log(const ClientOptions& options,
                                                  const std::string& key_file);

/// True when stderr is the journal's stream: $JOURNAL_STREAM is
/// "<device>:<inode>" of fd 2 (systemd.exec(5), "JOURNAL_STREAM").
bool stderr_is_journal();

}  // namespace udpchat
