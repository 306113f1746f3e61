"""Exactly once across restarts (manual §4.11, docs/RELIABILITY.md): a
recipient killed with SIGKILL at random points of a stream of messages,
and restarted on the same port with the same key file and store, many
times. Every message is shown at least once across all its runs, and a
message shown twice is allowed only when its first showing was among the
last lines of a killed run (the instant between printing a line and its
"shown" mark committing, the one window manual §4.11 leaves)."""

import os
import random
import re
import select
import socket
import threading

from harness import LOOPBACK, SAVED, check, wait_registered

SHOWN = re.compile(r">>> alice: (?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d )?(m\d{3})")
OUTCOME = re.compile(r">>> \[(Message received by bob\.|Messages received by the server and saved)\]")


def kill_at_random_point(proc, rng, max_delay):
    """SIGKILL `proc` after 0 to 3 more of its lines (at most 2 s for them)
    and then 0 to `max_delay` seconds more (waiting for an exit that does
    not come)."""
    seen = len(proc.lines())
    want = rng.randint(0, 3)
    if want:
        try:
            proc.wait_lines(want, start=seen, timeout=2)
        except AssertionError:
            pass  # quiet: killed where it stands
    proc.wait_quiet(rng.uniform(0, max_delay))
    proc.kill()


def check_replayed(m, first_run, again, killed, shown):
    """The one allowed way to show `m` twice (manual §4.11): its first run
    was killed right after printing it (it is that run's last message),
    before the "shown" mark committed, and the next run showed it from its
    store at start, before registering (before its welcome line)."""
    welcome = next((i for i, l in enumerate(again.lines())
                    if l == ">>> [Welcome, You are registered.]"), len(again.lines()))
    at = next(i for x, i in shown(again) if x == m)
    last = [x for x, _ in shown(first_run)][-1:]
    check(first_run in killed and last == [m] and at < welcome,
          "%s shown twice (%s, then %s at line %d, its welcome at %d): not the last line of "
          "a killed run shown again from the store at start" % (
              m, first_run.name, again.name, at, welcome))


def shown_in(proc):
    """The message ids a run of bob showed, in order, with their line index."""
    out = []
    for i, line in enumerate(proc.lines()):
        m = SHOWN.fullmatch(line)
        if m:
            out.append((m.group(1), i))
    return out


def test_sigkilled_recipient_shows_each_message_exactly_once(ctx):
    sanitized = bool(os.environ.get("UDPCHAT_SANITIZED"))
    messages, kills = (30, 10) if sanitized else (60, 30)
    rng = random.Random(0x5EED)
    s = ctx.server()
    bob_port = ctx.free_port()
    bob = ctx.client("bob", s, port=bob_port)
    alice = ctx.client("alice", s, extra=["--ack-timeout-ms", "10"])
    bob.expect(">>> [Client table updated.]")
    ids = ["m%03d" % i for i in range(1, messages + 1)]
    to_type = list(ids)
    runs = [bob]
    killed = []
    for k in range(kills):
        # A few messages typed, then SIGKILL at a random point.
        for _ in range(min(len(to_type), rng.randint(1, 4) if k < kills - 1 else len(to_type))):
            alice.send("send bob " + to_type.pop(0))
        kill_at_random_point(runs[-1], rng, 0.08)
        killed.append(runs[-1])
        bob = ctx.client("bob", s, port=bob_port, wait=False)
        runs.append(bob)
    for m in to_type:
        alice.send("send bob " + m)
    # The last run is left alone: everything comes, live or stored.
    wait_registered(runs[-1])
    for _ in range(messages):
        alice.expect(OUTCOME, timeout=60)
    pending = set(ids)

    def all_shown(_line=None):
        got = set()
        for r in runs:
            got.update(m for m, _ in shown_in(r))
        return pending <= got

    if not all_shown():
        # Stored messages still coming to the last run.
        runs[-1].expect(lambda line: all_shown(), timeout=60)
    check(all_shown(), "messages never shown: %s" % sorted(pending - {
        m for r in runs for m, _ in shown_in(r)}))
    # Duplicates: only the last lines of a killed run may show again.
    first = {}
    duplicates = []
    for r in runs:
        for m, i in shown_in(r):
            if m in first:
                duplicates.append((m, first[m], r))
            else:
                first[m] = (r, i)
    for m, (r, _), again in duplicates:
        check_replayed(m, r, again, killed, shown_in)
    print("exactly-once: %d messages, %d runs of bob (%d killed), %d shown twice "
          "(each within the print-to-mark instant)" % (
              messages, len(runs), len(killed), len(duplicates)))
    alice.send("quit")
    alice.expect_exit(0)
    runs[-1].send("quit")
    runs[-1].expect_exit(0)


class LossyRelay:
    """A UDP relay in front of the server for one client: what the client
    sends the server is dropped with probability `loss` (its acks among
    it), what the server sends the client always passes. The client sees
    the relay as its server; the server sees the client at the relay's
    back socket. Stops with stop(); bounded by the test's own deadlines."""

    def __init__(self, server_port, loss, seed):
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind((LOOPBACK, 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind((LOOPBACK, 0))
        self.port = self.front.getsockname()[1]
        self.server = (LOOPBACK, server_port)
        self.loss = loss
        self.rng = random.Random(seed)
        self.client = None
        self.dropped = 0
        self.passed = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.is_set():
            ready, _, _ = select.select([self.front, self.back], [], [], 0.05)
            for sock in ready:
                data, src = sock.recvfrom(65536)
                if sock is self.front:
                    self.client = src
                    if self.rng.random() < self.loss:
                        self.dropped += 1
                        continue
                    self.passed += 1
                    self.back.sendto(data, self.server)
                elif self.client is not None:
                    self.front.sendto(data, self.client)

    def stop(self):
        self.stopping.set()
        self.thread.join(5)
        self.front.close()
        self.back.close()


CHANNEL = re.compile(r">>> \[Channel\] alice: (?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d )?(c\d{3})")


def test_lost_acks_and_sigkills_never_show_a_channel_message_twice(ctx):
    """bob's acks to the server are lost at random (a relay drops 30 % of
    what he sends it) while he is SIGKILLed and restarted: the server
    delivers again what he took, to a new process. Without the client's
    own store that new process would show it again."""
    sanitized = bool(os.environ.get("UDPCHAT_SANITIZED"))
    messages, kills = (20, 6) if sanitized else (40, 15)
    rng = random.Random(0xC4A7)
    s = ctx.server()
    relay = LossyRelay(s.port, 0.3, 0xD120)
    try:
        bob_port = ctx.free_port()
        bob_args = ["--server-retries", "30"]

        def start_bob():
            return ctx.client("bob", relay.port, port=bob_port, extra=bob_args, wait=False)

        runs = [start_bob()]
        wait_registered(runs[0])
        alice = ctx.client("alice", s)
        to_type = ["c%03d" % i for i in range(1, messages + 1)]
        killed = []
        for k in range(kills):
            for _ in range(min(len(to_type), rng.randint(1, 4))):
                alice.send("send_all " + to_type.pop(0))
            kill_at_random_point(runs[-1], rng, 0.2)
            killed.append(runs[-1])
            runs.append(start_bob())
        for m in to_type:
            alice.send("send_all " + m)
        for _ in range(messages):
            alice.expect(">>> [Message received by Server.]", timeout=60)
        wanted = {"c%03d" % i for i in range(1, messages + 1)}

        def shown(r):
            return [(CHANNEL.fullmatch(l).group(1), i) for i, l in enumerate(r.lines())
                    if CHANNEL.fullmatch(l)]

        def all_shown(_line=None):
            return wanted <= {m for r in runs for m, _ in shown(r)}

        if not all_shown():
            runs[-1].expect(all_shown, timeout=90)
        first, duplicates = {}, []
        for r in runs:
            for m, i in shown(r):
                if m in first:
                    duplicates.append((m, first[m], r))
                else:
                    first[m] = r
        for m, r, again in duplicates:
            check_replayed(m, r, again, killed, shown)
        print("exactly-once (channel, lossy): %d messages, %d runs of bob (%d killed), "
              "%d of bob's datagrams to the server dropped, %d shown twice" % (
                  messages, len(runs), len(killed), relay.dropped, len(duplicates)))
        alice.send("quit")
        alice.expect_exit(0)
        runs[-1].send("quit")
        runs[-1].expect_exit(0, timeout=60)
    finally:
        relay.stop()
