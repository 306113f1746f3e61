// server_gate.cpp: handshakes, sealing and opening on the server (see
// server_gate.hpp for the exchange and its sources).
#include "core/session/server_gate.hpp"

#include <algorithm>
#include <cstring>

namespace udpchat {
namespace {

using crypto::Bytes;
using crypto::ByteView;
using crypto::Key;

static_assert(kFrameCookieBytes == crypto::kCookieBytes);
static_assert(kFrameKeyBytes == crypto::kKeyBytes);

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

ServerGate::ServerGate(const crypto::KeyPair& server, GateConfig config,
                       crypto::RandomSource random)
    : config_(config),
      random_(std::move(random)),
      cookies_(random_),
      per_source_(config.rate_limit, config.rate_limit * kRateBurstFactor, kMaxRateBuckets),
      handshakes_(config.handshake_rate, std::max(config.handshake_burst, 1.0)) {
  keys_.server = server;
  crypto::keyed_hash(server.secret_key, crypto::as_bytes("udpchat reset key v1"), keys_.reset_key);
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
    if (!offload_) answer_handshakes(now, out);
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
  r.server_key = keys_.server.public_key;
  out.push_back({from, encode_retry(r)});
  ++counts_["retry"];
}

void ServerGate::on_init(const InitFrame& f, const Endpoint& from, TimePoint now,
                         std::vector<Outgoing>& out) {
  if (!cookies_.valid(f.cookie, from.to_string(), cookie_period(now))) {
    drop("bad_cookie");
    return;
  }
  if (f.handshake.size() < kEphemeralBytes) {
    drop("bad_handshake");
    return;
  }
  const auto same_ephemeral = [&](const Key& e) {
    return std::memcmp(e.data(), f.handshake.data(), kEphemeralBytes) == 0;
  };
  // A retransmitted Init (its Accept was lost) gets the same Accept again,
  // without another X25519; one resent while its job runs gets nothing
  // more: the Accept is on its way.
  if (const auto at = by_endpoint_.find(from); at != by_endpoint_.end()) {
    const Session& s = sessions_.at(at->second);
    if (same_ephemeral(s.init_ephemeral)) {
      out.push_back({from, s.accept});
      ++counts_["accept_resent"];
      return;
    }
  }
  if (const auto p = in_flight_at_.find(from);
      p != in_flight_at_.end() && same_ephemeral(in_flight_.at(p->second).init_ephemeral)) {
    ++counts_["init_pending"];
    return;
  }
  if (in_flight_.size() >= kMaxHandshakesInFlight || !handshakes_.take(now)) {
    drop("handshake_budget");
    return;
  }
  if (!by_endpoint_.contains(from) &&
      sessions_.size() + in_flight_.size() >= config_.max_sessions) {
    drop("sessions_full");
    return;
  }
  std::uint64_t id = 0;
  while (id == 0 || sessions_.contains(id)) {
    std::array<std::uint8_t, 8> raw{};
    random_(raw);
    std::memcpy(&id, raw.data(), raw.size());
  }
  const std::uint64_t ticket = ++last_ticket_;
  InFlight job{from, {}, id};
  std::memcpy(job.init_ephemeral.data(), f.handshake.data(), kEphemeralBytes);
  in_flight_.emplace(ticket, std::move(job));
  in_flight_at_[from] = ticket;
  jobs_.push_back({ticket, from, f.handshake, id});
}

void ServerGate::on_handshake_done(const HandshakeOutcome& o, TimePoint now,
                                   std::vector<Outgoing>& out) {
  last_drop_ = "";
  const auto it = in_flight_.find(o.ticket);
  if (it == in_flight_.end()) return;
  const InFlight job = std::move(it->second);
  in_flight_.erase(it);
  if (const auto at = in_flight_at_.find(job.from);
      at != in_flight_at_.end() && at->second == o.ticket) {
    in_flight_at_.erase(at);
  }
  if (!o.ok) {
    drop("bad_handshake");
    return;
  }
  // Checked now, against what the gate holds now: another handshake of
  // the same key may have completed while this one ran.
  auto& stamp = stamps_[key_text(o.client_key)];
  if (stamp.timestamp != 0 && o.timestamp <= stamp.timestamp) {
    drop("replayed_handshake");
    return;
  }
  const auto previous = by_endpoint_.find(job.from);
  if (previous == by_endpoint_.end() && sessions_.size() >= config_.max_sessions) {
    drop("sessions_full");
    return;
  }
  if (sessions_.contains(job.session)) {
    drop("bad_handshake");  // the id was drawn again meanwhile: the client tries again
    return;
  }
  stamp = Stamp{o.timestamp, now};
  if (previous != by_endpoint_.end()) close_session(previous->second);
  Session s;
  s.budget = TokenBucket(config_.rate_limit, config_.rate_limit * kRateBurstFactor);
  s.endpoint = job.from;
  s.client_key = o.client_key;
  s.receive = o.keys.initiator_to_responder;
  s.send = o.keys.responder_to_initiator;
  s.last_heard = now;
  s.init_ephemeral = job.init_ephemeral;
  s.accept = o.accept;
  out.push_back({job.from, s.accept});
  sessions_.emplace(job.session, std::move(s));
  by_endpoint_[job.from] = job.session;
  ++counts_["handshake"];
}

void ServerGate::answer_handshakes(TimePoint now, std::vector<Outgoing>& out) {
  for (const auto& job : take_handshake_jobs()) {
    on_handshake_done(run_handshake_job(job, keys_, random_), now, out);
  }
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
  out.push_back({to, encode_reset(reset_token(keys_.reset_key, *key, to))});
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
