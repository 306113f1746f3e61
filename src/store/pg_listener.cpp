// pg_listener.cpp: see pg_listener.hpp.
#include "store/pg_listener.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <chrono>

#include "store/pg_schema.hpp"

namespace udpchat {
namespace {

/// How long one wait for the socket lasts: the bound on how long `stop`
/// takes, and the retry spacing of a lost connection.
constexpr int kWaitMs = 250;
constexpr auto kReconnectEvery = std::chrono::seconds(1);

}  // namespace

PgListener::PgListener(std::string conninfo, std::function<void()> on_notified)
    : conninfo_(std::move(conninfo)),
      on_notified_(std::move(on_notified)),
      thread_([this] { run(); }) {}

PgListener::~PgListener() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void PgListener::run() {
  PGconn* conn = nullptr;
  auto next_connect = std::chrono::steady_clock::now();
  while (!stopping_) {
    if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
      if (std::chrono::steady_clock::now() < next_connect) {
        std::this_thread::sleep_for(std::chrono::milliseconds(kWaitMs));  // the retry spacing
        continue;
      }
      next_connect = std::chrono::steady_clock::now() + kReconnectEvery;
      if (conn != nullptr) PQfinish(conn);
      conn = PQconnectdb(conninfo_.c_str());
      if (PQstatus(conn) != CONNECTION_OK) continue;
      PGresult* r = PQexec(conn, (std::string("LISTEN ") + pg_schema::kChannel).c_str());
      const bool listening = PQresultStatus(r) == PGRES_COMMAND_OK;
      PQclear(r);
      if (!listening) {
        PQfinish(conn);
        conn = nullptr;
        continue;
      }
      on_notified_();  // what was committed while we did not listen: read it now
    }
    pollfd fd{PQsocket(conn), POLLIN, 0};
    if (::poll(&fd, 1, kWaitMs) <= 0) continue;
    if (PQconsumeInput(conn) == 0) continue;  // the connection broke: made again above
    bool any = false;
    while (PGnotify* n = PQnotifies(conn)) {
      any = true;
      PQfreemem(n);
    }
    if (any) {
      ++notified_;
      on_notified_();
    }
  }
  if (conn != nullptr) PQfinish(conn);
}

}  // namespace udpchat
