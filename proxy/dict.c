/* dict.c - the dict proxy: one round trip per call, results copied out.
 * Exported: the sm_dict_* functions of syncmgr.h. */
#include <stdlib.h>
#include <string.h>

#include "smi.h"

SMI_PROXY(dict, SMWIRE__OBJ_TYPE__OBJ_DICT)
SMI_PROXY_PLAIN(dict, SMWIRE__OBJ_TYPE__OBJ_DICT)

/* dict_check validates the proxy and key every keyed call takes. */
static int
dict_check(const sm_dict *d, const char *key)
{
    smi_detail_clear();
    if (d == NULL)
        return smi_fail(SM_EINVAL, "no dict");
    return smi_check_key(key, SMI_MAX_KEY);
}

int
sm_dict_get(sm_dict *d, const char *key, sm_value *out)
{
    int rv = dict_check(d, key);
    if (rv != SM_OK)
        return rv;
    if (out == NULL)
        return smi_fail(SM_EINVAL, "no output value");
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Key k = SMWIRE__KEY__INIT;
    smi_req_init(&req, &ref, &d->o);
    k.key = (char *)key;
    req.op_case = SMWIRE__REQUEST__OP_DICT_GET;
    req.dict_get = &k;
    return smi_batchable(&d->o, &req, SMI_R_VALUE, out, NULL);
}

int
sm_dict_get_or(sm_dict *d, const char *key, const sm_value *dflt, sm_value *out)
{
    if (dflt == NULL || out == NULL)
        return smi_fail(SM_EINVAL, "no default or output value");
    sm_value got;
    if (d != NULL && smi_recording(d->o.c) != NULL) /* it works on the reply here */
        return smi_fail(SM_EINVAL, "this call cannot be in a batch");
    int rv = sm_dict_get(d, key, &got);
    if (rv == SM_ENOKEY)
        return sm_value_copy(out, dflt);
    if (rv == SM_OK)
        *out = got;
    return rv;
}

/* dict_keyvalue sends one of the key+value operations. */
static int
dict_keyvalue(sm_dict *d, int op_case, const char *key, const sm_value *v, bool need_value,
              sm_value *out)
{
    int rv = dict_check(d, key);
    if (rv != SM_OK)
        return rv;
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__KeyValue kv = SMWIRE__KEY_VALUE__INIT;
    smi_wval wv;
    smi_req_init(&req, &ref, &d->o);
    kv.key = (char *)key;
    if (v != NULL || need_value) {
        rv = smi_value_to_wire(v, &wv);
        if (rv != SM_OK)
            return rv;
        kv.value = &wv.w;
    }
    req.op_case = (Smwire__Request__OpCase)op_case;
    req.dict_set = &kv; /* every KeyValue member shares this slot */
    return smi_batchable(&d->o, &req, SMI_R_VALUE, out, NULL);
}

int
sm_dict_set(sm_dict *d, const char *key, const sm_value *v)
{
    return dict_keyvalue(d, SMWIRE__REQUEST__OP_DICT_SET, key, v, true, NULL);
}

int
sm_dict_pop(sm_dict *d, const char *key, const sm_value *dflt, sm_value *out)
{
    if (out == NULL)
        return smi_fail(SM_EINVAL, "no output value");
    return dict_keyvalue(d, SMWIRE__REQUEST__OP_DICT_POP, key, dflt, false, out);
}

int
sm_dict_setdefault(sm_dict *d, const char *key, const sm_value *dflt, sm_value *out)
{
    return dict_keyvalue(d, SMWIRE__REQUEST__OP_DICT_SETDEFAULT, key, dflt, true, out);
}

int
sm_dict_incr(sm_dict *d, const char *key, const sm_value *delta, sm_value *out)
{
    if (delta != NULL && delta->type != SM_INT && delta->type != SM_DOUBLE)
        return smi_fail(SM_EBADVALUE, "delta is not a number");
    return dict_keyvalue(d, SMWIRE__REQUEST__OP_DICT_INCR, key, delta, true, out);
}

/* dict_key sends one of the key-only operations (batchable). */
static int
dict_key(sm_dict *d, int op_case, const char *key, int kind, void *out)
{
    int rv = dict_check(d, key);
    if (rv != SM_OK)
        return rv;
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Key k = SMWIRE__KEY__INIT;
    smi_req_init(&req, &ref, &d->o);
    k.key = (char *)key;
    req.op_case = (Smwire__Request__OpCase)op_case;
    req.dict_del = &k; /* every Key member shares this slot */
    return smi_batchable(&d->o, &req, kind, out, NULL);
}

int
sm_dict_del(sm_dict *d, const char *key)
{
    return dict_key(d, SMWIRE__REQUEST__OP_DICT_DEL, key, SMI_R_VOID, NULL);
}

int
sm_dict_contains(sm_dict *d, const char *key, bool *out)
{
    if (out == NULL)
        return smi_fail(SM_EINVAL, "no output");
    return dict_key(d, SMWIRE__REQUEST__OP_DICT_CONTAINS, key, SMI_R_FLAG, out);
}

/* dict_plain starts a request with an empty body. */
static int
dict_plain(sm_dict *d, int op_case, Smwire__Request *req, Smwire__ObjRef *ref,
           Smwire__Empty *empty)
{
    smi_detail_clear();
    if (d == NULL)
        return smi_fail(SM_EINVAL, "no dict");
    smi_req_init(req, ref, &d->o);
    smwire__empty__init(empty);
    req->op_case = (Smwire__Request__OpCase)op_case;
    req->dict_len = empty; /* every Empty member shares this slot */
    return SM_OK;
}

int
sm_dict_len(sm_dict *d, size_t *out)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Empty e;
    int64_t n;
    if (out == NULL)
        return smi_fail(SM_EINVAL, "no output");
    int rv = dict_plain(d, SMWIRE__REQUEST__OP_DICT_LEN, &req, &ref, &e);
    if (rv == SM_OK)
        rv = smi_call_n(&d->o, &req, &n);
    if (rv == SM_OK)
        *out = (size_t)n;
    return rv;
}

int
sm_dict_clear(sm_dict *d)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Empty e;
    int rv = dict_plain(d, SMWIRE__REQUEST__OP_DICT_CLEAR, &req, &ref, &e);
    return rv == SM_OK ? smi_batchable(&d->o, &req, SMI_R_VOID, NULL, NULL) : rv;
}

int
sm_dict_keys(sm_dict *d, char ***keysp, size_t *np)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Empty e;
    if (keysp == NULL || np == NULL)
        return smi_fail(SM_EINVAL, "no output");
    int rv = dict_plain(d, SMWIRE__REQUEST__OP_DICT_KEYS, &req, &ref, &e);
    return rv == SM_OK ? smi_batchable(&d->o, &req, SMI_R_KEYS, keysp, np) : rv;
}

int
sm_dict_values(sm_dict *d, sm_value **valsp, size_t *np)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Empty e;
    if (valsp == NULL || np == NULL)
        return smi_fail(SM_EINVAL, "no output");
    int rv = dict_plain(d, SMWIRE__REQUEST__OP_DICT_VALUES, &req, &ref, &e);
    return rv == SM_OK ? smi_batchable(&d->o, &req, SMI_R_VALUES, valsp, np) : rv;
}

int
sm_dict_items(sm_dict *d, char ***keysp, sm_value **valsp, size_t *np)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Empty e;
    Smwire__Reply *rep;
    char **keys;
    sm_value *vals;
    if (keysp == NULL || valsp == NULL || np == NULL)
        return smi_fail(SM_EINVAL, "no output");
    int rv = dict_plain(d, SMWIRE__REQUEST__OP_DICT_ITEMS, &req, &ref, &e);
    if (rv == SM_OK)
        rv = smi_call(d->o.c, &req, 0, &rep);
    if (rv != SM_OK)
        return rv;
    if (rep->n_keys != rep->n_values) {
        smwire__reply__free_unpacked(rep, NULL);
        return smi_fail(SM_EPROTO, "items reply with %zu keys and %zu values", rep->n_keys,
                        rep->n_values);
    }
    rv = smi_strings_from_wire(rep->keys, rep->n_keys, &keys);
    if (rv == SM_OK) {
        rv = smi_values_from_wire(rep->values, rep->n_values, &vals);
        if (rv != SM_OK)
            sm_strings_free(keys, rep->n_keys);
    }
    if (rv == SM_OK) {
        *keysp = keys;
        *valsp = vals;
        *np = rep->n_keys;
    }
    smwire__reply__free_unpacked(rep, NULL);
    return rv;
}

int
sm_dict_update(sm_dict *d, const char *const *keys, const sm_value *vals, size_t n)
{
    smi_detail_clear();
    if (d == NULL || (n > 0 && (keys == NULL || vals == NULL)))
        return smi_fail(SM_EINVAL, "no dict, keys or values");
    for (size_t i = 0; i < n; i++) {
        int rv = smi_check_key(keys[i], SMI_MAX_KEY);
        if (rv != SM_OK)
            return rv;
    }
    Smwire__Value **wv;
    int rv = smi_values_to_wire(vals, n, &wv);
    if (rv != SM_OK)
        return rv;
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Items it = SMWIRE__ITEMS__INIT;
    smi_req_init(&req, &ref, &d->o);
    it.n_keys = n;
    it.keys = (char **)keys;
    it.n_values = n;
    it.values = wv;
    req.op_case = SMWIRE__REQUEST__OP_DICT_UPDATE;
    req.dict_update = &it;
    rv = smi_call_void(&d->o, &req);
    free(wv);
    return rv;
}
