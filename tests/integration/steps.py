"""steps.py: what the tests do with a client and then wait for.

- wait_registered(client): the lines of a registration, in their order.
- direct(sender, receiver, text): a direct message, acked at the sender and
  shown at the receiver.
- marker(sender, receiver): a last direct message, after which anything
  sent earlier would have been shown.
- expect_stored(proc, sender, text): a stored message, with a plausible
  timestamp.
"""

import datetime

from checks import check
from expected_lines import HAVE_MESSAGES, TABLE, WELCOME, msg, received_by, stored
from proc import HarnessError


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


def direct(sender, receiver, text):
    """sender types send; sender sees the ack, receiver sees the message."""
    sender.send("send %s %s" % (receiver.nick, text))
    sender.expect(received_by(receiver.nick))
    receiver.expect(msg(sender.nick, text))


def expect_stored(proc, sender, text):
    """A stored message with a plausible timestamp (the saving time, in local
    time: within a few minutes of now)."""
    line = proc.expect(stored(sender, text))
    stamp = stored(sender, text).fullmatch(line).group(1)
    when = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S")
    skew = abs((datetime.datetime.now() - when).total_seconds())
    check(skew < 300, "%s: timestamp %s of %r is %.0f s away from now (local time)" % (
        proc.name, stamp, text, skew))
    return line


def marker(sender, receiver, text="marker"):
    """Send a last message and wait for it: since a send to a peer waits for
    the outcome of the previous send to that peer, anything sent before it
    would have been shown before it. Returns the receiver's index of it."""
    direct(sender, receiver, text)
    return receiver.cursor() - 1
