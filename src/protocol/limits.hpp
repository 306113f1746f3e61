// limits.hpp: every size limit and protocol default of udpchat, named once.
//
// Each constant carries its unit and the reason for its value. The user's
// manual (docs/MANUAL.md, sections 5 and 7) gives the same numbers; this header is the only
// place they are written down in code.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace udpchat {

/// Wire protocol version carried in every datagram ("v"). A datagram of any
/// other version is dropped and counted (manual §7).
inline constexpr std::uint32_t kProtocolVersion = 1;

/// Largest UDP payload we ever send or accept, in bytes. 1200 stays below the
/// IPv6 minimum MTU (1280) minus the IPv6 and UDP headers (48), so no
/// datagram is ever fragmented on any path (the same bound QUIC uses,
/// RFC 9000 section 14).
inline constexpr std::size_t kMaxDatagramBytes = 1200;

/// Bytes the secure session (manual §9) adds to a datagram between a
/// client and its server: frame type, session id and counter (17) and the
/// AEAD tag (16). protocol/frames.hpp checks it against its layout.
inline constexpr std::size_t kSessionOverheadBytes = 33;
/// Largest plaintext a session datagram carries: what the codec packs
/// table parts, rows and group lists into, so that sealed they still fit
/// kMaxDatagramBytes.
inline constexpr std::size_t kMaxPayloadBytes = kMaxDatagramBytes - kSessionOverheadBytes;

/// Longest chat message, in bytes of UTF-8 as typed (manual §7). Its CBOR
/// encoding costs 3 bytes of header and no escaping, so the worst case fits
/// a datagram with room for the session frame (33 bytes) and an end-to-end box.
inline constexpr std::size_t kMaxMessageBytes = 1000;

/// manual §9: a password is 1 to 128 bytes of UTF-8 (a passphrase fits).
inline constexpr std::size_t kMaxPasswordBytes = 128;

/// Nicknames (and group names): 1 to 32 characters from [A-Za-z0-9_.-].
inline constexpr std::size_t kMaxNicknameLength = 32;

/// Lowest and highest port a user may name (manual §3): below 1024 needs
/// privileges and belongs to well-known services.
inline constexpr unsigned kMinPort = 1024;
inline constexpr unsigned kMaxPort = 65535;

/// manual §3 defaults: the acknowledgement window of a direct message, and the
/// spacing of retries to the server.
inline constexpr std::chrono::milliseconds kDefaultAckTimeout{500};
/// manual §5: requests to the server are tried up to 5 times, 500 ms apart.
inline constexpr int kDefaultServerRetries = 5;
/// manual §6.6: the client's heartbeat interval, announced at registration.
inline constexpr std::chrono::milliseconds kDefaultHeartbeat{30000};
/// docs/NAT.md: heartbeats at most this far apart while behind a NAT
/// (RFC 8445 section 11 and RFC 4787 REQ-5 keep-alives; --nat-keepalive-ms).
inline constexpr std::chrono::milliseconds kDefaultNatKeepalive{25000};
/// manual §6.6: a client that lost its server tries to register again after
/// about kReconnectFirst, each next try twice as long after, at most
/// kReconnectMax (jittered: core/reliable/jittered_backoff.hpp).
inline constexpr std::chrono::seconds kReconnectFirst{1};
inline constexpr std::chrono::seconds kReconnectMax{30};
/// manual §6.6: the server marks a client offline after this many heartbeat
/// intervals without hearing from it.
inline constexpr int kMissedHeartbeatsBeforeOffline = 3;

/// RFC 6298 bounds for the adaptive retransmission timeout used inside an
/// ack window. The RFC's 1 s minimum is meant for TCP across the Internet;
/// inside a 500 ms window we need several tries, so the floor is lower.
inline constexpr std::chrono::milliseconds kMinRto{20};
/// RTO before any round trip was measured: gives ~5 tries in a 500 ms window.
inline constexpr std::chrono::milliseconds kInitialRto{100};

/// How long a receiver remembers a (sender, message id) it has shown, for
/// duplicate suppression, and how many it remembers at most. Longer than any
/// retransmission span (retries x ack timeout), bounded so memory is too.
inline constexpr std::chrono::minutes kDuplicateMemory{10};
inline constexpr std::size_t kDuplicateCapacity = 65536;

/// Resource bounds (issue: bounded resources), each configurable on the
/// command line and refused with a clear line when reached:
/// registered nicknames per server (--max-clients; manual §6.9 sizes one server
/// for 100,000), messages waiting at the server per recipient
/// (--max-stored), and messages typed for one peer and not yet through
/// (client, --max-pending).
inline constexpr std::size_t kDefaultMaxClients = 100000;
inline constexpr std::size_t kDefaultMaxStoredPerClient = 10000;
inline constexpr std::size_t kDefaultMaxPendingPerPeer = 100;
/// Channel and group messages one client may post a minute
/// (--max-posts-per-minute; 0: no limit), all at once from a full bucket
/// (core/server/post_rate.hpp): a pasted page goes through, a script that
/// loops on send_all is held to one a second.
inline constexpr std::size_t kDefaultMaxPostsPerMinute = 60;
/// Channel or group messages of one client one log keeps while some
/// member has not read them (--max-log-posts; 0: no limit;
/// core/server/log_quota.hpp): as --max-stored for a mailbox.
inline constexpr std::size_t kDefaultMaxLogPosts = 10000;
/// The server trims the channel and group logs below every member's read
/// position this often (a pass over the registered clients: about 20 ms
/// for a million).
inline constexpr std::chrono::seconds kDefaultLogTrimInterval{10};
/// A member offline longer than this no longer holds the channel and group
/// logs back: what it missed is trimmed once the others read it, and it is
/// told so when it returns (server, --log-retention-days; 0: for ever).
inline constexpr std::chrono::days kDefaultLogRetention{30};
/// The idempotency key of a message that is gone (delivered, trimmed,
/// deleted) is kept this long after its saving, so a late copy is not
/// stored again; older ones are purged at start and, while the server
/// runs, every kKeyPurgeInterval (in chunks of kKeyPurgeChunk).
inline constexpr std::chrono::days kTombstoneAge{7};
inline constexpr std::chrono::hours kKeyPurgeInterval{1};
inline constexpr std::size_t kKeyPurgeChunk = 10000;

/// manual §6.9: changes within this window go out as one table version.
inline constexpr std::chrono::milliseconds kDefaultTableBatch{20};
/// manual §6.9: up to this many registered clients, every online client holds
/// the whole table; beyond it, each holds the rows it needs (interest).
inline constexpr std::size_t kDefaultFullTableLimit = 1000;
/// `list <prefix>` shows at most this many nicknames (manual §4).
inline constexpr std::size_t kMaxFindResults = 50;
/// Rows a client may be interested in beyond its own (lookups); the oldest
/// interest is forgotten first. Bounds the server's memory per client.
inline constexpr std::size_t kMaxInterest = 4096;

/// manual §4.9: deliveries of stored, channel and group messages that may
/// await their ack at once, over all recipients (each recipient has at most
/// one): a send_all to thousands paces itself instead of flooding the socket.
inline constexpr std::size_t kDefaultFanoutWindow = 512;
/// Groups one client may be a member of (bounds the server's work per post).
inline constexpr std::size_t kMaxGroupsPerClient = 64;

/// How many parts one table version may be split into; a table announcing
/// more is dropped as malformed (bounds the reassembly buffer).
inline constexpr std::uint32_t kMaxTableParts = 4096;

/// manual §9, rate limits. Datagrams one source (address and port) may
/// send the server per second, sustained (--rate-limit); it may burst to
/// twice as many. Far above what a chat client sends (a few per second),
/// low enough that one flooding source costs the server a bounded share.
inline constexpr double kDefaultRateLimit = 1000.0;
inline constexpr double kRateBurstFactor = 2.0;
/// Sources tracked at once by the per-source buckets; beyond, the bucket
/// idle longest is forgotten (a forgotten source starts with a full bucket).
inline constexpr std::size_t kMaxRateBuckets = 65536;
/// Handshakes (Noise IK message 1, each four X25519 operations, ~0.2 ms)
/// the server completes per second, over all sources (--handshake-rate),
/// and the burst it absorbs (a restarted server's clients all coming back).
inline constexpr double kDefaultHandshakeRate = 2000.0;
inline constexpr double kHandshakeBurst = 10000.0;
/// Address-validation cookies are valid in the period they were issued
/// in and the next one: between 60 and 120 s.
inline constexpr std::chrono::seconds kCookiePeriod{60};
/// A session the server heard nothing on for this long is forgotten; the
/// client's next datagram gets a Reset and it makes a new one.
inline constexpr std::chrono::hours kSessionIdle{2};

}  // namespace udpchat
