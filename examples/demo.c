/* demo.c - syncmgr in one screen: a private manager, a pool of four worker
 * processes, and shared objects that the tasks update as they run.
 *
 * The parent maps the task "square" over 0..999 (Python's pool.map), with
 * a progress line on stderr. Each task returns n*n and also records its
 * work in four shared objects, through its worker's own client
 * (sm_task_client):
 *
 *   demo.total       var    += n*n                    (sm_var_add, atomic)
 *   demo.stats       dict   tasks += 1, worker.K.pid  (sm_dict_incr, set)
 *   demo.results     list   n*n for n < 10, in arrival order
 *   demo.per_worker  array  [K] += 1 on worker K
 *
 * The parent then reads them back, and checks the map's results and the
 * shared totals against what they must be.
 *
 * Run: ./demo            (starts its own syncmgrd)
 *      ./demo URL        (uses a running syncmgrd, e.g. tcp://127.0.0.1:7878)
 *
 * Workers are forked before this process opens its first client: nng 1.5.2
 * does not run in a child forked after nng was used (see syncmgr.h). Each
 * serves the pool until the parent closes its end of the worker's socket
 * pair; a thread in the worker waits for that and calls sm_worker_stop.
 * Exits 0 when every check holds. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "local_workers.h"
#include "syncmgr.h"

#define PROG "demo"
#define POOL "demo"
#define WORKERS 4
#define N 1000
#define CHUNK 10

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

/* The shared objects, as proxies on one client. */
typedef struct shared {
    sm_dict *stats;
    sm_list *results;
    sm_var *total;
    sm_array *per_worker;
} shared;

/* shared_open opens the four objects on c. Returns SM_OK, or the failed
 * status with none left open. */
static int
shared_open(sm_client *c, shared *s)
{
    int rv;

    memset(s, 0, sizeof(*s));
    CHECK(sm_dict_open(c, "demo.stats", &s->stats));
    CHECK(sm_list_open(c, "demo.results", &s->results));
    CHECK(sm_var_open(c, "demo.total", NULL, &s->total));
    CHECK(sm_array_open(c, "demo.per_worker", 'q', NULL, WORKERS, &s->per_worker));
    return SM_OK;
out:
    sm_array_close(s->per_worker);
    sm_var_close(s->total);
    sm_list_close(s->results);
    sm_dict_close(s->stats);
    memset(s, 0, sizeof(*s));
    return rv;
}

static void
shared_close(shared *s)
{
    sm_array_close(s->per_worker);
    sm_var_close(s->total);
    sm_list_close(s->results);
    sm_dict_close(s->stats);
}

/* ------------------------------------------------------------------ the task */

/* One worker process's state, handed to its task as arg. */
typedef struct worker_state {
    int id;        /* 0 .. WORKERS-1 */
    bool open;     /* the shared objects are open on the worker's client */
    shared shared; /* opened by the first task */
} worker_state;

/* square N -> N*N, adding to the shared objects on the way. */
static int
square(sm_task *t, int argc, const sm_bytes *argv, void *arg)
{
    worker_state *ws = arg;
    char buf[32];
    char *end;
    int rv;

    if (argc != 1 || argv[0].len == 0 || argv[0].len >= sizeof(buf))
        return sm_task_error(t, "square: wants one number");
    memcpy(buf, argv[0].data, argv[0].len);
    buf[argv[0].len] = '\0';
    long long n = strtoll(buf, &end, 10);
    if (*end != '\0' || n < 0 || n > 1000000)
        return sm_task_error(t, "square: %s is not 0 .. 1000000", buf);

    if (!ws->open) { /* the first task: open the objects on the worker's client */
        if ((rv = shared_open(sm_task_client(t), &ws->shared)) != SM_OK)
            return sm_task_error(t, "square: opening the shared objects: %s", sm_strerror(rv));
        ws->open = true;
        char key[32];
        snprintf(key, sizeof(key), "worker.%d.pid", ws->id);
        sm_value pid = sm_value_int(getpid());
        if ((rv = sm_dict_set(ws->shared.stats, key, &pid)) != SM_OK)
            return sm_task_error(t, "square: dict set: %s", sm_strerror(rv));
    }
    sm_value sq = sm_value_int(n * n), one = sm_value_int(1);
    if ((rv = sm_var_add(ws->shared.total, &sq, NULL)) != SM_OK) /* atomic, one round trip */
        return sm_task_error(t, "square: var add: %s", sm_strerror(rv));
    if ((rv = sm_dict_incr(ws->shared.stats, "tasks", &one, NULL)) != SM_OK) /* likewise */
        return sm_task_error(t, "square: dict incr: %s", sm_strerror(rv));
    if ((rv = sm_array_add(ws->shared.per_worker, ws->id, &one, NULL)) != SM_OK)
        return sm_task_error(t, "square: array add: %s", sm_strerror(rv));
    if (n < 10 && (rv = sm_list_append(ws->shared.results, &sq)) != SM_OK)
        return sm_task_error(t, "square: list append: %s", sm_strerror(rv));
    int len = snprintf(buf, sizeof(buf), "%lld", n * n);
    return sm_task_return(t, buf, (size_t)len);
}

/* ------------------------------------------------------------------ workers */

/* This worker process's state (local_workers.h runs setup and done in it). */
static worker_state worker;

/* setup registers "square", with worker index's state as its arg. */
static int
setup(sm_worker *w, int index, void *arg)
{
    (void)arg;
    worker.id = index;
    return sm_worker_register(w, "square", square, &worker);
}

/* done closes the shared objects the first task opened. */
static void
done(int index, void *arg)
{
    (void)index;
    (void)arg;
    if (worker.open)
        shared_close(&worker.shared);
}

/* show_progress redraws the map's progress line (on this thread); into a
 * file or pipe only the last one goes. */
static void
show_progress(void *arg, const sm_progress *pr)
{
    (void)arg;
    if (pr->done == pr->total || isatty(STDERR_FILENO))
        fprintf(stderr, "\rmap: %zu/%zu done, %zu failed", pr->done, pr->total, pr->failed);
}

/* check prints what, got and expected (no newline), and counts a mismatch. */
static void
check(int *bad, const char *what, int64_t got, int64_t want)
{
    printf("%-29s %" PRId64 " (expected %" PRId64 ")%s", what, got, want,
           got == want ? "" : " WRONG");
    *bad += got != want;
}

/* --------------------------------------------------------------------- main */

int
main(int argc, char **argv)
{
    sm_manager *m = NULL;
    sm_client *c = NULL;
    sm_pool *p = NULL;
    shared sh = {0};
    pid_t pids[WORKERS];
    int fds[WORKERS];
    static char text[N][8];
    static sm_bytes inputs[N];
    static sm_result results[N];
    char **keys = NULL;
    sm_value *vals = NULL, *items = NULL, total = {0};
    size_t nkeys = 0, nitems = 0;
    const char *url;
    int failed = 0, bad = 0;
    int rv, rv2;

    for (int k = 0; k < WORKERS; k++)
        pids[k] = fds[k] = -1;
    if (argc > 1) {
        url = argv[1];
        rv = SM_OK;
    } else {
        CHECK(sm_manager_start(&m, NULL)); /* no client yet: we fork next */
        url = sm_manager_url(m);
    }
    printf("manager at %s\n", url);
    if (lw_start(PROG, WORKERS, url, POOL, setup, done, NULL, pids, fds) != 0) {
        failed = 1;
        goto out;
    }

    /* The parent's first nng use: after the last fork. Empty the shared
     * objects (a running syncmgrd may hold them from an earlier run); the
     * tasks only touch them once the map below starts. */
    CHECK(sm_client_open(&c, url, NULL));
    CHECK(shared_open(c, &sh));
    sm_value zero = sm_value_int(0), zeros[WORKERS];
    for (int k = 0; k < WORKERS; k++)
        zeros[k] = zero;
    CHECK(sm_dict_clear(sh.stats));
    CHECK(sm_list_clear(sh.results));
    CHECK(sm_var_set(sh.total, &zero));
    CHECK(sm_array_set_slice(sh.per_worker, 0, zeros, WORKERS));

    /* pool.map(square, range(1000), chunksize=10) */
    CHECK(sm_pool_open(c, POOL, &p));
    CHECK(lw_wait(PROG, p, WORKERS, NULL));
    for (int i = 0; i < N; i++) {
        int len = snprintf(text[i], sizeof(text[i]), "%d", i);
        inputs[i].data = text[i];
        inputs[i].len = (size_t)len;
    }
    sm_map_opts opts = SM_MAP_OPTS_INIT;
    opts.chunksize = CHUNK;
    opts.progress = show_progress;
    printf("map square over 0..%d on %d workers (pool %s, %d inputs a task)\n", N - 1, WORKERS,
           POOL, CHUNK);
    fflush(stdout);
    rv = sm_pool_map(p, "square", inputs, N, results, &opts);
    fprintf(stderr, "\n"); /* ends the progress line */
    if (rv != SM_OK) {
        report("sm_pool_map", rv);
        goto out;
    }

    /* What the map returned, and what the tasks left in the shared objects. */
    int64_t want = 0, sum = 0;
    for (int64_t k = 0; k < N; k++)
        want += k * k;
    for (int i = 0; i < N; i++) {
        char num[24];
        size_t len = results[i].len < sizeof(num) ? results[i].len : sizeof(num) - 1;
        memcpy(num, results[i].data, len); /* an output is bytes, not a C string */
        num[len] = '\0';
        sum += strtoll(num, NULL, 10);
    }
    check(&bad, "sum of the map's results:", sum, want);
    printf("\n");
    CHECK(sm_var_get(sh.total, &total));
    check(&bad, "demo.total, the tasks' adds:", total.type == SM_INT ? total.u.i : -1, want);
    printf("\n");

    /* demo.stats: "tasks" and each worker's pid, in arrival order */
    CHECK(sm_dict_items(sh.stats, &keys, &vals, &nkeys));
    int64_t tasks = -1;
    for (size_t i = 0; i < nkeys; i++)
        if (strcmp(keys[i], "tasks") == 0 && vals[i].type == SM_INT)
            tasks = vals[i].u.i;
    check(&bad, "demo.stats tasks:", tasks, N);
    printf(", worker pids");
    for (size_t i = 0; i < nkeys; i++)
        if (strcmp(keys[i], "tasks") != 0)
            printf(" %" PRId64, vals[i].u.i);
    printf("\n");

    CHECK(sm_array_get_slice(sh.per_worker, 0, SM_END, &items, &nitems));
    int64_t asum = 0;
    for (size_t i = 0; i < nitems; i++)
        asum += items[i].u.i;
    check(&bad, "demo.per_worker, summed:", asum, N);
    for (size_t i = 0; i < nitems; i++)
        printf("%s%" PRId64, i == 0 ? " = " : " + ", items[i].u.i);
    printf("\n");
    sm_values_free(items, nitems);
    items = NULL;
    nitems = 0;

    CHECK(sm_list_slice(sh.results, 0, SM_END, &items, &nitems));
    int64_t lsum = 0;
    for (size_t i = 0; i < nitems; i++)
        lsum += items[i].u.i;
    check(&bad, "demo.results, summed:", lsum, 285); /* 0 + 1 + 4 + ... + 81 */
    for (size_t i = 0; i < nitems; i++) /* in arrival order */
        printf("%s%" PRId64, i == 0 ? " = " : " + ", items[i].u.i);
    printf("\n");

out:
    sm_results_clear(results, N);
    sm_value_clear(&total);
    sm_strings_free(keys, nkeys);
    sm_values_free(vals, nkeys);
    sm_values_free(items, nitems);
    if (lw_stop(PROG, WORKERS, pids, fds) != 0)
        failed = 1;
    if (p != NULL && (rv2 = sm_pool_close(p)) != SM_OK) {
        report("sm_pool_close", rv2);
        failed = 1;
    }
    shared_close(&sh);
    sm_client_close(c);
    if (m != NULL && (rv2 = sm_manager_stop(m)) != SM_OK) {
        report("sm_manager_stop", rv2);
        failed = 1;
    }
    return rv != SM_OK || failed || bad ? 1 : 0;
}
