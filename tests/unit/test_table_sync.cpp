// Table sync by versioned deltas and interest (manual §6.9): what the server
// sends (deltas of changed rows, batched, snapshots for clients holding
// nothing), what a client does with updates that are lost, duplicated,
// reordered or from a version it never had, a server restart in the
// middle, and beyond --full-table-limit: interest, lookups and `list <prefix>`.
#include <doctest/doctest.h>

#include <set>

#include "protocol/text.hpp"
#include "support/datagrams.hpp"
#include "support/doctest_print.hpp"
#include "support/world.hpp"

using namespace udpchat;
using namespace udpchat::test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t A = 6001, B = 6002, C = 6003, D = 6004;
const Endpoint kServer{"127.0.0.1", 9000};
const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);
const std::string kTable = ">>> [Client table updated.]";

/// Table updates the server sent to `port` since the log was cleared.
std::vector<TablePart> tables_to(World& w, std::uint16_t port) {
  std::vector<TablePart> v;
  for (const auto& [to, bytes] : w.sent_log) {
    if (to.port != port) continue;
    if (auto m = decode(bytes); m && std::holds_alternative<TablePart>(*m)) {
      v.push_back(std::get<TablePart>(*m));
    }
  }
  return v;
}

void start(World& w, const std::vector<std::pair<std::string, std::uint16_t>>& clients,
           Duration heartbeat = 30s) {
  for (const auto& [nick, port] : clients) w.start_client(nick, port, heartbeat);
  REQUIRE(w.run_until([&] {
    for (const auto& [nick, port] : clients) {
      if (!w.session(port).registered()) return false;
    }
    return true;
  }));
  w.run_for(200ms);
}

/// A registered client with the server played by hand.
struct Alone {
  ClientSession s{ClientConfig{.nick = "alice", .server = kServer}, 1000};
  Alone() {
    s.start(kT0);
    const auto reg = decode(s.take_outgoing().at(0).bytes);
    s.on_datagram(encode(Ack{std::get<Register>(*reg).id, AckStatus::kOk, 0, {}}), kServer, kT0);
    feed(TablePart{1, 5, 0, 1, {{"alice", "127.0.0.1", 6001, true, 5}}, 0, 1});
    s.take_lines();
  }
  void feed(const TablePart& t) {
    s.on_datagram(encode(t), kServer, kT0);
    s.take_outgoing();
  }
  std::optional<TableEntry> row(const std::string& nick) const {
    for (const auto& e : s.table()) {
      if (e.nick == nick) return e;
    }
    return std::nullopt;
  }
};

}  // namespace

TEST_SUITE("table sync") {
  TEST_CASE("a change goes out as a delta of the changed rows only") {
    World w;
    start(w, {{"alice", A}, {"bob", B}, {"carol", C}});
    const std::uint64_t before = w.session(A).table_version();
    w.sent_log.clear();
    w.type(B, "dereg");
    w.run_for(1s);
    const auto updates = tables_to(w, A);
    REQUIRE(updates.size() == 1);
    CHECK(updates[0].from == before);
    CHECK(updates[0].version == before + 1);
    REQUIRE(updates[0].entries.size() == 1);
    CHECK(updates[0].entries[0].nick == "bob");
    CHECK_FALSE(updates[0].entries[0].online);
    CHECK(updates[0].total == 3);
    CHECK(w.session(A).table() == w.server->table());
  }

  TEST_CASE("changes inside the batching window go out as one version") {
    World w([](ServerConfig& c) { c.table_batch = 50ms; });
    start(w, {{"alice", A}});
    w.sent_log.clear();
    const std::uint64_t before = w.server->table_version();
    w.start_client("bob", B);
    w.start_client("carol", C);
    w.start_client("dave", D);
    w.run_for(1s);
    CHECK(w.server->table_version() == before + 1);
    const auto updates = tables_to(w, A);
    REQUIRE(updates.size() == 1);
    CHECK(updates[0].entries.size() == 3);
    CHECK(w.count(A, kTable) == 2);  // its first table, then this one
  }

  TEST_CASE("a newcomer gets a snapshot; the others get only its row") {
    World w;
    start(w, {{"alice", A}, {"bob", B}});
    w.sent_log.clear();
    w.start_client("carol", C);
    w.run_for(1s);
    const auto to_carol = tables_to(w, C);
    REQUIRE_FALSE(to_carol.empty());
    CHECK(to_carol[0].from == 0);
    CHECK(to_carol[0].entries.size() == 3);
    const auto to_alice = tables_to(w, A);
    REQUIRE(to_alice.size() == 1);
    CHECK(to_alice[0].entries.size() == 1);
  }

  TEST_CASE("lost deltas: the client catches up at its next heartbeat") {
    World w;
    start(w, {{"alice", A}, {"bob", B}, {"carol", C}}, 2s);
    bool cut = true;
    w.fault = [&](const Endpoint&, const Endpoint& to, const Message& m) {
      Fate f;
      f.drop = cut && to.port == A && std::holds_alternative<TablePart>(m);
      return f;
    };
    w.type(B, "dereg");
    w.run_for(300ms);
    w.type(C, "dereg");
    w.run_for(300ms);
    CHECK(w.session(A).table() != w.server->table());
    cut = false;
    // Every part given up: the server verifies alice (alive) and sends the
    // delta again; a heartbeat would repair it too.
    w.run_for(5s);
    CHECK(w.session(A).table() == w.server->table());
    CHECK(w.session(A).table_version() == w.server->table_version());
  }

  TEST_CASE("duplicated and reordered updates: never an older row or version over a newer") {
    Alone a;
    const TablePart v7{10, 7, 0, 1, {{"bob", "127.0.0.1", 6002, true, 7}}, 5, 2};
    const TablePart v8{11, 8, 0, 1, {{"bob", "127.0.0.1", 6002, false, 8}}, 7, 2};
    a.feed(v7);
    a.feed(v8);
    a.feed(v7);  // late duplicate
    a.feed(v8);
    CHECK(a.s.table_version() == 8);
    REQUIRE(a.row("bob"));
    CHECK_FALSE(a.row("bob")->online);
    CHECK(a.s.take_lines() == std::vector<std::string>{kTable, kTable});
    // A snapshot labelled older than what it holds changes nothing.
    a.feed(TablePart{12, 6, 0, 1, {{"bob", "127.0.0.1", 6002, true, 6}}, 0, 2});
    CHECK_FALSE(a.row("bob")->online);
    CHECK(a.s.take_lines().empty());
  }

  TEST_CASE("a delta from a version the client never had is not applied; it asks again") {
    Alone a;
    a.feed(TablePart{10, 9, 0, 1, {{"bob", "127.0.0.1", 6002, true, 9}}, 7, 2});
    CHECK(a.s.table_version() == 5);
    CHECK_FALSE(a.row("bob"));
    // The next deadline is now: a heartbeat carrying version 5.
    REQUIRE(a.s.next_deadline());
    a.s.on_timeout(*a.s.next_deadline());
    bool heartbeat = false;
    for (const auto& o : a.s.take_outgoing()) {
      if (auto m = decode(o.bytes); m && std::holds_alternative<Heartbeat>(*m)) {
        heartbeat = std::get<Heartbeat>(*m).table_version == 5;
      }
    }
    CHECK(heartbeat);
  }

  TEST_CASE("a server restart in the middle: versions go on, tables converge") {
    World w;
    start(w, {{"alice", A}, {"bob", B}, {"carol", C}}, 2s);
    const std::uint64_t before = w.server->table_version();
    w.type(B, "dereg");
    w.run_for(5ms);  // inside the batching window: the change is not out yet
    w.crash_server();
    w.run_for(500ms);
    w.start_server();
    CHECK(w.server->table_version() >= before);
    w.type(C, "dereg");
    w.run_for(10s);
    CHECK(w.server->table_version() > before);
    CHECK(w.session(A).table() == w.server->table());
    CHECK(w.session(A).table_version() == w.server->table_version());
  }

  TEST_CASE("beyond the full-table limit a client holds its own row and looks others up") {
    World w([](ServerConfig& c) { c.full_table_limit = 2; });
    start(w, {{"alice", A}, {"bob", B}, {"carol", C}, {"dave", D}});
    REQUIRE(w.session(A).table().size() == 1);
    CHECK(w.session(A).table()[0].nick == "alice");
    w.lines(A).clear();
    w.type(A, "list");
    REQUIRE(w.run_until([&] { return !w.lines(A).empty(); }, 1s));  // the count, asked first
    CHECK(w.lines(A) ==
          std::vector<std::string>{">>> alice 127.0.0.1:6001 online",
                                   ">>> [1 of 4 clients shown; list <prefix> finds more.]"});
    // send to a nickname not held: a lookup, then the message.
    w.lines(A).clear();
    w.type(A, "send carol hello via lookup");
    w.run_for(1s);
    CHECK(w.lines(A) == std::vector<std::string>{">>> [Message received by carol.]"});
    CHECK(w.printed(C, ">>> alice: hello via lookup"));
    CHECK(w.session(A).table().size() == 2);
    // Changes of a held row are pushed; changes of others are not.
    w.sent_log.clear();
    w.type(C, "dereg");
    w.run_for(1s);
    w.type(D, "dereg");
    w.run_for(1s);
    const auto updates = tables_to(w, A);
    REQUIRE(updates.size() == 1);
    REQUIRE(updates[0].entries.size() == 1);
    CHECK(updates[0].entries[0].nick == "carol");
    for (const auto& e : w.session(A).table()) CHECK(e.nick != "dave");
    // Sends to carol now go to the server (she is offline in the held row).
    w.lines(A).clear();
    w.type(A, "send carol are you there");
    w.run_for(1s);
    CHECK(w.lines(A) ==
          std::vector<std::string>{">>> [Messages received by the server and saved]"});
  }

  TEST_CASE("send to a nickname nobody registered: looked up, then Unknown client") {
    World w;
    start(w, {{"alice", A}, {"bob", B}});
    w.lines(A).clear();
    w.type(A, "send zed hi");
    w.type(A, "send zed again");
    w.run_for(1s);
    CHECK(w.lines(A) ==
          std::vector<std::string>{">>> [Unknown client zed.]", ">>> [Unknown client zed.]"});
    CHECK(w.session(A).messages_in_flight() == 0);
  }

  TEST_CASE("a refused reg keeps the nickname held: list <prefix> still works") {
    World w;
    start(w, {{"alice", A}, {"bob", B}});
    w.type(B, "dereg");
    w.run_for(1s);
    w.lines(B).clear();
    w.type(B, "reg alice");  // alice is alive: refused
    w.run_for(2s);
    CHECK(w.lines(B) == std::vector<std::string>{">>> [Nickname alice is already in use.]"});
    w.lines(B).clear();
    w.type(B, "list al");
    w.run_for(1s);
    CHECK(w.lines(B) == std::vector<std::string>{">>> alice 127.0.0.1:6001 online",
                                                 ">>> [1 of 1 clients shown.]"});
    CHECK(w.nodes.at(B).alive);
    w.lines(B).clear();
    w.type(B, "reg bob");
    w.run_for(1s);
    CHECK(w.printed(B, ">>> [Welcome, You are registered.]"));
  }

  TEST_CASE("list <prefix> asks the server: up to 50 nicknames, then a count line") {
    World w([](ServerConfig& c) { c.full_table_limit = 10; });
    std::vector<std::pair<std::string, std::uint16_t>> clients;
    for (int i = 0; i < 60; ++i) {
      clients.emplace_back("user" + std::to_string(100 + i), static_cast<std::uint16_t>(7000 + i));
    }
    clients.emplace_back("Other", 7100);
    start(w, clients);
    w.lines(7000).clear();
    w.type(7000, "list USER1");
    w.run_for(1s);
    const auto& lines = w.lines(7000);
    REQUIRE(lines.size() == 51);
    CHECK(lines[0] == ">>> user100 127.0.0.1:7000 online");
    CHECK(lines[49] == ">>> user149 127.0.0.1:7049 online");
    CHECK(lines[50] == ">>> [50 of 60 clients shown.]");
    w.lines(7000).clear();
    w.type(7000, "who oth");
    w.run_for(1s);
    CHECK(w.lines(7000) == std::vector<std::string>{">>> Other 127.0.0.1:7100 online",
                                                    ">>> [1 of 1 clients shown.]"});
    w.lines(7000).clear();
    w.type(7000, "list zz");
    w.run_for(1s);
    CHECK(w.lines(7000) == std::vector<std::string>{">>> [0 of 0 clients shown.]"});
    w.lines(7000).clear();
    w.type(7000, "list a*b");
    CHECK(w.lines(7000).size() == 1);
  }
}

TEST_SUITE("table sync: ack clocking") {
  TEST_CASE("a large update goes out 10 parts at a time, one more per ack, stored after it") {
    MemoryStore store;
    ServerCore core{ServerConfig{.table_batch = Duration::zero(),
                                 .wall_clock_ms = [] { return std::int64_t{1700000000000}; }},
                    1};
    core.start(*store.load(), kT0);
    const auto feed = [&](const Message& m, const Endpoint& from, const std::string& key) {
      core.on_datagram(encode(m), from, kT0, key);
      drain_store(core, store, kT0);
      return core.take_outgoing();
    };
    // 400 registered clients with keys: a snapshot of ~24 parts.
    for (std::uint16_t i = 0; i < 400; ++i) {
      feed(Register{1, "user" + std::to_string(i), 30000},
           Endpoint{"127.0.0.2", static_cast<std::uint16_t>(10000 + i)},
           std::string(32, static_cast<char>(i % 200 + 1)));
    }
    // A message waits for the newcomer (saved while it is offline).
    const Endpoint zed{"127.0.0.3", 7000};
    feed(Register{1, "zed", 30000}, zed, std::string(32, 'z'));
    feed(Deregister{2, "zed"}, zed, std::string(32, 'z'));
    feed(Save{3, "user1", "zed", 99, "waiting for you"}, Endpoint{"127.0.0.2", 10001},
         std::string(32, static_cast<char>(2)));
    auto out = feed(Register{4, "zed", 30000}, zed, std::string(32, 'z'));
    auto parts = of_type<TablePart>(out, zed);
    REQUIRE(parts.size() == ServerCore::kTableWindow);
    const std::uint32_t total = parts[0].parts;
    REQUIRE(total > 2 * ServerCore::kTableWindow);
    CHECK(of_type<Deliver>(out, zed).empty());  // the stored message waits for the table
    std::set<std::uint32_t> seen;
    for (const auto& p : parts) seen.insert(p.part);
    std::vector<TablePart> in_flight = parts;
    std::size_t acks = 0;
    bool delivered = false;
    while (!in_flight.empty()) {
      const TablePart p = in_flight.front();
      in_flight.erase(in_flight.begin());
      out = feed(Ack{p.id, AckStatus::kOk, 0, {}}, zed, std::string(32, 'z'));
      ++acks;
      const auto more = of_type<TablePart>(out, zed);
      CHECK(more.size() <= 1);  // one out per one acked
      for (const auto& m : more) {
        seen.insert(m.part);
        in_flight.push_back(m);
      }
      CHECK(in_flight.size() <= ServerCore::kTableWindow);
      if (!of_type<Deliver>(out, zed).empty()) {
        delivered = true;
        CHECK(seen.size() == total);  // only once every part went out
      }
    }
    CHECK(acks == total);
    CHECK(seen.size() == total);
    CHECK(delivered);
  }
}
