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
// docs/CLUSTER.md: make_cluster(n) turns the one server into n servers
// (127.0.0.1:9000 + i, ids s0, s1...) on one shared database
// (cluster_store.hpp) whose data is `memory`: each server's writer commits
// its batches there and reads the others' changes at each batch and at
// each poll (every `poll_every` while idle, and `notify_latency` after
// another server committed, unless `lose_notification` says the NOTIFY was
// lost); the changes reach the core with its completions' delay, before
// them. The servers share one key (the cluster's).
//
// Nothing here touches a socket or the real clock, so a scenario runs in
// microseconds and the same inputs always give the same outputs. Used by the
// flow tests (tests/unit/test_flows.cpp) and the seeded simulation
// (tests/sim/). The machinery (posting, delivering, stepping the writers)
// is in world.cpp.
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/client/client_session.hpp"
#include "core/client/secure_client.hpp"
#include "core/server/secure_server.hpp"
#include "core/server/server_core.hpp"
#include "core/server/store_ops.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"
#include "support/cluster_store.hpp"
#include "support/nat_box.hpp"
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
    std::uint64_t nat_dropped = 0;  ///< dropped by a NAT box's filter (or a hairpin)
  };

  /// One server process: its core and session layer, and its store
  /// writer's state (a batch committing, completions and changes not yet
  /// heard: a crash loses them).
  struct ServerProcess {
    Endpoint endpoint{"127.0.0.1", 9000};
    std::string id;                 ///< its id in a cluster; empty alone
    OfflineStore* store = nullptr;  ///< what its writer writes to
    std::unique_ptr<ServerCore> core;
    std::unique_ptr<SecureServer> secure;
    bool alive = false;
    std::deque<StoreCommand> queue;          ///< issued, not yet in a batch
    std::vector<StoreCommand> committing{};  ///< the batch being committed
    std::optional<TimePoint> commit_at{};    ///< when it commits
    /// Committed, not yet heard: the others' changes read with a batch or
    /// at a poll, and completions (changes first at the same time).
    std::multimap<TimePoint, std::variant<std::vector<ClusterChange>, StoreCompletion>> heard{};
    std::optional<TimePoint> poll_at{};  ///< a cluster: its writer's next read of changes
    std::multimap<TimePoint, HandshakeJob> handshakes{};  ///< at the worker, by completion
    crypto::RandomSource handshake_random{};               ///< the worker's ephemeral keys
  };

  /// Every server; the first is `server`, the only one unless make_cluster.
  std::deque<ServerProcess> servers = std::deque<ServerProcess>(1);

  World() { start_server(); }
  /// A world whose server is configured by `configure` from the start.
  explicit World(std::function<void(ServerConfig&)> configure)
      : configure_server(std::move(configure)) {
    start_server();
  }
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // --- the servers --------------------------------------------------------------
  /// Starts server `i` on its store.
  void start_server(std::size_t i = 0);
  /// Server `i`'s process dies: its memory is gone, its store stays with
  /// what was committed.
  void crash_server(std::size_t i = 0);
  /// docs/CLUSTER.md: `n` servers on one shared database, all started
  /// (before any client starts; the one server's store is left as it is).
  void make_cluster(std::size_t n);
  /// The server at `e`, or null.
  [[nodiscard]] ServerProcess* server_at(const Endpoint& e) {
    for (auto& s : servers) {
      if (s.endpoint == e) return &s;
    }
    return nullptr;
  }
  [[nodiscard]] bool is_server(const Endpoint& e) { return server_at(e) != nullptr; }

  // --- clients ------------------------------------------------------------------
  /// Starts a client process `nick` on 127.0.0.1:`port` (registers).
  Node& start_client(const std::string& nick, std::uint16_t port,
                     Duration heartbeat = std::chrono::seconds(30));
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
  bool run_until(const std::function<bool()>& done, Duration limit = std::chrono::seconds(30));

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
  MemoryStore memory;           ///< what is durable
  FaultyStore store{memory};    ///< the server's store; `store.fault` fails writes
  Duration store_latency{};     ///< time a batch takes to commit
  Duration completion_delay{};  ///< from commit to the server hearing of it
  /// Time the server's handshake worker takes to answer an Init (zero: the
  /// gate answers at once; else its jobs complete this much later, in order).
  Duration handshake_latency{};
  std::uint64_t store_batches = 0, store_commands = 0;
  std::uint64_t log_rows_trimmed = 0;  ///< by the TrimLogsOps committed
  /// Counts what the TrimLogsOps of `batch` trimmed (`done`: its completions).
  void count_trims(const std::vector<StoreCommand>& batch, const std::vector<StoreCompletion>& done) {
    for (std::size_t i = 0; i < batch.size() && i < done.size(); ++i) {
      if (std::holds_alternative<TrimLogsOp>(batch[i].op) && done[i].result) {
        log_rows_trimmed += std::get<std::size_t>(*done[i].result);
      }
    }
  }
  Duration client_store_latency{};     ///< a client store batch: issued to committed
  Duration client_completion_delay{};  ///< committed to heard by its client
  /// The client stores' disks, by nickname key: what is durable.
  std::map<std::string, MemoryClientStore> client_disks;
  std::uint64_t password_jobs = 0;  ///< Argon2id jobs the server issued
  // The first server, as the tests of one server name it.
  std::unique_ptr<ServerCore>& server = servers.front().core;
  std::unique_ptr<SecureServer>& secure_server = servers.front().secure;  ///< its session layer
  bool& server_alive = servers.front().alive;
  Endpoint& server_endpoint = servers.front().endpoint;
  // A cluster's shared database and each server's connection to it.
  std::unique_ptr<SharedDatabase> cluster;
  std::deque<ClusterNodeStore> cluster_nodes;
  std::deque<FaultyStore> cluster_stores;  ///< over cluster_nodes, failing as `store.fault` says
  Duration poll_every = std::chrono::milliseconds(250);  ///< PgStore's writer poll
  Duration notify_latency = std::chrono::milliseconds(1);
  std::function<bool()> lose_notification;  ///< true: this NOTIFY is lost (unset: never)
  std::map<std::uint16_t, Node> nodes;
  /// docs/NAT.md: NAT routers, and which client ports sit behind which
  /// (set before start_client: the client then has the box's private
  /// address and tells it as its local endpoint).
  std::vector<NatBox> nats;
  std::map<std::uint16_t, std::size_t> behind_nat;

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

  void post(const Endpoint& from, Outgoing out);

  void collect();

  void deliver(InFlight d);

  void start_batch(ServerProcess& s);

  void step_store(ServerProcess& s);

  /// A cluster: server `s` reads the others' changes, when its writer is idle.
  void step_poll(ServerProcess& s);

  /// Server `s` hands over what its secure layer and core produced.
  void collect_server(ServerProcess& s);

  /// The handshake worker: jobs due now are answered, in order.
  void step_handshakes(ServerProcess& s);

  /// Client store batches due: committed (onto the disk), then heard.
  void step_client_stores();

  void step();

  std::multimap<TimePoint, InFlight> wire_;
  struct ClientWrite {
    std::uint16_t port = 0;
    int incarnation = 0;
    std::vector<ClientStoreCommand> commands;
    std::vector<ClientStoreCompletion> done;
    bool committed = false;
  };
  /// Client store batches, by when they commit (then by when they are heard).
  std::multimap<TimePoint, ClientWrite> client_writes_;
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
