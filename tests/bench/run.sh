#!/bin/sh
# run.sh - build bench_rt (Release) and run it; every argument goes to bench_rt.
#
#   tests/bench/run.sh                     # everything, ~45 s on 2 cores
#   tests/bench/run.sh --only ipc --seconds 1 --csv /tmp/rt.csv
#   tests/bench/run.sh --conn shared --clients 4,16,64   # only N threads on one client
#
# "Everything" is ipc and tcp, 1 and 16 client threads, each thread with its own connection
# (conn own) and, for 16, all threads on one sm_client / one REQ socket (conn shared), each
# beside a raw nng echo built the same way. Figures are noisy on a shared machine: the output
# prints the load average; compare ratios and CPU per call, and rerun to see the spread.
#
# The build directory is <repo>/build unless SMB_BUILD_DIR names another. It is configured
# (-DCMAKE_BUILD_TYPE=Release) only when it has no CMakeCache.txt yet; an existing build of
# another type is used as it is, with a warning, since timings from it mean little.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${SMB_BUILD_DIR:-$repo/build}

if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release
fi
type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
if [ "$type" != "Release" ]; then
    echo "run.sh: warning: $build is a '$type' build, not Release; figures are not comparable" >&2
fi
jobs=$(nproc 2>/dev/null || echo 2)
# bench_rt execs syncmgrd but does not link it, so build both targets.
cmake --build "$build" -j"$jobs" --target syncmgrd bench_rt

exec "$build/bench_rt" "$@"
