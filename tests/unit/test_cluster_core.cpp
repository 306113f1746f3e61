// docs/CLUSTER.md: the server core's side of a cluster on its own, the
// other servers played by hand as the changes their writes make: a row of
// a client of another server is held and published here, but nothing is
// sent to that client from here (no ping, no delivery, no liveness sweep)
// and its row is never written from here; a save for a client here is
// delivered at once; a channel post made elsewhere reaches the members here
// once, also while a read of stored messages for them is in flight; a
// client of ours that moved on is let go, and a verification begun before
// does not mark it offline; a client here swept offline by another server
// is written back; a deleted account goes; a restarted server numbers the
// rows it loads anew.
#include <doctest/doctest.h>

#include "core/server/cluster_change.hpp"
#include "support/datagrams.hpp"
#include "support/doctest_print.hpp"
#include "support/store_driver.hpp"

using namespace udpchat;        // NOLINT(google-build-using-namespace): test file
using namespace udpchat::test;  // NOLINT(google-build-using-namespace): test file
using namespace std::chrono_literals;
using Kind = ClusterChange::Kind;

namespace {

const Endpoint kAlice{"127.0.0.1", 41001};
const Endpoint kBob{"127.0.0.1", 41002};
constexpr TimePoint kStart = TimePoint{} + 1h;

/// Server "a" of a cluster on a MemoryStore, its commands committed at once.
struct ServerA {
  MemoryStore store;
  ServerCore core{ServerConfig{.table_batch = Duration::zero(),
                               .server_id = "a",
                               .store_numbers = true,
                               .wall_clock_ms = [] { return std::int64_t{1700000000000}; }},
                  1};
  ServerA() { core.start(*store.load(), kStart); }
  std::vector<Outgoing> feed(const Message& m, const Endpoint& from, TimePoint t = kStart) {
    core.on_datagram(encode(m), from, t);
    drain_store(core, store, t);
    return core.take_outgoing();
  }
  std::vector<Outgoing> changes(const std::vector<ClusterChange>& cs, TimePoint t = kStart) {
    core.on_changes(cs, t);
    drain_store(core, store, t);
    return core.take_outgoing();
  }
  /// Registers `nick` at `at` and acks its first table.
  void registered(const std::string& nick, const Endpoint& at) {
    const auto out = feed(Register{1, nick, 30000}, at);
    for (const TablePart& t : of_type<TablePart>(out, at)) feed(Ack{t.id, AckStatus::kOk, 0, {}}, at);
  }
  /// Every PutClientOp issued for `nick_key` from now on, once the store ran them.
  [[nodiscard]] std::size_t client_writes_of(const std::string& nick) {
    std::size_t n = 0;
    for (const auto& c : core.take_store_commands()) {
      if (const auto* p = std::get_if<PutClientOp>(&c.op); p != nullptr && p->client.nick == nick) {
        ++n;
      }
    }
    return n;
  }
};

ClusterChange row_change(std::string nick, const Endpoint& at, bool online, std::string home) {
  ClusterChange c;
  c.pos = 100;
  c.origin = "b";
  c.kind = Kind::kClient;
  c.client = ClientRecord{nick, at, online, 30000};
  c.client.home = std::move(home);
  return c;
}

/// The change of message `m`, saved (stored for its recipient) or posted
/// (to a log) at server "b": the whole message (a saved one's reader joins
/// no body, which the core does not use).
ClusterChange message_change(Kind kind, const StoredMessage& m) {
  ClusterChange c;
  c.origin = "b";
  c.kind = kind;
  c.key = m.to_key;
  c.message = m;
  return c;
}

}  // namespace

TEST_SUITE("cluster: the server core") {
  TEST_CASE("a client of another server is held and published, never pinged nor written") {
    ServerA s;
    s.registered("alice", kAlice);
    const auto out = s.changes({row_change("bob", kBob, true, "b")});
    const auto tables = of_type<TablePart>(out, kAlice);
    REQUIRE(tables.size() == 1);
    REQUIRE(tables[0].entries.size() == 1);
    CHECK(tables[0].entries[0].nick == "bob");
    CHECK(tables[0].entries[0].online);
    CHECK(of_type<TablePart>(out, kBob).empty());  // its own server tells it
    CHECK(s.core.clients_registered() == 2);
    CHECK(s.core.clients_online() == 1);  // sessions here

    // A save for it: stored and acknowledged (its server delivers it), no
    // verification ping to bob from here.
    const auto saved = s.feed(Save{7, "alice", "bob", 1, "for bob at b"}, kAlice);
    const auto acks = of_type<Ack>(saved, kAlice);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].status == AckStatus::kSaved);
    CHECK(of_type<Ping>(saved, kBob).empty());
    CHECK(s.store.count_for("bob").value() == 1);

    // Hours without a heartbeat from bob: he is not ours to mark offline.
    s.core.on_timeout(kStart + 2h);
    CHECK(s.client_writes_of("bob") == 0);
    CHECK(of_type<Ping>(s.core.take_outgoing(), kBob).empty());
    const auto rows = s.core.table();
    CHECK(std::find_if(rows.begin(), rows.end(), [](const TableEntry& e) {
            return e.nick == "bob" && e.online;
          }) != rows.end());
  }

  TEST_CASE("a save made elsewhere for a client here is delivered at once") {
    ServerA s;
    s.registered("bob", kBob);
    StoredMessage m{0, "alice", "bob", 5, "saved at server b", 1700000000000};
    const auto saved = s.store.save(m);  // what server b committed
    REQUIRE(saved.has_value());
    ClusterChange c;
    c.origin = "b";
    c.kind = Kind::kSaved;
    c.key = "bob";
    c.message = {saved->seq, "alice", "bob", 5, {}, 0};
    const auto out = s.changes({c});
    const auto delivered = of_type<Deliver>(out, kBob);
    REQUIRE(delivered.size() == 1);
    CHECK(delivered[0].text == "saved at server b");
    CHECK(delivered[0].from == "alice");
  }

  TEST_CASE("a channel post made elsewhere reaches the members here once") {
    ServerA s;
    s.registered("bob", kBob);
    StoredMessage post{0, "carol", kChannelLog, 9, "hello all", 1700000000000};
    post.seq = s.store.save(post)->seq;
    const ClusterChange c = message_change(Kind::kPosted, post);
    auto out = s.changes({c});
    auto delivered = of_type<Deliver>(out, kBob);
    REQUIRE(delivered.size() == 1);
    CHECK(delivered[0].text == "hello all");
    CHECK(delivered[0].group == kEveryone);
    // The same change again (read twice): nothing more once acked.
    out = s.changes({c});
    CHECK(of_type<Deliver>(out, kBob).empty());
    out = s.feed(Ack{delivered[0].id, AckStatus::kOk, 0, {}}, kBob);
    CHECK(of_type<Deliver>(out, kBob).empty());
    out = s.changes({c});
    CHECK(of_type<Deliver>(out, kBob).empty());
  }

  TEST_CASE("a client of ours that registered elsewhere is let go") {
    ServerA s;
    s.registered("alice", kAlice);
    (void)s.core.take_store_commands();
    s.changes({row_change("alice", kAlice, true, "b")});
    CHECK(s.core.clients_online() == 0);
    s.core.on_timeout(kStart + 2h);  // no heartbeats here any more: not swept
    CHECK(s.client_writes_of("alice") == 0);
    CHECK(of_type<Ping>(s.core.take_outgoing(), kAlice).empty());
    // Requests from her address are not hers here any more.
    const auto out = s.feed(Heartbeat{9, "alice", 0}, kAlice);
    CHECK(of_type<Ack>(out, kAlice).empty());
    // She comes back: a registration here claims her row again.
    const auto back = s.feed(Register{10, "alice", 30000}, kAlice);
    const auto acks = of_type<Ack>(back, kAlice);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].status == AckStatus::kOk);
    CHECK(s.core.clients_online() == 1);
    CHECK(s.store.load()->clients.at(0).home == "a");
  }

  TEST_CASE("an account deleted at another server goes from the table here") {
    ServerA s;
    s.registered("alice", kAlice);
    for (const TablePart& t : of_type<TablePart>(s.changes({row_change("bob", kBob, true, "b")}),
                                                 kAlice)) {
      s.feed(Ack{t.id, AckStatus::kOk, 0, {}}, kAlice);
    }
    ClusterChange gone;
    gone.origin = "b";
    gone.kind = Kind::kClientDeleted;
    gone.key = "bob";
    const auto out = s.changes({gone});
    const auto tables = of_type<TablePart>(out, kAlice);
    REQUIRE(tables.size() == 1);
    REQUIRE(tables[0].entries.size() == 1);
    CHECK(tables[0].entries[0].removed());
    CHECK(s.core.clients_registered() == 1);
  }

  TEST_CASE("a post made elsewhere while a read of stored messages is in flight is delivered") {
    ServerA s;
    s.registered("alice", kAlice);
    // Server b saves a direct message for alice: a read of her mailbox is
    // issued (not yet run) when a channel post made at b arrives.
    StoredMessage direct{0, "bob", "alice", 5, "saved at b", 1700000000000};
    direct.seq = s.store.save(direct)->seq;
    s.core.on_changes({message_change(Kind::kSaved, direct)}, kStart);
    StoredMessage post{0, "carol", kChannelLog, 9, "hello all", 1700000000000};
    post.seq = s.store.save(post)->seq;
    s.core.on_changes({message_change(Kind::kPosted, post)}, kStart);
    drain_store(s.core, s.store, kStart);
    // Both reach her, one after the other as she acks.
    std::vector<std::string> shown;
    auto out = s.core.take_outgoing();
    for (int i = 0; i < 4; ++i) {
      const auto d = of_type<Deliver>(out, kAlice);
      if (d.empty()) break;
      shown.push_back(d[0].text);
      out = s.feed(Ack{d[0].id, AckStatus::kOk, 0, {}}, kAlice);
    }
    CHECK(shown == std::vector<std::string>{"saved at b", "hello all"});
  }

  TEST_CASE("a verification begun before a client moved does not mark it offline") {
    ServerA s;
    s.registered("alice", kAlice);
    // Restarted: alice is held online, so she is verified with a ping.
    ServerCore again{ServerConfig{.table_batch = Duration::zero(),
                                  .server_id = "a",
                                  .store_numbers = true,
                                  .wall_clock_ms = [] { return std::int64_t{1700000000000}; }},
                     2};
    again.start(*s.store.load(), kStart);
    REQUIRE(of_type<Ping>(again.take_outgoing(), kAlice).size() == 1);
    // She registered at server b meanwhile; the ping goes unanswered.
    again.on_changes({row_change("alice", kAlice, true, "b")}, kStart);
    for (auto t = kStart; t < kStart + 10s; t += 100ms) again.on_timeout(t);
    const auto rows = again.table();
    const auto alice = std::find_if(rows.begin(), rows.end(),
                                    [](const TableEntry& e) { return e.nick == "alice"; });
    REQUIRE(alice != rows.end());
    CHECK(alice->online);  // her home says so
  }

  TEST_CASE("a restarted server of a cluster numbers every row it loads anew") {
    MemoryStore store;
    ClientRecord carol{"carol", {"127.0.0.1", 41003}, false, 30000, 7};
    carol.home = "b";  // written last by server b, in b's numbering
    REQUIRE(store.put_client(carol).has_value());
    REQUIRE(store.put_table_version(18).has_value());
    ServerCore core{ServerConfig{.server_id = "a", .store_numbers = true}, 3};
    core.start(*store.load(), kStart);
    CHECK(core.table_version() == 19);
    const auto rows = core.table();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].version == 19);  // what a client holds from before gets it in one delta
  }

  TEST_CASE("a client here swept offline by another server is written online again") {
    ServerA s;
    s.registered("alice", kAlice);
    (void)s.core.take_store_commands();
    // Server b thought this one dead (it restarted late, or lost the
    // database for a while) and marked its clients offline.
    ClusterChange swept = row_change("alice", kAlice, false, "a");
    s.core.on_changes({swept}, kStart);
    CHECK(s.client_writes_of("alice") == 1);
    CHECK(s.core.clients_online() == 1);
    // The same row as held here: nothing to write.
    swept.client.online = true;
    s.core.on_changes({swept}, kStart);
    CHECK(s.client_writes_of("alice") == 0);
  }
}
