// world.cpp: the machinery of the in-memory network (world.hpp): processes
// started and crashed, datagrams posted through the fault hooks and
// delivered, the store writers and the handshake worker stepped in time.
#include "support/world.hpp"

namespace udpchat::test {

void World::start_server(std::size_t i) {
  ServerProcess& s = servers.at(i);
  if (s.store == nullptr) s.store = &store;
  ServerConfig config;
  config.ack_timeout = ack_timeout;
  config.retries = retries;
  config.wall_clock_ms = [this] { return wall_ms(); };
  if (configure_server) configure_server(config);
  if (cluster) {
    config.server_id = s.id;
    config.store_numbers = true;
  }
  s.core = std::make_unique<ServerCore>(config, next_seed());
  GateConfig gate;
  gate.max_sessions = 2 * config.max_clients + 1024;
  s.secure = std::make_unique<SecureServer>(*s.core, server_key_, gate,
                                            crypto::seeded_random(next_seed()));
  s.secure->gate().on_seal = [this](std::string_view frame, std::string_view plain) {
    sealed_plain_[std::string(frame)] = std::string(plain);
  };
  s.handshake_random = crypto::seeded_random(next_seed());
  s.core->start(*s.store->load(), now);
  s.alive = true;
  if (cluster) s.poll_at = now + poll_every;
  collect();
}

void World::crash_server(std::size_t i) {
  ServerProcess& s = servers.at(i);
  s.secure.reset();
  s.core.reset();
  s.alive = false;
  s.queue.clear();
  s.committing.clear();
  s.commit_at.reset();
  s.heard.clear();
  s.poll_at.reset();
  s.handshakes.clear();
}

void World::make_cluster(std::size_t n) {
  for (std::size_t i = 0; i < servers.size(); ++i) crash_server(i);
  cluster = std::make_unique<SharedDatabase>(memory, [this] { return now; });
  cluster->on_commit = [this](const std::string& origin) {
    for (ServerProcess& s : servers) {
      if (!s.alive || s.id == origin || (lose_notification && lose_notification())) continue;
      const TimePoint at = now + notify_latency;
      if (!s.poll_at || at < *s.poll_at) s.poll_at = at;
    }
  };
  while (servers.size() < n) servers.emplace_back();
  for (std::size_t i = 0; i < n; ++i) {
    ServerProcess& s = servers[i];
    s.id = "s" + std::to_string(i);
    s.endpoint = Endpoint{"127.0.0.1", static_cast<std::uint16_t>(9000 + i)};
    FaultyStore& faulty = cluster_stores.emplace_back(cluster_nodes.emplace_back(*cluster, s.id));
    faulty.fault = [this](std::string_view op) { return store.fault && store.fault(op); };
    s.store = &faulty;
  }
  for (std::size_t i = 0; i < n; ++i) start_server(i);
}

World::Node& World::start_client(const std::string& nick, std::uint16_t port, Duration heartbeat) {
  Node& n = nodes[port];
  n.lines.clear();  // a new process: a new screen
  ++n.incarnation;
  n.endpoint = Endpoint{"127.0.0.1", port};
  if (const auto b = behind_nat.find(port); b != behind_nat.end()) {
    n.endpoint.address = nats.at(b->second).private_address();
    n.config.local = n.endpoint;  // what the shell finds as its own address
  }
  n.config.nick = nick;
  n.config.server = server_endpoint;
  n.config.ack_timeout = ack_timeout;
  n.config.server_retries = retries;
  n.config.heartbeat = heartbeat;
  n.config.format_time = [](std::int64_t ms) { return "T" + std::to_string(ms); };
  if (configure_client) configure_client(n.config);
  if (n.config.durable_store) n.config.unshown = client_disks[nickname_key(nick)].unshown();
  // Its key file: one key per nickname, kept across restarts.
  const std::string nick_key = nickname_key(nick);
  if (!client_keys_.contains(nick_key)) {
    client_keys_.emplace(nick_key, crypto::generate_keypair(crypto::seeded_random(next_seed())));
  }
  SecurityConfig security;
  security.key = client_keys_.at(nick_key);
  // Its known_servers: the server's key as it was at its first start.
  security.pinned = known_servers_.try_emplace(nick_key, server_key_.public_key).first->second;
  security.known_servers = "known_servers";
  security.random = crypto::seeded_random(next_seed());
  security.clock_ns = [this] { return static_cast<std::uint64_t>(wall_ms()) * 1'000'000ULL; };
  n.secure = std::make_unique<SecureClient>(n.config, next_seed(), std::move(security));
  n.secure->link().on_seal = [this](std::string_view frame, std::string_view plain) {
    sealed_plain_[std::string(frame)] = std::string(plain);
  };
  n.session = &n.secure->session();
  n.alive = true;
  n.secure->start(now);
  collect();
  return n;
}

bool World::run_until(const std::function<bool()>& done, Duration limit) {
  const TimePoint end = now + limit;
  while (!done()) {
    std::optional<TimePoint> t;
    const auto consider = [&t](std::optional<TimePoint> c) {
      if (c && (!t || *c < *t)) t = c;
    };
    if (!wire_.empty()) consider(wire_.begin()->first);
    if (!client_writes_.empty()) consider(client_writes_.begin()->first);
    for (const ServerProcess& s : servers) {
      consider(s.commit_at);
      if (!s.heard.empty()) consider(s.heard.begin()->first);
      if (!s.handshakes.empty()) consider(s.handshakes.begin()->first);
      if (s.alive) {
        consider(s.secure->next_deadline());
        consider(s.poll_at);
      }
    }
    for (auto& [port, n] : nodes) {
      if (n.alive) consider(n.session->next_deadline());
    }
    if (!t || *t > end) {
      now = end;
      return done();
    }
    now = std::max(now, *t);
    step();
  }
  return true;
}

void World::post(const Endpoint& from, Outgoing out) {
  // The plaintext of a Sealed frame, as its sender sealed it.
  std::string plain = out.bytes;
  bool handshake = false;
  if (looks_like_frame(out.bytes)) {
    const auto it = sealed_plain_.find(out.bytes);
    if (it != sealed_plain_.end()) {
      plain = std::move(it->second);
      sealed_plain_.erase(it);
    } else {
      handshake = true;
    }
  }
  if (keep_sent_log) sent_log.emplace_back(out.to, plain);
  ++net.sent;
  Fate fate;
  if (handshake) {
    if (frame_fault) {
      fate = frame_fault(from, out.to, static_cast<std::uint8_t>(out.bytes.front()));
    }
  } else if (fault) {
    auto m = decode(plain);
    if (m) fate = fault(from, out.to, *m);
  }
  if (fate.drop) {
    ++net.dropped;
    return;
  }
  net.duplicated += static_cast<std::uint64_t>(std::max(0, fate.copies - 1));
  net.delayed += fate.extra_delay > Duration::zero() ? 1 : 0;
  // Out through the sender's NAT box, unless to its own LAN.
  Endpoint source = from;
  if (const auto b = behind_nat.find(from.port);
      b != behind_nat.end() && from.address == nats.at(b->second).private_address()) {
    NatBox& box = nats.at(b->second);
    if (out.to.address == box.public_address()) {
      ++net.nat_dropped;  // no hairpinning
      return;
    }
    if (out.to.address != box.private_address()) source = box.outbound(from, out.to, now);
  }
  for (int i = 0; i < fate.copies; ++i) {
    wire_.emplace(now + latency + fate.extra_delay, InFlight{source, out.to, out.bytes, plain});
  }
}

void World::collect_server(ServerProcess& s) {
  while (s.alive) {
    for (auto& o : s.secure->take_outgoing(now)) post(s.endpoint, std::move(o));
    s.core->take_logs();
    // Password jobs run at once, at the least cost (the shell's worker
    // thread takes ~0.1 s each; here the order of events is what matters).
    if (auto jobs = s.core->take_password_jobs(); !jobs.empty()) {
      password_jobs += jobs.size();
      for (const auto& j : jobs) {
        s.core->on_password_done(run_password_job(j, crypto::minimal_cost()), now);
      }
      continue;
    }
    for (auto& j : s.secure->take_handshake_jobs()) {
      s.handshakes.emplace(now + handshake_latency, std::move(j));
    }
    for (auto& c : s.core->take_store_commands()) s.queue.push_back(std::move(c));
    if (store_latency != Duration::zero() || completion_delay != Duration::zero()) {
      start_batch(s);
      break;
    }
    if (s.queue.empty()) break;
    // A writer with no latency: commit now, complete now (the others'
    // changes read at its begin first).
    const std::vector<StoreCommand> batch(s.queue.begin(), s.queue.end());
    s.queue.clear();
    ++store_batches;
    store_commands += batch.size();
    const auto done = apply_batch(*s.store, batch);
    count_trims(batch, done);
    if (auto changes = s.store->take_changes(); !changes.empty()) {
      s.core->on_changes(changes, now);
    }
    for (const auto& c : done) s.core->on_store_completion(c, now);
  }
}

void World::collect() {
  for (ServerProcess& s : servers) collect_server(s);
  for (auto& [port, n] : nodes) {
    if (!n.alive) continue;
    for (auto& o : n.secure->take_outgoing(now)) post(n.endpoint, std::move(o));
    for (auto& l : n.session->take_lines()) {
      if (on_print) on_print(port, l);
      n.lines.push_back(std::move(l));
    }
    n.session->take_logs();
    n.session->take_new_pins();
    if (auto commands = n.session->take_store_commands(); !commands.empty()) {
      client_writes_.emplace(now + client_store_latency,
                             ClientWrite{port, n.incarnation, std::move(commands), {}, false});
    }
    if (n.session->exit_status()) n.alive = false;  // the process ended
  }
}

void World::deliver(InFlight d) {
  // In through the recipient's NAT box, if it is addressed to one.
  for (NatBox& box : nats) {
    if (d.to.address != box.public_address()) continue;
    const auto inside = box.inbound(d.to, d.from, now);
    if (!inside) {
      ++net.nat_dropped;
      return;
    }
    d.to = *inside;
    break;
  }
  const auto observe = [&] {
    ++net.delivered;
    if (on_deliver) {
      if (auto m = decode(d.plaintext)) on_deliver(d.from, d.to, *m);
    }
  };
  if (ServerProcess* s = server_at(d.to)) {
    if (s->alive) {
      observe();
      s->secure->offload_handshakes(handshake_latency != Duration::zero());
      s->secure->on_datagram(d.bytes, d.from, now);
    }
    return;
  }
  if (auto it = nodes.find(d.to.port);
      it != nodes.end() && it->second.alive && it->second.endpoint == d.to) {
    observe();
    it->second.secure->on_datagram(d.bytes, d.from, now);
  }
}

void World::start_batch(ServerProcess& s) {
  if (s.commit_at || s.queue.empty()) return;
  s.committing.assign(s.queue.begin(), s.queue.end());
  s.queue.clear();
  s.commit_at = now + store_latency;
}

void World::step_store(ServerProcess& s) {
  if (s.commit_at && *s.commit_at <= now) {
    ++store_batches;
    store_commands += s.committing.size();
    auto done = apply_batch(*s.store, s.committing);
    count_trims(s.committing, done);
    // The writer hands the others' changes over before its completions.
    if (auto changes = s.store->take_changes(); !changes.empty()) {
      s.heard.emplace(now + completion_delay, std::move(changes));
    }
    for (auto& c : done) s.heard.emplace(now + completion_delay, std::move(c));
    s.committing.clear();
    s.commit_at.reset();
    start_batch(s);
  }
  while (s.alive && !s.heard.empty() && s.heard.begin()->first <= now) {
    auto event = std::move(s.heard.begin()->second);
    s.heard.erase(s.heard.begin());
    if (auto* changes = std::get_if<std::vector<ClusterChange>>(&event)) {
      s.core->on_changes(*changes, now);
    } else {
      s.core->on_store_completion(std::get<StoreCompletion>(event), now);
    }
    collect();
  }
}

void World::step_poll(ServerProcess& s) {
  if (!s.alive || !s.poll_at || *s.poll_at > now) return;
  s.poll_at = now + poll_every;
  if (s.commit_at) return;  // its writer is busy: the batch reads them at its begin
  (void)s.store->poll_changes();
  if (auto changes = s.store->take_changes(); !changes.empty()) {
    s.heard.emplace(now + completion_delay, std::move(changes));
  }
}

void World::step_handshakes(ServerProcess& s) {
  while (s.alive && !s.handshakes.empty() && s.handshakes.begin()->first <= now) {
    const HandshakeJob job = std::move(s.handshakes.begin()->second);
    s.handshakes.erase(s.handshakes.begin());
    s.secure->on_handshake_done(
        run_handshake_job(job, s.secure->gate().handshake_keys(), s.handshake_random), now);
    collect();
  }
}

void World::step_client_stores() {
  while (!client_writes_.empty() && client_writes_.begin()->first <= now) {
    auto node = client_writes_.extract(client_writes_.begin());
    ClientWrite& w = node.mapped();
    auto it = nodes.find(w.port);
    if (it == nodes.end() || !it->second.alive || it->second.incarnation != w.incarnation) {
      continue;  // its process is gone
    }
    if (!w.committed) {
      w.done = client_disks[nickname_key(it->second.config.nick)].apply(w.commands);
      w.committed = true;
      node.key() = now + client_completion_delay;
      client_writes_.insert(std::move(node));
      continue;
    }
    it->second.session->on_store_completion(w.done, now);
    collect();
  }
}

void World::step() {
  step_client_stores();
  for (ServerProcess& s : servers) {
    step_poll(s);
    step_store(s);
    step_handshakes(s);
  }
  // Deliver every datagram due now, then fire every deadline due now.
  while (!wire_.empty() && wire_.begin()->first <= now) {
    InFlight d = std::move(wire_.begin()->second);
    wire_.erase(wire_.begin());
    deliver(std::move(d));
    collect();
  }
  for (ServerProcess& s : servers) {
    if (!s.alive) continue;
    if (auto t = s.secure->next_deadline(); t && *t <= now) s.secure->on_timeout(now);
  }
  for (auto& [port, n] : nodes) {
    if (!n.alive) continue;
    if (auto t = n.secure->next_deadline(); t && *t <= now) n.secure->on_timeout(now);
  }
  collect();
}

}  // namespace udpchat::test
