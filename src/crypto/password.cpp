// password.cpp: Argon2id password hashes (see password.hpp).
#include "crypto/password.hpp"

#include <sodium.h>

#include "crypto/sodium.hpp"

namespace udpchat::crypto {

PasswordCost interactive_cost() {
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

PasswordCost minimal_cost() {
  return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
}

std::optional<std::string> hash_password(std::string_view password, PasswordCost cost) {
  ensure_init();
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), cost.ops, cost.mem,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return std::nullopt;
  }
  return std::string(out);
}

bool verify_password(std::string_view encoded, std::string_view password) {
  ensure_init();
  if (encoded.empty() || encoded.size() >= crypto_pwhash_STRBYTES) return false;
  const std::string z(encoded);  // NUL-terminated for libsodium
  return crypto_pwhash_str_verify(z.c_str(), password.data(), password.size()) == 0;
}

}  // namespace udpchat::crypto
