// offline_store.hpp: what the server needs from durable storage.
//
// Contract (manual §6.5): outside a transaction, when a write returns a value it
// is durable (it survives SIGKILL and power loss); inside `begin()` ..
// `commit()`, the writes are durable when `commit` returned a value. The
// server core does not call this interface itself: it hands StoreCommands
// to a store writer that batches them (store_ops.hpp, group commit). Saves are idempotent by
// (sender nickname key, message id): saving the same pair twice stores it once, and a pair stays
// known after its message was delivered, so a late retransmission is not stored again. Every
// operation reports failure (disk full, read-only, corrupt) as a StoreError value; none throws.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/endpoint.hpp"

namespace udpchat {

/// A message held for an offline recipient, or one message of the log of
/// the channel (`to_key` kChannelLog) or of a group ("#" + group key):
/// such a message is stored once and each member reads it from its own
/// position (ClientRecord::log_upto).
struct StoredMessage {
  std::int64_t seq = 0;          ///< order of saving; the server's, or 0: assigned by the store
  std::string from;              ///< sender nickname as registered
  std::string to_key;            ///< recipient nickname key (lower case), or a log key
  std::uint64_t mid = 0;         ///< the sender's message id
  std::string text;              ///< UTF-8, at most kMaxMessageBytes (when not `box`)
  std::int64_t saved_at_ms = 0;  ///< wall clock at saving, ms since the Unix epoch
  /// manual §8: a direct message sealed by its sender for its recipient,
  /// kept as it came (the server cannot read it); empty: `text` holds it.
  std::string box{};
};

/// One row of the persisted client table.
struct ClientRecord {
  std::string nick;
  Endpoint endpoint;
  bool online = false;
  std::uint32_t heartbeat_ms = 0;
  std::uint64_t row_version = 0;  ///< table version at which the row last changed
  /// Position in the channel and group logs: every log message with a
  /// seq up to this one was delivered to it (or is not for it).
  std::int64_t log_upto = 0;
  /// The X25519 public key (32 bytes) the nickname belongs to (manual §9);
  /// empty for a row of a schema before 4, claimed by its next registration.
  std::string key{};
  /// manual §9: the Argon2id hash of the nickname's password (the encoded
  /// string of crypto_pwhash_str), or empty: no password.
  std::string password_hash{};
  /// The client's local endpoint when it differs from `endpoint` (its
  /// public one, behind a NAT: docs/NAT.md), else empty.
  Endpoint local{};
  /// docs/CLUSTER.md: the id of the server its session lives at (empty: a
  /// store of one server).
  std::string home{};
  /// On a write: a registration, which takes the row over from another
  /// home. A write without it, from a server that is not the row's home
  /// (a stale one: the client moved on), changes nothing. Not stored.
  bool claim = false;
  /// When the server last knew it online: wall clock, ms since the Unix
  /// epoch (0: not known, a row from before schema 8). A client offline
  /// longer than --log-retention-days no longer holds the logs back.
  std::int64_t last_seen_ms = 0;
};

/// The log key of the channel, and of a group (by its nickname-style key).
inline constexpr const char* kChannelLog = "*";
inline std::string group_log_key(std::string_view group_key) {
  return "#" + std::string(group_key);
}
/// True for a log key (the channel's or a group's), false for a recipient.
inline bool is_log_key(std::string_view key) {
  return !key.empty() && (key.front() == '*' || key.front() == '#');
}

/// One member of a group: it receives the group's messages saved after
/// `joined_seq`.
struct MemberRecord {
  std::string nick_key;
  std::int64_t joined_seq = 0;
};

/// A channel or group message not yet trimmed, as a restarted server
/// counts it against its sender's quota (log_quota.hpp).
struct LogPost {
  std::string log_key;     ///< kChannelLog or "#" + group key
  std::string sender_key;  ///< the sender's nickname key
  std::int64_t seq = 0;
  std::uint64_t mid = 0;
};

/// A group as persisted: its name as first written, and its members.
struct GroupRecord {
  std::string name;
  std::vector<MemberRecord> members;
};

struct ClusterChange;  // cluster_change.hpp

struct StoreError {
  std::string what;  ///< human-readable cause, e.g. "database or disk is full"
  /// What a client may be told, when `what` holds more of the server's
  /// inside than a client should read (a database's address, its own
  /// message); empty: `what` is fit to tell.
  std::string brief{};
  /// The cause as a client is told it (an Ack's detail).
  [[nodiscard]] const std::string& told() const { return brief.empty() ? what : brief; }
};

enum class SaveResult : std::uint8_t { kSaved, kDuplicate };

/// What a save did, and the seq the message is stored under: the one the
/// server gave (StoredMessage::seq), or the store's own when it numbers
/// messages itself (m.seq 0, or a cluster, docs/CLUSTER.md, where the
/// database numbers them in commit order); 0 for a duplicate.
struct SaveOutcome {
  SaveResult result = SaveResult::kSaved;
  std::int64_t seq = 0;
  friend bool operator==(const SaveOutcome& o, SaveResult r) { return o.result == r; }
};

/// What a restarted server reads back.
struct StoredState {
  std::vector<ClientRecord> clients;
  std::uint64_t table_version = 0;
  /// Undelivered messages per recipient nickname key (absent: none), so
  /// the server keeps counts instead of counting rows on every save.
  std::map<std::string, std::size_t> waiting;
  /// The highest message seq ever stored (the server numbers on from it).
  std::int64_t last_seq = 0;
  std::vector<GroupRecord> groups;
  /// Every channel and group log message up to this seq was trimmed
  /// (trim_logs); a client whose position is below it was away too long.
  std::int64_t log_trimmed_upto = 0;
  /// The channel and group messages not yet trimmed, in seq order (empty
  /// from a store whose server does not trim: PgStore).
  std::vector<LogPost> log_posts;
};

class OfflineStore {
 public:
  virtual ~OfflineStore() = default;
  /// Stores `m` durably under m.seq (0: the store's next number).
  virtual std::expected<SaveOutcome, StoreError> save(const StoredMessage& m) = 0;
  /// Several saves in a row, inside the open transaction: what save() gives
  /// for each, in order, for a prefix of `ms`: all of them, or up to and
  /// including the first failure (the rest were not run). A store that
  /// can send them together overrides it (PgStore: one round trip in
  /// libpq's pipeline mode); this one calls save() for each.
  virtual std::vector<std::expected<SaveOutcome, StoreError>> save_many(
      std::span<const StoredMessage* const> ms);
  /// Up to `limit` undelivered messages for `to_key` saved after sequence
  /// number `after_seq` (0: from the oldest), in the order saved.
  virtual std::expected<std::vector<StoredMessage>, StoreError> fetch_for(std::string_view to_key,
                                                                          std::int64_t after_seq,
                                                                          std::size_t limit) = 0;
  /// The first undelivered message for `to_key` saved after `after_seq`.
  std::expected<std::optional<StoredMessage>, StoreError> next_for(std::string_view to_key,
                                                                   std::int64_t after_seq) {
    auto v = fetch_for(to_key, after_seq, 1);
    if (!v) return std::unexpected(v.error());
    if (v->empty()) return std::optional<StoredMessage>{};
    return std::optional<StoredMessage>(std::move(v->front()));
  }
  /// The oldest undelivered message for `to_key`, if any.
  std::expected<std::optional<StoredMessage>, StoreError> oldest_for(std::string_view to_key) {
    return next_for(to_key, 0);
  }
  /// Up to `limit` messages of the log `log_key` saved after `after_seq`
  /// and not sent by `exclude_sender_key`, in the order saved.
  virtual std::expected<std::vector<StoredMessage>, StoreError> fetch_log(
      std::string_view log_key, std::int64_t after_seq, std::string_view exclude_sender_key,
      std::size_t limit) = 0;
  /// Adds (or updates) member `nick_key` of the group `group_key`, creating
  /// the group with `name` if it is new.
  virtual std::expected<void, StoreError> put_member(std::string_view group_key,
                                                     std::string_view name,
                                                     const MemberRecord& member) = 0;
  /// Removes the member; a group left without members is removed too.
  virtual std::expected<void, StoreError> remove_member(std::string_view group_key,
                                                        std::string_view nick_key) = 0;
  /// How many undelivered messages wait for `to_key`.
  virtual std::expected<std::size_t, StoreError> count_for(std::string_view to_key) = 0;
  /// Deletes the message `seq` after its recipient acknowledged it (keeps
  /// only its idempotency key). Returns the undelivered rows it changed
  /// (0 or 1).
  virtual std::expected<std::size_t, StoreError> mark_delivered(std::int64_t seq) = 0;
  /// The same, for the message known by its idempotency key (sender
  /// nickname key, message id); no such message is not an error (0).
  virtual std::expected<std::size_t, StoreError> mark_delivered_by_key(std::string_view sender_key,
                                                                       std::uint64_t mid) = 0;
  /// Drops the text of every channel and group log message numbered up to
  /// `upto` (every member's position passed it): each keeps only its
  /// idempotency key, as a delivered direct message does, until the
  /// tombstones are purged; `upto` is remembered as the state's
  /// log_trimmed_upto (never lowered). Returns the rows changed.
  virtual std::expected<std::size_t, StoreError> trim_logs(std::int64_t upto) = 0;
  /// Deletes up to `limit` idempotency keys of messages that are gone
  /// (delivered, trimmed, deleted) and were saved before `before_ms` (wall
  /// clock, ms since the Unix epoch), oldest first; a copy that comes after
  /// that is stored again. Returns how many went.
  virtual std::expected<std::size_t, StoreError> purge_keys(std::int64_t before_ms,
                                                            std::size_t limit) = 0;
  /// Inserts or replaces the client row (key: nickname key).
  virtual std::expected<void, StoreError> put_client(const ClientRecord& c) = 0;
  /// manual §9, `delete-account`: removes the client row of `nick_key`,
  /// deletes the body of every message waiting for it (their idempotency
  /// keys stay, as for delivered ones) and its group memberships (a group
  /// left empty goes). Returns the waiting messages deleted.
  virtual std::expected<std::size_t, StoreError> delete_client(std::string_view nick_key) = 0;
  virtual std::expected<void, StoreError> put_table_version(std::uint64_t version) = 0;
  virtual std::expected<StoredState, StoreError> load() = 0;

  /// docs/CLUSTER.md: the changes other servers sharing this store made,
  /// read since the last call (at each `begin`, and by `poll_changes`), in
  /// commit order. Stores of one server have none.
  virtual std::vector<ClusterChange> take_changes();
  /// Reads what other servers committed since the last read, for
  /// take_changes (outside a transaction). Nothing to do for one server.
  virtual std::expected<void, StoreError> poll_changes();

  /// Transactions (group commit): writes between `begin` and `commit` are
  /// made durable together by `commit`. A write that fails inside a
  /// transaction is undone alone, unless the store had to roll the whole
  /// transaction back: then `in_transaction()` is false afterwards.
  virtual std::expected<void, StoreError> begin() = 0;
  virtual std::expected<void, StoreError> commit() = 0;
  virtual void rollback() = 0;
  [[nodiscard]] virtual bool in_transaction() const = 0;
};

/// An OfflineStore in memory, for tests and simulations. "Durable" means it
/// survives the ServerCore object (a simulated crash). `fail_writes` makes
/// every write fail, like a full disk; `fail_commit` makes commits fail
/// (the transaction is rolled back).
class MemoryStore final : public OfflineStore {
 public:
  std::expected<SaveOutcome, StoreError> save(const StoredMessage& m) override;
  std::expected<std::vector<StoredMessage>, StoreError> fetch_for(std::string_view to_key,
                                                                  std::int64_t after_seq,
                                                                  std::size_t limit) override;
  std::expected<std::vector<StoredMessage>, StoreError> fetch_log(
      std::string_view log_key, std::int64_t after_seq, std::string_view exclude_sender_key,
      std::size_t limit) override;
  std::expected<void, StoreError> put_member(std::string_view group_key, std::string_view name,
                                             const MemberRecord& member) override;
  std::expected<void, StoreError> remove_member(std::string_view group_key,
                                                std::string_view nick_key) override;
  std::expected<std::size_t, StoreError> count_for(std::string_view to_key) override;
  std::expected<std::size_t, StoreError> mark_delivered(std::int64_t seq) override;
  std::expected<std::size_t, StoreError> mark_delivered_by_key(std::string_view sender_key,
                                                               std::uint64_t mid) override;
  std::expected<std::size_t, StoreError> trim_logs(std::int64_t upto) override;
  std::expected<std::size_t, StoreError> purge_keys(std::int64_t before_ms,
                                                    std::size_t limit) override;
  std::expected<void, StoreError> put_client(const ClientRecord& c) override;
  std::expected<std::size_t, StoreError> delete_client(std::string_view nick_key) override;
  std::expected<void, StoreError> put_table_version(std::uint64_t version) override;
  std::expected<StoredState, StoreError> load() override;
  std::expected<void, StoreError> begin() override;
  std::expected<void, StoreError> commit() override;
  void rollback() override;
  [[nodiscard]] bool in_transaction() const override { return snapshot_.has_value(); }

  bool fail_writes = false;
  bool fail_commit = false;

  // Reads of single rows, for a model built on this store (the cluster's
  // shared database of tests/support/cluster_store.hpp): null or nullopt
  // when absent. A delivered message is gone.
  [[nodiscard]] const StoredMessage* find_message(std::int64_t seq) const {
    const auto it = s_.messages.find(seq);
    return it == s_.messages.end() ? nullptr : &it->second;
  }
  [[nodiscard]] std::optional<std::int64_t> seq_of(const std::string& sender_key,
                                                   std::uint64_t mid) const {
    const auto it = s_.keys.find({sender_key, mid});
    return it == s_.keys.end() ? std::nullopt : std::optional(it->second);
  }
  [[nodiscard]] const ClientRecord* find_client(const std::string& nick_key) const {
    const auto it = s_.clients.find(nick_key);
    return it == s_.clients.end() ? nullptr : &it->second;
  }
  [[nodiscard]] const GroupRecord* find_group(const std::string& group_key) const {
    const auto it = s_.groups.find(group_key);
    return it == s_.groups.end() ? nullptr : &it->second;
  }

 private:
  struct State {
    std::map<std::int64_t, StoredMessage> messages;                      ///< undelivered, by seq
    std::map<std::pair<std::string, std::uint64_t>, std::int64_t> keys;  ///< idempotency keys
    std::map<std::string, ClientRecord> clients;
    std::uint64_t table_version = 0;
    std::int64_t next_seq = 1;
    std::map<std::string, GroupRecord> groups;  ///< by group key
    std::int64_t log_trimmed_upto = 0;
    std::map<std::int64_t, std::int64_t> saved_at;  ///< by seq: saved_at_ms of every key
  };
  State s_;
  std::optional<State> snapshot_;  ///< the state at begin(), restored by rollback()
};

}  // namespace udpchat
