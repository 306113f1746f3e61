// password.hpp: Argon2id password hashes (libsodium crypto_pwhash_str).
//
// Source: RFC 9106 (Argon2) and libsodium's "Password hashing" chapter.
// The server keeps only the encoded hash string ("$argon2id$v=19$m=...,t=...,p=1$salt$hash"),
// which carries its own salt and cost, so costs can rise later without
// breaking old hashes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace udpchat::crypto {

/// Argon2id cost: passes over memory and memory in bytes.
struct PasswordCost {
  std::uint64_t ops = 0;
  std::size_t mem = 0;
};
/// libsodium's "interactive" cost (2 passes, 64 MiB): about 0.1 s here.
[[nodiscard]] PasswordCost interactive_cost();
/// The least cost libsodium allows: for tests and the simulation only.
[[nodiscard]] PasswordCost minimal_cost();

/// The encoded Argon2id hash of `password` with a fresh salt; nullopt when
/// the memory could not be had.
[[nodiscard]] std::optional<std::string> hash_password(std::string_view password,
                                                       PasswordCost cost);
/// True if `password` matches `encoded` (a string hash_password made).
[[nodiscard]] bool verify_password(std::string_view encoded, std::string_view password);

}  // namespace udpchat::crypto
