// metrics_http.cpp: the metrics page's HTTP server (metrics_http.hpp).
#include "app/metrics_http.hpp"

#include <httplib.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "core/server/server_metrics.hpp"

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
  // cpp-httplib's stop() does nothing until listen_after_bind() has marked
  // the server running; a stop before that (a SIGTERM right after start)
  // left the listening thread polling for ever and the server never
  // exited. Wait for it to run (it does at once; the bound is for a machine
  // that starves the new thread).
  for (int waited_ms = 0; !server_->is_running() && waited_ms < 10'000; ++waited_ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

MetricsHttp::~MetricsHttp() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace udpchat
