// options.hpp: from argv (and the configuration file it names) to the
// option structs of shell.hpp (manual §3). No asio here.
//
// Every value is first gathered as text with where it came from (a
// Setting), the command line over the file, then checked once by the same
// code, so an error names the option and the rule whichever place it was
// written in: "--ack-timeout-ms must be ..." or "server.toml:3: key
// ack-timeout-ms must be ...".
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "app/option_table.hpp"
#include "app/shell.hpp"

namespace udpchat {

/// A usage error (exit status 2): `message` names the argument and the rule.
struct UsageError {
  std::string message;
};

/// One option's value as written, and where: `origin` is empty for the
/// command line, "FILE:LINE" for a configuration file.
struct Setting {
  std::string value;
  std::string origin;
};

/// Long option name (no dashes) -> its setting.
using Settings = std::map<std::string, Setting, std::less<>>;

/// Reads the TOML file `path` (toml++) and adds to `settings` each key not
/// already there: the command line wins. `mode` is the mode being started;
/// a key of the other mode is refused, as is a key no option has, a table,
/// or a value of the wrong TOML type (integers for N, strings for text,
/// booleans for flags). Throws UsageError naming "FILE:LINE" and the key;
/// a file that cannot be read or parsed names the file (and line:column).
void read_config_file(const std::string& path, OptionScope mode, Settings& settings);

/// What main() is asked to do.
struct Invocation {
  enum class Mode { kServer, kClient, kHelp, kVersion };
  Mode mode = Mode::kHelp;
  ServerOptions server;
  ClientOptions client;
};

/// Parses argv with cxxopts, then `--config FILE` if given, then checks
/// every value. Throws UsageError (cxxopts' own errors are turned into one).
Invocation parse_invocation(int argc, const char* const* argv);

}  // namespace udpchat
