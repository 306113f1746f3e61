// replay_window.hpp: anti-replay for datagrams numbered by a 64-bit counter.
//
// Source: RFC 6479 ("IPsec Anti-Replay Algorithm without Bit Shifting"),
// the sliding window of IPsec ESP (RFC 4303 section 3.4.3) that WireGuard
// also uses. A datagram is accepted once, and only while its counter is
// within kSize of the highest counter accepted so far: a replayed copy, or
// one older than the window, is refused whatever its contents.
#pragma once

#include <bitset>
#include <cstdint>

namespace udpchat::crypto {

class ReplayWindow {
 public:
  /// Counters remembered behind the highest accepted one. A datagram
  /// reordered by more than this many is dropped (and retransmitted by the
  /// reliable layer above, which gives it a new counter).
  static constexpr std::uint64_t kSize = 2048;

  /// True if `counter` was never accepted and is not too old. Ask before
  /// decrypting (cheap), `accept` only after the datagram authenticated, so
  /// a forged datagram cannot move the window.
  [[nodiscard]] bool fresh(std::uint64_t counter) const {
    if (!any_ || counter > highest_) return true;
    if (highest_ - counter >= kSize) return false;
    return !seen_[counter % kSize];
  }
  /// Records `counter` (which must be fresh).
  void accept(std::uint64_t counter) {
    if (!any_) {
      any_ = true;
      highest_ = counter;
    } else if (counter > highest_) {
      if (counter - highest_ >= kSize) {
        seen_.reset();
      } else {
        for (std::uint64_t c = highest_ + 1; c <= counter; ++c) seen_[c % kSize] = false;
      }
      highest_ = counter;
    }
    seen_[counter % kSize] = true;
  }
  /// The highest counter accepted (0 before any).
  [[nodiscard]] std::uint64_t highest() const { return highest_; }

 private:
  std::bitset<kSize> seen_;
  std::uint64_t highest_ = 0;
  bool any_ = false;
};

}  // namespace udpchat::crypto
