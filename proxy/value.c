/* value.c - sm_value helpers, the value codec and object tokens.
 *
 * Values going to the server borrow the caller's memory (the request is
 * packed before the call returns); values coming back are owned copies.
 * Exported: sm_value_* constructors, sm_value_clear, sm_value_copy,
 * sm_value_equal, sm_values_free, sm_strings_free, smi_value_to_wire,
 * smi_values_to_wire, smi_value_from_wire, smi_values_from_wire,
 * smi_strings_from_wire, smi_token_format, smi_token_parse. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smi.h"

sm_value
sm_value_nil(void)
{
    sm_value v = {.type = SM_NIL};
    return v;
}

sm_value
sm_value_bool(bool b)
{
    sm_value v = {.type = SM_BOOL, .u.b = b};
    return v;
}

sm_value
sm_value_int(int64_t i)
{
    sm_value v = {.type = SM_INT, .u.i = i};
    return v;
}

sm_value
sm_value_double(double d)
{
    sm_value v = {.type = SM_DOUBLE, .u.d = d};
    return v;
}

static sm_value
value_borrow(sm_type type, const void *p, size_t len)
{
    sm_value v;
    memset(&v, 0, sizeof(v));
    v.type = type;
    v.u.buf.ptr = (void *)p; /* borrowed: never written, never freed */
    v.u.buf.len = len;
    v.u.buf.owned = false;
    return v;
}

sm_value
sm_value_str(const char *s)
{
    return value_borrow(SM_STR, s, s != NULL ? strlen(s) : 0);
}

sm_value
sm_value_bytes(const void *p, size_t len)
{
    return value_borrow(SM_BYTES, p, len);
}

sm_value
sm_value_ref(const char *token)
{
    return value_borrow(SM_REF, token, token != NULL ? strlen(token) : 0);
}

static bool
value_has_buf(sm_type t)
{
    return t == SM_STR || t == SM_BYTES || t == SM_REF;
}

void
sm_value_clear(sm_value *v)
{
    if (v == NULL)
        return;
    if (value_has_buf(v->type) && v->u.buf.owned)
        free(v->u.buf.ptr);
    memset(v, 0, sizeof(*v));
    v->type = SM_NIL;
}

/* value_own makes *out an owned buffer value with a NUL after len bytes. */
static int
value_own(sm_value *out, sm_type type, const void *p, size_t len)
{
    char *b = malloc(len + 1);
    if (b == NULL)
        return SM_ENOMEM;
    if (len)
        memcpy(b, p, len);
    b[len] = '\0';
    memset(out, 0, sizeof(*out));
    out->type = type;
    out->u.buf.ptr = b;
    out->u.buf.len = len;
    out->u.buf.owned = true;
    return SM_OK;
}

int
sm_value_copy(sm_value *dst, const sm_value *src)
{
    if (dst == NULL || src == NULL)
        return SM_EINVAL;
    if (value_has_buf(src->type)) {
        if (src->u.buf.ptr == NULL && src->u.buf.len != 0)
            return SM_EINVAL;
        return value_own(dst, src->type, src->u.buf.ptr, src->u.buf.len);
    }
    if ((unsigned)src->type > SM_REF)
        return SM_EINVAL;
    *dst = *src;
    return SM_OK;
}

static bool
value_int_eq_double(int64_t i, double d)
{
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        return false;
    return (int64_t)d == i && (double)i == d;
}

bool
sm_value_equal(const sm_value *a, const sm_value *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    if (a->type == SM_INT && b->type == SM_DOUBLE)
        return value_int_eq_double(a->u.i, b->u.d);
    if (a->type == SM_DOUBLE && b->type == SM_INT)
        return value_int_eq_double(b->u.i, a->u.d);
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case SM_NIL:
        return true;
    case SM_BOOL:
        return a->u.b == b->u.b;
    case SM_INT:
        return a->u.i == b->u.i;
    case SM_DOUBLE:
        return a->u.d == b->u.d;
    case SM_STR:
    case SM_BYTES:
    case SM_REF:
        return a->u.buf.len == b->u.buf.len &&
               (a->u.buf.len == 0 || memcmp(a->u.buf.ptr, b->u.buf.ptr, a->u.buf.len) == 0);
    }
    return false;
}

void
sm_values_free(sm_value *v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        sm_value_clear(&v[i]);
    free(v);
}

void
sm_strings_free(char **s, size_t n)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

/* ------------------------------------------------------------------ tokens */

static const char *const token_types[] = {
    [SMWIRE__OBJ_TYPE__OBJ_DICT] = "dict", [SMWIRE__OBJ_TYPE__OBJ_LIST] = "list",
    [SMWIRE__OBJ_TYPE__OBJ_VAR] = "var",   [SMWIRE__OBJ_TYPE__OBJ_ARRAY] = "array",
    [SMWIRE__OBJ_TYPE__OBJ_NAMESPACE] = "ns", [SMWIRE__OBJ_TYPE__OBJ_LOCK] = "lock",
    [SMWIRE__OBJ_TYPE__OBJ_RLOCK] = "rlock",  [SMWIRE__OBJ_TYPE__OBJ_SEMAPHORE] = "sem",
    [SMWIRE__OBJ_TYPE__OBJ_CONDITION] = "cond", [SMWIRE__OBJ_TYPE__OBJ_EVENT] = "event",
    [SMWIRE__OBJ_TYPE__OBJ_BARRIER] = "barrier", [SMWIRE__OBJ_TYPE__OBJ_QUEUE] = "queue",
};

void
smi_token_format(char *buf, size_t size, int type, uint64_t id, uint64_t nonce)
{
    const char *t = "none";
    if (type > 0 && (size_t)type < sizeof(token_types) / sizeof(token_types[0]))
        t = token_types[type];
    snprintf(buf, size, "sm:%s:%" PRIx64 ":%016" PRIx64, t, id, nonce);
}

/* token_hex reads 1..16 hex digits up to stop; the end in *endp. */
static bool
token_hex(const char *s, char stop, uint64_t *out, const char **endp)
{
    uint64_t v = 0;
    int n = 0;
    for (; *s != stop; s++, n++) {
        int d;
        if (*s >= '0' && *s <= '9')
            d = *s - '0';
        else if (*s >= 'a' && *s <= 'f')
            d = *s - 'a' + 10;
        else
            return false;
        if (n == 16)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    if (n == 0)
        return false;
    *out = v;
    *endp = s;
    return true;
}

int
smi_token_parse(const char *token, int *type, uint64_t *id, uint64_t *nonce)
{
    const char *p;
    if (token == NULL || strncmp(token, "sm:", 3) != 0)
        return SM_EINVAL;
    p = token + 3;
    const char *colon = strchr(p, ':');
    if (colon == NULL)
        return SM_EINVAL;
    int t = 0;
    for (size_t i = 1; i < sizeof(token_types) / sizeof(token_types[0]); i++)
        if (token_types[i] != NULL && strlen(token_types[i]) == (size_t)(colon - p) &&
            strncmp(p, token_types[i], (size_t)(colon - p)) == 0)
            t = (int)i;
    if (t == 0)
        return SM_EINVAL;
    if (!token_hex(colon + 1, ':', id, &p) || !token_hex(p + 1, '\0', nonce, &p))
        return SM_EINVAL;
    *type = t;
    return SM_OK;
}

/* ------------------------------------------------------------------- codec */

int
smi_value_to_wire(const sm_value *v, smi_wval *out)
{
    Smwire__Value *w = &out->w;
    smwire__value__init(w);
    if (v == NULL)
        return smi_fail(SM_EINVAL, "no value");
    switch (v->type) {
    case SM_NIL:
        w->kind_case = SMWIRE__VALUE__KIND_NIL;
        w->nil = true;
        return SM_OK;
    case SM_BOOL:
        w->kind_case = SMWIRE__VALUE__KIND_B;
        w->b = v->u.b;
        return SM_OK;
    case SM_INT:
        w->kind_case = SMWIRE__VALUE__KIND_I;
        w->i = v->u.i;
        return SM_OK;
    case SM_DOUBLE:
        w->kind_case = SMWIRE__VALUE__KIND_D;
        w->d = v->u.d;
        return SM_OK;
    case SM_BYTES:
        if (v->u.buf.ptr == NULL && v->u.buf.len != 0)
            return smi_fail(SM_EINVAL, "bytes value without a buffer");
        w->kind_case = SMWIRE__VALUE__KIND_BYTES;
        w->bytes.data = v->u.buf.ptr;
        w->bytes.len = v->u.buf.len;
        return SM_OK;
    case SM_STR:
        if (v->u.buf.ptr == NULL)
            return smi_fail(SM_EINVAL, "string value without a string");
        if (memchr(v->u.buf.ptr, '\0', v->u.buf.len) != NULL)
            return smi_fail(SM_EINVAL, "string value holds a NUL byte; use SM_BYTES");
        if (((const char *)v->u.buf.ptr)[v->u.buf.len] != '\0')
            return smi_fail(SM_EINVAL, "string value is not NUL-terminated at its length");
        w->kind_case = SMWIRE__VALUE__KIND_STR;
        w->str = v->u.buf.ptr;
        return SM_OK;
    case SM_REF: {
        int type;
        smwire__obj_ref__init(&out->r);
        if (smi_token_parse(v->u.buf.ptr, &type, &out->r.id, &out->r.nonce) != SM_OK)
            return smi_fail(SM_EINVAL, "reference value is not an object token");
        out->r.type = (Smwire__ObjType)type;
        w->kind_case = SMWIRE__VALUE__KIND_REF;
        w->ref = &out->r;
        return SM_OK;
    }
    }
    return smi_fail(SM_EINVAL, "value of unknown type %d", (int)v->type);
}

int
smi_values_to_wire(const sm_value *v, size_t n, Smwire__Value ***ptrsp)
{
    if (n > 0 && v == NULL)
        return smi_fail(SM_EINVAL, "no values");
    if (n > (SIZE_MAX / 2) / (sizeof(Smwire__Value *) + sizeof(smi_wval)))
        return smi_fail(SM_EINVAL, "too many values");
    /* One block: n pointers, then n wire values. */
    size_t head = ((n * sizeof(Smwire__Value *)) + 15) & ~(size_t)15;
    char *blk = malloc(head + n * sizeof(smi_wval) + 1);
    if (blk == NULL)
        return SM_ENOMEM;
    Smwire__Value **ptrs = (Smwire__Value **)(void *)blk;
    smi_wval *wv = (smi_wval *)(void *)(blk + head);
    for (size_t i = 0; i < n; i++) {
        int rv = smi_value_to_wire(&v[i], &wv[i]);
        if (rv != SM_OK) {
            free(blk);
            return rv;
        }
        ptrs[i] = &wv[i].w;
    }
    *ptrsp = ptrs;
    return SM_OK;
}

int
smi_value_from_wire(const Smwire__Value *w, sm_value *out)
{
    sm_value v;
    memset(&v, 0, sizeof(v));
    if (w == NULL)
        return smi_fail(SM_EPROTO, "reply without its value");
    switch (w->kind_case) {
    case SMWIRE__VALUE__KIND_NIL:
        v.type = SM_NIL;
        break;
    case SMWIRE__VALUE__KIND_B:
        v.type = SM_BOOL;
        v.u.b = w->b;
        break;
    case SMWIRE__VALUE__KIND_I:
        v.type = SM_INT;
        v.u.i = w->i;
        break;
    case SMWIRE__VALUE__KIND_D:
        v.type = SM_DOUBLE;
        v.u.d = w->d;
        break;
    case SMWIRE__VALUE__KIND_BYTES:
        if (value_own(&v, SM_BYTES, w->bytes.data, w->bytes.len) != SM_OK)
            return SM_ENOMEM;
        break;
    case SMWIRE__VALUE__KIND_STR:
        if (value_own(&v, SM_STR, w->str, strlen(w->str)) != SM_OK)
            return SM_ENOMEM;
        break;
    case SMWIRE__VALUE__KIND_REF: {
        char tok[SMI_TOKEN_MAX];
        if (w->ref == NULL)
            return smi_fail(SM_EPROTO, "reference without an object");
        smi_token_format(tok, sizeof(tok), w->ref->type, w->ref->id, w->ref->nonce);
        if (value_own(&v, SM_REF, tok, strlen(tok)) != SM_OK)
            return SM_ENOMEM;
        break;
    }
    default:
        return smi_fail(SM_EPROTO, "value of unknown kind %d", (int)w->kind_case);
    }
    *out = v;
    return SM_OK;
}

int
smi_values_from_wire(Smwire__Value *const *w, size_t n, sm_value **outp)
{
    if (n == 0) {
        *outp = NULL;
        return SM_OK;
    }
    sm_value *vals = calloc(n, sizeof(*vals));
    if (vals == NULL)
        return SM_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int rv = smi_value_from_wire(w[i], &vals[i]);
        if (rv != SM_OK) {
            sm_values_free(vals, i);
            return rv;
        }
    }
    *outp = vals;
    return SM_OK;
}

int
smi_strings_from_wire(char *const *s, size_t n, char ***outp)
{
    if (n == 0) {
        *outp = NULL;
        return SM_OK;
    }
    char **out = calloc(n, sizeof(*out));
    if (out == NULL)
        return SM_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        out[i] = strdup(s[i]);
        if (out[i] == NULL) {
            sm_strings_free(out, i);
            return SM_ENOMEM;
        }
    }
    *outp = out;
    return SM_OK;
}
