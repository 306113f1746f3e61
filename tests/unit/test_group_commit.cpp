// Group commit and the asynchronous store (src/core/server/store_ops.hpp,
// src/store/store_writer.hpp): apply_batch's transaction rules, the store
// writer thread, and ServerCore holding every durable-dependent answer
// until its completion came back: late, failed, or never (a crash between
// commit and ack).
#include <doctest/doctest.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <random>

#include "core/server/store_ops.hpp"
#include "store/sqlite_store.hpp"
#include "store/store_writer.hpp"
#include "support/datagrams.hpp"
#include "support/doctest_print.hpp"
#include "support/store_driver.hpp"
#include "support/world.hpp"

using namespace udpchat;
using namespace udpchat::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);
const Endpoint kAlice{"127.0.0.1", 6001};
const Endpoint kBob{"127.0.0.1", 6002};

StoreCommand save_cmd(std::uint64_t ticket, const std::string& from, std::uint64_t mid,
                      const std::string& to = "bob") {
  return {ticket, SaveOp{{0, from, to, mid, "text " + std::to_string(mid), 1}}};
}

struct TempDir {
  fs::path path =
      fs::temp_directory_path() / ("udpchat-gc-" + std::to_string(std::random_device{}()) + "-" +
                                   std::to_string(std::random_device{}()));
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

/// A server whose store commands are taken by hand, so a test decides when
/// (and how) each completes.
struct ManualServer {
  MemoryStore store;
  // Tables at the end of each datagram (no batching window): the test sees
  // each update in the output of the datagram that caused it.
  ServerCore core{ServerConfig{.table_batch = Duration::zero(),
                               .wall_clock_ms = [] { return std::int64_t{1700000000000}; }},
                  1};
  ManualServer() { core.start(*store.load(), kT0); }
  std::vector<Outgoing> feed(const Message& m, const Endpoint& from) {
    core.on_datagram(encode(m), from, kT0);
    return core.take_outgoing();
  }
  /// alice registered, bob registered then deregistered, all committed.
  void alice_online_bob_offline() {
    feed(Register{1, "alice", 30000}, kAlice);
    feed(Register{2, "bob", 30000}, kBob);
    commit_all();
    feed(Deregister{3, "bob"}, kBob);
    commit_all();
  }
  /// Commits everything issued so far, then completes it.
  std::vector<Outgoing> commit_all() {
    drain_store(core, store, kT0);
    return core.take_outgoing();
  }
};

}  // namespace

TEST_SUITE("group commit") {
  TEST_CASE("apply_batch: one transaction; a failed write fails alone; completions in order") {
    MemoryStore m;
    FaultyStore store(m);
    int n = 0;
    store.fault = [&n](std::string_view op) { return op == "save" && ++n == 2; };
    const std::vector<StoreCommand> batch{save_cmd(1, "alice", 1), save_cmd(2, "alice", 2),
                                          save_cmd(3, "alice", 3), save_cmd(4, "alice", 1)};
    const auto done = apply_batch(store, batch);
    REQUIRE(done.size() == 4);
    for (std::size_t i = 0; i < done.size(); ++i) CHECK(done[i].ticket == i + 1);
    CHECK(std::get<SaveOutcome>(*done[0].result) == SaveResult::kSaved);
    REQUIRE_FALSE(done[1].result);
    CHECK(done[1].result.error().what == "database or disk is full");
    CHECK(std::get<SaveOutcome>(*done[2].result) == SaveResult::kSaved);
    CHECK(std::get<SaveOutcome>(*done[3].result) == SaveResult::kDuplicate);
    CHECK(m.count_for("bob").value() == 2);
    CHECK_FALSE(m.in_transaction());
  }

  TEST_CASE("apply_batch: a failed commit fails every write; reads see only what is durable") {
    MemoryStore m;
    REQUIRE(apply_batch(m, std::vector<StoreCommand>{save_cmd(1, "alice", 1)})[0].result);
    m.fail_commit = true;
    const std::vector<StoreCommand> batch{
        save_cmd(2, "alice", 2), {3, FetchOp{"bob", 0, 10}}, {4, PutVersionOp{7}}};
    const auto done = apply_batch(m, batch);
    REQUIRE(done.size() == 3);
    CHECK_FALSE(done[0].result);
    CHECK_FALSE(done[2].result);
    REQUIRE(done[1].result);  // the read itself did not fail
    const auto& read = std::get<std::vector<StoredMessage>>(*done[1].result);
    REQUIRE(read.size() == 1);  // the rolled-back save is not seen
    CHECK(read[0].mid == 1);
    CHECK(m.load()->table_version == 0);
  }

  TEST_CASE("apply_batch: a client row written again in the batch is written once, last state") {
    MemoryStore m;
    FaultyStore store(m);
    int writes = 0;
    store.fault = [&writes](std::string_view op) {
      writes += op == "client" ? 1 : 0;
      return false;
    };
    const auto put = [](std::uint64_t ticket, const std::string& nick, std::int64_t upto,
                        bool claim = false) {
      ClientRecord c{nick, {"127.0.0.1", 7000}, true, 30000, 1, upto};
      c.claim = claim;
      return StoreCommand{ticket, PutClientOp{c}};
    };
    // Positions of two members moving with each ack, and a claim in the
    // middle (a registration), which is never skipped.
    std::vector<StoreCommand> batch;  // (push_back: GCC 12 misreads a braced list of variants)
    batch.push_back(put(1, "alice", 1));
    batch.push_back(put(2, "bob", 1));
    batch.push_back(put(3, "Alice", 2));
    batch.push_back(put(4, "alice", 3, true));
    batch.push_back(put(5, "alice", 4));
    batch.push_back(put(6, "bob", 2));
    const auto done = apply_batch(store, batch);
    REQUIRE(done.size() == 6);
    for (std::size_t i = 0; i < done.size(); ++i) {
      CHECK(done[i].ticket == i + 1);
      CHECK(done[i].result);
    }
    CHECK(writes == 3);  // the claim, alice's last, bob's last
    const auto state = m.load();
    REQUIRE(state);
    for (const auto& c : state->clients) {
      CHECK(c.log_upto == (c.nick == "bob" ? 2 : 4));
    }
    // The write that stood for the skipped ones fails: so do they.
    store.fault = [](std::string_view op) { return op == "client"; };
    std::vector<StoreCommand> again;
    again.push_back(put(7, "bob", 5));
    again.push_back(put(8, "bob", 6));
    const auto failed = apply_batch(store, again);
    REQUIRE(failed.size() == 2);
    CHECK_FALSE(failed[0].result);
    CHECK_FALSE(failed[1].result);
    CHECK(m.load()->clients.size() == 2);
  }

  TEST_CASE("apply_batch on SQLite: a batch of saves is one transaction, durable after reopen") {
    TempDir dir;
    {
      auto store = SqliteStore::open(dir.path.string());
      REQUIRE(store);
      std::vector<StoreCommand> batch;
      for (std::uint64_t i = 1; i <= 500; ++i) batch.push_back(save_cmd(i, "alice", i));
      batch.push_back({501, FetchOp{"bob", 0, 1000}});
      const auto done = apply_batch(**store, batch);
      REQUIRE(done.size() == 501);
      for (std::size_t i = 0; i < 500; ++i) REQUIRE(done[i].result);
      CHECK(std::get<std::vector<StoredMessage>>(*done[500].result).size() == 500);
      CHECK_FALSE((*store)->in_transaction());
    }
    auto reopened = SqliteStore::open(dir.path.string());
    REQUIRE(reopened);
    CHECK((*reopened)->count_for("bob").value() == 500);
    CHECK((*reopened)->load()->waiting.at("bob") == 500);
  }

  TEST_CASE("the store writer thread commits in groups and completes every command in order") {
    TempDir dir;
    auto store = SqliteStore::open(dir.path.string());
    REQUIRE(store);
    std::mutex mu;
    std::condition_variable cv;
    std::vector<StoreCompletion> got;
    StoreWriter writer(**store, [&](std::vector<ClusterChange>, std::vector<StoreCompletion> done) {
      const std::lock_guard lock(mu);
      for (auto& c : done) got.push_back(std::move(c));
      cv.notify_all();
    });
    constexpr std::uint64_t kCommands = 2000;
    for (std::uint64_t i = 1; i <= kCommands; ++i) writer.submit({save_cmd(i, "alice", i)});
    {
      std::unique_lock lock(mu);
      REQUIRE(cv.wait_for(lock, 60s, [&] { return got.size() == kCommands; }));
    }
    writer.stop();
    for (std::uint64_t i = 0; i < kCommands; ++i) {
      REQUIRE(got[i].ticket == i + 1);
      REQUIRE(got[i].result);
    }
    CHECK(writer.commands() == kCommands);
    CHECK(writer.batches() >= 1);
    CHECK(writer.batches() <= kCommands);
    CHECK((*store)->count_for("bob").value() == kCommands);
  }

  TEST_CASE("a save is acknowledged only when its completion comes, however late") {
    ManualServer s;
    s.alice_online_bob_offline();
    auto out = s.feed(Save{10, "alice", "bob", 77, "hi"}, kAlice);
    CHECK(of_type<Ack>(out, kAlice).empty());  // not durable yet
    // A retransmission meanwhile is not executed twice and not answered yet.
    out = s.feed(Save{10, "alice", "bob", 77, "hi"}, kAlice);
    CHECK(of_type<Ack>(out, kAlice).empty());
    const auto cmds = s.core.take_store_commands();
    REQUIRE(cmds.size() == 1);
    CHECK(std::holds_alternative<SaveOp>(cmds[0].op));
    CHECK(s.core.pending_work().store_commands == 1);
    for (const auto& c : apply_batch(s.store, cmds)) s.core.on_store_completion(c, kT0);
    const auto acks = of_type<Ack>(s.core.take_outgoing(), kAlice);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].status == AckStatus::kSaved);
    CHECK(s.store.count_for("bob").value() == 1);
  }

  TEST_CASE("a failed save is answered with the store's error; nothing is acked as saved") {
    ManualServer s;
    s.alice_online_bob_offline();
    s.feed(Save{10, "alice", "bob", 77, "hi"}, kAlice);
    const auto cmds = s.core.take_store_commands();
    REQUIRE(cmds.size() == 1);
    s.core.on_store_completion({cmds[0].ticket, std::unexpected(StoreError{"disk I/O error"})},
                               kT0);
    const auto acks = of_type<Ack>(s.core.take_outgoing(), kAlice);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].status == AckStatus::kError);
    CHECK(acks[0].detail == "disk I/O error");
  }

  TEST_CASE("a registration's ack and tables wait until its client row is durable") {
    ManualServer s;
    auto out = s.feed(Register{1, "alice", 30000}, kAlice);
    CHECK(out.empty());
    out = s.feed(Register{1, "alice", 30000}, kAlice);  // retransmitted meanwhile
    CHECK(out.empty());
    CHECK(s.core.pending_work().held >= 2);  // the ack and the table
    out = s.commit_all();
    const auto acks = of_type<Ack>(out, kAlice);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].status == AckStatus::kOk);
    CHECK(of_type<TablePart>(out, kAlice).size() == 1);
    CHECK(s.store.load()->clients.size() == 1);
    CHECK(s.core.pending_work().held == 0);
    // Now the reply cache answers a retransmission at once.
    out = s.feed(Register{1, "alice", 30000}, kAlice);
    CHECK(of_type<Ack>(out, kAlice).size() == 1);
  }

  TEST_CASE("a slow store: saves flood in, are committed in groups, and every one is acked") {
    World w;
    w.store_latency = 20ms;
    w.completion_delay = 2ms;
    w.start_client("alice", 6001);
    w.start_client("bob", 6002);
    REQUIRE(w.run_until([&] { return w.session(6001).table().size() == 2; }));
    w.type(6002, "dereg bob");
    w.run_for(1s);
    w.configure_client = nullptr;
    const std::uint64_t batches_before = w.store_batches;
    const std::uint64_t commands_before = w.store_commands;
    w.lines(6001).clear();
    for (int i = 0; i < 50; ++i) w.type(6001, "send bob flood " + std::to_string(i));
    w.run_for(5s);
    CHECK(w.count(6001, ">>> [Messages received by the server and saved]") == 50);
    CHECK(w.memory.count_for("bob").value() == 50);
    // One peer's sends go one at a time, so this is 50 saves; what matters is
    // that commands queued during a commit share the next one.
    CHECK(w.store_commands - commands_before >= 50);
    CHECK(w.store_batches - batches_before <= w.store_commands - commands_before);
    w.type(6002, "reg bob");
    w.run_for(5s);
    int shown = 0;
    for (const auto& l : w.lines(6002)) shown += l.find(" flood ") != std::string::npos ? 1 : 0;
    CHECK(shown == 50);
  }

  TEST_CASE("a crash between commit and ack loses nothing: the retransmitted save is a duplicate") {
    World w;
    w.completion_delay = 50ms;  // committed, not yet heard
    w.start_client("alice", 6001);
    w.start_client("bob", 6002);
    REQUIRE(w.run_until([&] { return w.session(6001).table().size() == 2; }));
    w.type(6002, "dereg bob");
    w.run_for(1s);
    w.type(6001, "send bob survives the crash");
    // Run until the save is committed, then crash before its completion.
    REQUIRE(w.run_until([&] { return w.memory.count_for("bob").value() == 1; }, 2s));
    CHECK_FALSE(w.printed(6001, ">>> [Messages received by the server and saved]"));
    w.crash_server();
    w.run_for(300ms);
    w.start_server();
    w.run_for(5s);
    CHECK(w.count(6001, ">>> [Messages received by the server and saved]") == 1);
    CHECK(w.memory.count_for("bob").value() == 1);  // stored once
    w.type(6002, "reg bob");
    w.run_for(5s);
    int shown = 0;
    for (const auto& l : w.lines(6002)) {
      shown += l.ends_with(" survives the crash") ? 1 : 0;
    }
    CHECK(shown == 1);
  }
}
