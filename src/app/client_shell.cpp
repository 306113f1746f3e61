// client_shell.cpp: the asio shell around ClientSession: one UDP socket, one
// timer for the session's deadline, standard input, SIGINT/SIGTERM.
//
// Standard input: on a terminal, Terminal (terminal.hpp: libedit in
// callback mode) reads keys on the io thread, shows the ">>> " prompt and
// redraws the typed line under each incoming message (manual §4). Otherwise a reader
// thread reads whole lines (pipes, files, /dev/null all work; epoll cannot
// watch regular files) and posts them to the io thread.
//
// manual §4.10: with --json each event is one JSON object per line instead
// of its ">>> " line, and standard input is read as whole lines even on a
// terminal (no prompt, no line editing), so a program sees only JSON.
#include <asio.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <thread>

#include "app/client_identity.hpp"
#include "app/json_events.hpp"
#include "app/net.hpp"
#include "app/shell.hpp"
#include "app/terminal.hpp"

#include "core/client/secure_client.hpp"
#include "crypto/key_file.hpp"
#include "protocol/text.hpp"
#include "store/batch_writer.hpp"
#include "store/sqlite_client_store.hpp"

namespace udpchat {
namespace {

using asio::ip::udp;

class ClientShell {
 public:
  ClientShell(std::shared_ptr<asio::io_context> io, udp::socket socket, SecureClient& session,
              LogLevel level, std::string known_servers, std::string server_name,
              std::string known_peers, bool json, ClientStore& store, bool inline_store)
      : known_peers_(std::move(known_peers)),
        io_(std::move(io)),
        socket_(std::move(socket)),
        session_(session),
        known_servers_(std::move(known_servers)),
        server_name_(std::move(server_name)),
        timer_(*io_),
        signals_(*io_, SIGINT, SIGTERM),
        level_(level),
        json_(json),
        tty_(!json && isatty(STDIN_FILENO) == 1),
        stdin_(*io_),
        writer_(
            [&store](const std::vector<ClientStoreCommand>& batch) { return store.apply(batch); },
            [io = io_, this](std::vector<ClientStoreCompletion> done) {
              // From the writer thread: into the event loop.
              asio::post(*io, [this, done = std::move(done)] {
                if (done_) return;
                session_.session().on_store_completion(done, Clock::now());
                pump();
              });
            }),
        store_(store),
        inline_store_(inline_store) {
    asio::error_code ec;
    const auto local = socket_.local_endpoint(ec);
    protocol_ = !ec && local.address().is_v6() ? udp::v6() : udp::v4();
  }

  int run() {
    session_.start(Clock::now());
    pump();
    asio::co_spawn(*io_, receive_loop(), asio::detached);
    wait_signal();
    if (tty_) {
      terminal_.start();
      stdin_.assign(::dup(STDIN_FILENO));
      wait_terminal();
    } else {
      start_reader_thread();
    }
    io_->run();
    writer_.stop();  // what was shown is marked shown before the process ends
    if (tty_) terminal_.stop();
    return session_.exit_status().value_or(0);
  }

 private:
  // --- standard input ---------------------------------------------------------
  void start_reader_thread() {
    // The thread owns a reference to the io_context, so a line read after
    // the shell ended is posted into a context that still exists (and is
    // never run). The thread is detached: process exit ends it.
    std::thread([io = io_, this] {
      std::string line;
      while (std::getline(std::cin, line)) {
        asio::post(*io, [this, line] { on_line(line); });
      }
      asio::post(*io, [this] { on_end_of_input(); });
    }).detach();
  }

  void wait_terminal() {
    stdin_.async_wait(asio::posix::stream_descriptor::wait_read, [this](asio::error_code ec) {
      if (ec || done_) return;
      const bool secret = terminal_.reading_secret();
      if (auto input = terminal_.on_readable()) {
        if (input->end_of_input) {
          on_end_of_input();
        } else {
          on_line(input->line);  // a second password prompt turns the echo off again
          if (secret) std::fill(input->line.begin(), input->line.end(), '\0');
        }
      }
      if (!done_) wait_terminal();
    });
  }

  void on_line(const std::string& line) {
    if (done_) return;
    session_.on_line(line, Clock::now());
    pump();
  }

  void on_end_of_input() {
    if (done_) return;
    session_.on_quit(Clock::now());
    pump();
  }

  // --- output -------------------------------------------------------------------
  void print_events(const std::vector<UserEvent>& events) {
    if (events.empty()) return;
    if (tty_ && !done_) {
      // Clear the line being typed, print, then redraw prompt and typed text.
      terminal_.erase_typed_line();
    }
    // A password prompt among them: the echo goes off before it is written
    // (a terminal's stdout is line-buffered: each line shows at its
    // newline), so nothing typed after it is echoed.
    if (tty_ && !done_ && !terminal_.reading_secret() && session_.session().wants_secret_line()) {
      terminal_.begin_secret_line();
    }
    for (const auto& e : events) {
      const std::string text = json_ ? event_json(e) : e.line;
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fputc('\n', stdout);
    }
    std::fflush(stdout);
    if (tty_ && !done_ && !session_.exit_status()) terminal_.redraw();
  }

  void pump() {
    for (;;) {
      // Send, then print: an ack leaves only once its message is in the
      // client's store (manual §4.11, docs/RELIABILITY.md), so a crash
      // between the two shows the message at the next start and never
      // loses it; sending first keeps the terminal's write off the ack's
      // path. The store's commands are committed on the writer thread
      // when each commit waits for an fsync (--store-sync full), else
      // here, after this round's datagrams are sent and lines printed.
      std::vector<ClientStoreCommand> commands = session_.session().take_store_commands();
      if (!inline_store_) writer_.submit(std::move(commands));
      save_pins();
      for (auto& out : session_.take_outgoing(Clock::now())) {
        asio::error_code ec;
        const udp::endpoint to = to_asio(out.to, protocol_, ec);
        if (!ec) socket_.send_to(asio::buffer(out.bytes), to, 0, ec);
        if (ec)
          write_log(level_, LogLevel::kDebug,
                    "send to " + out.to.to_string() + ": " + ec.message());
      }
      for (const auto& rec : session_.take_logs()) {
        write_log(level_, rec.level, rec.text);
      }
      print_events(session_.take_events());
      if (!inline_store_ || commands.empty()) break;
      session_.session().on_store_completion(store_.apply(commands), Clock::now());
    }
    if (session_.exit_status() && !done_) {
      done_ = true;
      socket_.close();
      timer_.cancel();
      signals_.cancel();
      if (tty_) {
        stdin_.cancel();
        terminal_.erase_typed_line();
        std::fflush(stdout);
      }
      return;
    }
    const auto deadline = session_.next_deadline();
    if (deadline && deadline != armed_) {  // re-arming costs a timerfd_settime
      armed_ = deadline;
      timer_.expires_at(*deadline);
      timer_.async_wait([this](asio::error_code ec) {
        if (ec == asio::error::operation_aborted || done_) return;
        armed_.reset();
        session_.on_timeout(Clock::now());
        pump();
      });
    }
  }

  /// A key that could not be pinned is trusted anew at the next start, so
  /// the user is told, once per file (manual §9, troubleshooting).
  void pin_failed(const std::string& whose, const std::string& why) {
    write_log(level_, LogLevel::kWarn, why);
    if (!pin_failures_said_.insert(why).second) return;
    print_events({UserEvent{"error", {}, ">>> [Could not pin " + whose + ": " + why + ".]"}});
  }

  void save_pins() {
    for (const auto& [nick_key, key] : session_.session().take_new_pins()) {
      // manual §8: a peer's key pinned at first sight, or trusted anew.
      if (auto r = crypto::pin_server_key(known_peers_, nick_key, key); !r) {
        pin_failed("the key of " + nick_key, r.error());
      }
    }
    if (const auto pin = session_.take_new_pin(); pin && !known_servers_.empty()) {
      // Trust on first use (manual §9): the key the server proved is pinned.
      if (auto r = crypto::pin_server_key(known_servers_, server_name_, *pin); !r) {
        pin_failed("the server's key", r.error());
      } else {
        write_log(level_, LogLevel::kInfo,
                  "pinned the key of " + server_name_ + " in " + known_servers_);
      }
    }
  }

  // --- network and signals ----------------------------------------------------------
  asio::awaitable<void> receive_loop() {
    std::array<char, 65536> buffer{};
    udp::endpoint from;
    while (!done_) {
      asio::error_code ec;
      const std::size_t n = co_await socket_.async_receive_from(
          asio::buffer(buffer), from, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || done_) co_return;
      if (ec) {
        // e.g. ICMP port unreachable after sending to a dead peer (Linux
        // reports it on the next receive); the ack timeout handles it.
        write_log(level_, LogLevel::kDebug, "receive: " + ec.message());
        continue;
      }
      session_.on_datagram(std::string_view(buffer.data(), n), to_endpoint(from), Clock::now());
      pump();
    }
  }

  void wait_signal() {
    signals_.async_wait([this](asio::error_code ec, int) {
      if (ec || done_) return;
      if (quit_requested_) {
        // Second signal: leave at once.
        const UserEvent exiting{"exiting", {}, ">>> [Exiting]"};
        std::fputs(((json_ ? event_json(exiting) : exiting.line) + "\n").c_str(), stdout);
        std::fflush(stdout);
        std::_Exit(1);
      }
      quit_requested_ = true;
      session_.on_quit(Clock::now());
      pump();
      if (!done_) {
        wait_signal();  // a second signal leaves at once
      }
    });
  }

  std::string known_peers_;  ///< the peer keys pinned (beside the key file)
  std::shared_ptr<asio::io_context> io_;
  udp::socket socket_;
  SecureClient& session_;
  std::string known_servers_;  ///< empty: the server key came from --server-key
  std::string server_name_;
  asio::steady_timer timer_;
  asio::signal_set signals_;
  LogLevel level_;
  bool json_;  ///< --json: events as JSON lines, input as whole lines
  bool tty_;
  asio::posix::stream_descriptor stdin_;
  bool done_ = false;
  bool quit_requested_ = false;
  Terminal terminal_;  ///< standard input when it is a terminal (tty_)
  /// manual §4.11: the client's own store, written on a thread of its own.
  BatchWriter<ClientStoreCommand, ClientStoreCompletion> writer_;
  ClientStore& store_;
  /// --store-sync normal: a commit waits for no fsync, so the commands are
  /// applied on this thread: no hand-off to the writer and back between a
  /// message and its ack (docs/DECISIONS.md). The write-ahead log's
  /// checkpoint (every ~1,000 pages, two fsyncs) runs here too.
  bool inline_store_;
  std::set<std::string> pin_failures_said_;  ///< pin failures already printed
  udp protocol_ = udp::v4();                 ///< the socket's, for each datagram's address
  std::optional<TimePoint> armed_;           ///< the deadline the timer waits for
};

/// docs/NAT.md: the socket's own address towards `server`, as the kernel
/// picks it (a connected UDP socket's name: connect() sends nothing), with
/// the socket's port; empty if it cannot tell. This is the "host
/// candidate" of ICE (RFC 8445 section 5.1.1.1).
Endpoint local_address_towards(udp::socket& socket, const udp::endpoint& server) {
  asio::error_code ec;
  const udp::endpoint bound = socket.local_endpoint(ec);
  if (ec) return {};
  if (!bound.address().is_unspecified()) return to_endpoint(bound);
  udp::socket probe(socket.get_executor());
  probe.open(bound.protocol(), ec);
  if (!ec) probe.connect(server, ec);
  const udp::endpoint named = ec ? udp::endpoint{} : probe.local_endpoint(ec);
  if (ec || named.address().is_unspecified()) return {};
  Endpoint local = to_endpoint(named);
  local.port = bound.port();
  return local;
}

}  // namespace

int run_client(const ClientOptions& options) {
  const LogLevel level = options.common.log_level;
  auto io = std::make_shared<asio::io_context>();
  asio::error_code ec;
  udp::resolver resolver(*io);
  const auto results =
      resolver.resolve(options.server_host, std::to_string(options.server_port), ec);
  if (ec || results.empty()) {
    std::cerr << "udpchat: cannot resolve server address '" << options.server_host
              << "': " << ec.message() << "\n";
    return 1;
  }
  // Bind the family of the server's address unless told otherwise.
  std::string bind = options.common.bind;
  udp::endpoint server = results.begin()->endpoint();
  if (!bind.empty()) {
    const auto b = asio::ip::make_address(bind, ec);
    for (const auto& r : results) {
      if (r.endpoint().address().is_v6() == b.is_v6()) {
        server = r.endpoint();
        break;
      }
    }
  } else {
    bind = server.address().is_v6() ? "::" : "0.0.0.0";
  }
  const asio::ip::address address = asio::ip::make_address(bind, ec);
  udp::socket socket(*io);
  const udp::endpoint local(address, options.client_port);
  if (!ec) socket.open(local.protocol(), ec);
  if (!ec) socket.bind(local, ec);
  if (ec) {
    std::cerr << "udpchat: cannot bind UDP " << bind << " port " << options.client_port << ": "
              << ec.message() << "\n";
    return 1;
  }
  ClientConfig config;
  config.nick = options.nick;
  config.server = to_endpoint(server);
  for (const auto& [host, port] : options.other_servers) {
    // docs/CLUSTER.md: the other servers of its cluster, in the family bound.
    const auto found = resolver.resolve(host, std::to_string(port), ec);
    const auto match = std::find_if(found.begin(), found.end(), [&server](const auto& r) {
      return r.endpoint().address().is_v6() == server.address().is_v6();
    });
    if (ec || match == found.end()) {
      std::cerr << "udpchat: cannot resolve server address '" << host << "'"
                << (ec ? ": " + ec.message() : std::string(" in the family of the first server"))
                << "\n";
      return 1;
    }
    config.other_servers.push_back(to_endpoint(match->endpoint()));
  }
  config.ack_timeout = options.common.ack_timeout;
  config.server_retries = options.common.server_retries;
  config.heartbeat = options.common.heartbeat;
  config.max_pending_per_peer = options.max_pending;
  config.nat_keepalive = options.nat_keepalive;
  config.local = local_address_towards(socket, server);
  std::random_device rd;
  const std::uint64_t seed = (static_cast<std::uint64_t>(rd()) << 32U) ^ rd();
  // manual §9: the client's key, the server key it trusts, its pins.
  auto id = load_client_identity(options, config.server.to_string());
  if (!id) {
    std::cerr << "udpchat: " << id.error().line << "\n";
    return id.error().status;
  }
  config.password = id->password;
  if (auto r = route_client_log(options, id->key_file); !r) {
    std::cerr << "udpchat: " << r.error() << "\n";
    return 1;
  }
  // manual §4.11: the client's own store beside its key file; what it took
  // and never showed is shown first.
  const std::string store_path = SqliteClientStore::path_for_key_file(id->key_file);
  auto store = SqliteClientStore::open(
      store_path, options.store_sync_full ? StoreSync::kFull : StoreSync::kNormal);
  if (!store) {
    if (store.error().in_use) {
      // The same key file twice on this machine: the same nickname, so
      // the server's refusal line, said at once (docs/DECISIONS.md).
      const UserEvent refused{
          "registration_refused", {}, ">>> [Nickname " + options.nick + " is already in use.]"};
      std::fputs(((options.json ? event_json(refused) : refused.line) + "\n").c_str(), stdout);
      std::fflush(stdout);
    }
    std::cerr << "udpchat: " << store.error().line << "\n";
    return 1;
  }
  config.durable_store = true;
  config.keep_history = !options.no_history;
  config.history_days = options.history_days;
  config.unshown = (*store)->unshown();
  config.peer_pins = std::move(id->pins);
  config.random = crypto::system_random();  // box nonces: 192 random bits each
  SecureClient session(config, seed, std::move(id->security));
  ClientShell shell(io, std::move(socket), session, level, id->known_servers,
                    config.server.to_string(), id->known_peers, options.json, **store,
                    !options.store_sync_full);
  return shell.run();
}

}  // namespace udpchat
