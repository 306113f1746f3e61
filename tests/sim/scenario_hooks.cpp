// scenario_hooks.cpp: what the scenario learns from every datagram (ids of
// typed messages, outcomes) and every printed line (what was shown where,
// and the at-most-once and order checks made as it runs).
#include "sim/scenario.hpp"

namespace udpchat::sim {

std::string Scenario::plaintext(const std::string& from, const std::string& to, std::uint64_t mid,
                                const std::string& box) const {
  // Direct messages are sealed end to end (manual §8): the scenario holds
  // every key file, so it opens them as their recipient would.
  const auto sender = w_.client_keys_.find(nickname_key(from));
  const auto recipient = w_.client_keys_.find(nickname_key(to));
  if (sender == w_.client_keys_.end() || recipient == w_.client_keys_.end()) return {};
  const auto keys = crypto::peer_keys(recipient->second, sender->second.public_key);
  if (!keys) return {};
  const auto text = crypto::open_box(
      keys->receive, crypto::as_bytes(e2e_associated_data(from, to, mid)), crypto::as_bytes(box));
  return text ? std::string(text->begin(), text->end()) : std::string();
}

void Scenario::learn_ids(const Endpoint& from, const Endpoint& to, const Message& m) {
  if (const auto* c = std::get_if<Chat>(&m)) {
    const auto node = w_.nodes.find(to.port);
    const std::string text = node == w_.nodes.end()
                                 ? std::string()
                                 : plaintext(c->from, node->second.config.nick, c->id, c->box);
    if (text.starts_with("m")) {
      chat_ids_[{from.port, c->id}] = std::stoul(text.substr(1));
      mids_[{from.port, c->id}] = std::stoul(text.substr(1));  // a chat's id is its mid
    }
  }
  // docs/NAT.md: a direct message relayed live by the server when no
  // direct path opened (lost probes here): the same message id.
  if (const auto* r = std::get_if<Relay>(&m); r != nullptr && w_.is_server(to)) {
    const auto node = w_.nodes.find(from.port);
    const std::string text = node == w_.nodes.end()
                                 ? std::string()
                                 : plaintext(node->second.config.nick, r->peer, r->id, r->box);
    if (text.starts_with("m")) {
      chat_ids_[{from.port, r->id}] = std::stoul(text.substr(1));
      mids_[{from.port, r->id}] = std::stoul(text.substr(1));
      ++relayed_;
    }
  }
  if (const auto* s = std::get_if<Save>(&m)) {
    const std::string text = plaintext(s->from, s->to, s->mid, s->box);
    if (text.starts_with("m")) {
      save_ids_[{from.port, s->id}] = std::stoul(text.substr(1));
      mids_[{from.port, s->mid}] = std::stoul(text.substr(1));
    }
  }
  if (const auto* p = std::get_if<Post>(&m); p != nullptr && p->text.starts_with("m")) {
    post_ids_[{from.port, p->id}] = std::stoul(p->text.substr(1));
  }
}

Fate Scenario::network_fate(const Endpoint& from, const Endpoint& to, const char* what) {
  Fate f;
  const auto cut = [&](std::uint16_t port) {
    const auto it = partitioned_.find(port);
    return it != partitioned_.end() && it->second > w_.now;
  };
  if (cut(from.port) || cut(to.port) || uniform() < drop_) {
    f.drop = true;
    if (trace_)
      event(std::string("lost ") + what + " " + from.to_string() + " -> " + to.to_string());
    return f;
  }
  if (uniform() < dup_) f.copies = 2;
  if (uniform() < delay_) f.extra_delay = between(Duration::zero(), jitter_);
  return f;
}

void Scenario::install_hooks() {
  w_.keep_sent_log = false;
  w_.fault = [this](const Endpoint& from, const Endpoint& to, const Message& m) {
    learn_ids(from, to, m);  // which transport ids carry which typed message
    return network_fate(from, to, kind_of(m));
  };
  // Handshake frames (manual §8) meet the same network.
  w_.frame_fault = [this](const Endpoint& from, const Endpoint& to, std::uint8_t) {
    return network_fate(from, to, "handshake frame");
  };
  w_.on_deliver = [this](const Endpoint& from, const Endpoint& to, const Message& m) {
    if (trace_) {
      std::string extra;
      if (const auto* a = std::get_if<Ack>(&m)) extra = " id " + std::to_string(a->id);
      if (const auto* d = std::get_if<Deliver>(&m)) {
        extra = " id " + std::to_string(d->id) + " " + d->group + " " + d->text;
      }
      event(std::string(kind_of(m)) + " " + from.to_string() + " -> " + to.to_string() + extra);
    }
    // The outcome of a relay after "exists" (its ack may have been lost).
    // The Notice names the message id: of a Chat that went unanswered, or
    // of a Save sent at once because the sender did not hold the
    // recipient's row (seed 9127660: that Save's ack was lost, the Notice
    // was missed, and a later refusal to the same peer was pinned on it).
    if (const auto* n = std::get_if<Notice>(&m); n != nullptr && w_.is_server(from) &&
                                                  n->kind != NoticeKind::kShutdown) {
      if (const auto c = mids_.find({to.port, n->mid}); c != mids_.end()) {
        auto& msg = typed_[c->second];
        if (msg.outcome == Outcome::kNone) msg.outcome = Outcome::kExists;
      } else {
        // Every message the server relays was typed here and seen leaving:
        // an outcome the scenario cannot place is a hole in its books.
        fail("a Notice to " + to.to_string() + " names message id " + std::to_string(n->mid) +
             " that the scenario never saw sent");
      }
    }
    // The peer's ack of a relayed message, passed back by the server.
    if (const auto* ra = std::get_if<RelayAck>(&m); ra != nullptr && w_.is_server(from)) {
      if (const auto c = chat_ids_.find({to.port, ra->id}); c != chat_ids_.end()) {
        auto& msg = typed_[c->second];
        if (msg.outcome == Outcome::kNone) msg.outcome = Outcome::kPeerAck;
      }
      return;
    }
    const auto* a = std::get_if<Ack>(&m);
    if (a == nullptr || w_.is_server(to)) return;
    if (const auto c = chat_ids_.find({to.port, a->id});
        c != chat_ids_.end() && !w_.is_server(from)) {
      auto& msg = typed_[c->second];
      if (msg.outcome == Outcome::kNone) msg.outcome = Outcome::kPeerAck;
    }
    if (const auto p = post_ids_.find({to.port, a->id});
        p != post_ids_.end() && w_.is_server(from)) {
      auto& msg = typed_[p->second];
      if (msg.outcome == Outcome::kNone || msg.outcome == Outcome::kRefused) {
        msg.outcome = a->status == AckStatus::kSaved ? Outcome::kSaved : Outcome::kRefused;
      }
    }
    if (const auto s = save_ids_.find({to.port, a->id});
        s != save_ids_.end() && w_.is_server(from)) {
      auto& msg = typed_[s->second];
      if (msg.outcome == Outcome::kNone || msg.outcome == Outcome::kRefused) {
        msg.outcome = a->status == AckStatus::kSaved    ? Outcome::kSaved
                      : a->status == AckStatus::kExists ? Outcome::kExists
                                                        : Outcome::kRefused;
      }
    }
  };
  w_.on_type = [this](std::uint16_t port, const std::string& line) {
    event("typed at " + std::to_string(port) + ": " + line);
  };
  w_.on_print = [this](std::uint16_t port, const std::string& line) {
    event("printed at " + std::to_string(port) + ": " + line);
    // A lookup found no such nickname (not registered yet): the oldest
    // message without outcome from this process to it was refused.
    // So was one the client says it did not send (the server unreachable
    // while the client was offline by choice, or at quit).
    if (line == ">>> [Welcome, You are registered.]") ever_registered_.insert(port);
    if (line == ">>> [Joined group g.]") joined_.insert(port);
    // "the channel" / "group g" in those lines name a post's target.
    const auto target = [](const std::string& rest) -> std::string {
      if (rest.starts_with("the channel ")) return "*";
      if (rest.starts_with("group ")) return "#" + rest.substr(6, rest.find(' ', 6) - 6);
      return rest.substr(0, rest.find(' '));
    };
    // --max-log-posts: the post's refusal came as its ack (on_deliver).
    if (line.starts_with(">>> [Server could not save the message for ") &&
        line.ends_with(" (the most kept); try again later]")) {
      ++posts_over_quota_;
      return;
    }
    std::string to;
    if (const std::string unknown = ">>> [Unknown client "; line.starts_with(unknown)) {
      to = line.substr(unknown.size(), line.size() - unknown.size() - 2);
    } else if (const std::string lost = ">>> [Server not responding: the message for ";
               line.starts_with(lost)) {
      to = target(line.substr(lost.size()));
    } else if (const std::string nokey = ">>> [Message to ";
               line.starts_with(nokey) && line.ends_with(" not sent: its key is not known.]")) {
      to = target(line.substr(nokey.size()));
    } else if (const std::string held = ">>> [Message for ";
               line.starts_with(held) && line.ends_with(" not sent: server unreachable.]")) {
      to = target(line.substr(held.size()));
    }
    if (!to.empty()) {
      const auto& sender = w_.nodes.at(port);
      for (Typed& t : typed_) {
        if (t.from_port == port && t.incarnation == sender.incarnation && t.to == to &&
            t.outcome == Outcome::kNone) {
          t.outcome = Outcome::kRefused;
          event("refused m" + std::to_string(&t - typed_.data()));
          break;
        }
      }
      return;
    }
    // ">>> <nick>: m<n>" (direct or relayed) or ">>> <nick>: T<ms> m<n>"
    // (stored), each perhaps after "[Channel] " or "[g] ".
    std::string rest = line.starts_with(">>> ") ? line.substr(4) : std::string();
    Kind kind = Kind::kDirect;
    if (rest.starts_with("[Channel] ")) {
      kind = Kind::kChannel;
      rest = rest.substr(10);
    } else if (rest.starts_with("[g] ")) {
      kind = Kind::kGroup;
      rest = rest.substr(4);
    }
    const auto colon = rest.find(": ");
    if (colon == std::string::npos || rest.empty() || rest[0] == '[') return;
    std::string body = rest.substr(colon + 2);
    const std::string sender = rest.substr(0, colon);
    const bool stored = body.starts_with("T");
    if (stored) body = body.substr(body.find(' ') + 1);
    if (!body.starts_with("m")) return;
    const std::size_t n = std::stoul(body.substr(1));
    if (n >= typed_.size()) {
      fail("printed a message nobody typed: " + line);
      return;
    }
    Typed& msg = typed_[n];
    const auto& node = w_.nodes.at(port);
    const bool wrong_place = msg.kind == Kind::kDirect
                                 ? nickname_key(node.config.nick) != nickname_key(msg.to)
                                 : port == msg.from_port;  // never to its sender
    if (wrong_place || sender != msg.from || kind != msg.kind) {
      fail("m" + std::to_string(n) + " from " + msg.from + " to " + msg.to + " shown at " +
           node.config.nick + " as " + line);
    }
    if (marked_[port].contains(n)) {
      fail("m" + std::to_string(n) + " shown again at " + node.config.nick +
           " after a restart, though its store had marked it shown");
    }
    msg.shown_at.insert(port);
    if (++shown_[{port, node.incarnation, n}] > 1) {
      fail("m" + std::to_string(n) + " shown twice by the same process at " + node.config.nick);
    }
    if (!stored) {
      // Live messages from one sender process appear in the order typed.
      auto& last = last_live_[{msg.from_port, msg.incarnation, port, node.incarnation, kind}];
      if (last > n) {
        fail("m" + std::to_string(n) + " shown after m" + std::to_string(last) + " at " +
             node.config.nick + ": out of order");
      }
      last = std::max(last, n);
    }
    msg.shown = true;
  };
}

}  // namespace udpchat::sim
