// pg_store_feed.cpp: PgStore's reading of the change table (docs/CLUSTER.md,
// "The change table"): the others' changes after the position read last,
// each with what it names as it is now (a client's row, a message, a group
// member), in pages, in commit order.
#include "protocol/text.hpp"
#include "store/pg_schema.hpp"
#include "store/pg_store.hpp"
#include "store/pg_util.hpp"

namespace udpchat {
namespace {

using pg_util::ok;
using pg_util::Params;
using pg_util::Result;

/// Changes read per round trip.
constexpr std::int64_t kPage = 2000;

/// Column numbers of the "changes" statement.
enum Col : int {
  kPos,
  kOrigin,
  kKind,
  kKey,
  kSub,
  kSeq,
  kNick,
  kAddress,
  kPort,
  kOnline,
  kHeartbeat,
  kRowVersion,
  kLogUpto,
  kClientKey,
  kPassword,
  kLocalAddress,
  kLocalPort,
  kHome,
  kSender,
  kMid,
  kBody,
  kSealed,
  kSavedAt,
  kGroupName,
  kJoined,
};

/// The change of row `i`, or nullopt when what it names is gone since (a
/// later change of the same thing says what became of it).
std::optional<ClusterChange> change_of(const PGresult* r, int i) {
  using pg_util::integer;
  using pg_util::text;
  ClusterChange c;
  c.pos = integer(r, i, kPos);
  c.origin = text(r, i, kOrigin);
  c.key = text(r, i, kKey);
  switch (integer(r, i, kKind)) {
    case pg_schema::kClient: {
      if (PQgetisnull(r, i, kNick)) return std::nullopt;  // deleted since
      c.kind = ClusterChange::Kind::kClient;
      ClientRecord& rec = c.client;
      rec.nick = text(r, i, kNick);
      rec.endpoint = {text(r, i, kAddress), static_cast<std::uint16_t>(integer(r, i, kPort))};
      rec.online = pg_util::boolean(r, i, kOnline);
      rec.heartbeat_ms = static_cast<std::uint32_t>(integer(r, i, kHeartbeat));
      rec.row_version = static_cast<std::uint64_t>(integer(r, i, kRowVersion));
      rec.log_upto = integer(r, i, kLogUpto);
      rec.key = pg_util::bytes(r, i, kClientKey);
      rec.password_hash = text(r, i, kPassword);
      rec.local = {text(r, i, kLocalAddress),
                   static_cast<std::uint16_t>(integer(r, i, kLocalPort))};
      if (rec.local.address.empty() || rec.local.port == 0) rec.local = {};
      rec.home = text(r, i, kHome);
      if (!is_valid_nickname(rec.nick)) return std::nullopt;
      return c;
    }
    case pg_schema::kClientDeleted:
      c.kind = ClusterChange::Kind::kClientDeleted;
      return c;
    case pg_schema::kSaved:
    case pg_schema::kPosted: {
      const bool posted = integer(r, i, kKind) == pg_schema::kPosted;
      if (posted && PQgetisnull(r, i, kSender)) return std::nullopt;
      c.kind = posted ? ClusterChange::Kind::kPosted : ClusterChange::Kind::kSaved;
      StoredMessage& m = c.message;
      m.seq = integer(r, i, kSeq);
      m.to_key = c.key;
      m.from = text(r, i, kSender);
      m.mid = static_cast<std::uint64_t>(integer(r, i, kMid));
      m.saved_at_ms = integer(r, i, kSavedAt);
      if (posted) (pg_util::boolean(r, i, kSealed) ? m.box : m.text) = pg_util::bytes(r, i, kBody);
      return c;
    }
    case pg_schema::kDelivered:
      c.kind = ClusterChange::Kind::kDelivered;
      c.message.seq = integer(r, i, kSeq);
      c.message.to_key = c.key;
      return c;
    case pg_schema::kMember:
      if (PQgetisnull(r, i, kJoined)) return std::nullopt;  // left since
      c.kind = ClusterChange::Kind::kMember;
      c.group_name = text(r, i, kGroupName);
      c.member = {text(r, i, kSub), integer(r, i, kJoined)};
      return c;
    case pg_schema::kMemberLeft:
      c.kind = ClusterChange::Kind::kMemberLeft;
      c.member.nick_key = text(r, i, kSub);
      return c;
    default:
      return std::nullopt;  // a kind of a later version: not ours to apply
  }
}

}  // namespace

std::expected<void, StoreError> PgStore::read_changes() {
  for (;;) {
    const Result r = Params().integer(applied_).integer(kPage).run(conn_, "changes");
    if (!ok(r, PGRES_TUPLES_OK)) return std::unexpected(failed("cannot read the changes"));
    const int rows = PQntuples(r.get());
    for (int i = 0; i < rows; ++i) {
      applied_ = pg_util::integer(r.get(), i, kPos);
      if (pg_util::text(r.get(), i, kOrigin) == origin_) continue;  // ours: applied as made
      if (auto c = change_of(r.get(), i)) pending_.push_back(std::move(*c));
    }
    if (rows < kPage) return {};
  }
}

std::vector<ClusterChange> PgStore::take_changes() {
  return std::exchange(pending_, {});
}

std::expected<void, StoreError> PgStore::poll_changes() {
  if (in_transaction()) return {};  // read at the transaction's start
  if (auto c = ensure_connected(); !c) return std::unexpected(c.error());
  // Without the order lock: every change visible now is committed, and
  // every one not yet committed gets a higher number (docs/CLUSTER.md).
  if (behind_) return std::unexpected(behind_error());
  auto r = read_changes();
  if (!r && reconnected()) r = read_changes();
  if (r) r = mark_alive();
  if (r) r = sweep_dead_servers();
  if (r) r = trim_changes();
  return r;
}

std::expected<void, StoreError> PgStore::mark_alive() {
  const auto now = std::chrono::steady_clock::now();
  if (origin_.empty() || now < next_alive_) return {};
  if (!ok(Params().text(origin_).integer(applied_).run(conn_, "alive"), PGRES_COMMAND_OK)) {
    return std::unexpected(failed("cannot mark this server alive"));
  }
  next_alive_ = now + retention_.mark_every;
  // Changes this server never read were trimmed (it was cut off longer
  // than the others wait for a server): what it holds can no longer be
  // brought up to date.
  const Result t = Params().run(conn_, "trimmed_to");
  if (!ok(t, PGRES_TUPLES_OK)) return std::unexpected(failed("cannot read the trimmed position"));
  if (applied_ < pg_util::integer(t.get(), 0, 0)) {
    behind_ = true;
    return std::unexpected(behind_error());
  }
  return {};
}

std::expected<void, StoreError> PgStore::trim_changes() {
  const auto now = std::chrono::steady_clock::now();
  if (origin_.empty() || now < next_trim_ || in_transaction()) return {};
  next_trim_ = now + retention_.every;
  const Result r = Params()
                       .integer(retention_.forget_after.count())
                       .integer(retention_.min_age.count())
                       .run(conn_, "trim_changes");
  if (!ok(r, PGRES_COMMAND_OK)) return std::unexpected(failed("cannot trim the change table"));
  return {};
}

StoreError PgStore::behind_error() const {
  return StoreError{"this server fell behind the cluster's change table (cut off from the "
                    "database for longer than " +
                        std::to_string(retention_.forget_after.count()) +
                        " s, and changes it had not read are trimmed): restart it",
                    "database error"};
}

std::expected<void, StoreError> PgStore::sweep_dead_servers() {
  const auto now = std::chrono::steady_clock::now();
  if (origin_.empty() || now < next_sweep_) return {};
  next_sweep_ = now + kAliveEvery;
  if (auto r = begin(); !r) return r;  // the order lock: the changes it makes are in order
  const Result r =
      Params()
          .text(origin_)
          .integer(std::chrono::duration_cast<std::chrono::seconds>(kServerDeadAfter).count())
          .run(conn_, "sweep_dead");
  if (!ok(r, PGRES_TUPLES_OK)) return std::unexpected(failed("cannot sweep dead servers"));
  std::vector<ClusterChange> offline;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    ClusterChange c;
    c.origin = "sweep";  // made here, for us too (ours are skipped as applied)
    c.kind = ClusterChange::Kind::kClient;
    c.key = pg_util::text(r.get(), i, 0);
    ClientRecord& rec = c.client;
    rec.nick = pg_util::text(r.get(), i, 1);
    rec.endpoint = {pg_util::text(r.get(), i, 2),
                    static_cast<std::uint16_t>(pg_util::integer(r.get(), i, 3))};
    rec.online = false;
    rec.heartbeat_ms = static_cast<std::uint32_t>(pg_util::integer(r.get(), i, 4));
    rec.row_version = static_cast<std::uint64_t>(pg_util::integer(r.get(), i, 5));
    rec.log_upto = pg_util::integer(r.get(), i, 6);
    rec.key = pg_util::bytes(r.get(), i, 7);
    rec.password_hash = pg_util::text(r.get(), i, 8);
    rec.local = {pg_util::text(r.get(), i, 9),
                 static_cast<std::uint16_t>(pg_util::integer(r.get(), i, 10))};
    if (rec.local.address.empty() || rec.local.port == 0) rec.local = {};
    rec.home = pg_util::text(r.get(), i, 11);
    offline.push_back(std::move(c));
  }
  if (auto c = commit(); !c) return c;
  pending_.insert(pending_.end(), offline.begin(), offline.end());
  return {};
}

}  // namespace udpchat
