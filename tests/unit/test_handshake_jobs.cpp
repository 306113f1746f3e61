// test_handshake_jobs.cpp: the server's handshake arithmetic handed out of
// the event loop (handshake_jobs.hpp): a ServerGate that offloads its Inits
// answers each once its outcome comes back, queues a resent Init only once,
// and checks an outcome against what it holds when the outcome comes back;
// then the same through World, whose worker answers late.
#include <doctest/doctest.h>

#include "core/session/handshake_jobs.hpp"
#include "core/session/server_gate.hpp"
#include "core/session/server_link.hpp"
#include "support/doctest_print.hpp"
#include "support/world.hpp"

using namespace udpchat;
using udpchat::test::World;
using namespace std::chrono_literals;

namespace {

const Endpoint kClient{"127.0.0.1", 7101};
const Endpoint kOther{"127.0.0.1", 7102};

const crypto::KeyPair& server_key() {
  static const auto k = crypto::generate_keypair(crypto::seeded_random(11));
  return k;
}

/// A client link at `at` with its own key, pinned to the server.
struct Client {
  explicit Client(std::uint64_t seed, Endpoint endpoint)
      : key(crypto::generate_keypair(crypto::seeded_random(seed))),
        at(std::move(endpoint)),
        link(key, server_key().public_key, crypto::seeded_random(seed + 1),
             [this] { return clock += 1000; }) {}
  crypto::KeyPair key;
  Endpoint at;
  std::uint64_t clock = 1'000'000;
  ServerLink link;
};

/// An offloading gate, and the jobs it handed out.
struct Server {
  explicit Server(GateConfig config = {}) : gate(server_key(), config, crypto::seeded_random(12)) {
    gate.offload_handshakes(true);
  }
  ServerGate gate;
  TimePoint now = TimePoint{} + 1h;
  crypto::RandomSource worker_random = crypto::seeded_random(13);

  /// Hello -> Retry for `c`; returns its Init.
  std::string init_of(Client& c) {
    std::vector<std::string> up;
    c.link.send("x", now, up);
    REQUIRE(up.size() == 1);
    std::vector<Outgoing> retry;
    (void)gate.open(up[0], c.at, now, retry);
    REQUIRE(retry.size() == 1);
    up.clear();
    (void)c.link.on_frame(retry[0].bytes, now, up);
    REQUIRE(up.size() == 1);
    return up[0];
  }
  HandshakeOutcome run(const HandshakeJob& j) {
    return run_handshake_job(j, gate.handshake_keys(), worker_random);
  }
};

}  // namespace

TEST_SUITE("handshake jobs") {
  TEST_CASE("an offloaded Init is answered when its outcome comes back, and queued once") {
    Server s;
    Client c(20, kClient);
    const std::string init = s.init_of(c);
    std::vector<Outgoing> out;
    (void)s.gate.open(init, kClient, s.now, out);
    CHECK(out.empty());  // the worker has it
    // Resent while the job runs: nothing more queued, nothing answered.
    (void)s.gate.open(init, kClient, s.now, out);
    CHECK(out.empty());
    CHECK(s.gate.counts().at("init_pending") == 1);
    auto jobs = s.gate.take_handshake_jobs();
    REQUIRE(jobs.size() == 1);
    CHECK(s.gate.handshakes_in_flight() == 1);
    CHECK(s.gate.sessions() == 0);
    s.gate.on_handshake_done(s.run(jobs[0]), s.now, out);
    REQUIRE(out.size() == 1);
    CHECK(out[0].to == kClient);
    CHECK(s.gate.sessions() == 1);
    CHECK(s.gate.handshakes_in_flight() == 0);
    std::vector<std::string> up;
    CHECK(c.link.on_frame(out[0].bytes, s.now, up).event == ServerLink::Event::kEstablished);
    // The session carries sealed datagrams both ways.
    c.link.send("hello", s.now, up);
    REQUIRE(up.size() == 1);
    std::vector<Outgoing> none;
    const auto opened = s.gate.open(up[0], kClient, s.now, none);
    REQUIRE(opened);
    CHECK(opened->plaintext == "hello");
    CHECK(opened->client_key == c.key.public_key);
    // Resent after the session is made: the same Accept, no new job.
    (void)s.gate.open(init, kClient, s.now, none);
    REQUIRE(none.size() == 1);
    CHECK(none[0].bytes == out[0].bytes);
    CHECK(s.gate.take_handshake_jobs().empty());
    // An outcome the gate no longer waits for is ignored.
    s.gate.on_handshake_done(s.run(jobs[0]), s.now, none);
    CHECK(none.size() == 1);
    CHECK(s.gate.counts().at("handshake") == 1);
  }

  TEST_CASE("an outcome is checked against the gate as it is when it comes back") {
    Server s;
    Client c(30, kClient);
    const std::string first = s.init_of(c);
    std::vector<Outgoing> out;
    (void)s.gate.open(first, kClient, s.now, out);
    // The client starts over (its Init went unanswered too long): a newer
    // handshake of the same key, queued behind the first.
    c.link.restart();
    const std::string second = s.init_of(c);
    (void)s.gate.open(second, kClient, s.now, out);
    auto jobs = s.gate.take_handshake_jobs();
    REQUIRE(jobs.size() == 2);
    // The newer one comes back first (two workers, say): its session is made.
    s.gate.on_handshake_done(s.run(jobs[1]), s.now, out);
    REQUIRE(out.size() == 1);
    // The older one is a replay of the client's clock now: no session, no Accept.
    s.gate.on_handshake_done(s.run(jobs[0]), s.now, out);
    CHECK(out.size() == 1);
    CHECK(s.gate.drop_counts().at("replayed_handshake") == 1);
    CHECK(std::string(s.gate.last_drop()) == "replayed_handshake");
    CHECK(s.gate.sessions() == 1);
    std::vector<std::string> up;
    CHECK(c.link.on_frame(out[0].bytes, s.now, up).event == ServerLink::Event::kEstablished);
  }

  TEST_CASE("a modified Init fails on the worker and is counted; the session table bounds jobs") {
    GateConfig config;
    config.max_sessions = 1;
    Server s(config);
    Client a(40, kClient);
    Client b(50, kOther);
    std::string init = s.init_of(a);
    init.back() = static_cast<char>(init.back() ^ 1);  // the tag of message 1's payload
    std::vector<Outgoing> out;
    (void)s.gate.open(init, kClient, s.now, out);
    auto jobs = s.gate.take_handshake_jobs();
    REQUIRE(jobs.size() == 1);
    const auto failed = s.run(jobs[0]);
    CHECK_FALSE(failed.ok);
    s.gate.on_handshake_done(failed, s.now, out);
    CHECK(out.empty());
    CHECK(s.gate.drop_counts().at("bad_handshake") == 1);
    CHECK(s.gate.handshakes_in_flight() == 0);
    // One session at most: a's genuine Init takes the room while its job
    // runs, so b's is refused before any X25519 is spent on it.
    a.link.restart();
    (void)s.gate.open(s.init_of(a), kClient, s.now, out);
    (void)s.gate.open(s.init_of(b), kOther, s.now, out);
    CHECK(s.gate.drop_counts().at("sessions_full") == 1);
    jobs = s.gate.take_handshake_jobs();
    REQUIRE(jobs.size() == 1);
    CHECK(jobs[0].from == kClient);
    s.gate.on_handshake_done(s.run(jobs[0]), s.now, out);
    CHECK(out.size() == 1);
    CHECK(s.gate.sessions() == 1);
  }

  TEST_CASE("a link with a pinned key writes message 1 when it is made, once") {
    // Its clock is read once, when the link is made: the Init that answers
    // the Retry carries that time, and none of its X25519 waited for the
    // Retry. The next handshake writes its message when the Retry comes.
    Server s;
    Client c(60, kClient);
    CHECK(c.clock == 1'001'000);
    std::vector<Outgoing> out;
    (void)s.gate.open(s.init_of(c), kClient, s.now, out);
    CHECK(c.clock == 1'001'000);
    auto jobs = s.gate.take_handshake_jobs();
    REQUIRE(jobs.size() == 1);
    auto outcome = s.run(jobs[0]);
    REQUIRE(outcome.ok);
    CHECK(outcome.client_key == c.key.public_key);
    CHECK(outcome.timestamp == 1'001'000);
    c.link.restart();
    (void)s.gate.open(s.init_of(c), kClient, s.now, out);
    CHECK(c.clock == 1'002'000);
    jobs = s.gate.take_handshake_jobs();
    REQUIRE(jobs.size() == 1);
    outcome = s.run(jobs[0]);
    REQUIRE(outcome.ok);
    CHECK(outcome.timestamp == 1'002'000);
  }
}

TEST_SUITE("handshake jobs in the world") {
  TEST_CASE("clients register and chat while the server's worker answers handshakes late") {
    World w;
    w.handshake_latency = 700ms;  // longer than a try: Inits are resent meanwhile
    constexpr std::uint16_t A = 6201;
    constexpr std::uint16_t B = 6202;
    w.start_client("alice", A);
    w.start_client("bob", B);
    REQUIRE(w.run_until([&] { return w.session(A).registered() && w.session(B).registered(); }));
    CHECK(w.secure_server->gate().counts().at("handshake") == 2);
    CHECK(w.secure_server->gate().counts().contains("init_pending"));
    REQUIRE(w.run_until([&] { return w.session(A).rows_held() == 2; }));
    w.type(A, "send bob hi");
    REQUIRE(w.run_until([&] { return w.printed(B, ">>> alice: hi"); }));
    CHECK_FALSE(w.printed(A, ">>> [Server not responding]"));
  }
}
