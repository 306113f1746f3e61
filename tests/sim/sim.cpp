// sim.cpp: seeded, deterministic simulation of udpchat under faults.
//
// Each seed builds one scenario from a std::mt19937_64: 3 to 5 clients and
// the server (the real ClientSession and ServerCore, no sockets), a network
// that drops, duplicates, delays (so reorders) and partitions datagrams,
// random user actions (send, dereg, reg, list, join g, send_all,
// send_group g) and crashes: a client killed and restarted on its port, the
// server killed and restarted on its store (its clients reconnect by
// themselves). Then the network heals, and the checks of manual §5 run:
//
//  1. at most once: no process shows a message twice (checked as it runs);
//     a message is shown only at its recipient;
//  2. no loss: every message acknowledged by its peer or accepted by the
//     server ("saved", "exists") is shown at its recipient by the end; a
//     sender still alive has an outcome for every message it typed;
//  3. stored messages are delivered: the store is empty at the end;
//  4. tables converge: every client holds the server's table and version;
//  5. bounded state: nothing is left in flight at the server or the clients;
//  6. channel and group: a post the server acknowledged is shown at every
//     member of its target when it was typed, never at its sender, once
//     per process, one sender's posts in the order typed;
//  7. with the clients' own store (even seeds, manual §4.11): a message
//     its recipient's store marked shown is never shown again by a later
//     process on that port (what was durable and not shown is shown at
//     the restart, so check 2 also covers a kill between the two).
//
// A sixth of the seeds run a cluster (docs/CLUSTER.md): 2 or 3 servers on
// one shared database model (tests/support/cluster_store.hpp) with store
// latency and lost commit notifications; a server killed may stay down past
// the others' liveness timeout. The same rules hold across servers, each
// client checked against the server it uses at the end, and:
//
//  8. the servers converge: every server holds the same rows (nickname,
//     endpoint, online, key), and none has work left in flight.
//
// Usage: udpchat_sim [--seeds N] [--first S]       run seeds S .. S+N-1
//        udpchat_sim --seed S --trace              replay one seed, printing every event
// A failing seed prints itself, the broken rule and the last events.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sim/scenario.hpp"

using udpchat::sim::Scenario;
using udpchat::sim::Totals;

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
  std::printf("simulation: relay datagrams carrying a typed message %llu; seeds behind NAT boxes %llu, NAT restarts %llu, datagrams their filters dropped %llu\n",
              static_cast<unsigned long long>(totals.relayed), static_cast<unsigned long long>(totals.nat_seeds),
              static_cast<unsigned long long>(totals.nat_reboots),
              static_cast<unsigned long long>(totals.net.nat_dropped));
  std::printf("simulation: client stores in %llu seeds; shown again after a restart there %llu (each printed, not yet marked shown, when killed)\n",
              static_cast<unsigned long long>(totals.durable_seeds),
              static_cast<unsigned long long>(totals.durable_repeats));
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
  std::printf("simulation: store: %llu commands in %llu group commits, %llu writes failed, "
              "%llu channel and group messages trimmed, %llu posts refused by the log quota\n",
              static_cast<unsigned long long>(totals.store_commands),
              static_cast<unsigned long long>(totals.store_batches),
              static_cast<unsigned long long>(totals.store_failures),
              static_cast<unsigned long long>(totals.log_rows_trimmed),
              static_cast<unsigned long long>(totals.posts_over_quota));
  std::printf("simulation: clusters: %llu seeds with %llu servers on one shared database, commit notifications lost %llu, clients moved to another server %llu\n",
              static_cast<unsigned long long>(totals.cluster_seeds),
              static_cast<unsigned long long>(totals.cluster_servers),
              static_cast<unsigned long long>(totals.lost_notifications),
              static_cast<unsigned long long>(totals.moves));
  std::printf("seeds: %llu passed, %llu failed\n", static_cast<unsigned long long>(totals.seeds - totals.failed),
              static_cast<unsigned long long>(totals.failed));
  return totals.failed == 0 ? 0 : 1;
}
