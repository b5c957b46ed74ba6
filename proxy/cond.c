/* cond.c - the condition proxy. A condition knows its lock (from the OPEN
 * or ATTACH reply): acquire and release go to that lock or rlock directly,
 * with this thread's identity, so the server sees one owner for both.
 * Exported: the sm_cond_* functions of syncmgr.h. */
#include <stdlib.h>
#include <string.h>

#include "smi.h"

struct sm_cond {
    smi_obj o;
    smi_obj lock; /* the bound lock or rlock; not a counted proxy of ours */
};

/* cond_bind reads the lock from a reply and frees it. */
static int
cond_bind(sm_cond *cv, Smwire__Reply *rep)
{
    int rv = SM_OK;
    const Smwire__ObjRef *r = rep->lock;
    if (r == NULL || (r->type != SMWIRE__OBJ_TYPE__OBJ_LOCK &&
                      r->type != SMWIRE__OBJ_TYPE__OBJ_RLOCK)) {
        rv = smi_fail(SM_EPROTO, "condition reply without its lock");
    } else {
        cv->lock.c = cv->o.c;
        cv->lock.id = r->id;
        cv->lock.nonce = r->nonce;
        cv->lock.type = (int)r->type;
        smi_token_format(cv->lock.token, sizeof(cv->lock.token), cv->lock.type, r->id, r->nonce);
    }
    smwire__reply__free_unpacked(rep, NULL);
    return rv;
}

static int
cond_open_common(sm_client *c, const char *name, const char *lock_token, sm_cond **out)
{
    Smwire__Open op = SMWIRE__OPEN__INIT;
    Smwire__ObjRef lref = SMWIRE__OBJ_REF__INIT;
    Smwire__Reply *rep;
    sm_cond *cv;

    smi_detail_clear();
    op.type = SMWIRE__OBJ_TYPE__OBJ_CONDITION;
    if (lock_token != NULL) {
        int t;
        if (smi_token_parse(lock_token, &t, &lref.id, &lref.nonce) != SM_OK)
            return smi_fail(SM_EINVAL, "lock_token is not an object token");
        if (t != SMWIRE__OBJ_TYPE__OBJ_LOCK && t != SMWIRE__OBJ_TYPE__OBJ_RLOCK)
            return smi_fail(SM_EWRONGTYPE, "a condition's lock is a lock or an rlock");
        lref.type = (Smwire__ObjType)t;
        op.lock = &lref;
    }
    int rv = smi_obj_typed_open(c, name, &op, sizeof(sm_cond), (void **)&cv, &rep);
    if (rv != SM_OK)
        return rv;
    rv = cond_bind(cv, rep);
    if (rv != SM_OK) {
        free(cv);
        return rv;
    }
    *out = cv;
    return SM_OK;
}

int
sm_cond_open(sm_client *c, const char *name, const char *lock_token, sm_cond **out)
{
    if (name == NULL)
        return smi_fail(SM_EINVAL, "no name");
    return cond_open_common(c, name, lock_token, out);
}

int
sm_cond_new(sm_client *c, const char *lock_token, sm_cond **out)
{
    return cond_open_common(c, NULL, lock_token, out);
}

int
sm_cond_attach(sm_client *c, const char *token, sm_cond **out)
{
    Smwire__Reply *rep;
    if (out == NULL)
        return smi_fail(SM_EINVAL, "no output pointer");
    sm_cond *cv = calloc(1, sizeof(*cv));
    if (cv == NULL)
        return SM_ENOMEM;
    int rv = smi_obj_attach(c, SMWIRE__OBJ_TYPE__OBJ_CONDITION, token, &cv->o, &rep);
    if (rv == SM_OK)
        rv = cond_bind(cv, rep);
    if (rv != SM_OK) {
        free(cv);
        return rv;
    }
    *out = cv;
    return SM_OK;
}

const char *
sm_cond_token(const sm_cond *cv)
{
    return cv != NULL ? cv->o.token : "";
}

const char *
sm_cond_lock_token(const sm_cond *cv)
{
    return cv != NULL ? cv->lock.token : "";
}

int
sm_cond_close(sm_cond *cv)
{
    if (cv == NULL)
        return SM_OK;
    int rv = smi_obj_release(&cv->o);
    free(cv);
    return rv;
}

/* cond_lock_op sends ACQUIRE or RELEASE of the right kind to the lock. */
static int
cond_lock_op(sm_cond *cv, bool acquire, int64_t timeout_ms)
{
    smi_detail_clear();
    if (cv == NULL)
        return smi_fail(SM_EINVAL, "no condition");
    int rv = smi_check_wait(timeout_ms);
    if (rv != SM_OK)
        return rv;
    bool r = cv->lock.type == SMWIRE__OBJ_TYPE__OBJ_RLOCK;
    int op = acquire ? (r ? SMWIRE__REQUEST__OP_RLOCK_ACQUIRE : SMWIRE__REQUEST__OP_LOCK_ACQUIRE)
                     : (r ? SMWIRE__REQUEST__OP_RLOCK_RELEASE : SMWIRE__REQUEST__OP_LOCK_RELEASE);
    return smi_op(&cv->lock, op, NULL, acquire ? timeout_ms : 0, NULL);
}

int
sm_cond_acquire(sm_cond *cv, int64_t timeout_ms)
{
    return cond_lock_op(cv, true, timeout_ms);
}

int
sm_cond_release(sm_cond *cv)
{
    return cond_lock_op(cv, false, 0);
}

int
sm_cond_wait(sm_cond *cv, int64_t timeout_ms, bool *notified)
{
    Smwire__Reply *rep;
    smi_detail_clear();
    if (cv == NULL)
        return smi_fail(SM_EINVAL, "no condition");
    int rv = smi_check_wait(timeout_ms);
    if (rv == SM_OK)
        rv = smi_op(&cv->o, SMWIRE__REQUEST__OP_COND_WAIT, NULL, timeout_ms, &rep);
    if (rv == SM_OK || rv == SM_EOWNERDEAD) {
        if (notified != NULL)
            *notified = rep->flag;
        smwire__reply__free_unpacked(rep, NULL);
    }
    return rv;
}

int
sm_cond_notify(sm_cond *cv, int64_t n)
{
    Smwire__Index ix = SMWIRE__INDEX__INIT;
    smi_detail_clear();
    if (cv == NULL || n < 1)
        return smi_fail(SM_EINVAL, "no condition, or n < 1");
    ix.index = n;
    return smi_op(&cv->o, SMWIRE__REQUEST__OP_COND_NOTIFY, &ix, 0, NULL);
}

int
sm_cond_notify_all(sm_cond *cv)
{
    smi_detail_clear();
    if (cv == NULL)
        return smi_fail(SM_EINVAL, "no condition");
    return smi_op(&cv->o, SMWIRE__REQUEST__OP_COND_NOTIFY_ALL, NULL, 0, NULL);
}
