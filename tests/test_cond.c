/* test_cond.c - sm_cond, Python's Condition: ownership checks on wait and
 * notify, a wait that times out (measured on CLOCK_MONOTONIC) and still
 * returns holding the lock, notify(1) waking the longest waiting of two,
 * notify_all waking all, a notified waiter holding the lock when its wait
 * returns, the bound lock (an explicit lock, an explicit rlock, or the
 * condition's own rlock) and its token, and waits on an rlock held twice.
 *
 * Actors. Lock ownership is per thread, and sm_cond_wait has no transport
 * deadline (after its timeout it must still get the lock back, however
 * long that takes), so a server that never answers a wait would hang the
 * thread that called it. Every wait therefore runs on an actor: a thread
 * of its own that makes the calls the main thread hands it, one at a time,
 * and is waited for at most 3 * LONG_MS (then the test fails; a stuck actor
 * is leaked, never freed under its own feet). The actor is one owner of
 * the lock, the main thread another. Actors never call cmocka.
 *
 * Ordering without sleeps: an actor takes the lock, and is then handed a
 * wait (actor_post, which does not wait for the answer). sm_cond_wait
 * releases the lock in the same server step that parks the caller on the
 * condition, so the main thread's own acquire of that lock, made after the
 * post, is granted only once the actor is parked (park). Actors parked one
 * after the other that way have a known order on the condition. */
#include "smt.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LONG_MS 10000      /* bound for waits that must succeed */
#define TIMED_MS 200       /* the timed wait of the timeout tests */
#define TIMED_MAX_MS 1000  /* ... must be answered before this */
#define AT_ONCE_MAX_MS 500 /* a refusal comes well before this */
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- helpers */

#define MS_NS(ms) ((int64_t)(ms) * 1000000)

/* The inputs and outputs of an actor's calls. */
typedef struct call_args {
    sm_cond *cv;
    sm_lock *l;
    sm_rlock *r;
    sm_list *order; /* op_wait_append_release appends id here, if set */
    int64_t id;
    int64_t ms; /* timeout of acquire and wait */
    bool notified;
} call_args;

typedef int (*actor_fn)(call_args *x);

/* An actor: a thread that runs the calls posted to it, in order. */
typedef struct actor {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    actor_fn fn;
    int posted, done; /* calls posted and finished */
    bool quit;
    int rv;           /* of the last call */
    int64_t took_ns;  /* ... and how long it took */
    call_args x;
} actor;

static void *
actor_main(void *p)
{
    actor *a = p;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (a->done == a->posted && !a->quit)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->done == a->posted)
            break;
        actor_fn fn = a->fn;
        pthread_mutex_unlock(&a->mu);
        int64_t t0 = smt_now_ns();
        int rv = fn(&a->x);
        int64_t took = smt_now_ns() - t0;
        pthread_mutex_lock(&a->mu);
        a->rv = rv;
        a->took_ns = took;
        a->done++;
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* actor_start makes an actor for condition cv (x.ms = LONG_MS). */
static actor *
actor_start(sm_cond *cv)
{
    actor *a = calloc(1, sizeof(*a));
    assert_non_null(a);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    a->x.cv = cv;
    a->x.ms = LONG_MS;
    assert_int_equal(pthread_create(&a->tid, NULL, actor_main, a), 0);
    return a;
}

/* actor_post hands a call to a without waiting for it. */
static void
actor_post(actor *a, actor_fn fn)
{
    pthread_mutex_lock(&a->mu);
    bool idle = a->done == a->posted;
    if (idle) {
        a->fn = fn;
        a->posted++;
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    assert_true(idle); /* one call at a time */
}

/* actor_result waits for a's call to finish, at most 3 * LONG_MS, and
 * returns its status; *took_ns (may be NULL) gets how long it took. */
static int
actor_result_(actor *a, int64_t *took_ns, const char *file, int line)
{
    struct timespec dl;
    int rc = 0;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 3 * LONG_MS / 1000;
    pthread_mutex_lock(&a->mu);
    while (a->done != a->posted && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&a->cv, &a->mu, &dl);
    bool finished = a->done == a->posted;
    int rv = a->rv;
    int64_t took = a->took_ns;
    pthread_mutex_unlock(&a->mu);
    if (!finished) {
        print_error("an actor's call did not return within %d ms\n", 3 * LONG_MS);
        _fail(file, line);
    }
    if (took_ns != NULL)
        *took_ns = took;
    return rv;
}
#define actor_result(a, took_ns) actor_result_((a), (took_ns), __FILE__, __LINE__)

static int
actor_do_(actor *a, actor_fn fn, const char *file, int line)
{
    actor_post(a, fn);
    return actor_result_(a, NULL, file, line);
}
#define actor_do(a, fn) actor_do_((a), (fn), __FILE__, __LINE__)

/* actor_stop ends an idle actor and frees it. */
static void
actor_stop(actor *a)
{
    struct timespec dl;
    pthread_mutex_lock(&a->mu);
    a->quit = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 3 * LONG_MS / 1000;
    assert_int_equal(pthread_timedjoin_np(a->tid, NULL, &dl), 0);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

static int
op_acquire(call_args *x)
{
    return sm_cond_acquire(x->cv, x->ms);
}

static int
op_acquire_nowait(call_args *x)
{
    return sm_cond_acquire(x->cv, SM_NOWAIT);
}

static int
op_release(call_args *x)
{
    return sm_cond_release(x->cv);
}

/* op_take_and_give acquires (SM_NOWAIT) and, if that worked, releases:
 * SM_OK only if both did, so the actor does not end up holding the lock. */
static int
op_take_and_give(call_args *x)
{
    int rv = sm_cond_acquire(x->cv, SM_NOWAIT);
    return rv != SM_OK ? rv : sm_cond_release(x->cv);
}

static int
op_wait(call_args *x)
{
    return sm_cond_wait(x->cv, x->ms, &x->notified);
}

static int
op_wait_no_flag(call_args *x)
{
    return sm_cond_wait(x->cv, x->ms, NULL);
}

/* op_wait_append_release waits and, holding the lock again, appends its id
 * to x->order (if set) and releases: the first failure's status. */
static int
op_wait_append_release(call_args *x)
{
    int rv = sm_cond_wait(x->cv, x->ms, &x->notified);
    if (rv != SM_OK)
        return rv;
    if (x->order != NULL) {
        sm_value v = sm_value_int(x->id);
        rv = sm_list_append(x->order, &v);
    }
    int rv2 = sm_cond_release(x->cv);
    return rv != SM_OK ? rv : rv2;
}

static int
op_notify_one(call_args *x)
{
    return sm_cond_notify(x->cv, 1);
}

static int
op_notify_all(call_args *x)
{
    return sm_cond_notify_all(x->cv);
}

static int
op_lock_acquire_nowait(call_args *x)
{
    return sm_lock_acquire(x->l, SM_NOWAIT);
}

static int
op_rlock_acquire_nowait(call_args *x)
{
    return sm_rlock_acquire(x->r, SM_NOWAIT);
}

static int
op_rlock_release(call_args *x)
{
    return sm_rlock_release(x->r);
}

/* in_other_thread runs fn on a fresh actor for cv and returns its status. */
static int
in_other_thread(actor_fn fn, sm_cond *cv)
{
    actor *a = actor_start(cv);
    int rv = actor_do(a, fn);
    actor_stop(a);
    return rv;
}

/* park makes actor a take its condition's lock and wait (ending with
 * `then`), and returns once a is parked, with this thread holding the lock
 * (see the file comment). */
static void
park(actor *a, actor_fn then)
{
    assert_sm_ok(actor_do(a, op_acquire));
    actor_post(a, then);
    assert_sm_ok(sm_cond_acquire(a->x.cv, LONG_MS));
}

/* assert_woken waits for a parked actor's wait and asserts it was notified. */
static void
assert_woken_(actor *a, const char *file, int line)
{
    smt_assert_status(actor_result_(a, NULL, file, line), SM_OK, "the actor's wait", file,
                      line);
    if (!a->x.notified) {
        print_error("the actor's wait returned not notified\n");
        _fail(file, line);
    }
}
#define assert_woken(a) assert_woken_((a), __FILE__, __LINE__)

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
        for (size_t i = 0; i < got_n; i++)
            print_error(" %" PRId64, vals[i].type == SM_INT ? vals[i].u.i : -999);
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
#define assert_list_empty(l) assert_list_ints_((l), NULL, 0, __FILE__, __LINE__)

static void
assert_lock_locked_(sm_lock *l, bool want, const char *file, int line)
{
    bool got = !want;
    smt_assert_status(sm_lock_locked(l, &got), SM_OK, "sm_lock_locked", file, line);
    if (got != want) {
        print_error("sm_lock_locked says %s\n", got ? "true" : "false");
        _fail(file, line);
    }
}
#define assert_lock_locked(l, want) assert_lock_locked_((l), (want), __FILE__, __LINE__)

static void
assert_rlock_locked_(sm_rlock *r, bool want, const char *file, int line)
{
    bool got = !want;
    smt_assert_status(sm_rlock_locked(r, &got), SM_OK, "sm_rlock_locked", file, line);
    if (got != want) {
        print_error("sm_rlock_locked says %s\n", got ? "true" : "false");
        _fail(file, line);
    }
}
#define assert_rlock_locked(r, want) assert_rlock_locked_((r), (want), __FILE__, __LINE__)

static void
assert_took_timeout_(int64_t took, const char *file, int line)
{
    if (took >= MS_NS(TIMED_MS) && took < MS_NS(TIMED_MAX_MS))
        return;
    print_error("a %d ms wait answered after %.1f ms\n", TIMED_MS, (double)took / 1e6);
    _fail(file, line);
}
#define assert_took_timeout(took) assert_took_timeout_((took), __FILE__, __LINE__)

static bool
has_prefix(const char *s, const char *prefix)
{
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ------------------------------------------------------------------ tests */

static void
test_cond_wait_and_notify_without_the_lock_are_enotowner(void **state)
{
    (void)state;
    sm_cond *cv = NULL;
    actor *w, *h;
    int64_t took = 0;

    assert_sm_ok(sm_cond_new(smt_client(), NULL, &cv));
    w = actor_start(cv);
    h = actor_start(cv);

    /* Nobody holds the lock. */
    w->x.ms = 2 * AT_ONCE_MAX_MS;
    w->x.notified = true;
    actor_post(w, op_wait);
    assert_sm_status(actor_result(w, &took), SM_ENOTOWNER);
    assert_true(took < MS_NS(AT_ONCE_MAX_MS)); /* no waiting */
    assert_true(w->x.notified);                /* untouched on failure */
    assert_sm_status(sm_cond_notify(cv, 1), SM_ENOTOWNER);
    assert_sm_status(sm_cond_notify_all(cv), SM_ENOTOWNER);
    assert_sm_status(sm_cond_release(cv), SM_ENOTOWNER);

    /* Another thread holds it. */
    assert_sm_ok(actor_do(h, op_acquire_nowait));
    actor_post(w, op_wait);
    assert_sm_status(actor_result(w, &took), SM_ENOTOWNER);
    assert_true(took < MS_NS(AT_ONCE_MAX_MS));
    assert_true(w->x.notified);
    assert_sm_status(actor_do(w, op_notify_one), SM_ENOTOWNER);
    assert_sm_status(actor_do(w, op_notify_all), SM_ENOTOWNER);
    assert_sm_status(actor_do(w, op_release), SM_ENOTOWNER);
    /* Nothing happened: the other thread still holds the lock. */
    assert_sm_status(sm_cond_acquire(cv, SM_NOWAIT), SM_ETIMEDOUT);
    assert_sm_ok(actor_do(h, op_release));

    assert_sm_ok(actor_do(w, op_take_and_give));
    actor_stop(h);
    actor_stop(w);
    assert_sm_ok(sm_cond_close(cv));
}

/* check_wait_timeout: a timed wait nobody notifies returns SM_OK, not
 * notified, no sooner than its timeout, holding the lock again. */
static void
check_wait_timeout(sm_cond *cv)
{
    actor *w = actor_start(cv);
    int64_t took = 0;

    assert_sm_ok(actor_do(w, op_acquire_nowait));
    w->x.ms = TIMED_MS;
    w->x.notified = true;
    actor_post(w, op_wait);
    assert_sm_ok(actor_result(w, &took));
    assert_false(w->x.notified);
    assert_took_timeout(took);

    /* Held again, by the waiter. */
    assert_sm_status(sm_cond_acquire(cv, SM_NOWAIT), SM_ETIMEDOUT);
    assert_sm_ok(actor_do(w, op_release));
    assert_sm_status(actor_do(w, op_release), SM_ENOTOWNER); /* held once */
    assert_sm_ok(sm_cond_acquire(cv, SM_NOWAIT));
    assert_sm_ok(sm_cond_release(cv));

    /* notified may be NULL. */
    assert_sm_ok(actor_do(w, op_acquire_nowait));
    w->x.ms = 1;
    assert_sm_ok(actor_do(w, op_wait_no_flag));
    assert_sm_ok(actor_do(w, op_release));
    actor_stop(w);
}

static void
test_cond_wait_timeout_returns_not_notified_holding_its_own_rlock(void **state)
{
    (void)state;
    sm_cond *cv = NULL;

    assert_sm_ok(sm_cond_new(smt_client(), NULL, &cv));
    check_wait_timeout(cv);
    assert_sm_ok(sm_cond_close(cv));
}

static void
test_cond_wait_timeout_returns_not_notified_holding_an_explicit_lock(void **state)
{
    (void)state;
    sm_lock *l = NULL;
    sm_cond *cv = NULL;

    assert_sm_ok(sm_lock_new(smt_client(), &l));
    assert_sm_ok(sm_cond_new(smt_client(), sm_lock_token(l), &cv));
    check_wait_timeout(cv);
    assert_lock_locked(l, false);
    assert_sm_ok(sm_cond_close(cv));
    assert_sm_ok(sm_lock_close(l));
}

static void
test_cond_negative_timeout_other_than_forever_is_einval(void **state)
{
    (void)state;
    sm_cond *cv = NULL;
    actor *w;

    assert_sm_ok(sm_cond_new(smt_client(), NULL, &cv));
    w = actor_start(cv);
    w->x.ms = -2;
    assert_sm_status(actor_do(w, op_acquire), SM_EINVAL);
    assert_sm_ok(sm_cond_acquire(cv, SM_NOWAIT)); /* nobody took it */
    assert_sm_ok(sm_cond_release(cv));

    /* A wait with a bad timeout, the lock held: refused, still held. */
    assert_sm_ok(actor_do(w, op_acquire_nowait));
    w->x.notified = true;
    assert_sm_status(actor_do(w, op_wait), SM_EINVAL);
    assert_true(w->x.notified);
    w->x.ms = INT64_MIN;
    assert_sm_status(actor_do(w, op_wait), SM_EINVAL);
    assert_sm_status(sm_cond_acquire(cv, SM_NOWAIT), SM_ETIMEDOUT);
    assert_sm_ok(actor_do(w, op_release));
    assert_sm_status(actor_do(w, op_release), SM_ENOTOWNER);
    actor_stop(w);
    assert_sm_ok(sm_cond_close(cv));
}

static void
test_cond_notify_one_wakes_only_the_longest_waiting_of_two(void **state)
{
    (void)state;
    sm_client *c = smt_client();
    sm_cond *cv = NULL;
    sm_list *order = NULL;
    actor *w[2];

    assert_sm_ok(sm_cond_new(c, NULL, &cv));
    assert_sm_ok(sm_list_new(c, &order));
    for (int k = 0; k < 2; k++) {
        w[k] = actor_start(cv);
        w[k]->x.id = k;
        w[k]->x.order = order;
        park(w[k], op_wait_append_release); /* in this order; we hold the lock */
        if (k == 0)
            assert_sm_ok(sm_cond_release(cv));
    }

    assert_sm_ok(sm_cond_notify(cv, 1));
    assert_sm_ok(sm_cond_release(cv));
    assert_woken(w[0]);

    /* Had waiter 1 been woken too, it would have queued for the lock at
     * that notify, ahead of this acquire, and appended and released before
     * this is granted. */
    assert_sm_ok(sm_cond_acquire(cv, LONG_MS));
    assert_list_ints(order, 0);

    assert_sm_ok(sm_cond_notify(cv, 1));
    assert_sm_ok(sm_cond_release(cv));
    assert_woken(w[1]);
    assert_list_ints(order, 0, 1);

    /* Nobody is waiting now: a notify is a no-op. */
    assert_sm_ok(sm_cond_acquire(cv, SM_NOWAIT));
    assert_sm_ok(sm_cond_notify(cv, 1));
    assert_sm_ok(sm_cond_notify_all(cv));
    assert_sm_ok(sm_cond_release(cv));
    actor_stop(w[0]);
    actor_stop(w[1]);
    assert_sm_ok(sm_list_close(order));
    assert_sm_ok(sm_cond_close(cv));
}

static void
test_cond_notify_all_wakes_every_waiter(void **state)
{
    (void)state;
    enum { NW = 3 };
    sm_client *c = smt_client();
    sm_cond *cv = NULL;
    sm_list *order = NULL;
    actor *w[NW];

    assert_sm_ok(sm_cond_new(c, NULL, &cv));
    assert_sm_ok(sm_list_new(c, &order));
    for (int k = 0; k < NW; k++) {
        w[k] = actor_start(cv);
        w[k]->x.id = k;
        w[k]->x.order = order;
        park(w[k], op_wait_append_release);
        if (k < NW - 1)
            assert_sm_ok(sm_cond_release(cv));
    }
    assert_sm_ok(sm_cond_notify_all(cv));
    assert_list_empty(order); /* they need the lock, which is ours */
    assert_sm_ok(sm_cond_release(cv));
    for (int k = 0; k < NW; k++)
        assert_woken(w[k]);
    /* Woken the longest waiting first, they had the lock in that order. */
    assert_list_ints(order, 0, 1, 2);
    assert_sm_ok(in_other_thread(op_take_and_give, cv));
    for (int k = 0; k < NW; k++)
        actor_stop(w[k]);
    assert_sm_ok(sm_list_close(order));
    assert_sm_ok(sm_cond_close(cv));
}

static void
test_cond_notify_of_fewer_than_one_is_einval(void **state)
{
    (void)state;
    sm_cond *cv = NULL;
    actor *w;

    assert_sm_ok(sm_cond_new(smt_client(), NULL, &cv));
    w = actor_start(cv);
    park(w, op_wait_append_release);
    assert_sm_status(sm_cond_notify(cv, 0), SM_EINVAL);
    assert_sm_status(sm_cond_notify(cv, -1), SM_EINVAL);
    assert_sm_status(sm_cond_notify(cv, INT64_MIN), SM_EINVAL);
    /* The waiter is still parked: this notify is what wakes it. */
    assert_sm_ok(sm_cond_notify(cv, 1));
    assert_sm_ok(sm_cond_release(cv));
    assert_woken(w);
    actor_stop(w);
    assert_sm_ok(sm_cond_close(cv));
}

static void
test_cond_notified_waiter_holds_the_lock_when_wait_returns(void **state)
{
    (void)state;
    sm_client *c = smt_client();
    sm_lock *l = NULL;
    sm_cond *cv = NULL;
    actor *w;

    assert_sm_ok(sm_lock_new(c, &l));
    assert_sm_ok(sm_cond_new(c, sm_lock_token(l), &cv));
    w = actor_start(cv);
    park(w, op_wait);
    assert_sm_ok(sm_cond_notify(cv, 1));
    assert_sm_ok(sm_cond_release(cv));

    /* The waiter's wait has returned, and it has not released. */
    assert_woken(w);
    assert_lock_locked(l, true);
    assert_sm_status(sm_cond_acquire(cv, SM_NOWAIT), SM_ETIMEDOUT);
    assert_sm_status(sm_lock_acquire(l, SM_NOWAIT), SM_ETIMEDOUT);
    assert_sm_status(sm_lock_release(l), SM_ENOTOWNER);

    assert_sm_ok(actor_do(w, op_release)); /* it was the holder */
    assert_lock_locked(l, false);
    actor_stop(w);
    assert_sm_ok(sm_cond_close(cv));
    assert_sm_ok(sm_lock_close(l));
}

static void
test_cond_on_an_explicit_lock_reports_and_uses_that_lock(void **state)
{
    (void)state;
    sm_client *c = smt_client();
    sm_lock *l = NULL;
    sm_cond *cv = NULL, *cv2 = NULL;
    actor *w;

    assert_sm_ok(sm_lock_new(c, &l));
    assert_sm_ok(sm_cond_new(c, sm_lock_token(l), &cv));
    assert_non_null(sm_cond_token(cv));
    assert_string_equal(sm_cond_lock_token(cv), sm_lock_token(l));
    assert_true(has_prefix(sm_cond_lock_token(cv), "sm:lock:"));

    /* The condition's acquire takes that very lock, for this thread: the
     * lock proxy sees it held and may release it. */
    assert_sm_ok(sm_cond_acquire(cv, SM_NOWAIT));
    assert_lock_locked(l, true);
    assert_sm_status(sm_lock_acquire(l, SM_NOWAIT), SM_ETIMEDOUT); /* not re-entrant */
    assert_sm_status(sm_cond_acquire(cv, SM_NOWAIT), SM_ETIMEDOUT);
    assert_sm_ok(sm_lock_release(l));
    assert_lock_locked(l, false);
    assert_sm_status(sm_cond_release(cv), SM_ENOTOWNER);

    /* And the other way round: a lock taken through its proxy lets its
     * holder wait on the condition, and have it back after. */
    w = actor_start(cv);
    w->x.l = l;
    w->x.ms = 1;
    assert_sm_ok(actor_do(w, op_lock_acquire_nowait));
    assert_sm_ok(actor_do(w, op_wait_no_flag));
    assert_lock_locked(l, true);
    assert_sm_status(sm_lock_acquire(l, SM_NOWAIT), SM_ETIMEDOUT);
    assert_sm_ok(actor_do(w, op_release));
    assert_lock_locked(l, false);
    actor_stop(w);

    /* A proxy attached by token reports the same lock. */
    assert_sm_ok(sm_cond_attach(c, sm_cond_token(cv), &cv2));
    assert_string_equal(sm_cond_token(cv2), sm_cond_token(cv));
    assert_string_equal(sm_cond_lock_token(cv2), sm_lock_token(l));
    assert_sm_ok(sm_cond_acquire(cv2, SM_NOWAIT));
    assert_lock_locked(l, true);
    assert_sm_ok(sm_cond_release(cv));
    assert_lock_locked(l, false);
    assert_sm_ok(sm_cond_close(cv2));
    assert_sm_ok(sm_cond_close(cv));
    assert_sm_ok(sm_lock_close(l));
}

static void
test_cond_without_a_lock_has_an_rlock_of_its_own(void **state)
{
    (void)state;
    sm_client *c = smt_client();
    sm_cond *cv = NULL, *cv2 = NULL;
    sm_rlock *r = NULL;

    assert_sm_ok(sm_cond_new(c, NULL, &cv));
    assert_true(has_prefix(sm_cond_lock_token(cv), "sm:rlock:"));
    assert_sm_ok(sm_rlock_attach(c, sm_cond_lock_token(cv), &r));
    assert_string_equal(sm_rlock_token(r), sm_cond_lock_token(cv));

    assert_rlock_locked(r, false);
    assert_sm_ok(sm_cond_acquire(cv, SM_NOWAIT));
    assert_sm_ok(sm_cond_acquire(cv, SM_NOWAIT)); /* re-entrant */
    assert_rlock_locked(r, true);
    assert_sm_status(in_other_thread(op_acquire_nowait, cv), SM_ETIMEDOUT);
    assert_sm_ok(sm_cond_release(cv));
    assert_rlock_locked(r, true);
    assert_sm_ok(sm_rlock_release(r)); /* the same owner, through the rlock */
    assert_rlock_locked(r, false);
    assert_sm_status(sm_cond_release(cv), SM_ENOTOWNER);

    /* Each condition made without a lock has its own. */
    assert_sm_ok(sm_cond_new(c, NULL, &cv2));
    assert_true(has_prefix(sm_cond_lock_token(cv2), "sm:rlock:"));
    assert_string_not_equal(sm_cond_lock_token(cv2), sm_cond_lock_token(cv));
    assert_sm_ok(sm_cond_acquire(cv, SM_NOWAIT));
    assert_sm_ok(in_other_thread(op_take_and_give, cv2));
    assert_sm_ok(sm_cond_release(cv));
    assert_sm_ok(sm_cond_close(cv2));

    assert_sm_ok(sm_rlock_close(r));
    assert_sm_ok(sm_cond_close(cv));
}

static void
test_cond_open_existing_name_ignores_the_lock_given(void **state)
{
    (void)state;
    char name[256];
    sm_client *c = smt_client();
    sm_lock *l = NULL, *other = NULL;
    sm_cond *cv = NULL, *cv2 = NULL, *cv3 = NULL;

    snprintf(name, sizeof(name), "%s", smt_name("cond.named"));
    assert_sm_ok(sm_lock_new(c, &l));
    assert_sm_ok(sm_lock_new(c, &other));
    assert_sm_ok(sm_cond_open(c, name, sm_lock_token(l), &cv));
    assert_string_equal(sm_cond_lock_token(cv), sm_lock_token(l));
    assert_sm_ok(sm_cond_open(c, name, sm_lock_token(other), &cv2));
    assert_string_equal(sm_cond_token(cv2), sm_cond_token(cv));
    assert_string_equal(sm_cond_lock_token(cv2), sm_lock_token(l));
    assert_sm_ok(sm_cond_open(c, name, NULL, &cv3));
    assert_string_equal(sm_cond_lock_token(cv3), sm_lock_token(l));

    assert_sm_ok(sm_cond_acquire(cv3, SM_NOWAIT));
    assert_lock_locked(l, true);
    assert_lock_locked(other, false);
    assert_sm_ok(sm_lock_release(l));

    assert_sm_ok(sm_cond_close(cv3));
    assert_sm_ok(sm_cond_close(cv2));
    assert_sm_ok(sm_cond_close(cv));
    assert_sm_ok(sm_lock_close(other));
    assert_sm_ok(sm_lock_close(l));
}

static void
test_cond_lock_token_of_another_type_is_ewrongtype(void **state)
{
    (void)state;
    sm_client *c = smt_client();
    sm_dict *d = NULL;
    sm_sem *s = NULL;
    sm_cond *cv = NULL;

    assert_sm_ok(sm_dict_new(c, &d));
    assert_sm_status(sm_cond_new(c, sm_dict_token(d), &cv), SM_EWRONGTYPE);
    assert_null(cv);
    assert_sm_ok(sm_sem_new(c, 1, false, &s));
    assert_sm_status(sm_cond_new(c, sm_sem_token(s), &cv), SM_EWRONGTYPE);
    assert_null(cv);
    assert_sm_status(sm_cond_new(c, "not a token", &cv), SM_EINVAL);
    assert_null(cv);
    assert_sm_ok(sm_sem_close(s));
    assert_sm_ok(sm_dict_close(d));
}

static void
test_cond_wait_on_an_rlock_held_twice_releases_and_restores_both_levels(void **state)
{
    (void)state;
    sm_client *c = smt_client();
    sm_cond *cv = NULL;
    sm_rlock *r = NULL;
    actor *w;

    assert_sm_ok(sm_cond_new(c, NULL, &cv));
    assert_sm_ok(sm_rlock_attach(c, sm_cond_lock_token(cv), &r));
    w = actor_start(cv);
    w->x.r = r;
    /* Two levels, one through the condition and one through the rlock's
     * own proxy: the same owner. */
    assert_sm_ok(actor_do(w, op_acquire_nowait));
    assert_sm_ok(actor_do(w, op_rlock_acquire_nowait));
    actor_post(w, op_wait);

    /* This thread can take the rlock only once the wait has let go of both
     * levels; its notify then ends the wait. Had the wait kept a level,
     * this acquire would time out. */
    assert_sm_ok(sm_cond_acquire(cv, LONG_MS));
    assert_sm_ok(sm_cond_notify(cv, 1));
    assert_sm_ok(sm_cond_release(cv));
    assert_woken(w);

    /* Both levels are back: one release leaves it held. */
    assert_rlock_locked(r, true);
    assert_sm_status(sm_cond_acquire(cv, SM_NOWAIT), SM_ETIMEDOUT);
    assert_sm_ok(actor_do(w, op_release));
    assert_rlock_locked(r, true);
    assert_sm_status(sm_cond_acquire(cv, SM_NOWAIT), SM_ETIMEDOUT);
    assert_sm_ok(actor_do(w, op_rlock_release));
    assert_rlock_locked(r, false);
    assert_sm_status(actor_do(w, op_release), SM_ENOTOWNER);
    assert_sm_ok(sm_cond_acquire(cv, SM_NOWAIT));
    assert_sm_ok(sm_cond_release(cv));

    actor_stop(w);
    assert_sm_ok(sm_rlock_close(r));
    assert_sm_ok(sm_cond_close(cv));
}

static void
test_cond_wait_timeout_on_an_explicit_rlock_held_twice_restores_both_levels(void **state)
{
    (void)state;
    sm_client *c = smt_client();
    sm_rlock *r = NULL;
    sm_cond *cv = NULL;
    actor *w;
    int64_t took = 0;

    assert_sm_ok(sm_rlock_new(c, &r));
    assert_sm_ok(sm_cond_new(c, sm_rlock_token(r), &cv));
    assert_string_equal(sm_cond_lock_token(cv), sm_rlock_token(r));
    assert_true(has_prefix(sm_cond_lock_token(cv), "sm:rlock:"));
    w = actor_start(cv);
    w->x.r = r;
    assert_sm_ok(actor_do(w, op_rlock_acquire_nowait));
    assert_sm_ok(actor_do(w, op_rlock_acquire_nowait));
    w->x.ms = TIMED_MS;
    w->x.notified = true;
    actor_post(w, op_wait);
    assert_sm_ok(actor_result(w, &took));
    assert_false(w->x.notified);
    assert_took_timeout(took);

    assert_sm_ok(actor_do(w, op_rlock_release));
    assert_rlock_locked(r, true);
    assert_sm_status(sm_rlock_acquire(r, SM_NOWAIT), SM_ETIMEDOUT);
    assert_sm_ok(actor_do(w, op_rlock_release));
    assert_rlock_locked(r, false);
    assert_sm_status(actor_do(w, op_rlock_release), SM_ENOTOWNER);
    actor_stop(w);
    assert_sm_ok(sm_cond_close(cv));
    assert_sm_ok(sm_rlock_close(r));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_cond_wait_and_notify_without_the_lock_are_enotowner),
    cmocka_unit_test(test_cond_wait_timeout_returns_not_notified_holding_its_own_rlock),
    cmocka_unit_test(test_cond_wait_timeout_returns_not_notified_holding_an_explicit_lock),
    cmocka_unit_test(test_cond_negative_timeout_other_than_forever_is_einval),
    cmocka_unit_test(test_cond_notify_one_wakes_only_the_longest_waiting_of_two),
    cmocka_unit_test(test_cond_notify_all_wakes_every_waiter),
    cmocka_unit_test(test_cond_notify_of_fewer_than_one_is_einval),
    cmocka_unit_test(test_cond_notified_waiter_holds_the_lock_when_wait_returns),
    cmocka_unit_test(test_cond_on_an_explicit_lock_reports_and_uses_that_lock),
    cmocka_unit_test(test_cond_without_a_lock_has_an_rlock_of_its_own),
    cmocka_unit_test(test_cond_open_existing_name_ignores_the_lock_given),
    cmocka_unit_test(test_cond_lock_token_of_another_type_is_ewrongtype),
    cmocka_unit_test(test_cond_wait_on_an_rlock_held_twice_releases_and_restores_both_levels),
    cmocka_unit_test(test_cond_wait_timeout_on_an_explicit_rlock_held_twice_restores_both_levels),
};

int
main(int argc, char **argv)
{
    return SMT_MAIN("cond", tests);
}
