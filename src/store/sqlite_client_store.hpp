// sqlite_client_store.hpp: the client's own store in SQLite (manual §4.11):
// <key file without its extension>.db beside the key file, mode 0600.
//
// One table, `messages`, in insertion order: what the client took (with
// whether it was shown) and, with the history on, what it sent. Each batch
// is committed in the write-ahead log before the client acknowledges what
// it holds (SQLite, "Write-Ahead Logging", https://sqlite.org/wal.html);
// StoreSync says whether the commit also waits for the disk.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <string>

#include "core/client_store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace udpchat {

/// How a commit of the client's store reaches the disk (manual §4.11,
/// docs/DECISIONS.md "The recipient's store commit"; SQLite, "PRAGMA
/// synchronous", https://sqlite.org/pragma.html#pragma_synchronous).
enum class StoreSync : std::uint8_t {
  /// synchronous=NORMAL: a commit is in the write-ahead log in the
  /// operating system's hands when it returns, so it survives the
  /// process being killed at any instant; the log is fsynced at each
  /// checkpoint. An operating-system crash or power cut may undo the
  /// commits since the last checkpoint.
  kNormal,
  /// synchronous=FULL: each commit also waits for the log's fsync, so it
  /// survives a power cut too; ~10x the latency of an ack on this
  /// machine's disks (docs/PERFORMANCE.md).
  kFull,
};

class SqliteClientStore final : public ClientStore {
 public:
  /// Opens (creating, mode 0600) the store at `path`, its commits made
  /// durable as `sync` says. Error: a line naming the file and what
  /// failed.
  static std::expected<std::unique_ptr<SqliteClientStore>, std::string> open(
      const std::string& path, StoreSync sync = StoreSync::kNormal);
  ~SqliteClientStore() override;
  SqliteClientStore(const SqliteClientStore&) = delete;
  SqliteClientStore& operator=(const SqliteClientStore&) = delete;

  std::vector<ClientStoreCompletion> apply(
      const std::vector<ClientStoreCommand>& commands) override;
  std::vector<HistoryEntry> unshown() override;

  /// The store beside `key_file`: "dir/alice.key" -> "dir/alice.db"
  /// ("dir/k.db" -> "dir/k.db.db", never the key file itself).
  static std::string path_for_key_file(const std::string& key_file);

 private:
  SqliteClientStore() = default;
  bool exec(const char* sql);
  std::string error() const;
  sqlite3_stmt* prepare(const char* sql);
  ClientStoreCompletion run(const ClientStoreCommand& c);

  std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* take_ = nullptr;
  sqlite3_stmt* mark_ = nullptr;
  sqlite3_stmt* forget_ = nullptr;
  sqlite3_stmt* sent_ = nullptr;
  sqlite3_stmt* history_ = nullptr;
  sqlite3_stmt* count_ = nullptr;
};

}  // namespace udpchat
