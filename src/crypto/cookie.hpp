// cookie.hpp: stateless address-validation cookies.
//
// Sources: the cookie exchange of DTLS (RFC 6347 section 4.2.1,
// HelloVerifyRequest; RFC 9147 section 5.1) and QUIC's Retry tokens
// (RFC 9000 section 8.1). The server answers a first datagram from an
// address it has not validated with a cookie, and keeps nothing: the
// cookie is a MAC (keyed BLAKE2b, libsodium crypto_generichash) of the
// address, port and time period under a secret only the server holds. A
// client that can show it back has proved that it receives at that
// address; a spoofed source never sees the cookie.
#pragma once

#include <cstdint>
#include <string_view>

#include "crypto/sodium.hpp"

namespace udpchat::crypto {

/// Bytes of a cookie: the period (8, little-endian) and the MAC (16).
inline constexpr std::size_t kCookieBytes = 24;

class AddressValidator {
 public:
  /// A fresh secret from `random`; cookies of another process (a restarted
  /// server) are not valid here.
  explicit AddressValidator(const RandomSource& random);
  ~AddressValidator();
  AddressValidator(const AddressValidator&) = delete;
  AddressValidator& operator=(const AddressValidator&) = delete;

  /// The cookie for `address` (any text naming address and port, such as
  /// "127.0.0.1:4000") in time period `period` (the caller's clock divided
  /// by its period length).
  [[nodiscard]] Bytes issue(std::string_view address, std::uint64_t period) const;
  /// True if `cookie` was issued for `address` in period `now` or the one
  /// before (so a cookie lives between one and two periods).
  [[nodiscard]] bool valid(ByteView cookie, std::string_view address, std::uint64_t now) const;

 private:
  Key secret_{};
};

}  // namespace udpchat::crypto
