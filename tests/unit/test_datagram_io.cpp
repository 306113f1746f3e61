// Datagrams in batches on real loopback sockets (src/app/datagram_io.hpp):
// a burst sent with sendmmsg arrives whole and in order through recvmmsg,
// a datagram that cannot be sent is reported and the rest still go, and
// addresses convert both ways (IPv4-mapped IPv6 included).
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "app/datagram_io.hpp"

using namespace udpchat;

namespace {

/// A UDP socket bound to 127.0.0.1 on a free port; closed at the end.
struct Socket {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  std::uint16_t port = 0;
  Socket() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
    const int size = 4 * 1024 * 1024;
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  ~Socket() { close(fd); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
};

/// Everything that arrives at `s` until `want` datagrams came or 2 s
/// passed with nothing new (a bound, not a timing).
std::vector<std::pair<std::string, Endpoint>> drain(const Socket& s, std::size_t want) {
  DatagramReceiver receiver;
  std::vector<std::pair<std::string, Endpoint>> got;
  while (got.size() < want) {
    pollfd p{s.fd, POLLIN, 0};
    if (poll(&p, 1, 2000) <= 0) break;
    int error = 0;
    const std::size_t n = receiver.receive(s.fd, error);
    CHECK(error == 0);
    for (std::size_t i = 0; i < n; ++i) {
      got.emplace_back(std::string(receiver.datagram(i)), endpoint_of(receiver.source(i)));
    }
  }
  return got;
}

}  // namespace

TEST_SUITE("datagram io") {
  TEST_CASE("a burst of 300 datagrams goes out in batches and arrives whole, in order") {
    Socket a, b;
    std::vector<Outgoing> out;
    for (int i = 0; i < 300; ++i) {
      // Sizes from empty to a full datagram.
      out.push_back({Endpoint{"127.0.0.1", b.port},
                     std::to_string(i) + std::string(static_cast<std::size_t>(i % 7) * 200, 'x')});
    }
    std::size_t failures = 0;
    CHECK(send_datagrams(a.fd, AF_INET, out, [&](const Outgoing&, int) { ++failures; }) == 300);
    CHECK(failures == 0);
    const auto got = drain(b, 300);
    REQUIRE(got.size() == 300);
    for (std::size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].first == out[i].bytes);
      CHECK(got[i].second == Endpoint{"127.0.0.1", a.port});
    }
    int error = 0;
    DatagramReceiver receiver;
    CHECK(receiver.receive(b.fd, error) == 0);  // nothing left: no wait
    CHECK(error == 0);
  }

  TEST_CASE("a datagram that cannot be sent is reported; the others still go") {
    Socket a, b;
    std::vector<Outgoing> out{{Endpoint{"127.0.0.1", b.port}, "first"},
                              {Endpoint{"not-an-address", b.port}, "lost"},
                              {Endpoint{"::1", b.port}, "v6 on a v4 socket"},
                              {Endpoint{"127.0.0.1", b.port}, "last"}};
    std::vector<std::string> failed;
    CHECK(send_datagrams(a.fd, AF_INET, out, [&](const Outgoing& o, int error) {
            failed.push_back(o.bytes);
            CHECK(error != 0);
          }) == 2);
    CHECK(failed == std::vector<std::string>{"lost", "v6 on a v4 socket"});
    const auto got = drain(b, 2);
    REQUIRE(got.size() == 2);
    CHECK(got[0].first == "first");
    CHECK(got[1].first == "last");
  }

  TEST_CASE("addresses convert both ways; IPv4-mapped IPv6 is seen as IPv4") {
    sockaddr_storage s{};
    REQUIRE(socket_address_of(Endpoint{"192.0.2.7", 4000}, AF_INET6, s) == sizeof(sockaddr_in6));
    CHECK(s.ss_family == AF_INET6);
    CHECK(endpoint_of(s) == Endpoint{"192.0.2.7", 4000});
    REQUIRE(socket_address_of(Endpoint{"2001:db8::1", 5000}, AF_INET6, s) ==
            sizeof(sockaddr_in6));
    CHECK(endpoint_of(s) == Endpoint{"2001:db8::1", 5000});
    REQUIRE(socket_address_of(Endpoint{"203.0.113.9", 6000}, AF_INET, s) == sizeof(sockaddr_in));
    CHECK(endpoint_of(s) == Endpoint{"203.0.113.9", 6000});
    CHECK(socket_address_of(Endpoint{"2001:db8::1", 5000}, AF_INET, s) == 0);
    CHECK(socket_address_of(Endpoint{"", 1}, AF_INET, s) == 0);
  }
}
