// metrics_http.hpp: `--metrics ADDR:PORT` (manual §6.10): GET /metrics over
// HTTP with cpp-httplib, on threads of its own. No asio here.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace udpchat {

class MetricsHttp {
 public:
  /// Returns the page's text, or nullopt when it could not be had in time
  /// (answered 503). Called on the HTTP threads: it must hand over to the
  /// thread that owns the state and wait for it.
  using Render = std::function<std::optional<std::string>()>;

  /// Listens on `host`:`port` (numeric IPv4 or IPv6) and serves GET
  /// /metrics with `render`'s text as OpenMetrics, anything else 404.
  /// Throws std::runtime_error naming the address when it cannot bind.
  MetricsHttp(const std::string& host, std::uint16_t port, Render render);
  /// Stops listening and joins the threads.
  ~MetricsHttp();
  MetricsHttp(const MetricsHttp&) = delete;
  MetricsHttp& operator=(const MetricsHttp&) = delete;

 private:
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace udpchat
