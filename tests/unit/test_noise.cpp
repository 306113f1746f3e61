// test_noise.cpp: the Noise IK handshake against the published test
// vectors, and what it refuses.
//
// The vector is Noise_IK_25519_ChaChaPoly_SHA256 from the cacophony test
// vectors (the Haskell "cacophony" Noise library's vectors/cacophony.txt,
// also shipped by other Noise implementations such as snow): fixed static
// and ephemeral keys, a prologue, the bytes of both handshake messages,
// the handshake hash and four transport messages.
#include <doctest/doctest.h>

#include "crypto/noise.hpp"

namespace udpchat::crypto {
namespace {

Bytes hex(std::string_view h) {
  auto b = bytes_from_hex(h);
  REQUIRE(b);
  return *b;
}
Key key(std::string_view h) {
  auto k = key_from_hex(h);
  REQUIRE(k);
  return *k;
}

struct Vector {
  KeyPair init_static =
      keypair_from_secret(key("e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1"));
  KeyPair init_ephemeral =
      keypair_from_secret(key("893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a"));
  KeyPair resp_static =
      keypair_from_secret(key("4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893"));
  KeyPair resp_ephemeral =
      keypair_from_secret(key("bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b"));
  Bytes prologue = hex("4a6f686e2047616c74");
};

}  // namespace

TEST_CASE("Noise IK reproduces the cacophony test vector byte for byte") {
  Vector v;
  CHECK(to_hex(v.resp_static.public_key) ==
        "31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62");
  auto init = NoiseIK::initiator(v.init_static, v.resp_static.public_key, v.prologue);
  auto resp = NoiseIK::responder(v.resp_static, v.prologue);

  auto m1 = init.write_message1(v.init_ephemeral, hex("4c756477696720766f6e204d69736573"));
  REQUIRE(m1);
  CHECK(to_hex(*m1) ==
        "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944718da798efbcd91528520204"
        "f904b9bd6c7413dccdc214d951e15253e39987f18146e8cd0873654207148333479d4d16c289f0294b29960a"
        "72f48e0b7bba2e89083169825e59642148d492020664ccf7");
  auto p1 = resp.read_message1(*m1);
  REQUIRE(p1);
  CHECK(to_hex(*p1) == "4c756477696720766f6e204d69736573");
  CHECK(resp.remote_static() == v.init_static.public_key);

  auto m2 = resp.write_message2(v.resp_ephemeral, hex("4d757272617920526f746862617264"));
  REQUIRE(m2);
  CHECK(to_hex(*m2) ==
        "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f1448088435361e70b2ed446e6c9ec387d"
        "1d6b3b840f194e373979d241b203c4acafccf5");
  auto p2 = init.read_message2(*m2);
  REQUIRE(p2);
  CHECK(to_hex(*p2) == "4d757272617920526f746862617264");

  const TransportKeys ik = init.split();
  const TransportKeys rk = resp.split();
  CHECK(to_hex(ik.handshake_hash) ==
        "0b0f68fb0c27e03ce9b97565995ed4838cc0581b762ef72b062f6a546419fad7");
  CHECK(ik.initiator_to_responder == rk.initiator_to_responder);
  CHECK(ik.responder_to_initiator == rk.responder_to_initiator);

  // Transport messages: initiator's first and second, responder's first and second.
  auto seal = [](const Key& k, std::uint64_t n, std::string_view payload) {
    Bytes out;
    aead_seal(k, n, {}, hex(payload), out);
    return to_hex(out);
  };
  CHECK(seal(ik.initiator_to_responder, 0, "462e20412e20486179656b") ==
        "050e9f3c8fac16b68dbce8f8c4bfbf6617c897f9ada4aa29aa19c8");
  CHECK(seal(ik.responder_to_initiator, 0, "4361726c204d656e676572") ==
        "344233a6cabb7141d80f3da2fedc311d9646bbb0f505afe403a667");
  CHECK(seal(ik.initiator_to_responder, 1, "4a65616e2d426170746973746520536179") ==
        "62cdeeb172ad7ade7aa7d9e069da5790f12331bfa00177787a1d0810c67dc3b2b4");
  CHECK(seal(ik.responder_to_initiator, 1, "457567656e2042f6686d20766f6e2042617765726b") ==
        "029bead1b40992327044d409d9a1f3ad8f36c3c452775d557e18bbeb2e8dfcead32d514024");
  auto opened = aead_open(rk.initiator_to_responder, 0, {},
                          hex("050e9f3c8fac16b68dbce8f8c4bfbf6617c897f9ada4aa29aa19c8"));
  REQUIRE(opened);
  CHECK(to_hex(*opened) == "462e20412e20486179656b");
}

TEST_CASE("Noise IK refuses a wrong responder key, any flipped bit and a wrong prologue") {
  Vector v;
  const Bytes payload = hex("00010203");
  auto round = [&](const Key& rs, ByteView init_prologue, std::size_t flip) {
    auto init = NoiseIK::initiator(v.init_static, rs, init_prologue);
    auto resp = NoiseIK::responder(v.resp_static, v.prologue);
    auto m1 = init.write_message1(v.init_ephemeral, payload);
    REQUIRE(m1);
    if (flip < m1->size() * 8) (*m1)[flip / 8] ^= static_cast<std::uint8_t>(1U << (flip % 8));
    return resp.read_message1(*m1).has_value();
  };
  CHECK(round(v.resp_static.public_key, v.prologue, ~std::size_t{0}));
  // Another server's key: the responder cannot open message 1.
  CHECK_FALSE(round(v.init_static.public_key, v.prologue, ~std::size_t{0}));
  CHECK_FALSE(round(v.resp_static.public_key, hex("00"), ~std::size_t{0}));
  // Every bit of the 100-byte message 1 is covered.
  for (std::size_t bit = 0; bit < (kNoiseMessage1Overhead + payload.size()) * 8; bit += 7) {
    CHECK_FALSE(round(v.resp_static.public_key, v.prologue, bit));
  }
  // A truncated message 1.
  auto resp = NoiseIK::responder(v.resp_static, v.prologue);
  CHECK_FALSE(resp.read_message1(Bytes(kNoiseMessage1Overhead - 1)).has_value());
}

TEST_CASE("Noise IK: message 2 from anyone but the responder is refused") {
  Vector v;
  auto init = NoiseIK::initiator(v.init_static, v.resp_static.public_key, v.prologue);
  auto m1 = init.write_message1(v.init_ephemeral, {});
  REQUIRE(m1);
  // An impostor that saw message 1 but holds another static key.
  auto impostor = NoiseIK::responder(v.init_ephemeral, v.prologue);
  CHECK_FALSE(impostor.read_message1(*m1).has_value());
  // The real responder's message 2, modified in its last byte.
  auto resp = NoiseIK::responder(v.resp_static, v.prologue);
  REQUIRE(resp.read_message1(*m1));
  auto m2 = resp.write_message2(v.resp_ephemeral, {});
  REQUIRE(m2);
  Bytes bad = *m2;
  bad.back() ^= 1;
  auto init2 = init;
  CHECK_FALSE(init2.read_message2(bad).has_value());
  CHECK(init.read_message2(*m2).has_value());
}

TEST_CASE("Noise IK refuses small-order public keys") {
  Vector v;
  const Key zero{};  // the identity point: X25519 with it gives all zeros
  auto init = NoiseIK::initiator(v.init_static, zero, v.prologue);
  CHECK_FALSE(init.write_message1(v.init_ephemeral, {}).has_value());
  Bytes m1(kNoiseMessage1Overhead, 0);  // e = 0
  auto resp = NoiseIK::responder(v.resp_static, v.prologue);
  CHECK_FALSE(resp.read_message1(m1).has_value());
}

}  // namespace udpchat::crypto
