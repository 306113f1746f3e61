// scenario.cpp: the scenario's random actions, restarts and run (the end
// checks are scenario_checks.cpp's; sim.cpp lists the rules).
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
  // Trimming of the channel and group logs: every 1 to 10 s, concurrent
  // with deliveries, crashes and restarts (a log row trimmed that a member
  // still needed would be a message lost). From the seed alone: the
  // random draws of each seed stay what they were.
  const Duration trim = std::chrono::seconds(1 + seed_ % 10);
  // A quarter of the seeds hold each poster to 1 or 2 untrimmed posts per
  // log (--max-log-posts): refused posts, then room again as the trims
  // go by, across crashes and restarts (the quota read back from the
  // store). Also from the seed alone.
  const std::size_t quota = seed_ % 4 == 1 ? 1 + (seed_ / 4) % 2 : 0;
  w_.configure_server = [batch, interest = interest_, trim, quota](ServerConfig& c) {
    c.table_batch = batch;
    if (interest) c.full_table_limit = 2;
    c.log_trim_interval = trim;
    if (quota > 0) c.max_log_posts = quota;
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
