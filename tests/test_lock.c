/* test_lock.c - sm_lock and sm_rlock: acquire, release and locked; SM_NOWAIT
 * and timed acquires (measured on CLOCK_MONOTONIC); ownership per thread of
 * a client (another thread, or the same thread on another client, is another
 * owner); hand-over to waiters first come first served; the rlock's
 * re-entrancy; and the seed program (four child processes increment a shared
 * var under a manager lock and end at an exact total).
 *
 * Worker threads never call cmocka's assertions (those jump back into the
 * main thread's test): they record their statuses, and the main thread
 * asserts them after joining them. Every wait that must succeed is bounded
 * by LONG_MS, so a broken server fails a test instead of hanging it.
 *
 * Ordering without sleeps. A plain sm_lock_acquire parked in the server
 * leaves no trace a client can read (sm_lock_locked says only that someone
 * holds the lock), so "waiter k is parked before waiter k+1 arrives" cannot
 * be observed for plain acquires. A condition can make it observable: a
 * thread that holds the lock and calls sm_cond_wait releases the lock in the
 * same server step that parks it, so the main thread's own acquire of that
 * lock is granted only once the thread is parked. The waiter-order test
 * therefore parks waiter k on its own condition k (all bound to the lock
 * under test), confirmed as above, and then, holding the lock, notifies
 * conditions 0, 1, 2 in that order, one answered call after the other: each
 * notify makes its waiter a waiter for the lock at that moment, so the three
 * queue on the held lock in a known order. Releasing the lock must then hand
 * it to them in that order. (What queues there are the waits' re-acquires,
 * which join the same FIFO as plain acquires; for a plain acquire this file
 * checks the hand-over to a single waiter, which needs no arrival order.) */
#include "smt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LONG_MS 10000         /* bound for waits that must succeed */
#define TIMED_MS 200          /* the timed acquire of the timeout tests */
#define TIMED_MAX_MS 1000     /* ... must be answered before this */
#define AT_ONCE_MAX_MS 500    /* an SM_NOWAIT answer comes well before this */
#define SEED_PROCS 4
#define SEED_INCRS 10000
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- helpers */

#define MS_NS(ms) ((int64_t)(ms) * 1000000)

/* A gate: a counter that threads of this process wait on. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
} gate;

static void
gate_init(gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->n = 0;
}

static void
gate_fini(gate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

static void
gate_open(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->n++;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* gate_wait waits until g has been opened at least n times, at most
 * 2 * LONG_MS. Returns false if it was not. */
static bool
gate_wait(gate *g, int n)
{
    struct timespec dl;
    int rc = 0;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 2 * LONG_MS / 1000;
    pthread_mutex_lock(&g->mu);
    while (g->n < n && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&g->cv, &g->mu, &dl);
    bool ok = g->n >= n;
    pthread_mutex_unlock(&g->mu);
    return ok;
}

/* One call made on another thread: another owner of every lock. */
typedef struct other_call {
    int (*fn)(void *arg);
    void *arg;
    int rv;
    int64_t elapsed_ns;
} other_call;

static void *
other_call_main(void *p)
{
    other_call *o = p;
    int64_t t0 = smt_now_ns();
    o->rv = o->fn(o->arg);
    o->elapsed_ns = smt_now_ns() - t0;
    return NULL;
}

/* in_other_thread runs fn(arg) on a new thread and returns its status;
 * *elapsed_ns (may be NULL) gets how long the call took. */
static int
in_other_thread(int (*fn)(void *arg), void *arg, int64_t *elapsed_ns)
{
    other_call o = {fn, arg, -1, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_call_main, &o), 0);
    smt_join_or_fail(t, 3 * LONG_MS / 1000);
    if (elapsed_ns != NULL)
        *elapsed_ns = o.elapsed_ns;
    return o.rv;
}

static int
op_lock_nowait(void *l)
{
    return sm_lock_acquire(l, SM_NOWAIT);
}

static int
op_lock_release(void *l)
{
    return sm_lock_release(l);
}

/* op_lock_take_and_give acquires (SM_NOWAIT) and, if that worked, releases:
 * SM_OK only if both did, so no thread ends holding the lock. */
static int
op_lock_take_and_give(void *l)
{
    int rv = sm_lock_acquire(l, SM_NOWAIT);
    return rv != SM_OK ? rv : sm_lock_release(l);
}

static int
op_rlock_nowait(void *r)
{
    return sm_rlock_acquire(r, SM_NOWAIT);
}

static int
op_rlock_timed(void *r)
{
    return sm_rlock_acquire(r, TIMED_MS);
}

static int
op_rlock_release(void *r)
{
    return sm_rlock_release(r);
}

static int
op_rlock_take_and_give(void *r)
{
    int rv = sm_rlock_acquire(r, SM_NOWAIT);
    return rv != SM_OK ? rv : sm_rlock_release(r);
}

/* A thread that holds a lock until told to let go:
 * holder_start() returns once the thread holds it (or failed to take it). */
typedef struct holder {
    pthread_t tid;
    sm_lock *l;
    gate held;        /* opened once acquire_rv is known */
    gate go;          /* opened by the test: release now */
    int acquire_rv;
    int release_rv;
} holder;

static void *
holder_main(void *p)
{
    holder *h = p;
    h->acquire_rv = sm_lock_acquire(h->l, LONG_MS);
    gate_open(&h->held);
    if (h->acquire_rv != SM_OK)
        return NULL;
    gate_wait(&h->go, 1);
    h->release_rv = sm_lock_release(h->l);
    return NULL;
}

static void
holder_start(holder *h, sm_lock *l)
{
    h->l = l;
    h->acquire_rv = -1;
    h->release_rv = -1;
    gate_init(&h->held);
    gate_init(&h->go);
    assert_int_equal(pthread_create(&h->tid, NULL, holder_main, h), 0);
    assert_true(gate_wait(&h->held, 1));
    assert_sm_ok(h->acquire_rv);
}

/* holder_finish lets the holder release and asserts that it could. */
static void
holder_finish(holder *h)
{
    gate_open(&h->go);
    smt_join_or_fail(h->tid, 3 * LONG_MS / 1000);
    gate_fini(&h->held);
    gate_fini(&h->go);
    assert_sm_ok(h->release_rv);
}

static void
assert_locked_(sm_lock *l, bool want, const char *file, int line)
{
    bool got = !want;
    smt_assert_status(sm_lock_locked(l, &got), SM_OK, "sm_lock_locked", file, line);
    if (got != want) {
        print_error("sm_lock_locked says %s, wanted %s\n", got ? "true" : "false",
                    want ? "true" : "false");
        _fail(file, line);
    }
}
#define assert_locked(l, want) assert_locked_((l), (want), __FILE__, __LINE__)

static void
assert_rlocked_(sm_rlock *r, bool want, const char *file, int line)
{
    bool got = !want;
    smt_assert_status(sm_rlock_locked(r, &got), SM_OK, "sm_rlock_locked", file, line);
    if (got != want) {
        print_error("sm_rlock_locked says %s, wanted %s\n", got ? "true" : "false",
                    want ? "true" : "false");
        _fail(file, line);
    }
}
#define assert_rlocked(r, want) assert_rlocked_((r), (want), __FILE__, __LINE__)

/* assert_list_ints reads l back and compares it with want[0..n-1]. */
static void
assert_list_ints_(sm_list *l, const int64_t *want, size_t n, const char *file, int line)
{
    sm_value *vals = NULL;
    size_t got_n = 0;
    smt_assert_status(sm_list_slice(l, 0, SM_END, &vals, &got_n), SM_OK, "sm_list_slice",
                      file, line);
    bool same = got_n == n;
    for (size_t i = 0; same && i < n; i++)
        same = vals[i].type == SM_INT && vals[i].u.i == want[i];
    if (!same) {
        print_error("list holds %zu items:", got_n);
        for (size_t i = 0; i < got_n; i++) {
            if (vals[i].type == SM_INT)
                print_error(" %" PRId64, vals[i].u.i);
            else
                print_error(" (type %d)", (int)vals[i].type);
        }
        print_error("; wanted %zu items:", n);
        for (size_t i = 0; i < n; i++)
            print_error(" %" PRId64, want[i]);
        print_error("\n");
    }
    sm_values_free(vals, got_n);
    if (!same)
        _fail(file, line);
}
#define assert_list_ints(l, ...)                                                                \
    assert_list_ints_((l), (const int64_t[]){__VA_ARGS__},                                     \
                      COUNT(((const int64_t[]){__VA_ARGS__})), __FILE__, __LINE__)

/* ------------------------------------------------------------------- lock */

static void
test_lock_acquire_release_and_locked(void **state)
{
    (void)state;
    sm_lock *l = NULL;

    assert_sm_ok(sm_lock_new(smt_client(), &l));
    assert_non_null(l);
    assert_non_null(sm_lock_token(l));
    assert_locked(l, false);

    assert_sm_ok(sm_lock_acquire(l, SM_NOWAIT));
    assert_locked(l, true);
    assert_sm_ok(sm_lock_release(l));
    assert_locked(l, false);

    assert_sm_ok(sm_lock_acquire(l, SM_WAIT_FOREVER)); /* free: granted at once */
    assert_locked(l, true);
    assert_sm_ok(sm_lock_release(l));
    assert_locked(l, false);

    assert_sm_ok(sm_lock_acquire(l, TIMED_MS));
    assert_locked(l, true);
    assert_sm_ok(sm_lock_release(l));
    assert_locked(l, false);
    assert_sm_ok(sm_lock_close(l));
}

static void
test_lock_nowait_on_held_lock_times_out_at_once(void **state)
{
    (void)state;
    sm_lock *l = NULL;
    int64_t t0, took;

    assert_sm_ok(sm_lock_new(smt_client(), &l));
    assert_sm_ok(sm_lock_acquire(l, SM_NOWAIT));

    /* Another thread. */
    assert_sm_status(in_other_thread(op_lock_nowait, l, &took), SM_ETIMEDOUT);
    assert_true(took < MS_NS(AT_ONCE_MAX_MS));
    /* The holder itself: a lock is not re-entrant. */
    t0 = smt_now_ns();
    assert_sm_status(sm_lock_acquire(l, SM_NOWAIT), SM_ETIMEDOUT);
    assert_true(smt_now_ns() - t0 < MS_NS(AT_ONCE_MAX_MS));

    /* Nothing was done: still held, by this thread. */
    assert_locked(l, true);
    assert_sm_ok(sm_lock_release(l));
    assert_locked(l, false);
    assert_sm_ok(sm_lock_close(l));
}

static void
test_lock_timed_acquire_on_lock_held_by_another_thread_times_out(void **state)
{
    (void)state;
    sm_lock *l = NULL;
    holder h;

    assert_sm_ok(sm_lock_new(smt_client(), &l));
    holder_start(&h, l);

    int64_t t0 = smt_now_ns();
    int rv = sm_lock_acquire(l, TIMED_MS);
    int64_t took = smt_now_ns() - t0;
    assert_sm_status(rv, SM_ETIMEDOUT);
    if (took < MS_NS(TIMED_MS) || took >= MS_NS(TIMED_MAX_MS))
        fail_msg("a %d ms acquire answered after %.1f ms", TIMED_MS, (double)took / 1e6);

    /* Nothing was done: the holder still holds it, and once it lets go the
     * lock is free (the timed-out call is no longer a waiter). */
    assert_locked(l, true);
    assert_sm_status(sm_lock_release(l), SM_ENOTOWNER);
    holder_finish(&h);
    assert_locked(l, false);
    assert_sm_ok(sm_lock_acquire(l, SM_NOWAIT));
    assert_sm_ok(sm_lock_release(l));
    assert_sm_ok(sm_lock_close(l));
}

static void
test_lock_timed_acquire_by_the_holder_times_out(void **state)
{
    (void)state;
    sm_lock *l = NULL;

    assert_sm_ok(sm_lock_new(smt_client(), &l));
    assert_sm_ok(sm_lock_acquire(l, SM_NOWAIT));
    int64_t t0 = smt_now_ns();
    int rv = sm_lock_acquire(l, TIMED_MS); /* not re-entrant: waits like anyone */
    int64_t took = smt_now_ns() - t0;
    assert_sm_status(rv, SM_ETIMEDOUT);
    if (took < MS_NS(TIMED_MS) || took >= MS_NS(TIMED_MAX_MS))
        fail_msg("a %d ms acquire answered after %.1f ms", TIMED_MS, (double)took / 1e6);
    assert_locked(l, true);
    assert_sm_ok(sm_lock_release(l));
    assert_locked(l, false);
    assert_sm_status(sm_lock_release(l), SM_ENOTOWNER); /* held once, released once */
    assert_sm_ok(sm_lock_close(l));
}

static void
test_lock_release_by_another_thread_is_enotowner_and_keeps_it_held(void **state)
{
    (void)state;
    sm_lock *l = NULL;

    assert_sm_ok(sm_lock_new(smt_client(), &l));
    assert_sm_ok(sm_lock_acquire(l, SM_NOWAIT));

    assert_sm_status(in_other_thread(op_lock_release, l, NULL), SM_ENOTOWNER);
    assert_locked(l, true);
    assert_sm_status(in_other_thread(op_lock_nowait, l, NULL), SM_ETIMEDOUT);

    assert_sm_ok(sm_lock_release(l));
    assert_locked(l, false);
    assert_sm_ok(in_other_thread(op_lock_take_and_give, l, NULL));
    assert_sm_ok(sm_lock_close(l));
}

static void
test_lock_release_by_another_client_is_enotowner_and_keeps_it_held(void **state)
{
    (void)state;
    sm_client *c2 = NULL;
    sm_lock *l = NULL, *l2 = NULL;

    assert_sm_ok(sm_lock_new(smt_client(), &l));
    assert_sm_ok(sm_client_open(&c2, smt_url(), NULL));
    assert_sm_ok(sm_lock_attach(c2, sm_lock_token(l), &l2));
    assert_string_equal(sm_lock_token(l2), sm_lock_token(l));

    /* This very thread, on another client, is another owner. */
    assert_sm_ok(sm_lock_acquire(l, SM_NOWAIT));
    assert_sm_status(sm_lock_release(l2), SM_ENOTOWNER);
    assert_sm_status(sm_lock_acquire(l2, SM_NOWAIT), SM_ETIMEDOUT);
    assert_locked(l2, true);
    assert_locked(l, true);
    assert_sm_ok(sm_lock_release(l));
    assert_locked(l2, false);

    /* And the other way round. */
    assert_sm_ok(sm_lock_acquire(l2, SM_NOWAIT));
    assert_sm_status(sm_lock_release(l), SM_ENOTOWNER);
    assert_locked(l, true);
    assert_sm_ok(sm_lock_release(l2));
    assert_locked(l, false);

    assert_sm_ok(sm_lock_close(l2));
    sm_client_close(c2);
    assert_sm_ok(sm_lock_close(l));
}

static void
test_lock_release_of_unlocked_lock_is_enotowner(void **state)
{
    (void)state;
    sm_lock *l = NULL;

    assert_sm_ok(sm_lock_new(smt_client(), &l));
    assert_sm_status(sm_lock_release(l), SM_ENOTOWNER);
    assert_locked(l, false);
    assert_sm_ok(sm_lock_acquire(l, SM_NOWAIT));
    assert_sm_ok(sm_lock_release(l));
    assert_sm_status(sm_lock_release(l), SM_ENOTOWNER); /* a second release */
    assert_locked(l, false);
    assert_sm_status(in_other_thread(op_lock_release, l, NULL), SM_ENOTOWNER);
    assert_locked(l, false);
    assert_sm_ok(sm_lock_close(l));
}

/* A thread that takes a lock with a plain acquire, says so, and keeps it
 * until told to let go. */
typedef struct taker {
    pthread_t tid;
    sm_lock *l;
    gate got;
    gate go;
    int acquire_rv;
    int release_rv;
} taker;

static void *
taker_main(void *p)
{
    taker *t = p;
    t->acquire_rv = sm_lock_acquire(t->l, LONG_MS);
    gate_open(&t->got);
    if (t->acquire_rv != SM_OK)
        return NULL;
    gate_wait(&t->go, 1);
    t->release_rv = sm_lock_release(t->l);
    return NULL;
}

static void
test_lock_release_hands_the_lock_to_a_waiter(void **state)
{
    (void)state;
    sm_lock *l = NULL;
    taker t = {.acquire_rv = -1, .release_rv = -1};

    assert_sm_ok(sm_lock_new(smt_client(), &l));
    assert_sm_ok(sm_lock_acquire(l, SM_NOWAIT));
    t.l = l;
    gate_init(&t.got);
    gate_init(&t.go);
    assert_int_equal(pthread_create(&t.tid, NULL, taker_main, &t), 0);

    /* Whether the thread's acquire is parked before this release or arrives
     * after it, the thread ends up holding the lock, and this thread does
     * not: that is what is asserted, not the timing. */
    assert_sm_ok(sm_lock_release(l));
    assert_true(gate_wait(&t.got, 1));
    assert_sm_ok(t.acquire_rv);
    assert_locked(l, true);
    assert_sm_status(sm_lock_acquire(l, SM_NOWAIT), SM_ETIMEDOUT);
    assert_sm_status(sm_lock_release(l), SM_ENOTOWNER);

    gate_open(&t.go);
    smt_join_or_fail(t.tid, 3 * LONG_MS / 1000);
    assert_sm_ok(t.release_rv);
    assert_locked(l, false);
    gate_fini(&t.got);
    gate_fini(&t.go);
    assert_sm_ok(sm_lock_close(l));
}

/* A waiter of the order test: takes the lock through its own condition,
 * waits on that condition, and once it holds the lock again appends its id
 * to the shared list and releases. */
typedef struct cond_waiter {
    pthread_t tid;
    int64_t id;
    sm_cond *cv;
    sm_list *order;
    gate held; /* opened once acquire_rv is known */
    int acquire_rv;
    int wait_rv;
    bool notified;
    int append_rv;
    int release_rv;
} cond_waiter;

static void *
cond_waiter_main(void *p)
{
    cond_waiter *w = p;
    w->acquire_rv = sm_cond_acquire(w->cv, LONG_MS);
    gate_open(&w->held);
    if (w->acquire_rv != SM_OK)
        return NULL;
    w->wait_rv = sm_cond_wait(w->cv, LONG_MS, &w->notified);
    if (w->wait_rv == SM_OK) {
        sm_value v = sm_value_int(w->id);
        w->append_rv = sm_list_append(w->order, &v);
    }
    w->release_rv = sm_cond_release(w->cv);
    return NULL;
}

static void
test_lock_waiters_are_granted_the_lock_in_arrival_order(void **state)
{
    (void)state;
    enum { NW = 3 };
    sm_client *c = smt_client();
    sm_lock *l = NULL;
    sm_list *order = NULL;
    static cond_waiter w[NW]; /* static: a stuck waiter must not outlive its frame */

    assert_sm_ok(sm_lock_new(c, &l));
    assert_sm_ok(sm_list_new(c, &order));
    memset(w, 0, sizeof(w));
    for (int k = 0; k < NW; k++) {
        w[k].id = k;
        w[k].order = order;
        w[k].acquire_rv = w[k].wait_rv = w[k].append_rv = w[k].release_rv = -1;
        gate_init(&w[k].held);
        assert_sm_ok(sm_cond_new(c, sm_lock_token(l), &w[k].cv));
        assert_string_equal(sm_cond_lock_token(w[k].cv), sm_lock_token(l));
    }

    /* Park waiter k on condition k: it holds the lock when its gate opens,
     * and it lets go of the lock only by parking in sm_cond_wait, so this
     * thread's acquire is granted only once waiter k is parked. */
    for (int k = 0; k < NW; k++) {
        assert_int_equal(pthread_create(&w[k].tid, NULL, cond_waiter_main, &w[k]), 0);
        assert_true(gate_wait(&w[k].held, 1));
        assert_sm_ok(w[k].acquire_rv);
        assert_sm_ok(sm_lock_acquire(l, LONG_MS));
        if (k < NW - 1)
            assert_sm_ok(sm_lock_release(l));
    }

    /* Holding the lock, make the waiters waiters for the lock: 0, 1, 2. */
    for (int k = 0; k < NW; k++)
        assert_sm_ok(sm_cond_notify(w[k].cv, 1));
    assert_list_ints(order); /* nobody has had the lock yet */
    assert_locked(l, true);

    /* The released lock goes to the first waiter, then on in order. */
    assert_sm_ok(sm_lock_release(l));
    for (int k = 0; k < NW; k++)
        smt_join_or_fail(w[k].tid, 3 * LONG_MS / 1000);
    for (int k = 0; k < NW; k++) {
        assert_sm_ok(w[k].wait_rv);
        assert_true(w[k].notified);
        assert_sm_ok(w[k].append_rv);
        assert_sm_ok(w[k].release_rv);
    }
    assert_list_ints(order, 0, 1, 2);
    assert_locked(l, false);

    for (int k = 0; k < NW; k++) {
        gate_fini(&w[k].held);
        assert_sm_ok(sm_cond_close(w[k].cv));
    }
    assert_sm_ok(sm_list_close(order));
    assert_sm_ok(sm_lock_close(l));
}

static void
test_lock_negative_timeout_other_than_forever_is_einval(void **state)
{
    (void)state;
    sm_lock *l = NULL;
    sm_rlock *r = NULL;

    assert_sm_ok(sm_lock_new(smt_client(), &l));
    assert_sm_ok(sm_rlock_new(smt_client(), &r));
    assert_sm_status(sm_lock_acquire(l, -2), SM_EINVAL);
    assert_sm_status(sm_lock_acquire(l, INT64_MIN), SM_EINVAL);
    assert_sm_status(sm_rlock_acquire(r, -2), SM_EINVAL);
    assert_sm_status(sm_rlock_acquire(r, INT64_MIN), SM_EINVAL);
    assert_locked(l, false);
    assert_rlocked(r, false);

    /* Held by this thread: still refused, and nothing changes. */
    assert_sm_ok(sm_lock_acquire(l, SM_NOWAIT));
    assert_sm_ok(sm_rlock_acquire(r, SM_NOWAIT));
    assert_sm_status(sm_lock_acquire(l, -2), SM_EINVAL);
    assert_sm_status(sm_rlock_acquire(r, -2), SM_EINVAL);
    assert_sm_ok(sm_lock_release(l));
    assert_locked(l, false);
    assert_sm_ok(sm_rlock_release(r)); /* one level only: the -2 added none */
    assert_rlocked(r, false);
    assert_sm_ok(sm_rlock_close(r));
    assert_sm_ok(sm_lock_close(l));
}

static void
test_lock_open_by_name_is_one_lock_for_every_client(void **state)
{
    (void)state;
    char name[256];
    sm_client *c2 = NULL;
    sm_lock *l = NULL, *l2 = NULL;
    sm_rlock *r = NULL;

    snprintf(name, sizeof(name), "%s", smt_name("lock.named"));
    assert_sm_ok(sm_lock_open(smt_client(), name, &l));
    assert_sm_ok(sm_client_open(&c2, smt_url(), NULL));
    assert_sm_ok(sm_lock_open(c2, name, &l2));
    assert_string_equal(sm_lock_token(l2), sm_lock_token(l));

    assert_sm_ok(sm_lock_acquire(l, SM_NOWAIT));
    assert_locked(l2, true);
    assert_sm_status(sm_lock_acquire(l2, SM_NOWAIT), SM_ETIMEDOUT);
    assert_sm_ok(sm_lock_release(l));
    assert_locked(l2, false);

    /* The name holds a lock: not an rlock, and a lock token is no rlock's. */
    assert_sm_status(sm_rlock_open(smt_client(), name, &r), SM_EWRONGTYPE);
    assert_null(r);
    assert_sm_status(sm_rlock_attach(smt_client(), sm_lock_token(l), &r), SM_EWRONGTYPE);
    assert_null(r);

    assert_sm_ok(sm_lock_close(l2));
    sm_client_close(c2);
    assert_sm_ok(sm_lock_close(l));
}

/* ---------------------------------------------------------- lock: the seed */

static int
seed_fail(const char *what, int rv, int i)
{
    fprintf(stderr, "child %ld: %s (increment %d): %s (%s): %s\n", (long)getpid(), what, i,
            sm_errname(rv), sm_strerror(rv), sm_errdetail());
    return 1;
}

/* seed_child is a child's entry (smt_spawn): argv is
 * NAME URL LOCK VAR N GO_FD. After EOF on GO_FD it makes N increments of the
 * var under the lock: acquire; get; set value + 1; release. */
static int
seed_child(int argc, char **argv)
{
    sm_client *c = NULL;
    sm_lock *l = NULL;
    sm_var *v = NULL;
    int status = 0, rv, n;
    char b;

    alarm(240); /* a hung child must not hang the test */
    if (argc != 6) {
        fprintf(stderr, "child: expected 5 arguments, got %d\n", argc - 1);
        return 99;
    }
    n = atoi(argv[4]);
    if ((rv = sm_client_open(&c, argv[1], NULL)) != SM_OK)
        return seed_fail("sm_client_open", rv, -1);
    if ((rv = sm_lock_open(c, argv[2], &l)) != SM_OK) {
        status = seed_fail("sm_lock_open", rv, -1);
        goto out;
    }
    if ((rv = sm_var_open(c, argv[3], NULL, &v)) != SM_OK) {
        status = seed_fail("sm_var_open", rv, -1);
        goto out;
    }
    while (read(atoi(argv[5]), &b, 1) < 0 && errno == EINTR)
        ;
    for (int i = 0; i < n; i++) {
        sm_value cur = sm_value_nil();
        if ((rv = sm_lock_acquire(l, SM_WAIT_FOREVER)) != SM_OK) {
            status = seed_fail("sm_lock_acquire", rv, i);
            break;
        }
        if ((rv = sm_var_get(v, &cur)) != SM_OK || cur.type != SM_INT) {
            status = seed_fail("sm_var_get (or not an int)", rv, i);
            break;
        }
        sm_value next = sm_value_int(cur.u.i + 1);
        if ((rv = sm_var_set(v, &next)) != SM_OK) {
            status = seed_fail("sm_var_set", rv, i);
            break;
        }
        if ((rv = sm_lock_release(l)) != SM_OK) {
            status = seed_fail("sm_lock_release", rv, i);
            break;
        }
    }
out:
    sm_var_close(v);
    sm_lock_close(l);
    sm_client_close(c);
    return status;
}

static const smt_child children[] = {{"seed", seed_child}};

static void
test_lock_seed_four_processes_increment_a_var_under_a_lock(void **state)
{
    (void)state;
    char lname[256], vname[256], url[512], n_arg[32], go_arg[32];
    sm_lock *l = NULL;
    sm_var *v = NULL;
    sm_value zero = sm_value_int(0);
    sm_value got = sm_value_nil();
    pid_t pids[SEED_PROCS];
    int go[2], fl;

    snprintf(lname, sizeof(lname), "%s", smt_name("lock.seed"));
    snprintf(vname, sizeof(vname), "%s", smt_name("lock.seed.var"));
    snprintf(url, sizeof(url), "%s", smt_url());
    snprintf(n_arg, sizeof(n_arg), "%d", SEED_INCRS);
    assert_sm_ok(sm_lock_open(smt_client(), lname, &l));
    assert_sm_ok(sm_var_open(smt_client(), vname, &zero, &v));

    /* The go pipe's read end survives the children's exec, its write end
     * does not: closing it here starts every child at once. */
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    fl = fcntl(go[0], F_GETFD);
    assert_int_equal(fcntl(go[0], F_SETFD, fl & ~FD_CLOEXEC), 0);
    snprintf(go_arg, sizeof(go_arg), "%d", go[0]);
    for (int k = 0; k < SEED_PROCS; k++)
        pids[k] = smt_spawn("seed", url, lname, vname, n_arg, go_arg, NULL);
    close(go[0]);
    close(go[1]);
    for (int k = 0; k < SEED_PROCS; k++)
        smt_wait_child(pids[k]);

    assert_sm_ok(sm_var_get(v, &got));
    assert_int_equal(got.type, SM_INT);
    assert_int_equal(got.u.i, SEED_PROCS * SEED_INCRS);
    assert_locked(l, false);
    assert_sm_ok(sm_var_close(v));
    assert_sm_ok(sm_lock_close(l));
}

/* ------------------------------------------------------------------ rlock */

static void
test_rlock_owner_reacquires_and_must_release_as_many_times(void **state)
{
    (void)state;
    sm_rlock *r = NULL;

    assert_sm_ok(sm_rlock_new(smt_client(), &r));
    assert_rlocked(r, false);
    assert_sm_ok(sm_rlock_acquire(r, SM_NOWAIT));
    assert_sm_ok(sm_rlock_acquire(r, SM_NOWAIT)); /* the owner: no wait */
    assert_sm_ok(sm_rlock_acquire(r, LONG_MS));
    assert_rlocked(r, true);

    assert_sm_ok(sm_rlock_release(r));
    assert_rlocked(r, true);
    assert_sm_ok(sm_rlock_release(r));
    assert_rlocked(r, true);
    assert_sm_ok(sm_rlock_release(r));
    assert_rlocked(r, false);
    assert_sm_status(sm_rlock_release(r), SM_ENOTOWNER);
    assert_rlocked(r, false);

    /* Counting starts afresh. */
    assert_sm_ok(sm_rlock_acquire(r, SM_NOWAIT));
    assert_sm_ok(sm_rlock_release(r));
    assert_rlocked(r, false);
    assert_sm_ok(sm_rlock_close(r));
}

static void
test_rlock_another_thread_cannot_acquire_until_the_last_release(void **state)
{
    (void)state;
    sm_rlock *r = NULL;
    int64_t took = 0;

    assert_sm_ok(sm_rlock_new(smt_client(), &r));
    assert_sm_ok(sm_rlock_acquire(r, SM_NOWAIT));
    assert_sm_ok(sm_rlock_acquire(r, SM_NOWAIT));

    assert_sm_status(in_other_thread(op_rlock_nowait, r, &took), SM_ETIMEDOUT);
    assert_true(took < MS_NS(AT_ONCE_MAX_MS));
    assert_sm_status(in_other_thread(op_rlock_timed, r, &took), SM_ETIMEDOUT);
    if (took < MS_NS(TIMED_MS) || took >= MS_NS(TIMED_MAX_MS))
        fail_msg("a %d ms acquire answered after %.1f ms", TIMED_MS, (double)took / 1e6);

    assert_sm_ok(sm_rlock_release(r)); /* one level left */
    assert_rlocked(r, true);
    assert_sm_status(in_other_thread(op_rlock_nowait, r, NULL), SM_ETIMEDOUT);

    assert_sm_ok(sm_rlock_release(r));
    assert_rlocked(r, false);
    assert_sm_ok(in_other_thread(op_rlock_take_and_give, r, NULL));
    assert_rlocked(r, false);
    assert_sm_ok(sm_rlock_close(r));
}

static void
test_rlock_release_by_another_thread_is_enotowner_and_keeps_every_level(void **state)
{
    (void)state;
    sm_rlock *r = NULL;

    assert_sm_ok(sm_rlock_new(smt_client(), &r));
    assert_sm_ok(sm_rlock_acquire(r, SM_NOWAIT));
    assert_sm_ok(sm_rlock_acquire(r, SM_NOWAIT));

    assert_sm_status(in_other_thread(op_rlock_release, r, NULL), SM_ENOTOWNER);
    assert_rlocked(r, true);

    /* Both levels are still this thread's. */
    assert_sm_ok(sm_rlock_release(r));
    assert_rlocked(r, true);
    assert_sm_ok(sm_rlock_release(r));
    assert_rlocked(r, false);
    assert_sm_status(in_other_thread(op_rlock_release, r, NULL), SM_ENOTOWNER);
    assert_sm_ok(sm_rlock_close(r));
}

static void
test_rlock_release_by_another_client_or_unlocked_is_enotowner(void **state)
{
    (void)state;
    sm_client *c2 = NULL;
    sm_rlock *r = NULL, *r2 = NULL;

    assert_sm_ok(sm_rlock_new(smt_client(), &r));
    assert_sm_status(sm_rlock_release(r), SM_ENOTOWNER);

    assert_sm_ok(sm_client_open(&c2, smt_url(), NULL));
    assert_sm_ok(sm_rlock_attach(c2, sm_rlock_token(r), &r2));
    assert_string_equal(sm_rlock_token(r2), sm_rlock_token(r));
    assert_sm_ok(sm_rlock_acquire(r, SM_NOWAIT));
    /* This thread on another client is another owner: no re-entry. */
    assert_sm_status(sm_rlock_acquire(r2, SM_NOWAIT), SM_ETIMEDOUT);
    assert_sm_status(sm_rlock_release(r2), SM_ENOTOWNER);
    assert_rlocked(r2, true);
    assert_sm_ok(sm_rlock_release(r));
    assert_rlocked(r2, false);

    assert_sm_ok(sm_rlock_close(r2));
    sm_client_close(c2);
    assert_sm_ok(sm_rlock_close(r));
}

/* A lock's holder and an rlock's are independent, and neither is the
 * other's type. */
static void
test_rlock_and_lock_are_distinct_types(void **state)
{
    (void)state;
    char name[256];
    sm_rlock *r = NULL, *r2 = NULL;
    sm_lock *l = NULL;

    snprintf(name, sizeof(name), "%s", smt_name("rlock.named"));
    assert_sm_ok(sm_rlock_open(smt_client(), name, &r));
    assert_sm_ok(sm_rlock_open(smt_client(), name, &r2));
    assert_string_equal(sm_rlock_token(r2), sm_rlock_token(r));
    assert_sm_ok(sm_rlock_acquire(r, SM_NOWAIT));
    assert_rlocked(r2, true);
    assert_sm_ok(sm_rlock_acquire(r2, SM_NOWAIT)); /* same thread, same client */
    assert_sm_ok(sm_rlock_release(r));
    assert_rlocked(r2, true);
    assert_sm_ok(sm_rlock_release(r2));
    assert_rlocked(r, false);

    assert_sm_status(sm_lock_open(smt_client(), name, &l), SM_EWRONGTYPE);
    assert_null(l);
    assert_sm_status(sm_lock_attach(smt_client(), sm_rlock_token(r), &l), SM_EWRONGTYPE);
    assert_null(l);
    assert_sm_ok(sm_rlock_close(r2));
    assert_sm_ok(sm_rlock_close(r));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_lock_acquire_release_and_locked),
    cmocka_unit_test(test_lock_nowait_on_held_lock_times_out_at_once),
    cmocka_unit_test(test_lock_timed_acquire_on_lock_held_by_another_thread_times_out),
    cmocka_unit_test(test_lock_timed_acquire_by_the_holder_times_out),
    cmocka_unit_test(test_lock_release_by_another_thread_is_enotowner_and_keeps_it_held),
    cmocka_unit_test(test_lock_release_by_another_client_is_enotowner_and_keeps_it_held),
    cmocka_unit_test(test_lock_release_of_unlocked_lock_is_enotowner),
    cmocka_unit_test(test_lock_release_hands_the_lock_to_a_waiter),
    cmocka_unit_test(test_lock_waiters_are_granted_the_lock_in_arrival_order),
    cmocka_unit_test(test_lock_negative_timeout_other_than_forever_is_einval),
    cmocka_unit_test(test_lock_open_by_name_is_one_lock_for_every_client),
    cmocka_unit_test(test_lock_seed_four_processes_increment_a_var_under_a_lock),
    cmocka_unit_test(test_rlock_owner_reacquires_and_must_release_as_many_times),
    cmocka_unit_test(test_rlock_another_thread_cannot_acquire_until_the_last_release),
    cmocka_unit_test(test_rlock_release_by_another_thread_is_enotowner_and_keeps_every_level),
    cmocka_unit_test(test_rlock_release_by_another_client_or_unlocked_is_enotowner),
    cmocka_unit_test(test_rlock_and_lock_are_distinct_types),
};

int
main(int argc, char **argv)
{
    return SMT_MAIN_CHILDREN("lock", tests, children);
}
