// noise.hpp: the Noise IK handshake, Noise_IK_25519_ChaChaPoly_SHA256.
//
// Source: T. Perrin, "The Noise Protocol Framework", revision 34
// (2018-07-11), https://noiseprotocol.org/noise.html: sections 5.1 to 5.3
// (CipherState, SymmetricState, HandshakeState), 7.5 (the IK pattern),
// 12 (X25519, ChaChaPoly, SHA-256, HMAC and HKDF). WireGuard uses the
// same pattern (J. A. Donenfeld, "WireGuard: Next Generation Kernel Network
// Tunnel", NDSS 2017). Every primitive is libsodium's: crypto_scalarmult
// (X25519), crypto_aead_chacha20poly1305_ietf (RFC 8439), crypto_hash_sha256
// and crypto_auth_hmacsha256. Checked against the cacophony test vectors in
// tests/unit/test_noise.cpp.
//
// IK: the initiator (client) knows the responder's (server's) static key
// before it starts; two messages authenticate both sides, hide the
// initiator's identity from onlookers and give both transport keys with
// forward secrecy:
//     <- s
//     ...
//     -> e, es, s, ss    (message 1: 96 bytes + payload + 16)
//     <- e, ee, se       (message 2: 48 bytes + payload)
// Each message carries an encrypted payload (possibly empty).
#pragma once

#include <cstdint>
#include <optional>

#include "crypto/sodium.hpp"

namespace udpchat::crypto {

/// The keys a completed handshake gives: one per direction, and the
/// handshake hash (a value both sides share that names this session).
struct TransportKeys {
  Key initiator_to_responder{};
  Key responder_to_initiator{};
  Key handshake_hash{};
};

/// Bytes message 1 adds to its payload (e 32, encrypted s 48, tag 16).
inline constexpr std::size_t kNoiseMessage1Overhead = 96;
/// Bytes message 2 adds to its payload (e 32, tag 16).
inline constexpr std::size_t kNoiseMessage2Overhead = 48;

/// One side of one IK handshake. Use once: message 1 then message 2, then
/// split(). Every read returns nullopt when the message is malformed or
/// fails authentication (wrong key, modified bytes); the object must then
/// be dropped.
class NoiseIK {
 public:
  /// The initiator: its static pair `s`, the responder's static public key
  /// `rs`, and a prologue both sides must agree on (it is hashed, not sent).
  static NoiseIK initiator(const KeyPair& s, const Key& rs, ByteView prologue);
  /// The responder: its static pair `s` and the prologue.
  static NoiseIK responder(const KeyPair& s, ByteView prologue);

  /// Initiator: message 1 with ephemeral pair `e` and `payload`; nullopt
  /// when a Diffie-Hellman result is all zeros (a small-order key).
  [[nodiscard]] std::optional<Bytes> write_message1(const KeyPair& e, ByteView payload);
  /// Responder: the payload of message 1 (and learns the initiator's key).
  [[nodiscard]] std::optional<Bytes> read_message1(ByteView message);
  /// Responder: message 2 with ephemeral pair `e` and `payload` (nullopt
  /// as for message 1).
  [[nodiscard]] std::optional<Bytes> write_message2(const KeyPair& e, ByteView payload);
  /// Initiator: the payload of message 2.
  [[nodiscard]] std::optional<Bytes> read_message2(ByteView message);

  /// After message 2: the transport keys (Noise Split()).
  [[nodiscard]] TransportKeys split() const;
  /// The other side's static public key (the responder learns it from message 1).
  [[nodiscard]] const Key& remote_static() const { return rs_; }

 private:
  NoiseIK(const KeyPair& s, ByteView prologue);
  void mix_hash(ByteView data);
  void mix_key(ByteView input_key_material);
  [[nodiscard]] bool mix_dh(const Key& secret, const Key& public_key);
  void encrypt_and_hash(ByteView plaintext, Bytes& out);
  [[nodiscard]] std::optional<Bytes> decrypt_and_hash(ByteView ciphertext);

  KeyPair s_;
  KeyPair e_;
  Key rs_{};
  Key re_{};
  Key h_{};
  Key ck_{};
  Key k_{};
  bool has_key_ = false;
  std::uint64_t n_ = 0;
  bool failed_ = false;
};

/// HKDF of the Noise specification, section 4.3, with HMAC-SHA256: two
/// 32-byte outputs from chaining key `ck` and input key material `ikm`.
void noise_hkdf(const Key& ck, ByteView ikm, Key& out1, Key& out2);

/// ChaChaPoly as Noise uses it (section 12.3): RFC 8439's AEAD with the
/// 96-bit nonce of 32 zero bits and `n` as 64-bit little-endian. Appends
/// ciphertext and 16-byte tag to `out`.
void aead_seal(const Key& k, std::uint64_t n, ByteView ad, ByteView plaintext, Bytes& out);
/// The plaintext of `ciphertext` (with its tag), or nullopt if it does not
/// authenticate.
[[nodiscard]] std::optional<Bytes> aead_open(const Key& k, std::uint64_t n, ByteView ad,
                                             ByteView ciphertext);
/// Bytes the AEAD adds (the Poly1305 tag).
inline constexpr std::size_t kAeadTagBytes = 16;

}  // namespace udpchat::crypto
