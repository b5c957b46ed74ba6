/* barrier_phases.c - four processes work in three phases; a manager barrier
 * keeps anyone from starting a phase before everyone has finished the last.
 *
 * The Python it follows:
 *
 *     def work(barrier, log, w):
 *         for p in range(3):
 *             log.append(f'phase {p} worker {w}')
 *             if p < 2:
 *                 barrier.wait()
 *
 *     barrier = manager.Barrier(4); log = manager.list()
 *     ...four Processes run work, then are joined...
 *     print(log)   # all phase 0 entries, then all phase 1, then all phase 2
 *
 * Within a phase the workers append in whatever order they run; across
 * phases the order is fixed by the barrier, and the parent checks it: the
 * phase numbers in the list never go down, and each phase holds every
 * worker exactly once. A wait that times out breaks the barrier, so if one
 * worker dies the others fail with SM_EBROKEN instead of hanging.
 *
 * nng does not run in a process forked after nng was used (see syncmgr.h),
 * so the workers are forked before this process opens its client, and each
 * opens its own. They find the objects by name; the names carry the parent's
 * pid so that every run, also against a shared syncmgrd, starts afresh.
 *
 * Usage: barrier_phases [URL]
 *   With no URL it starts a private manager; with one it uses the syncmgrd
 *   listening there. Exits 0 if the phases came in order, 1 otherwise or on
 *   any failed call (reported with sm_strerror and sm_errdetail). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syncmgr.h"

#define WORKERS 4
#define PHASES 3
#define TIMEOUT_MS 10000 /* a barrier wait longer than this breaks it */

static sm_manager *manager; /* our private manager, or NULL */
static pid_t parent;        /* the pid that started it, and names the objects */

/* fail ends the process with status 1; the parent also stops its manager. */
static void
fail(void)
{
    if (getpid() == parent)
        sm_manager_stop(manager);
    exit(1);
}

#define CHECK(call)                                                                          \
    do {                                                                                     \
        int rv_ = (call);                                                                    \
        if (rv_ != SM_OK) {                                                                  \
            fprintf(stderr, "barrier_phases[%ld] %s:%d %s: %s (%s)\n", (long)getpid(),       \
                    __FILE__, __LINE__, #call, sm_strerror(rv_), sm_errdetail());            \
            fail();                                                                          \
        }                                                                                    \
    } while (0)

/* open_objects opens (or creates) this run's barrier and log. */
static void
open_objects(sm_client *c, sm_barrier **barrier, sm_list **log)
{
    char name[96];

    snprintf(name, sizeof(name), "barrier_phases.%ld.barrier", (long)parent);
    CHECK(sm_barrier_open(c, name, WORKERS, barrier));
    snprintf(name, sizeof(name), "barrier_phases.%ld.log", (long)parent);
    CHECK(sm_list_open(c, name, log));
}

/* worker: log each phase, then wait for the others before the next. */
static void
worker(const char *url, int id)
{
    sm_client *c;
    sm_barrier *barrier;
    sm_list *log;

    CHECK(sm_client_open(&c, url, NULL));
    open_objects(c, &barrier, &log);
    for (int p = 0; p < PHASES; p++) {
        char entry[64];
        snprintf(entry, sizeof(entry), "phase %d worker %d", p, id);
        sm_value v = sm_value_str(entry);
        CHECK(sm_list_append(log, &v));
        if (p < PHASES - 1)
            CHECK(sm_barrier_wait(barrier, TIMEOUT_MS, NULL));
    }
    sm_list_close(log);
    sm_barrier_close(barrier);
    sm_client_close(c);
}

/* check_log prints the n entries and returns 1 if they are in phase order
 * with every worker once per phase, else 0. */
static int
check_log(const sm_value *items, size_t n)
{
    int seen[PHASES][WORKERS] = {{0}};
    int last = 0, ok = n == (size_t)PHASES * WORKERS;

    for (size_t i = 0; i < n; i++) {
        int p, w;
        const char *s = items[i].type == SM_STR ? items[i].u.buf.ptr : "?";
        printf("  %s\n", s);
        if (sscanf(s, "phase %d worker %d", &p, &w) != 2 || p < 0 || p >= PHASES || w < 0 ||
            w >= WORKERS) {
            fprintf(stderr, "barrier_phases: unexpected entry \"%s\"\n", s);
            ok = 0;
            continue;
        }
        if (p < last) {
            fprintf(stderr, "barrier_phases: \"%s\" after a phase %d entry\n", s, last);
            ok = 0;
        }
        last = p > last ? p : last;
        seen[p][w]++;
    }
    for (int p = 0; p < PHASES; p++)
        for (int w = 0; w < WORKERS; w++)
            if (seen[p][w] != 1)
                ok = 0;
    return ok;
}

int
main(int argc, char **argv)
{
    const char *url;
    pid_t pids[WORKERS];
    int started = 0, failed = 0;

    parent = getpid();
    if (argc > 1) {
        url = argv[1];
    } else {
        CHECK(sm_manager_start(&manager, NULL)); /* no client: we fork next */
        url = sm_manager_url(manager);
    }
    printf("manager at %s\n", url);

    fflush(stdout); /* or each child would print our buffered output again */
    for (; started < WORKERS; started++) {
        pids[started] = fork();
        if (pids[started] < 0) {
            perror("barrier_phases: fork");
            failed = 1;
            break;
        }
        if (pids[started] == 0) {
            worker(url, started);
            _exit(0);
        }
    }
    for (int k = 0; k < started; k++) {
        int st;
        if (waitpid(pids[k], &st, 0) != pids[k] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "barrier_phases: worker %ld failed\n", (long)pids[k]);
            failed = 1;
        }
    }
    if (failed)
        fail();

    /* The parent's first nng use: after the last fork. */
    sm_client *c;
    sm_barrier *barrier;
    sm_list *log;
    sm_value *items;
    size_t n;
    CHECK(sm_client_open(&c, url, NULL));
    open_objects(c, &barrier, &log);
    CHECK(sm_list_slice(log, 0, SM_END, &items, &n));
    printf("log, in append order:\n");
    int ok = check_log(items, n);
    printf("phases in order: %s\n", ok ? "yes" : "NO");
    sm_values_free(items, n);

    sm_list_close(log);
    sm_barrier_close(barrier);
    sm_client_close(c);
    sm_manager *m = manager;
    manager = NULL; /* so that a failure here does not stop it twice */
    if (m != NULL)
        CHECK(sm_manager_stop(m));
    return ok ? 0 : 1;
}
