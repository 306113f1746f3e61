// codec_hot.cpp: the datagrams of the hot paths (Chat, Ack, Deliver, Save,
// Post: a direct send and its ack, a fan-out, a flood of saves) encoded
// without a JSON tree.
//
// nlohmann_json encodes a std::map-backed tree: building it costs a node
// and a string per field, all freed again, for every datagram (a profile
// of a fan-out showed allocation and the tree's destruction above the
// encoding itself). These kinds are written here straight into the output
// buffer, with the same bytes nlohmann_json writes for the same message:
// keys in the map's order (std::less on the key's bytes), every integer in
// its shortest form (RFC 8949 section 3), text as major type 3, binary
// strings as major type 2 without a tag. A unit test compares the two
// encoders byte for byte on every hot kind and every optional field
// (test_codec_hot.cpp), so the wire format stays the one docs/PROTOCOL.md
// names; every other kind keeps the tree encoder.
#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "protocol/codec.hpp"
#include "protocol/codec_fields.hpp"
#include "protocol/codec_names.hpp"

namespace udpchat::wire {
namespace {

/// Appends CBOR items (RFC 8949) to a string.
class CborOut {
 public:
  explicit CborOut(std::string& out) : out_(out) {}

  /// A head: major type `major` (0-7) and argument `n` in its shortest form.
  void head(unsigned major, std::uint64_t n) {
    const auto initial = static_cast<char>(major << 5U);
    if (n < 24) {
      out_.push_back(static_cast<char>(initial | static_cast<char>(n)));
    } else if (n <= 0xFF) {
      out_.push_back(static_cast<char>(initial | 24));
      big_endian(n, 1);
    } else if (n <= 0xFFFF) {
      out_.push_back(static_cast<char>(initial | 25));
      big_endian(n, 2);
    } else if (n <= 0xFFFFFFFFULL) {
      out_.push_back(static_cast<char>(initial | 26));
      big_endian(n, 4);
    } else {
      out_.push_back(static_cast<char>(initial | 27));
      big_endian(n, 8);
    }
  }
  void uint(std::uint64_t n) { head(0, n); }
  /// A signed integer: major type 0 when >= 0, else 1 with -1 - v.
  void sint(std::int64_t v) {
    if (v >= 0) {
      head(0, static_cast<std::uint64_t>(v));
    } else {
      head(1, static_cast<std::uint64_t>(-(v + 1)));
    }
  }
  void text(std::string_view s) {
    head(3, s.size());
    out_.append(s);
  }
  void binary(std::string_view s) {
    head(2, s.size());
    out_.append(s);
  }

 private:
  void big_endian(std::uint64_t n, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) {
      out_.push_back(static_cast<char>((n >> (8U * static_cast<unsigned>(i))) & 0xFFU));
    }
  }
  std::string& out_;
};

/// One field of a map: its key and how to write its value. A message's
/// fields are gathered, sorted by key as nlohmann_json's std::map keeps
/// them, then written.
struct Field {
  std::string_view key;
  enum class Kind : std::uint8_t { kUint, kSint, kText, kBinary, kEndpoint } kind;
  std::uint64_t u = 0;
  std::int64_t i = 0;
  std::string_view s{};
  std::uint16_t port = 0;
};

class Fields {
 public:
  void uint(std::string_view k, std::uint64_t v) { add({k, Field::Kind::kUint, v}); }
  void sint(std::string_view k, std::int64_t v) { add({k, Field::Kind::kSint, 0, v}); }
  void text(std::string_view k, std::string_view v) { add({k, Field::Kind::kText, 0, 0, v}); }
  void binary(std::string_view k, std::string_view v) {
    add({k, Field::Kind::kBinary, 0, 0, v});
  }
  void endpoint(std::string_view k, const Endpoint& e) {
    add({k, Field::Kind::kEndpoint, 0, 0, e.address, e.port});
  }
  /// The message's content: its box when it has one, else its text.
  void content(const std::string& text_, const std::string& box) {
    if (box.empty()) {
      text("text", text_);
    } else {
      binary("box", box);
    }
  }

  void write(std::string& out) {
    std::sort(fields_.begin(), fields_.begin() + static_cast<std::ptrdiff_t>(n_),
              [](const Field& a, const Field& b) { return a.key < b.key; });
    std::size_t size = 1;
    for (std::size_t k = 0; k < n_; ++k) size += fields_[k].key.size() + fields_[k].s.size() + 20;
    out.reserve(out.size() + size);  // one allocation
    CborOut cbor(out);
    cbor.head(5, n_);
    for (std::size_t k = 0; k < n_; ++k) {
      const Field& f = fields_[k];
      cbor.text(f.key);
      switch (f.kind) {
        case Field::Kind::kUint:
          cbor.uint(f.u);
          break;
        case Field::Kind::kSint:
          cbor.sint(f.i);
          break;
        case Field::Kind::kText:
          cbor.text(f.s);
          break;
        case Field::Kind::kBinary:
          cbor.binary(f.s);
          break;
        case Field::Kind::kEndpoint:
          cbor.head(4, 2);
          cbor.text(f.s);
          cbor.uint(f.port);
          break;
      }
    }
  }

 private:
  void add(Field f) { fields_[n_++] = f; }
  std::array<Field, 10> fields_{};  // the most any hot kind has: Ack's nine
  std::size_t n_ = 0;
};

void gather(Fields& f, const Chat& m) {
  f.text("t", "chat");
  f.uint("id", m.id);
  f.text("from", m.from);
  f.content(m.text, m.box);
}
void gather(Fields& f, const Ack& m) {
  f.text("t", "ack");
  f.uint("id", m.id);
  f.text("st", kAckStatusNames[static_cast<int>(m.status)]);
  if (m.stored != 0) f.uint("stored", m.stored);
  if (!m.detail.empty()) f.text("detail", m.detail);
  if (m.total != 0) f.uint("total", m.total);
  if (!m.tag.empty()) f.binary("tag", m.tag);
  if (!m.seen.address.empty()) f.endpoint("seen", m.seen);
  if (m.expired != 0) f.uint("expired", m.expired);
}
void gather(Fields& f, const Deliver& m) {
  f.text("t", "deliver");
  f.uint("id", m.id);
  f.text("from", m.from);
  f.uint("mid", m.mid);
  f.sint("at", m.saved_at_ms);
  f.content(m.text, m.box);
  if (!m.group.empty()) f.text("group", m.group);
}
void gather(Fields& f, const Save& m) {
  f.text("t", "save");
  f.uint("id", m.id);
  f.text("from", m.from);
  f.text("to", m.to);
  f.uint("mid", m.mid);
  f.content(m.text, m.box);
}
void gather(Fields& f, const Post& m) {
  f.text("t", "post");
  f.uint("id", m.id);
  f.text("from", m.from);
  f.text("group", m.group);
  f.uint("mid", m.mid);
  f.text("text", m.text);
}

}  // namespace

bool encode_hot(const Message& m, std::string& out) {
  return std::visit(
      [&out](const auto& msg) {
        using T = std::decay_t<decltype(msg)>;
        if constexpr (std::is_same_v<T, Chat> || std::is_same_v<T, Ack> ||
                      std::is_same_v<T, Deliver> || std::is_same_v<T, Save> ||
                      std::is_same_v<T, Post>) {
          Fields f;
          gather(f, msg);
          f.uint("v", kProtocolVersion);
          f.write(out);
          return true;
        } else {
          return false;
        }
      },
      m);
}

}  // namespace udpchat::wire
