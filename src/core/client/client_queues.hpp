// client_queues.hpp: the records of ClientSession's pipelines. Sending: a
// message typed, the per-peer and per-target queues it waits in (only the
// front of each is in flight, so one peer sees one sender's messages in
// order, manual §5), and the requests to the server awaiting their acks.
// Receiving: a message opened, and its write to the client's own store
// (manual §4.11) before it is acknowledged and shown.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "core/base/time.hpp"
#include "core/reliable/reliable.hpp"

namespace udpchat::client_queues {

/// A message typed with `send`, from first try to final outcome.
struct OutgoingMessage {
  std::string peer;  ///< the nickname as typed
  std::string text;
  std::uint64_t mid = 0;
};
/// kHeld: waits for the server to be back (it was unreachable), then goes
/// on at `resume` (kLookingUp or kSaving).
enum class SendStage : std::uint8_t {
  kIdle,
  kLookingUp,
  kDirect,
  kSaving,
  kAwaitingRelay,
  kHeld,
  kUntrusted,  ///< the peer's key changed: waits for `trust <nick>` (manual §8)
};
/// Messages to one peer, in the order typed; only the front is in flight.
struct PeerQueue {
  std::deque<OutgoingMessage> messages;
  SendStage stage = SendStage::kIdle;
  std::uint64_t request_id = 0;         ///< transport id of the datagram in flight
  TimePoint relay_guard{};              ///< kAwaitingRelay: give up waiting then
  SendStage resume = SendStage::kIdle;  ///< kHeld: what to do when the server is back
  bool key_looked_up = false;           ///< the front's peer key was asked for once
};
/// Channel and group messages (send_all, send_group) to one target, in
/// the order typed; only the front is in flight (so a group shows one
/// sender's messages in order).
struct PostQueue {
  std::deque<OutgoingMessage> messages;  ///< `peer`: kEveryone or the group as typed
  std::uint64_t request_id = 0;          ///< the Post in flight (0: none)
  bool held = false;                     ///< waits for the server to be back
};
enum class RequestKind : std::uint8_t {
  kRegister,
  kDeregister,
  kSave,
  kHeartbeat,
  kLookup,
  kFind,
  kPost,
  kJoin,
  kLeave,
  kGroups,
  kSetPassword,
  kDeleteAccount,
  kIntroduce  ///< docs/NAT.md: ask the server to introduce us to a peer
};
struct ServerRequest {
  RequestKind kind;
  std::string peer_key;  ///< kSave, kLookup, kIntroduce: whose queue; kPost: the target's;
                         ///< kJoin, kLeave: the group as typed
};

/// A message taken from a peer or the server, opened, to show.
struct IncomingMessage {
  std::string from;              ///< the sender's nickname
  std::uint64_t mid = 0;         ///< the sender's message id
  std::string group;             ///< empty (direct), kEveryone or the group
  std::string text;              ///< the opened text (valid or not: printed with printable)
  std::int64_t saved_at_ms = 0;  ///< when the server saved it (0: live)
  bool verified = true;          ///< false: not end-to-end verified (an old stored message)
};
/// A message being written to the client's own store (ticket: its write).
struct Taking {
  std::uint64_t ticket = 0;
  IncomingMessage msg;
  std::vector<Outgoing> acks;  ///< of every copy that came while it was written
};
/// At most this many messages being written at once; more are dropped
/// unacknowledged (their senders retransmit).
inline constexpr std::size_t kMaxTaking = 4096;

}  // namespace udpchat::client_queues
