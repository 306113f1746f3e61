// datagram_io.cpp: recvmmsg/sendmmsg batches (see datagram_io.hpp).
#include "app/datagram_io.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>

#include <cerrno>
#include <cstring>

namespace udpchat {
namespace {

/// How long one wait for room in the send buffer lasts (the caller's loop
/// waits again while the kernel keeps refusing with EAGAIN).
constexpr int kSendWaitMs = 100;
/// Waits in a row before the datagram at the head is given up (as lost:
/// the reliable layer retransmits what matters).
constexpr int kSendWaits = 20;

}  // namespace

Endpoint endpoint_of(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(address);
    inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
    return Endpoint{text, ntohs(a.sin_port)};
  }
  if (address.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(address);
    if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr)) {
      inet_ntop(AF_INET, &a.sin6_addr.s6_addr[12], text, sizeof text);
    } else {
      inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof text);
    }
    return Endpoint{text, ntohs(a.sin6_port)};
  }
  return Endpoint{};
}

socklen_t socket_address_of(const Endpoint& to, int family, sockaddr_storage& out) {
  std::memset(&out, 0, sizeof out);
  in_addr v4{};
  in6_addr v6{};
  if (inet_pton(AF_INET, to.address.c_str(), &v4) == 1) {
    if (family == AF_INET) {
      auto& a = reinterpret_cast<sockaddr_in&>(out);
      a.sin_family = AF_INET;
      a.sin_port = htons(to.port);
      a.sin_addr = v4;
      return sizeof a;
    }
    auto& a = reinterpret_cast<sockaddr_in6&>(out);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(to.port);
    a.sin6_addr.s6_addr[10] = 0xff;  // ::ffff:a.b.c.d (RFC 4291 section 2.5.5.2)
    a.sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&a.sin6_addr.s6_addr[12], &v4, sizeof v4);
    return sizeof a;
  }
  if (family == AF_INET6 && inet_pton(AF_INET6, to.address.c_str(), &v6) == 1) {
    auto& a = reinterpret_cast<sockaddr_in6&>(out);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(to.port);
    a.sin6_addr = v6;
    return sizeof a;
  }
  return 0;
}

DatagramReceiver::DatagramReceiver()
    : buffers_(new char[kDatagramBatch * kDatagramRoom]) {}  // NOLINT(*-avoid-c-arrays)

std::size_t DatagramReceiver::receive(int fd, int& error) {
  std::array<mmsghdr, kDatagramBatch> headers{};
  std::array<iovec, kDatagramBatch> vectors{};
  for (std::size_t i = 0; i < kDatagramBatch; ++i) {
    vectors[i] = {buffers_.get() + i * kDatagramRoom, kDatagramRoom};
    headers[i].msg_hdr.msg_iov = &vectors[i];
    headers[i].msg_hdr.msg_iovlen = 1;
    headers[i].msg_hdr.msg_name = &sources_[i];
    headers[i].msg_hdr.msg_namelen = sizeof sources_[i];
  }
  const int n = recvmmsg(fd, headers.data(), kDatagramBatch, MSG_DONTWAIT, nullptr);
  if (n < 0) {
    error = errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno;
    return 0;
  }
  error = 0;
  for (int i = 0; i < n; ++i) {
    lengths_[static_cast<std::size_t>(i)] = headers[static_cast<std::size_t>(i)].msg_len;
  }
  return static_cast<std::size_t>(n);
}

std::string_view DatagramReceiver::datagram(std::size_t i) const {
  return {buffers_.get() + i * kDatagramRoom, lengths_[i]};
}

std::size_t send_datagrams(int fd, int family, std::span<const Outgoing> out,
                           const std::function<void(const Outgoing&, int)>& failed) {
  std::array<mmsghdr, kDatagramBatch> headers{};
  std::array<iovec, kDatagramBatch> vectors{};
  std::array<sockaddr_storage, kDatagramBatch> addresses{};
  std::array<std::size_t, kDatagramBatch> index{};  // headers[k] carries out[index[k]]
  std::size_t sent = 0;
  std::size_t next = 0;
  while (next < out.size()) {
    // The next batch: the datagrams whose address parses.
    std::size_t count = 0;
    while (next < out.size() && count < kDatagramBatch) {
      const Outgoing& o = out[next];
      const socklen_t len = socket_address_of(o.to, family, addresses[count]);
      if (len == 0) {
        failed(o, EAFNOSUPPORT);
        ++next;
        continue;
      }
      vectors[count] = {const_cast<char*>(o.bytes.data()), o.bytes.size()};
      headers[count] = {};
      headers[count].msg_hdr.msg_iov = &vectors[count];
      headers[count].msg_hdr.msg_iovlen = 1;
      headers[count].msg_hdr.msg_name = &addresses[count];
      headers[count].msg_hdr.msg_namelen = len;
      index[count] = next;
      ++count;
      ++next;
    }
    // Hand it over; a refused datagram is skipped, the rest go on.
    std::size_t done = 0;
    int waits = 0;
    while (done < count) {
      const int n = sendmmsg(fd, headers.data() + done, static_cast<unsigned>(count - done),
                             MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
        sent += static_cast<std::size_t>(n);
        waits = 0;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && waits++ < kSendWaits) {
        pollfd p{fd, POLLOUT, 0};
        (void)poll(&p, 1, kSendWaitMs);
        continue;
      }
      if (n < 0 && errno == EINTR) {
        continue;
      }
      failed(out[index[done]], n < 0 ? errno : EIO);
      ++done;
      waits = 0;
    }
  }
  return sent;
}

}  // namespace udpchat
