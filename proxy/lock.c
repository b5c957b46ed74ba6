/* lock.c - the lock and rlock proxies. Ownership is the calling thread of
 * this client (smi_thread_owner), sent with every call.
 * Exported: the sm_lock_* and sm_rlock_* functions of syncmgr.h. */
#include <stdlib.h>

#include "smi.h"

SMI_PROXY(lock, SMWIRE__OBJ_TYPE__OBJ_LOCK)
SMI_PROXY_PLAIN(lock, SMWIRE__OBJ_TYPE__OBJ_LOCK)
SMI_PROXY(rlock, SMWIRE__OBJ_TYPE__OBJ_RLOCK)
SMI_PROXY_PLAIN(rlock, SMWIRE__OBJ_TYPE__OBJ_RLOCK)

/* lock_acquire and friends serve both kinds through their smi_obj. *fence
 * (may be NULL) gets the grant's fencing token. */
static int
lock_acquire(const smi_obj *o, int op_case, int64_t timeout_ms, uint64_t *fence)
{
    Smwire__Reply *rep;
    smi_detail_clear();
    if (o == NULL)
        return smi_fail(SM_EINVAL, "no lock");
    int rv = smi_check_wait(timeout_ms);
    if (rv == SM_OK)
        rv = smi_op(o, op_case, NULL, timeout_ms, &rep);
    if (rv == SM_OK || rv == SM_EOWNERDEAD) {
        if (fence != NULL)
            *fence = rep->fence;
        smwire__reply__free_unpacked(rep, NULL);
    }
    return rv;
}

static int
lock_release(const smi_obj *o, int op_case)
{
    smi_detail_clear();
    if (o == NULL)
        return smi_fail(SM_EINVAL, "no lock");
    return smi_op(o, op_case, NULL, 0, NULL);
}

static int
lock_locked(const smi_obj *o, int op_case, bool *out)
{
    Smwire__Reply *rep;
    smi_detail_clear();
    if (o == NULL || out == NULL)
        return smi_fail(SM_EINVAL, "no lock or output");
    int rv = smi_op(o, op_case, NULL, 0, &rep);
    if (rv == SM_OK) {
        *out = rep->flag;
        smwire__reply__free_unpacked(rep, NULL);
    }
    return rv;
}

int
sm_lock_acquire(sm_lock *l, int64_t timeout_ms)
{
    return lock_acquire(l ? &l->o : NULL, SMWIRE__REQUEST__OP_LOCK_ACQUIRE, timeout_ms, NULL);
}

int
sm_lock_acquire_fenced(sm_lock *l, int64_t timeout_ms, uint64_t *fence)
{
    return lock_acquire(l ? &l->o : NULL, SMWIRE__REQUEST__OP_LOCK_ACQUIRE, timeout_ms, fence);
}

int
sm_lock_release(sm_lock *l)
{
    return lock_release(l ? &l->o : NULL, SMWIRE__REQUEST__OP_LOCK_RELEASE);
}

int
sm_lock_locked(sm_lock *l, bool *out)
{
    return lock_locked(l ? &l->o : NULL, SMWIRE__REQUEST__OP_LOCK_LOCKED, out);
}

int
sm_rlock_acquire(sm_rlock *l, int64_t timeout_ms)
{
    return lock_acquire(l ? &l->o : NULL, SMWIRE__REQUEST__OP_RLOCK_ACQUIRE, timeout_ms, NULL);
}

int
sm_rlock_acquire_fenced(sm_rlock *l, int64_t timeout_ms, uint64_t *fence)
{
    return lock_acquire(l ? &l->o : NULL, SMWIRE__REQUEST__OP_RLOCK_ACQUIRE, timeout_ms, fence);
}

int
sm_rlock_release(sm_rlock *l)
{
    return lock_release(l ? &l->o : NULL, SMWIRE__REQUEST__OP_RLOCK_RELEASE);
}

int
sm_rlock_locked(sm_rlock *l, bool *out)
{
    return lock_locked(l ? &l->o : NULL, SMWIRE__REQUEST__OP_RLOCK_LOCKED, out);
}
