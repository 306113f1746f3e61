// docs/NAT.md, "Hole punching": introductions, punches and probes between
// two ClientSessions, the server and the network played by hand.
#include <doctest/doctest.h>

#include "support/client_fixture.hpp"
#include "support/datagrams.hpp"
#include "support/doctest_print.hpp"

using namespace udpchat;        // NOLINT(google-build-using-namespace): test file
using namespace udpchat::test;  // NOLINT(google-build-using-namespace): test file
using namespace std::chrono_literals;

namespace {

// alice behind one NAT, bob behind another: local and public endpoints.
const Endpoint kAliceLocal{"198.18.0.11", 40000};
const Endpoint kAlicePublic{"203.0.113.10", 40000};
const Endpoint kBobLocal{"198.18.1.11", 40000};
const Endpoint kBobPublic{"203.0.113.11", 40000};

TableEntry natted_row(const std::string& nick, const Endpoint& pub, const Endpoint& local,
                      const crypto::KeyPair& key) {
  return {nick, pub.address, pub.port, true, 1, key_bytes(key), local.address, local.port};
}

/// One client behind its NAT, registered, holding both rows.
struct Natted {
  ClientSession s;
  Natted(const std::string& nick, const crypto::KeyPair& key, const Endpoint& local,
         const Endpoint& pub)
      : s(config(nick, key, local), nick == "alice" ? 1000 : 5000) {
    s.start(kT0);
    const auto out = s.take_outgoing();
    REQUIRE(out.size() == 1);
    const auto id = std::get<Register>(*decode(out[0].bytes)).id;
    s.on_datagram(encode(Ack{id, AckStatus::kOk, 0, {}, 2, {}, pub}), kServer, kT0);
    s.on_datagram(encode(TablePart{500,
                                   1,
                                   0,
                                   1,
                                   {natted_row("alice", kAlicePublic, kAliceLocal, kAliceKey),
                                    natted_row("bob", kBobPublic, kBobLocal, kBobKey)}}),
                  kServer, kT0);
    s.take_outgoing();
    s.take_lines();
  }
  static ClientConfig config(const std::string& nick, const crypto::KeyPair& key,
                             const Endpoint& local) {
    ClientConfig c{.nick = nick, .server = kServer, .key = key};
    c.local = local;
    return c;
  }
};

template <typename T>
std::vector<std::pair<Endpoint, T>> all_of_type(const std::vector<Outgoing>& out) {
  std::vector<std::pair<Endpoint, T>> v;
  for (const auto& o : out) {
    const auto m = decode(o.bytes);
    REQUIRE(m);
    if (std::holds_alternative<T>(*m)) v.emplace_back(o.to, std::get<T>(*m));
  }
  return v;
}

}  // namespace

TEST_SUITE("NAT: hole punching") {
  TEST_CASE("a first send asks for an introduction; the punch makes probes to the candidates") {
    Natted alice("alice", kAliceKey, kAliceLocal, kAlicePublic);
    alice.s.on_line("send bob hello", kT0);
    auto out = alice.s.take_outgoing();
    const auto chats = all_of_type<Chat>(out);
    REQUIRE(chats.size() == 1);
    CHECK(chats[0].first == kBobPublic);  // another NAT: its public endpoint
    const auto intros = all_of_type<Introduce>(out);
    REQUIRE(intros.size() == 1);
    CHECK(intros[0].first == kServer);
    CHECK(intros[0].second.from == "alice");
    CHECK(intros[0].second.to == "bob");
    // The server introduces them.
    alice.s.on_datagram(encode(Ack{intros[0].second.id, AckStatus::kOk, 0, {}}), kServer, kT0);
    alice.s.on_datagram(encode(Punch{900, natted_row("bob", kBobPublic, kBobLocal, kBobKey)}),
                        kServer, kT0);
    out = alice.s.take_outgoing();
    const auto acks = of_type<Ack>(out, kServer);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].id == 900);
    const auto probes = all_of_type<Probe>(out);
    // bob is behind another NAT: only its public endpoint is a candidate.
    REQUIRE(probes.size() == 1);
    CHECK(probes[0].first == kBobPublic);
    CHECK(probes[0].second.from == "alice");
    CHECK(probes[0].second.to == "bob");
    CHECK_FALSE(probes[0].second.answer);
  }

  TEST_CASE("a probe is answered to its source, the answer opens the path, the chat moves there") {
    Natted alice("alice", kAliceKey, kAliceLocal, kAlicePublic);
    Natted bob("bob", kBobKey, kBobLocal, kBobPublic);
    alice.s.on_line("send bob hello", kT0);
    alice.s.take_outgoing();
    alice.s.on_datagram(encode(Punch{900, natted_row("bob", kBobPublic, kBobLocal, kBobKey)}),
                        kServer, kT0);
    bob.s.on_datagram(encode(Punch{901, natted_row("alice", kAlicePublic, kAliceLocal, kAliceKey)}),
                      kServer, kT0);
    const auto from_alice = all_of_type<Probe>(alice.s.take_outgoing());
    const auto from_bob = all_of_type<Probe>(bob.s.take_outgoing());
    REQUIRE(from_alice.size() == 1);
    REQUIRE(from_bob.size() == 1);
    // bob's probe reaches alice (her NAT is open towards bob's public
    // endpoint now); she answers where it came from, no larger, and probes
    // again at once (bob's NAT is open towards her now: a triggered check).
    const std::string request = encode(from_bob[0].second);
    alice.s.on_datagram(request, kBobPublic, kT0 + 1ms);
    auto out = alice.s.take_outgoing();
    std::vector<std::pair<Endpoint, Probe>> answers;
    std::vector<std::pair<Endpoint, Probe>> triggered;
    for (auto& p : all_of_type<Probe>(out)) (p.second.answer ? answers : triggered).push_back(p);
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].first == kBobPublic);
    CHECK(answers[0].second.id == from_bob[0].second.id);
    for (const auto& o : out) CHECK(o.bytes.size() <= request.size());
    REQUIRE(triggered.size() == 1);
    CHECK(triggered[0].first == kBobPublic);
    CHECK(triggered[0].second.id == from_alice[0].second.id);
    // The answer opens bob's path to alice.
    bob.s.on_datagram(encode(answers[0].second), kAlicePublic, kT0 + 2ms);
    CHECK(bob.s.path_of("alice") == "direct");
    // alice's probe, answered by bob, opens hers; the chat in flight goes
    // there at once (its first copy met bob's NAT closed).
    bob.s.on_datagram(encode(triggered[0].second), kAlicePublic, kT0 + 3ms);
    const auto bob_answers = all_of_type<Probe>(bob.s.take_outgoing());
    REQUIRE(bob_answers.size() == 1);
    alice.s.on_datagram(encode(bob_answers[0].second), kBobPublic, kT0 + 4ms);
    CHECK(alice.s.path_of("bob") == "direct");
    const auto resent = of_type<Chat>(alice.s.take_outgoing(), kBobPublic);
    REQUIRE(resent.size() == 1);
    CHECK(bob_opens(resent[0].box, resent[0].id) == "hello");
  }

  TEST_CASE("a path in use gets a probe every 15 s; one idle for 2 minutes gets none") {
    Natted alice("alice", kAliceKey, kAliceLocal, kAlicePublic);
    alice.s.on_line("send bob hello", kT0);
    const auto chats = of_type<Chat>(alice.s.take_outgoing(), kBobPublic);
    REQUIRE(chats.size() == 1);
    // bob's ack, from his public endpoint: the path is heard and in use.
    alice.s.on_datagram(encode(bob_ack(chats[0].id)), kBobPublic, kT0 + 1ms);
    REQUIRE(alice.s.path_of("bob") == "direct");
    alice.s.take_outgoing();
    alice.s.on_timeout(kT0 + 14s);
    CHECK(of_type<Probe>(alice.s.take_outgoing(), kBobPublic).empty());
    alice.s.on_timeout(kT0 + 15s + 1ms);
    const auto keepalive = of_type<Probe>(alice.s.take_outgoing(), kBobPublic);
    REQUIRE(keepalive.size() == 1);
    CHECK_FALSE(keepalive[0].answer);
    // Answered: heard again; the next one 15 s after that.
    const auto keys = crypto::peer_keys(kBobKey, kAliceKey.public_key);
    const auto id = keepalive[0].id;
    alice.s.on_datagram(encode(Probe{id, "bob", "alice", true, e2e_probe_tag(keys->send, id, true)}),
                        kBobPublic, kT0 + 15s + 2ms);
    alice.s.on_timeout(kT0 + 29s);
    CHECK(of_type<Probe>(alice.s.take_outgoing(), kBobPublic).empty());
    alice.s.on_timeout(kT0 + 30s + 10ms);
    CHECK(of_type<Probe>(alice.s.take_outgoing(), kBobPublic).size() == 1);
    // Two minutes after the last message the path is no longer kept.
    std::size_t late = 0;
    for (auto t = kT0 + 2min + 1s; t < kT0 + 4min; t += 1s) {
      alice.s.on_timeout(t);
      late += of_type<Probe>(alice.s.take_outgoing(), kBobPublic).size();
    }
    CHECK(late == 0);
  }

  TEST_CASE("no probe answered in half an ack window: the message goes through the relay") {
    Natted alice("alice", kAliceKey, kAliceLocal, kAlicePublic);
    alice.s.on_line("send bob hello", kT0);
    const auto chats = of_type<Chat>(alice.s.take_outgoing(), kBobPublic);
    REQUIRE(chats.size() == 1);
    const auto mid = chats[0].id;
    alice.s.on_datagram(encode(Punch{900, natted_row("bob", kBobPublic, kBobLocal, kBobKey)}),
                        kServer, kT0 + 10ms);
    alice.s.take_outgoing();
    alice.s.on_timeout(kT0 + 10ms + 250ms);
    CHECK(alice.s.path_of("bob") == "relayed");
    const auto relays = of_type<Relay>(alice.s.take_outgoing(), kServer);
    REQUIRE(relays.size() == 1);
    CHECK(relays[0].id == mid);
    // bob's ack comes back through the server: delivered, as any direct ack.
    const auto ack = bob_ack(mid);
    alice.s.on_datagram(encode(RelayAck{mid, "bob", ack.tag}), kServer, kT0 + 300ms);
    CHECK(alice.s.take_lines() == std::vector<std::string>{">>> [Message received by bob.]"});
    // A forged relayed ack (wrong tag) would not have done it.
    alice.s.on_line("send bob again", kT0 + 400ms);
    const auto next = of_type<Relay>(alice.s.take_outgoing(), kServer);
    REQUIRE(next.size() == 1);  // the relay is the path now
    alice.s.on_datagram(encode(RelayAck{next[0].id, "bob", std::string(16, 'x')}), kServer,
                        kT0 + 450ms);
    CHECK(alice.s.take_lines().empty());
  }

  TEST_CASE("a relayed message is shown once and acknowledged back through the relay") {
    Natted alice("alice", kAliceKey, kAliceLocal, kAlicePublic);
    const Relay relayed{77, "bob", bob_box(77, "via the server")};
    alice.s.on_datagram(encode(relayed), kServer, kT0);
    alice.s.on_datagram(encode(relayed), kServer, kT0 + 1ms);  // a retransmission
    CHECK(alice.s.take_lines() == std::vector<std::string>{">>> bob: via the server"});
    const auto acks = of_type<RelayAck>(alice.s.take_outgoing(), kServer);
    REQUIRE(acks.size() == 2);
    for (const auto& a : acks) {
      CHECK(a.id == 77);
      CHECK(a.peer == "bob");
      CHECK(a.tag == e2e_ack_tag(crypto::peer_keys(kAliceKey, kBobKey.public_key)->send, 77));
    }
    CHECK(alice.s.path_of("bob") == "relayed");
    // A relayed datagram from anyone but the server is not taken.
    alice.s.on_datagram(encode(Relay{78, "bob", bob_box(78, "forged path")}), kBobPublic,
                        kT0 + 2ms);
    CHECK(alice.s.take_lines().empty());
  }

  TEST_CASE("forged, misdirected and unasked-for probes open nothing and get no answer") {
    Natted alice("alice", kAliceKey, kAliceLocal, kAlicePublic);
    alice.s.on_line("send bob hello", kT0);
    alice.s.on_datagram(encode(Punch{900, natted_row("bob", kBobPublic, kBobLocal, kBobKey)}),
                        kServer, kT0);
    const auto probes = all_of_type<Probe>(alice.s.take_outgoing());
    REQUIRE(probes.size() == 1);
    const auto id = probes[0].second.id;
    const auto keys = crypto::peer_keys(kBobKey, kAliceKey.public_key);
    const Endpoint elsewhere{"192.0.2.66", 4444};
    // A wrong tag, a tag for a request used on an answer, another recipient.
    for (const Probe& p :
         {Probe{id, "bob", "alice", true, std::string(16, 'x')},
          Probe{id, "bob", "alice", true, e2e_probe_tag(keys->send, id, false)},
          Probe{id, "bob", "carol", true, e2e_probe_tag(keys->send, id, true)},
          Probe{id, "bob", "alice", false, std::string(16, 'x')}}) {
      alice.s.on_datagram(encode(p), kBobPublic, kT0 + 1ms);
      CHECK(all_of_type<Probe>(alice.s.take_outgoing()).empty());
      CHECK(alice.s.path_of("bob").empty());
    }
    // A true answer, but from an endpoint the probe did not go to, or to
    // a probe id never sent: no path.
    alice.s.on_datagram(encode(Probe{id, "bob", "alice", true, e2e_probe_tag(keys->send, id, true)}),
                        elsewhere, kT0 + 2ms);
    CHECK(alice.s.path_of("bob").empty());
    alice.s.on_datagram(
        encode(Probe{id + 1000, "bob", "alice", true, e2e_probe_tag(keys->send, id + 1000, true)}),
        kBobPublic, kT0 + 2ms);
    CHECK(alice.s.path_of("bob").empty());
    // The true answer from where the probe went opens it.
    alice.s.on_datagram(encode(Probe{id, "bob", "alice", true, e2e_probe_tag(keys->send, id, true)}),
                        kBobPublic, kT0 + 3ms);
    CHECK(alice.s.path_of("bob") == "direct");
  }

  TEST_CASE("probes are repeated until answered; a dead path gives way to the relay, then the server") {
    Natted alice("alice", kAliceKey, kAliceLocal, kAlicePublic);
    alice.s.on_line("send bob hello", kT0);
    alice.s.take_outgoing();
    alice.s.on_datagram(encode(Punch{900, natted_row("bob", kBobPublic, kBobLocal, kBobKey)}),
                        kServer, kT0);
    const auto first = all_of_type<Probe>(alice.s.take_outgoing());
    REQUIRE(first.size() == 1);
    // Every 50 ms (a tenth of the 500 ms ack window) while unanswered.
    alice.s.on_timeout(kT0 + 50ms);
    const auto again = all_of_type<Probe>(alice.s.take_outgoing());
    REQUIRE(again.size() == 1);
    CHECK(again[0].second.id == first[0].second.id);
    const auto keys = crypto::peer_keys(kBobKey, kAliceKey.public_key);
    const auto id = first[0].second.id;
    alice.s.on_datagram(encode(Probe{id, "bob", "alice", true, e2e_probe_tag(keys->send, id, true)}),
                        kBobPublic, kT0 + 60ms);
    alice.s.on_timeout(kT0 + 110ms);
    CHECK(all_of_type<Probe>(alice.s.take_outgoing()).empty());
    REQUIRE(alice.s.path_of("bob") == "direct");
    // The chat is never acknowledged on it (the NAT forgot the mapping):
    // at the end of the ack window the path is dropped and the message
    // goes on through the relay, same id, without a line.
    alice.s.on_timeout(kT0 + 600ms);
    CHECK(alice.s.path_of("bob") == "relayed");
    CHECK(alice.s.take_lines().empty());
    const auto relays = of_type<Relay>(alice.s.take_outgoing(), kServer);
    REQUIRE(relays.size() == 1);
    const auto mid = relays[0].id;
    CHECK(relays[0].peer == "bob");
    CHECK(bob_opens(relays[0].box, mid) == "hello");
    // Unanswered there too (bob is gone): the classic way at last.
    alice.s.on_timeout(kT0 + 2s);
    CHECK(alice.s.path_of("bob").empty());
    CHECK(alice.s.take_lines() ==
          std::vector<std::string>{">>> [No ACK from bob, message sent to server.]"});
  }
}
