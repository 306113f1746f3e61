// metrics_http.cpp: the metrics page's HTTP server (metrics_http.hpp).
#include "app/metrics_http.hpp"

#include <httplib.h>

#include <stdexcept>

#include "core/server_metrics.hpp"

namespace udpchat {

MetricsHttp::MetricsHttp(const std::string& host, std::uint16_t port, Render render)
    : server_(std::make_unique<httplib::Server>()) {
  // Two threads are plenty for a scraper or two; the default pool is sized
  // for a web server.
  server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server_->Get(
      "/metrics", [render = std::move(render)](const httplib::Request&, httplib::Response& res) {
        if (auto text = render()) {
          res.set_content(std::move(*text), kOpenMetricsContentType);
        } else {
          res.status = 503;
          res.set_content("the server's event loop did not answer in time\n", "text/plain");
        }
      });
  if (!server_->bind_to_port(host, port)) {
    throw std::runtime_error("cannot listen on TCP " + host + " port " + std::to_string(port) +
                             " for --metrics");
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

MetricsHttp::~MetricsHttp() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace udpchat
