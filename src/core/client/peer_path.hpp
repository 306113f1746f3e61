// peer_path.hpp: what a ClientSession knows about the way to one peer
// (docs/NAT.md): the path in use, and the introduction and probes that
// look for one. Plain data; client_paths.cpp owns the rules.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/base/time.hpp"
#include "protocol/endpoint.hpp"

namespace udpchat::client_paths {

/// A path heard on within this is taken as open (a NAT keeps a mapping
/// at least this long after its last datagram, RFC 4787 REQ-5 asks 2 min).
inline constexpr Duration kPathFresh = std::chrono::seconds(25);
/// A path used within this is kept alive with a probe every kKeepAlive.
inline constexpr Duration kPathInUse = std::chrono::minutes(2);
inline constexpr Duration kKeepAlive = std::chrono::seconds(15);
/// A relayed peer is introduced again (punching retried) at most this often.
inline constexpr Duration kRelayRetry = std::chrono::seconds(30);
/// Paths remembered at most (the least recently heard forgotten first).
inline constexpr std::size_t kMaxPaths = 1024;

/// How datagrams reach a peer: not known (its table row's endpoint is
/// tried), over the LAN (its local endpoint, behind our NAT), direct to an
/// endpoint a probe or the peer's own datagrams proved, or relayed live by
/// the server (no direct path opened).
enum class PathKind : std::uint8_t { kNone, kLan, kDirect, kRelayed };

/// The path to one peer, by nickname key.
struct PeerPath {
  PathKind kind = PathKind::kNone;
  Endpoint endpoint;       ///< kLan, kDirect: where its datagrams go
  TimePoint last_heard{};  ///< an authenticated datagram from it on the path
  TimePoint last_used{};   ///< a message sent or received on the path
  TimePoint last_probe{};  ///< a probe sent on the path (keep-alive)
  /// An introduction and its probes: until then, probes go to every
  /// candidate (none: not punching).
  TimePoint punch_until{};
  TimePoint next_probe{};
  /// Each candidate with the id of the probe sent to it: an answer counts
  /// only from that endpoint with that id.
  std::vector<std::pair<Endpoint, std::uint64_t>> probes;
  TimePoint introduced{};  ///< when we last asked the server to introduce us
  /// A punch came (the peer is online and probing too): a message still
  /// waiting without a path at this time goes through the relay.
  TimePoint relay_after{};
  TimePoint relayed_since{};  ///< kRelayed: since when (punching is retried every kRelayRetry)
};

}  // namespace udpchat::client_paths
