/* semaphore_pool.c - five processes share a resource that at most two may
 * use at once, guarded by a manager semaphore.
 *
 * The Python it follows:
 *
 *     def use(sem, stats, peak):
 *         with sem:
 *             stats['in_use'] += 1     # here sm_dict_incr, which returns the count
 *             peak.value = max(peak.value, stats['in_use'])   # here a CAS loop
 *             time.sleep(0.05)         # the work
 *             stats['in_use'] -= 1
 *
 *     sem = manager.BoundedSemaphore(2)
 *     ...five Processes run use, then are joined...
 *     print(peak.value)   # 2, never more
 *
 * A worker counts itself in after it acquires and out before it releases, so
 * the count is never above the number of permits out. sm_dict_incr returns
 * the new count from the server atomically; the peak is raised with a
 * compare-and-swap loop on a var: store our count only if the peak is still
 * the smaller value we read, else look again at what it is now.
 *
 * nng does not run in a process forked after nng was used (see syncmgr.h),
 * so the workers are forked before this process opens its client, and each
 * opens its own. They find the objects by name; the names carry the parent's
 * pid so that every run, also against a shared syncmgrd, starts afresh.
 *
 * Usage: semaphore_pool [URL]
 *   With no URL it starts a private manager; with one it uses the syncmgrd
 *   listening there. Exits 0 if no more than two ever used the resource at
 *   once, 1 otherwise or on any failed call (reported with sm_strerror and
 *   sm_errdetail). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "syncmgr.h"

#define WORKERS 5
#define PERMITS 2
#define HOLD_MS 50       /* how long a worker uses the resource */
#define TIMEOUT_MS 10000 /* give up on the semaphore after this long */

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
            fprintf(stderr, "semaphore_pool[%ld] %s:%d %s: %s (%s)\n", (long)getpid(),       \
                    __FILE__, __LINE__, #call, sm_strerror(rv_), sm_errdetail());            \
            fail();                                                                          \
        }                                                                                    \
    } while (0)

/* open_objects opens (or creates) this run's semaphore, stats dict and peak. */
static void
open_objects(sm_client *c, sm_sem **sem, sm_dict **stats, sm_var **peak)
{
    char name[96];
    sm_value zero = sm_value_int(0);

    snprintf(name, sizeof(name), "semaphore_pool.%ld.sem", (long)parent);
    CHECK(sm_sem_open(c, name, PERMITS, true, sem)); /* bounded: no stray releases */
    snprintf(name, sizeof(name), "semaphore_pool.%ld.stats", (long)parent);
    CHECK(sm_dict_open(c, name, stats));
    snprintf(name, sizeof(name), "semaphore_pool.%ld.peak", (long)parent);
    CHECK(sm_var_open(c, name, &zero, peak));
}

/* raise_peak makes peak at least now: retry while another worker changed it
 * between our read and our swap. */
static void
raise_peak(sm_var *peak, int64_t now)
{
    sm_value cur, want = sm_value_int(now);
    bool swapped = false;

    CHECK(sm_var_get(peak, &cur));
    while (!swapped && cur.u.i < now) {
        sm_value seen;
        CHECK(sm_var_cas(peak, &cur, &want, &swapped, &seen));
        cur = seen; /* the peak as the server holds it after the call */
    }
}

/* worker: acquire, count in, raise the peak, work, count out, release. */
static void
worker(const char *url, int id)
{
    sm_client *c;
    sm_sem *sem;
    sm_dict *stats;
    sm_var *peak;
    sm_value up = sm_value_int(1), down = sm_value_int(-1), now;
    struct timespec hold = {0, HOLD_MS * 1000000L};

    CHECK(sm_client_open(&c, url, NULL));
    open_objects(c, &sem, &stats, &peak);

    CHECK(sm_sem_acquire(sem, TIMEOUT_MS));
    CHECK(sm_dict_incr(stats, "in_use", &up, &now));
    printf("worker %d in, %" PRId64 " using the resource\n", id, now.u.i);
    fflush(stdout);
    raise_peak(peak, now.u.i);
    nanosleep(&hold, NULL); /* the work being simulated */
    CHECK(sm_dict_incr(stats, "in_use", &down, NULL));
    CHECK(sm_sem_release(sem, 1));

    sm_var_close(peak);
    sm_dict_close(stats);
    sm_sem_close(sem);
    sm_client_close(c);
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
            perror("semaphore_pool: fork");
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
            fprintf(stderr, "semaphore_pool: worker %ld failed\n", (long)pids[k]);
            failed = 1;
        }
    }
    if (failed)
        fail();

    /* The parent's first nng use: after the last fork. */
    sm_client *c;
    sm_sem *sem;
    sm_dict *stats;
    sm_var *peak;
    sm_value max;
    int64_t permits;
    CHECK(sm_client_open(&c, url, NULL));
    open_objects(c, &sem, &stats, &peak);
    CHECK(sm_var_get(peak, &max));
    CHECK(sm_sem_value(sem, &permits));
    printf("max concurrent users: %" PRId64 " (limit %d)\n", max.u.i, PERMITS);
    printf("permits free at the end: %" PRId64 "\n", permits);
    int ok = max.type == SM_INT && max.u.i >= 1 && max.u.i <= PERMITS && permits == PERMITS;

    sm_var_close(peak);
    sm_dict_close(stats);
    sm_sem_close(sem);
    sm_client_close(c);
    sm_manager *m = manager;
    manager = NULL; /* so that a failure here does not stop it twice */
    if (m != NULL)
        CHECK(sm_manager_stop(m));
    return ok ? 0 : 1;
}
