/* pool_imap.c - imap_unordered hands out results as they finish; imap in
 * input order.
 *
 * The Python it follows:
 *
 *     def nap(ms):
 *         time.sleep(ms / 1000)
 *         return ms
 *
 *     with Pool(5) as p:
 *         for ms in p.imap_unordered(nap, [600, 100, 400, 200, 300]):
 *             print(ms)                  # 100 200 300 400 600
 *         for ms in p.imap(nap, [600, 100, 400, 200, 300]):
 *             print(ms)                  # 600 100 400 200 300
 *
 * Five worker processes register "nap" and run one task each at once, so
 * each outcome arrives when its own sleep ends: imap_unordered gives them
 * shortest first, and sm_imap_next says which input each one belongs to.
 * imap then gives the same outcomes in input order: the first one waits for
 * the 600 ms nap, and the rest, already finished, follow at once. The
 * output looks like this (the times vary a little):
 *
 *     imap_unordered:
 *       input 1: napped 100 ms, at 103 ms
 *       input 3: napped 200 ms, at 202 ms
 *       input 4: napped 300 ms, at 303 ms
 *       input 2: napped 400 ms, at 402 ms
 *       input 0: napped 600 ms, at 602 ms
 *     completion order 1 3 4 2 0, input order 0 1 2 3 4
 *     imap:
 *       input 0: napped 600 ms, at 603 ms
 *       ...
 *
 * The workers are forked before this process uses nng (see syncmgr.h);
 * each opens its own client and serves until this process closes its end of
 * the worker's socket pair.
 *
 * Usage: pool_imap
 *   Starts a private manager. Exits 0 on success, 1 on any failed call
 *   (which it reports with sm_strerror and sm_errdetail). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "local_workers.h"
#include "syncmgr.h"

#define PROG "pool_imap"
#define POOL "pool_imap"
#define N 5
#define WORKERS N /* one task each, all at once */

static const int naps_ms[N] = {600, 100, 400, 200, 300};

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

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ the task */

/* nap MS: sleeps MS milliseconds (0 .. 60000), returns MS. */
static int
nap(sm_task *t, int argc, const sm_bytes *argv, void *arg)
{
    char buf[16];
    char *end;

    (void)arg;
    if (argc != 1 || argv[0].len == 0 || argv[0].len >= sizeof(buf))
        return sm_task_error(t, "nap: wants a number of milliseconds");
    memcpy(buf, argv[0].data, argv[0].len);
    buf[argv[0].len] = '\0';
    long ms = strtol(buf, &end, 10);
    if (*end != '\0' || ms < 0 || ms > 60000)
        return sm_task_error(t, "nap: %s is not 0 .. 60000 ms", buf);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return sm_task_return(t, buf, argv[0].len);
}

/* ------------------------------------------------------------------ workers */

/* setup registers "nap" in each worker process (local_workers.h). */
static int
setup(sm_worker *w, int index, void *arg)
{
    (void)index;
    (void)arg;
    return sm_worker_register(w, "nap", nap, NULL);
}

/* ----------------------------------------------------------------- the maps */

/* run_imap maps nap over the inputs with imap (ordered) or imap_unordered
 * and prints each outcome as it arrives; order[] gets the input indexes in
 * arrival order. Returns SM_OK or the failed status. */
static int
run_imap(sm_pool *p, bool ordered, const sm_bytes *inputs, size_t order[N])
{
    sm_imap *it = NULL;
    sm_result r = {0, NULL, 0};
    sm_map_opts opts = SM_MAP_OPTS_INIT;
    size_t got = 0;
    int rv;

    opts.chunksize = 1; /* one nap per task, so each can run on its own worker */
    printf("%s:\n", ordered ? "imap" : "imap_unordered");
    int64_t t0 = now_ms();
    if (ordered)
        CHECK(sm_pool_imap(p, "nap", inputs, N, &opts, &it));
    else
        CHECK(sm_pool_imap_unordered(p, "nap", inputs, N, &opts, &it));
    for (;;) {
        size_t index;
        rv = sm_imap_next(it, 10000, &index, &r);
        if (rv == SM_EEND)
            break;
        if (rv != SM_OK) {
            report("sm_imap_next", rv);
            goto out;
        }
        if (r.status != SM_OK) {
            fprintf(stderr, "pool_imap: input %zu: %s: %s\n", index, sm_errname(r.status),
                    (const char *)r.data);
            rv = r.status;
            goto out;
        }
        printf("  input %zu: napped %.*s ms, at %" PRId64 " ms\n", index, (int)r.len,
               (const char *)r.data, now_ms() - t0);
        fflush(stdout);
        if (got < N)
            order[got++] = index;
        sm_result_clear(&r);
    }
    /* Every input exactly once; in input order from imap. */
    bool seen[N] = {false};
    bool ok = got == N;
    for (size_t i = 0; ok && i < N; i++) {
        ok = order[i] < N && !seen[order[i]] && (!ordered || order[i] == i);
        if (ok)
            seen[order[i]] = true;
    }
    rv = SM_OK;
    if (!ok) {
        fprintf(stderr, "pool_imap: %zu outcomes for %d inputs, not each input once%s\n", got,
                N, ordered ? " in input order" : "");
        rv = SM_EPROTO;
    }
out:
    sm_result_clear(&r);
    sm_imap_free(it);
    return rv;
}

int
main(void)
{
    sm_manager *m = NULL;
    sm_client *c = NULL;
    sm_pool *p = NULL;
    pid_t pids[WORKERS];
    int fds[WORKERS];
    char text[N][8];
    sm_bytes inputs[N];
    size_t order[N];
    int failed = 0;
    int rv, rv2;

    for (int k = 0; k < WORKERS; k++)
        pids[k] = fds[k] = -1;
    for (int i = 0; i < N; i++) {
        int len = snprintf(text[i], sizeof(text[i]), "%d", naps_ms[i]);
        inputs[i].data = text[i];
        inputs[i].len = (size_t)len;
    }

    /* No client yet: this process must not use nng before its last fork. */
    CHECK(sm_manager_start(&m, NULL));
    if (lw_start(PROG, WORKERS, sm_manager_url(m), POOL, setup, NULL, NULL, pids, fds) != 0) {
        failed = 1;
        goto out;
    }
    CHECK(sm_client_open(&c, sm_manager_url(m), NULL)); /* after the last fork */
    CHECK(sm_pool_open(c, POOL, &p));
    CHECK(lw_wait(PROG, p, WORKERS, NULL)); /* so that every task starts at once */

    CHECK(run_imap(p, false, inputs, order));
    printf("completion order");
    for (int i = 0; i < N; i++)
        printf(" %zu", order[i]);
    printf(", input order");
    for (int i = 0; i < N; i++)
        printf(" %d", i);
    printf("\n");
    CHECK(run_imap(p, true, inputs, order));

out:
    if (lw_stop(PROG, WORKERS, pids, fds) != 0)
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
