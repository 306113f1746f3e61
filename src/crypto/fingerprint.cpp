// fingerprint.cpp: Signal-style numeric fingerprints (see fingerprint.hpp).
#include "crypto/fingerprint.hpp"

#include <sodium.h>

#include <cstdio>

namespace udpchat::crypto {
namespace {

constexpr int kIterations = 5200;
constexpr std::uint8_t kVersion[2] = {0, 0};

}  // namespace

std::string numeric_fingerprint(const Key& public_key, std::string_view identifier) {
  ensure_init();
  std::uint8_t hash[crypto_hash_sha512_BYTES];
  crypto_hash_sha512_state st;
  crypto_hash_sha512_init(&st);
  crypto_hash_sha512_update(&st, kVersion, sizeof kVersion);
  crypto_hash_sha512_update(&st, public_key.data(), public_key.size());
  const auto id = as_bytes(identifier);
  crypto_hash_sha512_update(&st, id.data(), id.size());
  crypto_hash_sha512_final(&st, hash);
  for (int i = 0; i < kIterations; ++i) {
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, hash, sizeof hash);
    crypto_hash_sha512_update(&st, public_key.data(), public_key.size());
    crypto_hash_sha512_final(&st, hash);
  }
  std::string digits;
  for (int chunk = 0; chunk < 6; ++chunk) {
    std::uint64_t v = 0;
    for (int b = 0; b < 5; ++b) v = (v << 8) | hash[chunk * 5 + b];
    char five[8];
    std::snprintf(five, sizeof five, "%05u", static_cast<unsigned>(v % 100000));
    digits += five;
  }
  return digits;
}

std::string group_digits(std::string_view digits) {
  std::string out;
  for (std::size_t i = 0; i < digits.size(); i += 5) {
    if (!out.empty()) out += ' ';
    out += digits.substr(i, 5);
  }
  return out;
}

std::string safety_number(const Key& a, std::string_view a_id, const Key& b,
                          std::string_view b_id) {
  std::string fa = numeric_fingerprint(a, a_id);
  std::string fb = numeric_fingerprint(b, b_id);
  return group_digits(fa < fb ? fa + fb : fb + fa);
}

}  // namespace udpchat::crypto
