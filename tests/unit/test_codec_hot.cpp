// The tree-less codec against nlohmann_json's tree: the encoder of the hot
// kinds (src/protocol/codec_hot.cpp) writes the same bytes for every hot
// kind, every optional field present or absent, integers at every CBOR
// length boundary, negative times, empty and full-size text, binary boxes;
// the flat decoder (codec_decode_flat.cpp) and the tree decoder give the
// same message or the same error on every kind, on mutated and on random
// input, and the flat one takes every flat datagram of the hot paths.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "protocol/codec.hpp"
#include "protocol/codec_fields.hpp"
#include "support/codec_samples.hpp"

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
      a.expired = static_cast<std::uint32_t>(r.below(4) == 0 ? r.integer() : 0);
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

/// decode() (flat path first) and the tree decoder agree on `bytes`: the
/// same message or the same error. Returns whether the flat path took it.
bool agree(const std::string& bytes) {
  const auto fast = decode(bytes);
  const auto tree = wire::decode_with_tree(bytes);
  REQUIRE(fast.has_value() == tree.has_value());
  if (fast) {
    CHECK(*fast == *tree);
  } else {
    CHECK(fast.error() == tree.error());
  }
  return bytes.size() <= kMaxDatagramBytes && wire::decode_flat(bytes).has_value();
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

  TEST_CASE("every kind decodes the same through the flat path as through the tree") {
    int flat = 0;
    for (const Message& m : test::sample_messages()) {
      const std::string bytes = encode(m);
      if (agree(bytes)) {
        ++flat;
        CHECK(*wire::decode_flat(bytes) == m);
      }
    }
    CHECK(flat > 40);  // every scalar-only sample (tables, rows, groups take the tree)
    Random r(7);
    for (int i = 0; i < 2000; ++i) {
      // The hot kinds with valid fields: all taken by the flat path (of
      // random fields most are invalid: both decoders refuse them alike).
      const Message m = random_hot(r);
      const std::string bytes = encode(m);
      const auto tree = wire::decode_with_tree(bytes);
      // An ack that tells the address seen carries an array: the tree's.
      const auto* ack = std::get_if<Ack>(&m);
      const bool nested = ack != nullptr && !ack->seen.address.empty();
      if (tree) {
        REQUIRE(agree(bytes) == !nested);
        if (!nested) CHECK(*wire::decode_flat(bytes) == *tree);
      }
    }
  }

  TEST_CASE("mutated and random datagrams: the flat and tree decoders never disagree") {
    std::mt19937_64 rng(0xF1A7);
    int flat = 0;
    int total = 0;
    for (const Message& m : test::sample_messages()) {
      const std::string good = encode(m);
      for (int n = 0; n < 300; ++n) {
        std::string b = good;
        const auto at = [&] { return static_cast<std::size_t>(rng() % (b.size() + 1)); };
        switch (rng() % 5) {
          case 0:  // a byte changed
            if (!b.empty()) b[at() % b.size()] = static_cast<char>(rng());
            break;
          case 1:  // cut short
            b.resize(at());
            break;
          case 2:  // a byte inserted
            b.insert(at(), 1, static_cast<char>(rng()));
            break;
          case 3:  // a key given twice: the map count raised and a field appended
            if (!b.empty() && (static_cast<unsigned char>(b[0]) & 0x1FU) < 23) {
              b[0] = static_cast<char>(b[0] + 1);
              b += std::string("\x62id") + static_cast<char>(rng() % 24);
            }
            break;
          default:  // a nested value appended under a new key
            if (!b.empty() && (static_cast<unsigned char>(b[0]) & 0x1FU) < 23) {
              b[0] = static_cast<char>(b[0] + 1);
              b += std::string("\x61z\x81\x01");
            }
            break;
        }
        ++total;
        flat += agree(b) ? 1 : 0;
      }
    }
    for (int n = 0; n < 3000; ++n) {
      std::string b(rng() % 64, '\0');
      for (char& c : b) c = static_cast<char>(rng());
      if (!b.empty()) b[0] = static_cast<char>(0xA0 | (rng() % 8));  // a map head
      ++total;
      flat += agree(b) ? 1 : 0;
    }
    MESSAGE(flat << " of " << total << " mutated or random datagrams decoded flat");
    CHECK(flat > 0);
  }
}
