// sqlite_client_store.hpp: the client's own store in SQLite (manual §4.11):
// <key file without its extension>.db beside the key file, mode 0600.
//
// One table, `messages`, in insertion order: what the client took (with
// whether it was shown) and, with the history on, what it sent. A new row
// is first written over the next of 256 preallocated slots of `staged`
// (one B-tree page per commit, nothing allocated, no index) and copied into
// `messages` with its three indexes when the ring is full, before a history
// query and when the store opens or closes; the idempotency key is looked
// up in both. Each batch is committed in the write-ahead log
// before the client acknowledges what it holds (SQLite, "Write-Ahead
// Logging", https://sqlite.org/wal.html); StoreSync says whether the
// commit also waits for the disk. The process holds the file locked
// (locking_mode=EXCLUSIVE) from open to close.
#pragma once

#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "core/client/client_store.hpp"

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

/// Why a client store did not open: `line` names the file and the cause;
/// `in_use` when another process (a client of the same key file) holds it.
struct StoreOpenError {
  std::string line;
  bool in_use = false;
};

class SqliteClientStore final : public ClientStore {
 public:
  /// Opens (creating, mode 0600) the store at `path`, its commits made
  /// durable as `sync` says, and locks it for this process; folds what a
  /// previous process left staged. Error: a line naming the file and what
  /// failed, `in_use` when another process still holds it after 1 s.
  static std::expected<std::unique_ptr<SqliteClientStore>, StoreOpenError> open(
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
  /// (direction, sender key, mid): the idempotency key of a message.
  using StagedKey = std::tuple<int, std::string, std::uint64_t>;

  bool exec(const char* sql);
  /// Runs a statement with no result rows (or ignores them); false on error.
  bool step(sqlite3_stmt* s);
  std::string error() const;
  sqlite3_stmt* prepare(const char* sql);
  ClientStoreCompletion run(const ClientStoreCommand& c);
  /// Moves every staged row into `messages`, in order, inside the open
  /// transaction; false on error (the caller rolls back).
  bool fold();
  /// kPrune: drops old texts, then old ids (client_store.hpp); the rows
  /// deleted go to done.total.
  bool prune(const ClientStoreCommand& c, ClientStoreCompletion& done);
  /// Rebuilds `staged_`, `next_slot_` and `generation_` from the tables
  /// after a rollback.
  void reload_staged();
  /// Reads the current staging generation into `generation_`.
  bool read_generation();

  std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stage_ = nullptr;
  sqlite3_stmt* exists_ = nullptr;
  sqlite3_stmt* mark_staged_ = nullptr;
  sqlite3_stmt* forget_staged_ = nullptr;
  sqlite3_stmt* mark_ = nullptr;
  sqlite3_stmt* forget_ = nullptr;
  sqlite3_stmt* fold_ = nullptr;
  sqlite3_stmt* unstage_ = nullptr;
  sqlite3_stmt* history_ = nullptr;
  sqlite3_stmt* count_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  /// The current generation's rows in `staged` (as committed, or in the
  /// open transaction): key -> slot.
  std::map<StagedKey, int> staged_;
  /// The slot the next take overwrites; the ring is folded when it is full.
  int next_slot_ = 0;
  /// The staging generation the slots in use carry.
  std::int64_t generation_ = 0;
};

}  // namespace udpchat
