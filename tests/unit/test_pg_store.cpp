// What only the PostgreSQL store (src/store/pg_store.hpp) promises, on the
// test's own PostgreSQL (tests/support/pg_server.hpp): numbering that goes
// on across reopens, group commit through apply_batch, a failed statement
// that voids its transaction, a connection lost (a backend terminated, the
// database restarted) that costs at most the batch that met it, and the
// cluster's one key.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/server/store_ops.hpp"
#include "store/pg_store.hpp"
#include "support/pg_server.hpp"
#include "support/store_checks.hpp"

using namespace udpchat;        // NOLINT(google-build-using-namespace): test file
using namespace udpchat::test;  // NOLINT(google-build-using-namespace): test file

namespace {

std::unique_ptr<PgStore> open_pg(const std::string& conninfo) {
  auto r = PgStore::open(conninfo, "test");
  REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string() : r.error().what));
  return std::move(*r);
}

std::string dbname_of(const std::string& conninfo) {
  return conninfo.substr(conninfo.find("dbname=") + 7);
}

StoreCommand save_command(std::uint64_t ticket, std::int64_t seq, std::string text) {
  StoredMessage m = message("alice", "bob", ticket, std::move(text));
  m.seq = seq;
  return {ticket, SaveOp{m}};
}

bool saved(const StoreCompletion& c) {
  return c.result.has_value() && std::get<SaveOutcome>(*c.result) == SaveResult::kSaved;
}

}  // namespace

TEST_SUITE("store: PgStore") {
  TEST_CASE("a batch is one transaction: everything is there after a reopen, seqs go on above") {
    const std::string conninfo = fresh_pg_database();
    {
      auto s = open_pg(conninfo);
      std::vector<StoreCommand> batch;
      for (std::uint64_t t = 1; t <= 50; ++t) batch.push_back(save_command(t, 100 + t, "m"));
      batch.push_back({51, PutClientOp{{"bob", {"127.0.0.1", 7000}, true, 1000, 9, 120}}});
      batch.push_back({52, PutVersionOp{9}});
      const auto done = apply_batch(*s, batch);
      REQUIRE(done.size() == 52);
      for (std::size_t i = 0; i < 50; ++i) CHECK(saved(done[i]));
      CHECK(done[50].result.has_value());
    }
    auto s = open_pg(conninfo);
    const StoredState st = load(*s);
    CHECK(st.last_seq == 150);
    CHECK(st.table_version == 9);
    CHECK(st.waiting.at("bob") == 50);
    REQUIRE(st.clients.size() == 1);
    CHECK(st.clients[0].log_upto == 120);
    // A message without a seq of the server's gets one above all.
    CHECK(save(*s, message("carol", "bob", 1, "next")) == SaveResult::kSaved);
    CHECK(s->fetch_for("bob", 150, 10).value().size() == 1);
  }

  TEST_CASE("a run of saves in one pipeline: each its own outcome, in order, numbered in order") {
    auto s = open_pg(fresh_pg_database());
    std::vector<StoreCommand> batch;
    for (std::uint64_t t = 1; t <= 40; ++t) batch.push_back(save_command(t, 0, "m" + std::to_string(t)));
    batch.insert(batch.begin() + 20, save_command(5, 0, "again"));  // mid 5 again: a duplicate
    batch.push_back({99, PutVersionOp{3}});                        // the run ends; the batch goes on
    batch.push_back(save_command(41, 0, "after"));
    const auto done = apply_batch(*s, batch);
    REQUIRE(done.size() == 43);
    std::int64_t last = 0;
    for (std::size_t i = 0; i < done.size(); ++i) {
      REQUIRE(done[i].result.has_value());
      if (i == 41) continue;  // the version
      const auto outcome = std::get<SaveOutcome>(*done[i].result);
      if (i == 20) {
        CHECK(outcome == SaveResult::kDuplicate);
        continue;
      }
      CHECK(outcome == SaveResult::kSaved);
      CHECK(outcome.seq > last);  // the database's numbers, in the order of the batch
      last = outcome.seq;
    }
    const auto got = s->fetch_for("bob", 0, 100).value();
    REQUIRE(got.size() == 41);
    CHECK(got[0].text == "m1");
    CHECK(got[39].text == "m40");
    CHECK(got[40].text == "after");
  }

  TEST_CASE("text with a NUL byte and sealed boxes of any bytes are kept exactly") {
    auto s = open_pg(fresh_pg_database());
    StoredMessage text = message("alice", "bob", 1, std::string("a\0b \xC3\xA9", 5));
    StoredMessage sealed = message("alice", "bob", 2, "");
    sealed.box = std::string("\0\xFF\x01 box", 7);
    CHECK(save(*s, text) == SaveResult::kSaved);
    CHECK(save(*s, sealed) == SaveResult::kSaved);
    const auto got = s->fetch_for("bob", 0, 10).value();
    REQUIRE(got.size() == 2);
    CHECK(got[0].text == text.text);
    CHECK(got[0].box.empty());
    CHECK(got[1].box == sealed.box);
    CHECK(got[1].text.empty());
  }

  TEST_CASE("a statement that fails voids its transaction: the writes before it fail too") {
    auto s = open_pg(fresh_pg_database());
    // The same seq twice: the second insert breaks the primary key.
    const std::vector<StoreCommand> batch = {
        save_command(1, 7, "first"), save_command(2, 7, "clash"), save_command(3, 8, "after")};
    const auto done = apply_batch(*s, batch);
    REQUIRE(done.size() == 3);
    CHECK_FALSE(done[0].result.has_value());  // rolled back with the failed one
    CHECK_FALSE(done[1].result.has_value());
    CHECK(saved(done[2]));  // in a new transaction
    CHECK(done[1].result.error().told() == "database error");  // the words stay in the log
    CHECK(done[1].result.error().what.find("duplicate key") != std::string::npos);
    const auto got = s->fetch_for("bob", 0, 10).value();
    REQUIRE(got.size() == 1);
    CHECK(got[0].text == "after");
  }

  TEST_CASE("a terminated connection costs no batch: the next one connects again") {
    const std::string conninfo = fresh_pg_database();
    auto s = open_pg(conninfo);
    CHECK(saved(apply_batch(*s, std::vector{save_command(1, 1, "before")})[0]));
    REQUIRE(pg_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" +
                     dbname_of(conninfo) + "'"));
    // The loss shows at BEGIN, before anything was written: connected again.
    CHECK(saved(apply_batch(*s, std::vector{save_command(2, 2, "after")})[0]));
    CHECK(s->fetch_for("bob", 0, 10).value().size() == 2);
  }

  TEST_CASE("the database restarted: the store connects again and nothing committed is lost") {
    const std::string conninfo = fresh_pg_database();
    auto s = open_pg(conninfo);
    CHECK(saved(apply_batch(*s, std::vector{save_command(1, 1, "before")})[0]));
    restart_pg();
    CHECK(s->count_for("bob").value() == 1);  // a read outside a batch reconnects too
    CHECK(saved(apply_batch(*s, std::vector{save_command(2, 2, "after")})[0]));
    CHECK(s->fetch_for("bob", 0, 10).value().size() == 2);
  }

  TEST_CASE("one cluster key: the first server's proposal is every later server's key") {
    const std::string conninfo = fresh_pg_database();
    auto first = open_pg(conninfo);
    auto second = open_pg(conninfo);
    const std::string a(32, '\x01');
    const std::string b(32, '\x02');
    CHECK(first->cluster_secret(a).value() == a);
    CHECK(second->cluster_secret(b).value() == a);
    CHECK(open_pg(conninfo)->cluster_secret(b).value() == a);  // and after a reopen
  }

  TEST_CASE("an unreachable database is a clear error at open") {
    const auto r =
        PgStore::open("host=/nonexistent/udpchat port=5432 user=postgres dbname=x", "test");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().what.find("cannot connect to PostgreSQL") == 0);
    // A client is told only that much: the database's address stays here.
    CHECK(r.error().told() == "database unreachable");
  }
}
