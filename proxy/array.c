/* array.c - the array proxy (Python's multiprocessing Array). The shape
 * (typecode, length) comes back with OPEN and ATTACH and never changes, so
 * sm_array_typecode and sm_array_len answer locally.
 * Exported: the sm_array_* functions of syncmgr.h. */
#include <stdlib.h>
#include <string.h>

#include "smi.h"

struct sm_array {
    smi_obj o;
    char typecode;
    size_t len;
};

/* array_shape reads the shape from an OPEN or ATTACH reply and frees it. */
static int
array_shape(sm_array *a, Smwire__Reply *rep)
{
    int rv = SM_OK;
    if (rep->typecode == NULL || strlen(rep->typecode) != 1 || rep->n < 1)
        rv = smi_fail(SM_EPROTO, "array reply without its shape");
    else {
        a->typecode = rep->typecode[0];
        a->len = (size_t)rep->n;
    }
    smwire__reply__free_unpacked(rep, NULL);
    return rv;
}

static int
array_open_common(sm_client *c, const char *name, char typecode, const sm_value *init, size_t n,
                  sm_array **out)
{
    static const char codes[] = "bBhHiIlLqQfd";
    char tc[2] = {typecode, '\0'};
    Smwire__Value **wv = NULL;
    Smwire__Reply *rep;

    smi_detail_clear();
    if (out == NULL)
        return smi_fail(SM_EINVAL, "no output pointer");
    if (typecode == '\0' || strchr(codes, typecode) == NULL)
        return smi_fail(SM_EINVAL, "typecode '%c' is not one of %s", typecode, codes);
    if (n == 0 || n > 16u * 1024 * 1024)
        return smi_fail(SM_EINVAL, "length %zu is not in 1..16777216", n);
    if (init != NULL) {
        int rv = smi_values_to_wire(init, n, &wv);
        if (rv != SM_OK)
            return rv;
    }
    sm_array *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        free(wv);
        return SM_ENOMEM;
    }
    Smwire__Open op = SMWIRE__OPEN__INIT;
    op.type = SMWIRE__OBJ_TYPE__OBJ_ARRAY;
    op.typecode = tc;
    op.length = n;
    op.values = wv;
    op.n_values = init != NULL ? n : 0;
    int rv = smi_obj_open(c, name, &op, &a->o, &rep);
    free(wv);
    if (rv == SM_OK)
        rv = array_shape(a, rep);
    if (rv != SM_OK) {
        free(a);
        return rv;
    }
    *out = a;
    return SM_OK;
}

int
sm_array_open(sm_client *c, const char *name, char typecode, const sm_value *init, size_t n,
              sm_array **out)
{
    if (name == NULL)
        return smi_fail(SM_EINVAL, "no name");
    return array_open_common(c, name, typecode, init, n, out);
}

int
sm_array_new(sm_client *c, char typecode, const sm_value *init, size_t n, sm_array **out)
{
    return array_open_common(c, NULL, typecode, init, n, out);
}

int
sm_array_attach(sm_client *c, const char *token, sm_array **out)
{
    Smwire__Reply *rep;
    if (out == NULL)
        return smi_fail(SM_EINVAL, "no output pointer");
    sm_array *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return SM_ENOMEM;
    int rv = smi_obj_attach(c, SMWIRE__OBJ_TYPE__OBJ_ARRAY, token, &a->o, &rep);
    if (rv == SM_OK)
        rv = array_shape(a, rep);
    if (rv != SM_OK) {
        free(a);
        return rv;
    }
    *out = a;
    return SM_OK;
}

const char *
sm_array_token(const sm_array *a)
{
    return a != NULL ? a->o.token : "";
}

int
sm_array_close(sm_array *a)
{
    if (a == NULL)
        return SM_OK;
    int rv = smi_obj_release(&a->o);
    free(a);
    return rv;
}

char
sm_array_typecode(const sm_array *a)
{
    return a != NULL ? a->typecode : '\0';
}

size_t
sm_array_len(const sm_array *a)
{
    return a != NULL ? a->len : 0;
}

/* array_start begins a request on a with its body. */
static int
array_start(sm_array *a, Smwire__Request *req, Smwire__ObjRef *ref, int op_case, void *body)
{
    smi_detail_clear();
    if (a == NULL)
        return smi_fail(SM_EINVAL, "no array");
    smi_req_init(req, ref, &a->o);
    req->op_case = (Smwire__Request__OpCase)op_case;
    req->array_get = body; /* every member of the op oneof shares this slot */
    return SM_OK;
}

int
sm_array_get(sm_array *a, int64_t index, sm_value *out)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Index ix = SMWIRE__INDEX__INIT;
    if (out == NULL)
        return smi_fail(SM_EINVAL, "no output value");
    int rv = array_start(a, &req, &ref, SMWIRE__REQUEST__OP_ARRAY_GET, &ix);
    if (rv != SM_OK)
        return rv;
    ix.index = index;
    return smi_batchable(&a->o, &req, SMI_R_VALUE, out, NULL);
}

/* array_index_value sends SET or ADD. */
static int
array_index_value(sm_array *a, int op_case, int64_t index, const sm_value *v, sm_value *out)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__IndexValue iv = SMWIRE__INDEX_VALUE__INIT;
    smi_wval wv;
    int rv = array_start(a, &req, &ref, op_case, &iv);
    if (rv == SM_OK)
        rv = smi_value_to_wire(v, &wv);
    if (rv != SM_OK)
        return rv;
    iv.index = index;
    iv.value = &wv.w;
    return smi_batchable(&a->o, &req, SMI_R_VALUE, out, NULL);
}

int
sm_array_set(sm_array *a, int64_t index, const sm_value *v)
{
    return array_index_value(a, SMWIRE__REQUEST__OP_ARRAY_SET, index, v, NULL);
}

int
sm_array_add(sm_array *a, int64_t index, const sm_value *delta, sm_value *out)
{
    return array_index_value(a, SMWIRE__REQUEST__OP_ARRAY_ADD, index, delta, out);
}

int
sm_array_get_slice(sm_array *a, int64_t start, int64_t stop, sm_value **valsp, size_t *np)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Range r = SMWIRE__RANGE__INIT;
    if (valsp == NULL || np == NULL)
        return smi_fail(SM_EINVAL, "no output");
    int rv = array_start(a, &req, &ref, SMWIRE__REQUEST__OP_ARRAY_GET_SLICE, &r);
    if (rv != SM_OK)
        return rv;
    r.start = start;
    r.stop = stop;
    return smi_batchable(&a->o, &req, SMI_R_VALUES, valsp, np);
}

int
sm_array_set_slice(sm_array *a, int64_t start, const sm_value *vals, size_t n)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__IndexValues iv = SMWIRE__INDEX_VALUES__INIT;
    int rv = array_start(a, &req, &ref, SMWIRE__REQUEST__OP_ARRAY_SET_SLICE, &iv);
    if (rv == SM_OK)
        rv = smi_values_to_wire(vals, n, &iv.values);
    if (rv != SM_OK)
        return rv;
    iv.index = start;
    iv.n_values = n;
    rv = smi_call_void(&a->o, &req);
    free(iv.values);
    return rv;
}
