// reliable_run.hpp: what the unit tests of the reliable layer share
// (tests/unit/test_reliable*.cpp): endpoints, a start time, and a driver that
// runs a ReliableSender from deadline to deadline.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/reliable/reliable.hpp"

namespace udpchat::test {


inline const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);
inline const Endpoint kBob{"10.0.0.2", 5000};
inline const Endpoint kBobOtherPort{"10.0.0.2", 5001};
inline const Endpoint kEve{"10.0.0.3", 5000};
inline const Endpoint kCarol{"::1", 6000};

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

inline Run run_to_completion(ReliableSender& s) {
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

}  // namespace udpchat::test
