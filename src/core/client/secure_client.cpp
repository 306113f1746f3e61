// secure_client.cpp: ClientSession over its ServerLink (secure_client.hpp).
#include "core/client/secure_client.hpp"

#include "protocol/codec.hpp"

namespace udpchat {

namespace {
ClientConfig with_key(ClientConfig config, const crypto::KeyPair& key) {
  config.key = key;  // one key pair for the session and the end-to-end boxes
  return config;
}
}  // namespace

SecureClient::SecureClient(ClientConfig config, std::uint64_t id_seed, SecurityConfig security)
    : session_(with_key(config, security.key), id_seed),
      link_(security.key, security.pinned, std::move(security.random),
            std::move(security.clock_ns)),
      server_(config.server),
      known_servers_(std::move(security.known_servers)) {}

void SecureClient::start(TimePoint now) {
  session_.start(now);
}

void SecureClient::on_line(std::string_view line, TimePoint now) {
  session_.on_line(line, now);
}

void SecureClient::on_quit(TimePoint now) {
  session_.on_quit(now);
}

void SecureClient::on_timeout(TimePoint now) {
  session_.on_timeout(now);
}

void SecureClient::follow_server() {
  if (session_.server() == server_) return;
  server_ = session_.server();  // docs/CLUSTER.md: another server of the cluster
  link_.restart();              // a new session there (the pinned key stays: one cluster key)
}

void SecureClient::on_datagram(std::string_view bytes, const Endpoint& from, TimePoint now) {
  follow_server();
  if (from != server_) {
    session_.on_datagram(bytes, from, now);  // a peer
    return;
  }
  std::vector<std::string> frames;
  const auto r = link_.on_frame(bytes, now, frames);
  for (auto& f : frames) out_.push_back({server_, std::move(f)});
  received(r, now);
}

void SecureClient::received(const ServerLink::Received& r, TimePoint now) {
  switch (r.event) {
    case ServerLink::Event::kPlaintext:
      session_.on_datagram(r.plaintext, server_, now);
      break;
    case ServerLink::Event::kKeyChanged:
      if (known_servers_.empty()) {
        session_.fail("[Server key mismatch: " + server_.to_string() +
                      " does not hold the key given with --server-key.]");
      } else {
        session_.fail("[Server key changed: " + server_.to_string() +
                      " does not hold the key pinned in " + known_servers_ +
                      "; if the server was reinstalled, delete its line there.]");
      }
      break;
    case ServerLink::Event::kAnswered:
      // The server is there and the handshake moves on: a registration
      // waiting for it gets its tries from now (a server busy with a storm
      // of handshakes is slow, not absent).
      session_.server_answered(now);
      break;
    case ServerLink::Event::kEstablished:
      session_.server_answered(now);
      session_.server_link_up(now);  // the link kept nothing: send what waits
      break;
    case ServerLink::Event::kNone:
    case ServerLink::Event::kReset:
      break;
  }
}

std::vector<Outgoing> SecureClient::take_outgoing(TimePoint now) {
  follow_server();
  std::vector<Outgoing> out = std::exchange(out_, {});
  for (auto& o : session_.take_outgoing()) {
    if (o.to != server_) {
      out.push_back(std::move(o));
      continue;
    }
    // A new registration attempt (not a retransmission) begins with a new
    // handshake: a server that lost the client (restarted without its
    // row) would never answer the old session.
    if (const auto m = decode(o.bytes)) {
      if (const auto* reg = std::get_if<Register>(&*m);
          reg != nullptr && reg->id != last_register_id_) {
        last_register_id_ = reg->id;
        link_.restart();
      }
    }
    std::vector<std::string> frames;
    link_.send(o.bytes, now, frames);
    for (auto& f : frames) out.push_back({server_, std::move(f)});
  }
  return out;
}

}  // namespace udpchat
