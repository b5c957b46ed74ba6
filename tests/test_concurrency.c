/* test_concurrency.c - many writers on one object, exact totals afterwards.
 *
 * Processes: CONC_PROCS children each make CONC_PROC_OPS atomic increments
 * (sm_dict_incr on one key, sm_var_add on one var). This process has used
 * nng (its group client), so a child is this program re-executed by
 * smt_spawn(), never a bare fork; it opens its own client to smt_url() and
 * checks every status itself, and the parent asserts the exact total. A lost
 * or doubled increment shows up as a total off by one or more.
 *
 * Threads: CONC_THREADS threads share the group's one sm_client, and also
 * the same list and dict proxies (the header allows both), each appending
 * CONC_THREAD_OPS distinct values and bumping one counter. Afterwards every
 * value is in the list exactly once, each thread's values are in the order
 * that thread appended them, and the counter is exact.
 *
 * Children and worker threads never call cmocka's assertions (those jump back
 * into the main thread's test); they report through exit statuses and
 * per-thread counters instead. */
#include "smt.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CONC_PROCS 4
#define CONC_PROC_OPS 10000
#define CONC_THREADS 8
#define CONC_THREAD_OPS 1000

/* ------------------------------------------------------------- processes */

/* What a child does with its own client. */
typedef enum conc_target {
    CONC_DICT_INCR,
    CONC_VAR_ADD,
} conc_target;

/* conc_child_fail reports a failed call from a child; returns its exit status. */
static int
conc_child_fail(const char *what, int rv, int i)
{
    fprintf(stderr, "child %ld: %s (op %d): %s (%s): %s\n", (long)getpid(), what, i,
            sm_errname(rv), sm_strerror(rv), sm_errdetail());
    return 1;
}

/* conc_child_run is the body of one child: open a client, open the object by
 * name, wait for the parent's go (EOF on go_fd) so that all children hammer
 * the object at once, then make CONC_PROC_OPS increments. Returns 0 if every
 * increment was SM_OK and the new values this child saw rose strictly: they
 * are points on one shared counter, taken in order. */
static int
conc_child_run(conc_target target, const char *url, const char *name, int go_fd)
{
    sm_client *c = NULL;
    sm_dict *d = NULL;
    sm_var *v = NULL;
    sm_value one = sm_value_int(1);
    int64_t last = 0;
    int rv;
    int status = 0;
    ssize_t r;
    char b;

    if ((rv = sm_client_open(&c, url, NULL)) != SM_OK)
        return conc_child_fail("sm_client_open", rv, -1);
    if (target == CONC_DICT_INCR)
        rv = sm_dict_open(c, name, &d);
    else
        rv = sm_var_open(c, name, NULL, &v); /* exists already: init ignored */
    if (rv != SM_OK) {
        status = conc_child_fail("open", rv, -1);
        goto out;
    }

    /* The parent never writes: its closing the write end is the go. */
    do {
        r = read(go_fd, &b, 1);
    } while (r < 0 && errno == EINTR);
    close(go_fd);
    if (r != 0) {
        fprintf(stderr, "child %ld: waiting for the go: read returned %ld (%s)\n",
                (long)getpid(), (long)r, r < 0 ? strerror(errno) : "data");
        status = 1;
        goto out;
    }

    for (int i = 0; i < CONC_PROC_OPS; i++) {
        sm_value now = sm_value_nil();
        if (target == CONC_DICT_INCR)
            rv = sm_dict_incr(d, "n", &one, &now);
        else
            rv = sm_var_add(v, &one, &now);
        if (rv != SM_OK) {
            status = conc_child_fail(target == CONC_DICT_INCR ? "sm_dict_incr" : "sm_var_add",
                                     rv, i);
            goto out;
        }
        if (now.type != SM_INT || now.u.i <= last ||
            now.u.i > (int64_t)CONC_PROCS * CONC_PROC_OPS) {
            fprintf(stderr, "child %ld: op %d: new value type %d value %lld after %lld\n",
                    (long)getpid(), i, (int)now.type, (long long)now.u.i, (long long)last);
            sm_value_clear(&now);
            status = 1;
            goto out;
        }
        last = now.u.i;
    }

    if (d != NULL) {
        rv = sm_dict_close(d);
        d = NULL;
        if (rv != SM_OK) {
            status = conc_child_fail("sm_dict_close", rv, -1);
            goto out;
        }
    }
    if (v != NULL) {
        rv = sm_var_close(v);
        v = NULL;
        if (rv != SM_OK)
            status = conc_child_fail("sm_var_close", rv, -1);
    }
out:
    sm_dict_close(d);
    sm_var_close(v);
    sm_client_close(c);
    return status;
}

/* conc_child_main is a child's entry (smt_spawn): argv is
 * NAME TARGET URL OBJECT GO_FD, TARGET "dict" or "var", GO_FD the number of
 * the inherited read end of the parent's go pipe. */
static int
conc_child_main(int argc, char **argv)
{
    conc_target target;
    char *end = NULL;
    long fd;

    alarm(120); /* a hung child must not hang the test */
    if (argc != 5) {
        fprintf(stderr, "child: expected 4 arguments, got %d\n", argc - 1);
        return 99;
    }
    if (strcmp(argv[1], "dict") == 0) {
        target = CONC_DICT_INCR;
    } else if (strcmp(argv[1], "var") == 0) {
        target = CONC_VAR_ADD;
    } else {
        fprintf(stderr, "child: unknown target '%s'\n", argv[1]);
        return 99;
    }
    errno = 0;
    fd = strtol(argv[4], &end, 10);
    if (errno != 0 || end == argv[4] || *end != '\0' || fd < 0 || fd > INT_MAX) {
        fprintf(stderr, "child: bad go fd '%s'\n", argv[4]);
        return 99;
    }
    return conc_child_run(target, argv[2], argv[3], (int)fd);
}

static const smt_child children[] = {{"incr", conc_child_main}};

/* conc_run_procs spawns CONC_PROCS children on target/name, lets them go at
 * once, reaps every one of them and then asserts that each exited 0.
 *
 * The go is a pipe whose read end survives the children's exec (no
 * O_CLOEXEC; its number travels as an argument) while the write end does
 * not, so closing the parent's write end gives every child EOF together. */
static void
conc_run_procs(conc_target target, const char *name)
{
    pid_t pids[CONC_PROCS];
    int status[CONC_PROCS];
    char url[512];
    char go_arg[32];
    int go[2];
    int fl;

    snprintf(url, sizeof(url), "%s", smt_url());
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    fl = fcntl(go[0], F_GETFD);
    assert_true(fl >= 0);
    assert_int_equal(fcntl(go[0], F_SETFD, fl & ~FD_CLOEXEC), 0);
    snprintf(go_arg, sizeof(go_arg), "%d", go[0]);

    for (int k = 0; k < CONC_PROCS; k++)
        pids[k] = smt_spawn("incr", target == CONC_DICT_INCR ? "dict" : "var", url, name,
                            go_arg, NULL);
    close(go[0]);
    close(go[1]); /* EOF on go[0]: every child starts now */

    /* Reap them all before asserting, so that no child outlives this test. */
    for (int k = 0; k < CONC_PROCS; k++) {
        pid_t r;
        do {
            r = waitpid(pids[k], &status[k], 0);
        } while (r < 0 && errno == EINTR);
        if (r != pids[k])
            status[k] = -1;
    }
    for (int k = 0; k < CONC_PROCS; k++) {
        if (status[k] == -1 || !WIFEXITED(status[k]) || WEXITSTATUS(status[k]) != 0)
            print_error("child %ld ended with status 0x%x\n", (long)pids[k], status[k]);
    }
    for (int k = 0; k < CONC_PROCS; k++) {
        assert_int_not_equal(status[k], -1);
        assert_true(WIFEXITED(status[k]));
        assert_int_equal(WEXITSTATUS(status[k]), 0);
    }
}

static void
test_dict_incr_from_four_processes_is_exact(void **state)
{
    (void)state;
    char name[256];
    sm_dict *d = NULL;
    sm_value got = sm_value_nil();
    size_t len = 0;

    snprintf(name, sizeof(name), "%s", smt_name("conc.dict"));
    assert_sm_ok(sm_dict_open(smt_client(), name, &d));

    conc_run_procs(CONC_DICT_INCR, name);

    assert_sm_ok(sm_dict_get(d, "n", &got));
    assert_int_equal(got.type, SM_INT);
    assert_int_equal(got.u.i, CONC_PROCS * CONC_PROC_OPS);
    assert_sm_ok(sm_dict_len(d, &len));
    assert_int_equal(len, 1);
    sm_value_clear(&got);
    assert_sm_ok(sm_dict_close(d));
}

static void
test_var_add_from_four_processes_is_exact(void **state)
{
    (void)state;
    char name[256];
    sm_var *v = NULL;
    sm_value zero = sm_value_int(0);
    sm_value got = sm_value_nil();

    snprintf(name, sizeof(name), "%s", smt_name("conc.var"));
    assert_sm_ok(sm_var_open(smt_client(), name, &zero, &v));

    conc_run_procs(CONC_VAR_ADD, name);

    assert_sm_ok(sm_var_get(v, &got));
    assert_int_equal(got.type, SM_INT);
    assert_int_equal(got.u.i, CONC_PROCS * CONC_PROC_OPS);
    sm_value_clear(&got);
    assert_sm_ok(sm_var_close(v));
}

/* --------------------------------------------------------------- threads */

/* One worker thread's inputs and findings. */
typedef struct conc_worker {
    pthread_t tid;
    int id;                    /* appends id * CONC_THREAD_OPS + i */
    sm_list *list;             /* shared by every worker */
    sm_dict *dict;             /* shared by every worker */
    pthread_barrier_t *start;  /* all workers start together */
    int failures;              /* calls that did not return SM_OK */
    int first_rv;              /* the first failing status */
    char first_detail[256];    /* and its sm_errdetail(), read on this thread */
} conc_worker;

/* conc_worker_note records a failed call; the main thread asserts on it. */
static void
conc_worker_note(conc_worker *w, int rv)
{
    if (w->failures++ == 0) {
        w->first_rv = rv;
        snprintf(w->first_detail, sizeof(w->first_detail), "%s", sm_errdetail());
    }
}

static void *
conc_worker_main(void *arg)
{
    conc_worker *w = arg;
    sm_value one = sm_value_int(1);

    pthread_barrier_wait(w->start);
    for (int i = 0; i < CONC_THREAD_OPS; i++) {
        sm_value item = sm_value_int((int64_t)w->id * CONC_THREAD_OPS + i);
        int rv = sm_list_append(w->list, &item);
        if (rv != SM_OK)
            conc_worker_note(w, rv);
        rv = sm_dict_incr(w->dict, "count", &one, NULL);
        if (rv != SM_OK)
            conc_worker_note(w, rv);
    }
    return NULL;
}

static void
test_list_append_from_eight_threads_on_one_client_is_exact(void **state)
{
    (void)state;
    enum { total = CONC_THREADS * CONC_THREAD_OPS };
    conc_worker w[CONC_THREADS];
    pthread_barrier_t start;
    sm_list *l = NULL;
    sm_dict *d = NULL;
    sm_value *items = NULL;
    sm_value count = sm_value_nil();
    size_t n = 0;
    size_t len = 0;
    int64_t last[CONC_THREADS]; /* the last value seen from each thread */
    static unsigned char seen[total];

    assert_sm_ok(sm_list_open(smt_client(), smt_name("conc.list"), &l));
    assert_sm_ok(sm_dict_open(smt_client(), smt_name("conc.count"), &d));
    assert_int_equal(pthread_barrier_init(&start, NULL, CONC_THREADS), 0);

    memset(w, 0, sizeof(w));
    for (int t = 0; t < CONC_THREADS; t++) {
        w[t].id = t;
        w[t].list = l;
        w[t].dict = d;
        w[t].start = &start;
        assert_int_equal(pthread_create(&w[t].tid, NULL, conc_worker_main, &w[t]), 0);
    }
    for (int t = 0; t < CONC_THREADS; t++)
        assert_int_equal(pthread_join(w[t].tid, NULL), 0);
    pthread_barrier_destroy(&start);
    for (int t = 0; t < CONC_THREADS; t++) {
        if (w[t].failures != 0) {
            print_error("thread %d: %d failed calls, first %s (%s): %s\n", t, w[t].failures,
                        sm_errname(w[t].first_rv), sm_strerror(w[t].first_rv),
                        w[t].first_detail);
        }
        assert_int_equal(w[t].failures, 0);
    }

    assert_sm_ok(sm_list_len(l, &len));
    assert_int_equal(len, total);
    assert_sm_ok(sm_list_slice(l, 0, SM_END, &items, &n));
    assert_int_equal(n, total);
    memset(seen, 0, sizeof(seen));
    for (int t = 0; t < CONC_THREADS; t++)
        last[t] = -1;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(items[i].type, SM_INT);
        int64_t x = items[i].u.i;
        assert_true(x >= 0 && x < total);
        assert_int_equal(seen[x], 0); /* exactly once */
        seen[x] = 1;
        int t = (int)(x / CONC_THREAD_OPS);
        assert_true(x > last[t]); /* one thread's appends keep their order */
        last[t] = x;
    }
    for (int x = 0; x < total; x++)
        assert_int_equal(seen[x], 1);
    sm_values_free(items, n);

    assert_sm_ok(sm_dict_get(d, "count", &count));
    assert_int_equal(count.type, SM_INT);
    assert_int_equal(count.u.i, total);
    sm_value_clear(&count);

    assert_sm_ok(sm_list_close(l));
    assert_sm_ok(sm_dict_close(d));
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dict_incr_from_four_processes_is_exact),
        cmocka_unit_test(test_var_add_from_four_processes_is_exact),
        cmocka_unit_test(test_list_append_from_eight_threads_on_one_client_is_exact),
    };
    return SMT_MAIN_CHILDREN("concurrency", tests, children);
}
