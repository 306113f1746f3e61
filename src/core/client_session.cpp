#include "core/client_session.hpp"

#include <algorithm>
#include <ctime>

#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {
namespace {

constexpr std::string_view kPrefix = ">>> ";

std::string_view trim_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) {
    line.remove_suffix(1);
  }
  return line;
}

// Splits "word rest" at the first space; rest excludes that one space.
std::pair<std::string_view, std::string_view> split_word(std::string_view s) {
  const auto space = s.find(' ');
  if (space == std::string_view::npos) {
    return {s, {}};
  }
  return {s.substr(0, space), s.substr(space + 1)};
}

std::string_view skip_spaces(std::string_view s) {
  while (!s.empty() && s.front() == ' ') {
    s.remove_prefix(1);
  }
  return s;
}

std::string shown_key(std::string_view from, std::uint64_t mid) {
  return nickname_key(from) + '/' + std::to_string(mid);
}

}  // namespace

std::string format_local_time(std::int64_t unix_ms) {
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return {buf, n};
}

ClientSession::ClientSession(ClientConfig config, std::uint64_t id_seed)
    : config_(std::move(config)), ids_(id_seed) {
  if (!config_.format_time) {
    config_.format_time = format_local_time;
  }
}

// --- output helpers ----------------------------------------------------------

void ClientSession::say(std::string text) {
  lines_.push_back(std::string(kPrefix) + text);
}

void ClientSession::log(LogLevel level, std::string text) {
  logs_.push_back({level, std::move(text)});
}

void ClientSession::fail_server_not_responding() {
  say("[Server not responding]");
  say("[Exiting]");
  exit_status_ = 1;
  phase_ = Phase::kExited;
}

void ClientSession::reply_ack(std::uint64_t id, const Endpoint& to) {
  outgoing_.push_back({to, encode(Ack{id, AckStatus::kOk, 0, {}})});
}

// --- requests to the server ----------------------------------------------------

std::uint64_t ClientSession::send_to_server(const Message& m, std::uint64_t id, ServerRequest req,
                                            TimePoint now) {
  requests_[id] = std::move(req);
  sender_.send(id, config_.server, encode(m),
               RetryPolicy::fixed(config_.ack_timeout, config_.server_retries), now, outgoing_);
  return id;
}

void ClientSession::send_register(TimePoint now) {
  phase_ = Phase::kRegistering;
  const std::uint64_t id = ids_.next();
  const auto hb = std::chrono::duration_cast<milliseconds>(config_.heartbeat).count();
  send_to_server(Register{id, config_.nick, static_cast<std::uint32_t>(hb)}, id,
                 {RequestKind::kRegister, {}}, now);
  log(LogLevel::kDebug, "registering as " + config_.nick + " with " + config_.server.to_string());
}

void ClientSession::send_deregister(TimePoint now) {
  phase_ = Phase::kDeregistering;
  next_heartbeat_.reset();
  const std::uint64_t id = ids_.next();
  send_to_server(Deregister{id, config_.nick}, id, {RequestKind::kDeregister, {}}, now);
}

void ClientSession::start(TimePoint now) {
  send_register(now);
}

// --- input -----------------------------------------------------------------------

void ClientSession::on_line(std::string_view line, TimePoint now) {
  if (phase_ == Phase::kExited) {
    return;
  }
  input_.emplace_back(trim_line(line));
  process_input(now);
}

void ClientSession::on_quit(TimePoint now) {
  if (phase_ == Phase::kExited) {
    return;
  }
  input_.emplace_back("quit");
  process_input(now);
}

bool ClientSession::input_blocked() const {
  // Registration and deregistration change what every later command means,
  // so commands typed meanwhile wait for their outcome (SPEC 3: in order).
  return quitting_ || phase_ == Phase::kRegistering || phase_ == Phase::kDeregistering ||
         phase_ == Phase::kExited;
}

void ClientSession::process_input(TimePoint now) {
  while (!input_.empty() && !input_blocked()) {
    const std::string line = std::move(input_.front());
    input_.pop_front();
    execute(line, now);
  }
  maybe_finish_quit(now);
}

void ClientSession::execute(std::string_view line, TimePoint now) {
  const auto [word, rest] = split_word(skip_spaces(line));
  if (word.empty()) {
    return;
  }
  if (word == "send") {
    cmd_send(rest, now);
  } else if (word == "dereg") {
    cmd_dereg(rest, now);
  } else if (word == "reg") {
    cmd_reg(rest, now);
  } else if (word == "list" || word == "who") {
    cmd_list();
  } else if (word == "help") {
    cmd_help();
  } else if (word == "quit" || word == "exit") {
    begin_quit(now);
  } else {
    say("[Unknown command: " + printable(word) + ". Type help for the commands.]");
  }
}

void ClientSession::cmd_send(std::string_view args, TimePoint now) {
  const auto [peer, text] = split_word(skip_spaces(args));
  if (peer.empty() || text.empty()) {
    say("[Usage: send <nick> <message>]");
    return;
  }
  if (phase_ != Phase::kRegistered) {
    say("[You are not registered. Use: reg <nick>]");
    return;
  }
  if (const std::string problem = message_text_problem(text); !problem.empty()) {
    say(problem);
    return;
  }
  const TableEntry* entry = find_peer(peer);
  if (entry == nullptr) {
    say("[Unknown client " + printable(peer) + ".]");
    return;
  }
  const std::string key = nickname_key(entry->nick);
  if (const auto it = peers_.find(key);
      it != peers_.end() && it->second.messages.size() >= config_.max_pending_per_peer) {
    say("[Too many messages waiting for " + entry->nick + " (max " +
        std::to_string(config_.max_pending_per_peer) + ").]");
    return;
  }
  PeerQueue& q = peers_[key];
  q.messages.push_back({entry->nick, std::string(text), ids_.next()});
  if (q.stage == SendStage::kIdle) {
    dispatch_front(key, now);
  }
}

void ClientSession::cmd_dereg(std::string_view args, TimePoint now) {
  const auto [nick, extra] = split_word(skip_spaces(args));
  if (nick.empty() || !skip_spaces(extra).empty()) {
    say("[Usage: dereg <nick>]");
    return;
  }
  if (phase_ != Phase::kRegistered) {
    say("[You are not registered. Use: reg <nick>]");
    return;
  }
  if (nickname_key(nick) != nickname_key(config_.nick)) {
    say("[You can only deregister yourself (" + config_.nick + ").]");
    return;
  }
  send_deregister(now);
}

void ClientSession::cmd_reg(std::string_view args, TimePoint now) {
  const auto [nick, extra] = split_word(skip_spaces(args));
  if (nick.empty() || !skip_spaces(extra).empty()) {
    say("[Usage: reg <nick>]");
    return;
  }
  if (!is_valid_nickname(nick)) {
    say("[Invalid nickname " + printable(nick) + ": use 1 to 32 of A-Z a-z 0-9 _ - .]");
    return;
  }
  if (phase_ == Phase::kRegistered) {
    say("[You are already registered as " + config_.nick + ".]");
    return;
  }
  config_.nick = std::string(nick);
  send_register(now);
}

void ClientSession::cmd_list() {
  if (table_.empty()) {
    say("[No clients known yet.]");
    return;
  }
  for (const auto& e : table_) {
    say(e.nick + " " + Endpoint{e.address, e.port}.to_string() +
        (e.online ? " online" : " offline"));
  }
}

void ClientSession::cmd_help() {
  say("Commands:");
  say("  send <nick> <message>   send <message> to <nick> (acknowledged, or saved by the server)");
  say("  list, who               show every known client, its address and status");
  say("  dereg <nick>            go offline (your own nickname); you stay running");
  say("  reg <nick>              register again and receive your saved messages");
  say("  help                    show this list");
  say("  quit, exit              deregister and leave (also end of input or Ctrl+C)");
}

void ClientSession::begin_quit(TimePoint now) {
  quitting_ = true;
  maybe_finish_quit(now);
}

void ClientSession::maybe_finish_quit(TimePoint now) {
  if (!quitting_ || phase_ == Phase::kExited || phase_ == Phase::kRegistering ||
      phase_ == Phase::kDeregistering) {
    return;
  }
  // Messages already typed get their outcome before we leave (SPEC 3).
  const bool sends_in_flight = std::any_of(peers_.begin(), peers_.end(), [](const auto& p) {
    return p.second.stage != SendStage::kIdle;
  });
  if (sends_in_flight) {
    return;
  }
  if (phase_ == Phase::kRegistered) {
    send_deregister(now);
    return;
  }
  phase_ = Phase::kExited;
  exit_status_ = 0;
}

// --- sending messages ----------------------------------------------------------

const TableEntry* ClientSession::find_peer(std::string_view nick) const {
  const std::string key = nickname_key(nick);
  for (const auto& e : table_) {
    if (nickname_key(e.nick) == key) {
      return &e;
    }
  }
  return nullptr;
}

void ClientSession::dispatch_front(const std::string& peer_key, TimePoint now) {
  PeerQueue& q = peers_.at(peer_key);
  if (q.messages.empty()) {
    q.stage = SendStage::kIdle;
    return;
  }
  const OutgoingMessage& msg = q.messages.front();
  const TableEntry* entry = find_peer(msg.peer);
  if (entry != nullptr && entry->online) {
    q.stage = SendStage::kDirect;
    q.request_id = msg.mid;  // a direct chat's transport id is its message id
    direct_[msg.mid] = peer_key;
    sender_.send(msg.mid, Endpoint{entry->address, entry->port},
                 encode(Chat{msg.mid, config_.nick, msg.text}),
                 RetryPolicy::window(config_.ack_timeout), now, outgoing_);
    return;
  }
  save_at_server(peer_key, now);
}

void ClientSession::save_at_server(const std::string& peer_key, TimePoint now) {
  PeerQueue& q = peers_.at(peer_key);
  const OutgoingMessage& msg = q.messages.front();
  q.stage = SendStage::kSaving;
  const std::uint64_t id = ids_.next();
  q.request_id = id;
  send_to_server(Save{id, config_.nick, msg.peer, msg.mid, msg.text}, id,
                 {RequestKind::kSave, peer_key}, now);
}

void ClientSession::finish_front(const std::string& peer_key, TimePoint now) {
  PeerQueue& q = peers_.at(peer_key);
  if (!q.messages.empty()) {
    q.messages.pop_front();
  }
  q.stage = SendStage::kIdle;
  q.request_id = 0;
  dispatch_front(peer_key, now);
  if (q.stage == SendStage::kIdle) {
    peers_.erase(peer_key);
  }
  maybe_finish_quit(now);
}

// --- datagrams -------------------------------------------------------------------

void ClientSession::on_datagram(std::string_view bytes, const Endpoint& from, TimePoint now) {
  if (phase_ == Phase::kExited) {
    return;
  }
  auto decoded = decode(bytes);
  if (!decoded) {
    ++dropped_;
    log(LogLevel::kDebug, std::string("dropped datagram from ") + from.to_string() + ": " +
                              to_string(decoded.error()));
    return;
  }
  const bool from_server = from == config_.server;
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Ack> || std::is_same_v<T, Chat>) {
          handle(m, from, now);
        } else if constexpr (std::is_same_v<T, TablePart> || std::is_same_v<T, Ping> ||
                             std::is_same_v<T, Deliver> || std::is_same_v<T, Notice>) {
          if (!from_server) {  // SPEC 4: server datagrams only from the server
            ++dropped_;
            log(LogLevel::kDebug, "dropped server datagram from " + from.to_string());
            return;
          }
          handle(m, from, now);
        } else {
          ++dropped_;  // requests meant for a server
          log(LogLevel::kDebug, "dropped request datagram from " + from.to_string());
        }
      },
      *decoded);
  process_input(now);
}

void ClientSession::handle(const Ack& m, const Endpoint& from, TimePoint now) {
  if (!sender_.acknowledge(m.id, from, now)) {
    return;  // late duplicate, or not ours
  }
  if (const auto d = direct_.find(m.id); d != direct_.end()) {
    const std::string peer_key = d->second;
    direct_.erase(d);
    PeerQueue& q = peers_.at(peer_key);
    say("[Message received by " + q.messages.front().peer + ".]");
    finish_front(peer_key, now);
    return;
  }
  if (const auto r = requests_.find(m.id); r != requests_.end()) {
    const ServerRequest req = std::move(r->second);
    requests_.erase(r);
    handle_server_ack(m, req, now);
  }
}

void ClientSession::handle_server_ack(const Ack& m, const ServerRequest& req, TimePoint now) {
  switch (req.kind) {
    case RequestKind::kRegister:
      if (m.status == AckStatus::kOk) {
        phase_ = Phase::kRegistered;
        first_registration_ = false;
        say("[Welcome, You are registered.]");
        if (table_line_pending_) {
          say("[Client table updated.]");
          table_line_pending_ = false;
        }
        // Printed with the first stored message, after the table line.
        stored_announced_ = m.stored > 0;
        next_heartbeat_ = now + config_.heartbeat;
        // A table that came while we registered and shows us offline may be
        // older than our registration, or newer (the server lost track of
        // us again). A heartbeat now asks; "offline" makes us register again.
        if (const TableEntry* self = find_peer(config_.nick); self != nullptr && !self->online) {
          next_heartbeat_ = now;
        }
      } else {
        if (m.status == AckStatus::kInUse) {
          say("[Nickname " + config_.nick + " is already in use.]");
        } else {
          say("[Registration refused: " + printable(m.detail) + "]");
        }
        phase_ = Phase::kOffline;
        if (first_registration_) {
          exit_status_ = 1;
          phase_ = Phase::kExited;
        }
      }
      return;
    case RequestKind::kDeregister:
      phase_ = Phase::kOffline;
      say("[You are Offline. Bye.]");
      // Messages typed before the dereg keep going to their outcome (a
      // direct ack, or the server, which accepts saves from the address
      // the nickname is registered at even when it is offline).
      if (quitting_) {
        phase_ = Phase::kExited;
        exit_status_ = 0;
      }
      return;
    case RequestKind::kHeartbeat:
      if (m.status == AckStatus::kOffline && phase_ == Phase::kRegistered) {
        log(LogLevel::kInfo, "server holds us offline; registering again");
        send_register(now);
      }
      return;
    case RequestKind::kSave: {
      const auto it = peers_.find(req.peer_key);
      if (it == peers_.end() || it->second.messages.empty()) {
        return;
      }
      PeerQueue& q = it->second;
      const std::string peer = q.messages.front().peer;
      switch (m.status) {
        case AckStatus::kSaved:
          say("[Messages received by the server and saved]");
          finish_front(req.peer_key, now);
          return;
        case AckStatus::kExists:
          say("[Client " + peer + " exists!!]");
          // The server relays it itself and then sends a Notice; wait for
          // it (bounded) so this peer still sees our messages in order.
          q.stage = SendStage::kAwaitingRelay;
          q.relay_guard = now + config_.ack_timeout * (config_.server_retries + 2);
          return;
        case AckStatus::kUnknown:
          say("[Unknown client " + peer + ".]");
          finish_front(req.peer_key, now);
          return;
        default:
          say("[Server could not save the message for " + peer + ": " +
              (m.detail.empty() ? std::string("error") : printable(m.detail)) + "]");
          finish_front(req.peer_key, now);
          return;
      }
    }
  }
}

void ClientSession::handle(const TablePart& m, const Endpoint& from, TimePoint now) {
  if (phase_ != Phase::kRegistered && phase_ != Phase::kRegistering) {
    ++dropped_;  // offline: silent (SPEC 2); the server does not expect an ack
    return;
  }
  reply_ack(m.id, from);
  if (m.version <= table_version_) {
    return;  // never replace a newer table with an older one (SPEC 3)
  }
  if (m.version != assembling_version_ || assembling_.size() != m.parts) {
    if (m.version < assembling_version_) {
      return;
    }
    assembling_version_ = m.version;
    assembling_.assign(m.parts, std::nullopt);
  }
  assembling_[m.part] = m.entries;
  if (std::any_of(assembling_.begin(), assembling_.end(),
                  [](const auto& p) { return !p.has_value(); })) {
    return;
  }
  std::vector<TableEntry> table;
  for (auto& part : assembling_) {
    table.insert(table.end(), part->begin(), part->end());
  }
  table_ = std::move(table);
  table_version_ = m.version;
  assembling_.clear();
  if (phase_ == Phase::kRegistering) {
    table_line_pending_ = true;
  } else {
    say("[Client table updated.]");
  }
  // SPEC 8: a registered client that finds itself offline re-registers.
  const TableEntry* self = find_peer(config_.nick);
  if (phase_ == Phase::kRegistered && self != nullptr && !self->online) {
    log(LogLevel::kInfo, "the table shows us offline; registering again");
    send_register(now);
  }
}

void ClientSession::handle(const Ping& m, const Endpoint& from, TimePoint now) {
  (void)now;
  // Registering counts as alive: a server that pings us meanwhile (a
  // message for us arrived) must not mark us offline again.
  if (phase_ == Phase::kRegistered || phase_ == Phase::kRegistering) {
    reply_ack(m.id, from);
  }
}

void ClientSession::handle(const Chat& m, const Endpoint& from, TimePoint now) {
  if (phase_ != Phase::kRegistered) {
    ++dropped_;  // deregistered: neither shown nor acknowledged (SPEC 2)
    return;
  }
  reply_ack(m.id, from);
  if (shown_.first_time(shown_key(m.from, m.id), now)) {
    say(m.from + ": " + printable(m.text));
  }
}

void ClientSession::handle(const Deliver& m, const Endpoint& from, TimePoint now) {
  if (phase_ != Phase::kRegistered) {
    ++dropped_;  // not (yet) registered: the server retransmits
    return;
  }
  reply_ack(m.id, from);
  if (!shown_.first_time(shown_key(m.from, m.mid), now)) {
    return;
  }
  if (m.saved_at_ms != 0) {
    if (stored_announced_) {
      say("[You Have Messages]");
      stored_announced_ = false;
    }
    say(m.from + ": " + config_.format_time(m.saved_at_ms) + " " + printable(m.text));
  } else {
    say(m.from + ": " + printable(m.text));
  }
}

void ClientSession::handle(const Notice& m, const Endpoint& from, TimePoint now) {
  reply_ack(m.id, from);
  if (!notices_.first_time(std::to_string(m.id), now)) {
    return;
  }
  if (m.kind == NoticeKind::kShutdown) {
    say("[Server is shutting down.]");
    return;
  }
  // Outcome of a message the server relayed for us after "exists".
  const std::string key = nickname_key(m.nick);
  const auto it = peers_.find(key);
  const bool ours =
      it != peers_.end() && !it->second.messages.empty() &&
      it->second.messages.front().mid == m.mid &&
      (it->second.stage == SendStage::kSaving || it->second.stage == SendStage::kAwaitingRelay);
  if (ours && it->second.stage == SendStage::kSaving) {
    // The "exists" ack was lost or is late, but the server only relays
    // after finding the peer alive: say so first, as the ack would have.
    sender_.cancel(it->second.request_id);
    requests_.erase(it->second.request_id);
    say("[Client " + it->second.messages.front().peer + " exists!!]");
  }
  if (m.kind == NoticeKind::kDelivered) {
    say("[Message received by " + m.nick + ".]");
  } else {
    say("[Messages received by the server and saved]");
  }
  if (ours) {
    finish_front(key, now);
  }
}

// --- time ------------------------------------------------------------------------

void ClientSession::on_expired(std::uint64_t id, TimePoint now) {
  if (const auto d = direct_.find(id); d != direct_.end()) {
    const std::string peer_key = d->second;
    direct_.erase(d);
    say("[No ACK from " + peers_.at(peer_key).messages.front().peer + ", message sent to server.]");
    save_at_server(peer_key, now);
    return;
  }
  if (const auto r = requests_.find(id); r != requests_.end()) {
    requests_.erase(r);
    log(LogLevel::kWarn, "server request " + std::to_string(id) + " unanswered after " +
                             std::to_string(config_.server_retries) + " tries");
    fail_server_not_responding();
  }
}

void ClientSession::on_timeout(TimePoint now) {
  if (phase_ == Phase::kExited) {
    return;
  }
  for (const std::uint64_t id : sender_.poll(now, outgoing_)) {
    on_expired(id, now);
    if (phase_ == Phase::kExited) {
      return;
    }
  }
  // Relays whose outcome notice never came: stop waiting, keep the order.
  std::vector<std::string> overdue;
  for (const auto& [key, q] : peers_) {
    if (q.stage == SendStage::kAwaitingRelay && q.relay_guard <= now) {
      overdue.push_back(key);
    }
  }
  for (const auto& key : overdue) {
    log(LogLevel::kWarn, "no relay outcome from the server for " + key);
    finish_front(key, now);
  }
  if (next_heartbeat_ && *next_heartbeat_ <= now && phase_ == Phase::kRegistered) {
    const std::uint64_t id = ids_.next();
    send_to_server(Heartbeat{id, config_.nick, table_version_}, id, {RequestKind::kHeartbeat, {}},
                   now);
    next_heartbeat_ = now + config_.heartbeat;
  }
  process_input(now);
}

std::optional<TimePoint> ClientSession::next_deadline() const {
  if (phase_ == Phase::kExited) {
    return std::nullopt;
  }
  std::optional<TimePoint> t = sender_.next_deadline();
  const auto consider = [&t](TimePoint c) {
    if (!t || c < *t) t = c;
  };
  if (next_heartbeat_ && phase_ == Phase::kRegistered) {
    consider(*next_heartbeat_);
  }
  for (const auto& [key, q] : peers_) {
    if (q.stage == SendStage::kAwaitingRelay) {
      consider(q.relay_guard);
    }
  }
  return t;
}

}  // namespace udpchat
