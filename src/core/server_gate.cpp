// server_gate.cpp: handshakes, sealing and opening on the server (see
// server_gate.hpp for the exchange and its sources).
#include "core/server_gate.hpp"

#include <algorithm>
#include <cstring>

namespace udpchat {
namespace {

using crypto::Bytes;
using crypto::ByteView;
using crypto::Key;

static_assert(kFrameCookieBytes == crypto::kCookieBytes);
static_assert(kFrameKeyBytes == crypto::kKeyBytes);

/// Message 1's payload: the client's clock, 8 bytes.
constexpr std::size_t kInitPayloadBytes = 8;
/// Message 2's payload: session id 8, reset token 16.
constexpr std::size_t kAcceptPayloadBytes = 8 + kResetTokenBytes;
/// Noise message 1 starts with the initiator's ephemeral public key.
constexpr std::size_t kEphemeralBytes = 32;

ByteView view(std::string_view s) {
  return crypto::as_bytes(s);
}
std::string text(const Bytes& b) {
  return {b.begin(), b.end()};
}
std::string key_text(const Key& k) {
  return {k.begin(), k.end()};
}

}  // namespace

ResetToken reset_token(const Key& reset_key, const Key& client_key, const Endpoint& at) {
  std::string data = "reset";
  data.append(client_key.begin(), client_key.end());
  data += at.to_string();
  ResetToken token{};
  crypto::keyed_hash(reset_key, view(data), token);
  return token;
}

ServerGate::ServerGate(const crypto::KeyPair& server, GateConfig config,
                       crypto::RandomSource random)
    : server_(server),
      config_(config),
      random_(std::move(random)),
      cookies_(random_),
      per_source_(config.rate_limit, config.rate_limit * kRateBurstFactor, kMaxRateBuckets),
      handshakes_(config.handshake_rate, std::max(config.handshake_burst, 1.0)) {
  crypto::keyed_hash(server_.secret_key, crypto::as_bytes("udpchat reset key v1"), reset_key_);
}

const char* ServerGate::drop(const char* cause) {
  ++drops_[cause];
  last_drop_ = cause;
  return cause;
}

std::uint64_t ServerGate::cookie_period(TimePoint now) const {
  return static_cast<std::uint64_t>(now.time_since_epoch() / kCookiePeriod);
}

std::optional<ServerGate::Opened> ServerGate::open(std::string_view bytes, const Endpoint& from,
                                                   TimePoint now, std::vector<Outgoing>& out) {
  last_drop_ = "";
  // A Sealed frame of this address's session is charged to that session
  // once it authenticated (on_sealed): a spoofer of the address cannot
  // drain its owner's budget. Everything else is charged to the source.
  const bool sealed_here = !bytes.empty() &&
                           static_cast<FrameType>(bytes[0]) == FrameType::kSealed &&
                           by_endpoint_.contains(from);
  if (!sealed_here && !per_source_.allow(from, now)) {
    drop("rate_limited");
    return std::nullopt;
  }
  if (!looks_like_frame(bytes)) {
    drop("unsealed");
    return std::nullopt;
  }
  auto frame = decode_frame(bytes);
  if (!frame) {
    drop("bad_frame");
    return std::nullopt;
  }
  if (const auto* f = std::get_if<SealedFrame>(&*frame)) return on_sealed(*f, from, now, out);
  if (const auto* f = std::get_if<HelloFrame>(&*frame)) {
    on_hello(*f, from, now, out);
  } else if (const auto* i = std::get_if<InitFrame>(&*frame)) {
    on_init(*i, from, now, out);
  } else {
    drop("bad_frame");  // Retry, Accept and Reset go to clients only
  }
  return std::nullopt;
}

void ServerGate::on_hello(const HelloFrame& f, const Endpoint& from, TimePoint now,
                          std::vector<Outgoing>& out) {
  ++counts_["hello"];
  RetryFrame r;
  r.nonce = f.nonce;
  const Bytes cookie = cookies_.issue(from.to_string(), cookie_period(now));
  std::copy(cookie.begin(), cookie.end(), r.cookie.begin());
  r.server_key = server_.public_key;
  out.push_back({from, encode_retry(r)});
  ++counts_["retry"];
}

void ServerGate::on_init(const InitFrame& f, const Endpoint& from, TimePoint now,
                         std::vector<Outgoing>& out) {
  if (!cookies_.valid(f.cookie, from.to_string(), cookie_period(now))) {
    drop("bad_cookie");
    return;
  }
  // A retransmitted Init (its Accept was lost) gets the same Accept again,
  // without another X25519.
  if (const auto at = by_endpoint_.find(from); at != by_endpoint_.end()) {
    const Session& s = sessions_.at(at->second);
    if (f.handshake.size() >= kEphemeralBytes &&
        std::memcmp(s.init_ephemeral.data(), f.handshake.data(), kEphemeralBytes) == 0) {
      out.push_back({from, s.accept});
      ++counts_["accept_resent"];
      return;
    }
  }
  if (!handshakes_.take(now)) {
    drop("handshake_budget");
    return;
  }
  auto noise = crypto::NoiseIK::responder(server_, view(kNoisePrologue));
  const auto payload = noise.read_message1(view(f.handshake));
  if (!payload || payload->size() != kInitPayloadBytes) {
    drop("bad_handshake");
    return;
  }
  const Key client_key = noise.remote_static();
  const std::uint64_t timestamp = get_u64(text(*payload), 0);
  auto& stamp = stamps_[key_text(client_key)];
  if (stamp.timestamp != 0 && timestamp <= stamp.timestamp) {
    drop("replayed_handshake");
    return;
  }
  const auto previous = by_endpoint_.find(from);
  if (previous == by_endpoint_.end() && sessions_.size() >= config_.max_sessions) {
    drop("sessions_full");
    return;
  }
  std::uint64_t id = 0;
  while (id == 0 || sessions_.contains(id)) {
    std::array<std::uint8_t, 8> raw{};
    random_(raw);
    std::memcpy(&id, raw.data(), raw.size());
  }
  std::string reply_payload;
  put_u64(reply_payload, id);
  const ResetToken token = reset_token(reset_key_, client_key, from);
  reply_payload.append(token.begin(), token.end());
  const auto ephemeral = crypto::generate_keypair(random_);
  const auto message2 = noise.write_message2(ephemeral, view(reply_payload));
  if (!message2) {
    drop("bad_handshake");  // the client's ephemeral key is of small order
    return;
  }
  stamp = Stamp{timestamp, now};
  if (previous != by_endpoint_.end()) close_session(previous->second);
  const auto keys = noise.split();
  Session s;
  s.budget = TokenBucket(config_.rate_limit, config_.rate_limit * kRateBurstFactor);
  s.endpoint = from;
  s.client_key = client_key;
  s.receive = keys.initiator_to_responder;
  s.send = keys.responder_to_initiator;
  s.last_heard = now;
  std::memcpy(s.init_ephemeral.data(), f.handshake.data(), kEphemeralBytes);
  s.accept = encode_accept(text(*message2));
  out.push_back({from, s.accept});
  sessions_.emplace(id, std::move(s));
  by_endpoint_[from] = id;
  ++counts_["handshake"];
}

std::optional<ServerGate::Opened> ServerGate::on_sealed(const SealedFrame& f, const Endpoint& from,
                                                        TimePoint now, std::vector<Outgoing>& out) {
  const auto it = sessions_.find(f.session);
  if (it == sessions_.end() || it->second.endpoint != from) {
    drop("no_session");
    // A Reset only when that address has no session at all: else anyone
    // could make a live client start over by naming a wrong session id
    // from its address.
    if (!by_endpoint_.contains(from)) send_reset(from, now, out);
    return std::nullopt;
  }
  Session& s = it->second;
  if (!s.window.fresh(f.counter)) {
    drop("replayed");
    return std::nullopt;
  }
  auto plain = crypto::aead_open(s.receive, f.counter, view(f.header), view(f.ciphertext));
  if (!plain) {
    drop("bad_seal");
    return std::nullopt;
  }
  s.window.accept(f.counter);
  s.last_heard = now;
  if (!s.budget.take(now)) {
    drop("rate_limited");
    return std::nullopt;
  }
  return Opened{text(*plain), s.client_key};
}

std::optional<std::string> ServerGate::seal(const Endpoint& to, std::string_view plaintext,
                                            TimePoint now, std::vector<Outgoing>& out) {
  const auto at = by_endpoint_.find(to);
  if (at == by_endpoint_.end()) {
    ++drops_["no_session_out"];
    send_reset(to, now, out);
    return std::nullopt;
  }
  Session& s = sessions_.at(at->second);
  const std::uint64_t counter = s.next_counter++;
  std::string frame = sealed_header(at->second, counter);
  Bytes sealed;
  sealed.reserve(plaintext.size() + crypto::kAeadTagBytes);
  crypto::aead_seal(s.send, counter, view(frame), view(plaintext), sealed);
  frame.append(sealed.begin(), sealed.end());
  if (on_seal) on_seal(frame, plaintext);
  return frame;
}

void ServerGate::send_reset(const Endpoint& to, TimePoint now, std::vector<Outgoing>& out) {
  if (!key_lookup_) return;
  const auto key = key_lookup_(to);
  if (!key) return;
  auto& last = last_reset_[to];
  if (last != TimePoint{} && now - last < kResetInterval) return;
  last = now;
  out.push_back({to, encode_reset(reset_token(reset_key_, *key, to))});
  ++counts_["reset"];
}

void ServerGate::close_session(std::uint64_t id) {
  const auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  if (const auto e = by_endpoint_.find(it->second.endpoint);
      e != by_endpoint_.end() && e->second == id) {
    by_endpoint_.erase(e);
  }
  crypto::wipe(it->second.receive);
  crypto::wipe(it->second.send);
  sessions_.erase(it);
}

void ServerGate::sweep(TimePoint now) {
  std::vector<std::uint64_t> idle;
  for (const auto& [id, s] : sessions_) {
    if (now - s.last_heard >= kSessionIdle) idle.push_back(id);
  }
  for (const auto id : idle) close_session(id);
  std::erase_if(stamps_, [&](const auto& e) { return now - e.second.seen >= kTimestampMemory; });
  std::erase_if(last_reset_, [&](const auto& e) { return now - e.second >= kResetInterval; });
}

}  // namespace udpchat
