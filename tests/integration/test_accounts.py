"""Accounts (manual §9) with real processes: a password moves a nickname to
a new key (a new machine), a wrong password is refused and nothing moves
without one; `passwd` sets it from the running client; `delete-account`
(confirmed) frees the nickname, its row leaves the others' tables, and
its group membership is gone from the server's database. (Deleting the
messages that wait for it is tested on the store itself, test_sqlite_store.)
"""

import os
import pty
import re
import select
import signal
import sqlite3
import subprocess
import time

from harness import (EXITING, LOOPBACK, TABLE, check, in_use, msg, unknown_client,
                     wait_registered)

WRONG = ">>> [Wrong password for nickname alice.]"
KEY_CHANGED = ">>> [Warning: the key of alice changed.]"
NEW_PASSWORD = ">>> [New password for alice (an empty line removes the password):]"
AGAIN = ">>> [Type the new password again:]"
CONFIRM = (">>> [Delete the account alice? Its nickname becomes free and every message "
           "stored for it is deleted. Type yes to confirm.]")


def test_password_moves_a_nickname_to_a_new_key(ctx):
    server = ctx.server()
    alice = ctx.client("alice", server, extra=["--password=correct horse"])
    bob = ctx.client("bob", server)
    alice.kill()
    laptop = os.path.join(ctx.tmp, "laptop.key")
    # Another key without the password, then with a wrong one: refused,
    # also while the holder is dead.
    thief = ctx.client("alice", server, extra=["--key-file", laptop], wait=False)
    thief.expect(in_use("alice"))
    thief.expect_exit(1)
    wrong = ctx.client("alice", server, extra=["--key-file", laptop, "--password=battery"],
                       wait=False)
    wrong.expect(WRONG)
    wrong.expect_exit(1)
    # The right password: the nickname moves to the laptop's key, once the
    # server's lockout after a wrong password (1 s after the first) is over:
    # until then it answers "try again".
    deadline = time.monotonic() + 10
    while True:
        moved = ctx.client("alice", server,
                           extra=["--key-file", laptop, "--password=correct horse"], wait=False)
        first = moved.expect(re.compile(r">>> \[(Welcome, You are registered\.|Registration "
                                        r"refused: too many wrong passwords for alice; try again "
                                        r"in \d+ s)\]"))
        if "Welcome" in first:
            break
        moved.expect_exit(1)
        check(time.monotonic() < deadline, "the password lockout did not end")
    moved.expect(TABLE)
    # bob pinned the old key: he is warned, and his message waits for trust.
    bob.expect(KEY_CHANGED)
    bob.send("send alice are you really alice?")
    bob.send("trust alice")
    moved.expect(msg("bob", "are you really alice?"))
    # The old key lost the nickname (its password no longer helps it either).
    old = ctx.client("alice", server, wait=False)
    old.expect(in_use("alice"))
    old.expect_exit(1)


def test_passwd_then_delete_account(ctx):
    server = ctx.server()
    alice = ctx.client("alice", server)
    bob = ctx.client("bob", server)
    # passwd: typed twice (a mismatch changes nothing).
    alice.send("passwd")
    alice.expect(NEW_PASSWORD)
    alice.send("first")
    alice.expect(AGAIN)
    alice.send("second")
    alice.expect(">>> [The two passwords differ: the password was not changed.]")
    alice.send("passwd")
    alice.expect(NEW_PASSWORD)
    alice.send("s3cret phrase")
    alice.expect(AGAIN)
    alice.send("s3cret phrase")
    alice.expect(">>> [Password changed.]")
    alice.kill()
    # The password set by passwd moves the nickname to another key.
    phone = os.path.join(ctx.tmp, "phone.key")
    moved = ctx.client("alice", server, extra=["--key-file", phone, "--password=s3cret phrase"],
                       wait=False)
    wait_registered(moved)
    bob.expect(">>> [Warning: the key of alice changed.]")
    bob.expect(TABLE)
    moved.send("join team")
    moved.expect(">>> [Joined group team.]")
    # delete-account asks first; anything but yes keeps the account.
    moved.send("delete-account")
    moved.expect(CONFIRM)
    moved.send("no")
    moved.expect(">>> [Account kept.]")
    moved.send("delete-account")
    moved.expect(CONFIRM)
    moved.send("yes")
    moved.expect(">>> [Account alice deleted: its nickname is free, 0 stored messages deleted.]")
    moved.expect(EXITING)
    moved.expect_exit(0)
    bob.expect(TABLE)  # the removed row
    # The row left bob's table: alice is unknown to him now, and a message
    # for her is refused instead of stored.
    bob.send("send alice still there?")
    bob.expect(unknown_client("alice"))
    # The nickname is free: any key takes it, without a password.
    newcomer = ctx.client("alice", server, extra=["--key-file", os.path.join(ctx.tmp, "new.key")],
                          wait=False)
    wait_registered(newcomer)
    newcomer.send("groups")
    newcomer.expect(">>> [No groups yet.]")
    bob.send("send alice hello newcomer")
    bob.send("trust alice")
    newcomer.expect(msg("bob", "hello newcomer"))
    # The group she was in went with her (it had no other member).
    newcomer.kill()
    server.signal(signal.SIGTERM)
    server.expect_exit(0)
    db = sqlite3.connect(os.path.join(server.data_dir, "udpchat.db"))
    try:
        groups = db.execute("SELECT count(*) FROM groups WHERE group_key = 'team'").fetchone()[0]
        members = db.execute("SELECT count(*) FROM members").fetchone()[0]
    finally:
        db.close()
    check(groups == 0 and members == 0, "the deleted account's group membership remains")


def test_password_option_errors(ctx):
    server = ctx.server()
    # --password alone asks on a terminal; a pipe is none: a usage error.
    asked = ctx.client("alice", server, extra=["--password"], wait=False)
    asked.expect("udpchat: --password without a value asks on a terminal; standard input is "
                 "not one (give --password=<password>)", stream="err")
    asked.expect_exit(2)
    too_long = ctx.client("alice", server, extra=["--password=" + "p" * 129], wait=False)
    too_long.expect("udpchat: a password is 1 to 128 bytes of text", stream="err")
    too_long.expect_exit(2)


class Terminal:
    """A client on a pseudo-terminal (its stdin and stdout), so libedit and
    the terminal's echo are real: what the screen shows is read back."""

    def __init__(self, ctx, args):
        self.master, slave = pty.openpty()
        self.popen = subprocess.Popen([ctx.binary] + args, stdin=slave, stdout=slave,
                                      stderr=subprocess.DEVNULL, cwd=ctx.tmp, env=ctx.env,
                                      close_fds=True)
        os.close(slave)
        self.screen = b""

    def expect(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        while text.encode() not in self.screen:
            left = deadline - time.monotonic()
            check(left > 0, "the terminal never showed %r; it showed %r" % (text, self.screen))
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                check(chunk, "the terminal closed before %r; it showed %r" % (text, self.screen))
                self.screen += chunk

    def type(self, line):
        os.write(self.master, (line + "\r").encode())

    def close(self):
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(10)
        os.close(self.master)


def test_passwords_are_not_echoed_on_a_terminal(ctx):
    server = ctx.server()
    args = ["-c", "alice", LOOPBACK, str(server.port), str(ctx.free_port()), "--bind", LOOPBACK,
            "--password"]
    term = Terminal(ctx, args)
    try:
        term.expect("Password for alice: ")
        term.type("tty secret one")
        term.expect("[Welcome, You are registered.]")
        term.type("passwd")
        term.expect("[New password for alice")
        term.type("tty secret two")
        term.expect("[Type the new password again:]")
        term.type("tty secret two")
        term.expect("[Password changed.]")
        term.type("help")  # the line editor is back, and echoes again
        term.expect("help")
        term.expect("delete-account")
        check(b"tty secret" not in term.screen, "a password was echoed: %r" % term.screen)
    finally:
        term.close()
    # The password typed at the prompt, then changed by passwd, is the one
    # the nickname has now.
    moved = ctx.client("alice", server, extra=["--key-file", os.path.join(ctx.tmp, "tty.key"),
                                               "--password=tty secret two"], wait=False)
    wait_registered(moved)
