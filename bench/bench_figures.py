"""bench_figures.py: the benchmarks of run_bench.py, one function per row of
the performance targets (docs/PERFORMANCE.md): latency against a bare UDP
ping-pong, a real recipient against a store-less one, durable saves against
SQLite's own batched inserts, fan-out, registration storms, online clients
and stored messages at scale. Each appends its rows with row()."""

import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import tempfile
import time
from bench_common import (STORM, RealClient, Server, loadgen, loadgen_knows, log, num, row,
                          server_key)

def bench_latency(build, root, port, out_dir, n, real_recipient=True):
    log("send -> ack latency vs a bare UDP ping-pong (%d samples, 1000-byte messages)" % n)
    bare_file, send_file = os.path.join(out_dir, "bare.txt"), os.path.join(out_dir, "send.txt")
    bare, _ = loadgen(build, "bare", "--messages", n, "--bytes", 1000, "--samples", bare_file)
    s = Server(build, root, port)
    try:
        send, cmd = loadgen(build, "pingpong", "--server-port", port, "--messages", n,
                            "--bytes", 1000, "--samples", send_file)
    finally:
        s.stop()
    log("  " + bare + "\n  " + send)
    for p, limit in (("p50", 1.5), ("p99", 2.0)):
        b = num(r"%s ([\d.]+) us" % p, bare)
        v = num(r"%s ([\d.]+) us" % p, send)
        row("direct send to ack, %s" % p, "%.1f us" % v, "%.1f us" % b, "%.2fx" % (v / b),
            "<= %.1fx" % limit, v / b <= limit, cmd)
    if real_recipient:  # (an earlier build has no --store-sync, nor pingpong --to)
        bench_real_recipient(build, root, port, n // 4)
    return bare_file, send_file


def bench_real_recipient(build, root, port, n, rounds=5):
    """send -> ack with a real `udpchat -c` recipient writing each message to
    its own store before its ack, with --store-sync normal and full, against
    the store-less virtual recipient (loadgen pingpong) on the same server.
    A real recipient is a second process, and on this VM whether the two
    processes share a core moves a run's p50 by a third either way; so each
    round measures the store-less line and then the real one, and the rows
    give the median over `rounds` rounds (every round is in the log)."""
    log("send -> ack with a real udpchat -c recipient and its store (%d rounds of %d samples)" % (
        rounds, n))
    for sync in ("normal", "full"):
        s = Server(build, root, port)
        rounds_seen = []  # (store-less p50, p99, real p50, p99)
        try:
            for r in range(rounds if sync == "normal" else 1):
                # A new recipient process each round: where the scheduler
                # puts it is part of what a round samples.
                pong = RealClient(build, root, "realpong%d" % r, port, port + 100 + r,
                                  ["--store-sync", sync])
                try:
                    virtual, _ = loadgen(build, "pingpong", "--server-port", port, "--messages", n,
                                         "--bytes", 1000, "--prefix", "v%d" % r)
                    send, cmd = loadgen(build, "pingpong", "--server-port", port, "--messages",
                                        n, "--bytes", 1000, "--to", "realpong%d" % r, "--prefix",
                                        "r%d" % r)
                finally:
                    pong.stop()
                seen = [num(r"%s ([\d.]+) us" % p, text)
                        for text in (virtual, send) for p in ("p50", "p99")]
                rounds_seen.append(seen)
                log("  --store-sync %s, round %d: store-less p50 %.1f us, p99 %.1f us; "
                    "real p50 %.1f us, p99 %.1f us (%.2fx)" % (
                        sync, r + 1, seen[0], seen[1], seen[2], seen[3], seen[2] / seen[0]))
        finally:
            s.stop()
        for i, p in enumerate(("p50", "p99")):
            b = statistics.median(x[i] for x in rounds_seen)
            v = statistics.median(x[2 + i] for x in rounds_seen)
            ratio = statistics.median(x[2 + i] / x[i] for x in rounds_seen)
            # The target (p50 within 2x of the store-less recipient) is the
            # default setting's; the other figures are for the decision.
            met = ratio <= 2.0 if (p == "p50" and sync == "normal") else None
            label = "median of %d rounds" % len(rounds_seen) if len(rounds_seen) > 1 else "1 round"
            row("send to ack, real recipient, store %s, %s" % (sync, p), "%.1f us" % v,
                "%.1f us (store-less, same rounds)" % b, "%.2fx (%s)" % (ratio, label),
                "<= 2.0x" if met is not None else "-", met,
                cmd + "  (recipient: udpchat -c realpong ... --store-sync %s)" % sync)


def server_pid(build, server):
    """The load generator's options that report the server's CPU."""
    return ["--server-pid", server.proc.pid] if loadgen_knows(build, "--server-pid") else []


def cpu_per_op(out):
    """ " (CPU per op: server X us, load generator Y us)" from a loadgen line
    printed with --server-pid; empty when absent."""
    m = re.search(r"server CPU [\d.]+ s \(([\d.]+) us per (\w+)\), load generator CPU [\d.]+ s "
                  r"\(([\d.]+) us per", out)
    if not m:
        return ""
    return " (CPU per %s: server %s us, load generator %s us)" % (m.group(2), m.group(1),
                                                                  m.group(3))


def saves_run(build, root, port, senders, recipients, messages, procs):
    """One flood of saves against a fresh server: the load generator's
    output, its command and the server's statistics."""
    s = Server(build, root, port, ["--max-stored", "1000000"])
    try:
        out, cmd = loadgen(build, "saves", "--server-port", port, "--senders", senders,
                           "--recipients", recipients, "--messages", messages, "--heartbeats",
                           "--timeout-s", 300, *server_pid(build, s),
                           *(["--procs", procs] if procs > 1 else []))
        stats = s.stats()
    finally:
        s.stop()
    log("  " + out.replace("\n", "\n  "))
    return out, cmd, stats


def bench_saves(build, root, port, senders, recipients, messages):
    log("durable saves: %d senders x %d offline recipients x %d messages" % (
        senders, recipients, messages))
    # The rate with the senders in two processes (one thread playing them
    # all is the bound otherwise); the service time with one load generator
    # process, as before: on two cores, two load generator processes, the
    # server and its store writer are four busy threads, and the figure
    # would measure the scheduler's time slices, not the server.
    procs = 2 if loadgen_knows(build, "--procs") else 1
    out, cmd, stats = saves_run(build, root, port, senders, recipients, messages, procs)
    if procs > 1:
        one, one_cmd, one_stats = saves_run(build, root, port, senders, recipients, messages, 1)
    else:
        one, one_cmd, one_stats = out, cmd, stats
    rate = num(r"([\d.]+) saves/s", out)
    commands = num(r"store writer: (\d+) commands", stats)
    txns = num(r"in (\d+) transactions", stats)
    batch = max(1, int(round(commands / txns))) if txns == txns and txns > 0 else 100
    p99 = num(r"service time p50 \d+ us, p99 (\d+) us", one_stats)
    rtt99 = num(r"p99 (\d+) us\n?", one.split("\n")[-1]) if "round trip" in one else float("nan")
    # SQLite's own rate at the server's mean batch size, in the same place.
    d = tempfile.mkdtemp(prefix="sqlite-", dir=root)
    base, bcmd = loadgen(build, "sqlite", "--dir", d, "--messages", 200000, "--batch", batch,
                         "--bytes", 6)
    shutil.rmtree(d, ignore_errors=True)
    log("  " + base + " (server: %d commands in %d transactions, mean batch %d)" % (
        commands, txns, batch))
    srate = num(r"([\d.]+) rows/s", base)
    row("durable saves per second", "%.0f /s%s" % (rate, cpu_per_op(out)),
        "SQLite %.0f rows/s (batch %d)" % (srate, batch), "%.2f" % (rate / srate),
        ">= 100,000/s and >= 0.33", rate >= 100000 and rate / srate >= 1 / 3, cmd + "; " + bcmd)
    row("service time p99 during the save flood", "%.0f us" % p99,
        "request round trip p99 %.0f us (at the load generator)" % rtt99, "-", "<= 1 ms",
        p99 <= 1000, one_cmd + " (server statistics)")


def bench_fanout(build, root, port, members, messages):
    log("send_all fan-out: %d online members x %d messages, vs bare one-way UDP" % (
        members, messages))
    base, bcmd = loadgen(build, "oneway", "--messages", 200000, "--bytes", 100)
    s = Server(build, root, port)
    try:
        out, cmd = loadgen(build, "fanout", "--server-port", port, "--clients", members,
                           "--messages", messages, "--bytes", 100, "--timeout-s", 300,
                           *server_pid(build, s))
    finally:
        s.stop()
    log("  " + base + "\n  " + out)
    rate = num(r"([\d.]+) deliveries/s", out)
    brate = num(r"([\d.]+) datagrams/s", base)
    all_once = ("%d of %d shown exactly once" % (members * messages, members * messages)) in out
    row("send_all to %d online clients" % members, "%.0f deliveries/s%s%s" % (
        rate, "" if all_once else " (NOT all acked once)", cpu_per_op(out)), "one-way UDP %.0f datagrams/s" % brate,
        "%.2f" % (rate / brate), "all acked; >= 0.33", all_once and rate / brate >= 1 / 3,
        cmd + "; " + bcmd)


def storm(build, root, port, n, rows, pin):
    """One storm of n registrations against a fresh server; its output and
    command. With `pin` the clients hold the server's key (known_servers),
    as clients coming back after a restart or an outage do."""
    s = Server(build, root, port)
    try:
        key = server_key(s.data) if pin else None
        extra = ["--server-key", key] if key else []
        out, cmd = loadgen(build, "storm", "--server-port", port, "--clients", n,
                           "--rows", rows, "--timeout-s", 120, *extra)
    finally:
        s.stop()
    log("  " + out.replace("\n", "\n  "))
    return out, cmd.replace(key, "<server key>") if key else cmd


def bench_storms(build, root, port, sizes, first_contact=True):
    """Storms of each size (clients holding the server's key), then, with
    `first_contact`, the largest once more with clients that learn the key
    from the server's Retry (new users all at once)."""
    for n in sizes:
        out, cmd = storm(build, root, port, n, n if n <= 1000 else 1, pin=True)
        secs = num(r"in ([\d.]+) s", out)
        per = num(r"\(([\d.]+) per registration\)", out)
        STORM.append((n, secs, per, "whole tables" if n <= 1000 else "interest"))
        if n == 1000:
            row("storm of 1,000 registrations, whole tables", "%.2f s" % secs, "-", "-",
                "<= 2 s", secs <= 2.0 and "converged" in out, cmd)
        if n == max(sizes):
            base = [p for (m, _, p, _) in STORM if m == 1000 or m == 2000]
            flat = all(per <= 1.5 * b for b in base[1:]) if len(base) > 1 else True
            row("storm of %d registrations" % n, "%.2f s, %.1f datagrams each" % (secs, per),
                "2,000: %.1f datagrams each" % base[-1] if base else "-", "-",
                "<= 3 s, flat from 1,000", secs <= 3.0 and flat and "converged" in out, cmd)
    if first_contact:
        n = max(sizes)
        out, cmd = storm(build, root, port, n, 1, pin=False)
        secs = num(r"in ([\d.]+) s", out)
        cpu = num(r"load generator CPU ([\d.]+) s", out)
        row("storm of %d first contacts (key learnt from the Retry)" % n,
            "%.2f s%s" % (secs, "" if "converged" in out else " (NOT converged)"),
            "load generator CPU %.2f s" % cpu, "-", "- (see the notes)", None, cmd)


def bench_online(build, root, port, n, hold):
    """n clients online with heartbeats, spread over load generators of at
    most 15,000 clients each (one socket a client; a process may not hold
    more files than the hard limit), each on its own loopback addresses.
    The load generators start one after another, each once the one before
    has registered all its clients: together they would share the two cores
    with the server seven ways, and a registration's handshake would wait
    longer than its tries (a load generator on this machine, not clients on
    their own machines). Each heartbeats until its input is closed, after
    `hold` seconds with all of them online."""
    per = 15000
    procs = (n + per - 1) // per
    log("%d clients online with heartbeats (every 10 s), %d load generators one after another, "
        "held %d s" % (n, procs, hold))
    s = Server(build, root, port)
    gens = []
    firsts = []
    t0 = time.monotonic()
    try:
        for k in range(procs):
            count = min(per, n - k * per)
            gens.append(subprocess.Popen(
                [os.path.join(build, "udpchat_loadgen"), "online", "--server-port", str(port),
                 "--clients", str(count), "--prefix", "o%d_" % k, "--first-address",
                 str(2 + k), "--heartbeat-ms", "10000", "--hold-s", "0",
                 "--timeout-s", "120"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                text=True))
            firsts.append(gens[-1].stdout.readline())
        registered_s = time.monotonic() - t0
        time.sleep(hold / 2)
        rss = s.rss_mib()
        time.sleep(hold / 2)
        for g in gens:
            g.stdin.close()
        rests = []
        for g in gens:
            rests.append(g.stdout.read())
            g.wait(timeout=180)
    finally:
        for g in gens:
            if g.poll() is None:
                g.kill()
        s.stop()
    out = "".join(firsts + rests).strip()
    log("  " + out.replace("\n", "\n  "))
    log("  all registered after %.1f s" % registered_s)
    still = sum(int(m) for m in re.findall(r"online: (\d+) clients still registered", out))
    row("%d clients online, server RSS" % n, "%.0f MiB" % rss, "-", "-", "<= 256 MiB",
        rss <= 256 and still == n,
        "%d x udpchat_loadgen online --clients %d --heartbeat-ms 10000 --hold-s 0 "
        "(one after another, held %d s)" % (procs, per, hold))


def bench_offline(build, root, port, n):
    log("%d registered offline clients: server start" % n)
    s = Server(build, root, port)
    data = s.data
    s.proc.send_signal(signal.SIGTERM)
    s.proc.wait(timeout=30)
    db = sqlite3.connect(os.path.join(data, "udpchat.db"))
    db.execute("BEGIN")
    db.executemany("INSERT INTO clients (nick_key, nick, address, port, online, heartbeat_ms, "
                   "row_version) VALUES (?, ?, '127.0.0.1', ?, 0, 30000, 1)",
                   (("o%d" % i, "o%d" % i, 1024 + i % 60000) for i in range(n)))
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('table_version', 1)")
    db.commit()
    db.close()
    s.out.close()
    s2 = Server.__new__(Server)
    s2.data, s2.port = data, port
    s2.argv = s.argv
    s2.out = open(os.path.join(data, "stdout2"), "w+")
    t0 = time.monotonic()
    s2.proc = subprocess.Popen(s2.argv, stdout=s2.out, stderr=subprocess.DEVNULL)
    start = s2._wait_start(t0)
    rss = s2.rss_mib()
    s2.stop()
    row("%d registered clients offline: start, RSS" % n, "%.2f s, %.0f MiB" % (start, rss),
        "-", "-", "<= 5 s, <= 1 GiB", start <= 5 and rss <= 1024,
        "udpchat -s (store of %d client rows)" % n)
