"""test_postgres.py: a server whose state lives in PostgreSQL
(`--store postgresql://...`, docs/CLUSTER.md), on a real PostgreSQL the test
starts itself (pg_cluster.py: initdb in the test's directory, a Unix socket,
no TCP port): chat, saves and the channel as on SQLite; a server SIGKILLed
right after acknowledging saves loses none of them; PostgreSQL restarted
under a running server costs nothing acknowledged; an unreachable database
is one clear line at start.
"""

import re

from harness import (
    BYE, SAVED, TABLE, check, check_absent, check_equal, direct, expect_stored, stored,
    wait_registered,
)

BY_SERVER = ">>> [Message received by Server.]"


def channel(sender, text):
    return ">>> [Channel] %s: %s" % (sender, text)


def test_server_on_postgresql_keeps_saves_and_channel_across_a_sigkill(ctx):
    pg = ctx.postgresql()
    store = ["--store", pg.uri()]
    server, c = ctx.chat(["alice", "bob", "carol"], server_extra=store)
    a, b, k = c["alice"], c["bob"], c["carol"]
    direct(a, b, "héllo 你好 😀 over PostgreSQL")
    k.send("dereg carol")
    k.expect(BYE)
    a.expect(TABLE)
    texts = ["saved message %02d" % i for i in range(1, 21)]
    for t in texts:
        a.send("send carol " + t)
    for _ in texts:
        a.expect(SAVED)
    b.send("send_all to the channel")
    b.expect(BY_SERVER)
    a.expect(channel("bob", "to the channel"))
    server.kill()  # right after the last acknowledgement

    check_equal(pg.sql("SELECT count(*) FROM messages WHERE recipient = 'carol' "
                       "AND NOT delivered"), "20", "carol's messages in PostgreSQL")
    server2 = ctx.server(port=server.port, data_dir=server.data_dir, extra=store)
    k.send("reg carol")
    wait_registered(k, stored_messages=True)
    for t in texts:
        expect_stored(k, "alice", t)
    k.expect(re.compile(re.escape(">>> [Channel] bob: ") + r".*to the channel"))
    shown = [l for l in k.lines() if l.startswith(">>> alice: ")]
    check_equal(len(shown), len(texts), "carol: messages from alice")
    for line, t in zip(shown, texts):
        check(stored("alice", t).fullmatch(line), "carol: expected %r in order, got %r" % (t, line))
    direct(a, k, "after the restart")
    check(server2.alive(), "the restarted server exited")
    # Delivered: the bodies are gone, the idempotency keys stay.
    check_equal(pg.sql("SELECT count(*) FROM messages WHERE recipient = 'carol' "
                       "AND NOT delivered"), "0", "carol's undelivered messages")


def test_postgresql_restarted_under_a_running_server_loses_nothing(ctx):
    pg = ctx.postgresql()
    server, c = ctx.chat(["alice", "bob"], server_extra=["--store", pg.uri()])
    a, b = c["alice"], c["bob"]
    b.send("dereg bob")
    b.expect(BYE)
    a.expect(TABLE)
    a.send("send bob before the restart")
    a.expect(SAVED)
    pg.restart()  # every connection cut; the server connects again by itself
    texts = ["after the restart %d" % i for i in range(1, 11)]
    for t in texts:
        a.send("send bob " + t)
    for _ in texts:
        a.expect(SAVED)
    check_absent(a, re.compile(r">>> \[.*(not saved|error|Error).*\]"))
    b.send("reg bob")
    wait_registered(b, stored_messages=True)
    expect_stored(b, "alice", "before the restart")
    for t in texts:
        expect_stored(b, "alice", t)
    check(server.alive(), "the server exited when PostgreSQL restarted")
    check(any("PostgreSQL database udpchat" in l for l in server.err_lines()),
          "the server did not log where its store is")


def test_unreachable_postgresql_is_one_clear_line(ctx):
    port = ctx.free_port()
    r = ctx.run(["-s", str(port), "--data-dir", ctx.data_dir(), "--bind", "127.0.0.1",
                 "--store", "postgresql://postgres@/udpchat?host=/nonexistent-udpchat-dir"])
    check_equal(r.rc, 1, "exit status")
    lines = [l for l in r.err.splitlines() if l.strip()]
    check_equal(len(lines), 1, "lines on stderr: %r" % lines)
    check(lines[0].startswith("udpchat: cannot open the store: cannot connect to PostgreSQL: "),
          "stderr: %r" % lines[0])
    r = ctx.run(["-s", str(port), "--store", "mysql://x"])
    check_equal(r.rc, 2, "exit status of a usage error")
    check("--store must be a PostgreSQL connection URI" in r.err, "stderr: %r" % r.err)


def test_servers_on_one_database_answer_with_one_key(ctx):
    pg = ctx.postgresql()
    store = ["--store", pg.uri()]
    key_line = re.compile(r".*server key ([0-9a-f]{64}) \((.*)\)")
    first = ctx.server(extra=store, data_dir=ctx.data_dir("first"))
    first_key = first.expect(key_line, stream="err")
    second = ctx.server(extra=store, data_dir=ctx.data_dir("second"), name="second")
    second_key = second.expect(key_line, stream="err")
    a, b = key_line.match(first_key), key_line.match(second_key)
    check_equal(b.group(1), a.group(1), "the second server's key")
    check(a.group(2).endswith("server.key"), "the first server's key came from %r" % a.group(2))
    check_equal(b.group(2), "the cluster's, kept in PostgreSQL", "where the second key came from")
    check_equal(pg.sql("SELECT count(*) FROM cluster"), "1", "keys kept in PostgreSQL")
