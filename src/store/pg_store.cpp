// pg_store.cpp: PgStore's connection, schema, statements, transactions and
// the mailbox (saves, reads, deliveries). The client table, groups, logs
// and `load` are pg_store_state.cpp's.
#include "store/pg_store.hpp"

#include <array>
#include <utility>

#include "protocol/text.hpp"
#include "store/pg_util.hpp"

namespace udpchat {
namespace {

using pg_util::ok;
using pg_util::Params;
using pg_util::Result;

/// Taken (pg_advisory_lock) while a server creates or upgrades the schema,
/// so that servers starting together do not race on CREATE TABLE.
constexpr const char* kSchemaLock = "SELECT pg_advisory_lock(7586734)";
constexpr const char* kSchemaUnlock = "SELECT pg_advisory_unlock(7586734)";

/// The tables of sqlite_store.cpp in PostgreSQL's types. A message body is
/// bytes (bytea: PostgreSQL's text cannot hold a NUL, which valid UTF-8
/// may), `sealed` when it is a box sealed by its sender (manual §8), else
/// the text itself (a channel or group message, or one saved before
/// end-to-end encryption).
constexpr const char* kSchema = R"sql(
CREATE SEQUENCE IF NOT EXISTS udpchat_seq;
CREATE TABLE IF NOT EXISTS messages (
  seq          bigint  PRIMARY KEY,
  sender       text    NOT NULL,
  sender_key   text    NOT NULL,
  recipient    text    NOT NULL,
  mid          bigint  NOT NULL,
  body         bytea,
  sealed       boolean NOT NULL DEFAULT false,
  saved_at_ms  bigint  NOT NULL,
  delivered    boolean NOT NULL DEFAULT false,
  UNIQUE (sender_key, mid)
);
CREATE INDEX IF NOT EXISTS messages_waiting ON messages (recipient, seq) WHERE NOT delivered;
CREATE TABLE IF NOT EXISTS clients (
  nick_key      text    PRIMARY KEY,
  nick          text    NOT NULL,
  address       text    NOT NULL,
  port          integer NOT NULL,
  online        boolean NOT NULL,
  heartbeat_ms  bigint  NOT NULL,
  row_version   bigint  NOT NULL DEFAULT 0,
  log_upto      bigint  NOT NULL DEFAULT 0,
  key           bytea,
  password      text,
  local_address text,
  local_port    integer
);
CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value bigint NOT NULL);
CREATE TABLE IF NOT EXISTS cluster (name text PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
  group_key    text PRIMARY KEY,
  name         text NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
  group_key    text   NOT NULL,
  nick_key     text   NOT NULL,
  joined_seq   bigint NOT NULL,
  PRIMARY KEY (group_key, nick_key)
);
)sql";

/// Every statement, prepared once per connection by name.
constexpr std::array<std::pair<const char*, const char*>, 16> kStatements{{
    {"propose_key",
     "INSERT INTO cluster (name, value) VALUES ('server_key', $1) ON CONFLICT DO NOTHING"},
    {"cluster_key", "SELECT value FROM cluster WHERE name = 'server_key'"},
    {"save",
     "INSERT INTO messages (sender, sender_key, recipient, mid, body, sealed, saved_at_ms, seq) "
     "VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8, nextval('udpchat_seq'))) "
     "ON CONFLICT (sender_key, mid) DO NOTHING RETURNING seq"},
    {"fetch_for",
     "SELECT seq, sender, mid, body, sealed, saved_at_ms FROM messages "
     "WHERE recipient = $1 AND NOT delivered AND seq > $2 ORDER BY seq LIMIT $3"},
    {"fetch_log",
     "SELECT seq, sender, mid, body, sealed, saved_at_ms FROM messages "
     "WHERE recipient = $1 AND NOT delivered AND seq > $2 AND sender_key <> $3 "
     "ORDER BY seq LIMIT $4"},
    {"count_for", "SELECT count(*) FROM messages WHERE recipient = $1 AND NOT delivered"},
    {"delivered",
     "UPDATE messages SET delivered = true, body = NULL "
     "WHERE seq = $1 AND NOT delivered"},
    {"delivered_by_key",
     "UPDATE messages SET delivered = true, body = NULL "
     "WHERE sender_key = $1 AND mid = $2 AND NOT delivered"},
    {"move_seq",
     "SELECT setval('udpchat_seq', greatest($1::bigint, "
     "(SELECT last_value FROM udpchat_seq)))"},
    {"put_client",
     "INSERT INTO clients (nick_key, nick, address, port, online, heartbeat_ms, row_version, "
     "log_upto, key, password, local_address, local_port) "
     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
     "ON CONFLICT (nick_key) DO UPDATE SET nick = excluded.nick, address = excluded.address, "
     "port = excluded.port, online = excluded.online, heartbeat_ms = excluded.heartbeat_ms, "
     "row_version = excluded.row_version, log_upto = excluded.log_upto, key = excluded.key, "
     "password = excluded.password, local_address = excluded.local_address, "
     "local_port = excluded.local_port"},
    {"put_meta",
     "INSERT INTO meta (key, value) VALUES ($1, $2) "
     "ON CONFLICT (key) DO UPDATE SET value = excluded.value"},
    {"put_group", "INSERT INTO groups (group_key, name) VALUES ($1, $2) ON CONFLICT DO NOTHING"},
    {"put_member",
     "INSERT INTO members (group_key, nick_key, joined_seq) VALUES ($1, $2, $3) "
     "ON CONFLICT (group_key, nick_key) DO UPDATE SET joined_seq = excluded.joined_seq"},
    {"remove_member", "DELETE FROM members WHERE group_key = $1 AND nick_key = $2"},
    {"remove_group",
     "DELETE FROM groups WHERE group_key = $1 AND NOT EXISTS "
     "(SELECT 1 FROM members WHERE group_key = $1)"},
    {"purge",
     "DELETE FROM messages WHERE delivered AND saved_at_ms < "
     "(extract(epoch FROM now()) * 1000)::bigint - $1::bigint * 86400000"},
}};

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
  return StoreError{std::string(what) + ": " + message_of(conn_)};
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
  for (const auto& [name, sql] : kStatements) {
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

std::expected<std::unique_ptr<PgStore>, StoreError> PgStore::open(const std::string& conninfo) {
  std::unique_ptr<PgStore> store(new PgStore());
  store->conninfo_ = conninfo;
  store->conn_ = PQconnectdb(conninfo.c_str());
  if (PQstatus(store->conn_) != CONNECTION_OK) {
    return std::unexpected(store->error("cannot connect to PostgreSQL"));
  }
  // Notices ("relation already exists, skipping") are not the operator's business.
  PQsetNoticeProcessor(
      store->conn_, [](void*, const char*) {}, nullptr);
  if (auto r = store->exec(kSchemaLock, "cannot lock the schema"); !r) {
    return std::unexpected(r.error());
  }
  auto made = store->exec(kSchema, "cannot create the schema");
  (void)store->exec(kSchemaUnlock, "cannot unlock the schema");
  if (!made) return std::unexpected(made.error());
  if (auto r = store->prepare_statements(); !r) return std::unexpected(r.error());
  const Result purged(Params().integer(kTombstoneDays).run(store->conn_, "purge"));
  if (!ok(purged, PGRES_COMMAND_OK)) {
    return std::unexpected(store->error("cannot purge old idempotency keys"));
  }
  return store;
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

std::expected<SaveOutcome, StoreError> PgStore::save(const StoredMessage& m) {
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
    p.null();  // the sequence's next value
  }
  const Result r = p.run(conn_, "save");
  if (!ok(r, PGRES_TUPLES_OK)) return std::unexpected(failed("cannot save a message"));
  if (PQntuples(r.get()) == 0) return SaveOutcome{SaveResult::kDuplicate, 0};
  const std::int64_t seq = pg_util::integer(r.get(), 0, 0);
  max_saved_seq_ = std::max(max_saved_seq_, m.seq);
  if (!in_transaction() && max_saved_seq_ > 0) {  // autocommit: durable now, so is the sequence
    const Result moved = Params().integer(std::exchange(max_saved_seq_, 0)).run(conn_, "move_seq");
    if (!ok(moved, PGRES_TUPLES_OK)) return std::unexpected(failed("cannot advance the sequence"));
  }
  return SaveOutcome{SaveResult::kSaved, seq};
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
  const Result r = Params().integer(seq).run(conn_, "delivered");
  if (!ok(r, PGRES_COMMAND_OK)) return std::unexpected(failed("cannot delete delivered message"));
  return pg_util::changed(r);
}

std::expected<std::size_t, StoreError> PgStore::mark_delivered_by_key(std::string_view sender_key,
                                                                      std::uint64_t mid) {
  const Result r = Params()
                       .text(sender_key)
                       .integer(static_cast<std::int64_t>(mid))
                       .run(conn_, "delivered_by_key");
  if (!ok(r, PGRES_COMMAND_OK)) return std::unexpected(failed("cannot delete delivered message"));
  return pg_util::changed(r);
}

std::expected<void, StoreError> PgStore::begin() {
  max_saved_seq_ = 0;
  if (auto c = ensure_connected(); !c) return std::unexpected(c.error());
  Result r(PQexec(conn_, "BEGIN"));
  // A connection lost since its last use (the database restarted) shows
  // only now; nothing was done in the transaction yet: connect once more.
  if (!ok(r, PGRES_COMMAND_OK) && reconnected()) r.reset(PQexec(conn_, "BEGIN"));
  if (!ok(r, PGRES_COMMAND_OK)) return std::unexpected(failed("cannot begin a transaction"));
  return {};
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
  const Result r(PQexec(conn_, "COMMIT"));
  // COMMIT of a transaction that failed answers "ROLLBACK": not durable.
  if (!ok(r, PGRES_COMMAND_OK) || std::string_view(PQcmdStatus(r.get())) != "COMMIT") {
    StoreError e = error("commit failed");
    rollback();
    return std::unexpected(e);
  }
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
