/* test_limits.c - syncmgrd's configurable limits (--max-value, --max-keys,
 * --max-items, --max-objects, --max-sessions, --max-waits).
 *
 * Every test runs against its own private syncmgrd started with small
 * limits (LIM_ARGS), never the group's shared one, so the counts it checks
 * (live objects, sessions) start from zero. For each limit a test:
 *   - fills up to it, then exceeds it and asserts SM_ELIMIT and the exact
 *     detail the server gives (it names the limit's flag);
 *   - asserts the exact state afterwards: the refused call changed nothing
 *     (a dict still holds exactly its keys and values, a list its items, a
 *     pool its queued tasks, and so on);
 *   - shows the limit is per object or per session as documented: another
 *     object or session still has its full allowance, and another client's
 *     calls still succeed.
 *
 * The waits test needs requests observably parked in the server. A plain
 * lock acquire that is parked leaves no trace a client can read, but a
 * condition wait does: a thread holding the lock parks in sm_cond_wait and
 * releases the lock in the same server step, so another client's acquire of
 * that lock is granted only once the thread is parked. Notifying the
 * conditions then turns the three parked waits into three parked acquires
 * of the held lock, still counted against their session. No sleeps stand in
 * for synchronisation; worker threads never call cmocka's assertions. */
#include "smt.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#define LIM_ARGS                                                                                 \
    "--max-keys", "5", "--max-items", "5", "--max-objects", "20", "--max-sessions", "4",         \
        "--max-waits", "3", "--max-value", "100"
#define LIM_VALUE 100
#define LIM_LONG_MS 20000 /* bound on every wait that must succeed */

/* ------------------------------------------------------------------ fixture */

typedef struct lim {
    smt_server srv;
    sm_client *a; /* the test's first client */
} lim;

static lim lim_fixture;

static int
lim_open(sm_client **cp)
{
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    return sm_client_open(cp, lim_fixture.srv.url, &o);
}

static int
lim_setup(void **state)
{
    static const char *const extra[] = {LIM_ARGS, NULL};
    memset(&lim_fixture, 0, sizeof(lim_fixture));
    if (smt_server_spawn(&lim_fixture.srv, smt_transport(), extra) != 0)
        return -1;
    int rv = lim_open(&lim_fixture.a);
    if (rv != SM_OK) {
        fprintf(stderr, "test_limits: sm_client_open: %s\n", sm_errname(rv));
        smt_server_kill(&lim_fixture.srv);
        return -1;
    }
    *state = &lim_fixture;
    return 0;
}

static int
lim_teardown(void **state)
{
    lim *L = *state;
    sm_client_close(L->a);
    L->a = NULL;
    int st = smt_server_stop(&L->srv);
    if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        fprintf(stderr, "test_limits: syncmgrd did not exit cleanly (status %d)\n", st);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ helpers */

/* lim_refused asserts that rv is SM_ELIMIT with exactly the detail want. */
static void
lim_refused(int rv, const char *want, const char *expr, const char *file, int line)
{
    smt_assert_status(rv, SM_ELIMIT, expr, file, line);
    if (strcmp(sm_errdetail(), want) != 0) {
        print_error("%s: detail \"%s\", wanted \"%s\"\n", expr, sm_errdetail(), want);
        _fail(file, line);
    }
}
#define assert_refused(expr, want) lim_refused((expr), (want), #expr, __FILE__, __LINE__)

/* lim_text fills buf with n copies of c and a NUL. */
static char *
lim_text(char *buf, size_t n, char c)
{
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

/* assert_dict_is checks d's keys, in order, and their int values. */
static void
assert_dict_is(sm_dict *d, const char *const *keys, const int64_t *vals, size_t n)
{
    char **k = NULL;
    sm_value *v = NULL;
    size_t got = 99;
    assert_sm_ok(sm_dict_items(d, &k, &v, &got));
    assert_int_equal(got, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(k[i], keys[i]);
        smt_assert_value(&v[i], sm_value_int(vals[i]));
    }
    sm_strings_free(k, got);
    sm_values_free(v, got);
}

/* assert_list_is checks l's items, all ints, in order. */
static void
assert_list_is(sm_list *l, const int64_t *want, size_t n)
{
    sm_value *v = NULL;
    size_t got = 99;
    assert_sm_ok(sm_list_slice(l, 0, SM_END, &v, &got));
    assert_int_equal(got, n);
    for (size_t i = 0; i < n; i++)
        smt_assert_value(&v[i], sm_value_int(want[i]));
    sm_values_free(v, got);
}

static int64_t
lim_queued(sm_pool *p)
{
    sm_pool_info info;
    memset(&info, 0xff, sizeof(info));
    assert_sm_ok(sm_pool_status(p, &info));
    return (int64_t)info.queued;
}

/* ------------------------------------------------------------ --max-value */

static void
test_limit_value_refused_wherever_values_enter(void **state)
{
    lim *L = *state;
    sm_client *b = NULL;
    char at[LIM_VALUE + 1], over[LIM_VALUE + 2];
    const char *too_long = "value is 101 bytes, over the limit of 100 (--max-value)";
    sm_value got = sm_value_nil();
    bool flag = true;
    size_t n = 99;
    lim_text(at, LIM_VALUE, 'a');
    lim_text(over, LIM_VALUE + 1, 'o');
    sm_value vat = sm_value_str(at), vover = sm_value_str(over);
    sm_value bover = sm_value_bytes(over, LIM_VALUE + 1), bat = sm_value_bytes(at, LIM_VALUE);

    /* dict: set, update, setdefault. At the limit is fine; one byte over is not. */
    sm_dict *d = NULL;
    assert_sm_ok(sm_dict_new(L->a, &d));
    assert_sm_ok(sm_dict_set(d, "s", &vat));
    assert_sm_ok(sm_dict_set(d, "b", &bat));
    assert_refused(sm_dict_set(d, "s", &vover), too_long);
    assert_refused(sm_dict_set(d, "new", &bover), too_long);
    const char *ukeys[] = {"u1", "u2"};
    sm_value uvals[] = {sm_value_int(1), vover};
    assert_refused(sm_dict_update(d, ukeys, uvals, 2), too_long);
    assert_refused(sm_dict_setdefault(d, "sd", &vover, NULL), too_long);
    assert_sm_ok(sm_dict_len(d, &n));
    assert_int_equal(n, 2);
    assert_sm_ok(sm_dict_get(d, "s", &got));
    smt_assert_value(&got, vat);
    sm_value_clear(&got);
    assert_sm_ok(sm_dict_get(d, "b", &got));
    smt_assert_value(&got, bat);
    sm_value_clear(&got);

    /* list: append, extend (one long value among short ones), insert, set. */
    sm_list *l = NULL;
    assert_sm_ok(sm_list_new(L->a, &l));
    sm_value one = sm_value_int(1);
    assert_refused(sm_list_append(l, &vover), too_long);
    sm_value ext[] = {sm_value_int(7), vover, sm_value_int(8)};
    assert_refused(sm_list_extend(l, ext, 3), too_long);
    assert_refused(sm_list_insert(l, 0, &bover), too_long);
    assert_sm_ok(sm_list_append(l, &one));
    assert_refused(sm_list_set(l, 0, &vover), too_long);
    const int64_t just_one[] = {1};
    assert_list_is(l, just_one, 1);

    /* var: new, set, cas. */
    sm_var *v = NULL, *v2 = NULL;
    sm_value shortv = sm_value_str("short");
    assert_refused(sm_var_new(L->a, &vover, &v2), too_long);
    assert_null(v2);
    assert_sm_ok(sm_var_new(L->a, &shortv, &v));
    assert_refused(sm_var_set(v, &vover), too_long);
    assert_refused(sm_var_cas(v, &shortv, &vover, &flag, NULL), too_long);
    assert_true(flag); /* untouched by the failed call */
    assert_sm_ok(sm_var_get(v, &got));
    smt_assert_value(&got, shortv);
    sm_value_clear(&got);

    /* array: elements are numbers, so a string of any length is refused
     * for its kind (before it would be copied), a long one too. */
    sm_array *arr = NULL;
    assert_sm_ok(sm_array_new(L->a, 'i', NULL, 3, &arr));
    assert_sm_status(sm_array_set(arr, 0, &vover), SM_EBADVALUE);
    assert_sm_ok(sm_array_get(arr, 0, &got));
    smt_assert_value(&got, sm_value_int(0));

    /* namespace and queue. */
    sm_ns *ns = NULL;
    assert_sm_ok(sm_ns_new(L->a, &ns));
    assert_refused(sm_ns_set(ns, "attr", &vover), too_long);
    assert_sm_status(sm_ns_get(ns, "attr", &got), SM_ENOKEY);
    sm_queue *q = NULL;
    int64_t size = -1;
    assert_sm_ok(sm_queue_new(L->a, 0, false, &q));
    assert_refused(sm_queue_put(q, &vover, SM_NOWAIT), too_long);
    assert_sm_ok(sm_queue_info(q, &size, NULL, NULL));
    assert_int_equal(size, 0);

    /* pool: a task input is one bytes value. One argument of 98 bytes packs
     * into 100 (a count byte, a length byte); one of 99 into 101. */
    sm_pool *p = NULL;
    sm_future *f = NULL, *f2 = NULL;
    sm_bytes arg98 = {at, 98}, arg99 = {at, 99};
    assert_sm_ok(sm_pool_open(L->a, "lim.value.pool", &p));
    assert_refused(sm_pool_apply_async(p, "t", &arg99, 1, NULL, &f2),
                   "task 0 input 0 is 101 bytes, over the limit of 100 (--max-value)");
    assert_null(f2);
    assert_int_equal(lim_queued(p), 0);
    assert_sm_ok(sm_pool_apply_async(p, "t", &arg98, 1, NULL, &f));
    assert_int_equal(lim_queued(p), 1);

    /* Another client is refused the same, and its values at the limit pass. */
    assert_sm_ok(lim_open(&b));
    sm_dict *db = NULL;
    assert_sm_ok(sm_dict_attach(b, sm_dict_token(d), &db));
    assert_refused(sm_dict_set(db, "s", &vover), too_long);
    assert_sm_ok(sm_dict_set(db, "s2", &vat));
    assert_sm_ok(sm_dict_len(d, &n));
    assert_int_equal(n, 3);

    sm_future_free(f);
    sm_pool_close(p);
    sm_dict_close(db);
    sm_client_close(b);
    sm_queue_close(q);
    sm_ns_close(ns);
    sm_array_close(arr);
    sm_var_close(v);
    sm_list_close(l);
    sm_dict_close(d);
}

/* ------------------------------------------------------------- --max-keys */

static void
test_limit_keys_per_dict_and_namespace(void **state)
{
    lim *L = *state;
    const char *full = "dict has 5 keys, the limit (--max-keys)";
    sm_dict *d = NULL, *e = NULL;
    sm_value out = sm_value_nil();
    assert_sm_ok(sm_dict_new(L->a, &d));
    const char *k5[] = {"k0", "k1", "k2", "k3", "k4"};
    sm_value v5[] = {sm_value_int(0), sm_value_int(1), sm_value_int(2), sm_value_int(3),
                     sm_value_int(4)};
    for (int i = 0; i < 5; i++)
        assert_sm_ok(sm_dict_set(d, k5[i], &v5[i]));

    /* A sixth key, by each way a key can enter: refused, nothing changes. */
    sm_value x = sm_value_int(50);
    assert_refused(sm_dict_set(d, "k5", &x), full);
    const char *uk[] = {"k1", "n1"};
    sm_value uv[] = {sm_value_int(11), sm_value_int(12)};
    assert_refused(sm_dict_update(d, uk, uv, 2), full); /* k1 is not changed either */
    assert_refused(sm_dict_setdefault(d, "n2", &x, &out), full);
    smt_assert_value(&out, sm_value_nil());
    assert_refused(sm_dict_incr(d, "n3", &x, &out), full);
    const int64_t i5[] = {0, 1, 2, 3, 4};
    assert_dict_is(d, k5, i5, 5);

    /* Existing keys still change. */
    sm_value hundred = sm_value_int(100), one = sm_value_int(1);
    assert_sm_ok(sm_dict_set(d, "k0", &hundred));
    assert_sm_ok(sm_dict_setdefault(d, "k2", &x, &out));
    smt_assert_value(&out, sm_value_int(2));
    assert_sm_ok(sm_dict_incr(d, "k3", &one, &out));
    smt_assert_value(&out, sm_value_int(4));
    const char *uk2[] = {"k1", "k4", "k1"};
    sm_value uv2[] = {sm_value_int(10), sm_value_int(40), sm_value_int(11)};
    assert_sm_ok(sm_dict_update(d, uk2, uv2, 3));
    const int64_t after[] = {100, 11, 2, 4, 40};
    assert_dict_is(d, k5, after, 5);

    /* The limit is per dict: another client is refused on this one, and
     * another dict takes its own five keys. */
    sm_client *b = NULL;
    sm_dict *db = NULL;
    assert_sm_ok(lim_open(&b));
    assert_sm_ok(sm_dict_attach(b, sm_dict_token(d), &db));
    assert_refused(sm_dict_set(db, "b", &x), full);
    assert_sm_ok(sm_dict_new(b, &e));
    for (int i = 0; i < 5; i++)
        assert_sm_ok(sm_dict_set(e, k5[i], &v5[i]));
    assert_refused(sm_dict_set(e, "k5", &x), full);
    assert_dict_is(e, k5, i5, 5);
    assert_dict_is(d, k5, after, 5);

    /* Room made is room to use. */
    assert_sm_ok(sm_dict_del(d, "k4"));
    assert_sm_ok(sm_dict_set(d, "n5", &x));
    const char *k_after[] = {"k0", "k1", "k2", "k3", "n5"};
    const int64_t v_after[] = {100, 11, 2, 4, 50};
    assert_dict_is(d, k_after, v_after, 5);

    /* An update counts each new key once, however often it comes. */
    sm_dict *f = NULL;
    assert_sm_ok(sm_dict_new(L->a, &f));
    const char *fk[] = {"a", "b", "c", "x", "x", "y"};
    sm_value fv[] = {sm_value_int(1), sm_value_int(2), sm_value_int(3), sm_value_int(4),
                     sm_value_int(5), sm_value_int(6)};
    assert_sm_ok(sm_dict_update(f, fk, fv, 3));
    assert_sm_ok(sm_dict_update(f, fk + 3, fv + 3, 3)); /* x twice, y: two new keys */
    const char *fk_is[] = {"a", "b", "c", "x", "y"};
    const int64_t fv_is[] = {1, 2, 3, 5, 6};
    assert_dict_is(f, fk_is, fv_is, 5);
    const char *zz[] = {"z", "a", "z"};
    assert_refused(sm_dict_update(f, zz, fv, 3), full);
    assert_dict_is(f, fk_is, fv_is, 5);

    /* Several new keys at once, none of them added. */
    sm_dict *g = NULL;
    assert_sm_ok(sm_dict_new(L->a, &g));
    assert_sm_ok(sm_dict_update(g, k5, v5, 4));
    const char *gk[] = {"p", "k0", "q"};
    assert_refused(sm_dict_update(g, gk, fv, 3),
                   "dict has 4 keys; 2 more would pass the limit of 5 (--max-keys)");
    assert_dict_is(g, k5, i5, 4);

    /* A namespace has the same limit. */
    sm_ns *ns = NULL;
    char **names = NULL;
    size_t n = 0;
    assert_sm_ok(sm_ns_new(L->a, &ns));
    for (int i = 0; i < 5; i++)
        assert_sm_ok(sm_ns_set(ns, k5[i], &v5[i]));
    assert_refused(sm_ns_set(ns, "k5", &x), "namespace has 5 keys, the limit (--max-keys)");
    assert_sm_ok(sm_ns_set(ns, "k4", &x));
    assert_sm_ok(sm_ns_list(ns, &names, &n));
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(names[i], k5[i]);
    sm_strings_free(names, n);

    sm_ns_close(ns);
    sm_dict_close(g);
    sm_dict_close(f);
    sm_dict_close(e);
    sm_dict_close(db);
    sm_client_close(b);
    sm_dict_close(d);
}

/* ------------------------------------------------------------ --max-items */

static void
test_limit_items_per_list_and_queue(void **state)
{
    lim *L = *state;
    const char *lfull = "list has 5 items, the limit (--max-items)";
    const char *qfull = "queue has 5 items, the limit (--max-items)";
    sm_list *l = NULL, *lb = NULL, *other = NULL;
    sm_value five[] = {sm_value_int(0), sm_value_int(1), sm_value_int(2), sm_value_int(3),
                       sm_value_int(4)};
    sm_value nine = sm_value_int(9), ten = sm_value_int(10), seven = sm_value_int(7);
    const int64_t first3[] = {0, 1, 2}, all5[] = {0, 1, 2, 3, 4};

    /* A list: an extend that would pass the limit adds none of its items. */
    assert_sm_ok(sm_list_new(L->a, &l));
    assert_sm_ok(sm_list_extend(l, five, 3));
    assert_refused(sm_list_extend(l, five + 1, 3),
                   "list has 3 items; 3 more would pass the limit of 5 (--max-items)");
    assert_list_is(l, first3, 3);
    assert_sm_ok(sm_list_extend(l, five + 3, 2));
    assert_list_is(l, all5, 5);
    assert_refused(sm_list_append(l, &nine), lfull);
    assert_refused(sm_list_insert(l, 0, &nine), lfull);
    assert_refused(sm_list_extend(l, &nine, 1), lfull);
    assert_list_is(l, all5, 5);
    assert_sm_ok(sm_list_set(l, 0, &ten)); /* replacing is not growing */
    assert_sm_ok(sm_list_pop(l, -1, NULL));
    assert_sm_ok(sm_list_append(l, &seven));
    const int64_t now5[] = {10, 1, 2, 3, 7};
    assert_list_is(l, now5, 5);

    /* Per list: another client is refused on it, and has its own list's five. */
    sm_client *b = NULL;
    assert_sm_ok(lim_open(&b));
    assert_sm_ok(sm_list_attach(b, sm_list_token(l), &lb));
    assert_refused(sm_list_append(lb, &nine), lfull);
    assert_sm_ok(sm_list_new(b, &other));
    assert_sm_ok(sm_list_extend(other, five, 5));
    assert_list_is(other, all5, 5);
    assert_list_is(l, now5, 5);

    /* An unbounded queue: the sixth put is SM_ELIMIT at once, never parked
     * (a parked put could only end SM_OK or SM_EFULL). */
    sm_queue *q = NULL, *qb = NULL, *big = NULL;
    int64_t size = -1;
    sm_value got = sm_value_nil();
    assert_sm_ok(sm_queue_new(L->a, 0, false, &q));
    for (int i = 0; i < 5; i++)
        assert_sm_ok(sm_queue_put(q, &five[i], SM_NOWAIT));
    assert_refused(sm_queue_put(q, &nine, SM_NOWAIT), qfull);
    assert_refused(sm_queue_put(q, &nine, LIM_LONG_MS), qfull);
    assert_sm_ok(sm_queue_info(q, &size, NULL, NULL));
    assert_int_equal(size, 5);

    /* A bounded queue's own bound is still SM_EFULL. */
    assert_sm_ok(sm_queue_new(L->a, 3, false, &qb));
    for (int i = 0; i < 3; i++)
        assert_sm_ok(sm_queue_put(qb, &five[i], SM_NOWAIT));
    assert_sm_status(sm_queue_put(qb, &nine, SM_NOWAIT), SM_EFULL);

    /* A bound above the limit: the limit comes first. */
    assert_sm_ok(sm_queue_new(b, 10, false, &big));
    for (int i = 0; i < 5; i++)
        assert_sm_ok(sm_queue_put(big, &five[i], SM_NOWAIT));
    assert_refused(sm_queue_put(big, &nine, LIM_LONG_MS), qfull);

    /* Every item is there, in order; a get makes room for one put. */
    for (int i = 0; i < 5; i++) {
        assert_sm_ok(sm_queue_get(q, SM_NOWAIT, &got));
        smt_assert_value(&got, sm_value_int(i));
    }
    assert_sm_status(sm_queue_get(q, SM_NOWAIT, &got), SM_EEMPTY);
    assert_sm_ok(sm_queue_get(big, SM_NOWAIT, &got));
    smt_assert_value(&got, sm_value_int(0));
    assert_sm_ok(sm_queue_put(big, &nine, SM_NOWAIT));
    assert_refused(sm_queue_put(big, &ten, SM_NOWAIT), qfull);
    for (int i = 1; i < 5; i++) {
        assert_sm_ok(sm_queue_get(big, SM_NOWAIT, &got));
        smt_assert_value(&got, sm_value_int(i));
    }
    assert_sm_ok(sm_queue_get(big, SM_NOWAIT, &got));
    smt_assert_value(&got, sm_value_int(9));

    sm_queue_close(big);
    sm_queue_close(qb);
    sm_queue_close(q);
    sm_list_close(other);
    sm_list_close(lb);
    sm_client_close(b);
    sm_list_close(l);
}

static void
test_limit_items_queued_tasks_per_pool(void **state)
{
    lim *L = *state;
    sm_pool *p = NULL, *p2 = NULL, *pb = NULL;
    sm_imap *it = NULL, *it6 = NULL;
    sm_future *f = NULL, *f2 = NULL, *fb = NULL, *fb2 = NULL;
    sm_map_opts o = SM_MAP_OPTS_INIT;
    char d[6] = "abcdef";
    sm_bytes in[6];
    for (int i = 0; i < 6; i++) {
        in[i].data = &d[i];
        in[i].len = 1;
    }
    o.chunksize = 1; /* one task per input */

    /* No worker: submitted tasks stay queued. Six at once pass the limit,
     * and none of them is queued. */
    assert_sm_ok(sm_pool_open(L->a, "lim.pool", &p));
    assert_refused(sm_pool_imap(p, "t", in, 6, &o, &it6),
                   "pool has 0 queued tasks; 6 more would pass the limit of 5 (--max-items)");
    assert_null(it6);
    assert_int_equal(lim_queued(p), 0);
    assert_sm_ok(sm_pool_imap(p, "t", in, 5, &o, &it));
    assert_int_equal(lim_queued(p), 5);
    assert_refused(sm_pool_apply_async(p, "t", in, 1, NULL, &f),
                   "pool has 5 queued tasks; 1 more would pass the limit of 5 (--max-items)");
    assert_null(f);
    assert_int_equal(lim_queued(p), 5);

    /* Per pool, whoever submits. */
    sm_client *b = NULL;
    assert_sm_ok(lim_open(&b));
    assert_sm_ok(sm_pool_open(b, "lim.pool", &pb));
    assert_refused(sm_pool_apply_async(pb, "t", in, 1, NULL, &fb),
                   "pool has 5 queued tasks; 1 more would pass the limit of 5 (--max-items)");
    assert_sm_ok(sm_pool_open(L->a, "lim.pool2", &p2));
    assert_sm_ok(sm_pool_apply_async(p2, "t", in, 1, NULL, &f2));
    sm_pool_close(pb);
    assert_sm_ok(sm_pool_open(b, "lim.pool2", &pb));
    assert_sm_ok(sm_pool_apply_async(pb, "t", in, 1, NULL, &fb2));
    assert_int_equal(lim_queued(p2), 2);
    assert_int_equal(lim_queued(p), 5);

    /* Cancelling the queued tasks makes room again. */
    sm_imap_free(it);
    assert_int_equal(lim_queued(p), 0);
    assert_sm_ok(sm_pool_apply_async(p, "t", in, 1, NULL, &f));
    assert_int_equal(lim_queued(p), 1);

    sm_future_free(fb2);
    sm_future_free(f2);
    sm_future_free(f);
    sm_pool_close(pb);
    sm_pool_close(p2);
    sm_client_close(b);
    sm_pool_close(p);
}

/* ---------------------------------------------------------- --max-objects */

static void
test_limit_objects_live_in_the_server(void **state)
{
    lim *L = *state;
    const char *full = "20 objects live, the limit (--max-objects)";
    char names[18][64];
    sm_dict *named[17] = {0};
    sm_lock *lk = NULL, *lk2 = NULL;
    sm_dict *x = NULL, *y = NULL, *extra = NULL, *bx = NULL, *bd = NULL, *refused = NULL;
    sm_list *wrong = NULL;
    sm_cond *cv = NULL;
    sm_value one = sm_value_int(1), got = sm_value_nil();
    size_t n = 99;

    /* 17 named dicts, a named lock and two anonymous dicts: 20. */
    for (int i = 0; i < 18; i++)
        snprintf(names[i], sizeof(names[i]), "lim.obj.%d", i);
    for (int i = 0; i < 17; i++)
        assert_sm_ok(sm_dict_open(L->a, names[i], &named[i]));
    assert_sm_ok(sm_lock_open(L->a, names[17], &lk));
    assert_sm_ok(sm_dict_new(L->a, &x));
    assert_sm_ok(sm_dict_new(L->a, &y));

    /* The 21st is refused, however it would be made. */
    assert_refused(sm_dict_open(L->a, "lim.obj.extra", &extra), full);
    assert_null(extra);
    assert_refused(sm_dict_new(L->a, &extra), full);
    assert_refused(sm_lock_new(L->a, &lk2), full);
    assert_null(lk2);
    assert_refused(sm_cond_new(L->a, sm_lock_token(lk), &cv), full);

    /* Opening what exists still works, for this client and another; so
     * does every operation on the 20. */
    sm_client *b = NULL;
    assert_sm_ok(lim_open(&b));
    assert_sm_ok(sm_dict_open(b, names[3], &bd));
    assert_sm_ok(sm_dict_set(bd, "k", &one));
    assert_sm_ok(sm_dict_get(named[3], "k", &got));
    smt_assert_value(&got, sm_value_int(1));
    assert_sm_ok(sm_dict_attach(b, sm_dict_token(x), &bx));
    assert_sm_status(sm_list_open(b, names[0], &wrong), SM_EWRONGTYPE);
    assert_refused(sm_dict_open(b, "lim.obj.b", &refused), full);
    for (int i = 0; i < 17; i++) {
        sm_dict *again = NULL;
        assert_sm_ok(sm_dict_open(L->a, names[i], &again));
        assert_sm_ok(sm_dict_set(again, "i", &one));
        sm_dict_close(again);
    }

    /* Freeing one (both its proxies) makes room for exactly one. A
     * condition with no lock given makes an rlock too: two objects, so it
     * is refused, and leaves nothing behind. */
    sm_dict_close(bx);
    sm_dict_close(x);
    assert_refused(sm_cond_new(L->a, NULL, &cv), full);
    assert_null(cv);
    assert_sm_ok(sm_dict_open(L->a, "lim.obj.extra", &extra));
    assert_sm_ok(sm_dict_len(extra, &n));
    assert_int_equal(n, 0);
    assert_refused(sm_lock_new(L->a, &lk2), full);

    /* And once more: a condition on an existing lock is one object. */
    sm_dict_close(y);
    assert_sm_ok(sm_cond_new(L->a, sm_lock_token(lk), &cv));
    assert_refused(sm_dict_new(b, &refused), full);

    sm_cond_close(cv);
    sm_dict_close(extra);
    sm_dict_close(bd);
    sm_client_close(b);
    sm_lock_close(lk);
    for (int i = 0; i < 17; i++)
        sm_dict_close(named[i]);
}

/* --------------------------------------------------------- --max-sessions */

static void
test_limit_sessions_live_in_the_server(void **state)
{
    lim *L = *state;
    const char *full = "4 sessions live, the limit (--max-sessions)";
    sm_client *c[4] = {L->a, NULL, NULL, NULL}, *e = NULL, *f = NULL;
    sm_dict *d[4] = {0}, *de = NULL;
    sm_value one = sm_value_int(1), got = sm_value_nil();

    for (int i = 1; i < 4; i++)
        assert_sm_ok(lim_open(&c[i]));
    assert_refused(lim_open(&e), full);
    assert_null(e);

    /* The four keep working. */
    for (int i = 0; i < 4; i++) {
        assert_sm_ok(sm_dict_open(c[i], "lim.sess", &d[i]));
        assert_sm_ok(sm_dict_incr(d[i], "n", &one, &got));
        smt_assert_value(&got, sm_value_int(i + 1));
    }
    assert_refused(lim_open(&e), full);

    /* A closed session makes room for one more. */
    sm_dict_close(d[3]);
    sm_client_close(c[3]);
    assert_sm_ok(lim_open(&e));
    assert_sm_ok(sm_dict_open(e, "lim.sess", &de));
    assert_sm_ok(sm_dict_incr(de, "n", &one, &got));
    smt_assert_value(&got, sm_value_int(5));
    assert_refused(lim_open(&f), full);
    assert_null(f);
    for (int i = 0; i < 3; i++) {
        assert_sm_ok(sm_dict_incr(d[i], "n", &one, &got));
        smt_assert_value(&got, sm_value_int(6 + i));
    }

    sm_dict_close(de);
    sm_client_close(e);
    for (int i = 0; i < 3; i++)
        sm_dict_close(d[i]);
    for (int i = 1; i < 3; i++)
        sm_client_close(c[i]);
}

/* ------------------------------------------------------------ --max-waits */

/* A one-shot gate a worker thread opens and the main thread waits on. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
} gate;

static void
gate_init(gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->open = false;
}

static void
gate_open(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* gate_wait waits at most secs seconds; false if the gate stayed shut. */
static bool
gate_wait(gate *g, int secs)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += secs;
    pthread_mutex_lock(&g->mu);
    while (!g->open)
        if (pthread_cond_timedwait(&g->cv, &g->mu, &ts) != 0)
            break;
    bool open = g->open;
    pthread_mutex_unlock(&g->mu);
    return open;
}

static void
gate_fini(gate *g)
{
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
}

/* One waiting thread of the first client: it takes the lock through its
 * condition, then waits on the condition (parking in the server). */
typedef struct waiter {
    sm_cond *cv;
    sm_list *order;
    int id;
    gate held;
    pthread_t tid;
    int acquire_rv, wait_rv, append_rv, release_rv;
    bool notified;
} waiter;

static void *
waiter_main(void *arg)
{
    waiter *w = arg;
    w->acquire_rv = sm_cond_acquire(w->cv, LIM_LONG_MS);
    gate_open(&w->held);
    if (w->acquire_rv != SM_OK)
        return NULL;
    w->wait_rv = sm_cond_wait(w->cv, LIM_LONG_MS, &w->notified);
    sm_value me = sm_value_int(w->id);
    w->append_rv = sm_list_append(w->order, &me); /* holding the lock again */
    w->release_rv = sm_cond_release(w->cv);
    return NULL;
}

static void
test_limit_waits_per_session(void **state)
{
    lim *L = *state;
    const char *full = "session has 3 requests waiting, the limit (--max-waits)";
    enum { NW = 3 };
    waiter w[NW];
    sm_client *b = NULL, *c = NULL;
    sm_lock *la = NULL, *lb = NULL, *lc = NULL, *l2 = NULL;
    sm_cond *cvb[NW] = {0}, *cv2 = NULL;
    sm_list *order = NULL;
    char cvname[NW][64];
    bool flag = true;

    assert_sm_ok(lim_open(&b));
    assert_sm_ok(lim_open(&c));
    assert_sm_ok(sm_lock_open(L->a, "lim.wait.lock", &la));
    assert_sm_ok(sm_lock_open(b, "lim.wait.lock", &lb));
    assert_sm_ok(sm_lock_open(c, "lim.wait.lock", &lc));
    assert_sm_ok(sm_list_open(L->a, "lim.wait.order", &order));
    memset(w, 0, sizeof(w));
    for (int k = 0; k < NW; k++) {
        snprintf(cvname[k], sizeof(cvname[k]), "lim.wait.cv.%d", k);
        w[k].id = k;
        w[k].order = order;
        w[k].acquire_rv = w[k].wait_rv = w[k].append_rv = w[k].release_rv = -1;
        gate_init(&w[k].held);
        assert_sm_ok(sm_cond_open(L->a, cvname[k], sm_lock_token(la), &w[k].cv));
        assert_sm_ok(sm_cond_open(b, cvname[k], NULL, &cvb[k]));
    }

    /* Park three waits of the first client's session, each confirmed by the
     * second client's acquire (granted only once the waiter let go of the
     * lock by parking). The second client keeps the lock after the third. */
    for (int k = 0; k < NW; k++) {
        assert_int_equal(pthread_create(&w[k].tid, NULL, waiter_main, &w[k]), 0);
        assert_true(gate_wait(&w[k].held, LIM_LONG_MS / 1000));
        assert_sm_ok(w[k].acquire_rv);
        assert_sm_ok(sm_lock_acquire(lb, LIM_LONG_MS));
        if (k < NW - 1)
            assert_sm_ok(sm_lock_release(lb));
    }
    /* Notified, they wait for the held lock instead: still three parked
     * requests of that session, now lock acquires. */
    for (int k = 0; k < NW; k++)
        assert_sm_ok(sm_cond_notify(cvb[k], 1));

    /* A fourth parked request of that session is refused, whatever it waits
     * for, and changes nothing. */
    assert_refused(sm_lock_acquire(la, LIM_LONG_MS), full);
    sm_barrier *bar = NULL;
    int64_t parties = -1, waiting = -1;
    bool broken = true;
    assert_sm_ok(sm_barrier_new(L->a, 2, &bar));
    assert_refused(sm_barrier_wait(bar, LIM_LONG_MS, NULL), full);
    assert_sm_ok(sm_barrier_info(bar, &parties, &waiting, &broken));
    assert_int_equal(parties, 2);
    assert_int_equal(waiting, 0);
    assert_false(broken);
    sm_event *ev = NULL;
    assert_sm_ok(sm_event_new(L->a, &ev));
    assert_refused(sm_event_wait(ev, LIM_LONG_MS, &flag), full);
    assert_true(flag); /* untouched */
    sm_queue *q = NULL;
    sm_value item = sm_value_int(42), got = sm_value_nil();
    int64_t size = -1;
    assert_sm_ok(sm_queue_new(L->a, 1, false, &q));
    assert_refused(sm_queue_get(q, LIM_LONG_MS, &got), full);
    assert_sm_ok(sm_queue_put(q, &item, SM_NOWAIT));
    assert_refused(sm_queue_put(q, &item, LIM_LONG_MS), full); /* full: it would wait */
    assert_sm_ok(sm_queue_info(q, &size, NULL, NULL));
    assert_int_equal(size, 1);
    /* A condition wait refused keeps its lock: nothing was released. */
    bool locked = false;
    assert_sm_ok(sm_lock_new(L->a, &l2));
    assert_sm_ok(sm_cond_new(L->a, sm_lock_token(l2), &cv2));
    assert_sm_ok(sm_lock_acquire(l2, SM_NOWAIT));
    assert_refused(sm_cond_wait(cv2, LIM_LONG_MS, NULL), full);
    assert_sm_ok(sm_lock_locked(l2, &locked));
    assert_true(locked);
    assert_sm_ok(sm_lock_release(l2));
    /* Calls that need not wait still work in that session. */
    assert_sm_ok(sm_queue_get(q, LIM_LONG_MS, &got));
    smt_assert_value(&got, sm_value_int(42));
    assert_sm_ok(sm_event_set(ev));
    assert_sm_ok(sm_event_wait(ev, LIM_LONG_MS, &flag));
    assert_true(flag);

    /* The limit is per session: another client's acquire of the held lock
     * parks, and ends in its own timeout, not in SM_ELIMIT. */
    assert_sm_status(sm_lock_acquire(lc, 200), SM_ETIMEDOUT);

    /* Released, the lock goes to the three parked waiters in turn. */
    assert_sm_ok(sm_lock_release(lb));
    for (int k = 0; k < NW; k++)
        smt_join_or_fail(w[k].tid, 3 * LIM_LONG_MS / 1000);
    for (int k = 0; k < NW; k++) {
        assert_sm_ok(w[k].wait_rv);
        assert_true(w[k].notified);
        assert_sm_ok(w[k].append_rv);
        assert_sm_ok(w[k].release_rv);
    }
    const int64_t in_order[] = {0, 1, 2};
    assert_list_is(order, in_order, 3);

    /* Answered, they no longer count: the first session parks again. */
    assert_sm_ok(sm_lock_acquire(lb, SM_NOWAIT));
    assert_sm_status(sm_lock_acquire(la, 100), SM_ETIMEDOUT);
    assert_sm_ok(sm_lock_release(lb));
    assert_sm_ok(sm_lock_acquire(la, SM_NOWAIT));
    assert_sm_ok(sm_lock_release(la));

    sm_cond_close(cv2);
    sm_lock_close(l2);
    sm_queue_close(q);
    sm_event_close(ev);
    sm_barrier_close(bar);
    for (int k = 0; k < NW; k++) {
        sm_cond_close(cvb[k]);
        sm_cond_close(w[k].cv);
        gate_fini(&w[k].held);
    }
    sm_list_close(order);
    sm_lock_close(lc);
    sm_lock_close(lb);
    sm_lock_close(la);
    sm_client_close(c);
    sm_client_close(b);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_limit_value_refused_wherever_values_enter,
                                        lim_setup, lim_teardown),
        cmocka_unit_test_setup_teardown(test_limit_keys_per_dict_and_namespace, lim_setup,
                                        lim_teardown),
        cmocka_unit_test_setup_teardown(test_limit_items_per_list_and_queue, lim_setup,
                                        lim_teardown),
        cmocka_unit_test_setup_teardown(test_limit_items_queued_tasks_per_pool, lim_setup,
                                        lim_teardown),
        cmocka_unit_test_setup_teardown(test_limit_objects_live_in_the_server, lim_setup,
                                        lim_teardown),
        cmocka_unit_test_setup_teardown(test_limit_sessions_live_in_the_server, lim_setup,
                                        lim_teardown),
        cmocka_unit_test_setup_teardown(test_limit_waits_per_session, lim_setup, lim_teardown),
    };
    return SMT_MAIN("limits", tests);
}
