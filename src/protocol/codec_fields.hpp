// codec_fields.hpp: the field getters of the decoder (codec_decode.cpp),
// private to src/protocol. Each returns nullopt (or false) when the field is
// missing, of the wrong type or out of its bounds (nicknames, UTF-8 text,
// sizes, part numbering); the decoder turns that into kBadField. Never throws.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/codec_names.hpp"
#include "protocol/limits.hpp"
#include "protocol/messages.hpp"
#include "protocol/text.hpp"

namespace udpchat::wire {

using json = nlohmann::json;

inline const json* field(const json& j, const char* key) {
  const auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

/// The fields of a datagram whose map holds only scalars (numbers, text,
/// byte strings, booleans, null), each key once, as read through the SAX
/// interface (codec_decode_flat.cpp) without building a tree. The getters
/// below read it exactly as they read a tree (every getter is a template
/// over the two), so the decoders share every check.
struct FlatFields {
  static constexpr std::size_t kMax = 12;  ///< more fields: the tree decoder reads it
  std::array<std::pair<std::string, json>, kMax> items{};
  std::size_t size = 0;
};

inline const json* field(const FlatFields& f, const char* key) {
  for (std::size_t i = 0; i < f.size; ++i) {
    if (f.items[i].first == key) return &f.items[i].second;
  }
  return nullptr;
}

template <typename J>
inline std::optional<std::uint64_t> get_u64(const J& j, const char* key) {
  const json* f = field(j, key);
  if (f == nullptr || !f->is_number_unsigned()) {
    return std::nullopt;
  }
  return f->get<std::uint64_t>();
}

template <typename J>
inline std::optional<std::int64_t> get_i64(const J& j, const char* key) {
  const json* f = field(j, key);
  if (f == nullptr) {
    return std::nullopt;
  }
  if (f->is_number_unsigned()) {
    const auto v = f->get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(INT64_MAX)) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(v);
  }
  if (f->is_number_integer()) {
    return f->get<std::int64_t>();
  }
  return std::nullopt;
}

template <typename T, typename J>
std::optional<T> get_small(const J& j, const char* key) {
  const auto v = get_u64(j, key);
  if (!v || *v > std::numeric_limits<T>::max()) {
    return std::nullopt;
  }
  return static_cast<T>(*v);
}

template <typename J>
inline std::optional<std::string> get_string(const J& j, const char* key) {
  const json* f = field(j, key);
  if (f == nullptr || !f->is_string()) {
    return std::nullopt;
  }
  return f->get<std::string>();
}

template <typename J>
inline std::optional<std::string> get_nick(const J& j, const char* key) {
  auto s = get_string(j, key);
  if (!s || !is_valid_nickname(*s)) {
    return std::nullopt;
  }
  return s;
}

/// A group name (nickname rules) or kEveryone.
template <typename J>
inline std::optional<std::string> get_group(const J& j, const char* key) {
  auto s = get_string(j, key);
  if (!s || (*s != kEveryone && !is_valid_nickname(*s))) {
    return std::nullopt;
  }
  return s;
}

template <typename J>
inline std::optional<std::string> get_text(const J& j, const char* key) {
  auto s = get_string(j, key);
  if (!s || s->size() > kMaxMessageBytes || !is_valid_utf8(*s)) {
    return std::nullopt;
  }
  return s;
}

/// A password field: 0 (none) to kMaxPasswordBytes of UTF-8.
template <typename J>
inline std::optional<std::string> get_password(const J& j, const char* key) {
  auto s = get_string(j, key);
  if (!s || s->size() > kMaxPasswordBytes || !is_valid_utf8(*s)) {
    return std::nullopt;
  }
  return s;
}

template <typename J, std::size_t N>
std::optional<std::uint8_t> get_enum(const J& j, const char* key,
                                     const char* const (&names)[N]) {
  const auto s = get_string(j, key);
  if (!s) {
    return std::nullopt;
  }
  for (std::size_t i = 0; i < N; ++i) {
    if (*s == names[i]) {
      return static_cast<std::uint8_t>(i);
    }
  }
  return std::nullopt;
}

/// A byte string of `min` to `max` bytes.
template <typename J>
inline std::optional<std::string> get_bytes(const J& j, const char* key, std::size_t min,
                                            std::size_t max) {
  const json* f = field(j, key);
  if (f == nullptr || !f->is_binary()) return std::nullopt;
  const auto& b = f->get_binary();
  if (b.size() < min || b.size() > max) return std::nullopt;
  return std::string(b.begin(), b.end());
}

/// manual §8: a box is a message of 1 to kMaxMessageBytes sealed: nonce
/// and tag (40 bytes) around it.
inline constexpr std::size_t kBoxMin = 41;
inline constexpr std::size_t kBoxMax = kMaxMessageBytes + 40;
inline constexpr std::size_t kPublicKeyBytes = 32;
inline constexpr std::size_t kAckTagBytes = 16;

/// A message's content: `text` (checked text) or `box` (bytes), exactly one.
template <typename J>
inline bool get_content(const J& j, std::string& text, std::string& box) {
  const bool has_text = field(j, "text") != nullptr;
  const bool has_box = field(j, "box") != nullptr;
  if (has_text == has_box) return false;
  if (has_text) {
    auto t = get_text(j, "text");
    if (!t) return false;
    text = std::move(*t);
    return true;
  }
  auto b = get_bytes(j, "box", kBoxMin, kBoxMax);
  if (!b) return false;
  box = std::move(*b);
  return true;
}

/// An address as the wire carries it: a numeric IPv4 or IPv6 address in
/// text (digits, hex letters, '.', ':'), 1 to kMaxAddressBytes bytes. The
/// shell parses it before use; this only keeps text out of it.
inline constexpr std::size_t kMaxAddressBytes = 64;
inline bool is_address_text(std::string_view a) {
  if (a.empty() || a.size() > kMaxAddressBytes) return false;
  return std::all_of(a.begin(), a.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
           c == '.' || c == ':';
  });
}

/// The checks of a table row once its fields are read (shared by get_entry
/// and the tree-less decoder of table parts, codec_table.cpp): `port` and
/// `local_port` as read, `size` the number of fields (4, 5, 6 or 8). Sets
/// out.port and out.local_port.
inline bool check_entry(TableEntry& out, std::uint64_t port, std::uint64_t local_port,
                        std::size_t size) {
  if (!is_valid_nickname(out.nick) || out.address.size() > kMaxAddressBytes ||
      !is_valid_utf8(out.address) || port > 65535) {
    return false;
  }
  out.port = static_cast<std::uint16_t>(port);
  if (size == 8) {
    // A local endpoint is told only beside a public one.
    if (out.address.empty() || !is_address_text(out.local_address) || local_port == 0 ||
        local_port > 65535) {
      return false;
    }
    out.local_port = static_cast<std::uint16_t>(local_port);
  } else if (size == 7 || !out.local_address.empty() || local_port != 0) {
    return false;
  }
  // Only a removed row has no address.
  return !out.address.empty() || (port == 0 && !out.online && size == 5);
}

inline std::optional<TableEntry> get_entry(const json& e) {
  // [nick, address, port, online], with the row's version
  // [nick, address, port, online, version], with its key (manual §8)
  // [nick, address, port, online, version, key], and with the client's
  // local endpoint when it differs from the public one (docs/NAT.md)
  // [nick, address, port, online, version, key, local address, local port].
  // A removed row (a deleted account, manual §9) is [nick, "", 0, false, version].
  if (!e.is_array() || e.size() < 4 || e.size() > 8 || e.size() == 7 || !e[0].is_string() ||
      !e[1].is_string() || !e[2].is_number_unsigned() || !e[3].is_boolean() ||
      (e.size() >= 5 && !e[4].is_number_unsigned()) ||
      (e.size() >= 6 && (!e[5].is_binary() || e[5].get_binary().size() != kPublicKeyBytes)) ||
      (e.size() == 8 && (!e[6].is_string() || !e[7].is_number_unsigned()))) {
    return std::nullopt;
  }
  TableEntry out;
  out.nick = e[0].get<std::string>();
  out.address = e[1].get<std::string>();
  out.online = e[3].get<bool>();
  std::uint64_t local_port = 0;
  if (e.size() == 8) {
    out.local_address = e[6].get<std::string>();
    local_port = e[7].get<std::uint64_t>();
  }
  if (!check_entry(out, e[2].get<std::uint64_t>(), local_port, e.size())) {
    return std::nullopt;
  }
  if (e.size() >= 5) {
    out.version = e[4].get<std::uint64_t>();
  }
  if (e.size() >= 6) {
    const auto& k = e[5].get_binary();
    out.key.assign(k.begin(), k.end());
  }
  return out;
}

/// An endpoint field: [address, port], the address numeric text
/// (is_address_text), the port 1 to 65535.
template <typename J>
inline std::optional<Endpoint> get_endpoint(const J& j, const char* key) {
  const json* f = field(j, key);
  if (f == nullptr || !f->is_array() || f->size() != 2 || !(*f)[0].is_string() ||
      !(*f)[1].is_number_unsigned()) {
    return std::nullopt;
  }
  Endpoint out{(*f)[0].get<std::string>(), 0};
  const auto port = (*f)[1].get<std::uint64_t>();
  if (!is_address_text(out.address) || port == 0 || port > 65535) return std::nullopt;
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

template <typename J>
inline std::optional<std::vector<TableEntry>> get_entries(const J& j) {
  const json* it = field(j, "entries");
  if (it == nullptr || !it->is_array()) {
    return std::nullopt;
  }
  std::vector<TableEntry> out;
  out.reserve(it->size());
  for (const auto& e : *it) {
    auto entry = get_entry(e);
    if (!entry) return std::nullopt;
    out.push_back(std::move(*entry));
  }
  return out;
}

template <typename J>
inline std::optional<std::vector<GroupInfo>> get_groups(const J& j) {
  const json* it = field(j, "groups");
  if (it == nullptr || !it->is_array()) {
    return std::nullopt;
  }
  std::vector<GroupInfo> out;
  for (const auto& g : *it) {
    if (!g.is_array() || g.size() != 2 || !g[0].is_string() || !g[1].is_array()) {
      return std::nullopt;
    }
    GroupInfo info{g[0].get<std::string>(), {}};
    if (!is_valid_nickname(info.name)) return std::nullopt;
    for (const auto& m : g[1]) {
      if (!m.is_string() || !is_valid_nickname(m.get<std::string>())) return std::nullopt;
      info.members.push_back(m.get<std::string>());
    }
    out.push_back(std::move(info));
  }
  return out;
}

/// Part numbering of a multi-part answer: 0 <= part < parts <= kMaxTableParts.
inline bool valid_parts(std::uint32_t part, std::uint32_t parts) {
  return parts != 0 && parts <= kMaxTableParts && part < parts;
}

// Builds message T from j with the field getters; any missing field fails.
template <typename... Opt>
bool all(const Opt&... o) {
  return (o.has_value() && ...);
}

/// A table part decoded without building a JSON tree (codec_table.cpp):
/// the part, or nullopt when `bytes` is anything else or not exactly what
/// the tree decoder would accept (then the caller decodes it that way, and
/// gets its precise error). Never throws.
std::optional<TablePart> decode_table_part(std::string_view bytes);

/// The hot kinds (Chat, Ack, Deliver, Save, Post) encoded without a JSON
/// tree (codec_hot.cpp), appended to `out`: the same bytes as
/// encode_with_tree. False, with `out` untouched, for any other kind.
bool encode_hot(const Message& m, std::string& out);

/// encode() with nlohmann_json's tree for every kind (codec_encode.cpp). For
/// the tests that compare the two encoders.
std::string encode_with_tree(const Message& m);

/// Any datagram whose map holds only scalars, decoded through the SAX
/// interface into FlatFields and read by the tree decoder's own code
/// (codec_decode_flat.cpp): the message, or nullopt when it is anything
/// else or fails a check (the caller then decodes it with the tree, which
/// gives the precise error). Never throws.
std::optional<Message> decode_flat(std::string_view bytes);

/// decode() without the tree-less path: the whole datagram parsed into a
/// JSON tree and read from it (codec_decode.cpp). For the tests that
/// compare the two decoders.
std::expected<Message, DecodeError> decode_with_tree(std::string_view bytes);

}  // namespace udpchat::wire
