/* var.c - the var proxy (Python's multiprocessing Value).
 * Exported: the sm_var_* functions of syncmgr.h. */
#include <stdlib.h>

#include "smi.h"

SMI_PROXY(var, SMWIRE__OBJ_TYPE__OBJ_VAR)

/* var_open_common creates or finds a var with an optional initial value. */
static int
var_open_common(sm_client *c, const char *name, const sm_value *init, sm_var **out)
{
    smi_detail_clear();
    if (out == NULL)
        return smi_fail(SM_EINVAL, "no output pointer");
    Smwire__Open op = SMWIRE__OPEN__INIT;
    Smwire__Value *vals[1];
    smi_wval wv;
    op.type = SMWIRE__OBJ_TYPE__OBJ_VAR;
    if (init != NULL) {
        int rv = smi_value_to_wire(init, &wv);
        if (rv != SM_OK)
            return rv;
        vals[0] = &wv.w;
        op.values = vals;
        op.n_values = 1;
    }
    sm_var *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return SM_ENOMEM;
    int rv = smi_obj_open(c, name, &op, &v->o, NULL);
    if (rv != SM_OK) {
        free(v);
        return rv;
    }
    *out = v;
    return SM_OK;
}

int
sm_var_open(sm_client *c, const char *name, const sm_value *init, sm_var **out)
{
    if (name == NULL)
        return smi_fail(SM_EINVAL, "no name");
    return var_open_common(c, name, init, out);
}

int
sm_var_new(sm_client *c, const sm_value *init, sm_var **out)
{
    return var_open_common(c, NULL, init, out);
}

/* var_start begins a request on v with its body. */
static int
var_start(sm_var *v, Smwire__Request *req, Smwire__ObjRef *ref, int op_case, void *body)
{
    smi_detail_clear();
    if (v == NULL)
        return smi_fail(SM_EINVAL, "no var");
    smi_req_init(req, ref, &v->o);
    req->op_case = (Smwire__Request__OpCase)op_case;
    req->var_get = body; /* every member of the op oneof shares this slot */
    return SM_OK;
}

int
sm_var_get(sm_var *v, sm_value *out)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    if (out == NULL)
        return smi_fail(SM_EINVAL, "no output value");
    int rv = var_start(v, &req, &ref, SMWIRE__REQUEST__OP_VAR_GET, &e);
    return rv == SM_OK ? smi_batchable(&v->o, &req, SMI_R_VALUE, out, NULL) : rv;
}

int
sm_var_set(sm_var *v, const sm_value *val)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    smi_wval wv;
    int rv = var_start(v, &req, &ref, SMWIRE__REQUEST__OP_VAR_SET, &wv.w);
    if (rv == SM_OK)
        rv = smi_value_to_wire(val, &wv);
    return rv == SM_OK ? smi_batchable(&v->o, &req, SMI_R_VOID, NULL, NULL) : rv;
}

int
sm_var_add(sm_var *v, const sm_value *delta, sm_value *out)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    smi_wval wv;
    if (delta != NULL && delta->type != SM_INT && delta->type != SM_DOUBLE)
        return smi_fail(SM_EBADVALUE, "delta is not a number");
    int rv = var_start(v, &req, &ref, SMWIRE__REQUEST__OP_VAR_ADD, &wv.w);
    if (rv == SM_OK)
        rv = smi_value_to_wire(delta, &wv);
    return rv == SM_OK ? smi_batchable(&v->o, &req, SMI_R_VALUE, out, NULL) : rv;
}

int
sm_var_cas(sm_var *v, const sm_value *expected, const sm_value *desired, bool *swapped,
           sm_value *current)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Cas cas = SMWIRE__CAS__INIT;
    smi_wval we, wd;
    int rv = var_start(v, &req, &ref, SMWIRE__REQUEST__OP_VAR_CAS, &cas);
    if (rv == SM_OK)
        rv = smi_value_to_wire(expected, &we);
    if (rv == SM_OK)
        rv = smi_value_to_wire(desired, &wd);
    if (rv != SM_OK)
        return rv;
    cas.expected = &we.w;
    cas.desired = &wd.w;
    return smi_batchable(&v->o, &req, SMI_R_CAS, current, swapped);
}
