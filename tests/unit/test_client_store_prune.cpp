// Pruning the client's own store (manual §4.11, client_store.hpp kPrune):
// texts older than --history-days dropped, ids without text older than
// kTakenIdDays deleted, what was never shown never touched; and kSize. On
// both stores behind the same face: SqliteClientStore and MemoryClientStore.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/client/client_store.hpp"
#include "store/sqlite_client_store.hpp"
#include "support/client_fixture.hpp"
#include "support/doctest_print.hpp"
#include "support/temp_dir.hpp"

using namespace udpchat;        // NOLINT(google-build-using-namespace): test file
using namespace udpchat::test;  // NOLINT(google-build-using-namespace): test file

namespace {

struct SqliteClientFixture {
  TempDir dir;
  std::unique_ptr<SqliteClientStore> impl = open(dir);
  ClientStore& store() { return *impl; }
  static std::unique_ptr<SqliteClientStore> open(const TempDir& d) {
    std::filesystem::create_directories(d.path());
    auto r = SqliteClientStore::open((d.path() / "alice.db").string());
    REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? std::string() : r.error().line));
    return std::move(*r);
  }
};

struct MemoryClientFixture {
  MemoryClientStore impl;
  ClientStore& store() { return impl; }
};

HistoryEntry entry(std::uint64_t mid, std::int64_t at_ms, bool outgoing = false) {
  return HistoryEntry{.outgoing = outgoing,
                      .sender_key = outgoing ? "alice" : "bob",
                      .mid = mid,
                      .conversation = "bob",
                      .from = outgoing ? "alice" : "bob",
                      .text = "text " + std::to_string(mid),
                      .at_ms = at_ms};
}

ClientStoreCompletion one(ClientStore& s, ClientStoreCommand c) {
  auto done = s.apply({std::move(c)});
  REQUIRE(done.size() == 1);
  REQUIRE_MESSAGE(done[0].ok, done[0].error);
  return done[0];
}

ClientStoreCommand take(const HistoryEntry& e) { return {1, ClientStoreOp::kTake, e}; }

ClientStoreCommand mark(std::uint64_t mid, bool forget) {
  ClientStoreCommand c{2, ClientStoreOp::kMarkShown, {}};
  c.entry.sender_key = "bob";
  c.entry.mid = mid;
  c.forget_text = forget;
  return c;
}

}  // namespace

TEST_SUITE("client store: pruning") {
  TEST_CASE_TEMPLATE("old texts dropped, old ids deleted, the unshown and the recent kept", F,
                     SqliteClientFixture, MemoryClientFixture) {
    F f;
    ClientStore& s = f.store();
    for (std::uint64_t mid = 1; mid <= 5; ++mid) {
      CHECK(one(s, take(entry(mid, static_cast<std::int64_t>(mid) * 1000))).fresh);
      one(s, mark(mid, /*forget=*/mid == 2));
    }
    CHECK(one(s, take(entry(6, 500))).fresh);  // old, never shown
    one(s, {3, ClientStoreOp::kRecordSent, entry(7, 1500, /*outgoing=*/true)});
    CHECK(one(s, {4, ClientStoreOp::kSize, {}}).total == 7);

    ClientStoreCommand prune{5, ClientStoreOp::kPrune, {}};
    prune.text_before_ms = 3500;
    prune.ids_before_ms = 2500;
    // 1 (text dropped, then old enough to go), 2 (no text), 7 (sent): deleted.
    CHECK(one(s, prune).total == 3);
    const ClientStoreCompletion size = one(s, {6, ClientStoreOp::kSize, {}});
    CHECK(size.total == 4);      // 3 (its text dropped), 4, 5, 6
    CHECK(size.with_text == 3);  // 4, 5 and the unshown 6
    // An id pruned is forgotten: a copy of 1 would be taken again. One kept is not.
    CHECK(one(s, take(entry(1, 9000))).fresh);
    CHECK_FALSE(one(s, take(entry(3, 9000))).fresh);
    const std::vector<HistoryEntry> unshown = s.unshown();
    REQUIRE(unshown.size() == 2);
    CHECK(unshown[0].mid == 6);
    CHECK(unshown[0].text == "text 6");
    // The history shows what still has its text.
    ClientStoreCommand hist{7, ClientStoreOp::kHistory, {}};
    hist.entry.conversation = "bob";
    hist.limit = 10;
    std::vector<std::uint64_t> shown;
    for (const auto& e : one(s, hist).rows) shown.push_back(e.mid);
    CHECK(shown == std::vector<std::uint64_t>{4, 5});
  }

  TEST_CASE("the SQLite store's file stops growing once old ids are pruned") {
    SqliteClientFixture f;
    ClientStore& s = f.store();
    std::uint64_t mid = 0;
    std::int64_t at = 0;
    const auto batch = [&](int n) {
      std::vector<ClientStoreCommand> cs;
      for (int i = 0; i < n; ++i) {
        ++mid;
        cs.push_back(take(entry(mid, ++at)));
        cs.push_back(mark(mid, /*forget=*/true));  // --no-history
      }
      for (const auto& d : s.apply(cs)) REQUIRE(d.ok);
    };
    const auto prune_all_but_last = [&](std::int64_t keep) {
      ClientStoreCommand prune{9, ClientStoreOp::kPrune, {}};
      prune.ids_before_ms = at - keep + 1;
      one(s, prune);
      return one(s, {9, ClientStoreOp::kSize, {}});
    };
    // Each round: 5,000 messages taken, all but the last 1,000 ids pruned.
    for (int round = 0; round < 2; ++round) batch(5000), prune_all_but_last(1000);
    const ClientStoreCompletion first = prune_all_but_last(1000);
    CHECK(first.total == 1000);
    for (int round = 0; round < 4; ++round) batch(5000), prune_all_but_last(1000);
    const ClientStoreCompletion last = prune_all_but_last(1000);
    CHECK(last.total == 1000);
    // Pages freed by the deletes are used again: flat, where 20,000 more
    // ids kept would have tripled it.
    CHECK_MESSAGE(last.bytes <= first.bytes + first.bytes / 10,
                  "grew from " << first.bytes << " to " << last.bytes << " bytes");
  }
}

TEST_SUITE("client store: pruning by the session") {
  constexpr std::int64_t kNowMs = 1'800'000'000'000;
  constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;

  ClientConfig durable(int history_days) {
    ClientConfig c = alice_config();
    c.durable_store = true;
    c.history_days = history_days;
    c.wall_clock_ms = [] { return kNowMs; };
    return c;
  }

  std::vector<ClientStoreCommand> prunes(ClientSession& s) {
    std::vector<ClientStoreCommand> out;
    for (auto& c : s.take_store_commands()) {
      if (c.op == ClientStoreOp::kPrune) out.push_back(std::move(c));
    }
    return out;
  }

  TEST_CASE("pruned at start, then hourly: ids 30 days, texts --history-days") {
    Registered c(durable(7));  // started at kT0, registered
    ClientSession& s = c.s;
    auto first = prunes(s);
    REQUIRE(first.size() == 1);
    CHECK(first[0].ids_before_ms == kNowMs - 30 * kDayMs);
    CHECK(first[0].text_before_ms == kNowMs - 7 * kDayMs);
    s.on_timeout(kT0 + std::chrono::minutes(59));
    CHECK(prunes(s).empty());
    s.on_timeout(kT0 + std::chrono::minutes(61));
    CHECK(prunes(s).size() == 1);

    Registered keep(durable(0));  // the default: texts kept for ever
    const auto p = prunes(keep.s);
    REQUIRE(p.size() == 1);
    CHECK(p[0].text_before_ms == 0);
    CHECK(p[0].ids_before_ms == kNowMs - 30 * kDayMs);
  }

  TEST_CASE("history alone tells what the store holds and its size") {
    ClientConfig off = durable(0);
    off.keep_history = false;
    Registered c(off);
    c.s.take_store_commands();  // its prune at start
    c.s.on_line("history", kT0);
    const auto asks = c.s.take_store_commands();
    REQUIRE(asks.size() == 1);
    REQUIRE(asks[0].op == ClientStoreOp::kSize);
    ClientStoreCompletion done{asks[0].ticket, ClientStoreOp::kSize};
    done.total = 20000;
    done.with_text = 0;
    done.bytes = 3 * 1024 * 1024 + 300 * 1024;
    c.s.on_store_completion({done}, kT0);
    CHECK(c.s.take_lines() ==
          Lines{">>> [History: 20000 messages, 0 with their text, 3.2 MiB on disk; no texts kept "
                "(--no-history), ids 30 days.]"});
  }
}
