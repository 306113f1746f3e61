"""test_chat.py: udpchat run for real, server and clients on 127.0.0.1.

Each test_* function takes a harness.Context (fresh temporary directory, fresh
ports) and asserts the exact lines of manual §4. run_integration.py runs
them one after the other and stops every process a test started, whatever
happened. Every wait has a deadline, and no test sleeps: a line that must
NOT come is checked after a later event it would have come before (a marker
message, an ack, a table broadcast).
"""

import datetime
import re
import signal
import time

from harness import (
    BYE, EXITING, HAVE_MESSAGES, NOT_REGISTERED, NOT_RESPONDING, NOT_UTF8,
    SAVED, SERVER_START, SHUTTING_DOWN, TABLE, UNREACHABLE, USAGE_SEND, WELCOME,
    check, check_absent, check_equal, check_once,
    in_use, list_line, msg, no_ack, received_by,
    stored, too_long, unknown_client, unknown_command, wait_registered,
)

def direct(sender, receiver, text):
    """sender types send; sender sees the ack, receiver sees the message."""
    sender.send("send %s %s" % (receiver.nick, text))
    sender.expect(received_by(receiver.nick))
    receiver.expect(msg(sender.nick, text))


def expect_stored(proc, sender, text):
    """A stored message with a plausible timestamp (the saving time, in local
    time: within a few minutes of now)."""
    line = proc.expect(stored(sender, text))
    stamp = stored(sender, text).fullmatch(line).group(1)
    when = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
    skew = abs((datetime.datetime.now() - when).total_seconds())
    check(skew < 300, "%s: timestamp %s of %r is %.0f s away from now (local time)" % (
        proc.name, stamp, text, skew))
    return line


def marker(sender, receiver, text="marker"):
    """Send a last message and wait for it: since a send to a peer waits for
    the outcome of the previous send to that peer, anything sent before it
    would have been shown before it. Returns the receiver's index of it."""
    direct(sender, receiver, text)
    return receiver.cursor() - 1


# ---------------------------------------------------------------------------
# 1

def test_three_clients_chat(ctx):
    """Each pair, both directions: ack at the sender, message at the
    receiver, each exactly once; one sender's messages in the order typed."""
    server, c = ctx.chat(["alice", "bob", "carol"])
    sent = []
    for s in ("alice", "bob", "carol"):
        for r in ("alice", "bob", "carol"):
            if s != r:
                text = "hello %s, this is %s" % (r, s)
                direct(c[s], c[r], text)
                sent.append((s, r, text))

    # Sends to different peers in flight at once.
    c["alice"].send("send bob to bob at once")
    c["alice"].send("send carol to carol at once")
    c["alice"].expect_all([received_by("bob"), received_by("carol")])
    c["bob"].expect(msg("alice", "to bob at once"))
    c["carol"].expect(msg("alice", "to carol at once"))
    sent += [("alice", "bob", "to bob at once"), ("alice", "carol", "to carol at once")]

    # Five messages typed at once to one peer arrive in the order typed.
    burst = ["burst %d" % i for i in range(1, 6)]
    for text in burst:
        c["bob"].send("send carol " + text)
    for text in burst:
        c["bob"].expect(received_by("carol"))
        c["carol"].expect(msg("bob", text))
    sent += [("bob", "carol", t) for t in burst]
    shown = [l for l in c["carol"].lines() if l.startswith(">>> bob: burst ")]
    check_equal(shown, [msg("bob", t) for t in burst], "carol's burst from bob")

    # A duplicate (a retransmission) of any earlier message would have been
    # sent before that message's ack, so before each pair's marker below:
    # once every marker has arrived, every duplicate would have too.
    for s, r in sorted({(s, r) for s, r, _ in sent}):
        marker(c[s], c[r], "marker from %s" % s)
        sent.append((s, r, "marker from %s" % s))
    for s, r, text in sent:
        check_once(c[r], msg(s, text))
    for s in c:
        for r in c:
            if s != r:
                n_sent = sum(1 for (a, b, _) in sent if a == s and b == r)
                check_equal(c[s].count(received_by(r)), n_sent,
                            "%s: number of %r lines" % (s, received_by(r)))
        check_absent(c[s], re.compile(r">>> \[No ACK from .*"))
        check_absent(c[s], SAVED)


# ---------------------------------------------------------------------------
# 2

def test_list_help_and_mistakes(ctx):
    server, c = ctx.chat(["alice", "bob", "carol"])
    a, b = c["alice"], c["bob"]
    expected_list = [list_line(n, c[n].port) for n in ("alice", "bob", "carol")]

    for cmd in ("list", "who"):
        start = a.cursor()
        a.send(cmd)
        for line in expected_list:
            a.expect(line)
        check_equal(a.lines()[start:a.cursor()], expected_list, "alice's %r output" % cmd)

    # help: several lines, one of them names send <nick> <message>. The list
    # typed after it bounds its output.
    start = a.cursor()
    a.send("help")
    a.send("list")
    end = a.expect_index(expected_list[0])
    help_lines = a.lines()[start:end]
    check(len(help_lines) >= 2, "help printed %d line(s): %r" % (len(help_lines), help_lines))
    check(all(l.startswith(">>> ") for l in help_lines),
          "help lines must start with '>>> ': %r" % help_lines)
    check(any("send <nick> <message>" in l for l in help_lines),
          "no help line contains 'send <nick> <message>': %r" % help_lines)
    for line in expected_list[1:]:
        a.expect(line)

    b_mark = b.mark()
    a.send("frobnicate now")
    a.expect_next(unknown_command("frobnicate"))
    a.send("send")
    a.expect_next(USAGE_SEND)
    a.send("send bob")
    a.expect_next(USAGE_SEND)
    a.send("send zed hello zed")
    a.expect_next(unknown_client("zed"))

    # dereg of someone else's nickname: exactly one line, and nothing changes.
    start = a.cursor()
    a.send("dereg bob")
    a.send("list")
    end = a.expect_index(expected_list[0])
    reply = a.lines()[start:end]
    check(len(reply) == 1 and reply[0].startswith(">>> "),
          "'dereg bob' typed by alice: expected exactly one '>>> ' line, got %r" % reply)
    check(reply[0] != WELCOME and reply[0] != ">>> [You are Offline. Bye.]",
          "'dereg bob' typed by alice printed %r" % reply[0])
    for line in expected_list[1:]:
        a.expect(line)

    # Nothing of the mistakes reached bob; both still chat.
    first = marker(a, b, "still here")
    check_equal(b.since(b_mark)[:first - b_mark + 1], [msg("alice", "still here")],
                "bob's lines after alice's mistakes")
    direct(b, a, "me too")
    for p in c.values():
        check_absent(p, TABLE, start=p.cursor())  # nobody was deregistered
    check_absent(b, BYE)


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
# 6

def test_duplicate_nickname_refused(ctx):
    server, c = ctx.chat(["alice", "bob"])
    a, b = c["alice"], c["bob"]
    for nick in ("ALICE", "alice", "Alice"):
        # The same key file as alice's (nicknames are case-insensitive): the
        # store it holds refuses a second process at once, with the line the
        # server would have sent (another key: test_nickname_belongs_to_its_key).
        dup = ctx.client(nick, server, wait=False)
        dup.expect(in_use(nick))
        dup.expect(re.compile(r"udpchat: .*alice\.db is open in another udpchat client "
                              r"\(the same key file twice\)"), stream="err")
        dup.expect_exit(1)
        check_absent(dup, WELCOME)
    direct(a, b, "I am still alice")
    direct(b, a, "yes you are")
    a.send("list")
    a.expect(list_line("alice", a.port))
    a.expect(list_line("bob", b.port))
    for p in (a, b):
        check_absent(p, re.compile(r">>> (ALICE|Alice) .*"))
        check_absent(p, BYE)


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


# ---------------------------------------------------------------------------
# 8

def test_utf8_and_message_limits(ctx):
    server, c = ctx.chat(["alice", "bob"])
    a, b = c["alice"], c["bob"]
    for text in ("你好，世界。中文消息",
                 "emoji 😀🎉👍🏽 and 🇫🇷",
                 "repeated   spaces    kept",
                 "   leading spaces",
                 "trailing spaces   ",
                 "mixed: ünïcödé Ελληνικά русский 日本語 한국어",
                 "quotes \" and backslash \\ and {json}: [1,2]"):
        direct(a, b, text)
    for text in ("x" * 1000, '"' * 1000, "😀" * 250, "é" * 500):
        check_equal(len(text.encode("utf-8")), 1000, "test data size")
        direct(a, b, text)
        direct(b, a, text)

    b_mark = b.mark()
    a.send("send bob " + "y" * 1001)
    a.expect_next(too_long(1001))
    a.send("send bob " + "€" * 333 + "ab")  # 999 + 2 bytes
    a.expect_next(too_long(1001))
    a.send("send bob " + "😀" * 300)
    a.expect_next(too_long(1200))
    for raw in (b"send bob bad \xff\xfe bytes\n",
                b"send bob \xc0\xaf overlong slash\n",
                b"send bob \xed\xa0\x80 surrogate\n",
                b"send bob truncated \xe4\xbd\n"):
        a.send(raw)
        a.expect_next(NOT_UTF8)
    idx = marker(a, b, "after the refused ones")
    check_equal(b.lines()[b_mark:idx + 1], [msg("alice", "after the refused ones")],
                "bob's lines after the refused messages")
    for p in (a, b):
        check_absent(p, re.compile(r">>> \[No ACK from .*"))


# ---------------------------------------------------------------------------
# 9

def test_quit_eof_and_signals_deregister(ctx):
    server, c = ctx.chat(["alice", "bob", "carol", "dave", "erin", "frank"])
    a = c["alice"]
    ways = [("bob", lambda p: p.send("quit")),
            ("carol", lambda p: p.send("exit")),
            ("dave", lambda p: p.close_stdin()),
            ("erin", lambda p: p.signal(signal.SIGINT)),
            ("frank", lambda p: p.signal(signal.SIGTERM))]
    for nick, leave in ways:
        p = c[nick]
        leave(p)
        p.expect(BYE)
        p.expect_exit(0)
        a.expect(TABLE)
    a.send("list")
    a.expect(list_line("alice", a.port))
    for nick, _ in ways:
        a.expect(list_line(nick, c[nick].port, online=False))
    # Messages to them are now saved by the server.
    a.send("send bob see you later")
    a.expect(SAVED)
    check_absent(a, re.compile(r">>> \[No ACK from .*"))


# ---------------------------------------------------------------------------
# 10

def test_usage_errors(ctx):
    """Exit status 2 and a message on stderr whose first line names the
    argument and the rule (words checked in that line, so that a usage
    synopsis printed after it does not count)."""
    sp, cp = str(ctx.free_port()), str(ctx.free_port())
    data = ["--data-dir", ctx.data_dir(), "--bind", "127.0.0.1"]
    bind = ["--bind", "127.0.0.1"]
    cases = [
        ("no arguments", [], None),
        ("server port 80", ["-s", "80"] + data, ["port", "1024", "65535", "80"]),
        ("server port 1023", ["-s", "1023"] + data, ["port", "1024", "65535", "1023"]),
        ("server port 70000", ["-s", "70000"] + data, ["port", "1024", "65535", "70000"]),
        ("server port 65536", ["-s", "65536"] + data, ["port", "1024", "65535", "65536"]),
        ("server port abc", ["-s", "abc"] + data, ["port"]),
        ("server without port", ["-s"] + data, None),
        ("client port 80", ["-c", "alice", "127.0.0.1", sp, "80"] + bind,
         ["client port", "1024", "65535"]),
        ("client port 70000", ["-c", "alice", "127.0.0.1", sp, "70000"] + bind,
         ["client port", "1024", "65535"]),
        ("server port 70000 (client)", ["-c", "alice", "127.0.0.1", "70000", cp] + bind,
         ["server port", "1024", "65535"]),
        ("client port abc", ["-c", "alice", "127.0.0.1", sp, "abc"] + bind, ["client port"]),
        ("nickname with a space", ["-c", "al ice", "127.0.0.1", sp, cp] + bind, ["nick"]),
        ("nickname with !", ["-c", "al!ce", "127.0.0.1", sp, cp] + bind, ["nick"]),
        ("nickname with a non-ASCII letter", ["-c", "alicé", "127.0.0.1", sp, cp] + bind, ["nick"]),
        ("nickname of 33 characters", ["-c", "a" * 33, "127.0.0.1", sp, cp] + bind, ["nick"]),
        ("empty nickname", ["-c", "", "127.0.0.1", sp, cp] + bind, ["nick"]),
        ("-c missing the client port", ["-c", "alice", "127.0.0.1", sp] + bind, None),
        ("-c with no argument", ["-c"], None),
        ("unknown option", ["-s", sp, "--no-such-option"] + data, None),
    ]
    failures = []
    for what, args, words in cases:
        r = ctx.run(args, name=what)
        problems = []
        if r.rc != 2:
            problems.append("exit status %s, expected 2" % r.rc)
        if not r.err.strip():
            problems.append("nothing on stderr")
        first = next((l for l in r.err.splitlines() if l.strip()), "")
        said = first.lower().replace("-", " ").replace("_", " ")
        for w in words or ():
            if w not in said:
                problems.append("the first line of stderr does not mention %r" % w)
        if ">>> [Welcome" in r.out or "listening on" in r.out:
            problems.append("it started anyway")
        if problems:
            failures.append("%s (%s): %s; stderr: %r" % (
                what, " ".join(args), ", ".join(problems), r.err.strip()[:300]))
    for what, args in (("--help", ["--help"]), ("--version", ["--version"])):
        r = ctx.run(args, name=what)
        if r.rc != 0 or not r.out.strip():
            failures.append("%s: exit status %s, %d bytes on stdout (expected 0 and some text)" % (
                what, r.rc, len(r.out)))
    check(not failures, "usage checks failed:\n  " + "\n  ".join(failures))


# ---------------------------------------------------------------------------
# 11

def test_port_already_bound(ctx):
    server = ctx.server()
    _, taken = ctx.hold_port()
    cl = ctx.client("alice", server, port=taken, wait=False)
    cl.expect_exit(1)
    check(any(l.strip() for l in cl.err_lines()), "alice: nothing on stderr")
    check_absent(cl, WELCOME)

    _, taken2 = ctx.hold_port()
    s2 = ctx.server(port=taken2, data_dir=ctx.data_dir("data2"), wait=False)
    s2.expect_exit(1)
    check(any(l.strip() for l in s2.err_lines()), "server#2: nothing on stderr")
    check_absent(s2, SERVER_START)

    # The first server is unaffected.
    bob = ctx.client("bob", server)
    bob.send("list")
    bob.expect(list_line("bob", bob.port))


# ---------------------------------------------------------------------------
# 12

def test_server_sigterm_and_sigint(ctx):
    """SIGTERM/SIGINT: clients are told, the server prints its statistics
    and exits 0 (manual §6)."""
    # Short timeouts: at the end, the clients outlive their server.
    fast = ["--ack-timeout-ms", "100"]
    server, c = ctx.chat(["alice", "bob"], client_extra=fast)
    direct(c["alice"], c["bob"], "one for the statistics")
    check_equal(len(server.lines()), 1, "server stdout lines while running")
    server.signal(signal.SIGTERM)
    for p in c.values():
        p.expect(SHUTTING_DOWN)
    server.expect_exit(0)
    check(len(server.lines()) > 1, "server printed no statistics on stdout at SIGTERM")

    s2 = ctx.server(data_dir=ctx.data_dir("data2"))
    dave = ctx.client("dave", s2, extra=fast)
    s2.signal(signal.SIGINT)
    dave.expect(SHUTTING_DOWN)
    s2.expect_exit(0)
    check(len(s2.lines()) > 1, "server printed no statistics on stdout at SIGINT")
