/* test_batch.c - batches (syncmgr.h, "batches"): many operations of one
 * client in one round trip, against a real syncmgrd over ipc:// and tcp://.
 *
 * Checks, through the public API only:
 *   - an atomic batch over a dict, a list, a var, an array and a namespace
 *     applies every operation in order in one sm_batch_exec, and fills in
 *     every output exactly (out values, counts, cas and contains flags,
 *     key, value and slice arrays), each as it was when its operation ran;
 *   - a recorded call returns SM_OK and changes nothing, and leaves its
 *     outputs alone, until sm_batch_exec (read by a second client);
 *   - an atomic batch that fails changes nothing: sm_batch_exec returns the
 *     failed operation's status, sm_batch_failed() its index,
 *     sm_batch_status() that status for it and SM_ECANCELLED for every other,
 *     no output is filled in, and every object reads back exactly as before
 *     (dict key order, deleted, popped and cleared keys, objects written
 *     twice), whether the failure is the first, a middle or the last op;
 *   - the rollback of references: a key holding the only reference to an
 *     anonymous list, deleted or popped by a failed atomic batch, is back and
 *     the list is whole; deleted by a batch that succeeds, the list is
 *     freed; a reference stored by a failed batch holds nothing afterwards;
 *     namespaces roll back like dicts;
 *   - pipeline batches apply the operations that succeed and only those,
 *     with exact per-operation statuses and outputs;
 *   - calls that cannot be batched are SM_EINVAL while recording and are not
 *     recorded (sm_dict_len, sm_dict_get_or, sm_lock_acquire, sm_dict_open,
 *     ...), nor are calls whose own checks fail; sm_batch_len counts the
 *     recorded ones; misuse of the sm_batch_* calls is SM_EINVAL;
 *   - recording is per thread and per client: calls on another client, and
 *     calls on the same client from another thread, go out at once; two
 *     threads may record and run batches on one client at the same time;
 *     sm_batch_exec from another thread than the one that began the batch
 *     is SM_EINVAL and the recording goes on;
 *   - an empty batch; sm_batch_free without sm_batch_exec sends nothing; a
 *     proxy closed while recording is released at once;
 *   - atomicity under concurrency: 4 processes run 500 atomic batches each
 *     of [incr a +1, incr b -1, var +1] while a reader process's atomic
 *     reads always see a + b == 0 and var == a; the totals are exact;
 *   - size: 10,000 dict.set in one pipeline batch; 65,536 operations is the
 *     limit (the 65,537th record call is SM_EINVAL) and a full batch runs.
 *
 * Outputs start as sentinels, so a test sees whether a call wrote them. A
 * test that fails while recording must not leave its thread recording (every
 * later call on the group's client would be refused): the batch in use is
 * kept in tb_batch and freed by the teardown. */
#include "smt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* SMV turns a value expression into a pointer to a temporary copy. */
#define SMV(expr) ((const sm_value[]){expr})

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* A value that must survive a call that does not fill it in. */
#define SENTINEL sm_value_int(-424242)
#define SENTINEL_N ((size_t)12345)

/* ------------------------------------------------------------- fixtures */

static sm_batch *tb_batch; /* the batch being recorded or run, if any */
static sm_client *tb_c2;   /* a second client, opened by second_client() */

static int
tb_teardown(void **state)
{
    (void)state;
    sm_batch_free(tb_batch); /* ends recording if a failed test left it on */
    tb_batch = NULL;
    sm_client_close(tb_c2);
    tb_c2 = NULL;
    return 0;
}

/* begin starts recording a batch of mode on the group's client. */
static sm_batch *
begin(int mode)
{
    assert_null(tb_batch);
    assert_sm_ok(sm_batch_begin(smt_client(), mode, &tb_batch));
    assert_non_null(tb_batch);
    return tb_batch;
}

static void
end(void)
{
    sm_batch_free(tb_batch);
    tb_batch = NULL;
}

/* second_client opens another client on the group's server. */
static sm_client *
second_client(void)
{
    if (tb_c2 == NULL)
        assert_sm_ok(sm_client_open(&tb_c2, smt_url(), NULL));
    return tb_c2;
}

/* ---------------------------------------------------------------- checks */

/* check_dict fails unless d holds exactly keys[i] -> vals[i], in order. */
static void
check_dict(sm_dict *d, const char *const *keys, const sm_value *vals, size_t n, const char *file,
           int line)
{
    char **ks = NULL;
    sm_value *vs = NULL;
    size_t ni = SENTINEL_N, len = SENTINEL_N;
    char what[96];

    smt_assert_status(sm_dict_len(d, &len), SM_OK, "sm_dict_len", file, line);
    smt_assert_status(sm_dict_items(d, &ks, &vs, &ni), SM_OK, "sm_dict_items", file, line);
    if (len != n || ni != n) {
        print_error("dict has %zu keys (items gave %zu), wanted %zu\n", len, ni, n);
        for (size_t i = 0; i < ni; i++)
            print_error("  key %zu: \"%s\"\n", i, ks[i]);
        _fail(file, line);
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ks[i], keys[i]) != 0) {
            print_error("dict key %zu is \"%s\", wanted \"%s\"\n", i, ks[i], keys[i]);
            _fail(file, line);
        }
        snprintf(what, sizeof(what), "dict[\"%.40s\"] (key %zu)", keys[i], i);
        smt_check_value(&vs[i], &vals[i], what, file, line);
    }
    sm_strings_free(ks, ni);
    sm_values_free(vs, ni);
}
#define assert_dict_is(d, keys, vals, n) check_dict((d), (keys), (vals), (n), __FILE__, __LINE__)

/* check_list fails unless l holds exactly vals[0..n-1]. */
static void
check_list(sm_list *l, const sm_value *vals, size_t n, const char *file, int line)
{
    sm_value *vs = NULL;
    size_t got = SENTINEL_N, len = SENTINEL_N;
    char what[64];

    smt_assert_status(sm_list_len(l, &len), SM_OK, "sm_list_len", file, line);
    smt_assert_status(sm_list_slice(l, 0, SM_END, &vs, &got), SM_OK, "sm_list_slice", file, line);
    if (len != n || got != n) {
        print_error("list has %zu items (slice gave %zu), wanted %zu\n", len, got, n);
        _fail(file, line);
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(what, sizeof(what), "list[%zu]", i);
        smt_check_value(&vs[i], &vals[i], what, file, line);
    }
    sm_values_free(vs, got);
}
#define assert_list_is(l, vals, n) check_list((l), (vals), (n), __FILE__, __LINE__)

static void
check_var(sm_var *v, sm_value want, const char *file, int line)
{
    sm_value got = sm_value_nil();
    smt_assert_status(sm_var_get(v, &got), SM_OK, "sm_var_get", file, line);
    smt_check_value(&got, &want, "var", file, line);
    sm_value_clear(&got);
}
#define assert_var_is(v, want) check_var((v), (want), __FILE__, __LINE__)

/* check_array fails unless a holds exactly vals[0..n-1]. */
static void
check_array(sm_array *a, const sm_value *vals, size_t n, const char *file, int line)
{
    sm_value *vs = NULL;
    size_t got = SENTINEL_N;
    char what[64];

    smt_assert_status(sm_array_get_slice(a, 0, SM_END, &vs, &got), SM_OK, "sm_array_get_slice",
                      file, line);
    if (got != n) {
        print_error("array slice gave %zu elements, wanted %zu\n", got, n);
        _fail(file, line);
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(what, sizeof(what), "array[%zu]", i);
        smt_check_value(&vs[i], &vals[i], what, file, line);
    }
    sm_values_free(vs, got);
}
#define assert_array_is(a, vals, n) check_array((a), (vals), (n), __FILE__, __LINE__)

/* check_statuses fails unless sm_batch_status(b, i) is want[i] for every
 * operation and there are exactly n. */
static void
check_statuses(const sm_batch *b, const int *want, size_t n, const char *file, int line)
{
    char what[64];
    if (sm_batch_len(b) != n) {
        print_error("sm_batch_len is %zu, wanted %zu\n", sm_batch_len(b), n);
        _fail(file, line);
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(what, sizeof(what), "sm_batch_status(b, %zu)", i);
        smt_assert_status(sm_batch_status(b, i), want[i], what, file, line);
    }
    smt_assert_status(sm_batch_status(b, n), SM_EINVAL, "sm_batch_status(b, len)", file, line);
}
#define assert_statuses(b, want, n) check_statuses((b), (want), (n), __FILE__, __LINE__)

/* check_all_ok: every one of n operations SM_OK and none failed. */
static void
check_all_ok(const sm_batch *b, size_t n, const char *file, int line)
{
    char what[64];
    if (sm_batch_len(b) != n) {
        print_error("sm_batch_len is %zu, wanted %zu\n", sm_batch_len(b), n);
        _fail(file, line);
    }
    for (size_t i = 0; i < n; i++) {
        int rv = sm_batch_status(b, i);
        if (rv != SM_OK) {
            snprintf(what, sizeof(what), "sm_batch_status(b, %zu)", i);
            smt_assert_status(rv, SM_OK, what, file, line);
        }
    }
    if (sm_batch_failed(b) != -1) {
        print_error("sm_batch_failed is %" PRId64 ", wanted -1\n", sm_batch_failed(b));
        _fail(file, line);
    }
}
#define assert_all_ok(b, n) check_all_ok((b), (n), __FILE__, __LINE__)

/* --------------------------------------------- the mixed failing batch
 *
 * One batch over four objects whose operation MIXED_FAIL (a dict.incr on a
 * string) fails with SM_EBADVALUE after eleven that succeed, one more
 * following it. Atomic, nothing of it stays; pipelined, all but it do. */

typedef struct mixed {
    sm_dict *d;
    sm_list *l;
    sm_var *v;
    sm_array *a;
    sm_value pop_out, incr_out, lpop_out, vadd_out, aadd_out, bad_out;
} mixed;

#define MIXED_N 13
#define MIXED_FAIL 11

static void
mixed_open(mixed *m)
{
    const sm_value ainit[] = {sm_value_int(1), sm_value_int(2), sm_value_int(3)};
    memset(m, 0, sizeof(*m));
    assert_sm_ok(sm_dict_open(smt_client(), smt_name("batch.mixed.d"), &m->d));
    assert_sm_ok(sm_list_open(smt_client(), smt_name("batch.mixed.l"), &m->l));
    assert_sm_ok(sm_var_open(smt_client(), smt_name("batch.mixed.v"), SMV(sm_value_str("orig")),
                             &m->v));
    assert_sm_ok(
        sm_array_open(smt_client(), smt_name("batch.mixed.a"), 'i', ainit, 3, &m->a));
    assert_sm_ok(sm_dict_set(m->d, "k1", SMV(sm_value_int(1))));
    assert_sm_ok(sm_dict_set(m->d, "s", SMV(sm_value_str("text"))));
    assert_sm_ok(sm_dict_set(m->d, "k2", SMV(sm_value_int(2))));
    assert_sm_ok(sm_dict_set(m->d, "gone", SMV(sm_value_str("g"))));
    assert_sm_ok(sm_list_append(m->l, SMV(sm_value_int(1))));
    assert_sm_ok(sm_list_append(m->l, SMV(sm_value_int(2))));
    m->pop_out = m->incr_out = m->lpop_out = SENTINEL;
    m->vadd_out = m->aadd_out = m->bad_out = SENTINEL;
}

/* mixed_assert_initial: the objects as mixed_open left them. */
static void
mixed_assert_initial(mixed *m)
{
    const char *keys[] = {"k1", "s", "k2", "gone"};
    const sm_value vals[] = {sm_value_int(1), sm_value_str("text"), sm_value_int(2),
                             sm_value_str("g")};
    const sm_value items[] = {sm_value_int(1), sm_value_int(2)};
    const sm_value elems[] = {sm_value_int(1), sm_value_int(2), sm_value_int(3)};
    assert_dict_is(m->d, keys, vals, N_ELEMS(keys));
    assert_list_is(m->l, items, N_ELEMS(items));
    assert_var_is(m->v, sm_value_str("orig"));
    assert_array_is(m->a, elems, N_ELEMS(elems));
}

static void
mixed_record(mixed *m)
{
    assert_sm_ok(sm_dict_set(m->d, "new", SMV(sm_value_int(1))));               /* 0 */
    assert_sm_ok(sm_dict_set(m->d, "k1", SMV(sm_value_int(100))));              /* 1 */
    assert_sm_ok(sm_dict_del(m->d, "k2"));                                      /* 2 */
    assert_sm_ok(sm_dict_pop(m->d, "gone", NULL, &m->pop_out));                 /* 3 */
    assert_sm_ok(sm_dict_incr(m->d, "k1", SMV(sm_value_int(1)), &m->incr_out)); /* 4 */
    assert_sm_ok(sm_list_append(m->l, SMV(sm_value_str("x"))));                 /* 5 */
    assert_sm_ok(sm_list_pop(m->l, 0, &m->lpop_out));                           /* 6 */
    assert_sm_ok(sm_var_set(m->v, SMV(sm_value_int(9))));                       /* 7 */
    assert_sm_ok(sm_var_add(m->v, SMV(sm_value_int(1)), &m->vadd_out));         /* 8 */
    assert_sm_ok(sm_array_set(m->a, 0, SMV(sm_value_int(77))));                 /* 9 */
    assert_sm_ok(sm_array_add(m->a, 2, SMV(sm_value_int(1)), &m->aadd_out));    /* 10 */
    assert_sm_ok(sm_dict_incr(m->d, "s", SMV(sm_value_int(1)), &m->bad_out));   /* 11: fails */
    assert_sm_ok(sm_list_append(m->l, SMV(sm_value_str("after"))));             /* 12 */
}

static void
mixed_close(mixed *m)
{
    assert_sm_ok(sm_dict_close(m->d));
    assert_sm_ok(sm_list_close(m->l));
    assert_sm_ok(sm_var_close(m->v));
    assert_sm_ok(sm_array_close(m->a));
}

/* ------------------------------------------------- atomic: everything */

static void
test_atomic_batch_applies_every_op_and_fills_every_output(void **state)
{
    (void)state;
    sm_dict *d = NULL;
    sm_list *l = NULL;
    sm_var *v = NULL;
    sm_array *a = NULL;
    sm_ns *ns = NULL;
    const sm_value ainit[] = {sm_value_int(1), sm_value_int(2), sm_value_int(3), sm_value_int(4)};

    assert_sm_ok(sm_dict_open(smt_client(), smt_name("batch.d"), &d));
    assert_sm_ok(sm_list_open(smt_client(), smt_name("batch.l"), &l));
    assert_sm_ok(sm_var_open(smt_client(), smt_name("batch.v"), SMV(sm_value_int(5)), &v));
    assert_sm_ok(sm_array_open(smt_client(), smt_name("batch.a"), 'q', ainit, 4, &a));
    assert_sm_ok(sm_ns_open(smt_client(), smt_name("batch.ns"), &ns));
    assert_sm_ok(sm_dict_set(d, "a", SMV(sm_value_int(1))));
    assert_sm_ok(sm_dict_set(d, "s", SMV(sm_value_str("x"))));
    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(10))));
    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(20))));
    assert_sm_ok(sm_ns_set(ns, "w", SMV(sm_value_int(0))));

    sm_value incr_out = SENTINEL, get_out = SENTINEL, sd_out = SENTINEL, pop_out = SENTINEL;
    char **keys = NULL;
    size_t nkeys = SENTINEL_N;
    sm_value *dvals = NULL;
    size_t ndvals = SENTINEL_N;
    sm_value lget = SENTINEL, lpop = SENTINEL;
    int64_t lidx = -77;
    sm_value *lsl = NULL;
    size_t nlsl = SENTINEL_N;
    sm_value vadd = SENTINEL, cur1 = SENTINEL, cur2 = SENTINEL, vget = SENTINEL;
    bool sw1 = false, sw2 = true;
    sm_value aadd = SENTINEL, aget = SENTINEL;
    sm_value *asl = NULL;
    size_t nasl = SENTINEL_N;
    sm_value nsget = SENTINEL;
    char **names = NULL;
    size_t nnames = SENTINEL_N;
    bool has_a = false, has_c = true;

    sm_batch *b = begin(SM_BATCH_ATOMIC);
    /* dict {a: 1, s: "x"} */
    assert_sm_ok(sm_dict_set(d, "b", SMV(sm_value_str("bee"))));              /* 0 */
    assert_sm_ok(sm_dict_incr(d, "a", SMV(sm_value_int(41)), &incr_out));     /* 1: 42 */
    assert_sm_ok(sm_dict_get(d, "s", &get_out));                              /* 2: "x" */
    assert_sm_ok(sm_dict_setdefault(d, "c", SMV(sm_value_int(7)), &sd_out)); /* 3: 7 */
    assert_sm_ok(sm_dict_pop(d, "s", NULL, &pop_out));                        /* 4: "x" */
    assert_sm_ok(sm_dict_keys(d, &keys, &nkeys));                             /* 5: a b c */
    assert_sm_ok(sm_dict_values(d, &dvals, &ndvals));                         /* 6 */
    /* list [10, 20] */
    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(30))));           /* 7: [10 20 30] */
    assert_sm_ok(sm_list_insert(l, 0, SMV(sm_value_int(5))));         /* 8: [5 10 20 30] */
    assert_sm_ok(sm_list_get(l, -1, &lget));                          /* 9: 30 */
    assert_sm_ok(sm_list_set(l, 1, SMV(sm_value_int(11))));           /* 10: [5 11 20 30] */
    assert_sm_ok(sm_list_pop(l, 0, &lpop));                           /* 11: 5 */
    assert_sm_ok(sm_list_index(l, SMV(sm_value_int(20)), 0, SM_END, &lidx)); /* 12: 1 */
    assert_sm_ok(sm_list_remove(l, SMV(sm_value_int(11))));           /* 13: [20 30] */
    assert_sm_ok(sm_list_slice(l, 0, SM_END, &lsl, &nlsl));           /* 14 */
    /* var 5 */
    assert_sm_ok(sm_var_add(v, SMV(sm_value_int(10)), &vadd)); /* 15: 15 */
    /* 16: swaps to 100; 17: does not swap */
    assert_sm_ok(sm_var_cas(v, SMV(sm_value_int(15)), SMV(sm_value_int(100)), &sw1, &cur1));
    assert_sm_ok(sm_var_cas(v, SMV(sm_value_int(15)), SMV(sm_value_int(200)), &sw2, &cur2));
    assert_sm_ok(sm_var_set(v, SMV(sm_value_double(2.5)))); /* 18 */
    assert_sm_ok(sm_var_get(v, &vget));                     /* 19 */
    /* array [1 2 3 4] */
    assert_sm_ok(sm_array_set(a, 0, SMV(sm_value_int(100))));         /* 20 */
    assert_sm_ok(sm_array_add(a, 1, SMV(sm_value_int(5)), &aadd));    /* 21: 7 */
    assert_sm_ok(sm_array_get(a, 0, &aget));                          /* 22: 100 */
    assert_sm_ok(sm_array_get_slice(a, 0, SM_END, &asl, &nasl));      /* 23 */
    assert_sm_ok(sm_dict_del(d, "c"));                                /* 24 */
    /* namespace {w: 0} */
    assert_sm_ok(sm_ns_set(ns, "x", SMV(sm_value_str("ex"))));        /* 25 */
    assert_sm_ok(sm_ns_get(ns, "x", &nsget));                         /* 26 */
    assert_sm_ok(sm_ns_list(ns, &names, &nnames));                    /* 27: w x */
    assert_sm_ok(sm_ns_del(ns, "w"));                                 /* 28 */
    assert_sm_ok(sm_dict_contains(d, "a", &has_a));                   /* 29: true */
    assert_sm_ok(sm_dict_contains(d, "c", &has_c));                   /* 30: false */
    assert_int_equal(sm_batch_len(b), 31);

    /* Nothing is filled in before the round trip. */
    smt_assert_value(&incr_out, SENTINEL);
    smt_assert_value(&get_out, SENTINEL);
    smt_assert_value(&vget, SENTINEL);
    assert_null(keys);
    assert_int_equal(nkeys, SENTINEL_N);
    assert_int_equal(nasl, SENTINEL_N);
    assert_int_equal(lidx, -77);
    assert_false(sw1);
    assert_true(sw2);
    assert_false(has_a);
    assert_true(has_c);

    assert_sm_ok(sm_batch_exec(b));
    assert_all_ok(b, 31);

    /* Every output, as it was when its operation ran. */
    smt_assert_value(&incr_out, sm_value_int(42));
    smt_assert_value_is(&get_out, SMV(sm_value_str("x")));
    smt_assert_value(&sd_out, sm_value_int(7));
    smt_assert_value_is(&pop_out, SMV(sm_value_str("x")));
    assert_int_equal(nkeys, 3);
    assert_non_null(keys);
    assert_string_equal(keys[0], "a");
    assert_string_equal(keys[1], "b");
    assert_string_equal(keys[2], "c");
    assert_int_equal(ndvals, 3);
    smt_assert_value(&dvals[0], sm_value_int(42));
    smt_assert_value_is(&dvals[1], SMV(sm_value_str("bee")));
    smt_assert_value(&dvals[2], sm_value_int(7));
    smt_assert_value(&lget, sm_value_int(30));
    smt_assert_value(&lpop, sm_value_int(5));
    assert_int_equal(lidx, 1);
    assert_int_equal(nlsl, 2);
    smt_assert_value(&lsl[0], sm_value_int(20));
    smt_assert_value(&lsl[1], sm_value_int(30));
    smt_assert_value(&vadd, sm_value_int(15));
    assert_true(sw1);
    smt_assert_value(&cur1, sm_value_int(100));
    assert_false(sw2);
    smt_assert_value(&cur2, sm_value_int(100));
    smt_assert_value(&vget, sm_value_double(2.5));
    smt_assert_value(&aadd, sm_value_int(7));
    smt_assert_value(&aget, sm_value_int(100));
    assert_int_equal(nasl, 4);
    smt_assert_value(&asl[0], sm_value_int(100));
    smt_assert_value(&asl[1], sm_value_int(7));
    smt_assert_value(&asl[2], sm_value_int(3));
    smt_assert_value(&asl[3], sm_value_int(4));
    smt_assert_value_is(&nsget, SMV(sm_value_str("ex")));
    assert_int_equal(nnames, 2);
    assert_string_equal(names[0], "w");
    assert_string_equal(names[1], "x");
    assert_true(has_a);
    assert_false(has_c);
    end();

    /* The objects, read back. */
    const char *dk[] = {"a", "b"};
    const sm_value dv[] = {sm_value_int(42), sm_value_str("bee")};
    const sm_value lv[] = {sm_value_int(20), sm_value_int(30)};
    const sm_value av[] = {sm_value_int(100), sm_value_int(7), sm_value_int(3), sm_value_int(4)};
    assert_dict_is(d, dk, dv, N_ELEMS(dk));
    assert_list_is(l, lv, N_ELEMS(lv));
    assert_var_is(v, sm_value_double(2.5));
    assert_array_is(a, av, N_ELEMS(av));
    char **nl = NULL;
    size_t nn = SENTINEL_N;
    sm_value got = SENTINEL;
    assert_sm_ok(sm_ns_list(ns, &nl, &nn));
    assert_int_equal(nn, 1);
    assert_string_equal(nl[0], "x");
    sm_strings_free(nl, nn);
    assert_sm_status(sm_ns_get(ns, "w", &got), SM_ENOKEY);
    assert_sm_ok(sm_ns_get(ns, "x", &got));
    smt_assert_value_is(&got, SMV(sm_value_str("ex")));
    sm_value_clear(&got);

    sm_value_clear(&get_out);
    sm_value_clear(&pop_out);
    sm_strings_free(keys, nkeys);
    sm_values_free(dvals, ndvals);
    sm_values_free(lsl, nlsl);
    sm_values_free(asl, nasl);
    sm_value_clear(&nsget);
    sm_strings_free(names, nnames);
    assert_sm_ok(sm_dict_close(d));
    assert_sm_ok(sm_list_close(l));
    assert_sm_ok(sm_var_close(v));
    assert_sm_ok(sm_array_close(a));
    assert_sm_ok(sm_ns_close(ns));
}

static void
test_recorded_calls_change_nothing_until_exec(void **state)
{
    (void)state;
    char dn[256], ln[256], vn[256], an[256];
    sm_dict *d = NULL, *d2 = NULL;
    sm_list *l = NULL, *l2 = NULL;
    sm_var *v = NULL, *v2 = NULL;
    sm_array *a = NULL, *a2 = NULL;
    sm_client *c2 = second_client();
    const sm_value ainit[] = {sm_value_int(1), sm_value_int(2)};

    snprintf(dn, sizeof(dn), "%s", smt_name("batch.d"));
    snprintf(ln, sizeof(ln), "%s", smt_name("batch.l"));
    snprintf(vn, sizeof(vn), "%s", smt_name("batch.v"));
    snprintf(an, sizeof(an), "%s", smt_name("batch.a"));
    assert_sm_ok(sm_dict_open(smt_client(), dn, &d));
    assert_sm_ok(sm_list_open(smt_client(), ln, &l));
    assert_sm_ok(sm_var_open(smt_client(), vn, SMV(sm_value_int(1)), &v));
    assert_sm_ok(sm_array_open(smt_client(), an, 'i', ainit, 2, &a));
    assert_sm_ok(sm_dict_open(c2, dn, &d2));
    assert_sm_ok(sm_list_open(c2, ln, &l2));
    assert_sm_ok(sm_var_open(c2, vn, NULL, &v2));
    assert_sm_ok(sm_array_open(c2, an, 'i', NULL, 2, &a2));
    assert_sm_ok(sm_dict_set(d, "old", SMV(sm_value_str("o"))));

    const char *k0[] = {"old"};
    const sm_value d0[] = {sm_value_str("o")};
    sm_value got = SENTINEL;

    sm_batch *b = begin(SM_BATCH_ATOMIC);
    assert_sm_ok(sm_dict_get(d, "old", &got));
    assert_sm_ok(sm_dict_set(d, "k", SMV(sm_value_int(1))));
    assert_sm_ok(sm_dict_del(d, "old"));
    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(1))));
    assert_sm_ok(sm_var_set(v, SMV(sm_value_str("new"))));
    assert_sm_ok(sm_array_set(a, 0, SMV(sm_value_int(9))));
    assert_int_equal(sm_batch_len(b), 6);
    assert_sm_status(sm_batch_status(b, 0), SM_EINVAL); /* not sent yet */
    assert_int_equal(sm_batch_failed(b), -1);

    /* The second client sees the objects as they were; outputs untouched. */
    assert_dict_is(d2, k0, d0, 1);
    assert_list_is(l2, NULL, 0);
    assert_var_is(v2, sm_value_int(1));
    assert_array_is(a2, ainit, 2);
    smt_assert_value(&got, SENTINEL);

    assert_sm_ok(sm_batch_exec(b));
    assert_all_ok(b, 6);
    end();
    smt_assert_value_is(&got, SMV(sm_value_str("o")));
    sm_value_clear(&got);

    const char *k1[] = {"k"};
    const sm_value d1[] = {sm_value_int(1)};
    const sm_value l1[] = {sm_value_int(1)};
    const sm_value a1[] = {sm_value_int(9), sm_value_int(2)};
    assert_dict_is(d2, k1, d1, 1);
    assert_list_is(l2, l1, 1);
    assert_var_is(v2, sm_value_str("new"));
    assert_array_is(a2, a1, 2);
    assert_dict_is(d, k1, d1, 1);

    assert_sm_ok(sm_dict_close(d2));
    assert_sm_ok(sm_list_close(l2));
    assert_sm_ok(sm_var_close(v2));
    assert_sm_ok(sm_array_close(a2));
    assert_sm_ok(sm_dict_close(d));
    assert_sm_ok(sm_list_close(l));
    assert_sm_ok(sm_var_close(v));
    assert_sm_ok(sm_array_close(a));
}

/* ---------------------------------------------------- atomic: rollback */

static void
test_atomic_failure_rolls_every_object_back(void **state)
{
    (void)state;
    mixed m;
    mixed_open(&m);

    sm_batch *b = begin(SM_BATCH_ATOMIC);
    mixed_record(&m);
    assert_int_equal(sm_batch_len(b), MIXED_N);
    assert_sm_status(sm_batch_exec(b), SM_EBADVALUE);
    assert_int_equal(sm_batch_failed(b), MIXED_FAIL);
    int want[MIXED_N];
    for (size_t i = 0; i < MIXED_N; i++)
        want[i] = i == MIXED_FAIL ? SM_EBADVALUE : SM_ECANCELLED;
    assert_statuses(b, want, MIXED_N);
    end();

    /* No output filled in. */
    smt_assert_value(&m.pop_out, SENTINEL);
    smt_assert_value(&m.incr_out, SENTINEL);
    smt_assert_value(&m.lpop_out, SENTINEL);
    smt_assert_value(&m.vadd_out, SENTINEL);
    smt_assert_value(&m.aadd_out, SENTINEL);
    smt_assert_value(&m.bad_out, SENTINEL);

    /* Every object as before: "k2" deleted and "gone" popped are back in
     * their places, "new" is not there, k1 is 1. */
    mixed_assert_initial(&m);

    /* And the objects still work (the restored state is live). */
    assert_sm_ok(sm_dict_set(m.d, "k2", SMV(sm_value_int(22))));
    assert_sm_ok(sm_list_append(m.l, SMV(sm_value_int(3))));
    const char *keys[] = {"k1", "s", "k2", "gone"};
    const sm_value vals[] = {sm_value_int(1), sm_value_str("text"), sm_value_int(22),
                             sm_value_str("g")};
    const sm_value items[] = {sm_value_int(1), sm_value_int(2), sm_value_int(3)};
    assert_dict_is(m.d, keys, vals, N_ELEMS(keys));
    assert_list_is(m.l, items, N_ELEMS(items));
    mixed_close(&m);
}

static void
test_atomic_failure_in_the_first_op_changes_nothing(void **state)
{
    (void)state;
    mixed m;
    mixed_open(&m);
    sm_value got = SENTINEL;

    sm_batch *b = begin(SM_BATCH_ATOMIC);
    assert_sm_ok(sm_dict_del(m.d, "missing"));                      /* 0: SM_ENOKEY */
    assert_sm_ok(sm_dict_set(m.d, "k1", SMV(sm_value_int(5))));     /* 1 */
    assert_sm_ok(sm_list_append(m.l, SMV(sm_value_int(3))));        /* 2 */
    assert_sm_ok(sm_var_set(m.v, SMV(sm_value_int(0))));            /* 3 */
    assert_sm_ok(sm_dict_get(m.d, "k1", &got));                     /* 4 */
    assert_sm_status(sm_batch_exec(b), SM_ENOKEY);
    assert_int_equal(sm_batch_failed(b), 0);
    const int want[] = {SM_ENOKEY, SM_ECANCELLED, SM_ECANCELLED, SM_ECANCELLED, SM_ECANCELLED};
    assert_statuses(b, want, N_ELEMS(want));
    end();
    smt_assert_value(&got, SENTINEL);
    mixed_assert_initial(&m);
    mixed_close(&m);
}

static void
test_atomic_list_get_out_of_range_fails_the_batch(void **state)
{
    (void)state;
    mixed m;
    mixed_open(&m);
    sm_value before = SENTINEL, bad = SENTINEL, after = SENTINEL, cur = SENTINEL;
    sm_value *sl = NULL;
    size_t nsl = SENTINEL_N, nks = SENTINEL_N;
    char **ks = NULL;
    int64_t at = -77;
    bool swapped = false, has = false;

    sm_batch *b = begin(SM_BATCH_ATOMIC);
    assert_sm_ok(sm_list_append(m.l, SMV(sm_value_int(3))));        /* 0 */
    assert_sm_ok(sm_list_get(m.l, 0, &before));                     /* 1 */
    assert_sm_ok(sm_list_slice(m.l, 0, SM_END, &sl, &nsl));         /* 2 */
    assert_sm_ok(sm_list_index(m.l, SMV(sm_value_int(3)), 0, SM_END, &at)); /* 3 */
    assert_sm_ok(sm_dict_keys(m.d, &ks, &nks));                     /* 4 */
    assert_sm_ok(sm_dict_contains(m.d, "k1", &has));                /* 5 */
    assert_sm_ok(sm_var_cas(m.v, SMV(sm_value_str("orig")), SMV(sm_value_int(1)), &swapped,
                            &cur));                                 /* 6 */
    assert_sm_ok(sm_list_get(m.l, 99, &bad));                       /* 7: SM_ERANGE */
    assert_sm_ok(sm_list_get(m.l, 1, &after));                      /* 8 */
    assert_sm_status(sm_batch_exec(b), SM_ERANGE);
    assert_int_equal(sm_batch_failed(b), 7);
    int want[9];
    for (size_t i = 0; i < N_ELEMS(want); i++)
        want[i] = i == 7 ? SM_ERANGE : SM_ECANCELLED;
    assert_statuses(b, want, N_ELEMS(want));
    end();
    smt_assert_value(&before, SENTINEL);
    smt_assert_value(&bad, SENTINEL);
    smt_assert_value(&after, SENTINEL);
    smt_assert_value(&cur, SENTINEL);
    assert_null(sl);
    assert_int_equal(nsl, SENTINEL_N);
    assert_null(ks);
    assert_int_equal(nks, SENTINEL_N);
    assert_int_equal(at, -77);
    assert_false(swapped);
    assert_false(has);
    mixed_assert_initial(&m);
    mixed_close(&m);
}

/* The last op fails, after objects were written several times each: they
 * go back to their state from before the batch, not an intermediate one. */
static void
test_atomic_failure_in_the_last_op_undoes_repeated_writes(void **state)
{
    (void)state;
    mixed m;
    mixed_open(&m);
    sm_value out = SENTINEL;

    sm_batch *b = begin(SM_BATCH_ATOMIC);
    assert_sm_ok(sm_dict_set(m.d, "k1", SMV(sm_value_int(10))));    /* 0 */
    assert_sm_ok(sm_dict_set(m.d, "k1", SMV(sm_value_int(20))));    /* 1 */
    assert_sm_ok(sm_dict_clear(m.d));                               /* 2 */
    assert_sm_ok(sm_dict_set(m.d, "z", SMV(sm_value_int(1))));      /* 3 */
    assert_sm_ok(sm_list_clear(m.l));                               /* 4 */
    assert_sm_ok(sm_list_append(m.l, SMV(sm_value_int(9))));        /* 5 */
    assert_sm_ok(sm_var_set(m.v, SMV(sm_value_int(1))));            /* 6 */
    assert_sm_ok(sm_var_cas(m.v, SMV(sm_value_int(1)), SMV(sm_value_int(2)), NULL, &out)); /* 7 */
    assert_sm_ok(sm_array_set(m.a, 0, SMV(sm_value_int(50))));      /* 8 */
    assert_sm_ok(sm_array_add(m.a, 0, SMV(sm_value_int(1)), NULL)); /* 9 */
    /* 10: 2147483647 + 51 does not fit typecode 'i' */
    assert_sm_ok(sm_array_add(m.a, 0, SMV(sm_value_int(INT32_MAX)), NULL));
    assert_sm_status(sm_batch_exec(b), SM_EOVERFLOW);
    assert_int_equal(sm_batch_failed(b), 10);
    int want[11];
    for (size_t i = 0; i < 11; i++)
        want[i] = i == 10 ? SM_EOVERFLOW : SM_ECANCELLED;
    assert_statuses(b, want, 11);
    end();
    smt_assert_value(&out, SENTINEL);
    mixed_assert_initial(&m);
    mixed_close(&m);
}

/* xorshift steps a xorshift64 generator. */
static uint64_t
xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Many random single-key writes (set, del, pop, setdefault, incr) and the
 * odd clear, then a failing op: the dict is back exactly as it was, keys in
 * their order. Each round starts from what the last successful batch left. */
static void
test_atomic_failure_restores_every_key_in_its_place(void **state)
{
    (void)state;
    sm_dict *d;
    assert_sm_ok(sm_dict_new(smt_client(), &d));
    for (int i = 0; i < 8; i++) {
        char k[8];
        snprintf(k, sizeof(k), "k%d", i);
        assert_sm_ok(sm_dict_set(d, k, SMV(sm_value_int(i))));
    }
    uint64_t x = 88172645463325252u; /* xorshift64: a fixed sequence */
    for (int round = 0; round < 300; round++) {
        char **ks0 = NULL;
        sm_value *vs0 = NULL;
        size_t n0 = 0;
        assert_sm_ok(sm_dict_items(d, &ks0, &vs0, &n0));
        bool fail = round % 10 != 9;
        sm_value popped[24];
        for (size_t i = 0; i < N_ELEMS(popped); i++)
            popped[i] = sm_value_nil();
        sm_batch *b = begin(SM_BATCH_ATOMIC);
        int nops = 1 + (int)(xorshift(&x) % 24);
        for (int i = 0; i < nops; i++) {
            char k[8];
            snprintf(k, sizeof(k), "k%d", (int)(xorshift(&x) % 12));
            int64_t v = (int64_t)(xorshift(&x) % 1000);
            switch (xorshift(&x) % 16) {
            case 0: case 1: case 2: case 3: case 4:
                assert_sm_ok(sm_dict_set(d, k, SMV(sm_value_int(v))));
                break;
            case 5: case 6: case 7:
                assert_sm_ok(sm_dict_pop(d, k, SMV(sm_value_int(0)), &popped[i]));
                break;
            case 8: case 9:
                assert_sm_ok(sm_dict_setdefault(d, k, SMV(sm_value_int(v)), NULL));
                break;
            case 10: case 11: case 12: case 13:
                assert_sm_ok(sm_dict_incr(d, k, SMV(sm_value_int(v)), NULL));
                break;
            case 14:
                assert_sm_ok(sm_dict_set(d, k, SMV(sm_value_str("a string, for a while"))));
                assert_sm_ok(sm_dict_del(d, k));
                break;
            default:
                if (xorshift(&x) % 4 == 0)
                    assert_sm_ok(sm_dict_clear(d));
                break;
            }
        }
        if (fail)
            assert_sm_ok(sm_dict_del(d, "no such key"));
        int rv = sm_batch_exec(b);
        end();
        for (size_t i = 0; i < N_ELEMS(popped); i++)
            sm_value_clear(&popped[i]);
        if (!fail) {
            assert_sm_ok(rv);
        } else {
            assert_sm_status(rv, SM_ENOKEY);
            assert_dict_is(d, (const char *const *)ks0, vs0, n0);
        }
        sm_strings_free(ks0, n0);
        sm_values_free(vs0, n0);
    }
    assert_sm_ok(sm_dict_close(d));
}

static void
test_atomic_failure_rolls_a_namespace_back(void **state)
{
    (void)state;
    sm_ns *ns = NULL;
    sm_value got = SENTINEL;
    char **names = NULL;
    size_t n = SENTINEL_N;

    assert_sm_ok(sm_ns_open(smt_client(), smt_name("batch.ns"), &ns));
    assert_sm_ok(sm_ns_set(ns, "p", SMV(sm_value_int(1))));
    assert_sm_ok(sm_ns_set(ns, "q", SMV(sm_value_str("queue"))));
    assert_sm_ok(sm_ns_set(ns, "r", SMV(sm_value_int(3))));

    sm_batch *b = begin(SM_BATCH_ATOMIC);
    assert_sm_ok(sm_ns_del(ns, "q"));                                  /* 0 */
    assert_sm_ok(sm_ns_set(ns, "q", SMV(sm_value_int(0))));            /* 1: now last */
    assert_sm_ok(sm_ns_set(ns, "p", SMV(sm_value_double(1.5))));       /* 2 */
    assert_sm_ok(sm_ns_get(ns, "q", &got));                            /* 3 */
    assert_sm_ok(sm_ns_del(ns, "missing"));                            /* 4: SM_ENOKEY */
    assert_sm_status(sm_batch_exec(b), SM_ENOKEY);
    assert_int_equal(sm_batch_failed(b), 4);
    end();
    smt_assert_value(&got, SENTINEL);

    assert_sm_ok(sm_ns_list(ns, &names, &n));
    assert_int_equal(n, 3);
    assert_string_equal(names[0], "p");
    assert_string_equal(names[1], "q");
    assert_string_equal(names[2], "r");
    sm_strings_free(names, n);
    assert_sm_ok(sm_ns_get(ns, "p", &got));
    smt_assert_value(&got, sm_value_int(1));
    assert_sm_ok(sm_ns_get(ns, "q", &got));
    smt_assert_value_is(&got, SMV(sm_value_str("queue")));
    sm_value_clear(&got);
    assert_sm_ok(sm_ns_get(ns, "r", &got));
    smt_assert_value(&got, sm_value_int(3));
    assert_sm_ok(sm_ns_close(ns));
}

/* ------------------------------------------------ atomic: references */

/* make_held_list makes an anonymous list [1, "two"] held only by d["ref"]
 * (its proxy closed) and copies its token into tok. */
static void
make_held_list(sm_dict *d, char *tok, size_t size)
{
    sm_list *l = NULL;
    assert_sm_ok(sm_list_new(smt_client(), &l));
    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(1))));
    assert_sm_ok(sm_list_append(l, SMV(sm_value_str("two"))));
    snprintf(tok, size, "%s", sm_list_token(l));
    assert_sm_ok(sm_dict_set(d, "first", SMV(sm_value_int(0))));
    assert_sm_ok(sm_dict_set(d, "ref", SMV(sm_value_ref(tok))));
    assert_sm_ok(sm_dict_set(d, "last", SMV(sm_value_int(2))));
    assert_sm_ok(sm_list_close(l));
}

/* assert_held_list: d is {first: 0, ref: <tok>, last: 2} and the list is
 * reachable through the reference, holding [1, "two"]. */
static void
assert_held_list(sm_dict *d, const char *tok)
{
    const char *keys[] = {"first", "ref", "last"};
    const sm_value vals[] = {sm_value_int(0), sm_value_ref(tok), sm_value_int(2)};
    const sm_value items[] = {sm_value_int(1), sm_value_str("two")};
    sm_value got = SENTINEL;
    sm_list *l = NULL;

    assert_dict_is(d, keys, vals, N_ELEMS(keys));
    assert_sm_ok(sm_dict_get(d, "ref", &got));
    assert_int_equal(got.type, SM_REF);
    assert_sm_ok(sm_list_attach(smt_client(), got.u.buf.ptr, &l));
    sm_value_clear(&got);
    assert_list_is(l, items, N_ELEMS(items));
    assert_sm_ok(sm_list_close(l));
}

static void
test_atomic_failure_restores_a_deleted_reference(void **state)
{
    (void)state;
    char tok[128];
    sm_dict *d = NULL;
    sm_value out = SENTINEL;

    assert_sm_ok(sm_dict_open(smt_client(), smt_name("batch.refs"), &d));
    make_held_list(d, tok, sizeof(tok));
    assert_held_list(d, tok);

    sm_batch *b = begin(SM_BATCH_ATOMIC);
    assert_sm_ok(sm_dict_del(d, "ref"));                                 /* 0 */
    assert_sm_ok(sm_dict_set(d, "x", SMV(sm_value_int(1))));             /* 1 */
    assert_sm_ok(sm_dict_incr(d, "ref", SMV(sm_value_int(1)), &out));    /* 2: absent: 1 */
    /* refused by its own check, not recorded */
    assert_sm_status(sm_dict_incr(d, "first", SMV(sm_value_str("no")), &out), SM_EBADVALUE);
    assert_sm_ok(sm_dict_incr(d, "x", SMV(sm_value_int(INT64_MAX)), &out)); /* 3: EOVERFLOW */
    assert_int_equal(sm_batch_len(b), 4);
    assert_sm_status(sm_batch_exec(b), SM_EOVERFLOW);
    assert_int_equal(sm_batch_failed(b), 3);
    end();
    smt_assert_value(&out, SENTINEL);

    /* The key is back, in its place, and the list it names is whole. */
    assert_held_list(d, tok);
    assert_held_list(d, tok); /* attaching and closing again did not free it */
    assert_sm_ok(sm_dict_close(d));
}

static void
test_atomic_failure_restores_a_popped_reference_and_the_list_it_names(void **state)
{
    (void)state;
    char tok[128];
    sm_dict *d = NULL;
    sm_list *l = NULL;
    sm_value popped = SENTINEL;

    assert_sm_ok(sm_dict_open(smt_client(), smt_name("batch.refs"), &d));
    make_held_list(d, tok, sizeof(tok));
    assert_sm_ok(sm_list_attach(smt_client(), tok, &l));

    /* The batch writes the list, then drops the dict's reference to it,
     * then fails. */
    sm_batch *b = begin(SM_BATCH_ATOMIC);
    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(3))));           /* 0 */
    assert_sm_ok(sm_dict_pop(d, "ref", NULL, &popped));               /* 1 */
    assert_sm_ok(sm_dict_clear(d));                                   /* 2 */
    assert_sm_ok(sm_list_pop(l, 5, NULL));                            /* 3: SM_ERANGE */
    assert_sm_status(sm_batch_exec(b), SM_ERANGE);
    assert_int_equal(sm_batch_failed(b), 3);
    end();
    smt_assert_value(&popped, SENTINEL);

    /* Only the dict holds the list again. */
    assert_sm_ok(sm_list_close(l));
    assert_held_list(d, tok);
    assert_sm_ok(sm_dict_close(d));
}

static void
test_atomic_failure_drops_a_reference_it_stored(void **state)
{
    (void)state;
    char tok[128];
    sm_dict *d = NULL;
    sm_var *v = NULL;
    sm_list *l = NULL, *again = NULL;

    assert_sm_ok(sm_dict_open(smt_client(), smt_name("batch.refs"), &d));
    assert_sm_ok(sm_var_open(smt_client(), smt_name("batch.refs.v"), NULL, &v));
    assert_sm_ok(sm_list_new(smt_client(), &l));
    snprintf(tok, sizeof(tok), "%s", sm_list_token(l));

    sm_batch *b = begin(SM_BATCH_ATOMIC);
    assert_sm_ok(sm_dict_set(d, "r", SMV(sm_value_ref(tok))));        /* 0 */
    assert_sm_ok(sm_var_set(v, SMV(sm_value_ref(tok))));              /* 1 */
    assert_sm_ok(sm_var_add(v, SMV(sm_value_int(1)), NULL));          /* 2: SM_EBADVALUE */
    assert_sm_status(sm_batch_exec(b), SM_EBADVALUE);
    assert_int_equal(sm_batch_failed(b), 2);
    end();
    assert_dict_is(d, NULL, NULL, 0);
    assert_var_is(v, sm_value_nil());

    /* Its proxy was the list's only holder all along: closing it frees it. */
    assert_sm_ok(sm_list_close(l));
    assert_sm_status(sm_list_attach(smt_client(), tok, &again), SM_ENOOBJ);
    assert_null(again);
    assert_sm_ok(sm_dict_close(d));
    assert_sm_ok(sm_var_close(v));
}

static void
test_atomic_success_deleting_the_last_reference_frees_the_list(void **state)
{
    (void)state;
    char tok[128];
    sm_dict *d = NULL;
    sm_list *l = NULL;

    assert_sm_ok(sm_dict_open(smt_client(), smt_name("batch.refs"), &d));
    make_held_list(d, tok, sizeof(tok));

    sm_batch *b = begin(SM_BATCH_ATOMIC);
    assert_sm_ok(sm_dict_del(d, "ref"));
    assert_sm_ok(sm_dict_set(d, "x", SMV(sm_value_int(1))));
    assert_sm_ok(sm_batch_exec(b));
    assert_all_ok(b, 2);
    end();

    const char *keys[] = {"first", "last", "x"};
    const sm_value vals[] = {sm_value_int(0), sm_value_int(2), sm_value_int(1)};
    assert_dict_is(d, keys, vals, N_ELEMS(keys));
    /* The copy kept for a rollback held no lasting reference. */
    assert_sm_status(sm_list_attach(smt_client(), tok, &l), SM_ENOOBJ);
    assert_null(l);
    assert_sm_ok(sm_dict_close(d));
}

/* --------------------------------------------------------------- pipeline */

static void
test_pipeline_applies_every_op_but_the_failed_one(void **state)
{
    (void)state;
    mixed m;
    mixed_open(&m);

    sm_batch *b = begin(SM_BATCH_PIPELINE);
    mixed_record(&m);
    assert_sm_status(sm_batch_exec(b), SM_EBADVALUE);
    assert_int_equal(sm_batch_failed(b), MIXED_FAIL);
    int want[MIXED_N];
    for (size_t i = 0; i < MIXED_N; i++)
        want[i] = i == MIXED_FAIL ? SM_EBADVALUE : SM_OK;
    assert_statuses(b, want, MIXED_N);
    end();

    smt_assert_value_is(&m.pop_out, SMV(sm_value_str("g")));
    smt_assert_value(&m.incr_out, sm_value_int(101));
    smt_assert_value(&m.lpop_out, sm_value_int(1));
    smt_assert_value(&m.vadd_out, sm_value_int(10));
    smt_assert_value(&m.aadd_out, sm_value_int(4));
    smt_assert_value(&m.bad_out, SENTINEL);
    sm_value_clear(&m.pop_out);

    const char *keys[] = {"k1", "s", "new"};
    const sm_value vals[] = {sm_value_int(101), sm_value_str("text"), sm_value_int(1)};
    const sm_value items[] = {sm_value_int(2), sm_value_str("x"), sm_value_str("after")};
    const sm_value elems[] = {sm_value_int(77), sm_value_int(2), sm_value_int(4)};
    assert_dict_is(m.d, keys, vals, N_ELEMS(keys));
    assert_list_is(m.l, items, N_ELEMS(items));
    assert_var_is(m.v, sm_value_int(10));
    assert_array_is(m.a, elems, N_ELEMS(elems));
    mixed_close(&m);
}

static void
test_pipeline_reports_each_failure_and_the_first_one(void **state)
{
    (void)state;
    mixed m;
    mixed_open(&m);
    sm_value miss = SENTINEL, seen = SENTINEL, far = SENTINEL, last = SENTINEL;

    sm_batch *b = begin(SM_BATCH_PIPELINE);
    assert_sm_ok(sm_dict_get(m.d, "missing", &miss));                 /* 0: SM_ENOKEY */
    assert_sm_ok(sm_dict_set(m.d, "k1", SMV(sm_value_int(5))));       /* 1 */
    assert_sm_ok(sm_dict_get(m.d, "k1", &seen));                      /* 2: 5 */
    assert_sm_ok(sm_list_get(m.l, 99, &far));                         /* 3: SM_ERANGE */
    assert_sm_ok(sm_list_append(m.l, SMV(sm_value_int(3))));          /* 4 */
    assert_sm_ok(sm_var_add(m.v, SMV(sm_value_int(1)), NULL));        /* 5: SM_EBADVALUE */
    assert_sm_ok(sm_list_get(m.l, -1, &last));                        /* 6: 3 */
    assert_sm_status(sm_batch_exec(b), SM_ENOKEY);
    assert_int_equal(sm_batch_failed(b), 0);
    const int want[] = {SM_ENOKEY, SM_OK, SM_OK, SM_ERANGE, SM_OK, SM_EBADVALUE, SM_OK};
    assert_statuses(b, want, N_ELEMS(want));
    end();

    smt_assert_value(&miss, SENTINEL);
    smt_assert_value(&seen, sm_value_int(5));
    smt_assert_value(&far, SENTINEL);
    smt_assert_value(&last, sm_value_int(3));

    const char *keys[] = {"k1", "s", "k2", "gone"};
    const sm_value vals[] = {sm_value_int(5), sm_value_str("text"), sm_value_int(2),
                             sm_value_str("g")};
    const sm_value items[] = {sm_value_int(1), sm_value_int(2), sm_value_int(3)};
    const sm_value elems[] = {sm_value_int(1), sm_value_int(2), sm_value_int(3)};
    assert_dict_is(m.d, keys, vals, N_ELEMS(keys));
    assert_list_is(m.l, items, N_ELEMS(items));
    assert_var_is(m.v, sm_value_str("orig"));
    assert_array_is(m.a, elems, N_ELEMS(elems));
    mixed_close(&m);
}

/* -------------------------------------------------- recording: refusals */

static void
test_unbatchable_calls_are_einval_and_not_recorded(void **state)
{
    (void)state;
    char name[256];
    sm_dict *d = NULL;
    sm_list *l = NULL;
    sm_array *a = NULL;
    sm_lock *lk = NULL;
    int marker;
    sm_dict *const untouched = (sm_dict *)(void *)&marker;
    sm_dict *opened = untouched;
    size_t len = SENTINEL_N;
    bool has_k = false, has_z = true, locked = true;
    char **ks = NULL;
    sm_value *vs = NULL;
    sm_value got = SENTINEL;
    const sm_value ainit[] = {sm_value_int(1), sm_value_int(2)};

    snprintf(name, sizeof(name), "%s", smt_name("batch.unopened"));
    assert_sm_ok(sm_dict_open(smt_client(), smt_name("batch.d"), &d));
    assert_sm_ok(sm_list_open(smt_client(), smt_name("batch.l"), &l));
    assert_sm_ok(sm_array_open(smt_client(), smt_name("batch.a"), 'i', ainit, 2, &a));
    assert_sm_ok(sm_lock_new(smt_client(), &lk));
    assert_sm_ok(sm_dict_set(d, "k", SMV(sm_value_int(1))));

    sm_batch *b = begin(SM_BATCH_ATOMIC);
    assert_sm_ok(sm_dict_set(d, "a", SMV(sm_value_int(2))));           /* recorded: 0 */
    assert_sm_status(sm_dict_len(d, &len), SM_EINVAL);
    assert_int_equal(len, SENTINEL_N);
    assert_sm_ok(sm_dict_contains(d, "k", &has_k));                   /* recorded: 1 */
    assert_sm_ok(sm_dict_contains(d, "z", &has_z));                   /* recorded: 2 */
    assert_false(has_k);
    assert_true(has_z);
    assert_sm_status(sm_dict_items(d, &ks, &vs, &len), SM_EINVAL);
    assert_null(ks);
    assert_sm_status(sm_dict_update(d, (const char *const[]){"u"}, SMV(sm_value_int(1)), 1),
                     SM_EINVAL);
    assert_sm_status(sm_list_len(l, &len), SM_EINVAL);
    assert_sm_status(sm_list_count(l, SMV(sm_value_int(1)), &len), SM_EINVAL);
    assert_sm_status(sm_list_extend(l, SMV(sm_value_int(1)), 1), SM_EINVAL);
    assert_sm_status(sm_array_set_slice(a, 0, ainit, 2), SM_EINVAL);
    assert_sm_status(sm_lock_acquire(lk, SM_NOWAIT), SM_EINVAL);
    assert_sm_status(sm_lock_locked(lk, &locked), SM_EINVAL);
    assert_true(locked);
    assert_sm_status(sm_dict_open(smt_client(), name, &opened), SM_EINVAL);
    assert_ptr_equal(opened, untouched);
    /* Calls whose own checks fail are refused with their status, unrecorded. */
    assert_sm_status(sm_dict_set(d, "", SMV(sm_value_int(1))), SM_EINVAL);
    assert_sm_status(sm_dict_get(d, "k", NULL), SM_EINVAL);
    assert_sm_status(sm_dict_incr(d, "k", SMV(sm_value_str("1")), NULL), SM_EBADVALUE);
    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(7))));             /* recorded: 3 */
    assert_sm_ok(sm_dict_get(d, "k", &got));                           /* recorded: 4 */
    assert_int_equal(sm_batch_len(b), 5);

    assert_sm_ok(sm_batch_exec(b));
    assert_all_ok(b, 5);
    end();
    smt_assert_value(&got, sm_value_int(1));
    assert_true(has_k);
    assert_false(has_z);

    /* Only the recorded calls were applied; the lock was never taken. */
    const char *keys[] = {"k", "a"};
    const sm_value vals[] = {sm_value_int(1), sm_value_int(2)};
    const sm_value items[] = {sm_value_int(7)};
    assert_dict_is(d, keys, vals, N_ELEMS(keys));
    assert_list_is(l, items, N_ELEMS(items));
    assert_array_is(a, ainit, N_ELEMS(ainit));
    assert_sm_ok(sm_lock_locked(lk, &locked));
    assert_false(locked);
    assert_sm_ok(sm_dict_close(d));
    assert_sm_ok(sm_list_close(l));
    assert_sm_ok(sm_array_close(a));
    assert_sm_ok(sm_lock_close(lk));
}

/* sm_dict_get_or is not in the header's list of batchable calls, so while
 * recording it is SM_EINVAL and records nothing. */
static void
test_dict_get_or_is_einval_while_recording(void **state)
{
    (void)state;
    sm_dict *d = NULL;
    sm_value got = SENTINEL;

    assert_sm_ok(sm_dict_open(smt_client(), smt_name("batch.d"), &d));
    assert_sm_ok(sm_dict_set(d, "k", SMV(sm_value_int(1))));

    sm_batch *b = begin(SM_BATCH_ATOMIC);
    int rv = sm_dict_get_or(d, "k", SMV(sm_value_int(0)), &got);
    size_t n = sm_batch_len(b);
    if (rv != SM_EINVAL || n != 0)
        print_error("sm_dict_get_or while recording: %s, %zu operation(s) recorded\n",
                    sm_errname(rv), n);
    /* Freed unsent either way: a recorded get_or would have its output
     * written where no caller's variable is. */
    end();
    bool untouched = got.type == SM_INT && got.u.i == -424242;
    assert_sm_ok(sm_dict_close(d));
    assert_sm_status(rv, SM_EINVAL);
    assert_int_equal(n, 0);
    assert_true(untouched);
}

static void
test_batch_calls_refuse_misuse(void **state)
{
    (void)state;
    sm_var *v = NULL;
    int marker;
    sm_batch *const untouched = (sm_batch *)(void *)&marker;
    sm_batch *other = untouched;
    sm_client *c2 = second_client();

    assert_sm_ok(sm_var_open(smt_client(), smt_name("batch.v"), SMV(sm_value_int(0)), &v));

    /* Bad arguments: nothing starts recording. */
    assert_sm_status(sm_batch_begin(smt_client(), 2, &other), SM_EINVAL);
    assert_sm_status(sm_batch_begin(smt_client(), -1, &other), SM_EINVAL);
    assert_sm_status(sm_batch_begin(NULL, SM_BATCH_ATOMIC, &other), SM_EINVAL);
    assert_sm_status(sm_batch_begin(smt_client(), SM_BATCH_ATOMIC, NULL), SM_EINVAL);
    assert_ptr_equal(other, untouched);
    assert_sm_ok(sm_var_add(v, SMV(sm_value_int(1)), NULL)); /* sent at once */
    assert_var_is(v, sm_value_int(1));
    assert_sm_status(sm_batch_exec(NULL), SM_EINVAL);
    assert_sm_status(sm_batch_status(NULL, 0), SM_EINVAL);
    assert_int_equal(sm_batch_len(NULL), 0);
    assert_int_equal(sm_batch_failed(NULL), -1);
    sm_batch_free(NULL);

    /* One batch per thread, whatever the client. */
    sm_batch *b = begin(SM_BATCH_PIPELINE);
    assert_sm_status(sm_batch_begin(smt_client(), SM_BATCH_ATOMIC, &other), SM_EINVAL);
    assert_sm_status(sm_batch_begin(c2, SM_BATCH_PIPELINE, &other), SM_EINVAL);
    assert_ptr_equal(other, untouched);
    assert_sm_ok(sm_var_add(v, SMV(sm_value_int(1)), NULL));
    assert_int_equal(sm_batch_len(b), 1);
    assert_sm_status(sm_batch_status(b, 0), SM_EINVAL); /* not sent */
    assert_sm_ok(sm_batch_exec(b));
    assert_all_ok(b, 1);
    /* Once only: the second exec sends nothing again. */
    assert_sm_status(sm_batch_exec(b), SM_EINVAL);
    assert_sm_ok(sm_batch_status(b, 0));
    assert_var_is(v, sm_value_int(2)); /* recording ended with the first exec */
    end();

    /* sm_batch_free without exec ends recording and sends nothing. */
    b = begin(SM_BATCH_ATOMIC);
    assert_sm_ok(sm_var_add(v, SMV(sm_value_int(100)), NULL));
    end();
    assert_var_is(v, sm_value_int(2));
    assert_sm_ok(sm_var_close(v));
}

static void
test_empty_batch_is_ok(void **state)
{
    (void)state;
    const int modes[] = {SM_BATCH_ATOMIC, SM_BATCH_PIPELINE};
    for (size_t i = 0; i < N_ELEMS(modes); i++) {
        sm_batch *b = begin(modes[i]);
        assert_int_equal(sm_batch_len(b), 0);
        assert_sm_ok(sm_batch_exec(b));
        assert_int_equal(sm_batch_len(b), 0);
        assert_int_equal(sm_batch_failed(b), -1);
        assert_sm_status(sm_batch_status(b, 0), SM_EINVAL);
        assert_sm_status(sm_batch_exec(b), SM_EINVAL);
        end();
    }
}

/* ------------------------------------- recording: other clients, threads */

static void
test_calls_on_another_client_go_out_at_once(void **state)
{
    (void)state;
    char name[256];
    sm_dict *d = NULL, *d2 = NULL;
    sm_client *c2 = second_client();
    sm_value mine = SENTINEL, theirs = SENTINEL;

    snprintf(name, sizeof(name), "%s", smt_name("batch.d"));
    assert_sm_ok(sm_dict_open(smt_client(), name, &d));
    assert_sm_ok(sm_dict_open(c2, name, &d2));

    sm_batch *b = begin(SM_BATCH_ATOMIC);
    assert_sm_ok(sm_dict_set(d, "mine", SMV(sm_value_int(1))));     /* recorded */
    assert_sm_ok(sm_dict_set(d2, "theirs", SMV(sm_value_int(2))));  /* sent now */
    assert_sm_ok(sm_dict_get(d2, "theirs", &theirs));               /* sent now */
    smt_assert_value(&theirs, sm_value_int(2));
    const char *k1[] = {"theirs"};
    const sm_value v1[] = {sm_value_int(2)};
    assert_dict_is(d2, k1, v1, 1);
    assert_sm_ok(sm_dict_get(d, "theirs", &mine));                  /* recorded */
    assert_int_equal(sm_batch_len(b), 2);
    smt_assert_value(&mine, SENTINEL);
    assert_sm_ok(sm_batch_exec(b));
    assert_all_ok(b, 2);
    end();
    smt_assert_value(&mine, sm_value_int(2));

    const char *k2[] = {"theirs", "mine"};
    const sm_value v2[] = {sm_value_int(2), sm_value_int(1)};
    assert_dict_is(d, k2, v2, 2);
    assert_sm_ok(sm_dict_close(d2));
    assert_sm_ok(sm_dict_close(d));
}

typedef struct setter {
    sm_dict *d;
    int rv;
} setter;

static void *
setter_main(void *arg)
{
    setter *s = arg;
    s->rv = sm_dict_set(s->d, "from-thread", SMV(sm_value_int(3)));
    return NULL;
}

static void
test_calls_from_another_thread_go_out_at_once(void **state)
{
    (void)state;
    char name[256];
    sm_dict *d = NULL, *d2 = NULL;
    sm_client *c2 = second_client();
    pthread_t t;

    snprintf(name, sizeof(name), "%s", smt_name("batch.d"));
    assert_sm_ok(sm_dict_open(smt_client(), name, &d));
    assert_sm_ok(sm_dict_open(c2, name, &d2));

    sm_batch *b = begin(SM_BATCH_ATOMIC);
    assert_sm_ok(sm_dict_set(d, "recorded", SMV(sm_value_int(1))));
    /* Another thread, the same client and proxy: not recorded. */
    setter s = {d, -1};
    assert_int_equal(pthread_create(&t, NULL, setter_main, &s), 0);
    smt_join_or_fail(t, 30);
    assert_sm_ok(s.rv);
    assert_int_equal(sm_batch_len(b), 1);
    const char *k1[] = {"from-thread"};
    const sm_value v1[] = {sm_value_int(3)};
    assert_dict_is(d2, k1, v1, 1);
    assert_sm_ok(sm_batch_exec(b));
    end();
    const char *k2[] = {"from-thread", "recorded"};
    const sm_value v2[] = {sm_value_int(3), sm_value_int(1)};
    assert_dict_is(d, k2, v2, 2);
    assert_sm_ok(sm_dict_close(d2));
    assert_sm_ok(sm_dict_close(d));
}

/* Two threads record on the one client at the same time, each its own
 * batch, while the main thread's calls on that client go out at once. */
typedef struct recorder {
    sm_dict *d;
    const char *key;
    pthread_barrier_t *bar;
    int rv_begin, rv_incr, rv_get, rv_exec;
    size_t len;
    sm_value incr_out, get_out;
} recorder;

static void *
recorder_main(void *arg)
{
    recorder *r = arg;
    sm_batch *b = NULL;
    r->rv_begin = sm_batch_begin(smt_client(), SM_BATCH_ATOMIC, &b);
    if (r->rv_begin == SM_OK) {
        r->rv_incr = sm_dict_incr(r->d, r->key, SMV(sm_value_int(10)), &r->incr_out);
        r->rv_get = sm_dict_get(r->d, r->key, &r->get_out);
        r->len = sm_batch_len(b);
    }
    pthread_barrier_wait(r->bar); /* both recording */
    pthread_barrier_wait(r->bar); /* the main thread has looked */
    if (r->rv_begin == SM_OK)
        r->rv_exec = sm_batch_exec(b);
    sm_batch_free(b);
    return NULL;
}

static void
test_two_threads_record_batches_on_one_client_at_once(void **state)
{
    (void)state;
    sm_dict *d = NULL;
    pthread_barrier_t bar;
    pthread_t t[2];
    recorder r[2];
    const char *keys[] = {"one", "two"};

    assert_sm_ok(sm_dict_open(smt_client(), smt_name("batch.d"), &d));
    assert_int_equal(pthread_barrier_init(&bar, NULL, 3), 0);
    for (int i = 0; i < 2; i++) {
        r[i] = (recorder){d, keys[i], &bar, -1, -1, -1, -1, 0, SENTINEL, SENTINEL};
        assert_int_equal(pthread_create(&t[i], NULL, recorder_main, &r[i]), 0);
    }
    pthread_barrier_wait(&bar);
    /* Both threads are recording now; this thread is not. */
    size_t len = SENTINEL_N;
    int rv = sm_dict_len(d, &len);
    pthread_barrier_wait(&bar);
    for (int i = 0; i < 2; i++)
        smt_join_or_fail(t[i], 30);
    pthread_barrier_destroy(&bar);
    assert_sm_ok(rv);
    assert_int_equal(len, 0);

    for (int i = 0; i < 2; i++) {
        assert_sm_ok(r[i].rv_begin);
        assert_sm_ok(r[i].rv_incr);
        assert_sm_ok(r[i].rv_get);
        assert_int_equal(r[i].len, 2);
        assert_sm_ok(r[i].rv_exec);
        smt_assert_value(&r[i].incr_out, sm_value_int(10));
        smt_assert_value(&r[i].get_out, sm_value_int(10));
    }
    assert_int_equal(smt_dict_int(d, "one"), 10);
    assert_int_equal(smt_dict_int(d, "two"), 10);
    assert_sm_ok(sm_dict_len(d, &len));
    assert_int_equal(len, 2);
    assert_sm_ok(sm_dict_close(d));
}

/* A batch begun on one thread and run by another: sm_batch_exec from
 * another thread is SM_EINVAL and changes nothing, so the thread that began
 * it still records; it then sends the batch itself. */
typedef struct handoff {
    sm_dict *d;
    pthread_barrier_t *bar;
    sm_batch *b;
    int rv_begin, rv_in, rv_after, rv_len, rv_exec;
    size_t len, blen;
} handoff;

static void *
handoff_main(void *arg)
{
    handoff *h = arg;
    h->rv_begin = sm_batch_begin(smt_client(), SM_BATCH_ATOMIC, &h->b);
    if (h->rv_begin == SM_OK)
        h->rv_in = sm_dict_set(h->d, "in", SMV(sm_value_int(1)));
    pthread_barrier_wait(h->bar); /* recorded: the main thread tries to run it */
    pthread_barrier_wait(h->bar); /* it was refused */
    h->rv_after = sm_dict_set(h->d, "after", SMV(sm_value_int(2)));
    h->rv_len = sm_dict_len(h->d, &h->len);
    h->blen = sm_batch_len(h->b);
    h->rv_exec = h->rv_begin == SM_OK ? sm_batch_exec(h->b) : -1;
    sm_batch_free(h->b);
    return NULL;
}

static void
test_exec_on_another_thread_is_einval_and_recording_goes_on(void **state)
{
    (void)state;
    char name[256];
    sm_dict *d = NULL, *d2 = NULL;
    sm_client *c2 = second_client();
    pthread_barrier_t bar;
    pthread_t t;

    snprintf(name, sizeof(name), "%s", smt_name("batch.d"));
    assert_sm_ok(sm_dict_open(smt_client(), name, &d));
    assert_sm_ok(sm_dict_open(c2, name, &d2));
    assert_int_equal(pthread_barrier_init(&bar, NULL, 2), 0);
    handoff h = {d, &bar, NULL, -1, -1, -1, -1, -1, SENTINEL_N, SENTINEL_N};
    assert_int_equal(pthread_create(&t, NULL, handoff_main, &h), 0);
    pthread_barrier_wait(&bar);
    int rv_exec = sm_batch_exec(h.b);
    size_t n_between = SENTINEL_N;
    int rv_between = sm_dict_len(d2, &n_between);
    pthread_barrier_wait(&bar);
    smt_join_or_fail(t, 30);
    pthread_barrier_destroy(&bar);

    sm_value in = SENTINEL, after = SENTINEL;
    size_t n2 = SENTINEL_N;
    int rv_get_in = sm_dict_get(d2, "in", &in);
    int rv_get_after = sm_dict_get(d2, "after", &after);
    int rv_n2 = sm_dict_len(d2, &n2);
    assert_sm_ok(sm_dict_close(d2));
    assert_sm_ok(sm_dict_close(d));

    assert_sm_status(rv_exec, SM_EINVAL);
    assert_sm_ok(rv_between);
    assert_int_equal(n_between, 0); /* nothing was sent */
    assert_sm_ok(h.rv_begin);
    assert_sm_ok(h.rv_in);
    assert_sm_ok(h.rv_after); /* still recording */
    assert_sm_status(h.rv_len, SM_EINVAL);
    assert_int_equal(h.len, SENTINEL_N);
    assert_int_equal(h.blen, 2);
    assert_sm_ok(h.rv_exec);
    assert_sm_ok(rv_get_in);
    smt_assert_value(&in, sm_value_int(1));
    assert_sm_ok(rv_get_after);
    smt_assert_value(&after, sm_value_int(2));
    assert_sm_ok(rv_n2);
    assert_int_equal(n2, 2);
}

/* A close while recording: sm_dict_close always frees its proxy, so the
 * release goes out at once (a reference is not left to the session's end):
 * the anonymous dict is gone for everyone before the batch is sent. */
static void
test_close_while_recording_releases_at_once(void **state)
{
    (void)state;
    sm_dict *anon = NULL, *again = NULL;
    sm_client *c2 = second_client();
    char token[128];
    assert_sm_ok(sm_dict_new(smt_client(), &anon));
    snprintf(token, sizeof(token), "%s", sm_dict_token(anon));
    sm_batch *b = begin(SM_BATCH_ATOMIC);
    int rv_close = sm_dict_close(anon);
    int rv_attach = sm_dict_attach(c2, token, &again);
    size_t blen = sm_batch_len(b);
    int rv_exec = sm_batch_exec(b);
    end();
    if (again != NULL)
        sm_dict_close(again);
    assert_sm_ok(rv_close);
    assert_sm_status(rv_attach, SM_ENOOBJ);
    assert_int_equal(blen, 0);
    assert_sm_ok(rv_exec);
}

/* ---------------------------------------------- atomicity, many processes */

#define TB_PROCS 4
#define TB_BATCHES 500
#define TB_TOTAL (TB_PROCS * TB_BATCHES)

/* go_wait blocks until the parent closes its end of the go pipe (EOF).
 * Returns whether that is what happened. */
static bool
go_wait(const char *who, int fd)
{
    ssize_t r;
    char c;
    do {
        r = read(fd, &c, 1);
    } while (r < 0 && errno == EINTR);
    close(fd);
    if (r != 0)
        fprintf(stderr, "%s %ld: waiting for the go: read returned %ld\n", who, (long)getpid(),
                (long)r);
    return r == 0;
}

static int
parse_fd(const char *s)
{
    char *end = NULL;
    errno = 0;
    long fd = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || fd < 0 || fd > INT_MAX)
        return -1;
    return (int)fd;
}

/* batcher_run: TB_BATCHES atomic batches of [a += 1, b -= 1, var += 1];
 * every batch's outputs show one consistent state: a == -b == var, rising. */
static int
batcher_run(const char *url, const char *dname, const char *vname, int go_fd)
{
    sm_client *c = NULL;
    sm_dict *d = NULL;
    sm_var *v = NULL;
    sm_batch *b = NULL;
    const sm_value one = sm_value_int(1), minus_one = sm_value_int(-1);
    int64_t last = 0;
    int rv, status = 0;

    if ((rv = sm_client_open(&c, url, NULL)) != SM_OK)
        return smt_child_fail("batcher", "sm_client_open", rv);
    if ((rv = sm_dict_open(c, dname, &d)) != SM_OK) {
        status = smt_child_fail("batcher", "sm_dict_open", rv);
        goto out;
    }
    if ((rv = sm_var_open(c, vname, NULL, &v)) != SM_OK) {
        status = smt_child_fail("batcher", "sm_var_open", rv);
        goto out;
    }
    if (!go_wait("batcher", go_fd)) {
        status = 1;
        goto out;
    }
    for (int i = 0; i < TB_BATCHES; i++) {
        sm_value a = SENTINEL, nb = SENTINEL, n = SENTINEL;
        if ((rv = sm_batch_begin(c, SM_BATCH_ATOMIC, &b)) != SM_OK) {
            status = smt_child_fail("batcher", "sm_batch_begin", rv);
            goto out;
        }
        if ((rv = sm_dict_incr(d, "a", &one, &a)) != SM_OK ||
            (rv = sm_dict_incr(d, "b", &minus_one, &nb)) != SM_OK ||
            (rv = sm_var_add(v, &one, &n)) != SM_OK) {
            status = smt_child_fail("batcher", "recording", rv);
            goto out;
        }
        rv = sm_batch_exec(b);
        sm_batch_free(b);
        b = NULL;
        if (rv != SM_OK) {
            status = smt_child_fail("batcher", "sm_batch_exec", rv);
            goto out;
        }
        if (a.type != SM_INT || nb.type != SM_INT || n.type != SM_INT || a.u.i + nb.u.i != 0 ||
            n.u.i != a.u.i || a.u.i <= last || a.u.i > TB_TOTAL) {
            fprintf(stderr,
                    "batcher %ld: batch %d: a %" PRId64 " (type %d), b %" PRId64
                    " (type %d), var %" PRId64 " (type %d), after a %" PRId64 "\n",
                    (long)getpid(), i, a.u.i, (int)a.type, nb.u.i, (int)nb.type, n.u.i,
                    (int)n.type, last);
            status = 1;
            goto out;
        }
        last = a.u.i;
    }
out:
    sm_batch_free(b);
    sm_dict_close(d);
    sm_var_close(v);
    sm_client_close(c);
    return status;
}

/* batcher_main: NAME URL DICT VAR GO_FD. */
static int
batcher_main(int argc, char **argv)
{
    alarm(120); /* a hung child must not hang the test */
    int fd = argc == 5 ? parse_fd(argv[4]) : -1;
    if (fd < 0) {
        fprintf(stderr, "batcher: bad arguments\n");
        return 99;
    }
    return batcher_run(argv[1], argv[2], argv[3], fd);
}

/* reader_run reads a, b and the var in one atomic batch, again and again,
 * and fails on any read where a + b != 0 or var != a, or a falls. With the
 * stop var true it checks the final totals and ends. */
static int
reader_run(const char *url, const char *dname, const char *vname, const char *sname, int go_fd)
{
    sm_client *c = NULL;
    sm_dict *d = NULL;
    sm_var *v = NULL, *stop = NULL;
    sm_batch *b = NULL;
    int64_t last = 0;
    long reads = 0;
    int rv, status = 0;

    if ((rv = sm_client_open(&c, url, NULL)) != SM_OK)
        return smt_child_fail("reader", "sm_client_open", rv);
    if ((rv = sm_dict_open(c, dname, &d)) != SM_OK ||
        (rv = sm_var_open(c, vname, NULL, &v)) != SM_OK ||
        (rv = sm_var_open(c, sname, NULL, &stop)) != SM_OK) {
        status = smt_child_fail("reader", "open", rv);
        goto out;
    }
    if (!go_wait("reader", go_fd)) {
        status = 1;
        goto out;
    }
    for (;;) {
        sm_value a = SENTINEL, nb = SENTINEL, n = SENTINEL, end_now = SENTINEL;
        if ((rv = sm_batch_begin(c, SM_BATCH_ATOMIC, &b)) != SM_OK) {
            status = smt_child_fail("reader", "sm_batch_begin", rv);
            goto out;
        }
        if ((rv = sm_dict_get(d, "a", &a)) != SM_OK || (rv = sm_dict_get(d, "b", &nb)) != SM_OK ||
            (rv = sm_var_get(v, &n)) != SM_OK || (rv = sm_var_get(stop, &end_now)) != SM_OK) {
            status = smt_child_fail("reader", "recording", rv);
            goto out;
        }
        rv = sm_batch_exec(b);
        sm_batch_free(b);
        b = NULL;
        if (rv != SM_OK) {
            status = smt_child_fail("reader", "sm_batch_exec", rv);
            goto out;
        }
        reads++;
        if (a.type != SM_INT || nb.type != SM_INT || n.type != SM_INT ||
            end_now.type != SM_BOOL || a.u.i + nb.u.i != 0 || n.u.i != a.u.i || a.u.i < last ||
            a.u.i > TB_TOTAL) {
            fprintf(stderr,
                    "reader %ld: read %ld: a %" PRId64 " (type %d), b %" PRId64
                    " (type %d), var %" PRId64 " (type %d), stop type %d, after a %" PRId64 "\n",
                    (long)getpid(), reads, a.u.i, (int)a.type, nb.u.i, (int)nb.type, n.u.i,
                    (int)n.type, (int)end_now.type, last);
            status = 1;
            goto out;
        }
        last = a.u.i;
        if (end_now.u.b) {
            /* Set after every batcher ended: the totals are final. */
            if (a.u.i != TB_TOTAL) {
                fprintf(stderr, "reader %ld: final a %" PRId64 ", wanted %d\n", (long)getpid(),
                        a.u.i, TB_TOTAL);
                status = 1;
            }
            break;
        }
    }
out:
    sm_batch_free(b);
    sm_dict_close(d);
    sm_var_close(v);
    sm_var_close(stop);
    sm_client_close(c);
    return status;
}

/* reader_main: NAME URL DICT VAR STOPVAR GO_FD. */
static int
reader_main(int argc, char **argv)
{
    alarm(120);
    int fd = argc == 6 ? parse_fd(argv[5]) : -1;
    if (fd < 0) {
        fprintf(stderr, "reader: bad arguments\n");
        return 99;
    }
    return reader_run(argv[1], argv[2], argv[3], argv[4], fd);
}

static const smt_child children[] = {
    {"batcher", batcher_main},
    {"reader", reader_main},
};

/* reap waits for pid; returns its wait status, or -1. */
static int
reap(pid_t pid)
{
    int st;
    pid_t r;
    do {
        r = waitpid(pid, &st, 0);
    } while (r < 0 && errno == EINTR);
    return r == pid ? st : -1;
}

static void
test_atomic_batches_from_four_processes_are_never_seen_half_done(void **state)
{
    (void)state;
    char dn[256], vn[256], sn[256], url[512], go_arg[32];
    sm_dict *d = NULL;
    sm_var *v = NULL, *stop = NULL;
    pid_t batchers[TB_PROCS], reader;
    int st[TB_PROCS], rst;
    int go[2], fl;

    snprintf(dn, sizeof(dn), "%s", smt_name("batch.conc.d"));
    snprintf(vn, sizeof(vn), "%s", smt_name("batch.conc.v"));
    snprintf(sn, sizeof(sn), "%s", smt_name("batch.conc.stop"));
    snprintf(url, sizeof(url), "%s", smt_url());
    assert_sm_ok(sm_dict_open(smt_client(), dn, &d));
    assert_sm_ok(sm_var_open(smt_client(), vn, SMV(sm_value_int(0)), &v));
    assert_sm_ok(sm_var_open(smt_client(), sn, SMV(sm_value_bool(false)), &stop));
    assert_sm_ok(sm_dict_set(d, "a", SMV(sm_value_int(0))));
    assert_sm_ok(sm_dict_set(d, "b", SMV(sm_value_int(0))));

    /* The go: a pipe whose read end the children inherit; closing the
     * write end lets them all start at once. */
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    fl = fcntl(go[0], F_GETFD);
    assert_true(fl >= 0);
    assert_int_equal(fcntl(go[0], F_SETFD, fl & ~FD_CLOEXEC), 0);
    snprintf(go_arg, sizeof(go_arg), "%d", go[0]);
    reader = smt_spawn("reader", url, dn, vn, sn, go_arg, NULL);
    for (int k = 0; k < TB_PROCS; k++)
        batchers[k] = smt_spawn("batcher", url, dn, vn, go_arg, NULL);
    close(go[0]);
    close(go[1]);

    for (int k = 0; k < TB_PROCS; k++)
        st[k] = reap(batchers[k]);
    int srv = sm_var_set(stop, SMV(sm_value_bool(true)));
    if (srv != SM_OK)
        kill(reader, SIGKILL);
    rst = reap(reader);
    assert_sm_ok(srv);
    for (int k = 0; k < TB_PROCS; k++) {
        if (st[k] == -1 || !WIFEXITED(st[k]) || WEXITSTATUS(st[k]) != 0)
            print_error("batcher %ld ended with status 0x%x\n", (long)batchers[k], st[k]);
    }
    if (rst == -1 || !WIFEXITED(rst) || WEXITSTATUS(rst) != 0)
        print_error("reader %ld ended with status 0x%x\n", (long)reader, rst);
    for (int k = 0; k < TB_PROCS; k++) {
        assert_int_not_equal(st[k], -1);
        assert_true(WIFEXITED(st[k]));
        assert_int_equal(WEXITSTATUS(st[k]), 0);
    }
    assert_int_not_equal(rst, -1);
    assert_true(WIFEXITED(rst));
    assert_int_equal(WEXITSTATUS(rst), 0);

    const char *keys[] = {"a", "b"};
    const sm_value vals[] = {sm_value_int(TB_TOTAL), sm_value_int(-TB_TOTAL)};
    assert_dict_is(d, keys, vals, N_ELEMS(keys));
    assert_var_is(v, sm_value_int(TB_TOTAL));
    assert_sm_ok(sm_dict_close(d));
    assert_sm_ok(sm_var_close(v));
    assert_sm_ok(sm_var_close(stop));
}

/* ------------------------------------------------------------------ size */

#define TB_BIG 10000
#define TB_MAX_OPS 65536

static void
test_pipeline_of_ten_thousand_dict_sets(void **state)
{
    (void)state;
    sm_dict *d = NULL;
    char key[32];
    char **ks = NULL;
    sm_value *vs = NULL;
    size_t n = SENTINEL_N, len = SENTINEL_N;

    assert_sm_ok(sm_dict_open(smt_client(), smt_name("batch.big"), &d));
    sm_batch *b = begin(SM_BATCH_PIPELINE);
    for (int i = 0; i < TB_BIG; i++) {
        snprintf(key, sizeof(key), "k%05d", i); /* one buffer: each call copies it */
        int rv = sm_dict_set(d, key, SMV(sm_value_int((int64_t)i * 3 - 7)));
        if (rv != SM_OK)
            assert_sm_ok(rv);
    }
    assert_int_equal(sm_batch_len(b), TB_BIG);
    assert_sm_ok(sm_batch_exec(b));
    assert_all_ok(b, TB_BIG);
    end();

    assert_sm_ok(sm_dict_len(d, &len));
    assert_int_equal(len, TB_BIG);
    assert_sm_ok(sm_dict_items(d, &ks, &vs, &n));
    assert_int_equal(n, TB_BIG);
    for (int i = 0; i < TB_BIG; i++) {
        snprintf(key, sizeof(key), "k%05d", i);
        if (strcmp(ks[i], key) != 0 || vs[i].type != SM_INT || vs[i].u.i != (int64_t)i * 3 - 7) {
            print_error("item %d: \"%s\" type %d value %" PRId64 ", wanted \"%s\" int %" PRId64
                        "\n",
                        i, ks[i], (int)vs[i].type, vs[i].u.i, key, (int64_t)i * 3 - 7);
            fail();
        }
    }
    sm_strings_free(ks, n);
    sm_values_free(vs, n);
    assert_sm_ok(sm_dict_close(d));
}

static void
test_batch_holds_at_most_65536_ops(void **state)
{
    (void)state;
    sm_var *v = NULL;
    const sm_value one = sm_value_int(1);

    assert_sm_ok(sm_var_open(smt_client(), smt_name("batch.max"), SMV(sm_value_int(0)), &v));
    sm_batch *b = begin(SM_BATCH_ATOMIC);
    for (int i = 0; i < TB_MAX_OPS; i++) {
        int rv = sm_var_add(v, &one, NULL);
        if (rv != SM_OK)
            assert_sm_ok(rv);
    }
    assert_int_equal(sm_batch_len(b), TB_MAX_OPS);
    assert_sm_status(sm_var_add(v, &one, NULL), SM_EINVAL); /* the 65,537th */
    assert_sm_status(sm_var_set(v, &one), SM_EINVAL);
    assert_int_equal(sm_batch_len(b), TB_MAX_OPS);
    assert_sm_ok(sm_batch_exec(b));
    assert_all_ok(b, TB_MAX_OPS);
    end();
    assert_var_is(v, sm_value_int(TB_MAX_OPS));
    assert_sm_ok(sm_var_close(v));
}

#define TB_TEST(f) cmocka_unit_test_teardown(f, tb_teardown)

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        TB_TEST(test_atomic_batch_applies_every_op_and_fills_every_output),
        TB_TEST(test_recorded_calls_change_nothing_until_exec),
        TB_TEST(test_atomic_failure_rolls_every_object_back),
        TB_TEST(test_atomic_failure_in_the_first_op_changes_nothing),
        TB_TEST(test_atomic_list_get_out_of_range_fails_the_batch),
        TB_TEST(test_atomic_failure_in_the_last_op_undoes_repeated_writes),
        TB_TEST(test_atomic_failure_restores_every_key_in_its_place),
        TB_TEST(test_atomic_failure_rolls_a_namespace_back),
        TB_TEST(test_atomic_failure_restores_a_deleted_reference),
        TB_TEST(test_atomic_failure_restores_a_popped_reference_and_the_list_it_names),
        TB_TEST(test_atomic_failure_drops_a_reference_it_stored),
        TB_TEST(test_atomic_success_deleting_the_last_reference_frees_the_list),
        TB_TEST(test_pipeline_applies_every_op_but_the_failed_one),
        TB_TEST(test_pipeline_reports_each_failure_and_the_first_one),
        TB_TEST(test_unbatchable_calls_are_einval_and_not_recorded),
        TB_TEST(test_dict_get_or_is_einval_while_recording),
        TB_TEST(test_batch_calls_refuse_misuse),
        TB_TEST(test_empty_batch_is_ok),
        TB_TEST(test_calls_on_another_client_go_out_at_once),
        TB_TEST(test_calls_from_another_thread_go_out_at_once),
        TB_TEST(test_two_threads_record_batches_on_one_client_at_once),
        TB_TEST(test_exec_on_another_thread_is_einval_and_recording_goes_on),
        TB_TEST(test_close_while_recording_releases_at_once),
        TB_TEST(test_atomic_batches_from_four_processes_are_never_seen_half_done),
        TB_TEST(test_pipeline_of_ten_thousand_dict_sets),
        TB_TEST(test_batch_holds_at_most_65536_ops),
    };
    return SMT_MAIN_CHILDREN("batch", tests, children);
}
