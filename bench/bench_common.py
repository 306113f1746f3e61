"""bench_common.py: what the benchmarks of run_bench.py share: the rows of
results (ROWS, STORM) and row(), a real `udpchat -s` server (Server), a real
`udpchat -c` client (RealClient), the load generator (loadgen) and the
helpers that read their figures."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time


ROWS = []      # (figure, measured, baseline, ratio, target, met, command)
STORM = []     # (n, seconds, datagrams per registration, mode)


def log(text):
    print(text, flush=True)


class Server:
    """A udpchat server on 127.0.0.1 with its own data directory."""

    def __init__(self, build, root, port, extra=()):
        self.data = tempfile.mkdtemp(prefix="server-", dir=root)
        self.port = port
        self.argv = [os.path.join(build, "udpchat"), "-s", str(port), "--data-dir", self.data,
                     "--bind", "127.0.0.1", "--log-level", "warn"] + list(extra)
        self.out = open(os.path.join(self.data, "stdout"), "w+")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdout=self.out, stderr=subprocess.DEVNULL)
        self.start_s = self._wait_start(t0)

    def _wait_start(self, t0, timeout=120):
        while time.monotonic() - t0 < timeout:
            self.out.flush()
            with open(self.out.name) as f:
                if "listening on" in f.read():
                    return time.monotonic() - t0
            if self.proc.poll() is not None:
                raise RuntimeError("server exited: %s" % self.argv)
            time.sleep(0.01)
        raise RuntimeError("server did not start in %d s" % timeout)

    def rss_mib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        return float("nan")

    def stats(self):
        """SIGUSR1, then the statistics lines it printed."""
        with open(self.out.name) as f:
            before = len(f.read())
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with open(self.out.name) as f:
                text = f.read()[before:]
            if "store writer" in text:
                return text
            time.sleep(0.05)
        return ""

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.out.close()
        shutil.rmtree(self.data, ignore_errors=True)


def loadgen(build, *args, timeout=600):
    argv = [os.path.join(build, "udpchat_loadgen")] + [str(a) for a in args]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    out = r.stdout.strip()
    if r.returncode != 0:
        log("  (loadgen exit %d: %s %s)" % (r.returncode, out, r.stderr.strip()[-500:]))
    shown = [os.path.basename(a) if i == 0 or os.path.isabs(a) else a
             for i, a in enumerate(argv)]
    return out, " ".join(shown)


def loadgen_knows(build, option):
    """Whether this build's udpchat_loadgen takes `option` (a build of an
    earlier commit, for before/after, may not)."""
    with open(os.path.join(build, "udpchat_loadgen"), "rb") as f:
        return option.encode() in f.read()


def num(pattern, text, default=float("nan")):
    m = re.search(pattern, text)
    return float(m.group(1)) if m else default


def row(figure, measured, baseline, ratio, target, met, command):
    """One row of the table; `met` None: a figure without a target of its own."""
    shown = "-" if met is None else "yes" if met else "**no**"
    ROWS.append((figure, measured, baseline, ratio, target, shown, command))
    log("  %s: %s | baseline %s | ratio %s | target %s | %s" % (
        figure, measured, baseline, ratio, target,
        "-" if met is None else "met" if met else "NOT met"))


class RealClient:
    """A real `udpchat -c` on 127.0.0.1, its stdin a pipe, its stdout (every
    message it shows) written to a file, as a person's client would."""

    def __init__(self, build, root, nick, server_port, port, extra=()):
        self.dir = tempfile.mkdtemp(prefix="client-", dir=root)
        self.argv = [os.path.join(build, "udpchat"), "-c", nick, "127.0.0.1", str(server_port),
                     str(port), "--bind", "127.0.0.1",
                     "--key-file", os.path.join(self.dir, nick + ".key")] + list(extra)
        self.out = open(os.path.join(self.dir, "stdout"), "w+")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=self.out,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with open(self.out.name) as f:
                if "[Client table updated.]" in f.read():
                    return
            if self.proc.poll() is not None:
                raise RuntimeError("client exited: %s" % self.argv)
            time.sleep(0.01)
        raise RuntimeError("client did not register in 60 s: %s" % self.argv)

    def stop(self):
        self.proc.stdin.close()  # end of input: it deregisters and exits
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.out.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def server_key(data_dir):
    """The server's public key, from the comment line of its key file; None
    for a build without one (before the security work)."""
    try:
        with open(os.path.join(data_dir, "server.key")) as f:
            m = re.search(r"Public key: ([0-9a-f]{64})", f.read())
    except OSError:
        return None
    return m.group(1) if m else None
