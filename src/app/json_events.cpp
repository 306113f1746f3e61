// json_events.cpp: UserEvent -> one line of JSON (nlohmann_json).
#include "app/json_events.hpp"

#include <nlohmann/json.hpp>

#include <string_view>

namespace udpchat {

std::string event_json(const UserEvent& event) {
  // ordered_json: "event" first, "line" last, the fields as the core made
  // them, so that a person reading the stream sees the same order.
  nlohmann::ordered_json j;
  j["event"] = event.kind;
  for (const auto& f : event.fields) {
    std::visit([&](const auto& v) { j[f.name] = v; }, f.value);
  }
  std::string_view line = event.line;
  if (line.starts_with(">>> ")) line.remove_prefix(4);
  j["line"] = line;
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace udpchat
