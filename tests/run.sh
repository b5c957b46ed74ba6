#!/usr/bin/env bash
# run.sh - build and run every syncmgr test: once as a normal build, once
# under AddressSanitizer + UndefinedBehaviorSanitizer (leaks included), then
# the request fuzzer for SM_FUZZ_SECONDS (default 60; tests/fuzz/run.sh).
# Installs missing Debian packages first. Usage: bash tests/run.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tests/deps.sh"
sm_install_deps
sm_install_page_deps

jobs=$(nproc)
run_suite() { # build-dir, extra cmake args...
    local dir=$1
    shift
    cmake -S "$root" -B "$dir" -DSM_BENCH=OFF "$@" >/dev/null
    cmake --build "$dir" -j"$jobs"
    (cd "$dir" && ctest --output-on-failure --timeout 300 -j2)
}

echo "== tests: normal build"
run_suite "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "== tests: address,undefined sanitizers"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DSM_SANITIZE=address,undefined
# The request fuzzer (clang + libFuzzer, ASan + UBSan) for a bounded time;
# it prints how many executions it did, and fails on any finding.
fuzz_secs=${SM_FUZZ_SECONDS:-60}
bash "$root/tests/fuzz/run.sh" "$fuzz_secs"
echo "all tests passed (normal and sanitized builds, ${fuzz_secs} s of fuzzing)"
