#!/bin/bash
# compare.sh - syncmgr beside a raw nng echo, Redis and Python's multiprocessing manager.
#
#   bash tests/bench/compare.sh                        # everything: about 4.5 minutes on 2 cores
#   SMB_ROUNDS=1 SMB_CLIENTS="1 16" bash tests/bench/compare.sh       # a quicker look
#
# One run starts and measures, side by side, at 1, 4 and 16 clients (separate processes,
# each with its own connection):
#   syncmgr  syncmgrd on ipc:// and on tcp://127.0.0.1 (started by bench_compare)
#   nng      a raw nng REQ/REP echo of the same 32 bytes of key and value (bench_compare)
#   redis    Debian's redis-server, started here on 127.0.0.1 (a free port) and on a unix
#            socket with --save '' --appendonly no, driven through hiredis (bench_compare)
#   python   a multiprocessing BaseManager server in its own process, on a unix socket and
#            on 127.0.0.1, with client processes (compare_py.py)
# the ops dict.set, dict.get, list.append, list.pop, counter.incr, lock (acquire + release)
# and queue (put + get); tests/bench/bench_compare.c and compare_py.py say exactly what each
# peer does for each. Then the batches, syncmgr and Redis only:
#   batch16.set  16 sets per round trip: a syncmgr SM_BATCH_ATOMIC batch of 16 sm_dict_set
#                against Redis pipelined, 16 HSET then their 16 replies; at every client count
#                and at SMB_WIDE_CLIENTS (50) too
#   batch256.set the same with 256 sets per round trip on both sides, also held against Redis's
#                16-deep pipelines (the reference figure of the speed goal)
#   pipe.set     one syncmgr client process, SMB_PIPE (128) sm_dict_set per round trip in
#                SM_BATCH_PIPELINE batches, against Redis's unpipelined dict.set at 16 clients
# (the issue's targets: both ratios at least 1). A batch's ops are its sets; its p50 and p99
# are per round trip. It reports ops/s, p50 and p99 per cell, the ratios syncmgr/raw nng,
# syncmgr/Redis and syncmgr/Python per op and client count, and the server memory of one
# small dict entry (1,000,000 entries of 16-byte keys and 16-byte values in one dict).
#
# Rounds: the whole pass (every client count: the C peers, then Python) runs SMB_ROUNDS
# times, and each cell reports its median round (by ops/s; with an even count the faster of
# the middle two), that round's p50 and p99 with it. A burst of load from elsewhere on this
# shared machine then costs a cell one round instead of skewing a ratio; the CSV also keeps
# each cell's slowest and fastest round.
#
# Knobs (environment):
#   SMB_SECONDS      seconds per cell in each round (default 0.4)
#   SMB_ROUNDS       rounds (default 3)
#   SMB_CLIENTS      client counts (default "1 4 16")
#   SMB_MAX_OPS      op bound per cell, all clients together (default 300000)
#   SMB_PIPE         sets per round trip of pipe.set (default 128: of 64, 128, 256, 512 and
#                    1024 measured on 2 cores, 128 gave about 80% of the best rate, reached
#                    at 512, with round trips of about 0.7 ms instead of 2.5 ms)
#   SMB_WIDE_CLIENTS one more client count for the batches alone (default 50; "" skips it)
#   SMB_MEM_ENTRIES  entries for the memory figure (default 1000000; 0 skips it)
#   SMB_BUILD_DIR    the build directory (default <repo>/build-release). Configured with
#                    -DCMAKE_BUILD_TYPE=Release when it has no CMakeCache.txt yet; an existing
#                    build of another type is used as it is, with a warning.
#
# Writes into the build directory: compare.tsv (the raw rows), compare.csv (one row per cell,
# with the ratios, and the memory rows), compare.dat, compare-mem.dat and compare-pipe.dat
# (the chart's data) and compare.png (the chart). The machine is shared and noisy: the load average is printed
# before and after; compare ratios, and rerun to see the spread. A benchmark never passes or
# fails: a cell that could not run says why. Installs what is missing (tests/deps.sh); Redis
# is stopped at the end, whatever happens.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${SMB_BUILD_DIR:-$repo/build-release}
seconds=${SMB_SECONDS:-0.4}
rounds=${SMB_ROUNDS:-3}
clients=${SMB_CLIENTS:-1 4 16}
max_ops=${SMB_MAX_OPS:-300000}
pipe=${SMB_PIPE:-128}
wide=${SMB_WIDE_CLIENTS-50}
mem_entries=${SMB_MEM_ENTRIES:-1000000}

. "$repo/tests/deps.sh"
sm_install_deps
sm_install_bench_deps

# ---- build (a reconfigure picks up hiredis if it arrived after the first configure)
case "$build" in /*) ;; *) build=$(pwd)/$build ;; esac
buildlog=$build/compare-build.log
echo "building syncmgrd and bench_compare in $build (log: $buildlog)"
if [ ! -f "$build/CMakeCache.txt" ]; then
    mkdir -p "$build"
    cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release >"$buildlog" 2>&1 ||
        { cat "$buildlog" >&2; exit 1; }
fi
if ! { cmake -S "$repo" -B "$build" && cmake --build "$build" -j"$(nproc)" \
        --target syncmgrd bench_compare; } >"$buildlog" 2>&1; then
    tail -30 "$buildlog" >&2
    echo "compare.sh: the build failed (full log: $buildlog)" >&2
    exit 1
fi
type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
if [ "$type" != "Release" ]; then
    echo "compare.sh: warning: $build is a '$type' build, not Release; figures mean little" >&2
fi

# ---- Redis, on a free port and a unix socket, stopped whatever happens
work=$(mktemp -d /tmp/compare.XXXXXX)
redis_pid=""
cleanup() {
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$redis_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
redis_sock=$work/redis.sock
for attempt in 1 2 3; do
    port=$(free_port)
    redis-server --bind 127.0.0.1 --port "$port" --unixsocket "$redis_sock" \
        --unixsocketperm 700 --save '' --appendonly no --dir "$work" \
        --logfile "$work/redis.log" --daemonize no &
    redis_pid=$!
    for _ in $(seq 100); do
        [ "$(redis-cli -s "$redis_sock" ping 2>/dev/null)" = PONG ] && break
        kill -0 "$redis_pid" 2>/dev/null || break
        sleep 0.1
    done
    [ "$(redis-cli -s "$redis_sock" ping 2>/dev/null)" = PONG ] && break
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=""
    echo "compare.sh: redis-server did not start on port $port (try $attempt):" >&2
    tail -3 "$work/redis.log" >&2 || true
done
if [ -z "$redis_pid" ]; then
    echo "compare.sh: no Redis: its cells will be missing" >&2
fi

# ---- the machine and the versions
py_version=$(python3 -c 'import sys; print(sys.version.split()[0])')
echo "compare.sh: syncmgr beside a raw nng echo, Redis and Python's multiprocessing manager"
echo "machine: $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(uname -sr)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average before: $load_before"
echo "versions: $("$build/syncmgrd" --version) ($type build)," \
     "nng $(dpkg-query -W -f='${Version}' libnng1)," \
     "$(redis-server --version | awk '{print "Redis", substr($3, 3)}')," \
     "hiredis $(pkg-config --modversion hiredis), Python $py_version," \
     "$(gcc --version | head -1 | awk '{print "gcc", $NF}'), $(gnuplot --version)"
echo "cells: $seconds s or $max_ops ops each, in each of $rounds round(s); clients: $clients;" \
     "batch16.set also at: ${wide:-none}; pipe.set: $pipe sets per round trip"
[ -n "$redis_pid" ] && echo "redis-server: 127.0.0.1:$port and $redis_sock (pid $redis_pid)"
echo

tsv=$build/compare.tsv
: >"$tsv"
export TMPDIR=$work # the drivers' sockets and temporary files: removed at the end, always
redis_args=()
[ -n "$redis_pid" ] && redis_args=(--redis-unix "$redis_sock" --redis-tcp "127.0.0.1:$port")

# ---- memory first, on fresh servers
if [ "$mem_entries" -gt 0 ]; then
    mem_redis=()
    [ -n "$redis_pid" ] && mem_redis=(--redis-unix "$redis_sock")
    "$build/bench_compare" --mem "$mem_entries" "${mem_redis[@]}" --tsv "$tsv" ||
        echo "compare.sh: bench_compare --mem exited $?" >&2
    python3 "$here/compare_py.py" --mem "$mem_entries" --tsv "$tsv" ||
        echo "compare.sh: compare_py.py --mem exited $?" >&2
    echo
fi

# ---- the cells: in each round each client count in turn, C peers then Python, so that load
# from elsewhere lands on all of them at about the same time
for round in $(seq "$rounds"); do
    echo "== round $round of $rounds"
    for c in $clients; do
        "$build/bench_compare" --clients "$c" --seconds "$seconds" --max-ops "$max_ops" \
            --pipe "$pipe" "${redis_args[@]}" --tsv "$tsv" ||
            echo "compare.sh: bench_compare --clients $c exited $?" >&2
        python3 "$here/compare_py.py" --clients "$c" --seconds "$seconds" \
            --max-ops "$max_ops" --tsv "$tsv" ||
            echo "compare.sh: compare_py.py --clients $c exited $?" >&2
        echo
    done
    for c in $wide; do
        "$build/bench_compare" --clients "$c" --seconds "$seconds" --max-ops "$max_ops" \
            --ops batch16.set,batch256.set --peers syncmgr,redis "${redis_args[@]}" --tsv "$tsv" ||
            echo "compare.sh: bench_compare --clients $c --ops batch16.set,batch256.set exited $?" >&2
        echo
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average after: $load_after"
echo

# ---- the report: tables, CSV, the chart's data
csv=$build/compare.csv
dat=$build/compare.dat
memdat=$build/compare-mem.dat
pipedat=$build/compare-pipe.dat
png=$build/compare.png
awk -F'\t' -v csv="$csv" -v dat="$dat" -v memdat="$memdat" -v pipedat="$pipedat" '
function via(t) { return t == "tcp" ? "tcp" : "local" }
function fmt(x,    t, out) {
    t = sprintf("%.0f", x); out = ""
    while (length(t) > 3) {
        out = "," substr(t, length(t) - 2) out
        t = substr(t, 1, length(t) - 3)
    }
    return t out
}
function rule(n,    l) { l = sprintf("%0" n "d", 0); gsub(/0/, "-", l); return l }
function key(p, v, o, c) { return p SUBSEP v SUBSEP o SUBSEP c }
function rate(p, v, o, c) { return rate_k(key(p, v, o, c)) }
function rate_k(k) { return (k in r) ? r[k] : 0 }
# The cell that syncmgr'"'"'s cell (v, o, c) is held against at peer p: the same op and client
# count, but for pipe.set (one process) Redis'"'"'s unpipelined dict.set at 16 clients, the
# issue'"'"'s target. "" when there is none.
function vs(p, v, o, c) {
    if (o != "pipe.set") return key(p, v, o, c)
    return p == "redis" && (key("syncmgr", v, o, c) in r) ? key(p, v, "dict.set", 16) : ""
}
function is_batch(o) { return o == "batch16.set" || o == "batch256.set" || o == "pipe.set" }
function ratio(a, b) { return a > 0 && b > 0 ? sprintf("%.2f", a / b) : "-" }
function ratio_num(a, b) { return a > 0 && b > 0 ? sprintf("%.4f", a / b) : "" }
function nan(x) { return x > 0 ? sprintf("%.1f", x) : "NaN" }
# Bytes per entry of a measure, 0 if not measured (without making an entry, which the chart
# would draw as a bar of 0).
function mem(p, m) { return ((p, m) in bpe) ? bpe[p, m] : 0 }
# A target ratio: syncmgr'"'"'s cell a over the peer'"'"'s cell b, the two rates, met or not.
function target(a, b) {
    if (rate_k(a) <= 0 || rate_k(b) <= 0) return "-"
    return sprintf("%s (%s / %s ops/s, %s)", ratio(r[a], r[b]), fmt(r[a]), fmt(r[b]),
                   r[a] >= r[b] ? "met" : "below")
}
function q(s) { if (s == "-") return ""; gsub(/"/, "\"\"", s); return "\"" s "\"" }
# One peer in the table: ops/s p50/p99.
function cell(p, v, o, c) { return cell_k(key(p, v, o, c)) }
function cell_k(k) {
    if (!(k in r)) return sprintf("%-24s", "")
    if (r[k] <= 0) return sprintf("%-24s", "   n/a (see notes)")
    return sprintf("%9s %6s/%-7s", fmt(r[k]), fmt(p50[k]), fmt(p99[k]))
}
# The raw nng baseline of an op: echo round trips per second over the op'"'"'s round trips
# (none for the batches: the echo carries the 32 bytes of one op, a batch many ops'"'"').
function nng_base(v, o, c,    e) {
    if (is_batch(o)) return 0
    e = rate("nng", v, "echo", c)
    return e > 0 && rt["syncmgr", o] > 0 ? e / rt["syncmgr", o] : 0
}
function sort(a, n,    i, j, t) {
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
}
$1 == "cell" {
    k = key($2, via($3), $4, $5)
    if (!(k in nr)) { keys[++nkeys] = k; tr[k] = $3 }
    i = ++nr[k]
    R[k, i] = ($6 > 0 && $7 > 0) ? $8 : 0; P50[k, i] = $9; P99[k, i] = $10; NOTE[k, i] = $13
    ops[k] += $6; secs[k] += $7; errs[k] += $11
    rt[$2, $4] = $12
    has[$4, $5] = 1
    if (!($5 in seen)) { seen[$5] = 1; cl[++ncl] = $5 + 0 }
    next
}
$1 == "mem" {
    mrow[++nmem] = $0
    if ($5 >= 0 && $6 >= 0 && $4 > 0) bpe[$2, $3] = ($6 - $5) / $4
    next
}
END {
    sort(cl, ncl)
    # Each cell: its median round by ops/s (the faster middle one for an even count).
    for (ki = 1; ki <= nkeys; ki++) {
        k = keys[ki]; n = nr[k]
        for (i = 1; i <= n; i++) idx[i] = i
        for (i = 2; i <= n; i++)
            for (j = i; j > 1 && R[k, idx[j - 1]] > R[k, idx[j]]; j--) {
                t = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = t
            }
        med = idx[int(n / 2) + 1]
        r[k] = R[k, med]; p50[k] = P50[k, med]; p99[k] = P99[k, med]
        rmin[k] = R[k, idx[1]]; rmax[k] = R[k, idx[n]]
        note[k] = ""
        for (i = 1; i <= n; i++) {
            if (NOTE[k, i] == "-") continue
            note[k] = note[k] (note[k] == "" ? "" : " | ") (n > 1 ? "round " i ": " : "")
            note[k] = note[k] NOTE[k, i]
        }
        if (note[k] == "") note[k] = "-"
        # The notes worth a look, one line per cell: lost increments (summed over the
        # rounds), Redis lock retries (averaged) unless every try succeeded, and anything
        # else but a counter read back exact or a lock that stayed exclusive.
        x = ""; lost = of = tries = ntries = 0
        for (i = 1; i <= n; i++) {
            y = NOTE[k, i]
            if (y ~ /^counter lost [0-9]+ of [0-9]+ increments/) {
                split(y, w, " "); lost += w[3]; of += w[5]; continue
            }
            if (y ~ /^exclusion held; SET NX sent [0-9.]+ times per acquire$/) {
                split(y, w, " "); tries += w[6]; ntries++; continue
            }
            if (y == "-" || y ~ /^counter exact \([0-9]+ increments\)$/ || y == "exclusion held")
                continue
            x = x (x == "" ? "" : " | ") (n > 1 ? "round " i ": " : "") y
        }
        if (of > 0)
            x = sprintf("counter lost %d of %d increments (%.1f%%)", lost, of, 100 * lost / of) \
                (x == "" ? "" : " | ") x
        if (ntries > 0 && tries / ntries > 1.005)
            x = sprintf("SET NX sent %.2f times per acquire", tries / ntries) \
                (x == "" ? "" : " | ") x
        if (x != "") {
            split(k, kk, SUBSEP)
            notes[++shown] = sprintf("  %-7s %-5s %-18s %2d clients: %s", kk[1], kk[2], kk[3],
                                     kk[4], x)
        }
    }
    nops = split("echo dict.set dict.get list.append list.pop counter.incr counter.incr.naive" \
                 " lock queue batch16.set batch256.set pipe.set", O, " ")
    pipe_n = rt["syncmgr", "pipe.set"] > 0 ? sprintf("%.0f", 1 / rt["syncmgr", "pipe.set"]) : "N"

    print "Every cell: ops/s, then p50/p99 latency in microseconds, of its median round. One op"
    print "is one call of the peer (round trips: 1; lock = acquire + release and queue = put +"
    print "get: 2; Python counter.incr = lock + get + set + release: 4; counter.incr.naive ="
    print "get + set: 2). Redis lock: SET NX, sent again at once until it succeeds, then DEL."
    print "Raw nng echo: 32 bytes (the 16-byte key and 16-byte value an op carries) both ways."
    print "via local = syncmgr and nng on ipc://, Redis and Python on a unix socket."
    print "Batches, whose ops are their sets and whose p50/p99 are per round trip: batch16.set ="
    print "16 sets a round trip (syncmgr: an SM_BATCH_ATOMIC batch of 16 sm_dict_set; Redis: 16"
    print "HSET pipelined, then their 16 replies); batch256.set = the same with 256 sets a round"
    print "trip; pipe.set = " pipe_n " sm_dict_set a round trip in"
    print "SM_BATCH_PIPELINE batches from one client process, its Redis column Redis'"'"'s unpipelined"
    print "dict.set at 16 clients (the issue'"'"'s target)."
    print ""
    printf "%-18s %3s %-5s | %-24s | %-24s | %-24s | %s\n", "op", "cl", "via",
        "syncmgr", "raw nng echo", "Redis", "Python"
    print rule(130)
    for (i = 1; i <= nops; i++) for (j = 1; j <= ncl; j++) for (vi = 1; vi <= 2; vi++) {
        v = vi == 1 ? "local" : "tcp"; o = O[i]; c = cl[j]
        line = cell("syncmgr", v, o, c) " | " cell("nng", v, o, c) " | " \
               cell_k(vs("redis", v, o, c)) " | " cell_k(vs("python", v, o, c))
        if (line ~ /[0-9a-z]/)
            printf "%-18s %3d %-5s | %s\n", o, c, v, line
    }
    print ""
    print "Notes (checks that need a look, Redis lock retries, errors; every other counter was"
    print "read back exact and every other lock stayed exclusive):"
    sort(notes, shown)
    for (i = 1; i <= shown; i++) print notes[i]
    if (shown == 0) print "  none"
    print ""

    print "Ratios of ops/s (above 1: syncmgr is faster). syncmgr/raw nng: against the echo'"'"'s"
    print "round trips per second divided by the op'"'"'s round trips (1, or 2 for lock and queue)."
    print "ipc:unix = syncmgr on ipc:// against the peer on its unix socket. counter.incr"
    print "against Python: its correct counter += 1 (4 round trips under a Lock); the row"
    print "counter.incr.naive: against its get + set without a lock (2 round trips, loses updates)."
    print "batch16.set, batch256.set: against Redis pipelined as deep at the same client count;"
    print "pipe.set (1 process):"
    print "against Redis'"'"'s unpipelined dict.set at 16 clients."
    print ""
    printf "%-18s %3s | %-17s | %-17s | %s\n", "", "", "syncmgr/raw nng", "syncmgr/Redis",
        "syncmgr/Python"
    printf "%-18s %3s | %8s %8s | %8s %8s | %8s %8s\n", "op", "cl", "ipc", "tcp", "ipc:unix",
        "tcp", "ipc:unix", "tcp"
    print rule(82)
    for (i = 2; i <= nops; i++) for (j = 1; j <= ncl; j++) {
        o = O[i]; c = cl[j]
        if (!((o, c) in has)) continue   # pipe.set at 1 client, batch16.set alone at 50
        so = o == "counter.incr.naive" ? "counter.incr" : o   # syncmgr has one counter
        sl = rate("syncmgr", "local", so, c); st = rate("syncmgr", "tcp", so, c)
        nl = nt = rl = rtc = "-"
        if (o != "counter.incr.naive") {
            nl = ratio(sl, nng_base("local", o, c)); nt = ratio(st, nng_base("tcp", o, c))
            rl = ratio(sl, rate_k(vs("redis", "local", o, c)))
            rtc = ratio(st, rate_k(vs("redis", "tcp", o, c)))
        }
        pl = ratio(sl, rate_k(vs("python", "local", o, c)))
        pt = ratio(st, rate_k(vs("python", "tcp", o, c)))
        printf "%-18s %3d | %8s %8s | %8s %8s | %8s %8s\n", o, c, nl, nt, rl, rtc, pl, pt
    }
    print ""

    # The issue'"'"'s targets, spelled out: each ratio with the two rates it divides.
    print "Batches against the issue'"'"'s targets (syncmgr/Redis of ops/s; at least 1.00 is the"
    print "target; ipc:unix = syncmgr on ipc:// against Redis on its unix socket):"
    print "  batch16.set: syncmgr atomic batches of 16 sets against Redis pipelines of 16 HSET"
    o = "batch16.set"
    for (j = 1; j <= ncl; j++) {
        c = cl[j]
        if ((o, c) in has)
            printf "    %2d clients   ipc:unix %s   tcp %s\n", c,
                target(key("syncmgr", "local", o, c), vs("redis", "local", o, c)),
                target(key("syncmgr", "tcp", o, c), vs("redis", "tcp", o, c))
    }
    print "  batch256.set: syncmgr atomic batches of 256 sets against Redis pipelines of 256 HSET,"
    print "  and (x16) against Redis pipelines of 16 HSET, the issue'"'"'s reference"
    o = "batch256.set"
    for (j = 1; j <= ncl; j++) {
        c = cl[j]
        if ((o, c) in has)
            printf "    %2d clients   ipc:unix %s   tcp %s\n" \
                   "                x16 ipc:unix %s   tcp %s\n", c,
                target(key("syncmgr", "local", o, c), vs("redis", "local", o, c)),
                target(key("syncmgr", "tcp", o, c), vs("redis", "tcp", o, c)),
                target(key("syncmgr", "local", o, c), key("redis", "local", "batch16.set", c)),
                target(key("syncmgr", "tcp", o, c), key("redis", "tcp", "batch16.set", c))
    }
    print "  pipe.set: ONE syncmgr process, " pipe_n " sets a round trip (SM_BATCH_PIPELINE), against"
    print "  Redis unpipelined (one HSET a round trip) from 16 client processes"
    o = "pipe.set"
    if ((o, 1) in has)
        printf "     1 process   ipc:unix %s   tcp %s\n",
            target(key("syncmgr", "local", o, 1), vs("redis", "local", o, 1)),
            target(key("syncmgr", "tcp", o, 1), vs("redis", "tcp", o, 1))
    else
        print "    not measured (SMB_CLIENTS has no 1)"
    print ""

    print "Server memory per small dict entry (16-byte keys, 16-byte values, one dict or hash):"
    for (i = 1; i <= nmem; i++) {
        split(mrow[i], m, "\t")
        if (m[2] == "syncmgr") what = "syncmgrd VmRSS growth"
        else if (m[2] == "python") what = "Python manager process VmRSS growth"
        else if (m[3] == "used_memory") what = "Redis INFO used_memory growth"
        else what = "Redis VmRSS growth"
        if ((m[2], m[3]) in bpe)
            printf "  %-36s %7.1f bytes/entry  (%s entries; %.1f -> %.1f MiB)\n", what,
                bpe[m[2], m[3]], fmt(m[4]), m[5] / 1048576, m[6] / 1048576
        else
            printf "  %-36s n/a: %s\n", what, m[7]
    }
    if (nmem == 0) print "  not measured (SMB_MEM_ENTRIES=0)"
    s = mem("syncmgr", "vmrss")
    if (s > 0) {
        ru = ratio(s, mem("redis", "used_memory")); rr = ratio(s, mem("redis", "vmrss"))
        rp = ratio(s, mem("python", "vmrss"))
        printf "  syncmgrd/Redis: %s against used_memory, %s against VmRSS; " \
               "syncmgrd/Python: %s\n", ru, rr, rp
    }

    # CSV: one row per cell (the ratios on syncmgr rows), then the memory rows.
    # (Never a bare ">" inside a print list: awk takes it for a redirection.)
    # ops, seconds and errors add up every round; ops_per_s, p50 and p99 are those of the
    # median round, ops_per_s_min and _max those of the slowest and the fastest round.
    print "kind,peer,transport,op,clients,rounds,ops,seconds,errors,ops_per_s,ops_per_s_min," \
          "ops_per_s_max,p50_us,p99_us,round_trips_per_op,syncmgr_vs_raw_nng," \
          "syncmgr_vs_redis,syncmgr_vs_python,entries,bytes_before,bytes_after," \
          "bytes_per_entry,note" > csv
    for (ki = 1; ki <= nkeys; ki++) {
        k = keys[ki]
        split(k, f, SUBSEP)
        vn = vr = vp = ""
        if (f[1] == "syncmgr") {
            vn = ratio_num(r[k], nng_base(f[2], f[3], f[4]))
            vr = ratio_num(r[k], rate_k(vs("redis", f[2], f[3], f[4])))
            vp = ratio_num(r[k], rate_k(vs("python", f[2], f[3], f[4])))
        }
        printf "cell,%s,%s,%s,%s,%d,%d,%.4f,%d,%.1f,%.1f,%.1f,%s,%s,%s,%s,%s,%s,,,,,%s\n",
            f[1], tr[k], f[3], f[4], nr[k], ops[k], secs[k], errs[k], r[k], rmin[k], rmax[k],
            p50[k], p99[k], rt[f[1], f[3]], vn, vr, vp, q(note[k]) > csv
    }
    for (i = 1; i <= nmem; i++) {
        split(mrow[i], m, "\t")
        per = ((m[2], m[3]) in bpe) ? sprintf("%.1f", bpe[m[2], m[3]]) : ""
        printf "mem,%s,,dict.entry.%s,,,,,,,,,,,,,,,%s,%s,%s,%s,%s\n", m[2], m[3], m[4], m[5],
            m[6], per, q(m[7]) > csv
    }
    close(csv)

    # The chart: one block per op (gnuplot index 0..7), ops/s by the client counts it ran at.
    nplot = split("dict.set dict.get list.append list.pop counter.incr lock queue batch16.set",
                  PO, " ")
    for (i = 1; i <= nplot; i++) {
        o = PO[i]
        print "# " o ": clients syncmgr_ipc syncmgr_tcp nng_ipc nng_tcp redis_unix" \
              " redis_tcp python_unix python_tcp python_naive_unix python_naive_tcp" > dat
        for (j = 1; j <= ncl; j++) {
            c = cl[j]
            if (!((o, c) in has)) continue
            nu = o == "counter.incr" ? rate("python", "local", "counter.incr.naive", c) : 0
            nt = o == "counter.incr" ? rate("python", "tcp", "counter.incr.naive", c) : 0
            printf "%d %s %s %s %s %s %s %s %s %s %s\n", c,
                nan(rate("syncmgr", "local", o, c)), nan(rate("syncmgr", "tcp", o, c)),
                nan(nng_base("local", o, c)), nan(nng_base("tcp", o, c)),
                nan(rate("redis", "local", o, c)), nan(rate("redis", "tcp", o, c)),
                nan(rate("python", "local", o, c)), nan(rate("python", "tcp", o, c)),
                nan(nu), nan(nt) > dat
        }
        print "\n" > dat
    }
    close(dat)
    printf "" > memdat
    split("syncmgr vmrss syncmgrd\\nVmRSS redis used_memory Redis\\nused_memory " \
          "redis vmrss Redis\\nVmRSS python vmrss Python\\nVmRSS", B, " ")
    for (i = 1; i <= 12; i += 3)
        if ((B[i], B[i + 1]) in bpe)
            printf "\"%s\" %.1f\n", B[i + 2], bpe[B[i], B[i + 1]] > memdat
    close(memdat)
    # pipe.set'"'"'s bars: syncmgr'"'"'s one process, then the Redis cells it is held against.
    printf "" > pipedat
    for (i = 1; i <= 4; i++) {
        v = i % 2 ? "local" : "tcp"
        k = i <= 2 ? key("syncmgr", v, "pipe.set", 1) : vs("redis", v, "pipe.set", 1)
        if (rate_k(k) > 0)
            printf "\"%s\\n%s\" %.1f\n", i <= 2 ? "syncmgr" : "Redis",
                v == "tcp" ? "tcp" : i <= 2 ? "ipc://" : "unix", r[k] > pipedat
    }
    close(pipedat)
}' "$tsv"

echo
echo "CSV: $csv"
title="syncmgr $("$build/syncmgrd" --version | awk '{print $2}') vs raw nng, Redis and a Python"
title="$title manager: $(nproc) cores, median of $rounds rounds of $seconds s,"
title="$title load average ${load_before%% *} before, ${load_after%% *} after, $(date +%F)"
mem_label=$(echo "$mem_entries" |
    sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta')
if gnuplot -e "datafile='$dat'; memfile='$memdat'; pipefile='$pipedat'; outfile='$png'" \
        -e "charttitle='$title'; mementries='$mem_label'; pipesize=$pipe" \
        "$here/compare.gnuplot" 2>"$work/gnuplot.err"; then
    echo "chart: $png"
else
    echo "compare.sh: gnuplot failed:" >&2
    cat "$work/gnuplot.err" >&2
fi
echo "raw rows: $tsv"
