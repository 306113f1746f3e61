// Accounts (manual §9): passwords that move a nickname to a new key, the
// password lockout, password jobs off the event loop (one per request,
// bounded), `passwd`, `delete-account` and the removed row.
#include <doctest/doctest.h>

#include "support/datagrams.hpp"
#include "support/doctest_print.hpp"
#include "support/store_driver.hpp"
#include "support/world.hpp"

using namespace udpchat;
using udpchat::test::of_type;
using udpchat::test::World;
using namespace std::chrono_literals;

namespace {

const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);
const Endpoint kAlice{"127.0.0.1", 6001};
const Endpoint kBob{"127.0.0.1", 6002};
const Endpoint kLaptop{"127.0.0.1", 6003};
const std::string kKeyA(32, 'A');
const std::string kKeyB(32, 'B');
const std::string kKeyL(32, 'L');

/// A ServerCore whose password jobs are run only when the test says so.
struct Server {
  MemoryStore store;
  ServerCore core{ServerConfig{.table_batch = Duration::zero(),
                               .wall_clock_ms = [] { return std::int64_t{1700000000000}; }},
                  1};
  std::vector<PasswordJob> jobs;
  Server() { core.start(*store.load(), kT0); }
  std::vector<Outgoing> feed(const Message& m, const Endpoint& from, const std::string& key,
                             TimePoint t = kT0) {
    core.on_datagram(encode(m), from, t, key);
    test::drain_store(core, store, t);
    for (auto& j : core.take_password_jobs()) jobs.push_back(std::move(j));
    return core.take_outgoing();
  }
  /// Runs every job issued so far; the datagrams that follow.
  std::vector<Outgoing> run_jobs(TimePoint t = kT0) {
    for (const auto& j : std::exchange(jobs, {})) {
      core.on_password_done(run_password_job(j, crypto::minimal_cost()), t);
    }
    test::drain_store(core, store, t);
    return core.take_outgoing();
  }
  AckStatus ack_status(const std::vector<Outgoing>& out, const Endpoint& to) {
    const auto acks = of_type<Ack>(out, to);
    REQUIRE(acks.size() == 1);
    return acks[0].status;
  }
};

}  // namespace

TEST_SUITE("accounts: passwords") {
  TEST_CASE("a first registration with a password waits for its hash; a retransmission adds none") {
    Server s;
    auto out = s.feed(Register{1, "alice", 30000, "correct horse"}, kAlice, kKeyA);
    CHECK(of_type<Ack>(out, kAlice).empty());  // not before the hash
    REQUIRE(s.jobs.size() == 1);
    CHECK(s.jobs[0].kind == PasswordJob::Kind::kHash);
    out = s.feed(Register{1, "alice", 30000, "correct horse"}, kAlice, kKeyA);
    CHECK(out.empty());
    CHECK(s.jobs.size() == 1);
    out = s.run_jobs();
    CHECK(s.ack_status(out, kAlice) == AckStatus::kOk);
    const auto stored = s.store.load()->clients;
    REQUIRE(stored.size() == 1);
    CHECK(stored[0].password_hash.starts_with("$argon2id$"));
    CHECK(crypto::verify_password(stored[0].password_hash, "correct horse"));
    CHECK(stored[0].password_hash.find("correct horse") == std::string::npos);
  }

  TEST_CASE("the password moves the nickname to a new key; a wrong one is refused, then locked") {
    Server s;
    s.feed(Register{1, "alice", 30000, "correct horse"}, kAlice, kKeyA);
    s.run_jobs();
    // Another key without a password: in use, no job.
    auto out = s.feed(Register{2, "alice", 30000}, kLaptop, kKeyL);
    CHECK(s.ack_status(out, kLaptop) == AckStatus::kInUse);
    CHECK(s.jobs.empty());
    // A wrong password: checked off the loop, refused.
    s.feed(Register{3, "alice", 30000, "battery staple"}, kLaptop, kKeyL);
    REQUIRE(s.jobs.size() == 1);
    CHECK(s.jobs[0].kind == PasswordJob::Kind::kVerify);
    out = s.run_jobs();
    CHECK(s.ack_status(out, kLaptop) == AckStatus::kBadPassword);
    // At once again, even the right one: locked for a second, no job.
    out = s.feed(Register{4, "alice", 30000, "correct horse"}, kLaptop, kKeyL, kT0 + 100ms);
    CHECK(s.ack_status(out, kLaptop) == AckStatus::kError);
    CHECK(of_type<Ack>(out, kLaptop)[0].detail.find("too many wrong passwords") !=
          std::string::npos);
    CHECK(s.jobs.empty());
    // A second wrong one later doubles the lockout (2 s).
    s.feed(Register{5, "alice", 30000, "wrong again"}, kLaptop, kKeyL, kT0 + 1100ms);
    out = s.run_jobs(kT0 + 1100ms);
    CHECK(s.ack_status(out, kLaptop) == AckStatus::kBadPassword);
    out = s.feed(Register{6, "alice", 30000, "correct horse"}, kLaptop, kKeyL, kT0 + 2500ms);
    CHECK(s.ack_status(out, kLaptop) == AckStatus::kError);
    // The right one after the lockout: alice online at alice's old address
    // is marked offline, the nickname now belongs to the laptop's key.
    s.feed(Register{7, "alice", 30000, "correct horse"}, kLaptop, kKeyL, kT0 + 3200ms);
    out = s.run_jobs(kT0 + 3200ms);
    CHECK(s.ack_status(out, kLaptop) == AckStatus::kOk);
    const auto rows = s.core.table();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].key == kKeyL);
    CHECK(rows[0].port == kLaptop.port);
    CHECK(s.core.stats().requests["password_moved"] == 1);
    CHECK(s.core.stats().requests["password_refused"] == 2);
    // The old key is now the stranger.
    out = s.feed(Register{8, "alice", 30000}, kAlice, kKeyA, kT0 + 4s);
    CHECK(s.ack_status(out, kAlice) == AckStatus::kInUse);
  }

  TEST_CASE("password jobs in flight are bounded: beyond, the server answers busy") {
    Server s;
    for (std::uint16_t i = 0; i < ServerCore::kMaxPasswordJobs + 1; ++i) {
      const Endpoint from{"127.0.0.1", static_cast<std::uint16_t>(7000 + i)};
      auto out = s.feed(Register{1, "user" + std::to_string(i), 30000, "pw"}, from,
                        std::string(32, static_cast<char>('a' + i)));
      if (i < ServerCore::kMaxPasswordJobs) {
        CHECK(out.empty());
      } else {
        CHECK(s.ack_status(out, from) == AckStatus::kError);
      }
    }
    CHECK(s.jobs.size() == ServerCore::kMaxPasswordJobs);
    s.run_jobs();
    CHECK(s.core.clients_registered() == ServerCore::kMaxPasswordJobs);
  }

  TEST_CASE("passwd sets, changes and removes the password; only from the nickname's own key") {
    Server s;
    s.feed(Register{1, "alice", 30000}, kAlice, kKeyA);
    s.feed(SetPassword{2, "alice", "first"}, kAlice, kKeyA);
    auto out = s.run_jobs();
    CHECK(s.ack_status(out, kAlice) == AckStatus::kOk);
    CHECK(crypto::verify_password(s.store.load()->clients[0].password_hash, "first"));
    // From alice's address but another key: not acted on.
    out = s.feed(SetPassword{3, "alice", "hijack"}, kAlice, kKeyB);
    CHECK(out.empty());
    CHECK(s.jobs.empty());
    // Removed: the nickname no longer moves.
    out = s.feed(SetPassword{4, "alice", ""}, kAlice, kKeyA);
    CHECK(s.ack_status(out, kAlice) == AckStatus::kOk);
    CHECK(s.store.load()->clients[0].password_hash.empty());
    out = s.feed(Register{5, "alice", 30000, "first"}, kLaptop, kKeyL);
    CHECK(s.ack_status(out, kLaptop) == AckStatus::kInUse);
  }
}

TEST_SUITE("accounts: delete-account") {
  TEST_CASE("delete-account is refused while a save to the account waits for its ping") {
    Server s;
    s.feed(Register{1, "alice", 30000}, kAlice, kKeyA);
    s.feed(Register{1, "bob", 30000}, kBob, kKeyB);
    s.feed(Save{2, "bob", "alice", 77, "are you there?"}, kBob, kKeyB);  // alice is pinged
    auto out = s.feed(DeleteAccount{3, "alice"}, kAlice, kKeyA);
    CHECK(s.ack_status(out, kAlice) == AckStatus::kError);
    CHECK(s.core.clients_registered() == 2);
  }

  TEST_CASE("delete-account frees the nickname, drops its stored messages, groups and row") {
    World w;
    constexpr std::uint16_t A = 6201, B = 6202, C = 6203;
    w.start_client("alice", A);
    w.start_client("bob", B);
    REQUIRE(w.run_until([&] { return w.session(A).registered() && w.session(B).registered(); }));
    const auto bob_holds_alice = [&] {
      for (const auto& row : w.session(B).table()) {
        if (row.nick == "alice") return true;
      }
      return false;
    };
    REQUIRE(w.run_until(bob_holds_alice));  // and has pinned her key
    w.type(A, "join team");
    w.type(B, "join team");
    REQUIRE(w.run_until([&] { return w.printed(B, ">>> [Joined group team.]"); }));
    w.type(A, "delete-account");
    w.type(A, "yes");
    REQUIRE(w.run_until([&] { return !w.nodes.at(A).alive; }));
    CHECK(w.printed(A,
                    ">>> [Account alice deleted: its nickname is free, 0 stored messages "
                    "deleted.]"));
    // bob's table drops the row; the group keeps bob only.
    REQUIRE(w.run_until([&] { return !bob_holds_alice(); }));
    const auto state = w.memory.load();
    REQUIRE(state.has_value());
    CHECK(state->clients.size() == 1);
    REQUIRE(state->groups.size() == 1);
    CHECK(state->groups[0].members.size() == 1);
    // bob writes to the free nickname: unknown, not stored for a stranger.
    w.type(B, "send alice hello?");
    REQUIRE(w.run_until([&] { return w.printed(B, ">>> [Unknown client alice.]"); }));
    // Anyone takes the nickname now, with another key; bob's pin warns him.
    w.client_keys_["alice"] = crypto::generate_keypair(crypto::seeded_random(777));
    w.start_client("alice", C);
    REQUIRE(w.run_until([&] { return w.session(C).registered(); }));
    REQUIRE(w.run_until([&] { return w.printed(B, ">>> [Warning: the key of alice changed.]"); }));
  }

  TEST_CASE("the store deletes the waiting messages of a deleted account, not others'") {
    MemoryStore m;
    StoredMessage for_alice{0, "bob", "alice", 1, "one", 1, {}};
    StoredMessage for_carol{0, "bob", "carol", 2, "two", 1, {}};
    REQUIRE(m.save(for_alice));
    REQUIRE(m.save(for_carol));
    REQUIRE(m.put_client(ClientRecord{"alice", {"127.0.0.1", 1}, false, 30000, 1, 0, {}, {}}));
    REQUIRE(m.put_member("team", "team", MemberRecord{"alice", 0}));
    const auto deleted = m.delete_client("alice");
    REQUIRE(deleted);
    CHECK(*deleted == 1);
    CHECK(*m.count_for("alice") == 0);
    CHECK(*m.count_for("carol") == 1);
    CHECK(m.load()->clients.empty());
    CHECK(m.load()->groups.empty());
    // Its idempotency key stays: the same save again is a duplicate.
    CHECK(*m.save(for_alice) == SaveResult::kDuplicate);
  }
}
