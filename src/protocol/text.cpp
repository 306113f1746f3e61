#include "protocol/text.hpp"

#include <cstdint>

#include "protocol/limits.hpp"

namespace udpchat {

bool is_valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((c & 0xE0U) == 0xC0U) {
      len = 2;
      cp = c & 0x1FU;
    } else if ((c & 0xF0U) == 0xE0U) {
      len = 3;
      cp = c & 0x0FU;
    } else if ((c & 0xF8U) == 0xF0U) {
      len = 4;
      cp = c & 0x07U;
    } else {
      return false;  // continuation byte or 0xF8..0xFF as a lead byte
    }
    if (n - i < len) {
      return false;
    }
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0U) != 0x80U) {
        return false;
      }
      cp = (cp << 6U) | (cc & 0x3FU);
    }
    const bool overlong =
        (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

bool is_valid_nickname(std::string_view nick) noexcept {
  if (nick.empty() || nick.size() > kMaxNicknameLength) {
    return false;
  }
  for (const char ch : nick) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';
    if (!ok) {
      return false;
    }
  }
  return true;
}

std::string nickname_key(std::string_view nick) {
  std::string key(nick);
  for (char& ch : key) {
    if (ch >= 'A' && ch <= 'Z') {
      ch = static_cast<char>(ch - 'A' + 'a');
    }
  }
  return key;
}

std::string message_text_problem(std::string_view text) {
  if (text.size() > kMaxMessageBytes) {
    return "[Message too long: " + std::to_string(text.size()) + " bytes (max " +
           std::to_string(kMaxMessageBytes) + ").]";
  }
  if (!is_valid_utf8(text)) {
    return "[Message is not valid UTF-8.]";
  }
  return {};
}

std::string printable(std::string_view text) {
  constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  out.reserve(text.size());
  // Bytes that may start something to replace: C0 controls, DEL, and the
  // lead bytes of the C1 controls and of the bidirectional controls. Runs
  // of any other byte are copied whole.
  const auto ordinary = [](unsigned char c) {
    return c >= 0x20 && c != 0x7F && c != 0xC2 && c != 0xE2;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const std::size_t run = i;
    while (i < text.size() && ordinary(static_cast<unsigned char>(text[i]))) ++i;
    out.append(text.substr(run, i - run));
    if (i == text.size()) break;
    const auto c = static_cast<unsigned char>(text[i]);
    const auto next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0U;
    const auto third = i + 2 < text.size() ? static_cast<unsigned char>(text[i + 2]) : 0U;
    if (c < 0x20 || c == 0x7F) {  // C0 controls and DEL
      out += kReplacement;
    } else if (c == 0xC2 && next >= 0x80 && next <= 0x9F) {  // C1 controls, e.g. CSI
      out += kReplacement;
      i += 1;
    } else if (c == 0xE2 && ((next == 0x80 && third >= 0xAA && third <= 0xAE) ||
                             (next == 0x81 && third >= 0xA6 && third <= 0xA9))) {
      // Bidirectional embeddings, overrides and isolates (U+202A..U+202E,
      // U+2066..U+2069): they could make a line read as something else.
      out += kReplacement;
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace udpchat
