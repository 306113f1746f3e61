// The client's own store (manual §4.11): the session's doors (a message is
// acknowledged only once written, shown once, marked shown; a failed write
// is not acknowledged; what a crash left unshown is shown at start), the
// history command, and SqliteClientStore itself.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include "store/sqlite_client_store.hpp"
#include "support/client_fixture.hpp"
#include "support/doctest_print.hpp"
#include "support/temp_dir.hpp"

using namespace udpchat;
using namespace udpchat::test;

namespace {

const Endpoint kBob{"127.0.0.1", 6002};

ClientConfig durable_config() {
  ClientConfig c = alice_config();
  c.durable_store = true;
  c.wall_clock_ms = [] { return std::int64_t{1'800'000'000'000}; };
  c.format_time = [](std::int64_t ms) { return "T" + std::to_string(ms); };
  return c;
}

/// The acks among `out` (decoded), by transport id.
std::vector<std::uint64_t> acked_ids(const std::vector<Outgoing>& out) {
  std::vector<std::uint64_t> ids;
  for (const auto& o : out) {
    const auto m = decode(o.bytes);
    if (m && std::holds_alternative<Ack>(*m)) ids.push_back(std::get<Ack>(*m).id);
  }
  return ids;
}

void bob_sends(Registered& c, std::uint64_t mid, const std::string& text) {
  c.s.on_datagram(encode(Chat{mid, "bob", {}, bob_box(mid, text)}), kBob, kT0);
}

/// Runs the session's store commands against `store` and hands back the
/// completions (the shell's writer thread, at once).
void commit(ClientSession& s, ClientStore& store) {
  for (int i = 0; i < 10; ++i) {
    const auto commands = s.take_store_commands();
    if (commands.empty()) return;
    s.on_store_completion(store.apply(commands), kT0);
  }
}

}  // namespace

TEST_SUITE("client store") {
  TEST_CASE("a message is acknowledged only once written, then shown once and marked") {
    Registered c(durable_config());
    c.s.take_store_commands();  // its prune at start (test_client_store_prune.cpp)
    MemoryClientStore disk;
    bob_sends(c, 41, "hello");
    CHECK(acked_ids(c.s.take_outgoing()).empty());  // not yet durable
    CHECK(c.s.take_lines().empty());
    bob_sends(c, 41, "hello");  // a retransmission while it is written
    CHECK(acked_ids(c.s.take_outgoing()).empty());
    const auto commands = c.s.take_store_commands();
    REQUIRE(commands.size() == 1);  // one write for both copies
    CHECK(commands[0].op == ClientStoreOp::kTake);
    CHECK(commands[0].entry.text == "hello");
    CHECK(commands[0].entry.conversation == "bob");
    c.s.on_store_completion(disk.apply(commands), kT0);
    CHECK(acked_ids(c.s.take_outgoing()) == std::vector<std::uint64_t>{41, 41});
    CHECK(c.s.take_lines() == Lines{">>> bob: hello"});
    const auto mark = c.s.take_store_commands();
    REQUIRE(mark.size() == 1);
    CHECK(mark[0].op == ClientStoreOp::kMarkShown);
    c.s.on_store_completion(disk.apply(mark), kT0);
    CHECK(disk.unshown().empty());
    // A late copy: acknowledged at once, not shown, not written again.
    bob_sends(c, 41, "hello");
    CHECK(acked_ids(c.s.take_outgoing()) == std::vector<std::uint64_t>{41});
    CHECK(c.s.take_lines().empty());
    CHECK(c.s.take_store_commands().empty());
  }

  TEST_CASE("a failed write is not acknowledged, and says so once") {
    Registered c(durable_config());
    MemoryClientStore disk;
    disk.fail_writes = true;
    bob_sends(c, 7, "one");
    commit(c.s, disk);
    CHECK(acked_ids(c.s.take_outgoing()).empty());
    bob_sends(c, 8, "two");
    commit(c.s, disk);
    const auto lines = c.s.take_lines();
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].starts_with(">>> [Cannot write your message store (disk full"));
    // The disk works again: the sender's next copy goes through.
    disk.fail_writes = false;
    bob_sends(c, 7, "one");
    commit(c.s, disk);
    CHECK(acked_ids(c.s.take_outgoing()) == std::vector<std::uint64_t>{7});
    CHECK(c.s.take_lines() == Lines{">>> bob: one"});
  }

  TEST_CASE("a crash between durable and shown: the next process shows it first, once") {
    MemoryClientStore disk;
    {
      Registered c(durable_config());
      bob_sends(c, 5, "taken before the crash");
      const auto commands = c.s.take_store_commands();
      disk.apply(commands);  // committed; the process dies before hearing so
    }
    ClientConfig config = durable_config();
    config.unshown = disk.unshown();
    REQUIRE(config.unshown.size() == 1);
    ClientSession s(config, 2000);
    s.start(kT0);
    CHECK(s.take_lines() == Lines{">>> bob: taken before the crash"});  // before registering
    commit(s, disk);
    CHECK(disk.unshown().empty());
    // The sender (or the server) sends it again: acknowledged, not shown.
    const auto reg = std::get<Register>(*decode(s.take_outgoing().at(0).bytes));
    s.on_datagram(encode(Ack{reg.id, AckStatus::kOk, 0, {}}), kServer, kT0);
    s.on_datagram(
        encode(TablePart{
            500, 1, 0, 1, {row("alice", 6001, true, kAliceKey), row("bob", 6002, true, kBobKey)}}),
        kServer, kT0);
    s.take_lines();
    s.take_outgoing();
    s.on_datagram(encode(Chat{5, "bob", {}, bob_box(5, "taken before the crash")}), kBob, kT0);
    commit(s, disk);
    CHECK(acked_ids(s.take_outgoing()) == std::vector<std::uint64_t>{5});
    CHECK(s.take_lines().empty());
  }

  TEST_CASE("history: both directions with times; --no-history keeps no text") {
    Registered c(durable_config());
    MemoryClientStore disk;
    bob_sends(c, 9, "hi alice");
    commit(c.s, disk);
    c.type("send bob hi bob");
    const auto chat = std::get<Chat>(*decode(c.s.take_outgoing().back().bytes));
    c.s.on_datagram(encode(bob_ack(chat.id)), kBob, kT0);
    commit(c.s, disk);
    c.s.take_lines();
    c.s.on_line("history bob", kT0);
    CHECK(c.type("list").empty());  // waits for the history's answer
    commit(c.s, disk);
    // The list then asks for the server's count (a heartbeat), answered here.
    for (const auto& o : c.s.take_outgoing()) {
      if (const auto m = decode(o.bytes); m && std::holds_alternative<Heartbeat>(*m)) {
        c.s.on_datagram(encode(Ack{std::get<Heartbeat>(*m).id, AckStatus::kOk, 0, {}, 2}), kServer,
                        kT0);
      }
    }
    const auto lines = c.s.take_lines();
    REQUIRE(lines.size() >= 3);
    CHECK(lines[0] == ">>> T1800000000000 bob: hi alice");
    CHECK(lines[1] == ">>> T1800000000000 alice: hi bob");
    CHECK(lines[2] == ">>> [2 of 2 messages with bob shown.]");
    CHECK(lines.size() == 5);  // then the list typed meanwhile

    ClientConfig off = durable_config();
    off.keep_history = false;
    Registered q(off);
    MemoryClientStore disk2;
    bob_sends(q, 10, "forget me");
    commit(q.s, disk2);
    q.type("send bob not kept");
    CHECK(q.type("history bob") == Lines{">>> [History is off (--no-history).]"});
    REQUIRE(disk2.entries.size() == 1);  // the id of what was taken, no text, nothing sent
    CHECK(disk2.entries[0].first.text.empty());
    CHECK(disk2.entries[0].second);
  }

  TEST_CASE("SqliteClientStore: idempotent takes, marks, history, unshown, kept on disk") {
    TempDir dir;
    std::filesystem::create_directories(dir.path());
    const std::string key = (dir.path() / "alice.key").string();
    const std::string path = SqliteClientStore::path_for_key_file(key);
    CHECK(path == (dir.path() / "alice.db").string());
    CHECK(SqliteClientStore::path_for_key_file("/k/me.db") == "/k/me.db.db");
    CHECK(SqliteClientStore::path_for_key_file("/k/me") == "/k/me.db");
    HistoryEntry in{.sender_key = "bob",
                    .mid = 3,
                    .conversation = "bob",
                    .from = "Bob",
                    .text = std::string("a\0b", 3),
                    .at_ms = 100};
    HistoryEntry out{.outgoing = true,
                     .sender_key = "alice",
                     .mid = 4,
                     .conversation = "bob",
                     .from = "alice",
                     .to = "Bob",
                     .text = "yo",
                     .at_ms = 200};
    {
      auto store = SqliteClientStore::open(path);
      REQUIRE(store);
      struct stat st {};
      REQUIRE(::stat(path.c_str(), &st) == 0);
      CHECK((st.st_mode & 0777) == 0600);
      auto done = (*store)->apply({{1, ClientStoreOp::kTake, in},
                                   {2, ClientStoreOp::kTake, in},
                                   {3, ClientStoreOp::kRecordSent, out}});
      REQUIRE(done.size() == 3);
      CHECK(done[0].fresh);
      CHECK_FALSE(done[1].fresh);
      CHECK((*store)->unshown() == std::vector<HistoryEntry>{in});
      ClientStoreCommand ask{4, ClientStoreOp::kHistory, {}};
      ask.entry.conversation = "bob";
      ask.limit = 10;
      done = (*store)->apply({ask});
      CHECK(done[0].rows == std::vector<HistoryEntry>{out});  // not shown: not history yet
    }
    auto store = SqliteClientStore::open(path);  // reopened: all still there
    REQUIRE(store);
    CHECK((*store)->unshown().size() == 1);
    ClientStoreCommand mark{5, ClientStoreOp::kMarkShown, {}};
    mark.entry.sender_key = "bob";
    mark.entry.mid = 3;
    ClientStoreCommand ask{6, ClientStoreOp::kHistory, {}};
    ask.entry.conversation = "bob";
    ask.limit = 1;
    const auto done = (*store)->apply({mark, ask});
    CHECK((*store)->unshown().empty());
    CHECK(done[1].total == 2);
    CHECK(done[1].rows == std::vector<HistoryEntry>{out});  // the last 1
    ask.limit = 5;
    CHECK((*store)->apply({ask})[0].rows == std::vector<HistoryEntry>{in, out});
    CHECK_FALSE((*store)->apply({{7, ClientStoreOp::kTake, in}})[0].fresh);
  }
}
