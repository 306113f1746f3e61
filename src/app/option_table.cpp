#include "app/option_table.hpp"

#include <array>

namespace udpchat {

namespace {

using K = OptionKind;
using S = OptionScope;

// The ranges are those of manual §3.2; the defaults are in the help lines
// and in the option structs of shell.hpp.
constexpr std::array kOptions{
    OptionSpec{"data-dir", "DIR", K::kString, S::kServer,
               "directory of the SQLite store and server key (default ./udpchat-data)"},
    OptionSpec{"store", "URI", K::kString, S::kServer,
               "keep the server's state in PostgreSQL at URI (postgresql://...) instead"},
    OptionSpec{"bind", "ADDR", K::kString, S::kBoth,
               "local address to bind (default 0.0.0.0, or :: for an IPv6 server)"},
    OptionSpec{"ack-timeout-ms", "N", K::kInteger, S::kBoth,
               "ack window of a direct message, and spacing of retries (default 500)", 10, 60000},
    OptionSpec{"server-retries", "N", K::kInteger, S::kBoth,
               "tries of each request to the server, or of each server send (default 5)", 1, 100},
    OptionSpec{"heartbeat-ms", "N", K::kInteger, S::kClient,
               "heartbeat interval announced to the server (default 30000)", 100, 86400000},
    OptionSpec{"nat-keepalive-ms", "N", K::kInteger, S::kClient,
               "heartbeats at most this far apart behind a NAT (default 25000)", 100, 86400000},
    OptionSpec{"max-clients", "N", K::kInteger, S::kServer,
               "registered nicknames at most (default 100000)", 1, 10000000},
    OptionSpec{"max-stored", "N", K::kInteger, S::kServer,
               "messages waiting per recipient at most (default 10000)", 1, 10000000},
    OptionSpec{"max-posts-per-minute", "N", K::kInteger, S::kServer,
               "channel and group posts per client a minute (default 60; 0: no cap)",
               0, 1000000},
    OptionSpec{"max-log-posts", "N", K::kInteger, S::kServer,
               "posts per client and log not yet read by all (default 10000; 0: no cap)",
               0, 10000000},
    OptionSpec{"log-retention-days", "N", K::kInteger, S::kServer,
               "days an absent member holds the logs back (default 30; 0: for ever)",
               0, 36500},
    OptionSpec{"max-pending", "N", K::kInteger, S::kClient,
               "messages waiting for one peer at most (default 100)", 1, 100000},
    OptionSpec{"table-batch-ms", "N", K::kInteger, S::kServer,
               "table changes within this window go out as one version (default 20)", 0, 10000},
    OptionSpec{"full-table-limit", "N", K::kInteger, S::kServer,
               "while at most N clients are registered, each holds all (default 1000)", 0, 20000},
    OptionSpec{"fanout-window", "N", K::kInteger, S::kServer,
               "channel, group and stored deliveries in flight at once (default 512)", 1, 100000},
    OptionSpec{"rate-limit", "N", K::kInteger, S::kServer,
               "datagrams per second one source may send (default 1000)", 1, 1000000},
    OptionSpec{"handshake-rate", "N", K::kInteger, S::kServer,
               "session handshakes per second over all sources (default 2000)", 1, 1000000},
    OptionSpec{"metrics", "ADDR:PORT", K::kString, S::kServer,
               "serve the statistics as OpenMetrics on http://ADDR:PORT/metrics"},
    OptionSpec{"cluster", "HOST:PORT,...", K::kString, S::kClient,
               "the other servers of its cluster, tried when its server stops answering"},
    OptionSpec{"key-file", "FILE", K::kString, S::kClient,
               "its secret key (default $XDG_DATA_HOME/udpchat/<nick>.key)"},
    OptionSpec{"server-key", "HEX", K::kString, S::kClient,
               "the server's public key (64 hex digits) instead of known_servers"},
    OptionSpec{"password", "PASSWORD", K::kOptionalString, S::kClient,
               "the nickname's password, to move it to this key; alone: asked, no echo"},
    OptionSpec{"json", "", K::kFlag, S::kClient,
               "events on standard output as JSON objects, one per line (scripts, bots)"},
    OptionSpec{"history-days", "N", K::kInteger, S::kClient,
               "keep the text of messages N days (default 0: for ever)", 0, 36500},
    OptionSpec{"no-history", "", K::kFlag, S::kClient,
               "keep no history, only the ids of the messages taken (default: kept)"},
    OptionSpec{"store-sync", "MODE", K::kString, S::kClient,
               "normal: store outlives a crash; full: a power cut too (default normal)"},
    OptionSpec{"log-level", "LEVEL", K::kString, S::kBoth,
               "trace, debug, info, warn or error (default: server info, client warn)"},
    OptionSpec{"log-file", "FILE", K::kString, S::kBoth,
               "log to FILE (default stderr; a client at a terminal: beside its key)"},
};

constexpr std::string_view kSynopsis =
    "  udpchat -s <port> [options]                                          run the server\n"
    "  udpchat -c <nick> <server-ip> <server-port> <client-port> [options]  run a client\n"
    "  udpchat --help | --version\n";

void append_option(std::string& out, std::string_view name, std::string_view arg,
                   std::string_view help) {
  std::string left = "  --" + std::string(name);
  if (!arg.empty()) left += " " + std::string(arg);
  constexpr std::size_t kColumn = 28;
  out += left;
  out += left.size() + 2 <= kColumn ? std::string(kColumn - left.size(), ' ')
                                    : "\n" + std::string(kColumn, ' ');
  out += help;
  out += "\n";
}

}  // namespace

std::span<const OptionSpec> option_table() {
  return kOptions;
}

const OptionSpec* find_option(std::string_view name) {
  for (const auto& o : kOptions) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

const char* to_string(OptionScope scope) {
  switch (scope) {
    case OptionScope::kServer:
      return "server";
    case OptionScope::kClient:
      return "client";
    case OptionScope::kBoth:
      break;
  }
  return "both";
}

std::string_view synopsis() {
  return kSynopsis;
}

std::string help_text(std::string_view version) {
  std::string out = "udpchat " + std::string(version) +
                    ": chat over UDP with acknowledgements, a registry server and offline "
                    "messages.\n\nUsage:\n" +
                    std::string(kSynopsis) + "\n";
  const std::pair<OptionScope, const char*> groups[] = {
      {OptionScope::kBoth, "Options of both modes:"},
      {OptionScope::kServer, "Server options:"},
      {OptionScope::kClient, "Client options:"},
  };
  for (const auto& [scope, title] : groups) {
    out += title;
    out += "\n";
    if (scope == OptionScope::kBoth) {
      append_option(out, "config", "FILE",
                    "read these options from a TOML file; the command line wins");
    }
    for (const auto& o : kOptions) {
      if (o.scope == scope) append_option(out, o.name, o.arg, o.help);
    }
    if (scope == OptionScope::kBoth) {
      append_option(out, "help", "", "show this help, then exit (also -h)");
      append_option(out, "version", "", "show the version, then exit");
    }
    out += "\n";
  }
  out +=
      "Every option may come before, between or after the arguments. Exit status: 0 normal\n"
      "end, 1 a runtime failure, 2 a usage error. The manual: docs/MANUAL.md.\n";
  return out;
}

}  // namespace udpchat
