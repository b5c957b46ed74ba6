/* test_move.c - sm_list_move and sm_queue_move: pop-and-push between lists
 * and queues in one round trip.
 *
 * After every move both containers are read back whole and compared exactly;
 * every failure is checked to have moved nothing. */
#include "smt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define SMV(expr) ((const sm_value[]){expr})

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

static sm_list *
new_list(const int64_t *items, size_t n)
{
    sm_list *l;
    assert_sm_ok(sm_list_new(smt_client(), &l));
    for (size_t i = 0; i < n; i++)
        assert_sm_ok(sm_list_append(l, SMV(sm_value_int(items[i]))));
    return l;
}
#define LIST_OF(...) new_list((const int64_t[]){__VA_ARGS__}, COUNT(((const int64_t[]){__VA_ARGS__})))

static sm_queue *
new_queue(int64_t maxsize, bool joinable, const int64_t *items, size_t n)
{
    sm_queue *q;
    assert_sm_ok(sm_queue_new(smt_client(), maxsize, joinable, &q));
    for (size_t i = 0; i < n; i++)
        assert_sm_ok(sm_queue_put(q, SMV(sm_value_int(items[i])), SM_NOWAIT));
    return q;
}

static void
assert_int_value(sm_value *v, int64_t want)
{
    assert_int_equal(v->type, SM_INT);
    assert_int_equal(v->u.i, want);
    sm_value_clear(v);
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

    assert_sm_ok(sm_list_move(a, true, sm_list_token(b), false, NULL)); /* no output wanted */
    assert_list_ints(a, 3);
    assert_list_ints(b, 1, 10, 4, 2);

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
    assert_sm_ok(sm_list_close(a));
}

static void
test_moves_between_lists_and_queues_keep_fifo_order(void **state)
{
    (void)state;
    sm_list *l = LIST_OF(1, 2, 3);
    sm_queue *q = new_queue(0, false, (const int64_t[]){7}, 1);
    sm_queue *r = new_queue(0, false, NULL, 0);
    sm_value got = sm_value_nil();

    assert_sm_ok(sm_list_move(l, true, sm_queue_token(q), false, &got)); /* list -> queue */
    assert_int_value(&got, 1);
    assert_list_ints(l, 2, 3);
    assert_queue_ints(q, 7, 1);

    assert_sm_ok(sm_queue_move(q, sm_queue_token(r), false, &got)); /* queue -> queue: oldest */
    assert_int_value(&got, 7);
    assert_queue_ints(q, 1);
    assert_queue_ints(r, 7);

    assert_sm_ok(sm_queue_move(r, sm_list_token(l), true, &got)); /* queue -> list front */
    assert_int_value(&got, 7);
    assert_queue_empty(r);
    assert_list_ints(l, 7, 2, 3);

    assert_sm_ok(sm_queue_move(q, sm_queue_token(q), false, &got)); /* a queue into itself */
    assert_int_value(&got, 1);
    assert_queue_ints(q, 1);

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
    assert_sm_status(sm_queue_move(q, sm_list_token(d), false, &got), SM_EEMPTY);
    assert_int_value(&got, -1); /* untouched */
    assert_list_empty(l);
    assert_queue_empty(q);
    assert_list_ints(d, 5);
    assert_sm_ok(sm_list_close(l));
    assert_sm_ok(sm_list_close(d));
    assert_sm_ok(sm_queue_close(q));
}

static void
test_a_full_bounded_queue_takes_nothing(void **state)
{
    (void)state;
    sm_list *l = LIST_OF(1, 2);
    sm_queue *full = new_queue(2, false, (const int64_t[]){8, 9}, 2);

    assert_sm_status(sm_list_move(l, false, sm_queue_token(full), false, NULL), SM_EFULL);
    assert_list_ints(l, 1, 2);
    assert_queue_ints(full, 8, 9);
    /* A full queue may still rotate: its length does not change. */
    assert_sm_ok(sm_queue_move(full, sm_queue_token(full), false, NULL));
    assert_queue_ints(full, 9, 8);
    assert_sm_ok(sm_list_close(l));
    assert_sm_ok(sm_queue_close(full));
}

static void
test_bad_destinations_move_nothing(void **state)
{
    (void)state;
    sm_list *l = LIST_OF(1, 2);
    sm_queue *q = new_queue(0, false, (const int64_t[]){3}, 1);
    sm_dict *d;
    sm_list *gone;
    char gone_token[128];
    assert_sm_ok(sm_dict_new(smt_client(), &d));
    assert_sm_ok(sm_list_new(smt_client(), &gone));
    snprintf(gone_token, sizeof(gone_token), "%s", sm_list_token(gone));
    assert_sm_ok(sm_list_close(gone)); /* its last reference: freed */

    assert_sm_status(sm_list_move(l, false, sm_dict_token(d), false, NULL), SM_EWRONGTYPE);
    assert_sm_status(sm_list_move(l, false, "not a token", false, NULL), SM_EINVAL);
    assert_sm_status(sm_list_move(l, false, NULL, false, NULL), SM_EINVAL);
    assert_sm_status(sm_list_move(l, false, gone_token, false, NULL), SM_ENOOBJ);
    assert_sm_status(sm_list_move(l, false, sm_queue_token(q), true, NULL), SM_EINVAL);
    assert_sm_status(sm_queue_move(q, gone_token, false, NULL), SM_ENOOBJ);
    assert_sm_status(sm_list_move(NULL, false, sm_list_token(l), false, NULL), SM_EINVAL);
    assert_sm_status(sm_queue_move(NULL, sm_list_token(l), false, NULL), SM_EINVAL);
    assert_list_ints(l, 1, 2);
    assert_queue_ints(q, 3);
    assert_sm_ok(sm_dict_close(d));
    assert_sm_ok(sm_list_close(l));
    assert_sm_ok(sm_queue_close(q));
}

/* A getter waiting on the destination queue gets the moved item. */
typedef struct getter {
    sm_queue *q;
    int rv;
    sm_value got;
} getter;

static void *
getter_main(void *arg)
{
    getter *g = arg;
    g->rv = sm_queue_get(g->q, 20000, &g->got);
    return NULL;
}

static void
test_a_waiting_getter_gets_the_moved_item(void **state)
{
    (void)state;
    sm_list *l = LIST_OF(42);
    sm_queue *q = new_queue(0, false, NULL, 0);
    sm_client *c2;
    getter g = {.rv = -1};
    pthread_t t;
    assert_sm_ok(sm_client_open(&c2, smt_url(), NULL));
    assert_sm_ok(sm_queue_attach(c2, sm_queue_token(q), &g.q));
    assert_int_equal(pthread_create(&t, NULL, getter_main, &g), 0);
    /* Whether the getter is parked yet or not, the item is its: parked, it
     * is handed over; not yet, it waits in the queue for the get. */
    assert_sm_ok(sm_list_move(l, false, sm_queue_token(q), false, NULL));
    smt_join_or_fail(t, 30);
    assert_sm_ok(g.rv);
    assert_int_value(&g.got, 42);
    assert_list_empty(l);
    assert_queue_empty(q);
    assert_sm_ok(sm_queue_close(g.q));
    sm_client_close(c2);
    assert_sm_ok(sm_list_close(l));
    assert_sm_ok(sm_queue_close(q));
}

static void
test_joinable_queues_count_a_move_as_get_and_put(void **state)
{
    (void)state;
    sm_queue *src = new_queue(0, true, (const int64_t[]){1}, 1);
    sm_queue *dst = new_queue(0, true, NULL, 0);
    int64_t unfinished = -1;

    assert_sm_ok(sm_queue_move(src, sm_queue_token(dst), false, NULL));
    assert_sm_ok(sm_queue_info(src, NULL, NULL, &unfinished));
    assert_int_equal(unfinished, 1); /* taken, not done */
    assert_sm_ok(sm_queue_info(dst, NULL, NULL, &unfinished));
    assert_int_equal(unfinished, 1); /* put */
    assert_sm_ok(sm_queue_task_done(src));
    assert_sm_ok(sm_queue_info(src, NULL, NULL, &unfinished));
    assert_int_equal(unfinished, 0);
    assert_sm_ok(sm_queue_close(src));
    assert_sm_ok(sm_queue_close(dst));
}

/* A reference moved between lists keeps its object alive, with exactly the
 * one count the container holds. */
static void
test_a_moved_reference_keeps_its_object_alive(void **state)
{
    (void)state;
    sm_list *a = LIST_OF(), *b = LIST_OF(), *inner = LIST_OF(5, 6);
    char token[128];
    snprintf(token, sizeof(token), "%s", sm_list_token(inner));
    assert_sm_ok(sm_list_append(a, SMV(sm_value_ref(token))));
    assert_sm_ok(sm_list_close(inner)); /* only a holds it now */

    sm_value got = sm_value_nil();
    assert_sm_ok(sm_list_move(a, false, sm_list_token(b), false, &got));
    assert_int_equal(got.type, SM_REF);
    sm_value_clear(&got);
    sm_list *again;
    assert_sm_ok(sm_list_attach(smt_client(), token, &again)); /* alive, in b */
    assert_list_ints(again, 5, 6);
    assert_sm_ok(sm_list_close(again));

    assert_sm_ok(sm_list_clear(b)); /* the last holder lets go */
    assert_sm_status(sm_list_attach(smt_client(), token, &again), SM_ENOOBJ);
    assert_sm_ok(sm_list_close(a));
    assert_sm_ok(sm_list_close(b));
}

static void
test_moves_are_pipelined_but_not_atomic_in_batches(void **state)
{
    (void)state;
    sm_list *a = LIST_OF(1, 2, 3), *b = LIST_OF();
    sm_value o1 = sm_value_nil(), o2 = sm_value_nil();
    sm_batch *bt;

    assert_sm_ok(sm_batch_begin(smt_client(), SM_BATCH_PIPELINE, &bt));
    assert_sm_ok(sm_list_move(a, false, sm_list_token(b), false, &o1));
    assert_sm_ok(sm_list_move(a, false, sm_list_token(b), false, &o2));
    assert_sm_ok(sm_batch_exec(bt));
    sm_batch_free(bt);
    assert_int_value(&o1, 3);
    assert_int_value(&o2, 2);
    assert_list_ints(a, 1);
    assert_list_ints(b, 3, 2);

    assert_sm_ok(sm_batch_begin(smt_client(), SM_BATCH_ATOMIC, &bt));
    assert_sm_ok(sm_list_move(a, false, sm_list_token(b), false, &o1));
    assert_sm_status(sm_batch_exec(bt), SM_EINVAL);
    assert_int_equal(sm_batch_failed(bt), 0);
    sm_batch_free(bt);
    assert_list_ints(a, 1);
    assert_list_ints(b, 3, 2);
    assert_sm_ok(sm_list_close(a));
    assert_sm_ok(sm_list_close(b));
}

/* ------------------------------------------------- processes moving at once */

#define MOVE_PROCS 4
#define MOVE_ITEMS 50
#define MOVE_EACH 400

/* mover_main: argv is NAME URL TOKEN_A TOKEN_Q. It moves MOVE_EACH times,
 * alternating a -> q and q -> a; an empty source is skipped. */
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
        rv = i % 2 ? sm_queue_move(q, argv[2], (i / 2) % 2, NULL)
                   : sm_list_move(a, i % 4 == 0, argv[3], false, NULL);
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
    assert_int_equal(n + nq, MOVE_ITEMS);
    for (int i = 0; i < MOVE_ITEMS; i++)
        assert_int_equal(seen[i], 1);
    assert_sm_ok(sm_list_close(a));
    assert_sm_ok(sm_queue_close(q));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_list_to_list_from_either_end_to_either_end),
    cmocka_unit_test(test_list_move_into_itself_rotates),
    cmocka_unit_test(test_moves_between_lists_and_queues_keep_fifo_order),
    cmocka_unit_test(test_empty_sources_move_nothing),
    cmocka_unit_test(test_a_full_bounded_queue_takes_nothing),
    cmocka_unit_test(test_bad_destinations_move_nothing),
    cmocka_unit_test(test_a_waiting_getter_gets_the_moved_item),
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
