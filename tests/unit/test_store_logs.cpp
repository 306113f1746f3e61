// The channel and group logs in the store (offline_store.hpp): numbering
// given by the server, reading a log past a position without one's own
// messages, group membership, log positions, and all of it surviving a
// reopen of the SQLite or PostgreSQL store. Checked on SqliteStore, PgStore
// and MemoryStore.
#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <random>

#include "core/server/offline_store.hpp"
#include "core/server/store_ops.hpp"
#include "store/pg_store.hpp"
#include "store/sqlite_store.hpp"
#include "support/pg_server.hpp"

using namespace udpchat;
namespace fs = std::filesystem;

namespace {

struct Dir {
  fs::path path =
      fs::temp_directory_path() / ("udpchat-logs-" + std::to_string(std::random_device{}()) + "-" +
                                   std::to_string(reinterpret_cast<std::uintptr_t>(this)));
  ~Dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

StoredMessage msg(std::int64_t seq, std::string from, std::string to, std::uint64_t mid) {
  return {seq, std::move(from), std::move(to), mid, "text " + std::to_string(mid), 1000 + seq};
}

void exercise(OfflineStore& s) {
  REQUIRE(s.save(msg(10, "alice", kChannelLog, 1)) == SaveResult::kSaved);
  REQUIRE(s.save(msg(11, "bob", kChannelLog, 1)) == SaveResult::kSaved);
  REQUIRE(s.save(msg(12, "Alice", group_log_key("team"), 2)) == SaveResult::kSaved);
  REQUIRE(s.save(msg(13, "carol", "bob", 3)) == SaveResult::kSaved);
  // Idempotent by (sender, mid), whatever the seq offered.
  CHECK(s.save(msg(14, "ALICE", kChannelLog, 1)) == SaveResult::kDuplicate);

  const auto all = s.fetch_log(kChannelLog, 0, "nobody", 100).value();
  REQUIRE(all.size() == 2);
  CHECK(all[0].seq == 10);
  CHECK(all[0].to_key == kChannelLog);
  CHECK(all[1].from == "bob");
  CHECK(all[1].saved_at_ms == 1011);
  // Not one's own, and only past the position.
  const auto for_alice = s.fetch_log(kChannelLog, 0, "alice", 100).value();
  REQUIRE(for_alice.size() == 1);
  CHECK(for_alice[0].from == "bob");
  CHECK(s.fetch_log(kChannelLog, 10, "bob", 100).value().empty());
  CHECK(s.fetch_log(group_log_key("team"), 0, "bob", 100).value().size() == 1);
  CHECK(s.fetch_for("bob", 0, 100).value().size() == 1);  // logs are not a mailbox

  // A fetch that merges the logs with the mailbox, in seq order, bounded.
  const std::vector<StoreCommand> batch = {
      {1, FetchOp{"bob", 0, 2, {{kChannelLog, 0}, {group_log_key("team"), 0}}}}};
  const auto done = apply_batch(s, batch);
  REQUIRE(done.size() == 1);
  const auto& merged = std::get<std::vector<StoredMessage>>(*done[0].result);
  REQUIRE(merged.size() == 2);  // of 10 (alice), 12 (Alice, team), 13 (to bob); not 11 (his)
  CHECK(merged[0].seq == 10);
  CHECK(merged[1].seq == 12);

  REQUIRE(s.put_member("team", "Team", {"alice", 11}).has_value());
  REQUIRE(s.put_member("team", "ignored", {"bob", 12}).has_value());
  REQUIRE(s.put_member("solo", "Solo", {"carol", 0}).has_value());
  REQUIRE(s.remove_member("solo", "carol").has_value());
  REQUIRE(s.put_client({"bob", {"127.0.0.1", 7000}, true, 1000, 3, 12}).has_value());
}

void check_loaded(OfflineStore& s) {
  const StoredState st = s.load().value();
  CHECK(st.last_seq >= 13);
  REQUIRE(st.groups.size() == 1);  // "solo" went with its last member
  CHECK(st.groups[0].name == "Team");
  REQUIRE(st.groups[0].members.size() == 2);
  CHECK(st.groups[0].members[0].nick_key == "alice");
  CHECK(st.groups[0].members[0].joined_seq == 11);
  CHECK(st.groups[0].members[1].joined_seq == 12);
  REQUIRE(st.clients.size() == 1);
  CHECK(st.clients[0].log_upto == 12);
}

}  // namespace

TEST_SUITE("store: channel and group logs") {
  TEST_CASE("MemoryStore") {
    MemoryStore s;
    exercise(s);
    check_loaded(s);
  }

  TEST_CASE("SqliteStore, and again after a reopen") {
    Dir dir;
    {
      auto s = SqliteStore::open(dir.path.string());
      REQUIRE(s.has_value());
      exercise(**s);
      check_loaded(**s);
    }
    auto again = SqliteStore::open(dir.path.string());
    REQUIRE(again.has_value());
    check_loaded(**again);
    // Numbering goes on after the highest seq ever given, also when the
    // server offers none.
    REQUIRE((*again)->save(msg(0, "dave", "bob", 9)) == SaveResult::kSaved);
    const auto mine = (*again)->fetch_for("bob", 13, 10).value();
    REQUIRE(mine.size() == 1);
    CHECK(mine[0].seq > 13);
  }

  TEST_CASE("PgStore, and again after a reconnection") {
    const std::string conninfo = test::fresh_pg_database();
    {
      auto s = PgStore::open(conninfo, "test");
      REQUIRE_MESSAGE(s.has_value(), (s ? std::string() : s.error().what));
      exercise(**s);
      check_loaded(**s);
    }
    auto again = PgStore::open(conninfo, "test");
    REQUIRE(again.has_value());
    check_loaded(**again);
    REQUIRE((*again)->save(msg(0, "dave", "bob", 9)) == SaveResult::kSaved);
    const auto mine = (*again)->fetch_for("bob", 13, 10).value();
    REQUIRE(mine.size() == 1);
    CHECK(mine[0].seq > 13);
  }
}
