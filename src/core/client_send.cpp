// client_send.cpp: the send pipeline (per-peer queues: direct with an ack
// window, else saved at the server, outcome lines) and incoming messages
// (direct, relayed, stored, notices), shown once per (sender, message id).
#include <algorithm>

#include "core/client_session.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {
namespace {

std::string shown_key(std::string_view from, std::uint64_t mid) {
  return nickname_key(from) + '/' + std::to_string(mid);
}

}  // namespace

// --- sending messages ----------------------------------------------------------

void ClientSession::dispatch_front(const std::string& peer_key, TimePoint now) {
  PeerQueue& q = peers_.at(peer_key);
  if (q.messages.empty()) {
    q.stage = SendStage::kIdle;
    return;
  }
  const OutgoingMessage& msg = q.messages.front();
  const TableEntry* entry = find_peer(msg.peer);
  if (entry != nullptr && entry->online) {
    q.stage = SendStage::kDirect;
    q.request_id = msg.mid;  // a direct chat's transport id is its message id
    direct_[msg.mid] = peer_key;
    sender_.send(msg.mid, Endpoint{entry->address, entry->port},
                 encode(Chat{msg.mid, config_.nick, msg.text}),
                 RetryPolicy::window(config_.ack_timeout), now, outgoing_);
    return;
  }
  if (phase_ == Phase::kReconnecting) {
    say("[" + msg.peer + " is offline, message kept until the server is back.]");
  }
  save_at_server(peer_key, now);
}

void ClientSession::save_at_server(const std::string& peer_key, TimePoint now) {
  PeerQueue& q = peers_.at(peer_key);
  if (phase_ == Phase::kReconnecting) {
    hold_for_server(peer_key, SendStage::kSaving, now);  // saved once it is back
    return;
  }
  const OutgoingMessage& msg = q.messages.front();
  q.stage = SendStage::kSaving;
  const std::uint64_t id = ids_.next();
  q.request_id = id;
  send_to_server(Save{id, config_.nick, msg.peer, msg.mid, msg.text}, id,
                 {RequestKind::kSave, peer_key}, now);
}

void ClientSession::finish_front(const std::string& peer_key, TimePoint now) {
  PeerQueue& q = peers_.at(peer_key);
  if (!q.messages.empty()) {
    q.messages.pop_front();
  }
  q.stage = SendStage::kIdle;
  q.request_id = 0;
  dispatch_front(peer_key, now);
  if (q.stage == SendStage::kIdle) {
    peers_.erase(peer_key);
  }
  maybe_finish_quit(now);
}

void ClientSession::handle(const Ack& m, const Endpoint& from, TimePoint now) {
  if (!sender_.acknowledge(m.id, from, now)) {
    return;  // late duplicate, or not ours
  }
  if (const auto d = direct_.find(m.id); d != direct_.end()) {
    const std::string peer_key = d->second;
    direct_.erase(d);
    PeerQueue& q = peers_.at(peer_key);
    say("[Message received by " + q.messages.front().peer + ".]");
    finish_front(peer_key, now);
    return;
  }
  if (const auto r = requests_.find(m.id); r != requests_.end()) {
    const ServerRequest req = std::move(r->second);
    requests_.erase(r);
    handle_server_ack(m, req, now);
  }
}

void ClientSession::handle(const Chat& m, const Endpoint& from, TimePoint now) {
  // Reconnecting counts as registered: peers still chat with us directly.
  if (phase_ != Phase::kRegistered && phase_ != Phase::kReconnecting) {
    ++dropped_;  // deregistered: neither shown nor acknowledged (manual §4)
    return;
  }
  reply_ack(m.id, from);
  if (shown_.first_time(shown_key(m.from, m.id), now)) {
    say(m.from + ": " + printable(m.text));
  }
}

void ClientSession::handle(const Deliver& m, const Endpoint& from, TimePoint now) {
  if (phase_ != Phase::kRegistered) {
    ++dropped_;  // not (yet) registered: the server retransmits
    return;
  }
  reply_ack(m.id, from);
  if (!shown_.first_time(shown_key(m.from, m.mid), now)) {
    return;
  }
  // manual §4.9: channel and group messages carry where they were sent.
  std::string where;
  if (m.group == kEveryone) {
    where = "[Channel] ";
  } else if (!m.group.empty()) {
    where = "[" + m.group + "] ";
  }
  if (m.saved_at_ms != 0) {
    if (stored_announced_) {
      say("[You Have Messages]");
      stored_announced_ = false;
    }
    say(where + m.from + ": " + config_.format_time(m.saved_at_ms) + " " + printable(m.text));
  } else {
    say(where + m.from + ": " + printable(m.text));
  }
}

void ClientSession::handle(const Notice& m, const Endpoint& from, TimePoint now) {
  reply_ack(m.id, from);
  if (!notices_.first_time(std::to_string(m.id), now)) {
    return;
  }
  if (m.kind == NoticeKind::kShutdown) {
    say("[Server is shutting down.]");
    // manual §6.6: keep running and register again once it is back.
    for (auto it = requests_.begin(); it != requests_.end();) {
      if (it->second.kind == RequestKind::kHeartbeat) {
        sender_.cancel(it->first);
        it = requests_.erase(it);
      } else {
        ++it;
      }
    }
    server_lost(now);
    return;
  }
  // Outcome of a message the server relayed for us after "exists".
  const std::string key = nickname_key(m.nick);
  const auto it = peers_.find(key);
  const bool ours =
      it != peers_.end() && !it->second.messages.empty() &&
      it->second.messages.front().mid == m.mid &&
      (it->second.stage == SendStage::kSaving || it->second.stage == SendStage::kAwaitingRelay);
  if (ours && it->second.stage == SendStage::kSaving) {
    // The "exists" ack was lost or is late, but the server only relays
    // after finding the peer alive: say so first, as the ack would have.
    sender_.cancel(it->second.request_id);
    requests_.erase(it->second.request_id);
    say("[Client " + it->second.messages.front().peer + " exists!!]");
  }
  if (m.kind == NoticeKind::kDelivered) {
    say("[Message received by " + m.nick + ".]");
  } else {
    say("[Messages received by the server and saved]");
  }
  if (ours) {
    finish_front(key, now);
  }
}

}  // namespace udpchat
