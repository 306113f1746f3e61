// messages.hpp: one struct per datagram kind, and the variant of them all.
//
// These are plain values: no I/O, no encoding. `codec.hpp` turns them into
// bytes and back. docs/PROTOCOL.md describes each kind, who sends it, and
// how it is answered; keep the two in step.
//
// Vocabulary: `id` is the transport id of a datagram that expects an
// acknowledgement; a retransmission reuses it and the `Ack` echoes it.
// `mid` is the message id of a chat message: chosen once by its author,
// carried unchanged through direct sends, saves, relays and stored
// deliveries, it is the idempotency key that makes display exactly-once.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "protocol/endpoint.hpp"

namespace udpchat {

/// Client -> server: register `nick` at the datagram's source address.
/// `heartbeat_ms` is the interval the client promises (manual §6.6).
struct Register {
  std::uint64_t id = 0;
  std::string nick;
  std::uint32_t heartbeat_ms = 0;
  /// manual §9: the nickname's password (1 to kMaxPasswordBytes of UTF-8),
  /// or empty. It sets the password of a nickname registered for the first
  /// time, and moves a nickname that has one to the sender's new key. It
  /// travels only inside the session's AEAD (frames.hpp); the server keeps
  /// an Argon2id hash of it, never the password.
  std::string password{};
  /// The client's own address as it knows it (its socket's local address
  /// towards the server), or empty (address ""): not told. Behind a NAT it
  /// differs from the source the server sees; peers behind the same NAT
  /// reach it there (docs/NAT.md, "Candidates").
  Endpoint local{};
  friend bool operator==(const Register&, const Register&) = default;
};

/// Client -> server: mark `nick` (the sender's own) offline.
struct Deregister {
  std::uint64_t id = 0;
  std::string nick;
  friend bool operator==(const Deregister&, const Deregister&) = default;
};

/// Client -> server: hand over a message for `to` (offline message, or a
/// direct send that was not acknowledged). Idempotent by (from, mid).
struct Save {
  std::uint64_t id = 0;
  std::string from;
  std::string to;
  std::uint64_t mid = 0;
  std::string text;
  /// manual §8: the message sealed for the recipient (crypto/e2e.hpp),
  /// sent instead of `text`; the server stores and relays it as it is.
  std::string box{};
  friend bool operator==(const Save&, const Save&) = default;
};

/// Client -> server: liveness signal, with the newest table version the
/// client holds so the server can resend a table the client missed.
struct Heartbeat {
  std::uint64_t id = 0;
  std::string nick;
  std::uint64_t table_version = 0;
  friend bool operator==(const Heartbeat&, const Heartbeat&) = default;
};

/// Outcome carried by an `Ack`.
enum class AckStatus : std::uint8_t {
  kOk,           ///< done (registration, deregistration, heartbeat, ping, delivery)
  kSaved,        ///< the message is durable at the server
  kExists,       ///< the recipient answered a verification ping; the server relays
  kUnknown,      ///< no client was ever registered with that nickname
  kInUse,        ///< the nickname is held by a live client at another address
  kOffline,      ///< heartbeat from a client the server holds offline: re-register
  kError,        ///< the server could not do it; `detail` says why
  kNotMember,    ///< a post to, or leave of, a group the client is not in
  kBadPassword,  ///< manual §9: the nickname has another key and the password was wrong
};

/// The name that stands for the channel everyone is in, where a group name
/// goes (group names follow the nickname rules, so none is "*").
inline constexpr const char* kEveryone = "*";

/// Anyone -> anyone: acknowledges the datagram whose transport id is `id`.
/// `stored` (registration only): how many stored messages wait. `total`
/// (registration and heartbeat acks): clients registered at the server.
struct Ack {
  std::uint64_t id = 0;
  AckStatus status = AckStatus::kOk;
  std::uint32_t stored = 0;
  std::string detail;
  std::uint32_t total = 0;
  /// A direct message's ack between peers: a MAC (16 bytes) under the
  /// recipient's key towards the sender, so only the recipient can say
  /// it received it (manual §8).
  std::string tag{};
  /// Registration and heartbeat acks: the source address the server saw
  /// the request come from, the client's public endpoint (what STUN's
  /// XOR-MAPPED-ADDRESS tells, RFC 8489 section 14.2; no XOR here, the ack
  /// travels sealed). Empty address: not told.
  Endpoint seen{};
  /// Registration acks only: the client was away longer than the server
  /// keeps the channel and group logs for an absent member, this many
  /// days (--log-retention-days), and log messages it had not received
  /// were trimmed meanwhile; 0: nothing was.
  std::uint32_t expired = 0;
  friend bool operator==(const Ack&, const Ack&) = default;
};

/// One row of the client table. `version` is the table version at which
/// the row last changed: a client never replaces a row with an older one.
/// A removed row (the account was deleted, manual §9) has an empty
/// `address`, port 0, `online` false and no key: the client drops the row.
struct TableEntry {
  std::string nick;
  std::string address;
  std::uint16_t port = 0;
  bool online = false;
  std::uint64_t version = 0;
  /// The public key (32 bytes) the nickname belongs to; empty: not known
  /// (a row registered before keys existed).
  std::string key{};
  /// The client's local endpoint when it differs from the public one
  /// (`address`, `port`: the source the server sees), else empty and 0:
  /// a peer with the same public address (behind the same NAT) uses it.
  std::string local_address{};
  std::uint16_t local_port = 0;
  [[nodiscard]] bool removed() const { return address.empty(); }
  friend bool operator==(const TableEntry&, const TableEntry&) = default;
};

/// Server -> client: part `part` (0-based) of `parts` of a table update
/// that brings a client from version `from` to version `version`: the rows
/// (of interest to it) that changed after `from`. `from` 0 is a snapshot:
/// the rows as of `version`, whatever the client held. `total`: clients
/// registered at the server. A large update travels in several parts.
struct TablePart {
  std::uint64_t id = 0;
  std::uint64_t version = 0;
  std::uint32_t part = 0;
  std::uint32_t parts = 1;
  std::vector<TableEntry> entries;
  std::uint64_t from = 0;
  std::uint32_t total = 0;
  friend bool operator==(const TablePart&, const TablePart&) = default;
};

/// Client -> server: the row of `nick`, which client `from` does not hold
/// (before a send); the server answers with `Rows` and from then on pushes
/// changes of that row to `from` (interest).
struct Lookup {
  std::uint64_t id = 0;
  std::string from;
  std::string nick;
  friend bool operator==(const Lookup&, const Lookup&) = default;
};

/// Client -> server: up to kMaxFindResults registered nicknames starting
/// with `prefix` (without regard to case), for `list <prefix>`.
struct Find {
  std::uint64_t id = 0;
  std::string from;
  std::string prefix;
  friend bool operator==(const Find&, const Find&) = default;
};

/// Server -> client: the answer to the Lookup or Find whose id is `id`,
/// part `part` of `parts`; `matches`: how many registered nicknames match
/// (a Lookup: 0 or 1); `total`: clients registered at the server.
struct Rows {
  std::uint64_t id = 0;
  std::uint32_t part = 0;
  std::uint32_t parts = 1;
  std::vector<TableEntry> entries;
  std::uint32_t matches = 0;
  std::uint32_t total = 0;  ///< clients registered (for list's count line)
  friend bool operator==(const Rows&, const Rows&) = default;
};

/// Client -> server: a message for the channel (`group` kEveryone) or for
/// a group the sender is in, stored once at the server and delivered to
/// every other member (manual §4.9). Idempotent by (from, mid).
struct Post {
  std::uint64_t id = 0;
  std::string from;
  std::string group{};
  std::uint64_t mid = 0;
  std::string text;
  friend bool operator==(const Post&, const Post&) = default;
};

/// Client -> server: make `from` a member of `group`, creating it if need
/// be; acknowledged once durable.
struct Join {
  std::uint64_t id = 0;
  std::string from;
  std::string group{};
  friend bool operator==(const Join&, const Join&) = default;
};

/// Client -> server: `from` leaves `group` (kNotMember if it is not in it).
struct Leave {
  std::uint64_t id = 0;
  std::string from;
  std::string group{};
  friend bool operator==(const Leave&, const Leave&) = default;
};

/// Client -> server: every group the server knows, with its members;
/// answered with `GroupList` parts.
struct ListGroups {
  std::uint64_t id = 0;
  std::string from;
  friend bool operator==(const ListGroups&, const ListGroups&) = default;
};

/// One group (or the next piece of a large one's members) in a GroupList.
struct GroupInfo {
  std::string name;
  std::vector<std::string> members;  ///< nicknames as registered
  friend bool operator==(const GroupInfo&, const GroupInfo&) = default;
};

/// Server -> client: part `part` of `parts` of the answer to ListGroups
/// `id`. A group whose members do not fit one datagram continues in the
/// next part under the same name.
struct GroupList {
  std::uint64_t id = 0;
  std::uint32_t part = 0;
  std::uint32_t parts = 1;
  std::vector<GroupInfo> groups;
  friend bool operator==(const GroupList&, const GroupList&) = default;
};

/// Server -> client: verification ping; answered with `Ack{id}`.
struct Ping {
  std::uint64_t id = 0;
  friend bool operator==(const Ping&, const Ping&) = default;
};

/// Client -> client: a direct message. Its transport id is its message id.
struct Chat {
  std::uint64_t id = 0;
  std::string from;
  std::string text;
  std::string box{};  ///< manual §8: the message sealed for the recipient, instead of `text`
  friend bool operator==(const Chat&, const Chat&) = default;
};

/// Server -> client: a message from `from`, relayed live (`saved_at_ms` 0)
/// or delivered from the store (`saved_at_ms`: when the server saved it, in
/// milliseconds since the Unix epoch). `group`: empty for a direct message,
/// kEveryone for the channel, else the group's name.
struct Deliver {
  std::uint64_t id = 0;
  std::string from;
  std::uint64_t mid = 0;
  std::string text;
  std::int64_t saved_at_ms = 0;
  std::string group{};
  std::string box{};  ///< a direct message: sealed by its sender, instead of `text`
  friend bool operator==(const Deliver&, const Deliver&) = default;
};

/// What a `Notice` tells.
enum class NoticeKind : std::uint8_t {
  kDelivered,  ///< the relayed message `mid` reached `nick`
  kSaved,      ///< the relayed message `mid` was saved for `nick` instead
  kShutdown,   ///< the server is shutting down
};

/// Server -> client: an outcome that arrives after the request's ack.
struct Notice {
  std::uint64_t id = 0;
  NoticeKind kind = NoticeKind::kShutdown;
  std::string nick;
  std::uint64_t mid = 0;
  friend bool operator==(const Notice&, const Notice&) = default;
};

/// Client -> server: set (or, with an empty `password`, remove) the
/// password of `from`, the sender's own nickname (manual §9, `passwd`).
/// Acknowledged once the Argon2id hash is durable.
struct SetPassword {
  std::uint64_t id = 0;
  std::string from;
  std::string password;
  friend bool operator==(const SetPassword&, const SetPassword&) = default;
};

/// Client -> server: delete the account `from` (manual §9,
/// `delete-account`): its nickname is free again, every message stored
/// for it and its group memberships are deleted. Acknowledged once durable.
struct DeleteAccount {
  std::uint64_t id = 0;
  std::string from;
  friend bool operator==(const DeleteAccount&, const DeleteAccount&) = default;
};

/// Client -> server (docs/NAT.md, "Hole punching"): introduce `from` (the
/// sender's own nickname) to `to`, before `from`'s first datagram to a
/// peer it has not heard from lately. Answered with Ack kOk (then both get
/// a Punch), kOffline or kUnknown.
struct Introduce {
  std::uint64_t id = 0;
  std::string from;
  std::string to;
  friend bool operator==(const Introduce&, const Introduce&) = default;
};

/// Server -> client: open a path to the client of `row` (its public and,
/// when it differs, local endpoint, and its key): send it Probes now, as it
/// does to us. Answered with Ack{id}.
struct Punch {
  std::uint64_t id = 0;
  TableEntry row;
  friend bool operator==(const Punch&, const Punch&) = default;
};

/// Client -> client: a path check (ICE's connectivity check, RFC 8445
/// section 7.2). `answer` false: a request from `from` to `to`, sent to one
/// of `to`'s candidates; true: `from`'s answer to the request `id` of `to`,
/// sent back to the request's source, the same size as the request. `tag`
/// (16 bytes): a keyed BLAKE2b under the sender's end-to-end key towards
/// the recipient over `id` and `answer` (e2e_probe_tag), so only the
/// holder of `from`'s key can make one. Carries nothing secret.
struct Probe {
  std::uint64_t id = 0;
  std::string from;
  std::string to;
  bool answer = false;
  std::string tag;
  friend bool operator==(const Probe&, const Probe&) = default;
};

/// Client -> server -> client (docs/NAT.md, "Relay"): a direct message
/// passed on live by the server when no direct path opens, as a TURN
/// server relays (RFC 8656). To the server, `peer` is the recipient; from
/// the server, the sender (who the server knows by its session). `id` is
/// the message id, `box` the message sealed end to end for the recipient,
/// as in a Chat. Not acknowledged by the server: the recipient's RelayAck
/// comes back the same way. Rate limited per sender.
struct Relay {
  std::uint64_t id = 0;
  std::string peer;
  std::string box;
  friend bool operator==(const Relay&, const Relay&) = default;
};

/// The recipient's ack of a relayed message `id`, passed back by the
/// server: `peer` as in Relay, `tag` as in a direct message's Ack.
struct RelayAck {
  std::uint64_t id = 0;
  std::string peer;
  std::string tag;
  friend bool operator==(const RelayAck&, const RelayAck&) = default;
};

/// Every datagram udpchat sends or accepts.
using Message = std::variant<Register, Deregister, Save, Heartbeat, Ack, TablePart, Ping, Chat,
                             Deliver, Notice, Lookup, Find, Rows, Post, Join, Leave, ListGroups,
                             GroupList, SetPassword, DeleteAccount, Introduce, Punch, Probe, Relay,
                             RelayAck>;

}  // namespace udpchat
