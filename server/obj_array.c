/* obj_array.c - fixed-length typed numeric arrays: Python's Array.
 *
 * Elements are stored packed in their C type (typecodes b B h H i I l L q Q
 * f d, as Python's array module on LP64). On the wire, integer elements are
 * SM_INT and float elements SM_DOUBLE. A value that does not fit its element
 * type is SM_EOVERFLOW and changes nothing: no silent wrap, no undefined
 * float-to-int cast. Slice writes are checked whole before any element
 * changes. The shape (typecode, length) never changes after creation.
 * Exported: srv_type_array. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

#define ARR_MAX_SLICE (1 << 20) /* elements in one get_slice reply */

typedef struct array {
    srv_obj hdr;
    char typecode;
    size_t size; /* bytes per element */
    size_t len;
    unsigned char *data;
} array;

typedef struct arr_code {
    char code;
    size_t size;
    bool is_float;
    int64_t min, max; /* integer range accepted through the int64 API */
} arr_code;

static const arr_code arr_codes[] = {
    {'b', 1, false, INT8_MIN, INT8_MAX},   {'B', 1, false, 0, UINT8_MAX},
    {'h', 2, false, INT16_MIN, INT16_MAX}, {'H', 2, false, 0, UINT16_MAX},
    {'i', 4, false, INT32_MIN, INT32_MAX}, {'I', 4, false, 0, UINT32_MAX},
    {'l', 8, false, INT64_MIN, INT64_MAX}, {'L', 8, false, 0, INT64_MAX},
    {'q', 8, false, INT64_MIN, INT64_MAX}, {'Q', 8, false, 0, INT64_MAX},
    {'f', 4, true, 0, 0},                  {'d', 8, true, 0, 0},
};

static const arr_code *
arr_code_find(const char *s)
{
    if (s == NULL || s[0] == '\0' || s[1] != '\0')
        return NULL;
    for (size_t i = 0; i < SM_NELEM(arr_codes); i++)
        if (arr_codes[i].code == s[0])
            return &arr_codes[i];
    return NULL;
}

static const arr_code *
arr_code_of(const array *a)
{
    char s[2] = {a->typecode, '\0'};
    return arr_code_find(s);
}

/* ----------------------------------------------------------------- array API */

/* arr_check says whether v may be stored in an element of code c. */
static int
arr_check(srv_call *call, const arr_code *c, const srv_val *v)
{
    if (c->is_float) {
        if (v->type != SM_INT && v->type != SM_DOUBLE)
            return call_fail(call, SM_EBADVALUE, "'%c' elements are numbers", c->code);
        if (c->code == 'f' && v->type == SM_DOUBLE && isfinite(v->u.d) && fabs(v->u.d) > FLT_MAX)
            return call_fail(call, SM_EOVERFLOW, "%g does not fit a float", v->u.d);
        return SM_OK;
    }
    if (v->type != SM_INT)
        return call_fail(call, SM_EBADVALUE, "'%c' elements are integers", c->code);
    if (v->u.i < c->min || v->u.i > c->max)
        return call_fail(call, SM_EOVERFLOW, "%" PRId64 " does not fit '%c'", v->u.i, c->code);
    return SM_OK;
}

/* arr_store writes a checked value into element i. */
static void
arr_store(array *a, size_t i, const srv_val *v)
{
    unsigned char *p = a->data + i * a->size;
    int64_t x = v->type == SM_INT ? v->u.i : 0;
    double d = v->type == SM_INT ? (double)v->u.i : v->u.d;
    switch (a->typecode) {
    case 'b': { int8_t t = (int8_t)x; memcpy(p, &t, 1); break; }
    case 'B': { uint8_t t = (uint8_t)x; memcpy(p, &t, 1); break; }
    case 'h': { int16_t t = (int16_t)x; memcpy(p, &t, 2); break; }
    case 'H': { uint16_t t = (uint16_t)x; memcpy(p, &t, 2); break; }
    case 'i': { int32_t t = (int32_t)x; memcpy(p, &t, 4); break; }
    case 'I': { uint32_t t = (uint32_t)x; memcpy(p, &t, 4); break; }
    case 'f': { float t = (float)d; memcpy(p, &t, 4); break; }
    case 'd': memcpy(p, &d, 8); break;
    default: memcpy(p, &x, 8); break; /* l L q Q: the range check kept L, Q >= 0 */
    }
}

/* arr_load reads element i. */
static void
arr_load(const array *a, size_t i, srv_val *v)
{
    const unsigned char *p = a->data + i * a->size;
    v->type = SM_INT;
    switch (a->typecode) {
    case 'b': { int8_t t; memcpy(&t, p, 1); v->u.i = t; break; }
    case 'B': { uint8_t t; memcpy(&t, p, 1); v->u.i = t; break; }
    case 'h': { int16_t t; memcpy(&t, p, 2); v->u.i = t; break; }
    case 'H': { uint16_t t; memcpy(&t, p, 2); v->u.i = t; break; }
    case 'i': { int32_t t; memcpy(&t, p, 4); v->u.i = t; break; }
    case 'I': { uint32_t t; memcpy(&t, p, 4); v->u.i = t; break; }
    case 'f': { float t; memcpy(&t, p, 4); v->type = SM_DOUBLE; v->u.d = t; break; }
    case 'd': v->type = SM_DOUBLE; memcpy(&v->u.d, p, 8); break;
    default: memcpy(&v->u.i, p, 8); break;
    }
}

/* arr_convert turns a wire value into a checked element value. Numbers
 * only, so nothing is held that would need clearing. */
static int
arr_convert(srv_call *call, const arr_code *c, const Smwire__Value *w, srv_val *v)
{
    if (w != NULL && w->kind_case != SMWIRE__VALUE__KIND_I && w->kind_case != SMWIRE__VALUE__KIND_D)
        return call_fail(call, SM_EBADVALUE, "array elements are numbers");
    int rv = val_from_wire(call, w, v);
    return rv != SM_OK ? rv : arr_check(call, c, v);
}

/* ----------------------------------------------------------------- handlers */

#define ARR(o) ((array *)(o))

/* ARRAY.GET index -> value | SM_ERANGE */
static int
array_op_get(srv_call *call, srv_obj *o)
{
    size_t i;
    srv_val v;
    if (!index_norm(call->req->array_get->index, ARR(o)->len, &i))
        return SM_ERANGE;
    arr_load(ARR(o), i, &v);
    return reply_value(call, &v);
}

/* ARRAY.SET index value | SM_ERANGE, SM_EBADVALUE, SM_EOVERFLOW */
static int
array_op_set(srv_call *call, srv_obj *o)
{
    const Smwire__IndexValue *iv = call->req->array_set;
    size_t i;
    srv_val v;
    if (!index_norm(iv->index, ARR(o)->len, &i))
        return SM_ERANGE;
    int rv = arr_convert(call, arr_code_of(ARR(o)), iv->value, &v);
    if (rv != SM_OK)
        return rv;
    arr_store(ARR(o), i, &v);
    return SM_OK;
}

/* ARRAY.GET_SLICE start stop -> values */
static int
array_op_get_slice(srv_call *call, srv_obj *o)
{
    const Smwire__Range *r = call->req->array_get_slice;
    size_t lo, hi;
    slice_norm(r->start, r->stop, ARR(o)->len, &lo, &hi);
    if (hi == lo)
        return SM_OK;
    /* One 44-byte request must not make the server build a reply of a
     * gigabyte while every other client waits: read big arrays in parts. */
    if (hi - lo > ARR_MAX_SLICE)
        return call_fail(call, SM_ELIMIT, "slice of %zu elements; at most %d per call",
                         hi - lo, ARR_MAX_SLICE);
    srv_val *vals = call_alloc(call, (hi - lo) * sizeof(*vals));
    if (vals == NULL)
        return SM_ENOMEM;
    for (size_t i = lo; i < hi; i++)
        arr_load(ARR(o), i, &vals[i - lo]);
    return reply_values(call, vals, hi - lo);
}

/* ARRAY.SET_SLICE start values | SM_ERANGE: all elements or none */
static int
array_op_set_slice(srv_call *call, srv_obj *o)
{
    const Smwire__IndexValues *iv = call->req->array_set_slice;
    array *a = ARR(o);
    const arr_code *c = arr_code_of(a);
    int64_t start = iv->index;
    size_t n = iv->n_values;

    if (start < 0)
        start = start < -(int64_t)a->len ? -1 : start + (int64_t)a->len;
    if (start < 0 || (uint64_t)start > a->len || n > a->len - (size_t)start)
        return call_fail(call, SM_ERANGE, "%zu elements at %" PRId64 " do not fit length %zu",
                         n, iv->index, a->len);
    srv_val *vals = call_alloc(call, (n ? n : 1) * sizeof(*vals));
    if (vals == NULL)
        return SM_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int rv = arr_convert(call, c, iv->values[i], &vals[i]);
        if (rv != SM_OK)
            return rv;
    }
    for (size_t i = 0; i < n; i++)
        arr_store(a, (size_t)start + i, &vals[i]);
    return SM_OK;
}

/* ARRAY.ADD index delta -> new value */
static int
array_op_add(srv_call *call, srv_obj *o)
{
    const Smwire__IndexValue *iv = call->req->array_add;
    array *a = ARR(o);
    const arr_code *c = arr_code_of(a);
    size_t i;
    srv_val cur, delta, sum;

    if (!index_norm(iv->index, a->len, &i))
        return SM_ERANGE;
    int rv = val_from_wire(call, iv->value, &delta);
    if (rv != SM_OK)
        return rv;
    if (delta.type != SM_INT && !(c->is_float && delta.type == SM_DOUBLE)) {
        val_clear(call->st, &delta);
        return call_fail(call, SM_EBADVALUE, "'%c' elements add %s", c->code,
                         c->is_float ? "numbers" : "integers");
    }
    arr_load(a, i, &cur);
    rv = val_add(&cur, &delta, &sum);
    if (rv == SM_OK)
        rv = arr_check(call, c, &sum);
    if (rv != SM_OK)
        return call_fail(call, rv, "element %zu plus delta does not fit '%c'", i, c->code);
    arr_store(a, i, &sum);
    arr_load(a, i, &sum); /* report what is stored ('f' rounds) */
    return reply_value(call, &sum);
}

/* ARRAY.LEN -> n */
static int
array_op_len(srv_call *call, srv_obj *o)
{
    call->rep.n = (int64_t)ARR(o)->len;
    return SM_OK;
}

/* -------------------------------------------------------------------- type */

static int
array_create(srv_call *call, const Smwire__Open *op, srv_obj **out)
{
    const arr_code *c = arr_code_find(op->typecode);
    if (c == NULL)
        return call_fail(call, SM_EINVAL, "unknown typecode '%s'", op->typecode);
    if (op->length == 0 || op->length > SRV_MAX_ARRAY)
        return call_fail(call, SM_EINVAL, "length %" PRIu64 " is not in 1..%u", op->length,
                         SRV_MAX_ARRAY);
    if (op->n_values != 0 && op->n_values != op->length)
        return call_fail(call, SM_EINVAL, "%zu initial values for length %" PRIu64,
                         op->n_values, op->length);
    array *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return SM_ENOMEM;
    a->typecode = c->code;
    a->size = c->size;
    a->len = (size_t)op->length;
    a->data = calloc(a->len, a->size); /* all-zero bits are 0 and 0.0 */
    if (a->data == NULL) {
        free(a);
        return SM_ENOMEM;
    }
    for (size_t i = 0; i < op->n_values; i++) {
        srv_val v;
        int rv = arr_convert(call, c, op->values[i], &v);
        if (rv != SM_OK) {
            free(a->data);
            free(a);
            return rv;
        }
        arr_store(a, i, &v);
    }
    *out = &a->hdr;
    return SM_OK;
}

static int
array_match(srv_call *call, srv_obj *o, const Smwire__Open *op)
{
    array *a = ARR(o);
    const arr_code *c = arr_code_find(op->typecode);
    if (c == NULL || c->code != a->typecode || op->length != a->len)
        return call_fail(call, SM_EWRONGTYPE, "'%s' is an array('%c', %zu)", o->name,
                         a->typecode, a->len);
    return SM_OK;
}

static void
array_fill_open(srv_call *call, srv_obj *o)
{
    char *tc = call_alloc(call, 2);
    if (tc != NULL) {
        tc[0] = ARR(o)->typecode;
        call->rep.typecode = tc;
    }
    call->rep.n = (int64_t)ARR(o)->len;
}

static void
array_destroy(srv_state *st, srv_obj *o)
{
    (void)st;
    free(ARR(o)->data);
    free(o);
}

static int
array_clone(srv_state *st, srv_obj *o, srv_obj **out)
{
    (void)st;
    const array *src = ARR(o);
    array *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return SM_ENOMEM;
    *a = *src;
    a->data = malloc(src->len * src->size + 1);
    if (a->data == NULL) {
        free(a);
        return SM_ENOMEM;
    }
    memcpy(a->data, src->data, src->len * src->size);
    *out = &a->hdr;
    return SM_OK;
}

/* A snapshot holds the typecode, the length and the elements as stored,
 * little-endian. On load every bit pattern is a number of its type, except
 * that 'L' and 'Q' hold 0..INT64_MAX only. */
static void
array_le_copy(unsigned char *dst, const unsigned char *src, size_t n, size_t size)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    (void)size;
    memcpy(dst, src, n * size);
#else
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < size; b++)
            dst[i * size + b] = src[i * size + size - 1 - b];
#endif
}

static int
array_save(srv_call *call, srv_obj *o, Smsnap__Object *out)
{
    const array *a = ARR(o);
    char *tc = call_alloc(call, 2);
    unsigned char *el = call_alloc(call, a->len * a->size);
    if (tc == NULL || el == NULL)
        return SM_ENOMEM;
    tc[0] = a->typecode;
    out->shape->typecode = tc;
    out->shape->length = a->len;
    array_le_copy(el, a->data, a->len, a->size);
    out->elements.data = el;
    out->elements.len = a->len * a->size;
    return SM_OK;
}

static int
array_load(srv_call *call, srv_obj *o, const Smsnap__Object *in)
{
    array *a = ARR(o);
    if (in->elements.len != a->len * a->size)
        return call_fail(call, SM_EINVAL, "%zu bytes of elements for array('%c', %zu)",
                         in->elements.len, a->typecode, a->len);
    array_le_copy(a->data, in->elements.data, a->len, a->size);
    if (a->typecode == 'L' || a->typecode == 'Q') {
        for (size_t i = 0; i < a->len; i++) {
            srv_val v;
            arr_load(a, i, &v);
            if (v.u.i < 0)
                return call_fail(call, SM_EOVERFLOW, "element %zu does not fit '%c'", i,
                                 a->typecode);
        }
    }
    return SM_OK;
}

static const srv_op array_ops[] = {
    {SMWIRE__REQUEST__OP_ARRAY_GET, "array.get", array_op_get, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_ARRAY_SET, "array.set", array_op_set, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_ARRAY_GET_SLICE, "array.get_slice", array_op_get_slice, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_ARRAY_SET_SLICE, "array.set_slice", array_op_set_slice, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_ARRAY_ADD, "array.add", array_op_add, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_ARRAY_LEN, "array.len", array_op_len, SRV_OP_READ},
};

/* STATUS: size = elements, typecode */
static int
array_info(srv_call *call, srv_obj *o, Smwire__ObjectInfo *out)
{
    char *tc = call_alloc(call, 2);
    if (tc == NULL)
        return SM_ENOMEM;
    tc[0] = ARR(o)->typecode;
    out->typecode = tc;
    out->size = ARR(o)->len;
    return SM_OK;
}

const srv_type srv_type_array = {
    .name = "array",
    .wire_type = SMWIRE__OBJ_TYPE__OBJ_ARRAY,
    .ops = array_ops,
    .nops = SM_NELEM(array_ops),
    .create = array_create,
    .match = array_match,
    .destroy = array_destroy,
    .fill_open = array_fill_open,
    .clone = array_clone,
    .size = sizeof(array),
    .save = array_save,
    .load = array_load,
    .info = array_info,
};
