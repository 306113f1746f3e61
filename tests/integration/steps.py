"""steps.py: what the tests do with a client and then wait for.

wait_registered(client): the lines of a registration, in their order.
"""

from expected_lines import HAVE_MESSAGES, TABLE, WELCOME
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
