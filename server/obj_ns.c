/* obj_ns.c - namespaces: Python's manager Namespace, attributes by name.
 *
 * A namespace is a dict with short keys (attribute names, 1..255 bytes)
 * and a smaller set of operations; it shares the key/value half of
 * obj_dict.c.
 * Exported: srv_type_ns. */
#include <stdlib.h>

#include "srv.h"

typedef struct ns {
    srv_obj hdr;
    srv_map map;
} ns;

#define NS(o) (&((ns *)(o))->map)

/* NS.GET attr -> value | SM_ENOKEY */
static int
ns_op_get(srv_call *call, srv_obj *o)
{
    return kv_get(call, NS(o), call->req->ns_get->key);
}

/* NS.SET attr value */
static int
ns_op_set(srv_call *call, srv_obj *o)
{
    const Smwire__KeyValue *kv = call->req->ns_set;
    return kv_set(call, o, NS(o), kv->key, SRV_MAX_NAME, kv->value);
}

/* NS.DEL attr | SM_ENOKEY */
static int
ns_op_del(srv_call *call, srv_obj *o)
{
    return kv_del(call, NS(o), call->req->ns_del->key);
}

/* NS.LIST -> keys */
static int
ns_op_list(srv_call *call, srv_obj *o)
{
    return kv_keys(call, NS(o));
}

static int
ns_create(srv_call *call, const Smwire__Open *op, srv_obj **out)
{
    (void)call;
    (void)op;
    ns *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return SM_ENOMEM;
    *out = &n->hdr;
    return SM_OK;
}

static void
ns_destroy(srv_state *st, srv_obj *o)
{
    map_clear(st, NS(o));
    free(o);
}

static int
ns_clone(srv_state *st, srv_obj *o, srv_obj **out)
{
    ns *n = calloc(1, sizeof(*n));
    if (n == NULL || map_copy(st, &n->map, NS(o)) != SM_OK) {
        free(n);
        return SM_ENOMEM;
    }
    *out = &n->hdr;
    return SM_OK;
}

static srv_map *
ns_kv(srv_obj *o)
{
    return NS(o);
}

static int
ns_save(srv_call *call, srv_obj *o, Smsnap__Object *out)
{
    return kv_save(call, NS(o), out);
}

static int
ns_load(srv_call *call, srv_obj *o, const Smsnap__Object *in)
{
    return kv_load(call, o, NS(o), SRV_MAX_NAME, in);
}

static const srv_op ns_ops[] = {
    {SMWIRE__REQUEST__OP_NS_GET, "ns.get", ns_op_get, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_NS_SET, "ns.set", ns_op_set, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_NS_DEL, "ns.del", ns_op_del, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_NS_LIST, "ns.list", ns_op_list, SRV_OP_READ},
};

/* STATUS: size = attributes */
static int
ns_info(srv_call *call, srv_obj *o, Smwire__ObjectInfo *out)
{
    (void)call;
    out->size = NS(o)->len;
    return SM_OK;
}

const srv_type srv_type_ns = {
    .name = "namespace",
    .wire_type = SMWIRE__OBJ_TYPE__OBJ_NAMESPACE,
    .ops = ns_ops,
    .nops = SM_NELEM(ns_ops),
    .create = ns_create,
    .destroy = ns_destroy,
    .clone = ns_clone,
    .kv = ns_kv,
    .size = sizeof(ns),
    .save = ns_save,
    .load = ns_load,
    .info = ns_info,
};
