// rate_limit.hpp: token buckets (manual §9, rate limits).
//
// A bucket holds up to `burst` tokens and gains `rate` per second; each
// datagram takes one, and a datagram that finds the bucket empty is
// dropped. The classic token bucket of traffic shaping (J. Turner, "New
// directions in communications", IEEE Communications Magazine, 1986; the
// "token bucket filter" of Linux's tc-tbf(8)).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <list>
#include <unordered_map>

#include "core/base/time.hpp"
#include "protocol/endpoint.hpp"

namespace udpchat {

class TokenBucket {
 public:
  /// `rate` tokens per second, at most `burst`; starts full.
  TokenBucket(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {}

  /// Takes one token at time `now` if there is one.
  [[nodiscard]] bool take(TimePoint now) {
    refill(now);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

 private:
  void refill(TimePoint now) {
    if (!started_) {
      started_ = true;
      last_ = now;
      return;
    }
    if (now <= last_) return;
    const double seconds = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + seconds * rate_);
    last_ = now;
  }

  double rate_;
  double burst_;
  double tokens_;
  TimePoint last_{};
  bool started_ = false;
};

/// One bucket per source endpoint, at most `capacity` of them: the one
/// used least recently is forgotten first (LRU), so memory stays bounded
/// however many sources a flood forges.
class RateLimiter {
 public:
  RateLimiter(double rate, double burst, std::size_t capacity)
      : rate_(rate), burst_(burst), capacity_(std::max<std::size_t>(capacity, 1)) {}

  /// True if a datagram from `from` at `now` is within its rate.
  [[nodiscard]] bool allow(const Endpoint& from, TimePoint now) {
    auto it = buckets_.find(from);
    if (it == buckets_.end()) {
      if (buckets_.size() >= capacity_) {
        buckets_.erase(order_.back());
        order_.pop_back();
      }
      order_.push_front(from);
      it = buckets_.emplace(from, Entry{TokenBucket(rate_, burst_), order_.begin()}).first;
    } else {
      order_.splice(order_.begin(), order_, it->second.position);
    }
    return it->second.bucket.take(now);
  }

  [[nodiscard]] std::size_t size() const { return buckets_.size(); }

 private:
  struct Entry {
    TokenBucket bucket;
    std::list<Endpoint>::iterator position;
  };
  double rate_;
  double burst_;
  std::size_t capacity_;
  std::list<Endpoint> order_;  ///< most recently used first
  std::unordered_map<Endpoint, Entry, EndpointHash> buckets_;
};

}  // namespace udpchat
