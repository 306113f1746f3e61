// sqlite_store.cpp: SqliteStore's mailbox (save, fetch, delivery, the
// logs' trimming, the keys' purge) and its transactions. The file, its
// schema and statements are sqlite_store_open.cpp's.
#include "store/sqlite_store.hpp"

#include <sqlite3.h>

#include "protocol/text.hpp"
#include "store/sqlite_util.hpp"

namespace udpchat {

using sqlite_util::bind_text;
using sqlite_util::column_text;
using sqlite_util::read_body;
using sqlite_util::Reset;

StoreError SqliteStore::error(const char* what) const {
  return StoreError{std::string(what) + ": " +
                    (db_ != nullptr ? sqlite3_errmsg(db_) : "no database")};
}

std::expected<void, StoreError> SqliteStore::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    StoreError e{msg != nullptr ? msg : "sqlite error"};
    sqlite3_free(msg);
    return std::unexpected(e);
  }
  return {};
}

std::expected<void, StoreError> SqliteStore::savepoint() {
  Reset r{savepoint_};
  if (sqlite3_step(savepoint_) != SQLITE_DONE) {
    return std::unexpected(error("cannot begin a write"));
  }
  return {};
}

std::expected<void, StoreError> SqliteStore::release(bool ok) {
  if (!ok) {
    // Undoes the write's own statements only. After an error that rolled
    // the whole transaction back (SQLITE_FULL may) there is no savepoint
    // left: both fail, and the caller sees in_transaction() false.
    Reset r{rollback_to_};
    (void)sqlite3_step(rollback_to_);
  }
  Reset r{release_};
  if (sqlite3_step(release_) != SQLITE_DONE && ok) {
    return std::unexpected(error("cannot end a write"));
  }
  return {};
}

std::expected<SaveOutcome, StoreError> SqliteStore::save(const StoredMessage& m) {
  return atomically([&] { return save_rows(m); });
}

std::expected<SaveOutcome, StoreError> SqliteStore::save_rows(const StoredMessage& m) {
  Reset r{insert_message_};
  bind_text(insert_message_, 1, m.from);
  bind_text(insert_message_, 2, nickname_key(m.from));
  bind_text(insert_message_, 3, m.to_key);
  sqlite3_bind_int64(insert_message_, 4, static_cast<sqlite3_int64>(m.mid));  // bit pattern kept
  sqlite3_bind_int64(insert_message_, 5, m.saved_at_ms);
  if (m.seq > 0) {
    sqlite3_bind_int64(insert_message_, 6, m.seq);  // the server's numbering
  } else {
    sqlite3_bind_null(insert_message_, 6);  // the next AUTOINCREMENT value
  }
  if (sqlite3_step(insert_message_) != SQLITE_DONE) {
    // The bare SQLite message ("database or disk is full", "attempt to
    // write a readonly database"): the sender is shown it as it is.
    return std::unexpected(StoreError{sqlite3_errmsg(db_)});
  }
  if (sqlite3_changes(db_) == 0) return SaveOutcome{SaveResult::kDuplicate, 0};
  const std::int64_t seq =
      m.seq > 0 ? m.seq : static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
  // The body, under the same seq. If it fails, the key row goes with it
  // (atomically): a retry of the same message then saves it whole instead
  // of finding a duplicate.
  Reset b{insert_body_};
  sqlite3_bind_int64(insert_body_, 1, seq);
  if (m.box.empty()) {
    sqlite3_bind_text(insert_body_, 2, m.text.data(), static_cast<int>(m.text.size()),
                      SQLITE_TRANSIENT);
  } else {
    sqlite3_bind_blob(insert_body_, 2, m.box.data(), static_cast<int>(m.box.size()),
                      SQLITE_TRANSIENT);
  }
  if (sqlite3_step(insert_body_) != SQLITE_DONE) {
    return std::unexpected(StoreError{sqlite3_errmsg(db_)});
  }
  return SaveOutcome{SaveResult::kSaved, seq};
}

std::expected<std::vector<StoredMessage>, StoreError> SqliteStore::fetch_for(
    std::string_view to_key, std::int64_t after_seq, std::size_t limit) {
  Reset r{oldest_};
  bind_text(oldest_, 1, to_key);
  sqlite3_bind_int64(oldest_, 2, after_seq);
  sqlite3_bind_int64(oldest_, 3, static_cast<sqlite3_int64>(limit));
  std::vector<StoredMessage> out;
  int rc = 0;
  while ((rc = sqlite3_step(oldest_)) == SQLITE_ROW) {
    StoredMessage m;
    m.seq = sqlite3_column_int64(oldest_, 0);
    m.from = column_text(oldest_, 1);
    m.to_key = std::string(to_key);
    m.mid = static_cast<std::uint64_t>(sqlite3_column_int64(oldest_, 2));
    read_body(oldest_, 3, m);
    m.saved_at_ms = sqlite3_column_int64(oldest_, 4);
    out.push_back(std::move(m));
  }
  if (rc != SQLITE_DONE) {
    return std::unexpected(error("cannot read stored messages"));
  }
  return out;
}

std::expected<std::size_t, StoreError> SqliteStore::count_for(std::string_view to_key) {
  Reset r{count_};
  bind_text(count_, 1, to_key);
  if (sqlite3_step(count_) != SQLITE_ROW) {
    return std::unexpected(error("cannot count stored messages"));
  }
  return static_cast<std::size_t>(sqlite3_column_int64(count_, 0));
}

std::expected<void, StoreError> SqliteStore::drop_body(std::int64_t seq) {
  Reset r{delete_body_};
  sqlite3_bind_int64(delete_body_, 1, seq);
  if (sqlite3_step(delete_body_) != SQLITE_DONE) {
    return std::unexpected(error("cannot delete delivered message"));
  }
  return {};
}

std::expected<std::size_t, StoreError> SqliteStore::mark_delivered(std::int64_t seq) {
  return atomically([&]() -> std::expected<std::size_t, StoreError> {
    Reset r{delivered_};
    sqlite3_bind_int64(delivered_, 1, seq);
    if (sqlite3_step(delivered_) != SQLITE_DONE) {
      return std::unexpected(error("cannot delete delivered message"));
    }
    const auto rows = static_cast<std::size_t>(sqlite3_changes(db_));
    if (rows > 0) {
      if (auto d = drop_body(seq); !d) return std::unexpected(d.error());
    }
    return rows;
  });
}

std::expected<std::size_t, StoreError> SqliteStore::purge_keys(std::int64_t before_ms,
                                                              std::size_t limit) {
  Reset r{purge_keys_};
  sqlite3_bind_int64(purge_keys_, 1, before_ms);
  sqlite3_bind_int64(purge_keys_, 2, static_cast<sqlite3_int64>(limit));
  if (sqlite3_step(purge_keys_) != SQLITE_DONE) {
    return std::unexpected(error("cannot purge old idempotency keys"));
  }
  return static_cast<std::size_t>(sqlite3_changes(db_));
}

std::expected<std::size_t, StoreError> SqliteStore::trim_logs(std::int64_t upto) {
  return atomically([&] { return trim_rows(upto); });
}

std::expected<std::size_t, StoreError> SqliteStore::trim_rows(std::int64_t upto) {
  Reset r{trim_logs_};
  sqlite3_bind_int64(trim_logs_, 1, upto);
  {
    Reset b{trim_bodies_};  // first: it finds them by the rows not yet marked
    sqlite3_bind_int64(trim_bodies_, 1, upto);
    if (sqlite3_step(trim_bodies_) != SQLITE_DONE) {
      return std::unexpected(error("cannot trim the channel and group logs"));
    }
  }
  if (sqlite3_step(trim_logs_) != SQLITE_DONE) {
    return std::unexpected(error("cannot trim the channel and group logs"));
  }
  const auto rows = static_cast<std::size_t>(sqlite3_changes(db_));
  // The point trimmed to, for a client that comes back from below it
  // (StoredState::log_trimmed_upto). Positions only grow: so does it.
  Reset m{put_meta_};
  bind_text(put_meta_, 1, "log_trimmed_upto");
  sqlite3_bind_int64(put_meta_, 2, upto);
  if (sqlite3_step(put_meta_) != SQLITE_DONE) {
    return std::unexpected(error("cannot trim the channel and group logs"));
  }
  return rows;
}

std::expected<std::size_t, StoreError> SqliteStore::mark_delivered_by_key(
    std::string_view sender_key, std::uint64_t mid) {
  return atomically([&] { return delivered_rows(sender_key, mid); });
}

std::expected<std::size_t, StoreError> SqliteStore::delivered_rows(std::string_view sender_key,
                                                                   std::uint64_t mid) {
  Reset r{delivered_by_key_};
  bind_text(delivered_by_key_, 1, sender_key);
  sqlite3_bind_int64(delivered_by_key_, 2, static_cast<sqlite3_int64>(mid));
  std::size_t rows = 0;
  std::int64_t seq = 0;
  int rc = 0;
  while ((rc = sqlite3_step(delivered_by_key_)) == SQLITE_ROW) {  // RETURNING seq: one at most
    seq = sqlite3_column_int64(delivered_by_key_, 0);
    ++rows;
  }
  if (rc != SQLITE_DONE) {
    return std::unexpected(error("cannot delete delivered message"));
  }
  if (rows > 0) {
    if (auto d = drop_body(seq); !d) return std::unexpected(d.error());
  }
  return rows;
}

std::expected<void, StoreError> SqliteStore::begin() {
  if (auto r = exec("BEGIN IMMEDIATE"); !r) {
    return std::unexpected(StoreError{"cannot begin a transaction: " + r.error().what});
  }
  return {};
}

std::expected<void, StoreError> SqliteStore::commit() {
  if (auto r = exec("COMMIT"); !r) {
    return std::unexpected(StoreError{r.error().what});
  }
  return {};
}

void SqliteStore::rollback() {
  if (in_transaction()) {
    (void)exec("ROLLBACK");
  }
}

bool SqliteStore::in_transaction() const {
  return sqlite3_get_autocommit(db_) == 0;
}

std::expected<void, StoreError> SqliteStore::checkpoint() {
  if (sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr) !=
      SQLITE_OK) {
    return std::unexpected(error("checkpoint failed"));
  }
  return {};
}

}  // namespace udpchat
