// server_fixture.hpp: a ServerCore on a MemoryStore whose commands commit at
// once, for the unit tests of the server on its own (clients played by hand).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/server/server_core.hpp"
#include "protocol/codec.hpp"
#include "support/store_driver.hpp"

namespace udpchat::test {

struct InstantServer {
  /// The start time of every test that uses it.
  static constexpr TimePoint kStart = TimePoint{} + std::chrono::hours(1);

  MemoryStore store;
  // Tables at the end of each datagram (no batching window): the test sees
  // each update in the output of the datagram that caused it.
  ServerCore core{ServerConfig{.table_batch = Duration::zero(),
                               .wall_clock_ms = [] { return std::int64_t{1700000000000}; }},
                  1};
  InstantServer() { core.start(*store.load(), kStart); }
  /// One datagram in, with a store writer that commits at once. `key`: the
  /// sender's public key as the session layer vouches for it (32 bytes),
  /// or empty (no sessions: nicknames are not bound to keys).
  std::vector<Outgoing> feed(const Message& m, const Endpoint& from, TimePoint t = kStart,
                             std::string_view key = {}) {
    core.on_datagram(encode(m), from, t, key);
    drain_store(core, store, t);
    return core.take_outgoing();
  }
};

}  // namespace udpchat::test
