// loadgen_soak.cpp: the soak mode of udpchat_loadgen (loadgen_soak.hpp).
// Posts are numbered 0..K-1 as they are typed; a member's line
// ">>> [Channel] v<i>: <k> <padding>" counts post k shown once more for it.
// The counts (K x N bytes: 100 MB for a million posts and 100 members)
// say at the end whether each was shown exactly once.
#include "bench/loadgen_soak.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/measure.hpp"
#include "bench/virtual_clients.hpp"

namespace udpchat::bench {

/// Posts typed and not yet shown by every member, at most.
constexpr std::size_t kMaxBacklog = 2000;

int soak(const Options& o) {
  if (o.clients < 2 || o.messages == 0) usage("soak needs --clients (2 or more) and --messages");
  const std::size_t senders = std::min(o.senders == 0 ? std::size_t{10} : o.senders, o.clients);
  raise_file_limit(o.clients + 2);
  Load load(o.server_port, o.heartbeat_ms, o.server_retries);
  load.first_address = o.first_address;
  for (std::size_t i = 0; i < o.clients; ++i) load.add(o.prefix + std::to_string(i));
  if (!wait_registered(load, 0, o.timeout_s)) return 1;
  std::vector<std::uint8_t> shown(o.messages * o.clients);  // [k * clients + member]
  std::vector<std::size_t> poster(o.messages);              // who posted k
  std::vector<std::size_t> in_flight(senders);
  std::size_t typed = 0, acked = 0, deliveries = 0, odd = 0, refused = 0;
  load.line_hook = [&](std::size_t i, const std::string& l) {
    if (i < senders && l == ">>> [Message received by Server.]") {
      --in_flight[i];
      ++acked;
      return;
    }
    if (l.starts_with(">>> [Server could not save") || l.starts_with(">>> [Too many")) {
      ++refused;
      return;
    }
    const std::size_t colon = l.find(": ");
    if (!l.starts_with(">>> [Channel] ") || colon == std::string::npos) return;
    char* end = nullptr;
    const auto k = std::strtoull(l.c_str() + colon + 2, &end, 10);
    if (end == l.c_str() + colon + 2 || k >= o.messages || poster[k] == i) {
      ++odd;
      return;
    }
    ++shown[k * o.clients + i];
    ++deliveries;
  };
  const std::string pad(o.bytes > 12 ? o.bytes - 12 : 0, 'x');
  const std::size_t want = o.messages * (o.clients - 1);
  const auto started = Clock::now();
  const CpuWindow cpu(o.server_pid);
  std::size_t next_report = o.messages / 10;
  const bool done = load.run(
      [&] {
        // Each sender keeps --batch posts in flight, until all are typed,
        // while the members keep up: at most kMaxBacklog posts typed and
        // not yet shown by all (posting alone outruns the fan-out ~5x; a
        // log that only grows would measure that, not the trimming).
        const bool behind = typed * (o.clients - 1) > deliveries + kMaxBacklog * (o.clients - 1);
        for (std::size_t s = 0; s < senders && typed < o.messages && !behind; ++s) {
          while (in_flight[s] < o.batch && typed < o.messages) {
            poster[typed] = s;
            ++in_flight[s];
            load.type(s, "send_all " + std::to_string(typed++) + " " + pad);
          }
        }
        if (acked >= next_report && next_report > 0) {
          std::printf("soak: %zu posts acked, %zu deliveries, %.1f s\n", acked, deliveries,
                      seconds_since(started));
          std::fflush(stdout);
          next_report += o.messages / 10;
        }
        return (deliveries >= want && acked == o.messages) || refused > 0;
      },
      std::chrono::duration<double>(o.timeout_s));
  const double secs = seconds_since(started);
  const std::string cpu_line = cpu.report(deliveries, "delivery");
  load.run([] { return false; }, std::chrono::duration<double>(0.5));  // a late duplicate
  std::size_t once = 0;
  for (std::size_t k = 0; k < o.messages; ++k) {
    for (std::size_t i = 0; i < o.clients; ++i) {
      once += i != poster[k] && shown[k * o.clients + i] == 1 ? 1 : 0;
    }
  }
  std::printf(
      "soak: %zu members, %zu posts by %zu of them: %zu deliveries in %.1f s: %.0f deliveries/s; "
      "%zu of %zu shown exactly once, %zu refused, %zu odd lines\n",
      o.clients, o.messages, senders, deliveries, secs, static_cast<double>(deliveries) / secs,
      once, want, refused, odd);
  std::printf("soak: %s\n", cpu_line.c_str());
  std::fflush(stdout);
  return done && refused == 0 && once == want && odd == 0 ? 0 : 1;
}

}  // namespace udpchat::bench
