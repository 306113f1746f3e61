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
//
// A store shared by several servers (docs/CLUSTER.md) also hands over the
// changes the others made: read at the start of each transaction (they come
// before that batch's completions, in the cluster's order) and, while there
// is nothing to write, every `poll_every` (a lost notification delays a
// change by that much at most) or at once after `poll_now`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "core/server/cluster_change.hpp"
#include "core/server/store_ops.hpp"

namespace udpchat {

class StoreWriter {
 public:
  /// The others' changes first, then the completions of one batch (either
  /// may be empty).
  using OnDone = std::function<void(std::vector<ClusterChange>, std::vector<StoreCompletion>)>;

  /// Starts the writer thread over `store` (which it alone uses from now
  /// on, until `stop`); `poll_every`: how often an idle writer reads the
  /// others' changes (zero: never, a store of one server).
  StoreWriter(OfflineStore& store, OnDone on_done,
              std::chrono::milliseconds poll_every = std::chrono::milliseconds(0));
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  /// Queues `commands` (in ticket order, after everything queued before).
  void submit(std::vector<StoreCommand> commands);
  /// Commits what is queued, then ends the thread. Idempotent.
  void stop();
  /// Reads the others' changes as soon as the writer is idle (a
  /// notification came).
  void poll_now();

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
  bool poll_requested_ = false;
  std::chrono::milliseconds poll_every_;
  std::uint64_t batches_ = 0;
  std::uint64_t commands_ = 0;
  std::thread thread_;
};

}  // namespace udpchat
