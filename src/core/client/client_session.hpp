// client_session.hpp: the client of manual §4 as a sans-I/O state machine.
//
// Doors (STYLE.md): feed it typed lines (`on_line`), the end of input or a
// signal (`on_quit`), datagrams (`on_datagram`) and the passing of time
// (`on_timeout` at `next_deadline()`); take from it datagrams to send
// (`take_outgoing`), events for the user (`take_events`, each with its
// ">>> " line; `take_lines` gives the lines alone), log records
// (`take_logs`), and, once, an exit status.
//
// Guarantees (manual §5): commands act in the order typed; a send to a peer
// waits for the outcome of the previous send to that peer; a message is
// shown at most once per (sender, message id); every typed message ends
// acknowledged by the peer, saved at the server, or reported failed.
// A client that reached its server once survives it (manual §6.6): when its
// heartbeats or requests go unanswered, or the server says it is shutting
// down, it prints "[Server unreachable, retrying.]" once, keeps chatting
// directly with peers, holds what needs the server, and re-registers by
// itself with exponential backoff and jitter. Only a client that never
// reached its server at start ends ("[Server not responding]", status 1).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/base/log.hpp"
#include "core/base/time.hpp"
#include "core/client/client_config.hpp"
#include "core/client/client_queues.hpp"
#include "core/client/client_store.hpp"
#include "core/client/peer_keyring.hpp"
#include "core/client/peer_path.hpp"
#include "core/client/reconnect_state.hpp"
#include "core/client/table_replica.hpp"
#include "core/client/user_event.hpp"
#include "core/reliable/reliable.hpp"
#include "core/session/rate_limit.hpp"
#include "crypto/e2e.hpp"
#include "crypto/sodium.hpp"
#include "protocol/limits.hpp"
#include "protocol/messages.hpp"

namespace udpchat {

class ClientSession {
 public:
  /// `id_seed`: random start of the id counter (ids must not repeat across
  /// restarts, they are idempotency keys).
  ClientSession(ClientConfig config, std::uint64_t id_seed);

  /// Sends the first registration.
  void start(TimePoint now);
  /// One line typed by the user, without its line terminator.
  void on_line(std::string_view line, TimePoint now);
  /// End of input, SIGINT or SIGTERM: like typing `quit` after what was typed.
  void on_quit(TimePoint now);
  /// The session layer heard the server (its answer to a handshake step):
  /// a registration in flight gets its --server-retries tries from `now`,
  /// so "[Server not responding]" means no answer at all.
  void server_answered(TimePoint now);
  /// The session layer's secure session with the server is up (again):
  /// every request to the server still waiting for its ack goes out now,
  /// once, in the order first sent, and gets a whole try's time from `now`
  /// to be answered. What the session gave up meanwhile (and reported) is
  /// not sent.
  void server_link_up(TimePoint now);
  /// One datagram payload from `from`.
  void on_datagram(std::string_view bytes, const Endpoint& from, TimePoint now);
  /// Time passed; call at or after `next_deadline()`.
  void on_timeout(TimePoint now);
  [[nodiscard]] std::optional<TimePoint> next_deadline() const;

  std::vector<Outgoing> take_outgoing() { return std::exchange(outgoing_, {}); }
  /// The events since the last call, in order (manual §4.10).
  std::vector<UserEvent> take_events() { return std::exchange(events_, {}); }
  /// The lines of take_events() alone (each starts with ">>> ").
  std::vector<std::string> take_lines();
  std::vector<LogRecord> take_logs() { return std::exchange(logs_, {}); }
  /// manual §4.11: writes and reads for the client's own store, in order;
  /// run them (off the event loop) and hand back their completions.
  std::vector<ClientStoreCommand> take_store_commands() {
    return std::exchange(store_commands_, {});
  }
  /// What became of store commands taken earlier (any order of batches,
  /// commands in order within one): a committed take is acknowledged,
  /// shown once, then marked shown; a failed one is not acknowledged.
  void on_store_completion(const std::vector<ClientStoreCompletion>& done, TimePoint now);
  /// Messages whose write is in flight (taken, not yet committed).
  [[nodiscard]] std::size_t messages_being_taken() const { return taking_.size(); }
  /// Ends the client at once with `line` (and "[Exiting]"), status 1: for
  /// what the layer below finds fatal (the server's key changed).
  void fail(std::string line);
  /// True while the next input line is a password (`passwd`): the shell
  /// reads it without echo.
  [[nodiscard]] bool wants_secret_line() const {
    return prompt_ == Prompt::kNewPassword || prompt_ == Prompt::kRepeatPassword;
  }
  /// Set once the client should end: 0 normal, 1 runtime failure.
  [[nodiscard]] std::optional<int> exit_status() const { return exit_status_; }

  [[nodiscard]] bool registered() const { return phase_ == Phase::kRegistered; }
  /// True while a line typed now would wait for an earlier command to end
  /// (a registration or deregistration, a `history` or `list` waiting for
  /// its answer) instead of running at once.
  [[nodiscard]] bool input_waiting() const { return input_blocked() || !input_.empty(); }
  /// True while the server is unreachable and the client registers again
  /// by itself (manual §4.7).
  [[nodiscard]] bool reconnecting() const { return phase_ == Phase::kReconnecting; }
  [[nodiscard]] const std::string& nick() const { return config_.nick; }
  /// The server in use (docs/CLUSTER.md: it changes when it stops answering
  /// and other servers are known).
  [[nodiscard]] const Endpoint& server() const { return config_.server; }
  [[nodiscard]] std::uint64_t table_version() const { return table_.version(); }
  /// The rows held, sorted by nickname key (all of them on a server of at
  /// most --full-table-limit clients; else its own and those looked up).
  [[nodiscard]] std::vector<TableEntry> table() const;
  /// Number of rows held (cheap: no copy).
  [[nodiscard]] std::size_t rows_held() const { return table_.size(); }
  /// Clients registered at the server, as it last said (registration or
  /// heartbeat ack, table update, lookup or find answer).
  [[nodiscard]] std::size_t clients_registered() const { return total_clients_; }
  /// Datagrams awaiting an ack, and messages typed but without outcome.
  [[nodiscard]] std::size_t unacked() const { return sender_.size(); }
  [[nodiscard]] std::size_t messages_in_flight() const;
  /// Keys remembered for duplicate suppression (bounded by kDuplicateCapacity).
  [[nodiscard]] std::size_t remembered_ids() const { return shown_.size(); }
  /// Peer keys pinned since the last call (first sight, or `trust`), by
  /// nickname key, for the shell to append to known_peers.
  std::vector<std::pair<std::string, crypto::Key>> take_new_pins() {
    return keyring_.take_new_pins();
  }
  [[nodiscard]] const crypto::Key& public_key() const { return keyring_.own().public_key; }
  /// docs/NAT.md: the source address the server sees us at (from its last
  /// registration or heartbeat ack); empty until it says.
  [[nodiscard]] const Endpoint& public_endpoint() const { return public_; }
  /// True once the server saw us at another address than our own local
  /// one (a NAT between us): heartbeats then keep the mapping open.
  [[nodiscard]] bool behind_nat() const;
  /// Where to send to the client of row `e`: its local endpoint when it
  /// has one and shares our public address (behind the same NAT, which
  /// may not loop datagrams back: RFC 4787 section 6 "hairpinning"), else
  /// its public one.
  [[nodiscard]] Endpoint path_to(const TableEntry& e) const;
  /// docs/NAT.md: the path held to `nick` ("lan", "direct"), or empty.
  [[nodiscard]] std::string path_of(std::string_view nick) const;
  /// Datagrams dropped (undecodable, unexpected source...), for statistics.
  [[nodiscard]] std::uint64_t dropped() const { return dropped_; }

 private:
  /// kReconnecting: registered, but the server stopped answering (or is
  /// shutting down); registration attempts go out with backoff.
  // clang-format off
  enum class Phase : std::uint8_t { kRegistering, kRegistered, kReconnecting, kDeregistering,
                                    kOffline, kExited };
  // clang-format on
  // The send queues and server requests (client_queues.hpp).
  using OutgoingMessage = client_queues::OutgoingMessage;
  using SendStage = client_queues::SendStage;
  using PeerQueue = client_queues::PeerQueue;
  using PostQueue = client_queues::PostQueue;
  using RequestKind = client_queues::RequestKind;
  using ServerRequest = client_queues::ServerRequest;
  using IncomingMessage = client_queues::IncomingMessage;
  using Taking = client_queues::Taking;

  /// One event of kind "info" with the line ">>> " + text.
  void say(std::string text);
  /// The "message" event of `msg` (and "[You Have Messages]" before the
  /// first stored one).
  void show_message(const IncomingMessage& msg);
  // The client's own store (client_history.cpp, manual §4.11).
  /// A message opened, with the ack of the datagram that carried it: acked
  /// and shown now (no store), or once its write committed.
  void take_message(IncomingMessage msg, Outgoing ack, TimePoint now);
  /// Shows what the store holds as taken and never shown (at start).
  void show_unshown(TimePoint now);
  /// A message of ours delivered, saved or posted (`post`: to the channel
  /// or a group): into the history.
  void record_sent(const OutgoingMessage& msg, bool post);
  void cmd_history(std::string_view args);
  void print_history(const ClientStoreCompletion& done);
  void prune_store(TimePoint now);  ///< at most hourly: kPrune (client_history.cpp)
  void print_store_size(const ClientStoreCompletion& done);
  void store_failed(const std::string& error);
  [[nodiscard]] std::int64_t wall_ms() const;
  /// "#<group key>" or "*": the conversation of a channel or group message.
  [[nodiscard]] static std::string conversation_of_group(std::string_view group);
  /// One event of `kind` with `fields` and the line ">>> " + text.
  void say(std::string_view kind, std::string text, std::vector<EventField> fields = {});
  /// A typed command refused (kind "error"): nothing was sent.
  void refuse(std::string text) { say("error", std::move(text)); }
  void log(LogLevel level, std::string text);
  void fail_server_not_responding();
  void process_input(TimePoint now);
  bool input_blocked() const;
  void execute(std::string_view line, TimePoint now);
  void cmd_send(std::string_view args, TimePoint now);
  void cmd_dereg(std::string_view args, TimePoint now);
  void cmd_reg(std::string_view args, TimePoint now);
  void cmd_list(std::string_view args, TimePoint now);
  /// `list` without prefix: the rows held (sorted), then the count line if
  /// the server counts more clients than that (manual §4.3).
  void say_rows_held();
  /// The server's count of registered clients, as an ack, a table update or
  /// a Rows answer gives it (0: not given, ignored); a `list` waiting for
  /// it prints now.
  void learn_count(std::uint32_t total);
  /// A Heartbeat with the table version held; the next one is due a
  /// --heartbeat-ms later.
  void send_heartbeat(TimePoint now);
  /// The time to the next heartbeat: --heartbeat-ms, at most
  /// --nat-keepalive-ms while behind a NAT.
  [[nodiscard]] Duration heartbeat_interval() const;
  /// The public endpoint an ack told (empty: not told, kept as it was).
  void learn_public(const Endpoint& seen);
  // Paths to peers and hole punching (client_paths.cpp, docs/NAT.md).
  using PathKind = client_paths::PathKind;
  using PeerPath = client_paths::PeerPath;
  /// Where a direct message to the peer of row `e` goes now: the path held,
  /// else the row's endpoint (path_to).
  [[nodiscard]] Endpoint peer_destination(const std::string& peer_key, const TableEntry& e,
                                          TimePoint now);
  /// After a datagram to a peer we have not heard from within kPathFresh:
  /// the server is asked to introduce us (at most once per ack window).
  void introduce_if_unheard(const std::string& peer_key, const std::string& nick, TimePoint now);
  void introduce(const std::string& peer_key, const std::string& nick, TimePoint now);
  void handle(const Punch& m, const Endpoint& from, TimePoint now);
  void handle(const Probe& m, const Endpoint& from, TimePoint now);
  /// A message relayed by the server: as a chat, acknowledged the same way back.
  void handle(const Relay& m, const Endpoint& from, TimePoint now);
  /// The peer's ack of a message we relayed: as its direct ack.
  void handle(const RelayAck& m, const Endpoint& from, TimePoint now);
  /// A direct message from its sender (`relayed`: through the server).
  void receive_chat(const Chat& m, const Endpoint& from, bool relayed, TimePoint now);
  /// No direct path to `peer_key`: its messages go through the server's
  /// relay from now on, the one in flight at once.
  void use_relay(const std::string& peer_key, TimePoint now);
  /// True when a NAT stands between us and the client of row `e` as far
  /// as we can tell (we are behind one, or it is): a path may then fail
  /// where the classic LAN would not.
  [[nodiscard]] bool nat_between(const TableEntry& e) const;
  /// Probes (requests) to every candidate of `peer_key` still punching.
  void send_probes(const std::string& peer_key, PeerPath& p, TimePoint now);
  /// An authenticated datagram from the peer of `peer_key` came from `from`
  /// (`message`: a chat or an ack of ours, so the path is in use).
  void note_heard(const std::string& peer_key, const Endpoint& from, TimePoint now,
                  bool message = false);
  /// A path proved both ways (our probe answered from `at`): used from now
  /// on, and the message in flight to the peer goes there at once.
  void path_open(const std::string& peer_key, const Endpoint& at, TimePoint now);
  /// A direct message to `peer_key` went unacknowledged on its path: the
  /// path is dropped. True when the message went on through the relay
  /// instead (a NAT between us); false: it takes the classic way.
  bool path_failed(const std::string& peer_key, TimePoint now);
  /// Probes and keep-alives due at `now`.
  void run_paths(TimePoint now);
  [[nodiscard]] std::optional<TimePoint> paths_deadline() const;
  /// True while a Heartbeat waits for its ack (retransmitted meanwhile).
  [[nodiscard]] bool heartbeat_in_flight() const;
  /// One line of `list`: "<nick> <ip>:<port> online|offline" (a "client" event).
  void say_row(const TableEntry& e);
  /// The duplicate-suppression key of message `mid` from `from`.
  [[nodiscard]] static std::string shown_key(std::string_view from, std::uint64_t mid);
  void start_lookup(const std::string& peer_key, TimePoint now);
  void lookup_done(const std::string& peer_key, const std::vector<TableEntry>& rows, TimePoint now);
  void merge_row(const TableEntry& row);
  /// docs/CLUSTER.md: rows and versions now come from `server` (a log line
  /// when that is a move).
  void rebase_table(const Endpoint& server);
  void cmd_help();
  // Accounts (client_account.cpp, manual §9): `passwd` and `delete-account`
  // ask for their next input lines.
  void cmd_passwd();
  void cmd_delete_account();
  void answer_prompt(std::string_view line, TimePoint now);
  void account_acked(const Ack& m, RequestKind kind, TimePoint now);
  // End-to-end protection (client_keys.cpp, manual §8).
  void cmd_trust(std::string_view args, TimePoint now);
  void cmd_fingerprint(std::string_view args);
  /// Pins `key` for `nick` at first sight; a different key than the pin
  /// prints the warning once and holds messages to it until `trust`.
  void note_key(const std::string& nick_key, const std::string& nick, const std::string& key);
  [[nodiscard]] bool untrusted(const std::string& peer_key) const {
    return keyring_.untrusted(peer_key);
  }
  /// The public key the table (or, failing it, the pin) gives `nick`.
  [[nodiscard]] std::optional<crypto::Key> key_of(std::string_view nick) const;
  /// The key a message from `nick` must open under: its pin while a key
  /// change is not trusted, else key_of.
  [[nodiscard]] std::optional<crypto::Key> receive_key_of(std::string_view nick) const;
  /// Asks the server for the row of `nick`, the sender of a message we
  /// cannot open without its key (at most once per ack window).
  void look_up_sender(const std::string& nick, TimePoint now);
  // Channel and groups (client_groups.cpp).
  void cmd_send_all(std::string_view args, TimePoint now);
  void cmd_send_group(std::string_view args, TimePoint now);
  void cmd_membership(std::string_view args, bool join, TimePoint now);
  void cmd_groups(TimePoint now);
  /// A channel or group message typed: queued for `target_key`.
  void queue_post(const std::string& target_key, std::string shown_as, std::string_view text,
                  TimePoint now);
  void send_front_post(const std::string& target_key, TimePoint now);
  void post_acked(const Ack& m, const std::string& target_key, TimePoint now);
  void post_unanswered(const std::string& target_key, TimePoint now);
  void membership_acked(const Ack& m, const ServerRequest& req);
  /// "the channel" or "group <name>", for lines about a post.
  static std::string target_name(const OutgoingMessage& msg);
  /// True when `phase_` lets a command that needs the server go; else says why.
  bool server_command_allowed();
  /// True for a valid group name; else one line says the rule.
  bool group_name_ok(std::string_view group);
  /// True when a channel or group message `text` may go (registered, valid
  /// text); else one line says why.
  bool postable(std::string_view text);
  void begin_quit(TimePoint now);
  void maybe_finish_quit(TimePoint now);

  // Reconnection (client_reconnect.cpp).
  /// The server stopped answering (or is shutting down): from kRegistered
  /// (or a re-registration), enter kReconnecting once and schedule an attempt.
  void server_lost(TimePoint now);
  /// A datagram from the server while reconnecting: it is back, try now.
  void server_heard(TimePoint now);
  /// `next`: with the next server of the cluster, if any (docs/CLUSTER.md).
  void attempt_registration(TimePoint now, bool next = true);
  /// An automatic registration refused for a reason that may pass (not
  /// kInUse nor kBadPassword): says so once, tries again after the backoff.
  /// False: the refusal ends the registration (the caller says so).
  bool retry_refused_registration(const Ack& m, TimePoint now);
  /// docs/CLUSTER.md: the next server of the cluster in turn (none known:
  /// the same one).
  void next_server();
  /// Holds the front message of `peer_key` until the server is back.
  void hold_for_server(const std::string& peer_key, SendStage resume, TimePoint now);
  /// Registered again: held messages go on.
  void resume_held(TimePoint now);
  /// The server will not take them (nickname lost, quitting): each held
  /// message gets a line saying it was not sent.
  void fail_held(TimePoint now);
  /// One line for a command that needs the server while it is unreachable.
  void say_server_unreachable();
  /// True if registered; else says why a command that needs it cannot run
  /// (the server is unreachable, or we are not registered).
  bool registered_for_command();

  /// `with_password`: the registration carries config_.password (the first
  /// one, and a typed `reg`). Automatic re-registrations do not: a client
  /// whose nickname moved to a new key by its password must not take it
  /// back (it is refused as in use instead).
  void send_register(TimePoint now, bool with_password = false);
  void send_deregister(TimePoint now);
  std::uint64_t send_to_server(const Message& m, std::uint64_t id, ServerRequest req,
                               TimePoint now);
  void reply_ack(std::uint64_t id, const Endpoint& to);
  void dispatch_front(const std::string& peer_key, TimePoint now);
  void finish_front(const std::string& peer_key, TimePoint now);
  void save_at_server(const std::string& peer_key, TimePoint now);
  const TableEntry* find_peer(std::string_view nick) const;

  void handle(const Ack& m, const Endpoint& from, TimePoint now);
  void handle(const TablePart& m, const Endpoint& from, TimePoint now);
  void handle(const Ping& m, const Endpoint& from, TimePoint now);
  void handle(const Chat& m, const Endpoint& from, TimePoint now);
  void handle(const Deliver& m, const Endpoint& from, TimePoint now);
  void handle(const Notice& m, const Endpoint& from, TimePoint now);
  void handle(const Rows& m, const Endpoint& from, TimePoint now);
  void handle(const GroupList& m, const Endpoint& from, TimePoint now);
  void handle_server_ack(const Ack& m, const ServerRequest& req, TimePoint now);
  void on_expired(std::uint64_t id, TimePoint now);

  ClientConfig config_;
  IdGenerator ids_;
  ReliableSender sender_;
  DuplicateFilter shown_{kDuplicateMemory, kDuplicateCapacity};
  DuplicateFilter notices_{kDuplicateMemory, 4096};

  Phase phase_ = Phase::kRegistering;
  bool first_registration_ = true;
  /// What the next input line answers (manual §9), instead of a command.
  enum class Prompt : std::uint8_t { kNone, kNewPassword, kRepeatPassword, kConfirmDelete };
  Prompt prompt_ = Prompt::kNone;
  std::string new_password_;     ///< typed for `passwd`: repeated, then sent and acked
  std::string registered_nick_;  ///< the nickname of the last accepted registration
  bool quitting_ = false;
  bool table_line_pending_ = false;  ///< a table came before the welcome
  bool stored_announced_ = false;    ///< "[You Have Messages]" still to print
  std::optional<int> exit_status_;
  std::optional<TimePoint> next_heartbeat_;
  ReconnectState reconnect_;  ///< registering again (client_reconnect.cpp)
  /// docs/CLUSTER.md: config_.server as given, the index in [it,
  /// other_servers...] of the one in use, servers tried at start in vain.
  Endpoint first_server_;
  std::size_t server_turn_ = 0, start_tries_ = 0;

  std::deque<std::string> input_;
  std::map<std::string, PeerQueue> peers_;  ///< by nickname key
  std::map<std::string, PostQueue> posts_;  ///< by target: kEveryone or the group key
  std::unordered_map<std::uint64_t, std::string> direct_;      ///< chat id -> peer key
  std::unordered_map<std::uint64_t, ServerRequest> requests_;  ///< transport id -> request

  TableReplica table_;  ///< the rows held (manual §6.9)
  std::size_t total_clients_ = 0;
  Endpoint public_;  ///< docs/NAT.md: where the server sees us (empty: not told)
  std::map<std::string, PeerPath> paths_;  ///< docs/NAT.md: by nickname key
  /// The size of the datagram being handled (a probe's answer is never larger).
  std::size_t datagram_bytes_ = 0;
  /// A `list` waiting for the server's count (manual §4.3): printed when it
  /// comes or at this time (one ack timeout after it was typed), whichever
  /// is first; the commands typed after it wait meanwhile.
  std::optional<TimePoint> list_due_;
  /// Answers (Rows) to lookups and finds, by request id, until complete.
  std::map<std::uint64_t, std::vector<std::optional<std::vector<TableEntry>>>> answers_;
  /// Answers (GroupList) to `groups`, by request id, until complete.
  std::map<std::uint64_t, std::vector<std::optional<std::vector<GroupInfo>>>> group_answers_;

  // End to end (manual §8).
  PeerKeyring keyring_;
  std::string registered_key_;  ///< nickname key of config_.nick
  /// Senders of direct messages whose row we lacked, by nickname key:
  /// when we last looked them up.
  std::map<std::string, TimePoint> sender_lookups_;
  /// Sender lookups over all senders: 5 a second, bursts of 10, so that
  /// chats forged with random nicknames cannot make us flood the server.
  TokenBucket lookup_budget_{5.0, 10.0};
  std::set<std::string> hold_told_;  ///< told that its messages wait for trust

  std::vector<Outgoing> outgoing_;
  std::vector<UserEvent> events_;
  // The client's own store (manual §4.11).
  std::map<std::string, Taking> taking_;                         ///< by shown key
  std::unordered_map<std::uint64_t, std::string> take_tickets_;  ///< ticket -> shown key
  std::unordered_map<std::uint64_t, std::string> history_asks_;  ///< ticket -> what was asked
  std::vector<ClientStoreCommand> store_commands_;
  std::uint64_t next_ticket_ = 1;
  bool store_failure_told_ = false;
  TimePoint next_prune_{};  ///< when the store is pruned next (the first timeout: at once)
  std::vector<LogRecord> logs_;
  std::uint64_t dropped_ = 0;
};

}  // namespace udpchat
