// sodium.cpp: libsodium start-up, random sources, key pairs, hex.
#include "crypto/sodium.hpp"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace udpchat::crypto {

void ensure_init() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) {
    std::fputs("udpchat: libsodium could not start (no secure random source)\n", stderr);
    std::abort();
  }
}

RandomSource system_random() {
  ensure_init();
  return [](std::span<std::uint8_t> out) { randombytes_buf(out.data(), out.size()); };
}

RandomSource seeded_random(std::uint64_t seed) {
  ensure_init();
  // Each draw takes the next block of the stream: the seed of draw i is
  // the user's seed and i, so draws never overlap.
  struct State {
    std::array<std::uint8_t, randombytes_SEEDBYTES> seed{};
    std::uint64_t draws = 0;
  };
  auto state = std::make_shared<State>();
  for (std::size_t i = 0; i < 8; ++i) state->seed[i] = static_cast<std::uint8_t>(seed >> (8 * i));
  return [state](std::span<std::uint8_t> out) {
    auto s = state->seed;
    const std::uint64_t n = state->draws++;
    for (std::size_t i = 0; i < 8; ++i) s[8 + i] = static_cast<std::uint8_t>(n >> (8 * i));
    randombytes_buf_deterministic(out.data(), out.size(), s.data());
  };
}

KeyPair::~KeyPair() {
  sodium_memzero(secret_key.data(), secret_key.size());
}

KeyPair keypair_from_secret(const Key& secret_key) {
  ensure_init();
  KeyPair kp;
  kp.secret_key = secret_key;
  crypto_scalarmult_base(kp.public_key.data(), kp.secret_key.data());
  return kp;
}

KeyPair generate_keypair(const RandomSource& random) {
  Key sk{};
  random(sk);
  KeyPair kp = keypair_from_secret(sk);
  sodium_memzero(sk.data(), sk.size());
  return kp;
}

std::string to_hex(ByteView bytes) {
  ensure_init();
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();
  return out;
}

std::optional<Bytes> bytes_from_hex(std::string_view hex) {
  ensure_init();
  if (hex.size() % 2 != 0) return std::nullopt;
  Bytes out(hex.size() / 2);
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &len, &end) != 0 ||
      len != out.size() || end != hex.data() + hex.size()) {
    return std::nullopt;
  }
  return out;
}

std::optional<Key> key_from_hex(std::string_view hex) {
  if (hex.size() != 2 * kKeyBytes) return std::nullopt;
  auto bytes = bytes_from_hex(hex);
  if (!bytes) return std::nullopt;
  Key k{};
  std::copy(bytes->begin(), bytes->end(), k.begin());
  return k;
}

void keyed_hash(const Key& key, ByteView data, std::span<std::uint8_t> out) {
  ensure_init();
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), key.data(), key.size());
}

void wipe(std::span<std::uint8_t> bytes) {
  sodium_memzero(bytes.data(), bytes.size());
}

bool equal(ByteView a, ByteView b) {
  ensure_init();
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace udpchat::crypto
