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
//       N clients register and keep heartbeating for T seconds.
//   udpchat_loadgen saves --server-port P --senders M --recipients R --messages K
//       R recipients register and deregister; M senders then each send K
//       messages to every recipient (one in flight per sender and
//       recipient, so M x R saves outstanding); prints saves per second.
//       With --heartbeats, one more client measures its heartbeat round
//       trips during the flood (p50/p99, microseconds).
//   udpchat_loadgen pingpong --server-port P --messages K --bytes B
//       two clients; K direct sends of B bytes one after the other: the
//       time from typing to "[Message received by ...]" (p50/p99, us).
//   udpchat_loadgen bare --messages K --bytes B
//       the baseline: a bare UDP ping-pong of the same size between two
//       sockets of this process (p50/p99 round trip, us).
//   udpchat_loadgen sqlite --dir D --rows N --batch B
//       the baseline: SQLite's own insert rate (WAL, synchronous=FULL) of
//       rows shaped like udpchat's messages, B rows per transaction.
// Every mode stops by itself (timeouts bound every wait).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <vector>

#include "core/client_session.hpp"
#include "protocol/codec.hpp"

using namespace udpchat;

namespace {

struct Options {
  std::string mode;
  std::uint16_t server_port = 0;
  std::size_t clients = 0;
  std::size_t senders = 0;
  std::size_t messages = 0;
  std::string to;
  std::size_t recipients = 1;
  std::size_t bytes = 100;
  std::size_t batch = 100;
  std::string dir;
  std::string samples;  ///< pingpong/bare: write every sample (us) here
  bool heartbeats = false;
  std::string prefix = "v";
  std::size_t rows = 0;  ///< rows each must hold to count as converged (0: all N)
  double timeout_s = 60;
  double hold_s = 10;
  int heartbeat_ms = 30000;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "udpchat_loadgen: %s\nusage: udpchat_loadgen storm|online|saves|pingpong|bare|sqlite "
               "--server-port P "
               "[--clients N] [--rows R] [--timeout-s T] [--heartbeat-ms H] [--hold-s T] "
               "[--senders M --recipients R --messages K] [--heartbeats] [--bytes B] [--batch B] "
               "[--dir D] [--samples FILE] [--prefix P]\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  if (argc < 2) usage("no mode");
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--heartbeats") {
      o.heartbeats = true;
      continue;
    }
    if (i + 1 >= argc) usage("an option needs a value");
    const std::string v = argv[++i];
    if (a == "--server-port")
      o.server_port = static_cast<std::uint16_t>(std::stoul(v));
    else if (a == "--clients")
      o.clients = std::stoul(v);
    else if (a == "--senders")
      o.senders = std::stoul(v);
    else if (a == "--messages")
      o.messages = std::stoul(v);
    else if (a == "--to")
      o.to = v;
    else if (a == "--recipients")
      o.recipients = std::stoul(v);
    else if (a == "--bytes")
      o.bytes = std::stoul(v);
    else if (a == "--batch")
      o.batch = std::stoul(v);
    else if (a == "--dir")
      o.dir = v;
    else if (a == "--samples")
      o.samples = v;
    else if (a == "--prefix")
      o.prefix = v;
    else if (a == "--rows")
      o.rows = std::stoul(v);
    else if (a == "--timeout-s")
      o.timeout_s = std::stod(v);
    else if (a == "--hold-s")
      o.hold_s = std::stod(v);
    else if (a == "--heartbeat-ms")
      o.heartbeat_ms = std::stoi(v);
    else
      usage(("unknown option " + a).c_str());
  }
  if (o.server_port == 0 && o.mode != "bare" && o.mode != "sqlite") {
    usage("--server-port is required");
  }
  return o;
}

/// One virtual client: a ClientSession and its socket.
struct Virtual {
  std::unique_ptr<ClientSession> session;
  int fd = -1;
  std::uint64_t tables = 0;  ///< "[Client table updated.]" lines
  std::vector<std::string> lines;
  bool keep_lines = false;
};

class Load {
 public:
  explicit Load(const Options& o) : o_(o), server_{"127.0.0.1", o.server_port} {
    epoll_ = epoll_create1(0);
    if (epoll_ < 0) die("epoll_create1");
  }

  /// Creates a client `nick` and registers it.
  std::size_t add(const std::string& nick, bool keep_lines = false) {
    const std::size_t i = clients_.size();
    Virtual v;
    v.keep_lines = keep_lines;
    v.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (v.fd < 0) die("socket (raise the file limit?)");
    // Big enough for a snapshot of thousands of rows in one burst.
    const int buf = 4 << 20;
    if (setsockopt(v.fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) != 0) {
      setsockopt(v.fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    }
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_port = 0;
    // 127.0.0.2 + i / 25000: each loopback address has ~28k ephemeral ports.
    local.sin_addr.s_addr = htonl((127U << 24) | (2U + static_cast<unsigned>(i / 25000)));
    if (bind(v.fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) die("bind");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, v.fd, &ev) != 0) die("epoll_ctl");
    ClientConfig c;
    c.nick = nick;
    c.server = server_;
    c.heartbeat = std::chrono::milliseconds(o_.heartbeat_ms);
    c.max_pending_per_peer = 100000;
    v.session = std::make_unique<ClientSession>(c, 0x9E3779B97F4A7C15ULL * (i + 1));
    clients_.push_back(std::move(v));
    clients_.back().session->start(Clock::now());
    flush(i);
    return i;
  }

  void type(std::size_t i, const std::string& line) {
    clients_[i].session->on_line(line, Clock::now());
    flush(i);
  }

  /// Runs until `done()` or `limit` passed; returns done().
  template <typename Done>
  bool run(Done&& done, std::chrono::duration<double> limit) {
    const auto end = Clock::now() + std::chrono::duration_cast<Duration>(limit);
    std::vector<epoll_event> events(1024);
    char buf[2048];
    while (!done()) {
      const auto now = Clock::now();
      if (now >= end) return done();
      fire_timers(now);
      int wait_ms = 10;
      if (!timers_.empty()) {
        const auto until = std::chrono::duration_cast<std::chrono::milliseconds>(
                               timers_.top().first - Clock::now())
                               .count();
        wait_ms = static_cast<int>(std::clamp<long long>(until, 0, 10));
      }
      const int n = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), wait_ms);
      for (int k = 0; k < n; ++k) {
        const std::size_t i = events[static_cast<std::size_t>(k)].data.u64;
        Virtual& v = clients_[i];
        for (;;) {
          sockaddr_in from{};
          socklen_t len = sizeof from;
          const ssize_t got =
              recvfrom(v.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
          if (got < 0) break;
          ++received_;
          char addr[INET_ADDRSTRLEN];
          inet_ntop(AF_INET, &from.sin_addr, addr, sizeof addr);
          v.session->on_datagram(std::string_view(buf, static_cast<std::size_t>(got)),
                                 Endpoint{addr, ntohs(from.sin_port)}, Clock::now());
        }
        flush(i);
      }
    }
    return true;
  }

  /// Called with every line a client prints (optional).
  std::function<void(std::size_t, const std::string&)> line_hook;

  [[nodiscard]] std::size_t size() const { return clients_.size(); }
  [[nodiscard]] const Virtual& at(std::size_t i) const { return clients_[i]; }
  [[nodiscard]] std::uint64_t received() const { return received_; }
  [[nodiscard]] std::uint64_t sent() const { return sent_; }

 private:
  [[noreturn]] static void die(const char* what) {
    std::fprintf(stderr, "udpchat_loadgen: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
  }

  void flush(std::size_t i) {
    Virtual& v = clients_[i];
    for (auto& out : v.session->take_outgoing()) {
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_port = htons(out.to.port);
      inet_pton(AF_INET, out.to.address.c_str(), &to.sin_addr);
      if (sendto(v.fd, out.bytes.data(), out.bytes.size(), 0, reinterpret_cast<sockaddr*>(&to),
                 sizeof to) >= 0) {
        ++sent_;
      }
    }
    for (auto& line : v.session->take_lines()) {
      if (line == ">>> [Client table updated.]") ++v.tables;
      if (line_hook) line_hook(i, line);
      if (v.keep_lines) v.lines.push_back(std::move(line));
    }
    v.session->take_logs();
    if (const auto t = v.session->next_deadline()) timers_.emplace(*t, i);
  }

  void fire_timers(TimePoint now) {
    while (!timers_.empty() && timers_.top().first <= now) {
      const auto [t, i] = timers_.top();
      timers_.pop();
      const auto due = clients_[i].session->next_deadline();
      if (!due || *due > now) continue;  // stale entry: a newer one is queued
      clients_[i].session->on_timeout(now);
      flush(i);
    }
  }

  Options o_;
  Endpoint server_;
  int epoll_ = -1;
  std::vector<Virtual> clients_;
  using Timer = std::pair<TimePoint, std::size_t>;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::uint64_t received_ = 0, sent_ = 0;
};

void raise_file_limit(std::size_t need) {
  rlimit r{};
  getrlimit(RLIMIT_NOFILE, &r);
  const rlim_t want = static_cast<rlim_t>(need + 64);
  if (r.rlim_cur < want) {
    r.rlim_cur = std::min<rlim_t>(want, r.rlim_max < want ? want : r.rlim_max);
    if (r.rlim_max < want) r.rlim_max = want;  // root may raise the hard limit
    if (setrlimit(RLIMIT_NOFILE, &r) != 0) {
      std::fprintf(stderr, "udpchat_loadgen: cannot raise the file limit to %zu: %s\n", need,
                   std::strerror(errno));
      std::exit(1);
    }
  }
}

double seconds_since(TimePoint t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

int storm(const Options& o) {
  if (o.clients == 0) usage("storm needs --clients");
  raise_file_limit(o.clients);
  Load load(o);
  const std::size_t rows = o.rows == 0 ? o.clients : o.rows;
  const auto started = Clock::now();
  for (std::size_t i = 0; i < o.clients; ++i) load.add(o.prefix + std::to_string(i));
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
  std::printf(
      "storm: %zu clients %s in %.3f s; datagrams to clients %llu (%.1f per registration), "
      "from clients %llu (%.1f per registration)\n",
      o.clients, ok ? "converged" : "NOT converged", secs,
      static_cast<unsigned long long>(load.received()),
      static_cast<double>(load.received()) / static_cast<double>(o.clients),
      static_cast<unsigned long long>(load.sent()),
      static_cast<double>(load.sent()) / static_cast<double>(o.clients));
  if (!ok) {
    std::printf("storm: %zu of %zu clients converged before the timeout\n", next_check, o.clients);
  }
  std::fflush(stdout);
  return ok ? 0 : 1;
}

int online(const Options& o) {
  if (o.clients == 0) usage("online needs --clients");
  raise_file_limit(o.clients);
  Load load(o);
  const auto started = Clock::now();
  for (std::size_t i = 0; i < o.clients; ++i) load.add(o.prefix + std::to_string(i));
  std::size_t registered = 0;
  const bool ok = load.run(
      [&] {
        while (registered < load.size() && load.at(registered).session->registered()) ++registered;
        return registered == load.size();
      },
      std::chrono::duration<double>(o.timeout_s));
  std::printf("online: %zu of %zu clients registered in %.3f s\n", registered, o.clients,
              seconds_since(started));
  std::fflush(stdout);
  load.run([] { return false; }, std::chrono::duration<double>(o.hold_s));
  std::size_t still = 0;
  for (std::size_t i = 0; i < load.size(); ++i) still += load.at(i).session->registered() ? 1 : 0;
  std::printf("online: %zu clients still registered after %.1f s of heartbeats\n", still, o.hold_s);
  std::fflush(stdout);
  return ok && still == o.clients ? 0 : 1;
}

struct Percentiles {
  double p50 = 0, p99 = 0;
};

void write_samples(const std::string& path, const std::vector<double>& v) {
  if (path.empty()) return;
  if (std::FILE* f = std::fopen(path.c_str(), "w")) {
    for (const double x : v) std::fprintf(f, "%.2f\n", x);
    std::fclose(f);
  }
}

Percentiles percentiles(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  const auto at = [&v](double p) {
    return v[static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1))];
  };
  return {at(50), at(99)};
}

double us_since(TimePoint t) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t).count();
}

/// Registers clients [first, load.size()) and waits (bounded) for them.
bool wait_registered(Load& load, std::size_t first, double timeout_s) {
  std::size_t ready = first;
  return load.run(
      [&] {
        while (ready < load.size() && load.at(ready).session->registered()) ++ready;
        return ready == load.size();
      },
      std::chrono::duration<double>(timeout_s));
}

int saves(const Options& o) {
  if (o.senders == 0 || o.messages == 0) usage("saves needs --senders and --messages");
  raise_file_limit(o.senders + o.recipients + 2);
  Load load(o);
  std::vector<std::string> to;
  for (std::size_t r = 0; r < o.recipients; ++r) {
    to.push_back(o.prefix + "r" + std::to_string(r));
    load.add(to.back());
  }
  if (!wait_registered(load, 0, o.timeout_s)) return 1;
  for (std::size_t r = 0; r < o.recipients; ++r) load.type(r, "dereg");
  load.run([] { return false; }, std::chrono::duration<double>(0.5));
  const std::size_t first_sender = load.size();
  for (std::size_t i = 0; i < o.senders; ++i) load.add(o.prefix + "s" + std::to_string(i));
  std::size_t probe = 0;
  if (o.heartbeats) {
    // One more client whose heartbeats (every 10 ms) are timed.
    probe = load.add(o.prefix + "probe");
  }
  if (!wait_registered(load, first_sender, o.timeout_s)) return 1;
  std::size_t saved = 0, failed = 0;
  load.line_hook = [&](std::size_t, const std::string& l) {
    if (l == ">>> [Messages received by the server and saved]")
      ++saved;
    else if (l.starts_with(">>> [Server could not") || l.starts_with(">>> [Unknown"))
      ++failed;
  };
  const auto started = Clock::now();
  for (std::size_t i = 0; i < o.senders; ++i) {
    for (std::size_t k = 0; k < o.messages; ++k) {
      for (const auto& r : to) load.type(first_sender + i, "send " + r + " m" + std::to_string(k));
    }
  }
  const std::size_t total = o.senders * o.messages * o.recipients;
  std::vector<double> hb_us;
  if (o.heartbeats) {
    // Heartbeats of the probe: a send to nobody is not needed; its session
    // sends one every --heartbeat-ms; we time them from the outside by
    // typing `list x` (a find: one request, one answer) in a loop.
    std::optional<TimePoint> asked;
    load.line_hook = [&, inner = load.line_hook](std::size_t i, const std::string& l) {
      inner(i, l);
      if (i == probe && asked && l.starts_with(">>> [0 of ")) {
        hb_us.push_back(us_since(*asked));
        asked.reset();
      }
    };
    load.run(
        [&] {
          if (!asked && saved + failed < total) {
            asked = Clock::now();
            load.type(probe, "list zzzzzz");
          }
          return saved + failed >= total;
        },
        std::chrono::duration<double>(o.timeout_s));
  } else {
    load.run([&] { return saved + failed >= total; }, std::chrono::duration<double>(o.timeout_s));
  }
  const double secs = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf(
      "saves: %zu of %zu messages saved in %.3f s: %.0f saves/s (%zu senders x %zu "
      "recipients outstanding, %zu refused)\n",
      saved, total, secs, static_cast<double>(saved) / secs, o.senders, o.recipients, failed);
  if (o.heartbeats) {
    const auto p = percentiles(hb_us);
    std::printf(
        "saves: request (find) round trip during the flood: %zu samples, p50 %.0f us, "
        "p99 %.0f us\n",
        hb_us.size(), p.p50, p.p99);
  }
  std::fflush(stdout);
  return saved == total ? 0 : 1;
}

int pingpong(const Options& o) {
  Load load(o);
  const std::size_t a = load.add(o.prefix + "ping");
  const std::size_t b = load.add(o.prefix + "pong");
  if (!wait_registered(load, 0, o.timeout_s)) return 1;
  // Both must hold each other's row (whole table) before timing.
  load.run(
      [&] { return load.at(a).session->rows_held() >= 2 && load.at(b).session->rows_held() >= 2; },
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
    load.type(a, "send " + o.prefix + "pong " + text);
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

int bare(const Options& o) {
  // Two sockets of this process, one datagram back and forth: the floor
  // the direct send is compared with (same loop, same sizes; the bytes are
  // those of a Chat datagram carrying a message of --bytes).
  const std::string payload =
      encode(Chat{0x1234567890ABCDEFULL, "ping", std::string(o.bytes, 'x')});
  // Non-blocking sockets behind epoll, as the virtual clients are: the
  // same system calls per datagram (epoll_wait, recvfrom, sendto).
  int fds[2];
  sockaddr_in addr[2]{};
  const int ep = epoll_create1(0);
  for (int k = 0; k < 2; ++k) {
    fds[k] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = static_cast<std::uint64_t>(k);
    epoll_ctl(ep, EPOLL_CTL_ADD, fds[k], &ev);
    addr[k].sin_family = AF_INET;
    addr[k].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fds[k], reinterpret_cast<sockaddr*>(&addr[k]), sizeof addr[k]);
    socklen_t len = sizeof addr[k];
    getsockname(fds[k], reinterpret_cast<sockaddr*>(&addr[k]), &len);
  }
  std::vector<double> us;
  char buf[2048];
  const std::string ack = encode(Ack{0x1234567890ABCDEFULL, AckStatus::kOk, 0, {}});
  const auto receive = [&](int k) {
    for (;;) {
      epoll_event ev{};
      if (epoll_wait(ep, &ev, 1, 1000) == 1 && static_cast<int>(ev.data.u64) == k &&
          recvfrom(fds[k], buf, sizeof buf, 0, nullptr, nullptr) > 0) {
        return;
      }
    }
  };
  for (std::size_t k = 0; k < o.messages + 100; ++k) {
    const auto t0 = Clock::now();
    sendto(fds[0], payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&addr[1]),
           sizeof addr[1]);
    receive(1);
    sendto(fds[1], ack.data(), ack.size(), 0, reinterpret_cast<sockaddr*>(&addr[0]),
           sizeof addr[0]);
    receive(0);
    if (k >= 100) us.push_back(us_since(t0));
  }
  write_samples(o.samples, us);
  const auto p = percentiles(us);
  std::printf("bare: %zu UDP ping-pongs of %zu and 20 bytes, round trip p50 %.1f us, p99 %.1f us\n",
              us.size(), payload.size(), p.p50, p.p99);
  std::fflush(stdout);
  return 0;
}

int sqlite_baseline(const Options& o) {
  // SQLite alone: the same WAL and synchronous=FULL as the server's store,
  // rows shaped like its messages, --batch rows per transaction.
  if (o.dir.empty()) usage("sqlite needs --dir");
  const std::string path = o.dir + "/baseline.db";
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return 1;
  sqlite3_exec(
      db,
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
      "CREATE TABLE IF NOT EXISTS messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
      "sender TEXT NOT NULL, sender_key TEXT NOT NULL, recipient TEXT NOT NULL, "
      "mid INTEGER NOT NULL, body BLOB, saved_at_ms INTEGER NOT NULL, "
      "delivered INTEGER NOT NULL DEFAULT 0, UNIQUE (sender_key, mid)); "
      "CREATE INDEX IF NOT EXISTS messages_waiting ON messages (recipient, delivered, seq);",
      nullptr, nullptr, nullptr);
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT INTO messages (sender, sender_key, recipient, mid, body, saved_at_ms) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     -1, &ins, nullptr);
  const std::string body(o.bytes, 'x');
  const auto started = Clock::now();
  std::size_t done = 0;
  while (done < o.messages) {
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    for (std::size_t k = 0; k < o.batch && done < o.messages; ++k, ++done) {
      const std::string sender = "s" + std::to_string(done % 64);
      sqlite3_bind_text(ins, 1, sender.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(ins, 2, sender.c_str(), -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(ins, 3, "r0", -1, SQLITE_STATIC);
      sqlite3_bind_int64(ins, 4, static_cast<sqlite3_int64>(done));
      sqlite3_bind_blob(ins, 5, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
      sqlite3_bind_int64(ins, 6, 1700000000000);
      sqlite3_step(ins);
      sqlite3_reset(ins);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  const double secs = std::chrono::duration<double>(Clock::now() - started).count();
  sqlite3_finalize(ins);
  sqlite3_close(db);
  std::printf("sqlite: %zu rows of %zu bytes in batches of %zu in %.3f s: %.0f rows/s\n", done,
              o.bytes, o.batch, secs, static_cast<double>(done) / secs);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.mode == "storm") return storm(o);
  if (o.mode == "online") return online(o);
  if (o.mode == "saves") return saves(o);
  if (o.mode == "pingpong") return pingpong(o);
  if (o.mode == "bare") return bare(o);
  if (o.mode == "sqlite") return sqlite_baseline(o);
  usage(("unknown mode " + o.mode).c_str());
}
