// jittered_backoff.hpp: the delays between attempts to reach a server that
// stopped answering: exponential backoff with "equal jitter" (M. Brooker,
// "Exponential Backoff And Jitter", AWS Architecture Blog, 2015): the n-th
// delay (n = 0, 1, ...) is half of min(first * 2^n, max) plus a uniform
// random part of up to the other half, so that the clients of a restarted
// server do not all come back in the same instant.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>

#include "core/base/time.hpp"

namespace udpchat {

class JitteredBackoff {
 public:
  /// `first`, `max`: the bounds of the un-jittered delay (first <= max);
  /// `seed`: the jitter's generator (deterministic in tests).
  JitteredBackoff(Duration first, Duration max, std::uint64_t seed)
      : first_(first), max_(max), jitter_(seed) {}

  /// The delay before the next attempt, in [d/2, d] for d = min(first *
  /// 2^attempts(), max); counts the attempt.
  Duration next() {
    Duration base = first_;
    for (int i = 0; i < attempts_ && base < max_; ++i) base *= 2;
    base = std::min(base, max_);
    ++attempts_;
    const Duration half = base / 2;
    std::uniform_int_distribution<Duration::rep> spread(0, half.count());
    return half + Duration(spread(jitter_));
  }
  /// The next delay is the first one again (the server answered).
  void reset() { attempts_ = 0; }
  /// Delays given since the last reset.
  [[nodiscard]] int attempts() const { return attempts_; }

 private:
  Duration first_;
  Duration max_;
  int attempts_ = 0;
  std::mt19937_64 jitter_;
};

}  // namespace udpchat
