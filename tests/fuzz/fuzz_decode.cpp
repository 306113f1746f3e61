// fuzz_decode.cpp: libFuzzer target for udpchat::decode (manual §7).
//
// Whatever the bytes, decode() must return (no crash, no hang, no leak, no
// exception, no undefined behaviour: ASan and UBSan watch), and whatever it
// accepts must be something udpchat could have sent itself:
//   - the input was at most kMaxDatagramBytes;
//   - the message respects the field rules (nicknames, UTF-8 text of at
//     most kMaxMessageBytes, 0 <= part < parts <= kMaxTableParts);
//   - encode() of it is at most kMaxDatagramBytes, decodes again to an equal
//     message, and encoding that gives the same bytes (a fixed point);
//   - the decoders without a tree (table parts, flat maps) and the tree
//     decoder give the same message or the same error, and the encoder
//     without a tree writes the tree encoder's bytes.
// Any violation prints what went wrong and aborts, which libFuzzer reports
// as a crash with the input saved.
//
// Build and run: tests/fuzz/run_fuzz.sh [SECONDS] (see tests/fuzz/CMakeLists.txt).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "protocol/codec.hpp"
#include "protocol/codec_fields.hpp"
#include "protocol/limits.hpp"
#include "protocol/messages.hpp"
#include "protocol/text.hpp"

namespace {

using namespace udpchat;

[[noreturn]] void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz_decode: property violated: %s", what);
  if (!detail.empty()) {
    std::fprintf(stderr, " (");
    for (const unsigned char c : detail.substr(0, 256)) std::fprintf(stderr, "%02x", c);
    std::fprintf(stderr, "%s)", detail.size() > 256 ? "..." : "");
  }
  std::fprintf(stderr, "\n");
  std::abort();
}

void check_nick(const std::string& nick) {
  if (!is_valid_nickname(nick)) fail("accepted an invalid nickname", nick);
}

void check_group(const std::string& group) {
  if (group != kEveryone && !is_valid_nickname(group)) fail("accepted an invalid group", group);
}

void check_text(const std::string& text) {
  if (text.size() > kMaxMessageBytes) fail("accepted a text longer than 1000 bytes");
  if (!is_valid_utf8(text)) fail("accepted a text that is not valid UTF-8", text);
}

// The field rules of docs/PROTOCOL.md, for what decode() accepted.
void check_fields(const Message& message) {
  std::visit(
      [](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Register> || std::is_same_v<T, Deregister> ||
                      std::is_same_v<T, Heartbeat>) {
          check_nick(m.nick);
        } else if constexpr (std::is_same_v<T, Save>) {
          check_nick(m.from);
          check_nick(m.to);
          check_text(m.text);
        } else if constexpr (std::is_same_v<T, Chat>) {
          check_nick(m.from);
          check_text(m.text);
        } else if constexpr (std::is_same_v<T, Deliver>) {
          check_nick(m.from);
          check_text(m.text);
          if (!m.group.empty()) check_group(m.group);
        } else if constexpr (std::is_same_v<T, Post>) {
          check_nick(m.from);
          check_group(m.group);
          check_text(m.text);
        } else if constexpr (std::is_same_v<T, Join> || std::is_same_v<T, Leave>) {
          check_nick(m.from);
          check_nick(m.group);  // a real group, never the channel
        } else if constexpr (std::is_same_v<T, ListGroups> || std::is_same_v<T, DeleteAccount>) {
          check_nick(m.from);
        } else if constexpr (std::is_same_v<T, Relay> || std::is_same_v<T, RelayAck>) {
          check_nick(m.peer);
        } else if constexpr (std::is_same_v<T, Introduce> || std::is_same_v<T, Probe>) {
          check_nick(m.from);
          check_nick(m.to);
        } else if constexpr (std::is_same_v<T, Punch>) {
          check_nick(m.row.nick);
          if (m.row.address.empty() || m.row.key.size() != 32) {
            fail("accepted a punch without an address or a key");
          }
        } else if constexpr (std::is_same_v<T, SetPassword>) {
          check_nick(m.from);
          if (m.password.size() > kMaxPasswordBytes || !is_valid_utf8(m.password)) {
            fail("accepted a password over 128 bytes or not UTF-8");
          }
        } else if constexpr (std::is_same_v<T, GroupList>) {
          if (m.parts == 0 || m.parts > kMaxTableParts || m.part >= m.parts) {
            fail("accepted a group list part outside 0 <= part < parts <= 4096");
          }
          for (const auto& g : m.groups) {
            check_nick(g.name);
            for (const auto& member : g.members) check_nick(member);
          }
        } else if constexpr (std::is_same_v<T, Notice>) {
          if (!m.nick.empty()) check_nick(m.nick);
          if (static_cast<int>(m.kind) > static_cast<int>(NoticeKind::kShutdown)) {
            fail("notice kind out of range");
          }
        } else if constexpr (std::is_same_v<T, Ack>) {
          if (static_cast<int>(m.status) > static_cast<int>(AckStatus::kBadPassword)) {
            fail("ack status out of range");
          }
          check_text(m.detail);
        } else if constexpr (std::is_same_v<T, TablePart>) {
          if (m.parts == 0 || m.parts > kMaxTableParts || m.part >= m.parts) {
            fail("accepted a table part outside 0 <= part < parts <= 4096");
          }
          for (const auto& e : m.entries) {
            check_nick(e.nick);
            if (e.address.empty() || !is_valid_utf8(e.address)) {
              fail("accepted a table entry with an invalid address", e.address);
            }
          }
        }
      },
      message);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto decoded = decode(input);
  const auto tree = wire::decode_with_tree(input);
  if (decoded.has_value() != tree.has_value() ||
      (decoded && !(*decoded == *tree)) || (!decoded && decoded.error() != tree.error())) {
    fail("the decoders without a tree and the tree decoder disagree");
  }
  if (!decoded) {
    const auto e = decoded.error();
    if (static_cast<int>(e) > static_cast<int>(DecodeError::kBadField)) {
      fail("decode error out of range");
    }
    if (size > kMaxDatagramBytes && e != DecodeError::kTooLarge) {
      fail("oversized datagram not reported as too_large");
    }
    return 0;
  }
  if (size > kMaxDatagramBytes) fail("accepted a datagram larger than 1200 bytes");
  check_fields(*decoded);

  const std::string bytes = encode(*decoded);
  if (bytes != wire::encode_with_tree(*decoded)) fail("the two encoders disagree", bytes);
  if (bytes.size() > kMaxDatagramBytes) fail("re-encoding is larger than 1200 bytes", bytes);
  const auto again = decode(bytes);
  if (!again) fail("the re-encoding does not decode", bytes);
  if (!(*again == *decoded)) fail("the re-encoding decodes to a different message", bytes);
  if (encode(*again) != bytes) fail("encoding is not a fixed point", bytes);
  return 0;
}
