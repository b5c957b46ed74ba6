/* ns.c - the namespace proxy (Python's manager Namespace).
 * Exported: the sm_ns_* functions of syncmgr.h. */
#include <stdlib.h>

#include "smi.h"

SMI_PROXY(ns, SMWIRE__OBJ_TYPE__OBJ_NAMESPACE)
SMI_PROXY_PLAIN(ns, SMWIRE__OBJ_TYPE__OBJ_NAMESPACE)

/* ns_start begins a request on ns; with_attr says whether attr is one. */
static int
ns_start(sm_ns *ns, bool with_attr, const char *attr, Smwire__Request *req, Smwire__ObjRef *ref)
{
    smi_detail_clear();
    if (ns == NULL)
        return smi_fail(SM_EINVAL, "no namespace");
    smi_req_init(req, ref, &ns->o);
    return with_attr ? smi_check_key(attr, SMI_MAX_NAME) : SM_OK;
}

int
sm_ns_set(sm_ns *ns, const char *attr, const sm_value *v)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__KeyValue kv = SMWIRE__KEY_VALUE__INIT;
    smi_wval wv;
    int rv = ns_start(ns, true, attr, &req, &ref);
    if (rv == SM_OK)
        rv = smi_value_to_wire(v, &wv);
    if (rv != SM_OK)
        return rv;
    kv.key = (char *)attr;
    kv.value = &wv.w;
    req.op_case = SMWIRE__REQUEST__OP_NS_SET;
    req.ns_set = &kv;
    return smi_batchable(&ns->o, &req, SMI_R_VOID, NULL, NULL);
}

int
sm_ns_get(sm_ns *ns, const char *attr, sm_value *out)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Key k = SMWIRE__KEY__INIT;
    if (out == NULL)
        return smi_fail(SM_EINVAL, "no output value");
    int rv = ns_start(ns, true, attr, &req, &ref);
    if (rv != SM_OK)
        return rv;
    k.key = (char *)attr;
    req.op_case = SMWIRE__REQUEST__OP_NS_GET;
    req.ns_get = &k;
    return smi_batchable(&ns->o, &req, SMI_R_VALUE, out, NULL);
}

int
sm_ns_del(sm_ns *ns, const char *attr)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Key k = SMWIRE__KEY__INIT;
    int rv = ns_start(ns, true, attr, &req, &ref);
    if (rv != SM_OK)
        return rv;
    k.key = (char *)attr;
    req.op_case = SMWIRE__REQUEST__OP_NS_DEL;
    req.ns_del = &k;
    return smi_batchable(&ns->o, &req, SMI_R_VOID, NULL, NULL);
}

int
sm_ns_list(sm_ns *ns, char ***namesp, size_t *np)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    if (namesp == NULL || np == NULL)
        return smi_fail(SM_EINVAL, "no output");
    int rv = ns_start(ns, false, NULL, &req, &ref);
    if (rv != SM_OK)
        return rv;
    req.op_case = SMWIRE__REQUEST__OP_NS_LIST;
    req.ns_list = &e;
    return smi_batchable(&ns->o, &req, SMI_R_KEYS, namesp, np);
}
