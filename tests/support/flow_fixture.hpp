// flow_fixture.hpp: what the flow tests (tests/unit/test_flows*.cpp) share:
// three clients' ports, the lines they wait for, and a start with every
// table converged.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "support/world.hpp"

namespace udpchat::test {

inline constexpr std::uint16_t A = 6001;
inline constexpr std::uint16_t B = 6002;
inline constexpr std::uint16_t C = 6003;

inline const std::string kWelcome = ">>> [Welcome, You are registered.]";
inline const std::string kTable = ">>> [Client table updated.]";
inline const std::string kSaved = ">>> [Messages received by the server and saved]";

/// alice (A), bob (B) and carol (C) registered, every table converged.
inline void three_clients(World& w) {
  w.start_client("alice", A);
  w.start_client("bob", B);
  w.start_client("carol", C);
  const bool ok = w.run_until([&] {
    return w.session(A).table().size() == 3 && w.session(B).table().size() == 3 &&
           w.session(C).table().size() == 3;
  });
  REQUIRE(ok);
}

}  // namespace udpchat::test
