// The simulation's NAT router (tests/support/nat_box.hpp) does what RFC 4787
// says of the routers it stands for: mapping, filtering, timeouts.
#include <doctest/doctest.h>

#include "support/doctest_print.hpp"
#include "support/nat_box.hpp"

using namespace udpchat;        // NOLINT(google-build-using-namespace): test file
using namespace udpchat::test;  // NOLINT(google-build-using-namespace): test file
using namespace std::chrono_literals;

namespace {
const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);
const Endpoint kInside{"10.0.1.2", 7001};
const Endpoint kServer{"127.0.0.1", 9000};
const Endpoint kPeer{"203.0.113.2", 7003};
}  // namespace

TEST_SUITE("simulation: NAT boxes") {
  TEST_CASE("port-restricted: one public port per inside endpoint, answers only from where it sent") {
    NatBox nat("10.0.1.2", "203.0.113.1", false, 30s);
    const Endpoint pub = nat.outbound(kInside, kServer, kT0);
    CHECK(pub == Endpoint{"203.0.113.1", 7001});  // the inside port kept
    CHECK(nat.outbound(kInside, kPeer, kT0) == pub);  // endpoint-independent mapping
    CHECK(nat.inbound(pub, kServer, kT0 + 1s) == kInside);
    CHECK(nat.inbound(pub, kPeer, kT0 + 1s) == kInside);
    CHECK_FALSE(nat.inbound(pub, Endpoint{"203.0.113.2", 7004}, kT0 + 1s));  // another port
    CHECK_FALSE(nat.inbound(Endpoint{"203.0.113.1", 7002}, kServer, kT0 + 1s));  // no mapping
    // A second inside endpoint with the same port gets another public port.
    const Endpoint other = nat.outbound(Endpoint{"10.0.1.3", 7001}, kServer, kT0);
    CHECK(other.port != pub.port);
  }

  TEST_CASE("symmetric: a new public port for each destination after the first") {
    NatBox nat("10.0.1.2", "203.0.113.1", true, 30s);
    const Endpoint to_server = nat.outbound(kInside, kServer, kT0);
    const Endpoint to_peer = nat.outbound(kInside, kPeer, kT0);
    CHECK(to_server.port == 7001);
    CHECK(to_peer.port != to_server.port);
    CHECK(nat.outbound(kInside, kPeer, kT0 + 1s) == to_peer);
    // The peer answering to the port the server saw is dropped.
    CHECK_FALSE(nat.inbound(to_server, kPeer, kT0 + 1s));
    CHECK(nat.inbound(to_peer, kPeer, kT0 + 1s) == kInside);
  }

  TEST_CASE("a mapping lives its timeout after the last datagram out; a restart forgets all") {
    NatBox nat("10.0.1.2", "203.0.113.1", false, 30s);
    const Endpoint pub = nat.outbound(kInside, kServer, kT0);
    CHECK(nat.inbound(pub, kServer, kT0 + 30s) == kInside);
    CHECK_FALSE(nat.inbound(pub, kServer, kT0 + 31s));
    CHECK(nat.mappings() == 0);
    nat.outbound(kInside, kServer, kT0 + 40s);
    nat.outbound(kInside, kServer, kT0 + 60s);  // refreshed
    CHECK(nat.inbound(pub, kServer, kT0 + 85s) == kInside);
    nat.forget_all();
    CHECK_FALSE(nat.inbound(pub, kServer, kT0 + 86s));
  }
}
