// loadgen.cpp: udpchat's load generator. One process runs thousands of
// virtual clients, each a real ClientSession (the same state machine and
// codec as `udpchat -c`), each on its own UDP socket, against a real
// `udpchat -s`. Sockets are spread over 127.0.0.2, .3, ... (25,000 a
// loopback address) to pass the 64k ports of one address; the file limit is
// raised as needed. One thread, epoll, a timer heap: no asio.
//
// Usage:
//   udpchat_loadgen storm --server-port P --clients N [--timeout-s T] [--prefix v]
//       N clients register at once; waits until every one is registered and
//       holds its rows (the whole table of N rows, or with --rows 1 its own
//       row: beyond the server's full-table limit). Prints one line:
//       "storm: N clients converged in S s; datagrams to clients D (D/N per
//       registration), from clients U". Exit 0 when converged, 1 on timeout.
//   udpchat_loadgen online --server-port P --clients N --heartbeat-ms H --hold-s T
//       N clients register and keep heartbeating for T seconds; with
//       --hold-s 0, until standard input ends (a driver that starts several
//       load generators one after another keeps them all online until it
//       has measured, then closes their input).
//   udpchat_loadgen saves --server-port P --senders M --recipients R --messages K
//       [--procs N]
//       R recipients register and deregister; M senders then each send K
//       messages to every recipient (one in flight per sender and
//       recipient, so M x R saves outstanding); prints saves per second.
//       With --heartbeats, one more client measures its heartbeat round
//       trips during the flood (p50/p99, microseconds). With --procs N the
//       senders are spread over N processes started together
//       (bench/loadgen_saves.cpp), so that one thread is not the bound.
//   udpchat_loadgen pingpong --server-port P --messages K --bytes B [--to NICK]
//       two clients; K direct sends of B bytes one after the other: the
//       time from typing to "[Message received by ...]" (p50/p99, us).
//       With --to, the recipient is NICK, a real `udpchat -c` (with its
//       own store) registered before: one virtual client sends to it.
//   udpchat_loadgen bare --messages K --bytes B
//       the baseline: a bare UDP ping-pong of the same size between two
//       sockets of this process (p50/p99 round trip, us).
//   udpchat_loadgen fanout --server-port P --clients N --messages K [--bytes B]
//       N members and one sender register (their table updates are let
//       settle before the clock starts); the sender types K send_all of B
//       bytes (one in flight at a time, as a user's client does); waits until
//       every member showed every message; prints deliveries per second and
//       whether each was shown exactly once. Exit 0 when all were, once.
//   udpchat_loadgen oneway --messages K --bytes B
//       the baseline: K Deliver-sized datagrams one way between two sockets
//       of this process (received per second).
//   udpchat_loadgen lag --server-port A --watch-port B --clients K
//       docs/CLUSTER.md: one client registers at server B (the watcher),
//       then K clients register at server A of the same cluster, one after
//       another; each one's time from its start to its row shown online at
//       the watcher (p50/p99, us): the lag of the change table, its
//       notification and the table delta, end to end.
//   udpchat_loadgen soak --server-port P --clients N --messages K [--senders S]
//       [--batch W] [--bytes B]
//       N members register; the first S (10) post K channel messages in all,
//       W (100: use 50) in flight each, 2,000 at most not yet shown by all
//       (the members keep up); prints progress every tenth and
//       deliveries per second, and whether every member showed every post
//       not its own exactly once (loadgen_soak.cpp). The server must not
//       cap posts (--max-posts-per-minute 0).
//   udpchat_loadgen sqlite --dir D --rows N --batch B
//       the baseline: SQLite's own insert rate (WAL, synchronous=FULL) of
//       rows shaped like udpchat's messages, B rows per transaction.
// With --server-pid PID (saves, fanout), the line after the rate
// gives the CPU the server and the load generator used in the measured
// window, in all and per operation: which side is the limit.
// Every mode stops by itself (timeouts bound every wait).
#include <poll.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "bench/baselines.hpp"
#include "bench/loadgen_options.hpp"
#include "bench/loadgen_saves.hpp"
#include "bench/loadgen_soak.hpp"
#include "bench/measure.hpp"
#include "bench/virtual_clients.hpp"

using namespace udpchat;
using namespace udpchat::bench;

namespace {

int storm(const Options& o) {
  if (o.clients == 0) usage("storm needs --clients");
  raise_file_limit(o.clients);
  Load load(o.server_port, o.heartbeat_ms, o.server_retries);
  load.first_address = o.first_address;
  load.server_key = o.server_key;
  const std::size_t rows = o.rows == 0 ? o.clients : o.rows;
  // The clients exist before they register: each has its key pair (its
  // key file, made at its first run) and its socket. The clock starts
  // when they all send their registrations.
  const auto random = crypto::system_random();
  for (std::size_t i = 0; i < o.clients; ++i) {
    load.add(o.prefix + std::to_string(i), false, crypto::generate_keypair(random),
             /*start=*/false);
  }
  const auto started = Clock::now();
  const double cpu_before = cpu_seconds();
  for (std::size_t i = 0; i < o.clients; ++i) load.start(i);
  std::size_t next_check = 0;  // clients before it have converged (checked in order)
  const bool ok = load.run(
      [&] {
        while (next_check < load.size()) {
          const ClientSession& s = *load.at(next_check).session;
          if (!s.registered() || s.rows_held() < rows) return false;
          ++next_check;
        }
        return true;
      },
      std::chrono::duration<double>(o.timeout_s));
  const double secs = seconds_since(started);
  const double cpu = cpu_seconds() - cpu_before;
  std::printf(
      "storm: %zu clients %s in %.3f s; datagrams to clients %llu (%.1f per registration), "
      "from clients %llu (%.1f per registration); load generator CPU %.2f s\n",
      o.clients, ok ? "converged" : "NOT converged", secs,
      static_cast<unsigned long long>(load.received()),
      static_cast<double>(load.received()) / static_cast<double>(o.clients),
      static_cast<unsigned long long>(load.sent()),
      static_cast<double>(load.sent()) / static_cast<double>(o.clients), cpu);
  if (!ok) {
    std::printf("storm: %zu of %zu clients converged before the timeout\n", next_check, o.clients);
  }
  std::fflush(stdout);
  return ok ? 0 : 1;
}

int online(const Options& o) {
  if (o.clients == 0) usage("online needs --clients");
  raise_file_limit(o.clients);
  Load load(o.server_port, o.heartbeat_ms, o.server_retries);
  load.first_address = o.first_address;
  const auto started = Clock::now();
  // Clients arrive in waves of 1,000 (a community logging in, not a storm:
  // the storm is its own benchmark); each wave registers before the next.
  constexpr std::size_t kWave = 1000;
  std::size_t registered = 0;
  bool ok = true;
  while (ok && load.size() < o.clients) {
    const std::size_t end = std::min(o.clients, load.size() + kWave);
    while (load.size() < end) load.add(o.prefix + std::to_string(load.size()));
    ok = load.run(
        [&] {
          while (registered < load.size() && load.at(registered).session->registered()) {
            ++registered;
          }
          return registered == load.size();
        },
        std::chrono::duration<double>(o.timeout_s));
  }
  std::printf("online: %zu of %zu clients registered in %.3f s\n", registered, o.clients,
              seconds_since(started));
  std::fflush(stdout);
  const auto held = Clock::now();
  if (o.hold_s > 0) {
    load.run([] { return false; }, std::chrono::duration<double>(o.hold_s));
  } else {
    load.run(
        [] {
          pollfd in{0, POLLIN, 0};
          return poll(&in, 1, 0) > 0;  // data, end of input or hang-up
        },
        std::chrono::hours(1));
  }
  const double hold = seconds_since(held);
  std::size_t still = 0;
  for (std::size_t i = 0; i < load.size(); ++i) still += load.at(i).session->registered() ? 1 : 0;
  std::printf("online: %zu clients still registered after %.1f s of heartbeats\n", still, hold);
  std::fflush(stdout);
  return ok && still == o.clients ? 0 : 1;
}

int fanout(const Options& o) {
  if (o.clients == 0 || o.messages == 0) usage("fanout needs --clients and --messages");
  raise_file_limit(o.clients + 2);
  Load load(o.server_port, o.heartbeat_ms, o.server_retries);
  load.first_address = o.first_address;
  for (std::size_t i = 0; i < o.clients; ++i) load.add(o.prefix + std::to_string(i));
  const std::size_t sender = load.add(o.prefix + "sender");
  if (!wait_registered(load, 0, o.timeout_s)) return 1;
  // The fan-out is timed alone: the registrations' table updates settle
  // first (no datagram for 100 ms; heartbeats are rarer; at most 30 s).
  const auto settle_by = Clock::now() + std::chrono::seconds(30);
  for (auto last = load.received() + 1; last != load.received() && Clock::now() < settle_by;) {
    last = load.received();
    load.run([] { return false; }, std::chrono::milliseconds(100));
  }
  // shown[i][k]: how many times member i showed message k.
  std::vector<std::vector<std::uint8_t>> shown(o.clients, std::vector<std::uint8_t>(o.messages));
  std::size_t deliveries = 0, acked = 0, odd = 0;
  const std::string head = ">>> [Channel] " + o.prefix + "sender: ";
  load.line_hook = [&](std::size_t i, const std::string& l) {
    if (i == sender) {
      acked += l == ">>> [Message received by Server.]" ? 1 : 0;
      return;
    }
    if (!l.starts_with(head) || i >= o.clients) return;
    const auto k = std::strtoul(l.c_str() + head.size(), nullptr, 10);
    if (k >= o.messages) {
      ++odd;
      return;
    }
    ++shown[i][k];
    ++deliveries;
  };
  const std::string pad(o.bytes > 12 ? o.bytes - 12 : 0, 'x');
  const auto started = Clock::now();
  const CpuWindow cpu(o.server_pid);
  for (std::size_t k = 0; k < o.messages; ++k) {
    load.type(sender, "send_all " + std::to_string(k) + " " + pad);
  }
  const std::size_t want = o.clients * o.messages;
  const bool done = load.run([&] { return deliveries >= want && acked == o.messages; },
                             std::chrono::duration<double>(o.timeout_s));
  const double secs = seconds_since(started);
  const std::string cpu_line = cpu.report(deliveries, "delivery");
  // A moment more: a duplicate would show now.
  load.run([] { return false; }, std::chrono::duration<double>(0.5));
  std::size_t once = 0;
  for (const auto& member : shown) {
    for (const std::uint8_t n : member) once += n == 1 ? 1 : 0;
  }
  std::printf(
      "fanout: %zu members x %zu messages: %zu deliveries in %.3f s: %.0f deliveries/s; "
      "%zu of %zu shown exactly once, %zu odd lines\n",
      o.clients, o.messages, deliveries, secs, static_cast<double>(deliveries) / secs, once, want,
      odd);
  std::printf("fanout: %s\n", cpu_line.c_str());
  std::fflush(stdout);
  return done && once == want && odd == 0 ? 0 : 1;
}

int pingpong(const Options& o) {
  Load load(o.server_port, o.heartbeat_ms, o.server_retries);
  load.first_address = o.first_address;
  const std::size_t a = load.add(o.prefix + "ping");
  // The recipient: a virtual client of this process (store-less: it acks
  // at once), or with --to a real `udpchat -c` registered already.
  const std::string peer = o.to.empty() ? o.prefix + "pong" : o.to;
  const bool local_peer = o.to.empty();
  const std::size_t b = local_peer ? load.add(peer) : 0;
  if (!wait_registered(load, 0, o.timeout_s)) return 1;
  // Both must hold each other's row (whole table) before timing.
  load.run(
      [&] {
        return load.at(a).session->rows_held() >= 2 &&
               (!local_peer || load.at(b).session->rows_held() >= 2);
      },
      std::chrono::duration<double>(o.timeout_s));
  const std::string text(o.bytes, 'x');
  std::vector<double> us;
  bool acked = false;
  load.line_hook = [&](std::size_t i, const std::string& l) {
    if (i == a && l.starts_with(">>> [Message received by")) acked = true;
  };
  for (std::size_t k = 0; k < o.messages + 100; ++k) {
    acked = false;
    const auto t0 = Clock::now();
    load.type(a, "send " + peer + " " + text);
    if (!load.run([&] { return acked; }, std::chrono::duration<double>(5))) return 1;
    if (k >= 100) us.push_back(us_since(t0));  // the first 100 warm up
  }
  write_samples(o.samples, us);
  const auto p = percentiles(us);
  std::printf("pingpong: %zu direct sends of %zu bytes, send to ack p50 %.1f us, p99 %.1f us\n",
              us.size(), o.bytes, p.p50, p.p99);
  std::fflush(stdout);
  return 0;
}

int lag(const Options& o) {
  if (o.clients == 0 || o.watch_port == 0) usage("lag needs --clients and --watch-port");
  raise_file_limit(o.clients + 2);
  Load load(o.watch_port, o.heartbeat_ms, o.server_retries);
  load.first_address = o.first_address;
  const std::size_t watcher = load.add(o.prefix + "watch");
  if (!wait_registered(load, 0, o.timeout_s)) return 1;
  load.use_server(o.server_port);
  std::vector<double> us;
  for (std::size_t k = 0; k < o.clients; ++k) {
    const std::string nick = o.prefix + std::to_string(k);
    const auto t0 = Clock::now();
    load.add(nick);
    const auto shown = [&] {
      for (const TableEntry& e : load.at(watcher).session->table()) {
        if (e.nick == nick) return e.online;
      }
      return false;
    };
    if (!load.run(shown, std::chrono::duration<double>(o.timeout_s))) {
      std::printf("lag: %s never shown online at the watcher\n", nick.c_str());
      return 1;
    }
    us.push_back(us_since(t0));
  }
  const auto p = percentiles(us);
  std::printf(
      "lag: %zu registrations at 127.0.0.1:%u shown online at a client of 127.0.0.1:%u: "
      "p50 %.0f us, p99 %.0f us\n",
      us.size(), o.server_port, o.watch_port, p.p50, p.p99);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  if (o.mode == "storm") return storm(o);
  if (o.mode == "online") return online(o);
  if (o.mode == "saves") return saves(o);
  if (o.mode == "pingpong") return pingpong(o);
  if (o.mode == "bare") return bare_pingpong(o.messages, o.bytes, o.samples);
  if (o.mode == "fanout") return fanout(o);
  if (o.mode == "soak") return soak(o);
  if (o.mode == "oneway") return bare_oneway(o.messages, o.bytes);
  if (o.mode == "lag") return lag(o);
  if (o.mode == "sqlite") return sqlite_rate(o.dir, o.messages, o.batch, o.bytes);
  usage(("unknown mode " + o.mode).c_str());
}
