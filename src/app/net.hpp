// net.hpp: conversions between asio endpoints and the core's Endpoint.
// Included only by the shells in src/app/.
#pragma once

#include <asio/ip/udp.hpp>

#include "protocol/endpoint.hpp"

namespace udpchat {

/// The core's view of an asio endpoint; IPv4-mapped IPv6 becomes IPv4 so a
/// dual-stack server sees the same address an IPv4 socket would.
inline Endpoint to_endpoint(const asio::ip::udp::endpoint& ep) {
  asio::ip::address a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  return Endpoint{a.to_string(), ep.port()};
}

/// The asio endpoint for `e` on a socket of `protocol` (IPv4 addresses are
/// mapped when the socket is IPv6). Error: the address does not parse.
inline asio::ip::udp::endpoint to_asio(const Endpoint& e, const asio::ip::udp& protocol,
                                       asio::error_code& ec) {
  asio::ip::address a = asio::ip::make_address(e.address, ec);
  if (ec) {
    return {};
  }
  if (a.is_v4() && protocol == asio::ip::udp::v6()) {
    a = asio::ip::make_address_v6(asio::ip::v4_mapped, a.to_v4());
  }
  return {a, e.port};
}

}  // namespace udpchat
