/* test_list.c - sm_list against a real syncmgrd, over ipc:// and tcp://.
 *
 * Every operation in syncmgr.h's list section is checked against the header
 * and Python's list: after each call the whole list is read back (len, the
 * full slice and, for short lists, get at every positive and negative
 * index), so a test fails whenever an operation leaves any other state than
 * the exact expected one. Failed calls must leave the caller's outputs as
 * they were. Equality for remove/index/count is sm_value_equal's: the same
 * kind and content, except that SM_INT and SM_DOUBLE compare by number.
 *
 * Most tests get a fresh named list in *state from list_setup(); the tests
 * of open, new and attach make their own. */
#include "smt.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SMV turns a value expression into a pointer to a temporary copy. */
#define SMV(expr) ((const sm_value[]){expr})

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------- list checks */

/* check_list reads the whole of l back and fails unless it holds exactly
 * vals[0..n-1]. Lists of up to 32 items are also read item by item, from
 * the front and from the back. */
static void
check_list(sm_list *l, const sm_value *vals, size_t n, const char *file, int line)
{
    size_t len = 12345, ns = 12345;
    sm_value *vs = NULL;
    char what[64];

    smt_assert_status(sm_list_len(l, &len), SM_OK, "sm_list_len", file, line);
    if (len != n) {
        print_error("sm_list_len: %zu items, wanted %zu\n", len, n);
        _fail(file, line);
    }
    smt_assert_status(sm_list_slice(l, 0, SM_END, &vs, &ns), SM_OK, "sm_list_slice(0, SM_END)",
                      file, line);
    if (ns != n) {
        print_error("sm_list_slice(0, SM_END): %zu items, wanted %zu\n", ns, n);
        _fail(file, line);
    }
    if (n == 0 && vs != NULL) {
        print_error("sm_list_slice of an empty list gave a non-NULL array\n");
        _fail(file, line);
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(what, sizeof(what), "slice()[%zu]", i);
        smt_check_value(&vs[i], &vals[i], what, file, line);
    }
    sm_values_free(vs, ns);

    for (size_t i = 0; n <= 32 && i < n; i++) {
        sm_value got = sm_value_nil();
        smt_assert_status(sm_list_get(l, (int64_t)i, &got), SM_OK, "sm_list_get", file, line);
        snprintf(what, sizeof(what), "get(%zu)", i);
        smt_check_value(&got, &vals[i], what, file, line);
        sm_value_clear(&got);
        smt_assert_status(sm_list_get(l, (int64_t)i - (int64_t)n, &got), SM_OK, "sm_list_get", file,
                          line);
        snprintf(what, sizeof(what), "get(%" PRId64 ")", (int64_t)i - (int64_t)n);
        smt_check_value(&got, &vals[i], what, file, line);
        sm_value_clear(&got);
    }
}
#define assert_list_is(l, vals, n) check_list((l), (vals), (n), __FILE__, __LINE__)
#define assert_list_empty(l)       check_list((l), NULL, 0, __FILE__, __LINE__)

/* check_slice fails unless l[start:stop] is exactly vals[0..n-1]. */
static void
check_slice(sm_list *l, int64_t start, int64_t stop, const sm_value *vals, size_t n,
            const char *file, int line)
{
    sm_value *vs = NULL;
    size_t ns = 12345;
    char what[96];

    snprintf(what, sizeof(what), "sm_list_slice(%" PRId64 ", %" PRId64 ")", start, stop);
    smt_assert_status(sm_list_slice(l, start, stop, &vs, &ns), SM_OK, what, file, line);
    if (ns != n || (n == 0 && vs != NULL)) {
        print_error("%s: %zu items (array %s), wanted %zu\n", what, ns,
                    vs == NULL ? "NULL" : "non-NULL", n);
        _fail(file, line);
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(what, sizeof(what), "slice(%" PRId64 ", %" PRId64 ")[%zu]", start, stop, i);
        smt_check_value(&vs[i], &vals[i], what, file, line);
    }
    sm_values_free(vs, ns);
}
#define assert_slice_is(l, start, stop, vals, n)                                                   \
    check_slice((l), (start), (stop), (vals), (n), __FILE__, __LINE__)

/* check_index fails unless l.index(v, start, stop) is want (-1: not found,
 * and then the output must be untouched). */
static void
check_index(sm_list *l, const sm_value *v, int64_t start, int64_t stop, int64_t want,
            const char *file, int line)
{
    int64_t got = -777;
    char what[96];

    snprintf(what, sizeof(what), "sm_list_index(start %" PRId64 ", stop %" PRId64 ")", start, stop);
    smt_assert_status(sm_list_index(l, v, start, stop, &got), want < 0 ? SM_ENOTFOUND : SM_OK, what,
                      file, line);
    if (got != (want < 0 ? -777 : want)) {
        print_error("%s: index %" PRId64 ", wanted %" PRId64 "\n", what, got, want);
        _fail(file, line);
    }
}
#define assert_index_is(l, v, start, stop, want)                                                   \
    check_index((l), (v), (start), (stop), (want), __FILE__, __LINE__)

/* check_count fails unless l.count(v) is want. */
static void
check_count(sm_list *l, const sm_value *v, size_t want, const char *file, int line)
{
    size_t got = 12345;
    char desc[160];

    smt_assert_status(sm_list_count(l, v, &got), SM_OK, "sm_list_count", file, line);
    if (got != want) {
        smt_describe(v, desc, sizeof(desc));
        print_error("sm_list_count(%s): %zu, wanted %zu\n", desc, got, want);
        _fail(file, line);
    }
}
#define assert_count_is(l, v, want) check_count((l), (v), (want), __FILE__, __LINE__)

/* --------------------------------------------------------------- fixtures */

static int
list_setup(void **state)
{
    sm_list *l = NULL;
    int rv = sm_list_open(smt_client(), smt_name("list"), &l);
    if (rv != SM_OK) {
        print_error("sm_list_open: %s (%s)\n", sm_errname(rv), sm_errdetail());
        return -1;
    }
    *state = l;
    return 0;
}

static int
list_teardown(void **state)
{
    int rv = sm_list_close(*state);
    *state = NULL;
    return rv == SM_OK ? 0 : -1;
}

/* gone_token returns (malloc'd) the token of an anonymous dict that has
 * already been freed: a reference to it names an object that is gone. */
static char *
gone_token(void)
{
    sm_dict *d = NULL;
    assert_sm_ok(sm_dict_new(smt_client(), &d));
    char *tok = strdup(sm_dict_token(d));
    assert_non_null(tok);
    assert_sm_ok(sm_dict_close(d));
    return tok;
}

/* ------------------------------------------------------ open, new, attach */

static void
test_list_open_creates_an_empty_list(void **state)
{
    sm_list *l = *state;
    const char *tok = sm_list_token(l);

    assert_non_null(tok);
    assert_true(strlen(tok) > 0);
    assert_list_empty(l);
}

static void
test_list_open_same_name_reaches_the_same_list(void **state)
{
    char name[256];
    sm_list *a = NULL, *b = NULL;
    (void)state;

    snprintf(name, sizeof(name), "%s", smt_name("list"));
    assert_sm_ok(sm_list_open(smt_client(), name, &a));
    assert_sm_ok(sm_list_open(smt_client(), name, &b));
    assert_sm_ok(sm_list_append(a, SMV(sm_value_int(1))));
    assert_sm_ok(sm_list_append(b, SMV(sm_value_str("two"))));

    sm_value vals[] = {sm_value_int(1), sm_value_str("two")};
    assert_list_is(a, vals, 2);
    assert_list_is(b, vals, 2);

    /* A named list outlives its proxies. */
    assert_sm_ok(sm_list_close(a));
    assert_sm_ok(sm_list_close(b));
    a = NULL;
    assert_sm_ok(sm_list_open(smt_client(), name, &a));
    assert_list_is(a, vals, 2);
    assert_sm_ok(sm_list_close(a));
}

static void
test_list_open_name_holding_a_dict_is_wrongtype(void **state)
{
    char name[256];
    sm_dict *d = NULL;
    int marker;
    sm_list *l = (sm_list *)(void *)&marker;
    (void)state;

    snprintf(name, sizeof(name), "%s", smt_name("list-dict"));
    assert_sm_ok(sm_dict_open(smt_client(), name, &d));
    assert_sm_ok(sm_dict_set(d, "k", SMV(sm_value_int(1))));
    assert_sm_status(sm_list_open(smt_client(), name, &l), SM_EWRONGTYPE);
    assert_ptr_equal(l, (sm_list *)(void *)&marker);

    /* The dict is untouched by the failed open. */
    size_t n = 0;
    assert_sm_ok(sm_dict_len(d, &n));
    assert_int_equal(n, 1);
    assert_sm_ok(sm_dict_close(d));
}

static void
test_list_open_rejects_bad_arguments(void **state)
{
    sm_client *c = smt_client();
    int marker;
    sm_list *const untouched = (sm_list *)(void *)&marker;
    sm_list *l = untouched;
    char name[300];
    (void)state;

    assert_sm_status(sm_list_open(NULL, smt_name("list"), &l), SM_EINVAL);
    assert_sm_status(sm_list_open(c, NULL, &l), SM_EINVAL);
    assert_sm_status(sm_list_open(c, smt_name("list"), NULL), SM_EINVAL);
    assert_sm_status(sm_list_open(c, "", &l), SM_EINVAL);
    assert_ptr_equal(l, untouched);

    /* Names are 1 to 255 bytes. The header does not say which status an
     * over-long name gets; both plausible ones are accepted. */
    memset(name, 'n', 256);
    name[256] = '\0';
    int rv = sm_list_open(c, name, &l);
    if (rv != SM_EINVAL && rv != SM_ELIMIT)
        fail_msg("256-byte name: %s, wanted SM_EINVAL or SM_ELIMIT", sm_errname(rv));
    assert_ptr_equal(l, untouched);

    snprintf(name, sizeof(name), "%s", smt_name("list"));
    size_t k = strlen(name);
    memset(name + k, 'n', 255 - k);
    name[255] = '\0';
    assert_sm_ok(sm_list_open(c, name, &l));
    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(1))));
    assert_list_is(l, SMV(sm_value_int(1)), 1);
    assert_sm_ok(sm_list_close(l));
}

static void
test_list_new_creates_an_empty_anonymous_list(void **state)
{
    sm_list *a = NULL, *b = NULL;
    int marker;
    sm_list *const untouched = (sm_list *)(void *)&marker;
    sm_list *x = untouched;
    (void)state;

    assert_sm_ok(sm_list_new(smt_client(), &a));
    assert_sm_ok(sm_list_new(smt_client(), &b));
    assert_non_null(sm_list_token(a));
    assert_non_null(sm_list_token(b));
    assert_string_not_equal(sm_list_token(a), sm_list_token(b));
    assert_list_empty(a);

    /* Two anonymous lists are two objects. */
    assert_sm_ok(sm_list_append(a, SMV(sm_value_bool(true))));
    assert_list_is(a, SMV(sm_value_bool(true)), 1);
    assert_list_empty(b);

    assert_sm_status(sm_list_new(NULL, &x), SM_EINVAL);
    assert_ptr_equal(x, untouched);
    assert_sm_status(sm_list_new(smt_client(), NULL), SM_EINVAL);

    assert_sm_ok(sm_list_close(a));
    assert_sm_ok(sm_list_close(b));
}

static void
test_list_attach_by_token_reaches_the_same_list(void **state)
{
    sm_list *a = NULL, *b = NULL;
    sm_dict *d = NULL;
    int marker;
    sm_list *const untouched = (sm_list *)(void *)&marker;
    sm_list *x = untouched;
    (void)state;

    assert_sm_ok(sm_list_new(smt_client(), &a));
    assert_sm_ok(sm_list_attach(smt_client(), sm_list_token(a), &b));
    assert_sm_ok(sm_list_append(a, SMV(sm_value_int(1))));
    assert_sm_ok(sm_list_append(b, SMV(sm_value_int(2))));
    sm_value vals[] = {sm_value_int(1), sm_value_int(2)};
    assert_list_is(a, vals, 2);
    assert_list_is(b, vals, 2);

    assert_sm_status(sm_list_attach(smt_client(), "certainly not a token", &x), SM_EINVAL);
    assert_ptr_equal(x, untouched);
    assert_sm_ok(sm_dict_new(smt_client(), &d));
    assert_sm_status(sm_list_attach(smt_client(), sm_dict_token(d), &x), SM_EWRONGTYPE);
    assert_ptr_equal(x, untouched);
    assert_sm_status(sm_list_attach(NULL, sm_list_token(a), &x), SM_EINVAL);
    assert_sm_status(sm_list_attach(smt_client(), NULL, &x), SM_EINVAL);
    assert_sm_status(sm_list_attach(smt_client(), sm_list_token(a), NULL), SM_EINVAL);
    assert_ptr_equal(x, untouched);

    assert_sm_ok(sm_dict_close(d));
    assert_sm_ok(sm_list_close(a));
    assert_sm_ok(sm_list_close(b));
}

static void
test_list_new_is_freed_when_its_last_proxy_closes(void **state)
{
    sm_list *a = NULL, *b = NULL;
    int marker;
    sm_list *const untouched = (sm_list *)(void *)&marker;
    sm_list *x = untouched;
    (void)state;

    assert_sm_ok(sm_list_new(smt_client(), &a));
    char *tok = strdup(sm_list_token(a));
    assert_non_null(tok);
    assert_sm_ok(sm_list_append(a, SMV(sm_value_int(1))));
    assert_sm_ok(sm_list_attach(smt_client(), tok, &b));

    /* One proxy left: the list lives on. */
    assert_sm_ok(sm_list_close(a));
    assert_list_is(b, SMV(sm_value_int(1)), 1);

    assert_sm_ok(sm_list_close(b));
    assert_sm_status(sm_list_attach(smt_client(), tok, &x), SM_ENOOBJ);
    assert_ptr_equal(x, untouched);
    free(tok);
}

static void
test_list_close_of_null_is_a_no_op(void **state)
{
    (void)state;
    (void)sm_list_close(NULL);
}

/* ---------------------------------------------------- append, extend, insert */

static void
test_list_append_adds_at_the_end(void **state)
{
    sm_list *l = *state;

    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(1))));
    assert_list_is(l, SMV(sm_value_int(1)), 1);
    assert_sm_ok(sm_list_append(l, SMV(sm_value_str("b"))));
    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(1))));
    assert_sm_ok(sm_list_append(l, SMV(sm_value_nil())));

    /* Duplicates are kept. */
    sm_value vals[] = {sm_value_int(1), sm_value_str("b"), sm_value_int(1), sm_value_nil()};
    assert_list_is(l, vals, 4);
}

static void
test_list_append_copies_the_callers_buffers(void **state)
{
    sm_list *l = *state;
    char text[] = "original";
    unsigned char raw[] = {1, 0, 3};

    assert_sm_ok(sm_list_append(l, SMV(sm_value_str(text))));
    assert_sm_ok(sm_list_extend(l, SMV(sm_value_bytes(raw, sizeof(raw))), 1));
    assert_sm_ok(sm_list_insert(l, 0, SMV(sm_value_str(text))));
    memcpy(text, "CHANGED!", sizeof(text));
    memset(raw, 0xee, sizeof(raw));

    sm_value vals[] = {sm_value_str("original"), sm_value_str("original"),
                       sm_value_bytes("\x01\x00\x03", 3)};
    assert_list_is(l, vals, 3);
}

static void
test_list_extend_appends_all_in_order(void **state)
{
    enum { NBIG = 1000 };
    sm_list *l = *state;
    sm_value *big = calloc(NBIG + 4, sizeof(sm_value));

    assert_non_null(big);
    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(0))));
    sm_value more[] = {sm_value_int(1), sm_value_str("two"), sm_value_double(3.0)};
    assert_sm_ok(sm_list_extend(l, more, 3));
    sm_value vals[] = {sm_value_int(0), sm_value_int(1), sm_value_str("two"), sm_value_double(3.0)};
    assert_list_is(l, vals, 4);

    /* n == 0 changes nothing. */
    assert_sm_ok(sm_list_extend(l, more, 0));
    assert_list_is(l, vals, 4);

    /* Many in one call, after what is there. */
    memcpy(big, vals, sizeof(vals));
    for (int i = 0; i < NBIG; i++)
        big[4 + i] = sm_value_int((int64_t)i * i - 500);
    assert_sm_ok(sm_list_extend(l, big + 4, NBIG));
    assert_list_is(l, big, NBIG + 4);
    free(big);
}

static void
test_list_reference_to_a_gone_object_is_enoobj_and_changes_nothing(void **state)
{
    sm_list *l = *state;
    char *tok = gone_token();

    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(1))));
    assert_sm_status(sm_list_append(l, SMV(sm_value_ref(tok))), SM_ENOOBJ);
    assert_sm_status(sm_list_insert(l, 0, SMV(sm_value_ref(tok))), SM_ENOOBJ);
    assert_sm_status(sm_list_set(l, 0, SMV(sm_value_ref(tok))), SM_ENOOBJ);

    /* extend is all or nothing: the good values around the bad one stay out. */
    sm_value batch[] = {sm_value_int(2), sm_value_ref(tok), sm_value_int(3)};
    assert_sm_status(sm_list_extend(l, batch, 3), SM_ENOOBJ);

    assert_list_is(l, SMV(sm_value_int(1)), 1);
    free(tok);
}

static void
test_list_insert_goes_before_the_index(void **state)
{
    sm_list *l = *state;

    sm_value init[] = {sm_value_int(10), sm_value_int(20), sm_value_int(30)};
    assert_sm_ok(sm_list_extend(l, init, 3));

    assert_sm_ok(sm_list_insert(l, 0, SMV(sm_value_int(0))));
    {
        sm_value vals[] = {sm_value_int(0), sm_value_int(10), sm_value_int(20), sm_value_int(30)};
        assert_list_is(l, vals, 4);
    }
    assert_sm_ok(sm_list_insert(l, 2, SMV(sm_value_int(15))));
    {
        sm_value vals[] = {sm_value_int(0), sm_value_int(10), sm_value_int(15), sm_value_int(20),
                           sm_value_int(30)};
        assert_list_is(l, vals, 5);
    }
    /* At len: the end. */
    assert_sm_ok(sm_list_insert(l, 5, SMV(sm_value_int(40))));
    /* -1: before the last item. */
    assert_sm_ok(sm_list_insert(l, -1, SMV(sm_value_int(35))));
    {
        sm_value vals[] = {sm_value_int(0),  sm_value_int(10), sm_value_int(15), sm_value_int(20),
                           sm_value_int(30), sm_value_int(35), sm_value_int(40)};
        assert_list_is(l, vals, 7);
    }
    /* -len: the front. */
    assert_sm_ok(sm_list_insert(l, -7, SMV(sm_value_int(-10))));
    /* -2 of 8: before index 6. */
    assert_sm_ok(sm_list_insert(l, -2, SMV(sm_value_str("x"))));
    sm_value vals[] = {sm_value_int(-10), sm_value_int(0),  sm_value_int(10),
                       sm_value_int(15),  sm_value_int(20), sm_value_int(30),
                       sm_value_str("x"), sm_value_int(35), sm_value_int(40)};
    assert_list_is(l, vals, 9);
}

static void
test_list_insert_clamps_out_of_range_indices_like_python(void **state)
{
    sm_list *l = *state;

    /* Python: a = []; a.insert(-5, 'x') */
    assert_sm_ok(sm_list_insert(l, -5, SMV(sm_value_str("x"))));
    assert_list_is(l, SMV(sm_value_str("x")), 1);
    assert_sm_ok(sm_list_clear(l));

    /* Python: a = []; a.insert(0, 'a'); a.insert(5, 'b'); a.insert(-1, 'c');
     * a.insert(-100, 'd'); a.insert(2, 'e') gives ['d', 'a', 'e', 'c', 'b']. */
    assert_sm_ok(sm_list_insert(l, 0, SMV(sm_value_str("a"))));
    assert_sm_ok(sm_list_insert(l, 5, SMV(sm_value_str("b"))));
    assert_sm_ok(sm_list_insert(l, -1, SMV(sm_value_str("c"))));
    assert_sm_ok(sm_list_insert(l, -100, SMV(sm_value_str("d"))));
    assert_sm_ok(sm_list_insert(l, 2, SMV(sm_value_str("e"))));
    {
        sm_value vals[] = {sm_value_str("d"), sm_value_str("a"), sm_value_str("e"),
                           sm_value_str("c"), sm_value_str("b")};
        assert_list_is(l, vals, 5);
    }
    /* The extremes of int64 clamp too, without overflowing. */
    assert_sm_ok(sm_list_insert(l, INT64_MAX, SMV(sm_value_str("f"))));
    assert_sm_ok(sm_list_insert(l, INT64_MIN, SMV(sm_value_str("g"))));
    assert_sm_ok(sm_list_insert(l, 6, SMV(sm_value_str("h")))); /* 8 items: before the last */
    sm_value vals[] = {sm_value_str("g"), sm_value_str("d"), sm_value_str("a"), sm_value_str("e"),
                       sm_value_str("c"), sm_value_str("b"), sm_value_str("h"), sm_value_str("f")};
    assert_list_is(l, vals, 8);
}

/* ----------------------------------------------------------------- get, set */

static void
test_list_get_accepts_negative_indices(void **state)
{
    sm_list *l = *state;
    sm_value v = sm_value_nil();

    sm_value init[] = {sm_value_int(10), sm_value_str("twenty"), sm_value_double(30.5)};
    assert_sm_ok(sm_list_extend(l, init, 3));

    assert_sm_ok(sm_list_get(l, 0, &v));
    smt_assert_value_is(&v, SMV(sm_value_int(10)));
    assert_sm_ok(sm_list_get(l, 1, &v));
    smt_assert_value_is(&v, SMV(sm_value_str("twenty")));
    sm_value_clear(&v);
    assert_sm_ok(sm_list_get(l, 2, &v));
    smt_assert_value_is(&v, SMV(sm_value_double(30.5)));
    assert_sm_ok(sm_list_get(l, -1, &v));
    smt_assert_value_is(&v, SMV(sm_value_double(30.5)));
    assert_sm_ok(sm_list_get(l, -2, &v));
    smt_assert_value_is(&v, SMV(sm_value_str("twenty")));
    sm_value_clear(&v);
    assert_sm_ok(sm_list_get(l, -3, &v));
    smt_assert_value_is(&v, SMV(sm_value_int(10)));

    /* get copies: the list is unchanged. */
    assert_list_is(l, init, 3);
}

static void
test_list_get_out_of_range_is_erange_and_leaves_output_untouched(void **state)
{
    sm_list *l = *state;
    sm_value v = {.type = SM_INT, .u.i = 42};

    assert_sm_status(sm_list_get(l, 0, &v), SM_ERANGE);
    assert_sm_status(sm_list_get(l, -1, &v), SM_ERANGE);

    sm_value init[] = {sm_value_int(10), sm_value_int(20), sm_value_int(30)};
    assert_sm_ok(sm_list_extend(l, init, 3));
    assert_sm_status(sm_list_get(l, 3, &v), SM_ERANGE);
    assert_sm_status(sm_list_get(l, -4, &v), SM_ERANGE);
    assert_sm_status(sm_list_get(l, INT64_MAX, &v), SM_ERANGE);
    assert_sm_status(sm_list_get(l, INT64_MIN, &v), SM_ERANGE);
    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, 42);
    assert_list_is(l, init, 3);
}

static void
test_list_set_replaces_the_item(void **state)
{
    sm_list *l = *state;

    sm_value init[] = {sm_value_int(10), sm_value_int(20), sm_value_int(30)};
    assert_sm_ok(sm_list_extend(l, init, 3));

    assert_sm_ok(sm_list_set(l, 0, SMV(sm_value_int(11))));
    assert_sm_ok(sm_list_set(l, -1, SMV(sm_value_str("thirty"))));
    assert_sm_ok(sm_list_set(l, 1, SMV(sm_value_nil())));
    {
        sm_value vals[] = {sm_value_int(11), sm_value_nil(), sm_value_str("thirty")};
        assert_list_is(l, vals, 3);
    }
    assert_sm_ok(sm_list_set(l, -3, SMV(sm_value_bool(false))));
    assert_sm_ok(sm_list_set(l, 2, SMV(sm_value_double(-1.5))));
    sm_value vals[] = {sm_value_bool(false), sm_value_nil(), sm_value_double(-1.5)};
    assert_list_is(l, vals, 3);
}

static void
test_list_set_out_of_range_is_erange_and_changes_nothing(void **state)
{
    sm_list *l = *state;

    assert_sm_status(sm_list_set(l, 0, SMV(sm_value_int(1))), SM_ERANGE);
    assert_sm_status(sm_list_set(l, -1, SMV(sm_value_int(1))), SM_ERANGE);
    assert_list_empty(l);

    sm_value init[] = {sm_value_int(10), sm_value_int(20), sm_value_int(30)};
    assert_sm_ok(sm_list_extend(l, init, 3));
    assert_sm_status(sm_list_set(l, 3, SMV(sm_value_int(1))), SM_ERANGE);
    assert_sm_status(sm_list_set(l, -4, SMV(sm_value_int(1))), SM_ERANGE);
    assert_sm_status(sm_list_set(l, INT64_MAX, SMV(sm_value_int(1))), SM_ERANGE);
    assert_sm_status(sm_list_set(l, INT64_MIN, SMV(sm_value_int(1))), SM_ERANGE);
    assert_list_is(l, init, 3);
}

/* --------------------------------------------------------------------- pop */

static void
test_list_pop_minus_one_takes_the_last_item(void **state)
{
    sm_list *l = *state;
    sm_value v = sm_value_nil();

    sm_value init[] = {sm_value_int(1), sm_value_int(2), sm_value_str("three")};
    assert_sm_ok(sm_list_extend(l, init, 3));

    assert_sm_ok(sm_list_pop(l, -1, &v));
    smt_assert_value_is(&v, SMV(sm_value_str("three")));
    sm_value_clear(&v);
    assert_list_is(l, init, 2);
    assert_sm_ok(sm_list_pop(l, -1, &v));
    smt_assert_value_is(&v, SMV(sm_value_int(2)));
    assert_list_is(l, init, 1);
    assert_sm_ok(sm_list_pop(l, -1, &v));
    smt_assert_value_is(&v, SMV(sm_value_int(1)));
    assert_list_empty(l);
}

static void
test_list_pop_takes_the_item_at_any_index(void **state)
{
    sm_list *l = *state;
    sm_value v = sm_value_nil();

    sm_value init[] = {sm_value_int(1), sm_value_int(2), sm_value_int(3),
                       sm_value_int(4), sm_value_int(5), sm_value_int(6)};
    assert_sm_ok(sm_list_extend(l, init, 6));

    assert_sm_ok(sm_list_pop(l, 0, &v));
    smt_assert_value_is(&v, SMV(sm_value_int(1)));
    {
        sm_value vals[] = {sm_value_int(2), sm_value_int(3), sm_value_int(4), sm_value_int(5),
                           sm_value_int(6)};
        assert_list_is(l, vals, 5);
    }
    assert_sm_ok(sm_list_pop(l, 2, &v));
    smt_assert_value_is(&v, SMV(sm_value_int(4)));
    {
        sm_value vals[] = {sm_value_int(2), sm_value_int(3), sm_value_int(5), sm_value_int(6)};
        assert_list_is(l, vals, 4);
    }
    assert_sm_ok(sm_list_pop(l, -2, &v));
    smt_assert_value_is(&v, SMV(sm_value_int(5)));
    assert_sm_ok(sm_list_pop(l, -3, &v));
    smt_assert_value_is(&v, SMV(sm_value_int(2)));
    {
        sm_value vals[] = {sm_value_int(3), sm_value_int(6)};
        assert_list_is(l, vals, 2);
    }
    /* out may be NULL. */
    assert_sm_ok(sm_list_pop(l, 1, NULL));
    assert_list_is(l, SMV(sm_value_int(3)), 1);
    assert_sm_ok(sm_list_pop(l, 0, NULL));
    assert_list_empty(l);
}

static void
test_list_pop_out_of_range_or_empty_is_erange(void **state)
{
    sm_list *l = *state;
    sm_value v = {.type = SM_INT, .u.i = 42};

    assert_sm_status(sm_list_pop(l, -1, &v), SM_ERANGE);
    assert_sm_status(sm_list_pop(l, 0, &v), SM_ERANGE);
    assert_sm_status(sm_list_pop(l, -1, NULL), SM_ERANGE);
    assert_list_empty(l);

    sm_value init[] = {sm_value_int(1), sm_value_int(2)};
    assert_sm_ok(sm_list_extend(l, init, 2));
    assert_sm_status(sm_list_pop(l, 2, &v), SM_ERANGE);
    assert_sm_status(sm_list_pop(l, -3, &v), SM_ERANGE);
    assert_sm_status(sm_list_pop(l, INT64_MAX, &v), SM_ERANGE);
    assert_sm_status(sm_list_pop(l, INT64_MIN, &v), SM_ERANGE);
    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, 42);
    assert_list_is(l, init, 2);
}

/* ------------------------------------------------------------------ remove */

static void
test_list_remove_takes_only_the_first_match(void **state)
{
    sm_list *l = *state;

    sm_value init[] = {sm_value_int(1), sm_value_int(2), sm_value_int(1), sm_value_int(2),
                       sm_value_str("x")};
    assert_sm_ok(sm_list_extend(l, init, 5));

    assert_sm_ok(sm_list_remove(l, SMV(sm_value_int(2))));
    {
        sm_value vals[] = {sm_value_int(1), sm_value_int(1), sm_value_int(2), sm_value_str("x")};
        assert_list_is(l, vals, 4);
    }
    assert_sm_ok(sm_list_remove(l, SMV(sm_value_str("x"))));
    assert_sm_ok(sm_list_remove(l, SMV(sm_value_int(1))));
    {
        sm_value vals[] = {sm_value_int(1), sm_value_int(2)};
        assert_list_is(l, vals, 2);
    }
    assert_sm_ok(sm_list_remove(l, SMV(sm_value_int(2))));
    assert_sm_ok(sm_list_remove(l, SMV(sm_value_int(1))));
    assert_list_empty(l);
}

static void
test_list_remove_missing_value_is_enotfound_and_changes_nothing(void **state)
{
    sm_list *l = *state;
    const unsigned char ab[] = {'a', 'b'};

    assert_sm_status(sm_list_remove(l, SMV(sm_value_nil())), SM_ENOTFOUND);
    assert_list_empty(l);

    sm_value init[] = {sm_value_int(1), sm_value_str("ab"), sm_value_bool(false)};
    assert_sm_ok(sm_list_extend(l, init, 3));
    assert_sm_status(sm_list_remove(l, SMV(sm_value_int(3))), SM_ENOTFOUND);
    assert_sm_status(sm_list_remove(l, SMV(sm_value_nil())), SM_ENOTFOUND);
    /* The same content of another kind is not equal. */
    assert_sm_status(sm_list_remove(l, SMV(sm_value_str("1"))), SM_ENOTFOUND);
    assert_sm_status(sm_list_remove(l, SMV(sm_value_bytes(ab, 2))), SM_ENOTFOUND);
    assert_sm_status(sm_list_remove(l, SMV(sm_value_bool(true))), SM_ENOTFOUND);
    assert_sm_status(sm_list_remove(l, SMV(sm_value_str("a"))), SM_ENOTFOUND);
    assert_sm_status(sm_list_remove(l, SMV(sm_value_str("abc"))), SM_ENOTFOUND);
    assert_list_is(l, init, 3);
}

static void
test_list_remove_compares_int_and_double_by_number(void **state)
{
    sm_list *l = *state;

    sm_value init[] = {sm_value_str("1"), sm_value_int(1), sm_value_double(2.0), sm_value_int(3),
                       sm_value_double(-0.0)};
    assert_sm_ok(sm_list_extend(l, init, 5));

    /* Python: l.remove(1.0) removes the int 1; l.remove(2) the double 2.0. */
    assert_sm_ok(sm_list_remove(l, SMV(sm_value_double(1.0))));
    assert_sm_ok(sm_list_remove(l, SMV(sm_value_int(2))));
    {
        sm_value vals[] = {sm_value_str("1"), sm_value_int(3), sm_value_double(-0.0)};
        assert_list_is(l, vals, 3);
    }
    assert_sm_status(sm_list_remove(l, SMV(sm_value_double(3.5))), SM_ENOTFOUND);
    /* Python: 0 == -0.0 */
    assert_sm_ok(sm_list_remove(l, SMV(sm_value_int(0))));
    sm_value vals[] = {sm_value_str("1"), sm_value_int(3)};
    assert_list_is(l, vals, 2);
}

/* ------------------------------------------------------------------- index */

static void
test_list_index_finds_the_first_match(void **state)
{
    sm_list *l = *state;

    sm_value init[] = {sm_value_str("a"), sm_value_str("b"), sm_value_str("c"), sm_value_str("b"),
                       sm_value_str("a")};
    assert_sm_ok(sm_list_extend(l, init, 5));

    assert_index_is(l, SMV(sm_value_str("a")), 0, SM_END, 0);
    assert_index_is(l, SMV(sm_value_str("b")), 0, SM_END, 1);
    assert_index_is(l, SMV(sm_value_str("c")), 0, SM_END, 2);
    assert_list_is(l, init, 5);
}

static void
test_list_index_honours_start_and_stop_like_python(void **state)
{
    sm_list *l = *state;
    const sm_value *a = SMV(sm_value_str("a"));
    const sm_value *b = SMV(sm_value_str("b"));
    const sm_value *c = SMV(sm_value_str("c"));

    /* Each expectation is Python's list('abcba').index(x, start, stop). */
    sm_value init[] = {*a, *b, *c, *b, *a};
    assert_sm_ok(sm_list_extend(l, init, 5));

    assert_index_is(l, a, 2, SM_END, 4);
    assert_index_is(l, b, 2, SM_END, 3);
    assert_index_is(l, c, 2, SM_END, 2);
    assert_index_is(l, b, 2, 3, -1);
    assert_index_is(l, c, 2, 3, 2);
    assert_index_is(l, b, 2, 4, 3);
    assert_index_is(l, a, -2, SM_END, 4);
    assert_index_is(l, b, -2, SM_END, 3);
    assert_index_is(l, c, -2, SM_END, -1);
    assert_index_is(l, b, 0, -2, 1);
    assert_index_is(l, b, 2, -1, 3);
    assert_index_is(l, a, 2, -1, -1);
    assert_index_is(l, a, 1, -1, -1);
    assert_index_is(l, c, -3, -2, 2);
    assert_index_is(l, b, -3, -2, -1);
    assert_index_is(l, b, -100, 100, 1);
    assert_index_is(l, a, INT64_MIN, INT64_MAX, 0);
    assert_index_is(l, b, 4, 2, -1);
    assert_index_is(l, a, 5, SM_END, -1);
    assert_index_is(l, a, 100, SM_END, -1);
    assert_index_is(l, a, 0, 0, -1);
    assert_index_is(l, a, 0, INT64_MIN, -1);
    assert_list_is(l, init, 5);
}

static void
test_list_index_missing_value_is_enotfound_and_leaves_output_untouched(void **state)
{
    sm_list *l = *state;

    assert_index_is(l, SMV(sm_value_nil()), 0, SM_END, -1);
    sm_value init[] = {sm_value_int(1), sm_value_str("1"), sm_value_nil()};
    assert_sm_ok(sm_list_extend(l, init, 3));
    assert_index_is(l, SMV(sm_value_int(2)), 0, SM_END, -1);
    assert_index_is(l, SMV(sm_value_bool(true)), 0, SM_END, -1);
    assert_index_is(l, SMV(sm_value_bytes("1", 1)), 0, SM_END, -1);
    assert_index_is(l, SMV(sm_value_str("")), 0, SM_END, -1);
    /* Present, but outside [start, stop). */
    assert_index_is(l, SMV(sm_value_int(1)), 1, SM_END, -1);
    assert_list_is(l, init, 3);
}

static void
test_list_index_compares_int_and_double_by_number(void **state)
{
    sm_list *l = *state;

    sm_value init[] = {sm_value_int(0), sm_value_double(1.0), sm_value_int(1),
                       sm_value_double(2.5)};
    assert_sm_ok(sm_list_extend(l, init, 4));

    assert_index_is(l, SMV(sm_value_int(1)), 0, SM_END, 1);
    assert_index_is(l, SMV(sm_value_double(1.0)), 2, SM_END, 2);
    assert_index_is(l, SMV(sm_value_double(-0.0)), 0, SM_END, 0);
    assert_index_is(l, SMV(sm_value_double(2.5)), 0, SM_END, 3);
    assert_index_is(l, SMV(sm_value_int(2)), 0, SM_END, -1);
    assert_list_is(l, init, 4);
}

/* ------------------------------------------------------------- count, len */

static void
test_list_count_counts_equal_items(void **state)
{
    sm_list *l = *state;
    const unsigned char one[] = {'1'};

    assert_count_is(l, SMV(sm_value_int(1)), 0);
    assert_count_is(l, SMV(sm_value_nil()), 0);

    sm_value init[] = {sm_value_int(1),        sm_value_double(1.0), sm_value_bool(true),
                       sm_value_str("1"),      sm_value_nil(),       sm_value_int(1),
                       sm_value_bytes(one, 1), sm_value_int(2),      sm_value_nil(),
                       sm_value_bool(false)};
    assert_sm_ok(sm_list_extend(l, init, 10));

    assert_count_is(l, SMV(sm_value_int(1)), 3);
    assert_count_is(l, SMV(sm_value_double(1.0)), 3);
    assert_count_is(l, SMV(sm_value_bool(true)), 1);
    assert_count_is(l, SMV(sm_value_bool(false)), 1);
    assert_count_is(l, SMV(sm_value_str("1")), 1);
    assert_count_is(l, SMV(sm_value_bytes(one, 1)), 1);
    assert_count_is(l, SMV(sm_value_nil()), 2);
    assert_count_is(l, SMV(sm_value_int(2)), 1);
    assert_count_is(l, SMV(sm_value_double(2.0)), 1);
    assert_count_is(l, SMV(sm_value_int(0)), 0);
    assert_count_is(l, SMV(sm_value_double(1.5)), 0);
    assert_count_is(l, SMV(sm_value_str("")), 0);
    assert_list_is(l, init, 10);
}

static void
test_list_count_compares_large_ints_and_doubles_exactly(void **state)
{
    sm_list *l = *state;

    /* Python compares int and float exactly: 2**63 - 1 != 2.0**63 and
     * 2**53 + 1 != 2.0**53, although each int rounds to that double. */
    sm_value init[] = {sm_value_int(INT64_MAX), sm_value_int(9007199254740993)};
    assert_sm_ok(sm_list_extend(l, init, 2));

    assert_count_is(l, SMV(sm_value_double(9223372036854775808.0)), 0);
    assert_count_is(l, SMV(sm_value_double(9007199254740992.0)), 0);
    assert_index_is(l, SMV(sm_value_double(9007199254740992.0)), 0, SM_END, -1);
    assert_sm_status(sm_list_remove(l, SMV(sm_value_double(9223372036854775808.0))), SM_ENOTFOUND);
    assert_count_is(l, SMV(sm_value_int(INT64_MAX)), 1);
    assert_count_is(l, SMV(sm_value_double(9007199254740994.0)), 0);
    assert_list_is(l, init, 2);
}

static void
test_list_len_counts_items(void **state)
{
    sm_list *l = *state;
    size_t n = 99;

    assert_sm_ok(sm_list_len(l, &n));
    assert_int_equal(n, 0);
    for (int i = 0; i < 10; i++) {
        assert_sm_ok(sm_list_append(l, SMV(sm_value_int(i))));
        assert_sm_ok(sm_list_len(l, &n));
        assert_int_equal(n, (size_t)i + 1);
    }
    assert_sm_ok(sm_list_pop(l, 0, NULL));
    assert_sm_ok(sm_list_remove(l, SMV(sm_value_int(5))));
    assert_sm_ok(sm_list_insert(l, 100, SMV(sm_value_int(10))));
    assert_sm_ok(sm_list_len(l, &n));
    assert_int_equal(n, 9);

    sm_value vals[] = {sm_value_int(1), sm_value_int(2), sm_value_int(3),
                       sm_value_int(4), sm_value_int(6), sm_value_int(7),
                       sm_value_int(8), sm_value_int(9), sm_value_int(10)};
    assert_list_is(l, vals, 9);
}

/* ------------------------------------------------------------------- slice */

static void
test_list_slice_clamps_like_python(void **state)
{
    sm_list *l = *state;
    sm_value t[10];

    for (int i = 0; i < 10; i++)
        t[i] = sm_value_int(i);
    assert_sm_ok(sm_list_extend(l, t, 10));

    /* Each expectation is Python's list(range(10))[start:stop]. */
    assert_slice_is(l, 0, SM_END, t, 10);
    assert_slice_is(l, 2, 5, t + 2, 3);
    assert_slice_is(l, -3, SM_END, t + 7, 3);
    assert_slice_is(l, -100, 3, t, 3);
    assert_slice_is(l, 8, 100, t + 8, 2);
    assert_slice_is(l, -2, -1, t + 8, 1);
    assert_slice_is(l, -1, SM_END, t + 9, 1);
    assert_slice_is(l, -10, -9, t, 1);
    assert_slice_is(l, 9, 10, t + 9, 1);
    assert_slice_is(l, 0, -1, t, 9);
    assert_slice_is(l, INT64_MIN, INT64_MAX, t, 10);
    assert_slice_is(l, INT64_MIN, -5, t, 5);
    assert_slice_is(l, -5, INT64_MAX, t + 5, 5);
    assert_list_is(l, t, 10);
}

static void
test_list_slice_of_an_empty_range_is_null(void **state)
{
    sm_list *l = *state;
    sm_value t[10];

    assert_slice_is(l, 0, SM_END, NULL, 0);
    assert_slice_is(l, -1, 1, NULL, 0);

    for (int i = 0; i < 10; i++)
        t[i] = sm_value_int(i);
    assert_sm_ok(sm_list_extend(l, t, 10));

    assert_slice_is(l, 5, 2, NULL, 0);
    assert_slice_is(l, 10, SM_END, NULL, 0);
    assert_slice_is(l, 3, -100, NULL, 0);
    assert_slice_is(l, 0, 0, NULL, 0);
    assert_slice_is(l, 4, 4, NULL, 0);
    assert_slice_is(l, -11, -10, NULL, 0);
    assert_slice_is(l, 100, 200, NULL, 0);
    assert_slice_is(l, INT64_MAX, INT64_MIN, NULL, 0);
    assert_slice_is(l, -1, -2, NULL, 0);
    assert_list_is(l, t, 10);
}

/* ------------------------------------------------------------------- clear */

static void
test_list_clear_removes_every_item(void **state)
{
    sm_list *l = *state;

    assert_sm_ok(sm_list_clear(l));
    assert_list_empty(l);

    sm_value init[] = {sm_value_int(1), sm_value_str("2"), sm_value_nil()};
    assert_sm_ok(sm_list_extend(l, init, 3));
    assert_sm_ok(sm_list_clear(l));
    assert_list_empty(l);

    /* The list is usable afterwards. */
    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(7))));
    assert_list_is(l, SMV(sm_value_int(7)), 1);

    assert_sm_status(sm_list_clear(NULL), SM_EINVAL);
    assert_list_is(l, SMV(sm_value_int(7)), 1);
}

/* ----------------------------------------------------------- value kinds */

static void
test_list_every_value_kind_round_trips(void **state)
{
    sm_list *l = *state;
    sm_list *target = NULL, *via = NULL;
    static const unsigned char nuls[] = {'a', 0, 'b', 0, 0, 0xff, 0x80, 'c'};
    unsigned char *big = malloc(100000);
    sm_value got = sm_value_nil();

    assert_non_null(big);
    for (size_t i = 0; i < 100000; i++)
        big[i] = (unsigned char)(i * 7 + i / 256);
    assert_sm_ok(sm_list_new(smt_client(), &target));

    sm_value vals[] = {
        sm_value_nil(),
        sm_value_bool(true),
        sm_value_bool(false),
        sm_value_int(0),
        sm_value_int(INT64_MIN),
        sm_value_int(INT64_MAX),
        sm_value_int(-1),
        sm_value_double(3.141592653589793),
        sm_value_double(-0.0),
        sm_value_double(4.9406564584124654e-324),
        sm_value_double(-1.7976931348623157e308),
        sm_value_double(INFINITY),
        sm_value_double(-INFINITY),
        sm_value_bytes(nuls, sizeof(nuls)),
        sm_value_bytes(nuls, 0),
        sm_value_bytes(big, 100000),
        sm_value_str("plain text"),
        sm_value_str(""),
        sm_value_str("h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac"),
        sm_value_ref(sm_list_token(target)),
    };

    /* One at a time ... */
    for (size_t i = 0; i < N_ELEMS(vals); i++)
        assert_sm_ok(sm_list_append(l, &vals[i]));
    assert_list_is(l, vals, N_ELEMS(vals));

    /* ... and in one batch, into a second list. */
    sm_list *l2 = NULL;
    assert_sm_ok(sm_list_new(smt_client(), &l2));
    assert_sm_ok(sm_list_extend(l2, vals, N_ELEMS(vals)));
    assert_list_is(l2, vals, N_ELEMS(vals));

    /* Every kind is equal to itself for count and index. */
    for (size_t i = 0; i < N_ELEMS(vals); i++) {
        size_t want = i == 3 || i == 8 ? 2 : 1; /* 0 == -0.0 */
        assert_count_is(l2, &vals[i], want);
        assert_index_is(l2, &vals[i], 0, SM_END, i == 8 ? 3 : (int64_t)i);
    }

    /* The ref that came back is a live token. */
    assert_sm_ok(sm_list_append(target, SMV(sm_value_str("seen"))));
    assert_sm_ok(sm_list_get(l, -1, &got));
    assert_sm_ok(sm_list_attach(smt_client(), got.u.buf.ptr, &via));
    sm_value_clear(&got);
    assert_sm_ok(sm_list_get(via, 0, &got));
    smt_assert_value_is(&got, SMV(sm_value_str("seen")));
    sm_value_clear(&got);

    assert_sm_ok(sm_list_close(via));
    assert_sm_ok(sm_list_close(l2));
    assert_sm_ok(sm_list_close(target));
    free(big);
}

/* ----------------------------------------------------------- bad arguments */

static void
test_list_rejects_null_arguments(void **state)
{
    sm_list *l = *state;
    sm_value v = {.type = SM_INT, .u.i = 42};
    size_t n = 77;
    int64_t at = 77;
    int marker;
    sm_value *const vs_untouched = (sm_value *)(void *)&marker;
    sm_value *vs = vs_untouched;

    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(1))));

    assert_sm_status(sm_list_append(NULL, SMV(sm_value_int(2))), SM_EINVAL);
    assert_sm_status(sm_list_append(l, NULL), SM_EINVAL);
    assert_sm_status(sm_list_extend(NULL, SMV(sm_value_int(2)), 1), SM_EINVAL);
    assert_sm_status(sm_list_extend(l, NULL, 1), SM_EINVAL);
    assert_sm_status(sm_list_insert(NULL, 0, SMV(sm_value_int(2))), SM_EINVAL);
    assert_sm_status(sm_list_insert(l, 0, NULL), SM_EINVAL);
    assert_sm_status(sm_list_get(NULL, 0, &v), SM_EINVAL);
    assert_sm_status(sm_list_get(l, 0, NULL), SM_EINVAL);
    assert_sm_status(sm_list_set(NULL, 0, SMV(sm_value_int(2))), SM_EINVAL);
    assert_sm_status(sm_list_set(l, 0, NULL), SM_EINVAL);
    assert_sm_status(sm_list_pop(NULL, -1, &v), SM_EINVAL);
    assert_sm_status(sm_list_remove(NULL, SMV(sm_value_int(1))), SM_EINVAL);
    assert_sm_status(sm_list_remove(l, NULL), SM_EINVAL);
    assert_sm_status(sm_list_index(NULL, SMV(sm_value_int(1)), 0, SM_END, &at), SM_EINVAL);
    assert_sm_status(sm_list_index(l, NULL, 0, SM_END, &at), SM_EINVAL);
    assert_sm_status(sm_list_index(l, SMV(sm_value_int(1)), 0, SM_END, NULL), SM_EINVAL);
    assert_sm_status(sm_list_count(NULL, SMV(sm_value_int(1)), &n), SM_EINVAL);
    assert_sm_status(sm_list_count(l, NULL, &n), SM_EINVAL);
    assert_sm_status(sm_list_count(l, SMV(sm_value_int(1)), NULL), SM_EINVAL);
    assert_sm_status(sm_list_len(NULL, &n), SM_EINVAL);
    assert_sm_status(sm_list_len(l, NULL), SM_EINVAL);
    assert_sm_status(sm_list_slice(NULL, 0, SM_END, &vs, &n), SM_EINVAL);
    assert_sm_status(sm_list_slice(l, 0, SM_END, NULL, &n), SM_EINVAL);
    assert_sm_status(sm_list_slice(l, 0, SM_END, &vs, NULL), SM_EINVAL);
    assert_sm_status(sm_list_clear(NULL), SM_EINVAL);

    /* Outputs untouched, and the list too. */
    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, 42);
    assert_int_equal(n, 77);
    assert_int_equal(at, 77);
    assert_ptr_equal(vs, vs_untouched);
    assert_list_is(l, SMV(sm_value_int(1)), 1);
}

static void
test_list_rejects_malformed_values(void **state)
{
    sm_list *l = *state;
    size_t n = 77;
    int64_t at = 77;
    const sm_value unknown_kind = {.type = (sm_type)99};
    const sm_value str_without_text = {.type = SM_STR, .u.buf = {.ptr = NULL, .len = 3}};
    const sm_value bytes_without_buf = {.type = SM_BYTES, .u.buf = {.ptr = NULL, .len = 3}};
    const sm_value *bad[] = {&unknown_kind, &str_without_text, &bytes_without_buf,
                             SMV(sm_value_ref("certainly not a token"))};

    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(1))));
    for (size_t i = 0; i < N_ELEMS(bad); i++) {
        sm_value vals3[] = {sm_value_int(2), *bad[i], sm_value_int(3)};

        assert_sm_status(sm_list_append(l, bad[i]), SM_EINVAL);
        assert_sm_status(sm_list_extend(l, vals3, 3), SM_EINVAL);
        assert_sm_status(sm_list_insert(l, 0, bad[i]), SM_EINVAL);
        assert_sm_status(sm_list_set(l, 0, bad[i]), SM_EINVAL);
        assert_sm_status(sm_list_remove(l, bad[i]), SM_EINVAL);
        assert_sm_status(sm_list_index(l, bad[i], 0, SM_END, &at), SM_EINVAL);
        assert_sm_status(sm_list_count(l, bad[i], &n), SM_EINVAL);
    }
    assert_int_equal(n, 77);
    assert_int_equal(at, 77);
    assert_list_is(l, SMV(sm_value_int(1)), 1);
}

#define LIST_TEST(f) cmocka_unit_test_setup_teardown(f, list_setup, list_teardown)

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        LIST_TEST(test_list_open_creates_an_empty_list),
        cmocka_unit_test(test_list_open_same_name_reaches_the_same_list),
        cmocka_unit_test(test_list_open_name_holding_a_dict_is_wrongtype),
        cmocka_unit_test(test_list_open_rejects_bad_arguments),
        cmocka_unit_test(test_list_new_creates_an_empty_anonymous_list),
        cmocka_unit_test(test_list_attach_by_token_reaches_the_same_list),
        cmocka_unit_test(test_list_new_is_freed_when_its_last_proxy_closes),
        cmocka_unit_test(test_list_close_of_null_is_a_no_op),
        LIST_TEST(test_list_append_adds_at_the_end),
        LIST_TEST(test_list_append_copies_the_callers_buffers),
        LIST_TEST(test_list_extend_appends_all_in_order),
        LIST_TEST(test_list_reference_to_a_gone_object_is_enoobj_and_changes_nothing),
        LIST_TEST(test_list_insert_goes_before_the_index),
        LIST_TEST(test_list_insert_clamps_out_of_range_indices_like_python),
        LIST_TEST(test_list_get_accepts_negative_indices),
        LIST_TEST(test_list_get_out_of_range_is_erange_and_leaves_output_untouched),
        LIST_TEST(test_list_set_replaces_the_item),
        LIST_TEST(test_list_set_out_of_range_is_erange_and_changes_nothing),
        LIST_TEST(test_list_pop_minus_one_takes_the_last_item),
        LIST_TEST(test_list_pop_takes_the_item_at_any_index),
        LIST_TEST(test_list_pop_out_of_range_or_empty_is_erange),
        LIST_TEST(test_list_remove_takes_only_the_first_match),
        LIST_TEST(test_list_remove_missing_value_is_enotfound_and_changes_nothing),
        LIST_TEST(test_list_remove_compares_int_and_double_by_number),
        LIST_TEST(test_list_index_finds_the_first_match),
        LIST_TEST(test_list_index_honours_start_and_stop_like_python),
        LIST_TEST(test_list_index_missing_value_is_enotfound_and_leaves_output_untouched),
        LIST_TEST(test_list_index_compares_int_and_double_by_number),
        LIST_TEST(test_list_count_counts_equal_items),
        LIST_TEST(test_list_count_compares_large_ints_and_doubles_exactly),
        LIST_TEST(test_list_len_counts_items),
        LIST_TEST(test_list_slice_clamps_like_python),
        LIST_TEST(test_list_slice_of_an_empty_range_is_null),
        LIST_TEST(test_list_clear_removes_every_item),
        LIST_TEST(test_list_every_value_kind_round_trips),
        LIST_TEST(test_list_rejects_null_arguments),
        LIST_TEST(test_list_rejects_malformed_values),
    };
    return SMT_MAIN("list", tests);
}
