// client_commands.cpp: what each typed command does (manual §4): parsing,
// the mistake lines, and handing the work to the send pipeline or the
// server requests.
#include "core/client/client_session.hpp"
#include "core/client/command_words.hpp"
#include "protocol/codec.hpp"
#include "protocol/text.hpp"

namespace udpchat {

using command_words::skip_spaces;
using command_words::split_word;

void ClientSession::execute(std::string_view line, TimePoint now) {
  if (prompt_ != Prompt::kNone) {
    answer_prompt(line, now);
    return;
  }
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
  } else if (word == "send_all") {
    cmd_send_all(rest, now);
  } else if (word == "send_group") {
    cmd_send_group(rest, now);
  } else if (word == "join") {
    cmd_membership(rest, true, now);
  } else if (word == "leave") {
    cmd_membership(rest, false, now);
  } else if (word == "groups") {
    cmd_groups(now);
  } else if (word == "list" || word == "who") {
    cmd_list(rest, now);
  } else if (word == "trust") {
    cmd_trust(split_word(skip_spaces(rest)).first, now);
  } else if (word == "fingerprint") {
    cmd_fingerprint(split_word(skip_spaces(rest)).first);
  } else if (word == "passwd") {
    cmd_passwd();
  } else if (word == "delete-account") {
    cmd_delete_account();
  } else if (word == "history") {
    cmd_history(rest);
  } else if (word == "help") {
    cmd_help();
  } else if (word == "quit" || word == "exit") {
    begin_quit(now);
  } else {
    refuse("[Unknown command: " + printable(word) + ". Type help for the commands.]");
  }
}

void ClientSession::cmd_send(std::string_view args, TimePoint now) {
  const auto [peer, text] = split_word(skip_spaces(args));
  if (peer.empty() || text.empty()) {
    refuse("[Usage: send <nick> <message>]");
    return;
  }
  if (phase_ != Phase::kRegistered && phase_ != Phase::kReconnecting) {
    refuse("[You are not registered. Use: reg <nick>]");
    return;
  }
  if (const std::string problem = message_text_problem(text); !problem.empty()) {
    refuse(problem);
    return;
  }
  const TableEntry* entry = find_peer(peer);
  if (entry == nullptr && !is_valid_nickname(peer)) {
    refuse("[Unknown client " + printable(peer) + ".]");
    return;
  }
  // A nickname not held is asked of the server first (manual §6.9: lookup).
  if (entry == nullptr && phase_ == Phase::kReconnecting) {
    refuse("[Server unreachable: cannot look " + std::string(peer) +
           " up now; try again when it is back.]");
    return;
  }
  const std::string nick = entry != nullptr ? entry->nick : std::string(peer);
  const std::string key = nickname_key(nick);
  if (const auto it = peers_.find(key);
      it != peers_.end() && it->second.messages.size() >= config_.max_pending_per_peer) {
    refuse("[Too many messages waiting for " + nick + " (max " +
           std::to_string(config_.max_pending_per_peer) + ").]");
    return;
  }
  PeerQueue& q = peers_[key];
  q.messages.push_back({nick, std::string(text), ids_.next()});
  if (q.stage == SendStage::kHeld) {
    say("held", "[Message for " + nick + " kept until the server is back.]",
        {{"to", nick}});  // behind the others
  }
  if (q.stage == SendStage::kIdle) {
    if (entry == nullptr) {
      start_lookup(key, now);
    } else {
      dispatch_front(key, now);
    }
  }
}

bool ClientSession::registered_for_command() {
  if (phase_ == Phase::kReconnecting) {
    say_server_unreachable();
    return false;
  }
  if (phase_ != Phase::kRegistered) {
    refuse("[You are not registered. Use: reg <nick>]");
    return false;
  }
  return true;
}

void ClientSession::cmd_dereg(std::string_view args, TimePoint now) {
  // `dereg` alone deregisters oneself, as the classic program did.
  const auto [nick, extra] = split_word(skip_spaces(args));
  if (!skip_spaces(extra).empty()) {
    refuse("[Usage: dereg [<nick>]]");
    return;
  }
  if (!registered_for_command()) {
    return;
  }
  if (!nick.empty() && nickname_key(nick) != nickname_key(config_.nick)) {
    refuse("[You can only deregister yourself (" + config_.nick + ").]");
    return;
  }
  send_deregister(now);
}

void ClientSession::cmd_reg(std::string_view args, TimePoint now) {
  const auto [nick, extra] = split_word(skip_spaces(args));
  if (nick.empty() || !skip_spaces(extra).empty()) {
    refuse("[Usage: reg <nick>]");
    return;
  }
  if (!is_valid_nickname(nick)) {
    refuse("[Invalid nickname " + printable(nick) + ": use 1 to 32 of A-Z a-z 0-9 _ - .]");
    return;
  }
  if (phase_ == Phase::kRegistered) {
    refuse("[You are already registered as " + config_.nick + ".]");
    return;
  }
  if (phase_ == Phase::kReconnecting) {
    say_server_unreachable();
    return;
  }
  config_.nick = std::string(nick);
  registered_key_ = nickname_key(config_.nick);
  send_register(now, true);
}

void ClientSession::cmd_help() {
  say("Commands:");
  say("  send <nick> <message>   send <message> to <nick> (acknowledged, or saved by the server)");
  say("  send_all <message>      send <message> to everyone registered (the channel; the server");
  say("                          can read channel and group messages, not direct ones)");
  say("  join <group>            join (or create) the group <group>");
  say("  leave <group>           leave the group <group>");
  say("  groups                  show every group and its members");
  say("  send_group <group> <message>  send <message> to the members of <group>");
  say("  list, who               show the clients you hold, their address and status");
  say("  list <prefix>           ask the server for up to 50 nicknames starting with <prefix>");
  say("  fingerprint [<nick>]    your fingerprint, or the safety number to compare with <nick>");
  say("  trust <nick>            accept the new key of <nick> after its key changed");
  say("  dereg [<nick>]          go offline (alone, or with your own nickname); you stay running");
  say("  reg <nick>              register again and receive your saved messages");
  say("  passwd                  set, change or remove the password that moves your nickname");
  say("                          to a new key (a new machine: -c <nick> ... --password)");
  say("  delete-account          delete your account: frees your nickname, deletes your");
  say("                          stored messages (asks to confirm)");
  say("  history <nick>|*|#<group> [<n>]  the last n (20) messages with <nick>, in the");
  say("                          channel (*) or in <group>, both directions, with times");
  say("  history                 how many messages your store keeps, and its size on disk");
  say("  help                    show this list");
  say("  quit, exit              deregister and leave (also end of input or Ctrl+C)");
}

}  // namespace udpchat
