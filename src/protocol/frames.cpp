// frames.cpp: encoding and decoding of the session frames (frames.hpp).
#include "protocol/frames.hpp"

#include <algorithm>
#include <cstring>

namespace udpchat {
namespace {

constexpr std::size_t kRetryBytes = 1 + kHelloNonceBytes + kFrameCookieBytes + kFrameKeyBytes;
constexpr std::size_t kResetBytes = 1 + kResetTokenBytes;
/// Noise IK message 1 with its 8-byte payload (the timestamp) and message 2
/// with its 24-byte payload (session id, reset token); see server_gate.hpp.
constexpr std::size_t kMinInitHandshake = 96;
constexpr std::size_t kMinAcceptHandshake = 48;

template <std::size_t N>
void copy_out(std::string_view in, std::size_t at, std::array<std::uint8_t, N>& out) {
  std::memcpy(out.data(), in.data() + at, N);
}
template <std::size_t N>
void append(std::string& out, const std::array<std::uint8_t, N>& a) {
  out.append(reinterpret_cast<const char*>(a.data()), N);
}

}  // namespace

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFU));
}

std::uint64_t get_u64(std::string_view in, std::size_t at) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8U) | static_cast<std::uint8_t>(in[at + static_cast<std::size_t>(i)]);
  }
  return v;
}

bool looks_like_frame(std::string_view bytes) {
  if (bytes.empty()) return false;
  const auto t = static_cast<std::uint8_t>(bytes[0]);
  return t >= static_cast<std::uint8_t>(FrameType::kHello) &&
         t <= static_cast<std::uint8_t>(FrameType::kReset);
}

std::optional<Frame> decode_frame(std::string_view bytes) {
  if (!looks_like_frame(bytes)) return std::nullopt;
  switch (static_cast<FrameType>(bytes[0])) {
    case FrameType::kHello: {
      if (bytes.size() != kHelloBytes) return std::nullopt;
      HelloFrame f;
      copy_out(bytes, 1, f.nonce);
      return f;
    }
    case FrameType::kRetry: {
      if (bytes.size() != kRetryBytes) return std::nullopt;
      RetryFrame f;
      copy_out(bytes, 1, f.nonce);
      copy_out(bytes, 1 + kHelloNonceBytes, f.cookie);
      copy_out(bytes, 1 + kHelloNonceBytes + kFrameCookieBytes, f.server_key);
      return f;
    }
    case FrameType::kInit: {
      if (bytes.size() < 1 + kFrameCookieBytes + kMinInitHandshake) return std::nullopt;
      InitFrame f;
      copy_out(bytes, 1, f.cookie);
      f.handshake = std::string(bytes.substr(1 + kFrameCookieBytes));
      return f;
    }
    case FrameType::kAccept: {
      if (bytes.size() < 1 + kMinAcceptHandshake) return std::nullopt;
      return AcceptFrame{std::string(bytes.substr(1))};
    }
    case FrameType::kSealed: {
      if (bytes.size() < kSealedOverhead) return std::nullopt;
      SealedFrame f;
      f.session = get_u64(bytes, 1);
      f.counter = get_u64(bytes, 9);
      f.header = bytes.substr(0, kSealedHeaderBytes);
      f.ciphertext = bytes.substr(kSealedHeaderBytes);
      return f;
    }
    case FrameType::kReset: {
      if (bytes.size() != kResetBytes) return std::nullopt;
      ResetFrame f;
      copy_out(bytes, 1, f.token);
      return f;
    }
  }
  return std::nullopt;
}

std::string encode_hello(const FrameNonce& nonce) {
  std::string out(1, static_cast<char>(FrameType::kHello));
  append(out, nonce);
  out.resize(kHelloBytes, '\0');
  return out;
}

std::string encode_retry(const RetryFrame& f) {
  std::string out(1, static_cast<char>(FrameType::kRetry));
  append(out, f.nonce);
  append(out, f.cookie);
  append(out, f.server_key);
  return out;
}

std::string encode_init(const FrameCookie& cookie, std::string_view handshake) {
  std::string out(1, static_cast<char>(FrameType::kInit));
  append(out, cookie);
  out.append(handshake);
  return out;
}

std::string encode_accept(std::string_view handshake) {
  std::string out(1, static_cast<char>(FrameType::kAccept));
  out.append(handshake);
  return out;
}

std::string sealed_header(std::uint64_t session, std::uint64_t counter) {
  std::string out(1, static_cast<char>(FrameType::kSealed));
  put_u64(out, session);
  put_u64(out, counter);
  return out;
}

std::string encode_reset(const ResetToken& token) {
  std::string out(1, static_cast<char>(FrameType::kReset));
  append(out, token);
  return out;
}

}  // namespace udpchat
