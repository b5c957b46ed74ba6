#!/usr/bin/env python3
"""pool_py.py - Python's multiprocessing.Pool, timed as bench_pool times syncmgr's pool.

Pool(W).map(ident, inputs, chunksize=C) of a trivial function (returns its one 8-byte
input) for each chunksize C, in maps of C x --tasks-per-map inputs repeated until --seconds
have passed, after one untimed warm-up map per cell. Every output is compared with its input.

  tasks/s  inputs mapped per second (one call of ident each)
  cpu      CPU seconds of this process and the pool's worker processes (/proc/PID/stat)

Output: a table, or with --tsv one line per cell, as bench_pool's (no prefetch: "-"):
    python<TAB>CHUNKSIZE<TAB>-<TAB>INPUTS<TAB>SECONDS<TAB>CPU_SECONDS
"""
import argparse
import multiprocessing
import os
import resource
import sys
import time


def ident(x):
    return x


def proc_cpu(pid):
    """CPU seconds (utime + stime) of process pid; 0 if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def self_cpu():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run_cell(pool, pids, chunk, tasks_per_map, seconds):
    inputs = [i.to_bytes(8, "little") for i in range(chunk * tasks_per_map)]
    if pool.map(ident, inputs, chunksize=chunk) != inputs:  # warm-up
        raise RuntimeError("wrong outcome")
    done = 0
    cpu0 = self_cpu() + sum(proc_cpu(p) for p in pids)
    t0 = time.monotonic()
    while True:
        if pool.map(ident, inputs, chunksize=chunk) != inputs:
            raise RuntimeError("wrong outcome")
        done += len(inputs)
        t = time.monotonic()
        if t - t0 >= seconds:
            break
    cpu = self_cpu() + sum(proc_cpu(p) for p in pids) - cpu0
    return done, t - t0, cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--chunks", default="1,100")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--tasks-per-map", type=int, default=500)
    ap.add_argument("--tsv", action="store_true")
    a = ap.parse_args()
    chunks = [int(c) for c in a.chunks.split(",")]

    rows = []
    with multiprocessing.Pool(a.workers) as pool:
        pids = [p.pid for p in pool._pool]  # the worker processes, for their CPU time
        for chunk in chunks:
            try:
                rows.append((chunk,) + run_cell(pool, pids, chunk, a.tasks_per_map, a.seconds))
            except Exception as e:  # a benchmark reports, it does not fail
                rows.append((chunk, None, str(e), None))

    if a.tsv:
        for chunk, n, secs, cpu in rows:
            if n is None:
                print(f"python\t{chunk}\t-\terror\t{secs}")
            else:
                print(f"python\t{chunk}\t-\t{n}\t{secs:.6f}\t{cpu:.3f}")
    else:
        print(f"pool_py: Pool({a.workers}).map of ident (8 bytes in, 8 out), start method "
              f"{multiprocessing.get_start_method()}, {a.tasks_per_map} tasks a map, "
              f"{a.seconds:.1f} s a cell (Python {sys.version.split()[0]})")
        print(f"{'chunksize':>9} {'inputs':>10} {'seconds':>8} {'tasks/s':>10} {'cpu us/input':>14}")
        for chunk, n, secs, cpu in rows:
            if n is None:
                print(f"{chunk:>9}  error: {secs}")
            else:
                print(f"{chunk:>9} {n:>10} {secs:>8.2f} {n / secs:>10.0f} {cpu * 1e6 / n:>14.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
