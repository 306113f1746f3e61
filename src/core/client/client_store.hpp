// client_store.hpp: the client's own store (manual §4.11), as the core
// sees it: the commands it issues, their completions, and the interface a
// store implements (SQLite in src/store/sqlite_client_store.hpp, memory
// here for the tests and the simulation).
//
// A message taken from a peer or the server is written (kTake) and only
// acknowledged and shown once its write committed; then kMarkShown. The
// ids of what was taken survive restarts, so a copy that comes again (the
// ack was lost, the sender fell back to the server) is acknowledged and
// not shown; what was taken and never shown is shown at the next start.
// The same write-ahead discipline as a message queue's consumer that
// commits its offset with its effect (e.g. Kafka's exactly-once consumer,
// or the outbox pattern), applied at the screen.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace udpchat {

/// One message of the history, taken or sent.
struct HistoryEntry {
  bool outgoing = false;
  std::string sender_key{};      ///< nickname key of the sender (ours when outgoing)
  std::uint64_t mid = 0;         ///< the sender's message id: (sender_key, mid) is unique
  std::string conversation{};    ///< the peer's nickname key, "*" (channel) or "#<group key>"
  std::string from{};            ///< the sender as it shows
  std::string to{};              ///< outgoing: the peer or group as typed; else empty
  std::string group{};           ///< empty (direct), "*" or the group's name
  std::string text{};            ///< the opened text (empty once shown with --no-history)
  std::int64_t at_ms = 0;        ///< taken or sent, ms since the Unix epoch (client's clock)
  std::int64_t saved_at_ms = 0;  ///< a stored message: when the server saved it; else 0
  bool verified = true;          ///< false: an old message without end-to-end protection
  friend bool operator==(const HistoryEntry&, const HistoryEntry&) = default;
};

enum class ClientStoreOp : std::uint8_t {
  kTake,        ///< insert `entry` unless (sender_key, mid) is there: `fresh` says which
  kMarkShown,   ///< (sender_key, mid) was shown; `forget_text` (--no-history) drops its text
  kRecordSent,  ///< insert the outgoing `entry` (history only)
  kHistory,     ///< the last `limit` entries of `entry.conversation`, oldest first
  kPrune,       ///< drop texts before `text_before_ms`, then ids before `ids_before_ms`
  kSize,        ///< how many entries, how many with their text, bytes on disk
};

/// How long the ids of what was taken are kept once its text is gone
/// (--no-history, or --history-days): a copy of a message can come again
/// while the server still holds one, at most as long as it keeps the
/// channel's log for an absent member (its --log-retention-days default).
inline constexpr std::int64_t kTakenIdDays = 30;

struct ClientStoreCommand {
  std::uint64_t ticket = 0;
  ClientStoreOp op = ClientStoreOp::kTake;
  HistoryEntry entry{};
  bool forget_text = false;
  std::size_t limit = 0;
  /// kPrune (wall clock, ms since the Unix epoch; 0: none): the text of
  /// shown and sent entries older than `text_before_ms` is dropped, then
  /// shown and sent entries without text older than `ids_before_ms` are
  /// deleted. An entry taken and never shown is never touched.
  std::int64_t text_before_ms = 0;
  std::int64_t ids_before_ms = 0;
};

/// What became of one command. `ok` false: not written (`error` says why).
struct ClientStoreCompletion {
  std::uint64_t ticket = 0;
  ClientStoreOp op = ClientStoreOp::kTake;
  bool ok = true;
  std::string error{};
  bool fresh = false;                ///< kTake: the message was not there before
  std::vector<HistoryEntry> rows{};  ///< kHistory
  std::uint64_t total = 0;           ///< kHistory: entries in the conversation; kPrune:
                                     ///< entries deleted; kSize: entries kept
  std::uint64_t with_text = 0;       ///< kSize: entries that still have their text
  std::uint64_t bytes = 0;           ///< kSize: the store's size on disk (0: in memory)
};

/// The store's side. Implementations commit each `apply` batch as one
/// transaction (one fsync for the batch: group commit) before returning.
class ClientStore {
 public:
  virtual ~ClientStore() = default;
  /// Runs `commands` in order and commits; one completion per command, in
  /// order. A failed commit fails every write of the batch.
  virtual std::vector<ClientStoreCompletion> apply(
      const std::vector<ClientStoreCommand>& commands) = 0;
  /// What was taken and never marked shown, in the order taken.
  virtual std::vector<HistoryEntry> unshown() = 0;
};

/// A ClientStore in memory: a process's "disk" in the tests, kept across
/// the simulated crashes of its client. `fail_writes`: every write fails.
class MemoryClientStore final : public ClientStore {
 public:
  std::vector<ClientStoreCompletion> apply(
      const std::vector<ClientStoreCommand>& commands) override;
  std::vector<HistoryEntry> unshown() override;
  bool fail_writes = false;
  /// Entries in insertion order, and whether each was shown.
  std::vector<std::pair<HistoryEntry, bool>> entries;

 private:
  std::map<std::pair<std::string, std::uint64_t>, std::size_t> index_;  ///< in, by key
};

}  // namespace udpchat
