// codec.hpp: the one wire codec. Message <-> datagram payload.
//
// Format: a CBOR map (RFC 8949) produced and parsed by nlohmann_json, with
// keys "v" (protocol version), "t" (kind) and the kind's fields, named in
// docs/PROTOCOL.md. CBOR rather than JSON text because JSON escapes a quote
// as two bytes and a control character as six, so a 1000-byte message would
// not fit a 1200-byte datagram; CBOR carries UTF-8 text as is.
#pragma once

#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/limits.hpp"
#include "protocol/messages.hpp"

namespace udpchat {

/// Why a datagram was dropped; each cause is counted separately.
enum class DecodeError : std::uint8_t {
  kTooLarge,     ///< more than kMaxDatagramBytes
  kMalformed,    ///< not a CBOR map
  kBadVersion,   ///< "v" missing or not kProtocolVersion
  kUnknownType,  ///< "t" missing or not a known kind
  kBadField,     ///< a field missing, of the wrong type, or out of range
};

/// Short lowercase name of `e` for logs and statistics ("malformed", ...).
[[nodiscard]] const char* to_string(DecodeError e) noexcept;

/// Encodes `m`. The result is at most kMaxDatagramBytes when every string
/// field respects manual §7 (nicknames <= 32 bytes, text <= 1000 bytes, at most
/// `max_entries_per_part` table entries); callers that build tables use
/// `split_table`. Never throws for valid UTF-8 input.
[[nodiscard]] std::string encode(const Message& m);

/// Decodes one datagram payload. Never throws, never reads past `bytes`.
/// Validates what the kind needs: nicknames (manual §7), UTF-8 text no longer
/// than kMaxMessageBytes, table part numbering.
[[nodiscard]] std::expected<Message, DecodeError> decode(std::string_view bytes);

/// Encoded size of one table entry inside a part, in bytes: computed from
/// the CBOR rules (RFC 8949 section 3: an argument of 0, 1, 2, 4 or 8 bytes
/// after the initial byte), the same minimal lengths nlohmann_json writes
/// (checked against it in the codec tests).
[[nodiscard]] std::size_t encoded_entry_size(const TableEntry& e);

/// A table update (version, rows, from, total) split into parts and
/// prepared once, then encoded for many clients: the parts' CBOR trees are
/// built once and each `encode` only sets the transport id. Moving is cheap.
class PreparedUpdate {
 public:
  PreparedUpdate(std::uint64_t version, const std::vector<TableEntry>& rows, std::uint64_t from,
                 std::uint32_t total);
  ~PreparedUpdate();
  PreparedUpdate(PreparedUpdate&&) noexcept;
  PreparedUpdate& operator=(PreparedUpdate&&) noexcept;
  PreparedUpdate(const PreparedUpdate&) = delete;
  PreparedUpdate& operator=(const PreparedUpdate&) = delete;

  [[nodiscard]] std::uint32_t parts() const;
  [[nodiscard]] std::size_t rows() const { return rows_; }
  /// The datagram of part `part` (< parts()) with transport id `id`; equal
  /// to encode() of the same TablePart.
  [[nodiscard]] std::string encode(std::uint32_t part, std::uint64_t id);

 private:
  struct Trees;
  std::unique_ptr<Trees> trees_;
  std::size_t rows_ = 0;
};

/// Bytes of a TablePart's (or Rows') envelope without entries: the map,
/// its keys and worst-case (9-byte) integers, with slack. Measured in the
/// codec tests.
inline constexpr std::size_t kTablePartEnvelopeBytes = 128;

/// Splits `entries` into groups that each fit one datagram with a
/// kTablePartEnvelopeBytes envelope. No entries still yields one (empty)
/// group.
[[nodiscard]] std::vector<std::vector<TableEntry>> split_entries(
    const std::vector<TableEntry>& entries);

/// Splits the groups of a GroupList answer into parts that each encode to
/// at most kMaxPayloadBytes (a group with many members continues in the
/// next part under the same name). No groups still yields one empty part.
[[nodiscard]] std::vector<std::vector<GroupInfo>> split_groups(
    const std::vector<GroupInfo>& groups);

/// A table update from version `from` (0: a snapshot) to `version`, split
/// into parts that each encode to at most kMaxPayloadBytes (sealed: kMaxDatagramBytes). `next_id`
/// is called once per part for its transport id; `total` is the number of registered clients.
template <typename NextId>
[[nodiscard]] std::vector<TablePart> split_table(std::uint64_t version,
                                                 const std::vector<TableEntry>& entries,
                                                 NextId&& next_id, std::uint64_t from = 0,
                                                 std::uint32_t total = 0) {
  std::vector<TablePart> parts;
  auto groups = split_entries(entries);
  const auto count = static_cast<std::uint32_t>(groups.size());
  for (std::uint32_t i = 0; i < count; ++i) {
    parts.push_back({next_id(), version, i, count, std::move(groups[i]), from, total});
  }
  return parts;
}

}  // namespace udpchat
