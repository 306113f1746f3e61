// table_replica.hpp: the client's copy of its server's table (manual §6.9):
// rows by nickname key, the version they bring it to, and the parts of an
// update being reassembled. The rules of the copy, and nothing else: never
// an older row over a newer one, never an older version over a newer one,
// a delta from a version not held is a gap; and (docs/CLUSTER.md) versions
// are each server's own, so rows learnt from another server count from 0.
// ClientSession acts on what it reports (a key to note, a deleted account,
// a gap to repair, a whole update to announce). Plain data, no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/endpoint.hpp"
#include "protocol/messages.hpp"

namespace udpchat {

class TableReplica {
 public:
  /// What merging one row did that the session must act on.
  enum class Merged : std::uint8_t {
    kNothing,  ///< taken (or older than the row held): nothing to tell
    kNewKey,   ///< taken, and its key is new here (a first row, or a changed key)
    kRemoved,  ///< the account was deleted: the row held is gone
  };
  /// What one part of an update (TablePart) did.
  enum class Part : std::uint8_t {
    kStale,     ///< not newer than what is held, or than the update being assembled
    kGap,       ///< a delta from a version not held: ask again with version()
    kWaiting,   ///< kept; other parts of the update are missing
    kComplete,  ///< the last part: take_update() gives the update's rows
  };

  [[nodiscard]] std::uint64_t version() const { return version_; }
  [[nodiscard]] std::size_t size() const { return rows_.size(); }
  /// The row of `nick_key` (lower case), or null.
  [[nodiscard]] const TableEntry* find(const std::string& nick_key) const;
  /// Every row, by nickname key.
  [[nodiscard]] std::vector<TableEntry> rows() const;

  /// Takes `row` (of nickname key `nick_key`) unless the row held is newer.
  Merged merge(const std::string& nick_key, const TableEntry& row);
  /// Part `m` of an update; on kComplete the version is the update's and
  /// its rows wait in take_update() (merged by the session, row by row).
  Part add_part(const TablePart& m);
  /// The rows of the update add_part completed, in part order, once.
  std::vector<TableEntry> take_update();
  /// docs/CLUSTER.md: rows and versions from now on come from `server`.
  /// Returns true when that is a change of server: versions then start
  /// over at 0 (the rows stay, as the best known, until replaced).
  bool rebase(const Endpoint& server);

 private:
  std::uint64_t version_ = 0;
  std::map<std::string, TableEntry> rows_;  ///< by nickname key
  Endpoint server_;                         ///< the server whose versions these are
  std::uint64_t assembling_version_ = 0, assembling_from_ = 0;
  std::vector<std::optional<std::vector<TableEntry>>> assembling_;
  std::vector<TableEntry> update_;  ///< a completed update's rows, until taken
};

}  // namespace udpchat
