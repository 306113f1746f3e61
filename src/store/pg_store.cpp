// pg_store.cpp: PgStore's connection, schema, statements, transactions and
// the mailbox's reads and deliveries. Saves are pg_store_save.cpp's; the
// client table, groups, logs and `load` pg_store_state.cpp's.
#include "store/pg_store.hpp"

#include <array>
#include <utility>

#include "protocol/text.hpp"
#include "store/pg_schema.hpp"
#include "store/pg_util.hpp"

namespace udpchat {
namespace {

using pg_util::ok;
using pg_util::Params;
using pg_util::Result;

/// libpq's message on one line: its lines (a hint comes on a second,
/// indented one) joined with "; ".
std::string message_of(const PGconn* conn) {
  const std::string raw = conn != nullptr ? PQerrorMessage(conn) : "out of memory";
  std::string m;
  std::size_t start = 0;
  while (start < raw.size()) {
    std::size_t end = raw.find('\n', start);
    if (end == std::string::npos) end = raw.size();
    std::string_view line(raw.data() + start, end - start);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\r')) line.remove_suffix(1);
    if (!line.empty()) m += (m.empty() ? "" : "; ") + std::string(line);
    start = end + 1;
  }
  return m.empty() ? "unknown PostgreSQL error" : m;
}

/// Messages of a fetch_for or fetch_log result, for `key`.
std::vector<StoredMessage> messages_of(const PGresult* r, std::string_view key) {
  std::vector<StoredMessage> out;
  const int rows = PQntuples(r);
  out.reserve(static_cast<std::size_t>(rows));
  for (int i = 0; i < rows; ++i) {
    StoredMessage m;
    m.seq = pg_util::integer(r, i, 0);
    m.from = pg_util::text(r, i, 1);
    m.to_key = std::string(key);
    m.mid = static_cast<std::uint64_t>(pg_util::integer(r, i, 2));  // the bit pattern kept
    (pg_util::boolean(r, i, 4) ? m.box : m.text) = pg_util::bytes(r, i, 3);
    m.saved_at_ms = pg_util::integer(r, i, 5);
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

StoreError PgStore::error(const char* what) const {
  // The log gets libpq's whole message; a client only whether the
  // database could be reached (its address and words stay here).
  const bool reachable = conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK;
  return StoreError{std::string(what) + ": " + message_of(conn_),
                    reachable ? "database error" : "database unreachable"};
}

StoreError PgStore::failed(const char* what) {
  StoreError e = error(what);
  if (PQtransactionStatus(conn_) == PQTRANS_INERROR) {
    Result(PQexec(conn_, "ROLLBACK"));  // the transaction is void: end it now
  }
  return e;
}

std::expected<void, StoreError> PgStore::exec(const char* sql, const char* what) {
  const Result r(PQexec(conn_, sql));
  if (r == nullptr ||
      (PQresultStatus(r.get()) != PGRES_COMMAND_OK && PQresultStatus(r.get()) != PGRES_TUPLES_OK)) {
    return std::unexpected(failed(what));
  }
  return {};
}

std::expected<void, StoreError> PgStore::prepare_statements() {
  for (const auto& [name, sql] : pg_schema::kStatements) {
    const Result r(PQprepare(conn_, name, sql, 0, nullptr));
    if (!ok(r, PGRES_COMMAND_OK)) {
      return std::unexpected(error("cannot prepare a statement"));
    }
  }
  return {};
}

std::expected<void, StoreError> PgStore::ensure_connected() {
  if (PQstatus(conn_) == CONNECTION_OK) return {};
  PQreset(conn_);  // the same parameters, a new connection
  if (PQstatus(conn_) != CONNECTION_OK) {
    return std::unexpected(error("PostgreSQL is unreachable"));
  }
  return prepare_statements();
}

std::expected<std::unique_ptr<PgStore>, StoreError> PgStore::open(const std::string& conninfo,
                                                                  std::string origin) {
  std::unique_ptr<PgStore> store(new PgStore());
  store->conninfo_ = conninfo;
  store->origin_ = std::move(origin);
  store->conn_ = PQconnectdb(conninfo.c_str());
  if (PQstatus(store->conn_) != CONNECTION_OK) {
    return std::unexpected(store->error("cannot connect to PostgreSQL"));
  }
  // Notices ("relation already exists, skipping") are not the operator's business.
  PQsetNoticeProcessor(
      store->conn_, [](void*, const char*) {}, nullptr);
  if (auto r = store->ensure_schema(); !r) return std::unexpected(r.error());
  if (auto r = store->prepare_statements(); !r) return std::unexpected(r.error());
  const Result purged(Params().integer(kTombstoneDays).run(store->conn_, "purge"));
  if (!ok(purged, PGRES_COMMAND_OK)) {
    return std::unexpected(store->error("cannot purge old idempotency keys"));
  }
  return store;
}

std::expected<void, StoreError> PgStore::ensure_schema() {
  // DDL locks the tables it names (ALTER TABLE exclusively, even when there
  // is nothing to do), which would stall or deadlock the transactions of
  // the servers already running: it runs only when the schema is older.
  const auto current = [this] {
    const Result r(PQexec(conn_, pg_schema::kSchemaVersionQuery));
    return ok(r, PGRES_TUPLES_OK) && PQntuples(r.get()) == 1
               ? pg_util::integer(r.get(), 0, 0) >= pg_schema::kSchemaVersion
               : false;
  };
  if (current()) return {};
  if (auto r = exec(pg_schema::kSchemaLock, "cannot lock the schema"); !r) return r;
  std::expected<void, StoreError> made{};
  if (!current()) {  // another server may have made it while we waited
    made = exec(pg_schema::kSchema, "cannot create the schema");
    if (made) made = exec(pg_schema::kSchemaVersionSet, "cannot record the schema version");
  }
  (void)exec(pg_schema::kSchemaUnlock, "cannot unlock the schema");
  return made;
}

PgStore::~PgStore() {
  PQfinish(conn_);
}

std::string PgStore::describe() const {
  if (PQstatus(conn_) != CONNECTION_OK) return "PostgreSQL (not connected)";
  const char* host = PQhost(conn_);
  const char* port = PQport(conn_);
  return std::string("PostgreSQL database ") + PQdb(conn_) + " on " +
         (host != nullptr ? host : "?") + " port " + (port != nullptr ? port : "?");
}

std::expected<std::vector<StoredMessage>, StoreError> PgStore::fetch_for(std::string_view to_key,
                                                                         std::int64_t after_seq,
                                                                         std::size_t limit) {
  if (!in_transaction()) {
    if (auto c = ensure_connected(); !c) return std::unexpected(c.error());
  }
  const auto read = [&] {
    return Params()
        .text(to_key)
        .integer(after_seq)
        .integer(static_cast<std::int64_t>(limit))
        .run(conn_, "fetch_for");
  };
  Result r = read();
  if (!ok(r, PGRES_TUPLES_OK) && reconnected()) r = read();  // lost since its last use
  if (!ok(r, PGRES_TUPLES_OK)) return std::unexpected(failed("cannot read stored messages"));
  return messages_of(r.get(), to_key);
}

std::expected<std::vector<StoredMessage>, StoreError> PgStore::fetch_log(
    std::string_view log_key, std::int64_t after_seq, std::string_view exclude_sender_key,
    std::size_t limit) {
  if (!in_transaction()) {
    if (auto c = ensure_connected(); !c) return std::unexpected(c.error());
  }
  const auto read = [&] {
    return Params()
        .text(log_key)
        .integer(after_seq)
        .text(exclude_sender_key)
        .integer(static_cast<std::int64_t>(limit))
        .run(conn_, "fetch_log");
  };
  Result r = read();
  if (!ok(r, PGRES_TUPLES_OK) && reconnected()) r = read();  // lost since its last use
  if (!ok(r, PGRES_TUPLES_OK)) {
    return std::unexpected(failed("cannot read a channel or group log"));
  }
  return messages_of(r.get(), log_key);
}

std::expected<std::size_t, StoreError> PgStore::count_for(std::string_view to_key) {
  if (!in_transaction()) {
    if (auto c = ensure_connected(); !c) return std::unexpected(c.error());
  }
  const auto read = [&] { return Params().text(to_key).run(conn_, "count_for"); };
  Result r = read();
  if (!ok(r, PGRES_TUPLES_OK) && reconnected()) r = read();  // lost since its last use
  if (!ok(r, PGRES_TUPLES_OK)) return std::unexpected(failed("cannot count stored messages"));
  return static_cast<std::size_t>(pg_util::integer(r.get(), 0, 0));
}

std::expected<std::size_t, StoreError> PgStore::mark_delivered(std::int64_t seq) {
  const Result r = Params().integer(seq).text(origin_).run(conn_, "delivered");
  if (!ok(r, PGRES_COMMAND_OK)) return std::unexpected(failed("cannot delete delivered message"));
  return pg_util::changed(r);
}

std::expected<std::size_t, StoreError> PgStore::trim_logs(std::int64_t upto) {
  const Result r = Params().integer(upto).run(conn_, "trim_logs");
  if (!ok(r, PGRES_COMMAND_OK)) {
    return std::unexpected(failed("cannot trim the channel and group logs"));
  }
  return pg_util::changed(r);
}

std::expected<std::size_t, StoreError> PgStore::purge_keys(std::int64_t /*before_ms*/,
                                                          std::size_t /*limit*/) {
  // The statement of the purge at open: by the database's clock, whole
  // (several servers purge alike; an hourly pass finds an hour's keys).
  const Result r = Params().integer(kTombstoneDays).run(conn_, "purge");
  if (!ok(r, PGRES_COMMAND_OK)) {
    return std::unexpected(failed("cannot purge old idempotency keys"));
  }
  return pg_util::changed(r);
}

std::expected<std::size_t, StoreError> PgStore::mark_delivered_by_key(std::string_view sender_key,
                                                                      std::uint64_t mid) {
  const Result r = Params()
                       .text(sender_key)
                       .integer(static_cast<std::int64_t>(mid))
                       .text(origin_)
                       .run(conn_, "delivered_by_key");
  if (!ok(r, PGRES_COMMAND_OK)) return std::unexpected(failed("cannot delete delivered message"));
  return pg_util::changed(r);
}

std::expected<void, StoreError> PgStore::begin() {
  max_saved_seq_ = 0;
  if (behind_) return std::unexpected(behind_error());
  if (auto c = ensure_connected(); !c) return std::unexpected(c.error());
  Result r(PQexec(conn_, "BEGIN"));
  // A connection lost since its last use (the database restarted) shows
  // only now; nothing was done in the transaction yet: connect once more.
  if (!ok(r, PGRES_COMMAND_OK) && reconnected()) r.reset(PQexec(conn_, "BEGIN"));
  if (!ok(r, PGRES_COMMAND_OK)) return std::unexpected(failed("cannot begin a transaction"));
  // docs/CLUSTER.md: writers take turns, so numbers go out in commit order;
  // under the lock every change of the others is committed: read them now.
  if (!ok(Result(PQexec(conn_, pg_schema::kOrderLock)), PGRES_TUPLES_OK)) {
    return std::unexpected(failed("cannot take the order lock"));
  }
  auto fed = mark_alive();
  if (fed) fed = read_changes();
  if (!fed) rollback();  // never left open, holding the order lock
  return fed;
}

bool PgStore::reconnected() {
  return !in_transaction() && PQstatus(conn_) != CONNECTION_OK && ensure_connected().has_value();
}

std::expected<void, StoreError> PgStore::commit() {
  if (max_saved_seq_ > 0) {
    // The sequence is not transactional: moved first, it is above every
    // seq this commit makes durable (a rollback leaves a harmless gap).
    const Result r = Params().integer(max_saved_seq_).run(conn_, "move_seq");
    if (!ok(r, PGRES_TUPLES_OK)) return std::unexpected(failed("cannot advance the sequence"));
    max_saved_seq_ = 0;
  }
  if (!ok(Result(PQexec(conn_, (std::string("NOTIFY ") + pg_schema::kChannel).c_str())),
          PGRES_COMMAND_OK)) {
    return std::unexpected(failed("cannot notify the other servers"));
  }
  const Result r(PQexec(conn_, "COMMIT"));
  // COMMIT of a transaction that failed answers "ROLLBACK": not durable.
  if (!ok(r, PGRES_COMMAND_OK) || std::string_view(PQcmdStatus(r.get())) != "COMMIT") {
    StoreError e = error("commit failed");
    rollback();
    return std::unexpected(e);
  }
  (void)trim_changes();  // when due; a failure is tried again at the next
  return {};
}

void PgStore::rollback() {
  if (PQtransactionStatus(conn_) == PQTRANS_INTRANS ||
      PQtransactionStatus(conn_) == PQTRANS_INERROR) {
    Result(PQexec(conn_, "ROLLBACK"));
  }
  max_saved_seq_ = 0;
}

bool PgStore::in_transaction() const {
  return PQtransactionStatus(conn_) == PQTRANS_INTRANS;
}

std::expected<std::string, StoreError> PgStore::cluster_secret(std::string_view proposed) {
  if (auto c = ensure_connected(); !c) return std::unexpected(c.error());
  if (!ok(Params().bytes(proposed).run(conn_, "propose_key"), PGRES_COMMAND_OK)) {
    return std::unexpected(failed("cannot store the cluster key"));
  }
  const Result r = Params().run(conn_, "cluster_key");
  if (!ok(r, PGRES_TUPLES_OK) || PQntuples(r.get()) != 1) {
    return std::unexpected(failed("cannot read the cluster key"));
  }
  return pg_util::bytes(r.get(), 0, 0);
}

}  // namespace udpchat
