#!/usr/bin/env python3
"""demo.py: a scripted tour of udpchat on loopback.

    python3 examples/demo.py [--binary PATH]

Starts a server (its SQLite store in a fresh temporary directory, removed at
the end) and three clients, alice, bob and carol, on free 127.0.0.1 ports,
and goes through every flow of manual §4: registration and table
updates, list, direct messages with acknowledgements, UTF-8 text, mistakes,
dereg and the messages the server saves meanwhile, reg and the stored
messages with their timestamps, a client killed with SIGKILL and the others
falling back to the server, its restart, the channel (send_all) and named
groups (join, groups, send_group; an offline member at registration), the
server stopped and started again under live clients (they wait, chat
directly, and register again by themselves), help, and everyone quitting
before the server is stopped with SIGTERM.

Every line each process prints is shown as it comes, prefixed with the
process's name (`alice  | ...`; `!` marks its log lines on stderr), and so
is every command typed (`alice  < send bob hello`). The demo waits for each
expected line with a deadline, never by sleeping; it exits 0 at the end, or 1
with a clear message if an expected line did not come.
"""

import argparse
import os
import re
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import harness  # noqa: E402
from harness import (  # noqa: E402
    BYE, SAVED, TABLE, TIMESTAMP_RE, UNREACHABLE, USAGE_SEND, WELCOME,
    list_line, msg, no_ack, received_by, stored, too_long, unknown_client,
    wait_registered,
)

WIDTH = 7  # "server " and every nickname fit
_print_lock = threading.Lock()
_t0 = time.monotonic()


def say(text=""):
    with _print_lock:
        print(text, flush=True)


def step(title):
    say()
    say("=" * 8 + " " + title)


def echo(proc, stream, line):
    """Called by the harness for every line a process prints or is typed."""
    name = proc.name.split("#")[0].ljust(WIDTH)
    if stream == "in":
        if len(line) > 90:
            line = "%s... (%d bytes)" % (line[:60], len(line.encode("utf-8")))
        sep = "<"
    elif stream == "sig":
        line = "(%s)" % line
        sep = "*"
    else:
        sep = "|" if stream == "out" else "!"
    with _print_lock:
        print("%s %s %s" % (name, sep, line), flush=True)


def send(sender, receiver, text):
    """A direct message: the sender sees the ack, the receiver the text."""
    sender.send("send %s %s" % (receiver.nick, text))
    sender.expect(received_by(receiver.nick))
    receiver.expect(msg(sender.nick, text))


BY_SERVER = ">>> [Message received by Server.]"


def channel(sender, text):
    return ">>> [Channel] %s: %s" % (sender, text)


def stored_in(where, sender, text):
    """A saved channel or group message, as shown at registration."""
    return re.compile(re.escape(">>> [%s] %s: " % (where, sender)) + TIMESTAMP_RE + " " +
                      re.escape(text))


def settle(proc, quiet=0.3, timeout=5.0):
    """Let a command whose output has no known last line (help) finish
    printing: wait until `proc` printed nothing for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, since = proc.mark(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = proc.mark()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return


def run(ctx):
    step("A server, with its SQLite store in %s" % ctx.tmp)
    server = ctx.server()

    step("alice, bob and carol register; each table change reaches everyone online")
    alice = ctx.client("alice", server)
    bob = ctx.client("bob", server)
    alice.expect(TABLE)
    carol = ctx.client("carol", server)
    alice.expect(TABLE)
    bob.expect(TABLE)
    everyone = {"alice": alice, "bob": bob, "carol": carol}

    step("Who is there?")
    alice.send("list")
    for c in (alice, bob, carol):
        alice.expect(list_line(c.nick, c.port))

    step("Direct messages, peer to peer, acknowledged by the receiver")
    send(alice, bob, "Hi Bob! Lunch today?")
    send(bob, alice, "Sure, 12:30 at the usual place.")
    send(bob, carol, "Carol, are you coming to lunch?")
    send(carol, bob, "Yes! Save me a seat.")
    send(carol, alice, "Alice, bring the slides please.")
    send(alice, carol, "Will do.")

    step("Any UTF-8 text, byte for byte")
    send(bob, alice, "こんにちは 👋  (two spaces kept)")
    send(alice, bob, "Grüße, ça va? 你好 🎉")

    step("Mistakes get one clear line, and nothing is sent")
    alice.send("send bob")
    alice.expect(USAGE_SEND)
    alice.send("send dave Hi Dave")
    alice.expect(unknown_client("dave"))
    alice.send("send bob " + "x" * 1001)
    alice.expect(too_long(1001))

    step("carol deregisters: she stays running, but offline")
    carol.send("dereg carol")
    carol.expect(BYE)
    alice.expect(TABLE)
    bob.expect(TABLE)
    bob.send("list")
    bob.expect(list_line("carol", carol.port, online=False))

    step("Messages to carol now go to the server, which saves them")
    alice.send("send carol The meeting moved to 3 pm.")
    alice.expect(SAVED)
    bob.send("send carol Don't forget the cake 🎂")
    bob.expect(SAVED)

    step("carol registers again and gets what was saved, with the time it was saved")
    carol.send("reg carol")
    wait_registered(carol, stored_messages=True)
    carol.expect(stored("alice", "The meeting moved to 3 pm."))
    carol.expect(stored("bob", "Don't forget the cake 🎂"))
    alice.expect(TABLE)
    bob.expect(TABLE)
    send(carol, alice, "Got it, thanks!")

    step("bob's process is killed with SIGKILL: he cannot say goodbye")
    bob.kill()
    alice.send("send bob Are you there?")
    alice.expect(no_ack("bob"))
    say("        (the server pings bob, gets no answer, marks him offline and saves the message)")
    alice.expect_all([TABLE, SAVED])
    carol.expect(TABLE)
    carol.send("send bob Call me when you are back.")
    carol.expect(SAVED)

    step("bob starts again on the same port and gets his messages")
    bob = ctx.client("bob", server, port=bob.port, wait=False)
    wait_registered(bob, stored_messages=True)
    bob.expect(stored("alice", "Are you there?"))
    bob.expect(stored("carol", "Call me when you are back."))
    alice.expect(TABLE)
    carol.expect(TABLE)
    everyone["bob"] = bob
    send(bob, alice, "Sorry, my laptop crashed.")
    send(alice, bob, "Welcome back!")

    step("The channel: send_all reaches every other client, through the server")
    alice.send("send_all Cake in the kitchen at 4!")
    alice.expect(BY_SERVER)
    bob.expect(channel("alice", "Cake in the kitchen at 4!"))
    carol.expect(channel("alice", "Cake in the kitchen at 4!"))

    step("Named groups: join, groups, send_group; a non-member is refused")
    alice.send("join lunch")
    alice.expect(">>> [Joined group lunch.]")
    bob.send("join lunch")
    bob.expect(">>> [Joined group lunch.]")
    carol.send("groups")
    carol.expect(">>> lunch: alice, bob")
    carol.send("send_group lunch Can I come?")
    carol.expect(">>> [You are not in group lunch.]")
    bob.send("send_group lunch Pizza or sushi?")
    bob.expect(BY_SERVER)
    alice.expect(">>> [lunch] bob: Pizza or sushi?")

    step("An offline member gets channel and group messages at registration, stored once")
    bob.send("dereg")
    bob.expect(BYE)
    alice.expect(TABLE)
    alice.send("send_group lunch Sushi it is.")
    alice.expect(BY_SERVER)
    carol.send("send_all The printer is fixed.")
    carol.expect(BY_SERVER)
    bob.send("reg bob")
    wait_registered(bob, stored_messages=True)
    bob.expect(stored_in("lunch", "alice", "Sushi it is."))
    bob.expect(stored_in("Channel", "carol", "The printer is fixed."))
    alice.expect(TABLE)
    carol.expect(TABLE)

    step("The server stops (SIGTERM): the clients keep running and wait for it")
    server.signal(signal.SIGTERM)
    for c in (alice, bob, carol):
        c.expect(">>> [Server is shutting down.]")
        c.expect(UNREACHABLE)
    server.expect_exit(0)
    send(alice, bob, "The server is down, but we still talk directly.")

    step("A server starts again on the same data directory: everyone is back by themselves")
    server = ctx.server(port=server.port, data_dir=server.data_dir)
    for c in (alice, bob, carol):
        c.expect(WELCOME, timeout=40)
    bob.send("groups")
    bob.expect(">>> lunch: alice, bob")
    bob.send("send_group lunch Groups survive a restart.")
    bob.expect(BY_SERVER)
    alice.expect(">>> [lunch] bob: Groups survive a restart.")

    step("The commands")
    bob.send("help")
    bob.expect(lambda l: "send <nick> <message>" in l)
    settle(bob)
    bob.send("list")
    for c in (alice, bob, carol):
        bob.expect(list_line(c.nick, c.port))

    step("Everyone leaves: quit, exit, end of input; each deregisters first")
    settle(carol)
    for c in (alice, bob, carol):
        c.skip_to_end()  # the table lines before this step are behind us
    alice.send("quit")
    alice.expect(BYE)
    alice.expect_exit(0)
    bob.expect(TABLE)
    carol.expect(TABLE)
    bob.send("exit")
    bob.expect(BYE)
    bob.expect_exit(0)
    carol.expect(TABLE)
    carol.send("list")
    carol.expect(list_line("alice", alice.port, online=False))
    carol.expect(list_line("bob", bob.port, online=False))
    carol.expect(list_line("carol", carol.port))
    carol.close_stdin()
    carol.expect(BYE)
    carol.expect_exit(0)

    step("The server is stopped with SIGTERM and prints its statistics")
    server.signal(signal.SIGTERM)
    server.expect_exit(0)


def _interrupted(signum, frame):
    raise KeyboardInterrupt()


def main(argv=None, tour=None, description="scripted demonstration of udpchat",
         finished="Demo finished"):
    """Runs `tour(ctx)` (default: this demo's run) with every line shown;
    examples/demo_cluster.py runs its own tour through it."""
    tour = tour or run
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--binary",
                    default=os.environ.get("UDPCHAT_BIN") or os.path.join(REPO, "build", "udpchat"),
                    help="the udpchat binary (default: $UDPCHAT_BIN or build/udpchat)")
    ap.add_argument("--timeout", type=float, default=harness.DEFAULT_TIMEOUT,
                    help="seconds to wait for each expected line (default %(default)s)")
    args = ap.parse_args(argv)
    binary = os.path.abspath(args.binary)
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        print("demo: udpchat binary not found or not executable: %s "
              "(build it first, or give --binary PATH)" % binary, file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, _interrupted)
    ctx = harness.Context(binary, timeout=args.timeout, echo=echo, server_log_level=None)
    try:
        tour(ctx)
    except harness.HarnessError as e:
        say()
        say("DEMO FAILED: an expected line did not come:")
        say("  %s" % e)
        return 1
    except (harness.Skip, RuntimeError) as e:
        say()
        say("DEMO FAILED: %s" % e)
        return 1
    except KeyboardInterrupt:
        say()
        say("demo interrupted")
        return 130
    finally:
        ctx.echo = None
        for p in ctx.procs:
            p.echo = None
        ctx.close()
    say()
    say("%s in %.1f s: every flow behaved as expected." % (finished, time.monotonic() - _t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
