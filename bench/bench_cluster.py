"""bench_cluster.py: several servers on one PostgreSQL (docs/CLUSTER.md),
against one server on the same PostgreSQL in the same run.

- durable saves per second: one server, then three servers each with a third
  of the senders (three load generators at once, each with its own
  recipients: the same saves and the same number outstanding in all; the
  figure is all saves over the slowest flood's time);
- a registration storm of N clients: at one server, then a third at each of
  three servers, every client waiting until it holds all N rows (so the
  others' rows reached it through the change table);
- the lag from a registration at one server to its row shown online at a
  client of another (p50, p99).

A throw-away PostgreSQL (tests/integration/pg_cluster.py: initdb in a
temporary directory, a Unix socket, fsync on as Debian ships it), a fresh
database per configuration. Standalone: python3 bench/bench_cluster.py
--build build [--quick].
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))

from bench_common import Server, log, num, row  # noqa: E402
from pg_cluster import PgServer  # noqa: E402


def _databases(pg, names):
    for name in names:
        pg.sql("CREATE DATABASE %s" % name, database="postgres")


def _servers(build, root, port, uri, count):
    return [Server(build, root, port + k, ["--store", uri, "--max-stored", "1000000"])
            for k in range(count)]


def _stop(servers):
    for s in servers:
        s.stop()


def _parallel(build, runs, timeout=600):
    """Starts one load generator per argument list at once; waits for all.
    Returns (outputs, wall seconds, the command of the first)."""
    t0 = time.monotonic()
    procs = [subprocess.Popen([os.path.join(build, "udpchat_loadgen")] + [str(a) for a in args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for args in runs]
    outs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        if p.returncode != 0:
            log("  (loadgen exit %d: %s %s)" % (p.returncode, out.strip(), err.strip()[-300:]))
        outs.append(out.strip())
    return outs, time.monotonic() - t0, "udpchat_loadgen " + " ".join(str(a) for a in runs[0])


def _on_servers(build, root, port, uri, count, args_of):
    """`count` servers on `uri`, one load generator each at once (its
    arguments: args_of(k) for server k); their outputs, logged, and the
    first one's command."""
    servers = _servers(build, root, port, uri, count)
    try:
        outs, _, cmd = _parallel(build, [args_of(k) for k in range(count)])
    finally:
        _stop(servers)
    for out in outs:
        log("  " + out)
    return outs, cmd


def _saves(build, root, port, uri, count, senders, recipients, messages):
    outs, cmd = _on_servers(build, root, port, uri, count, lambda k: [
        "saves", "--server-port", port + k, "--senders", senders // count, "--recipients",
        recipients, "--messages", messages, "--prefix", "c%d_" % k, "--first-address", 2 + k,
        "--timeout-s", 300])
    saved = sum(num(r"saves: (\d+) of", out, 0) for out in outs)
    # Each flood's own time: the slowest bounds the cluster's rate.
    secs = max(num(r"saved in ([\d.]+) s", out) for out in outs)
    return saved / secs if secs > 0 else float("nan"), saved, cmd


def _storm(build, root, port, uri, count, clients):
    each = clients // count
    outs, cmd = _on_servers(build, root, port, uri, count, lambda k: [
        "storm", "--server-port", port + k, "--clients", each, "--rows", each * count,
        "--prefix", "c%d_" % k, "--first-address", 2 + k, "--timeout-s", 120])
    converged = all("converged in" in out for out in outs)
    return max(num(r"in ([\d.]+) s", out) for out in outs), converged, cmd


def bench_cluster(build, root, port, quick):
    log("several servers on one PostgreSQL (docs/CLUSTER.md)")
    pg = PgServer("udpchat_one")
    try:
        _databases(pg, ["udpchat_three", "udpchat_storm1", "udpchat_storm3", "udpchat_lag"])
        senders, recipients, messages = (30, 6, 5) if quick else (150, 15, 20)
        one, n1, cmd1 = _saves(build, root, port, pg.uri("udpchat_one"), 1, senders,
                               recipients, messages)
        three, n3, cmd3 = _saves(build, root, port, pg.uri("udpchat_three"), 3, senders,
                                 recipients, messages)
        row("durable saves, three servers on one PostgreSQL", "%.0f /s (%d saves)" % (three, n3),
            "one server on it: %.0f /s (%d saves)" % (one, n1), "%.2f" % (three / one), "-", None,
            cmd3 + " (x3, one per server); " + cmd1)
        clients = 300 if quick else 999  # a multiple of 3, within the full-table limit
        s1, ok1, scmd1 = _storm(build, root, port, pg.uri("udpchat_storm1"), 1, clients)
        s3, ok3, scmd3 = _storm(build, root, port, pg.uri("udpchat_storm3"), 3, clients)
        row("storm of %d registrations over three servers, whole tables" % clients,
            "%.2f s%s" % (s3, "" if ok3 else " (NOT converged)"),
            "one server on the same PostgreSQL: %.2f s%s" % (s1, "" if ok1 else " (NOT converged)"),
            "%.2f" % (s3 / s1), "-", None, scmd3 + " (x3); " + scmd1)
        servers = _servers(build, root, port, pg.uri("udpchat_lag"), 2)
        try:
            out, _, cmd = _parallel(build, [["lag", "--server-port", port, "--watch-port",
                                             port + 1, "--clients", 50 if quick else 300,
                                             "--timeout-s", 60]])
        finally:
            _stop(servers)
        log("  " + out[0])
        row("registration at one server to its row at a client of another",
            "p50 %.1f ms, p99 %.1f ms" % (num(r"p50 (\d+) us", out[0]) / 1000,
                                          num(r"p99 (\d+) us", out[0]) / 1000),
            "-", "-", "-", None, cmd)
    finally:
        pg.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="udpchat-bench-cluster-")
    try:
        bench_cluster(os.path.abspath(args.build), root, 47950, args.quick)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
