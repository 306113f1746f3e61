// terminal.hpp: the client's standard input when it is a terminal (manual
// §4.2): libedit in callback mode (line editing, the ">>> " prompt, the
// history of typed lines), the user's locale for characters, password
// lines read without echo (manual §9), and the typed line erased before a
// line is printed and drawn again under it.
//
// No asio here: the shell waits for standard input to be readable and
// calls on_readable(). One Terminal at a time (libedit's line callback has
// no user pointer).
#pragma once

#include <termios.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace udpchat {

/// Columns `text` fills on a terminal under the current LC_CTYPE: each
/// character's wcwidth(3) (2 for wide CJK and emoji, 0 for a combining
/// mark, none for a control character); a byte that does not decode
/// counts one column.
std::size_t display_width(std::string_view text);

class Terminal {
 public:
  /// What on_readable() found: a whole line typed, or end of input
  /// (Ctrl+D on an empty line, or the terminal closed).
  struct Input {
    bool end_of_input = false;
    std::string line;
  };

  /// Takes the user's LC_CTYPE (setlocale(LC_CTYPE, ""); numbers and times
  /// keep the "C" locale), so multibyte text is read, edited and redrawn
  /// whole; under a locale whose character set is not UTF-8 prints, once,
  /// a ">>> " line saying that only ASCII can be typed. Then shows the
  /// prompt.
  void start();

  /// Standard input is readable: reads what is there. Returns a line once
  /// one is complete (Enter), or end of input; nullopt while a line is
  /// being typed. A password line's bytes are wiped from its buffers; the
  /// caller wipes the returned copy.
  std::optional<Input> on_readable();

  /// The next line is a password: read in cooked mode with the echo off,
  /// without libedit (which would draw it). Call before the prompt line
  /// asking for it is written, so nothing typed after it is echoed.
  void begin_secret_line();
  /// True while a password line is read (echo off, libedit off).
  [[nodiscard]] bool reading_secret() const { return secret_; }

  /// Erases the prompt and the line being typed, however many rows of the
  /// terminal they fill: the cursor goes up to the prompt's row (the
  /// display width of the prompt and the text before the cursor over the
  /// terminal's width), to its first column, and the screen below is
  /// cleared (ECMA-48 CUU and ED).
  void erase_typed_line();

  /// Draws the prompt and the typed line again (after printing lines).
  void redraw();

  /// Restores the terminal (echo, libedit's handler) at the end.
  void stop();

 private:
  void install_line_handler();
  void end_secret_line();
  std::optional<Input> read_secret_chars();

  bool secret_ = false;  ///< reading a password line, echo off
  /// A line was just accepted: libedit's rl_point still describes it until
  /// the next key, while the screen shows a fresh prompt.
  bool line_accepted_ = false;
  termios saved_termios_{};    ///< the terminal before it
  std::string secret_buffer_;  ///< the password line so far
};

}  // namespace udpchat
