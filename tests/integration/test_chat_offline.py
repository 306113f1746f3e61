"""test_chat_offline.py: messages for a client that is offline, real
processes on 127.0.0.1: saved by the server and shown, each once with its
timestamp, when the client registers again (after dereg, after it was
killed); kept by a server killed right after saving them; a client whose
server does not answer at all, or dies and comes back.

Each test_* function takes a harness.Context (fresh temporary directory, fresh
ports) and asserts the exact lines of manual §4. run_integration.py runs
them one after the other and stops every process a test started, whatever
happened. Every wait has a deadline, and no test sleeps: a line that must
NOT come is checked after a later event it would have come before (a marker
message, an ack, a table broadcast).
"""

import re

from harness import (
    BYE, EXITING, HAVE_MESSAGES, NOT_REGISTERED, NOT_RESPONDING, SAVED, TABLE, UNREACHABLE,
    WELCOME, check, check_absent, check_equal, direct, expect_stored, list_line, msg,
    no_ack, received_by, stored, wait_registered,
)


# ---------------------------------------------------------------------------
# 3

def test_dereg_then_reg_gets_stored_messages(ctx):
    server, c = ctx.chat(["alice", "bob", "carol"])
    a, b, k = c["alice"], c["bob"], c["carol"]

    k.send("dereg carol")
    k.expect(BYE)
    a.expect(TABLE)
    b.expect(TABLE)
    a.send("list")
    a.expect(list_line("carol", k.port, online=False))

    offline_mark = k.mark()
    k.send("send alice I am offline")
    k.expect_next(NOT_REGISTERED)

    texts = [("alice", "first while you were away"),
             ("alice", "second  one,  with  spaces"),
             ("bob", "bob here: 你好 😀")]
    for sender, text in texts:
        c[sender].send("send carol " + text)
        c[sender].expect(SAVED)
    for p in (a, b):
        check_absent(p, re.compile(r">>> \[No ACK from .*"))
        check_absent(p, received_by("carol"))
    check_equal(k.since(offline_mark), [NOT_REGISTERED],
                "carol's lines while deregistered")

    k.send("reg carol")
    wait_registered(k, stored_messages=True)
    for sender, text in texts:
        expect_stored(k, sender, text)
    a.expect(TABLE)
    b.expect(TABLE)
    for sender, text in texts:
        check_equal(k.count(stored(sender, text)), 1, "carol: copies of %r" % text)
        check_absent(k, msg(sender, text))

    # Online again: direct messages work.
    direct(a, k, "welcome back")
    direct(k, b, "thanks")

    # Second cycle: the stored messages were deleted after delivery.
    k.send("dereg")  # alone, as the classic program takes it
    k.expect(BYE)
    a.expect(TABLE)
    b.expect(TABLE)
    mark = k.mark()
    k.send("reg carol")
    wait_registered(k)
    a.expect(TABLE)
    check_absent(k, HAVE_MESSAGES, start=mark)
    check_absent(k, re.compile(r">>> (alice|bob): .*"), start=mark)
    check_equal(k.count(HAVE_MESSAGES), 1, "carol: number of [You Have Messages]")


# ---------------------------------------------------------------------------
# 4

def test_killed_client_messages_saved_and_delivered_on_restart(ctx):
    server, c = ctx.chat(["alice", "bob", "carol"])
    a, b, k = c["alice"], c["bob"], c["carol"]
    k.kill()

    a.send("send carol are you there?")
    a.expect(no_ack("carol"))
    a.expect_all([TABLE, SAVED])
    b.expect(TABLE)  # carol now offline in bob's table too

    b_mark = b.mark()
    b.send("send carol bob was here")
    b.expect(SAVED)
    check_absent(b, no_ack("carol"), start=b_mark)
    a.send("list")
    a.expect(list_line("carol", k.port, online=False))

    k2 = ctx.client("carol", server, port=k.port, wait=False)
    wait_registered(k2, stored_messages=True)
    expect_stored(k2, "alice", "are you there?")
    expect_stored(k2, "bob", "bob was here")
    a.expect(TABLE)
    b.expect(TABLE)
    direct(a, k2, "good to see you")
    direct(k2, b, "hi bob")
    check_equal(k2.count(stored("alice", "are you there?")), 1, "carol: copies of alice's")
    check_equal(k2.count(stored("bob", "bob was here")), 1, "carol: copies of bob's")
    check_equal(k2.count(HAVE_MESSAGES), 1, "carol: number of [You Have Messages]")
    check_equal(a.count(no_ack("carol")), 1, "alice: number of No ACK lines")


# ---------------------------------------------------------------------------
# 5

def test_server_killed_after_saves_keeps_them(ctx):
    n = 20
    server, c = ctx.chat(["alice", "bob"])
    a, b = c["alice"], c["bob"]
    b.send("dereg bob")
    b.expect(BYE)
    a.expect(TABLE)

    texts = ["saved message %02d" % i for i in range(1, n + 1)]
    for t in texts:
        a.send("send bob " + t)
    for _ in texts:
        a.expect(SAVED)
    server.kill()  # right after the last acknowledgement

    server2 = ctx.server(port=server.port, data_dir=server.data_dir)
    b.send("reg bob")
    wait_registered(b, stored_messages=True)
    for t in texts:
        expect_stored(b, "alice", t)
    a.expect(TABLE)  # the restarted server still knows alice: she hears bob come back
    direct(a, b, "after the restart")
    direct(b, a, "got them all")
    shown = [l for l in b.lines() if l.startswith(">>> alice: ")]
    check_equal(len(shown), n + 1, "number of lines from alice at bob")
    for line, t in zip(shown, texts):
        check(stored("alice", t).fullmatch(line), "bob: expected %r in order, got %r" % (t, line))
    check_equal(a.count(SAVED), n, "alice: number of saves")
    check(server2.alive(), "the restarted server exited")


# ---------------------------------------------------------------------------
# 7

def test_server_not_responding(ctx):
    # No server at all: 5 tries 100 ms apart, then the two lines and exit 1.
    nobody = ctx.free_port()
    lone = ctx.client("lonely", nobody, extra=["--ack-timeout-ms", "100"], wait=False)
    lone.expect(NOT_RESPONDING)
    lone.expect_next(EXITING)
    lone.expect_exit(1)
    check_absent(lone, WELCOME)

    # A server that dies: the clients keep running (manual §6.6); what
    # needs the server waits for it, and goes on when it is back.
    fast = ["--ack-timeout-ms", "100"]
    server, c = ctx.chat(["alice", "bob", "carol"], client_extra=fast)
    a, b, k = c["alice"], c["bob"], c["carol"]
    b.send("dereg bob")
    b.expect(BYE)
    a.expect(TABLE)
    k.expect(TABLE)
    server.kill()

    a.send("send bob anyone?")  # bob is offline in alice's table: to the server
    a.expect(">>> [Message for bob kept until the server is back.]")
    a.expect(UNREACHABLE)
    check_absent(a, NOT_RESPONDING)
    check_absent(a, SAVED)
    check(a.alive(), "alice ended when her server died")

    k.send("dereg carol")
    k.expect(">>> [Server unreachable: you are offline here only.]")
    check_absent(k, BYE)
    check(k.alive(), "carol ended when her server died")

    ctx.server(port=server.port, data_dir=server.data_dir)
    a.expect(WELCOME, timeout=40)  # by herself: the restarted server pings her
    a.expect(SAVED)
    check_equal(a.count(UNREACHABLE), 1, "unreachable lines at alice")
