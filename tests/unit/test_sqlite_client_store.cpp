// SqliteClientStore's staging and locking (manual §4.11, docs/PERFORMANCE.md):
// a take overwrites the next slot of `staged` and is folded into `messages`
// when the ring is full; the
// idempotency key holds across both tables, across the fold, and across a
// process that ended without folding; a second opener of the same file is
// refused while the first holds it.
#include <doctest/doctest.h>

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "store/sqlite_client_store.hpp"
#include "support/doctest_print.hpp"
#include "support/temp_dir.hpp"

using namespace udpchat;
using namespace udpchat::test;

namespace {

HistoryEntry taken(std::uint64_t mid, const std::string& from = "bob") {
  return HistoryEntry{.sender_key = from + "-key",
                      .mid = mid,
                      .conversation = from,
                      .from = from,
                      .text = from + " says " + std::to_string(mid),
                      .at_ms = static_cast<std::int64_t>(mid)};
}

ClientStoreCommand take(std::uint64_t ticket, const HistoryEntry& e) {
  return {ticket, ClientStoreOp::kTake, e};
}

ClientStoreCommand mark(std::uint64_t ticket, const HistoryEntry& e, bool forget = false) {
  ClientStoreCommand c{ticket, ClientStoreOp::kMarkShown, {}};
  c.entry.sender_key = e.sender_key;
  c.entry.mid = e.mid;
  c.forget_text = forget;
  return c;
}

ClientStoreCommand history(std::uint64_t ticket, const std::string& conversation,
                           std::uint64_t limit) {
  ClientStoreCommand c{ticket, ClientStoreOp::kHistory, {}};
  c.entry.conversation = conversation;
  c.limit = limit;
  return c;
}

/// alice.db in `dir`, the directory made.
std::string store_path(const TempDir& dir) {
  std::filesystem::create_directories(dir.path());
  return (dir.path() / "alice.db").string();
}

/// Rows of `table` (a table name, maybe with a WHERE clause) in the file at
/// `path` (opened after the store closed).
int count_rows(const std::string& path, const char* table) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  const std::string sql = std::string("SELECT count(*) FROM ") + table;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(s) == SQLITE_ROW);
  const int n = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return n;
}

}  // namespace

TEST_SUITE("client store: staging and locking") {
  TEST_CASE("takes past one fold: each key fresh once, marks and history across the fold") {
    TempDir dir;
    const std::string path = store_path(dir);
    {
      auto store = SqliteClientStore::open(path);
      REQUIRE(store);
      // 600 takes one per commit (more than two folds of 256), each
      // taken again at once and 300 later: fresh only the first time.
      for (std::uint64_t i = 0; i < 600; ++i) {
        const auto done = (*store)->apply({take(2 * i, taken(i)), take(2 * i + 1, taken(i))});
        REQUIRE(done.size() == 2);
        CHECK(done[0].ok);
        CHECK(done[0].fresh);
        CHECK_FALSE(done[1].fresh);
        if (i >= 300) CHECK_FALSE((*store)->apply({take(0, taken(i - 300))})[0].fresh);
      }
      // Every one still unshown, in the order taken, folded or staged.
      const auto unshown = (*store)->unshown();
      REQUIRE(unshown.size() == 600);
      for (std::uint64_t i = 0; i < 600; ++i) CHECK(unshown[i].mid == i);
      // Marks: an old (folded) one and the newest (staged) one.
      (*store)->apply({mark(1, taken(5)), mark(2, taken(599), true)});
      const auto left = (*store)->unshown();
      CHECK(left.size() == 598);
      CHECK(left.front().mid == 0);
      CHECK(left.back().mid == 598);
      // History holds the shown ones, the forgotten text excluded.
      const auto h = (*store)->apply({history(3, "bob", 10)});
      REQUIRE(h[0].ok);
      CHECK(h[0].total == 1);
      REQUIRE(h[0].rows.size() == 1);
      CHECK(h[0].rows[0].text == "bob says 5");
      CHECK_FALSE((*store)->apply({take(4, taken(599))})[0].fresh);
    }
    // Closed cleanly: nothing left staged (the 256 slots stay, all of an
    // old generation), all 600 rows kept.
    CHECK(count_rows(path, "staged") == 256);
    CHECK(count_rows(path, "staged WHERE gen = (SELECT gen FROM staging)") == 0);
    CHECK(count_rows(path, "messages") == 600);
  }

  TEST_CASE("rows a killed process left staged: shown at the next start, never taken twice") {
    TempDir dir;
    const std::string path = store_path(dir);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // A client that takes 10 messages, shows 4 and is killed: no
      // destructor, no fold, no checkpoint.
      auto store = SqliteClientStore::open(path);
      if (!store) ::_exit(2);
      for (std::uint64_t i = 0; i < 10; ++i) (*store)->apply({take(i, taken(i, "carol"))});
      for (std::uint64_t i = 0; i < 4; ++i) (*store)->apply({mark(i, taken(i, "carol"))});
      ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    auto store = SqliteClientStore::open(path);
    REQUIRE(store);
    const auto unshown = (*store)->unshown();
    REQUIRE(unshown.size() == 6);
    CHECK(unshown.front().mid == 4);
    CHECK(unshown.back().mid == 9);
    CHECK(unshown.back().text == "carol says 9");
    for (std::uint64_t i = 0; i < 10; ++i)
      CHECK_FALSE((*store)->apply({take(i, taken(i, "carol"))})[0].fresh);
    CHECK((*store)->apply({take(10, taken(10, "carol"))})[0].fresh);
  }

  TEST_CASE("a second opener of the same store is refused as in use while the first runs") {
    TempDir dir;
    const std::string path = store_path(dir);
    auto first = SqliteClientStore::open(path);
    REQUIRE(first);
    CHECK((*first)->apply({take(1, taken(1))})[0].fresh);
    const auto second = SqliteClientStore::open(path);
    REQUIRE_FALSE(second);
    CHECK(second.error().in_use);
    CHECK(second.error().line.find(path) != std::string::npos);
    first->reset();
    // Once the first is gone, the file opens again with what it held.
    auto third = SqliteClientStore::open(path);
    REQUIRE(third);
    CHECK_FALSE((*third)->apply({take(2, taken(1))})[0].fresh);
  }

  TEST_CASE("a store written before the staging ring opens with its rows, unshown and keys") {
    TempDir dir;
    const std::string path = store_path(dir);
    {
      // The schema and rows of the previous release (shared locking, rows
      // straight into `messages`): one shown, one taken and never shown.
      sqlite3* db = nullptr;
      REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
      const char* old = R"sql(
PRAGMA journal_mode=WAL;
CREATE TABLE messages (seq INTEGER PRIMARY KEY, direction INTEGER NOT NULL,
  sender TEXT NOT NULL, mid INTEGER NOT NULL, conversation TEXT NOT NULL,
  from_nick TEXT NOT NULL, to_nick TEXT NOT NULL, grp TEXT NOT NULL, body BLOB,
  at_ms INTEGER NOT NULL, saved_at_ms INTEGER NOT NULL, verified INTEGER NOT NULL,
  shown INTEGER NOT NULL);
CREATE UNIQUE INDEX messages_key ON messages(direction, sender, mid);
CREATE INDEX messages_conversation ON messages(conversation, seq);
CREATE INDEX messages_unshown ON messages(shown) WHERE shown = 0;
INSERT INTO messages VALUES (1, 0, 'bob-key', 1, 'bob', 'bob', '', '', 'bob says 1', 1, 0, 0, 1);
INSERT INTO messages VALUES (2, 0, 'bob-key', 2, 'bob', 'bob', '', '', 'bob says 2', 2, 0, 0, 0);
)sql";
      REQUIRE(sqlite3_exec(db, old, nullptr, nullptr, nullptr) == SQLITE_OK);
      sqlite3_close(db);
    }
    auto store = SqliteClientStore::open(path);
    REQUIRE(store);
    const auto unshown = (*store)->unshown();
    REQUIRE(unshown.size() == 1);
    CHECK(unshown[0].text == "bob says 2");
    CHECK_FALSE((*store)->apply({take(1, taken(1))})[0].fresh);
    CHECK_FALSE((*store)->apply({take(2, taken(2))})[0].fresh);
    CHECK((*store)->apply({take(3, taken(3))})[0].fresh);
    (*store)->apply({mark(4, taken(2)), mark(5, taken(3))});
    CHECK((*store)->unshown().empty());
    const auto h = (*store)->apply({history(6, "bob", 10)});
    REQUIRE(h[0].rows.size() == 3);
    CHECK(h[0].rows[2].text == "bob says 3");
  }

  TEST_CASE("a file that is not a database: an error that is not 'in use'") {
    TempDir dir;
    const std::string path = store_path(dir);
    {
      std::FILE* f = std::fopen(path.c_str(), "w");
      REQUIRE(f != nullptr);
      std::fputs(std::string(8192, 'x').c_str(), f);
      std::fclose(f);
    }
    const auto store = SqliteClientStore::open(path);
    REQUIRE_FALSE(store);
    CHECK_FALSE(store.error().in_use);
    CHECK(store.error().line.find(path) != std::string::npos);
  }
}
