// server_waits.hpp: what the server core waits for (private to ServerCore,
// server_core.hpp, which names these types as its own): the continuation of
// each store command, datagrams held until durable, who waits for a
// verification ping or a password job, and what each reliable server ->
// client datagram is for. Plain data; the core's methods own the invariants.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "core/base/time.hpp"
#include "core/reliable/reliable.hpp"
#include "protocol/endpoint.hpp"
#include "protocol/messages.hpp"

namespace udpchat::server_waits {

/// What to do when a store command completes.
enum class After : std::uint8_t {
  kLogFailure,     ///< a client row or the version: log a failure
  kSave,           ///< ack the sender "saved" (or the error)
  kSaveThenRelay,  ///< ack "exists", send the table, relay
  kFetch,          ///< stored messages read for `key`
  kDelete,         ///< stored message `seq` delivered
  kDeleteRelayed,  ///< relayed message deleted from `key`'s mailbox
  kRetryDelete,    ///< a delete that failed before, tried again
  kPost,           ///< a channel or group message stored: ack, fan out
  kTrim,           ///< channel and group logs trimmed up to `seq`
  kPurge,          ///< old idempotency keys purged (a chunk of `seq` at most)
};
struct OpWaiter {
  After after = After::kLogFailure;
  std::string key{};  ///< save key, client key, or what failed (kLogFailure)
  std::uint64_t epoch = 0;
  std::int64_t seq = 0;
  std::string sender_key{};  ///< kDeleteRelayed: the message's idempotency key
  std::uint64_t mid = 0;
};
/// A datagram held until the store commands issued before it are durable.
struct Held {
  std::uint64_t after_ticket = 0;
  Endpoint to;
  std::uint64_t id = 0;
  std::string bytes;
  bool is_reply = false;  ///< an ack (cached when sent) or a reliable send
  RetryPolicy policy{};
};
// Who waits for the outcome of a verification ping.
struct SaveWaiter {
  std::string save_key;
};
struct RegisterWaiter {
  Register request;
  Endpoint from;
  std::string key;              ///< the registrant's public key
  std::string password_hash{};  ///< set on the nickname if it is accepted
};
/// Who waits for a password job: a first registration with a password
/// (kClaim, the hash is set), a registration of a nickname held by
/// another key (kMove, the password is checked), or `passwd` (kSet).
struct PasswordWait {
  enum class Purpose : std::uint8_t { kClaim, kMove, kSet };
  Purpose purpose = Purpose::kClaim;
  Register request{};    ///< kClaim, kMove
  std::uint64_t id = 0;  ///< the request's transport id
  Endpoint from;
  std::string client_key;  ///< the requester's public key
  std::string nick_key;
  std::string checked_hash{};  ///< kMove: the hash the password was checked against
};
struct RestartWaiter {};   ///< after a restart: is it still there?
struct DeliveryWaiter {};  ///< a stored delivery went unacknowledged
struct TableWaiter {};     ///< a table update went unacknowledged
using Waiter =
    std::variant<SaveWaiter, RegisterWaiter, RestartWaiter, DeliveryWaiter, TableWaiter>;
struct Verification {
  std::uint64_t ping_id = 0;
  std::vector<Waiter> waiters;
};
// A save whose recipient the table shows online: pinged, then relayed.
struct PendingSave {
  Save request;
  Endpoint sender;
  std::string recipient_key;
  bool relaying = false;
};
// What each pending server -> client datagram is for.
enum class Purpose : std::uint8_t { kTable, kPing, kRelay, kStored, kNotice, kShutdown };
struct Pending {
  Purpose purpose;
  std::string client_key;
  std::string save_key;  ///< kRelay
  std::int64_t seq = 0;  ///< kStored
  bool log = false;      ///< kStored: a channel or group message
};
/// "Saved instead" notices of failed relays, sent one ack window late.
struct LateNotice {
  TimePoint due;
  Endpoint to;
  std::string sender_key;
  Notice notice;
};

}  // namespace udpchat::server_waits
