"""test_netloss.py: udpchat on a real network that loses datagrams.

The kernel has no netem, so the loss is made with nftables inside a network
namespace the test creates (root only; without root, `ip` or `nft`, or when
the namespace or the table cannot be made, the test raises Skip, a
harness.Skip that run_integration.py reports as skipped). The server and three clients run inside it on its
loopback, 127.0.0.1; alice and bob each type MESSAGES_PER_SENDER messages
to carol, interleaved, without waiting, and nobody re-registers by hand:
what the server saved for carol while it held her offline reaches her when
she registers again by herself (manual §6.6). Checked: every message
is shown at carol exactly once (direct, relayed or stored), each sender's
direct/relayed messages in the order typed and its stored ones in the order
saved; every send got exactly one outcome line at its sender, its lines
in one of the sequences of manual §4 ([No ACK ...]? [Client carol exists!!]?
then the outcome), and the sender never gave up waiting for a relay
outcome it had been sent; once every sender has its outcomes, carol (who
may have been taken offline by a lost ping and registered again by herself,
manual §6.6) is online in her own table and in the senders' within CONVERGE_S;
nobody printed [Server not responding]; no process ended. Figures are printed: what went direct, via the server,
stored, and what nft dropped.

Loss-rate arithmetic
--------------------
The table `inet udpchat` drops UDP at random with p = LOSS_PERCENT = 15 %
on the output hook AND on the input hook. On the namespace's loopback every
datagram, whichever way it goes, crosses both hooks (output at the sender,
input at the receiver), so it is delivered with probability
(1-p)^2 = 0.7225: d = 27.75 % of datagrams are lost, in both directions. (A
drop at output makes sendto() fail with EPERM; the program logs that at
debug level and treats it as a lost datagram, so it is loss as well.)
An exchange (a datagram and its ack) succeeds with s = (1-p)^4 = 0.522 and
fails with f = 1 - s = 0.478.

- A direct message is retransmitted every RTO inside its 500 ms window. On
  loopback the RTO is clamped to 20 ms: sends at 0, 20, 60, 140, 300 ms, 5
  exchanges, so "No ACK" with probability f^5 = 2.5 % (the first message
  to a peer, before any RTT sample, has RTO 100 ms: 0, 100, 300 ms, f^3 =
  10.9 %). With 2 x 50 messages, about 2.7 messages per run go to the
  server (none at all in ~7 % of runs). The server's verification ping has
  the same window: carol is taken offline by 2.5 % of the pings.
- Requests to the server (registration, deregistration, save, heartbeat)
  are tried --server-retries times, 500 ms apart. With the default 5,
  f^5 = 2.5 % per request: [Server not responding] in most runs. Lowering
  p until N * f^5 < 1e-6 (N <= 250 requests, below) needs f < 0.021,
  p < 0.53 %, and then a direct message also never misses its window (the same
  f^5): nothing but a few retransmissions would be tested. So the direct
  window keeps its default (--ack-timeout-ms 500) and all four processes
  run with --server-retries SERVER_RETRIES = 30 (manual §3 option; still
  500 ms apart; the server uses it for tables, stored deliveries and
  notices too).
- With 30 tries, of which at least 28 count (while the server's
  verification ping, <= 500 ms, is in flight it ignores retransmissions of
  that save: up to two tries go unanswered), a request fails with
  f^28 = 1.1e-9. Requests per run, N <= 250: 3 registrations, <= 100
  saves (at most one per message), <= 100 re-registrations (one per failed
  ping, at most one ping per save), <= 9 heartbeats (every 30 s, 3 clients,
  < 90 s). P([Server not responding] in a run)
  <= 250 x 1.1e-9 = 2.7e-7 < 1e-6.
- Other ways to miss an outcome: a "delivered"/"saved" notice is missed
  only if all 30 copies are dropped, d^30 = 2e-17; a stored delivery stalls
  (until the next registration) if 30 exchanges fail, f^30 = 2.4e-10; a
  table version is missed if its 30 copies are dropped, d^30.

Bounded: every wait shares one deadline, DEADLINE_S after the start; then
the processes are stopped (SIGTERM, SIGKILL 5 s later) and the namespace
deleted, whatever happened: under 90 s in all.
"""

import datetime
import json
import os
import re
import secrets
import shutil
import subprocess
import time
import unittest

import harness
from harness import (
    BYE, EXITING, NOT_RESPONDING, SAVED, SERVER_START, TABLE, TIMESTAMP_RE, WELCOME,
    Proc, exists, msg, no_ack, received_by,
)

LOSS_PERCENT = 15           # per nft hook; ~27.75 % per datagram (see above)
SERVER_RETRIES = 30         # --server-retries of every process (see above)
MESSAGES_PER_SENDER = 50
SENDERS = ("alice", "bob")
RECEIVER = "carol"
DEADLINE_S = 75.0           # every wait of the test together
EXPECT_TIMEOUT = 30.0       # per expected line, also bounded by the deadline
SETTLE_S = 1.5              # time for a late duplicate to show at the end
CONVERGE_S = 15.0           # for carol to be online in every table (manual §6.6)
POLL_S = 0.05
COMMAND_TIMEOUT = 15.0      # each ip/nft command


class Skip(harness.Skip, unittest.SkipTest):
    """The test cannot run here (not root, no ip/nft, no namespaces): the
    runner counts harness.Skip as skipped; unittest.SkipTest is for any
    other runner."""


# ---------------------------------------------------------------------------
# The namespace and its lossy nftables table.

RULESET = """\
table inet udpchat {
    chain input {
        type filter hook input priority 0; policy accept;
        meta l4proto udp counter comment "udp-seen"
        meta l4proto udp numgen random mod 100 < %(p)d counter drop comment "udp-dropped"
    }
    chain output {
        type filter hook output priority 0; policy accept;
        meta l4proto udp counter comment "udp-seen"
        meta l4proto udp numgen random mod 100 < %(p)d counter drop comment "udp-dropped"
    }
}
"""


def find_tool(name):
    path = shutil.which(name)
    if path:
        return path
    for d in ("/usr/sbin", "/sbin", "/usr/bin", "/bin"):
        candidate = os.path.join(d, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class LossyNetns:
    """A network namespace with loopback up and an nft table dropping
    LOSS_PERCENT of UDP at input and at output. create() raises Skip when
    that cannot be done here; delete() is idempotent."""

    def __init__(self, ip, nft, name):
        self.ip, self.nft, self.name = ip, nft, name
        self.created = False

    @classmethod
    def create(cls, loss_percent):
        if os.geteuid() != 0:
            raise Skip("needs root to create a network namespace and nftables rules "
                       "(running as uid %d)" % os.geteuid())
        ip, nft = find_tool("ip"), find_tool("nft")
        missing = [pkg for tool, pkg in ((ip, "iproute2 (ip)"), (nft, "nftables (nft)"))
                   if tool is None]
        if missing:
            raise Skip("not installed: %s" % ", ".join(missing))
        self = cls(ip, nft, "udpchat-loss-%d-%s" % (os.getpid(), secrets.token_hex(3)))
        r = self._run([ip, "netns", "add", self.name])
        if r.returncode != 0:
            raise Skip("cannot create network namespace %s: %s" % (self.name, r.stderr.strip()))
        self.created = True
        try:
            r = self._run([ip, "-n", self.name, "link", "set", "lo", "up"])
            if r.returncode != 0:
                raise Skip("cannot bring up lo in %s: %s" % (self.name, r.stderr.strip()))
            r = self.exec_run([nft, "-f", "-"], stdin=RULESET % {"p": loss_percent})
            if r.returncode != 0:
                raise Skip("cannot load the nftables table in %s: %s" % (
                    self.name, r.stderr.strip()))
        except BaseException:
            self.delete()
            raise
        return self

    @staticmethod
    def _run(argv, stdin=None):
        try:
            return subprocess.run(argv, input=stdin, capture_output=True, text=True,
                                  timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(argv, 124, "", "timed out after %.0f s" %
                                               COMMAND_TIMEOUT)

    def prefix(self):
        """The command prefix that runs a program inside the namespace."""
        return [self.ip, "netns", "exec", self.name]

    def exec_run(self, argv, stdin=None):
        return self._run(self.prefix() + list(argv), stdin=stdin)

    def counters(self):
        """{'input': {'seen': n, 'dropped': n}, 'output': {...}} from nft."""
        r = self.exec_run([self.nft, "-j", "list", "table", "inet", "udpchat"])
        if r.returncode != 0:
            raise AssertionError("nft list table failed in %s: %s" % (self.name, r.stderr.strip()))
        out = {}
        for item in json.loads(r.stdout).get("nftables", []):
            rule = item.get("rule")
            if not rule:
                continue
            packets = next((e["counter"]["packets"] for e in rule.get("expr", [])
                            if isinstance(e, dict) and "counter" in e), 0)
            what = {"udp-seen": "seen", "udp-dropped": "dropped"}.get(rule.get("comment"))
            if what:
                out.setdefault(rule["chain"], {})[what] = packets
        return out

    def delete(self):
        if self.created:
            r = self._run([self.ip, "netns", "del", self.name])
            if r.returncode != 0:
                raise AssertionError("could not delete network namespace %s: %s" % (
                    self.name, r.stderr.strip()))
            self.created = False


def run_inside(ctx, netns):
    """Make ctx start every process inside `netns` (ip netns exec NAME
    binary ...): wraps ctx.start for this context only."""
    def start(name, args, kind="process"):
        proc = Proc(ctx._unique(name), netns.prefix() + [ctx.binary] + list(args), cwd=ctx.tmp,
                    env=ctx.env, timeout=ctx.timeout, echo=ctx.echo, kind=kind)
        ctx.procs.append(proc)
        return proc
    ctx.start = start


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


# ---------------------------------------------------------------------------

def test_chat_under_packet_loss(ctx):
    """Two senders, one receiver, LOSS_PERCENT % UDP loss at each nft hook
    (see the module docstring for the arithmetic)."""
    netns = LossyNetns.create(LOSS_PERCENT)
    try:
        run_inside(ctx, netns)
        ctx.timeout = max(ctx.timeout, EXPECT_TIMEOUT)
        _scenario(ctx, netns, Clock(DEADLINE_S))
    finally:
        try:
            ctx.close()  # every process, before the namespace goes
        finally:
            netns.delete()


def _scenario(ctx, netns, clock):
    retries = ["--server-retries", str(SERVER_RETRIES)]
    server = ctx.server(extra=retries, wait=False)
    server.expect(SERVER_START, timeout=clock.left())
    c = {}
    for nick in SENDERS + (RECEIVER,):
        p = ctx.client(nick, server, extra=retries + ["--log-level", "info"], wait=False)
        p.expect(WELCOME, timeout=clock.left())
        p.expect(TABLE, timeout=clock.left())
        for other in c.values():  # everyone knows the newcomer before going on
            other.expect(TABLE, timeout=clock.left())
        c[nick] = p
    procs = [server] + list(c.values())
    senders = [c[s] for s in SENDERS]
    carol = c[RECEIVER]

    texts = {s: ["lossy %03d from %s" % (i, s) for i in range(MESSAGES_PER_SENDER)]
             for s in SENDERS}
    start = {s: c[s].mark() for s in SENDERS}
    carol_start = carol.mark()
    t_send = time.monotonic()
    for i in range(MESSAGES_PER_SENDER):
        for s in SENDERS:
            c[s].send("send %s %s" % (RECEIVER, texts[s][i]))

    notes = []

    def progress():
        shown = Shown(texts, carol.lines()[carol_start:])
        return "outcomes so far: %s; carol shows %d of %d%s%s" % (
            ", ".join("%s %d/%d" % (s, outcomes(c[s], start[s]), MESSAGES_PER_SENDER)
                      for s in SENDERS),
            len({(s, i) for s, i, _ in shown.items}), len(SENDERS) * MESSAGES_PER_SENDER,
            "".join("\n  " + o for o in odd_sequences(senders, start, final=False)),
            "".join("\n  " + n for n in notes))

    wait_until("an outcome line at the senders for each message",
               lambda: all(outcomes(c[s], start[s]) >= MESSAGES_PER_SENDER for s in SENDERS),
               clock, procs, progress)
    t_outcomes = time.monotonic()

    # manual §6.6: if a lost ping or relay took carol offline, she saw it in a
    # table and registered again: she is online everywhere, by herself.
    stale = converge_online(RECEIVER, [carol] + senders, clock, procs)
    t_converged = time.monotonic()
    if stale:
        notes.append(
            "%s was not online everywhere %.0f s after the last outcome, though running "
            "and not deregistered (manual §6.6: taken offline, she registers again at once); "
            "the last `list` showed her as: %s" % (
                RECEIVER, CONVERGE_S, ", ".join("%s: %s" % kv for kv in stale.items())))

    # Nobody re-registers by hand: what was saved for carol while the server
    # held her offline reached her when she registered again by herself.
    wait_until("every message shown at carol",
               lambda: not Shown(texts, carol.lines()[carol_start:]).missing(texts),
               clock, procs, progress)
    t_collected = time.monotonic()
    time.sleep(SETTLE_S)  # a late duplicate (a retransmission) would show now
    problem = trouble(procs)
    if problem:
        raise AssertionError(problem)
    counters = netns.counters()

    # -- figures ------------------------------------------------------------
    shown = Shown(texts, carol.lines()[carol_start:])
    kinds = {}
    for s in SENDERS:
        for path in sender_paths(c[s], start[s])[0]:
            kind = PATH_KIND.get(path, "unexpected")
            kinds[kind] = kinds.get(kind, 0) + 1
    odd_paths = odd_sequences(senders, start)
    n_sent = len(SENDERS) * MESSAGES_PER_SENDER
    n_noack = sum(c[s].count(no_ack(RECEIVER), start=start[s]) for s in SENDERS)
    n_exists = sum(c[s].count(exists(RECEIVER), start=start[s]) for s in SENDERS)
    n_live = sum(1 for _, _, k in shown.items if k == "live")
    n_stored = sum(1 for _, _, k in shown.items if k == "stored")
    rereg = carol.count(WELCOME, start=carol_start)
    sent_udp = counters.get("output", {}).get("seen", 0)
    dropped_out = counters.get("output", {}).get("dropped", 0)
    dropped_in = counters.get("input", {}).get("dropped", 0)
    print("netloss: %d%% UDP loss at each of output and input (netns %s)" % (
        LOSS_PERCENT, netns.name))
    print("netloss: messages sent %d: acked directly %d, via the server's relay %d, "
          "saved by the server %d (No ACK lines %d, exists lines %d)" % (
              n_sent, kinds.get("direct", 0), kinds.get("relayed", 0), kinds.get("saved", 0),
              n_noack, n_exists) +
          (", %d with an unexpected sequence of lines" % kinds["unexpected"]
           if "unexpected" in kinds else ""))
    print("netloss: carol showed %d live (direct or relayed) and %d stored; "
          "re-registered by herself %d time(s)" % (n_live, n_stored, rereg))
    print("netloss: nft: %d UDP datagrams sent, dropped %d at output + %d at input = %d "
          "(%.1f%% of those sent)" % (
              sent_udp, dropped_out, dropped_in, dropped_out + dropped_in,
              100.0 * (dropped_out + dropped_in) / sent_udp if sent_udp else 0.0))
    print("netloss: %.1f s to all outcomes, %.1f s until carol online everywhere, "
          "%.1f s more to collect at carol" % (
              t_outcomes - t_send, t_converged - t_outcomes, t_collected - t_converged),
          flush=True)

    # -- assertions -----------------------------------------------------------
    failures = []
    for p in procs:
        for line in (NOT_RESPONDING, EXITING):
            if p.count(line):
                failures.append("%s printed %r" % (p.name, line))
    for s in SENDERS:
        n = outcomes(c[s], start[s])
        if n != MESSAGES_PER_SENDER:
            failures.append("%s: %d outcome lines for %d messages" % (
                s, n, MESSAGES_PER_SENDER))
    failures += ["at the sender: " + o for o in odd_paths]
    failures += notes
    for s in SENDERS:
        for i, text in enumerate(texts[s]):
            n = shown.count(s, i)
            if n != 1:
                failures.append("carol showed %r from %s %d times" % (text, s, n))
    for s in SENDERS:
        for kind in ("live", "stored"):
            seqs = [i for who, i, k in shown.items if who == s and k == kind]
            if seqs != sorted(seqs):
                failures.append("carol showed %s's %s messages out of order: %s" % (
                    s, kind, seqs))
    if shown.strange:
        failures.append("carol showed lines from the senders that match no message: %r" %
                        shown.strange[:10])
    if shown.bad_stamps:
        failures.append("stored messages with a timestamp far from now: %r" %
                        shown.bad_stamps[:5])
    if sent_udp == 0 or dropped_in + dropped_out == 0:
        failures.append("nft counters show no loss at all (%r): the test tested nothing" %
                        counters)
    if failures:
        raise AssertionError("under packet loss:\n  " + "\n  ".join(failures))
