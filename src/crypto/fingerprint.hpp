// fingerprint.hpp: safety numbers to compare keys out of band.
//
// Source: Signal's numeric fingerprints (the "safety number": libsignal's
// NumericFingerprintGenerator, described in Signal's blog post "Safety
// number updates", 2016): for each identity, SHA-512 iterated 5200 times
// over its public key and a stable identifier, the first 30 bytes read as
// six 5-digit numbers; the safety number of a pair is both 30-digit
// fingerprints, the lower first, so both sides see the same 60 digits.
// SHA-512 is libsodium's crypto_hash_sha512.
#pragma once

#include <string>
#include <string_view>

#include "crypto/sodium.hpp"

namespace udpchat::crypto {

/// 30 decimal digits naming `public_key` held under `identifier` (udpchat
/// passes the nickname's key: lowercase).
[[nodiscard]] std::string numeric_fingerprint(const Key& public_key, std::string_view identifier);

/// The 60 digits of two identities, in 12 groups of 5 separated by spaces:
/// the same whichever side asks.
[[nodiscard]] std::string safety_number(const Key& a, std::string_view a_id, const Key& b,
                                        std::string_view b_id);

/// `digits` in groups of 5 separated by single spaces.
[[nodiscard]] std::string group_digits(std::string_view digits);

}  // namespace udpchat::crypto
