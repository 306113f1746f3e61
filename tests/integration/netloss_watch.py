"""netloss_watch.py: waiting for, and reading, what the processes of
test_netloss.py print.

Waiting: every wait of the test shares one deadline (Clock) and stops at
once if a process ended or printed [Server not responding] (trouble()).
Reading: each message's lines at its sender (sender_paths(), PATH_KIND:
direct, relayed or saved), the sequences that are none of those
(odd_sequences()), and carol's lines from the senders (Shown).
"""

import datetime
import re
import time

from harness import NOT_RESPONDING, SAVED, TIMESTAMP_RE, exists, msg, no_ack, received_by

RECEIVER = "carol"
EXPECT_TIMEOUT = 30.0       # per expected line, also bounded by the deadline
CONVERGE_S = 15.0           # for carol to be online in every table (manual §6.6)
POLL_S = 0.05


# ---------------------------------------------------------------------------
# Waiting, with one deadline for the whole test.

class Clock:
    def __init__(self, seconds):
        self.deadline = time.monotonic() + seconds

    def left(self, cap=EXPECT_TIMEOUT):
        return max(0.1, min(cap, self.deadline - time.monotonic()))


def trouble(procs):
    """A reason to stop at once: a process ended or gave up on the server."""
    for p in procs:
        if NOT_RESPONDING in p.lines():
            return "%s printed %r" % (p.name, NOT_RESPONDING)
        if not p.alive():
            return "%s exited (status %s)" % (p.name, p.returncode)
    return None


def wait_until(what, predicate, clock, procs, status):
    while True:
        problem = trouble(procs)
        if problem:
            raise AssertionError("%s while waiting for %s; %s" % (problem, what, status()))
        if predicate():
            return
        if time.monotonic() >= clock.deadline:
            raise AssertionError("timed out waiting for %s; %s" % (what, status()))
        time.sleep(POLL_S)


def expect_after(proc, pattern, start, clock, procs, what):
    """Wait until a line equal to `pattern` is printed at index >= start;
    returns its index."""
    found = []

    def seen():
        lines = proc.lines()
        for i in range(start, len(lines)):
            if lines[i] == pattern:
                found.append(i)
                return True
        return False
    wait_until(what, seen, clock, procs, lambda: "%s's last lines: %r" % (
        proc.name, proc.lines()[start:][-10:]))
    return found[0]


def list_status(proc, nick, start):
    """'online' or 'offline': what the last `list` line about `nick` that
    `proc` printed at index >= start says; None if none yet."""
    pattern = re.compile(r">>> %s \S+ (online|offline)" % re.escape(nick))
    for line in reversed(proc.lines()[start:]):
        m = pattern.fullmatch(line)
        if m:
            return m.group(1)
    return None


def converge_online(nick, procs_to_ask, clock, procs):
    """manual §6.6: a registered client that was taken offline registers again
    at once. Types `list` at each of procs_to_ask until all of them show
    `nick` online (at most CONVERGE_S). Returns None, or what they last
    showed."""
    until = min(clock.deadline, time.monotonic() + CONVERGE_S)
    last = None
    while True:
        marks = {p.name: p.mark() for p in procs_to_ask}
        for p in procs_to_ask:
            p.send("list")
        # Each answers once its earlier commands are done (a registration
        # in progress holds the input): wait for every answer, boundedly.
        round_end = max(min(until, time.monotonic() + 5.0), time.monotonic() + 1.0)
        while True:
            problem = trouble(procs)
            if problem:
                raise AssertionError(problem + " while checking that %s is online" % nick)
            status = {p.name: list_status(p, nick, marks[p.name]) for p in procs_to_ask}
            if all(status.values()) or time.monotonic() >= round_end:
                break
            time.sleep(POLL_S)
        if all(v == "online" for v in status.values()):
            return None
        if all(status.values()):
            last = status
        if time.monotonic() >= until:
            return last or status
        time.sleep(1.0)


# ---------------------------------------------------------------------------
# Reading what the processes printed.

OUTCOMES = (received_by(RECEIVER), SAVED)


def outcomes(sender, start):
    return sum(1 for l in sender.lines()[start:] if l in OUTCOMES)


def sender_paths(sender, start):
    """Each message's lines at its sender, in order, from the events about
    carol: a tuple per message ending with its outcome, and what is left
    after the last outcome."""
    events = (no_ack(RECEIVER), exists(RECEIVER)) + OUTCOMES
    paths, cur = [], []
    for line in sender.lines()[start:]:
        if line in events:
            cur.append(line)
            if line in OUTCOMES:
                paths.append(tuple(cur))
                cur = []
    return paths, cur


DIRECT = (received_by(RECEIVER),)
PATH_KIND = {
    DIRECT: "direct",
    (no_ack(RECEIVER), exists(RECEIVER), received_by(RECEIVER)): "relayed",
    (exists(RECEIVER), received_by(RECEIVER)): "relayed",
    (no_ack(RECEIVER), SAVED): "saved",
    (SAVED,): "saved",
    (no_ack(RECEIVER), exists(RECEIVER), SAVED): "saved",
    (exists(RECEIVER), SAVED): "saved",
}


# The client logs this (warn) when it stops waiting for the outcome of a
# message the server relayed. With SERVER_RETRIES tries of the server's
# notice, a notice is never lost here (d^30): the wait ended for nothing.
RELAY_GUARD_LOG = "no relay outcome from the server for "


def odd_sequences(senders, start, final=True):
    """Each sender's message whose lines are not one of PATH_KIND, every
    expiry of the client's wait for a relay outcome and, when final, lines
    left after the last outcome."""
    odd = []
    for s in senders:
        paths, left = sender_paths(s, start[s.nick])
        for n, path in enumerate(paths):
            if path not in PATH_KIND:
                hint = ""
                if path == (no_ack(RECEIVER), received_by(RECEIVER)):
                    hint = (" (the outcome came before %r: the server's 'exists' ack to the "
                            "save was lost and its 'delivered' notice came first; the "
                            "client printed it but went on waiting for a notice)"
                            % exists(RECEIVER))
                odd.append("%s message %d: %r%s" % (s.name, n, path, hint))
        if left and final:
            odd.append("%s: lines after the last outcome: %r" % (s.name, left))
        for line in s.err_lines():
            if RELAY_GUARD_LOG in line:
                odd.append("%s stopped waiting for a relay outcome (its queue to %s stalled "
                           "for --ack-timeout-ms x (--server-retries + 2)): %r" % (
                               s.name, RECEIVER, line))
    return odd


class Shown:
    """carol's lines from the senders: (sender, seq, kind) in order, kind
    'live' (direct or relayed) or 'stored'; and lines that are neither."""

    def __init__(self, texts, lines):
        self.items, self.strange, self.bad_stamps = [], [], []
        live = {}
        by_text = {}
        for sender, seqs in texts.items():
            for i, text in enumerate(seqs):
                live[msg(sender, text)] = (sender, i)
                by_text[(sender, text)] = i
        stored_re = re.compile(r">>> (%s): (%s) (.*)" % (
            "|".join(map(re.escape, texts)), TIMESTAMP_RE))
        prefixes = tuple(">>> %s: " % s for s in texts)
        now = datetime.datetime.now()
        for line in lines:
            if not line.startswith(prefixes):
                continue
            if line in live:
                self.items.append(live[line] + ("live",))
                continue
            m = stored_re.fullmatch(line)
            if m and (m.group(1), m.group(3)) in by_text:
                self.items.append((m.group(1), by_text[(m.group(1), m.group(3))], "stored"))
                when = datetime.datetime.strptime(m.group(2), "%Y-%m-%d %H:%M:%S")
                if abs((now - when).total_seconds()) > 300:
                    self.bad_stamps.append(line)
                continue
            self.strange.append(line)

    def count(self, sender, seq):
        return sum(1 for s, i, _ in self.items if s == sender and i == seq)

    def missing(self, texts):
        got = {(s, i) for s, i, _ in self.items}
        return [(s, i) for s in texts for i in range(len(texts[s])) if (s, i) not in got]
