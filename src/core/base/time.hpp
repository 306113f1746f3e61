// time.hpp: the clock types the state machines are driven with.
//
// The core never reads a clock: every entry point takes `now`, so tests and
// simulations move time by hand (STYLE.md, "sans-I/O").
#pragma once

#include <chrono>

namespace udpchat {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;
using std::chrono::milliseconds;

}  // namespace udpchat
