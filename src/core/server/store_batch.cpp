// store_batch.cpp: apply_batch, group commit of StoreCommands against any
// OfflineStore (see store_ops.hpp for the contract).
#include <algorithm>
#include <iterator>
#include <string>
#include <type_traits>
#include <unordered_map>

#include "core/server/store_ops.hpp"
#include "protocol/text.hpp"

namespace udpchat {
namespace {

/// A FetchOp: the recipient's own messages merged with its logs', the
/// first `limit` in the order saved.
std::expected<StoreValue, StoreError> fetch(OfflineStore& store, const FetchOp& o) {
  auto own = store.fetch_for(o.to_key, o.after_seq, o.limit);
  if (!own) return std::unexpected(own.error());
  std::vector<StoredMessage> all = std::move(*own);
  for (const FetchOp::LogCursor& log : o.logs) {
    auto part = store.fetch_log(log.log_key, log.after_seq, o.to_key, o.limit);
    if (!part) return std::unexpected(part.error());
    all.insert(all.end(), std::make_move_iterator(part->begin()),
               std::make_move_iterator(part->end()));
  }
  std::sort(all.begin(), all.end(),
            [](const StoredMessage& a, const StoredMessage& b) { return a.seq < b.seq; });
  if (all.size() > o.limit) all.resize(o.limit);
  return StoreValue{std::move(all)};
}

std::expected<StoreValue, StoreError> run(OfflineStore& store, const StoreOp& op) {
  return std::visit(
      [&store](const auto& o) -> std::expected<StoreValue, StoreError> {
        using T = std::decay_t<decltype(o)>;
        const auto wrap = [](auto r) -> std::expected<StoreValue, StoreError> {
          if (!r) return std::unexpected(r.error());
          if constexpr (std::is_void_v<typename decltype(r)::value_type>) {
            return StoreValue{};
          } else {
            return StoreValue{std::move(*r)};
          }
        };
        if constexpr (std::is_same_v<T, SaveOp>) {
          return wrap(store.save(o.message));
        } else if constexpr (std::is_same_v<T, DeleteOp>) {
          return wrap(store.mark_delivered(o.seq));
        } else if constexpr (std::is_same_v<T, DeleteByKeyOp>) {
          return wrap(store.mark_delivered_by_key(o.sender_key, o.mid));
        } else if constexpr (std::is_same_v<T, PutClientOp>) {
          return wrap(store.put_client(o.client));
        } else if constexpr (std::is_same_v<T, PutVersionOp>) {
          return wrap(store.put_table_version(o.version));
        } else if constexpr (std::is_same_v<T, PutMemberOp>) {
          return wrap(store.put_member(o.group_key, o.name, o.member));
        } else if constexpr (std::is_same_v<T, RemoveMemberOp>) {
          return wrap(store.remove_member(o.group_key, o.nick_key));
        } else if constexpr (std::is_same_v<T, DeleteClientOp>) {
          return wrap(store.delete_client(o.nick_key));
        } else if constexpr (std::is_same_v<T, TrimLogsOp>) {
          return wrap(store.trim_logs(o.upto));
        } else if constexpr (std::is_same_v<T, PurgeKeysOp>) {
          return wrap(store.purge_keys(o.before_ms, o.limit));
        } else {
          return fetch(store, o);
        }
      },
      op);
}

/// For each command, the index of a later PutClientOp of the same client
/// in the batch that makes it moot (the last write of a row is the row), or
/// npos. A claim is never skipped: it takes the row over, which a later
/// plain write of the same server relies on.
std::vector<std::size_t> superseded_writes(std::span<const StoreCommand> batch) {
  std::vector<std::size_t> by(batch.size(), std::string::npos);
  std::unordered_map<std::string, std::size_t> last;  // nickname key -> its last write
  for (std::size_t i = batch.size(); i-- > 0;) {
    const auto* put = std::get_if<PutClientOp>(&batch[i].op);
    if (put == nullptr) continue;
    std::string key = nickname_key(put->client.nick);
    if (const auto it = last.find(key); it != last.end() && !put->client.claim) {
      by[i] = it->second;
    }
    last.insert_or_assign(std::move(key), i);
  }
  return by;
}

}  // namespace

std::vector<StoreCompletion> apply_batch(OfflineStore& store, std::span<const StoreCommand> batch) {
  std::vector<StoreCompletion> done;
  done.reserve(batch.size());
  // Coalesced writes (docs/PERFORMANCE.md): a client row written again
  // later in the same transaction is written once, with its last state. A
  // delivery's log position is such a write: it follows the ack, so the
  // position committed is never ahead of an ack, only fewer rows change.
  const std::vector<std::size_t> superseded = superseded_writes(batch);
  std::vector<std::size_t> txn;  // completions of writes in the open transaction
  const auto fail_txn = [&done, &txn](const StoreError& e) {
    for (const std::size_t i : txn) done[i].result = std::unexpected(e);
    txn.clear();
  };
  // One write's result: kept in the transaction, or (the store rolled the
  // whole transaction back: what it held so far is not durable either)
  // told to each, and a new transaction begun for what follows.
  auto opened = store.begin();
  const auto settle = [&](std::expected<StoreValue, StoreError> r) {
    if (!r && !store.in_transaction()) {
      fail_txn(r.error());
      done.back().result = std::move(r);
      opened = store.begin();
      return;
    }
    done.back().result = std::move(r);
    txn.push_back(done.size() - 1);
  };
  // Writes, in order, in one transaction; reads wait for the commit so that
  // they see only what is durable (never a write that is then rolled back).
  for (std::size_t i = 0; i < batch.size();) {
    const StoreCommand& cmd = batch[i];
    done.emplace_back();  // the result starts as an empty success
    done.back().ticket = cmd.ticket;
    if (std::holds_alternative<FetchOp>(cmd.op)) {
      ++i;
      continue;
    }
    if (!opened) {
      done.back().result = std::unexpected(opened.error());
      opened = store.begin();
      ++i;
      continue;
    }
    if (superseded[i] != std::string::npos) {
      settle(StoreValue{});  // its outcome is its successor's (below)
      ++i;
      continue;
    }
    if (!std::holds_alternative<SaveOp>(cmd.op)) {
      settle(run(store, cmd.op));
      ++i;
      continue;
    }
    // A run of saves goes to the store together (save_many): results for
    // a prefix of it, up to the first failure; the rest in the next round.
    std::vector<const StoredMessage*> run_of;
    for (std::size_t j = i; j < batch.size() && std::holds_alternative<SaveOp>(batch[j].op); ++j) {
      run_of.push_back(&std::get<SaveOp>(batch[j].op).message);
    }
    auto results = store.save_many(run_of);
    if (results.empty()) results.emplace_back(std::unexpected(StoreError{"no result from the store"}));
    for (std::size_t k = 0; k < results.size(); ++k) {
      if (k > 0) {
        done.emplace_back();
        done.back().ticket = batch[i + k].ticket;
      }
      if (results[k]) {
        settle(StoreValue{*results[k]});
      } else {
        settle(std::unexpected(results[k].error()));
      }
    }
    i += std::max<std::size_t>(results.size(), 1);
  }
  if (opened) {
    if (auto c = store.commit(); !c) {
      store.rollback();
      fail_txn(c.error());
    }
  }
  // A skipped write failed if the write that stood for it did.
  for (std::size_t i = batch.size(); i-- > 0;) {
    if (superseded[i] != std::string::npos && done[i].result && !done[superseded[i]].result) {
      done[i].result = done[superseded[i]].result;
    }
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (std::holds_alternative<FetchOp>(batch[i].op)) {
      done[i].result = run(store, batch[i].op);
    }
  }
  return done;
}

}  // namespace udpchat
