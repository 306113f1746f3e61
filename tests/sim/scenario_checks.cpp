// scenario_checks.cpp: what a scenario checks at the end, once the network
// healed and everything settled (the rules of sim.cpp: no loss, stored
// messages delivered, tables converged, nothing in flight; in a cluster,
// every server holding the same rows), and what a killed client's store
// had marked shown.
#include "sim/scenario.hpp"

namespace udpchat::sim {

std::string Scenario::final_checks(Totals& totals) {
  // 2. No loss.
  for (std::size_t n = 0; n < typed_.size(); ++n) {
    const Typed& m = typed_[n];
    totals.shown += m.shown ? 1 : 0;
    switch (m.outcome) {
      case Outcome::kPeerAck:
        ++totals.peer_acked;
        break;
      case Outcome::kSaved:
        ++totals.saved;
        break;
      case Outcome::kExists:
        ++totals.exists;
        break;
      case Outcome::kRefused:
        ++totals.told_failed;
        break;
      case Outcome::kNone:
        break;
    }
    const bool accepted = m.outcome == Outcome::kPeerAck || m.outcome == Outcome::kSaved ||
                          m.outcome == Outcome::kExists;
    if (accepted && !m.shown && m.kind == Kind::kDirect) {
      return "m" + std::to_string(n) + " from " + m.from + " to " + m.to +
             " was accepted but never shown";
    }
    if (accepted && m.kind != Kind::kDirect) {
      for (const std::uint16_t p : m.must_show) {
        if (!m.shown_at.contains(p)) {
          return "m" + std::to_string(n) + " from " + m.from + " to " + m.to +
                 " was stored but never shown at " + std::to_string(p);
        }
        ++totals.post_deliveries;
      }
    }
    if (m.outcome == Outcome::kNone) {
      const auto& sender = w_.nodes.at(m.from_port);
      if (sender.alive && sender.incarnation == m.incarnation && !m.shown) {
        return "m" + std::to_string(n) + " from " + m.from + " has no outcome and its sender lives";
      }
      ++totals.sender_died;
    }
  }
  // Repeats across restarts of the recipient (a documented limit).
  std::map<std::pair<std::uint16_t, std::size_t>, int> per_port;
  for (const auto& [key, count] : shown_) per_port[{std::get<0>(key), std::get<2>(key)}] += count;
  for (const auto& [key, count] : per_port) {
    totals.cross_restart_repeats += static_cast<std::uint64_t>(count - 1);
    if (durable_) totals.durable_repeats += static_cast<std::uint64_t>(count - 1);
  }
  if (durable_) ++totals.durable_seeds;
  // 3. Stored messages delivered.
  for (int i = 0; i < clients_; ++i) {
    if (const auto left = w_.store.count_for(nick_of(i)).value(); left != 0) {
      return std::to_string(left) + " stored messages never delivered to " + nick_of(i);
    }
  }
  // 4. Tables converge; 5. nothing left in flight. In a cluster, each
  // client against the server it uses (cluster_checks: the servers agree).
  for (int i = 0; i < clients_; ++i) {
    auto& node = w_.nodes.at(port_of(i));
    if (!node.alive || !node.session->registered()) {
      return nick_of(i) + " is not registered at the end";
    }
    const ServerCore& server = *server_of(port_of(i)).core;
    const auto table = server.table();
    if (interest_) {
      // Interest mode: its own row is current, and no row it holds is newer
      // than the server's (rows looked up before a server restart may be
      // stale: the restarted server does not know that interest).
      for (const TableEntry& held : node.session->table()) {
        const auto srv = std::find_if(table.begin(), table.end(), [&](const TableEntry& e) {
          return nickname_key(e.nick) == nickname_key(held.nick);
        });
        if (srv == table.end() || held.version > srv->version ||
            (held.nick == nick_of(i) && held != *srv)) {
          return nick_of(i) + " holds a row of " + held.nick + " the server does not (version " +
                 std::to_string(held.version) + ")";
        }
      }
    } else if (node.session->table_version() != server.table_version() ||
               node.session->table() != table) {
      std::string differ;
      const auto row = [](const TableEntry& e) {
        return e.nick + "@" + std::to_string(e.port) + (e.online ? "+" : "-") + "v" +
               std::to_string(e.version);
      };
      for (const TableEntry& e : node.session->table()) {
        if (std::find(table.begin(), table.end(), e) == table.end()) differ += " held " + row(e);
      }
      for (const TableEntry& e : table) {
        const auto held = node.session->table();
        if (std::find(held.begin(), held.end(), e) == held.end()) differ += " server " + row(e);
      }
      return nick_of(i) + " holds table version " + std::to_string(node.session->table_version()) +
             ", the server " + std::to_string(server.table_version()) + ";" + differ;
    }
    const auto held = std::find_if(table.begin(), table.end(),
                                   [&](const TableEntry& e) { return e.nick == nick_of(i); });
    if (held == table.end() || !held->online) {
      return nick_of(i) + " believes it is registered but the server holds it offline";
    }
    if (node.session->messages_in_flight() != 0) {
      return nick_of(i) + " still has messages in flight";
    }
    if (node.session->messages_being_taken() != 0) {
      return nick_of(i) + " still writes " + std::to_string(node.session->messages_being_taken()) +
             " messages it took to its store";
    }
  }
  if (auto broken = cluster_checks(); !broken.empty()) return broken;
  totals.store_failures += store_failures_;
  totals.store_batches += w_.store_batches;
  totals.store_commands += w_.store_commands;
  totals.log_rows_trimmed += w_.log_rows_trimmed;
  totals.posts_over_quota += posts_over_quota_;
  return {};
}

std::string Scenario::cluster_checks() {
  const auto rows = [](const ServerCore& core) {
    std::vector<std::tuple<std::string, std::string, std::uint16_t, bool, std::string>> out;
    for (const TableEntry& e : core.table()) {
      out.emplace_back(e.nick, e.address, e.port, e.online, e.key);
    }
    return out;
  };
  for (std::size_t k = 0; k < servers_; ++k) {
    const ServerCore& core = *w_.servers[k].core;
    if (const auto here = rows(core), first = rows(*w_.servers[0].core); k > 0 && here != first) {
      std::string differ;
      const auto name = [](const auto& r) {
        return std::get<0>(r) + "@" + std::to_string(std::get<2>(r)) + (std::get<3>(r) ? "+" : "-");
      };
      for (const auto& r : here) {
        if (std::find(first.begin(), first.end(), r) == first.end()) differ += " " + name(r);
      }
      differ += "; server 0:";
      for (const auto& r : first) {
        if (std::find(here.begin(), here.end(), r) == here.end()) differ += " " + name(r);
      }
      return "server " + std::to_string(k) + " holds other rows than server 0:" + differ;
    }
    const auto work = core.pending_work();
    if (work.saves != 0 || work.verifications != 0 || work.store_commands != 0 ||
        work.held != 0) {
      return "server " + std::to_string(k) + " still has " + std::to_string(work.saves) +
             " saves, " + std::to_string(work.verifications) + " verifications, " +
             std::to_string(work.store_commands) + " store commands and " +
             std::to_string(work.held) + " held datagrams in progress";
    }
  }
  return {};
}

void Scenario::note_marked(std::uint16_t port) {
  if (!durable_) return;
  const auto disk = w_.client_disks.find(nickname_key(w_.nodes.at(port).config.nick));
  if (disk == w_.client_disks.end()) return;
  for (const auto& [entry, shown] : disk->second.entries) {
    if (!shown || entry.outgoing || !entry.text.starts_with("m")) continue;
    marked_[port].insert(std::stoul(entry.text.substr(1)));
  }
}

}  // namespace udpchat::sim
