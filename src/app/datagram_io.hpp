// datagram_io.hpp: datagrams in batches on one UDP socket, with Linux's
// recvmmsg(2) and sendmmsg(2): one system call reads every datagram waiting
// (up to kDatagramBatch) or sends a burst to many destinations. Plain POSIX,
// no asio: the server shell and the load generator both use it.
//
// UDP GSO (UDP_SEGMENT) is not used: it splits one buffer into segments for
// ONE destination, while our bursts (a fan-out, the acks of a batch) go to
// many (docs/PERFORMANCE.md, "Datagrams in batches").
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/reliable/reliable.hpp"
#include "protocol/endpoint.hpp"

namespace udpchat {

/// Datagrams read or sent per system call.
inline constexpr std::size_t kDatagramBatch = 64;
/// Bytes kept per received datagram: more than any datagram we accept, so an
/// oversized one is seen whole (and refused as too large), never truncated.
inline constexpr std::size_t kDatagramRoom = 65536;

/// The core's view of a socket address (IPv4-mapped IPv6 becomes IPv4, as
/// net.hpp's to_endpoint does for asio endpoints). Unknown families give an
/// empty address.
Endpoint endpoint_of(const sockaddr_storage& address);

/// The socket address of `to` for a socket of family `family` (AF_INET or
/// AF_INET6; IPv4 is mapped on an IPv6 socket). Returns its length, or 0 if
/// the address does not parse or cannot be reached from that family.
socklen_t socket_address_of(const Endpoint& to, int family, sockaddr_storage& out);

/// Reads datagrams from UDP sockets in batches. Its buffers (kDatagramBatch
/// x kDatagramRoom bytes, 4 MiB) are made once and serve any socket.
class DatagramReceiver {
 public:
  DatagramReceiver();

  /// Reads the datagrams waiting at `fd`, at most kDatagramBatch, without
  /// blocking.
  /// Returns how many (0: none waiting, or an error such as an ICMP port
  /// unreachable reported on the socket, which a datagram socket survives;
  /// `error` then holds errno, else 0).
  std::size_t receive(int fd, int& error);
  /// Datagram `i` of the last receive() (valid until the next one).
  [[nodiscard]] std::string_view datagram(std::size_t i) const;
  /// Where datagram `i` came from.
  [[nodiscard]] const sockaddr_storage& source(std::size_t i) const { return sources_[i]; }

 private:
  std::unique_ptr<char[]> buffers_;  ///< not zeroed: only what recvmmsg wrote is read
  std::array<sockaddr_storage, kDatagramBatch> sources_{};
  std::array<std::size_t, kDatagramBatch> lengths_{};
};

/// Sends `out` on `fd` (a socket of `family`) with sendmmsg, kDatagramBatch
/// a call. A datagram that cannot be sent (an unparsable address, a
/// destination the kernel refuses) is skipped and reported to `failed` with
/// errno; the others still go. A full send buffer is waited out (poll(2),
/// at most `kSendWaitMs` each time), as a blocking sendto would. Returns how
/// many were handed to the kernel.
std::size_t send_datagrams(int fd, int family, std::span<const Outgoing> out,
                           const std::function<void(const Outgoing&, int)>& failed);

}  // namespace udpchat
