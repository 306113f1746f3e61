#include "core/offline_store.hpp"

#include "protocol/text.hpp"

namespace udpchat {

namespace {
std::unexpected<StoreError> full() {
  return std::unexpected(StoreError{"database or disk is full"});
}
}  // namespace

std::expected<SaveResult, StoreError> MemoryStore::save(const StoredMessage& m) {
  auto key = std::make_pair(nickname_key(m.from), m.mid);
  if (keys_.contains(key)) {
    return SaveResult::kDuplicate;
  }
  if (fail_writes) {
    return full();
  }
  StoredMessage copy = m;
  copy.seq = next_seq_++;
  keys_.emplace(std::move(key), copy.seq);
  messages_.emplace(copy.seq, std::move(copy));
  return SaveResult::kSaved;
}

std::expected<std::optional<StoredMessage>, StoreError> MemoryStore::next_for(
    std::string_view to_key, std::int64_t after_seq) {
  for (auto it = messages_.upper_bound(after_seq); it != messages_.end(); ++it) {
    const StoredMessage& m = it->second;
    if (m.to_key == to_key) {
      return m;
    }
  }
  return std::optional<StoredMessage>{};
}

std::expected<std::size_t, StoreError> MemoryStore::count_for(std::string_view to_key) {
  std::size_t n = 0;
  for (const auto& [seq, m] : messages_) {
    n += m.to_key == to_key ? 1 : 0;
  }
  return n;
}

std::expected<void, StoreError> MemoryStore::mark_delivered(std::int64_t seq) {
  if (fail_writes) {
    return full();
  }
  messages_.erase(seq);
  return {};
}

std::expected<void, StoreError> MemoryStore::mark_delivered_by_key(std::string_view sender_key,
                                                                   std::uint64_t mid) {
  const auto it = keys_.find(std::make_pair(std::string(sender_key), mid));
  if (it == keys_.end()) {
    return {};
  }
  return mark_delivered(it->second);
}

std::expected<void, StoreError> MemoryStore::put_client(const ClientRecord& c) {
  if (fail_writes) {
    return full();
  }
  clients_[nickname_key(c.nick)] = c;
  return {};
}

std::expected<void, StoreError> MemoryStore::put_table_version(std::uint64_t version) {
  if (fail_writes) {
    return full();
  }
  table_version_ = version;
  return {};
}

std::expected<StoredState, StoreError> MemoryStore::load() {
  StoredState s;
  for (const auto& [key, c] : clients_) {
    s.clients.push_back(c);
  }
  s.table_version = table_version_;
  return s;
}

}  // namespace udpchat
