/* list.c - the list proxy: one round trip per call, results copied out.
 * Exported: the sm_list_* functions of syncmgr.h. */
#include <stdlib.h>

#include "smi.h"

SMI_PROXY(list, SMWIRE__OBJ_TYPE__OBJ_LIST)
SMI_PROXY_PLAIN(list, SMWIRE__OBJ_TYPE__OBJ_LIST)

/* list_start begins a request on l with its body (any member of the op
 * oneof: they share one slot). */
static int
list_start(sm_list *l, Smwire__Request *req, Smwire__ObjRef *ref, int op_case, void *body)
{
    smi_detail_clear();
    if (l == NULL)
        return smi_fail(SM_EINVAL, "no list");
    smi_req_init(req, ref, &l->o);
    req->op_case = (Smwire__Request__OpCase)op_case;
    req->list_append = body;
    return SM_OK;
}

int
sm_list_append(sm_list *l, const sm_value *v)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    smi_wval wv;
    int rv = list_start(l, &req, &ref, SMWIRE__REQUEST__OP_LIST_APPEND, &wv.w);
    if (rv == SM_OK)
        rv = smi_value_to_wire(v, &wv);
    return rv == SM_OK ? smi_batchable(&l->o, &req, SMI_R_VOID, NULL, NULL) : rv;
}

int
sm_list_extend(sm_list *l, const sm_value *vals, size_t n)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Values vs = SMWIRE__VALUES__INIT;
    int rv = list_start(l, &req, &ref, SMWIRE__REQUEST__OP_LIST_EXTEND, &vs);
    if (rv == SM_OK)
        rv = smi_values_to_wire(vals, n, &vs.values);
    if (rv != SM_OK)
        return rv;
    vs.n_values = n;
    rv = smi_call_void(&l->o, &req);
    free(vs.values);
    return rv;
}

/* list_index_value sends INSERT or SET. */
static int
list_index_value(sm_list *l, int op_case, int64_t index, const sm_value *v)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__IndexValue iv = SMWIRE__INDEX_VALUE__INIT;
    smi_wval wv;
    int rv = list_start(l, &req, &ref, op_case, &iv);
    if (rv == SM_OK)
        rv = smi_value_to_wire(v, &wv);
    if (rv != SM_OK)
        return rv;
    iv.index = index;
    iv.value = &wv.w;
    return smi_batchable(&l->o, &req, SMI_R_VOID, NULL, NULL);
}

int
sm_list_insert(sm_list *l, int64_t index, const sm_value *v)
{
    return list_index_value(l, SMWIRE__REQUEST__OP_LIST_INSERT, index, v);
}

int
sm_list_set(sm_list *l, int64_t index, const sm_value *v)
{
    return list_index_value(l, SMWIRE__REQUEST__OP_LIST_SET, index, v);
}

/* list_index sends GET or POP. */
static int
list_index(sm_list *l, int op_case, int64_t index, sm_value *out)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Index ix = SMWIRE__INDEX__INIT;
    int rv = list_start(l, &req, &ref, op_case, &ix);
    if (rv != SM_OK)
        return rv;
    ix.index = index;
    return smi_batchable(&l->o, &req, SMI_R_VALUE, out, NULL);
}

int
sm_list_get(sm_list *l, int64_t index, sm_value *out)
{
    if (out == NULL)
        return smi_fail(SM_EINVAL, "no output value");
    return list_index(l, SMWIRE__REQUEST__OP_LIST_GET, index, out);
}

int
sm_list_pop(sm_list *l, int64_t index, sm_value *out)
{
    return list_index(l, SMWIRE__REQUEST__OP_LIST_POP, index, out);
}

int
sm_list_move(sm_list *src, bool src_front, const char *dst_token, bool dst_front, sm_value *out)
{
    smi_detail_clear();
    if (src == NULL)
        return smi_fail(SM_EINVAL, "no list");
    return smi_move(&src->o, SMWIRE__REQUEST__OP_LIST_MOVE, src_front, dst_token, dst_front, 0,
                    out);
}

int
sm_list_remove(sm_list *l, const sm_value *v)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    smi_wval wv;
    int rv = list_start(l, &req, &ref, SMWIRE__REQUEST__OP_LIST_REMOVE, &wv.w);
    if (rv == SM_OK)
        rv = smi_value_to_wire(v, &wv);
    return rv == SM_OK ? smi_batchable(&l->o, &req, SMI_R_VOID, NULL, NULL) : rv;
}

int
sm_list_index(sm_list *l, const sm_value *v, int64_t start, int64_t stop, int64_t *out)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__ValueRange vr = SMWIRE__VALUE_RANGE__INIT;
    smi_wval wv;
    if (out == NULL)
        return smi_fail(SM_EINVAL, "no output");
    int rv = list_start(l, &req, &ref, SMWIRE__REQUEST__OP_LIST_INDEX, &vr);
    if (rv == SM_OK)
        rv = smi_value_to_wire(v, &wv);
    if (rv != SM_OK)
        return rv;
    vr.value = &wv.w;
    vr.start = start;
    vr.stop = stop;
    return smi_batchable(&l->o, &req, SMI_R_N, out, NULL);
}

int
sm_list_count(sm_list *l, const sm_value *v, size_t *out)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    smi_wval wv;
    int64_t n;
    if (out == NULL)
        return smi_fail(SM_EINVAL, "no output");
    int rv = list_start(l, &req, &ref, SMWIRE__REQUEST__OP_LIST_COUNT, &wv.w);
    if (rv == SM_OK)
        rv = smi_value_to_wire(v, &wv);
    if (rv == SM_OK)
        rv = smi_call_n(&l->o, &req, &n);
    if (rv == SM_OK)
        *out = (size_t)n;
    return rv;
}

int
sm_list_len(sm_list *l, size_t *out)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    int64_t n;
    if (out == NULL)
        return smi_fail(SM_EINVAL, "no output");
    int rv = list_start(l, &req, &ref, SMWIRE__REQUEST__OP_LIST_LEN, &e);
    if (rv == SM_OK)
        rv = smi_call_n(&l->o, &req, &n);
    if (rv == SM_OK)
        *out = (size_t)n;
    return rv;
}

int
sm_list_slice(sm_list *l, int64_t start, int64_t stop, sm_value **valsp, size_t *np)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Range r = SMWIRE__RANGE__INIT;
    if (valsp == NULL || np == NULL)
        return smi_fail(SM_EINVAL, "no output");
    int rv = list_start(l, &req, &ref, SMWIRE__REQUEST__OP_LIST_SLICE, &r);
    if (rv != SM_OK)
        return rv;
    r.start = start;
    r.stop = stop;
    return smi_batchable(&l->o, &req, SMI_R_VALUES, valsp, np);
}

int
sm_list_clear(sm_list *l)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    int rv = list_start(l, &req, &ref, SMWIRE__REQUEST__OP_LIST_CLEAR, &e);
    return rv == SM_OK ? smi_batchable(&l->o, &req, SMI_R_VOID, NULL, NULL) : rv;
}
