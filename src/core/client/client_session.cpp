// client_session.cpp: ClientSession's plumbing: construction, output, the
// input queue (commands act in the order typed), the datagram dispatch
// (server datagrams only from the server), quitting, and time.
//
// The other concerns live beside it: client_commands.cpp (what each typed
// command does), client_send.cpp (the send pipeline and incoming messages),
// client_requests.cpp (requests to the server and their acks),
// client_table.cpp (the client table).
#include <algorithm>
#include <ctime>

#include "core/client/client_session.hpp"
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

}  // namespace

std::string format_local_time(std::int64_t unix_ms) {
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return {buf, n};
}

namespace {

/// The key pair of `config`, or (none given: tests) one drawn from `id_seed`.
crypto::KeyPair own_key_pair(const ClientConfig& config, std::uint64_t id_seed) {
  const crypto::Key zero{};
  return config.key.secret_key == zero ? crypto::generate_keypair(crypto::seeded_random(id_seed))
                                       : config.key;
}

}  // namespace

ClientSession::ClientSession(ClientConfig config, std::uint64_t id_seed)
    : config_(std::move(config)),
      ids_(id_seed),
      reconnect_(id_seed),
      keyring_(own_key_pair(config_, id_seed),
               config_.random ? config_.random : crypto::seeded_random(id_seed ^ 0xB0C5ULL),
               config_.peer_pins) {
  if (!config_.format_time) {
    config_.format_time = format_local_time;
  }
  first_server_ = config_.server;
  registered_key_ = nickname_key(config_.nick);
}

std::vector<std::string> ClientSession::take_lines() {
  std::vector<std::string> lines;
  for (auto& e : take_events()) lines.push_back(std::move(e.line));
  return lines;
}

std::size_t ClientSession::messages_in_flight() const {
  std::size_t n = 0;
  for (const auto& [key, q] : peers_) n += q.messages.size();
  for (const auto& [key, q] : posts_) n += q.messages.size();
  return n;
}

// --- output helpers ----------------------------------------------------------

void ClientSession::say(std::string text) {
  say("info", std::move(text));
}

void ClientSession::say(std::string_view kind, std::string text, std::vector<EventField> fields) {
  events_.push_back({std::string(kind), std::move(fields), std::string(kPrefix) + text});
}

void ClientSession::log(LogLevel level, std::string text) {
  logs_.push_back({level, std::move(text)});
}

void ClientSession::fail_server_not_responding() {
  say("server_not_responding", "[Server not responding]");
  say("exiting", "[Exiting]");
  exit_status_ = 1;
  phase_ = Phase::kExited;
}

void ClientSession::fail(std::string line) {
  if (phase_ == Phase::kExited) return;
  say("error", std::move(line));
  say("exiting", "[Exiting]");
  exit_status_ = 1;
  phase_ = Phase::kExited;
}

void ClientSession::reply_ack(std::uint64_t id, const Endpoint& to) {
  outgoing_.push_back({to, encode(Ack{id, AckStatus::kOk, 0, {}})});
}

void ClientSession::start(TimePoint now) {
  show_unshown(now);  // manual §4.11: what was taken before a crash comes first
  prune_store(now);   // then hourly, from on_timeout
  send_register(now, true);
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
  // so commands typed meanwhile wait for their outcome (manual §5: in order).
  // A `history` waits for its answer from the store, and a `list` for the
  // server's count (manual §4.3), so their lines come before those of the
  // next command.
  return quitting_ || phase_ == Phase::kRegistering || phase_ == Phase::kDeregistering ||
         phase_ == Phase::kExited || !history_asks_.empty() || list_due_.has_value();
}

void ClientSession::process_input(TimePoint now) {
  while (!input_.empty() && !input_blocked()) {
    const std::string line = std::move(input_.front());
    input_.pop_front();
    execute(line, now);
  }
  maybe_finish_quit(now);
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
  // Messages already typed get their outcome before we leave (manual §5);
  // those held for an unreachable server are told they were not sent.
  const bool sends_in_flight = std::any_of(peers_.begin(), peers_.end(),
                                           [](const auto& p) {
                                             return p.second.stage != SendStage::kIdle &&
                                                    p.second.stage != SendStage::kHeld &&
                                                    p.second.stage != SendStage::kUntrusted;
                                           }) ||
                               std::any_of(posts_.begin(), posts_.end(),
                                           [](const auto& p) { return p.second.request_id != 0; });
  if (sends_in_flight) {
    return;
  }
  if (phase_ == Phase::kRegistered) {
    send_deregister(now);
    return;
  }
  fail_held(now);
  phase_ = Phase::kExited;
  exit_status_ = 0;
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
  datagram_bytes_ = bytes.size();
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Ack> || std::is_same_v<T, Chat> ||
                      std::is_same_v<T, Probe>) {
          handle(m, from, now);
        } else if constexpr (std::is_same_v<T, TablePart> || std::is_same_v<T, Ping> ||
                             std::is_same_v<T, Deliver> || std::is_same_v<T, Notice> ||
                             std::is_same_v<T, Rows> || std::is_same_v<T, GroupList> ||
                             std::is_same_v<T, Punch> || std::is_same_v<T, Relay> ||
                             std::is_same_v<T, RelayAck>) {
          if (!from_server) {  // manual §6: server datagrams only from the server
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
  const auto* notice = std::get_if<Notice>(&*decoded);
  if (from_server && (notice == nullptr || notice->kind != NoticeKind::kShutdown)) {
    server_heard(now);  // reconnecting: the server is back, register now
  }
  // A peer whose key went back to the pinned one: what waited for it goes.
  for (const std::string& nk : keyring_.take_restored()) {
    if (const auto q = peers_.find(nk);
        q != peers_.end() && q->second.stage == SendStage::kUntrusted) {
      q->second.stage = SendStage::kIdle;
      dispatch_front(nk, now);
    }
  }
  process_input(now);
}

// --- time ------------------------------------------------------------------------

void ClientSession::on_expired(std::uint64_t id, TimePoint now) {
  if (const auto d = direct_.find(id); d != direct_.end()) {
    const std::string peer_key = d->second;
    if (path_failed(peer_key, now)) {
      return;  // docs/NAT.md: it goes on through the relay, same id
    }
    direct_.erase(d);
    const std::string& peer = peers_.at(peer_key).messages.front().peer;
    if (phase_ == Phase::kReconnecting) {
      say("no_ack", "[No ACK from " + peer + ", message kept until the server is back.]",
          {{"to", peer}, {"held", true}});
    } else {
      say("no_ack", "[No ACK from " + peer + ", message sent to server.]",
          {{"to", peer}, {"held", false}});
    }
    save_at_server(peer_key, now);
    return;
  }
  const auto r = requests_.find(id);
  if (r == requests_.end()) {
    return;
  }
  const ServerRequest req = std::move(r->second);
  requests_.erase(r);
  log(LogLevel::kWarn, "server request " + std::to_string(id) + " unanswered");
  switch (req.kind) {
    case RequestKind::kRegister:
      if (phase_ == Phase::kReconnecting) {
        reconnect_.attempt_id = 0;
        reconnect_.next_attempt = now + reconnect_.backoff.next();
      } else if (first_registration_ && start_tries_ < config_.other_servers.size()) {
        ++start_tries_;  // docs/CLUSTER.md: another server of the cluster may answer
        next_server();
        send_register(now, /*with_password=*/true);
      } else if (first_registration_) {
        fail_server_not_responding();  // it never reached its server
      } else {
        server_lost(now);
      }
      return;
    case RequestKind::kDeregister:
      say("[Server unreachable: you are offline here only.]");
      phase_ = Phase::kOffline;
      if (quitting_) {
        maybe_finish_quit(now);
      }
      return;
    case RequestKind::kHeartbeat:
      server_lost(now);
      return;
    case RequestKind::kSetPassword:
      say("[Server unreachable: the password was not changed.]");
      server_lost(now);
      return;
    case RequestKind::kDeleteAccount:
      say("[Server unreachable: the account was not deleted.]");
      server_lost(now);
      return;
    case RequestKind::kFind:
    case RequestKind::kJoin:
    case RequestKind::kLeave:
    case RequestKind::kGroups:
      answers_.erase(id);  // half an answer, perhaps
      group_answers_.erase(id);
      server_lost(now);
      say_server_unreachable();
      return;
    case RequestKind::kPost:
      post_unanswered(req.peer_key, now);
      return;
    case RequestKind::kIntroduce:
      return;  // the message went to the row's endpoint meanwhile; heartbeats watch the server
    case RequestKind::kSave:
    case RequestKind::kLookup: {
      const auto q = peers_.find(req.peer_key);
      if (q == peers_.end() || q->second.messages.empty() || q->second.request_id != id) {
        return;
      }
      const std::string peer = q->second.messages.front().peer;
      if (phase_ == Phase::kOffline || phase_ == Phase::kDeregistering) {
        say("failed", "[Server not responding: the message for " + peer + " was not sent.]",
            {{"to", peer}});
        finish_front(req.peer_key, now);
        return;
      }
      say("held", "[Message for " + peer + " kept until the server is back.]", {{"to", peer}});
      hold_for_server(req.peer_key,
                      req.kind == RequestKind::kSave ? SendStage::kSaving : SendStage::kLookingUp,
                      now);
      server_lost(now);
      return;
    }
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
  run_paths(now);
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
  // A `list` whose count did not come in time: the rows held, the count held.
  if (list_due_ && *list_due_ <= now) {
    list_due_.reset();
    say_rows_held();
  }
  if (reconnect_.next_attempt && *reconnect_.next_attempt <= now && phase_ == Phase::kReconnecting) {
    attempt_registration(now);
  }
  if (next_heartbeat_ && *next_heartbeat_ <= now && phase_ == Phase::kRegistered) {
    send_heartbeat(now);
  }
  prune_store(now);
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
  if (reconnect_.next_attempt && phase_ == Phase::kReconnecting) {
    consider(*reconnect_.next_attempt);
  }
  if (list_due_) {
    consider(*list_due_);
  }
  if (const auto p = paths_deadline()) {
    consider(*p);
  }
  for (const auto& [key, q] : peers_) {
    if (q.stage == SendStage::kAwaitingRelay) {
      consider(q.relay_guard);
    }
  }
  return t;
}

}  // namespace udpchat
