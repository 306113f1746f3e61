#!/usr/bin/env python3
"""run_integration.py: run the real-process tests of tests/integration.

    python3 tests/integration/run_integration.py [--binary PATH] [-k SUBSTRING]

Runs every function named test_* of every module tests/integration/test_*.py
(modules in the order of their file names, functions in the order they are
written), one after the other, each with a fresh harness.Context (temporary
directory, free loopback ports). Prints `PASS name (1.2 s)` or `FAIL name`
followed by the traceback and what every process involved printed, and ends
with the line `N passed, N failed`. Exit status 0 only if none failed (2 if
the binary is missing).
"""

import argparse
import glob
import importlib
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import harness  # noqa: E402


def _interrupted(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def default_binary():
    return os.environ.get("UDPCHAT_BIN") or os.path.join(REPO, "build", "udpchat")


def test_modules():
    """The modules test_*.py beside this file, imported, by file name."""
    names = sorted(os.path.splitext(os.path.basename(p))[0]
                   for p in glob.glob(os.path.join(HERE, "test_*.py")))
    return [importlib.import_module(name) for name in names]


def discover(modules, substring):
    """(name, function) of every test_* function defined in `modules`."""
    tests = []
    for module in modules:
        found = [(name, fn) for name, fn in vars(module).items()
                 if name.startswith("test_") and callable(fn)
                 and getattr(fn, "__module__", None) == module.__name__]
        found.sort(key=lambda t: t[1].__code__.co_firstlineno)
        tests += found
    if substring:
        tests = [t for t in tests if substring in t[0]]
    return tests


def main(argv=None):
    ap = argparse.ArgumentParser(description="udpchat real-process integration tests")
    ap.add_argument("--binary", default=default_binary(),
                    help="the udpchat binary (default: $UDPCHAT_BIN or build/udpchat)")
    ap.add_argument("--loadgen", default=None,
                    help="the load generator udpchat_loadgen (default: beside the binary)")
    ap.add_argument("-k", dest="substring", default=None,
                    help="run only the tests whose name contains SUBSTRING")
    ap.add_argument("--timeout", type=float, default=harness.DEFAULT_TIMEOUT,
                    help="seconds to wait for each expected line (default %(default)s)")
    ap.add_argument("--keep-tmp", action="store_true",
                    help="keep each test's temporary directory")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    args = ap.parse_args(argv)

    # A SIGTERM to the runner stops the current test's processes too.
    signal.signal(signal.SIGTERM, _interrupted)

    tests = discover(test_modules(), args.substring)
    if args.list:
        for name, _ in tests:
            print(name)
        return 0

    binary = os.path.abspath(args.binary)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print("error: udpchat binary not found or not executable: %s "
              "(build it, or give --binary PATH or UDPCHAT_BIN)" % binary, file=sys.stderr)
        return 2
    if not tests:
        print("error: no test matches -k %r" % args.substring, file=sys.stderr)
        return 2

    print("udpchat integration tests: %d test(s), binary %s" % (len(tests), binary), flush=True)
    passed = failed = skipped = 0
    suite_start = time.monotonic()
    for name, fn in tests:
        ctx = harness.Context(binary, timeout=args.timeout, keep_tmp=args.keep_tmp)
        ctx.loadgen = os.path.abspath(args.loadgen) if args.loadgen else os.path.join(
            os.path.dirname(binary), "udpchat_loadgen")
        t0 = time.monotonic()
        error = None
        skip = None
        try:
            fn(ctx)
        except harness.Skip as e:
            skip = str(e)
        except KeyboardInterrupt:
            print("interrupted during %s: stopping its processes" % name, flush=True)
            raise
        except BaseException:
            error = traceback.format_exc()
        finally:
            ctx.close()
        elapsed = time.monotonic() - t0
        if error is None:
            bad = ctx.sanitizer_reports()
            if bad:
                error = "sanitizer report in the stderr of: %s\n" % ", ".join(bad)
        if skip is not None:
            skipped += 1
            print("SKIP %s: %s" % (name, skip), flush=True)
        elif error is None:
            passed += 1
            print("PASS %s (%.1f s)" % (name, elapsed), flush=True)
        else:
            failed += 1
            print("FAIL %s (%.1f s)" % (name, elapsed))
            print(error.rstrip())
            print("output of the processes of %s:" % name)
            print(ctx.dump(tail=120))
            print(flush=True)
    print("(%.1f s in all)" % (time.monotonic() - suite_start))
    print("%d passed, %d failed" % (passed, failed) +
          (", %d skipped" % skipped if skipped else ""), flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
