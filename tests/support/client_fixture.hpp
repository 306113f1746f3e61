// client_fixture.hpp: a ClientSession registered as alice, with the server
// and bob played by hand, for the unit tests of the client on its own.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/client/client_session.hpp"
#include "crypto/e2e.hpp"
#include "protocol/codec.hpp"

namespace udpchat::test {

inline const Endpoint kServer{"127.0.0.1", 9000};
inline const TimePoint kT0 = TimePoint{} + std::chrono::hours(1);

inline const crypto::KeyPair kAliceKey = crypto::generate_keypair(crypto::seeded_random(11));
inline const crypto::KeyPair kBobKey = crypto::generate_keypair(crypto::seeded_random(12));
inline const crypto::KeyPair kCarolKey = crypto::generate_keypair(crypto::seeded_random(13));

inline std::string key_bytes(const crypto::KeyPair& k) {
  return {k.public_key.begin(), k.public_key.end()};
}

/// The row of `nick` with its key, as the server sends it.
inline TableEntry row(const std::string& nick, std::uint16_t port, bool online,
                      const crypto::KeyPair& key) {
  return {nick, "127.0.0.1", port, online, 0, key_bytes(key)};
}

/// `text` sealed by bob for alice as message `mid` (what bob's client sends).
inline std::string bob_box(std::uint64_t mid, const std::string& text) {
  const auto keys = crypto::peer_keys(kBobKey, kAliceKey.public_key);
  const auto box =
      crypto::seal_box(keys->send, crypto::as_bytes(e2e_associated_data("bob", "alice", mid)),
                       crypto::as_bytes(text), crypto::seeded_random(mid));
  return {box.begin(), box.end()};
}

/// What alice sealed for bob, as bob's client opens it.
inline std::string bob_opens(const std::string& box, std::uint64_t mid) {
  const auto keys = crypto::peer_keys(kBobKey, kAliceKey.public_key);
  const auto text =
      crypto::open_box(keys->receive, crypto::as_bytes(e2e_associated_data("alice", "bob", mid)),
                       crypto::as_bytes(box));
  REQUIRE(text);
  return {text->begin(), text->end()};
}

/// bob's ack of alice's direct message `mid`, with its tag.
inline Ack bob_ack(std::uint64_t mid) {
  const auto keys = crypto::peer_keys(kBobKey, kAliceKey.public_key);
  return Ack{mid, AckStatus::kOk, 0, {}, 0, e2e_ack_tag(keys->send, mid)};
}

/// `out` without the Introduce requests to the server: docs/NAT.md, every
/// direct send to a peer not heard from lately also asks the server to
/// introduce us (test_nat_punch.cpp checks those).
inline std::vector<Outgoing> without_introductions(std::vector<Outgoing> out) {
  std::erase_if(out, [](const Outgoing& o) {
    const auto m = decode(o.bytes);
    return m && std::holds_alternative<Introduce>(*m);
  });
  return out;
}

inline ClientConfig alice_config() {
  return ClientConfig{.nick = "alice", .server = kServer, .key = kAliceKey};
}

// A client registered as alice whose table holds alice and bob (online).
struct Registered {
  ClientSession s;
  /// `config`: alice's (nick, server, key as above), with what a test adds.
  explicit Registered(ClientConfig config = alice_config()) : s(std::move(config), 1000) {
    s.start(kT0);
    const auto out = s.take_outgoing();
    REQUIRE(out.size() == 1);
    const auto reg = decode(out[0].bytes);
    REQUIRE(reg);
    const auto id = std::get<Register>(*reg).id;
    s.on_datagram(encode(Ack{id, AckStatus::kOk, 0, {}}), kServer, kT0);
    TablePart t{
        500, 1, 0, 1, {row("alice", 6001, true, kAliceKey), row("bob", 6002, true, kBobKey)}};
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

}  // namespace udpchat::test
