// ClientSession on its own: what the user sees for each mistake, and how it
// treats datagrams, with the server played by hand.
#include <doctest/doctest.h>

#include "support/doctest_print.hpp"
#include "support/world.hpp"

using namespace udpchat;
using namespace std::chrono_literals;

namespace {

const Endpoint kServer{"127.0.0.1", 9000};
const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);

// A client registered as alice whose table holds alice and bob (online).
struct Registered {
  ClientSession s{ClientConfig{.nick = "alice", .server = kServer}, 1000};
  Registered() {
    s.start(kT0);
    const auto out = s.take_outgoing();
    REQUIRE(out.size() == 1);
    const auto reg = decode(out[0].bytes);
    REQUIRE(reg);
    const auto id = std::get<Register>(*reg).id;
    s.on_datagram(encode(Ack{id, AckStatus::kOk, 0, {}}), kServer, kT0);
    TablePart t{
        500, 1, 0, 1, {{"alice", "127.0.0.1", 6001, true}, {"bob", "127.0.0.1", 6002, true}}};
    s.on_datagram(encode(t), kServer, kT0);
    s.take_outgoing();
    const auto lines = s.take_lines();
    REQUIRE(lines == std::vector<std::string>{">>> [Welcome, You are registered.]",
                                              ">>> [Client table updated.]"});
  }
  std::vector<std::string> type(const std::string& line) {
    s.on_line(line, kT0);
    return s.take_lines();
  }
};

using Lines = std::vector<std::string>;

}  // namespace

TEST_SUITE("client") {
  TEST_CASE("mistakes get one clear line and send nothing") {
    Registered c;
    CHECK(c.type("send") == Lines{">>> [Usage: send <nick> <message>]"});
    CHECK(c.type("send bob") == Lines{">>> [Usage: send <nick> <message>]"});
    CHECK(c.type("send bob ") == Lines{">>> [Usage: send <nick> <message>]"});
    CHECK(c.type("send z*d hi") == Lines{">>> [Unknown client z*d.]"});
    CHECK(c.type("send bob " + std::string(1001, 'x')) ==
          Lines{">>> [Message too long: 1001 bytes (max 1000).]"});
    CHECK(c.type("send bob \xff\xfe") == Lines{">>> [Message is not valid UTF-8.]"});
    CHECK(c.type("fly away") == Lines{">>> [Unknown command: fly. Type help for the commands.]"});
    CHECK(c.type("dereg alice bob") == Lines{">>> [Usage: dereg [<nick>]]"});
    CHECK(c.type("dereg bob") == Lines{">>> [You can only deregister yourself (alice).]"});
    CHECK(c.type("reg") == Lines{">>> [Usage: reg <nick>]"});
    CHECK(c.type("reg alice") == Lines{">>> [You are already registered as alice.]"});
    CHECK(c.type("") == Lines{});
    CHECK(c.s.take_outgoing().empty());
  }

  TEST_CASE("the message is the rest of the line after the nickname and one space") {
    Registered c;
    c.type("send   bob   two  leading spaces kept ");
    const auto out = c.s.take_outgoing();
    REQUIRE(out.size() == 1);
    CHECK(out[0].to == Endpoint{"127.0.0.1", 6002});
    const auto m = decode(out[0].bytes);
    REQUIRE(m);
    CHECK(std::get<Chat>(*m).text == "  two  leading spaces kept ");
    CHECK(std::get<Chat>(*m).from == "alice");
  }

  TEST_CASE("nicknames in commands are matched without regard to case") {
    Registered c;
    c.type("send BOB hi");
    CHECK(c.s.take_outgoing().size() == 1);
    CHECK(c.type("dereg ALICE").empty());
    CHECK(c.s.take_outgoing().size() == 1);
  }

  TEST_CASE("dereg alone deregisters oneself, as the classic program did") {
    Registered c;
    CHECK(c.type("dereg").empty());
    const auto out = c.s.take_outgoing();
    REQUIRE(out.size() == 1);
    const auto m = decode(out[0].bytes);
    REQUIRE(m);
    REQUIRE(std::holds_alternative<Deregister>(*m));
    CHECK(std::get<Deregister>(*m).nick == "alice");
  }

  TEST_CASE("help lists the commands") {
    Registered c;
    const auto lines = c.type("help");
    REQUIRE(lines.size() >= 6);
    bool has_send = false;
    for (const auto& l : lines) {
      CHECK(l.rfind(">>> ", 0) == 0);
      has_send = has_send || l.find("send <nick> <message>") != std::string::npos;
    }
    CHECK(has_send);
  }

  TEST_CASE("server datagrams are accepted only from the server's address") {
    Registered c;
    const Endpoint other{"127.0.0.1", 9999};
    TablePart t{600, 9, 0, 1, {{"mallory", "127.0.0.1", 1, true}}};
    c.s.on_datagram(encode(t), other, kT0);
    c.s.on_datagram(encode(Deliver{601, "bob", 1, "forged", 0}), other, kT0);
    c.s.on_datagram(encode(Ping{602}), other, kT0);
    CHECK(c.s.take_lines().empty());
    CHECK(c.s.take_outgoing().empty());
    CHECK(c.s.table().size() == 2);
    CHECK(c.s.dropped() == 3);
  }

  TEST_CASE("a table in several parts is applied once complete, in any order, once per version") {
    Registered c;
    TablePart p0{700, 5, 0, 2, {{"alice", "127.0.0.1", 6001, true}}};
    TablePart p1{
        701, 5, 1, 2, {{"bob", "127.0.0.1", 6002, false}, {"carol", "127.0.0.1", 6003, true}}};
    c.s.on_datagram(encode(p1), kServer, kT0);
    CHECK(c.s.take_lines().empty());
    CHECK(c.s.table_version() == 1);
    c.s.on_datagram(encode(p1), kServer, kT0);  // duplicate part
    c.s.on_datagram(encode(p0), kServer, kT0);
    CHECK(c.s.take_lines() == Lines{">>> [Client table updated.]"});
    c.s.on_datagram(encode(p0), kServer, kT0);  // late copy of the same version
    CHECK(c.s.take_lines().empty());
    CHECK(c.s.table_version() == 5);
    CHECK(c.s.table().size() == 3);
    // Every part is acknowledged, copies too.
    CHECK(c.s.take_outgoing().size() == 4);
    // bob is offline now: a send goes to the server.
    c.type("send bob hi");
    const auto out = c.s.take_outgoing();
    REQUIRE(out.size() == 1);
    CHECK(out[0].to == kServer);
    CHECK(std::holds_alternative<Save>(*decode(out[0].bytes)));
  }

  TEST_CASE("a direct message is shown once however many copies arrive, each acknowledged") {
    Registered c;
    const Endpoint bob{"127.0.0.1", 6002};
    for (int i = 0; i < 3; ++i) c.s.on_datagram(encode(Chat{42, "bob", "hi"}), bob, kT0);
    c.s.on_datagram(encode(Deliver{900, "bob", 42, "hi", 0}), kServer, kT0);  // relayed copy
    CHECK(c.s.take_lines() == Lines{">>> bob: hi"});
    CHECK(c.s.take_outgoing().size() == 4);
  }

  TEST_CASE("control characters from a peer cannot reach the terminal") {
    Registered c;
    c.s.on_datagram(encode(Chat{43, "bob", "a\x1b[2Jb"}), Endpoint{"127.0.0.1", 6002}, kT0);
    CHECK(c.s.take_lines() == Lines{">>> bob: a\xEF\xBF\xBD[2Jb"});
  }

  TEST_CASE("after dereg only reg, list, help and quit work") {
    Registered c;
    c.type("dereg alice");
    auto out = c.s.take_outgoing();
    REQUIRE(out.size() == 1);
    const auto id = std::get<Deregister>(*decode(out[0].bytes)).id;
    c.s.on_datagram(encode(Ack{id, AckStatus::kOk, 0, {}}), kServer, kT0);
    CHECK(c.s.take_lines() == Lines{">>> [You are Offline. Bye.]"});
    CHECK(c.type("send bob hi") == Lines{">>> [You are not registered. Use: reg <nick>]"});
    CHECK(c.type("dereg alice") == Lines{">>> [You are not registered. Use: reg <nick>]"});
    CHECK(c.type("list").size() == 2);
    // Silent: a direct message is neither shown nor acknowledged.
    c.s.on_datagram(encode(Chat{44, "bob", "hello?"}), Endpoint{"127.0.0.1", 6002}, kT0);
    CHECK(c.s.take_lines().empty());
    CHECK(c.s.take_outgoing().empty());
    CHECK(c.type("reg bad/name") ==
          Lines{">>> [Invalid nickname bad/name: use 1 to 32 of A-Z a-z 0-9 _ - .]"});
    c.type("quit");
    CHECK(c.s.exit_status() == 0);
  }

  TEST_CASE("the peer's ack ends the send; the window closing sends it to the server") {
    Registered c;
    c.type("send bob one");
    auto out = c.s.take_outgoing();
    const auto mid = std::get<Chat>(*decode(out.at(0).bytes)).id;
    // An ack from someone else's address does not count.
    c.s.on_datagram(encode(Ack{mid, AckStatus::kOk, 0, {}}), Endpoint{"127.0.0.1", 6003}, kT0);
    CHECK(c.s.take_lines().empty());
    c.s.on_datagram(encode(Ack{mid, AckStatus::kOk, 0, {}}), Endpoint{"127.0.0.1", 6002},
                    kT0 + 1ms);
    CHECK(c.s.take_lines() == Lines{">>> [Message received by bob.]"});

    c.type("send bob two");
    c.s.take_outgoing();
    TimePoint t = kT0;
    while (c.s.next_deadline() && *c.s.next_deadline() <= kT0 + 500ms) {
      t = *c.s.next_deadline();
      c.s.on_timeout(t);
    }
    CHECK(t <= kT0 + 500ms);
    CHECK(c.s.take_lines() == Lines{">>> [No ACK from bob, message sent to server.]"});
    out = c.s.take_outgoing();
    REQUIRE_FALSE(out.empty());
    CHECK(out.back().to == kServer);
    const auto save = std::get<Save>(*decode(out.back().bytes));
    CHECK(save.text == "two");
    CHECK(save.to == "bob");
  }

  TEST_CASE("a second send to the same peer waits for the first one's outcome") {
    Registered c;
    c.type("send bob first");
    c.type("send bob second");
    auto out = c.s.take_outgoing();
    REQUIRE(out.size() == 1);
    const auto mid = std::get<Chat>(*decode(out[0].bytes)).id;
    c.s.on_datagram(encode(Ack{mid, AckStatus::kOk, 0, {}}), Endpoint{"127.0.0.1", 6002}, kT0);
    out = c.s.take_outgoing();
    REQUIRE(out.size() == 1);
    CHECK(std::get<Chat>(*decode(out[0].bytes)).text == "second");
  }

}  // TEST_SUITE
