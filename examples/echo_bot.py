#!/usr/bin/env python3
"""echo_bot.py: a udpchat bot driven through --json (manual §4.10).

    python3 examples/echo_bot.py [--udpchat PATH] [--max-replies N] \\
        <nick> <server-ip> <server-port> <client-port> [udpchat options...]

It runs `udpchat -c ... --json`, reads one JSON object per line from the
client's standard output and writes commands to its standard input:

  - a direct message "ping"      -> replies "pong"
  - a direct message "time"      -> replies with the bot's UTC time
  - any other direct message     -> replies "echo: <text>"
  - a channel or group message   -> nothing (bots should not flood groups)

Every event is also printed to standard error, one line each. The bot
quits (the client deregisters) after N replies with --max-replies, on
end of input, or on Ctrl+C; its exit status is the client's.
Only the Python standard library is used.
"""

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys


def reply_to(text):
    """The bot's answer to one direct message (one line of text)."""
    words = text.strip().lower()
    if words == "ping":
        return "pong"
    if words == "time":
        return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    # One line: a message cannot carry a line break, so control characters
    # become spaces.
    clean = "".join(c if c >= " " and c != "\x7f" else " " for c in text)
    return "echo: " + clean


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_binary = os.path.join(here, "..", "build", "udpchat")
    parser = argparse.ArgumentParser(description="An echo bot for udpchat, driven by --json.")
    parser.add_argument("--udpchat", default=default_binary, help="the udpchat binary")
    parser.add_argument("--max-replies", type=int, default=0,
                        help="quit after this many replies (0: never)")
    parser.add_argument("nick")
    parser.add_argument("server_ip")
    parser.add_argument("server_port")
    parser.add_argument("client_port")
    parser.add_argument("options", nargs=argparse.REMAINDER,
                        help="more udpchat options, e.g. --bind 127.0.0.1")
    args = parser.parse_args()

    client = subprocess.Popen(
        [args.udpchat, "-c", args.nick, args.server_ip, args.server_port, args.client_port,
         "--json"] + args.options,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def command(line):
        client.stdin.write(line + "\n")
        client.stdin.flush()

    def stop(signum, frame):
        del signum, frame
        command("quit")

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    replies = 0
    for raw in client.stdout:
        try:
            event = json.loads(raw)
        except json.JSONDecodeError:
            print("bot: not JSON: %r" % raw, file=sys.stderr)
            continue
        print("bot: %s" % json.dumps(event, ensure_ascii=False), file=sys.stderr, flush=True)
        if event["event"] == "message" and "group" not in event:
            command("send %s %s" % (event["from"], reply_to(event["text"])))
            replies += 1
            if args.max_replies and replies >= args.max_replies:
                command("quit")
        elif event["event"] in ("server_not_responding", "registration_refused"):
            break
    client.stdin.close()
    return client.wait()


if __name__ == "__main__":
    sys.exit(main())
