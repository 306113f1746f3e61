// option_table.hpp: every long option of udpchat, once (manual §3.2).
//
// The command line (cxxopts), the configuration file (toml++) and the help
// text are all built from this one table, so an option cannot be accepted
// by one of them and unknown to another.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace udpchat {

/// What an option's value is: an integer in [lo, hi], a string, a flag
/// (no value on the command line, a boolean in the file), or a string whose
/// value may be left out on the command line (`--password` alone).
enum class OptionKind { kInteger, kString, kFlag, kOptionalString };

/// Which mode reads an option; the other mode accepts and ignores it on the
/// command line, and refuses it in a configuration file.
enum class OptionScope { kServer, kClient, kBoth };

/// One long option. `name` is both the command-line spelling without its
/// dashes and the configuration file's key.
struct OptionSpec {
  std::string_view name;
  std::string_view arg;  ///< placeholder in the help: "N", "DIR"; empty for a flag
  OptionKind kind = OptionKind::kString;
  OptionScope scope = OptionScope::kBoth;
  std::string_view help;  ///< one line, with its default
  long long lo = 0;       ///< integers only: the accepted range
  long long hi = 0;
};

/// Every long option that a configuration file may also set (not -s, -c,
/// --config, --help, --version), in the order the help lists them.
std::span<const OptionSpec> option_table();

/// The spec named `name`, or nullptr.
const OptionSpec* find_option(std::string_view name);

/// "server", "client" or "both".
const char* to_string(OptionScope scope);

/// The whole of `udpchat --help`: one usage block, then the options grouped
/// by mode, each with its default (manual §3.2).
std::string help_text(std::string_view version);

/// The synopsis printed after a usage error (the usage block's lines).
std::string_view synopsis();

}  // namespace udpchat
