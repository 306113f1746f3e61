// Every flow of manual §4, end to end through the real client and server
// state machines on the in-memory network of tests/support/world.hpp.
#include <doctest/doctest.h>

#include "support/doctest_print.hpp"
#include "support/world.hpp"

using namespace udpchat;
using namespace udpchat::test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t A = 6001;
constexpr std::uint16_t B = 6002;
constexpr std::uint16_t C = 6003;

const std::string kWelcome = ">>> [Welcome, You are registered.]";
const std::string kTable = ">>> [Client table updated.]";
const std::string kSaved = ">>> [Messages received by the server and saved]";

// alice, bob and carol registered, every table converged.
void three_clients(World& w) {
  w.start_client("alice", A);
  w.start_client("bob", B);
  w.start_client("carol", C);
  const bool ok = w.run_until([&] {
    return w.session(A).table().size() == 3 && w.session(B).table().size() == 3 &&
           w.session(C).table().size() == 3;
  });
  REQUIRE(ok);
}

}  // namespace

TEST_SUITE("flows") {
  TEST_CASE("registration prints the welcome, then table updates, and list shows everyone") {
    World w;
    three_clients(w);
    CHECK(w.lines(A).at(0) == kWelcome);
    CHECK(w.lines(A).at(1) == kTable);
    CHECK(w.lines(C).at(0) == kWelcome);
    w.lines(A).clear();
    w.type(A, "list");
    // It asks the server for its count first (manual §4.3): one round trip.
    REQUIRE(w.run_until([&] { return !w.lines(A).empty(); }, 1s));
    CHECK(w.lines(A) == std::vector<std::string>{">>> alice 127.0.0.1:6001 online",
                                                 ">>> bob 127.0.0.1:6002 online",
                                                 ">>> carol 127.0.0.1:6003 online"});
    w.lines(A).clear();
    w.type(A, "who");
    REQUIRE(w.run_until([&] { return !w.lines(A).empty(); }, 1s));
    CHECK(w.lines(A).size() == 3);
  }

  TEST_CASE("a direct message is acknowledged and shown once, byte for byte") {
    World w;
    three_clients(w);
    const std::string text = "  hello   世界 🎉 \"quoted\"  ";
    w.type(A, "send bob " + text);
    w.run_for(1s);
    CHECK(w.count(A, ">>> [Message received by bob.]") == 1);
    CHECK(w.count(B, ">>> alice: " + text) == 1);
    CHECK_FALSE(w.printed(C, ">>> alice: " + text));
    CHECK(w.server->stats().messages_stored == 0);
  }

  TEST_CASE("a lost ack makes the sender retransmit, and the receiver still shows it once") {
    World w;
    three_clients(w);
    int acks_dropped = 0;
    w.fault = [&](const Endpoint& from, const Endpoint&, const Message& m) {
      Fate f;
      if (from.port == B && std::holds_alternative<Ack>(m) && acks_dropped < 2) {
        ++acks_dropped;
        f.drop = true;
      }
      return f;
    };
    w.type(A, "send bob once only");
    w.run_for(2s);
    CHECK(acks_dropped == 2);
    CHECK(w.count(B, ">>> alice: once only") == 1);
    CHECK(w.count(A, ">>> [Message received by bob.]") == 1);
    CHECK_FALSE(w.printed(A, ">>> [No ACK from bob, message sent to server.]"));
  }

  TEST_CASE("duplicated and reordered datagrams never show a message twice") {
    World w;
    three_clients(w);
    int n = 0;
    w.fault = [&](const Endpoint&, const Endpoint&, const Message&) {
      Fate f;
      f.copies = 3;
      f.extra_delay = std::chrono::milliseconds((n++ * 37) % 50);
      return f;
    };
    for (int i = 0; i < 5; ++i) w.type(A, "send bob m" + std::to_string(i));
    w.run_for(5s);
    std::vector<std::string> shown;
    for (const auto& l : w.lines(B)) {
      if (l.rfind(">>> alice: ", 0) == 0) shown.push_back(l);
    }
    // Once each, and in the order typed (a send waits for the previous one).
    CHECK(shown == std::vector<std::string>{">>> alice: m0", ">>> alice: m1", ">>> alice: m2",
                                            ">>> alice: m3", ">>> alice: m4"});
    CHECK(w.count(A, ">>> [Message received by bob.]") == 5);
  }

  TEST_CASE(
      "a dead peer: No ACK, the server's ping fails, it is marked offline and the message saved") {
    World w;
    three_clients(w);
    w.kill(B);
    w.lines(A).clear();
    w.type(A, "send bob are you there?");
    w.run_for(3s);
    CHECK(w.lines(A) == std::vector<std::string>{">>> [No ACK from bob, message sent to server.]",
                                                 kTable, kSaved});
    CHECK(w.server->stats().messages_stored == 1);
    // carol learns that bob is offline too.
    w.lines(C).clear();
    w.type(C, "list");
    // It asks the server for its count first, one round trip.
    w.run_until([&] { return w.printed(C, ">>> bob 127.0.0.1:6002 offline"); }, 1s);
    CHECK(w.printed(C, ">>> bob 127.0.0.1:6002 offline"));
    // Now that A's table shows bob offline, the next message goes straight to the server.
    w.lines(A).clear();
    w.type(A, "send bob second");
    w.run_for(2s);
    CHECK(w.lines(A) == std::vector<std::string>{kSaved});

    // bob comes back on the same port and gets both, in order, with timestamps.
    w.start_client("bob", B);
    w.run_for(3s);
    const auto& l = w.lines(B);
    REQUIRE(l.size() >= 5);
    CHECK(l[0] == kWelcome);
    CHECK(l[1] == kTable);
    CHECK(l[2] == ">>> [You Have Messages]");
    CHECK(l[3].rfind(">>> alice: T", 0) == 0);
    CHECK(l[3].ends_with(" are you there?"));
    CHECK(l[4].ends_with(" second"));
    CHECK(w.store.count_for("bob").value() == 0);
  }

  TEST_CASE("the server finds the 'offline' recipient alive: exists, relay, received") {
    World w;
    three_clients(w);
    // Every ack from bob to alice is lost, so alice's direct send times out
    // although bob showed the message; the server's ping to bob succeeds.
    w.fault = [&](const Endpoint& from, const Endpoint& to, const Message& m) {
      Fate f;
      f.drop = from.port == B && to.port == A && std::holds_alternative<Ack>(m);
      return f;
    };
    w.lines(A).clear();
    w.type(A, "send bob hello");
    w.run_for(3s);
    CHECK(w.lines(A) == std::vector<std::string>{">>> [No ACK from bob, message sent to server.]",
                                                 ">>> [Client bob exists!!]",
                                                 ">>> [Message received by bob.]"});
    CHECK(w.count(B, ">>> alice: hello") == 1);    // direct and relayed: shown once
    CHECK(w.store.count_for("bob").value() == 0);  // kept during the relay, deleted after
  }

  TEST_CASE("a server that crashes during a relay still delivers the message it acknowledged") {
    World w;
    three_clients(w);
    // alice's direct send and the server's relay never reach bob; the ping does.
    w.fault = [&](const Endpoint&, const Endpoint& to, const Message& m) {
      Fate f;
      f.drop =
          to.port == B && (std::holds_alternative<Chat>(m) || std::holds_alternative<Deliver>(m));
      return f;
    };
    w.type(A, "send bob do not lose me");
    REQUIRE(w.run_until([&] { return w.printed(A, ">>> [Client bob exists!!]"); }));
    w.crash_server();  // before the relay could be acknowledged
    w.fault = nullptr;
    w.run_for(2s);
    w.start_server();  // pings bob, who answers, and delivers from the store
    w.run_for(5s);
    bool shown = false;
    for (const auto& l : w.lines(B)) shown = shown || l.ends_with(" do not lose me");
    CHECK(shown);
    CHECK(w.store.count_for("bob").value() == 0);
  }

  TEST_CASE("a stale table: the sender thinks the peer is offline, the server relays it live") {
    World w;
    three_clients(w);
    // bob goes offline and comes back; alice misses both table updates.
    w.fault = [&](const Endpoint& from, const Endpoint& to, const Message& m) {
      Fate f;
      f.drop = from == w.server_endpoint && to.port == A && std::holds_alternative<TablePart>(m);
      return f;
    };
    w.type(B, "dereg bob");
    w.run_for(1s);
    w.type(B, "reg bob");
    w.run_for(1s);
    // alice's table is two versions behind (bob's endpoint is the same, so
    // the direct send still reaches him).
    w.fault = nullptr;
    w.lines(A).clear();
    w.type(A, "send bob back?");
    w.run_for(3s);
    CHECK(w.count(B, ">>> alice: back?") == 1);
    CHECK(w.printed(A, ">>> [Message received by bob.]"));
  }

  TEST_CASE("dereg: the client goes silent, messages to it are saved, reg delivers them once") {
    World w;
    three_clients(w);
    w.lines(B).clear();
    w.type(B, "dereg bob");
    w.run_for(1s);
    CHECK(w.lines(B) == std::vector<std::string>{">>> [You are Offline. Bye.]"});
    w.lines(A).clear();
    w.type(A, "send bob one");
    w.run_for(2s);
    w.type(C, "send bob two");
    w.run_for(2s);
    CHECK(w.lines(A).back() == kSaved);
    CHECK_FALSE(w.printed(A, ">>> [No ACK from bob, message sent to server.]"));
    CHECK(w.lines(B).size() == 1);  // silent while offline
    // Only reg, list, help and quit work while deregistered.
    w.type(B, "send alice hi");
    CHECK(w.lines(B).back() == ">>> [You are not registered. Use: reg <nick>]");
    w.type(B, "reg bob");
    w.run_for(3s);
    int you_have = 0;
    std::vector<std::string> stored;
    for (const auto& l : w.lines(B)) {
      if (l == ">>> [You Have Messages]") ++you_have;
      if (l.rfind(">>> alice: T", 0) == 0 || l.rfind(">>> carol: T", 0) == 0) stored.push_back(l);
    }
    CHECK(you_have == 1);
    REQUIRE(stored.size() == 2);
    CHECK(stored[0].ends_with(" one"));
    CHECK(stored[1].ends_with(" two"));
    // A second cycle delivers nothing more.
    w.type(B, "dereg bob");
    w.run_for(1s);
    w.lines(B).clear();
    w.type(B, "reg bob");
    w.run_for(3s);
    CHECK(w.lines(B) == std::vector<std::string>{kWelcome, kTable});
  }

  TEST_CASE("a deregistered client neither shows nor acknowledges direct messages") {
    World w;
    three_clients(w);
    // alice misses the table that says bob is offline.
    w.fault = [&](const Endpoint& from, const Endpoint& to, const Message& m) {
      Fate f;
      f.drop = from == w.server_endpoint && to.port == A && std::holds_alternative<TablePart>(m);
      return f;
    };
    w.type(B, "dereg bob");
    w.run_for(1s);
    w.lines(A).clear();
    w.type(A, "send bob hello?");
    w.run_for(3s);
    CHECK(w.lines(A) ==
          std::vector<std::string>{">>> [No ACK from bob, message sent to server.]", kSaved});
    CHECK_FALSE(w.printed(B, ">>> alice: hello?"));
  }

  TEST_CASE("a client killed while receiving stored messages gets the rest next time, none twice") {
    World w;
    three_clients(w);
    w.type(B, "dereg bob");
    w.run_for(1s);
    for (int i = 0; i < 4; ++i) {
      w.type(A, "send bob s" + std::to_string(i));
      w.run_for(1s);
    }
    CHECK(w.store.count_for("bob").value() == 4);
    // bob registers but dies after acking two stored messages.
    int stored_acks = 0;
    w.kill(B);
    w.start_client("bob", B);
    w.run_until([&] {
      stored_acks = 0;
      for (const auto& l : w.lines(B)) stored_acks += l.rfind(">>> alice: T", 0) == 0 ? 1 : 0;
      return stored_acks == 2;
    });
    w.run_for(1ms);  // its second ack reaches the server
    w.kill(B);
    w.run_for(10s);
    CHECK(w.store.count_for("bob").value() == 2);
    w.start_client("bob", B);
    w.run_for(5s);
    std::vector<std::string> rest;
    for (const auto& l : w.lines(B)) {
      if (l.rfind(">>> alice: T", 0) == 0) rest.push_back(l);
    }
    REQUIRE(rest.size() == 2);
    CHECK(rest[0].ends_with(" s2"));
    CHECK(rest[1].ends_with(" s3"));
    CHECK(w.store.count_for("bob").value() == 0);
  }

  TEST_CASE("no server: registration gives up after 5 tries; Server not responding, exit 1") {
    World w;
    w.crash_server();
    auto& n = w.start_client("alice", A);
    (void)n;
    std::size_t sends = 0;
    w.run_for(10s);
    for (const auto& [to, bytes] : w.sent_log) sends += to == w.server_endpoint ? 1 : 0;
    CHECK(sends == 5);
    CHECK(w.lines(A) == std::vector<std::string>{">>> [Server not responding]", ">>> [Exiting]"});
    CHECK(w.session(A).exit_status() == 1);
  }

  TEST_CASE("nicknames are unique without regard to case; a dead holder loses its nickname") {
    World w;
    w.start_client("alice", A);
    w.run_for(1s);
    w.start_client("ALICE", B);
    w.run_for(2s);
    CHECK(w.lines(B) == std::vector<std::string>{">>> [Nickname ALICE is already in use.]"});
    CHECK(w.session(B).exit_status() == 1);
    CHECK(w.session(A).registered());
    // The holder dies: the nickname goes to the newcomer after a failed ping.
    w.kill(A);
    w.start_client("Alice", C);
    w.run_for(3s);
    CHECK(w.lines(C).at(0) == kWelcome);
    const auto table = w.server->table();
    REQUIRE(table.size() == 1);
    CHECK(table[0].nick == "Alice");
    CHECK(table[0].port == C);
  }

  TEST_CASE("the same client re-registering from the same address is accepted") {
    World w;
    w.start_client("alice", A);
    w.run_for(1s);
    w.kill(A);
    w.start_client("alice", A);
    w.run_for(1s);
    CHECK(w.lines(A).at(0) == kWelcome);
  }

  TEST_CASE("quit, end of input: messages in flight finish, then deregister and exit 0") {
    World w;
    three_clients(w);
    w.kill(B);
    w.lines(A).clear();
    w.type(A, "send bob last words");
    w.type(A, "quit");
    w.run_for(5s);
    CHECK(w.lines(A) == std::vector<std::string>{">>> [No ACK from bob, message sent to server.]",
                                                 kTable, kSaved, ">>> [You are Offline. Bye.]"});
    CHECK(w.session(A).exit_status() == 0);
    w.lines(C).clear();
    w.end_input(C);
    w.run_for(2s);
    CHECK(w.lines(C) == std::vector<std::string>{">>> [You are Offline. Bye.]"});
    CHECK(w.session(C).exit_status() == 0);
    for (const auto& e : w.server->table()) CHECK_FALSE(e.online);
  }

  TEST_CASE("commands typed during registration wait for it, in order") {
    World w;
    w.start_client("bob", B);
    w.run_for(1s);
    w.start_client("alice", A);
    w.type(A, "list");  // before the welcome: waits
    w.run_for(1s);
    REQUIRE(w.lines(A).size() >= 3);
    CHECK(w.lines(A)[0] == kWelcome);
  }

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

TEST_SUITE("flows under loss") {
  TEST_CASE("the relay outcome arrives before the lost 'exists' ack: lines stay in order") {
    World w;
    three_clients(w);
    // bob's acks to alice are lost (so she falls back to the server), and
    // the server's first ack of her save is lost too.
    int save_acks_dropped = 0;
    w.fault = [&](const Endpoint& from, const Endpoint& to, const Message& m) {
      Fate f;
      if (from.port == B && to.port == A && std::holds_alternative<Ack>(m)) f.drop = true;
      if (from == w.server_endpoint && to.port == A && std::holds_alternative<Ack>(m) &&
          std::get<Ack>(m).status == AckStatus::kExists && save_acks_dropped == 0) {
        ++save_acks_dropped;
        f.drop = true;
      }
      return f;
    };
    w.lines(A).clear();
    w.type(A, "send bob hello");
    w.type(A, "send bob again");
    w.run_for(6s);
    CHECK(save_acks_dropped == 1);
    const std::vector<std::string> first(w.lines(A).begin(), w.lines(A).begin() + 3);
    CHECK(first == std::vector<std::string>{">>> [No ACK from bob, message sent to server.]",
                                            ">>> [Client bob exists!!]",
                                            ">>> [Message received by bob.]"});
    CHECK(w.count(A, ">>> [Client bob exists!!]") == 2);  // once per message
    CHECK(w.count(B, ">>> alice: hello") == 1);
    CHECK(w.count(B, ">>> alice: again") == 1);
  }
}
