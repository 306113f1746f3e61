// pg_store.hpp: the OfflineStore in PostgreSQL (manual §6.5, "Running on
// PostgreSQL"), chosen with `--store postgresql://...`.
//
// Same contract as SqliteStore: a write is durable once its transaction's
// `commit` returned (PostgreSQL's default synchronous_commit=on: the
// commit record is flushed to the write-ahead log first). Differences:
//  - a statement that fails inside a transaction aborts it (PostgreSQL has
//    no statement-level rollback without a savepoint): the store rolls the
//    transaction back at once, so `in_transaction()` is false and
//    apply_batch fails the writes before it too, as the contract allows;
//  - the connection can be lost (the database restarted, the network):
//    every operation then fails with a StoreError, and the next `begin`
//    or read connects again (libpq's PQreset) and prepares its statements
//    anew, so a restarted database costs the writes of the batches that
//    met it, never the server.
// The schema (tables messages, clients, meta, groups, members, cluster,
// and the sequence udpchat_seq) is created at the first open; opens of several
// servers at once serialize on an advisory lock.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/server/cluster_change.hpp"
#include "core/server/offline_store.hpp"
#include "protocol/limits.hpp"

struct pg_conn;

namespace udpchat {

class PgStore final : public OfflineStore {
 public:
  /// Connects to `conninfo` (a libpq connection URI, "postgresql://...",
  /// or key=value string) and creates the schema if needed. Errors: the
  /// database cannot be reached or refuses us, or the schema cannot be made.
  /// `origin`: the id of this server, which names its changes and its
  /// table version (docs/CLUSTER.md).
  static std::expected<std::unique_ptr<PgStore>, StoreError> open(const std::string& conninfo,
                                                                  std::string origin);
  ~PgStore() override;
  PgStore(const PgStore&) = delete;
  PgStore& operator=(const PgStore&) = delete;

  std::expected<SaveOutcome, StoreError> save(const StoredMessage& m) override;
  /// In a transaction, a run of saves in libpq's pipeline mode: all sent,
  /// one sync, the results read in order (one round trip for the run).
  std::vector<std::expected<SaveOutcome, StoreError>> save_many(
      std::span<const StoredMessage* const> ms) override;
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
  /// The state, and (in the same snapshot) the position of the change
  /// table it includes: take_changes gives what comes after.
  std::expected<StoredState, StoreError> load() override;
  std::vector<ClusterChange> take_changes() override;
  std::expected<void, StoreError> poll_changes() override;
  /// BEGIN (connecting again first if the connection was lost), then the
  /// order lock and the others' changes so far / NOTIFY and COMMIT /
  /// ROLLBACK.
  std::expected<void, StoreError> begin() override;
  std::expected<void, StoreError> commit() override;
  void rollback() override;
  [[nodiscard]] bool in_transaction() const override;

  /// docs/CLUSTER.md, "One identity": the secret key every server on this
  /// database answers with (the bytes of an X25519 secret key). The first
  /// server to ask stores `proposed` (its own key); every later one gets
  /// that one back, whatever it proposes. Errors: the database's.
  std::expected<std::string, StoreError> cluster_secret(std::string_view proposed);
  /// The connection string it was opened with (for a PgListener).
  [[nodiscard]] const std::string& conninfo() const { return conninfo_; }
  /// This server's id among those sharing the database.
  [[nodiscard]] const std::string& origin() const { return origin_; }
  /// Where it is connected, without the password ("host=... dbname=..."), for logs.
  [[nodiscard]] std::string describe() const;

  /// Delivered messages keep their idempotency key this long, as SqliteStore's.
  static constexpr int kTombstoneDays = static_cast<int>(kTombstoneAge.count());
  /// docs/CLUSTER.md: how often a server marks itself alive, and after how
  /// long without a mark the others take it for dead.
  static constexpr std::chrono::seconds kAliveEvery{1};
  static constexpr std::chrono::seconds kServerDeadAfter{5};

  /// docs/CLUSTER.md, "Trimming the change table": every `every`, a server
  /// deletes the changes that every server seen within `forget_after` has
  /// read and that are older than `min_age` (so a server that is starting,
  /// whose mark is not in yet, misses nothing). A server not seen for
  /// `forget_after` no longer holds the table back; if it was alive but cut
  /// off, and changes it had not read are gone, its writes fail from then
  /// on with a line that says to restart it (it loads the state again).
  /// `mark_every`: how often its mark (with the position it read, and the
  /// check that it did not fall behind) is written: kAliveEvery.
  struct Retention {
    std::chrono::seconds every{10};
    std::chrono::seconds min_age{600};
    std::chrono::seconds forget_after{3600};
    std::chrono::milliseconds mark_every{kAliveEvery};
  };
  /// Tests shorten the retention.
  void set_retention(const Retention& r) { retention_ = r; }

 private:
  PgStore() = default;
  /// "what: <libpq's message>", or the message of a lost connection.
  StoreError error(const char* what) const;
  /// Runs `sql` (no parameters); on failure inside a transaction, rolls it back.
  std::expected<void, StoreError> exec(const char* sql, const char* what);
  /// A statement of ours failed: the transaction, if any, is rolled back.
  StoreError failed(const char* what);
  /// Connected (again, if the connection was lost), statements prepared.
  std::expected<void, StoreError> ensure_connected();
  std::expected<void, StoreError> prepare_statements();
  /// Creates or upgrades the schema when it is older than pg_schema's
  /// (under the schema lock), and only then.
  std::expected<void, StoreError> ensure_schema();
  /// Outside a transaction, with the connection found lost: connected
  /// again (true), so a statement that met the loss may run once more.
  bool reconnected();

  /// Reads the others' changes after applied_ into pending_ (all of them,
  /// in pages), moving applied_ past our own too.
  std::expected<void, StoreError> read_changes();
  /// docs/CLUSTER.md, "Sessions, homes and death": marks this server alive
  /// (at most every kAliveEvery), and marks offline the clients of servers
  /// silent for kServerDeadAfter (at most every kAliveEvery), their changes
  /// told to the others and, once committed, to us through pending_.
  std::expected<void, StoreError> mark_alive();
  std::expected<void, StoreError> sweep_dead_servers();
  /// Deletes what every live server read (at most every retention_.every).
  std::expected<void, StoreError> trim_changes();
  /// The error every write gets once changes this server never read were
  /// trimmed (behind_).
  [[nodiscard]] StoreError behind_error() const;
  std::expected<StoredState, StoreError> load_snapshot();
  /// The meta key of this server's table version.
  [[nodiscard]] std::string table_version_key() const {
    return origin_.empty() ? "table_version" : "table_version:" + origin_;
  }

  pg_conn* conn_ = nullptr;
  std::string conninfo_;
  std::string origin_;
  std::int64_t applied_ = 0;  ///< the change table read up to here
  std::chrono::steady_clock::time_point next_alive_{};
  std::chrono::steady_clock::time_point next_sweep_{};
  std::chrono::steady_clock::time_point next_trim_{};
  Retention retention_{};
  bool behind_ = false;  ///< changes it never read were trimmed: it must restart
  std::vector<ClusterChange> pending_;
  /// The highest seq saved in the open transaction: the sequence is moved
  /// past it at commit, so a restarted server numbers on above it.
  std::int64_t max_saved_seq_ = 0;
};

}  // namespace udpchat
