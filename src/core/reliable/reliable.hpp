// reliable.hpp: the building blocks of reliable delivery over datagrams.
//
//  - RttEstimator: smoothed round trip and retransmission timeout, RFC 6298.
//  - ReliableSender: datagrams that expect an ack, retransmitted with the
//    same transport id until acked or until their window closes.
//  - DuplicateFilter: remembers which (sender, message id) keys were acted
//    on, so a receiver acks every copy and acts on the first only.
//
// None of them does I/O; the caller passes `now` and sends what they return.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/base/time.hpp"
#include "protocol/endpoint.hpp"

namespace udpchat {

/// A datagram to put on the wire.
struct Outgoing {
  Endpoint to;
  std::string bytes;
};

/// Retransmission timeout estimator of RFC 6298 section 2, with Karn's
/// algorithm left to the caller (feed only samples of datagrams that were
/// sent once). Units: std::chrono durations.
class RttEstimator {
 public:
  /// Records one round-trip sample `rtt` (>= 0).
  void sample(Duration rtt);
  /// RTO = SRTT + max(G, 4 * RTTVAR), clamped to [kMinRto, ceiling]; before
  /// any sample, kInitialRto clamped likewise. G (clock granularity) is 1 ms.
  [[nodiscard]] Duration rto(Duration ceiling) const;
  [[nodiscard]] std::optional<Duration> smoothed() const { return srtt_; }

 private:
  std::optional<Duration> srtt_;
  Duration rttvar_{};
};

/// How one datagram is retried.
///  - fixed interval (`adaptive` false): tried `max_attempts` times,
///    `interval` apart, and given up `interval` after the last try
///    (manual §5: requests to the server, 5 tries 500 ms apart).
///  - adaptive (`adaptive` true): retransmitted every RTO of the destination
///    (RFC 6298) but given up `window` after the first send, so one lost
///    datagram does not exceed the ack window (manual §4: 500 ms).
///  - backoff (`doubling` true): like fixed, but the spacing doubles after
///    each try (first, 2 first, 4 first...): for news that should reach a
///    peer that may be cut off for a while, without flooding it.
struct RetryPolicy {
  bool adaptive = false;
  Duration interval{};  ///< fixed: spacing; adaptive: the window; backoff: first spacing
  int max_attempts = 1;
  bool doubling = false;
  Duration max_interval{};  ///< backoff: the spacing stops doubling here (0: never)

  static RetryPolicy fixed(Duration spacing, int attempts) {
    return {false, spacing, attempts, false, {}};
  }
  static RetryPolicy window(Duration window) { return {true, window, 64, false, {}}; }
  /// `cap`: the spacing doubles up to it, then stays (0: no cap).
  static RetryPolicy backoff(Duration first, int attempts, Duration cap = {}) {
    return {false, first, attempts, true, cap};
  }
  /// The spacing after try `n` (1-based) of a backoff policy.
  [[nodiscard]] Duration backoff_spacing(int n) const {
    const Duration d = interval * (1LL << std::min(n - 1, 20));
    return max_interval > Duration::zero() && d > max_interval ? max_interval : d;
  }
};

/// Keeps datagrams that expect an acknowledgement and retransmits them.
///
/// Transport ids must be unique among pending datagrams. An ack counts only
/// when it comes from the endpoint the datagram was sent to. Memory: one
/// entry per pending datagram; RTT state per destination, bounded.
class ReliableSender {
 public:
  /// Sends `bytes` to `to` now (appended to `out`) and keeps it for
  /// retransmission under `policy`. A pending datagram with the same `id` is
  /// replaced.
  void send(std::uint64_t id, const Endpoint& to, std::string bytes, RetryPolicy policy,
            TimePoint now, std::vector<Outgoing>& out);

  /// Marks `id` acknowledged by `from`. Returns false if it was not pending
  /// or `from` is not its destination (then nothing changes).
  bool acknowledge(std::uint64_t id, const Endpoint& from, TimePoint now);

  /// Starts the timers of pending `id` again from `now`, as if it had just
  /// been sent, without sending it; false if it is not pending.
  bool restart(std::uint64_t id, TimePoint now);

  /// Sends again at `now` every datagram pending for `to` (into `out`, in
  /// id order: the order they were first sent when ids grow), without
  /// counting a try; returns how many. For a path that just came up (the
  /// secure session with the server): what waited for it goes at once
  /// rather than at its next retransmission, and what was given up
  /// meanwhile is not among it. Each copy sent gets the time a try is given
  /// to be answered (the policy's interval, its current backoff spacing, or
  /// the RTO) before its datagram is given up: a copy sent just before the
  /// give-up time would otherwise be declared lost while its answer is on
  /// the way, and the caller would report a failure for a request the peer
  /// carried out.
  std::size_t resend_to(const Endpoint& to, TimePoint now, std::vector<Outgoing>& out);

  /// Moves pending `id` to the destination `to` (a better path to the
  /// same peer found while it waits, docs/NAT.md) and sends it there now,
  /// without counting a try (no RTT sample: Karn). Its next retransmission
  /// is one try's time away, and it gets at least that long to be answered
  /// before it is given up, as resend_to gives. `bytes`, if given, replace
  /// the datagram (the same message wrapped for another path, such as a
  /// relay). False if `id` is not pending.
  bool redirect(std::uint64_t id, const Endpoint& to, TimePoint now, std::vector<Outgoing>& out,
                std::optional<std::string> bytes = std::nullopt);

  /// Forgets `id` without an ack (e.g. a table superseded by a newer one).
  bool cancel(std::uint64_t id);

  /// Retransmits what is due (into `out`) and returns the ids whose window
  /// closed without an ack, in deadline order. Those are forgotten.
  std::vector<std::uint64_t> poll(TimePoint now, std::vector<Outgoing>& out);

  /// The earliest time `poll` has work, if anything is pending.
  [[nodiscard]] std::optional<TimePoint> next_deadline() const;

  [[nodiscard]] bool pending(std::uint64_t id) const { return entries_.contains(id); }
  /// Where pending `id` goes, if it is pending.
  [[nodiscard]] std::optional<Endpoint> destination(std::uint64_t id) const {
    const auto it = entries_.find(id);
    if (it == entries_.end()) return std::nullopt;
    return it->second.to;
  }
  [[nodiscard]] std::size_t size() const { return entries_.size(); }
  /// Number of retransmissions made so far (statistics).
  [[nodiscard]] std::uint64_t retransmissions() const { return retransmissions_; }
  /// The estimator for `to` (created on first use).
  RttEstimator& rtt(const Endpoint& to);

 private:
  struct Entry {
    Endpoint to;
    std::string bytes;
    RetryPolicy policy;
    TimePoint first_sent;
    TimePoint give_up;
    TimePoint next_send;
    int attempts = 0;
    bool resent = false;  ///< sent again outside poll(): no RTT sample (Karn)
  };
  using Key = std::pair<TimePoint, std::uint64_t>;
  [[nodiscard]] TimePoint wake_time(const Entry& e) const;
  /// The time one try of `e` is given to be answered: its policy's
  /// spacing, its current backoff spacing, or the RTO of its destination.
  [[nodiscard]] Duration answer_time(const Entry& e);
  /// Sets e's give-up and next-send times for a first send at `now`.
  void arm(Entry& e, TimePoint now);
  void schedule(std::uint64_t id, const Entry& e);
  void unschedule(std::uint64_t id, const Entry& e);

  std::unordered_map<std::uint64_t, Entry> entries_;
  std::set<Key> timeline_;
  std::unordered_map<Endpoint, RttEstimator, EndpointHash> rtt_;
  std::uint64_t retransmissions_ = 0;
};

/// Remembers keys for `ttl`, at most `capacity` of them (oldest forgotten
/// first). `first_time` is the receiver half of exactly-once display.
class DuplicateFilter {
 public:
  DuplicateFilter(Duration ttl, std::size_t capacity) : ttl_(ttl), capacity_(capacity) {}
  /// True the first time `key` is seen (and remembers it); false for a
  /// duplicate still remembered.
  bool first_time(const std::string& key, TimePoint now);
  [[nodiscard]] bool seen(const std::string& key) const { return keys_.contains(key); }
  [[nodiscard]] std::size_t size() const { return keys_.size(); }

 private:
  void expire(TimePoint now);
  Duration ttl_;
  std::size_t capacity_;
  std::deque<std::pair<TimePoint, std::string>> order_;
  std::unordered_set<std::string> keys_;
};

/// Hands out transport and message ids: a 64-bit counter that starts at a
/// random `seed`, so ids stay unique across restarts of the same client.
class IdGenerator {
 public:
  explicit IdGenerator(std::uint64_t seed) : next_(seed == 0 ? 1 : seed) {}
  std::uint64_t next() {
    const std::uint64_t id = next_++;
    if (next_ == 0) next_ = 1;
    return id;
  }

 private:
  std::uint64_t next_;
};

}  // namespace udpchat
