// ClientSession on its own: what the user sees for each mistake, and how it
// treats datagrams, with the server played by hand.
#include <doctest/doctest.h>

#include <algorithm>

#include "crypto/fingerprint.hpp"
#include "support/client_fixture.hpp"
#include "support/doctest_print.hpp"
#include "support/world.hpp"

using namespace udpchat;
using namespace std::chrono_literals;
using namespace udpchat::test;

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
    const auto out = without_introductions(c.s.take_outgoing());
    REQUIRE(out.size() == 1);
    CHECK(out[0].to == Endpoint{"127.0.0.1", 6002});
    const auto m = decode(out[0].bytes);
    REQUIRE(m);
    const auto& chat = std::get<Chat>(*m);
    CHECK(chat.text.empty());  // sealed (manual §8)
    CHECK(bob_opens(chat.box, chat.id) == "  two  leading spaces kept ");
    CHECK(chat.from == "alice");
  }

  TEST_CASE("nicknames in commands are matched without regard to case") {
    Registered c;
    c.type("send BOB hi");
    CHECK(without_introductions(c.s.take_outgoing()).size() == 1);
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
    TablePart p0{700, 5, 0, 2, {row("alice", 6001, true, kAliceKey)}};
    TablePart p1{
        701, 5, 1, 2, {row("bob", 6002, false, kBobKey), row("carol", 6003, true, kCarolKey)}};
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
    for (int i = 0; i < 3; ++i)
      c.s.on_datagram(encode(Chat{42, "bob", {}, bob_box(42, "hi")}), bob, kT0);
    // The relayed copy.
    c.s.on_datagram(encode(Deliver{900, "bob", 42, {}, 0, {}, bob_box(42, "hi")}), kServer, kT0);
    CHECK(c.s.take_lines() == Lines{">>> bob: hi"});
    CHECK(c.s.take_outgoing().size() == 4);
  }

  TEST_CASE("control characters from a peer cannot reach the terminal") {
    Registered c;
    c.s.on_datagram(encode(Chat{43, "bob", {}, bob_box(43, "a\x1b[2Jb")}),
                    Endpoint{"127.0.0.1", 6002}, kT0);
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
    c.s.on_datagram(encode(Chat{44, "bob", {}, bob_box(44, "hello?")}), Endpoint{"127.0.0.1", 6002},
                    kT0);
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
    // An ack from someone else's address does not count, nor one without
    // bob's tag from bob's address (manual §8).
    c.s.on_datagram(encode(bob_ack(mid)), Endpoint{"127.0.0.1", 6003}, kT0);
    c.s.on_datagram(encode(Ack{mid, AckStatus::kOk, 0, {}}), Endpoint{"127.0.0.1", 6002}, kT0);
    Ack forged = bob_ack(mid);
    forged.tag[0] = static_cast<char>(forged.tag[0] ^ 1);
    c.s.on_datagram(encode(forged), Endpoint{"127.0.0.1", 6002}, kT0);
    CHECK(c.s.take_lines().empty());
    c.s.on_datagram(encode(bob_ack(mid)), Endpoint{"127.0.0.1", 6002}, kT0 + 1ms);
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
    CHECK(save.text.empty());  // the server cannot read it
    CHECK(bob_opens(save.box, save.mid) == "two");
    CHECK(save.to == "bob");
  }

  TEST_CASE("a second send to the same peer waits for the first one's outcome") {
    Registered c;
    c.type("send bob first");
    c.type("send bob second");
    auto out = without_introductions(c.s.take_outgoing());
    REQUIRE(out.size() == 1);
    const auto mid = std::get<Chat>(*decode(out[0].bytes)).id;
    c.s.on_datagram(encode(bob_ack(mid)), Endpoint{"127.0.0.1", 6002}, kT0);
    out = c.s.take_outgoing();
    REQUIRE(out.size() == 1);
    const auto second = std::get<Chat>(*decode(out[0].bytes));
    CHECK(bob_opens(second.box, second.id) == "second");
  }

  TEST_CASE("a direct message shows only if it opens under its sender's key") {
    Registered c;
    const Endpoint bob{"127.0.0.1", 6002};
    // Plain text claiming to be bob, from bob's own address and port: dropped.
    c.s.on_datagram(encode(Chat{50, "bob", "send me your password"}), bob, kT0);
    // Sealed by a stranger's key, claiming bob.
    const auto keys = crypto::peer_keys(kCarolKey, kAliceKey.public_key);
    const auto forged =
        crypto::seal_box(keys->send, crypto::as_bytes(e2e_associated_data("bob", "alice", 51)),
                         crypto::as_bytes(std::string("hi")), crypto::seeded_random(5));
    c.s.on_datagram(encode(Chat{51, "bob", {}, std::string(forged.begin(), forged.end())}), bob,
                    kT0);
    // bob's genuine box, replayed as another message id: its AD differs.
    c.s.on_datagram(encode(Chat{53, "bob", {}, bob_box(52, "moved")}), bob, kT0);
    CHECK(c.s.take_lines().empty());
    CHECK(c.s.take_outgoing().empty());  // not even acknowledged
    CHECK(c.s.dropped() == 3);
    // A stored message that does not open: one line, and acked (kept, it
    // would come back forever).
    c.s.on_datagram(encode(Deliver{902, "bob", 60, {}, 1, {}, bob_box(61, "x")}), kServer, kT0);
    CHECK(c.s.take_lines() ==
          Lines{">>> [A message from bob could not be verified and was dropped.]"});
    CHECK(c.s.take_outgoing().size() == 1);
  }

  TEST_CASE("a changed key warns once and holds messages until trust") {
    Registered c;
    // The server now says bob holds carol's key.
    TablePart t{510, 2, 0, 1, {row("bob", 6002, true, kCarolKey)}, 1};
    t.entries[0].version = 2;
    c.s.on_datagram(encode(t), kServer, kT0);
    CHECK(c.s.take_lines() ==
          Lines{">>> [Warning: the key of bob changed.]", ">>> [Client table updated.]"});
    c.s.take_outgoing();
    CHECK(c.type("send bob are you still you?") ==
          Lines{">>> [Messages to bob wait: its key changed. Compare fingerprint bob with them, "
                "then type trust bob.]"});
    CHECK(c.s.take_outgoing().empty());
    const auto number = c.type("fingerprint bob");
    REQUIRE(number.size() == 1);
    CHECK(number[0] ==
          ">>> [Safety number with bob: " +
              crypto::safety_number(kAliceKey.public_key, "alice", kCarolKey.public_key, "bob") +
              "]");
    CHECK(c.type("trust alice") == Lines{">>> [No key known for alice.]"});
    CHECK(c.type("trust bob") == Lines{">>> [The new key of bob is trusted.]"});
    const auto out = without_introductions(c.s.take_outgoing());
    REQUIRE(out.size() == 1);
    const auto chat = std::get<Chat>(*decode(out[0].bytes));
    // Sealed for the key now trusted.
    const auto keys = crypto::peer_keys(kCarolKey, kAliceKey.public_key);
    CHECK(crypto::open_box(keys->receive,
                           crypto::as_bytes(e2e_associated_data("alice", "bob", chat.id)),
                           crypto::as_bytes(chat.box)));
    CHECK(c.type("trust bob") == Lines{">>> [The key of bob has not changed.]"});
    // The pins to write: bob at first sight, then bob's new key.
    const auto pins = c.s.take_new_pins();
    REQUIRE(pins.size() == 2);
    CHECK(pins[0].first == "bob");
    CHECK(pins[1].second == kCarolKey.public_key);
  }

  TEST_CASE("under a key change not trusted, messages under the new key wait; quit ends") {
    Registered c;
    TablePart t{511, 2, 0, 1, {row("bob", 6002, true, kCarolKey)}, 1};
    t.entries[0].version = 2;
    c.s.on_datagram(encode(t), kServer, kT0);
    c.s.take_lines();
    c.s.take_outgoing();
    // Sealed under the new key (carol's): neither shown nor acked yet.
    const auto keys = crypto::peer_keys(kCarolKey, kAliceKey.public_key);
    const auto box =
        crypto::seal_box(keys->send, crypto::as_bytes(e2e_associated_data("bob", "alice", 70)),
                         crypto::as_bytes(std::string("new me")), crypto::seeded_random(6));
    const Deliver d{903, "bob", 70, {}, 1, {}, std::string(box.begin(), box.end())};
    c.s.on_datagram(encode(d), kServer, kT0);
    CHECK(c.s.take_lines() == Lines{">>> [Messages from bob wait too, until you type trust bob.]"});
    CHECK(c.s.take_outgoing().empty());
    // Under the old, pinned key it still opens.
    c.s.on_datagram(encode(Deliver{904, "bob", 71, {}, 1, {}, bob_box(71, "old me")}), kServer,
                    kT0);
    const auto shown = c.s.take_lines();
    REQUIRE(shown.size() == 1);
    CHECK(shown[0].starts_with(">>> bob: "));
    CHECK(shown[0].ends_with(" old me"));
    // A message typed for bob waits; quit says it was not sent, and ends.
    c.type("send bob hello");
    c.s.take_lines();
    c.s.on_quit(kT0);
    std::uint64_t dereg_id = 0;
    for (const auto& o : c.s.take_outgoing()) {
      if (const auto m = decode(o.bytes); m && std::holds_alternative<Deregister>(*m)) {
        dereg_id = std::get<Deregister>(*m).id;
      }
    }
    REQUIRE(dereg_id != 0);
    c.s.on_datagram(encode(Ack{dereg_id, AckStatus::kOk, 0, {}}), kServer, kT0);
    const auto lines = c.s.take_lines();
    CHECK(std::find(lines.begin(), lines.end(),
                    ">>> [Message for bob not sent: its new key was not trusted.]") != lines.end());
    CHECK(c.s.exit_status() == 0);
  }

  TEST_CASE("fingerprint without a nickname shows one's own") {
    Registered c;
    CHECK(c.type("fingerprint") ==
          Lines{">>> [Your fingerprint: " +
                crypto::group_digits(crypto::numeric_fingerprint(kAliceKey.public_key, "alice")) +
                "]"});
    CHECK(c.type("fingerprint nobody") == Lines{">>> [No key known for nobody.]"});
  }

  TEST_CASE("a registration attempt replaces a Register still in flight: one handshake, one id") {
    // The table shows alice offline: she registers again (R1). A join sent
    // before goes unanswered, so the server counts as lost; a datagram from
    // it then starts an attempt (R2) while R1 still has tries. Two
    // Registers in flight would each start a new session with the server
    // (SecureClient), and every ack sealed for the one before would be
    // dropped; so R1 is withdrawn: its ack is no answer any more.
    Registered c;
    c.s.on_line("join friends", kT0);
    CHECK(c.s.take_outgoing().size() == 1);
    c.s.on_datagram(encode(TablePart{501, 2, 0, 1, {row("alice", 6001, false, kAliceKey)}}),
                    kServer, kT0 + 100ms);
    std::uint64_t r1 = 0;
    for (const auto& o : c.s.take_outgoing()) {
      if (const auto m = decode(o.bytes); m && std::holds_alternative<Register>(*m)) {
        r1 = std::get<Register>(*m).id;
      }
    }
    REQUIRE(r1 != 0);
    c.s.on_timeout(kT0 + 2500ms);  // the join's last try runs out
    REQUIRE(c.s.take_lines() == Lines{">>> [Client table updated.]",
                                      ">>> [Server unreachable, retrying.]",
                                      ">>> [Server unreachable: try again when it is back.]"});
    c.s.take_outgoing();
    c.s.on_datagram(encode(Ping{77}), kServer, kT0 + 2550ms);  // the server is back
    std::uint64_t r2 = 0;
    for (const auto& o : c.s.take_outgoing()) {
      if (const auto m = decode(o.bytes); m && std::holds_alternative<Register>(*m)) {
        CHECK(r2 == 0);  // one Register only
        r2 = std::get<Register>(*m).id;
      }
    }
    REQUIRE(r2 != 0);
    CHECK(r2 != r1);
    // R1's ack answers nothing now; R2's registers her.
    c.s.on_datagram(encode(Ack{r1, AckStatus::kOk, 0, {}}), kServer, kT0 + 2560ms);
    CHECK_FALSE(c.s.registered());
    c.s.on_timeout(kT0 + 2600ms);  // R1 would have been tried or given up now
    for (const auto& o : c.s.take_outgoing()) {
      const auto m = decode(o.bytes);
      CHECK_FALSE((m && std::holds_alternative<Register>(*m) && std::get<Register>(*m).id == r1));
    }
    c.s.on_datagram(encode(Ack{r2, AckStatus::kOk, 0, {}}), kServer, kT0 + 2610ms);
    CHECK(c.s.registered());
  }

}  // TEST_SUITE
