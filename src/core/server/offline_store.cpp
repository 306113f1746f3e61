#include "core/server/offline_store.hpp"

#include "core/server/cluster_change.hpp"

#include <algorithm>

#include "protocol/text.hpp"

namespace udpchat {

std::vector<ClusterChange> OfflineStore::take_changes() {
  return {};
}

std::expected<void, StoreError> OfflineStore::poll_changes() {
  return {};
}

std::vector<std::expected<SaveOutcome, StoreError>> OfflineStore::save_many(
    std::span<const StoredMessage* const> ms) {
  std::vector<std::expected<SaveOutcome, StoreError>> out;
  out.reserve(ms.size());
  for (const StoredMessage* m : ms) {
    out.push_back(save(*m));
    if (!out.back()) break;
  }
  return out;
}

namespace {
std::unexpected<StoreError> full() {
  return std::unexpected(StoreError{"database or disk is full"});
}
}  // namespace

std::expected<SaveOutcome, StoreError> MemoryStore::save(const StoredMessage& m) {
  auto key = std::make_pair(nickname_key(m.from), m.mid);
  if (s_.keys.contains(key)) {
    return SaveOutcome{SaveResult::kDuplicate, 0};
  }
  if (fail_writes) {
    return full();
  }
  StoredMessage copy = m;
  if (copy.seq <= 0) copy.seq = s_.next_seq;
  s_.next_seq = std::max(s_.next_seq, copy.seq + 1);
  const std::int64_t seq = copy.seq;
  s_.keys.emplace(std::move(key), seq);
  s_.saved_at.emplace(seq, copy.saved_at_ms);
  s_.messages.emplace(seq, std::move(copy));
  return SaveOutcome{SaveResult::kSaved, seq};
}

std::expected<std::vector<StoredMessage>, StoreError> MemoryStore::fetch_for(
    std::string_view to_key, std::int64_t after_seq, std::size_t limit) {
  std::vector<StoredMessage> out;
  for (auto it = s_.messages.upper_bound(after_seq); it != s_.messages.end() && out.size() < limit;
       ++it) {
    if (it->second.to_key == to_key) {
      out.push_back(it->second);
    }
  }
  return out;
}

std::expected<std::vector<StoredMessage>, StoreError> MemoryStore::fetch_log(
    std::string_view log_key, std::int64_t after_seq, std::string_view exclude_sender_key,
    std::size_t limit) {
  std::vector<StoredMessage> out;
  for (auto it = s_.messages.upper_bound(after_seq); it != s_.messages.end() && out.size() < limit;
       ++it) {
    if (it->second.to_key == log_key && nickname_key(it->second.from) != exclude_sender_key) {
      out.push_back(it->second);
    }
  }
  return out;
}

std::expected<void, StoreError> MemoryStore::put_member(std::string_view group_key,
                                                        std::string_view name,
                                                        const MemberRecord& member) {
  if (fail_writes) {
    return full();
  }
  GroupRecord& g = s_.groups[std::string(group_key)];
  if (g.name.empty()) g.name = std::string(name);
  std::erase_if(g.members, [&](const MemberRecord& r) { return r.nick_key == member.nick_key; });
  g.members.push_back(member);
  return {};
}

std::expected<void, StoreError> MemoryStore::remove_member(std::string_view group_key,
                                                           std::string_view nick_key) {
  if (fail_writes) {
    return full();
  }
  const auto it = s_.groups.find(std::string(group_key));
  if (it != s_.groups.end()) {
    std::erase_if(it->second.members,
                  [&](const MemberRecord& r) { return r.nick_key == nick_key; });
    if (it->second.members.empty()) s_.groups.erase(it);
  }
  return {};
}

std::expected<std::size_t, StoreError> MemoryStore::trim_logs(std::int64_t upto) {
  if (fail_writes) {
    return full();
  }
  s_.log_trimmed_upto = std::max(s_.log_trimmed_upto, upto);
  // The idempotency keys stay in s_.keys, as for delivered messages.
  return std::erase_if(s_.messages, [upto](const auto& e) {
    return e.first <= upto && is_log_key(e.second.to_key);
  });
}

std::expected<std::size_t, StoreError> MemoryStore::purge_keys(std::int64_t before_ms,
                                                              std::size_t limit) {
  if (fail_writes) {
    return full();
  }
  std::size_t purged = 0;
  for (auto it = s_.keys.begin(); it != s_.keys.end() && purged < limit;) {
    const std::int64_t seq = it->second;
    const auto at = s_.saved_at.find(seq);
    if (!s_.messages.contains(seq) && at != s_.saved_at.end() && at->second < before_ms) {
      s_.saved_at.erase(at);
      it = s_.keys.erase(it);
      ++purged;
    } else {
      ++it;
    }
  }
  return purged;
}

std::expected<std::size_t, StoreError> MemoryStore::count_for(std::string_view to_key) {
  std::size_t n = 0;
  for (const auto& [seq, m] : s_.messages) {
    n += m.to_key == to_key ? 1 : 0;
  }
  return n;
}

std::expected<std::size_t, StoreError> MemoryStore::mark_delivered(std::int64_t seq) {
  if (fail_writes) {
    return full();
  }
  return s_.messages.erase(seq);
}

std::expected<std::size_t, StoreError> MemoryStore::mark_delivered_by_key(
    std::string_view sender_key, std::uint64_t mid) {
  const auto it = s_.keys.find(std::make_pair(std::string(sender_key), mid));
  if (it == s_.keys.end()) {
    return 0;
  }
  return mark_delivered(it->second);
}

std::expected<void, StoreError> MemoryStore::put_client(const ClientRecord& c) {
  if (fail_writes) {
    return full();
  }
  s_.clients[nickname_key(c.nick)] = c;
  return {};
}

std::expected<std::size_t, StoreError> MemoryStore::delete_client(std::string_view nick_key) {
  if (fail_writes) {
    return full();
  }
  s_.clients.erase(std::string(nick_key));
  std::size_t deleted = 0;
  for (auto it = s_.messages.begin(); it != s_.messages.end();) {
    if (it->second.to_key == nick_key) {
      it = s_.messages.erase(it);  // its idempotency key stays in s_.keys
      ++deleted;
    } else {
      ++it;
    }
  }
  for (auto g = s_.groups.begin(); g != s_.groups.end();) {
    auto& members = g->second.members;
    std::erase_if(members, [nick_key](const MemberRecord& m) { return m.nick_key == nick_key; });
    g = members.empty() ? s_.groups.erase(g) : std::next(g);
  }
  return deleted;
}

std::expected<void, StoreError> MemoryStore::put_table_version(std::uint64_t version) {
  if (fail_writes) {
    return full();
  }
  s_.table_version = version;
  return {};
}

std::expected<StoredState, StoreError> MemoryStore::load() {
  StoredState st;
  for (const auto& [key, c] : s_.clients) {
    st.clients.push_back(c);
  }
  st.table_version = s_.table_version;
  for (const auto& [seq, m] : s_.messages) {
    ++st.waiting[m.to_key];
    if (is_log_key(m.to_key)) st.log_posts.push_back({m.to_key, nickname_key(m.from), seq, m.mid});
  }
  st.last_seq = s_.next_seq - 1;
  st.log_trimmed_upto = s_.log_trimmed_upto;
  for (const auto& [key, g] : s_.groups) st.groups.push_back(g);
  return st;
}

std::expected<void, StoreError> MemoryStore::begin() {
  snapshot_ = s_;
  return {};
}

std::expected<void, StoreError> MemoryStore::commit() {
  if (fail_commit) {
    rollback();
    return std::unexpected(StoreError{"disk I/O error"});
  }
  snapshot_.reset();
  return {};
}

void MemoryStore::rollback() {
  if (snapshot_) {
    s_ = std::move(*snapshot_);
    snapshot_.reset();
  }
}

}  // namespace udpchat
