// handshake_jobs.hpp: the server's half of a Noise IK handshake, handed out
// of the event loop.
//
// Answering an Init costs the server five X25519 operations (four
// Diffie-Hellman and its ephemeral key), about 150 us here: in a storm of
// registrations they are most of the event loop's time, and every datagram
// queued behind them waits. Like the password work (password_jobs.hpp),
// the gate hands the work out as values (ServerGate::take_handshake_jobs)
// and is told the outcome (ServerGate::on_handshake_done); what needs the
// gate's state (the cookie, the budget, the replay of a timestamp, the
// session table) stays on the loop, before and after. The server shell runs
// jobs on a worker thread (src/app/job_worker.hpp); tests and the
// simulation run them inline, or later to model a busy worker.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/noise.hpp"
#include "crypto/sodium.hpp"
#include "protocol/endpoint.hpp"
#include "protocol/frames.hpp"

namespace udpchat {

/// The Noise prologue both sides hash: a handshake of another protocol or
/// version cannot be taken for one of ours.
inline constexpr std::string_view kNoisePrologue = "udpchat session v1";

/// What a handshake job needs of the server: its long-term pair and the key
/// its reset tokens are made with (ServerGate keeps both; the worker its
/// own copy).
struct HandshakeKeys {
  crypto::KeyPair server;
  crypto::Key reset_key{};
};

/// One Init to answer: Noise IK message 1 `message1` from `from`, to be
/// given the session id `session` (chosen on the loop, unused there).
/// `ticket` numbers jobs 1, 2, 3...
struct HandshakeJob {
  std::uint64_t ticket = 0;
  Endpoint from;
  std::string message1;
  std::uint64_t session = 0;
};

/// A job's outcome. `ok` false: message 1 did not authenticate (a wrong
/// server key, modified bytes, a payload of the wrong size) or a key was of
/// small order; nothing else is set then. Otherwise the client's key and
/// clock, the transport keys and the Accept frame to send (Noise message 2,
/// payload: session id and reset token).
struct HandshakeOutcome {
  std::uint64_t ticket = 0;
  bool ok = false;
  crypto::Key client_key{};
  std::uint64_t timestamp = 0;  ///< ns since the Unix epoch, the client's clock
  crypto::TransportKeys keys{};
  std::string accept;
};

/// Message 1's payload: the client's clock, 8 bytes.
inline constexpr std::size_t kInitPayloadBytes = 8;

/// The reset token of the client with public key `client_key` at `at`,
/// under the server's `reset_key`: a keyed BLAKE2b, so a restarted server
/// can make it again (QUIC's stateless reset, RFC 9000 section 10.3).
[[nodiscard]] ResetToken reset_token(const crypto::Key& reset_key, const crypto::Key& client_key,
                                     const Endpoint& at);

/// Answers `job` (blocking, about 150 us: on a worker thread, or inline):
/// reads message 1, writes message 2 with a fresh ephemeral key from
/// `random`. Touches nothing but its arguments, so any thread may run it.
[[nodiscard]] HandshakeOutcome run_handshake_job(const HandshakeJob& job, const HandshakeKeys& keys,
                                                 const crypto::RandomSource& random);

}  // namespace udpchat
