// The channel and named groups (manual §4.9) end to end through the real
// client and server state machines on the in-memory network of
// tests/support/world.hpp: who shows what, once; stored once; offline
// members at registration, in order with direct messages; membership
// across a restart; pacing; dead and silent members.
#include <doctest/doctest.h>

#include <algorithm>

#include "support/doctest_print.hpp"
#include "support/world.hpp"

using namespace udpchat;
using namespace udpchat::test;
using namespace std::chrono_literals;

namespace {

const std::string kByServer = ">>> [Message received by Server.]";

std::uint16_t port(int i) {
  return static_cast<std::uint16_t>(6100 + i);
}
std::string nick(int i) {
  return "u" + std::to_string(i);
}

/// `n` clients u0..u(n-1), registered, tables converged.
void clients(World& w, int n, Duration heartbeat = 30s) {
  for (int i = 0; i < n; ++i) w.start_client(nick(i), port(i), heartbeat);
  REQUIRE(w.run_until([&] {
    for (int i = 0; i < n; ++i) {
      if (w.session(port(i)).table().size() != static_cast<std::size_t>(n)) return false;
    }
    return true;
  }));
}

std::size_t log_rows(World& w, const std::string& log) {
  return w.memory.fetch_log(log, 0, "", 1000000).value().size();
}

/// Rows ever stored in the logs: still there, or trimmed once every member
/// read them (every 10 s; this server process's count).
std::size_t stored_rows(World& w, const std::string& log) {
  return log_rows(w, log) + w.server->stats().log_rows_trimmed;
}

std::vector<std::string> lines_starting(World& w, std::uint16_t p, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& l : w.lines(p)) {
    if (l.starts_with(prefix)) out.push_back(l);
  }
  return out;
}

}  // namespace

TEST_SUITE("channel and groups") {
  TEST_CASE("send_all: acknowledged by the server, shown once by every other online client") {
    World w;
    clients(w, 4);
    w.type(port(0), "send_all hello everyone");
    REQUIRE(w.run_until([&] {
      for (int i = 1; i < 4; ++i) {
        if (!w.printed(port(i), ">>> [Channel] u0: hello everyone")) return false;
      }
      return true;
    }));
    w.run_for(2s);
    CHECK(w.count(port(0), kByServer) == 1);
    CHECK(lines_starting(w, port(0), ">>> [Channel]").empty());  // not to oneself
    for (int i = 1; i < 4; ++i) CHECK(w.count(port(i), ">>> [Channel] u0: hello everyone") == 1);
    CHECK(stored_rows(w, kChannelLog) == 1);  // stored once for three recipients
  }

  TEST_CASE("offline clients get it at registration, timestamped, in order with direct ones") {
    World w;
    clients(w, 5);
    w.type(port(3), "dereg");
    w.type(port(4), "dereg");
    w.run_for(1s);
    w.type(port(0), "send u3 direct before");
    w.run_for(1s);
    w.type(port(0), "send_all to all");
    w.run_for(1s);
    w.type(port(1), "send u3 direct after");
    w.run_for(1s);
    for (int i = 1; i < 3; ++i) CHECK(w.count(port(i), ">>> [Channel] u0: to all") == 1);
    CHECK(lines_starting(w, port(3), ">>> [Channel]").empty());
    w.lines(port(3)).clear();
    w.type(port(3), "reg u3");
    w.type(port(4), "reg u4");
    w.run_for(3s);
    const auto& l3 = w.lines(port(3));
    const auto at = [&](const std::string& s) {
      return std::find(l3.begin(), l3.end(), s) - l3.begin();
    };
    const std::string stamp = "T";  // the World's format_time: T<ms>
    REQUIRE(w.printed(port(3), ">>> [You Have Messages]"));
    const auto direct1 = lines_starting(w, port(3), ">>> u0: T");
    const auto chan = lines_starting(w, port(3), ">>> [Channel] u0: T");
    const auto direct2 = lines_starting(w, port(3), ">>> u1: T");
    REQUIRE(direct1.size() == 1);
    REQUIRE(chan.size() == 1);
    REQUIRE(direct2.size() == 1);
    CHECK(chan[0].ends_with(" to all"));
    CHECK(at(">>> [You Have Messages]") < at(direct1[0]));
    CHECK(at(direct1[0]) < at(chan[0]));
    CHECK(at(chan[0]) < at(direct2[0]));
    CHECK(lines_starting(w, port(4), ">>> [Channel] u0: T").size() == 1);
    // Delivered to both: nothing more comes, the log row stays once.
    w.lines(port(3)).clear();
    w.type(port(3), "dereg");
    w.run_for(1s);
    w.type(port(3), "reg u3");
    w.run_for(3s);
    CHECK(lines_starting(w, port(3), ">>> [Channel]").empty());
    CHECK(stored_rows(w, kChannelLog) == 1);
  }

  TEST_CASE("a client registered after a channel message does not receive it") {
    World w;
    clients(w, 2);
    w.type(port(0), "send_all before you came");
    w.run_for(1s);
    w.start_client("late", port(9));
    w.run_for(3s);
    CHECK(lines_starting(w, port(9), ">>> [Channel]").empty());
    CHECK_FALSE(w.printed(port(9), ">>> [You Have Messages]"));
  }

  TEST_CASE("join, leave, groups, send_group, and the lines of each") {
    World w;
    clients(w, 3);
    w.type(port(0), "join friends");
    w.type(port(1), "join friends");
    w.run_for(1s);
    CHECK(w.printed(port(0), ">>> [Joined group friends.]"));
    w.type(port(2), "groups");
    w.run_for(1s);
    CHECK(w.printed(port(2), ">>> friends: u0, u1"));
    w.type(port(2), "send_group friends let me in");
    w.run_for(1s);
    CHECK(w.printed(port(2), ">>> [You are not in group friends.]"));
    w.type(port(0), "send_group friends hi friends");
    w.run_for(1s);
    CHECK(w.count(port(0), kByServer) == 1);
    CHECK(w.count(port(1), ">>> [friends] u0: hi friends") == 1);
    CHECK(lines_starting(w, port(2), ">>> [friends]").empty());
    CHECK(lines_starting(w, port(0), ">>> [friends]").empty());
    w.type(port(1), "leave friends");
    w.run_for(1s);
    CHECK(w.printed(port(1), ">>> [Left group friends.]"));
    w.type(port(1), "leave friends");
    w.run_for(1s);
    CHECK(w.printed(port(1), ">>> [You are not in group friends.]"));
    w.type(port(0), "send_group friends anyone?");
    w.run_for(1s);
    CHECK(lines_starting(w, port(1), ">>> [friends] u0: anyone?").empty());
    w.type(port(0), "leave friends");
    w.run_for(1s);
    w.lines(port(2)).clear();
    w.type(port(2), "groups");
    w.run_for(1s);
    CHECK(w.lines(port(2)) == std::vector<std::string>{">>> [No groups yet.]"});
  }

  TEST_CASE("mistakes get one clear line and send nothing") {
    World w;
    clients(w, 1);
    const std::size_t sent = w.sent_log.size();
    w.type(port(0), "send_all");
    w.type(port(0), "send_group friends");
    w.type(port(0), "send_group bad/name hi");
    w.type(port(0), "join");
    w.type(port(0), "leave a b");
    w.type(port(0), "join no*way");
    CHECK(w.lines(port(0)).back() ==
          ">>> [Invalid group name no*way: use 1 to 32 of A-Z a-z 0-9 _ - .]");
    CHECK(w.printed(port(0), ">>> [Usage: send_all <message>]"));
    CHECK(w.printed(port(0), ">>> [Usage: send_group <group> <message>]"));
    CHECK(w.printed(port(0), ">>> [Usage: join <group>]"));
    CHECK(w.printed(port(0), ">>> [Usage: leave <group>]"));
    CHECK(w.sent_log.size() == sent);
    w.type(port(0), "dereg");
    w.run_for(1s);
    w.type(port(0), "send_all hi");
    CHECK(w.lines(port(0)).back() == ">>> [You are not registered. Use: reg <nick>]");
  }

  TEST_CASE("groups and their members survive a server restart") {
    World w;
    clients(w, 3);
    w.type(port(0), "join team");
    w.type(port(2), "join team");
    w.run_for(1s);
    w.crash_server();
    w.start_server();
    w.run_for(2s);
    w.type(port(1), "groups");
    w.run_for(1s);
    CHECK(w.printed(port(1), ">>> team: u0, u2"));
    w.type(port(2), "send_group team after the restart");
    w.run_for(2s);
    CHECK(w.count(port(0), ">>> [team] u2: after the restart") == 1);
  }

  TEST_CASE("under loss and duplication each member shows each message once, in order") {
    World w;
    clients(w, 4);
    std::mt19937_64 rng(7);
    w.fault = [&](const Endpoint&, const Endpoint&, const Message&) {
      Fate f;
      f.drop = std::uniform_real_distribution<double>(0, 1)(rng) < 0.2;
      f.copies = std::uniform_real_distribution<double>(0, 1)(rng) < 0.1 ? 2 : 1;
      f.extra_delay = std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 60)(rng));
      return f;
    };
    for (int k = 0; k < 10; ++k) w.type(port(0), "send_all m" + std::to_string(k));
    w.run_for(60s);
    w.fault = nullptr;
    w.run_for(60s);
    for (int i = 1; i < 4; ++i) {
      std::vector<std::string> shown;
      for (const auto& l : w.lines(port(i))) {
        if (l.starts_with(">>> [Channel] u0: ")) shown.push_back(l.substr(l.rfind(' ') + 1));
      }
      std::vector<std::string> want;
      for (int k = 0; k < 10; ++k) want.push_back("m" + std::to_string(k));
      CAPTURE(i);
      CHECK(shown == want);
    }
    CHECK(stored_rows(w, kChannelLog) == 10);
  }

  TEST_CASE("fan-out is paced by the window, and a dead member delays nobody else") {
    World w([](ServerConfig& c) { c.fanout_window = 2; });
    clients(w, 8);
    w.kill(port(3));  // silent: its delivery waits for acks that never come
    w.type(port(0), "send_all paced");
    const TimePoint sent = w.now;
    REQUIRE(w.run_until(
        [&] {
          for (int i = 1; i < 8; ++i) {
            if (i != 3 && !w.printed(port(i), ">>> [Channel] u0: paced")) return false;
          }
          return true;
        },
        10s));
    // Well inside the dead member's ack window (5 tries, 500 ms apart).
    CHECK(w.now - sent < 1s);
    CHECK(w.server->pending_work().unacked <= 8);
    // The dead one is verified, marked offline, and gets it when it is back.
    w.run_for(10s);
    w.start_client(nick(3), port(3));
    REQUIRE(w.run_until([&] { return w.printed(port(3), ">>> [You Have Messages]"); }, 10s));
    w.run_for(1s);
    CHECK(lines_starting(w, port(3), ">>> [Channel] u0: T").size() == 1);
  }

  TEST_CASE("a channel message typed while the server is unreachable is kept, then stored once") {
    World w;
    clients(w, 3, 60s);
    w.crash_server();
    w.type(port(0), "send_all during the outage");
    REQUIRE(w.run_until([&] { return w.printed(port(0), ">>> [Server unreachable, retrying.]"); },
                        10s));
    CHECK(w.printed(port(0), ">>> [Message for the channel kept until the server is back.]"));
    w.start_server();
    REQUIRE(w.run_until([&] { return w.printed(port(0), kByServer); }, 40s));
    REQUIRE(w.run_until(
        [&] {
          return w.printed(port(1), ">>> [Channel] u0: during the outage") &&
                 w.printed(port(2), ">>> [Channel] u0: during the outage");
        },
        10s));
    CHECK(log_rows(w, kChannelLog) == 1);
  }

  TEST_CASE("beyond the full-table limit, group members hold each other's rows") {
    World w([](ServerConfig& c) { c.full_table_limit = 2; });
    for (int i = 0; i < 4; ++i) w.start_client(nick(i), port(i));
    w.run_for(2s);
    const auto holds = [&](int i, const std::string& other) {
      const auto rows = w.session(port(i)).table();
      return std::any_of(rows.begin(), rows.end(),
                         [&](const TableEntry& e) { return e.nick == other; });
    };
    REQUIRE_FALSE(holds(0, "u1"));
    w.type(port(0), "join g");
    w.run_for(1s);
    w.type(port(1), "join g");
    w.run_for(1s);
    CHECK(holds(0, "u1"));
    CHECK(holds(1, "u0"));
    CHECK_FALSE(holds(0, "u2"));
    CHECK_FALSE(holds(2, "u0"));
  }
}
