// server_state.hpp: the records ServerCore keeps per client, group and
// mailbox (server_core.hpp names them Client, Group, Mailbox). Plain data,
// private to src/core; the core's methods own every invariant over them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/base/time.hpp"
#include "core/server/offline_store.hpp"
#include "protocol/codec.hpp"
#include "protocol/endpoint.hpp"
#include "protocol/limits.hpp"

namespace udpchat {

/// A message read ahead for delivery, shared by every recipient of a
/// channel or group message (stored once, in memory once).
using MessagePtr = std::shared_ptr<const StoredMessage>;

/// One registered client, as the server core holds it.
struct ServerClient {
  std::string nick;
  Endpoint endpoint;  ///< where its datagrams come from: its public endpoint
  Endpoint local;     ///< its local endpoint when it differs (behind a NAT), else empty
  /// docs/CLUSTER.md: the id of the server its session lives at ("": here,
  /// or one server), and whether that is another server of the cluster (its
  /// row came from the change table): then nothing is sent to it from here,
  /// and its row is written only by its home.
  std::string home;
  bool remote = false;
  std::string key;                ///< public key the nickname belongs to (empty: not yet bound)
  std::string password_hash;      ///< Argon2id hash (encoded), or empty: no password
  int password_failures = 0;      ///< wrong passwords in a row (kept in memory only)
  TimePoint password_retry_at{};  ///< no password check before this (after failures)
  bool online = false;
  Duration heartbeat = kDefaultHeartbeat;
  TimePoint last_heard{};
  std::uint64_t delivery_id = 0;         ///< transport id of the stored message in flight
  std::int64_t delivered_upto = 0;       ///< seq of the last stored message it acked
  std::vector<std::uint64_t> table_ids;  ///< table parts sent to it, not yet acked
  /// The update being sent, while parts of it are still to go (at most
  /// kTableWindow in flight), and the next part to send.
  std::shared_ptr<PreparedUpdate> table_update;
  std::uint32_t table_next_part = 0;
  // Table sync (manual §6.9): versioned rows, updates by delta.
  std::uint64_t row_version = 0;      ///< table version at which this row last changed
  std::uint64_t held_version = 0;     ///< version the client is known to hold (0: none)
  std::uint64_t sending_version = 0;  ///< version of the update in table_ids
  bool awaiting_table = false;        ///< registered, no table sent yet: no delivery
  // Vectors, not deques: an empty std::deque allocates ~600 bytes, which a
  // million registered clients would pay twice (measured: 1.7 GiB RSS).
  std::vector<std::string> interest;  ///< rows it looked up or wrote to, oldest first
  // Stored delivery reads ahead a few messages at a time (FetchOp).
  std::vector<MessagePtr> prefetched;  ///< read, not yet sent; front is in flight
  std::int64_t fetched_upto = 0;       ///< seq of the last message read
  bool fetching = false;               ///< a FetchOp is in flight
  bool drained = false;                ///< the last fetch found no more
  /// A message for it was fanned out while a fetch was in flight, which
  /// may not read its log (not known to have a backlog when it was issued,
  /// as a post made at another server of a cluster): read again after it.
  bool refetch = false;
  std::uint64_t delivery_epoch = 0;    ///< bumped when delivery restarts
  // Channel and groups (manual §4.9).
  std::int64_t log_upto = 0;        ///< position in the logs (persisted)
  std::int64_t last_seen_ms = 0;    ///< wall clock when last known online (persisted)
  std::int64_t backlog_seq = 0;     ///< last seq at its registration: older is "stored"
  std::vector<std::string> groups;  ///< keys of the groups it is in
  bool window_waiting = false;      ///< queued for a slot of the fan-out window
  bool window_turn = false;         ///< its turn came: it may take a slot before the queue
};
/// A named group: its name as created and its members' keys with the
/// seq after which they receive its messages.
struct ServerGroup {
  std::string name;
  std::map<std::string, std::int64_t> members;
};
/// Trimming the channel and group logs (server_groups.cpp).
struct LogTrim {
  std::int64_t upto = 0;     ///< every log row up to this seq was trimmed (durably)
  bool in_flight = false;    ///< a TrimLogsOp is with the store writer
  std::int64_t issued = 0;   ///< its `upto`, while in flight
  TimePoint next{};        ///< when the next pass runs
};
/// Purging old idempotency keys while the server runs (server_durability.cpp).
struct KeyPurge {
  bool in_flight = false;  ///< a PurgeKeysOp is with the store writer
  TimePoint next{};        ///< when the next pass runs (a full chunk: the next sweep)
};
/// Undelivered messages per recipient, kept as counts (never counted
/// from the store on the hot path).
struct ServerMailbox {
  std::size_t waiting = 0;  ///< durable, undelivered
  std::size_t saving = 0;   ///< SaveOps in flight
};

}  // namespace udpchat
