"""terminal.py: a udpchat client on a real terminal, as a person uses it.

The client runs in a tmux session of its own (a private tmux server, `-L`),
so its standard input, output and error are one pseudo-terminal, libedit
and the terminal's line discipline are real, and capture-pane returns what
the screen shows: the rendered rows, not the bytes written. Keys are sent
as a person types them (send-keys). Standard library only; every wait has
a deadline.
"""

import itertools
import os
import shlex
import shutil
import subprocess
import time

_sessions = itertools.count(1)


class TerminalError(AssertionError):
    pass


def have_tmux():
    return shutil.which("tmux") is not None


class Terminal:
    """`argv` run on a `width` x `height` terminal with the environment
    `env` (LANG and LC_* as given there, none inherited)."""

    def __init__(self, argv, env, cwd, width=200, height=50):
        self.socket = "udpchat-test-%d-%d" % (os.getpid(), next(_sessions))
        keep = {k: v for k, v in env.items()
                if not (k == "LANG" or k.startswith("LC_") or k == "LANGUAGE")}
        locale = {k: v for k, v in env.items()
                  if k == "LANG" or k.startswith("LC_") or k == "LANGUAGE"}
        # The command's own environment: tmux's server has its own, and a
        # pane starts from it. The shell prints the exit status and keeps
        # the pane (and its screen) until close().
        words = ["env", "-i"] + ["%s=%s" % kv for kv in sorted(keep.items())]
        words += ["%s=%s" % kv for kv in sorted(locale.items())] + ["TERM=screen"] + list(argv)
        command = "cd %s && %s; echo \"[exited $?]\"; sleep 600" % (
            shlex.quote(cwd), " ".join(shlex.quote(w) for w in words))
        self._tmux("-f", "/dev/null", "new-session", "-d", "-s", "chat", "-x", str(width),
                   "-y", str(height), command)

    def _tmux(self, *args):
        r = subprocess.run(["tmux", "-L", self.socket] + list(args), capture_output=True,
                           text=True, timeout=10)
        if r.returncode != 0:
            raise TerminalError("tmux %s: %s" % (" ".join(args[:2]), r.stderr.strip()))
        return r.stdout

    def rows(self):
        """The screen as it is shown: one string per row, trailing blanks
        removed."""
        return [r.rstrip() for r in self._tmux("capture-pane", "-p", "-t", "chat").split("\n")]

    def screen(self):
        return "\n".join(self.rows())

    def expect(self, text, timeout=10, count=1):
        """Wait until `text` is on the screen (`count` times at least);
        return the screen. Polls: a terminal tells nobody when it draws."""
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if shown.count(text) >= count:
                return shown
            if time.monotonic() > deadline:
                raise TerminalError("the terminal never showed %r; it shows:\n%s" % (text, shown))
            time.sleep(0.05)

    def type(self, text, enter=True):
        """Types `text` (any script) and, with enter, presses Enter."""
        if text:
            self._tmux("send-keys", "-t", "chat", "-l", text)
        if enter:
            self._tmux("send-keys", "-t", "chat", "Enter")

    def keys(self, *names):
        """Presses keys by tmux's names: BSpace, Left, C-d ..."""
        self._tmux("send-keys", "-t", "chat", *names)

    def close(self):
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=10)
