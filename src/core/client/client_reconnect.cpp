// client_reconnect.cpp: a client that survives its server (manual §6.6).
//
// When a heartbeat or another request goes unanswered after all its tries,
// or the server says it is shutting down, a client that was registered
// enters kReconnecting: it prints "[Server unreachable, retrying.]" once,
// keeps showing and acknowledging direct messages and sending its own
// directly to peers that answer, holds the messages that need the server
// (a save after "No ACK", a lookup), and sends one registration attempt
// after each backoff delay. Any datagram from the server's address (a
// restarted server pings the clients it held online) makes it try at once.
// Registered again, it shows the welcome line, receives what was saved
// for it meanwhile, and the held messages go on in the order typed.
// An attempt the server refuses for a reason that may pass (it is full,
// say: "[Registration refused: ...; retrying.]", printed once) is tried
// again after the same backoff; a final refusal (the nickname is another
// key's) ends it, as a typed `reg` refused does.
#include <algorithm>
#include <utility>

#include "core/client/client_session.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {

void ClientSession::say_server_unreachable() {
  say("[Server unreachable: try again when it is back.]");
}

void ClientSession::server_lost(TimePoint now) {
  const bool reregistering = phase_ == Phase::kRegistering && !first_registration_;
  if (phase_ != Phase::kRegistered && !reregistering) {
    return;  // already reconnecting, or never registered, or offline by choice
  }
  phase_ = Phase::kReconnecting;
  say("server_unreachable", "[Server unreachable, retrying.]");
  log(LogLevel::kWarn, "server " + config_.server.to_string() + " unreachable; reconnecting");
  next_heartbeat_.reset();
  reconnect_.backoff.reset();
  reconnect_.attempt_id = 0;
  reconnect_.next_attempt = now + reconnect_.backoff.next();
}

void ClientSession::server_heard(TimePoint now) {
  if (phase_ == Phase::kReconnecting && reconnect_.attempt_id == 0 && !reconnect_.refused) {
    reconnect_.backoff.reset();  // it is back: the backoff starts over if this try fails
    attempt_registration(now, /*next=*/false);
  }
}

void ClientSession::next_server() {
  if (config_.other_servers.empty()) return;
  server_turn_ = (server_turn_ + 1) % (config_.other_servers.size() + 1);
  config_.server = server_turn_ == 0 ? first_server_ : config_.other_servers[server_turn_ - 1];
  log(LogLevel::kInfo, "trying server " + config_.server.to_string());
}

void ClientSession::attempt_registration(TimePoint now, bool next) {
  reconnect_.next_attempt.reset();
  // docs/CLUSTER.md: each attempt with the next server of the cluster (the
  // one lost first: it missed a whole try already), unless the one in use
  // just spoke.
  if (next) next_server();
  reconnect_.answered_restarts = 0;
  reconnect_.typed = false;
  // One registration in flight at a time: an attempt replaces a Register
  // still being retried (a "registering again" sent before the server was
  // lost). Two Registers with different ids would each start a new
  // handshake (SecureClient), and every ack sealed for the session before
  // would be dropped.
  for (auto it = requests_.begin(); it != requests_.end();) {
    if (it->second.kind == RequestKind::kRegister) {
      sender_.cancel(it->first);
      it = requests_.erase(it);
    } else {
      ++it;
    }
  }
  const std::uint64_t id = ids_.next();
  reconnect_.attempt_id = id;
  const auto hb = std::chrono::duration_cast<milliseconds>(config_.heartbeat).count();
  requests_[id] = {RequestKind::kRegister, {}};
  // One datagram per attempt: the backoff between attempts is the retry.
  sender_.send(
      id, config_.server,
      encode(Register{id, config_.nick, static_cast<std::uint32_t>(hb), {}, config_.local}),
      RetryPolicy::fixed(config_.ack_timeout, 1), now, outgoing_);
  log(LogLevel::kDebug, "registration attempt " + std::to_string(reconnect_.backoff.attempts()) +
                            " as " + config_.nick);
}

bool ClientSession::retry_refused_registration(const Ack& m, TimePoint now) {
  // Final: the nickname belongs to another key or is held by a live client
  // (kInUse), a wrong password. Anything else (the server is full, busy,
  // its store failed) may pass later.
  if (reconnect_.typed || first_registration_ || m.status != AckStatus::kError) {
    return false;
  }
  if (!std::exchange(reconnect_.refused, true)) {
    say("registration_refused",
        "[Registration refused: " + printable(m.detail) + "; retrying.]");
  }
  log(LogLevel::kInfo, "registration refused (" + m.detail + "); next attempt after the backoff");
  phase_ = Phase::kReconnecting;
  next_heartbeat_.reset();
  reconnect_.next_attempt = now + reconnect_.backoff.next();
  return true;  // held messages stay held; they go once registered
}

void ClientSession::hold_for_server(const std::string& peer_key, SendStage resume, TimePoint now) {
  (void)now;
  PeerQueue& q = peers_.at(peer_key);
  q.stage = SendStage::kHeld;
  q.resume = resume;
  q.request_id = 0;
}

void ClientSession::resume_held(TimePoint now) {
  std::vector<std::string> held;
  for (const auto& [key, q] : peers_) {
    if (q.stage == SendStage::kHeld) held.push_back(key);
  }
  std::vector<std::string> posts;
  for (auto& [key, q] : posts_) {
    if (q.held) {
      q.held = false;
      posts.push_back(key);
    }
  }
  for (const std::string& key : posts) {
    send_front_post(key, now);  // same mid: stored once even if it got there
  }
  for (const std::string& key : held) {
    PeerQueue& q = peers_.at(key);
    q.stage = SendStage::kIdle;
    if (q.resume == SendStage::kLookingUp && find_peer(key) == nullptr) {
      start_lookup(key, now);
    } else {
      save_at_server(key, now);
    }
  }
}

void ClientSession::fail_held(TimePoint now) {
  (void)now;
  for (auto it = posts_.begin(); it != posts_.end();) {
    if (!it->second.held) {
      ++it;
      continue;
    }
    for (const OutgoingMessage& msg : it->second.messages) {
      say("failed", "[Message for " + target_name(msg) + " not sent: server unreachable.]",
          {{"to", msg.peer}});
    }
    it = posts_.erase(it);
  }
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (it->second.stage != SendStage::kHeld && it->second.stage != SendStage::kUntrusted) {
      ++it;
      continue;
    }
    const bool untrusted_key = it->second.stage == SendStage::kUntrusted;
    for (const OutgoingMessage& msg : it->second.messages) {
      say("failed",
          untrusted_key ? "[Message for " + msg.peer + " not sent: its new key was not trusted.]"
                        : "[Message for " + msg.peer + " not sent: server unreachable.]",
          {{"to", msg.peer}});
    }
    it = peers_.erase(it);
  }
}

}  // namespace udpchat
