// Unit tests of the codec against hostile input (manual §7): deep nesting,
// and mutated real datagrams that must never make decode throw, whatever
// it accepts re-encoding to the same value.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "protocol/codec.hpp"
#include "protocol/limits.hpp"
#include "protocol/messages.hpp"
#include "support/codec_samples.hpp"

using namespace udpchat;  // NOLINT(google-build-using-namespace): test file
using namespace udpchat::test;  // NOLINT(google-build-using-namespace): test file

TEST_SUITE("codec: robustness") {
  TEST_CASE("deeply nested arrays are rejected without crashing") {
    const auto nested = [](std::size_t depth, bool terminated) {
      std::string s(depth, '\x81');  // array of one element, repeated
      if (terminated) {
        s += '\x00';
      }
      return s;
    };
    // As the value of "text" in a chat: {"v":1,"t":"chat","id":1,"from":"a","text":[[[...]]]}
    const std::string chat_head =
        raw(0xA5, 0x61, 'v', 0x01, 0x61, 't', 0x64, 'c', 'h', 'a', 't', 0x62, 'i', 'd', 0x01, 0x64,
            'f', 'r', 'o', 'm', 0x61, 'a', 0x64, 't', 'e', 'x', 't');
    const std::string text_nest = chat_head + nested(1000, true);
    REQUIRE(text_nest.size() <= kMaxDatagramBytes);
    {
      std::string r;
      CHECK_NOTHROW(r = outcome(text_nest));
      CHECK(r == "kBadField");
    }
    {
      std::string r;
      CHECK_NOTHROW(r = outcome(chat_head + nested(1000, false)));
      CHECK(r == "kMalformed");
    }

    // As the value of "v".
    const std::string v_nest = raw(0xA1, 0x61, 'v') + nested(1150, true);
    {
      std::string r;
      CHECK_NOTHROW(r = outcome(v_nest));
      CHECK(r == "kBadVersion");
    }

    // Nested maps {"": {"": ...}} as the value of "id" of a ping.
    std::string maps =
        raw(0xA3, 0x61, 'v', 0x01, 0x61, 't', 0x64, 'p', 'i', 'n', 'g', 0x62, 'i', 'd');
    while (maps.size() + 3 < kMaxDatagramBytes) {
      maps += raw(0xA1, 0x60);
    }
    maps += raw(0x00);
    {
      std::string r;
      CHECK_NOTHROW(r = outcome(maps));
      CHECK(r == "kBadField");
    }

    // As an unknown extra field: whatever the outcome, no crash and no throw.
    const std::string extra = raw(0xA4, 0x61, 'v', 0x01, 0x61, 't', 0x64, 'p', 'i', 'n', 'g', 0x62,
                                  'i', 'd', 0x01, 0x61, 'x') +
                              nested(1150, true);
    REQUIRE(extra.size() <= kMaxDatagramBytes);
    CHECK_NOTHROW(static_cast<void>(decode(extra)));
  }

  TEST_CASE("mutated datagrams never make decode throw, and what it accepts re-encodes") {
    std::vector<std::string> corpus;
    for (const Message& m : sample_messages()) {
      corpus.push_back(encode(m));
    }
    for (const TablePart& p : split_table(3, sample_entries(40, kLongIpv6),
                                          [n = std::uint64_t{1}]() mutable { return n++; })) {
      corpus.push_back(encode(p));
    }
    // Bytes that mean something special to a CBOR parser.
    const std::vector<unsigned char> interesting = {
        0x00, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1F, 0x20, 0x3B, 0x40, 0x5F, 0x60, 0x78, 0x7B, 0x7F,
        0x80, 0x9F, 0xA0, 0xBF, 0xC0, 0xD8, 0xF4, 0xF5, 0xF6, 0xF7, 0xF9, 0xFA, 0xFB, 0xFF};

    std::mt19937 rng(20240601);
    const auto pick = [&rng](std::size_t n) {
      return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
    };
    const auto random_byte = [&] { return static_cast<char>(pick(256)); };

    constexpr int kIterations = 200'000;
    int throws = 0;
    int accepted = 0;
    int too_big = 0;
    int unstable = 0;
    std::string first_failure;
    for (int it = 0; it < kIterations; ++it) {
      std::string b = corpus[pick(corpus.size())];
      const std::size_t rounds = 1 + pick(3);
      for (std::size_t r = 0; r < rounds; ++r) {
        switch (pick(8)) {
          case 0:  // flip some bits of one byte
            if (!b.empty()) {
              b[pick(b.size())] ^= static_cast<char>(1 + pick(255));
            }
            break;
          case 1:  // overwrite a byte with a special value
            if (!b.empty()) {
              b[pick(b.size())] = static_cast<char>(interesting[pick(interesting.size())]);
            }
            break;
          case 2:  // truncate
            b.resize(pick(b.size() + 1));
            break;
          case 3:  // append random bytes
            for (std::size_t k = 1 + pick(16); k > 0; --k) {
              b += random_byte();
            }
            break;
          case 4:  // insert one byte
            b.insert(b.begin() + static_cast<std::ptrdiff_t>(pick(b.size() + 1)), random_byte());
            break;
          case 5:  // erase a range
            if (!b.empty()) {
              const std::size_t at = pick(b.size());
              b.erase(at, 1 + pick(std::min<std::size_t>(16, b.size() - at)));
            }
            break;
          case 6:  // duplicate a range
            if (!b.empty()) {
              const std::size_t at = pick(b.size());
              const std::string chunk = b.substr(at, 1 + pick(32));
              b.insert(pick(b.size() + 1), chunk);
            }
            break;
          default: {  // splice the tail of another datagram
            const std::string& other = corpus[pick(corpus.size())];
            b = b.substr(0, pick(b.size() + 1)) + other.substr(pick(other.size()));
            break;
          }
        }
      }
      try {
        const auto d = decode(b);
        if (!d) {
          continue;
        }
        ++accepted;
        const std::string again = encode(*d);
        const bool fits = again.size() <= kMaxDatagramBytes;
        const auto d2 = decode(again);
        const bool stable = d2.has_value() && *d2 == *d;
        too_big += fits ? 0 : 1;
        unstable += stable ? 0 : 1;
        if ((!fits || !stable) && first_failure.empty()) {
          first_failure = hex(b);
        }
      } catch (...) {
        ++throws;
        if (first_failure.empty()) {
          first_failure = hex(b);
        }
      }
    }
    INFO("first failing input (hex): " << first_failure);
    CHECK(throws == 0);
    CHECK(too_big == 0);
    CHECK(unstable == 0);
    // The mutations must exercise the accepting paths too, not only rejections.
    CHECK(accepted > 1000);
  }
}
