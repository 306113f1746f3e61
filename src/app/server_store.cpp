// server_store.cpp: see server_store.hpp.
#include "app/server_store.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>

#include "crypto/key_file.hpp"
#include "store/pg_store.hpp"
#include "store/sqlite_store.hpp"

namespace udpchat {
namespace {

/// docs/CLUSTER.md: this server's id among the servers sharing a database,
/// kept in <data-dir>/server.id so that it survives restarts and address
/// changes.
std::expected<std::string, StoreError> server_id(const std::string& data_dir) {
  const auto path = std::filesystem::path(data_dir) / "server.id";
  std::string id;
  if (std::ifstream in(path); in && std::getline(in, id) && id.size() == 16) return id;
  std::array<std::uint8_t, 8> raw{};
  crypto::system_random()(raw);
  id = crypto::to_hex(raw);
  std::ofstream out(path, std::ios::trunc);
  out << id << "\n";
  if (!out.flush()) {
    return std::unexpected(StoreError{"cannot write " + path.string()});
  }
  return id;
}

}  // namespace

std::expected<std::unique_ptr<OfflineStore>, StoreError> open_server_store(
    const ServerOptions& options) {
  if (!options.store.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options.data_dir, ec);
    if (ec) {
      return std::unexpected(
          StoreError{"cannot create data directory " + options.data_dir + ": " + ec.message()});
    }
    const auto id = server_id(options.data_dir);
    if (!id) return std::unexpected(id.error());
    auto pg = PgStore::open(options.store, *id);
    if (!pg) return std::unexpected(pg.error());
    return std::unique_ptr<OfflineStore>(std::move(*pg));
  }
  auto sqlite = SqliteStore::open(options.data_dir);
  if (!sqlite) return std::unexpected(sqlite.error());
  return std::unique_ptr<OfflineStore>(std::move(*sqlite));
}

std::expected<ServerKey, std::string> load_server_key(const ServerOptions& options,
                                                      OfflineStore& store) {
  // manual §9: the server's long-term key lives in its data directory.
  const std::string key_path = (std::filesystem::path(options.data_dir) / "server.key").string();
  auto key = crypto::load_or_create_key(key_path, crypto::system_random());
  if (!key) return std::unexpected(key.error());
  auto* pg = dynamic_cast<PgStore*>(&store);
  if (pg == nullptr) return ServerKey{*key, key_path};
  // docs/CLUSTER.md: every server on one database answers with one key,
  // the first one's, so a client moves between them without a warning.
  const auto& secret = key->secret_key;
  const auto shared =
      pg->cluster_secret({reinterpret_cast<const char*>(secret.data()), secret.size()});
  if (!shared || shared->size() != secret.size()) {
    return std::unexpected("cannot read the cluster key: " +
                           (shared ? std::string("it is not a key") : shared.error().what));
  }
  crypto::Key cluster{};
  std::copy(shared->begin(), shared->end(), cluster.begin());
  if (cluster == secret) return ServerKey{*key, key_path};
  return ServerKey{crypto::keypair_from_secret(cluster), "the cluster's, kept in PostgreSQL"};
}

}  // namespace udpchat
