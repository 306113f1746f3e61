"""test_chat.py: udpchat run for real, server and clients on 127.0.0.1,
everyone online: each pair of three clients both ways, sends in flight to
two peers at once, a burst to one peer shown in the order typed, and no
message shown twice; list, who, help and typing mistakes; a nickname
already in use; text in any script, and the 1000-byte limit of a message.
The numbered sections are the twelve scenarios, now split across
test_chat.py, test_chat_offline.py and test_start_and_exit.py.

Each test_* function takes a harness.Context (fresh temporary directory, fresh
ports) and asserts the exact lines of manual §4. run_integration.py runs
them one after the other and stops every process a test started, whatever
happened. Every wait has a deadline, and no test sleeps: a line that must
NOT come is checked after a later event it would have come before (a marker
message, an ack, a table broadcast).
"""

import re

from harness import (
    BYE, NOT_UTF8, SAVED, TABLE, USAGE_SEND, WELCOME, check, check_absent, check_equal,
    check_once, direct, in_use, list_line, marker, msg, received_by, too_long,
    unknown_client, unknown_command,
)


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
