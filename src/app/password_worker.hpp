// password_worker.hpp: the server's Argon2id worker (password_jobs.hpp), a
// thread that runs PasswordJobs off the event loop, one at a time (each
// holds 64 MiB), and hands each outcome to `on_done` from that thread: the
// shell posts it to its event loop. ServerCore bounds the jobs in flight.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "core/password_jobs.hpp"

namespace udpchat {

class PasswordWorker {
 public:
  using OnDone = std::function<void(PasswordOutcome)>;

  PasswordWorker(crypto::PasswordCost cost, OnDone on_done)
      : cost_(cost), on_done_(std::move(on_done)), thread_([this] { run(); }) {}
  ~PasswordWorker() { stop(); }
  PasswordWorker(const PasswordWorker&) = delete;
  PasswordWorker& operator=(const PasswordWorker&) = delete;

  /// Queues `jobs` behind the others; returns at once.
  void submit(std::vector<PasswordJob> jobs) {
    if (jobs.empty()) return;
    {
      const std::lock_guard lock(mutex_);
      for (auto& j : jobs) queue_.push_back(std::move(j));
    }
    wake_.notify_one();
  }

  /// Drops what is queued (its requests are retransmitted to the next
  /// server), finishes the job running, joins the thread. Idempotent.
  void stop() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
      queue_.clear();
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    for (;;) {
      PasswordJob job;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      on_done_(run_password_job(job, cost_));
    }
  }

  crypto::PasswordCost cost_;
  OnDone on_done_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<PasswordJob> queue_;
  bool stopping_ = false;
  std::thread thread_;  ///< last: starts once the rest is built
};

}  // namespace udpchat
