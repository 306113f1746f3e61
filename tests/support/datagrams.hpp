// datagrams.hpp: picking datagrams of one kind out of a core's output, for
// tests that play the other side by hand.
#pragma once

#include <doctest/doctest.h>

#include <variant>
#include <vector>

#include "core/reliable/reliable.hpp"
#include "protocol/codec.hpp"

namespace udpchat::test {

/// The datagrams of kind T sent to `to`, decoded, in order (every datagram
/// in `out` must decode).
template <typename T>
std::vector<T> of_type(const std::vector<Outgoing>& out, const Endpoint& to) {
  std::vector<T> v;
  for (const auto& o : out) {
    auto m = decode(o.bytes);
    REQUIRE(m);
    if (o.to == to && std::holds_alternative<T>(*m)) v.push_back(std::get<T>(*m));
  }
  return v;
}

}  // namespace udpchat::test
