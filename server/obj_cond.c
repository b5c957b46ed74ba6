/* obj_cond.c - conditions, bound to a manager lock or rlock.
 *
 * COND.WAIT needs the caller to hold the lock. It releases every level of
 * it (handing it on), parks on the condition with the depth to restore, and
 * is answered only once it holds the lock again: NOTIFY moves waiters, the
 * longest waiting first, from the condition into the lock's queue with
 * flag "notified"; a timeout moves the waiter there too, flag false. So a
 * wait always returns with the lock held, as Python's does. A condition
 * holds a reference to its lock; without one given it makes an anonymous
 * rlock of its own.
 * Exported: srv_type_cond. */
#include <stdlib.h>

#include "srv.h"

typedef struct cond {
    srv_obj hdr;
    srv_obj *lock; /* counted */
    srv_wlist waiters;
} cond;

#define COND(o) ((cond *)(o))

/* COND.WAIT (timeout) -> flag notified, once the lock is held again */
static int
cond_op_wait(srv_call *call, srv_obj *o)
{
    cond *cv = COND(o);
    srv_waiter *w;
    if (!lock_held_by(cv->lock, call->req))
        return call_fail(call, SM_ENOTOWNER, "wait without holding the condition's lock");
    int rv = srv_park(call, o, &cv->waiters, &w);
    if (rv != SRV_PARKED)
        return rv;
    w->n = lock_release_all(call->st, cv->lock);
    return SRV_PARKED;
}

/* cond_notify moves up to n waiters to the lock's queue, notified. */
static int
cond_notify(srv_call *call, srv_obj *o, int64_t n)
{
    cond *cv = COND(o);
    if (!lock_held_by(cv->lock, call->req))
        return call_fail(call, SM_ENOTOWNER, "notify without holding the condition's lock");
    while (n-- > 0 && cv->waiters.head != NULL) {
        srv_waiter *w = cv->waiters.head;
        w->flag = true;
        lock_enqueue(call->st, cv->lock, w);
    }
    return SM_OK;
}

/* COND.NOTIFY n */
static int
cond_op_notify(srv_call *call, srv_obj *o)
{
    int64_t n = call->req->cond_notify->index;
    if (n < 1)
        return call_fail(call, SM_EINVAL, "notify %" PRId64 " waiters", n);
    return cond_notify(call, o, n);
}

/* COND.NOTIFY_ALL */
static int
cond_op_notify_all(srv_call *call, srv_obj *o)
{
    return cond_notify(call, o, INT64_MAX);
}

/* A wait's timeout: back to the lock's queue, not notified. */
static void
cond_timeout(srv_state *st, srv_waiter *w)
{
    w->flag = false;
    lock_enqueue(st, COND(w->obj)->lock, w);
}

static int
cond_create(srv_call *call, const Smwire__Open *op, srv_obj **out)
{
    srv_obj *lk;
    if (op->lock != NULL) {
        lk = store_lookup(call->st, op->lock->id, op->lock->nonce);
        if (lk == NULL)
            return call_fail(call, SM_ENOOBJ, "the condition's lock does not exist");
        if (!lock_is_lock(lk))
            return call_fail(call, SM_EWRONGTYPE, "a condition's lock is a lock or an rlock");
        obj_incref(lk);
    } else {
        Smwire__Open rl = SMWIRE__OPEN__INIT;
        rl.type = SMWIRE__OBJ_TYPE__OBJ_RLOCK;
        int rv = store_create(call, &srv_type_rlock, &rl, &lk);
        if (rv != SM_OK)
            return rv;
    }
    cond *cv = calloc(1, sizeof(*cv));
    if (cv == NULL) {
        obj_decref(call->st, lk);
        return SM_ENOMEM;
    }
    cv->lock = lk;
    *out = &cv->hdr;
    return SM_OK;
}

static void
cond_fill_open(srv_call *call, srv_obj *o)
{
    store_ref_to_wire(call, COND(o)->lock, &call->rep.lock);
}

static void
cond_destroy(srv_state *st, srv_obj *o)
{
    srv_wlist_fail(st, &COND(o)->waiters, SM_ENOOBJ);
    obj_decref(st, COND(o)->lock);
    free(o);
}

/* A snapshot holds the lock (saved too); create takes it back on load. */
static int
cond_save(srv_call *call, srv_obj *o, Smsnap__Object *out)
{
    return store_ref_to_wire(call, COND(o)->lock, &out->shape->lock);
}

static const srv_op cond_ops[] = {
    {SMWIRE__REQUEST__OP_COND_WAIT, "cond.wait", cond_op_wait, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_COND_NOTIFY, "cond.notify", cond_op_notify, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_COND_NOTIFY_ALL, "cond.notify_all", cond_op_notify_all, SRV_OP_WRITE},
};

/* STATUS: its lock, waiters (those not yet notified) */
static int
cond_info(srv_call *call, srv_obj *o, Smwire__ObjectInfo *out)
{
    out->waiters = COND(o)->waiters.n;
    out->lock = lock_info(call, COND(o)->lock);
    return out->lock != NULL ? SM_OK : SM_ENOMEM;
}

const srv_type srv_type_cond = {
    .name = "condition",
    .wire_type = SMWIRE__OBJ_TYPE__OBJ_CONDITION,
    .ops = cond_ops,
    .nops = SM_NELEM(cond_ops),
    .create = cond_create,
    .destroy = cond_destroy,
    .fill_open = cond_fill_open,
    .timeout = cond_timeout,
    .save = cond_save,
    .info = cond_info,
};
