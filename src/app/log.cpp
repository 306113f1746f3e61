#include <chrono>
#include <cstdio>
#include <ctime>

#include "app/shell.hpp"

namespace udpchat {

void write_log(LogLevel threshold, LogLevel level, const std::string& text) {
  if (level < threshold) {
    return;
  }
  const auto now = std::chrono::system_clock::now();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::fprintf(stderr, "%s.%03dZ %-5s %s\n", stamp, static_cast<int>(ms % 1000), to_string(level),
               text.c_str());
  std::fflush(stderr);
}

}  // namespace udpchat
