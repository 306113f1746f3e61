"""expected_lines.py: the exact lines udpchat prints (manual §4, and
section 4 for the server), as the tests expect them.

Constants for the fixed lines, functions for the lines that name a
nickname, a size or a command, and stored() for a stored message (a regex,
its timestamp varies). LOOPBACK is here too: the address every test uses,
which `list` prints.
"""

import re

LOOPBACK = "127.0.0.1"

# ---------------------------------------------------------------------------
# The exact lines of manual §4 (and section 4 for the server).

SERVER_START_PREFIX = "udpchat server listening on "
SERVER_START = re.compile(re.escape(SERVER_START_PREFIX) + ".*")

WELCOME = ">>> [Welcome, You are registered.]"
TABLE = ">>> [Client table updated.]"
SAVED = ">>> [Messages received by the server and saved]"
HAVE_MESSAGES = ">>> [You Have Messages]"
BYE = ">>> [You are Offline. Bye.]"
NOT_RESPONDING = ">>> [Server not responding]"
EXITING = ">>> [Exiting]"
UNREACHABLE = ">>> [Server unreachable, retrying.]"
NOT_REGISTERED = ">>> [You are not registered. Use: reg <nick>]"
USAGE_SEND = ">>> [Usage: send <nick> <message>]"
NOT_UTF8 = ">>> [Message is not valid UTF-8.]"
SHUTTING_DOWN = ">>> [Server is shutting down.]"


def received_by(nick):
    return ">>> [Message received by %s.]" % nick


def no_ack(nick):
    return ">>> [No ACK from %s, message sent to server.]" % nick


def exists(nick):
    return ">>> [Client %s exists!!]" % nick


def unknown_client(nick):
    return ">>> [Unknown client %s.]" % nick


def in_use(nick):
    return ">>> [Nickname %s is already in use.]" % nick


def too_long(nbytes):
    return ">>> [Message too long: %d bytes (max 1000).]" % nbytes


def unknown_command(word):
    return ">>> [Unknown command: %s. Type help for the commands.]" % word


def msg(sender, text):
    """A direct message as the receiver prints it."""
    return ">>> %s: %s" % (sender, text)


TIMESTAMP_RE = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"


def stored(sender, text):
    """A stored message as printed after [You Have Messages] (a regex)."""
    return re.compile(
        re.escape(">>> %s: " % sender) + "(" + TIMESTAMP_RE + ") " + re.escape(text))


def list_line(nick, port, online=True):
    return ">>> %s %s:%d %s" % (nick, LOOPBACK, port, "online" if online else "offline")

