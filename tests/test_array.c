/* test_array.c - sm_array, Python's multiprocessing Array: every typecode,
 * shape accessors, element and slice access with Python's indexing, range
 * checks on element values, atomic add, and the seed program (a child
 * process doubles an array it was handed by token).
 *
 * After every operation the whole array is read back (get_slice and each
 * element with get) and compared exactly, kind included. */
#include "smt.h"

#include <float.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

#define MAXN     64 /* the largest array these helpers read back */
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *
value_text(const sm_value *v, char *buf, size_t size)
{
    switch (v->type) {
    case SM_NIL:
        snprintf(buf, size, "nil");
        break;
    case SM_BOOL:
        snprintf(buf, size, "bool %s", v->u.b ? "true" : "false");
        break;
    case SM_INT:
        snprintf(buf, size, "int %" PRId64, v->u.i);
        break;
    case SM_DOUBLE:
        snprintf(buf, size, "double %.17g", v->u.d);
        break;
    case SM_BYTES:
        snprintf(buf, size, "bytes[%zu]", v->u.buf.len);
        break;
    case SM_STR:
        snprintf(buf, size, "str \"%.*s\"", (int)(v->u.buf.len < 64 ? v->u.buf.len : 64),
                 (const char *)v->u.buf.ptr);
        break;
    default:
        snprintf(buf, size, "type %d", (int)v->type);
        break;
    }
    return buf;
}

static bool
value_same(const sm_value *got, const sm_value *want)
{
    if (got->type != want->type)
        return false;
    switch (got->type) {
    case SM_INT:
        return got->u.i == want->u.i;
    case SM_DOUBLE:
        return memcmp(&got->u.d, &want->u.d, sizeof(double)) == 0;
    default:
        return false; /* arrays hold only ints and doubles */
    }
}

static void
value_check(const sm_value *got, sm_value want, const char *file, int line)
{
    char g[128], w[128];
    if (value_same(got, &want))
        return;
    print_error("value is %s, wanted %s\n", value_text(got, g, sizeof(g)),
                value_text(&want, w, sizeof(w)));
    _fail(file, line);
}
#define assert_value(got, want) value_check((got), (want), __FILE__, __LINE__)

/* array_check reads all of a back, by get_slice and element by element, and
 * compares it with want[0..n-1]. */
static void
array_check(sm_array *a, const sm_value *want, size_t n, const char *file, int line)
{
    sm_value *vals = NULL;
    size_t got_n = 12345;
    char g[128], w[128];

    if (sm_array_len(a) != n) {
        print_error("sm_array_len is %zu, wanted %zu\n", sm_array_len(a), n);
        _fail(file, line);
    }
    smt_assert_status(sm_array_get_slice(a, 0, SM_END, &vals, &got_n), SM_OK,
                      "sm_array_get_slice(a, 0, SM_END)", file, line);
    if (got_n != n) {
        print_error("get_slice gave %zu elements, wanted %zu\n", got_n, n);
        sm_values_free(vals, got_n);
        _fail(file, line);
    }
    for (size_t i = 0; i < n; i++) {
        if (!value_same(&vals[i], &want[i])) {
            print_error("element %zu (get_slice) is %s, wanted %s\n", i,
                        value_text(&vals[i], g, sizeof(g)), value_text(&want[i], w, sizeof(w)));
            sm_values_free(vals, got_n);
            _fail(file, line);
        }
    }
    sm_values_free(vals, got_n);
    for (size_t i = 0; i < n; i++) {
        sm_value v = sm_value_nil();
        smt_assert_status(sm_array_get(a, (int64_t)i, &v), SM_OK, "sm_array_get", file, line);
        if (!value_same(&v, &want[i])) {
            print_error("element %zu (get) is %s, wanted %s\n", i, value_text(&v, g, sizeof(g)),
                        value_text(&want[i], w, sizeof(w)));
            _fail(file, line);
        }
    }
}

static void
array_check_ints(sm_array *a, const int64_t *want, size_t n, const char *file, int line)
{
    sm_value v[MAXN];
    assert_true(n <= MAXN);
    for (size_t i = 0; i < n; i++)
        v[i] = sm_value_int(want[i]);
    array_check(a, v, n, file, line);
}

static void
array_check_doubles(sm_array *a, const double *want, size_t n, const char *file, int line)
{
    sm_value v[MAXN];
    assert_true(n <= MAXN);
    for (size_t i = 0; i < n; i++)
        v[i] = sm_value_double(want[i]);
    array_check(a, v, n, file, line);
}

#define INTS(...)                 (const int64_t[]){__VA_ARGS__}, COUNT(((const int64_t[]){__VA_ARGS__}))
#define DOUBLES(...)              (const double[]){__VA_ARGS__}, COUNT(((const double[]){__VA_ARGS__}))
#define assert_array_ints(a, ...) array_check_ints((a), INTS(__VA_ARGS__), __FILE__, __LINE__)
#define assert_array_doubles(a, ...)                                                               \
    array_check_doubles((a), DOUBLES(__VA_ARGS__), __FILE__, __LINE__)

/* new_ints makes an anonymous array of typecode tc holding want[0..n-1]. */
static sm_array *
new_ints(char tc, const int64_t *want, size_t n)
{
    sm_value v[MAXN];
    sm_array *a = NULL;
    assert_true(n <= MAXN);
    for (size_t i = 0; i < n; i++)
        v[i] = sm_value_int(want[i]);
    assert_sm_ok(sm_array_new(smt_client(), tc, v, n, &a));
    assert_non_null(a);
    return a;
}

static sm_array *
new_doubles(char tc, const double *want, size_t n)
{
    sm_value v[MAXN];
    sm_array *a = NULL;
    assert_true(n <= MAXN);
    for (size_t i = 0; i < n; i++)
        v[i] = sm_value_double(want[i]);
    assert_sm_ok(sm_array_new(smt_client(), tc, v, n, &a));
    assert_non_null(a);
    return a;
}

/* The typecodes, with the range of values each holds through this API. */
struct tc_info {
    char code;
    bool real;
    int64_t min, max;
};
static const struct tc_info tcs[] = {
    {'b', false, INT8_MIN, INT8_MAX},
    {'B', false, 0, UINT8_MAX},
    {'h', false, INT16_MIN, INT16_MAX},
    {'H', false, 0, UINT16_MAX},
    {'i', false, INT32_MIN, INT32_MAX},
    {'I', false, 0, UINT32_MAX},
    {'l', false, INT64_MIN, INT64_MAX},
    {'L', false, 0, INT64_MAX},
    {'q', false, INT64_MIN, INT64_MAX},
    {'Q', false, 0, INT64_MAX},
    {'f', true, 0, 0},
    {'d', true, 0, 0},
};

/* A value that must survive a failed call untouched. */
#define SENTINEL sm_value_int(-424242)

/* ------------------------------------------------------------------ tests */

static void
test_array_new_with_init_holds_init_for_every_typecode(void **state)
{
    (void)state;
    for (size_t k = 0; k < COUNT(tcs); k++) {
        const struct tc_info *t = &tcs[k];
        sm_array *a;
        if (t->code == 'f') {
            a = new_doubles(t->code, DOUBLES(1.5, -2.25, 0.0, 1024.0));
            assert_array_doubles(a, 1.5, -2.25, 0.0, 1024.0);
        } else if (t->code == 'd') {
            a = new_doubles(t->code, DOUBLES(0.1, -1e300, 0.0, 5e-324));
            assert_array_doubles(a, 0.1, -1e300, 0.0, 5e-324);
        } else {
            a = new_ints(t->code, INTS(t->min, t->max, 0, 1));
            assert_array_ints(a, t->min, t->max, 0, 1);
        }
        assert_int_equal(sm_array_typecode(a), t->code);
        assert_int_equal(sm_array_len(a), 4);
        sm_array_close(a);
    }
}

static void
test_array_new_with_null_init_holds_zeros_for_every_typecode(void **state)
{
    (void)state;
    for (size_t k = 0; k < COUNT(tcs); k++) {
        const struct tc_info *t = &tcs[k];
        sm_array *a = NULL;
        assert_sm_ok(sm_array_new(smt_client(), t->code, NULL, 3, &a));
        assert_int_equal(sm_array_typecode(a), t->code);
        assert_int_equal(sm_array_len(a), 3);
        if (t->real)
            assert_array_doubles(a, 0.0, 0.0, 0.0);
        else
            assert_array_ints(a, 0, 0, 0);
        sm_array_close(a);

        /* the same through open */
        assert_sm_ok(sm_array_open(smt_client(), smt_name("arr"), t->code, NULL, 2, &a));
        assert_int_equal(sm_array_typecode(a), t->code);
        if (t->real)
            assert_array_doubles(a, 0.0, 0.0);
        else
            assert_array_ints(a, 0, 0);
        sm_array_close(a);
    }
}

static void
test_array_open_existing_name_ignores_init_and_shares_the_array(void **state)
{
    (void)state;
    char name[256];
    sm_array *a = NULL, *b = NULL, *c = NULL;
    const sm_value first[] = {sm_value_int(1), sm_value_int(2), sm_value_int(3)};
    const sm_value other[] = {sm_value_int(9), sm_value_int(9), sm_value_int(9)};
    sm_value seven = sm_value_int(7);

    snprintf(name, sizeof(name), "%s", smt_name("arr"));
    assert_sm_ok(sm_array_open(smt_client(), name, 'i', first, 3, &a));
    assert_array_ints(a, 1, 2, 3);

    assert_sm_ok(sm_array_open(smt_client(), name, 'i', other, 3, &b));
    assert_int_equal(sm_array_typecode(b), 'i');
    assert_int_equal(sm_array_len(b), 3);
    assert_array_ints(b, 1, 2, 3);
    assert_sm_ok(sm_array_open(smt_client(), name, 'i', NULL, 3, &c));
    assert_array_ints(c, 1, 2, 3);
    sm_array_close(c);

    assert_sm_ok(sm_array_set(b, 1, &seven));
    assert_array_ints(a, 1, 7, 3);
    sm_array_close(b);
    assert_array_ints(a, 1, 7, 3);
    sm_array_close(a);
}

static void
test_array_open_existing_name_with_another_shape_is_ewrongtype(void **state)
{
    (void)state;
    char name[256];
    sm_array *a = NULL, *b = NULL;
    const sm_value init[] = {sm_value_int(4), sm_value_int(5), sm_value_int(6)};

    snprintf(name, sizeof(name), "%s", smt_name("arr"));
    assert_sm_ok(sm_array_open(smt_client(), name, 'i', init, 3, &a));

    /* another typecode, even one of the same size */
    assert_sm_status(sm_array_open(smt_client(), name, 'I', NULL, 3, &b), SM_EWRONGTYPE);
    assert_null(b);
    assert_sm_status(sm_array_open(smt_client(), name, 'q', init, 3, &b), SM_EWRONGTYPE);
    assert_null(b);
    assert_sm_status(sm_array_open(smt_client(), name, 'd', NULL, 3, &b), SM_EWRONGTYPE);
    assert_null(b);
    /* another length */
    assert_sm_status(sm_array_open(smt_client(), name, 'i', NULL, 4, &b), SM_EWRONGTYPE);
    assert_null(b);
    assert_sm_status(sm_array_open(smt_client(), name, 'i', init, 2, &b), SM_EWRONGTYPE);
    assert_null(b);

    assert_array_ints(a, 4, 5, 6);
    sm_array_close(a);
}

static void
test_array_shape_is_known_to_an_attached_proxy(void **state)
{
    (void)state;
    sm_array *a = NULL, *b = NULL;
    sm_value v = sm_value_int(65535);

    assert_sm_ok(sm_array_new(smt_client(), 'H', NULL, 7, &a));
    assert_sm_ok(sm_array_attach(smt_client(), sm_array_token(a), &b));
    assert_int_equal(sm_array_typecode(b), 'H');
    assert_int_equal(sm_array_len(b), 7);
    assert_string_equal(sm_array_token(a), sm_array_token(b));
    assert_sm_ok(sm_array_set(b, 6, &v));
    assert_array_ints(a, 0, 0, 0, 0, 0, 0, 65535);
    sm_array_close(b);
    sm_array_close(a);
}

static void
test_array_get_and_set_accept_negative_indices(void **state)
{
    (void)state;
    sm_array *a = new_ints('i', INTS(10, 20, 30, 40, 50));
    sm_value out = SENTINEL;
    sm_value v99 = sm_value_int(99), v7 = sm_value_int(7);

    assert_sm_ok(sm_array_get(a, -1, &out));
    assert_value(&out, sm_value_int(50));
    assert_sm_ok(sm_array_get(a, -5, &out));
    assert_value(&out, sm_value_int(10));
    assert_sm_ok(sm_array_get(a, 2, &out));
    assert_value(&out, sm_value_int(30));

    assert_sm_ok(sm_array_set(a, -2, &v99));
    assert_array_ints(a, 10, 20, 30, 99, 50);
    assert_sm_ok(sm_array_set(a, -5, &v7));
    assert_array_ints(a, 7, 20, 30, 99, 50);
    assert_sm_ok(sm_array_set(a, 4, &v7));
    assert_array_ints(a, 7, 20, 30, 99, 7);
    sm_array_close(a);
}

static void
test_array_index_out_of_range_is_erange_and_changes_nothing(void **state)
{
    (void)state;
    sm_array *a = new_ints('q', INTS(1, 2, 3, 4, 5));
    const int64_t bad[] = {5, 6, -6, -100, INT64_MAX, INT64_MIN, INT64_MIN + 1};
    sm_value v = sm_value_int(42);

    for (size_t i = 0; i < COUNT(bad); i++) {
        sm_value out = SENTINEL;
        assert_sm_status(sm_array_get(a, bad[i], &out), SM_ERANGE);
        assert_value(&out, SENTINEL);
        assert_sm_status(sm_array_set(a, bad[i], &v), SM_ERANGE);
        assert_sm_status(sm_array_add(a, bad[i], &v, &out), SM_ERANGE);
        assert_value(&out, SENTINEL);
    }
    assert_array_ints(a, 1, 2, 3, 4, 5);
    sm_array_close(a);
}

static void
test_array_element_that_does_not_fit_is_eoverflow_for_every_typecode(void **state)
{
    (void)state;
    static const struct {
        char code;
        int64_t bad;
    } cases[] = {
        {'b', 128},
        {'b', -129},
        {'b', 1000},
        {'B', -1},
        {'B', 256},
        {'h', 32768},
        {'h', -32769},
        {'H', 65536},
        {'H', -1},
        {'i', (int64_t)1 << 31},
        {'i', -((int64_t)1 << 31) - 1},
        {'I', (int64_t)1 << 32},
        {'I', -1},
        {'L', -1},
        {'L', INT64_MIN},
        {'Q', -1},
        {'Q', INT64_MIN},
    };

    for (size_t k = 0; k < COUNT(cases); k++) {
        sm_array *a = new_ints(cases[k].code, INTS(1, 2));
        sm_value bad = sm_value_int(cases[k].bad);
        const sm_value run[] = {sm_value_int(3), bad};
        assert_sm_status(sm_array_set(a, 0, &bad), SM_EOVERFLOW);
        assert_sm_status(sm_array_set(a, -1, &bad), SM_EOVERFLOW);
        assert_sm_status(sm_array_set_slice(a, 0, run, 2), SM_EOVERFLOW);
        assert_array_ints(a, 1, 2);
        sm_array_close(a);
    }

    /* the edges themselves fit */
    for (size_t k = 0; k < COUNT(tcs); k++) {
        const struct tc_info *t = &tcs[k];
        if (t->real)
            continue;
        sm_array *a = new_ints(t->code, INTS(1, 2));
        sm_value lo = sm_value_int(t->min), hi = sm_value_int(t->max);
        assert_sm_ok(sm_array_set(a, 0, &lo));
        assert_sm_ok(sm_array_set(a, 1, &hi));
        assert_array_ints(a, t->min, t->max);
        sm_array_close(a);
    }
}

static void
test_array_non_integer_into_integer_array_is_ebadvalue(void **state)
{
    (void)state;
    const sm_value bad[] = {
        sm_value_double(2.0), sm_value_double(2.5),   sm_value_str("2"),
        sm_value_nil(),       sm_value_bytes("2", 1),
    };

    for (size_t k = 0; k < COUNT(tcs); k++) {
        if (tcs[k].real)
            continue;
        sm_array *a = new_ints(tcs[k].code, INTS(1, 2));
        for (size_t i = 0; i < COUNT(bad); i++) {
            const sm_value run[] = {sm_value_int(3), bad[i]};
            sm_value out = SENTINEL;
            assert_sm_status(sm_array_set(a, 0, &bad[i]), SM_EBADVALUE);
            assert_sm_status(sm_array_set_slice(a, 0, run, 2), SM_EBADVALUE);
            assert_sm_status(sm_array_add(a, 0, &bad[i], &out), SM_EBADVALUE);
            assert_value(&out, SENTINEL);
        }
        assert_array_ints(a, 1, 2);
        sm_array_close(a);
    }
}

static void
test_array_real_arrays_take_ints_as_doubles(void **state)
{
    (void)state;
    static const char codes[] = {'f', 'd'};
    for (size_t k = 0; k < COUNT(codes); k++) {
        sm_array *a = new_ints(codes[k], INTS(1, -2, 3));
        sm_value three = sm_value_int(3), text = sm_value_str("3"), nil = sm_value_nil();
        const sm_value run[] = {sm_value_int(-7), sm_value_int(8)};

        assert_array_doubles(a, 1.0, -2.0, 3.0);
        assert_sm_ok(sm_array_set(a, 0, &three));
        assert_array_doubles(a, 3.0, -2.0, 3.0);
        assert_sm_ok(sm_array_set_slice(a, 1, run, 2));
        assert_array_doubles(a, 3.0, -7.0, 8.0);

        assert_sm_status(sm_array_set(a, 0, &text), SM_EBADVALUE);
        assert_sm_status(sm_array_set(a, 0, &nil), SM_EBADVALUE);
        assert_array_doubles(a, 3.0, -7.0, 8.0);
        sm_array_close(a);
    }
}

static void
test_array_f_rounds_to_float_precision(void **state)
{
    (void)state;
    const double third = 1.0 / 3.0;
    sm_array *a = new_doubles('f', DOUBLES(0.1, 2.5));
    sm_value v = sm_value_double(third);
    const sm_value run[] = {sm_value_double(0.2), sm_value_double(1e-3)};

    assert_array_doubles(a, (double)(float)0.1, 2.5);
    assert_true((double)(float)0.1 != 0.1); /* the check above means something */
    assert_sm_ok(sm_array_set(a, 1, &v));
    assert_array_doubles(a, (double)(float)0.1, (double)(float)third);
    assert_sm_ok(sm_array_set_slice(a, 0, run, 2));
    assert_array_doubles(a, (double)(float)0.2, (double)(float)1e-3);
    sm_array_close(a);

    /* 'd' keeps every bit */
    a = new_doubles('d', DOUBLES(0.1, third));
    assert_array_doubles(a, 0.1, third);
    sm_array_close(a);
}

static void
test_array_f_element_beyond_float_range_is_eoverflow(void **state)
{
    (void)state;
    sm_array *a = new_doubles('f', DOUBLES(1.5, FLT_MAX));
    sm_value big = sm_value_double(1e39), minus_big = sm_value_double(-1e39);
    sm_value max = sm_value_double(FLT_MAX), out = SENTINEL;
    const sm_value run[] = {sm_value_double(2.0), sm_value_double(1e39)};

    assert_sm_status(sm_array_set(a, 0, &big), SM_EOVERFLOW);
    assert_sm_status(sm_array_set(a, 0, &minus_big), SM_EOVERFLOW);
    assert_sm_status(sm_array_set_slice(a, 0, run, 2), SM_EOVERFLOW);
    assert_sm_status(sm_array_add(a, 1, &max, &out), SM_EOVERFLOW);
    assert_value(&out, SENTINEL);
    assert_array_doubles(a, 1.5, (double)FLT_MAX);
    sm_array_close(a);

    /* 'd' holds it */
    a = new_doubles('d', DOUBLES(0.0));
    assert_sm_ok(sm_array_set(a, 0, &big));
    assert_array_doubles(a, 1e39);
    sm_array_close(a);
}

static void
test_array_f_add_returns_the_element_as_stored(void **state)
{
    (void)state;
    sm_array *a = new_doubles('f', DOUBLES(0.0));
    sm_value tenth = sm_value_double(0.1), out = SENTINEL;

    assert_sm_ok(sm_array_add(a, 0, &tenth, &out));
    assert_value(&out, sm_value_double((double)(float)0.1));
    assert_array_doubles(a, (double)(float)0.1);
    sm_array_close(a);
}

static void
test_array_get_slice_clamps_like_python(void **state)
{
    (void)state;
    sm_array *a = new_ints('h', INTS(1, 2, 3, 4, 5, 6));
    static const struct {
        int64_t start, stop;
        size_t n;
        int64_t first; /* element values run first, first+1, ... */
    } cases[] = {
        {1, 4, 3, 2},      {-2, SM_END, 2, 5},   {0, -1, 5, 1},
        {-3, -1, 2, 4},    {-100, 100, 6, 1},    {INT64_MIN, INT64_MAX, 6, 1},
        {0, SM_END, 6, 1}, {5, 6, 1, 6},         {4, 2, 0, 0},
        {6, SM_END, 0, 0}, {100, 200, 0, 0},     {-1, -2, 0, 0},
        {0, 0, 0, 0},      {0, INT64_MIN, 0, 0},
    };

    for (size_t k = 0; k < COUNT(cases); k++) {
        sm_value *vals = (sm_value *)&vals; /* must be overwritten */
        size_t n = 12345;
        assert_sm_ok(sm_array_get_slice(a, cases[k].start, cases[k].stop, &vals, &n));
        if (n != cases[k].n) {
            print_error("a[%" PRId64 ":%" PRId64 "] has %zu elements, wanted %zu\n", cases[k].start,
                        cases[k].stop, n, cases[k].n);
            fail();
        }
        assert_ptr_not_equal(vals, (sm_value *)&vals);
        for (size_t i = 0; i < n; i++)
            assert_value(&vals[i], sm_value_int(cases[k].first + (int64_t)i));
        sm_values_free(vals, n);
    }
    sm_array_close(a);
}

static void
test_array_set_slice_stores_a_run_in_place(void **state)
{
    (void)state;
    sm_array *a = NULL;
    const sm_value mid[] = {sm_value_int(7), sm_value_int(8), sm_value_int(9)};
    const sm_value tail[] = {sm_value_int(1), sm_value_int(2)};
    const sm_value neg[] = {sm_value_int(5), sm_value_int(6)};
    const sm_value all[] = {sm_value_int(-1), sm_value_int(-2), sm_value_int(-3), sm_value_int(-4),
                            sm_value_int(-5)};

    assert_sm_ok(sm_array_new(smt_client(), 'i', NULL, 5, &a));
    assert_sm_ok(sm_array_set_slice(a, 1, mid, 3));
    assert_array_ints(a, 0, 7, 8, 9, 0);
    assert_sm_ok(sm_array_set_slice(a, 3, tail, 2));
    assert_array_ints(a, 0, 7, 8, 1, 2);
    /* a negative start counts from the end, as an index does */
    assert_sm_ok(sm_array_set_slice(a, -2, neg, 2));
    assert_array_ints(a, 0, 7, 8, 5, 6);
    assert_sm_ok(sm_array_set_slice(a, -5, neg, 1));
    assert_array_ints(a, 5, 7, 8, 5, 6);
    assert_sm_ok(sm_array_set_slice(a, 0, all, 5));
    assert_array_ints(a, -1, -2, -3, -4, -5);
    sm_array_close(a);
}

static void
test_array_set_slice_that_does_not_fit_is_erange_and_changes_nothing(void **state)
{
    (void)state;
    sm_array *a = new_ints('i', INTS(1, 2, 3, 4, 5));
    const sm_value run[] = {sm_value_int(7),  sm_value_int(8),  sm_value_int(9),
                            sm_value_int(10), sm_value_int(11), sm_value_int(12)};
    static const struct {
        int64_t start;
        size_t n;
    } cases[] = {
        {4, 2}, {3, 3}, {5, 1}, {0, 6}, {-1, 2}, {-6, 1}, {-100, 1}, {INT64_MAX, 1}, {INT64_MIN, 1},
    };

    for (size_t k = 0; k < COUNT(cases); k++) {
        int rv = sm_array_set_slice(a, cases[k].start, run, cases[k].n);
        if (rv != SM_ERANGE) {
            print_error("set_slice(start %" PRId64 ", n %zu)\n", cases[k].start, cases[k].n);
            assert_sm_status(rv, SM_ERANGE);
        }
        assert_array_ints(a, 1, 2, 3, 4, 5);
    }
    sm_array_close(a);
}

static void
test_array_set_slice_is_all_or_nothing(void **state)
{
    (void)state;
    sm_array *a = new_ints('b', INTS(1, 2, 3));
    const sm_value too_big[] = {sm_value_int(10), sm_value_int(20), sm_value_int(200)};
    const sm_value too_small[] = {sm_value_int(-129), sm_value_int(20)};
    const sm_value wrong_kind[] = {sm_value_int(10), sm_value_double(2.0)};

    assert_sm_status(sm_array_set_slice(a, 0, too_big, 3), SM_EOVERFLOW);
    assert_array_ints(a, 1, 2, 3);
    assert_sm_status(sm_array_set_slice(a, 1, too_small, 2), SM_EOVERFLOW);
    assert_array_ints(a, 1, 2, 3);
    assert_sm_status(sm_array_set_slice(a, 0, wrong_kind, 2), SM_EBADVALUE);
    assert_array_ints(a, 1, 2, 3);
    sm_array_close(a);
}

static void
test_array_add_adds_in_place_and_returns_the_new_element(void **state)
{
    (void)state;
    sm_array *a = new_ints('i', INTS(1, 2, 3));
    sm_value five = sm_value_int(5), minus_ten = sm_value_int(-10);
    sm_value out = SENTINEL;

    assert_sm_ok(sm_array_add(a, 0, &five, &out));
    assert_value(&out, sm_value_int(6));
    assert_array_ints(a, 6, 2, 3);
    assert_sm_ok(sm_array_add(a, -1, &minus_ten, &out));
    assert_value(&out, sm_value_int(-7));
    assert_array_ints(a, 6, 2, -7);
    assert_sm_ok(sm_array_add(a, 1, &five, NULL));
    assert_array_ints(a, 6, 7, -7);
    sm_array_close(a);

    /* real arrays: the element stays a double whatever the delta's kind */
    sm_value one = sm_value_int(1), quarter = sm_value_double(0.25);
    a = new_doubles('d', DOUBLES(1.5, 0.0));
    assert_sm_ok(sm_array_add(a, 0, &one, &out));
    assert_value(&out, sm_value_double(2.5));
    assert_sm_ok(sm_array_add(a, 0, &quarter, &out));
    assert_value(&out, sm_value_double(2.75));
    assert_array_doubles(a, 2.75, 0.0);
    sm_array_close(a);

    a = new_doubles('f', DOUBLES(0.5));
    assert_sm_ok(sm_array_add(a, 0, &quarter, &out));
    assert_value(&out, sm_value_double(0.75));
    assert_sm_ok(sm_array_add(a, -1, &one, &out));
    assert_value(&out, sm_value_double(1.75));
    assert_array_doubles(a, 1.75);
    sm_array_close(a);
}

static void
test_array_add_past_the_typecode_range_is_eoverflow_and_changes_nothing(void **state)
{
    (void)state;
    static const struct {
        char code;
        int64_t start, delta;
    } cases[] = {
        {'b', 127, 1},
        {'b', -128, -1},
        {'B', 255, 1},
        {'B', 0, -1},
        {'h', 32767, 1},
        {'h', -32768, -1},
        {'H', 65535, 1},
        {'H', 0, -1},
        {'i', INT32_MAX, 1},
        {'i', INT32_MIN, -1},
        {'I', UINT32_MAX, 1},
        {'I', 0, -1},
        {'l', INT64_MAX, 1},
        {'l', INT64_MIN, -1},
        {'L', INT64_MAX, 1},
        {'L', 0, -1},
        {'q', INT64_MAX, INT64_MAX},
        {'q', INT64_MIN, -1},
        {'Q', INT64_MAX, 1},
        {'Q', 5, -6},
    };

    for (size_t k = 0; k < COUNT(cases); k++) {
        sm_array *a = new_ints(cases[k].code, INTS(cases[k].start, 9));
        sm_value delta = sm_value_int(cases[k].delta);
        sm_value out = SENTINEL;
        int rv = sm_array_add(a, 0, &delta, &out);
        if (rv != SM_EOVERFLOW) {
            print_error("typecode '%c': %" PRId64 " + %" PRId64 "\n", cases[k].code, cases[k].start,
                        cases[k].delta);
            assert_sm_status(rv, SM_EOVERFLOW);
        }
        assert_value(&out, SENTINEL);
        assert_array_ints(a, cases[k].start, 9);

        /* a delta that stays in range works at the same edge */
        sm_value back = sm_value_int(cases[k].delta > 0 ? -1 : 1);
        assert_sm_ok(sm_array_add(a, 0, &back, &out));
        assert_value(&out, sm_value_int(cases[k].start + (cases[k].delta > 0 ? -1 : 1)));
        sm_array_close(a);
    }
}

static void
test_array_invalid_shape_is_einval(void **state)
{
    (void)state;
    sm_array *a = NULL;
    const sm_value init[] = {sm_value_int(1)};
    static const char bad_codes[] = {'x', 'c', 'u', 'D', '\0'};

    for (size_t k = 0; k < COUNT(bad_codes); k++) {
        assert_sm_status(sm_array_new(smt_client(), bad_codes[k], NULL, 3, &a), SM_EINVAL);
        assert_null(a);
        assert_sm_status(sm_array_new(smt_client(), bad_codes[k], init, 1, &a), SM_EINVAL);
        assert_null(a);
        assert_sm_status(sm_array_open(smt_client(), smt_name("arr"), bad_codes[k], NULL, 3, &a),
                         SM_EINVAL);
        assert_null(a);
    }

    assert_sm_status(sm_array_new(smt_client(), 'i', NULL, 0, &a), SM_EINVAL);
    assert_null(a);
    assert_sm_status(sm_array_new(smt_client(), 'i', init, 0, &a), SM_EINVAL);
    assert_null(a);
    assert_sm_status(sm_array_open(smt_client(), smt_name("arr"), 'i', NULL, 0, &a), SM_EINVAL);
    assert_null(a);
    assert_sm_status(sm_array_new(smt_client(), 'b', NULL, 16777217, &a), SM_EINVAL);
    assert_null(a);
}

static void
test_array_largest_length_is_accepted(void **state)
{
    (void)state;
    sm_array *a = NULL;
    sm_value five = sm_value_int(5), out = SENTINEL;

    assert_sm_ok(sm_array_new(smt_client(), 'b', NULL, 16777216, &a));
    assert_int_equal(sm_array_len(a), 16777216);
    assert_sm_ok(sm_array_set(a, -1, &five));
    assert_sm_ok(sm_array_get(a, 16777215, &out));
    assert_value(&out, sm_value_int(5));
    assert_sm_ok(sm_array_get(a, 0, &out));
    assert_value(&out, sm_value_int(0));
    assert_sm_status(sm_array_get(a, 16777216, &out), SM_ERANGE);
    sm_array_close(a);
}

static void
test_array_bad_init_is_refused_and_creates_nothing(void **state)
{
    (void)state;
    char name[256];
    sm_array *a = NULL;
    const sm_value too_big[] = {sm_value_int(1), sm_value_int(128)};
    const sm_value negative[] = {sm_value_int(-1), sm_value_int(1)};
    const sm_value wrong_kind[] = {sm_value_double(2.0)};

    assert_sm_status(sm_array_new(smt_client(), 'b', too_big, 2, &a), SM_EOVERFLOW);
    assert_null(a);
    assert_sm_status(sm_array_new(smt_client(), 'i', wrong_kind, 1, &a), SM_EBADVALUE);
    assert_null(a);

    snprintf(name, sizeof(name), "%s", smt_name("arr"));
    assert_sm_status(sm_array_open(smt_client(), name, 'B', negative, 2, &a), SM_EOVERFLOW);
    assert_null(a);
    /* the name is still free: another shape is no mismatch */
    assert_sm_ok(sm_array_open(smt_client(), name, 'i', NULL, 3, &a));
    assert_int_equal(sm_array_typecode(a), 'i');
    assert_array_ints(a, 0, 0, 0);
    sm_array_close(a);
}

/* child_double runs in a child process (smt_spawn): its own client, the
 * array by token,
 * every element doubled. Returns 0, or a step number on failure. */
static int
child_double(const char *url, const char *token)
{
    sm_client *c = NULL;
    sm_array *a = NULL;
    int step = 0, rv;

    if ((rv = sm_client_open(&c, url, NULL)) != SM_OK) {
        step = 1;
        goto out;
    }
    if ((rv = sm_array_attach(c, token, &a)) != SM_OK) {
        step = 2;
        goto out;
    }
    rv = SM_OK;
    if (sm_array_typecode(a) != 'i' || sm_array_len(a) != 5) {
        step = 3;
        goto out;
    }
    for (size_t i = 0; i < sm_array_len(a); i++) {
        sm_value v = sm_value_nil();
        if ((rv = sm_array_get(a, (int64_t)i, &v)) != SM_OK || v.type != SM_INT) {
            step = 4;
            goto out;
        }
        sm_value twice = sm_value_int(v.u.i * 2);
        if ((rv = sm_array_set(a, (int64_t)i, &twice)) != SM_OK) {
            step = 5;
            goto out;
        }
    }
    if ((rv = sm_array_close(a)) != SM_OK) {
        a = NULL;
        step = 6;
        goto out;
    }
    a = NULL;
out:
    if (step != 0)
        fprintf(stderr, "child: step %d failed: %s %s\n", step, sm_errname(rv), sm_errdetail());
    sm_array_close(a);
    sm_client_close(c);
    return step;
}

/* child_double_main is the child's entry: argv is NAME URL TOKEN. */
static int
child_double_main(int argc, char **argv)
{
    alarm(60); /* a hung child must not hang the test */
    return argc == 3 ? child_double(argv[1], argv[2]) : 99;
}

static const smt_child children[] = {{"double", child_double_main}};

/* The seed program: Array('i', [1, 2, 3, 4, 5]) doubled by another process. */
static void
test_array_child_process_doubles_an_anonymous_array(void **state)
{
    (void)state;
    sm_array *a = new_ints('i', INTS(1, 2, 3, 4, 5));
    char url[512], token[512];

    snprintf(url, sizeof(url), "%s", smt_url());
    snprintf(token, sizeof(token), "%s", sm_array_token(a));
    smt_wait_child(smt_spawn("double", url, token, NULL));
    assert_int_equal(sm_array_typecode(a), 'i');
    assert_array_ints(a, 2, 4, 6, 8, 10);
    sm_array_close(a);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_array_new_with_init_holds_init_for_every_typecode),
    cmocka_unit_test(test_array_new_with_null_init_holds_zeros_for_every_typecode),
    cmocka_unit_test(test_array_open_existing_name_ignores_init_and_shares_the_array),
    cmocka_unit_test(test_array_open_existing_name_with_another_shape_is_ewrongtype),
    cmocka_unit_test(test_array_shape_is_known_to_an_attached_proxy),
    cmocka_unit_test(test_array_get_and_set_accept_negative_indices),
    cmocka_unit_test(test_array_index_out_of_range_is_erange_and_changes_nothing),
    cmocka_unit_test(test_array_element_that_does_not_fit_is_eoverflow_for_every_typecode),
    cmocka_unit_test(test_array_non_integer_into_integer_array_is_ebadvalue),
    cmocka_unit_test(test_array_real_arrays_take_ints_as_doubles),
    cmocka_unit_test(test_array_f_rounds_to_float_precision),
    cmocka_unit_test(test_array_f_element_beyond_float_range_is_eoverflow),
    cmocka_unit_test(test_array_f_add_returns_the_element_as_stored),
    cmocka_unit_test(test_array_get_slice_clamps_like_python),
    cmocka_unit_test(test_array_set_slice_stores_a_run_in_place),
    cmocka_unit_test(test_array_set_slice_that_does_not_fit_is_erange_and_changes_nothing),
    cmocka_unit_test(test_array_set_slice_is_all_or_nothing),
    cmocka_unit_test(test_array_add_adds_in_place_and_returns_the_new_element),
    cmocka_unit_test(test_array_add_past_the_typecode_range_is_eoverflow_and_changes_nothing),
    cmocka_unit_test(test_array_invalid_shape_is_einval),
    cmocka_unit_test(test_array_largest_length_is_accepted),
    cmocka_unit_test(test_array_bad_init_is_refused_and_creates_nothing),
    cmocka_unit_test(test_array_child_process_doubles_an_anonymous_array),
};

int
main(int argc, char **argv)
{
    return SMT_MAIN_CHILDREN("array", tests, children);
}
