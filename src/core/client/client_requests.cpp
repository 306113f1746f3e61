// client_requests.cpp: requests to the server (register, deregister,
// save, heartbeat; manual §5: tried up to --server-retries times) and what
// each acknowledgement means; verification pings.
#include <algorithm>

#include "core/client/client_session.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {

// --- requests to the server ----------------------------------------------------

std::uint64_t ClientSession::send_to_server(const Message& m, std::uint64_t id, ServerRequest req,
                                            TimePoint now) {
  requests_[id] = std::move(req);
  sender_.send(id, config_.server, encode(m),
               RetryPolicy::fixed(config_.ack_timeout, config_.server_retries), now, outgoing_);
  return id;
}

void ClientSession::send_register(TimePoint now, bool with_password) {
  phase_ = Phase::kRegistering;
  reconnect_.answered_restarts = 0;
  reconnect_.typed = with_password;
  const std::uint64_t id = ids_.next();
  const auto hb = std::chrono::duration_cast<milliseconds>(config_.heartbeat).count();
  send_to_server(Register{id, config_.nick, static_cast<std::uint32_t>(hb),
                          with_password ? config_.password : std::string(), config_.local},
                 id, {RequestKind::kRegister, {}}, now);
  log(LogLevel::kDebug, "registering as " + config_.nick + " with " + config_.server.to_string());
}

void ClientSession::server_answered(TimePoint now) {
  // At most kMaxAnsweredRestarts per registration: a server that answers
  // Hellos but never completes a handshake is given up like a silent one.
  if ((phase_ != Phase::kRegistering && phase_ != Phase::kReconnecting) ||
      reconnect_.answered_restarts >= ReconnectState::kMaxAnsweredRestarts) {
    return;
  }
  ++reconnect_.answered_restarts;
  for (const auto& [id, req] : requests_) {
    if (req.kind == RequestKind::kRegister) sender_.restart(id, now);
  }
}

void ClientSession::server_link_up(TimePoint now) {
  sender_.resend_to(config_.server, now, outgoing_);
}

void ClientSession::send_heartbeat(TimePoint now) {
  const std::uint64_t id = ids_.next();
  send_to_server(Heartbeat{id, config_.nick, table_.version()}, id, {RequestKind::kHeartbeat, {}},
                 now);
  next_heartbeat_ = now + heartbeat_interval();
}

bool ClientSession::heartbeat_in_flight() const {
  return std::any_of(requests_.begin(), requests_.end(),
                     [](const auto& r) { return r.second.kind == RequestKind::kHeartbeat; });
}

void ClientSession::send_deregister(TimePoint now) {
  phase_ = Phase::kDeregistering;
  next_heartbeat_.reset();
  const std::uint64_t id = ids_.next();
  send_to_server(Deregister{id, config_.nick}, id, {RequestKind::kDeregister, {}}, now);
}

void ClientSession::handle_server_ack(const Ack& m, const ServerRequest& req, TimePoint now) {
  switch (req.kind) {
    case RequestKind::kRegister:
      reconnect_.attempt_id = 0;
      reconnect_.next_attempt.reset();
      if (m.status != AckStatus::kOk && retry_refused_registration(m, now)) {
        return;
      }
      reconnect_.refused = false;
      if (m.status == AckStatus::kOk) {
        const bool reconnected = phase_ == Phase::kReconnecting;
        phase_ = Phase::kRegistered;
        registered_nick_ = config_.nick;
        learn_count(m.total);
        learn_public(m.seen);
        first_registration_ = false;
        say("registered", "[Welcome, You are registered.]", {{"nick", config_.nick}});
        if (table_line_pending_) {
          say("table_updated", "[Client table updated.]",
              {{"version", static_cast<std::int64_t>(table_.version())}});
          table_line_pending_ = false;
        }
        if (m.expired > 0) {
          // Away longer than the server's log retention: what it trimmed
          // meanwhile is not coming (docs/DECISIONS.md, "Log retention").
          say("log_expired",
              "[You were away more than " + std::to_string(m.expired) +
                  (m.expired == 1 ? " day" : " days") +
                  ": some channel and group messages sent meanwhile were not kept.]",
              {{"days", static_cast<std::int64_t>(m.expired)}});
        }
        // Printed with the first stored message, after the table line.
        stored_announced_ = m.stored > 0;
        next_heartbeat_ = now + heartbeat_interval();
        // A table that came while we registered and shows us offline may be
        // older than our registration, or newer (the server lost track of
        // us again). A heartbeat now asks; "offline" makes us register again.
        if (const TableEntry* self = find_peer(config_.nick); self != nullptr && !self->online) {
          next_heartbeat_ = now;
        }
        if (reconnected) {
          log(LogLevel::kInfo, "registered again after the server was unreachable");
        }
        resume_held(now);  // messages held while the server was unreachable
      } else {
        if (m.status == AckStatus::kInUse) {
          say("registration_refused", "[Nickname " + config_.nick + " is already in use.]");
        } else if (m.status == AckStatus::kBadPassword) {
          say("registration_refused", "[Wrong password for nickname " + config_.nick + ".]");
        } else {
          say("registration_refused", "[Registration refused: " + printable(m.detail) + "]");
        }
        phase_ = Phase::kOffline;
        fail_held(now);
        if (first_registration_) {
          exit_status_ = 1;
          phase_ = Phase::kExited;
        } else {
          // Still the nickname this address holds at the server (offline):
          // what `list <prefix>` and the next `reg` speak as.
          config_.nick = registered_nick_;
          registered_key_ = nickname_key(config_.nick);
        }
      }
      return;
    case RequestKind::kDeregister:
      phase_ = Phase::kOffline;
      say("offline", "[You are Offline. Bye.]");
      // Messages typed before the dereg keep going to their outcome (a
      // direct ack, or the server, which accepts saves from the address
      // the nickname is registered at even when it is offline).
      if (quitting_) {
        fail_held(now);  // what waited for a trust that will not come
        phase_ = Phase::kExited;
        exit_status_ = 0;
      }
      return;
    case RequestKind::kLookup:
    case RequestKind::kFind:
    case RequestKind::kGroups:
      return;  // answered by Rows or GroupList, not by an ack
    case RequestKind::kPost:
      post_acked(m, req.peer_key, now);
      return;
    case RequestKind::kSetPassword:
    case RequestKind::kDeleteAccount:
      account_acked(m, req.kind, now);
      return;
    case RequestKind::kJoin:
    case RequestKind::kLeave:
      membership_acked(m, req);
      return;
    case RequestKind::kIntroduce:
      // kOk: punches come; otherwise the message goes its classic way.
      if (m.status != AckStatus::kOk) {
        log(LogLevel::kDebug, "no introduction to " + req.peer_key + ": " +
                                  (m.detail.empty() ? std::string("peer not online") : m.detail));
      }
      return;
    case RequestKind::kHeartbeat:
      learn_count(m.total);  // and a `list` waiting for it prints
      learn_public(m.seen);
      if (m.status == AckStatus::kOffline && phase_ == Phase::kRegistered) {
        log(LogLevel::kInfo, "server holds us offline; registering again");
        send_register(now);
      }
      return;
    case RequestKind::kSave: {
      const auto it = peers_.find(req.peer_key);
      if (it == peers_.end() || it->second.messages.empty()) {
        return;
      }
      PeerQueue& q = it->second;
      const std::string peer = q.messages.front().peer;
      switch (m.status) {
        case AckStatus::kSaved:
          say("saved", "[Messages received by the server and saved]", {{"to", peer}});
          record_sent(q.messages.front(), false);
          finish_front(req.peer_key, now);
          return;
        case AckStatus::kExists:
          say("exists", "[Client " + peer + " exists!!]", {{"nick", peer}});
          // The server relays it itself and then sends a Notice; wait for
          // it (bounded) so this peer still sees our messages in order.
          q.stage = SendStage::kAwaitingRelay;
          q.relay_guard = now + config_.ack_timeout * (config_.server_retries + 2);
          return;
        case AckStatus::kUnknown:
          say("failed", "[Unknown client " + peer + ".]", {{"to", peer}});
          finish_front(req.peer_key, now);
          return;
        default:
          say("failed",
              "[Server could not save the message for " + peer + ": " +
                  (m.detail.empty() ? std::string("error") : printable(m.detail)) + "]",
              {{"to", peer}});
          finish_front(req.peer_key, now);
          return;
      }
    }
  }
}

void ClientSession::handle(const Ping& m, const Endpoint& from, TimePoint now) {
  (void)now;
  // Registering counts as alive: a server that pings us meanwhile (a
  // message for us arrived) must not mark us offline again.
  if (phase_ == Phase::kRegistered || phase_ == Phase::kRegistering ||
      phase_ == Phase::kReconnecting) {
    reply_ack(m.id, from);
  }
}

}  // namespace udpchat
