// A client that survives its server (manual §6.6): the server lost, killed,
// restarted or shut down under live clients; reconnection with backoff;
// what needs the server meanwhile; direct chat going on. Real state
// machines on the in-memory network of tests/support/world.hpp.
#include <doctest/doctest.h>

#include <algorithm>

#include <set>

#include "protocol/frames.hpp"
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
const std::string kUnreachable = ">>> [Server unreachable, retrying.]";
const std::string kSaved = ">>> [Messages received by the server and saved]";

void two_clients(World& w, Duration heartbeat = 1s) {
  w.start_client("alice", A, heartbeat);
  w.start_client("bob", B, heartbeat);
  REQUIRE(w.run_until(
      [&] { return w.session(A).table().size() == 2 && w.session(B).table().size() == 2; }));
}

/// Registration attempts sent to the server: sealed Registers, and, while
/// the server is away, the handshakes each attempt begins with (a Hello
/// with a new nonce per attempt; its resends repeat the nonce).
std::size_t registrations_sent(const World& w, std::size_t from_index) {
  std::size_t n = 0;
  std::set<std::string> hellos;
  for (std::size_t i = from_index; i < w.sent_log.size(); ++i) {
    const auto& [to, bytes] = w.sent_log[i];
    if (to != w.server_endpoint) continue;
    if (!bytes.empty() && static_cast<FrameType>(bytes[0]) == FrameType::kHello) {
      hellos.insert(bytes);
    } else if (auto m = decode(bytes); m && std::holds_alternative<Register>(*m)) {
      ++n;
    }
  }
  return n + hellos.size();
}

}  // namespace

TEST_SUITE("reconnect") {
  TEST_CASE("heartbeats unanswered: one line, the client keeps running, re-registers when back") {
    World w;
    two_clients(w);
    w.crash_server();
    REQUIRE(w.run_until([&] { return w.printed(A, kUnreachable); }, 10s));
    CHECK(w.session(A).exit_status() == std::nullopt);
    w.run_for(20s);  // a long outage: the line is printed once
    CHECK(w.count(A, kUnreachable) == 1);
    CHECK(w.count(B, kUnreachable) == 1);
    w.lines(A).clear();
    w.start_server();
    REQUIRE(
        w.run_until([&] { return w.session(A).registered() && w.session(B).registered(); }, 40s));
    CHECK(w.lines(A).front() == kWelcome);
    CHECK(w.session(A).exit_status() == std::nullopt);
  }

  TEST_CASE("registration attempts back off: few datagrams in a long outage") {
    World w;
    two_clients(w);
    w.crash_server();
    REQUIRE(w.run_until([&] { return w.printed(A, kUnreachable); }, 10s));
    const std::size_t mark = w.sent_log.size();
    w.run_for(120s);
    const std::size_t n = registrations_sent(w, mark);
    // Two clients, delays from ~1 s doubling to at most 30 s (with
    // jitter): about 8 attempts each in two minutes, never one per
    // retransmission interval (240 per client).
    CHECK(n >= 2 * 4);
    CHECK(n <= 2 * 14);
  }

  TEST_CASE("a restarted server's ping brings a reconnecting client back at once") {
    World w;
    two_clients(w, 60s);  // heartbeats rare: the outage is noticed by a request
    w.crash_server();
    w.type(A, "send carol hello?");  // unknown: needs a lookup
    REQUIRE(w.run_until([&] { return w.printed(A, kUnreachable); }, 10s));
    w.run_for(40s);    // backoff grows to ~30 s
    w.start_server();  // pings the clients it held online
    const TimePoint restarted = w.now;
    REQUIRE(w.run_until([&] { return w.session(A).registered(); }, 40s));
    CHECK(w.now - restarted < 2s);
  }

  TEST_CASE("while reconnecting: direct chat goes on, server commands get one clear line") {
    World w;
    two_clients(w, 60s);
    w.crash_server();
    w.type(A, "list x");  // a find: unanswered
    REQUIRE(w.run_until([&] { return w.printed(A, kUnreachable); }, 10s));
    CHECK(w.printed(A, ">>> [Server unreachable: try again when it is back.]"));
    w.lines(A).clear();
    w.type(A, "send bob still here?");
    w.run_for(1s);
    CHECK(w.printed(A, ">>> [Message received by bob.]"));
    CHECK(w.printed(B, ">>> alice: still here?"));
    w.type(A, "send zed hi");
    CHECK(w.printed(
        A, ">>> [Server unreachable: cannot look zed up now; try again when it is back.]"));
    w.type(A, "dereg");
    w.type(A, "list z");
    CHECK(w.count(A, ">>> [Server unreachable: try again when it is back.]") == 2);
    w.type(A, "list");
    CHECK(w.printed(A, ">>> bob 127.0.0.1:6002 online"));
  }

  TEST_CASE("a message for an offline peer waits for the server and is saved when it is back") {
    World w;
    two_clients(w, 60s);
    w.type(B, "dereg");
    w.run_for(1s);
    w.crash_server();
    w.type(A, "send bob first");
    REQUIRE(w.run_until([&] { return w.printed(A, kUnreachable); }, 10s));
    CHECK(w.printed(A, ">>> [Message for bob kept until the server is back.]"));
    w.type(A, "send bob second");
    CHECK_FALSE(w.printed(A, ">>> [bob is offline, message kept until the server is back.]"));
    w.start_server();
    REQUIRE(w.run_until([&] { return w.count(A, kSaved) == 2; }, 40s));
    w.type(B, "reg bob");
    const auto stored = [&] {
      std::vector<std::string> texts;
      for (const auto& l : w.lines(B)) {
        if (l.starts_with(">>> alice: T")) texts.push_back(l.substr(l.rfind(' ') + 1));
      }
      return texts;
    };
    REQUIRE(w.run_until([&] { return stored().size() == 2; }, 20s));
    CHECK(stored() == std::vector<std::string>{"first", "second"});
  }

  TEST_CASE("no ACK while the server is unreachable: kept, then saved, nothing lost") {
    World w;
    two_clients(w, 60s);
    w.crash_server();
    w.type(A, "send nobody x");  // unknown nickname: a lookup, unanswered
    REQUIRE(w.run_until([&] { return w.printed(A, kUnreachable); }, 10s));
    w.kill(B);  // bob is gone without a word
    w.type(A, "send bob are you there");
    w.run_for(1s);
    CHECK(w.printed(A, ">>> [No ACK from bob, message kept until the server is back.]"));
    w.start_server();
    REQUIRE(w.run_until([&] { return w.printed(A, kSaved); }, 40s));
    CHECK(w.store.count_for("bob").value() == 1);
    // The lookup held for "nobody" went on too, and was refused.
    CHECK(w.printed(A, ">>> [Unknown client nobody.]"));
  }

  TEST_CASE("the server says it is shutting down: the client waits and comes back by itself") {
    World w;
    two_clients(w, 60s);
    w.server->begin_shutdown(w.now);
    w.run_for(1s);
    CHECK(w.printed(A, ">>> [Server is shutting down.]"));
    CHECK(w.printed(A, kUnreachable));
    w.crash_server();
    w.run_for(5s);
    w.start_server();
    REQUIRE(
        w.run_until([&] { return w.session(A).registered() && w.session(B).registered(); }, 40s));
    w.lines(A).clear();
    w.type(A, "send bob back");
    w.run_for(1s);
    CHECK(w.printed(A, ">>> [Message received by bob.]"));
  }

  TEST_CASE("quit while the server is unreachable: held messages are told, exit 0") {
    World w;
    two_clients(w, 60s);
    w.type(B, "dereg");
    w.run_for(1s);
    w.crash_server();
    w.type(A, "send bob later");
    REQUIRE(w.run_until([&] { return w.printed(A, kUnreachable); }, 10s));
    w.end_input(A);
    w.run_for(1s);
    CHECK(w.printed(A, ">>> [Message for bob not sent: server unreachable.]"));
    CHECK(w.session(A).exit_status() == 0);
  }

  TEST_CASE("a client that never reached its server still ends: Server not responding, exit 1") {
    World w;
    w.crash_server();
    w.start_client("alice", A);
    w.run_for(10s);
    CHECK(w.lines(A) == std::vector<std::string>{">>> [Server not responding]", ">>> [Exiting]"});
    CHECK(w.session(A).exit_status() == 1);
  }

  TEST_CASE("the server restarted under live clients: they carry on without typing anything") {
    World w;
    w.start_client("alice", A, 1s);
    w.start_client("bob", B, 1s);
    w.start_client("carol", C, 1s);
    REQUIRE(w.run_until([&] { return w.session(C).table().size() == 3; }));
    w.type(C, "dereg");
    w.run_for(1s);
    w.crash_server();
    w.run_for(6s);  // long enough for every heartbeat to fail
    w.start_server();
    REQUIRE(
        w.run_until([&] { return w.session(A).registered() && w.session(B).registered(); }, 40s));
    w.type(A, "send carol saved while she was away");
    REQUIRE(w.run_until([&] { return w.printed(A, kSaved); }, 5s));
    w.type(C, "reg carol");
    REQUIRE(w.run_until([&] { return w.printed(C, ">>> [You Have Messages]"); }, 10s));
  }

  TEST_CASE("a reconnecting client refused by a full server says so once and comes back later") {
    // The server restarts on an empty store with room for one: alice and
    // bob both come back; one is refused (not a final refusal), keeps its
    // held message, retries with the backoff, and is in once there is room.
    std::size_t room = 1;
    World w([&](ServerConfig& c) { c.max_clients = room; });
    room = 2;
    w.crash_server();
    w.start_server();
    two_clients(w);
    w.crash_server();
    w.memory = MemoryStore{};
    room = 1;
    w.start_server();
    const std::string refused =
        ">>> [Registration refused: the server is full (1 clients); retrying.]";
    REQUIRE(w.run_until([&] { return w.printed(A, refused) || w.printed(B, refused); }, 60s));
    const std::uint16_t out = w.printed(A, refused) ? A : B;
    const std::uint16_t in = out == A ? B : A;
    CHECK(w.session(in).registered());
    CHECK(w.session(out).exit_status() == std::nullopt);
    w.type(out, std::string("send ") + (out == A ? "bob" : "alice") + " kept for later");
    const std::size_t mark = w.sent_log.size();
    w.run_for(120s);
    CHECK(w.count(out, refused) == 1);  // said once, however many attempts
    CHECK_FALSE(w.session(out).registered());
    // Backed off: about 9 attempts in two minutes (each a handshake and a
    // Register: the server answers), not one per ack window (240).
    CHECK(registrations_sent(w, mark) <= 2 * 12);
    w.crash_server();
    room = 2;
    w.start_server();
    REQUIRE(w.run_until([&] { return w.session(out).registered(); }, 60s));
    CHECK(w.printed(out, kWelcome));
    REQUIRE(w.run_until(
        [&] { return w.printed(in, std::string(">>> ") + (out == A ? "alice" : "bob") +
                                       ": kept for later"); },
        30s));
  }

  TEST_CASE("a final refusal while reconnecting ends it: the nickname is another key's now") {
    World w;
    two_clients(w);
    w.crash_server();
    w.memory = MemoryStore{};
    w.start_server();
    // Before alice is back, another key takes her nickname.
    w.start_client("alice", C);
    REQUIRE(w.run_until([&] { return w.session(C).registered(); }, 30s));
    REQUIRE(w.run_until([&] { return w.printed(A, ">>> [Nickname alice is already in use.]"); },
                        60s));
    w.run_for(60s);
    CHECK(w.count(A, ">>> [Nickname alice is already in use.]") == 1);  // no attempt after it
    CHECK_FALSE(w.session(A).registered());
    CHECK(w.session(C).registered());
  }
}
