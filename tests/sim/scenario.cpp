// scenario.cpp: the scenario's random actions, restarts, run and final
// checks (see sim.cpp for the rules checked).
#include "sim/scenario.hpp"

namespace udpchat::sim {

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
  for (auto it = server_restart_.begin(); it != server_restart_.end();) {
    if (it->second <= w_.now) {
      event("restart server " + std::to_string(it->first));
      w_.start_server(it->first);
      it = server_restart_.erase(it);
    } else {
      ++it;
    }
  }
}

void Scenario::random_action(Totals& totals) {
  if (nat_ && uniform() < 0.01) {
    // A NAT router restarts: its mappings are gone (docs/NAT.md).
    const auto k = static_cast<std::size_t>(pick(static_cast<int>(w_.nats.size())));
    event("NAT " + std::to_string(k) + " forgets its mappings");
    w_.nats[k].forget_all();
    ++nat_reboots_;
    return;
  }
  const int i = pick(clients_);
  const std::uint16_t port = port_of(i);
  auto& node = w_.nodes.at(port);
  // What a command will meet is known only if it runs when typed: not while
  // an earlier one (a `list` asking for the count) holds the input.
  const bool runs_now = node.alive && !node.session->input_waiting();
  if (uniform() < 0.12) {
    // The channel and group g: join first, then post to either.
    if (!runs_now || !node.session->registered()) return;
    if (!joined_.contains(port)) {
      w_.type(port, "join g");
      return;
    }
    const bool channel = uniform() < 0.5;
    const std::size_t n = typed_.size();
    Typed t{nick_of(i),
            channel ? "*" : "#g",
            port,
            node.incarnation,
            Outcome::kNone,
            false,
            channel ? Kind::kChannel : Kind::kGroup,
            {},
            {}};
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
    if (!runs_now || !node.session->registered()) return;
    const int j = pick(clients_);
    const std::string to = nick_of(j);
    const auto table = node.session->table();
    const bool known =
        std::any_of(table.begin(), table.end(), [&](const TableEntry& e) { return e.nick == to; });
    if (!known && !interest_) return;  // beyond the full-table limit: a lookup first
    const std::size_t n = typed_.size();
    typed_.push_back({nick_of(i), to, port, node.incarnation, Outcome::kNone, false});
    ++totals.typed;
    w_.type(port, "send " + to + " m" + std::to_string(n));
  } else if (r < 0.66) {
    if (runs_now && node.session->registered()) w_.type(port, "dereg " + nick_of(i));
  } else if (r < 0.74) {
    if (runs_now && !node.session->registered()) w_.type(port, "reg " + nick_of(i));
  } else if (r < 0.80) {
    if (node.alive) {
      event("kill client " + std::to_string(port));
      ++totals.client_crashes;
      note_marked(port);
      w_.kill(port);
      client_restart_[port] = w_.now + between(300ms, 5s);
    }
  } else if (r < 0.82) {
    // In a cluster, a server may stay down past the others' liveness
    // timeout (5 s): they mark its clients offline, which move on.
    const auto k = servers_ > 1 ? static_cast<std::size_t>(pick(static_cast<int>(servers_))) : 0;
    if (w_.servers[k].alive) {
      event("kill server " + std::to_string(k));
      ++totals.server_crashes;
      w_.crash_server(k);
      server_restart_[k] = w_.now + (servers_ > 1 ? between(100ms, 12s) : between(100ms, 3s));
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
      case Outcome::kPeerAck:
        ++totals.peer_acked;
        break;
      case Outcome::kSaved:
        ++totals.saved;
        break;
      case Outcome::kExists:
        ++totals.exists;
        break;
      case Outcome::kRefused:
        ++totals.told_failed;
        break;
      case Outcome::kNone:
        break;
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
  for (const auto& [key, count] : per_port) {
    totals.cross_restart_repeats += static_cast<std::uint64_t>(count - 1);
    if (durable_) totals.durable_repeats += static_cast<std::uint64_t>(count - 1);
  }
  if (durable_) ++totals.durable_seeds;
  // 3. Stored messages delivered.
  for (int i = 0; i < clients_; ++i) {
    if (const auto left = w_.store.count_for(nick_of(i)).value(); left != 0) {
      return std::to_string(left) + " stored messages never delivered to " + nick_of(i);
    }
  }
  // 4. Tables converge; 5. nothing left in flight. In a cluster, each
  // client against the server it uses (cluster_checks: the servers agree).
  for (int i = 0; i < clients_; ++i) {
    auto& node = w_.nodes.at(port_of(i));
    if (!node.alive || !node.session->registered()) {
      return nick_of(i) + " is not registered at the end";
    }
    const ServerCore& server = *server_of(port_of(i)).core;
    const auto table = server.table();
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
    } else if (node.session->table_version() != server.table_version() ||
               node.session->table() != table) {
      std::string differ;
      const auto row = [](const TableEntry& e) {
        return e.nick + "@" + std::to_string(e.port) + (e.online ? "+" : "-") + "v" +
               std::to_string(e.version);
      };
      for (const TableEntry& e : node.session->table()) {
        if (std::find(table.begin(), table.end(), e) == table.end()) differ += " held " + row(e);
      }
      for (const TableEntry& e : table) {
        const auto held = node.session->table();
        if (std::find(held.begin(), held.end(), e) == held.end()) differ += " server " + row(e);
      }
      return nick_of(i) + " holds table version " + std::to_string(node.session->table_version()) +
             ", the server " + std::to_string(server.table_version()) + ";" + differ;
    }
    const auto held = std::find_if(table.begin(), table.end(),
                                   [&](const TableEntry& e) { return e.nick == nick_of(i); });
    if (held == table.end() || !held->online) {
      return nick_of(i) + " believes it is registered but the server holds it offline";
    }
    if (node.session->messages_in_flight() != 0) {
      return nick_of(i) + " still has messages in flight";
    }
    if (node.session->messages_being_taken() != 0) {
      return nick_of(i) + " still writes " + std::to_string(node.session->messages_being_taken()) +
             " messages it took to its store";
    }
  }
  if (auto broken = cluster_checks(); !broken.empty()) return broken;
  totals.store_failures += store_failures_;
  totals.store_batches += w_.store_batches;
  totals.store_commands += w_.store_commands;
  return {};
}

std::string Scenario::cluster_checks() {
  const auto rows = [](const ServerCore& core) {
    std::vector<std::tuple<std::string, std::string, std::uint16_t, bool, std::string>> out;
    for (const TableEntry& e : core.table()) {
      out.emplace_back(e.nick, e.address, e.port, e.online, e.key);
    }
    return out;
  };
  for (std::size_t k = 0; k < servers_; ++k) {
    const ServerCore& core = *w_.servers[k].core;
    if (const auto here = rows(core), first = rows(*w_.servers[0].core); k > 0 && here != first) {
      std::string differ;
      const auto name = [](const auto& r) {
        return std::get<0>(r) + "@" + std::to_string(std::get<2>(r)) + (std::get<3>(r) ? "+" : "-");
      };
      for (const auto& r : here) {
        if (std::find(first.begin(), first.end(), r) == first.end()) differ += " " + name(r);
      }
      differ += "; server 0:";
      for (const auto& r : first) {
        if (std::find(here.begin(), here.end(), r) == here.end()) differ += " " + name(r);
      }
      return "server " + std::to_string(k) + " holds other rows than server 0:" + differ;
    }
    const auto work = core.pending_work();
    if (work.saves != 0 || work.verifications != 0 || work.store_commands != 0 ||
        work.held != 0) {
      return "server " + std::to_string(k) + " still has " + std::to_string(work.saves) +
             " saves, " + std::to_string(work.verifications) + " verifications, " +
             std::to_string(work.store_commands) + " store commands and " +
             std::to_string(work.held) + " held datagrams in progress";
    }
  }
  return {};
}

void Scenario::note_marked(std::uint16_t port) {
  if (!durable_) return;
  const auto disk = w_.client_disks.find(nickname_key(w_.nodes.at(port).config.nick));
  if (disk == w_.client_disks.end()) return;
  for (const auto& [entry, shown] : disk->second.entries) {
    if (!shown || entry.outgoing || !entry.text.starts_with("m")) continue;
    marked_[port].insert(std::stoul(entry.text.substr(1)));
  }
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
  // The handshake worker: half the seeds answer Inits late, as a worker
  // busy with a storm does (Inits resent, sessions replaced meanwhile).
  if (uniform() < 0.5) w_.handshake_latency = between(100us, 400ms);
  // Table sync: a batching window from none to 50 ms; a quarter of the
  // seeds run beyond the full-table limit (interest and lookups).
  const Duration batch = uniform() < 0.3 ? Duration::zero() : between(1ms, 50ms);
  interest_ = uniform() < 0.25;
  w_.configure_server = [batch, interest = interest_](ServerConfig& c) {
    c.table_batch = batch;
    if (interest) c.full_table_limit = 2;
  };
  // manual §4.11: the even seeds' clients keep their own store, whose
  // writes commit 0 to 19 ms after they were issued and are heard 0 to 6 ms
  // later (a kill in between: durable, not shown). Chosen from the seed
  // alone, so the odd seeds run as they always did.
  durable_ = seed_ % 2 == 0;
  // docs/CLUSTER.md: a sixth of the seeds, chosen from the seed alone and
  // none behind NATs, run 2 or 3 servers on one shared database: client i
  // starts at server i mod n and names the others (--cluster); up to half
  // of the commit notifications are lost (the 250 ms poll then reads).
  if ((seed_ / 2) % 3 == 2 && (seed_ / 6) % 2 == 0) {
    servers_ = 2 + (seed_ / 12) % 2;
    notify_loss_ = uniform() * 0.5;
  }
  if (durable_ || servers_ > 1) {
    w_.configure_client = [durable = durable_, n = servers_](ClientConfig& c) {
      if (durable) c.durable_store = true;
      if (n == 1) return;
      const std::size_t i = std::stoul(c.nick.substr(1));  // "c<i>"
      const auto at = [](std::size_t k) {
        return Endpoint{"127.0.0.1", static_cast<std::uint16_t>(9000 + k)};
      };
      c.server = at(i % n);
      c.other_servers.clear();
      for (std::size_t k = 1; k < n; ++k) c.other_servers.push_back(at((i + k) % n));
    };
  }
  if (durable_) {
    w_.client_store_latency = std::chrono::milliseconds((seed_ / 2) % 20);
    w_.client_completion_delay = std::chrono::milliseconds((seed_ / 2) % 7);
  }
  // docs/NAT.md: a third of the seeds put clients behind NAT boxes, chosen
  // from the seed alone (the other seeds run as they always did): clients
  // 0 and 1 behind one port-restricted NAT (the LAN path between them, a
  // punched path to the others), client 2 behind another, symmetric on
  // every other such seed (the relay); mappings live 30 to 120 s.
  nat_ = (seed_ / 2) % 3 == 1;
  if (nat_) {
    const Duration timeout = std::chrono::seconds(30 + static_cast<int>((seed_ / 6) % 91));
    w_.nats.emplace_back("10.0.1.2", "203.0.113.1", false, timeout);
    w_.nats.emplace_back("10.0.2.2", "203.0.113.2", (seed_ / 6) % 2 == 1, timeout);
    w_.behind_nat = {{port_of(0), 0}, {port_of(1), 0}, {port_of(2), 1}};
  }
  if (servers_ > 1) {
    w_.make_cluster(servers_);
    w_.lose_notification = [this] {
      const bool lost = uniform() < notify_loss_;
      lost_notifications_ += lost ? 1 : 0;
      return lost;
    };
  } else {
    w_.crash_server();  // the World started one with the defaults: start it again
    w_.start_server();
  }
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
        std::to_string(delay_) +
        (nat_ ? std::string(", behind NATs") + (w_.nats[1].symmetric() ? " (one symmetric)" : "")
              : std::string()) +
        (servers_ > 1 ? ", " + std::to_string(servers_) + " servers, notifications lost " +
                            std::to_string(notify_loss_)
                      : std::string()));
  for (int i = 0; i < clients_; ++i) w_.start_client(nick_of(i), port_of(i), heartbeat_);

  const TimePoint end = w_.now + between(20s, 60s);
  while (w_.now < end && failure_.empty()) {
    w_.run_for(between(1ms, 800ms));
    restart_due();
    random_action(totals);
    for (int i = 0; servers_ > 1 && i < clients_; ++i) {
      const auto& node = w_.nodes.at(port_of(i));
      if (!node.alive) continue;
      auto [held, fresh] = server_of_.try_emplace(port_of(i), node.session->server());
      if (!fresh && held->second != node.session->server()) {
        ++moves_;
        held->second = node.session->server();
      }
    }
  }
  // Heal: no more faults, everyone back, everyone registered.
  event("heal");
  store_fault_ = 0;
  w_.fault = [this](const Endpoint& from, const Endpoint& to, const Message& m) {
    // Still learn ids, never lose anything.
    learn_ids(from, to, m);
    return Fate{};
  };
  w_.frame_fault = nullptr;
  for (std::size_t k = 0; k < servers_; ++k) {
    if (!w_.servers[k].alive) w_.start_server(k);
  }
  server_restart_.clear();
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
  totals.relayed += relayed_;
  totals.nat_seeds += nat_ ? 1 : 0;
  totals.nat_reboots += nat_reboots_;
  totals.cluster_seeds += servers_ > 1 ? 1 : 0;
  totals.cluster_servers += servers_ > 1 ? servers_ : 0;
  totals.lost_notifications += lost_notifications_;
  totals.moves += moves_;
  totals.net.nat_dropped += w_.net.nat_dropped;
  totals.net.sent += w_.net.sent;
  totals.net.delivered += w_.net.delivered;
  totals.net.dropped += w_.net.dropped;
  totals.net.duplicated += w_.net.duplicated;
  totals.net.delayed += w_.net.delayed;
  if (!failure_.empty()) return failure_;
  return final_checks(totals);
}

}  // namespace udpchat::sim
