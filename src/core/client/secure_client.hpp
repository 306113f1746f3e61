// secure_client.hpp: ClientSession over its ServerLink (manual §9). The
// shells and the load tests drive this instead of the session: what the
// session sends its server goes through the link (sealed; while the
// handshake runs it drives the handshake instead, and the session's
// pending requests are sent again once it is up); what comes from the
// server's address is opened by the link first. Datagrams between peers
// pass as they are.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/client/client_session.hpp"
#include "core/session/server_link.hpp"

namespace udpchat {

struct SecurityConfig {
  crypto::KeyPair key;                ///< the client's long-term pair
  std::optional<crypto::Key> pinned;  ///< the server key it trusts, if any
  /// Where `pinned` came from, for the line a changed key prints: the
  /// known_servers path, or empty when it was given with --server-key.
  std::string known_servers;
  crypto::RandomSource random;
  /// Wall clock, ns since the Unix epoch (handshake timestamps).
  std::function<std::uint64_t()> clock_ns;
};

class SecureClient {
 public:
  SecureClient(ClientConfig config, std::uint64_t id_seed, SecurityConfig security);

  void start(TimePoint now);
  void on_line(std::string_view line, TimePoint now);
  void on_quit(TimePoint now);
  void on_datagram(std::string_view bytes, const Endpoint& from, TimePoint now);
  void on_timeout(TimePoint now);
  [[nodiscard]] std::optional<TimePoint> next_deadline() const { return session_.next_deadline(); }
  /// The session's datagrams, those to the server through the link.
  std::vector<Outgoing> take_outgoing(TimePoint now);
  std::vector<std::string> take_lines() { return session_.take_lines(); }
  std::vector<UserEvent> take_events() { return session_.take_events(); }
  std::vector<LogRecord> take_logs() { return session_.take_logs(); }
  [[nodiscard]] std::optional<int> exit_status() const { return session_.exit_status(); }

  [[nodiscard]] ClientSession& session() { return session_; }
  [[nodiscard]] const ClientSession& session() const { return session_; }
  [[nodiscard]] const ServerLink& link() const { return link_; }
  [[nodiscard]] ServerLink& link() { return link_; }
  /// A server key learnt at first contact and proved, to pin (once).
  [[nodiscard]] std::optional<crypto::Key> take_new_pin() { return link_.take_new_pin(); }

 private:
  void forward(TimePoint now);
  /// The session moved to another server of its cluster: the link follows.
  void follow_server();
  void received(const ServerLink::Received& r, TimePoint now);

  ClientSession session_;
  ServerLink link_;
  Endpoint server_;
  std::string known_servers_;
  std::uint64_t last_register_id_ = 0;
  std::vector<Outgoing> out_;
};

}  // namespace udpchat
