// client_groups.cpp: the channel and named groups at the client (manual
// §4.9): send_all and send_group (one queue per target, one message in
// flight, acknowledged by the server once stored), join, leave, groups.
// Deliveries of channel and group messages are shown by client_send.cpp.
#include "core/client/client_session.hpp"
#include "core/client/command_words.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {

using command_words::skip_spaces;
using command_words::split_word;

namespace {

const char* const kGroupNameRule = ": use 1 to 32 of A-Z a-z 0-9 _ - .]";

}  // namespace

bool ClientSession::server_command_allowed() {
  if (phase_ == Phase::kRegistered) {
    return true;
  }
  if (phase_ == Phase::kReconnecting) {
    say_server_unreachable();
  } else {
    refuse("[You are not registered. Use: reg <nick>]");
  }
  return false;
}

bool ClientSession::group_name_ok(std::string_view group) {
  if (is_valid_nickname(group)) {
    return true;
  }
  refuse("[Invalid group name " + printable(group) + kGroupNameRule);
  return false;
}

bool ClientSession::postable(std::string_view text) {
  if (!server_command_allowed()) {
    return false;
  }
  if (const std::string problem = message_text_problem(text); !problem.empty()) {
    refuse(problem);
    return false;
  }
  return true;
}

std::string ClientSession::target_name(const OutgoingMessage& msg) {
  return msg.peer == kEveryone ? std::string("the channel") : "group " + msg.peer;
}

void ClientSession::cmd_send_all(std::string_view args, TimePoint now) {
  if (args.empty()) {
    refuse("[Usage: send_all <message>]");
    return;
  }
  if (postable(args)) {
    queue_post(kEveryone, kEveryone, args, now);
  }
}

void ClientSession::cmd_send_group(std::string_view args, TimePoint now) {
  const auto [group, text] = split_word(skip_spaces(args));
  if (group.empty() || text.empty()) {
    refuse("[Usage: send_group <group> <message>]");
    return;
  }
  if (group_name_ok(group) && postable(text)) {
    queue_post(nickname_key(group), std::string(group), text, now);
  }
}

void ClientSession::queue_post(const std::string& target_key, std::string shown_as,
                               std::string_view text, TimePoint now) {
  PostQueue& q = posts_[target_key];
  if (q.messages.size() >= config_.max_pending_per_peer) {
    refuse("[Too many messages waiting for " + target_name({shown_as, {}, 0}) + " (max " +
           std::to_string(config_.max_pending_per_peer) + ").]");
    return;
  }
  q.messages.push_back({std::move(shown_as), std::string(text), ids_.next()});
  if (q.request_id == 0 && !q.held) {
    send_front_post(target_key, now);
  }
}

void ClientSession::send_front_post(const std::string& target_key, TimePoint now) {
  PostQueue& q = posts_.at(target_key);
  if (q.messages.empty()) {
    posts_.erase(target_key);
    return;
  }
  const OutgoingMessage& msg = q.messages.front();
  const std::uint64_t id = ids_.next();
  q.request_id = id;
  // The same mid on every try and after a reconnection: the server stores
  // it once (idempotency key (sender, mid)).
  send_to_server(Post{id, config_.nick, msg.peer, msg.mid, msg.text}, id,
                 {RequestKind::kPost, target_key}, now);
}

void ClientSession::post_acked(const Ack& m, const std::string& target_key, TimePoint now) {
  const auto it = posts_.find(target_key);
  if (it == posts_.end() || it->second.messages.empty() || it->second.request_id != m.id) {
    return;
  }
  const OutgoingMessage& msg = it->second.messages.front();
  switch (m.status) {
    case AckStatus::kSaved:
      say("posted", "[Message received by Server.]", {{"to", msg.peer}});
      record_sent(msg, true);
      break;
    case AckStatus::kNotMember:
      say("failed", "[You are not in group " + msg.peer + ".]", {{"to", msg.peer}});
      break;
    default:
      say("failed",
          "[Server could not save the message for " + target_name(msg) + ": " +
              (m.detail.empty() ? std::string("error") : printable(m.detail)) + "]",
          {{"to", msg.peer}});
      break;
  }
  it->second.messages.pop_front();
  it->second.request_id = 0;
  send_front_post(target_key, now);
  maybe_finish_quit(now);
}

void ClientSession::post_unanswered(const std::string& target_key, TimePoint now) {
  const auto it = posts_.find(target_key);
  if (it == posts_.end() || it->second.messages.empty()) {
    return;
  }
  PostQueue& q = it->second;
  q.request_id = 0;
  const std::string target = target_name(q.messages.front());
  if (phase_ == Phase::kOffline || phase_ == Phase::kDeregistering) {
    say("failed", "[Server not responding: the message for " + target + " was not sent.]",
        {{"to", q.messages.front().peer}});
    q.messages.pop_front();
    send_front_post(target_key, now);
    maybe_finish_quit(now);
    return;
  }
  say("held", "[Message for " + target + " kept until the server is back.]",
      {{"to", q.messages.front().peer}});
  q.held = true;
  server_lost(now);
}

void ClientSession::cmd_membership(std::string_view args, bool join, TimePoint now) {
  const auto [group, extra] = split_word(skip_spaces(args));
  if (group.empty() || !skip_spaces(extra).empty()) {
    refuse(join ? "[Usage: join <group>]" : "[Usage: leave <group>]");
    return;
  }
  if (!group_name_ok(group) || !server_command_allowed()) {
    return;
  }
  const std::uint64_t id = ids_.next();
  const std::string name(group);
  if (join) {
    send_to_server(Join{id, config_.nick, name}, id, {RequestKind::kJoin, name}, now);
  } else {
    send_to_server(Leave{id, config_.nick, name}, id, {RequestKind::kLeave, name}, now);
  }
}

void ClientSession::membership_acked(const Ack& m, const ServerRequest& req) {
  const std::string& group = req.peer_key;  // as typed
  const bool join = req.kind == RequestKind::kJoin;
  if (m.status == AckStatus::kOk) {
    say(join ? "[Joined group " + group + ".]" : "[Left group " + group + ".]");
  } else if (m.status == AckStatus::kNotMember) {
    say("[You are not in group " + group + ".]");
  } else {
    say("[Could not " + std::string(join ? "join" : "leave") + " group " + group + ": " +
        (m.detail.empty() ? std::string("error") : printable(m.detail)) + "]");
  }
}

void ClientSession::cmd_groups(TimePoint now) {
  if (!server_command_allowed()) {
    return;
  }
  const std::uint64_t id = ids_.next();
  send_to_server(ListGroups{id, config_.nick}, id, {RequestKind::kGroups, {}}, now);
}

void ClientSession::handle(const GroupList& m, const Endpoint& from, TimePoint now) {
  const auto r = requests_.find(m.id);
  if (r == requests_.end() || r->second.kind != RequestKind::kGroups) {
    return;  // a late or repeated answer
  }
  auto& parts = group_answers_[m.id];
  if (parts.size() != m.parts) parts.assign(m.parts, std::nullopt);
  parts[m.part] = m.groups;
  for (const auto& p : parts) {
    if (!p) return;  // the request is retransmitted until every part came
  }
  std::vector<GroupInfo> groups;
  for (const auto& p : parts) {
    for (const GroupInfo& g : *p) {
      if (!groups.empty() && groups.back().name == g.name) {  // continued from the last part
        groups.back().members.insert(groups.back().members.end(), g.members.begin(),
                                     g.members.end());
      } else {
        groups.push_back(g);
      }
    }
  }
  group_answers_.erase(m.id);
  sender_.acknowledge(m.id, from, now);
  requests_.erase(r);
  if (groups.empty()) {
    say("[No groups yet.]");
    return;
  }
  for (const GroupInfo& g : groups) {
    std::string line = g.name + ":";
    for (std::size_t i = 0; i < g.members.size(); ++i) {
      line += (i == 0 ? " " : ", ") + g.members[i];
    }
    say(line);
  }
}

}  // namespace udpchat
