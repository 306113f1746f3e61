// secure_server.hpp: ServerCore behind its ServerGate (manual §9). The
// shells and the load tests drive this instead of the core: datagrams in
// are opened by the gate and handed to the core with the sender's key;
// the core's datagrams out are sealed for their client's session.
// Everything else (store commands and completions, logs, shutdown) is the
// core's own, reached through core().
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/server/server_core.hpp"
#include "core/session/server_gate.hpp"

namespace udpchat {

class SecureServer {
 public:
  /// `core` must outlive this object; `key` is the server's long-term pair.
  SecureServer(ServerCore& core, const crypto::KeyPair& key, GateConfig config,
               crypto::RandomSource random);

  void on_datagram(std::string_view bytes, const Endpoint& from, TimePoint now);
  /// With `on` the handshake jobs (handshake_jobs.hpp) are the caller's:
  /// it takes them (take_handshake_jobs), runs them where it likes and
  /// hands back each outcome (on_handshake_done). Off (the default) they
  /// are answered inside on_datagram.
  void offload_handshakes(bool on) { gate_.offload_handshakes(on); }
  [[nodiscard]] std::vector<HandshakeJob> take_handshake_jobs() {
    return gate_.take_handshake_jobs();
  }
  void on_handshake_done(const HandshakeOutcome& outcome, TimePoint now);
  void on_timeout(TimePoint now);
  [[nodiscard]] std::optional<TimePoint> next_deadline() const;
  /// The core's datagrams, sealed, and the gate's handshake frames.
  std::vector<Outgoing> take_outgoing(TimePoint now);

  [[nodiscard]] ServerCore& core() { return core_; }
  [[nodiscard]] const ServerGate& gate() const { return gate_; }
  [[nodiscard]] ServerGate& gate() { return gate_; }
  /// The core's statistics and one line of the gate's:
  /// "statistics: sessions N; handshakes ...; security drops ...".
  [[nodiscard]] std::string stats_report() const;

 private:
  static constexpr Duration kSweepInterval = std::chrono::seconds(1);
  ServerCore& core_;
  ServerGate gate_;
  std::vector<Outgoing> frames_;  ///< the gate's answers, not yet taken
  TimePoint next_sweep_{};
};

}  // namespace udpchat
