// loadgen_soak.hpp: udpchat_loadgen's "soak" mode: a long run of channel
// posts among online members, for the server's data directory size
// (bench/bench_soak.py watches it while this runs).
#pragma once

#include "bench/loadgen_options.hpp"

namespace udpchat::bench {

/// Runs the soak mode of `o` (loadgen.cpp's opening comment): --clients
/// members register, the first --senders of them post --messages channel
/// messages in all (--batch in flight each), every member shows every post
/// not its own. Prints a progress line every tenth and the result line.
/// Returns 0 when every post was acknowledged and shown exactly once.
int soak(const Options& o);

}  // namespace udpchat::bench
