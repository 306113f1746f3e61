"""lossy_netns.py: a network namespace whose UDP is lost at random, for
test_netloss.py.

LossyNetns.create(loss_percent) makes the namespace, brings its loopback up
and loads the nftables table `inet udpchat`, which drops that percentage of
UDP at the input hook and at the output hook, and counts what it saw and
dropped (counters()). run_inside(ctx, netns) makes a harness.Context start
every process inside it. Without root, `ip` or `nft`, or when the namespace
or the table cannot be made, create() raises Skip, a harness.Skip that
run_integration.py reports as skipped.
"""

import json
import os
import secrets
import shutil
import subprocess
import unittest

import harness
from harness import Proc

COMMAND_TIMEOUT = 15.0      # each ip/nft command


class Skip(harness.Skip, unittest.SkipTest):
    """The test cannot run here (not root, no ip/nft, no namespaces): the
    runner counts harness.Skip as skipped; unittest.SkipTest is for any
    other runner."""


# ---------------------------------------------------------------------------
# The namespace and its lossy nftables table.

RULESET = """\
table inet udpchat {
    chain input {
        type filter hook input priority 0; policy accept;
        meta l4proto udp counter comment "udp-seen"
        meta l4proto udp numgen random mod 100 < %(p)d counter drop comment "udp-dropped"
    }
    chain output {
        type filter hook output priority 0; policy accept;
        meta l4proto udp counter comment "udp-seen"
        meta l4proto udp numgen random mod 100 < %(p)d counter drop comment "udp-dropped"
    }
}
"""


def find_tool(name):
    path = shutil.which(name)
    if path:
        return path
    for d in ("/usr/sbin", "/sbin", "/usr/bin", "/bin"):
        candidate = os.path.join(d, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class LossyNetns:
    """A network namespace with loopback up and an nft table dropping
    LOSS_PERCENT of UDP at input and at output. create() raises Skip when
    that cannot be done here; delete() is idempotent."""

    def __init__(self, ip, nft, name):
        self.ip, self.nft, self.name = ip, nft, name
        self.created = False

    @classmethod
    def create(cls, loss_percent):
        if os.geteuid() != 0:
            raise Skip("needs root to create a network namespace and nftables rules "
                       "(running as uid %d)" % os.geteuid())
        ip, nft = find_tool("ip"), find_tool("nft")
        missing = [pkg for tool, pkg in ((ip, "iproute2 (ip)"), (nft, "nftables (nft)"))
                   if tool is None]
        if missing:
            raise Skip("not installed: %s" % ", ".join(missing))
        self = cls(ip, nft, "udpchat-loss-%d-%s" % (os.getpid(), secrets.token_hex(3)))
        r = self._run([ip, "netns", "add", self.name])
        if r.returncode != 0:
            raise Skip("cannot create network namespace %s: %s" % (self.name, r.stderr.strip()))
        self.created = True
        try:
            r = self._run([ip, "-n", self.name, "link", "set", "lo", "up"])
            if r.returncode != 0:
                raise Skip("cannot bring up lo in %s: %s" % (self.name, r.stderr.strip()))
            r = self.exec_run([nft, "-f", "-"], stdin=RULESET % {"p": loss_percent})
            if r.returncode != 0:
                raise Skip("cannot load the nftables table in %s: %s" % (
                    self.name, r.stderr.strip()))
        except BaseException:
            self.delete()
            raise
        return self

    @staticmethod
    def _run(argv, stdin=None):
        try:
            return subprocess.run(argv, input=stdin, capture_output=True, text=True,
                                  timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(argv, 124, "", "timed out after %.0f s" %
                                               COMMAND_TIMEOUT)

    def prefix(self):
        """The command prefix that runs a program inside the namespace."""
        return [self.ip, "netns", "exec", self.name]

    def exec_run(self, argv, stdin=None):
        return self._run(self.prefix() + list(argv), stdin=stdin)

    def counters(self):
        """{'input': {'seen': n, 'dropped': n}, 'output': {...}} from nft."""
        r = self.exec_run([self.nft, "-j", "list", "table", "inet", "udpchat"])
        if r.returncode != 0:
            raise AssertionError("nft list table failed in %s: %s" % (self.name, r.stderr.strip()))
        out = {}
        for item in json.loads(r.stdout).get("nftables", []):
            rule = item.get("rule")
            if not rule:
                continue
            packets = next((e["counter"]["packets"] for e in rule.get("expr", [])
                            if isinstance(e, dict) and "counter" in e), 0)
            what = {"udp-seen": "seen", "udp-dropped": "dropped"}.get(rule.get("comment"))
            if what:
                out.setdefault(rule["chain"], {})[what] = packets
        return out

    def delete(self):
        if self.created:
            r = self._run([self.ip, "netns", "del", self.name])
            if r.returncode != 0:
                raise AssertionError("could not delete network namespace %s: %s" % (
                    self.name, r.stderr.strip()))
            self.created = False


def run_inside(ctx, netns):
    """Make ctx start every process inside `netns` (ip netns exec NAME
    binary ...): wraps ctx.start for this context only."""
    def start(name, args, kind="process"):
        proc = Proc(ctx._unique(name), netns.prefix() + [ctx.binary] + list(args), cwd=ctx.tmp,
                    env=ctx.env, timeout=ctx.timeout, echo=ctx.echo, kind=kind)
        ctx.procs.append(proc)
        return proc
    ctx.start = start
