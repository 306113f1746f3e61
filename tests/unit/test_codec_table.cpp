// Unit tests of the tree-less decoder of table parts (codec_table.cpp): it
// must accept exactly what the tree decoder accepts, with the same result,
// or step aside. Compared on encoded parts, on datagrams built by hand
// (keys out of order, repeated, unknown; indefinite lengths; wrong types)
// and on many mutations of valid parts.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "protocol/codec.hpp"
#include "protocol/codec_fields.hpp"
#include "support/doctest_print.hpp"

using namespace udpchat;  // NOLINT(google-build-using-namespace): test file
using json = nlohmann::json;

namespace {

const std::string kKey(32, '\x7f');

std::vector<TablePart> sample_parts() {
  TablePart big{99, 1234, 2, 5, {}, 1000, 50000};
  for (int i = 0; i < 12; ++i) {
    big.entries.push_back({"user" + std::to_string(i), "127.0.0." + std::to_string(i % 250),
                           static_cast<std::uint16_t>(40000 + i), i % 2 == 0,
                           static_cast<std::uint64_t>(1000 + i), kKey});
  }
  return {
      TablePart{11, 1, 0, 1, {}},
      TablePart{12, 42, 0, 1, {{"alice", "127.0.0.1", 40000, true, 7, kKey}}},
      TablePart{13, 42, 0, 1, {{"Bob", "::1", 1024, false}}},        // no version, no key
      TablePart{14, 43, 0, 1, {{"gone", "", 0, false, 43}}, 42, 2},  // a removed row
      TablePart{UINT64_MAX, UINT64_MAX, kMaxTableParts - 1, kMaxTableParts, {}, 0, UINT32_MAX},
      big,
  };
}

/// The two decoders agree on `bytes`: when the tree-less one gives a part,
/// the tree decoder gives the same part. Returns whether it gave one.
bool agree(const std::string& bytes) {
  if (bytes.size() > kMaxDatagramBytes) return false;  // decode() stops at the size
  const auto fast = wire::decode_table_part(bytes);
  const auto tree = wire::decode_with_tree(bytes);
  if (!fast) return false;
  REQUIRE(tree.has_value());
  REQUIRE(std::holds_alternative<TablePart>(*tree));
  CHECK(std::get<TablePart>(*tree) == *fast);
  return true;
}

std::string cbor(const json& j) {
  const auto b = json::to_cbor(j);
  return {b.begin(), b.end()};
}

json base_part() {
  return {
      {"v", kProtocolVersion},   {"t", "table"}, {"id", 5}, {"ver", 9}, {"part", 0}, {"parts", 1},
      {"entries", json::array()}};
}

}  // namespace

TEST_SUITE("codec: table parts without a tree") {
  TEST_CASE("every encoded part is decoded without a tree, as the tree decoder does") {
    for (const auto& p : sample_parts()) {
      const std::string bytes = encode(Message{p});
      REQUIRE(agree(bytes));
      CHECK(*wire::decode_table_part(bytes) == p);
      const auto via_decode = decode(bytes);
      REQUIRE(via_decode.has_value());
      CHECK(std::get<TablePart>(*via_decode) == p);
    }
  }

  TEST_CASE("other messages and odd shapes are left to the tree decoder") {
    Ack ack;
    ack.id = 1;
    CHECK_FALSE(agree(encode(Message{ack})));
    Chat chat;
    chat.id = 1;
    chat.from = "alice";
    chat.text = "table";
    CHECK_FALSE(agree(encode(Message{chat})));
    CHECK(agree(cbor(base_part())));

    json j = base_part();
    j["extra"] = 1;  // unknown key: the tree decoder ignores it; this one steps aside
    CHECK_FALSE(agree(cbor(j)));
    j = base_part();
    j["v"] = kProtocolVersion + 1;
    CHECK_FALSE(agree(cbor(j)));
    CHECK(decode(cbor(j)).error() == DecodeError::kBadVersion);
    j = base_part();
    j["part"] = 1;  // part >= parts
    CHECK_FALSE(agree(cbor(j)));
    CHECK(decode(cbor(j)).error() == DecodeError::kBadField);
    j = base_part();
    j["from"] = 9;  // an update must move forward
    CHECK_FALSE(agree(cbor(j)));
    j = base_part();
    j["from"] = 8;
    CHECK(agree(cbor(j)));

    const auto with_row = [](json row) {
      json p = base_part();
      p["entries"] = json::array({std::move(row)});
      return cbor(p);
    };
    const json::binary_t key(std::vector<std::uint8_t>(32, 1));
    const json::binary_t short_key(std::vector<std::uint8_t>(31, 1));
    CHECK(agree(with_row({"alice", "127.0.0.1", 1, true, 3, key})));
    CHECK_FALSE(agree(with_row({"alice", "127.0.0.1", 1, true, 3, short_key})));
    CHECK_FALSE(agree(with_row({"alice", "127.0.0.1", -1, true})));            // negative port
    CHECK_FALSE(agree(with_row({"alice", "127.0.0.1", 70000, true})));         // port > 65535
    CHECK_FALSE(agree(with_row({"alice", "127.0.0.1", 1.5, true})));           // a float
    CHECK_FALSE(agree(with_row({"alice", "127.0.0.1", 1})));                   // too short
    CHECK_FALSE(agree(with_row({"alice", "127.0.0.1", 1, true, 3, key, 1})));  // too long
    CHECK_FALSE(agree(with_row({"a b", "127.0.0.1", 1, true})));               // bad nickname
    CHECK_FALSE(agree(with_row({"alice", "", 1, false, 3})));  // removed, with a port
    CHECK(agree(with_row({"alice", "", 0, false, 3})));        // removed
    CHECK_FALSE(agree(with_row({"alice", "127.0.0.1", 1, true, nullptr})));
    CHECK_FALSE(agree(with_row(json::object({{"nick", "alice"}}))));
  }

  TEST_CASE("keys out of order, indefinite lengths and repeated keys") {
    // Keys in another order than nlohmann writes them: {t, v, ...}.
    std::string b = "\xa7";
    const auto text = [&](const std::string& s) {
      b += static_cast<char>(0x60 + s.size());
      b += s;
    };
    const auto small = [&](int v) { b += static_cast<char>(v); };
    text("t"), text("table"), text("v"), small(static_cast<int>(kProtocolVersion)), text("id"),
        small(5), text("ver"), small(9), text("part"), small(0), text("parts"), small(1);
    text("entries");
    b += "\x9f";  // an indefinite-length array of rows
    b += "\x9f";  // a row, indefinite too
    text("alice"), text("::1"), small(7), b += "\xf5";
    b += "\xff\xff";
    REQUIRE(agree(b));
    const auto part = *wire::decode_table_part(b);
    REQUIRE(part.entries.size() == 1);
    CHECK(part.entries[0].nick == "alice");
    CHECK(part.entries[0].port == 7);
    CHECK(part.entries[0].online);

    // The same key twice: the tree decoder keeps the last; this one steps aside.
    std::string twice = b;
    twice[0] = '\xa8';
    twice += "\x62id\x06";
    CHECK_FALSE(agree(twice));
    const auto tree = wire::decode_with_tree(twice);
    REQUIRE(tree.has_value());
    CHECK(std::get<TablePart>(*tree).id == 6);
    CHECK(std::get<TablePart>(*decode(twice)).id == 6);
  }

  TEST_CASE("a row count larger than the datagram allocates nothing") {
    // The count in an array head is the sender's word (found by the
    // sanitized build: a mutated head asked for 240 GB).
    std::string b = cbor(base_part());
    const std::string empty = std::string("\x67") + "entries" + "\x80";
    const auto at = b.find(empty);
    REQUIRE(at != std::string::npos);
    b.replace(at + empty.size() - 1, 1, std::string("\x9b\x00\x00\x00\xff\xff\xff\xff\xff", 9));
    CHECK_FALSE(agree(b));
    CHECK_FALSE(decode(b).has_value());
  }

  TEST_CASE("mutated parts: the two decoders never disagree") {
    std::mt19937_64 rng(0x7AB1E);
    int fast = 0;
    int total = 0;
    for (const auto& p : sample_parts()) {
      const std::string good = encode(Message{p});
      for (int n = 0; n < 4000; ++n) {
        std::string m = good;
        switch (rng() % 4) {
          case 0:
            m[rng() % m.size()] ^= static_cast<char>(1U << (rng() % 8));
            break;
          case 1:
            m[rng() % m.size()] = static_cast<char>(rng());
            break;
          case 2:
            m.resize(rng() % m.size());
            break;
          default:
            m.insert(rng() % m.size(), 1, static_cast<char>(rng()));
            break;
        }
        ++total;
        fast += agree(m) ? 1 : 0;
      }
    }
    MESSAGE(fast << " of " << total << " mutations decoded without a tree");
    CHECK(fast > 0);  // some mutations keep a valid part (a port, a nickname letter)
  }
}
