// codec_from_json.hpp: the fields of each kind read and checked, from a
// JSON tree (codec_decode.cpp) or from the flat fields of a scalar-only
// datagram (codec_decode_flat.cpp): one body of checks for both decoders.
// Private to src/protocol.
#pragma once

#include <expected>
#include <string>

#include "protocol/codec.hpp"
#include "protocol/codec_fields.hpp"
#include "protocol/codec_names.hpp"
#include "protocol/limits.hpp"
#include "protocol/text.hpp"

namespace udpchat::wire {

/// The message of kind `type` from the fields of `j` (a json tree or
/// FlatFields), every field checked; kBadField or kUnknownType otherwise.
template <typename J>
std::expected<Message, DecodeError> from_json(const J& j, const std::string& type) {
  const auto bad = std::unexpected(DecodeError::kBadField);
  const auto id = get_u64(j, "id");
  if (!id) {
    return bad;
  }
  if (type == "reg") {
    auto nick = get_nick(j, "nick");
    auto hb = get_small<std::uint32_t>(j, "hb");
    if (!all(nick, hb)) return bad;
    Register r{*id, std::move(*nick), *hb};
    if (field(j, "pw") != nullptr) {
      auto pw = get_password(j, "pw");
      if (!pw || pw->empty()) return bad;
      r.password = std::move(*pw);
    }
    if (field(j, "local") != nullptr) {
      auto local = get_endpoint(j, "local");
      if (!local) return bad;
      r.local = std::move(*local);
    }
    return r;
  }
  if (type == "passwd") {
    auto from = get_nick(j, "from");
    auto pw = get_password(j, "pw");
    if (!all(from, pw)) return bad;
    return SetPassword{*id, std::move(*from), std::move(*pw)};
  }
  if (type == "delacct") {
    auto from = get_nick(j, "from");
    if (!from) return bad;
    return DeleteAccount{*id, std::move(*from)};
  }
  if (type == "dereg") {
    auto nick = get_nick(j, "nick");
    if (!nick) return bad;
    return Deregister{*id, std::move(*nick)};
  }
  if (type == "save") {
    auto from = get_nick(j, "from");
    auto to = get_nick(j, "to");
    auto mid = get_u64(j, "mid");
    Save s{*id, {}, {}, 0, {}};
    if (!all(from, to, mid) || !get_content(j, s.text, s.box)) return bad;
    s.from = std::move(*from);
    s.to = std::move(*to);
    s.mid = *mid;
    return s;
  }
  if (type == "hb") {
    auto nick = get_nick(j, "nick");
    auto ver = get_u64(j, "ver");
    if (!all(nick, ver)) return bad;
    return Heartbeat{*id, std::move(*nick), *ver};
  }
  if (type == "ack") {
    auto st = get_enum(j, "st", kAckStatusNames);
    if (!st) return bad;
    Ack a{*id, static_cast<AckStatus>(*st), 0, {}};
    if (field(j, "stored") != nullptr) {
      auto stored = get_small<std::uint32_t>(j, "stored");
      if (!stored) return bad;
      a.stored = *stored;
    }
    if (field(j, "detail") != nullptr) {
      auto detail = get_text(j, "detail");
      if (!detail) return bad;
      a.detail = std::move(*detail);
    }
    if (field(j, "total") != nullptr) {
      auto total = get_small<std::uint32_t>(j, "total");
      if (!total) return bad;
      a.total = *total;
    }
    if (field(j, "tag") != nullptr) {
      auto tag = get_bytes(j, "tag", kAckTagBytes, kAckTagBytes);
      if (!tag) return bad;
      a.tag = std::move(*tag);
    }
    if (field(j, "expired") != nullptr) {
      auto expired = get_small<std::uint32_t>(j, "expired");
      if (!expired) return bad;
      a.expired = *expired;
    }
    if (field(j, "seen") != nullptr) {
      auto seen = get_endpoint(j, "seen");
      if (!seen) return bad;
      a.seen = std::move(*seen);
    }
    return a;
  }
  if (type == "table") {
    auto ver = get_u64(j, "ver");
    auto part = get_small<std::uint32_t>(j, "part");
    auto parts = get_small<std::uint32_t>(j, "parts");
    auto entries = get_entries(j);
    if (!all(ver, part, parts, entries) || !valid_parts(*part, *parts)) {
      return bad;
    }
    TablePart t{*id, *ver, *part, *parts, std::move(*entries), 0, 0};
    if (field(j, "from") != nullptr) {
      auto from = get_u64(j, "from");
      if (!from || *from >= *ver) return bad;  // an update moves forward
      t.from = *from;
    }
    if (field(j, "total") != nullptr) {
      auto total = get_small<std::uint32_t>(j, "total");
      if (!total) return bad;
      t.total = *total;
    }
    return t;
  }
  if (type == "lookup") {
    auto from = get_nick(j, "from");
    auto nick = get_nick(j, "nick");
    if (!all(from, nick)) return bad;
    return Lookup{*id, std::move(*from), std::move(*nick)};
  }
  if (type == "find") {
    auto from = get_nick(j, "from");
    auto prefix = get_nick(j, "prefix");  // a prefix follows the nickname rules
    if (!all(from, prefix)) return bad;
    return Find{*id, std::move(*from), std::move(*prefix)};
  }
  if (type == "rows") {
    auto part = get_small<std::uint32_t>(j, "part");
    auto parts = get_small<std::uint32_t>(j, "parts");
    auto entries = get_entries(j);
    auto n = get_small<std::uint32_t>(j, "n");
    if (!all(part, parts, entries, n) || !valid_parts(*part, *parts)) {
      return bad;
    }
    Rows r{*id, *part, *parts, std::move(*entries), *n, 0};
    if (field(j, "total") != nullptr) {
      auto total = get_small<std::uint32_t>(j, "total");
      if (!total) return bad;
      r.total = *total;
    }
    return r;
  }
  if (type == "post") {
    auto from = get_nick(j, "from");
    auto group = get_group(j, "group");
    auto mid = get_u64(j, "mid");
    auto text = get_text(j, "text");
    if (!all(from, group, mid, text)) return bad;
    return Post{*id, std::move(*from), std::move(*group), *mid, std::move(*text)};
  }
  if (type == "join" || type == "leave") {
    auto from = get_nick(j, "from");
    auto group = get_nick(j, "group");  // a real group: not kEveryone
    if (!all(from, group)) return bad;
    if (type == "join") return Join{*id, std::move(*from), std::move(*group)};
    return Leave{*id, std::move(*from), std::move(*group)};
  }
  if (type == "groups") {
    auto from = get_nick(j, "from");
    if (!from) return bad;
    return ListGroups{*id, std::move(*from)};
  }
  if (type == "grouplist") {
    auto part = get_small<std::uint32_t>(j, "part");
    auto parts = get_small<std::uint32_t>(j, "parts");
    auto groups = get_groups(j);
    if (!all(part, parts, groups) || !valid_parts(*part, *parts)) {
      return bad;
    }
    return GroupList{*id, *part, *parts, std::move(*groups)};
  }
  if (type == "ping") {
    return Ping{*id};
  }
  if (type == "chat") {
    auto from = get_nick(j, "from");
    Chat c{*id, {}, {}};
    if (!from || !get_content(j, c.text, c.box)) return bad;
    c.from = std::move(*from);
    return c;
  }
  if (type == "deliver") {
    auto from = get_nick(j, "from");
    auto mid = get_u64(j, "mid");
    auto at = get_i64(j, "at");
    Deliver d{*id, {}, 0, {}, 0, {}};
    if (!all(from, mid, at) || !get_content(j, d.text, d.box)) return bad;
    d.from = std::move(*from);
    d.mid = *mid;
    d.saved_at_ms = *at;
    if (field(j, "group") != nullptr) {
      auto group = get_group(j, "group");
      if (!group) return bad;
      d.group = std::move(*group);
    }
    return d;
  }
  if (type == "notice") {
    auto kind = get_enum(j, "kind", kNoticeNames);
    auto mid = get_u64(j, "mid");
    auto nick = get_string(j, "nick");
    if (!all(kind, mid, nick)) return bad;
    if (!nick->empty() && !is_valid_nickname(*nick)) return bad;
    return Notice{*id, static_cast<NoticeKind>(*kind), std::move(*nick), *mid};
  }
  if (type == "intro") {
    auto from = get_nick(j, "from");
    auto to = get_nick(j, "to");
    if (!all(from, to)) return bad;
    return Introduce{*id, std::move(*from), std::move(*to)};
  }
  if (type == "punch") {
    // The row of a registered client with its key: 6 or 8 fields.
    const json* r = field(j, "row");
    auto row = r == nullptr ? std::nullopt : get_entry(*r);
    if (!row || row->removed() || row->key.empty()) return bad;
    return Punch{*id, std::move(*row)};
  }
  if (type == "probe") {
    auto from = get_nick(j, "from");
    auto to = get_nick(j, "to");
    const json* ans = field(j, "ans");
    auto tag = get_bytes(j, "tag", kAckTagBytes, kAckTagBytes);
    if (!all(from, to, tag) || ans == nullptr || !ans->is_boolean()) return bad;
    return Probe{*id, std::move(*from), std::move(*to), ans->get<bool>(), std::move(*tag)};
  }
  if (type == "relay") {
    auto peer = get_nick(j, "peer");
    auto box = get_bytes(j, "box", kBoxMin, kBoxMax);
    if (!all(peer, box)) return bad;
    return Relay{*id, std::move(*peer), std::move(*box)};
  }
  if (type == "relack") {
    auto peer = get_nick(j, "peer");
    auto tag = get_bytes(j, "tag", kAckTagBytes, kAckTagBytes);
    if (!all(peer, tag)) return bad;
    return RelayAck{*id, std::move(*peer), std::move(*tag)};
  }
  return std::unexpected(DecodeError::kUnknownType);
}

}  // namespace udpchat::wire
