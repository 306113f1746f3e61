"""The client's own store (manual §4.11): `history` of a peer, the channel
and a group, both directions, with times, across a restart; its mistakes;
--no-history keeping no text."""

import os
import re
import sqlite3

from harness import check, wait_registered

TS = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


def history_line(sender, text):
    return re.compile(">>> %s %s: %s" % (TS, re.escape(sender), re.escape(text)))


def test_history_both_directions_channel_groups_and_restart(ctx):
    s, c = ctx.chat(["alice", "bob"])
    alice, bob = c["alice"], c["bob"]
    alice.send("send bob hi bob")
    alice.expect(">>> [Message received by bob.]")
    bob.expect(">>> alice: hi bob")
    bob.send("send alice hi alice 🙂")
    bob.expect(">>> [Message received by alice.]")
    alice.expect(">>> bob: hi alice 🙂")
    alice.send("send_all to the channel")
    alice.expect(">>> [Message received by Server.]")
    bob.expect(">>> [Channel] alice: to the channel")
    for p in (alice, bob):
        p.send("join crew")
        p.expect(">>> [Joined group crew.]")
    alice.send("send_group crew to the crew")
    alice.expect(">>> [Message received by Server.]")
    bob.expect(">>> [crew] alice: to the crew")

    bob.send("history alice")
    bob.expect_next(history_line("alice", "hi bob"))
    bob.expect_next(history_line("bob", "hi alice 🙂"))
    bob.expect_next(">>> [2 of 2 messages with alice shown.]")
    bob.send("history ALICE 1")
    bob.expect_next(history_line("bob", "hi alice 🙂"))
    bob.expect_next(">>> [1 of 2 messages with ALICE shown.]")  # as typed
    bob.send("history *")
    bob.expect_next(history_line("alice", "to the channel"))
    bob.expect_next(">>> [1 of 1 messages in the channel shown.]")
    alice.send("history #crew")
    alice.expect_next(history_line("alice", "to the crew"))
    alice.expect_next(">>> [1 of 1 messages in group crew shown.]")
    bob.send("history carol")
    bob.expect_next(">>> [No messages with carol yet.]")
    # Mistakes: one line each, nothing else.
    for typed, line in (("history alice 0", ">>> [Usage: history <nick>|*|#<group> [<n>]: "
                                            "n is 1 to 1000]"),
                        ("history alice x", ">>> [Usage: history <nick>|*|#<group> [<n>]: "
                                            "n is 1 to 1000]"),
                        ("history al/ce", ">>> [Usage: history <nick>|*|#<group> [<n>]]")):
        bob.send(typed)
        bob.expect_next(line)
    # Alone: what bob's store holds (two direct messages, one to and one
    # from alice, one in the channel, one in crew) and its size.
    bob.send("history")
    bob.expect_next(re.compile(re.escape(">>> [History: 4 messages, 4 with their text, ") +
                               r"\d+ KiB on disk; texts kept for ever, ids 30 days\.\]"))
    # Kept across a restart of bob (same key file, same store).
    bob.send("quit")
    bob.expect_exit(0)
    bob = ctx.client("bob", s, port=bob.port)
    bob.send("history alice")
    bob.expect_next(history_line("alice", "hi bob"))
    bob.expect_next(history_line("bob", "hi alice 🙂"))
    bob.expect_next(">>> [2 of 2 messages with alice shown.]")
    check(not any(l == ">>> alice: hi bob" for l in bob.lines()),
          "a message shown again after a clean restart")
    db = os.path.join(ctx.keys, "udpchat", "bob.db")
    check(os.path.exists(db), "no store beside bob's key file")
    check(os.stat(db).st_mode & 0o777 == 0o600, "bob.db is not mode 0600")
    for p in (alice, bob):
        p.send("quit")
        p.expect_exit(0)


def test_no_history_keeps_only_ids(ctx):
    s, c = ctx.chat(["alice"])
    alice = c["alice"]
    carol = ctx.client("carol", s, extra=["--no-history"])
    alice.expect(">>> [Client table updated.]")
    alice.send("send carol secret words")
    alice.expect(">>> [Message received by carol.]")
    carol.expect(">>> alice: secret words")
    carol.send("history alice")
    carol.expect_next(">>> [History is off (--no-history).]")
    carol.send("quit")
    carol.expect_exit(0)
    db = os.path.join(ctx.keys, "udpchat", "carol.db")
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT count(*), count(body) FROM messages").fetchone()
    finally:
        con.close()
    check(rows == (1, 0), "carol's store holds %d rows, %d with text: expected (1, 0)" % rows)
    for name in os.listdir(os.path.dirname(db)):
        if name.startswith("carol.db"):
            with open(os.path.join(os.path.dirname(db), name), "rb") as f:
                check(b"secret words" not in f.read(), "the text is still in %s" % name)
    alice.send("quit")
    alice.expect_exit(0)


def _send_many(alice, bob, start, n, burst=100):
    """alice sends bob messages start..start+n-1 in bursts of `burst` (a
    client holds at most --max-pending 100 for one peer), each burst once
    the last was received."""
    for first in range(start, start + n, burst):
        mark = alice.mark()
        for i in range(first, min(first + burst, start + n)):
            alice.send("send bob m%05d" % i)
        alice.wait_count(">>> [Message received by bob.]", min(burst, start + n - first),
                         start=mark, timeout=60)
    bob.wait_count(re.compile(r">>> alice: m\d{5}"), n, start=0, timeout=60)


def test_a_no_history_store_stays_flat_over_20000_messages(ctx):
    s, c = ctx.chat(["alice"])
    alice = c["alice"]
    bob = ctx.client("bob", s, extra=["--no-history"])
    alice.expect(">>> [Client table updated.]")
    _send_many(alice, bob, 0, 10000)
    size = re.compile(re.escape(">>> [History: ") + r"(\d+) messages, 0 with their text, "
                      r"([\d.]+) (KiB|MiB) on disk; no texts kept \(--no-history\), ids 30 days\.\]")

    def held(proc):
        proc.send("history")
        m = size.fullmatch(proc.expect(size))
        kib = float(m.group(2)) * (1024 if m.group(3) == "MiB" else 1)
        return int(m.group(1)), kib

    count, first_kib = held(bob)
    check(count == 10000, "bob's store holds %d ids after 10,000 messages" % count)
    bob.send("quit")
    bob.expect_exit(0)
    # Thirty-one days later: the ids taken are moved back in bob's store.
    db = os.path.join(ctx.keys, "udpchat", "bob.db")
    con = sqlite3.connect(db)
    try:
        con.execute("UPDATE messages SET at_ms = at_ms - 31 * 86400000")
        con.commit()
    finally:
        con.close()
    bob = ctx.client("bob", s, port=bob.port, extra=["--no-history"], name="bob-later")
    # Pruned at start: the 10,000 old ids are gone.
    count, _ = held(bob)
    check(count == 0, "bob's store still holds %d ids 31 days old" % count)
    _send_many(alice, bob, 10000, 10000)
    count, last_kib = held(bob)
    check(count == 10000, "bob's store holds %d ids after 10,000 more" % count)
    check(last_kib <= first_kib * 1.1,
          "bob's store grew from %.0f KiB to %.0f KiB over 20,000 messages" % (first_kib, last_kib))
    shown = [l for l in bob.lines() if l.startswith(">>> alice: m")]
    check(len(shown) == len(set(shown)) == 10000, "bob showed %d lines (%d distinct)"
          % (len(shown), len(set(shown))))
