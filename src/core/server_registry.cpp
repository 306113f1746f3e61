// server_registry.cpp: ServerCore's registry of clients: registration
// (with SPEC 4's nickname rules), deregistration, heartbeats, marking
// clients offline, and the table sent to clients.
#include <algorithm>

#include "core/server_core.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {

void ServerCore::heard_from(const Endpoint& from, TimePoint now) {
  if (const auto it = online_at_.find(from); it != online_at_.end()) {
    clients_.at(it->second).last_heard = now;
  }
}

void ServerCore::handle(const Register& m, const Endpoint& from, TimePoint now) {
  if (replay_cached(from, m.id)) {
    return;
  }
  const std::string key = nickname_key(m.nick);
  const auto it = clients_.find(key);
  if (it == clients_.end()) {
    if (clients_.size() >= config_.max_clients) {
      ++stats_.requests["register_refused"];
      log(LogLevel::kWarn, "refused " + m.nick + ": " + std::to_string(config_.max_clients) +
                               " clients registered (--max-clients)");
      reply(from, m.id,
            Ack{0, AckStatus::kError, 0,
                "the server is full (" + std::to_string(config_.max_clients) + " clients)"});
      return;
    }
    accept_registration(m, from, now);
    return;
  }
  Client& holder = it->second;
  if (holder.endpoint == from || !holder.online) {
    accept_registration(m, from, now);
    return;
  }
  // Held by a client at another address: is it still alive? (SPEC 4)
  if (const auto v = verifying_.find(key); v != verifying_.end()) {
    for (const auto& w : v->second.waiters) {
      if (const auto* r = std::get_if<RegisterWaiter>(&w);
          r != nullptr && r->from == from && r->request.id == m.id) {
        return;  // retransmission of a registration already waiting
      }
    }
  }
  log(LogLevel::kInfo, m.nick + " wanted by " + from.to_string() + ", held by " +
                           holder.endpoint.to_string() + ": verifying the holder");
  verify(key, RegisterWaiter{m, from}, now);
}

void ServerCore::accept_registration(const Register& m, const Endpoint& from, TimePoint now) {
  const std::string key = nickname_key(m.nick);
  // One endpoint, one online nickname: a process that registers another
  // nickname from the same port no longer holds the old one.
  if (const auto other = online_at_.find(from); other != online_at_.end() && other->second != key) {
    mark_offline(other->second, false, now);
  }
  Client& c = clients_[key];
  if (c.online && c.endpoint != from) {
    online_at_.erase(c.endpoint);
  }
  stop_delivery(c);  // restarted below, to wherever the client is now
  c.delivered_upto = 0;
  c.nick = m.nick;
  c.endpoint = from;
  c.online = true;
  c.last_heard = now;
  c.heartbeat = m.heartbeat_ms == 0 ? kDefaultHeartbeat
                                    : std::clamp<Duration>(milliseconds(m.heartbeat_ms),
                                                           kMinHeartbeat, kMaxHeartbeat);
  online_at_[from] = key;
  persist(c);
  bump_version();
  std::uint32_t waiting = 0;
  if (const auto box = mailboxes_.find(key); box != mailboxes_.end()) {
    // Saves in flight count too: "[You Have Messages]" is printed only
    // with the first stored message, so one that then fails shows nothing.
    waiting = static_cast<std::uint32_t>(box->second.waiting + box->second.saving);
  }
  ++stats_.requests["register"];
  log(LogLevel::kInfo,
      "registered " + m.nick + " at " + from.to_string() +
          (waiting > 0 ? ", " + std::to_string(waiting) + " stored messages" : ""));
  reply_when_durable(from, m.id, Ack{0, AckStatus::kOk, waiting, {}});
  flush_tables(now);  // the table goes before the stored messages
  deliver_next(key, now);
}

void ServerCore::handle(const Deregister& m, const Endpoint& from, TimePoint now) {
  if (replay_cached(from, m.id)) {
    return;
  }
  Client* c = authorised(m.nick, from);
  if (c == nullptr) {
    drop("unauthorised", from);
    return;
  }
  ++stats_.requests["deregister"];
  log(LogLevel::kInfo, "deregistered " + c->nick);
  const std::string key = nickname_key(m.nick);
  if (c->online) {
    mark_offline(key, false, now);
  }
  reply_when_durable(from, m.id, Ack{0, AckStatus::kOk, 0, {}});
}

void ServerCore::handle(const Heartbeat& m, const Endpoint& from, TimePoint now) {
  if (replay_cached(from, m.id)) {
    return;
  }
  Client* c = authorised(m.nick, from);
  if (c == nullptr) {
    drop("unauthorised", from);
    return;
  }
  ++stats_.requests["heartbeat"];
  if (!c->online) {
    reply(from, m.id, Ack{0, AckStatus::kOffline, 0, {}});
    return;
  }
  c->last_heard = now;
  reply(from, m.id, Ack{0, AckStatus::kOk, 0, {}});
  deliver_next(nickname_key(m.nick), now);  // resumes a stalled delivery, if any
  if (m.table_version < version_) {
    send_table(nickname_key(m.nick), table(), now);  // the client missed an update
  }
}

// --- the table ----------------------------------------------------------------------

std::vector<TableEntry> ServerCore::table() const {
  std::vector<TableEntry> entries;
  entries.reserve(clients_.size());
  for (const auto& [key, c] : clients_) {
    entries.push_back({c.nick, c.endpoint.address, c.endpoint.port, c.online});
  }
  return entries;
}

void ServerCore::mark_offline(const std::string& key, bool tell_client, TimePoint now) {
  (void)now;
  auto it = clients_.find(key);
  if (it == clients_.end() || !it->second.online) {
    return;
  }
  Client& c = it->second;
  c.online = false;
  online_at_.erase(c.endpoint);
  for (const std::uint64_t id : c.table_ids) {
    sender_.cancel(id);
    pending_.erase(id);
  }
  c.table_ids.clear();
  stop_delivery(c);
  persist(c);
  bump_version();
  if (tell_client) {
    table_extra_.insert(key);  // SPEC 8: so it can notice and re-register
  }
}

void ServerCore::flush_tables(TimePoint now) {
  if (!table_dirty_) {
    return;
  }
  table_dirty_ = false;
  const std::vector<TableEntry> entries = table();
  for (const auto& [key, c] : clients_) {
    if (c.online || table_extra_.contains(key)) {
      send_table(key, entries, now);
    }
  }
  table_extra_.clear();
}

void ServerCore::send_table(const std::string& key, const std::vector<TableEntry>& entries,
                            TimePoint now) {
  Client& c = clients_.at(key);
  for (const std::uint64_t id : c.table_ids) {  // superseded by this version
    sender_.cancel(id);
    pending_.erase(id);
  }
  c.table_ids.clear();
  // A client held offline is told with backoff (about a minute in all):
  // it may be cut off for a while, and until it hears this it believes it
  // is registered (SPEC 8: it re-registers when it sees it is offline).
  constexpr int kOfflineNoticeTries = 8;
  const RetryPolicy policy =
      c.online ? server_policy() : RetryPolicy::backoff(config_.ack_timeout, kOfflineNoticeTries);
  for (const TablePart& part : split_table(version_, entries, [this] { return ids_.next(); })) {
    c.table_ids.push_back(part.id);
    send_reliable_when_durable(part.id, c.endpoint, part, policy, {Purpose::kTable, key, {}, 0},
                               now);
  }
}

}  // namespace udpchat
