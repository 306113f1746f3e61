// server_gate.hpp: the server's side of the secure sessions (manual §9;
// docs/SECURITY.md). Every datagram from a client passes the gate before
// ServerCore sees it, and every datagram to a client is sealed by it.
//
// Sans-I/O like the core: `open` takes (bytes, source, now) and returns the
// plaintext of an authenticated datagram with the client's public key,
// appending the handshake frames it answers with to `out`; `seal` turns a
// plaintext for a client into a Sealed frame. It never throws.
//
// The exchange (frames.hpp):
//   Hello  ->                    a 96-byte Hello from an unvalidated source
//          <- Retry              73 bytes: an address cookie (cookie.hpp) and the server key
//   Init   ->                    cookie + Noise IK message 1 (payload: timestamp)
//          <- Accept             Noise IK message 2 (payload: session id, reset token)
//   Sealed <->                   ChaCha20-Poly1305 under the session's keys, RFC 6479 window
//          <- Reset              17 bytes, when a Sealed names a session the server lost
// The server sends an unvalidated source at most one Retry per Hello, which
// is smaller than the Hello (no amplification: QUIC RFC 9000 section 8.1,
// DTLS 1.3 RFC 9147 section 5.1). It spends an X25519 only on an Init whose
// cookie proves the source receives at its address, and within a global
// budget of handshakes per second. Message 1 carries the client's clock
// (WireGuard's TAI64N timestamp, Donenfeld, NDSS 2017, section 5.1): an
// Init replayed later is refused. The Init's arithmetic (five X25519) is
// handed out as a HandshakeJob (handshake_jobs.hpp) and its outcome comes
// back to on_handshake_done: the shell runs it on a worker thread, so the
// event loop goes on with other clients' datagrams meanwhile. The reset token of a client is a
// keyed BLAKE2b of its key and address under a key derived from the server's own secret key, so a
// restarted server can still prove it is the server that lost the session (QUIC's stateless reset,
// RFC 9000 section 10.3).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/base/time.hpp"
#include "core/reliable/reliable.hpp"
#include "core/session/handshake_jobs.hpp"
#include "core/session/rate_limit.hpp"
#include "crypto/cookie.hpp"
#include "crypto/noise.hpp"
#include "crypto/replay_window.hpp"
#include "crypto/sodium.hpp"
#include "protocol/frames.hpp"
#include "protocol/limits.hpp"

namespace udpchat {

struct GateConfig {
  double rate_limit = kDefaultRateLimit;              ///< datagrams per second per source
  double handshake_rate = kDefaultHandshakeRate;      ///< handshakes per second, all sources
  double handshake_burst = kHandshakeBurst;           ///< handshakes at once, all sources
  std::size_t max_sessions = 2 * kDefaultMaxClients;  ///< handshakes refused beyond
};

class ServerGate {
 public:
  /// `server`: the server's long-term pair; `random`: nonces, cookie
  /// secret, session ids and ephemeral keys.
  ServerGate(const crypto::KeyPair& server, GateConfig config, crypto::RandomSource random);

  /// An authenticated datagram: its plaintext and the client's public key.
  struct Opened {
    std::string plaintext;
    crypto::Key client_key{};
  };
  /// One datagram from `from`. Returns the plaintext of a Sealed frame that
  /// authenticated on the session of `from`; handshake answers (Retry,
  /// Accept, Reset) are appended to `out`. Anything else is dropped and
  /// counted by cause (drop_counts()).
  [[nodiscard]] std::optional<Opened> open(std::string_view bytes, const Endpoint& from,
                                           TimePoint now, std::vector<Outgoing>& out);
  /// The Sealed frame carrying `plaintext` to the session at `to`; nullopt
  /// when there is none (the client is sent a Reset, at most once per
  /// kResetInterval, if `key_lookup` knows its key, so that it makes a new
  /// session and the reliable layer's next try gets through).
  [[nodiscard]] std::optional<std::string> seal(const Endpoint& to, std::string_view plaintext,
                                                TimePoint now, std::vector<Outgoing>& out);
  /// With `on`, an Init's arithmetic is the caller's: open() queues it as
  /// a job (take_handshake_jobs), and the Accept goes out when its outcome
  /// comes back (on_handshake_done). Off (the default) open() answers it
  /// at once.
  void offload_handshakes(bool on) { offload_ = on; }
  /// The Inits waiting to be answered, as jobs to run (run_handshake_job
  /// with handshake_keys()), in the order they came.
  [[nodiscard]] std::vector<HandshakeJob> take_handshake_jobs() { return std::exchange(jobs_, {}); }
  /// A job's outcome: the session is made and its Accept appended to
  /// `out`, unless the outcome failed or the gate's state refuses it now
  /// (a replayed timestamp, the session table full), which is counted
  /// like a dropped datagram (last_drop()). Outcomes of tickets the gate
  /// does not hold are ignored.
  void on_handshake_done(const HandshakeOutcome& outcome, TimePoint now,
                         std::vector<Outgoing>& out);
  /// Runs every job waiting, here and now, with the gate's own random
  /// source (tests, the simulation, a server without a worker).
  void answer_handshakes(TimePoint now, std::vector<Outgoing>& out);
  /// What a worker needs to run the gate's jobs.
  [[nodiscard]] const HandshakeKeys& handshake_keys() const { return keys_; }
  /// Jobs handed out whose outcome has not come back.
  [[nodiscard]] std::size_t handshakes_in_flight() const { return in_flight_.size(); }
  /// At most this many handshakes wait for their outcome; Inits beyond
  /// are dropped as over the handshake budget (the client tries again).
  static constexpr std::size_t kMaxHandshakesInFlight = 16384;

  /// Tells the gate how to find the key of the client registered at an
  /// address (ServerCore::key_at), for Reset frames.
  void set_key_lookup(std::function<std::optional<crypto::Key>(const Endpoint&)> lookup) {
    key_lookup_ = std::move(lookup);
  }
  /// For tests and the simulation: called with every Sealed frame made and
  /// the plaintext in it (a fault injector that drops by message kind).
  std::function<void(std::string_view frame, std::string_view plaintext)> on_seal;

  /// Forgets sessions idle for kSessionIdle and old handshake timestamps;
  /// call about once a second.
  void sweep(TimePoint now);

  [[nodiscard]] const crypto::Key& public_key() const { return keys_.server.public_key; }
  [[nodiscard]] std::size_t sessions() const { return sessions_.size(); }
  /// Datagrams dropped by cause ("unsealed", "rate_limited", "bad_cookie",
  /// "handshake_budget", "bad_handshake", "replayed_handshake",
  /// "sessions_full", "no_session", "replayed", "bad_seal", "bad_frame").
  [[nodiscard]] const std::map<std::string, std::uint64_t>& drop_counts() const { return drops_; }
  /// Events by kind ("hello", "retry", "handshake", "accept_resent",
  /// "init_pending": an Init resent while its job runs, "reset").
  [[nodiscard]] const std::map<std::string, std::uint64_t>& counts() const { return counts_; }
  /// The cause of the last datagram `open` dropped (for the core's stats).
  [[nodiscard]] const char* last_drop() const { return last_drop_; }

  /// Minimum spacing of Reset frames to one address.
  static constexpr Duration kResetInterval = std::chrono::milliseconds(100);
  /// A handshake's timestamp is remembered this long (an Init is only
  /// accepted with a cookie, which lives at most two cookie periods).
  static constexpr Duration kTimestampMemory = 2 * kCookiePeriod + std::chrono::seconds(10);

 private:
  struct Session {
    Endpoint endpoint;
    crypto::Key client_key{};
    crypto::Key receive{};  ///< client -> server
    crypto::Key send{};     ///< server -> client
    crypto::ReplayWindow window;
    std::uint64_t next_counter = 0;
    TimePoint last_heard{};
    crypto::Key init_ephemeral{};  ///< message 1's e: its retransmission gets `accept` again
    std::string accept;
    TokenBucket budget{kDefaultRateLimit, kDefaultRateLimit* kRateBurstFactor};
  };
  /// A job handed out: where its Init came from, its ephemeral key (a
  /// resend is recognised by it) and the session id it was given.
  struct InFlight {
    Endpoint from;
    crypto::Key init_ephemeral{};
    std::uint64_t session = 0;
  };
  struct Stamp {
    std::uint64_t timestamp = 0;
    TimePoint seen{};
  };

  const char* drop(const char* cause);
  void on_hello(const HelloFrame& f, const Endpoint& from, TimePoint now,
                std::vector<Outgoing>& out);
  void on_init(const InitFrame& f, const Endpoint& from, TimePoint now, std::vector<Outgoing>& out);
  std::optional<Opened> on_sealed(const SealedFrame& f, const Endpoint& from, TimePoint now,
                                  std::vector<Outgoing>& out);
  void send_reset(const Endpoint& to, TimePoint now, std::vector<Outgoing>& out);
  [[nodiscard]] std::uint64_t cookie_period(TimePoint now) const;
  void close_session(std::uint64_t id);

  HandshakeKeys keys_;
  GateConfig config_;
  crypto::RandomSource random_;
  crypto::AddressValidator cookies_;
  RateLimiter per_source_;
  TokenBucket handshakes_;
  std::unordered_map<std::uint64_t, Session> sessions_;  ///< by session id
  std::unordered_map<Endpoint, std::uint64_t, EndpointHash> by_endpoint_;
  std::unordered_map<std::string, Stamp> stamps_;          ///< by client key (raw bytes)
  std::vector<HandshakeJob> jobs_;                         ///< not yet taken
  std::unordered_map<std::uint64_t, InFlight> in_flight_;  ///< by ticket
  std::unordered_map<Endpoint, std::uint64_t, EndpointHash> in_flight_at_;  ///< latest ticket
  std::uint64_t last_ticket_ = 0;
  bool offload_ = false;
  std::unordered_map<Endpoint, TimePoint, EndpointHash> last_reset_;
  std::function<std::optional<crypto::Key>(const Endpoint&)> key_lookup_;
  std::map<std::string, std::uint64_t> drops_;
  std::map<std::string, std::uint64_t> counts_;
  const char* last_drop_ = "";
};

}  // namespace udpchat
