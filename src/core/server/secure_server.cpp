// secure_server.cpp: ServerCore behind its ServerGate (secure_server.hpp).
#include "core/server/secure_server.hpp"

#include <sstream>

namespace udpchat {

SecureServer::SecureServer(ServerCore& core, const crypto::KeyPair& key, GateConfig config,
                           crypto::RandomSource random)
    : core_(core), gate_(key, config, std::move(random)) {
  gate_.set_key_lookup([this](const Endpoint& at) -> std::optional<crypto::Key> {
    const auto held = core_.key_at(at);
    if (!held || held->size() != crypto::kKeyBytes) return std::nullopt;
    crypto::Key k{};
    std::copy(held->begin(), held->end(), k.begin());
    return k;
  });
}

void SecureServer::on_datagram(std::string_view bytes, const Endpoint& from, TimePoint now) {
  if (next_sweep_ == TimePoint{}) next_sweep_ = now + kSweepInterval;
  auto opened = gate_.open(bytes, from, now, frames_);
  if (!opened) {
    // Counted with the core's datagrams, so one statistics line says what
    // came in and why it went no further.
    ++core_.stats().datagrams_in;
    if (*gate_.last_drop() != '\0') core_.on_dropped(gate_.last_drop(), from);
    return;
  }
  core_.on_datagram(opened->plaintext, from, now,
                    std::string_view(reinterpret_cast<const char*>(opened->client_key.data()),
                                     opened->client_key.size()));
}

void SecureServer::on_handshake_done(const HandshakeOutcome& outcome, TimePoint now) {
  gate_.on_handshake_done(outcome, now, frames_);
  if (*gate_.last_drop() != '\0') ++core_.stats().dropped[gate_.last_drop()];
}

void SecureServer::on_timeout(TimePoint now) {
  core_.on_timeout(now);
  if (now >= next_sweep_) {
    gate_.sweep(now);
    next_sweep_ = now + kSweepInterval;
  }
}

std::optional<TimePoint> SecureServer::next_deadline() const {
  const auto core = core_.next_deadline();
  if (gate_.sessions() == 0) return core;
  return core ? std::min(*core, next_sweep_) : next_sweep_;
}

std::vector<Outgoing> SecureServer::take_outgoing(TimePoint now) {
  // The core counted its own datagrams; the gate's frames are added, the
  // core's that had no session to go on are taken off.
  std::vector<Outgoing> out = std::exchange(frames_, {});
  std::uint64_t frames = out.size();
  std::uint64_t unsent = 0;
  for (auto& o : core_.take_outgoing()) {
    const std::size_t before = out.size();
    auto sealed = gate_.seal(o.to, o.bytes, now, out);
    frames += out.size() - before;  // a Reset
    if (sealed) {
      out.push_back({std::move(o.to), std::move(*sealed)});
    } else {
      ++unsent;
    }
  }
  auto& stats = core_.stats();
  stats.datagrams_out = stats.datagrams_out + frames - std::min(unsent, stats.datagrams_out);
  return out;
}

std::string SecureServer::stats_report() const {
  std::ostringstream out;
  out << core_.stats_report();
  out << "statistics: sessions " << gate_.sessions() << "; security:";
  for (const auto& [what, n] : gate_.counts()) out << " " << what << "=" << n;
  for (const auto& [cause, n] : gate_.drop_counts()) out << " " << cause << "=" << n;
  out << "\n";
  return out.str();
}

}  // namespace udpchat
