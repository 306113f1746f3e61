// job_worker.hpp: a thread that runs the server's CPU-heavy jobs off the
// event loop, one at a time, in the order submitted, and hands each outcome
// to `on_done` from that thread (the shell posts it to its event loop).
// Two kinds run on one each: Argon2id password jobs (password_jobs.hpp; one
// at a time because each holds 64 MiB, ServerCore bounds those in flight)
// and handshake jobs (handshake_jobs.hpp; ServerGate bounds those).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace udpchat {

template <typename Job, typename Outcome>
class JobWorker {
 public:
  /// `run`: does one job (called on the worker thread only); `on_done`:
  /// given each outcome, on the worker thread.
  using Run = std::function<Outcome(const Job&)>;
  using OnDone = std::function<void(Outcome)>;

  JobWorker(Run run, OnDone on_done)
      : run_(std::move(run)), on_done_(std::move(on_done)), thread_([this] { loop(); }) {}
  ~JobWorker() { stop(); }
  JobWorker(const JobWorker&) = delete;
  JobWorker& operator=(const JobWorker&) = delete;

  /// Queues `jobs` behind the others; returns at once.
  void submit(std::vector<Job> jobs) {
    if (jobs.empty()) return;
    {
      const std::lock_guard lock(mutex_);
      for (auto& j : jobs) queue_.push_back(std::move(j));
    }
    wake_.notify_one();
  }

  /// Drops what is queued (a password job's request is retransmitted to
  /// the next server; a handshake's Init is sent again), finishes the job
  /// running, joins the thread. Idempotent.
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
  void loop() {
    for (;;) {
      Job job;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      on_done_(run_(job));
    }
  }

  Run run_;
  OnDone on_done_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::thread thread_;  ///< last: starts once the rest is built
};

}  // namespace udpchat
