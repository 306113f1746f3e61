"""harness.py: run udpchat processes for real and watch what they print.

A small library, Python 3 standard library only, shared by the integration
tests (the modules test_*.py, run by run_integration.py) and the scripted
demo (examples/demo.py). Its parts live in modules named for what they own,
and every name is re-exported here, so that `import harness` and
`from harness import msg, Context, ...` give all of them:

- expected_lines.py: the exact lines of manual §4 (WELCOME, TABLE, SAVED,
  msg(), stored(), list_line(), ...) and LOOPBACK.
- proc.py: Proc, one running process. Reader threads copy its stdout and
  stderr into per-stream line lists as the lines come, so a pipe never
  fills up. expect(line_or_regex, timeout) waits for the next matching line
  after a cursor and moves the cursor past it; lines() returns everything
  printed so far, to check absence and duplicates after the fact. Also
  HarnessError, matches() and DEFAULT_TIMEOUT.
- context.py: Context, everything one test (or the demo) starts: free
  loopback ports, a temporary directory, the processes. close() stops them
  all (gently, then with SIGKILL) whatever happened, and dump() tells what
  each one printed. Also RunResult and SANITIZER_RE.
- steps.py: wait_registered(), the lines of a registration; direct(),
  marker() and expect_stored(), a message sent and seen.
- checks.py: check, check_equal, check_once, check_absent, the assertions
  the test modules share (each raises AssertionError with a message saying
  what was wrong), and Skip, for a test that cannot run here.

Every wait has a deadline; nothing here sleeps to wait for something.
"""

from checks import Skip, check, check_absent, check_equal, check_once  # noqa: F401
from context import SANITIZER_RE, Context, RunResult  # noqa: F401
from expected_lines import (  # noqa: F401
    BYE, EXITING, HAVE_MESSAGES, LOOPBACK, NOT_REGISTERED, NOT_RESPONDING, NOT_UTF8,
    SAVED, SERVER_START, SERVER_START_PREFIX, SHUTTING_DOWN, TABLE, TIMESTAMP_RE,
    UNREACHABLE, USAGE_SEND, WELCOME,
    exists, in_use, list_line, msg, no_ack, received_by, stored, too_long,
    unknown_client, unknown_command,
)
from proc import DEFAULT_TIMEOUT, HarnessError, Proc, describe_pattern, matches  # noqa: F401
from steps import direct, expect_stored, marker, wait_registered  # noqa: F401
