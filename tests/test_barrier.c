/* test_barrier.c - sm_barrier, Python's Barrier: info, a round of N threads
 * with distinct arrival indices, reuse, abort, reset, a wait that times out
 * breaking the barrier for everyone, sharing by name and token, and the seed
 * program (4 child processes meet at a barrier; every "before" precedes every
 * "after").
 *
 * n_waiting from sm_barrier_info is the server's own count of parked waiters,
 * so polling it is a real proof that a waiter is held in the server (used to
 * order abort, reset and timeouts after the waits they must break).
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

#define BAR_BOUND_MS 30000 /* the longest any wait in this file may take */
#define BAR_THREADS  6
#define BAR_CHILDREN 4

/* ---------------------------------------------------------------- helpers */

static sm_barrier *
new_barrier(int64_t parties)
{
    sm_barrier *b = NULL;
    assert_sm_ok(sm_barrier_new(smt_client(), parties, &b));
    assert_non_null(b);
    return b;
}

/* assert_info asserts all three things sm_barrier_info reports. */
static void
assert_info(sm_barrier *b, int64_t parties, int64_t n_waiting, bool broken)
{
    int64_t p = -1, n = -1;
    bool br = !broken;
    assert_sm_ok(sm_barrier_info(b, &p, &n, &br));
    assert_int_equal(p, parties);
    assert_int_equal(n, n_waiting);
    assert_int_equal(br, broken);
}

/* await_waiting polls n_waiting until it is n (at most 10 s), then asserts
 * it: the waiters are then parked in the server. */
static void
await_waiting(sm_barrier *b, int64_t n)
{
    int64_t got = -1;
    int64_t deadline = smt_now_ms() + 10000;
    for (;;) {
        assert_sm_ok(sm_barrier_info(b, NULL, &got, NULL));
        if (got == n || smt_now_ms() >= deadline)
            break;
        smt_sleep_ms(5);
    }
    assert_int_equal(got, n);
}

/* A thread waiting at a barrier, possibly for several rounds. */
#define BAR_ROUNDS 3
typedef struct bar_waiter {
    pthread_t tid;
    sm_barrier *b;
    sm_client *c;       /* its own client, or NULL to share smt_client()'s proxy */
    int64_t timeout_ms;
    int rounds;
    int rv[BAR_ROUNDS];
    int64_t index[BAR_ROUNDS];
    int64_t ms;         /* how long the last wait took */
} bar_waiter;

static void *
bar_waiter_main(void *arg)
{
    bar_waiter *w = arg;
    sm_barrier *own = NULL;
    sm_barrier *b = w->b;

    if (w->c != NULL) {
        int rv = sm_barrier_attach(w->c, sm_barrier_token(w->b), &own);
        if (rv != SM_OK) {
            w->rv[0] = rv;
            return NULL;
        }
        b = own;
    }
    for (int r = 0; r < w->rounds; r++) {
        int64_t t0 = smt_now_ms();
        w->index[r] = -7;
        w->rv[r] = sm_barrier_wait(b, w->timeout_ms, &w->index[r]);
        w->ms = smt_now_ms() - t0;
        if (w->rv[r] != SM_OK)
            break;
    }
    sm_barrier_close(own);
    return NULL;
}

static void
bar_waiter_start(bar_waiter *w, sm_barrier *b, sm_client *c, int64_t timeout_ms, int rounds)
{
    memset(w, 0, sizeof(*w));
    w->b = b;
    w->c = c;
    w->timeout_ms = timeout_ms;
    w->rounds = rounds;
    for (int r = 0; r < BAR_ROUNDS; r++) {
        w->rv[r] = -1;
        w->index[r] = -7;
    }
    assert_int_equal(pthread_create(&w->tid, NULL, bar_waiter_main, w), 0);
}

/* assert_permutation asserts that the n indices are 0 .. n-1, each once. */
static void
assert_permutation(const int64_t *idx, int n)
{
    bool seen[BAR_THREADS + 1] = {false};
    assert_true(n <= BAR_THREADS + 1);
    for (int i = 0; i < n; i++) {
        assert_in_range(idx[i], 0, n - 1);
        assert_false(seen[idx[i]]);
        seen[idx[i]] = true;
    }
}

/* ------------------------------------------------------------------ info */

static void
test_barrier_new_barrier_is_whole_and_empty(void **state)
{
    (void)state;
    sm_barrier *b = new_barrier(3);
    assert_info(b, 3, 0, false);
    assert_sm_ok(sm_barrier_info(b, NULL, NULL, NULL)); /* every output may be NULL */
    sm_barrier_close(b);
}

static void
test_barrier_parties_out_of_range_is_einval(void **state)
{
    (void)state;
    sm_barrier *b = NULL;

    assert_sm_status(sm_barrier_new(smt_client(), 0, &b), SM_EINVAL);
    assert_null(b);
    assert_sm_status(sm_barrier_new(smt_client(), -1, &b), SM_EINVAL);
    assert_null(b);
    assert_sm_status(sm_barrier_new(smt_client(), 65537, &b), SM_EINVAL);
    assert_null(b);
    assert_sm_status(sm_barrier_open(smt_client(), smt_name("bar"), 0, &b), SM_EINVAL);
    assert_null(b);

    b = new_barrier(1);
    assert_info(b, 1, 0, false);
    sm_barrier_close(b);
    b = new_barrier(65536);
    assert_info(b, 65536, 0, false);
    sm_barrier_close(b);
}

/* ------------------------------------------------------------------ wait */

static void
test_barrier_of_one_party_releases_each_wait_at_once_with_index_0(void **state)
{
    (void)state;
    sm_barrier *b = new_barrier(1);
    int64_t idx = -7;

    assert_sm_ok(sm_barrier_wait(b, SM_NOWAIT, &idx));
    assert_int_equal(idx, 0);
    idx = -7;
    assert_sm_ok(sm_barrier_wait(b, SM_WAIT_FOREVER, &idx));
    assert_int_equal(idx, 0);
    assert_sm_ok(sm_barrier_wait(b, 1000, NULL)); /* index may be NULL */
    assert_info(b, 1, 0, false);
    sm_barrier_close(b);
}

static void
test_barrier_wait_with_n_threads_returns_each_index_once(void **state)
{
    (void)state;
    static bar_waiter w[BAR_THREADS]; /* static: outlives a failed test */
    int64_t idx[BAR_THREADS];
    sm_barrier *b = new_barrier(BAR_THREADS);

    for (int i = 0; i < BAR_THREADS; i++)
        bar_waiter_start(&w[i], b, NULL, BAR_BOUND_MS, 1);
    for (int i = 0; i < BAR_THREADS; i++)
        assert_true(smt_join_within(w[i].tid, BAR_BOUND_MS + 5000));
    for (int i = 0; i < BAR_THREADS; i++) {
        assert_sm_ok(w[i].rv[0]);
        idx[i] = w[i].index[0];
    }
    assert_permutation(idx, BAR_THREADS);
    assert_info(b, BAR_THREADS, 0, false);
    sm_barrier_close(b);
}

static void
test_barrier_last_arrival_releases_the_parked_waiters(void **state)
{
    (void)state;
    static bar_waiter w[2];
    sm_barrier *b = new_barrier(3);
    int64_t idx = -7;

    bar_waiter_start(&w[0], b, NULL, BAR_BOUND_MS, 1);
    await_waiting(b, 1);
    bar_waiter_start(&w[1], b, NULL, BAR_BOUND_MS, 1);
    await_waiting(b, 2);
    assert_info(b, 3, 2, false);
    /* the arrival order is known: the parked ones came first */
    assert_sm_ok(sm_barrier_wait(b, BAR_BOUND_MS, &idx));
    assert_int_equal(idx, 2);
    for (int i = 0; i < 2; i++)
        assert_true(smt_join_within(w[i].tid, BAR_BOUND_MS + 5000));
    assert_sm_ok(w[0].rv[0]);
    assert_sm_ok(w[1].rv[0]);
    assert_int_equal(w[0].index[0], 0);
    assert_int_equal(w[1].index[0], 1);
    assert_info(b, 3, 0, false);
    sm_barrier_close(b);
}

static void
test_barrier_is_reused_for_further_rounds(void **state)
{
    (void)state;
    static bar_waiter w[BAR_THREADS];
    int64_t idx[BAR_THREADS];
    sm_barrier *b = new_barrier(BAR_THREADS);

    /* Half share the group's client and proxy, half have their own client. */
    static sm_client *own[BAR_THREADS];
    for (int i = 0; i < BAR_THREADS; i++) {
        own[i] = NULL;
        if (i % 2 == 1)
            assert_sm_ok(sm_client_open(&own[i], smt_url(), NULL));
    }
    for (int i = 0; i < BAR_THREADS; i++)
        bar_waiter_start(&w[i], b, own[i], BAR_BOUND_MS, BAR_ROUNDS);
    for (int i = 0; i < BAR_THREADS; i++)
        assert_true(smt_join_within(w[i].tid, BAR_ROUNDS * BAR_BOUND_MS + 5000));
    for (int r = 0; r < BAR_ROUNDS; r++) {
        for (int i = 0; i < BAR_THREADS; i++) {
            assert_sm_ok(w[i].rv[r]);
            idx[i] = w[i].index[r];
        }
        assert_permutation(idx, BAR_THREADS);
    }
    assert_info(b, BAR_THREADS, 0, false);
    for (int i = 0; i < BAR_THREADS; i++)
        sm_client_close(own[i]);
    sm_barrier_close(b);
}

/* ----------------------------------------------------------------- abort */

static void
test_barrier_abort_breaks_waiters_and_later_waits_until_reset(void **state)
{
    (void)state;
    static bar_waiter w[2];
    sm_barrier *b = new_barrier(3);
    int64_t idx = -7;

    bar_waiter_start(&w[0], b, NULL, BAR_BOUND_MS, 1);
    bar_waiter_start(&w[1], b, NULL, SM_WAIT_FOREVER, 1);
    await_waiting(b, 2);

    assert_sm_ok(sm_barrier_abort(b));
    for (int i = 0; i < 2; i++)
        assert_true(smt_join_within(w[i].tid, 10000));
    for (int i = 0; i < 2; i++) {
        assert_sm_status(w[i].rv[0], SM_EBROKEN);
        assert_int_equal(w[i].index[0], -7); /* untouched on failure */
        assert_true(w[i].ms < BAR_BOUND_MS);
    }
    assert_info(b, 3, 0, true);

    /* broken before waiting: every later wait is refused at once */
    int64_t t0 = smt_now_ms();
    assert_sm_status(sm_barrier_wait(b, 5000, &idx), SM_EBROKEN);
    assert_true(smt_now_ms() - t0 < 2500);
    assert_sm_status(sm_barrier_wait(b, SM_NOWAIT, &idx), SM_EBROKEN);
    t0 = smt_now_ms();
    assert_sm_status(sm_barrier_wait(b, SM_WAIT_FOREVER, &idx), SM_EBROKEN);
    assert_true(smt_now_ms() - t0 < 2500);
    assert_int_equal(idx, -7);
    assert_sm_ok(sm_barrier_abort(b)); /* aborting a broken barrier changes nothing */
    assert_info(b, 3, 0, true);

    assert_sm_ok(sm_barrier_reset(b));
    assert_info(b, 3, 0, false);

    /* whole again: a full round passes */
    static bar_waiter v[2];
    bar_waiter_start(&v[0], b, NULL, BAR_BOUND_MS, 1);
    bar_waiter_start(&v[1], b, NULL, BAR_BOUND_MS, 1);
    assert_sm_ok(sm_barrier_wait(b, BAR_BOUND_MS, &idx));
    for (int i = 0; i < 2; i++)
        assert_true(smt_join_within(v[i].tid, BAR_BOUND_MS + 5000));
    int64_t all[3] = {idx, v[0].index[0], v[1].index[0]};
    assert_sm_ok(v[0].rv[0]);
    assert_sm_ok(v[1].rv[0]);
    assert_permutation(all, 3);
    assert_info(b, 3, 0, false);
    sm_barrier_close(b);
}

static void
test_barrier_abort_with_nobody_waiting_breaks_it(void **state)
{
    (void)state;
    sm_barrier *b = new_barrier(2);

    assert_sm_ok(sm_barrier_abort(b));
    assert_info(b, 2, 0, true);
    assert_sm_status(sm_barrier_wait(b, SM_NOWAIT, NULL), SM_EBROKEN);
    assert_sm_ok(sm_barrier_reset(b));
    assert_info(b, 2, 0, false);
    sm_barrier_close(b);
}

/* ----------------------------------------------------------------- reset */

static void
test_barrier_reset_breaks_current_waiters_and_leaves_it_whole(void **state)
{
    (void)state;
    static bar_waiter w[2];
    static bar_waiter v[3];
    int64_t idx[3];
    sm_barrier *b = new_barrier(3);

    bar_waiter_start(&w[0], b, NULL, BAR_BOUND_MS, 1);
    bar_waiter_start(&w[1], b, NULL, BAR_BOUND_MS, 1);
    await_waiting(b, 2);

    assert_sm_ok(sm_barrier_reset(b));
    for (int i = 0; i < 2; i++)
        assert_true(smt_join_within(w[i].tid, 10000));
    for (int i = 0; i < 2; i++) {
        assert_sm_status(w[i].rv[0], SM_EBROKEN);
        assert_int_equal(w[i].index[0], -7);
    }
    assert_info(b, 3, 0, false);

    /* whole and empty: a new round of 3 passes, indices 0 .. 2 */
    for (int i = 0; i < 3; i++)
        bar_waiter_start(&v[i], b, NULL, BAR_BOUND_MS, 1);
    for (int i = 0; i < 3; i++)
        assert_true(smt_join_within(v[i].tid, BAR_BOUND_MS + 5000));
    for (int i = 0; i < 3; i++) {
        assert_sm_ok(v[i].rv[0]);
        idx[i] = v[i].index[0];
    }
    assert_permutation(idx, 3);
    assert_info(b, 3, 0, false);
    sm_barrier_close(b);
}

static void
test_barrier_reset_of_a_whole_empty_barrier_changes_nothing(void **state)
{
    (void)state;
    sm_barrier *b = new_barrier(1);
    int64_t idx = -7;

    assert_sm_ok(sm_barrier_reset(b));
    assert_info(b, 1, 0, false);
    assert_sm_ok(sm_barrier_wait(b, SM_NOWAIT, &idx));
    assert_int_equal(idx, 0);
    sm_barrier_close(b);
}

/* -------------------------------------------------------------- timeouts */

static void
test_barrier_wait_that_times_out_is_ebroken_and_breaks_it(void **state)
{
    (void)state;
    sm_barrier *b = new_barrier(3);
    int64_t idx = -7;

    int64_t t0 = smt_now_ms();
    assert_sm_status(sm_barrier_wait(b, 200, &idx), SM_EBROKEN);
    int64_t ms = smt_now_ms() - t0;
    print_message("barrier wait of 200 ms took %" PRId64 " ms\n", ms);
    assert_true(ms >= 200);
    assert_true(ms < 1000);
    assert_int_equal(idx, -7);
    assert_info(b, 3, 0, true);
    assert_sm_status(sm_barrier_wait(b, SM_NOWAIT, &idx), SM_EBROKEN);
    assert_sm_ok(sm_barrier_reset(b));
    assert_info(b, 3, 0, false);
    sm_barrier_close(b);
}

static void
test_barrier_wait_nowait_short_of_parties_is_ebroken_and_breaks_it(void **state)
{
    (void)state;
    sm_barrier *b = new_barrier(2);

    assert_sm_status(sm_barrier_wait(b, SM_NOWAIT, NULL), SM_EBROKEN);
    assert_info(b, 2, 0, true);
    sm_barrier_close(b);
}

static void
test_barrier_wait_that_times_out_breaks_it_for_the_other_waiters(void **state)
{
    (void)state;
    static bar_waiter w;
    sm_barrier *b = new_barrier(3);
    int64_t idx = -7;

    bar_waiter_start(&w, b, NULL, BAR_BOUND_MS, 1);
    await_waiting(b, 1);

    int64_t t0 = smt_now_ms();
    assert_sm_status(sm_barrier_wait(b, 200, &idx), SM_EBROKEN); /* 2 of 3 parties */
    int64_t ms = smt_now_ms() - t0;
    assert_true(ms >= 200);
    assert_true(ms < 1000);
    assert_true(smt_join_within(w.tid, 10000));
    assert_sm_status(w.rv[0], SM_EBROKEN);
    assert_true(w.ms < BAR_BOUND_MS); /* broken by the other's timeout, not its own */
    assert_int_equal(w.index[0], -7);
    assert_int_equal(idx, -7);
    assert_info(b, 3, 0, true);
    sm_barrier_close(b);
}

static void
test_barrier_negative_timeout_other_than_forever_is_einval_and_breaks_nothing(void **state)
{
    (void)state;
    sm_barrier *b = new_barrier(2);
    int64_t idx = -7;

    assert_sm_status(sm_barrier_wait(b, -2, &idx), SM_EINVAL);
    assert_sm_status(sm_barrier_wait(b, INT64_MIN, &idx), SM_EINVAL);
    assert_int_equal(idx, -7);
    assert_info(b, 2, 0, false);
    sm_barrier_close(b);
}

/* ------------------------------------------------------ names and tokens */

static void
test_barrier_open_existing_name_ignores_parties_and_shares_state(void **state)
{
    (void)state;
    char name[256];
    sm_barrier *a = NULL, *b = NULL, *c = NULL;

    snprintf(name, sizeof(name), "%s", smt_name("bar"));
    assert_sm_ok(sm_barrier_open(smt_client(), name, 3, &a));
    assert_sm_ok(sm_barrier_open(smt_client(), name, 5, &b));
    assert_sm_ok(sm_barrier_attach(smt_client(), sm_barrier_token(a), &c));
    assert_string_equal(sm_barrier_token(a), sm_barrier_token(b));
    assert_info(b, 3, 0, false);
    assert_sm_ok(sm_barrier_abort(a));
    assert_info(b, 3, 0, true);
    assert_info(c, 3, 0, true);
    assert_sm_ok(sm_barrier_reset(c));
    assert_info(a, 3, 0, false);
    sm_barrier_close(c);
    sm_barrier_close(b);
    sm_barrier_close(a);
}

/* ------------------------------------------------------------ the seed */

/* The seed program: 4 processes meet at Barrier(4); each appends "before"
 * to a shared list, waits, then appends "after". Every "before" precedes
 * every "after", and the 4 arrival indices are 0 .. 3. */

/* child_meet: argv is NAME URL BARRIER_TOKEN LIST_TOKEN ID. */
static int
child_meet(int argc, char **argv)
{
    sm_client *c = NULL;
    sm_barrier *b = NULL;
    sm_list *l = NULL;
    char text[64];
    int64_t idx = -1;
    int rv, status = 1;

    alarm(120); /* a hung child must not hang the test */
    if (argc != 5) {
        fprintf(stderr, "barrier child: expected 4 arguments, got %d\n", argc - 1);
        return 99;
    }
    if ((rv = sm_client_open(&c, argv[1], NULL)) != SM_OK) {
        status = smt_child_fail("barrier child", "sm_client_open", rv);
        goto out;
    }
    if ((rv = sm_barrier_attach(c, argv[2], &b)) != SM_OK) {
        status = smt_child_fail("barrier child", "sm_barrier_attach", rv);
        goto out;
    }
    if ((rv = sm_list_attach(c, argv[3], &l)) != SM_OK) {
        status = smt_child_fail("barrier child", "sm_list_attach", rv);
        goto out;
    }
    snprintf(text, sizeof(text), "before %s", argv[4]);
    if ((rv = sm_list_append(l, (const sm_value[]){sm_value_str(text)})) != SM_OK) {
        status = smt_child_fail("barrier child", "append before", rv);
        goto out;
    }
    if ((rv = sm_barrier_wait(b, 60000, &idx)) != SM_OK) {
        status = smt_child_fail("barrier child", "sm_barrier_wait", rv);
        goto out;
    }
    snprintf(text, sizeof(text), "after %s %" PRId64, argv[4], idx);
    if ((rv = sm_list_append(l, (const sm_value[]){sm_value_str(text)})) != SM_OK) {
        status = smt_child_fail("barrier child", "append after", rv);
        goto out;
    }
    status = 0;
out:
    sm_list_close(l);
    sm_barrier_close(b);
    sm_client_close(c);
    return status;
}

static const smt_child children[] = {{"meet", child_meet}};

static void
test_barrier_four_child_processes_all_arrive_before_any_leaves(void **state)
{
    (void)state;
    sm_barrier *b = new_barrier(BAR_CHILDREN);
    sm_list *l = NULL;
    pid_t pids[BAR_CHILDREN];
    char url[512], btok[512], ltok[512], id[16];
    sm_value *vals = NULL;
    size_t n = 0;
    int last_before = -1, first_after = -1;
    bool before_seen[BAR_CHILDREN] = {false}, after_seen[BAR_CHILDREN] = {false};
    bool idx_seen[BAR_CHILDREN] = {false};

    assert_sm_ok(sm_list_new(smt_client(), &l));
    snprintf(url, sizeof(url), "%s", smt_url());
    snprintf(btok, sizeof(btok), "%s", sm_barrier_token(b));
    snprintf(ltok, sizeof(ltok), "%s", sm_list_token(l));
    for (int i = 0; i < BAR_CHILDREN; i++) {
        snprintf(id, sizeof(id), "%d", i);
        pids[i] = smt_spawn("meet", url, btok, ltok, id, NULL);
    }
    for (int i = 0; i < BAR_CHILDREN; i++)
        smt_wait_child(pids[i]);

    assert_sm_ok(sm_list_slice(l, 0, SM_END, &vals, &n));
    assert_int_equal(n, 2 * BAR_CHILDREN);
    for (size_t k = 0; k < n; k++) {
        int who = -1;
        int64_t idx = -1;
        assert_int_equal(vals[k].type, SM_STR);
        const char *s = vals[k].u.buf.ptr;
        print_message("%zu: %s\n", k, s);
        if (sscanf(s, "before %d", &who) == 1) {
            assert_in_range(who, 0, BAR_CHILDREN - 1);
            assert_false(before_seen[who]);
            before_seen[who] = true;
            last_before = (int)k;
        } else if (sscanf(s, "after %d %" SCNd64, &who, &idx) == 2) {
            assert_in_range(who, 0, BAR_CHILDREN - 1);
            assert_true(before_seen[who]);
            assert_false(after_seen[who]);
            after_seen[who] = true;
            assert_in_range(idx, 0, BAR_CHILDREN - 1);
            assert_false(idx_seen[idx]);
            idx_seen[idx] = true;
            if (first_after < 0)
                first_after = (int)k;
        } else {
            fail_msg("unexpected entry '%s'", s);
        }
    }
    assert_int_equal(last_before, BAR_CHILDREN - 1);
    assert_int_equal(first_after, BAR_CHILDREN);
    sm_values_free(vals, n);
    assert_info(b, BAR_CHILDREN, 0, false);
    sm_list_close(l);
    sm_barrier_close(b);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_barrier_new_barrier_is_whole_and_empty),
    cmocka_unit_test(test_barrier_parties_out_of_range_is_einval),
    cmocka_unit_test(test_barrier_of_one_party_releases_each_wait_at_once_with_index_0),
    cmocka_unit_test(test_barrier_wait_with_n_threads_returns_each_index_once),
    cmocka_unit_test(test_barrier_last_arrival_releases_the_parked_waiters),
    cmocka_unit_test(test_barrier_is_reused_for_further_rounds),
    cmocka_unit_test(test_barrier_abort_breaks_waiters_and_later_waits_until_reset),
    cmocka_unit_test(test_barrier_abort_with_nobody_waiting_breaks_it),
    cmocka_unit_test(test_barrier_reset_breaks_current_waiters_and_leaves_it_whole),
    cmocka_unit_test(test_barrier_reset_of_a_whole_empty_barrier_changes_nothing),
    cmocka_unit_test(test_barrier_wait_that_times_out_is_ebroken_and_breaks_it),
    cmocka_unit_test(test_barrier_wait_nowait_short_of_parties_is_ebroken_and_breaks_it),
    cmocka_unit_test(test_barrier_wait_that_times_out_breaks_it_for_the_other_waiters),
    cmocka_unit_test(test_barrier_negative_timeout_other_than_forever_is_einval_and_breaks_nothing),
    cmocka_unit_test(test_barrier_open_existing_name_ignores_parties_and_shares_state),
    cmocka_unit_test(test_barrier_four_child_processes_all_arrive_before_any_leaves),
};

int
main(int argc, char **argv)
{
    return SMT_MAIN_CHILDREN("barrier", tests, children);
}
