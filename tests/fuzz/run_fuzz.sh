#!/usr/bin/env bash
# run_fuzz.sh: fuzz udpchat's datagram decoder for a bounded time.
#
#   tests/fuzz/run_fuzz.sh [SECONDS]        (default 60)
#
# Builds tests/fuzz alone (if needed) in build-fuzz/ with clang >= 16 (a
# build directory configured from the root with -DUDPCHAT_FUZZ=ON works too),
# copies the seed corpus (tests/fuzz/corpus/, plus a fresh one from
# make_corpus, so the seeds follow the codec) to a temporary directory, and
# runs fuzz_decode there with -max_total_time=SECONDS -max_len=1500
# -timeout=5: the repository is never modified. Prints the executions and
# coverage at the end. Exit status 0 when nothing was found; otherwise
# non-zero, with the crashing input (hex), the report, and the temporary
# directory kept.
#
# Environment: CXX_FUZZ (the clang++ to use), UDPCHAT_FUZZ_BUILD (the build
# directory, default <repo>/build-fuzz), UDPCHAT_FUZZ_JOBS (build jobs,
# default 1).
set -euo pipefail

seconds="${1:-60}"
case "$seconds" in
  ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${UDPCHAT_FUZZ_BUILD:-$root/build-fuzz}"
jobs="${UDPCHAT_FUZZ_JOBS:-1}"

say() { printf 'run_fuzz: %s\n' "$*" >&2; }

# A clang++ of version 16 or later (libstdc++ 12's <expected> needs it).
find_clang() {
  local c v
  for c in ${CXX_FUZZ:-} clang++-19 clang++-18 clang++-17 clang++-16 clang++; do
    command -v "$c" >/dev/null 2>&1 || continue
    v="$("$c" -dumpversion 2>/dev/null || echo 0)"
    if [ "${v%%.*}" -ge 16 ] 2>/dev/null; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

if [ ! -f "$build/CMakeCache.txt" ]; then
  cxx="$(find_clang)" || {
    say "no clang++ >= 16 found; on Debian 12: apt-get install clang-19 libclang-rt-19-dev"
    exit 2
  }
  say "configuring $build with $cxx ..."
  cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER="$cxx" >"$build.configure.log" 2>&1 || {
    cat "$build.configure.log" >&2
    exit 2
  }
  rm -f "$build.configure.log"
fi
say "building fuzz_decode and make_corpus (-j$jobs) ..."
if ! cmake --build "$build" -j "$jobs" --target fuzz_decode fuzz_session make_corpus \
     >"$build/build.log" 2>&1; then
  cat "$build/build.log" >&2
  say "build failed"
  exit 2
fi
# Standalone build: the binaries are at the top; a root build with
# -DUDPCHAT_FUZZ=ON puts them in tests/fuzz/.
bin="$build"
[ -x "$bin/fuzz_decode" ] || bin="$build/tests/fuzz"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/udpchat-fuzz.XXXXXX")"
keep=0
cleanup() { [ "$keep" -eq 1 ] || rm -rf "$tmp"; }
trap cleanup EXIT

mkdir -p "$tmp/corpus" "$tmp/artifacts"
cp "$here"/corpus/* "$tmp/corpus/"
"$bin/make_corpus" "$tmp/generated" >/dev/null || {
  keep=1
  say "make_corpus found a seed whose decoding changed (see above); $tmp kept"
  exit 1
}
for f in "$tmp"/generated/*; do  # beside the committed seeds, which may be older
  cp "$f" "$tmp/corpus/gen_$(basename "$f")"
done
seeds="$(find "$tmp/corpus" -type f | wc -l)"

say "fuzzing for $seconds s from $seeds seeds in $tmp ..."
# Symbolized stacks in a report: any llvm-symbolizer reads clang 19's DWARF.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
  for s in llvm-symbolizer-19 llvm-symbolizer-18 llvm-symbolizer-17 llvm-symbolizer-16 \
           llvm-symbolizer-15 llvm-symbolizer-14 llvm-symbolizer; do
    if command -v "$s" >/dev/null 2>&1; then
      export ASAN_SYMBOLIZER_PATH="$(command -v "$s")"
      break
    fi
  done
fi

log="$tmp/fuzz.log"
status=0
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
  "$bin/fuzz_decode" -max_total_time="$seconds" -max_len=1500 -timeout=5 \
    -rss_limit_mb=2048 -print_final_stats=1 -dict="$here/fuzz_decode.dict" \
    -artifact_prefix="$tmp/artifacts/" "$tmp/corpus" >"$log" 2>&1 || status=$?

done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)"
[ -n "$done_line" ] || done_line="$(grep -E '^#[0-9]+[[:space:]]' "$log" | tail -1 || true)"
final_stat() { grep -E "^stat::$1:" "$log" | tail -1 | awk '{print $2}'; }
cov="$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")"
ft="$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$done_line")"
corp="$(sed -nE 's/.* corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$done_line")"
final_corpus="$(find "$tmp/corpus" -type f | wc -l)"

if [ "$status" -ne 0 ]; then
  keep=1
  echo "----- fuzz_decode exited with status $status; last lines of its log:"
  tail -n 80 "$log"
  for f in "$tmp"/artifacts/*; do
    [ -f "$f" ] || continue
    echo "----- $(basename "$f") ($(stat -c %s "$f" 2>/dev/null || wc -c <"$f") bytes), hex:"
    od -An -tx1 -v "$f" | tr -d ' \n' | fold -w 96
    echo
    echo "reproduce: ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-llvm-symbolizer} $bin/fuzz_decode $f"
  done
  echo "(log and artifacts kept in $tmp)"
fi

echo "fuzz_decode: $seconds s, executions $(final_stat number_of_executed_units)" \
  "($(final_stat average_exec_per_sec) exec/s), coverage: cov ${cov:-?} edges, ft ${ft:-?} features," \
  "corpus ${corp:-?} (${final_corpus} files from $seeds seeds, $(final_stat new_units_added) new units)," \
  "peak RSS $(final_stat peak_rss_mb) MB"
if [ "$status" -ne 0 ]; then
  echo "FAILED: fuzz_decode found a problem (status $status)"
  exit 1
fi
# The session layer (frames, handshake, sealing): half as long, from nothing.
session_seconds=$(( seconds / 2 > 0 ? seconds / 2 : 1 ))
mkdir -p "$tmp/session-corpus"
slog="$tmp/fuzz_session.log"
sstatus=0
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
  "$bin/fuzz_session" -max_total_time="$session_seconds" -max_len=1500 -timeout=5 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$tmp/artifacts/session-" \
    "$tmp/session-corpus" >"$slog" 2>&1 || sstatus=$?
sdone="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$slog" | tail -1 || true)"
echo "fuzz_session: $session_seconds s, executions $(grep -E '^stat::number_of_executed_units:' "$slog" | awk '{print $2}'), coverage: cov $(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$sdone") edges"
if [ "$sstatus" -ne 0 ]; then
  keep=1
  echo "----- fuzz_session exited with status $sstatus; last lines of its log:"
  tail -n 80 "$slog"
  echo "FAILED: fuzz_session found a problem (status $sstatus); $tmp kept"
  exit 1
fi
echo "OK: no crash, hang, leak or property violation"
