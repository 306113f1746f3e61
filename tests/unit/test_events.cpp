// The client's events (manual §4.10): each line the user sees also comes
// with a kind and fields, which --json prints instead of the line.
#include <doctest/doctest.h>

#include "support/client_fixture.hpp"
#include "support/doctest_print.hpp"

using namespace udpchat;
using namespace udpchat::test;

namespace {

std::vector<UserEvent> type(Registered& c, const std::string& line) {
  c.s.on_line(line, kT0);
  return c.s.take_events();
}

}  // namespace

TEST_SUITE("events") {
  TEST_CASE("a typed mistake is one error event with its line") {
    Registered c;
    const auto events = type(c, "send");
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == "error");
    CHECK(events[0].fields.empty());
    CHECK(events[0].line == ">>> [Usage: send <nick> <message>]");
  }

  TEST_CASE("a direct message is a message event with sender and raw text") {
    Registered c;
    c.s.on_datagram(encode(Chat{77, "bob", {}, bob_box(77, "hi \x01 there")}),
                    Endpoint{"127.0.0.1", 6002}, kT0);
    const auto events = c.s.take_events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == "message");
    CHECK(events[0].fields == std::vector<EventField>{{"from", std::string("bob")},
                                                      {"text", std::string("hi \x01 there")}});
    CHECK(events[0].line == ">>> bob: hi \xef\xbf\xbd there");  // U+FFFD in the line, raw in the field
  }

  TEST_CASE("a send's outcome names its peer") {
    Registered c;
    CHECK(type(c, "send bob hello").empty());
    const auto out = without_introductions(c.s.take_outgoing());
    REQUIRE(out.size() == 1);
    const auto chat = std::get<Chat>(*decode(out[0].bytes));
    c.s.on_datagram(encode(bob_ack(chat.id)), Endpoint{"127.0.0.1", 6002}, kT0);
    const auto events = c.s.take_events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == "delivered");
    CHECK(events[0].fields == std::vector<EventField>{{"to", std::string("bob")}});
  }

  TEST_CASE("no ack in time is a no_ack event, then the server's save a saved event") {
    Registered c;
    type(c, "send bob hello");
    c.s.take_outgoing();
    c.s.on_timeout(kT0 + std::chrono::seconds(1));
    auto events = c.s.take_events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == "no_ack");
    CHECK(events[0].fields == std::vector<EventField>{{"to", std::string("bob")}, {"held", false}});
    const auto out = without_introductions(c.s.take_outgoing());
    REQUIRE(out.size() == 1);
    const auto save = std::get<Save>(*decode(out[0].bytes));
    c.s.on_datagram(encode(Ack{save.id, AckStatus::kSaved, 0, {}}), kServer,
                    kT0 + std::chrono::seconds(1));
    events = c.s.take_events();
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == "saved");
    CHECK(events[0].line == ">>> [Messages received by the server and saved]");
  }
}
