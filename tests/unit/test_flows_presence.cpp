// Flows of manual §4 about being there: dereg and reg, a client killed while
// receiving, no server, nicknames, quit, commands typed during registration
// (the real state machines on tests/support/world.hpp).
#include <doctest/doctest.h>

#include "support/doctest_print.hpp"
#include "support/flow_fixture.hpp"
#include "support/world.hpp"

using namespace udpchat;
using namespace udpchat::test;
using namespace std::chrono_literals;

TEST_SUITE("flows") {
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

}  // TEST_SUITE
