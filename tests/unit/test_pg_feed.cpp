// The change table of the PostgreSQL store (docs/CLUSTER.md), on the test's
// own PostgreSQL: what one server's writes tell another (kinds, payloads,
// never its own), rows of a client that moved on kept from its stale home,
// and the one order: while two servers commit concurrently, a third reader
// never sees a message numbered below one it already read.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/server/cluster_change.hpp"
#include "store/pg_listener.hpp"
#include "store/pg_store.hpp"
#include "support/pg_server.hpp"
#include "support/store_checks.hpp"

using namespace udpchat;        // NOLINT(google-build-using-namespace): test file
using namespace udpchat::test;  // NOLINT(google-build-using-namespace): test file
using Kind = ClusterChange::Kind;

namespace {

std::unique_ptr<PgStore> open_as(const std::string& conninfo, std::string origin) {
  auto r = PgStore::open(conninfo, std::move(origin));
  REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string() : r.error().what));
  return std::move(*r);
}

std::vector<ClusterChange> poll(PgStore& s) {
  REQUIRE(s.poll_changes().has_value());
  return s.take_changes();
}

ClientRecord client(std::string nick, std::string home, bool claim = false) {
  ClientRecord c{std::move(nick), {"127.0.0.1", 7000}, true, 1000};
  c.home = std::move(home);
  c.claim = claim;
  return c;
}

}  // namespace

TEST_SUITE("store: PgStore change table") {
  TEST_CASE("one server's writes reach another as changes, in order, never its own") {
    const std::string conninfo = fresh_pg_database();
    auto a = open_as(conninfo, "a");
    auto b = open_as(conninfo, "b");
    REQUIRE(a->load().has_value());
    REQUIRE(b->load().has_value());
    REQUIRE(a->begin().has_value());
    REQUIRE(a->put_client(client("Alice", "a", true)).has_value());
    StoredMessage direct = message("alice", "bob", 1, "for bob");
    direct.box = "sealed";
    direct.text.clear();
    const auto saved = a->save(direct);
    REQUIRE(saved.has_value());
    const auto posted = a->save(message("alice", kChannelLog, 2, "to everyone"));
    REQUIRE(posted.has_value());
    const auto member = a->put_member("team", "Team", {"alice", 7});
    REQUIRE_MESSAGE(member.has_value(), (member ? std::string() : member.error().what));
    REQUIRE(a->commit().has_value());
    CHECK(a->take_changes().empty());
    CHECK(poll(*a).empty());  // its own are not news to it

    const auto got = poll(*b);
    REQUIRE(got.size() == 4);
    for (std::size_t i = 1; i < got.size(); ++i) CHECK(got[i].pos > got[i - 1].pos);
    CHECK(got[0].kind == Kind::kClient);
    CHECK(got[0].origin == "a");
    CHECK(got[0].client.nick == "Alice");
    CHECK(got[0].client.home == "a");
    CHECK(got[0].client.online);
    CHECK(got[1].kind == Kind::kSaved);
    CHECK(got[1].key == "bob");
    CHECK(got[1].message.seq == saved->seq);
    CHECK(got[1].message.from == "alice");
    CHECK(got[2].kind == Kind::kPosted);
    CHECK(got[2].message.seq == posted->seq);
    CHECK(got[2].message.text == "to everyone");
    CHECK(got[2].message.to_key == kChannelLog);
    CHECK(got[3].kind == Kind::kMember);
    CHECK(got[3].key == "team");
    CHECK(got[3].group_name == "Team");
    CHECK(got[3].member.nick_key == "alice");
    CHECK(got[3].member.joined_seq == 7);

    // Deliveries, leaving, deleting an account.
    REQUIRE(a->mark_delivered(saved->seq).value() == 1);
    REQUIRE(a->remove_member("team", "alice").has_value());
    REQUIRE(a->delete_client("alice").has_value());
    const auto more = poll(*b);
    REQUIRE(more.size() == 3);
    CHECK(more[0].kind == Kind::kDelivered);
    CHECK(more[0].key == "bob");
    CHECK(more[0].message.seq == saved->seq);
    CHECK(more[1].kind == Kind::kMemberLeft);
    CHECK(more[1].member.nick_key == "alice");
    CHECK(more[2].kind == Kind::kClientDeleted);
    CHECK(more[2].key == "alice");
    CHECK(poll(*b).empty());
  }

  TEST_CASE("a load starts the feed after what it read") {
    const std::string conninfo = fresh_pg_database();
    auto a = open_as(conninfo, "a");
    REQUIRE(a->put_client(client("alice", "a", true)).has_value());
    auto b = open_as(conninfo, "b");
    const StoredState st = b->load().value();
    REQUIRE(st.clients.size() == 1);
    CHECK(st.clients[0].home == "a");
    CHECK(poll(*b).empty());  // alice came with the load
    REQUIRE(a->put_client(client("carol", "a", true)).has_value());
    CHECK(poll(*b).size() == 1);
  }

  TEST_CASE("a client that moved on: its stale home's writes change nothing") {
    const std::string conninfo = fresh_pg_database();
    auto a = open_as(conninfo, "a");
    auto b = open_as(conninfo, "b");
    REQUIRE(a->load().has_value());
    REQUIRE(a->put_client(client("alice", "a", true)).has_value());
    // b does not claim it: nothing changes.
    REQUIRE(b->put_client(client("alice", "b")).has_value());
    CHECK(load(*a).clients.at(0).home == "a");
    // A registration at b claims it.
    REQUIRE(b->put_client(client("alice", "b", true)).has_value());
    CHECK(load(*a).clients.at(0).home == "b");
    // a, not knowing yet, marks it offline: stale, ignored, and no change told.
    ClientRecord stale = client("alice", "a");
    stale.online = false;
    REQUIRE(a->put_client(stale).has_value());
    const StoredState st = load(*a);
    CHECK(st.clients.at(0).home == "b");
    CHECK(st.clients.at(0).online);
    CHECK(poll(*a).empty());
    // A row without a home (written before homes were) is anyone's.
    REQUIRE(a->put_client(client("erin", "")).has_value());
    REQUIRE(b->put_client(client("erin", "b")).has_value());
    CHECK(load(*a).clients.at(1).home == "b");
  }

  TEST_CASE("two servers committing at once: a reader sees every message once, in seq order") {
    const std::string conninfo = fresh_pg_database();
    auto reader = open_as(conninfo, "reader");
    REQUIRE(reader->load().has_value());
    constexpr int kPerWriter = 150;
    std::atomic<int> writers_left{2};
    std::vector<std::string> failure_a, failure_b;
    const auto write = [&](std::string origin, std::vector<std::string>& failed) {
      auto s = PgStore::open(conninfo, origin);
      if (!s) {
        failed.push_back(s.error().what);
      } else {
        for (int i = 1; i <= kPerWriter; ++i) {
          // Small transactions, some of two posts, so commits interleave.
          std::expected<void, StoreError> r = (*s)->begin();
          for (int j = 0; r && j < 1 + i % 2; ++j) {
            const auto saved = (*s)->save(
                message(origin, kChannelLog, static_cast<std::uint64_t>(i * 10 + j), "m"));
            if (!saved) r = std::unexpected(saved.error());
          }
          if (r) r = (*s)->commit();
          if (!r) failed.push_back("transaction " + std::to_string(i) + ": " + r.error().what);
        }
      }
      --writers_left;
    };
    std::thread ta(write, "a", std::ref(failure_a));
    std::thread tb(write, "b", std::ref(failure_b));
    std::vector<std::int64_t> seen;
    std::vector<std::string> read_errors;
    while (true) {
      const bool last = writers_left.load() == 0;
      if (!reader->poll_changes()) read_errors.push_back("poll failed");
      for (const ClusterChange& c : reader->take_changes()) {
        if (c.kind == Kind::kPosted) seen.push_back(c.message.seq);
      }
      if (last) break;
    }
    ta.join();
    tb.join();
    CHECK_MESSAGE(failure_a.empty(), (failure_a.empty() ? std::string() : failure_a[0]));
    CHECK_MESSAGE(failure_b.empty(), (failure_b.empty() ? std::string() : failure_b[0]));
    CHECK(read_errors.empty());
    const std::size_t expected = 2 * (kPerWriter + kPerWriter / 2);
    CHECK(seen.size() == expected);
    std::size_t out_of_order = 0;
    for (std::size_t i = 1; i < seen.size(); ++i) {
      if (seen[i] <= seen[i - 1]) ++out_of_order;
    }
    CHECK(out_of_order == 0);
    CHECK(std::set<std::int64_t>(seen.begin(), seen.end()).size() == seen.size());
  }

  TEST_CASE("a listener is woken by another server's commit, and a reopen finds it listening") {
    const std::string conninfo = fresh_pg_database();
    auto writer = open_as(conninfo, "a");
    std::mutex mu;
    std::condition_variable cv;
    int calls = 0;
    PgListener listener(conninfo, [&] {
      const std::lock_guard lock(mu);
      ++calls;
      cv.notify_all();
    });
    const auto wait_for_notification = [&](std::uint64_t n) {
      std::unique_lock lock(mu);
      return cv.wait_for(lock, std::chrono::seconds(10), [&] { return listener.notified() >= n; });
    };
    {
      std::unique_lock lock(mu);  // listening (it calls once when it starts to)
      REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return calls >= 1; }));
    }
    REQUIRE(writer->begin().has_value());
    REQUIRE(writer->save(message("alice", "bob", 1, "wake up")).has_value());
    REQUIRE(writer->commit().has_value());
    CHECK(wait_for_notification(1));
    REQUIRE(writer->begin().has_value());
    REQUIRE(writer->save(message("alice", "bob", 2, "again")).has_value());
    REQUIRE(writer->commit().has_value());
    CHECK(wait_for_notification(2));
  }

  TEST_CASE("a server silent too long: another marks its clients offline and tells everyone") {
    const std::string conninfo = fresh_pg_database();
    const std::string db = conninfo.substr(conninfo.find("dbname=") + 7);
    auto a = open_as(conninfo, "a");
    auto b = open_as(conninfo, "b");
    auto c = open_as(conninfo, "c");
    for (auto* s : {a.get(), b.get(), c.get()}) REQUIRE(s->load().has_value());
    REQUIRE(a->put_client(client("alice", "a", true)).has_value());
    REQUIRE(a->poll_changes().has_value());  // alive
    CHECK(poll(*b).size() == 1);
    CHECK(poll(*c).size() == 1);
    // Alive a second ago: nothing happens.
    CHECK(poll(*b).empty());
    // Silent for an hour: dead.
    REQUIRE(
        pg_admin("UPDATE servers SET last_seen = now() - interval '1 hour' WHERE id = 'a'", db));
    auto sweeper = open_as(conninfo, "b");  // a fresh store sweeps at its first poll
    REQUIRE(sweeper->load().has_value());
    const auto swept = poll(*sweeper);
    REQUIRE(swept.size() == 1);
    CHECK(swept[0].kind == Kind::kClient);
    CHECK(swept[0].client.nick == "alice");
    CHECK_FALSE(swept[0].client.online);
    CHECK(swept[0].client.home == "a");
    const auto told = poll(*c);
    REQUIRE(told.size() == 1);
    CHECK_FALSE(told[0].client.online);
    CHECK_FALSE(load(*c).clients.at(0).online);
    CHECK(poll(*sweeper).empty());  // done once
  }

  TEST_CASE("the change table is trimmed below what every live server read") {
    const std::string conninfo = fresh_pg_database();
    const std::string db = conninfo.substr(conninfo.find("dbname=") + 7);
    // A condition on the database, checked by PostgreSQL itself.
    const auto holds = [&db](const std::string& condition) {
      return pg_admin("DO $$BEGIN IF NOT (" + condition + ") THEN RAISE EXCEPTION 'no'; END IF; END$$",
                      db);
    };
    auto a = open_as(conninfo, "a");
    auto b = open_as(conninfo, "b");
    a->set_retention({.every = std::chrono::seconds(0), .min_age = std::chrono::seconds(0),
                      .forget_after = std::chrono::seconds(3600)});
    for (auto* s : {a.get(), b.get()}) REQUIRE(s->load().has_value());
    for (int i = 0; i < 5; ++i) {
      REQUIRE(a->put_client(client("n" + std::to_string(i), "a", true)).has_value());
    }
    CHECK(poll(*b).size() == 5);  // read, and b's mark says so
    CHECK(poll(*a).empty());      // a's mark, then its trim
    CHECK(holds("(SELECT count(*) FROM changes) = 0"));

    // A server that has not read them holds them back.
    auto c = open_as(conninfo, "c");
    REQUIRE(c->load().has_value());
    c->set_retention({.mark_every = std::chrono::milliseconds(0)});  // marks at every poll
    CHECK(poll(*c).empty());  // marked at the end as it is now
    for (int i = 0; i < 3; ++i) {
      REQUIRE(a->put_client(client("m" + std::to_string(i), "a", true)).has_value());
    }
    CHECK(poll(*b).size() == 3);
    REQUIRE(pg_admin("UPDATE servers SET applied = (SELECT max(pos) FROM changes) "
                     "WHERE id IN ('a', 'b')",
                     db));  // their marks, a second early
    CHECK(poll(*a).empty());
    CHECK(holds("(SELECT count(*) FROM changes) = 3"));

    // c not seen for two hours: no longer waited for; the changes go, and c,
    // alive but cut off all that time, finds it cannot catch up.
    REQUIRE(pg_admin("UPDATE servers SET last_seen = now() - interval '2 hours' WHERE id = 'c'",
                     db));
    CHECK(poll(*a).empty());
    CHECK(holds("(SELECT count(*) FROM changes) = 0"));
    const auto behind = c->poll_changes();
    REQUIRE_FALSE(behind.has_value());
    CHECK(behind.error().what.find("fell behind the cluster's change table") != std::string::npos);
    CHECK(behind.error().told() == "database error");
    const auto write = c->begin();  // every write now says so, without holding the order lock
    REQUIRE_FALSE(write.has_value());
    CHECK(write.error().what.find("restart it") != std::string::npos);
    REQUIRE(a->begin().has_value());
    REQUIRE(a->put_client(client("after", "a", true)).has_value());
    REQUIRE(a->commit().has_value());
    CHECK(poll(*b).size() == 1);
  }
}
