/* producer_consumer.c - one producer process feeds two consumer processes
 * through a bounded manager queue.
 *
 * The Python it follows:
 *
 *     def produce(q):
 *         for n in range(1, 101):
 *             q.put(n)              # blocks while the queue holds 10 items
 *         for _ in range(2):
 *             q.put(None)           # one sentinel per consumer
 *
 *     def consume(q, stats):
 *         while (n := q.get()) is not None:
 *             stats['total'] += n   # atomic here: sm_dict_incr
 *
 *     q = manager.Queue(10); stats = manager.dict()
 *     ...one producer and two consumers run, then are joined...
 *     print(stats['total'])   # 5050
 *
 * Each consumer stops at the first sentinel (SM_NIL) it gets; as the producer
 * puts one per consumer after the last number, every consumer gets exactly
 * one, and every number is taken by someone. The sum goes through
 * sm_dict_incr, one atomic add in the server, so no lock is needed.
 *
 * nng does not run in a process forked after nng was used (see syncmgr.h),
 * so the workers are forked before this process opens its client, and each
 * opens its own. They find the objects by name; the names carry the parent's
 * pid so that every run, also against a shared syncmgrd, starts afresh.
 *
 * Usage: producer_consumer [URL]
 *   With no URL it starts a private manager; with one it uses the syncmgrd
 *   listening there. Exits 0 if the total is 5050, 1 otherwise or on any
 *   failed call (reported with sm_strerror and sm_errdetail). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syncmgr.h"

#define ITEMS 100
#define CONSUMERS 2
#define MAXSIZE 10
#define TIMEOUT_MS 10000 /* a put or get waiting longer than this gives up */

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
            fprintf(stderr, "producer_consumer[%ld] %s:%d %s: %s (%s)\n", (long)getpid(),    \
                    __FILE__, __LINE__, #call, sm_strerror(rv_), sm_errdetail());            \
            fail();                                                                          \
        }                                                                                    \
    } while (0)

/* open_objects opens (or creates) this run's queue and stats dict. */
static void
open_objects(sm_client *c, sm_queue **q, sm_dict **stats)
{
    char name[96];

    snprintf(name, sizeof(name), "producer_consumer.%ld.queue", (long)parent);
    CHECK(sm_queue_open(c, name, MAXSIZE, false, q));
    snprintf(name, sizeof(name), "producer_consumer.%ld.stats", (long)parent);
    CHECK(sm_dict_open(c, name, stats));
}

/* produce puts 1..ITEMS, then one sentinel per consumer. */
static void
produce(sm_queue *q)
{
    for (int64_t n = 1; n <= ITEMS; n++) {
        sm_value v = sm_value_int(n);
        CHECK(sm_queue_put(q, &v, TIMEOUT_MS)); /* waits while the queue is full */
    }
    sm_value nil = sm_value_nil();
    for (int k = 0; k < CONSUMERS; k++)
        CHECK(sm_queue_put(q, &nil, TIMEOUT_MS));
}

/* consume gets items until a sentinel, adding them to stats["total"] and
 * counting them in stats["consumer.ID"]. */
static void
consume(sm_queue *q, sm_dict *stats, int id)
{
    char key[32];
    sm_value zero = sm_value_int(0), one = sm_value_int(1), v;

    snprintf(key, sizeof(key), "consumer.%d", id);
    CHECK(sm_dict_incr(stats, key, &zero, NULL)); /* 0 even if it gets none */
    for (;;) {
        CHECK(sm_queue_get(q, TIMEOUT_MS, &v));
        if (v.type == SM_NIL)
            break;
        CHECK(sm_dict_incr(stats, "total", &v, NULL));
        CHECK(sm_dict_incr(stats, key, &one, NULL));
        sm_value_clear(&v);
    }
}

/* worker: id 0 is the producer, 1..CONSUMERS the consumers. */
static void
worker(const char *url, int id)
{
    sm_client *c;
    sm_queue *q;
    sm_dict *stats;

    CHECK(sm_client_open(&c, url, NULL));
    open_objects(c, &q, &stats);
    if (id == 0)
        produce(q);
    else
        consume(q, stats, id);
    sm_dict_close(stats);
    sm_queue_close(q);
    sm_client_close(c);
}

int
main(int argc, char **argv)
{
    const char *url;
    pid_t pids[1 + CONSUMERS];
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
    for (; started < 1 + CONSUMERS; started++) {
        pids[started] = fork();
        if (pids[started] < 0) {
            perror("producer_consumer: fork");
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
            fprintf(stderr, "producer_consumer: worker %ld failed\n", (long)pids[k]);
            failed = 1;
        }
    }
    if (failed)
        fail();

    /* The parent's first nng use: after the last fork. */
    sm_client *c;
    sm_queue *q;
    sm_dict *stats;
    sm_value zero = sm_value_int(0), total, got;
    int64_t want = (int64_t)ITEMS * (ITEMS + 1) / 2, taken = 0;
    CHECK(sm_client_open(&c, url, NULL));
    open_objects(c, &q, &stats);
    for (int id = 1; id <= CONSUMERS; id++) {
        char key[32];
        snprintf(key, sizeof(key), "consumer.%d", id);
        CHECK(sm_dict_get_or(stats, key, &zero, &got));
        printf("consumer %d took %" PRId64 " items\n", id, got.u.i);
        taken += got.u.i;
    }
    CHECK(sm_dict_get_or(stats, "total", &zero, &total));
    printf("total: %" PRId64 " (expected %" PRId64 ")\n", total.u.i, want);
    int ok = total.type == SM_INT && total.u.i == want && taken == ITEMS;

    sm_dict_close(stats);
    sm_queue_close(q);
    sm_client_close(c);
    sm_manager *m = manager;
    manager = NULL; /* so that a failure here does not stop it twice */
    if (m != NULL)
        CHECK(sm_manager_stop(m));
    return ok ? 0 : 1;
}
