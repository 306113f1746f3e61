// sqlite_client_store.cpp: SqliteClientStore.
#include "store/sqlite_client_store.hpp"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "store/sqlite_util.hpp"

namespace udpchat {
namespace {

using sqlite_util::bind_text;
using sqlite_util::column_text;
using sqlite_util::Reset;

// direction 0: taken (incoming), 1: sent. (direction, sender, mid) is the
// idempotency key of a message; shown 0 until it was on the screen.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY,
  direction INTEGER NOT NULL,
  sender TEXT NOT NULL,
  mid INTEGER NOT NULL,
  conversation TEXT NOT NULL,
  from_nick TEXT NOT NULL,
  to_nick TEXT NOT NULL,
  grp TEXT NOT NULL,
  body BLOB,
  at_ms INTEGER NOT NULL,
  saved_at_ms INTEGER NOT NULL,
  verified INTEGER NOT NULL,
  shown INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS messages_key ON messages(direction, sender, mid);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation, seq);
CREATE INDEX IF NOT EXISTS messages_unshown ON messages(shown) WHERE shown = 0;
)sql";

constexpr const char* kColumns =
    "direction, sender, mid, conversation, from_nick, to_nick, grp, body, at_ms, saved_at_ms, "
    "verified";

HistoryEntry read_entry(sqlite3_stmt* s) {
  HistoryEntry e;
  e.outgoing = sqlite3_column_int(s, 0) != 0;
  e.sender_key = column_text(s, 1);
  e.mid = static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
  e.conversation = column_text(s, 3);
  e.from = column_text(s, 4);
  e.to = column_text(s, 5);
  e.group = column_text(s, 6);
  e.text = column_text(s, 7);
  e.at_ms = sqlite3_column_int64(s, 8);
  e.saved_at_ms = sqlite3_column_int64(s, 9);
  e.verified = sqlite3_column_int(s, 10) != 0;
  return e;
}

void bind_entry(sqlite3_stmt* s, const HistoryEntry& e, bool shown) {
  sqlite3_bind_int(s, 1, e.outgoing ? 1 : 0);
  bind_text(s, 2, e.sender_key);
  sqlite3_bind_int64(s, 3, static_cast<sqlite3_int64>(e.mid));
  bind_text(s, 4, e.conversation);
  bind_text(s, 5, e.from);
  bind_text(s, 6, e.to);
  bind_text(s, 7, e.group);
  sqlite3_bind_blob(s, 8, e.text.data(), static_cast<int>(e.text.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int64(s, 9, e.at_ms);
  sqlite3_bind_int64(s, 10, e.saved_at_ms);
  sqlite3_bind_int(s, 11, e.verified ? 1 : 0);
  sqlite3_bind_int(s, 12, shown ? 1 : 0);
}

}  // namespace

std::string SqliteClientStore::path_for_key_file(const std::string& key_file) {
  std::filesystem::path p(key_file);
  p.replace_extension(".db");
  if (p == std::filesystem::path(key_file)) p += ".db";  // a key file named *.db
  return p.string();
}

std::expected<std::unique_ptr<SqliteClientStore>, std::string> SqliteClientStore::open(
    const std::string& path, StoreSync sync) {
  std::unique_ptr<SqliteClientStore> store(new SqliteClientStore());
  store->path_ = path;
  // The history is as private as the key beside it: 0600 from the start.
  const mode_t old = ::umask(077);
  const int rc =
      sqlite3_open_v2(path.c_str(), &store->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc == SQLITE_OK) {
    // Another client of the same key file (the same nickname twice) waits
    // its turn rather than failing.
    sqlite3_busy_timeout(store->db_, 5000);
    const char* synchronous =
        sync == StoreSync::kFull ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
    for (const char* sql : {"PRAGMA journal_mode=WAL", synchronous, kSchema}) {
      if (!store->exec(sql)) {
        ::umask(old);
        return std::unexpected(path + ": " + store->error());
      }
    }
  }
  ::umask(old);
  if (rc != SQLITE_OK) return std::unexpected("cannot open " + path + ": " + store->error());
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const std::string insert = std::string("INSERT OR IGNORE INTO messages (") + kColumns +
                             ", shown) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
  store->take_ = store->prepare(insert.c_str());
  store->sent_ = store->take_;
  store->mark_ = store->prepare(
      "UPDATE messages SET shown = 1 WHERE direction = 0 AND sender = ? AND mid = ?");
  store->forget_ = store->prepare(
      "UPDATE messages SET shown = 1, body = NULL WHERE direction = 0 AND sender = ? AND mid = ?");
  const std::string history =
      std::string("SELECT ") + kColumns +
      " FROM (SELECT * FROM messages WHERE conversation = ? AND (shown = 1 OR direction = 1) "
      "AND body IS NOT NULL ORDER BY seq DESC LIMIT ?) ORDER BY seq";
  store->history_ = store->prepare(history.c_str());
  store->count_ = store->prepare(
      "SELECT count(*) FROM messages WHERE conversation = ? AND (shown = 1 OR direction = 1) "
      "AND body IS NOT NULL");
  for (sqlite3_stmt* s :
       {store->take_, store->mark_, store->forget_, store->history_, store->count_}) {
    if (s == nullptr) return std::unexpected(path + ": " + store->error());
  }
  return store;
}

SqliteClientStore::~SqliteClientStore() {
  for (sqlite3_stmt* s : {take_, mark_, forget_, history_, count_}) sqlite3_finalize(s);
  sqlite3_close(db_);
}

bool SqliteClientStore::exec(const char* sql) {
  return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

std::string SqliteClientStore::error() const {
  return db_ == nullptr ? std::string("out of memory") : std::string(sqlite3_errmsg(db_));
}

sqlite3_stmt* SqliteClientStore::prepare(const char* sql) {
  sqlite3_stmt* s = nullptr;
  return sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) == SQLITE_OK ? s : nullptr;
}

ClientStoreCompletion SqliteClientStore::run(const ClientStoreCommand& c) {
  ClientStoreCompletion done{c.ticket, c.op};
  const auto failed = [&] {
    done.ok = false;
    done.error = error();
    return done;
  };
  switch (c.op) {
    case ClientStoreOp::kTake:
    case ClientStoreOp::kRecordSent: {
      Reset r{take_};
      bind_entry(take_, c.entry, false);
      if (sqlite3_step(take_) != SQLITE_DONE) return failed();
      done.fresh = sqlite3_changes(db_) > 0;
      return done;
    }
    case ClientStoreOp::kMarkShown: {
      sqlite3_stmt* s = c.forget_text ? forget_ : mark_;
      Reset r{s};
      bind_text(s, 1, c.entry.sender_key);
      sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(c.entry.mid));
      if (sqlite3_step(s) != SQLITE_DONE) return failed();
      return done;
    }
    case ClientStoreOp::kHistory: {
      {
        Reset r{count_};
        bind_text(count_, 1, c.entry.conversation);
        if (sqlite3_step(count_) != SQLITE_ROW) return failed();
        done.total = static_cast<std::uint64_t>(sqlite3_column_int64(count_, 0));
      }
      Reset r{history_};
      bind_text(history_, 1, c.entry.conversation);
      sqlite3_bind_int64(history_, 2, static_cast<sqlite3_int64>(c.limit));
      int step = 0;
      while ((step = sqlite3_step(history_)) == SQLITE_ROW)
        done.rows.push_back(read_entry(history_));
      if (step != SQLITE_DONE) return failed();
      return done;
    }
  }
  return done;
}

std::vector<ClientStoreCompletion> SqliteClientStore::apply(
    const std::vector<ClientStoreCommand>& commands) {
  std::vector<ClientStoreCompletion> out;
  out.reserve(commands.size());
  if (!exec("BEGIN IMMEDIATE")) {
    const std::string why = error();
    for (const auto& c : commands) out.push_back({c.ticket, c.op, false, why});
    return out;
  }
  for (const auto& c : commands) out.push_back(run(c));
  if (!exec("COMMIT")) {
    // Nothing of the batch is durable: every write fails (reads stand).
    const std::string why = error();
    exec("ROLLBACK");
    for (auto& d : out) {
      if (d.op != ClientStoreOp::kHistory) {
        d.ok = false;
        d.error = why;
        d.fresh = false;
      }
    }
  }
  return out;
}

std::vector<HistoryEntry> SqliteClientStore::unshown() {
  std::vector<HistoryEntry> out;
  const std::string sql = std::string("SELECT ") + kColumns +
                          " FROM messages WHERE shown = 0 AND direction = 0 ORDER BY seq";
  sqlite3_stmt* s = prepare(sql.c_str());
  if (s == nullptr) return out;
  while (sqlite3_step(s) == SQLITE_ROW) out.push_back(read_entry(s));
  sqlite3_finalize(s);
  return out;
}

}  // namespace udpchat
