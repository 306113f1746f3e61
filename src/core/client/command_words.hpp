// command_words.hpp: splitting a typed command line into words (private to
// the client's command files: client_commands.cpp, client_groups.cpp).
#pragma once

#include <string_view>
#include <utility>

namespace udpchat::command_words {

/// `s` without its leading spaces.
inline std::string_view skip_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

/// Splits "word rest" at the first space; rest excludes that one space
/// (a message is the rest of the line byte for byte).
inline std::pair<std::string_view, std::string_view> split_word(std::string_view s) {
  const auto space = s.find(' ');
  if (space == std::string_view::npos) return {s, {}};
  return {s.substr(0, space), s.substr(space + 1)};
}

}  // namespace udpchat::command_words
