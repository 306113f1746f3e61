// A backoff policy with a cap (core/reliable/reliable.hpp): the spacing doubles up
// to the cap and then stays, and the datagram is given up one spacing after
// its last try. Used for table updates to online clients (server_table.cpp).
#include <doctest/doctest.h>

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
