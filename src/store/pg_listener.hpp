// pg_listener.hpp: wakes a server when another server of its cluster
// committed changes (docs/CLUSTER.md, "The change table"): its own
// connection to PostgreSQL, `LISTEN udpchat_changes`, and a thread that
// calls `on_notified` for each notification. A notification only says
// "read now" (the writer reads the change table itself, and also polls it),
// so one lost while the connection was down delays a change, never loses
// it; a lost connection is made again every second.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace udpchat {

class PgListener {
 public:
  /// Starts listening on `conninfo` (a libpq connection string). Never
  /// throws for the database's sake: an unreachable database is retried.
  PgListener(std::string conninfo, std::function<void()> on_notified);
  ~PgListener();
  PgListener(const PgListener&) = delete;
  PgListener& operator=(const PgListener&) = delete;

  /// Notifications received so far (for tests and statistics).
  [[nodiscard]] std::uint64_t notified() const { return notified_.load(); }

 private:
  void run();

  std::string conninfo_;
  std::function<void()> on_notified_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> notified_{0};
  std::thread thread_;
};

}  // namespace udpchat
