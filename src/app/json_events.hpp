// json_events.hpp: the --json form of a client's events (manual §4.10).
#pragma once

#include <string>

#include "core/client/user_event.hpp"

namespace udpchat {

/// One JSON object on one line, without the newline:
/// {"event": kind, <fields in order>..., "line": the line without ">>> "}.
/// Text that is not valid UTF-8 has its bad bytes replaced by U+FFFD.
[[nodiscard]] std::string event_json(const UserEvent& event);

}  // namespace udpchat
