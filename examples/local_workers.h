/* local_workers.h - worker processes on this host, for the pool examples.
 *
 * nng does not run in a process forked after nng was used (see syncmgr.h),
 * so lw_start forks the workers first, before the calling process opens its
 * client. Each worker opens its own client, lets the example register its
 * tasks (setup), and serves the pool until the parent closes its end of the
 * worker's socket pair: a thread in the worker waits for that and calls
 * sm_worker_stop, and sm_worker_run returns. lw_stop closes those ends and
 * reaps the workers; lw_wait waits until they have joined the pool.
 *
 * Header-only (static functions), so each example stays one file to build;
 * every example that includes it uses all three entry points. */
#ifndef LOCAL_WORKERS_H
#define LOCAL_WORKERS_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "syncmgr.h"

/* setup registers worker index's tasks on w (in the worker process);
 * done, if not NULL, runs there after sm_worker_run, before the worker's
 * client closes. */
typedef int (*lw_setup_fn)(sm_worker *w, int index, void *arg);
typedef void (*lw_done_fn)(int index, void *arg);

/* What a worker's stop thread needs. */
typedef struct lw_stopper {
    int fd;       /* the worker's end of its socket pair */
    sm_worker *w; /* the worker to stop */
    int rv;       /* sm_worker_stop's status */
} lw_stopper;

/* lw_stop_on_eof waits until the parent closes its end (or dies), or until
 * the worker's own main thread shuts the socket down, then stops the
 * worker. */
static void *
lw_stop_on_eof(void *arg)
{
    lw_stopper *s = arg;
    char b;
    ssize_t r;

    do
        r = read(s->fd, &b, 1);
    while (r < 0 && errno == EINTR);
    s->rv = sm_worker_stop(s->w);
    return NULL;
}

static void
lw_report(const char *prog, const char *what, int rv)
{
    fprintf(stderr, "%s[%ld]: %s: %s: %s (%s)\n", prog, (long)getpid(), what, sm_errname(rv),
            sm_strerror(rv), sm_errdetail());
}

/* lw_serve is a worker process's life: its own client, its tasks, and
 * sm_worker_run until stopped. Returns SM_OK or the failed status. */
static int
lw_serve(const char *prog, const char *url, const char *pool, int index, lw_setup_fn setup,
         lw_done_fn done, void *arg, int fd)
{
    sm_client *c = NULL;
    sm_worker *w = NULL;
    lw_stopper s = {fd, NULL, SM_OK};
    pthread_t th;
    bool started = false;
    const char *what = "sm_client_open";
    int rv;

    if ((rv = sm_client_open(&c, url, NULL)) != SM_OK) /* our own, never the parent's */
        goto out;
    what = "sm_worker_new";
    if ((rv = sm_worker_new(c, pool, &w)) != SM_OK)
        goto out;
    what = "registering the tasks";
    if ((rv = setup(w, index, arg)) != SM_OK)
        goto out;
    s.w = w;
    if ((errno = pthread_create(&th, NULL, lw_stop_on_eof, &s)) != 0) {
        fprintf(stderr, "%s: pthread_create: %s\n", prog, strerror(errno));
        what = NULL;
        rv = SM_ENOMEM;
        goto out;
    }
    started = true;
    what = "sm_worker_run";
    rv = sm_worker_run(w, NULL);
out:
    if (rv != SM_OK && what != NULL)
        lw_report(prog, what, rv);
    if (started) {
        shutdown(fd, SHUT_RDWR); /* wakes the stop thread if the parent has not */
        pthread_join(th, NULL);
        if (rv == SM_OK && s.rv != SM_OK) {
            lw_report(prog, "sm_worker_stop", s.rv);
            rv = s.rv;
        }
    }
    if (done != NULL)
        done(index, arg);
    sm_worker_free(w);
    sm_client_close(c);
    return rv;
}

/* lw_start forks n workers serving pool at url; pids[k] and fds[k] (the
 * parent's end of worker k's socket pair) are filled, -1 where one could
 * not be started. Returns 0 if all started. */
static int
lw_start(const char *prog, int n, const char *url, const char *pool, lw_setup_fn setup,
         lw_done_fn done, void *arg, pid_t *pids, int *fds)
{
    for (int k = 0; k < n; k++)
        pids[k] = fds[k] = -1;
    fflush(stdout); /* or each child would print our buffered output again */
    fflush(stderr);
    for (int k = 0; k < n; k++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
            fprintf(stderr, "%s: socketpair: %s\n", prog, strerror(errno));
            return -1;
        }
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(stderr, "%s: fork: %s\n", prog, strerror(errno));
            close(sv[0]);
            close(sv[1]);
            return -1;
        }
        if (pid == 0) {
            close(sv[0]);
            for (int j = 0; j < k; j++) /* only the parent may end a worker's wait */
                close(fds[j]);
            _exit(lw_serve(prog, url, pool, k, setup, done, arg, sv[1]) == SM_OK ? 0 : 1);
        }
        close(sv[1]);
        pids[k] = pid;
        fds[k] = sv[0];
    }
    return 0;
}

/* lw_stop closes every worker's socket pair (each then leaves the pool)
 * and reaps them. Returns 0 if every one exited 0. */
static int
lw_stop(const char *prog, int n, pid_t *pids, int *fds)
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
            fprintf(stderr, "%s: worker %ld failed (status 0x%x)\n", prog, (long)pids[k],
                    r == pids[k] ? st : -1);
            failed = 1;
        }
        pids[k] = -1;
    }
    return failed ? -1 : 0;
}

/* lw_wait waits up to 10 s until n workers have joined p (n 0: one look);
 * *seen (may be NULL) gets how many have. A worker that cannot start would
 * otherwise leave a map waiting for good. Returns SM_OK, SM_ETIMEDOUT (and
 * says so on stderr) or sm_pool_status's failure. */
static int
lw_wait(const char *prog, sm_pool *p, uint64_t n, uint64_t *seen)
{
    sm_pool_info info;
    struct timespec tick = {0, 10 * 1000000};

    for (int i = 0; i < 1000; i++) {
        int rv = sm_pool_status(p, &info);
        if (rv != SM_OK)
            return rv;
        if (seen != NULL)
            *seen = info.workers;
        if (info.workers >= n)
            return SM_OK;
        nanosleep(&tick, NULL);
    }
    fprintf(stderr, "%s: %" PRIu64 " of %" PRIu64 " workers joined in 10 s\n", prog,
            info.workers, n);
    return SM_ETIMEDOUT;
}

#endif
