// server_cluster.cpp: ServerCore's side of a cluster (docs/CLUSTER.md): the
// changes the other servers sharing the store made, applied in the
// cluster's order. Rows of clients whose session lives elsewhere are held
// (lookups, `list`, table deltas to the clients here see every server's
// clients) but nothing is sent to those clients from here; a save for a
// client here, and a channel or group post, are delivered here.
#include <algorithm>

#include "core/server/server_core.hpp"
#include "protocol/text.hpp"

namespace udpchat {

void ServerCore::on_changes(const std::vector<ClusterChange>& changes, TimePoint now) {
  for (const ClusterChange& ch : changes) {
    if (ch.origin == config_.server_id) continue;  // ours: applied when made
    switch (ch.kind) {
      case ClusterChange::Kind::kClient:
        apply_remote_row(ch.client, now);
        break;
      case ClusterChange::Kind::kClientDeleted:
        if (clients_.contains(ch.key)) {
          log(LogLevel::kInfo,
              "the account " + clients_.at(ch.key).nick + " was deleted at server " + ch.origin);
          forget_client(ch.key, now);
        }
        break;
      case ClusterChange::Kind::kSaved: {
        next_seq_ = std::max(next_seq_, ch.message.seq + 1);
        ++mailboxes_[ch.key].waiting;
        const auto c = clients_.find(ch.key);
        if (c != clients_.end() && c->second.online && !c->second.remote) {
          c->second.drained = false;  // its session is here: deliver it now
          deliver_next(c->first, now);
        }
        break;
      }
      case ClusterChange::Kind::kDelivered:
        if (auto box = mailboxes_.find(ch.key);
            box != mailboxes_.end() && box->second.waiting > 0) {
          --box->second.waiting;
        }
        break;
      case ClusterChange::Kind::kPosted: {
        const StoredMessage& m = ch.message;
        next_seq_ = std::max(next_seq_, m.seq + 1);
        log_last_[m.to_key] = std::max(log_last_[m.to_key], m.seq);
        fan_out(std::make_shared<const StoredMessage>(m), now);  // to the members here
        break;
      }
      case ClusterChange::Kind::kMember: {
        const auto c = clients_.find(ch.member.nick_key);
        if (c == clients_.end()) break;  // a row not heard of yet: it comes with a later change
        Group& g = groups_[ch.key];
        if (g.name.empty()) g.name = ch.group_name;
        g.members[ch.member.nick_key] = ch.member.joined_seq;
        if (std::find(c->second.groups.begin(), c->second.groups.end(), ch.key) ==
            c->second.groups.end()) {
          c->second.groups.push_back(ch.key);
        }
        for (const auto& [other, joined] : g.members) {
          add_interest(ch.member.nick_key, other);
          add_interest(other, ch.member.nick_key);
        }
        break;
      }
      case ClusterChange::Kind::kMemberLeft: {
        const auto g = groups_.find(ch.key);
        if (g == groups_.end()) break;
        g->second.members.erase(ch.member.nick_key);
        if (const auto c = clients_.find(ch.member.nick_key); c != clients_.end()) {
          std::erase(c->second.groups, ch.key);
        }
        if (g->second.members.empty()) {
          groups_.erase(g);
          log_last_.erase(group_log_key(ch.key));
        }
        break;
      }
    }
  }
  flush_tables(now);
}

void ServerCore::apply_remote_row(const ClientRecord& row, TimePoint now) {
  const std::string key = nickname_key(row.nick);
  if (row.home == config_.server_id) {
    // About a session here, written elsewhere: the others swept this
    // server's clients offline while it was down or cut off from the
    // database (docs/CLUSTER.md). What this server holds counts; written
    // again, so that every server sees it.
    if (const auto it = clients_.find(key);
        it != clients_.end() && !it->second.remote &&
        (it->second.online != row.online || it->second.endpoint != row.endpoint)) {
      log(LogLevel::kInfo, row.nick + "'s row was changed by another server: written again");
      persist(it->second, false);
    }
    return;
  }
  const bool known = clients_.contains(key);
  if (!known && clients_.size() >= config_.max_clients) {
    log(LogLevel::kWarn,
        "not holding " + row.nick + " of server " + row.home + ": --max-clients reached here");
    return;
  }
  Client& c = clients_[key];
  if (!c.remote && c.online) {
    // Our client registered at another server: its session there is the
    // one that counts; nothing more goes to it from here.
    log(LogLevel::kInfo, row.nick + " moved to server " + row.home);
    online_at_.erase(c.endpoint);
    cancel_table_parts(c);
    stop_delivery(c);
    c.awaiting_table = false;
  }
  take_row(c, row);  // remote: its home is another server's id
  c.log_upto = std::max(c.log_upto, row.log_upto);
  touch(key, now);  // published to the clients here; not written (its home does)
}

}  // namespace udpchat
