// Unit tests of src/core/reliable/reliable.hpp: the RFC 6298 estimator, the sender
// that retransmits until acked, the duplicate filter and the id generator.
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

using namespace udpchat;  // NOLINT(google-build-using-namespace): test file
using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;

namespace {

const TimePoint kT0 = TimePoint{} + hours(1);
const Endpoint kBob{"10.0.0.2", 5000};
const Endpoint kBobOtherPort{"10.0.0.2", 5001};
const Endpoint kEve{"10.0.0.3", 5000};
const Endpoint kCarol{"::1", 6000};

// One datagram as seen on the wire, with the time it left.
struct Sent {
  TimePoint at;
  Outgoing datagram;
};

// Drives `s` from deadline to deadline until nothing is pending, recording
// every retransmission and every expiry.
struct Run {
  std::vector<Sent> sent;
  std::vector<std::pair<TimePoint, std::uint64_t>> expired;
};

Run run_to_completion(ReliableSender& s) {
  Run r;
  int guard = 0;
  while (const auto deadline = s.next_deadline()) {
    REQUIRE(++guard < 1000);
    std::vector<Outgoing> out;
    for (const std::uint64_t id : s.poll(*deadline, out)) {
      r.expired.emplace_back(*deadline, id);
    }
    for (auto& o : out) {
      r.sent.push_back({*deadline, std::move(o)});
    }
  }
  return r;
}

}  // namespace

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
    CHECK(s.resend_to(kBob, out) == 2);
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
