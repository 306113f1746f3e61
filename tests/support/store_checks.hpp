// store_checks.hpp: what the store tests share: sample messages, and
// reads and writes that REQUIRE success (with the store's error as the
// failure's message).
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

#include "core/server/offline_store.hpp"

namespace udpchat::test {

inline constexpr std::uint64_t kMaxU64 = std::numeric_limits<std::uint64_t>::max();

inline std::int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline StoredMessage message(std::string from, std::string to_key, std::uint64_t mid,
                             std::string text, std::int64_t saved_at_ms = 1'700'000'000'000) {
  StoredMessage m;
  m.from = std::move(from);
  m.to_key = std::move(to_key);
  m.mid = mid;
  m.text = std::move(text);
  m.saved_at_ms = saved_at_ms;
  return m;
}

// Every field of a stored message but the store-assigned seq.
inline void check_same_message(const StoredMessage& got, const StoredMessage& want) {
  CHECK(got.from == want.from);
  CHECK(got.to_key == want.to_key);
  CHECK(got.mid == want.mid);
  CHECK(got.text == want.text);
  CHECK(got.saved_at_ms == want.saved_at_ms);
}

inline StoredMessage oldest(OfflineStore& s, const std::string& to_key) {
  const auto r = s.oldest_for(to_key);
  REQUIRE(r.has_value());
  REQUIRE(r->has_value());
  return **r;
}

inline std::size_t count(OfflineStore& s, const std::string& to_key) {
  const auto r = s.count_for(to_key);
  REQUIRE(r.has_value());
  return *r;
}

inline SaveResult save(OfflineStore& s, const StoredMessage& m) {
  const auto r = s.save(m);
  REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string() : r.error().what));
  return r->result;
}

inline StoredState load(OfflineStore& s) {
  auto r = s.load();
  REQUIRE(r.has_value());
  return std::move(*r);
}

inline const ClientRecord* find_client(const StoredState& st, const std::string& nick) {
  for (const auto& c : st.clients) {
    if (c.nick == nick) {
      return &c;
    }
  }
  return nullptr;
}

inline const std::string kText = "h\u00e9llo \u4f60\u597d \U0001F600 \"quoted\" \\ end";

}  // namespace udpchat::test
