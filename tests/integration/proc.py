"""proc.py: one running process, and the lines it prints.

- Proc: one running process. Reader threads copy its stdout and stderr into
  per-stream line lists as the lines come, so a pipe never fills up.
  expect(line_or_regex, timeout) waits for the next matching line after a
  cursor and moves the cursor past it; lines() returns everything printed so
  far, to check absence and duplicates after the fact.
- matches(pattern, line): what a pattern is (an exact string, a compiled
  regex matched in full, or a predicate), for Proc and the checks.
- HarnessError: an expected line did not come, or a process did not behave.

Every wait has a deadline; nothing here sleeps to wait for something.
"""

import os
import re
import signal
import subprocess
import threading
import time

# Seconds to wait for one expected line. Generous: the tests also run against
# an AddressSanitizer build. UDPCHAT_TEST_TIMEOUT overrides it.
DEFAULT_TIMEOUT = float(os.environ.get("UDPCHAT_TEST_TIMEOUT", "10"))


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

    def wait_count(self, pattern, n, start=0, timeout=None, stream="out"):
        """Wait until at least n lines after index `start` match `pattern`;
        return how many do. The cursor does not move."""
        buf = self._buf(stream)
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with buf.cond:
            while True:
                found = sum(1 for line in buf.lines[start:] if matches(pattern, line))
                remaining = deadline - time.monotonic()
                if found >= n:
                    return found
                if buf.eof or remaining <= 0:
                    snapshot, eof = list(buf.lines), buf.eof
                    break
                buf.cond.wait(remaining)
        self._fail_wait("%d %s lines %s (%d so far)" % (n, stream, describe_pattern(pattern), found),
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
