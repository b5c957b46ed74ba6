/* pool_square.c - Python's first Pool example, in C.
 *
 * The Python original (multiprocessing docs, "Introduction"):
 *
 *     from multiprocessing import Pool
 *
 *     def square(x):
 *         return x * x
 *
 *     with Pool(2) as p:
 *         print(p.map(square, range(10)))
 *
 * The output is:
 *
 *     [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]
 *
 * C functions cannot travel, so each of the two worker processes registers
 * "square" by name, and numbers travel as decimal text. nng does not run in
 * a process forked after nng was used (see syncmgr.h), so the workers are
 * forked first, right after the manager starts and before this process
 * opens its client (local_workers.h: each opens its own client and serves
 * the pool until this process closes its end of the worker's socket pair).
 *
 * Usage: pool_square
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

#define PROG "pool_square"
#define POOL "pool_square"
#define WORKERS 2
#define N 10

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

/* ------------------------------------------------------------------ the task */

/* square: x -> x * x, in decimal text both ways. */
static int
square(sm_task *t, int argc, const sm_bytes *argv, void *arg)
{
    char buf[32];
    char *end;

    (void)arg;
    if (argc != 1 || argv[0].len == 0 || argv[0].len >= sizeof(buf))
        return sm_task_error(t, "square: wants one number");
    memcpy(buf, argv[0].data, argv[0].len);
    buf[argv[0].len] = '\0';
    errno = 0;
    long long x = strtoll(buf, &end, 10);
    if (*end != '\0' || errno != 0 || x > 3037000499LL || x < -3037000499LL)
        return sm_task_error(t, "square: %s is not a number whose square fits", buf);
    int n = snprintf(buf, sizeof(buf), "%lld", x * x);
    return sm_task_return(t, buf, (size_t)n);
}

/* ------------------------------------------------------------------ workers */

/* setup registers "square" in each worker process (local_workers.h). */
static int
setup(sm_worker *w, int index, void *arg)
{
    (void)index;
    (void)arg;
    return sm_worker_register(w, "square", square, NULL);
}

/* --------------------------------------------------------------------- main */

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
    sm_result results[N];
    int failed = 0;
    int rv, rv2;

    memset(results, 0, sizeof(results));
    for (int k = 0; k < WORKERS; k++)
        pids[k] = fds[k] = -1;

    /* No client yet: this process must not use nng before its last fork. */
    CHECK(sm_manager_start(&m, NULL));
    if (lw_start(PROG, WORKERS, sm_manager_url(m), POOL, setup, NULL, NULL, pids, fds) != 0) {
        failed = 1;
        goto out;
    }

    /* with Pool(2) as p: -- the parent's first nng use, after the last fork */
    CHECK(sm_client_open(&c, sm_manager_url(m), NULL));
    CHECK(sm_pool_open(c, POOL, &p));
    CHECK(lw_wait(PROG, p, WORKERS, NULL));

    /* p.map(square, range(10)) */
    for (int i = 0; i < N; i++) {
        int len = snprintf(text[i], sizeof(text[i]), "%d", i);
        inputs[i].data = text[i];
        inputs[i].len = (size_t)len;
    }
    CHECK(sm_pool_map(p, "square", inputs, N, results, NULL));

    /* print(...) */
    printf("[");
    for (int i = 0; i < N; i++)
        printf("%s%.*s", i > 0 ? ", " : "", (int)results[i].len, (const char *)results[i].data);
    printf("]\n");

out:
    sm_results_clear(results, N);
    if (lw_stop(PROG, WORKERS, pids, fds) != 0)
        failed = 1;
    if (p != NULL && (rv2 = sm_pool_close(p)) != SM_OK) {
        report("sm_pool_close", rv2);
        failed = 1;
    }
    sm_client_close(c);
    if (m != NULL) {
        if ((rv2 = sm_manager_stop(m)) != SM_OK) {
            report("sm_manager_stop", rv2);
            failed = 1;
        }
    }
    return rv != SM_OK || failed ? 1 : 0;
}
