#include "store/store_writer.hpp"

#include <utility>

namespace udpchat {

StoreWriter::StoreWriter(OfflineStore& store, OnDone on_done, std::chrono::milliseconds poll_every)
    : store_(store),
      on_done_(std::move(on_done)),
      poll_every_(poll_every),
      thread_([this] { run(); }) {}

StoreWriter::~StoreWriter() {
  stop();
}

void StoreWriter::submit(std::vector<StoreCommand> commands) {
  if (commands.empty()) {
    return;
  }
  {
    const std::lock_guard lock(mutex_);
    if (queue_.empty()) {
      queue_ = std::move(commands);
    } else {
      queue_.insert(queue_.end(), std::make_move_iterator(commands.begin()),
                    std::make_move_iterator(commands.end()));
    }
  }
  wake_.notify_one();
}

void StoreWriter::poll_now() {
  {
    const std::lock_guard lock(mutex_);
    poll_requested_ = true;
  }
  wake_.notify_one();
}

void StoreWriter::stop() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) {
    thread_.join();
  }
}

std::uint64_t StoreWriter::batches() const {
  const std::lock_guard lock(mutex_);
  return batches_;
}

std::uint64_t StoreWriter::commands() const {
  const std::lock_guard lock(mutex_);
  return commands_;
}

void StoreWriter::run() {
  std::vector<StoreCommand> batch;
  auto next_poll = std::chrono::steady_clock::now() + poll_every_;
  for (;;) {
    bool poll = false;
    {
      std::unique_lock lock(mutex_);
      const auto ready = [this] { return stopping_ || !queue_.empty() || poll_requested_; };
      if (poll_every_.count() > 0) {
        wake_.wait_until(lock, next_poll, ready);
      } else {
        wake_.wait(lock, ready);
      }
      if (queue_.empty() && stopping_) {
        return;  // stopping, and everything queued is committed
      }
      poll = queue_.empty();  // woken to read the others' changes, or time to
      poll_requested_ = false;
      batch.clear();
      std::swap(batch, queue_);
    }
    if (poll) {
      next_poll = std::chrono::steady_clock::now() + poll_every_;
      (void)store_.poll_changes();  // a failure: read again at the next poll or batch
      if (auto changes = store_.take_changes(); !changes.empty()) {
        on_done_(std::move(changes), {});
      }
      continue;
    }
    std::vector<StoreCompletion> done = apply_batch(store_, batch);
    {
      const std::lock_guard lock(mutex_);
      ++batches_;
      commands_ += batch.size();
    }
    on_done_(store_.take_changes(), std::move(done));
  }
}

}  // namespace udpchat
