// client_table.cpp: the client table: parts reassembled into versions,
// never an older version over a newer (SPEC 3), and `list`.
#include <algorithm>

#include "core/client_session.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {

void ClientSession::handle(const TablePart& m, const Endpoint& from, TimePoint now) {
  if (phase_ != Phase::kRegistered && phase_ != Phase::kRegistering) {
    ++dropped_;  // offline: silent (SPEC 2); the server does not expect an ack
    return;
  }
  reply_ack(m.id, from);
  if (m.version <= table_version_) {
    return;  // never replace a newer table with an older one (SPEC 3)
  }
  if (m.version != assembling_version_ || assembling_.size() != m.parts) {
    if (m.version < assembling_version_) {
      return;
    }
    assembling_version_ = m.version;
    assembling_.assign(m.parts, std::nullopt);
  }
  assembling_[m.part] = m.entries;
  if (std::any_of(assembling_.begin(), assembling_.end(),
                  [](const auto& p) { return !p.has_value(); })) {
    return;
  }
  std::vector<TableEntry> table;
  for (auto& part : assembling_) {
    table.insert(table.end(), part->begin(), part->end());
  }
  table_ = std::move(table);
  table_version_ = m.version;
  assembling_.clear();
  if (phase_ == Phase::kRegistering) {
    table_line_pending_ = true;
  } else {
    say("[Client table updated.]");
  }
  // SPEC 8: a registered client that finds itself offline re-registers.
  const TableEntry* self = find_peer(config_.nick);
  if (phase_ == Phase::kRegistered && self != nullptr && !self->online) {
    log(LogLevel::kInfo, "the table shows us offline; registering again");
    send_register(now);
  }
}

void ClientSession::cmd_list() {
  if (table_.empty()) {
    say("[No clients known yet.]");
    return;
  }
  for (const auto& e : table_) {
    say(e.nick + " " + Endpoint{e.address, e.port}.to_string() +
        (e.online ? " online" : " offline"));
  }
}

}  // namespace udpchat
