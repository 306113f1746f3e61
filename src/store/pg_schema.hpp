// pg_schema.hpp: PgStore's tables and statements (data only; the code is
// pg_store.cpp, pg_store_state.cpp and pg_store_feed.cpp).
//
// Every writing statement also appends its change to `changes` in the same
// statement (a data-modifying WITH), numbered from the one sequence
// udpchat_seq that numbers messages too, so a change's `pos` and a message's
// `seq` are places in one order. Under the transaction-scoped advisory lock
// every writing transaction takes (kOrderLock), numbers are handed out in
// commit order: docs/CLUSTER.md, "One order for the whole cluster".
#pragma once

#include <array>
#include <cstdint>
#include <utility>

namespace udpchat::pg_schema {

/// Taken (pg_advisory_lock) while a server creates or upgrades the schema,
/// so that servers starting together do not race on CREATE TABLE.
inline constexpr const char* kSchemaLock = "SELECT pg_advisory_lock(7586734)";
inline constexpr const char* kSchemaUnlock = "SELECT pg_advisory_unlock(7586734)";
/// Taken by every writing transaction, released by its COMMIT or ROLLBACK.
inline constexpr const char* kOrderLock = "SELECT pg_advisory_xact_lock(7586735)";
/// The channel every writing transaction notifies (at its commit).
inline constexpr const char* kChannel = "udpchat_changes";

/// The schema's version, in meta (key 'schema'): 3 is this file's (1 had
/// no servers table, 2 no trimming of the change table).
inline constexpr std::int64_t kSchemaVersion = 3;
/// The version of the schema there is: no row (and an error when there is
/// no meta table yet) means none.
inline constexpr const char* kSchemaVersionQuery = "SELECT value FROM meta WHERE key = 'schema'";
inline constexpr const char* kSchemaVersionSet =
    "INSERT INTO meta (key, value) VALUES ('schema', 3) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// changes.kind, as ClusterChange::Kind.
enum ChangeKind : std::int16_t {
  kClient = 0,
  kClientDeleted = 1,
  kSaved = 2,
  kDelivered = 3,
  kPosted = 4,
  kMember = 5,
  kMemberLeft = 6,
};

/// The tables of sqlite_store.cpp in PostgreSQL's types. A message body is
/// bytes (bytea: PostgreSQL's text cannot hold a NUL, which valid UTF-8
/// may), `sealed` when it is a box sealed by its sender (manual §8), else
/// the text itself (a channel or group message, or one saved before
/// end-to-end encryption). clients.home is the server its session lives at.
inline constexpr const char* kSchema = R"sql(
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
ALTER TABLE clients ADD COLUMN IF NOT EXISTS home text NOT NULL DEFAULT '';
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
CREATE TABLE IF NOT EXISTS servers (
  id           text   PRIMARY KEY,
  last_seen    timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (
  pos          bigint   PRIMARY KEY,
  origin       text     NOT NULL,
  kind         smallint NOT NULL,
  key          text     NOT NULL,
  sub          text     NOT NULL DEFAULT '',
  seq          bigint   NOT NULL DEFAULT 0
);
ALTER TABLE servers ADD COLUMN IF NOT EXISTS applied bigint NOT NULL DEFAULT 0;
ALTER TABLE changes ADD COLUMN IF NOT EXISTS at timestamptz NOT NULL DEFAULT now();
)sql";

/// The change row a writing statement appends; $o: the origin's parameter.
#define UDPCHAT_CHANGE(kind, key, sub, seq, from, o)                                         \
  "INSERT INTO changes (pos, origin, kind, key, sub, seq) SELECT nextval('udpchat_seq'), " o \
  ", " kind ", " key ", " sub ", " seq " FROM " from

/// Every statement, prepared once per connection by name.
inline constexpr std::array<std::pair<const char*, const char*>, 23> kStatements{{
    // docs/CLUSTER.md: each server marks itself alive; $1: its id, $2: the
    // change table read up to there.
    {"alive",
     "INSERT INTO servers (id, last_seen, applied) VALUES ($1, now(), $2) "
     "ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, applied = excluded.applied"},
    // docs/CLUSTER.md, "Trimming": changes every server seen within $1
    // seconds has read, older than $2 seconds, are deleted; the highest
    // deleted is kept in meta, where a server that fell behind finds it.
    {"trim_changes",
     "WITH floor AS (SELECT min(applied) AS p FROM servers WHERE "
     "last_seen > now() - make_interval(secs => $1::double precision)), "
     "d AS (DELETE FROM changes WHERE pos <= (SELECT p FROM floor) AND "
     "at < now() - make_interval(secs => $2::double precision) RETURNING pos) "
     "INSERT INTO meta (key, value) SELECT 'changes_trimmed_to', max(pos) FROM d "
     "HAVING count(*) > 0 ON CONFLICT (key) DO UPDATE SET value = "
     "greatest(meta.value, excluded.value)"},
    {"trimmed_to",
     "SELECT coalesce((SELECT value FROM meta WHERE key = 'changes_trimmed_to'), 0)"},
    // The clients of servers silent for $2 seconds go offline; $1: our id.
    {"sweep_dead",
     "WITH dead AS (SELECT id FROM servers WHERE id <> $1 AND "
     "last_seen < now() - make_interval(secs => $2::double precision)), "
     "off AS (UPDATE clients SET online = false WHERE online AND home IN (SELECT id FROM dead) "
     "RETURNING nick_key, nick, address, port, heartbeat_ms, row_version, log_upto, key, "
     "password, local_address, local_port, home), "
     "ch AS (" UDPCHAT_CHANGE("0", "nick_key", "''", "0", "off", "$1") ") SELECT * FROM off"},
    {"propose_key",
     "INSERT INTO cluster (name, value) VALUES ('server_key', $1) ON CONFLICT DO NOTHING"},
    {"cluster_key", "SELECT value FROM cluster WHERE name = 'server_key'"},
    // $9: origin, $10: kSaved or kPosted.
    {"save",
     "WITH ins AS (INSERT INTO messages (sender, sender_key, recipient, mid, body, sealed, "
     "saved_at_ms, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, "
     "COALESCE($8, nextval('udpchat_seq'))) "
     "ON CONFLICT (sender_key, mid) DO NOTHING RETURNING seq, recipient), "
     "ch AS (" UDPCHAT_CHANGE("$10::smallint", "recipient", "''", "seq", "ins",
                              "$9") ") SELECT seq FROM ins"},
    {"fetch_for",
     "SELECT seq, sender, mid, body, sealed, saved_at_ms FROM messages "
     "WHERE recipient = $1 AND NOT delivered AND seq > $2 ORDER BY seq LIMIT $3"},
    {"fetch_log",
     "SELECT seq, sender, mid, body, sealed, saved_at_ms FROM messages "
     "WHERE recipient = $1 AND NOT delivered AND seq > $2 AND sender_key <> $3 "
     "ORDER BY seq LIMIT $4"},
    {"count_for", "SELECT count(*) FROM messages WHERE recipient = $1 AND NOT delivered"},
    {"delivered",
     "WITH upd AS (UPDATE messages SET delivered = true, body = NULL "
     "WHERE seq = $1 AND NOT delivered RETURNING recipient, seq) " UDPCHAT_CHANGE(
         "3", "recipient", "''", "seq", "upd", "$2")},
    // Log keys begin with '*' (the channel) or '#' (a group; LIKE, not a
    // range: the database's collation may not order by bytes). No change
    // row: every server trims by the positions it holds (one server only,
    // docs/CLUSTER.md: a cluster's positions move by acks).
    {"trim_logs",
     "UPDATE messages SET delivered = true, body = NULL WHERE (recipient = '*' OR "
     "recipient LIKE '#%') AND NOT delivered AND seq <= $1"},
    {"delivered_by_key",
     "WITH upd AS (UPDATE messages SET delivered = true, body = NULL "
     "WHERE sender_key = $1 AND mid = $2 AND NOT delivered RETURNING recipient, "
     "seq) " UDPCHAT_CHANGE("3", "recipient", "''", "seq", "upd", "$3")},
    {"move_seq",
     "SELECT setval('udpchat_seq', greatest($1::bigint, "
     "(SELECT last_value FROM udpchat_seq)))"},
    // $13: home, $14: claim, $15: origin. A write from a server that is not
    // the row's home changes nothing unless it claims the row (a row with
    // no home, written before homes were, is anyone's).
    {"put_client",
     "WITH up AS (INSERT INTO clients (nick_key, nick, address, port, online, heartbeat_ms, "
     "row_version, log_upto, key, password, local_address, local_port, home) "
     "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
     "ON CONFLICT (nick_key) DO UPDATE SET nick = excluded.nick, address = excluded.address, "
     "port = excluded.port, online = excluded.online, heartbeat_ms = excluded.heartbeat_ms, "
     "row_version = excluded.row_version, log_upto = excluded.log_upto, key = excluded.key, "
     "password = excluded.password, local_address = excluded.local_address, "
     "local_port = excluded.local_port, home = excluded.home "
     "WHERE clients.home = excluded.home OR clients.home = '' OR $14::boolean "
     "RETURNING nick_key) " UDPCHAT_CHANGE(
         "0", "nick_key", "''", "0", "up", "$15")},
    {"put_meta",
     "INSERT INTO meta (key, value) VALUES ($1, $2) "
     "ON CONFLICT (key) DO UPDATE SET value = excluded.value"},
    {"put_group", "INSERT INTO groups (group_key, name) VALUES ($1, $2) ON CONFLICT DO NOTHING"},
    {"put_member",
     "WITH up AS (INSERT INTO members (group_key, nick_key, joined_seq) VALUES ($1, $2, $3) "
     "ON CONFLICT (group_key, nick_key) DO UPDATE SET joined_seq = excluded.joined_seq "
     "RETURNING group_key, nick_key) " UDPCHAT_CHANGE("5", "group_key", "nick_key", "0", "up",
                                                      "$4")},
    {"remove_member",
     "WITH del AS (DELETE FROM members WHERE group_key = $1 AND nick_key = $2 "
     "RETURNING group_key, nick_key) " UDPCHAT_CHANGE("6", "group_key", "nick_key", "0", "del",
                                                      "$3")},
    {"remove_group",
     "DELETE FROM groups WHERE group_key = $1 AND NOT EXISTS "
     "(SELECT 1 FROM members WHERE group_key = $1)"},
    {"purge",
     "DELETE FROM messages WHERE delivered AND saved_at_ms < "
     "(extract(epoch FROM now()) * 1000)::bigint - $1::bigint * 86400000"},
    // The others' changes after $1, with what each names as it is now: a
    // client's row, a message, a group and member (docs/CLUSTER.md).
    {"changes",
     "SELECT c.pos, c.origin, c.kind, c.key, c.sub, c.seq, "
     "cl.nick, cl.address, cl.port, cl.online, cl.heartbeat_ms, cl.row_version, cl.log_upto, "
     "cl.key, cl.password, cl.local_address, cl.local_port, cl.home, "
     "m.sender, m.mid, m.body, m.sealed, m.saved_at_ms, g.name, mb.joined_seq "
     "FROM changes c "
     "LEFT JOIN clients cl ON c.kind = 0 AND cl.nick_key = c.key "
     "LEFT JOIN messages m ON c.kind IN (2, 4) AND m.seq = c.seq "
     "LEFT JOIN groups g ON c.kind = 5 AND g.group_key = c.key "
     "LEFT JOIN members mb ON c.kind = 5 AND mb.group_key = c.key AND mb.nick_key = c.sub "
     "WHERE c.pos > $1 ORDER BY c.pos LIMIT $2"},
    // Where a load reads on from: the last change, or the last one trimmed
    // when the table is empty (every change after it is yet to come).
    {"last_pos",
     "SELECT greatest(coalesce(max(pos), 0), coalesce((SELECT value FROM meta "
     "WHERE key = 'changes_trimmed_to'), 0)) FROM changes"},
}};

#undef UDPCHAT_CHANGE

}  // namespace udpchat::pg_schema
