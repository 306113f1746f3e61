// codec_decode_flat.cpp: datagrams whose map holds only scalars (a chat,
// an ack, a delivery, a save, a post, a heartbeat...) decoded without a
// JSON tree.
//
// The tree decoder builds nlohmann_json's std::map of values for every
// datagram and frees it again: a node and often a string per field. Most
// datagrams on the hot paths are one flat map of numbers, text and byte
// strings, so nlohmann_json's SAX interface (json::sax_parse) reads their
// fields here into a small fixed array (FlatFields), and the tree
// decoder's own code (from_json, templated over the two) reads and checks
// them. Anything else, an array or a map inside, a key given twice, more
// fields than the array holds, any parse error, any field that fails its
// check, makes it give up, and decode() takes the tree path, which gives
// the precise error. So the two decoders cannot disagree; a unit test
// compares them on every kind, on mutated and on random input
// (test_codec_hot.cpp).
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "protocol/codec.hpp"
#include "protocol/codec_fields.hpp"
#include "protocol/codec_from_json.hpp"

namespace udpchat::wire {
namespace {

/// The SAX handler: every callback returns false to stop at the first
/// event out of shape (nlohmann's json_sax interface).
class FlatSax {
 public:
  explicit FlatSax(FlatFields& out) : out_(out) {}

  bool null() { return value(json(nullptr)); }
  bool boolean(bool b) { return value(json(b)); }
  bool number_integer(json::number_integer_t v) { return value(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return value(json(v)); }
  bool number_float(json::number_float_t v, const json::string_t& /*s*/) {
    return value(json(v));
  }
  bool string(json::string_t& s) { return value(json(std::move(s))); }
  bool binary(json::binary_t& b) {
    if (b.has_subtype()) return false;  // never on our wire: the tree decides
    return value(json::binary(std::move(static_cast<json::binary_t::container_type&>(b))));
  }

  bool start_object(std::size_t /*elements*/) {
    if (depth_ != 0) return false;  // a map inside: the tree's
    depth_ = 1;
    return true;
  }
  bool key(json::string_t& k) {
    if (depth_ != 1 || out_.size == FlatFields::kMax) return false;
    for (std::size_t i = 0; i < out_.size; ++i) {
      if (out_.items[i].first == k) return false;  // twice: the tree decides
    }
    out_.items[out_.size].first = std::move(k);
    keyed_ = true;
    return true;
  }
  bool end_object() {
    if (depth_ != 1 || keyed_) return false;
    depth_ = 0;
    done_ = true;
    return true;
  }
  bool start_array(std::size_t /*elements*/) { return false; }  // an array: the tree's
  bool end_array() { return false; }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& /*ex*/) {
    return false;
  }

  [[nodiscard]] bool done() const { return done_; }

 private:
  bool value(json v) {
    if (depth_ != 1 || !keyed_) return false;  // a lone scalar is not a datagram
    out_.items[out_.size].second = std::move(v);
    ++out_.size;
    keyed_ = false;
    return true;
  }

  FlatFields& out_;
  int depth_ = 0;
  bool keyed_ = false;  ///< a key was read, its value not yet
  bool done_ = false;
};

}  // namespace

std::optional<Message> decode_flat(std::string_view bytes) {
  FlatFields fields;
  FlatSax sax(fields);
  try {
    // strict: the whole datagram is one item; CBOR tags are an error.
    if (!json::sax_parse(bytes.begin(), bytes.end(), &sax, json::input_format_t::cbor,
                         /*strict=*/true) ||
        !sax.done()) {
      return std::nullopt;
    }
  } catch (const std::exception&) {
    return std::nullopt;  // the tree decoder sees it as malformed
  }
  const auto version = get_u64(fields, "v");
  const auto type = get_string(fields, "t");
  if (!version || *version != kProtocolVersion || !type) {
    return std::nullopt;  // the tree decoder names the error
  }
  auto m = from_json(fields, *type);
  if (!m) return std::nullopt;
  return std::move(*m);
}

}  // namespace udpchat::wire
