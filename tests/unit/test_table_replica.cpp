// The rules of the client's copy of the table (core/client/table_replica.hpp,
// manual §6.9, docs/CLUSTER.md): newer rows only, newer versions only, a
// delta from a version not held is a gap, an update's parts reassembled in
// any order, a deleted account's row removed, and versions that start over
// when the rows come from another server.
#include <doctest/doctest.h>

#include "core/client/table_replica.hpp"

using namespace udpchat;  // NOLINT(google-build-using-namespace): test file

namespace {

const Endpoint kA{"127.0.0.1", 9000};
const Endpoint kB{"127.0.0.1", 9001};

TableEntry entry(const std::string& nick, bool online, std::uint64_t version,
                 std::string key = "k") {
  return {nick, "127.0.0.1", 6000, online, version, std::move(key)};
}

}  // namespace

TEST_SUITE("client table replica") {
  TEST_CASE("an older row never replaces a newer one; a new key is told") {
    TableReplica t;
    CHECK(t.merge("bob", entry("bob", true, 5)) == TableReplica::Merged::kNewKey);
    CHECK(t.merge("bob", entry("bob", false, 4)) == TableReplica::Merged::kNothing);
    CHECK(t.find("bob")->online);
    CHECK(t.merge("bob", entry("bob", false, 6)) == TableReplica::Merged::kNothing);
    CHECK_FALSE(t.find("bob")->online);
    CHECK(t.merge("bob", entry("bob", false, 7, "other")) == TableReplica::Merged::kNewKey);
    // A deleted account: its row goes, unless what is held is newer.
    TableEntry gone{"bob", "", 0, false, 6, {}};
    CHECK(t.merge("bob", gone) == TableReplica::Merged::kNothing);
    gone.version = 8;
    CHECK(t.merge("bob", gone) == TableReplica::Merged::kRemoved);
    CHECK(t.find("bob") == nullptr);
    CHECK(t.size() == 0);
  }

  TEST_CASE("parts in any order make one update; older and gapped updates are not taken") {
    TableReplica t;
    CHECK(t.add_part(TablePart{1, 3, 1, 2, {entry("carol", true, 3)}, 0}) ==
          TableReplica::Part::kWaiting);
    CHECK(t.version() == 0);
    CHECK(t.add_part(TablePart{2, 3, 0, 2, {entry("bob", true, 2)}, 0}) ==
          TableReplica::Part::kComplete);
    CHECK(t.version() == 3);
    const auto rows = t.take_update();
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].nick == "bob");  // in part order
    CHECK(t.take_update().empty());
    CHECK(t.add_part(TablePart{3, 3, 0, 1, {}, 0}) == TableReplica::Part::kStale);
    CHECK(t.add_part(TablePart{4, 9, 0, 1, {}, 5}) == TableReplica::Part::kGap);
    CHECK(t.add_part(TablePart{5, 9, 0, 1, {}, 3}) == TableReplica::Part::kComplete);
    CHECK(t.version() == 9);
  }

  TEST_CASE("rows from another server: versions start over, rows stay until replaced") {
    TableReplica t;
    CHECK_FALSE(t.rebase(kA));  // the first server: nothing to start over
    REQUIRE(t.add_part(TablePart{1, 24, 0, 1, {entry("bob", false, 24)}, 0}) ==
            TableReplica::Part::kComplete);
    for (const TableEntry& e : t.take_update()) t.merge("bob", e);
    CHECK_FALSE(t.rebase(kA));
    // Server B's snapshot is at version 5: taken after the rebase.
    CHECK(t.rebase(kB));
    CHECK(t.version() == 0);
    REQUIRE(t.find("bob") != nullptr);  // still the best known
    CHECK(t.find("bob")->version == 0);
    REQUIRE(t.add_part(TablePart{2, 5, 0, 1, {entry("bob", true, 3)}, 0}) ==
            TableReplica::Part::kComplete);
    for (const TableEntry& e : t.take_update()) t.merge("bob", e);
    CHECK(t.version() == 5);
    CHECK(t.find("bob")->online);
  }
}
