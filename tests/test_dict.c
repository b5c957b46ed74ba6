/* test_dict.c - sm_dict against a real syncmgrd, over ipc:// and tcp://.
 *
 * Every operation in syncmgr.h's dict section is checked against the header
 * and Python's dict: after each call the whole dict is read back (len, keys,
 * values, items, get and contains per key), so a test fails whenever an
 * operation leaves any other state than the exact expected one. Failed calls
 * must leave the caller's outputs as they were.
 *
 * Most tests get a fresh named dict in *state from dict_setup(); the tests of
 * open, new and attach make their own. */
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

/* ------------------------------------------------------------- dict checks */

/* check_dict reads the whole of d back every way the API allows and fails
 * unless it holds exactly keys[i] -> vals[i], in that order. */
static void
check_dict(sm_dict *d, const char *const *keys, const sm_value *vals, size_t n, const char *file,
           int line)
{
    size_t len = 12345, nk = 12345, nv = 12345, ni = 12345;
    char **ks = NULL, **iks = NULL;
    sm_value *vs = NULL, *ivs = NULL;
    char what[96];

    smt_assert_status(sm_dict_len(d, &len), SM_OK, "sm_dict_len", file, line);
    if (len != n) {
        print_error("sm_dict_len: %zu keys, wanted %zu\n", len, n);
        _fail(file, line);
    }
    smt_assert_status(sm_dict_keys(d, &ks, &nk), SM_OK, "sm_dict_keys", file, line);
    smt_assert_status(sm_dict_values(d, &vs, &nv), SM_OK, "sm_dict_values", file, line);
    smt_assert_status(sm_dict_items(d, &iks, &ivs, &ni), SM_OK, "sm_dict_items", file, line);
    if (nk != n || nv != n || ni != n) {
        print_error("keys/values/items gave %zu/%zu/%zu entries, wanted %zu\n", nk, nv, ni, n);
        _fail(file, line);
    }
    if (n == 0 && (ks != NULL || vs != NULL || iks != NULL || ivs != NULL)) {
        print_error("an empty dict's keys/values/items arrays are not NULL\n");
        _fail(file, line);
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ks[i], keys[i]) != 0 || strcmp(iks[i], keys[i]) != 0) {
            print_error("key %zu: keys() \"%s\", items() \"%s\", wanted \"%s\"\n", i, ks[i], iks[i],
                        keys[i]);
            _fail(file, line);
        }
        snprintf(what, sizeof(what), "values()[%zu] (key \"%.40s\")", i, keys[i]);
        smt_check_value(&vs[i], &vals[i], what, file, line);
        snprintf(what, sizeof(what), "items()[%zu] (key \"%.40s\")", i, keys[i]);
        smt_check_value(&ivs[i], &vals[i], what, file, line);
    }
    sm_strings_free(ks, nk);
    sm_strings_free(iks, ni);
    sm_values_free(vs, nv);
    sm_values_free(ivs, ni);

    for (size_t i = 0; i < n; i++) {
        sm_value got = sm_value_nil();
        bool in = false;
        smt_assert_status(sm_dict_contains(d, keys[i], &in), SM_OK, "sm_dict_contains", file, line);
        if (!in) {
            print_error("sm_dict_contains(\"%s\") is false\n", keys[i]);
            _fail(file, line);
        }
        smt_assert_status(sm_dict_get(d, keys[i], &got), SM_OK, "sm_dict_get", file, line);
        snprintf(what, sizeof(what), "get(\"%.40s\")", keys[i]);
        smt_check_value(&got, &vals[i], what, file, line);
        sm_value_clear(&got);
    }
}
#define assert_dict_is(d, keys, vals, n) check_dict((d), (keys), (vals), (n), __FILE__, __LINE__)
#define assert_dict_empty(d)             check_dict((d), NULL, NULL, 0, __FILE__, __LINE__)

/* --------------------------------------------------------------- fixtures */

static int
dict_setup(void **state)
{
    sm_dict *d = NULL;
    int rv = sm_dict_open(smt_client(), smt_name("dict"), &d);
    if (rv != SM_OK) {
        print_error("sm_dict_open: %s (%s)\n", sm_errname(rv), sm_errdetail());
        return -1;
    }
    *state = d;
    return 0;
}

static int
dict_teardown(void **state)
{
    int rv = sm_dict_close(*state);
    *state = NULL;
    return rv == SM_OK ? 0 : -1;
}

/* gone_token returns (malloc'd) the token of an anonymous list that has
 * already been freed: a reference to it names an object that is gone. */
static char *
gone_token(void)
{
    sm_list *l = NULL;
    assert_sm_ok(sm_list_new(smt_client(), &l));
    char *tok = strdup(sm_list_token(l));
    assert_non_null(tok);
    assert_sm_ok(sm_list_close(l));
    return tok;
}

/* ------------------------------------------------------ open, new, attach */

static void
test_dict_open_creates_an_empty_dict(void **state)
{
    sm_dict *d = *state;
    const char *tok = sm_dict_token(d);

    assert_non_null(tok);
    assert_true(strlen(tok) > 0);
    assert_dict_empty(d);
}

static void
test_dict_open_same_name_reaches_the_same_dict(void **state)
{
    char name[256];
    sm_dict *a = NULL, *b = NULL;
    (void)state;

    snprintf(name, sizeof(name), "%s", smt_name("dict"));
    assert_sm_ok(sm_dict_open(smt_client(), name, &a));
    assert_sm_ok(sm_dict_open(smt_client(), name, &b));
    assert_sm_ok(sm_dict_set(a, "k", SMV(sm_value_int(7))));
    assert_sm_ok(sm_dict_set(b, "j", SMV(sm_value_str("via b"))));

    const char *keys[] = {"k", "j"};
    sm_value vals[] = {sm_value_int(7), sm_value_str("via b")};
    assert_dict_is(a, keys, vals, 2);
    assert_dict_is(b, keys, vals, 2);

    /* A named dict outlives its proxies. */
    assert_sm_ok(sm_dict_close(a));
    assert_sm_ok(sm_dict_close(b));
    a = NULL;
    assert_sm_ok(sm_dict_open(smt_client(), name, &a));
    assert_dict_is(a, keys, vals, 2);
    assert_sm_ok(sm_dict_close(a));
}

static void
test_dict_open_name_holding_a_list_is_wrongtype(void **state)
{
    char name[256];
    sm_list *l = NULL;
    int marker;
    sm_dict *d = (sm_dict *)(void *)&marker;
    (void)state;

    snprintf(name, sizeof(name), "%s", smt_name("dict-list"));
    assert_sm_ok(sm_list_open(smt_client(), name, &l));
    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(1))));
    assert_sm_status(sm_dict_open(smt_client(), name, &d), SM_EWRONGTYPE);
    assert_ptr_equal(d, (sm_dict *)(void *)&marker);

    /* The list is untouched by the failed open. */
    size_t n = 0;
    assert_sm_ok(sm_list_len(l, &n));
    assert_int_equal(n, 1);
    assert_sm_ok(sm_list_close(l));
}

static void
test_dict_open_rejects_bad_arguments(void **state)
{
    sm_client *c = smt_client();
    int marker;
    sm_dict *const untouched = (sm_dict *)(void *)&marker;
    sm_dict *d = untouched;
    char name[300];
    (void)state;

    assert_sm_status(sm_dict_open(NULL, smt_name("dict"), &d), SM_EINVAL);
    assert_sm_status(sm_dict_open(c, NULL, &d), SM_EINVAL);
    assert_sm_status(sm_dict_open(c, smt_name("dict"), NULL), SM_EINVAL);
    assert_sm_status(sm_dict_open(c, "", &d), SM_EINVAL);
    assert_ptr_equal(d, untouched);

    /* Names are 1 to 255 bytes. The header does not say which status an
     * over-long name gets; both plausible ones are accepted. */
    memset(name, 'n', 256);
    name[256] = '\0';
    int rv = sm_dict_open(c, name, &d);
    if (rv != SM_EINVAL && rv != SM_ELIMIT)
        fail_msg("256-byte name: %s, wanted SM_EINVAL or SM_ELIMIT", sm_errname(rv));
    assert_ptr_equal(d, untouched);

    snprintf(name, sizeof(name), "%s", smt_name("dict"));
    size_t k = strlen(name);
    memset(name + k, 'n', 255 - k);
    name[255] = '\0';
    assert_sm_ok(sm_dict_open(c, name, &d));
    assert_sm_ok(sm_dict_set(d, "a", SMV(sm_value_int(1))));
    const char *keys[] = {"a"};
    assert_dict_is(d, keys, SMV(sm_value_int(1)), 1);
    assert_sm_ok(sm_dict_close(d));
}

static void
test_dict_new_creates_an_empty_anonymous_dict(void **state)
{
    sm_dict *a = NULL, *b = NULL;
    int marker;
    sm_dict *const untouched = (sm_dict *)(void *)&marker;
    sm_dict *x = untouched;
    (void)state;

    assert_sm_ok(sm_dict_new(smt_client(), &a));
    assert_sm_ok(sm_dict_new(smt_client(), &b));
    assert_non_null(sm_dict_token(a));
    assert_non_null(sm_dict_token(b));
    assert_string_not_equal(sm_dict_token(a), sm_dict_token(b));
    assert_dict_empty(a);

    /* Two anonymous dicts are two objects. */
    assert_sm_ok(sm_dict_set(a, "only-in-a", SMV(sm_value_bool(true))));
    const char *keys[] = {"only-in-a"};
    assert_dict_is(a, keys, SMV(sm_value_bool(true)), 1);
    assert_dict_empty(b);

    assert_sm_status(sm_dict_new(NULL, &x), SM_EINVAL);
    assert_ptr_equal(x, untouched);
    assert_sm_status(sm_dict_new(smt_client(), NULL), SM_EINVAL);

    assert_sm_ok(sm_dict_close(a));
    assert_sm_ok(sm_dict_close(b));
}

static void
test_dict_attach_by_token_reaches_the_same_dict(void **state)
{
    sm_dict *a = NULL, *b = NULL;
    sm_list *l = NULL;
    int marker;
    sm_dict *const untouched = (sm_dict *)(void *)&marker;
    sm_dict *x = untouched;
    (void)state;

    assert_sm_ok(sm_dict_new(smt_client(), &a));
    assert_sm_ok(sm_dict_attach(smt_client(), sm_dict_token(a), &b));
    assert_sm_ok(sm_dict_set(a, "x", SMV(sm_value_int(1))));
    assert_sm_ok(sm_dict_set(b, "y", SMV(sm_value_int(2))));
    const char *keys[] = {"x", "y"};
    sm_value vals[] = {sm_value_int(1), sm_value_int(2)};
    assert_dict_is(a, keys, vals, 2);
    assert_dict_is(b, keys, vals, 2);

    assert_sm_status(sm_dict_attach(smt_client(), "certainly not a token", &x), SM_EINVAL);
    assert_ptr_equal(x, untouched);
    assert_sm_ok(sm_list_new(smt_client(), &l));
    assert_sm_status(sm_dict_attach(smt_client(), sm_list_token(l), &x), SM_EWRONGTYPE);
    assert_ptr_equal(x, untouched);
    assert_sm_status(sm_dict_attach(NULL, sm_dict_token(a), &x), SM_EINVAL);
    assert_sm_status(sm_dict_attach(smt_client(), NULL, &x), SM_EINVAL);
    assert_sm_status(sm_dict_attach(smt_client(), sm_dict_token(a), NULL), SM_EINVAL);
    assert_ptr_equal(x, untouched);

    assert_sm_ok(sm_list_close(l));
    assert_sm_ok(sm_dict_close(a));
    assert_sm_ok(sm_dict_close(b));
}

static void
test_dict_new_is_freed_when_its_last_proxy_closes(void **state)
{
    sm_dict *a = NULL, *b = NULL;
    int marker;
    sm_dict *const untouched = (sm_dict *)(void *)&marker;
    sm_dict *x = untouched;
    (void)state;

    assert_sm_ok(sm_dict_new(smt_client(), &a));
    char *tok = strdup(sm_dict_token(a));
    assert_non_null(tok);
    assert_sm_ok(sm_dict_set(a, "k", SMV(sm_value_int(1))));
    assert_sm_ok(sm_dict_attach(smt_client(), tok, &b));

    /* One proxy left: the dict lives on. */
    assert_sm_ok(sm_dict_close(a));
    const char *keys[] = {"k"};
    assert_dict_is(b, keys, SMV(sm_value_int(1)), 1);

    assert_sm_ok(sm_dict_close(b));
    assert_sm_status(sm_dict_attach(smt_client(), tok, &x), SM_ENOOBJ);
    assert_ptr_equal(x, untouched);
    free(tok);
}

static void
test_dict_close_of_null_is_a_no_op(void **state)
{
    (void)state;
    (void)sm_dict_close(NULL);
}

/* ---------------------------------------------------------------- get, set */

static void
test_dict_get_returns_the_stored_value(void **state)
{
    sm_dict *d = *state;
    sm_value v = sm_value_nil();

    assert_sm_ok(sm_dict_set(d, "answer", SMV(sm_value_int(42))));
    assert_sm_ok(sm_dict_get(d, "answer", &v));
    smt_assert_value_is(&v, SMV(sm_value_int(42)));

    assert_sm_ok(sm_dict_set(d, "name", SMV(sm_value_str("syncmgr"))));
    assert_sm_ok(sm_dict_get(d, "name", &v));
    smt_assert_value_is(&v, SMV(sm_value_str("syncmgr")));
    sm_value_clear(&v);
    assert_int_equal(v.type, SM_NIL);

    const char *keys[] = {"answer", "name"};
    sm_value vals[] = {sm_value_int(42), sm_value_str("syncmgr")};
    assert_dict_is(d, keys, vals, 2);
}

static void
test_dict_get_missing_key_leaves_output_untouched(void **state)
{
    sm_dict *d = *state;
    sm_value v = {.type = SM_INT, .u.i = 42};

    assert_sm_status(sm_dict_get(d, "absent", &v), SM_ENOKEY);
    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, 42);

    /* Also once the dict holds other keys, and after a key was deleted. */
    assert_sm_ok(sm_dict_set(d, "present", SMV(sm_value_str("x"))));
    assert_sm_ok(sm_dict_set(d, "gone", SMV(sm_value_str("y"))));
    assert_sm_ok(sm_dict_del(d, "gone"));
    assert_sm_status(sm_dict_get(d, "absent", &v), SM_ENOKEY);
    assert_sm_status(sm_dict_get(d, "gone", &v), SM_ENOKEY);
    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, 42);

    const char *keys[] = {"present"};
    assert_dict_is(d, keys, SMV(sm_value_str("x")), 1);
}

static void
test_dict_get_or_returns_the_default_only_when_the_key_is_absent(void **state)
{
    sm_dict *d = *state;
    sm_value v = {.type = SM_INT, .u.i = 42};
    const char dflt_text[] = "fallback";

    /* Absent: a copy of the default, owned by the caller; nothing stored. */
    assert_sm_ok(sm_dict_get_or(d, "k", SMV(sm_value_str(dflt_text)), &v));
    smt_assert_value_is(&v, SMV(sm_value_str("fallback")));
    assert_ptr_not_equal(v.u.buf.ptr, dflt_text);
    sm_value_clear(&v);
    assert_sm_ok(sm_dict_get_or(d, "k", SMV(sm_value_nil()), &v));
    smt_assert_value_is(&v, SMV(sm_value_nil()));
    assert_dict_empty(d);

    /* Present: the stored value, whatever the default. */
    assert_sm_ok(sm_dict_set(d, "k", SMV(sm_value_double(2.5))));
    assert_sm_ok(sm_dict_get_or(d, "k", SMV(sm_value_str(dflt_text)), &v));
    smt_assert_value_is(&v, SMV(sm_value_double(2.5)));

    /* A stored nil is present, not absent. */
    assert_sm_ok(sm_dict_set(d, "nil", SMV(sm_value_nil())));
    assert_sm_ok(sm_dict_get_or(d, "nil", SMV(sm_value_int(9)), &v));
    smt_assert_value_is(&v, SMV(sm_value_nil()));

    const char *keys[] = {"k", "nil"};
    sm_value vals[] = {sm_value_double(2.5), sm_value_nil()};
    assert_dict_is(d, keys, vals, 2);
}

static void
test_dict_set_overwrites_without_moving_the_key(void **state)
{
    sm_dict *d = *state;

    assert_sm_ok(sm_dict_set(d, "a", SMV(sm_value_int(1))));
    assert_sm_ok(sm_dict_set(d, "b", SMV(sm_value_int(2))));
    assert_sm_ok(sm_dict_set(d, "c", SMV(sm_value_int(3))));
    /* Python: overwriting keeps the key's place, and the kind may change. */
    assert_sm_ok(sm_dict_set(d, "b", SMV(sm_value_str("two"))));
    assert_sm_ok(sm_dict_set(d, "a", SMV(sm_value_int(1))));

    const char *keys[] = {"a", "b", "c"};
    sm_value vals[] = {sm_value_int(1), sm_value_str("two"), sm_value_int(3)};
    assert_dict_is(d, keys, vals, 3);
}

static void
test_dict_set_copies_the_callers_buffers(void **state)
{
    sm_dict *d = *state;
    char text[] = "original";
    unsigned char raw[] = {1, 2, 3};
    char key[] = "key";

    assert_sm_ok(sm_dict_set(d, key, SMV(sm_value_str(text))));
    assert_sm_ok(sm_dict_set(d, "raw", SMV(sm_value_bytes(raw, sizeof(raw)))));
    memcpy(text, "CHANGED!", sizeof(text));
    memset(raw, 0xee, sizeof(raw));
    key[0] = 'K';

    const char *keys[] = {"key", "raw"};
    sm_value vals[] = {sm_value_str("original"), sm_value_bytes("\x01\x02\x03", 3)};
    assert_dict_is(d, keys, vals, 2);
}

static void
test_dict_set_reference_to_a_gone_object_is_enoobj(void **state)
{
    sm_dict *d = *state;
    char *tok = gone_token();

    assert_sm_ok(sm_dict_set(d, "k", SMV(sm_value_int(1))));
    assert_sm_status(sm_dict_set(d, "ref", SMV(sm_value_ref(tok))), SM_ENOOBJ);
    assert_sm_status(sm_dict_set(d, "k", SMV(sm_value_ref(tok))), SM_ENOOBJ);

    const char *keys[] = {"k"};
    assert_dict_is(d, keys, SMV(sm_value_int(1)), 1);
    free(tok);
}

static void
test_dict_reference_keeps_an_anonymous_object_alive(void **state)
{
    sm_dict *d = *state;
    sm_list *l = NULL;
    sm_value got = sm_value_nil();

    assert_sm_ok(sm_list_new(smt_client(), &l));
    char *tok = strdup(sm_list_token(l));
    assert_non_null(tok);
    assert_sm_ok(sm_list_append(l, SMV(sm_value_int(7))));
    assert_sm_ok(sm_dict_set(d, "list", SMV(sm_value_ref(tok))));
    assert_sm_ok(sm_list_close(l));

    /* No proxy is left, but the dict holds a reference. */
    l = NULL;
    assert_sm_ok(sm_dict_get(d, "list", &got));
    smt_assert_value_is(&got, SMV(sm_value_ref(tok)));
    assert_sm_ok(sm_list_attach(smt_client(), got.u.buf.ptr, &l));
    sm_value_clear(&got);
    assert_sm_ok(sm_list_get(l, 0, &got));
    smt_assert_value_is(&got, SMV(sm_value_int(7)));
    assert_sm_ok(sm_list_close(l));

    /* Dropping the last reference frees it. */
    assert_sm_ok(sm_dict_del(d, "list"));
    l = NULL;
    assert_sm_status(sm_list_attach(smt_client(), tok, &l), SM_ENOOBJ);
    assert_null(l);
    assert_dict_empty(d);
    free(tok);
}

/* ---------------------------------------------------------- del, contains */

static void
test_dict_del_removes_the_key_and_a_new_set_goes_last(void **state)
{
    sm_dict *d = *state;

    assert_sm_ok(sm_dict_set(d, "a", SMV(sm_value_int(1))));
    assert_sm_ok(sm_dict_set(d, "b", SMV(sm_value_int(2))));
    assert_sm_ok(sm_dict_set(d, "c", SMV(sm_value_int(3))));
    assert_sm_ok(sm_dict_del(d, "b"));
    {
        const char *keys[] = {"a", "c"};
        sm_value vals[] = {sm_value_int(1), sm_value_int(3)};
        assert_dict_is(d, keys, vals, 2);
    }
    /* Python: a deleted key set again goes to the end. */
    assert_sm_ok(sm_dict_set(d, "b", SMV(sm_value_int(20))));
    {
        const char *keys[] = {"a", "c", "b"};
        sm_value vals[] = {sm_value_int(1), sm_value_int(3), sm_value_int(20)};
        assert_dict_is(d, keys, vals, 3);
    }
    assert_sm_ok(sm_dict_del(d, "a"));
    assert_sm_ok(sm_dict_del(d, "b"));
    assert_sm_ok(sm_dict_del(d, "c"));
    assert_dict_empty(d);
}

static void
test_dict_del_missing_key_is_enokey_and_changes_nothing(void **state)
{
    sm_dict *d = *state;

    assert_sm_status(sm_dict_del(d, "nothing"), SM_ENOKEY);
    assert_dict_empty(d);
    assert_sm_ok(sm_dict_set(d, "a", SMV(sm_value_int(1))));
    assert_sm_status(sm_dict_del(d, "A"), SM_ENOKEY);
    assert_sm_ok(sm_dict_del(d, "a"));
    assert_sm_status(sm_dict_del(d, "a"), SM_ENOKEY);
    assert_dict_empty(d);
}

static void
test_dict_contains_reports_presence(void **state)
{
    sm_dict *d = *state;
    bool in = true;

    assert_sm_ok(sm_dict_contains(d, "k", &in));
    assert_false(in);
    assert_sm_ok(sm_dict_set(d, "k", SMV(sm_value_nil())));
    in = false;
    assert_sm_ok(sm_dict_contains(d, "k", &in));
    assert_true(in);
    assert_sm_ok(sm_dict_contains(d, "kk", &in));
    assert_false(in);
    assert_sm_ok(sm_dict_contains(d, "K", &in));
    assert_false(in);
    assert_sm_ok(sm_dict_del(d, "k"));
    in = true;
    assert_sm_ok(sm_dict_contains(d, "k", &in));
    assert_false(in);
    assert_dict_empty(d);
}

static void
test_dict_len_counts_keys(void **state)
{
    sm_dict *d = *state;
    size_t n = 99;
    char key[16];

    assert_sm_ok(sm_dict_len(d, &n));
    assert_int_equal(n, 0);
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_sm_ok(sm_dict_set(d, key, SMV(sm_value_int(i))));
        assert_sm_ok(sm_dict_len(d, &n));
        assert_int_equal(n, (size_t)i + 1);
    }
    /* Overwriting adds nothing. */
    assert_sm_ok(sm_dict_set(d, "k3", SMV(sm_value_int(-3))));
    assert_sm_ok(sm_dict_len(d, &n));
    assert_int_equal(n, 10);
    assert_sm_ok(sm_dict_del(d, "k0"));
    assert_sm_ok(sm_dict_del(d, "k9"));
    assert_sm_ok(sm_dict_len(d, &n));
    assert_int_equal(n, 8);

    const char *keys[] = {"k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8"};
    sm_value vals[] = {sm_value_int(1), sm_value_int(2), sm_value_int(-3), sm_value_int(4),
                       sm_value_int(5), sm_value_int(6), sm_value_int(7),  sm_value_int(8)};
    assert_dict_is(d, keys, vals, 8);
}

/* ----------------------------------------------------- keys, values, items */

static void
test_dict_keys_values_items_keep_insertion_order(void **state)
{
    enum { NKEYS = 200 };
    sm_dict *d = *state;
    char names[NKEYS][12];
    const char *keys[NKEYS];
    sm_value vals[NKEYS];

    /* An order that is neither sorted nor what a hash would give. */
    for (int i = 0; i < NKEYS; i++) {
        int k = (i * 73 + 11) % NKEYS;
        snprintf(names[i], sizeof(names[i]), "key-%03d", k);
        keys[i] = names[i];
        vals[i] = sm_value_int(k * 1000);
        assert_sm_ok(sm_dict_set(d, keys[i], &vals[i]));
    }
    assert_dict_is(d, keys, vals, NKEYS);

    /* Deleting from the middle keeps the rest in order. */
    assert_sm_ok(sm_dict_del(d, keys[100]));
    memmove(&keys[100], &keys[101], (NKEYS - 101) * sizeof(keys[0]));
    memmove(&vals[100], &vals[101], (NKEYS - 101) * sizeof(vals[0]));
    assert_dict_is(d, keys, vals, NKEYS - 1);
}

static void
test_dict_keys_values_items_of_an_empty_dict_are_null(void **state)
{
    sm_dict *d = *state;
    char **ks = (char **)(void *)&ks;
    sm_value *vs = (sm_value *)(void *)&vs;
    size_t n = 5;

    assert_sm_ok(sm_dict_keys(d, &ks, &n));
    assert_null(ks);
    assert_int_equal(n, 0);
    n = 5;
    assert_sm_ok(sm_dict_values(d, &vs, &n));
    assert_null(vs);
    assert_int_equal(n, 0);
    ks = (char **)(void *)&ks;
    vs = (sm_value *)(void *)&vs;
    n = 5;
    assert_sm_ok(sm_dict_items(d, &ks, &vs, &n));
    assert_null(ks);
    assert_null(vs);
    assert_int_equal(n, 0);

    /* The free functions accept what an empty dict hands out. */
    sm_strings_free(ks, n);
    sm_values_free(vs, n);
}

/* ------------------------------------------------------------------ update */

static void
test_dict_update_stores_pairs_in_order_and_later_duplicates_win(void **state)
{
    sm_dict *d = *state;

    assert_sm_ok(sm_dict_set(d, "a", SMV(sm_value_int(0))));

    /* Python: d = {'a': 0}; d.update([('b', 1), ('a', 2), ('c', 3), ('b', 4)]) */
    const char *in_keys[] = {"b", "a", "c", "b"};
    sm_value in_vals[] = {sm_value_int(1), sm_value_int(2), sm_value_str("three"), sm_value_int(4)};
    assert_sm_ok(sm_dict_update(d, in_keys, in_vals, 4));

    const char *keys[] = {"a", "b", "c"};
    sm_value vals[] = {sm_value_int(2), sm_value_int(4), sm_value_str("three")};
    assert_dict_is(d, keys, vals, 3);

    /* n == 0 changes nothing. */
    assert_sm_ok(sm_dict_update(d, in_keys, in_vals, 0));
    assert_dict_is(d, keys, vals, 3);
}

static void
test_dict_update_is_all_or_nothing(void **state)
{
    sm_dict *d = *state;
    char *tok = gone_token();

    assert_sm_ok(sm_dict_set(d, "keep", SMV(sm_value_int(1))));

    const char *empty_key[] = {"x", "", "y"};
    const char *null_key[] = {"x", NULL, "y"};
    const char *gone_ref[] = {"x", "keep", "y"};
    sm_value vals[] = {sm_value_int(10), sm_value_int(20), sm_value_int(30)};
    sm_value with_gone[] = {sm_value_int(10), sm_value_int(20), sm_value_ref(tok)};

    assert_sm_status(sm_dict_update(d, empty_key, vals, 3), SM_EINVAL);
    assert_sm_status(sm_dict_update(d, null_key, vals, 3), SM_EINVAL);
    assert_sm_status(sm_dict_update(d, gone_ref, with_gone, 3), SM_ENOOBJ);
    assert_sm_status(sm_dict_update(d, NULL, vals, 3), SM_EINVAL);
    assert_sm_status(sm_dict_update(d, gone_ref, NULL, 3), SM_EINVAL);
    assert_sm_status(sm_dict_update(NULL, gone_ref, vals, 3), SM_EINVAL);

    const char *keys[] = {"keep"};
    assert_dict_is(d, keys, SMV(sm_value_int(1)), 1);
    free(tok);
}

/* --------------------------------------------------------------------- pop */

static void
test_dict_pop_removes_the_key_and_returns_its_value(void **state)
{
    sm_dict *d = *state;
    sm_value v = sm_value_nil();

    const char *in_keys[] = {"a", "b", "c"};
    sm_value in_vals[] = {sm_value_int(1), sm_value_str("bee"), sm_value_int(3)};
    assert_sm_ok(sm_dict_update(d, in_keys, in_vals, 3));

    assert_sm_ok(sm_dict_pop(d, "b", NULL, &v));
    smt_assert_value_is(&v, SMV(sm_value_str("bee")));
    sm_value_clear(&v);
    {
        const char *keys[] = {"a", "c"};
        sm_value vals[] = {sm_value_int(1), sm_value_int(3)};
        assert_dict_is(d, keys, vals, 2);
    }
    assert_sm_ok(sm_dict_pop(d, "a", NULL, &v));
    smt_assert_value_is(&v, SMV(sm_value_int(1)));
    assert_sm_ok(sm_dict_pop(d, "c", NULL, &v));
    smt_assert_value_is(&v, SMV(sm_value_int(3)));
    assert_dict_empty(d);
}

static void
test_dict_pop_missing_key_without_default_is_enokey(void **state)
{
    sm_dict *d = *state;
    sm_value v = {.type = SM_INT, .u.i = 42};

    assert_sm_status(sm_dict_pop(d, "absent", NULL, &v), SM_ENOKEY);
    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, 42);

    assert_sm_ok(sm_dict_set(d, "present", SMV(sm_value_int(5))));
    assert_sm_status(sm_dict_pop(d, "absent", NULL, &v), SM_ENOKEY);
    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, 42);
    const char *keys[] = {"present"};
    assert_dict_is(d, keys, SMV(sm_value_int(5)), 1);
}

static void
test_dict_pop_missing_key_with_default_returns_a_copy_of_the_default(void **state)
{
    sm_dict *d = *state;
    sm_value v = {.type = SM_INT, .u.i = 42};
    const unsigned char raw[] = {0, 'd', 0, 'f'};

    assert_sm_ok(sm_dict_set(d, "present", SMV(sm_value_int(5))));
    assert_sm_ok(sm_dict_pop(d, "absent", SMV(sm_value_bytes(raw, sizeof(raw))), &v));
    smt_assert_value_is(&v, SMV(sm_value_bytes(raw, sizeof(raw))));
    assert_ptr_not_equal(v.u.buf.ptr, raw);
    sm_value_clear(&v);
    assert_sm_ok(sm_dict_pop(d, "absent", SMV(sm_value_int(-1)), &v));
    smt_assert_value_is(&v, SMV(sm_value_int(-1)));

    /* Nothing is stored under the absent key. */
    const char *keys[] = {"present"};
    assert_dict_is(d, keys, SMV(sm_value_int(5)), 1);
}

static void
test_dict_pop_present_key_ignores_the_default(void **state)
{
    sm_dict *d = *state;
    sm_value v = sm_value_nil();

    assert_sm_ok(sm_dict_set(d, "k", SMV(sm_value_double(0.25))));
    assert_sm_ok(sm_dict_set(d, "other", SMV(sm_value_bool(false))));
    assert_sm_ok(sm_dict_pop(d, "k", SMV(sm_value_str("dflt")), &v));
    smt_assert_value_is(&v, SMV(sm_value_double(0.25)));

    const char *keys[] = {"other"};
    assert_dict_is(d, keys, SMV(sm_value_bool(false)), 1);

    /* Gone now, so the default comes back. */
    assert_sm_ok(sm_dict_pop(d, "k", SMV(sm_value_str("dflt")), &v));
    smt_assert_value_is(&v, SMV(sm_value_str("dflt")));
    sm_value_clear(&v);
    assert_dict_is(d, keys, SMV(sm_value_bool(false)), 1);
}

/* -------------------------------------------------------------- setdefault */

static void
test_dict_setdefault_stores_the_default_only_when_absent(void **state)
{
    sm_dict *d = *state;
    sm_value v = sm_value_nil();

    /* Absent: stores the default and returns it. */
    assert_sm_ok(sm_dict_setdefault(d, "a", SMV(sm_value_str("first")), &v));
    smt_assert_value_is(&v, SMV(sm_value_str("first")));
    sm_value_clear(&v);
    {
        const char *keys[] = {"a"};
        assert_dict_is(d, keys, SMV(sm_value_str("first")), 1);
    }

    /* Present: returns what is stored and changes nothing. */
    assert_sm_ok(sm_dict_setdefault(d, "a", SMV(sm_value_str("second")), &v));
    smt_assert_value_is(&v, SMV(sm_value_str("first")));
    sm_value_clear(&v);

    /* out may be NULL. */
    assert_sm_ok(sm_dict_setdefault(d, "b", SMV(sm_value_int(2)), NULL));
    assert_sm_ok(sm_dict_setdefault(d, "a", SMV(sm_value_int(3)), NULL));

    /* A stored nil counts as present. */
    assert_sm_ok(sm_dict_set(d, "n", SMV(sm_value_nil())));
    assert_sm_ok(sm_dict_setdefault(d, "n", SMV(sm_value_int(4)), &v));
    smt_assert_value_is(&v, SMV(sm_value_nil()));

    const char *keys[] = {"a", "b", "n"};
    sm_value vals[] = {sm_value_str("first"), sm_value_int(2), sm_value_nil()};
    assert_dict_is(d, keys, vals, 3);
}

/* ------------------------------------------------------------------- clear */

static void
test_dict_clear_removes_every_key(void **state)
{
    sm_dict *d = *state;

    assert_sm_ok(sm_dict_clear(d));
    assert_dict_empty(d);

    const char *in_keys[] = {"a", "b", "c"};
    sm_value in_vals[] = {sm_value_int(1), sm_value_int(2), sm_value_int(3)};
    assert_sm_ok(sm_dict_update(d, in_keys, in_vals, 3));
    assert_sm_ok(sm_dict_clear(d));
    assert_dict_empty(d);

    /* The dict is usable afterwards, and old keys come back in new order. */
    assert_sm_ok(sm_dict_set(d, "c", SMV(sm_value_int(30))));
    assert_sm_ok(sm_dict_set(d, "a", SMV(sm_value_int(10))));
    const char *keys[] = {"c", "a"};
    sm_value vals[] = {sm_value_int(30), sm_value_int(10)};
    assert_dict_is(d, keys, vals, 2);

    assert_sm_status(sm_dict_clear(NULL), SM_EINVAL);
    assert_dict_is(d, keys, vals, 2);
}

/* -------------------------------------------------------------------- incr */

static void
test_dict_incr_absent_key_starts_at_zero_of_the_deltas_kind(void **state)
{
    sm_dict *d = *state;
    sm_value v = sm_value_nil();

    assert_sm_ok(sm_dict_incr(d, "i", SMV(sm_value_int(5)), &v));
    smt_assert_value_is(&v, SMV(sm_value_int(5)));
    assert_sm_ok(sm_dict_incr(d, "f", SMV(sm_value_double(2.5)), &v));
    smt_assert_value_is(&v, SMV(sm_value_double(2.5)));
    assert_sm_ok(sm_dict_incr(d, "z", SMV(sm_value_int(0)), NULL));
    assert_sm_ok(sm_dict_incr(d, "neg", SMV(sm_value_int(INT64_MIN)), NULL));

    const char *keys[] = {"i", "f", "z", "neg"};
    sm_value vals[] = {sm_value_int(5), sm_value_double(2.5), sm_value_int(0),
                       sm_value_int(INT64_MIN)};
    assert_dict_is(d, keys, vals, 4);
}

static void
test_dict_incr_adds_ints(void **state)
{
    sm_dict *d = *state;
    sm_value v = sm_value_nil();

    assert_sm_ok(sm_dict_set(d, "other", SMV(sm_value_int(100))));
    assert_sm_ok(sm_dict_set(d, "n", SMV(sm_value_int(5))));
    assert_sm_ok(sm_dict_incr(d, "n", SMV(sm_value_int(3)), &v));
    smt_assert_value_is(&v, SMV(sm_value_int(8)));
    assert_sm_ok(sm_dict_incr(d, "n", SMV(sm_value_int(-10)), &v));
    smt_assert_value_is(&v, SMV(sm_value_int(-2)));
    assert_sm_ok(sm_dict_incr(d, "n", SMV(sm_value_int(1)), NULL));
    assert_sm_ok(sm_dict_incr(d, "n", SMV(sm_value_int(0)), &v));
    smt_assert_value_is(&v, SMV(sm_value_int(-1)));

    /* Right up to the limits, without overflowing. */
    assert_sm_ok(sm_dict_set(d, "big", SMV(sm_value_int(INT64_MAX - 1))));
    assert_sm_ok(sm_dict_incr(d, "big", SMV(sm_value_int(1)), &v));
    smt_assert_value_is(&v, SMV(sm_value_int(INT64_MAX)));
    assert_sm_ok(sm_dict_incr(d, "big", SMV(sm_value_int(INT64_MIN)), &v));
    smt_assert_value_is(&v, SMV(sm_value_int(-1)));

    /* Incrementing keeps the key's place. */
    const char *keys[] = {"other", "n", "big"};
    sm_value vals[] = {sm_value_int(100), sm_value_int(-1), sm_value_int(-1)};
    assert_dict_is(d, keys, vals, 3);
}

static void
test_dict_incr_int_and_double_give_a_double(void **state)
{
    sm_dict *d = *state;
    sm_value v = sm_value_nil();

    /* stored int + double delta */
    assert_sm_ok(sm_dict_set(d, "a", SMV(sm_value_int(1))));
    assert_sm_ok(sm_dict_incr(d, "a", SMV(sm_value_double(0.5)), &v));
    smt_assert_value_is(&v, SMV(sm_value_double(1.5)));
    /* stored double + int delta */
    assert_sm_ok(sm_dict_set(d, "b", SMV(sm_value_double(1.5))));
    assert_sm_ok(sm_dict_incr(d, "b", SMV(sm_value_int(2)), &v));
    smt_assert_value_is(&v, SMV(sm_value_double(3.5)));
    /* double + double */
    assert_sm_ok(sm_dict_incr(d, "b", SMV(sm_value_double(-0.25)), &v));
    smt_assert_value_is(&v, SMV(sm_value_double(3.25)));
    /* A whole-number result stays a double. */
    assert_sm_ok(sm_dict_set(d, "c", SMV(sm_value_int(2))));
    assert_sm_ok(sm_dict_incr(d, "c", SMV(sm_value_double(1.0)), &v));
    smt_assert_value_is(&v, SMV(sm_value_double(3.0)));
    /* Beyond int64: a double, no overflow (Python: (2**63 - 1) + 1.0). */
    assert_sm_ok(sm_dict_set(d, "m", SMV(sm_value_int(INT64_MAX))));
    assert_sm_ok(sm_dict_incr(d, "m", SMV(sm_value_double(1.0)), &v));
    smt_assert_value_is(&v, SMV(sm_value_double(9223372036854775808.0)));

    const char *keys[] = {"a", "b", "c", "m"};
    sm_value vals[] = {sm_value_double(1.5), sm_value_double(3.25), sm_value_double(3.0),
                       sm_value_double(9223372036854775808.0)};
    assert_dict_is(d, keys, vals, 4);
}

static void
test_dict_incr_non_number_is_ebadvalue_and_changes_nothing(void **state)
{
    sm_dict *d = *state;
    sm_value v = {.type = SM_INT, .u.i = 42};
    const unsigned char raw[] = {0, 1};

    assert_sm_ok(sm_dict_set(d, "s", SMV(sm_value_str("7"))));
    assert_sm_ok(sm_dict_set(d, "b", SMV(sm_value_bytes(raw, sizeof(raw)))));
    assert_sm_ok(sm_dict_set(d, "n", SMV(sm_value_int(3))));

    /* The stored value is not a number. */
    assert_sm_status(sm_dict_incr(d, "s", SMV(sm_value_int(1)), &v), SM_EBADVALUE);
    assert_sm_status(sm_dict_incr(d, "s", SMV(sm_value_double(1.0)), &v), SM_EBADVALUE);
    assert_sm_status(sm_dict_incr(d, "b", SMV(sm_value_int(1)), &v), SM_EBADVALUE);
    /* The delta is not a number: on a number, and on an absent key. */
    assert_sm_status(sm_dict_incr(d, "n", SMV(sm_value_str("1")), &v), SM_EBADVALUE);
    assert_sm_status(sm_dict_incr(d, "n", SMV(sm_value_bytes(raw, 1)), &v), SM_EBADVALUE);
    assert_sm_status(sm_dict_incr(d, "absent", SMV(sm_value_str("1")), &v), SM_EBADVALUE);
    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, 42);

    const char *keys[] = {"s", "b", "n"};
    sm_value vals[] = {sm_value_str("7"), sm_value_bytes(raw, sizeof(raw)), sm_value_int(3)};
    assert_dict_is(d, keys, vals, 3);
}

static void
test_dict_incr_overflow_is_eoverflow_and_changes_nothing(void **state)
{
    sm_dict *d = *state;
    sm_value v = {.type = SM_INT, .u.i = 42};

    assert_sm_ok(sm_dict_set(d, "max", SMV(sm_value_int(INT64_MAX))));
    assert_sm_ok(sm_dict_set(d, "min", SMV(sm_value_int(INT64_MIN))));

    assert_sm_status(sm_dict_incr(d, "max", SMV(sm_value_int(1)), &v), SM_EOVERFLOW);
    assert_sm_status(sm_dict_incr(d, "max", SMV(sm_value_int(INT64_MAX)), &v), SM_EOVERFLOW);
    assert_sm_status(sm_dict_incr(d, "min", SMV(sm_value_int(-1)), &v), SM_EOVERFLOW);
    assert_sm_status(sm_dict_incr(d, "min", SMV(sm_value_int(INT64_MIN)), &v), SM_EOVERFLOW);
    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, 42);

    const char *keys[] = {"max", "min"};
    sm_value vals[] = {sm_value_int(INT64_MAX), sm_value_int(INT64_MIN)};
    assert_dict_is(d, keys, vals, 2);
}

/* ----------------------------------------------------------- values, keys */

static void
test_dict_every_value_kind_round_trips(void **state)
{
    sm_dict *d = *state;
    sm_list *target = NULL;
    static const unsigned char nuls[] = {'a', 0, 'b', 0, 0, 0xff, 0x80, 'c'};
    unsigned char *big = malloc(100000);

    assert_non_null(big);
    for (size_t i = 0; i < 100000; i++)
        big[i] = (unsigned char)(i * 7 + i / 256);
    assert_sm_ok(sm_list_new(smt_client(), &target));

    const char *keys[] = {"nil",       "true",    "false",     "zero",  "int-min",
                          "int-max",   "minus-1", "pi",        "neg0",  "tiny",
                          "huge",      "inf",     "ninf",      "bytes", "empty-bytes",
                          "big-bytes", "str",     "empty-str", "utf8",  "ref"};
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
    _Static_assert(N_ELEMS(keys) == N_ELEMS(vals), "one key per value");

    for (size_t i = 0; i < N_ELEMS(keys); i++)
        assert_sm_ok(sm_dict_set(d, keys[i], &vals[i]));
    assert_dict_is(d, keys, vals, N_ELEMS(keys));

    /* The same through update, into a second dict. */
    sm_dict *d2 = NULL;
    assert_sm_ok(sm_dict_new(smt_client(), &d2));
    assert_sm_ok(sm_dict_update(d2, keys, vals, N_ELEMS(keys)));
    assert_dict_is(d2, keys, vals, N_ELEMS(keys));

    /* The ref that came back is a live token. */
    sm_value got = sm_value_nil();
    sm_list *via = NULL;
    assert_sm_ok(sm_list_append(target, SMV(sm_value_str("seen"))));
    assert_sm_ok(sm_dict_get(d, "ref", &got));
    assert_sm_ok(sm_list_attach(smt_client(), got.u.buf.ptr, &via));
    sm_value_clear(&got);
    assert_sm_ok(sm_list_get(via, 0, &got));
    smt_assert_value_is(&got, SMV(sm_value_str("seen")));
    sm_value_clear(&got);

    assert_sm_ok(sm_list_close(via));
    assert_sm_ok(sm_dict_close(d2));
    assert_sm_ok(sm_list_close(target));
    free(big);
}

static void
test_dict_keys_may_be_utf8_and_up_to_65535_bytes(void **state)
{
    sm_dict *d = *state;
    char *longest = malloc(65537);
    sm_value v = {.type = SM_INT, .u.i = 42};

    assert_non_null(longest);
    memset(longest, 'k', 65536);
    longest[65536] = '\0';

    /* One byte over the limit. The header does not name the status; an
     * argument outside the documented range is taken as SM_EINVAL or
     * SM_ELIMIT. */
    int rv = sm_dict_set(d, longest, SMV(sm_value_int(0)));
    if (rv != SM_EINVAL && rv != SM_ELIMIT)
        fail_msg("65536-byte key: %s, wanted SM_EINVAL or SM_ELIMIT", sm_errname(rv));
    assert_dict_empty(d);

    longest[65535] = '\0';
    const char *keys[] = {"\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", "a", longest, " ", "a.b/c:d"};
    sm_value vals[] = {sm_value_int(1), sm_value_int(2), sm_value_int(3), sm_value_int(4),
                       sm_value_int(5)};
    for (size_t i = 0; i < N_ELEMS(keys); i++)
        assert_sm_ok(sm_dict_set(d, keys[i], &vals[i]));
    assert_dict_is(d, keys, vals, N_ELEMS(keys));

    /* A key that differs only past the first bytes is another key. */
    longest[65534] = 'K';
    assert_sm_status(sm_dict_get(d, longest, &v), SM_ENOKEY);
    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, 42);
    longest[65534] = 'k';
    assert_sm_ok(sm_dict_pop(d, longest, NULL, &v));
    smt_assert_value_is(&v, SMV(sm_value_int(3)));
    free(longest);
}

/* ----------------------------------------------------------- bad arguments */

static void
test_dict_rejects_null_arguments(void **state)
{
    sm_dict *d = *state;
    sm_value v = {.type = SM_INT, .u.i = 42};
    bool in = true;
    size_t n = 77;
    int marker;
    char **const ks_untouched = (char **)(void *)&marker;
    sm_value *const vs_untouched = (sm_value *)(void *)&marker;
    char **ks = ks_untouched;
    sm_value *vs = vs_untouched;
    const char *one_key[] = {"x"};

    assert_sm_ok(sm_dict_set(d, "k", SMV(sm_value_int(1))));

    assert_sm_status(sm_dict_get(NULL, "k", &v), SM_EINVAL);
    assert_sm_status(sm_dict_get(d, NULL, &v), SM_EINVAL);
    assert_sm_status(sm_dict_get(d, "k", NULL), SM_EINVAL);
    assert_sm_status(sm_dict_get_or(NULL, "k", SMV(sm_value_nil()), &v), SM_EINVAL);
    assert_sm_status(sm_dict_get_or(d, NULL, SMV(sm_value_nil()), &v), SM_EINVAL);
    assert_sm_status(sm_dict_get_or(d, "k", SMV(sm_value_nil()), NULL), SM_EINVAL);
    assert_sm_status(sm_dict_set(NULL, "x", SMV(sm_value_int(2))), SM_EINVAL);
    assert_sm_status(sm_dict_set(d, NULL, SMV(sm_value_int(2))), SM_EINVAL);
    assert_sm_status(sm_dict_set(d, "x", NULL), SM_EINVAL);
    assert_sm_status(sm_dict_del(NULL, "k"), SM_EINVAL);
    assert_sm_status(sm_dict_del(d, NULL), SM_EINVAL);
    assert_sm_status(sm_dict_contains(NULL, "k", &in), SM_EINVAL);
    assert_sm_status(sm_dict_contains(d, NULL, &in), SM_EINVAL);
    assert_sm_status(sm_dict_contains(d, "k", NULL), SM_EINVAL);
    assert_sm_status(sm_dict_len(NULL, &n), SM_EINVAL);
    assert_sm_status(sm_dict_len(d, NULL), SM_EINVAL);
    assert_sm_status(sm_dict_keys(NULL, &ks, &n), SM_EINVAL);
    assert_sm_status(sm_dict_keys(d, NULL, &n), SM_EINVAL);
    assert_sm_status(sm_dict_keys(d, &ks, NULL), SM_EINVAL);
    assert_sm_status(sm_dict_values(NULL, &vs, &n), SM_EINVAL);
    assert_sm_status(sm_dict_values(d, NULL, &n), SM_EINVAL);
    assert_sm_status(sm_dict_values(d, &vs, NULL), SM_EINVAL);
    assert_sm_status(sm_dict_items(NULL, &ks, &vs, &n), SM_EINVAL);
    assert_sm_status(sm_dict_items(d, NULL, &vs, &n), SM_EINVAL);
    assert_sm_status(sm_dict_items(d, &ks, NULL, &n), SM_EINVAL);
    assert_sm_status(sm_dict_items(d, &ks, &vs, NULL), SM_EINVAL);
    assert_sm_status(sm_dict_update(NULL, one_key, SMV(sm_value_int(2)), 1), SM_EINVAL);
    assert_sm_status(sm_dict_update(d, NULL, SMV(sm_value_int(2)), 1), SM_EINVAL);
    assert_sm_status(sm_dict_update(d, one_key, NULL, 1), SM_EINVAL);
    assert_sm_status(sm_dict_pop(NULL, "k", NULL, &v), SM_EINVAL);
    assert_sm_status(sm_dict_pop(d, NULL, NULL, &v), SM_EINVAL);
    assert_sm_status(sm_dict_pop(d, "k", NULL, NULL), SM_EINVAL);
    assert_sm_status(sm_dict_setdefault(NULL, "x", SMV(sm_value_int(2)), &v), SM_EINVAL);
    assert_sm_status(sm_dict_setdefault(d, NULL, SMV(sm_value_int(2)), &v), SM_EINVAL);
    assert_sm_status(sm_dict_setdefault(d, "x", NULL, &v), SM_EINVAL);
    assert_sm_status(sm_dict_clear(NULL), SM_EINVAL);
    assert_sm_status(sm_dict_incr(NULL, "k", SMV(sm_value_int(1)), &v), SM_EINVAL);
    assert_sm_status(sm_dict_incr(d, NULL, SMV(sm_value_int(1)), &v), SM_EINVAL);
    assert_sm_status(sm_dict_incr(d, "k", NULL, &v), SM_EINVAL);

    /* Outputs untouched, and the dict too. */
    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, 42);
    assert_true(in);
    assert_int_equal(n, 77);
    assert_ptr_equal(ks, ks_untouched);
    assert_ptr_equal(vs, vs_untouched);
    const char *keys[] = {"k"};
    assert_dict_is(d, keys, SMV(sm_value_int(1)), 1);
}

static void
test_dict_rejects_an_empty_key(void **state)
{
    sm_dict *d = *state;
    sm_value v = {.type = SM_INT, .u.i = 42};
    bool in = true;
    const char *empty_key[] = {""};

    assert_sm_ok(sm_dict_set(d, "k", SMV(sm_value_int(1))));

    assert_sm_status(sm_dict_set(d, "", SMV(sm_value_int(2))), SM_EINVAL);
    assert_sm_status(sm_dict_get(d, "", &v), SM_EINVAL);
    assert_sm_status(sm_dict_get_or(d, "", SMV(sm_value_int(3)), &v), SM_EINVAL);
    assert_sm_status(sm_dict_del(d, ""), SM_EINVAL);
    assert_sm_status(sm_dict_contains(d, "", &in), SM_EINVAL);
    assert_sm_status(sm_dict_update(d, empty_key, SMV(sm_value_int(4)), 1), SM_EINVAL);
    assert_sm_status(sm_dict_pop(d, "", SMV(sm_value_int(5)), &v), SM_EINVAL);
    assert_sm_status(sm_dict_pop(d, "", NULL, &v), SM_EINVAL);
    assert_sm_status(sm_dict_setdefault(d, "", SMV(sm_value_int(6)), &v), SM_EINVAL);
    assert_sm_status(sm_dict_incr(d, "", SMV(sm_value_int(7)), &v), SM_EINVAL);

    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, 42);
    assert_true(in);
    const char *keys[] = {"k"};
    assert_dict_is(d, keys, SMV(sm_value_int(1)), 1);
}

static void
test_dict_rejects_malformed_values(void **state)
{
    sm_dict *d = *state;
    sm_value v = {.type = SM_INT, .u.i = 42};
    const sm_value unknown_kind = {.type = (sm_type)99};
    const sm_value str_without_text = {.type = SM_STR, .u.buf = {.ptr = NULL, .len = 3}};
    const sm_value bytes_without_buf = {.type = SM_BYTES, .u.buf = {.ptr = NULL, .len = 3}};
    const sm_value *bad[] = {&unknown_kind, &str_without_text, &bytes_without_buf,
                             SMV(sm_value_ref("certainly not a token"))};

    assert_sm_ok(sm_dict_set(d, "k", SMV(sm_value_int(1))));
    for (size_t i = 0; i < N_ELEMS(bad); i++) {
        const char *keys3[] = {"x", "y", "z"};
        sm_value vals3[] = {sm_value_int(1), *bad[i], sm_value_int(3)};

        assert_sm_status(sm_dict_set(d, "x", bad[i]), SM_EINVAL);
        assert_sm_status(sm_dict_set(d, "k", bad[i]), SM_EINVAL);
        assert_sm_status(sm_dict_update(d, keys3, vals3, 3), SM_EINVAL);
        assert_sm_status(sm_dict_setdefault(d, "x", bad[i], &v), SM_EINVAL);
        assert_sm_status(sm_dict_pop(d, "x", bad[i], &v), SM_EINVAL);
    }
    /* get_or only copies its default, so only a default that cannot be
     * copied is refused (a ref default is not checked against the server). */
    for (size_t i = 0; i < 3; i++)
        assert_sm_status(sm_dict_get_or(d, "x", bad[i], &v), SM_EINVAL);
    assert_int_equal(v.type, SM_INT);
    assert_int_equal(v.u.i, 42);
    const char *keys[] = {"k"};
    assert_dict_is(d, keys, SMV(sm_value_int(1)), 1);
}

#define DICT_TEST(f) cmocka_unit_test_setup_teardown(f, dict_setup, dict_teardown)

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        DICT_TEST(test_dict_open_creates_an_empty_dict),
        cmocka_unit_test(test_dict_open_same_name_reaches_the_same_dict),
        cmocka_unit_test(test_dict_open_name_holding_a_list_is_wrongtype),
        cmocka_unit_test(test_dict_open_rejects_bad_arguments),
        cmocka_unit_test(test_dict_new_creates_an_empty_anonymous_dict),
        cmocka_unit_test(test_dict_attach_by_token_reaches_the_same_dict),
        cmocka_unit_test(test_dict_new_is_freed_when_its_last_proxy_closes),
        cmocka_unit_test(test_dict_close_of_null_is_a_no_op),
        DICT_TEST(test_dict_get_returns_the_stored_value),
        DICT_TEST(test_dict_get_missing_key_leaves_output_untouched),
        DICT_TEST(test_dict_get_or_returns_the_default_only_when_the_key_is_absent),
        DICT_TEST(test_dict_set_overwrites_without_moving_the_key),
        DICT_TEST(test_dict_set_copies_the_callers_buffers),
        DICT_TEST(test_dict_set_reference_to_a_gone_object_is_enoobj),
        DICT_TEST(test_dict_reference_keeps_an_anonymous_object_alive),
        DICT_TEST(test_dict_del_removes_the_key_and_a_new_set_goes_last),
        DICT_TEST(test_dict_del_missing_key_is_enokey_and_changes_nothing),
        DICT_TEST(test_dict_contains_reports_presence),
        DICT_TEST(test_dict_len_counts_keys),
        DICT_TEST(test_dict_keys_values_items_keep_insertion_order),
        DICT_TEST(test_dict_keys_values_items_of_an_empty_dict_are_null),
        DICT_TEST(test_dict_update_stores_pairs_in_order_and_later_duplicates_win),
        DICT_TEST(test_dict_update_is_all_or_nothing),
        DICT_TEST(test_dict_pop_removes_the_key_and_returns_its_value),
        DICT_TEST(test_dict_pop_missing_key_without_default_is_enokey),
        DICT_TEST(test_dict_pop_missing_key_with_default_returns_a_copy_of_the_default),
        DICT_TEST(test_dict_pop_present_key_ignores_the_default),
        DICT_TEST(test_dict_setdefault_stores_the_default_only_when_absent),
        DICT_TEST(test_dict_clear_removes_every_key),
        DICT_TEST(test_dict_incr_absent_key_starts_at_zero_of_the_deltas_kind),
        DICT_TEST(test_dict_incr_adds_ints),
        DICT_TEST(test_dict_incr_int_and_double_give_a_double),
        DICT_TEST(test_dict_incr_non_number_is_ebadvalue_and_changes_nothing),
        DICT_TEST(test_dict_incr_overflow_is_eoverflow_and_changes_nothing),
        DICT_TEST(test_dict_every_value_kind_round_trips),
        DICT_TEST(test_dict_keys_may_be_utf8_and_up_to_65535_bytes),
        DICT_TEST(test_dict_rejects_null_arguments),
        DICT_TEST(test_dict_rejects_an_empty_key),
        DICT_TEST(test_dict_rejects_malformed_values),
    };
    return SMT_MAIN("dict", tests);
}
