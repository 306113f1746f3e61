"""test_hostile.py: udpchat under hostile input, real processes on 127.0.0.1.

manual §7: any datagram that is too large, not well-formed, of an unknown
version or type, or with a missing or ill-typed field is dropped and
counted; it never crashes, blocks or corrupts the program, and nothing
unauthenticated is answered. docs/PROTOCOL.md: server datagrams are accepted
only from the server's address, and requests naming a nickname only from
the address it is registered at.

test_malformed_flood sends, from a separate UDP socket, a bounded flood of
such datagrams to a server and to one of its clients, then checks that
both still run and chat, that the flooding socket got no reply at all, that
the server's memory stayed bounded, and that the server counted the drops
by cause. The flood is built from a fixed random seed: every run sends the
same datagrams, but for the port numbers that some of them carry.

Run by run_integration.py (`-k flood` to run it alone). Traffic goes only to
127.0.0.1.
"""

import random
import re
import select
import signal
import socket
import struct
import time

from harness import LOOPBACK, check, list_line, msg, received_by

# ---------------------------------------------------------------------------
# A tiny CBOR encoder (RFC 8949), enough to write udpchat datagrams by hand,
# including the ill-formed ones the real encoder never produces.


class RawText(bytes):
    """A CBOR text string (major type 3) of these exact bytes, valid UTF-8
    or not."""


class Raw(bytes):
    """Bytes inserted into the encoding as they are."""


def cbor_head(major, n):
    if n < 24:
        return bytes([(major << 5) | n])
    if n < 0x100:
        return bytes([(major << 5) | 24, n])
    if n < 0x10000:
        return bytes([(major << 5) | 25]) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes([(major << 5) | 26]) + n.to_bytes(4, "big")
    return bytes([(major << 5) | 27]) + n.to_bytes(8, "big")


def cbor(value):
    if isinstance(value, Raw):
        return bytes(value)
    if isinstance(value, RawText):
        return cbor_head(3, len(value)) + bytes(value)
    if value is True:
        return b"\xf5"
    if value is False:
        return b"\xf4"
    if value is None:
        return b"\xf6"
    if isinstance(value, int):
        return cbor_head(0, value) if value >= 0 else cbor_head(1, -1 - value)
    if isinstance(value, float):
        return b"\xfb" + struct.pack(">d", value)
    if isinstance(value, str):
        data = value.encode("utf-8")
        return cbor_head(3, len(data)) + data
    if isinstance(value, (bytes, bytearray)):
        return cbor_head(2, len(value)) + bytes(value)
    if isinstance(value, (list, tuple)):
        return cbor_head(4, len(value)) + b"".join(cbor(v) for v in value)
    if isinstance(value, dict):
        return cbor_head(5, len(value)) + b"".join(
            cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError("cannot encode %r" % (value,))


# ---------------------------------------------------------------------------
# Datagrams of every kind (docs/PROTOCOL.md), as dicts to edit.

def base_datagrams(flood_port, alice_port):
    """One well-formed datagram of each kind, keyed by kind. `reg` and
    `chat` are here only to be broken: as they are, they would be answered
    (a registration, a direct message), so they are never sent unbroken."""
    return {
        "reg": {"v": 1, "t": "reg", "id": 11, "nick": "mallory", "hb": 0},
        "dereg": {"v": 1, "t": "dereg", "id": 12, "nick": "alice"},
        "save": {"v": 1, "t": "save", "id": 13, "from": "alice", "to": "bob", "mid": 7,
                 "text": "forged save"},
        "hb": {"v": 1, "t": "hb", "id": 14, "nick": "bob", "ver": 0},
        "ack": {"v": 1, "t": "ack", "id": 15, "st": "ok"},
        "table": {"v": 1, "t": "table", "id": 16, "ver": 1 << 40, "part": 0, "parts": 1,
                  "entries": [["alice", LOOPBACK, flood_port, True],
                              ["mallory", LOOPBACK, flood_port, True],
                              ["bob", LOOPBACK, alice_port, False]]},
        "ping": {"v": 1, "t": "ping", "id": 17},
        "chat": {"v": 1, "t": "chat", "id": 18, "from": "mallory", "text": "forged chat"},
        "deliver": {"v": 1, "t": "deliver", "id": 19, "from": "mallory", "mid": 9,
                    "text": "forged delivery", "at": 0},
        "notice": {"v": 1, "t": "notice", "id": 20, "kind": "shutdown", "nick": "", "mid": 0},
    }


# Kinds the programs never answer from a stranger's address (a request naming
# someone else's nickname, or a server datagram not from the server), so
# they may be sent valid, and mutated at random.
UNANSWERED_KINDS = ("dereg", "save", "hb", "ack", "table", "ping", "deliver", "notice")

BAD_NICKS = ["", "a b", "x" * 33, "\u00e9lise", "bad/nick", "tab\tnick", 5, None]
BAD_TEXTS = [RawText(b"\xc0\xaf"), RawText(b"\xed\xa0\x80"), RawText(b"ab\x80cd"),
             RawText(b"\xf4\x90\x80\x80"), RawText(b"\xe2\x82"), RawText(b"\xff\xfe"),
             "x" * 1001, "\u20ac" * 334, b"bytes, not text", 42]
# Values of the wrong type for each type of field. Never a string for a
# string field: "1" is a valid nickname and a valid text.
NOT_UINT = ["1", -1, -(1 << 63) - 1, 1.5, None, True, [1], {"a": 1}, b"\x01"]
NOT_INT = ["1", 1.5, None, True, [1], {"a": 1}, b"\x01"]
NOT_TEXT = [1, -1, 1.5, None, True, [1], {"a": 1}, b"bytes"]
NOT_ARRAY = [1, "entries", None, {"a": 1}, b"\x01"]
FIELD_TYPES = {"id": NOT_UINT, "hb": NOT_UINT, "ver": NOT_UINT, "mid": NOT_UINT,
               "part": NOT_UINT, "parts": NOT_UINT, "stored": NOT_UINT, "at": NOT_INT,
               "nick": NOT_TEXT, "from": NOT_TEXT, "to": NOT_TEXT, "text": NOT_TEXT,
               "st": NOT_TEXT + ["fine", "OK"], "kind": NOT_TEXT + ["exploded"],
               "detail": NOT_TEXT, "entries": NOT_ARRAY}
NICK_FIELDS = ("nick", "from", "to")
TEXT_FIELDS = ("text", "detail")


def broken_catalogue(bases, rng):
    """Well-formed CBOR maps of every kind, each broken in one way the
    decoder must refuse."""
    out = []
    for kind, base in bases.items():
        for v in (0, 2, 255, 1 << 32, -1, "1", 1.0, None):
            d = dict(base, v=v)
            out.append(d)
        d = dict(base)
        del d["v"]
        out.append(d)
        for t in ("", "REG", "pong", kind + "x", 3, None, RawText(b"\xff")):
            out.append(dict(base, t=t))
        d = dict(base)
        del d["t"]
        out.append(d)
        for field in base:
            if field in ("v", "t"):
                continue
            d = dict(base)
            del d[field]
            if kind not in ("ping", "ack") or field == "id" or field == "st":
                out.append(d)  # a required field missing
            for bad in FIELD_TYPES[field]:
                out.append(dict(base, **{field: bad}))
            if field in NICK_FIELDS and not (kind == "notice" and field == "nick"):
                for nick in BAD_NICKS:
                    out.append(dict(base, **{field: nick}))
            if field in TEXT_FIELDS:
                for text in BAD_TEXTS:
                    out.append(dict(base, **{field: text}))
    # The optional fields of an ack, ill-typed.
    for bad in ("3", -1, 1 << 33, None):
        out.append(dict(bases["ack"], stored=bad))
    for text in BAD_TEXTS:
        out.append(dict(bases["ack"], detail=text))
    # Tables: part numbering, entries.
    table = bases["table"]
    for part, parts in ((1, 1), (5, 3), (0, 0), (0, 4097), (4096, 4096), (-1, 2)):
        out.append(dict(table, part=part, parts=parts))
    for entry in (["alice", LOOPBACK, 40000], ["alice", LOOPBACK, 70000, True],
                  ["alice", "", 40000, True], ["al ice", LOOPBACK, 40000, True],
                  ["alice", "x" * 65, 40000, True], ["alice", LOOPBACK, "40000", True],
                  ["alice", LOOPBACK, 40000, 1], "alice", None):
        out.append(dict(table, entries=[entry]))
    out.append(dict(table, entries={"alice": 1}))
    # Unknown kinds with plausible fields.
    for t in ("group", "join", "key", "regx", "acks"):
        out.append(dict(bases["reg"], t=t))
    rng.shuffle(out)
    return [cbor(d) for d in out]


def unanswered_valid(bases, rng):
    """Valid datagrams that the programs must ignore from a stranger: acks of
    every status with random ids, server datagrams, and requests that name
    registered nicknames from the wrong address."""
    out = []
    for st in ("ok", "saved", "exists", "unknown", "in_use", "offline", "error"):
        for _ in range(3):
            out.append(dict(bases["ack"], id=rng.getrandbits(64), st=st))
        out.append(dict(bases["ack"], id=rng.getrandbits(64), st=st, stored=3,
                        detail="forged"))
    for kind in ("table", "ping", "deliver", "notice", "dereg", "save", "hb"):
        out.append(dict(bases[kind], id=rng.getrandbits(64)))
    # A table in several parts announcing the stranger as everyone.
    for part in range(3):
        out.append(dict(bases["table"], id=rng.getrandbits(64), part=part, parts=3,
                        ver=(1 << 41)))
    for kind, kind_name in (("notice", "delivered"), ("notice", "saved")):
        out.append(dict(bases[kind], kind=kind_name, nick="alice", mid=rng.getrandbits(64)))
    out.append(dict(bases["deliver"], zz="unknown keys are ignored"))
    out.append(dict(bases["save"], **{"from": "bob", "to": "alice"}))
    out.append(dict(bases["hb"], nick="alice", ver=1 << 63))
    return [cbor(d) for d in out]


def deep_nesting():
    """Maps whose value is 1000 (and 5000) nested arrays, and nested maps."""
    head = {"v": 1, "t": "chat", "id": 1}
    out = []
    for depth in (1000, 1100):
        out.append(cbor_head(5, 4) + b"".join(cbor(k) + cbor(v) for k, v in head.items())
                   + cbor("x") + b"\x81" * depth + b"\x80")
    out.append(cbor_head(5, 1) + cbor("v") + b"\x81" * 5000 + b"\x01")  # too large
    out.append(cbor_head(5, 1) + cbor("v") + (cbor_head(5, 1) + cbor("k")) * 350 + b"\x01")
    out.append(b"\x9f" * 1100 + b"\xff" * 1100)  # not a map
    out.append(cbor_head(5, 1) + cbor("v") + b"\x9f" * 1000 + b"\xff" * 180)  # unfinished
    return out


def frame_catalogue(rng):
    """Session frames (manual §9) no session stands behind: none may earn
    an answer. A Hello of the right size would (a Retry), so there is none."""
    out = [b"\x01" + random_bytes(rng, n) for n in (0, 15, 94, 96, 200)]   # Hello, wrong size
    out += [b"\x03" + random_bytes(rng, 24 + 96 + 8 + 16) for _ in range(4)]  # Init, bad cookie
    out += [b"\x03" + random_bytes(rng, 40)]                                # Init, too short
    out += [b"\x05" + random_bytes(rng, n) for n in (16, 32, 100, 1100)]   # Sealed, no session
    out += [b"\x02" + random_bytes(rng, 72), b"\x04" + random_bytes(rng, 72),
            b"\x06" + random_bytes(rng, 16)]                             # server -> client only
    return out


def mutate(data, rng):
    """Flip, replace, insert or delete a few bytes."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.random()
        i = rng.randrange(len(b)) if b else 0
        if op < 0.4 and b:
            b[i] ^= 1 << rng.randrange(8)
        elif op < 0.7 and b:
            b[i] = rng.randrange(256)
        elif op < 0.85:
            b[i:i] = bytes([rng.randrange(256)])
        elif b:
            del b[i]
    return bytes(b)


def random_bytes(rng, n):
    return rng.getrandbits(8 * n).to_bytes(n, "little") if n else b""


def build_flood(total, flood_port, alice_port, seed=20240611):
    """`total` datagrams, as a list of (target, bytes, category); target 0 is
    the server, 1 the client. Deterministic for a given seed."""
    rng = random.Random(seed)
    bases = base_datagrams(flood_port, alice_port)
    catalogue = broken_catalogue(bases, rng)
    valid = unanswered_valid(bases, rng)
    nested = deep_nesting() + frame_catalogue(rng)
    templates = [cbor(bases[k]) for k in UNANSWERED_KINDS] + valid
    flood = []
    # Every hand-made datagram at least once to each target.
    for data in catalogue + valid + nested:
        for target in (0, 1):
            flood.append((target, data, "crafted"))
    # A few of exactly 1201 bytes (one more than the limit; some start like
    # a map) and of 65000 bytes.
    for i in range(6):
        for target in (0, 1):
            body = random_bytes(rng, 1201)
            if i % 2 == 0:
                body = b"\xa3" + body[1:]
            flood.append((target, body, "oversize"))
            flood.append((target, random_bytes(rng, 65000), "oversize"))
    while len(flood) < total:
        target = len(flood) % 2
        r = rng.random()
        if r < 0.35:
            n = rng.randint(0, 1500)
            body = random_bytes(rng, n)
            if body and rng.random() < 0.5:
                body = bytes([0xa0 | rng.randrange(32)]) + body[1:]  # starts like a map
            flood.append((target, body, "random"))
        elif r < 0.65:
            flood.append((target, mutate(rng.choice(templates), rng), "mutated"))
        elif r < 0.8:
            data = rng.choice(templates + catalogue)
            flood.append((target, data[:rng.randrange(len(data))], "truncated"))
        elif r < 0.95:
            flood.append((target, rng.choice(catalogue), "crafted"))
        else:
            flood.append((target, rng.choice(valid), "unauthenticated"))
    del flood[total:]
    rng.shuffle(flood)
    return flood


# ---------------------------------------------------------------------------

FLOOD_TOTAL = 20000
FLOOD_BURST = 25           # datagrams per burst
FLOOD_RATE = 2000.0        # datagrams per second at most (the bursts are paced)
FLOOD_MAX_SECONDS = 20.0   # the flood stops here whatever was sent
RSS_GROWTH_LIMIT_KIB = 50 * 1024
# The flood comes from a socket without a session, so the session gate
# (manual §9) drops it before the decoder: CBOR and garbage as "unsealed",
# frames of a wrong size or direction as "bad_frame", Sealed frames of no
# session as "no_session", Inits without a valid cookie as "bad_cookie".
# The decoder's own causes (too_large, malformed...) are reached only
# inside a session; the fuzzer and the unit tests cover them.
DROP_CAUSES = ("unsealed", "bad_frame", "no_session", "bad_cookie")


def vm_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


STATS_IN_RE = re.compile(r"statistics: datagrams in (\d+), out (\d+).*")
STATS_DROPPED_RE = re.compile(r"statistics: datagrams dropped:(.*)")


def server_stats(server):
    """Ask the server for its statistics (SIGUSR1) and parse them:
    (datagrams in, datagrams out, {cause: count})."""
    mark = server.cursor()
    server.signal(signal.SIGUSR1)
    server.expect(STATS_DROPPED_RE)
    return parse_stats(server.lines()[mark:server.cursor()])


def parse_stats(lines):
    d_in = d_out = None
    dropped = {}
    for line in lines:
        m = STATS_IN_RE.fullmatch(line)
        if m:
            d_in, d_out = int(m.group(1)), int(m.group(2))
        m = STATS_DROPPED_RE.fullmatch(line)
        if m:
            dropped = {}
            for item in m.group(1).split():
                if "=" in item:
                    cause, n = item.split("=", 1)
                    dropped[cause] = int(n)
    return d_in, d_out, dropped


def drain(sock):
    """Datagrams waiting on the socket (without blocking)."""
    got = []
    while True:
        try:
            data, addr = sock.recvfrom(70000, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return got
        except ConnectionRefusedError:  # an ICMP error: not a reply
            continue
        got.append((addr, data))


def send_all(sock, data, addr, deadline):
    """sendto, retrying while the socket buffer is full (bounded)."""
    while True:
        try:
            sock.sendto(data, addr)
            return True
        except (BlockingIOError, InterruptedError):
            if time.monotonic() > deadline:
                return False
            select.select([], [sock], [], 0.05)
        except ConnectionRefusedError:
            pass  # an ICMP error from an earlier datagram; send again


def direct(sender, receiver, text):
    sender.send("send %s %s" % (receiver.nick, text))
    sender.expect(received_by(receiver.nick))
    receiver.expect(msg(sender.nick, text))


def test_malformed_flood(ctx):
    """20,000 hostile datagrams to a server and a client: both survive and
    still chat, nothing is answered, the server's memory stays bounded and
    the drops are counted by cause."""
    test_start = time.monotonic()
    server, c = ctx.chat(["alice", "bob"])
    alice, bob = c["alice"], c["bob"]
    direct(alice, bob, "before the flood")
    direct(bob, alice, "before the flood, back")

    sock, flood_port = ctx.hold_port()
    sock.setblocking(False)
    flood = build_flood(FLOOD_TOTAL, flood_port, alice.port)
    targets = {0: (LOOPBACK, server.port), 1: (LOOPBACK, bob.port)}
    check(all(t[0] == LOOPBACK for t in targets.values()), "traffic goes to 127.0.0.1 only")

    in_before, _, dropped_before = server_stats(server)
    rss_before = {p.name: vm_rss_kib(p.pid) for p in (server, bob)}
    bob_mark, alice_mark = bob.mark(), alice.mark()

    # The flood: bursts, paced to FLOOD_RATE, bounded by FLOOD_MAX_SECONDS.
    replies = []
    sent = {0: 0, 1: 0}
    by_category = {}
    t0 = time.monotonic()
    deadline = t0 + FLOOD_MAX_SECONDS
    for i in range(0, len(flood), FLOOD_BURST):
        now = time.monotonic()
        if now > deadline:
            break
        due = t0 + i / FLOOD_RATE
        if due > now:
            time.sleep(due - now)
        for target, data, category in flood[i:i + FLOOD_BURST]:
            if send_all(sock, data, targets[target], deadline):
                sent[target] += 1
                by_category[category] = by_category.get(category, 0) + 1
        replies += drain(sock)
    flood_seconds = time.monotonic() - t0
    total_sent = sent[0] + sent[1]
    print("  flood: %d datagrams in %.1f s (server %d, client %d; %s)" % (
        total_sent, flood_seconds, sent[0], sent[1],
        ", ".join("%s %d" % kv for kv in sorted(by_category.items()))), flush=True)
    check(total_sent >= FLOOD_TOTAL * 0.9,
          "only %d of %d datagrams could be sent in %.0f s" % (
              total_sent, FLOOD_TOTAL, FLOOD_MAX_SECONDS))

    # Both processes survived, and nothing answered the stranger (a reply
    # would come within milliseconds on loopback; wait a little longer).
    wait_until = time.monotonic() + 1.5
    while time.monotonic() < wait_until:
        select.select([sock], [], [], max(0.0, wait_until - time.monotonic()))
        replies += drain(sock)
    check(server.alive(), "the server died during the flood (exit status %s)" % server.returncode)
    check(bob.alive(), "bob died during the flood (exit status %s)" % bob.returncode)
    check(alice.alive(), "alice died during the flood (exit status %s)" % alice.returncode)
    check(not replies, "the flooding socket got %d repl%s, first from %s: %r" % (
        len(replies), "y" if len(replies) == 1 else "ies",
        replies[0][0] if replies else None, replies[0][1][:64] if replies else None))

    # What the server counted: nearly everything it was sent, by cause.
    in_after, _, dropped_after = server_stats(server)
    seen = in_after - in_before
    drops = {k: dropped_after.get(k, 0) - dropped_before.get(k, 0) for k in dropped_after}
    total_drops = sum(drops.values())
    print("  server: %d datagrams in during the flood, %d dropped: %s" % (
        seen, total_drops, " ".join("%s=%d" % kv for kv in sorted(drops.items()))), flush=True)
    check(seen >= 0.8 * sent[0], "the server saw only %d of the %d datagrams sent to it" % (
        seen, sent[0]))
    check(total_drops >= 0.7 * sent[0], "the server counted only %d drops for %d datagrams" % (
        total_drops, sent[0]))
    missing = [cause for cause in DROP_CAUSES if drops.get(cause, 0) == 0]
    check(not missing, "no drop counted for %s; counted: %r" % (missing, drops))

    # Memory stayed bounded. (Under AddressSanitizer, VmRSS grows by ~2.5 KiB
    # a datagram while ASan's quarantine of freed memory fills, up to its
    # 256 MiB default: ~25 MiB here. It levels off with quarantine_size_mb=0.
    # The release build grows by less than 1 MiB.)
    rss_after = {p.name: vm_rss_kib(p.pid) for p in (server, bob)}
    for name in rss_before:
        growth = rss_after[name] - rss_before[name]
        print("  %s: VmRSS %d KiB -> %d KiB" % (name, rss_before[name], rss_after[name]),
              flush=True)
        check(growth < RSS_GROWTH_LIMIT_KIB, "%s: VmRSS grew by %d KiB during the flood" % (
            name, growth))

    # Nothing of the flood reached the users: no line at all while it lasted
    # (no forged message, notice or table), and the table is the real one.
    check(bob.since(bob_mark) == [], "bob printed during the flood: %r" % bob.since(bob_mark)[:5])
    check(alice.since(alice_mark) == [],
          "alice printed during the flood: %r" % alice.since(alice_mark)[:5])
    bob.skip_to_end()
    start = bob.cursor()
    bob.send("list")
    bob.expect_all([list_line("alice", alice.port), list_line("bob", bob.port)])
    direct(alice, bob, "after the flood \u2713")
    direct(bob, alice, "after the flood, back \u4f60\u597d")
    listed = [l for l in bob.lines()[start:] if re.fullmatch(r">>> \S+ \S+:\d+ (online|offline)", l)]
    check(sorted(listed) == sorted([list_line("alice", alice.port), list_line("bob", bob.port)]),
          "bob's table after the flood: %r" % listed)
    check(not any("mallory" in l or "forged" in l for p in (alice, bob) for l in p.lines()),
          "a forged datagram reached a user")

    # SIGTERM: the statistics line shows the drops by cause.
    mark = server.cursor()
    server.signal(signal.SIGTERM)
    server.expect_exit(0)
    final = server.lines()[mark:]
    dropped_lines = [l for l in final if STATS_DROPPED_RE.fullmatch(l)]
    check(dropped_lines, "no 'statistics: datagrams dropped:' line at SIGTERM: %r" % final)
    _, _, at_exit = parse_stats(final)
    check(sum(at_exit.values()) >= sum(dropped_after.values()),
          "fewer drops at exit than during the run: %r" % dropped_lines[-1])
    print("  at exit: %s" % dropped_lines[-1], flush=True)
    check(time.monotonic() - test_start < 60, "the test took %.0f s" % (
        time.monotonic() - test_start))
