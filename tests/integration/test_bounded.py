"""test_bounded.py: storage and traffic that stay bounded (manual "Limits"),
on real processes and sockets.

- A client that posts past --max-posts-per-minute is refused with one line
  per message (counted on the metrics page), while the others keep posting
  and chatting, and the refused posts reach nobody.
- Five clients post 2,000 channel messages; once every member read them,
  the server trims them: no message body is left in the channel's log,
  only the idempotency keys (purged after 7 days).
- A member away longer than --log-retention-days (its last-seen time moved
  back 31 days in the stopped server's database) holds nothing back: what
  it missed is trimmed, and it is told so with one line when it returns.
- A reconnecting client refused by its server (restarted on an empty data
  directory and already full) says so once, chats directly meanwhile, and
  comes back by itself once the server has room again.
- With a member away, a client that has --max-log-posts messages in the
  channel not yet read by everyone is refused with one line (counted on
  the metrics page) while another posts; once the member is back and has
  read them, the server trims them and the poster has room again.
"""

import os
import re
import shutil
import signal
import sqlite3

from harness import (BYE, LOOPBACK, SHUTTING_DOWN, TABLE, UNREACHABLE, WELCOME, check, msg,
                     received_by)
from test_metrics import free_tcp_port, scrape

BY_SERVER = ">>> [Message received by Server.]"
REFUSED = re.compile(re.escape(
    ">>> [Server could not save the message for the channel: too many messages (at most 5 a "
    "minute); try again in ") + r"\d+ s\]")


def channel(sender, text):
    return ">>> [Channel] %s: %s" % (sender, text)


def test_a_flooder_is_refused_past_its_cap_while_others_post_and_chat(ctx):
    port = free_tcp_port()
    server, c = ctx.chat(["alice", "bob", "carol"],
                         server_extra=["--max-posts-per-minute", "5",
                                       "--metrics", "%s:%d" % (LOOPBACK, port)])
    a, b, carol = c["alice"], c["bob"], c["carol"]
    mark = a.mark()
    for i in range(12):
        a.send("send_all flood %02d" % i)
    a.expect_all([REFUSED] * 7)
    outcomes = [l for l in a.since(mark) if l == BY_SERVER or REFUSED.fullmatch(l)]
    check(outcomes == [BY_SERVER] * 5 + [l for l in outcomes[5:] if REFUSED.fullmatch(l)]
          and len(outcomes) == 12, "alice's twelve outcomes: %r" % outcomes)
    for who in (b, carol):
        for i in range(5):
            who.expect(channel("alice", "flood %02d" % i))
    # The others go on: bob posts, carol and alice chat directly.
    b.send("send_all bob is not limited")
    b.expect(BY_SERVER)
    carol.expect(channel("bob", "bob is not limited"))
    carol.send("send alice carol still chats")
    a.expect(msg("carol", "carol still chats"))
    carol.expect(received_by("alice"))
    for who in (b, carol):
        shown = [l for l in who.lines() if l.startswith(channel("alice", "flood"))]
        check(len(shown) == 5, "%s shows %d of alice's floods: %r" % (who.name, len(shown), shown))
    limited = scrape(port).get('udpchat_requests_total{kind="post_rate_limited"}', 0)
    check(limited == 7, "post_rate_limited on the metrics page: %r" % limited)


def test_a_refused_reconnecting_client_comes_back_when_there_is_room(ctx):
    server, c = ctx.chat(["alice", "bob"])
    a, b = c["alice"], c["bob"]
    server.signal(signal.SIGTERM)
    for p in (a, b):
        p.expect(SHUTTING_DOWN)
        p.expect(UNREACHABLE)
    server.expect_exit(0)
    # The same server key (the clients pinned it), an empty store, room for one.
    empty = ctx.data_dir("empty")
    shutil.copy(os.path.join(server.data_dir, "server.key"), empty)
    full = ctx.server(port=server.port, data_dir=empty, extra=["--max-clients", "1"])
    refused = re.compile(re.escape("[Registration refused: the server is full (1 clients); "
                                   "retrying.]").join([re.escape(">>> "), ""]))
    # The server logs whom it refused; that one prints the line.
    line = full.expect(re.compile(r".*WARN +refused (alice|bob): 1 clients registered.*"),
                       stream="err", timeout=40)
    first = a if "refused alice" in line else b
    first.expect(refused)
    other = b if first is a else a
    other.expect(WELCOME, timeout=40)
    # Direct chat goes on meanwhile (peer to peer: no server needed).
    first.send("send %s typed while refused" % other.name)
    other.expect(msg(first.name, "typed while refused"))
    full.signal(signal.SIGTERM)
    full.expect_exit(0)
    roomy = ctx.server(port=server.port, data_dir=empty, extra=["--max-clients", "2"])
    first.expect(WELCOME, timeout=60)
    check(first.count(refused) == 1, "the refusal line was printed %d times" % first.count(refused))
    other.expect(WELCOME, timeout=40)  # its server restarted too
    first.send("send_all %s is back" % first.name)
    other.expect(">>> [Channel] %s: %s is back" % (first.name, first.name))
    check(roomy.alive(), "the server ended")


def test_channel_log_trimmed_once_every_member_read_it(ctx):
    names = ["c%d" % i for i in range(5)]
    per_client = 400
    server, c = ctx.chat(names, server_extra=["--max-posts-per-minute", "0"])
    # In bursts of 50 per client, each sent once the server took the last
    # (a client holds at most --max-pending 100 posts waiting for the server).
    burst = 50
    for start in range(0, per_client, burst):
        for k in range(start, start + burst):
            for n in names:
                c[n].send("send_all %s post %03d" % (n, k))
        for n in names:
            c[n].wait_count(BY_SERVER, start + burst, timeout=60)
    is_channel = re.compile(r">>> \[Channel\] .*")
    for n in names:
        c[n].wait_count(is_channel, (len(names) - 1) * per_client, timeout=60)
    for n in names:
        shown = [l for l in c[n].lines() if l.startswith(">>> [Channel] ")]
        check(len(shown) == len(set(shown)) == (len(names) - 1) * per_client,
              "%s showed %d channel lines (%d distinct)" % (n, len(shown), len(set(shown))))
    # The trimming passes (every 10 s) log what they trimmed: 2,000 in all.
    trimmed = 0
    pattern = re.compile(r".*DEBUG +trimmed (\d+) channel and group messages every member has read")
    while trimmed < len(names) * per_client:
        line = server.expect(pattern, stream="err", timeout=40)
        trimmed += int(pattern.match(line).group(1))
    check(trimmed == len(names) * per_client, "trimmed %d" % trimmed)
    server.signal(signal.SIGTERM)
    server.expect_exit(0)
    db = sqlite3.connect(os.path.join(server.data_dir, "udpchat.db"))
    try:
        bodies = db.execute("SELECT count(*) FROM messages m WHERE recipient = '*' AND "
                            "(delivered = 0 OR EXISTS (SELECT 1 FROM bodies b "
                            "WHERE b.seq = m.seq))").fetchone()[0]
        keys = db.execute("SELECT count(*) FROM messages WHERE recipient = '*'").fetchone()[0]
    finally:
        db.close()
    check(bodies == 0, "%d channel messages still have their text" % bodies)
    check(keys == len(names) * per_client, "%d idempotency keys kept" % keys)


EXPIRED = (">>> [You were away more than 30 days: some channel and group messages sent "
           "meanwhile were not kept.]")


def test_a_member_away_past_the_log_retention_is_told_once_when_back(ctx):
    server, c = ctx.chat(["alice", "bob", "carol"])
    a, b, carol = c["alice"], c["bob"], c["carol"]
    b.send("dereg bob")
    b.expect(BYE)
    b.close_stdin()
    b.expect_exit(0)
    for i in range(3):
        a.send("send_all missed %d" % i)
    a.expect_all([BY_SERVER] * 3)
    carol.expect(channel("alice", "missed 2"))
    for p in (a, carol):
        p.send("dereg %s" % p.nick)
        p.expect(BYE)
    server.signal(signal.SIGTERM)
    server.expect_exit(0)
    # Bob's last-seen time, 31 days back: as if he had been away that long
    # (the default retention is 30 days).
    db = sqlite3.connect(os.path.join(server.data_dir, "udpchat.db"))
    try:
        seen = db.execute("SELECT last_seen_ms FROM clients WHERE nick = 'bob'").fetchone()[0]
        check(seen > 0, "bob's last-seen time was not kept: %r" % seen)
        db.execute("UPDATE clients SET last_seen_ms = last_seen_ms - 31 * 86400000 "
                   "WHERE nick = 'bob'")
        db.commit()
    finally:
        db.close()
    again = ctx.server(port=server.port, data_dir=server.data_dir)
    # Alice and Carol read the three: with Bob past the retention, nobody
    # holds them back.
    line = again.expect(re.compile(r".*DEBUG +trimmed (\d+) channel and group messages.*"),
                        stream="err", timeout=30)
    check(" trimmed 3 " in line, "trimmed: %r" % line)
    bob = ctx.client("bob", again, name="bob-back", wait=False)
    bob.expect_next(WELCOME)
    bob.expect_next(EXPIRED)
    bob.expect(TABLE)
    bob.send("dereg bob")
    bob.expect(BYE)
    bob.send("reg bob")
    bob.expect(WELCOME)
    bob.send("send_all bob is back")
    bob.expect(BY_SERVER)
    check(bob.count(EXPIRED) == 1, "the retention line was printed %d times" % bob.count(EXPIRED))
    check(not [l for l in bob.lines() if "missed" in l], "bob was shown what was trimmed")


LOG_FULL = (">>> [Server could not save the message for the channel: 3 of your messages there "
            "are still kept for clients that have not caught up (the most kept); try again later]")


def test_a_member_away_holds_a_poster_to_its_log_quota_while_others_post(ctx):
    port = free_tcp_port()
    server, c = ctx.chat(["alice", "bob", "carol"],
                         server_extra=["--max-log-posts", "3",
                                       "--metrics", "%s:%d" % (LOOPBACK, port)])
    a, b, carol = c["alice"], c["bob"], c["carol"]
    b.send("dereg bob")
    b.expect(BYE)
    mark = a.mark()
    for i in range(5):
        a.send("send_all held %d" % i)
    a.expect_all([LOG_FULL] * 2)
    outcomes = [l for l in a.since(mark) if l in (BY_SERVER, LOG_FULL)]
    check(outcomes == [BY_SERVER] * 3 + [LOG_FULL] * 2, "alice's outcomes: %r" % outcomes)
    # Carol's quota is her own; alice still chats directly.
    carol.send("send_all carol posts")
    carol.expect(BY_SERVER)
    a.expect(channel("carol", "carol posts"))
    a.send("send carol direct")
    carol.expect(msg("alice", "direct"))
    full = scrape(port).get('udpchat_requests_total{kind="post_log_full"}', 0)
    check(full == 2, "post_log_full on the metrics page: %r" % full)
    # Bob comes back and reads them; once trimmed (within 10 s) alice has
    # room again.
    b.send("reg bob")
    b.expect(WELCOME)
    b.expect(re.compile(re.escape(">>> [Channel] alice: ") + r".*held 2"))
    server.expect(re.compile(r".*DEBUG +trimmed (\d+) channel and group messages.*"),
                  stream="err", timeout=30)
    a.send("send_all room again")
    a.expect(BY_SERVER)
    b.expect(channel("alice", "room again"))
    check(not [l for l in b.lines() if re.search(r"held [34]$", l)], "a refused post was shown")
