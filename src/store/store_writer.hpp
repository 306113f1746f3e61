// store_writer.hpp: the server's store writer, a thread that owns the
// store's connection and commits StoreCommands in groups (store_ops.hpp).
//
// `submit` queues commands from the event loop and returns at once. The
// writer thread takes everything queued, runs it as one transaction
// (apply_batch: one fsync of the write-ahead log for the whole batch), and
// hands the completions, in ticket order, to `on_done`, from the writer
// thread: the shell posts them to its event loop. While a batch commits,
// new commands queue for the next one, so the batch grows with the load
// (group commit). `stop` lets the writer finish what is queued, then joins
// it. Nothing here throws; a store failure is a failed completion.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/server/store_ops.hpp"

namespace udpchat {

class StoreWriter {
 public:
  using OnDone = std::function<void(std::vector<StoreCompletion>)>;

  /// Starts the writer thread over `store` (which it alone uses from now
  /// on, until `stop`).
  StoreWriter(OfflineStore& store, OnDone on_done);
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  /// Queues `commands` (in ticket order, after everything queued before).
  void submit(std::vector<StoreCommand> commands);
  /// Commits what is queued, then ends the thread. Idempotent.
  void stop();

  /// Figures for statistics: transactions committed and commands run.
  [[nodiscard]] std::uint64_t batches() const;
  [[nodiscard]] std::uint64_t commands() const;

 private:
  void run();

  OfflineStore& store_;
  OnDone on_done_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<StoreCommand> queue_;
  bool stopping_ = false;
  std::uint64_t batches_ = 0;
  std::uint64_t commands_ = 0;
  std::thread thread_;
};

}  // namespace udpchat
