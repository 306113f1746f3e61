// Unit tests of the SQLite store's schema 9 (src/store/sqlite_store.cpp):
// bodies in a table of their own, deleted when delivered or trimmed so
// that their pages are reused, and the move of a schema 8 file's bodies.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/server/offline_store.hpp"
#include "store/sqlite_store.hpp"
#include "support/store_checks.hpp"
#include "support/temp_dir.hpp"

using namespace udpchat;        // NOLINT(google-build-using-namespace): test file
using namespace udpchat::test;  // NOLINT(google-build-using-namespace): test file

namespace {

/// One integer a query returns, from the file (the store closed: it holds
/// the exclusive lock while open).
std::int64_t query_int(const std::filesystem::path& file, const char* sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  REQUIRE_MESSAGE(sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK, sqlite3_errmsg(db));
  REQUIRE(sqlite3_step(s) == SQLITE_ROW);
  const std::int64_t v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

std::unique_ptr<SqliteStore> open_or_fail(const std::string& dir) {
  auto r = SqliteStore::open(dir);
  REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string() : r.error().what));
  return std::move(*r);
}

}  // namespace

TEST_SUITE("store: SqliteStore bodies") {
  TEST_CASE("a schema 8 file's waiting bodies move to their table, its keys stay") {
    TempDir dir;
    const auto file = dir.path() / "udpchat.db";
    {
      // As a server of schema 4 left it (bodies bound as BLOBs of text),
      // opened since by one of schema 8: the body still in `messages`.
      std::filesystem::create_directories(dir.path());
      sqlite3* db = nullptr;
      REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
      const char* old = R"sql(
        CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, sender TEXT NOT NULL,
          sender_key TEXT NOT NULL, recipient TEXT NOT NULL, mid INTEGER NOT NULL, body BLOB,
          saved_at_ms INTEGER NOT NULL, delivered INTEGER NOT NULL DEFAULT 0,
          UNIQUE (sender_key, mid));
        CREATE INDEX messages_waiting ON messages (recipient, delivered, seq);
        INSERT INTO messages VALUES (1, 'alice', 'alice', 'bob', 1, CAST('waiting' AS BLOB),
                                     strftime('%s','now') * 1000, 0);
        INSERT INTO messages VALUES (2, 'alice', 'alice', 'bob', 2, NULL,
                                     strftime('%s','now') * 1000, 1);
        INSERT INTO messages VALUES (3, 'carol', 'carol', '*', 7,
                                     CAST('ça va? 你好' AS BLOB), strftime('%s','now') * 1000, 0);
        PRAGMA user_version = 4;
      )sql";
      REQUIRE(sqlite3_exec(db, old, nullptr, nullptr, nullptr) == SQLITE_OK);
      sqlite3_close(db);
    }
    {
      auto store = open_or_fail(dir.str());
      const StoredMessage m = oldest(*store, "bob");
      CHECK(m.seq == 1);
      CHECK(m.text == "waiting");
      CHECK(m.box.empty());
      CHECK(count(*store, "bob") == 1);
      CHECK(load(*store).last_seq == 3);
      // The delivered message's key still refuses a second copy.
      CHECK(save(*store, message("alice", "bob", 2, "again")) == SaveResult::kDuplicate);
      const auto log = store->fetch_log(kChannelLog, 0, "bob", 10).value();
      REQUIRE(log.size() == 1);
      CHECK(log[0].text == "ça va? 你好");
    }
    CHECK(query_int(file, "SELECT count(*) FROM pragma_table_info('messages') "
                          "WHERE name = 'body'") == 0);
    CHECK(query_int(file, "SELECT count(*) FROM bodies") == 2);
    CHECK(query_int(file, "PRAGMA user_version") == 9);
    // Opened again: nothing to move, nothing lost.
    auto store = open_or_fail(dir.str());
    CHECK(oldest(*store, "bob").text == "waiting");
  }

  TEST_CASE("delivered, trimmed and deleted messages lose their body row, not their key") {
    TempDir dir;
    const auto file = dir.path() / "udpchat.db";
    {
      auto store = open_or_fail(dir.str());
      CHECK(save(*store, message("alice", "bob", 1, "one")) == SaveResult::kSaved);
      CHECK(save(*store, message("alice", "bob", 2, "two")) == SaveResult::kSaved);
      CHECK(save(*store, message("alice", "carol", 3, "three")) == SaveResult::kSaved);
      CHECK(save(*store, message("dave", kChannelLog, 4, "post")) == SaveResult::kSaved);
      REQUIRE(store->mark_delivered(oldest(*store, "bob").seq).value() == 1);
      REQUIRE(store->mark_delivered_by_key("alice", 2).value() == 1);
      CHECK(store->mark_delivered_by_key("alice", 2).value() == 0);  // already
      CHECK(store->trim_logs(load(*store).last_seq).value() == 1);
      CHECK(store->delete_client("carol").value() == 1);
      CHECK(save(*store, message("alice", "bob", 1, "one")) == SaveResult::kDuplicate);
      CHECK(save(*store, message("dave", kChannelLog, 4, "post")) == SaveResult::kDuplicate);
    }
    CHECK(query_int(file, "SELECT count(*) FROM bodies") == 0);
    CHECK(query_int(file, "SELECT count(*) FROM messages WHERE delivered = 1") == 4);
  }

  TEST_CASE("the file grows by the keys alone when bodies are delivered as fast as saved") {
    TempDir dir;
    const auto file = dir.path() / "udpchat.db";
    const std::string text(1000, 'x');
    constexpr int kRound = 2000;
    std::uint64_t mid = 0;
    auto round = [&](SqliteStore& store) {
      REQUIRE(store.begin().has_value());
      for (int i = 0; i < kRound; ++i) {
        REQUIRE(save(store, message("alice", kChannelLog, ++mid, text)) == SaveResult::kSaved);
      }
      REQUIRE(store.trim_logs(load(store).last_seq).value() == kRound);
      REQUIRE(store.commit().has_value());
      REQUIRE(store.checkpoint().has_value());
    };
    std::uintmax_t after_first = 0;
    {
      auto store = open_or_fail(dir.str());
      round(*store);
      after_first = std::filesystem::file_size(file);
      for (int r = 0; r < 4; ++r) round(*store);
    }
    // Four more rounds of 2,000 x 1,000-byte texts (8 MB of text) add
    // their keys (~100 bytes each with their indexes), not their text: a
    // body's freed pages take the next ones.
    const std::uintmax_t grown = std::filesystem::file_size(file) - after_first;
    CHECK_MESSAGE(grown < 4 * kRound * 200, "grew " << grown << " bytes");
    CHECK(after_first > static_cast<std::uintmax_t>(kRound) * 1000);  // the first round's bodies
  }

  TEST_CASE("load lists the channel and group posts not yet trimmed, oldest first") {
    TempDir dir;
    auto sqlite = open_or_fail(dir.str());
    MemoryStore memory;
    for (OfflineStore* store : {static_cast<OfflineStore*>(sqlite.get()),
                                static_cast<OfflineStore*>(&memory)}) {
      CHECK(save(*store, message("Alice", kChannelLog, 11, "first")) == SaveResult::kSaved);
      CHECK(save(*store, message("bob", "carol", 12, "direct")) == SaveResult::kSaved);
      const std::int64_t upto = load(*store).last_seq;
      CHECK(save(*store, message("Alice", group_log_key("team"), 13, "g")) == SaveResult::kSaved);
      CHECK(save(*store, message("bob", kChannelLog, 14, "second")) == SaveResult::kSaved);
      REQUIRE(store->trim_logs(upto).value() == 1);
      const auto posts = load(*store).log_posts;
      REQUIRE(posts.size() == 2);
      CHECK(posts[0].log_key == group_log_key("team"));
      CHECK(posts[0].sender_key == "alice");
      CHECK(posts[0].mid == 13);
      CHECK(posts[1].log_key == kChannelLog);
      CHECK(posts[1].sender_key == "bob");
      CHECK(posts[1].mid == 14);
      CHECK(posts[0].seq < posts[1].seq);
    }
  }

  TEST_CASE("a body that cannot be written takes its key row with it, in a transaction or not") {
    TempDir dir;
    const auto file = dir.path() / "udpchat.db";
    (void)open_or_fail(dir.str());  // the tables
    {
      // A body the file refuses, as a full disk would.
      sqlite3* db = nullptr;
      REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
      REQUIRE(sqlite3_exec(db,
                           "CREATE TRIGGER refuse_body BEFORE INSERT ON bodies "
                           "WHEN NEW.body = 'refused' BEGIN SELECT RAISE(ABORT, 'disk full'); END",
                           nullptr, nullptr, nullptr) == SQLITE_OK);
      sqlite3_close(db);
    }
    auto store = open_or_fail(dir.str());
    REQUIRE(store->begin().has_value());
    CHECK(save(*store, message("alice", "bob", 1, "before")) == SaveResult::kSaved);
    const auto refused = store->save(message("alice", "bob", 2, "refused"));
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().what.find("disk full") != std::string::npos);
    CHECK(store->in_transaction());  // the rest of the group commit goes on
    CHECK(save(*store, message("alice", "bob", 3, "after")) == SaveResult::kSaved);
    REQUIRE(store->commit().has_value());
    CHECK(count(*store, "bob") == 2);
    // Its retry is saved whole, not taken for a duplicate and lost.
    CHECK(save(*store, message("alice", "bob", 2, "retried")) == SaveResult::kSaved);
    CHECK(count(*store, "bob") == 3);
    // Outside a transaction, the same.
    CHECK_FALSE(store->save(message("alice", "bob", 4, "refused")).has_value());
    CHECK_FALSE(store->in_transaction());
    CHECK(save(*store, message("alice", "bob", 4, "again")) == SaveResult::kSaved);
    CHECK(count(*store, "bob") == 4);
  }
}
