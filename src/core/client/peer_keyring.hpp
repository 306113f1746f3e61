// peer_keyring.hpp: the client's end-to-end key state (manual §8;
// docs/SECURITY.md): its own X25519 key pair, the peer keys pinned at first
// sight (trust on first use, as SSH's known_hosts), the peers whose key
// changed and is not trusted yet, and the directional session keys agreed
// with each peer key (crypto_kx, cached). It seals, opens and tags; what
// the user is told about a key is the ClientSession's (client_keys.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "crypto/e2e.hpp"
#include "crypto/sodium.hpp"

namespace udpchat {

/// The key of `bytes` when it is exactly crypto::kKeyBytes long, else nullopt.
[[nodiscard]] std::optional<crypto::Key> key_from_bytes(std::string_view bytes);

class PeerKeyring {
 public:
  /// `own`: our key pair; `random`: the nonce source of sealed boxes;
  /// `pins`: peer keys pinned earlier (known_peers), by nickname key.
  PeerKeyring(crypto::KeyPair own, crypto::RandomSource random,
              const std::map<std::string, crypto::Key>& pins);

  [[nodiscard]] const crypto::KeyPair& own() const { return own_; }

  /// What a key seen for a peer (in a table row) meant.
  enum class KeyNews : std::uint8_t {
    kNone,      ///< the pinned key, or the change already reported, or not a key
    kPinned,    ///< first sight: pinned now (and in take_new_pins)
    kRestored,  ///< back to the pinned key after a change (in take_restored)
    kChanged,   ///< a key other than the pin, first seen now: held until trust
  };
  /// Notes `key` (bytes as on the wire) for the peer of nickname key `nk`.
  KeyNews note(const std::string& nk, std::string_view key);
  /// The key pinned for `nk`, if any.
  [[nodiscard]] std::optional<crypto::Key> pin(const std::string& nk) const;
  /// True while the key of `nk` changed and `trust` was not typed.
  [[nodiscard]] bool untrusted(const std::string& nk) const { return changed_.contains(nk); }
  /// `trust`: `key` becomes the pin of `nk` (in take_new_pins).
  void trust(const std::string& nk, const crypto::Key& key);

  /// The directional keys between us and the holder of `peer`; nullptr for a
  /// key of small order (nothing can be agreed with it).
  [[nodiscard]] const crypto::PeerKeys* peer_keys(const crypto::Key& peer);
  /// `text` sealed by `from` for `to` (who holds `peer`) as message `mid`.
  [[nodiscard]] std::optional<std::string> seal(std::string_view from, std::string_view to,
                                                const crypto::Key& peer, std::uint64_t mid,
                                                std::string_view text);
  /// The text of `box`, sealed by `from` (who holds `peer`) for `to` as
  /// message `mid`: valid UTF-8 of 1 to kMaxMessageBytes bytes, or nullopt.
  [[nodiscard]] std::optional<std::string> open(std::string_view from, std::string_view to,
                                                const crypto::Key& peer, std::uint64_t mid,
                                                std::string_view box);
  /// The tag of an ack of direct message `id` with the holder of `peer`
  /// (`sending`: the tag we put on our ack; else the one we expect); empty
  /// for a key of small order.
  [[nodiscard]] std::string ack_tag(const crypto::Key& peer, std::uint64_t id, bool sending);

  /// Pins made since the last call, for the shell to append to known_peers.
  std::vector<std::pair<std::string, crypto::Key>> take_new_pins() {
    return std::exchange(new_pins_, {});
  }
  /// Nickname keys whose key went back to their pin since the last call.
  std::vector<std::string> take_restored() { return std::exchange(restored_, {}); }

 private:
  /// Peer key pairs remembered at most (each costs an X25519 to compute).
  static constexpr std::size_t kMaxCachedPeerKeys = 4096;
  crypto::KeyPair own_;
  crypto::RandomSource random_;
  std::unordered_map<std::string, crypto::Key> pins_;  ///< by nickname key
  std::set<std::string> changed_;                      ///< key changed, not trusted
  std::map<crypto::Key, crypto::PeerKeys> kx_;         ///< by peer public key
  std::vector<std::pair<std::string, crypto::Key>> new_pins_;
  std::vector<std::string> restored_;
};

}  // namespace udpchat
