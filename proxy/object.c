/* object.c - what every proxy shares: OPEN, ATTACH, RELEASE, and helpers
 * that make one round trip and copy the reply's parts out.
 * Exported: smi_req_init, smi_obj_open, smi_obj_attach, smi_obj_release,
 * smi_call_void, smi_call_value, smi_call_values, smi_call_keys, smi_call_n,
 * smi_call_flag, smi_check_key, smi_op, smi_check_wait, smi_thread_owner,
 * smi_obj_typed_open. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "smi.h"

uint64_t
smi_thread_owner(void)
{
    static uint64_t next;
    static __thread uint64_t mine;
    if (mine == 0)
        mine = __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED);
    return mine;
}

int
smi_check_wait(int64_t timeout_ms)
{
    if (timeout_ms < 0 && timeout_ms != SM_WAIT_FOREVER)
        return smi_fail(SM_EINVAL, "timeout %" PRId64 " ms", timeout_ms);
    return SM_OK;
}

int
smi_op(const smi_obj *o, int op_case, void *body, int64_t wait_ms, Smwire__Reply **repp)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Empty empty = SMWIRE__EMPTY__INIT;
    Smwire__Reply *rep;

    smi_req_init(&req, &ref, o);
    req.op_case = (Smwire__Request__OpCase)op_case;
    req.open = body != NULL ? body : (void *)&empty; /* every op member shares this slot */
    req.owner = smi_thread_owner();
    /* A condition wait holds the lock again before it answers, with no
     * bound on that part: its transport deadline must not cut it short. */
    bool unbounded = op_case == SMWIRE__REQUEST__OP_COND_WAIT;
    int rv = smi_call_ex(o->c, &req, wait_ms, unbounded, &rep);
    if (rv != SM_OK && rv != SM_EOWNERDEAD) /* the one success with news */
        return rv;
    if (repp != NULL)
        *repp = rep;
    else
        smwire__reply__free_unpacked(rep, NULL);
    return rv;
}

int
smi_obj_typed_open(sm_client *c, const char *name, Smwire__Open *op, size_t size, void **pp,
                   Smwire__Reply **repp)
{
    smi_detail_clear();
    if (pp == NULL)
        return smi_fail(SM_EINVAL, "no output pointer");
    void *p = calloc(1, size);
    if (p == NULL)
        return SM_ENOMEM;
    int rv = smi_obj_open(c, name, op, (smi_obj *)p, repp);
    if (rv != SM_OK) {
        free(p);
        return rv;
    }
    *pp = p;
    return SM_OK;
}

void
smi_req_init(Smwire__Request *req, Smwire__ObjRef *ref, const smi_obj *o)
{
    smwire__request__init(req);
    smwire__obj_ref__init(ref);
    ref->id = o->id;
    ref->nonce = o->nonce;
    ref->type = (Smwire__ObjType)o->type;
    req->obj = ref;
}

int
smi_move(const smi_obj *src, int op_case, bool src_front, const char *dst_token, bool dst_front,
         int64_t timeout_ms, sm_value *out)
{
    Smwire__Request req;
    Smwire__ObjRef ref, dref = SMWIRE__OBJ_REF__INIT;
    Smwire__Move mv = SMWIRE__MOVE__INIT;
    int type;
    if (dst_token == NULL || smi_token_parse(dst_token, &type, &dref.id, &dref.nonce) != SM_OK)
        return smi_fail(SM_EINVAL, "the destination is not an object token");
    if (type != SMWIRE__OBJ_TYPE__OBJ_LIST && type != SMWIRE__OBJ_TYPE__OBJ_QUEUE)
        return smi_fail(SM_EWRONGTYPE, "a move goes into a list or a queue, not %s", dst_token);
    dref.type = (Smwire__ObjType)type;
    mv.dest = &dref;
    mv.src_front = src_front;
    mv.dst_front = dst_front;
    if (timeout_ms != 0) { /* may wait: smi_op refuses it while recording */
        Smwire__Reply *rep;
        int rv = smi_op(src, op_case, &mv, timeout_ms, &rep);
        if (rv != SM_OK)
            return rv;
        rv = smi_reply_decode(rep, SMI_R_VALUE, out, NULL);
        smwire__reply__free_unpacked(rep, NULL);
        return rv;
    }
    smi_req_init(&req, &ref, src);
    req.op_case = (Smwire__Request__OpCase)op_case;
    req.list_move = &mv; /* the oneof's members share one slot */
    return smi_batchable(src, &req, SMI_R_VALUE, out, NULL);
}

int
smi_check_key(const char *key, size_t max)
{
    if (key == NULL)
        return smi_fail(SM_EINVAL, "no key");
    size_t n = strlen(key);
    if (n == 0 || n > max)
        return smi_fail(SM_EINVAL, "key is %zu bytes; keys are 1 to %zu bytes", n, max);
    return SM_OK;
}

/* obj_fill sets o from an OPEN or ATTACH reply. */
static int
obj_fill(sm_client *c, const Smwire__Reply *rep, int type, smi_obj *o)
{
    if (rep->obj == NULL || (int)rep->obj->type != type)
        return smi_fail(SM_EPROTO, "reply does not describe the object");
    o->c = c;
    o->id = rep->obj->id;
    o->nonce = rep->obj->nonce;
    o->type = type;
    smi_token_format(o->token, sizeof(o->token), type, o->id, o->nonce);
    return SM_OK;
}

/* obj_finish fills o and hands the reply on or frees it. */
static int
obj_finish(sm_client *c, Smwire__Reply *rep, int type, smi_obj *o, Smwire__Reply **repp)
{
    int rv = obj_fill(c, rep, type, o);
    if (rv == SM_OK && repp != NULL)
        *repp = rep;
    else
        smwire__reply__free_unpacked(rep, NULL);
    return rv;
}

int
smi_obj_open(sm_client *c, const char *name, Smwire__Open *op, smi_obj *o, Smwire__Reply **repp)
{
    Smwire__Request req = SMWIRE__REQUEST__INIT;
    Smwire__Reply *rep;

    smi_detail_clear();
    if (c == NULL)
        return smi_fail(SM_EINVAL, "no client");
    if (name != NULL) {
        int rv = smi_check_key(name, SMI_MAX_NAME);
        if (rv != SM_OK)
            return rv;
        op->name = (char *)name; /* packing only reads */
    }
    req.op_case = SMWIRE__REQUEST__OP_OPEN;
    req.open = op;
    int rv = smi_call(c, &req, 0, &rep);
    if (rv != SM_OK)
        return rv;
    return obj_finish(c, rep, op->type, o, repp);
}

int
smi_obj_attach(sm_client *c, int type, const char *token, smi_obj *o, Smwire__Reply **repp)
{
    Smwire__Request req = SMWIRE__REQUEST__INIT;
    Smwire__ObjRef ref = SMWIRE__OBJ_REF__INIT;
    Smwire__Empty empty = SMWIRE__EMPTY__INIT;
    Smwire__Reply *rep;
    int ttype;

    smi_detail_clear();
    if (c == NULL)
        return smi_fail(SM_EINVAL, "no client");
    if (smi_token_parse(token, &ttype, &ref.id, &ref.nonce) != SM_OK)
        return smi_fail(SM_EINVAL, "not an object token");
    if (ttype != type)
        return smi_fail(SM_EWRONGTYPE, "the token is of another type: %s", token);
    ref.type = (Smwire__ObjType)type;
    req.obj = &ref;
    req.op_case = SMWIRE__REQUEST__OP_ATTACH;
    req.attach = &empty;
    int rv = smi_call(c, &req, 0, &rep);
    if (rv != SM_OK)
        return rv;
    return obj_finish(c, rep, type, o, repp);
}

int
smi_obj_release(smi_obj *o)
{
    Smwire__Request req;
    Smwire__ObjRef ref;
    Smwire__Empty empty = SMWIRE__EMPTY__INIT;
    smi_req_init(&req, &ref, o);
    req.op_case = SMWIRE__REQUEST__OP_RELEASE;
    req.release = &empty;
    /* Not a batch operation, but a close always frees its proxy: the
     * release goes out now even while this thread records a batch. */
    Smwire__Reply *rep;
    int rv = smi_call_direct(o->c, &req, &rep);
    if (rv == SM_OK)
        smwire__reply__free_unpacked(rep, NULL);
    return rv;
}

/* --------------------------------------------------------- reply helpers */

int
smi_reply_decode(const Smwire__Reply *rep, int kind, void *out1, void *out2)
{
    int rv = SM_OK;
    switch (kind) {
    case SMI_R_VALUE:
        if (out1 != NULL)
            rv = smi_value_from_wire(rep->value, out1);
        break;
    case SMI_R_VALUES:
        rv = smi_values_from_wire(rep->values, rep->n_values, out1);
        if (rv == SM_OK)
            *(size_t *)out2 = rep->n_values;
        break;
    case SMI_R_KEYS:
        rv = smi_strings_from_wire(rep->keys, rep->n_keys, out1);
        if (rv == SM_OK)
            *(size_t *)out2 = rep->n_keys;
        break;
    case SMI_R_N:
        if (out1 != NULL)
            *(int64_t *)out1 = rep->n;
        break;
    case SMI_R_FLAG:
        if (out1 != NULL)
            *(bool *)out1 = rep->flag;
        break;
    case SMI_R_CAS:
        if (out1 != NULL)
            rv = smi_value_from_wire(rep->value, out1);
        if (rv == SM_OK && out2 != NULL)
            *(bool *)out2 = rep->flag;
        break;
    default:
        break;
    }
    return rv;
}

/* smi_call_kind makes the round trip now and decodes the reply. */
static int
smi_call_kind(const smi_obj *o, Smwire__Request *req, int kind, void *out1, void *out2)
{
    Smwire__Reply *rep;
    int rv = smi_call(o->c, req, 0, &rep);
    if (rv != SM_OK)
        return rv;
    rv = smi_reply_decode(rep, kind, out1, out2);
    smwire__reply__free_unpacked(rep, NULL);
    return rv;
}

int
smi_batchable(const smi_obj *o, Smwire__Request *req, int kind, void *out1, void *out2)
{
    sm_batch *b = smi_recording(o->c);
    if (b != NULL)
        return smi_batch_add(b, req, kind, out1, out2);
    return smi_call_kind(o, req, kind, out1, out2);
}

int
smi_call_void(const smi_obj *o, Smwire__Request *req)
{
    return smi_call_kind(o, req, SMI_R_VOID, NULL, NULL);
}

int
smi_call_value(const smi_obj *o, Smwire__Request *req, sm_value *out)
{
    return smi_call_kind(o, req, SMI_R_VALUE, out, NULL);
}

int
smi_call_values(const smi_obj *o, Smwire__Request *req, sm_value **valsp, size_t *np)
{
    return smi_call_kind(o, req, SMI_R_VALUES, valsp, np);
}

int
smi_call_keys(const smi_obj *o, Smwire__Request *req, char ***keysp, size_t *np)
{
    return smi_call_kind(o, req, SMI_R_KEYS, keysp, np);
}

int
smi_call_n(const smi_obj *o, Smwire__Request *req, int64_t *out)
{
    return smi_call_kind(o, req, SMI_R_N, out, NULL);
}

int
smi_call_flag(const smi_obj *o, Smwire__Request *req, bool *out)
{
    return smi_call_kind(o, req, SMI_R_FLAG, out, NULL);
}
