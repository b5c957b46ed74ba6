/* obj_var.c - vars: one shared value, Python's multiprocessing Value.
 *
 * Besides get and set, a var has the compound operations that save Python
 * users a Lock round trip or three: atomic add and compare-and-swap.
 * Exported: srv_type_var. */
#include <stdlib.h>

#include "srv.h"

typedef struct var {
    srv_obj hdr;
    srv_val v;
} var;

#define VAR(o) (&((var *)(o))->v)

/* VAR.GET -> value */
static int
var_op_get(srv_call *call, srv_obj *o)
{
    return reply_value(call, VAR(o));
}

/* VAR.SET value */
static int
var_op_set(srv_call *call, srv_obj *o)
{
    srv_val v;
    int rv = val_from_wire(call, call->req->var_set, &v);
    if (rv != SM_OK)
        return rv;
    val_clear(call->st, VAR(o));
    *VAR(o) = v;
    return SM_OK;
}

/* VAR.ADD delta -> new value */
static int
var_op_add(srv_call *call, srv_obj *o)
{
    srv_val delta, sum;
    int rv = val_from_wire(call, call->req->var_add, &delta);
    if (rv != SM_OK)
        return rv;
    rv = val_add(VAR(o), &delta, &sum);
    val_clear(call->st, &delta);
    if (rv != SM_OK)
        return call_fail(call, rv, rv == SM_EOVERFLOW ? "int64 overflow" : "not a number");
    *VAR(o) = sum; /* the old value was a number or nil: nothing to free */
    return reply_value(call, VAR(o));
}

/* VAR.CAS expected desired -> flag (swapped), value (held now) */
static int
var_op_cas(srv_call *call, srv_obj *o)
{
    const Smwire__Cas *c = call->req->var_cas;
    srv_val expected, desired;
    int rv = val_from_wire(call, c->expected, &expected);
    if (rv != SM_OK)
        return rv;
    rv = val_from_wire(call, c->desired, &desired);
    if (rv != SM_OK) {
        val_clear(call->st, &expected);
        return rv;
    }
    call->rep.flag = val_equal(VAR(o), &expected);
    if (call->rep.flag) {
        val_clear(call->st, VAR(o));
        *VAR(o) = desired;
    } else {
        val_clear(call->st, &desired);
    }
    val_clear(call->st, &expected);
    return reply_value(call, VAR(o));
}

static int
var_create(srv_call *call, const Smwire__Open *op, srv_obj **out)
{
    var *v;
    srv_val init = {.type = SM_NIL};
    if (op->n_values > 1)
        return call_fail(call, SM_EPROTO, "a var starts with one value, not %zu", op->n_values);
    if (op->n_values == 1) {
        int rv = val_from_wire(call, op->values[0], &init);
        if (rv != SM_OK)
            return rv;
    }
    v = calloc(1, sizeof(*v));
    if (v == NULL) {
        val_clear(call->st, &init);
        return SM_ENOMEM;
    }
    v->v = init;
    *out = &v->hdr;
    return SM_OK;
}

static void
var_destroy(srv_state *st, srv_obj *o)
{
    val_clear(st, VAR(o));
    free(o);
}

static int
var_clone(srv_state *st, srv_obj *o, srv_obj **out)
{
    (void)st;
    var *v = calloc(1, sizeof(*v));
    if (v == NULL || val_copy(&v->v, VAR(o)) != SM_OK) {
        free(v);
        return SM_ENOMEM;
    }
    *out = &v->hdr;
    return SM_OK;
}

/* A snapshot holds the one value. */
static int
var_save(srv_call *call, srv_obj *o, Smsnap__Object *out)
{
    if (snap_values(call, out, 1) != SM_OK)
        return SM_ENOMEM;
    return val_to_wire(call, VAR(o), out->values[0]);
}

static int
var_load(srv_call *call, srv_obj *o, const Smsnap__Object *in)
{
    if (in->n_values != 1)
        return call_fail(call, SM_EPROTO, "a var holds one value, not %zu", in->n_values);
    val_clear(call->st, VAR(o));
    return val_from_wire(call, in->values[0], VAR(o));
}

static const srv_op var_ops[] = {
    {SMWIRE__REQUEST__OP_VAR_GET, "var.get", var_op_get, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_VAR_SET, "var.set", var_op_set, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_VAR_ADD, "var.add", var_op_add, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_VAR_CAS, "var.cas", var_op_cas, SRV_OP_WRITE},
};

const srv_type srv_type_var = {
    .name = "var",
    .wire_type = SMWIRE__OBJ_TYPE__OBJ_VAR,
    .ops = var_ops,
    .nops = SM_NELEM(var_ops),
    .create = var_create,
    .destroy = var_destroy,
    .clone = var_clone,
    .size = sizeof(var),
    .save = var_save,
    .load = var_load,
};
