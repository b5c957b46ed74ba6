/* test_move.c - sm_list_move and sm_queue_move: pop-and-push between lists
 * and queues in one round trip, and a queue move that waits for an item.
 *
 * After every move both containers are read back whole and compared exactly;
 * every failure is checked to have moved nothing.
 *
 * A queue has no count of parked waiters, so the tests whose point is a
 * move (or get) parked in the server run against a server of their own
 * started with --max-waits 1: a client whose one request is parked gets
 * SM_ELIMIT at once for any other call that would wait. wait_parked()
 * polls that (a 1 ms get on an empty queue of the same client) until it
 * answers SM_ELIMIT, a proof that the client's request is parked, bounded
 * by a deadline. A probe that parks first makes the real call SM_ELIMIT;
 * the threads making those calls simply call again.
 *
 * Threads and child processes never call cmocka's assertions; they record
 * what they saw and the main thread asserts it. Every wait is bounded. */
#include "smt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define SMV(expr) ((const sm_value[]){expr})
#define MV_BOUND_MS 30000 /* the longest any wait in this file may take */

/* ---------------------------------------------------------------- helpers */

/* list_check fails unless l holds exactly the ints want[0..n-1]. */
static void
list_check(sm_list *l, const int64_t *want, size_t n, const char *file, int line)
{
    sm_value *vs = NULL;
    size_t got = 12345;
    smt_assert_status(sm_list_slice(l, 0, SM_END, &vs, &got), SM_OK, "sm_list_slice", file, line);
    bool same = got == n;
    for (size_t i = 0; same && i < n; i++)
        same = vs[i].type == SM_INT && vs[i].u.i == want[i];
    if (!same) {
        print_error("list has %zu items, wanted %zu:", got, n);
        for (size_t i = 0; i < got; i++)
            print_error(" %lld", vs[i].type == SM_INT ? (long long)vs[i].u.i : -999999LL);
        print_error("\n");
        sm_values_free(vs, got);
        _fail(file, line);
    }
    sm_values_free(vs, got);
}
#define assert_list_ints(l, ...)                                                                 \
    list_check((l), (const int64_t[]){__VA_ARGS__}, COUNT(((const int64_t[]){__VA_ARGS__})),      \
               __FILE__, __LINE__)
#define assert_list_empty(l) list_check((l), NULL, 0, __FILE__, __LINE__)

/* queue_check takes every item out of q (without waiting) and compares them
 * with want[0..n-1], then puts them back in the same order. */
static void
queue_check(sm_queue *q, const int64_t *want, size_t n, const char *file, int line)
{
    int64_t size = -1;
    smt_assert_status(sm_queue_info(q, &size, NULL, NULL), SM_OK, "sm_queue_info", file, line);
    if (size != (int64_t)n) {
        print_error("queue has %lld items, wanted %zu\n", (long long)size, n);
        _fail(file, line);
    }
    sm_value *got = calloc(n + 1, sizeof(*got));
    for (size_t i = 0; i < n; i++) {
        smt_assert_status(sm_queue_get(q, SM_NOWAIT, &got[i]), SM_OK, "sm_queue_get", file, line);
        if (got[i].type != SM_INT || got[i].u.i != want[i]) {
            print_error("queue item %zu is not %lld\n", i, (long long)want[i]);
            _fail(file, line);
        }
    }
    for (size_t i = 0; i < n; i++)
        smt_assert_status(sm_queue_put(q, &got[i], SM_NOWAIT), SM_OK, "sm_queue_put", file, line);
    sm_values_free(got, n);
}
#define assert_queue_ints(q, ...)                                                                \
    queue_check((q), (const int64_t[]){__VA_ARGS__}, COUNT(((const int64_t[]){__VA_ARGS__})),     \
                __FILE__, __LINE__)
#define assert_queue_empty(q) queue_check((q), NULL, 0, __FILE__, __LINE__)

/* assert_queue_size checks the size only (items that are not ints). */
static void
assert_queue_size(sm_queue *q, int64_t want)
{
    int64_t size = -1;
    assert_sm_ok(sm_queue_info(q, &size, NULL, NULL));
    assert_int_equal(size, want);
}

static sm_list *
new_list_on(sm_client *c, const int64_t *items, size_t n)
{
    sm_list *l;
    assert_sm_ok(sm_list_new(c, &l));
    for (size_t i = 0; i < n; i++)
        assert_sm_ok(sm_list_append(l, SMV(sm_value_int(items[i]))));
    return l;
}
#define LIST_ON(c, ...)                                                                          \
    new_list_on((c), (const int64_t[]){__VA_ARGS__}, COUNT(((const int64_t[]){__VA_ARGS__})))
#define LIST_OF(...) LIST_ON(smt_client(), __VA_ARGS__)

static sm_queue *
new_queue_on(sm_client *c, int64_t maxsize, bool joinable, const int64_t *items, size_t n)
{
    sm_queue *q;
    assert_sm_ok(sm_queue_new(c, maxsize, joinable, &q));
    for (size_t i = 0; i < n; i++)
        assert_sm_ok(sm_queue_put(q, SMV(sm_value_int(items[i])), SM_NOWAIT));
    return q;
}
#define new_queue(maxsize, joinable, items, n)                                                   \
    new_queue_on(smt_client(), (maxsize), (joinable), (items), (n))

static void
assert_int_value(sm_value *v, int64_t want)
{
    assert_int_equal(v->type, SM_INT);
    assert_int_equal(v->u.i, want);
    sm_value_clear(v);
}

/* ------------------------------------------ a server of its own: --max-waits 1 */

/* Clients a (the test's hands), b and c (the ones whose calls park), each
 * with an empty probe queue for wait_parked. --max-items 3 for the limit
 * tests. */
typedef struct own {
    smt_server srv;
    sm_client *a, *b, *c;
    sm_queue *probe_b, *probe_c;
} own;

static own own_fixture;

static int
own_setup(void **state)
{
    static const char *const extra[] = {"--max-waits", "1", "--max-items", "3", NULL};
    own *f = &own_fixture;
    memset(f, 0, sizeof(*f));
    if (smt_server_spawn(&f->srv, smt_transport(), extra) != 0)
        return -1;
    if (sm_client_open(&f->a, f->srv.url, NULL) != SM_OK ||
        sm_client_open(&f->b, f->srv.url, NULL) != SM_OK ||
        sm_client_open(&f->c, f->srv.url, NULL) != SM_OK ||
        sm_queue_new(f->b, 0, false, &f->probe_b) != SM_OK ||
        sm_queue_new(f->c, 0, false, &f->probe_c) != SM_OK) {
        fprintf(stderr, "test_move: cannot open the clients of its own server\n");
        smt_server_kill(&f->srv);
        return -1;
    }
    *state = f;
    return 0;
}

static int
own_teardown(void **state)
{
    own *f = *state;
    sm_queue_close(f->probe_b);
    sm_queue_close(f->probe_c);
    sm_client_close(f->a);
    sm_client_close(f->b);
    sm_client_close(f->c);
    int st = smt_server_stop(&f->srv);
    if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        fprintf(stderr, "test_move: syncmgrd did not exit cleanly (status %d)\n", st);
        return -1;
    }
    return 0;
}

/* wait_parked returns once the one request that client c may park is
 * parked (its probe's wait is refused); fails the test after MV_BOUND_MS. */
static void
wait_parked(sm_queue *probe)
{
    int64_t until = smt_now_ms() + MV_BOUND_MS;
    for (;;) {
        sm_value v = sm_value_nil();
        int rv = sm_queue_get(probe, 1, &v);
        if (rv == SM_ELIMIT)
            return;
        assert_sm_status(rv, SM_EEMPTY);
        assert_true(smt_now_ms() < until);
    }
}

/* A call made on a thread of its own: a queue move, or a get (dst NULL).
 * SM_ELIMIT for --max-waits means a probe of the same client was parked at
 * that moment: the call is made again. */
typedef struct waiter {
    sm_queue *q;
    const char *dst;
    bool front;
    int rv;
    sm_value got;
    pthread_t t;
} waiter;

static void *
waiter_main(void *arg)
{
    waiter *w = arg;
    int rv;
    do {
        rv = w->dst != NULL ? sm_queue_move(w->q, w->dst, w->front, MV_BOUND_MS, &w->got)
                            : sm_queue_get(w->q, MV_BOUND_MS, &w->got);
    } while (rv == SM_ELIMIT && strstr(sm_errdetail(), "--max-waits") != NULL);
    w->rv = rv;
    return NULL;
}

/* waiter_park starts w and returns once its call is parked. */
static void
waiter_park(waiter *w, sm_queue *q, const char *dst, bool front, sm_queue *probe)
{
    w->q = q;
    w->dst = dst;
    w->front = front;
    w->rv = -1;
    w->got = sm_value_int(-1);
    assert_int_equal(pthread_create(&w->t, NULL, waiter_main, w), 0);
    wait_parked(probe);
}

static void
waiter_join(waiter *w)
{
    smt_join_or_fail(w->t, MV_BOUND_MS / 1000 + 10);
}

/* ------------------------------------------------------------------ tests */

static void
test_list_to_list_from_either_end_to_either_end(void **state)
{
    (void)state;
    sm_list *a = LIST_OF(1, 2, 3, 4), *b = LIST_OF(10);
    sm_value got = sm_value_nil();

    assert_sm_ok(sm_list_move(a, false, sm_list_token(b), false, &got)); /* last -> last */
    assert_int_value(&got, 4);
    assert_list_ints(a, 1, 2, 3);
    assert_list_ints(b, 10, 4);

    assert_sm_ok(sm_list_move(a, true, sm_list_token(b), true, &got)); /* first -> first */
    assert_int_value(&got, 1);
    assert_list_ints(a, 2, 3);
    assert_list_ints(b, 1, 10, 4);

    assert_sm_ok(sm_list_move(a, false, sm_list_token(b), true, &got)); /* last -> first */
    assert_int_value(&got, 3);
    assert_list_ints(a, 2);
    assert_list_ints(b, 3, 1, 10, 4);

    assert_sm_ok(sm_list_move(a, true, sm_list_token(b), false, NULL)); /* no output wanted */
    assert_list_empty(a);
    assert_list_ints(b, 3, 1, 10, 4, 2);

    assert_sm_ok(sm_list_close(a));
    assert_sm_ok(sm_list_close(b));
}

static void
test_list_move_into_itself_rotates(void **state)
{
    (void)state;
    sm_list *a = LIST_OF(1, 2, 3);
    sm_value got = sm_value_nil();

    assert_sm_ok(sm_list_move(a, true, sm_list_token(a), false, &got));
    assert_int_value(&got, 1);
    assert_list_ints(a, 2, 3, 1);
    assert_sm_ok(sm_list_move(a, false, sm_list_token(a), true, &got));
    assert_int_value(&got, 1);
    assert_list_ints(a, 1, 2, 3);
    assert_sm_ok(sm_list_move(a, true, sm_list_token(a), true, &got)); /* first to first */
    assert_int_value(&got, 1);
    assert_list_ints(a, 1, 2, 3);
    assert_sm_ok(sm_list_close(a));
}

static void
test_moves_between_lists_and_queues_keep_fifo_order(void **state)
{
    (void)state;
    sm_list *l = LIST_OF(1, 2, 3);
    sm_queue *q = new_queue(0, false, ((const int64_t[]){7}), 1);
    sm_queue *r = new_queue(0, false, NULL, 0);
    sm_value got = sm_value_nil();

    assert_sm_ok(sm_list_move(l, true, sm_queue_token(q), false, &got)); /* list -> queue */
    assert_int_value(&got, 1);
    assert_list_ints(l, 2, 3);
    assert_queue_ints(q, 7, 1);

    assert_sm_ok(sm_queue_move(q, sm_queue_token(r), false, SM_NOWAIT, &got)); /* oldest */
    assert_int_value(&got, 7);
    assert_queue_ints(q, 1);
    assert_queue_ints(r, 7);

    assert_sm_ok(sm_queue_move(r, sm_list_token(l), true, 1000, &got)); /* -> list front */
    assert_int_value(&got, 7);
    assert_queue_empty(r);
    assert_list_ints(l, 7, 2, 3);

    assert_sm_ok(sm_queue_move(q, sm_list_token(l), false, SM_NOWAIT, &got)); /* -> list end */
    assert_int_value(&got, 1);
    assert_queue_empty(q);
    assert_list_ints(l, 7, 2, 3, 1);

    assert_sm_ok(sm_list_move(l, false, sm_queue_token(q), false, NULL));
    assert_sm_ok(sm_list_move(l, false, sm_queue_token(q), false, NULL));
    assert_queue_ints(q, 1, 3);
    assert_sm_ok(sm_queue_move(q, sm_queue_token(q), false, SM_NOWAIT, &got)); /* rotates */
    assert_int_value(&got, 1);
    assert_queue_ints(q, 3, 1);
    assert_list_ints(l, 7, 2);

    assert_sm_ok(sm_list_close(l));
    assert_sm_ok(sm_queue_close(q));
    assert_sm_ok(sm_queue_close(r));
}

static void
test_empty_sources_move_nothing(void **state)
{
    (void)state;
    sm_list *l = LIST_OF(), *d = LIST_OF(5);
    sm_queue *q = new_queue(0, false, NULL, 0);
    sm_value got = sm_value_int(-1);

    assert_sm_status(sm_list_move(l, false, sm_list_token(d), false, &got), SM_ERANGE);
    assert_sm_status(sm_list_move(l, true, sm_queue_token(q), false, &got), SM_ERANGE);
    assert_sm_status(sm_queue_move(q, sm_list_token(d), false, SM_NOWAIT, &got), SM_EEMPTY);
    /* A short wait: parked, then answered as sm_queue_get is (SM_EEMPTY). */
    assert_sm_status(sm_queue_move(q, sm_list_token(d), true, 100, &got), SM_EEMPTY);
    assert_sm_status(sm_queue_move(q, sm_queue_token(q), false, 50, &got), SM_EEMPTY);
    assert_int_value(&got, -1); /* untouched */
    assert_list_empty(l);
    assert_queue_empty(q);
    assert_list_ints(d, 5);
    assert_sm_ok(sm_list_close(l));
    assert_sm_ok(sm_list_close(d));
    assert_sm_ok(sm_queue_close(q));
}

static void
test_a_full_bounded_queue_takes_nothing_and_is_never_waited_for(void **state)
{
    (void)state;
    sm_list *l = LIST_OF(1, 2);
    sm_queue *full = new_queue(2, false, ((const int64_t[]){8, 9}), 2);
    sm_queue *src = new_queue(0, false, ((const int64_t[]){4}), 1);
    sm_queue *empty = new_queue(0, false, NULL, 0);
    sm_value got = sm_value_int(-1);

    assert_sm_status(sm_list_move(l, false, sm_queue_token(full), false, &got), SM_EFULL);
    assert_sm_status(sm_queue_move(src, sm_queue_token(full), false, MV_BOUND_MS, &got),
                     SM_EFULL);
    /* The destination is checked first: an empty source does not wait
     * either (were it parked, it would end SM_EEMPTY after MV_BOUND_MS). */
    assert_sm_status(sm_queue_move(empty, sm_queue_token(full), false, MV_BOUND_MS, &got),
                     SM_EFULL);
    assert_int_value(&got, -1);
    assert_list_ints(l, 1, 2);
    assert_queue_ints(src, 4);
    assert_queue_empty(empty);
    assert_queue_ints(full, 8, 9);
    /* A full queue may still rotate: its length does not change. */
    assert_sm_ok(sm_queue_move(full, sm_queue_token(full), false, SM_NOWAIT, NULL));
    assert_queue_ints(full, 9, 8);
    assert_sm_ok(sm_list_close(l));
    assert_sm_ok(sm_queue_close(full));
    assert_sm_ok(sm_queue_close(src));
    assert_sm_ok(sm_queue_close(empty));
}

/* forge_token copies token with its type word replaced, or its last nonce
 * digit changed (type NULL). */
static void
forge_token(char *buf, size_t size, const char *token, const char *type)
{
    if (type == NULL) {
        snprintf(buf, size, "%s", token);
        size_t n = strlen(buf);
        buf[n - 1] = buf[n - 1] == '0' ? '1' : '0';
        return;
    }
    const char *rest = strchr(token + 3, ':'); /* past "sm:TYPE" */
    snprintf(buf, size, "sm:%s%s", type, rest);
}

static void
test_bad_destinations_move_nothing(void **state)
{
    (void)state;
    sm_list *l = LIST_OF(1, 2);
    sm_queue *q = new_queue(0, false, ((const int64_t[]){3}), 1);
    sm_queue *e = new_queue(0, false, NULL, 0);
    sm_dict *d;
    sm_list *gone;
    char gone_token[128], bad_nonce[128], list_as_queue[128], dict_as_list[128];
    assert_sm_ok(sm_dict_new(smt_client(), &d));
    assert_sm_ok(sm_list_new(smt_client(), &gone));
    snprintf(gone_token, sizeof(gone_token), "%s", sm_list_token(gone));
    assert_sm_ok(sm_list_close(gone)); /* its last reference: freed */
    forge_token(bad_nonce, sizeof(bad_nonce), sm_list_token(l), NULL);
    forge_token(list_as_queue, sizeof(list_as_queue), sm_list_token(l), "queue");
    forge_token(dict_as_list, sizeof(dict_as_list), sm_dict_token(d), "list");
    sm_value got = sm_value_int(-1);

    /* Each failure twice: from a list, and from a queue that waits. */
    const struct {
        const char *token;
        int want;
    } cases[] = {
        {sm_dict_token(d), SM_EWRONGTYPE}, /* a dict token: refused by the proxy */
        {dict_as_list, SM_EWRONGTYPE},     /* a dict named as a list: by the server */
        {list_as_queue, SM_EWRONGTYPE},    /* a list named as a queue */
        {gone_token, SM_ENOOBJ},
        {bad_nonce, SM_ENOOBJ},
        {"not a token", SM_EINVAL},
        {NULL, SM_EINVAL},
    };
    for (size_t i = 0; i < COUNT(cases); i++) {
        print_message("destination %s\n", cases[i].token ? cases[i].token : "NULL");
        assert_sm_status(sm_list_move(l, false, cases[i].token, false, &got), cases[i].want);
        assert_sm_status(sm_queue_move(q, cases[i].token, false, SM_NOWAIT, &got), cases[i].want);
        assert_sm_status(sm_queue_move(e, cases[i].token, false, MV_BOUND_MS, &got),
                         cases[i].want);
    }
    assert_sm_status(sm_list_move(l, false, sm_queue_token(q), true, &got), SM_EINVAL);
    assert_sm_status(sm_queue_move(q, sm_queue_token(e), true, SM_NOWAIT, &got), SM_EINVAL);
    assert_sm_status(sm_queue_move(q, sm_list_token(l), false, -5, &got), SM_EINVAL);
    assert_sm_status(sm_list_move(NULL, false, sm_list_token(l), false, &got), SM_EINVAL);
    assert_sm_status(sm_queue_move(NULL, sm_list_token(l), false, SM_NOWAIT, &got), SM_EINVAL);
    assert_int_value(&got, -1);
    assert_list_ints(l, 1, 2);
    assert_queue_ints(q, 3);
    assert_queue_empty(e);
    assert_sm_ok(sm_dict_close(d));
    assert_sm_ok(sm_list_close(l));
    assert_sm_ok(sm_queue_close(q));
    assert_sm_ok(sm_queue_close(e));
}

/* A move parked on an empty queue completes when another client puts an
 * item: the item goes straight into the destination, references included. */
static void
test_a_parked_queue_move_is_completed_by_a_put(void **state)
{
    own *f = *state;
    sm_queue *qa, *qb;
    sm_list *la = LIST_ON(f->a, 1);
    waiter w;
    assert_sm_ok(sm_queue_new(f->a, 0, false, &qa));
    assert_sm_ok(sm_queue_attach(f->b, sm_queue_token(qa), &qb));

    waiter_park(&w, qb, sm_list_token(la), true, f->probe_b);
    assert_list_ints(la, 1); /* nothing yet */
    assert_sm_ok(sm_queue_put(qa, SMV(sm_value_int(7)), SM_NOWAIT));
    waiter_join(&w);
    assert_sm_ok(w.rv);
    assert_int_value(&w.got, 7);
    assert_list_ints(la, 7, 1);
    assert_queue_empty(qa);

    /* A reference: its object lives on in the list, then goes with it. */
    sm_list *inner = LIST_ON(f->a, 5, 6);
    char token[128];
    snprintf(token, sizeof(token), "%s", sm_list_token(inner));
    waiter_park(&w, qb, sm_list_token(la), false, f->probe_b);
    assert_sm_ok(sm_queue_put(qa, SMV(sm_value_ref(token)), SM_NOWAIT));
    waiter_join(&w);
    assert_sm_ok(w.rv);
    assert_int_equal(w.got.type, SM_REF);
    sm_value_clear(&w.got);
    assert_sm_ok(sm_list_close(inner)); /* only la holds it now */
    sm_list *again;
    assert_sm_ok(sm_list_attach(f->a, token, &again));
    assert_list_ints(again, 5, 6);
    assert_sm_ok(sm_list_close(again));
    sm_value last = sm_value_nil();
    assert_sm_ok(sm_list_pop(la, -1, &last));
    assert_int_equal(last.type, SM_REF);
    sm_value_clear(&last);
    assert_sm_status(sm_list_attach(f->a, token, &again), SM_ENOOBJ);
    assert_list_ints(la, 7, 1);

    assert_sm_ok(sm_queue_close(qb));
    assert_sm_ok(sm_queue_close(qa));
    assert_sm_ok(sm_list_close(la));
}

/* A parked getter of the destination queue takes a moved item at once,
 * and a parked move there passes it on in the same step. */
static void
test_a_moved_item_goes_to_the_destinations_parked_getter(void **state)
{
    own *f = *state;
    sm_list *l = LIST_ON(f->a, 41, 42), *l2 = LIST_ON(f->a);
    sm_queue *q, *qc, *qb;
    waiter g, m;
    assert_sm_ok(sm_queue_new(f->a, 0, false, &q));
    assert_sm_ok(sm_queue_attach(f->c, sm_queue_token(q), &qc));
    assert_sm_ok(sm_queue_attach(f->b, sm_queue_token(q), &qb));

    waiter_park(&g, qc, NULL, false, f->probe_c);
    assert_sm_ok(sm_list_move(l, false, sm_queue_token(q), false, NULL));
    waiter_join(&g);
    assert_sm_ok(g.rv);
    assert_int_value(&g.got, 42);
    assert_list_ints(l, 41);
    assert_queue_empty(q);

    waiter_park(&m, qb, sm_list_token(l2), false, f->probe_b);
    assert_sm_ok(sm_list_move(l, false, sm_queue_token(q), false, NULL)); /* l -> q -> l2 */
    waiter_join(&m);
    assert_sm_ok(m.rv);
    assert_int_value(&m.got, 41);
    assert_list_empty(l);
    assert_queue_empty(q);
    assert_list_ints(l2, 41);

    assert_sm_ok(sm_queue_close(qb));
    assert_sm_ok(sm_queue_close(qc));
    assert_sm_ok(sm_queue_close(q));
    assert_sm_ok(sm_list_close(l));
    assert_sm_ok(sm_list_close(l2));
}

/* A parked move whose destination can no longer take the item when it
 * arrives fails with the reason, and the item is safe: it goes to the next
 * getter, or stays in the source. */
static void
test_a_parked_move_that_cannot_complete_leaves_the_item(void **state)
{
    own *f = *state;
    sm_queue *src, *full, *qb, *qc;
    waiter m, g;
    assert_sm_ok(sm_queue_new(f->a, 0, false, &src));
    assert_sm_ok(sm_queue_new(f->a, 1, false, &full));
    assert_sm_ok(sm_queue_attach(f->b, sm_queue_token(src), &qb));
    assert_sm_ok(sm_queue_attach(f->c, sm_queue_token(src), &qc));

    /* Full meanwhile, with a getter behind the move: the getter has it. */
    waiter_park(&m, qb, sm_queue_token(full), false, f->probe_b);
    waiter_park(&g, qc, NULL, false, f->probe_c);
    assert_sm_ok(sm_queue_put(full, SMV(sm_value_int(100)), SM_NOWAIT));
    assert_sm_ok(sm_queue_put(src, SMV(sm_value_int(5)), SM_NOWAIT));
    waiter_join(&m);
    waiter_join(&g);
    assert_sm_status(m.rv, SM_EFULL);
    assert_int_value(&m.got, -1);
    assert_sm_ok(g.rv);
    assert_int_value(&g.got, 5);
    assert_queue_empty(src);
    assert_queue_ints(full, 100);

    /* Still full: refused before waiting. */
    sm_value got = sm_value_int(-1);
    assert_sm_status(sm_queue_move(qb, sm_queue_token(full), false, MV_BOUND_MS, &got),
                     SM_EFULL);
    assert_int_value(&got, -1);

    /* Full meanwhile, no one else waiting: the item stays in the source. */
    assert_sm_ok(sm_queue_get(full, SM_NOWAIT, &got));
    assert_int_value(&got, 100);
    waiter_park(&m, qb, sm_queue_token(full), false, f->probe_b);
    assert_sm_ok(sm_queue_put(full, SMV(sm_value_int(101)), SM_NOWAIT));
    assert_sm_ok(sm_queue_put(src, SMV(sm_value_int(6)), SM_NOWAIT));
    waiter_join(&m);
    assert_sm_status(m.rv, SM_EFULL);
    assert_queue_ints(src, 6);
    assert_queue_ints(full, 101);

    /* The destination freed meanwhile: SM_ENOOBJ, the item stays. */
    sm_list *doomed = LIST_ON(f->a);
    char doomed_token[128];
    snprintf(doomed_token, sizeof(doomed_token), "%s", sm_list_token(doomed));
    assert_sm_ok(sm_queue_get(src, SM_NOWAIT, &got));
    assert_int_value(&got, 6);
    waiter_park(&m, qb, doomed_token, false, f->probe_b);
    assert_sm_ok(sm_list_close(doomed)); /* the last reference */
    assert_sm_ok(sm_queue_put(src, SMV(sm_value_int(9)), SM_NOWAIT));
    waiter_join(&m);
    assert_sm_status(m.rv, SM_ENOOBJ);
    assert_queue_ints(src, 9);

    /* The destination list reached --max-items (3) meanwhile: SM_ELIMIT. */
    sm_list *l = LIST_ON(f->a, 1, 2);
    assert_sm_ok(sm_queue_get(src, SM_NOWAIT, &got));
    assert_int_value(&got, 9);
    waiter_park(&m, qb, sm_list_token(l), false, f->probe_b);
    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(3))));
    assert_sm_ok(sm_queue_put(src, SMV(sm_value_int(10)), SM_NOWAIT));
    waiter_join(&m);
    assert_sm_status(m.rv, SM_ELIMIT);
    assert_queue_ints(src, 10);
    assert_list_ints(l, 1, 2, 3);

    assert_sm_ok(sm_list_close(l));
    assert_sm_ok(sm_queue_close(qb));
    assert_sm_ok(sm_queue_close(qc));
    assert_sm_ok(sm_queue_close(src));
    assert_sm_ok(sm_queue_close(full));
}

/* Moves parked on one another around two queues end without recursion
 * trouble, each answered once, the item ending where the last one took it. */
static void
test_moves_parked_on_each_other_pass_an_item_along(void **state)
{
    own *f = *state;
    sm_queue *a, *b, *ab, *bc;
    sm_list *l = LIST_ON(f->a);
    waiter m1, m2;
    assert_sm_ok(sm_queue_new(f->a, 0, false, &a));
    assert_sm_ok(sm_queue_new(f->a, 0, false, &b));
    assert_sm_ok(sm_queue_attach(f->b, sm_queue_token(a), &ab));
    assert_sm_ok(sm_queue_attach(f->c, sm_queue_token(b), &bc));

    waiter_park(&m1, ab, sm_queue_token(b), false, f->probe_b); /* a -> b */
    waiter_park(&m2, bc, sm_list_token(l), true, f->probe_c);   /* b -> l */
    assert_sm_ok(sm_queue_put(a, SMV(sm_value_int(77)), SM_NOWAIT));
    waiter_join(&m1);
    waiter_join(&m2);
    assert_sm_ok(m1.rv);
    assert_int_value(&m1.got, 77);
    assert_sm_ok(m2.rv);
    assert_int_value(&m2.got, 77);
    assert_queue_empty(a);
    assert_queue_empty(b);
    assert_list_ints(l, 77);

    assert_sm_ok(sm_queue_close(ab));
    assert_sm_ok(sm_queue_close(bc));
    assert_sm_ok(sm_queue_close(a));
    assert_sm_ok(sm_queue_close(b));
    assert_sm_ok(sm_list_close(l));
}

/* --max-items (3) of the destination applies to every kind of move; a
 * rotation at the limit does not grow anything. */
static void
test_the_destinations_item_limit_applies(void **state)
{
    own *f = *state;
    sm_list *src = LIST_ON(f->a, 9), *lfull = LIST_ON(f->a, 1, 2, 3);
    sm_queue *qfull = new_queue_on(f->a, 0, false, (const int64_t[]){4, 5, 6}, 3);
    sm_queue *qsrc = new_queue_on(f->a, 0, false, (const int64_t[]){8}, 1);
    sm_value got = sm_value_int(-1);

    assert_sm_status(sm_list_move(src, false, sm_list_token(lfull), false, &got), SM_ELIMIT);
    assert_sm_status(sm_list_move(src, false, sm_queue_token(qfull), false, &got), SM_ELIMIT);
    assert_sm_status(sm_queue_move(qsrc, sm_list_token(lfull), true, SM_NOWAIT, &got),
                     SM_ELIMIT);
    assert_sm_status(sm_queue_move(qsrc, sm_queue_token(qfull), false, 1000, &got), SM_ELIMIT);
    assert_int_value(&got, -1);
    assert_list_ints(src, 9);
    assert_list_ints(lfull, 1, 2, 3);
    assert_queue_ints(qfull, 4, 5, 6);
    assert_queue_ints(qsrc, 8);

    assert_sm_ok(sm_list_move(lfull, true, sm_list_token(lfull), false, NULL));
    assert_list_ints(lfull, 2, 3, 1);
    assert_sm_ok(sm_queue_move(qfull, sm_queue_token(qfull), false, SM_NOWAIT, NULL));
    assert_queue_ints(qfull, 5, 6, 4);

    assert_sm_ok(sm_list_close(src));
    assert_sm_ok(sm_list_close(lfull));
    assert_sm_ok(sm_queue_close(qfull));
    assert_sm_ok(sm_queue_close(qsrc));
}

/* From a joinable queue a move counts as a get: unfinished until a
 * task_done; into one, as a put. No session holds the moved item, so a
 * mover that goes away returns nothing: the item is in its destination. */
static void
test_joinable_queues_count_a_move_as_get_and_put(void **state)
{
    (void)state;
    sm_queue *src = new_queue(0, true, ((const int64_t[]){1, 2}), 2);
    sm_queue *dst = new_queue(0, true, NULL, 0);
    sm_list *l = LIST_OF();
    int64_t unfinished = -1;

    assert_sm_ok(sm_queue_move(src, sm_queue_token(dst), false, SM_NOWAIT, NULL));
    assert_sm_ok(sm_queue_info(src, NULL, NULL, &unfinished));
    assert_int_equal(unfinished, 2); /* one taken, not done; one still in */
    assert_sm_ok(sm_queue_info(dst, NULL, NULL, &unfinished));
    assert_int_equal(unfinished, 1); /* put */
    assert_sm_ok(sm_queue_task_done(src));
    assert_sm_ok(sm_queue_info(src, NULL, NULL, &unfinished));
    assert_int_equal(unfinished, 1);

    /* Another client moves the other item and ends without a task_done. */
    sm_client *c2;
    sm_queue *src2;
    assert_sm_ok(sm_client_open(&c2, smt_url(), NULL));
    assert_sm_ok(sm_queue_attach(c2, sm_queue_token(src), &src2));
    assert_sm_ok(sm_queue_move(src2, sm_list_token(l), false, SM_NOWAIT, NULL));
    assert_sm_ok(sm_queue_close(src2));
    sm_client_close(c2); /* its session ends */
    assert_queue_empty(src);  /* nothing came back: the item is in l */
    assert_list_ints(l, 2);
    assert_sm_ok(sm_queue_info(src, NULL, NULL, &unfinished));
    assert_int_equal(unfinished, 1); /* still unfinished, for anyone's task_done */
    assert_sm_ok(sm_queue_task_done(src));
    assert_sm_ok(sm_queue_join(src, SM_NOWAIT));
    assert_queue_ints(dst, 1);

    assert_sm_ok(sm_queue_close(src));
    assert_sm_ok(sm_queue_close(dst));
    assert_sm_ok(sm_list_close(l));
}

/* A reference moved between containers keeps its object alive, with
 * exactly the one count the container holds. */
static void
test_a_moved_reference_keeps_its_object_alive(void **state)
{
    (void)state;
    sm_list *a = LIST_OF(), *b = LIST_OF(), *inner = LIST_OF(5, 6);
    sm_queue *q = new_queue(0, false, NULL, 0);
    char token[128];
    snprintf(token, sizeof(token), "%s", sm_list_token(inner));
    assert_sm_ok(sm_list_append(a, SMV(sm_value_ref(token))));
    assert_sm_ok(sm_list_close(inner)); /* only a holds it now */

    sm_value got = sm_value_nil();
    assert_sm_ok(sm_list_move(a, false, sm_queue_token(q), false, &got)); /* a -> q */
    assert_int_equal(got.type, SM_REF);
    sm_value_clear(&got);
    assert_sm_ok(sm_queue_move(q, sm_list_token(b), false, SM_NOWAIT, &got)); /* q -> b */
    assert_int_equal(got.type, SM_REF);
    assert_string_equal((const char *)got.u.buf.ptr, token);
    sm_value_clear(&got);
    assert_list_empty(a);
    assert_queue_size(q, 0);
    sm_list *again;
    assert_sm_ok(sm_list_attach(smt_client(), token, &again)); /* alive, in b */
    assert_list_ints(again, 5, 6);
    assert_sm_ok(sm_list_close(again));

    assert_sm_ok(sm_list_clear(b)); /* the last holder lets go */
    assert_sm_status(sm_list_attach(smt_client(), token, &again), SM_ENOOBJ);
    assert_sm_ok(sm_list_close(a));
    assert_sm_ok(sm_list_close(b));
    assert_sm_ok(sm_queue_close(q));
}

static void
test_moves_are_pipelined_but_not_atomic_in_batches(void **state)
{
    (void)state;
    sm_list *a = LIST_OF(1, 2, 3), *b = LIST_OF();
    sm_queue *q = new_queue(0, false, ((const int64_t[]){9}), 1);
    sm_value o1 = sm_value_nil(), o2 = sm_value_nil(), o3 = sm_value_nil();
    sm_batch *bt;

    assert_sm_ok(sm_batch_begin(smt_client(), SM_BATCH_PIPELINE, &bt));
    assert_sm_ok(sm_list_move(a, false, sm_list_token(b), false, &o1));
    assert_sm_ok(sm_list_move(a, false, sm_list_token(b), false, &o2));
    assert_sm_ok(sm_queue_move(q, sm_list_token(b), true, SM_NOWAIT, &o3));
    /* One that may wait cannot be recorded. */
    assert_sm_status(sm_queue_move(q, sm_list_token(b), true, 100, NULL), SM_EINVAL);
    assert_sm_ok(sm_batch_exec(bt));
    sm_batch_free(bt);
    assert_int_value(&o1, 3);
    assert_int_value(&o2, 2);
    assert_int_value(&o3, 9);
    assert_list_ints(a, 1);
    assert_list_ints(b, 9, 3, 2);
    assert_queue_empty(q);

    /* In a batch a queue move never waits: empty is SM_EEMPTY at once. */
    assert_sm_ok(sm_batch_begin(smt_client(), SM_BATCH_PIPELINE, &bt));
    assert_sm_ok(sm_queue_move(q, sm_list_token(b), true, SM_NOWAIT, &o3));
    assert_sm_status(sm_batch_exec(bt), SM_EEMPTY);
    assert_sm_status(sm_batch_status(bt, 0), SM_EEMPTY);
    sm_batch_free(bt);

    assert_sm_ok(sm_batch_begin(smt_client(), SM_BATCH_ATOMIC, &bt));
    assert_sm_ok(sm_list_move(a, false, sm_list_token(b), false, &o1));
    assert_sm_status(sm_batch_exec(bt), SM_EINVAL);
    assert_int_equal(sm_batch_failed(bt), 0);
    sm_batch_free(bt);
    assert_list_ints(a, 1);
    assert_list_ints(b, 9, 3, 2);
    assert_sm_ok(sm_list_close(a));
    assert_sm_ok(sm_list_close(b));
    assert_sm_ok(sm_queue_close(q));
}

/* ------------------------------------------------- processes moving at once */

#define MOVE_PROCS 4
#define MOVE_ITEMS 50
#define MOVE_EACH 400

/* mover_main: argv is NAME URL TOKEN_A TOKEN_Q. It moves MOVE_EACH times:
 * a -> q, q -> a (at once, or waiting up to 20 ms for an item another
 * process moves in), and rotations of each; an empty source is skipped. */
static int
mover_main(int argc, char **argv)
{
    sm_client *c;
    sm_list *a;
    sm_queue *q;
    alarm(120);
    if (argc != 4)
        return 99;
    int rv = sm_client_open(&c, argv[1], NULL);
    if (rv == SM_OK)
        rv = sm_list_attach(c, argv[2], &a);
    if (rv == SM_OK)
        rv = sm_queue_attach(c, argv[3], &q);
    if (rv != SM_OK)
        return smt_child_fail("mover", "open", rv);
    for (int i = 0; i < MOVE_EACH; i++) {
        switch (i % 8) {
        case 0:
        case 2:
        case 4:
            rv = sm_list_move(a, i % 4 == 0, argv[3], false, NULL);
            break;
        case 1:
        case 3:
            rv = sm_queue_move(q, argv[2], i % 4 == 1, SM_NOWAIT, NULL);
            break;
        case 5:
            rv = sm_queue_move(q, argv[2], false, 20, NULL);
            break;
        case 6:
            rv = sm_list_move(a, true, argv[2], false, NULL);
            break;
        default:
            rv = sm_queue_move(q, argv[3], false, 20, NULL);
            break;
        }
        if (rv != SM_OK && rv != SM_ERANGE && rv != SM_EEMPTY)
            return smt_child_fail("mover", "move", rv);
    }
    sm_list_close(a);
    sm_queue_close(q);
    sm_client_close(c);
    return 0;
}

static void
test_processes_moving_at_once_lose_and_duplicate_nothing(void **state)
{
    (void)state;
    sm_list *a = LIST_OF();
    sm_queue *q = new_queue(0, false, NULL, 0);
    for (int64_t i = 0; i < MOVE_ITEMS; i++)
        assert_sm_ok(sm_list_append(a, SMV(sm_value_int(i))));
    pid_t pids[MOVE_PROCS];
    for (int k = 0; k < MOVE_PROCS; k++)
        pids[k] = smt_spawn("mover", smt_url(), sm_list_token(a), sm_queue_token(q), NULL);
    for (int k = 0; k < MOVE_PROCS; k++)
        smt_wait_child(pids[k]);

    /* Every item exactly once, between the two. */
    int seen[MOVE_ITEMS] = {0};
    sm_value *vs = NULL;
    size_t n = 0;
    assert_sm_ok(sm_list_slice(a, 0, SM_END, &vs, &n));
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(vs[i].type, SM_INT);
        assert_in_range(vs[i].u.i, 0, MOVE_ITEMS - 1);
        seen[vs[i].u.i]++;
    }
    sm_values_free(vs, n);
    sm_value v;
    size_t nq = 0;
    while (sm_queue_get(q, SM_NOWAIT, &v) == SM_OK) {
        assert_int_equal(v.type, SM_INT);
        assert_in_range(v.u.i, 0, MOVE_ITEMS - 1);
        seen[v.u.i]++;
        nq++;
    }
    print_message("%zu items in the list, %zu in the queue\n", n, nq);
    assert_int_equal(n + nq, MOVE_ITEMS);
    for (int i = 0; i < MOVE_ITEMS; i++)
        assert_int_equal(seen[i], 1);
    assert_sm_ok(sm_list_close(a));
    assert_sm_ok(sm_queue_close(q));
}

#define OWN(t) cmocka_unit_test_setup_teardown(t, own_setup, own_teardown)

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_list_to_list_from_either_end_to_either_end),
    cmocka_unit_test(test_list_move_into_itself_rotates),
    cmocka_unit_test(test_moves_between_lists_and_queues_keep_fifo_order),
    cmocka_unit_test(test_empty_sources_move_nothing),
    cmocka_unit_test(test_a_full_bounded_queue_takes_nothing_and_is_never_waited_for),
    cmocka_unit_test(test_bad_destinations_move_nothing),
    OWN(test_a_parked_queue_move_is_completed_by_a_put),
    OWN(test_a_moved_item_goes_to_the_destinations_parked_getter),
    OWN(test_a_parked_move_that_cannot_complete_leaves_the_item),
    OWN(test_moves_parked_on_each_other_pass_an_item_along),
    OWN(test_the_destinations_item_limit_applies),
    cmocka_unit_test(test_joinable_queues_count_a_move_as_get_and_put),
    cmocka_unit_test(test_a_moved_reference_keeps_its_object_alive),
    cmocka_unit_test(test_moves_are_pipelined_but_not_atomic_in_batches),
    cmocka_unit_test(test_processes_moving_at_once_lose_and_duplicate_nothing),
};

static const smt_child children[] = {{"mover", mover_main}};

int
main(int argc, char **argv)
{
    return SMT_MAIN_CHILDREN("move", tests, children);
}
