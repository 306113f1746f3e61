"""context.py: everything one test (or the demo) starts.

- Context: free loopback ports, a temporary directory (with its own key
  directory), the processes: server(), client(), chat() start them and
  wait for their first lines, run() runs the binary to completion. close()
  stops them all (gently, then with SIGKILL) whatever happened, and dump()
  tells what each one printed.
- RunResult: the outcome of one run to completion.
- SANITIZER_RE: a sanitizer report, which fails the test whose process
  printed it on stderr (sanitizer_reports()).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from expected_lines import LOOPBACK, SERVER_START, TABLE
from proc import DEFAULT_TIMEOUT, HarnessError, Proc
from steps import wait_registered


# A sanitizer report in a process's stderr is a failure of the test.
SANITIZER_RE = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer|MemorySanitizer)"
    r"|WARNING: ThreadSanitizer"
    r"|\.(c|cc|cpp|cxx|h|hpp|hxx):\d+:\d+: runtime error: ")


class RunResult:
    """The outcome of a short run to completion (usage checks)."""

    def __init__(self, name, argv, rc, out, err):
        self.name, self.argv, self.rc, self.out, self.err = name, argv, rc, out, err

    def dump(self):
        parts = ["--- %s (run to completion) exit status %s: %s" % (
            self.name, self.rc, " ".join(self.argv))]
        for label, text, prefix in (("stdout", self.out, "| "), ("stderr", self.err, "! ")):
            lines = text.splitlines()
            parts.append("  %s: %d lines" % (label, len(lines)))
            parts.extend("    " + prefix + l for l in lines[-20:])
        return "\n".join(parts)


class Context:
    """Everything one test (or the demo) starts; close() stops all of it."""

    def __init__(self, binary, timeout=DEFAULT_TIMEOUT, echo=None, keep_tmp=False,
                 server_log_level="debug"):
        self.binary = binary
        self.timeout = timeout
        self.echo = echo
        self.keep_tmp = keep_tmp
        self.server_log_level = server_log_level
        self.tmp = tempfile.mkdtemp(prefix="udpchat-it-")
        # Each context its own key directory (key files, known_servers), so
        # that one test's server keys are never pinned by the next test.
        self.keys = os.path.join(self.tmp, "xdg")
        self.env = dict(os.environ, XDG_DATA_HOME=self.keys)
        self.procs = []
        self.runs = []
        self.sockets = []
        self._ports = set()
        self._names = {}
        self.cleanups = []  # called by close() after every process stopped, last first

    # -- resources --------------------------------------------------------

    def free_port(self):
        """A UDP port on 127.0.0.1 that is free now, >= 1024, and not yet
        handed out by this context."""
        for _ in range(100):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind((LOOPBACK, 0))
                port = s.getsockname()[1]
            finally:
                s.close()
            if port >= 1024 and port not in self._ports:
                self._ports.add(port)
                return port
        raise HarnessError("no free UDP port found")

    def hold_port(self):
        """Bind a UDP socket on a free loopback port and keep it bound until
        close(); returns (socket, port)."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((LOOPBACK, 0))
        self.sockets.append(s)
        port = s.getsockname()[1]
        self._ports.add(port)
        return s, port

    def data_dir(self, name="data"):
        path = os.path.join(self.tmp, name)
        os.makedirs(path, exist_ok=True)
        return path

    def postgresql(self):
        """A throw-away PostgreSQL (pg_cluster.PgServer), stopped and its
        files removed by close()."""
        from pg_cluster import PgServer
        pg = PgServer()
        self.cleanups.append(pg.close)
        return pg

    def _unique(self, name):
        n = self._names.get(name, 0) + 1
        self._names[name] = n
        return name if n == 1 else "%s#%d" % (name, n)

    # -- processes --------------------------------------------------------

    def start(self, name, args, kind="process"):
        proc = Proc(self._unique(name), [self.binary] + list(args), cwd=self.tmp,
                    env=self.env, timeout=self.timeout, echo=self.echo, kind=kind)
        self.procs.append(proc)
        return proc

    def server(self, port=None, data_dir=None, extra=(), wait=True, name="server"):
        """Start a server on 127.0.0.1; with wait, wait for its start line."""
        port = self.free_port() if port is None else port
        data_dir = self.data_dir() if data_dir is None else data_dir
        args = ["-s", str(port), "--data-dir", data_dir, "--bind", LOOPBACK]
        if self.server_log_level:
            args += ["--log-level", self.server_log_level]
        proc = self.start(name, args + list(extra), kind="server")
        proc.port = port
        proc.data_dir = data_dir
        if wait:
            proc.expect(SERVER_START)
        return proc

    def client(self, nick, server, port=None, extra=(), wait=True, name=None):
        """Start a client `nick` of `server` (a server Proc or a port number);
        with wait, wait for [Welcome...] then [Client table updated.]."""
        server_port = server if isinstance(server, int) else server.port
        port = self.free_port() if port is None else port
        args = ["-c", nick, LOOPBACK, str(server_port), str(port), "--bind", LOOPBACK]
        proc = self.start(name or nick, args + list(extra), kind="client")
        proc.nick = nick
        proc.port = port
        if wait:
            wait_registered(proc)
        return proc

    def chat(self, nicks, server_extra=(), client_extra=()):
        """A server and one client per nickname, started one after the other;
        each earlier client is seen receiving the table that announces the
        next one. Returns (server, {nick: client})."""
        server = self.server(extra=server_extra)
        clients = {}
        for nick in nicks:
            c = self.client(nick, server, extra=client_extra)
            for other in clients.values():
                other.expect(TABLE)
            clients[nick] = c
        return server, clients

    def run(self, args, timeout=None, name="run"):
        """Run the binary to completion (usage checks): RunResult."""
        timeout = self.timeout if timeout is None else timeout
        argv = [self.binary] + list(args)
        try:
            cp = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                cwd=self.tmp, env=self.env, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            r = RunResult(name, argv, None, (e.stdout or b"").decode("utf-8", "replace"),
                          (e.stderr or b"").decode("utf-8", "replace"))
            self.runs.append(r)
            raise HarnessError("%s still running %.1f s later (killed)" % (" ".join(argv), timeout))
        r = RunResult(name, argv, cp.returncode, cp.stdout.decode("utf-8", "replace"),
                      cp.stderr.decode("utf-8", "replace"))
        self.runs.append(r)
        return r

    # -- the end ----------------------------------------------------------

    def close(self):
        """Stop every process: clients with SIGTERM first (so they can
        deregister while the server lives), then servers with SIGTERM, then
        SIGKILL whatever is left. Bounded: about 10 s at worst."""
        try:
            for kinds in (("client", "process"), ("server",)):
                group = [p for p in self.procs if p.kind in kinds and p.alive()]
                for p in group:
                    try:
                        p.popen.send_signal(signal.SIGTERM)
                    except OSError:
                        pass
                deadline = time.monotonic() + 5.0
                for p in group:
                    p.wait_quiet(max(0.0, deadline - time.monotonic()))
            for p in self.procs:
                if p.alive():
                    try:
                        p.popen.kill()
                    except OSError:
                        pass
                    p.wait_quiet(10)
            for p in self.procs:
                p._join_readers(2)
                p.release()
        finally:
            for cleanup in reversed(self.cleanups):
                try:
                    cleanup()
                except Exception:  # noqa: BLE001: the rest must still be cleaned up
                    pass
            self.cleanups = []
            for s in self.sockets:
                s.close()
            self.sockets = []
            if not self.keep_tmp:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def sanitizer_reports(self):
        """Names of the processes whose stderr holds a sanitizer report."""
        bad = []
        for p in self.procs:
            if any(SANITIZER_RE.search(l) for l in p.err_lines()):
                bad.append(p.name)
        for r in self.runs:
            if SANITIZER_RE.search(r.err):
                bad.append(r.name)
        return bad

    def dump(self, tail=40):
        parts = [p.dump(tail) for p in self.procs] + [r.dump() for r in self.runs]
        if self.keep_tmp:
            parts.append("(temporary directory kept: %s)" % self.tmp)
        return "\n".join(parts) if parts else "(no process was started)"
