#!/usr/bin/env python3
"""demo_cluster.py: two udpchat servers serving one user base on one
PostgreSQL (docs/CLUSTER.md), on loopback.

    python3 examples/demo_cluster.py [--binary PATH]

Starts a throw-away PostgreSQL (initdb in a temporary directory, a Unix
socket only; removed at the end), two servers on it (each with its own data
directory, one key between them), alice and carol at the first server and
bob at the second, and shows: every table and `list` holding the clients of
both servers, direct messages across servers, the channel reaching the
members of both, and messages saved through the first server for an offline
bob reaching him when he registers with the first server this time.

As in demo.py, every line each process prints is shown as it comes, and the
demo waits for each expected line with a deadline; it exits 0 at the end, or
1 with a clear message if an expected line did not come.
"""

import os
import re
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, HERE)

import harness  # noqa: E402
import demo  # noqa: E402
from demo import channel, say, send, step  # noqa: E402
from harness import BYE, SAVED, TABLE, expect_stored, list_line, wait_registered  # noqa: E402

BY_SERVER = ">>> [Message received by Server.]"


def run(ctx):
    step("A throw-away PostgreSQL, and two servers on it")
    pg = ctx.postgresql()
    say("PostgreSQL: %s" % pg.uri())
    store = ["--store", pg.uri(), "--log-level", "info"]
    s0 = ctx.server(extra=store, data_dir=ctx.data_dir("server0"), name="srv0")
    s1 = ctx.server(extra=store, data_dir=ctx.data_dir("server1"), name="srv1")
    s1.expect(re.compile(r".*server key [0-9a-f]{64} \(the cluster's, kept in PostgreSQL\)"),
              stream="err")
    say("(both servers answer with one key: the first server's, kept in PostgreSQL)")

    step("alice and carol register with the first server, bob with the second")
    alice = ctx.client("alice", s0)
    bob = ctx.client("bob", s1)
    alice.expect(TABLE)
    carol = ctx.client("carol", s0)
    alice.expect(TABLE)
    bob.expect(TABLE)

    step("Every table holds the clients of both servers")
    for who in (alice, bob):
        who.send("list")
        for nick, c in (("alice", alice), ("bob", bob), ("carol", carol)):
            who.expect(list_line(nick, c.port))

    step("Direct messages between clients of different servers")
    send(alice, bob, "hi bob, I am on the other server")
    send(bob, carol, "hello carol, 你好 😀")

    step("The channel reaches the members on both servers, each once")
    alice.send("send_all meeting at noon")
    alice.expect(BY_SERVER)
    bob.expect(channel("alice", "meeting at noon"))
    carol.expect(channel("alice", "meeting at noon"))

    step("bob goes offline; alice's messages are saved through the first server")
    bob.send("dereg bob")
    bob.expect(BYE)
    alice.expect(TABLE)
    for text in ("are you there?", "call me when you are back"):
        alice.send("send bob " + text)
        alice.expect(SAVED)
    bob.send("quit")
    bob.expect_exit(0)

    step("bob comes back through the first server this time, and gets them")
    bob2 = ctx.client("bob", s0, wait=False, name="bob")
    wait_registered(bob2, stored_messages=True)
    expect_stored(bob2, "alice", "are you there?")
    expect_stored(bob2, "alice", "call me when you are back")
    send(bob2, alice, "back, on your server now")

    step("Everyone quits, then the servers stop")
    for c in (alice, carol, bob2):
        c.send("quit")
        c.expect(BYE)
        c.expect_exit(0)
    for s in (s0, s1):
        s.signal(signal.SIGTERM)
        s.expect_exit(0)


if __name__ == "__main__":
    sys.exit(demo.main(tour=run, description="two udpchat servers on one PostgreSQL",
                       finished="Cluster demo finished"))
