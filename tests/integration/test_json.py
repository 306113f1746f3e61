"""--json (manual §4.10): a client driven only through JSON events on its
standard output and commands on its standard input, and the example bot
(examples/echo_bot.py) answering it over real sockets."""

import json
import os
import sys

from harness import LOOPBACK, Proc, SAVED, check

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def event(kind, **fields):
    """A predicate for a JSON line: an object of `kind` with these fields."""
    def match(line):
        try:
            obj = json.loads(line)
        except ValueError:
            return False
        return obj.get("event") == kind and all(obj.get(k) == v for k, v in fields.items())
    match.__name__ = "event %s %r" % (kind, fields)
    return match


def every_line_is_json(proc):
    for line in proc.lines():
        try:
            obj = json.loads(line)
        except ValueError:
            raise AssertionError("%s printed a line that is not JSON: %r" % (proc.name, line))
        check(isinstance(obj, dict) and "event" in obj and "line" in obj,
              "%s: a JSON line without event and line: %r" % (proc.name, line))
        check(not obj["line"].startswith(">>> "), "the line field keeps its prefix: %r" % line)


def json_client(ctx, nick, server, extra=()):
    c = ctx.client(nick, server, extra=["--json"] + list(extra), wait=False)
    c.expect(event("registered", nick=nick))
    c.expect(event("table_updated"))
    return c


def test_json_client_commands_and_events(ctx):
    s = ctx.server()
    a = json_client(ctx, "alice", s)
    b = json_client(ctx, "bob", s)
    a.expect(event("table_updated"))
    # A direct message: delivered at alice, a message event at bob with the
    # raw text (UTF-8 included) beside the printed line.
    a.send("send bob héllo 世界 🙂")
    a.expect(event("delivered", to="bob"))
    line = b.expect(event("message", **{"from": "alice", "text": "héllo 世界 🙂"}))
    check(json.loads(line)["line"] == "alice: héllo 世界 🙂", "line field: %r" % line)
    # A typo is an error event, and sends nothing.
    a.send("sedn bob x")
    a.expect(event("error", line="[Unknown command: sedn. Type help for the commands.]"))
    a.send("send")
    a.expect(event("error", line="[Usage: send <nick> <message>]"))
    # list: one client event per row.
    a.send("list")
    a.expect(event("client", nick="alice", online=True,
                   address="%s:%d" % (LOOPBACK, a.port)))
    a.expect(event("client", nick="bob", online=True))
    # The channel: a message event with its group.
    a.send("send_all to everyone")
    a.expect(event("posted", to="*"))
    b.expect(event("message", **{"from": "alice", "text": "to everyone", "group": "*"}))
    # bob leaves; a message for him is saved, and shown with its time when
    # he comes back.
    b.send("dereg")
    b.expect(event("offline"))
    a.expect(event("table_updated"))
    a.send("send bob while you were away")
    a.expect(event("saved", to="bob"))
    b.send("reg bob")
    b.expect(event("registered", nick="bob"))
    b.expect(event("stored_messages"))
    stored = json.loads(b.expect(event("message", **{"from": "alice",
                                                     "text": "while you were away"})))
    check(isinstance(stored.get("saved_at_ms"), int) and stored["saved_at_ms"] > 0,
          "a stored message without its saved_at_ms: %r" % stored)
    for c in (a, b):
        c.send("quit")
        c.expect(event("offline"))
        c.expect_exit(0)
        every_line_is_json(c)
        check(not any(l == SAVED for l in c.lines()), "a >>> line in --json output")


def test_json_example_bot_answers(ctx):
    s = ctx.server()
    bot_port = ctx.free_port()
    bot = Proc("echo_bot", [sys.executable, os.path.join(ROOT, "examples", "echo_bot.py"),
                            "--udpchat", ctx.binary, "--max-replies", "3", "echo", LOOPBACK,
                            str(s.port), str(bot_port), "--bind", LOOPBACK],
               cwd=ctx.tmp, env=ctx.env, timeout=ctx.timeout, kind="client")
    ctx.procs.append(bot)
    bot.expect(lambda l: '"event": "registered"' in l, stream="err")
    a = json_client(ctx, "alice", s)
    a.send("send echo ping")
    a.expect(event("delivered", to="echo"))
    a.expect(event("message", **{"from": "echo", "text": "pong"}))
    a.send("send echo hello bot")
    a.expect(event("message", **{"from": "echo", "text": "echo: hello bot"}))
    a.send("send echo time")
    a.expect(event("message", **{"from": "echo"}))
    # Three replies: the bot quits by itself (deregisters, exit 0).
    a.expect(event("table_updated"))
    bot.expect_exit(0)
    a.send("list")
    a.expect(event("client", nick="echo", online=False))
    a.send("quit")
    a.expect_exit(0)
    every_line_is_json(a)


def test_json_from_the_config_file(ctx):
    s = ctx.server()
    path = os.path.join(ctx.tmp, "bot.toml")
    with open(path, "w") as f:
        f.write("# a bot's client\njson = true\n")
    c = ctx.client("robot", s, extra=["--config", path], wait=False)
    c.expect(event("registered", nick="robot"))
    c.send("quit")
    c.expect_exit(0)
    every_line_is_json(c)
