// docs/CLUSTER.md: a client that knows the other servers of its cluster
// (--cluster): at start, a server that does not answer is followed by the
// next one before "[Server not responding]"; once registered, a server that
// stops answering is followed, attempt by attempt, by the next server in
// turn (the one that spoke last is tried again first); each attempt goes
// to one server only; a client that moved takes the table of its new
// server whatever its version (each server numbers its own).
#include <doctest/doctest.h>

#include "support/client_fixture.hpp"
#include "support/doctest_print.hpp"

using namespace udpchat;        // NOLINT(google-build-using-namespace): test file
using namespace udpchat::test;  // NOLINT(google-build-using-namespace): test file
using namespace std::chrono_literals;

namespace {

const Endpoint kServer2{"127.0.0.1", 9001};
const Endpoint kServer3{"127.0.0.1", 9002};

ClientConfig with_cluster() {
  ClientConfig c = alice_config();
  c.ack_timeout = 100ms;
  c.heartbeat = 1s;
  c.other_servers = {kServer2, kServer3};
  return c;
}

/// Where the Registers in `out` went.
std::vector<Endpoint> registers_to(const std::vector<Outgoing>& out) {
  std::vector<Endpoint> to;
  for (const Outgoing& o : out) {
    if (const auto m = decode(o.bytes); m && std::holds_alternative<Register>(*m)) {
      to.push_back(o.to);
    }
  }
  return to;
}

/// Runs `s` from `from` to `to` in 10 ms steps; every datagram it sends.
std::vector<Outgoing> run(ClientSession& s, TimePoint from, TimePoint to) {
  std::vector<Outgoing> all;
  for (TimePoint t = from; t <= to; t += 10ms) {
    if (const auto d = s.next_deadline(); d && *d <= t) s.on_timeout(t);
    for (auto& o : s.take_outgoing()) all.push_back(std::move(o));
  }
  return all;
}

}  // namespace

TEST_SUITE("cluster: the client") {
  TEST_CASE("at start, a silent server is followed by the next before giving up") {
    ClientSession s(with_cluster(), 7);
    s.start(kT0);
    auto out = s.take_outgoing();
    CHECK(registers_to(out) == std::vector<Endpoint>{kServer});
    out = run(s, kT0, kT0 + 600ms);  // 5 tries 100 ms apart, then the next server
    CHECK(s.server() == kServer2);
    const auto to = registers_to(out);
    REQUIRE_FALSE(to.empty());
    CHECK(to.back() == kServer2);
    CHECK(s.exit_status() == std::nullopt);
    // The second answers: registered there.
    const auto reg = decode(out.back().bytes);
    REQUIRE(reg);
    s.on_datagram(encode(Ack{std::get<Register>(*reg).id, AckStatus::kOk, 0, {}}), kServer2,
                  kT0 + 600ms);
    CHECK(s.registered());
    const auto lines = s.take_lines();
    REQUIRE_FALSE(lines.empty());
    CHECK(lines.front() == ">>> [Welcome, You are registered.]");
  }

  TEST_CASE("at start, every server silent: the classic two lines, once all were tried") {
    ClientSession s(with_cluster(), 7);
    s.start(kT0);
    s.take_outgoing();
    const auto out = run(s, kT0, kT0 + 2s);
    const auto to = registers_to(out);
    CHECK(std::find(to.begin(), to.end(), kServer3) != to.end());
    CHECK(s.exit_status() == 1);
    const auto lines = s.take_lines();
    REQUIRE(lines.size() == 2);
    CHECK(lines[0] == ">>> [Server not responding]");
  }

  TEST_CASE("registered, its server silent: attempts go to the next servers in turn") {
    Registered r(with_cluster());
    // Heartbeats go unanswered: the server is lost, then each attempt goes
    // to the next server, round the cluster.
    auto out = run(r.s, kT0, kT0 + 15s);
    CHECK(r.s.reconnecting());
    const auto to = registers_to(out);
    REQUIRE(to.size() >= 3);
    CHECK(to[0] == kServer2);
    CHECK(to[1] == kServer3);
    CHECK(to[2] == kServer);
    const auto lines = r.s.take_lines();
    CHECK(std::count(lines.begin(), lines.end(), ">>> [Server unreachable, retrying.]") == 1);
  }

  TEST_CASE("moved to another server: its snapshot is taken whatever its version") {
    // Each server numbers its own table versions: alice holds version 24 of
    // the first server, the second one's snapshot is at version 5.
    Registered r(with_cluster());
    TableEntry bob_off = row("bob", 6002, false, kBobKey);
    bob_off.version = 24;
    r.s.on_datagram(encode(TablePart{501, 24, 0, 1, {bob_off}, 1}), kServer, kT0);
    REQUIRE(r.s.table_version() == 24);
    // The first server goes silent: the next attempt goes to the second.
    std::uint64_t reg_id = 0;
    TimePoint t = kT0;
    for (; t < kT0 + 15s && reg_id == 0; t += 10ms) {
      for (const Outgoing& o : run(r.s, t, t)) {
        if (const auto m = decode(o.bytes);
            m && std::holds_alternative<Register>(*m) && o.to == kServer2) {
          reg_id = std::get<Register>(*m).id;
        }
      }
    }
    REQUIRE(reg_id != 0);
    r.s.on_datagram(encode(Ack{reg_id, AckStatus::kOk, 0, {}}), kServer2, t);
    TableEntry alice = row("alice", 6001, true, kAliceKey);
    alice.version = 5;
    TableEntry bob_on = row("bob", 6002, true, kBobKey);
    bob_on.version = 3;
    r.s.on_datagram(encode(TablePart{900, 5, 0, 1, {alice, bob_on}, 0}), kServer2, t);
    CHECK(r.s.table_version() == 5);
    const auto table = r.s.table();
    const auto bob = std::find_if(table.begin(), table.end(),
                                  [](const TableEntry& e) { return e.nick == "bob"; });
    REQUIRE(bob != table.end());
    CHECK(bob->online);
    CHECK(bob->version == 3);
    // A delta of the second server from its version 5 is taken too.
    bob_off.version = 6;
    r.s.on_datagram(encode(TablePart{901, 6, 0, 1, {bob_off}, 5}), kServer2, t);
    CHECK(r.s.table_version() == 6);
  }

  TEST_CASE("without other servers, every attempt goes to the one server") {
    ClientConfig c = alice_config();
    c.ack_timeout = 100ms;
    c.heartbeat = 1s;
    Registered r(c);
    const auto to = registers_to(run(r.s, kT0, kT0 + 15s));
    REQUIRE_FALSE(to.empty());
    for (const Endpoint& e : to) CHECK(e == kServer);
  }
}
