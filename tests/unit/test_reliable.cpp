// Unit tests of src/core/reliable/reliable.hpp: the RFC 6298 estimator and
// the sender that retransmits at a fixed interval until acked; the sender
// within an ack window, the duplicate filter and the id generator are in
// test_reliable_window.cpp.
//
// No test reads a clock: time is a fixed TimePoint moved by hand.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/reliable/reliable.hpp"
#include "protocol/limits.hpp"
#include "support/reliable_run.hpp"

using namespace udpchat;  // NOLINT(google-build-using-namespace): test file
using namespace udpchat::test;  // NOLINT(google-build-using-namespace): test file
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;

TEST_SUITE("reliable: RttEstimator (RFC 6298)") {
  TEST_CASE("before any sample the RTO is kInitialRto, clamped to [kMinRto, ceiling]") {
    const RttEstimator e;
    CHECK_FALSE(e.smoothed().has_value());
    CHECK(e.rto(std::chrono::seconds(1)) == kInitialRto);
    CHECK(e.rto(milliseconds(50)) == milliseconds(50));
    CHECK(e.rto(milliseconds(5)) == kMinRto);  // a ceiling below the floor gives the floor
  }

  TEST_CASE("the first sample R sets SRTT = R and RTTVAR = R/2") {
    RttEstimator e;
    e.sample(milliseconds(100));
    REQUIRE(e.smoothed().has_value());
    CHECK(*e.smoothed() == milliseconds(100));
    // RTO = SRTT + 4 * RTTVAR = 100 + 4 * 50
    CHECK(e.rto(std::chrono::seconds(10)) == milliseconds(300));
  }

  TEST_CASE("later samples update RTTVAR with beta 1/4 and SRTT with alpha 1/8") {
    RttEstimator e;
    e.sample(milliseconds(100));  // srtt 100, rttvar 50
    e.sample(milliseconds(200));
    // rttvar = 3/4 * 50 + 1/4 * |100 - 200| = 62.5; srtt = 7/8 * 100 + 1/8 * 200 = 112.5
    CHECK(*e.smoothed() == microseconds(112'500));
    CHECK(e.rto(std::chrono::seconds(10)) == microseconds(112'500 + 4 * 62'500));
    e.sample(milliseconds(50));
    // rttvar = 3/4 * 62.5 + 1/4 * |112.5 - 50| = 62.5; srtt = 7/8 * 112.5 + 1/8 * 50
    CHECK(*e.smoothed() == nanoseconds(104'687'500));
    CHECK(e.rto(std::chrono::seconds(10)) == nanoseconds(104'687'500 + 4 * 62'500'000));
  }

  TEST_CASE("the variance term is at least the 1 ms clock granularity") {
    RttEstimator e;
    for (int i = 0; i < 200; ++i) {
      e.sample(milliseconds(50));
    }
    CHECK(*e.smoothed() == milliseconds(50));
    CHECK(e.rto(std::chrono::seconds(10)) == milliseconds(51));
  }

  TEST_CASE("the RTO is clamped to kMinRto below and the ceiling above") {
    RttEstimator fast;
    fast.sample(milliseconds(1));  // 1 + 4 * 0.5 = 3 ms
    CHECK(fast.rto(std::chrono::seconds(10)) == kMinRto);
    RttEstimator zero;
    zero.sample(Duration::zero());
    CHECK(zero.rto(std::chrono::seconds(10)) == kMinRto);
    RttEstimator slow;
    slow.sample(std::chrono::seconds(1));  // 1 + 4 * 0.5 = 3 s
    CHECK(slow.rto(milliseconds(500)) == milliseconds(500));
    CHECK(slow.rto(std::chrono::seconds(10)) == std::chrono::seconds(3));
  }
}

TEST_SUITE("reliable: ReliableSender with a fixed interval") {
  TEST_CASE("sends once now, retransmits every 500 ms, and gives up after the fifth try") {
    ReliableSender s;
    std::vector<Outgoing> out;
    s.send(7, kBob, "payload", RetryPolicy::fixed(milliseconds(500), 5), kT0, out);
    REQUIRE(out.size() == 1);
    CHECK(out[0].to == kBob);
    CHECK(out[0].bytes == "payload");
    CHECK(s.pending(7));
    CHECK(s.size() == 1);
    REQUIRE(s.next_deadline().has_value());
    CHECK(*s.next_deadline() == kT0 + milliseconds(500));

    int sends = 1;
    for (int k = 1; k <= 4; ++k) {
      CAPTURE(k);
      const TimePoint due = kT0 + milliseconds(500) * k;
      out.clear();
      CHECK(s.poll(due - milliseconds(1), out).empty());
      CHECK(out.empty());
      CHECK(s.poll(due, out).empty());
      REQUIRE(out.size() == 1);
      CHECK(out[0].to == kBob);
      CHECK(out[0].bytes == "payload");
      ++sends;
      CHECK(s.retransmissions() == static_cast<std::uint64_t>(k));
      CHECK(*s.next_deadline() == due + milliseconds(500));
    }
    out.clear();
    CHECK(s.poll(kT0 + milliseconds(2499), out).empty());
    CHECK(out.empty());
    CHECK(s.pending(7));
    const auto expired = s.poll(kT0 + milliseconds(2500), out);
    CHECK(out.empty());
    CHECK(expired == std::vector<std::uint64_t>{7});
    CHECK(sends == 5);
    CHECK_FALSE(s.pending(7));
    CHECK(s.size() == 0);
    CHECK_FALSE(s.next_deadline().has_value());
    CHECK(s.retransmissions() == 4);
  }

  TEST_CASE("a poll long after the window expires the datagram without a burst of resends") {
    ReliableSender s;
    std::vector<Outgoing> out;
    s.send(7, kBob, "payload", RetryPolicy::fixed(milliseconds(500), 5), kT0, out);
    out.clear();
    const auto expired = s.poll(kT0 + std::chrono::seconds(60), out);
    CHECK(expired == std::vector<std::uint64_t>{7});
    CHECK(out.empty());
    CHECK(s.size() == 0);
  }

  TEST_CASE("an ack from the destination stops the retransmissions") {
    ReliableSender s;
    std::vector<Outgoing> out;
    s.send(7, kBob, "payload", RetryPolicy::fixed(milliseconds(500), 5), kT0, out);
    out.clear();
    CHECK(s.acknowledge(7, kBob, kT0 + milliseconds(30)));
    CHECK_FALSE(s.pending(7));
    CHECK(s.size() == 0);
    CHECK_FALSE(s.next_deadline().has_value());
    CHECK(s.poll(kT0 + std::chrono::seconds(10), out).empty());
    CHECK(out.empty());
    CHECK(s.retransmissions() == 0);
  }

  TEST_CASE("an ack from another endpoint is refused and changes nothing") {
    ReliableSender s;
    std::vector<Outgoing> out;
    s.send(7, kBob, "payload", RetryPolicy::fixed(milliseconds(500), 5), kT0, out);
    out.clear();
    CHECK_FALSE(s.acknowledge(7, kEve, kT0 + milliseconds(10)));
    CHECK_FALSE(s.acknowledge(7, kBobOtherPort, kT0 + milliseconds(10)));
    CHECK(s.pending(7));
    CHECK(*s.next_deadline() == kT0 + milliseconds(500));
    CHECK_FALSE(s.rtt(kEve).smoothed().has_value());
    CHECK_FALSE(s.rtt(kBob).smoothed().has_value());
    CHECK(s.poll(kT0 + milliseconds(500), out).empty());
    REQUIRE(out.size() == 1);
    CHECK(out[0].to == kBob);
    CHECK(s.acknowledge(7, kBob, kT0 + milliseconds(600)));
  }

  TEST_CASE("a second ack, or an ack for an unknown id, returns false") {
    ReliableSender s;
    std::vector<Outgoing> out;
    s.send(7, kBob, "payload", RetryPolicy::fixed(milliseconds(500), 5), kT0, out);
    CHECK(s.acknowledge(7, kBob, kT0 + milliseconds(10)));
    CHECK_FALSE(s.acknowledge(7, kBob, kT0 + milliseconds(20)));
    CHECK_FALSE(s.acknowledge(8, kBob, kT0 + milliseconds(20)));
    CHECK(s.size() == 0);
  }

  TEST_CASE("cancel forgets a datagram without an ack") {
    ReliableSender s;
    std::vector<Outgoing> out;
    s.send(7, kBob, "a", RetryPolicy::fixed(milliseconds(500), 5), kT0, out);
    s.send(8, kBob, "b", RetryPolicy::fixed(milliseconds(500), 5), kT0, out);
    out.clear();
    CHECK(s.cancel(7));
    CHECK_FALSE(s.pending(7));
    CHECK(s.pending(8));
    CHECK_FALSE(s.cancel(7));
    CHECK_FALSE(s.cancel(99));
    CHECK_FALSE(s.acknowledge(7, kBob, kT0 + milliseconds(1)));
    CHECK(s.poll(kT0 + milliseconds(500), out).empty());
    REQUIRE(out.size() == 1);
    CHECK(out[0].bytes == "b");
  }

  TEST_CASE("next_deadline is the earliest of all pending datagrams") {
    ReliableSender s;
    std::vector<Outgoing> out;
    CHECK_FALSE(s.next_deadline().has_value());
    s.send(1, kBob, "a", RetryPolicy::fixed(milliseconds(500), 5), kT0, out);
    s.send(2, kEve, "b", RetryPolicy::fixed(milliseconds(200), 5), kT0 + milliseconds(100), out);
    CHECK(*s.next_deadline() == kT0 + milliseconds(300));
    CHECK(s.cancel(2));
    CHECK(*s.next_deadline() == kT0 + milliseconds(500));
    CHECK(s.acknowledge(1, kBob, kT0 + milliseconds(1)));
    CHECK_FALSE(s.next_deadline().has_value());
  }

  TEST_CASE("expired ids come back in deadline order") {
    ReliableSender s;
    std::vector<Outgoing> out;
    s.send(2, kBob, "a", RetryPolicy::fixed(milliseconds(100), 1), kT0, out);
    s.send(1, kEve, "b", RetryPolicy::fixed(milliseconds(100), 1), kT0 + milliseconds(10), out);
    s.send(3, kCarol, "c", RetryPolicy::fixed(milliseconds(100), 1), kT0 + milliseconds(5), out);
    out.clear();
    CHECK(s.poll(kT0 + std::chrono::seconds(5), out) == std::vector<std::uint64_t>{2, 3, 1});
    CHECK(out.empty());
  }

  TEST_CASE("sending again with a pending id replaces the datagram") {
    ReliableSender s;
    std::vector<Outgoing> out;
    s.send(7, kBob, "old", RetryPolicy::fixed(milliseconds(500), 5), kT0, out);
    s.send(7, kEve, "new", RetryPolicy::fixed(milliseconds(500), 5), kT0 + milliseconds(100), out);
    REQUIRE(out.size() == 2);
    CHECK(out[1].bytes == "new");
    CHECK(s.size() == 1);
    CHECK(*s.next_deadline() == kT0 + milliseconds(600));
    out.clear();
    CHECK(s.poll(kT0 + milliseconds(500), out).empty());
    CHECK(out.empty());
    CHECK(s.poll(kT0 + milliseconds(600), out).empty());
    REQUIRE(out.size() == 1);
    CHECK(out[0].to == kEve);
    CHECK(out[0].bytes == "new");
    CHECK_FALSE(s.acknowledge(7, kBob, kT0 + milliseconds(700)));
    CHECK(s.acknowledge(7, kEve, kT0 + milliseconds(700)));
  }
}
