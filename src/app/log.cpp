// log.cpp: the shells' log through spdlog (manual §6.2).
//
// On a terminal or a file: "YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL text" on stderr,
// in UTC. Under systemd, when stderr is the journal's stream (JOURNAL_STREAM
// names its device and inode, systemd.exec(5)), each record instead starts
// with its syslog priority, "<6>text" (sd-daemon(3)), and no time: the
// journal stores the priority and adds the time itself.
#include <sys/stat.h>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "app/shell.hpp"

namespace udpchat {

namespace {

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return spdlog::level::trace;
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      break;
  }
  return spdlog::level::err;
}

/// %L of our own: the level as the manual prints it, padded to 5 ("INFO ").
class LevelFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string_view name = "ERROR";
    switch (msg.level) {
      case spdlog::level::trace:
        name = "TRACE";
        break;
      case spdlog::level::debug:
        name = "DEBUG";
        break;
      case spdlog::level::info:
        name = "INFO ";
        break;
      case spdlog::level::warn:
        name = "WARN ";
        break;
      default:
        break;
    }
    dest.append(name.data(), name.data() + name.size());
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<LevelFlag>();
  }
};

/// %P: the sd-daemon(3) priority prefix, "<3>" (err) to "<7>" (debug).
class PriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    char p = '3';
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        p = '7';
        break;
      case spdlog::level::info:
        p = '6';
        break;
      case spdlog::level::warn:
        p = '4';
        break;
      default:
        break;
    }
    const char prefix[] = {'<', p, '>'};
    dest.append(prefix, prefix + 3);
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<PriorityFlag>();
  }
};

std::shared_ptr<spdlog::logger> make_logger() {
  auto logger = std::make_shared<spdlog::logger>("udpchat",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (stderr_is_journal()) {
    formatter->add_flag<PriorityFlag>('P').set_pattern("%P%v");
  } else {
    formatter->add_flag<LevelFlag>('L').set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %L %v");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(spdlog::level::trace);  // write_log filters by its threshold
  logger->flush_on(spdlog::level::trace);   // every record at once, as before
  return logger;
}

}  // namespace

bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  return std::string(stream) == std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

void write_log(LogLevel threshold, LogLevel level, const std::string& text) {
  if (level < threshold) return;
  static const std::shared_ptr<spdlog::logger> logger = make_logger();
  logger->log(to_spdlog(level), "{}", text);
}

}  // namespace udpchat
