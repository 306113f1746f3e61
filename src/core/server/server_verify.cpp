// server_verify.cpp: ServerCore's verification pings: one ping per client
// answers every waiter (a save, a contested registration, a restart, a
// stalled delivery or table), and their outcomes.
#include "core/server/server_core.hpp"
#include "protocol/codec.hpp"

namespace udpchat {

// --- verification pings -----------------------------------------------------------

void ServerCore::verify(const std::string& key, Waiter waiter, TimePoint now) {
  auto [it, fresh] = verifying_.try_emplace(key);
  it->second.waiters.push_back(std::move(waiter));
  if (!fresh) {
    return;  // one ping answers every waiter
  }
  const std::uint64_t id = ids_.next();
  it->second.ping_id = id;
  ++stats_.requests["verification_ping"];
  // Retransmitted inside the ack window, so one lost ping does not make a
  // live client look dead.
  send_reliable(id, clients_.at(key).endpoint, Ping{id}, RetryPolicy::window(config_.ack_timeout),
                {Purpose::kPing, key, {}, 0}, now);
}

void ServerCore::verification_done(const std::string& key, bool alive, TimePoint now) {
  const auto it = verifying_.find(key);
  if (it == verifying_.end()) {
    return;
  }
  const std::vector<Waiter> waiters = std::move(it->second.waiters);
  bool table_resent = false;
  verifying_.erase(it);
  if (!alive) {
    log(LogLevel::kInfo, clients_.at(key).nick + " did not answer a verification ping: offline");
    mark_offline(key, true, now);
    flush_tables(now, true);  // manual §4: broadcast first, then save and ack
  }
  for (const auto& w : waiters) {
    if (const auto* s = std::get_if<SaveWaiter>(&w)) {
      resolve_save(s->save_key, alive, now);
    } else if (std::holds_alternative<TableWaiter>(w)) {
      if (alive && !table_resent) {
        table_resent = true;
        send_update(key, now);  // its acks were all lost: again
      }
    } else if (std::holds_alternative<RestartWaiter>(w) ||
               std::holds_alternative<DeliveryWaiter>(w)) {
      if (alive) {
        deliver_next(key, now);  // what was saved for it (before a restart, or
                                 // a delivery whose acks were all lost)
      }
    } else if (const auto* r = std::get_if<RegisterWaiter>(&w)) {
      if (alive) {
        ++stats_.requests["register_in_use"];
        log(LogLevel::kInfo,
            "refused " + r->request.nick + " from " + r->from.to_string() + ": in use");
        reply(r->from, r->request.id, Ack{0, AckStatus::kInUse, 0, {}});
      } else {
        current_key_ = r->key;
        accept_registration(r->request, r->from, now,
                            r->password_hash.empty() ? nullptr : &r->password_hash);
      }
    }
  }
}

}  // namespace udpchat
