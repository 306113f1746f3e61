// test_sessions_world.cpp: the secure sessions of manual §9 through World
// (tests/support/world.hpp), where nicknames belong to keys: a second key
// cannot take a nickname, pins, resets and restarts between real state
// machines. The sessions alone, link against gate, are in test_sessions.cpp.
#include <doctest/doctest.h>

#include "support/doctest_print.hpp"
#include "support/world.hpp"

using namespace udpchat;
using udpchat::test::World;
using namespace std::chrono_literals;

TEST_SUITE("sessions in the world") {
  constexpr std::uint16_t A = 6101;
  constexpr std::uint16_t B = 6102;
  constexpr std::uint16_t C = 6103;

  TEST_CASE("a second key cannot take a nickname, also when its holder is dead") {
    World w;
    w.start_client("alice", A);
    w.start_client("bob", B);
    REQUIRE(w.run_until([&] { return w.session(A).registered() && w.session(B).registered(); }));
    w.kill(A);
    w.run_for(5s);
    // Another machine, another key, the same nickname.
    w.client_keys_["alice"] = crypto::generate_keypair(crypto::seeded_random(4242));
    w.start_client("alice", C);
    REQUIRE(w.run_until([&] { return !w.nodes.at(C).alive; }));
    CHECK(w.printed(C, ">>> [Nickname alice is already in use.]"));
    // bob's table still has alice where she was.
    bool found = false;
    for (const auto& row : w.session(B).table()) {
      if (row.nick == "alice") found = row.port == A;
    }
    CHECK(found);
  }

  TEST_CASE("a server slow to finish the handshake is not taken for absent") {
    // The server's Retries and Accepts each take 1.5 s (busy with a storm
    // of handshakes): 3 s in all, longer than the 5 tries x 500 ms a
    // silent server gets. Each answer gives the registration its tries
    // again, so it waits for the handshake.
    World w;
    w.frame_fault = [&](const Endpoint& from, const Endpoint&, std::uint8_t type) {
      udpchat::test::Fate f;
      if (from == w.server_endpoint && (type == static_cast<std::uint8_t>(FrameType::kRetry) ||
                                        type == static_cast<std::uint8_t>(FrameType::kAccept))) {
        f.extra_delay = 1500ms;
      }
      return f;
    };
    const TimePoint start = w.now;
    w.start_client("alice", A);
    REQUIRE(w.run_until([&] { return w.session(A).registered(); }, 20s));
    CHECK(w.now - start > 3s);
    CHECK_FALSE(w.printed(A, ">>> [Server not responding]"));
  }

  TEST_CASE("a server that answers Hellos but never completes a handshake is given up") {
    World w;
    w.frame_fault = [&](const Endpoint& from, const Endpoint&, std::uint8_t type) {
      udpchat::test::Fate f;
      f.drop = from == w.server_endpoint && type == static_cast<std::uint8_t>(FrameType::kAccept);
      return f;
    };
    w.start_client("alice", A);
    REQUIRE(w.run_until([&] { return !w.nodes.at(A).alive; }, 60s));
    CHECK(w.printed(A, ">>> [Server not responding]"));
  }

  TEST_CASE("a save given up while the handshake runs is not sent when the session comes up") {
    // The server restarts and takes 4 s to accept alice's new handshake;
    // meanwhile her save (bob does not ack) runs out of tries while she
    // deregisters, and she is told it was not sent. It must not reach bob
    // once the session is up (simulation seed 8485 found the link sending
    // what it had held).
    World w;
    w.start_client("alice", A);
    w.start_client("bob", B);
    REQUIRE(w.run_until([&] { return w.session(A).registered() && w.session(B).registered(); }));
    w.run_for(2s);  // alice's table has bob
    w.crash_server();
    w.start_server();
    w.fault = [&](const Endpoint& from, const Endpoint& to, const Message& m) {
      udpchat::test::Fate f;
      f.drop = from.port == A && to.port == B && std::holds_alternative<Chat>(m);
      return f;
    };
    w.frame_fault = [&](const Endpoint& from, const Endpoint& to, std::uint8_t type) {
      udpchat::test::Fate f;
      if (from == w.server_endpoint && to.port == A &&
          type == static_cast<std::uint8_t>(FrameType::kAccept)) {
        f.extra_delay = 4s;
      }
      return f;
    };
    w.type(A, "send bob said while the server was away");
    REQUIRE(w.run_until(
        [&] { return w.printed(A, ">>> [No ACK from bob, message sent to server.]"); }, 5s));
    w.type(A, "dereg alice");
    REQUIRE(w.run_until(
        [&] {
          return w.printed(A, ">>> [Server not responding: the message for bob was not sent.]");
        },
        10s));
    w.run_for(30s);
    CHECK(w.secure_server->gate().sessions() == 2);
    CHECK_FALSE(w.printed(B, ">>> alice: said while the server was away"));
  }

  TEST_CASE("a client restarted with its own key keeps its nickname at a new port") {
    World w;
    w.start_client("alice", A);
    REQUIRE(w.run_until([&] { return w.session(A).registered(); }));
    w.kill(A);
    w.run_for(200s);  // the server notices she is gone
    w.start_client("alice", C);
    REQUIRE(w.run_until([&] { return w.session(C).registered(); }));
  }

  TEST_CASE("a client that pinned another server key refuses the server with one line") {
    World w;
    w.start_client("alice", A);
    REQUIRE(w.run_until([&] { return w.session(A).registered(); }));
    // The server is reinstalled with a new key.
    w.crash_server();
    w.replace_server_key(crypto::generate_keypair(crypto::seeded_random(777)));
    w.start_server();
    w.start_client("alice", A);
    REQUIRE(w.run_until([&] { return !w.nodes.at(A).alive; }));
    CHECK(w.lines(A).front() ==
          ">>> [Server key changed: 127.0.0.1:9000 does not hold the key pinned in "
          "known_servers; if the server was reinstalled, delete its line there.]");
    CHECK(w.session(A).exit_status() == 1);
  }

  TEST_CASE("a restarted server brings its sessions back without anyone typing reg") {
    World w;
    w.start_client("alice", A);
    w.start_client("bob", B);
    REQUIRE(w.run_until([&] { return w.session(A).registered() && w.session(B).registered(); }));
    w.crash_server();
    w.start_server();
    w.type(A, "send bob after the restart");
    REQUIRE(w.run_until([&] { return w.printed(B, ">>> alice: after the restart"); }, 10s));
    w.type(A, "dereg alice");
    REQUIRE(w.run_until([&] { return w.printed(A, ">>> [You are Offline. Bye.]"); }, 10s));
    w.type(B, "send alice stored while you were away");
    REQUIRE(w.run_until(
        [&] { return w.printed(B, ">>> [Messages received by the server and saved]"); }, 10s));
    // Both came back on new sessions with the restarted server.
    CHECK(w.secure_server->gate().counts().at("handshake") >= 2);
  }
}
