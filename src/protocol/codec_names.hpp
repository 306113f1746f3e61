// codec_names.hpp: the wire names shared by the encoder and the decoder
// (codec_encode.cpp, codec_decode.cpp); private to src/protocol.
#pragma once

namespace udpchat::wire {

/// AckStatus and NoticeKind values on the wire, by enum value.
inline constexpr const char* kAckStatusNames[] = {
    "ok", "saved", "exists", "unknown", "in_use", "offline", "error", "not_member", "bad_password"};
inline constexpr const char* kNoticeNames[] = {"delivered", "saved", "shutdown"};

}  // namespace udpchat::wire
