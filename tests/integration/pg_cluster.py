"""pg_cluster.py: a throw-away PostgreSQL for the integration tests and
`./UdpChat demo cluster`.

PgServer() runs Debian's initdb in a fresh temporary directory and
starts the server with pg_ctl on a Unix socket in that directory only
(listen_addresses='': no TCP port, nothing to clash with). initdb refuses
to run as root; as root, the server's commands run as the `postgres` user
of Debian's postgresql package (runuser). uri() is the connection URI a
udpchat server takes with --store; restart() and stop() act on the server
(fast shutdown: every connection is cut, nothing committed is lost);
close() stops it and removes its files. No containers.
"""

import glob
import os
import shutil
import subprocess
import tempfile

from checks import Skip


def pg_bin():
    """Debian's PostgreSQL server binaries, the newest installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if not found:
        raise Skip("PostgreSQL's server is not installed (Debian package postgresql)")
    return os.path.dirname(found[-1])


class PgServer:
    def __init__(self, database="udpchat"):
        self.bin = pg_bin()
        # Under the system's temporary directory, not a test's own (mode
        # 0700, root's): the postgres user must be able to reach it.
        self.dir = tempfile.mkdtemp(prefix="udpchat-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "server.log")
        self.database = database
        self.as_user = []
        if os.geteuid() == 0:
            os.chown(self.dir, *self._postgres_ids())
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self._run(["initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                   "--no-sync"], "initdb")
        self.start()
        self._run(["createdb", "-h", self.dir, "-U", "postgres", database], "createdb")

    @staticmethod
    def _postgres_ids():
        import pwd
        entry = pwd.getpwnam("postgres")
        return entry.pw_uid, entry.pw_gid

    def _run(self, argv, what, check=True):
        cmd = self.as_user + [os.path.join(self.bin, argv[0])] + argv[1:]
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if check and cp.returncode != 0:
            log = ""
            if os.path.exists(self.log):
                with open(self.log, encoding="utf-8", errors="replace") as f:
                    log = f.read()[-3000:]
            raise RuntimeError("PostgreSQL for the tests: %s failed (%d):\n%s%s\n%s"
                               % (what, cp.returncode, cp.stdout, cp.stderr, log))
        return cp

    def _ctl(self, *args, check=True):
        return self._run(["pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60"]
                         + list(args), "pg_ctl " + args[-1], check=check)

    def start(self):
        self._ctl("-o", "-k %s -c listen_addresses='' -p 5432" % self.dir, "start")

    def stop(self):
        self._ctl("-m", "fast", "stop")

    def restart(self):
        self.stop()
        self.start()

    def uri(self, database=None):
        """The URI for --store: the Unix socket of this server, user postgres."""
        return "postgresql://postgres@/%s?host=%s&port=5432" % (database or self.database,
                                                                  self.dir)

    def sql(self, statement, database=None):
        """Runs one statement with psql; returns its output (unaligned, no headers)."""
        cp = self._run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.dir,
                        "-U", "postgres", "-d", database or self.database, "-c", statement],
                       "psql")
        return cp.stdout.strip()

    def close(self):
        self._ctl("-m", "immediate", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
