// ServerCore on its own, with clients played by hand.
#include <doctest/doctest.h>

#include "support/datagrams.hpp"
#include "support/doctest_print.hpp"
#include "support/server_fixture.hpp"
#include "support/store_driver.hpp"
#include "support/world.hpp"

using namespace udpchat;
using udpchat::test::of_type;
using namespace std::chrono_literals;

namespace {

const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);
const Endpoint kAlice{"127.0.0.1", 6001};
const Endpoint kBob{"127.0.0.1", 6002};

using Server = udpchat::test::InstantServer;

}  // namespace

TEST_SUITE("server") {
  TEST_CASE("registration is acknowledged, then the table goes to every online client") {
    Server s;
    auto out = s.feed(Register{1, "alice", 30000}, kAlice);
    REQUIRE(of_type<Ack>(out, kAlice).size() == 1);
    CHECK(of_type<Ack>(out, kAlice)[0].status == AckStatus::kOk);
    const auto first = of_type<TablePart>(out, kAlice);
    REQUIRE(first.size() == 1);
    CHECK(first[0].from == 0);  // a snapshot
    // Not acked yet: one update in flight per client, the next waits.
    out = s.feed(Register{1, "bob", 30000}, kBob);
    CHECK(of_type<TablePart>(out, kAlice).empty());
    REQUIRE(of_type<TablePart>(out, kBob).size() == 1);  // bob's snapshot
    CHECK(of_type<TablePart>(out, kBob)[0].entries.size() == 2);
    // Acked: the next one goes at once, a delta of what changed meanwhile.
    out = s.feed(Ack{first[0].id, AckStatus::kOk, 0, {}}, kAlice);
    const auto tables = of_type<TablePart>(out, kAlice);
    REQUIRE(tables.size() == 1);
    CHECK(tables[0].version == 2);
    CHECK(tables[0].from == 1);
    REQUIRE(tables[0].entries.size() == 1);
    CHECK(tables[0].entries[0].nick == "bob");
    CHECK(s.store.load()->clients.size() == 2);
    CHECK(s.store.load()->table_version == 2);
  }

  TEST_CASE("a retransmitted request gets the same answer and is not acted on twice") {
    Server s;
    s.feed(Register{1, "alice", 30000}, kAlice);
    s.feed(Register{2, "bob", 30000}, kBob);
    s.feed(Deregister{3, "bob"}, kBob);
    const auto version = s.core.table_version();
    auto first = s.feed(Save{10, "alice", "bob", 77, "hi"}, kAlice);
    auto again = s.feed(Save{10, "alice", "bob", 77, "hi"}, kAlice);
    REQUIRE(of_type<Ack>(first, kAlice).size() == 1);
    CHECK(of_type<Ack>(again, kAlice) == of_type<Ack>(first, kAlice));
    CHECK(s.store.count_for("bob").value() == 1);
    CHECK(s.core.stats().messages_stored == 1);
    // The same message under a new transport id (e.g. after a restart) is
    // still stored once: saves are idempotent by (sender, message id).
    auto other_id = s.feed(Save{11, "alice", "bob", 77, "hi"}, kAlice);
    CHECK(of_type<Ack>(other_id, kAlice).at(0).status == AckStatus::kSaved);
    CHECK(s.store.count_for("bob").value() == 1);
    // A repeated deregistration changes nothing.
    s.feed(Deregister{3, "bob"}, kBob);
    CHECK(s.core.table_version() == version);
  }

  TEST_CASE("a stored message is deleted only after the recipient acknowledges it") {
    Server s;
    s.feed(Register{1, "alice", 30000}, kAlice);
    s.feed(Register{2, "bob", 30000}, kBob);
    s.feed(Deregister{3, "bob"}, kBob);
    s.feed(Save{10, "alice", "bob", 1, "one"}, kAlice);
    s.feed(Save{11, "alice", "bob", 2, "two"}, kAlice);
    auto out = s.feed(Register{4, "bob", 30000}, kBob);
    CHECK(of_type<Ack>(out, kBob).at(0).stored == 2);
    auto deliveries = of_type<Deliver>(out, kBob);
    REQUIRE(deliveries.size() == 1);  // one at a time
    CHECK(deliveries[0].text == "one");
    CHECK(deliveries[0].saved_at_ms == 1700000000000);
    CHECK(s.store.count_for("bob").value() == 2);
    out = s.feed(Ack{deliveries[0].id, AckStatus::kOk, 0, {}}, kBob);
    CHECK(s.store.count_for("bob").value() == 1);
    deliveries = of_type<Deliver>(out, kBob);
    REQUIRE(deliveries.size() == 1);
    CHECK(deliveries[0].text == "two");
  }

  TEST_CASE("heartbeats: a client behind on the table gets it again; an offline one is told") {
    Server s;
    auto out = s.feed(Register{1, "alice", 30000}, kAlice);
    const auto first = of_type<TablePart>(out, kAlice);
    REQUIRE(first.size() == 1);
    // Acked, but the client says it holds nothing (it lost it): again.
    s.feed(Ack{first[0].id, AckStatus::kOk, 0, {}}, kAlice);
    out = s.feed(Heartbeat{2, "alice", 0}, kAlice);
    CHECK(of_type<Ack>(out, kAlice).at(0).status == AckStatus::kOk);
    REQUIRE(of_type<TablePart>(out, kAlice).size() == 1);
    CHECK(of_type<TablePart>(out, kAlice)[0].from == 0);  // a snapshot
    // A client that holds the newest version gets nothing more.
    s.feed(Ack{of_type<TablePart>(out, kAlice)[0].id, AckStatus::kOk, 0, {}}, kAlice);
    out = s.feed(Heartbeat{5, "alice", s.core.table_version()}, kAlice);
    CHECK(of_type<TablePart>(out, kAlice).empty());
    s.feed(Deregister{3, "alice"}, kAlice);
    out = s.feed(Heartbeat{4, "alice", 9}, kAlice);
    CHECK(of_type<Ack>(out, kAlice).at(0).status == AckStatus::kOffline);
  }

  TEST_CASE("a heartbeat for a nickname the server does not know is not answered") {
    // Nothing answers a datagram from an address that did not register
    // (the server must not be a reflector): not even with "offline".
    Server s;
    CHECK(s.feed(Heartbeat{2, "ghost", 0}, kAlice).empty());
    s.feed(Register{1, "alice", 30000}, kAlice);
    CHECK(s.feed(Heartbeat{3, "alice", 0}, kBob).empty());
    CHECK(s.core.stats().dropped["unauthorised"] == 2);
  }

  TEST_CASE("statistics count requests and drops") {
    Server s;
    s.feed(Register{1, "alice", 30000}, kAlice);
    s.core.on_datagram("garbage", kBob, kT0);
    CHECK(s.core.stats().requests["register"] == 1);
    CHECK(s.core.stats().dropped["malformed"] == 1);
    const std::string report = s.core.stats_report();
    CHECK(report.find("clients registered 1, online 1") != std::string::npos);
    CHECK(report.find("malformed=1") != std::string::npos);
  }

  TEST_CASE("the shutdown notice goes to every online client") {
    Server s;
    s.feed(Register{1, "alice", 30000}, kAlice);
    s.feed(Register{2, "bob", 30000}, kBob);
    s.core.take_outgoing();
    s.core.begin_shutdown(kT0);
    auto out = s.core.take_outgoing();
    CHECK(of_type<Notice>(out, kAlice).size() == 1);
    CHECK(of_type<Notice>(out, kBob).size() == 1);
    CHECK_FALSE(s.core.shutdown_complete());
    s.feed(Ack{of_type<Notice>(out, kAlice)[0].id, AckStatus::kOk, 0, {}}, kAlice);
    s.feed(Ack{of_type<Notice>(out, kBob)[0].id, AckStatus::kOk, 0, {}}, kBob);
    CHECK(s.core.shutdown_complete());
  }

}  // TEST_SUITE
