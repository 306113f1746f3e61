// server_core.cpp: ServerCore's plumbing: construction, the reply cache,
// reliable sends, start from the store, the datagram dispatch, acks routed
// to what they acknowledge, timers and liveness, shutdown.
//
// The other concerns live beside it: server_registry.cpp (registration,
// deregistration, heartbeats, the table), server_mailbox.cpp (saves,
// relays, stored delivery), server_verify.cpp (verification pings),
// server_stats.cpp (statistics).
#include <algorithm>

#include "core/server/server_core.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {
// --- construction and plumbing --------------------------------------------------

ServerCore::ServerCore(ServerConfig config, std::uint64_t id_seed)
    : config_(std::move(config)), ids_(id_seed) {
  if (!config_.wall_clock_ms) {
    config_.wall_clock_ms = [] { return std::int64_t{0}; };
  }
}

void ServerCore::log(LogLevel level, std::string text) {
  logs_.push_back({level, std::move(text)});
}

void ServerCore::drop(const char* cause, const Endpoint& from) {
  ++stats_.dropped[cause];
  log(LogLevel::kDebug, std::string("dropped datagram from ") + from.to_string() + ": " + cause);
}

std::vector<Outgoing> ServerCore::take_outgoing() {
  stats_.datagrams_out += outgoing_.size();
  stats_.retransmissions = sender_.retransmissions();
  return std::exchange(outgoing_, {});
}

std::size_t ServerCore::clients_online() const {
  return online_at_.size();
}

RetryPolicy ServerCore::server_policy() const {
  return RetryPolicy::fixed(config_.ack_timeout, config_.retries);
}

void ServerCore::reply(const Endpoint& to, std::uint64_t id, Ack ack) {
  std::string bytes = encode_reply(id, std::move(ack));
  cache_reply(to, id, bytes);
  outgoing_.push_back({to, std::move(bytes)});
}

bool ServerCore::replay_cached(const Endpoint& from, std::uint64_t id) {
  if (replies_held_.contains({from, id})) {
    ++stats_.requests["retransmitted"];
    return true;  // answered once what it changed is durable
  }
  const auto it = replies_.find({from, id});
  if (it == replies_.end()) {
    return false;
  }
  ++stats_.requests["retransmitted"];
  outgoing_.push_back({from, it->second});
  return true;
}

ServerCore::Client* ServerCore::authorised(std::string_view nick, const Endpoint& from) {
  const auto it = clients_.find(nickname_key(nick));
  if (it == clients_.end() || it->second.endpoint != from || it->second.remote) {
    return nullptr;  // not registered here from there
  }
  // manual §9: a request about a nickname comes from its key, whatever
  // the address says.
  if (!it->second.key.empty() && !current_key_.empty() && it->second.key != current_key_) {
    return nullptr;
  }
  return &it->second;
}

std::optional<std::string> ServerCore::key_at(const Endpoint& at) const {
  const auto it = online_at_.find(at);
  if (it == online_at_.end()) return std::nullopt;
  const auto c = clients_.find(it->second);
  if (c == clients_.end() || c->second.key.empty()) return std::nullopt;
  return c->second.key;
}

ServerCore::Client* ServerCore::request_from(std::string_view nick, const Endpoint& from,
                                             std::uint64_t id) {
  if (replay_cached(from, id)) {
    return nullptr;
  }
  Client* c = authorised(nick, from);
  if (c == nullptr) {
    drop("unauthorised", from);
  }
  return c;
}

void ServerCore::send_reliable(std::uint64_t id, const Endpoint& to, const Message& m,
                               RetryPolicy policy, Pending pending, TimePoint now) {
  pending_[id] = std::move(pending);
  sender_.send(id, to, encode(m), policy, now, outgoing_);
}

void ServerCore::take_row(Client& c, const ClientRecord& row) const {
  c.nick = row.nick;
  c.endpoint = row.endpoint;
  c.local = row.local;
  c.key = row.key;
  c.password_hash = row.password_hash;
  c.online = row.online;
  c.heartbeat = std::clamp<Duration>(milliseconds(row.heartbeat_ms), kMinHeartbeat, kMaxHeartbeat);
  c.home = row.home;
  c.remote = !row.home.empty() && row.home != config_.server_id;
  c.last_seen_ms = row.last_seen_ms;
}

void ServerCore::persist(const Client& c, bool claim) {
  if (c.remote) return;  // its home writes it
  const auto hb = std::chrono::duration_cast<milliseconds>(c.heartbeat).count();
  issue(PutClientOp{{c.nick, c.endpoint, c.online, static_cast<std::uint32_t>(hb), c.row_version,
                     c.log_upto, c.key, c.password_hash, c.local, config_.server_id, claim,
                     c.last_seen_ms}},
        {.after = After::kLogFailure, .key = "client " + c.nick});
}

// --- start ----------------------------------------------------------------------

void ServerCore::start(const StoredState& state, TimePoint now) {
  version_ = state.table_version;
  for (const auto& rec : state.clients) {
    // A row persisted with a version whose PutVersion did not commit.
    version_ = std::max(version_, rec.row_version);
  }
  // docs/CLUSTER.md: a shared row holds the version of whichever server
  // wrote it last, in that server's numbering. A server of a cluster
  // starts a version of its own for every row it loads, so that what its
  // clients hold from before is brought up to date by one delta.
  const bool renumber = !config_.server_id.empty();
  if (renumber) ++version_;
  // Numbering goes on after every seq that anything durable refers to:
  // the messages, and the log positions and group floors (which may name a
  // seq given out before a crash to a save that never committed).
  std::int64_t last = state.last_seq;
  for (const auto& rec : state.clients) last = std::max(last, rec.log_upto);
  for (const auto& g : state.groups) {
    for (const auto& m : g.members) last = std::max(last, m.joined_seq);
  }
  next_seq_ = last + 1;
  trim_.upto = state.log_trimmed_upto;
  for (const LogPost& p : state.log_posts) log_quota_.loaded(p.log_key, p.sender_key, p.seq, p.mid);
  for (const auto& [key, n] : state.waiting) {
    if (is_log_key(key)) {
      log_last_[key] = state.last_seq;  // at most: a reader that finds less stops
    } else {
      mailboxes_[key].waiting = n;
    }
  }
  next_sweep_ = now + kSweepInterval;
  std::vector<std::string> to_verify;
  for (const auto& rec : state.clients) {
    const std::string key = nickname_key(rec.nick);
    Client c;
    take_row(c, rec);
    c.last_heard = now;
    c.row_version = renumber ? version_ : rec.row_version;
    c.log_upto = rec.log_upto;
    // A row from before last-seen times were kept counts from this start.
    if (c.last_seen_ms == 0) c.last_seen_ms = config_.wall_clock_ms();
    c.backlog_seq = state.last_seq;
    by_version_[c.row_version].insert(key);
    if (c.online && !c.remote) {
      online_at_[c.endpoint] = key;
      to_verify.push_back(key);
    }
    clients_.emplace(key, std::move(c));
  }
  load_groups(state);
  log(LogLevel::kInfo, "loaded " + std::to_string(clients_.size()) + " clients (table version " +
                           std::to_string(version_) + "); verifying " +
                           std::to_string(to_verify.size()) + " held online");
  for (const auto& key : to_verify) {
    verify(key, RestartWaiter{}, now);
  }
}

// --- datagrams ------------------------------------------------------------------

void ServerCore::on_datagram(std::string_view bytes, const Endpoint& from, TimePoint now,
                             std::string_view client_key) {
  ++stats_.datagrams_in;
  current_key_ = client_key;
  auto decoded = decode(bytes);
  if (!decoded) {
    drop(to_string(decoded.error()), from);
    return;
  }
  heard_from(from, now);
  if (shutting_down_ && std::holds_alternative<Register>(*decoded)) {
    // Told everyone it is going: a registration now would be with a
    // server about to vanish (the client tries again when it is back).
    drop("shutting_down", from);
    return;
  }
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Register> || std::is_same_v<T, Deregister> ||
                      std::is_same_v<T, Save> || std::is_same_v<T, Heartbeat> ||
                      std::is_same_v<T, Ack> || std::is_same_v<T, Lookup> ||
                      std::is_same_v<T, Find> || std::is_same_v<T, Post> ||
                      std::is_same_v<T, Join> || std::is_same_v<T, Leave> ||
                      std::is_same_v<T, ListGroups> || std::is_same_v<T, SetPassword> ||
                      std::is_same_v<T, DeleteAccount> || std::is_same_v<T, Introduce> ||
                      std::is_same_v<T, Relay> || std::is_same_v<T, RelayAck>) {
          handle(m, from, now);
        } else {
          drop("unexpected_type", from);
        }
      },
      *decoded);
  release_window(now);
  flush_tables(now);
}

void ServerCore::handle(const Ack& m, const Endpoint& from, TimePoint now) {
  if (!sender_.acknowledge(m.id, from, now)) {
    return;  // duplicate ack, or for something given up
  }
  const auto it = pending_.find(m.id);
  if (it == pending_.end()) {
    return;
  }
  const Pending p = std::move(it->second);
  pending_.erase(it);
  const auto c = clients_.find(p.client_key);
  switch (p.purpose) {
    case Purpose::kPing:
      verification_done(p.client_key, true, now);
      return;
    case Purpose::kRelay:
      relay_outcome(p.save_key, true, now);
      return;
    case Purpose::kStored:
      if (c == clients_.end()) {
        return;
      }
      if (c->second.delivery_id == m.id) {
        end_delivery(c->second);
      }
      c->second.delivered_upto = p.seq;
      if (!c->second.prefetched.empty() && c->second.prefetched.front()->seq == p.seq) {
        c->second.prefetched.erase(c->second.prefetched.begin());  // at most kMaxPrefetched
      }
      ++stats_.messages_delivered;
      if (p.log) {
        // Stored once for all its recipients: this one's position moves on
        // (manual §4.9), durably with its row.
        c->second.log_upto = std::max(c->second.log_upto, p.seq);
        persist(c->second);
      } else {
        // Delivered: it is never sent again by this process (undeleted_
        // until the delete is durable; on_deleted keeps it there if it fails).
        undeleted_.insert(p.seq);
        issue(DeleteOp{p.seq}, {.after = After::kDelete, .key = p.client_key, .seq = p.seq});
      }
      deliver_next(p.client_key, now);
      return;
    case Purpose::kTable:
      if (c != clients_.end()) {
        std::erase(c->second.table_ids, m.id);
        send_table_parts(c->second, p.client_key, now);  // the next part, if any
        if (c->second.table_ids.empty()) {               // every part of the update arrived
          c->second.held_version = std::max(c->second.held_version, c->second.sending_version);
          send_update(p.client_key, now);  // what changed while it was in flight
        }
      }
      return;
    case Purpose::kNotice:
    case Purpose::kShutdown:
      return;
  }
}

// --- time --------------------------------------------------------------------------

void ServerCore::on_expired(std::uint64_t id, TimePoint now) {
  const auto it = pending_.find(id);
  if (it == pending_.end()) {
    return;
  }
  const Pending p = std::move(it->second);
  pending_.erase(it);
  const auto c = clients_.find(p.client_key);
  switch (p.purpose) {
    case Purpose::kPing:
      verification_done(p.client_key, false, now);
      return;
    case Purpose::kRelay:
      relay_outcome(p.save_key, false, now);
      return;
    case Purpose::kStored:
      // It stays stored. Is the client still there? Alive: deliver again;
      // silent: marked offline (it re-registers when it sees that, and its
      // registration resumes delivery).
      if (c != clients_.end()) {
        if (c->second.delivery_id == id) {
          end_delivery(c->second);
        }
        log(LogLevel::kInfo, "stored delivery to " + c->second.nick + " unacknowledged; verifying");
        if (c->second.online && !c->second.remote) {
          verify(p.client_key, DeliveryWaiter{}, now);
        }
      }
      return;
    case Purpose::kTable:
      if (c != clients_.end()) {
        // The update failed as a whole: its other parts are given up too.
        std::erase(c->second.table_ids, id);
        cancel_table_parts(c->second);
        // Never acked: is it still there? Alive: the table again; silent:
        // marked offline (and told with backoff, see send_prepared).
        if (c->second.online && !c->second.remote) {
          verify(p.client_key, TableWaiter{}, now);
        }
      }
      return;
    case Purpose::kNotice:
    case Purpose::kShutdown:
      return;
  }
}

void ServerCore::sweep_liveness(TimePoint now) {
  std::vector<std::string> silent;
  for (const auto& [key, c] : clients_) {
    if (c.online && !c.remote &&
        c.last_heard + c.heartbeat * kMissedHeartbeatsBeforeOffline <= now &&
        !verifying_.contains(key)) {
      silent.push_back(key);
    }
  }
  for (const auto& key : silent) {
    log(LogLevel::kInfo, clients_.at(key).nick + " missed " +
                             std::to_string(kMissedHeartbeatsBeforeOffline) +
                             " heartbeats: offline");
    mark_offline(key, true, now);
  }
}

void ServerCore::on_timeout(TimePoint now) {
  for (const std::uint64_t id : sender_.poll(now, outgoing_)) {
    on_expired(id, now);
  }
  send_late_notices(now);
  if (now >= next_sweep_) {
    retry_deletions();
    sweep_liveness(now);
    next_sweep_ = now + kSweepInterval;
    if (config_.log_trim_interval > Duration::zero() && now >= trim_.next) {
      trim_.next = now + config_.log_trim_interval;
      trim_logs(now);
    }
    purge_keys(now);
  }
  release_window(now);
  flush_tables(now);
}

std::optional<TimePoint> ServerCore::next_deadline() const {
  TimePoint t = next_sweep_;
  if (const auto r = sender_.next_deadline()) t = std::min(t, *r);
  if (batch_due_ && !dirty_.empty()) t = std::min(t, *batch_due_);
  if (!late_notices_.empty()) t = std::min(t, late_notices_.front().due);
  return t;
}

// --- shutdown ----------------------------------------------------------------------

void ServerCore::begin_shutdown(TimePoint now) {
  shutting_down_ = true;
  for (const auto& [key, c] : clients_) {
    if (c.online && !c.remote) {
      const std::uint64_t id = ids_.next();
      send_reliable(id, c.endpoint, Notice{id, NoticeKind::kShutdown, {}, 0},
                    RetryPolicy::window(config_.ack_timeout), {Purpose::kShutdown, key, {}, 0},
                    now);
    }
  }
  log(LogLevel::kInfo, "shutting down: told " + std::to_string(clients_online()) + " clients");
}

bool ServerCore::shutdown_complete() const {
  return shutting_down_ && all_durable() && held_.empty() &&
         std::none_of(pending_.begin(), pending_.end(),
                      [](const auto& p) { return p.second.purpose == Purpose::kShutdown; });
}

}  // namespace udpchat
