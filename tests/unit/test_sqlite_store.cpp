// Unit tests of the offline store: the OfflineStore contract
// (src/core/server/offline_store.hpp, manual §6.5) checked against both SqliteStore
// (src/store/sqlite_store.hpp) and MemoryStore, then what only the SQLite
// store promises: files on disk, survival across a reopen, the exclusive lock.
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
#include "support/temp_dir.hpp"

using namespace udpchat;  // NOLINT(google-build-using-namespace): test file
namespace fs = std::filesystem;
using udpchat::test::TempDir;

namespace {

constexpr std::uint64_t kMaxU64 = std::numeric_limits<std::uint64_t>::max();

std::int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::unique_ptr<SqliteStore> open_or_fail(const std::string& dir) {
  auto r = SqliteStore::open(dir);
  REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string() : r.error().what));
  return std::move(*r);
}

StoredMessage message(std::string from, std::string to_key, std::uint64_t mid, std::string text,
                      std::int64_t saved_at_ms = 1'700'000'000'000) {
  StoredMessage m;
  m.from = std::move(from);
  m.to_key = std::move(to_key);
  m.mid = mid;
  m.text = std::move(text);
  m.saved_at_ms = saved_at_ms;
  return m;
}

// Every field of a stored message but the store-assigned seq.
void check_same_message(const StoredMessage& got, const StoredMessage& want) {
  CHECK(got.from == want.from);
  CHECK(got.to_key == want.to_key);
  CHECK(got.mid == want.mid);
  CHECK(got.text == want.text);
  CHECK(got.saved_at_ms == want.saved_at_ms);
}

StoredMessage oldest(OfflineStore& s, const std::string& to_key) {
  const auto r = s.oldest_for(to_key);
  REQUIRE(r.has_value());
  REQUIRE(r->has_value());
  return **r;
}

std::size_t count(OfflineStore& s, const std::string& to_key) {
  const auto r = s.count_for(to_key);
  REQUIRE(r.has_value());
  return *r;
}

SaveResult save(OfflineStore& s, const StoredMessage& m) {
  const auto r = s.save(m);
  REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string() : r.error().what));
  return *r;
}

StoredState load(OfflineStore& s) {
  auto r = s.load();
  REQUIRE(r.has_value());
  return std::move(*r);
}

const ClientRecord* find_client(const StoredState& st, const std::string& nick) {
  for (const auto& c : st.clients) {
    if (c.nick == nick) {
      return &c;
    }
  }
  return nullptr;
}

// The two implementations of the contract, behind the same face.
struct SqliteFixture {
  TempDir dir;
  std::unique_ptr<SqliteStore> impl = open_or_fail(dir.str());
  OfflineStore& store() { return *impl; }
};

struct MemoryFixture {
  MemoryStore impl;
  OfflineStore& store() { return impl; }
};

const std::string kText = "h\u00e9llo \u4f60\u597d \U0001F600 \"quoted\" \\ end";

}  // namespace

TEST_SUITE("store: OfflineStore contract") {
  TEST_CASE_TEMPLATE("a save is idempotent by (sender nickname key, message id)", F, SqliteFixture,
                     MemoryFixture) {
    F f;
    OfflineStore& s = f.store();
    CHECK(save(s, message("alice", "bob", 1, "first")) == SaveResult::kSaved);
    CHECK(save(s, message("alice", "bob", 1, "first")) == SaveResult::kDuplicate);
    CHECK(save(s, message("ALICE", "bob", 1, "first")) == SaveResult::kDuplicate);
    CHECK(save(s, message("Alice", "carol", 1, "other text")) == SaveResult::kDuplicate);
    CHECK(count(s, "bob") == 1);
    CHECK(count(s, "carol") == 0);
    CHECK(oldest(s, "bob").text == "first");
    // Another message id, or another sender, is another message.
    CHECK(save(s, message("alice", "bob", 2, "second")) == SaveResult::kSaved);
    CHECK(save(s, message("dave", "bob", 1, "from dave")) == SaveResult::kSaved);
    CHECK(count(s, "bob") == 3);
  }

  TEST_CASE_TEMPLATE("oldest_for returns messages in save order with every field intact", F,
                     SqliteFixture, MemoryFixture) {
    F f;
    OfflineStore& s = f.store();
    const StoredMessage m1 = message("Alice", "bob", kMaxU64, kText, 1'700'000'000'123);
    const StoredMessage m2 = message("carol", "bob", 0, "", -5);
    const StoredMessage m3 = message("alice", "bob", 7, std::string(1000, '"'),
                                     std::numeric_limits<std::int64_t>::max());
    const StoredMessage other = message("alice", "dave", 8, "for dave");
    CHECK(save(s, m1) == SaveResult::kSaved);
    CHECK(save(s, other) == SaveResult::kSaved);
    CHECK(save(s, m2) == SaveResult::kSaved);
    CHECK(save(s, m3) == SaveResult::kSaved);
    CHECK(count(s, "bob") == 3);
    CHECK(count(s, "dave") == 1);
    CHECK(count(s, "nobody") == 0);
    const auto none = s.oldest_for("nobody");
    REQUIRE(none.has_value());
    CHECK_FALSE(none->has_value());

    std::int64_t last_seq = 0;
    for (const StoredMessage* want : {&m1, &m2, &m3}) {
      const StoredMessage got = oldest(s, "bob");
      CAPTURE(want->mid);
      check_same_message(got, *want);
      CHECK(got.seq > last_seq);
      last_seq = got.seq;
      REQUIRE(s.mark_delivered(got.seq).has_value());
    }
    CHECK(count(s, "bob") == 0);
    const auto empty = s.oldest_for("bob");
    REQUIRE(empty.has_value());
    CHECK_FALSE(empty->has_value());
    check_same_message(oldest(s, "dave"), other);
  }

  TEST_CASE_TEMPLATE("a delivered message stays known: saving it again is a duplicate", F,
                     SqliteFixture, MemoryFixture) {
    F f;
    OfflineStore& s = f.store();
    CHECK(save(s, message("alice", "bob", 5, "once", wall_clock_ms())) == SaveResult::kSaved);
    CHECK(save(s, message("alice", "bob", 6, "next", wall_clock_ms())) == SaveResult::kSaved);
    const StoredMessage first = oldest(s, "bob");
    REQUIRE(first.mid == 5);
    REQUIRE(s.mark_delivered(first.seq).has_value());
    CHECK(count(s, "bob") == 1);
    CHECK(oldest(s, "bob").mid == 6);
    // A late retransmission of the delivered message.
    CHECK(save(s, message("alice", "bob", 5, "once", wall_clock_ms())) == SaveResult::kDuplicate);
    CHECK(save(s, message("ALICE", "bob", 5, "once", wall_clock_ms())) == SaveResult::kDuplicate);
    CHECK(count(s, "bob") == 1);
    CHECK(oldest(s, "bob").mid == 6);
  }

  TEST_CASE_TEMPLATE("mark_delivered_by_key delivers exactly the message with that key", F,
                     SqliteFixture, MemoryFixture) {
    F f;
    OfflineStore& s = f.store();
    const std::int64_t now_ms = wall_clock_ms();
    CHECK(save(s, message("Alice", "bob", 5, "from alice", now_ms)) == SaveResult::kSaved);
    CHECK(save(s, message("carol", "bob", 5, "from carol", now_ms)) == SaveResult::kSaved);
    CHECK(save(s, message("alice", "bob", 6, "alice again", now_ms)) == SaveResult::kSaved);
    // The key is the sender's nickname key (lower case), whatever case it was saved with.
    REQUIRE(s.mark_delivered_by_key("alice", 5).has_value());
    CHECK(count(s, "bob") == 2);
    CHECK(oldest(s, "bob").text == "from carol");
    // It stays known as a duplicate.
    CHECK(save(s, message("alice", "bob", 5, "from alice", now_ms)) == SaveResult::kDuplicate);
    // Delivering it again, or a key that was never saved, is not an error and changes nothing.
    CHECK(s.mark_delivered_by_key("alice", 5).has_value());
    CHECK(s.mark_delivered_by_key("nobody", 5).has_value());
    CHECK(s.mark_delivered_by_key("alice", 7).has_value());
    CHECK(count(s, "bob") == 2);
    REQUIRE(s.mark_delivered_by_key("carol", 5).has_value());
    CHECK(oldest(s, "bob").text == "alice again");
    CHECK(count(s, "bob") == 1);
  }

  TEST_CASE_TEMPLATE("put_client inserts or replaces by nickname key, and load returns it", F,
                     SqliteFixture, MemoryFixture) {
    F f;
    OfflineStore& s = f.store();
    const StoredState empty = load(s);
    CHECK(empty.clients.empty());
    CHECK(empty.table_version == 0);

    REQUIRE(s.put_client({"alice", {"127.0.0.1", 40000}, true, 30000}).has_value());
    REQUIRE(s.put_client({"Bob",
                          {"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 65535},
                          false,
                          std::numeric_limits<std::uint32_t>::max()})
                .has_value());
    REQUIRE(s.put_client({"ALICE", {"10.0.0.9", 1024}, false, 5000}).has_value());
    REQUIRE(s.put_table_version(kMaxU64 - 1).has_value());

    const StoredState st = load(s);
    CHECK(st.clients.size() == 2);
    CHECK(find_client(st, "alice") == nullptr);
    const ClientRecord* alice = find_client(st, "ALICE");
    REQUIRE(alice != nullptr);
    CHECK(alice->endpoint == Endpoint{"10.0.0.9", 1024});
    CHECK_FALSE(alice->online);
    CHECK(alice->heartbeat_ms == 5000);
    const ClientRecord* bob = find_client(st, "Bob");
    REQUIRE(bob != nullptr);
    CHECK(bob->endpoint == Endpoint{"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 65535});
    CHECK_FALSE(bob->online);
    CHECK(bob->heartbeat_ms == std::numeric_limits<std::uint32_t>::max());
    CHECK(st.table_version == kMaxU64 - 1);

    REQUIRE(s.put_table_version(3).has_value());
    CHECK(load(s).table_version == 3);
  }
}

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
