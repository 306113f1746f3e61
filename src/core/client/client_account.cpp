// client_account.cpp: the client's account commands (manual §9): `passwd`
// (the new password typed twice, on lines the shell reads without echo)
// and `delete-account` (confirmed by typing yes), and what their acks mean.
#include "core/client/client_session.hpp"
#include "protocol/limits.hpp"
#include "protocol/text.hpp"

namespace udpchat {

void ClientSession::cmd_passwd() {
  if (!registered_for_command()) {
    return;
  }
  say("[New password for " + config_.nick + " (an empty line removes the password):]");
  prompt_ = Prompt::kNewPassword;
}

void ClientSession::cmd_delete_account() {
  if (!registered_for_command()) {
    return;
  }
  say("[Delete the account " + config_.nick +
      "? Its nickname becomes free and every message stored for it is deleted. Type yes to "
      "confirm.]");
  prompt_ = Prompt::kConfirmDelete;
}

void ClientSession::answer_prompt(std::string_view line, TimePoint now) {
  const Prompt prompt = std::exchange(prompt_, Prompt::kNone);
  const auto send = [this, now](Message m, std::uint64_t id, RequestKind kind) {
    send_to_server(m, id, {kind, {}}, now);
  };
  switch (prompt) {
    case Prompt::kNone:
      return;
    case Prompt::kNewPassword:
      if (line.empty()) {
        new_password_.clear();
        const std::uint64_t id = ids_.next();
        send(SetPassword{id, config_.nick, {}}, id, RequestKind::kSetPassword);
        return;
      }
      if (line.size() > kMaxPasswordBytes || !is_valid_utf8(line)) {
        say("[A password is 1 to " + std::to_string(kMaxPasswordBytes) +
            " bytes of text: the password was not changed.]");
        return;
      }
      new_password_ = std::string(line);
      say("[Type the new password again:]");
      prompt_ = Prompt::kRepeatPassword;
      return;
    case Prompt::kRepeatPassword: {
      if (line != new_password_) {
        new_password_.clear();
        say("[The two passwords differ: the password was not changed.]");
        return;
      }
      const std::uint64_t id = ids_.next();
      send(SetPassword{id, config_.nick, new_password_}, id, RequestKind::kSetPassword);
      return;
    }
    case Prompt::kConfirmDelete: {
      if (line != "yes") {
        say("[Account kept.]");
        return;
      }
      const std::uint64_t id = ids_.next();
      send(DeleteAccount{id, config_.nick}, id, RequestKind::kDeleteAccount);
      return;
    }
  }
}

void ClientSession::account_acked(const Ack& m, RequestKind kind, TimePoint now) {
  (void)now;
  const std::string why = m.detail.empty() ? std::string("error") : printable(m.detail);
  if (kind == RequestKind::kSetPassword) {
    if (m.status != AckStatus::kOk) {
      say("[Password not changed: " + why + "]");
      return;
    }
    config_.password = std::exchange(new_password_, {});  // a typed `reg` carries it
    say(config_.password.empty() ? "[Password removed.]" : "[Password changed.]");
    return;
  }
  if (m.status != AckStatus::kOk) {
    say("[Account not deleted: " + why + "]");
    return;
  }
  say("[Account " + config_.nick + " deleted: its nickname is free, " + std::to_string(m.stored) +
      " stored messages deleted.]");
  say("exiting", "[Exiting]");
  fail_held(now);
  phase_ = Phase::kExited;
  exit_status_ = 0;
}

}  // namespace udpchat
