// key_file.hpp: long-term keys on disk, and the servers a client trusts.
//
// A key file holds one X25519 secret key as 64 hexadecimal digits, after a
// comment line naming its public key. Like ssh's private keys, it must be
// readable by its owner only: a key file that group or others may read is
// refused, with the chmod that fixes it. `known_servers` (beside the key
// file) pins each server's public key at first contact, as ssh's
// known_hosts does: one line "<address>:<port> <public key in hex>".
#pragma once

#include <expected>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "crypto/sodium.hpp"

namespace udpchat::crypto {

/// The key pair in the file at `path`; when there is none, a new one is
/// generated from `random` and written there (the directories made 0700,
/// the file 0600, written to a temporary file, fsynced and renamed).
/// Errors are one line for the user: unreadable or malformed file, mode
/// too open, directory not writable.
[[nodiscard]] std::expected<KeyPair, std::string> load_or_create_key(const std::string& path,
                                                                     const RandomSource& random);

/// The key pinned for `server` (e.g. "127.0.0.1:4000") in the known_servers
/// file `path`: nullopt when not pinned (or no file yet); an error line when
/// the file cannot be read or a line for `server` is malformed.
[[nodiscard]] std::expected<std::optional<Key>, std::string> known_server_key(
    const std::string& path, std::string_view server);

/// Every pin of the file `path` ("<name> <key in hex>" lines, as
/// pin_server_key writes them), the last line of a name winning (a later
/// `trust` appends the new key): for known_peers. No file: no pins.
[[nodiscard]] std::expected<std::map<std::string, Key>, std::string> load_pins(
    const std::string& path);

/// Appends the pin "server key" to `path` (created 0600) and fsyncs it;
/// nothing when that very pin is there already.
[[nodiscard]] std::expected<void, std::string> pin_server_key(const std::string& path,
                                                              std::string_view server,
                                                              const Key& key);

}  // namespace udpchat::crypto
