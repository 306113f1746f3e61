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

Every file under src/ is read (any extension), and every #include and
#include_next, "quoted" or <angled>, is resolved as the compiler does with
-Isrc: "core/server/x.hpp", <core/server/x.hpp> and "../server/x.hpp" name the
same header. A file outside the layer folders (src/core/x.hpp, src/util/) is
refused, and so is a tree where a layer folder is missing or empty, so that a
wrong --root cannot pass. The build checks the same direction for symbols
(CMakeLists.txt, "layer link checks").

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
# their own. Files directly in src/ (main.cpp) belong to app.
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
# #include and #include_next, "quoted" or <angled>.
INCLUDE = re.compile(r'^\s*#\s*include(?:_next)?\s*([<"])([^>"]+)[>"]')
ASIO = re.compile(r'^(asio\b|asio/|asio\.hpp|boost/asio)')
UNKNOWN = "?"


def folder_of(relpath):
    """The layer folder of a normalized path relative to src/:
    "core/client/x.hpp" -> "core/client", "main.cpp" -> "app", "?" for a
    folder that is not a layer (src/core/x.hpp, src/core/misc/..., src/util/...),
    None for a path outside src/ (a system or package header)."""
    if relpath.startswith("../") or relpath == "..":
        return None
    parts = relpath.split("/")
    if len(parts) == 1:
        return "app"
    if parts[0] == "core":
        name = "core/" + parts[1] if len(parts) > 2 else UNKNOWN
        return name if name in ALLOWED else UNKNOWN
    return parts[0] if parts[0] in ALLOWED else UNKNOWN


def resolve(src, including_dir, kind, target):
    """The path (relative to src/, normalized) an include names, looked up as
    the compiler does with -Isrc: a "quoted" name first beside the including
    file, then under src/; an <angled> name under src/. Returns None when the
    name is not a file of src/ (<string>, <sodium.h>)."""
    candidates = []
    if kind == '"':
        candidates.append(os.path.normpath(os.path.join(including_dir, target)))
    candidates.append(os.path.normpath(os.path.join(src, target)))
    for path in candidates:
        rel = os.path.relpath(path, src).replace(os.sep, "/")
        if os.path.isfile(path) and not rel.startswith("../"):
            return rel
    # Not a file of src/: a system or package header (<string>, <sodium.h>),
    # unless its name starts with a folder of src/ (a header named by a
    # layer's path is that layer's, written yet or not).
    rel = os.path.relpath(candidates[-1], src).replace(os.sep, "/")
    top = rel.split("/")[0]
    if "/" in rel and os.path.isdir(os.path.join(src, top)):
        return rel
    return None


def check(src):
    """Returns (violations, files scanned) for the tree `src`; a violation is a
    "path[:line]: message" string. A tree without src/ or without a file in
    every layer folder is itself a violation (a wrong --root passes nothing)."""
    problems = []
    if not os.path.isdir(src):
        return [f"{src}: no such folder; is --root the repository?"], 0
    scanned = 0
    seen = {name: 0 for name in ALLOWED}
    for dirpath, dirnames, names in os.walk(src):
        dirnames.sort()
        for name in sorted(names):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src).replace(os.sep, "/")
            home = folder_of(rel)
            scanned += 1
            if home == UNKNOWN:
                problems.append(f"src/{rel}: not in a layer folder; the layers are "
                                f"{', '.join(sorted(ALLOWED))} (docs/ARCHITECTURE.md)")
                continue
            seen[home] += 1
            with open(path, encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if m:
                        problems += check_include(src, rel, home, number, *m.groups())
    for name, count in seen.items():
        if count == 0:
            problems.append(f"src/{name}/: missing or empty; is --root the repository?")
    return problems, scanned


def check_include(src, rel, home, number, kind, target):
    """The violations of one include line (a list of zero or one string)."""
    where = f"src/{rel}:{number}"
    if ASIO.match(target) and rel.split("/")[0] in SANS_IO:
        return [f"{where}: includes {target}: src/{rel.split('/')[0]} is sans-I/O; "
                "sockets and timers belong in src/app"]
    included = resolve(src, os.path.dirname(os.path.join(src, rel)), kind, target)
    if included is None:
        return []
    there = folder_of(included)
    if there is None or there == home:
        return []
    if there == UNKNOWN:
        return [f"{where}: includes {target} (src/{included}), which is in no layer folder"]
    if there not in ALLOWED[home]:
        return [f"{where}: includes {target} (src/{included}): {home} may include only "
                f"{', '.join(sorted(ALLOWED[home])) or 'its own folder'}"]
    return []


# The self-test's tree: path under src/ -> (text, violations it must give).
SELF_TEST_TREE = {
    "core/client/a.hpp": ('#include "core/server/b.hpp"\n', 1),
    "core/server/b.hpp": ('#include "core/client/a.hpp"\n', 1),
    "core/reliable/c.cpp": ('#include "core/session/d.hpp"\n', 1),
    "core/session/d.hpp": ("#include <asio.hpp>\n", 1),
    "store/e.cpp": ("#include <asio/ip/udp.hpp>\n", 1),
    "protocol/f.hpp": ('#include "core/base/time.hpp"\n', 1),
    "protocol/h.hpp": ('#include "asio.hpp"\n', 1),
    "crypto/i.cc": ("#include <boost/asio.hpp>\n", 1),
    "core/g.hpp": ("\n", 1),
    "core/misc/j.hpp": ("\n", 1),
    "util/k.hpp": ("\n", 1),
    "core/base/l.hpp": ('#include "../misc/j.hpp"\n', 1),
    # the other ways to name a header of another folder
    "core/client/angle.cpp": ("#include <core/server/b.hpp>\n", 1),
    "core/client/relative.cpp": ('#include "../server/b.hpp"\n', 1),
    "core/client/dots.cpp": ('#include "./../../core/server/b.hpp"\n', 1),
    "core/client/next.ipp": ('#include_next "core/server/b.hpp"\n', 1),
    "core/server/inline.inl": ('#include "../client/a.hpp"\n', 1),
    "core/server/tmpl.tpp": ("#  include <core/client/a.hpp>\n", 1),
    "core/client/two.cpp": ('#include "core/server/b.hpp"\n#include <asio/io_context.hpp>\n', 2),
    # allowed: each must give nothing
    "core/client/ok.cpp": ('#include "a.hpp"\n#include "core/session/d.hpp"\n'
                           "#include <string>\n#include <sodium.h>\n", 0),
    "crypto/ok.cpp": ('#include "protocol/f.hpp"\n#include "../protocol/h.hpp"\n', 0),
    "store/ok.cpp": ("#include <core/client/a.hpp>\n#include <core/server/b.hpp>\n", 0),
    "app/ok.cpp": ('#include <asio.hpp>\n#include "core/server/b.hpp"\n#include "../store/e.cpp"\n', 0),
    "main.cpp": ('#include "app/ok.cpp"\n#include <asio.hpp>\n', 0),
}


def self_test():
    """Checks the checker: the tree above must give exactly its violations,
    file by file, and an empty or missing src/ must fail."""
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src")
        for rel, (text, _) in SELF_TEST_TREE.items():
            os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
            with open(os.path.join(src, rel), "w", encoding="utf-8") as f:
                f.write(text)
        found, scanned = check(src)
        counts = {}
        for p in found:
            counts[p.split(":")[0].removeprefix("src/")] = counts.get(
                p.split(":")[0].removeprefix("src/"), 0) + 1
        for rel, (_, expected) in SELF_TEST_TREE.items():
            if counts.pop(rel, 0) != expected:
                failures.append(f"{rel}: expected {expected} violation(s)")
        failures += [f"{rel}: unexpected violation(s)" for rel in counts]
        if scanned != len(SELF_TEST_TREE):
            failures.append(f"scanned {scanned} files, expected {len(SELF_TEST_TREE)}")
        empty = os.path.join(tmp, "empty", "src")
        os.makedirs(empty)
        missing, _ = check(empty)
        if len(missing) != len(ALLOWED):
            failures.append(f"an empty src/ gave {len(missing)} violations, expected {len(ALLOWED)}")
        if not check(os.path.join(tmp, "nowhere", "src"))[0]:
            failures.append("a missing src/ passed")
    if failures:
        print("self-test FAILED:")
        for line in failures + ["found:"] + found:
            print("  ", line)
        return 1
    expected_total = sum(n for _, n in SELF_TEST_TREE.values())
    print(f"self-test passed: {len(found)} of {expected_total} violations found, file by file, in "
          f"{scanned} files; an empty and a missing src/ fail")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    problems, scanned = check(os.path.join(args.root, "src"))
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s) with the layer direction in {scanned} files "
              "(docs/ARCHITECTURE.md)")
        return 1
    print(f"layers: every include of the {scanned} files under src/ keeps to its layer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
