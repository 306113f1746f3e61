// A backoff policy with a cap (core/reliable/reliable.hpp): the spacing doubles up
// to the cap and then stays, and the datagram is given up one spacing after
// its last try. Used for table updates to online clients (server_table.cpp).
// And the jittered backoff of a client's registration attempts once its server
// was lost (core/reliable/jittered_backoff.hpp).
#include <doctest/doctest.h>

#include <set>

#include "core/reliable/jittered_backoff.hpp"
#include "core/reliable/reliable.hpp"

using namespace udpchat;
using namespace std::chrono_literals;

TEST_CASE("backoff with a cap: tries at 0, 0.5, 1.5, 3.5, 5.5, 7.5 s; given up at 9.5 s") {
  ReliableSender sender;
  std::vector<Outgoing> out;
  const Endpoint to{"127.0.0.1", 7000};
  const TimePoint t0{};
  sender.send(1, to, "x", RetryPolicy::backoff(500ms, 6, 2s), t0, out);
  std::vector<Duration> sent_at{Duration::zero()};
  bool expired = false;
  for (auto t = t0; t <= t0 + 12s && !expired; t += 10ms) {
    out.clear();
    expired = !sender.poll(t, out).empty();
    if (!out.empty()) sent_at.push_back(t - t0);
    if (expired) CHECK(t - t0 == 9500ms);
  }
  CHECK(expired);
  CHECK(sent_at == std::vector<Duration>{0ms, 500ms, 1500ms, 3500ms, 5500ms, 7500ms});
  // Without a cap the same policy doubles on: 0, 0.5, 1.5, 3.5, 7.5, 15.5 s.
  CHECK(RetryPolicy::backoff(500ms, 6).backoff_spacing(5) == 8s);
  CHECK(RetryPolicy::backoff(500ms, 6, 2s).backoff_spacing(5) == 2s);
}

TEST_CASE("jittered backoff: each delay in [d/2, d], d doubling from the first to the cap") {
  JitteredBackoff backoff(1s, 30s, 7);
  const std::vector<Duration> caps{1s, 2s, 4s, 8s, 16s, 30s, 30s, 30s};
  for (std::size_t i = 0; i < caps.size(); ++i) {
    const Duration d = backoff.next();
    CHECK(d >= caps[i] / 2);
    CHECK(d <= caps[i]);
    CHECK(backoff.attempts() == static_cast<int>(i + 1));
  }
  backoff.reset();
  CHECK(backoff.attempts() == 0);
  CHECK(backoff.next() <= 1s);
  // The jitter spreads the clients of one restarted server: 100 seeds do
  // not all pick the same first delay.
  std::set<Duration::rep> firsts;
  for (std::uint64_t seed = 0; seed < 100; ++seed)
    firsts.insert(JitteredBackoff(1s, 30s, seed).next().count());
  CHECK(firsts.size() > 50);
}
