// measure.hpp: what the benchmarks measure with: elapsed time and
// percentiles of samples, in microseconds or seconds.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include "core/base/time.hpp"

namespace udpchat::bench {

inline double seconds_since(TimePoint t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// CPU time this process has used so far (user + system, all threads), s.
inline double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return s(u.ru_utime) + s(u.ru_stime);
}

/// CPU time process `pid` has used so far (user + system, all its threads),
/// in seconds, from /proc/PID/stat (fields 14 and 15, in clock ticks: 10 ms
/// here). NaN when it cannot be read (no such process).
inline double process_cpu_seconds(long pid) {
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f == nullptr) return std::numeric_limits<double>::quiet_NaN();
  char line[2048] = {};
  const bool got = std::fgets(line, sizeof line, f) != nullptr;
  std::fclose(f);
  // The command name (field 2) may hold spaces: count fields after its ')'.
  const char* p = got ? std::strrchr(line, ')') : nullptr;
  if (p == nullptr) return std::numeric_limits<double>::quiet_NaN();
  unsigned long long utime = 0, stime = 0;
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                  &stime) != 2) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

/// Where the CPU of a measured window went: the server's (when its pid is
/// known) and this load generator's, in all and per operation.
struct CpuWindow {
  long server_pid = 0;
  double server0 = 0, self0 = 0;

  explicit CpuWindow(long pid)
      : server_pid(pid), server0(pid > 0 ? process_cpu_seconds(pid) : 0), self0(cpu_seconds()) {}

  /// "server CPU 0.41 s (20.5 us per delivery), load generator CPU 0.90 s
  /// (45.0 us per delivery)" for `ops` operations named `what`.
  [[nodiscard]] std::string report(std::size_t ops, const char* what) const {
    const double self = cpu_seconds() - self0;
    const double per = ops > 0 ? 1e6 / static_cast<double>(ops) : 0;
    char out[256];
    if (server_pid > 0) {
      const double server = process_cpu_seconds(server_pid) - server0;
      std::snprintf(out, sizeof out,
                    "server CPU %.2f s (%.1f us per %s), load generator CPU %.2f s (%.1f us per %s)",
                    server, server * per, what, self, self * per, what);
    } else {
      std::snprintf(out, sizeof out, "load generator CPU %.2f s (%.1f us per %s)", self,
                    self * per, what);
    }
    return out;
  }
};

struct Percentiles {
  double p50 = 0, p99 = 0;
};

/// Writes one sample a line (for the plots); nothing when `path` is empty.
inline void write_samples(const std::string& path, const std::vector<double>& v) {
  if (path.empty()) return;
  if (std::FILE* f = std::fopen(path.c_str(), "w")) {
    for (const double x : v) std::fprintf(f, "%.2f\n", x);
    std::fclose(f);
  }
}

inline Percentiles percentiles(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  const auto at = [&v](double p) {
    return v[static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1))];
  };
  return {at(50), at(99)};
}

inline double us_since(TimePoint t) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t).count();
}

}  // namespace udpchat::bench
