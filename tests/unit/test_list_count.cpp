// `list` and the server's count of clients (manual §4.3, §6.9): beyond
// --full-table-limit nothing pushes a client the count, so a registered
// client's `list` asks the server first (a heartbeat) and prints when the
// answer comes, or one ack timeout after it was typed if none does; the
// commands typed after it wait for it.
#include <doctest/doctest.h>

#include <set>

#include "support/doctest_print.hpp"
#include "support/world.hpp"

using namespace udpchat;
using namespace udpchat::test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t A = 6001, B = 6002;
const std::string kUsageSend = ">>> [Usage: send <nick> <message>]";

/// What `list` prints for the rows `port` holds: one line per row, then the
/// count line if the server counts more than that.
std::vector<std::string> list_of(World& w, std::uint16_t port, std::size_t total) {
  std::vector<std::string> lines;
  const auto rows = w.session(port).table();
  for (const TableEntry& e : rows) {
    lines.push_back(">>> " + e.nick + " " + Endpoint{e.address, e.port}.to_string() +
                    (e.online ? " online" : " offline"));
  }
  if (total > rows.size()) {
    lines.push_back(">>> [" + std::to_string(rows.size()) + " of " + std::to_string(total) +
                    " clients shown; list <prefix> finds more.]");
  }
  return lines;
}

/// Heartbeats `nick` sent, by transport id (a retransmission is the same id).
std::set<std::uint64_t> heartbeats_of(World& w, const std::string& nick) {
  std::set<std::uint64_t> ids;
  for (const auto& [to, bytes] : w.sent_log) {
    if (to != w.server_endpoint) continue;
    if (auto m = decode(bytes); m && std::holds_alternative<Heartbeat>(*m)) {
      if (std::get<Heartbeat>(*m).nick == nick) ids.insert(std::get<Heartbeat>(*m).id);
    }
  }
  return ids;
}

/// alice and bob registered, alice with heartbeats every `heartbeat`.
void two_clients(World& w, Duration heartbeat) {
  w.start_client("alice", A, heartbeat);
  REQUIRE(w.run_until([&] { return w.session(A).registered(); }));
  w.start_client("bob", B);
  REQUIRE(w.run_until([&] { return w.session(A).table().size() == 2; }));
}

}  // namespace

TEST_SUITE("list count") {
  TEST_CASE("beyond the full-table limit every client's list counts all 8 clients") {
    World w([](ServerConfig& c) { c.full_table_limit = 4; });
    std::vector<std::uint16_t> ports;
    for (int i = 0; i < 8; ++i) {
      const auto port = static_cast<std::uint16_t>(7000 + i);
      ports.push_back(port);
      w.start_client("user" + std::to_string(i), port);
      REQUIRE(w.run_until([&] { return w.session(port).registered(); }));
      w.run_for(100ms);  // its table, and the others' updates
    }
    // The bug's starting point: the first four stopped getting updates when
    // the fifth registered, and believe fewer clients are registered.
    REQUIRE(w.session(ports[0]).rows_held() == 4);
    REQUIRE(w.session(ports[0]).clients_registered() < 8);
    w.sent_log.clear();
    for (const std::uint16_t port : ports) {
      const std::string nick = w.session(port).nick();
      w.lines(port).clear();
      w.type(port, "list");
      CHECK(w.lines(port).empty());  // asks first
      REQUIRE(w.run_until([&] { return !w.lines(port).empty(); }, w.ack_timeout));
      CHECK(heartbeats_of(w, nick).size() == 1);
      const std::size_t held = w.session(port).rows_held();
      CHECK(held == (port < ports[4] ? 4U : 1U));
      CHECK(w.session(port).clients_registered() == 8);
      CHECK(w.lines(port) == list_of(w, port, 8));
      CHECK(w.lines(port).back() ==
            ">>> [" + std::to_string(held) + " of 8 clients shown; list <prefix> finds more.]");
      // The next list asks again: the count is the server's at that moment.
      w.lines(port).clear();
      w.type(port, "who");
      CHECK(w.lines(port).empty());
      REQUIRE(w.run_until([&] { return !w.lines(port).empty(); }, w.ack_timeout));
      CHECK(w.lines(port) == list_of(w, port, 8));
      CHECK(heartbeats_of(w, nick).size() == 2);
    }
  }

  TEST_CASE("the server does not answer: list prints the rows held one ack timeout later") {
    World w;
    two_clients(w, 2s);
    // alice's datagrams to the server are lost from her next heartbeat on.
    bool cut = false;
    w.fault = [&](const Endpoint& from, const Endpoint& to, const Message& m) {
      Fate f;
      if (from.port == A && to == w.server_endpoint && std::holds_alternative<Heartbeat>(m)) {
        cut = true;
      }
      f.drop = cut && from.port == A;
      return f;
    };
    w.sent_log.clear();
    REQUIRE(w.run_until([&] { return cut; }, 3s));  // a heartbeat in flight, unanswered
    w.run_for(200ms);
    w.lines(A).clear();
    const TimePoint typed = w.now;
    w.type(A, "list");
    w.type(A, "send");  // typed after it: waits for it
    CHECK(w.lines(A).empty());
    // The heartbeat in flight carries the question: no second one. Its
    // retransmission (an ack timeout after it went) does not print the list.
    w.run_for(w.ack_timeout - 1ms);
    CHECK(w.lines(A).empty());
    CHECK(heartbeats_of(w, "alice").size() == 1);
    w.run_for(1ms);
    CHECK(w.now == typed + w.ack_timeout);
    std::vector<std::string> expected = list_of(w, A, 2);
    expected.push_back(kUsageSend);
    CHECK(w.lines(A) == expected);
    CHECK(heartbeats_of(w, "alice").size() == 1);
    CHECK(w.session(A).registered());  // the heartbeat goes on with its own tries
  }

  TEST_CASE("a heartbeat in flight is waited for: list prints at its ack, with its count") {
    World w([](ServerConfig& c) { c.full_table_limit = 2; });
    two_clients(w, 2s);
    // alice holds both rows (the table was whole when bob came); carol
    // comes beyond the limit, so alice is not told.
    w.start_client("carol", 6003);
    REQUIRE(w.run_until([&] { return w.session(6003).registered(); }));
    w.run_for(100ms);
    REQUIRE(w.session(A).rows_held() == 2);
    // Only the first try of alice's next heartbeat is lost.
    int lost = 0;
    w.fault = [&](const Endpoint& from, const Endpoint& to, const Message& m) {
      Fate f;
      f.drop = lost == 0 && from.port == A && to == w.server_endpoint &&
               std::holds_alternative<Heartbeat>(m);
      lost += f.drop ? 1 : 0;
      return f;
    };
    w.sent_log.clear();
    REQUIRE(w.run_until([&] { return lost == 1; }, 3s));
    w.run_for(200ms);
    w.lines(A).clear();
    const TimePoint typed = w.now;
    w.type(A, "list");
    w.type(A, "send");
    CHECK(w.lines(A).empty());
    REQUIRE(w.run_until([&] { return !w.lines(A).empty(); }, w.ack_timeout));
    CHECK(w.now < typed + w.ack_timeout);  // the retransmission's ack, before the deadline
    std::vector<std::string> expected = list_of(w, A, 3);
    REQUIRE(expected.size() == 3);
    CHECK(expected.back() == ">>> [2 of 3 clients shown; list <prefix> finds more.]");
    expected.push_back(kUsageSend);
    CHECK(w.lines(A) == expected);
    CHECK(heartbeats_of(w, "alice").size() == 1);
  }

  TEST_CASE("deregistered, list prints the rows held at once and asks nothing") {
    World w;
    two_clients(w, 30s);
    w.type(A, "dereg");
    w.run_for(1s);
    REQUIRE(!w.session(A).registered());
    w.lines(A).clear();
    w.sent_log.clear();
    w.type(A, "list");
    CHECK(w.lines(A) == list_of(w, A, 2));
    CHECK(w.sent_log.empty());
  }
}
