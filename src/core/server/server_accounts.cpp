// server_accounts.cpp: ServerCore's accounts (manual §9): nickname
// passwords (set at a first registration with --password, changed by
// `passwd`, checked when a nickname moves to a new key) and
// `delete-account`. Argon2id runs off the event loop (password_jobs.hpp):
// a request waits for its job, and retransmissions of it are ignored
// until the job is back.
#include <algorithm>

#include "core/server/server_core.hpp"
#include "protocol/text.hpp"

namespace udpchat {
namespace {

/// After the n-th wrong password in a row for a nickname, no check for
/// 2^(n-1) s, at most a minute: a guesser gets ~60 tries an hour, an owner
/// with a typo waits a second.
Duration password_backoff(int failures) {
  const int shift = std::clamp(failures - 1, 0, 6);
  return std::min<Duration>(std::chrono::seconds(1LL << shift), std::chrono::seconds(60));
}

}  // namespace

bool ServerCore::password_pending(const Endpoint& from, std::uint64_t id) const {
  return std::any_of(password_waits_.begin(), password_waits_.end(),
                     [&](const auto& w) { return w.second.from == from && w.second.id == id; });
}

bool ServerCore::start_password_job(PasswordJob job, PasswordWait wait) {
  if (password_waits_.size() >= kMaxPasswordJobs) {
    ++stats_.requests["password_busy"];
    reply(wait.from, wait.id,
          Ack{0, AckStatus::kError, 0, "the server is busy checking passwords; try again"});
    return false;
  }
  job.ticket = next_password_ticket_++;
  password_waits_.emplace(job.ticket, std::move(wait));
  password_out_.push_back(std::move(job));
  return true;
}

void ServerCore::on_password_done(const PasswordOutcome& o, TimePoint now) {
  const auto it = password_waits_.find(o.ticket);
  if (it == password_waits_.end()) {
    return;
  }
  const PasswordWait w = std::move(it->second);
  password_waits_.erase(it);
  current_key_ = w.client_key;
  switch (w.purpose) {
    case PasswordWait::Purpose::kClaim:
      if (!o.ok) {
        reply(w.from, w.id,
              Ack{0, AckStatus::kError, 0, "the server could not hash the password (memory)"});
        break;
      }
      register_request(w.request, w.from, now, &o.encoded);
      break;
    case PasswordWait::Purpose::kMove:
      password_moved(w, o.ok, now);
      break;
    case PasswordWait::Purpose::kSet: {
      const auto c = clients_.find(w.nick_key);
      if (c == clients_.end() || c->second.key != w.client_key) {
        break;  // deleted or moved meanwhile: the request's retry is refused
      }
      if (!o.ok) {
        reply(w.from, w.id,
              Ack{0, AckStatus::kError, 0, "the server could not hash the password (memory)"});
        break;
      }
      c->second.password_hash = o.encoded;
      persist(c->second);
      ++stats_.requests["passwd"];
      log(LogLevel::kInfo, "password of " + c->second.nick + " changed");
      reply_when_durable(w.from, w.id, Ack{0, AckStatus::kOk, 0, {}});
      break;
    }
  }
  current_key_.clear();
  release_window(now);
  flush_tables(now);
}

void ServerCore::password_moved(const PasswordWait& w, bool ok, TimePoint now) {
  const auto it = clients_.find(w.nick_key);
  if (it == clients_.end() || it->second.password_hash != w.checked_hash) {
    // Deleted, or its password changed while this was checked: start over.
    register_request(w.request, w.from, now, nullptr);
    return;
  }
  Client& holder = it->second;
  if (!ok) {
    ++holder.password_failures;
    holder.password_retry_at = now + password_backoff(holder.password_failures);
    ++stats_.requests["password_refused"];
    log(LogLevel::kWarn, "refused " + w.request.nick + " from " + w.from.to_string() +
                             ": wrong password (" + std::to_string(holder.password_failures) +
                             " in a row)");
    reply(w.from, w.id, Ack{0, AckStatus::kBadPassword, 0, {}});
    return;
  }
  holder.password_failures = 0;
  ++stats_.requests["password_moved"];
  log(LogLevel::kInfo,
      "moved " + holder.nick + " to a new key by its password (from " + w.from.to_string() + ")");
  if (holder.online && holder.endpoint != w.from) {
    mark_offline(w.nick_key, true, now);  // the old key's client is told it is offline
  }
  accept_registration(w.request, w.from, now);
}

void ServerCore::handle(const SetPassword& m, const Endpoint& from, TimePoint now) {
  if (password_pending(from, m.id)) {
    return;
  }
  Client* c = request_from(m.from, from, m.id);
  if (c == nullptr) {
    return;
  }
  const std::string key = nickname_key(m.from);
  if (m.password.empty()) {
    c->password_hash.clear();
    persist(*c);
    ++stats_.requests["passwd"];
    log(LogLevel::kInfo, "password of " + c->nick + " removed");
    reply_when_durable(from, m.id, Ack{0, AckStatus::kOk, 0, {}});
    return;
  }
  start_password_job({0, PasswordJob::Kind::kHash, m.password},
                     {PasswordWait::Purpose::kSet, {}, m.id, from, current_key_, key});
  (void)now;
}

void ServerCore::forget_client(const std::string& key, TimePoint now) {
  Client* c = &clients_.at(key);
  mark_offline(key, false, now);
  cancel_table_parts(*c);
  stop_delivery(*c);
  for (const std::string& k : c->interest) {
    if (auto w = watchers_.find(k); w != watchers_.end()) {
      w->second.erase(key);
      if (w->second.empty()) watchers_.erase(w);
    }
  }
  for (const std::string& gkey : c->groups) {
    if (auto g = groups_.find(gkey); g != groups_.end()) {
      g->second.members.erase(key);
      if (g->second.members.empty()) {
        groups_.erase(g);
        log_last_.erase(group_log_key(gkey));
      }
    }
  }
  std::erase(window_queue_, key);
  mailboxes_.erase(key);
  remove_row(key, now);
  clients_.erase(key);
}

void ServerCore::handle(const DeleteAccount& m, const Endpoint& from, TimePoint now) {
  Client* c = request_from(m.from, from, m.id);
  if (c == nullptr) {
    return;
  }
  const std::string key = nickname_key(m.from);
  // Work about it in flight (a verification ping, a save or relay to it, a
  // password job) would find it gone: refused until that is over (seconds).
  const bool busy = verifying_.contains(key) ||
                    std::any_of(saves_.begin(), saves_.end(),
                                [&key](const auto& s) { return s.second.recipient_key == key; }) ||
                    std::any_of(password_waits_.begin(), password_waits_.end(),
                                [&key](const auto& w) { return w.second.nick_key == key; });
  if (busy) {
    reply(from, m.id,
          Ack{0, AckStatus::kError, 0,
              "messages are on their way to " + c->nick + "; try again in a few seconds"});
    return;
  }
  const std::string nick = c->nick;
  const std::size_t waiting = mailboxes_.contains(key) ? mailboxes_.at(key).waiting : 0;
  forget_client(key, now);
  issue(DeleteClientOp{key}, {.after = After::kLogFailure, .key = "account " + nick});
  ++stats_.requests["delete_account"];
  log(LogLevel::kInfo, "deleted the account " + nick + " (" + std::to_string(waiting) +
                           " stored messages) at its request");
  reply_when_durable(from, m.id, Ack{0, AckStatus::kOk, static_cast<std::uint32_t>(waiting), {}});
}

}  // namespace udpchat
