/* val.c - values as the server stores them, and their wire form.
 *
 * A stored srv_val owns its string and one reference to the object it
 * names; val_clear gives both back. Conversions to the wire borrow the
 * stored memory (the reply is packed before the state lock is released).
 * Arithmetic follows Python: int + int stays int (overflow is an error,
 * never a wrap), anything with a double is a double. Every value from the
 * wire enters through val_from_wire, which refuses a string or bytes value
 * over the --max-value limit (SM_ELIMIT).
 * Exported: val_from_wire, val_to_wire, val_to_wire_new, val_clear, val_copy,
 * val_equal, val_add. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

static int
val_str(srv_val *out, sm_type type, const void *p, size_t len)
{
    char *s = malloc(len + 1);
    if (s == NULL)
        return SM_ENOMEM;
    if (len)
        memcpy(s, p, len);
    s[len] = '\0';
    out->type = type;
    out->u.s.p = s;
    out->u.s.len = len;
    return SM_OK;
}

/* val_too_long refuses a string or bytes value over --max-value. */
static int
val_too_long(srv_call *call, size_t len)
{
    return call_fail(call, SM_ELIMIT,
                     "value is %zu bytes, over the limit of %" PRIu64 " (--max-value)", len,
                     call->st->limits.max_value);
}

int
val_from_wire(srv_call *call, const Smwire__Value *w, srv_val *out)
{
    out->type = SM_NIL;
    if (w == NULL)
        return call_fail(call, SM_EPROTO, "value missing");
    switch (w->kind_case) {
    case SMWIRE__VALUE__KIND_NIL:
        return SM_OK;
    case SMWIRE__VALUE__KIND_B:
        out->type = SM_BOOL;
        out->u.b = w->b;
        return SM_OK;
    case SMWIRE__VALUE__KIND_I:
        out->type = SM_INT;
        out->u.i = w->i;
        return SM_OK;
    case SMWIRE__VALUE__KIND_D:
        out->type = SM_DOUBLE;
        out->u.d = w->d;
        return SM_OK;
    case SMWIRE__VALUE__KIND_BYTES:
        if (w->bytes.len > call->st->limits.max_value)
            return val_too_long(call, w->bytes.len);
        return val_str(out, SM_BYTES, w->bytes.data, w->bytes.len);
    case SMWIRE__VALUE__KIND_STR: {
        size_t len = strlen(w->str);
        if (len > call->st->limits.max_value)
            return val_too_long(call, len);
        return val_str(out, SM_STR, w->str, len);
    }
    case SMWIRE__VALUE__KIND_REF: {
        if (w->ref == NULL)
            return call_fail(call, SM_EPROTO, "reference without an object");
        srv_obj *o = store_lookup(call->st, w->ref->id, w->ref->nonce);
        if (o == NULL)
            return call_fail(call, SM_ENOOBJ, "referenced object does not exist");
        obj_incref(o);
        out->type = SM_REF;
        out->u.ref = o;
        return SM_OK;
    }
    default:
        return call_fail(call, SM_EPROTO, "value of unknown kind %d", (int)w->kind_case);
    }
}

int
val_to_wire(srv_call *call, const srv_val *v, Smwire__Value *w)
{
    smwire__value__init(w);
    switch (v->type) {
    case SM_NIL:
        w->kind_case = SMWIRE__VALUE__KIND_NIL;
        w->nil = true;
        break;
    case SM_BOOL:
        w->kind_case = SMWIRE__VALUE__KIND_B;
        w->b = v->u.b;
        break;
    case SM_INT:
        w->kind_case = SMWIRE__VALUE__KIND_I;
        w->i = v->u.i;
        break;
    case SM_DOUBLE:
        w->kind_case = SMWIRE__VALUE__KIND_D;
        w->d = v->u.d;
        break;
    case SM_BYTES:
        w->kind_case = SMWIRE__VALUE__KIND_BYTES;
        w->bytes.data = (uint8_t *)v->u.s.p;
        w->bytes.len = v->u.s.len;
        break;
    case SM_STR:
        w->kind_case = SMWIRE__VALUE__KIND_STR;
        w->str = v->u.s.p;
        break;
    case SM_REF: {
        Smwire__ObjRef *r = call_alloc(call, sizeof(*r));
        if (r == NULL)
            return SM_ENOMEM;
        smwire__obj_ref__init(r);
        r->id = v->u.ref->id;
        r->nonce = v->u.ref->nonce;
        r->type = v->u.ref->type->wire_type;
        w->kind_case = SMWIRE__VALUE__KIND_REF;
        w->ref = r;
        break;
    }
    }
    return SM_OK;
}

Smwire__Value *
val_to_wire_new(srv_call *call, const srv_val *v)
{
    Smwire__Value *w = call_alloc(call, sizeof(*w));
    if (w == NULL || val_to_wire(call, v, w) != SM_OK)
        return NULL;
    return w;
}

void
val_clear(srv_state *st, srv_val *v)
{
    if (v->type == SM_STR || v->type == SM_BYTES)
        free(v->u.s.p);
    else if (v->type == SM_REF)
        obj_decref(st, v->u.ref);
    v->type = SM_NIL;
}

int
val_copy(srv_val *dst, const srv_val *src)
{
    if (src->type == SM_STR || src->type == SM_BYTES) {
        dst->type = SM_NIL;
        return val_str(dst, src->type, src->u.s.p, src->u.s.len);
    }
    *dst = *src;
    if (src->type == SM_REF)
        obj_incref(src->u.ref);
    return SM_OK;
}

/* int_eq_double: exact numeric equality, without the undefined cast of a
 * double outside int64's range (or NaN). */
static bool
int_eq_double(int64_t i, double d)
{
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
        return false;
    return (int64_t)d == i && (double)i == d;
}

bool
val_equal(const srv_val *a, const srv_val *b)
{
    if (a->type == SM_INT && b->type == SM_DOUBLE)
        return int_eq_double(a->u.i, b->u.d);
    if (a->type == SM_DOUBLE && b->type == SM_INT)
        return val_equal(b, a);
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
        return a->u.s.len == b->u.s.len && memcmp(a->u.s.p, b->u.s.p, a->u.s.len) == 0;
    case SM_REF:
        return a->u.ref == b->u.ref;
    }
    return false;
}

int
val_add(const srv_val *a, const srv_val *b, srv_val *out)
{
    if (b->type != SM_INT && b->type != SM_DOUBLE)
        return SM_EBADVALUE;
    srv_val zero = {.type = b->type};
    if (a->type == SM_NIL)
        a = &zero; /* u is zero for both kinds */
    if (a->type != SM_INT && a->type != SM_DOUBLE)
        return SM_EBADVALUE;
    if (a->type == SM_INT && b->type == SM_INT) {
        int64_t r;
        if (__builtin_add_overflow(a->u.i, b->u.i, &r))
            return SM_EOVERFLOW;
        out->type = SM_INT;
        out->u.i = r;
        return SM_OK;
    }
    double x = a->type == SM_INT ? (double)a->u.i : a->u.d;
    double y = b->type == SM_INT ? (double)b->u.i : b->u.d;
    out->type = SM_DOUBLE;
    out->u.d = x + y;
    return SM_OK;
}
