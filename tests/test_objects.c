/* test_objects.c - what every object type shares: named get-or-create across
 * clients, type checks on open and attach, anonymous objects handed to a
 * forked child by token and freed when the last holder lets go, references
 * held by containers; plus the sm_value helpers, the status names and
 * sm_client_open's failures.
 *
 * After every operation the state is read back and compared exactly. */
#include "smt.h"

#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- helpers */

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A value that must survive a failed call untouched. */
#define SENTINEL sm_value_int(-424242)

/* ------------------------------------------------- every type, one switch */

enum kind { K_DICT, K_LIST, K_VAR, K_ARRAY, K_NS, K_COUNT };
static const char *const kind_names[K_COUNT] = {"dict", "list", "var", "array", "ns"};

/* kind_open opens name as kind k on c (an array is 'i' of length 3); *p is
 * written whatever the status, with what the call left in its output. */
static int
kind_open(sm_client *c, int k, const char *name, void **p)
{
    int rv = SM_EINTERNAL;
    switch (k) {
    case K_DICT: {
        sm_dict *o = NULL;
        rv = sm_dict_open(c, name, &o);
        *p = o;
        break;
    }
    case K_LIST: {
        sm_list *o = NULL;
        rv = sm_list_open(c, name, &o);
        *p = o;
        break;
    }
    case K_VAR: {
        sm_var *o = NULL;
        rv = sm_var_open(c, name, NULL, &o);
        *p = o;
        break;
    }
    case K_ARRAY: {
        sm_array *o = NULL;
        rv = sm_array_open(c, name, 'i', NULL, 3, &o);
        *p = o;
        break;
    }
    case K_NS: {
        sm_ns *o = NULL;
        rv = sm_ns_open(c, name, &o);
        *p = o;
        break;
    }
    }
    return rv;
}

static int
kind_new(sm_client *c, int k, void **p)
{
    int rv = SM_EINTERNAL;
    switch (k) {
    case K_DICT: {
        sm_dict *o = NULL;
        rv = sm_dict_new(c, &o);
        *p = o;
        break;
    }
    case K_LIST: {
        sm_list *o = NULL;
        rv = sm_list_new(c, &o);
        *p = o;
        break;
    }
    case K_VAR: {
        sm_var *o = NULL;
        rv = sm_var_new(c, NULL, &o);
        *p = o;
        break;
    }
    case K_ARRAY: {
        sm_array *o = NULL;
        rv = sm_array_new(c, 'i', NULL, 3, &o);
        *p = o;
        break;
    }
    case K_NS: {
        sm_ns *o = NULL;
        rv = sm_ns_new(c, &o);
        *p = o;
        break;
    }
    }
    return rv;
}

static int
kind_attach(sm_client *c, int k, const char *token, void **p)
{
    int rv = SM_EINTERNAL;
    switch (k) {
    case K_DICT: {
        sm_dict *o = NULL;
        rv = sm_dict_attach(c, token, &o);
        *p = o;
        break;
    }
    case K_LIST: {
        sm_list *o = NULL;
        rv = sm_list_attach(c, token, &o);
        *p = o;
        break;
    }
    case K_VAR: {
        sm_var *o = NULL;
        rv = sm_var_attach(c, token, &o);
        *p = o;
        break;
    }
    case K_ARRAY: {
        sm_array *o = NULL;
        rv = sm_array_attach(c, token, &o);
        *p = o;
        break;
    }
    case K_NS: {
        sm_ns *o = NULL;
        rv = sm_ns_attach(c, token, &o);
        *p = o;
        break;
    }
    }
    return rv;
}

static const char *
kind_token(int k, void *p)
{
    switch (k) {
    case K_DICT:
        return sm_dict_token(p);
    case K_LIST:
        return sm_list_token(p);
    case K_VAR:
        return sm_var_token(p);
    case K_ARRAY:
        return sm_array_token(p);
    case K_NS:
        return sm_ns_token(p);
    }
    return NULL;
}

static int
kind_close(int k, void *p)
{
    switch (k) {
    case K_DICT:
        return sm_dict_close(p);
    case K_LIST:
        return sm_list_close(p);
    case K_VAR:
        return sm_var_close(p);
    case K_ARRAY:
        return sm_array_close(p);
    case K_NS:
        return sm_ns_close(p);
    }
    return SM_EINTERNAL;
}

/* list_check reads all of l back and compares it with want[0..n-1]. */
static void
list_check(sm_list *l, const sm_value *want, size_t n, const char *file, int line)
{
    sm_value *vals = NULL;
    size_t got = 12345;
    smt_assert_status(sm_list_slice(l, 0, SM_END, &vals, &got), SM_OK, "sm_list_slice", file, line);
    if (got != n) {
        print_error("list has %zu items, wanted %zu\n", got, n);
        sm_values_free(vals, got);
        _fail(file, line);
    }
    for (size_t i = 0; i < n; i++) {
        if (!smt_value_matches(&vals[i], &want[i])) {
            char g[256], w[256];
            print_error("item %zu is %s, wanted %s\n", i, smt_value_text(&vals[i], g, sizeof(g)),
                        smt_value_text(&want[i], w, sizeof(w)));
            sm_values_free(vals, got);
            _fail(file, line);
        }
    }
    sm_values_free(vals, got);
}
#define assert_list(l, ...)                                                                        \
    list_check((l), (const sm_value[]){__VA_ARGS__}, COUNT(((const sm_value[]){__VA_ARGS__})),     \
               __FILE__, __LINE__)

/* dict_check reads the keys of d back, in order, and each value. */
static void
dict_check(sm_dict *d, const char *const *keys, const sm_value *vals, size_t n, const char *file,
           int line)
{
    char **gk = NULL;
    sm_value *gv = NULL;
    size_t got = 12345;
    smt_assert_status(sm_dict_items(d, &gk, &gv, &got), SM_OK, "sm_dict_items", file, line);
    bool ok = got == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = strcmp(gk[i], keys[i]) == 0 && smt_value_matches(&gv[i], &vals[i]);
    if (!ok) {
        print_error("dict holds %zu keys, wanted %zu:\n", got, n);
        for (size_t i = 0; i < got; i++) {
            char g[256];
            print_error("  got  %s = %s\n", gk[i], smt_value_text(&gv[i], g, sizeof(g)));
        }
        for (size_t i = 0; i < n; i++) {
            char w[256];
            print_error("  want %s = %s\n", keys[i], smt_value_text(&vals[i], w, sizeof(w)));
        }
    }
    sm_strings_free(gk, got);
    sm_values_free(gv, got);
    if (!ok)
        _fail(file, line);
}

static double
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------- named and typed */

static void
test_objects_named_objects_are_found_from_a_second_client(void **state)
{
    (void)state;
    sm_client *c2 = NULL;
    char dname[256], lname[256], vname[256], aname[256], nname[256];
    sm_dict *d1 = NULL, *d2 = NULL;
    sm_list *l1 = NULL, *l2 = NULL;
    sm_var *v1 = NULL, *v2 = NULL;
    sm_array *a1 = NULL, *a2 = NULL;
    sm_ns *n1 = NULL, *n2 = NULL;
    sm_value one = sm_value_int(1), two = sm_value_str("two"), five = sm_value_int(5);
    sm_value ninety = sm_value_int(90), out = SENTINEL;
    const sm_value arr_init[] = {sm_value_double(1.5), sm_value_double(2.5)};

    snprintf(dname, sizeof(dname), "%s", smt_name("shared.dict"));
    snprintf(lname, sizeof(lname), "%s", smt_name("shared.list"));
    snprintf(vname, sizeof(vname), "%s", smt_name("shared.var"));
    snprintf(aname, sizeof(aname), "%s", smt_name("shared.array"));
    snprintf(nname, sizeof(nname), "%s", smt_name("shared.ns"));

    assert_sm_ok(sm_client_open(&c2, smt_url(), NULL));
    assert_non_null(c2);

    /* dict */
    assert_sm_ok(sm_dict_open(smt_client(), dname, &d1));
    assert_sm_ok(sm_dict_set(d1, "k", &one));
    assert_sm_ok(sm_dict_open(c2, dname, &d2));
    assert_string_equal(sm_dict_token(d1), sm_dict_token(d2));
    assert_sm_ok(sm_dict_set(d2, "k2", &two));
    dict_check(d1, (const char *const[]){"k", "k2"}, (const sm_value[]){one, two}, 2, __FILE__,
               __LINE__);

    /* list */
    assert_sm_ok(sm_list_open(smt_client(), lname, &l1));
    assert_sm_ok(sm_list_append(l1, &one));
    assert_sm_ok(sm_list_open(c2, lname, &l2));
    assert_list(l2, sm_value_int(1));
    assert_sm_ok(sm_list_append(l2, &two));
    assert_list(l1, sm_value_int(1), sm_value_str("two"));

    /* var: the second open's init is ignored */
    assert_sm_ok(sm_var_open(smt_client(), vname, &five, &v1));
    assert_sm_ok(sm_var_open(c2, vname, &ninety, &v2));
    assert_sm_ok(sm_var_get(v2, &out));
    smt_assert_value(&out, sm_value_int(5));
    assert_sm_ok(sm_var_set(v2, &two));
    assert_sm_ok(sm_var_get(v1, &out));
    smt_assert_value(&out, sm_value_str("two"));
    sm_value_clear(&out);

    /* array */
    assert_sm_ok(sm_array_open(smt_client(), aname, 'd', arr_init, 2, &a1));
    assert_sm_ok(sm_array_open(c2, aname, 'd', NULL, 2, &a2));
    assert_sm_ok(sm_array_get(a2, 1, &out));
    smt_assert_value(&out, sm_value_double(2.5));
    assert_sm_ok(sm_array_set(a2, 0, &five));
    assert_sm_ok(sm_array_get(a1, 0, &out));
    smt_assert_value(&out, sm_value_double(5.0));

    /* namespace */
    assert_sm_ok(sm_ns_open(smt_client(), nname, &n1));
    assert_sm_ok(sm_ns_set(n1, "attr", &two));
    assert_sm_ok(sm_ns_open(c2, nname, &n2));
    assert_sm_ok(sm_ns_get(n2, "attr", &out));
    smt_assert_value(&out, sm_value_str("two"));
    sm_value_clear(&out);

    sm_dict_close(d2);
    sm_list_close(l2);
    sm_var_close(v2);
    sm_array_close(a2);
    sm_ns_close(n2);
    sm_client_close(c2);

    /* named objects outlive every proxy */
    sm_dict_close(d1);
    sm_list_close(l1);
    sm_var_close(v1);
    sm_array_close(a1);
    sm_ns_close(n1);
    assert_sm_ok(sm_var_open(smt_client(), vname, NULL, &v1));
    assert_sm_ok(sm_var_get(v1, &out));
    smt_assert_value(&out, sm_value_str("two"));
    sm_value_clear(&out);
    sm_var_close(v1);
    assert_sm_ok(sm_list_open(smt_client(), lname, &l1));
    assert_list(l1, sm_value_int(1), sm_value_str("two"));
    sm_list_close(l1);
}

static void
test_objects_opening_a_name_as_another_type_is_ewrongtype(void **state)
{
    (void)state;
    char names[K_COUNT][256];
    void *objs[K_COUNT];

    for (int k = 0; k < K_COUNT; k++) {
        snprintf(names[k], sizeof(names[k]), "%s", smt_name(kind_names[k]));
        assert_sm_ok(kind_open(smt_client(), k, names[k], &objs[k]));
    }
    for (int k = 0; k < K_COUNT; k++) {
        for (int other = 0; other < K_COUNT; other++) {
            void *p = NULL;
            int rv = kind_open(smt_client(), other, names[k], &p);
            if (other == k) {
                assert_sm_ok(rv);
                kind_close(other, p);
                continue;
            }
            if (rv != SM_EWRONGTYPE)
                print_error("opening %s \"%s\" as %s\n", kind_names[k], names[k],
                            kind_names[other]);
            assert_sm_status(rv, SM_EWRONGTYPE);
            assert_null(p);
        }
    }
    /* an array name opened as an array of another typecode is also a mismatch,
     * and the objects are still what they were */
    sm_array *a = NULL;
    assert_sm_status(sm_array_open(smt_client(), names[K_ARRAY], 'd', NULL, 3, &a), SM_EWRONGTYPE);
    assert_null(a);
    size_t len = 99;
    assert_sm_ok(sm_list_len(objs[K_LIST], &len));
    assert_int_equal(len, 0);
    assert_sm_ok(sm_dict_len(objs[K_DICT], &len));
    assert_int_equal(len, 0);
    assert_int_equal(sm_array_typecode(objs[K_ARRAY]), 'i');
    for (int k = 0; k < K_COUNT; k++)
        kind_close(k, objs[k]);
}

static void
test_objects_names_must_be_1_to_255_bytes(void **state)
{
    (void)state;
    char longest[256], too_long[257];
    const char *prefix = smt_name("long");
    size_t plen = strlen(prefix);

    memset(longest, 'x', sizeof(longest) - 1);
    memcpy(longest, prefix, plen);
    longest[sizeof(longest) - 1] = '\0';
    memset(too_long, 'y', sizeof(too_long) - 1);
    memcpy(too_long, prefix, plen);
    too_long[sizeof(too_long) - 1] = '\0';

    for (int k = 0; k < K_COUNT; k++) {
        void *p = NULL;
        int rv;
        if ((rv = kind_open(smt_client(), k, "", &p)) != SM_EINVAL)
            print_error("%s with an empty name\n", kind_names[k]);
        assert_sm_status(rv, SM_EINVAL);
        assert_null(p);
        if ((rv = kind_open(smt_client(), k, NULL, &p)) != SM_EINVAL)
            print_error("%s with a NULL name\n", kind_names[k]);
        assert_sm_status(rv, SM_EINVAL);
        assert_null(p);
        if ((rv = kind_open(smt_client(), k, too_long, &p)) != SM_EINVAL)
            print_error("%s with a 256-byte name\n", kind_names[k]);
        assert_sm_status(rv, SM_EINVAL);
        assert_null(p);
    }
    /* 255 bytes is fine, and finds the same object again */
    sm_var *v = NULL, *w = NULL;
    sm_value seven = sm_value_int(7), out = SENTINEL;
    assert_sm_ok(sm_var_open(smt_client(), longest, &seven, &v));
    assert_sm_ok(sm_var_open(smt_client(), longest, NULL, &w));
    assert_sm_ok(sm_var_get(w, &out));
    smt_assert_value(&out, sm_value_int(7));
    sm_var_close(w);
    sm_var_close(v);
}

static void
test_objects_attach_with_a_bad_token_is_einval(void **state)
{
    (void)state;
    char junk[300];
    memset(junk, 'z', sizeof(junk) - 1);
    junk[sizeof(junk) - 1] = '\0';
    const char *const bad[] = {"", "not a token", "x", "dict", "0", "\x01\x02", junk, NULL};

    for (int k = 0; k < K_COUNT; k++) {
        for (size_t i = 0; i < COUNT(bad); i++) {
            void *p = NULL;
            int rv = kind_attach(smt_client(), k, bad[i], &p);
            if (rv != SM_EINVAL)
                print_error("%s attach of token %zu \"%.20s\"\n", kind_names[k], i,
                            bad[i] ? bad[i] : "(NULL)");
            assert_sm_status(rv, SM_EINVAL);
            assert_null(p);
        }
    }
}

static void
test_objects_attach_with_a_token_of_another_type_is_ewrongtype(void **state)
{
    (void)state;
    void *objs[K_COUNT];

    for (int k = 0; k < K_COUNT; k++)
        assert_sm_ok(kind_new(smt_client(), k, &objs[k]));
    for (int k = 0; k < K_COUNT; k++) {
        const char *token = kind_token(k, objs[k]);
        assert_non_null(token);
        for (int other = 0; other < K_COUNT; other++) {
            void *p = NULL;
            int rv = kind_attach(smt_client(), other, token, &p);
            if (other == k) {
                assert_sm_ok(rv);
                assert_string_equal(kind_token(other, p), token);
                kind_close(other, p);
                continue;
            }
            if (rv != SM_EWRONGTYPE)
                print_error("attaching a %s token as %s\n", kind_names[k], kind_names[other]);
            assert_sm_status(rv, SM_EWRONGTYPE);
            assert_null(p);
        }
    }
    /* tokens of distinct objects differ */
    for (int k = 0; k < K_COUNT; k++)
        for (int other = k + 1; other < K_COUNT; other++)
            assert_string_not_equal(kind_token(k, objs[k]), kind_token(other, objs[other]));
    for (int k = 0; k < K_COUNT; k++)
        kind_close(k, objs[k]);
}

/* ------------------------------------------------- anonymous and counted */

static void
test_objects_anonymous_object_is_freed_when_its_last_proxy_closes(void **state)
{
    (void)state;
    for (int k = 0; k < K_COUNT; k++) {
        void *a = NULL, *b = NULL, *p = NULL;
        char token[512];

        assert_sm_ok(kind_new(smt_client(), k, &a));
        snprintf(token, sizeof(token), "%s", kind_token(k, a));
        assert_sm_ok(kind_attach(smt_client(), k, token, &b));
        assert_sm_ok(kind_close(k, a));
        /* still held by b */
        assert_sm_ok(kind_attach(smt_client(), k, token, &p));
        assert_sm_ok(kind_close(k, p));
        assert_sm_ok(kind_close(k, b));
        int rv = kind_attach(smt_client(), k, token, &p);
        if (rv != SM_ENOOBJ)
            print_error("%s after its last close\n", kind_names[k]);
        assert_sm_status(rv, SM_ENOOBJ);
        assert_null(p);
    }
}

/* child_write runs in a child process (smt_spawn): its own client, the
 * dict by token,
 * checks what the parent wrote, writes "child" = 42, closes. Returns 0 or
 * the failing step. */
static int
child_write(const char *url, const char *token)
{
    sm_client *c = NULL;
    sm_dict *d = NULL;
    sm_value out = sm_value_nil(), v = sm_value_int(42);
    int step = 0, rv;

    if ((rv = sm_client_open(&c, url, NULL)) != SM_OK) {
        step = 1;
        goto out;
    }
    if ((rv = sm_dict_attach(c, token, &d)) != SM_OK) {
        step = 2;
        goto out;
    }
    if ((rv = sm_dict_get(d, "parent", &out)) != SM_OK || out.type != SM_STR ||
        strcmp(out.u.buf.ptr, "hello") != 0) {
        step = 3;
        goto out;
    }
    if ((rv = sm_dict_set(d, "child", &v)) != SM_OK) {
        step = 4;
        goto out;
    }
    rv = sm_dict_close(d);
    d = NULL;
    if (rv != SM_OK) {
        step = 5;
        goto out;
    }
out:
    if (step != 0)
        fprintf(stderr, "child: step %d failed: %s %s\n", step, sm_errname(rv), sm_errdetail());
    sm_value_clear(&out);
    sm_dict_close(d);
    sm_client_close(c);
    return step;
}

/* child_write_main is the child's entry: argv is NAME URL TOKEN. */
static int
child_write_main(int argc, char **argv)
{
    alarm(60); /* a hung child must not hang the test */
    return argc == 3 ? child_write(argv[1], argv[2]) : 99;
}

static const smt_child children[] = {{"write", child_write_main}};

/* parent_and_child: an anonymous dict handed to a child by token; the child
 * attaches, writes and closes; the parent reads the write and closes; then
 * the dict is gone. */
static void
parent_and_child(void)
{
    sm_dict *d = NULL, *again = NULL;
    char url[512], token[512];
    sm_value hello = sm_value_str("hello");

    assert_sm_ok(sm_dict_new(smt_client(), &d));
    assert_sm_ok(sm_dict_set(d, "parent", &hello));
    snprintf(url, sizeof(url), "%s", smt_url());
    snprintf(token, sizeof(token), "%s", sm_dict_token(d));

    smt_wait_child(smt_spawn("write", url, token, NULL));

    dict_check(d, (const char *const[]){"parent", "child"},
               (const sm_value[]){sm_value_str("hello"), sm_value_int(42)}, 2, __FILE__, __LINE__);
    assert_sm_ok(sm_dict_close(d));
    assert_sm_status(sm_dict_attach(smt_client(), token, &again), SM_ENOOBJ);
    assert_null(again);
}

static void
test_objects_anonymous_object_passed_to_a_child_lives_until_both_close(void **state)
{
    (void)state;
    parent_and_child();
}

static void
test_objects_reference_in_a_dict_keeps_an_anonymous_list_alive(void **state)
{
    (void)state;
    sm_dict *d = NULL;
    sm_list *l = NULL;
    sm_value one = sm_value_int(1), two = sm_value_str("two"), got = SENTINEL;
    char token[512];

    assert_sm_ok(sm_dict_open(smt_client(), smt_name("holder"), &d));
    assert_sm_ok(sm_list_new(smt_client(), &l));
    assert_sm_ok(sm_list_append(l, &one));
    assert_sm_ok(sm_list_append(l, &two));
    snprintf(token, sizeof(token), "%s", sm_list_token(l));

    sm_value ref = sm_value_ref(token);
    assert_sm_ok(sm_dict_set(d, "list", &ref));
    assert_sm_ok(sm_list_close(l));
    l = NULL;

    /* the dict's reference keeps the list */
    assert_sm_ok(sm_dict_get(d, "list", &got));
    smt_assert_value(&got, sm_value_ref(token));
    assert_sm_ok(sm_list_attach(smt_client(), got.u.buf.ptr, &l));
    sm_value_clear(&got);
    assert_list(l, sm_value_int(1), sm_value_str("two"));
    assert_sm_ok(sm_list_append(l, &one));
    assert_sm_ok(sm_list_close(l));
    l = NULL;
    assert_sm_ok(sm_list_attach(smt_client(), token, &l));
    assert_list(l, sm_value_int(1), sm_value_str("two"), sm_value_int(1));
    assert_sm_ok(sm_list_close(l));
    l = NULL;

    /* deleting the key drops the last reference */
    assert_sm_ok(sm_dict_del(d, "list"));
    assert_sm_status(sm_list_attach(smt_client(), token, &l), SM_ENOOBJ);
    assert_null(l);
    /* and a reference to a gone object cannot be stored */
    assert_sm_status(sm_dict_set(d, "list", &ref), SM_ENOOBJ);
    size_t n = 99;
    assert_sm_ok(sm_dict_len(d, &n));
    assert_int_equal(n, 0);
    sm_dict_close(d);
}

static void
test_objects_reference_in_a_var_is_dropped_when_overwritten(void **state)
{
    (void)state;
    sm_var *v = NULL;
    sm_ns *ns = NULL, *again = NULL;
    sm_value one = sm_value_int(1), nil = sm_value_nil(), got = SENTINEL;
    char token[512];

    assert_sm_ok(sm_ns_new(smt_client(), &ns));
    assert_sm_ok(sm_ns_set(ns, "a", &one));
    snprintf(token, sizeof(token), "%s", sm_ns_token(ns));
    sm_value ref = sm_value_ref(token);
    assert_sm_ok(sm_var_open(smt_client(), smt_name("holder"), &ref, &v));
    assert_sm_ok(sm_ns_close(ns));

    assert_sm_ok(sm_var_get(v, &got));
    smt_assert_value(&got, sm_value_ref(token));
    sm_value_clear(&got);
    assert_sm_ok(sm_ns_attach(smt_client(), token, &again));
    assert_sm_ok(sm_ns_get(again, "a", &got));
    smt_assert_value(&got, sm_value_int(1));
    assert_sm_ok(sm_ns_close(again));
    again = NULL;

    assert_sm_ok(sm_var_set(v, &nil));
    assert_sm_status(sm_ns_attach(smt_client(), token, &again), SM_ENOOBJ);
    assert_null(again);
    sm_var_close(v);
}

/* target_alive says whether an anonymous list can still be attached by
 * token (a fresh attach, closed at once). */
static bool
target_alive(const char *token)
{
    sm_list *l = NULL;
    int rv = sm_list_attach(smt_client(), token, &l);
    if (rv == SM_OK) {
        sm_list_close(l);
        return true;
    }
    assert_sm_status(rv, SM_ENOOBJ);
    assert_null(l);
    return false;
}

/* new_target makes an anonymous list, copies its token into token and
 * returns the proxy; once a container holds a reference the caller closes
 * it, and the list then lives only as long as references do. */
static sm_list *
new_target(char *token, size_t size)
{
    sm_list *l = NULL;
    assert_sm_ok(sm_list_new(smt_client(), &l));
    snprintf(token, size, "%s", sm_list_token(l));
    return l;
}

static void
test_objects_every_container_holds_a_reference_until_it_lets_go(void **state)
{
    (void)state;
    char token[512];
    sm_value zero = sm_value_int(0);
    sm_dict *d = NULL;
    sm_list *l = NULL;
    sm_ns *ns = NULL;

    assert_sm_ok(sm_dict_new(smt_client(), &d));
    assert_sm_ok(sm_list_new(smt_client(), &l));
    assert_sm_ok(sm_ns_new(smt_client(), &ns));

    /* dict: overwriting the key lets go */
    sm_list *t = new_target(token, sizeof(token));
    sm_value ref = sm_value_ref(token);
    assert_sm_ok(sm_dict_set(d, "k", &ref));
    sm_list_close(t);
    assert_true(target_alive(token));
    assert_sm_ok(sm_dict_set(d, "k", &zero));
    assert_false(target_alive(token));

    /* dict: two keys, two references; clear lets go of both */
    t = new_target(token, sizeof(token));
    ref = sm_value_ref(token);
    assert_sm_ok(sm_dict_set(d, "a", &ref));
    assert_sm_ok(sm_dict_set(d, "b", &ref));
    sm_list_close(t);
    assert_sm_ok(sm_dict_del(d, "a"));
    assert_true(target_alive(token));
    assert_sm_ok(sm_dict_clear(d));
    assert_false(target_alive(token));

    /* list: clear lets go */
    t = new_target(token, sizeof(token));
    ref = sm_value_ref(token);
    assert_sm_ok(sm_list_append(l, &ref));
    assert_sm_ok(sm_list_append(l, &ref));
    sm_list_close(t);
    assert_sm_ok(sm_list_set(l, 0, &zero));
    assert_true(target_alive(token));
    assert_sm_ok(sm_list_clear(l));
    assert_false(target_alive(token));

    /* namespace: del lets go */
    t = new_target(token, sizeof(token));
    ref = sm_value_ref(token);
    assert_sm_ok(sm_ns_set(ns, "attr", &ref));
    sm_list_close(t);
    assert_true(target_alive(token));
    assert_sm_ok(sm_ns_del(ns, "attr"));
    assert_false(target_alive(token));

    /* a container freed lets go of what it held */
    t = new_target(token, sizeof(token));
    ref = sm_value_ref(token);
    assert_sm_ok(sm_ns_set(ns, "attr", &ref));
    sm_list_close(t);
    assert_true(target_alive(token));
    sm_ns_close(ns);
    assert_false(target_alive(token));

    sm_dict_close(d);
    sm_list_close(l);
}

static void
test_objects_references_not_stored_are_not_counted(void **state)
{
    (void)state;
    char name[256], token[512];
    sm_var *v = NULL, *w = NULL;
    sm_value one = sm_value_int(1), two = sm_value_int(2), out = SENTINEL;
    bool swapped = true;

    snprintf(name, sizeof(name), "%s", smt_name("holder"));
    assert_sm_ok(sm_var_open(smt_client(), name, &one, &v));

    /* open of an existing name ignores an init that is a reference */
    sm_list *t = new_target(token, sizeof(token));
    sm_value ref = sm_value_ref(token);
    assert_sm_ok(sm_var_open(smt_client(), name, &ref, &w));
    sm_var_close(w);
    sm_list_close(t);
    assert_false(target_alive(token));
    assert_sm_ok(sm_var_get(v, &out));
    smt_assert_value(&out, sm_value_int(1));

    /* a cas that does not swap stores nothing */
    t = new_target(token, sizeof(token));
    ref = sm_value_ref(token);
    assert_sm_ok(sm_var_cas(v, &two, &ref, &swapped, NULL));
    assert_false(swapped);
    sm_list_close(t);
    assert_false(target_alive(token));

    /* one that swaps does, until the value is replaced */
    t = new_target(token, sizeof(token));
    ref = sm_value_ref(token);
    assert_sm_ok(sm_var_cas(v, &one, &ref, &swapped, NULL));
    assert_true(swapped);
    sm_list_close(t);
    assert_true(target_alive(token));
    assert_sm_ok(sm_var_set(v, &two));
    assert_false(target_alive(token));
    sm_var_close(v);
}

/* ---------------------------------------------------------------- values */

static void
test_value_constructors_fill_the_struct_and_borrow(void **state)
{
    (void)state;
    static const char text[] = "text";
    static const unsigned char raw[] = {0, 1, 2};
    sm_value v;

    v = sm_value_nil();
    assert_int_equal(v.type, SM_NIL);
    v = sm_value_bool(true);
    assert_int_equal(v.type, SM_BOOL);
    assert_true(v.u.b);
    v = sm_value_int(INT64_MIN);
    assert_int_equal(v.type, SM_INT);
    assert_true(v.u.i == INT64_MIN);
    v = sm_value_double(-0.5);
    assert_int_equal(v.type, SM_DOUBLE);
    assert_true(v.u.d == -0.5);
    v = sm_value_str(text);
    assert_int_equal(v.type, SM_STR);
    assert_ptr_equal(v.u.buf.ptr, text);
    assert_int_equal(v.u.buf.len, 4);
    assert_false(v.u.buf.owned);
    v = sm_value_bytes(raw, sizeof(raw));
    assert_int_equal(v.type, SM_BYTES);
    assert_ptr_equal(v.u.buf.ptr, raw);
    assert_int_equal(v.u.buf.len, 3);
    assert_false(v.u.buf.owned);
    v = sm_value_ref(text);
    assert_int_equal(v.type, SM_REF);
    assert_ptr_equal(v.u.buf.ptr, text);
    assert_int_equal(v.u.buf.len, 4);
    assert_false(v.u.buf.owned);
    /* the size is part of the ABI */
    assert_int_equal(sizeof(v.u), 4 * sizeof(uint64_t));
}

static void
test_value_copy_makes_an_owned_deep_copy(void **state)
{
    (void)state;
    char text[] = "copy me";
    unsigned char raw[] = {0, 'a', 0, 0xff};
    char token[] = "a-token";
    const sm_value scalars[] = {sm_value_nil(), sm_value_bool(false), sm_value_int(-3),
                                sm_value_double(6.25)};

    for (size_t i = 0; i < COUNT(scalars); i++) {
        sm_value dst = sm_value_nil();
        assert_sm_ok(sm_value_copy(&dst, &scalars[i]));
        smt_assert_value(&dst, scalars[i]);
        sm_value_clear(&dst);
        assert_int_equal(dst.type, SM_NIL);
    }

    sm_value src = sm_value_str(text), dst = sm_value_nil(), dst2 = sm_value_nil();
    assert_sm_ok(sm_value_copy(&dst, &src));
    assert_true(dst.u.buf.owned);
    assert_ptr_not_equal(dst.u.buf.ptr, text);
    memcpy(text, "changed", sizeof(text));
    smt_assert_value(&dst, sm_value_str("copy me"));
    /* a copy of an owned value is another owned copy */
    assert_sm_ok(sm_value_copy(&dst2, &dst));
    assert_ptr_not_equal(dst2.u.buf.ptr, dst.u.buf.ptr);
    sm_value_clear(&dst);
    assert_int_equal(dst.type, SM_NIL);
    smt_assert_value(&dst2, sm_value_str("copy me"));
    sm_value_clear(&dst2);

    src = sm_value_bytes(raw, sizeof(raw));
    assert_sm_ok(sm_value_copy(&dst, &src));
    assert_true(dst.u.buf.owned);
    assert_ptr_not_equal(dst.u.buf.ptr, raw);
    raw[1] = 'b';
    smt_assert_value(&dst, sm_value_bytes("\0a\0\xff", 4));
    sm_value_clear(&dst);

    src = sm_value_bytes(raw, 0);
    assert_sm_ok(sm_value_copy(&dst, &src));
    assert_int_equal(dst.type, SM_BYTES);
    assert_int_equal(dst.u.buf.len, 0);
    sm_value_clear(&dst);
    assert_int_equal(dst.type, SM_NIL);

    src = sm_value_str("");
    assert_sm_ok(sm_value_copy(&dst, &src));
    smt_assert_value(&dst, sm_value_str(""));
    sm_value_clear(&dst);

    src = sm_value_ref(token);
    assert_sm_ok(sm_value_copy(&dst, &src));
    assert_true(dst.u.buf.owned);
    assert_ptr_not_equal(dst.u.buf.ptr, token);
    token[0] = 'A';
    smt_assert_value(&dst, sm_value_ref("a-token"));
    sm_value_clear(&dst);
    assert_int_equal(dst.type, SM_NIL);
}

static void
test_value_copy_bad_arguments_are_einval_and_leave_dst_unchanged(void **state)
{
    (void)state;
    sm_value src = sm_value_int(1), dst = SENTINEL, bad = sm_value_int(1);

    assert_sm_status(sm_value_copy(NULL, &src), SM_EINVAL);
    assert_sm_status(sm_value_copy(&dst, NULL), SM_EINVAL);
    smt_assert_value(&dst, SENTINEL);
    bad.type = (sm_type)99;
    assert_sm_status(sm_value_copy(&dst, &bad), SM_EINVAL);
    smt_assert_value(&dst, SENTINEL);
}

static void
test_value_clear_frees_owned_and_leaves_borrowed_alone(void **state)
{
    (void)state;
    char stack_text[] = "on the stack";
    unsigned char stack_raw[] = {9, 8, 7};
    sm_value v;

    /* Freeing these would abort the test: they are not heap memory. */
    v = sm_value_str(stack_text);
    sm_value_clear(&v);
    assert_int_equal(v.type, SM_NIL);
    assert_string_equal(stack_text, "on the stack");
    v = sm_value_bytes(stack_raw, sizeof(stack_raw));
    sm_value_clear(&v);
    assert_int_equal(v.type, SM_NIL);
    assert_int_equal(stack_raw[0], 9);
    v = sm_value_ref(stack_text);
    sm_value_clear(&v);
    assert_int_equal(v.type, SM_NIL);

    /* Heap memory marked borrowed stays the caller's: we free it ourselves,
     * which would be a double free had clear freed it. */
    char *heap = strdup("heap, borrowed");
    assert_non_null(heap);
    v = sm_value_str(heap);
    sm_value_clear(&v);
    assert_int_equal(v.type, SM_NIL);
    assert_string_equal(heap, "heap, borrowed");
    free(heap);

    /* scalars just become nil */
    v = sm_value_double(1.0);
    sm_value_clear(&v);
    assert_int_equal(v.type, SM_NIL);
    /* clearing twice is harmless */
    sm_value src = sm_value_str("owned");
    assert_sm_ok(sm_value_copy(&v, &src));
    sm_value_clear(&v);
    sm_value_clear(&v);
    assert_int_equal(v.type, SM_NIL);
}

static void
test_value_equal_compares_kind_and_content(void **state)
{
    (void)state;
    char abc1[] = "abc", abc2[] = "abc";
    static const unsigned char nul1[] = {'a', 0, 'b'}, nul2[] = {'a', 0, 'b'},
                               nul3[] = {'a', 0, 'c'};

    struct {
        sm_value a, b;
        bool equal;
    } cases[] = {
        {sm_value_nil(), sm_value_nil(), true},
        {sm_value_nil(), sm_value_int(0), false},
        {sm_value_nil(), sm_value_bool(false), false},
        {sm_value_bool(true), sm_value_bool(true), true},
        {sm_value_bool(true), sm_value_bool(false), false},
        {sm_value_bool(true), sm_value_int(1), false},
        {sm_value_int(2), sm_value_int(2), true},
        {sm_value_int(2), sm_value_int(3), false},
        {sm_value_int(1), sm_value_double(1.0), true},
        {sm_value_double(1.0), sm_value_int(1), true},
        {sm_value_int(-7), sm_value_double(-7.0), true},
        {sm_value_int(1), sm_value_double(1.5), false},
        {sm_value_double(0.0), sm_value_double(-0.0), true},
        {sm_value_double(0.5), sm_value_double(0.5), true},
        {sm_value_double(0.1 + 0.2), sm_value_double(0.3), false},
        /* exact, as Python: 2^63-1 is not the double 2^63, 2^53+1 not 2^53 */
        {sm_value_int(INT64_MAX), sm_value_double(9223372036854775808.0), false},
        {sm_value_int(((int64_t)1 << 53) + 1), sm_value_double(9007199254740992.0), false},
        {sm_value_int((int64_t)1 << 53), sm_value_double(9007199254740992.0), true},
        {sm_value_str(abc1), sm_value_str(abc2), true},
        {sm_value_str("abc"), sm_value_str("abd"), false},
        {sm_value_str("ab"), sm_value_str("abc"), false},
        {sm_value_str(""), sm_value_str(""), true},
        {sm_value_str("abc"), sm_value_bytes("abc", 3), false},
        {sm_value_bytes(nul1, 3), sm_value_bytes(nul2, 3), true},
        {sm_value_bytes(nul1, 3), sm_value_bytes(nul3, 3), false},
        {sm_value_bytes(nul1, 3), sm_value_bytes(nul1, 2), false},
        {sm_value_ref("tok"), sm_value_ref("tok"), true},
        {sm_value_ref("tok"), sm_value_str("tok"), false},
        {sm_value_int(1), sm_value_str("1"), false},
    };

    for (size_t i = 0; i < COUNT(cases); i++) {
        bool ab = sm_value_equal(&cases[i].a, &cases[i].b);
        bool ba = sm_value_equal(&cases[i].b, &cases[i].a);
        if (ab != cases[i].equal || ba != cases[i].equal) {
            char a[256], b[256];
            print_error("sm_value_equal(%s, %s) is %d/%d, wanted %d\n",
                        smt_value_text(&cases[i].a, a, sizeof(a)),
                        smt_value_text(&cases[i].b, b, sizeof(b)), ab, ba, cases[i].equal);
            fail();
        }
    }

    /* an owned copy equals its borrowed source */
    sm_value src = sm_value_str(abc1), copy = sm_value_nil();
    assert_sm_ok(sm_value_copy(&copy, &src));
    assert_true(sm_value_equal(&copy, &src));
    sm_value_clear(&copy);
}

static void
test_value_free_functions_and_closes_accept_null(void **state)
{
    (void)state;
    sm_value_clear(NULL);
    sm_values_free(NULL, 0);
    sm_strings_free(NULL, 0);
    sm_dict_close(NULL);
    sm_list_close(NULL);
    sm_var_close(NULL);
    sm_array_close(NULL);
    sm_ns_close(NULL);
    sm_client_close(NULL);
    assert_non_null(sm_errdetail());
}

/* -------------------------------------------------------------- statuses */

static void
test_status_every_status_has_its_name_and_text(void **state)
{
    (void)state;
    static const struct {
        int num;
        const char *name, *text;
    } all[] = {
#define SMT_X_(name, num, text) {num, "SM_" #name, text},
        SM_STATUS_MAP(SMT_X_)
#undef SMT_X_
    };

    /* numbers are dense from 0: appended, never skipped or reused */
    assert_true(COUNT(all) >= 19);
    for (size_t i = 0; i < COUNT(all); i++) {
        assert_int_equal(all[i].num, (int)i);
        assert_string_equal(sm_errname(all[i].num), all[i].name);
        assert_string_equal(sm_strerror(all[i].num), all[i].text);
    }
    assert_string_equal(sm_errname(SM_ENOKEY), "SM_ENOKEY");
    assert_string_equal(sm_strerror(SM_OK), "success");
}

static void
test_status_unknown_numbers_are_sm_unknown(void **state)
{
    (void)state;
    static const int known[] = {
#define SMT_X_(name, num, text) num,
        SM_STATUS_MAP(SMT_X_)
#undef SMT_X_
    };
    const int first_unused = (int)COUNT(known);
    const int unknown[] = {-1, first_unused, first_unused + 1, 9999, INT_MAX, INT_MIN};

    for (size_t i = 0; i < COUNT(unknown); i++) {
        assert_string_equal(sm_errname(unknown[i]), "SM_UNKNOWN");
        assert_string_equal(sm_strerror(unknown[i]), "unknown status");
    }
}

/* ---------------------------------------------------------------- client */

static void
test_client_open_without_a_server_is_eunreachable_within_the_dial_timeout(void **state)
{
    (void)state;
    char url[256];
    sm_client *c = NULL;
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    o.dial_timeout_ms = 300;

    snprintf(url, sizeof(url), "ipc:///tmp/smt-nowhere.%ld/none/sock", (long)getpid());
    double t0 = now_ms();
    assert_sm_status(sm_client_open(&c, url, &o), SM_EUNREACHABLE);
    double took = now_ms() - t0;
    assert_null(c);
    if (took > 300 + 2000) {
        print_error("sm_client_open took %.0f ms with a 300 ms dial timeout\n", took);
        fail();
    }

    /* a tcp port nobody listens on */
    t0 = now_ms();
    assert_sm_status(sm_client_open(&c, "tcp://127.0.0.1:1", &o), SM_EUNREACHABLE);
    took = now_ms() - t0;
    assert_null(c);
    if (took > 300 + 2000) {
        print_error("sm_client_open took %.0f ms with a 300 ms dial timeout\n", took);
        fail();
    }
}

static void
test_client_open_with_a_bad_url_or_opts_is_einval(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", "nonsense", "http://127.0.0.1:80", "udp://127.0.0.1:9", "ipc:/", NULL};
    sm_client *c = NULL;

    for (size_t i = 0; i < COUNT(bad); i++) {
        int rv = sm_client_open(&c, bad[i], NULL);
        if (rv != SM_EINVAL)
            print_error("url \"%s\"\n", bad[i] ? bad[i] : "(NULL)");
        assert_sm_status(rv, SM_EINVAL);
        assert_null(c);
    }
    assert_sm_status(sm_client_open(NULL, smt_url(), NULL), SM_EINVAL);

    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    o.size = 0;
    assert_sm_status(sm_client_open(&c, smt_url(), &o), SM_EINVAL);
    assert_null(c);
}

static void
test_client_url_is_the_url_it_was_opened_with(void **state)
{
    (void)state;
    sm_client *c = NULL;

    assert_string_equal(sm_client_url(smt_client()), smt_url());
    assert_sm_ok(sm_client_open(&c, smt_url(), NULL));
    assert_string_equal(sm_client_url(c), smt_url());
    sm_client_close(c);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_objects_named_objects_are_found_from_a_second_client),
    cmocka_unit_test(test_objects_opening_a_name_as_another_type_is_ewrongtype),
    cmocka_unit_test(test_objects_names_must_be_1_to_255_bytes),
    cmocka_unit_test(test_objects_attach_with_a_bad_token_is_einval),
    cmocka_unit_test(test_objects_attach_with_a_token_of_another_type_is_ewrongtype),
    cmocka_unit_test(test_objects_anonymous_object_is_freed_when_its_last_proxy_closes),
    cmocka_unit_test(test_objects_anonymous_object_passed_to_a_child_lives_until_both_close),
    cmocka_unit_test(test_objects_reference_in_a_dict_keeps_an_anonymous_list_alive),
    cmocka_unit_test(test_objects_reference_in_a_var_is_dropped_when_overwritten),
    cmocka_unit_test(test_objects_every_container_holds_a_reference_until_it_lets_go),
    cmocka_unit_test(test_objects_references_not_stored_are_not_counted),
    cmocka_unit_test(test_value_constructors_fill_the_struct_and_borrow),
    cmocka_unit_test(test_value_copy_makes_an_owned_deep_copy),
    cmocka_unit_test(test_value_copy_bad_arguments_are_einval_and_leave_dst_unchanged),
    cmocka_unit_test(test_value_clear_frees_owned_and_leaves_borrowed_alone),
    cmocka_unit_test(test_value_equal_compares_kind_and_content),
    cmocka_unit_test(test_value_free_functions_and_closes_accept_null),
    cmocka_unit_test(test_status_every_status_has_its_name_and_text),
    cmocka_unit_test(test_status_unknown_numbers_are_sm_unknown),
    cmocka_unit_test(test_client_open_without_a_server_is_eunreachable_within_the_dial_timeout),
    cmocka_unit_test(test_client_open_with_a_bad_url_or_opts_is_einval),
    cmocka_unit_test(test_client_url_is_the_url_it_was_opened_with),
};

int
main(int argc, char **argv)
{
    return SMT_MAIN_CHILDREN("objects", tests, children);
}
