// loadgen_saves.cpp: the saves mode of udpchat_loadgen. R recipients
// register and deregister (so every save is stored for them); M senders
// then each send K messages to every recipient. With --procs N the senders
// are spread over N processes forked before any of them registers: each
// registers its share, says so on a pipe, waits for the start byte, sends,
// and writes its figures back; the parent times the window from the start
// byte to the last figures. One thread playing hundreds of senders (each a
// ClientSession encoding, sealing and opening every save) is otherwise the
// bound of this benchmark, not the server (docs/PERFORMANCE.md).
#include "bench/loadgen_saves.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "bench/measure.hpp"
#include "bench/virtual_clients.hpp"

namespace udpchat::bench {
namespace {

/// What one process of senders reports (over a pipe, as raw bytes).
struct Share {
  std::size_t saved = 0;
  std::size_t failed = 0;
  double cpu_s = 0;  ///< its CPU from the start byte to its last save
};

/// Senders i of [first, senders) with i % step == first % step: registers
/// them, calls `ready()`, waits for `go()`, sends, and returns its share.
/// With `probe`, one more client times a request round trip during the
/// flood into `hb_us`.
template <typename Ready, typename Go>
Share send_share(const Options& o, std::size_t first, std::size_t step, bool probe_it,
                 std::vector<double>& hb_us, Ready&& ready, Go&& go) {
  Load load(o.server_port, o.heartbeat_ms, o.server_retries);
  load.first_address = o.first_address + static_cast<unsigned>(first);
  std::vector<std::string> to;
  for (std::size_t r = 0; r < o.recipients; ++r) to.push_back(o.prefix + "r" + std::to_string(r));
  for (std::size_t i = first; i < o.senders; i += step) load.add(o.prefix + "s" + std::to_string(i));
  const std::size_t senders = load.size();
  const std::size_t probe = probe_it ? load.add(o.prefix + "probe") : 0;
  if (!wait_registered(load, 0, o.timeout_s)) std::exit(1);
  ready();
  go();
  Share share;
  load.line_hook = [&](std::size_t, const std::string& l) {
    if (l == ">>> [Messages received by the server and saved]")
      ++share.saved;
    else if (l.starts_with(">>> [Server could not") || l.starts_with(">>> [Unknown"))
      ++share.failed;
  };
  const double cpu0 = cpu_seconds();
  for (std::size_t i = 0; i < senders; ++i) {
    for (std::size_t k = 0; k < o.messages; ++k) {
      for (const auto& r : to) load.type(i, "send " + r + " m" + std::to_string(k));
    }
  }
  const std::size_t total = senders * o.messages * o.recipients;
  std::optional<TimePoint> asked;
  if (probe_it) {
    // Heartbeats of the probe are timed from the outside by typing `list x`
    // (a find: one request, one answer) in a loop.
    load.line_hook = [&, inner = load.line_hook](std::size_t i, const std::string& l) {
      inner(i, l);
      if (i == probe && asked && l.starts_with(">>> [0 of ")) {
        hb_us.push_back(us_since(*asked));
        asked.reset();
      }
    };
  }
  load.run(
      [&] {
        if (probe_it && !asked && share.saved + share.failed < total) {
          asked = Clock::now();
          load.type(probe, "list zzzzzz");
        }
        return share.saved + share.failed >= total;
      },
      std::chrono::duration<double>(o.timeout_s));
  share.cpu_s = cpu_seconds() - cpu0;
  return share;
}

bool write_all(int fd, const void* p, std::size_t n) {
  const auto* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = write(fd, c, n);
    if (w <= 0) return false;
    c += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool read_all(int fd, void* p, std::size_t n) {
  auto* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = read(fd, c, n);
    if (r <= 0) return false;
    c += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

}  // namespace

int saves(const Options& o) {
  if (o.senders == 0 || o.messages == 0) usage("saves needs --senders and --messages");
  const std::size_t procs = std::max<std::size_t>(1, std::min(o.procs, o.senders));
  raise_file_limit(o.senders + o.recipients + 2);
  {
    // The recipients register and leave: every save is stored for them.
    Load load(o.server_port, o.heartbeat_ms, o.server_retries);
    load.first_address = o.first_address;
    for (std::size_t r = 0; r < o.recipients; ++r) load.add(o.prefix + "r" + std::to_string(r));
    if (!wait_registered(load, 0, o.timeout_s)) return 1;
    for (std::size_t r = 0; r < o.recipients; ++r) load.type(r, "dereg");
    load.run([] { return false; }, std::chrono::duration<double>(0.5));
  }
  std::vector<double> hb_us;
  Share all;
  double secs = 0;
  std::optional<CpuWindow> cpu;
  TimePoint started{};
  if (procs == 1) {
    all = send_share(
        o, 0, 1, o.heartbeats, hb_us, [] {},
        [&] {
          cpu.emplace(o.server_pid);
          started = Clock::now();
        });
    secs = seconds_since(started);
  } else {
    int ready[2], go[2];
    if (pipe(ready) != 0 || pipe(go) != 0) return 1;
    std::vector<pid_t> children;
    std::vector<int> from_child;  // each process's figures on a pipe of its own
    for (std::size_t k = 0; k < procs; ++k) {
      int figures[2];
      if (pipe(figures) != 0) return 1;
      from_child.push_back(figures[0]);
      const pid_t pid = fork();
      if (pid < 0) return 1;
      if (pid == 0) {
        // The first process also times the probe's round trips.
        std::vector<double> samples;
        const Share s = send_share(
            o, k, procs, o.heartbeats && k == 0, samples,
            [&] { (void)write_all(ready[1], "r", 1); },
            [&] {
              char c = 0;
              if (!read_all(go[0], &c, 1)) std::_Exit(1);
            });
        const std::size_t n = samples.size();
        const bool ok = write_all(figures[1], &s, sizeof s) && write_all(figures[1], &n, sizeof n) &&
                        write_all(figures[1], samples.data(), n * sizeof(double));
        std::_Exit(ok ? 0 : 1);
      }
      children.push_back(pid);
    }
    for (std::size_t k = 0; k < procs; ++k) {
      char c = 0;
      if (!read_all(ready[0], &c, 1)) return 1;  // a child failed to register
    }
    cpu.emplace(o.server_pid);
    started = Clock::now();
    const std::string start(procs, 'g');
    if (!write_all(go[1], start.data(), start.size())) return 1;
    for (std::size_t k = 0; k < procs; ++k) {
      Share s;
      std::size_t n = 0;
      const int fd = from_child[k];
      if (!read_all(fd, &s, sizeof s) || !read_all(fd, &n, sizeof n)) return 1;
      std::vector<double> samples(n);
      if (!read_all(fd, samples.data(), n * sizeof(double))) return 1;
      hb_us.insert(hb_us.end(), samples.begin(), samples.end());
      all.saved += s.saved;
      all.failed += s.failed;
      all.cpu_s += s.cpu_s;
    }
    secs = seconds_since(started);
    for (const pid_t pid : children) waitpid(pid, nullptr, 0);
  }
  const std::size_t total = o.senders * o.messages * o.recipients;
  std::printf(
      "saves: %zu of %zu messages saved in %.3f s: %.0f saves/s (%zu senders x %zu "
      "recipients outstanding, %zu refused, %zu load generator processes)\n",
      all.saved, total, secs, static_cast<double>(all.saved) / secs, o.senders, o.recipients,
      all.failed, procs);
  const double per = all.saved > 0 ? 1e6 / static_cast<double>(all.saved) : 0;
  if (cpu && o.server_pid > 0) {
    const double server = process_cpu_seconds(o.server_pid) - cpu->server0;
    std::printf(
        "saves: server CPU %.2f s (%.1f us per save), load generator CPU %.2f s (%.1f us per "
        "save)\n",
        server, server * per, all.cpu_s, all.cpu_s * per);
  }
  if (o.heartbeats) {
    const auto p = percentiles(hb_us);
    std::printf(
        "saves: request (find) round trip during the flood: %zu samples, p50 %.0f us, "
        "p99 %.0f us\n",
        hb_us.size(), p.p50, p.p99);
  }
  std::fflush(stdout);
  return all.saved == total ? 0 : 1;
}

}  // namespace udpchat::bench
