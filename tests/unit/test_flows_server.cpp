// Flows of manual §4 on the server's side: tables in parts and never older,
// a restart from the store, a full disk, liveness, malformed or misaddressed
// requests, and the bounded resources (a full mailbox, a full server, too
// many messages waiting for one peer), through the real state machines on
// tests/support/world.hpp.
#include <doctest/doctest.h>

#include "support/doctest_print.hpp"
#include "support/flow_fixture.hpp"
#include "support/world.hpp"

using namespace udpchat;
using namespace udpchat::test;
using namespace std::chrono_literals;

TEST_SUITE("flows") {
  TEST_CASE("a table too large for one datagram travels in parts; every client converges") {
    World w;
    std::vector<std::uint16_t> ports;
    for (int i = 0; i < 40; ++i) {
      const auto port = static_cast<std::uint16_t>(7000 + i);
      std::string nick = "client_with_a_long_nickname_" + std::to_string(1000 + i);
      w.start_client(nick, port);
      ports.push_back(port);
    }
    w.run_for(5s);
    for (const auto port : ports) {
      CHECK(w.session(port).table().size() == 40);
      CHECK(w.session(port).table_version() == w.server->table_version());
    }
    std::size_t max_size = 0;
    bool multi_part = false;
    for (const auto& [to, bytes] : w.sent_log) {
      max_size = std::max(max_size, bytes.size());
      if (auto m = decode(bytes); m && std::holds_alternative<TablePart>(*m)) {
        multi_part = multi_part || std::get<TablePart>(*m).parts > 1;
      }
    }
    CHECK(multi_part);
    CHECK(max_size <= kMaxDatagramBytes);
  }

  TEST_CASE("a client never replaces a newer table with an older one") {
    World w;
    three_clients(w);
    const auto version = w.session(A).table_version();
    // Replay an old table part to alice.
    TablePart old;
    old.id = 77;
    old.version = 1;
    old.entries = {{"zed", "127.0.0.1", 1234, true}};
    w.lines(A).clear();
    w.session(A).on_datagram(encode(old), w.server_endpoint, w.now);
    CHECK(w.session(A).table_version() == version);
    CHECK(w.session(A).table().size() == 3);
    CHECK(w.session(A).take_lines().empty());
  }

  TEST_CASE("the server restarts from its store: clients known, the alive keep chatting") {
    World w;
    three_clients(w);
    w.type(C, "dereg carol");
    w.run_for(1s);
    w.type(A, "send carol kept across the crash");
    w.run_for(2s);
    w.kill(B);  // dies while the server is down
    w.crash_server();
    w.start_server();
    w.run_for(3s);
    // It knew all three; alice answered its ping, bob did not.
    const auto table = w.server->table();
    REQUIRE(table.size() == 3);
    CHECK(table[0].online);        // alice
    CHECK_FALSE(table[1].online);  // bob
    // alice keeps chatting without doing anything; carol's message survived.
    w.lines(A).clear();
    w.type(C, "reg carol");
    w.run_for(3s);
    CHECK(w.printed(C, ">>> [You Have Messages]"));
    w.type(A, "send carol hi again");
    w.run_for(2s);
    CHECK(w.printed(A, ">>> [Message received by carol.]"));
    CHECK(w.count(C, ">>> alice: hi again") == 1);
  }

  TEST_CASE("a full disk: the sender is told the save failed; nothing stored is lost") {
    World w;
    three_clients(w);
    w.type(B, "dereg bob");
    w.run_for(1s);
    w.type(A, "send bob before");
    w.run_for(2s);
    w.memory.fail_writes = true;
    w.lines(A).clear();
    w.type(A, "send bob during");
    w.run_for(2s);
    REQUIRE(w.lines(A).size() == 1);
    CHECK(w.lines(A)[0] ==
          ">>> [Server could not save the message for bob: database or disk is full]");
    w.memory.fail_writes = false;
    w.type(B, "reg bob");
    w.run_for(3s);
    bool before = false;
    for (const auto& l : w.lines(B)) before = before || l.ends_with(" before");
    CHECK(before);
  }

  TEST_CASE(
      "liveness: a client that stops sending heartbeats is marked offline after 3 intervals") {
    World w;
    w.start_client("alice", A, 1s);
    w.start_client("bob", B, 1s);
    w.run_for(5s);
    CHECK(w.server->clients_online() == 2);  // heartbeats keep them online
    w.kill(B);
    w.run_for(5s);
    CHECK(w.server->clients_online() == 1);
    w.lines(A).clear();
    w.type(A, "list");
    w.run_until([&] { return !w.lines(A).empty(); }, 1s);  // the count, asked first
    CHECK(w.printed(A, ">>> bob 127.0.0.1:6002 offline"));
  }

  TEST_CASE("a client marked offline by a lost ping re-registers at once and gets its messages") {
    World w;
    three_clients(w);
    // Every datagram to bob is lost for a while: alice's message falls back,
    // the ping fails, the server marks bob offline and saves.
    bool cut = true;
    w.fault = [&](const Endpoint&, const Endpoint& to, const Message&) {
      Fate f;
      f.drop = cut && to.port == B;
      return f;
    };
    w.type(A, "send bob while cut off");
    w.run_for(1200ms);
    cut = false;  // the new table (bob offline) reaches bob by retransmission
    w.run_for(5s);
    CHECK(w.count(B, ">>> [You Have Messages]") == 1);
    CHECK(w.count(B, ">>> [Welcome, You are registered.]") == 2);
    bool got = false;
    for (const auto& l : w.lines(B)) got = got || l.ends_with(" while cut off");
    CHECK(got);
    CHECK(w.server->clients_online() == 3);
  }

  TEST_CASE("malformed datagrams are dropped, counted and never answered") {
    World w;
    three_clients(w);
    const auto before = w.sent_log.size();
    const Endpoint attacker{"127.0.0.9", 5555};
    for (const std::string& bytes : {std::string("hello"), std::string(2000, 'x'),
                                     std::string("\xa1\x61v\x02", 4), std::string()}) {
      w.server->on_datagram(bytes, attacker, w.now);
      w.session(A).on_datagram(bytes, attacker, w.now);
    }
    CHECK(w.server->take_outgoing().empty());
    CHECK(w.session(A).take_outgoing().empty());
    CHECK(w.sent_log.size() == before);
    std::uint64_t dropped = 0;
    for (const auto& [cause, n] : w.server->stats().dropped) dropped += n;
    CHECK(dropped == 4);
    CHECK(w.session(A).dropped() == 4);
  }

  TEST_CASE("requests about a nickname from another address are ignored") {
    World w;
    three_clients(w);
    const Endpoint forger{"127.0.0.1", 6666};
    w.server->on_datagram(encode(Deregister{42, "bob"}), forger, w.now);
    w.server->on_datagram(encode(Save{43, "bob", "alice", 1, "forged"}), forger, w.now);
    CHECK(w.server->take_outgoing().empty());
    CHECK(w.server->clients_online() == 3);
    CHECK(w.server->stats().dropped["unauthorised"] == 2);
  }

  TEST_CASE("an unknown recipient at the server is refused") {
    World w;
    three_clients(w);
    // The client only asks the server about names in its table, so ask directly.
    w.server->on_datagram(encode(Save{99, "alice", "nobody", 5, "x"}), w.nodes.at(A).endpoint,
                          w.now);
    auto out = w.server->take_outgoing();
    REQUIRE(out.size() == 1);
    auto m = decode(out[0].bytes);
    REQUIRE(m);
    REQUIRE(std::holds_alternative<Ack>(*m));
    CHECK(std::get<Ack>(*m).status == AckStatus::kUnknown);
  }

}  // TEST_SUITE

TEST_SUITE("bounded resources") {
  TEST_CASE("a full mailbox refuses further messages with a clear line; nothing stored is lost") {
    World w;
    w.configure_server = [](ServerConfig& c) { c.max_stored_per_client = 2; };
    w.crash_server();
    w.start_server();
    three_clients(w);
    w.type(B, "dereg bob");
    w.run_for(1s);
    w.lines(A).clear();
    for (int i = 0; i < 3; ++i) {
      w.type(A, "send bob n" + std::to_string(i));
      w.run_for(1s);
    }
    CHECK(w.lines(A) ==
          std::vector<std::string>{kSaved, kSaved,
                                   ">>> [Server could not save the message for bob: mailbox of bob "
                                   "is full (2 messages)]"});
    w.type(B, "reg bob");
    w.run_for(3s);
    int stored = 0;
    for (const auto& l : w.lines(B)) stored += l.rfind(">>> alice: T", 0) == 0 ? 1 : 0;
    CHECK(stored == 2);
  }

  TEST_CASE("a full server refuses a new nickname and the client exits 1") {
    World w;
    w.configure_server = [](ServerConfig& c) { c.max_clients = 2; };
    w.crash_server();
    w.start_server();
    w.start_client("alice", A);
    w.start_client("bob", B);
    w.run_for(1s);
    w.start_client("carol", C);
    w.run_for(1s);
    CHECK(w.lines(C) ==
          std::vector<std::string>{">>> [Registration refused: the server is full (2 clients)]"});
    CHECK(w.session(C).exit_status() == 1);
    // Known nicknames still register.
    w.kill(A);
    w.start_client("alice", A);
    w.run_for(1s);
    CHECK(w.lines(A).at(0) == kWelcome);
  }

  TEST_CASE("too many messages waiting for one peer: refused with a clear line, others go on") {
    World w;
    w.configure_client = [](ClientConfig& c) { c.max_pending_per_peer = 3; };
    three_clients(w);
    w.kill(B);  // bob's messages wait out their ack windows
    w.lines(A).clear();
    for (int i = 0; i < 4; ++i) w.type(A, "send bob q" + std::to_string(i));
    w.type(A, "send carol still fine");
    CHECK(w.lines(A) ==
          std::vector<std::string>{">>> [Too many messages waiting for bob (max 3).]"});
    w.run_for(10s);
    CHECK(w.count(C, ">>> alice: still fine") == 1);
    CHECK(w.count(A, kSaved) == 3);
  }
}
