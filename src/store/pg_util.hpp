// pg_util.hpp: small helpers over libpq for PgStore: a PGresult owned by a
// unique_ptr, parameters as text (bytea as binary), and readers of a
// result's text-format columns. PostgreSQL's C library documentation,
// "libpq - C Library", is the reference for every call here.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace udpchat::pg_util {

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
/// A result of PQexec / PQexecPrepared (nullptr: out of memory, or no connection).
using Result = std::unique_ptr<PGresult, ResultDeleter>;

/// The parameters of one statement: each a text value, a binary one
/// (bytea), or NULL; kept alive until the statement ran.
class Params {
 public:
  Params& text(std::string_view v) {
    values_.emplace_back(v);
    binary_.push_back(0);
    null_.push_back(false);
    return *this;
  }
  Params& integer(std::int64_t v) { return text(std::to_string(v)); }
  Params& boolean(bool v) { return text(v ? "t" : "f"); }
  /// Binary bytes for a bytea parameter.
  Params& bytes(std::string_view v) {
    values_.emplace_back(v);
    binary_.push_back(1);
    null_.push_back(false);
    return *this;
  }
  Params& null() {
    values_.emplace_back();
    binary_.push_back(0);
    null_.push_back(true);
    return *this;
  }
  /// Runs prepared statement `name` on `conn` (results in text format).
  Result run(PGconn* conn, const char* name) const {
    const Args a = args();
    return Result(PQexecPrepared(conn, name, static_cast<int>(a.values.size()), a.values.data(),
                                 a.lengths.data(), binary_.data(), 0));
  }
  /// Sends prepared statement `name` without waiting for its result (in
  /// pipeline mode: queued after those sent before). False: not sent.
  bool send(PGconn* conn, const char* name) const {
    const Args a = args();
    return PQsendQueryPrepared(conn, name, static_cast<int>(a.values.size()), a.values.data(),
                               a.lengths.data(), binary_.data(), 0) == 1;
  }

 private:
  struct Args {
    std::vector<const char*> values;
    std::vector<int> lengths;
  };
  [[nodiscard]] Args args() const {
    Args a{std::vector<const char*>(values_.size()), std::vector<int>(values_.size())};
    for (std::size_t i = 0; i < values_.size(); ++i) {
      a.values[i] = null_[i] ? nullptr : values_[i].data();
      a.lengths[i] = static_cast<int>(values_[i].size());
    }
    return a;
  }
  std::vector<std::string> values_;
  std::vector<int> binary_;
  std::vector<bool> null_;
};

/// True if `r` finished as `status` (PGRES_COMMAND_OK, PGRES_TUPLES_OK).
inline bool ok(const Result& r, ExecStatusType status) {
  return r != nullptr && PQresultStatus(r.get()) == status;
}
/// Column `col` of row `row` as text ("" for NULL).
inline std::string text(const PGresult* r, int row, int col) {
  return PQgetisnull(r, row, col) ? std::string() : std::string(PQgetvalue(r, row, col));
}
inline std::int64_t integer(const PGresult* r, int row, int col) {
  return PQgetisnull(r, row, col) ? 0 : std::stoll(PQgetvalue(r, row, col));
}
inline bool boolean(const PGresult* r, int row, int col) {
  return !PQgetisnull(r, row, col) && PQgetvalue(r, row, col)[0] == 't';
}
/// A bytea column (text format, hex-escaped by the server) as its bytes.
inline std::string bytes(const PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col)) return {};
  std::size_t n = 0;
  unsigned char* raw =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r, row, col)), &n);
  if (raw == nullptr) return {};
  std::string out(reinterpret_cast<const char*>(raw), n);
  PQfreemem(raw);
  return out;
}
/// Rows an INSERT, UPDATE or DELETE changed.
inline std::size_t changed(const Result& r) {
  const char* n = PQcmdTuples(r.get());
  return n == nullptr || *n == '\0' ? 0 : static_cast<std::size_t>(std::stoull(n));
}

}  // namespace udpchat::pg_util
