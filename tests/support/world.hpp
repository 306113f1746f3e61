// world.hpp: a deterministic in-memory network for the sans-I/O state
// machines: one ServerCore over a MemoryStore, any number of ClientSessions,
// a fake clock, and datagrams that take `latency` to arrive and can be
// dropped, duplicated or delayed by a test's fault hook. The server's store
// writer is modelled too: commands queue, a batch commits `store_latency`
// after it started (group commit: what queues meanwhile is the next batch),
// its completions reach the server `completion_delay` later, and any write
// can be failed by `store.fault`. A server crash loses what was not
// committed, and the completions of what was committed but not yet heard
// (a crash between commit and ack). With both delays zero the writer
// commits at once, inside the event that issued the commands.
//
// A client whose config has `durable_store` has a client store too (manual
// §4.11): one MemoryClientStore "disk" per nickname, kept across its kills
// like its key file. Its batches commit `client_store_latency` after they
// were issued and are heard `client_completion_delay` later; a kill loses
// what was not committed and the completions not yet heard (a crash
// between durable and shown). A restarted client gets its disk's unshown
// messages, as the shell gives them.
//
// Every process talks to the server through the secure session layer of
// manual §9, as the real shells do (SecureServer, SecureClient): keys, the
// handshake, sealed datagrams and their replay windows. Keys come from
// seeded sources: one seed, one run. A client keeps its key across restarts
// (the key file), the server its own (server.key); the fault hook still
// sees every message as its plaintext, handshake frames go through
// `frame_fault`.
//
// Nothing here touches a socket or the real clock, so a scenario runs in
// microseconds and the same inputs always give the same outputs. Used by the
// flow tests (tests/unit/test_flows.cpp) and the seeded simulation
// (tests/sim/).
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/client/client_session.hpp"
#include "core/client/secure_client.hpp"
#include "core/server/secure_server.hpp"
#include "core/server/server_core.hpp"
#include "core/server/store_ops.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"
#include "support/store_driver.hpp"

namespace udpchat::test {

/// What the fault hook decides for one datagram.
struct Fate {
  bool drop = false;
  int copies = 1;          ///< > 1: duplicated
  Duration extra_delay{};  ///< added to the world's latency (reorders)
};

class World {
 public:
  struct Node {
    std::unique_ptr<SecureClient> secure;
    ClientSession* session = nullptr;  ///< secure->session() while alive
    Endpoint endpoint;
    ClientConfig config;
    std::vector<std::string> lines;  ///< what the current process printed, in order
    bool alive = false;
    int incarnation = 0;  ///< how many processes were started on this port
  };

  /// Figures of what the network did.
  struct NetworkStats {
    std::uint64_t sent = 0, delivered = 0, dropped = 0, duplicated = 0, delayed = 0;
  };

  World() { start_server(); }
  /// A world whose server is configured by `configure` from the start.
  explicit World(std::function<void(ServerConfig&)> configure)
      : configure_server(std::move(configure)) {
    start_server();
  }

  // --- the server ---------------------------------------------------------------
  void start_server() {
    ServerConfig config;
    config.ack_timeout = ack_timeout;
    config.retries = retries;
    config.wall_clock_ms = [this] { return wall_ms(); };
    if (configure_server) configure_server(config);
    server = std::make_unique<ServerCore>(config, next_seed());
    GateConfig gate;
    gate.max_sessions = 2 * config.max_clients + 1024;
    secure_server = std::make_unique<SecureServer>(*server, server_key_, gate,
                                                   crypto::seeded_random(next_seed()));
    secure_server->gate().on_seal = [this](std::string_view frame, std::string_view plain) {
      sealed_plain_[std::string(frame)] = std::string(plain);
    };
    handshake_random_ = crypto::seeded_random(next_seed());
    server->start(*memory.load(), now);
    server_alive = true;
    collect();
  }
  /// The server process dies: its memory is gone, its store stays with
  /// what was committed.
  void crash_server() {
    secure_server.reset();
    server.reset();
    server_alive = false;
    store_queue_.clear();
    committing_.clear();
    commit_at_.reset();
    completions_.clear();
    handshakes_.clear();
  }

  // --- clients ------------------------------------------------------------------
  /// Starts a client process `nick` on 127.0.0.1:`port` (registers).
  Node& start_client(const std::string& nick, std::uint16_t port,
                     Duration heartbeat = std::chrono::seconds(30)) {
    Node& n = nodes[port];
    n.lines.clear();  // a new process: a new screen
    ++n.incarnation;
    n.endpoint = Endpoint{"127.0.0.1", port};
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
  /// SIGKILL: the process is gone; datagrams to it vanish.
  void kill(std::uint16_t port) {
    std::erase_if(client_writes_, [port](const auto& w) { return w.second.port == port; });
    nodes.at(port).alive = false;
    nodes.at(port).session = nullptr;
    nodes.at(port).secure.reset();
  }
  void type(std::uint16_t port, const std::string& line) {
    if (!nodes.at(port).alive) return;
    if (on_type) on_type(port, line);
    nodes.at(port).secure->on_line(line, now);
    collect();
  }
  void end_input(std::uint16_t port) {
    if (!nodes.at(port).alive) return;
    nodes.at(port).secure->on_quit(now);
    collect();
  }
  std::vector<std::string>& lines(std::uint16_t port) { return nodes.at(port).lines; }
  ClientSession& session(std::uint16_t port) { return *nodes.at(port).session; }

  /// Number of printed lines at `port` equal to `line`.
  std::size_t count(std::uint16_t port, const std::string& line) {
    const auto& l = nodes.at(port).lines;
    return static_cast<std::size_t>(std::count(l.begin(), l.end(), line));
  }
  bool printed(std::uint16_t port, const std::string& line) { return count(port, line) > 0; }

  // --- time -----------------------------------------------------------------------
  /// Runs every event due up to now + `d`.
  void run_for(Duration d) {
    run_until([] { return false; }, d);
  }

  /// Runs events until `done()` holds (checked after each event) or `limit`
  /// passed. Returns whether `done()` held.
  bool run_until(const std::function<bool()>& done, Duration limit = std::chrono::seconds(30)) {
    const TimePoint end = now + limit;
    while (!done()) {
      std::optional<TimePoint> t;
      const auto consider = [&t](std::optional<TimePoint> c) {
        if (c && (!t || *c < *t)) t = c;
      };
      if (!wire_.empty()) consider(wire_.begin()->first);
      consider(commit_at_);
      if (!completions_.empty()) consider(completions_.begin()->first);
      if (!client_writes_.empty()) consider(client_writes_.begin()->first);
      if (!handshakes_.empty()) consider(handshakes_.begin()->first);
      if (server_alive) consider(secure_server->next_deadline());
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

  // --- configuration and observation ----------------------------------------------
  std::function<Fate(const Endpoint& from, const Endpoint& to, const Message& m)> fault;
  /// The fate of a handshake frame (Hello, Retry, Init, Accept, Reset),
  /// which carries no message; unset: delivered. `frame_type` is its first
  /// byte (FrameType, frames.hpp).
  std::function<Fate(const Endpoint& from, const Endpoint& to, std::uint8_t frame_type)>
      frame_fault;
  /// Adjust the configuration of servers and clients started from now on.
  std::function<void(ServerConfig&)> configure_server;
  std::function<void(ClientConfig&)> configure_client;
  /// Observers (all optional): a datagram handed to a live process, a line
  /// printed, a line typed.
  std::function<void(const Endpoint& from, const Endpoint& to, const Message& m)> on_deliver;
  std::function<void(std::uint16_t port, const std::string& line)> on_print;
  std::function<void(std::uint16_t port, const std::string& line)> on_type;
  std::vector<std::pair<Endpoint, std::string>> sent_log;  ///< every datagram sent
  bool keep_sent_log = true;
  NetworkStats net;

  TimePoint now = TimePoint{} + std::chrono::hours(1);
  Duration latency = std::chrono::milliseconds(1);
  Duration ack_timeout = std::chrono::milliseconds(500);
  int retries = 5;
  Endpoint server_endpoint{"127.0.0.1", 9000};
  MemoryStore memory;           ///< what is durable
  FaultyStore store{memory};    ///< the server's store; `store.fault` fails writes
  Duration store_latency{};     ///< time a batch takes to commit
  Duration completion_delay{};  ///< from commit to the server hearing of it
  /// Time the server's handshake worker takes to answer an Init (zero: the
  /// gate answers at once; else its jobs complete this much later, in order).
  Duration handshake_latency{};
  std::uint64_t store_batches = 0, store_commands = 0;
  Duration client_store_latency{};     ///< a client store batch: issued to committed
  Duration client_completion_delay{};  ///< committed to heard by its client
  /// The client stores' disks, by nickname key: what is durable.
  std::map<std::string, MemoryClientStore> client_disks;
  std::uint64_t password_jobs = 0;  ///< Argon2id jobs the server issued
  std::unique_ptr<ServerCore> server;
  std::unique_ptr<SecureServer> secure_server;  ///< the server's session layer
  bool server_alive = false;
  std::map<std::uint16_t, Node> nodes;

  std::int64_t wall_ms() const {
    return 1'700'000'000'000 +
           std::chrono::duration_cast<std::chrono::milliseconds>(now - TimePoint{}).count();
  }

 private:
  struct InFlight {
    Endpoint from;
    Endpoint to;
    std::string bytes;
    std::string plaintext;  ///< what a Sealed frame carries; else `bytes`
  };

  std::uint64_t next_seed() { return seed_ += 0x1000000; }

  void post(const Endpoint& from, Outgoing out) {
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
    for (int i = 0; i < fate.copies; ++i) {
      wire_.emplace(now + latency + fate.extra_delay, InFlight{from, out.to, out.bytes, plain});
    }
  }

  void collect() {
    while (server_alive) {
      for (auto& o : secure_server->take_outgoing(now)) post(server_endpoint, std::move(o));
      server->take_logs();
      // Password jobs run at once, at the least cost (the shell's worker
      // thread takes ~0.1 s each; here the order of events is what matters).
      if (auto jobs = server->take_password_jobs(); !jobs.empty()) {
        password_jobs += jobs.size();
        for (const auto& j : jobs) {
          server->on_password_done(run_password_job(j, crypto::minimal_cost()), now);
        }
        continue;
      }
      for (auto& j : secure_server->take_handshake_jobs()) {
        handshakes_.emplace(now + handshake_latency, std::move(j));
      }
      for (auto& c : server->take_store_commands()) store_queue_.push_back(std::move(c));
      if (store_latency != Duration::zero() || completion_delay != Duration::zero()) {
        start_batch();
        break;
      }
      if (store_queue_.empty()) break;
      // A writer with no latency: commit now, complete now.
      const std::vector<StoreCommand> batch(store_queue_.begin(), store_queue_.end());
      store_queue_.clear();
      ++store_batches;
      store_commands += batch.size();
      for (const auto& c : apply_batch(store, batch)) server->on_store_completion(c, now);
    }
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

  void deliver(const InFlight& d) {
    const auto observe = [&] {
      ++net.delivered;
      if (on_deliver) {
        if (auto m = decode(d.plaintext)) on_deliver(d.from, d.to, *m);
      }
    };
    if (d.to == server_endpoint) {
      if (server_alive) {
        observe();
        secure_server->offload_handshakes(handshake_latency != Duration::zero());
        secure_server->on_datagram(d.bytes, d.from, now);
      }
      return;
    }
    if (auto it = nodes.find(d.to.port);
        it != nodes.end() && it->second.alive && it->second.endpoint == d.to) {
      observe();
      it->second.secure->on_datagram(d.bytes, d.from, now);
    }
  }

  void start_batch() {
    if (commit_at_ || store_queue_.empty()) return;
    committing_.assign(store_queue_.begin(), store_queue_.end());
    store_queue_.clear();
    commit_at_ = now + store_latency;
  }

  void step_store() {
    if (commit_at_ && *commit_at_ <= now) {
      ++store_batches;
      store_commands += committing_.size();
      for (auto& c : apply_batch(store, committing_)) {
        completions_.emplace(now + completion_delay, std::move(c));
      }
      committing_.clear();
      commit_at_.reset();
      start_batch();
    }
    while (server_alive && !completions_.empty() && completions_.begin()->first <= now) {
      const StoreCompletion c = std::move(completions_.begin()->second);
      completions_.erase(completions_.begin());
      server->on_store_completion(c, now);
      collect();
    }
  }

  /// The handshake worker: jobs due now are answered, in order.
  void step_handshakes() {
    while (server_alive && !handshakes_.empty() && handshakes_.begin()->first <= now) {
      const HandshakeJob job = std::move(handshakes_.begin()->second);
      handshakes_.erase(handshakes_.begin());
      secure_server->on_handshake_done(
          run_handshake_job(job, secure_server->gate().handshake_keys(), handshake_random_), now);
      collect();
    }
  }

  /// Client store batches due: committed (onto the disk), then heard.
  void step_client_stores() {
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

  void step() {
    step_client_stores();
    step_store();
    step_handshakes();
    // Deliver every datagram due now, then fire every deadline due now.
    while (!wire_.empty() && wire_.begin()->first <= now) {
      const InFlight d = std::move(wire_.begin()->second);
      wire_.erase(wire_.begin());
      deliver(d);
      collect();
    }
    if (server_alive) {
      if (auto t = secure_server->next_deadline(); t && *t <= now) secure_server->on_timeout(now);
    }
    for (auto& [port, n] : nodes) {
      if (!n.alive) continue;
      if (auto t = n.secure->next_deadline(); t && *t <= now) n.secure->on_timeout(now);
    }
    collect();
  }

  std::multimap<TimePoint, InFlight> wire_;
  std::deque<StoreCommand> store_queue_;                   ///< issued, not yet in a batch
  std::vector<StoreCommand> committing_;                   ///< the batch being committed
  std::optional<TimePoint> commit_at_;                     ///< when it commits
  std::multimap<TimePoint, StoreCompletion> completions_;  ///< committed, not yet heard
  std::multimap<TimePoint, HandshakeJob> handshakes_;      ///< at the worker, by completion
  struct ClientWrite {
    std::uint16_t port = 0;
    int incarnation = 0;
    std::vector<ClientStoreCommand> commands;
    std::vector<ClientStoreCompletion> done;
    bool committed = false;
  };
  /// Client store batches, by when they commit (then by when they are heard).
  std::multimap<TimePoint, ClientWrite> client_writes_;
  crypto::RandomSource handshake_random_;  ///< the worker's ephemeral keys
  std::uint64_t seed_ = 0;
  /// The server's key pair: its server.key, which survives its crashes.
  crypto::KeyPair server_key_ = crypto::generate_keypair(crypto::seeded_random(0x5E4E4));

 public:
  /// The key file of each nickname (by nickname key): a test may give one
  /// a new key before starting a client (another machine).
  std::map<std::string, crypto::KeyPair> client_keys_;
  /// The server is reinstalled: a new server.key (takes effect at its next start).
  void replace_server_key(const crypto::KeyPair& key) { server_key_ = key; }

 private:
  std::map<std::string, crypto::Key> known_servers_;  ///< pins, by nickname key
  /// Sealed frames made and not yet posted -> their plaintexts.
  std::unordered_map<std::string, std::string> sealed_plain_;
};

}  // namespace udpchat::test
