"""test_nat.py: udpchat across NAT routers made of network namespaces
(nat_netns.py, docs/NAT.md): the server on the public side, clients on
LANs behind nftables masquerade.

Every process runs inside a namespace the test makes; nothing leaves them.
Each test deletes its namespaces at the end, after stopping its processes.
"""

import re
import signal

from harness import (
    SAVED, SERVER_START, TABLE, TIMESTAMP_RE, check, check_absent, check_equal, direct, exists,
    no_ack, received_by, wait_registered,
)
from nat_netns import NatLab, SERVER_ADDRESS, SERVER_ADDRESS6

SERVER_PORT = 7000       # inside the lab every port is free
CLIENT_PORT = 40000
# A roomy ack window: a machine busy with other tests must not turn a punch
# that takes a while into a relay (after half the window) and fail a
# check that counts relays.
ACK_TIMEOUT = ["--ack-timeout-ms", "2000"]


def _server(ctx, lab):
    address = SERVER_ADDRESS6 if lab.ipv6 else SERVER_ADDRESS
    server = lab.start(ctx, lab.server_ns, "server",
                       ["-s", str(SERVER_PORT), "--data-dir", ctx.data_dir(), "--bind",
                        address, "--log-level", "debug"], kind="server")
    server.expect(SERVER_START)
    return server


def _client(ctx, lab, ns, nick, extra=()):
    proc = lab.start(ctx, ns, nick,
                     ["-c", nick, SERVER_ADDRESS6 if lab.ipv6 else SERVER_ADDRESS,
                      str(SERVER_PORT), str(CLIENT_PORT),
                      "--log-level", "debug"] + ACK_TIMEOUT + list(extra), kind="client")
    proc.nick = nick
    wait_registered(proc)
    return proc


def _behind_two_routers(ctx, lab, alice_router, bob_router):
    """A server, alice behind a router of mode `alice_router`, bob behind
    another of mode `bob_router`, both registered: (server, alice, bob)."""
    a_ns = lab.add_host(lab.add_router(alice_router))
    b_ns = lab.add_host(lab.add_router(bob_router))
    server = _server(ctx, lab)
    alice = _client(ctx, lab, a_ns, "alice")
    bob = _client(ctx, lab, b_ns, "bob")
    alice.expect(TABLE)
    return server, alice, bob


def _chat_both_ways(alice, bob, messages):
    for i in range(messages):
        direct(alice, bob, "from alice %d" % i)
        direct(bob, alice, "from bob %d" % i)


def _each_delivered_once_as_direct(pair, messages):
    """Both ways between the two clients of `pair`: `messages` messages
    each shown once, and the sender never saw a No ACK, an exists or a
    save line (what a message that found no direct path prints)."""
    a, b = pair
    for sender, receiver in ((a, b), (b, a)):
        check_absent(sender, no_ack(receiver.nick))
        check_absent(sender, exists(receiver.nick))
        check_absent(sender, SAVED)
        shown = [l for l in receiver.lines() if l.startswith(">>> %s: " % sender.nick)]
        check_equal(len(shown), messages, "%s: each message shown once" % receiver.name)
        check_equal(len(set(shown)), messages, "%s: no message twice" % receiver.name)


def _in_lab(ctx, scenario, ipv6=False):
    lab = NatLab.create(ipv6=ipv6)
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
    over the LAN, acknowledged at once, never through the router (the
    introduction's probes find the LAN path)."""
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
        # The probes of the introduction try the router's public address
        # too (a NAT that hairpins, or a carrier-grade NAT whose customers
        # share one public address but no LAN, needs it); the LAN answers
        # first and is the path.
        for c in (alice, bob):
            c.expect(re.compile(r".*path to \S+ open: lan at 198\.18\.0\.\d+:40000.*"),
                     stream="err")
        counters = lab.counters(home)
        check(counters.get("hairpin", 0) == 0,
              "no datagram was passed back in by the router: %r" % counters)
        alice.send("list")
        alice.expect(re.compile(r">>> bob %s:\d+ online lan" % re.escape(wan)))
        check(counters.get("wan-reply", 0) > 0,
              "the server's answers came through the router: %r" % counters)
    _in_lab(ctx, scenario)


def test_two_clients_behind_two_nats_punch_a_direct_path(ctx):
    """alice and bob sit behind two home routers (port-restricted cone
    NATs), each dropping what its client did not ask for. The server
    introduces them at the first message; both probe each other at once and
    every message then goes straight between the two routers, acknowledged
    directly: no No ACK line, no save, each message shown once."""
    def scenario(lab):
        server, alice, bob = _behind_two_routers(ctx, lab, "masquerade", "masquerade")
        before = lab.peer_to_peer()
        messages = 5
        _chat_both_ways(alice, bob, messages)
        server.expect(re.compile(r".*introducing alice .* and bob .*"), stream="err")
        _each_delivered_once_as_direct((alice, bob), messages)
        # Each message and its ack crossed between the routers, not the server.
        crossed = lab.peer_to_peer() - before
        check(crossed >= 4 * messages,
              "%d datagrams went between the routers for %d messages each way" % (
                  crossed, messages))
        for c in (alice, bob):
            c.expect(re.compile(r".*path to \S+ open: direct at 203\.0\.113\.\d+:\d+.*"),
                     stream="err")
        alice.send("list")
        alice.expect(re.compile(r">>> bob 203\.0\.113\.11:\d+ online direct"))
        # The server stored and relayed nothing: no chat went through it.
        server.signal(signal.SIGUSR1)
        server.expect("statistics: messages stored 0, delivered from store 0, "
                      "relayed live 0 (0 bytes)")
    _in_lab(ctx, scenario)


def test_a_client_behind_a_symmetric_nat_is_reached_through_the_relay(ctx):
    """bob's router gives every destination its own public port (a
    symmetric NAT), so no probe gets through: the messages go through the
    server's live relay, acknowledged by bob end to end, with the same
    lines as a direct message: no No ACK, no save, no exists."""
    def scenario(lab):
        server, alice, bob = _behind_two_routers(ctx, lab, "masquerade", "masquerade random")
        messages = 4
        _chat_both_ways(alice, bob, messages)
        _each_delivered_once_as_direct((alice, bob), messages)
        alice.expect(re.compile(r".*no direct path to bob: relaying through the server.*"),
                     stream="err")
        alice.send("list")
        alice.expect(re.compile(r">>> bob 203\.0\.113\.11:\d+ online relayed"))
        # The server counts what it relayed (SIGUSR1 prints the statistics).
        server.signal(signal.SIGUSR1)
        line = server.expect(re.compile(r"statistics: messages stored 0, .*relayed live (\d+) .*"))
        relayed = int(re.search(r"relayed live (\d+)", line).group(1))
        check(relayed >= 4 * messages,
              "the server relayed %d datagrams for %d messages each way" % (relayed, messages))
    _in_lab(ctx, scenario)


def test_a_nat_that_forgets_its_mappings_mid_conversation_loses_nothing(ctx):
    """alice and bob chat directly through two NATs; then bob's router
    forgets every mapping (its connection tracking flushed, as after a
    reboot) and bob speaks first: the path comes back by itself. Then both
    routers forget and alice speaks first: her path to bob stops answering
    and the message goes on through the relay, which reaches bob once his
    next heartbeat (--nat-keepalive-ms 300) has opened his router towards
    the server again (or, had the server given up on him first, it is saved
    and delivered when he registers again). Nothing is lost, nothing is
    shown twice, and no No ACK line comes while a path could be found."""
    def scenario(lab):
        fast = ["--nat-keepalive-ms", "300"]
        a_ns = lab.add_host(lab.add_router("masquerade"))
        b_ns = lab.add_host(lab.add_router("masquerade"))
        _server(ctx, lab)
        alice = _client(ctx, lab, a_ns, "alice", fast)
        bob = _client(ctx, lab, b_ns, "bob", fast)
        alice.expect(TABLE)
        sent = {"alice": [], "bob": []}

        def say(sender, receiver, text):
            sender.send("send %s %s" % (receiver.nick, text))
            sent[sender.nick].append(text)

        for i in range(3):
            say(alice, bob, "before %d" % i)
            alice.expect(received_by("bob"))
            say(bob, alice, "before, back %d" % i)
            bob.expect(received_by("alice"))
        lab.forget_mappings(1)
        for i in range(3):
            say(bob, alice, "bob's NAT forgot %d" % i)
            bob.expect(received_by("alice"))
            say(alice, bob, "bob's NAT forgot, back %d" % i)
            alice.expect(received_by("bob"))
        lab.forget_mappings(0)
        lab.forget_mappings(1)
        mark = len(alice.lines())
        say(alice, bob, "both NATs forgot")
        alice.expect(re.compile(r">>> \[(Message received by bob\.|Messages received by the "
                                r"server and saved)\]"), timeout=20)
        # Shown live (relayed, or direct again) or as a stored message.
        bob.expect(re.compile(r">>> alice: (%s )?both NATs forgot" % TIMESTAMP_RE), timeout=20)
        for sender, receiver in ((alice, bob), (bob, alice)):
            for text in sent[sender.nick]:
                shown = [l for l in receiver.lines()
                         if l.startswith(">>> %s: " % sender.nick) and l.endswith(" " + text)]
                check_equal(len(shown), 1, "%s: times %r was shown" % (receiver.name, text))
        # Before the last flush a path was always there to be found: no No ACK.
        check(no_ack("bob") not in alice.lines()[:mark] and no_ack("alice") not in bob.lines(),
              "a No ACK line while a path was there to be found")
    _in_lab(ctx, scenario)


def test_two_clients_behind_ipv4_firewalls_punch_a_direct_path(ctx):
    """No NAT, public addresses (198.19.K.0/24), each client behind a
    router whose stateful firewall drops every inbound datagram not related
    to a flow its LAN started: the rows carry no local endpoint; the
    introduction's probes open both firewalls and every message goes
    directly, with no No ACK line."""
    _behind_two_firewalls(ctx, ipv6=False)


def test_two_clients_behind_ipv6_firewalls_punch_a_direct_path(ctx):
    """The same with IPv6 (2001:db8::/32), the usual IPv6 home router."""
    _behind_two_firewalls(ctx, ipv6=True)


def _behind_two_firewalls(ctx, ipv6):
    def scenario(lab):
        mode = "firewall6" if ipv6 else "firewall"
        server, alice, bob = _behind_two_routers(ctx, lab, mode, mode)
        before = lab.peer_to_peer()
        messages = 4
        _chat_both_ways(alice, bob, messages)
        _each_delivered_once_as_direct((alice, bob), messages)
        crossed = lab.peer_to_peer() - before
        check(crossed >= 4 * messages,
              "%d datagrams went between the routers for %d messages each way" % (
                  crossed, messages))
        bob_at = r"\[2001:db8:2::11\]:40000" if ipv6 else r"198\.19\.1\.11:40000"
        alice.expect(re.compile(r".*path to bob open: direct at %s.*" % bob_at), stream="err")
        server.expect(re.compile(r".*registered bob at %s.*" % bob_at), stream="err")
        server.signal(signal.SIGUSR1)
        server.expect("statistics: messages stored 0, delivered from store 0, "
                      "relayed live 0 (0 bytes)")
    _in_lab(ctx, scenario, ipv6=ipv6)
