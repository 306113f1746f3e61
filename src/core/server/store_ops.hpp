// store_ops.hpp: the server's storage work as values, and group commit.
//
// The server core never calls its store and waits (the event loop must not
// wait on the disk). Like etcd's raft library, whose state machine hands the
// application the entries to persist in a `Ready` and is told when they are
// durable, ServerCore hands its shell `StoreCommand`s and receives one
// `StoreCompletion` per command. A store writer (src/store/store_writer.hpp)
// runs everything pending in one transaction and commits it with one fsync
// (group commit, as databases commit their write-ahead log); an
// acknowledgement that depends on durability is sent only once the
// completion of the transaction that made its data durable came back.
//
// Contract between core and writer:
//  - commands are executed in ticket order, and completions come back in
//    ticket order (one writer, FIFO), possibly late and in bursts;
//  - a completion is sent only after the transaction holding its command
//    committed: a success means durable (it survives SIGKILL and power loss);
//  - a failure fails its own command (and, when the store had to roll the
//    whole transaction back, every command of that transaction so far):
//    it never silently drops a command;
//  - a crash loses the commands not yet committed and no completion of
//    them arrives; the core's state is rebuilt from the store at restart.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "core/server/offline_store.hpp"

namespace udpchat {

/// Store the message durably; completes with a SaveOutcome (the seq it
/// is stored under: the store's, which the core goes by).
struct SaveOp {
  StoredMessage message;
};
/// The recipient acked stored message `seq`: delete its body, keep its
/// idempotency key. Completes with the number of rows changed (0 or 1).
struct DeleteOp {
  std::int64_t seq = 0;
};
/// The same for the message known by (sender nickname key, message id).
struct DeleteByKeyOp {
  std::string sender_key;
  std::uint64_t mid = 0;
};
/// Insert or replace a client row. Completes with nothing.
struct PutClientOp {
  ClientRecord client;
};
/// Persist the table version. Completes with nothing.
struct PutVersionOp {
  std::uint64_t version = 0;
};
/// Read up to `limit` undelivered messages for `to_key` saved after
/// `after_seq`, in the order saved. Completes with the messages. It runs
/// after its batch committed: it sees what is durable, which includes every
/// write issued before it that succeeded (and perhaps later ones).
///
/// With `logs`, the messages of those channel or group logs saved after
/// each one's position and not sent by `to_key` are merged in: the result
/// is the first `limit` of both, in the order saved (manual §4.9: stored
/// messages of every kind in one order).
struct FetchOp {
  /// One log to read: its key and the position after which to read.
  struct LogCursor {
    std::string log_key;
    std::int64_t after_seq = 0;
  };
  std::string to_key;
  std::int64_t after_seq = 0;
  std::size_t limit = 1;
  std::vector<LogCursor> logs{};
};
/// Add member `member` to group `group_key` (created as `name` if new).
struct PutMemberOp {
  std::string group_key;
  std::string name;
  MemberRecord member;
};
/// Remove member `nick_key` from group `group_key` (an empty group goes).
struct RemoveMemberOp {
  std::string group_key;
  std::string nick_key;
};

/// Trim the channel and group logs up to `upto` (OfflineStore::trim_logs).
/// Completes with the rows changed.
struct TrimLogsOp {
  std::int64_t upto = 0;
};

/// Purge up to `limit` idempotency keys of messages gone and saved before
/// `before_ms` (OfflineStore::purge_keys). Completes with how many.
struct PurgeKeysOp {
  std::int64_t before_ms = 0;
  std::size_t limit = 0;
};

/// manual §9, delete-account: remove the client `nick_key`, the messages
/// waiting for it and its memberships. Completes with the messages deleted.
struct DeleteClientOp {
  std::string nick_key;
};

using StoreOp = std::variant<SaveOp, DeleteOp, DeleteByKeyOp, PutClientOp, PutVersionOp, FetchOp,
                             PutMemberOp, RemoveMemberOp, DeleteClientOp, TrimLogsOp, PurgeKeysOp>;

/// One unit of storage work; `ticket` numbers commands 1, 2, 3... per core.
struct StoreCommand {
  std::uint64_t ticket = 0;
  StoreOp op;
};

/// What a command produced: nothing (PutClientOp, PutVersionOp,
/// PutMemberOp, RemoveMemberOp), the SaveOutcome (SaveOp), rows changed
/// (DeleteOp, DeleteByKeyOp, DeleteClientOp, TrimLogsOp, PurgeKeysOp), or the messages
/// read (FetchOp).
using StoreValue =
    std::variant<std::monostate, SaveOutcome, std::size_t, std::vector<StoredMessage>>;

struct StoreCompletion {
  std::uint64_t ticket = 0;
  std::expected<StoreValue, StoreError> result;
};

/// Runs the writes of `batch` against `store` as one transaction, then its
/// reads, and returns one completion per command, in ticket order. A write
/// that fails is rolled back alone (SQLite undoes a failed statement, the
/// transaction goes on); if the store rolled the whole transaction back
/// (SQLite may, on a full disk or an I/O error), the writes before it fail
/// too and the rest run in a new transaction; if the commit fails, every
/// write of the transaction fails. Reads fail only on their own error.
/// Never throws.
std::vector<StoreCompletion> apply_batch(OfflineStore& store, std::span<const StoreCommand> batch);

}  // namespace udpchat
