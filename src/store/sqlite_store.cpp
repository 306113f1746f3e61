#include "store/sqlite_store.hpp"

#include <sqlite3.h>

#include <filesystem>
#include <system_error>

#include "protocol/text.hpp"
#include "store/sqlite_util.hpp"

namespace udpchat {
namespace {

/// 2: clients.row_version (table deltas); 3: clients.log_upto, groups,
/// members (channel and group logs); 4: clients.key (nicknames belong to
/// keys, manual §9); 5: a message body is TEXT (a channel or group
/// message, or one saved before end-to-end encryption) or BLOB (a sealed
/// box, manual §8); 6: clients.password (an Argon2id hash, manual §9);
/// 7: clients.local_address and local_port (a client's local endpoint
/// behind a NAT, docs/NAT.md); 8: clients.last_seen_ms and the meta row
/// log_trimmed_upto (the log retention, docs/DECISIONS.md).
constexpr int kSchemaVersion = 8;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS messages (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  sender       TEXT    NOT NULL,
  sender_key   TEXT    NOT NULL,
  recipient    TEXT    NOT NULL,
  mid          INTEGER NOT NULL,
  body         BLOB,
  saved_at_ms  INTEGER NOT NULL,
  delivered    INTEGER NOT NULL DEFAULT 0,
  UNIQUE (sender_key, mid)
);
CREATE INDEX IF NOT EXISTS messages_waiting ON messages (recipient, delivered, seq);
CREATE TABLE IF NOT EXISTS clients (
  nick_key     TEXT PRIMARY KEY,
  nick         TEXT    NOT NULL,
  address      TEXT    NOT NULL,
  port         INTEGER NOT NULL,
  online       INTEGER NOT NULL,
  heartbeat_ms INTEGER NOT NULL,
  row_version  INTEGER NOT NULL DEFAULT 0,
  log_upto     INTEGER NOT NULL DEFAULT 0,
  key          BLOB,
  password     TEXT,
  local_address TEXT,
  local_port   INTEGER,
  last_seen_ms INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
  group_key    TEXT PRIMARY KEY,
  name         TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
  group_key    TEXT    NOT NULL,
  nick_key     TEXT    NOT NULL,
  joined_seq   INTEGER NOT NULL,
  PRIMARY KEY (group_key, nick_key)
);
)sql";

}  // namespace

using sqlite_util::bind_text;
using sqlite_util::column_text;
using sqlite_util::read_body;
using sqlite_util::Reset;

StoreError SqliteStore::error(const char* what) const {
  return StoreError{std::string(what) + ": " +
                    (db_ != nullptr ? sqlite3_errmsg(db_) : "no database")};
}

std::expected<void, StoreError> SqliteStore::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    StoreError e{msg != nullptr ? msg : "sqlite error"};
    sqlite3_free(msg);
    return std::unexpected(e);
  }
  return {};
}

std::expected<std::unique_ptr<SqliteStore>, StoreError> SqliteStore::open(
    const std::string& data_dir) {
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    return std::unexpected(
        StoreError{"cannot create data directory " + data_dir + ": " + ec.message()});
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore());
  store->path_ = (std::filesystem::path(data_dir) / "udpchat.db").string();
  if (sqlite3_open_v2(store->path_.c_str(), &store->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    return std::unexpected(store->error(("cannot open " + store->path_).c_str()));
  }
  const auto failed = [&store](const StoreError& e) {
    const bool locked = e.what.find("locked") != std::string::npos;
    return std::unexpected(
        StoreError{store->path_ + ": " + e.what +
                   (locked ? " (is another server using this data directory?)" : "")});
  };
  // The first write (the schema) takes the exclusive lock for the life of
  // the server; a second server fails here or at the journal mode.
  for (const char* sql : {"PRAGMA locking_mode=EXCLUSIVE", "PRAGMA journal_mode=WAL",
                          "PRAGMA synchronous=FULL", kSchema}) {
    if (auto r = store->exec(sql); !r) {
      return failed(r.error());
    }
  }
  // Schema 1 had no row versions: add the column (its rows count as
  // changed at version 0, so any client gets them in its first update).
  // Schema 2 had no log positions: 0 reads every channel message kept
  // (there are none in a schema 2 database). Schema 3 had no keys: a row
  // without one is claimed by the key of its next registration.
  for (const char* sql :
       {"ALTER TABLE clients ADD COLUMN row_version INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE clients ADD COLUMN log_upto INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE clients ADD COLUMN key BLOB", "ALTER TABLE clients ADD COLUMN password TEXT",
        "ALTER TABLE clients ADD COLUMN local_address TEXT",
        "ALTER TABLE clients ADD COLUMN local_port INTEGER",
        "ALTER TABLE clients ADD COLUMN last_seen_ms INTEGER NOT NULL DEFAULT 0"}) {
    if (auto r = store->exec(sql);
        !r && r.error().what.find("duplicate column") == std::string::npos) {
      return failed(r.error());
    }
  }
  // Before schema 5 every body was bound as a BLOB of UTF-8 text: mark
  // them as the text they are.
  int version = 0;
  if (sqlite3_stmt* v = nullptr;
      sqlite3_prepare_v2(store->db_, "PRAGMA user_version", -1, &v, nullptr) == SQLITE_OK) {
    if (sqlite3_step(v) == SQLITE_ROW) version = sqlite3_column_int(v, 0);
    sqlite3_finalize(v);
  }
  if (version < 5) {
    if (auto r = store->exec(
            "UPDATE messages SET body = CAST(body AS TEXT) WHERE typeof(body) = 'blob'");
        !r) {
      return failed(r.error());
    }
  }
  if (auto r = store->exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str()); !r) {
    return failed(r.error());
  }
  const std::string purge =
      "DELETE FROM messages WHERE delivered=1 AND saved_at_ms < "
      "(strftime('%s','now') - " +
      std::to_string(kTombstoneDays) + " * 86400) * 1000";
  if (auto r = store->exec(purge.c_str()); !r) {
    return std::unexpected(r.error());
  }
  const std::pair<sqlite3_stmt**, const char*> statements[] = {
      {&store->insert_message_,
       "INSERT INTO messages (sender, sender_key, recipient, mid, body, saved_at_ms, seq) "
       "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sender_key, mid) DO NOTHING"},
      {&store->fetch_log_,
       "SELECT seq, sender, mid, body, saved_at_ms FROM messages "
       "WHERE recipient = ? AND delivered = 0 AND seq > ? AND sender_key <> ? "
       "ORDER BY seq LIMIT ?"},
      {&store->put_group_, "INSERT OR IGNORE INTO groups (group_key, name) VALUES (?, ?)"},
      {&store->put_member_,
       "INSERT OR REPLACE INTO members (group_key, nick_key, joined_seq) VALUES (?, ?, ?)"},
      {&store->remove_member_, "DELETE FROM members WHERE group_key = ? AND nick_key = ?"},
      {&store->remove_group_,
       "DELETE FROM groups WHERE group_key = ?1 AND NOT EXISTS "
       "(SELECT 1 FROM members WHERE group_key = ?1)"},
      {&store->oldest_,
       "SELECT seq, sender, mid, body, saved_at_ms FROM messages "
       "WHERE recipient = ? AND delivered = 0 AND seq > ? ORDER BY seq LIMIT ?"},
      {&store->count_, "SELECT count(*) FROM messages WHERE recipient = ? AND delivered = 0"},
      {&store->delivered_,
       "UPDATE messages SET delivered = 1, body = NULL WHERE seq = ? AND delivered = 0"},
      {&store->delivered_by_key_,
       "UPDATE messages SET delivered = 1, body = NULL "
       "WHERE sender_key = ? AND mid = ? AND delivered = 0"},
      {&store->put_client_,
       // An upsert, not INSERT OR REPLACE: the row is changed where it is
       // (REPLACE deletes it and inserts it again under a new rowid,
       // touching two table pages and the key's index for every read
       // position that moves; docs/PERFORMANCE.md).
       "INSERT INTO clients "
       "(nick_key, nick, address, port, online, heartbeat_ms, row_version, log_upto, key, "
       "password, local_address, local_port, last_seen_ms) "
       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
       "ON CONFLICT (nick_key) DO UPDATE SET nick = excluded.nick, address = excluded.address, "
       "port = excluded.port, online = excluded.online, heartbeat_ms = excluded.heartbeat_ms, "
       "row_version = excluded.row_version, log_upto = excluded.log_upto, key = excluded.key, "
       "password = excluded.password, local_address = excluded.local_address, "
       "local_port = excluded.local_port, last_seen_ms = excluded.last_seen_ms"},
      {&store->put_meta_, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)"},
      // Log keys begin with '*' (the channel) or '#' (a group); nickname
      // keys never do. Two ranges of the messages_waiting index.
      // Oldest first by seq (saved in seq order): a chunk stops at `limit`
      // without reading the rest of the table.
      {&store->purge_keys_,
       "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages WHERE delivered = 1 AND "
       "saved_at_ms < ? ORDER BY seq LIMIT ?)"},
      {&store->trim_logs_,
       "UPDATE messages SET delivered = 1, body = NULL WHERE (recipient = '*' OR "
       "(recipient >= '#' AND recipient < '$')) AND delivered = 0 AND seq <= ?"},
  };
  for (const auto& [stmt, sql] : statements) {
    if (sqlite3_prepare_v3(store->db_, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, nullptr) !=
        SQLITE_OK) {
      return std::unexpected(store->error("cannot prepare statement"));
    }
  }
  return store;
}

SqliteStore::~SqliteStore() {
  // Finalize every statement the connection still owns (sqlite3_close
  // fails with SQLITE_BUSY, and keeps the exclusive lock, if one is left).
  while (sqlite3_stmt* s = sqlite3_next_stmt(db_, nullptr)) {
    sqlite3_finalize(s);
  }
  sqlite3_close(db_);
}

std::expected<SaveOutcome, StoreError> SqliteStore::save(const StoredMessage& m) {
  Reset r{insert_message_};
  bind_text(insert_message_, 1, m.from);
  bind_text(insert_message_, 2, nickname_key(m.from));
  bind_text(insert_message_, 3, m.to_key);
  sqlite3_bind_int64(insert_message_, 4, static_cast<sqlite3_int64>(m.mid));  // bit pattern kept
  if (m.box.empty()) {
    sqlite3_bind_text(insert_message_, 5, m.text.data(), static_cast<int>(m.text.size()),
                      SQLITE_TRANSIENT);
  } else {
    sqlite3_bind_blob(insert_message_, 5, m.box.data(), static_cast<int>(m.box.size()),
                      SQLITE_TRANSIENT);
  }
  sqlite3_bind_int64(insert_message_, 6, m.saved_at_ms);
  if (m.seq > 0) {
    sqlite3_bind_int64(insert_message_, 7, m.seq);  // the server's numbering
  } else {
    sqlite3_bind_null(insert_message_, 7);  // the next AUTOINCREMENT value
  }
  if (sqlite3_step(insert_message_) != SQLITE_DONE) {
    // The bare SQLite message ("database or disk is full", "attempt to
    // write a readonly database"): the sender is shown it as it is.
    return std::unexpected(StoreError{sqlite3_errmsg(db_)});
  }
  if (sqlite3_changes(db_) == 0) return SaveOutcome{SaveResult::kDuplicate, 0};
  return SaveOutcome{SaveResult::kSaved,
                     m.seq > 0 ? m.seq : static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_))};
}

std::expected<std::vector<StoredMessage>, StoreError> SqliteStore::fetch_for(
    std::string_view to_key, std::int64_t after_seq, std::size_t limit) {
  Reset r{oldest_};
  bind_text(oldest_, 1, to_key);
  sqlite3_bind_int64(oldest_, 2, after_seq);
  sqlite3_bind_int64(oldest_, 3, static_cast<sqlite3_int64>(limit));
  std::vector<StoredMessage> out;
  int rc = 0;
  while ((rc = sqlite3_step(oldest_)) == SQLITE_ROW) {
    StoredMessage m;
    m.seq = sqlite3_column_int64(oldest_, 0);
    m.from = column_text(oldest_, 1);
    m.to_key = std::string(to_key);
    m.mid = static_cast<std::uint64_t>(sqlite3_column_int64(oldest_, 2));
    read_body(oldest_, 3, m);
    m.saved_at_ms = sqlite3_column_int64(oldest_, 4);
    out.push_back(std::move(m));
  }
  if (rc != SQLITE_DONE) {
    return std::unexpected(error("cannot read stored messages"));
  }
  return out;
}

std::expected<std::size_t, StoreError> SqliteStore::count_for(std::string_view to_key) {
  Reset r{count_};
  bind_text(count_, 1, to_key);
  if (sqlite3_step(count_) != SQLITE_ROW) {
    return std::unexpected(error("cannot count stored messages"));
  }
  return static_cast<std::size_t>(sqlite3_column_int64(count_, 0));
}

std::expected<std::size_t, StoreError> SqliteStore::mark_delivered(std::int64_t seq) {
  Reset r{delivered_};
  sqlite3_bind_int64(delivered_, 1, seq);
  if (sqlite3_step(delivered_) != SQLITE_DONE) {
    return std::unexpected(error("cannot delete delivered message"));
  }
  return static_cast<std::size_t>(sqlite3_changes(db_));
}

std::expected<std::size_t, StoreError> SqliteStore::purge_keys(std::int64_t before_ms,
                                                              std::size_t limit) {
  Reset r{purge_keys_};
  sqlite3_bind_int64(purge_keys_, 1, before_ms);
  sqlite3_bind_int64(purge_keys_, 2, static_cast<sqlite3_int64>(limit));
  if (sqlite3_step(purge_keys_) != SQLITE_DONE) {
    return std::unexpected(error("cannot purge old idempotency keys"));
  }
  return static_cast<std::size_t>(sqlite3_changes(db_));
}

std::expected<std::size_t, StoreError> SqliteStore::trim_logs(std::int64_t upto) {
  Reset r{trim_logs_};
  sqlite3_bind_int64(trim_logs_, 1, upto);
  if (sqlite3_step(trim_logs_) != SQLITE_DONE) {
    return std::unexpected(error("cannot trim the channel and group logs"));
  }
  const auto rows = static_cast<std::size_t>(sqlite3_changes(db_));
  // The point trimmed to, for a client that comes back from below it
  // (StoredState::log_trimmed_upto). Positions only grow: so does it.
  Reset m{put_meta_};
  bind_text(put_meta_, 1, "log_trimmed_upto");
  sqlite3_bind_int64(put_meta_, 2, upto);
  if (sqlite3_step(put_meta_) != SQLITE_DONE) {
    return std::unexpected(error("cannot trim the channel and group logs"));
  }
  return rows;
}

std::expected<std::size_t, StoreError> SqliteStore::mark_delivered_by_key(
    std::string_view sender_key, std::uint64_t mid) {
  Reset r{delivered_by_key_};
  bind_text(delivered_by_key_, 1, sender_key);
  sqlite3_bind_int64(delivered_by_key_, 2, static_cast<sqlite3_int64>(mid));
  if (sqlite3_step(delivered_by_key_) != SQLITE_DONE) {
    return std::unexpected(error("cannot delete delivered message"));
  }
  return static_cast<std::size_t>(sqlite3_changes(db_));
}

std::expected<void, StoreError> SqliteStore::begin() {
  if (auto r = exec("BEGIN IMMEDIATE"); !r) {
    return std::unexpected(StoreError{"cannot begin a transaction: " + r.error().what});
  }
  return {};
}

std::expected<void, StoreError> SqliteStore::commit() {
  if (auto r = exec("COMMIT"); !r) {
    return std::unexpected(StoreError{r.error().what});
  }
  return {};
}

void SqliteStore::rollback() {
  if (in_transaction()) {
    (void)exec("ROLLBACK");
  }
}

bool SqliteStore::in_transaction() const {
  return sqlite3_get_autocommit(db_) == 0;
}

std::expected<void, StoreError> SqliteStore::checkpoint() {
  if (sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr) !=
      SQLITE_OK) {
    return std::unexpected(error("checkpoint failed"));
  }
  return {};
}

}  // namespace udpchat
