/* counter.c - four processes increment one shared counter.
 *
 * The Python it follows:
 *
 *     def work(counter):
 *         for _ in range(1000):
 *             with counter.get_lock():
 *                 counter.value += 1
 *
 *     counter = manager.Value('i', 0)
 *     procs = [Process(target=work, args=(counter,)) for _ in range(4)]
 *     ...start and join them...
 *     print(counter.value)   # 4000
 *
 * syncmgr needs no lock for this: sm_var_add is one atomic read-modify-write
 * in the server, so no increment is lost however the workers interleave.
 * nng does not run in a process forked after nng was used (see syncmgr.h),
 * so the workers are forked first, before this process opens its client;
 * each waits on a pipe until the parent has created the counter and sent it
 * the token, then opens its own client and attaches to the counter by it.
 * Prints 4000.
 *
 * Usage: counter [URL]
 *   With no URL it starts a private manager (sm_manager_start); with one it
 *   uses the syncmgrd listening there. Exits 0 on success, 1 on any failed
 *   call (which it reports with sm_strerror and sm_errdetail). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syncmgr.h"

#define WORKERS 4
#define INCREMENTS 1000

/* report prints a failed call: its text, the status and the server's detail. */
static void
report(const char *what, int rv)
{
    fprintf(stderr, "counter[%ld]: %s: %s: %s (%s)\n", (long)getpid(), what, sm_errname(rv),
            sm_strerror(rv), sm_errdetail());
}

/* CHECK runs one sm_ call into rv; on failure it reports and jumps to out. */
#define CHECK(call)                                                                          \
    do {                                                                                     \
        if ((rv = (call)) != SM_OK) {                                                        \
            report(#call, rv);                                                               \
            goto out;                                                                        \
        }                                                                                    \
    } while (0)

/* work is one worker: INCREMENTS atomic adds of 1. */
static int
work(const char *url, const char *token)
{
    sm_client *c = NULL;
    sm_var *counter = NULL;
    sm_value one = sm_value_int(1);
    int rv;

    CHECK(sm_client_open(&c, url, NULL));
    CHECK(sm_var_attach(c, token, &counter));
    for (int i = 0; i < INCREMENTS; i++)
        CHECK(sm_var_add(counter, &one, NULL));
out:
    sm_var_close(counter);
    sm_client_close(c);
    return rv;
}

/* A worker forked before this process used nng. The parent hands it the
 * object's token over a pipe once the object exists. */
typedef struct worker {
    pid_t pid; /* -1 if it could not be started, or once reaped */
    int fd;    /* the parent's write end; -1 once closed */
} worker;

/* worker_main runs in the child: read one token line from fd (EOF first means
 * the parent gave up, having said why), then run fn(url, token). Returns the
 * child's exit status. */
static int
worker_main(int fd, int (*fn)(const char *, const char *), const char *url)
{
    char token[256];
    size_t len = 0;

    for (;;) {
        ssize_t r = read(fd, token + len, sizeof(token) - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (memchr(token, '\n', len) != NULL || len == sizeof(token) - 1)
            break;
    }
    close(fd);
    token[len] = '\0';
    char *nl = strchr(token, '\n');
    if (nl == NULL)
        return 1;
    *nl = '\0';
    return fn(url, token) == SM_OK ? 0 : 1;
}

/* start_worker forks a process that waits for a token, runs fn(url, token)
 * and exits 0 if it returned SM_OK. all[0..k-1] are the workers started
 * before; the child closes their pipes, so only the parent can end a
 * worker's wait. Fills all[k]; returns 0, or -1 (and all[k].pid is -1). */
static int
start_worker(worker *all, int k, int (*fn)(const char *, const char *), const char *url)
{
    int p[2];

    all[k].pid = -1;
    all[k].fd = -1;
    if (pipe(p) != 0) {
        perror("counter: pipe");
        return -1;
    }
    fflush(stdout); /* or the child would print our buffered output again */
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("counter: fork");
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[1]);
        for (int j = 0; j < k; j++)
            if (all[j].fd >= 0)
                close(all[j].fd);
        _exit(worker_main(p[0], fn, url));
    }
    close(p[0]);
    all[k].pid = pid;
    all[k].fd = p[1];
    return 0;
}

/* send_token writes token and a newline to w and closes its pipe. Returns 0,
 * or -1 (the worker then reads EOF and gives up). */
static int
send_token(worker *w, const char *token)
{
    char line[256];
    int n = snprintf(line, sizeof(line), "%s\n", token);
    int ok = n > 0 && (size_t)n < sizeof(line);
    size_t off = 0;

    while (ok && off < (size_t)n) {
        ssize_t r = write(w->fd, line + off, (size_t)n - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            perror("counter: write");
            ok = 0;
            break;
        }
        off += (size_t)r;
    }
    if (n <= 0 || (size_t)n >= sizeof(line))
        fprintf(stderr, "counter: token too long: %s\n", token);
    close(w->fd);
    w->fd = -1;
    return ok ? 0 : -1;
}

/* join_worker closes w's pipe if it is still open (a worker still waiting
 * gives up), waits for it and marks it reaped; returns 0 if it exited 0.
 * quiet: do not report a failure (a worker the parent sent away before it
 * had a token failed for the reason the parent already reported). */
static int
join_worker(worker *w, int quiet)
{
    int st = 0;
    pid_t r;

    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    if (w->pid < 0)
        return -1;
    do {
        r = waitpid(w->pid, &st, 0);
    } while (r < 0 && errno == EINTR);
    pid_t pid = w->pid;
    w->pid = -1; /* reaped (or lost): never waited for again */
    if (r == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (!quiet)
        fprintf(stderr, "counter: worker %ld failed (status 0x%x)\n", (long)pid, st);
    return -1;
}

int
main(int argc, char **argv)
{
    sm_manager *m = NULL;
    sm_client *c = NULL;
    sm_var *counter = NULL;
    sm_value zero = sm_value_int(0);
    sm_value total = sm_value_nil();
    worker w[WORKERS];
    const char *url;
    int sent = 0;
    int rv = SM_OK;
    int failed = 0;

    for (int k = 0; k < WORKERS; k++)
        w[k].pid = w[k].fd = -1;

    /* with Manager() as manager: (or a syncmgrd someone else runs). No client
     * yet: this process must not use nng before its last fork. */
    if (argc > 1) {
        url = argv[1];
    } else {
        CHECK(sm_manager_start(&m, NULL));
        url = sm_manager_url(m);
    }

    /* procs = [Process(target=work, ...) for _ in range(4)]: forked now, each
     * waits for the counter's token. */
    for (int k = 0; k < WORKERS; k++) {
        if (start_worker(w, k, work, url) != 0) {
            failed = 1;
            goto out;
        }
    }

    /* The parent's first nng use: after the last fork. */
    CHECK(sm_client_open(&c, url, NULL));

    /* counter = manager.Value('i', 0) */
    CHECK(sm_var_new(c, &zero, &counter));

    /* start and join them */
    sent = 1;
    for (int k = 0; k < WORKERS; k++)
        if (send_token(&w[k], sm_var_token(counter)) != 0)
            failed = 1;
    for (int k = 0; k < WORKERS; k++)
        if (join_worker(&w[k], 0) != 0)
            failed = 1;
    if (failed)
        goto out;

    /* print(counter.value) */
    CHECK(sm_var_get(counter, &total));
    if (total.type != SM_INT) {
        fprintf(stderr, "counter: the counter holds a value of type %d\n", (int)total.type);
        failed = 1;
        goto out;
    }
    printf("%" PRId64 "\n", total.u.i);
    if (total.u.i != WORKERS * INCREMENTS) {
        fprintf(stderr, "counter: expected %d\n", WORKERS * INCREMENTS);
        failed = 1;
    }

out:
    /* Workers still waiting read EOF and give up; reap every one. */
    for (int k = 0; k < WORKERS; k++)
        if (w[k].pid >= 0 && join_worker(&w[k], !sent) != 0)
            failed = 1;
    sm_value_clear(&total);
    sm_var_close(counter);
    sm_client_close(c);
    if (m != NULL) {
        int sst = sm_manager_stop(m);
        if (sst != SM_OK) {
            report("sm_manager_stop", sst);
            failed = 1;
        }
    }
    return rv != SM_OK || failed ? 1 : 0;
}
