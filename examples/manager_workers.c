/* manager_workers.c - Python's classic Manager example, in C.
 *
 * The Python original (multiprocessing docs, "Managers"):
 *
 *     def f(d, l):
 *         d[1] = '1'
 *         d['2'] = 2
 *         d[0.25] = None
 *         l.reverse()
 *
 *     with Manager() as manager:
 *         d = manager.dict()
 *         l = manager.list(range(10))
 *         p = Process(target=f, args=(d, l))
 *         p.start()
 *         p.join()
 *         print(d)      # {1: '1', '2': 2, 0.25: None}
 *         print(l)      # [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
 *
 * Here f's two halves run in two worker processes at once: one fills the
 * dict, the other reverses the list. nng does not run in a process forked
 * after nng was used (see syncmgr.h), so the workers are forked first, before
 * this process opens its client; each waits on a pipe until the parent has
 * created the objects and sent it their token, then opens its own client to
 * the manager's URL and attaches by that token. syncmgr's dict keys are
 * strings, so 1 and 0.25 become "1" and "0.25".
 * The output is:
 *
 *     {'1': '1', '2': 2, '0.25': None}
 *     [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
 *
 * Usage: manager_workers [URL]
 *   With no URL it starts a private manager (sm_manager_start); with one it
 *   uses the syncmgrd listening there. Exits 0 on success, 1 on any failed
 *   call (which it reports with sm_strerror and sm_errdetail). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syncmgr.h"

/* report prints a failed call: its text, the status and the server's detail. */
static void
report(const char *what, int rv)
{
    fprintf(stderr, "manager_workers[%ld]: %s: %s: %s (%s)\n", (long)getpid(), what,
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

/* print_value prints v as Python's repr() would. */
static void
print_value(const sm_value *v)
{
    switch (v->type) {
    case SM_NIL:
        printf("None");
        break;
    case SM_BOOL:
        printf("%s", v->u.b ? "True" : "False");
        break;
    case SM_INT:
        printf("%" PRId64, v->u.i);
        break;
    case SM_DOUBLE:
        printf("%g", v->u.d);
        break;
    case SM_STR:
        printf("'%.*s'", (int)v->u.buf.len, (const char *)v->u.buf.ptr);
        break;
    case SM_BYTES:
        printf("b'%.*s'", (int)v->u.buf.len, (const char *)v->u.buf.ptr);
        break;
    case SM_REF:
        printf("<ref %.*s>", (int)v->u.buf.len, (const char *)v->u.buf.ptr);
        break;
    }
}

/* ---------------------------------------------------------------- workers */

/* fill_dict is the first half of f: d[1] = '1'; d['2'] = 2; d[0.25] = None. */
static int
fill_dict(const char *url, const char *token)
{
    sm_client *c = NULL;
    sm_dict *d = NULL;
    sm_value one = sm_value_str("1");
    sm_value two = sm_value_int(2);
    sm_value none = sm_value_nil();
    int rv;

    CHECK(sm_client_open(&c, url, NULL)); /* our own client, never the parent's */
    CHECK(sm_dict_attach(c, token, &d));
    CHECK(sm_dict_set(d, "1", &one));
    CHECK(sm_dict_set(d, "2", &two));
    CHECK(sm_dict_set(d, "0.25", &none));
out:
    sm_dict_close(d);
    sm_client_close(c);
    return rv;
}

/* reverse_list is the second half of f: l.reverse(). The API has no reverse
 * operation, so the worker reads the list, clears it and appends its items
 * back in reverse order in one extend. That is not atomic, which is fine
 * here: no other process touches the list meanwhile. */
static int
reverse_list(const char *url, const char *token)
{
    sm_client *c = NULL;
    sm_list *l = NULL;
    sm_value *items = NULL;
    sm_value *rev = NULL;
    size_t n = 0;
    int rv;

    CHECK(sm_client_open(&c, url, NULL));
    CHECK(sm_list_attach(c, token, &l));
    CHECK(sm_list_slice(l, 0, SM_END, &items, &n));
    rev = malloc((n > 0 ? n : 1) * sizeof(*rev));
    if (rev == NULL) {
        rv = SM_ENOMEM;
        report("malloc", rv);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        rev[i] = items[n - 1 - i]; /* shallow: extend copies its inputs */
    CHECK(sm_list_clear(l));
    CHECK(sm_list_extend(l, rev, n));
out:
    free(rev);
    sm_values_free(items, n);
    sm_list_close(l);
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
        perror("manager_workers: pipe");
        return -1;
    }
    fflush(stdout); /* or the child would print our buffered output again */
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("manager_workers: fork");
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
            perror("manager_workers: write");
            ok = 0;
            break;
        }
        off += (size_t)r;
    }
    if (n <= 0 || (size_t)n >= sizeof(line))
        fprintf(stderr, "manager_workers: token too long: %s\n", token);
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
        fprintf(stderr, "manager_workers: worker %ld failed (status 0x%x)\n", (long)pid, st);
    return -1;
}

/* ------------------------------------------------------------------- main */

int
main(int argc, char **argv)
{
    sm_manager *m = NULL;
    sm_client *c = NULL;
    sm_dict *d = NULL;
    sm_list *l = NULL;
    char **keys = NULL;
    sm_value *vals = NULL;
    sm_value *items = NULL;
    size_t nkeys = 0, nitems = 0;
    sm_value range[10];
    const char *url;
    worker w[2]; /* w[0] fills the dict, w[1] reverses the list */
    int sent = 0;
    int rv = SM_OK;
    int failed = 0;

    for (int k = 0; k < 2; k++)
        w[k].pid = w[k].fd = -1;

    /* with Manager() as manager: (or a syncmgrd someone else runs). No client
     * yet: this process must not use nng before its last fork. */
    if (argc > 1) {
        url = argv[1];
    } else {
        CHECK(sm_manager_start(&m, NULL));
        url = sm_manager_url(m);
    }

    /* Two workers, started together and joined; each waits for its token. */
    if (start_worker(w, 0, fill_dict, url) != 0 || start_worker(w, 1, reverse_list, url) != 0) {
        failed = 1;
        goto out;
    }

    /* The parent's first nng use: after the last fork. */
    CHECK(sm_client_open(&c, url, NULL));

    /* d = manager.dict(); l = manager.list(range(10)) */
    CHECK(sm_dict_new(c, &d));
    CHECK(sm_list_new(c, &l));
    for (int i = 0; i < 10; i++)
        range[i] = sm_value_int(i);
    CHECK(sm_list_extend(l, range, 10));

    /* p.start(): hand each worker its object; p.join() */
    sent = 1;
    if (send_token(&w[0], sm_dict_token(d)) != 0)
        failed = 1;
    if (send_token(&w[1], sm_list_token(l)) != 0)
        failed = 1;
    for (int k = 0; k < 2; k++)
        if (join_worker(&w[k], 0) != 0)
            failed = 1;
    if (failed)
        goto out;

    /* print(d) */
    CHECK(sm_dict_items(d, &keys, &vals, &nkeys));
    printf("{");
    for (size_t i = 0; i < nkeys; i++) {
        printf("%s'%s': ", i > 0 ? ", " : "", keys[i]);
        print_value(&vals[i]);
    }
    printf("}\n");

    /* print(l) */
    CHECK(sm_list_slice(l, 0, SM_END, &items, &nitems));
    printf("[");
    for (size_t i = 0; i < nitems; i++) {
        printf("%s", i > 0 ? ", " : "");
        print_value(&items[i]);
    }
    printf("]\n");

out:
    /* Workers still waiting read EOF and give up; reap every one. */
    for (int k = 0; k < 2; k++)
        if (w[k].pid >= 0 && join_worker(&w[k], !sent) != 0)
            failed = 1;
    sm_strings_free(keys, nkeys);
    sm_values_free(vals, nkeys);
    sm_values_free(items, nitems);
    sm_dict_close(d);
    sm_list_close(l);
    sm_client_close(c);
    if (m != NULL) {
        int st = sm_manager_stop(m);
        if (st != SM_OK) {
            report("sm_manager_stop", st);
            failed = 1;
        }
    }
    return rv != SM_OK || failed ? 1 : 0;
}
