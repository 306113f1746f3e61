// terminal.cpp: libedit in callback mode, the locale, password lines and
// the typed line's erase and redraw (terminal.hpp).
#include "app/terminal.hpp"

#include <editline/readline.h>
#include <langinfo.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cwchar>
#include <utility>

namespace udpchat {

namespace {

/// Set by libedit's line callback, taken by on_readable() (the callback
/// has no user pointer).
std::optional<Terminal::Input> g_typed;

}  // namespace

std::size_t display_width(std::string_view text) {
  std::mbstate_t state{};
  std::size_t width = 0;
  while (!text.empty()) {
    wchar_t wc = 0;
    const std::size_t n = std::mbrtowc(&wc, text.data(), text.size(), &state);
    if (n == static_cast<std::size_t>(-1) || n == static_cast<std::size_t>(-2) || n == 0) {
      state = {};
      ++width;
      text.remove_prefix(1);
      continue;
    }
    const int w = ::wcwidth(wc);
    width += w > 0 ? static_cast<std::size_t>(w) : 0;
    text.remove_prefix(n);
  }
  return width;
}

void Terminal::start() {
  std::setlocale(LC_CTYPE, "");  // before libedit starts: it decodes by it
  if (const std::string codeset = nl_langinfo(CODESET); codeset != "UTF-8") {
    // libedit decodes input by the locale: under an 8-bit or ASCII one it
    // cannot take UTF-8 text typed at the terminal. Said once.
    const std::string hint =
        ">>> [Typing text other than ASCII needs a UTF-8 locale (LANG=C.UTF-8, say); this "
        "terminal's is " +
        codeset + ".]\n";
    std::fputs(hint.c_str(), stdout);
    std::fflush(stdout);
  }
  install_line_handler();
}

// libedit (Debian 3.1-20221030) leaves the terminal in cooked mode with the
// accepted line still in its buffer after the line callback; removing and
// installing the handler again, outside the callback, resets both.
void Terminal::install_line_handler() {
  rl_callback_handler_install(">>> ", [](char* line) {
    if (line == nullptr) {
      g_typed = Input{true, {}};
      return;
    }
    if (*line != '\0') add_history(line);
    g_typed = Input{false, line};
    std::free(line);
  });
}

std::optional<Terminal::Input> Terminal::on_readable() {
  if (secret_) {
    auto input = read_secret_chars();
    line_accepted_ = input.has_value();
    return input;
  }
  rl_callback_read_char();
  auto input = std::exchange(g_typed, std::nullopt);
  line_accepted_ = input.has_value();
  if (input) {
    rl_callback_handler_remove();
    if (!input->end_of_input) install_line_handler();
  }
  return input;
}

void Terminal::begin_secret_line() {
  rl_callback_handler_remove();
  if (tcgetattr(STDIN_FILENO, &saved_termios_) != 0) return;
  termios quiet = saved_termios_;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  quiet.c_lflag |= ICANON;
  tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  secret_ = true;
  secret_buffer_.clear();
}

void Terminal::end_secret_line() {
  if (!std::exchange(secret_, false)) return;
  tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios_);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::optional<Terminal::Input> Terminal::read_secret_chars() {
  char buf[256];
  const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
  if (n <= 0) {
    end_secret_line();
    return Input{true, {}};
  }
  secret_buffer_.append(buf, static_cast<std::size_t>(n));
  std::fill(std::begin(buf), std::end(buf), '\0');
  const auto nl = secret_buffer_.find_first_of("\r\n");
  if (nl == std::string::npos) return std::nullopt;
  Input input{false, secret_buffer_.substr(0, nl)};
  std::fill(secret_buffer_.begin(), secret_buffer_.end(), '\0');
  secret_buffer_.clear();
  end_secret_line();
  install_line_handler();  // a second password prompt turns the echo off again
  return input;
}

void Terminal::erase_typed_line() {
  std::size_t row = 0;
  winsize size{};
  if (!secret_ && !line_accepted_ && rl_line_buffer != nullptr &&
      ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
    const auto before = static_cast<std::size_t>(std::clamp(rl_point, 0, rl_end));
    row = display_width(">>> " + std::string(rl_line_buffer, before)) / size.ws_col;
  }
  std::fputs("\r", stdout);
  if (row > 0) std::fprintf(stdout, "\033[%zuA", row);
  std::fputs("\033[J", stdout);
}

void Terminal::redraw() {
  if (!secret_) rl_forced_update_display();  // (not while a password is typed: libedit is off)
}

void Terminal::stop() {
  end_secret_line();
  rl_callback_handler_remove();
}

}  // namespace udpchat
