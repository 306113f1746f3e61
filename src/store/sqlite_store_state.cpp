// sqlite_store_state.cpp: SqliteStore's client table, meta, groups and
// the channel and group logs, and `load` (what a restarted server reads).
// The database, its schema and the mailbox are sqlite_store.cpp's.
#include <sqlite3.h>

#include "protocol/text.hpp"
#include "store/sqlite_store.hpp"
#include "store/sqlite_util.hpp"

namespace udpchat {

using sqlite_util::bind_text;
using sqlite_util::column_text;
using sqlite_util::read_body;
using sqlite_util::Reset;

std::expected<std::vector<StoredMessage>, StoreError> SqliteStore::fetch_log(
    std::string_view log_key, std::int64_t after_seq, std::string_view exclude_sender_key,
    std::size_t limit) {
  Reset r{fetch_log_};
  bind_text(fetch_log_, 1, log_key);
  sqlite3_bind_int64(fetch_log_, 2, after_seq);
  bind_text(fetch_log_, 3, exclude_sender_key);
  sqlite3_bind_int64(fetch_log_, 4, static_cast<sqlite3_int64>(limit));
  std::vector<StoredMessage> out;
  int rc = 0;
  while ((rc = sqlite3_step(fetch_log_)) == SQLITE_ROW) {
    StoredMessage m;
    m.seq = sqlite3_column_int64(fetch_log_, 0);
    m.from = column_text(fetch_log_, 1);
    m.to_key = std::string(log_key);
    m.mid = static_cast<std::uint64_t>(sqlite3_column_int64(fetch_log_, 2));
    read_body(fetch_log_, 3, m);
    m.saved_at_ms = sqlite3_column_int64(fetch_log_, 4);
    out.push_back(std::move(m));
  }
  if (rc != SQLITE_DONE) {
    return std::unexpected(error("cannot read a channel or group log"));
  }
  return out;
}

std::expected<void, StoreError> SqliteStore::put_member(std::string_view group_key,
                                                        std::string_view name,
                                                        const MemberRecord& member) {
  {
    Reset r{put_group_};
    bind_text(put_group_, 1, group_key);
    bind_text(put_group_, 2, name);
    if (sqlite3_step(put_group_) != SQLITE_DONE) {
      return std::unexpected(error("cannot save group"));
    }
  }
  Reset r{put_member_};
  bind_text(put_member_, 1, group_key);
  bind_text(put_member_, 2, member.nick_key);
  sqlite3_bind_int64(put_member_, 3, member.joined_seq);
  if (sqlite3_step(put_member_) != SQLITE_DONE) {
    return std::unexpected(error("cannot save group member"));
  }
  return {};
}

std::expected<void, StoreError> SqliteStore::remove_member(std::string_view group_key,
                                                           std::string_view nick_key) {
  {
    Reset r{remove_member_};
    bind_text(remove_member_, 1, group_key);
    bind_text(remove_member_, 2, nick_key);
    if (sqlite3_step(remove_member_) != SQLITE_DONE) {
      return std::unexpected(error("cannot remove group member"));
    }
  }
  Reset r{remove_group_};
  bind_text(remove_group_, 1, group_key);
  if (sqlite3_step(remove_group_) != SQLITE_DONE) {
    return std::unexpected(error("cannot remove group"));
  }
  return {};
}

std::expected<void, StoreError> SqliteStore::put_client(const ClientRecord& c) {
  Reset r{put_client_};
  bind_text(put_client_, 1, nickname_key(c.nick));
  bind_text(put_client_, 2, c.nick);
  bind_text(put_client_, 3, c.endpoint.address);
  sqlite3_bind_int(put_client_, 4, c.endpoint.port);
  sqlite3_bind_int(put_client_, 5, c.online ? 1 : 0);
  sqlite3_bind_int64(put_client_, 6, c.heartbeat_ms);
  sqlite3_bind_int64(put_client_, 7, static_cast<sqlite3_int64>(c.row_version));
  sqlite3_bind_int64(put_client_, 8, c.log_upto);
  if (c.key.empty()) {
    sqlite3_bind_null(put_client_, 9);
  } else {
    sqlite3_bind_blob(put_client_, 9, c.key.data(), static_cast<int>(c.key.size()),
                      SQLITE_TRANSIENT);
  }
  if (c.password_hash.empty()) {
    sqlite3_bind_null(put_client_, 10);
  } else {
    bind_text(put_client_, 10, c.password_hash);
  }
  if (c.local.address.empty()) {
    sqlite3_bind_null(put_client_, 11);
    sqlite3_bind_null(put_client_, 12);
  } else {
    bind_text(put_client_, 11, c.local.address);
    sqlite3_bind_int(put_client_, 12, c.local.port);
  }
  sqlite3_bind_int64(put_client_, 13, c.last_seen_ms);
  if (sqlite3_step(put_client_) != SQLITE_DONE) {
    return std::unexpected(error("cannot save client"));
  }
  return {};
}

std::expected<std::size_t, StoreError> SqliteStore::delete_client(std::string_view nick_key) {
  // Rare (a user's delete-account): statements prepared per call; all of
  // them or none (atomically).
  return atomically([&] { return delete_rows(nick_key); });
}

std::expected<std::size_t, StoreError> SqliteStore::delete_rows(std::string_view nick_key) {
  std::size_t deleted = 0;
  const char* const steps[] = {
      "DELETE FROM bodies WHERE seq IN "
      "(SELECT seq FROM messages WHERE recipient = ?1 AND delivered = 0)",
      "UPDATE messages SET delivered = 1 WHERE recipient = ?1 AND delivered = 0",
      "DELETE FROM clients WHERE nick_key = ?1",
      "DELETE FROM members WHERE nick_key = ?1",
      "DELETE FROM groups WHERE NOT EXISTS "
      "(SELECT 1 FROM members WHERE members.group_key = groups.group_key)",
  };
  for (const char* sql : steps) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) {
      return std::unexpected(error("cannot delete account"));
    }
    if (sqlite3_bind_parameter_count(s) > 0) bind_text(s, 1, nick_key);
    const int rc = sqlite3_step(s);
    if (sql == steps[1]) deleted = static_cast<std::size_t>(sqlite3_changes(db_));
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
      return std::unexpected(error("cannot delete account"));
    }
  }
  return deleted;
}

std::expected<void, StoreError> SqliteStore::put_table_version(std::uint64_t version) {
  Reset r{put_meta_};
  bind_text(put_meta_, 1, "table_version");
  sqlite3_bind_int64(put_meta_, 2, static_cast<sqlite3_int64>(version));
  if (sqlite3_step(put_meta_) != SQLITE_DONE) {
    return std::unexpected(error("cannot save table version"));
  }
  return {};
}

std::expected<StoredState, StoreError> SqliteStore::load() {
  StoredState state;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_,
                         "SELECT nick, address, port, online, heartbeat_ms, row_version, log_upto, "
                         "key, password, local_address, local_port, last_seen_ms FROM clients "
                         "ORDER BY nick_key",
                         -1, &s, nullptr) != SQLITE_OK) {
    return std::unexpected(error("cannot read clients"));
  }
  int rc = 0;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    ClientRecord c;
    c.nick = column_text(s, 0);
    c.endpoint.address = column_text(s, 1);
    c.endpoint.port = static_cast<std::uint16_t>(sqlite3_column_int(s, 2));
    c.online = sqlite3_column_int(s, 3) != 0;
    c.heartbeat_ms = static_cast<std::uint32_t>(sqlite3_column_int64(s, 4));
    c.row_version = static_cast<std::uint64_t>(sqlite3_column_int64(s, 5));
    c.log_upto = sqlite3_column_int64(s, 6);
    if (const auto* key = static_cast<const char*>(sqlite3_column_blob(s, 7)); key != nullptr) {
      c.key.assign(key, static_cast<std::size_t>(sqlite3_column_bytes(s, 7)));
    }
    c.password_hash = column_text(s, 8);
    c.local.address = column_text(s, 9);
    c.local.port = static_cast<std::uint16_t>(sqlite3_column_int(s, 10));
    if (c.local.address.empty() || c.local.port == 0) c.local = {};
    c.last_seen_ms = sqlite3_column_int64(s, 11);
    if (is_valid_nickname(c.nick)) {
      state.clients.push_back(std::move(c));
    }
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) {
    return std::unexpected(error("cannot read clients"));
  }
  if (sqlite3_prepare_v2(db_, "SELECT key, value FROM meta", -1, &s, nullptr) != SQLITE_OK) {
    return std::unexpected(error("cannot read table version"));
  }
  while (sqlite3_step(s) == SQLITE_ROW) {
    const std::string key = column_text(s, 0);
    if (key == "table_version") {
      state.table_version = static_cast<std::uint64_t>(sqlite3_column_int64(s, 1));
    } else if (key == "log_trimmed_upto") {
      state.log_trimmed_upto = sqlite3_column_int64(s, 1);
    }
  }
  sqlite3_finalize(s);
  // Mailbox sizes, once at start (the messages_waiting index covers it).
  if (sqlite3_prepare_v2(db_,
                         "SELECT recipient, count(*) FROM messages WHERE delivered = 0 "
                         "GROUP BY recipient",
                         -1, &s, nullptr) != SQLITE_OK) {
    return std::unexpected(error("cannot count stored messages"));
  }
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    state.waiting[column_text(s, 0)] = static_cast<std::size_t>(sqlite3_column_int64(s, 1));
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) {
    return std::unexpected(error("cannot count stored messages"));
  }
  // The channel and group posts not yet trimmed (each sender's quota in
  // each log; bounded by it): the messages_waiting index's two log ranges.
  if (sqlite3_prepare_v2(db_,
                         "SELECT recipient, sender_key, seq, mid FROM messages WHERE delivered = 0 "
                         "AND (recipient = '*' OR (recipient >= '#' AND recipient < '$')) "
                         "ORDER BY seq",
                         -1, &s, nullptr) != SQLITE_OK) {
    return std::unexpected(error("cannot read the channel and group logs"));
  }
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    state.log_posts.push_back({column_text(s, 0), column_text(s, 1), sqlite3_column_int64(s, 2),
                               static_cast<std::uint64_t>(sqlite3_column_int64(s, 3))});
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) {
    return std::unexpected(error("cannot read the channel and group logs"));
  }
  // The highest seq ever given out (AUTOINCREMENT keeps it in
  // sqlite_sequence even after the row is gone), and the groups.
  if (sqlite3_prepare_v2(db_,
                         "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE "
                         "name = 'messages'), 0), coalesce((SELECT max(seq) FROM messages), 0))",
                         -1, &s, nullptr) != SQLITE_OK) {
    return std::unexpected(error("cannot read the message sequence"));
  }
  if (sqlite3_step(s) == SQLITE_ROW) {
    state.last_seq = sqlite3_column_int64(s, 0);
  }
  sqlite3_finalize(s);
  if (sqlite3_prepare_v2(db_,
                         "SELECT g.group_key, g.name, m.nick_key, m.joined_seq FROM groups g "
                         "JOIN members m ON m.group_key = g.group_key ORDER BY g.group_key",
                         -1, &s, nullptr) != SQLITE_OK) {
    return std::unexpected(error("cannot read groups"));
  }
  std::string last_key;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    std::string key = column_text(s, 0);
    if (state.groups.empty() || key != last_key) {
      state.groups.push_back({column_text(s, 1), {}});
      last_key = key;
    }
    state.groups.back().members.push_back({column_text(s, 2), sqlite3_column_int64(s, 3)});
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) {
    return std::unexpected(error("cannot read groups"));
  }
  return state;
}

}  // namespace udpchat
