// Unit tests of src/core/reliable/reliable.hpp: the sender that retransmits
// every RTO until its ack window closes, the duplicate filter and the id
// generator (the estimator and the fixed interval: test_reliable.cpp).
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

TEST_SUITE("reliable: ReliableSender within an ack window") {
  TEST_CASE("every try happens inside the window, at least twice, and it expires at its end") {
    ReliableSender s;
    std::vector<Outgoing> out;
    s.send(7, kBob, "chat", RetryPolicy::window(kDefaultAckTimeout), kT0, out);
    REQUIRE(out.size() == 1);
    const Run r = run_to_completion(s);
    const std::size_t sends = 1 + r.sent.size();
    CHECK(sends >= 2);
    TimePoint previous = kT0;
    Duration previous_gap = Duration::zero();
    for (const Sent& x : r.sent) {
      CHECK(x.at < kT0 + kDefaultAckTimeout);
      CHECK(x.datagram.to == kBob);
      CHECK(x.datagram.bytes == "chat");
      // RFC 6298 5.5: the interval between tries never shrinks (backoff).
      CHECK(x.at - previous >= previous_gap);
      previous_gap = x.at - previous;
      previous = x.at;
    }
    REQUIRE(r.expired.size() == 1);
    CHECK(r.expired[0].first == kT0 + kDefaultAckTimeout);
    CHECK(r.expired[0].second == 7);
    CHECK(s.size() == 0);
  }

  TEST_CASE("the first retransmission comes after kInitialRto when no RTT is known") {
    ReliableSender s;
    std::vector<Outgoing> out;
    s.send(7, kBob, "chat", RetryPolicy::window(milliseconds(500)), kT0, out);
    CHECK(*s.next_deadline() == kT0 + kInitialRto);
  }

  TEST_CASE("after a measured round trip the next datagram is retransmitted sooner") {
    ReliableSender s;
    std::vector<Outgoing> out;
    s.send(1, kBob, "first", RetryPolicy::window(milliseconds(500)), kT0, out);
    CHECK(s.acknowledge(1, kBob, kT0 + milliseconds(1)));
    REQUIRE(s.rtt(kBob).smoothed().has_value());
    CHECK(*s.rtt(kBob).smoothed() == milliseconds(1));

    const TimePoint t1 = kT0 + std::chrono::seconds(1);
    s.send(2, kBob, "second", RetryPolicy::window(milliseconds(500)), t1, out);
    REQUIRE(s.next_deadline().has_value());
    CHECK(*s.next_deadline() < t1 + kInitialRto);
    CHECK(*s.next_deadline() == t1 + kMinRto);  // 1 ms + 4 * 0.5 ms, raised to the floor
    out.clear();
    CHECK(s.poll(t1 + kMinRto, out).empty());
    REQUIRE(out.size() == 1);
    CHECK(out[0].bytes == "second");

    // The estimate is per destination: Carol still starts at kInitialRto.
    ReliableSender fresh;
    fresh.send(3, kCarol, "third", RetryPolicy::window(milliseconds(500)), t1, out);
    CHECK(*fresh.next_deadline() == t1 + kInitialRto);
  }

  TEST_CASE("a short measured RTT gives more tries in the same window") {
    ReliableSender measured;
    ReliableSender unknown;
    std::vector<Outgoing> out;
    measured.send(1, kBob, "x", RetryPolicy::window(milliseconds(500)), kT0, out);
    CHECK(measured.acknowledge(1, kBob, kT0 + milliseconds(1)));
    const TimePoint t1 = kT0 + std::chrono::seconds(1);
    measured.send(2, kBob, "y", RetryPolicy::window(milliseconds(500)), t1, out);
    unknown.send(2, kBob, "y", RetryPolicy::window(milliseconds(500)), t1, out);
    const Run a = run_to_completion(measured);
    const Run b = run_to_completion(unknown);
    CHECK(a.sent.size() > b.sent.size());
    for (const Sent& x : a.sent) {
      CHECK(x.at < t1 + milliseconds(500));
    }
    REQUIRE(a.expired.size() == 1);
    CHECK(a.expired[0].first == t1 + milliseconds(500));
  }

  TEST_CASE("Karn: an ack after a retransmission does not feed the estimator") {
    ReliableSender s;
    std::vector<Outgoing> out;
    s.send(1, kBob, "x", RetryPolicy::window(milliseconds(500)), kT0, out);
    out.clear();
    CHECK(s.poll(kT0 + kInitialRto, out).empty());
    REQUIRE(out.size() == 1);  // retransmitted: the ack is now ambiguous
    CHECK(s.acknowledge(1, kBob, kT0 + kInitialRto + milliseconds(5)));
    CHECK_FALSE(s.rtt(kBob).smoothed().has_value());

    // Whereas an ack of a datagram sent once is a sample.
    s.send(2, kBob, "y", RetryPolicy::window(milliseconds(500)), kT0 + hours(1), out);
    CHECK(s.acknowledge(2, kBob, kT0 + hours(1) + milliseconds(40)));
    REQUIRE(s.rtt(kBob).smoothed().has_value());
    CHECK(*s.rtt(kBob).smoothed() == milliseconds(40));
  }

  TEST_CASE("Karn applies to fixed-interval datagrams too") {
    ReliableSender s;
    std::vector<Outgoing> out;
    s.send(1, kBob, "x", RetryPolicy::fixed(milliseconds(500), 5), kT0, out);
    CHECK(s.poll(kT0 + milliseconds(500), out).empty());
    CHECK(s.acknowledge(1, kBob, kT0 + milliseconds(510)));
    CHECK_FALSE(s.rtt(kBob).smoothed().has_value());
  }

  TEST_CASE("resend_to sends what is pending for one destination, in id order, timers kept") {
    ReliableSender s;
    std::vector<Outgoing> out;
    s.send(7, kBob, "seven", RetryPolicy::fixed(milliseconds(500), 2), kT0, out);
    s.send(3, kBob, "three", RetryPolicy::fixed(milliseconds(500), 2), kT0, out);
    s.send(5, kEve, "eve", RetryPolicy::fixed(milliseconds(500), 2), kT0, out);
    s.send(9, kBob, "nine", RetryPolicy::fixed(milliseconds(200), 1), kT0, out);
    CHECK(s.poll(kT0 + milliseconds(200), out) == std::vector<std::uint64_t>{9});  // given up
    out.clear();
    CHECK(s.resend_to(kBob, kT0 + milliseconds(200), out) == 2);
    REQUIRE(out.size() == 2);
    CHECK(out[0].bytes == "three");
    CHECK(out[1].bytes == "seven");
    CHECK(out[0].to == kBob);
    CHECK(s.next_deadline() == kT0 + milliseconds(500));  // unchanged
    CHECK(s.retransmissions() == 2);
    // Karn: the ack may answer either copy.
    CHECK(s.acknowledge(3, kBob, kT0 + milliseconds(20)));
    CHECK_FALSE(s.rtt(kBob).smoothed().has_value());
  }

  TEST_CASE("a copy resent just before the give-up time gets a whole interval to be answered") {
    // The server came back 20 ms before the request's last try ran out:
    // the copy sent then must not be given up while its ack is on the way.
    ReliableSender s;
    std::vector<Outgoing> out;
    s.send(4, kBob, "save", RetryPolicy::fixed(milliseconds(500), 5), kT0, out);
    s.send(6, kBob, "young", RetryPolicy::fixed(milliseconds(500), 5), kT0 + milliseconds(2000),
           out);
    for (int i = 1; i <= 4; ++i) CHECK(s.poll(kT0 + milliseconds(500 * i), out).empty());
    out.clear();
    CHECK(s.resend_to(kBob, kT0 + milliseconds(2480), out) == 2);
    CHECK(out.size() == 2);
    // Given up 500 ms after the copy, not at kT0 + 2500 ms.
    CHECK(s.poll(kT0 + milliseconds(2500), out).empty());
    CHECK(s.poll(kT0 + milliseconds(2979), out).empty());
    CHECK(s.acknowledge(4, kBob, kT0 + milliseconds(2540)));
    // A request with time left keeps its own timers: retransmitted at
    // kT0 + 2500 ms (by the poll above), next at 3000 ms, given up at 4500 ms.
    CHECK(s.next_deadline() == kT0 + milliseconds(3000));
    CHECK(s.poll(kT0 + milliseconds(4499), out).empty());
    CHECK(s.poll(kT0 + milliseconds(4500), out) == std::vector<std::uint64_t>{6});
  }
}

TEST_SUITE("reliable: DuplicateFilter") {
  TEST_CASE("a key is new once, then a duplicate") {
    DuplicateFilter f(kDuplicateMemory, kDuplicateCapacity);
    CHECK_FALSE(f.seen("alice:1"));
    CHECK(f.first_time("alice:1", kT0));
    CHECK(f.seen("alice:1"));
    CHECK_FALSE(f.first_time("alice:1", kT0));
    CHECK_FALSE(f.first_time("alice:1", kT0 + std::chrono::seconds(5)));
    CHECK(f.first_time("alice:2", kT0));
    CHECK(f.first_time("bob:1", kT0));
    CHECK(f.size() == 3);
  }

  TEST_CASE("a key is forgotten after the ttl") {
    DuplicateFilter f(minutes(10), 100);
    CHECK(f.first_time("alice:1", kT0));
    CHECK(f.first_time("alice:2", kT0 + minutes(5)));
    CHECK_FALSE(f.first_time("alice:1", kT0 + minutes(10) - milliseconds(1)));
    CHECK(f.first_time("alice:1", kT0 + minutes(10) + milliseconds(1)));
    // alice:2 is still within its own ttl.
    CHECK_FALSE(f.first_time("alice:2", kT0 + minutes(10) + milliseconds(1)));
    CHECK(f.first_time("zed", kT0 + minutes(16)));
    CHECK_FALSE(f.seen("alice:2"));
    CHECK(f.size() == 2);  // alice:1 (seen again at 10 min) and zed
  }

  TEST_CASE("at capacity the oldest key is forgotten first") {
    DuplicateFilter f(hours(1), 3);
    CHECK(f.first_time("a", kT0));
    CHECK(f.first_time("b", kT0 + milliseconds(1)));
    CHECK(f.first_time("c", kT0 + milliseconds(2)));
    CHECK(f.size() == 3);
    CHECK(f.first_time("d", kT0 + milliseconds(3)));
    CHECK(f.size() == 3);
    CHECK_FALSE(f.seen("a"));
    CHECK(f.seen("b"));
    CHECK(f.seen("c"));
    CHECK(f.seen("d"));
    CHECK_FALSE(f.first_time("b", kT0 + milliseconds(4)));
    CHECK(f.first_time("a", kT0 + milliseconds(5)));  // forgotten, so new again
    CHECK_FALSE(f.seen("b"));
    CHECK(f.size() == 3);
  }

  TEST_CASE("memory stays bounded under many distinct keys") {
    DuplicateFilter f(hours(1), 1000);
    std::size_t largest = 0;
    int fresh = 0;
    for (int i = 0; i < 10000; ++i) {
      fresh += f.first_time("k" + std::to_string(i), kT0 + milliseconds(i)) ? 1 : 0;
      largest = std::max(largest, f.size());
    }
    CHECK(fresh == 10000);
    CHECK(largest == 1000);
    CHECK(f.size() == 1000);
    CHECK(f.seen("k9999"));
    CHECK(f.seen("k9000"));
    CHECK_FALSE(f.seen("k8999"));
  }
}

TEST_SUITE("reliable: IdGenerator") {
  TEST_CASE("ids are consecutive from the seed") {
    IdGenerator g(41);
    CHECK(g.next() == 41);
    CHECK(g.next() == 42);
    CHECK(g.next() == 43);
  }

  TEST_CASE("id 0 is never handed out, at the start or on wrap-around") {
    IdGenerator zero(0);
    CHECK(zero.next() == 1);
    CHECK(zero.next() == 2);

    const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    IdGenerator wrap(max - 1);
    CHECK(wrap.next() == max - 1);
    CHECK(wrap.next() == max);
    CHECK(wrap.next() == 1);
    CHECK(wrap.next() == 2);
  }

  TEST_CASE("ids are unique over a long run") {
    IdGenerator g(std::numeric_limits<std::uint64_t>::max() - 500);
    std::set<std::uint64_t> ids;
    for (int i = 0; i < 1000; ++i) {
      ids.insert(g.next());
    }
    CHECK(ids.size() == 1000);
    CHECK_FALSE(ids.contains(0));
  }
}
