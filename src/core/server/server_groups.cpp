// server_groups.cpp: ServerCore's channel and named groups (manual §4.9).
//
// A channel or group message is stored once, in the log of the channel
// (kChannelLog) or of its group ("#" + group key), numbered by the server
// like every saved message. Each recipient has one position in the logs
// (Client::log_upto, persisted with its row): it receives the log messages
// numbered after it that are for it (the channel's, after its first
// registration; a group's, after it joined) and not its own, merged in one
// order with its direct stored messages, one at a time with acks (the
// delivery of server_mailbox.cpp). An online recipient that has read
// everything gets a new message handed over in memory (fan_out); others
// read it from the store when they get there. This is how IRC bouncers
// and Matrix rooms keep one timeline and a read marker per member.
#include <algorithm>

#include "core/server/server_core.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {
namespace {

std::string post_key_of(std::string_view from, std::uint64_t mid) {
  return nickname_key(from) + '/' + std::to_string(mid);
}

}  // namespace

void ServerCore::load_groups(const StoredState& state) {
  for (const GroupRecord& rec : state.groups) {
    const std::string gkey = nickname_key(rec.name);
    Group& g = groups_[gkey];
    g.name = rec.name;
    for (const MemberRecord& m : rec.members) {
      const auto c = clients_.find(m.nick_key);
      if (c == clients_.end()) continue;
      g.members[m.nick_key] = m.joined_seq;
      c->second.groups.push_back(gkey);
    }
    if (g.members.empty()) groups_.erase(gkey);
  }
  // Members hold each other's rows beyond the full-table limit (manual
  // §6.9); interest is soft state, rebuilt here after a restart.
  for (const auto& [gkey, g] : groups_) {
    for (const auto& [a, ja] : g.members) {
      std::size_t n = 0;
      for (const auto& [b, jb] : g.members) {
        if (++n > kMaxInterest) break;
        add_interest(a, b);
      }
    }
  }
}

std::string ServerCore::group_name_of(const std::string& log_key) const {
  if (log_key == kChannelLog) {
    return kEveryone;
  }
  const auto g = groups_.find(log_key.substr(1));
  return g != groups_.end() ? g->second.name : log_key.substr(1);
}

bool ServerCore::log_backlog(const std::string& key, const Client& c) const {
  (void)key;
  const auto last = [this](const std::string& log) {
    const auto it = log_last_.find(log);
    return it == log_last_.end() ? std::int64_t{0} : it->second;
  };
  if (last(kChannelLog) > c.log_upto) {
    return true;
  }
  for (const std::string& gkey : c.groups) {
    const auto g = groups_.find(gkey);
    if (g == groups_.end()) continue;
    const auto joined = g->second.members.find(key);
    const std::int64_t floor =
        std::max(c.log_upto, joined == g->second.members.end() ? 0 : joined->second);
    if (last(group_log_key(gkey)) > floor) return true;
  }
  return false;
}

std::vector<FetchOp::LogCursor> ServerCore::log_cursors(const std::string& key,
                                                        const Client& c) const {
  std::vector<FetchOp::LogCursor> logs;
  const std::int64_t from = std::max(c.fetched_upto, c.log_upto);
  if (const auto it = log_last_.find(kChannelLog); it != log_last_.end() && it->second > from) {
    logs.push_back({kChannelLog, from});
  }
  for (const std::string& gkey : c.groups) {
    const auto g = groups_.find(gkey);
    if (g == groups_.end()) continue;
    const auto joined = g->second.members.find(key);
    const std::int64_t after =
        std::max(from, joined == g->second.members.end() ? 0 : joined->second);
    const std::string log = group_log_key(gkey);
    if (const auto it = log_last_.find(log); it != log_last_.end() && it->second > after) {
      logs.push_back({log, after});
    }
  }
  return logs;
}

// --- posting ------------------------------------------------------------------------

void ServerCore::handle(const Post& m, const Endpoint& from, TimePoint now) {
  Client* sender = request_from(m.from, from, m.id);
  if (sender == nullptr) {
    return;
  }
  const std::string key = post_key_of(m.from, m.mid);
  if (saves_.contains(key)) {
    return;  // in progress; the ack comes when it is durable
  }
  std::string log = kChannelLog;
  std::string shown_as = kEveryone;
  if (m.group != kEveryone) {
    const std::string gkey = nickname_key(m.group);
    const auto g = groups_.find(gkey);
    if (g == groups_.end() || !g->second.members.contains(nickname_key(m.from))) {
      ++stats_.requests["post_not_member"];
      reply(from, m.id, Ack{0, AckStatus::kNotMember, 0, {}});
      return;
    }
    log = group_log_key(gkey);
    shown_as = g->second.name;
  }
  const std::string sender_key = nickname_key(m.from);
  if (!log_quota_.admits(log, sender_key, m.mid)) {
    // One line at the sender; refused before the rate is charged.
    ++stats_.requests["post_log_full"];
    reply(from, m.id,
          Ack{0, AckStatus::kError, 0,
              std::to_string(log_quota_.per_log()) +
                  " of your messages there are still kept for clients that have not caught "
                  "up (the most kept); "
                  "try again later"});
    return;
  }
  if (Duration wait{}; !post_rate_.take(sender_key, m.mid, now, wait)) {
    // One line at the sender (its Ack's detail); the post is not stored.
    ++stats_.requests["post_rate_limited"];
    const auto secs = std::chrono::ceil<std::chrono::seconds>(wait).count();
    reply(from, m.id,
          Ack{0, AckStatus::kError, 0,
              "too many messages (at most " + std::to_string(post_rate_.per_minute()) +
                  " a minute); try again in " + std::to_string(secs) + " s"});
    return;
  }
  // The store numbers it in a cluster (its completion says the seq);
  // `next_seq_` is then a lower bound of that seq.
  const std::int64_t seq = config_.store_numbers ? next_seq_ : next_seq_++;
  // Known now, not at completion: a reader's fetch issued meanwhile must
  // read this log too (it sees the message once it is durable).
  log_last_[log] = std::max(log_last_[log], seq);
  saves_[key] = PendingSave{Save{m.id, m.from, shown_as, m.mid, m.text}, from, log, false};
  log_quota_.saving(log, sender_key);
  issue(SaveOp{{config_.store_numbers ? 0 : seq, m.from, log, m.mid, m.text,
                config_.wall_clock_ms()}},
        {.after = After::kPost, .key = key, .seq = seq});
}

void ServerCore::on_posted(const OpWaiter& w, const std::expected<StoreValue, StoreError>& r,
                           TimePoint now) {
  const auto it = saves_.find(w.key);
  if (it == saves_.end()) {
    return;
  }
  const PendingSave s = std::move(it->second);
  saves_.erase(it);
  {
    const SaveOutcome* out = r ? std::get_if<SaveOutcome>(&*r) : nullptr;
    const bool stored = out != nullptr && out->result == SaveResult::kSaved;
    log_quota_.saved(s.recipient_key, nickname_key(s.request.from), stored,
                     stored && out->seq > 0 ? out->seq : w.seq, s.request.mid);
  }
  if (!r) {
    ++stats_.requests["post_failed"];
    log(LogLevel::kError, "could not save a message from " + s.request.from + " for " +
                              s.request.to + ": " + r.error().what);
    reply(s.sender, s.request.id, Ack{0, AckStatus::kError, 0, r.error().told()});
    return;
  }
  ++stats_.requests["post"];
  reply(s.sender, s.request.id, Ack{0, AckStatus::kSaved, 0, {}});
  const SaveOutcome saved = std::get<SaveOutcome>(*r);
  if (saved.result != SaveResult::kSaved) {
    return;  // a retransmission of a post stored before: delivered already
  }
  // The store's seq (a cluster's database numbers in commit order).
  const std::int64_t seq = saved.seq > 0 ? saved.seq : w.seq;
  next_seq_ = std::max(next_seq_, seq + 1);
  ++stats_.messages_stored;
  log(LogLevel::kDebug,
      "stored a message from " + s.request.from + " for " +
          (s.request.to == kEveryone ? std::string("the channel") : "group " + s.request.to));
  log_last_[s.recipient_key] = std::max(log_last_[s.recipient_key], seq);
  fan_out(std::make_shared<const StoredMessage>(StoredMessage{seq, s.request.from, s.recipient_key,
                                                              s.request.mid, s.request.text,
                                                              config_.wall_clock_ms()}),
          now);
}

void ServerCore::fan_out(const MessagePtr& m, TimePoint now) {
  const std::string sender_key = nickname_key(m->from);
  const auto hand_over = [&](const std::string& key, Client& c, std::int64_t floor) {
    if (key == sender_key && c.drained && !c.fetching && m->seq > c.fetched_upto) {
      // Its own post: read, as it were (everything before it that is for
      // it was handed over already, or it would not be drained).
      c.fetched_upto = m->seq;
      advance_idle_position(c);
      return;
    }
    if (key == sender_key || m->seq <= std::max(c.log_upto, floor) || !c.online || c.remote) {
      return;  // not for it, or it reads the log when it registers again (or: elsewhere)
    }
    if (c.drained && !c.fetching && m->seq > c.fetched_upto &&
        c.prefetched.size() < kMaxPrefetched) {
      c.prefetched.push_back(m);  // it has read everything before: no store read
      c.fetched_upto = m->seq;
    } else if (!c.fetching) {
      c.drained = false;  // it reads it from the store after what it has
    } else {
      c.refetch = true;
    }
    deliver_next(key, now);
  };
  if (m->to_key == kChannelLog) {
    // The online ones only (offline ones read the log when they register):
    // a server of a million registered clients does not walk them all.
    std::vector<std::string> online;
    online.reserve(online_at_.size());
    for (const auto& [endpoint, key] : online_at_) online.push_back(key);
    for (const std::string& key : online) hand_over(key, clients_.at(key), 0);
    return;
  }
  const auto g = groups_.find(m->to_key.substr(1));
  if (g == groups_.end()) {
    return;
  }
  for (const auto& [key, joined] : g->second.members) {
    if (const auto c = clients_.find(key); c != clients_.end()) hand_over(key, c->second, joined);
  }
}

// --- trimming ---------------------------------------------------------------------------

void ServerCore::trim_logs(TimePoint now) {
  // A cluster's database numbers messages at commit (positions move by
  // acks only, and another server's clients hold rows back): not here.
  if (config_.store_numbers || trim_.in_flight) {
    return;
  }
  // Idle online clients first move past what was not for them (a group
  // they are not in, their own posts): deliver_next does it.
  std::vector<std::string> online;
  online.reserve(online_at_.size());
  for (const auto& [endpoint, key] : online_at_) online.push_back(key);
  for (const std::string& key : online) deliver_next(key, now);
  // Every log row up to the lowest position was delivered to every client
  // it is for. The PutClientOps of those positions were issued before the
  // trim: they are durable no later than it (FIFO writer).
  // A member offline longer than the retention holds nothing back: it is
  // told when it returns (accept_registration).
  std::int64_t floor = next_seq_ - 1;
  const std::int64_t wall_ms = config_.wall_clock_ms();
  const std::int64_t keep_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.log_retention).count();
  for (const auto& [key, c] : clients_) {
    if (keep_ms > 0 && !c.online && wall_ms - c.last_seen_ms > keep_ms) continue;
    floor = std::min(floor, c.log_upto);
  }
  if (floor <= trim_.upto) {
    return;
  }
  trim_.in_flight = true;
  trim_.issued = floor;
  issue(TrimLogsOp{floor}, {.after = After::kTrim, .seq = floor});
}

void ServerCore::on_trimmed(const OpWaiter& w, const std::expected<StoreValue, StoreError>& r) {
  trim_.in_flight = false;
  if (!r) {
    log(LogLevel::kError, "could not trim the channel and group logs: " + r.error().what +
                              " (tried again later)");
    return;
  }
  trim_.upto = std::max(trim_.upto, w.seq);
  log_quota_.trimmed(trim_.upto);
  const std::size_t rows = std::get<std::size_t>(*r);
  stats_.log_rows_trimmed += rows;
  if (rows > 0) {
    log(LogLevel::kDebug, "trimmed " + std::to_string(rows) +
                              " channel and group messages every member has read");
  }
}

// --- membership -----------------------------------------------------------------------

void ServerCore::handle(const Join& m, const Endpoint& from, TimePoint now) {
  Client* c = request_from(m.from, from, m.id);
  if (c == nullptr) {
    return;
  }
  ++stats_.requests["join"];
  const std::string ckey = nickname_key(m.from);
  const std::string gkey = nickname_key(m.group);
  auto g = groups_.find(gkey);
  if (g != groups_.end() && g->second.members.contains(ckey)) {
    reply(from, m.id, Ack{0, AckStatus::kOk, 0, g->second.name});  // a member already
    return;
  }
  if (c->groups.size() >= kMaxGroupsPerClient) {
    reply(from, m.id,
          Ack{0, AckStatus::kError, 0,
              "you are in " + std::to_string(kMaxGroupsPerClient) + " groups, the most"});
    return;
  }
  if (g == groups_.end()) {
    g = groups_.emplace(gkey, Group{m.group, {}}).first;
    log(LogLevel::kInfo, m.from + " created group " + m.group);
  }
  const std::int64_t joined = next_seq_ - 1;  // its messages from now on
  g->second.members[ckey] = joined;
  c->groups.push_back(gkey);
  issue(PutMemberOp{gkey, g->second.name, {ckey, joined}},
        {.after = After::kLogFailure, .key = "member " + m.from + " of " + g->second.name});
  // manual §6.9: members hold each other's rows (interest kept also below
  // the full-table limit, for when the server grows past it).
  std::size_t n = 0;
  for (const auto& [other, j] : g->second.members) {
    if (++n > kMaxInterest) break;
    add_interest(ckey, other);
    add_interest(other, ckey);
  }
  if (!full_table()) {
    // The joiner gets a snapshot of the rows it now holds, the members its
    // row, both in the next table version (its row is published again).
    cancel_table_parts(*c);
    c->held_version = 0;
    touch(ckey, now);
  }
  reply_when_durable(from, m.id, Ack{0, AckStatus::kOk, 0, g->second.name});
}

void ServerCore::handle(const Leave& m, const Endpoint& from, TimePoint now) {
  (void)now;
  Client* c = request_from(m.from, from, m.id);
  if (c == nullptr) {
    return;
  }
  ++stats_.requests["leave"];
  const std::string ckey = nickname_key(m.from);
  const std::string gkey = nickname_key(m.group);
  const auto g = groups_.find(gkey);
  if (g == groups_.end() || !g->second.members.contains(ckey)) {
    reply(from, m.id, Ack{0, AckStatus::kNotMember, 0, {}});
    return;
  }
  const std::string name = g->second.name;
  g->second.members.erase(ckey);
  std::erase(c->groups, gkey);
  if (g->second.members.empty()) {
    groups_.erase(g);  // the store drops it with its last member
    log_last_.erase(group_log_key(gkey));
  }
  issue(RemoveMemberOp{gkey, ckey}, {.after = After::kLogFailure, .key = "member " + m.from});
  reply_when_durable(from, m.id, Ack{0, AckStatus::kOk, 0, name});
}

void ServerCore::handle(const ListGroups& m, const Endpoint& from, TimePoint now) {
  (void)now;
  if (request_from(m.from, from, m.id) == nullptr) {
    return;
  }
  ++stats_.requests["groups"];
  std::vector<GroupInfo> all;
  all.reserve(groups_.size());
  for (const auto& [gkey, g] : groups_) {
    GroupInfo info{g.name, {}};
    info.members.reserve(g.members.size());
    for (const auto& [key, joined] : g.members) {
      if (const auto c = clients_.find(key); c != clients_.end()) {
        info.members.push_back(c->second.nick);
      }
    }
    all.push_back(std::move(info));
  }
  auto parts = split_groups(all);
  if (parts.size() > kMaxTableParts) {
    parts.resize(kMaxTableParts);  // a reply beyond that would be dropped as malformed
  }
  const auto count = static_cast<std::uint32_t>(parts.size());
  for (std::uint32_t i = 0; i < count; ++i) {
    outgoing_.push_back({from, encode(GroupList{m.id, i, count, std::move(parts[i])})});
  }
}

}  // namespace udpchat
