// frames.hpp: the outer layer of every datagram between a client and its
// server (docs/PROTOCOL.md, "Sessions"; docs/SECURITY.md).
//
// Binary frames, told apart by their first byte (a CBOR message, which
// peers still exchange directly, starts with 0xA0 or above):
//
//   0x01 Hello   client -> server  type | nonce 16 | zero padding to 96 bytes
//   0x02 Retry   server -> client  type | nonce 16 | cookie 24 | server key 32   (73 bytes)
//   0x03 Init    client -> server  type | cookie 24 | Noise IK message 1
//   0x04 Accept  server -> client  type | Noise IK message 2
//   0x05 Sealed  either way        type | session id 8 | counter 8 | AEAD ciphertext and tag
//   0x06 Reset   server -> client  type | reset token 16                          (17 bytes)
//
// Hello is padded so that the Retry it earns is smaller: a spoofed source
// gets back fewer bytes than were sent in its name (QUIC, RFC 9000 section
// 8.1, pads its Initial to 1200 for the same reason). Integers are
// little-endian. Decoding never throws: a frame of a wrong size or an
// unknown type decodes to nullopt.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "protocol/limits.hpp"

namespace udpchat {

inline constexpr std::size_t kHelloNonceBytes = 16;
inline constexpr std::size_t kFrameCookieBytes = 24;
inline constexpr std::size_t kFrameKeyBytes = 32;
inline constexpr std::size_t kResetTokenBytes = 16;
/// A Hello's size on the wire: it pays for the 73-byte Retry it may earn.
inline constexpr std::size_t kHelloBytes = 96;
/// Bytes a Sealed frame adds to its plaintext: type, session id, counter
/// (17, authenticated as associated data) and the Poly1305 tag (16).
inline constexpr std::size_t kSealedHeaderBytes = 17;
inline constexpr std::size_t kSealedOverhead = kSealedHeaderBytes + 16;
static_assert(kSealedOverhead == kSessionOverheadBytes);

enum class FrameType : std::uint8_t {
  kHello = 0x01,
  kRetry = 0x02,
  kInit = 0x03,
  kAccept = 0x04,
  kSealed = 0x05,
  kReset = 0x06,
};

using FrameNonce = std::array<std::uint8_t, kHelloNonceBytes>;
using FrameCookie = std::array<std::uint8_t, kFrameCookieBytes>;
using FrameKey = std::array<std::uint8_t, kFrameKeyBytes>;
using ResetToken = std::array<std::uint8_t, kResetTokenBytes>;

struct HelloFrame {
  FrameNonce nonce{};
};
struct RetryFrame {
  FrameNonce nonce{};  ///< the Hello's, echoed
  FrameCookie cookie{};
  FrameKey server_key{};  ///< the server's long-term public key
};
struct InitFrame {
  FrameCookie cookie{};
  std::string handshake;  ///< Noise IK message 1
};
struct AcceptFrame {
  std::string handshake;  ///< Noise IK message 2
};
struct SealedFrame {
  std::uint64_t session = 0;
  std::uint64_t counter = 0;  ///< AEAD nonce; checked by the replay window
  std::string_view header;    ///< the first 17 bytes, the AEAD's associated data
  std::string_view ciphertext;
};
struct ResetFrame {
  ResetToken token{};
};
using Frame = std::variant<HelloFrame, RetryFrame, InitFrame, AcceptFrame, SealedFrame, ResetFrame>;

/// True if `bytes` starts like a frame (its first byte is a frame type).
[[nodiscard]] bool looks_like_frame(std::string_view bytes);
/// The frame in `bytes`; nullopt for an unknown type or a wrong size. A
/// SealedFrame's views point into `bytes`.
[[nodiscard]] std::optional<Frame> decode_frame(std::string_view bytes);

[[nodiscard]] std::string encode_hello(const FrameNonce& nonce);
[[nodiscard]] std::string encode_retry(const RetryFrame& f);
[[nodiscard]] std::string encode_init(const FrameCookie& cookie, std::string_view handshake);
[[nodiscard]] std::string encode_accept(std::string_view handshake);
/// The 17-byte header of a Sealed frame; the caller appends the AEAD
/// output of its plaintext with this header as associated data.
[[nodiscard]] std::string sealed_header(std::uint64_t session, std::uint64_t counter);
[[nodiscard]] std::string encode_reset(const ResetToken& token);

/// Little-endian helpers for the frames and their handshake payloads.
void put_u64(std::string& out, std::uint64_t v);
[[nodiscard]] std::uint64_t get_u64(std::string_view in, std::size_t at);

}  // namespace udpchat
