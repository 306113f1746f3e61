// e2e.cpp: end-to-end boxes between clients (see e2e.hpp).
#include "crypto/e2e.hpp"

#include <sodium.h>

#include <cstring>

namespace udpchat::crypto {

static_assert(kBoxOverhead == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES +
                                  crypto_aead_xchacha20poly1305_ietf_ABYTES);

std::optional<PeerKeys> peer_keys(const KeyPair& self, const Key& peer) {
  ensure_init();
  PeerKeys keys;
  const int order = std::memcmp(self.public_key.data(), peer.data(), kKeyBytes);
  int rc = 0;
  if (order <= 0) {
    rc = crypto_kx_client_session_keys(keys.receive.data(), keys.send.data(),
                                       self.public_key.data(), self.secret_key.data(), peer.data());
  } else {
    rc = crypto_kx_server_session_keys(keys.receive.data(), keys.send.data(),
                                       self.public_key.data(), self.secret_key.data(), peer.data());
  }
  if (rc != 0) return std::nullopt;
  if (order == 0) keys.receive = keys.send;
  return keys;
}

Bytes seal_box(const Key& key, ByteView ad, ByteView plaintext, const RandomSource& random) {
  ensure_init();
  Bytes box(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + plaintext.size() +
            crypto_aead_xchacha20poly1305_ietf_ABYTES);
  random(std::span(box).first(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES));
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      box.data() + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &len, plaintext.data(),
      plaintext.size(), ad.data(), ad.size(), nullptr, box.data(), key.data());
  return box;
}

std::optional<Bytes> open_box(const Key& key, ByteView ad, ByteView box) {
  ensure_init();
  if (box.size() < kBoxOverhead) return std::nullopt;
  Bytes out(box.size() - kBoxOverhead);
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          out.data(), &len, nullptr, box.data() + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
          box.size() - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, ad.data(), ad.size(),
          box.data(), key.data()) != 0) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

}  // namespace udpchat::crypto
