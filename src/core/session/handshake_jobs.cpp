// handshake_jobs.cpp: the responder's Noise IK arithmetic (handshake_jobs.hpp).
#include "core/session/handshake_jobs.hpp"

namespace udpchat {
namespace {

/// Message 2's payload: session id 8, reset token 16.
constexpr std::size_t kAcceptPayloadBytes = 8 + kResetTokenBytes;
static_assert(kAcceptPayloadBytes == 24);

}  // namespace

ResetToken reset_token(const crypto::Key& reset_key, const crypto::Key& client_key,
                       const Endpoint& at) {
  std::string data = "reset";
  data.append(client_key.begin(), client_key.end());
  data += at.to_string();
  ResetToken token{};
  crypto::keyed_hash(reset_key, crypto::as_bytes(data), token);
  return token;
}

HandshakeOutcome run_handshake_job(const HandshakeJob& job, const HandshakeKeys& keys,
                                   const crypto::RandomSource& random) {
  HandshakeOutcome result;
  result.ticket = job.ticket;
  auto noise = crypto::NoiseIK::responder(keys.server, crypto::as_bytes(kNoisePrologue));
  const auto payload = noise.read_message1(crypto::as_bytes(job.message1));
  if (!payload || payload->size() != kInitPayloadBytes) return result;
  const crypto::Key client_key = noise.remote_static();
  std::string reply;
  put_u64(reply, job.session);
  const ResetToken token = reset_token(keys.reset_key, client_key, job.from);
  reply.append(token.begin(), token.end());
  const auto ephemeral = crypto::generate_keypair(random);
  const auto message2 = noise.write_message2(ephemeral, crypto::as_bytes(reply));
  if (!message2) return result;  // the client's ephemeral key is of small order
  result.ok = true;
  result.client_key = client_key;
  result.timestamp =
      get_u64(std::string_view(reinterpret_cast<const char*>(payload->data()), payload->size()), 0);
  result.keys = noise.split();
  result.accept = encode_accept(
      std::string_view(reinterpret_cast<const char*>(message2->data()), message2->size()));
  return result;
}

}  // namespace udpchat
