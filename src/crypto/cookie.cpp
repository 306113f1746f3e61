// cookie.cpp: stateless address-validation cookies (see cookie.hpp).
#include "crypto/cookie.hpp"

#include <sodium.h>

namespace udpchat::crypto {
namespace {

constexpr std::size_t kMacBytes = kCookieBytes - 8;
static_assert(kMacBytes >= crypto_generichash_BYTES_MIN);

void mac(const Key& secret, std::uint64_t period, std::string_view address,
         std::uint8_t (&out)[kMacBytes]) {
  std::uint8_t p[8];
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(period >> (8 * i));
  crypto_generichash_state st;
  crypto_generichash_init(&st, secret.data(), secret.size(), kMacBytes);
  crypto_generichash_update(&st, p, sizeof p);
  const auto a = as_bytes(address);
  crypto_generichash_update(&st, a.data(), a.size());
  crypto_generichash_final(&st, out, kMacBytes);
}

}  // namespace

AddressValidator::AddressValidator(const RandomSource& random) {
  ensure_init();
  random(secret_);
}

AddressValidator::~AddressValidator() {
  sodium_memzero(secret_.data(), secret_.size());
}

Bytes AddressValidator::issue(std::string_view address, std::uint64_t period) const {
  Bytes cookie(kCookieBytes);
  for (int i = 0; i < 8; ++i) cookie[i] = static_cast<std::uint8_t>(period >> (8 * i));
  std::uint8_t m[kMacBytes];
  mac(secret_, period, address, m);
  std::copy(std::begin(m), std::end(m), cookie.begin() + 8);
  return cookie;
}

bool AddressValidator::valid(ByteView cookie, std::string_view address, std::uint64_t now) const {
  if (cookie.size() != kCookieBytes) return false;
  std::uint64_t period = 0;
  for (int i = 0; i < 8; ++i) period |= std::uint64_t{cookie[i]} << (8 * i);
  if (period != now && period + 1 != now) return false;
  std::uint8_t m[kMacBytes];
  mac(secret_, period, address, m);
  return equal(cookie.subspan(8), m);
}

}  // namespace udpchat::crypto
