/* obj_list.c - lists: a growable array of values with Python's indexing.
 *
 * Top half: list_* manage the array (grow, insert, remove) and know nothing
 * of requests. Bottom half: the LIST.* handlers. Batch input (extend) is
 * converted whole before the list changes, so it lands all or not at all.
 * Growing past --max-items is SM_ELIMIT (list_room) and adds nothing.
 * Exported: srv_type_list, and for moves (srv.h) move_dest, move_can_take,
 * move_put, list_can_take, list_put. */
#include <stdlib.h>
#include <string.h>

#include "srv.h"

typedef struct list {
    srv_obj hdr;
    srv_val *items;
    size_t len, cap;
} list;

/* ------------------------------------------------------------------ list API */

/* list_reserve makes room for extra more items; false (list unchanged) when
 * out of memory. */
static bool
list_reserve(list *l, size_t extra)
{
    if (extra > SIZE_MAX / sizeof(srv_val) - l->len)
        return false;
    size_t need = l->len + extra;
    if (need <= l->cap)
        return true;
    size_t cap = l->cap ? l->cap : 8;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 / sizeof(srv_val) ? need : cap * 2;
    srv_val *p = realloc(l->items, cap * sizeof(*p));
    if (p == NULL)
        return false;
    l->items = p;
    l->cap = cap;
    return true;
}

/* list_insert_at takes *v into position i (0..len); room was reserved. */
static void
list_insert_at(list *l, size_t i, srv_val *v)
{
    memmove(&l->items[i + 1], &l->items[i], (l->len - i) * sizeof(*v));
    l->items[i] = *v;
    v->type = SM_NIL;
    l->len++;
}

/* list_remove_at closes the gap at i; the caller has taken or cleared it. */
static void
list_remove_at(list *l, size_t i)
{
    memmove(&l->items[i], &l->items[i + 1], (l->len - i - 1) * sizeof(srv_val));
    l->len--;
}

static void
list_clear_all(srv_state *st, list *l)
{
    for (size_t i = 0; i < l->len; i++)
        val_clear(st, &l->items[i]);
    l->len = 0;
}

/* list_find returns the first index in [lo, hi) equal to w, or -1. */
static int
list_find(srv_call *call, list *l, const Smwire__Value *w, size_t lo, size_t hi, int64_t *at)
{
    srv_val v;
    int rv = val_from_wire(call, w, &v);
    if (rv != SM_OK)
        return rv;
    *at = -1;
    for (size_t i = lo; i < hi; i++) {
        if (val_equal(&l->items[i], &v)) {
            *at = (int64_t)i;
            break;
        }
    }
    val_clear(call->st, &v);
    return SM_OK;
}

/* list_room checks that l may take n more items (--max-items). */
static int
list_room(srv_call *call, const list *l, size_t n)
{
    uint64_t max = call->st->limits.max_items;
    if (n <= max && l->len <= max - n)
        return SM_OK;
    if (n == 1)
        return call_fail(call, SM_ELIMIT, "list has %zu items, the limit (--max-items)", l->len);
    return call_fail(call, SM_ELIMIT,
                     "list has %zu items; %zu more would pass the limit of %" PRIu64
                     " (--max-items)",
                     l->len, n, max);
}

/* ----------------------------------------------------------------- handlers */

#define LIST(o) ((list *)(o))

/* LIST.APPEND value -> new length */
static int
list_op_append(srv_call *call, srv_obj *o)
{
    list *l = LIST(o);
    srv_val v;
    int rv = list_room(call, l, 1);
    if (rv != SM_OK)
        return rv;
    rv = val_from_wire(call, call->req->list_append, &v);
    if (rv != SM_OK)
        return rv;
    if (!list_reserve(l, 1)) {
        val_clear(call->st, &v);
        return SM_ENOMEM;
    }
    list_insert_at(l, l->len, &v);
    call->rep.n = (int64_t)l->len;
    return SM_OK;
}

/* LIST.EXTEND values -> new length: all or none */
static int
list_op_extend(srv_call *call, srv_obj *o)
{
    const Smwire__Values *vs = call->req->list_extend;
    list *l = LIST(o);
    size_t i, n = vs->n_values;
    int rv = list_room(call, l, n);

    if (rv != SM_OK)
        return rv;
    if (!list_reserve(l, n))
        return SM_ENOMEM;
    /* Convert into the reserved tail; only commit the length at the end. */
    for (i = 0; i < n; i++) {
        rv = val_from_wire(call, vs->values[i], &l->items[l->len + i]);
        if (rv != SM_OK)
            break;
    }
    if (rv != SM_OK) {
        while (i-- > 0)
            val_clear(call->st, &l->items[l->len + i]);
        return rv;
    }
    l->len += n;
    call->rep.n = (int64_t)l->len;
    return SM_OK;
}

/* LIST.INSERT index value: Python clamps index to the ends */
static int
list_op_insert(srv_call *call, srv_obj *o)
{
    const Smwire__IndexValue *iv = call->req->list_insert;
    list *l = LIST(o);
    size_t at, hi;
    srv_val v;

    slice_norm(iv->index, SM_END, l->len, &at, &hi);
    int rv = list_room(call, l, 1);
    if (rv != SM_OK)
        return rv;
    rv = val_from_wire(call, iv->value, &v);
    if (rv != SM_OK)
        return rv;
    if (!list_reserve(l, 1)) {
        val_clear(call->st, &v);
        return SM_ENOMEM;
    }
    list_insert_at(l, at, &v);
    call->rep.n = (int64_t)l->len;
    return SM_OK;
}

/* LIST.GET index -> value | SM_ERANGE */
static int
list_op_get(srv_call *call, srv_obj *o)
{
    size_t i;
    if (!index_norm(call->req->list_get->index, LIST(o)->len, &i))
        return SM_ERANGE;
    return reply_value(call, &LIST(o)->items[i]);
}

/* LIST.SET index value | SM_ERANGE */
static int
list_op_set(srv_call *call, srv_obj *o)
{
    const Smwire__IndexValue *iv = call->req->list_set;
    size_t i;
    srv_val v;
    if (!index_norm(iv->index, LIST(o)->len, &i))
        return SM_ERANGE;
    int rv = val_from_wire(call, iv->value, &v);
    if (rv != SM_OK)
        return rv;
    val_clear(call->st, &LIST(o)->items[i]);
    LIST(o)->items[i] = v;
    return SM_OK;
}

/* LIST.POP index -> value | SM_ERANGE */
static int
list_op_pop(srv_call *call, srv_obj *o)
{
    list *l = LIST(o);
    size_t i;
    if (!index_norm(call->req->list_pop->index, l->len, &i))
        return SM_ERANGE;
    srv_val *kept = call_keep(call, &l->items[i]);
    if (kept == NULL)
        return SM_ENOMEM;
    list_remove_at(l, i);
    return reply_value(call, kept);
}

/* ------------------------------------------------------------------ moves */

int
list_can_take(srv_call *call, srv_obj *o, bool same)
{
    list *l = LIST(o);
    int rv = same ? SM_OK : list_room(call, l, 1);
    if (rv == SM_OK && !list_reserve(l, 1))
        rv = SM_ENOMEM;
    return rv;
}

void
list_put(srv_obj *o, srv_val *item, bool front)
{
    list *l = LIST(o);
    list_insert_at(l, front ? 0 : l->len, item);
}

int
move_can_take(srv_call *call, srv_obj *src, srv_obj *dst, bool front)
{
    if (dst->type == &srv_type_list)
        return list_can_take(call, dst, dst == src);
    if (dst->type != &srv_type_queue)
        return call_fail(call, SM_EWRONGTYPE, "a move into a %s; only lists and queues",
                         dst->type->name);
    if (front)
        return call_fail(call, SM_EINVAL, "a queue takes items at its back only");
    return queue_can_take(call, dst, dst == src);
}

int
move_dest(srv_call *call, srv_obj *src, const Smwire__Move *mv, srv_obj **dstp)
{
    if (mv->dest == NULL)
        return call_fail(call, SM_EINVAL, "move without a destination");
    srv_obj *d = store_lookup(call->st, mv->dest->id, mv->dest->nonce);
    if (d == NULL)
        return call_fail(call, SM_ENOOBJ, "no destination object %" PRIu64, mv->dest->id);
    if ((int)mv->dest->type != d->type->wire_type)
        return call_fail(call, SM_EWRONGTYPE, "destination object %" PRIu64 " is a %s", d->id,
                         d->type->name);
    int rv = move_can_take(call, src, d, mv->dst_front);
    if (rv == SM_OK)
        *dstp = d;
    return rv;
}

void
move_put(srv_call *call, srv_obj *dst, srv_val *item, bool front)
{
    if (dst->type == &srv_type_list)
        list_put(dst, item, front);
    else
        queue_put_item(call, dst, item);
}

/* LIST.MOVE dest src_front dst_front -> value | SM_ERANGE (empty). The
 * reply is made before the item leaves, so nothing fails once it has. */
static int
list_op_move(srv_call *call, srv_obj *o)
{
    const Smwire__Move *mv = call->req->list_move;
    list *l = LIST(o);
    srv_obj *dst = NULL;
    int rv = move_dest(call, o, mv, &dst);
    if (rv != SM_OK)
        return rv;
    if (l->len == 0)
        return call_fail(call, SM_ERANGE, "move from an empty list");
    size_t i = mv->src_front ? 0 : l->len - 1;
    srv_val copy, *kept;
    if (val_copy(&copy, &l->items[i]) != SM_OK)
        return SM_ENOMEM;
    if ((kept = call_keep(call, &copy)) == NULL) {
        val_clear(call->st, &copy);
        return SM_ENOMEM;
    }
    rv = reply_value(call, kept);
    if (rv != SM_OK)
        return rv;
    srv_val item = l->items[i];
    list_remove_at(l, i);
    move_put(call, dst, &item, mv->dst_front);
    return SM_OK;
}

/* LIST.REMOVE value | SM_ENOTFOUND */
static int
list_op_remove(srv_call *call, srv_obj *o)
{
    list *l = LIST(o);
    int64_t at;
    int rv = list_find(call, l, call->req->list_remove, 0, l->len, &at);
    if (rv != SM_OK)
        return rv;
    if (at < 0)
        return SM_ENOTFOUND;
    val_clear(call->st, &l->items[at]);
    list_remove_at(l, (size_t)at);
    return SM_OK;
}

/* LIST.INDEX value start stop -> n | SM_ENOTFOUND */
static int
list_op_index(srv_call *call, srv_obj *o)
{
    const Smwire__ValueRange *vr = call->req->list_index;
    list *l = LIST(o);
    size_t lo, hi;
    int64_t at;
    slice_norm(vr->start, vr->stop, l->len, &lo, &hi);
    int rv = list_find(call, l, vr->value, lo, hi, &at);
    if (rv != SM_OK)
        return rv;
    if (at < 0)
        return SM_ENOTFOUND;
    call->rep.n = at;
    return SM_OK;
}

/* LIST.COUNT value -> n */
static int
list_op_count(srv_call *call, srv_obj *o)
{
    list *l = LIST(o);
    srv_val v;
    int rv = val_from_wire(call, call->req->list_count, &v);
    if (rv != SM_OK)
        return rv;
    int64_t n = 0;
    for (size_t i = 0; i < l->len; i++)
        n += val_equal(&l->items[i], &v);
    val_clear(call->st, &v);
    call->rep.n = n;
    return SM_OK;
}

/* LIST.LEN -> n */
static int
list_op_len(srv_call *call, srv_obj *o)
{
    call->rep.n = (int64_t)LIST(o)->len;
    return SM_OK;
}

/* LIST.SLICE start stop -> values */
static int
list_op_slice(srv_call *call, srv_obj *o)
{
    const Smwire__Range *r = call->req->list_slice;
    size_t lo, hi;
    slice_norm(r->start, r->stop, LIST(o)->len, &lo, &hi);
    if (hi == lo)
        return SM_OK; /* an empty list may have no item array: no NULL + 0 */
    return reply_values(call, LIST(o)->items + lo, hi - lo);
}

/* LIST.CLEAR */
static int
list_op_clear(srv_call *call, srv_obj *o)
{
    list_clear_all(call->st, LIST(o));
    return SM_OK;
}

/* -------------------------------------------------------------------- type */

static int
list_create(srv_call *call, const Smwire__Open *op, srv_obj **out)
{
    (void)call;
    (void)op;
    list *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return SM_ENOMEM;
    *out = &l->hdr;
    return SM_OK;
}

static void
list_destroy(srv_state *st, srv_obj *o)
{
    list_clear_all(st, LIST(o));
    free(LIST(o)->items);
    free(o);
}

static int
list_clone(srv_state *st, srv_obj *o, srv_obj **out)
{
    const list *src = LIST(o);
    list *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return SM_ENOMEM;
    if (src->len > 0 && !list_reserve(l, src->len)) {
        free(l);
        return SM_ENOMEM;
    }
    for (; l->len < src->len; l->len++) {
        if (val_copy(&l->items[l->len], &src->items[l->len]) != SM_OK) {
            list_destroy(st, &l->hdr);
            return SM_ENOMEM;
        }
    }
    *out = &l->hdr;
    return SM_OK;
}

/* A snapshot holds the items in order; loading one past --max-items is
 * refused. */
static int
list_save(srv_call *call, srv_obj *o, Smsnap__Object *out)
{
    const list *l = LIST(o);
    if (snap_values(call, out, l->len) != SM_OK)
        return SM_ENOMEM;
    for (size_t i = 0; i < l->len; i++)
        if (val_to_wire(call, &l->items[i], out->values[i]) != SM_OK)
            return SM_ENOMEM;
    return SM_OK;
}

static int
list_load(srv_call *call, srv_obj *o, const Smsnap__Object *in)
{
    list *l = LIST(o);
    if ((uint64_t)in->n_values > call->st->limits.max_items)
        return call_fail(call, SM_ELIMIT, "%zu items, over the limit of %" PRIu64
                         " (--max-items)", in->n_values, call->st->limits.max_items);
    if (in->n_values > 0 && !list_reserve(l, in->n_values))
        return SM_ENOMEM;
    for (size_t i = 0; i < in->n_values; i++) {
        int rv = val_from_wire(call, in->values[i], &l->items[l->len]);
        if (rv != SM_OK)
            return rv;
        l->len++;
    }
    return SM_OK;
}

static const srv_op list_ops[] = {
    {SMWIRE__REQUEST__OP_LIST_APPEND, "list.append", list_op_append, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_LIST_EXTEND, "list.extend", list_op_extend, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_LIST_INSERT, "list.insert", list_op_insert, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_LIST_GET, "list.get", list_op_get, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_LIST_SET, "list.set", list_op_set, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_LIST_POP, "list.pop", list_op_pop, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_LIST_REMOVE, "list.remove", list_op_remove, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_LIST_INDEX, "list.index", list_op_index, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_LIST_COUNT, "list.count", list_op_count, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_LIST_LEN, "list.len", list_op_len, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_LIST_SLICE, "list.slice", list_op_slice, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_LIST_CLEAR, "list.clear", list_op_clear, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_LIST_MOVE, "list.move", list_op_move, SRV_OP_WRITE},
};

/* STATUS: size = items */
static int
list_info(srv_call *call, srv_obj *o, Smwire__ObjectInfo *out)
{
    (void)call;
    out->size = ((list *)o)->len;
    return SM_OK;
}

const srv_type srv_type_list = {
    .name = "list",
    .wire_type = SMWIRE__OBJ_TYPE__OBJ_LIST,
    .ops = list_ops,
    .nops = SM_NELEM(list_ops),
    .create = list_create,
    .destroy = list_destroy,
    .clone = list_clone,
    .size = sizeof(list),
    .save = list_save,
    .load = list_load,
    .info = list_info,
};
