/* test_pool.c - sm_pool, Python's Pool across processes (syncmgr.h, the
 * "pool" section), with real worker processes on one host.
 *
 * Workers are processes, never threads of this program:
 *   - "worker" children (smt_spawn): each opens its own client with a 1 s
 *     lease, registers the tasks of pool_tasks.c (compiled into this program
 *     below) and runs sm_worker_run until SIGTERM, which a thread waiting
 *     for it turns into sm_worker_stop; argv "overrun" sets exit_on_overrun.
 *     The test knows their pids, so it can kill -9 the one running a task
 *     and count exactly how many died of SIGABRT (the crash task).
 *   - the runner syncmgr-worker (SMT_WORKER) loading the same tasks from the
 *     module SMT_TASKS, forked and exec'd at once (no sm_ call in between);
 *     SIGTERM stops it and it must exit 0.
 * Every worker a test starts is stopped by that test, and the test's
 * teardown kills (SIGKILL) whatever a failed test left behind.
 *
 * What is asserted, exactly (n inputs, "x" an input's text):
 *   - map of square over 0..999, chunksize 1, 7 and default: every result
 *     SM_OK and the decimal square, in input order; the pool's done counter
 *     grows by the number of tasks (1000, ceil(1000/7) = 143, and
 *     ceil(1000 / (4 x 2 workers)) = 125 per task, so 8); progress: called
 *     on the calling thread, done never goes back, total always n, failed 0,
 *     the last call done == total == n.
 *   - starmap of sum over argument lists of 0 to 255 arguments.
 *   - nonum over 0..9 with "x" at index 7 (chunksize 1 and 3): map returns
 *     SM_ETASK, detail "input 7 of 10" and the worker's message; results[7]
 *     is SM_ETASK "nonum: x is not a number", every other SM_OK and correct;
 *     progress ends with done 10, failed 1.
 *   - imap: outcomes in input order, indices 0..n-1, then SM_EEND (twice);
 *     imap_unordered: each index exactly once with its own result; with no
 *     worker sm_imap_next times out (SM_ETIMEDOUT, outputs untouched), and
 *     gives the outcome once a worker joins.
 *   - apply / apply_async: ready, wait (SM_ETIMEDOUT then SM_OK), get; a
 *     failing task's message in the result and sm_errdetail(); cancel of a
 *     queued task (SM_ECANCELLED) but not of a running one; states queued ->
 *     running -> done through sm_future_state and sm_pool_task_state from a
 *     second client; SM_TASK_UNKNOWN once collected; freeing a future or an
 *     iterator cancels what it still has queued.
 *   - delivery: a worker killed -9 while it runs a task: the task finishes on
 *     another worker with the right result; requeued == 1, done == 1.
 *   - crash: a crashing input fails with SM_EKILLED, detail "input 2 of 8",
 *     and every other input of that map succeeds, after exactly 3 worker
 *     deaths (max_kills 0 -> 3) or 1 (max_kills 1) with chunksize 1; in a
 *     chunk of 4, after 3 deaths, or 2 with max_kills 1 (the first death
 *     cannot tell which input of the chunk crashed). Deaths are counted as
 *     worker children reaped with SIGABRT, and under the runner as the
 *     deaths it logs.
 *   - timeout_ms: sleep 5000 with timeout_ms 300 is SM_ETIMEDOUT long before
 *     5 s while the pool keeps serving; the overrunning worker exits 3; the
 *     timed-out task is not requeued.
 *   - a task no worker has: SM_ENOTFOUND with a worker joined.
 *   - a submitter killed -9: its queued tasks are cancelled after its lease.
 *   - status seen from a second client counts live worker processes (child
 *     workers and the runner's); bad arguments are SM_EINVAL and change
 *     neither the outputs nor the pool's counters.
 *
 * Waits are bounded loops on real conditions (sm_pool_status, a task's
 * state, a child's exit); the pauses inside those loops only pace them. */
#include "smt.h"

/* The task functions, compiled into this program for the child workers. */
#include "pool_tasks.c"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SMT_WORKER
#error "SMT_WORKER must name the syncmgr-worker binary"
#endif
#ifndef SMT_TASKS
#error "SMT_TASKS must name the test task module"
#endif

#define LEASE_MS     1000   /* every worker's and killed submitter's lease */
#define LEASE_ARG    "1000" /* the same, for the runner's --lease-ms */
#define BOUND_MS     30000  /* the longest any wait on a condition may take */
#define STOP_MS      15000  /* a worker must exit this soon after SIGTERM */
#define POLL_MS      5      /* pace of polling loops */
#define CHILD_LIFE_S 120    /* a child process never outlives this */
#define MAX_TRACKED  64
#define N_ELEMS(a)   (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------- tracked processes */

/* Every process a test starts, so that a failed test's teardown can kill
 * what it left running. */
static pid_t tracked[MAX_TRACKED];

static void
track(pid_t pid)
{
    for (size_t i = 0; i < MAX_TRACKED; i++)
        if (tracked[i] == 0) {
            tracked[i] = pid;
            return;
        }
    fail_msg("more than %d processes tracked", MAX_TRACKED);
}

static void
untrack(pid_t pid)
{
    for (size_t i = 0; i < MAX_TRACKED; i++)
        if (tracked[i] == pid)
            tracked[i] = 0;
}

static void second_client_close(void);

/* Memory and descriptors a test uses, released by its teardown even when
 * an assertion ends the test early. */
static void *scratch[MAX_TRACKED];
static int scratch_fd[8] = {-1, -1, -1, -1, -1, -1, -1, -1};

static void *
scratch_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    assert_non_null(p);
    for (size_t i = 0; i < MAX_TRACKED; i++)
        if (scratch[i] == NULL) {
            scratch[i] = p;
            return p;
        }
    fail_msg("more than %d scratch allocations", MAX_TRACKED);
    return NULL; /* not reached */
}

static void
scratch_keep_fd(int fd)
{
    for (size_t i = 0; i < N_ELEMS(scratch_fd); i++)
        if (scratch_fd[i] < 0) {
            scratch_fd[i] = fd;
            return;
        }
    fail_msg("more than %zu scratch descriptors", N_ELEMS(scratch_fd));
}

static int
pool_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < MAX_TRACKED; i++) {
        free(scratch[i]);
        scratch[i] = NULL;
    }
    second_client_close();
    for (size_t i = 0; i < N_ELEMS(scratch_fd); i++)
        if (scratch_fd[i] >= 0) {
            close(scratch_fd[i]);
            scratch_fd[i] = -1;
        }
    for (size_t i = 0; i < MAX_TRACKED; i++)
        if (tracked[i] > 0) {
            kill(tracked[i], SIGKILL);
            waitpid(tracked[i], NULL, 0);
            tracked[i] = 0;
        }
    return 0;
}

/* reap_within waits up to ms for pid to end; returns true and its wait
 * status in *st, or false if it is still running. */
static bool
reap_within(pid_t pid, int64_t ms, int *st)
{
    int64_t until = smt_now_ms() + ms;
    for (;;) {
        pid_t r = waitpid(pid, st, WNOHANG);
        if (r == pid) {
            untrack(pid);
            return true;
        }
        if (r < 0 && errno != EINTR)
            fail_msg("waitpid(%ld): %s", (long)pid, strerror(errno));
        if (smt_now_ms() > until)
            return false;
        smt_sleep_ms(POLL_MS);
    }
}

/* stop_process sends SIGTERM and asserts pid exits 0 within STOP_MS. */
static void
stop_process(pid_t pid, const char *what)
{
    int st = 0;
    assert_int_equal(kill(pid, SIGTERM), 0);
    if (!reap_within(pid, STOP_MS, &st))
        fail_msg("%s %ld still running %d ms after SIGTERM", what, (long)pid, STOP_MS);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("%s %ld ended with wait status 0x%x after SIGTERM, wanted exit 0", what, (long)pid,
                 st);
}

/* kill9 kills pid with SIGKILL and reaps it. */
static void
kill9(pid_t pid)
{
    int st = 0;
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    untrack(pid);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

/* worker_start starts a worker child for pool (exit_on_overrun if overrun). */
static pid_t
worker_start(const char *pool, bool overrun)
{
    char url[512], name[256];
    snprintf(url, sizeof(url), "%s", smt_url());
    snprintf(name, sizeof(name), "%s", pool);
    pid_t pid = overrun ? smt_spawn("worker", url, name, "overrun", NULL)
                        : smt_spawn("worker", url, name, NULL);
    track(pid);
    return pid;
}

/* runner_start forks and execs syncmgr-worker with `processes` worker
 * processes for pool. logfd NULL: its stderr is ours; else its stderr goes
 * to a pipe whose non-blocking read end is stored there. The child only
 * execs: this process has used nng. */
static pid_t
runner_start(const char *pool, int processes, int *logfd)
{
    char url[512], name[256], nproc[16];
    int fds[2] = {-1, -1};
    snprintf(url, sizeof(url), "%s", smt_url());
    snprintf(name, sizeof(name), "%s", pool);
    snprintf(nproc, sizeof(nproc), "%d", processes);
    const char *argv[] = {SMT_WORKER, "--connect",   url,   "--pool",     name,      "--tasks",
                          SMT_TASKS,  "--processes", nproc, "--lease-ms", LEASE_ARG, NULL};
    struct rlimit no_core = {0, 0};
    if (logfd != NULL)
        assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        setrlimit(RLIMIT_CORE, &no_core); /* the crash task aborts */
        if (fds[1] >= 0)
            dup2(fds[1], STDERR_FILENO);
        execv(SMT_WORKER, (char *const *)argv);
        _exit(127);
    }
    track(pid);
    if (logfd != NULL) {
        close(fds[1]);
        assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
        scratch_keep_fd(fds[0]);
        *logfd = fds[0];
    }
    return pid;
}

/* ------------------------------------------------------- pool helpers */

static sm_pool *
pool_open(sm_client *c, const char *name)
{
    sm_pool *p = NULL;
    assert_sm_ok(sm_pool_open(c, name, &p));
    assert_non_null(p);
    return p;
}

static sm_pool_info
pool_info(sm_pool *p)
{
    sm_pool_info info;
    memset(&info, 0xa5, sizeof(info));
    assert_sm_ok(sm_pool_status(p, &info));
    return info;
}

/* wait_workers waits until the pool counts exactly n workers. */
static void
wait_workers(sm_pool *p, uint64_t n)
{
    int64_t until = smt_now_ms() + BOUND_MS;
    sm_pool_info info = pool_info(p);
    while (info.workers != n) {
        if (smt_now_ms() > until)
            fail_msg("pool has %" PRIu64 " workers after %d ms, wanted %" PRIu64, info.workers,
                     BOUND_MS, n);
        smt_sleep_ms(POLL_MS);
        info = pool_info(p);
    }
}

/* wait_future_state waits until f's state is want; a state outside
 * `allowed` (a bit per sm_task_state) on the way fails the test. */
static void
wait_future_state(sm_future *f, sm_task_state want, unsigned allowed)
{
    int64_t until = smt_now_ms() + BOUND_MS;
    for (;;) {
        sm_task_state s = (sm_task_state)-1;
        assert_sm_ok(sm_future_state(f, &s));
        if (s == want)
            return;
        if (((allowed >> s) & 1u) == 0)
            fail_msg("task %" PRIu64 " is %s while waiting for %s", sm_future_id(f),
                     sm_task_state_name(s), sm_task_state_name(want));
        if (smt_now_ms() > until)
            fail_msg("task %" PRIu64 " still %s after %d ms, wanted %s", sm_future_id(f),
                     sm_task_state_name(s), BOUND_MS, sm_task_state_name(want));
        smt_sleep_ms(POLL_MS);
    }
}
#define ST(s) (1u << (s))

/* Inputs: n decimal texts and the sm_bytes pointing at them. */
typedef struct inputs {
    size_t n;
    char (*text)[32];
    sm_bytes *b;
} inputs;

static void
inputs_make(inputs *in, size_t n)
{
    in->n = n;
    in->text = scratch_calloc(n, sizeof(*in->text));
    in->b = scratch_calloc(n, sizeof(*in->b));
}

/* inputs_set makes input i the text s. */
static void
inputs_set(inputs *in, size_t i, const char *s)
{
    snprintf(in->text[i], sizeof(in->text[i]), "%s", s);
    in->b[i].data = in->text[i];
    in->b[i].len = strlen(in->text[i]);
}

/* inputs_ints makes inputs first, first+1, ... */
static void
inputs_ints(inputs *in, size_t n, int64_t first)
{
    inputs_make(in, n);
    for (size_t i = 0; i < n; i++) {
        char t[32];
        snprintf(t, sizeof(t), "%" PRId64, first + (int64_t)i);
        inputs_set(in, i, t);
    }
}

/* check_result fails unless r is status with data exactly text (text NULL:
 * any message). Every filled result has non-NULL data; a failure's message
 * is NUL-terminated. */
static void
check_result(const sm_result *r, int status, const char *text, const char *what, size_t i,
             const char *file, int line)
{
    const char *why = NULL;
    if (r->status != status)
        why = "status differs";
    else if (r->data == NULL)
        why = "data is NULL";
    else if (status != SM_OK && ((const char *)r->data)[r->len] != '\0')
        why = "message is not NUL-terminated";
    else if (text != NULL && (r->len != strlen(text) || memcmp(r->data, text, r->len) != 0))
        why = "data differs";
    if (why == NULL)
        return;
    int shown = r->data == NULL ? 0 : r->len > 200 ? 200 : (int)r->len;
    print_error("%s[%zu]: %s: got %s \"%.*s\" (len %zu), wanted %s \"%s\"\n", what, i, why,
                sm_errname(r->status), shown, r->data ? (const char *)r->data : "", r->len,
                sm_errname(status), text ? text : "(any message)");
    _fail(file, line);
}
#define assert_result(r, status, text)                                                             \
    check_result((r), (status), (text), #r, 0, __FILE__, __LINE__)
#define assert_result_at(r, i, status, text)                                                       \
    check_result(&(r)[i], (status), (text), #r, (i), __FILE__, __LINE__)

/* assert_squares: results[i] is SM_OK and (first + i) squared. */
static void
assert_squares(const sm_result *res, size_t n, int64_t first)
{
    for (size_t i = 0; i < n; i++) {
        char want[32];
        int64_t v = first + (int64_t)i;
        snprintf(want, sizeof(want), "%" PRId64, v * v);
        assert_result_at(res, i, SM_OK, want);
    }
}

/* assert_detail_has fails unless the detail (copied right after the call)
 * contains part. */
static void
assert_detail_has(const char *detail, const char *part)
{
    if (strstr(detail, part) == NULL)
        fail_msg("sm_errdetail() is \"%s\", wanted it to contain \"%s\"", detail, part);
}

/* What a progress callback saw. */
typedef struct prog_log {
    pthread_t caller;
    size_t want_total;
    size_t calls;
    size_t last_done, last_failed, last_total;
    size_t wrong_thread, went_back, bad_total, bad_counts;
} prog_log;

static void
prog_cb(void *arg, const sm_progress *p)
{
    prog_log *l = arg;
    if (!pthread_equal(pthread_self(), l->caller))
        l->wrong_thread++;
    if (l->calls > 0 && (p->done < l->last_done || p->failed < l->last_failed))
        l->went_back++;
    if (p->total != l->want_total)
        l->bad_total++;
    if (p->failed > p->done || p->done > p->total)
        l->bad_counts++;
    l->calls++;
    l->last_done = p->done;
    l->last_failed = p->failed;
    l->last_total = p->total;
}

static void
prog_init(prog_log *l, size_t n, sm_map_opts *o)
{
    memset(l, 0, sizeof(*l));
    l->caller = pthread_self();
    l->want_total = n;
    o->progress = prog_cb;
    o->progress_arg = l;
}

static void
assert_progress(const prog_log *l, size_t n, size_t failed)
{
    if (l->calls == 0)
        fail_msg("the progress callback was never called");
    if (l->wrong_thread || l->went_back || l->bad_total || l->bad_counts)
        fail_msg("progress: %zu calls off the calling thread, %zu going back, %zu with total "
                 "!= %zu, %zu with failed > done or done > total",
                 l->wrong_thread, l->went_back, l->bad_total, n, l->bad_counts);
    if (l->last_done != n || l->last_total != n || l->last_failed != failed)
        fail_msg("progress: last call done %zu total %zu failed %zu, wanted %zu %zu %zu",
                 l->last_done, l->last_total, l->last_failed, n, n, failed);
}

/* A second client (one per test), closed by the teardown if the test ends
 * early. */
static sm_client *other_client;

static sm_client *
second_client(void)
{
    assert_null(other_client);
    assert_sm_ok(sm_client_open(&other_client, smt_url(), NULL));
    return other_client;
}

static void
second_client_close(void)
{
    sm_client_close(other_client);
    other_client = NULL;
}

/* --------------------------------------------------------------- children */

/* child_stopper waits for SIGTERM (blocked in every thread) and stops w. */
static void *
child_stopper(void *arg)
{
    sigset_t set;
    int sig = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    while (sigwait(&set, &sig) != 0)
        ;
    sm_worker_stop(arg);
    return NULL;
}

/* child_worker: argv is NAME URL POOL ["overrun"]. Serves the tasks of
 * pool_tasks.c until SIGTERM, then exits 0. */
static int
child_worker(int argc, char **argv)
{
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    sm_worker_opts wo = SM_WORKER_OPTS_INIT;
    sm_client *c = NULL;
    sm_worker *w = NULL;
    struct rlimit no_core = {0, 0};
    sigset_t set;
    pthread_t stopper;
    int rv;

    if (argc < 3 || argc > 4)
        return 99;
    alarm(CHILD_LIFE_S);
    setrlimit(RLIMIT_CORE, &no_core); /* the crash task aborts */
    /* Blocked before any thread starts, so only the stopper takes it. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    o.lease_ms = LEASE_MS;
    wo.exit_on_overrun = argc == 4 && strcmp(argv[3], "overrun") == 0;
    rv = sm_client_open(&c, argv[1], &o);
    if (rv != SM_OK)
        return smt_child_fail("pool worker", "sm_client_open", rv);
    rv = sm_worker_new(c, argv[2], &w);
    if (rv != SM_OK)
        return smt_child_fail("pool worker", "sm_worker_new", rv);
    rv = sm_tasks_init(w);
    if (rv != SM_OK)
        return smt_child_fail("pool worker", "sm_tasks_init", rv);
    if (pthread_create(&stopper, NULL, child_stopper, w) != 0)
        return 98;
    rv = sm_worker_run(w, &wo);
    if (rv != SM_OK)
        return smt_child_fail("pool worker", "sm_worker_run", rv);
    pthread_join(stopper, NULL);
    sm_worker_free(w);
    sm_client_close(c);
    return 0;
}

/* child_submitter: argv is NAME URL POOL N. Submits N sleep tasks with
 * apply_async on a client with a short lease, then waits to be killed. */
static int
child_submitter(int argc, char **argv)
{
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    sm_client *c = NULL;
    sm_pool *p = NULL;
    sm_bytes arg = {"100", 3};
    int rv;

    if (argc != 4)
        return 99;
    alarm(CHILD_LIFE_S);
    o.lease_ms = LEASE_MS;
    rv = sm_client_open(&c, argv[1], &o);
    if (rv != SM_OK)
        return smt_child_fail("pool submitter", "sm_client_open", rv);
    rv = sm_pool_open(c, argv[2], &p);
    if (rv != SM_OK)
        return smt_child_fail("pool submitter", "sm_pool_open", rv);
    for (int i = 0; i < atoi(argv[3]); i++) {
        sm_future *f = NULL;
        rv = sm_pool_apply_async(p, "sleep", &arg, 1, NULL, &f);
        if (rv != SM_OK)
            return smt_child_fail("pool submitter", "sm_pool_apply_async", rv);
        /* f is kept: freeing it would cancel the task. */
    }
    for (;;)
        pause();
}

static const smt_child children[] = {
    {"worker", child_worker},
    {"submitter", child_submitter},
};

/* -------------------------------------------------------------------- map */

static void
test_pool_map_square_gives_every_result_in_input_order(void **state)
{
    (void)state;
    const size_t n = 1000;
    char name[256];
    inputs in;
    sm_result *res = scratch_calloc(n, sizeof(*res));
    sm_map_opts o = SM_MAP_OPTS_INIT;
    prog_log log;

    snprintf(name, sizeof(name), "%s", smt_name("pool.map"));
    sm_pool *p = pool_open(smt_client(), name);
    pid_t w1 = worker_start(name, false), w2 = worker_start(name, false);
    wait_workers(p, 2);
    inputs_ints(&in, n, 0);

    /* chunksize 1: 1000 tasks. */
    o.chunksize = 1;
    prog_init(&log, n, &o);
    assert_sm_ok(sm_pool_map(p, "square", in.b, n, res, &o));
    assert_squares(res, n, 0);
    assert_progress(&log, n, 0);
    sm_results_clear(res, n);
    sm_pool_info info = pool_info(p);
    assert_int_equal(info.done, 1000);
    assert_int_equal(info.failed, 0);
    assert_int_equal(info.queued, 0);
    assert_int_equal(info.running, 0);
    assert_int_equal(info.results, 0);

    /* chunksize 7, which does not divide 1000: 143 tasks, the last of 6. */
    o.chunksize = 7;
    prog_init(&log, n, &o);
    assert_sm_ok(sm_pool_map(p, "square", in.b, n, res, &o));
    assert_squares(res, n, 0);
    assert_progress(&log, n, 0);
    sm_results_clear(res, n);
    info = pool_info(p);
    assert_int_equal(info.done, 1000 + 143);
    assert_int_equal(info.results, 0);

    /* chunksize 0 with 2 workers: ceil(1000 / 8) = 125 inputs a task, 8 tasks. */
    o.chunksize = 0;
    prog_init(&log, n, &o);
    assert_sm_ok(sm_pool_map(p, "square", in.b, n, res, &o));
    assert_squares(res, n, 0);
    assert_progress(&log, n, 0);
    sm_results_clear(res, n);
    info = pool_info(p);
    assert_int_equal(info.done, 1000 + 143 + 8);
    assert_int_equal(info.failed, 0);
    assert_int_equal(info.results, 0);

    /* Negative and large numbers travel as text both ways. */
    inputs_ints(&in, 5, -2);          /* the earlier inputs go with the teardown */
    inputs_set(&in, 4, "3037000499"); /* its square is just below 2^63 */
    assert_sm_ok(sm_pool_map(p, "square", in.b, 5, res, NULL));
    assert_result_at(res, 0, SM_OK, "4");
    assert_result_at(res, 1, SM_OK, "1");
    assert_result_at(res, 2, SM_OK, "0");
    assert_result_at(res, 3, SM_OK, "1");
    assert_result_at(res, 4, SM_OK, "9223372030926249001");
    sm_results_clear(res, 5);

    stop_process(w1, "worker");
    stop_process(w2, "worker");
    wait_workers(p, 0);
    assert_sm_ok(sm_pool_close(p));
}

static void
test_pool_starmap_sum_takes_argument_lists_of_any_length(void **state)
{
    (void)state;
    enum { N = 6 };
    static const int argcs[N] = {0, 1, 2, 3, 10, 255};
    char name[256];
    char text[255][8];
    sm_bytes argv[255];
    sm_args args[N];
    sm_result res[N];

    snprintf(name, sizeof(name), "%s", smt_name("pool.starmap"));
    sm_pool *p = pool_open(smt_client(), name);
    pid_t w = worker_start(name, false);
    wait_workers(p, 1);
    /* Argument j is j+1, except the odd ones are negative: -2 +3 -4 ... */
    for (int j = 0; j < 255; j++) {
        snprintf(text[j], sizeof(text[j]), "%d", (j % 2) ? -(j + 1) : j + 1);
        argv[j].data = text[j];
        argv[j].len = strlen(text[j]);
    }
    for (int i = 0; i < N; i++) {
        args[i].argv = argv;
        args[i].argc = argcs[i];
    }
    memset(res, 0, sizeof(res));
    assert_sm_ok(sm_pool_starmap(p, "sum", args, N, res, NULL));
    assert_result_at(res, 0, SM_OK, "0");
    assert_result_at(res, 1, SM_OK, "1");
    assert_result_at(res, 2, SM_OK, "-1");  /* 1 - 2 */
    assert_result_at(res, 3, SM_OK, "2");   /* 1 - 2 + 3 */
    assert_result_at(res, 4, SM_OK, "-5");  /* five pairs of -1 */
    assert_result_at(res, 5, SM_OK, "128"); /* 127 pairs of -1, then +255 */
    sm_results_clear(res, N);

    /* The same through apply: argc 255 is allowed there too. */
    sm_result r = {0};
    assert_sm_ok(sm_pool_apply(p, "sum", argv, 255, NULL, &r));
    assert_result(&r, SM_OK, "128");
    sm_result_clear(&r);

    stop_process(w, "worker");
    assert_sm_ok(sm_pool_close(p));
}

/* map_nonum runs nonum over 0..9 with "x" at index 7 and checks it all. */
static void
map_nonum(sm_pool *p, size_t chunksize)
{
    inputs in;
    sm_result res[10];
    sm_map_opts o = SM_MAP_OPTS_INIT;
    prog_log log;
    char detail[1024];

    inputs_ints(&in, 10, 0);
    inputs_set(&in, 7, "x");
    memset(res, 0, sizeof(res));
    o.chunksize = chunksize;
    prog_init(&log, 10, &o);
    int rv = sm_pool_map(p, "nonum", in.b, 10, res, &o);
    snprintf(detail, sizeof(detail), "%s", sm_errdetail());
    assert_sm_status(rv, SM_ETASK);
    assert_detail_has(detail, "input 7 of 10");
    assert_detail_has(detail, "nonum: x is not a number");
    for (size_t i = 0; i < 10; i++) {
        if (i == 7) {
            assert_result_at(res, i, SM_ETASK, "nonum: x is not a number");
        } else {
            char want[8];
            snprintf(want, sizeof(want), "%zu", i);
            assert_result_at(res, i, SM_OK, want);
        }
    }
    assert_progress(&log, 10, 1);
    sm_results_clear(res, 10);
}

static void
test_pool_map_failing_input_fails_only_itself(void **state)
{
    (void)state;
    char name[256];

    snprintf(name, sizeof(name), "%s", smt_name("pool.fail"));
    sm_pool *p = pool_open(smt_client(), name);
    pid_t w1 = worker_start(name, false), w2 = worker_start(name, false);
    wait_workers(p, 2);

    map_nonum(p, 1); /* 10 tasks: 9 done, 1 failed */
    sm_pool_info info = pool_info(p);
    assert_int_equal(info.done, 9);
    assert_int_equal(info.failed, 1);
    assert_int_equal(info.results, 0);

    map_nonum(p, 3); /* 4 tasks; [6 7 8] fails, the other three are done */
    info = pool_info(p);
    assert_int_equal(info.done, 9 + 3);
    assert_int_equal(info.failed, 1 + 1);
    assert_int_equal(info.results, 0);

    /* The first failed input decides the status: here index 2 of 4. */
    inputs in;
    sm_result res[4];
    char detail[1024];
    inputs_make(&in, 4);
    inputs_set(&in, 0, "zero");
    inputs_set(&in, 1, "one");
    inputs_set(&in, 2, "two");
    inputs_set(&in, 3, "three");
    memset(res, 0, sizeof(res));
    int rv = sm_pool_map(p, "fail", in.b, 4, res, NULL);
    snprintf(detail, sizeof(detail), "%s", sm_errdetail());
    assert_sm_status(rv, SM_ETASK);
    assert_detail_has(detail, "input 0 of 4");
    assert_detail_has(detail, "fail: zero");
    assert_result_at(res, 0, SM_ETASK, "fail: zero");
    assert_result_at(res, 1, SM_ETASK, "fail: one");
    assert_result_at(res, 2, SM_ETASK, "fail: two");
    assert_result_at(res, 3, SM_ETASK, "fail: three");
    sm_results_clear(res, 4);

    stop_process(w1, "worker");
    stop_process(w2, "worker");
    assert_sm_ok(sm_pool_close(p));
}

/* ------------------------------------------------------------------- imap */

static void
test_pool_imap_orders_by_input_and_unordered_gives_each_index_once(void **state)
{
    (void)state;
    enum { N = 8 };
    static const char *const ms[N] = {"300", "0", "150", "0", "60", "0", "200", "10"};
    char name[256];
    inputs in;
    sm_map_opts o = SM_MAP_OPTS_INIT;
    sm_imap *it = NULL;
    sm_result r = {0};
    size_t idx = 0;

    snprintf(name, sizeof(name), "%s", smt_name("pool.imap"));
    sm_pool *p = pool_open(smt_client(), name);
    pid_t w1 = worker_start(name, false), w2 = worker_start(name, false);
    wait_workers(p, 2);
    inputs_make(&in, N);
    for (size_t i = 0; i < N; i++)
        inputs_set(&in, i, ms[i]);
    o.chunksize = 1;

    /* Ordered: index i comes i-th, whatever finishes first. */
    assert_sm_ok(sm_pool_imap(p, "sleep", in.b, N, &o, &it));
    for (size_t i = 0; i < N; i++) {
        idx = 999;
        assert_sm_ok(sm_imap_next(it, BOUND_MS, &idx, &r));
        assert_int_equal(idx, i);
        assert_result(&r, SM_OK, ms[i]);
        sm_result_clear(&r);
    }
    idx = 999;
    assert_sm_status(sm_imap_next(it, BOUND_MS, &idx, &r), SM_EEND);
    assert_sm_status(sm_imap_next(it, SM_NOWAIT, &idx, &r), SM_EEND);
    assert_int_equal(idx, 999);
    sm_imap_free(it);
    it = NULL;

    /* Unordered: the set of indices, each once, each with its own output. */
    int seen[N] = {0};
    assert_sm_ok(sm_pool_imap_unordered(p, "sleep", in.b, N, &o, &it));
    for (size_t k = 0; k < N; k++) {
        idx = 999;
        assert_sm_ok(sm_imap_next(it, BOUND_MS, &idx, &r));
        assert_true(idx < N);
        seen[idx]++;
        assert_result(&r, SM_OK, ms[idx]);
        sm_result_clear(&r);
    }
    for (size_t i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    assert_sm_status(sm_imap_next(it, BOUND_MS, &idx, &r), SM_EEND);
    sm_imap_free(it);

    /* The index may be NULL. */
    assert_sm_ok(sm_pool_imap(p, "square", in.b, 1, NULL, &it));
    assert_sm_ok(sm_imap_next(it, BOUND_MS, NULL, &r));
    assert_result(&r, SM_OK, "90000");
    sm_result_clear(&r);
    assert_sm_status(sm_imap_next(it, BOUND_MS, NULL, &r), SM_EEND);
    sm_imap_free(it);

    sm_pool_info info = pool_info(p);
    assert_int_equal(info.done, 2 * N + 1);
    assert_int_equal(info.queued, 0);
    assert_int_equal(info.results, 0);
    stop_process(w1, "worker");
    stop_process(w2, "worker");
    assert_sm_ok(sm_pool_close(p));
}

static void
test_pool_imap_next_times_out_without_workers_then_gets_the_outcome(void **state)
{
    (void)state;
    char name[256];
    sm_bytes three = {"3", 1};
    sm_imap *it = NULL;
    sm_result r = {.status = -77, .data = NULL, .len = 4242};
    size_t idx = 4242;

    snprintf(name, sizeof(name), "%s", smt_name("pool.imapwait"));
    sm_pool *p = pool_open(smt_client(), name);
    assert_sm_ok(sm_pool_imap(p, "square", &three, 1, NULL, &it));
    assert_int_equal(pool_info(p).queued, 1);

    assert_sm_status(sm_imap_next(it, SM_NOWAIT, &idx, &r), SM_ETIMEDOUT);
    int64_t t0 = smt_now_ms();
    assert_sm_status(sm_imap_next(it, 300, &idx, &r), SM_ETIMEDOUT);
    int64_t ms = smt_now_ms() - t0;
    assert_true(ms >= 250);
    assert_true(ms < BOUND_MS);
    assert_int_equal(idx, 4242); /* untouched */
    assert_int_equal(r.status, -77);
    assert_null(r.data);
    assert_int_equal(r.len, 4242);
    assert_int_equal(pool_info(p).queued, 1); /* still waiting for a worker */

    /* A worker joins: the same iterator gives the outcome. */
    pid_t w = worker_start(name, false);
    assert_sm_ok(sm_imap_next(it, BOUND_MS, &idx, &r));
    assert_int_equal(idx, 0);
    assert_result(&r, SM_OK, "9");
    sm_result_clear(&r);
    assert_sm_status(sm_imap_next(it, SM_NOWAIT, &idx, &r), SM_EEND);
    sm_imap_free(it);

    stop_process(w, "worker");
    assert_sm_ok(sm_pool_close(p));
}

/* ------------------------------------------------------- apply and futures */

static void
test_pool_apply_and_future_wait_ready_get(void **state)
{
    (void)state;
    char name[256];
    sm_bytes twelve = {"12", 2}, boom = {"boom", 4}, ms500 = {"500", 3};
    sm_result r = {0};
    sm_future *f = NULL;
    bool ready = true;

    assert_string_equal(sm_task_state_name(SM_TASK_QUEUED), "queued");
    assert_string_equal(sm_task_state_name(SM_TASK_RUNNING), "running");
    assert_string_equal(sm_task_state_name(SM_TASK_DONE), "done");
    assert_string_equal(sm_task_state_name(SM_TASK_FAILED), "failed");
    assert_string_equal(sm_task_state_name(SM_TASK_CANCELLED), "cancelled");
    assert_non_null(sm_task_state_name(SM_TASK_UNKNOWN));
    assert_non_null(sm_task_state_name(99));

    snprintf(name, sizeof(name), "%s", smt_name("pool.apply"));
    sm_pool *p = pool_open(smt_client(), name);
    pid_t w = worker_start(name, false);
    wait_workers(p, 1);

    /* apply returns the outcome's status. */
    assert_sm_ok(sm_pool_apply(p, "square", &twelve, 1, NULL, &r));
    assert_result(&r, SM_OK, "144");
    sm_result_clear(&r);
    assert_sm_status(sm_pool_apply(p, "fail", &boom, 1, NULL, &r), SM_ETASK);
    assert_result(&r, SM_ETASK, "fail: boom");
    sm_result_clear(&r);
    /* Zero arguments: echo gives an empty output, which is "" and not NULL. */
    assert_sm_ok(sm_pool_apply(p, "echo", NULL, 0, NULL, &r));
    assert_result(&r, SM_OK, "");
    sm_result_clear(&r);

    /* apply_async of a 500 ms task: not ready at once, a 50 ms wait times
     * out (the task cannot be done 50 ms after it was submitted), then it is. */
    assert_sm_ok(sm_pool_apply_async(p, "sleep", &ms500, 1, NULL, &f));
    assert_non_null(f);
    assert_sm_ok(sm_future_ready(f, &ready));
    assert_false(ready);
    r.status = -77;
    assert_sm_status(sm_future_get(f, 0, &r), SM_ETIMEDOUT);
    assert_int_equal(r.status, -77); /* untouched */
    assert_null(r.data);
    assert_sm_status(sm_future_wait(f, 50), SM_ETIMEDOUT);
    assert_sm_ok(sm_future_wait(f, BOUND_MS));
    assert_sm_ok(sm_future_ready(f, &ready));
    assert_true(ready);
    assert_sm_ok(sm_future_get(f, 0, &r));
    assert_result(&r, SM_OK, "500");
    sm_result_clear(&r);
    /* The outcome stays with the future: get again gives it again. */
    assert_sm_ok(sm_future_get(f, 0, &r));
    assert_result(&r, SM_OK, "500");
    sm_result_clear(&r);
    sm_task_state s = SM_TASK_UNKNOWN;
    assert_sm_ok(sm_future_state(f, &s));
    assert_int_equal(s, SM_TASK_DONE);
    sm_future_free(f);

    /* A failing async task: the message in the result and in the detail. */
    assert_sm_ok(sm_pool_apply_async(p, "fail", &boom, 1, NULL, &f));
    int rv = sm_future_get(f, BOUND_MS, &r);
    char detail[512];
    snprintf(detail, sizeof(detail), "%s", sm_errdetail());
    assert_sm_status(rv, SM_ETASK);
    assert_result(&r, SM_ETASK, "fail: boom");
    assert_detail_has(detail, "fail: boom");
    sm_result_clear(&r);
    assert_sm_ok(sm_future_state(f, &s));
    assert_int_equal(s, SM_TASK_FAILED);
    sm_future_free(f);

    /* done: square, echo, sleep; failed: the two fail tasks. */
    sm_pool_info info = pool_info(p);
    assert_int_equal(info.done, 3);
    assert_int_equal(info.failed, 2);
    assert_int_equal(info.results, 0);
    stop_process(w, "worker");
    assert_sm_ok(sm_pool_close(p));
}

static void
test_pool_future_cancel_and_states_queued_running_done(void **state)
{
    (void)state;
    char name[256];
    sm_bytes long_ms = {"1200", 4}, short_ms = {"300", 3}, other = {"7", 1};
    sm_future *fa = NULL, *fb = NULL, *fc = NULL;
    sm_task_state s;
    sm_result r = {0};
    bool cancelled;

    snprintf(name, sizeof(name), "%s", smt_name("pool.cancel"));
    sm_pool *p = pool_open(smt_client(), name);
    sm_client *c2 = second_client();
    sm_pool *p2 = pool_open(c2, name);
    pid_t w = worker_start(name, false);
    wait_workers(p, 1);

    /* A long task on the only worker; it is queued or running, then running. */
    assert_sm_ok(sm_pool_apply_async(p, "sleep", &long_ms, 1, NULL, &fa));
    wait_future_state(fa, SM_TASK_RUNNING, ST(SM_TASK_QUEUED));
    /* Two more wait behind it. */
    assert_sm_ok(sm_pool_apply_async(p, "sleep", &short_ms, 1, NULL, &fb));
    assert_sm_ok(sm_pool_apply_async(p, "echo", &other, 1, NULL, &fc));
    uint64_t ida = sm_future_id(fa), idb = sm_future_id(fb), idc = sm_future_id(fc);
    assert_true(ida != idb && idb != idc && ida != idc);
    assert_sm_ok(sm_future_state(fb, &s));
    assert_int_equal(s, SM_TASK_QUEUED);
    /* Another client sees the same states by id. */
    assert_sm_ok(sm_pool_task_state(p2, ida, &s));
    assert_int_equal(s, SM_TASK_RUNNING);
    assert_sm_ok(sm_pool_task_state(p2, idb, &s));
    assert_int_equal(s, SM_TASK_QUEUED);
    assert_sm_ok(sm_pool_task_state(p2, idc, &s));
    assert_int_equal(s, SM_TASK_QUEUED);
    sm_pool_info info = pool_info(p2);
    assert_int_equal(info.running, 1);
    assert_int_equal(info.queued, 2);

    /* The queued one is cancelled; the running one is not. */
    cancelled = false;
    assert_sm_ok(sm_future_cancel(fc, &cancelled));
    assert_true(cancelled);
    assert_sm_ok(sm_future_state(fc, &s));
    assert_int_equal(s, SM_TASK_CANCELLED);
    assert_sm_status(sm_future_get(fc, 0, &r), SM_ECANCELLED);
    assert_result(&r, SM_ECANCELLED, NULL);
    sm_result_clear(&r);
    cancelled = true;
    assert_sm_ok(sm_future_cancel(fa, &cancelled));
    assert_false(cancelled);
    assert_sm_ok(sm_future_cancel(fa, NULL));
    assert_sm_ok(sm_pool_task_state(p2, ida, &s));
    assert_int_equal(s, SM_TASK_RUNNING);

    /* fb goes queued -> running -> done, as the other client sees it. */
    int64_t until = smt_now_ms() + BOUND_MS;
    bool saw_running = false;
    for (;;) {
        assert_sm_ok(sm_pool_task_state(p2, idb, &s));
        if (s == SM_TASK_RUNNING)
            saw_running = true;
        else if (s == SM_TASK_DONE)
            break;
        else if (s != SM_TASK_QUEUED || saw_running)
            fail_msg("task b is %s after %s", sm_task_state_name(s),
                     saw_running ? "running" : "queued");
        if (smt_now_ms() > until)
            fail_msg("task b still %s after %d ms", sm_task_state_name(s), BOUND_MS);
        smt_sleep_ms(POLL_MS);
    }
    assert_true(saw_running);
    /* fa finished before fb started: only one worker. */
    assert_sm_ok(sm_pool_task_state(p2, ida, &s));
    assert_int_equal(s, SM_TASK_DONE);
    assert_sm_ok(sm_future_get(fa, 0, &r));
    assert_result(&r, SM_OK, "1200");
    sm_result_clear(&r);
    assert_sm_ok(sm_future_get(fb, 0, &r));
    assert_result(&r, SM_OK, "300");
    sm_result_clear(&r);
    assert_sm_ok(sm_future_state(fb, &s));
    assert_int_equal(s, SM_TASK_DONE);

    /* Collected: the ids are unknown now, as is one never issued. */
    assert_sm_ok(sm_pool_task_state(p2, ida, &s));
    assert_int_equal(s, SM_TASK_UNKNOWN);
    assert_sm_ok(sm_pool_task_state(p2, idb, &s));
    assert_int_equal(s, SM_TASK_UNKNOWN);
    assert_sm_ok(sm_pool_task_state(p, idb, &s));
    assert_int_equal(s, SM_TASK_UNKNOWN);
    assert_sm_ok(sm_pool_task_state(p2, idb + 1000000, &s));
    assert_int_equal(s, SM_TASK_UNKNOWN);

    info = pool_info(p2);
    assert_int_equal(info.done, 2);
    assert_int_equal(info.cancelled, 1);
    assert_int_equal(info.failed, 0);
    assert_int_equal(info.queued, 0);
    assert_int_equal(info.running, 0);
    assert_int_equal(info.results, 0);
    sm_future_free(fa);
    sm_future_free(fb);
    sm_future_free(fc);
    stop_process(w, "worker");
    assert_sm_ok(sm_pool_close(p2));
    second_client_close();
    assert_sm_ok(sm_pool_close(p));
}

static void
test_pool_freeing_a_future_or_iterator_cancels_its_queued_tasks(void **state)
{
    (void)state;
    char name[256];
    sm_bytes one = {"1", 1};
    sm_future *f = NULL;
    sm_imap *it = NULL;
    inputs in;

    /* No worker: everything stays queued until it is cancelled. */
    snprintf(name, sizeof(name), "%s", smt_name("pool.free"));
    sm_pool *p = pool_open(smt_client(), name);
    assert_sm_ok(sm_pool_apply_async(p, "square", &one, 1, NULL, &f));
    uint64_t id = sm_future_id(f);
    sm_pool_info info = pool_info(p);
    assert_int_equal(info.queued, 1);
    sm_future_free(f);
    info = pool_info(p);
    assert_int_equal(info.queued, 0);
    assert_int_equal(info.cancelled, 1);
    sm_task_state s = SM_TASK_QUEUED;
    assert_sm_ok(sm_pool_task_state(p, id, &s));
    assert_true(s == SM_TASK_CANCELLED || s == SM_TASK_UNKNOWN);

    sm_map_opts o = SM_MAP_OPTS_INIT;
    o.chunksize = 1;
    inputs_ints(&in, 5, 0);
    assert_sm_ok(sm_pool_imap(p, "square", in.b, 5, &o, &it));
    assert_int_equal(pool_info(p).queued, 5);
    sm_imap_free(it);
    info = pool_info(p);
    assert_int_equal(info.queued, 0);
    assert_int_equal(info.cancelled, 1 + 5);
    assert_int_equal(info.done, 0);
    assert_int_equal(info.results, 0);
    assert_sm_ok(sm_pool_close(p));
}

/* --------------------------------------------------------------- delivery */

static void
test_pool_task_of_a_killed_worker_completes_on_another(void **state)
{
    (void)state;
    char name[256];
    sm_bytes ms = {"800", 3};
    sm_future *f = NULL;
    sm_result r = {0};

    snprintf(name, sizeof(name), "%s", smt_name("pool.kill"));
    sm_pool *p = pool_open(smt_client(), name);
    pid_t w1 = worker_start(name, false);
    wait_workers(p, 1);
    assert_sm_ok(sm_pool_apply_async(p, "sleep", &ms, 1, NULL, &f));
    /* Only w1 can be running it. */
    wait_future_state(f, SM_TASK_RUNNING, ST(SM_TASK_QUEUED));
    pid_t w2 = worker_start(name, false);
    wait_workers(p, 2);
    kill9(w1);

    assert_sm_ok(sm_future_get(f, BOUND_MS, &r));
    assert_result(&r, SM_OK, "800");
    sm_result_clear(&r);
    sm_pool_info info = pool_info(p);
    assert_int_equal(info.requeued, 1);
    assert_int_equal(info.done, 1);
    assert_int_equal(info.failed, 0);
    assert_int_equal(info.workers, 1); /* w1's session has ended */
    assert_int_equal(info.results, 0);

    sm_future_free(f);
    stop_process(w2, "worker");
    assert_sm_ok(sm_pool_close(p));
}

/* ------------------------------------------------------------------ crash */

/* A map run on a thread while the main thread supervises worker children. */
typedef struct map_job {
    pthread_t tid;
    sm_pool *p;
    const sm_bytes *in;
    size_t n;
    sm_result *res;
    sm_map_opts opts;
    int rv;
    char detail[1024];
    int done; /* atomic */
} map_job;

static void *
map_job_main(void *arg)
{
    map_job *j = arg;
    j->rv = sm_pool_map(j->p, "crash", j->in, j->n, j->res, &j->opts);
    snprintf(j->detail, sizeof(j->detail), "%s", sm_errdetail());
    __atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* reap_deaths reaps any of the nw workers that ended, counting SIGABRT
 * deaths into *deaths and anything else into *other, and starts a new
 * worker in place of each. */
static void
reap_deaths(pid_t *w, size_t nw, const char *pool, int *deaths, int *other, bool respawn)
{
    for (size_t i = 0; i < nw; i++) {
        int st = 0;
        if (w[i] <= 0 || waitpid(w[i], &st, WNOHANG) != w[i])
            continue;
        untrack(w[i]);
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT)
            (*deaths)++;
        else {
            print_error("worker %ld ended with wait status 0x%x\n", (long)w[i], st);
            (*other)++;
        }
        w[i] = respawn ? worker_start(pool, false) : 0;
    }
}

/* crash_map runs crash over 8 inputs with "crash" at index 2 (chunksize,
 * max_kills) on two supervised worker children, and asserts the outcome
 * and that exactly want_deaths workers died. */
static void
crash_map(size_t chunksize, int max_kills, int want_deaths)
{
    static const char *const text[8] = {"a", "b", "crash", "c", "d", "e", "f", "g"};
    char name[256];
    inputs in;
    /* Static: a thread stuck past the bound must not outlive its data. */
    static map_job job;
    static sm_result res[8];
    pid_t w[2];
    int deaths = 0, other = 0;

    snprintf(name, sizeof(name), "%s", smt_name("pool.crash"));
    sm_pool *p = pool_open(smt_client(), name);
    w[0] = worker_start(name, false);
    w[1] = worker_start(name, false);
    wait_workers(p, 2);
    inputs_make(&in, 8);
    for (size_t i = 0; i < 8; i++)
        inputs_set(&in, i, text[i]);

    memset(&job, 0, sizeof(job));
    memset(res, 0, sizeof(res));
    job.p = p;
    job.in = in.b;
    job.n = 8;
    job.res = res;
    job.opts = (sm_map_opts)SM_MAP_OPTS_INIT;
    job.opts.chunksize = chunksize;
    job.opts.max_kills = max_kills;
    assert_int_equal(pthread_create(&job.tid, NULL, map_job_main, &job), 0);
    int64_t until = smt_now_ms() + 4 * BOUND_MS;
    while (!__atomic_load_n(&job.done, __ATOMIC_ACQUIRE)) {
        reap_deaths(w, 2, name, &deaths, &other, true);
        if (smt_now_ms() > until)
            fail_msg("the map has not returned after %d ms (%d deaths)", 4 * BOUND_MS, deaths);
        smt_sleep_ms(POLL_MS);
    }
    pthread_join(job.tid, NULL);
    /* A death the map saw has happened: its zombie is there to reap. */
    reap_deaths(w, 2, name, &deaths, &other, false);
    assert_int_equal(other, 0);
    if (deaths != want_deaths)
        fail_msg("chunksize %zu, max_kills %d: %d workers died, wanted %d", chunksize, max_kills,
                 deaths, want_deaths);

    assert_sm_status(job.rv, SM_EKILLED);
    assert_detail_has(job.detail, "input 2 of 8");
    for (size_t i = 0; i < 8; i++)
        assert_result_at(res, i, i == 2 ? SM_EKILLED : SM_OK, i == 2 ? NULL : text[i]);
    sm_results_clear(res, 8);
    sm_pool_info info = pool_info(p);
    assert_int_equal(info.queued, 0);
    assert_int_equal(info.running, 0);
    assert_int_equal(info.results, 0);
    assert_int_equal(info.failed, 1); /* the crashing input alone */

    for (size_t i = 0; i < 2; i++)
        if (w[i] > 0)
            stop_process(w[i], "worker");
    assert_sm_ok(sm_pool_close(p));
}

/* Deaths a crashing input causes. A chunk whose worker dies alone with it
 * is charged with that death and split, so the crashing input, alone from
 * then on, fails when its charges reach max_kills: 3 deaths with the
 * default whatever the chunksize. With max_kills 1 the first death cannot
 * name the culprit among the chunk's inputs (failing them all would fail
 * the innocent ones), so the crashing input dies once more alone: 2. */
static void
test_pool_crashing_input_fails_after_exactly_three_deaths(void **state)
{
    (void)state;
    crash_map(1, 0, 3);
}

static void
test_pool_crashing_input_with_max_kills_1_fails_after_one_death(void **state)
{
    (void)state;
    crash_map(1, 1, 1);
}

static void
test_pool_crashing_input_in_a_chunk_of_4_fails_alone_after_three_deaths(void **state)
{
    (void)state;
    crash_map(4, 1, 2);
    crash_map(4, 0, 3);
}

/* The runner's log (its stderr, through a pipe): every death of one of its
 * processes is a line "worker K (pid P) killed by signal 6 (Aborted) ...". */
typedef struct runner_log {
    int fd;     /* read end, non-blocking */
    char *text; /* RUNNER_LOG_MAX bytes */
    size_t len;
} runner_log;
#define RUNNER_LOG_MAX (256 * 1024)

/* runner_log_read appends what the runner has written so far (up to
 * RUNNER_LOG_MAX bytes in all, far more than these tests make it write). */
static void
runner_log_read(runner_log *l)
{
    if (l->text == NULL)
        l->text = scratch_calloc(RUNNER_LOG_MAX, 1);
    while (l->len < RUNNER_LOG_MAX - 1) {
        ssize_t r = read(l->fd, l->text + l->len, RUNNER_LOG_MAX - 1 - l->len);
        if (r > 0)
            l->len += (size_t)r;
        else if (!(r < 0 && errno == EINTR))
            break; /* EAGAIN: nothing more yet; 0: the runner is gone */
    }
    l->text[l->len] = '\0';
}

/* runner_log_count counts the lines that contain what. */
static int
runner_log_count(const runner_log *l, const char *what)
{
    int n = 0;
    for (const char *at = l->text; at != NULL && (at = strstr(at, what)) != NULL; at++)
        n++;
    return n;
}

static void
test_pool_crashing_input_under_the_runner_fails_only_itself(void **state)
{
    (void)state;
    static const char *const text[8] = {"a", "b", "crash", "c", "d", "e", "f", "g"};
    /* chunksize, max_kills, deaths: as in the tests above. */
    static const struct {
        size_t chunksize;
        int max_kills, deaths;
    } runs[] = {{1, 0, 3}, {1, 1, 1}, {4, 1, 2}, {4, 0, 3}};
    char name[256];
    inputs in;
    sm_result res[8];
    char detail[1024];
    runner_log log = {0};

    snprintf(name, sizeof(name), "%s", smt_name("pool.runner"));
    sm_pool *p = pool_open(smt_client(), name);
    pid_t runner = runner_start(name, 2, &log.fd);
    wait_workers(p, 2);
    inputs_make(&in, 8);
    for (size_t i = 0; i < 8; i++)
        inputs_set(&in, i, text[i]);

    int deaths = 0;
    for (size_t k = 0; k < N_ELEMS(runs); k++) {
        sm_map_opts o = SM_MAP_OPTS_INIT;
        o.chunksize = runs[k].chunksize;
        o.max_kills = runs[k].max_kills;
        memset(res, 0, sizeof(res));
        int rv = sm_pool_map(p, "crash", in.b, 8, res, &o);
        snprintf(detail, sizeof(detail), "%s", sm_errdetail());
        assert_sm_status(rv, SM_EKILLED);
        assert_detail_has(detail, "input 2 of 8");
        for (size_t i = 0; i < 8; i++)
            assert_result_at(res, i, i == 2 ? SM_EKILLED : SM_OK, i == 2 ? NULL : text[i]);
        sm_results_clear(res, 8);
        sm_pool_info info = pool_info(p);
        assert_int_equal(info.failed, k + 1); /* the crashing input alone, each time */
        assert_int_equal(info.queued, 0);
        assert_int_equal(info.running, 0);
        assert_int_equal(info.results, 0);
        /* Once the last dead process's replacement has joined, the runner
         * has logged that death (it logs a death before restarting). */
        wait_workers(p, 2);
        runner_log_read(&log);
        int now = runner_log_count(&log, "killed by signal 6");
        if (now - deaths != runs[k].deaths) {
            fprintf(stderr, "runner log:\n%s", log.text);
            fail_msg("chunksize %zu, max_kills %d: %d runner processes died, wanted %d",
                     runs[k].chunksize, runs[k].max_kills, now - deaths, runs[k].deaths);
        }
        deaths = now;
    }

    stop_process(runner, "syncmgr-worker");
    wait_workers(p, 0);
    runner_log_read(&log);
    assert_int_equal(runner_log_count(&log, "killed by signal"), deaths);
    assert_sm_ok(sm_pool_close(p));
}

/* ---------------------------------------------------------------- timeout */

static void
test_pool_task_past_its_timeout_fails_and_the_pool_keeps_serving(void **state)
{
    (void)state;
    char name[256];
    sm_bytes ms = {"5000", 4}, five = {"5", 1};
    sm_map_opts o = SM_MAP_OPTS_INIT;
    sm_result r = {0};
    sm_result res[20];
    inputs in;
    pid_t w[2];

    snprintf(name, sizeof(name), "%s", smt_name("pool.timeout"));
    sm_pool *p = pool_open(smt_client(), name);
    w[0] = worker_start(name, true);
    w[1] = worker_start(name, true);
    wait_workers(p, 2);

    int64_t t0 = smt_now_ms();
    o.timeout_ms = 300;
    assert_sm_status(sm_pool_apply(p, "sleep", &ms, 1, &o, &r), SM_ETIMEDOUT);
    int64_t took = smt_now_ms() - t0;
    assert_result(&r, SM_ETIMEDOUT, NULL);
    sm_result_clear(&r);
    assert_true(took >= 250);
    assert_true(took < 4000);

    /* One worker is still in that sleep; the other serves a whole map. */
    o = (sm_map_opts)SM_MAP_OPTS_INIT;
    o.chunksize = 1;
    inputs_ints(&in, 20, 0);
    memset(res, 0, sizeof(res));
    assert_sm_ok(sm_pool_map(p, "square", in.b, 20, res, &o));
    assert_squares(res, 20, 0);
    sm_results_clear(res, 20);
    assert_true(smt_now_ms() - t0 < 4500);

    /* exit_on_overrun: the stuck worker ends with status 3, 1 s past 300 ms. */
    int64_t until = smt_now_ms() + BOUND_MS;
    int exited = -1, st = 0;
    while (exited < 0) {
        for (int i = 0; i < 2 && exited < 0; i++)
            if (waitpid(w[i], &st, WNOHANG) == w[i])
                exited = i;
        if (smt_now_ms() > until)
            fail_msg("no worker exited within %d ms of overrunning its timeout", BOUND_MS);
        smt_sleep_ms(POLL_MS);
    }
    untrack(w[exited]);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 3)
        fail_msg("the overrunning worker ended with wait status 0x%x, wanted exit 3", st);
    wait_workers(p, 1);

    assert_sm_ok(sm_pool_apply(p, "square", &five, 1, NULL, &r));
    assert_result(&r, SM_OK, "25");
    sm_result_clear(&r);
    sm_pool_info info = pool_info(p);
    assert_int_equal(info.failed, 1);
    assert_int_equal(info.done, 21);
    assert_int_equal(info.requeued, 0); /* a timed-out task is never given back */
    assert_int_equal(info.queued, 0);
    assert_int_equal(info.running, 0);
    assert_int_equal(info.results, 0);

    stop_process(w[1 - exited], "worker");
    assert_sm_ok(sm_pool_close(p));
}

/* ---------------------------------------------------------- unknown task */

static void
test_pool_task_no_worker_has_is_enotfound(void **state)
{
    (void)state;
    char name[256];
    inputs in;
    sm_result res[3];

    snprintf(name, sizeof(name), "%s", smt_name("pool.notask"));
    sm_pool *p = pool_open(smt_client(), name);
    pid_t w = worker_start(name, false);
    wait_workers(p, 1);
    inputs_ints(&in, 3, 1);
    memset(res, 0, sizeof(res));
    assert_sm_status(sm_pool_map(p, "nosuchtask", in.b, 3, res, NULL), SM_ENOTFOUND);
    sm_results_clear(res, 3);
    sm_pool_info info = pool_info(p);
    assert_int_equal(info.queued, 0);
    assert_int_equal(info.running, 0);
    assert_int_equal(info.done, 0);
    assert_int_equal(info.results, 0);

    /* The pool still serves a task the worker has. */
    memset(res, 0, sizeof(res));
    assert_sm_ok(sm_pool_map(p, "square", in.b, 3, res, NULL));
    assert_squares(res, 3, 1);
    sm_results_clear(res, 3);

    stop_process(w, "worker");
    assert_sm_ok(sm_pool_close(p));
}

/* -------------------------------------------------------- dead submitter */

static void
test_pool_killed_submitter_has_its_queued_tasks_cancelled(void **state)
{
    (void)state;
    char name[256], url[512];

    snprintf(name, sizeof(name), "%s", smt_name("pool.submitter"));
    snprintf(url, sizeof(url), "%s", smt_url());
    sm_pool *p = pool_open(smt_client(), name);
    pid_t sub = smt_spawn("submitter", url, name, "5", NULL);
    track(sub);

    /* No worker: its five tasks are queued. */
    int64_t until = smt_now_ms() + BOUND_MS;
    sm_pool_info info = pool_info(p);
    while (info.queued != 5) {
        if (info.queued > 5 || smt_now_ms() > until)
            fail_msg("%" PRIu64 " tasks queued, wanted 5", info.queued);
        smt_sleep_ms(POLL_MS);
        info = pool_info(p);
    }
    kill9(sub);

    /* Within its lease and a margin they are cancelled. */
    int64_t t0 = smt_now_ms();
    while (info.queued != 0) {
        if (smt_now_ms() > until)
            fail_msg("%" PRIu64 " tasks still queued %" PRId64 " ms after the submitter died",
                     info.queued, smt_now_ms() - t0);
        smt_sleep_ms(POLL_MS);
        info = pool_info(p);
    }
    assert_int_equal(info.cancelled, 5);
    assert_int_equal(info.done, 0);
    assert_int_equal(info.running, 0);
    assert_int_equal(info.results, 0);

    /* A worker joining now finds nothing to do. */
    pid_t w = worker_start(name, false);
    wait_workers(p, 1);
    info = pool_info(p);
    assert_int_equal(info.queued, 0);
    assert_int_equal(info.running, 0);
    assert_int_equal(info.done, 0);
    stop_process(w, "worker");
    assert_sm_ok(sm_pool_close(p));
}

/* ------------------------------------------------- status and arguments */

static void
test_pool_status_from_another_client_counts_live_workers(void **state)
{
    (void)state;
    char name[256];

    snprintf(name, sizeof(name), "%s", smt_name("pool.status"));
    sm_pool *p = pool_open(smt_client(), name);
    sm_client *c2 = second_client();
    sm_pool *p2 = pool_open(c2, name);
    assert_int_equal(pool_info(p2).workers, 0);

    pid_t w[3];
    for (int i = 0; i < 3; i++)
        w[i] = worker_start(name, false);
    wait_workers(p2, 3);
    int logfd = -1;
    pid_t runner = runner_start(name, 2, &logfd); /* its log is not needed */
    wait_workers(p2, 5);

    stop_process(w[0], "worker"); /* leaves the pool */
    wait_workers(p2, 4);
    kill9(w[1]); /* its lease lapses */
    wait_workers(p2, 3);
    stop_process(runner, "syncmgr-worker");
    wait_workers(p2, 1);
    stop_process(w[2], "worker");
    wait_workers(p2, 0);

    sm_pool_info info = pool_info(p2);
    assert_int_equal(info.queued, 0);
    assert_int_equal(info.running, 0);
    assert_int_equal(info.done, 0);
    assert_int_equal(info.requeued, 0);
    assert_sm_ok(sm_pool_close(p2));
    second_client_close();
    assert_sm_ok(sm_pool_close(p));
}

/* assert_same_info fails unless every counter of a equals b's. */
static void
assert_same_info(const sm_pool_info *a, const sm_pool_info *b)
{
    assert_int_equal(a->queued, b->queued);
    assert_int_equal(a->running, b->running);
    assert_int_equal(a->done, b->done);
    assert_int_equal(a->failed, b->failed);
    assert_int_equal(a->cancelled, b->cancelled);
    assert_int_equal(a->workers, b->workers);
    assert_int_equal(a->results, b->results);
    assert_int_equal(a->requeued, b->requeued);
}

static void
test_pool_bad_arguments_are_einval_and_change_nothing(void **state)
{
    (void)state;
    char name[256], longname[300];
    sm_bytes one = {"1", 1};
    sm_bytes many[256];
    sm_args bad_args[1];
    sm_result res[2];
    sm_result r = {.status = -77, .data = NULL, .len = 4242};
    sm_future *f = (sm_future *)&r; /* a sentinel: must stay untouched */
    sm_imap *it = (sm_imap *)&r;
    sm_pool *q = (sm_pool *)&r;
    sm_pool_info info;
    sm_task_state s = SM_TASK_DONE;

    for (int i = 0; i < 256; i++)
        many[i] = one;
    snprintf(name, sizeof(name), "%s", smt_name("pool.einval"));
    sm_pool *p = pool_open(smt_client(), name);
    /* Some state in the pool to compare against. */
    sm_future *held = NULL;
    assert_sm_ok(sm_pool_apply_async(p, "square", &one, 1, NULL, &held));
    sm_pool_info before = pool_info(p);
    assert_int_equal(before.queued, 1);
    res[0] = r;
    res[1] = r;

    /* map and starmap */
    assert_sm_status(sm_pool_map(NULL, "square", &one, 1, res, NULL), SM_EINVAL);
    assert_sm_status(sm_pool_map(p, NULL, &one, 1, res, NULL), SM_EINVAL);
    assert_sm_status(sm_pool_map(p, "square", NULL, 2, res, NULL), SM_EINVAL);
    assert_sm_status(sm_pool_map(p, "square", &one, 1, NULL, NULL), SM_EINVAL);
    bad_args[0].argv = many;
    bad_args[0].argc = 256;
    assert_sm_status(sm_pool_starmap(p, "sum", bad_args, 1, res, NULL), SM_EINVAL);
    bad_args[0].argc = -1;
    assert_sm_status(sm_pool_starmap(p, "sum", bad_args, 1, res, NULL), SM_EINVAL);
    bad_args[0].argv = NULL;
    bad_args[0].argc = 2;
    assert_sm_status(sm_pool_starmap(p, "sum", bad_args, 1, res, NULL), SM_EINVAL);
    assert_sm_status(sm_pool_starmap(p, "sum", NULL, 1, res, NULL), SM_EINVAL);
    assert_sm_status(sm_pool_starmap(NULL, "sum", bad_args, 1, res, NULL), SM_EINVAL);
    assert_sm_status(sm_pool_starmap(p, NULL, bad_args, 1, res, NULL), SM_EINVAL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(res[i].status, -77);
        assert_null(res[i].data);
        assert_int_equal(res[i].len, 4242);
    }

    /* imap */
    assert_sm_status(sm_pool_imap(NULL, "square", &one, 1, NULL, &it), SM_EINVAL);
    assert_sm_status(sm_pool_imap(p, NULL, &one, 1, NULL, &it), SM_EINVAL);
    assert_sm_status(sm_pool_imap(p, "square", NULL, 1, NULL, &it), SM_EINVAL);
    assert_sm_status(sm_pool_imap(p, "square", &one, 1, NULL, NULL), SM_EINVAL);
    assert_sm_status(sm_pool_imap_unordered(p, NULL, &one, 1, NULL, &it), SM_EINVAL);
    assert_sm_status(sm_pool_imap_unordered(p, "square", NULL, 1, NULL, &it), SM_EINVAL);
    assert_ptr_equal(it, (sm_imap *)&r);

    /* apply and apply_async */
    assert_sm_status(sm_pool_apply(NULL, "sum", &one, 1, NULL, &r), SM_EINVAL);
    assert_sm_status(sm_pool_apply(p, NULL, &one, 1, NULL, &r), SM_EINVAL);
    assert_sm_status(sm_pool_apply(p, "sum", many, 256, NULL, &r), SM_EINVAL);
    assert_sm_status(sm_pool_apply(p, "sum", many, -1, NULL, &r), SM_EINVAL);
    assert_sm_status(sm_pool_apply(p, "sum", NULL, 2, NULL, &r), SM_EINVAL);
    assert_sm_status(sm_pool_apply(p, "sum", &one, 1, NULL, NULL), SM_EINVAL);
    assert_int_equal(r.status, -77);
    assert_null(r.data);
    assert_sm_status(sm_pool_apply_async(NULL, "sum", &one, 1, NULL, &f), SM_EINVAL);
    assert_sm_status(sm_pool_apply_async(p, NULL, &one, 1, NULL, &f), SM_EINVAL);
    assert_sm_status(sm_pool_apply_async(p, "sum", many, 256, NULL, &f), SM_EINVAL);
    assert_sm_status(sm_pool_apply_async(p, "sum", NULL, 1, NULL, &f), SM_EINVAL);
    assert_sm_status(sm_pool_apply_async(p, "sum", &one, 1, NULL, NULL), SM_EINVAL);
    assert_ptr_equal(f, (sm_future *)&r);

    /* open, status, task state */
    memset(longname, 'n', 256);
    longname[256] = '\0';
    assert_sm_status(sm_pool_open(NULL, name, &q), SM_EINVAL);
    assert_sm_status(sm_pool_open(smt_client(), NULL, &q), SM_EINVAL);
    assert_sm_status(sm_pool_open(smt_client(), "", &q), SM_EINVAL);
    assert_sm_status(sm_pool_open(smt_client(), longname, &q), SM_EINVAL);
    assert_sm_status(sm_pool_open(smt_client(), name, NULL), SM_EINVAL);
    assert_ptr_equal(q, (sm_pool *)&r);
    memset(&info, 0x5a, sizeof(info));
    assert_sm_status(sm_pool_status(NULL, &info), SM_EINVAL);
    assert_sm_status(sm_pool_status(p, NULL), SM_EINVAL);
    assert_int_equal(info.queued, 0x5a5a5a5a5a5a5a5aULL);
    assert_sm_status(sm_pool_task_state(NULL, sm_future_id(held), &s), SM_EINVAL);
    assert_sm_status(sm_pool_task_state(p, sm_future_id(held), NULL), SM_EINVAL);
    assert_int_equal(s, SM_TASK_DONE);

    /* the worker side, in this process (it joins nothing until it runs) */
    sm_worker *wk = NULL;
    assert_sm_status(sm_worker_new(NULL, name, &wk), SM_EINVAL);
    assert_sm_status(sm_worker_new(smt_client(), NULL, &wk), SM_EINVAL);
    assert_sm_status(sm_worker_new(smt_client(), name, NULL), SM_EINVAL);
    assert_null(wk);
    assert_sm_ok(sm_worker_new(smt_client(), name, &wk));
    assert_sm_ok(sm_tasks_init(wk));
    assert_sm_status(sm_worker_register(wk, "square", task_square, NULL), SM_EINVAL);
    assert_sm_status(sm_worker_register(wk, "", task_square, NULL), SM_EINVAL);
    assert_sm_status(sm_worker_register(wk, NULL, task_square, NULL), SM_EINVAL);
    assert_sm_status(sm_worker_register(wk, longname, task_square, NULL), SM_EINVAL);
    assert_sm_status(sm_worker_register(wk, "other", NULL, NULL), SM_EINVAL);
    longname[255] = '\0';
    assert_sm_ok(sm_worker_register(wk, longname, task_square, NULL)); /* 255 bytes */
    sm_worker_free(wk);

    /* Nothing changed: the same counters, the held task still queued. */
    info = pool_info(p);
    assert_same_info(&info, &before);
    sm_task_state hs = SM_TASK_UNKNOWN;
    assert_sm_ok(sm_pool_task_state(p, sm_future_id(held), &hs));
    assert_int_equal(hs, SM_TASK_QUEUED);
    sm_future_free(held);
    assert_sm_ok(sm_pool_close(p));
    assert_sm_ok(sm_pool_close(NULL));
}

#define POOL_TEST(f) cmocka_unit_test_teardown(f, pool_teardown)

const struct CMUnitTest tests[] = {
    POOL_TEST(test_pool_map_square_gives_every_result_in_input_order),
    POOL_TEST(test_pool_starmap_sum_takes_argument_lists_of_any_length),
    POOL_TEST(test_pool_map_failing_input_fails_only_itself),
    POOL_TEST(test_pool_imap_orders_by_input_and_unordered_gives_each_index_once),
    POOL_TEST(test_pool_imap_next_times_out_without_workers_then_gets_the_outcome),
    POOL_TEST(test_pool_apply_and_future_wait_ready_get),
    POOL_TEST(test_pool_future_cancel_and_states_queued_running_done),
    POOL_TEST(test_pool_freeing_a_future_or_iterator_cancels_its_queued_tasks),
    POOL_TEST(test_pool_task_of_a_killed_worker_completes_on_another),
    POOL_TEST(test_pool_crashing_input_fails_after_exactly_three_deaths),
    POOL_TEST(test_pool_crashing_input_with_max_kills_1_fails_after_one_death),
    POOL_TEST(test_pool_crashing_input_in_a_chunk_of_4_fails_alone_after_three_deaths),
    POOL_TEST(test_pool_crashing_input_under_the_runner_fails_only_itself),
    POOL_TEST(test_pool_task_past_its_timeout_fails_and_the_pool_keeps_serving),
    POOL_TEST(test_pool_task_no_worker_has_is_enotfound),
    POOL_TEST(test_pool_killed_submitter_has_its_queued_tasks_cancelled),
    POOL_TEST(test_pool_status_from_another_client_counts_live_workers),
    POOL_TEST(test_pool_bad_arguments_are_einval_and_change_nothing),
};

int
main(int argc, char **argv)
{
    return SMT_MAIN_CHILDREN("pool", tests, children);
}
