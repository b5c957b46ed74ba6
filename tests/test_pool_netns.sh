#!/usr/bin/env bash
# test_pool_netns.sh - a pool across three "hosts" made of network namespaces.
#
#   mgr 10.77.X.1  syncmgrd, and the client (sm_pool_client)
#   w1  10.77.X.2  syncmgr-worker --processes 2 --lease-ms 1000, hostname w1
#   w2  10.77.X.3  the same, hostname w2
#
# joined by veth pairs to a bridge in a fourth namespace, so nothing touches
# the host's own network. Each worker host also gets its own UTS namespace,
# so the whoami task tells the hosts apart.
#
#   A: map-square 10000 with chunksize 1, every result checked; map-whoami
#      shows that both worker hosts ran tasks.
#   B: a map of slow tasks is under way when host w1 dies (its link goes
#      down, then every process in it is killed with SIGKILL); the map still
#      finishes with every one of its N results correct, and the pool counts
#      the tasks w1 held as requeued.
#
# Needs root and `ip netns`; prints "SKIP: ..." and exits 0 without them.
# The programs come from the environment (ctest sets them): SMT_SYNCMGRD,
# SMT_WORKER, SMT_TASKS, SMT_POOL_CLIENT. Every wait is bounded, and an EXIT
# trap removes the namespaces and everything running in them.
set -euo pipefail

t0=$(date +%s%N)
say() { printf '[%6.2fs] %s\n' "$(( ($(date +%s%N) - t0) / 1000000 ))e-3" "$*"; }
skip() {
    echo "SKIP: $*"
    exit 0
}

for v in SMT_SYNCMGRD SMT_WORKER SMT_TASKS SMT_POOL_CLIENT; do
    if [[ -z "${!v:-}" || ! -f "${!v}" ]]; then
        echo "FAIL: $v is not set to a built file (run through ctest, or set SMT_SYNCMGRD," \
            "SMT_WORKER, SMT_TASKS and SMT_POOL_CLIENT)" >&2
        exit 1
    fi
done
[[ $(id -u) -eq 0 ]] || skip "needs root for ip netns (running as uid $(id -u))"
command -v ip >/dev/null || skip "no ip command (iproute2)"
command -v unshare >/dev/null || skip "no unshare command (util-linux)"

tag="smt$$"
ns_br=$tag-br
ns_mgr=$tag-mgr
ns_w1=$tag-w1
ns_w2=$tag-w2
all_ns=("$ns_br" "$ns_mgr" "$ns_w1" "$ns_w2")
net=10.77.$(($$ % 250 + 1))
port=7477
url=tcp://$net.1:$port
pool=netns.$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$tag.XXXXXX")
made_ns=()
failed=0

# The EXIT trap: kill whatever still runs in each namespace, delete them,
# and on failure show the logs.
cleanup() {
    local rc=$?
    set +e
    if ((rc != 0 || failed)); then
        for f in "$tmp"/*.log; do
            [[ -s $f ]] || continue
            echo "---- last lines of $(basename "$f")"
            tail -n 25 "$f"
        done
    fi
    local jobs_left
    mapfile -t jobs_left < <(jobs -p)
    disown -a # what follows kills them: no "Killed" notices
    for ns in "${made_ns[@]}"; do
        for _ in 1 2 3 4 5; do
            mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
            ((${#pids[@]} == 0)) && break
            kill -9 "${pids[@]}" 2>/dev/null
            sleep 0.1
        done
    done
    ((${#jobs_left[@]} > 0)) && kill -9 "${jobs_left[@]}" 2>/dev/null
    for ns in "${made_ns[@]}"; do
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
    failed=1
    echo "FAIL: $*"
    exit 1
}

# ---- can this machine make the network at all?
probe=$tag-probe
if ! ip netns add "$probe" 2>"$tmp/probe.err"; then
    skip "cannot create a network namespace: $(head -n1 "$tmp/probe.err")"
fi
made_ns+=("$probe")
if ! { ip -n "$probe" link add br0 type bridge &&
    ip -n "$probe" link add v0 type veth peer name v1; } 2>"$tmp/probe.err" ||
    ! ip netns exec "$probe" unshare --uts sh -c 'echo probe >/proc/sys/kernel/hostname' \
        2>>"$tmp/probe.err"; then
    skip "namespaces work but bridge/veth/UTS do not: $(head -n1 "$tmp/probe.err")"
fi
ip netns del "$probe"
made_ns=()

# ---- the network: three hosts on a bridge
say "building hosts mgr ($net.1), w1 ($net.2), w2 ($net.3) on a bridge (namespaces $tag-*)"
for ns in "${all_ns[@]}"; do
    ip netns add "$ns"
    made_ns+=("$ns")
    ip -n "$ns" link set lo up
done
ip -n "$ns_br" link add br0 type bridge
ip -n "$ns_br" link set br0 up
i=1
for h in mgr w1 w2; do
    ip -n "$ns_br" link add "p-$h" type veth peer name eth0 netns "$tag-$h"
    ip -n "$ns_br" link set "p-$h" master br0 up
    ip -n "$tag-$h" addr add "$net.$i/24" dev eth0
    ip -n "$tag-$h" link set eth0 up
    i=$((i + 1))
done

# ---- the shared authkey: a manager off loopback needs one, and every
# worker and client proves it (they read SYNCMGR_AUTHKEY_FILE)
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/authkey"
chmod 600 "$tmp/authkey"
export SYNCMGR_AUTHKEY_FILE=$tmp/authkey

# ---- the manager, in mgr; --ready-fd tells us when it listens
mkfifo "$tmp/ready"
exec {ready}<>"$tmp/ready" # read-write: opening never blocks, reading is bounded by -t
ip netns exec "$ns_mgr" "$SMT_SYNCMGRD" --listen "$url" --authkey-file "$tmp/authkey" \
    --ready-fd 3 3>"$tmp/ready" \
    2>"$tmp/syncmgrd.log" &
mgr_pid=$!
while :; do
    if ! read -r -t 10 -u "$ready" line; then
        fail "syncmgrd did not report listening within 10 s"
    fi
    [[ -z $line ]] && break
    say "syncmgrd (pid $mgr_pid) listening on $line"
done
exec {ready}<&-

# ---- the worker hosts
start_host() { # h
    local h=$1
    # unshare --uts: a hostname of its own, so whoami says which host ran it.
    ip netns exec "$tag-$h" unshare --uts sh -c 'echo "$0" >/proc/sys/kernel/hostname && exec "$@"' \
        "$h" "$SMT_WORKER" --connect "$url" --pool "$pool" --tasks "$SMT_TASKS" \
        --processes 2 --lease-ms 1000 2>"$tmp/$h.log" &
}
start_host w1
w1_pid=$!
start_host w2
w2_pid=$!
say "syncmgr-worker started on w1 (pid $w1_pid) and w2 (pid $w2_pid), 2 processes each"

# pc ARGS...: the pool client, run on mgr, at most 60 s.
pc() {
    timeout 60 ip netns exec "$ns_mgr" "$SMT_POOL_CLIENT" --connect "$url" --pool "$pool" "$@"
}
counter() { # NAME STATUS-LINE: one counter of a `status` line
    sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" <<<"$2"
}

if ! out=$(pc wait-workers 4 15000); then
    echo "$out"
    fail "the 4 worker processes did not join the pool"
fi
say "$out"
say "status: $(pc status)"

# ---- A: a big map across both hosts
say "A: map-square 10000, chunksize 1"
if ! out=$(pc --chunksize 1 map-square 10000); then
    echo "$out"
    fail "A: map-square 10000 did not give 10000 correct results"
fi
say "A: $out"
say "A: map-whoami 400, chunksize 1"
if ! out=$(pc --chunksize 1 map-whoami 400); then
    echo "$out"
    fail "A: map-whoami failed"
fi
echo "$out" | sed 's/^/         /'
for h in w1 w2; do
    grep -q "^map-whoami: host $h ran [1-9]" <<<"$out" || fail "A: host $h ran no task"
done
say "A: passed: every square correct, and both w1 and w2 ran tasks"

# ---- B: host w1 dies under a running map
n=300
ms=30
status=$(pc status)
before=$(counter requeued "$status")
done_before=$(counter "done" "$status")
failed_before=$(counter failed "$status")
say "B: map-sleep $n x $ms ms, chunksize 1, in the background (status: $status)"
# The client's output comes through a FIFO: the script reads its progress
# lines as they are written, and a cat copies the rest into mapB.log.
mkfifo "$tmp/mapB.fifo"
timeout 90 ip netns exec "$ns_mgr" "$SMT_POOL_CLIENT" --connect "$url" --pool "$pool" \
    --chunksize 1 --progress map-sleep "$n" "$ms" >"$tmp/mapB.fifo" 2>&1 &
b_pid=$!
exec {prog}<"$tmp/mapB.fifo"

# Wait (at most 30 s) until at least 40 inputs are done.
min_done=40
deadline=$((SECONDS + 30))
got=0
while ((SECONDS < deadline)) && read -r -t $((deadline - SECONDS)) -u "$prog" line; do
    echo "$line" >>"$tmp/mapB.log"
    if [[ $line =~ ^progress\ ([0-9]+)/ ]] && ((BASH_REMATCH[1] >= min_done)); then
        got=1
        break
    fi
done
cat <&"$prog" >>"$tmp/mapB.log" &
cat_pid=$!
exec {prog}<&-
((got)) || fail "B: the map did not get $min_done inputs done within 30 s"
say "B: the map is under way: $(grep '^progress' "$tmp/mapB.log" | tail -n1)"

say "B: host w1 dies: its link goes down, then SIGKILL for every process in it"
ip -n "$ns_br" link set p-w1 down
ip -n "$ns_w1" link set eth0 down
disown "$w1_pid" # its death is the point: no "Killed" notice from bash
mapfile -t w1_pids < <(ip netns pids "$ns_w1")
((${#w1_pids[@]} > 0)) || fail "B: no process left on w1 to kill"
kill -9 "${w1_pids[@]}"
say "B: killed on w1: ${w1_pids[*]} (at $(grep '^progress' "$tmp/mapB.log" | tail -n1))"

b_rc=0
wait "$b_pid" || b_rc=$?
wait "$cat_pid" || true
grep -v '^progress' "$tmp/mapB.log" | sed 's/^/         /'
say "B: the map ended (exit $b_rc) at $(grep '^progress' "$tmp/mapB.log" | tail -n1)"
((b_rc == 0)) || fail "B: the map did not finish with every result correct (exit $b_rc)"
grep -q "^map-sleep: $n results correct" "$tmp/mapB.log" ||
    fail "B: the client did not report $n correct results"

status=$(pc status)
say "B: status: $status"
after=$(counter requeued "$status")
done_after=$(counter "done" "$status")
failed_after=$(counter failed "$status")
((done_after - done_before == n && failed_after == failed_before)) ||
    fail "B: the pool counted $((done_after - done_before)) tasks done and" \
        "$((failed_after - failed_before)) failed for a map of $n single inputs"
say "B: the pool counted exactly $n tasks done for the map, none failed"
if ((after > before)); then
    say "B: requeued went from $before to $after: the tasks w1 held went to w2"
else
    say "B: NOTE: requeued stayed at $after: w1's workers held no task at the moment of the kill"
fi
workers=$(counter workers "$status")
((workers <= 2)) || fail "B: $workers workers still in the pool; w1's sessions should have ended"
say "B: passed: all $n results correct and counted once after w1 died"

# ---- stop cleanly: the runner on w2 and the manager on SIGTERM
stop_pid() { # pid name seconds
    kill -TERM "$1"
    timeout "$3" tail -s 0.1 --pid="$1" -f /dev/null || fail "$2 did not stop within $3 s of SIGTERM"
    local rc=0
    wait "$1" || rc=$?
    ((rc == 0)) || fail "$2 exited with status $rc after SIGTERM"
    say "$2 stopped on SIGTERM (exit 0)"
}
stop_pid "$w2_pid" "syncmgr-worker on w2" 15
grep -E 'started|exited|killed|stopp' "$tmp/w2.log" | sed 's/^/         /' | tail -n 8
stop_pid "$mgr_pid" "syncmgrd" 15
say "PASS ($(( ($(date +%s%N) - t0) / 1000000000 )) s)"
