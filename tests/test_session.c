/* test_session.c - sessions and leases (syncmgr.h, the paragraph before
 * sm_client_open): what a session owns is given back when it ends, however
 * it ends, and fencing tokens.
 *
 * - A killed holder (kill -9 of a child process whose client has a 1 s lease)
 *   gives back its lock and rlock (the next holder gets SM_EOWNERDEAD, once,
 *   with a larger fencing token), its semaphore permits, the joinable-queue
 *   item it took and had not marked done (to the front, still unfinished;
 *   the item it marked done stays done), its parked barrier wait and its
 *   reference to an anonymous var, within the lease and a margin.
 * - A holder whose lease lapses while it is stopped (SIGSTOP) loses its lock
 *   the same way, and once resumed every call it makes is SM_ESESSION.
 * - An idle holder outlives its lease: the heartbeat renews it.
 * - sm_client_close gives everything back at once (the closing client's
 *   lease is a minute, so a lapse cannot explain it); a lock released before
 *   the close is no news to its next holder.
 * - Fencing tokens strictly increase per lock: in one thread, across a
 *   refused acquire (which leaves *fence alone), through an rlock's nested
 *   acquires (which keep the first token), and across 4 processes x 250
 *   grants.
 * - A server restarted on the same address answers the old client's calls
 *   with SM_ESESSION within the call deadline, and serves new clients.
 * - sm_client_session ids; lease_ms bounds; an old, shorter sm_client_opts.
 *
 * Ordering without sleeps: a child writes "ready ..." on a pipe only once it
 * holds everything (and has seen its barrier wait parked, through
 * sm_barrier_info); the parent waits for that line, and tells a child to go
 * on by writing to (or closing) another pipe. Children never call cmocka's
 * assertions: they print why they failed and exit non-zero, or report the
 * statuses they got on their pipe for the parent to assert. */
#include "smt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LEASE_MS 1000      /* the lease of every client whose session is meant to end */
#define MARGIN_MS 2000     /* a dead session's lock is granted within LEASE_MS + this */
#define ACQ_MS 5000        /* timeout of an acquire that must succeed once a session ends */
#define CLOSE_ACQ_MS 2000  /* ... once a session was closed */
#define LONG_LEASE_MS 60000 /* a lease that cannot lapse during a test */
#define LONG_MS 10000      /* bound for waits that must succeed */
#define LINE_MS 30000      /* how long the parent waits for a line from a child */
#define RESTART_CALL_MS 2000 /* the call deadline of the client that outlives its server */
#define FENCE_PROCS 4
#define FENCE_GRANTS 250
#define FENCE_SEQ 200      /* grants in the single-thread sequence */
#define SMV(expr) ((const sm_value[]){expr})
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- helpers */

/* open_client opens a client on url with the given lease and call deadline. */
static int
open_client(const char *url, int64_t lease_ms, int64_t call_ms, sm_client **cp)
{
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    o.lease_ms = lease_ms;
    o.call_timeout_ms = call_ms;
    return sm_client_open(cp, url, &o);
}

/* child_pipe makes a pipe whose end `keep` (0: read, 1: write) survives the
 * exec of the children spawned next, and writes that end's number to arg.
 * The parent closes that end once the children are spawned. */
static void
child_pipe(int p[2], int keep, char *arg, size_t size)
{
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    int fl = fcntl(p[keep], F_GETFD);
    assert_true(fl >= 0);
    assert_int_equal(fcntl(p[keep], F_SETFD, fl & ~FD_CLOEXEC), 0);
    snprintf(arg, size, "%d", p[keep]);
}

/* line_read reads one '\n'-ended line from fd into buf (without the '\n'),
 * waiting at most timeout_ms. False on timeout, end of file or a line that
 * does not fit. */
static bool
line_read(int fd, char *buf, size_t size, int64_t timeout_ms)
{
    int64_t end = smt_now_ms() + timeout_ms;
    size_t n = 0;

    while (n + 1 < size) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = end - smt_now_ms();
        char ch;
        if (left <= 0)
            return false;
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return false;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        if (ch == '\n') {
            buf[n] = '\0';
            return true;
        }
        buf[n++] = ch;
    }
    return false;
}

/* child_line reads child pid's next line from fd. If none comes, it kills
 * and reaps the child and fails the test, saying how the child ended. */
static void
child_line(pid_t pid, int fd, char *buf, size_t size)
{
    int st = 0;
    if (line_read(fd, buf, size, LINE_MS))
        return;
    kill(pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    print_error("child %ld sent no line within %d ms (wait status 0x%x)\n", (long)pid, LINE_MS,
                st);
    fail();
}

/* kill9 kills child pid with SIGKILL and reaps it, asserting that is how it
 * ended (a child that exited by itself before the kill failed). */
static void
kill9(pid_t pid)
{
    int st = 0;
    pid_t r;
    assert_int_equal(kill(pid, SIGKILL), 0);
    do {
        r = waitpid(pid, &st, 0);
    } while (r < 0 && errno == EINTR);
    assert_int_equal(r, pid);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
        print_error("child %ld ended before the kill (wait status 0x%x)\n", (long)pid, st);
        fail();
    }
}

/* copy_name copies a fresh smt_name(prefix) into buf (smt_name's buffer is
 * reused). */
static void
copy_name(char *buf, size_t size, const char *prefix)
{
    snprintf(buf, size, "%s", smt_name(prefix));
}

static bool
is_str(const sm_value *v, const char *s)
{
    return v->type == SM_STR && v->u.buf.len == strlen(s) &&
           memcmp(v->u.buf.ptr, s, v->u.buf.len) == 0;
}

/* queue_get_str_check takes the next item of q (SM_NOWAIT) and asserts it is
 * the string want. */
static void
queue_get_str_check(sm_queue *q, const char *want, const char *file, int line)
{
    sm_value v = sm_value_nil();
    smt_assert_status(sm_queue_get(q, SM_NOWAIT, &v), SM_OK, "sm_queue_get(q, SM_NOWAIT)", file,
                      line);
    if (!is_str(&v, want)) {
        if (v.type == SM_STR)
            print_error("queue item is \"%.*s\", wanted \"%s\"\n", (int)v.u.buf.len,
                        (const char *)v.u.buf.ptr, want);
        else
            print_error("queue item is of type %d, wanted the string \"%s\"\n", (int)v.type,
                        want);
        sm_value_clear(&v);
        _fail(file, line);
    }
    sm_value_clear(&v);
}
#define assert_queue_get_str(q, want) queue_get_str_check((q), (want), __FILE__, __LINE__)

static void
queue_info_check(sm_queue *q, int64_t size, int64_t unfinished, const char *file, int line)
{
    int64_t got_size = -1, got_unfinished = -1;
    smt_assert_status(sm_queue_info(q, &got_size, NULL, &got_unfinished), SM_OK, "sm_queue_info",
                      file, line);
    if (got_size != size || got_unfinished != unfinished) {
        print_error("queue size %" PRId64 ", unfinished %" PRId64 "; wanted %" PRId64
                    " and %" PRId64 "\n",
                    got_size, got_unfinished, size, unfinished);
        _fail(file, line);
    }
}
#define assert_queue_info(q, size, unfinished)                                                    \
    queue_info_check((q), (size), (unfinished), __FILE__, __LINE__)

static int64_t
sem_value(sm_sem *s)
{
    int64_t v = -1;
    assert_sm_ok(sm_sem_value(s, &v));
    return v;
}

static bool
lock_locked(sm_lock *l)
{
    bool b = false;
    assert_sm_ok(sm_lock_locked(l, &b));
    return b;
}

static bool
rlock_locked(sm_rlock *r)
{
    bool b = false;
    assert_sm_ok(sm_rlock_locked(r, &b));
    return b;
}

static int64_t
barrier_waiting(sm_barrier *b)
{
    int64_t n = -1;
    assert_sm_ok(sm_barrier_info(b, NULL, &n, NULL));
    return n;
}

/* list_ints reads all of list l, asserting it holds n ints, into out[0..n-1]. */
static void
list_ints(sm_list *l, int64_t *out, size_t n)
{
    sm_value *vals = NULL;
    size_t got = 0;
    assert_sm_ok(sm_list_slice(l, 0, SM_END, &vals, &got));
    if (got != n) {
        print_error("list holds %zu items, wanted %zu\n", got, n);
        sm_values_free(vals, got);
        fail();
    }
    for (size_t i = 0; i < n; i++) {
        if (vals[i].type != SM_INT) {
            print_error("list item %zu is of type %d, wanted an int\n", i, (int)vals[i].type);
            sm_values_free(vals, got);
            fail();
        }
        out[i] = vals[i].u.i;
    }
    sm_values_free(vals, got);
}

/* assert_strictly_increasing fails unless t[0] < t[1] < ... < t[n-1]. */
static void
strictly_increasing_check(const int64_t *t, size_t n, const char *what, const char *file,
                          int line)
{
    for (size_t i = 1; i < n; i++) {
        if (t[i] <= t[i - 1]) {
            print_error("%s: token %zu is %" PRId64 ", not above token %zu, %" PRId64 "\n", what,
                        i, t[i], i - 1, t[i - 1]);
            _fail(file, line);
        }
    }
}
#define assert_strictly_increasing(t, n, what)                                                    \
    strictly_increasing_check((t), (n), (what), __FILE__, __LINE__)

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* ------------------------------------------------------------ children */

/* child_wait_go blocks until the parent writes a byte to fd (true) or closes
 * it (false). */
static bool
child_wait_go(int fd)
{
    char b;
    ssize_t r;
    do {
        r = read(fd, &b, 1);
    } while (r < 0 && errno == EINTR);
    return r == 1;
}

static void *
holder_barrier_main(void *b)
{
    (void)sm_barrier_wait(b, SM_WAIT_FOREVER, NULL); /* parked until the process dies */
    return NULL;
}

/* holder_child: argv is NAME URL LOCK RLOCK SEM QUEUE BARRIER READY_FD.
 * With a LEASE_MS client it takes the lock, the rlock twice, both permits of
 * the semaphore, the queue's first item (marked done) and second item (not
 * marked done), parks a barrier wait on another thread (and waits until
 * sm_barrier_info shows it parked), and creates an anonymous var holding 7.
 * Then it writes "ready LOCK_FENCE RLOCK_FENCE VAR_TOKEN\n" to READY_FD and
 * waits to be killed. Only the parent's kill ends it. */
static int
holder_child(int argc, char **argv)
{
    sm_client *c = NULL;
    sm_lock *l = NULL;
    sm_rlock *r = NULL;
    sm_sem *s = NULL;
    sm_queue *q = NULL;
    sm_barrier *b = NULL;
    sm_var *v = NULL;
    sm_value item = sm_value_nil();
    uint64_t lfence = 0, rfence = 0;
    int64_t waiting = 0, end;
    pthread_t t;
    int rv;

    alarm(60); /* the parent kills it long before; this bounds a parent that failed */
    if (argc != 8)
        return 99;
    if ((rv = open_client(argv[1], LEASE_MS, LONG_MS, &c)) != SM_OK)
        return smt_child_fail("session child", "sm_client_open", rv);
    if ((rv = sm_lock_open(c, argv[2], &l)) != SM_OK)
        return smt_child_fail("session child", "sm_lock_open", rv);
    if ((rv = sm_lock_acquire_fenced(l, SM_NOWAIT, &lfence)) != SM_OK)
        return smt_child_fail("session child", "sm_lock_acquire_fenced", rv);
    if ((rv = sm_rlock_open(c, argv[3], &r)) != SM_OK)
        return smt_child_fail("session child", "sm_rlock_open", rv);
    if ((rv = sm_rlock_acquire_fenced(r, SM_NOWAIT, &rfence)) != SM_OK)
        return smt_child_fail("session child", "sm_rlock_acquire_fenced", rv);
    if ((rv = sm_rlock_acquire(r, SM_NOWAIT)) != SM_OK)
        return smt_child_fail("session child", "sm_rlock_acquire (nested)", rv);
    if ((rv = sm_sem_open(c, argv[4], 2, false, &s)) != SM_OK)
        return smt_child_fail("session child", "sm_sem_open", rv);
    for (int i = 0; i < 2; i++)
        if ((rv = sm_sem_acquire(s, SM_NOWAIT)) != SM_OK)
            return smt_child_fail("session child", "sm_sem_acquire", rv);
    if ((rv = sm_queue_open(c, argv[5], 0, true, &q)) != SM_OK)
        return smt_child_fail("session child", "sm_queue_open", rv);
    if ((rv = sm_queue_get(q, SM_NOWAIT, &item)) != SM_OK || !is_str(&item, "A"))
        return smt_child_fail("session child", "sm_queue_get (or not \"A\")", rv);
    sm_value_clear(&item);
    if ((rv = sm_queue_task_done(q)) != SM_OK)
        return smt_child_fail("session child", "sm_queue_task_done", rv);
    if ((rv = sm_queue_get(q, SM_NOWAIT, &item)) != SM_OK || !is_str(&item, "B"))
        return smt_child_fail("session child", "sm_queue_get (or not \"B\")", rv);
    sm_value_clear(&item);
    if ((rv = sm_barrier_open(c, argv[6], 2, &b)) != SM_OK)
        return smt_child_fail("session child", "sm_barrier_open", rv);
    if (pthread_create(&t, NULL, holder_barrier_main, b) != 0)
        return smt_child_fail("session child", "pthread_create", SM_OK);
    end = smt_now_ms() + LONG_MS;
    do {
        if ((rv = sm_barrier_info(b, NULL, &waiting, NULL)) != SM_OK)
            return smt_child_fail("session child", "sm_barrier_info", rv);
    } while (waiting < 1 && smt_now_ms() < end);
    if (waiting != 1) {
        fprintf(stderr, "session child: %" PRId64 " barrier waiters, wanted 1\n", waiting);
        return 2;
    }
    if ((rv = sm_var_new(c, SMV(sm_value_int(7)), &v)) != SM_OK)
        return smt_child_fail("session child", "sm_var_new", rv);
    if (dprintf(atoi(argv[7]), "ready %" PRIu64 " %" PRIu64 " %s\n", lfence, rfence,
                sm_var_token(v)) < 0)
        return smt_child_fail("session child", "dprintf", SM_OK);
    for (;;)
        pause();
}

/* stopped_child: argv is NAME URL LOCK READY_FD GO_FD. With a LEASE_MS client
 * it takes the lock and writes "ready FENCE\n"; the parent then stops it
 * (SIGSTOP) until its lease lapses, resumes it and writes to GO_FD. It then
 * releases the lock, asks whether it is locked and opens the lock again, and
 * writes "after STATUS STATUS STATUS\n" (the three statuses, as numbers). */
static int
stopped_child(int argc, char **argv)
{
    sm_client *c = NULL;
    sm_lock *l = NULL, *l2 = NULL;
    uint64_t fence = 0;
    bool locked = false;
    int rv, rv_release, rv_locked, rv_open;

    alarm(60);
    if (argc != 5)
        return 99;
    if ((rv = open_client(argv[1], LEASE_MS, LONG_MS, &c)) != SM_OK)
        return smt_child_fail("session child", "sm_client_open", rv);
    if ((rv = sm_lock_open(c, argv[2], &l)) != SM_OK)
        return smt_child_fail("session child", "sm_lock_open", rv);
    if ((rv = sm_lock_acquire_fenced(l, SM_NOWAIT, &fence)) != SM_OK)
        return smt_child_fail("session child", "sm_lock_acquire_fenced", rv);
    if (dprintf(atoi(argv[3]), "ready %" PRIu64 "\n", fence) < 0)
        return smt_child_fail("session child", "dprintf", SM_OK);
    if (!child_wait_go(atoi(argv[4])))
        return 3; /* the parent gave up */
    rv_release = sm_lock_release(l);
    rv_locked = sm_lock_locked(l, &locked);
    rv_open = sm_lock_open(c, argv[2], &l2);
    if (dprintf(atoi(argv[3]), "after %d %d %d\n", rv_release, rv_locked, rv_open) < 0)
        return smt_child_fail("session child", "dprintf", SM_OK);
    sm_lock_close(l2);
    sm_lock_close(l);
    sm_client_close(c);
    return 0;
}

/* fence_child: argv is NAME URL LOCK ALL_LIST OWN_LIST N GO_FD. After EOF on
 * GO_FD it makes N grants of the lock: acquire_fenced; append the token to
 * ALL_LIST (while holding the lock, so that list is in grant order);
 * release. It checks its own tokens increase, and at the end stores them,
 * in order, in OWN_LIST. */
static int
fence_child(int argc, char **argv)
{
    sm_client *c = NULL;
    sm_lock *l = NULL;
    sm_list *all = NULL, *own = NULL;
    sm_value *tokens = NULL;
    uint64_t prev = 0;
    int rv, n, status = 1;

    alarm(240);
    if (argc != 7)
        return 99;
    n = atoi(argv[5]);
    if (n <= 0 || (tokens = calloc((size_t)n, sizeof(*tokens))) == NULL)
        return 98;
    if ((rv = open_client(argv[1], LEASE_MS, LONG_MS, &c)) != SM_OK) {
        status = smt_child_fail("session child", "sm_client_open", rv);
        goto out;
    }
    if ((rv = sm_lock_open(c, argv[2], &l)) != SM_OK ||
        (rv = sm_list_open(c, argv[3], &all)) != SM_OK ||
        (rv = sm_list_open(c, argv[4], &own)) != SM_OK) {
        status = smt_child_fail("session child", "open the lock and lists", rv);
        goto out;
    }
    (void)child_wait_go(atoi(argv[6]));
    for (int i = 0; i < n; i++) {
        uint64_t fence = 0;
        if ((rv = sm_lock_acquire_fenced(l, LONG_MS, &fence)) != SM_OK) {
            status = smt_child_fail("session child", "sm_lock_acquire_fenced", rv);
            goto out;
        }
        if (fence > (uint64_t)INT64_MAX || (i > 0 && fence <= prev)) {
            fprintf(stderr, "session child: grant %d has token %" PRIu64 " after %" PRIu64 "\n",
                    i, fence, prev);
            goto out;
        }
        prev = fence;
        tokens[i] = sm_value_int((int64_t)fence);
        if ((rv = sm_list_append(all, &tokens[i])) != SM_OK) {
            status = smt_child_fail("session child", "sm_list_append", rv);
            goto out;
        }
        if ((rv = sm_lock_release(l)) != SM_OK) {
            status = smt_child_fail("session child", "sm_lock_release", rv);
            goto out;
        }
    }
    if ((rv = sm_list_extend(own, tokens, (size_t)n)) != SM_OK) {
        status = smt_child_fail("session child", "sm_list_extend", rv);
        goto out;
    }
    status = 0;
out:
    free(tokens);
    sm_list_close(own);
    sm_list_close(all);
    sm_lock_close(l);
    sm_client_close(c);
    return status;
}

static const smt_child children[] = {
    {"holder", holder_child},
    {"stopped", stopped_child},
    {"fence", fence_child},
};

/* ------------------------------------------------------ a session's end */

static void
test_session_killed_holder_gives_back_what_it_held(void **state)
{
    (void)state;
    sm_client *c = smt_client();
    char url[512], lname[256], rname[256], sname[256], qname[256], bname[256];
    char fd_arg[32], line[768], token[512];
    sm_lock *l = NULL;
    sm_rlock *r = NULL;
    sm_sem *s = NULL;
    sm_queue *q = NULL;
    sm_barrier *b = NULL;
    sm_var *v = NULL;
    sm_value seven = sm_value_nil();
    uint64_t lfence = 0, rfence = 0, fence = 0;
    int p[2];

    snprintf(url, sizeof(url), "%s", smt_url());
    copy_name(lname, sizeof(lname), "sess.lock");
    copy_name(rname, sizeof(rname), "sess.rlock");
    copy_name(sname, sizeof(sname), "sess.sem");
    copy_name(qname, sizeof(qname), "sess.queue");
    copy_name(bname, sizeof(bname), "sess.barrier");
    assert_sm_ok(sm_lock_open(c, lname, &l));
    assert_sm_ok(sm_rlock_open(c, rname, &r));
    assert_sm_ok(sm_sem_open(c, sname, 2, false, &s));
    assert_sm_ok(sm_queue_open(c, qname, 0, true, &q));
    assert_sm_ok(sm_queue_put(q, SMV(sm_value_str("A")), SM_NOWAIT));
    assert_sm_ok(sm_queue_put(q, SMV(sm_value_str("B")), SM_NOWAIT));
    assert_sm_ok(sm_queue_put(q, SMV(sm_value_str("C")), SM_NOWAIT));
    assert_sm_ok(sm_barrier_open(c, bname, 2, &b));

    child_pipe(p, 1, fd_arg, sizeof(fd_arg));
    pid_t pid = smt_spawn("holder", url, lname, rname, sname, qname, bname, fd_arg, NULL);
    close(p[1]);
    child_line(pid, p[0], line, sizeof(line));
    close(p[0]);
    if (sscanf(line, "ready %" SCNu64 " %" SCNu64 " %511s", &lfence, &rfence, token) != 3) {
        kill9(pid);
        print_error("child said \"%s\"\n", line);
        fail();
    }

    /* What the child holds, seen from here. */
    assert_true(lock_locked(l));
    assert_true(rlock_locked(r));
    assert_int_equal(sem_value(s), 0);
    assert_queue_info(q, 1, 2); /* "C" waits; "B" is taken and not done */
    assert_int_equal(barrier_waiting(b), 1);
    assert_sm_ok(sm_var_attach(c, token, &v)); /* the token is good: the child holds it */
    assert_sm_ok(sm_var_get(v, &seven));
    assert_int_equal(seven.type, SM_INT);
    assert_int_equal(seven.u.i, 7);
    assert_sm_ok(sm_var_close(v)); /* the child's reference keeps it */
    v = NULL;

    int64_t t0 = smt_now_ms();
    kill9(pid);
    assert_sm_status(sm_lock_acquire_fenced(l, ACQ_MS, &fence), SM_EOWNERDEAD);
    int64_t elapsed = smt_now_ms() - t0;
    print_message("[%s] lock granted with SM_EOWNERDEAD %" PRId64 " ms after kill -9 "
                  "(lease %d ms)\n",
                  smt_transport(), elapsed, LEASE_MS);
    assert_true(elapsed < LEASE_MS + MARGIN_MS);
    assert_true(fence > lfence);

    assert_sm_status(sm_rlock_acquire_fenced(r, ACQ_MS, &fence), SM_EOWNERDEAD);
    assert_true(fence > rfence);
    assert_sm_ok(sm_rlock_release(r)); /* one level: the dead holder's two are gone */
    assert_false(rlock_locked(r));

    assert_int_equal(sem_value(s), 2);

    /* "B" is back in front of "C", unfinished as before it was taken; "A",
     * marked done, stays done. */
    assert_queue_info(q, 2, 2);
    assert_queue_get_str(q, "B");
    assert_queue_get_str(q, "C");
    assert_sm_ok(sm_queue_task_done(q));
    assert_sm_ok(sm_queue_task_done(q));
    assert_queue_info(q, 0, 0);

    assert_int_equal(barrier_waiting(b), 0); /* the parked wait was dropped */
    assert_sm_status(sm_var_attach(c, token, &v), SM_ENOOBJ); /* its reference released */
    assert_null(v);

    /* The news is told once. */
    assert_sm_ok(sm_lock_release(l));
    assert_sm_ok(sm_lock_acquire(l, SM_NOWAIT));
    assert_sm_ok(sm_lock_release(l));
    assert_sm_ok(sm_rlock_acquire(r, SM_NOWAIT));
    assert_sm_ok(sm_rlock_release(r));

    assert_sm_ok(sm_barrier_close(b));
    assert_sm_ok(sm_queue_close(q));
    assert_sm_ok(sm_sem_close(s));
    assert_sm_ok(sm_rlock_close(r));
    assert_sm_ok(sm_lock_close(l));
}

static void
test_session_lapsed_lease_frees_the_lock_and_later_calls_are_esession(void **state)
{
    (void)state;
    sm_client *c = smt_client();
    char url[512], lname[256], ready_arg[32], go_arg[32], line[256];
    sm_lock *l = NULL;
    uint64_t child_fence = 0, fence = 0;
    int rp[2], gp[2], st = 0;
    int rv_release = -1, rv_locked = -1, rv_open = -1;

    snprintf(url, sizeof(url), "%s", smt_url());
    copy_name(lname, sizeof(lname), "sess.lapse");
    assert_sm_ok(sm_lock_open(c, lname, &l));
    child_pipe(rp, 1, ready_arg, sizeof(ready_arg));
    child_pipe(gp, 0, go_arg, sizeof(go_arg));
    pid_t pid = smt_spawn("stopped", url, lname, ready_arg, go_arg, NULL);
    close(rp[1]);
    close(gp[0]);
    child_line(pid, rp[0], line, sizeof(line));
    if (sscanf(line, "ready %" SCNu64, &child_fence) != 1) {
        kill9(pid);
        print_error("child said \"%s\"\n", line);
        fail();
    }

    /* Stopped, its heartbeat stops too: its lease lapses. */
    assert_int_equal(kill(pid, SIGSTOP), 0);
    assert_int_equal(waitpid(pid, &st, WUNTRACED), pid);
    assert_true(WIFSTOPPED(st));
    int64_t t0 = smt_now_ms();
    assert_sm_status(sm_lock_acquire_fenced(l, ACQ_MS, &fence), SM_EOWNERDEAD);
    int64_t elapsed = smt_now_ms() - t0;
    print_message("[%s] lock granted with SM_EOWNERDEAD %" PRId64 " ms after SIGSTOP "
                  "(lease %d ms)\n",
                  smt_transport(), elapsed, LEASE_MS);
    assert_true(elapsed < LEASE_MS + MARGIN_MS);
    assert_true(fence > child_fence);

    /* Resumed, the child's client has lost its session for good. */
    assert_int_equal(kill(pid, SIGCONT), 0);
    assert_int_equal(write(gp[1], "g", 1), 1);
    close(gp[1]);
    child_line(pid, rp[0], line, sizeof(line));
    close(rp[0]);
    smt_wait_child(pid);
    assert_int_equal(sscanf(line, "after %d %d %d", &rv_release, &rv_locked, &rv_open), 3);
    assert_sm_status(rv_release, SM_ESESSION);
    assert_sm_status(rv_locked, SM_ESESSION);
    assert_sm_status(rv_open, SM_ESESSION);

    /* Its release changed nothing: the lock is still ours. */
    assert_true(lock_locked(l));
    assert_sm_ok(sm_lock_release(l));
    assert_false(lock_locked(l));
    assert_sm_ok(sm_lock_close(l));
}

static void
test_session_heartbeat_keeps_an_idle_holder_past_its_lease(void **state)
{
    (void)state;
    char lname[256];
    sm_client *h = NULL;
    sm_lock *hl = NULL, *l = NULL;

    copy_name(lname, sizeof(lname), "sess.heartbeat");
    assert_sm_ok(open_client(smt_url(), LEASE_MS, LONG_MS, &h));
    assert_sm_ok(sm_lock_open(h, lname, &hl));
    assert_sm_ok(sm_lock_open(smt_client(), lname, &l));
    assert_sm_ok(sm_lock_acquire(hl, SM_NOWAIT));

    /* Three leases pass with the holder idle; its session lives on. */
    assert_sm_status(sm_lock_acquire(l, 3 * LEASE_MS), SM_ETIMEDOUT);
    assert_true(lock_locked(l));
    assert_sm_ok(sm_lock_release(hl));
    assert_sm_ok(sm_lock_acquire(l, SM_NOWAIT)); /* released, not lost: no news */
    assert_sm_ok(sm_lock_release(l));

    assert_sm_ok(sm_lock_close(hl));
    sm_client_close(h);
    assert_sm_ok(sm_lock_close(l));
}

static void
test_session_client_close_gives_back_at_once(void **state)
{
    (void)state;
    sm_client *c = smt_client();
    char lname[256], l2name[256], sname[256], qname[256];
    sm_client *h = NULL;
    sm_lock *hl = NULL, *hl2 = NULL, *l = NULL, *l2 = NULL;
    sm_sem *hs = NULL, *s = NULL;
    sm_queue *hq = NULL, *q = NULL;
    sm_value item = sm_value_nil();

    copy_name(lname, sizeof(lname), "sess.close.lock");
    copy_name(l2name, sizeof(l2name), "sess.close.lock2");
    copy_name(sname, sizeof(sname), "sess.close.sem");
    copy_name(qname, sizeof(qname), "sess.close.queue");
    assert_sm_ok(sm_lock_open(c, lname, &l));
    assert_sm_ok(sm_lock_open(c, l2name, &l2));
    assert_sm_ok(sm_sem_open(c, sname, 1, false, &s));
    assert_sm_ok(sm_queue_open(c, qname, 0, true, &q));
    assert_sm_ok(sm_queue_put(q, SMV(sm_value_str("X")), SM_NOWAIT));

    /* A lease of a minute: only the close can give these back in time. */
    assert_sm_ok(open_client(smt_url(), LONG_LEASE_MS, LONG_MS, &h));
    assert_sm_ok(sm_lock_open(h, lname, &hl));
    assert_sm_ok(sm_lock_open(h, l2name, &hl2));
    assert_sm_ok(sm_sem_open(h, sname, 1, false, &hs));
    assert_sm_ok(sm_queue_open(h, qname, 0, true, &hq));
    assert_sm_ok(sm_lock_acquire(hl, SM_NOWAIT));
    assert_sm_ok(sm_lock_acquire(hl2, SM_NOWAIT));
    assert_sm_ok(sm_lock_release(hl2)); /* released before the close */
    assert_sm_ok(sm_sem_acquire(hs, SM_NOWAIT));
    assert_sm_ok(sm_queue_get(hq, SM_NOWAIT, &item));
    assert_true(is_str(&item, "X"));
    sm_value_clear(&item);

    assert_true(lock_locked(l));
    assert_int_equal(sem_value(s), 0);
    assert_queue_info(q, 0, 1);

    assert_sm_ok(sm_queue_close(hq));
    assert_sm_ok(sm_sem_close(hs));
    assert_sm_ok(sm_lock_close(hl2));
    assert_sm_ok(sm_lock_close(hl)); /* closing a proxy is not releasing the lock */
    assert_true(lock_locked(l));
    sm_client_close(h);

    /* The header: a session that ends (sm_client_close is named) frees its
     * locks and their next holder gets SM_EOWNERDEAD. */
    int64_t t0 = smt_now_ms();
    int rv = sm_lock_acquire(l, CLOSE_ACQ_MS);
    int64_t elapsed = smt_now_ms() - t0;
    print_message("[%s] after sm_client_close the lock was acquired in %" PRId64 " ms: %s\n",
                  smt_transport(), elapsed, sm_errname(rv));
    assert_sm_status(rv, SM_EOWNERDEAD);
    assert_int_equal(sem_value(s), 1);
    assert_queue_info(q, 1, 1);
    assert_queue_get_str(q, "X");
    assert_sm_ok(sm_queue_task_done(q));
    assert_queue_info(q, 0, 0);
    assert_sm_ok(sm_lock_acquire(l2, SM_NOWAIT)); /* released before: no news */
    assert_sm_ok(sm_lock_release(l2));
    assert_sm_ok(sm_lock_release(l));

    assert_sm_ok(sm_queue_close(q));
    assert_sm_ok(sm_sem_close(s));
    assert_sm_ok(sm_lock_close(l2));
    assert_sm_ok(sm_lock_close(l));
}

/* Two items one session took and did not mark done go back to the front of
 * the queue, and in the order they had: the queue is as before they were
 * taken. */
static void
test_queue_items_an_ended_session_took_return_to_the_front_in_order(void **state)
{
    (void)state;
    char qname[256];
    sm_client *h = NULL;
    sm_queue *q = NULL, *hq = NULL;
    sm_value item = sm_value_nil();

    copy_name(qname, sizeof(qname), "sess.order");
    assert_sm_ok(sm_queue_open(smt_client(), qname, 0, true, &q));
    assert_sm_ok(sm_queue_put(q, SMV(sm_value_str("B")), SM_NOWAIT));
    assert_sm_ok(sm_queue_put(q, SMV(sm_value_str("C")), SM_NOWAIT));
    assert_sm_ok(sm_queue_put(q, SMV(sm_value_str("D")), SM_NOWAIT));
    assert_sm_ok(open_client(smt_url(), LONG_LEASE_MS, LONG_MS, &h));
    assert_sm_ok(sm_queue_open(h, qname, 0, true, &hq));
    assert_sm_ok(sm_queue_get(hq, SM_NOWAIT, &item));
    assert_true(is_str(&item, "B"));
    sm_value_clear(&item);
    assert_sm_ok(sm_queue_get(hq, SM_NOWAIT, &item));
    assert_true(is_str(&item, "C"));
    sm_value_clear(&item);
    assert_queue_info(q, 1, 3);
    assert_sm_ok(sm_queue_close(hq));
    sm_client_close(h);

    assert_queue_info(q, 3, 3);
    assert_queue_get_str(q, "B");
    assert_queue_get_str(q, "C");
    assert_queue_get_str(q, "D");
    for (int i = 0; i < 3; i++)
        assert_sm_ok(sm_queue_task_done(q));
    assert_queue_info(q, 0, 0);
    assert_sm_ok(sm_queue_close(q));
}

/* A bounded semaphore never counts above its initial value: not through a
 * release (SM_EOVERFLOW), and not when a session that took a permit ends
 * after someone else has already released one. */
static void
test_sem_bounded_count_stays_within_its_bound_when_a_session_ends(void **state)
{
    (void)state;
    char sname[256];
    sm_client *h = NULL;
    sm_sem *s = NULL, *hs = NULL;

    copy_name(sname, sizeof(sname), "sess.bounded");
    assert_sm_ok(sm_sem_open(smt_client(), sname, 1, true, &s));
    assert_sm_ok(open_client(smt_url(), LONG_LEASE_MS, LONG_MS, &h));
    assert_sm_ok(sm_sem_open(h, sname, 1, true, &hs));
    assert_sm_ok(sm_sem_acquire(hs, SM_NOWAIT));
    assert_int_equal(sem_value(s), 0);
    assert_sm_ok(sm_sem_release(s, 1)); /* anyone may release a semaphore */
    assert_int_equal(sem_value(s), 1);
    assert_sm_status(sm_sem_release(s, 1), SM_EOVERFLOW);
    assert_sm_ok(sm_sem_close(hs));
    sm_client_close(h);

    int64_t v = sem_value(s);
    print_message("[%s] BoundedSemaphore(1) counts %" PRId64 " after its taker's session ended\n",
                  smt_transport(), v);
    assert_int_equal(v, 1);
    assert_sm_status(sm_sem_release(s, 1), SM_EOVERFLOW);
    assert_sm_ok(sm_sem_close(s));
}

/* ---------------------------------------------------------------- fencing */

static void
test_lock_fencing_tokens_strictly_increase_in_one_thread(void **state)
{
    (void)state;
    sm_lock *l = NULL, *hl = NULL;
    sm_client *h = NULL;
    int64_t tokens[FENCE_SEQ];
    uint64_t fence, held = 0;

    assert_sm_ok(sm_lock_new(smt_client(), &l));
    for (size_t i = 0; i < COUNT(tokens); i++) {
        fence = 0;
        assert_sm_ok(sm_lock_acquire_fenced(l, SM_NOWAIT, &fence));
        assert_true(fence <= (uint64_t)INT64_MAX);
        tokens[i] = (int64_t)fence;
        assert_sm_ok(sm_lock_release(l));
    }
    assert_strictly_increasing(tokens, COUNT(tokens), "one thread");

    /* A refused acquire leaves *fence alone and grants nothing. */
    assert_sm_ok(open_client(smt_url(), LEASE_MS, LONG_MS, &h));
    assert_sm_ok(sm_lock_attach(h, sm_lock_token(l), &hl));
    assert_sm_ok(sm_lock_acquire_fenced(hl, SM_NOWAIT, &held));
    assert_true(held > (uint64_t)tokens[FENCE_SEQ - 1]);
    fence = 12345;
    assert_sm_status(sm_lock_acquire_fenced(l, SM_NOWAIT, &fence), SM_ETIMEDOUT);
    assert_int_equal(fence, 12345);
    assert_sm_ok(sm_lock_release(hl));
    assert_sm_ok(sm_lock_acquire_fenced(l, SM_NOWAIT, &fence));
    assert_true(fence > held);
    assert_sm_ok(sm_lock_release(l));

    assert_sm_ok(sm_lock_close(hl));
    sm_client_close(h);
    assert_sm_ok(sm_lock_close(l));
}

static void
test_rlock_fencing_nested_acquire_keeps_its_token_next_grant_is_larger(void **state)
{
    (void)state;
    sm_rlock *r = NULL;
    uint64_t first = 0, nested = 0, next = 0;

    assert_sm_ok(sm_rlock_new(smt_client(), &r));
    assert_sm_ok(sm_rlock_acquire_fenced(r, SM_NOWAIT, &first));
    assert_sm_ok(sm_rlock_acquire_fenced(r, SM_NOWAIT, &nested));
    assert_int_equal(nested, first);
    assert_sm_ok(sm_rlock_acquire(r, SM_NOWAIT));
    assert_sm_ok(sm_rlock_acquire_fenced(r, SM_NOWAIT, &nested));
    assert_int_equal(nested, first);
    for (int i = 0; i < 4; i++)
        assert_sm_ok(sm_rlock_release(r));
    assert_false(rlock_locked(r));
    assert_sm_ok(sm_rlock_acquire_fenced(r, SM_NOWAIT, &next));
    assert_true(next > first);
    assert_sm_ok(sm_rlock_release(r));
    assert_sm_ok(sm_rlock_close(r));
}

static void
test_lock_fencing_tokens_strictly_increase_across_processes(void **state)
{
    (void)state;
    sm_client *c = smt_client();
    enum { TOTAL = FENCE_PROCS * FENCE_GRANTS };
    char url[512], lname[256], allname[256], ownname[FENCE_PROCS][256];
    char n_arg[32], go_arg[32];
    sm_lock *l = NULL;
    sm_list *all = NULL, *own[FENCE_PROCS] = {NULL};
    pid_t pids[FENCE_PROCS];
    uint64_t before = 0, after = 0;
    int64_t *all_t = calloc(TOTAL, sizeof(int64_t));
    int64_t *merged = calloc(TOTAL, sizeof(int64_t));
    int go[2];

    assert_non_null(all_t);
    assert_non_null(merged);
    snprintf(url, sizeof(url), "%s", smt_url());
    snprintf(n_arg, sizeof(n_arg), "%d", FENCE_GRANTS);
    copy_name(lname, sizeof(lname), "sess.fence");
    copy_name(allname, sizeof(allname), "sess.fence.all");
    assert_sm_ok(sm_lock_open(c, lname, &l));
    assert_sm_ok(sm_list_open(c, allname, &all));
    for (int k = 0; k < FENCE_PROCS; k++) {
        copy_name(ownname[k], sizeof(ownname[k]), "sess.fence.own");
        assert_sm_ok(sm_list_open(c, ownname[k], &own[k]));
    }
    assert_sm_ok(sm_lock_acquire_fenced(l, SM_NOWAIT, &before));
    assert_sm_ok(sm_lock_release(l));

    /* Closing the go pipe's write end starts every child at once. */
    child_pipe(go, 0, go_arg, sizeof(go_arg));
    for (int k = 0; k < FENCE_PROCS; k++)
        pids[k] = smt_spawn("fence", url, lname, allname, ownname[k], n_arg, go_arg, NULL);
    close(go[0]);
    close(go[1]);
    for (int k = 0; k < FENCE_PROCS; k++)
        smt_wait_child(pids[k]);

    /* In grant order, every token is larger than the one before. */
    list_ints(all, all_t, TOTAL);
    assert_true(all_t[0] > (int64_t)before);
    assert_strictly_increasing(all_t, TOTAL, "all grants in order");
    for (int k = 0; k < FENCE_PROCS; k++) {
        int64_t *mine = merged + (size_t)k * FENCE_GRANTS;
        list_ints(own[k], mine, FENCE_GRANTS);
        assert_strictly_increasing(mine, FENCE_GRANTS, "one child's grants");
    }
    /* The children's tokens, together, are exactly the grants: none shared. */
    qsort(merged, TOTAL, sizeof(int64_t), cmp_i64);
    for (size_t i = 0; i < TOTAL; i++) {
        if (merged[i] != all_t[i]) {
            print_error("sorted token %zu of the children is %" PRId64 ", grant %zu is %" PRId64
                        "\n",
                        i, merged[i], i, all_t[i]);
            fail();
        }
    }
    assert_sm_ok(sm_lock_acquire_fenced(l, SM_NOWAIT, &after));
    assert_true((int64_t)after > all_t[TOTAL - 1]);
    assert_sm_ok(sm_lock_release(l));

    free(merged);
    free(all_t);
    for (int k = 0; k < FENCE_PROCS; k++)
        assert_sm_ok(sm_list_close(own[k]));
    assert_sm_ok(sm_list_close(all));
    assert_sm_ok(sm_lock_close(l));
}

/* -------------------------------------------------------- server restart */

static void
test_session_server_restart_makes_later_calls_esession(void **state)
{
    (void)state;
    smt_server old, fresh;
    char url[512], vname[256];
    const char *extra[3];
    sm_client *c = NULL, *probe = NULL;
    sm_var *v = NULL, *pv = NULL;
    sm_lock *l = NULL;
    sm_value got = sm_value_nil();
    int st = 0;

    assert_int_equal(smt_server_spawn(&old, smt_transport(), NULL), 0);
    snprintf(url, sizeof(url), "%s", old.url);
    copy_name(vname, sizeof(vname), "sess.restart");
    assert_sm_ok(open_client(url, LEASE_MS, RESTART_CALL_MS, &c));
    assert_sm_ok(sm_var_open(c, vname, SMV(sm_value_int(1)), &v));
    assert_sm_ok(sm_var_get(v, &got));

    /* Kill it by hand (smt_server_kill would remove its ipc directory), and
     * start another on the same address as well as its own. */
    assert_int_equal(kill(old.pid, SIGKILL), 0);
    assert_int_equal(waitpid(old.pid, &st, 0), old.pid);
    old.pid = 0;
    extra[0] = "--listen";
    extra[1] = url;
    extra[2] = NULL;
    if (smt_server_spawn(&fresh, smt_transport(), extra) != 0) {
        int rv = sm_var_get(v, &got);
        print_message("[%s] no server could listen on %s again; the old client got %s\n",
                      smt_transport(), url, sm_errname(rv));
        sm_var_close(v);
        sm_client_close(c);
        smt_server_stop(&old);
        assert_sm_status(rv, SM_EUNREACHABLE);
        skip();
    }
    assert_sm_ok(sm_client_open(&probe, url, NULL)); /* the new one serves the old address */

    int64_t t0 = smt_now_ms();
    int rv = sm_var_get(v, &got);
    int64_t elapsed = smt_now_ms() - t0;
    print_message("[%s] first call after the restart: %s in %" PRId64 " ms\n", smt_transport(),
                  sm_errname(rv), elapsed);
    assert_sm_status(rv, SM_ESESSION);
    assert_true(elapsed < RESTART_CALL_MS + MARGIN_MS);
    /* Every later call, too. */
    assert_sm_status(sm_var_set(v, SMV(sm_value_int(2))), SM_ESESSION);
    assert_sm_status(sm_lock_new(c, &l), SM_ESESSION);
    assert_null(l);
    sm_var_close(v);
    t0 = smt_now_ms();
    sm_client_close(c);
    elapsed = smt_now_ms() - t0;
    assert_true(elapsed < RESTART_CALL_MS + MARGIN_MS); /* closing a lost client never hangs */

    /* A new client on the new server starts afresh. */
    assert_sm_ok(sm_var_open(probe, vname, SMV(sm_value_int(5)), &pv));
    assert_sm_ok(sm_var_get(pv, &got));
    assert_int_equal(got.type, SM_INT);
    assert_int_equal(got.u.i, 5);
    assert_sm_ok(sm_var_close(pv));
    sm_client_close(probe);
    st = smt_server_stop(&fresh);
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    smt_server_stop(&old); /* only removes its directory */
}

/* ------------------------------------------------------- ids and options */

static void
test_session_ids_are_nonzero_and_differ_between_clients(void **state)
{
    (void)state;
    sm_client *a = NULL, *b = NULL;
    uint64_t ida = 0, idb = 0, again = 0, group = 0;

    assert_sm_ok(sm_client_open(&a, smt_url(), NULL));
    assert_sm_ok(sm_client_open(&b, smt_url(), NULL));
    assert_sm_ok(sm_client_session(a, &ida));
    assert_sm_ok(sm_client_session(b, &idb));
    assert_sm_ok(sm_client_session(a, &again));
    assert_sm_ok(sm_client_session(smt_client(), &group));
    assert_true(ida != 0);
    assert_true(idb != 0);
    assert_true(ida != idb);
    assert_true(again == ida);
    assert_true(group != ida && group != idb);
    sm_client_close(b);
    sm_client_close(a);
}

static void
test_session_lease_outside_its_bounds_is_einval(void **state)
{
    (void)state;
    static const int64_t bad[] = {-1, 0, 99, 600001, INT64_MAX};
    static const int64_t good[] = {100, 600000};
    sm_client *c = NULL;
    sm_lock *l = NULL;

    for (size_t i = 0; i < COUNT(bad); i++) {
        c = NULL;
        assert_sm_status(open_client(smt_url(), bad[i], LONG_MS, &c), SM_EINVAL);
        assert_null(c);
    }
    for (size_t i = 0; i < COUNT(good); i++) {
        c = NULL;
        assert_sm_ok(open_client(smt_url(), good[i], LONG_MS, &c));
        assert_sm_ok(sm_lock_new(c, &l)); /* the session works */
        assert_sm_ok(sm_lock_acquire(l, SM_NOWAIT));
        assert_sm_ok(sm_lock_release(l));
        assert_sm_ok(sm_lock_close(l));
        sm_client_close(c);
    }
}

static void
test_session_opts_of_an_older_size_take_the_default_lease(void **state)
{
    (void)state;
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    sm_client *c = NULL;
    uint64_t id = 0;

    o.size = offsetof(sm_client_opts, lease_ms); /* a caller built before lease_ms */
    o.lease_ms = 1;                              /* beyond its size: never read */
    assert_sm_ok(sm_client_open(&c, smt_url(), &o));
    assert_sm_ok(sm_client_session(c, &id));
    assert_true(id != 0);
    sm_client_close(c);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_session_ids_are_nonzero_and_differ_between_clients),
    cmocka_unit_test(test_session_lease_outside_its_bounds_is_einval),
    cmocka_unit_test(test_session_opts_of_an_older_size_take_the_default_lease),
    cmocka_unit_test(test_lock_fencing_tokens_strictly_increase_in_one_thread),
    cmocka_unit_test(test_rlock_fencing_nested_acquire_keeps_its_token_next_grant_is_larger),
    cmocka_unit_test(test_lock_fencing_tokens_strictly_increase_across_processes),
    cmocka_unit_test(test_session_killed_holder_gives_back_what_it_held),
    cmocka_unit_test(test_session_lapsed_lease_frees_the_lock_and_later_calls_are_esession),
    cmocka_unit_test(test_session_heartbeat_keeps_an_idle_holder_past_its_lease),
    cmocka_unit_test(test_session_client_close_gives_back_at_once),
    cmocka_unit_test(test_queue_items_an_ended_session_took_return_to_the_front_in_order),
    cmocka_unit_test(test_sem_bounded_count_stays_within_its_bound_when_a_session_ends),
    cmocka_unit_test(test_session_server_restart_makes_later_calls_esession),
};

int
main(int argc, char **argv)
{
    return SMT_MAIN_CHILDREN("session", tests, children);
}
