"""The server's log (manual §6.2): timestamped lines on a terminal or a
file, syslog priorities when stderr is the journal's stream (as systemd
sets it up: JOURNAL_STREAM names the device and inode of stderr)."""

import os
import re
import signal
import socket
import subprocess

from harness import LOOPBACK, SERVER_START_PREFIX, check

STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (TRACE|DEBUG|INFO |WARN |ERROR) ")


def run_server(ctx, name, journal):
    """Runs a server at --log-level debug with stderr in a file, sends it a
    datagram that is not a frame (a debug record), stops it with SIGTERM,
    and returns the lines of its stderr."""
    path = os.path.join(ctx.tmp, name + ".err")
    port = ctx.free_port()
    with open(path, "w") as err:
        st = os.fstat(err.fileno())
        env = dict(ctx.env)
        env.pop("JOURNAL_STREAM", None)
        if journal is not None:
            env["JOURNAL_STREAM"] = ("%d:%d" % (st.st_dev, st.st_ino)) if journal else "1:1"
        proc = subprocess.Popen([ctx.binary, "-s", str(port), "--data-dir", ctx.data_dir(name),
                                 "--bind", LOOPBACK, "--log-level", "debug"],
                                stdout=subprocess.PIPE, stderr=err, env=env, text=True)
        try:
            line = proc.stdout.readline()
            check(line.startswith(SERVER_START_PREFIX), "%s: start line %r" % (name, line))
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(b"not a frame", (LOOPBACK, port))
            # SIGUSR1 prints the statistics: once they count the drop, its
            # record is in the log (the datagram was handled). Bounded.
            for _ in range(50):
                proc.send_signal(signal.SIGUSR1)
                stats = ""
                while "datagrams dropped:" not in stats:
                    stats = proc.stdout.readline()
                    check(stats, "%s: the server ended" % name)
                if "unsealed" in stats:
                    break
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
    with open(path) as f:
        return f.read().splitlines()


def test_log_lines_are_stamped_off_the_journal(ctx):
    for name, journal in (("plain", None), ("other-stream", False)):
        lines = run_server(ctx, name, journal)
        check(lines, "%s: nothing logged" % name)
        bad = [l for l in lines if not STAMPED.match(l)]
        check(not bad, "%s: lines without time and level: %r" % (name, bad[:3]))
        check(any(" DEBUG " in l and "unsealed" in l for l in lines),
              "%s: no debug record of the dropped datagram: %r" % (name, lines[-5:]))


def test_log_priorities_in_the_journal(ctx):
    lines = run_server(ctx, "journal", True)
    check(lines, "nothing logged")
    bad = [l for l in lines if not re.match(r"^<[3-7]>\S", l)]
    check(not bad, "lines without a priority prefix: %r" % bad[:3])
    check(any(l.startswith("<6>") and "server key" in l for l in lines),
          "the start record is not at priority 6 (info): %r" % lines[:3])
    check(any(l.startswith("<7>") and "unsealed" in l for l in lines),
          "the dropped datagram is not at priority 7 (debug): %r" % lines[-5:])
    check(not any(STAMPED.match(l[3:]) for l in lines), "the journal gets timestamps too")
