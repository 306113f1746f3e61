// fuzz_session.cpp: libFuzzer target for the session layer (manual §8):
// the server's gate and the client's link fed hostile datagrams, before,
// during and after a genuine handshake.
//
// Each input is a script. Its first byte picks a genuine frame captured
// from a real handshake between a ServerLink and a ServerGate (Hello,
// Retry, Init, Accept, a Sealed frame each way, a Reset, or none); the rest
// is XORed into that frame (or sent as is), so the fuzzer reaches frames of
// the right type and size with wrong contents: bad cookies, bad Noise
// messages, bad tags, stale counters. The result goes to the gate (from the
// client's address and from another) and to the link. Properties checked:
// nothing crashes or leaks (ASan, UBSan); nothing forged opens (no
// plaintext comes out but the genuine one); the gate never answers a
// source with more bytes than it received from it, except the Accept to
// the genuine client's validated address.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/session/server_gate.hpp"
#include "core/session/server_link.hpp"

using namespace udpchat;

namespace {

const Endpoint kClient{"127.0.0.1", 7001};
const Endpoint kOther{"10.0.0.9", 5555};
const TimePoint kNow = TimePoint{} + std::chrono::hours(10);

/// The keys and randomness of both sides: the same at every input.
const crypto::KeyPair& server_key() {
  static const auto k = crypto::keypair_from_secret(crypto::Key{1});
  return k;
}
const crypto::KeyPair& client_key() {
  static const auto k = crypto::keypair_from_secret(crypto::Key{2});
  return k;
}

/// A gate and a link after a genuine handshake that carried "hello".
struct Pair {
  ServerGate gate{server_key(), {}, crypto::seeded_random(3)};
  std::uint64_t clock = 1;
  ServerLink link{client_key(), server_key().public_key, crypto::seeded_random(4),
                  [this] { return ++clock; }};
  std::vector<std::string> frames;  ///< every frame of the handshake, in order

  Pair() {
    gate.set_key_lookup([](const Endpoint&) { return std::optional(client_key().public_key); });
    std::vector<std::string> up;
    link.send("hello", kNow, up);
    for (int round = 0; round < 3 && !up.empty(); ++round) {
      std::vector<Outgoing> down;
      for (const auto& f : up) {
        frames.push_back(f);
        (void)gate.open(f, kClient, kNow, down);
      }
      up.clear();
      for (const auto& d : down) {
        frames.push_back(d.bytes);
        (void)link.on_frame(d.bytes, kNow, up);
      }
    }
    if (!link.established()) std::abort();  // the genuine handshake must work
  }
};

/// The genuine frames the fuzzer starts from: Hello, Retry, Init, Accept,
/// the sealed "hello", a sealed datagram down, and a Reset.
std::vector<std::string> capture() {
  Pair p;
  std::vector<std::string> frames = p.frames;
  std::vector<Outgoing> resets;
  frames.push_back(*p.gate.seal(kClient, "table", kNow, resets));
  frames.push_back(encode_reset(reset_token(crypto::Key{9}, client_key().public_key, kClient)));
  return frames;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<std::string> genuine = capture();
  if (size == 0) return 0;
  const std::size_t pick = data[0] % (genuine.size() + 1);
  std::string datagram;
  if (pick == genuine.size()) {
    datagram.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  } else {
    datagram = genuine[pick];
    for (std::size_t i = 1; i < size; ++i) {
      const std::size_t at = (i - 1) % (datagram.size() + 1);
      if (at == datagram.size()) {
        datagram.push_back(static_cast<char>(data[i]));
      } else {
        datagram[at] = static_cast<char>(datagram[at] ^ data[i]);
      }
    }
  }
  // Genuine: any captured frame as it was (the fuzzer learns them from this
  // very comparison, and may hand one in raw or rebuild it from another).
  const bool unchanged = std::find(genuine.begin(), genuine.end(), datagram) != genuine.end();

  // A fresh pair, the handshake done, then the datagram to both sides.
  Pair p;
  ServerGate& gate = p.gate;
  ServerLink& link = p.link;

  for (const Endpoint& from : {kOther, kClient}) {
    std::vector<Outgoing> answers;
    const auto opened = gate.open(datagram, from, kNow, answers);
    if (opened && !(unchanged && from == kClient)) std::abort();  // a forgery opened
    for (const auto& a : answers) {
      const bool accept =
          !a.bytes.empty() && static_cast<FrameType>(a.bytes[0]) == FrameType::kAccept;
      if (a.bytes.size() > datagram.size() && !(accept && from == kClient)) std::abort();
    }
  }
  std::vector<std::string> out;
  const auto r = link.on_frame(datagram, kNow, out);
  if (r.event == ServerLink::Event::kPlaintext && !unchanged) std::abort();
  return 0;
}
