// codec_table.cpp: table parts decoded from CBOR without a JSON tree.
//
// A part of a whole table carries up to about twenty rows of six fields,
// and a client that registers into a full table takes dozens of them at
// once: building nlohmann_json's value tree for each (a std::map per
// datagram, a std::vector per row, a string per field) and reading it back
// was half the client's work in a registration storm. nlohmann_json also
// parses CBOR as a stream of SAX events (json::sax_parse); the handler
// below turns those events straight into a TablePart.
//
// It accepts exactly the shape the tree decoder (codec_decode.cpp) accepts
// for a "table" datagram, with the same checks (check_entry, valid_parts);
// anything else (another type, a duplicate or unknown key, any doubt) makes
// it give up, and decode() then takes the tree path, which gives the
// precise error. So the two decoders cannot disagree on what is valid; a
// unit test compares them on valid, mutated and random inputs.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/codec.hpp"
#include "protocol/codec_fields.hpp"

namespace udpchat::wire {
namespace {

using json = nlohmann::json;

/// The top-level keys of a table part, each allowed once.
enum Key : unsigned { kV, kT, kId, kVer, kPart, kParts, kFrom, kTotal, kEntries, kNone };

Key key_of(std::string_view k) {
  static constexpr std::string_view kNames[] = {"v",     "t",    "id",    "ver",    "part",
                                                "parts", "from", "total", "entries"};
  for (unsigned i = 0; i < kNone; ++i) {
    if (k == kNames[i]) return static_cast<Key>(i);
  }
  return kNone;
}

/// The fewest bytes a row takes in CBOR: an array head and four one-byte
/// items (two empty strings, a small port, a boolean).
constexpr std::size_t kMinRowBytes = 5;

/// The SAX handler (nlohmann's json_sax interface): every callback returns
/// false to stop the parse at the first event out of shape.
class TablePartSax {
 public:
  bool null() { return false; }
  bool number_float(json::number_float_t /*v*/, const json::string_t& /*s*/) { return false; }
  bool number_integer(json::number_integer_t /*v*/) { return false; }  // negative: never valid

  bool boolean(bool b) {
    if (depth_ != 3 || field_ != 3) return false;
    row_.online = b;
    ++field_;
    return true;
  }

  bool number_unsigned(json::number_unsigned_t v) {
    if (depth_ == 3) {
      if (field_ == 2) {
        port_ = v;
      } else if (field_ == 4) {
        row_.version = v;
      } else if (field_ == 7) {
        local_port_ = v;
      } else {
        return false;
      }
      ++field_;
      return true;
    }
    if (depth_ != 1 || key_ == kNone || key_ == kT || key_ == kEntries) return false;
    scalars_[key_] = v;
    return taken();
  }

  bool string(json::string_t& s) {
    if (depth_ == 3) {
      if (field_ == 0) {
        row_.nick = std::move(s);
      } else if (field_ == 1) {
        row_.address = std::move(s);
      } else if (field_ == 6) {
        row_.local_address = std::move(s);
      } else {
        return false;
      }
      ++field_;
      return true;
    }
    if (depth_ != 1 || key_ != kT || s != "table") return false;
    return taken();
  }

  bool binary(json::binary_t& b) {
    if (depth_ != 3 || field_ != 5 || b.size() != kPublicKeyBytes) return false;
    row_.key.assign(b.begin(), b.end());
    ++field_;
    return true;
  }

  bool start_object(std::size_t /*n*/) {
    if (depth_ != 0) return false;
    depth_ = 1;
    return true;
  }
  bool key(json::string_t& k) {
    if (depth_ != 1) return false;
    key_ = key_of(k);
    return key_ != kNone && (seen_ & (1U << key_)) == 0;
  }
  bool end_object() {
    if (depth_ != 1) return false;
    depth_ = 0;
    done_ = true;
    return true;
  }

  bool start_array(std::size_t n) {
    if (depth_ == 1 && key_ == kEntries) {
      depth_ = 2;
      // The count is the sender's word: reserve no more rows than the
      // datagram could hold (each takes at least kMinRowBytes).
      if (n != static_cast<std::size_t>(-1)) {
        part_.entries.reserve(std::min(n, kMaxDatagramBytes / kMinRowBytes));
      }
      return true;
    }
    if (depth_ == 2) {
      depth_ = 3;
      field_ = 0;
      row_ = TableEntry{};
      port_ = 0;
      local_port_ = 0;
      return true;
    }
    return false;
  }
  bool end_array() {
    if (depth_ == 3) {
      if (field_ < 4 || !check_entry(row_, port_, local_port_, field_)) return false;
      part_.entries.push_back(std::move(row_));
      depth_ = 2;
      return true;
    }
    if (depth_ == 2) {
      depth_ = 1;
      return taken();
    }
    return false;
  }

  bool parse_error(std::size_t /*pos*/, const std::string& /*token*/,
                   const nlohmann::detail::exception& /*e*/) {
    return false;
  }

  /// The part, if the whole datagram was one valid table part.
  std::optional<TablePart> result() {
    constexpr unsigned kRequired = (1U << kV) | (1U << kT) | (1U << kId) | (1U << kVer) |
                                   (1U << kPart) | (1U << kParts) | (1U << kEntries);
    if (!done_ || (seen_ & kRequired) != kRequired || scalars_[kV] != kProtocolVersion) {
      return std::nullopt;
    }
    const std::uint64_t max32 = std::numeric_limits<std::uint32_t>::max();
    if (scalars_[kPart] > max32 || scalars_[kParts] > max32) return std::nullopt;
    part_.id = scalars_[kId];
    part_.version = scalars_[kVer];
    part_.part = static_cast<std::uint32_t>(scalars_[kPart]);
    part_.parts = static_cast<std::uint32_t>(scalars_[kParts]);
    if (!valid_parts(part_.part, part_.parts)) return std::nullopt;
    if ((seen_ & (1U << kFrom)) != 0) {
      if (scalars_[kFrom] >= part_.version) return std::nullopt;
      part_.from = scalars_[kFrom];
    }
    if ((seen_ & (1U << kTotal)) != 0) {
      if (scalars_[kTotal] > max32) return std::nullopt;
      part_.total = static_cast<std::uint32_t>(scalars_[kTotal]);
    }
    return std::move(part_);
  }

 private:
  bool taken() {
    seen_ |= 1U << key_;
    return true;
  }

  int depth_ = 0;  ///< 0 outside, 1 the top map, 2 the entries, 3 a row
  Key key_ = kNone;
  unsigned seen_ = 0;
  std::uint64_t scalars_[kNone] = {};
  bool done_ = false;
  std::size_t field_ = 0;  ///< the next field of the row being read
  std::uint64_t port_ = 0;
  std::uint64_t local_port_ = 0;
  TableEntry row_;
  TablePart part_;
};

}  // namespace

std::optional<TablePart> decode_table_part(std::string_view bytes) {
  // Only datagrams that name their type "table" ("t": "table" in CBOR)
  // are worth a try; the rest go straight to the tree decoder.
  static constexpr char kMarker[] = "\x61t\x65table";
  if (bytes.size() < sizeof kMarker - 1 ||
      memmem(bytes.data(), bytes.size(), kMarker, sizeof kMarker - 1) == nullptr) {
    return std::nullopt;
  }
  TablePartSax sax;
  try {
    // strict: the whole datagram is one item; CBOR tags are an error.
    if (!json::sax_parse(bytes.begin(), bytes.end(), &sax, json::input_format_t::cbor,
                         /*strict=*/true)) {
      return std::nullopt;
    }
  } catch (const std::exception&) {
    return std::nullopt;  // the tree decoder sees it as malformed
  }
  return sax.result();
}

}  // namespace udpchat::wire
