// client_paths.cpp: where the client's datagrams to a peer go, and how a
// path to a peer behind a NAT is found and kept (docs/NAT.md): the public
// endpoint the server sees, the local one we told, the NAT keep-alive,
// introductions through the server, probes, and paths proved or failed.
#include <algorithm>

#include "core/client/client_session.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {

void ClientSession::learn_public(const Endpoint& seen) {
  if (seen.address.empty() || seen == public_) return;
  const bool first = public_.address.empty();
  public_ = seen;
  if (config_.local.address.empty() || seen == config_.local) {
    log(LogLevel::kDebug, "the server sees us at " + seen.to_string());
  } else {
    log(first ? LogLevel::kInfo : LogLevel::kWarn,
        std::string(first ? "behind a NAT" : "our NAT mapping changed") +
            ": the server sees us at " + seen.to_string() + ", our local address is " +
            config_.local.to_string());
  }
}

Duration ClientSession::heartbeat_interval() const {
  return behind_nat() ? std::min(config_.heartbeat, config_.nat_keepalive) : config_.heartbeat;
}

Endpoint ClientSession::path_to(const TableEntry& e) const {
  if (!e.local_address.empty() && !public_.address.empty() && e.address == public_.address) {
    return Endpoint{e.local_address, e.local_port};  // behind our NAT: over the LAN
  }
  return Endpoint{e.address, e.port};
}

std::string ClientSession::path_of(std::string_view nick) const {
  const auto it = paths_.find(nickname_key(nick));
  if (it == paths_.end()) return {};
  switch (it->second.kind) {
    case PathKind::kLan:
      return "lan";
    case PathKind::kDirect:
      return "direct";
    case PathKind::kRelayed:
      return "relayed";
    case PathKind::kNone:
      break;
  }
  return {};
}

// --- choosing a path --------------------------------------------------------------

Endpoint ClientSession::peer_destination(const std::string& peer_key, const TableEntry& e,
                                         TimePoint now) {
  const auto it = paths_.find(peer_key);
  if (it != paths_.end() && it->second.kind != PathKind::kNone) {
    it->second.last_used = now;
    return it->second.endpoint;
  }
  return path_to(e);  // a LAN, a peer without a NAT: the row's endpoint may do
}

void ClientSession::introduce_if_unheard(const std::string& peer_key, const std::string& nick,
                                         TimePoint now) {
  const auto it = paths_.find(peer_key);
  if (it != paths_.end() && it->second.kind == PathKind::kRelayed) {
    // Relayed: punching is tried again now and then (a NAT may have
    // changed), not before every message.
    if (now - it->second.relayed_since >= client_paths::kRelayRetry) {
      it->second.relayed_since = now;
      introduce(peer_key, nick, now);
    }
    return;
  }
  if (it == paths_.end() || it->second.kind == PathKind::kNone ||
      now - it->second.last_heard >= client_paths::kPathFresh) {
    introduce(peer_key, nick, now);
  }
}

void ClientSession::introduce(const std::string& peer_key, const std::string& nick, TimePoint now) {
  if (phase_ != Phase::kRegistered || peer_key == nickname_key(config_.nick)) return;
  auto [it, inserted] = paths_.try_emplace(peer_key);
  PeerPath& p = it->second;
  if (!inserted && p.introduced != TimePoint{} && now - p.introduced < config_.ack_timeout) {
    return;  // one introduction per ack window
  }
  p.introduced = now;
  if (paths_.size() > client_paths::kMaxPaths) {
    // The path heard on least recently (never: first) goes, never this one.
    auto oldest = paths_.end();
    for (auto i = paths_.begin(); i != paths_.end(); ++i) {
      if (i->first != peer_key &&
          (oldest == paths_.end() || i->second.last_heard < oldest->second.last_heard)) {
        oldest = i;
      }
    }
    if (oldest != paths_.end()) paths_.erase(oldest);
  }
  const std::uint64_t id = ids_.next();
  send_to_server(Introduce{id, config_.nick, nick}, id, {RequestKind::kIntroduce, peer_key}, now);
}

// --- punching -----------------------------------------------------------------------

void ClientSession::handle(const Punch& m, const Endpoint& from, TimePoint now) {
  reply_ack(m.id, from);
  if (!notices_.first_time("punch/" + std::to_string(m.id), now)) return;
  if (phase_ != Phase::kRegistered && phase_ != Phase::kReconnecting) return;
  const std::string peer_key = nickname_key(m.row.nick);
  if (peer_key == nickname_key(config_.nick)) return;
  merge_row(m.row);  // its key, and where it is now
  const TableEntry* row = find_peer(m.row.nick);
  if (row == nullptr || !row->online) return;
  PeerPath& p = paths_[peer_key];
  p.probes.clear();
  // ICE's candidates (RFC 8445 section 5.1.1): its local endpoint when it
  // is behind our NAT, and its public one.
  if (!row->local_address.empty() && row->address == public_.address) {
    p.probes.emplace_back(Endpoint{row->local_address, row->local_port}, ids_.next());
  }
  p.probes.emplace_back(Endpoint{row->address, row->port}, ids_.next());
  p.punch_until = now + std::max<Duration>(2 * config_.ack_timeout, std::chrono::seconds(1));
  // Half an ack window for a probe to be answered; a message still
  // waiting then goes through the relay, with time left for its ack.
  p.relay_after = now + config_.ack_timeout / 2;
  log(LogLevel::kDebug,
      "punching towards " + m.row.nick + " at " + p.probes.back().first.to_string());
  send_probes(peer_key, p, now);
}

void ClientSession::send_probes(const std::string& peer_key, PeerPath& p, TimePoint now) {
  const TableEntry* row = table_.find(peer_key);
  const auto key = row == nullptr ? std::nullopt : receive_key_of(row->nick);
  const auto* keys = key ? keyring_.peer_keys(*key) : nullptr;
  if (keys == nullptr) {
    p.punch_until = {};  // no key, no probe anyone could trust
    return;
  }
  for (const auto& [to, id] : p.probes) {
    outgoing_.push_back({to, encode(Probe{id, config_.nick, row->nick, false,
                                          e2e_probe_tag(keys->send, id, false)})});
  }
  // Spaced by a tenth of the ack window (20 to 200 ms): the first probes
  // of each side may meet a NAT the other has not opened yet.
  p.next_probe = now + std::clamp<Duration>(config_.ack_timeout / 10, std::chrono::milliseconds(20),
                                            std::chrono::milliseconds(200));
}

void ClientSession::handle(const Probe& m, const Endpoint& from, TimePoint now) {
  const std::string peer_key = nickname_key(m.from);
  const auto key = receive_key_of(m.from);
  const auto* keys = key ? keyring_.peer_keys(*key) : nullptr;
  if ((phase_ != Phase::kRegistered && phase_ != Phase::kReconnecting) ||
      nickname_key(m.to) != nickname_key(config_.nick) || keys == nullptr ||
      !crypto::equal(crypto::as_bytes(m.tag),
                     crypto::as_bytes(e2e_probe_tag(keys->receive, m.id, m.answer)))) {
    ++dropped_;
    log(LogLevel::kDebug, "dropped a probe from " + from.to_string() + " (not for us, or forged)");
    return;
  }
  if (!m.answer) {
    // Answered where it came from, never with more bytes than it had.
    std::string answer =
        encode(Probe{m.id, config_.nick, m.from, true, e2e_probe_tag(keys->send, m.id, true)});
    if (answer.size() <= datagram_bytes_) outgoing_.push_back({from, std::move(answer)});
    auto& p = paths_[peer_key];
    // While punching, a request that came through means the peer's NAT is
    // open towards us now: probe again at once rather than at the next
    // interval, and probe its source too if it was no candidate (a NAT
    // that maps per destination), as ICE's triggered checks do (RFC 8445
    // section 7.3.1.4).
    if (p.punch_until > now) {
      if (std::none_of(p.probes.begin(), p.probes.end(),
                       [&](const auto& c) { return c.first == from; })) {
        p.probes.emplace_back(from, ids_.next());
      }
      send_probes(peer_key, p, now);
    }
    note_heard(peer_key, from, now);
    return;
  }
  const auto it = paths_.find(peer_key);
  if (it == paths_.end()) return;
  const bool ours = std::any_of(it->second.probes.begin(), it->second.probes.end(),
                                [&](const auto& c) { return c.first == from && c.second == m.id; });
  if (!ours) return;  // an answer to no probe of ours, or from elsewhere
  path_open(peer_key, from, now);
}

void ClientSession::note_heard(const std::string& peer_key, const Endpoint& from, TimePoint now,
                               bool message) {
  PeerPath& p = paths_[peer_key];
  if (message) p.last_used = now;
  if (p.kind == PathKind::kNone || p.endpoint != from) {
    const TableEntry* row = table_.find(peer_key);
    const bool lan = row != nullptr && Endpoint{row->local_address, row->local_port} == from;
    p.kind = lan ? PathKind::kLan : PathKind::kDirect;
    p.endpoint = from;
    log(LogLevel::kInfo, "path to " + (row != nullptr ? row->nick : peer_key) +
                             " open: " + (lan ? "lan" : "direct") + " at " + from.to_string());
  }
  p.last_heard = now;
}

void ClientSession::path_open(const std::string& peer_key, const Endpoint& at, TimePoint now) {
  PeerPath& p = paths_[peer_key];
  const bool punching = p.punch_until != TimePoint{};
  note_heard(peer_key, at, now);
  p.punch_until = {};
  p.last_probe = now;
  if (!punching) return;  // a keep-alive answered
  // The message in flight goes there now rather than at its next try (its
  // earlier copies, even to this endpoint, met a NAT not yet open).
  const auto q = peers_.find(peer_key);
  if (q != peers_.end() && q->second.stage == SendStage::kDirect &&
      sender_.destination(q->second.request_id)) {
    sender_.redirect(q->second.request_id, at, now, outgoing_);
  }
}

bool ClientSession::path_failed(const std::string& peer_key, TimePoint now) {
  const auto it = paths_.find(peer_key);
  if (it == paths_.end() || it->second.kind == PathKind::kNone) return false;
  PeerPath& p = it->second;
  const TableEntry* row = table_.find(peer_key);
  log(LogLevel::kInfo, "path to " + (row != nullptr ? row->nick : peer_key) + " (" +
                           path_of(peer_key) + ") stopped answering");
  const bool was_direct = p.kind == PathKind::kLan || p.kind == PathKind::kDirect;
  p.kind = PathKind::kNone;
  p.introduced = {};  // the next message asks again at once
  // docs/NAT.md: a direct path through a NAT that died (the NAT forgot its
  // mapping) is followed by the relay, at once and without a line; the
  // classic LAN keeps its classic outcome.
  if (was_direct && row != nullptr && row->online && nat_between(*row) &&
      phase_ == Phase::kRegistered) {
    use_relay(peer_key, now);
    return true;
  }
  return false;
}

void ClientSession::use_relay(const std::string& peer_key, TimePoint now) {
  PeerPath& p = paths_[peer_key];
  if (p.kind != PathKind::kRelayed) {
    log(LogLevel::kInfo, "no direct path to " + peer_key + ": relaying through the server");
    p.kind = PathKind::kRelayed;
    p.relayed_since = now;
  }
  p.last_used = now;
  p.relay_after = {};
  const auto q = peers_.find(peer_key);
  if (q == peers_.end() || q->second.stage != SendStage::kDirect || q->second.messages.empty()) {
    return;
  }
  const OutgoingMessage& msg = q->second.messages.front();
  const auto key = key_of(msg.peer);
  const auto box =
      key ? keyring_.seal(config_.nick, msg.peer, *key, msg.mid, msg.text) : std::nullopt;
  if (!box) return;  // its window runs out and it goes to the server as before
  std::string bytes = encode(Relay{msg.mid, msg.peer, *box});
  if (!sender_.redirect(msg.mid, config_.server, now, outgoing_, bytes)) {
    // Its window had closed on the dead path: a whole one on the relay.
    sender_.send(msg.mid, config_.server, std::move(bytes),
                 RetryPolicy::window(config_.ack_timeout), now, outgoing_);
  }
}

void ClientSession::handle(const Relay& m, const Endpoint& from, TimePoint now) {
  receive_chat(Chat{m.id, m.peer, {}, m.box}, from, true, now);
}

void ClientSession::handle(const RelayAck& m, const Endpoint& from, TimePoint now) {
  // As the peer's own ack; its tag proves the peer wrote it.
  handle(Ack{m.id, AckStatus::kOk, 0, {}, 0, m.tag}, from, now);
}

// --- time ----------------------------------------------------------------------------

void ClientSession::run_paths(TimePoint now) {
  std::vector<std::string> to_relay;
  for (auto& [peer_key, p] : paths_) {
    if (p.relay_after != TimePoint{} && p.relay_after <= now) {
      p.relay_after = {};
      // No probe answered yet and a message waits on no path: relay it.
      const auto q = peers_.find(peer_key);
      if (p.kind == PathKind::kNone && q != peers_.end() && q->second.stage == SendStage::kDirect &&
          phase_ == Phase::kRegistered) {
        to_relay.push_back(peer_key);
      }
    }
    if (p.punch_until != TimePoint{}) {
      if (p.punch_until <= now) {
        p.punch_until = {};
        log(LogLevel::kDebug, "no probe to " + peer_key + " answered");
      } else if (p.next_probe <= now) {
        send_probes(peer_key, p, now);
      }
      continue;
    }
    // Keep-alive: a path in use gets a probe every client_paths::kKeepAlive, so both
    // NATs keep their mappings (RFC 8445 section 11).
    if ((p.kind == PathKind::kLan || p.kind == PathKind::kDirect) &&
        now - p.last_used < client_paths::kPathInUse &&
        now - std::max(p.last_probe, p.last_heard) >= client_paths::kKeepAlive) {
      p.last_probe = now;
      p.probes.assign(1, {p.endpoint, ids_.next()});
      send_probes(peer_key, p, now);
    }
  }
  for (const auto& peer_key : to_relay) use_relay(peer_key, now);
}

std::optional<TimePoint> ClientSession::paths_deadline() const {
  std::optional<TimePoint> t;
  const auto consider = [&t](TimePoint c) {
    if (!t || c < *t) t = c;
  };
  for (const auto& [peer_key, p] : paths_) {
    if (p.relay_after != TimePoint{}) consider(p.relay_after);
    if (p.punch_until != TimePoint{}) {
      consider(std::min(p.punch_until, p.next_probe));
    } else if ((p.kind == PathKind::kLan || p.kind == PathKind::kDirect) &&
               p.last_used + client_paths::kPathInUse >
                   std::max(p.last_probe, p.last_heard) + client_paths::kKeepAlive) {
      consider(std::max(p.last_probe, p.last_heard) + client_paths::kKeepAlive);
    }
  }
  return t;
}

bool ClientSession::behind_nat() const {
  return !public_.address.empty() && !config_.local.address.empty() && public_ != config_.local;
}

bool ClientSession::nat_between(const TableEntry& e) const {
  return behind_nat() || !e.local_address.empty();
}

}  // namespace udpchat
