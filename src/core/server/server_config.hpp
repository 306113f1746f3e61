// server_config.hpp: the server core's configuration and its statistics
// counters (manual §6.3), apart from the core (server_core.hpp) so that
// the shells and tests can name them without the core's private state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/base/time.hpp"
#include "protocol/limits.hpp"

namespace udpchat {

struct ServerConfig {
  Duration ack_timeout = kDefaultAckTimeout;     ///< ping window; spacing of retries
  int retries = kDefaultServerRetries;           ///< tries of server -> client datagrams
  std::size_t max_clients = kDefaultMaxClients;  ///< registrations refused beyond this
  std::size_t max_stored_per_client = kDefaultMaxStoredPerClient;  ///< saves refused beyond
  /// Channel and group posts per client a minute (0: no limit; post_rate.hpp).
  std::size_t max_posts_per_minute = kDefaultMaxPostsPerMinute;
  /// Untrimmed posts per client and log (0: no limit; log_quota.hpp).
  /// Not applied when `store_numbers` (those servers do not trim).
  std::size_t max_log_posts = kDefaultMaxLogPosts;
  /// How often the channel and group logs are trimmed below every
  /// position (0: never). One pass walks the registered clients.
  Duration log_trim_interval = kDefaultLogTrimInterval;
  /// A member offline longer than this (by the wall clock) no longer holds
  /// the logs back (0: for ever); told so, in whole days, when it returns.
  Duration log_retention = kDefaultLogRetention;
  /// How often idempotency keys older than kTombstoneAge are purged while
  /// the server runs (0: only at start), in chunks of kKeyPurgeChunk.
  Duration key_purge_interval = kKeyPurgeInterval;
  /// Changes within this window go out as one table version (0: at once,
  /// after each datagram or timer).
  Duration table_batch = kDefaultTableBatch;
  /// Up to this many registered clients every online client holds the
  /// whole table; beyond it, the rows it is interested in (manual §6.9).
  std::size_t full_table_limit = kDefaultFullTableLimit;
  /// Message deliveries awaiting an ack at once, over all clients (manual §4.9).
  std::size_t fanout_window = kDefaultFanoutWindow;
  /// docs/CLUSTER.md: this server's id among the servers sharing its store
  /// (empty: a store of one server).
  std::string server_id{};
  /// The store numbers messages itself, in commit order (a database shared
  /// by several servers): saves go with seq 0, and the core goes by the seq
  /// each completion names.
  bool store_numbers = false;
  /// Wall clock in ms since the Unix epoch, for the saved-at time of messages.
  std::function<std::int64_t()> wall_clock_ms{};
};

/// Counters for manual §6's statistics.
struct ServerStats {
  std::uint64_t datagrams_in = 0;
  std::uint64_t datagrams_out = 0;
  std::map<std::string, std::uint64_t> requests;  ///< served, by kind
  std::map<std::string, std::uint64_t> dropped;   ///< by cause
  std::uint64_t messages_stored = 0;              ///< saves made durable
  std::uint64_t messages_delivered = 0;           ///< stored messages acked
  std::uint64_t log_rows_trimmed = 0;             ///< log messages every member passed
  std::uint64_t keys_purged = 0;                  ///< idempotency keys past kTombstoneAge
  std::uint64_t retransmissions = 0;
  /// docs/NAT.md: datagrams passed on live between clients (relays and
  /// their acks), and their bytes as received.
  std::uint64_t relayed = 0;
  std::uint64_t relayed_bytes = 0;
  std::vector<std::int64_t> service_us;  ///< recent service times, microseconds
  void record_service_time(std::int64_t us);
  /// The p-th percentile (0..100) of recent service times, in microseconds.
  [[nodiscard]] std::int64_t service_percentile(double p) const;
};

}  // namespace udpchat
