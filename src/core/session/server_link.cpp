// server_link.cpp: the client's handshake and session (see server_link.hpp).
#include "core/session/server_link.hpp"

#include <algorithm>

#include "core/session/server_gate.hpp"

namespace udpchat {
namespace {

using crypto::Bytes;
using crypto::ByteView;

ByteView view(std::string_view s) {
  return crypto::as_bytes(s);
}
std::string text(const Bytes& b) {
  return {b.begin(), b.end()};
}

}  // namespace

ServerLink::ServerLink(const crypto::KeyPair& self, std::optional<crypto::Key> pinned,
                       crypto::RandomSource random, std::function<std::uint64_t()> clock_ns)
    : self_(self), pinned_(pinned), random_(std::move(random)), clock_ns_(std::move(clock_ns)) {
  prepare();
}

void ServerLink::prepare() {
  if (pinned_ && !prepared_ && state_ != State::kFailed) prepared_ = write_message1(*pinned_);
}

std::optional<ServerLink::Message1> ServerLink::write_message1(const crypto::Key& server_key) {
  auto noise = crypto::NoiseIK::initiator(self_, server_key, view(kNoisePrologue));
  last_timestamp_ = std::max(last_timestamp_ + 1, clock_ns_());
  std::string payload;
  put_u64(payload, last_timestamp_);
  const auto ephemeral = crypto::generate_keypair(random_);
  const auto message1 = noise.write_message1(ephemeral, view(payload));
  if (!message1) return std::nullopt;  // a server key of small order
  return Message1{server_key, std::move(noise), text(*message1)};
}

void ServerLink::restart() {
  if (state_ == State::kFailed) return;
  state_ = State::kIdle;
  noise_.reset();
  session_ = 0;
  crypto::wipe(send_key_);
  crypto::wipe(receive_key_);
}

void ServerLink::send(std::string_view plaintext, TimePoint now, std::vector<std::string>& out) {
  if (state_ == State::kFailed) {
    ++dropped_;
    return;
  }
  if (state_ == State::kEstablished) {
    seal(plaintext, out);
    return;
  }
  // Not kept: the reliable layer above sends its requests again once the
  // session is up (kEstablished), and only those it still wants; a queue
  // here would send a request it gave up meanwhile, reported "not sent".
  drive(now, out);
}

void ServerLink::drive(TimePoint now, std::vector<std::string>& out) {
  switch (state_) {
    case State::kIdle:
      send_hello(now, out);
      break;
    case State::kHelloSent:
      if (now - last_sent_ >= kResendSpacing) send_hello(now, out);
      break;
    case State::kInitSent:
      if (now - init_since_ >= kInitPatience) {
        state_ = State::kIdle;
        send_hello(now, out);
      } else if (now - last_sent_ >= kResendSpacing) {
        out.push_back(init_);
        last_sent_ = now;
      }
      break;
    case State::kEstablished:
    case State::kFailed:
      break;
  }
}

void ServerLink::send_hello(TimePoint now, std::vector<std::string>& out) {
  if (state_ != State::kHelloSent) {
    random_(nonce_);  // a new nonce per attempt; resends keep it
    state_ = State::kHelloSent;
  }
  out.push_back(encode_hello(nonce_));
  last_sent_ = now;
}

void ServerLink::seal(std::string_view plaintext, std::vector<std::string>& out) {
  const std::uint64_t counter = next_counter_++;
  std::string frame = sealed_header(session_, counter);
  Bytes sealed;
  sealed.reserve(plaintext.size() + crypto::kAeadTagBytes);
  crypto::aead_seal(send_key_, counter, view(frame), view(plaintext), sealed);
  frame.append(sealed.begin(), sealed.end());
  if (on_seal) on_seal(frame, plaintext);
  out.push_back(std::move(frame));
}

ServerLink::Received ServerLink::on_frame(std::string_view bytes, TimePoint now,
                                          std::vector<std::string>& out) {
  const auto frame = decode_frame(bytes);
  if (!frame || state_ == State::kFailed) {
    ++dropped_;
    return {};
  }
  if (const auto* f = std::get_if<SealedFrame>(&*frame)) return on_sealed(*f);
  if (const auto* f = std::get_if<RetryFrame>(&*frame)) return on_retry(*f, now, out);
  if (const auto* f = std::get_if<AcceptFrame>(&*frame)) return on_accept(*f);
  if (const auto* f = std::get_if<ResetFrame>(&*frame)) return on_reset(*f, now, out);
  ++dropped_;  // Hello and Init go to servers only
  return {};
}

ServerLink::Received ServerLink::on_retry(const RetryFrame& f, TimePoint now,
                                          std::vector<std::string>& out) {
  if (state_ != State::kHelloSent || !crypto::equal(f.nonce, nonce_)) {
    ++dropped_;  // not an answer to our Hello (late, or forged off-path)
    return {};
  }
  if (pinned_ && !crypto::equal(*pinned_, f.server_key)) {
    offered_ = f.server_key;
    state_ = State::kFailed;
    return {Event::kKeyChanged, {}};
  }
  candidate_ = f.server_key;
  // The message written ahead if it is for this key, else one now.
  auto message1 = std::exchange(prepared_, std::nullopt);
  if (!message1 || !crypto::equal(message1->server_key, f.server_key)) {
    message1 = write_message1(f.server_key);
  }
  if (!message1) {
    ++dropped_;  // a server key of small order: nothing can be agreed with it
    noise_.reset();
    return {};
  }
  noise_ = std::move(message1->noise);
  init_ = encode_init(f.cookie, message1->message);
  state_ = State::kInitSent;
  init_since_ = now;
  last_sent_ = now;
  out.push_back(init_);
  return {Event::kAnswered, {}};
}

ServerLink::Received ServerLink::on_accept(const AcceptFrame& f) {
  if (state_ != State::kInitSent || !noise_) {
    ++dropped_;
    return {};
  }
  // Read on a copy: a stale or forged Accept must not spoil the handshake
  // the genuine one completes.
  crypto::NoiseIK attempt = *noise_;
  const auto payload = attempt.read_message2(view(f.handshake));
  if (!payload || payload->size() != 8 + kResetTokenBytes) {
    ++dropped_;
    return {};
  }
  const std::string p = text(*payload);
  session_ = get_u64(p, 0);
  ResetToken token{};
  std::copy(p.begin() + 8, p.end(), token.begin());
  reset_token_ = token;
  const auto keys = attempt.split();
  send_key_ = keys.initiator_to_responder;
  receive_key_ = keys.responder_to_initiator;
  next_counter_ = 0;
  window_ = crypto::ReplayWindow{};
  noise_.reset();
  state_ = State::kEstablished;
  if (!pinned_ && candidate_) {
    pinned_ = candidate_;
    new_pin_ = candidate_;
  }
  return {Event::kEstablished, {}};
}

ServerLink::Received ServerLink::on_sealed(const SealedFrame& f) {
  if (state_ != State::kEstablished || f.session != session_ || !window_.fresh(f.counter)) {
    ++dropped_;
    return {};
  }
  auto plain = crypto::aead_open(receive_key_, f.counter, view(f.header), view(f.ciphertext));
  if (!plain) {
    ++dropped_;
    return {};
  }
  window_.accept(f.counter);
  return {Event::kPlaintext, text(*plain)};
}

ServerLink::Received ServerLink::on_reset(const ResetFrame& f, TimePoint now,
                                          std::vector<std::string>& out) {
  if (!reset_token_ || !crypto::equal(f.token, *reset_token_)) {
    ++dropped_;
    return {};
  }
  switch (state_) {
    case State::kEstablished:
      // The server lost the session (it restarted, or forgot it idle):
      // a new one, and what the session sends next goes on it.
      state_ = State::kIdle;
      noise_.reset();
      session_ = 0;
      crypto::wipe(send_key_);
      crypto::wipe(receive_key_);
      send_hello(now, out);
      return {Event::kReset, {}};
    case State::kHelloSent:
      // The server is back (a Reset proves it): try at once rather than
      // at the next retransmission.
      send_hello(now, out);
      return {Event::kReset, {}};
    case State::kIdle:
    case State::kInitSent:
    case State::kFailed:
      break;
  }
  ++dropped_;
  return {};
}

}  // namespace udpchat
