/* test_sem.c - sm_sem, Python's Semaphore and BoundedSemaphore: the count,
 * acquire and release, SM_NOWAIT and timed acquires on a zero count
 * (measured on CLOCK_MONOTONIC), release(n) handing permits to n parked
 * callers, the bound, INT64_MAX, invalid counts, get-or-create by name, and
 * the seed program (five child processes share a Semaphore(2); at most two,
 * and at some moment exactly two, hold a permit at once).
 *
 * Worker threads never call cmocka's assertions: they record statuses and
 * the main thread asserts them after joining them. Every wait that must
 * succeed is bounded by LONG_MS.
 *
 * What is not tested here: the order in which parked acquirers get permits.
 * An acquire parked in the server leaves nothing a client can read (the
 * count stays 0 whether or not anyone waits), so "waiter k was parked before
 * waiter k+1 arrived" cannot be established without a sleep, and these
 * tests use no sleeps to order events. The release(n) test asserts instead
 * what holds whatever the arrival times: exactly n of the callers get a
 * permit, the rest stay parked, and the count is 0 throughout. */
#include "smt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LONG_MS 10000      /* bound for waits that must succeed */
#define TIMED_MS 200       /* the timed acquire of the timeout test */
#define TIMED_MAX_MS 1000  /* ... must be answered before this */
#define AT_ONCE_MAX_MS 500 /* an SM_NOWAIT answer comes well before this */
#define SEED_PROCS 5
#define SEED_PERMITS 2
#define SEED_HOLD_MS 20 /* how long a child holds its permit */

/* ---------------------------------------------------------------- helpers */

#define MS_NS(ms) ((int64_t)(ms) * 1000000)

static void
assert_value_(sm_sem *s, int64_t want, const char *file, int line)
{
    int64_t got = want == 0 ? -1 : 0;
    smt_assert_status(sm_sem_value(s, &got), SM_OK, "sm_sem_value", file, line);
    if (got != want) {
        print_error("sm_sem_value says %" PRId64 ", wanted %" PRId64 "\n", got, want);
        _fail(file, line);
    }
}
#define assert_value(s, want) assert_value_((s), (want), __FILE__, __LINE__)

/* A thread that takes one permit and reports it. */
typedef struct acquirer {
    pthread_t tid;
    sm_sem *s;
    pthread_mutex_t *mu; /* guards *done, signalled on cv */
    pthread_cond_t *cv;
    int *done;
    int rv;
} acquirer;

static void *
acquirer_main(void *p)
{
    acquirer *a = p;
    a->rv = sm_sem_acquire(a->s, LONG_MS);
    pthread_mutex_lock(a->mu);
    ++*a->done;
    pthread_cond_broadcast(a->cv);
    pthread_mutex_unlock(a->mu);
    return NULL;
}

/* wait_done waits until *done >= n, at most 2 * LONG_MS; returns *done. */
static int
wait_done(pthread_mutex_t *mu, pthread_cond_t *cv, int *done, int n)
{
    struct timespec dl;
    int rc = 0, got;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 2 * LONG_MS / 1000;
    pthread_mutex_lock(mu);
    while (*done < n && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(cv, mu, &dl);
    got = *done;
    pthread_mutex_unlock(mu);
    return got;
}

/* ------------------------------------------------------------------ tests */

static void
test_sem_value_follows_acquire_and_release(void **state)
{
    (void)state;
    sm_sem *s = NULL;

    assert_sm_ok(sm_sem_new(smt_client(), 2, false, &s));
    assert_non_null(sm_sem_token(s));
    assert_value(s, 2);
    assert_sm_ok(sm_sem_acquire(s, SM_NOWAIT));
    assert_value(s, 1);
    assert_sm_ok(sm_sem_acquire(s, LONG_MS)); /* a permit is there: no wait */
    assert_value(s, 0);
    assert_sm_ok(sm_sem_release(s, 1));
    assert_value(s, 1);
    assert_sm_ok(sm_sem_release(s, 1));
    assert_value(s, 2);
    assert_sm_ok(sm_sem_acquire(s, SM_WAIT_FOREVER));
    assert_value(s, 1);
    assert_sm_ok(sm_sem_close(s));

    assert_sm_ok(sm_sem_new(smt_client(), 0, false, &s));
    assert_value(s, 0);
    assert_sm_ok(sm_sem_close(s));
}

static void
test_sem_nowait_on_zero_times_out_at_once(void **state)
{
    (void)state;
    sm_sem *s = NULL;

    assert_sm_ok(sm_sem_new(smt_client(), 1, false, &s));
    assert_sm_ok(sm_sem_acquire(s, SM_NOWAIT));
    int64_t t0 = smt_now_ns();
    assert_sm_status(sm_sem_acquire(s, SM_NOWAIT), SM_ETIMEDOUT);
    assert_true(smt_now_ns() - t0 < MS_NS(AT_ONCE_MAX_MS));
    assert_value(s, 0);
    assert_sm_ok(sm_sem_release(s, 1));
    assert_value(s, 1);
    assert_sm_ok(sm_sem_close(s));
}

static void
test_sem_timed_acquire_on_zero_times_out_and_takes_nothing(void **state)
{
    (void)state;
    sm_sem *s = NULL;

    assert_sm_ok(sm_sem_new(smt_client(), 0, false, &s));
    int64_t t0 = smt_now_ns();
    int rv = sm_sem_acquire(s, TIMED_MS);
    int64_t took = smt_now_ns() - t0;
    assert_sm_status(rv, SM_ETIMEDOUT);
    if (took < MS_NS(TIMED_MS) || took >= MS_NS(TIMED_MAX_MS))
        fail_msg("a %d ms acquire answered after %.1f ms", TIMED_MS, (double)took / 1e6);
    assert_value(s, 0);

    /* The timed-out call is no longer a waiter: a permit given back now
     * stays in the count. */
    assert_sm_ok(sm_sem_release(s, 1));
    assert_value(s, 1);
    assert_sm_ok(sm_sem_close(s));
}

static void
test_sem_negative_timeout_other_than_forever_is_einval(void **state)
{
    (void)state;
    sm_sem *s = NULL;

    assert_sm_ok(sm_sem_new(smt_client(), 1, false, &s));
    assert_sm_status(sm_sem_acquire(s, -2), SM_EINVAL);
    assert_sm_status(sm_sem_acquire(s, INT64_MIN), SM_EINVAL);
    assert_value(s, 1);
    assert_sm_ok(sm_sem_acquire(s, SM_NOWAIT));
    assert_sm_status(sm_sem_acquire(s, -2), SM_EINVAL); /* answered, not parked */
    assert_value(s, 0);
    assert_sm_ok(sm_sem_close(s));
}

static void
test_sem_release_n_gives_permits_to_n_parked_callers(void **state)
{
    (void)state;
    enum { NW = 3 };
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int done = 0;
    acquirer a[NW];
    sm_sem *s = NULL;

    assert_sm_ok(sm_sem_new(smt_client(), 0, false, &s));
    for (int k = 0; k < NW; k++) {
        a[k] = (acquirer){.s = s, .mu = &mu, .cv = &cv, .done = &done, .rv = -1};
        assert_int_equal(pthread_create(&a[k].tid, NULL, acquirer_main, &a[k]), 0);
    }

    /* Whenever each caller arrives, before or after this release, exactly
     * two of them get a permit and the count never rises above 0 for long:
     * a permit no parked caller takes now is taken by the next to arrive. */
    assert_sm_ok(sm_sem_release(s, 2));
    assert_int_equal(wait_done(&mu, &cv, &done, 2), 2);
    assert_value(s, 0);

    assert_sm_ok(sm_sem_release(s, 1));
    assert_int_equal(wait_done(&mu, &cv, &done, 3), 3);
    for (int k = 0; k < NW; k++) {
        smt_join_or_fail(a[k].tid, 3 * LONG_MS / 1000);
        assert_sm_ok(a[k].rv);
    }
    /* Three permits given, three taken: had release(2) let all three go,
     * one permit would be left here. */
    assert_value(s, 0);
    assert_sm_ok(sm_sem_close(s));
    pthread_cond_destroy(&cv);
    pthread_mutex_destroy(&mu);
}

static void
test_sem_release_hands_the_permit_to_a_parked_caller(void **state)
{
    (void)state;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int done = 0;
    acquirer a;
    sm_sem *s = NULL;

    assert_sm_ok(sm_sem_new(smt_client(), 1, true, &s));
    assert_sm_ok(sm_sem_acquire(s, SM_NOWAIT));
    a = (acquirer){.s = s, .mu = &mu, .cv = &cv, .done = &done, .rv = -1};
    assert_int_equal(pthread_create(&a.tid, NULL, acquirer_main, &a), 0);
    /* Bounded at 1 and at 0 now: giving one back is allowed whether the
     * permit goes to the caller or into the count until it comes. */
    assert_sm_ok(sm_sem_release(s, 1));
    smt_join_or_fail(a.tid, 3 * LONG_MS / 1000);
    assert_sm_ok(a.rv);
    assert_int_equal(done, 1);
    assert_value(s, 0);
    assert_sm_status(sm_sem_acquire(s, SM_NOWAIT), SM_ETIMEDOUT);
    assert_sm_ok(sm_sem_release(s, 1));
    assert_value(s, 1);
    assert_sm_ok(sm_sem_close(s));
    pthread_cond_destroy(&cv);
    pthread_mutex_destroy(&mu);
}

static void
test_sem_bounded_release_above_initial_is_eoverflow_and_changes_nothing(void **state)
{
    (void)state;
    sm_sem *s = NULL;

    assert_sm_ok(sm_sem_new(smt_client(), 2, true, &s));
    assert_sm_status(sm_sem_release(s, 1), SM_EOVERFLOW);
    assert_value(s, 2);

    assert_sm_ok(sm_sem_acquire(s, SM_NOWAIT));
    assert_value(s, 1);
    assert_sm_status(sm_sem_release(s, 2), SM_EOVERFLOW); /* 3 > 2: none given back */
    assert_value(s, 1);
    assert_sm_ok(sm_sem_release(s, 1));
    assert_value(s, 2);
    assert_sm_status(sm_sem_release(s, 1), SM_EOVERFLOW);
    assert_value(s, 2);

    assert_sm_ok(sm_sem_acquire(s, SM_NOWAIT));
    assert_sm_ok(sm_sem_acquire(s, SM_NOWAIT));
    assert_value(s, 0);
    assert_sm_ok(sm_sem_release(s, 2)); /* back to the bound exactly */
    assert_value(s, 2);
    assert_sm_ok(sm_sem_close(s));

    /* Bounded at 0: no release ever fits. */
    assert_sm_ok(sm_sem_new(smt_client(), 0, true, &s));
    assert_sm_status(sm_sem_release(s, 1), SM_EOVERFLOW);
    assert_value(s, 0);
    assert_sm_ok(sm_sem_close(s));
}

static void
test_sem_unbounded_release_above_initial_raises_the_count(void **state)
{
    (void)state;
    sm_sem *s = NULL;

    assert_sm_ok(sm_sem_new(smt_client(), 2, false, &s));
    assert_sm_ok(sm_sem_release(s, 1));
    assert_value(s, 3);
    assert_sm_ok(sm_sem_release(s, 5));
    assert_value(s, 8);
    for (int i = 0; i < 8; i++)
        assert_sm_ok(sm_sem_acquire(s, SM_NOWAIT));
    assert_value(s, 0);
    assert_sm_status(sm_sem_acquire(s, SM_NOWAIT), SM_ETIMEDOUT);
    assert_sm_ok(sm_sem_close(s));
}

static void
test_sem_release_of_fewer_than_one_is_einval_and_changes_nothing(void **state)
{
    (void)state;
    sm_sem *s = NULL;

    assert_sm_ok(sm_sem_new(smt_client(), 1, false, &s));
    assert_sm_status(sm_sem_release(s, 0), SM_EINVAL);
    assert_value(s, 1);
    assert_sm_status(sm_sem_release(s, -1), SM_EINVAL);
    assert_value(s, 1);
    assert_sm_status(sm_sem_release(s, INT64_MIN), SM_EINVAL);
    assert_value(s, 1);
    assert_sm_ok(sm_sem_close(s));
}

static void
test_sem_release_past_int64_max_is_eoverflow_and_changes_nothing(void **state)
{
    (void)state;
    sm_sem *s = NULL;

    assert_sm_ok(sm_sem_new(smt_client(), INT64_MAX - 1, false, &s));
    assert_value(s, INT64_MAX - 1);
    assert_sm_ok(sm_sem_release(s, 1));
    assert_value(s, INT64_MAX);
    assert_sm_status(sm_sem_release(s, 1), SM_EOVERFLOW);
    assert_value(s, INT64_MAX);
    assert_sm_status(sm_sem_release(s, INT64_MAX), SM_EOVERFLOW);
    assert_value(s, INT64_MAX);
    assert_sm_ok(sm_sem_acquire(s, SM_NOWAIT));
    assert_value(s, INT64_MAX - 1);
    assert_sm_ok(sm_sem_close(s));
}

static void
test_sem_negative_initial_value_is_einval(void **state)
{
    (void)state;
    sm_sem *s = NULL;

    assert_sm_status(sm_sem_new(smt_client(), -1, false, &s), SM_EINVAL);
    assert_null(s);
    assert_sm_status(sm_sem_new(smt_client(), INT64_MIN, true, &s), SM_EINVAL);
    assert_null(s);
    assert_sm_status(sm_sem_open(smt_client(), smt_name("sem.neg"), -1, false, &s), SM_EINVAL);
    assert_null(s);
}

static void
test_sem_open_existing_name_ignores_value_and_bounded(void **state)
{
    (void)state;
    char name[256];
    sm_client *c2 = NULL;
    sm_sem *s = NULL, *s2 = NULL, *s3 = NULL;

    snprintf(name, sizeof(name), "%s", smt_name("sem.named"));
    assert_sm_ok(sm_sem_open(smt_client(), name, 3, true, &s));
    assert_sm_ok(sm_client_open(&c2, smt_url(), NULL));
    assert_sm_ok(sm_sem_open(c2, name, 7, false, &s2));
    assert_string_equal(sm_sem_token(s2), sm_sem_token(s));
    assert_value(s2, 3);

    /* One count: a permit taken through one proxy is gone for the other. */
    assert_sm_ok(sm_sem_acquire(s2, SM_NOWAIT));
    assert_value(s, 2);
    /* Still bounded at 3, whatever the second open said. */
    assert_sm_ok(sm_sem_release(s2, 1));
    assert_sm_status(sm_sem_release(s2, 1), SM_EOVERFLOW);
    assert_value(s, 3);

    /* attach by token reaches the same semaphore. */
    assert_sm_ok(sm_sem_attach(smt_client(), sm_sem_token(s), &s3));
    assert_value(s3, 3);
    assert_sm_ok(sm_sem_close(s3));

    assert_sm_ok(sm_sem_close(s2));
    sm_client_close(c2);
    assert_sm_ok(sm_sem_close(s));
}

/* ----------------------------------------------------------------- seed */

static int
seed_fail(const char *what, int rv)
{
    fprintf(stderr, "child %ld: %s: %s (%s): %s\n", (long)getpid(), what, sm_errname(rv),
            sm_strerror(rv), sm_errdetail());
    return 1;
}

/* seed_child is a child's entry (smt_spawn): argv is
 * NAME URL SEM PARTNER DICT LIST GO_FD. After EOF on GO_FD: acquire SEM;
 * h = ++dict["holders"]; append h to LIST; hold briefly;
 * --dict["holders"]; release SEM.
 *
 * To make "two holders at once" certain rather than likely, the child that
 * draws arrival number 1 (dict["arrivals"], counted while it holds a
 * permit) keeps its permit until a partner exists: it waits on the
 * semaphore PARTNER (count 0), which every child that sees h == 2 releases
 * once. While that first child waits, the second permit is free and at
 * least one other child has not yet arrived (had one come and gone, its
 * arrival number would be lower), so some child takes that permit, sees
 * h == 2 and lets it go on. No sleep orders anything; SEED_HOLD_MS only
 * makes a permit last a while. */
static int
seed_child(int argc, char **argv)
{
    sm_client *c = NULL;
    sm_sem *s = NULL, *partner = NULL;
    sm_dict *d = NULL;
    sm_list *seen = NULL;
    sm_value one = sm_value_int(1), minus = sm_value_int(-1);
    sm_value h = sm_value_nil(), a = sm_value_nil();
    struct timespec hold = {0, SEED_HOLD_MS * 1000000L};
    int status = 0, rv;
    char b;

    alarm(120); /* a hung child must not hang the test */
    if (argc != 7) {
        fprintf(stderr, "child: expected 6 arguments, got %d\n", argc - 1);
        return 99;
    }
    if ((rv = sm_client_open(&c, argv[1], NULL)) != SM_OK)
        return seed_fail("sm_client_open", rv);
    if ((rv = sm_sem_open(c, argv[2], SEED_PERMITS, false, &s)) != SM_OK ||
        (rv = sm_sem_open(c, argv[3], 0, false, &partner)) != SM_OK ||
        (rv = sm_dict_open(c, argv[4], &d)) != SM_OK ||
        (rv = sm_list_open(c, argv[5], &seen)) != SM_OK) {
        status = seed_fail("open", rv);
        goto out;
    }
    while (read(atoi(argv[6]), &b, 1) < 0 && errno == EINTR)
        ;
    if ((rv = sm_sem_acquire(s, SM_WAIT_FOREVER)) != SM_OK) {
        status = seed_fail("sm_sem_acquire", rv);
        goto out;
    }
    if ((rv = sm_dict_incr(d, "holders", &one, &h)) != SM_OK ||
        (rv = sm_dict_incr(d, "arrivals", &one, &a)) != SM_OK ||
        (rv = sm_list_append(seen, &h)) != SM_OK) {
        status = seed_fail("incr holders/arrivals or append", rv);
        goto out;
    }
    if (h.u.i == 2 && (rv = sm_sem_release(partner, 1)) != SM_OK) {
        status = seed_fail("sm_sem_release(partner)", rv);
        goto out;
    }
    if (a.u.i == 1 && (rv = sm_sem_acquire(partner, 60000)) != SM_OK) {
        status = seed_fail("sm_sem_acquire(partner)", rv);
        goto out;
    }
    nanosleep(&hold, NULL);
    if ((rv = sm_dict_incr(d, "holders", &minus, NULL)) != SM_OK) {
        status = seed_fail("decr holders", rv);
        goto out;
    }
    if ((rv = sm_sem_release(s, 1)) != SM_OK)
        status = seed_fail("sm_sem_release", rv);
out:
    sm_list_close(seen);
    sm_dict_close(d);
    sm_sem_close(partner);
    sm_sem_close(s);
    sm_client_close(c);
    return status;
}

static const smt_child children[] = {{"seed", seed_child}};

static void
test_sem_seed_five_processes_never_exceed_two_holders(void **state)
{
    (void)state;
    char sname[256], pname[256], dname[256], lname[256], url[512], go_arg[32];
    sm_client *c = smt_client();
    sm_sem *s = NULL, *partner = NULL;
    sm_dict *d = NULL;
    sm_list *seen = NULL;
    sm_value *vals = NULL, got = sm_value_nil();
    size_t n = 0;
    pid_t pids[SEED_PROCS];
    int go[2], fl;

    snprintf(sname, sizeof(sname), "%s", smt_name("sem.seed"));
    snprintf(pname, sizeof(pname), "%s", smt_name("sem.seed.partner"));
    snprintf(dname, sizeof(dname), "%s", smt_name("sem.seed.dict"));
    snprintf(lname, sizeof(lname), "%s", smt_name("sem.seed.seen"));
    snprintf(url, sizeof(url), "%s", smt_url());
    assert_sm_ok(sm_sem_open(c, sname, SEED_PERMITS, false, &s));
    assert_sm_ok(sm_sem_open(c, pname, 0, false, &partner));
    assert_sm_ok(sm_dict_open(c, dname, &d));
    assert_sm_ok(sm_list_open(c, lname, &seen));

    /* The go pipe's read end survives the children's exec, its write end
     * does not: closing it here starts every child at once. */
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    fl = fcntl(go[0], F_GETFD);
    assert_int_equal(fcntl(go[0], F_SETFD, fl & ~FD_CLOEXEC), 0);
    snprintf(go_arg, sizeof(go_arg), "%d", go[0]);
    for (int k = 0; k < SEED_PROCS; k++)
        pids[k] = smt_spawn("seed", url, sname, pname, dname, lname, go_arg, NULL);
    close(go[0]);
    close(go[1]);
    for (int k = 0; k < SEED_PROCS; k++)
        smt_wait_child(pids[k]);

    /* Every holder count seen right after taking a permit: the largest is
     * the most holders there ever were. */
    assert_sm_ok(sm_list_slice(seen, 0, SM_END, &vals, &n));
    assert_int_equal(n, SEED_PROCS);
    int64_t max = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(vals[i].type, SM_INT);
        assert_in_range(vals[i].u.i, 1, SEED_PERMITS);
        if (vals[i].u.i > max)
            max = vals[i].u.i;
    }
    sm_values_free(vals, n);
    assert_int_equal(max, SEED_PERMITS);

    assert_sm_ok(sm_dict_get(d, "holders", &got));
    assert_int_equal(got.type, SM_INT);
    assert_int_equal(got.u.i, 0);
    assert_sm_ok(sm_dict_get(d, "arrivals", &got));
    assert_int_equal(got.u.i, SEED_PROCS);
    assert_value(s, SEED_PERMITS);

    assert_sm_ok(sm_list_close(seen));
    assert_sm_ok(sm_dict_close(d));
    assert_sm_ok(sm_sem_close(partner));
    assert_sm_ok(sm_sem_close(s));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sem_value_follows_acquire_and_release),
    cmocka_unit_test(test_sem_nowait_on_zero_times_out_at_once),
    cmocka_unit_test(test_sem_timed_acquire_on_zero_times_out_and_takes_nothing),
    cmocka_unit_test(test_sem_negative_timeout_other_than_forever_is_einval),
    cmocka_unit_test(test_sem_release_n_gives_permits_to_n_parked_callers),
    cmocka_unit_test(test_sem_release_hands_the_permit_to_a_parked_caller),
    cmocka_unit_test(test_sem_bounded_release_above_initial_is_eoverflow_and_changes_nothing),
    cmocka_unit_test(test_sem_unbounded_release_above_initial_raises_the_count),
    cmocka_unit_test(test_sem_release_of_fewer_than_one_is_einval_and_changes_nothing),
    cmocka_unit_test(test_sem_release_past_int64_max_is_eoverflow_and_changes_nothing),
    cmocka_unit_test(test_sem_negative_initial_value_is_einval),
    cmocka_unit_test(test_sem_open_existing_name_ignores_value_and_bounded),
    cmocka_unit_test(test_sem_seed_five_processes_never_exceed_two_holders),
};

int
main(int argc, char **argv)
{
    return SMT_MAIN_CHILDREN("sem", tests, children);
}
