// server_metrics.cpp: the OpenMetrics exposition (server_metrics.hpp).
#include "core/server/server_metrics.hpp"

#include <map>

namespace udpchat {

namespace {

class Exposition {
 public:
  void family(const char* name, const char* type, const char* help) {
    out_ += "# TYPE udpchat_";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += "\n# HELP udpchat_";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += '\n';
  }
  /// One sample: `name` with `suffix` ("_total" for counters), an optional
  /// label, and its value.
  void sample(const char* name, const char* suffix, std::uint64_t value, const char* label = "",
              const std::string& label_value = {}) {
    out_ += "udpchat_";
    out_ += name;
    out_ += suffix;
    if (*label != '\0') {
      out_ += '{';
      out_ += label;
      out_ += "=\"";
      out_ += escaped(label_value);
      out_ += "\"}";
    }
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
  }
  void counter(const char* name, const char* help, std::uint64_t value) {
    family(name, "counter", help);
    sample(name, "_total", value);
  }
  void gauge(const char* name, const char* help, std::uint64_t value) {
    family(name, "gauge", help);
    sample(name, "", value);
  }
  void labelled(const char* name, const char* help, const char* label,
                const std::map<std::string, std::uint64_t>& values) {
    family(name, "counter", help);
    for (const auto& [key, n] : values) sample(name, "_total", n, label, key);
  }
  void raw(const std::string& line) { out_ += line; }
  std::string take() { return std::move(out_); }

 private:
  /// Label values escape backslash, double quote and newline (OpenMetrics
  /// "Escaping").
  static std::string escaped(const std::string& v) {
    std::string out;
    for (const char c : v) {
      if (c == '\\' || c == '"') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else {
        out += c;
      }
    }
    return out;
  }
  std::string out_;
};

std::string seconds_of_us(std::int64_t us) {
  const std::int64_t whole = us / 1000000;
  std::string frac = std::to_string(us % 1000000);
  frac.insert(0, 6 - frac.size(), '0');
  return std::to_string(whole) + "." + frac;
}

}  // namespace

std::string openmetrics_text(SecureServer& server, const StoreWriterFigures& store) {
  ServerCore& core = server.core();
  const ServerStats& s = core.stats();
  Exposition e;
  e.counter("datagrams_received", "Datagrams received on the server's socket.", s.datagrams_in);
  e.counter("datagrams_sent", "Datagrams sent, retransmissions included.", s.datagrams_out);
  e.counter("retransmissions", "Datagrams sent again after their ack timeout.", s.retransmissions);
  e.gauge("clients_registered", "Nicknames the store holds, online or not.",
          core.clients_registered());
  e.gauge("clients_online", "Clients online now.", core.clients_online());
  e.gauge("table_version", "Version of the client table.", core.table_version());
  e.counter("messages_stored", "Messages for offline clients made durable.", s.messages_stored);
  e.counter("messages_delivered", "Stored messages acknowledged by their recipient.",
            s.messages_delivered);
  e.counter("log_rows_trimmed", "Channel and group messages trimmed once every member read them.",
            s.log_rows_trimmed);
  e.counter("keys_purged", "Idempotency keys purged once 7 days old, while the server ran.",
            s.keys_purged);
  e.labelled("requests", "Requests served, by kind.", "kind", s.requests);
  e.counter("relayed", "Datagrams relayed live between clients without a direct path.", s.relayed);
  e.counter("relayed_bytes", "Bytes of the datagrams relayed live between clients.",
            s.relayed_bytes);
  e.labelled("datagrams_dropped", "Datagrams dropped, by cause.", "cause", s.dropped);
  e.family("service_time_seconds", "summary",
           "Time to handle one datagram, over the recent ones (up to 8192).");
  e.raw("udpchat_service_time_seconds{quantile=\"0.5\"} " +
        seconds_of_us(s.service_percentile(50)) + "\n");
  e.raw("udpchat_service_time_seconds{quantile=\"0.99\"} " +
        seconds_of_us(s.service_percentile(99)) + "\n");
  e.gauge("sessions", "Secure sessions open.", server.gate().sessions());
  e.labelled("session_events", "Session layer events (hello, retry, handshake, ...).", "event",
             server.gate().counts());
  e.counter("store_commands", "Store commands run by the store writer.", store.commands);
  e.counter("store_transactions", "Transactions (group commits) of the store writer.",
            store.transactions);
  e.raw("# EOF\n");
  return e.take();
}

}  // namespace udpchat
