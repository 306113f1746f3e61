#include "core/reliable/reliable.hpp"

#include <algorithm>

#include "protocol/limits.hpp"

namespace udpchat {

// --- RttEstimator (RFC 6298 section 2) ---------------------------------------

void RttEstimator::sample(Duration rtt) {
  if (rtt < Duration::zero()) {
    rtt = Duration::zero();
  }
  if (!srtt_) {
    srtt_ = rtt;        // (2.2) SRTT <- R
    rttvar_ = rtt / 2;  //       RTTVAR <- R/2
    return;
  }
  const Duration err = *srtt_ > rtt ? *srtt_ - rtt : rtt - *srtt_;
  rttvar_ = (rttvar_ * 3 + err) / 4;  // (2.3) beta = 1/4
  srtt_ = (*srtt_ * 7 + rtt) / 8;     //       alpha = 1/8
}

Duration RttEstimator::rto(Duration ceiling) const {
  Duration r = kInitialRto;
  if (srtt_) {
    r = *srtt_ + std::max<Duration>(milliseconds(1), rttvar_ * 4);
  }
  return std::clamp<Duration>(r, kMinRto, std::max<Duration>(kMinRto, ceiling));
}

// --- ReliableSender ----------------------------------------------------------

RttEstimator& ReliableSender::rtt(const Endpoint& to) {
  if (rtt_.size() > 65536 && !rtt_.contains(to)) {
    rtt_.clear();  // bounded: forget every estimate rather than grow forever
  }
  return rtt_[to];
}

TimePoint ReliableSender::wake_time(const Entry& e) const {
  if (e.attempts >= e.policy.max_attempts) {
    return e.give_up;
  }
  return std::min(e.next_send, e.give_up);
}

void ReliableSender::schedule(std::uint64_t id, const Entry& e) {
  timeline_.emplace(wake_time(e), id);
}

void ReliableSender::unschedule(std::uint64_t id, const Entry& e) {
  timeline_.erase({wake_time(e), id});
}

void ReliableSender::send(std::uint64_t id, const Endpoint& to, std::string bytes,
                          RetryPolicy policy, TimePoint now, std::vector<Outgoing>& out) {
  cancel(id);
  Entry e{to, std::move(bytes), policy, now, now, now, 1};
  arm(e, now);
  out.push_back({e.to, e.bytes});
  schedule(id, e);
  entries_.emplace(id, std::move(e));
}

bool ReliableSender::restart(std::uint64_t id, TimePoint now) {
  const auto it = entries_.find(id);
  if (it == entries_.end()) {
    return false;
  }
  unschedule(id, it->second);
  it->second.first_sent = now;
  it->second.attempts = 1;
  it->second.resent = true;  // an ack may answer the send before
  arm(it->second, now);
  schedule(id, it->second);
  return true;
}

std::size_t ReliableSender::resend_to(const Endpoint& to, TimePoint now,
                                      std::vector<Outgoing>& out) {
  std::vector<std::uint64_t> ids;
  for (const auto& [id, e] : entries_) {
    if (e.to == to) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  for (const std::uint64_t id : ids) {
    Entry& e = entries_.at(id);
    e.resent = true;
    out.push_back({to, e.bytes});
    const Duration answer = answer_time(e);
    if (e.give_up < now + answer) {
      unschedule(id, e);
      e.give_up = now + answer;
      schedule(id, e);
    }
  }
  retransmissions_ += ids.size();
  return ids.size();
}

bool ReliableSender::redirect(std::uint64_t id, const Endpoint& to, TimePoint now,
                              std::vector<Outgoing>& out, std::optional<std::string> bytes) {
  const auto it = entries_.find(id);
  if (it == entries_.end()) return false;
  Entry& e = it->second;
  unschedule(id, e);
  e.to = to;
  if (bytes) e.bytes = std::move(*bytes);
  e.resent = true;
  out.push_back({to, e.bytes});
  ++retransmissions_;
  const Duration answer = answer_time(e);
  e.next_send = now + answer;
  if (e.give_up < now + answer) e.give_up = now + answer;
  schedule(id, e);
  return true;
}

Duration ReliableSender::answer_time(const Entry& e) {
  const RetryPolicy& policy = e.policy;
  return policy.adaptive   ? rtt(e.to).rto(policy.interval / 2)
         : policy.doubling ? policy.backoff_spacing(e.attempts)
                           : policy.interval;
}

void ReliableSender::arm(Entry& e, TimePoint now) {
  const RetryPolicy& policy = e.policy;
  const Endpoint& to = e.to;
  if (policy.adaptive) {
    e.give_up = now + policy.interval;
    e.next_send = now + rtt(to).rto(policy.interval / 2);
  } else if (policy.doubling) {
    // Tries at 0, 1, 3, 7... x interval (each spacing at most the cap);
    // given up one spacing after the last.
    Duration total{};
    for (int n = 1; n <= policy.max_attempts; ++n) total += policy.backoff_spacing(n);
    e.give_up = now + total;
    e.next_send = now + policy.backoff_spacing(1);
  } else {
    e.give_up = now + policy.interval * policy.max_attempts;
    e.next_send = now + policy.interval;
  }
}

bool ReliableSender::acknowledge(std::uint64_t id, const Endpoint& from, TimePoint now) {
  const auto it = entries_.find(id);
  if (it == entries_.end() || it->second.to != from) {
    return false;
  }
  if (it->second.attempts == 1 && !it->second.resent) {
    rtt(from).sample(now - it->second.first_sent);  // Karn: unambiguous samples only
  }
  unschedule(id, it->second);
  entries_.erase(it);
  return true;
}

bool ReliableSender::cancel(std::uint64_t id) {
  const auto it = entries_.find(id);
  if (it == entries_.end()) {
    return false;
  }
  unschedule(id, it->second);
  entries_.erase(it);
  return true;
}

std::vector<std::uint64_t> ReliableSender::poll(TimePoint now, std::vector<Outgoing>& out) {
  std::vector<std::uint64_t> expired;
  while (!timeline_.empty() && timeline_.begin()->first <= now) {
    const std::uint64_t id = timeline_.begin()->second;
    timeline_.erase(timeline_.begin());
    auto& e = entries_.at(id);
    if (now >= e.give_up) {
      expired.push_back(id);
      entries_.erase(id);
      continue;
    }
    // Retransmit with the same id and bytes.
    out.push_back({e.to, e.bytes});
    ++e.attempts;
    ++retransmissions_;
    if (e.policy.adaptive) {
      // Exponential backoff (RFC 6298 5.5), still bounded by the window.
      const Duration base = rtt(e.to).rto(e.policy.interval / 2);
      e.next_send = now + base * (1 << std::min(e.attempts - 1, 4));
    } else if (e.policy.doubling) {
      e.next_send = now + e.policy.backoff_spacing(e.attempts);
    } else {
      e.next_send = now + e.policy.interval;
    }
    schedule(id, e);
  }
  return expired;
}

std::optional<TimePoint> ReliableSender::next_deadline() const {
  if (timeline_.empty()) {
    return std::nullopt;
  }
  return timeline_.begin()->first;
}

// --- DuplicateFilter ---------------------------------------------------------

void DuplicateFilter::expire(TimePoint now) {
  while (!order_.empty() && (order_.front().first + ttl_ <= now || order_.size() > capacity_)) {
    keys_.erase(order_.front().second);
    order_.pop_front();
  }
}

bool DuplicateFilter::first_time(const std::string& key, TimePoint now) {
  expire(now);
  if (keys_.contains(key)) {
    return false;
  }
  keys_.insert(key);
  order_.emplace_back(now, key);
  expire(now);
  return true;
}

}  // namespace udpchat
