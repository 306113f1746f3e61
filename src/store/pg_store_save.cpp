// pg_store_save.cpp: PgStore's saves: one at a time, or a run of them
// sent together in libpq's pipeline mode (one round trip for the run
// instead of one per save: docs/CLUSTER.md, "Pipelined saves").
#include <algorithm>
#include <utility>

#include "protocol/text.hpp"
#include "store/pg_schema.hpp"
#include "store/pg_store.hpp"
#include "store/pg_util.hpp"

namespace udpchat {
namespace {

using pg_util::ok;
using pg_util::Params;
using pg_util::Result;

/// The parameters of the "save" statement for `m`, made by server `origin`.
Params save_params(const StoredMessage& m, const std::string& origin) {
  Params p;
  p.text(m.from)
      .text(nickname_key(m.from))
      .text(m.to_key)
      .integer(static_cast<std::int64_t>(m.mid));
  p.bytes(m.box.empty() ? m.text : m.box).boolean(!m.box.empty());
  p.integer(m.saved_at_ms);
  if (m.seq > 0) {
    p.integer(m.seq);  // the server's numbering
  } else {
    p.null();  // the sequence's next value: commit order, under the order lock
  }
  p.text(origin).integer(is_log_key(m.to_key) ? pg_schema::kPosted : pg_schema::kSaved);
  return p;
}

/// What a "save" statement's rows say: the seq it was stored under, or
/// none (the idempotency key was there: a duplicate).
SaveOutcome outcome_of(const PGresult* r) {
  if (PQntuples(r) == 0) return SaveOutcome{SaveResult::kDuplicate, 0};
  return SaveOutcome{SaveResult::kSaved, pg_util::integer(r, 0, 0)};
}

}  // namespace

std::expected<SaveOutcome, StoreError> PgStore::save(const StoredMessage& m) {
  const Result r = save_params(m, origin_).run(conn_, "save");
  if (!ok(r, PGRES_TUPLES_OK)) return std::unexpected(failed("cannot save a message"));
  const SaveOutcome outcome = outcome_of(r.get());
  if (outcome.result == SaveResult::kSaved) max_saved_seq_ = std::max(max_saved_seq_, m.seq);
  if (!in_transaction() && max_saved_seq_ > 0) {  // autocommit: durable now, so is the sequence
    const Result moved = Params().integer(std::exchange(max_saved_seq_, 0)).run(conn_, "move_seq");
    if (!ok(moved, PGRES_TUPLES_OK)) return std::unexpected(failed("cannot advance the sequence"));
  }
  return outcome;
}

std::vector<std::expected<SaveOutcome, StoreError>> PgStore::save_many(
    std::span<const StoredMessage* const> ms) {
  if (ms.size() < 2 || !in_transaction() || PQenterPipelineMode(conn_) != 1) {
    return OfflineStore::save_many(ms);
  }
  // Every statement goes out, then one sync; the results come back in
  // order, each followed by a null, then the sync's. After a failure the
  // server skips the rest (PGRES_PIPELINE_ABORTED) and the transaction is
  // void, as with one statement at a time.
  std::size_t sent = 0;
  for (const StoredMessage* m : ms) {
    if (!save_params(*m, origin_).send(conn_, "save")) break;
    ++sent;
  }
  bool synced = false;
  std::vector<Result> results;
  results.reserve(sent);
  // Without the sync sent (the connection broke), no result would come.
  for (int nulls = PQpipelineSync(conn_) == 1 ? 0 : 2; nulls < 2;) {
    PGresult* raw = PQgetResult(conn_);
    if (raw == nullptr) {
      // One null ends each statement's results; two in a row: nothing
      // more is coming (the connection is gone).
      ++nulls;
      continue;
    }
    nulls = 0;
    Result r(raw);
    if (PQresultStatus(raw) == PGRES_PIPELINE_SYNC) {
      synced = true;
      break;
    }
    if (results.size() < sent) results.push_back(std::move(r));
  }
  if (!synced || PQexitPipelineMode(conn_) != 1) {
    PQreset(conn_);  // out of pipeline mode the only sure way; the transaction is gone
  }
  std::vector<std::expected<SaveOutcome, StoreError>> out;
  out.reserve(ms.size());
  for (std::size_t k = 0; k < sent && k < results.size(); ++k) {
    if (!ok(results[k], PGRES_TUPLES_OK)) break;
    out.push_back(outcome_of(results[k].get()));
    if (out.back()->result == SaveResult::kSaved) {
      max_saved_seq_ = std::max(max_saved_seq_, ms[k]->seq);
    }
  }
  if (out.size() < ms.size()) {
    // The first that failed (or was never sent, or never answered), in
    // the words of its own result when it has one.
    StoreError e = failed("cannot save a message");
    if (out.size() < results.size()) {
      const std::string why = PQresultErrorMessage(results[out.size()].get());
      if (!why.empty()) e.what = "cannot save a message: " + why.substr(0, why.find('\n'));
    }
    out.emplace_back(std::unexpected(std::move(e)));
  }
  return out;
}

}  // namespace udpchat
