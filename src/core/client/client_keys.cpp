// client_keys.cpp: what the user sees of end-to-end protection (manual §8;
// docs/SECURITY.md): the key-change warning, the key a peer's messages
// are sealed and opened under, `trust` and `fingerprint`. The key state
// itself is the PeerKeyring's (peer_keyring.cpp).
#include "core/client/client_session.hpp"
#include "crypto/fingerprint.hpp"
#include "protocol/text.hpp"

namespace udpchat {
void ClientSession::note_key(const std::string& nk, const std::string& nick,
                             const std::string& key) {
  const auto pinned = keyring_.pin(nk);
  if (keyring_.note(nk, key) != PeerKeyring::KeyNews::kChanged) return;
  hold_told_.erase(nk);
  say("key_changed", "[Warning: the key of " + nick + " changed.]", {{"nick", nick}});
  log(LogLevel::kWarn, "the key of " + nick + " changed: " + crypto::to_hex(*pinned) + " -> " +
                           crypto::to_hex(*key_from_bytes(key)));
}

std::optional<crypto::Key> ClientSession::key_of(std::string_view nick) const {
  const std::string nk = nickname_key(nick);
  if (const TableEntry* row = table_.find(nk); row != nullptr) {
    if (auto k = key_from_bytes(row->key)) return k;
  }
  return keyring_.pin(nk);
}

std::optional<crypto::Key> ClientSession::receive_key_of(std::string_view nick) const {
  const std::string nk = nickname_key(nick);
  if (keyring_.untrusted(nk)) {
    if (auto pin = keyring_.pin(nk)) return pin;
  }
  return key_of(nick);
}

void ClientSession::cmd_trust(std::string_view args, TimePoint now) {
  const std::string nick(args);
  if (!is_valid_nickname(nick)) {
    refuse("[Usage: trust <nick>]");
    return;
  }
  const std::string nk = nickname_key(nick);
  const TableEntry* row = table_.find(nk);
  const auto k = row == nullptr ? std::nullopt : key_from_bytes(row->key);
  if (!keyring_.untrusted(nk) || !k) {
    say(keyring_.pin(nk) ? "[The key of " + nick + " has not changed.]"
                         : "[No key known for " + nick + ".]");
    return;
  }
  keyring_.trust(nk, *k);
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
            crypto::numeric_fingerprint(keyring_.own().public_key, nickname_key(config_.nick))) +
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
      crypto::safety_number(keyring_.own().public_key, nickname_key(config_.nick), *k,
                            nickname_key(nick)) +
      "]");
}

}  // namespace udpchat
