#!/usr/bin/env bash
# run.sh - build the request fuzzer (clang, libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer on the fuzz target and the server core) and
# run it for SECONDS (default 60) over a copy of the seed corpus
# (tests/fuzz/corpus and tests/fuzz/regressions; the copy grows, the
# committed seeds do not).
#
#   bash tests/fuzz/run.sh [SECONDS]
#
# Exits non-zero on any crash, leak, timeout, out-of-memory or sanitizer
# report; the input that caused it is left as BUILD/fuzz-artifacts/crash-*
# (or leak-*, timeout-*, oom-*) and the fuzzer's log as BUILD/fuzz.log.
# Replay one input with: BUILD/fuzz_request FILE (FZ_TRACE=1 prints every
# request and reply). The state is kept across inputs, so a leak can show
# only when the process exits, with no single input to blame: the grown
# corpus is then kept as BUILD/fuzz-corpus-failed, and
# BUILD/fuzz_request -runs=0 BUILD/fuzz-corpus-failed replays it in one
# process. A fixed finding goes into tests/fuzz/regressions/, which
# test_fuzz_regressions replays in every build.
# Environment: SM_FUZZ_BUILD_DIR (default build-fz in the source tree).
# Installs missing Debian packages first (tests/deps.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
[[ $secs =~ ^[1-9][0-9]*$ ]] || {
    echo "usage: $0 [SECONDS]" >&2
    exit 2
}
. "$root/tests/deps.sh"
sm_install_deps
sm_install_fuzz_deps

dir=${SM_FUZZ_BUILD_DIR:-$root/build-fz}
echo "== fuzz: building fuzz_request in $dir (clang, address,undefined)"
CC=clang cmake -S "$root" -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSM_SANITIZE=address,undefined -DSM_FUZZ=ON -DSM_TESTS=OFF -DSM_BENCH=OFF \
    -DSM_EXAMPLES=OFF >/dev/null
cmake --build "$dir" --target fuzz_request -j"$(nproc)" >"$dir/fuzz-build.log" 2>&1 || {
    tail -n 40 "$dir/fuzz-build.log"
    exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/sm-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$dir/fuzz-artifacts"
cp "$root"/tests/fuzz/corpus/* "$work/corpus/"
if compgen -G "$root/tests/fuzz/regressions/*" >/dev/null; then
    cp "$root"/tests/fuzz/regressions/* "$work/corpus/"
fi
seeds=$(find "$work/corpus" -type f | wc -l)

echo "== fuzz: running for ${secs} s over $seeds seeds (log: $dir/fuzz.log)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
rc=0
"$dir/fuzz_request" -max_len=4096 -timeout=10 -max_total_time="$secs" -print_final_stats=1 \
    -artifact_prefix="$dir/fuzz-artifacts/" "$work/corpus" >"$dir/fuzz.log" 2>&1 || rc=$?

stat() { sed -n "s/^stat::$1: *//p" "$dir/fuzz.log" | tail -n 1; }
execs=$(stat number_of_executed_units)
rate=$(stat average_exec_per_sec)
cov=$(grep -o 'cov: [0-9]*' "$dir/fuzz.log" | tail -n 1 || true)
grown=$(find "$work/corpus" -type f | wc -l)
reports=$(grep -cE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|==[0-9]+==ERROR' \
    "$dir/fuzz.log" || true)
if ((rc != 0 || reports > 0)); then
    echo "FAIL: the fuzzer stopped with status $rc ($reports sanitizer/fuzzer reports)"
    grep -nE 'ERROR|runtime error|SUMMARY|Test unit written|fuzz_request: ' "$dir/fuzz.log" |
        head -n 20 || true
    echo "---- last lines of $dir/fuzz.log"
    tail -n 40 "$dir/fuzz.log"
    ls -l "$dir/fuzz-artifacts/"
    rm -rf "$dir/fuzz-corpus-failed"
    mv "$work/corpus" "$dir/fuzz-corpus-failed"
    echo "the grown corpus is kept as $dir/fuzz-corpus-failed"
    exit 1
fi
echo "fuzz: ${execs:-?} executions in ${secs} s (${rate:-?} exec/s), ${cov:-cov: ?} edges," \
    "corpus $seeds -> $grown inputs; no crash, leak or timeout"
