"""--config FILE (manual §3.5): every key read and checked, the command line
over the file, and each kind of error named by file, line and key."""

import os
import re

from harness import LOOPBACK, SERVER_START, check, check_equal, wait_registered


# A value out of range for every integer key, and a bad value for every
# checked text key: each must be refused naming the file, the line and
# the key, which shows the key is read from the file and checked there.
SERVER_BAD = [("ack-timeout-ms", "5"), ("server-retries", "0"), ("max-clients", "0"),
              ("max-stored", "0"), ("table-batch-ms", "10001"), ("full-table-limit", "20001"),
              ("fanout-window", "0"), ("rate-limit", "0"), ("handshake-rate", "0"),
              ("bind", '"not-an-address"'), ("log-level", '"loud"'), ("data-dir", '""'),
              ("log-file", '""')]
CLIENT_BAD = [("ack-timeout-ms", "60001"), ("server-retries", "101"), ("heartbeat-ms", "99"),
              ("max-pending", "0"), ("bind", '"1.2.3"'), ("log-level", '"verbose"'),
              ("key-file", '""'), ("server-key", '"abcd"'), ("json", "1"),
              ("no-history", '"yes"'), ("log-file", "3"), ("store-sync", '"sometimes"')]


def write(ctx, name, text):
    path = os.path.join(ctx.tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def first_line(r):
    return next((l for l in r.err.splitlines() if l.strip()), "")


def server_key(data_dir):
    with open(os.path.join(data_dir, "server.key")) as f:
        return re.search(r"Public key: ([0-9a-f]{64})", f.read()).group(1)


def test_config_every_key_is_checked(ctx):
    sp, cp = str(ctx.free_port()), str(ctx.free_port())
    failures = []
    for mode, bad, argv in (("server", SERVER_BAD, ["-s", sp]),
                            ("client", CLIENT_BAD, ["-c", "alice", LOOPBACK, sp, cp])):
        for key, value in bad:
            # The bad key on line 3, after a comment and a good key.
            path = write(ctx, "%s-%s.toml" % (mode, key),
                         "# udpchat %s\nserver-retries = 3\n%s = %s\n" % (mode, key, value))
            if key == "server-retries":
                path = write(ctx, "%s-%s.toml" % (mode, key),
                             "# udpchat %s\nlog-level = \"info\"\n%s = %s\n" % (mode, key, value))
            r = ctx.run(argv + ["--config", path], name="%s %s" % (mode, key))
            line = first_line(r)
            if r.rc != 2 or ("%s:3: key %s" % (path, key)) not in line:
                failures.append("%s %s = %s: status %s, %r" % (mode, key, value, r.rc, line))
    check(not failures, "keys not checked:\n  " + "\n  ".join(failures))


def test_config_errors_name_file_line_and_key(ctx):
    sp = str(ctx.free_port())
    cases = [
        ("unknown key", "\n\nbogus = 1\n", ":3: unknown key bogus"),
        ("other mode", "max-pending = 5\n", ":1: key max-pending is a client option"),
        ("mode key", "server = 7000\n", ":1: key server belongs on the command line"),
        ("wrong type", "rate-limit = \"fast\"\n", ":1: key rate-limit must be an integer"),
        ("float", "rate-limit = 10.5\n", ":1: key rate-limit must be an integer"),
        ("table", "[logging]\nlevel = 1\n", ":1: unknown key logging"),
        ("syntax", "data-dir = \"x\"\nrate-limit = = 3\n", ":2:"),
        ("string for text", "bind = 127\n", ":1: key bind must be a string"),
    ]
    failures = []
    for what, text, expected in cases:
        path = write(ctx, what.replace(" ", "-") + ".toml", text)
        r = ctx.run(["-s", sp, "--config", path], name=what)
        line = first_line(r)
        if r.rc != 2 or (path + expected) not in line or "listening on" in r.out:
            failures.append("%s: status %s, %r (expected %r)" % (what, r.rc, line, expected))
    r = ctx.run(["-s", sp, "--config", os.path.join(ctx.tmp, "missing.toml")], name="missing")
    if r.rc != 2 or "missing.toml" not in first_line(r):
        failures.append("missing file: status %s, %r" % (r.rc, first_line(r)))
    check(not failures, "config errors:\n  " + "\n  ".join(failures))


def test_config_runs_a_server_and_a_client_and_the_command_line_wins(ctx):
    from_file, from_cli = ctx.data_dir("from-file"), ctx.data_dir("from-cli")
    port = ctx.free_port()
    server_toml = write(ctx, "server.toml", "\n".join([
        'data-dir = "%s"' % from_file, 'bind = "%s"' % LOOPBACK, "ack-timeout-ms = 400",
        "server-retries = 4", "max-clients = 50", "max-stored = 20", "table-batch-ms = 5",
        "full-table-limit = 10", "fanout-window = 64", "rate-limit = 500",
        "handshake-rate = 100", 'log-level = "debug"', ""]))
    # The file's data-dir is overridden by the command line's.
    s = ctx.start("server", ["-s", str(port), "--config", server_toml, "--data-dir", from_cli],
                  kind="server")
    s.port = port
    s.expect(SERVER_START)
    check(os.path.exists(os.path.join(from_cli, "udpchat.db")), "no store in the --data-dir")
    check(not os.path.exists(os.path.join(from_file, "udpchat.db")),
          "the file's data-dir was used over the command line's")

    key_file = os.path.join(ctx.tmp, "alice-from-config.key")
    client_toml = write(ctx, "client.toml", "\n".join([
        'bind = "%s"' % LOOPBACK, "ack-timeout-ms = 300", "server-retries = 6",
        "heartbeat-ms = 1000", "max-pending = 7", 'key-file = "%s"' % key_file,
        'server-key = "%s"' % server_key(from_cli), 'log-level = "info"', ""]))
    a = ctx.start("alice", ["-c", "alice", LOOPBACK, str(port), str(ctx.free_port()),
                            "--config", client_toml], kind="client")
    wait_registered(a)
    check(os.path.exists(key_file), "the client did not use the file's key-file")
    check_equal(os.stat(key_file).st_mode & 0o777, 0o600, "mode of the key file")
    a.send("quit")
    a.expect_exit(0)
    s.signal(15)
    s.wait(timeout=30)


def test_help_is_one_usage_block(ctx):
    r = ctx.run(["--help"], name="help")
    check_equal(r.rc, 0, "exit status of --help")
    check_equal(r.out.count("Usage:"), 1, "'Usage:' lines in --help")
    check("default: default" not in r.out, "--help shows a default of 'default'")
    keys = [k for k, _ in SERVER_BAD + CLIENT_BAD] + ["config", "password", "help", "version"]
    missing = [k for k in keys if ("--" + k + " ") not in r.out and not r.out.count("--" + k + "\n")]
    check(not missing, "--help does not list %s" % ", ".join(missing))
    for line in r.out.splitlines():
        check(len(line) <= 100, "a --help line of %d characters: %r" % (len(line), line))
