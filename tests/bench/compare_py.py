#!/usr/bin/env python3
"""compare_py.py - Python's multiprocessing manager, timed op by op as bench_compare times syncmgr.

A BaseManager server runs in its own process (manager.start()), listening on a unix socket
(Python's default on Linux) and, in a second pass, on tcp://127.0.0.1. --clients N client
processes each open their own connection to it (a manager of their own, .connect()) and
get proxies to named objects, as independent programs sharing a manager do. One op is:

  op                  what a client does                                   round trips
  dict.set            d[key] = val  (DictProxy; own 16-byte key, 16-byte value)    1
  dict.get            d[key]                                                       1
  list.append         l.append(val) (ListProxy)                                    1
  list.pop            l.pop()       (the list is filled before the clock starts)   1
  counter.incr        `counter += 1` the Python way: lock.acquire(); v = d[c];     4
                      d[c] = v + 1; lock.release()
  counter.incr.naive  v = d[c]; d[c] = v + 1, no lock: loses updates               2
  lock                lock.acquire(); lock.release() (a manager threading.Lock)    2
  queue               q.put(val); q.get() (a manager queue.Queue)                  2

The counter, list, lock and queue of a cell are one object shared by all its clients, fresh
for each cell. The counter is read back after the cell: the note says how many increments
were lost (none for counter.incr; the naive one loses some as soon as clients overlap). Lock
holders set a flag in shared memory, so two holders at once would show as an overlap.

Each client warms up (20 ops), all start together (a barrier), and each runs until --seconds
have passed or it has done its share of --max-ops. ops/s is completed ops over the wall time
from the first client's start to the last one's end; p50/p99 are nearest-rank percentiles of
per-op latency.

With --mem N: N entries (16-character str keys, 16-byte bytes values) put into one managed
dict (d.update of 10,000 pairs a call), against the manager process's VmRSS growth.

Output: progress lines, and with --tsv FILE rows appended to FILE (tab-separated):
    cell python TRANSPORT OP CLIENTS OPS SECONDS OPS_PER_S P50_US P99_US ERRORS RT NOTE
    mem  python vmrss ENTRIES BYTES_BEFORE BYTES_AFTER NOTE
A benchmark reports, it does not fail: a cell that could not run says why in its note.
"""
import argparse
import math
import multiprocessing as mp
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from multiprocessing.managers import AcquirerProxy, BaseManager, DictProxy, ListProxy

WARMUP = 20
KEY_LEN = 16
VAL_LEN = 16
WAIT_S = 10  # lock and queue waits
OPS = ["dict.set", "dict.get", "list.append", "list.pop", "counter.incr",
       "counter.incr.naive", "lock", "queue"]
ROUND_TRIPS = {"counter.incr": 4, "counter.incr.naive": 2, "lock": 2, "queue": 2}

# The manager's objects, by name. They live in the manager's process (forked from this one).
_dicts, _lists, _locks, _queues = {}, {}, {}, {}
_guard = threading.Lock()  # the server runs one thread per connection


def _named(table, name, make):
    with _guard:
        if name not in table:
            table[name] = make()
        return table[name]


def get_dict(name):
    return _named(_dicts, name, dict)


def get_list(name):
    return _named(_lists, name, list)


def get_lock(name):
    return _named(_locks, name, threading.Lock)


def get_queue(name):
    return _named(_queues, name, queue.Queue)


class BenchManager(BaseManager):
    pass


BenchManager.register("get_dict", callable=get_dict, proxytype=DictProxy)
BenchManager.register("get_list", callable=get_list, proxytype=ListProxy)
BenchManager.register("get_lock", callable=get_lock, proxytype=AcquirerProxy)
BenchManager.register("get_queue", callable=get_queue)


def vmrss(pid):
    """VmRSS of process pid in bytes; -1 if unknown."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return -1


def cell_names(op, cell):
    """(object name, counter key) of a cell's shared object."""
    if op in ("dict.set", "dict.get"):
        return "cmp.dict", None
    if op.startswith("counter.incr"):
        return "cmp.dict", f"counter-{cell}"
    return f"cmp.{op}.{cell}", None


# ------------------------------------------------------------------ clients

def client_main(address, authkey, idx, conn, barrier, probe):
    """A client process: its own connection; runs the cells the parent sends, one by one."""
    m = BenchManager(address=address, authkey=authkey)
    m.connect()
    key = f"bench-key-{idx:06d}"  # 16 characters
    val = bytes(97 + (idx + i) % 26 for i in range(VAL_LEN))
    while True:
        cmd = conn.recv()
        if cmd is None:
            break
        op, cell, seconds, max_ops = cmd
        name, field = cell_names(op, cell)
        err, errors, incrs, overlaps, lat, t0, t1 = "", 0, 0, 0, [], 0, 0
        try:
            if op in ("dict.set", "dict.get") or op.startswith("counter.incr"):
                d = m.get_dict(name)
            if op.startswith("list."):
                lst = m.get_list(name)
            if op == "counter.incr":
                lk = m.get_lock(f"cmp.counter.{cell}")
            if op == "lock":
                lk = m.get_lock(name)
            if op == "queue":
                q = m.get_queue(name)

            def one():
                nonlocal incrs, overlaps
                if op == "dict.set":
                    d[key] = val
                elif op == "dict.get":
                    if d[key] != val:
                        raise RuntimeError("d[key] returned another value than was set")
                elif op == "list.append":
                    lst.append(val)
                elif op == "list.pop":
                    lst.pop()
                elif op == "counter.incr":
                    lk.acquire()
                    v = d[field]
                    d[field] = v + 1
                    lk.release()
                    incrs += 1
                elif op == "counter.incr.naive":
                    v = d[field]
                    d[field] = v + 1
                    incrs += 1
                elif op == "lock":
                    if not lk.acquire(True, WAIT_S):
                        raise RuntimeError("lock.acquire timed out")
                    if probe.value != 0:
                        overlaps += 1
                    probe.value = 1
                    probe.value = 0
                    lk.release()
                elif op == "queue":
                    q.put(val)
                    q.get(True, WAIT_S)

            if op == "dict.get":
                d[key] = val
            for _ in range(WARMUP):
                one()
        except Exception as e:  # a benchmark reports, it does not fail
            err = f"client {idx}: setup: {type(e).__name__}: {e}"
            errors += 1
        try:
            barrier.wait(timeout=120)
        except threading.BrokenBarrierError:
            err = err or f"client {idx}: the start barrier broke"
        if not err:
            perf = time.perf_counter_ns
            t0 = time.monotonic_ns()
            end = t0 + int(seconds * 1e9)
            now = t0
            while now < end and len(lat) < max_ops:
                a = perf()
                try:
                    one()
                except Exception as e:
                    err = f"client {idx}: {op}: {type(e).__name__}: {e}"
                    errors += 1
                    break
                now = perf()
                lat.append(now - a)
            t1 = time.monotonic_ns()
        conn.send((lat, t0, t1, errors, err, incrs, overlaps))
    conn.close()


# ------------------------------------------------------------------- parent

def pct_us(sorted_ns, p):
    """Nearest-rank percentile in microseconds."""
    if not sorted_ns:
        return float("nan")
    k = min(max(math.ceil(p * len(sorted_ns)), 1), len(sorted_ns))
    return sorted_ns[k - 1] / 1000.0


def fmt_int(x):
    return "-" if x != x else f"{x:,.0f}"


class Acc:
    """What the slices of one cell add up to."""

    def __init__(self):
        self.lat, self.secs, self.errors, self.err = [], 0.0, 0, ""
        self.incrs = self.counted = self.checks = self.overlaps = 0


def run_slice(m, conns, barrier, op, cell, seconds, max_ops, acc):
    """Runs one slice of a cell on the clients behind conns; adds it to acc."""
    n = len(conns)
    name, field = cell_names(op, cell)
    try:
        if op == "list.pop":  # more items than the cell can pop
            lst = m.get_list(name)
            items = max_ops + n * WARMUP + 64
            chunk = [b"x" * VAL_LEN] * 10000
            while items > 0:
                lst.extend(chunk[:min(items, len(chunk))])
                items -= len(chunk)
        if field is not None:
            m.get_dict(name)[field] = 0
    except Exception as e:
        acc.err = acc.err or f"prepare: {type(e).__name__}: {e}"
        acc.errors += 1
        return
    per_client = max(1, math.ceil(max_ops / n))
    for c in conns:
        c.send((op, cell, seconds, per_client))
    try:
        barrier.wait(timeout=180)
    except threading.BrokenBarrierError:
        acc.err = acc.err or "the start barrier broke"
    t0s, t1s = [], []
    incrs = 0
    for c in conns:
        if not c.poll(seconds + 120):
            acc.err = acc.err or "a client did not report"
            acc.errors += 1
            continue
        lat, t0, t1, errors, err, inc, overlaps = c.recv()
        acc.lat.extend(lat)
        acc.errors += errors
        acc.overlaps += overlaps
        incrs += inc
        if err and not acc.err:
            acc.err = err
        if t1 > t0 > 0:
            t0s.append(t0)
            t1s.append(t1)
    if t0s:
        acc.secs += (max(t1s) - min(t0s)) / 1e9
    if field is not None:
        try:
            acc.counted += m.get_dict(name)[field]
            acc.incrs += incrs
            acc.checks += 1
        except Exception as e:
            acc.err = acc.err or f"read the counter back: {type(e).__name__}: {e}"


def note_of(op, acc):
    parts = []
    if op.startswith("counter.incr") and acc.checks:
        lost = acc.incrs - acc.counted
        if lost == 0:
            parts.append(f"counter exact ({acc.incrs} increments)")
        else:
            parts.append(f"counter lost {lost} of {acc.incrs} increments "
                         f"({100.0 * lost / max(acc.incrs, 1):.1f}%)")
    if op == "lock":
        parts.append("exclusion held" if acc.overlaps == 0
                     else f"EXCLUSION BROKEN; {acc.overlaps} overlaps")
    if acc.err:
        parts.append("first error: " + acc.err)
    return "; ".join(parts).replace("\t", " ").replace("\n", " ")


def report(tsv, transport, op, clients, acc):
    lat = sorted(acc.lat)
    if lat and acc.secs > 0:
        rate, p50, p99 = len(lat) / acc.secs, pct_us(lat, 0.50), pct_us(lat, 0.99)
    else:
        rate = p50 = p99 = float("nan")
        acc.err = acc.err or "no op completed"
    note = note_of(op, acc)
    print(f"  python  {transport:<4} {op:<18} {clients:2d} clients {fmt_int(rate):>9} ops/s  "
          f"p50 {p50:8.1f} us  p99 {p99:9.1f} us  {note}", flush=True)
    if tsv:
        z = (lambda x: 0.0 if x != x else x)
        with open(tsv, "a") as f:
            f.write(f"cell\tpython\t{transport}\t{op}\t{clients}\t{len(lat)}\t{acc.secs:.4f}\t"
                    f"{z(rate):.1f}\t{z(p50):.1f}\t{z(p99):.1f}\t{acc.errors}\t"
                    f"{ROUND_TRIPS.get(op, 1)}\t{note or '-'}\n")


def run_transport(a, transport, ops, tmpdir):
    ctx = mp.get_context("fork")
    authkey = os.urandom(16)
    address = os.path.join(tmpdir, "mgr.sock") if transport == "unix" else ("127.0.0.1", 0)
    m = BenchManager(address=address, authkey=authkey, ctx=ctx)
    m.start()
    barrier = ctx.Barrier(a.clients + 1)
    probe = ctx.RawValue("i", 0)
    conns, procs = [], []
    for i in range(a.clients):
        parent_end, child_end = ctx.Pipe()
        p = ctx.Process(target=client_main,
                        args=(m.address, authkey, i, child_end, barrier, probe), daemon=True)
        p.start()
        child_end.close()
        conns.append(parent_end)
        procs.append(p)
    addr = m.address if transport == "unix" else "tcp://%s:%d" % m.address
    print(f"  python  {transport:<4} {addr} (manager pid {m._process.pid})", flush=True)
    accs = {op: Acc() for op in ops}
    cell = 0
    for rnd in range(a.rounds):
        for op in ops:
            run_slice(m, conns, barrier, op, cell, a.seconds / a.rounds,
                      math.ceil(a.max_ops / a.rounds), accs[op])
            cell += 1
            if rnd == a.rounds - 1:
                report(a.tsv, transport, op, a.clients, accs[op])
    for c in conns:
        try:
            c.send(None)
        except OSError:
            pass
    for p in procs:
        p.join(10)
        if p.is_alive():
            p.kill()
    m.shutdown()


def run_mem(a, tmpdir):
    ctx = mp.get_context("fork")
    m = BenchManager(address=os.path.join(tmpdir, "mem.sock"), authkey=os.urandom(16), ctx=ctx)
    m.start()
    note, before, after = "", -1, -1
    try:
        d = m.get_dict("cmp.mem")
        time.sleep(0.2)
        before = vmrss(m._process.pid)
        for lo in range(0, a.mem, 10000):
            d.update({f"k{i:015d}": b"v%015d" % i for i in range(lo, min(lo + 10000, a.mem))})
        if len(d) != a.mem:
            note = f"the dict holds {len(d)} entries"
        time.sleep(0.2)
        after = vmrss(m._process.pid)
    except Exception as e:
        note = f"{type(e).__name__}: {e}"
    m.shutdown()
    if note:
        before = after = -1
    per = (after - before) / a.mem if before >= 0 and after >= 0 else float("nan")
    print(f"  python  {'vmrss':<22} {a.mem} entries: {before} -> {after} bytes, "
          f"{per:.1f} bytes per entry{'; ' + note if note else ''}", flush=True)
    if a.tsv:
        with open(a.tsv, "a") as f:
            f.write(f"mem\tpython\tvmrss\t{a.mem}\t{before}\t{after}\t{note or '-'}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=1.0, help="per cell, all rounds together")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--max-ops", type=int, default=300000, help="per cell, all clients together")
    ap.add_argument("--transports", default="unix,tcp")
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--tsv")
    ap.add_argument("--mem", type=int, default=0, help="measure N dict entries instead")
    a = ap.parse_args()
    ops = [o for o in a.ops.split(",") if o]
    bad = [o for o in ops if o not in OPS]
    if bad or not 1 <= a.clients <= 64 or a.rounds < 1 or a.seconds <= 0:
        ap.error(f"bad arguments{': unknown op ' + ','.join(bad) if bad else ''}")
    tmpdir = tempfile.mkdtemp(prefix="compare_py.")
    try:
        if a.mem > 0:
            run_mem(a, tmpdir)
            return 0
        print(f"compare_py: {a.clients} client process(es); each cell {a.seconds:.2f} s or "
              f"{a.max_ops} ops in {a.rounds} slice(s); load average {os.getloadavg()[0]:.2f} "
              f"(Python {sys.version.split()[0]})",
              flush=True)
        for transport in a.transports.split(","):
            try:
                run_transport(a, transport, ops, tmpdir)
            except Exception as e:  # a benchmark reports, it does not fail
                for op in ops:
                    acc = Acc()
                    acc.err = f"{transport} manager: {type(e).__name__}: {e}"
                    report(a.tsv, transport, op, a.clients, acc)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
