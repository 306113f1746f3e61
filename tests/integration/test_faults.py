"""test_faults.py: crashes and storage faults on real processes (issue 3).

- The server killed with SIGKILL in the middle of a stream of saves: every
  message it acknowledged is delivered after its restart, once, in order.
- A recipient killed in the middle of receiving its stored messages: it gets
  the rest next time, and nothing twice.
- A disk that fills up (a small tmpfs mounted by the test; root only): each
  refused save is one clear line at the sender and an ERROR log line at the
  server; what was stored before is delivered; chat goes on; saves work
  again once there is space.
- A data directory on a read-only file system: the server refuses to start
  with a clear error (exit 1).

Mounting needs root; without it the two storage tests are skipped.
"""

import os
import re
import signal
import subprocess

from harness import (BYE, SAVED, TABLE, UNREACHABLE, WELCOME, Skip, check, check_equal,
                     expect_stored, msg, received_by, stored, wait_registered)


def _mount_tmpfs(path, size):
    if os.geteuid() != 0:
        raise Skip("mounting a tmpfs needs root")
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise Skip("cannot mount a tmpfs here: " + r.stderr.strip())


def _umount(path):
    subprocess.run(["umount", "-l", path], capture_output=True)


def _remount(path, options):
    r = subprocess.run(["mount", "-o", "remount," + options, path], capture_output=True, text=True)
    check(r.returncode == 0, "remount %s %s: %s" % (options, path, r.stderr))


def _acked_order(a, n_typed):
    """Indexes (0-based) of the messages alice typed to one offline peer that
    the server acknowledged. Sends to one peer complete in order, so the
    k-th outcome line belongs to the k-th message."""
    outcomes = [l for l in a.lines()
                if l == SAVED or l.startswith(">>> [Server could not save")
                or l == ">>> [Server not responding]"]
    acked = [i for i, l in enumerate(outcomes[:n_typed]) if l == SAVED]
    return acked


def test_server_killed_during_a_stream_of_saves(ctx):
    n = 120
    server, c = ctx.chat(["alice", "bob"], client_extra=["--max-pending", "1000"])
    a, b = c["alice"], c["bob"]
    b.send("dereg bob")
    b.expect(BYE)
    a.expect(TABLE)
    texts = ["stream %03d" % i for i in range(n)]
    for t in texts:
        a.send("send bob " + t)
    # Kill it mid-stream: after a third of the acknowledgements.
    for _ in range(n // 3):
        a.expect(SAVED)
    server.kill()
    # alice's save in flight is unanswered: she is told, and keeps running
    # (manual §6.6), holding the rest.
    a.expect(UNREACHABLE, timeout=20)
    acked = _acked_order(a, n)
    check(len(acked) >= n // 3, "alice saw %d acknowledgements" % len(acked))
    check_equal(acked, list(range(len(acked))), "acknowledged messages are a prefix")
    check(a.alive(), "alice ended when her server died")

    ctx.server(port=server.port, data_dir=server.data_dir)
    # She comes back by herself and every message ends saved, in order.
    a.expect(WELCOME, timeout=40)
    _expect_count(a, SAVED, n, timeout=60)
    mark = b.mark()
    b.send("reg bob")
    wait_registered(b, stored_messages=True)
    expect_stored(b, "alice", texts[-1])
    # Nothing comes twice and the order holds; nothing is missing.
    b.send("list")
    b.expect(re.compile(r">>> bob 127\.0\.0\.1:\d+ online"))
    shown = [l for l in b.since(mark) if l.startswith(">>> alice: ")]
    got = [int(re.search(r"stream (\d+)$", l).group(1)) for l in shown]
    check_equal(got, list(range(n)), "stored messages at bob: all, each once, in order")


def _expect_count(p, line, n, timeout):
    """Waits until `p` printed `line` `n` times in all (the predicate runs
    under the output lock: it counts by itself)."""
    seen = [p.lines()[:p.cursor()].count(line)]
    if seen[0] >= n:
        return

    def enough(l):
        seen[0] += l == line
        return seen[0] >= n

    p.expect(enough, timeout=timeout)


def test_server_killed_during_concurrent_saves(ctx):
    """Six senders stream saves at once (the store writer commits them in
    groups); the server is SIGKILLed mid-flood. Every save any sender saw
    acknowledged is delivered after the restart, each once, in order."""
    n, senders = 100, ["s%d" % i for i in range(6)]
    server, c = ctx.chat(["bob"] + senders, client_extra=["--max-pending", "1000"])
    b = c["bob"]
    b.send("dereg bob")
    b.expect(BYE)
    for s in senders:
        c[s].expect(TABLE)
    for i in range(n):
        for s in senders:
            c[s].send("send bob %s flood %03d" % (s, i))
    # Kill it once every sender has a fifth of its saves acknowledged (each
    # wait has the harness's deadline).
    for s in senders:
        for _ in range(n // 5):
            c[s].expect(SAVED)
    server.kill()
    acked = {}
    for s in senders:
        c[s].expect(UNREACHABLE, timeout=20)
        acked[s] = _acked_order(c[s], n)
        check_equal(acked[s], list(range(len(acked[s]))), "%s: acknowledged are a prefix" % s)
    total = sum(len(v) for v in acked.values())
    print("    %d saves acknowledged before the kill, by %d senders" % (total, len(senders)))

    ctx.server(port=server.port, data_dir=server.data_dir)
    # Every sender comes back by itself and ends with all its saves acked.
    for s in senders:
        c[s].expect(WELCOME, timeout=40)
        _expect_count(c[s], SAVED, n, timeout=60)
    mark = b.mark()
    b.send("reg bob")
    wait_registered(b, stored_messages=True)
    missing = {"%s: " % s: set(range(n)) for s in senders}

    def all_shown(line):
        for prefix, want in missing.items():
            hit = re.search(r"flood (\d+)$", line)
            if line.startswith(">>> " + prefix) and hit:
                want.discard(int(hit.group(1)))
        return not any(missing.values())

    for line in b.since(mark):
        all_shown(line)
    if any(missing.values()):
        b.expect(all_shown, timeout=60)
    # A marker after them: nothing else of theirs is still on its way twice.
    b.send("list")
    b.expect(re.compile(r">>> bob 127\.0\.0\.1:\d+ online"))
    shown = [l for l in b.since(mark) if re.match(r">>> s\d: ", l)]
    for s in senders:
        got = [int(re.search(r"flood (\d+)$", l).group(1)) for l in shown
               if l.startswith(">>> %s: " % s)]
        check_equal(got, list(range(n)), "%s's messages at bob: all, each once, in order" % s)


def test_recipient_killed_while_receiving_stored_messages(ctx):
    n = 200
    server, c = ctx.chat(["alice", "bob"], client_extra=["--max-pending", "1000"])
    a, b = c["alice"], c["bob"]
    bob_port = b.port
    b.send("dereg bob")
    b.expect(BYE)
    a.expect(TABLE)
    texts = ["kept %03d" % i for i in range(n)]
    mark = a.mark()
    for t in texts:
        a.send("send bob " + t)
    outcomes = a.wait_lines(n, start=mark, timeout=60)[:n]
    check_equal(outcomes, [SAVED] * n, "alice's outcomes")
    b.send("reg bob")
    wait_registered(b, stored_messages=True)
    expect_stored(b, "alice", texts[19])
    # Freeze it at once, then kill it: in the middle of the delivery (on
    # loopback the rest would otherwise arrive within milliseconds).
    b.signal(signal.SIGSTOP)
    b.kill()
    first = [l for l in b.lines() if l.startswith(">>> alice: ")]
    check(len(first) < n, "bob received all %d messages before the kill" % n)

    b2 = ctx.client("bob", server, port=bob_port, wait=False)
    wait_registered(b2, stored_messages=True)
    expect_stored(b2, "alice", texts[-1])  # stored messages come in order: the last is last
    a.send("send bob done")  # a marker: direct, after every stored one
    a.expect(received_by("bob"))
    b2.expect(msg("alice", "done"))
    second = [l for l in b2.lines() if l.startswith(">>> alice: ") and l != msg("alice", "done")]
    shown1 = [re.search(r"(kept \d+)$", l).group(1) for l in first]
    shown2 = [re.search(r"(kept \d+)$", l).group(1) for l in second]
    # The one message on the screen of the killed process whose ack had not
    # left yet may be shown again by the next process (a terminal is not a
    # transaction; see docs/RELIABILITY.md). Nothing else repeats, nothing
    # is missing, the order holds.
    repeated = 1 if shown1 and shown2 and shown2[0] == shown1[-1] else 0
    print("    recipient killed after %d of %d stored messages; the next process got %d"
          " (%d repeated)" % (len(first), n, len(second), repeated))
    check_equal(shown1 + shown2[repeated:], texts,
                "stored messages over both processes: each once, in order")


def test_disk_full_refuses_saves_clearly_and_keeps_serving(ctx):
    data = os.path.join(ctx.tmp, "small-disk")
    _mount_tmpfs(data, "600k")
    try:
        server = ctx.server(data_dir=data)
        a = ctx.client("alice", server, extra=["--max-pending", "2000"])
        b = ctx.client("bob", server)
        a.expect(TABLE)
        b.send("dereg bob")
        b.expect(BYE)
        a.expect(TABLE)
        filler = "x" * 980
        n = 800  # ~800 KB of messages for a 600 KB disk
        mark = a.mark()
        for i in range(n):
            a.send("send bob %03d %s" % (i, filler))
        full = ">>> [Server could not save the message for bob: database or disk is full]"
        # One outcome line per message, nothing else (nobody else is online).
        outcomes = a.wait_lines(n, start=mark, timeout=120)[:n]
        check(all(l in (SAVED, full) for l in outcomes), "unexpected lines: %r" % [
            l for l in outcomes if l not in (SAVED, full)][:3])
        saved = [i for i, l in enumerate(outcomes) if l == SAVED]
        refused = len(outcomes) - len(saved)
        print("    disk full: %d of %d messages saved, %d refused" % (len(saved), n, refused))
        check(len(saved) > 0 and refused > 0, "saved %d, refused %d" % (len(saved), refused))
        check_equal(saved, list(range(len(saved))), "saved messages are the first ones")
        server.expect(re.compile(r".* ERROR .*database or disk is full.*"), stream="err")
        check(server.alive(), "the server exited on a full disk")

        # Chat goes on; what was stored is delivered, in order, once.
        b.send("reg bob")
        wait_registered(b, stored_messages=True)
        for i in saved:
            b.expect(stored("alice", "%03d %s" % (i, filler)))
        a.send("send bob direct still works")
        a.expect(received_by("bob"))
        b.expect(msg("alice", "direct still works"))
        shown = [l for l in b.lines() if l.startswith(">>> alice: ")]
        check_equal(len(shown), len(saved) + 1, "messages shown at bob")

        # Space again: saves work again.
        _remount(data, "size=8m")
        b.send("dereg bob")
        b.expect(BYE)
        a.expect(TABLE)
        a.send("send bob after the disk was grown")
        a.expect(SAVED)
    finally:
        ctx.close()
        _umount(data)


def test_read_only_data_directory_refuses_to_start(ctx):
    data = os.path.join(ctx.tmp, "read-only")
    _mount_tmpfs(data, "1m")
    try:
        _remount(data, "ro")
        r = ctx.run(["-s", str(ctx.free_port()), "--data-dir", data, "--bind", "127.0.0.1"],
                    timeout=20)
        check_equal(r.rc, 1, "exit status of a server on a read-only data directory")
        text = r.err
        check("cannot open the store" in text and "read" in text.lower(),
              "the error names the store and the cause: %r" % text)
    finally:
        _umount(data)


def test_resource_bounds_are_refused_with_clear_lines(ctx):
    server = ctx.server(extra=["--max-clients", "2", "--max-stored", "2"])
    a = ctx.client("alice", server, extra=["--max-pending", "2"])
    b = ctx.client("bob", server)
    a.expect(TABLE)
    # A third nickname does not fit.
    c = ctx.client("carol", server, wait=False)
    c.expect(">>> [Registration refused: the server is full (2 clients)]")
    c.expect_exit(1)
    # bob's mailbox holds two messages.
    b.send("dereg bob")
    b.expect(BYE)
    a.expect(TABLE)
    for i in range(2):
        a.send("send bob box %d" % i)
        a.expect(SAVED)
    a.send("send bob box 2")
    a.expect(">>> [Server could not save the message for bob: mailbox of bob is full (2 messages)]")
    b.send("reg bob")
    wait_registered(b, stored_messages=True)
    b.expect(stored("alice", "box 0"))
    b.expect(stored("alice", "box 1"))
    # alice may have two messages waiting for one peer: the third is refused
    # at once, and nothing of it is sent.
    b.kill()
    mark = a.mark()
    for i in range(3):
        a.send("send bob wait %d" % i)
    a.expect(">>> [Too many messages waiting for bob (max 2).]")
    check_equal(a.since(mark)[0], ">>> [Too many messages waiting for bob (max 2).]",
                "alice's first line after the three sends")


def _chattr(flag, paths):
    r = subprocess.run(["chattr", flag] + paths, capture_output=True, text=True)
    return r.returncode == 0, r.stderr.strip()


def test_store_made_read_only_while_running(ctx):
    """The store's files turn immutable (chattr +i: even root cannot write)
    while the server runs: saves are refused with one clear line, stored
    messages are still delivered, and saves work again afterwards."""
    if os.geteuid() != 0:
        raise Skip("chattr +i needs root")
    server, c = ctx.chat(["alice", "bob"])
    a, b = c["alice"], c["bob"]
    b.send("dereg bob")
    b.expect(BYE)
    a.expect(TABLE)
    a.send("send bob before")
    a.expect(SAVED)
    files = [os.path.join(server.data_dir, f) for f in os.listdir(server.data_dir)]
    ok, why = _chattr("+i", files + [server.data_dir])
    if not ok:
        raise Skip("this file system has no immutable attribute: " + why)
    try:
        a.send("send bob while read-only")
        a.expect(re.compile(r">>> \[Server could not save the message for bob: .+\]"))
        server.expect(re.compile(r".* ERROR could not save a message from alice for bob: .+"),
                      stream="err")
        b.send("reg bob")
        wait_registered(b, stored_messages=True)
        b.expect(stored("alice", "before"))
        check(server.alive(), "the server exited when its store turned read-only")
    finally:
        _chattr("-i", files + [server.data_dir])
    b.send("dereg bob")
    b.expect(BYE)
    a.expect(TABLE)
    a.send("send bob after")
    a.expect(SAVED)
