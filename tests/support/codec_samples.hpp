// codec_samples.hpp: values and byte builders for the codec's unit tests
// (tests/unit/test_codec*.cpp): one value of every message kind with edge
// values, maximal fields, and helpers to write CBOR or raw bytes by hand.
#pragma once

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/codec.hpp"
#include "protocol/limits.hpp"
#include "protocol/messages.hpp"

namespace udpchat::test {

using json = nlohmann::json;

inline constexpr std::uint64_t kMaxU64 = std::numeric_limits<std::uint64_t>::max();
inline constexpr std::uint32_t kMaxU32 = std::numeric_limits<std::uint32_t>::max();
inline constexpr std::int64_t kMaxI64 = std::numeric_limits<std::int64_t>::max();
inline constexpr std::int64_t kMinI64 = std::numeric_limits<std::int64_t>::min();

// A 32-character (maximum length) nickname, distinct per `i`.
inline std::string long_nick(std::size_t i) {
  std::string n = "n" + std::to_string(i);
  n.resize(kMaxNicknameLength, 'x');
  return n;
}

inline const std::string kNickA = std::string(kMaxNicknameLength, 'A');
inline const std::string kNickB = std::string(kMaxNicknameLength - 1, 'b') + "_";

inline std::string quotes_1000() {
  return std::string(kMaxMessageBytes, '"');
}

inline std::string emoji_250() {
  std::string s;
  for (int i = 0; i < 250; ++i) {
    s += "\U0001F600";
  }
  return s;
}

// The longest textual IPv6 address (INET6_ADDRSTRLEN - 1 characters).
inline const std::string kLongIpv6 = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";

inline std::string cbor(const json& j) {
  const std::vector<std::uint8_t> b = json::to_cbor(j);
  return {b.begin(), b.end()};
}

template <typename... B>
inline std::string raw(B... b) {
  return std::string{static_cast<char>(static_cast<unsigned char>(b))...};
}

// What decode made of `bytes`, as a string doctest can print on failure.
inline std::string outcome(std::string_view bytes) {
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

inline std::string hex(std::string_view b) {
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
inline json as_json(const Message& m) {
  const std::string b = encode(m);
  return json::from_cbor(b.begin(), b.end());
}

inline std::vector<TableEntry> sample_entries(std::size_t n, const std::string& address) {
  std::vector<TableEntry> v;
  v.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    v.push_back({long_nick(i), address, 65535, i % 2 == 0});
  }
  return v;
}

// At least one value of every Message alternative, with edge values.
inline std::vector<Message> sample_messages() {
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
      Ack{20, AckStatus::kOk, 3, "", 12, {}, {}, 30},  // a registration after the log retention
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
      // docs/NAT.md: the local endpoint a client tells, the public one the
      // server saw, and rows that carry both.
      Register{40, "alice", 30000, {}, Endpoint{"198.18.0.2", 40000}},
      Register{kMaxU64, kNickA, 100, std::string(kMaxPasswordBytes, 'p'),
               Endpoint{kLongIpv6, 65535}},
      Ack{41, AckStatus::kOk, 2, {}, 7, {}, Endpoint{"203.0.113.7", 61234}},
      Ack{kMaxU64, AckStatus::kOk, kMaxU32, "", kMaxU32, {}, Endpoint{kLongIpv6, 1}},
      TablePart{42,
                43,
                0,
                1,
                {{"alice", "203.0.113.7", 61000, true, 9, std::string(32, 'k'), "198.18.0.2",
                  40000},
                 {kNickB, kLongIpv6, 1, false, kMaxU64, std::string(32, '\0'), kLongIpv6, 65535},
                 {"carol", "192.0.2.1", 5000, true, 3, std::string(32, 'c')}}},
      Rows{44, 0, 1, {{"bob", "203.0.113.9", 6002, true, 3, std::string(32, 'b'), "fd00::2", 6002}},
           1, 5},
      Introduce{45, "alice", "bob"},
      Introduce{kMaxU64, kNickA, kNickB},
      Punch{46, {"bob", "203.0.113.9", 6002, true, 3, std::string(32, 'b'), "198.18.0.12", 40000}},
      Punch{kMaxU64, {kNickB, kLongIpv6, 65535, false, kMaxU64, std::string(32, '\xff')}},
      Probe{47, "alice", "bob", false, std::string(16, 't')},
      Probe{kMaxU64, kNickA, kNickB, true, std::string(16, '\0')},
      Relay{48, "bob", std::string(41, 'b')},
      Relay{kMaxU64, kNickB, std::string(kMaxMessageBytes + 40, '\xee')},
      RelayAck{49, "alice", std::string(16, 't')},
      RelayAck{kMaxU64, kNickA, std::string(16, '\0')},
  };
  return v;
}

}  // namespace udpchat::test
