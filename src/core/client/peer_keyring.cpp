// peer_keyring.cpp: pins, key changes, the boxes of direct messages and
// the tags of acks and probes (crypto/e2e.hpp: libsodium's crypto_kx,
// secretbox and keyed BLAKE2b).
#include "core/client/peer_keyring.hpp"

#include <algorithm>

#include "core/client/client_config.hpp"
#include "protocol/limits.hpp"
#include "protocol/text.hpp"

namespace udpchat {
namespace {

/// Bytes of an ack's tag.
constexpr std::size_t kAckTagBytes = 16;

}  // namespace

std::string e2e_associated_data(std::string_view from, std::string_view to, std::uint64_t mid) {
  return "udpchat box v1|" + nickname_key(from) + "|" + nickname_key(to) + "|" +
         std::to_string(mid);
}

std::string e2e_ack_tag(const crypto::Key& key, std::uint64_t id) {
  std::string tag(kAckTagBytes, '\0');
  const std::string what = "udpchat ack v1|" + std::to_string(id);
  crypto::keyed_hash(key, crypto::as_bytes(what),
                     {reinterpret_cast<std::uint8_t*>(tag.data()), tag.size()});
  return tag;
}

std::string e2e_probe_tag(const crypto::Key& key, std::uint64_t id, bool answer) {
  std::string tag(kAckTagBytes, '\0');
  const std::string what =
      std::string(answer ? "udpchat probe answer v1|" : "udpchat probe v1|") + std::to_string(id);
  crypto::keyed_hash(key, crypto::as_bytes(what),
                     {reinterpret_cast<std::uint8_t*>(tag.data()), tag.size()});
  return tag;
}

std::optional<crypto::Key> key_from_bytes(std::string_view bytes) {
  if (bytes.size() != crypto::kKeyBytes) return std::nullopt;
  crypto::Key k{};
  std::copy(bytes.begin(), bytes.end(), k.begin());
  return k;
}

PeerKeyring::PeerKeyring(crypto::KeyPair own, crypto::RandomSource random,
                         const std::map<std::string, crypto::Key>& pins)
    : own_(std::move(own)), random_(std::move(random)), pins_(pins.begin(), pins.end()) {}

PeerKeyring::KeyNews PeerKeyring::note(const std::string& nk, std::string_view key) {
  const auto k = key_from_bytes(key);
  if (!k) return KeyNews::kNone;
  const auto pin = pins_.find(nk);
  if (pin == pins_.end()) {
    pins_.emplace(nk, *k);
    new_pins_.emplace_back(nk, *k);
    return KeyNews::kPinned;
  }
  if (pin->second == *k) {
    if (changed_.erase(nk) == 0) return KeyNews::kNone;
    restored_.push_back(nk);  // back to the key we trust
    return KeyNews::kRestored;
  }
  return changed_.insert(nk).second ? KeyNews::kChanged : KeyNews::kNone;
}

std::optional<crypto::Key> PeerKeyring::pin(const std::string& nk) const {
  if (const auto it = pins_.find(nk); it != pins_.end()) return it->second;
  return std::nullopt;
}

void PeerKeyring::trust(const std::string& nk, const crypto::Key& key) {
  pins_[nk] = key;
  new_pins_.emplace_back(nk, key);
  changed_.erase(nk);
}

const crypto::PeerKeys* PeerKeyring::peer_keys(const crypto::Key& peer) {
  if (const auto it = kx_.find(peer); it != kx_.end()) return &it->second;
  const auto keys = crypto::peer_keys(own_, peer);
  if (!keys) return nullptr;
  if (kx_.size() >= kMaxCachedPeerKeys) kx_.clear();
  return &kx_.emplace(peer, *keys).first->second;
}

std::optional<std::string> PeerKeyring::seal(std::string_view from, std::string_view to,
                                             const crypto::Key& peer, std::uint64_t mid,
                                             std::string_view text) {
  const auto* keys = peer_keys(peer);
  if (keys == nullptr) return std::nullopt;
  const auto box =
      crypto::seal_box(keys->send, crypto::as_bytes(e2e_associated_data(from, to, mid)),
                       crypto::as_bytes(text), random_);
  return std::string(box.begin(), box.end());
}

std::optional<std::string> PeerKeyring::open(std::string_view from, std::string_view to,
                                             const crypto::Key& peer, std::uint64_t mid,
                                             std::string_view box) {
  const auto* keys = peer_keys(peer);
  if (keys == nullptr) return std::nullopt;
  const auto text = crypto::open_box(
      keys->receive, crypto::as_bytes(e2e_associated_data(from, to, mid)), crypto::as_bytes(box));
  if (!text) return std::nullopt;
  std::string s(text->begin(), text->end());
  if (s.empty() || s.size() > kMaxMessageBytes || !is_valid_utf8(s)) return std::nullopt;
  return s;
}

std::string PeerKeyring::ack_tag(const crypto::Key& peer, std::uint64_t id, bool sending) {
  const auto* keys = peer_keys(peer);
  if (keys == nullptr) return {};
  return e2e_ack_tag(sending ? keys->send : keys->receive, id);
}

}  // namespace udpchat
