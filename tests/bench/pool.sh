#!/bin/sh
# pool.sh - syncmgr's pool beside Python's multiprocessing.Pool: tasks/s of a trivial task.
#
#   tests/bench/pool.sh                            # 2 rounds x 6 cells x 3 s: about 45 s
#   SMB_SECONDS=5 SMB_ROUNDS=3 tests/bench/pool.sh
#   SMB_PREFETCH=1 tests/bench/pool.sh             # only the default prefetch: about 30 s
#
# Both sides map a function that returns its one 8-byte input, on 2 local worker processes,
# at chunksize 1 and 100, in maps of 500 tasks (500 or 50,000 inputs) repeated for
# SMB_SECONDS per cell: syncmgr through bench_pool (syncmgrd and the workers on ipc://),
# Python through pool_py.py (Pool(2).map). syncmgr runs once per worker prefetch in
# SMB_PREFETCH (default "1 16": sm_worker_opts' default, and a deep one, closer to Python,
# whose workers read tasks from a pipe the pool keeps full). The rounds alternate syncmgr and
# Python, so that load from elsewhere hits both. tasks/s counts inputs (function calls) per
# second; CPU per input adds up every process involved (for syncmgr: client, workers and
# syncmgrd).
#
# The build directory is <repo>/build unless SMB_BUILD_DIR names another. It is configured
# (-DCMAKE_BUILD_TYPE=Release) only when it has no CMakeCache.txt yet; an existing build of
# another type is used as it is, with a warning, since timings from it mean little.
# A benchmark never passes or fails: a cell that could not run shows why.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${SMB_BUILD_DIR:-$repo/build}
seconds=${SMB_SECONDS:-3}
rounds=${SMB_ROUNDS:-2}
prefetch=${SMB_PREFETCH:-1 16}
workers=2
chunks=1,100

if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release
fi
type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
if [ "$type" != "Release" ]; then
    echo "pool.sh: warning: $build is a '$type' build, not Release; figures are not comparable" >&2
fi
jobs=$(nproc 2>/dev/null || echo 2)
# bench_pool execs syncmgrd but does not link it, so build both targets.
cmake --build "$build" -j"$jobs" --target syncmgrd bench_pool >/dev/null

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (before the run)"
echo "$(python3 -c 'import sys; print("Python", sys.version.split()[0])'), $build ($type build)"
echo "$workers workers, trivial task (8 bytes in, 8 out), chunksize $chunks, syncmgr prefetch" \
     "$prefetch, $rounds rounds x $seconds s per cell"

tsv=$(mktemp)
trap 'rm -f "$tsv"' EXIT
r=1
while [ "$r" -le "$rounds" ]; do
    for p in $prefetch; do
        "$build/bench_pool" --tsv --seconds "$seconds" --workers "$workers" --chunks "$chunks" \
            --prefetch "$p" >>"$tsv" ||
            printf 'syncmgr\t0\t%s\terror\tbench_pool exited %s\n' "$p" "$?" >>"$tsv"
    done
    python3 "$here/pool_py.py" --tsv --seconds "$seconds" --workers "$workers" \
        --chunks "$chunks" >>"$tsv" ||
        printf 'python\t0\t-\terror\tpool_py.py exited %s\n' "$?" >>"$tsv"
    r=$((r + 1))
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) (after the run)"
echo

# Per (side, chunksize, prefetch): tasks/s over all rounds (inputs / seconds), the rounds'
# range and CPU per input; then the ratio of syncmgr's tasks/s to Python's at that chunksize.
awk -F'\t' '
function fmt(x,    t, out) {
    t = sprintf("%.0f", x); out = ""
    while (length(t) > 3) { out = "," substr(t, length(t) - 2) out; t = substr(t, 1, length(t) - 3) }
    return t out
}
function cell(key) {
    if ((key in n) && s[key] > 0)
        return fmt(n[key] / s[key]) " (" fmt(lo[key]) ".." fmt(hi[key]) ")"
    return "error: " ((key in err) ? err[key] : "no figure")
}
function rate(key) { return (key in n) && s[key] > 0 ? n[key] / s[key] : 0 }
function cpu(key) { return (key in n) && n[key] > 0 ? sprintf("%.1f", c[key] * 1e6 / n[key]) : "-" }
{ key = $1 SUBSEP $2 SUBSEP $3 }
$4 == "error" { err[key] = $5; if ($2 == 0) failed[$1, $3] = $5; next }
{
    n[key] += $4; s[key] += $5; c[key] += $6
    x = $4 / $5
    if (!(key in lo) || x < lo[key]) lo[key] = x
    if (!(key in hi) || x > hi[key]) hi[key] = x
}
END {
    nc = split(chunks, cs, ","); np = split(prefetch, ps, " ")
    print "| chunksize | syncmgr prefetch | syncmgr tasks/s | Python tasks/s | syncmgr/Python | syncmgr CPU us/task | Python CPU us/task |"
    print "|---|---|---|---|---|---|---|"
    for (i = 1; i <= nc; i++) {
        k = cs[i]; py = "python" SUBSEP k SUBSEP "-"
        if (!(py in n) && !(py in err) && (("python", "-") in failed)) err[py] = failed["python", "-"]
        for (j = 1; j <= np; j++) {
            sm = "syncmgr" SUBSEP k SUBSEP ps[j]
            if (!(sm in n) && !(sm in err) && (("syncmgr", ps[j]) in failed))
                err[sm] = failed["syncmgr", ps[j]]
            ratio = rate(sm) > 0 && rate(py) > 0 ? sprintf("%.2f", rate(sm) / rate(py)) : "-"
            printf "| %s | %s | %s | %s | %s | %s | %s |\n", k, ps[j], cell(sm), cell(py), ratio,
                cpu(sm), cpu(py)
        }
    }
    print ""
    print "tasks/s: inputs mapped per second over all rounds (the rounds'"'"' range in brackets);"
    print "CPU us/task: CPU time of every process involved, per input."
}' chunks="$chunks" prefetch="$prefetch" "$tsv"
