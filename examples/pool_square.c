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
 * opens its client. Each opens its own client and serves the pool until
 * this process closes its end of the worker's socket pair: a thread in the
 * worker waits for that and calls sm_worker_stop, and sm_worker_run returns.
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

#include "syncmgr.h"

#define POOL "pool_square"
#define WORKERS 2
#define N 10

/* report prints a failed call: its text, the status and the server's detail. */
static void
report(const char *what, int rv)
{
    fprintf(stderr, "pool_square[%ld]: %s: %s: %s (%s)\n", (long)getpid(), what,
            sm_errname(rv), sm_strerror(rv), sm_errdetail());
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

/* What a worker's stop thread needs. */
typedef struct stopper {
    int fd;       /* the worker's end of its socket pair */
    sm_worker *w; /* the worker to stop */
    int rv;       /* sm_worker_stop's status */
} stopper;

/* stop_on_eof waits until the parent closes its end (or dies), or until
 * the worker's own main thread shuts the socket down, then stops the
 * worker. */
static void *
stop_on_eof(void *arg)
{
    stopper *s = arg;
    char b;
    ssize_t r;

    do
        r = read(s->fd, &b, 1);
    while (r < 0 && errno == EINTR);
    s->rv = sm_worker_stop(s->w);
    return NULL;
}

/* serve is a worker process's life: its own client, the "square" task,
 * and sm_worker_run until stopped. Returns SM_OK or the failed status. */
static int
serve(const char *url, int fd)
{
    sm_client *c = NULL;
    sm_worker *w = NULL;
    stopper s = {fd, NULL, SM_OK};
    pthread_t th;
    bool started = false;
    int rv;

    CHECK(sm_client_open(&c, url, NULL)); /* our own client, never the parent's */
    CHECK(sm_worker_new(c, POOL, &w));
    CHECK(sm_worker_register(w, "square", square, NULL));
    s.w = w;
    if ((errno = pthread_create(&th, NULL, stop_on_eof, &s)) != 0) {
        perror("pool_square: pthread_create");
        rv = SM_ENOMEM;
        goto out;
    }
    started = true;
    CHECK(sm_worker_run(w, NULL));
out:
    if (started) {
        shutdown(fd, SHUT_RDWR); /* wakes the stop thread if the parent has not */
        pthread_join(th, NULL);
        if (rv == SM_OK && s.rv != SM_OK) {
            report("sm_worker_stop", s.rv);
            rv = s.rv;
        }
    }
    sm_worker_free(w);
    sm_client_close(c);
    return rv;
}

/* start_workers forks n workers serving url; pids[k] and fds[k] (the
 * parent's end of worker k's socket pair) are filled, -1 where one could
 * not be started. Returns 0 if all started. */
static int
start_workers(int n, const char *url, pid_t *pids, int *fds)
{
    for (int k = 0; k < n; k++)
        pids[k] = fds[k] = -1;
    fflush(stdout); /* or each child would print our buffered output again */
    fflush(stderr);
    for (int k = 0; k < n; k++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
            perror("pool_square: socketpair");
            return -1;
        }
        pid_t pid = fork();
        if (pid < 0) {
            perror("pool_square: fork");
            close(sv[0]);
            close(sv[1]);
            return -1;
        }
        if (pid == 0) {
            close(sv[0]);
            for (int j = 0; j < k; j++) /* only the parent may end a worker's wait */
                close(fds[j]);
            _exit(serve(url, sv[1]) == SM_OK ? 0 : 1);
        }
        close(sv[1]);
        pids[k] = pid;
        fds[k] = sv[0];
    }
    return 0;
}

/* stop_workers closes every worker's socket pair (each then leaves the
 * pool) and reaps them. Returns 0 if every one exited 0. */
static int
stop_workers(int n, pid_t *pids, int *fds)
{
    int failed = 0;

    for (int k = 0; k < n; k++)
        if (fds[k] >= 0) {
            close(fds[k]);
            fds[k] = -1;
        }
    for (int k = 0; k < n; k++) {
        int st;
        pid_t r;
        if (pids[k] < 0)
            continue;
        do
            r = waitpid(pids[k], &st, 0);
        while (r < 0 && errno == EINTR);
        if (r != pids[k] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "pool_square: worker %ld failed (status 0x%x)\n", (long)pids[k],
                    r == pids[k] ? st : -1);
            failed = 1;
        }
        pids[k] = -1;
    }
    return failed ? -1 : 0;
}

/* wait_workers waits up to 10 s until n workers have joined p. A worker
 * that cannot start would otherwise leave the map waiting for good. */
static int
wait_workers(sm_pool *p, uint64_t n)
{
    sm_pool_info info;
    struct timespec tick = {0, 10 * 1000000};

    for (int i = 0; i < 1000; i++) {
        int rv = sm_pool_status(p, &info);
        if (rv != SM_OK)
            return rv;
        if (info.workers >= n)
            return SM_OK;
        nanosleep(&tick, NULL);
    }
    fprintf(stderr, "pool_square: %" PRIu64 " of %" PRIu64 " workers joined in 10 s\n",
            info.workers, n);
    return SM_ETIMEDOUT;
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
    if (start_workers(WORKERS, sm_manager_url(m), pids, fds) != 0) {
        failed = 1;
        goto out;
    }

    /* with Pool(2) as p: -- the parent's first nng use, after the last fork */
    CHECK(sm_client_open(&c, sm_manager_url(m), NULL));
    CHECK(sm_pool_open(c, POOL, &p));
    CHECK(wait_workers(p, WORKERS));

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
    if (stop_workers(WORKERS, pids, fds) != 0)
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
