// measure.hpp: what the benchmarks measure with: elapsed time and
// percentiles of samples, in microseconds or seconds.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <sys/resource.h>

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
