// server_durability.cpp: ServerCore's storage effects. Commands are issued
// with a ticket and a note of what to do when they complete; datagrams that
// reveal a state change wait in `held_` until every command issued before
// them is durable (the "output commit" rule: nothing leaves the server that
// a crash could make it forget, Strom and Yemini, "Optimistic recovery in
// distributed systems", ACM TOCS 1985).
#include "core/server/server_core.hpp"
#include "protocol/codec.hpp"

namespace udpchat {
namespace {

constexpr std::size_t kReplyCacheCapacity = 65536;  ///< cached acks, FIFO-evicted

}  // namespace

std::uint64_t ServerCore::issue(StoreOp op, OpWaiter waiter) {
  const std::uint64_t ticket = next_ticket_++;
  store_out_.push_back({ticket, std::move(op)});
  ops_in_flight_.emplace_back(ticket, std::move(waiter));
  return ticket;
}

std::string ServerCore::encode_reply(std::uint64_t id, Ack ack) {
  ack.id = id;
  // A detail comes from a store error text: keep the datagram small and
  // its UTF-8 whole (cut before a continuation byte).
  constexpr std::size_t kMaxDetailBytes = 200;
  if (ack.detail.size() > kMaxDetailBytes) {
    std::size_t cut = kMaxDetailBytes;
    while (cut > 0 && (static_cast<unsigned char>(ack.detail[cut]) & 0xC0U) == 0x80U) --cut;
    ack.detail.resize(cut);
  }
  return encode(ack);
}

void ServerCore::cache_reply(const Endpoint& to, std::uint64_t id, const std::string& bytes) {
  const auto key = std::make_pair(to, id);
  if (!replies_.contains(key)) {
    reply_order_.push_back(key);
    if (reply_order_.size() > kReplyCacheCapacity) {
      replies_.erase(reply_order_.front());
      reply_order_.pop_front();
    }
  }
  replies_[key] = bytes;
}

void ServerCore::reply_when_durable(const Endpoint& to, std::uint64_t id, Ack ack) {
  if (all_durable()) {
    reply(to, id, std::move(ack));
    return;
  }
  // Retransmissions of this request meanwhile are swallowed (replay_cached):
  // the answer is on its way once the state it reports is durable.
  replies_held_.insert({to, id});
  held_.push_back(
      {ops_in_flight_.back().first, to, id, encode_reply(id, std::move(ack)), true, {}});
}

void ServerCore::send_reliable_when_durable(std::uint64_t id, const Endpoint& to, std::string bytes,
                                            RetryPolicy policy, Pending pending, TimePoint now) {
  // Registered as pending now, so that a newer table can cancel it before
  // it ever leaves (release_held skips ids no longer pending).
  pending_[id] = std::move(pending);
  if (all_durable()) {
    sender_.send(id, to, std::move(bytes), policy, now, outgoing_);
    return;
  }
  held_.push_back({ops_in_flight_.back().first, to, id, std::move(bytes), false, policy});
}

void ServerCore::release_held(TimePoint now) {
  const std::uint64_t durable =
      ops_in_flight_.empty() ? next_ticket_ - 1 : ops_in_flight_.front().first - 1;
  while (!held_.empty() && held_.front().after_ticket <= durable) {
    Held h = std::move(held_.front());
    held_.pop_front();
    if (h.is_reply) {
      replies_held_.erase({h.to, h.id});
      cache_reply(h.to, h.id, h.bytes);
      outgoing_.push_back({h.to, std::move(h.bytes)});
    } else if (pending_.contains(h.id)) {
      sender_.send(h.id, h.to, std::move(h.bytes), h.policy, now, outgoing_);
    }
  }
}

void ServerCore::purge_keys(TimePoint now) {
  if (purge_.in_flight || config_.key_purge_interval <= Duration::zero() || now < purge_.next) {
    return;
  }
  // The first pass an interval after start (the store purged at open).
  if (purge_.next == TimePoint{}) {
    purge_.next = now + config_.key_purge_interval;
    return;
  }
  const std::int64_t before_ms =
      config_.wall_clock_ms() -
      std::chrono::duration_cast<std::chrono::milliseconds>(kTombstoneAge).count();
  purge_.in_flight = true;
  issue(PurgeKeysOp{before_ms, kKeyPurgeChunk},
        {.after = After::kPurge, .seq = static_cast<std::int64_t>(kKeyPurgeChunk)});
}

void ServerCore::on_purged(const OpWaiter& w, const std::expected<StoreValue, StoreError>& r,
                           TimePoint now) {
  purge_.in_flight = false;
  purge_.next = now + config_.key_purge_interval;
  if (!r) {
    log(LogLevel::kError, "could not purge old idempotency keys: " + r.error().what +
                              " (tried again later)");
    return;
  }
  const std::size_t purged = std::get<std::size_t>(*r);
  stats_.keys_purged += purged;
  if (purged > 0) {
    log(LogLevel::kDebug, "purged " + std::to_string(purged) + " idempotency keys older than " +
                              std::to_string(kTombstoneAge.count()) + " days");
  }
  // A full chunk: more may be left; the next sweep (a second) takes the next.
  if (purged >= static_cast<std::size_t>(w.seq)) purge_.next = now;
}

void ServerCore::on_store_completion(const StoreCompletion& c, TimePoint now) {
  if (ops_in_flight_.empty() || ops_in_flight_.front().first != c.ticket) {
    log(LogLevel::kError,
        "store completion " + std::to_string(c.ticket) + " out of order; ignored");
    return;
  }
  const OpWaiter w = std::move(ops_in_flight_.front().second);
  ops_in_flight_.pop_front();
  switch (w.after) {
    case After::kTrim:
      on_trimmed(w, c.result);
      break;
    case After::kPurge:
      on_purged(w, c.result, now);
      break;
    case After::kLogFailure:
      if (!c.result) {
        log(LogLevel::kError, "could not persist " + w.key + ": " + c.result.error().what);
      }
      break;
    case After::kSave:
    case After::kSaveThenRelay:
      on_saved(w, c.result, now);
      break;
    case After::kFetch:
      on_fetched(w, c.result, now);
      break;
    case After::kPost:
      on_posted(w, c.result, now);
      break;
    case After::kDelete:
    case After::kDeleteRelayed:
    case After::kRetryDelete:
      on_deleted(w, c.result);
      break;
  }
  release_held(now);
  release_window(now);
  flush_tables(now);
}

}  // namespace udpchat
