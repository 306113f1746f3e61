// Unit tests of what only the SQLite store (src/store/sqlite_store.hpp)
// promises: files on disk, survival across a reopen, the exclusive lock;
// and of MemoryStore's injected failures. The OfflineStore contract itself
// is test_store_contract.cpp's, on every store.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/server/offline_store.hpp"
#include "store/sqlite_store.hpp"
#include "support/store_checks.hpp"
#include "support/temp_dir.hpp"

using namespace udpchat;  // NOLINT(google-build-using-namespace): test file
namespace fs = std::filesystem;
using namespace udpchat::test;  // NOLINT(google-build-using-namespace): test file

namespace {

std::unique_ptr<SqliteStore> open_or_fail(const std::string& dir) {
  auto r = SqliteStore::open(dir);
  REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string() : r.error().what));
  return std::move(*r);
}

}  // namespace

TEST_SUITE("store: SqliteStore") {
  TEST_CASE("open creates the data directory and the database file") {
    TempDir dir;
    const fs::path data = dir.path() / "nested" / "data";
    {
      auto store = open_or_fail(data.string());
      CHECK(fs::is_directory(data));
      CHECK(fs::is_regular_file(data / "udpchat.db"));
      CHECK(fs::path(store->path()) == data / "udpchat.db");
    }
    // Opening an existing directory works too.
    auto again = open_or_fail(data.string());
    CHECK(count(*again, "bob") == 0);
  }

  TEST_CASE("clients, table version and undelivered messages survive a reopen") {
    TempDir dir;
    const std::int64_t now_ms = wall_clock_ms();
    const StoredMessage waiting1 = message("Alice", "bob", kMaxU64, kText, now_ms);
    const StoredMessage waiting2 = message("carol", "bob", 2, "old but undelivered", 0);
    std::int64_t last_seq = 0;
    {
      auto store = open_or_fail(dir.str());
      REQUIRE(store->put_client({"Alice", {"127.0.0.1", 40000}, true, 30000}).has_value());
      REQUIRE(store->put_client({"bob", {"::1", 40001}, false, 15000}).has_value());
      REQUIRE(store->put_table_version(12).has_value());
      CHECK(save(*store, message("alice", "bob", 1, "delivered", now_ms)) == SaveResult::kSaved);
      CHECK(save(*store, waiting1) == SaveResult::kSaved);
      CHECK(save(*store, waiting2) == SaveResult::kSaved);
      const StoredMessage first = oldest(*store, "bob");
      REQUIRE(first.mid == 1);
      REQUIRE(store->mark_delivered(first.seq).has_value());
      last_seq = first.seq;
    }  // closed without a checkpoint, like a killed server

    auto store = open_or_fail(dir.str());
    const StoredState st = load(*store);
    CHECK(st.table_version == 12);
    REQUIRE(st.clients.size() == 2);
    const ClientRecord* alice = find_client(st, "Alice");
    REQUIRE(alice != nullptr);
    CHECK(alice->endpoint == Endpoint{"127.0.0.1", 40000});
    CHECK(alice->online);
    CHECK(alice->heartbeat_ms == 30000);
    const ClientRecord* bob = find_client(st, "bob");
    REQUIRE(bob != nullptr);
    CHECK(bob->endpoint == Endpoint{"::1", 40001});
    CHECK_FALSE(bob->online);
    CHECK(bob->heartbeat_ms == 15000);

    CHECK(count(*store, "bob") == 2);
    const StoredMessage got1 = oldest(*store, "bob");
    check_same_message(got1, waiting1);
    CHECK(got1.seq > last_seq);
    REQUIRE(store->mark_delivered(got1.seq).has_value());
    const StoredMessage got2 = oldest(*store, "bob");
    check_same_message(got2, waiting2);
    CHECK(got2.seq > got1.seq);

    // The recent tombstone survived too; and new saves keep counting up.
    CHECK(save(*store, message("alice", "bob", 1, "delivered", now_ms)) == SaveResult::kDuplicate);
    CHECK(save(*store, message("alice", "bob", 3, "new", now_ms)) == SaveResult::kSaved);
    REQUIRE(store->mark_delivered(got2.seq).has_value());
    CHECK(oldest(*store, "bob").seq > got2.seq);
  }

  TEST_CASE("a client's last-seen time and the point the logs were trimmed to survive a reopen") {
    TempDir dir;
    ClientRecord bob{"bob", {"::1", 40001}, false, 15000};
    bob.last_seen_ms = 1'700'000'123'456;
    {
      auto store = open_or_fail(dir.str());
      REQUIRE(store->put_client(bob).has_value());
      REQUIRE(store->trim_logs(41).has_value());
    }
    auto store = open_or_fail(dir.str());
    const StoredState st = load(*store);
    const ClientRecord* got = find_client(st, "bob");
    REQUIRE(got != nullptr);
    CHECK(got->last_seen_ms == 1'700'000'123'456);
    CHECK(st.log_trimmed_upto == 41);
  }

  TEST_CASE("purge_keys deletes old keys of messages gone, oldest first, a chunk at a time") {
    TempDir dir;
    auto store = open_or_fail(dir.str());
    const std::int64_t now_ms = wall_clock_ms();
    const std::int64_t old_ms = now_ms - 8 * 24LL * 3600 * 1000;
    for (std::uint64_t mid = 1; mid <= 3; ++mid) {
      CHECK(save(*store, message("alice", "bob", mid, "old", old_ms)) == SaveResult::kSaved);
      REQUIRE(store->mark_delivered(oldest(*store, "bob").seq).has_value());
    }
    CHECK(save(*store, message("alice", "bob", 4, "old, waiting", old_ms)) == SaveResult::kSaved);
    CHECK(save(*store, message("alice", "bob", 5, "recent", now_ms)) == SaveResult::kSaved);
    REQUIRE(store->mark_delivered_by_key("alice", 5).has_value());
    const std::int64_t before = now_ms - 7 * 24LL * 3600 * 1000;
    CHECK(store->purge_keys(before, 2).value() == 2);  // a chunk: 1 and 2
    CHECK(save(*store, message("alice", "bob", 3, "old", old_ms)) == SaveResult::kDuplicate);
    CHECK(store->purge_keys(before, 10).value() == 1);  // 3; not 4 (waiting) nor 5 (recent)
    CHECK(store->purge_keys(before, 10).value() == 0);
    for (std::uint64_t mid = 1; mid <= 3; ++mid) {
      CHECK(save(*store, message("alice", "bob", mid, "again", now_ms)) == SaveResult::kSaved);
    }
    CHECK(save(*store, message("alice", "bob", 4, "x", now_ms)) == SaveResult::kDuplicate);
    CHECK(save(*store, message("alice", "bob", 5, "x", now_ms)) == SaveResult::kDuplicate);
  }

  TEST_CASE("a checkpoint keeps everything readable after a reopen") {
    TempDir dir;
    {
      auto store = open_or_fail(dir.str());
      CHECK(save(*store, message("alice", "bob", 1, kText)) == SaveResult::kSaved);
      REQUIRE(store->put_table_version(4).has_value());
      const auto r = store->checkpoint();
      CHECK_MESSAGE(r.has_value(), (r.has_value() ? std::string() : r.error().what));
    }
    auto store = open_or_fail(dir.str());
    CHECK(load(*store).table_version == 4);
    check_same_message(oldest(*store, "bob"), message("alice", "bob", 1, kText));
  }

  TEST_CASE("tombstones older than kTombstoneDays are purged at open") {
    TempDir dir;
    const std::int64_t old_ms =
        wall_clock_ms() - (SqliteStore::kTombstoneDays + 1) * 24LL * 3600 * 1000;
    {
      auto store = open_or_fail(dir.str());
      CHECK(save(*store, message("alice", "bob", 1, "x", old_ms)) == SaveResult::kSaved);
      REQUIRE(store->mark_delivered(oldest(*store, "bob").seq).has_value());
      CHECK(save(*store, message("alice", "bob", 1, "x", old_ms)) == SaveResult::kDuplicate);
    }
    auto store = open_or_fail(dir.str());
    CHECK(save(*store, message("alice", "bob", 1, "x", old_ms)) == SaveResult::kSaved);
  }

  TEST_CASE("a second server on the same data directory is refused while the first runs") {
    TempDir dir;
    {
      auto first = open_or_fail(dir.str());
      CHECK(save(*first, message("alice", "bob", 1, "x")) == SaveResult::kSaved);
      const auto second = SqliteStore::open(dir.str());
      REQUIRE_FALSE(second.has_value());
      CAPTURE(second.error().what);
      CHECK(second.error().what.find("another server") != std::string::npos);
      // The first keeps working.
      CHECK(save(*first, message("alice", "bob", 2, "y")) == SaveResult::kSaved);
      CHECK(count(*first, "bob") == 2);
    }
    // Once the first is gone, the directory can be opened again.
    auto third = open_or_fail(dir.str());
    CHECK(count(*third, "bob") == 2);
  }

  TEST_CASE("a data directory under a regular file is refused with a clear error") {
    TempDir dir;
    fs::create_directories(dir.path());
    const fs::path file = dir.path() / "not-a-directory";
    std::ofstream(file) << "x";
    const std::string data = (file / "data").string();
    const auto r = SqliteStore::open(data);
    REQUIRE_FALSE(r.has_value());
    CAPTURE(r.error().what);
    CHECK(r.error().what.find(data) != std::string::npos);
    CHECK_FALSE(fs::exists(file / "data"));
  }

  TEST_CASE("a file that is not a database is refused") {
    TempDir dir;
    fs::create_directories(dir.path());
    {
      std::ofstream db(dir.path() / "udpchat.db", std::ios::binary);
      db << std::string(4096, 'z');
    }
    const auto r = SqliteStore::open(dir.str());
    REQUIRE_FALSE(r.has_value());
    CAPTURE(r.error().what);
    CHECK_FALSE(r.error().what.empty());
  }
}

TEST_SUITE("store: MemoryStore") {
  TEST_CASE("with fail_writes every write fails while reads keep working") {
    MemoryStore s;
    CHECK(save(s, message("alice", "bob", 1, "kept")) == SaveResult::kSaved);
    REQUIRE(s.put_client({"alice", {"127.0.0.1", 40000}, true, 30000}).has_value());
    REQUIRE(s.put_table_version(9).has_value());
    const std::int64_t seq = oldest(s, "bob").seq;

    s.fail_writes = true;
    const auto saved = s.save(message("alice", "bob", 2, "lost"));
    REQUIRE_FALSE(saved.has_value());
    CHECK_FALSE(saved.error().what.empty());
    const auto delivered = s.mark_delivered(seq);
    REQUIRE_FALSE(delivered.has_value());
    CHECK_FALSE(delivered.error().what.empty());
    const auto delivered_by_key = s.mark_delivered_by_key("alice", 1);
    REQUIRE_FALSE(delivered_by_key.has_value());
    CHECK_FALSE(delivered_by_key.error().what.empty());
    const auto client = s.put_client({"bob", {"127.0.0.1", 40001}, true, 30000});
    REQUIRE_FALSE(client.has_value());
    CHECK_FALSE(client.error().what.empty());
    const auto version = s.put_table_version(10);
    REQUIRE_FALSE(version.has_value());
    CHECK_FALSE(version.error().what.empty());

    // Nothing changed, and everything can still be read.
    CHECK(count(s, "bob") == 1);
    CHECK(oldest(s, "bob").text == "kept");
    const StoredState st = load(s);
    CHECK(st.clients.size() == 1);
    CHECK(st.table_version == 9);

    // When the disk has room again, the failed writes can be retried.
    s.fail_writes = false;
    CHECK(save(s, message("alice", "bob", 2, "retried")) == SaveResult::kSaved);
    CHECK(count(s, "bob") == 2);
  }
}
