// Unit tests of the wire codec (src/protocol/codec.hpp), the message values
// (messages.hpp) and the limits they must respect (limits.hpp): manual §7.
//
// Hostile datagrams are built with nlohmann::json::to_cbor, or byte by byte
// where CBOR itself must be broken.
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

using namespace udpchat;  // NOLINT(google-build-using-namespace): test file
using json = nlohmann::json;

namespace {

constexpr std::uint64_t kMaxU64 = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint32_t kMaxU32 = std::numeric_limits<std::uint32_t>::max();
constexpr std::int64_t kMaxI64 = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kMinI64 = std::numeric_limits<std::int64_t>::min();

// A 32-character (maximum length) nickname, distinct per `i`.
std::string long_nick(std::size_t i) {
  std::string n = "n" + std::to_string(i);
  n.resize(kMaxNicknameLength, 'x');
  return n;
}

const std::string kNickA = std::string(kMaxNicknameLength, 'A');
const std::string kNickB = std::string(kMaxNicknameLength - 1, 'b') + "_";

std::string quotes_1000() {
  return std::string(kMaxMessageBytes, '"');
}

std::string emoji_250() {
  std::string s;
  for (int i = 0; i < 250; ++i) {
    s += "\U0001F600";
  }
  return s;
}

// The longest textual IPv6 address (INET6_ADDRSTRLEN - 1 characters).
const std::string kLongIpv6 = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";

std::string cbor(const json& j) {
  const std::vector<std::uint8_t> b = json::to_cbor(j);
  return {b.begin(), b.end()};
}

template <typename... B>
std::string raw(B... b) {
  return std::string{static_cast<char>(static_cast<unsigned char>(b))...};
}

// What decode made of `bytes`, as a string doctest can print on failure.
std::string outcome(std::string_view bytes) {
  const auto r = decode(bytes);
  if (r) {
    return "accepted";
  }
  switch (r.error()) {
    case DecodeError::kTooLarge:
      return "kTooLarge";
    case DecodeError::kMalformed:
      return "kMalformed";
    case DecodeError::kBadVersion:
      return "kBadVersion";
    case DecodeError::kUnknownType:
      return "kUnknownType";
    case DecodeError::kBadField:
      return "kBadField";
  }
  return "invalid DecodeError value";
}

std::string hex(std::string_view b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const char c : b) {
    const auto u = static_cast<unsigned char>(c);
    out += kDigits[u >> 4U];
    out += kDigits[u & 0xFU];
  }
  return out;
}

// The decoded map of a real encoding, to be damaged field by field.
json as_json(const Message& m) {
  const std::string b = encode(m);
  return json::from_cbor(b.begin(), b.end());
}

std::vector<TableEntry> sample_entries(std::size_t n, const std::string& address) {
  std::vector<TableEntry> v;
  v.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    v.push_back({long_nick(i), address, 65535, i % 2 == 0});
  }
  return v;
}

// At least one value of every Message alternative, with edge values.
std::vector<Message> sample_messages() {
  std::vector<Message> v = {
      Register{1, "alice", 30000},
      Register{kMaxU64, kNickA, kMaxU32},
      Register{0, "a", 0},
      Deregister{7, "Bob.the-2nd_"},
      Deregister{kMaxU64, kNickA},
      Save{2, "alice", "bob", 3, "hello"},
      Save{kMaxU64, kNickA, kNickB, kMaxU64, quotes_1000()},
      Save{5, "alice", "bob", 0, ""},
      Heartbeat{3, "alice", 0},
      Heartbeat{kMaxU64, kNickA, kMaxU64},
      Ack{4, AckStatus::kOk, 0, ""},
      Ack{5, AckStatus::kSaved, 0, ""},
      Ack{6, AckStatus::kExists, 0, ""},
      Ack{7, AckStatus::kUnknown, 0, ""},
      Ack{8, AckStatus::kInUse, 0, ""},
      Ack{9, AckStatus::kOffline, 0, ""},
      Ack{10, AckStatus::kError, 0, "database or disk is full"},
      Ack{kMaxU64, AckStatus::kOk, kMaxU32, "\u00e9t\u00e9 \U0001F600"},
      Ack{19, AckStatus::kOk, 0, "", 100000},
      TablePart{11, 1, 0, 1, {}},
      TablePart{12, 42, 0, 1, {{"alice", "127.0.0.1", 40000, true}, {"Bob", "::1", 1024, false}}},
      TablePart{kMaxU64,
                kMaxU64,
                kMaxTableParts - 1,
                kMaxTableParts,
                {{kNickA, kLongIpv6, 65535, true}, {"z", "10.0.0.1", 0, false}}},
      TablePart{15, 9, 0, 1, {{"alice", "127.0.0.1", 40000, true, 8}}, 4, 1000},
      TablePart{kMaxU64,
                kMaxU64,
                0,
                1,
                {{kNickA, kLongIpv6, 65535, true, kMaxU64}},
                kMaxU64 - 1,
                kMaxU32},
      Lookup{16, "alice", "bob"},
      Lookup{kMaxU64, kNickA, kNickB},
      Find{17, "alice", "b"},
      Find{kMaxU64, kNickA, kNickB},
      Rows{18, 0, 1, {}, 0},
      Rows{kMaxU64, 1, 2, {{"bob", "::1", 6002, false, 3}}, kMaxU32},
      Rows{20, 0, 1, {}, 0, 100000},
      Ping{13},
      Ping{0},
      Ping{kMaxU64},
      Chat{14, "alice", "hi bob"},
      Chat{kMaxU64, kNickA, emoji_250()},
      Chat{15, "alice", ""},
      Deliver{16, "alice", 17, "live relay", 0},
      Deliver{18, "alice", 19, "stored", 1'700'000'000'123},
      Deliver{kMaxU64, kNickA, kMaxU64, quotes_1000(), kMaxI64},
      Deliver{20, "alice", 21, "before 1970", -1},
      Deliver{22, "alice", 23, "far past", kMinI64},
      Notice{24, NoticeKind::kDelivered, "bob", 25},
      Notice{26, NoticeKind::kSaved, kNickB, kMaxU64},
      Notice{kMaxU64, NoticeKind::kShutdown, "", 0},
      Deliver{27, "alice", 28, "to the channel", 0, kEveryone},
      Deliver{kMaxU64, kNickA, kMaxU64, quotes_1000(), kMinI64, kNickB},
      Post{29, "alice", kEveryone, 30, "hello all"},
      Post{kMaxU64, kNickA, kNickB, kMaxU64, emoji_250()},
      Join{31, "alice", "friends"},
      Leave{32, "alice", "friends"},
      ListGroups{33, "alice"},
      GroupList{34, 0, 1, {}},
      GroupList{kMaxU64, 1, 2, {{"friends", {"alice", "bob"}}, {kNickB, {}}}},
      Register{35, "alice", 30000, "correct horse battery staple"},
      Register{kMaxU64, kNickA, 100, std::string(kMaxPasswordBytes, 'p')},
      SetPassword{36, "alice", "s3cret pass"},
      SetPassword{37, "alice", ""},  // removes it
      DeleteAccount{38, "alice"},
      Ack{39, AckStatus::kBadPassword, 0, {}},
  };
  return v;
}

}  // namespace

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
    for (const Message& m : {Message{save}, Message{deliver}, Message{chat}}) {
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

TEST_SUITE("codec: decode rejects bad datagrams") {
  TEST_CASE("empty input and bytes that are not a CBOR map are malformed") {
    CHECK(outcome("") == "kMalformed");
    CHECK(outcome("hello") == "kMalformed");
    CHECK(outcome("{\"v\":1,\"t\":\"ping\",\"id\":1}") == "kMalformed");  // JSON text
    CHECK(outcome(raw(0x00)) == "kMalformed");
    CHECK(outcome(raw(0xFF, 0xFF, 0xFF)) == "kMalformed");
    CHECK(outcome(raw(0xDE, 0xAD, 0xBE, 0xEF)) == "kMalformed");
    CHECK(outcome(cbor(json::array({1, 2, 3}))) == "kMalformed");
    CHECK(outcome(cbor(json("ping"))) == "kMalformed");
    CHECK(outcome(cbor(json(1))) == "kMalformed");
  }

  TEST_CASE("a truncated map, trailing bytes and non-string keys are malformed") {
    const std::string ping = encode(Ping{1});
    for (std::size_t n = 1; n < ping.size(); ++n) {
      CAPTURE(n);
      CHECK(outcome(ping.substr(0, n)) == "kMalformed");
    }
    CHECK(outcome(ping + raw(0x00)) == "kMalformed");
    CHECK(outcome(ping + ping) == "kMalformed");
    CHECK(outcome(raw(0xA1, 0x01, 0x02)) == "kMalformed");  // {1: 2}
    CHECK(outcome(raw(0xA1)) == "kMalformed");
    CHECK(outcome(raw(0xBF)) == "kMalformed");  // indefinite map without its end
  }

  TEST_CASE("CBOR tags are refused") {
    // {"v": 1, "t": "ping", "id": 1(1)}: tag 1 (epoch time) around the id.
    const std::string tagged =
        raw(0xA3, 0x61, 'v', 0x01, 0x61, 't', 0x64, 'p', 'i', 'n', 'g', 0x62, 'i', 'd', 0xC1, 0x01);
    CHECK(outcome(tagged) == "kMalformed");
  }

  TEST_CASE("random bytes are never accepted") {
    std::mt19937 rng(12345);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_int_distribution<std::size_t> length(0, 64);
    for (int i = 0; i < 2000; ++i) {
      std::string b(length(rng), '\0');
      for (char& c : b) {
        c = static_cast<char>(byte(rng));
      }
      CAPTURE(hex(b));
      CHECK(outcome(b) != "accepted");
    }
  }

  TEST_CASE("more than 1200 bytes is too large, whatever they hold") {
    CHECK(outcome(std::string(kMaxDatagramBytes + 1, '\0')) == "kTooLarge");
    CHECK(outcome(std::string(kMaxDatagramBytes + 1, '\xA1')) == "kTooLarge");
    CHECK(outcome(std::string(100000, 'x')) == "kTooLarge");
    // A well-formed map of a known kind that is one byte too long.
    json j = as_json(Ping{1});
    j["pad"] = "";
    const std::size_t base = cbor(j).size();
    j["pad"] = std::string(kMaxDatagramBytes + 1 - base, 'p');
    // The string header grew from 1 byte to 3: take the difference off.
    const std::size_t over = cbor(j).size() - (kMaxDatagramBytes + 1);
    j["pad"] = std::string(kMaxDatagramBytes + 1 - base - over, 'p');
    const std::string big = cbor(j);
    REQUIRE(big.size() == kMaxDatagramBytes + 1);
    CHECK(outcome(big) == "kTooLarge");
  }

  TEST_CASE("a valid datagram of exactly 1200 bytes is accepted") {
    // Fill a table part with entries, then pick the last entry's nickname and
    // address lengths so that the encoding is exactly kMaxDatagramBytes.
    std::optional<TablePart> exact;
    for (std::size_t n = 12; n > 0 && !exact; --n) {
      TablePart t{kMaxU64, kMaxU64, 0, 1, sample_entries(n - 1, std::string(64, 'a'))};
      for (std::size_t nick_len = 1; nick_len <= kMaxNicknameLength && !exact; ++nick_len) {
        for (std::size_t addr_len = 1; addr_len <= 64 && !exact; ++addr_len) {
          TablePart candidate = t;
          candidate.entries.push_back(
              {std::string(nick_len, 'q'), std::string(addr_len, 'a'), 65535, true});
          if (encode(candidate).size() == kMaxDatagramBytes) {
            exact = candidate;
          }
        }
      }
    }
    REQUIRE(exact.has_value());
    const std::string bytes = encode(*exact);
    REQUIRE(bytes.size() == kMaxDatagramBytes);
    const auto d = decode(bytes);
    REQUIRE_MESSAGE(d.has_value(), outcome(bytes));
    CHECK(std::get<TablePart>(*d) == *exact);
    CHECK(outcome(bytes + raw(0x00)) == "kTooLarge");
  }

  TEST_CASE("a map without \"v\" or with another version is a bad version") {
    CHECK(outcome(cbor(json{{"t", "ping"}, {"id", 1}})) == "kBadVersion");
    CHECK(outcome(cbor(json::object())) == "kBadVersion");
    for (const json& v : {json(0), json(2), json(kProtocolVersion + 1), json(kMaxU64), json(-1),
                          json("1"), json(1.0), json(true), json(nullptr), json::array({1})}) {
      CAPTURE(v.dump());
      CHECK(outcome(cbor(json{{"v", v}, {"t", "ping"}, {"id", 1}})) == "kBadVersion");
    }
  }

  TEST_CASE("a missing or unknown kind is an unknown type") {
    CHECK(outcome(cbor(json{{"v", 1}, {"id", 1}})) == "kUnknownType");
    for (const json& t : {json("nope"), json("PING"), json(""), json("ping "), json(6),
                          json(nullptr), json::array({"ping"})}) {
      CAPTURE(t.dump());
      CHECK(outcome(cbor(json{{"v", 1}, {"t", t}, {"id", 1}})) == "kUnknownType");
    }
  }

  TEST_CASE("a missing field is a bad field, for every kind and every field") {
    for (const Message& m : sample_messages()) {
      const json full = as_json(m);
      for (const auto& [key, value] : full.items()) {
        if (key == "v" || key == "t") {
          continue;
        }
        // An Ack's "stored" and "detail", a table's "from" and "total", a
        // delivery's "group", a registration's "pw" are optional (left out
        // when 0 / empty).
        const bool optional =
            (std::holds_alternative<Ack>(m) &&
             (key == "stored" || key == "detail" || key == "total")) ||
            (std::holds_alternative<TablePart>(m) && (key == "from" || key == "total")) ||
            (std::holds_alternative<Rows>(m) && key == "total") ||
            (std::holds_alternative<Deliver>(m) && key == "group") ||  // absent: direct
            (std::holds_alternative<Register>(m) && key == "pw");      // absent: none
        json j = full;
        j.erase(key);
        CAPTURE(full.dump());
        CAPTURE(key);
        CHECK(outcome(cbor(j)) == (optional ? "accepted" : "kBadField"));
      }
    }
  }

  TEST_CASE("a field of the wrong type is a bad field, for every kind and every field") {
    const std::vector<json> wrong_numbers = {
        json("1"),     json(-1),         json(1.5),      json(true),
        json(nullptr), json::array({1}), json::object(), json::binary({1, 2})};
    const std::vector<json> wrong_strings = {json(1),
                                             json(-1),
                                             json(1.5),
                                             json(false),
                                             json(nullptr),
                                             json::array({"alice"}),
                                             json::binary({'a', 'l', 'i', 'c', 'e'})};
    const std::vector<json> wrong_arrays = {json("x"), json(1), json(nullptr), json::object(),
                                            json::binary({0x80})};
    for (const Message& m : sample_messages()) {
      const json full = as_json(m);
      for (const auto& [key, value] : full.items()) {
        if (key == "v" || key == "t") {
          continue;
        }
        const auto& wrong = value.is_string()  ? wrong_strings
                            : value.is_array() ? wrong_arrays
                                               : wrong_numbers;
        for (const json& w : wrong) {
          if (key == "at" && w == json(-1)) {
            continue;  // saved_at_ms is signed: -1 is a valid time
          }
          json j = full;
          j[key] = w;
          CAPTURE(full.dump());
          CAPTURE(key);
          CAPTURE(w.dump());
          CHECK(outcome(cbor(j)) == "kBadField");
        }
      }
    }
  }

  TEST_CASE("integers out of their field's range are bad fields") {
    json reg = as_json(Register{1, "alice", 1});
    reg["hb"] = std::uint64_t{kMaxU32} + 1;
    CHECK(outcome(cbor(reg)) == "kBadField");

    json ack = as_json(Ack{1, AckStatus::kOk, 5, ""});
    ack["stored"] = std::uint64_t{kMaxU32} + 1;
    CHECK(outcome(cbor(ack)) == "kBadField");

    json deliver = as_json(Deliver{1, "alice", 2, "x", 0});
    deliver["at"] = static_cast<std::uint64_t>(kMaxI64) + 1;
    CHECK(outcome(cbor(deliver)) == "kBadField");

    json table = as_json(TablePart{1, 1, 0, 1, {{"alice", "::1", 1, true}}});
    table["entries"][0][2] = 65536;
    CHECK(outcome(cbor(table)) == "kBadField");
    table["entries"][0][2] = -1;
    CHECK(outcome(cbor(table)) == "kBadField");
  }

  TEST_CASE("an enumeration name that is not known is a bad field") {
    json ack = as_json(Ack{1, AckStatus::kOk, 0, ""});
    ack["st"] = "maybe";
    CHECK(outcome(cbor(ack)) == "kBadField");
    ack["st"] = "OK";
    CHECK(outcome(cbor(ack)) == "kBadField");

    json notice = as_json(Notice{1, NoticeKind::kDelivered, "bob", 2});
    notice["kind"] = "read";
    CHECK(outcome(cbor(notice)) == "kBadField");
  }

  TEST_CASE("an invalid nickname is a bad field wherever a nickname is carried") {
    const std::vector<std::string> bad_nicks = {
        "", "a b", "a/b", std::string(33, 'x'), "al\u00efce", "\U0001F600", "a\nb"};
    const std::vector<std::pair<Message, std::string>> carriers = {
        {Register{1, "alice", 1}, "nick"},         {Deregister{1, "alice"}, "nick"},
        {Save{1, "alice", "bob", 2, "x"}, "from"}, {Save{1, "alice", "bob", 2, "x"}, "to"},
        {Heartbeat{1, "alice", 0}, "nick"},        {Chat{1, "alice", "x"}, "from"},
        {Deliver{1, "alice", 2, "x", 0}, "from"},
    };
    for (const auto& [m, key] : carriers) {
      for (const std::string& nick : bad_nicks) {
        json j = as_json(m);
        j[key] = nick;
        CAPTURE(key);
        CAPTURE(hex(nick));
        CHECK(outcome(cbor(j)) == "kBadField");
      }
    }
    // A Notice may carry an empty nickname (kShutdown), but not an invalid one.
    for (const std::string& nick : bad_nicks) {
      if (nick.empty()) {
        continue;
      }
      json j = as_json(Notice{1, NoticeKind::kSaved, "bob", 2});
      j["nick"] = nick;
      CAPTURE(hex(nick));
      CHECK(outcome(cbor(j)) == "kBadField");
    }
    // And a table entry.
    for (const std::string& nick : bad_nicks) {
      json j = as_json(TablePart{1, 1, 0, 1, {{"alice", "::1", 1, true}}});
      j["entries"][0][0] = nick;
      CAPTURE(hex(nick));
      CHECK(outcome(cbor(j)) == "kBadField");
    }
  }

  TEST_CASE("a text over 1000 bytes or not valid UTF-8 is a bad field") {
    const std::string too_long(kMaxMessageBytes + 1, 'a');
    const std::vector<std::string> bad_texts = {too_long,
                                                raw(0xC0, 0x80),
                                                raw(0xED, 0xA0, 0x80),
                                                raw(0xF4, 0x90, 0x80, 0x80),
                                                "ok" + raw(0x80),
                                                "truncated " + raw(0xE4, 0xBD)};
    const std::vector<std::pair<Message, std::string>> carriers = {
        {Save{1, "alice", "bob", 2, "x"}, "text"},
        {Chat{1, "alice", "x"}, "text"},
        {Deliver{1, "alice", 2, "x", 0}, "text"},
        {Ack{1, AckStatus::kError, 0, "x"}, "detail"},
    };
    for (const auto& [m, key] : carriers) {
      for (const std::string& text : bad_texts) {
        json j = as_json(m);
        j[key] = text;
        const std::string bytes = cbor(j);
        REQUIRE(bytes.size() <= kMaxDatagramBytes);
        CAPTURE(key);
        CAPTURE(text.size());
        CHECK(outcome(bytes) == "kBadField");
      }
    }
  }

  TEST_CASE("a table entry of the wrong shape is a bad field") {
    const json good = as_json(TablePart{1, 1, 0, 1, {{"alice", "::1", 1, true}}});
    const std::vector<json> bad_entries = {
        json::array({"alice", "::1", 1}),
        json::array({"alice", "::1", 1, true, 0, 0}),
        json::array({"alice", "::1", 1, true, -1}),
        json::array({"alice", "::1", 1, true, "7"}),
        json::array(),
        json::object({{"nick", "alice"}}),
        json("alice"),
        json::array({"alice", "", 1, true}),
        json::array({"alice", std::string(65, 'a'), 1, true}),
        json::array({"alice", raw(0xFF), 1, true}),
        json::array({"alice", "::1", "1", true}),
        json::array({"alice", "::1", 1, 1}),
        json::array({1, "::1", 1, true}),
    };
    CHECK(outcome(cbor(good)) == "accepted");
    for (const json& e : bad_entries) {
      json j = good;
      j["entries"][0] = e;
      CAPTURE(e.dump(-1, ' ', false, json::error_handler_t::replace));
      CHECK(outcome(cbor(j)) == "kBadField");
    }
  }

  TEST_CASE("table part numbering out of range is a bad field") {
    const auto table = [](json part, json parts) {
      json j = as_json(TablePart{1, 1, 0, 1, {}});
      j["part"] = std::move(part);
      j["parts"] = std::move(parts);
      return cbor(j);
    };
    CHECK(outcome(table(0, 1)) == "accepted");
    CHECK(outcome(table(kMaxTableParts - 1, kMaxTableParts)) == "accepted");
    CHECK(outcome(table(1, 1)) == "kBadField");
    CHECK(outcome(table(5, 3)) == "kBadField");
    CHECK(outcome(table(0, 0)) == "kBadField");
    CHECK(outcome(table(0, kMaxTableParts + 1)) == "kBadField");
    CHECK(outcome(table(kMaxTableParts, kMaxTableParts + 1)) == "kBadField");
    CHECK(outcome(table(0, kMaxU32)) == "kBadField");
    CHECK(outcome(table(0, std::uint64_t{kMaxU32} + 2)) == "kBadField");
  }
}

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
