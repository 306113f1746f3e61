// server_table.cpp: ServerCore's table sync (manual §6.9). Every row carries
// the version at which it last changed. Changes collect in a batch of
// --table-batch-ms and are published as one version; each interested
// client then gets the rows changed since the version it is known to hold
// (a delta), or, when it holds nothing, a snapshot. Up to
// --full-table-limit registered clients everyone is interested in every
// row; beyond it a client is interested in its own row and the rows it
// looked up or wrote to (interest), and `lookup` / `find` answer the rest.
#include <algorithm>

#include "core/server/server_core.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {
namespace {

/// A client held offline is told with backoff (about a minute in all): it
/// may be cut off for a while, and until it hears this it believes it is
/// registered (manual §6.6: it re-registers when it sees it is offline).
constexpr int kOfflineNoticeTries = 8;

}  // namespace

TableEntry ServerCore::row_of(const Client& c) const {
  return {c.nick, c.endpoint.address, c.endpoint.port, c.online, c.row_version,
          c.key,  c.local.address,    c.local.port};
}

std::optional<TableEntry> ServerCore::row_at(const std::string& key) const {
  if (const auto c = clients_.find(key); c != clients_.end()) return row_of(c->second);
  if (const auto r = removed_rows_.find(key); r != removed_rows_.end()) return r->second;
  return std::nullopt;
}

void ServerCore::remove_row(const std::string& key, TimePoint now) {
  const Client& c = clients_.at(key);
  if (auto b = by_version_.find(c.row_version); b != by_version_.end()) {
    b->second.erase(key);
    if (b->second.empty()) by_version_.erase(b);
  }
  const std::uint64_t next = version_ + 1;
  by_version_[next].insert(key);
  removed_rows_[key] = TableEntry{c.nick, "", 0, false, next, {}};
  if (removed_rows_.size() > kMaxRemovedRows) {
    // Forget the oldest removal (least version).
    auto oldest = std::min_element(
        removed_rows_.begin(), removed_rows_.end(),
        [](const auto& a, const auto& b) { return a.second.version < b.second.version; });
    if (auto b = by_version_.find(oldest->second.version); b != by_version_.end()) {
      b->second.erase(oldest->first);
      if (b->second.empty()) by_version_.erase(b);
    }
    removed_rows_.erase(oldest);
  }
  dirty_.insert(key);
  prepared_.clear();
  if (!batch_due_) {
    batch_due_ = now + config_.table_batch;
  }
}

std::vector<TableEntry> ServerCore::table() const {
  std::vector<TableEntry> entries;
  entries.reserve(clients_.size());
  for (const auto& [key, c] : clients_) {
    entries.push_back(row_of(c));
  }
  return entries;
}

std::vector<TableEntry> ServerCore::snapshot() const {
  std::vector<TableEntry> rows = table();
  if (removed_rows_.empty()) return rows;
  // A client that registers again may still hold rows removed meanwhile.
  for (const auto& [key, row] : removed_rows_) rows.push_back(row);
  std::sort(rows.begin(), rows.end(), [](const TableEntry& a, const TableEntry& b) {
    return nickname_key(a.nick) < nickname_key(b.nick);
  });
  return rows;
}

std::vector<TableEntry> ServerCore::rows_for(std::string_view nick) const {
  const auto it = clients_.find(nickname_key(nick));
  if (it == clients_.end()) {
    return {};
  }
  if (full_table()) {
    return table();
  }
  std::vector<TableEntry> rows{row_of(it->second)};
  for (const std::string& k : it->second.interest) {
    if (const auto r = clients_.find(k); r != clients_.end()) rows.push_back(row_of(r->second));
  }
  std::sort(rows.begin(), rows.end(), [](const TableEntry& a, const TableEntry& b) {
    return nickname_key(a.nick) < nickname_key(b.nick);
  });
  return rows;
}

std::vector<TableEntry> ServerCore::rows_since(const std::string& key, std::uint64_t from) const {
  std::vector<TableEntry> rows;
  const Client& c = clients_.at(key);
  if (full_table()) {
    for (auto it = by_version_.upper_bound(from); it != by_version_.end(); ++it) {
      for (const std::string& k : it->second) {
        if (auto row = row_at(k)) rows.push_back(std::move(*row));
      }
    }
    return rows;
  }
  if (c.row_version > from) rows.push_back(row_of(c));
  for (const std::string& k : c.interest) {
    if (auto row = row_at(k); row && row->version > from) rows.push_back(std::move(*row));
  }
  return rows;
}

void ServerCore::touch(const std::string& key, TimePoint now, bool claim) {
  Client& c = clients_.at(key);
  const std::uint64_t next = version_ + 1;  // the version the open batch gets
  if (c.row_version != next) {
    if (auto b = by_version_.find(c.row_version); b != by_version_.end()) {
      b->second.erase(key);
      if (b->second.empty()) by_version_.erase(b);
    }
    c.row_version = next;
    by_version_[next].insert(key);
  }
  dirty_.insert(key);
  prepared_.clear();  // the rows changed: prepared updates are stale
  persist(c, claim);
  if (!batch_due_) {
    batch_due_ = now + config_.table_batch;
  }
}

void ServerCore::flush_tables(TimePoint now, bool now_please) {
  if (dirty_.empty() || (!now_please && batch_due_ && now < *batch_due_)) {
    return;
  }
  publish(now);
}

void ServerCore::publish(TimePoint now) {
  ++version_;
  prepared_.clear();
  batch_due_.reset();
  issue(PutVersionOp{version_}, {.after = After::kLogFailure, .key = "the table version"});
  const std::set<std::string> told_offline = std::exchange(table_extra_, {});
  std::set<std::string> targets = told_offline;
  if (full_table()) {
    for (const auto& [addr, key] : online_at_) targets.insert(key);
  } else {
    for (const std::string& k : dirty_) {
      targets.insert(k);  // its own row (online, or told it is offline)
      if (const auto w = watchers_.find(k); w != watchers_.end()) {
        targets.insert(w->second.begin(), w->second.end());
      }
    }
  }
  dirty_.clear();
  for (const std::string& k : targets) {
    const auto it = clients_.find(k);
    if (it != clients_.end() && !it->second.remote &&
        (it->second.online || told_offline.contains(k))) {
      send_update(k, now);
    }
  }
}

void ServerCore::cancel_table_parts(Client& c) {
  for (const std::uint64_t id : c.table_ids) {  // superseded by a newer update
    sender_.cancel(id);
    pending_.erase(id);
  }
  c.table_ids.clear();
  c.table_update.reset();
  c.table_next_part = 0;
}

void ServerCore::send_update(const std::string& key, TimePoint now) {
  Client& c = clients_.at(key);
  if (!c.table_ids.empty()) {
    // One update in flight per client (stop and wait): when it is acked,
    // the next one carries everything that changed meanwhile. Without this
    // a storm of registrations resends a growing snapshot at every batch
    // to each client that has not acked the last one yet.
    return;
  }
  const std::uint64_t from = c.held_version;  // 0: it holds nothing, a snapshot
  if (version_ == 0 || (from != 0 && from >= version_)) {
    return;  // nothing published yet, or it holds the newest
  }
  const auto total = static_cast<std::uint32_t>(clients_.size());
  if (full_table()) {
    // Every client at the same version needs the same update: prepare once.
    auto it = prepared_.find(from);
    if (it == prepared_.end()) {
      it = prepared_
               .emplace(from,
                        std::make_shared<PreparedUpdate>(
                            version_, from == 0 ? snapshot() : rows_since(key, from), from, total))
               .first;
    }
    if (from != 0 && it->second->rows() == 0) return;
    send_prepared(c, key, it->second, now);
    return;
  }
  std::vector<TableEntry> rows = from == 0 ? rows_for(c.nick) : rows_since(key, from);
  if (from != 0 && rows.empty()) {
    return;  // nothing it is interested in changed
  }
  send_prepared(c, key, std::make_shared<PreparedUpdate>(version_, rows, from, total), now);
}

void ServerCore::send_prepared(Client& c, const std::string& key,
                               std::shared_ptr<PreparedUpdate> update, TimePoint now) {
  c.sending_version = version_;
  c.table_update = std::move(update);
  c.table_next_part = 0;
  send_table_parts(c, key, now);
}

void ServerCore::send_table_parts(Client& c, const std::string& key, TimePoint now) {
  if (!c.table_update) {
    return;
  }
  // Retransmission backs off (0.5, 1, 2, 4 s: RFC 6298 section 5.5's
  // doubling): a client slow to ack a large update, or a storm of them,
  // gets fewer copies instead of a congestion collapse of retransmissions.
  // For an online client the spacing stops at 8 ack timeouts (4 s): with
  // many --server-retries on a lossy path, a lost ack must not hold the
  // next update (one in flight per client) for minutes.
  const RetryPolicy policy =
      c.online ? RetryPolicy::backoff(config_.ack_timeout, config_.retries, config_.ack_timeout * 8)
               : RetryPolicy::backoff(config_.ack_timeout, kOfflineNoticeTries);
  PreparedUpdate& update = *c.table_update;
  while (c.table_ids.size() < kTableWindow && c.table_next_part < update.parts()) {
    const std::uint64_t id = ids_.next();
    c.table_ids.push_back(id);
    send_reliable_when_durable(id, c.endpoint, update.encode(c.table_next_part++, id), policy,
                               {Purpose::kTable, key, {}, 0}, now);
  }
  if (c.table_next_part >= update.parts()) {
    c.table_update.reset();
    if (std::exchange(c.awaiting_table, false)) {
      deliver_next(key, now);  // the stored messages, after the table
    }
  }
}

// --- interest, lookup and find ---------------------------------------------------------

void ServerCore::add_interest(const std::string& key, const std::string& row_key) {
  if (key == row_key || !clients_.contains(row_key)) {
    return;
  }
  Client& c = clients_.at(key);
  if (std::find(c.interest.begin(), c.interest.end(), row_key) != c.interest.end()) {
    return;
  }
  c.interest.push_back(row_key);
  watchers_[row_key].insert(key);
  if (c.interest.size() > kMaxInterest) {  // forget the oldest
    const std::string old = std::move(c.interest.front());
    c.interest.erase(c.interest.begin());  // rare: at most once per lookup past the bound
    if (auto w = watchers_.find(old); w != watchers_.end()) {
      w->second.erase(key);
      if (w->second.empty()) watchers_.erase(w);
    }
  }
}

void ServerCore::handle(const Lookup& m, const Endpoint& from, TimePoint now) {
  (void)now;
  if (request_from(m.from, from, m.id) == nullptr) {
    return;
  }
  ++stats_.requests["lookup"];
  const std::string row_key = nickname_key(m.nick);
  Rows answer{m.id, 0, 1, {}, 0, static_cast<std::uint32_t>(clients_.size())};
  if (const auto it = clients_.find(row_key); it != clients_.end()) {
    answer.entries.push_back(row_of(it->second));
    answer.matches = 1;
    add_interest(nickname_key(m.from), row_key);
  }
  outgoing_.push_back({from, encode(answer)});
}

void ServerCore::handle(const Find& m, const Endpoint& from, TimePoint now) {
  (void)now;
  if (request_from(m.from, from, m.id) == nullptr) {
    return;
  }
  ++stats_.requests["find"];
  const std::string prefix = nickname_key(m.prefix);
  std::vector<TableEntry> rows;
  std::uint32_t matches = 0;
  for (auto it = clients_.lower_bound(prefix);
       it != clients_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    ++matches;
    if (rows.size() < kMaxFindResults) rows.push_back(row_of(it->second));
  }
  auto groups = split_entries(rows);
  const auto parts = static_cast<std::uint32_t>(groups.size());
  for (std::uint32_t i = 0; i < parts; ++i) {
    outgoing_.push_back({from, encode(Rows{m.id, i, parts, std::move(groups[i]), matches,
                                           static_cast<std::uint32_t>(clients_.size())})});
  }
}

}  // namespace udpchat
