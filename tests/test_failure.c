/* test_failure.c - what a client sees when its server goes away.
 *
 * Every test here runs against its own private syncmgrd (smt_server_spawn on
 * the group's transport), never the group's shared one, because it kills or
 * stops that server. Clients get a short call deadline (FAIL_CALL_TIMEOUT_MS)
 * so a call to a dead server must end soon: with SM_ECLOSED, SM_EUNREACHABLE
 * or SM_ENOREPLY (together "lost" below), within FAIL_BOUND_MS, and without
 * crashing the process. Outputs must be untouched by a failed call.
 *
 * The in-flight tests run caller threads that keep calling sm_dict_incr while
 * the main thread kills (SIGKILL) or stops (SIGTERM) the server. Their exact
 * checks:
 *   - every call ends in SM_OK or a lost status, each within FAIL_BOUND_MS;
 *   - a call started after the server was reaped is never SM_OK;
 *   - the new values the SM_OK replies carry are all distinct, and none
 *     exceeds the number of calls that could have been applied: the SM_OK
 *     ones plus the lost ones started before the cut (a call whose reply was
 *     lost may or may not have been applied; nothing is applied twice, and a
 *     call started after the server was reaped is never applied).
 * Worker threads never use cmocka's assertions; they keep counters that the
 * main thread checks after joining them. */
#include "smt.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FAIL_CALL_TIMEOUT_MS 1000 /* the clients' call deadline */
#define FAIL_BOUND_MS 5000        /* the deadline plus a generous margin */
#define FAIL_CALLERS 4            /* caller threads in the in-flight tests */
#define FAIL_OK_BEFORE_CUT 200    /* SM_OK replies to see before the cut */
#define FAIL_LOST_AFTER_CUT 3     /* lost calls per thread before it stops */
#define FAIL_JOIN_S 30            /* a caller not done by then is hung */

/* fail_is_lost: the statuses a call to a server that is gone may return. */
static bool
fail_is_lost(int rv)
{
    return rv == SM_ECLOSED || rv == SM_EUNREACHABLE || rv == SM_ENOREPLY;
}

/* fail_assert_lost fails the test unless rv is a lost status. */
static void
fail_assert_lost(int rv, const char *expr, const char *file, int line)
{
    if (fail_is_lost(rv))
        return;
    print_error("%s returned %s (%s), wanted SM_ECLOSED, SM_EUNREACHABLE or SM_ENOREPLY;"
                " detail: %s\n",
                expr, sm_errname(rv), sm_strerror(rv), sm_errdetail());
    _fail(file, line);
}
#define assert_sm_lost(expr) fail_assert_lost((expr), #expr, __FILE__, __LINE__)

/* fail_spawn starts a private server and opens a client with the short call
 * deadline on it. */
static void
fail_spawn(smt_server *s, sm_client **cp)
{
    sm_client_opts o = SM_CLIENT_OPTS_INIT;

    o.call_timeout_ms = FAIL_CALL_TIMEOUT_MS;
    assert_int_equal(smt_server_spawn(s, smt_transport(), NULL), 0);
    assert_sm_ok(sm_client_open(cp, s->url, &o));
}

/* fail_assert_exit0 checks a waitpid status from smt_server_stop. */
static void
fail_assert_exit0(int st)
{
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        print_error("syncmgrd did not exit 0 on SIGTERM: status %d (%s %d)\n", st,
                    st >= 0 && WIFSIGNALED(st) ? "signal" : "exit code",
                    st < 0 ? -1 : WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        fail();
    }
}

/* --------------------------------------------------- single calls, no race */

static void
test_client_call_after_server_killed_fails_within_deadline(void **state)
{
    (void)state;
    smt_server s;
    sm_client *c = NULL;
    sm_dict *d = NULL;
    sm_value seven = sm_value_int(7);
    sm_value one = sm_value_int(1);
    sm_value got = sm_value_nil();
    int64_t t0, ms;
    int rv;

    fail_spawn(&s, &c);
    assert_sm_ok(sm_dict_open(c, smt_name("fail.kill"), &d));
    assert_sm_ok(sm_dict_set(d, "k", &seven));
    assert_sm_ok(sm_dict_get(d, "k", &got));
    assert_int_equal(got.type, SM_INT);
    assert_int_equal(got.u.i, 7);
    sm_value_clear(&got);

    smt_server_kill(&s);

    /* A read: fails, in time, and leaves the caller's output alone. */
    got = sm_value_int(42);
    t0 = smt_now_ms();
    rv = sm_dict_get(d, "k", &got);
    ms = smt_now_ms() - t0;
    assert_sm_lost(rv);
    assert_true(ms < FAIL_BOUND_MS);
    assert_int_equal(got.type, SM_INT);
    assert_int_equal(got.u.i, 42);

    /* A write after that fails the same way: the client is not stuck. */
    t0 = smt_now_ms();
    rv = sm_dict_incr(d, "n", &one, &got);
    ms = smt_now_ms() - t0;
    assert_sm_lost(rv);
    assert_true(ms < FAIL_BOUND_MS);
    assert_int_equal(got.type, SM_INT);
    assert_int_equal(got.u.i, 42);

    /* Closing the proxy and the client still works, and promptly. */
    t0 = smt_now_ms();
    rv = sm_dict_close(d);
    ms = smt_now_ms() - t0;
    if (rv != SM_OK)
        assert_sm_lost(rv);
    assert_true(ms < FAIL_BOUND_MS);
    t0 = smt_now_ms();
    sm_client_close(c);
    ms = smt_now_ms() - t0;
    assert_true(ms < FAIL_BOUND_MS);
}

static void
test_client_open_on_absent_server_is_unreachable(void **state)
{
    (void)state;
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    sm_client *c = NULL;
    char url[256];
    int64_t t0, ms;

    /* Nothing listens there: a fresh ipc path, or a refused local tcp port. */
    if (strcmp(smt_transport(), "tcp") == 0)
        snprintf(url, sizeof(url), "tcp://127.0.0.1:1");
    else
        snprintf(url, sizeof(url), "ipc:///tmp/smt-absent.%ld/sock", (long)getpid());
    o.dial_timeout_ms = 500;
    o.call_timeout_ms = FAIL_CALL_TIMEOUT_MS;
    t0 = smt_now_ms();
    assert_sm_status(sm_client_open(&c, url, &o), SM_EUNREACHABLE);
    ms = smt_now_ms() - t0;
    assert_true(ms < FAIL_BOUND_MS);
    assert_null(c);
}

static void
test_server_sigterm_with_idle_clients_exits_zero(void **state)
{
    (void)state;
    smt_server s;
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    sm_client *c1 = NULL, *c2 = NULL;
    sm_dict *d1 = NULL, *d2 = NULL;
    sm_value v = sm_value_str("x");
    sm_value got = sm_value_int(42);
    char name[256];
    int64_t t0, ms;
    int rv;

    fail_spawn(&s, &c1);
    o.call_timeout_ms = FAIL_CALL_TIMEOUT_MS;
    assert_sm_ok(sm_client_open(&c2, s.url, &o));
    snprintf(name, sizeof(name), "%s", smt_name("fail.term"));
    assert_sm_ok(sm_dict_open(c1, name, &d1));
    assert_sm_ok(sm_dict_open(c2, name, &d2));
    assert_sm_ok(sm_dict_set(d1, "k", &v));

    /* Two sessions are open, each holding a proxy: SIGTERM ends it cleanly. */
    fail_assert_exit0(smt_server_stop(&s));

    t0 = smt_now_ms();
    rv = sm_dict_get(d2, "k", &got);
    ms = smt_now_ms() - t0;
    assert_sm_lost(rv);
    assert_true(ms < FAIL_BOUND_MS);
    assert_int_equal(got.type, SM_INT);
    assert_int_equal(got.u.i, 42);

    rv = sm_dict_close(d1);
    if (rv != SM_OK)
        assert_sm_lost(rv);
    rv = sm_dict_close(d2);
    if (rv != SM_OK)
        assert_sm_lost(rv);
    sm_client_close(c1);
    sm_client_close(c2);
}

/* ----------------------------------------- calls in flight while it goes */

/* What the callers share with the main thread; read and written atomically. */
typedef struct fail_shared {
    int64_t cut_ms; /* 0 until the server is down and reaped, then when */
    int ok_total;   /* SM_OK replies over all callers */
} fail_shared;

/* One caller thread: its inputs and findings. */
typedef struct fail_caller {
    pthread_t tid;
    sm_dict *dict;         /* shared by every caller */
    fail_shared *sh;
    int ok;                /* SM_OK replies */
    int lost;              /* lost statuses */
    int lost_after_cut;    /* lost statuses of calls started after the cut */
    int lost_before_cut;   /* lost statuses of calls started before it */
    int bad;               /* any other status, or an SM_OK with a bad value */
    int bad_rv;            /* the first such status */
    int ok_after_cut;      /* SM_OK to a call started after the cut: impossible */
    int64_t max_call_ms;   /* the longest call */
    bool gave_up;          /* the cut never came */
    int64_t *vals;         /* new values from the SM_OK replies */
    size_t nvals, cap;
} fail_caller;

/* fail_caller_main calls sm_dict_incr in a loop until it has seen
 * FAIL_LOST_AFTER_CUT lost statuses after the cut. */
static void *
fail_caller_main(void *arg)
{
    fail_caller *w = arg;
    sm_value one = sm_value_int(1);
    int64_t give_up = smt_now_ms() + FAIL_JOIN_S * 1000 / 2;

    while (w->lost_after_cut < FAIL_LOST_AFTER_CUT) {
        int64_t t0 = smt_now_ms();
        if (t0 > give_up) {
            w->gave_up = true;
            break;
        }
        int64_t cut = __atomic_load_n(&w->sh->cut_ms, __ATOMIC_ACQUIRE);
        sm_value now = sm_value_nil();
        int rv = sm_dict_incr(w->dict, "n", &one, &now);
        int64_t ms = smt_now_ms() - t0;
        if (ms > w->max_call_ms)
            w->max_call_ms = ms;
        if (rv == SM_OK) {
            w->ok++;
            __atomic_add_fetch(&w->sh->ok_total, 1, __ATOMIC_RELEASE);
            if (cut != 0)
                w->ok_after_cut++;
            if (now.type != SM_INT && w->bad++ == 0)
                w->bad_rv = SM_OK;
            if (w->nvals == w->cap) {
                size_t cap = w->cap ? 2 * w->cap : 1024;
                int64_t *p = realloc(w->vals, cap * sizeof(*p));
                if (p == NULL)
                    abort();
                w->vals = p;
                w->cap = cap;
            }
            w->vals[w->nvals++] = now.u.i;
        } else if (fail_is_lost(rv)) {
            w->lost++;
            if (cut != 0)
                w->lost_after_cut++;
            else
                w->lost_before_cut++;
        } else {
            if (w->bad++ == 0)
                w->bad_rv = rv;
            if (cut != 0)
                w->lost_after_cut++; /* keep the loop finite; bad already fails */
        }
        sm_value_clear(&now);
    }
    return NULL;
}

static int
fail_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* fail_run_callers starts FAIL_CALLERS callers on c, waits for
 * FAIL_OK_BEFORE_CUT replies, takes the server down (kill or SIGTERM), marks
 * the cut, joins the callers and checks what they saw. Returns the exit status
 * from smt_server_stop for a SIGTERM, 0 for a kill. */
static int
fail_run_callers(smt_server *s, sm_client *c, bool kill_it)
{
    fail_caller *w;
    fail_shared *sh;
    sm_dict *d = NULL;
    int st = 0;

    /* Heap, not stack: a hung caller must not outlive its memory. */
    w = calloc(FAIL_CALLERS, sizeof(*w));
    sh = calloc(1, sizeof(*sh));
    assert_non_null(w);
    assert_non_null(sh);
    assert_sm_ok(sm_dict_open(c, smt_name("fail.inflight"), &d));
    for (int t = 0; t < FAIL_CALLERS; t++) {
        w[t].dict = d;
        w[t].sh = sh;
        assert_int_equal(pthread_create(&w[t].tid, NULL, fail_caller_main, &w[t]), 0);
    }

    /* Let calls flow, so some are in flight at the cut. */
    int64_t deadline = smt_now_ms() + 10000;
    while (__atomic_load_n(&sh->ok_total, __ATOMIC_ACQUIRE) < FAIL_OK_BEFORE_CUT &&
           smt_now_ms() < deadline) {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL); /* waiting on other threads' counters: nothing to block on */
    }
    if (kill_it)
        smt_server_kill(s);
    else
        st = smt_server_stop(s);
    __atomic_store_n(&sh->cut_ms, smt_now_ms(), __ATOMIC_RELEASE);

    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += FAIL_JOIN_S;
    for (int t = 0; t < FAIL_CALLERS; t++) {
        int rv = pthread_timedjoin_np(w[t].tid, NULL, &until);
        if (rv != 0) {
            /* w, sh, d and c stay with the hung thread: never freed. */
            print_error("caller %d did not finish within %d s (%s): a call hangs\n", t,
                        FAIL_JOIN_S, strerror(rv));
            fail();
        }
    }

    size_t nvals = 0;
    int ok = 0;
    int unknown = 0;
    for (int t = 0; t < FAIL_CALLERS; t++) {
        if (w[t].bad != 0) {
            print_error("caller %d: %d calls with an unexpected result, first %s (%s)\n", t,
                        w[t].bad, sm_errname(w[t].bad_rv), sm_strerror(w[t].bad_rv));
        }
        assert_int_equal(w[t].bad, 0);
        assert_false(w[t].gave_up);
        assert_int_equal(w[t].ok_after_cut, 0);
        assert_true(w[t].lost_after_cut >= FAIL_LOST_AFTER_CUT);
        if (w[t].max_call_ms >= FAIL_BOUND_MS)
            print_error("caller %d: a call took %lld ms\n", t, (long long)w[t].max_call_ms);
        assert_true(w[t].max_call_ms < FAIL_BOUND_MS);
        ok += w[t].ok;
        unknown += w[t].lost_before_cut;
        nvals += w[t].nvals;
    }
    assert_true(ok >= FAIL_OK_BEFORE_CUT);

    /* The counter's values: distinct, and no more increments applied than
     * the SM_OK calls plus those of unknown outcome. */
    int64_t *all = malloc(nvals * sizeof(*all));
    assert_non_null(all);
    size_t k = 0;
    for (int t = 0; t < FAIL_CALLERS; t++) {
        if (w[t].nvals > 0) /* vals may be NULL then */
            memcpy(all + k, w[t].vals, w[t].nvals * sizeof(*all));
        k += w[t].nvals;
        free(w[t].vals);
    }
    qsort(all, nvals, sizeof(*all), fail_cmp_i64);
    for (size_t i = 0; i < nvals; i++) {
        assert_true(all[i] >= 1);
        if (i > 0)
            assert_true(all[i] > all[i - 1]);
    }
    if (all[nvals - 1] > (int64_t)ok + unknown)
        print_error("counter reached %lld with %d SM_OK and %d unknown calls\n",
                    (long long)all[nvals - 1], ok, unknown);
    assert_true(all[nvals - 1] <= (int64_t)ok + unknown);
    free(all);
    free(w);
    free(sh);

    int rv = sm_dict_close(d);
    if (rv != SM_OK)
        assert_sm_lost(rv);
    return st;
}

static void
test_client_calls_in_flight_when_server_killed_all_end(void **state)
{
    (void)state;
    smt_server s;
    sm_client *c = NULL;

    fail_spawn(&s, &c);
    (void)fail_run_callers(&s, c, true);
    sm_client_close(c);
}

static void
test_server_sigterm_with_calls_in_flight_exits_zero(void **state)
{
    (void)state;
    smt_server s;
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    sm_client *c = NULL;
    sm_client *idle = NULL;
    sm_dict *d = NULL;
    sm_value got = sm_value_int(42);
    int64_t t0, ms;
    int rv;

    fail_spawn(&s, &c);
    o.call_timeout_ms = FAIL_CALL_TIMEOUT_MS;
    assert_sm_ok(sm_client_open(&idle, s.url, &o)); /* a second, quiet session */
    assert_sm_ok(sm_dict_open(idle, smt_name("fail.idle"), &d));

    fail_assert_exit0(fail_run_callers(&s, c, false));

    t0 = smt_now_ms();
    rv = sm_dict_get(d, "k", &got);
    ms = smt_now_ms() - t0;
    assert_sm_lost(rv);
    assert_true(ms < FAIL_BOUND_MS);
    assert_int_equal(got.type, SM_INT);
    assert_int_equal(got.u.i, 42);

    rv = sm_dict_close(d);
    if (rv != SM_OK)
        assert_sm_lost(rv);
    sm_client_close(idle);
    sm_client_close(c);
}

/* A child forked (without exec) after its parent used nng gets SM_EFORKED
 * from every call, on its own new client and on the inherited one, instead
 * of the abort nng 1.5.2 would give it. */
static void
test_client_in_a_forked_child_is_eforked_not_an_abort(void **state)
{
    (void)state;
    sm_dict *d;
    assert_sm_ok(sm_dict_open(smt_client(), smt_name("fork"), &d));
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sm_client *c = NULL;
        size_t n = 7;
        int bad = 0;
        bad |= sm_client_open(&c, smt_url(), NULL) != SM_EFORKED;
        bad |= c != NULL;
        bad |= (sm_dict_len(d, &n) != SM_EFORKED) << 1;
        bad |= (n != 7) << 2;
        bad |= (sm_dict_close(d) != SM_EFORKED) << 3;
        sm_client_close(smt_client()); /* frees memory only */
        _exit(bad);
    }
    smt_wait_child(pid);
    size_t n = 1;
    assert_sm_ok(sm_dict_len(d, &n)); /* the parent is unaffected */
    assert_int_equal(n, 0);
    assert_sm_ok(sm_dict_close(d));
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_call_after_server_killed_fails_within_deadline),
        cmocka_unit_test(test_client_open_on_absent_server_is_unreachable),
        cmocka_unit_test(test_server_sigterm_with_idle_clients_exits_zero),
        cmocka_unit_test(test_client_calls_in_flight_when_server_killed_all_end),
        cmocka_unit_test(test_server_sigterm_with_calls_in_flight_exits_zero),
        cmocka_unit_test(test_client_in_a_forked_child_is_eforked_not_an_abort),
    };
    return SMT_MAIN("failure", tests);
}
