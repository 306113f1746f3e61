// client_identity.cpp: a client's key file, pins and password (see
// client_identity.hpp).
#include "app/client_identity.hpp"

#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>

#include "crypto/key_file.hpp"
#include "protocol/limits.hpp"
#include "protocol/text.hpp"

namespace udpchat {
namespace {

/// manual §9: $XDG_DATA_HOME/udpchat/<nick>.key (XDG_DATA_HOME defaults
/// to ~/.local/share, as the XDG Base Directory specification says); the
/// nickname in lower case, since nicknames are case-insensitive.
std::string default_key_file(const std::string& nick) {
  std::filesystem::path base;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && *xdg == '/') {
    base = xdg;
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    base = std::filesystem::path(home) / ".local" / "share";
  } else {
    base = ".";
  }
  return (base / "udpchat" / (nickname_key(nick) + ".key")).string();
}

std::uint64_t wall_clock_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

/// manual §9: `--password` alone asks for it on the terminal, without echo.
/// nullopt at end of input.
std::optional<std::string> ask_password(const std::string& nick) {
  // The echo goes off before the prompt shows: nothing typed is echoed.
  termios saved{};
  const bool tty = tcgetattr(STDIN_FILENO, &saved) == 0;
  if (tty) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::fprintf(stdout, "Password for %s: ", nick.c_str());
  std::fflush(stdout);
  std::string line;
  const bool got = static_cast<bool>(std::getline(std::cin, line));
  if (tty) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (!got) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

std::expected<std::string, IdentityError> password_of(const ClientOptions& options) {
  std::string password = options.password;
  if (options.ask_password) {
    if (isatty(STDIN_FILENO) != 1) {
      return std::unexpected(IdentityError{
          "--password without a value asks on a terminal; standard input is not one (give "
          "--password=<password>)",
          2});
    }
    auto typed = ask_password(options.nick);
    if (!typed || typed->empty()) return std::unexpected(IdentityError{"no password given", 2});
    password = std::move(*typed);
  }
  if (password.size() > kMaxPasswordBytes || !is_valid_utf8(password)) {
    return std::unexpected(IdentityError{
        "a password is 1 to " + std::to_string(kMaxPasswordBytes) + " bytes of text", 2});
  }
  return password;
}

}  // namespace

std::expected<ClientIdentity, IdentityError> load_client_identity(const ClientOptions& options,
                                                                  const std::string& server_name) {
  ClientIdentity id;
  auto password = password_of(options);
  if (!password) return std::unexpected(password.error());
  id.password = std::move(*password);
  const std::string key_file =
      options.key_file.empty() ? default_key_file(options.nick) : options.key_file;
  auto key = crypto::load_or_create_key(key_file, crypto::system_random());
  if (!key) return std::unexpected(IdentityError{key.error()});
  id.security.key = *key;
  const auto dir = std::filesystem::path(key_file).parent_path();
  if (!options.server_key.empty()) {
    id.security.pinned = crypto::key_from_hex(options.server_key);  // checked by main()
  } else {
    id.known_servers = (dir / "known_servers").string();
    const auto pinned = crypto::known_server_key(id.known_servers, server_name);
    if (!pinned) return std::unexpected(IdentityError{pinned.error()});
    id.security.pinned = *pinned;
  }
  id.security.known_servers = id.known_servers;
  id.known_peers = (dir / "known_peers").string();
  id.key_file = key_file;
  auto pins = crypto::load_pins(id.known_peers);
  if (!pins) return std::unexpected(IdentityError{pins.error()});
  id.pins = std::move(*pins);
  id.security.random = crypto::system_random();
  id.security.clock_ns = wall_clock_ns;
  return id;
}

}  // namespace udpchat
