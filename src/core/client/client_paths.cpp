// client_paths.cpp: where the client's datagrams to a peer go, and what it
// learns about its own addresses (docs/NAT.md): the public endpoint the
// server sees, the local one it told, the NAT keep-alive.
#include <algorithm>

#include "core/client/client_session.hpp"

namespace udpchat {

void ClientSession::learn_public(const Endpoint& seen) {
  if (seen.address.empty() || seen == public_) return;
  const bool first = public_.address.empty();
  public_ = seen;
  if (config_.local.address.empty() || seen == config_.local) {
    log(LogLevel::kDebug, "the server sees us at " + seen.to_string());
  } else {
    log(first ? LogLevel::kInfo : LogLevel::kWarn,
        std::string(first ? "behind a NAT" : "our NAT mapping changed") + ": the server sees us at " +
            seen.to_string() + ", our local address is " + config_.local.to_string());
  }
}

Duration ClientSession::heartbeat_interval() const {
  return behind_nat() ? std::min(config_.heartbeat, config_.nat_keepalive) : config_.heartbeat;
}

Endpoint ClientSession::path_to(const TableEntry& e) const {
  if (!e.local_address.empty() && !public_.address.empty() && e.address == public_.address) {
    return Endpoint{e.local_address, e.local_port};  // behind our NAT: over the LAN
  }
  return Endpoint{e.address, e.port};
}

}  // namespace udpchat
