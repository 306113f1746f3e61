// server_shell.cpp: the asio shell around ServerCore: one UDP socket, one
// timer for the core's deadline, signals (SIGINT/SIGTERM: shut down;
// SIGUSR1: statistics), the store writer thread (group commit) and two
// worker threads (Argon2id passwords, handshake arithmetic) whose outcomes
// are posted back to the event loop. The core is only touched
// from the io_context's thread; the event loop never waits on the disk.
#include <asio.hpp>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>
#include <iostream>
#include <random>

#include <sys/socket.h>

#include "app/datagram_io.hpp"
#include "app/job_worker.hpp"
#include "app/metrics_http.hpp"
#include "app/net.hpp"
#include "app/server_store.hpp"
#include "app/shell.hpp"
#include "core/server/secure_server.hpp"
#include "core/server/server_core.hpp"
#include "core/server/server_metrics.hpp"
#include "store/pg_listener.hpp"
#include "store/pg_store.hpp"
#include "store/sqlite_store.hpp"
#include "store/store_writer.hpp"

namespace udpchat {
namespace {

using asio::ip::udp;

std::int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Socket buffers of kSocketBufferBytes each way: the kernel charges each
/// queued datagram its whole buffer (about 1 KiB for a 20-byte ack), so the
/// default 208 KiB holds only ~200 of them, and a burst of acks from a
/// thousand clients would be dropped before the server reads it. As root the
/// size is forced past net.core.rmem_max; otherwise the kernel caps it.
constexpr int kSocketBufferBytes = 16 * 1024 * 1024;

void size_socket_buffers(udp::socket& socket) {
  const int fd = socket.native_handle();
  const int size = kSocketBufferBytes;
  for (const auto& [force, plain] :
       {std::pair{SO_RCVBUFFORCE, SO_RCVBUF}, std::pair{SO_SNDBUFFORCE, SO_SNDBUF}}) {
    if (setsockopt(fd, SOL_SOCKET, force, &size, sizeof size) != 0) {
      (void)setsockopt(fd, SOL_SOCKET, plain, &size, sizeof size);
    }
  }
}

class ServerShell {
 public:
  /// `poll_every`: how often the writer reads the changes of the other
  /// servers sharing `store` (zero: a store of one server).
  ServerShell(asio::io_context& io, udp::socket socket, SecureServer& secure, OfflineStore& store,
              LogLevel level, std::chrono::milliseconds poll_every)
      : io_(io),
        socket_(std::move(socket)),
        secure_(secure),
        family_(socket_.local_endpoint().protocol().family()),
        core_(secure.core()),
        timer_(io),
        level_(level),
        signals_(io, SIGINT, SIGTERM),
        usr1_(io, SIGUSR1),
        writer_(
            store,
            [this](std::vector<ClusterChange> changes, std::vector<StoreCompletion> done) {
              // From the writer thread: hand them to the event loop, changes first.
              asio::post(io_, [this, changes = std::move(changes), done = std::move(done)] {
                on_completions(changes, done);
              });
            },
            poll_every),
        passwords_([cost = crypto::interactive_cost()](
                       const PasswordJob& j) { return run_password_job(j, cost); },
                   [this](PasswordOutcome o) {
                     asio::post(io_, [this, o = std::move(o)] {
                       core_.on_password_done(o, Clock::now());
                       pump();
                     });
                   }),
        handshakes_([keys = secure.gate().handshake_keys(), random = crypto::system_random()](
                        const HandshakeJob& j) { return run_handshake_job(j, keys, random); },
                    [this](HandshakeOutcome o) {
                      asio::post(io_, [this, o = std::move(o)] {
                        secure_.on_handshake_done(o, Clock::now());
                        pump();
                      });
                    }) {
    secure_.offload_handshakes(true);
  }

  /// Commits what is still queued and ends the writer and worker threads.
  void stop_writer() {
    handshakes_.stop();
    passwords_.stop();
    writer_.stop();
  }

  /// docs/CLUSTER.md: another server committed changes (from the
  /// listener's thread): the writer reads them as soon as it is idle.
  void changes_notified() { writer_.poll_now(); }
  /// The store writer's figures, for the metrics page (thread-safe).
  [[nodiscard]] StoreWriterFigures writer_figures() const {
    return {writer_.commands(), writer_.batches()};
  }

  /// One statistics line: store commands and the transactions (group
  /// commits) they took.
  [[nodiscard]] std::string writer_report() const {
    return "statistics: store writer: " + std::to_string(writer_.commands()) + " commands in " +
           std::to_string(writer_.batches()) + " transactions\n";
  }

  void run() {
    pump();
    asio::co_spawn(io_, receive_loop(), asio::detached);
    wait_signal();
    wait_usr1();
    io_.run();
  }

 private:
  asio::awaitable<void> receive_loop() {
    // Datagrams are read in batches (recvmmsg) when the socket is readable;
    // a full batch is followed by another read without a wait, after the
    // other handlers ready to run (timers, store completions).
    DatagramReceiver receiver;
    bool more = false;
    // The socket is closed by pump() once shutdown completes, possibly from
    // inside this loop's own iteration: stop then, not on the next error.
    while (socket_.is_open()) {
      asio::error_code ec;
      if (more) {
        co_await asio::post(io_, asio::redirect_error(asio::use_awaitable, ec));
      } else {
        co_await socket_.async_wait(udp::socket::wait_read,
                                    asio::redirect_error(asio::use_awaitable, ec));
      }
      if (ec == asio::error::operation_aborted || !socket_.is_open()) {
        co_return;
      }
      int error = 0;
      const std::size_t n = receiver.receive(socket_.native_handle(), error);
      more = n == kDatagramBatch;
      if (error != 0) {
        // ICMP port unreachable from an earlier send shows up here on some
        // systems; it is not fatal for a datagram socket.
        write_log(level_, LogLevel::kDebug, std::string("receive: ") + std::strerror(error));
        continue;
      }
      // Each datagram's answers go out before the next is handled (one
      // sendmmsg for all it caused: a post's fan-out is a burst of them).
      // Sending once per batch instead was 5 to 15 % more deliveries a
      // second, but a datagram then waited for those handled after it: the
      // service time p99 during a save flood went from 40 us to 1-2 ms.
      for (std::size_t i = 0; i < n && socket_.is_open(); ++i) {
        const auto started = Clock::now();
        secure_.on_datagram(receiver.datagram(i), endpoint_of(receiver.source(i)), started);
        pump();
        core_.stats().record_service_time(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started)
                .count());
      }
    }
  }

  void on_completions(const std::vector<ClusterChange>& changes,
                      const std::vector<StoreCompletion>& done) {
    const auto now = Clock::now();
    if (!changes.empty()) core_.on_changes(changes, now);
    for (const auto& c : done) {
      core_.on_store_completion(c, now);
    }
    pump();
  }

  void pump() {
    writer_.submit(core_.take_store_commands());
    passwords_.submit(core_.take_password_jobs());
    handshakes_.submit(secure_.take_handshake_jobs());
    const std::vector<Outgoing> out = secure_.take_outgoing(Clock::now());
    if (!out.empty() && socket_.is_open()) {
      send_datagrams(socket_.native_handle(), family_, out, [this](const Outgoing& o, int error) {
        write_log(level_, LogLevel::kDebug,
                  "send to " + o.to.to_string() + ": " + std::strerror(error));
      });
    }
    for (const auto& rec : core_.take_logs()) {
      write_log(level_, rec.level, rec.text);
    }
    if (stopping_ && (core_.shutdown_complete() || Clock::now() >= stop_deadline_)) {
      socket_.close();
      timer_.cancel();
      signals_.cancel();
      usr1_.cancel();
      return;
    }
    arm_timer();
  }

  /// Waits for the core's next deadline. The timer is set again only when
  /// that deadline moves earlier (or none is set): a later one is found
  /// when the earlier fires, and most datagrams leave it where it is.
  void arm_timer() {
    auto deadline = secure_.next_deadline();
    if (stopping_) {
      deadline = deadline ? std::min(*deadline, stop_deadline_) : stop_deadline_;
    }
    if (!deadline || (armed_ && *armed_ <= *deadline)) {
      return;
    }
    armed_ = *deadline;
    timer_.expires_at(*deadline);
    timer_.async_wait([this](asio::error_code ec) {
      if (ec == asio::error::operation_aborted) {
        return;
      }
      armed_.reset();
      secure_.on_timeout(Clock::now());
      pump();
    });
  }

  void wait_signal() {
    signals_.async_wait([this](asio::error_code ec, int signo) {
      if (ec) {
        return;
      }
      if (stopping_) {
        write_log(level_, LogLevel::kWarn, "second signal: stopping now");
        stop_deadline_ = Clock::now();
        pump();
        return;
      }
      write_log(level_, LogLevel::kInfo,
                std::string("received ") + (signo == SIGINT ? "SIGINT" : "SIGTERM"));
      stopping_ = true;
      // Long enough for every client to ack the notice inside one ack window.
      stop_deadline_ = Clock::now() + std::chrono::milliseconds(1500);
      core_.begin_shutdown(Clock::now());
      pump();
      if (socket_.is_open()) {
        wait_signal();  // a second signal stops at once
      }
    });
  }

  void wait_usr1() {
    usr1_.async_wait([this](asio::error_code ec, int) {
      if (ec) {
        return;
      }
      std::fputs(secure_.stats_report().c_str(), stdout);
      std::fputs(writer_report().c_str(), stdout);
      std::fflush(stdout);
      if (socket_.is_open()) {
        wait_usr1();
      }
    });
  }

  asio::io_context& io_;
  udp::socket socket_;
  SecureServer& secure_;
  int family_;  ///< the socket's address family: AF_INET or AF_INET6
  ServerCore& core_;
  asio::steady_timer timer_;
  LogLevel level_;
  asio::signal_set signals_;
  asio::signal_set usr1_;
  bool stopping_ = false;
  TimePoint stop_deadline_{};
  std::optional<TimePoint> armed_;  ///< the deadline timer_ waits for, if any
  StoreWriter writer_;                                 ///< its thread starts once the rest is built
  JobWorker<PasswordJob, PasswordOutcome> passwords_;  ///< Argon2id off the event loop (§9)
  /// Noise IK responder arithmetic off the event loop (handshake_jobs.hpp).
  JobWorker<HandshakeJob, HandshakeOutcome> handshakes_;
};

}  // namespace

int run_server(const ServerOptions& options) {
  const LogLevel level = options.common.log_level;
  if (!options.common.log_file.empty()) {
    if (auto r = log_to_file(options.common.log_file); !r) {
      std::cerr << "udpchat: cannot write the log file " << options.common.log_file << ": "
                << r.error() << "\n";
      return 1;
    }
  }
  auto store = open_server_store(options);
  if (!store) {
    std::cerr << "udpchat: cannot open the store: " << store.error().what << "\n";
    return 1;
  }
  asio::io_context io;
  asio::error_code ec;
  const std::string bind = options.common.bind.empty() ? "0.0.0.0" : options.common.bind;
  const asio::ip::address address = asio::ip::make_address(bind, ec);
  udp::socket socket(io);
  const udp::endpoint local(address, options.port);
  if (!ec) socket.open(local.protocol(), ec);
  if (!ec) socket.bind(local, ec);
  if (ec) {
    std::cerr << "udpchat: cannot bind UDP " << bind << " port " << options.port << ": "
              << ec.message() << "\n";
    return 1;
  }
  size_socket_buffers(socket);
  ServerConfig config;
  config.ack_timeout = options.common.ack_timeout;
  config.retries = options.common.server_retries;
  config.wall_clock_ms = wall_clock_ms;
  config.max_clients = options.max_clients;
  config.max_stored_per_client = options.max_stored;
  config.max_posts_per_minute = options.max_posts_per_minute;
  config.max_log_posts = options.max_log_posts;
  config.log_retention = options.log_retention;
  config.table_batch = options.table_batch;
  config.full_table_limit = options.full_table_limit;
  config.fanout_window = options.fanout_window;
  auto* pg_store = dynamic_cast<PgStore*>(store->get());
  if (pg_store != nullptr) {
    // docs/CLUSTER.md: one of the servers sharing the database.
    config.server_id = pg_store->origin();
    config.store_numbers = true;
  }
  auto key = load_server_key(options, **store);
  if (!key) {
    std::cerr << "udpchat: " << key.error() << "\n";
    return 1;
  }
  ServerCore core(config, std::random_device{}() * 0x100000000ULL + std::random_device{}());
  GateConfig gate;
  gate.rate_limit = options.rate_limit;
  gate.handshake_rate = options.handshake_rate;
  gate.max_sessions = 2 * options.max_clients + 1024;
  SecureServer secure(core, key->pair, gate, crypto::system_random());
  const auto state = (*store)->load();
  if (!state) {
    std::cerr << "udpchat: cannot read the store: " << state.error().what << "\n";
    return 1;
  }
  core.start(*state, Clock::now());
  const std::string listening = to_endpoint(socket.local_endpoint()).to_string();
  // docs/CLUSTER.md: the others' changes are read at least this often.
  constexpr std::chrono::milliseconds kClusterPoll{250};
  ServerShell shell(io, std::move(socket), secure, **store, level,
                    pg_store != nullptr ? kClusterPoll : std::chrono::milliseconds(0));
  // ... and at once when another server's commit notifies.
  std::unique_ptr<PgListener> listener;
  if (pg_store != nullptr) {
    listener =
        std::make_unique<PgListener>(pg_store->conninfo(), [&shell] { shell.changes_notified(); });
  }
  // manual §6.10: the page is rendered on the event loop's thread, which
  // owns the state; the HTTP thread waits for it.
  std::unique_ptr<MetricsHttp> metrics;
  if (options.metrics_port != 0) {
    try {
      metrics = std::make_unique<MetricsHttp>(
          options.metrics_host, options.metrics_port,
          [&io, &secure, &shell]() -> std::optional<std::string> {
            auto done = std::make_shared<std::promise<std::string>>();
            auto page = done->get_future();
            asio::post(io, [done, &secure, &shell] {
              done->set_value(openmetrics_text(secure, shell.writer_figures()));
            });
            if (page.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
              return std::nullopt;
            }
            return page.get();
          });
    } catch (const std::runtime_error& e) {
      std::cerr << "udpchat: " << e.what() << "\n";
      shell.stop_writer();
      return 1;
    }
  }
  std::error_code fs_ec;
  const auto data_dir = std::filesystem::absolute(options.data_dir, fs_ec).lexically_normal();
  std::printf("udpchat server listening on %s, data directory %s\n", listening.c_str(),
              data_dir.c_str());
  std::fflush(stdout);
  write_log(level, LogLevel::kInfo,
            "server key " + crypto::to_hex(key->pair.public_key) + " (" + key->origin + ")");
  if (auto* pg = dynamic_cast<PgStore*>(store->get()); pg != nullptr) {
    write_log(level, LogLevel::kInfo, "store: " + pg->describe());
  }
  if (metrics) {
    write_log(level, LogLevel::kInfo,
              "metrics on http://" + options.metrics_host + ":" +
                  std::to_string(options.metrics_port) + "/metrics");
  }
  shell.run();
  metrics.reset();   // no page is asked of a stopped event loop
  listener.reset();  // no wake-up for a writer about to stop
  shell.stop_writer();
  for (const auto& rec : core.take_logs()) {
    write_log(level, rec.level, rec.text);
  }
  if (auto* sqlite = dynamic_cast<SqliteStore*>(store->get()); sqlite != nullptr) {
    if (auto r = sqlite->checkpoint(); !r) {
      write_log(level, LogLevel::kWarn, "store checkpoint: " + r.error().what);
    }
  }
  std::fputs(secure.stats_report().c_str(), stdout);
  std::fputs(shell.writer_report().c_str(), stdout);
  std::fflush(stdout);
  write_log(level, LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace udpchat
