// baselines.cpp: what the benchmarks compare udpchat with, measured in the
// same run: a bare UDP ping-pong through the same kind of loop, and
// SQLite's own insert rate with the store's schema and durability.
#include "bench/baselines.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench/measure.hpp"
#include "protocol/codec.hpp"

namespace udpchat::bench {

int bare_pingpong(std::size_t messages, std::size_t bytes, const std::string& samples) {
  // Two sockets of this process, one datagram back and forth: the floor
  // the direct send is compared with (same loop, same sizes; the bytes are
  // those of a Chat datagram carrying a message of --bytes).
  const std::string payload = encode(Chat{0x1234567890ABCDEFULL, "ping", std::string(bytes, 'x')});
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
  for (std::size_t k = 0; k < messages + 100; ++k) {
    const auto t0 = Clock::now();
    sendto(fds[0], payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&addr[1]),
           sizeof addr[1]);
    receive(1);
    sendto(fds[1], ack.data(), ack.size(), 0, reinterpret_cast<sockaddr*>(&addr[0]),
           sizeof addr[0]);
    receive(0);
    if (k >= 100) us.push_back(us_since(t0));
  }
  write_samples(samples, us);
  const auto p = percentiles(us);
  std::printf("bare: %zu UDP ping-pongs of %zu and 20 bytes, round trip p50 %.1f us, p99 %.1f us\n",
              us.size(), payload.size(), p.p50, p.p99);
  std::fflush(stdout);
  return 0;
}

int bare_oneway(std::size_t messages, std::size_t bytes) {
  // One socket sends Deliver-sized datagrams to another of this process
  // as fast as the receiver drains them (bursts of 32, then drain): the
  // rate a single-threaded loop moves datagrams one way on loopback.
  const std::string payload =
      encode(Deliver{0x1234567890ABCDEFULL, "sender", 42, std::string(bytes, 'x'), 0, kEveryone});
  int fds[2];
  sockaddr_in addr[2]{};
  for (int k = 0; k < 2; ++k) {
    fds[k] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    addr[k].sin_family = AF_INET;
    addr[k].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fds[k], reinterpret_cast<sockaddr*>(&addr[k]), sizeof addr[k]);
    socklen_t len = sizeof addr[k];
    getsockname(fds[k], reinterpret_cast<sockaddr*>(&addr[k]), &len);
  }
  const int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  epoll_ctl(ep, EPOLL_CTL_ADD, fds[1], &ev);
  char buf[2048];
  std::size_t sent = 0, received = 0;
  const auto started = Clock::now();
  while (received < messages) {
    for (int k = 0; k < 32 && sent < messages; ++k) {
      if (sendto(fds[0], payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&addr[1]),
                 sizeof addr[1]) > 0) {
        ++sent;
      }
    }
    epoll_event got{};
    if (epoll_wait(ep, &got, 1, sent < messages ? 0 : 100) <= 0 && sent >= messages) {
      break;  // the rest was dropped by a full buffer: count what came
    }
    while (recvfrom(fds[1], buf, sizeof buf, 0, nullptr, nullptr) > 0) ++received;
  }
  const double secs = std::chrono::duration<double>(Clock::now() - started).count();
  close(fds[0]);
  close(fds[1]);
  close(ep);
  std::printf("oneway: %zu datagrams of %zu bytes sent, %zu received in %.3f s: %.0f datagrams/s\n",
              sent, payload.size(), received, secs, static_cast<double>(received) / secs);
  std::fflush(stdout);
  return 0;
}

int sqlite_rate(const std::string& dir, std::size_t rows, std::size_t batch, std::size_t bytes) {
  // SQLite alone: the same WAL and synchronous=FULL as the server's store,
  // rows shaped like its rows, --batch rows per transaction.
  if (dir.empty()) return 2;
  const std::string path = dir + "/baseline.db";
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return 1;
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
               "CREATE TABLE IF NOT EXISTS rows (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
               "sender TEXT NOT NULL, sender_key TEXT NOT NULL, recipient TEXT NOT NULL, "
               "mid INTEGER NOT NULL, body BLOB, saved_at_ms INTEGER NOT NULL, "
               "delivered INTEGER NOT NULL DEFAULT 0, UNIQUE (sender_key, mid)); "
               "CREATE INDEX IF NOT EXISTS rows_waiting ON rows (recipient, delivered, seq);",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* ins = nullptr;
  sqlite3_prepare_v2(db,
                     "INSERT INTO rows (sender, sender_key, recipient, mid, body, saved_at_ms) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     -1, &ins, nullptr);
  const std::string body(bytes, 'x');
  const auto started = Clock::now();
  std::size_t done = 0;
  while (done < rows) {
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    for (std::size_t k = 0; k < batch && done < rows; ++k, ++done) {
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
              bytes, batch, secs, static_cast<double>(done) / secs);
  std::fflush(stdout);
  return 0;
}
}  // namespace udpchat::bench
