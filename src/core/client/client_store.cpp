// client_store.cpp: MemoryClientStore.
#include "core/client/client_store.hpp"

#include <algorithm>

namespace udpchat {

std::vector<ClientStoreCompletion> MemoryClientStore::apply(
    const std::vector<ClientStoreCommand>& commands) {
  std::vector<ClientStoreCompletion> out;
  out.reserve(commands.size());
  for (const auto& c : commands) {
    ClientStoreCompletion done{c.ticket, c.op};
    if (fail_writes && c.op != ClientStoreOp::kHistory && c.op != ClientStoreOp::kSize) {
      done.ok = false;
      done.error = "disk full (simulated)";
      out.push_back(std::move(done));
      continue;
    }
    const std::pair<std::string, std::uint64_t> key{c.entry.sender_key, c.entry.mid};
    switch (c.op) {
      case ClientStoreOp::kTake:
        if (!index_.contains(key)) {
          index_.emplace(key, entries.size());
          entries.emplace_back(c.entry, false);
          done.fresh = true;
        }
        break;
      case ClientStoreOp::kMarkShown:
        if (const auto it = index_.find(key); it != index_.end()) {
          entries[it->second].second = true;
          if (c.forget_text) entries[it->second].first.text.clear();
        }
        break;
      case ClientStoreOp::kRecordSent:
        entries.emplace_back(c.entry, true);
        break;
      case ClientStoreOp::kHistory: {
        std::vector<HistoryEntry> rows;
        for (const auto& [e, shown] : entries) {
          // As the SQLite store: what was shown (or sent) and still has its text.
          if (e.conversation != c.entry.conversation || (!e.outgoing && !shown) ||
              e.text.empty()) {
            continue;
          }
          rows.push_back(e);
        }
        done.total = rows.size();
        const std::size_t skip = rows.size() > c.limit ? rows.size() - c.limit : 0;
        done.rows.assign(rows.begin() + static_cast<std::ptrdiff_t>(skip), rows.end());
        break;
      }
      case ClientStoreOp::kPrune: {
        for (auto& [e, shown] : entries) {
          if ((shown || e.outgoing) && e.at_ms < c.text_before_ms) e.text.clear();
        }
        const std::size_t before = entries.size();
        std::erase_if(entries, [&c](const auto& entry) {
          const auto& [e, shown] = entry;
          return (shown || e.outgoing) && e.text.empty() && e.at_ms < c.ids_before_ms;
        });
        done.total = before - entries.size();
        index_.clear();
        for (std::size_t i = 0; i < entries.size(); ++i) {
          if (!entries[i].first.outgoing) {
            index_.emplace(std::make_pair(entries[i].first.sender_key, entries[i].first.mid), i);
          }
        }
        break;
      }
      case ClientStoreOp::kSize:
        done.total = entries.size();
        done.with_text = static_cast<std::uint64_t>(std::ranges::count_if(
            entries, [](const auto& entry) { return !entry.first.text.empty(); }));
        break;
    }
    out.push_back(std::move(done));
  }
  return out;
}

std::vector<HistoryEntry> MemoryClientStore::unshown() {
  std::vector<HistoryEntry> out;
  for (const auto& [e, shown] : entries) {
    if (!e.outgoing && !shown) out.push_back(e);
  }
  return out;
}

}  // namespace udpchat
