#!/usr/bin/env python3
"""run_bench.py: udpchat's benchmark suite (./UdpChat bench).

One benchmark per row of the performance targets. Each runs real
`udpchat -s` servers and the load generator (bench/loadgen.cpp: real
ClientSessions on real sockets), measures its baseline in the same run,
and prints the figure, the baseline, their ratio, the target and the
command that reproduces it. Writes bench/results/results.md and, with
gnuplot, latency.png and storm.png there. Never a pass/fail test: the
figures go to docs/PERFORMANCE.md by hand, with the machine they ran on.
bench_cluster.py adds several servers on one throw-away PostgreSQL against
one server on it (saves, a storm, the lag between servers).

With --before-build (a build of an earlier commit, --before-rev), the
latency, save and storm benchmarks run again with that build's server and
load generator, right after this build's, and a table puts the two side
by side (./UdpChat bench builds 63ddefe, the last commit before sessions
and end-to-end encryption, for that).

Usage: run_bench.py --build DIR [--out DIR] [--quick] [--before-build DIR --before-rev REV]
"""

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

from bench_common import ROWS, STORM, log
from bench_cluster import bench_cluster
from bench_nat import bench_nat
from bench_soak import bench_soak
from bench_figures import (bench_fanout, bench_latency, bench_offline, bench_online, bench_saves,
                           bench_storms)



def plots(out_dir, bare_file, send_file):
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no plots")
        return
    def cdf(src, dst):
        with open(src) as f:
            v = sorted(float(x) for x in f if x.strip())
        with open(dst, "w") as f:
            for i, x in enumerate(v):
                f.write("%f %f\n" % (x, (i + 1) / len(v)))
    cdf(bare_file, os.path.join(out_dir, "bare.cdf"))
    cdf(send_file, os.path.join(out_dir, "send.cdf"))
    with open(os.path.join(out_dir, "storm.dat"), "w") as f:
        for n, secs, per, mode in STORM:
            f.write("%d %f %f\n" % (n, secs, per))
    script = """
set terminal png size 900,500
set output '%(d)s/latency.png'
set title 'Round trip on loopback (1000-byte message): distribution'
set xlabel 'microseconds'; set ylabel 'fraction of samples'; set logscale x; set key bottom right
plot '%(d)s/bare.cdf' using 1:2 with lines title 'bare UDP ping-pong', \\
     '%(d)s/send.cdf' using 1:2 with lines title 'udpchat send -> ack'
unset logscale x
set output '%(d)s/storm.png'
set title 'Registration storms (whole tables up to 1,000, interest beyond)'
set xlabel 'clients registering at once'; set logscale x
set ylabel 'seconds to converge'; set y2label 'datagrams to clients per registration'
set ytics nomirror; set y2tics; set key top left
plot '%(d)s/storm.dat' using 1:2 with linespoints axes x1y1 title 'seconds', \\
     '%(d)s/storm.dat' using 1:3 with linespoints axes x1y2 title 'datagrams per registration'
""" % {"d": out_dir}
    subprocess.run(["gnuplot"], input=script, text=True, check=False)


def run_for_comparison(build, root, port, q):
    """The latency, save and storm rows of `build`, apart from ROWS."""
    saved = (ROWS[:], STORM[:])
    ROWS.clear()
    STORM.clear()
    try:
        scratch = tempfile.mkdtemp(prefix="before-", dir=root)
        bench_latency(build, root, port, scratch, 2000 if q else 20000, real_recipient=False)
        bench_saves(build, root, port + 1, 50 if q else 200, 10 if q else 20, 5 if q else 25)
        bench_storms(build, root, port + 2, [1000, 2000] if q else [1000, 2000, 10000],
                     first_contact=False)
        return ROWS[:]
    finally:
        ROWS[:], STORM[:] = saved


COMPARED = ("direct send to ack, p50", "direct send to ack, p99", "durable saves per second",
            "service time p99 during the save flood", "storm of")


def side_by_side(before_rows, rev):
    """Markdown lines: each compared figure before (rev) and now."""
    now = {r[0]: r for r in ROWS}
    lines = ["| figure | before (%s) | after (this build) | target |" % rev, "|---|---|---|---|"]
    for b in before_rows:
        if not b[0].startswith(COMPARED) or b[0] not in now:
            continue
        a = now[b[0]]
        show = lambda r: r[1] + ("" if r[3] == "-" else " (%s)" % r[3])
        lines.append("| %s | %s | %s | %s |" % (b[0], show(b), show(a), a[4]))
    return lines


def write_results(out_dir, started, compare=None):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    lines = ["# udpchat benchmark results", "",
             "Machine: %s, %d cores, %s; run %s, %.0f s." % (
                 cpu, os.cpu_count(), platform.platform(), time.strftime("%Y-%m-%d %H:%M UTC",
                 time.gmtime()), time.monotonic() - started), "",
             "| figure | measured | baseline (same run) | ratio | target | met | command |",
             "|---|---|---|---|---|---|---|"]
    for r in ROWS:
        lines.append("| " + " | ".join(r) + " |")
    lines += ["", "Storms (default `--full-table-limit` 1000):", "",
              "| clients | seconds | datagrams to clients per registration | tables |",
              "|---|---|---|---|"]
    for n, secs, per, mode in STORM:
        lines.append("| %d | %.3f | %.1f | %s |" % (n, secs, per, mode))
    if compare:
        rev, before_rows = compare
        lines += ["", "Before and after (the same benchmarks with the build of %s, run right "
                  "after this build's; ratios against baselines of the same run):" % rev, ""]
        lines += side_by_side(before_rows, rev)
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(text)
    print("\n" + text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                  "results"))
    ap.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    ap.add_argument("--before-build", help="a build of an earlier commit, for before/after")
    ap.add_argument("--before-rev", default="before", help="the commit --before-build is of")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    out_dir = os.path.abspath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    root = tempfile.mkdtemp(prefix="udpchat-bench-", dir=out_dir)
    started = time.monotonic()
    port = 47900
    q = args.quick
    try:
        bare_file, send_file = bench_latency(build, root, port, out_dir, 2000 if q else 20000)
        bench_saves(build, root, port + 1, 50 if q else 200, 10 if q else 20, 5 if q else 25)
        bench_fanout(build, root, port + 5, 1000, 5 if q else 20)
        log("registration storms")
        bench_storms(build, root, port + 2, [250, 1000, 2000] if q else
                     [250, 500, 1000, 2000, 5000, 10000])
        bench_online(build, root, port + 3, 5000 if q else 100000, 4 if q else 15)
        bench_offline(build, root, port + 4, 50000 if q else 1000000)
        bench_nat(build, 20 if q else 50)
        # About 50 minutes here at full size (99 million deliveries).
        bench_soak(build, root, port + 6, 20000 if q else 1000000)
        bench_cluster(build, root, port + 20, q)
        plots(out_dir, bare_file, send_file)
        compare = None
        if args.before_build:
            log("the same latency, save and storm benchmarks with %s (%s)" % (
                args.before_rev, args.before_build))
            compare = (args.before_rev, run_for_comparison(
                os.path.abspath(args.before_build), root, port + 10, q))
        write_results(out_dir, started, compare)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
