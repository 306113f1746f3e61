// Unit tests of src/protocol/text.hpp: UTF-8 validation, nicknames, message
// text limits and terminal-safe printing (manual §7).
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "protocol/limits.hpp"
#include "protocol/text.hpp"

using udpchat::is_valid_nickname;
using udpchat::is_valid_utf8;
using udpchat::message_text_problem;
using udpchat::nickname_key;
using udpchat::printable;

namespace {

// Builds a string from raw byte values, so byte sequences read as in RFC 3629.
template <typename... B>
std::string bytes(B... b) {
  return std::string{static_cast<char>(static_cast<unsigned char>(b))...};
}

}  // namespace

TEST_SUITE("text: is_valid_utf8") {
  TEST_CASE("accepts ASCII, the empty string and embedded NUL") {
    CHECK(is_valid_utf8(""));
    CHECK(is_valid_utf8("hello, world! ~ 0123"));
    CHECK(is_valid_utf8(std::string_view("a\0b", 3)));
    CHECK(is_valid_utf8(bytes(0x7F)));
  }

  TEST_CASE("accepts 2-, 3- and 4-byte characters at the edges of their ranges") {
    CHECK(is_valid_utf8(bytes(0xC2, 0x80)));              // U+0080, smallest 2-byte
    CHECK(is_valid_utf8("\u00e9t\u00e9"));                // été
    CHECK(is_valid_utf8(bytes(0xDF, 0xBF)));              // U+07FF, largest 2-byte
    CHECK(is_valid_utf8(bytes(0xE0, 0xA0, 0x80)));        // U+0800, smallest 3-byte
    CHECK(is_valid_utf8(bytes(0xED, 0x9F, 0xBF)));        // U+D7FF, just below surrogates
    CHECK(is_valid_utf8(bytes(0xEE, 0x80, 0x80)));        // U+E000, just above surrogates
    CHECK(is_valid_utf8(bytes(0xEF, 0xBF, 0xBD)));        // U+FFFD
    CHECK(is_valid_utf8(bytes(0xEF, 0xBF, 0xBF)));        // U+FFFF
    CHECK(is_valid_utf8(bytes(0xF0, 0x90, 0x80, 0x80)));  // U+10000, smallest 4-byte
    CHECK(is_valid_utf8(bytes(0xF4, 0x8F, 0xBF, 0xBF)));  // U+10FFFF, largest code point
  }

  TEST_CASE("accepts CJK text and emoji mixed with ASCII") {
    CHECK(is_valid_utf8("\u4f60\u597d\uff0c\u4e16\u754c"));  // 你好，世界
    CHECK(is_valid_utf8("\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8"));
    CHECK(is_valid_utf8("hi \U0001F600 \U0001F44D\U0001F3FD bye"));
    CHECK(is_valid_utf8("\U0001F468\u200D\U0001F469\u200D\U0001F467"));  // ZWJ family
  }

  TEST_CASE("rejects overlong encodings") {
    CHECK_FALSE(is_valid_utf8(bytes(0xC0, 0x80)));              // NUL in 2 bytes
    CHECK_FALSE(is_valid_utf8(bytes(0xC0, 0xAF)));              // '/' in 2 bytes
    CHECK_FALSE(is_valid_utf8(bytes(0xC1, 0xBF)));              // U+007F in 2 bytes
    CHECK_FALSE(is_valid_utf8(bytes(0xE0, 0x80, 0x80)));        // NUL in 3 bytes
    CHECK_FALSE(is_valid_utf8(bytes(0xE0, 0x9F, 0xBF)));        // U+07FF in 3 bytes
    CHECK_FALSE(is_valid_utf8(bytes(0xF0, 0x80, 0x80, 0x80)));  // NUL in 4 bytes
    CHECK_FALSE(is_valid_utf8(bytes(0xF0, 0x8F, 0xBF, 0xBF)));  // U+FFFF in 4 bytes
  }

  TEST_CASE("rejects UTF-16 surrogates") {
    CHECK_FALSE(is_valid_utf8(bytes(0xED, 0xA0, 0x80)));  // U+D800
    CHECK_FALSE(is_valid_utf8(bytes(0xED, 0xAF, 0xBF)));  // U+DBFF
    CHECK_FALSE(is_valid_utf8(bytes(0xED, 0xB0, 0x80)));  // U+DC00
    CHECK_FALSE(is_valid_utf8(bytes(0xED, 0xBF, 0xBF)));  // U+DFFF
    // A CESU-8 style surrogate pair for U+1F600.
    CHECK_FALSE(is_valid_utf8(bytes(0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80)));
  }

  TEST_CASE("rejects code points above U+10FFFF") {
    CHECK_FALSE(is_valid_utf8(bytes(0xF4, 0x90, 0x80, 0x80)));  // U+110000
    CHECK_FALSE(is_valid_utf8(bytes(0xF5, 0x80, 0x80, 0x80)));
    CHECK_FALSE(is_valid_utf8(bytes(0xF7, 0xBF, 0xBF, 0xBF)));  // U+1FFFFF
  }

  TEST_CASE("rejects stray continuation bytes") {
    CHECK_FALSE(is_valid_utf8(bytes(0x80)));
    CHECK_FALSE(is_valid_utf8(bytes(0xBF)));
    CHECK_FALSE(is_valid_utf8("abc" + bytes(0x80) + "def"));
    // One continuation byte too many after a valid 2-byte character.
    CHECK_FALSE(is_valid_utf8(bytes(0xC3, 0xA9, 0xA9)));
  }

  TEST_CASE("rejects truncated sequences, at the end and in the middle") {
    CHECK_FALSE(is_valid_utf8(bytes(0xC3)));
    CHECK_FALSE(is_valid_utf8(bytes(0xE4, 0xBD)));
    CHECK_FALSE(is_valid_utf8(bytes(0xF0, 0x9F, 0x98)));
    CHECK_FALSE(is_valid_utf8("ok" + bytes(0xF0, 0x9F, 0x98)));
    CHECK_FALSE(is_valid_utf8(bytes(0xE4, 0xBD) + "a"));        // lead, then ASCII
    CHECK_FALSE(is_valid_utf8(bytes(0xF0, 0x9F, 0xC3, 0xA9)));  // lead, then a new lead
  }

  TEST_CASE("rejects lead bytes F8 to FF") {
    for (int b = 0xF8; b <= 0xFF; ++b) {
      CAPTURE(b);
      CHECK_FALSE(is_valid_utf8(bytes(b)));
      CHECK_FALSE(is_valid_utf8(bytes(b, 0x80, 0x80, 0x80, 0x80, 0x80)));
    }
  }
}

TEST_SUITE("text: nicknames") {
  TEST_CASE("accepts 1 to 32 characters of A-Z a-z 0-9 _ - .") {
    CHECK(is_valid_nickname("a"));
    CHECK(is_valid_nickname("Z"));
    CHECK(is_valid_nickname("7"));
    CHECK(is_valid_nickname("alice"));
    CHECK(is_valid_nickname("Bob_the-2nd.x"));
    CHECK(is_valid_nickname("ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
    CHECK(is_valid_nickname("abcdefghijklmnopqrstuvwxyz"));
    CHECK(is_valid_nickname("0123456789_-."));
    CHECK(is_valid_nickname(std::string(udpchat::kMaxNicknameLength, 'x')));
  }

  TEST_CASE("rejects empty and too long nicknames") {
    CHECK_FALSE(is_valid_nickname(""));
    CHECK_FALSE(is_valid_nickname(std::string(udpchat::kMaxNicknameLength + 1, 'x')));
    CHECK_FALSE(is_valid_nickname(std::string(1000, 'x')));
  }

  TEST_CASE("rejects characters outside the set") {
    for (const std::string_view bad :
         {"al ice", " alice", "alice ", "a/b", "a\\b", "a@b", "a:b", "a,b", "a+b", "a'b", "a\"b",
          "a\tb", "a\nb", "tab\t", "al\u00efce", "\u4f60\u597d", "\U0001F600"}) {
      CAPTURE(bad);
      CHECK_FALSE(is_valid_nickname(bad));
    }
    CHECK_FALSE(is_valid_nickname(std::string_view("a\0b", 3)));
    CHECK_FALSE(is_valid_nickname(bytes(0xFF)));
  }

  TEST_CASE("nickname_key folds ASCII upper case to lower case and keeps the rest") {
    CHECK(nickname_key("Alice") == "alice");
    CHECK(nickname_key("ALICE") == "alice");
    CHECK(nickname_key("alice") == "alice");
    CHECK(nickname_key("Bob_The-2nd.X") == "bob_the-2nd.x");
    CHECK(nickname_key("AZaz09_-.") == "azaz09_-.");
    CHECK(nickname_key("") == "");
    CHECK(nickname_key("aLiCe") == nickname_key("AlIcE"));
    CHECK(nickname_key("alice") != nickname_key("alicf"));
  }
}

TEST_SUITE("text: message_text_problem") {
  TEST_CASE("a message of up to 1000 bytes of valid UTF-8 may be sent") {
    CHECK(message_text_problem("") == "");
    CHECK(message_text_problem("hello") == "");
    CHECK(message_text_problem(std::string(udpchat::kMaxMessageBytes, 'a')) == "");
    CHECK(message_text_problem(std::string(1000, '"')) == "");
    std::string emoji;
    for (int i = 0; i < 250; ++i) {
      emoji += "\U0001F600";
    }
    REQUIRE(emoji.size() == 1000);
    CHECK(message_text_problem(emoji) == "");
  }

  TEST_CASE("a message over 1000 bytes is refused with its size in bytes") {
    CHECK(message_text_problem(std::string(1001, 'a')) ==
          "[Message too long: 1001 bytes (max 1000).]");
    CHECK(message_text_problem(std::string(5000, 'a')) ==
          "[Message too long: 5000 bytes (max 1000).]");
    // Bytes, not characters: 334 euro signs are 1002 bytes.
    std::string euros;
    for (int i = 0; i < 334; ++i) {
      euros += "\u20ac";
    }
    CHECK(message_text_problem(euros) == "[Message too long: 1002 bytes (max 1000).]");
  }

  TEST_CASE("a message that is not valid UTF-8 is refused") {
    CHECK(message_text_problem(bytes(0xC0, 0x80)) == "[Message is not valid UTF-8.]");
    CHECK(message_text_problem("caf" + bytes(0xE9)) == "[Message is not valid UTF-8.]");
    CHECK(message_text_problem(bytes(0xED, 0xA0, 0x80)) == "[Message is not valid UTF-8.]");
    std::string long_invalid(999, 'a');
    long_invalid += bytes(0xFF);
    CHECK(message_text_problem(long_invalid) == "[Message is not valid UTF-8.]");
  }
}

TEST_SUITE("text: printable") {
  TEST_CASE("keeps printable ASCII and UTF-8 unchanged") {
    CHECK(printable("") == "");
    CHECK(printable("hello, world ~!") == "hello, world ~!");
    CHECK(printable("\u00e9t\u00e9 \u4f60\u597d \U0001F600") ==
          "\u00e9t\u00e9 \u4f60\u597d \U0001F600");
  }

  TEST_CASE("replaces every C0 control character and DEL with U+FFFD") {
    for (int c = 0; c < 0x20; ++c) {
      CAPTURE(c);
      CHECK(printable("a" + bytes(c) + "b") == "a\uFFFDb");
    }
    CHECK(printable(bytes(0x7F)) == "\uFFFD");
  }

  TEST_CASE("neutralises an escape sequence that would move the cursor or forge a line") {
    CHECK(printable("hi\x1b[2J\rbob: fake\n") == "hi\uFFFD[2J\uFFFDbob: fake\uFFFD");
    CHECK(printable("\t\t") == "\uFFFD\uFFFD");
  }
}

TEST_CASE("printable also neutralises C1 controls and bidirectional overrides") {
  using udpchat::printable;
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(printable("a\xC2\x9B"
                  "2Jb") == "a" + fffd + "2Jb");                              // U+009B CSI
  CHECK(printable("x\xE2\x80\xAEyz") == "x" + fffd + "yz");                   // U+202E RLO
  CHECK(printable("x\xE2\x81\xA6y\xE2\x81\xA9") == "x" + fffd + "y" + fffd);  // isolates
  CHECK(printable("\xC2\xA0\xC3\xA9 \xE2\x80\x94 \xE2\x82\xAC") ==
        "\xC2\xA0\xC3\xA9 \xE2\x80\x94 \xE2\x82\xAC");  // NBSP, é, em dash, euro kept
}
