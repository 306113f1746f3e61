// cluster_store.cpp: the cluster's shared database model (cluster_store.hpp),
// written after PgStore's statements (src/store/pg_schema.hpp): the same
// rows changed, the same change rows appended, the same joins at reading.
#include "support/cluster_store.hpp"

#include <algorithm>
#include <cstdint>
#include <set>

#include "protocol/text.hpp"

namespace udpchat::test {

using Kind = ClusterChange::Kind;

void ClusterNodeStore::append(Kind kind, std::string key, std::string sub, std::int64_t seq) {
  txn_.push_back({0, origin_, kind, std::move(key), std::move(sub), seq});
}

std::expected<SaveOutcome, StoreError> ClusterNodeStore::save(const StoredMessage& m) {
  auto r = db_.data.save(m);
  if (r && r->result == SaveResult::kSaved) {
    append(is_log_key(m.to_key) ? Kind::kPosted : Kind::kSaved, m.to_key, {}, r->seq);
  }
  return r;
}

std::expected<void, StoreError> ClusterNodeStore::put_member(std::string_view group_key,
                                                             std::string_view name,
                                                             const MemberRecord& member) {
  auto r = db_.data.put_member(group_key, name, member);
  if (r) append(Kind::kMember, std::string(group_key), member.nick_key);
  return r;
}

std::expected<void, StoreError> ClusterNodeStore::remove_member(std::string_view group_key,
                                                                std::string_view nick_key) {
  const GroupRecord* g = db_.data.find_group(std::string(group_key));
  const bool was = g != nullptr && std::any_of(g->members.begin(), g->members.end(),
                                               [&](const auto& m) { return m.nick_key == nick_key; });
  auto r = db_.data.remove_member(group_key, nick_key);
  if (r && was) append(Kind::kMemberLeft, std::string(group_key), std::string(nick_key));
  return r;
}

std::expected<std::size_t, StoreError> ClusterNodeStore::mark_delivered(std::int64_t seq) {
  const StoredMessage* m = db_.data.find_message(seq);
  if (m == nullptr) return std::size_t{0};  // delivered already: no row changes
  const std::string recipient = m->to_key;
  auto r = db_.data.mark_delivered(seq);
  if (r && *r > 0) append(Kind::kDelivered, recipient, {}, seq);
  return r;
}

std::expected<std::size_t, StoreError> ClusterNodeStore::mark_delivered_by_key(
    std::string_view sender_key, std::uint64_t mid) {
  const auto seq = db_.data.seq_of(std::string(sender_key), mid);
  if (!seq) return std::size_t{0};
  return mark_delivered(*seq);
}

std::expected<void, StoreError> ClusterNodeStore::put_client(const ClientRecord& c) {
  const std::string key = nickname_key(c.nick);
  // PgStore's claim rule: a row homed elsewhere is changed only by a claim.
  if (const ClientRecord* now = db_.data.find_client(key);
      now != nullptr && now->home != c.home && !now->home.empty() && !c.claim) {
    return {};
  }
  ClientRecord row = c;
  row.claim = false;  // not stored
  auto r = db_.data.put_client(row);
  if (r) append(Kind::kClient, key);
  return r;
}

std::expected<std::size_t, StoreError> ClusterNodeStore::delete_client(std::string_view nick_key) {
  const std::string key(nick_key);
  const StoredState before = *db_.data.load();
  const auto waiting = db_.data.fetch_for(key, 0, SIZE_MAX);
  auto r = db_.data.delete_client(key);
  if (!r) return r;
  for (const StoredMessage& m : *waiting) append(Kind::kDelivered, key, {}, m.seq);
  if (std::any_of(before.clients.begin(), before.clients.end(),
                  [&](const ClientRecord& c) { return nickname_key(c.nick) == key; })) {
    append(Kind::kClientDeleted, key);
  }
  for (const GroupRecord& g : before.groups) {
    for (const MemberRecord& m : g.members) {
      if (m.nick_key == key) append(Kind::kMemberLeft, nickname_key(g.name), key);
    }
  }
  return r;
}

std::expected<void, StoreError> ClusterNodeStore::put_table_version(std::uint64_t version) {
  db_.table_versions[origin_] = version;  // meta 'table_version:<origin>'
  return {};
}

std::expected<StoredState, StoreError> ClusterNodeStore::load() {
  auto st = db_.data.load();
  if (!st) return st;
  st->table_version = db_.table_versions[origin_];
  applied_ = db_.last_pos;  // the same snapshot: read on from here
  pending_.clear();
  txn_.clear();
  return st;
}

std::expected<void, StoreError> ClusterNodeStore::begin() {
  if (auto r = db_.data.begin(); !r) return r;
  txn_.clear();
  mark_alive();
  read_changes();
  return {};
}

std::expected<void, StoreError> ClusterNodeStore::commit() {
  auto r = db_.data.commit();
  if (!r) {
    txn_.clear();
    return r;
  }
  for (auto& c : txn_) {
    c.pos = ++db_.last_pos;
    db_.changes.push_back(std::move(c));
  }
  const bool notify = !txn_.empty();
  txn_.clear();
  if (notify && db_.on_commit) db_.on_commit(origin_);
  return {};
}

void ClusterNodeStore::rollback() {
  db_.data.rollback();
  txn_.clear();
}

std::expected<void, StoreError> ClusterNodeStore::poll_changes() {
  if (in_transaction()) return {};
  read_changes();
  mark_alive();
  sweep_dead_servers();
  return {};
}

void ClusterNodeStore::read_changes() {
  const auto from = std::upper_bound(
      db_.changes.begin(), db_.changes.end(), applied_,
      [](std::int64_t pos, const SharedDatabase::Change& c) { return pos < c.pos; });
  for (auto it = from; it != db_.changes.end(); ++it) {
    applied_ = it->pos;
    if (it->origin == origin_) continue;  // ours: applied as made
    ClusterChange c;
    c.pos = it->pos;
    c.origin = it->origin;
    c.kind = it->kind;
    c.key = it->key;
    switch (it->kind) {
      case Kind::kClient: {
        const ClientRecord* row = db_.data.find_client(it->key);
        if (row == nullptr) continue;  // deleted since
        c.client = *row;
        break;
      }
      case Kind::kClientDeleted:
        break;
      case Kind::kSaved:
      case Kind::kPosted: {
        c.message.seq = it->seq;
        c.message.to_key = it->key;
        const StoredMessage* m = db_.data.find_message(it->seq);
        if (m != nullptr) {
          c.message = *m;
        } else if (it->kind == Kind::kPosted) {
          continue;  // gone since
        }
        break;
      }
      case Kind::kDelivered:
        c.message.seq = it->seq;
        c.message.to_key = it->key;
        break;
      case Kind::kMember: {
        const GroupRecord* g = db_.data.find_group(it->key);
        if (g == nullptr) continue;
        const auto m = std::find_if(g->members.begin(), g->members.end(),
                                    [&](const MemberRecord& r) { return r.nick_key == it->sub; });
        if (m == g->members.end()) continue;  // left since
        c.group_name = g->name;
        c.member = *m;
        break;
      }
      case Kind::kMemberLeft:
        c.member.nick_key = it->sub;
        break;
    }
    pending_.push_back(std::move(c));
  }
}

void ClusterNodeStore::mark_alive() {
  const TimePoint now = db_.clock();
  if (next_alive_ && now < *next_alive_) return;
  db_.last_seen[origin_] = now;
  next_alive_ = now + kAliveEvery;
}

void ClusterNodeStore::sweep_dead_servers() {
  const TimePoint now = db_.clock();
  if (next_sweep_ && now < *next_sweep_) return;
  next_sweep_ = now + kAliveEvery;
  std::set<std::string> dead;
  for (const auto& [id, seen] : db_.last_seen) {
    if (id != origin_ && seen < now - kDeadAfter) dead.insert(id);
  }
  if (dead.empty()) return;
  if (!begin()) return;
  std::vector<ClusterChange> offline;
  const StoredState state = *db_.data.load();
  for (ClientRecord row : state.clients) {
    if (!row.online || !dead.contains(row.home)) continue;
    row.online = false;
    if (!db_.data.put_client(row)) continue;
    const std::string key = nickname_key(row.nick);
    append(Kind::kClient, key);
    ClusterChange c;
    c.origin = "sweep";  // made here, for this server too
    c.kind = Kind::kClient;
    c.key = key;
    c.client = std::move(row);
    offline.push_back(std::move(c));
  }
  if (!commit()) return;
  pending_.insert(pending_.end(), offline.begin(), offline.end());
}

}  // namespace udpchat::test
