// The OfflineStore contract (src/core/server/offline_store.hpp, manual
// §6.5) checked on every store behind the same face: SqliteStore,
// PgStore (on the test's own PostgreSQL, tests/support/pg_server.hpp) and
// MemoryStore.
#include <doctest/doctest.h>

#include <limits>
#include <memory>
#include <string>

#include "core/server/offline_store.hpp"
#include "store/pg_store.hpp"
#include "store/sqlite_store.hpp"
#include "support/pg_server.hpp"
#include "support/store_checks.hpp"
#include "support/temp_dir.hpp"

using namespace udpchat;        // NOLINT(google-build-using-namespace): test file
using namespace udpchat::test;  // NOLINT(google-build-using-namespace): test file

namespace {

struct SqliteFixture {
  TempDir dir;
  std::unique_ptr<SqliteStore> impl = open_sqlite(dir.str());
  OfflineStore& store() { return *impl; }
  static std::unique_ptr<SqliteStore> open_sqlite(const std::string& d) {
    auto r = SqliteStore::open(d);
    REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string() : r.error().what));
    return std::move(*r);
  }
};

struct PgFixture {
  std::unique_ptr<PgStore> impl = open_pg(fresh_pg_database());
  OfflineStore& store() { return *impl; }
  static std::unique_ptr<PgStore> open_pg(const std::string& conninfo) {
    auto r = PgStore::open(conninfo, "test");
    REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string() : r.error().what));
    return std::move(*r);
  }
};

struct MemoryFixture {
  MemoryStore impl;
  OfflineStore& store() { return impl; }
};

}  // namespace

TEST_SUITE("store: OfflineStore contract") {
  TEST_CASE_TEMPLATE("a save is idempotent by (sender nickname key, message id)", F, SqliteFixture,
                     PgFixture, MemoryFixture) {
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

  TEST_CASE_TEMPLATE("a save's outcome names the seq it is stored under, given or the store's", F,
                     SqliteFixture, PgFixture, MemoryFixture) {
    F f;
    OfflineStore& s = f.store();
    StoredMessage given = message("alice", "bob", 1, "given");
    given.seq = 40;
    const auto first = s.save(given);
    REQUIRE(first.has_value());
    CHECK(first->result == SaveResult::kSaved);
    CHECK(first->seq == 40);
    const auto own = s.save(message("alice", "bob", 2, "numbered by the store"));
    REQUIRE(own.has_value());
    CHECK(own->seq > 40);
    CHECK(oldest(s, "bob").seq == 40);
    CHECK(s.fetch_for("bob", 40, 10).value().at(0).seq == own->seq);
    const auto again = s.save(given);
    REQUIRE(again.has_value());
    CHECK(again->result == SaveResult::kDuplicate);
  }

  TEST_CASE_TEMPLATE("oldest_for returns messages in save order with every field intact", F,
                     SqliteFixture, PgFixture, MemoryFixture) {
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
                     SqliteFixture, PgFixture, MemoryFixture) {
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
                     SqliteFixture, PgFixture, MemoryFixture) {
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
                     SqliteFixture, PgFixture, MemoryFixture) {
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
