// server_introduce.cpp: ServerCore's part in NAT traversal (docs/NAT.md):
// a client about to send to a peer asks to be introduced; the server tells
// both, inside their sealed sessions, where the other is (a Punch with its
// row: public and local endpoint, key), and both send probes at once. When
// no direct path opens, the server relays their sealed messages and acks
// live, as a TURN server does (RFC 8656), within a rate per client.
#include "core/server/server_core.hpp"
#include "protocol/text.hpp"

namespace udpchat {

void ServerCore::handle(const Introduce& m, const Endpoint& from, TimePoint now) {
  Client* c = request_from(m.from, from, m.id);
  if (c == nullptr) {
    return;
  }
  const std::string from_key = nickname_key(m.from);
  const std::string to_key = nickname_key(m.to);
  const auto peer = clients_.find(to_key);
  if (peer == clients_.end()) {
    ++stats_.requests["introduce_unknown"];
    reply(from, m.id, Ack{0, AckStatus::kUnknown, 0, {}});
    return;
  }
  // A peer whose session is at another server cannot be sent a punch from
  // here: the client sends without an introduction (docs/CLUSTER.md).
  if (!peer->second.online || peer->second.remote || to_key == from_key) {
    ++stats_.requests["introduce_offline"];
    reply(from, m.id, Ack{0, AckStatus::kOffline, 0, {}});
    return;
  }
  if (!introductions_.allow(from, now)) {
    // Each introduction makes two punches: a client asking in a loop is
    // told so (it then sends without one) instead of making us flood.
    ++stats_.requests["introduce_throttled"];
    reply(from, m.id, Ack{0, AckStatus::kError, 0, "too many introductions; slow down"});
    return;
  }
  ++stats_.requests["introduce"];
  log(LogLevel::kDebug, "introducing " + c->nick + " (" + from.to_string() + ") and " +
                            peer->second.nick + " (" + peer->second.endpoint.to_string() + ")");
  reply(from, m.id, Ack{0, AckStatus::kOk, 0, {}});
  // Each learns where the other is; both send their probes on receipt.
  const std::uint64_t to_requester = ids_.next();
  send_reliable(to_requester, from, Punch{to_requester, row_of(peer->second)}, server_policy(),
                {Purpose::kNotice, from_key, {}, 0}, now);
  const std::uint64_t to_peer = ids_.next();
  send_reliable(to_peer, peer->second.endpoint, Punch{to_peer, row_of(*c)}, server_policy(),
                {Purpose::kNotice, to_key, {}, 0}, now);
}

std::pair<ServerCore::Client*, ServerCore::Client*> ServerCore::relay_ends(std::string_view peer,
                                                                           const Endpoint& from,
                                                                           TimePoint now) {
  const auto sender = online_at_.find(from);
  if (sender == online_at_.end()) {
    drop("relay_not_registered", from);
    return {nullptr, nullptr};
  }
  const auto to = clients_.find(nickname_key(peer));
  if (to == clients_.end() || !to->second.online || to->second.remote ||
      to->first == sender->second) {
    // Dropped: the sender's message waits out its window, then goes to
    // the server's save as any unacknowledged message does.
    drop("relay_peer_offline", from);
    return {nullptr, nullptr};
  }
  if (!relays_.allow(from, now)) {
    drop("relay_rate", from);
    return {nullptr, nullptr};
  }
  return {&clients_.at(sender->second), &to->second};
}

void ServerCore::handle(const Relay& m, const Endpoint& from, TimePoint now) {
  const auto [sender, to] = relay_ends(m.peer, from, now);
  if (sender == nullptr) return;
  std::string bytes = encode(Relay{m.id, sender->nick, m.box});
  ++stats_.requests["relay"];
  ++stats_.relayed;
  stats_.relayed_bytes += bytes.size();
  outgoing_.push_back({to->endpoint, std::move(bytes)});
}

void ServerCore::handle(const RelayAck& m, const Endpoint& from, TimePoint now) {
  const auto [sender, to] = relay_ends(m.peer, from, now);
  if (sender == nullptr) return;
  std::string bytes = encode(RelayAck{m.id, sender->nick, m.tag});
  ++stats_.requests["relay_ack"];
  ++stats_.relayed;
  stats_.relayed_bytes += bytes.size();
  outgoing_.push_back({to->endpoint, std::move(bytes)});
}

}  // namespace udpchat
