// codec_encode.cpp: Message -> CBOR datagram (nlohmann_json), and the
// sizes that split_table and split_entries plan with.
#include <nlohmann/json.hpp>

#include "protocol/codec.hpp"
#include "protocol/codec_fields.hpp"
#include "protocol/codec_names.hpp"
#include "protocol/limits.hpp"

namespace udpchat {
namespace {

using json = nlohmann::json;
using wire::kAckStatusNames;
using wire::kNoticeNames;

json bytes(const std::string& s) {
  return json::binary(std::vector<std::uint8_t>(s.begin(), s.end()));
}

json entry_to_json(const TableEntry& e) {
  json j = json::array({e.nick, e.address, e.port, e.online, e.version});
  if (!e.key.empty()) {
    j.push_back(bytes(e.key));
    // A local endpoint goes only with a key (a row of 8 fields); a row
    // without a key is one from before both.
    if (!e.local_address.empty()) {
      j.push_back(e.local_address);
      j.push_back(e.local_port);
    }
  }
  return j;
}

json endpoint_to_json(const Endpoint& e) {
  return json::array({e.address, e.port});
}

/// A message's content: its box when it has one, else its text.
void put_content(json& j, const std::string& text, const std::string& box) {
  if (box.empty()) {
    j["text"] = text;
  } else {
    j["box"] = bytes(box);
  }
}

json entries_to_json(const std::vector<TableEntry>& entries) {
  json out = json::array();
  for (const auto& e : entries) {
    out.push_back(entry_to_json(e));
  }
  return out;
}

json to_json(const Register& m) {
  json j = {{"t", "reg"}, {"id", m.id}, {"nick", m.nick}, {"hb", m.heartbeat_ms}};
  if (!m.password.empty()) {
    j["pw"] = m.password;
  }
  if (!m.local.address.empty()) {
    j["local"] = endpoint_to_json(m.local);
  }
  return j;
}
json to_json(const SetPassword& m) {
  return {{"t", "passwd"}, {"id", m.id}, {"from", m.from}, {"pw", m.password}};
}
json to_json(const DeleteAccount& m) {
  return {{"t", "delacct"}, {"id", m.id}, {"from", m.from}};
}
json to_json(const Deregister& m) {
  return {{"t", "dereg"}, {"id", m.id}, {"nick", m.nick}};
}
json to_json(const Save& m) {
  json j = {{"t", "save"}, {"id", m.id}, {"from", m.from}, {"to", m.to}, {"mid", m.mid}};
  put_content(j, m.text, m.box);
  return j;
}
json to_json(const Heartbeat& m) {
  return {{"t", "hb"}, {"id", m.id}, {"nick", m.nick}, {"ver", m.table_version}};
}
json to_json(const Ack& m) {
  json j = {{"t", "ack"}, {"id", m.id}, {"st", kAckStatusNames[static_cast<int>(m.status)]}};
  if (m.stored != 0) {
    j["stored"] = m.stored;
  }
  if (!m.detail.empty()) {
    j["detail"] = m.detail;
  }
  if (m.total != 0) {
    j["total"] = m.total;
  }
  if (!m.tag.empty()) {
    j["tag"] = bytes(m.tag);
  }
  if (!m.seen.address.empty()) {
    j["seen"] = endpoint_to_json(m.seen);
  }
  if (m.expired != 0) {
    j["expired"] = m.expired;
  }
  return j;
}
json to_json(const TablePart& m) {
  json j = {{"t", "table"},   {"id", m.id},       {"ver", m.version},
            {"part", m.part}, {"parts", m.parts}, {"entries", entries_to_json(m.entries)}};
  if (m.from != 0) {
    j["from"] = m.from;
  }
  if (m.total != 0) {
    j["total"] = m.total;
  }
  return j;
}
json to_json(const Lookup& m) {
  return {{"t", "lookup"}, {"id", m.id}, {"from", m.from}, {"nick", m.nick}};
}
json to_json(const Find& m) {
  return {{"t", "find"}, {"id", m.id}, {"from", m.from}, {"prefix", m.prefix}};
}
json to_json(const Rows& m) {
  json j = {{"t", "rows"},
            {"id", m.id},
            {"part", m.part},
            {"parts", m.parts},
            {"entries", entries_to_json(m.entries)},
            {"n", m.matches}};
  if (m.total != 0) {
    j["total"] = m.total;
  }
  return j;
}
json to_json(const Ping& m) {
  return {{"t", "ping"}, {"id", m.id}};
}
json to_json(const Chat& m) {
  json j = {{"t", "chat"}, {"id", m.id}, {"from", m.from}};
  put_content(j, m.text, m.box);
  return j;
}
json to_json(const Deliver& m) {
  json j = {
      {"t", "deliver"}, {"id", m.id}, {"from", m.from}, {"mid", m.mid}, {"at", m.saved_at_ms}};
  put_content(j, m.text, m.box);
  if (!m.group.empty()) {
    j["group"] = m.group;
  }
  return j;
}
json to_json(const Post& m) {
  return {{"t", "post"},      {"id", m.id},   {"from", m.from},
          {"group", m.group}, {"mid", m.mid}, {"text", m.text}};
}
json to_json(const Join& m) {
  return {{"t", "join"}, {"id", m.id}, {"from", m.from}, {"group", m.group}};
}
json to_json(const Leave& m) {
  return {{"t", "leave"}, {"id", m.id}, {"from", m.from}, {"group", m.group}};
}
json to_json(const ListGroups& m) {
  return {{"t", "groups"}, {"id", m.id}, {"from", m.from}};
}
json to_json(const GroupList& m) {
  json groups = json::array();
  for (const GroupInfo& g : m.groups) {
    groups.push_back(json::array({g.name, g.members}));
  }
  return {{"t", "grouplist"},
          {"id", m.id},
          {"part", m.part},
          {"parts", m.parts},
          {"groups", std::move(groups)}};
}
json to_json(const Introduce& m) {
  return {{"t", "intro"}, {"id", m.id}, {"from", m.from}, {"to", m.to}};
}
json to_json(const Punch& m) {
  return {{"t", "punch"}, {"id", m.id}, {"row", entry_to_json(m.row)}};
}
json to_json(const Probe& m) {
  return {{"t", "probe"}, {"id", m.id},         {"from", m.from},
          {"to", m.to},   {"ans", m.answer}, {"tag", bytes(m.tag)}};
}
json to_json(const Relay& m) {
  return {{"t", "relay"}, {"id", m.id}, {"peer", m.peer}, {"box", bytes(m.box)}};
}
json to_json(const RelayAck& m) {
  return {{"t", "relack"}, {"id", m.id}, {"peer", m.peer}, {"tag", bytes(m.tag)}};
}
json to_json(const Notice& m) {
  return {{"t", "notice"},
          {"id", m.id},
          {"kind", kNoticeNames[static_cast<int>(m.kind)]},
          {"nick", m.nick},
          {"mid", m.mid}};
}

}  // namespace

std::string encode(const Message& m) {
  std::string out;
  if (wire::encode_hot(m, out)) {
    return out;  // the hot kinds, without a tree (codec_hot.cpp)
  }
  return wire::encode_with_tree(m);
}

std::string wire::encode_with_tree(const Message& m) {
  json j = std::visit([](const auto& msg) { return to_json(msg); }, m);
  j["v"] = kProtocolVersion;
  const std::vector<std::uint8_t> bytes = json::to_cbor(j);
  return {bytes.begin(), bytes.end()};
}

namespace {

/// Bytes of a CBOR head (initial byte and argument) for argument `n`.
std::size_t cbor_head(std::uint64_t n) {
  if (n < 24) return 1;
  if (n <= 0xFF) return 2;
  if (n <= 0xFFFF) return 3;
  if (n <= 0xFFFFFFFFULL) return 5;
  return 9;
}

}  // namespace

std::size_t encoded_entry_size(const TableEntry& e) {
  return cbor_head(5) + cbor_head(e.nick.size()) + e.nick.size() + cbor_head(e.address.size()) +
         e.address.size() + cbor_head(e.port) + 1 /* true or false */ + cbor_head(e.version) +
         (e.key.empty() ? 0 : cbor_head(e.key.size()) + e.key.size()) +
         (e.key.empty() || e.local_address.empty()
              ? 0
              : cbor_head(e.local_address.size()) + e.local_address.size() +
                    cbor_head(e.local_port));
}

struct PreparedUpdate::Trees {
  std::vector<json> parts;
};

PreparedUpdate::PreparedUpdate(std::uint64_t version, const std::vector<TableEntry>& rows,
                               std::uint64_t from, std::uint32_t total)
    : trees_(std::make_unique<Trees>()), rows_(rows.size()) {
  auto groups = split_entries(rows);
  const auto count = static_cast<std::uint32_t>(groups.size());
  trees_->parts.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    json j = to_json(TablePart{0, version, i, count, std::move(groups[i]), from, total});
    j["v"] = kProtocolVersion;
    trees_->parts.push_back(std::move(j));
  }
}

PreparedUpdate::~PreparedUpdate() = default;
PreparedUpdate::PreparedUpdate(PreparedUpdate&&) noexcept = default;
PreparedUpdate& PreparedUpdate::operator=(PreparedUpdate&&) noexcept = default;

std::uint32_t PreparedUpdate::parts() const {
  return static_cast<std::uint32_t>(trees_->parts.size());
}

std::string PreparedUpdate::encode(std::uint32_t part, std::uint64_t id) {
  json& j = trees_->parts.at(part);
  j["id"] = id;
  const std::vector<std::uint8_t> bytes = json::to_cbor(j);
  return {bytes.begin(), bytes.end()};
}

std::vector<std::vector<GroupInfo>> split_groups(const std::vector<GroupInfo>& groups) {
  // CBOR: [name, [member, ...]] per group; a text of n <= 32 bytes costs
  // n + 1 or n + 2 bytes, an array head 1 to 3.
  constexpr std::size_t kGroupHead = 1 + 2 + 33 + 3;
  constexpr std::size_t kMemberBytes = 34;
  std::vector<std::vector<GroupInfo>> parts(1);
  std::size_t used = kTablePartEnvelopeBytes;
  for (const GroupInfo& g : groups) {
    std::size_t next = 0;
    do {
      if (used + kGroupHead + kMemberBytes > kMaxPayloadBytes && !parts.back().empty()) {
        parts.emplace_back();
        used = kTablePartEnvelopeBytes;
      }
      GroupInfo piece{g.name, {}};
      used += kGroupHead;
      while (next < g.members.size() && used + kMemberBytes <= kMaxPayloadBytes) {
        piece.members.push_back(g.members[next++]);
        used += kMemberBytes;
      }
      parts.back().push_back(std::move(piece));
    } while (next < g.members.size());
  }
  return parts;
}

std::vector<std::vector<TableEntry>> split_entries(const std::vector<TableEntry>& entries) {
  std::vector<std::vector<TableEntry>> groups(1);
  std::size_t used = kTablePartEnvelopeBytes;
  for (const auto& e : entries) {
    const std::size_t sz = encoded_entry_size(e);
    if (used + sz > kMaxPayloadBytes && !groups.back().empty()) {
      groups.emplace_back();
      used = kTablePartEnvelopeBytes;
    }
    groups.back().push_back(e);
    used += sz;
  }
  return groups;
}

}  // namespace udpchat
