// client_history.cpp: the client's own store (manual §4.11): taking a
// message (write, then ack, show, mark shown), what a restart shows
// first, the history of what was sent, and the `history` command.
#include <chrono>

#include "core/client/client_session.hpp"
#include "core/client/command_words.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {
namespace {

constexpr std::size_t kDefaultHistory = 20;
constexpr std::size_t kMaxHistory = 1000;
constexpr std::int64_t kDayMs = 24LL * 3600 * 1000;
/// How often the store is pruned (a timeout comes at least every heartbeat).
constexpr std::chrono::hours kPruneInterval{1};

/// "3.2 MiB", "412 KiB", "0 KiB".
std::string size_text(std::uint64_t bytes) {
  if (bytes >= 10ULL << 20) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= 1ULL << 20) {
    const std::uint64_t tenths = bytes * 10 / (1ULL << 20);
    return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + " MiB";
  }
  return std::to_string((bytes + 1023) / 1024) + " KiB";
}

}  // namespace

std::int64_t ClientSession::wall_ms() const {
  if (config_.wall_clock_ms) return config_.wall_clock_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string ClientSession::conversation_of_group(std::string_view group) {
  return group == kEveryone ? std::string(kEveryone) : "#" + nickname_key(group);
}

void ClientSession::take_message(IncomingMessage msg, Outgoing ack, TimePoint now) {
  const std::string key = shown_key(msg.from, msg.mid);
  if (!config_.durable_store) {
    outgoing_.push_back(std::move(ack));
    if (shown_.first_time(key, now)) show_message(msg);
    return;
  }
  if (const auto it = taking_.find(key); it != taking_.end()) {
    // A copy while the first is written: acknowledged with it.
    if (it->second.acks.size() < 4) it->second.acks.push_back(std::move(ack));
    return;
  }
  if (shown_.seen(key)) {
    outgoing_.push_back(std::move(ack));  // written (and shown) before
    return;
  }
  if (taking_.size() >= client_queues::kMaxTaking) {
    ++dropped_;  // not acknowledged: its sender retransmits
    return;
  }
  const std::uint64_t ticket = next_ticket_++;
  HistoryEntry e;
  e.sender_key = nickname_key(msg.from);
  e.mid = msg.mid;
  e.conversation = msg.group.empty() ? e.sender_key : conversation_of_group(msg.group);
  e.from = msg.from;
  e.group = msg.group;
  e.text = msg.text;
  e.at_ms = wall_ms();
  e.saved_at_ms = msg.saved_at_ms;
  e.verified = msg.verified;
  store_commands_.push_back({ticket, ClientStoreOp::kTake, std::move(e)});
  take_tickets_.emplace(ticket, key);
  taking_.emplace(key, Taking{ticket, std::move(msg), {std::move(ack)}});
}

void ClientSession::show_unshown(TimePoint now) {
  for (HistoryEntry& e : std::exchange(config_.unshown, {})) {
    shown_.first_time(shown_key(e.from, e.mid), now);
    show_message({e.from, e.mid, e.group, e.text, e.saved_at_ms, e.verified});
    ClientStoreCommand mark{next_ticket_++, ClientStoreOp::kMarkShown, {}};
    mark.entry.sender_key = e.sender_key;
    mark.entry.mid = e.mid;
    mark.forget_text = !config_.keep_history;
    store_commands_.push_back(std::move(mark));
  }
}

void ClientSession::on_store_completion(const std::vector<ClientStoreCompletion>& done,
                                        TimePoint now) {
  for (const ClientStoreCompletion& c : done) {
    switch (c.op) {
      case ClientStoreOp::kTake: {
        const auto t = take_tickets_.find(c.ticket);
        if (t == take_tickets_.end()) break;
        const std::string key = std::move(t->second);
        take_tickets_.erase(t);
        auto node = taking_.extract(key);
        if (node.empty()) break;
        Taking& taking = node.mapped();
        if (!c.ok) {
          store_failed(c.error);  // not acknowledged: it comes again
          break;
        }
        // Durable: acknowledged, then shown, then marked shown.
        for (Outgoing& a : taking.acks) outgoing_.push_back(std::move(a));
        const bool first = shown_.first_time(key, now);
        if (c.fresh && first) {
          show_message(taking.msg);
          ClientStoreCommand mark{next_ticket_++, ClientStoreOp::kMarkShown, {}};
          mark.entry.sender_key = nickname_key(taking.msg.from);
          mark.entry.mid = taking.msg.mid;
          mark.forget_text = !config_.keep_history;
          store_commands_.push_back(std::move(mark));
        }
        break;
      }
      case ClientStoreOp::kMarkShown:
      case ClientStoreOp::kRecordSent:
        if (!c.ok) store_failed(c.error);
        break;
      case ClientStoreOp::kHistory:
        print_history(c);
        break;
      case ClientStoreOp::kPrune:
        if (!c.ok) {
          log(LogLevel::kWarn, "message store: could not prune: " + c.error);
        } else if (c.total > 0) {
          log(LogLevel::kDebug, "message store: pruned " + std::to_string(c.total) + " old ids");
        }
        break;
      case ClientStoreOp::kSize:
        print_store_size(c);
        break;
    }
  }
  process_input(now);  // what was typed after a `history`
}

void ClientSession::store_failed(const std::string& error) {
  log(LogLevel::kError, "message store: " + error);
  if (!std::exchange(store_failure_told_, true)) {
    say("store_failed", "[Cannot write your message store (" + printable(error) +
                            "): messages wait unacknowledged until it works.]");
  }
}

void ClientSession::record_sent(const OutgoingMessage& msg, bool post) {
  if (!config_.durable_store || !config_.keep_history) return;
  HistoryEntry e;
  e.outgoing = true;
  e.sender_key = registered_key_;
  e.mid = msg.mid;
  e.conversation = post ? conversation_of_group(msg.peer) : nickname_key(msg.peer);
  e.from = config_.nick;
  e.to = msg.peer;
  if (post) e.group = msg.peer;
  e.text = msg.text;
  e.at_ms = wall_ms();
  store_commands_.push_back({next_ticket_++, ClientStoreOp::kRecordSent, std::move(e)});
}

void ClientSession::prune_store(TimePoint now) {
  if (!config_.durable_store || now < next_prune_) return;
  next_prune_ = now + kPruneInterval;
  const std::int64_t wall = wall_ms();
  ClientStoreCommand prune{next_ticket_++, ClientStoreOp::kPrune, {}};
  prune.text_before_ms = config_.history_days > 0 ? wall - config_.history_days * kDayMs : 0;
  prune.ids_before_ms = wall - kTakenIdDays * kDayMs;
  store_commands_.push_back(std::move(prune));
}

void ClientSession::print_store_size(const ClientStoreCompletion& done) {
  if (!done.ok) {
    say("error", "[History unavailable: " + printable(done.error) + "]");
    return;
  }
  const std::string kept =
      !config_.keep_history      ? "no texts kept (--no-history)"
      : config_.history_days > 0 ? "texts kept " + std::to_string(config_.history_days) + " days"
                                 : "texts kept for ever";
  say("history_size",
      "[History: " + std::to_string(done.total) + " messages, " + std::to_string(done.with_text) +
          " with their text, " + size_text(done.bytes) + " on disk; " + kept + ", ids " +
          std::to_string(kTakenIdDays) + " days.]",
      {{"messages", static_cast<std::int64_t>(done.total)},
       {"with_text", static_cast<std::int64_t>(done.with_text)},
       {"bytes", static_cast<std::int64_t>(done.bytes)}});
}

void ClientSession::cmd_history(std::string_view args) {
  using command_words::skip_spaces;
  using command_words::split_word;
  const auto [target, rest] = split_word(skip_spaces(args));
  const auto [count, extra] = split_word(skip_spaces(rest));
  const char* const usage = "[Usage: history <nick>|*|#<group> [<n>]]";
  if (target.empty() && config_.durable_store) {
    // Alone: what the store holds and its size on disk.
    store_commands_.push_back({next_ticket_++, ClientStoreOp::kSize, {}});
    return;
  }
  std::size_t n = kDefaultHistory;
  if (!count.empty()) {
    n = 0;
    for (const char ch : count) {
      if (ch < '0' || ch > '9' || n > kMaxHistory) {
        n = 0;
        break;
      }
      n = n * 10 + static_cast<std::size_t>(ch - '0');
    }
    if (n == 0 || n > kMaxHistory) {
      refuse("[Usage: history <nick>|*|#<group> [<n>]: n is 1 to " + std::to_string(kMaxHistory) +
             "]");
      return;
    }
  }
  if (target.empty() || !skip_spaces(extra).empty()) {
    refuse(usage);
    return;
  }
  if (!config_.durable_store || !config_.keep_history) {
    refuse(config_.durable_store ? "[History is off (--no-history).]"
                                 : "[History is off: this client keeps no store.]");
    return;
  }
  std::string conversation;
  std::string shown_as;
  if (target == kEveryone) {
    conversation = kEveryone;
    shown_as = "in the channel";
  } else if (target.front() == '#') {
    const std::string_view group = target.substr(1);
    if (!group_name_ok(group)) return;
    conversation = conversation_of_group(group);
    shown_as = "in group " + std::string(group);
  } else {
    if (!is_valid_nickname(target)) {
      refuse(usage);
      return;
    }
    conversation = nickname_key(target);
    shown_as = "with " + std::string(target);
  }
  const std::uint64_t ticket = next_ticket_++;
  ClientStoreCommand ask{ticket, ClientStoreOp::kHistory, {}};
  ask.entry.conversation = std::move(conversation);
  ask.limit = n;
  store_commands_.push_back(std::move(ask));
  history_asks_.emplace(ticket, std::move(shown_as));
}

void ClientSession::print_history(const ClientStoreCompletion& done) {
  const auto it = history_asks_.find(done.ticket);
  if (it == history_asks_.end()) return;
  const std::string shown_as = std::move(it->second);
  history_asks_.erase(it);
  if (!done.ok) {
    say("error", "[History unavailable: " + printable(done.error) + "]");
    return;
  }
  for (const HistoryEntry& e : done.rows) {
    const std::int64_t at = e.saved_at_ms != 0 ? e.saved_at_ms : e.at_ms;
    std::vector<EventField> fields{
        {"from", e.from}, {"text", e.text}, {"at_ms", at}, {"outgoing", e.outgoing}};
    if (!e.to.empty()) fields.push_back({"to", e.to});
    if (!e.group.empty()) fields.push_back({"group", e.group});
    say("history", config_.format_time(at) + " " + e.from + ": " + printable(e.text),
        std::move(fields));
  }
  if (done.rows.empty()) {
    say("info", "[No messages " + shown_as + " yet.]");
  } else {
    say("info", "[" + std::to_string(done.rows.size()) + " of " + std::to_string(done.total) +
                    " messages " + shown_as + " shown.]");
  }
}

}  // namespace udpchat
