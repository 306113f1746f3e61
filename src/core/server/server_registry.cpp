// server_registry.cpp: ServerCore's registry of clients: registration
// (with manual §6's nickname rules), deregistration, heartbeats, marking
// clients offline. The table they receive is server_table.cpp's.
#include <algorithm>

#include "core/server/server_core.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {

void ServerCore::heard_from(const Endpoint& from, TimePoint now) {
  if (const auto it = online_at_.find(from); it != online_at_.end()) {
    clients_.at(it->second).last_heard = now;
  }
}

void ServerCore::handle(const Register& m, const Endpoint& from, TimePoint now) {
  if (replay_cached(from, m.id) || password_pending(from, m.id)) {
    return;
  }
  register_request(m, from, now, nullptr);
}

void ServerCore::register_request(const Register& m, const Endpoint& from, TimePoint now,
                                  const std::string* new_hash) {
  const std::string key = nickname_key(m.nick);
  // manual §9: a password claims the nickname with it; it is hashed off the
  // event loop first (then this runs again with the hash).
  const bool hash_first = new_hash == nullptr && !m.password.empty() && !current_key_.empty();
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
    if (hash_first) {
      start_password_job({0, PasswordJob::Kind::kHash, m.password},
                         {PasswordWait::Purpose::kClaim, m, m.id, from, current_key_, key});
      return;
    }
    accept_registration(m, from, now, new_hash);
    return;
  }
  Client& holder = it->second;
  if (!holder.key.empty() && !current_key_.empty()) {
    // manual §9: a nickname belongs to the key that first registered it.
    // Its own key may move it to a new address, under section 4's rule
    // (the holder at the old address must not answer), below.
    if (holder.key != current_key_ && !m.password.empty() && !holder.password_hash.empty()) {
      // The password moves it to this key (a new machine): checked off the
      // event loop, at most one check per second or so after a failure.
      if (now < holder.password_retry_at) {
        ++stats_.requests["password_throttled"];
        const auto wait_s = std::chrono::ceil<std::chrono::seconds>(holder.password_retry_at - now);
        reply(from, m.id,
              Ack{0, AckStatus::kError, 0,
                  "too many wrong passwords for " + holder.nick + "; try again in " +
                      std::to_string(wait_s.count()) + " s"});
        return;
      }
      start_password_job(
          {0, PasswordJob::Kind::kVerify, m.password, holder.password_hash},
          {PasswordWait::Purpose::kMove, m, m.id, from, current_key_, key, holder.password_hash});
      return;
    }
    if (holder.key != current_key_) {
      ++stats_.requests["register_refused"];
      log(LogLevel::kInfo, "refused " + m.nick + " from " + from.to_string() +
                               ": the nickname belongs to another key");
      reply(from, m.id, Ack{0, AckStatus::kInUse, 0, {}});
      return;
    }
  }
  // Its own key with a password, and the nickname has none yet: set it.
  if (hash_first && holder.password_hash.empty()) {
    start_password_job({0, PasswordJob::Kind::kHash, m.password},
                       {PasswordWait::Purpose::kClaim, m, m.id, from, current_key_, key});
    return;
  }
  const std::string* set_hash = holder.password_hash.empty() ? new_hash : nullptr;
  if (holder.endpoint == from || !holder.online || holder.remote) {
    // A holder at another server of the cluster cannot be pinged from
    // here; its key is the registrant's: the client moved (docs/CLUSTER.md).
    accept_registration(m, from, now, set_hash);
    return;
  }
  // Held by a client at another address: is it still alive? (manual §6)
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
  verify(key, RegisterWaiter{m, from, current_key_, set_hash != nullptr ? *set_hash : ""}, now);
}

void ServerCore::accept_registration(const Register& m, const Endpoint& from, TimePoint now,
                                     const std::string* password_hash) {
  const std::string key = nickname_key(m.nick);
  // One endpoint, one online nickname: a process that registers another
  // nickname from the same port no longer holds the old one.
  if (const auto other = online_at_.find(from); other != online_at_.end() && other->second != key) {
    mark_offline(other->second, false, now);
  }
  const bool first_time = !clients_.contains(key);
  if (const auto gone = removed_rows_.find(key); first_time && gone != removed_rows_.end()) {
    // A deleted account's nickname taken again: the new row replaces the removal.
    if (auto b = by_version_.find(gone->second.version); b != by_version_.end()) {
      b->second.erase(key);
      if (b->second.empty()) by_version_.erase(b);
    }
    removed_rows_.erase(gone);
  }
  Client& c = clients_[key];
  if (first_time) {
    // manual §4.9: it receives the channel's messages saved from now on.
    c.log_upto = next_seq_ - 1;
  }
  // Back after longer than the log retention, with log messages it had not
  // received trimmed meanwhile (a trim in flight counts): its position
  // moves to where the logs now begin, and the ack says so (one line).
  std::uint32_t expired_days = 0;
  if (const std::int64_t trimmed = std::max(trim_.upto, trim_.in_flight ? trim_.issued : 0);
      !first_time && c.log_upto < trimmed) {
    c.log_upto = trimmed;
    expired_days = static_cast<std::uint32_t>(
        std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::days>(config_.log_retention).count()));
  }
  c.backlog_seq = next_seq_ - 1;  // older channel and group messages show as stored
  if (c.online && !c.remote && c.endpoint != from) {
    online_at_.erase(c.endpoint);
  }
  stop_delivery(c);  // restarted below, to wherever the client is now
  c.delivered_upto = 0;
  c.nick = m.nick;
  c.endpoint = from;
  // docs/NAT.md: the local endpoint it told, kept when it differs from the
  // source seen (behind a NAT); peers behind the same NAT use it.
  c.local = m.local.address.empty() || m.local == from ? Endpoint{} : m.local;
  if (!current_key_.empty()) c.key = current_key_;
  if (password_hash != nullptr) c.password_hash = *password_hash;
  c.online = true;
  c.last_seen_ms = config_.wall_clock_ms();
  c.home = config_.server_id;
  c.remote = false;
  c.last_heard = now;
  c.heartbeat = m.heartbeat_ms == 0 ? kDefaultHeartbeat
                                    : std::clamp<Duration>(milliseconds(m.heartbeat_ms),
                                                           kMinHeartbeat, kMaxHeartbeat);
  online_at_[from] = key;
  touch(key, now, /*claim=*/true);
  cancel_table_parts(c);
  c.held_version = 0;  // a new process, perhaps: it gets a snapshot
  std::uint32_t waiting = 0;
  if (const auto box = mailboxes_.find(key); box != mailboxes_.end()) {
    // Saves in flight count too: "[You Have Messages]" is printed only
    // with the first stored message, so one that then fails shows nothing.
    waiting = static_cast<std::uint32_t>(box->second.waiting + box->second.saving);
  }
  if (log_backlog(key, c)) {
    ++waiting;  // channel or group messages may wait (a hint: the count is not kept)
  }
  ++stats_.requests["register"];
  log(LogLevel::kInfo,
      "registered " + m.nick + " at " + from.to_string() +
          (waiting > 0 ? ", " + std::to_string(waiting) + " stored messages" : ""));
  if (expired_days > 0) {
    log(LogLevel::kInfo, m.nick + " was away longer than the log retention: channel and group "
                         "messages it had not received were trimmed");
  }
  reply_when_durable(from, m.id,
                     Ack{0, AckStatus::kOk, waiting, {}, static_cast<std::uint32_t>(clients_.size()),
                         {}, from, expired_days});
  // Its table (a snapshot) goes out when the batch is published; stored
  // messages wait for it, so the client shows the welcome, the table,
  // then the stored messages.
  c.awaiting_table = true;
  flush_tables(now);
  deliver_next(key, now);
}

void ServerCore::handle(const Deregister& m, const Endpoint& from, TimePoint now) {
  Client* c = request_from(m.nick, from, m.id);
  if (c == nullptr) {
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
  Client* c = request_from(m.nick, from, m.id);
  if (c == nullptr) {
    return;
  }
  ++stats_.requests["heartbeat"];
  if (!c->online) {
    reply(from, m.id, Ack{0, AckStatus::kOffline, 0, {}});
    return;
  }
  c->last_heard = now;
  reply(from, m.id,
        Ack{0, AckStatus::kOk, 0, {}, static_cast<std::uint32_t>(clients_.size()), {}, from});
  deliver_next(nickname_key(m.nick), now);  // resumes a stalled delivery, if any
  // The version it holds: if rows it is interested in changed since (it
  // missed an update), the delta again. Not while an update is in flight.
  if (c->table_ids.empty() && m.table_version < version_) {
    c->held_version = m.table_version;
    send_update(nickname_key(m.nick), now);
  }
}

void ServerCore::mark_offline(const std::string& key, bool tell_client, TimePoint now) {
  auto it = clients_.find(key);
  // docs/CLUSTER.md: a client that lives at another server is offline when
  // its home says so (a verification begun before it moved counts for nothing).
  if (it == clients_.end() || !it->second.online || it->second.remote) {
    return;
  }
  Client& c = it->second;
  c.online = false;
  c.last_seen_ms = config_.wall_clock_ms();
  online_at_.erase(c.endpoint);
  cancel_table_parts(c);
  stop_delivery(c);
  touch(key, now);
  if (tell_client) {
    table_extra_.insert(key);  // manual §6.6: so it can notice and re-register
  }
}

}  // namespace udpchat
