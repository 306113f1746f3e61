"""test_nat.py: udpchat across NAT routers made of network namespaces
(nat_netns.py, docs/NAT.md): the server on the public side, clients on
LANs behind nftables masquerade.

Every process runs inside a namespace the test makes; nothing leaves them.
Each test deletes its namespaces at the end, after stopping its processes.
"""

import re

from harness import (
    SERVER_START, TABLE, check, check_absent, check_equal, direct, no_ack, wait_registered,
)
from nat_netns import NatLab, SERVER_ADDRESS

SERVER_PORT = 7000       # inside the lab every port is free
CLIENT_PORT = 40000


def _server(ctx, lab):
    server = lab.start(ctx, lab.server_ns, "server",
                       ["-s", str(SERVER_PORT), "--data-dir", ctx.data_dir(), "--bind",
                        SERVER_ADDRESS, "--log-level", "debug"], kind="server")
    server.expect(SERVER_START)
    return server


def _client(ctx, lab, ns, nick, extra=()):
    proc = lab.start(ctx, ns, nick,
                     ["-c", nick, SERVER_ADDRESS, str(SERVER_PORT), str(CLIENT_PORT),
                      "--log-level", "debug"] + list(extra), kind="client")
    proc.nick = nick
    wait_registered(proc)
    return proc


def _in_lab(ctx, scenario):
    lab = NatLab.create()
    try:
        scenario(lab)
    finally:
        try:
            ctx.close()  # every process, before its namespace goes
        finally:
            lab.delete()


def test_two_clients_behind_one_nat_chat_over_their_lan(ctx):
    """alice and bob sit behind the same home router, which does not loop
    datagrams sent to its own public address back in (no hairpinning):
    their table rows carry their LAN endpoints, and every message goes
    over the LAN, acknowledged at once, never through the router."""
    def scenario(lab):
        home = lab.add_router("masquerade")
        alice_ns, bob_ns = lab.add_host(home), lab.add_host(home)
        server = _server(ctx, lab)
        alice = _client(ctx, lab, alice_ns, "alice")
        bob = _client(ctx, lab, bob_ns, "bob")
        alice.expect(TABLE)
        # Each learnt it is behind a NAT: the server sees the router's address.
        wan = lab.routers[home]["wan"]
        for c in (alice, bob):
            c.expect(re.compile(r".*behind a NAT: the server sees us at %s:\d+, our local "
                                r"address is 198\.18\..*" % re.escape(wan)), stream="err")
        server.expect(re.compile(r".*registered bob at %s:\d+.*" % re.escape(wan)), stream="err")

        for i in range(3):
            direct(alice, bob, "over the LAN %d" % i)
            direct(bob, alice, "and back %d" % i)
        for sender, receiver in ((alice, bob), (bob, alice)):
            check_absent(sender, no_ack(receiver.nick))
            shown = [l for l in receiver.lines() if l.startswith(">>> %s: " % sender.nick)]
            check_equal(len(shown), len(set(shown)), "%s: each message shown once" % receiver.name)
        counters = lab.counters(home)
        check(counters.get("hairpin", 0) == 0 and counters.get("hairpin-input", 0) == 0,
              "no datagram went to the router's public address from its LAN: %r" % counters)
        check(counters.get("wan-reply", 0) > 0,
              "the server's answers came through the router: %r" % counters)
    _in_lab(ctx, scenario)
