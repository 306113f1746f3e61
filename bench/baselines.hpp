// baselines.hpp: the baselines of the benchmarks (see baselines.cpp).
#pragma once

#include <cstddef>
#include <string>

namespace udpchat::bench {

/// `messages` round trips of a Chat datagram carrying `bytes` of text and
/// its 20-byte ack between two sockets of this process, through epoll;
/// prints "bare: ... p50 X us, p99 Y us"; writes the samples to `samples`.
int bare_pingpong(std::size_t messages, std::size_t bytes, const std::string& samples);

/// `messages` Deliver datagrams carrying `bytes` of text sent one way
/// between two sockets of this process, the receiver draining through
/// epoll; prints "oneway: ... X datagrams/s" (received per second).
int bare_oneway(std::size_t messages, std::size_t bytes);

/// Inserts `rows` message rows of `bytes` bytes into a database in `dir`
/// (WAL, synchronous=FULL, the store's schema), `batch` rows a
/// transaction; prints "sqlite: ... N rows/s". Returns 0, or 2 without `dir`.
int sqlite_rate(const std::string& dir, std::size_t rows, std::size_t batch, std::size_t bytes);

}  // namespace udpchat::bench
