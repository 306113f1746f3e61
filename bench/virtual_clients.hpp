// virtual_clients.hpp: the load generator's engine. `Load` runs virtual
// clients, each a real ClientSession (the state machine and codec of
// `udpchat -c`) on its own non-blocking UDP socket, over one epoll and one
// timer heap, in the calling thread. Sockets are spread over 127.0.0.2,
// .3, ... (25,000 a loopback address: each has ~28k ephemeral ports).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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

#include "app/datagram_io.hpp"
#include "core/client/client_session.hpp"
#include "core/client/secure_client.hpp"
#include "protocol/codec.hpp"

namespace udpchat::bench {

/// One virtual client: a ClientSession behind its secure session with the
/// server (SecureClient, as `udpchat -c` runs it), and its socket.
struct Virtual {
  std::unique_ptr<SecureClient> secure;
  ClientSession* session = nullptr;  ///< secure->session()
  int fd = -1;
  std::uint64_t tables = 0;  ///< "[Client table updated.]" lines
  std::vector<std::string> lines;
  bool keep_lines = false;
};

class Load {
 public:
  /// Virtual clients of the server at 127.0.0.1:`server_port`, announcing
  /// heartbeats every `heartbeat_ms`, trying each request to the server
  /// `server_retries` times.
  Load(std::uint16_t server_port, int heartbeat_ms, int server_retries = kDefaultServerRetries)
      : heartbeat_ms_(heartbeat_ms),
        server_retries_(server_retries),
        server_{"127.0.0.1", server_port} {
    epoll_ = epoll_create1(0);
    if (epoll_ < 0) die("epoll_create1");
  }

  /// Creates a client `nick` and registers it; `key`: its key pair, as read
  /// from its key file (a new one is made when none is given). With
  /// `start` false the client only gets its socket and session, and
  /// `start(i)` registers it later.
  std::size_t add(const std::string& nick, bool keep_lines = false,
                  std::optional<crypto::KeyPair> key = std::nullopt, bool start = true) {
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
    local.sin_addr.s_addr =
        htonl((127U << 24) | (first_address + static_cast<unsigned>(i / 25000)));
    if (bind(v.fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) die("bind");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, v.fd, &ev) != 0) die("epoll_ctl");
    ClientConfig c;
    c.nick = nick;
    c.server = server_;
    c.heartbeat = std::chrono::milliseconds(heartbeat_ms_);
    c.server_retries = server_retries_;
    c.max_pending_per_peer = 100000;
    c.random = crypto::system_random();
    // Each its own key pair; the server key is pinned when server_key
    // says it (a returning user's client), else learnt at first contact
    // (a new user's).
    SecurityConfig security;
    security.pinned = server_key;
    security.random = crypto::system_random();
    security.key = key ? *key : crypto::generate_keypair(security.random);
    security.clock_ns = [] {
      return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
    };
    v.secure =
        std::make_unique<SecureClient>(c, 0x9E3779B97F4A7C15ULL * (i + 1), std::move(security));
    v.session = &v.secure->session();
    clients_.push_back(std::move(v));
    if (start) this->start(i);
    return i;
  }

  /// Registers client `i` (made by add with `start` false).
  void start(std::size_t i) {
    clients_[i].secure->start(Clock::now());
    flush(i);
  }

  void type(std::size_t i, const std::string& line) {
    clients_[i].secure->on_line(line, Clock::now());
    flush(i);
  }

  /// Runs until `done()` or `limit` passed; returns done().
  template <typename Done>
  bool run(Done&& done, std::chrono::duration<double> limit) {
    const auto end = Clock::now() + std::chrono::duration_cast<Duration>(limit);
    std::vector<epoll_event> events(1024);
    const int capacity = static_cast<int>(events.size());
    while (!done()) {
      if (Clock::now() >= end) return done();
      int wait_ms = 10;
      if (!timers_.empty()) {
        // Rounded up: a timer due in less than a millisecond is waited
        // for, not spun on (epoll_wait with 0 in a loop took CPU the
        // server under test needed).
        const auto until =
            std::chrono::ceil<std::chrono::milliseconds>(timers_.top().first - Clock::now())
                .count();
        wait_ms = static_cast<int>(std::clamp<long long>(until, 0, 10));
      }
      // Datagrams before timers: each virtual client stands for a process
      // of its own, which reads a datagram as it arrives, long before its
      // retransmission timer; here they wait for one thread. So what is
      // in the sockets is read first (for at most kDrainLimit), then the
      // timers that are still due fire.
      const auto drain_end = Clock::now() + kDrainLimit;
      int n = epoll_wait(epoll_, events.data(), capacity, wait_ms);
      while (n > 0) {
        for (int k = 0; k < n; ++k) receive(events[static_cast<std::size_t>(k)].data.u64);
        if (Clock::now() >= drain_end) break;
        n = epoll_wait(epoll_, events.data(), capacity, 0);
      }
      fire_timers(Clock::now());
    }
    return true;
  }

  /// The server of the clients added from now on, 127.0.0.1:`port` (one
  /// load generator with clients at several servers of a cluster).
  void use_server(std::uint16_t port) { server_ = Endpoint{"127.0.0.1", port}; }

  /// The last byte of the first loopback address used (127.0.0.N): several
  /// load generators at once each take their own addresses.
  unsigned first_address = 2;
  /// The server key every client added from now on pins (unset: each
  /// learns it at first contact).
  std::optional<crypto::Key> server_key;
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

  /// Reads every datagram waiting at client `i`'s socket into its session
  /// (recvmmsg: one system call for all of them, and none to find the
  /// socket empty when fewer than a batch were waiting).
  void receive(std::size_t i) {
    Virtual& v = clients_[i];
    for (;;) {
      int error = 0;
      const std::size_t n = receiver_.receive(v.fd, error);
      for (std::size_t k = 0; k < n; ++k) {
        ++received_;
        v.secure->on_datagram(receiver_.datagram(k), endpoint_of(receiver_.source(k)),
                              Clock::now());
      }
      if (n < kDatagramBatch) break;
    }
    flush(i);
  }

  /// How long run() reads datagrams before it lets due timers fire.
  static constexpr Duration kDrainLimit = std::chrono::milliseconds(100);

  void flush(std::size_t i) {
    Virtual& v = clients_[i];
    const std::vector<Outgoing> out = v.secure->take_outgoing(Clock::now());
    sent_ += send_datagrams(v.fd, AF_INET, out, [](const Outgoing&, int) {});
    for (auto& line : v.session->take_lines()) {
      if (line == ">>> [Client table updated.]") ++v.tables;
      if (line_hook) line_hook(i, line);
      if (v.keep_lines) v.lines.push_back(std::move(line));
    }
    v.session->take_logs();
    v.session->take_new_pins();  // no known_peers file here
    if (const auto t = v.session->next_deadline()) timers_.emplace(*t, i);
  }

  void fire_timers(TimePoint now) {
    while (!timers_.empty() && timers_.top().first <= now) {
      const auto [t, i] = timers_.top();
      timers_.pop();
      const auto due = clients_[i].session->next_deadline();
      if (!due || *due > now) continue;  // stale entry: a newer one is queued
      clients_[i].secure->on_timeout(now);
      flush(i);
    }
  }

  int heartbeat_ms_;
  int server_retries_;
  Endpoint server_;
  int epoll_ = -1;
  DatagramReceiver receiver_;  ///< one set of buffers for every client's socket
  std::vector<Virtual> clients_;
  using Timer = std::pair<TimePoint, std::size_t>;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::uint64_t received_ = 0, sent_ = 0;
};

/// Raises RLIMIT_NOFILE to hold `need` sockets (root may raise the hard limit).
inline void raise_file_limit(std::size_t need) {
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

/// Waits (bounded) until clients [first, load.size()) are registered.
inline bool wait_registered(Load& load, std::size_t first, double timeout_s) {
  std::size_t ready = first;
  const bool ok = load.run(
      [&] {
        while (ready < load.size() && load.at(ready).session->registered()) ++ready;
        return ready == load.size();
      },
      std::chrono::duration<double>(timeout_s));
  if (!ok) {
    // Say which one, and whether it gave up ("[Server not responding]").
    std::fprintf(
        stderr, "udpchat_loadgen: %s (client %zu of %zu) not registered after %.0f s%s\n",
        load.at(ready).session->nick().c_str(), ready + 1, load.size(), timeout_s,
        load.at(ready).session->exit_status() ? ": it gave up (Server not responding)" : "");
  }
  return ok;
}

}  // namespace udpchat::bench
