// server_mailbox.cpp: ServerCore's mailbox: saves (verified, stored,
// acknowledged), live relays after "exists", and the delivery of stored
// messages one at a time with acknowledgements.
#include <algorithm>
#include <limits>

#include "core/server/server_core.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {
namespace {

std::string save_key_of(std::string_view from, std::uint64_t mid) {
  return nickname_key(from) + '/' + std::to_string(mid);
}

}  // namespace

void ServerCore::handle(const Save& m, const Endpoint& from, TimePoint now) {
  if (request_from(m.from, from, m.id) == nullptr) {
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
  add_interest(nickname_key(m.from), to_key);  // it writes to them: it holds their row
  if (!recipient->second.online || recipient->second.remote) {
    // Offline, or at another server of the cluster, which delivers it as
    // soon as the save's change reaches it (docs/CLUSTER.md).
    store_and_ack(save_key, now);
    return;
  }
  // manual §4: the table shows the recipient online; verify before saving.
  verify(to_key, SaveWaiter{save_key}, now);
}

void ServerCore::resolve_save(const std::string& save_key, bool alive, TimePoint now) {
  (void)now;  // the outcome comes with the save's completion (on_saved)
  const auto it = saves_.find(save_key);
  if (it == saves_.end()) {
    return;
  }
  // manual §4. Silent recipient: save and ack "saved". Alive: the message is
  // made durable first (once the sender has our ack, a crash of this server
  // must not lose it: it is then delivered from the store if the relay never
  // completes), then the sender hears "exists" and we relay it ourselves.
  if (!persist_message(save_key, it->second, alive ? After::kSaveThenRelay : After::kSave)) {
    saves_.erase(it);
  }
}

bool ServerCore::persist_message(const std::string& save_key, const PendingSave& s, After then) {
  Mailbox& box = mailboxes_[s.recipient_key];
  if (box.waiting + box.saving >= config_.max_stored_per_client) {
    ++stats_.requests["save_mailbox_full"];
    const std::string why = "mailbox of " + clients_.at(s.recipient_key).nick + " is full (" +
                            std::to_string(config_.max_stored_per_client) + " messages)";
    log(LogLevel::kWarn, "refused a message from " + s.request.from + ": " + why);
    reply(s.sender, s.request.id, Ack{0, AckStatus::kError, 0, why});
    return false;
  }
  ++box.saving;
  const std::int64_t seq = config_.store_numbers ? 0 : next_seq_++;  // 0: the store's number
  issue(SaveOp{{seq, s.request.from, s.recipient_key, s.request.mid, s.request.text,
                config_.wall_clock_ms(), s.request.box}},
        {.after = then, .key = save_key, .seq = seq});
  return true;
}

void ServerCore::store_and_ack(const std::string& save_key, TimePoint now) {
  resolve_save(save_key, false, now);
}

void ServerCore::on_saved(const OpWaiter& w, const std::expected<StoreValue, StoreError>& r,
                          TimePoint now) {
  const auto it = saves_.find(w.key);
  if (it == saves_.end()) {
    return;
  }
  PendingSave& s = it->second;
  Mailbox& box = mailboxes_[s.recipient_key];
  --box.saving;
  if (!r) {
    ++stats_.requests["save_failed"];
    log(LogLevel::kError, "could not save a message from " + s.request.from + " for " +
                              s.request.to + ": " + r.error().what);
    reply(s.sender, s.request.id, Ack{0, AckStatus::kError, 0, r.error().told()});
    saves_.erase(it);
    return;
  }
  const SaveOutcome outcome = std::get<SaveOutcome>(*r);
  const bool fresh = outcome == SaveResult::kSaved;
  next_seq_ = std::max(next_seq_, outcome.seq + 1);
  if (fresh) {
    ++box.waiting;
    ++stats_.messages_stored;
  }
  const auto recipient = clients_.find(s.recipient_key);
  const bool relay_now = w.after == After::kSaveThenRelay && recipient != clients_.end() &&
                         recipient->second.online && !recipient->second.remote;
  if (relay_now) {
    relay(w.key, now);
    return;
  }
  ++stats_.requests["save"];
  log(LogLevel::kInfo, "saved a message from " + s.request.from + " for " + s.request.to);
  reply(s.sender, s.request.id, Ack{0, AckStatus::kSaved, 0, {}});
  saves_.erase(it);  // `s` is gone from here on
  if (fresh && recipient != clients_.end() && recipient->second.online &&
      !recipient->second.remote) {
    recipient->second.drained = false;  // came online meanwhile: deliver it
    deliver_next(recipient->first, now);
  }
}

void ServerCore::relay(const std::string& save_key, TimePoint now) {
  PendingSave& s = saves_.at(save_key);
  ++stats_.requests["save_exists"];
  reply(s.sender, s.request.id, Ack{0, AckStatus::kExists, 0, {}});
  if (const auto sender = clients_.find(nickname_key(s.request.from)); sender != clients_.end()) {
    send_update(sender->first, now);
  }
  s.relaying = true;
  const std::uint64_t id = ids_.next();
  const Client& recipient = clients_.at(s.recipient_key);
  Deliver relayed{id, s.request.from, s.request.mid, s.request.text, 0, {}};
  relayed.box = s.request.box;
  send_reliable(id, recipient.endpoint, relayed, RetryPolicy::window(config_.ack_timeout),
                {Purpose::kRelay, s.recipient_key, save_key, 0}, now);
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
    // If the delete fails, it stays stored and is delivered again at the
    // next registration; the recipient's duplicate suppression hides it.
    issue(DeleteByKeyOp{sender_key, s.request.mid},
          {After::kDeleteRelayed, s.recipient_key, 0, 0, sender_key, s.request.mid});
  } else {
    // It answered the ping but not the relay: take it as gone. The message
    // was saved before the relay, so it waits for the next registration.
    mark_offline(s.recipient_key, true, now);
    flush_tables(now, true);
    kind = NoticeKind::kSaved;
  }
  const auto sender = clients_.find(sender_key);
  if (sender == clients_.end()) {
    return;
  }
  const std::uint64_t id = ids_.next();
  Notice notice{id, kind, clients_.at(s.recipient_key).nick, s.request.mid};
  if (!delivered) {
    // Told one ack window later: a copy of the relay still on its way
    // (retransmitted late in the window, delayed) must not reach the
    // recipient after the sender's next message, which the sender sends
    // once told (manual §5: one sender's messages in the order typed).
    late_notices_.push_back({now + config_.ack_timeout, s.sender, sender_key, std::move(notice)});
    return;
  }
  send_reliable(id, s.sender, notice, server_policy(), {Purpose::kNotice, sender_key, {}, 0}, now);
}

void ServerCore::send_late_notices(TimePoint now) {
  while (!late_notices_.empty() && late_notices_.front().due <= now) {
    LateNotice n = std::move(late_notices_.front());
    late_notices_.pop_front();
    const std::uint64_t id = n.notice.id;
    send_reliable(id, n.to, n.notice, server_policy(), {Purpose::kNotice, n.sender_key, {}, 0},
                  now);
  }
}

// --- stored messages -----------------------------------------------------------------

void ServerCore::deliver_next(const std::string& key, TimePoint now) {
  Client& c = clients_.at(key);
  if (!c.online || c.remote || c.delivery_id != 0 || c.awaiting_table) {
    return;
  }
  std::erase_if(c.prefetched, [this, &c](const MessagePtr& m) {
    // Delivered already: a log message up to its position, a direct one
    // acked but not yet deleted.
    return is_log_key(m->to_key) ? m->seq <= c.log_upto : undeleted_.contains(m->seq);
  });
  if (c.prefetched.empty()) {
    const auto box = mailboxes_.find(key);
    const bool direct = box != mailboxes_.end() && box->second.waiting > 0;
    if (c.fetching || c.drained || (!direct && !log_backlog(key, c))) {
      if (!c.fetching && !direct && (box == mailboxes_.end() || box->second.saving == 0) &&
          !config_.store_numbers && !log_backlog(key, c)) {
        // Nothing for it in any store nor on its way there (log_last_
        // counts posts from the moment they are numbered): it has read
        // everything numbered so far.
        c.drained = true;
        c.fetched_upto = std::max(c.fetched_upto, next_seq_ - 1);
      }
      if (c.drained) advance_idle_position(c);
      return;
    }
    c.fetching = true;
    // It reads what is durable once its batch committed, up to the seq
    // given out so far (`seq`): later saves reach it by fan_out. When the
    // store numbers messages (docs/CLUSTER.md) a save issued before it may
    // get a higher seq than any known now: then it keeps all it reads.
    const std::int64_t scan_to =
        config_.store_numbers ? std::numeric_limits<std::int64_t>::max() : next_seq_ - 1;
    issue(FetchOp{key, c.fetched_upto, kFetchBatch, log_cursors(key, c)},
          {.after = After::kFetch, .key = key, .epoch = c.delivery_epoch, .seq = scan_to});
    return;
  }
  const bool my_turn = std::exchange(c.window_turn, false);
  if (deliveries_in_flight_ >= config_.fanout_window || (!window_queue_.empty() && !my_turn)) {
    // manual §4.9: the fan-out is paced; it gets the next free slot, after
    // those already waiting (a client whose ack freed a slot does not take
    // it back before them).
    if (!c.window_waiting) {
      c.window_waiting = true;
      window_queue_.push_back(key);
    }
    return;
  }
  const StoredMessage& m = *c.prefetched.front();
  const bool log = is_log_key(m.to_key);
  const std::uint64_t id = ids_.next();
  c.delivery_id = id;
  ++deliveries_in_flight_;
  Deliver d{id, m.from, m.mid, m.text, m.saved_at_ms, {}};
  d.box = m.box;
  if (log) {
    d.group = group_name_of(m.to_key);
    if (m.seq > c.backlog_seq) {
      d.saved_at_ms = 0;  // posted while it was online: shown as live
    }
  }
  send_reliable(id, c.endpoint, d, server_policy(), {Purpose::kStored, key, {}, m.seq, log}, now);
}

void ServerCore::advance_idle_position(Client& c) {
  // Everything up to fetched_upto was read and, with nothing left to send
  // nor in flight, acknowledged: what it passes over there is not for it
  // (its own posts, a group it joined later). So the position that every
  // log row below it may be trimmed by moves on, durably. A cluster's store
  // numbers messages at commit, so "read up to" is not known there: its
  // positions move by acks only.
  if (config_.store_numbers || !c.online || c.remote || c.delivery_id != 0 ||
      !c.prefetched.empty() || !c.drained || c.fetching || c.fetched_upto <= c.log_upto) {
    return;
  }
  c.log_upto = c.fetched_upto;
  persist(c);
}

void ServerCore::end_delivery(Client& c) {
  if (c.delivery_id != 0) {
    c.delivery_id = 0;
    --deliveries_in_flight_;
  }
}

void ServerCore::release_window(TimePoint now) {
  while (deliveries_in_flight_ < config_.fanout_window && !window_queue_.empty()) {
    const std::string key = std::move(window_queue_.front());
    window_queue_.pop_front();
    if (const auto it = clients_.find(key); it != clients_.end()) {
      it->second.window_waiting = false;
      it->second.window_turn = true;
      deliver_next(key, now);
      it->second.window_turn = false;  // unused if it had nothing to send
    }
  }
}

void ServerCore::on_fetched(const OpWaiter& w, const std::expected<StoreValue, StoreError>& r,
                            TimePoint now) {
  const auto it = clients_.find(w.key);
  if (it == clients_.end() || it->second.delivery_epoch != w.epoch) {
    return;  // delivery restarted meanwhile; that fetch is stale
  }
  Client& c = it->second;
  c.fetching = false;
  if (!r) {
    // Tried again at its next heartbeat or registration.
    log(LogLevel::kError, "could not read stored messages: " + r.error().what);
    return;
  }
  const auto& messages = std::get<std::vector<StoredMessage>>(*r);
  const std::int64_t scan_to = w.seq;  // saves after it reach the client by fan_out
  std::size_t taken = 0;
  for (const StoredMessage& m : messages) {
    if (m.seq > scan_to || m.seq <= c.fetched_upto) {
      continue;
    }
    ++taken;
    c.fetched_upto = std::max(c.fetched_upto, m.seq);
    if (!undeleted_.contains(m.seq)) {
      c.prefetched.push_back(std::make_shared<const StoredMessage>(m));
    }
  }
  // Everything up to scan_to was read unless the batch was full of it
  // (without a bound, everything durable when it ran).
  c.drained = messages.size() < kFetchBatch || taken < messages.size();
  if (c.drained && scan_to != std::numeric_limits<std::int64_t>::max()) {
    c.fetched_upto = std::max(c.fetched_upto, scan_to);
  }
  if (std::exchange(c.refetch, false)) c.drained = false;
  deliver_next(w.key, now);
}

void ServerCore::on_deleted(const OpWaiter& w, const std::expected<StoreValue, StoreError>& r) {
  if (w.after == After::kRetryDelete) {
    --retrying_deletes_;
  }
  if (!r) {
    // Delivered but still stored: never sent again by this process
    // (undeleted_; a relayed one may be, and duplicate suppression hides
    // it), deleted by the sweep when the store accepts writes again.
    log(LogLevel::kError,
        "could not delete a delivered message: " + r.error().what + " (will retry)");
    delete_retry_.push_back(w);
    return;
  }
  if (std::get<std::size_t>(*r) > 0) {
    if (auto box = mailboxes_.find(w.key); box != mailboxes_.end() && box->second.waiting > 0) {
      --box->second.waiting;
    }
  }
  if (w.sender_key.empty()) {
    undeleted_.erase(w.seq);
  }
}

void ServerCore::stop_delivery(Client& c) {
  if (c.delivery_id != 0) {
    sender_.cancel(c.delivery_id);
    pending_.erase(c.delivery_id);
    end_delivery(c);
  }
  c.prefetched = {};  // and its memory
  c.fetched_upto = 0;
  c.fetching = false;
  c.drained = false;
  c.refetch = false;
  ++c.delivery_epoch;
}

void ServerCore::retry_deletions() {
  if (retrying_deletes_ > 0) {
    return;  // the last round is still in flight
  }
  for (OpWaiter& w : std::exchange(delete_retry_, {})) {
    ++retrying_deletes_;
    StoreOp op = w.sender_key.empty() ? StoreOp{DeleteOp{w.seq}}
                                      : StoreOp{DeleteByKeyOp{w.sender_key, w.mid}};
    w.after = After::kRetryDelete;
    issue(std::move(op), std::move(w));
  }
}

}  // namespace udpchat
