// sim.cpp: seeded, deterministic simulation of udpchat under faults.
//
// Each seed builds one scenario from a std::mt19937_64: 3 to 5 clients and
// the server (the real ClientSession and ServerCore, no sockets), a network
// that drops, duplicates, delays (so reorders) and partitions datagrams,
// random user actions (send, dereg, reg, list) and crashes: a client killed
// and restarted on its port, the server killed and restarted on its store.
// Then the network heals, every client registers again, and the checks of
// manual §5 run:
//
//  1. at most once: no process shows a message twice (checked as it runs);
//     a message is shown only at its recipient;
//  2. no loss: every message acknowledged by its peer or accepted by the
//     server ("saved", "exists") is shown at its recipient by the end; a
//     sender still alive has an outcome for every message it typed;
//  3. stored messages are delivered: the store is empty at the end;
//  4. tables converge: every client holds the server's table and version;
//  5. bounded state: nothing is left in flight at the server or the clients.
//
// Usage: udpchat_sim [--seeds N] [--first S]       run seeds S .. S+N-1
//        udpchat_sim --seed S --trace              replay one seed, printing every event
// A failing seed prints itself, the broken rule and the last events.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/text.hpp"
#include "support/world.hpp"

using namespace udpchat;
using namespace udpchat::test;
using namespace std::chrono_literals;

namespace {

struct Totals {
  std::uint64_t seeds = 0, failed = 0;
  std::uint64_t typed = 0, peer_acked = 0, saved = 0, exists = 0, told_failed = 0;
  std::uint64_t sender_died = 0, shown = 0, cross_restart_repeats = 0;
  std::uint64_t posts = 0, post_deliveries = 0;
  std::uint64_t client_crashes = 0, server_crashes = 0, partitions = 0;
  std::uint64_t store_failures = 0, store_batches = 0, store_commands = 0;
  World::NetworkStats net;
};

const char* kind_of(const Message& m) {
  constexpr const char* kNames[] = {"reg", "dereg", "save", "hb", "ack",
                                    "table", "ping", "chat", "deliver", "notice", "lookup", "find", "rows",
                                    "post", "join", "leave", "groups", "grouplist"};
  return kNames[m.index()];
}

class Scenario {
 public:
  Scenario(std::uint64_t seed, bool trace) : seed_(seed), rng_(seed), trace_(trace) {}

  /// Runs the scenario; returns an empty string, or the rule broken.
  std::string run(Totals& totals);
  void print_recent() const {
    for (const auto& e : recent_) std::fprintf(stderr, "  %s\n", e.c_str());
  }

 private:
  enum class Outcome : std::uint8_t { kNone, kPeerAck, kSaved, kExists, kRefused };
  /// What a message was typed as: send, send_all, send_group g.
  enum class Kind : std::uint8_t { kDirect, kChannel, kGroup };
  struct Typed {
    std::string from, to;  ///< to: the peer, "*" (the channel) or "#g" (group g)
    std::uint16_t from_port = 0;
    int incarnation = 0;
    Outcome outcome = Outcome::kNone;
    bool shown = false;
    Kind kind = Kind::kDirect;
    std::set<std::uint16_t> must_show{};  ///< a post: the members when it was typed
    std::set<std::uint16_t> shown_at{};
  };

  double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  Duration between(Duration lo, Duration hi) {
    return Duration(std::uniform_int_distribution<Duration::rep>(lo.count(), hi.count())(rng_));
  }
  std::string t() const {
    return std::to_string(std::chrono::duration_cast<milliseconds>(w_.now - start_).count()) +
           "ms ";
  }
  void event(std::string text) {
    text = t() + text;
    if (trace_) std::printf("%s\n", text.c_str());
    recent_.push_back(std::move(text));
    if (recent_.size() > 400) recent_.pop_front();
  }
  void fail(std::string why) {
    if (failure_.empty()) failure_ = std::move(why);
  }
  std::uint16_t port_of(int i) const { return static_cast<std::uint16_t>(7000 + i); }
  std::string nick_of(int i) const { return "c" + std::to_string(i); }

  void install_hooks();
  void random_action(Totals& totals);
  void restart_due();
  std::string final_checks(Totals& totals);

  std::uint64_t seed_;
  std::mt19937_64 rng_;
  bool trace_;
  World w_;
  TimePoint start_;
  int clients_ = 0;
  double drop_ = 0, dup_ = 0, delay_ = 0;
  double store_fault_ = 0;  ///< share of saves and deletes that fail
  bool interest_ = false;   ///< more clients than the full-table limit
  std::uint64_t store_failures_ = 0;
  Duration jitter_{};
  /// Half the seeds use short heartbeats, half a longer one, so repairs
  /// that must not wait for a heartbeat are seen waiting (manual §6.6 promises
  /// convergence within a heartbeat interval, not sooner).
  Duration heartbeat_ = 5s;
  std::map<std::uint16_t, TimePoint> partitioned_;     // port -> cut off until
  std::map<std::uint16_t, TimePoint> client_restart_;  // port -> restart at
  std::optional<TimePoint> server_restart_;
  std::vector<Typed> typed_;
  std::map<std::pair<std::uint16_t, std::uint64_t>, std::size_t> chat_ids_, save_ids_, post_ids_;
  std::set<std::uint16_t> ever_registered_;  ///< printed the welcome at least once
  std::set<std::uint16_t> joined_;           ///< printed "[Joined group g.]"
  std::map<std::tuple<std::uint16_t, int, std::size_t>, int> shown_;  // (port, incarnation, n)
  std::map<std::tuple<std::uint16_t, int, std::uint16_t, int, Kind>, std::size_t> last_live_;
  std::deque<std::string> recent_;
  std::string failure_;
};

void Scenario::install_hooks() {
  w_.keep_sent_log = false;
  w_.fault = [this](const Endpoint& from, const Endpoint& to, const Message& m) {
    // Learn which transport ids carry which typed message.
    if (const auto* c = std::get_if<Chat>(&m); c != nullptr && c->text.starts_with("m")) {
      chat_ids_[{from.port, c->id}] = std::stoul(c->text.substr(1));
    }
    if (const auto* s = std::get_if<Save>(&m); s != nullptr && s->text.starts_with("m")) {
      save_ids_[{from.port, s->id}] = std::stoul(s->text.substr(1));
    }
    if (const auto* p = std::get_if<Post>(&m); p != nullptr && p->text.starts_with("m")) {
      post_ids_[{from.port, p->id}] = std::stoul(p->text.substr(1));
    }
    Fate f;
    const auto cut = [&](std::uint16_t port) {
      const auto it = partitioned_.find(port);
      return it != partitioned_.end() && it->second > w_.now;
    };
    if (cut(from.port) || cut(to.port) || uniform() < drop_) {
      f.drop = true;
      if (trace_) event(std::string("lost ") + kind_of(m) + " " + from.to_string() + " -> " + to.to_string());
      return f;
    }
    if (uniform() < dup_) f.copies = 2;
    if (uniform() < delay_) f.extra_delay = between(Duration::zero(), jitter_);
    return f;
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
    if (const auto* n = std::get_if<Notice>(&m); n != nullptr && from == w_.server_endpoint) {
      if (const auto c = chat_ids_.find({to.port, n->mid}); c != chat_ids_.end()) {
        auto& msg = typed_[c->second];
        if (msg.outcome == Outcome::kNone) msg.outcome = Outcome::kExists;
      }
    }
    const auto* a = std::get_if<Ack>(&m);
    if (a == nullptr || to == w_.server_endpoint) return;
    if (const auto c = chat_ids_.find({to.port, a->id}); c != chat_ids_.end() && from != w_.server_endpoint) {
      auto& msg = typed_[c->second];
      if (msg.outcome == Outcome::kNone) msg.outcome = Outcome::kPeerAck;
    }
    if (const auto p = post_ids_.find({to.port, a->id}); p != post_ids_.end() && from == w_.server_endpoint) {
      auto& msg = typed_[p->second];
      if (msg.outcome == Outcome::kNone || msg.outcome == Outcome::kRefused) {
        msg.outcome = a->status == AckStatus::kSaved ? Outcome::kSaved : Outcome::kRefused;
      }
    }
    if (const auto s = save_ids_.find({to.port, a->id}); s != save_ids_.end() && from == w_.server_endpoint) {
      auto& msg = typed_[s->second];
      if (msg.outcome == Outcome::kNone || msg.outcome == Outcome::kRefused) {
        msg.outcome = a->status == AckStatus::kSaved    ? Outcome::kSaved
                      : a->status == AckStatus::kExists ? Outcome::kExists
                                                        : Outcome::kRefused;
      }
    }
  };
  w_.on_type = [this](std::uint16_t port, const std::string& line) { event("typed at " + std::to_string(port) + ": " + line); };
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
    std::string to;
    if (const std::string unknown = ">>> [Unknown client "; line.starts_with(unknown)) {
      to = line.substr(unknown.size(), line.size() - unknown.size() - 2);
    } else if (const std::string lost = ">>> [Server not responding: the message for ";
               line.starts_with(lost)) {
      to = target(line.substr(lost.size()));
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

void Scenario::restart_due() {
  for (auto it = client_restart_.begin(); it != client_restart_.end();) {
    if (it->second <= w_.now) {
      event("restart client " + std::to_string(it->first));
      w_.start_client(nick_of(it->first - 7000), it->first, heartbeat_);
      it = client_restart_.erase(it);
    } else {
      ++it;
    }
  }
  if (server_restart_ && *server_restart_ <= w_.now) {
    event("restart server");
    w_.start_server();
    server_restart_.reset();
  }
}

void Scenario::random_action(Totals& totals) {
  const int i = pick(clients_);
  const std::uint16_t port = port_of(i);
  auto& node = w_.nodes.at(port);
  if (uniform() < 0.12) {
    // The channel and group g: join first, then post to either.
    if (!node.alive || !node.session->registered()) return;
    if (!joined_.contains(port)) {
      w_.type(port, "join g");
      return;
    }
    const bool channel = uniform() < 0.5;
    const std::size_t n = typed_.size();
    Typed t{nick_of(i), channel ? "*" : "#g", port, node.incarnation, Outcome::kNone, false,
            channel ? Kind::kChannel : Kind::kGroup, {}, {}};
    for (const std::uint16_t p : channel ? ever_registered_ : joined_) {
      if (p != port) t.must_show.insert(p);
    }
    typed_.push_back(std::move(t));
    ++totals.typed;
    ++totals.posts;
    w_.type(port, (channel ? "send_all m" : "send_group g m") + std::to_string(n));
    return;
  }
  const double r = uniform();
  if (r < 0.6) {
    if (!node.alive || !node.session->registered()) return;
    const int j = pick(clients_);
    const std::string to = nick_of(j);
    const auto table = node.session->table();
    const bool known = std::any_of(table.begin(), table.end(),
                                   [&](const TableEntry& e) { return e.nick == to; });
    if (!known && !interest_) return;  // beyond the full-table limit: a lookup first
    const std::size_t n = typed_.size();
    typed_.push_back({nick_of(i), to, port, node.incarnation, Outcome::kNone, false});
    ++totals.typed;
    w_.type(port, "send " + to + " m" + std::to_string(n));
  } else if (r < 0.66) {
    if (node.alive && node.session->registered()) w_.type(port, "dereg " + nick_of(i));
  } else if (r < 0.74) {
    if (node.alive && !node.session->registered()) w_.type(port, "reg " + nick_of(i));
  } else if (r < 0.80) {
    if (node.alive) {
      event("kill client " + std::to_string(port));
      ++totals.client_crashes;
      w_.kill(port);
      client_restart_[port] = w_.now + between(300ms, 5s);
    }
  } else if (r < 0.82) {
    if (w_.server_alive) {
      event("kill server");
      ++totals.server_crashes;
      w_.crash_server();
      server_restart_ = w_.now + between(100ms, 3s);
    }
  } else if (r < 0.88) {
    event("partition client " + std::to_string(port));
    ++totals.partitions;
    partitioned_[port] = w_.now + between(200ms, 3s);
  } else {
    w_.type(port, "list");
  }
}

std::string Scenario::final_checks(Totals& totals) {
  // 2. No loss.
  for (std::size_t n = 0; n < typed_.size(); ++n) {
    const Typed& m = typed_[n];
    totals.shown += m.shown ? 1 : 0;
    switch (m.outcome) {
      case Outcome::kPeerAck: ++totals.peer_acked; break;
      case Outcome::kSaved: ++totals.saved; break;
      case Outcome::kExists: ++totals.exists; break;
      case Outcome::kRefused: ++totals.told_failed; break;
      case Outcome::kNone: break;
    }
    const bool accepted = m.outcome == Outcome::kPeerAck || m.outcome == Outcome::kSaved ||
                          m.outcome == Outcome::kExists;
    if (accepted && !m.shown && m.kind == Kind::kDirect) {
      return "m" + std::to_string(n) + " from " + m.from + " to " + m.to +
             " was accepted but never shown";
    }
    if (accepted && m.kind != Kind::kDirect) {
      for (const std::uint16_t p : m.must_show) {
        if (!m.shown_at.contains(p)) {
          return "m" + std::to_string(n) + " from " + m.from + " to " + m.to +
                 " was stored but never shown at " + std::to_string(p);
        }
        ++totals.post_deliveries;
      }
    }
    if (m.outcome == Outcome::kNone) {
      const auto& sender = w_.nodes.at(m.from_port);
      if (sender.alive && sender.incarnation == m.incarnation && !m.shown) {
        return "m" + std::to_string(n) + " from " + m.from + " has no outcome and its sender lives";
      }
      ++totals.sender_died;
    }
  }
  // Repeats across restarts of the recipient (a documented limit).
  std::map<std::pair<std::uint16_t, std::size_t>, int> per_port;
  for (const auto& [key, count] : shown_) per_port[{std::get<0>(key), std::get<2>(key)}] += count;
  for (const auto& [key, count] : per_port) totals.cross_restart_repeats += static_cast<std::uint64_t>(count - 1);
  // 3. Stored messages delivered.
  for (int i = 0; i < clients_; ++i) {
    if (const auto left = w_.store.count_for(nick_of(i)).value(); left != 0) {
      return std::to_string(left) + " stored messages never delivered to " + nick_of(i);
    }
  }
  // 4. Tables converge; 5. nothing left in flight.
  const auto table = w_.server->table();
  for (int i = 0; i < clients_; ++i) {
    auto& node = w_.nodes.at(port_of(i));
    if (!node.alive || !node.session->registered()) {
      return nick_of(i) + " is not registered at the end";
    }
    if (interest_) {
      // Interest mode: its own row is current, and no row it holds is newer
      // than the server's (rows looked up before a server restart may be
      // stale: the restarted server does not know that interest).
      for (const TableEntry& held : node.session->table()) {
        const auto srv = std::find_if(table.begin(), table.end(), [&](const TableEntry& e) {
          return nickname_key(e.nick) == nickname_key(held.nick);
        });
        if (srv == table.end() || held.version > srv->version ||
            (held.nick == nick_of(i) && held != *srv)) {
          return nick_of(i) + " holds a row of " + held.nick + " the server does not (version " +
                 std::to_string(held.version) + ")";
        }
      }
    } else if (node.session->table_version() != w_.server->table_version() ||
               node.session->table() != table) {
      return nick_of(i) + " holds table version " + std::to_string(node.session->table_version()) +
             ", the server " + std::to_string(w_.server->table_version());
    }
    const auto held = std::find_if(table.begin(), table.end(),
                                   [&](const TableEntry& e) { return e.nick == nick_of(i); });
    if (held == table.end() || !held->online) {
      return nick_of(i) + " believes it is registered but the server holds it offline";
    }
    if (node.session->messages_in_flight() != 0) {
      return nick_of(i) + " still has messages in flight";
    }
  }
  const auto work = w_.server->pending_work();
  if (work.saves != 0 || work.verifications != 0 || work.store_commands != 0 || work.held != 0) {
    return "the server still has " + std::to_string(work.saves) + " saves, " +
           std::to_string(work.verifications) + " verifications, " +
           std::to_string(work.store_commands) + " store commands and " +
           std::to_string(work.held) + " held datagrams in progress";
  }
  totals.store_failures += store_failures_;
  totals.store_batches += w_.store_batches;
  totals.store_commands += w_.store_commands;
  return {};
}

std::string Scenario::run(Totals& totals) {
  start_ = w_.now;
  clients_ = 3 + pick(3);
  drop_ = uniform() * 0.25;
  dup_ = uniform() * 0.1;
  delay_ = uniform() * 0.3;
  jitter_ = between(1ms, 120ms);
  heartbeat_ = uniform() < 0.5 ? Duration(5s) : Duration(60s);
  w_.latency = between(100us, 20ms);
  // The store writer: most seeds commit in groups that take a while, and
  // hear of it later still; some fail a share of saves and deletes.
  if (uniform() < 0.7) {
    w_.store_latency = between(Duration::zero(), 30ms);
    w_.completion_delay = between(Duration::zero(), 5ms);
  }
  store_fault_ = uniform() < 0.2 ? uniform() * 0.1 : 0.0;
  // Table sync: a batching window from none to 50 ms; a quarter of the
  // seeds run beyond the full-table limit (interest and lookups).
  const Duration batch = uniform() < 0.3 ? Duration::zero() : between(1ms, 50ms);
  interest_ = uniform() < 0.25;
  w_.configure_server = [batch, interest = interest_](ServerConfig& c) {
    c.table_batch = batch;
    if (interest) c.full_table_limit = 2;
  };
  w_.crash_server();  // the World started one with the defaults: start it again
  w_.start_server();
  w_.store.fault = [this](std::string_view op) {
    const bool fail = (op == "save" || op == "delete") && uniform() < store_fault_;
    if (fail) {
      ++store_failures_;
      event(std::string("store: ") + std::string(op) + " fails");
    }
    return fail;
  };
  install_hooks();
  event("seed " + std::to_string(seed_) + ": " + std::to_string(clients_) + " clients, drop " +
        std::to_string(drop_) + ", duplicate " + std::to_string(dup_) + ", delay " +
        std::to_string(delay_));
  for (int i = 0; i < clients_; ++i) w_.start_client(nick_of(i), port_of(i), heartbeat_);

  const TimePoint end = w_.now + between(20s, 60s);
  while (w_.now < end && failure_.empty()) {
    w_.run_for(between(1ms, 800ms));
    restart_due();
    random_action(totals);
  }
  // Heal: no more faults, everyone back, everyone registered.
  event("heal");
  store_fault_ = 0;
  w_.fault = [this](const Endpoint& from, const Endpoint& to, const Message& m) {
    // Still learn ids, never lose anything.
    if (const auto* c = std::get_if<Chat>(&m); c != nullptr && c->text.starts_with("m")) {
      chat_ids_[{from.port, c->id}] = std::stoul(c->text.substr(1));
    }
    if (const auto* s = std::get_if<Save>(&m); s != nullptr && s->text.starts_with("m")) {
      save_ids_[{from.port, s->id}] = std::stoul(s->text.substr(1));
    }
    if (const auto* p = std::get_if<Post>(&m); p != nullptr && p->text.starts_with("m")) {
      post_ids_[{from.port, p->id}] = std::stoul(p->text.substr(1));
    }
    (void)to;
    return Fate{};
  };
  if (!w_.server_alive) w_.start_server();
  server_restart_.reset();
  for (int i = 0; i < clients_; ++i) {
    if (!w_.nodes.at(port_of(i)).alive) w_.start_client(nick_of(i), port_of(i), heartbeat_);
  }
  client_restart_.clear();
  for (int round = 0; round < 3 && failure_.empty(); ++round) {
    w_.run_for(10s);
    for (int i = 0; i < clients_; ++i) {
      auto& node = w_.nodes.at(port_of(i));
      if (!node.alive) w_.start_client(nick_of(i), port_of(i), heartbeat_);
      // A client reconnecting registers again by itself: nobody types.
      else if (!node.session->registered() && !node.session->reconnecting()) {
        w_.type(port_of(i), "reg " + nick_of(i));
      }
    }
  }
  // Settle: three heartbeat intervals (manual §6.6's repair) and a minute more
  // (the server's backoff notices).
  w_.run_for(heartbeat_ * 3 + 60s);
  totals.net.sent += w_.net.sent;
  totals.net.delivered += w_.net.delivered;
  totals.net.dropped += w_.net.dropped;
  totals.net.duplicated += w_.net.duplicated;
  totals.net.delayed += w_.net.delayed;
  if (!failure_.empty()) return failure_;
  return final_checks(totals);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t first = 1, count = 1000;
  bool trace = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::uint64_t {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "udpchat_sim: %s needs a number\n", a.c_str());
        std::exit(2);
      }
      return std::strtoull(argv[++i], nullptr, 10);
    };
    if (a == "--seeds") count = value();
    else if (a == "--first") first = value();
    else if (a == "--seed") { first = value(); count = 1; }
    else if (a == "--trace") trace = true;
    else {
      std::fprintf(stderr, "usage: udpchat_sim [--seeds N] [--first S] | --seed S [--trace]\n");
      return 2;
    }
  }
  Totals totals;
  const auto started = std::chrono::steady_clock::now();
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    Scenario s(seed, trace);
    const std::string failure = s.run(totals);
    ++totals.seeds;
    if (!failure.empty()) {
      ++totals.failed;
      std::fprintf(stderr, "FAIL seed %llu: %s\n  replay: udpchat_sim --seed %llu --trace\n  last events:\n",
                   static_cast<unsigned long long>(seed), failure.c_str(), static_cast<unsigned long long>(seed));
      s.print_recent();
      if (totals.failed >= 5) break;
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("simulation: %llu seeds in %.1f s (seeds %llu..%llu)\n",
              static_cast<unsigned long long>(totals.seeds), secs, static_cast<unsigned long long>(first),
              static_cast<unsigned long long>(first + count - 1));
  std::printf("simulation: messages typed %llu: acked by the peer %llu, saved %llu, relayed after 'exists' %llu, refused %llu, sender killed first %llu; shown %llu; shown again after a restart of the recipient %llu\n",
              static_cast<unsigned long long>(totals.typed), static_cast<unsigned long long>(totals.peer_acked),
              static_cast<unsigned long long>(totals.saved), static_cast<unsigned long long>(totals.exists),
              static_cast<unsigned long long>(totals.told_failed), static_cast<unsigned long long>(totals.sender_died),
              static_cast<unsigned long long>(totals.shown), static_cast<unsigned long long>(totals.cross_restart_repeats));
  std::printf("simulation: channel and group messages typed %llu; deliveries checked at their members %llu\n",
              static_cast<unsigned long long>(totals.posts),
              static_cast<unsigned long long>(totals.post_deliveries));
  std::printf("simulation: datagrams sent %llu, delivered %llu, dropped %llu, duplicated %llu, delayed (reordered) %llu\n",
              static_cast<unsigned long long>(totals.net.sent), static_cast<unsigned long long>(totals.net.delivered),
              static_cast<unsigned long long>(totals.net.dropped), static_cast<unsigned long long>(totals.net.duplicated),
              static_cast<unsigned long long>(totals.net.delayed));
  std::printf("simulation: faults: client crashes %llu, server crashes %llu, partitions %llu\n",
              static_cast<unsigned long long>(totals.client_crashes), static_cast<unsigned long long>(totals.server_crashes),
              static_cast<unsigned long long>(totals.partitions));
  std::printf("simulation: store: %llu commands in %llu group commits, %llu writes failed\n",
              static_cast<unsigned long long>(totals.store_commands),
              static_cast<unsigned long long>(totals.store_batches),
              static_cast<unsigned long long>(totals.store_failures));
  std::printf("seeds: %llu passed, %llu failed\n", static_cast<unsigned long long>(totals.seeds - totals.failed),
              static_cast<unsigned long long>(totals.failed));
  return totals.failed == 0 ? 0 : 1;
}
