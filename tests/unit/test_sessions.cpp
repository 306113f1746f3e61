// test_sessions.cpp: the secure sessions of manual §9 between ServerLink
// (client) and ServerGate (server) in memory: handshake, sealing, replay,
// tampering, address validation, amplification, rate limits, resets, pins.
// The same through World, where nicknames belong to keys, is in
// test_sessions_world.cpp.
#include <doctest/doctest.h>

#include "core/server/secure_server.hpp"
#include "core/session/server_gate.hpp"
#include "core/session/server_link.hpp"
#include "support/doctest_print.hpp"

using namespace udpchat;
using namespace std::chrono_literals;

namespace {

const Endpoint kClient{"127.0.0.1", 7001};
const Endpoint kOther{"127.0.0.1", 7002};

/// One client link and one server gate, and the frames between them.
struct Pair {
  crypto::KeyPair server_key = crypto::generate_keypair(crypto::seeded_random(1));
  crypto::KeyPair client_key = crypto::generate_keypair(crypto::seeded_random(2));
  std::uint64_t clock = 1'000'000;
  ServerGate gate;
  ServerLink link;
  TimePoint now = TimePoint{} + 1h;

  explicit Pair(GateConfig config = {}, std::optional<crypto::Key> pin = std::nullopt,
                bool pin_server = true)
      : gate(server_key, config, crypto::seeded_random(3)),
        link(client_key, pin_server ? std::optional(pin.value_or(server_key.public_key)) : pin,
             crypto::seeded_random(4), [this] { return clock += 1000; }) {}

  /// Client -> server: every frame through the gate; what it opened.
  std::vector<std::string> to_server(const std::vector<std::string>& frames,
                                     std::vector<Outgoing>& answers,
                                     const Endpoint& from = kClient) {
    std::vector<std::string> opened;
    for (const auto& f : frames) {
      if (auto o = gate.open(f, from, now, answers)) {
        CHECK(o->client_key == client_key.public_key);
        opened.push_back(o->plaintext);
      }
    }
    return opened;
  }

  /// Sends `text` and runs the handshake to its end, sending `text` again
  /// once the link says it is up (as the reliable layer does: the link
  /// keeps nothing); the plaintexts the server opened.
  std::vector<std::string> send(const std::string& text) {
    std::vector<std::string> frames;
    link.send(text, now, frames);
    std::vector<std::string> opened;
    for (int round = 0; round < 4 && !frames.empty(); ++round) {
      std::vector<Outgoing> answers;
      for (auto& p : to_server(frames, answers)) opened.push_back(p);
      frames.clear();
      for (const auto& a : answers) {
        if (link.on_frame(a.bytes, now, frames).event == ServerLink::Event::kEstablished) {
          link.send(text, now, frames);
        }
      }
    }
    return opened;
  }
};

}  // namespace

TEST_SUITE("sessions") {
  TEST_CASE("a handshake authenticates both sides and carries the plaintext sealed") {
    Pair p;
    const auto opened = p.send("hello server");
    REQUIRE(opened.size() == 1);
    CHECK(opened[0] == "hello server");
    CHECK(p.link.established());
    CHECK(p.gate.sessions() == 1);
    CHECK(p.gate.counts().at("handshake") == 1);
    // Server -> client.
    std::vector<Outgoing> none;
    const auto sealed = p.gate.seal(kClient, "hello client", p.now, none);
    REQUIRE(sealed);
    CHECK(sealed->find("hello client") == std::string::npos);  // encrypted
    std::vector<std::string> out;
    const auto r = p.link.on_frame(*sealed, p.now, out);
    CHECK(r.event == ServerLink::Event::kPlaintext);
    CHECK(r.plaintext == "hello client");
    // Replayed to the client: dropped.
    CHECK(p.link.on_frame(*sealed, p.now, out).event == ServerLink::Event::kNone);
    CHECK(p.link.dropped() == 1);
  }

  TEST_CASE("the link keeps nothing sent before the session is up") {
    // The reliable layer sends again what it still wants (kEstablished);
    // a plaintext it gave up meanwhile must not go out by itself.
    Pair p;
    std::vector<std::string> frames;
    p.link.send("given up", p.now, frames);
    std::vector<std::string> opened;
    bool established = false;
    for (int round = 0; round < 4 && !frames.empty(); ++round) {
      std::vector<Outgoing> answers;
      for (auto& o : p.to_server(frames, answers)) opened.push_back(o);
      frames.clear();
      for (const auto& a : answers) {
        established |=
            p.link.on_frame(a.bytes, p.now, frames).event == ServerLink::Event::kEstablished;
      }
    }
    CHECK(established);
    CHECK(opened.empty());
    CHECK(p.send("wanted") == std::vector<std::string>{"wanted"});
  }

  TEST_CASE("handshake answers are never larger than what asked for them") {
    Pair p;
    std::vector<std::string> frames;
    p.link.send("x", p.now, frames);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].size() == kHelloBytes);
    std::vector<Outgoing> retry;
    (void)p.gate.open(frames[0], kClient, p.now, retry);
    REQUIRE(retry.size() == 1);
    CHECK(retry[0].bytes.size() <= frames[0].size());
    frames.clear();
    (void)p.link.on_frame(retry[0].bytes, p.now, frames);
    REQUIRE(frames.size() == 1);  // the Init
    std::vector<Outgoing> accept;
    (void)p.gate.open(frames[0], kClient, p.now, accept);
    REQUIRE(accept.size() == 1);
    CHECK(accept[0].bytes.size() <= frames[0].size());
    // A Reset (17 bytes) answers a Sealed frame, at least 33.
    CHECK(encode_reset(ResetToken{}).size() < kSealedOverhead);
  }

  TEST_CASE("replayed, modified and misaddressed datagrams are dropped and counted") {
    Pair p;
    REQUIRE(p.send("first").size() == 1);
    std::vector<std::string> frames;
    p.link.send("pay bob 10", p.now, frames);
    REQUIRE(frames.size() == 1);
    const std::string sealed = frames[0];
    std::vector<Outgoing> answers;
    CHECK(p.to_server({sealed}, answers).size() == 1);
    // The same datagram again, now and a minute later.
    CHECK(p.to_server({sealed}, answers).empty());
    p.now += 60s;
    CHECK(p.to_server({sealed}, answers).empty());
    CHECK(p.gate.drop_counts().at("replayed") == 2);
    // Every single bit flipped, one at a time: nothing opens.
    std::vector<std::string> next;
    p.link.send("pay bob 20", p.now, next);
    for (std::size_t i = 0; i < next[0].size() * 8; ++i) {
      std::string flipped = next[0];
      flipped[i / 8] = static_cast<char>(flipped[i / 8] ^ (1U << (i % 8)));
      CHECK(p.to_server({flipped}, answers).empty());
    }
    // The genuine one still opens afterwards: forgeries did not move the window.
    CHECK(p.to_server({next[0]}, answers).size() == 1);
    // From another address: not its session.
    const auto drops = [&](const char* cause) {
      const auto it = p.gate.drop_counts().find(cause);
      return it == p.gate.drop_counts().end() ? std::uint64_t{0} : it->second;
    };
    const auto no_session = drops("no_session");
    std::vector<std::string> third;
    p.link.send("from elsewhere", p.now, third);
    CHECK(p.to_server({third[0]}, answers, kOther).empty());
    CHECK(drops("no_session") == no_session + 1);
    // Plain CBOR is not even looked at.
    const auto unsealed = drops("unsealed");
    CHECK(p.to_server({std::string("\xa1\x61v\x01", 4)}, answers).empty());
    CHECK(drops("unsealed") == unsealed + 1);
  }

  TEST_CASE("an Init needs the cookie of its own address, and a replayed Init makes no session") {
    Pair p;
    std::vector<std::string> frames;
    p.link.send("x", p.now, frames);
    std::vector<Outgoing> retry;
    (void)p.gate.open(frames[0], kClient, p.now, retry);
    frames.clear();
    (void)p.link.on_frame(retry[0].bytes, p.now, frames);
    const std::string init = frames[0];
    std::vector<Outgoing> out;
    // The same Init from another address (a spoofer that saw the cookie go by).
    (void)p.gate.open(init, kOther, p.now, out);
    CHECK(out.empty());
    CHECK(p.gate.drop_counts().at("bad_cookie") == 1);
    // Genuine: a session and an Accept; again (its Accept was lost): the same Accept.
    (void)p.gate.open(init, kClient, p.now, out);
    REQUIRE(out.size() == 1);
    (void)p.gate.open(init, kClient, p.now, out);
    REQUIRE(out.size() == 2);
    CHECK(out[0].bytes == out[1].bytes);
    CHECK(p.gate.counts().at("handshake") == 1);
    // The client makes a newer session; the old Init replayed cannot undo it.
    p.link.restart();
    std::vector<std::string> unused;
    p.send("newer");
    CHECK(p.gate.counts().at("handshake") == 2);
    std::vector<Outgoing> late;
    (void)p.gate.open(init, kClient, p.now, late);
    CHECK(late.empty());
    CHECK(p.gate.drop_counts().at("replayed_handshake") == 1);
    // A cookie lives at most two periods.
    p.now += 2 * kCookiePeriod;
    (void)p.gate.open(init, kClient, p.now, late);
    CHECK(p.gate.drop_counts().at("bad_cookie") == 2);
  }

  TEST_CASE("a Retry with another key than the pinned one ends the link; TOFU pins after proof") {
    const auto stranger = crypto::generate_keypair(crypto::seeded_random(99));
    Pair changed({}, stranger.public_key);
    std::vector<std::string> frames;
    changed.link.send("x", changed.now, frames);
    std::vector<Outgoing> retry;
    (void)changed.gate.open(frames[0], kClient, changed.now, retry);
    frames.clear();
    CHECK(changed.link.on_frame(retry[0].bytes, changed.now, frames).event ==
          ServerLink::Event::kKeyChanged);
    CHECK(frames.empty());
    CHECK(changed.link.offered_key() == changed.server_key.public_key);

    Pair tofu({}, std::nullopt, false);
    std::vector<std::string> f2;
    tofu.link.send("x", tofu.now, f2);
    std::vector<Outgoing> r2;
    (void)tofu.gate.open(f2[0], kClient, tofu.now, r2);
    f2.clear();
    (void)tofu.link.on_frame(r2[0].bytes, tofu.now, f2);
    CHECK_FALSE(tofu.link.take_new_pin());  // not proved yet
    std::vector<Outgoing> a2;
    (void)tofu.gate.open(f2[0], kClient, tofu.now, a2);
    f2.clear();
    CHECK(tofu.link.on_frame(a2[0].bytes, tofu.now, f2).event == ServerLink::Event::kEstablished);
    CHECK(tofu.link.take_new_pin() == tofu.server_key.public_key);
    CHECK_FALSE(tofu.link.take_new_pin());  // once
  }

  TEST_CASE("a Retry or Accept that answers nothing of ours is dropped") {
    Pair p;
    std::vector<std::string> frames;
    p.link.send("x", p.now, frames);
    std::vector<Outgoing> retry;
    (void)p.gate.open(frames[0], kClient, p.now, retry);
    std::string forged = retry[0].bytes;
    forged[1] = static_cast<char>(forged[1] ^ 1);  // another nonce
    std::vector<std::string> out;
    CHECK(p.link.on_frame(forged, p.now, out).event == ServerLink::Event::kNone);
    CHECK(out.empty());
    std::string accept(1 + 72, '\x04');
    CHECK(p.link.on_frame(accept, p.now, out).event == ServerLink::Event::kNone);
    CHECK(p.link.dropped() == 2);
  }

  TEST_CASE("a flooding source is rate-limited; another source is not") {
    GateConfig config;
    config.rate_limit = 100;
    Pair p(config);
    std::vector<std::string> hello;
    p.link.send("x", p.now, hello);
    std::vector<Outgoing> answers;
    for (int i = 0; i < 1000; ++i) (void)p.gate.open(hello[0], kOther, p.now, answers);
    CHECK(answers.size() == 200);  // the burst: twice the rate
    CHECK(p.gate.drop_counts().at("rate_limited") == 800);
    p.now += 1s;
    answers.clear();
    for (int i = 0; i < 1000; ++i) (void)p.gate.open(hello[0], kOther, p.now, answers);
    CHECK(answers.size() == 100);                // one second's worth
    const auto served = p.send("still served");  // kClient has its own bucket
    REQUIRE_FALSE(served.empty());
    CHECK(served.back() == "still served");
  }

  TEST_CASE("the handshake budget is global") {
    GateConfig config;
    config.handshake_rate = 1;
    config.handshake_burst = 1;
    Pair p(config);
    CHECK(p.send("first").size() == 1);
    ServerLink second(crypto::generate_keypair(crypto::seeded_random(7)), p.server_key.public_key,
                      crypto::seeded_random(8), [] { return std::uint64_t{5}; });
    std::vector<std::string> frames;
    second.send("x", p.now, frames);
    std::vector<Outgoing> retry;
    (void)p.gate.open(frames[0], kOther, p.now, retry);
    frames.clear();
    (void)second.on_frame(retry[0].bytes, p.now, frames);
    std::vector<Outgoing> accept;
    (void)p.gate.open(frames[0], kOther, p.now, accept);
    CHECK(accept.empty());
    CHECK(p.gate.drop_counts().at("handshake_budget") == 1);
    p.now += 1s;
    (void)p.gate.open(frames[0], kOther, p.now, accept);
    CHECK(accept.size() == 1);
  }

  TEST_CASE("a wrong session id from a live client's address earns no Reset") {
    Pair p;
    p.gate.set_key_lookup([&](const Endpoint&) { return std::optional(p.client_key.public_key); });
    REQUIRE(p.send("first").size() == 1);
    std::string forged = sealed_header(12345, 0) + std::string(40, 'x');
    std::vector<Outgoing> answers;
    CHECK_FALSE(p.gate.open(forged, kClient, p.now, answers));
    CHECK(answers.empty());
    // From an address without a session it does.
    CHECK_FALSE(p.gate.open(forged, kOther, p.now, answers));
    CHECK(answers.size() == 1);
  }

  TEST_CASE("a server that lost the session resets it, and only it can") {
    Pair p;
    REQUIRE(p.send("first").size() == 1);
    // The server restarts: same key, no sessions. It knows the client's key
    // at that address (its table), so it can send the reset.
    ServerGate restarted(p.server_key, {}, crypto::seeded_random(30));
    restarted.set_key_lookup([&](const Endpoint& at) -> std::optional<crypto::Key> {
      if (at == kClient) return p.client_key.public_key;
      return std::nullopt;
    });
    std::vector<std::string> frames;
    p.link.send("after the restart", p.now, frames);
    std::vector<Outgoing> answers;
    CHECK_FALSE(restarted.open(frames[0], kClient, p.now, answers));
    REQUIRE(answers.size() == 1);
    CHECK(static_cast<FrameType>(answers[0].bytes[0]) == FrameType::kReset);
    // A forged reset (another token) is ignored...
    std::string forged = answers[0].bytes;
    forged[5] = static_cast<char>(forged[5] ^ 0x40);
    std::vector<std::string> out;
    CHECK(p.link.on_frame(forged, p.now, out).event == ServerLink::Event::kNone);
    CHECK(p.link.established());
    // ...the genuine one starts a new handshake at once.
    CHECK(p.link.on_frame(answers[0].bytes, p.now, out).event == ServerLink::Event::kReset);
    REQUIRE(out.size() == 1);
    CHECK(static_cast<FrameType>(out[0][0]) == FrameType::kHello);
  }
}
