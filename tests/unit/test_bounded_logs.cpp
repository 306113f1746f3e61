// Bounded storage (docs/MANUAL.md "Limits", §4.9): the cap on channel and
// group posts per client (core/server/post_rate.hpp), read positions, the
// trimming of the logs below them, the log retention for absent members
// and the purge of old idempotency keys; alone and through the real client
// and server state machines on the in-memory network.
#include <doctest/doctest.h>

#include <memory>

#include "core/server/post_rate.hpp"
#include "support/doctest_print.hpp"
#include "support/world.hpp"

using namespace udpchat;
using namespace udpchat::test;
using namespace std::chrono_literals;

namespace {

const std::string kByServer = ">>> [Message received by Server.]";

}  // namespace

TEST_SUITE("posts per minute") {
  TEST_CASE("a full bucket lets a burst through, then one post per interval") {
    PostRate rate(6);  // one every 10 s, six at once
    const TimePoint t0{};
    Duration wait{};
    for (std::uint64_t mid = 1; mid <= 6; ++mid) CHECK(rate.take("alice", mid, t0, wait));
    CHECK_FALSE(rate.take("alice", 7, t0, wait));
    CHECK(wait == 10s);
    CHECK_FALSE(rate.take("alice", 7, t0 + 9s, wait));
    CHECK(wait == 1s);
    CHECK(rate.take("alice", 7, t0 + 10s, wait));
    CHECK_FALSE(rate.take("alice", 8, t0 + 10s, wait));
    // Others have their own bucket.
    CHECK(rate.take("bob", 1, t0 + 10s, wait));
    // A minute of silence fills it again.
    for (std::uint64_t mid = 8; mid <= 13; ++mid) CHECK(rate.take("alice", mid, t0 + 80s, wait));
    CHECK_FALSE(rate.take("alice", 14, t0 + 80s, wait));
  }

  TEST_CASE("a retransmitted post that was allowed is not refused nor charged") {
    PostRate rate(2);
    const TimePoint t0{};
    Duration wait{};
    CHECK(rate.take("alice", 41, t0, wait));
    CHECK(rate.take("alice", 42, t0, wait));
    CHECK(rate.take("alice", 42, t0 + 1s, wait));  // its ack was lost
    CHECK(rate.take("alice", 41, t0 + 1s, wait));
    CHECK_FALSE(rate.take("alice", 43, t0 + 1s, wait));
  }

  TEST_CASE("0 is no limit; idle entries are forgotten") {
    PostRate none(0);
    Duration wait{};
    for (std::uint64_t mid = 1; mid <= 1000; ++mid) CHECK(none.take("a", mid, TimePoint{}, wait));
    CHECK(none.tracked() == 0);
    PostRate rate(60);
    TimePoint t{};
    for (int i = 0; i < 10000; ++i) {
      CHECK(rate.take("c" + std::to_string(i), 1, t, wait));
      t += 10ms;  // each bucket is full again a second after its post
    }
    CHECK(rate.tracked() < 300);
  }

  TEST_CASE("a flooder is refused with one line per message; others keep posting and chatting") {
    World w;
    w.configure_server = [](ServerConfig& c) { c.max_posts_per_minute = 3; };
    w.crash_server();
    w.start_server();
    constexpr std::uint16_t A = 6201, B = 6202, C = 6203;
    w.start_client("alice", A);
    w.start_client("bob", B);
    w.start_client("carol", C);
    REQUIRE(w.run_until([&] { return w.session(C).table().size() == 3; }));
    for (int i = 0; i < 5; ++i) w.type(A, "send_all flood " + std::to_string(i));
    const std::string refused =
        ">>> [Server could not save the message for the channel: too many messages (at most 3 a "
        "minute); try again in 20 s]";
    REQUIRE(w.run_until([&] { return w.count(A, refused) == 2; }));
    CHECK(w.count(A, kByServer) == 3);
    w.run_for(2s);
    for (int i = 0; i < 5; ++i) {
      CHECK(w.count(B, ">>> [Channel] alice: flood " + std::to_string(i)) == (i < 3 ? 1 : 0));
    }
    // Bob posts and chats as before; alice's direct messages are not posts.
    w.type(B, "send_all still here");
    w.type(A, "send bob direct");
    REQUIRE(w.run_until([&] {
      return w.printed(C, ">>> [Channel] bob: still here") && w.printed(B, ">>> alice: direct");
    }));
    // Twenty seconds later alice may post one more.
    w.run_for(20s);
    w.type(A, "send_all later");
    REQUIRE(w.run_until([&] { return w.printed(C, ">>> [Channel] alice: later"); }));
  }
}

TEST_SUITE("log positions") {
  TEST_CASE("every reader's position, the poster's too, moves to the last channel message") {
    World w([](ServerConfig& c) { c.log_trim_interval = {}; });  // the rows stay to look at
    constexpr std::uint16_t A = 6211, B = 6212, C = 6213;
    w.start_client("alice", A);
    w.start_client("bob", B);
    w.start_client("carol", C);
    REQUIRE(w.run_until([&] { return w.session(C).table().size() == 3; }));
    for (int i = 0; i < 5; ++i) w.type(A, "send_all post " + std::to_string(i));
    w.type(B, "send_all from bob");
    REQUIRE(w.run_until([&] {
      return w.count(C, ">>> [Channel] alice: post 4") == 1 &&
             w.count(C, ">>> [Channel] bob: from bob") == 1 &&
             w.count(A, ">>> [Channel] bob: from bob") == 1 &&
             w.count(B, ">>> [Channel] alice: post 4") == 1;
    }));
    w.run_for(2s);  // the last acks and their group commit
    std::int64_t last = 0;
    const auto rows = w.memory.fetch_log(kChannelLog, 0, "", 100).value();
    for (const auto& m : rows) last = std::max(last, m.seq);
    REQUIRE(last > 0);
    for (const char* nick : {"alice", "bob", "carol"}) {
      const ClientRecord* row = w.memory.find_client(nick);
      REQUIRE(row != nullptr);
      CHECK_MESSAGE(row->log_upto == last, nick);
    }
  }

  TEST_CASE("a lone poster's position passes its own posts") {
    World w([](ServerConfig& c) { c.log_trim_interval = {}; });
    constexpr std::uint16_t A = 6221, B = 6222;
    w.start_client("alice", A);
    w.start_client("bob", B);
    REQUIRE(w.run_until([&] { return w.session(B).table().size() == 2; }));
    w.type(B, "dereg bob");
    w.run_for(1s);
    for (int i = 0; i < 3; ++i) w.type(A, "send_all alone " + std::to_string(i));
    REQUIRE(w.run_until([&] { return w.count(A, kByServer) == 3; }));
    w.run_for(1s);
    const auto rows = w.memory.fetch_log(kChannelLog, 0, "", 100).value();
    REQUIRE(rows.size() == 3);
    CHECK(w.memory.find_client("alice")->log_upto == rows.back().seq);
    // Bob, offline, still needs all three: his position stays before them.
    CHECK(w.memory.find_client("bob")->log_upto < rows.front().seq);
  }
}

TEST_SUITE("log trimming") {
  std::size_t log_rows(World& w, const std::string& log) {
    return w.memory.fetch_log(log, 0, "", 1000000).value().size();
  }

  TEST_CASE("read by every member: trimmed; an offline member holds its rows until it read them") {
    World w;
    constexpr std::uint16_t A = 6231, B = 6232, C = 6233;
    w.start_client("alice", A);
    w.start_client("bob", B);
    w.start_client("carol", C);
    REQUIRE(w.run_until([&] { return w.session(C).table().size() == 3; }));
    for (int i = 0; i < 4; ++i) w.type(A, "send_all read " + std::to_string(i));
    REQUIRE(w.run_until([&] {
      return w.printed(B, ">>> [Channel] alice: read 3") &&
             w.printed(C, ">>> [Channel] alice: read 3");
    }));
    CHECK(log_rows(w, kChannelLog) == 4);
    w.run_for(12s);  // one trimming pass (every 10 s)
    CHECK(log_rows(w, kChannelLog) == 0);
    CHECK(w.server->stats().log_rows_trimmed == 4);
    // Bob away: what he has not read stays, whatever the others read.
    w.type(B, "dereg bob");
    w.run_for(1s);
    for (int i = 0; i < 3; ++i) w.type(A, "send_all kept " + std::to_string(i));
    REQUIRE(w.run_until([&] { return w.printed(C, ">>> [Channel] alice: kept 2"); }));
    w.run_for(25s);
    CHECK(log_rows(w, kChannelLog) == 3);
    w.type(B, "reg bob");
    REQUIRE(w.run_until([&] { return w.lines(B).back().ends_with(" kept 2"); }, 10s));
    w.run_for(12s);
    CHECK(log_rows(w, kChannelLog) == 0);
    // Nothing shown twice, nothing missing.
    for (int i = 0; i < 3; ++i) {
      const std::string kept = "kept " + std::to_string(i);
      std::size_t n = 0;
      for (const auto& l : w.lines(B)) n += l.ends_with(" " + kept) ? 1 : 0;
      CHECK_MESSAGE(n == 1, kept);
    }
  }

  TEST_CASE("a group's log is trimmed though some clients are in no group") {
    World w;
    constexpr std::uint16_t A = 6241, B = 6242, C = 6243;
    w.start_client("alice", A);
    w.start_client("bob", B);
    w.start_client("carol", C);  // in no group: her position must not hold the group's log
    REQUIRE(w.run_until([&] { return w.session(C).table().size() == 3; }));
    w.type(A, "join team");
    w.type(B, "join team");
    REQUIRE(w.run_until([&] { return w.printed(B, ">>> [Joined group team.]"); }));
    for (int i = 0; i < 3; ++i) w.type(A, "send_group team g" + std::to_string(i));
    REQUIRE(w.run_until([&] { return w.printed(B, ">>> [team] alice: g2"); }));
    CHECK(log_rows(w, group_log_key("team")) == 3);
    w.run_for(12s);
    CHECK(log_rows(w, group_log_key("team")) == 0);
  }
}

TEST_SUITE("log retention") {
  std::size_t log_rows(World& w, const std::string& log) {
    return w.memory.fetch_log(log, 0, "", 1000000).value().size();
  }
  /// A world whose server keeps the logs `retention` for an absent member,
  /// with alice on port a and bob on a + 1, bob deregistered.
  std::unique_ptr<World> bob_away(Duration retention, std::uint16_t a) {
    auto w = std::make_unique<World>([retention](ServerConfig& c) { c.log_retention = retention; });
    w->start_client("alice", a);
    w->start_client("bob", a + 1);
    REQUIRE(w->run_until([&] { return w->session(a + 1).table().size() == 2; }));
    w->type(a + 1, "dereg bob");
    w->run_for(1s);
    return w;
  }
  const std::string kExpired =
      ">>> [You were away more than 1 day: some channel and group messages sent meanwhile were "
      "not kept.]";

  TEST_CASE("a member away longer than the retention holds nothing back; told once on return") {
    World w([](ServerConfig& c) { c.log_retention = 60s; });  // shown as "1 day"
    constexpr std::uint16_t A = 6251, B = 6252, C = 6253;
    w.start_client("alice", A);
    w.start_client("bob", B);
    w.start_client("carol", C);
    REQUIRE(w.run_until([&] { return w.session(C).table().size() == 3; }));
    w.type(B, "dereg bob");
    w.run_for(1s);
    for (int i = 0; i < 3; ++i) w.type(A, "send_all missed " + std::to_string(i));
    REQUIRE(w.run_until([&] { return w.printed(C, ">>> [Channel] alice: missed 2"); }));
    w.run_for(30s);  // within the retention: bob still holds them
    CHECK(log_rows(w, kChannelLog) == 3);
    w.run_for(45s);  // past it: trimmed once the others read them
    CHECK(log_rows(w, kChannelLog) == 0);
    w.type(B, "reg bob");
    REQUIRE(w.run_until([&] { return w.printed(B, kExpired); }, 10s));
    w.type(A, "send_all after");
    REQUIRE(w.run_until([&] { return w.printed(B, ">>> [Channel] alice: after"); }));
    w.type(B, "dereg bob");
    w.run_for(1s);
    w.type(B, "reg bob");
    w.run_for(5s);
    CHECK(w.count(B, kExpired) == 1);
    for (const auto& l : w.lines(B)) CHECK_MESSAGE(l.find("missed") == std::string::npos, l);
  }

  TEST_CASE("within the retention nothing is trimmed and no line is shown") {
    constexpr std::uint16_t A = 6261, B = A + 1;
    auto world = bob_away(60s, A);
    World& w = *world;
    w.type(A, "send_all kept");
    w.run_for(50s);
    CHECK(log_rows(w, kChannelLog) == 1);
    w.type(B, "reg bob");
    REQUIRE(w.run_until([&] { return w.lines(B).back().ends_with(" kept"); }, 10s));
    CHECK(w.count(B, kExpired) == 0);
  }

  TEST_CASE("the last-seen time and the trimmed point survive a server restart") {
    constexpr std::uint16_t A = 6271, B = A + 1;
    auto world = bob_away(60s, A);
    World& w = *world;
    w.type(A, "send_all missed");
    REQUIRE(w.run_until([&] { return w.count(A, kByServer) == 1; }));
    w.run_for(40s);
    w.crash_server();
    w.start_server();
    // 75 s after bob left, 35 s after the restart: his own last-seen time
    // counts, not the restart's.
    w.run_for(35s);
    CHECK(log_rows(w, kChannelLog) == 0);
    w.crash_server();
    w.start_server();
    w.type(B, "reg bob");
    REQUIRE(w.run_until([&] { return w.printed(B, kExpired); }, 20s));
    CHECK(w.count(B, ">>> [Channel] alice: missed") == 0);
  }

  TEST_CASE("0 keeps the logs for an absent member for ever") {
    constexpr std::uint16_t A = 6281;
    auto world = bob_away({}, A);
    World& w = *world;
    w.type(A, "send_all kept");
    w.run_for(100s);
    CHECK(log_rows(w, kChannelLog) == 1);
  }
}

TEST_SUITE("idempotency keys") {
  TEST_CASE("the keys of trimmed posts are purged once 7 days old while the server runs") {
    World w;
    constexpr std::uint16_t A = 6291, B = 6292;
    w.start_client("alice", A);
    w.start_client("bob", B);
    REQUIRE(w.run_until([&] { return w.session(B).table().size() == 2; }));
    for (int i = 0; i < 3; ++i) w.type(A, "send_all week " + std::to_string(i));
    REQUIRE(w.run_until([&] { return w.printed(B, ">>> [Channel] alice: week 2"); }));
    const auto rows = w.memory.fetch_log(kChannelLog, 0, "", 10).value();
    REQUIRE(rows.size() == 3);
    const std::uint64_t mid = rows.front().mid;
    w.run_for(12s);
    REQUIRE(w.server->stats().log_rows_trimmed == 3);
    CHECK(w.memory.seq_of("alice", mid).has_value());  // the key outlives the text
    w.run_for(std::chrono::days(6));
    CHECK(w.server->stats().keys_purged == 0);  // hourly passes; not yet 7 days old
    w.run_for(std::chrono::days(1) + std::chrono::hours(2));
    CHECK(w.server->stats().keys_purged == 3);
    CHECK_FALSE(w.memory.seq_of("alice", mid).has_value());
  }
}
