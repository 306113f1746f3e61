// cluster_store.hpp: the shared database of a cluster (docs/CLUSTER.md) as
// a model for the deterministic world (world.hpp) and the simulation: one
// MemoryStore holds the data every server reads and writes, a change table
// records each committed write with its place in the one order and the
// server that made it, and each server's ClusterNodeStore plays its
// PgStore: the OfflineStore contract, the change it appends with each
// write (kept only if its transaction commits), the others' changes read
// at each begin() and poll_changes() from the position it read last, each
// joined with what it names as it is *now* (a deleted row, a member who
// left: skipped, a later change says so), the claim rule on client rows,
// a table version per server, the liveness marks and the sweep of a dead
// server's clients.
//
// What the model leaves out is what the PostgreSQL tests cover
// (tests/unit/test_pg_feed.cpp): concurrent transactions and the order
// lock. Here one transaction runs at a time, so commit order is the order
// of positions by construction. What it adds is what a real database makes
// hard to provoke: a commit's notification lost (`on_commit` decides, the
// world then reads only at its next poll), a store that takes its time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/server/cluster_change.hpp"
#include "core/server/offline_store.hpp"
#include "core/base/time.hpp"

namespace udpchat::test {

/// The database the servers of a cluster share.
class SharedDatabase {
 public:
  /// `tables`: the data (kept by the caller: it is what survives every
  /// crash); `time`: the world's clock, for the liveness marks.
  SharedDatabase(MemoryStore& tables, std::function<TimePoint()> time)
      : data(tables), clock(std::move(time)) {}

  /// A row of the change table: what a reader joins with the data.
  struct Change {
    std::int64_t pos = 0;
    std::string origin;
    ClusterChange::Kind kind = ClusterChange::Kind::kClient;
    std::string key, sub;
    std::int64_t seq = 0;
  };

  MemoryStore& data;
  std::function<TimePoint()> clock;
  std::vector<Change> changes;  ///< the change table, by pos
  std::int64_t last_pos = 0;
  std::map<std::string, std::uint64_t> table_versions;  ///< by server id
  std::map<std::string, TimePoint> last_seen;           ///< the servers' liveness marks
  /// Told after each commit that appended changes, with the committing
  /// server's id: the NOTIFY (the world wakes the others, or loses it).
  std::function<void(const std::string& origin)> on_commit;
};

/// One server's connection to the shared database: its PgStore.
class ClusterNodeStore final : public OfflineStore {
 public:
  /// PgStore's liveness figures (pg_store.hpp): a mark each second, dead
  /// after 5 s without one.
  static constexpr Duration kAliveEvery = std::chrono::seconds(1);
  static constexpr Duration kDeadAfter = std::chrono::seconds(5);

  ClusterNodeStore(SharedDatabase& db, std::string origin)
      : db_(db), origin_(std::move(origin)) {}

  std::expected<SaveOutcome, StoreError> save(const StoredMessage& m) override;
  std::expected<std::vector<StoredMessage>, StoreError> fetch_for(std::string_view to_key,
                                                                  std::int64_t after_seq,
                                                                  std::size_t limit) override {
    return db_.data.fetch_for(to_key, after_seq, limit);
  }
  std::expected<std::vector<StoredMessage>, StoreError> fetch_log(
      std::string_view log_key, std::int64_t after_seq, std::string_view exclude_sender_key,
      std::size_t limit) override {
    return db_.data.fetch_log(log_key, after_seq, exclude_sender_key, limit);
  }
  std::expected<void, StoreError> put_member(std::string_view group_key, std::string_view name,
                                             const MemberRecord& member) override;
  std::expected<void, StoreError> remove_member(std::string_view group_key,
                                                std::string_view nick_key) override;
  std::expected<std::size_t, StoreError> count_for(std::string_view to_key) override {
    return db_.data.count_for(to_key);
  }
  std::expected<std::size_t, StoreError> mark_delivered(std::int64_t seq) override;
  std::expected<std::size_t, StoreError> mark_delivered_by_key(std::string_view sender_key,
                                                               std::uint64_t mid) override;
  std::expected<std::size_t, StoreError> trim_logs(std::int64_t upto) override {
    return db_.data.trim_logs(upto);  // no change row: one server only trims
  }
  std::expected<std::size_t, StoreError> purge_keys(std::int64_t before_ms,
                                                    std::size_t limit) override {
    return db_.data.purge_keys(before_ms, limit);  // no change row: keys are not replicated
  }
  std::expected<void, StoreError> put_client(const ClientRecord& c) override;
  std::expected<std::size_t, StoreError> delete_client(std::string_view nick_key) override;
  std::expected<void, StoreError> put_table_version(std::uint64_t version) override;
  /// The state, and the position it was read at (a restart reads on from it).
  std::expected<StoredState, StoreError> load() override;
  std::vector<ClusterChange> take_changes() override { return std::exchange(pending_, {}); }
  std::expected<void, StoreError> poll_changes() override;
  std::expected<void, StoreError> begin() override;
  std::expected<void, StoreError> commit() override;
  void rollback() override;
  [[nodiscard]] bool in_transaction() const override { return db_.data.in_transaction(); }

  [[nodiscard]] const std::string& origin() const { return origin_; }

 private:
  void append(ClusterChange::Kind kind, std::string key, std::string sub = {},
              std::int64_t seq = 0);
  void read_changes();
  void mark_alive();
  void sweep_dead_servers();

  SharedDatabase& db_;
  std::string origin_;
  std::int64_t applied_ = 0;  ///< the last position read
  std::vector<ClusterChange> pending_;
  std::vector<SharedDatabase::Change> txn_;  ///< appended by the open transaction
  std::optional<TimePoint> next_alive_, next_sweep_;
};

}  // namespace udpchat::test
