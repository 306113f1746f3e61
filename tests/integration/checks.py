"""checks.py: what a test uses to fail, or to say it cannot run here.

check, check_equal, check_once and check_absent are the assertions the test
modules share: each raises AssertionError with a message saying what was
wrong, which run_integration.py reports as the test's failure. Skip is
raised by a test that cannot run on this machine; the runner reports it as
skipped.
"""


class Skip(Exception):
    """Raised by a test that cannot run on this machine (not root, no nft,
    no mount); the runner reports it as skipped, with the reason."""


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
