"""test_liveness.py: heartbeats and a client that survives its server
(manual §6.6), on real processes and sockets.

- A killed client is found out by its missing heartbeats: the others see
  it offline in their table.
- The server killed under live clients: each prints one line, keeps
  chatting directly, and comes back by itself when the server is
  restarted; a client that was frozen meanwhile (held offline, a message
  saved for it) registers again by itself and receives it, nobody typing
  anything but the messages.
- The server stopped with SIGTERM: the clients are told, keep running,
  and register again by themselves with the next server.
"""

import signal

from harness import (HAVE_MESSAGES, SAVED, SHUTTING_DOWN, TABLE, UNREACHABLE, WELCOME,
                     check, list_line, msg, received_by, stored)

FAST = ["--ack-timeout-ms", "100", "--heartbeat-ms", "300"]


def test_heartbeats_find_a_killed_client(ctx):
    server, c = ctx.chat(["alice", "bob"], client_extra=FAST)
    a, b = c["alice"], c["bob"]
    b.kill()
    # 3 intervals of 300 ms without a heartbeat, found by the next sweep
    # (every second): the table that says so reaches alice.
    a.expect(TABLE, timeout=10)
    a.send("list")
    a.expect(list_line("bob", b.port, online=False))
    server.expect(lambda l: "bob missed 3 heartbeats" in l, stream="err")


def test_server_killed_and_restarted_under_live_clients(ctx):
    server, c = ctx.chat(["alice", "bob", "carol"], server_extra=FAST[:2], client_extra=FAST)
    a, b, k = c["alice"], c["bob"], c["carol"]
    # bob freezes: his heartbeats stop, the server marks him offline, and
    # alice's message for him is saved (it never reaches his socket).
    b.signal(signal.SIGSTOP)
    a.expect(TABLE, timeout=10)
    a.send("send bob kept for you")
    a.expect(SAVED)
    server.kill()
    for p in (a, k):
        p.expect(UNREACHABLE, timeout=10)  # their heartbeats went unanswered
    # Chat goes on directly while the server is away.
    a.send("send carol the server is down")
    a.expect(received_by("carol"))
    k.expect(msg("alice", "the server is down"))

    ctx.server(port=server.port, data_dir=server.data_dir, extra=FAST[:2])
    for p in (a, k):
        p.expect(WELCOME, timeout=40)  # nobody typed: they registered by themselves
    # bob wakes up: the server holds him offline; he registers again by
    # himself and receives what was saved for him.
    b.signal(signal.SIGCONT)
    b.expect(WELCOME, timeout=40)
    b.expect(HAVE_MESSAGES, timeout=10)
    b.expect(stored("alice", "kept for you"))
    for p in (a, k):
        check(p.count(UNREACHABLE) == 1, "%s printed the unreachable line %d times"
              % (p.nick, p.count(UNREACHABLE)))
    a.send("send bob welcome back")
    a.expect(received_by("bob"))
    b.expect(msg("alice", "welcome back"))


def test_server_sigterm_then_a_new_server(ctx):
    server, c = ctx.chat(["alice", "bob"], client_extra=FAST)
    a, b = c["alice"], c["bob"]
    server.signal(signal.SIGTERM)
    for p in (a, b):
        p.expect(SHUTTING_DOWN)
        p.expect(UNREACHABLE)
    server.expect_exit(0)
    check(a.alive() and b.alive(), "a client ended with its server")
    ctx.server(port=server.port, data_dir=server.data_dir)
    for p in (a, b):
        p.expect(WELCOME, timeout=40)
    a.send("send bob after the restart")
    a.expect(received_by("bob"))
    b.expect(msg("alice", "after the restart"))
