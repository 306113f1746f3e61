// The quota of untrimmed channel and group posts per client and log
// (--max-log-posts, core/server/log_quota.hpp): alone, and through the
// real client and server state machines on the in-memory network.
#include <doctest/doctest.h>

#include <string>

#include "core/server/log_quota.hpp"
#include "support/doctest_print.hpp"
#include "support/world.hpp"

using namespace udpchat;        // NOLINT(google-build-using-namespace): test file
using namespace udpchat::test;  // NOLINT(google-build-using-namespace): test file
using namespace std::chrono_literals;

TEST_SUITE("log quota") {
  TEST_CASE("saves in flight and kept posts count; the trim gives the room back") {
    LogQuota q(3);
    CHECK(q.admits("*", "alice", 1));
    q.saving("*", "alice");
    q.saving("*", "alice");
    q.saved("*", "alice", true, 10, 1);
    q.saving("*", "alice");
    CHECK_FALSE(q.admits("*", "alice", 4));  // two kept, one saving
    CHECK(q.admits("*", "bob", 1));           // its own quota
    CHECK(q.admits("#team", "alice", 1));     // one per log
    q.saved("*", "alice", true, 11, 2);
    q.saved("*", "alice", false, 0, 3);  // failed (or a duplicate): not kept
    CHECK(q.kept("*", "alice") == 2);
    CHECK(q.admits("*", "alice", 4));
    q.saving("*", "alice");
    q.saved("*", "alice", true, 12, 4);
    CHECK_FALSE(q.admits("*", "alice", 5));
    CHECK(q.admits("*", "alice", 4));  // a retransmission of a kept post
    q.trimmed(10);
    CHECK(q.kept("*", "alice") == 2);
    CHECK(q.admits("*", "alice", 5));
    q.trimmed(12);
    CHECK(q.kept("*", "alice") == 0);
  }

  TEST_CASE("posts loaded at start count; 0 is no limit") {
    LogQuota q(2);
    q.loaded("*", "alice", 7, 70);
    q.loaded("*", "alice", 5, 50);  // kept in seq order whatever the order given
    CHECK_FALSE(q.admits("*", "alice", 80));
    q.trimmed(5);
    CHECK(q.kept("*", "alice") == 1);
    CHECK(q.admits("*", "alice", 80));
    LogQuota none(0);
    for (int i = 0; i < 100; ++i) none.saving("*", "alice");
    CHECK(none.admits("*", "alice", 1));
    CHECK(none.kept("*", "alice") == 0);
  }

  TEST_CASE("a member away holds a poster to its quota: one line each, others post, room again") {
    World w([](ServerConfig& c) { c.max_log_posts = 3; });
    constexpr std::uint16_t A = 6301, B = 6302, C = 6303;
    w.start_client("alice", A);
    w.start_client("bob", B);
    w.start_client("carol", C);
    REQUIRE(w.run_until([&] { return w.session(C).table().size() == 3; }));
    w.type(B, "dereg bob");
    w.run_for(1s);
    for (int i = 0; i < 5; ++i) w.type(A, "send_all held " + std::to_string(i));
    const std::string refused =
        ">>> [Server could not save the message for the channel: 3 of your messages there are "
        "still kept for clients that have not caught up (the most kept); try again later]";
    REQUIRE(w.run_until([&] { return w.count(A, refused) == 2; }));
    CHECK(w.count(A, ">>> [Message received by Server.]") == 3);
    CHECK(w.server->stats().requests.at("post_log_full") == 2);
    // Carol's quota is her own; direct messages are not posts.
    w.type(C, "send_all mine");
    w.type(A, "send carol direct");
    REQUIRE(w.run_until([&] {
      return w.printed(A, ">>> [Channel] carol: mine") && w.printed(C, ">>> alice: direct");
    }));
    // A restart counts what the store holds.
    w.crash_server();
    w.start_server();
    REQUIRE(w.run_until([&] { return w.session(A).table().size() == 3; }, 20s));
    w.type(A, "send_all after restart");
    REQUIRE(w.run_until([&] { return w.count(A, refused) == 3; }, 20s));
    // Bob comes back and reads them: trimmed, alice has room again.
    w.type(B, "reg bob");
    // (Shown with the time it was sent: it waited for bob.)
    const auto shown = [&](const std::string& tail) {
      std::size_t n = 0;
      for (const auto& l : w.lines(B)) {
        n += l.starts_with(">>> [Channel] alice: ") && l.ends_with(tail) ? 1 : 0;
      }
      return n;
    };
    REQUIRE(w.run_until([&] { return shown(" held 2") == 1; }, 20s));
    w.run_for(12s);
    w.type(A, "send_all room again");
    REQUIRE(w.run_until([&] { return w.printed(B, ">>> [Channel] alice: room again"); }));
    for (int i = 0; i < 5; ++i) {
      CHECK(shown(" held " + std::to_string(i)) == (i < 3 ? 1 : 0));
    }
  }
}
