"""The .deb (manual §6.11): `cpack -G DEB` in the build directory, installed
with apt-get, its unit clean under `systemd-analyze verify`, its man page
rendered by `man -l`, its binary run with its example configuration; the
service started under systemd where the machine runs it. Root only (it
installs a package), and the release build only (the sanitized binary
would be installed in its place)."""

import glob
import os
import shutil
import signal
import subprocess
import tempfile

from harness import LOOPBACK, SERVER_START, Skip, check

UNIT = "/usr/lib/systemd/system/udpchat.service"
MAN = "/usr/share/man/man1/udpchat.1.gz"
CONFIG = "/etc/udpchat/udpchat.toml"


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, **kw)


def test_deb_installs_with_unit_man_page_and_config(ctx):
    if os.geteuid() != 0:
        raise Skip("installing a package needs root")
    if os.environ.get("UDPCHAT_SANITIZED"):
        raise Skip("the release build's run installs the package")
    for tool in ("cpack", "apt-get", "dpkg-shlibdeps", "systemd-analyze", "man"):
        if shutil.which(tool) is None:
            raise Skip("%s is not installed" % tool)
    build = os.path.dirname(ctx.binary)
    out = tempfile.mkdtemp(prefix="udpchat-deb-", dir=ctx.tmp)
    r = run(["cpack", "-G", "DEB", "-B", out], cwd=build)
    check(r.returncode == 0, "cpack failed: %s %s" % (r.stdout[-2000:], r.stderr[-2000:]))
    debs = glob.glob(os.path.join(out, "udpchat_*.deb"))
    check(len(debs) == 1, "cpack made %r" % debs)
    r = run(["apt-get", "install", "-y", "-qq", debs[0]],
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    check(r.returncode == 0, "apt-get install failed: %s" % r.stderr[-2000:])
    try:
        listed = run(["dpkg", "-L", "udpchat"]).stdout.split()
        for path in ("/usr/bin/udpchat", UNIT, MAN, CONFIG):
            check(path in listed, "the package does not install %s" % path)
        conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "udpchat"]).stdout
        check(CONFIG in conffiles, "%s is not a conffile: %r" % (CONFIG, conffiles))

        r = run(["systemd-analyze", "verify", UNIT])
        check(r.returncode == 0 and not (r.stdout + r.stderr).strip(),
              "systemd-analyze verify: status %d, %r" % (r.returncode, r.stdout + r.stderr))

        r = run(["man", "-l", MAN], env=dict(os.environ, MANPAGER="cat", PAGER="cat",
                                                 MANWIDTH="100"))
        text = r.stdout.replace("\u2010", "-").replace("\u2212", "-")
        check(r.returncode == 0, "man -l: %r" % r.stderr)
        for words in ("udpchat -s", "--config FILE", "--metrics", "FILES", CONFIG):
            check(words in text, "the man page lacks %r" % words)

        r = run(["/usr/bin/udpchat", "--version"])
        check(r.returncode == 0 and r.stdout.startswith("udpchat "), "--version: %r" % r.stdout)

        # The installed binary with the installed configuration; the
        # command line wins for what must differ in a test.
        port = ctx.free_port()
        proc = subprocess.Popen(
            ["/usr/bin/udpchat", "-s", str(port), "--config", CONFIG, "--data-dir",
             ctx.data_dir("installed"), "--bind", LOOPBACK, "--metrics",
             "%s:%d" % (LOOPBACK, ctx.free_port())],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ctx.env)
        try:
            line = proc.stdout.readline()
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
        check(SERVER_START.match(line), "the installed server did not start: %r %r" % (line, err))
        check(proc.returncode == 0, "the installed server exited %s" % proc.returncode)

        if os.path.exists("/run/systemd/system"):
            r = run(["systemctl", "daemon-reload"])
            r = run(["systemctl", "start", "udpchat"])
            check(r.returncode == 0, "systemctl start: %r" % r.stderr)
            r = run(["systemctl", "is-active", "udpchat"])
            check(r.stdout.strip() == "active", "the service is %r" % r.stdout.strip())
            run(["systemctl", "stop", "udpchat"])
        else:
            print("    not run under systemd: PID 1 is %r, not systemd (verify only)" %
                  open("/proc/1/comm").read().strip())
    finally:
        run(["dpkg", "--purge", "udpchat"])
