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
constexpr const char* kRow = R"sql(
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
  shown INTEGER NOT NULL)sql";

// The staging ring (docs/PERFORMANCE.md): kSlots rows made once, each take
// overwrites the next slot in place (one B-tree page, nothing allocated),
// stamped with the current generation; a fold copies the generation's rows
// into `messages` and starts the next one. Slots of older generations are
// stale and ignored.
constexpr int kSlots = 256;

const std::string kSchema =
    std::string("CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY,") + kRow + ");" +
    R"sql(
CREATE UNIQUE INDEX IF NOT EXISTS messages_key ON messages(direction, sender, mid);
CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation, seq);
CREATE INDEX IF NOT EXISTS messages_unshown ON messages(shown) WHERE shown = 0;
CREATE TABLE IF NOT EXISTS staged (slot INTEGER PRIMARY KEY, gen INTEGER NOT NULL,)sql" +
    kRow +
    R"sql();
CREATE TABLE IF NOT EXISTS staging (id INTEGER PRIMARY KEY CHECK (id = 0), gen INTEGER NOT NULL);
INSERT OR IGNORE INTO staging VALUES (0, 1);
INSERT OR IGNORE INTO staged (slot, gen, direction, sender, mid, conversation, from_nick, to_nick,
  grp, body, at_ms, saved_at_ms, verified, shown)
  WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < )sql" +
    std::to_string(kSlots - 1) +
    ") SELECT i, 0, 0, '', 0, '', '', '', '', NULL, 0, 0, 0, 1 FROM n;";

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

std::expected<std::unique_ptr<SqliteClientStore>, StoreOpenError> SqliteClientStore::open(
    const std::string& path, StoreSync sync) {
  std::unique_ptr<SqliteClientStore> store(new SqliteClientStore());
  store->path_ = path;
  const auto failed = [&](const std::string& what) {
    const bool busy = store->db_ != nullptr && (sqlite3_errcode(store->db_) == SQLITE_BUSY ||
                                                sqlite3_errcode(store->db_) == SQLITE_LOCKED);
    if (busy) {
      return StoreOpenError{path + " is open in another udpchat client (the same key file twice)",
                            true};
    }
    return StoreOpenError{what + store->error(), false};
  };
  // The history is as private as the key beside it: 0600 from the start.
  const mode_t old = ::umask(077);
  const int rc =
      sqlite3_open_v2(path.c_str(), &store->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    ::umask(old);
    return std::unexpected(failed("cannot open " + path + ": "));
  }
  // One process owns the store while it runs: EXCLUSIVE locking takes the
  // file lock once and keeps the write-ahead log's index in the process's
  // memory, so a commit makes no fcntl() calls (SQLite, "PRAGMA
  // locking_mode" and "WAL without shared memory"). A second client of the
  // same key file finds the lock held (within a second, time for a client
  // that is quitting) and is refused.
  sqlite3_busy_timeout(store->db_, 1000);
  const char* synchronous =
      sync == StoreSync::kFull ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
  // secure_delete: a text dropped (--no-history) or moved out of `staged`
  // is overwritten, not left in a free page.
  for (const char* sql : {"PRAGMA locking_mode=EXCLUSIVE", "PRAGMA journal_mode=WAL", synchronous,
                          "PRAGMA secure_delete=ON", kSchema.c_str()}) {
    if (!store->exec(sql)) {
      ::umask(old);
      return std::unexpected(failed(path + ": "));
    }
  }
  ::umask(old);
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const std::string stage =
      "UPDATE staged SET direction = ?1, sender = ?2, mid = ?3, conversation = ?4, "
      "from_nick = ?5, to_nick = ?6, grp = ?7, body = ?8, at_ms = ?9, saved_at_ms = ?10, "
      "verified = ?11, shown = ?12, gen = ?13 WHERE slot = ?14";
  const std::string fold = std::string("INSERT OR IGNORE INTO messages (") + kColumns +
                           ", shown) SELECT " + kColumns +
                           ", shown FROM staged WHERE gen = ? ORDER BY slot";
  const std::string history =
      std::string("SELECT ") + kColumns +
      " FROM (SELECT * FROM messages WHERE conversation = ? AND (shown = 1 OR direction = 1) "
      "AND body IS NOT NULL ORDER BY seq DESC LIMIT ?) ORDER BY seq";
  const std::pair<sqlite3_stmt**, std::string> statements[] = {
      {&store->stage_, stage},
      {&store->exists_, "SELECT 1 FROM messages WHERE direction = ? AND sender = ? AND mid = ?"},
      {&store->mark_staged_, "UPDATE staged SET shown = 1 WHERE slot = ?"},
      {&store->forget_staged_, "UPDATE staged SET shown = 1, body = NULL WHERE slot = ?"},
      {&store->mark_,
       "UPDATE messages SET shown = 1 WHERE direction = 0 AND sender = ? AND mid = ?"},
      {&store->forget_,
       "UPDATE messages SET shown = 1, body = NULL WHERE direction = 0 AND "
       "sender = ? AND mid = ?"},
      {&store->fold_, fold},
      {&store->unstage_, "UPDATE staging SET gen = gen + 1"},
      {&store->history_, history},
      {&store->count_,
       "SELECT count(*) FROM messages WHERE conversation = ? AND (shown = 1 OR direction = 1) "
       "AND body IS NOT NULL"},
      {&store->begin_, "BEGIN IMMEDIATE"},
      {&store->commit_, "COMMIT"},
  };
  for (const auto& [slot, sql] : statements) {
    *slot = store->prepare(sql.c_str());
    if (*slot == nullptr) return std::unexpected(failed(path + ": "));
  }
  // What a previous process staged is folded now; this first write also
  // takes the lock that keeps a second process out.
  if (!store->step(store->begin_) || !store->read_generation() || !store->fold() ||
      !store->step(store->commit_)) {
    auto why = failed(path + ": ");
    store->exec("ROLLBACK");
    return std::unexpected(why);
  }
  return store;
}

SqliteClientStore::~SqliteClientStore() {
  // A clean end leaves nothing staged (the next open would fold it anyway).
  if (next_slot_ > 0 && step(begin_)) {
    if (!fold() || !step(commit_)) exec("ROLLBACK");
  }
  for (sqlite3_stmt* s : {stage_, exists_, mark_staged_, forget_staged_, mark_, forget_, fold_,
                          unstage_, history_, count_, begin_, commit_}) {
    sqlite3_finalize(s);
  }
  sqlite3_close(db_);
}

bool SqliteClientStore::exec(const char* sql) {
  return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

bool SqliteClientStore::step(sqlite3_stmt* s) {
  Reset r{s};
  const int rc = sqlite3_step(s);
  return rc == SQLITE_DONE || rc == SQLITE_ROW;
}

std::string SqliteClientStore::error() const {
  return db_ == nullptr ? std::string("out of memory") : std::string(sqlite3_errmsg(db_));
}

sqlite3_stmt* SqliteClientStore::prepare(const char* sql) {
  sqlite3_stmt* s = nullptr;
  return sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) == SQLITE_OK ? s : nullptr;
}

bool SqliteClientStore::read_generation() {
  sqlite3_stmt* s = prepare("SELECT gen FROM staging WHERE id = 0");
  if (s == nullptr) return false;
  const bool ok = sqlite3_step(s) == SQLITE_ROW;
  if (ok) generation_ = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return ok;
}

bool SqliteClientStore::fold() {
  {
    Reset r{fold_};
    sqlite3_bind_int64(fold_, 1, generation_);
    if (sqlite3_step(fold_) != SQLITE_DONE) return false;
  }
  if (!step(unstage_)) return false;
  ++generation_;
  next_slot_ = 0;
  staged_.clear();
  return true;
}

void SqliteClientStore::reload_staged() {
  staged_.clear();
  next_slot_ = 0;
  if (!read_generation()) return;
  sqlite3_stmt* s = prepare("SELECT slot, direction, sender, mid FROM staged WHERE gen = ?");
  if (s == nullptr) return;
  sqlite3_bind_int64(s, 1, generation_);
  while (sqlite3_step(s) == SQLITE_ROW) {
    const int slot = sqlite3_column_int(s, 0);
    staged_[{sqlite3_column_int(s, 1), column_text(s, 2),
             static_cast<std::uint64_t>(sqlite3_column_int64(s, 3))}] = slot;
    next_slot_ = std::max(next_slot_, slot + 1);
  }
  sqlite3_finalize(s);
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
      // The idempotency key (direction, sender, mid) is looked up in both
      // tables; a fresh message takes the next slot of `staged`.
      const StagedKey key{c.entry.outgoing ? 1 : 0, c.entry.sender_key, c.entry.mid};
      if (staged_.contains(key)) return done;
      {
        Reset r{exists_};
        sqlite3_bind_int(exists_, 1, std::get<0>(key));
        bind_text(exists_, 2, c.entry.sender_key);
        sqlite3_bind_int64(exists_, 3, static_cast<sqlite3_int64>(c.entry.mid));
        const int rc = sqlite3_step(exists_);
        if (rc == SQLITE_ROW) return done;
        if (rc != SQLITE_DONE) return failed();
      }
      if (next_slot_ == kSlots && !fold()) return failed();
      Reset r{stage_};
      bind_entry(stage_, c.entry, false);
      sqlite3_bind_int64(stage_, 13, generation_);
      sqlite3_bind_int(stage_, 14, next_slot_);
      if (sqlite3_step(stage_) != SQLITE_DONE || sqlite3_changes(db_) != 1) return failed();
      staged_[key] = next_slot_++;
      done.fresh = true;
      return done;
    }
    case ClientStoreOp::kMarkShown: {
      const auto it = staged_.find(StagedKey{0, c.entry.sender_key, c.entry.mid});
      if (it != staged_.end()) {
        sqlite3_stmt* s = c.forget_text ? forget_staged_ : mark_staged_;
        Reset r{s};
        sqlite3_bind_int64(s, 1, it->second);
        if (sqlite3_step(s) != SQLITE_DONE) return failed();
        return done;
      }
      sqlite3_stmt* s = c.forget_text ? forget_ : mark_;
      Reset r{s};
      bind_text(s, 1, c.entry.sender_key);
      sqlite3_bind_int64(s, 2, static_cast<sqlite3_int64>(c.entry.mid));
      if (sqlite3_step(s) != SQLITE_DONE) return failed();
      return done;
    }
    case ClientStoreOp::kHistory: {
      if (next_slot_ > 0 && !fold()) return failed();
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
    case ClientStoreOp::kPrune:
      // Rare (at start, then hourly): staged rows folded first, so that
      // both tables are pruned alike; statements prepared per call.
      if (next_slot_ > 0 && !fold()) return failed();
      return prune(c, done) ? done : failed();
    case ClientStoreOp::kSize: {
      if (next_slot_ > 0 && !fold()) return failed();
      sqlite3_stmt* s = prepare(
          "SELECT count(*), count(body), (SELECT page_count FROM pragma_page_count()) * "
          "(SELECT page_size FROM pragma_page_size()) FROM messages");
      if (s == nullptr) return failed();
      const bool ok = sqlite3_step(s) == SQLITE_ROW;
      if (ok) {
        done.total = static_cast<std::uint64_t>(sqlite3_column_int64(s, 0));
        done.with_text = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
        done.bytes = static_cast<std::uint64_t>(sqlite3_column_int64(s, 2));
      }
      sqlite3_finalize(s);
      return ok ? done : failed();
    }
  }
  return done;
}

bool SqliteClientStore::prune(const ClientStoreCommand& c, ClientStoreCompletion& done) {
  const char* const steps[] = {
      "UPDATE messages SET body = NULL WHERE at_ms < ?1 AND body IS NOT NULL AND "
      "(shown = 1 OR direction = 1)",
      "DELETE FROM messages WHERE at_ms < ?2 AND body IS NULL AND (shown = 1 OR direction = 1)",
  };
  for (const char* sql : steps) {
    sqlite3_stmt* s = prepare(sql);
    if (s == nullptr) return false;
    sqlite3_bind_int64(s, 1, c.text_before_ms);
    sqlite3_bind_int64(s, 2, c.ids_before_ms);
    const int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return false;
  }
  done.total = static_cast<std::uint64_t>(sqlite3_changes(db_));
  return true;
}

std::vector<ClientStoreCompletion> SqliteClientStore::apply(
    const std::vector<ClientStoreCommand>& commands) {
  std::vector<ClientStoreCompletion> out;
  out.reserve(commands.size());
  if (!step(begin_)) {
    const std::string why = error();
    for (const auto& c : commands) out.push_back({c.ticket, c.op, false, why});
    return out;
  }
  for (const auto& c : commands) out.push_back(run(c));
  if (!step(commit_)) {
    // Nothing of the batch is durable: every write fails (reads stand),
    // and what is staged is what the log holds again.
    const std::string why = error();
    exec("ROLLBACK");
    reload_staged();
    for (auto& d : out) {
      if (d.op != ClientStoreOp::kHistory && d.op != ClientStoreOp::kSize) {
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
  // Taken and never shown, in the order taken: folded rows before staged.
  const std::string sql =
      std::string("SELECT ") + kColumns + " FROM (SELECT 0 AS t, seq AS o, " + kColumns +
      " FROM messages WHERE shown = 0 AND direction = 0 " + "UNION ALL SELECT 1, slot, " +
      kColumns + " FROM staged WHERE gen = ? AND shown = 0 AND direction = 0) " + "ORDER BY t, o";
  sqlite3_stmt* s = prepare(sql.c_str());
  if (s == nullptr) return out;
  sqlite3_bind_int64(s, 1, generation_);
  while (sqlite3_step(s) == SQLITE_ROW) out.push_back(read_entry(s));
  sqlite3_finalize(s);
  return out;
}

}  // namespace udpchat
