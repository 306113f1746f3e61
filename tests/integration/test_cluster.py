"""test_cluster.py: several servers serving one user base on one PostgreSQL
(docs/CLUSTER.md), real processes on 127.0.0.1 and a PostgreSQL the test
starts itself (pg_cluster.py): clients of different servers see each other
in their tables and `list`, chat directly, get what was saved for them
through another server (also when they register with another server than
before), and receive each other's channel posts, each once; a client whose
server is killed moves to another server of the cluster by itself and
loses nothing; PostgreSQL restarted under a flood of saves through three
servers loses nothing acknowledged, and a save it failed is one line that
says only that the database was unreachable.
"""

import re

from harness import (
    BYE, SAVED, TABLE, UNREACHABLE, WELCOME, check, check_equal, direct, expect_stored, list_line,
    wait_registered,
)

BY_SERVER = ">>> [Message received by Server.]"


def channel(sender, text):
    return ">>> [Channel] %s: %s" % (sender, text)


def cluster(ctx, n=2):
    """A PostgreSQL and `n` servers on it, each with its own data directory."""
    pg = ctx.postgresql()
    servers = [ctx.server(extra=["--store", pg.uri()], data_dir=ctx.data_dir("server%d" % i),
                          name="server%d" % i) for i in range(n)]
    return pg, servers


def test_clients_of_two_servers_chat_save_and_share_the_channel(ctx):
    pg, (a_srv, b_srv) = cluster(ctx)
    alice = ctx.client("alice", a_srv)
    bob = ctx.client("bob", b_srv)
    alice.expect(TABLE)  # bob's row, from the other server
    carol = ctx.client("carol", a_srv)
    alice.expect(TABLE)
    bob.expect(TABLE)  # carol's row reaches bob through the change table
    for who in (alice, bob):
        mark = who.mark()
        who.send("list")
        for nick, c in (("alice", alice), ("bob", bob), ("carol", carol)):
            who.expect(list_line(nick, c.port))
        check(who.count(re.compile(r">>> \w+ 127\.0\.0\.1:\d+ online"), start=mark) == 3,
              "%s listed other lines: %r" % (who.nick, who.since(mark)))

    direct(alice, bob, "hello from server 0's alice, 你好 😀")
    direct(bob, carol, "and back across servers")

    # The channel: a post through one server reaches the members of both, once.
    alice.send("send_all to everyone on every server")
    alice.expect(BY_SERVER)
    bob.expect(channel("alice", "to everyone on every server"))
    carol.expect(channel("alice", "to everyone on every server"))
    bob.send("send_all and back")
    bob.expect(BY_SERVER)
    alice.expect(channel("bob", "and back"))
    carol.expect(channel("bob", "and back"))

    # Saved through server 0 for bob, offline at server 1; bob registers with
    # server 0 this time and gets it (and the others see him move).
    bob.send("dereg bob")
    bob.expect(BYE)
    alice.expect(TABLE)
    texts = ["saved via server 0 #%d" % i for i in range(1, 6)]
    for t in texts:
        alice.send("send bob " + t)
    for _ in texts:
        alice.expect(SAVED)
    bob.send("quit")
    bob.expect_exit(0)
    bob2 = ctx.client("bob", a_srv, wait=False, name="bob-again")  # same key file
    wait_registered(bob2, stored_messages=True)
    for t in texts:
        expect_stored(bob2, "alice", t)
    # Each post once at each member, not at its sender, not again at bob's
    # new process (his position moved when he showed it).
    for c, n in ((alice, 0), (bob, 1), (carol, 1), (bob2, 0)):
        check_equal(c.count(re.compile(re.escape(">>> [Channel] alice: ") + r".*every server")),
                    n, "%s: copies of alice's post" % c.name)
    check_equal(pg.sql("SELECT count(*) FROM messages WHERE recipient = 'bob' AND NOT delivered"),
                "0", "bob's undelivered messages")
    check_equal(pg.sql("SELECT home = (SELECT home FROM clients WHERE nick_key = 'alice') "
                       "FROM clients WHERE nick_key = 'bob'"), "t", "bob's home is alice's now")



def test_a_client_whose_server_is_killed_moves_to_another_and_loses_nothing(ctx):
    pg, (s0, s1) = cluster(ctx)
    fast = ["--heartbeat-ms", "300", "--ack-timeout-ms", "100"]
    alice = ctx.client("alice", s0, extra=fast + ["--cluster", "127.0.0.1:%d" % s1.port])
    bob = ctx.client("bob", s1, extra=fast)
    alice.expect(TABLE)
    direct(alice, bob, "before the crash")

    s0.kill()  # SIGKILL: alice's server is gone
    bob.send("send_all while alice moves")
    bob.expect(BY_SERVER)
    alice.expect(UNREACHABLE)
    alice.expect(WELCOME)  # registered again, with the other server
    direct(bob, alice, "after the crash, through server 1")
    direct(alice, bob, "and back")
    # The post reaches her once: live if she was back already, else stored.
    alice.expect(re.compile(r">>> \[Channel\] bob: .*while alice moves"))
    direct(bob, alice, "marker after the post")
    shown = [l for l in alice.lines() if "while alice moves" in l]
    check_equal(len(shown), 1, "alice: copies of the post made while she moved: %r" % shown)
    check_equal(pg.sql("SELECT count(*) FROM clients WHERE nick_key = 'alice' AND online"), "1",
                "alice online in PostgreSQL")
    check(s1.alive(), "server 1 ended")


def test_the_clients_of_a_dead_server_show_offline_at_the_others(ctx):
    pg, (s0, s1) = cluster(ctx)
    alice = ctx.client("alice", s0)  # no --cluster: she stays with her dead server
    bob = ctx.client("bob", s1)
    alice.expect(TABLE)
    s0.kill()
    # The other server takes s0 for dead after 5 s without its mark, marks
    # its clients offline, and tells its own clients in a table update.
    deadline = 30
    bob.expect(TABLE, timeout=deadline)
    bob.send("list")
    bob.expect(list_line("alice", alice.port, online=False))
    check_equal(pg.sql("SELECT online FROM clients WHERE nick_key = 'alice'"), "f",
                "alice's row in PostgreSQL")
    # A message for her is now saved, not tried on a dead session.
    bob.send("send alice are you there?")
    bob.expect(SAVED)


def test_three_servers_groups_prefix_lookups_and_a_kill_mid_flood_of_saves(ctx):
    pg, servers = cluster(ctx, 3)
    others = lambda i: ["--cluster", ",".join("127.0.0.1:%d" % s.port  # noqa: E731
                                              for j, s in enumerate(servers) if j != i)]
    fast = ["--heartbeat-ms", "300", "--ack-timeout-ms", "100", "--log-level", "debug"]
    alice = ctx.client("alice", servers[0], extra=fast + others(0))
    bob = ctx.client("bob", servers[1], extra=fast + others(1))
    carol = ctx.client("carol", servers[2], extra=fast + others(2))
    for c in (alice, bob):
        c.expect(TABLE)

    # A group whose members are on three servers.
    for c in (alice, bob, carol):
        c.send("join crew")
        c.expect(">>> [Joined group crew.]")
    carol.send("groups")
    carol.expect(re.compile(r">>> crew: (alice|bob|carol), (alice|bob|carol), (alice|bob|carol)"))
    alice.send("send_group crew hello crew")
    alice.expect(BY_SERVER)
    bob.expect(">>> [crew] alice: hello crew")
    carol.expect(">>> [crew] alice: hello crew")
    # list <prefix> at one server finds a client of another.
    carol.send("list b")
    carol.expect(list_line("bob", bob.port))

    # A flood of saves for an offline dave, and alice's server killed in the
    # middle of it: every save acknowledged before is kept; the rest are
    # held by alice and go on from the server she moves to (saved there, or
    # straight to dave once he is back): each shown once, none in two copies.
    dave = ctx.client("dave", servers[1], extra=fast + others(1))
    dave.send("dereg dave")
    dave.expect(BYE)
    texts = ["flood %03d" % i for i in range(60)]
    for t in texts[:30]:
        alice.send("send dave " + t)
    alice.expect(SAVED)  # some are acknowledged...
    servers[0].kill()    # ...and then her server is gone
    for t in texts[30:]:
        alice.send("send dave " + t)
    alice.expect(UNREACHABLE)
    alice.expect(WELCOME)  # with another server
    deadline_marker = "after the flood"
    alice.send("send_all " + deadline_marker)
    bob.expect(channel("alice", deadline_marker), timeout=30)
    dave.send("reg dave")
    # Stored (with the time it was saved) or, once he is back, live; a live
    # one may come before older stored ones (as on one server).
    dave.expect_all([WELCOME] + [re.compile(re.escape(">>> alice: ") + r"(\S+ \S+ )?" +
                                            re.escape(t) + "$") for t in texts], timeout=30)
    direct(bob, dave, "marker")
    for t in texts:
        n = len([l for l in dave.lines() if l.endswith(" " + t)])
        check_equal(n, 1, "dave: copies of %r" % t)
    check(not [l for l in alice.lines() if "not sent" in l or "could not" in l],
          "alice was told a message was lost: %r" % alice.lines())


def test_postgresql_restarted_under_load_with_three_servers(ctx):
    """Three servers flood saves for an offline dave while PostgreSQL
    restarts (every connection cut): the servers connect again by
    themselves; every save acknowledged reaches dave once; a save that
    could not be written is one clear line at its sender, never a silent
    loss."""
    pg, servers = cluster(ctx, 3)
    fast = ["--heartbeat-ms", "1000", "--log-level", "debug"]
    names = ["alice", "bob", "carol"]
    senders = [ctx.client(n, servers[i], extra=fast) for i, n in enumerate(names)]
    dave = ctx.client("dave", servers[1], extra=fast)
    dave.send("dereg dave")
    dave.expect(BYE)
    texts = {n: ["%s %03d" % (n, k) for k in range(40)] for n in names}
    for k in range(40):
        if k == 15:
            pg.restart()  # under the flood: a fast shutdown, then a start
        for s, n in zip(senders, names):
            s.send("send dave " + texts[n][k])
    # Each message ends saved (acknowledged) or with one line saying it
    # was not, which tells nothing of the database but that (its address
    # and messages stay in the server's log).
    failed = re.compile(r">>> \[Server could not save the message for dave: "
                        r"database (unreachable|error)\]|"
                        r">>> \[Server not responding: the message for dave was not sent\.\]")
    outcome = lambda l: l == SAVED or failed.fullmatch(l) is not None  # noqa: E731
    for s in senders:
        s.expect_all([outcome] * 40, timeout=90)
    for srv in servers:
        check(srv.alive(), "a server exited when PostgreSQL restarted")
    for s in senders:  # their servers never stopped answering
        check(UNREACHABLE not in s.lines(), "%s: %r" % (s.name, s.lines()))
    dave.send("reg dave")
    wait_registered(dave, stored_messages=True)
    not_saved = {n: len([l for l in s.lines() if failed.fullmatch(l)])
                 for s, n in zip(senders, names)}
    every = [t for n in names for t in texts[n]]
    is_text = lambda l: any(l.endswith(" " + t) for t in every)  # noqa: E731
    dave.expect_all([is_text] * (3 * 40 - sum(not_saved.values())), timeout=30)
    # A last message, direct or (alice's table not yet showing dave back)
    # saved and delivered at once: any copy would have come before it.
    senders[0].send("send dave marker")
    dave.expect(re.compile(r">>> alice: (\S+ \S+ )?marker"), timeout=30)
    for n in names:
        shown = 0
        for t in texts[n]:
            copies = len([l for l in dave.lines() if l.endswith(" " + t)])
            check(copies <= 1, "dave shows %r %d times" % (t, copies))
            shown += copies
        check_equal(shown + not_saved[n], 40, "%s: shown at dave + told not saved" % n)
