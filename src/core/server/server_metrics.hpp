// server_metrics.hpp: the server's statistics (manual §6.3) as an
// OpenMetrics text exposition, for `--metrics ADDR:PORT` (manual §6.10).
//
// Format: OpenMetrics 1.0 (https://github.com/OpenObservability/OpenMetrics,
// "OpenMetrics specification"), the text format Prometheus scrapes: one
// "# TYPE" and "# HELP" line per metric family, counters' samples suffixed
// "_total", labels for the kind of request, the cause of a drop and the
// session event, and "# EOF" at the end.
#pragma once

#include <cstdint>
#include <string>

#include "core/server/secure_server.hpp"

namespace udpchat {

/// Figures of the store writer thread, read by the shell (store_writer.hpp).
struct StoreWriterFigures {
  std::uint64_t commands = 0;      ///< store commands run
  std::uint64_t transactions = 0;  ///< group commits they took
};

/// The exposition of `server`'s statistics now. Call it on the thread that
/// owns `server` (the event loop): it reads the core's state.
[[nodiscard]] std::string openmetrics_text(SecureServer& server, const StoreWriterFigures& store);

/// The HTTP Content-Type of that text.
inline constexpr const char* kOpenMetricsContentType =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

}  // namespace udpchat
