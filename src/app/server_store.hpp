// server_store.hpp: where a server's state and identity come from: its store
// (SQLite in --data-dir, or PostgreSQL with --store: docs/CLUSTER.md), its
// id among the servers sharing a database, and its long-term key (manual
// §9: a key file in --data-dir, or the cluster's one key kept in the
// database).
#pragma once

#include <expected>
#include <memory>
#include <string>

#include "app/shell.hpp"
#include "core/server/offline_store.hpp"
#include "crypto/sodium.hpp"

namespace udpchat {

/// Opens the server's store: PostgreSQL with --store (its server id kept in
/// <data-dir>/server.id, 16 hex digits made at the first start), else
/// SQLite in --data-dir. The data directory is created if missing.
/// Errors: the store's, or the data directory's.
std::expected<std::unique_ptr<OfflineStore>, StoreError> open_server_store(
    const ServerOptions& options);

/// The server's key pair and where it came from (for its log line).
struct ServerKey {
  crypto::KeyPair pair;
  std::string origin;  ///< the key file's path, or "the cluster's, kept in PostgreSQL"
};

/// <data-dir>/server.key (made at the first start); on PostgreSQL, the
/// cluster's key: the first server's, which this one proposes. Errors: one
/// line saying what could not be read or written.
std::expected<ServerKey, std::string> load_server_key(const ServerOptions& options,
                                                      OfflineStore& store);

}  // namespace udpchat
