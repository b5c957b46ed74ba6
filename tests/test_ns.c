/* test_ns.c - sm_ns, Python's manager Namespace: attributes set, read,
 * deleted and listed in the order they were first set; missing attributes
 * and bad attribute names.
 *
 * After every operation the whole namespace is read back (sm_ns_list, then
 * each attribute) and compared exactly. */
#include "smt.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ns_check reads the attribute names of ns back and compares them, in order,
 * with want[0..n-1]. */
static void
ns_check(sm_ns *ns, const char *const *want, size_t n, const char *file, int line)
{
    char **names = (char **)&names; /* must be overwritten */
    size_t got = 12345;

    smt_assert_status(sm_ns_list(ns, &names, &got), SM_OK, "sm_ns_list", file, line);
    if (names == (char **)&names) {
        print_error("sm_ns_list returned SM_OK without writing *namesp\n");
        _fail(file, line);
    }
    for (size_t i = 0; i < got || i < n; i++) {
        const char *g = i < got ? names[i] : "(none)";
        const char *w = i < n ? want[i] : "(none)";
        if (i >= got || i >= n || strcmp(g, w) != 0) {
            print_error("attribute %zu is \"%s\", wanted \"%s\" (%zu names, wanted %zu)\n", i, g, w,
                        got, n);
            sm_strings_free(names, got);
            _fail(file, line);
        }
    }
    sm_strings_free(names, got);
}
#define assert_ns_names(ns, ...)                                                                   \
    ns_check((ns), (const char *const[]){__VA_ARGS__},                                             \
             COUNT(((const char *const[]){__VA_ARGS__})), __FILE__, __LINE__)

static void
ns_check_empty(sm_ns *ns, const char *file, int line)
{
    ns_check(ns, NULL, 0, file, line);
}
#define assert_ns_empty(ns) ns_check_empty((ns), __FILE__, __LINE__)

/* attr_check reads ns.attr back and compares it with want. */
static void
attr_check(sm_ns *ns, const char *attr, sm_value want, const char *file, int line)
{
    sm_value got = sm_value_nil();
    smt_assert_status(sm_ns_get(ns, attr, &got), SM_OK, attr, file, line);
    smt_value_check(&got, want, file, line);
    sm_value_clear(&got);
}
#define assert_attr(ns, attr, want) attr_check((ns), (attr), (want), __FILE__, __LINE__)

/* A value that must survive a failed call untouched. */
#define SENTINEL sm_value_int(-424242)

static sm_ns *
fresh_ns(void)
{
    sm_ns *ns = NULL;
    assert_sm_ok(sm_ns_open(smt_client(), smt_name("ns"), &ns));
    assert_non_null(ns);
    return ns;
}

/* ------------------------------------------------------------------ tests */

static void
test_ns_new_namespace_is_empty(void **state)
{
    (void)state;
    sm_ns *ns = NULL;

    assert_sm_ok(sm_ns_new(smt_client(), &ns));
    assert_ns_empty(ns);
    sm_ns_close(ns);
    ns = fresh_ns();
    assert_ns_empty(ns);
    sm_ns_close(ns);
}

static void
test_ns_set_then_get_returns_every_value_kind(void **state)
{
    (void)state;
    sm_ns *ns = fresh_ns();
    static const unsigned char raw[] = {0, 1, 0xfe, 0};
    const struct {
        const char *attr;
        sm_value v;
    } attrs[] = {
        {"nil", sm_value_nil()},
        {"yes", sm_value_bool(true)},
        {"no", sm_value_bool(false)},
        {"min", sm_value_int(INT64_MIN)},
        {"pi", sm_value_double(3.141592653589793)},
        {"raw", sm_value_bytes(raw, sizeof(raw))},
        {"text", sm_value_str("h\xc3\xa9llo")},
        {"empty", sm_value_str("")},
    };

    for (size_t i = 0; i < COUNT(attrs); i++)
        assert_sm_ok(sm_ns_set(ns, attrs[i].attr, &attrs[i].v));
    for (size_t i = 0; i < COUNT(attrs); i++)
        assert_attr(ns, attrs[i].attr, attrs[i].v);
    assert_ns_names(ns, "nil", "yes", "no", "min", "pi", "raw", "text", "empty");
    sm_ns_close(ns);
}

static void
test_ns_set_overwrites_and_copies_its_input(void **state)
{
    (void)state;
    sm_ns *ns = fresh_ns();
    char text[] = "before";
    sm_value v = sm_value_str(text), two = sm_value_int(2);

    assert_sm_ok(sm_ns_set(ns, "x", &v));
    memcpy(text, "after!", sizeof(text));
    assert_attr(ns, "x", sm_value_str("before"));
    assert_sm_ok(sm_ns_set(ns, "x", &two));
    assert_attr(ns, "x", sm_value_int(2));
    assert_ns_names(ns, "x");
    sm_ns_close(ns);
}

static void
test_ns_get_of_a_missing_attribute_is_enokey_and_leaves_output_untouched(void **state)
{
    (void)state;
    sm_ns *ns = fresh_ns();
    sm_value out = SENTINEL, one = sm_value_int(1);

    assert_sm_status(sm_ns_get(ns, "absent", &out), SM_ENOKEY);
    smt_assert_value(&out, SENTINEL);
    assert_sm_ok(sm_ns_set(ns, "present", &one));
    assert_sm_status(sm_ns_get(ns, "Present", &out), SM_ENOKEY);
    assert_sm_status(sm_ns_get(ns, "presen", &out), SM_ENOKEY);
    smt_assert_value(&out, SENTINEL);
    assert_ns_names(ns, "present");
    sm_ns_close(ns);
}

static void
test_ns_del_removes_the_attribute(void **state)
{
    (void)state;
    sm_ns *ns = fresh_ns();
    sm_value a = sm_value_int(1), b = sm_value_str("two"), c = sm_value_double(3.0);
    sm_value out = SENTINEL;

    assert_sm_ok(sm_ns_set(ns, "a", &a));
    assert_sm_ok(sm_ns_set(ns, "b", &b));
    assert_sm_ok(sm_ns_set(ns, "c", &c));
    assert_sm_ok(sm_ns_del(ns, "b"));
    assert_sm_status(sm_ns_get(ns, "b", &out), SM_ENOKEY);
    smt_assert_value(&out, SENTINEL);
    assert_ns_names(ns, "a", "c");
    assert_attr(ns, "a", sm_value_int(1));
    assert_attr(ns, "c", sm_value_double(3.0));

    assert_sm_ok(sm_ns_del(ns, "a"));
    assert_sm_ok(sm_ns_del(ns, "c"));
    assert_ns_empty(ns);
    sm_ns_close(ns);
}

static void
test_ns_del_of_a_missing_attribute_is_enokey(void **state)
{
    (void)state;
    sm_ns *ns = fresh_ns();
    sm_value one = sm_value_int(1);

    assert_sm_status(sm_ns_del(ns, "absent"), SM_ENOKEY);
    assert_sm_ok(sm_ns_set(ns, "x", &one));
    assert_sm_ok(sm_ns_del(ns, "x"));
    assert_sm_status(sm_ns_del(ns, "x"), SM_ENOKEY);
    assert_ns_empty(ns);
    sm_ns_close(ns);
}

static void
test_ns_list_keeps_the_order_of_first_set(void **state)
{
    (void)state;
    sm_ns *ns = fresh_ns();
    sm_value v1 = sm_value_int(1), v2 = sm_value_int(2), v3 = sm_value_int(3);
    sm_value v4 = sm_value_int(4);

    assert_sm_ok(sm_ns_set(ns, "zeta", &v1));
    assert_sm_ok(sm_ns_set(ns, "alpha", &v2));
    assert_sm_ok(sm_ns_set(ns, "mid", &v3));
    assert_ns_names(ns, "zeta", "alpha", "mid");

    /* setting again keeps the place */
    assert_sm_ok(sm_ns_set(ns, "zeta", &v4));
    assert_ns_names(ns, "zeta", "alpha", "mid");
    assert_attr(ns, "zeta", sm_value_int(4));

    /* deleted and set again: a new first set, at the end */
    assert_sm_ok(sm_ns_del(ns, "alpha"));
    assert_ns_names(ns, "zeta", "mid");
    assert_sm_ok(sm_ns_set(ns, "alpha", &v1));
    assert_ns_names(ns, "zeta", "mid", "alpha");
    assert_attr(ns, "zeta", sm_value_int(4));
    assert_attr(ns, "mid", sm_value_int(3));
    assert_attr(ns, "alpha", sm_value_int(1));
    sm_ns_close(ns);
}

static void
test_ns_bad_attribute_names_are_einval(void **state)
{
    (void)state;
    sm_ns *ns = fresh_ns();
    sm_value one = sm_value_int(1), out = SENTINEL;
    char longest[256], too_long[257];

    memset(longest, 'a', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    memset(too_long, 'b', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = '\0';

    assert_sm_status(sm_ns_set(ns, "", &one), SM_EINVAL);
    assert_sm_status(sm_ns_get(ns, "", &out), SM_EINVAL);
    smt_assert_value(&out, SENTINEL);
    assert_sm_status(sm_ns_del(ns, ""), SM_EINVAL);
    assert_sm_status(sm_ns_set(ns, NULL, &one), SM_EINVAL);
    assert_sm_status(sm_ns_get(ns, NULL, &out), SM_EINVAL);
    assert_sm_status(sm_ns_del(ns, NULL), SM_EINVAL);
    assert_sm_status(sm_ns_set(ns, too_long, &one), SM_EINVAL);
    assert_sm_status(sm_ns_get(ns, too_long, &out), SM_EINVAL);
    assert_sm_status(sm_ns_del(ns, too_long), SM_EINVAL);
    smt_assert_value(&out, SENTINEL);
    assert_ns_empty(ns);

    /* 255 bytes is allowed */
    assert_sm_ok(sm_ns_set(ns, longest, &one));
    assert_attr(ns, longest, sm_value_int(1));
    assert_ns_names(ns, longest);
    assert_sm_ok(sm_ns_del(ns, longest));
    assert_ns_empty(ns);
    sm_ns_close(ns);
}

static void
test_ns_open_by_name_and_attach_share_the_namespace(void **state)
{
    (void)state;
    char name[256];
    sm_ns *a = NULL, *b = NULL, *c = NULL;
    sm_value one = sm_value_int(1), two = sm_value_str("two");

    snprintf(name, sizeof(name), "%s", smt_name("ns"));
    assert_sm_ok(sm_ns_open(smt_client(), name, &a));
    assert_sm_ok(sm_ns_set(a, "one", &one));
    assert_sm_ok(sm_ns_open(smt_client(), name, &b));
    assert_attr(b, "one", sm_value_int(1));
    assert_sm_ok(sm_ns_set(b, "two", &two));
    assert_ns_names(a, "one", "two");
    assert_attr(a, "two", sm_value_str("two"));
    sm_ns_close(b);

    assert_sm_ok(sm_ns_new(smt_client(), &b));
    assert_sm_ok(sm_ns_set(b, "anon", &one));
    assert_sm_ok(sm_ns_attach(smt_client(), sm_ns_token(b), &c));
    assert_string_equal(sm_ns_token(b), sm_ns_token(c));
    assert_ns_names(c, "anon");
    assert_attr(c, "anon", sm_value_int(1));
    /* the anonymous namespace is not the named one */
    assert_ns_names(a, "one", "two");
    sm_ns_close(c);
    sm_ns_close(b);
    sm_ns_close(a);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ns_new_namespace_is_empty),
    cmocka_unit_test(test_ns_set_then_get_returns_every_value_kind),
    cmocka_unit_test(test_ns_set_overwrites_and_copies_its_input),
    cmocka_unit_test(test_ns_get_of_a_missing_attribute_is_enokey_and_leaves_output_untouched),
    cmocka_unit_test(test_ns_del_removes_the_attribute),
    cmocka_unit_test(test_ns_del_of_a_missing_attribute_is_enokey),
    cmocka_unit_test(test_ns_list_keeps_the_order_of_first_set),
    cmocka_unit_test(test_ns_bad_attribute_names_are_einval),
    cmocka_unit_test(test_ns_open_by_name_and_attach_share_the_namespace),
};

int
main(int argc, char **argv)
{
    return SMT_MAIN("ns", tests);
}
