"""test_start_and_exit.py: how udpchat starts and ends, real processes on
127.0.0.1: a client leaving by quit, exit, end of input, SIGINT or SIGTERM
deregisters; command-line mistakes exit with status 2 and a message naming
the argument; a port already bound; a server stopped by SIGTERM or SIGINT
tells its clients and prints its statistics.

Each test_* function takes a harness.Context (fresh temporary directory, fresh
ports) and asserts the exact lines of manual §4. run_integration.py runs
them one after the other and stops every process a test started, whatever
happened. Every wait has a deadline, and no test sleeps: a line that must
NOT come is checked after a later event it would have come before (a marker
message, an ack, a table broadcast).
"""

import re
import signal

from harness import (
    BYE, SAVED, SERVER_START, SHUTTING_DOWN, TABLE, WELCOME, check, check_absent,
    check_equal, direct, list_line,
)


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
