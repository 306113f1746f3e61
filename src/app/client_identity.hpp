// client_identity.hpp: what a client process knows of itself before it
// opens a socket (manual §9): its key file, the server key it trusts
// (known_servers or --server-key), the peer keys it pinned (known_peers)
// and its password (--password, or asked on the terminal without echo).
// No asio here: run_client (client_shell.cpp) builds on it.
#pragma once

#include <expected>
#include <map>
#include <string>

#include "app/shell.hpp"
#include "core/client/secure_client.hpp"

namespace udpchat {

struct ClientIdentity {
  SecurityConfig security;                  ///< key, pinned server key, randomness, clock
  std::map<std::string, crypto::Key> pins;  ///< known_peers, by nickname key
  std::string known_servers;                ///< its path; empty with --server-key
  std::string known_peers;                  ///< its path
  std::string password;                     ///< empty: none
  std::string key_file;                     ///< its path (the client's store lives beside it)
};

/// Why the identity could not be had: the line for standard error (without
/// "udpchat: ") and the exit status (2: a usage error, 1: a runtime failure).
struct IdentityError {
  std::string line;
  int status = 1;
};

/// Reads (or creates) everything above for a client of `server_name`
/// ("<address>:<port>"). Errors: an unreadable or too open key file, a
/// malformed known_servers or known_peers, a password of more than
/// kMaxPasswordBytes, `--password` alone when standard input is no terminal.
std::expected<ClientIdentity, IdentityError> load_client_identity(const ClientOptions& options,
                                                                  const std::string& server_name);

}  // namespace udpchat
