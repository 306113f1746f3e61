// sqlite_store_open.cpp: SqliteStore's file: its schema, the moves from
// older schemas, the prepared statements (open) and their end. What the
// statements do is sqlite_store.cpp's and sqlite_store_state.cpp's.
#include <sqlite3.h>

#include <filesystem>
#include <system_error>

#include "store/sqlite_store.hpp"

namespace udpchat {
namespace {

/// 2: clients.row_version (table deltas); 3: clients.log_upto, groups,
/// members (channel and group logs); 4: clients.key (nicknames belong to
/// keys, manual §9); 5: a message body is TEXT (a channel or group
/// message, or one saved before end-to-end encryption) or BLOB (a sealed
/// box, manual §8); 6: clients.password (an Argon2id hash, manual §9);
/// 7: clients.local_address and local_port (a client's local endpoint
/// behind a NAT, docs/NAT.md); 8: clients.last_seen_ms and the meta row
/// log_trimmed_upto (the log retention, docs/DECISIONS.md); 9: bodies
/// in a table of their own (below).
constexpr int kSchemaVersion = 9;

/// A message is two rows: its idempotency key and place in a mailbox or
/// log in `messages` (kept kTombstoneDays after delivery), its text or
/// sealed box in `bodies` (deleted when it is delivered or trimmed). Kept
/// apart, a delivered message's key row keeps its size (its page stays
/// full) and its body's pages go back to the free list for the next
/// bodies: the file grows by the keys alone (docs/PERFORMANCE.md, the
/// soak). A schema 8 file has the body in `messages`: moved at open.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS messages (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  sender       TEXT    NOT NULL,
  sender_key   TEXT    NOT NULL,
  recipient    TEXT    NOT NULL,
  mid          INTEGER NOT NULL,
  saved_at_ms  INTEGER NOT NULL,
  delivered    INTEGER NOT NULL DEFAULT 0,
  UNIQUE (sender_key, mid)
);
CREATE INDEX IF NOT EXISTS messages_waiting ON messages (recipient, delivered, seq);
CREATE TABLE IF NOT EXISTS bodies (
  seq          INTEGER PRIMARY KEY,
  body         BLOB    NOT NULL
);
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
  int version = 0;
  if (sqlite3_stmt* v = nullptr;
      sqlite3_prepare_v2(store->db_, "PRAGMA user_version", -1, &v, nullptr) == SQLITE_OK) {
    if (sqlite3_step(v) == SQLITE_ROW) version = sqlite3_column_int(v, 0);
    sqlite3_finalize(v);
  }
  // The old keys go first: a move of the bodies (below) rewrites the rows
  // that are left.
  const std::string purge =
      "DELETE FROM messages WHERE delivered=1 AND saved_at_ms < "
      "(strftime('%s','now') - " +
      std::to_string(kTombstoneDays) + " * 86400) * 1000";
  if (auto r = store->exec(purge.c_str()); !r) {
    return std::unexpected(r.error());
  }
  if (auto r = store->move_bodies(version); !r) {
    return failed(r.error());
  }
  if (auto r = store->exec(("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str()); !r) {
    return failed(r.error());
  }
  const std::pair<sqlite3_stmt**, const char*> statements[] = {
      {&store->insert_message_,
       "INSERT INTO messages (sender, sender_key, recipient, mid, saved_at_ms, seq) "
       "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sender_key, mid) DO NOTHING"},
      {&store->savepoint_, "SAVEPOINT write"},
      {&store->release_, "RELEASE write"},
      {&store->rollback_to_, "ROLLBACK TO write"},
      {&store->insert_body_, "INSERT OR REPLACE INTO bodies (seq, body) VALUES (?, ?)"},
      {&store->delete_body_, "DELETE FROM bodies WHERE seq = ?"},
      {&store->fetch_log_,
       "SELECT m.seq, m.sender, m.mid, b.body, m.saved_at_ms FROM messages m "
       "JOIN bodies b ON b.seq = m.seq "
       "WHERE m.recipient = ? AND m.delivered = 0 AND m.seq > ? AND m.sender_key <> ? "
       "ORDER BY m.seq LIMIT ?"},
      {&store->put_group_, "INSERT OR IGNORE INTO groups (group_key, name) VALUES (?, ?)"},
      {&store->put_member_,
       "INSERT OR REPLACE INTO members (group_key, nick_key, joined_seq) VALUES (?, ?, ?)"},
      {&store->remove_member_, "DELETE FROM members WHERE group_key = ? AND nick_key = ?"},
      {&store->remove_group_,
       "DELETE FROM groups WHERE group_key = ?1 AND NOT EXISTS "
       "(SELECT 1 FROM members WHERE group_key = ?1)"},
      {&store->oldest_,
       "SELECT m.seq, m.sender, m.mid, b.body, m.saved_at_ms FROM messages m "
       "JOIN bodies b ON b.seq = m.seq "
       "WHERE m.recipient = ? AND m.delivered = 0 AND m.seq > ? ORDER BY m.seq LIMIT ?"},
      {&store->count_, "SELECT count(*) FROM messages WHERE recipient = ? AND delivered = 0"},
      {&store->delivered_, "UPDATE messages SET delivered = 1 WHERE seq = ? AND delivered = 0"},
      {&store->delivered_by_key_,
       "UPDATE messages SET delivered = 1 WHERE sender_key = ? AND mid = ? AND delivered = 0 "
       "RETURNING seq"},
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
      {&store->trim_bodies_,
       "DELETE FROM bodies WHERE seq IN (SELECT seq FROM messages WHERE (recipient = '*' OR "
       "(recipient >= '#' AND recipient < '$')) AND delivered = 0 AND seq <= ?)"},
      {&store->trim_logs_,
       "UPDATE messages SET delivered = 1 WHERE (recipient = '*' OR "
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

std::expected<void, StoreError> SqliteStore::move_bodies(int version) {
  // A file of schema 8 or older keeps each body in its `messages` row.
  bool has_body = false;
  if (sqlite3_stmt* s = nullptr;
      sqlite3_prepare_v2(db_, "SELECT 1 FROM pragma_table_info('messages') WHERE name = 'body'",
                         -1, &s, nullptr) == SQLITE_OK) {
    has_body = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
  }
  if (!has_body) return {};
  // Before schema 5 every body was bound as a BLOB of UTF-8 text: marked
  // as the text it is. Then every body still waiting moves to `bodies`
  // and the column goes (its rows shrink: the file's pages are rewritten
  // once, here). One transaction: a crash leaves the old file as it was.
  std::string sql = "BEGIN IMMEDIATE;";
  if (version < 5) {
    sql += "UPDATE messages SET body = CAST(body AS TEXT) WHERE typeof(body) = 'blob';";
  }
  sql +=
      "INSERT OR REPLACE INTO bodies (seq, body) SELECT seq, body FROM messages "
      "WHERE delivered = 0 AND body IS NOT NULL;"
      "ALTER TABLE messages DROP COLUMN body;"
      "COMMIT;";
  if (auto r = exec(sql.c_str()); !r) {
    rollback();
    return std::unexpected(StoreError{"cannot move the message bodies to schema 9: " +
                                      r.error().what});
  }
  return {};
}

}  // namespace udpchat
