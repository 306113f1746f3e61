// server_stats.cpp: ServerCore's statistics (manual §6's counters and the
// service-time percentiles) and their text report.
#include <algorithm>
#include <sstream>

#include "core/server/server_core.hpp"

namespace udpchat {
namespace {

constexpr std::size_t kServiceSamples = 8192;  ///< recent service times kept

}  // namespace

void ServerStats::record_service_time(std::int64_t us) {
  if (service_us.size() >= kServiceSamples) {
    service_us.erase(service_us.begin(), service_us.begin() + kServiceSamples / 2);
  }
  service_us.push_back(us);
}

std::int64_t ServerStats::service_percentile(double p) const {
  if (service_us.empty()) {
    return 0;
  }
  std::vector<std::int64_t> v = service_us;
  const auto idx = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(idx), v.end());
  return v[idx];
}

std::string ServerCore::stats_report() const {
  std::ostringstream out;
  out << "statistics: datagrams in " << stats_.datagrams_in << ", out " << stats_.datagrams_out
      << ", retransmissions " << sender_.retransmissions() << "\n";
  out << "statistics: clients registered " << clients_.size() << ", online " << clients_online()
      << ", table version " << version_ << "\n";
  out << "statistics: messages stored " << stats_.messages_stored << ", delivered from store "
      << stats_.messages_delivered << ", relayed live " << stats_.relayed << " ("
      << stats_.relayed_bytes << " bytes)\n";
  out << "statistics: channel and group messages trimmed " << stats_.log_rows_trimmed
      << ", idempotency keys purged " << stats_.keys_purged << "\n";
  out << "statistics: requests served:";
  for (const auto& [kind, n] : stats_.requests) out << " " << kind << "=" << n;
  out << "\nstatistics: datagrams dropped:";
  if (stats_.dropped.empty()) out << " none";
  for (const auto& [cause, n] : stats_.dropped) out << " " << cause << "=" << n;
  out << "\nstatistics: service time p50 " << stats_.service_percentile(50) << " us, p99 "
      << stats_.service_percentile(99) << " us (" << stats_.service_us.size() << " samples)\n";
  return out.str();
}

}  // namespace udpchat
