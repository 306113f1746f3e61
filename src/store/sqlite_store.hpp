// sqlite_store.hpp: the OfflineStore in an embedded SQLite database.
//
// One file, <data-dir>/udpchat.db, in write-ahead-log mode with
// synchronous=FULL: every commit is fsynced to the WAL before it returns,
// so a write is durable when it (or, in a transaction, `commit`) returns. The database is opened
// in exclusive locking mode, so a second server on the same data directory
// fails at start instead of sharing it. Delivered messages lose their body
// (a row of its own, in `bodies`) but keep their (sender, message id) row
// as an idempotency key for kTombstoneDays days.
#pragma once

#include <memory>
#include <string>

#include "core/server/offline_store.hpp"
#include "protocol/limits.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace udpchat {

class SqliteStore final : public OfflineStore {
 public:
  /// Opens (creating if needed) the store in `data_dir`. Errors: the
  /// directory cannot be created, the database cannot be opened, is locked
  /// by another server, or is not a udpchat database.
  static std::expected<std::unique_ptr<SqliteStore>, StoreError> open(const std::string& data_dir);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

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
  /// BEGIN IMMEDIATE / COMMIT (one fsync of the WAL) / ROLLBACK.
  std::expected<void, StoreError> begin() override;
  std::expected<void, StoreError> commit() override;
  void rollback() override;
  [[nodiscard]] bool in_transaction() const override;

  /// Copies the WAL into the database file (at a clean shutdown).
  std::expected<void, StoreError> checkpoint();
  [[nodiscard]] const std::string& path() const { return path_; }

  static constexpr int kTombstoneDays = static_cast<int>(kTombstoneAge.count());

 private:
  SqliteStore() = default;
  StoreError error(const char* what) const;
  std::expected<void, StoreError> exec(const char* sql);
  /// Schema 8 to 9: bodies out of `messages` into `bodies` (one
  /// transaction). `version` is the file's user_version before.
  std::expected<void, StoreError> move_bodies(int version);
  /// Runs `write`, several statements, as one: inside a savepoint that
  /// its failure rolls back to, so that inside the open transaction only
  /// its own statements are undone (a key row never stays without its
  /// body, nor a body without its key), and outside one it is a
  /// transaction of its own. `write` returns a std::expected.
  template <class Write>
  auto atomically(Write&& write) -> decltype(write()) {
    if (auto s = savepoint(); !s) return std::unexpected(s.error());
    auto r = write();
    if (auto e = release(r.has_value()); !e) return std::unexpected(e.error());
    return r;
  }
  std::expected<void, StoreError> savepoint();
  /// Releases the savepoint, after rolling back to it unless `ok`.
  std::expected<void, StoreError> release(bool ok);
  std::expected<SaveOutcome, StoreError> save_rows(const StoredMessage& m);
  std::expected<std::size_t, StoreError> trim_rows(std::int64_t upto);
  std::expected<std::size_t, StoreError> delete_rows(std::string_view nick_key);
  std::expected<std::size_t, StoreError> delivered_rows(std::string_view sender_key,
                                                        std::uint64_t mid);
  /// Deletes a delivered message's body.
  std::expected<void, StoreError> drop_body(std::int64_t seq);

  sqlite3* db_ = nullptr;
  std::string path_;
  sqlite3_stmt* insert_message_ = nullptr;
  sqlite3_stmt* insert_body_ = nullptr;
  sqlite3_stmt* savepoint_ = nullptr;
  sqlite3_stmt* release_ = nullptr;
  sqlite3_stmt* rollback_to_ = nullptr;
  sqlite3_stmt* delete_body_ = nullptr;
  sqlite3_stmt* trim_bodies_ = nullptr;
  sqlite3_stmt* oldest_ = nullptr;
  sqlite3_stmt* count_ = nullptr;
  sqlite3_stmt* delivered_ = nullptr;
  sqlite3_stmt* delivered_by_key_ = nullptr;
  sqlite3_stmt* put_client_ = nullptr;
  sqlite3_stmt* trim_logs_ = nullptr;
  sqlite3_stmt* purge_keys_ = nullptr;
  sqlite3_stmt* put_meta_ = nullptr;
  sqlite3_stmt* fetch_log_ = nullptr;
  sqlite3_stmt* put_group_ = nullptr;
  sqlite3_stmt* put_member_ = nullptr;
  sqlite3_stmt* remove_member_ = nullptr;
  sqlite3_stmt* remove_group_ = nullptr;
};

}  // namespace udpchat
