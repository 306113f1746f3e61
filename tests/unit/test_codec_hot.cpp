// The tree-less encoder of the hot kinds (src/protocol/codec_hot.cpp)
// against nlohmann_json's tree encoder: the same bytes for every hot kind,
// every optional field present or absent, integers at every CBOR length
// boundary, negative times, empty and full-size text, binary boxes.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "protocol/codec.hpp"
#include "protocol/codec_fields.hpp"

using namespace udpchat;

namespace {

/// Integers at the edges of each CBOR argument length (RFC 8949 section 3).
constexpr std::uint64_t kEdges[] = {0,          1,           23,          24,
                                    255,        256,         65535,       65536,
                                    0xFFFFFFFF, 0x100000000, ~0ULL >> 1U, ~0ULL};

struct Random {
  std::mt19937_64 rng;
  explicit Random(std::uint64_t seed) : rng(seed) {}
  std::uint64_t below(std::uint64_t n) { return rng() % n; }
  std::uint64_t integer() { return below(3) == 0 ? rng() >> below(64) : kEdges[below(12)]; }
  /// Text of 0 to `max` bytes: ASCII, multi-byte UTF-8, or any bytes.
  std::string text(std::size_t max) {
    const std::size_t n = below(4) == 0 ? 0 : below(max + 1);
    std::string s;
    const auto style = below(3);
    while (s.size() < n) {
      if (style == 0) {
        s.push_back(static_cast<char>('a' + below(26)));
      } else if (style == 1) {
        s += below(2) == 0 ? "é" : "日本🎉";
      } else {
        s.push_back(static_cast<char>(below(256)));
      }
    }
    return s;
  }
  std::string maybe(std::size_t max) { return below(2) == 0 ? std::string{} : text(max); }
};

Message random_hot(Random& r) {
  switch (r.below(5)) {
    case 0: {
      Chat c{r.integer(), r.text(32), r.text(1000)};
      if (r.below(2) == 0) c.box = r.text(1100);
      return c;
    }
    case 1: {
      Ack a{r.integer(), static_cast<AckStatus>(r.below(9)),
            static_cast<std::uint32_t>(r.below(2) == 0 ? 0 : r.integer()), r.maybe(200)};
      a.total = static_cast<std::uint32_t>(r.below(2) == 0 ? 0 : r.integer());
      a.tag = r.maybe(16);
      if (r.below(2) == 0) {
        a.seen = Endpoint{r.below(2) == 0 ? "203.0.113.5" : "2001:db8::7",
                          static_cast<std::uint16_t>(r.integer())};
      }
      return a;
    }
    case 2: {
      Deliver d{r.integer(), r.text(32), r.integer(), r.text(1000),
                static_cast<std::int64_t>(r.integer()), r.maybe(32)};
      if (r.below(2) == 0) d.box = r.text(1100);
      return d;
    }
    case 3: {
      Save s{r.integer(), r.text(32), r.text(32), r.integer(), r.text(1000)};
      if (r.below(2) == 0) s.box = r.text(1100);
      return s;
    }
    default:
      return Post{r.integer(), r.text(32), r.maybe(32), r.integer(), r.text(1000)};
  }
}

}  // namespace

TEST_SUITE("codec hot path") {
  TEST_CASE("the hot kinds encode to the tree encoder's bytes, field for field") {
    Random r(20261207);
    for (int i = 0; i < 20000; ++i) {
      const Message m = random_hot(r);
      std::string fast;
      REQUIRE(wire::encode_hot(m, fast));
      const std::string tree = wire::encode_with_tree(m);
      REQUIRE_MESSAGE(fast == tree, "message " << i << " of kind " << m.index());
      CHECK(encode(m) == tree);
    }
  }

  TEST_CASE("negative times and every status encode the same; other kinds take the tree") {
    for (const std::int64_t at : {std::int64_t{-1}, std::int64_t{-24}, std::int64_t{-25},
                                  std::int64_t{-256}, std::int64_t{-65537},
                                  std::numeric_limits<std::int64_t>::min()}) {
      const Message m = Deliver{7, "alice", 3, "hi", at, "*"};
      std::string fast;
      REQUIRE(wire::encode_hot(m, fast));
      CHECK(fast == wire::encode_with_tree(m));
    }
    for (int st = 0; st < 9; ++st) {
      const Message m = Ack{1, static_cast<AckStatus>(st), 0, {}};
      std::string fast;
      REQUIRE(wire::encode_hot(m, fast));
      CHECK(fast == wire::encode_with_tree(m));
    }
    std::string untouched = "x";
    CHECK_FALSE(wire::encode_hot(Heartbeat{1, "alice", 2}, untouched));
    CHECK(untouched == "x");
  }

  TEST_CASE("what the hot encoder writes decodes back to the same message") {
    const std::vector<Message> valid{
        Chat{1, "alice", "Ça va? 你好 🎉"},
        Ack{2, AckStatus::kSaved, 0, {}},
        Deliver{3, "bob", 9, "Привет", 1700000000000, "*"},
        Save{4, "alice", "bob", 5, std::string(1000, 'x')},
        Post{5, "carol", "team", 6, "ありがとう"},
    };
    for (const Message& m : valid) {
      const auto back = decode(encode(m));
      REQUIRE(back);
      CHECK(*back == m);
    }
  }
}
