// loadgen_saves.hpp: udpchat_loadgen's "saves" mode (durable saves per
// second, many senders), in one process or spread over several.
#pragma once

#include "bench/loadgen_options.hpp"

namespace udpchat::bench {

/// Runs the saves mode of `o` (loadgen.cpp's opening comment); prints the
/// rate, the CPU per save and, with --heartbeats, the request round trips.
/// Returns 0 when every save was acknowledged as saved.
int saves(const Options& o);

}  // namespace udpchat::bench
