// test_sessions.cpp: the secure sessions of manual §9 between ServerLink
// (client) and ServerGate (server) in memory: handshake, sealing, replay,
// tampering, address validation, amplification, rate limits, resets, pins;
// then the same through World, where nicknames belong to keys.
#include <doctest/doctest.h>

#include "core/server/secure_server.hpp"
#include "core/session/server_gate.hpp"
#include "core/session/server_link.hpp"
#include "support/doctest_print.hpp"
#include "support/world.hpp"

using namespace udpchat;
using udpchat::test::World;
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

TEST_SUITE("sessions in the world") {
  constexpr std::uint16_t A = 6101;
  constexpr std::uint16_t B = 6102;
  constexpr std::uint16_t C = 6103;

  TEST_CASE("a second key cannot take a nickname, also when its holder is dead") {
    World w;
    w.start_client("alice", A);
    w.start_client("bob", B);
    REQUIRE(w.run_until([&] { return w.session(A).registered() && w.session(B).registered(); }));
    w.kill(A);
    w.run_for(5s);
    // Another machine, another key, the same nickname.
    w.client_keys_["alice"] = crypto::generate_keypair(crypto::seeded_random(4242));
    w.start_client("alice", C);
    REQUIRE(w.run_until([&] { return !w.nodes.at(C).alive; }));
    CHECK(w.printed(C, ">>> [Nickname alice is already in use.]"));
    // bob's table still has alice where she was.
    bool found = false;
    for (const auto& row : w.session(B).table()) {
      if (row.nick == "alice") found = row.port == A;
    }
    CHECK(found);
  }

  TEST_CASE("a server slow to finish the handshake is not taken for absent") {
    // The server's Retries and Accepts each take 1.5 s (busy with a storm
    // of handshakes): 3 s in all, longer than the 5 tries x 500 ms a
    // silent server gets. Each answer gives the registration its tries
    // again, so it waits for the handshake.
    World w;
    w.frame_fault = [&](const Endpoint& from, const Endpoint&, std::uint8_t type) {
      udpchat::test::Fate f;
      if (from == w.server_endpoint && (type == static_cast<std::uint8_t>(FrameType::kRetry) ||
                                        type == static_cast<std::uint8_t>(FrameType::kAccept))) {
        f.extra_delay = 1500ms;
      }
      return f;
    };
    const TimePoint start = w.now;
    w.start_client("alice", A);
    REQUIRE(w.run_until([&] { return w.session(A).registered(); }, 20s));
    CHECK(w.now - start > 3s);
    CHECK_FALSE(w.printed(A, ">>> [Server not responding]"));
  }

  TEST_CASE("a server that answers Hellos but never completes a handshake is given up") {
    World w;
    w.frame_fault = [&](const Endpoint& from, const Endpoint&, std::uint8_t type) {
      udpchat::test::Fate f;
      f.drop = from == w.server_endpoint && type == static_cast<std::uint8_t>(FrameType::kAccept);
      return f;
    };
    w.start_client("alice", A);
    REQUIRE(w.run_until([&] { return !w.nodes.at(A).alive; }, 60s));
    CHECK(w.printed(A, ">>> [Server not responding]"));
  }

  TEST_CASE("a save given up while the handshake runs is not sent when the session comes up") {
    // The server restarts and takes 4 s to accept alice's new handshake;
    // meanwhile her save (bob does not ack) runs out of tries while she
    // deregisters, and she is told it was not sent. It must not reach bob
    // once the session is up (simulation seed 8485 found the link sending
    // what it had held).
    World w;
    w.start_client("alice", A);
    w.start_client("bob", B);
    REQUIRE(w.run_until([&] { return w.session(A).registered() && w.session(B).registered(); }));
    w.run_for(2s);  // alice's table has bob
    w.crash_server();
    w.start_server();
    w.fault = [&](const Endpoint& from, const Endpoint& to, const Message& m) {
      udpchat::test::Fate f;
      f.drop = from.port == A && to.port == B && std::holds_alternative<Chat>(m);
      return f;
    };
    w.frame_fault = [&](const Endpoint& from, const Endpoint& to, std::uint8_t type) {
      udpchat::test::Fate f;
      if (from == w.server_endpoint && to.port == A &&
          type == static_cast<std::uint8_t>(FrameType::kAccept)) {
        f.extra_delay = 4s;
      }
      return f;
    };
    w.type(A, "send bob said while the server was away");
    REQUIRE(w.run_until(
        [&] { return w.printed(A, ">>> [No ACK from bob, message sent to server.]"); }, 5s));
    w.type(A, "dereg alice");
    REQUIRE(w.run_until(
        [&] {
          return w.printed(A, ">>> [Server not responding: the message for bob was not sent.]");
        },
        10s));
    w.run_for(30s);
    CHECK(w.secure_server->gate().sessions() == 2);
    CHECK_FALSE(w.printed(B, ">>> alice: said while the server was away"));
  }

  TEST_CASE("a client restarted with its own key keeps its nickname at a new port") {
    World w;
    w.start_client("alice", A);
    REQUIRE(w.run_until([&] { return w.session(A).registered(); }));
    w.kill(A);
    w.run_for(200s);  // the server notices she is gone
    w.start_client("alice", C);
    REQUIRE(w.run_until([&] { return w.session(C).registered(); }));
  }

  TEST_CASE("a client that pinned another server key refuses the server with one line") {
    World w;
    w.start_client("alice", A);
    REQUIRE(w.run_until([&] { return w.session(A).registered(); }));
    // The server is reinstalled with a new key.
    w.crash_server();
    w.replace_server_key(crypto::generate_keypair(crypto::seeded_random(777)));
    w.start_server();
    w.start_client("alice", A);
    REQUIRE(w.run_until([&] { return !w.nodes.at(A).alive; }));
    CHECK(w.lines(A).front() ==
          ">>> [Server key changed: 127.0.0.1:9000 does not hold the key pinned in "
          "known_servers; if the server was reinstalled, delete its line there.]");
    CHECK(w.session(A).exit_status() == 1);
  }

  TEST_CASE("a restarted server brings its sessions back without anyone typing reg") {
    World w;
    w.start_client("alice", A);
    w.start_client("bob", B);
    REQUIRE(w.run_until([&] { return w.session(A).registered() && w.session(B).registered(); }));
    w.crash_server();
    w.start_server();
    w.type(A, "send bob after the restart");
    REQUIRE(w.run_until([&] { return w.printed(B, ">>> alice: after the restart"); }, 10s));
    w.type(A, "dereg alice");
    REQUIRE(w.run_until([&] { return w.printed(A, ">>> [You are Offline. Bye.]"); }, 10s));
    w.type(B, "send alice stored while you were away");
    REQUIRE(w.run_until(
        [&] { return w.printed(B, ">>> [Messages received by the server and saved]"); }, 10s));
    // Both came back on new sessions with the restarted server.
    CHECK(w.secure_server->gate().counts().at("handshake") >= 2);
  }
}
