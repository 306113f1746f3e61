// sodium.hpp: the byte types, randomness and key pairs every other crypto
// file builds on. Everything here is libsodium (https://doc.libsodium.org);
// udpchat implements no primitive of its own (docs/SECURITY.md).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace udpchat::crypto {

/// X25519 public and secret keys, symmetric keys and hashes: 32 bytes.
inline constexpr std::size_t kKeyBytes = 32;
using Key = std::array<std::uint8_t, kKeyBytes>;
using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

/// Initialises libsodium once per process (thread-safe, idempotent). Every
/// function of this folder calls it; it aborts the process when libsodium
/// cannot start (no secure random source), since nothing could be secured.
void ensure_init();

/// Fills its argument with random bytes. The system source is libsodium's
/// randombytes_buf (getrandom(2)); tests and the simulation pass a seeded
/// one so that a seed replays the same keys and nonces.
using RandomSource = std::function<void(std::span<std::uint8_t>)>;
[[nodiscard]] RandomSource system_random();
/// A deterministic source: the ChaCha20 stream of libsodium's
/// randombytes_buf_deterministic, keyed by `seed`, read in order. For
/// tests and simulations only: every process using one seed draws the
/// same bytes.
[[nodiscard]] RandomSource seeded_random(std::uint64_t seed);

/// A long-term or ephemeral X25519 key pair (RFC 7748). The secret key is
/// wiped when the pair is destroyed.
struct KeyPair {
  Key public_key{};
  Key secret_key{};
  KeyPair() = default;
  KeyPair(const KeyPair&) = default;
  KeyPair& operator=(const KeyPair&) = default;
  ~KeyPair();
};

/// A fresh key pair: 32 random secret bytes and their X25519 public key.
[[nodiscard]] KeyPair generate_keypair(const RandomSource& random);
/// The key pair of a given secret key (as read from a key file or a test vector).
[[nodiscard]] KeyPair keypair_from_secret(const Key& secret_key);

/// Lowercase hexadecimal of `bytes`.
[[nodiscard]] std::string to_hex(ByteView bytes);
/// The 32-byte key written as 64 hexadecimal digits (either case); nullopt
/// for anything else.
[[nodiscard]] std::optional<Key> key_from_hex(std::string_view hex);
/// Bytes of any length from hexadecimal; nullopt if not hexadecimal.
[[nodiscard]] std::optional<Bytes> bytes_from_hex(std::string_view hex);

/// The bytes of a string (for AD and payloads handed over as text).
[[nodiscard]] inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
/// Keyed BLAKE2b (libsodium crypto_generichash, RFC 7693) of `data` under
/// `key`, `out.size()` bytes long (16 to 64): a MAC, or a key derived from
/// `key` for the purpose `data` names.
void keyed_hash(const Key& key, ByteView data, std::span<std::uint8_t> out);

/// Overwrites `bytes` with zeros in a way the compiler keeps (sodium_memzero).
void wipe(std::span<std::uint8_t> bytes);

/// Constant-time comparison of two byte strings of equal length (sodium_memcmp).
[[nodiscard]] bool equal(ByteView a, ByteView b);

}  // namespace udpchat::crypto
