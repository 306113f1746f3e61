// server_core.hpp: the server (docs/MANUAL.md, sections 4 to 6) as a sans-I/O
// state machine: registry of clients, table broadcast, mailbox for offline
// clients, verification pings and liveness.
//
// Doors (sans-I/O, as quiche's connections): `start` (with the state the
// shell read from the store), `on_datagram`, `on_timeout` at
// `next_deadline()`, `on_store_completion`, `on_password_done`,
// `begin_shutdown`; take datagrams (`take_outgoing`), storage work
// (`take_store_commands`, store_ops.hpp), Argon2id work
// (`take_password_jobs`, password_jobs.hpp) and log records (`take_logs`).
// It never touches a disk, hashes a password or waits.
//
// Guarantees: a save is acknowledged only after the completion of the
// transaction that made it durable; every datagram that reveals a state
// change (a registration or deregistration ack, a table) is held until the
// store commands issued before it are durable, so a crash never leaves a
// client believing what the restarted server does not know; a stored
// message is deleted only after its recipient acked it;
// requests about a nickname are acted on only from the address it is
// registered at (manual §6); every request is answered idempotently (a reply
// cache keyed by (source, transport id) answers retransmissions with the
// same ack). Nothing here throws on any datagram.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/base/log.hpp"
#include "core/base/time.hpp"
#include "core/reliable/reliable.hpp"
#include "core/server/cluster_change.hpp"
#include "core/server/offline_store.hpp"
#include "core/server/password_jobs.hpp"
#include "core/server/log_quota.hpp"
#include "core/server/post_rate.hpp"
#include "core/server/server_config.hpp"
#include "core/server/server_state.hpp"
#include "core/server/server_waits.hpp"
#include "core/server/store_ops.hpp"
#include "core/session/rate_limit.hpp"
#include "protocol/codec.hpp"
#include "protocol/limits.hpp"
#include "protocol/messages.hpp"

namespace udpchat {

class ServerCore {
 public:
  ServerCore(ServerConfig config, std::uint64_t id_seed);

  /// Takes the state read from the store (clients, table version, mailbox
  /// sizes) and sends a verification ping to every client held online
  /// (manual §6.5).
  void start(const StoredState& state, TimePoint now);
  /// One datagram's plaintext from `from`, sent by the holder of public key
  /// `client_key` (32 bytes, authenticated by the session: ServerGate).
  /// Empty `client_key`: a caller without sessions (unit tests of the
  /// core); nicknames are then not bound to keys.
  void on_datagram(std::string_view bytes, const Endpoint& from, TimePoint now,
                   std::string_view client_key = {});
  /// The public key of the client registered at `at` (online or held
  /// online), if it has one: for the session layer's Reset frames.
  [[nodiscard]] std::optional<std::string> key_at(const Endpoint& at) const;
  void on_timeout(TimePoint now);
  [[nodiscard]] std::optional<TimePoint> next_deadline() const;

  /// Tells every online client the server is shutting down (manual §6).
  void begin_shutdown(TimePoint now);
  /// True once every shutdown notice was acked or given up.
  [[nodiscard]] bool shutdown_complete() const;

  std::vector<Outgoing> take_outgoing();
  /// Storage work issued since the last call, in ticket order, for the
  /// store writer (store_ops.hpp).
  std::vector<StoreCommand> take_store_commands() { return std::exchange(store_out_, {}); }
  /// The outcome of command `c.ticket`; completions must come in ticket
  /// order (a completion out of order is logged and ignored).
  void on_store_completion(const StoreCompletion& c, TimePoint now);
  /// docs/CLUSTER.md: what the other servers sharing the store changed, in
  /// the cluster's order, handed over with (before) the completions of the
  /// batch whose store read them: rows, saves for clients here, channel and
  /// group posts, memberships (server_cluster.cpp).
  void on_changes(const std::vector<ClusterChange>& changes, TimePoint now);
  std::vector<LogRecord> take_logs() { return std::exchange(logs_, {}); }
  /// Password hashes and checks issued since the last call (manual §9),
  /// for a worker off the event loop; each must come back, in any order,
  /// through on_password_done.
  std::vector<PasswordJob> take_password_jobs() { return std::exchange(password_out_, {}); }
  /// Password jobs in flight at most; more requests are refused as busy
  /// (each job holds 64 MiB and 0.1 s of a core).
  static constexpr std::size_t kMaxPasswordJobs = 8;
  /// Table parts in flight to one client at most, the rest sent as acks
  /// come back: TCP's ack clocking from an initial window of 10 segments
  /// (RFC 5681, RFC 6928), so a receiver working through a large update,
  /// or many clients' updates at once, is not sent more than it can ack
  /// within a retransmission timeout.
  static constexpr std::size_t kTableWindow = 10;
  /// The outcome of job `o.ticket`; an unknown ticket is ignored.
  void on_password_done(const PasswordOutcome& o, TimePoint now);

  [[nodiscard]] ServerStats& stats() { return stats_; }
  /// A datagram from `from` that the session layer dropped for `cause`
  /// ("bad_seal", ...): counted and logged at debug like the core's own.
  void on_dropped(const char* cause, const Endpoint& from) { drop(cause, from); }
  /// Multi-line human-readable statistics.
  [[nodiscard]] std::string stats_report() const;
  [[nodiscard]] std::uint64_t table_version() const { return version_; }
  [[nodiscard]] std::size_t clients_registered() const { return clients_.size(); }
  [[nodiscard]] std::size_t clients_online() const;
  /// Sizes of the server's in-flight state, to check that nothing grows
  /// without bound: datagrams awaiting an ack, saves in progress,
  /// verification pings, cached replies.
  struct PendingWork {
    std::size_t unacked = 0;
    std::size_t saves = 0;
    std::size_t verifications = 0;
    std::size_t cached_replies = 0;
    std::size_t store_commands = 0;  ///< issued, completion not yet back
    std::size_t held = 0;            ///< datagrams waiting for durability
  };
  [[nodiscard]] PendingWork pending_work() const {
    return {sender_.size(),  saves_.size(),         verifying_.size(),
            replies_.size(), ops_in_flight_.size(), held_.size()};
  }
  /// The whole table, every row with its version, sorted by nickname key.
  [[nodiscard]] std::vector<TableEntry> table() const;
  /// The rows client `nick` should hold: all of them up to
  /// full_table_limit registered clients, else its own and those it is
  /// interested in. Empty for an unknown nickname.
  [[nodiscard]] std::vector<TableEntry> rows_for(std::string_view nick) const;
  /// True while every online client holds the whole table.
  [[nodiscard]] bool full_table() const { return clients_.size() <= config_.full_table_limit; }

 private:
  /// How often liveness and failed deletions are swept.
  static constexpr Duration kSweepInterval = std::chrono::seconds(1);
  /// Heartbeat intervals a client may announce (manual §6.6), clamped to this.
  static constexpr milliseconds kMinHeartbeat{100};
  static constexpr milliseconds kMaxHeartbeat{24 * 3600 * 1000};
  /// Stored messages read ahead per FetchOp for one recipient.
  static constexpr std::size_t kFetchBatch = 16;
  /// Channel and group messages queued in memory for one online recipient
  /// at most; beyond, it reads them from the store when it gets there.
  static constexpr std::size_t kMaxPrefetched = 64;
  using MessagePtr = udpchat::MessagePtr;
  using Client = ServerClient;
  using Group = ServerGroup;
  using Mailbox = ServerMailbox;
  using After = server_waits::After;
  using OpWaiter = server_waits::OpWaiter;
  using Held = server_waits::Held;
  using SaveWaiter = server_waits::SaveWaiter;
  using RegisterWaiter = server_waits::RegisterWaiter;
  using PasswordWait = server_waits::PasswordWait;
  using RestartWaiter = server_waits::RestartWaiter;
  using DeliveryWaiter = server_waits::DeliveryWaiter;
  using TableWaiter = server_waits::TableWaiter;
  using Waiter = server_waits::Waiter;
  using Verification = server_waits::Verification;
  using PendingSave = server_waits::PendingSave;
  using Purpose = server_waits::Purpose;
  using Pending = server_waits::Pending;
  using LateNotice = server_waits::LateNotice;

  void log(LogLevel level, std::string text);
  std::uint64_t issue(StoreOp op, OpWaiter waiter);
  [[nodiscard]] bool all_durable() const { return ops_in_flight_.empty(); }
  void reply_when_durable(const Endpoint& to, std::uint64_t id, Ack ack);
  void send_reliable_when_durable(std::uint64_t id, const Endpoint& to, std::string bytes,
                                  RetryPolicy policy, Pending pending, TimePoint now);
  void release_held(TimePoint now);
  void on_saved(const OpWaiter& w, const std::expected<StoreValue, StoreError>& r, TimePoint now);
  void on_fetched(const OpWaiter& w, const std::expected<StoreValue, StoreError>& r, TimePoint now);
  void on_deleted(const OpWaiter& w, const std::expected<StoreValue, StoreError>& r);
  static std::string encode_reply(std::uint64_t id, Ack ack);
  void cache_reply(const Endpoint& to, std::uint64_t id, const std::string& bytes);
  void drop(const char* cause, const Endpoint& from);
  void reply(const Endpoint& to, std::uint64_t id, Ack ack);
  bool replay_cached(const Endpoint& from, std::uint64_t id);
  Client* authorised(std::string_view nick, const Endpoint& from);
  /// The client a request about `nick` from `from` (transport id `id`) is
  /// acted on for; nullptr when it was answered from the reply cache, or
  /// dropped (counted) because `from` is not where `nick` is registered.
  Client* request_from(std::string_view nick, const Endpoint& from, std::uint64_t id);
  void send_reliable(std::uint64_t id, const Endpoint& to, const Message& m, RetryPolicy policy,
                     Pending pending, TimePoint now);
  RetryPolicy server_policy() const;

  void handle(const Register& m, const Endpoint& from, TimePoint now);
  void handle(const Deregister& m, const Endpoint& from, TimePoint now);
  void handle(const Save& m, const Endpoint& from, TimePoint now);
  void handle(const Heartbeat& m, const Endpoint& from, TimePoint now);
  void handle(const Ack& m, const Endpoint& from, TimePoint now);
  void handle(const Lookup& m, const Endpoint& from, TimePoint now);
  void handle(const Find& m, const Endpoint& from, TimePoint now);
  void handle(const Post& m, const Endpoint& from, TimePoint now);
  void handle(const Join& m, const Endpoint& from, TimePoint now);
  void handle(const Leave& m, const Endpoint& from, TimePoint now);
  void handle(const ListGroups& m, const Endpoint& from, TimePoint now);

  /// A registration, once its password (if any) was hashed into
  /// `new_hash` (nullptr: not yet, or none given).
  void register_request(const Register& m, const Endpoint& from, TimePoint now,
                        const std::string* new_hash);
  /// `password_hash`: set on the nickname (a first registration with a
  /// password); nullptr keeps the one it has.
  void accept_registration(const Register& m, const Endpoint& from, TimePoint now,
                           const std::string* password_hash = nullptr);
  // Accounts (server_accounts.cpp, manual §9).
  /// Everything held about `key` goes (its row published as removed): a
  /// deleted account, here or at another server.
  void forget_client(const std::string& key, TimePoint now);
  void handle(const SetPassword& m, const Endpoint& from, TimePoint now);
  void handle(const DeleteAccount& m, const Endpoint& from, TimePoint now);
  // Hole punching and the live relay (server_introduce.cpp, docs/NAT.md).
  void handle(const Introduce& m, const Endpoint& from, TimePoint now);
  void handle(const Relay& m, const Endpoint& from, TimePoint now);
  void handle(const RelayAck& m, const Endpoint& from, TimePoint now);
  /// The online client at `from` and the online client `peer`, for a relay
  /// (counted and dropped, nullptr, when either is not there or the
  /// sender is over its relay rate).
  std::pair<Client*, Client*> relay_ends(std::string_view peer, const Endpoint& from,
                                         TimePoint now);
  /// True if (from, id) already waits for a password job (a retransmission).
  [[nodiscard]] bool password_pending(const Endpoint& from, std::uint64_t id) const;
  /// Issues a job for `wait`; false (and a "busy" reply) when too many run.
  bool start_password_job(PasswordJob job, PasswordWait wait);
  void password_moved(const PasswordWait& w, bool ok, TimePoint now);
  void verify(const std::string& key, Waiter waiter, TimePoint now);
  void verification_done(const std::string& key, bool alive, TimePoint now);
  void resolve_save(const std::string& save_key, bool alive, TimePoint now);
  void store_and_ack(const std::string& save_key, TimePoint now);
  bool persist_message(const std::string& save_key, const PendingSave& s, After then);
  void relay(const std::string& save_key, TimePoint now);
  void relay_outcome(const std::string& save_key, bool delivered, TimePoint now);
  void send_late_notices(TimePoint now);
  void mark_offline(const std::string& key, bool tell_client, TimePoint now);
  /// Writes `c`'s row (not a remote one: its home does); `claim`: a
  /// registration here, which takes the row over from another home.
  void persist(const Client& c, bool claim = false);
  void touch(const std::string& key, TimePoint now, bool claim = false);
  /// The persisted fields of `row` (and whether its home is elsewhere) into `c`.
  void take_row(Client& c, const ClientRecord& row) const;
  /// A client row another server wrote (server_cluster.cpp).
  void apply_remote_row(const ClientRecord& row, TimePoint now);
  /// Publishes the open batch when it is due, or at once with `now_please`
  /// (a client marked offline after a failed verification: manual §4 wants
  /// the table out before the save is acknowledged).
  void flush_tables(TimePoint now, bool now_please = false);
  void publish(TimePoint now);
  void send_update(const std::string& key, TimePoint now);
  void send_prepared(Client& c, const std::string& key, std::shared_ptr<PreparedUpdate> update,
                     TimePoint now);
  /// Sends parts of c.table_update while fewer than kTableWindow await an
  /// ack; once the last is out, a first table releases stored deliveries.
  void send_table_parts(Client& c, const std::string& key, TimePoint now);
  void cancel_table_parts(Client& c);
  [[nodiscard]] TableEntry row_of(const Client& c) const;
  /// The row of `key` for a table update: its client's, or the removed row
  /// of a deleted account (address "", port 0, offline, no key).
  [[nodiscard]] std::optional<TableEntry> row_at(const std::string& key) const;
  /// table() and the removed rows: what a full-table snapshot carries.
  [[nodiscard]] std::vector<TableEntry> snapshot() const;
  /// Publishes the removal of `key`'s row with the next version (its client
  /// is erased by the caller).
  void remove_row(const std::string& key, TimePoint now);
  [[nodiscard]] std::vector<TableEntry> rows_since(const std::string& key,
                                                   std::uint64_t from) const;
  void add_interest(const std::string& key, const std::string& row_key);
  void deliver_next(const std::string& key, TimePoint now);
  /// `c` has nothing in flight nor waiting and read everything up to
  /// fetched_upto: its log position moves there (past its own posts).
  void advance_idle_position(Client& c);
  /// Trims the logs below every client's position (idle ones caught up
  /// first), and its completion.
  void trim_logs(TimePoint now);
  void on_trimmed(const OpWaiter& w, const std::expected<StoreValue, StoreError>& r);
  void purge_keys(TimePoint now);  ///< server_durability.cpp
  void on_purged(const OpWaiter& w, const std::expected<StoreValue, StoreError>& r, TimePoint now);
  void stop_delivery(Client& c);
  /// The delivery in flight to `c` ended (acked, given up, cancelled).
  void end_delivery(Client& c);
  /// Gives freed slots of the fan-out window to the clients waiting.
  void release_window(TimePoint now);
  // Channel and groups (server_groups.cpp).
  void load_groups(const StoredState& state);
  void on_posted(const OpWaiter& w, const std::expected<StoreValue, StoreError>& r, TimePoint now);
  /// Hands a stored channel or group message to each online recipient.
  void fan_out(const MessagePtr& m, TimePoint now);
  /// True if a log `c` reads may hold messages past its position.
  [[nodiscard]] bool log_backlog(const std::string& key, const Client& c) const;
  [[nodiscard]] std::vector<FetchOp::LogCursor> log_cursors(const std::string& key,
                                                            const Client& c) const;
  /// What a Deliver names as the group of log `log_key`.
  [[nodiscard]] std::string group_name_of(const std::string& log_key) const;
  void on_expired(std::uint64_t id, TimePoint now);
  void heard_from(const Endpoint& from, TimePoint now);
  void sweep_liveness(TimePoint now);
  void retry_deletions();

  ServerConfig config_;
  IdGenerator ids_;
  ReliableSender sender_;
  ServerStats stats_;
  PostRate post_rate_{config_.max_posts_per_minute};  ///< posts per client a minute
  /// Untrimmed posts per client and log (none where the store numbers:
  /// those servers do not trim).
  LogQuota log_quota_{config_.store_numbers ? 0 : config_.max_log_posts};
  LogTrim trim_;
  KeyPurge purge_;

  std::map<std::string, Client> clients_;                              ///< by nickname key
  std::unordered_map<Endpoint, std::string, EndpointHash> online_at_;  ///< endpoint -> key
  std::uint64_t version_ = 0;           ///< last published table version
  std::set<std::string> dirty_;         ///< rows changed since it (get version_ + 1)
  std::optional<TimePoint> batch_due_;  ///< when the open batch is published
  std::set<std::string> table_extra_;   ///< offline clients to send the new table to
  /// Rows by the version at which they last changed: deltas in O(changes).
  std::map<std::uint64_t, std::set<std::string>> by_version_;
  /// Whole-table updates of the current version, by `from` (0: snapshot),
  /// prepared once for every client that needs the same one; cleared at
  /// every change.
  std::map<std::uint64_t, std::shared_ptr<PreparedUpdate>> prepared_;
  /// Row key -> clients interested in it beyond full_table_limit.
  std::unordered_map<std::string, std::set<std::string>> watchers_;
  /// Rows of deleted accounts (manual §9), sent in updates so that clients
  /// drop them; the oldest beyond kMaxRemovedRows are forgotten (a client
  /// that missed it keeps an offline row, which lookups then correct).
  std::map<std::string, TableEntry> removed_rows_;
  static constexpr std::size_t kMaxRemovedRows = 4096;

  std::map<std::string, Verification> verifying_;       ///< by client key
  std::map<std::string, PendingSave> saves_;            ///< by "sender_key/mid"
  std::unordered_map<std::uint64_t, Pending> pending_;  ///< by transport id
  /// Reply cache: (source, transport id) -> the encoded ack, FIFO-bounded.
  std::map<std::pair<Endpoint, std::uint64_t>, std::string> replies_;
  /// docs/NAT.md: introductions per client, 10 a second in bursts of 20
  /// (each makes the server send two punches).
  RateLimiter introductions_{10.0, 20.0, 4096};
  /// docs/NAT.md: relayed datagrams per client, 200 a second in bursts of
  /// 400 (a chat at full speed with its acks), so a client cannot turn the
  /// server into its bandwidth.
  RateLimiter relays_{200.0, 400.0, 4096};
  std::deque<std::pair<Endpoint, std::uint64_t>> reply_order_;

  /// Stored messages acked by their recipient and not yet durably deleted
  /// (the delete is in flight, or failed: disk full, read-only): never sent
  /// again by this process; failed ones are retried by the sweep.
  std::set<std::int64_t> undeleted_;
  std::vector<OpWaiter> delete_retry_;                  ///< failed deletes, retried by the sweep
  std::size_t retrying_deletes_ = 0;                    ///< retried deletes in flight
  std::unordered_map<std::string, Mailbox> mailboxes_;  ///< by recipient key

  // Channel and groups.
  std::map<std::string, Group> groups_;  ///< by group key
  /// Highest seq known stored in each log (the channel's, each group's).
  std::unordered_map<std::string, std::int64_t> log_last_;
  std::int64_t next_seq_ = 1;  ///< seq of the next message saved (the server numbers them)
  std::size_t deliveries_in_flight_ = 0;
  std::deque<std::string> window_queue_;  ///< clients waiting for a window slot

  std::vector<StoreCommand> store_out_;                           ///< not yet taken
  std::deque<std::pair<std::uint64_t, OpWaiter>> ops_in_flight_;  ///< by ticket
  std::uint64_t next_ticket_ = 1;
  std::deque<Held> held_;
  std::deque<LateNotice> late_notices_;
  std::set<std::pair<Endpoint, std::uint64_t>> replies_held_;  ///< acks not yet released
  TimePoint next_sweep_{};
  bool shutting_down_ = false;
  std::string current_key_;  ///< key of the sender of the datagram being handled
  std::map<std::uint64_t, PasswordWait> password_waits_;  ///< by job ticket
  std::vector<PasswordJob> password_out_;                 ///< not yet taken
  std::uint64_t next_password_ticket_ = 1;
  std::vector<Outgoing> outgoing_;
  std::vector<LogRecord> logs_;
};

}  // namespace udpchat
