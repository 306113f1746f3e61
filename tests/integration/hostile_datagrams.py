"""hostile_datagrams.py: the datagrams test_hostile.py floods udpchat with.

One well-formed datagram of each kind (docs/PROTOCOL.md), as a dict to
edit; catalogues of them broken in every way the decoder must refuse
(wrong version or type, a field missing or ill-typed, bad nicknames and
texts, bad tables), valid datagrams a stranger must not be answered for,
deep nesting, session frames no session stands behind; and build_flood(),
which mixes these with random, mutated, truncated and oversized ones from
a fixed seed.
"""

import random

from handmade_cbor import RawText, cbor, cbor_head
from harness import LOOPBACK

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
