"""bench_soak.py: the server's data directory over a long run of channel
posts (docs/DECISIONS.md, "Trimming the logs").

100 online members, 10 of them posting; the posts are read by all, so the
server trims each one's text within a pass (10 s) of its last delivery.
What stays of every post is its idempotency key (until 7 days old, purged
at a start). The data directory's size is sampled every second; its peak
is compared with two baselines measured by SQLite alone in the same run:
the same number of rows as bare idempotency keys (the floor any server
that deduplicates for 7 days pays) and as rows that keep their text (what
the log would take untrimmed). The stated bound: the peak is at most the
keys' floor x 1.5 + 32 MiB (the write-ahead log, the bodies of the posts
not yet trimmed).
"""

import os
import sqlite3
import subprocess
import tempfile
import threading
import time

from bench_common import Server, log, num, row, server_key

MIB = 1024.0 * 1024.0


def dir_files(path):
    """{file name: bytes} of the data directory."""
    sizes = {}
    for name in os.listdir(path):
        try:
            sizes[name] = os.path.getsize(os.path.join(path, name))
        except OSError:
            pass  # the write-ahead log, checkpointed away meanwhile
    return sizes


def sqlite_baseline(root, rows, body_bytes):
    """Bytes of a SQLite file holding `rows` messages in the server's
    tables (schema 9): their keys, and (`body_bytes` > 0) a body each."""
    d = tempfile.mkdtemp(prefix="baseline-", dir=root)
    path = os.path.join(d, "b.db")
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, sender TEXT NOT NULL,"
               " sender_key TEXT NOT NULL, recipient TEXT NOT NULL, mid INTEGER NOT NULL,"
               " saved_at_ms INTEGER NOT NULL, delivered INTEGER NOT NULL DEFAULT 0,"
               " UNIQUE (sender_key, mid))")
    db.execute("CREATE INDEX messages_waiting ON messages (recipient, delivered, seq)")
    db.execute("CREATE TABLE bodies (seq INTEGER PRIMARY KEY, body BLOB NOT NULL)")
    body = ("x" * body_bytes) if body_bytes else None
    now = int(time.time() * 1000)

    def flush(batch):
        db.executemany("INSERT INTO messages (seq, sender, sender_key, recipient, mid, "
                       "saved_at_ms, delivered) VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
        if body:
            db.executemany("INSERT INTO bodies (seq, body) VALUES (?, ?)",
                           [(b[0], body) for b in batch])

    batch = []
    for i in range(rows):
        sender = "v%d" % (i % 10)
        batch.append((i + 1, sender, sender, "*", 1000000 + i, now, 0 if body else 1))
        if len(batch) == 10000:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    db.commit()
    db.close()
    return os.path.getsize(path)


def bench_soak(build, root, port, posts, members=100, body=100):
    log("soak: %d channel posts among %d online members, the data directory watched" % (
        posts, members))
    s = Server(build, root, port, extra=["--max-posts-per-minute", "0"])
    samples = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            files = dir_files(s.data)
            samples.append((time.monotonic(), sum(files.values()), files))
            stop.wait(1.0)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    argv = [os.path.join(build, "udpchat_loadgen"), "soak", "--server-port", str(port),
            "--clients", str(members), "--messages", str(posts), "--batch", "50",
            "--bytes", str(body), "--timeout-s", str(max(300, posts // 100))]
    key = server_key(s.data)
    if key:
        argv += ["--server-key", key]
    try:
        r = subprocess.run(argv, capture_output=True, text=True,
                           timeout=max(300, posts // 100) + 60)
        out = r.stdout.strip()
        # Then the last trimming pass (every 10 s): the size it leaves.
        time.sleep(12)
    finally:
        stop.set()
        watcher.join()
        stats = s.stats()
        s.stop()
    log("  " + out.replace("\n", "\n  "))
    trimmed = num(r"channel and group messages trimmed (\d+)", stats, 0)
    peak = max(b for _, b, _ in samples)
    final = samples[-1][1]
    files = ", ".join("%s %.1f MiB" % (n, b / MIB) for n, b in sorted(samples[-1][2].items())
                      if n.startswith("udpchat.db"))
    keys = sqlite_baseline(root, posts, 0)
    untrimmed = sqlite_baseline(root, posts, body)
    all_once = (" %d of %d shown exactly once" % (posts * (members - 1), posts * (members - 1))
                in out)
    bound = keys * 1.5 + 32 * MIB
    log("  data directory: peak %.1f MiB, at the end %.1f MiB (%s); %d posts trimmed; SQLite "
        "alone: %.1f MiB as bare keys, %.1f MiB with their text" % (
            peak / MIB, final / MIB, files, trimmed, keys / MIB, untrimmed / MIB))
    row("data directory over %d channel posts, %d members" % (posts, members),
        "peak %.1f MiB (%.0f bytes a post)%s" % (
            peak / MIB, peak / posts, "" if all_once else " (NOT all shown once)"),
        "SQLite alone: keys %.1f MiB, untrimmed %.1f MiB" % (keys / MIB, untrimmed / MIB),
        "%.2f of keys, %.2f of untrimmed" % (peak / keys, peak / untrimmed),
        "<= keys x 1.5 + 32 MiB", all_once and trimmed >= posts * 0.99 and peak <= bound,
        " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(argv)))
