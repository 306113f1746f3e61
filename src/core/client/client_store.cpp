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
    if (fail_writes && c.op != ClientStoreOp::kHistory) {
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
          if (e.conversation != c.entry.conversation || (!e.outgoing && !shown)) continue;
          rows.push_back(e);
        }
        done.total = rows.size();
        const std::size_t skip = rows.size() > c.limit ? rows.size() - c.limit : 0;
        done.rows.assign(rows.begin() + static_cast<std::ptrdiff_t>(skip), rows.end());
        break;
      }
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
