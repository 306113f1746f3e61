// Unit tests of the codec: decode refuses every bad datagram with its
// DecodeError (manual §7): broken CBOR, oversize, bad version, unknown kind,
// missing fields, fields of the wrong type or out of range, bad nicknames and
// texts, malformed table entries and part numbers.
//
// Hostile datagrams are built with nlohmann::json::to_cbor, or byte by byte
// where CBOR itself must be broken (tests/support/codec_samples.hpp).
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
        // delivery's "group", a registration's "pw" and "local", an Ack's
        // "seen" are optional (left out when 0 / empty).
        const bool optional =
            (std::holds_alternative<Ack>(m) &&
             (key == "stored" || key == "detail" || key == "total" || key == "seen" ||
              key == "expired")) ||
            (std::holds_alternative<Register>(m) && key == "local") ||
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
    const std::vector<json> wrong_booleans = {json(1),        json(0),         json("true"),
                                              json(nullptr),  json::array(),   json::object(),
                                              json::binary({1})};
    for (const Message& m : sample_messages()) {
      const json full = as_json(m);
      for (const auto& [key, value] : full.items()) {
        if (key == "v" || key == "t") {
          continue;
        }
        const auto& wrong = value.is_string()    ? wrong_strings
                            : value.is_array()   ? wrong_arrays
                            : value.is_boolean() ? wrong_booleans
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
        // The local endpoint (docs/NAT.md): only as fields 7 and 8, after a
        // key, a numeric address and a port 1 to 65535.
        json::array({"alice", "::1", 1, true, 0, json::binary(std::vector<std::uint8_t>(32, 7)),
                     "10.0.0.2"}),
        json::array({"alice", "::1", 1, true, 0, json::binary(std::vector<std::uint8_t>(32, 7)),
                     "10.0.0.2", 0}),
        json::array({"alice", "::1", 1, true, 0, json::binary(std::vector<std::uint8_t>(32, 7)),
                     "10.0.0.2", 65536}),
        json::array({"alice", "::1", 1, true, 0, json::binary(std::vector<std::uint8_t>(32, 7)),
                     "", 5}),
        json::array({"alice", "::1", 1, true, 0, json::binary(std::vector<std::uint8_t>(32, 7)),
                     "host.example", 5}),
        json::array({"alice", "::1", 1, true, 0, json::binary(std::vector<std::uint8_t>(32, 7)),
                     std::string(65, '1'), 5}),
        json::array({"alice", "::1", 1, true, 0, json::binary(std::vector<std::uint8_t>(32, 7)),
                     "10.0.0.2", 5, 0}),
        json::array({"alice", "::1", 1, true, 0, "key", "10.0.0.2", 5}),
        json::array({"alice", "::1", 1, true, 0, json::binary(std::vector<std::uint8_t>(32, 7)),
                     5, "10.0.0.2"}),
    };
    CHECK(outcome(cbor(good)) == "accepted");
    for (const json& e : bad_entries) {
      json j = good;
      j["entries"][0] = e;
      CAPTURE(e.dump(-1, ' ', false, json::error_handler_t::replace));
      CHECK(outcome(cbor(j)) == "kBadField");
    }
  }

  TEST_CASE("an endpoint that is not [numeric address, port 1 to 65535] is a bad field") {
    const std::vector<json> bad = {
        json::array({"10.0.0.2"}),
        json::array({"10.0.0.2", 5, 6}),
        json::array({"10.0.0.2", 0}),
        json::array({"10.0.0.2", 65536}),
        json::array({"10.0.0.2", -5}),
        json::array({"", 5}),
        json::array({"localhost", 5}),
        json::array({"10.0.0.2 ", 5}),
        json::array({"fe80::1%eth0", 5}),
        json::array({std::string(65, '1'), 5}),
        json::array({5, "10.0.0.2"}),
        json::object({{"a", "10.0.0.2"}, {"p", 5}}),
    };
    const json reg = as_json(Register{1, "alice", 1, {}, Endpoint{"10.0.0.2", 5}});
    const json ack = as_json(Ack{1, AckStatus::kOk, 0, {}, 0, {}, Endpoint{"::1", 5}});
    CHECK(outcome(cbor(reg)) == "accepted");
    CHECK(outcome(cbor(ack)) == "accepted");
    for (const json& e : bad) {
      CAPTURE(e.dump());
      json r = reg;
      r["local"] = e;
      CHECK(outcome(cbor(r)) == "kBadField");
      json a = ack;
      a["seen"] = e;
      CHECK(outcome(cbor(a)) == "kBadField");
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
