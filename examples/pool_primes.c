/* pool_primes.c - count the primes below 10,000,000 on a pool of workers,
 * with a live progress line.
 *
 * The Python it follows:
 *
 *     def count_primes(lo, hi):
 *         return sum(1 for n in range(lo, hi) if is_prime(n))
 *
 *     ranges = [(lo, lo + 10_000) for lo in range(0, 10_000_000, 10_000)]
 *     with Pool() as p:
 *         print(sum(p.starmap(count_primes, ranges)))     # 664579
 *
 * The task "count_primes" takes two arguments, LO and HI in decimal text,
 * and returns the number of primes n with LO <= n < HI (trial division by
 * the primes below 65536, so HI may reach 2^32). The 1000 ranges go out in
 * tasks of --chunksize ranges; the map's progress callback redraws one
 * line on stderr as outcomes arrive. The count goes to stdout.
 *
 * Usage: pool_primes [--workers N] [--chunksize N]
 *        pool_primes --connect URL --pool NAME [--chunksize N]
 *
 *   With no --connect it starts a private manager and N local worker
 *   processes (default: the number of online CPUs), forked before this
 *   process uses nng (see syncmgr.h); each opens its own client and serves
 *   until this process closes its end of the worker's socket pair.
 *
 *   With --connect it starts no workers: it submits to pool NAME on the
 *   syncmgrd at URL and waits for whatever workers serve that pool. The
 *   task is also exported for syncmgr-worker: compiled as a module, this
 *   file is only the task and sm_tasks_init:
 *
 *     cc -shared -fPIC -DPOOL_PRIMES_TASKS_ONLY -Iinclude \
 *        -o pool_primes_tasks.so examples/pool_primes.c -Lbuild -lsyncmgr
 *     build/syncmgrd --listen tcp://0.0.0.0:7878 &
 *     build/syncmgr-worker --connect tcp://HOST:7878 --pool primes \
 *        --tasks ./pool_primes_tasks.so --processes 4        # on each host
 *     build/pool_primes --connect tcp://HOST:7878 --pool primes
 *
 * Exits 0 when the count is 664579, 1 on a wrong count or any failed call
 * (reported with sm_strerror and sm_errdetail), 2 on a usage error. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "syncmgr.h"

SM_API int sm_tasks_init(sm_worker *w);

/* ------------------------------------------------------------------ the task */

#define SMALL_LIMIT 65536 /* trial divisors: the primes below this */

static uint32_t small_primes[6542]; /* pi(65536) = 6542 */
static size_t nsmall;

/* small_primes_init sieves the primes below SMALL_LIMIT into small_primes. */
static void
small_primes_init(void)
{
    static unsigned char composite[SMALL_LIMIT];

    if (nsmall > 0)
        return;
    for (uint32_t i = 2; i < SMALL_LIMIT; i++) {
        if (composite[i])
            continue;
        small_primes[nsmall++] = i;
        for (uint32_t j = i * i; j < SMALL_LIMIT; j += i)
            composite[j] = 1;
    }
}

/* is_prime: n < 2^32, by trial division by the small primes. */
static bool
is_prime(uint32_t n)
{
    if (n < 2)
        return false;
    for (size_t i = 0; i < nsmall; i++) {
        uint32_t p = small_primes[i];
        if ((uint64_t)p * p > n)
            return true;
        if (n % p == 0)
            return false;
    }
    return true;
}

/* arg_u32 parses argument i as a decimal number below 2^32 + 1. */
static bool
arg_u32(const sm_bytes *argv, int i, uint64_t *out)
{
    char buf[16];
    char *end;

    if (argv[i].len == 0 || argv[i].len >= sizeof(buf))
        return false;
    memcpy(buf, argv[i].data, argv[i].len);
    buf[argv[i].len] = '\0';
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (*end != '\0' || errno != 0 || buf[0] == '-' || v > UINT32_MAX + 1ULL)
        return false;
    *out = v;
    return true;
}

/* count_primes LO HI -> the number of primes in [LO, HI). */
static int
count_primes(sm_task *t, int argc, const sm_bytes *argv, void *arg)
{
    uint64_t lo, hi, count = 0;
    char buf[24];

    (void)arg;
    if (argc != 2 || !arg_u32(argv, 0, &lo) || !arg_u32(argv, 1, &hi) || lo > hi)
        return sm_task_error(t, "count_primes: wants LO HI with 0 <= LO <= HI <= 2^32");
    for (uint64_t n = lo; n < hi; n++)
        count += is_prime((uint32_t)n);
    int len = snprintf(buf, sizeof(buf), "%" PRIu64, count);
    return sm_task_return(t, buf, (size_t)len);
}

/* sm_tasks_init registers the task: for syncmgr-worker, and for the local
 * workers below. */
int
sm_tasks_init(sm_worker *w)
{
    small_primes_init();
    return sm_worker_register(w, "count_primes", count_primes, NULL);
}

#ifndef POOL_PRIMES_TASKS_ONLY
/* ----------------------------------------------------------------- program */

#include <time.h>

#include "local_workers.h"

#define PROG "pool_primes"
#define LIMIT 10000000  /* count the primes below this */
#define RANGE 10000     /* numbers per input */
#define NRANGES (LIMIT / RANGE)
#define EXPECTED 664579 /* pi(10^7) */
#define MAX_WORKERS 256

/* report prints a failed call: its text, the status and the server's detail. */
static void
report(const char *what, int rv)
{
    lw_report(PROG, what, rv);
}

/* CHECK runs one sm_ call into rv; on failure it reports and jumps to out. */
#define CHECK(call)                                                                          \
    do {                                                                                     \
        if ((rv = (call)) != SM_OK) {                                                        \
            report(#call, rv);                                                               \
            goto out;                                                                        \
        }                                                                                    \
    } while (0)

/* ------------------------------------------------------------ local workers */

/* setup registers the task in each worker process (local_workers.h). */
static int
setup(sm_worker *w, int index, void *arg)
{
    (void)index;
    (void)arg;
    return sm_tasks_init(w);
}

/* ---------------------------------------------------------------- the map */

/* show_progress redraws the progress line: the map calls it on this thread
 * as outcomes arrive. Into a file or pipe only the last one goes. */
static void
show_progress(void *arg, const sm_progress *pr)
{
    (void)arg;
    if (pr->done == pr->total || isatty(STDERR_FILENO))
        fprintf(stderr, "\r%zu/%zu ranges done, %zu failed", pr->done, pr->total, pr->failed);
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(void)
{
    fprintf(stderr, "usage: pool_primes [--workers N] [--chunksize N]\n"
                    "       pool_primes --connect URL --pool NAME [--chunksize N]\n");
    exit(2);
}

/* arg_count parses a command-line count in [lo, hi] or exits 2. */
static long
arg_count(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi)
        usage();
    return v;
}

int
main(int argc, char **argv)
{
    const char *url = NULL, *pool = "primes";
    long nworkers = sysconf(_SC_NPROCESSORS_ONLN);
    long chunksize = 4;
    sm_manager *m = NULL;
    sm_client *c = NULL;
    sm_pool *p = NULL;
    pid_t pids[MAX_WORKERS];
    int fds[MAX_WORKERS];
    static char text[NRANGES][2][12];
    static sm_bytes args[NRANGES][2];
    static sm_args inputs[NRANGES];
    static sm_result results[NRANGES];
    uint64_t joined = 0, total = 0;
    int failed = 0;
    int rv = SM_OK, rv2;

    for (int i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--connect") == 0)
            url = argv[++i];
        else if (strcmp(argv[i], "--pool") == 0)
            pool = argv[++i];
        else if (strcmp(argv[i], "--workers") == 0)
            nworkers = arg_count(argv[++i], 1, MAX_WORKERS);
        else if (strcmp(argv[i], "--chunksize") == 0)
            chunksize = arg_count(argv[++i], 0, NRANGES);
        else
            usage();
    }
    if (url != NULL)
        nworkers = 0; /* whoever runs syncmgr-worker provides them */
    else if (nworkers < 1)
        nworkers = 1;
    else if (nworkers > MAX_WORKERS)
        nworkers = MAX_WORKERS;
    for (int k = 0; k < MAX_WORKERS; k++)
        pids[k] = fds[k] = -1;

    if (url == NULL) {
        /* No client yet: this process must not use nng before its last fork. */
        small_primes_init(); /* once, inherited by every worker */
        CHECK(sm_manager_start(&m, NULL));
        url = sm_manager_url(m);
        if (lw_start(PROG, (int)nworkers, url, pool, setup, NULL, NULL, pids, fds) != 0) {
            failed = 1;
            goto out;
        }
    }

    /* The parent's first nng use: after the last fork. */
    CHECK(sm_client_open(&c, url, NULL));
    CHECK(sm_pool_open(c, pool, &p));
    if (nworkers > 0) {
        CHECK(lw_wait(PROG, p, (uint64_t)nworkers, &joined));
    } else {
        CHECK(lw_wait(PROG, p, 0, &joined));
        if (joined == 0)
            fprintf(stderr, "pool %s at %s has no workers yet; the tasks wait for one\n", pool,
                    url);
    }

    for (int i = 0; i < NRANGES; i++) {
        for (int a = 0; a < 2; a++) {
            int len = snprintf(text[i][a], sizeof(text[i][a]), "%d", (i + a) * RANGE);
            args[i][a].data = text[i][a];
            args[i][a].len = (size_t)len;
        }
        inputs[i].argv = args[i];
        inputs[i].argc = 2;
    }
    sm_map_opts opts = SM_MAP_OPTS_INIT;
    opts.chunksize = (size_t)chunksize;
    opts.progress = show_progress;

    printf("counting the primes below %d: %d ranges of %d", LIMIT, NRANGES, RANGE);
    if (chunksize > 0)
        printf(", %ld a task", chunksize);
    if (nworkers > 0)
        printf(", on %ld local worker%s\n", nworkers, nworkers == 1 ? "" : "s");
    else
        printf(", on pool %s's workers (%" PRIu64 " so far)\n", pool, joined);
    fflush(stdout);
    double t0 = now_s();
    rv = sm_pool_starmap(p, "count_primes", inputs, NRANGES, results, &opts);
    double dt = now_s() - t0;
    fprintf(stderr, "\n"); /* ends the progress line */
    if (rv != SM_OK) {
        report("sm_pool_starmap", rv);
        goto out;
    }
    for (int i = 0; i < NRANGES; i++) {
        char num[24];
        size_t len = results[i].len < sizeof(num) ? results[i].len : sizeof(num) - 1;
        memcpy(num, results[i].data, len); /* an output is bytes, not a C string */
        num[len] = '\0';
        total += strtoull(num, NULL, 10);
    }
    printf("primes below %d: %" PRIu64 " (expected %d) in %.2f s\n", LIMIT, total, EXPECTED,
           dt);
    if (total != EXPECTED)
        failed = 1;

out:
    sm_results_clear(results, NRANGES);
    if (lw_stop(PROG, (int)nworkers, pids, fds) != 0)
        failed = 1;
    if (p != NULL && (rv2 = sm_pool_close(p)) != SM_OK) {
        report("sm_pool_close", rv2);
        failed = 1;
    }
    sm_client_close(c);
    if (m != NULL && (rv2 = sm_manager_stop(m)) != SM_OK) {
        report("sm_manager_stop", rv2);
        failed = 1;
    }
    return rv != SM_OK || failed ? 1 : 0;
}
#endif /* POOL_PRIMES_TASKS_ONLY */
