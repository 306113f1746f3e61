// Every flow of manual §4, end to end through the real client and server
// state machines on the in-memory network of tests/support/world.hpp: here
// registration and one message, direct or through the server (a dead peer,
// a live relay, a stale table); test_flows_presence.cpp has dereg, quit and
// nicknames, test_flows_server.cpp the server's tables, restarts and limits.
#include <doctest/doctest.h>

#include "support/doctest_print.hpp"
#include "support/flow_fixture.hpp"
#include "support/world.hpp"

using namespace udpchat;
using namespace udpchat::test;
using namespace std::chrono_literals;

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

}  // TEST_SUITE

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
