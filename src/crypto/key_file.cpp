// key_file.cpp: key files and known_servers (see key_file.hpp).
#include "crypto/key_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace udpchat::crypto {
namespace {

constexpr std::string_view kHeader = "# udpchat secret key, keep it private. Public key: ";

std::string errno_text() {
  return std::strerror(errno);
}

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

/// Writes `text` to `path` atomically with mode 0600.
std::expected<void, std::string> write_private(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return std::unexpected("cannot create key file " + tmp + ": " + errno_text());
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    return std::unexpected("cannot write key file " + path + ": " + why);
  }
  return {};
}

/// Calls `each(name, key)` for every "<name> <key in hex>" line of the
/// pin file `path`, in order (comments and blank lines skipped). No file:
/// no lines. A malformed line is an error naming it.
template <typename Each>
std::expected<void, std::string> scan_pins(const std::string& path, Each&& each) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT || !std::filesystem::exists(path)) return {};
    return std::unexpected("cannot read " + path + ": " + errno_text());
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string name, hex;
    words >> name >> hex;
    const auto key = key_from_hex(hex);
    if (name.empty() || !key) {
      return std::unexpected(path + " line " + std::to_string(number) +
                             ": not \"<name> <64 hex digits>\"");
    }
    each(name, *key);
  }
  return {};
}

}  // namespace

std::expected<KeyPair, std::string> load_or_create_key(const std::string& path,
                                                       const RandomSource& random) {
  ensure_init();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT)
      return std::unexpected("cannot read key file " + path + ": " + errno_text());
    std::error_code ec;
    const auto dir = std::filesystem::path(path).parent_path();
    if (!dir.empty() && !std::filesystem::exists(dir, ec)) {
      std::filesystem::create_directories(dir, ec);
      if (ec) return std::unexpected("cannot create " + dir.string() + ": " + ec.message());
      std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
    }
    KeyPair kp = generate_keypair(random);
    std::string text =
        std::string(kHeader) + to_hex(kp.public_key) + "\n" + to_hex(kp.secret_key) + "\n";
    auto written = write_private(path, text);
    sodium_memzero(text.data(), text.size());
    if (!written) return std::unexpected(written.error());
    return kp;
  }
  if ((st.st_mode & 077) != 0) {
    return std::unexpected("key file " + path + " is readable by others (mode " +
                           octal(st.st_mode) + "); it must be private: chmod 600 " + path);
  }
  std::ifstream in(path);
  if (!in) return std::unexpected("cannot read key file " + path + ": " + errno_text());
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sk = key_from_hex(line);
    sodium_memzero(line.data(), line.size());
    if (!sk) break;
    KeyPair kp = keypair_from_secret(*sk);
    sodium_memzero(sk->data(), sk->size());
    return kp;
  }
  return std::unexpected("key file " + path +
                         " is not a udpchat key file (64 hex digits expected)");
}

std::expected<std::optional<Key>, std::string> known_server_key(const std::string& path,
                                                                std::string_view server) {
  // The first pin of `server` counts (a later line for it is never written).
  std::optional<Key> found;
  auto scanned = scan_pins(path, [&](const std::string& name, const Key& key) {
    if (name == server && !found) found = key;
  });
  if (!scanned) return std::unexpected(scanned.error());
  return found;
}

std::expected<std::map<std::string, Key>, std::string> load_pins(const std::string& path) {
  std::map<std::string, Key> pins;
  auto scanned =
      scan_pins(path, [&](const std::string& name, const Key& key) { pins[name] = key; });
  if (!scanned) return std::unexpected(scanned.error());
  return pins;
}

std::expected<void, std::string> pin_server_key(const std::string& path, std::string_view server,
                                                const Key& key) {
  // Two clients of one key directory meeting a server at once both pin it:
  // a pin already there is not written again.
  if (auto pinned = known_server_key(path, server); pinned && *pinned == key) return {};
  std::error_code ec;
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return std::unexpected("cannot write " + path + ": " + errno_text());
  const std::string text = std::string(server) + " " + to_hex(key) + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  const std::string why = ok ? "" : errno_text();
  ::close(fd);
  if (!ok) return std::unexpected("cannot write " + path + ": " + why);
  return {};
}

}  // namespace udpchat::crypto
