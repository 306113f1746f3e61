"""test_tables.py: table sync on real sockets (deltas and interest).

A server beyond its --full-table-limit: each client holds its own row and
looks up the others; `send` to a nickname not held works after one lookup;
`list` shows the rows held and a count; `list <prefix>` asks the server.
A message typed before the first table arrived (a script piping its
commands) is sent, not refused.
"""

import subprocess
import time

from harness import (LOOPBACK, TABLE, WELCOME, list_line, msg, received_by, unknown_client,
                     wait_registered)


def check_equal(actual, expected, what):
    if actual != expected:
        raise AssertionError("%s: expected %r, got %r" % (what, expected, actual))


def test_interest_lookup_and_list_prefix(ctx):
    server = ctx.server(extra=["--full-table-limit", "1"])
    names = ["alice", "bob", "carol", "dave"]
    c = {}
    for n in names:
        # alice's heartbeats (every 200 ms) bring her the server's count.
        extra = ["--heartbeat-ms", "200"] if n == "alice" else []
        c[n] = ctx.client(n, server, extra=extra)
    a = c["alice"]
    # Held: only its own row; a count line says how many there are, as of
    # alice's last heartbeat (every 200 ms: three of them pass here).
    time.sleep(0.6)
    mark = a.mark()
    a.send("list")
    a.expect(list_line("alice", a.port))
    a.expect(">>> [1 of 4 clients shown; list <prefix> finds more.]")
    check_equal(len(a.since(mark)), 2, "lines of 'list' at alice")
    # A send to a nickname not held: looked up, then sent directly.
    a.send("send carol hello through a lookup")
    a.expect(received_by("carol"))
    c["carol"].expect(msg("alice", "hello through a lookup"))
    a.send("send nobody hi")
    a.expect(unknown_client("nobody"))
    # list <prefix> asks the server (without regard to case).
    mark = a.mark()
    a.send("list D")
    a.expect(list_line("dave", c["dave"].port))
    a.expect(">>> [1 of 1 clients shown.]")
    check_equal(len(a.since(mark)), 2, "lines of 'list D' at alice")
    # The looked-up row is held now, and its changes are pushed.
    c["carol"].send("dereg")
    a.expect(TABLE)
    mark = a.mark()
    a.send("list")
    a.expect(list_line("carol", c["carol"].port, online=False))
    a.expect(">>> [2 of 4 clients shown; list <prefix> finds more.]")


def test_send_typed_before_the_first_table(ctx):
    server = ctx.server()
    b = ctx.client("bob", server)
    # alice's commands are all in her stdin before she even registers.
    port = ctx.free_port()
    proc = subprocess.run(
        [ctx.binary, "-c", "alice", LOOPBACK, str(server.port), str(port), "--bind", LOOPBACK],
        input="send bob typed before any table\n", capture_output=True, text=True, timeout=30)
    lines = proc.stdout.splitlines()
    check_equal(proc.returncode, 0, "exit status of alice")
    if WELCOME not in lines or ">>> [Message received by bob.]" not in lines:
        raise AssertionError("alice printed %r" % lines)
    b.expect(msg("alice", "typed before any table"))
