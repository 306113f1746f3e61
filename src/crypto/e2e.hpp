// e2e.hpp: end-to-end protection of messages between two clients.
//
// Each client has one long-term X25519 key pair; the server announces the
// public keys in its table and each client pins them (manual §9). Between
// two key pairs, libsodium's key exchange (crypto_kx: BLAKE2b-512 of the
// X25519 shared secret and both public keys, split in two) gives one key
// per direction; each message is sealed with XChaCha20-Poly1305 (libsodium
// crypto_aead_xchacha20poly1305_ietf, a random 192-bit nonce per message,
// so random nonces never collide in practice) and the associated data names
// who sends what to whom, so a box cannot be passed off as another message,
// from another sender or for another recipient. The server relays and
// stores the boxes as they are and cannot open or forge them.
#pragma once

#include <optional>

#include "crypto/sodium.hpp"

namespace udpchat::crypto {

/// Bytes a box adds to its plaintext: nonce 24, tag 16.
inline constexpr std::size_t kBoxOverhead = 40;

/// The keys between `self` and the holder of `peer`: `send` seals what self
/// sends, `receive` opens what the peer sends. Both sides compute the same
/// pair crossed (the lower public key takes crypto_kx's client role).
/// nullopt when `peer` is a key of small order (the exchange would be
/// predictable). To oneself, send and receive are one key.
struct PeerKeys {
  Key send{};
  Key receive{};
};
[[nodiscard]] std::optional<PeerKeys> peer_keys(const KeyPair& self, const Key& peer);

/// Seals `plaintext` with `key` and associated data `ad`: nonce || ciphertext || tag.
[[nodiscard]] Bytes seal_box(const Key& key, ByteView ad, ByteView plaintext,
                             const RandomSource& random);
/// The plaintext of `box`, or nullopt if it was not sealed with `key` and `ad`.
[[nodiscard]] std::optional<Bytes> open_box(const Key& key, ByteView ad, ByteView box);

}  // namespace udpchat::crypto
