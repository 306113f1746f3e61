// store_driver.hpp: test doubles for the server's store writer.
//
//  - drain_store: runs every command the core issued at once, as a writer
//    with no latency would, feeding completions back until none is left.
//  - FaultyStore: an OfflineStore over another (a MemoryStore, a cluster
//    node) whose `fault` hook can fail any single write (like a full disk
//    for one transaction).
#pragma once

#include <functional>
#include <string_view>

#include "core/server/cluster_change.hpp"
#include "core/server/server_core.hpp"
#include "core/server/store_ops.hpp"

namespace udpchat::test {

inline void drain_store(ServerCore& core, OfflineStore& store, TimePoint now) {
  for (auto cmds = core.take_store_commands(); !cmds.empty(); cmds = core.take_store_commands()) {
    for (const auto& c : apply_batch(store, cmds)) core.on_store_completion(c, now);
  }
}

class FaultyStore final : public OfflineStore {
 public:
  explicit FaultyStore(OfflineStore& inner) : inner_(inner) {}
  /// Called before each write with its name ("save", "delete", "client",
  /// "version"); true fails it like a full disk.
  std::function<bool(std::string_view op)> fault;

  std::expected<SaveOutcome, StoreError> save(const StoredMessage& m) override {
    if (failed("save")) return full();
    return inner_.save(m);
  }
  std::expected<std::vector<StoredMessage>, StoreError> fetch_for(std::string_view to_key,
                                                                  std::int64_t after_seq,
                                                                  std::size_t limit) override {
    return inner_.fetch_for(to_key, after_seq, limit);
  }
  std::expected<std::vector<StoredMessage>, StoreError> fetch_log(
      std::string_view log_key, std::int64_t after_seq, std::string_view exclude_sender_key,
      std::size_t limit) override {
    return inner_.fetch_log(log_key, after_seq, exclude_sender_key, limit);
  }
  std::expected<void, StoreError> put_member(std::string_view group_key, std::string_view name,
                                             const MemberRecord& member) override {
    if (failed("member")) return full();
    return inner_.put_member(group_key, name, member);
  }
  std::expected<void, StoreError> remove_member(std::string_view group_key,
                                                std::string_view nick_key) override {
    if (failed("member")) return full();
    return inner_.remove_member(group_key, nick_key);
  }
  std::expected<std::size_t, StoreError> count_for(std::string_view to_key) override {
    return inner_.count_for(to_key);
  }
  std::expected<std::size_t, StoreError> mark_delivered(std::int64_t seq) override {
    if (failed("delete")) return full();
    return inner_.mark_delivered(seq);
  }
  std::expected<std::size_t, StoreError> mark_delivered_by_key(std::string_view sender_key,
                                                               std::uint64_t mid) override {
    if (failed("delete")) return full();
    return inner_.mark_delivered_by_key(sender_key, mid);
  }
  std::expected<std::size_t, StoreError> trim_logs(std::int64_t upto) override {
    if (failed("trim")) return full();
    return inner_.trim_logs(upto);
  }
  std::expected<std::size_t, StoreError> purge_keys(std::int64_t before_ms,
                                                    std::size_t limit) override {
    if (failed("purge")) return full();
    return inner_.purge_keys(before_ms, limit);
  }
  std::expected<void, StoreError> put_client(const ClientRecord& c) override {
    if (failed("client")) return full();
    return inner_.put_client(c);
  }
  std::expected<std::size_t, StoreError> delete_client(std::string_view nick_key) override {
    if (failed("client")) return full();
    return inner_.delete_client(nick_key);
  }
  std::expected<void, StoreError> put_table_version(std::uint64_t version) override {
    if (failed("version")) return full();
    return inner_.put_table_version(version);
  }
  std::expected<StoredState, StoreError> load() override { return inner_.load(); }
  std::vector<ClusterChange> take_changes() override { return inner_.take_changes(); }
  std::expected<void, StoreError> poll_changes() override { return inner_.poll_changes(); }
  std::expected<void, StoreError> begin() override { return inner_.begin(); }
  std::expected<void, StoreError> commit() override { return inner_.commit(); }
  void rollback() override { inner_.rollback(); }
  [[nodiscard]] bool in_transaction() const override { return inner_.in_transaction(); }

 private:
  bool failed(std::string_view op) const { return fault && fault(op); }
  static std::unexpected<StoreError> full() {
    return std::unexpected(StoreError{"database or disk is full"});
  }
  OfflineStore& inner_;
};

}  // namespace udpchat::test
