// endpoint.hpp: a transport address as a plain value (no sockets).
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>

namespace udpchat {

/// A UDP endpoint: a numeric IPv4 ("127.0.0.1") or IPv6 ("::1") address in
/// its canonical text form, and a port. IPv4-mapped IPv6 addresses are
/// normalised to IPv4 by the shell before they reach the core, so equal
/// addresses compare equal as strings.
struct Endpoint {
  std::string address;
  std::uint16_t port = 0;

  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;

  /// "1.2.3.4:5" or "[::1]:5" (brackets for IPv6, as in RFC 3986 URIs).
  [[nodiscard]] std::string to_string() const {
    if (address.find(':') != std::string::npos) {
      return "[" + address + "]:" + std::to_string(port);
    }
    return address + ":" + std::to_string(port);
  }
};

struct EndpointHash {
  std::size_t operator()(const Endpoint& e) const noexcept {
    return std::hash<std::string>{}(e.address) * 31U + e.port;
  }
};

}  // namespace udpchat
