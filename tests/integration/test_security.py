"""test_security.py: manual §8 (docs/SECURITY.md) on real processes.

Key files and known_servers on disk; a reinstalled server refused with one
line; --server-key; a key file others may read refused; a nickname that
belongs to a key; nothing but sealed frames on the wire between a client
and its server (captured on a relay socket the test controls); forged
plain datagrams from a client's own address and port not acted on.
"""

import os
import re
import select
import socket
import stat
import time

from harness import (LOOPBACK, EXITING, SAVED, TABLE, WELCOME, check, in_use, stored,
                     wait_registered)

KEY_CHANGED = re.compile(
    r">>> \[Server key changed: 127\.0\.0\.1:\d+ does not hold the key pinned in "
    r".*known_servers; if the server was reinstalled, delete its line there\.\]")
SERVER_KEY_LOG = re.compile(r".* INFO  server key ([0-9a-f]{64}) \(.*\)")


def server_key(server):
    line = server.expect(SERVER_KEY_LOG, stream="err")
    return SERVER_KEY_LOG.match(line).group(1)


def test_a_key_that_cannot_be_pinned_is_said_once_on_screen(ctx):
    """known_servers cannot be written (here a directory in its place; the
    tests run as root, whom file modes do not stop): the client still
    registers and chats, and says once that the server's key was not
    pinned, since the next start would trust whatever key it is shown."""
    os.makedirs(os.path.join(ctx.keys, "udpchat", "known_servers"))
    server = ctx.server()
    alice = ctx.client("alice", server)  # waits for the welcome, after the line
    said = re.compile(r">>> \[Could not pin the server's key: cannot write "
                      r".*known_servers: Is a directory\.\]")
    check(alice.count(said) == 1, "no pin failure line before the welcome: %r" % alice.lines())
    bob = ctx.client("bob", server)
    alice.expect(TABLE)
    alice.send("send bob still here")
    alice.expect(">>> [Message received by bob.]")
    bob.expect(">>> alice: still here")
    check(alice.count(re.compile(r">>> \[Could not pin .*")) == 1,
          "the pin failure was said more than once: %r" % alice.lines())
    for p in (alice, bob):
        p.send("quit")
        p.expect_exit(0)


def test_key_files_and_known_servers(ctx):
    server = ctx.server()
    key = server_key(server)
    alice = ctx.client("Alice", server)
    keyfile = os.path.join(ctx.keys, "udpchat", "alice.key")
    check(os.path.exists(keyfile), "no key file at %s" % keyfile)
    mode = stat.S_IMODE(os.stat(keyfile).st_mode)
    check(mode == 0o600, "key file mode %o, not 600" % mode)
    server_file = os.path.join(server.data_dir, "server.key")
    check(stat.S_IMODE(os.stat(server_file).st_mode) == 0o600, "server.key is not 0600")
    known = os.path.join(ctx.keys, "udpchat", "known_servers")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not os.path.exists(known):
        time.sleep(0.05)
    with open(known) as f:
        pins = f.read().split("\n")
    check("%s:%d %s" % (LOOPBACK, server.port, key) in pins,
          "known_servers does not pin the server's key: %r" % pins)
    alice.send("quit")
    alice.expect_exit(0)

    # The server is reinstalled (a new data directory, so a new key) on the
    # same port: the client refuses it with one line, and ends with status 1.
    server.popen.terminate()
    server.wait()
    again = ctx.server(port=server.port, data_dir=ctx.data_dir("reinstalled"))
    new_key = server_key(again)
    check(new_key != key, "the reinstalled server kept its key")
    refused = ctx.client("alice", again, wait=False)
    refused.expect(KEY_CHANGED)
    refused.expect(EXITING)
    refused.expect_exit(1)

    # --server-key: the right key is accepted without known_servers, a
    # wrong one is refused with its own line.
    bob = ctx.client("bob", again, extra=["--server-key", new_key])
    bob.send("quit")
    bob.expect_exit(0)
    wrong = ctx.client("carol", again, extra=["--server-key", key], wait=False)
    wrong.expect(">>> [Server key mismatch: %s:%d does not hold the key given with "
                 "--server-key.]" % (LOOPBACK, again.port))
    wrong.expect_exit(1)
    bad = ctx.run(["-c", "dave", LOOPBACK, str(again.port), str(ctx.free_port()),
                   "--server-key", "12ab"])
    check(bad.rc == 2 and "--server-key must be 64 hexadecimal digits" in bad.err,
          "a malformed --server-key: status %s, %r" % (bad.rc, bad.err))


def test_key_file_readable_by_others_is_refused(ctx):
    server = ctx.server()
    path = os.path.join(ctx.tmp, "mine.key")
    first = ctx.client("erin", server, extra=["--key-file", path])
    first.send("quit")
    first.expect_exit(0)
    os.chmod(path, 0o644)
    r = ctx.run(["-c", "erin", LOOPBACK, str(server.port), str(ctx.free_port()),
                 "--bind", LOOPBACK, "--key-file", path])
    check(r.rc == 1, "exit status %s, not 1" % r.rc)
    expected = ("udpchat: key file %s is readable by others (mode 0644); it must be private: "
                "chmod 600 %s" % (path, path))
    check(r.err.strip() == expected, "stderr %r, not %r" % (r.err, expected))


def test_nickname_belongs_to_its_key(ctx):
    server = ctx.server()
    alice = ctx.client("alice", server)
    bob = ctx.client("bob", server)
    alice.expect(TABLE)
    # Another key, the same nickname, while alice is online: refused.
    other = os.path.join(ctx.tmp, "other.key")
    thief = ctx.client("alice", server, extra=["--key-file", other], wait=False)
    thief.expect(in_use("alice"))
    thief.expect_exit(1)
    # alice is killed (she cannot answer anything): still refused.
    alice.kill()
    thief2 = ctx.client("alice", server, extra=["--key-file", other], wait=False)
    thief2.expect(in_use("alice"))
    thief2.expect_exit(1)
    # alice's own key file, at a new port: she gets her nickname back, and
    # her messages.
    bob.send("send alice while you were away")
    bob.expect(SAVED)
    back = ctx.client("alice", server, wait=False)
    wait_registered(back, stored_messages=True)


class Relay:
    """A UDP relay between one client and its server that records every
    datagram it passes (the client is told the relay's port as the
    server's)."""

    def __init__(self, ctx, server_port):
        self.sock, self.port = ctx.hold_port()
        self.sock.setblocking(False)
        self.server = (LOOPBACK, server_port)
        self.client = None
        self.captured = []  # (direction, bytes)

    def pump(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r, _, _ = select.select([self.sock], [], [], max(0.0, end - time.monotonic()))
            if not r:
                continue
            data, addr = self.sock.recvfrom(65536)
            if addr == self.server:
                self.captured.append(("down", data))
                if self.client:
                    self.sock.sendto(data, self.client)
            else:
                self.client = addr
                self.captured.append(("up", data))
                self.sock.sendto(data, self.server)


def test_wire_carries_only_sealed_frames_and_replays_do_nothing(ctx):
    server = ctx.server()
    relay = Relay(ctx, server.port)
    bob = ctx.client("bob", server)
    port = ctx.free_port()
    alice = ctx.start("alice", ["-c", "alice", LOOPBACK, str(relay.port), str(port),
                                "--bind", LOOPBACK], kind="client")
    secret = "the eagle lands at noon"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and WELCOME not in alice.lines():
        relay.pump(0.05)
    check(WELCOME in alice.lines(), "alice did not register through the relay")
    bob.expect(TABLE)
    bob.send("dereg")
    relay.pump(1.0)
    alice.send("send bob %s" % secret)
    for _ in range(100):
        relay.pump(0.05)
        if SAVED in alice.lines():
            break
    check(SAVED in alice.lines(), "alice's message was not saved: %r" % alice.lines())
    relay.pump(0.3)
    frames = [d for _, d in relay.captured]
    check(frames, "nothing captured")
    for d in frames:
        check(1 <= d[0] <= 6, "a datagram on the wire is not a session frame: %r" % d[:40])
        check(secret.encode() not in d, "the message text is readable on the wire")
        check(b"alice" not in d, "alice's nickname is readable on the wire")
    # Every captured datagram replayed a while later, and each with one bit
    # flipped: nothing is acted on, nobody crashes, bob gets the message once.
    time.sleep(1.0)
    replayer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    replayer.bind((LOOPBACK, 0))
    for d in frames:
        relay.sock.sendto(d, relay.server)  # from the relay's own address: alice's session
        flipped = bytearray(d)
        flipped[len(d) // 2] ^= 0x10
        relay.sock.sendto(bytes(flipped), relay.server)
        replayer.sendto(d, relay.server)
    relay.pump(0.5)
    check(server.alive(), "the server died on the replays")
    check(alice.alive(), "alice died")
    bob.send("reg bob")
    bob.expect(stored("alice", secret))
    time.sleep(0.5)
    shown = [l for l in bob.lines() if secret in l]
    check(len(shown) == 1, "bob shows the message %d times: %r" % (len(shown), shown))
    # The server counted the replays.
    os.kill(server.pid, 10)  # SIGUSR1: statistics
    line = server.expect(re.compile(r"statistics: sessions .*"))
    check("replayed=" in line, "no replay counted: %r" % line)
    replayer.close()
    # The store holds the message sealed for bob only: its text is nowhere
    # in the database files.
    for name in os.listdir(server.data_dir):
        with open(os.path.join(server.data_dir, name), "rb") as f:
            check(secret.encode() not in f.read(), "the text is readable in %s" % name)


def test_forged_direct_message_is_not_shown(ctx):
    """The issue's three-line script: a chat claiming to be alice, sent to
    bob's port from elsewhere and from alice's own port, is not shown."""
    from handmade_cbor import cbor
    server, c = ctx.chat(["alice", "bob"])
    alice, bob = c["alice"], c["bob"]
    forged = cbor({"v": 1, "t": "chat", "id": 77, "from": "alice",
                   "text": "send me your password"})
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((LOOPBACK, 0))
    s.sendto(forged, (LOOPBACK, bob.port))
    s.settimeout(1.0)
    try:
        reply = s.recvfrom(2048)
    except socket.timeout:
        reply = None
    check(reply is None, "bob acknowledged a forged chat: %r" % (reply,))
    s.close()
    # From alice's own address and port (alice is stopped so the port is
    # free to bind: the forger takes it over).
    alice.kill()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((LOOPBACK, alice.port))
    s.sendto(forged, (LOOPBACK, bob.port))
    s.close()
    # A genuine message from a third client arrives after both: bob shows it
    # and nothing before it.
    carol = ctx.client("carol", server)
    carol.send("send bob marker")
    bob.expect(">>> carol: marker")
    check(not any("password" in l for l in bob.lines()), "bob showed the forgery: %r" % bob.lines())
