#!/usr/bin/env python3
"""check_layers.py: the include direction between the folders of src/.

The layers (docs/ARCHITECTURE.md, "The folders"), lowest first:

    protocol, crypto            wire format and libsodium wrappers
    core/base                   clock types, log records
    core/reliable               ids, acks, RTO, duplicate suppression
    core/session                the secure client-server link
    core/client, core/server    the two state machines, side by side
    store                       SQLite
    app                         asio, the terminal, the command line

A file may include headers of its own folder and of the folders its layer
lists in ALLOWED, never of a folder above it or beside it: core/client and
core/server never include each other. Nothing under src/core, src/protocol,
src/crypto or src/store includes asio (they are sans-I/O; only src/app does
I/O).

Usage:
    check_layers.py [--root DIR]    check DIR/src (default: this repository)
    check_layers.py --self-test     check that a tree with violations fails

Exit status 0 when every include keeps to its layer, 1 with one line per
violation (file:line: what it includes and why that is refused).
"""
import argparse
import os
import re
import sys
import tempfile

# Folder (relative to src/) -> the folders its files may include from, besides
# their own. Headers of the standard library and of Debian packages are
# #include <...> and are checked only for asio.
ALLOWED = {
    "protocol": set(),
    "crypto": {"protocol"},
    "core/base": set(),
    "core/reliable": {"core/base", "protocol"},
    "core/session": {"core/base", "core/reliable", "protocol", "crypto"},
    "core/client": {"core/base", "core/reliable", "core/session", "protocol", "crypto"},
    "core/server": {"core/base", "core/reliable", "core/session", "protocol", "crypto"},
    "store": {"core/base", "core/reliable", "core/session", "core/client", "core/server",
              "protocol", "crypto"},
    "app": {"core/base", "core/reliable", "core/session", "core/client", "core/server",
            "protocol", "crypto", "store"},
}
SANS_IO = ("core", "protocol", "crypto", "store")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
ASIO = re.compile(r'^(asio\b|asio/|asio\.hpp|boost/asio)')


def folder_of(relpath):
    """The layer folder of a path relative to src/ ("core/client/x.hpp" ->
    "core/client"), or None for a file outside every layer (src/main.cpp)."""
    parts = relpath.split("/")
    if parts[0] == "core" and len(parts) > 2:
        return "core/" + parts[1]
    if parts[0] in ALLOWED and len(parts) > 1:
        return parts[0]
    return None


def check(src):
    """Returns the violations under `src` as "path:line: message" strings."""
    problems = []
    for dirpath, _, names in os.walk(src):
        for name in sorted(names):
            if not name.endswith((".hpp", ".cpp", ".h")):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src).replace(os.sep, "/")
            home = folder_of(rel)
            if rel.startswith("core/") and home is None:
                problems.append(f"src/{rel}: a file directly in src/core; it belongs in "
                                f"one of its folders ({', '.join(sorted(k for k in ALLOWED if k.startswith('core/')))})")
                continue
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    kind, target = m.groups()
                    where = f"src/{rel}:{number}"
                    if ASIO.match(target) and rel.split("/")[0] in SANS_IO:
                        problems.append(f"{where}: includes {target}: src/{rel.split('/')[0]} "
                                        "is sans-I/O; sockets and timers belong in src/app")
                        continue
                    if kind != '"' or home is None:
                        continue
                    there = folder_of(target)
                    if there is None or there == home:
                        continue
                    if there not in ALLOWED[home]:
                        problems.append(f"{where}: includes {target}: {home} may include only "
                                        f"{', '.join(sorted(ALLOWED[home])) or 'its own folder'}")
    return problems


def self_test():
    """A tree with one violation of each kind must give exactly those."""
    cases = {
        "core/client/a.hpp": '#include "core/server/b.hpp"\n',
        "core/server/b.hpp": '#include "core/client/a.hpp"\n',
        "core/reliable/c.cpp": '#include "core/session/d.hpp"\n',
        "core/session/d.hpp": "#include <asio.hpp>\n",
        "store/e.cpp": "#include <asio/ip/udp.hpp>\n",
        "protocol/f.hpp": '#include "core/base/time.hpp"\n',
        "core/g.hpp": "\n",
        # allowed: each must give nothing
        "core/client/ok.cpp": '#include "core/session/d.hpp"\n#include "core/client/a.hpp"\n',
        "app/ok.cpp": "#include <asio.hpp>\n#include \"core/server/b.hpp\"\n",
    }
    with tempfile.TemporaryDirectory() as tmp:
        for rel, text in cases.items():
            os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
            with open(os.path.join(tmp, rel), "w", encoding="utf-8") as f:
                f.write(text)
        found = check(tmp)
    flagged = sorted({p.split(":")[0].removeprefix("src/") for p in found})
    expected = sorted(k for k in cases if "ok" not in k)
    if flagged != expected:
        print("self-test FAILED: flagged", flagged, "expected", expected)
        for p in found:
            print("  ", p)
        return 1
    print(f"self-test passed: {len(found)} violations found in {len(expected)} bad files, "
          "none in the allowed ones")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    problems = check(os.path.join(args.root, "src"))
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} include(s) break the layer direction (docs/ARCHITECTURE.md)")
        return 1
    print("layers: every include under src/ keeps to its layer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
