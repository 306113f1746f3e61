// user_event.hpp: what a client tells its user, as one event.
//
// Every event has the ">>> " line the manual (§4) specifies, printed by
// default, and a kind with named fields for `--json` (manual §4.10): a
// script reads {"event": kind, <fields>..., "line": line without ">>> "}
// instead of parsing the text.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace udpchat {

/// One named value of an event: text, an integer (ids, milliseconds since
/// the Unix epoch, counts) or a truth value.
struct EventField {
  std::string name;
  std::variant<std::string, std::int64_t, bool> value;
  friend bool operator==(const EventField&, const EventField&) = default;
};

/// One event for the user. `kind` is one of the names listed in manual
/// §4.10 ("message", "delivered", "no_ack", "saved", "error", "info"...);
/// `line` starts with ">>> ".
struct UserEvent {
  std::string kind;
  std::vector<EventField> fields;
  std::string line;
  friend bool operator==(const UserEvent&, const UserEvent&) = default;
};

}  // namespace udpchat
