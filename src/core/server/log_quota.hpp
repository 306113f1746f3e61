// log_quota.hpp: how many of one client's channel or group messages one
// log keeps while some member has not read them (--max-log-posts,
// docs/MANUAL.md "Limits"; docs/DECISIONS.md "Bounded storage").
//
// The mailbox's --max-stored bounds what waits for one recipient; this
// bounds what one sender leaves in one log. A log row stays until every
// member read it (the trim, server_groups.cpp), so a member away for days
// holds every post made meanwhile: with this quota each poster adds at
// most `per_log` of them, and the next is refused with one line until the
// absent member reads or its retention runs out. Another poster is not
// held back by the flooder's quota.
//
// Entries are the untrimmed posts themselves, (seq, message id), oldest
// first: the trim pops them (`trimmed`), and a retransmission of a post
// stored already passes (refusing it would tell its sender wrongly that
// it was not kept).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <utility>

namespace udpchat {

class LogQuota {
 public:
  /// At most `per_log` untrimmed posts per (log, sender); 0: no limit.
  explicit LogQuota(std::size_t per_log) : per_log_(per_log) {}

  /// True if `sender_key` may post message `mid` to log `log_key`: under
  /// its quota (saves in flight counted), or a repeat of a post it keeps.
  [[nodiscard]] bool admits(const std::string& log_key, const std::string& sender_key,
                            std::uint64_t mid) const {
    if (per_log_ == 0) return true;
    const auto it = posts_.find({log_key, sender_key});
    if (it == posts_.end()) return true;
    const Posts& p = it->second;
    if (p.kept.size() + p.saving < per_log_) return true;
    // The post retransmitted is its newest (a client has one post in flight
    // per log, its queue per peer or channel): a few from the end suffice.
    const auto recent = p.kept.size() > static_cast<std::size_t>(kRecent)
                            ? p.kept.end() - kRecent
                            : p.kept.begin();
    return mid != 0 && std::any_of(recent, p.kept.end(),
                                   [mid](const Kept& k) { return k.mid == mid; });
  }

  /// A save of a post was issued.
  void saving(const std::string& log_key, const std::string& sender_key) {
    if (per_log_ == 0) return;
    ++posts_[{log_key, sender_key}].saving;
  }

  /// The save ended: `stored` if it made a new row (`seq`, `mid`), not
  /// if it failed or was a duplicate.
  void saved(const std::string& log_key, const std::string& sender_key, bool stored,
             std::int64_t seq, std::uint64_t mid) {
    if (per_log_ == 0) return;
    const auto it = posts_.find({log_key, sender_key});
    if (it == posts_.end()) return;
    Posts& p = it->second;
    if (p.saving > 0) --p.saving;
    if (stored) keep(p, seq, mid);
    if (p.kept.empty() && p.saving == 0) posts_.erase(it);
  }

  /// A post found in the store at start (StoredState::log_posts).
  void loaded(const std::string& log_key, const std::string& sender_key, std::int64_t seq,
              std::uint64_t mid) {
    if (per_log_ == 0) return;
    keep(posts_[{log_key, sender_key}], seq, mid);
  }

  /// Every log row up to `upto` was trimmed.
  void trimmed(std::int64_t upto) {
    for (auto it = posts_.begin(); it != posts_.end();) {
      auto& kept = it->second.kept;
      while (!kept.empty() && kept.front().seq <= upto) kept.pop_front();
      it = kept.empty() && it->second.saving == 0 ? posts_.erase(it) : std::next(it);
    }
  }

  /// Untrimmed posts of `sender_key` in `log_key` (saves in flight not counted).
  [[nodiscard]] std::size_t kept(const std::string& log_key, const std::string& sender_key) const {
    const auto it = posts_.find({log_key, sender_key});
    return it == posts_.end() ? 0 : it->second.kept.size();
  }
  [[nodiscard]] std::size_t per_log() const { return per_log_; }

 private:
  static constexpr std::ptrdiff_t kRecent = 4;
  struct Kept {
    std::int64_t seq;
    std::uint64_t mid;
  };
  struct Posts {
    std::deque<Kept> kept;  ///< in seq order
    std::size_t saving = 0;
  };
  static void keep(Posts& p, std::int64_t seq, std::uint64_t mid) {
    // Completions come in seq order (one FIFO writer); kept sorted anyway.
    auto at = p.kept.end();
    while (at != p.kept.begin() && std::prev(at)->seq > seq) --at;
    p.kept.insert(at, Kept{seq, mid});
  }

  std::size_t per_log_;
  std::map<std::pair<std::string, std::string>, Posts> posts_;
};

}  // namespace udpchat
