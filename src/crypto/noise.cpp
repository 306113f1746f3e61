// noise.cpp: Noise_IK_25519_ChaChaPoly_SHA256 (see noise.hpp for sources).
#include "crypto/noise.hpp"

#include <sodium.h>

#include <cstring>

namespace udpchat::crypto {
namespace {

constexpr char kProtocolName[] = "Noise_IK_25519_ChaChaPoly_SHA256";
static_assert(sizeof(kProtocolName) - 1 == crypto_hash_sha256_BYTES,
              "a name of HASHLEN bytes is used as the initial hash as is (section 5.2)");

void hmac(const Key& key, ByteView a, ByteView b, Key& out) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key.data(), key.size());
  crypto_auth_hmacsha256_update(&st, a.data(), a.size());
  crypto_auth_hmacsha256_update(&st, b.data(), b.size());
  crypto_auth_hmacsha256_final(&st, out.data());
  sodium_memzero(&st, sizeof st);
}

void nonce_of(std::uint64_t n,
              unsigned char (&nonce)[crypto_aead_chacha20poly1305_ietf_NPUBBYTES]) {
  std::memset(nonce, 0, sizeof nonce);
  for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<unsigned char>(n >> (8 * i));
}

}  // namespace

void noise_hkdf(const Key& ck, ByteView ikm, Key& out1, Key& out2) {
  Key temp{};
  hmac(ck, ikm, {}, temp);
  const std::uint8_t one = 1;
  hmac(temp, {&one, 1}, {}, out1);
  const std::uint8_t two = 2;
  hmac(temp, out1, {&two, 1}, out2);
  sodium_memzero(temp.data(), temp.size());
}

void aead_seal(const Key& k, std::uint64_t n, ByteView ad, ByteView plaintext, Bytes& out) {
  unsigned char nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
  nonce_of(n, nonce);
  const std::size_t at = out.size();
  out.resize(at + plaintext.size() + kAeadTagBytes);
  unsigned long long len = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(out.data() + at, &len, plaintext.data(),
                                            plaintext.size(), ad.data(), ad.size(), nullptr, nonce,
                                            k.data());
  out.resize(at + len);
}

std::optional<Bytes> aead_open(const Key& k, std::uint64_t n, ByteView ad, ByteView ciphertext) {
  if (ciphertext.size() < kAeadTagBytes) return std::nullopt;
  unsigned char nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
  nonce_of(n, nonce);
  Bytes out(ciphertext.size() - kAeadTagBytes);
  unsigned long long len = 0;
  if (crypto_aead_chacha20poly1305_ietf_decrypt(out.data(), &len, nullptr, ciphertext.data(),
                                                ciphertext.size(), ad.data(), ad.size(), nonce,
                                                k.data()) != 0) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

NoiseIK::NoiseIK(const KeyPair& s, ByteView prologue) : s_(s) {
  ensure_init();
  std::memcpy(h_.data(), kProtocolName, h_.size());  // InitializeSymmetric
  ck_ = h_;
  mix_hash(prologue);
}

NoiseIK NoiseIK::initiator(const KeyPair& s, const Key& rs, ByteView prologue) {
  NoiseIK hs(s, prologue);
  hs.rs_ = rs;
  hs.mix_hash(rs);  // pre-message "<- s"
  return hs;
}

NoiseIK NoiseIK::responder(const KeyPair& s, ByteView prologue) {
  NoiseIK hs(s, prologue);
  hs.mix_hash(s.public_key);  // pre-message "<- s"
  return hs;
}

void NoiseIK::mix_hash(ByteView data) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, h_.data(), h_.size());
  crypto_hash_sha256_update(&st, data.data(), data.size());
  crypto_hash_sha256_final(&st, h_.data());
}

void NoiseIK::mix_key(ByteView input_key_material) {
  Key ck{};
  noise_hkdf(ck_, input_key_material, ck, k_);
  ck_ = ck;
  has_key_ = true;
  n_ = 0;
}

bool NoiseIK::mix_dh(const Key& secret, const Key& public_key) {
  Key shared{};
  // libsodium refuses (-1) a public key of small order, whose result would
  // be all zeros: the handshake fails instead of keying on a known value.
  if (crypto_scalarmult(shared.data(), secret.data(), public_key.data()) != 0) {
    failed_ = true;
    return false;
  }
  mix_key(shared);
  sodium_memzero(shared.data(), shared.size());
  return true;
}

void NoiseIK::encrypt_and_hash(ByteView plaintext, Bytes& out) {
  const std::size_t at = out.size();
  if (has_key_) {
    aead_seal(k_, n_++, h_, plaintext, out);
  } else {
    out.insert(out.end(), plaintext.begin(), plaintext.end());
  }
  mix_hash(ByteView(out).subspan(at));
}

std::optional<Bytes> NoiseIK::decrypt_and_hash(ByteView ciphertext) {
  std::optional<Bytes> plain;
  if (has_key_) {
    plain = aead_open(k_, n_, h_, ciphertext);
    if (!plain) {
      failed_ = true;
      return std::nullopt;
    }
    ++n_;
  } else {
    plain = Bytes(ciphertext.begin(), ciphertext.end());
  }
  mix_hash(ciphertext);
  return plain;
}

std::optional<Bytes> NoiseIK::write_message1(const KeyPair& e, ByteView payload) {
  e_ = e;
  Bytes out(e_.public_key.begin(), e_.public_key.end());  // e
  mix_hash(e_.public_key);
  if (!mix_dh(e_.secret_key, rs_)) return std::nullopt;  // es
  encrypt_and_hash(s_.public_key, out);                  // s
  if (!mix_dh(s_.secret_key, rs_)) return std::nullopt;  // ss
  encrypt_and_hash(payload, out);
  return out;
}

std::optional<Bytes> NoiseIK::read_message1(ByteView message) {
  if (failed_ || message.size() < kNoiseMessage1Overhead) return std::nullopt;
  std::memcpy(re_.data(), message.data(), re_.size());  // e
  mix_hash(re_);
  if (!mix_dh(s_.secret_key, re_)) return std::nullopt;  // es
  auto s = decrypt_and_hash(message.subspan(32, 48));    // s
  if (!s || s->size() != rs_.size()) return std::nullopt;
  std::memcpy(rs_.data(), s->data(), rs_.size());
  if (!mix_dh(s_.secret_key, rs_)) return std::nullopt;  // ss
  return decrypt_and_hash(message.subspan(80));
}

std::optional<Bytes> NoiseIK::write_message2(const KeyPair& e, ByteView payload) {
  e_ = e;
  Bytes out(e_.public_key.begin(), e_.public_key.end());  // e
  mix_hash(e_.public_key);
  if (!mix_dh(e_.secret_key, re_)) return std::nullopt;  // ee
  if (!mix_dh(e_.secret_key, rs_)) return std::nullopt;  // se
  encrypt_and_hash(payload, out);
  return out;
}

std::optional<Bytes> NoiseIK::read_message2(ByteView message) {
  if (failed_ || message.size() < kNoiseMessage2Overhead) return std::nullopt;
  std::memcpy(re_.data(), message.data(), re_.size());  // e
  mix_hash(re_);
  if (!mix_dh(e_.secret_key, re_)) return std::nullopt;  // ee
  if (!mix_dh(s_.secret_key, re_)) return std::nullopt;  // se
  return decrypt_and_hash(message.subspan(32));
}

TransportKeys NoiseIK::split() const {
  TransportKeys keys;
  noise_hkdf(ck_, {}, keys.initiator_to_responder, keys.responder_to_initiator);
  keys.handshake_hash = h_;
  return keys;
}

}  // namespace udpchat::crypto
