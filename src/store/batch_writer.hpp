// batch_writer.hpp: a thread that owns a store and runs the commands an
// event loop submits, in batches (group commit), handing back completions.
//
// `submit` queues and returns at once. The thread takes everything queued,
// runs it through `apply` (one transaction: one fsync for the batch) and
// hands the completions, in order, to `on_done` from its own thread (the
// shell posts them to its event loop). While a batch commits, new commands
// queue for the next one, so batches grow with the load. `stop` lets the
// thread finish what is queued, then joins it. The client's own store uses
// it (manual §4.11); StoreWriter is the server's equivalent.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace udpchat {

template <typename Command, typename Completion>
class BatchWriter {
 public:
  using Apply = std::function<std::vector<Completion>(const std::vector<Command>&)>;
  using OnDone = std::function<void(std::vector<Completion>)>;

  /// Starts the thread; `apply` runs on it only.
  BatchWriter(Apply apply, OnDone on_done)
      : apply_(std::move(apply)), on_done_(std::move(on_done)), thread_([this] { run(); }) {}
  ~BatchWriter() { stop(); }
  BatchWriter(const BatchWriter&) = delete;
  BatchWriter& operator=(const BatchWriter&) = delete;

  /// Queues `commands` after everything queued before.
  void submit(std::vector<Command> commands) {
    if (commands.empty()) return;
    {
      const std::lock_guard lock(mutex_);
      queue_.insert(queue_.end(), std::make_move_iterator(commands.begin()),
                    std::make_move_iterator(commands.end()));
    }
    wake_.notify_one();
  }

  /// Runs what is queued, then ends the thread. Idempotent.
  void stop() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    std::vector<Command> batch;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything queued ran
        batch.clear();
        std::swap(batch, queue_);
      }
      on_done_(apply_(batch));
    }
  }

  Apply apply_;
  OnDone on_done_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Command> queue_;
  bool stopping_ = false;
  std::thread thread_;  ///< last: started once everything above exists
};

}  // namespace udpchat
