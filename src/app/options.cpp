// options.cpp: the command line (cxxopts) and the configuration file merged
// into Settings, then checked into ServerOptions or ClientOptions.
#include "app/options.hpp"

#include <arpa/inet.h>

#include <cxxopts.hpp>

#include <algorithm>
#include <charconv>
#include <optional>
#include <vector>

#include "crypto/sodium.hpp"
#include "protocol/text.hpp"

namespace udpchat {

namespace {

template <typename T>
std::optional<T> parse_int(const std::string& s) {
  T value{};
  const auto* end = s.data() + s.size();
  const auto [ptr, ec] = std::from_chars(s.data(), end, value);
  if (ec != std::errc() || ptr != end || s.empty()) return std::nullopt;
  return value;
}

std::uint16_t parse_port(const std::string& what, const std::string& value) {
  const auto v = parse_int<long long>(value);
  if (!v || *v < static_cast<long long>(kMinPort) || *v > static_cast<long long>(kMaxPort)) {
    throw UsageError{what + " must be an integer from " + std::to_string(kMinPort) + " to " +
                     std::to_string(kMaxPort) + " (got '" + value + "')"};
  }
  return static_cast<std::uint16_t>(*v);
}

/// Reads checked values out of the merged settings; every error names the
/// option as the user wrote it (`--name`, or `FILE:LINE: key name`).
class Reader {
 public:
  explicit Reader(const Settings& s) : settings_(s) {}

  [[nodiscard]] bool has(std::string_view name) const { return settings_.contains(name); }

  [[nodiscard]] std::string label(std::string_view name) const {
    const auto it = settings_.find(name);
    if (it == settings_.end() || it->second.origin.empty()) return "--" + std::string(name);
    return it->second.origin + ": key " + std::string(name);
  }

  [[nodiscard]] std::string text(std::string_view name, std::string fallback = {}) const {
    const auto it = settings_.find(name);
    return it == settings_.end() ? fallback : it->second.value;
  }

  /// The integer option `name` within its table range, or `fallback`.
  [[nodiscard]] long long integer(std::string_view name, long long fallback) const {
    const auto it = settings_.find(name);
    if (it == settings_.end()) return fallback;
    const OptionSpec* spec = find_option(name);
    const auto v = parse_int<long long>(it->second.value);
    if (!v || *v < spec->lo || *v > spec->hi) {
      throw UsageError{label(name) + " must be an integer from " + std::to_string(spec->lo) +
                       " to " + std::to_string(spec->hi) + " (got '" + it->second.value + "')"};
    }
    return *v;
  }

 private:
  const Settings& settings_;
};

CommonOptions read_common(const Reader& r, LogLevel default_level) {
  CommonOptions c;
  if (r.has("bind")) {
    c.bind = r.text("bind");
    unsigned char buf[16];
    if (inet_pton(AF_INET, c.bind.c_str(), buf) != 1 &&
        inet_pton(AF_INET6, c.bind.c_str(), buf) != 1) {
      throw UsageError{r.label("bind") + " must be a numeric IPv4 or IPv6 address (got '" + c.bind +
                       "')"};
    }
  }
  c.ack_timeout = milliseconds(r.integer("ack-timeout-ms", 500));
  c.server_retries = static_cast<int>(r.integer("server-retries", kDefaultServerRetries));
  c.heartbeat = milliseconds(r.integer("heartbeat-ms", 30000));
  c.log_level = default_level;
  if (r.has("log-level")) {
    const std::string level = r.text("log-level");
    const auto parsed = parse_log_level(level);
    if (!parsed) {
      throw UsageError{r.label("log-level") +
                       " must be one of trace, debug, info, warn, error (got '" + level + "')"};
    }
    c.log_level = *parsed;
    c.log_level_given = true;
  }
  if (r.has("log-file")) {
    c.log_file = r.text("log-file");
    if (c.log_file.empty()) throw UsageError{r.label("log-file") + " must name a file"};
  }
  return c;
}

ServerOptions read_server(const Reader& r, const std::string& port) {
  ServerOptions o;
  o.port = parse_port("<port>", port);
  o.data_dir = r.text("data-dir", "./udpchat-data");
  if (o.data_dir.empty()) throw UsageError{r.label("data-dir") + " must name a directory"};
  if (r.has("store")) {
    o.store = r.text("store");
    if (!o.store.starts_with("postgresql://") && !o.store.starts_with("postgres://")) {
      throw UsageError{r.label("store") +
                       " must be a PostgreSQL connection URI, postgresql://[user@]host/database"};
    }
  }
  o.max_clients = static_cast<std::size_t>(r.integer("max-clients", 100000));
  o.max_stored = static_cast<std::size_t>(r.integer("max-stored", 10000));
  o.max_posts_per_minute =
      static_cast<std::size_t>(r.integer("max-posts-per-minute", kDefaultMaxPostsPerMinute));
  o.max_log_posts =
      static_cast<std::size_t>(r.integer("max-log-posts", kDefaultMaxLogPosts));
  o.log_retention = std::chrono::days(
      r.integer("log-retention-days", std::chrono::days(kDefaultLogRetention).count()));
  o.table_batch = milliseconds(r.integer("table-batch-ms", 20));
  o.full_table_limit = static_cast<std::size_t>(r.integer("full-table-limit", 1000));
  o.fanout_window = static_cast<std::size_t>(r.integer("fanout-window", 512));
  o.rate_limit =
      static_cast<double>(r.integer("rate-limit", static_cast<long long>(kDefaultRateLimit)));
  o.handshake_rate = static_cast<double>(
      r.integer("handshake-rate", static_cast<long long>(kDefaultHandshakeRate)));
  if (r.has("metrics")) {
    // ADDR:PORT, an IPv6 address in brackets: [::1]:9100.
    const std::string v = r.text("metrics");
    const auto colon = v.rfind(':');
    std::string host = colon == std::string::npos ? "" : v.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    unsigned char buf[16];
    if (colon == std::string::npos || (inet_pton(AF_INET, host.c_str(), buf) != 1 &&
                                       inet_pton(AF_INET6, host.c_str(), buf) != 1)) {
      throw UsageError{r.label("metrics") +
                       " must be ADDR:PORT with a numeric address, e.g. 127.0.0.1:9100 or "
                       "[::1]:9100 (got '" +
                       v + "')"};
    }
    o.metrics_host = host;
    o.metrics_port = parse_port(r.label("metrics") + " port", v.substr(colon + 1));
  }
  o.common = read_common(r, LogLevel::kInfo);
  return o;
}

ClientOptions read_client(const Reader& r, const std::string& nick,
                          const std::vector<std::string>& args) {
  ClientOptions o;
  o.nick = nick;
  if (!is_valid_nickname(o.nick)) {
    throw UsageError{"<nick> must be 1 to 32 characters from A-Z a-z 0-9 _ - . (got '" +
                     printable(o.nick) + "')"};
  }
  if (args.size() != 3) {
    throw UsageError{"-c needs <nick> <server-ip> <server-port> <client-port> (got " +
                     std::to_string(args.size() + 1) + " of 4)"};
  }
  o.server_host = args[0];
  if (o.server_host.empty()) {
    throw UsageError{"<server-ip> must be an IPv4 or IPv6 address or a host name"};
  }
  o.server_port = parse_port("<server-port>", args[1]);
  o.client_port = parse_port("<client-port>", args[2]);
  if (r.has("cluster")) {
    // HOST:PORT[,HOST:PORT...]; an IPv6 address in brackets: [::1]:5000.
    const std::string v = r.text("cluster");
    std::size_t start = 0;
    while (start <= v.size()) {
      const std::size_t end = std::min(v.find(',', start), v.size());
      const std::string item = v.substr(start, end - start);
      const auto colon = item.rfind(':');
      std::string host = colon == std::string::npos ? "" : item.substr(0, colon);
      if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
      }
      if (host.empty()) {
        throw UsageError{r.label("cluster") +
                         " must be HOST:PORT, several separated by commas, e.g. "
                         "10.0.0.2:5000,[2001:db8::2]:5000 (got '" +
                         item + "')"};
      }
      o.other_servers.emplace_back(host,
                                   parse_port(r.label("cluster") + " port", item.substr(colon + 1)));
      start = end + 1;
    }
  }
  o.max_pending = static_cast<std::size_t>(r.integer("max-pending", 100));
  o.nat_keepalive = milliseconds(r.integer("nat-keepalive-ms", kDefaultNatKeepalive.count()));
  if (r.has("key-file")) {
    o.key_file = r.text("key-file");
    if (o.key_file.empty()) throw UsageError{r.label("key-file") + " must name a file"};
  }
  if (r.has("server-key")) {
    o.server_key = r.text("server-key");
    if (!crypto::key_from_hex(o.server_key)) {
      throw UsageError{r.label("server-key") + " must be 64 hexadecimal digits (got '" +
                       printable(o.server_key) + "')"};
    }
  }
  if (r.has("password")) {
    o.password = r.text("password");
    o.ask_password = o.password.empty();
  }
  o.json = r.has("json");
  o.no_history = r.has("no-history");
  o.history_days = static_cast<int>(r.integer("history-days", 0));
  if (r.has("store-sync")) {
    const std::string sync = r.text("store-sync");
    if (sync != "normal" && sync != "full") {
      throw UsageError{r.label("store-sync") + " must be normal or full (got '" + printable(sync) +
                       "')"};
    }
    o.store_sync_full = sync == "full";
  }
  o.common = read_common(r, LogLevel::kWarn);
  return o;
}

cxxopts::Options make_parser() {
  cxxopts::Options options("udpchat");
  // Every value is read as a string and checked by Reader, so an error
  // names the argument and the rule rather than a C++ type.
  auto add = options.add_options();
  add("s,server", "", cxxopts::value<std::string>());
  add("c,client", "", cxxopts::value<std::string>());
  add("config", "", cxxopts::value<std::string>());
  for (const auto& o : option_table()) {
    const std::string name(o.name);
    switch (o.kind) {
      case OptionKind::kFlag:
        add(name, "", cxxopts::value<bool>());
        break;
      case OptionKind::kOptionalString:
        add(name, "", cxxopts::value<std::string>()->implicit_value(""));
        break;
      case OptionKind::kInteger:
      case OptionKind::kString:
        add(name, "", cxxopts::value<std::string>());
        break;
    }
  }
  add("h,help", "");
  add("version", "");
  add("args", "", cxxopts::value<std::vector<std::string>>());
  options.parse_positional({"args"});
  return options;
}

}  // namespace

Invocation parse_invocation(int argc, const char* const* argv) {
  auto parser = make_parser();
  cxxopts::ParseResult r;
  try {
    r = parser.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    throw UsageError{e.what()};
  }
  Invocation inv;
  if (r.count("help") != 0) {
    inv.mode = Invocation::Mode::kHelp;
    return inv;
  }
  if (r.count("version") != 0) {
    inv.mode = Invocation::Mode::kVersion;
    return inv;
  }
  const std::vector<std::string> args =
      r.count("args") != 0 ? r["args"].as<std::vector<std::string>>() : std::vector<std::string>{};
  const bool server = r.count("server") != 0;
  if (server == (r.count("client") != 0)) {
    throw UsageError{"give exactly one of -s <port> (server) or -c <nick> ... (client)"};
  }
  Settings settings;
  for (const auto& o : option_table()) {
    const std::string name(o.name);
    if (r.count(name) == 0) continue;
    settings[name] =
        Setting{o.kind == OptionKind::kFlag ? std::string("true") : r[name].as<std::string>(), ""};
  }
  if (r.count("config") != 0) {
    const std::string path = r["config"].as<std::string>();
    if (path.empty()) throw UsageError{"--config must name a file"};
    read_config_file(path, server ? OptionScope::kServer : OptionScope::kClient, settings);
  }
  const Reader reader(settings);
  if (server) {
    if (!args.empty()) {
      throw UsageError{"-s takes one argument, <port>; unexpected '" + args.front() + "'"};
    }
    inv.mode = Invocation::Mode::kServer;
    inv.server = read_server(reader, r["server"].as<std::string>());
  } else {
    inv.mode = Invocation::Mode::kClient;
    inv.client = read_client(reader, r["client"].as<std::string>(), args);
  }
  return inv;
}

}  // namespace udpchat
