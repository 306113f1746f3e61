// sqlite_util.hpp: small helpers shared by the SQLite store's files
// (private to src/store): statement reset, text binding and reading.
#pragma once

#include <sqlite3.h>

#include <string>
#include <string_view>

#include "core/server/offline_store.hpp"

namespace udpchat::sqlite_util {

/// Resets a statement when it leaves scope, whatever happened.
struct Reset {
  sqlite3_stmt* s;
  ~Reset() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

inline void bind_text(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

/// A TEXT or BLOB column as bytes (NUL bytes kept).
inline std::string column_text(sqlite3_stmt* s, int i) {
  const auto* p = sqlite3_column_blob(s, i);
  const int n = sqlite3_column_bytes(s, i);
  return p == nullptr ? std::string()
                      : std::string(static_cast<const char*>(p), static_cast<std::size_t>(n));
}

/// A message body: a BLOB is a sealed box (manual §8), TEXT the message's
/// text (store schema 5).
inline void read_body(sqlite3_stmt* s, int i, StoredMessage& m) {
  if (sqlite3_column_type(s, i) == SQLITE_BLOB) {
    m.box = column_text(s, i);
  } else {
    m.text = column_text(s, i);
  }
}

}  // namespace udpchat::sqlite_util
