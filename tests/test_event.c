/* test_event.c - sm_event, Python's Event: set, clear and is_set; wait on a
 * set event, on a clear one with and without a timeout; set waking waiting
 * threads; sharing by name and token; and the seed program (an event
 * releasing 4 waiting child processes).
 *
 * Blocking happens in the server: a wait on a clear event is held there and
 * answered when the event is set (was_set true) or when its timeout passes
 * (SM_OK, was_set false).
 *
 * Worker threads and children never call cmocka's assertions (those jump back
 * into the main thread's test); they record what they saw and the main
 * thread asserts it. Every wait is bounded so that a bug fails, not hangs. */
#include "smt.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EV_BOUND_MS 30000 /* the longest any wait in this file may take */
#define EV_CHILDREN 4
#define EV_THREADS  8

/* ---------------------------------------------------------------- helpers */

static sm_event *
new_event(void)
{
    sm_event *e = NULL;
    assert_sm_ok(sm_event_new(smt_client(), &e));
    assert_non_null(e);
    return e;
}

/* assert_is_set reads the event's state through the server. */
static void
assert_is_set(sm_event *e, bool want)
{
    bool got = !want;
    assert_sm_ok(sm_event_is_set(e, &got));
    assert_int_equal(got, want);
}

static int
event_setup(void **state)
{
    sm_event *e = NULL;
    if (sm_event_new(smt_client(), &e) != SM_OK)
        return -1;
    *state = e;
    return 0;
}

static int
event_teardown(void **state)
{
    return sm_event_close(*state) == SM_OK ? 0 : -1;
}

/* A thread waiting on an event. */
typedef struct ev_waiter {
    pthread_t tid;
    sm_event *e;
    int64_t timeout_ms;
    int rv;
    bool was_set;
    int64_t ms; /* how long the wait took */
    int done;   /* atomic: set once the wait returned */
} ev_waiter;

static void *
ev_waiter_main(void *arg)
{
    ev_waiter *w = arg;
    int64_t t0 = smt_now_ms();
    w->was_set = false;
    w->rv = sm_event_wait(w->e, w->timeout_ms, &w->was_set);
    w->ms = smt_now_ms() - t0;
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void
ev_waiter_start(ev_waiter *w, sm_event *e, int64_t timeout_ms)
{
    memset(w, 0, sizeof(*w));
    w->e = e;
    w->timeout_ms = timeout_ms;
    w->rv = -1;
    assert_int_equal(pthread_create(&w->tid, NULL, ev_waiter_main, w), 0);
}

static bool
ev_waiter_done(ev_waiter *w)
{
    return __atomic_load_n(&w->done, __ATOMIC_ACQUIRE) != 0;
}

/* --------------------------------------------------------- set and clear */

static void
test_event_new_event_is_clear(void **state)
{
    sm_event *e = *state;
    assert_is_set(e, false);
}

static void
test_event_set_sets_and_clear_clears(void **state)
{
    sm_event *e = *state;

    assert_sm_ok(sm_event_set(e));
    assert_is_set(e, true);
    assert_sm_ok(sm_event_set(e)); /* setting a set event changes nothing */
    assert_is_set(e, true);
    assert_sm_ok(sm_event_clear(e));
    assert_is_set(e, false);
    assert_sm_ok(sm_event_clear(e)); /* clearing a clear event changes nothing */
    assert_is_set(e, false);
    assert_sm_ok(sm_event_set(e));
    assert_is_set(e, true);
}

static void
test_event_is_set_with_null_output_is_einval(void **state)
{
    sm_event *e = *state;
    assert_sm_status(sm_event_is_set(e, NULL), SM_EINVAL);
    assert_sm_status(sm_event_is_set(NULL, NULL), SM_EINVAL);
    assert_sm_status(sm_event_set(NULL), SM_EINVAL);
    assert_sm_status(sm_event_clear(NULL), SM_EINVAL);
    assert_sm_status(sm_event_wait(NULL, SM_NOWAIT, NULL), SM_EINVAL);
}

/* ------------------------------------------------------------------ wait */

static void
test_event_wait_on_set_event_returns_at_once_with_was_set_true(void **state)
{
    sm_event *e = *state;
    bool was_set = false;
    int64_t t0, ms;

    assert_sm_ok(sm_event_set(e));
    t0 = smt_now_ms();
    assert_sm_ok(sm_event_wait(e, SM_WAIT_FOREVER, &was_set));
    ms = smt_now_ms() - t0;
    assert_true(was_set);
    assert_true(ms < 1000);

    was_set = false;
    assert_sm_ok(sm_event_wait(e, SM_NOWAIT, &was_set));
    assert_true(was_set);

    was_set = false;
    t0 = smt_now_ms();
    assert_sm_ok(sm_event_wait(e, 5000, &was_set));
    ms = smt_now_ms() - t0;
    assert_true(was_set);
    assert_true(ms < 1000);

    /* a wait does not clear the event (no auto-reset) */
    assert_is_set(e, true);
}

static void
test_event_wait_accepts_null_was_set(void **state)
{
    sm_event *e = *state;

    assert_sm_ok(sm_event_wait(e, SM_NOWAIT, NULL)); /* clear */
    assert_sm_ok(sm_event_wait(e, 50, NULL));        /* clear, times out */
    assert_sm_ok(sm_event_set(e));
    assert_sm_ok(sm_event_wait(e, SM_WAIT_FOREVER, NULL));
    assert_is_set(e, true);
}

static void
test_event_wait_nowait_on_clear_event_returns_was_set_false_at_once(void **state)
{
    sm_event *e = *state;
    bool was_set = true;
    int64_t t0 = smt_now_ms();

    assert_sm_ok(sm_event_wait(e, SM_NOWAIT, &was_set));
    assert_true(smt_now_ms() - t0 < 1000);
    assert_false(was_set);
    assert_is_set(e, false);
}

static void
test_event_wait_with_timeout_on_clear_event_returns_was_set_false_after_the_timeout(
    void **state)
{
    sm_event *e = *state;
    bool was_set = true;
    int64_t t0 = smt_now_ms();

    assert_sm_ok(sm_event_wait(e, 200, &was_set)); /* not SM_ETIMEDOUT: the answer is was_set */
    int64_t ms = smt_now_ms() - t0;
    print_message("event wait of 200 ms took %" PRId64 " ms\n", ms);
    assert_false(was_set);
    assert_true(ms >= 200);
    assert_true(ms < 1000);
    assert_is_set(e, false);
}

static void
test_event_wait_after_set_then_clear_times_out(void **state)
{
    sm_event *e = *state;
    bool was_set = true;

    assert_sm_ok(sm_event_set(e));
    assert_sm_ok(sm_event_clear(e));
    int64_t t0 = smt_now_ms();
    assert_sm_ok(sm_event_wait(e, 100, &was_set));
    assert_true(smt_now_ms() - t0 >= 100);
    assert_false(was_set);
}

static void
test_event_set_wakes_a_waiting_thread(void **state)
{
    sm_event *e = *state;
    static ev_waiter w; /* static: outlives a failed test whose thread still runs */

    ev_waiter_start(&w, e, EV_BOUND_MS);
    smt_sleep_ms(200); /* give it time to park; not needed for the assertions */
    /* The event is clear, so the wait cannot have returned (its bound is 30 s). */
    assert_false(ev_waiter_done(&w));
    int64_t t0 = smt_now_ms();
    assert_sm_ok(sm_event_set(e));
    assert_true(smt_join_within(w.tid, EV_BOUND_MS + 5000));
    int64_t ms = smt_now_ms() - t0;
    print_message("waiter returned %" PRId64 " ms after set\n", ms);
    assert_sm_ok(w.rv);
    assert_true(w.was_set);
    assert_true(w.ms < EV_BOUND_MS); /* woken by set, not by its timeout */
    assert_true(ms < 5000);
    assert_is_set(e, true);
}

static void
test_event_set_wakes_every_waiting_thread(void **state)
{
    sm_event *e = *state;
    static ev_waiter w[EV_THREADS];

    for (int i = 0; i < EV_THREADS; i++)
        ev_waiter_start(&w[i], e, i % 2 == 0 ? EV_BOUND_MS : SM_WAIT_FOREVER);
    smt_sleep_ms(200);
    for (int i = 0; i < EV_THREADS; i++)
        assert_false(ev_waiter_done(&w[i]));
    assert_sm_ok(sm_event_set(e));
    /* Half wait forever: a join with a bound keeps a lost wake-up from
     * hanging the test. */
    for (int i = 0; i < EV_THREADS; i++)
        assert_true(smt_join_within(w[i].tid, EV_BOUND_MS + 5000));
    for (int i = 0; i < EV_THREADS; i++) {
        assert_sm_ok(w[i].rv);
        assert_true(w[i].was_set);
        assert_true(w[i].ms < EV_BOUND_MS);
    }
}

static void
test_event_waiter_that_times_out_does_not_disturb_a_later_set(void **state)
{
    sm_event *e = *state;
    static ev_waiter shortw, longw;

    ev_waiter_start(&shortw, e, 100);
    ev_waiter_start(&longw, e, EV_BOUND_MS);
    assert_true(smt_join_within(shortw.tid, EV_BOUND_MS));
    assert_sm_ok(shortw.rv);
    assert_false(shortw.was_set);
    assert_true(shortw.ms >= 100);
    assert_false(ev_waiter_done(&longw));
    assert_sm_ok(sm_event_set(e));
    assert_true(smt_join_within(longw.tid, EV_BOUND_MS + 5000));
    assert_sm_ok(longw.rv);
    assert_true(longw.was_set);
}

/* The client adds its call deadline on top of the wait's timeout: with the
 * largest timeout that sum must not overflow into a short deadline. A client
 * with a 100 ms call deadline makes an overflow show at once. */
static void
test_event_wait_with_the_largest_timeout_waits_until_set(void **state)
{
    sm_event *e = *state;
    static ev_waiter w;
    static sm_client *c;
    static sm_event *mine;
    sm_client_opts o = SM_CLIENT_OPTS_INIT;

    o.call_timeout_ms = 100;
    c = NULL;
    mine = NULL;
    assert_sm_ok(sm_client_open(&c, smt_url(), &o));
    assert_sm_ok(sm_event_attach(c, sm_event_token(e), &mine));
    ev_waiter_start(&w, mine, INT64_MAX);
    smt_sleep_ms(500);
    if (ev_waiter_done(&w)) /* neither timed out nor given up by the client */
        fail_msg("a wait of INT64_MAX ms on a clear event returned %s, was_set %d, after "
                 "%" PRId64 " ms", sm_errname(w.rv), (int)w.was_set, w.ms);
    assert_sm_ok(sm_event_set(e));
    assert_true(smt_join_within(w.tid, EV_BOUND_MS));
    assert_sm_ok(w.rv);
    assert_true(w.was_set);
    sm_event_close(mine);
    sm_client_close(c);
}

static void
test_event_wait_with_a_negative_timeout_other_than_forever_is_einval(void **state)
{
    sm_event *e = *state;
    bool was_set = true;

    assert_sm_status(sm_event_wait(e, -2, &was_set), SM_EINVAL);
    assert_sm_status(sm_event_wait(e, INT64_MIN, &was_set), SM_EINVAL);
    assert_true(was_set); /* untouched */
}

/* ------------------------------------------------------ names and tokens */

static void
test_event_open_by_name_and_attach_by_token_share_the_event(void **state)
{
    (void)state;
    char name[256];
    sm_event *a = NULL, *b = NULL, *c = NULL;
    sm_client *other = NULL;

    snprintf(name, sizeof(name), "%s", smt_name("ev"));
    assert_sm_ok(sm_event_open(smt_client(), name, &a));
    assert_sm_ok(sm_client_open(&other, smt_url(), NULL));
    assert_sm_ok(sm_event_open(other, name, &b));
    assert_sm_ok(sm_event_attach(other, sm_event_token(a), &c));
    assert_string_equal(sm_event_token(a), sm_event_token(b));
    assert_string_equal(sm_event_token(a), sm_event_token(c));

    assert_is_set(b, false);
    assert_sm_ok(sm_event_set(a));
    assert_is_set(b, true);
    assert_is_set(c, true);
    assert_sm_ok(sm_event_clear(c));
    assert_is_set(a, false);

    assert_sm_ok(sm_event_close(c));
    assert_sm_ok(sm_event_close(b));
    assert_sm_ok(sm_event_close(a));
    sm_client_close(other);
}

static void
test_event_open_name_of_another_type_is_ewrongtype(void **state)
{
    (void)state;
    char name[256];
    sm_dict *d = NULL;
    sm_event *e = NULL;
    sm_dict *d2 = NULL;

    snprintf(name, sizeof(name), "%s", smt_name("evtype"));
    assert_sm_ok(sm_dict_open(smt_client(), name, &d));
    assert_sm_status(sm_event_open(smt_client(), name, &e), SM_EWRONGTYPE);
    assert_null(e);
    assert_sm_status(sm_event_attach(smt_client(), sm_dict_token(d), &e), SM_EWRONGTYPE);
    assert_null(e);
    e = new_event();
    assert_sm_status(sm_dict_attach(smt_client(), sm_event_token(e), &d2), SM_EWRONGTYPE);
    assert_null(d2);
    sm_event_close(e);
    sm_dict_close(d);
}

/* ------------------------------------------------------------ the seed */

/* The seed program:
 *
 *     ev = m.Event()
 *     for i in range(4): Process(target=lambda: (ev.wait(), counter += 1)).start()
 *     ev.set()
 *
 * Each child increments "ready" right before its wait, and "passed" right
 * after it. The parent waits until ready is 4, checks that passed is still 0
 * and that no child has exited (the event is clear, so none may have got past
 * its wait), then sets the event. Each child checks that its wait returned
 * SM_OK with was_set true and that is_set read afterwards is true; afterwards
 * all 4 exit 0 and passed is exactly 4. */

/* child_waiter is the child's body: argv is NAME URL EVENT_TOKEN DICT_TOKEN. */
static int
child_waiter(int argc, char **argv)
{
    sm_client *c = NULL;
    sm_event *e = NULL;
    sm_dict *d = NULL;
    sm_value one = sm_value_int(1);
    bool was_set = false, is_set = false;
    int rv, status = 1;

    alarm(120); /* a hung child must not hang the test */
    if (argc != 4) {
        fprintf(stderr, "event child: expected 3 arguments, got %d\n", argc - 1);
        return 99;
    }
    if ((rv = sm_client_open(&c, argv[1], NULL)) != SM_OK) {
        status = smt_child_fail("event child", "sm_client_open", rv);
        goto out;
    }
    if ((rv = sm_event_attach(c, argv[2], &e)) != SM_OK) {
        status = smt_child_fail("event child", "sm_event_attach", rv);
        goto out;
    }
    if ((rv = sm_dict_attach(c, argv[3], &d)) != SM_OK) {
        status = smt_child_fail("event child", "sm_dict_attach", rv);
        goto out;
    }
    if ((rv = sm_dict_incr(d, "ready", &one, NULL)) != SM_OK) {
        status = smt_child_fail("event child", "sm_dict_incr ready", rv);
        goto out;
    }
    if ((rv = sm_event_wait(e, 60000, &was_set)) != SM_OK) {
        status = smt_child_fail("event child", "sm_event_wait", rv);
        goto out;
    }
    if (!was_set) {
        fprintf(stderr, "event child %ld: wait returned with was_set false\n", (long)getpid());
        goto out;
    }
    if ((rv = sm_event_is_set(e, &is_set)) != SM_OK) {
        status = smt_child_fail("event child", "sm_event_is_set", rv);
        goto out;
    }
    if (!is_set) {
        fprintf(stderr, "event child %ld: is_set false after the wait\n", (long)getpid());
        goto out;
    }
    if ((rv = sm_dict_incr(d, "passed", &one, NULL)) != SM_OK) {
        status = smt_child_fail("event child", "sm_dict_incr passed", rv);
        goto out;
    }
    status = 0;
out:
    sm_dict_close(d);
    sm_event_close(e);
    sm_client_close(c);
    return status;
}

static const smt_child children[] = {{"waiter", child_waiter}};

static void
test_event_set_releases_four_waiting_child_processes(void **state)
{
    sm_event *e = *state;
    sm_dict *d = NULL;
    pid_t pids[EV_CHILDREN];
    char url[512], etok[512], dtok[512];
    int64_t ready = 0, deadline;

    assert_sm_ok(sm_dict_new(smt_client(), &d));
    snprintf(url, sizeof(url), "%s", smt_url());
    snprintf(etok, sizeof(etok), "%s", sm_event_token(e));
    snprintf(dtok, sizeof(dtok), "%s", sm_dict_token(d));

    for (int i = 0; i < EV_CHILDREN; i++)
        pids[i] = smt_spawn("waiter", url, etok, dtok, NULL);

    /* A progress wait, not a proof of parking: the assertions below hold
     * whether or not every child has reached the server yet. */
    deadline = smt_now_ms() + 30000;
    while ((ready = smt_dict_int(d, "ready")) < EV_CHILDREN && smt_now_ms() < deadline)
        smt_sleep_ms(10);
    smt_sleep_ms(200); /* let the last one park */

    /* Nobody got past a wait on a clear event. */
    assert_int_equal(smt_dict_int(d, "passed"), 0);
    for (int i = 0; i < EV_CHILDREN; i++)
        assert_int_equal(waitpid(pids[i], NULL, WNOHANG), 0);
    assert_is_set(e, false);

    assert_sm_ok(sm_event_set(e));
    for (int i = 0; i < EV_CHILDREN; i++)
        smt_wait_child(pids[i]);
    assert_int_equal(ready, EV_CHILDREN);
    assert_int_equal(smt_dict_int(d, "ready"), EV_CHILDREN);
    assert_int_equal(smt_dict_int(d, "passed"), EV_CHILDREN);
    assert_is_set(e, true);
    sm_dict_close(d);
}

#define EV_TEST(f) cmocka_unit_test_setup_teardown(f, event_setup, event_teardown)

const struct CMUnitTest tests[] = {
    EV_TEST(test_event_new_event_is_clear),
    EV_TEST(test_event_set_sets_and_clear_clears),
    EV_TEST(test_event_is_set_with_null_output_is_einval),
    EV_TEST(test_event_wait_on_set_event_returns_at_once_with_was_set_true),
    EV_TEST(test_event_wait_accepts_null_was_set),
    EV_TEST(test_event_wait_nowait_on_clear_event_returns_was_set_false_at_once),
    EV_TEST(test_event_wait_with_timeout_on_clear_event_returns_was_set_false_after_the_timeout),
    EV_TEST(test_event_wait_after_set_then_clear_times_out),
    EV_TEST(test_event_set_wakes_a_waiting_thread),
    EV_TEST(test_event_set_wakes_every_waiting_thread),
    EV_TEST(test_event_waiter_that_times_out_does_not_disturb_a_later_set),
    EV_TEST(test_event_wait_with_the_largest_timeout_waits_until_set),
    EV_TEST(test_event_wait_with_a_negative_timeout_other_than_forever_is_einval),
    EV_TEST(test_event_open_by_name_and_attach_by_token_share_the_event),
    EV_TEST(test_event_open_name_of_another_type_is_ewrongtype),
    EV_TEST(test_event_set_releases_four_waiting_child_processes),
};

int
main(int argc, char **argv)
{
    return SMT_MAIN_CHILDREN("event", tests, children);
}
