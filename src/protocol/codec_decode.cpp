// codec_decode.cpp: CBOR datagram -> Message, with every field checked
// (nicknames, UTF-8 text, sizes, part numbering); never throws.
#include <nlohmann/json.hpp>

#include <optional>
#include <type_traits>

#include "protocol/codec.hpp"
#include "protocol/codec_fields.hpp"
#include "protocol/codec_from_json.hpp"
#include "protocol/codec_names.hpp"
#include "protocol/limits.hpp"
#include "protocol/text.hpp"

namespace udpchat {
namespace {

using json = nlohmann::json;
using namespace wire;  // the field getters (codec_fields.hpp) and wire names

}  // namespace

const char* to_string(DecodeError e) noexcept {
  switch (e) {
    case DecodeError::kTooLarge:
      return "too_large";
    case DecodeError::kMalformed:
      return "malformed";
    case DecodeError::kBadVersion:
      return "bad_version";
    case DecodeError::kUnknownType:
      return "unknown_type";
    case DecodeError::kBadField:
      return "bad_field";
  }
  return "unknown";
}

namespace {
/// What any datagram must pass before a parser sees it.
std::optional<DecodeError> precheck(std::string_view bytes) {
  if (bytes.size() > kMaxDatagramBytes) {
    return DecodeError::kTooLarge;
  }
  // A map must open the datagram (major type 5); checking it first keeps
  // the parser away from most random bytes.
  if (bytes.empty() || (static_cast<unsigned char>(bytes[0]) >> 5U) != 5U) {
    return DecodeError::kMalformed;
  }
  return std::nullopt;
}
/// The tree decoder proper, after precheck.
std::expected<Message, DecodeError> parse_tree(std::string_view bytes) {
  try {
    // strict: the whole datagram is one item; allow_exceptions=false: a
    // parse error gives a discarded value instead of throwing. CBOR tags
    // are rejected (the default tag handler).
    const json j = json::from_cbor(bytes.begin(), bytes.end(), /*strict=*/true,
                                   /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      return std::unexpected(DecodeError::kMalformed);
    }
    const auto version = get_u64(j, "v");
    if (!version || *version != kProtocolVersion) {
      return std::unexpected(DecodeError::kBadVersion);
    }
    const auto type = get_string(j, "t");
    if (!type) {
      return std::unexpected(DecodeError::kUnknownType);
    }
    return from_json(j, *type);
  } catch (const std::exception&) {
    // nlohmann may still throw from inside the parser (e.g. its binary
    // subtype handling); any such datagram is malformed, never fatal.
    return std::unexpected(DecodeError::kMalformed);
  }
}
}  // namespace

std::expected<Message, DecodeError> decode(std::string_view bytes) {
  if (const auto e = precheck(bytes)) {
    return std::unexpected(*e);
  }
  if (auto part = decode_table_part(bytes)) {
    return std::move(*part);  // the common large datagram, without a tree
  }
  if (auto flat = decode_flat(bytes)) {
    return std::move(*flat);  // the hot kinds, without a tree
  }
  return parse_tree(bytes);
}

std::expected<Message, DecodeError> wire::decode_with_tree(std::string_view bytes) {
  if (const auto e = precheck(bytes)) {
    return std::unexpected(*e);
  }
  return parse_tree(bytes);
}

}  // namespace udpchat
