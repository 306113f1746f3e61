// cluster_change.hpp: what one server of a cluster learns of the writes of
// the others (docs/CLUSTER.md, "The change table"). A store shared by
// several servers records, in the transaction of each write, a change named
// by its place in the cluster's one order (`pos`, commit order) and the
// server that made it; each server applies the others' changes in that
// order (ServerCore::on_changes). Plain data.
#pragma once

#include <cstdint>
#include <string>

#include "core/server/offline_store.hpp"

namespace udpchat {

struct ClusterChange {
  enum class Kind : std::uint8_t {
    kClient,         ///< `client`: the row as written (its `home` holds the session)
    kClientDeleted,  ///< `key`: the nickname key whose account was deleted
    kSaved,          ///< `key`: the recipient of direct message `message` (seq, sender; no body)
    kDelivered,      ///< `key`: the recipient of stored message `message.seq`, now delivered
    kPosted,         ///< `message`: a channel or group message, whole (to_key: its log)
    kMember,         ///< `key`: the group, `group_name` as created, `member` added or moved
    kMemberLeft,     ///< `key`: the group; `member.nick_key` left it
  };
  std::int64_t pos = 0;  ///< its place in the cluster's one order
  std::string origin;    ///< the id of the server that made it
  Kind kind = Kind::kClient;
  std::string key{};
  ClientRecord client{};
  StoredMessage message{};
  std::string group_name{};
  MemberRecord member{};
};

}  // namespace udpchat
