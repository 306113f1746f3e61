// docs/NAT.md, "Candidates" and "Keep-alive": a client tells its local
// endpoint, the server tells it the public one it sees, rows carry both,
// peers behind the same NAT talk over the LAN, and heartbeats keep a NAT's
// mapping open. The client, the server and the SQLite store each alone.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include "store/sqlite_store.hpp"
#include "support/client_fixture.hpp"
#include "support/datagrams.hpp"
#include "support/doctest_print.hpp"
#include "support/server_fixture.hpp"
#include "support/temp_dir.hpp"

using namespace udpchat;        // NOLINT(google-build-using-namespace): test file
using namespace udpchat::test;  // NOLINT(google-build-using-namespace): test file
using namespace std::chrono_literals;

namespace {

const Endpoint kAliceLocal{"198.18.0.11", 40000};
const Endpoint kAlicePublic{"203.0.113.10", 40000};

/// alice behind a NAT (local kAliceLocal), registered; the ack tells
/// `seen` (empty: an older server that does not say).
struct NattedAlice {
  ClientSession s;
  explicit NattedAlice(const Endpoint& seen, Duration heartbeat = 30s)
      : s(config(heartbeat), 1000) {
    s.start(kT0);
    const auto out = s.take_outgoing();
    REQUIRE(out.size() == 1);
    const auto reg = decode(out[0].bytes);
    REQUIRE(reg);
    const auto& r = std::get<Register>(*reg);
    CHECK(r.local == kAliceLocal);
    s.on_datagram(encode(Ack{r.id, AckStatus::kOk, 0, {}, 4, {}, seen}), kServer, kT0);
    TablePart t{500,
                1,
                0,
                1,
                {{"alice", kAlicePublic.address, kAlicePublic.port, true, 1, key_bytes(kAliceKey),
                  kAliceLocal.address, kAliceLocal.port},
                 // behind the same NAT: same public address, another port
                 {"bob", "203.0.113.10", 40001, true, 1, key_bytes(kBobKey), "198.18.0.12",
                  40000},
                 // behind another NAT
                 {"carol", "203.0.113.20", 40000, true, 1, key_bytes(kCarolKey), "198.18.1.11",
                  40000}}};
    s.on_datagram(encode(t), kServer, kT0);
    s.take_outgoing();
    s.take_lines();
  }
  static ClientConfig config(Duration heartbeat) {
    ClientConfig c = alice_config();
    c.local = kAliceLocal;
    c.heartbeat = heartbeat;
    c.nat_keepalive = 25s;
    return c;
  }
  /// Where alice's first datagram goes after she types `line`.
  Endpoint first_destination(const std::string& line) {
    s.on_line(line, kT0);
    const auto out = s.take_outgoing();
    REQUIRE_FALSE(out.empty());
    return out.front().to;
  }
  /// True if a Heartbeat goes out when time reaches `t`.
  bool heartbeat_at(TimePoint t) {
    s.on_timeout(t);
    for (const auto& o : s.take_outgoing()) {
      if (const auto m = decode(o.bytes); m && std::holds_alternative<Heartbeat>(*m)) return true;
    }
    return false;
  }
};

/// The server of these tests: each client's key vouched for by its session.
struct Server : InstantServer {
  std::vector<Outgoing> feed(const Message& m, const Endpoint& from, const crypto::KeyPair& key,
                             TimePoint t = kT0) {
    return InstantServer::feed(m, from, t, key_bytes(key));
  }
};

}  // namespace

TEST_SUITE("NAT: candidates and keep-alive") {
  TEST_CASE("the client learns its public endpoint from the ack and knows it is behind a NAT") {
    NattedAlice a(kAlicePublic);
    CHECK(a.s.public_endpoint() == kAlicePublic);
    CHECK(a.s.behind_nat());
    NattedAlice direct(kAliceLocal);  // the server sees the local address: no NAT
    CHECK(direct.s.public_endpoint() == kAliceLocal);
    CHECK_FALSE(direct.s.behind_nat());
    NattedAlice old(Endpoint{});  // a server that does not say
    CHECK(old.s.public_endpoint().address.empty());
    CHECK_FALSE(old.s.behind_nat());
  }

  TEST_CASE("a peer behind the same NAT is sent to over the LAN, any other at its public one") {
    NattedAlice a(kAlicePublic);
    CHECK(a.first_destination("send bob hi") == Endpoint{"198.18.0.12", 40000});
    CHECK(a.first_destination("send carol hi") == Endpoint{"203.0.113.20", 40000});
    // Without the server's word on our public address, nobody is "ours".
    NattedAlice old(Endpoint{});
    CHECK(old.first_destination("send bob hi") == Endpoint{"203.0.113.10", 40001});
  }

  TEST_CASE("behind a NAT heartbeats come at most --nat-keepalive-ms apart; else as promised") {
    NattedAlice natted(kAlicePublic, 60s);
    CHECK_FALSE(natted.heartbeat_at(kT0 + 24s));
    CHECK(natted.heartbeat_at(kT0 + 25s));
    NattedAlice direct(kAliceLocal, 60s);
    CHECK_FALSE(direct.heartbeat_at(kT0 + 25s));
    CHECK_FALSE(direct.heartbeat_at(kT0 + 59s));
    CHECK(direct.heartbeat_at(kT0 + 60s));
    // A shorter --heartbeat-ms stays as it is behind a NAT too.
    NattedAlice frequent(kAlicePublic, 10s);
    CHECK(frequent.heartbeat_at(kT0 + 10s));
  }

  TEST_CASE("the server tells the source it saw and keeps a local endpoint that differs") {
    Server s;
    auto out = s.feed(Register{1, "alice", 30000, {}, kAliceLocal}, kAlicePublic, kAliceKey);
    const auto acks = of_type<Ack>(out, kAlicePublic);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].seen == kAlicePublic);
    // A client without a NAT tells the address the server sees: no local
    // endpoint in its row. One that tells nothing has none either.
    const Endpoint bob{"192.0.2.7", 5000};
    s.feed(Register{2, "bob", 30000, {}, bob}, bob, kBobKey);
    const Endpoint carol{"192.0.2.8", 5000};
    out = s.feed(Register{3, "carol", 30000}, carol, kCarolKey);
    const auto tables = of_type<TablePart>(out, carol);
    REQUIRE(tables.size() == 1);
    for (const auto& e : tables[0].entries) {
      CAPTURE(e.nick);
      if (e.nick == "alice") {
        CHECK(Endpoint{e.address, e.port} == kAlicePublic);
        CHECK(Endpoint{e.local_address, e.local_port} == kAliceLocal);
      } else {
        CHECK(e.local_address.empty());
        CHECK(e.local_port == 0);
      }
    }
    // Heartbeat acks say it again (a NAT that changed its mapping shows).
    out = s.feed(Heartbeat{4, "alice", 0}, kAlicePublic, kAliceKey, kT0 + 1s);
    const auto hb = of_type<Ack>(out, kAlicePublic);
    REQUIRE(hb.size() == 1);
    CHECK(hb[0].seen == kAlicePublic);
    // The local endpoint is persisted with the row, so a restarted server
    // still gives it.
    const auto stored = s.store.load();
    REQUIRE(stored);
    bool found = false;
    for (const auto& c : stored->clients) {
      if (c.nick == "alice") {
        found = true;
        CHECK(c.local == kAliceLocal);
      }
    }
    CHECK(found);
  }

  TEST_CASE("SQLite keeps the local endpoint, and a schema 6 database gains its columns") {
    TempDir dir;
    {
      // A schema 6 clients table, as a server of before NATs left it.
      std::filesystem::create_directories(dir.path());
      sqlite3* db = nullptr;
      REQUIRE(sqlite3_open((dir.path() / "udpchat.db").c_str(), &db) == SQLITE_OK);
      const char* old = R"sql(
        CREATE TABLE clients (nick_key TEXT PRIMARY KEY, nick TEXT NOT NULL,
          address TEXT NOT NULL, port INTEGER NOT NULL, online INTEGER NOT NULL,
          heartbeat_ms INTEGER NOT NULL, row_version INTEGER NOT NULL DEFAULT 0,
          log_upto INTEGER NOT NULL DEFAULT 0, key BLOB, password TEXT);
        INSERT INTO clients VALUES ('old', 'old', '192.0.2.9', 5000, 0, 30000, 3, 0, NULL, NULL);
        PRAGMA user_version = 6;
      )sql";
      REQUIRE(sqlite3_exec(db, old, nullptr, nullptr, nullptr) == SQLITE_OK);
      sqlite3_close(db);
    }
    {
      auto store = SqliteStore::open(dir.str());
      REQUIRE(store);
      auto state = (*store)->load();
      REQUIRE(state);
      REQUIRE(state->clients.size() == 1);
      CHECK(state->clients[0].local.address.empty());
      ClientRecord alice{"alice", kAlicePublic, true, 30000};
      alice.local = kAliceLocal;
      REQUIRE((*store)->put_client(alice).has_value());
    }
    auto store = SqliteStore::open(dir.str());
    REQUIRE(store);
    auto state = (*store)->load();
    REQUIRE(state);
    REQUIRE(state->clients.size() == 2);
    CHECK(state->clients[0].nick == "alice");
    CHECK(state->clients[0].endpoint == kAlicePublic);
    CHECK(state->clients[0].local == kAliceLocal);
    CHECK(state->clients[1].local == Endpoint{});
  }
}
