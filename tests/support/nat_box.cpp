// nat_box.cpp: NatBox (nat_box.hpp).
#include "support/nat_box.hpp"

namespace udpchat::test {

void NatBox::expire(std::uint16_t port) {
  const auto it = by_port_.find(port);
  if (it == by_port_.end()) return;
  by_flow_.erase({it->second.inside, it->second.flow});
  by_port_.erase(it);
}

Endpoint NatBox::outbound(const Endpoint& inside, const Endpoint& to, TimePoint now) {
  const Endpoint flow = symmetric_ ? to : Endpoint{};
  std::uint16_t port = 0;
  if (const auto f = by_flow_.find({inside, flow}); f != by_flow_.end()) {
    port = f->second;
    if (!live(by_port_.at(port), now)) {
      expire(port);
      port = 0;
    }
  }
  if (port == 0) {
    // The inside port if it is free (the first flow of a symmetric NAT
    // too), else the next free one from 20000.
    port = inside.port;
    if (by_port_.contains(port)) {
      while (by_port_.contains(next_port_) || next_port_ < 1024) ++next_port_;
      port = next_port_++;
    }
    by_port_[port] = Mapping{inside, flow, now, {}};
    by_flow_[{inside, flow}] = port;
  }
  Mapping& m = by_port_.at(port);
  m.last_out = now;
  m.permits[to] = now;
  return Endpoint{public_address_, port};
}

std::optional<Endpoint> NatBox::inbound(const Endpoint& at, const Endpoint& from, TimePoint now) {
  const auto it = by_port_.find(at.port);
  if (it == by_port_.end() || at.address != public_address_) return std::nullopt;
  if (!live(it->second, now)) {
    expire(at.port);
    return std::nullopt;
  }
  const auto permit = it->second.permits.find(from);
  if (permit == it->second.permits.end() || now - permit->second > timeout_) return std::nullopt;
  return it->second.inside;
}

}  // namespace udpchat::test
