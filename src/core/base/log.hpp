// log.hpp: log records the state machines hand to their shell.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace udpchat {

enum class LogLevel : std::uint8_t { kTrace, kDebug, kInfo, kWarn, kError };

/// One event worth logging; the shell adds the timestamp and filters by level.
struct LogRecord {
  LogLevel level = LogLevel::kInfo;
  std::string text;
};

/// "trace" | "debug" | "info" | "warn" | "error" -> level; nullopt otherwise.
std::optional<LogLevel> parse_log_level(std::string_view name);
/// The upper-case name of `level` ("INFO").
const char* to_string(LogLevel level);

}  // namespace udpchat
