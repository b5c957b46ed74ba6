/* test_waiters.c - 1,000 requests blocked at once in one server.
 *
 * W_PROCS child processes (this program re-executed by smt_spawn) each run
 * W_THREADS threads over W_CLIENTS clients of their own, the threads of a
 * client sharing it and its proxies. Each thread makes one blocking call:
 * thread g (0 .. 999 over all processes) waits on
 *   - g % 3 == 0: a lock the test holds (then, holding it, checks that it is
 *     alone inside and releases it),
 *   - g % 3 == 1: an empty queue (gets one item),
 *   - g % 3 == 2: a clear event (sees was_set true).
 * Each thread increments a shared "ready" counter right before its call; the
 * test polls that counter until it reaches 1,000. That is a progress wait,
 * not a proof of parking, and nothing below depends on it: the release works
 * for a waiter that arrives late too (the event stays set, the items stay in
 * the queue, and the lock passes from waiter to waiter, each releasing it).
 *
 * While they wait, the server must still answer other clients: the test
 * makes dict round trips, and non-blocking calls on the very objects the
 * waiters block on, from its own client and a fresh one, and prints the
 * latency (never asserted: timing is not a pass/fail matter here).
 *
 * Then it releases them all and checks every waiter's outcome: the lock was
 * held by one waiter at a time and by every lock waiter once, the queue
 * getters got exactly the items put (the multiset), every event waiter saw
 * was_set true. Children report through a shared dict and list and their
 * exit status. Every blocking call is bounded by W_WAIT_MS, every child by
 * alarm(), so a bug fails the test instead of hanging it. */
#include "smt.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define W_PROCS     10
#define W_THREADS   100
#define W_CLIENTS   4 /* per process; W_THREADS / W_CLIENTS threads share each */
#define W_TOTAL     (W_PROCS * W_THREADS)
#define W_WAIT_MS   60000 /* bound on every blocking call */
#define W_ITEM_BASE 1000000

enum { W_LOCK, W_QUEUE, W_EVENT, W_KINDS };

static const char *const w_kind_name[W_KINDS] = {"lock", "queue", "event"};
static const char *const w_ok_key[W_KINDS] = {"lock_ok", "queue_ok", "event_ok"};

/* w_kind_of says what thread g of all W_TOTAL waits on. */
static int
w_kind_of(int g)
{
    return g % W_KINDS;
}

/* w_count_of says how many of the W_TOTAL threads wait on kind. */
static int64_t
w_count_of(int kind)
{
    int64_t n = 0;
    for (int g = 0; g < W_TOTAL; g++)
        n += w_kind_of(g) == kind;
    return n;
}

static double
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* ------------------------------------------------------------ the children */

/* One client of a child and its proxies, shared by its threads. */
typedef struct w_conn {
    sm_client *c;
    sm_lock *lock;
    sm_queue *queue;
    sm_event *event;
    sm_dict *dict;
    sm_var *inside;
} w_conn;

/* One waiting thread. */
typedef struct w_thread {
    pthread_t tid;
    w_conn *conn;
    int g;       /* its number over all processes */
    int kind;
    bool ok;     /* everything it did was as expected */
    int64_t item; /* W_QUEUE: the item it got */
    char why[160];
} w_thread;

static void
w_thread_fail(w_thread *t, const char *what, int rv)
{
    snprintf(t->why, sizeof(t->why), "%s: %s: %s", what, sm_errname(rv), sm_errdetail());
}

/* w_lock_turn holds the lock: it checks that it is alone inside by adding 1
 * and then -1 to a shared var, which must read 1 and then 0. */
static bool
w_lock_turn(w_thread *t)
{
    sm_value now = sm_value_nil();
    int rv = sm_var_add(t->conn->inside, (const sm_value[]){sm_value_int(1)}, &now);
    if (rv != SM_OK) {
        w_thread_fail(t, "inside += 1", rv);
        return false;
    }
    if (now.type != SM_INT || now.u.i != 1) {
        snprintf(t->why, sizeof(t->why), "inside is %" PRId64 " while holding the lock", now.u.i);
        return false;
    }
    rv = sm_var_add(t->conn->inside, (const sm_value[]){sm_value_int(-1)}, &now);
    if (rv != SM_OK) {
        w_thread_fail(t, "inside -= 1", rv);
        return false;
    }
    if (now.type != SM_INT || now.u.i != 0) {
        snprintf(t->why, sizeof(t->why), "inside is %" PRId64 " on leaving", now.u.i);
        return false;
    }
    return true;
}

static void *
w_thread_main(void *arg)
{
    w_thread *t = arg;
    w_conn *c = t->conn;
    int rv;

    rv = sm_dict_incr(c->dict, "ready", (const sm_value[]){sm_value_int(1)}, NULL);
    if (rv != SM_OK) {
        w_thread_fail(t, "ready += 1", rv);
        return NULL;
    }
    switch (t->kind) {
    case W_LOCK: {
        rv = sm_lock_acquire(c->lock, W_WAIT_MS);
        if (rv != SM_OK) {
            w_thread_fail(t, "sm_lock_acquire", rv);
            return NULL;
        }
        bool alone = w_lock_turn(t);
        rv = sm_lock_release(c->lock);
        if (rv != SM_OK) {
            w_thread_fail(t, "sm_lock_release", rv);
            return NULL;
        }
        t->ok = alone;
        break;
    }
    case W_QUEUE: {
        sm_value v = sm_value_nil();
        rv = sm_queue_get(c->queue, W_WAIT_MS, &v);
        if (rv != SM_OK) {
            w_thread_fail(t, "sm_queue_get", rv);
            return NULL;
        }
        if (v.type != SM_INT) {
            snprintf(t->why, sizeof(t->why), "got an item of type %d", (int)v.type);
            sm_value_clear(&v);
            return NULL;
        }
        t->item = v.u.i;
        t->ok = true;
        break;
    }
    case W_EVENT: {
        bool was_set = false;
        rv = sm_event_wait(c->event, W_WAIT_MS, &was_set);
        if (rv != SM_OK) {
            w_thread_fail(t, "sm_event_wait", rv);
            return NULL;
        }
        if (!was_set) {
            snprintf(t->why, sizeof(t->why), "event wait returned was_set false");
            return NULL;
        }
        t->ok = true;
        break;
    }
    }
    return NULL;
}

static int
w_conn_open(w_conn *c, char **argv)
{
    int rv;
    memset(c, 0, sizeof(*c));
    if ((rv = sm_client_open(&c->c, argv[1], NULL)) != SM_OK ||
        (rv = sm_lock_attach(c->c, argv[3], &c->lock)) != SM_OK ||
        (rv = sm_queue_attach(c->c, argv[4], &c->queue)) != SM_OK ||
        (rv = sm_event_attach(c->c, argv[5], &c->event)) != SM_OK ||
        (rv = sm_dict_attach(c->c, argv[6], &c->dict)) != SM_OK ||
        (rv = sm_var_attach(c->c, argv[8], &c->inside)) != SM_OK)
        fprintf(stderr, "waiters child %ld: opening: %s: %s\n", (long)getpid(), sm_errname(rv),
                sm_errdetail());
    return rv;
}

static void
w_conn_close(w_conn *c)
{
    sm_var_close(c->inside);
    sm_dict_close(c->dict);
    sm_event_close(c->event);
    sm_queue_close(c->queue);
    sm_lock_close(c->lock);
    sm_client_close(c->c);
}

/* child_waiters: argv is NAME URL PROC LOCK QUEUE EVENT DICT LIST VAR, the
 * last six tokens. Returns 0 if every thread's call went as expected and
 * the results were reported. */
static int
child_waiters(int argc, char **argv)
{
    static w_conn conns[W_CLIENTS];
    static w_thread th[W_THREADS];
    int64_t ok[W_KINDS] = {0}, items[W_THREADS];
    size_t nitems = 0;
    int proc, failed = 0, rv, status = 1;
    sm_list *list = NULL;
    pthread_attr_t attr;

    alarm(150); /* a hung child must not hang the test */
    if (argc != 9) {
        fprintf(stderr, "waiters child: expected 8 arguments, got %d\n", argc - 1);
        return 99;
    }
    proc = atoi(argv[2]);
    for (int k = 0; k < W_CLIENTS; k++)
        if (w_conn_open(&conns[k], argv) != SM_OK)
            goto out;
    if ((rv = sm_list_attach(conns[0].c, argv[7], &list)) != SM_OK) {
        fprintf(stderr, "waiters child: sm_list_attach: %s\n", sm_errname(rv));
        goto out;
    }

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (int i = 0; i < W_THREADS; i++) {
        th[i].conn = &conns[i % W_CLIENTS];
        th[i].g = proc * W_THREADS + i;
        th[i].kind = w_kind_of(th[i].g);
        if (pthread_create(&th[i].tid, &attr, w_thread_main, &th[i]) != 0) {
            fprintf(stderr, "waiters child: pthread_create %d failed\n", i);
            for (int k = 0; k < i; k++)
                pthread_join(th[k].tid, NULL);
            pthread_attr_destroy(&attr);
            goto out;
        }
    }
    pthread_attr_destroy(&attr);
    for (int i = 0; i < W_THREADS; i++)
        pthread_join(th[i].tid, NULL);

    for (int i = 0; i < W_THREADS; i++) {
        if (!th[i].ok) {
            failed++;
            fprintf(stderr, "waiters child %d thread %d (%s): %s\n", proc, th[i].g,
                    w_kind_name[th[i].kind], th[i].why);
            continue;
        }
        ok[th[i].kind]++;
        if (th[i].kind == W_QUEUE)
            items[nitems++] = th[i].item;
    }
    /* Report: counts in the dict, the queue items in the list. */
    for (int k = 0; k < W_KINDS; k++) {
        rv = sm_dict_incr(conns[0].dict, w_ok_key[k], (const sm_value[]){sm_value_int(ok[k])},
                          NULL);
        if (rv != SM_OK) {
            fprintf(stderr, "waiters child: reporting: %s\n", sm_errname(rv));
            goto out;
        }
    }
    if (nitems > 0) {
        sm_value vals[W_THREADS];
        for (size_t i = 0; i < nitems; i++)
            vals[i] = sm_value_int(items[i]);
        if ((rv = sm_list_extend(list, vals, nitems)) != SM_OK) {
            fprintf(stderr, "waiters child: reporting items: %s\n", sm_errname(rv));
            goto out;
        }
    }
    status = failed == 0 ? 0 : 1;
out:
    sm_list_close(list);
    for (int k = 0; k < W_CLIENTS; k++)
        w_conn_close(&conns[k]);
    return status;
}

static const smt_child children[] = {{"waiters", child_waiters}};

/* ---------------------------------------------------------------- the test */

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* probe_round_trips makes a few dict round trips on c and prints the worst
 * latency; each must succeed. */
static void
probe_round_trips(sm_client *c, const char *who)
{
    sm_dict *d = NULL;
    double worst = 0, t0 = now_us();
    assert_sm_ok(sm_dict_new(c, &d));
    double open_us = now_us() - t0;
    for (int i = 0; i < 20; i++) {
        sm_value v = sm_value_nil();
        t0 = now_us();
        assert_sm_ok(sm_dict_set(d, "k", (const sm_value[]){sm_value_int(i)}));
        assert_sm_ok(sm_dict_get(d, "k", &v));
        double us = now_us() - t0;
        assert_int_equal(v.type, SM_INT);
        assert_int_equal(v.u.i, i);
        if (us > worst)
            worst = us;
    }
    print_message("%s: with %d waiters parked, dict new %.0f us, set+get worst %.0f us\n", who,
                  W_TOTAL, open_us, worst);
    assert_sm_ok(sm_dict_close(d));
}

static void
test_waiters_thousand_blocked_requests_are_all_served(void **state)
{
    (void)state;
    sm_client *c = smt_client();
    sm_lock *lock = NULL;
    sm_queue *queue = NULL;
    sm_event *event = NULL;
    sm_dict *dict = NULL;
    sm_list *list = NULL;
    sm_var *inside = NULL;
    static pid_t pids[W_PROCS];
    static int status[W_PROCS];
    static int64_t got[W_TOTAL];
    char url[512], proc[16], ltok[512], qtok[512], etok[512], dtok[512], lstok[512], vtok[512];
    int64_t ready = 0, t0;
    const int64_t nqueue = w_count_of(W_QUEUE);
    bool locked = false, was_set = true;

    assert_sm_ok(sm_lock_new(c, &lock));
    assert_sm_ok(sm_queue_new(c, 0, false, &queue));
    assert_sm_ok(sm_event_new(c, &event));
    assert_sm_ok(sm_dict_new(c, &dict));
    assert_sm_ok(sm_list_new(c, &list));
    assert_sm_ok(sm_var_new(c, (const sm_value[]){sm_value_int(0)}, &inside));
    assert_sm_ok(sm_lock_acquire(lock, SM_NOWAIT)); /* the test holds the lock */

    snprintf(url, sizeof(url), "%s", smt_url());
    snprintf(ltok, sizeof(ltok), "%s", sm_lock_token(lock));
    snprintf(qtok, sizeof(qtok), "%s", sm_queue_token(queue));
    snprintf(etok, sizeof(etok), "%s", sm_event_token(event));
    snprintf(dtok, sizeof(dtok), "%s", sm_dict_token(dict));
    snprintf(lstok, sizeof(lstok), "%s", sm_list_token(list));
    snprintf(vtok, sizeof(vtok), "%s", sm_var_token(inside));
    t0 = smt_now_ms();
    for (int p = 0; p < W_PROCS; p++) {
        snprintf(proc, sizeof(proc), "%d", p);
        pids[p] = smt_spawn("waiters", url, proc, ltok, qtok, etok, dtok, lstok, vtok, NULL);
    }

    /* Progress wait (see the top of the file), bounded. */
    int64_t deadline = smt_now_ms() + W_WAIT_MS / 2;
    while ((ready = smt_dict_int(dict, "ready")) < W_TOTAL && smt_now_ms() < deadline)
        smt_sleep_ms(20);
    print_message("%" PRId64 " of %d waiters ready after %" PRId64 " ms\n", ready, W_TOTAL,
                  smt_now_ms() - t0);
    smt_sleep_ms(500); /* let the last ones reach the server */

    /* Nobody got past a call that cannot proceed yet (asserted once the
     * children are reaped, so that a failure does not leave them waiting). */
    int64_t early = 0;
    int gone = 0;
    for (int k = 0; k < W_KINDS; k++)
        early += smt_dict_int(dict, w_ok_key[k]);
    static bool reaped[W_PROCS];
    for (int p = 0; p < W_PROCS; p++) {
        reaped[p] = waitpid(pids[p], &status[p], WNOHANG) == pids[p];
        gone += reaped[p];
    }

    /* The server still answers, promptly, this client and a fresh one,
     * also about the very objects the waiters block on. */
    probe_round_trips(c, "group client");
    sm_client *fresh = NULL;
    sm_lock *flock = NULL;
    sm_queue *fqueue = NULL;
    sm_event *fevent = NULL;
    double us = now_us();
    assert_sm_ok(sm_client_open(&fresh, url, NULL));
    print_message("fresh client: connected in %.0f us\n", now_us() - us);
    probe_round_trips(fresh, "fresh client");
    assert_sm_ok(sm_lock_attach(fresh, ltok, &flock));
    assert_sm_ok(sm_queue_attach(fresh, qtok, &fqueue));
    assert_sm_ok(sm_event_attach(fresh, etok, &fevent));
    us = now_us();
    assert_sm_status(sm_lock_acquire(flock, SM_NOWAIT), SM_ETIMEDOUT);
    assert_sm_ok(sm_lock_locked(flock, &locked));
    assert_true(locked);
    sm_value none = sm_value_int(-1);
    assert_sm_status(sm_queue_get(fqueue, SM_NOWAIT, &none), SM_EEMPTY);
    assert_int_equal(none.u.i, -1);
    assert_sm_ok(sm_event_wait(fevent, SM_NOWAIT, &was_set));
    assert_false(was_set);
    print_message("fresh client: 4 calls on the blocked objects in %.0f us\n", now_us() - us);
    sm_event_close(fevent);
    sm_queue_close(fqueue);
    sm_lock_close(flock);
    sm_client_close(fresh);

    /* Release them all. Each release is right for a waiter not parked yet. */
    t0 = smt_now_ms();
    assert_sm_ok(sm_event_set(event));
    for (int64_t k = 0; k < nqueue; k++)
        assert_sm_ok(sm_queue_put(queue, (const sm_value[]){sm_value_int(W_ITEM_BASE + k)},
                                  SM_NOWAIT));
    assert_sm_ok(sm_lock_release(lock)); /* each lock waiter passes it on */

    /* Reap every child before asserting, so that none outlives the test. */
    for (int p = 0; p < W_PROCS; p++) {
        pid_t r;
        if (reaped[p])
            continue;
        do {
            r = waitpid(pids[p], &status[p], 0);
        } while (r < 0 && errno == EINTR);
        if (r != pids[p])
            status[p] = -1;
    }
    print_message("all %d waiters done %" PRId64 " ms after the release\n", W_TOTAL,
                  smt_now_ms() - t0);
    assert_int_equal(gone, 0);
    assert_int_equal(early, 0);
    for (int p = 0; p < W_PROCS; p++) {
        if (!(status[p] >= 0 && WIFEXITED(status[p]) && WEXITSTATUS(status[p]) == 0))
            fail_msg("waiters child %d ended with status 0x%x", p, status[p]);
    }

    assert_int_equal(ready, W_TOTAL);
    assert_int_equal(smt_dict_int(dict, "ready"), W_TOTAL);
    for (int k = 0; k < W_KINDS; k++)
        assert_int_equal(smt_dict_int(dict, w_ok_key[k]), w_count_of(k));

    /* The queue getters got exactly the items put, each once. */
    sm_value *vals = NULL;
    size_t n = 0;
    assert_sm_ok(sm_list_slice(list, 0, SM_END, &vals, &n));
    assert_int_equal(n, nqueue);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(vals[i].type, SM_INT);
        got[i] = vals[i].u.i;
    }
    sm_values_free(vals, n);
    qsort(got, n, sizeof(got[0]), cmp_i64);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(got[i], W_ITEM_BASE + (int64_t)i);

    /* And everything is left as it should be. */
    int64_t size = -1;
    assert_sm_ok(sm_queue_info(queue, &size, NULL, NULL));
    assert_int_equal(size, 0);
    assert_sm_ok(sm_lock_locked(lock, &locked));
    assert_false(locked);
    assert_sm_ok(sm_event_is_set(event, &was_set));
    assert_true(was_set);
    sm_value in = sm_value_nil();
    assert_sm_ok(sm_var_get(inside, &in));
    assert_int_equal(in.type, SM_INT);
    assert_int_equal(in.u.i, 0);

    sm_var_close(inside);
    sm_list_close(list);
    sm_dict_close(dict);
    sm_event_close(event);
    sm_queue_close(queue);
    sm_lock_close(lock);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_waiters_thousand_blocked_requests_are_all_served),
};

int
main(int argc, char **argv)
{
    return SMT_MAIN_CHILDREN("waiters", tests, children);
}
