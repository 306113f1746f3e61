"""bench_nat.py: send -> ack across NATs (docs/NAT.md), on real processes in
network namespaces (tests/integration/nat_netns.py), each figure against a
baseline of the same run:

- the first message to a peer across two port-restricted NATs (the
  introduction and the punch included), and the later ones, against a send
  over one LAN (two clients behind the same NAT, the LAN path);
- messages relayed by the server (a peer behind a symmetric NAT): the time
  to ack, and the rate of a burst, against bare one-way UDP over the same
  routers (datagrams a second from a client's namespace to the server's).

Times are read where a user sees them: from typing `send` to the client
printing `[Message received by ...]` (a few hundred microseconds of pipe and
thread hand-off included on both sides of each comparison). Needs root, `ip`
and `nft`; without them the rows say "skipped".
"""

import os
import statistics
import subprocess
import sys
import time

from bench_common import log, row

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))

from harness import Context, Skip, wait_registered  # noqa: E402
from nat_netns import NatLab, SERVER_ADDRESS  # noqa: E402

PORT, CLIENT_PORT = 7000, 40000
RECEIVED = ">>> [Message received by bob.]"


def _start(ctx, lab, ns, nick):
    proc = lab.start(ctx, ns, nick, ["-c", nick, SERVER_ADDRESS, str(PORT), str(CLIENT_PORT)],
                     kind="client")
    proc.nick = nick
    wait_registered(proc)
    return proc


def _pair(ctx, lab, alice_router, bob_router):
    """A server and alice and bob behind the given routers (the same index:
    one LAN)."""
    lab.start(ctx, lab.server_ns, "server",
              ["-s", str(PORT), "--data-dir", ctx.data_dir(), "--bind", SERVER_ADDRESS,
               "--log-level", "warn"], kind="server").expect(
        lambda line: line.startswith("udpchat server listening on"))
    alice = _start(ctx, lab, lab.add_host(alice_router), "alice")
    bob = _start(ctx, lab, lab.add_host(bob_router), "bob")
    alice.expect(">>> [Client table updated.]")
    return alice, bob


def _send_times(alice, n):
    """Milliseconds from typing each of `n` sends to its ack line, one after
    the other: [first, ...]."""
    times = []
    for i in range(n):
        t0 = time.monotonic()
        alice.send("send bob m%d" % i)
        alice.expect(RECEIVED, timeout=30)
        times.append((time.monotonic() - t0) * 1000.0)
    return times


def _burst_rate(alice, bob, n):
    """Messages a second: `n` sends typed at once, until bob showed the last."""
    t0 = time.monotonic()
    for i in range(n):
        alice.send("send bob burst %d" % i)
    bob.expect(">>> alice: burst %d" % (n - 1), timeout=120)
    return n / (time.monotonic() - t0)


def _bare_one_way(lab, ns, seconds=2.0):
    """Datagrams a second of 200 bytes from namespace `ns` to the server's
    address, received there (a Python sender and receiver, no udpchat)."""
    code_rx = ("import socket,time\n"
               "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('%s',7100))\n"
               "s.settimeout(1.0);n=0\n"
               "try:\n  while True:\n    s.recv(2048);n+=1\nexcept socket.timeout:\n  pass\n"
               "print(n)\n" % SERVER_ADDRESS)
    code_tx = ("import socket,time\n"
               "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);b=b'x'*200;n=0\n"
               "end=time.monotonic()+%f\n"
               "while time.monotonic()<end:\n  s.sendto(b,('%s',7100));n+=1\n"
               "print(n)\n" % (seconds, SERVER_ADDRESS))
    rx = subprocess.Popen(lab._in(lab.server_ns, [sys.executable, "-c", code_rx]),
                          stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    subprocess.run(lab._in(ns, [sys.executable, "-c", code_tx]), capture_output=True,
                   timeout=60)
    out, _ = rx.communicate(timeout=60)
    return int(out.strip() or 0) / seconds


def bench_nat(build, n=50):
    log("send -> ack across NATs, in network namespaces (%d messages a path)" % n)
    binary = os.path.join(build, "udpchat")
    cmd = "bench/bench_nat.py (./UdpChat bench)"
    results = {}
    try:
        for name, routers in (("lan", ("masquerade", None)),
                              ("two_nats", ("masquerade", "masquerade")),
                              ("relay", ("masquerade", "masquerade random"))):
            ctx = Context(binary)
            lab = NatLab.create()
            try:
                a_router = lab.add_router(routers[0])
                b_router = a_router if routers[1] is None else lab.add_router(routers[1])
                alice, bob = _pair(ctx, lab, a_router, b_router)
                times = _send_times(alice, n)
                results[name] = times
                if name == "relay":
                    results["relay_rate"] = _burst_rate(alice, bob, 100)  # --max-pending
                    results["bare_rate"] = _bare_one_way(lab, lab.names[-2])
            finally:
                try:
                    ctx.close()
                finally:
                    lab.delete()
    except Skip as e:
        row("send across NATs", "skipped (%s)" % e, "-", "-", "-", None, cmd)
        return
    lan = statistics.median(results["lan"][1:])
    for name, what in (("two_nats", "across two NATs"), ("relay", "relayed (symmetric NAT)")):
        first, later = results[name][0], statistics.median(results[name][1:])
        row("first send to ack %s, introduction included" % what, "%.1f ms" % first,
            "%.1f ms (LAN, p50)" % lan, "%.1fx" % (first / lan), "-", None, cmd)
        row("later sends to ack %s, p50" % what, "%.1f ms" % later, "%.1f ms (LAN, p50)" % lan,
            "%.1fx" % (later / lan), "-", None, cmd)
    rate, bare = results["relay_rate"], results["bare_rate"]
    row("relayed messages, a burst of 100 to one peer", "%.0f msg/s" % rate,
        "%.0f datagrams/s (bare one-way UDP, 200 bytes)" % bare, "%.3f" % (rate / bare), "-",
        None, cmd)


if __name__ == "__main__":
    bench_nat(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(HERE), "build"))
