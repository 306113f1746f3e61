// reconnect_state.hpp: what a client keeps while it registers again with a
// server that stopped answering or refused it (manual §6.6,
// client_reconnect.cpp), apart from ClientSession's other state.
#pragma once

#include <cstdint>
#include <optional>

#include "core/base/time.hpp"
#include "core/reliable/jittered_backoff.hpp"
#include "protocol/limits.hpp"

namespace udpchat {

struct ReconnectState {
  explicit ReconnectState(std::uint64_t seed) : backoff(kReconnectFirst, kReconnectMax, seed) {}

  std::optional<TimePoint> next_attempt;  ///< kReconnecting: next registration attempt
  std::uint64_t attempt_id = 0;           ///< the attempt in flight (0: none)
  /// manual §6.6: the delays between registration attempts once the
  /// server was lost, from kReconnectFirst doubling up to kReconnectMax.
  JitteredBackoff backoff;
  /// server_answered() restarts of the registration in flight (bounded).
  int answered_restarts = 0;
  static constexpr int kMaxAnsweredRestarts = 4;
  /// The registration in flight was typed (`reg`) or is the first one: a
  /// refusal ends it. Otherwise it is automatic, and a refusal that is not
  /// final is tried again after the backoff.
  bool typed = true;
  /// The server refused the last automatic attempt (its line was printed):
  /// hearing from the server then does not mean it has room; the backoff
  /// alone paces the next attempts.
  bool refused = false;
};

}  // namespace udpchat
