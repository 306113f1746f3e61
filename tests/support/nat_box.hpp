// nat_box.hpp: a NAT router on the in-memory network (world.hpp), with the
// behaviours RFC 4787 names, for the simulation of docs/NAT.md.
//
// Mapping: endpoint-independent (one public port per inside endpoint,
// whatever the destination; the inside port kept when free, as Linux's
// masquerade does) or, `symmetric`, address-and-port-dependent (the first
// flow keeps the inside port, each further destination a new one).
// Filtering: address-and-port-dependent (a datagram from outside passes
// only from an endpoint the inside one sent to on that mapping, within the
// mapping timeout: a port-restricted cone NAT). Mappings live
// `mapping_timeout` after their last outbound datagram (RFC 4787 REQ-5
// asks at least 2 minutes; many routers keep 30 s). No hairpinning.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "core/base/time.hpp"
#include "protocol/endpoint.hpp"

namespace udpchat::test {

class NatBox {
 public:
  NatBox(std::string private_address, std::string public_address, bool symmetric,
         Duration mapping_timeout)
      : private_address_(std::move(private_address)),
        public_address_(std::move(public_address)),
        symmetric_(symmetric),
        timeout_(mapping_timeout) {}

  [[nodiscard]] const std::string& private_address() const { return private_address_; }
  [[nodiscard]] const std::string& public_address() const { return public_address_; }
  [[nodiscard]] bool symmetric() const { return symmetric_; }

  /// The public source of a datagram from `inside` to `to` at `now`
  /// (creating or refreshing its mapping, and permitting `to`'s answers).
  Endpoint outbound(const Endpoint& inside, const Endpoint& to, TimePoint now);
  /// Where a datagram from `from` to our public endpoint `at` goes inside,
  /// or nullopt when the filter drops it (no live mapping, or `from` was
  /// never sent to on it).
  std::optional<Endpoint> inbound(const Endpoint& at, const Endpoint& from, TimePoint now);
  /// The router restarts: every mapping is gone.
  void forget_all() {
    by_port_.clear();
    by_flow_.clear();
  }
  [[nodiscard]] std::size_t mappings() const { return by_port_.size(); }

 private:
  struct Mapping {
    Endpoint inside;
    Endpoint flow;  ///< symmetric: the destination it is for; else empty
    TimePoint last_out{};
    std::map<Endpoint, TimePoint> permits;  ///< destinations sent to, when last
  };
  [[nodiscard]] bool live(const Mapping& m, TimePoint now) const {
    return now - m.last_out <= timeout_;
  }
  void expire(std::uint16_t port);

  std::string private_address_;
  std::string public_address_;
  bool symmetric_;
  Duration timeout_;
  std::uint16_t next_port_ = 20000;
  std::map<std::uint16_t, Mapping> by_port_;                          ///< public port -> mapping
  std::map<std::pair<Endpoint, Endpoint>, std::uint16_t> by_flow_;  ///< (inside, flow) -> port
};

}  // namespace udpchat::test
