#include "core/server_core.hpp"

#include <algorithm>
#include <sstream>

#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {
namespace {

constexpr std::size_t kReplyCacheCapacity = 65536;
constexpr Duration kSweepInterval = std::chrono::seconds(1);
constexpr milliseconds kMinHeartbeat{100};
constexpr milliseconds kMaxHeartbeat{24 * 3600 * 1000};
constexpr std::size_t kServiceSamples = 8192;

std::string save_key_of(std::string_view from, std::uint64_t mid) {
  return nickname_key(from) + '/' + std::to_string(mid);
}

}  // namespace

// --- statistics --------------------------------------------------------------

void ServerStats::record_service_time(std::int64_t us) {
  if (service_us.size() >= kServiceSamples) {
    service_us.erase(service_us.begin(), service_us.begin() + kServiceSamples / 2);
  }
  service_us.push_back(us);
}

std::int64_t ServerStats::service_percentile(double p) const {
  if (service_us.empty()) {
    return 0;
  }
  std::vector<std::int64_t> v = service_us;
  const auto idx = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(idx), v.end());
  return v[idx];
}

std::string ServerCore::stats_report() const {
  std::ostringstream out;
  out << "statistics: datagrams in " << stats_.datagrams_in << ", out " << stats_.datagrams_out
      << ", retransmissions " << sender_.retransmissions() << "\n";
  out << "statistics: clients registered " << clients_.size() << ", online " << clients_online()
      << ", table version " << version_ << "\n";
  out << "statistics: messages stored " << stats_.messages_stored << ", delivered from store "
      << stats_.messages_delivered << "\n";
  out << "statistics: requests served:";
  for (const auto& [kind, n] : stats_.requests) out << " " << kind << "=" << n;
  out << "\nstatistics: datagrams dropped:";
  if (stats_.dropped.empty()) out << " none";
  for (const auto& [cause, n] : stats_.dropped) out << " " << cause << "=" << n;
  out << "\nstatistics: service time p50 " << stats_.service_percentile(50) << " us, p99 "
      << stats_.service_percentile(99) << " us (" << stats_.service_us.size() << " samples)\n";
  return out.str();
}

// --- construction and plumbing --------------------------------------------------

ServerCore::ServerCore(ServerConfig config, OfflineStore& store, std::uint64_t id_seed)
    : config_(std::move(config)), store_(store), ids_(id_seed) {
  if (!config_.wall_clock_ms) {
    config_.wall_clock_ms = [] { return std::int64_t{0}; };
  }
}

void ServerCore::log(LogLevel level, std::string text) {
  logs_.push_back({level, std::move(text)});
}

void ServerCore::drop(const char* cause, const Endpoint& from) {
  ++stats_.dropped[cause];
  log(LogLevel::kDebug, std::string("dropped datagram from ") + from.to_string() + ": " + cause);
}

std::vector<Outgoing> ServerCore::take_outgoing() {
  stats_.datagrams_out += outgoing_.size();
  stats_.retransmissions = sender_.retransmissions();
  return std::exchange(outgoing_, {});
}

std::size_t ServerCore::clients_online() const {
  return online_at_.size();
}

RetryPolicy ServerCore::server_policy() const {
  return RetryPolicy::fixed(config_.ack_timeout, config_.retries);
}

void ServerCore::reply(const Endpoint& to, std::uint64_t id, Ack ack) {
  ack.id = id;
  // A detail comes from a store error text: keep the datagram small and
  // its UTF-8 whole (cut before a continuation byte).
  constexpr std::size_t kMaxDetailBytes = 200;
  if (ack.detail.size() > kMaxDetailBytes) {
    std::size_t cut = kMaxDetailBytes;
    while (cut > 0 && (static_cast<unsigned char>(ack.detail[cut]) & 0xC0U) == 0x80U) --cut;
    ack.detail.resize(cut);
  }
  std::string bytes = encode(ack);
  const auto key = std::make_pair(to, id);
  if (!replies_.contains(key)) {
    reply_order_.push_back(key);
    if (reply_order_.size() > kReplyCacheCapacity) {
      replies_.erase(reply_order_.front());
      reply_order_.pop_front();
    }
  }
  replies_[key] = bytes;
  outgoing_.push_back({to, std::move(bytes)});
}

bool ServerCore::replay_cached(const Endpoint& from, std::uint64_t id) {
  const auto it = replies_.find({from, id});
  if (it == replies_.end()) {
    return false;
  }
  ++stats_.requests["retransmitted"];
  outgoing_.push_back({from, it->second});
  return true;
}

ServerCore::Client* ServerCore::authorised(std::string_view nick, const Endpoint& from) {
  const auto it = clients_.find(nickname_key(nick));
  if (it == clients_.end() || it->second.endpoint != from) {
    return nullptr;
  }
  return &it->second;
}

void ServerCore::send_reliable(std::uint64_t id, const Endpoint& to, const Message& m,
                               RetryPolicy policy, Pending pending, TimePoint now) {
  pending_[id] = std::move(pending);
  sender_.send(id, to, encode(m), policy, now, outgoing_);
}

void ServerCore::persist(const Client& c) {
  const auto hb = std::chrono::duration_cast<milliseconds>(c.heartbeat).count();
  if (auto r = store_.put_client({c.nick, c.endpoint, c.online, static_cast<std::uint32_t>(hb)});
      !r) {
    log(LogLevel::kError, "could not persist client " + c.nick + ": " + r.error().what);
  }
}

void ServerCore::bump_version() {
  ++version_;
  table_dirty_ = true;
  if (auto r = store_.put_table_version(version_); !r) {
    log(LogLevel::kError, "could not persist table version: " + r.error().what);
  }
}

// --- start ----------------------------------------------------------------------

std::expected<void, StoreError> ServerCore::start(TimePoint now) {
  auto state = store_.load();
  if (!state) {
    return std::unexpected(state.error());
  }
  version_ = state->table_version;
  next_sweep_ = now + kSweepInterval;
  std::vector<std::string> to_verify;
  for (const auto& rec : state->clients) {
    const std::string key = nickname_key(rec.nick);
    Client c;
    c.nick = rec.nick;
    c.endpoint = rec.endpoint;
    c.online = rec.online;
    c.heartbeat =
        std::clamp<Duration>(milliseconds(rec.heartbeat_ms), kMinHeartbeat, kMaxHeartbeat);
    c.last_heard = now;
    if (c.online) {
      online_at_[c.endpoint] = key;
      to_verify.push_back(key);
    }
    clients_.emplace(key, std::move(c));
  }
  log(LogLevel::kInfo, "loaded " + std::to_string(clients_.size()) + " clients (table version " +
                           std::to_string(version_) + "); verifying " +
                           std::to_string(to_verify.size()) + " held online");
  for (const auto& key : to_verify) {
    verify(key, RestartWaiter{}, now);
  }
  return {};
}

// --- datagrams ------------------------------------------------------------------

void ServerCore::on_datagram(std::string_view bytes, const Endpoint& from, TimePoint now) {
  ++stats_.datagrams_in;
  auto decoded = decode(bytes);
  if (!decoded) {
    drop(to_string(decoded.error()), from);
    return;
  }
  heard_from(from, now);
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Register> || std::is_same_v<T, Deregister> ||
                      std::is_same_v<T, Save> || std::is_same_v<T, Heartbeat> ||
                      std::is_same_v<T, Ack>) {
          handle(m, from, now);
        } else {
          drop("unexpected_type", from);
        }
      },
      *decoded);
  flush_tables(now);
}

void ServerCore::heard_from(const Endpoint& from, TimePoint now) {
  if (const auto it = online_at_.find(from); it != online_at_.end()) {
    clients_.at(it->second).last_heard = now;
  }
}

void ServerCore::handle(const Register& m, const Endpoint& from, TimePoint now) {
  if (replay_cached(from, m.id)) {
    return;
  }
  const std::string key = nickname_key(m.nick);
  const auto it = clients_.find(key);
  if (it == clients_.end()) {
    if (clients_.size() >= config_.max_clients) {
      ++stats_.requests["register_refused"];
      log(LogLevel::kWarn, "refused " + m.nick + ": " + std::to_string(config_.max_clients) +
                               " clients registered (--max-clients)");
      reply(from, m.id,
            Ack{0, AckStatus::kError, 0,
                "the server is full (" + std::to_string(config_.max_clients) + " clients)"});
      return;
    }
    accept_registration(m, from, now);
    return;
  }
  Client& holder = it->second;
  if (holder.endpoint == from || !holder.online) {
    accept_registration(m, from, now);
    return;
  }
  // Held by a client at another address: is it still alive? (SPEC 4)
  if (const auto v = verifying_.find(key); v != verifying_.end()) {
    for (const auto& w : v->second.waiters) {
      if (const auto* r = std::get_if<RegisterWaiter>(&w);
          r != nullptr && r->from == from && r->request.id == m.id) {
        return;  // retransmission of a registration already waiting
      }
    }
  }
  log(LogLevel::kInfo, m.nick + " wanted by " + from.to_string() + ", held by " +
                           holder.endpoint.to_string() + ": verifying the holder");
  verify(key, RegisterWaiter{m, from}, now);
}

void ServerCore::accept_registration(const Register& m, const Endpoint& from, TimePoint now) {
  const std::string key = nickname_key(m.nick);
  // One endpoint, one online nickname: a process that registers another
  // nickname from the same port no longer holds the old one.
  if (const auto other = online_at_.find(from); other != online_at_.end() && other->second != key) {
    mark_offline(other->second, false, now);
  }
  Client& c = clients_[key];
  if (c.online && c.endpoint != from) {
    online_at_.erase(c.endpoint);
  }
  stop_delivery(c);  // restarted below, to wherever the client is now
  c.delivered_upto = 0;
  c.nick = m.nick;
  c.endpoint = from;
  c.online = true;
  c.last_heard = now;
  c.heartbeat = m.heartbeat_ms == 0 ? kDefaultHeartbeat
                                    : std::clamp<Duration>(milliseconds(m.heartbeat_ms),
                                                           kMinHeartbeat, kMaxHeartbeat);
  online_at_[from] = key;
  persist(c);
  bump_version();
  std::uint32_t waiting = 0;
  if (auto n = store_.count_for(key); n) {
    waiting = static_cast<std::uint32_t>(*n);
  } else {
    log(LogLevel::kError, "could not count stored messages: " + n.error().what);
  }
  ++stats_.requests["register"];
  log(LogLevel::kInfo,
      "registered " + m.nick + " at " + from.to_string() +
          (waiting > 0 ? ", " + std::to_string(waiting) + " stored messages" : ""));
  reply(from, m.id, Ack{0, AckStatus::kOk, waiting, {}});
  flush_tables(now);  // the table goes before the stored messages
  deliver_next(key, now);
}

void ServerCore::handle(const Deregister& m, const Endpoint& from, TimePoint now) {
  if (replay_cached(from, m.id)) {
    return;
  }
  Client* c = authorised(m.nick, from);
  if (c == nullptr) {
    drop("unauthorised", from);
    return;
  }
  ++stats_.requests["deregister"];
  log(LogLevel::kInfo, "deregistered " + c->nick);
  const std::string key = nickname_key(m.nick);
  if (c->online) {
    mark_offline(key, false, now);
  }
  reply(from, m.id, Ack{0, AckStatus::kOk, 0, {}});
}

void ServerCore::handle(const Heartbeat& m, const Endpoint& from, TimePoint now) {
  if (replay_cached(from, m.id)) {
    return;
  }
  Client* c = authorised(m.nick, from);
  if (c == nullptr) {
    drop("unauthorised", from);
    return;
  }
  ++stats_.requests["heartbeat"];
  if (!c->online) {
    reply(from, m.id, Ack{0, AckStatus::kOffline, 0, {}});
    return;
  }
  c->last_heard = now;
  reply(from, m.id, Ack{0, AckStatus::kOk, 0, {}});
  deliver_next(nickname_key(m.nick), now);  // resumes a stalled delivery, if any
  if (m.table_version < version_) {
    send_table(nickname_key(m.nick), table(), now);  // the client missed an update
  }
}

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

void ServerCore::handle(const Ack& m, const Endpoint& from, TimePoint now) {
  if (!sender_.acknowledge(m.id, from, now)) {
    return;  // duplicate ack, or for something given up
  }
  const auto it = pending_.find(m.id);
  if (it == pending_.end()) {
    return;
  }
  const Pending p = std::move(it->second);
  pending_.erase(it);
  const auto c = clients_.find(p.client_key);
  switch (p.purpose) {
    case Purpose::kPing:
      verification_done(p.client_key, true, now);
      return;
    case Purpose::kRelay:
      relay_outcome(p.save_key, true, now);
      return;
    case Purpose::kStored:
      if (c != clients_.end()) {
        c->second.delivery_id = 0;
        c->second.delivered_upto = p.seq;
      }
      ++stats_.messages_delivered;
      if (auto r = store_.mark_delivered(p.seq); !r) {
        // Delivered but still stored: remember it so it is not sent again,
        // and delete it when the store accepts writes again.
        log(LogLevel::kError,
            "could not delete a delivered message: " + r.error().what + " (will retry)");
        undeleted_.insert(p.seq);
      }
      deliver_next(p.client_key, now);
      return;
    case Purpose::kTable:
      if (c != clients_.end()) {
        std::erase(c->second.table_ids, m.id);
      }
      return;
    case Purpose::kNotice:
    case Purpose::kShutdown:
      return;
  }
}

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
    flush_tables(now);  // SPEC 2: broadcast first, then save and ack
  }
  for (const auto& w : waiters) {
    if (const auto* s = std::get_if<SaveWaiter>(&w)) {
      resolve_save(s->save_key, alive, now);
    } else if (std::holds_alternative<TableWaiter>(w)) {
      if (alive && !table_resent) {
        table_resent = true;
        send_table(key, table(), now);  // its acks were all lost: again
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
        accept_registration(r->request, r->from, now);
      }
    }
  }
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

// --- the table ----------------------------------------------------------------------

std::vector<TableEntry> ServerCore::table() const {
  std::vector<TableEntry> entries;
  entries.reserve(clients_.size());
  for (const auto& [key, c] : clients_) {
    entries.push_back({c.nick, c.endpoint.address, c.endpoint.port, c.online});
  }
  return entries;
}

void ServerCore::mark_offline(const std::string& key, bool tell_client, TimePoint now) {
  (void)now;
  auto it = clients_.find(key);
  if (it == clients_.end() || !it->second.online) {
    return;
  }
  Client& c = it->second;
  c.online = false;
  online_at_.erase(c.endpoint);
  for (const std::uint64_t id : c.table_ids) {
    sender_.cancel(id);
    pending_.erase(id);
  }
  c.table_ids.clear();
  stop_delivery(c);
  persist(c);
  bump_version();
  if (tell_client) {
    table_extra_.insert(key);  // SPEC 8: so it can notice and re-register
  }
}

void ServerCore::flush_tables(TimePoint now) {
  if (!table_dirty_) {
    return;
  }
  table_dirty_ = false;
  const std::vector<TableEntry> entries = table();
  for (const auto& [key, c] : clients_) {
    if (c.online || table_extra_.contains(key)) {
      send_table(key, entries, now);
    }
  }
  table_extra_.clear();
}

void ServerCore::send_table(const std::string& key, const std::vector<TableEntry>& entries,
                            TimePoint now) {
  Client& c = clients_.at(key);
  for (const std::uint64_t id : c.table_ids) {  // superseded by this version
    sender_.cancel(id);
    pending_.erase(id);
  }
  c.table_ids.clear();
  // A client held offline is told with backoff (about a minute in all):
  // it may be cut off for a while, and until it hears this it believes it
  // is registered (SPEC 8: it re-registers when it sees it is offline).
  constexpr int kOfflineNoticeTries = 8;
  const RetryPolicy policy =
      c.online ? server_policy() : RetryPolicy::backoff(config_.ack_timeout, kOfflineNoticeTries);
  for (const TablePart& part : split_table(version_, entries, [this] { return ids_.next(); })) {
    c.table_ids.push_back(part.id);
    send_reliable(part.id, c.endpoint, part, policy, {Purpose::kTable, key, {}, 0}, now);
  }
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

// --- time --------------------------------------------------------------------------

void ServerCore::on_expired(std::uint64_t id, TimePoint now) {
  const auto it = pending_.find(id);
  if (it == pending_.end()) {
    return;
  }
  const Pending p = std::move(it->second);
  pending_.erase(it);
  const auto c = clients_.find(p.client_key);
  switch (p.purpose) {
    case Purpose::kPing:
      verification_done(p.client_key, false, now);
      return;
    case Purpose::kRelay:
      relay_outcome(p.save_key, false, now);
      return;
    case Purpose::kStored:
      // It stays stored. Is the client still there? Alive: deliver again;
      // silent: marked offline (it re-registers when it sees that, and its
      // registration resumes delivery).
      if (c != clients_.end()) {
        c->second.delivery_id = 0;
        log(LogLevel::kInfo, "stored delivery to " + c->second.nick + " unacknowledged; verifying");
        if (c->second.online) {
          verify(p.client_key, DeliveryWaiter{}, now);
        }
      }
      return;
    case Purpose::kTable:
      if (c != clients_.end()) {
        std::erase(c->second.table_ids, id);
        // Never acked: is it still there? Alive: the table again; silent:
        // marked offline (and told with backoff, see send_table).
        if (c->second.online) {
          verify(p.client_key, TableWaiter{}, now);
        }
      }
      return;
    case Purpose::kNotice:
    case Purpose::kShutdown:
      return;
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

void ServerCore::sweep_liveness(TimePoint now) {
  std::vector<std::string> silent;
  for (const auto& [key, c] : clients_) {
    if (c.online && c.last_heard + c.heartbeat * kMissedHeartbeatsBeforeOffline <= now &&
        !verifying_.contains(key)) {
      silent.push_back(key);
    }
  }
  for (const auto& key : silent) {
    log(LogLevel::kInfo, clients_.at(key).nick + " missed " +
                             std::to_string(kMissedHeartbeatsBeforeOffline) +
                             " heartbeats: offline");
    mark_offline(key, true, now);
  }
}

void ServerCore::on_timeout(TimePoint now) {
  for (const std::uint64_t id : sender_.poll(now, outgoing_)) {
    on_expired(id, now);
  }
  if (now >= next_sweep_) {
    retry_deletions();
    sweep_liveness(now);
    next_sweep_ = now + kSweepInterval;
  }
  flush_tables(now);
}

std::optional<TimePoint> ServerCore::next_deadline() const {
  const auto t = sender_.next_deadline();
  return t ? std::min(*t, next_sweep_) : next_sweep_;
}

// --- shutdown ----------------------------------------------------------------------

void ServerCore::begin_shutdown(TimePoint now) {
  shutting_down_ = true;
  for (const auto& [key, c] : clients_) {
    if (c.online) {
      const std::uint64_t id = ids_.next();
      send_reliable(id, c.endpoint, Notice{id, NoticeKind::kShutdown, {}, 0},
                    RetryPolicy::window(config_.ack_timeout), {Purpose::kShutdown, key, {}, 0},
                    now);
    }
  }
  log(LogLevel::kInfo, "shutting down: told " + std::to_string(clients_online()) + " clients");
}

bool ServerCore::shutdown_complete() const {
  return shutting_down_ && std::none_of(pending_.begin(), pending_.end(), [](const auto& p) {
           return p.second.purpose == Purpose::kShutdown;
         });
}

}  // namespace udpchat
