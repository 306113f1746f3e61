// client_keys.cpp: end-to-end protection of direct messages (manual §8;
// docs/SECURITY.md): boxes sealed for the recipient's key, peer keys
// pinned at first sight, the key-change warning, `trust` and
// `fingerprint`. The primitives are crypto/e2e.hpp's (libsodium).
#include "core/client/client_session.hpp"
#include "crypto/fingerprint.hpp"
#include "protocol/text.hpp"

namespace udpchat {
namespace {

std::optional<crypto::Key> as_key(std::string_view bytes) {
  if (bytes.size() != crypto::kKeyBytes) return std::nullopt;
  crypto::Key k{};
  std::copy(bytes.begin(), bytes.end(), k.begin());
  return k;
}

/// Peer key pairs remembered at most (each costs an X25519 to compute).
constexpr std::size_t kMaxCachedPeerKeys = 4096;
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

void ClientSession::note_key(const std::string& nk, const std::string& nick,
                             const std::string& key) {
  const auto k = as_key(key);
  if (!k) return;
  const auto pin = pins_.find(nk);
  if (pin == pins_.end()) {
    pins_.emplace(nk, *k);
    new_pins_.emplace_back(nk, *k);
    return;
  }
  if (pin->second == *k) {
    if (changed_.erase(nk) != 0) key_restored_.push_back(nk);  // back to the key we trust
    return;
  }
  if (changed_.insert(nk).second) {
    hold_told_.erase(nk);
    say("key_changed", "[Warning: the key of " + nick + " changed.]", {{"nick", nick}});
    log(LogLevel::kWarn, "the key of " + nick + " changed: " + crypto::to_hex(pin->second) +
                             " -> " + crypto::to_hex(*k));
  }
}

std::optional<crypto::Key> ClientSession::key_of(std::string_view nick) const {
  const std::string nk = nickname_key(nick);
  if (const auto row = table_.find(nk); row != table_.end()) {
    if (auto k = as_key(row->second.key)) return k;
  }
  if (const auto pin = pins_.find(nk); pin != pins_.end()) return pin->second;
  return std::nullopt;
}

std::optional<crypto::Key> ClientSession::receive_key_of(std::string_view nick) const {
  const std::string nk = nickname_key(nick);
  if (changed_.contains(nk)) {
    if (const auto pin = pins_.find(nk); pin != pins_.end()) return pin->second;
  }
  return key_of(nick);
}

const crypto::PeerKeys* ClientSession::peer_keys(const crypto::Key& peer) {
  if (const auto it = kx_.find(peer); it != kx_.end()) return &it->second;
  const auto keys = crypto::peer_keys(key_, peer);
  if (!keys) return nullptr;  // a key of small order: nothing can be agreed with it
  if (kx_.size() >= kMaxCachedPeerKeys) kx_.clear();
  return &kx_.emplace(peer, *keys).first->second;
}

std::optional<std::string> ClientSession::seal_for(const std::string& to, const crypto::Key& peer,
                                                   std::uint64_t mid, std::string_view text) {
  const auto* keys = peer_keys(peer);
  if (keys == nullptr) return std::nullopt;
  const auto box =
      crypto::seal_box(keys->send, crypto::as_bytes(e2e_associated_data(config_.nick, to, mid)),
                       crypto::as_bytes(text), random_);
  return std::string(box.begin(), box.end());
}

std::optional<std::string> ClientSession::open_from(const std::string& from,
                                                    const crypto::Key& peer, std::uint64_t mid,
                                                    std::string_view box) {
  const auto* keys = peer_keys(peer);
  if (keys == nullptr) return std::nullopt;
  const auto text = crypto::open_box(keys->receive,
                                     crypto::as_bytes(e2e_associated_data(from, config_.nick, mid)),
                                     crypto::as_bytes(box));
  if (!text) return std::nullopt;
  std::string s(text->begin(), text->end());
  if (s.empty() || s.size() > kMaxMessageBytes || !is_valid_utf8(s)) return std::nullopt;
  return s;
}

std::string ClientSession::ack_tag(const crypto::Key& peer, std::uint64_t id, bool sending) {
  const auto* keys = peer_keys(peer);
  if (keys == nullptr) return {};
  return e2e_ack_tag(sending ? keys->send : keys->receive, id);
}

void ClientSession::cmd_trust(std::string_view args, TimePoint now) {
  const std::string nick(args);
  if (!is_valid_nickname(nick)) {
    refuse("[Usage: trust <nick>]");
    return;
  }
  const std::string nk = nickname_key(nick);
  const auto row = table_.find(nk);
  const auto k = row == table_.end() ? std::nullopt : as_key(row->second.key);
  if (!changed_.contains(nk) || !k) {
    say(pins_.contains(nk) ? "[The key of " + nick + " has not changed.]"
                           : "[No key known for " + nick + ".]");
    return;
  }
  pins_[nk] = *k;
  new_pins_.emplace_back(nk, *k);
  changed_.erase(nk);
  hold_told_.erase(nk);
  say("[The new key of " + nick + " is trusted.]");
  if (const auto q = peers_.find(nk);
      q != peers_.end() && q->second.stage == SendStage::kUntrusted) {
    dispatch_front(nk, now);
  }
}

void ClientSession::cmd_fingerprint(std::string_view args) {
  if (args.empty()) {
    say("[Your fingerprint: " +
        crypto::group_digits(
            crypto::numeric_fingerprint(key_.public_key, nickname_key(config_.nick))) +
        "]");
    return;
  }
  const std::string nick(args);
  if (!is_valid_nickname(nick)) {
    refuse("[Usage: fingerprint [<nick>]]");
    return;
  }
  const auto k = key_of(nick);
  if (!k) {
    refuse("[No key known for " + nick + ".]");
    return;
  }
  say("[Safety number with " + nick + ": " +
      crypto::safety_number(key_.public_key, nickname_key(config_.nick), *k, nickname_key(nick)) +
      "]");
}

}  // namespace udpchat
