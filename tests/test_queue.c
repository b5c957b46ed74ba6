/* test_queue.c - sm_queue, Python's Queue and JoinableQueue: FIFO order of
 * every value kind, get on an empty queue (at once and with a timeout), put
 * on a full bounded queue, blocked puts and gets completing in order, info,
 * task_done and join, sharing by name and token, and the seed program (a
 * producer and a consumer process, ending with a SM_NIL sentinel).
 *
 * A queue has no count of parked waiters, so two tests that need waiters to
 * arrive in a known order start them one after another with a pause between
 * (QUEUE_STAGGER_MS); everything else holds whether or not a waiter has
 * reached the server yet.
 *
 * Worker threads and children never call cmocka's assertions; they record
 * what they saw and the main thread asserts it. Every wait is bounded. */
#include "smt.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define Q_BOUND_MS       30000 /* the longest any wait in this file may take */
#define QUEUE_STAGGER_MS 200   /* pause between waiters whose order matters */
#define SEED_ITEMS       1000

/* SMV turns a value expression into a pointer to a temporary copy. */
#define SMV(expr) ((const sm_value[]){expr})
#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- helpers */

static sm_queue *
new_queue(int64_t maxsize, bool joinable)
{
    sm_queue *q = NULL;
    assert_sm_ok(sm_queue_new(smt_client(), maxsize, joinable, &q));
    assert_non_null(q);
    return q;
}

/* assert_info asserts size, maxsize and unfinished exactly. */
static void
assert_info(sm_queue *q, int64_t size, int64_t maxsize, int64_t unfinished)
{
    int64_t s = -1, m = -1, u = -1;
    assert_sm_ok(sm_queue_info(q, &s, &m, &u));
    assert_int_equal(s, size);
    assert_int_equal(m, maxsize);
    assert_int_equal(u, unfinished);
}

static void
put_int(sm_queue *q, int64_t i)
{
    assert_sm_ok(sm_queue_put(q, SMV(sm_value_int(i)), SM_NOWAIT));
}

/* get_int takes the next item at once and asserts it is the int want. */
static void
get_int(sm_queue *q, int64_t want)
{
    sm_value v = sm_value_nil();
    assert_sm_ok(sm_queue_get(q, SM_NOWAIT, &v));
    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, want);
}

static void
assert_value_is(const sm_value *got, const sm_value *want)
{
    const char *why = NULL;
    if (!smt_value_same(got, want, &why))
        fail_msg("got a %s, wanted a %s: %s", smt_type_name(got->type),
                 smt_type_name(want->type), why);
}

/* A thread making one blocking call on a queue. */
typedef enum q_op { Q_GET, Q_PUT, Q_JOIN } q_op;
typedef struct q_worker {
    pthread_t tid;
    sm_queue *q;
    q_op op;
    int64_t timeout_ms;
    int64_t put;  /* Q_PUT: the int to put */
    sm_value got; /* Q_GET: what it got */
    int rv;
    int64_t ms;
    int started; /* atomic: about to call */
    int done;    /* atomic: the call returned */
} q_worker;

static void *
q_worker_main(void *arg)
{
    q_worker *w = arg;
    __atomic_store_n(&w->started, 1, __ATOMIC_RELEASE);
    int64_t t0 = smt_now_ms();
    switch (w->op) {
    case Q_GET:
        w->rv = sm_queue_get(w->q, w->timeout_ms, &w->got);
        break;
    case Q_PUT:
        w->rv = sm_queue_put(w->q, SMV(sm_value_int(w->put)), w->timeout_ms);
        break;
    case Q_JOIN:
        w->rv = sm_queue_join(w->q, w->timeout_ms);
        break;
    }
    w->ms = smt_now_ms() - t0;
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void
q_worker_start(q_worker *w, sm_queue *q, q_op op, int64_t timeout_ms, int64_t put)
{
    memset(w, 0, sizeof(*w));
    w->q = q;
    w->op = op;
    w->timeout_ms = timeout_ms;
    w->put = put;
    w->got = sm_value_int(-7);
    w->rv = -1;
    assert_int_equal(pthread_create(&w->tid, NULL, q_worker_main, w), 0);
}

static bool
q_worker_done(q_worker *w)
{
    return __atomic_load_n(&w->done, __ATOMIC_ACQUIRE) != 0;
}

/* q_worker_start_staggered starts w and returns once it is about to call
 * and QUEUE_STAGGER_MS have passed, so that it is very likely parked in the
 * server before the next one starts. */
static void
q_worker_start_staggered(q_worker *w, sm_queue *q, q_op op, int64_t timeout_ms, int64_t put)
{
    q_worker_start(w, q, op, timeout_ms, put);
    while (!__atomic_load_n(&w->started, __ATOMIC_ACQUIRE))
        smt_sleep_ms(1);
    smt_sleep_ms(QUEUE_STAGGER_MS);
}

/* --------------------------------------------------------- put and get */

static void
test_queue_new_queue_is_empty_with_its_maxsize(void **state)
{
    (void)state;
    sm_queue *q = new_queue(0, false);
    assert_info(q, 0, 0, 0);
    assert_sm_ok(sm_queue_info(q, NULL, NULL, NULL)); /* every output may be NULL */
    sm_queue_close(q);
    q = new_queue(7, true);
    assert_info(q, 0, 7, 0);
    sm_queue_close(q);
}

static void
test_queue_put_and_get_keep_fifo_order_for_every_value_kind(void **state)
{
    (void)state;
    sm_queue *q = new_queue(0, false);
    sm_dict *target = NULL;
    static const unsigned char raw[] = {0x00, 0xff, 0x10, 0x00, 0x7f};
    assert_sm_ok(sm_dict_new(smt_client(), &target));
    const sm_value vals[] = {
        sm_value_nil(),
        sm_value_bool(true),
        sm_value_bool(false),
        sm_value_int(0),
        sm_value_int(INT64_MIN),
        sm_value_int(INT64_MAX),
        sm_value_double(-0.0),
        sm_value_double(1.0 / 3.0),
        sm_value_double(1e308),
        sm_value_bytes(raw, sizeof(raw)),
        sm_value_bytes(raw, 0),
        sm_value_str(""),
        sm_value_str("h\xc3\xa9llo, queue"),
        sm_value_ref(sm_dict_token(target)),
        sm_value_int(42),
    };

    for (size_t i = 0; i < N_ELEMS(vals); i++) {
        assert_sm_ok(sm_queue_put(q, &vals[i], SM_NOWAIT));
        assert_info(q, (int64_t)i + 1, 0, 0);
    }
    for (size_t i = 0; i < N_ELEMS(vals); i++) {
        sm_value got = sm_value_nil();
        assert_sm_ok(sm_queue_get(q, i % 2 == 0 ? SM_NOWAIT : 1000, &got));
        print_message("item %zu: %s\n", i, smt_type_name(got.type));
        assert_value_is(&got, &vals[i]);
        sm_value_clear(&got);
        assert_info(q, (int64_t)(N_ELEMS(vals) - i - 1), 0, 0);
    }
    sm_dict_close(target);
    sm_queue_close(q);
}

static void
test_queue_get_nowait_on_empty_queue_is_eempty_and_leaves_output_untouched(void **state)
{
    (void)state;
    sm_queue *q = new_queue(0, false);
    sm_value v = sm_value_int(42);

    int64_t t0 = smt_now_ms();
    assert_sm_status(sm_queue_get(q, SM_NOWAIT, &v), SM_EEMPTY);
    assert_true(smt_now_ms() - t0 < 1000);
    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, 42);
    assert_info(q, 0, 0, 0);
    sm_queue_close(q);
}

static void
test_queue_get_with_timeout_on_empty_queue_is_eempty_after_the_timeout(void **state)
{
    (void)state;
    sm_queue *q = new_queue(0, false);
    sm_value v = sm_value_int(42);

    int64_t t0 = smt_now_ms();
    assert_sm_status(sm_queue_get(q, 200, &v), SM_EEMPTY);
    int64_t ms = smt_now_ms() - t0;
    print_message("queue get of 200 ms took %" PRId64 " ms\n", ms);
    assert_true(ms >= 200);
    assert_true(ms < 1000);
    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, 42);
    assert_info(q, 0, 0, 0);
    sm_queue_close(q);
}

static void
test_queue_get_that_timed_out_takes_nothing_put_later(void **state)
{
    (void)state;
    sm_queue *q = new_queue(0, false);
    sm_value v = sm_value_nil();

    assert_sm_status(sm_queue_get(q, 50, &v), SM_EEMPTY);
    put_int(q, 5);
    assert_info(q, 1, 0, 0); /* the timed-out getter is gone */
    get_int(q, 5);
    sm_queue_close(q);
}

static void
test_queue_blocked_get_completes_when_an_item_is_put(void **state)
{
    (void)state;
    static q_worker w; /* static: outlives a failed test whose thread still runs */
    sm_queue *q = new_queue(0, false);

    q_worker_start(&w, q, Q_GET, SM_WAIT_FOREVER, 0);
    smt_sleep_ms(200);
    assert_false(q_worker_done(&w)); /* nothing to get */
    put_int(q, 99);
    assert_true(smt_join_within(w.tid, Q_BOUND_MS));
    assert_sm_ok(w.rv);
    assert_int_equal(w.got.type, SM_INT);
    assert_int_equal(w.got.u.i, 99);
    assert_info(q, 0, 0, 0);
    sm_queue_close(q);
}

static void
test_queue_blocked_getters_are_served_in_arrival_order(void **state)
{
    (void)state;
    enum { N = 4 };
    static q_worker w[N];
    sm_queue *q = new_queue(0, false);

    for (int i = 0; i < N; i++)
        q_worker_start_staggered(&w[i], q, Q_GET, Q_BOUND_MS, 0);
    for (int i = 0; i < N; i++)
        assert_false(q_worker_done(&w[i]));
    for (int i = 0; i < N; i++)
        put_int(q, 100 + i);
    for (int i = 0; i < N; i++)
        assert_true(smt_join_within(w[i].tid, Q_BOUND_MS + 5000));
    for (int i = 0; i < N; i++) {
        assert_sm_ok(w[i].rv);
        assert_int_equal(w[i].got.type, SM_INT);
        assert_int_equal(w[i].got.u.i, 100 + i); /* the first to ask gets the first item */
    }
    assert_info(q, 0, 0, 0);
    sm_queue_close(q);
}

static void
test_queue_put_or_get_with_null_arguments_is_einval(void **state)
{
    (void)state;
    sm_queue *q = new_queue(0, false);
    sm_value bad = sm_value_int(1);
    bad.type = (sm_type)99;

    assert_sm_status(sm_queue_put(q, NULL, SM_NOWAIT), SM_EINVAL);
    assert_sm_status(sm_queue_put(q, &bad, SM_NOWAIT), SM_EINVAL);
    assert_sm_status(sm_queue_put(NULL, SMV(sm_value_int(1)), SM_NOWAIT), SM_EINVAL);
    assert_info(q, 0, 0, 0);
    put_int(q, 1);
    assert_sm_status(sm_queue_get(q, SM_NOWAIT, NULL), SM_EINVAL);
    assert_info(q, 1, 0, 0); /* nothing was taken */
    assert_sm_status(sm_queue_info(NULL, NULL, NULL, NULL), SM_EINVAL);
    get_int(q, 1);
    sm_queue_close(q);
}

static void
test_queue_negative_timeout_other_than_forever_is_einval(void **state)
{
    (void)state;
    sm_queue *q = new_queue(1, true);
    sm_value v = sm_value_int(42);

    assert_sm_status(sm_queue_get(q, -2, &v), SM_EINVAL);
    assert_int_equal(v.u.i, 42);
    assert_sm_status(sm_queue_put(q, SMV(sm_value_int(1)), -2), SM_EINVAL);
    assert_info(q, 0, 1, 0); /* nothing went in */
    put_int(q, 1);
    assert_sm_status(sm_queue_put(q, SMV(sm_value_int(2)), INT64_MIN), SM_EINVAL);
    assert_sm_status(sm_queue_join(q, -2), SM_EINVAL);
    assert_info(q, 1, 1, 1);
    sm_queue_close(q);
}

/* --------------------------------------------------------------- bounded */

static void
test_queue_bounded_put_nowait_on_full_queue_is_efull_and_changes_nothing(void **state)
{
    (void)state;
    sm_queue *q = new_queue(2, false);

    put_int(q, 1);
    assert_info(q, 1, 2, 0);
    put_int(q, 2);
    assert_info(q, 2, 2, 0);
    int64_t t0 = smt_now_ms();
    assert_sm_status(sm_queue_put(q, SMV(sm_value_int(3)), SM_NOWAIT), SM_EFULL);
    assert_true(smt_now_ms() - t0 < 1000);
    assert_info(q, 2, 2, 0);
    get_int(q, 1);
    get_int(q, 2);
    sm_value v = sm_value_int(42);
    assert_sm_status(sm_queue_get(q, SM_NOWAIT, &v), SM_EEMPTY); /* 3 never went in */
    assert_int_equal(v.u.i, 42);
    sm_queue_close(q);
}

static void
test_queue_bounded_put_with_timeout_on_full_queue_is_efull_after_the_timeout(void **state)
{
    (void)state;
    sm_queue *q = new_queue(2, false);

    put_int(q, 1);
    put_int(q, 2);
    int64_t t0 = smt_now_ms();
    assert_sm_status(sm_queue_put(q, SMV(sm_value_int(3)), 200), SM_EFULL);
    int64_t ms = smt_now_ms() - t0;
    print_message("queue put of 200 ms took %" PRId64 " ms\n", ms);
    assert_true(ms >= 200);
    assert_true(ms < 1000);
    assert_info(q, 2, 2, 0);
    get_int(q, 1);
    get_int(q, 2);
    assert_info(q, 0, 2, 0);
    /* the put that timed out left nothing behind: room for two again */
    put_int(q, 4);
    put_int(q, 5);
    get_int(q, 4);
    get_int(q, 5);
    sm_queue_close(q);
}

static void
test_queue_blocked_put_completes_when_a_get_makes_room_in_fifo_order(void **state)
{
    (void)state;
    static q_worker w;
    sm_queue *q = new_queue(2, false);

    put_int(q, 1);
    put_int(q, 2);
    q_worker_start(&w, q, Q_PUT, Q_BOUND_MS, 3);
    smt_sleep_ms(200);
    assert_false(q_worker_done(&w)); /* full: it cannot have returned */
    assert_info(q, 2, 2, 0);

    get_int(q, 1);
    assert_true(smt_join_within(w.tid, Q_BOUND_MS + 5000));
    assert_sm_ok(w.rv);
    assert_true(w.ms < Q_BOUND_MS);
    assert_info(q, 2, 2, 0);
    get_int(q, 2);
    get_int(q, 3); /* landed behind what was there */
    assert_info(q, 0, 2, 0);
    sm_queue_close(q);
}

static void
test_queue_blocked_putters_are_served_in_arrival_order(void **state)
{
    (void)state;
    enum { N = 3 };
    static q_worker w[N];
    sm_queue *q = new_queue(1, false);

    put_int(q, 0);
    for (int i = 0; i < N; i++)
        q_worker_start_staggered(&w[i], q, Q_PUT, Q_BOUND_MS, 10 + i);
    for (int i = 0; i < N; i++)
        assert_false(q_worker_done(&w[i]));
    assert_info(q, 1, 1, 0);
    /* Each get makes room for exactly the longest-waiting putter. */
    sm_value v = sm_value_nil();
    assert_sm_ok(sm_queue_get(q, Q_BOUND_MS, &v));
    assert_int_equal(v.u.i, 0);
    for (int i = 0; i < N; i++) {
        assert_sm_ok(sm_queue_get(q, Q_BOUND_MS, &v));
        assert_int_equal(v.type, SM_INT);
        assert_int_equal(v.u.i, 10 + i);
    }
    for (int i = 0; i < N; i++) {
        assert_true(smt_join_within(w[i].tid, Q_BOUND_MS + 5000));
        assert_sm_ok(w[i].rv);
    }
    assert_info(q, 0, 1, 0);
    sm_queue_close(q);
}

/* -------------------------------------------------------------- joinable */

static void
test_queue_joinable_unfinished_counts_puts_and_task_done_decrements(void **state)
{
    (void)state;
    sm_queue *q = new_queue(0, true);
    sm_value v = sm_value_nil();

    put_int(q, 1);
    put_int(q, 2);
    put_int(q, 3);
    assert_info(q, 3, 0, 3);
    get_int(q, 1);
    assert_info(q, 2, 0, 3); /* get alone finishes nothing */
    assert_sm_ok(sm_queue_task_done(q));
    assert_info(q, 2, 0, 2);
    get_int(q, 2);
    get_int(q, 3);
    assert_info(q, 0, 0, 2);
    assert_sm_ok(sm_queue_task_done(q));
    assert_info(q, 0, 0, 1);
    assert_sm_ok(sm_queue_task_done(q));
    assert_info(q, 0, 0, 0);
    /* one more task_done than puts */
    assert_sm_status(sm_queue_task_done(q), SM_EINVAL);
    assert_info(q, 0, 0, 0);
    assert_sm_status(sm_queue_get(q, SM_NOWAIT, &v), SM_EEMPTY);
    /* the refused call did not drive the count negative: one put, one done */
    put_int(q, 4);
    assert_info(q, 1, 0, 1);
    get_int(q, 4);
    assert_sm_ok(sm_queue_task_done(q));
    assert_info(q, 0, 0, 0);
    assert_sm_ok(sm_queue_join(q, SM_NOWAIT));
    sm_queue_close(q);
}

static void
test_queue_task_done_and_join_on_non_joinable_queue_are_einval(void **state)
{
    (void)state;
    sm_queue *q = new_queue(0, false);

    assert_sm_status(sm_queue_task_done(q), SM_EINVAL);
    assert_sm_status(sm_queue_join(q, SM_NOWAIT), SM_EINVAL);
    put_int(q, 1);
    get_int(q, 1);
    assert_sm_status(sm_queue_task_done(q), SM_EINVAL); /* also after a put and a get */
    assert_sm_status(sm_queue_join(q, 100), SM_EINVAL);
    assert_info(q, 0, 0, 0);
    sm_queue_close(q);
}

static void
test_queue_join_with_nothing_unfinished_returns_at_once(void **state)
{
    (void)state;
    sm_queue *q = new_queue(0, true);

    assert_sm_ok(sm_queue_join(q, SM_NOWAIT));
    int64_t t0 = smt_now_ms();
    assert_sm_ok(sm_queue_join(q, SM_WAIT_FOREVER));
    assert_true(smt_now_ms() - t0 < 1000);
    sm_queue_close(q);
}

static void
test_queue_join_returns_only_after_every_task_done(void **state)
{
    (void)state;
    static q_worker w;
    sm_queue *q = new_queue(0, true);

    put_int(q, 1);
    put_int(q, 2);
    get_int(q, 1);
    get_int(q, 2);
    assert_sm_ok(sm_queue_task_done(q));
    assert_info(q, 0, 0, 1);

    /* one item unfinished: join times out, at once or after its timeout */
    assert_sm_status(sm_queue_join(q, SM_NOWAIT), SM_ETIMEDOUT);
    int64_t t0 = smt_now_ms();
    assert_sm_status(sm_queue_join(q, 200), SM_ETIMEDOUT);
    int64_t ms = smt_now_ms() - t0;
    assert_true(ms >= 200);
    assert_true(ms < 1000);

    q_worker_start(&w, q, Q_JOIN, SM_WAIT_FOREVER, 0);
    smt_sleep_ms(200);
    assert_false(q_worker_done(&w)); /* one unfinished: it cannot have returned */
    assert_info(q, 0, 0, 1);
    assert_sm_ok(sm_queue_task_done(q));
    assert_true(smt_join_within(w.tid, Q_BOUND_MS));
    assert_sm_ok(w.rv);
    assert_info(q, 0, 0, 0);
    sm_queue_close(q);
}

static void
test_queue_join_in_several_threads_returns_after_the_last_task_done(void **state)
{
    (void)state;
    enum { N = 3 };
    static q_worker joiners[N];
    sm_queue *q = new_queue(0, true);

    for (int i = 0; i < 5; i++)
        put_int(q, i);
    for (int i = 0; i < N; i++)
        q_worker_start(&joiners[i], q, Q_JOIN, Q_BOUND_MS, 0);
    for (int i = 0; i < 5; i++) {
        get_int(q, i);
        smt_sleep_ms(20);
        for (int k = 0; k < N; k++)
            assert_false(q_worker_done(&joiners[k]));
        assert_sm_ok(sm_queue_task_done(q));
    }
    for (int k = 0; k < N; k++) {
        assert_true(smt_join_within(joiners[k].tid, Q_BOUND_MS + 5000));
        assert_sm_ok(joiners[k].rv);
        assert_true(joiners[k].ms < Q_BOUND_MS);
    }
    assert_info(q, 0, 0, 0);
    sm_queue_close(q);
}

/* ------------------------------------------------------ names and tokens */

static void
test_queue_open_existing_name_ignores_maxsize_and_joinable_and_shares_items(void **state)
{
    (void)state;
    char name[256];
    sm_queue *a = NULL, *b = NULL, *c = NULL;
    sm_client *other = NULL;

    snprintf(name, sizeof(name), "%s", smt_name("q"));
    assert_sm_ok(sm_queue_open(smt_client(), name, 2, true, &a));
    assert_sm_ok(sm_client_open(&other, smt_url(), NULL));
    assert_sm_ok(sm_queue_open(other, name, 0, false, &b));
    assert_sm_ok(sm_queue_attach(other, sm_queue_token(a), &c));
    assert_string_equal(sm_queue_token(a), sm_queue_token(b));
    assert_info(b, 0, 2, 0);

    put_int(a, 1);
    assert_sm_ok(sm_queue_put(b, SMV(sm_value_int(2)), SM_NOWAIT));
    assert_sm_status(sm_queue_put(c, SMV(sm_value_int(3)), SM_NOWAIT), SM_EFULL);
    assert_info(c, 2, 2, 2);
    get_int(c, 1);
    get_int(b, 2);
    assert_sm_ok(sm_queue_task_done(b)); /* joinable, though b asked for a plain queue */
    assert_sm_ok(sm_queue_task_done(c));
    assert_info(a, 0, 2, 0);

    sm_queue_close(c);
    sm_queue_close(b);
    sm_queue_close(a);
    sm_client_close(other);
}

/* ------------------------------------------------------------ the seed */

/* The seed program: a producer process puts 1 .. SEED_ITEMS and then the
 * sentinel SM_NIL into a bounded joinable queue (maxsize 8, so it blocks
 * often) and joins it; a consumer process gets until the sentinel, calls
 * task_done for every item, and stores the sum and count it saw in a dict.
 * The single producer's items arrive in order, so the consumer also checks
 * that each is one more than the last. */

/* child_producer: argv is NAME URL QUEUE_TOKEN. */
static int
child_producer(int argc, char **argv)
{
    sm_client *c = NULL;
    sm_queue *q = NULL;
    int rv, status = 1;

    alarm(120);
    if (argc != 3)
        return 99;
    if ((rv = sm_client_open(&c, argv[1], NULL)) != SM_OK) {
        status = smt_child_fail("queue producer", "sm_client_open", rv);
        goto out;
    }
    if ((rv = sm_queue_attach(c, argv[2], &q)) != SM_OK) {
        status = smt_child_fail("queue producer", "sm_queue_attach", rv);
        goto out;
    }
    for (int64_t i = 1; i <= SEED_ITEMS; i++) {
        if ((rv = sm_queue_put(q, SMV(sm_value_int(i)), 60000)) != SM_OK) {
            status = smt_child_fail("queue producer", "sm_queue_put", rv);
            goto out;
        }
    }
    if ((rv = sm_queue_put(q, SMV(sm_value_nil()), 60000)) != SM_OK) {
        status = smt_child_fail("queue producer", "sm_queue_put sentinel", rv);
        goto out;
    }
    if ((rv = sm_queue_join(q, 60000)) != SM_OK) {
        status = smt_child_fail("queue producer", "sm_queue_join", rv);
        goto out;
    }
    status = 0;
out:
    sm_queue_close(q);
    sm_client_close(c);
    return status;
}

/* child_consumer: argv is NAME URL QUEUE_TOKEN DICT_TOKEN. */
static int
child_consumer(int argc, char **argv)
{
    sm_client *c = NULL;
    sm_queue *q = NULL;
    sm_dict *d = NULL;
    int64_t sum = 0, count = 0, last = 0;
    int rv, status = 1;

    alarm(120);
    if (argc != 4)
        return 99;
    if ((rv = sm_client_open(&c, argv[1], NULL)) != SM_OK) {
        status = smt_child_fail("queue consumer", "sm_client_open", rv);
        goto out;
    }
    if ((rv = sm_queue_attach(c, argv[2], &q)) != SM_OK) {
        status = smt_child_fail("queue consumer", "sm_queue_attach", rv);
        goto out;
    }
    if ((rv = sm_dict_attach(c, argv[3], &d)) != SM_OK) {
        status = smt_child_fail("queue consumer", "sm_dict_attach", rv);
        goto out;
    }
    for (;;) {
        sm_value v = sm_value_int(-1);
        if ((rv = sm_queue_get(q, 60000, &v)) != SM_OK) {
            status = smt_child_fail("queue consumer", "sm_queue_get", rv);
            goto out;
        }
        if ((rv = sm_queue_task_done(q)) != SM_OK) {
            status = smt_child_fail("queue consumer", "sm_queue_task_done", rv);
            goto out;
        }
        if (v.type == SM_NIL)
            break;
        if (v.type != SM_INT || v.u.i != last + 1) {
            fprintf(stderr, "queue consumer: got type %d value %" PRId64 " after %" PRId64 "\n",
                    (int)v.type, v.u.i, last);
            sm_value_clear(&v);
            goto out;
        }
        last = v.u.i;
        sum += v.u.i;
        count++;
    }
    if ((rv = sm_dict_set(d, "sum", SMV(sm_value_int(sum)))) != SM_OK ||
        (rv = sm_dict_set(d, "count", SMV(sm_value_int(count)))) != SM_OK) {
        status = smt_child_fail("queue consumer", "sm_dict_set", rv);
        goto out;
    }
    status = 0;
out:
    sm_dict_close(d);
    sm_queue_close(q);
    sm_client_close(c);
    return status;
}

static const smt_child children[] = {
    {"producer", child_producer},
    {"consumer", child_consumer},
};

static void
test_queue_producer_and_consumer_processes_pass_every_item_once(void **state)
{
    (void)state;
    sm_queue *q = new_queue(8, true);
    sm_dict *d = NULL;
    char url[512], qtok[512], dtok[512];
    sm_value v = sm_value_nil();

    assert_sm_ok(sm_dict_new(smt_client(), &d));
    snprintf(url, sizeof(url), "%s", smt_url());
    snprintf(qtok, sizeof(qtok), "%s", sm_queue_token(q));
    snprintf(dtok, sizeof(dtok), "%s", sm_dict_token(d));
    pid_t consumer = smt_spawn("consumer", url, qtok, dtok, NULL);
    pid_t producer = smt_spawn("producer", url, qtok, NULL);
    smt_wait_child(producer);
    smt_wait_child(consumer);

    assert_sm_ok(sm_dict_get(d, "sum", &v));
    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, (int64_t)SEED_ITEMS * (SEED_ITEMS + 1) / 2);
    assert_sm_ok(sm_dict_get(d, "count", &v));
    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, SEED_ITEMS);
    assert_info(q, 0, 8, 0);
    sm_dict_close(d);
    sm_queue_close(q);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_queue_new_queue_is_empty_with_its_maxsize),
    cmocka_unit_test(test_queue_put_and_get_keep_fifo_order_for_every_value_kind),
    cmocka_unit_test(test_queue_get_nowait_on_empty_queue_is_eempty_and_leaves_output_untouched),
    cmocka_unit_test(test_queue_get_with_timeout_on_empty_queue_is_eempty_after_the_timeout),
    cmocka_unit_test(test_queue_get_that_timed_out_takes_nothing_put_later),
    cmocka_unit_test(test_queue_blocked_get_completes_when_an_item_is_put),
    cmocka_unit_test(test_queue_blocked_getters_are_served_in_arrival_order),
    cmocka_unit_test(test_queue_put_or_get_with_null_arguments_is_einval),
    cmocka_unit_test(test_queue_negative_timeout_other_than_forever_is_einval),
    cmocka_unit_test(test_queue_bounded_put_nowait_on_full_queue_is_efull_and_changes_nothing),
    cmocka_unit_test(test_queue_bounded_put_with_timeout_on_full_queue_is_efull_after_the_timeout),
    cmocka_unit_test(test_queue_blocked_put_completes_when_a_get_makes_room_in_fifo_order),
    cmocka_unit_test(test_queue_blocked_putters_are_served_in_arrival_order),
    cmocka_unit_test(test_queue_joinable_unfinished_counts_puts_and_task_done_decrements),
    cmocka_unit_test(test_queue_task_done_and_join_on_non_joinable_queue_are_einval),
    cmocka_unit_test(test_queue_join_with_nothing_unfinished_returns_at_once),
    cmocka_unit_test(test_queue_join_returns_only_after_every_task_done),
    cmocka_unit_test(test_queue_join_in_several_threads_returns_after_the_last_task_done),
    cmocka_unit_test(
        test_queue_open_existing_name_ignores_maxsize_and_joinable_and_shares_items),
    cmocka_unit_test(test_queue_producer_and_consumer_processes_pass_every_item_once),
};

int
main(int argc, char **argv)
{
    return SMT_MAIN_CHILDREN("queue", tests, children);
}
