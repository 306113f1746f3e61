// docs/NAT.md: the server's part in NAT traversal on its own: introductions
// (a punch to each side, refusals, the rate) and the live relay (passed on
// with the sender's nickname, dropped for an offline peer, rate limited,
// counted).
#include <doctest/doctest.h>

#include "support/client_fixture.hpp"
#include "support/datagrams.hpp"
#include "support/doctest_print.hpp"
#include "support/server_fixture.hpp"

using namespace udpchat;        // NOLINT(google-build-using-namespace): test file
using namespace udpchat::test;  // NOLINT(google-build-using-namespace): test file
using namespace std::chrono_literals;

namespace {

const Endpoint kAlice{"203.0.113.10", 40000};
const Endpoint kBob{"203.0.113.11", 40000};
const Endpoint kCarol{"203.0.113.12", 40000};

/// A server with alice, bob (behind a NAT: local 198.18.1.11) and carol
/// registered, each with its key; carol then deregistered.
struct Three : InstantServer {
  Three() {
    feed(Register{1, "alice", 30000}, kAlice, kKey(kAliceKey));
    feed(Register{1, "bob", 30000, {}, Endpoint{"198.18.1.11", 40000}}, kBob, kKey(kBobKey));
    feed(Register{1, "carol", 30000}, kCarol, kKey(kCarolKey));
    feed(Deregister{2, "carol"}, kCarol, kKey(kCarolKey));
  }
  static std::string kKey(const crypto::KeyPair& k) { return key_bytes(k); }
  std::vector<Outgoing> feed(const Message& m, const Endpoint& from, const std::string& key,
                             TimePoint t = kStart) {
    return InstantServer::feed(m, from, t, key);
  }
};

}  // namespace

TEST_SUITE("NAT: the server") {
  TEST_CASE("an introduction is acknowledged and each side gets the other's row in a punch") {
    Three s;
    const auto out = s.feed(Introduce{10, "alice", "bob"}, kAlice, Three::kKey(kAliceKey));
    const auto acks = of_type<Ack>(out, kAlice);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].status == AckStatus::kOk);
    const auto to_alice = of_type<Punch>(out, kAlice);
    const auto to_bob = of_type<Punch>(out, kBob);
    REQUIRE(to_alice.size() == 1);
    REQUIRE(to_bob.size() == 1);
    CHECK(to_alice[0].row.nick == "bob");
    CHECK(Endpoint{to_alice[0].row.address, to_alice[0].row.port} == kBob);
    CHECK(Endpoint{to_alice[0].row.local_address, to_alice[0].row.local_port} ==
          Endpoint{"198.18.1.11", 40000});
    CHECK(to_alice[0].row.key == key_bytes(kBobKey));
    CHECK(to_bob[0].row.nick == "alice");
    CHECK(to_bob[0].row.local_address.empty());
    CHECK(s.core.stats().requests.at("introduce") == 1);
  }

  TEST_CASE("no introduction to an offline, unknown or own nickname, nor from a stranger") {
    Three s;
    const auto key = Three::kKey(kAliceKey);
    auto out = s.feed(Introduce{11, "alice", "carol"}, kAlice, key);
    CHECK(of_type<Ack>(out, kAlice).at(0).status == AckStatus::kOffline);
    out = s.feed(Introduce{12, "alice", "nobody"}, kAlice, key);
    CHECK(of_type<Ack>(out, kAlice).at(0).status == AckStatus::kUnknown);
    out = s.feed(Introduce{13, "alice", "ALICE"}, kAlice, key);
    CHECK(of_type<Ack>(out, kAlice).at(0).status == AckStatus::kOffline);
    // From bob's address in alice's name: not alice's request.
    out = s.feed(Introduce{14, "alice", "bob"}, kBob, Three::kKey(kBobKey));
    CHECK(of_type<Punch>(out, kAlice).empty());
    CHECK(of_type<Punch>(out, kBob).empty());
  }

  TEST_CASE("introductions beyond 20 at once from one client are refused, not punched") {
    Three s;
    const auto key = Three::kKey(kAliceKey);
    int punched = 0;
    int refused = 0;
    for (std::uint64_t id = 100; id < 130; ++id) {
      const auto out = s.feed(Introduce{id, "alice", "bob"}, kAlice, key);
      const auto ack = of_type<Ack>(out, kAlice).at(0);
      if (ack.status == AckStatus::kOk) {
        ++punched;
        CHECK(of_type<Punch>(out, kBob).size() == 1);
      } else {
        ++refused;
        CHECK(ack.status == AckStatus::kError);
        CHECK(of_type<Punch>(out, kBob).empty());
      }
    }
    CHECK(punched == 20);
    CHECK(refused == 10);
    // A second later, ten more tokens.
    const auto out = s.feed(Introduce{200, "alice", "bob"}, kAlice, key, InstantServer::kStart + 1s);
    CHECK(of_type<Ack>(out, kAlice).at(0).status == AckStatus::kOk);
  }

  TEST_CASE("a relay is passed on at once with its sender's nickname, its ack back the same way") {
    Three s;
    const std::string box(60, 'b');
    auto out = s.feed(Relay{77, "bob", box}, kAlice, Three::kKey(kAliceKey));
    const auto relayed = of_type<Relay>(out, kBob);
    REQUIRE(relayed.size() == 1);
    CHECK(relayed[0] == Relay{77, "alice", box});
    CHECK(of_type<Ack>(out, kAlice).empty());  // the server does not ack a relay
    out = s.feed(RelayAck{77, "alice", std::string(16, 't')}, kBob, Three::kKey(kBobKey));
    const auto acks = of_type<RelayAck>(out, kAlice);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0] == RelayAck{77, "bob", std::string(16, 't')});
    CHECK(s.core.stats().relayed == 2);
    CHECK(s.core.stats().relayed_bytes > box.size());
    CHECK(s.core.stats().requests.at("relay") == 1);
    CHECK(s.core.stats().requests.at("relay_ack") == 1);
  }

  TEST_CASE("a relay for an offline peer, from an unregistered address or over the rate is dropped") {
    Three s;
    auto out = s.feed(Relay{1, "carol", std::string(60, 'b')}, kAlice, Three::kKey(kAliceKey));
    CHECK(out.empty());
    CHECK(s.core.stats().dropped.at("relay_peer_offline") == 1);
    out = s.feed(Relay{2, "bob", std::string(60, 'b')}, Endpoint{"192.0.2.9", 9},
                 Three::kKey(kCarolKey));
    CHECK(out.empty());
    CHECK(s.core.stats().dropped.at("relay_not_registered") == 1);
    std::size_t passed = 0;
    for (std::uint64_t id = 0; id < 500; ++id) {
      passed += of_type<Relay>(s.feed(Relay{id, "bob", std::string(60, 'b')}, kAlice,
                                      Three::kKey(kAliceKey)),
                               kBob)
                    .size();
    }
    CHECK(passed == 400);  // the burst; the rest dropped until tokens come back
    CHECK(s.core.stats().dropped.at("relay_rate") == 100);
  }
}
