#!/usr/bin/env bash
# test_garbage.sh - hostile bytes at a live syncmgrd, over tcp:// and ipc://.
#
# syncmgrd listens on tcp://127.0.0.1 (a free port) and on ipc:// with
# --max-msg 70000. nngcat (Debian nng-utils) sends, one REQ per message:
#
#   A: every message of `make_corpus --garbage`: random bytes of 40 sizes
#      from 1 byte to 65536, the seed requests truncated short
#      or with bytes changed, protobuf traps (huge and wrapping lengths,
#      overlong varints, groups, field 0, two ops), plus a request of an
#      unknown op, one of a wrong version, one without an op, and a
#      zero-length message. Each must get a reply, every reply must decode,
#      and each must be an error unless the bytes decode as a SESSION_OPEN or
#      AUTH_HELLO (`make_corpus --judge`).
#   B: requests over --max-msg (70001 bytes and 1 MiB): the server drops
#      the connection without a reply, and lives on.
#   C: the server answers normal clients: a SESSION_OPEN, PING and CLOSE
#      through nngcat, and sm_pool_client's `status`, on both URLs.
#   D: 2,000 more garbage messages, two senders at once; the server's
#      VmRSS may grow by at most RSS_MARGIN_KB over it (under ASan, with a
#      small quarantine, a wider margin), then C again.
#   E: SIGTERM: syncmgrd exits with status 0 (under ASan this includes its
#      leak check).
#
# The programs come from the environment (ctest sets them): SMT_SYNCMGRD,
# SMT_POOL_CLIENT and SMT_BIN_DIR (for make_corpus). SMT_GARBAGE_SEED=N
# repeats a run's random messages. Every wait is bounded.
set -euo pipefail

t0=$(date +%s%N)
say() { printf '[%6.2fs] %s\n' "$(((($(date +%s%N) - t0) / 1000000)))e-3" "$*"; }
failed=0
fail() {
    failed=1
    echo "FAIL: $*"
    exit 1
}

for v in SMT_SYNCMGRD SMT_POOL_CLIENT SMT_BIN_DIR; do
    [[ -n "${!v:-}" && -e "${!v}" ]] ||
        fail "$v is not set to a built file (run through ctest, or set SMT_SYNCMGRD," \
            "SMT_POOL_CLIENT and SMT_BIN_DIR)"
done
tool=$SMT_BIN_DIR/make_corpus
[[ -x $tool ]] || fail "no $tool (build the make_corpus target)"
command -v nngcat >/dev/null || fail "no nngcat (Debian nng-utils; tests/deps.sh installs it)"

max_msg=70000
n_bulk=2000
seed=${SMT_GARBAGE_SEED:-$(date +%s)}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/smt-garbage.XXXXXX")
pid=

cleanup() {
    local rc=$?
    set +e
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid"
        wait "$pid" 2>/dev/null
    fi
    if ((rc != 0 || failed)); then
        echo "---- last lines of syncmgrd's log"
        tail -n 25 "$tmp/syncmgrd.log"
        if [[ -s $tmp/nngcat.err ]]; then
            echo "---- nngcat's errors (last lines)"
            tail -n 10 "$tmp/nngcat.err"
        fi
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Under AddressSanitizer freed memory sits in a quarantine (256 MB by
# default), which would look like growth: keep it small for the RSS check.
rss_margin_kb=8192
if ldd "$SMT_SYNCMGRD" 2>/dev/null | grep -q libasan ||
    nm -D "$SMT_SYNCMGRD" 2>/dev/null | grep -q __asan_init; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}quarantine_size_mb=4:thread_local_quarantine_size_kb=64"
    rss_margin_kb=32768
    say "syncmgrd is built with AddressSanitizer: quarantine 4 MB, RSS margin $rss_margin_kb kB"
fi

# ---- the server
mkfifo "$tmp/ready"
exec {ready}<>"$tmp/ready" # read-write: opening never blocks, reading is bounded by -t
"$SMT_SYNCMGRD" --listen tcp://127.0.0.1:0 --listen "ipc://$tmp/sock" --max-msg "$max_msg" \
    --log-level warn --ready-fd 3 3>"$tmp/ready" 2>"$tmp/syncmgrd.log" &
pid=$!
urls=()
while :; do
    read -r -t 10 -u "$ready" line || fail "syncmgrd did not report listening within 10 s"
    [[ -z $line ]] && break
    urls+=("$line")
done
exec {ready}<&-
((${#urls[@]} == 2)) || fail "syncmgrd reported ${#urls[@]} URLs, not 2: ${urls[*]}"
say "syncmgrd (pid $pid) listening on ${urls[*]}, --max-msg $max_msg"

# send URL FILE OUT [SECONDS]: one request; its reply, if any, into OUT as
# one msgpack bin object (--raw could not show an empty reply: a Reply of
# status 0 and nothing else packs to no bytes).
send() {
    nngcat --req --dial "$1" --msgpack --recv-timeout "${4:-10}" --file "$2" >"$3" \
        2>>"$tmp/nngcat.err" || true
}
alive() { kill -0 "$pid" 2>/dev/null || fail "syncmgrd (pid $pid) is gone: $*"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }

# normal_clients TAG: C, on both URLs.
normal_clients() {
    local url out session
    for url in "${urls[@]}"; do
        "$tool" --request session_open >"$tmp/open.req"
        send "$url" "$tmp/open.req" "$tmp/open.rep"
        out=$("$tool" --reply "$tmp/open.rep") || fail "$1: SESSION_OPEN via $url: no reply"
        [[ $out =~ ^status\ 0\ session\ ([0-9a-f]{16})$ ]] ||
            fail "$1: SESSION_OPEN via $url answered '$out'"
        session=${BASH_REMATCH[1]}
        for op in ping close; do
            "$tool" --request "$op" "$session" >"$tmp/$op.req"
            send "$url" "$tmp/$op.req" "$tmp/$op.rep"
            out=$("$tool" --reply "$tmp/$op.rep") || fail "$1: $op via $url: no reply"
            [[ $out == "status 0 session 0000000000000000" ]] ||
                fail "$1: SESSION_${op^^} via $url answered '$out'"
        done
        out=$(timeout 30 "$SMT_POOL_CLIENT" --connect "$url" --pool "garbage.$$" status) ||
            fail "$1: sm_pool_client status via $url failed: $out"
        [[ $out == queued=0\ * ]] || fail "$1: sm_pool_client status via $url printed '$out'"
    done
    say "$1: normal clients served on both URLs (session open/ping/close, pool status)"
}

normal_clients "before"

# ---- A: garbage, one message each, every reply judged
"$tool" --garbage "$tmp/g" "$seed" >/dev/null
"$tool" --request unknown_op >"$tmp/g/special-unknown-op"
"$tool" --request bad_version >"$tmp/g/special-bad-version"
"$tool" --request no_op >"$tmp/g/special-no-op"
: >"$tmp/g/special-zero-length"
files=("$tmp"/g/*)
say "A: sending ${#files[@]} hostile messages (seed $seed; SMT_GARBAGE_SEED=$seed repeats them)"
i=0
for f in "${files[@]}"; do
    send "${urls[i % 2]}" "$f" "$f.reply"
    i=$((i + 1))
done
alive "after A"
if ! out=$("$tool" --judge "$tmp/g"); then
    echo "$out" | grep -v '^no reply' | head -n 20
    fail "A: a reply did not decode, or a garbage request was answered SM_OK"
fi
noreply=$(grep -c '^no reply' <<<"$out" || true)
if ((noreply > 0)); then
    grep '^no reply' <<<"$out" | head -n 10
    fail "A: $noreply messages within --max-msg got no reply"
fi
say "A: $(tail -n 1 <<<"$out")"
rm -f "$tmp"/g/*.reply

# ---- B: over --max-msg
head -c $((max_msg + 1)) /dev/urandom >"$tmp/over-by-one"
head -c $((1024 * 1024)) /dev/urandom >"$tmp/over-1mib"
for f in over-by-one over-1mib; do
    for url in "${urls[@]}"; do
        send "$url" "$tmp/$f" "$tmp/$f.reply" 1
        [[ ! -s $tmp/$f.reply ]] || fail "B: $f via $url got a reply ($(wc -c <"$tmp/$f.reply") bytes)"
    done
done
alive "after B"
say "B: requests over --max-msg ($((max_msg + 1)) bytes, 1 MiB) got no reply, on both URLs"

# ---- C
normal_clients "C"

# ---- D: RSS over 2,000 more garbage messages, two senders at once
rss0=$(rss_kb)
bulk() { # start step
    local k
    for ((k = $1; k < n_bulk; k += $2)); do
        nngcat --req --dial "${urls[k % 2]}" --raw --recv-timeout 10 \
            --file "${files[k % ${#files[@]}]}" >/dev/null 2>&1 || true
    done
}
bulk 0 2 &
b1=$!
bulk 1 2 &
b2=$!
wait "$b1" "$b2"
alive "after D"
rss1=$(rss_kb)
say "D: VmRSS ${rss0} kB before $n_bulk garbage messages, ${rss1} kB after" \
    "(+$((rss1 - rss0)) kB; margin $rss_margin_kb kB)"
((rss1 - rss0 <= rss_margin_kb)) ||
    fail "D: VmRSS grew by $((rss1 - rss0)) kB over $n_bulk garbage messages"
normal_clients "D"

# ---- E: a clean stop
kill -TERM "$pid"
for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "E: syncmgrd did not exit within 15 s of SIGTERM"
rc=0
wait "$pid" || rc=$?
pid=
((rc == 0)) || fail "E: syncmgrd exited with status $rc after SIGTERM"
say "E: SIGTERM: syncmgrd exited with status 0"
echo "PASS: test_garbage"
