"""test_attacks.py: manual §8 against an attacker on real processes.

Requests forged for another client (dereg, save, heartbeat, channel post,
a direct chat), sent from another address and from the victim's own address
and port through a raw socket (IP_HDRINCL, as root; skipped otherwise);
registration floods answered with fewer bytes than they sent; a source
flooding at full speed while another client registers and chats. Every
flood is bounded in count and time; everything stays on loopback.
"""

import os
import re
import select
import socket
import struct
import threading
import time

from harness import LOOPBACK, TABLE, Skip, check, list_line
from handmade_cbor import cbor


def server_stats(server):
    """The server's statistics lines after a SIGUSR1: (dropped by cause,
    the security line)."""
    mark = server.mark()
    os.kill(server.pid, 10)
    server.expect(re.compile(r"statistics: sessions .*"))
    lines = server.since(mark)
    dropped = {}
    security = ""
    for line in lines:
        if line.startswith("statistics: datagrams dropped:"):
            for word in line.split(":", 2)[2].split():
                if "=" in word:
                    k, v = word.split("=")
                    dropped[k] = int(v)
        if line.startswith("statistics: sessions"):
            security = line
    return dropped, security


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def raw_udp(src, dst, payload):
    """One IPv4/UDP datagram with any source address and port (IP_HDRINCL)."""
    udp_len = 8 + len(payload)
    pseudo = socket.inet_aton(src[0]) + socket.inet_aton(dst[0]) + struct.pack(
        "!BBH", 0, socket.IPPROTO_UDP, udp_len)
    udp = struct.pack("!HHHH", src[1], dst[1], udp_len, 0) + payload
    csum = checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", csum) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0, 64, socket.IPPROTO_UDP, 0,
                     socket.inet_aton(src[0]), socket.inet_aton(dst[0]))
    return ip + udp


def forged_requests(victim, other):
    """What an attacker sends in `victim`'s name: each a plain CBOR request
    (as the pre-session protocol took them) and a Sealed frame of a made-up
    session."""
    out = [
        cbor({"v": 1, "t": "dereg", "id": 1001, "nick": victim}),
        cbor({"v": 1, "t": "save", "id": 1002, "from": victim, "to": other, "mid": 5,
              "text": "forged save"}),
        cbor({"v": 1, "t": "hb", "id": 1003, "nick": victim, "ver": 0}),
        cbor({"v": 1, "t": "post", "id": 1004, "from": victim, "group": "*", "mid": 6,
              "text": "forged post"}),
    ]
    out += [b"\x05" + os.urandom(16) + os.urandom(60) for _ in range(4)]
    return out


def assert_victim_untouched(ctx, server, alice, bob, before):
    # A genuine message after the forgeries: bob shows it, and nothing forged.
    alice.send("send bob genuine after the forgeries")
    bob.expect(">>> alice: genuine after the forgeries")
    alice.send("send_all channel marker")
    bob.expect(">>> [Channel] alice: channel marker")
    for line in bob.lines():
        check("forged" not in line and "password" not in line, "bob showed %r" % line)
    mark = bob.mark()
    bob.send("list")
    bob.expect(list_line("alice", alice.port))  # still online: no dereg was acted on
    dropped, security = server_stats(server)
    new = {k: v - before.get(k, 0) for k, v in dropped.items()}
    check(new.get("unsealed", 0) >= 4, "plain requests not counted as unsealed: %r" % new)
    check(new.get("no_session", 0) >= 4, "forged sealed frames not counted: %r" % new)
    return new


def test_requests_forged_from_another_address(ctx):
    server, c = ctx.chat(["alice", "bob"])
    alice, bob = c["alice"], c["bob"]
    before, _ = server_stats(server)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((LOOPBACK, 0))
    for d in forged_requests("alice", "bob"):
        s.sendto(d, (LOOPBACK, server.port))
    s.sendto(cbor({"v": 1, "t": "chat", "id": 77, "from": "alice",
                   "text": "forged: send me your password"}), (LOOPBACK, bob.port))
    time.sleep(0.3)
    s.setblocking(False)
    answered = []
    try:
        while True:
            answered.append(s.recvfrom(2048))
    except BlockingIOError:
        pass
    s.close()
    check(not answered, "the forgeries were answered: %r" % answered[:3])
    new = assert_victim_untouched(ctx, server, alice, bob, before)
    print("  server counted: %s" % " ".join("%s=%d" % kv for kv in sorted(new.items()) if kv[1]))


def test_requests_forged_from_the_victims_own_address_and_port(ctx):
    if os.geteuid() != 0:
        raise Skip("needs root for a raw socket (IP_HDRINCL)")
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    except PermissionError as e:
        raise Skip("no raw socket: %s" % e)
    raw.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    server, c = ctx.chat(["alice", "bob"])
    alice, bob = c["alice"], c["bob"]
    before, _ = server_stats(server)
    victim = (LOOPBACK, alice.port)
    for d in forged_requests("alice", "bob"):
        raw.sendto(raw_udp(victim, (LOOPBACK, server.port), d), (LOOPBACK, 0))
    raw.sendto(raw_udp(victim, (LOOPBACK, bob.port),
                       cbor({"v": 1, "t": "chat", "id": 78, "from": "alice",
                             "text": "forged: send me your password"})), (LOOPBACK, 0))
    raw.close()
    time.sleep(0.3)
    new = assert_victim_untouched(ctx, server, alice, bob, before)
    print("  server counted: %s" % " ".join("%s=%d" % kv for kv in sorted(new.items()) if kv[1]))


def test_registration_flood_gets_fewer_bytes_back_than_it_sent(ctx):
    server = ctx.server(extra=["--log-level", "warn"])
    socks = []
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((LOOPBACK, 0))
        s.setblocking(False)
        socks.append(s)
    sent = 0
    received = 0
    retries = 0
    # Each source: a Hello (earns one Retry), the pre-session registration
    # (earns nothing), an Init with a made-up cookie (earns nothing).
    for s in socks:
        for d in (b"\x01" + os.urandom(16) + b"\0" * 79,
                  cbor({"v": 1, "t": "reg", "id": 9, "nick": "flood%d" % s.getsockname()[1],
                        "hb": 0}),
                  b"\x03" + os.urandom(24 + 96 + 8 + 16)):
            s.sendto(d, (LOOPBACK, server.port))
            sent += len(d)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        r, _, _ = select.select(socks, [], [], 0.1)
        for s in r:
            try:
                while True:
                    data, _ = s.recvfrom(65536)
                    received += len(data)
                    retries += data[:1] == b"\x02"
            except BlockingIOError:
                pass
    for s in socks:
        s.close()
    print("  100 sources sent %d bytes, got %d bytes back (%d Retry frames)" % (
        sent, received, retries))
    check(received <= sent, "answered with %d bytes for %d sent" % (received, sent))
    check(retries <= 100, "%d Retry frames for 100 Hellos" % retries)
    dropped, _ = server_stats(server)
    check(dropped.get("unsealed", 0) >= 100 and dropped.get("bad_cookie", 0) >= 100,
          "the flood was not counted: %r" % dropped)


def test_one_source_flooding_does_not_keep_others_out(ctx):
    server = ctx.server(extra=["--log-level", "warn"])
    bob = ctx.client("bob", server)
    stop = threading.Event()
    counts = {"sent": 0}
    # Full speed in the release build (~80,000 Hellos a second from Python,
    # 80 times --rate-limit). Under AddressSanitizer the server handles a
    # datagram ~10x slower, so a full-speed flood overruns its socket
    # before it can even drop it (the kernel then drops everyone's
    # datagrams alike, which no limit in the server can change): there the
    # flood is paced to 10,000 a second, still 10 times --rate-limit.
    pace = 1.0 / 10000 if os.environ.get("UDPCHAT_SANITIZED") else 0.0

    def flood():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((LOOPBACK, 0))
        s.setblocking(False)
        hello = b"\x01" + b"\x42" * 16 + b"\0" * 79
        end = time.monotonic() + 8.0  # bounded whatever happens
        while not stop.is_set() and time.monotonic() < end and counts["sent"] < 2_000_000:
            try:
                s.sendto(hello, (LOOPBACK, server.port))
                counts["sent"] += 1
            except (BlockingIOError, OSError):
                time.sleep(0.0005)
            if pace and counts["sent"] % 100 == 0:
                time.sleep(100 * pace)
            try:
                while True:
                    s.recvfrom(2048)
            except (BlockingIOError, OSError):
                pass
        s.close()

    t = threading.Thread(target=flood)
    t.start()
    try:
        deadline = time.monotonic() + 5.0  # the flood is under way: 2,000 Hellos sent
        while counts["sent"] < 2000 and time.monotonic() < deadline:
            time.sleep(0.01)
        carol = ctx.client("carol", server)
        bob.expect(TABLE)
        carol.send("send bob through the flood")
        bob.expect(">>> carol: through the flood")
        bob.send("send carol and back")
        carol.expect(">>> bob: and back")
    finally:
        stop.set()
        t.join()
    dropped, security = server_stats(server)
    print("  the flooder sent %d Hellos; %s" % (counts["sent"], security))
    check(dropped.get("rate_limited", 0) > 0, "nothing was rate-limited: %r" % dropped)
