#include "store/store_writer.hpp"

#include <utility>

namespace udpchat {

StoreWriter::StoreWriter(OfflineStore& store, OnDone on_done)
    : store_(store), on_done_(std::move(on_done)), thread_([this] { run(); }) {}

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
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) {
        return;  // stopping, and everything queued is committed
      }
      batch.clear();
      std::swap(batch, queue_);
    }
    std::vector<StoreCompletion> done = apply_batch(store_, batch);
    {
      const std::lock_guard lock(mutex_);
      ++batches_;
      commands_ += batch.size();
    }
    on_done_(std::move(done));
  }
}

}  // namespace udpchat
