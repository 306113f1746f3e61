// client_send.cpp: the send pipeline (per-peer queues: direct with an ack
// window, else saved at the server, outcome lines) and incoming messages
// (direct, relayed, stored, notices), shown once per (sender, message id).
#include <algorithm>

#include "core/client/client_session.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {

std::string ClientSession::shown_key(std::string_view from, std::uint64_t mid) {
  return nickname_key(from) + '/' + std::to_string(mid);
}

// --- sending messages ----------------------------------------------------------

void ClientSession::dispatch_front(const std::string& peer_key, TimePoint now) {
  PeerQueue& q = peers_.at(peer_key);
  if (q.messages.empty()) {
    q.stage = SendStage::kIdle;
    return;
  }
  const OutgoingMessage& msg = q.messages.front();
  if (untrusted(peer_key)) {
    // manual §8: nothing goes to a key we did not accept.
    q.stage = SendStage::kUntrusted;
    say("[Messages to " + msg.peer + " wait: its key changed. Compare fingerprint " + msg.peer +
        " with them, then type trust " + msg.peer + ".]");
    return;
  }
  const auto key = key_of(msg.peer);
  if (!key && !q.key_looked_up) {
    // A row we do not hold (or hold from before keys): ask the server.
    q.key_looked_up = true;
    start_lookup(peer_key, now);
    return;
  }
  const auto box =
      key ? keyring_.seal(config_.nick, msg.peer, *key, msg.mid, msg.text) : std::nullopt;
  if (!box) {
    say("failed", "[Message to " + msg.peer + " not sent: its key is not known.]",
        {{"to", msg.peer}});
    finish_front(peer_key, now);
    return;
  }
  const TableEntry* entry = find_peer(msg.peer);
  if (entry != nullptr && entry->online) {
    q.stage = SendStage::kDirect;
    q.request_id = msg.mid;  // a direct chat's transport id is its message id
    direct_[msg.mid] = peer_key;
    if (const auto p = paths_.find(peer_key);
        p != paths_.end() && p->second.kind == PathKind::kRelayed) {
      // docs/NAT.md: no direct path opened; the server passes it on live.
      p->second.last_used = now;
      sender_.send(msg.mid, config_.server, encode(Relay{msg.mid, msg.peer, *box}),
                   RetryPolicy::window(config_.ack_timeout), now, outgoing_);
    } else {
      sender_.send(msg.mid, peer_destination(peer_key, *entry, now),
                   encode(Chat{msg.mid, config_.nick, {}, *box}),
                   RetryPolicy::window(config_.ack_timeout), now, outgoing_);
    }
    introduce_if_unheard(peer_key, msg.peer, now);  // docs/NAT.md: sent at once, both
    return;
  }
  if (phase_ == Phase::kReconnecting) {
    say("held", "[" + msg.peer + " is offline, message kept until the server is back.]",
        {{"to", msg.peer}});
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
  const auto key = key_of(msg.peer);
  auto box = key ? keyring_.seal(config_.nick, msg.peer, *key, msg.mid, msg.text) : std::nullopt;
  if (!box) {
    say("failed", "[Message to " + msg.peer + " not sent: its key is not known.]",
        {{"to", msg.peer}});
    finish_front(peer_key, now);
    return;
  }
  q.stage = SendStage::kSaving;
  const std::uint64_t id = ids_.next();
  q.request_id = id;
  send_to_server(Save{id, config_.nick, msg.peer, msg.mid, {}, std::move(*box)}, id,
                 {RequestKind::kSave, peer_key}, now);
}

void ClientSession::finish_front(const std::string& peer_key, TimePoint now) {
  PeerQueue& q = peers_.at(peer_key);
  if (!q.messages.empty()) {
    q.messages.pop_front();
  }
  q.stage = SendStage::kIdle;
  q.request_id = 0;
  q.key_looked_up = false;
  dispatch_front(peer_key, now);
  if (q.stage == SendStage::kIdle) {
    peers_.erase(peer_key);
  }
  maybe_finish_quit(now);
}

void ClientSession::handle(const Ack& m, const Endpoint& from, TimePoint now) {
  if (const auto d = direct_.find(m.id); d != direct_.end()) {
    // manual §8: only the recipient can acknowledge a direct message.
    const auto key = key_of(peers_.at(d->second).messages.front().peer);
    if (!key || m.tag.empty() ||
        !crypto::equal(crypto::as_bytes(m.tag),
                       crypto::as_bytes(keyring_.ack_tag(*key, m.id, false)))) {
      ++dropped_;
      log(LogLevel::kDebug, "dropped an unauthenticated ack from " + from.to_string());
      return;
    }
  }
  if (!sender_.acknowledge(m.id, from, now)) {
    return;  // late duplicate, or not ours
  }
  if (const auto d = direct_.find(m.id); d != direct_.end()) {
    const std::string peer_key = d->second;
    direct_.erase(d);
    if (from != config_.server) note_heard(peer_key, from, now, true);  // works both ways
    PeerQueue& q = peers_.at(peer_key);
    say("delivered", "[Message received by " + q.messages.front().peer + ".]",
        {{"to", q.messages.front().peer}});
    record_sent(q.messages.front(), false);
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
  receive_chat(m, from, false, now);
}

void ClientSession::receive_chat(const Chat& m, const Endpoint& from, bool relayed, TimePoint now) {
  // Reconnecting counts as registered: peers still chat with us directly.
  if (phase_ != Phase::kRegistered && phase_ != Phase::kReconnecting) {
    ++dropped_;  // deregistered: neither shown nor acknowledged (manual §4)
    return;
  }
  // manual §8: shown only if it opens under the key the nickname holds;
  // else neither shown nor acknowledged (the sender falls back to the
  // server, which knows the sender's key).
  const auto key = receive_key_of(m.from);
  if (!key) look_up_sender(m.from, now);
  const auto text =
      key && !m.box.empty() ? keyring_.open(m.from, config_.nick, *key, m.id, m.box) : std::nullopt;
  if (!text) {
    ++dropped_;
    log(LogLevel::kDebug, "dropped a chat claiming to be from " + m.from + " (" + from.to_string() +
                              "): it does not open under its key");
    return;
  }
  const std::string tag = keyring_.ack_tag(*key, m.id, true);
  Outgoing ack{from, encode(Ack{m.id, AckStatus::kOk, 0, {}, 0, tag})};
  if (relayed) {
    // docs/NAT.md: no direct path from it; the ack, and our messages to
    // it, go back through the relay.
    ack = {config_.server, encode(RelayAck{m.id, m.from, tag})};
    PeerPath& p = paths_[nickname_key(m.from)];
    if (p.kind == PathKind::kNone) {
      p.kind = PathKind::kRelayed;
      p.relayed_since = now;
    }
    if (p.kind == PathKind::kRelayed) p.last_used = now;
  } else {
    note_heard(nickname_key(m.from), from, now, true);
  }
  take_message({m.from, m.id, {}, std::move(*text), 0, true}, std::move(ack), now);
}

void ClientSession::look_up_sender(const std::string& nick, TimePoint now) {
  // Beyond the full-table limit we may not hold a sender's row: look it
  // up (once per ack window); the sender's (or the server's) next try of
  // the message then opens.
  if (phase_ != Phase::kRegistered || !is_valid_nickname(nick)) return;
  if (sender_lookups_.size() >= 1024) sender_lookups_.clear();  // the budget still bounds them
  auto& last = sender_lookups_[nickname_key(nick)];
  if (last != TimePoint{} && now - last < config_.ack_timeout) return;
  if (!lookup_budget_.take(now)) return;
  last = now;
  const std::uint64_t id = ids_.next();
  send_to_server(Lookup{id, config_.nick, nick}, id, {RequestKind::kLookup, nickname_key(nick)},
                 now);
}

void ClientSession::handle(const Deliver& m, const Endpoint& from, TimePoint now) {
  if (phase_ != Phase::kRegistered) {
    ++dropped_;  // not (yet) registered: the server retransmits
    return;
  }
  const auto key = m.box.empty() ? std::nullopt : receive_key_of(m.from);
  if (!m.box.empty() && !key) {
    look_up_sender(m.from, now);
    ++dropped_;  // not acknowledged: it comes again once the row is here
    return;
  }
  const std::string nk = nickname_key(m.from);
  if (!m.box.empty() && untrusted(nk) && !keyring_.open(m.from, config_.nick, *key, m.mid, m.box)) {
    // Sealed under the new key we did not accept: it waits (unacknowledged,
    // the server keeps it) until `trust`.
    ++dropped_;
    if (hold_told_.insert(nk).second) {
      say("[Messages from " + m.from + " wait too, until you type trust " + m.from + ".]");
    }
    return;
  }
  if (shown_.seen(shown_key(m.from, m.mid))) {
    reply_ack(m.id, from);  // shown (or, with a store, written) before
    return;
  }
  std::string text = m.text;
  // A direct message without a box was saved before end-to-end
  // encryption (an upgraded store): the server's word only.
  const bool verified = !(m.box.empty() && m.group.empty());
  if (!m.box.empty()) {
    // manual §8: sealed by its sender for us, under the key its nickname
    // holds.
    auto opened = keyring_.open(m.from, config_.nick, *key, m.mid, m.box);
    if (!opened) {
      // Acked all the same: kept, it would come back forever.
      reply_ack(m.id, from);
      shown_.first_time(shown_key(m.from, m.mid), now);
      say("dropped", "[A message from " + m.from + " could not be verified and was dropped.]",
          {{"from", m.from}});
      return;
    }
    text = std::move(*opened);
  }
  take_message({m.from, m.mid, m.group, std::move(text), m.saved_at_ms, verified},
               {from, encode(Ack{m.id, AckStatus::kOk, 0, {}})}, now);
}

void ClientSession::show_message(const IncomingMessage& msg) {
  // manual §4.9: channel and group messages carry where they were sent.
  std::string where;
  if (msg.group == kEveryone) {
    where = "[Channel] ";
  } else if (!msg.group.empty()) {
    where = "[" + msg.group + "] ";
  }
  const std::string unverified = msg.verified ? "" : "[Not end-to-end verified] ";
  std::vector<EventField> fields{{"from", msg.from}, {"text", msg.text}};
  if (!msg.group.empty()) fields.push_back({"group", msg.group});
  if (!msg.verified) fields.push_back({"verified", false});
  if (msg.saved_at_ms != 0) {
    if (stored_announced_) {
      say("stored_messages", "[You Have Messages]");
      stored_announced_ = false;
    }
    fields.push_back({"saved_at_ms", msg.saved_at_ms});
    say("message",
        unverified + where + msg.from + ": " + config_.format_time(msg.saved_at_ms) + " " +
            printable(msg.text),
        std::move(fields));
  } else {
    say("message", unverified + where + msg.from + ": " + printable(msg.text), std::move(fields));
  }
}

void ClientSession::handle(const Notice& m, const Endpoint& from, TimePoint now) {
  reply_ack(m.id, from);
  if (!notices_.first_time(std::to_string(m.id), now)) {
    return;
  }
  if (m.kind == NoticeKind::kShutdown) {
    say("server_shutdown", "[Server is shutting down.]");
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
    say("exists", "[Client " + it->second.messages.front().peer + " exists!!]",
        {{"nick", it->second.messages.front().peer}});
  }
  if (ours) record_sent(it->second.messages.front(), false);
  if (m.kind == NoticeKind::kDelivered) {
    say("delivered", "[Message received by " + m.nick + ".]", {{"to", m.nick}});
  } else {
    say("saved", "[Messages received by the server and saved]", {{"to", m.nick}});
  }
  if (ours) {
    finish_front(key, now);
  }
}

}  // namespace udpchat
