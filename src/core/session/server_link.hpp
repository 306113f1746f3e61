// server_link.hpp: the client's side of the secure session with its server
// (manual §9; docs/SECURITY.md; the exchange is drawn in server_gate.hpp).
//
// Sans-I/O: `send` takes a plaintext for the server and gives the frames to
// put on the wire (a Sealed frame once the session is up; before that the
// plaintext is dropped and the handshake frame due goes out instead: the
// caller sends again, once kEstablished says so, what it still wants sent);
// `on_frame` takes a frame from the server's address and returns what it
// meant. The link has no timer of its own: the reliable layer above
// retransmits its requests, and each try drives the handshake one step
// (a Hello or Init resent, at most once per kResendSpacing).
//
// The server's key: the one pinned (known_servers, --server-key) or, at
// first contact, the one the Retry names (trust on first use, as ssh). A
// Retry naming another key than the pinned one ends the link with
// kKeyChanged. A key learnt at first contact is pinned (take_new_pin) only
// once a handshake with it completed, that is, once the server proved it
// holds the secret key.
//
// With a pinned key the link writes its message 1 ahead, when it is made
// (prepare): the Noise IK initiator's first message depends only on the
// two sides' keys and the client's clock, not on anything the server
// sends, so three of the initiator's five X25519 operations are done
// before the Hello goes out rather than between the Retry and the Init.
// WireGuard likewise precomputes each peer's static-static DH
// (Donenfeld, NDSS 2017, section 5.4.2). A prepared message is used once.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/time.hpp"
#include "crypto/noise.hpp"
#include "crypto/replay_window.hpp"
#include "crypto/sodium.hpp"
#include "protocol/frames.hpp"

namespace udpchat {

class ServerLink {
 public:
  /// `self`: the client's long-term pair; `pinned`: the server key it
  /// trusts, if any; `random`: nonces and ephemeral keys; `clock_ns`: wall
  /// clock in ns since the Unix epoch, for message 1's timestamp (made
  /// strictly increasing here).
  ServerLink(const crypto::KeyPair& self, std::optional<crypto::Key> pinned,
             crypto::RandomSource random, std::function<std::uint64_t()> clock_ns);

  /// With a pinned key and no message 1 written ahead yet: writes the next
  /// handshake's message 1 now (its ephemeral key and timestamp), for the
  /// next Retry naming that key. Nothing is sent. The constructor calls it.
  void prepare();

  /// Seals `plaintext` for the server; before the session is up, drops it
  /// and drives the handshake instead. Frames to send are appended to `out`.
  void send(std::string_view plaintext, TimePoint now, std::vector<std::string>& out);
  /// Forgets the session: the next send makes a new one (a new
  /// registration attempt does this, so a server that lost the client is
  /// met with a fresh handshake).
  void restart();

  enum class Event : std::uint8_t {
    kNone,         ///< dropped, or a handshake step
    kAnswered,     ///< the server answered our Hello (a Retry): it is there
    kPlaintext,    ///< `plaintext` holds an authenticated datagram
    kEstablished,  ///< the session is up: send again what waited for it
    kReset,        ///< the server lost the session; a new handshake began
    kKeyChanged,   ///< the server named another key than the pinned one
  };
  struct Received {
    Event event = Event::kNone;
    std::string plaintext;
  };
  /// One datagram from the server's address; frames to send go to `out`.
  [[nodiscard]] Received on_frame(std::string_view bytes, TimePoint now,
                                  std::vector<std::string>& out);

  /// A server key learnt at first contact and proved by a handshake, to be
  /// written to known_servers (once).
  [[nodiscard]] std::optional<crypto::Key> take_new_pin() { return std::exchange(new_pin_, {}); }
  /// The key the last Retry named when it differed from the pinned one.
  [[nodiscard]] const std::optional<crypto::Key>& offered_key() const { return offered_; }
  [[nodiscard]] bool established() const { return state_ == State::kEstablished; }
  /// Datagrams from the server dropped (forged, replayed, unexpected).
  [[nodiscard]] std::uint64_t dropped() const { return dropped_; }

  /// For tests and the simulation: called with every Sealed frame made and
  /// the plaintext in it.
  std::function<void(std::string_view frame, std::string_view plaintext)> on_seal;

  /// A handshake frame is resent at most this often.
  static constexpr Duration kResendSpacing = std::chrono::milliseconds(50);
  /// An Init unanswered this long starts over with a Hello (its cookie may
  /// have expired).
  static constexpr Duration kInitPatience = std::chrono::seconds(10);

 private:
  enum class State : std::uint8_t { kIdle, kHelloSent, kInitSent, kEstablished, kFailed };

  void drive(TimePoint now, std::vector<std::string>& out);
  void send_hello(TimePoint now, std::vector<std::string>& out);
  void seal(std::string_view plaintext, std::vector<std::string>& out);
  Received on_retry(const RetryFrame& f, TimePoint now, std::vector<std::string>& out);
  Received on_accept(const AcceptFrame& f);
  Received on_sealed(const SealedFrame& f);
  Received on_reset(const ResetFrame& f, TimePoint now, std::vector<std::string>& out);

  /// Message 1 written for `server_key`, its handshake state and the
  /// timestamp it carries.
  struct Message1 {
    crypto::Key server_key{};
    crypto::NoiseIK noise;
    std::string message;
  };
  [[nodiscard]] std::optional<Message1> write_message1(const crypto::Key& server_key);

  crypto::KeyPair self_;
  std::optional<crypto::Key> pinned_;
  std::optional<Message1> prepared_;
  crypto::RandomSource random_;
  std::function<std::uint64_t()> clock_ns_;
  std::uint64_t last_timestamp_ = 0;

  State state_ = State::kIdle;
  FrameNonce nonce_{};
  std::optional<crypto::NoiseIK> noise_;
  std::string init_;  ///< the Init frame in flight (resent as is)
  TimePoint last_sent_{};
  TimePoint init_since_{};
  std::optional<crypto::Key> candidate_;  ///< key from a Retry, not yet proved
  std::optional<crypto::Key> new_pin_;
  std::optional<crypto::Key> offered_;

  std::uint64_t session_ = 0;
  crypto::Key send_key_{};
  crypto::Key receive_key_{};
  std::uint64_t next_counter_ = 0;
  crypto::ReplayWindow window_;
  std::optional<ResetToken> reset_token_;  ///< of the last session (survives restart())
  std::uint64_t dropped_ = 0;
};

}  // namespace udpchat
