/* obj_lock.c - locks and re-entrant locks.
 *
 * A lock has at most one holder, named by (session, owner): the client's
 * session and the calling thread within it. Acquires that cannot proceed
 * park in a FIFO; release hands the lock straight to the first waiter, so a
 * stream of new acquirers cannot overtake a parked one. An rlock counts its
 * holder's nested acquires. A condition (obj_cond.c) parks its waiters here
 * too once they are notified, with the depth to restore.
 * Exported: srv_type_lock, srv_type_rlock, lock_is_lock, lock_held_by,
 * lock_release_all, lock_enqueue. */
#include <stdlib.h>

#include "srv.h"

typedef struct lockobj {
    srv_obj hdr;
    bool held;
    uint64_t session, owner;
    int64_t depth;
    srv_wlist waiters;
} lockobj;

#define LOCK(o) ((lockobj *)(o))

/* ------------------------------------------------------------------ lock API */

bool
lock_is_lock(const srv_obj *o)
{
    return o->type == &srv_type_lock || o->type == &srv_type_rlock;
}

bool
lock_held_by(const srv_obj *lk, const Smwire__Request *req)
{
    const lockobj *l = (const lockobj *)lk;
    return l->held && l->session == req->session && l->owner == req->owner;
}

/* lock_handoff frees l and gives it to the first waiter, if any. */
static void
lock_handoff(srv_state *st, lockobj *l)
{
    l->held = false;
    l->depth = 0;
    srv_waiter *w = l->waiters.head;
    if (w == NULL)
        return;
    l->held = true;
    l->session = w->session;
    l->owner = w->owner;
    bool from_cond = w->op_case == SMWIRE__REQUEST__OP_COND_WAIT;
    l->depth = from_cond ? w->n : 1;
    srv_answer(st, w, SM_OK, NULL, 0, from_cond ? w->flag : false);
}

int64_t
lock_release_all(srv_state *st, srv_obj *lk)
{
    int64_t depth = LOCK(lk)->depth;
    lock_handoff(st, LOCK(lk));
    return depth;
}

void
lock_enqueue(srv_state *st, srv_obj *lk, srv_waiter *w)
{
    srv_wlist_move(st, w, &LOCK(lk)->waiters);
    if (!LOCK(lk)->held)
        lock_handoff(st, LOCK(lk));
}

/* ----------------------------------------------------------------- handlers */

/* LOCK.ACQUIRE (timeout) -> SM_OK | SM_ETIMEDOUT (maybe later, if parked) */
static int
lock_op_acquire(srv_call *call, srv_obj *o)
{
    lockobj *l = LOCK(o);
    const Smwire__Request *req = call->req;
    bool reentrant = o->type == &srv_type_rlock;

    if (!l->held) {
        l->held = true;
        l->session = req->session;
        l->owner = req->owner;
        l->depth = 1;
        return SM_OK;
    }
    if (reentrant && lock_held_by(o, req)) {
        if (l->depth == INT64_MAX)
            return call_fail(call, SM_EOVERFLOW, "rlock depth at its limit");
        l->depth++;
        return SM_OK;
    }
    if (req->timeout_ms == 0)
        return SM_ETIMEDOUT;
    return srv_park(call, o, &l->waiters, NULL);
}

/* LOCK.RELEASE -> SM_OK | SM_ENOTOWNER */
static int
lock_op_release(srv_call *call, srv_obj *o)
{
    lockobj *l = LOCK(o);
    if (!lock_held_by(o, call->req))
        return call_fail(call, SM_ENOTOWNER, l->held ? "held by another owner" : "not held");
    if (--l->depth > 0)
        return SM_OK;
    lock_handoff(call->st, l);
    return SM_OK;
}

/* LOCK.LOCKED -> flag */
static int
lock_op_locked(srv_call *call, srv_obj *o)
{
    call->rep.flag = LOCK(o)->held;
    return SM_OK;
}

/* -------------------------------------------------------------------- type */

static int
lock_create(srv_call *call, const Smwire__Open *op, srv_obj **out)
{
    (void)call;
    (void)op;
    lockobj *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return SM_ENOMEM;
    *out = &l->hdr;
    return SM_OK;
}

static void
lock_destroy(srv_state *st, srv_obj *o)
{
    srv_wlist_fail(st, &LOCK(o)->waiters, SM_ENOOBJ);
    free(o);
}

static const srv_op lock_ops[] = {
    {SMWIRE__REQUEST__OP_LOCK_ACQUIRE, "lock.acquire", lock_op_acquire, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_LOCK_RELEASE, "lock.release", lock_op_release, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_LOCK_LOCKED, "lock.locked", lock_op_locked, SRV_OP_READ},
};

static const srv_op rlock_ops[] = {
    {SMWIRE__REQUEST__OP_RLOCK_ACQUIRE, "rlock.acquire", lock_op_acquire, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_RLOCK_RELEASE, "rlock.release", lock_op_release, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_RLOCK_LOCKED, "rlock.locked", lock_op_locked, SRV_OP_READ},
};

const srv_type srv_type_lock = {
    .name = "lock",
    .wire_type = SMWIRE__OBJ_TYPE__OBJ_LOCK,
    .ops = lock_ops,
    .nops = SM_NELEM(lock_ops),
    .create = lock_create,
    .destroy = lock_destroy,
};

const srv_type srv_type_rlock = {
    .name = "rlock",
    .wire_type = SMWIRE__OBJ_TYPE__OBJ_RLOCK,
    .ops = rlock_ops,
    .nops = SM_NELEM(rlock_ops),
    .create = lock_create,
    .destroy = lock_destroy,
};
