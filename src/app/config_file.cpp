// config_file.cpp: `--config FILE`, a TOML file with the long options as
// keys (manual §3.5), read with toml++.
#include <toml++/toml.h>

#include <fstream>

#include "app/options.hpp"

namespace udpchat {

namespace {

std::string where(const std::string& path, const toml::source_region& at) {
  return path + ":" + std::to_string(at.begin.line);
}

std::string type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date or time";
  }
}

/// The value of `node` for option `spec` as command-line text; throws
/// UsageError when the TOML type does not fit.
std::string value_text(const OptionSpec& spec, const toml::node& node, const std::string& at) {
  const auto wrong = [&](const char* wanted) {
    return UsageError{at + ": key " + std::string(spec.name) + " must be " + wanted + " (got " +
                      type_name(node.type()) + ")"};
  };
  switch (spec.kind) {
    case OptionKind::kInteger:
      if (const auto v = node.value_exact<std::int64_t>()) return std::to_string(*v);
      throw wrong("an integer");
    case OptionKind::kFlag:
      if (const auto v = node.value_exact<bool>()) return *v ? "true" : "false";
      throw wrong("true or false");
    case OptionKind::kString:
    case OptionKind::kOptionalString:
      if (const auto v = node.value_exact<std::string>()) return *v;
      throw wrong("a string");
  }
  throw wrong("a value");
}

}  // namespace

void read_config_file(const std::string& path, OptionScope mode, Settings& settings) {
  if (!std::ifstream(path).good()) {
    throw UsageError{"--config: cannot read '" + path + "'"};
  }
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw UsageError{path + ":" + std::to_string(e.source().begin.line) + ":" +
                     std::to_string(e.source().begin.column) + ": " + std::string(e.description())};
  }
  for (auto&& [key, node] : root) {
    const std::string name(key.str());
    const std::string at = where(path, key.source());
    const OptionSpec* spec = find_option(name);
    if (spec == nullptr) {
      if (name == "server" || name == "client" || name == "config" || name == "help" ||
          name == "version") {
        throw UsageError{at + ": key " + name + " belongs on the command line, not in the file"};
      }
      throw UsageError{at + ": unknown key " + name};
    }
    if (spec->scope != OptionScope::kBoth && spec->scope != mode) {
      throw UsageError{at + ": key " + name + " is a " + to_string(spec->scope) +
                       " option, and this is a " + to_string(mode)};
    }
    std::string value = value_text(*spec, node, where(path, node.source()));
    if (spec->kind == OptionKind::kFlag && value == "false") continue;
    // try_emplace: a key the command line gave keeps the command line's value.
    settings.try_emplace(name, Setting{std::move(value), where(path, node.source())});
  }
}

}  // namespace udpchat
