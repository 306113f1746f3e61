// scenario.hpp: one seeded scenario of the simulation (tests/sim/sim.cpp):
// the world it builds, what it records of every datagram and printed line,
// and the checks it runs at the end. scenario_hooks.cpp observes;
// scenario.cpp acts; scenario_checks.cpp checks at the end.
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/text.hpp"
#include "support/world.hpp"

namespace udpchat::sim {

using namespace udpchat::test;
using namespace std::chrono_literals;

struct Totals {
  std::uint64_t seeds = 0, failed = 0;
  std::uint64_t typed = 0, peer_acked = 0, saved = 0, exists = 0, told_failed = 0;
  std::uint64_t relayed = 0;  ///< relay datagrams carrying a typed message (docs/NAT.md)
  std::uint64_t nat_seeds = 0, nat_reboots = 0;  ///< seeds with NAT boxes; their restarts
  std::uint64_t sender_died = 0, shown = 0, cross_restart_repeats = 0;
  /// Seeds whose clients keep their own store (manual §4.11), and what
  /// their recipients showed again after a restart (each one printed but
  /// not yet marked shown when its process was killed).
  std::uint64_t durable_seeds = 0, durable_repeats = 0;
  std::uint64_t posts = 0, post_deliveries = 0;
  std::uint64_t client_crashes = 0, server_crashes = 0, partitions = 0;
  std::uint64_t store_failures = 0, store_batches = 0, store_commands = 0, log_rows_trimmed = 0;
  /// Posts refused by the log quota (--max-log-posts).
  std::uint64_t posts_over_quota = 0;
  /// docs/CLUSTER.md: seeds with several servers on one shared database,
  /// their servers, notifications lost, and client moves between servers.
  std::uint64_t cluster_seeds = 0, cluster_servers = 0, lost_notifications = 0, moves = 0;
  World::NetworkStats net;
};

/// The wire name of a datagram's kind, for the network's fate and the trace.
inline const char* kind_of(const Message& m) {
  constexpr const char* kNames[] = {
      "reg",    "dereg",  "save",   "hb",        "ack",     "table",   "ping",
      "chat",   "deliver", "notice", "lookup",   "find",    "rows",    "post",
      "join",   "leave",  "groups", "grouplist", "passwd",  "delacct", "intro",
      "punch",  "probe",  "relay",  "relack"};
  // One name per alternative: a kind added to Message must be named here.
  static_assert(std::size(kNames) == std::variant_size_v<Message>);
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
  /// Learns which transport ids carry which typed message ("m<n>").
  void learn_ids(const Endpoint& from, const Endpoint& to, const Message& m);
  /// What the faulty network does to one datagram from `from` to `to`
  /// (`what` names it in the trace): partitions, drops, copies, delays.
  Fate network_fate(const Endpoint& from, const Endpoint& to, const char* what);
  /// The text of a direct message's box, opened with its recipient's key
  /// file; empty if it does not open.
  [[nodiscard]] std::string plaintext(const std::string& from, const std::string& to,
                                      std::uint64_t mid, const std::string& box) const;
  void random_action(Totals& totals);
  void restart_due();
  /// Before `port` is killed: the messages its disk holds as shown, which
  /// no later process of it may show again.
  void note_marked(std::uint16_t port);
  std::string final_checks(Totals& totals);
  /// A cluster's own end checks: every server holds the same rows, and
  /// nothing is left in flight at any of them.
  std::string cluster_checks();
  /// The server `port`'s client uses now.
  World::ServerProcess& server_of(std::uint16_t port) {
    return *w_.server_at(w_.nodes.at(port).session->server());
  }

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
  std::uint64_t posts_over_quota_ = 0;
  std::uint64_t relayed_ = 0;  ///< relay datagrams seen carrying a typed message
  bool nat_ = false;           ///< clients 0-2 behind NAT boxes (docs/NAT.md)
  std::uint64_t nat_reboots_ = 0;
  Duration jitter_{};
  /// Half the seeds use short heartbeats, half a longer one, so repairs
  /// that must not wait for a heartbeat are seen waiting (manual §6.6 promises
  /// convergence within a heartbeat interval, not sooner).
  Duration heartbeat_ = 5s;
  std::map<std::uint16_t, TimePoint> partitioned_;     // port -> cut off until
  std::map<std::uint16_t, TimePoint> client_restart_;  // port -> restart at
  std::map<std::size_t, TimePoint> server_restart_;     // server -> restart at
  /// docs/CLUSTER.md: the servers (1, or a cluster of 2 or 3 on one shared
  /// database), the share of commit notifications lost, what was lost, and
  /// how often a client's server changed under it.
  std::size_t servers_ = 1;
  double notify_loss_ = 0;
  std::uint64_t lost_notifications_ = 0, moves_ = 0;
  std::map<std::uint16_t, Endpoint> server_of_;  ///< port -> the server it last used
  std::vector<Typed> typed_;
  /// (sender port, transport id) -> typed message n, per kind of datagram.
  std::map<std::pair<std::uint16_t, std::uint64_t>, std::size_t> chat_ids_, save_ids_, post_ids_;
  /// (sender port, message id) -> typed message n: the id a server's Notice
  /// names, whether the message went out as a Chat or straight as a Save
  /// (the recipient not in the sender's table).
  std::map<std::pair<std::uint16_t, std::uint64_t>, std::size_t> mids_;
  std::set<std::uint16_t> ever_registered_;  ///< printed the welcome at least once
  std::set<std::uint16_t> joined_;           ///< printed "[Joined group g.]"
  bool durable_ = false;                     ///< the clients keep their own store
  std::map<std::uint16_t, std::set<std::size_t>> marked_;  ///< port -> n marked shown
  std::map<std::tuple<std::uint16_t, int, std::size_t>, int> shown_;  // (port, incarnation, n)
  std::map<std::tuple<std::uint16_t, int, std::uint16_t, int, Kind>, std::size_t> last_live_;
  std::deque<std::string> recent_;
  std::string failure_;
};

}  // namespace udpchat::sim
