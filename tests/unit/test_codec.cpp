// Unit tests of the wire codec (src/protocol/codec.hpp), the message values
// (messages.hpp) and the limits they must respect (limits.hpp), manual §7:
// every kind round-trips, the worst cases fit one datagram, and tables split
// into parts that fit. What decode refuses is in test_codec_rejects.cpp,
// hostile input in test_codec_robustness.cpp; the sample values in
// tests/support/codec_samples.hpp.
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

TEST_SUITE("codec: round trip") {
  TEST_CASE("every message alternative decodes to the value that was encoded") {
    const auto messages = sample_messages();
    std::set<std::size_t> kinds;
    for (std::size_t i = 0; i < messages.size(); ++i) {
      CAPTURE(i);
      const Message& m = messages[i];
      kinds.insert(m.index());
      const std::string bytes = encode(m);
      CHECK(bytes.size() <= kMaxPayloadBytes);
      const auto d = decode(bytes);
      REQUIRE_MESSAGE(d.has_value(), outcome(bytes));
      CHECK(d->index() == m.index());
      CHECK(*d == m);
    }
    CHECK(kinds.size() == std::variant_size_v<Message>);
  }

  TEST_CASE("every datagram is a CBOR map carrying the protocol version") {
    for (const Message& m : sample_messages()) {
      const json j = as_json(m);
      REQUIRE(j.is_object());
      CHECK(j.at("v") == kProtocolVersion);
      CHECK(j.at("t").is_string());
    }
  }

  TEST_CASE("text is carried byte for byte, including NUL and quotes") {
    const std::string text = std::string("a\0b\"c\\d\n", 8) + "\u4f60\U0001F600";
    const auto d = decode(encode(Chat{1, "alice", text}));
    REQUIRE(d.has_value());
    CHECK(std::get<Chat>(*d).text == text);
  }

  TEST_CASE("to_string gives a distinct non-empty name to every DecodeError") {
    std::set<std::string> names;
    for (const DecodeError e :
         {DecodeError::kTooLarge, DecodeError::kMalformed, DecodeError::kBadVersion,
          DecodeError::kUnknownType, DecodeError::kBadField}) {
      const std::string name = to_string(e);
      CHECK_FALSE(name.empty());
      names.insert(name);
    }
    CHECK(names.size() == 5);
  }
}

TEST_SUITE("codec: worst-case sizes fit one datagram") {
  TEST_CASE("Save, Deliver and Chat with 1000 quote characters and maximal fields") {
    const std::string text = quotes_1000();
    const Save save{kMaxU64, kNickA, kNickB, kMaxU64, text};
    const Deliver deliver{kMaxU64, kNickA, kMaxU64, text, kMinI64};
    const Chat chat{kMaxU64, kNickA, text};
    for (const Message& m : {Message{save}, Message{deliver}, Message{chat}}) {
      CAPTURE(m.index());
      const std::string bytes = encode(m);
      CHECK(bytes.size() <= kMaxPayloadBytes);
      const auto d = decode(bytes);
      REQUIRE(d.has_value());
      CHECK(*d == m);
    }
  }

  TEST_CASE("Save, Deliver and Chat with 250 four-byte emoji and maximal fields") {
    const std::string text = emoji_250();
    REQUIRE(text.size() == kMaxMessageBytes);
    const Save save{kMaxU64, kNickA, kNickB, kMaxU64, text};
    const Deliver deliver{kMaxU64, kNickA, kMaxU64, text, kMaxI64};
    const Chat chat{kMaxU64, kNickA, text};
    for (const Message& m : {Message{save}, Message{deliver}, Message{chat}}) {
      CAPTURE(m.index());
      const std::string bytes = encode(m);
      CHECK(bytes.size() <= kMaxPayloadBytes);
      const auto d = decode(bytes);
      REQUIRE(d.has_value());
      CHECK(*d == m);
    }
  }

  TEST_CASE("the worst case, sealed for its session, still fits one datagram") {
    // A 12-byte nonce and a 16-byte tag, as in ChaCha20-Poly1305.
    const Deliver worst{kMaxU64, kNickA, kMaxU64, quotes_1000(), kMinI64};
    CHECK(encode(worst).size() + kSessionOverheadBytes <= kMaxDatagramBytes);
  }

  TEST_CASE("sealed end to end and for the session, a 1000-byte message still fits") {
    // manual §8: the box adds 40 bytes, the session frame 33.
    const std::string box(kMaxMessageBytes + 40, '\xff');
    const Save save{kMaxU64, kNickA, kNickB, kMaxU64, {}, box};
    const Deliver deliver{kMaxU64, kNickA, kMaxU64, {}, kMinI64, {}, box};
    const Chat chat{kMaxU64, kNickA, {}, box};
    const Relay relay{kMaxU64, kNickB, box};  // docs/NAT.md: relayed live, sealed for the session
    for (const Message& m : {Message{save}, Message{deliver}, Message{chat}, Message{relay}}) {
      const std::string bytes = encode(m);
      CHECK(bytes.size() + kSessionOverheadBytes <= kMaxDatagramBytes);
      const auto back = decode(bytes);
      REQUIRE(back);
      CHECK(*back == m);
    }
  }

  TEST_CASE("an Ack with a 1000-byte detail fits") {
    const Ack ack{kMaxU64, AckStatus::kError, kMaxU32, quotes_1000()};
    CHECK(encode(ack).size() <= kMaxDatagramBytes);
  }

  TEST_CASE("kTablePartEnvelopeBytes covers an empty TablePart with maximal integers") {
    const TablePart empty{kMaxU64, kMaxU64, kMaxU32, kMaxU32, {}, kMaxU64 - 1, kMaxU32};
    // An array of up to 65535 entries has a 3-byte header instead of 1.
    CHECK(encode(empty).size() + 2 <= kTablePartEnvelopeBytes);
  }
}

TEST_SUITE("codec: sizes and prepared updates") {
  TEST_CASE("encoded_entry_size is the size nlohmann_json writes, at every length boundary") {
    for (const std::size_t nick : {1, 23, 24, 32}) {
      for (const std::size_t addr : {1, 9, 23, 24, 45, 64}) {
        for (const std::uint16_t port :
             {std::uint16_t{0}, std::uint16_t{23}, std::uint16_t{24}, std::uint16_t{255},
              std::uint16_t{256}, std::uint16_t{65535}}) {
          for (const std::uint64_t version :
               {std::uint64_t{0}, std::uint64_t{23}, std::uint64_t{24}, std::uint64_t{255},
                std::uint64_t{256}, std::uint64_t{65535}, std::uint64_t{65536},
                std::uint64_t{0xFFFFFFFF}, std::uint64_t{0x100000000}, kMaxU64}) {
            const TableEntry e{std::string(nick, 'n'), std::string(addr, 'a'), port, nick % 2 == 0,
                               version};
            const auto cbor =
                json::to_cbor(json::array({e.nick, e.address, e.port, e.online, e.version}));
            REQUIRE(encoded_entry_size(e) == cbor.size());
          }
        }
      }
    }
  }

  TEST_CASE("encoded_entry_size counts a key and a local endpoint as encode() writes them") {
    for (const std::size_t addr : {1, 23, 24, 45, 64}) {
      for (const std::uint16_t port : {std::uint16_t{1}, std::uint16_t{23}, std::uint16_t{24},
                                       std::uint16_t{255}, std::uint16_t{256},
                                       std::uint16_t{65535}}) {
        const TableEntry with_local{"alice",          "203.0.113.7", 40000, true, 300,
                                    std::string(32, 'k'), std::string(addr, '1'), port};
        const TableEntry key_only{"alice", "203.0.113.7", 40000, true, 300, std::string(32, 'k')};
        // A local endpoint without a key is not written (a row from before both).
        const TableEntry no_key{"alice", "203.0.113.7", 40000, true, 300, {},
                                std::string(addr, '1'), port};
        for (const TableEntry& e : {with_local, key_only, no_key}) {
          const std::string bytes = encode(TablePart{1, 400, 0, 1, {e}});
          const std::string empty = encode(TablePart{1, 400, 0, 1, {}});
          // One row in place of none: the entries array head stays one byte.
          CHECK(encoded_entry_size(e) == bytes.size() - empty.size());
        }
      }
    }
  }

  TEST_CASE("a prepared update encodes exactly what encode() does, part by part, for any id") {
    const auto entries = sample_entries(300, kLongIpv6);
    PreparedUpdate prepared(9, entries, 4, 300);
    std::uint64_t id = 1000;
    const auto parts = split_table(
        9, entries, [&] { return id++; }, 4, 300);
    REQUIRE(prepared.parts() == parts.size());
    CHECK(prepared.rows() == 300);
    for (std::uint32_t i = 0; i < prepared.parts(); ++i) {
      CHECK(prepared.encode(i, parts[i].id) == encode(parts[i]));
      CHECK(prepared.encode(i, kMaxU64) ==
            encode(TablePart{kMaxU64, 9, i, parts[i].parts, parts[i].entries, 4, 300}));
    }
  }
}

TEST_SUITE("codec: split_table") {
  TEST_CASE("every part fits a datagram and the parts rebuild the table") {
    for (const std::string& address : {kLongIpv6, std::string(64, 'f')}) {
      for (const std::size_t count : {std::size_t{1}, std::size_t{50}, std::size_t{2000}}) {
        CAPTURE(address);
        CAPTURE(count);
        const auto entries = sample_entries(count, address);
        std::uint64_t next = 100;
        std::size_t calls = 0;
        const auto parts = split_table(77, entries, [&] {
          ++calls;
          return next++;
        });
        REQUIRE_FALSE(parts.empty());
        CHECK(calls == parts.size());

        std::vector<TableEntry> joined;
        std::set<std::uint64_t> ids;
        for (std::size_t i = 0; i < parts.size(); ++i) {
          CAPTURE(i);
          const TablePart& p = parts[i];
          CHECK(p.version == 77);
          CHECK(p.part == i);
          CHECK(p.parts == parts.size());
          CHECK_FALSE(p.entries.empty());
          ids.insert(p.id);
          const std::string bytes = encode(p);
          CHECK(bytes.size() <= kMaxPayloadBytes);
          std::size_t entry_bytes = 0;
          for (const auto& e : p.entries) {
            entry_bytes += encoded_entry_size(e);
          }
          CHECK(bytes.size() <= kTablePartEnvelopeBytes + entry_bytes);
          const auto d = decode(bytes);
          REQUIRE_MESSAGE(d.has_value(), outcome(bytes));
          CHECK(std::get<TablePart>(*d) == p);
          joined.insert(joined.end(), p.entries.begin(), p.entries.end());
        }
        CHECK(ids.size() == parts.size());
        CHECK(joined == entries);
        // Parts are packed, not one entry each: at least 8 of the largest entries fit.
        CHECK(parts.size() <= (count + 7) / 8);
      }
    }
  }

  TEST_CASE("an empty table gives one empty part") {
    int calls = 0;
    const auto parts = split_table(5, {}, [&] {
      ++calls;
      return std::uint64_t{9};
    });
    REQUIRE(parts.size() == 1);
    CHECK(calls == 1);
    CHECK(parts[0] == TablePart{9, 5, 0, 1, {}});
    const auto d = decode(encode(parts[0]));
    REQUIRE(d.has_value());
    CHECK(std::get<TablePart>(*d) == parts[0]);
  }
}
