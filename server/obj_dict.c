/* obj_dict.c - dicts: string keys to values, in insertion order.
 *
 * Top half: kv_* work on any srv_map and are shared with the namespace
 * (obj_ns.c). Bottom half: the DICT.* handlers. A value stored in a dict
 * owns its string and one reference to an object it names; replacing or
 * deleting it gives them back. Batch operations (update) check and convert
 * every pair before changing anything. A new key past --max-keys is
 * SM_ELIMIT (kv_room), for one key or for a whole update.
 * Snapshots save keys and values in order (kv_save) and load them back
 * with the same key and --max-keys checks as a set (kv_load).
 * Exported: srv_type_dict, kv_get, kv_set, kv_del, kv_keys, kv_save, kv_load. */
#include <stdlib.h>
#include <string.h>

#include "srv.h"

typedef struct dict {
    srv_obj hdr;
    srv_map map;
} dict;

/* ------------------------------------------------------------ key/value API */

int
kv_get(srv_call *call, srv_map *m, const char *key)
{
    map_ent *e = map_find(m, key, strlen(key));
    if (e == NULL)
        return SM_ENOKEY;
    return reply_value(call, &e->val);
}

/* kv_put stores *v (taking it) under key; on failure *v is still the
 * caller's. */
static int
kv_put(srv_state *st, srv_map *m, const char *key, srv_val *v)
{
    size_t klen = strlen(key);
    map_ent *e = map_find(m, key, klen);
    if (e == NULL) {
        e = map_add(m, key, klen);
        if (e == NULL)
            return SM_ENOMEM;
    } else {
        val_clear(st, &e->val);
    }
    e->val = *v;
    v->type = SM_NIL;
    return SM_OK;
}

/* kv_room checks that m may take nnew more keys (--max-keys). */
static int
kv_room(srv_call *call, srv_obj *o, const srv_map *m, size_t nnew)
{
    uint64_t max = call->st->limits.max_keys;
    if (nnew <= max && m->len <= max - nnew)
        return SM_OK;
    if (nnew == 1)
        return call_fail(call, SM_ELIMIT, "%s has %zu keys, the limit (--max-keys)",
                         o->type->name, m->len);
    return call_fail(call, SM_ELIMIT,
                     "%s has %zu keys; %zu more would pass the limit of %" PRIu64
                     " (--max-keys)",
                     o->type->name, m->len, nnew, max);
}

int
kv_set(srv_call *call, srv_obj *o, srv_map *m, const char *key, size_t max,
       const Smwire__Value *w)
{
    srv_val v;
    int rv = check_key(call, key, max);
    if (rv != SM_OK)
        return rv;
    if (map_find(m, key, strlen(key)) == NULL) {
        rv = kv_room(call, o, m, 1);
        if (rv != SM_OK)
            return rv;
    }
    rv = val_from_wire(call, w, &v);
    if (rv != SM_OK)
        return rv;
    rv = kv_put(call->st, m, key, &v);
    val_clear(call->st, &v);
    return rv;
}

int
kv_del(srv_call *call, srv_map *m, const char *key)
{
    map_ent *e = map_find(m, key, strlen(key));
    if (e == NULL)
        return SM_ENOKEY;
    val_clear(call->st, &e->val);
    map_del(m, e);
    return SM_OK;
}

int
kv_keys(srv_call *call, srv_map *m)
{
    if (m->len == 0)
        return SM_OK;
    char **keys = call_alloc(call, m->len * sizeof(*keys));
    if (keys == NULL)
        return SM_ENOMEM;
    size_t i = 0;
    for (map_ent *e = m->head; e != NULL; e = e->next)
        keys[i++] = e->key;
    call->rep.keys = keys;
    call->rep.n_keys = i;
    return SM_OK;
}

int
kv_save(srv_call *call, srv_map *m, Smsnap__Object *out)
{
    if (m->len == 0)
        return SM_OK;
    char **keys = call_alloc(call, m->len * sizeof(*keys));
    if (keys == NULL || snap_values(call, out, m->len) != SM_OK)
        return SM_ENOMEM;
    size_t i = 0;
    for (map_ent *e = m->head; e != NULL; e = e->next, i++) {
        keys[i] = e->key; /* borrowed: packed before the state lock is let go */
        if (val_to_wire(call, &e->val, out->values[i]) != SM_OK)
            return SM_ENOMEM;
    }
    out->keys = keys;
    out->n_keys = i;
    return SM_OK;
}

int
kv_load(srv_call *call, srv_obj *o, srv_map *m, size_t max, const Smsnap__Object *in)
{
    int rv = kv_room(call, o, m, in->n_keys);
    for (size_t i = 0; i < in->n_keys && rv == SM_OK; i++) {
        const char *key = in->keys[i];
        srv_val v;
        rv = check_key(call, key, max);
        if (rv != SM_OK)
            break;
        if (map_find(m, key, strlen(key)) != NULL)
            return call_fail(call, SM_EINVAL, "key '%.64s' appears twice", key);
        rv = val_from_wire(call, in->values[i], &v);
        if (rv == SM_OK)
            rv = kv_put(call->st, m, key, &v);
        val_clear(call->st, &v); /* NIL once stored */
    }
    return rv;
}

/* dict_reply_values puts every value, in order, into the reply. */
static int
dict_reply_values(srv_call *call, srv_map *m)
{
    if (m->len == 0)
        return SM_OK;
    Smwire__Value **pv = call_alloc(call, m->len * sizeof(*pv));
    Smwire__Value *wv = call_alloc(call, m->len * sizeof(*wv));
    if (pv == NULL || wv == NULL)
        return SM_ENOMEM;
    size_t i = 0;
    for (map_ent *e = m->head; e != NULL; e = e->next, i++) {
        if (val_to_wire(call, &e->val, &wv[i]) != SM_OK)
            return SM_ENOMEM;
        pv[i] = &wv[i];
    }
    call->rep.values = pv;
    call->rep.n_values = i;
    return SM_OK;
}

/* ----------------------------------------------------------------- handlers */

#define DICT(o) (&((dict *)(o))->map)

/* DICT.GET key -> value | SM_ENOKEY */
static int
dict_op_get(srv_call *call, srv_obj *o)
{
    return kv_get(call, DICT(o), call->req->dict_get->key);
}

/* DICT.SET key value */
static int
dict_op_set(srv_call *call, srv_obj *o)
{
    const Smwire__KeyValue *kv = call->req->dict_set;
    return kv_set(call, o, DICT(o), kv->key, SRV_MAX_KEY, kv->value);
}

/* DICT.DEL key | SM_ENOKEY */
static int
dict_op_del(srv_call *call, srv_obj *o)
{
    return kv_del(call, DICT(o), call->req->dict_del->key);
}

/* DICT.CONTAINS key -> flag */
static int
dict_op_contains(srv_call *call, srv_obj *o)
{
    const char *key = call->req->dict_contains->key;
    call->rep.flag = map_find(DICT(o), key, strlen(key)) != NULL;
    return SM_OK;
}

/* DICT.LEN -> n */
static int
dict_op_len(srv_call *call, srv_obj *o)
{
    call->rep.n = (int64_t)DICT(o)->len;
    return SM_OK;
}

/* DICT.KEYS -> keys */
static int
dict_op_keys(srv_call *call, srv_obj *o)
{
    return kv_keys(call, DICT(o));
}

/* DICT.VALUES -> values */
static int
dict_op_values(srv_call *call, srv_obj *o)
{
    return dict_reply_values(call, DICT(o));
}

/* DICT.ITEMS -> keys, values */
static int
dict_op_items(srv_call *call, srv_obj *o)
{
    int rv = kv_keys(call, DICT(o));
    return rv != SM_OK ? rv : dict_reply_values(call, DICT(o));
}

/* dict_update_room checks that the keys of an update that are new to the
 * dict fit under --max-keys. A key absent from the dict may come twice in
 * one update; the exact count (a scratch map) is only needed when the
 * simple count passes the limit. */
static int
dict_update_room(srv_call *call, srv_obj *o, const Smwire__Items *it)
{
    srv_map *m = DICT(o);
    size_t nnew = 0;
    for (size_t i = 0; i < it->n_keys; i++)
        nnew += map_find(m, it->keys[i], strlen(it->keys[i])) == NULL;
    if (kv_room(call, o, m, nnew) == SM_OK)
        return SM_OK;
    srv_map seen = {0};
    nnew = 0;
    for (size_t i = 0; i < it->n_keys; i++) {
        size_t klen = strlen(it->keys[i]);
        if (map_find(m, it->keys[i], klen) != NULL || map_find(&seen, it->keys[i], klen) != NULL)
            continue;
        if (map_add(&seen, it->keys[i], klen) == NULL) {
            map_clear(call->st, &seen);
            return SM_ENOMEM;
        }
        nnew++;
    }
    map_clear(call->st, &seen);
    call->detail[0] = '\0';
    return kv_room(call, o, m, nnew);
}

/* DICT.UPDATE keys values: all pairs or none */
static int
dict_op_update(srv_call *call, srv_obj *o)
{
    const Smwire__Items *it = call->req->dict_update;
    srv_state *st = call->st;
    int rv = SM_OK;
    size_t i, n = it->n_keys;

    if (it->n_values != n)
        return call_fail(call, SM_EPROTO, "%zu keys but %zu values", n, it->n_values);
    srv_val *vals = calloc(n ? n : 1, sizeof(*vals));
    if (vals == NULL)
        return SM_ENOMEM;
    for (i = 0; i < n && rv == SM_OK; i++)
        rv = check_key(call, it->keys[i], SRV_MAX_KEY);
    if (rv == SM_OK)
        rv = dict_update_room(call, o, it);
    for (i = 0; i < n && rv == SM_OK; i++)
        rv = val_from_wire(call, it->values[i], &vals[i]);
    /* Only an allocation failure can stop this loop half way. */
    for (i = 0; i < n && rv == SM_OK; i++)
        rv = kv_put(st, DICT(o), it->keys[i], &vals[i]);
    for (i = 0; i < n; i++)
        val_clear(st, &vals[i]);
    free(vals);
    return rv;
}

/* DICT.POP key default? -> value | SM_ENOKEY */
static int
dict_op_pop(srv_call *call, srv_obj *o)
{
    const Smwire__KeyValue *kv = call->req->dict_pop;
    srv_map *m = DICT(o);
    map_ent *e = map_find(m, kv->key, strlen(kv->key));
    if (e == NULL) {
        if (kv->value == NULL)
            return SM_ENOKEY;
        call->rep.value = kv->value; /* the default, echoed */
        return SM_OK;
    }
    srv_val *kept = call_keep(call, &e->val);
    if (kept == NULL)
        return SM_ENOMEM;
    map_del(m, e);
    return reply_value(call, kept);
}

/* DICT.SETDEFAULT key default -> value now stored */
static int
dict_op_setdefault(srv_call *call, srv_obj *o)
{
    const Smwire__KeyValue *kv = call->req->dict_setdefault;
    map_ent *e = map_find(DICT(o), kv->key, strlen(kv->key));
    if (e != NULL)
        return reply_value(call, &e->val);
    int rv = kv_set(call, o, DICT(o), kv->key, SRV_MAX_KEY, kv->value);
    if (rv != SM_OK)
        return rv;
    return kv_get(call, DICT(o), kv->key);
}

/* DICT.CLEAR */
static int
dict_op_clear(srv_call *call, srv_obj *o)
{
    map_clear(call->st, DICT(o));
    return SM_OK;
}

/* DICT.INCR key delta -> new value */
static int
dict_op_incr(srv_call *call, srv_obj *o)
{
    const Smwire__KeyValue *kv = call->req->dict_incr;
    srv_map *m = DICT(o);
    srv_val delta, sum, nil = {.type = SM_NIL};
    int rv = check_key(call, kv->key, SRV_MAX_KEY);
    if (rv != SM_OK)
        return rv;
    rv = val_from_wire(call, kv->value, &delta);
    if (rv != SM_OK)
        return rv;
    size_t klen = strlen(kv->key);
    map_ent *e = map_find(m, kv->key, klen);
    if (e == NULL && (rv = kv_room(call, o, m, 1)) != SM_OK) {
        val_clear(call->st, &delta);
        return rv;
    }
    rv = val_add(e ? &e->val : &nil, &delta, &sum);
    val_clear(call->st, &delta);
    if (rv != SM_OK)
        return call_fail(call, rv, rv == SM_EOVERFLOW ? "int64 overflow" : "not a number");
    if (e == NULL) {
        e = map_add(m, kv->key, klen);
        if (e == NULL)
            return SM_ENOMEM;
    }
    e->val = sum; /* the old value was a number or nil: nothing to free */
    return reply_value(call, &e->val);
}

/* -------------------------------------------------------------------- type */

static int
dict_create(srv_call *call, const Smwire__Open *op, srv_obj **out)
{
    (void)call;
    (void)op;
    dict *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return SM_ENOMEM;
    *out = &d->hdr;
    return SM_OK;
}

static void
dict_destroy(srv_state *st, srv_obj *o)
{
    map_clear(st, DICT(o));
    free(o);
}

static int
dict_clone(srv_state *st, srv_obj *o, srv_obj **out)
{
    dict *d = calloc(1, sizeof(*d));
    if (d == NULL || map_copy(st, &d->map, DICT(o)) != SM_OK) {
        free(d);
        return SM_ENOMEM;
    }
    *out = &d->hdr;
    return SM_OK;
}

static srv_map *
dict_kv(srv_obj *o)
{
    return DICT(o);
}

static int
dict_save(srv_call *call, srv_obj *o, Smsnap__Object *out)
{
    return kv_save(call, DICT(o), out);
}

static int
dict_load(srv_call *call, srv_obj *o, const Smsnap__Object *in)
{
    return kv_load(call, o, DICT(o), SRV_MAX_KEY, in);
}

static const srv_op dict_ops[] = {
    {SMWIRE__REQUEST__OP_DICT_GET, "dict.get", dict_op_get, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_DICT_SET, "dict.set", dict_op_set, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_DICT_DEL, "dict.del", dict_op_del, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_DICT_CONTAINS, "dict.contains", dict_op_contains, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_DICT_LEN, "dict.len", dict_op_len, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_DICT_KEYS, "dict.keys", dict_op_keys, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_DICT_VALUES, "dict.values", dict_op_values, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_DICT_ITEMS, "dict.items", dict_op_items, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_DICT_UPDATE, "dict.update", dict_op_update, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_DICT_POP, "dict.pop", dict_op_pop, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_DICT_SETDEFAULT, "dict.setdefault", dict_op_setdefault, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_DICT_CLEAR, "dict.clear", dict_op_clear, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_DICT_INCR, "dict.incr", dict_op_incr, SRV_OP_WRITE},
};

/* STATUS: size = keys */
static int
dict_info(srv_call *call, srv_obj *o, Smwire__ObjectInfo *out)
{
    (void)call;
    out->size = ((dict *)o)->map.len;
    return SM_OK;
}

const srv_type srv_type_dict = {
    .name = "dict",
    .wire_type = SMWIRE__OBJ_TYPE__OBJ_DICT,
    .ops = dict_ops,
    .nops = SM_NELEM(dict_ops),
    .create = dict_create,
    .destroy = dict_destroy,
    .clone = dict_clone,
    .kv = dict_kv,
    .size = sizeof(dict),
    .save = dict_save,
    .load = dict_load,
    .info = dict_info,
};
