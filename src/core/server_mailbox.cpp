// server_mailbox.cpp: ServerCore's mailbox: saves (verified, stored,
// acknowledged), live relays after "exists", and the delivery of stored
// messages one at a time with acknowledgements.
#include <algorithm>

#include "core/server_core.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {
namespace {

std::string save_key_of(std::string_view from, std::uint64_t mid) {
  return nickname_key(from) + '/' + std::to_string(mid);
}

}  // namespace

void ServerCore::handle(const Save& m, const Endpoint& from, TimePoint now) {
  if (replay_cached(from, m.id)) {
    return;
  }
  if (authorised(m.from, from) == nullptr) {
    drop("unauthorised", from);
    return;
  }
  const std::string save_key = save_key_of(m.from, m.mid);
  if (saves_.contains(save_key)) {
    return;  // in progress; the ack comes when it is done
  }
  const std::string to_key = nickname_key(m.to);
  const auto recipient = clients_.find(to_key);
  if (recipient == clients_.end()) {
    ++stats_.requests["save_unknown"];
    reply(from, m.id, Ack{0, AckStatus::kUnknown, 0, {}});
    return;
  }
  saves_[save_key] = PendingSave{m, from, to_key, false};
  if (!recipient->second.online) {
    store_and_ack(save_key, now);
    return;
  }
  // SPEC 2: the table shows the recipient online; verify before saving.
  verify(to_key, SaveWaiter{save_key}, now);
}

void ServerCore::resolve_save(const std::string& save_key, bool alive, TimePoint now) {
  const auto it = saves_.find(save_key);
  if (it == saves_.end()) {
    return;
  }
  PendingSave& s = it->second;
  if (!alive) {
    store_and_ack(save_key, now);
    return;
  }
  // SPEC 2: tell the sender, send it the current table, relay the message
  // ourselves with the same message id. It is made durable first: once the
  // sender has our ack, a crash of this server must not lose it (it is then
  // delivered from the store if the relay never completes).
  if (!persist_message(s)) {
    saves_.erase(it);
    return;
  }
  ++stats_.requests["save_exists"];
  reply(s.sender, s.request.id, Ack{0, AckStatus::kExists, 0, {}});
  if (const auto sender = clients_.find(nickname_key(s.request.from)); sender != clients_.end()) {
    send_table(sender->first, table(), now);
  }
  s.relaying = true;
  const std::uint64_t id = ids_.next();
  const Client& recipient = clients_.at(s.recipient_key);
  send_reliable(id, recipient.endpoint,
                Deliver{id, s.request.from, s.request.mid, s.request.text, 0},
                RetryPolicy::window(config_.ack_timeout),
                {Purpose::kRelay, s.recipient_key, save_key, 0}, now);
}

bool ServerCore::persist_message(const PendingSave& s) {
  if (auto waiting = store_.count_for(s.recipient_key);
      waiting && *waiting >= config_.max_stored_per_client) {
    ++stats_.requests["save_mailbox_full"];
    const std::string why = "mailbox of " + clients_.at(s.recipient_key).nick + " is full (" +
                            std::to_string(config_.max_stored_per_client) + " messages)";
    log(LogLevel::kWarn, "refused a message from " + s.request.from + ": " + why);
    reply(s.sender, s.request.id, Ack{0, AckStatus::kError, 0, why});
    return false;
  }
  StoredMessage msg{
      0, s.request.from, s.recipient_key, s.request.mid, s.request.text, config_.wall_clock_ms()};
  const auto r = store_.save(msg);
  if (!r) {
    ++stats_.requests["save_failed"];
    log(LogLevel::kError, "could not save a message from " + s.request.from + " for " +
                              s.request.to + ": " + r.error().what);
    reply(s.sender, s.request.id, Ack{0, AckStatus::kError, 0, r.error().what});
    return false;
  }
  if (*r == SaveResult::kSaved) {
    ++stats_.messages_stored;
  }
  return true;
}

void ServerCore::store_and_ack(const std::string& save_key, TimePoint now) {
  (void)now;
  const auto it = saves_.find(save_key);
  if (it == saves_.end()) {
    return;
  }
  const PendingSave s = std::move(it->second);
  saves_.erase(it);
  if (!persist_message(s)) {
    return;
  }
  ++stats_.requests["save"];
  log(LogLevel::kInfo, "saved a message from " + s.request.from + " for " + s.request.to);
  reply(s.sender, s.request.id, Ack{0, AckStatus::kSaved, 0, {}});
}

void ServerCore::relay_outcome(const std::string& save_key, bool delivered, TimePoint now) {
  const auto it = saves_.find(save_key);
  if (it == saves_.end()) {
    return;
  }
  const PendingSave s = std::move(it->second);
  saves_.erase(it);
  const std::string sender_key = nickname_key(s.request.from);
  NoticeKind kind = NoticeKind::kDelivered;
  if (delivered) {
    if (auto r = store_.mark_delivered_by_key(sender_key, s.request.mid); !r) {
      // It stays stored and is delivered again at the next registration;
      // the recipient's duplicate suppression hides it.
      log(LogLevel::kError, "could not delete a relayed message: " + r.error().what);
    }
  } else {
    // It answered the ping but not the relay: take it as gone. The message
    // was saved before the relay, so it waits for the next registration.
    mark_offline(s.recipient_key, true, now);
    flush_tables(now);
    kind = NoticeKind::kSaved;
  }
  const auto sender = clients_.find(sender_key);
  if (sender == clients_.end()) {
    return;
  }
  const std::uint64_t id = ids_.next();
  send_reliable(id, s.sender, Notice{id, kind, clients_.at(s.recipient_key).nick, s.request.mid},
                server_policy(), {Purpose::kNotice, sender_key, {}, 0}, now);
}

// --- stored messages -----------------------------------------------------------------

void ServerCore::deliver_next(const std::string& key, TimePoint now) {
  Client& c = clients_.at(key);
  if (!c.online || c.delivery_id != 0) {
    return;
  }
  auto next = store_.next_for(key, c.delivered_upto);
  while (next && next->has_value() && undeleted_.contains((*next)->seq)) {
    next = store_.next_for(key, (*next)->seq);  // delivered already, not yet deleted
  }
  if (!next) {
    log(LogLevel::kError, "could not read stored messages: " + next.error().what);
    return;
  }
  if (!next->has_value()) {
    return;
  }
  const StoredMessage& m = **next;
  const std::uint64_t id = ids_.next();
  c.delivery_id = id;
  send_reliable(id, c.endpoint, Deliver{id, m.from, m.mid, m.text, m.saved_at_ms}, server_policy(),
                {Purpose::kStored, key, {}, m.seq}, now);
}

void ServerCore::stop_delivery(Client& c) {
  if (c.delivery_id != 0) {
    sender_.cancel(c.delivery_id);
    pending_.erase(c.delivery_id);
    c.delivery_id = 0;
  }
}

void ServerCore::retry_deletions() {
  while (!undeleted_.empty()) {
    if (!store_.mark_delivered(*undeleted_.begin())) {
      return;  // still failing; next sweep
    }
    undeleted_.erase(undeleted_.begin());
  }
}

}  // namespace udpchat
