/* test_var.c - sm_var, Python's multiprocessing Value: open/new/attach,
 * get and set of every value kind, atomic add and compare-and-swap.
 *
 * Every test reads the var back after each operation and compares kind and
 * content exactly (an int is never accepted for a double or the other way). */
#include "smt.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* var_check reads v back and compares it with want. */
static void
var_check(sm_var *v, sm_value want, const char *file, int line)
{
    sm_value got = sm_value_nil();
    smt_assert_status(sm_var_get(v, &got), SM_OK, "sm_var_get", file, line);
    smt_value_check(&got, want, file, line);
    sm_value_clear(&got);
}
#define assert_var(v, want) var_check((v), (want), __FILE__, __LINE__)

/* A value that must survive a failed call untouched. */
#define SENTINEL sm_value_int(-424242)

/* ------------------------------------------------------------------ tests */

static void
test_var_open_with_init_holds_init(void **state)
{
    (void)state;
    sm_var *v = NULL;
    sm_value init = sm_value_int(7);

    assert_sm_ok(sm_var_open(smt_client(), smt_name("var"), &init, &v));
    assert_non_null(v);
    assert_var(v, sm_value_int(7));
    sm_var_close(v);
}

static void
test_var_open_with_null_init_holds_nil(void **state)
{
    (void)state;
    sm_var *v = NULL;

    assert_sm_ok(sm_var_open(smt_client(), smt_name("var"), NULL, &v));
    assert_var(v, sm_value_nil());
    sm_var_close(v);
}

static void
test_var_open_existing_name_ignores_init_and_shares_the_value(void **state)
{
    (void)state;
    char name[256];
    sm_var *a = NULL, *b = NULL;
    sm_value seven = sm_value_int(7), other = sm_value_str("ignored");
    sm_value nine = sm_value_int(9), eleven = sm_value_double(11.5);

    snprintf(name, sizeof(name), "%s", smt_name("var"));
    assert_sm_ok(sm_var_open(smt_client(), name, &seven, &a));
    assert_sm_ok(sm_var_set(a, &nine));

    assert_sm_ok(sm_var_open(smt_client(), name, &other, &b));
    assert_var(b, sm_value_int(9));
    sm_var *c = NULL;
    assert_sm_ok(sm_var_open(smt_client(), name, NULL, &c));
    assert_var(c, sm_value_int(9));
    sm_var_close(c);

    /* Both proxies reach the one object. */
    assert_sm_ok(sm_var_set(b, &eleven));
    assert_var(a, sm_value_double(11.5));
    sm_var_close(b);
    assert_var(a, sm_value_double(11.5));
    sm_var_close(a);
}

static void
test_var_new_holds_init_and_each_new_var_is_distinct(void **state)
{
    (void)state;
    sm_var *a = NULL, *b = NULL;
    sm_value init = sm_value_double(2.5), one = sm_value_int(1);

    assert_sm_ok(sm_var_new(smt_client(), &init, &a));
    assert_sm_ok(sm_var_new(smt_client(), NULL, &b));
    assert_var(a, sm_value_double(2.5));
    assert_var(b, sm_value_nil());

    assert_non_null(sm_var_token(a));
    assert_non_null(sm_var_token(b));
    assert_true(strlen(sm_var_token(a)) > 0);
    assert_string_not_equal(sm_var_token(a), sm_var_token(b));

    assert_sm_ok(sm_var_set(b, &one));
    assert_var(a, sm_value_double(2.5));
    assert_var(b, sm_value_int(1));
    sm_var_close(a);
    sm_var_close(b);
}

static void
test_var_attach_reaches_the_same_var(void **state)
{
    (void)state;
    sm_var *a = NULL, *b = NULL;
    sm_value init = sm_value_str("first"), next = sm_value_str("second");

    assert_sm_ok(sm_var_new(smt_client(), &init, &a));
    assert_sm_ok(sm_var_attach(smt_client(), sm_var_token(a), &b));
    assert_string_equal(sm_var_token(a), sm_var_token(b));
    assert_var(b, sm_value_str("first"));
    assert_sm_ok(sm_var_set(b, &next));
    assert_var(a, sm_value_str("second"));
    sm_var_close(b);
    assert_var(a, sm_value_str("second"));
    sm_var_close(a);
}

static void
test_var_set_stores_every_value_kind(void **state)
{
    (void)state;
    sm_var *v = NULL, *target = NULL;
    static const unsigned char raw[] = {0x00, 0xff, 'a', 0x00, 0x80};
    char token[512];

    assert_sm_ok(sm_var_new(smt_client(), NULL, &v));
    assert_sm_ok(sm_var_new(smt_client(), NULL, &target));
    snprintf(token, sizeof(token), "%s", sm_var_token(target));

    const sm_value kinds[] = {
        sm_value_bool(true),
        sm_value_bool(false),
        sm_value_int(0),
        sm_value_int(INT64_MIN),
        sm_value_int(INT64_MAX),
        sm_value_double(0.1),
        sm_value_double(-1e300),
        sm_value_double(5e-324),
        sm_value_bytes(raw, sizeof(raw)),
        sm_value_bytes(raw, 0),
        sm_value_str("h\xc3\xa9llo, world"),
        sm_value_str(""),
        sm_value_ref(token),
        sm_value_nil(),
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        assert_sm_ok(sm_var_set(v, &kinds[i]));
        assert_var(v, kinds[i]);
    }
    sm_var_close(v);
    sm_var_close(target);
}

static void
test_var_set_copies_its_input(void **state)
{
    (void)state;
    sm_var *v = NULL;
    char text[] = "original";
    sm_value in = sm_value_str(text);

    assert_sm_ok(sm_var_new(smt_client(), NULL, &v));
    assert_sm_ok(sm_var_set(v, &in));
    memcpy(text, "mutated!", sizeof(text));
    assert_var(v, sm_value_str("original"));
    sm_var_close(v);
}

static void
test_var_get_hands_out_an_owned_copy(void **state)
{
    (void)state;
    sm_var *v = NULL;
    sm_value init = sm_value_str("owned"), got = sm_value_nil();

    assert_sm_ok(sm_var_new(smt_client(), &init, &v));
    assert_sm_ok(sm_var_get(v, &got));
    smt_assert_value(&got, sm_value_str("owned"));
    assert_true(got.u.buf.owned);
    assert_ptr_not_equal(got.u.buf.ptr, init.u.buf.ptr);
    sm_value_clear(&got);
    assert_int_equal(got.type, SM_NIL);
    sm_var_close(v);
}

static void
test_var_add_int_to_int_gives_int(void **state)
{
    (void)state;
    sm_var *v = NULL;
    sm_value init = sm_value_int(40), two = sm_value_int(2), minus = sm_value_int(-50);
    sm_value out = SENTINEL;

    assert_sm_ok(sm_var_new(smt_client(), &init, &v));
    assert_sm_ok(sm_var_add(v, &two, &out));
    smt_assert_value(&out, sm_value_int(42));
    assert_var(v, sm_value_int(42));

    assert_sm_ok(sm_var_add(v, &minus, &out));
    smt_assert_value(&out, sm_value_int(-8));
    assert_var(v, sm_value_int(-8));

    /* out may be NULL. */
    assert_sm_ok(sm_var_add(v, &two, NULL));
    assert_var(v, sm_value_int(-6));
    sm_var_close(v);
}

static void
test_var_add_mixing_int_and_double_gives_double(void **state)
{
    (void)state;
    sm_var *v = NULL;
    sm_value one = sm_value_int(1), half = sm_value_double(0.5), quarter = sm_value_double(0.25);
    sm_value out = SENTINEL;

    /* int var + double delta */
    assert_sm_ok(sm_var_new(smt_client(), &one, &v));
    assert_sm_ok(sm_var_add(v, &half, &out));
    smt_assert_value(&out, sm_value_double(1.5));
    assert_var(v, sm_value_double(1.5));

    /* double var + int delta */
    assert_sm_ok(sm_var_add(v, &one, &out));
    smt_assert_value(&out, sm_value_double(2.5));
    assert_var(v, sm_value_double(2.5));

    /* double var + double delta */
    assert_sm_ok(sm_var_add(v, &quarter, &out));
    smt_assert_value(&out, sm_value_double(2.75));
    assert_var(v, sm_value_double(2.75));
    sm_var_close(v);

    /* an int that would overflow as an int does not when the sum is a double */
    sm_value max = sm_value_int(INT64_MAX), dbl_one = sm_value_double(1.0);
    assert_sm_ok(sm_var_new(smt_client(), &max, &v));
    assert_sm_ok(sm_var_add(v, &dbl_one, &out));
    smt_assert_value(&out, sm_value_double((double)INT64_MAX + 1.0));
    assert_var(v, sm_value_double((double)INT64_MAX + 1.0));
    sm_var_close(v);
}

static void
test_var_add_to_nil_counts_nil_as_zero(void **state)
{
    (void)state;
    sm_var *v = NULL;
    sm_value five = sm_value_int(5), quarter = sm_value_double(0.25);
    sm_value out = SENTINEL;

    assert_sm_ok(sm_var_new(smt_client(), NULL, &v));
    assert_sm_ok(sm_var_add(v, &five, &out));
    smt_assert_value(&out, sm_value_int(5));
    assert_var(v, sm_value_int(5));
    sm_var_close(v);

    assert_sm_ok(sm_var_open(smt_client(), smt_name("var"), NULL, &v));
    assert_sm_ok(sm_var_add(v, &quarter, &out));
    smt_assert_value(&out, sm_value_double(0.25));
    assert_var(v, sm_value_double(0.25));
    sm_var_close(v);
}

static void
test_var_add_to_a_non_number_is_ebadvalue_and_changes_nothing(void **state)
{
    (void)state;
    sm_var *v = NULL;
    static const unsigned char raw[] = {1, 2, 3};
    sm_value text = sm_value_str("abc"), bytes = sm_value_bytes(raw, sizeof(raw));
    sm_value one = sm_value_int(1), half = sm_value_double(0.5);
    sm_value out = SENTINEL;

    assert_sm_ok(sm_var_new(smt_client(), &text, &v));
    assert_sm_status(sm_var_add(v, &one, &out), SM_EBADVALUE);
    smt_assert_value(&out, SENTINEL);
    assert_sm_status(sm_var_add(v, &half, &out), SM_EBADVALUE);
    smt_assert_value(&out, SENTINEL);
    assert_var(v, sm_value_str("abc"));

    assert_sm_ok(sm_var_set(v, &bytes));
    assert_sm_status(sm_var_add(v, &one, &out), SM_EBADVALUE);
    smt_assert_value(&out, SENTINEL);
    assert_var(v, sm_value_bytes(raw, sizeof(raw)));
    sm_var_close(v);
}

static void
test_var_add_of_a_non_number_delta_is_ebadvalue_and_changes_nothing(void **state)
{
    (void)state;
    sm_var *v = NULL;
    sm_value five = sm_value_int(5);
    const sm_value deltas[] = {
        sm_value_str("1"),
        sm_value_nil(),
        sm_value_bytes("1", 1),
    };
    sm_value out = SENTINEL;

    assert_sm_ok(sm_var_new(smt_client(), &five, &v));
    for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
        assert_sm_status(sm_var_add(v, &deltas[i], &out), SM_EBADVALUE);
        smt_assert_value(&out, SENTINEL);
        assert_var(v, sm_value_int(5));
    }
    sm_var_close(v);
}

static void
test_var_add_overflow_is_eoverflow_and_changes_nothing(void **state)
{
    (void)state;
    sm_var *v = NULL;
    sm_value max = sm_value_int(INT64_MAX), min = sm_value_int(INT64_MIN);
    sm_value one = sm_value_int(1), minus_one = sm_value_int(-1);
    sm_value out = SENTINEL;

    assert_sm_ok(sm_var_new(smt_client(), &max, &v));
    assert_sm_status(sm_var_add(v, &one, &out), SM_EOVERFLOW);
    smt_assert_value(&out, SENTINEL);
    assert_var(v, sm_value_int(INT64_MAX));
    assert_sm_status(sm_var_add(v, &max, &out), SM_EOVERFLOW);
    assert_var(v, sm_value_int(INT64_MAX));
    /* adding 0 or a negative still works at the edge */
    assert_sm_ok(sm_var_add(v, &minus_one, &out));
    smt_assert_value(&out, sm_value_int(INT64_MAX - 1));

    assert_sm_ok(sm_var_set(v, &min));
    assert_sm_status(sm_var_add(v, &minus_one, &out), SM_EOVERFLOW);
    smt_assert_value(&out, sm_value_int(INT64_MAX - 1));
    assert_var(v, sm_value_int(INT64_MIN));
    assert_sm_status(sm_var_add(v, &min, NULL), SM_EOVERFLOW);
    assert_var(v, sm_value_int(INT64_MIN));
    assert_sm_ok(sm_var_add(v, &max, &out));
    smt_assert_value(&out, sm_value_int(-1));
    assert_var(v, sm_value_int(-1));
    sm_var_close(v);
}

static void
test_var_cas_swaps_when_the_var_equals_expected(void **state)
{
    (void)state;
    sm_var *v = NULL;
    sm_value five = sm_value_int(5), six = sm_value_int(6);
    sm_value current = SENTINEL;
    bool swapped = false;

    assert_sm_ok(sm_var_new(smt_client(), &five, &v));
    assert_sm_ok(sm_var_cas(v, &five, &six, &swapped, &current));
    assert_true(swapped);
    smt_assert_value(&current, sm_value_int(6));
    assert_var(v, sm_value_int(6));
    sm_value_clear(&current);
    sm_var_close(v);
}

static void
test_var_cas_does_not_swap_when_the_var_differs(void **state)
{
    (void)state;
    sm_var *v = NULL;
    sm_value six = sm_value_int(6), five = sm_value_int(5), seven = sm_value_int(7);
    sm_value current = SENTINEL;
    bool swapped = true;

    assert_sm_ok(sm_var_new(smt_client(), &six, &v));
    assert_sm_ok(sm_var_cas(v, &five, &seven, &swapped, &current));
    assert_false(swapped);
    smt_assert_value(&current, sm_value_int(6));
    assert_var(v, sm_value_int(6));
    sm_value_clear(&current);

    /* A string current value comes back whole on failure. */
    sm_value text = sm_value_str("held");
    assert_sm_ok(sm_var_set(v, &text));
    swapped = true;
    assert_sm_ok(sm_var_cas(v, &six, &seven, &swapped, &current));
    assert_false(swapped);
    smt_assert_value(&current, sm_value_str("held"));
    assert_true(current.u.buf.owned);
    sm_value_clear(&current);
    assert_var(v, sm_value_str("held"));
    sm_var_close(v);
}

static void
test_var_cas_compares_int_and_double_by_number(void **state)
{
    (void)state;
    sm_var *v = NULL;
    sm_value one = sm_value_int(1), one_d = sm_value_double(1.0), word = sm_value_str("one");
    sm_value two_d = sm_value_double(2.0), two = sm_value_int(2), three = sm_value_int(3);
    sm_value one_half = sm_value_double(1.5);
    sm_value current = SENTINEL;
    bool swapped = false;

    /* int 1 held, double 1.0 expected */
    assert_sm_ok(sm_var_new(smt_client(), &one, &v));
    assert_sm_ok(sm_var_cas(v, &one_d, &word, &swapped, &current));
    assert_true(swapped);
    smt_assert_value(&current, sm_value_str("one"));
    sm_value_clear(&current);
    assert_var(v, sm_value_str("one"));

    /* double 2.0 held, int 2 expected: the desired value is stored as given */
    assert_sm_ok(sm_var_set(v, &two_d));
    swapped = false;
    assert_sm_ok(sm_var_cas(v, &two, &three, &swapped, &current));
    assert_true(swapped);
    smt_assert_value(&current, sm_value_int(3));
    assert_var(v, sm_value_int(3));

    /* int 1 held, double 1.5 expected: no swap */
    assert_sm_ok(sm_var_set(v, &one));
    swapped = true;
    assert_sm_ok(sm_var_cas(v, &one_half, &three, &swapped, &current));
    assert_false(swapped);
    smt_assert_value(&current, sm_value_int(1));
    assert_var(v, sm_value_int(1));
    sm_var_close(v);
}

static void
test_var_cas_compares_other_kinds_by_kind_and_content(void **state)
{
    (void)state;
    sm_var *v = NULL;
    sm_value as_str = sm_value_str("a"), as_bytes = sm_value_bytes("a", 1);
    sm_value as_int = sm_value_int(1), as_bool = sm_value_bool(true), nil = sm_value_nil();
    sm_value current = SENTINEL;
    bool swapped = true;

    /* str "a" held: bytes "a" is another kind */
    assert_sm_ok(sm_var_new(smt_client(), &as_str, &v));
    assert_sm_ok(sm_var_cas(v, &as_bytes, &as_int, &swapped, &current));
    assert_false(swapped);
    smt_assert_value(&current, sm_value_str("a"));
    sm_value_clear(&current);
    assert_var(v, sm_value_str("a"));

    /* an equal string from another buffer matches */
    char copy[] = "a";
    sm_value same = sm_value_str(copy);
    assert_sm_ok(sm_var_cas(v, &same, &as_bool, &swapped, &current));
    assert_true(swapped);
    smt_assert_value(&current, sm_value_bool(true));
    assert_var(v, sm_value_bool(true));

    /* nil held, nil expected */
    assert_sm_ok(sm_var_set(v, &nil));
    swapped = false;
    assert_sm_ok(sm_var_cas(v, &nil, &as_bytes, &swapped, &current));
    assert_true(swapped);
    smt_assert_value(&current, sm_value_bytes("a", 1));
    sm_value_clear(&current);
    assert_var(v, sm_value_bytes("a", 1));
    sm_var_close(v);
}

static void
test_var_cas_accepts_null_swapped_and_current(void **state)
{
    (void)state;
    sm_var *v = NULL;
    sm_value five = sm_value_int(5), six = sm_value_int(6), seven = sm_value_int(7);

    assert_sm_ok(sm_var_new(smt_client(), &five, &v));
    assert_sm_ok(sm_var_cas(v, &five, &six, NULL, NULL));
    assert_var(v, sm_value_int(6));
    assert_sm_ok(sm_var_cas(v, &five, &seven, NULL, NULL));
    assert_var(v, sm_value_int(6));
    sm_var_close(v);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_var_open_with_init_holds_init),
    cmocka_unit_test(test_var_open_with_null_init_holds_nil),
    cmocka_unit_test(test_var_open_existing_name_ignores_init_and_shares_the_value),
    cmocka_unit_test(test_var_new_holds_init_and_each_new_var_is_distinct),
    cmocka_unit_test(test_var_attach_reaches_the_same_var),
    cmocka_unit_test(test_var_set_stores_every_value_kind),
    cmocka_unit_test(test_var_set_copies_its_input),
    cmocka_unit_test(test_var_get_hands_out_an_owned_copy),
    cmocka_unit_test(test_var_add_int_to_int_gives_int),
    cmocka_unit_test(test_var_add_mixing_int_and_double_gives_double),
    cmocka_unit_test(test_var_add_to_nil_counts_nil_as_zero),
    cmocka_unit_test(test_var_add_to_a_non_number_is_ebadvalue_and_changes_nothing),
    cmocka_unit_test(test_var_add_of_a_non_number_delta_is_ebadvalue_and_changes_nothing),
    cmocka_unit_test(test_var_add_overflow_is_eoverflow_and_changes_nothing),
    cmocka_unit_test(test_var_cas_swaps_when_the_var_equals_expected),
    cmocka_unit_test(test_var_cas_does_not_swap_when_the_var_differs),
    cmocka_unit_test(test_var_cas_compares_int_and_double_by_number),
    cmocka_unit_test(test_var_cas_compares_other_kinds_by_kind_and_content),
    cmocka_unit_test(test_var_cas_accepts_null_swapped_and_current),
};

int
main(int argc, char **argv)
{
    return SMT_MAIN("var", tests);
}
