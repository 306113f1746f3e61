// client_table.cpp: the rows the client holds (manual §6.9): table updates
// reassembled from their parts and merged row by row (never an older row
// over a newer one, never an older version over a newer), gaps repaired
// by a heartbeat; lookups before a send to a nickname not held; `list`
// (asking the server for its count of clients first) and
// `list <prefix>`.
#include <algorithm>

#include "core/client/client_session.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {

std::vector<TableEntry> ClientSession::table() const {
  return table_.rows();
}

const TableEntry* ClientSession::find_peer(std::string_view nick) const {
  return table_.find(nickname_key(nick));
}

void ClientSession::merge_row(const TableEntry& row) {
  const std::string nk = nickname_key(row.nick);
  switch (table_.merge(nk, row)) {
    case TableReplica::Merged::kNothing:
      return;
    case TableReplica::Merged::kNewKey:
      if (nk != registered_key_) note_key(nk, row.nick, row.key);
      return;
    case TableReplica::Merged::kRemoved:
      // manual §9: the account was deleted. Its pin stays in known_peers:
      // whoever takes the nickname next is a new key. What waited for
      // `trust` of its key will not go anywhere now.
      if (const auto q = peers_.find(nk);
          q != peers_.end() && q->second.stage == SendStage::kUntrusted) {
        for (const OutgoingMessage& m : q->second.messages) {
          say("failed",
              "[Message for " + m.peer + " not sent: the account " + row.nick + " was deleted.]",
              {{"to", m.peer}});
        }
        peers_.erase(q);
      }
      return;
  }
}

void ClientSession::rebase_table(const Endpoint& server) {
  if (table_.rebase(server)) {
    log(LogLevel::kInfo, "table rows now from " + server.to_string() + ": versions start over");
  }
}

void ClientSession::handle(const TablePart& m, const Endpoint& from, TimePoint now) {
  if (phase_ != Phase::kRegistered && phase_ != Phase::kRegistering &&
      phase_ != Phase::kReconnecting) {
    ++dropped_;  // offline: silent (manual §4); the server does not expect an ack
    return;
  }
  reply_ack(m.id, from);
  rebase_table(from);
  switch (table_.add_part(m)) {
    case TableReplica::Part::kStale:
    case TableReplica::Part::kWaiting:
      return;
    case TableReplica::Part::kGap:
      // Acked all the same, so it is not retransmitted: asked again with
      // the version we hold, at once.
      log(LogLevel::kInfo, "table update from version " + std::to_string(m.from) + ", we hold " +
                               std::to_string(table_.version()) + ": asking again");
      if (phase_ == Phase::kRegistered) next_heartbeat_ = now;
      return;
    case TableReplica::Part::kComplete:
      break;
  }
  for (const TableEntry& row : table_.take_update()) merge_row(row);
  if (phase_ == Phase::kRegistering || (phase_ == Phase::kReconnecting && reconnect_.attempt_id != 0)) {
    table_line_pending_ = true;
  } else {
    say("table_updated", "[Client table updated.]",
        {{"version", static_cast<std::int64_t>(table_.version())}});
  }
  learn_count(m.total);  // a `list` waiting for it shows this table
  // manual §6.6: a registered client that finds itself offline re-registers.
  const TableEntry* self = find_peer(config_.nick);
  if (phase_ == Phase::kRegistered && self != nullptr && !self->online) {
    log(LogLevel::kInfo, "the table shows us offline; registering again");
    send_register(now);
  }
}

// --- lookups and finds ---------------------------------------------------------------

void ClientSession::start_lookup(const std::string& peer_key, TimePoint now) {
  PeerQueue& q = peers_.at(peer_key);
  q.stage = SendStage::kLookingUp;
  const std::uint64_t id = ids_.next();
  q.request_id = id;
  send_to_server(Lookup{id, config_.nick, q.messages.front().peer}, id,
                 {RequestKind::kLookup, peer_key}, now);
}

void ClientSession::lookup_done(const std::string& peer_key, const std::vector<TableEntry>& rows,
                                TimePoint now) {
  for (const TableEntry& row : rows) merge_row(row);
  const auto it = peers_.find(peer_key);
  if (it == peers_.end() || it->second.stage != SendStage::kLookingUp) {
    return;
  }
  PeerQueue& q = it->second;
  const TableEntry* entry = find_peer(peer_key);
  if (entry == nullptr) {
    for (const OutgoingMessage& msg : q.messages) {
      say("failed", "[Unknown client " + msg.peer + ".]", {{"to", msg.peer}});
    }
    peers_.erase(it);
    maybe_finish_quit(now);
    return;
  }
  for (OutgoingMessage& msg : q.messages) msg.peer = entry->nick;  // as registered
  q.stage = SendStage::kIdle;
  dispatch_front(peer_key, now);
}

void ClientSession::handle(const Rows& m, const Endpoint& from, TimePoint now) {
  const auto r = requests_.find(m.id);
  if (r == requests_.end()) {
    return;  // a late or repeated answer
  }
  rebase_table(from);
  auto& parts = answers_[m.id];
  if (parts.size() != m.parts) parts.assign(m.parts, std::nullopt);
  parts[m.part] = m.entries;
  if (std::any_of(parts.begin(), parts.end(), [](const auto& p) { return !p.has_value(); })) {
    return;  // the request is retransmitted until every part came
  }
  std::vector<TableEntry> rows;
  for (const auto& p : parts) rows.insert(rows.end(), p->begin(), p->end());
  answers_.erase(m.id);
  sender_.acknowledge(m.id, from, now);
  const ServerRequest req = std::move(r->second);
  requests_.erase(r);
  if (req.kind == RequestKind::kLookup) {
    lookup_done(req.peer_key, rows, now);
  } else {
    for (const TableEntry& e : rows) {
      say_row(e);
    }
    say("[" + std::to_string(rows.size()) + " of " + std::to_string(m.matches) +
        " clients shown.]");
  }
  // After the answer's own lines: a `list` typed after this find prints next.
  learn_count(m.total);
}

void ClientSession::say_row(const TableEntry& e) {
  const std::string address = Endpoint{e.address, e.port}.to_string();
  // docs/NAT.md: the path held to an online peer, where a NAT is in play
  // (on a LAN without one the classic line stays as it was).
  std::string path = e.online ? path_of(e.nick) : std::string();
  if (path == "direct" && !nat_between(e)) path.clear();
  std::vector<EventField> fields{{"nick", e.nick}, {"address", address}, {"online", e.online}};
  if (!path.empty()) fields.push_back({"path", path});
  say("client",
      e.nick + " " + address + (e.online ? " online" : " offline") +
          (path.empty() ? "" : " " + path),
      std::move(fields));
}

void ClientSession::cmd_list(std::string_view args, TimePoint now) {
  std::string_view prefix = args;
  while (!prefix.empty() && prefix.front() == ' ') prefix.remove_prefix(1);
  while (!prefix.empty() && prefix.back() == ' ') prefix.remove_suffix(1);
  if (!prefix.empty()) {
    if (!is_valid_nickname(prefix)) {
      refuse("[Usage: list [<prefix>]: a prefix is 1 to 32 of A-Z a-z 0-9 _ - .]");
      return;
    }
    if (phase_ == Phase::kReconnecting) {
      say_server_unreachable();
      return;
    }
    if (phase_ != Phase::kRegistered && phase_ != Phase::kOffline) {
      refuse("[You are not registered. Use: reg <nick>]");
      return;
    }
    const std::uint64_t id = ids_.next();
    send_to_server(Find{id, config_.nick, std::string(prefix)}, id, {RequestKind::kFind, {}}, now);
    return;
  }
  // manual §4.3: the count line needs the server's count, and beyond
  // --full-table-limit nothing pushes it, so a registered client asks for
  // it first (a heartbeat: its ack carries it, and it brings any missed
  // table delta too). The rows are printed when it comes, or one ack
  // timeout from now at the latest with the count held; commands typed
  // meanwhile wait.
  if (phase_ == Phase::kRegistered) {
    if (!heartbeat_in_flight()) send_heartbeat(now);
    list_due_ = now + config_.ack_timeout;
    return;
  }
  say_rows_held();
}

void ClientSession::say_rows_held() {
  if (table_.size() == 0) {
    say("[No clients known yet.]");
    return;
  }
  for (const TableEntry& e : table_.rows()) {
    say_row(e);
  }
  // The count is the server's, as it last said it.
  if (total_clients_ > table_.size()) {
    say("[" + std::to_string(table_.size()) + " of " + std::to_string(total_clients_) +
        " clients shown; list <prefix> finds more.]");
  }
}

void ClientSession::learn_count(std::uint32_t total) {
  if (total == 0) {
    return;  // not said (an offline heartbeat's ack): the count held stays
  }
  total_clients_ = total;
  if (list_due_) {
    list_due_.reset();
    say_rows_held();
  }
}

}  // namespace udpchat
