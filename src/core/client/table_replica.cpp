// table_replica.cpp: the rules of the client's copy of the table
// (table_replica.hpp).
#include "core/client/table_replica.hpp"

#include <algorithm>
#include <utility>

namespace udpchat {

const TableEntry* TableReplica::find(const std::string& nick_key) const {
  const auto it = rows_.find(nick_key);
  return it == rows_.end() ? nullptr : &it->second;
}

std::vector<TableEntry> TableReplica::rows() const {
  std::vector<TableEntry> out;
  out.reserve(rows_.size());
  for (const auto& [key, e] : rows_) out.push_back(e);
  return out;
}

TableReplica::Merged TableReplica::merge(const std::string& nick_key, const TableEntry& row) {
  if (row.removed()) {
    // manual §9: the account was deleted; its nickname is free.
    const auto it = rows_.find(nick_key);
    if (it == rows_.end() || row.version < it->second.version) return Merged::kNothing;
    rows_.erase(it);
    return Merged::kRemoved;
  }
  TableEntry& held = rows_[nick_key];
  if (!held.nick.empty() && row.version < held.version) return Merged::kNothing;
  const bool new_key = held.nick.empty() || held.key != row.key;
  held = row;
  return new_key ? Merged::kNewKey : Merged::kNothing;
}

TableReplica::Part TableReplica::add_part(const TablePart& m) {
  if (m.version <= version_) {
    return Part::kStale;  // never replace a newer table with an older one (manual §5)
  }
  if (m.from > version_) {
    return Part::kGap;  // a delta from a version we never had (we missed one)
  }
  if (m.version != assembling_version_ || m.from != assembling_from_ ||
      assembling_.size() != m.parts) {
    if (m.version < assembling_version_) {
      return Part::kStale;
    }
    assembling_version_ = m.version;
    assembling_from_ = m.from;
    assembling_.assign(m.parts, std::nullopt);
  }
  assembling_[m.part] = m.entries;
  if (std::any_of(assembling_.begin(), assembling_.end(),
                  [](const auto& p) { return !p.has_value(); })) {
    return Part::kWaiting;
  }
  update_.clear();
  for (auto& part : assembling_) {
    update_.insert(update_.end(), std::make_move_iterator(part->begin()),
                   std::make_move_iterator(part->end()));
  }
  version_ = m.version;
  assembling_.clear();
  return Part::kComplete;
}

std::vector<TableEntry> TableReplica::take_update() {
  return std::exchange(update_, {});
}

bool TableReplica::rebase(const Endpoint& server) {
  // Each server of a cluster numbers its own table versions: another one's
  // numbers mean nothing here. At version 0, any row of this server
  // replaces the one held, and its snapshot (sent at registration) is taken
  // whatever its version.
  if (server == server_) return false;
  const bool moved = !server_.address.empty();
  server_ = server;
  if (!moved) return false;
  version_ = 0;
  for (auto& [key, row] : rows_) row.version = 0;
  assembling_.clear();
  assembling_version_ = assembling_from_ = 0;
  return true;
}

}  // namespace udpchat
