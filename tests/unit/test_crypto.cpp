// test_crypto.cpp: the replay window, cookies, end-to-end boxes, safety
// numbers, password hashes and key files.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "crypto/cookie.hpp"
#include "crypto/e2e.hpp"
#include "crypto/fingerprint.hpp"
#include "crypto/key_file.hpp"
#include "crypto/password.hpp"
#include "crypto/replay_window.hpp"

namespace udpchat::crypto {

TEST_CASE("replay window: each counter once, reordering within the window, nothing older") {
  ReplayWindow w;
  CHECK(w.fresh(5));
  w.accept(5);
  CHECK_FALSE(w.fresh(5));
  CHECK(w.fresh(3));  // late, within the window
  w.accept(3);
  CHECK_FALSE(w.fresh(3));
  CHECK(w.fresh(4));
  w.accept(5000);
  CHECK_FALSE(w.fresh(5000 - ReplayWindow::kSize));  // fell out of the window
  CHECK(w.fresh(5000 - ReplayWindow::kSize + 1));
  CHECK_FALSE(w.fresh(4));
  w.accept(4999);
  CHECK_FALSE(w.fresh(4999));
  // A jump past the window forgets everything behind it.
  w.accept(5000 + 3 * ReplayWindow::kSize);
  CHECK_FALSE(w.fresh(4999));
  CHECK(w.fresh(5000 + 3 * ReplayWindow::kSize - 1));
  CHECK(w.highest() == 5000 + 3 * ReplayWindow::kSize);
}

TEST_CASE("cookies: valid for the address and two periods only, and not forgeable") {
  const auto random = seeded_random(1);
  AddressValidator v(random);
  const Bytes c = v.issue("127.0.0.1:4000", 10);
  CHECK(c.size() == kCookieBytes);
  CHECK(v.valid(c, "127.0.0.1:4000", 10));
  CHECK(v.valid(c, "127.0.0.1:4000", 11));
  CHECK_FALSE(v.valid(c, "127.0.0.1:4000", 12));
  CHECK_FALSE(v.valid(c, "127.0.0.1:4001", 10));
  CHECK_FALSE(v.valid(c, "127.0.0.2:4000", 10));
  Bytes bad = c;
  bad.back() ^= 1;
  CHECK_FALSE(v.valid(bad, "127.0.0.1:4000", 10));
  CHECK_FALSE(v.valid(ByteView(c).first(10), "127.0.0.1:4000", 10));
  AddressValidator other(seeded_random(2));  // another server, or this one restarted
  CHECK_FALSE(other.valid(c, "127.0.0.1:4000", 10));
}

TEST_CASE("end-to-end boxes: only the pair's keys and the same associated data open them") {
  const auto random = seeded_random(3);
  const KeyPair alice = generate_keypair(random);
  const KeyPair bob = generate_keypair(random);
  const KeyPair mallory = generate_keypair(random);
  auto ab = peer_keys(alice, bob.public_key);
  auto ba = peer_keys(bob, alice.public_key);
  REQUIRE(ab);
  REQUIRE(ba);
  CHECK(ab->send == ba->receive);
  CHECK(ab->receive == ba->send);
  CHECK(ab->send != ab->receive);

  const Bytes box = seal_box(ab->send, as_bytes("chat alice bob 7"), as_bytes("hello"), random);
  CHECK(box.size() == 5 + kBoxOverhead);
  auto opened = open_box(ba->receive, as_bytes("chat alice bob 7"), box);
  REQUIRE(opened);
  CHECK(std::string(opened->begin(), opened->end()) == "hello");
  CHECK_FALSE(open_box(ba->receive, as_bytes("chat alice bob 8"), box));  // another message id
  CHECK_FALSE(open_box(ba->send, as_bytes("chat alice bob 7"), box));     // the other direction
  auto mb = peer_keys(mallory, bob.public_key);
  REQUIRE(mb);
  // Mallory can neither open it nor seal one that bob takes for alice's.
  auto mal_box = seal_box(mb->send, as_bytes("chat alice bob 7"), as_bytes("hi"), random);
  CHECK_FALSE(open_box(ba->receive, as_bytes("chat alice bob 7"), mal_box));
  Bytes flipped = box;
  flipped[30] ^= 4;
  CHECK_FALSE(open_box(ba->receive, as_bytes("chat alice bob 7"), flipped));
  CHECK_FALSE(open_box(ba->receive, {}, Bytes(kBoxOverhead - 1)));
  // Two boxes of one text differ (random nonces).
  CHECK(seal_box(ab->send, {}, as_bytes("x"), random) !=
        seal_box(ab->send, {}, as_bytes("x"), random));
  // To oneself.
  auto self = peer_keys(alice, alice.public_key);
  REQUIRE(self);
  CHECK(open_box(self->receive, {}, seal_box(self->send, {}, as_bytes("note"), random)));
  CHECK_FALSE(peer_keys(alice, Key{}).has_value());  // small-order key
}

TEST_CASE("safety numbers: 60 digits, the same from both sides, different for another key") {
  const auto random = seeded_random(4);
  const KeyPair a = generate_keypair(random);
  const KeyPair b = generate_keypair(random);
  const KeyPair c = generate_keypair(random);
  const std::string fa = numeric_fingerprint(a.public_key, "alice");
  CHECK(fa.size() == 30);
  CHECK(fa.find_first_not_of("0123456789") == std::string::npos);
  const std::string ab = safety_number(a.public_key, "alice", b.public_key, "bob");
  CHECK(ab.size() == 60 + 11);
  CHECK(ab == safety_number(b.public_key, "bob", a.public_key, "alice"));
  CHECK(ab != safety_number(a.public_key, "alice", c.public_key, "bob"));
  CHECK(numeric_fingerprint(a.public_key, "alice") != numeric_fingerprint(a.public_key, "bob"));
  CHECK(group_digits("1234567890") == "12345 67890");
}

TEST_CASE("passwords: Argon2id hash verifies the password only") {
  auto h = hash_password("correct horse", minimal_cost());
  REQUIRE(h);
  CHECK(h->starts_with("$argon2id$"));
  CHECK(verify_password(*h, "correct horse"));
  CHECK_FALSE(verify_password(*h, "correct horsE"));
  CHECK_FALSE(verify_password("", "correct horse"));
  CHECK_FALSE(verify_password("$argon2id$garbage", "x"));
  auto h2 = hash_password("correct horse", minimal_cost());
  REQUIRE(h2);
  CHECK(*h != *h2);  // salted
}

TEST_CASE("key files: created 0600 and reused; too open or malformed is refused") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("udpchat-keys-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string path = (dir / "sub" / "alice.key").string();
  const auto random = seeded_random(5);
  auto created = load_or_create_key(path, random);
  REQUIRE(created);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto again = load_or_create_key(path, random);
  REQUIRE(again);
  CHECK(again->public_key == created->public_key);
  CHECK(again->secret_key == created->secret_key);

  ::chmod(path.c_str(), 0644);
  auto open = load_or_create_key(path, random);
  REQUIRE_FALSE(open);
  CHECK(open.error().find("readable by others (mode 0644)") != std::string::npos);
  CHECK(open.error().find("chmod 600 " + path) != std::string::npos);
  ::chmod(path.c_str(), 0600);

  const std::string junk = (dir / "junk.key").string();
  { std::ofstream(junk) << "not a key\n"; }
  ::chmod(junk.c_str(), 0600);
  auto bad = load_or_create_key(junk, random);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().find("not a udpchat key file") != std::string::npos);

  const std::string known = (dir / "sub" / "known_servers").string();
  auto none = known_server_key(known, "127.0.0.1:4000");
  REQUIRE(none);
  CHECK_FALSE(none->has_value());
  REQUIRE(pin_server_key(known, "127.0.0.1:4000", created->public_key));
  REQUIRE(pin_server_key(known, "[::1]:4000", again->public_key));
  REQUIRE(pin_server_key(known, "127.0.0.1:4000", created->public_key));  // already there
  {
    std::ifstream in(known);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(std::count(all.begin(), all.end(), '\n') == 2);
  }
  auto pinned = known_server_key(known, "127.0.0.1:4000");
  REQUIRE(pinned);
  REQUIRE(pinned->has_value());
  CHECK(**pinned == created->public_key);
  CHECK_FALSE(known_server_key(known, "127.0.0.1:4001")->has_value());
  { std::ofstream(known, std::ios::app) << "10.0.0.1:1 zz\n"; }
  CHECK_FALSE(known_server_key(known, "10.0.0.1:1").has_value());
  fs::remove_all(dir);
}

}  // namespace udpchat::crypto
