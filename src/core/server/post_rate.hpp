// post_rate.hpp: how many channel and group messages one client may post
// (--max-posts-per-minute, docs/MANUAL.md "Limits").
//
// The generic cell rate algorithm (GCRA; ITU-T I.371, the ATM Forum's
// Traffic Management 4.0, and what redis-cell and many API gateways use):
// a token bucket of `per_minute` tokens that refills one token every
// minute / per_minute, kept as a single time per client, its "theoretical
// arrival time" (TAT). A post at `now` is allowed while TAT - now stays
// within the burst tolerance (per_minute - 1 emission intervals); each
// allowed post moves TAT one interval on. A client whose TAT is in the past
// has a full bucket, which is the state of a client never seen: its entry
// carries nothing and is forgotten, so memory follows the recent posters,
// not the registered clients.
//
// A post is retransmitted when its ack was lost; it was stored already, and
// refusing it would tell its sender so wrongly. So each entry remembers the
// message ids of its last few allowed posts (a client has one post in
// flight per channel or group it writes to), and those pass uncharged.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "core/base/time.hpp"

namespace udpchat {

class PostRate {
 public:
  /// At most `per_minute` posts a minute per client, all of them at once
  /// if its bucket is full; 0: no limit.
  explicit PostRate(std::size_t per_minute) : per_minute_(per_minute) {}

  /// Takes one post, message id `mid`, of client `key` at `now`: true if
  /// within its rate (or a repeat of one of its last allowed posts). When
  /// false, `retry_after` is how long until its next post is allowed.
  [[nodiscard]] bool take(const std::string& key, std::uint64_t mid, TimePoint now,
                          Duration& retry_after) {
    if (per_minute_ == 0) return true;
    const Duration interval = std::chrono::duration_cast<Duration>(std::chrono::minutes(1)) /
                              static_cast<std::int64_t>(per_minute_);
    const Duration tolerance = interval * static_cast<std::int64_t>(per_minute_ - 1);
    auto it = entries_.find(key);
    if (it != entries_.end() && mid != 0 &&
        std::ranges::find(it->second.recent, mid) != it->second.recent.end()) {
      return true;  // a retransmission of a post allowed already
    }
    const TimePoint tat = it == entries_.end() ? now : std::max(it->second.tat, now);
    if (tat - now > tolerance) {
      retry_after = tat - now - tolerance;
      return false;
    }
    if (it == entries_.end()) {
      sweep(now);
      it = entries_.emplace(key, Entry{}).first;
    }
    Entry& e = it->second;
    e.tat = tat + interval;
    e.recent[e.next_recent] = mid;
    e.next_recent = (e.next_recent + 1) % e.recent.size();
    return true;
  }

  /// Clients with an entry (those that posted within the last minute, at
  /// most; older ones are forgotten as the map grows).
  [[nodiscard]] std::size_t tracked() const { return entries_.size(); }
  [[nodiscard]] std::size_t per_minute() const { return per_minute_; }

 private:
  /// Forgets the entries whose bucket is full again, once the map has
  /// doubled since the last sweep (amortized O(1) per post).
  void sweep(TimePoint now) {
    if (entries_.size() < std::max<std::size_t>(64, 2 * after_sweep_)) return;
    std::erase_if(entries_, [now](const auto& e) { return e.second.tat <= now; });
    after_sweep_ = entries_.size();
  }

  struct Entry {
    TimePoint tat{};                       ///< theoretical arrival time of its next post
    std::array<std::uint64_t, 4> recent{};  ///< ids of its last allowed posts
    std::size_t next_recent = 0;
  };
  std::size_t per_minute_;
  std::unordered_map<std::string, Entry> entries_;
  std::size_t after_sweep_ = 0;
};

}  // namespace udpchat
