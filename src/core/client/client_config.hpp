// client_config.hpp: what a ClientSession is configured with (its options,
// keys, pins, store), and the helpers its shells and tests share (the
// end-to-end associated data and ack tags, the local time format).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/time.hpp"
#include "core/client/client_store.hpp"
#include "crypto/e2e.hpp"
#include "crypto/sodium.hpp"
#include "protocol/endpoint.hpp"
#include "protocol/limits.hpp"

namespace udpchat {

struct ClientConfig {
  std::string nick;  ///< valid nickname (manual §7)
  Endpoint server;   ///< resolved numeric address
  /// docs/CLUSTER.md: the other servers of its cluster (one key, one user
  /// base), tried in turn after `server` when the one in use stops
  /// answering, and at start before "[Server not responding]".
  std::vector<Endpoint> other_servers{};
  Duration ack_timeout = kDefaultAckTimeout;   ///< direct-message ack window
  int server_retries = kDefaultServerRetries;  ///< tries per server request
  Duration heartbeat = kDefaultHeartbeat;      ///< heartbeat interval (manual §6.6)
  /// docs/NAT.md: the longest gap between heartbeats while the client is
  /// behind a NAT (its public endpoint differs from `local`), so that the
  /// NAT keeps its mapping towards the server (RFC 4787 REQ-5: a mapping
  /// lives at least 2 minutes, many routers give 30 s).
  Duration nat_keepalive = kDefaultNatKeepalive;
  /// docs/NAT.md: the client's own address towards the server (its
  /// socket's local address), told at registration; empty: not known.
  Endpoint local{};
  std::size_t max_pending_per_peer = kDefaultMaxPendingPerPeer;  ///< typed, not yet through
  /// manual §8: the client's long-term key pair (its key file). An
  /// all-zero secret (unit tests of the session alone): one is made from
  /// the id seed.
  crypto::KeyPair key{};
  /// Peer keys pinned by earlier runs (known_peers), by nickname key.
  std::map<std::string, crypto::Key> peer_pins{};
  /// Nonces of the end-to-end boxes; unset: seeded from the id seed.
  crypto::RandomSource random{};
  /// manual §9: the nickname's password (--password), sent with every
  /// registration (inside the session's AEAD); empty: none.
  std::string password{};
  /// Formats a server timestamp (ms since the Unix epoch) as
  /// "YYYY-MM-DD HH:MM:SS" in the local time zone.
  std::function<std::string(std::int64_t)> format_time{};
  /// manual §4.11: the client's own store is in use. A message taken is
  /// acknowledged and shown only once its write committed
  /// (take_store_commands, on_store_completion). Off (unit tests, the load
  /// generator): acknowledged and shown at once, shown once per process.
  bool durable_store = false;
  bool keep_history = true;  ///< false: --no-history (only the ids of what was taken)
  int history_days = 0;      ///< --history-days: texts kept this many days (0: for ever)
  /// Taken and never shown, from the store at start: shown first by start().
  std::vector<HistoryEntry> unshown{};
  /// The wall clock, ms since the Unix epoch (history times); unset: the system's.
  std::function<std::int64_t()> wall_clock_ms{};
};

/// manual §8: what a direct message's box is bound to (its associated
/// data): sender, recipient (nickname keys) and message id, so a box
/// cannot be replayed as another message, sender or recipient.
[[nodiscard]] std::string e2e_associated_data(std::string_view from, std::string_view to,
                                              std::uint64_t mid);
/// The 16-byte tag a recipient puts on its ack of direct message `id`: a
/// keyed BLAKE2b under its sending key towards the sender (crypto_kx).
[[nodiscard]] std::string e2e_ack_tag(const crypto::Key& key, std::uint64_t id);

/// docs/NAT.md: the 16-byte tag of a Probe (`answer` false: a request)
/// with id `id`: a keyed BLAKE2b under the sender's sending key towards the
/// recipient, in another domain than the ack tag's.
[[nodiscard]] std::string e2e_probe_tag(const crypto::Key& key, std::uint64_t id, bool answer);

/// "YYYY-MM-DD HH:MM:SS" of `unix_ms` in the process's local time zone (TZ).
std::string format_local_time(std::int64_t unix_ms);

}  // namespace udpchat
