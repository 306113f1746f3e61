// pg_store_state.cpp: PgStore's client table, meta and groups, and `load`
// (what a restarted server reads). Connection, schema and the mailbox are
// pg_store.cpp's.
#include "protocol/text.hpp"
#include "store/pg_store.hpp"
#include "store/pg_util.hpp"

namespace udpchat {

using pg_util::ok;
using pg_util::Params;
using pg_util::Result;

std::expected<void, StoreError> PgStore::put_member(std::string_view group_key,
                                                    std::string_view name,
                                                    const MemberRecord& member) {
  if (!ok(Params().text(group_key).text(name).run(conn_, "put_group"), PGRES_COMMAND_OK)) {
    return std::unexpected(failed("cannot save group"));
  }
  if (!ok(Params()
              .text(group_key)
              .text(member.nick_key)
              .integer(member.joined_seq)
              .text(origin_)
              .run(conn_, "put_member"),
          PGRES_COMMAND_OK)) {
    return std::unexpected(failed("cannot save group member"));
  }
  return {};
}

std::expected<void, StoreError> PgStore::remove_member(std::string_view group_key,
                                                       std::string_view nick_key) {
  if (!ok(Params().text(group_key).text(nick_key).text(origin_).run(conn_, "remove_member"),
          PGRES_COMMAND_OK)) {
    return std::unexpected(failed("cannot remove group member"));
  }
  if (!ok(Params().text(group_key).run(conn_, "remove_group"), PGRES_COMMAND_OK)) {
    return std::unexpected(failed("cannot remove group"));
  }
  return {};
}

std::expected<void, StoreError> PgStore::put_client(const ClientRecord& c) {
  Params p;
  p.text(nickname_key(c.nick))
      .text(c.nick)
      .text(c.endpoint.address)
      .integer(c.endpoint.port)
      .boolean(c.online)
      .integer(c.heartbeat_ms)
      .integer(static_cast<std::int64_t>(c.row_version))
      .integer(c.log_upto);
  if (c.key.empty()) {
    p.null();
  } else {
    p.bytes(c.key);
  }
  if (c.password_hash.empty()) {
    p.null();
  } else {
    p.text(c.password_hash);
  }
  if (c.local.address.empty()) {
    p.null().null();
  } else {
    p.text(c.local.address).integer(c.local.port);
  }
  p.text(c.home).boolean(c.claim).text(origin_);
  if (!ok(p.run(conn_, "put_client"), PGRES_COMMAND_OK)) {
    return std::unexpected(failed("cannot save client"));
  }
  return {};
}

std::expected<std::size_t, StoreError> PgStore::delete_client(std::string_view nick_key) {
  // Rare (a user's delete-account): statements sent as they are, each with
  // its changes (docs/CLUSTER.md).
  const char* const steps[] = {
      "WITH upd AS (UPDATE messages SET delivered = true, body = NULL "
      "WHERE recipient = $1 AND NOT delivered RETURNING recipient, seq) "
      "INSERT INTO changes (pos, origin, kind, key, seq) "
      "SELECT nextval('udpchat_seq'), $2, 3, recipient, seq FROM upd",
      "WITH del AS (DELETE FROM clients WHERE nick_key = $1 RETURNING nick_key) "
      "INSERT INTO changes (pos, origin, kind, key) "
      "SELECT nextval('udpchat_seq'), $2, 1, nick_key FROM del",
      "WITH del AS (DELETE FROM members WHERE nick_key = $1 RETURNING group_key, nick_key) "
      "INSERT INTO changes (pos, origin, kind, key, sub) "
      "SELECT nextval('udpchat_seq'), $2, 6, group_key, nick_key FROM del",
      "DELETE FROM groups WHERE NOT EXISTS "
      "(SELECT 1 FROM members WHERE members.group_key = groups.group_key)",
  };
  std::size_t deleted = 0;
  const std::string key(nick_key);
  for (const char* sql : steps) {
    const bool keyed = sql != steps[3];
    const char* values[] = {key.c_str(), origin_.c_str()};
    const Result r(PQexecParams(conn_, sql, keyed ? 2 : 0, nullptr, keyed ? values : nullptr,
                                nullptr, nullptr, 0));
    if (!ok(r, PGRES_COMMAND_OK)) return std::unexpected(failed("cannot delete account"));
    if (sql == steps[0]) deleted = pg_util::changed(r);
  }
  return deleted;
}

std::expected<void, StoreError> PgStore::put_table_version(std::uint64_t version) {
  if (!ok(Params()
              .text(table_version_key())
              .integer(static_cast<std::int64_t>(version))
              .run(conn_, "put_meta"),
          PGRES_COMMAND_OK)) {
    return std::unexpected(failed("cannot save table version"));
  }
  return {};
}

std::expected<StoredState, StoreError> PgStore::load() {
  if (auto c = ensure_connected(); !c) return std::unexpected(c.error());
  // One snapshot for the state and the position of the change table it
  // includes: the changes after it are the ones to apply on top.
  if (auto r = exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "cannot read the store");
      !r) {
    return std::unexpected(r.error());
  }
  auto state = load_snapshot();
  rollback();  // read only: nothing to keep
  return state;
}

std::expected<StoredState, StoreError> PgStore::load_snapshot() {
  StoredState state;
  const Result position(Params().run(conn_, "last_pos"));
  if (!ok(position, PGRES_TUPLES_OK)) return std::unexpected(error("cannot read the changes"));
  applied_ = pg_util::integer(position.get(), 0, 0);
  pending_.clear();
  const Result clients(PQexec(conn_,
                              "SELECT nick, address, port, online, heartbeat_ms, row_version, "
                              "log_upto, key, password, local_address, local_port, home "
                              "FROM clients ORDER BY nick_key"));
  if (!ok(clients, PGRES_TUPLES_OK)) return std::unexpected(error("cannot read clients"));
  const PGresult* r = clients.get();
  for (int i = 0; i < PQntuples(r); ++i) {
    ClientRecord c;
    c.nick = pg_util::text(r, i, 0);
    c.endpoint.address = pg_util::text(r, i, 1);
    c.endpoint.port = static_cast<std::uint16_t>(pg_util::integer(r, i, 2));
    c.online = pg_util::boolean(r, i, 3);
    c.heartbeat_ms = static_cast<std::uint32_t>(pg_util::integer(r, i, 4));
    c.row_version = static_cast<std::uint64_t>(pg_util::integer(r, i, 5));
    c.log_upto = pg_util::integer(r, i, 6);
    c.key = pg_util::bytes(r, i, 7);
    c.password_hash = pg_util::text(r, i, 8);
    c.local.address = pg_util::text(r, i, 9);
    c.local.port = static_cast<std::uint16_t>(pg_util::integer(r, i, 10));
    if (c.local.address.empty() || c.local.port == 0) c.local = {};
    c.home = pg_util::text(r, i, 11);
    if (is_valid_nickname(c.nick)) state.clients.push_back(std::move(c));
  }
  const std::string version_sql =
      "SELECT value FROM meta WHERE key = '" + table_version_key() + "'";  // an id of ours
  const Result version(PQexec(conn_, version_sql.c_str()));
  if (!ok(version, PGRES_TUPLES_OK)) return std::unexpected(error("cannot read table version"));
  if (PQntuples(version.get()) > 0) {
    state.table_version = static_cast<std::uint64_t>(pg_util::integer(version.get(), 0, 0));
  }
  const Result waiting(PQexec(conn_,
                              "SELECT recipient, count(*) FROM messages WHERE NOT delivered "
                              "GROUP BY recipient"));
  if (!ok(waiting, PGRES_TUPLES_OK)) return std::unexpected(error("cannot count stored messages"));
  for (int i = 0; i < PQntuples(waiting.get()); ++i) {
    state.waiting[pg_util::text(waiting.get(), i, 0)] =
        static_cast<std::size_t>(pg_util::integer(waiting.get(), i, 1));
  }
  // The highest seq ever given out: the sequence (moved past every seq a
  // commit made durable) or, for rows saved with their seq, the rows.
  const Result last(PQexec(conn_,
                           "SELECT greatest((SELECT CASE WHEN is_called THEN last_value ELSE 0 "
                           "END FROM udpchat_seq), (SELECT coalesce(max(seq), 0) FROM messages))"));
  if (!ok(last, PGRES_TUPLES_OK)) return std::unexpected(error("cannot read the message sequence"));
  state.last_seq = pg_util::integer(last.get(), 0, 0);
  const Result groups(PQexec(conn_,
                             "SELECT g.group_key, g.name, m.nick_key, m.joined_seq FROM groups g "
                             "JOIN members m ON m.group_key = g.group_key ORDER BY g.group_key"));
  if (!ok(groups, PGRES_TUPLES_OK)) return std::unexpected(error("cannot read groups"));
  std::string last_key;
  for (int i = 0; i < PQntuples(groups.get()); ++i) {
    std::string key = pg_util::text(groups.get(), i, 0);
    if (state.groups.empty() || key != last_key) {
      state.groups.push_back({pg_util::text(groups.get(), i, 1), {}});
      last_key = std::move(key);
    }
    state.groups.back().members.push_back(
        {pg_util::text(groups.get(), i, 2), pg_util::integer(groups.get(), i, 3)});
  }
  return state;
}

}  // namespace udpchat
