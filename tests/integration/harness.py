"""harness.py: run udpchat processes for real and watch what they print.

A small library, Python 3 standard library only, shared by the integration
tests (test_chat.py, run by run_integration.py) and the scripted demo
(examples/demo.py).

- Proc: one running process. Reader threads copy its stdout and stderr into
  per-stream line lists as the lines come, so a pipe never fills up.
  expect(line_or_regex, timeout) waits for the next matching line after a
  cursor and moves the cursor past it; lines() returns everything printed so
  far, to check absence and duplicates after the fact.
- Context: everything one test (or the demo) starts: free loopback ports, a
  temporary directory, the processes. close() stops them all (gently, then
  with SIGKILL) whatever happened, and dump() tells what each one printed.
- check, check_equal, check_once, check_absent: the assertions the test
  modules share; each raises AssertionError with a message saying what was
  wrong.

Every wait has a deadline; nothing here sleeps to wait for something.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

# Seconds to wait for one expected line. Generous: the tests also run against
# an AddressSanitizer build. UDPCHAT_TEST_TIMEOUT overrides it.
DEFAULT_TIMEOUT = float(os.environ.get("UDPCHAT_TEST_TIMEOUT", "10"))

LOOPBACK = "127.0.0.1"

# ---------------------------------------------------------------------------
# The exact lines of manual §4 (and section 4 for the server).

SERVER_START_PREFIX = "udpchat server listening on "
SERVER_START = re.compile(re.escape(SERVER_START_PREFIX) + ".*")

WELCOME = ">>> [Welcome, You are registered.]"
TABLE = ">>> [Client table updated.]"
SAVED = ">>> [Messages received by the server and saved]"
HAVE_MESSAGES = ">>> [You Have Messages]"
BYE = ">>> [You are Offline. Bye.]"
NOT_RESPONDING = ">>> [Server not responding]"
EXITING = ">>> [Exiting]"
UNREACHABLE = ">>> [Server unreachable, retrying.]"
NOT_REGISTERED = ">>> [You are not registered. Use: reg <nick>]"
USAGE_SEND = ">>> [Usage: send <nick> <message>]"
NOT_UTF8 = ">>> [Message is not valid UTF-8.]"
SHUTTING_DOWN = ">>> [Server is shutting down.]"


def received_by(nick):
    return ">>> [Message received by %s.]" % nick


def no_ack(nick):
    return ">>> [No ACK from %s, message sent to server.]" % nick


def exists(nick):
    return ">>> [Client %s exists!!]" % nick


def unknown_client(nick):
    return ">>> [Unknown client %s.]" % nick


def in_use(nick):
    return ">>> [Nickname %s is already in use.]" % nick


def too_long(nbytes):
    return ">>> [Message too long: %d bytes (max 1000).]" % nbytes


def unknown_command(word):
    return ">>> [Unknown command: %s. Type help for the commands.]" % word


def msg(sender, text):
    """A direct message as the receiver prints it."""
    return ">>> %s: %s" % (sender, text)


TIMESTAMP_RE = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"


def stored(sender, text):
    """A stored message as printed after [You Have Messages] (a regex)."""
    return re.compile(
        re.escape(">>> %s: " % sender) + "(" + TIMESTAMP_RE + ") " + re.escape(text))


def list_line(nick, port, online=True):
    return ">>> %s %s:%d %s" % (nick, LOOPBACK, port, "online" if online else "offline")


# A sanitizer report in a process's stderr is a failure of the test.
SANITIZER_RE = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer|MemorySanitizer)"
    r"|WARNING: ThreadSanitizer"
    r"|\.(c|cc|cpp|cxx|h|hpp|hxx):\d+:\d+: runtime error: ")


class Skip(Exception):
    """Raised by a test that cannot run on this machine (not root, no nft,
    no mount); the runner reports it as skipped, with the reason."""


class HarnessError(AssertionError):
    """An expected line did not come, or a process did not behave."""


def describe_pattern(pattern):
    if isinstance(pattern, str):
        return repr(pattern)
    if isinstance(pattern, re.Pattern):
        return "regex %r" % pattern.pattern
    return getattr(pattern, "__name__", repr(pattern))


def matches(pattern, line):
    """Exact string, compiled regex (full match) or predicate."""
    if isinstance(pattern, str):
        return line == pattern
    if isinstance(pattern, re.Pattern):
        return pattern.fullmatch(line) is not None
    return bool(pattern(line))


# ---------------------------------------------------------------------------
# Checks shared by the test modules. Each raises AssertionError (a failure of
# the test, reported by run_integration.py with its message).

def check(cond, message):
    """Fail with `message` unless `cond` is true."""
    if not cond:
        raise AssertionError(message)


def check_equal(actual, expected, what):
    """Fail unless actual == expected; the message names `what` and shows
    both values."""
    if actual != expected:
        raise AssertionError("%s: expected %r, got %r" % (what, expected, actual))


def check_once(proc, line, start=0):
    """Fail unless `proc` printed `line` (a pattern, as for Proc.count) on
    stdout exactly once from index `start` on."""
    n = proc.count(line, start=start)
    if n != 1:
        raise AssertionError("%s: %r printed %d times, expected exactly once" % (
            proc.name, line, n))


def check_absent(proc, pattern, start=0, stream="out"):
    """Fail if any line of `proc`'s `stream` from index `start` on is
    `pattern` (an exact string, or a compiled regex matched in full); the
    message lists the lines that were."""
    hits = [l for l in proc.lines(stream)[start:]
            if (l == pattern if isinstance(pattern, str) else pattern.fullmatch(l))]
    if hits:
        raise AssertionError("%s: unexpected line(s) %r" % (proc.name, hits))


def _ensure_sigint_not_ignored():
    # A shell starting a background job without job control sets SIGINT to
    # "ignore", and an ignored signal stays ignored across exec: the clients
    # we start would then never see the SIGINT a test sends them. A handled
    # signal is reset to its default at exec, so install Python's own.
    try:
        if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not in the main thread
        pass


_ensure_sigint_not_ignored()


# ---------------------------------------------------------------------------

class _Lines:
    """The lines of one stream of one process, filled by a reader thread."""

    def __init__(self, collapse=False):
        self.lines = []
        self.cond = threading.Condition()
        self.eof = False
        self.cursor = 0
        # stderr only: a run of lines that differ only in their digits (a
        # log line repeated in a loop) is kept once, with a count, so that a
        # runaway process cannot fill the memory or bury the useful lines.
        self.collapse = collapse
        self.repeats = {}  # index -> further lines like it
        self._last_key = None

    def add(self, line):
        if self.collapse:
            key = _DIGITS.sub("", line)
            if self.lines and key == self._last_key:
                i = len(self.lines) - 1
                self.repeats[i] = self.repeats.get(i, 0) + 1
                return False
            self._last_key = key
        self.lines.append(line)
        return True


_DIGITS = re.compile(r"\d+")


class Proc:
    """One running process with captured, line-split stdout and stderr."""

    def __init__(self, name, argv, cwd=None, env=None, timeout=DEFAULT_TIMEOUT,
                 echo=None, kind="process"):
        self.name = name
        self.argv = list(argv)
        self.kind = kind
        self.timeout = timeout
        self.echo = echo
        self.started = time.monotonic()
        self._out = _Lines()
        self._err = _Lines(collapse=True)
        self.popen = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=cwd, env=env, bufsize=0,
            start_new_session=True)
        self.pid = self.popen.pid
        self._threads = [
            threading.Thread(target=self._reader, args=(self.popen.stdout, self._out, "out"),
                             name="%s-stdout" % name, daemon=True),
            threading.Thread(target=self._reader, args=(self.popen.stderr, self._err, "err"),
                             name="%s-stderr" % name, daemon=True),
        ]
        for t in self._threads:
            t.start()

    # -- reading ----------------------------------------------------------

    def _reader(self, pipe, buf, stream):
        try:
            for raw in iter(pipe.readline, b""):
                if raw.endswith(b"\n"):
                    raw = raw[:-1]
                # surrogateescape keeps any invalid byte visible (and unequal
                # to every valid expected line) instead of failing the reader.
                line = raw.decode("utf-8", "surrogateescape")
                with buf.cond:
                    added = buf.add(line)
                    buf.cond.notify_all()
                if self.echo is not None and added:
                    try:
                        self.echo(self, stream, line)
                    except Exception:  # never let a display problem stop the reader
                        pass
        except (OSError, ValueError):
            pass
        finally:
            with buf.cond:
                buf.eof = True
                buf.cond.notify_all()

    def _buf(self, stream):
        if stream == "out":
            return self._out
        if stream == "err":
            return self._err
        raise ValueError("stream must be 'out' or 'err'")

    def lines(self, stream="out"):
        """Every line printed so far on the stream (a copy)."""
        buf = self._buf(stream)
        with buf.cond:
            return list(buf.lines)

    def err_lines(self):
        return self.lines("err")

    def mark(self, stream="out"):
        """A position to give since(): the number of lines printed so far."""
        buf = self._buf(stream)
        with buf.cond:
            return len(buf.lines)

    def since(self, mark, stream="out"):
        buf = self._buf(stream)
        with buf.cond:
            return list(buf.lines[mark:])

    def cursor(self, stream="out"):
        buf = self._buf(stream)
        with buf.cond:
            return buf.cursor

    def skip_to_end(self, stream="out"):
        """Move the cursor past every line printed so far."""
        buf = self._buf(stream)
        with buf.cond:
            buf.cursor = len(buf.lines)

    def count(self, pattern, stream="out", start=0):
        return sum(1 for line in self.lines(stream)[start:] if matches(pattern, line))

    def _fail_wait(self, what, buf_lines, start, timeout, eof):
        recent = buf_lines[start:][-15:]
        if eof:
            rc = self.wait_quiet(1.0)
            why = "the process closed its output (exit status %s)" % rc
        else:
            why = "no such line within %.1f s" % timeout
        raise HarnessError(
            "%s: expected %s: %s; lines after the cursor (%d): %s" % (
                self.name, what, why, len(buf_lines) - start,
                "\n    " + "\n    ".join(repr(l) for l in recent) if recent else "none"))

    def expect(self, pattern, timeout=None, stream="out"):
        """Wait for the next line after the cursor that matches `pattern`
        (exact string, compiled regex matched in full, or predicate); move
        the cursor past it and return it. Lines before it are skipped."""
        buf = self._buf(stream)
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with buf.cond:
            start = buf.cursor
            i = start
            while True:
                while i < len(buf.lines):
                    if matches(pattern, buf.lines[i]):
                        buf.cursor = i + 1
                        return buf.lines[i]
                    i += 1
                remaining = deadline - time.monotonic()
                if buf.eof or remaining <= 0:
                    snapshot, eof = list(buf.lines), buf.eof
                    break
                buf.cond.wait(remaining)
        self._fail_wait("%s line %s" % (stream, describe_pattern(pattern)),
                        snapshot, start, timeout, eof)

    def expect_index(self, pattern, timeout=None, stream="out"):
        """Like expect(), but return the index of the matching line."""
        self.expect(pattern, timeout, stream)
        return self.cursor(stream) - 1

    def expect_next(self, pattern, timeout=None, stream="out"):
        """The very next line after the cursor must match `pattern`."""
        buf = self._buf(stream)
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with buf.cond:
            start = buf.cursor
            while len(buf.lines) <= start:
                remaining = deadline - time.monotonic()
                if buf.eof or remaining <= 0:
                    snapshot, eof = list(buf.lines), buf.eof
                    break
                buf.cond.wait(remaining)
            else:
                line = buf.lines[start]
                if matches(pattern, line):
                    buf.cursor = start + 1
                    return line
                raise HarnessError("%s: expected the next %s line to be %s, got %r" % (
                    self.name, stream, describe_pattern(pattern), line))
        self._fail_wait("next %s line %s" % (stream, describe_pattern(pattern)),
                        snapshot, start, timeout, eof)

    def expect_all(self, patterns, timeout=None, stream="out"):
        """Wait until every pattern matched a distinct line after the cursor,
        in any order; move the cursor past the last of them."""
        buf = self._buf(stream)
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with buf.cond:
            start = buf.cursor
            while True:
                missing = list(patterns)
                found = []
                last = start - 1
                for i in range(start, len(buf.lines)):
                    for p in missing:
                        if matches(p, buf.lines[i]):
                            missing.remove(p)
                            found.append(buf.lines[i])
                            last = i
                            break
                    if not missing:
                        break
                if not missing:
                    buf.cursor = last + 1
                    return found
                remaining = deadline - time.monotonic()
                if buf.eof or remaining <= 0:
                    snapshot, eof = list(buf.lines), buf.eof
                    break
                buf.cond.wait(remaining)
        self._fail_wait("%s lines %s" % (stream, ", ".join(describe_pattern(p) for p in missing)),
                        snapshot, start, timeout, eof)

    def wait_lines(self, n, start=0, timeout=None, stream="out"):
        """Wait until at least n lines were printed after index `start`."""
        buf = self._buf(stream)
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with buf.cond:
            while len(buf.lines) - start < n:
                remaining = deadline - time.monotonic()
                if buf.eof or remaining <= 0:
                    snapshot, eof = list(buf.lines), buf.eof
                    break
                buf.cond.wait(remaining)
            else:
                return list(buf.lines[start:])
        self._fail_wait("%d %s lines" % (n, stream), snapshot, start, timeout, eof)

    # -- writing ----------------------------------------------------------

    def send(self, line):
        """Type one command: str (a newline is added) or raw bytes (sent as
        they are, add the newline yourself)."""
        data = line if isinstance(line, bytes) else (line + "\n").encode("utf-8")
        if self.echo is not None:
            shown = data[:-1] if data.endswith(b"\n") else data
            self.echo(self, "in", shown.decode("utf-8", "backslashreplace"))
        try:
            self.popen.stdin.write(data)
            self.popen.stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as e:
            raise HarnessError("%s: cannot type %r: %s (exit status %s)" % (
                self.name, data, e, self.popen.poll()))

    def close_stdin(self):
        """End of input."""
        if self.echo is not None:
            self.echo(self, "in", "<end of input>")
        try:
            self.popen.stdin.close()
        except OSError:
            pass

    # -- lifetime ---------------------------------------------------------

    def alive(self):
        return self.popen.poll() is None

    @property
    def returncode(self):
        return self.popen.poll()

    def signal(self, sig):
        if self.echo is not None:
            self.echo(self, "sig", signal.Signals(sig).name)
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def wait(self, timeout=None):
        """Wait for the exit status; HarnessError if still running at the
        deadline."""
        timeout = self.timeout if timeout is None else timeout
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise HarnessError("%s: still running %.1f s later" % (self.name, timeout))
        self._join_readers(timeout)
        return rc

    def wait_quiet(self, timeout):
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def expect_exit(self, status, timeout=None):
        rc = self.wait(timeout)
        if rc != status:
            raise HarnessError("%s: exit status %s, expected %s" % (self.name, rc, status))
        return rc

    def kill(self):
        """SIGKILL and reap (the port is free once this returns)."""
        self.signal(signal.SIGKILL)
        self.popen.wait(30)
        self._join_readers(5)

    def _join_readers(self, timeout):
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))

    def release(self):
        """Close our ends of the pipes (after the process ended)."""
        for f in (self.popen.stdin, self.popen.stdout, self.popen.stderr):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass

    def dump(self, tail=40):
        rc = self.popen.poll()
        parts = ["--- %s (pid %d, %s) %s" % (
            self.name, self.pid, "running" if rc is None else "exit status %d" % rc,
            " ".join(self.argv))]
        for label, buf, prefix in (("stdout", self._out, "| "), ("stderr", self._err, "! ")):
            with buf.cond:
                lines, repeats = list(buf.lines), dict(buf.repeats)
            first = max(0, len(lines) - tail)
            total = len(lines) + sum(repeats.values())
            parts.append("  %s: %d lines%s" % (
                label, total, " (last %d shown)" % (len(lines) - first) if first else ""))
            for i in range(first, len(lines)):
                more = repeats.get(i)
                parts.append("    " + prefix + lines[i] + (
                    "   [and %d more lines like it]" % more if more else ""))
        return "\n".join(parts)


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


def wait_registered(client, stored_messages=False):
    """Wait for [Welcome...] then [Client table updated.] (and, with
    stored_messages, [You Have Messages]); check that no table line came
    before the welcome."""
    start = client.cursor()
    i = client.expect_index(WELCOME)
    early = [l for l in client.lines()[start:i] if l == TABLE]
    if early:
        raise HarnessError("%s: %r printed before %r" % (client.name, TABLE, WELCOME))
    client.expect(TABLE)
    if stored_messages:
        client.expect(HAVE_MESSAGES)
    return client
