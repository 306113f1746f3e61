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

The namespace and its nftables table are in lossy_netns.py; the waiting and
the reading of what the processes printed, in netloss_watch.py.
"""

import time

from harness import EXITING, NOT_RESPONDING, SERVER_START, TABLE, WELCOME, exists, no_ack
from lossy_netns import LossyNetns, run_inside
from netloss_watch import (
    CONVERGE_S, EXPECT_TIMEOUT, PATH_KIND, RECEIVER, Clock, Shown, converge_online,
    odd_sequences, outcomes, sender_paths, trouble, wait_until,
)

LOSS_PERCENT = 15           # per nft hook; ~27.75 % per datagram (see above)
SERVER_RETRIES = 30         # --server-retries of every process (see above)
MESSAGES_PER_SENDER = 50
SENDERS = ("alice", "bob")
DEADLINE_S = 75.0           # every wait of the test together
SETTLE_S = 1.5              # time for a late duplicate to show at the end


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
