// log.cpp: the shells' log through spdlog (manual §4.8, §6.2).
//
// On a terminal or a file: "YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL text" on stderr,
// in UTC. Under systemd, when stderr is the journal's stream (JOURNAL_STREAM
// names its device and inode, systemd.exec(5)), each record instead starts
// with its syslog priority, "<6>text" (sd-daemon(3)), and no time: the
// journal stores the priority and adds the time itself.
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
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

/// The log file's bounds (manual §4.8): a file of 1 MiB at most, then
/// renamed alice.1.log (the one before to alice.2.log: spdlog's rotating
/// sink), so a client's log never holds
/// more than 3 MiB however long it runs.
constexpr std::size_t kLogFileBytes = 1024 * 1024;
constexpr std::size_t kLogFiles = 2;  ///< rotated files kept beside the current one

std::shared_ptr<spdlog::logger> make_logger(spdlog::sink_ptr sink, bool journal) {
  auto logger = std::make_shared<spdlog::logger>("udpchat", std::move(sink));
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (journal) {
    formatter->add_flag<PriorityFlag>('P').set_pattern("%P%v");
  } else {
    formatter->add_flag<LevelFlag>('L').set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %L %v");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(spdlog::level::trace);  // write_log filters by its threshold
  logger->flush_on(spdlog::level::trace);   // every record at once, as before
  return logger;
}

/// The logger write_log uses: standard error until log_to_file() names a
/// file. Set before the shells start their threads.
std::shared_ptr<spdlog::logger>& the_logger() {
  static std::shared_ptr<spdlog::logger> logger =
      make_logger(std::make_shared<spdlog::sinks::stderr_sink_mt>(), stderr_is_journal());
  return logger;
}

/// True when fd 2 is the terminal the chat is shown on (fd 1's).
bool stderr_is_chat_terminal() {
  struct stat out {};
  struct stat err {};
  return isatty(STDOUT_FILENO) == 1 && isatty(STDERR_FILENO) == 1 &&
         fstat(STDOUT_FILENO, &out) == 0 && fstat(STDERR_FILENO, &err) == 0 &&
         out.st_rdev == err.st_rdev;
}

}  // namespace

std::expected<void, std::string> log_to_file(const std::string& path) {
  try {
    spdlog::file_event_handlers private_file;
    // The log names peers, addresses and servers: as private as the key
    // file beside it (0600), also each file made anew by a rotation.
    private_file.after_open = [](const spdlog::filename_t&, std::FILE* f) {
      struct stat st {};
      // Only a regular file: never a device (--log-file /dev/null, a tty).
      if (::fstat(::fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        ::fchmod(::fileno(f), S_IRUSR | S_IWUSR);
      }
    };
    auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        path, kLogFileBytes, kLogFiles, false, private_file);
    the_logger() = make_logger(std::move(sink), false);
    return {};
  } catch (const spdlog::spdlog_ex& e) {
    return std::unexpected(std::string(e.what()));
  }
}

// The comment is in shell.hpp.
std::expected<void, std::string> route_client_log(const ClientOptions& options,
                                                  const std::string& key_file) {
  const std::string& file = options.common.log_file;
  if (!file.empty()) {
    if (auto r = log_to_file(file); !r) {
      return std::unexpected("cannot write the log file " + file + ": " + r.error());
    }
    return {};
  }
  if (options.json || options.common.log_level_given || !stderr_is_chat_terminal()) return {};
  std::filesystem::path beside(key_file);
  beside.replace_extension(".log");
  if (beside == std::filesystem::path(key_file)) beside += ".log";  // a key file named *.log
  if (auto r = log_to_file(beside.string()); !r) {
    std::cerr << "udpchat: cannot write the log file " << beside.string() << ": " << r.error()
              << "; the log stays on standard error\n";
  }
  return {};
}

bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  return std::string(stream) == std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

void write_log(LogLevel threshold, LogLevel level, const std::string& text) {
  if (level < threshold) return;
  the_logger()->log(to_spdlog(level), "{}", text);
}

}  // namespace udpchat
