/* obj_lock.c - locks and re-entrant locks.
 *
 * A lock has at most one holder, named by (session, owner): the client's
 * session and the calling thread within it. Acquires that cannot proceed
 * park in a FIFO; release hands the lock straight to the first waiter, so a
 * stream of new acquirers cannot overtake a parked one. An rlock counts its
 * holder's nested acquires. A condition (obj_cond.c) parks its waiters here
 * too once they are notified, with the depth to restore.
 *
 * Every grant carries a fencing token, one more than the lock's last. The
 * holding session records the lock (HOLD_LOCK); when that session ends,
 * lock_session_gone frees the lock and marks it so that its next acquirer
 * is told SM_EOWNERDEAD (once). A session's hold is dropped last in every
 * path, because dropping it may free an anonymous lock.
 * Exported: srv_type_lock, srv_type_rlock, lock_is_lock, lock_held_by,
 * lock_release_all, lock_enqueue, lock_session_gone, lock_info. */
#include <stdlib.h>

#include "srv.h"

typedef struct lockobj {
    srv_obj hdr;
    bool held;
    bool owner_died; /* the last holder's session ended holding it */
    uint64_t session, owner;
    int64_t depth;
    uint64_t fence; /* the last grant's token */
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

/* lock_grant makes (s, owner) the holder at depth. Returns SM_EOWNERDEAD
 * (and forgets it: the news is told to exactly one holder) when the last
 * holder died, else SM_OK. */
static int
lock_grant(srv_state *st, lockobj *l, srv_sess *s, uint64_t session, uint64_t owner,
           int64_t depth, uint64_t *fence)
{
    l->held = true;
    l->session = session;
    l->owner = owner;
    l->depth = depth;
    *fence = ++l->fence;
    srv_hold_add(st, s, &l->hdr, HOLD_LOCK, 1);
    if (l->owner_died) {
        l->owner_died = false;
        return SM_EOWNERDEAD;
    }
    return SM_OK;
}

/* lock_handoff frees l and gives it to the first waiter, if any. The old
 * holder's hold is the caller's to drop, afterwards. */
static void
lock_handoff(srv_state *st, lockobj *l)
{
    l->held = false;
    l->depth = 0;
    srv_waiter *w = l->waiters.head;
    if (w == NULL)
        return;
    bool from_cond = w->op_case == SMWIRE__REQUEST__OP_COND_WAIT;
    int rv = lock_grant(st, l, w->sess, w->session, w->owner, from_cond ? w->n : 1, &w->fence);
    srv_answer(st, w, rv, NULL, 0, from_cond ? w->flag : false);
}

/* lock_let_go frees l held by the caller's session and drops the hold. */
static void
lock_let_go(srv_state *st, lockobj *l, srv_sess *s)
{
    lock_handoff(st, l);
    srv_hold_add(st, s, &l->hdr, HOLD_LOCK, -1); /* last: it may free l */
}

int64_t
lock_release_all(srv_state *st, srv_obj *lk)
{
    int64_t depth = LOCK(lk)->depth;
    lockobj *l = LOCK(lk);
    lock_let_go(st, l, srv_sess_lookup(st, l->session));
    return depth;
}

void
lock_session_gone(srv_state *st, srv_obj *lk, srv_sess *s)
{
    lockobj *l = LOCK(lk);
    if (!l->held || l->session != srv_sess_id(s))
        return;
    l->owner_died = true;
    lock_handoff(st, l); /* the session's hold is dropped by the session */
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
        uint64_t fence;
        int rv = lock_grant(call->st, l, call->sess, req->session, req->owner, 1, &fence);
        call->rep.fence = fence;
        return rv;
    }
    if (reentrant && lock_held_by(o, req)) {
        if (l->depth == INT64_MAX)
            return call_fail(call, SM_EOVERFLOW, "rlock depth at its limit");
        l->depth++;
        call->rep.fence = l->fence;
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
    lock_let_go(call->st, l, call->sess);
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

/* A snapshot holds no holder: the holder's session ends with the restart.
 * It keeps the last fencing token, so that later grants stay larger than
 * any given before, and whether the lock was held (or its holder died with
 * no acquire since): the next acquirer is told SM_EOWNERDEAD. */
static int
lock_save(srv_call *call, srv_obj *o, Smsnap__Object *out)
{
    (void)call;
    out->flag = LOCK(o)->held || LOCK(o)->owner_died;
    out->fence = LOCK(o)->fence;
    return SM_OK;
}

static int
lock_load(srv_call *call, srv_obj *o, const Smsnap__Object *in)
{
    (void)call;
    LOCK(o)->owner_died = in->flag;
    LOCK(o)->fence = in->fence;
    return SM_OK;
}

Smwire__LockInfo *
lock_info(srv_call *call, srv_obj *lk)
{
    const lockobj *l = LOCK(lk);
    Smwire__LockInfo *li = call_alloc(call, sizeof(*li));
    if (li == NULL)
        return NULL;
    smwire__lock_info__init(li);
    li->held = l->held;
    li->session = l->held ? l->session : 0;
    li->owner = l->held ? l->owner : 0;
    li->depth = l->held ? l->depth : 0;
    li->fence = l->fence;
    li->owner_died = l->owner_died;
    return li;
}

/* STATUS: lock, waiters, holders (0 or 1) */
static int
lock_info_hook(srv_call *call, srv_obj *o, Smwire__ObjectInfo *out)
{
    out->lock = lock_info(call, o);
    out->waiters = LOCK(o)->waiters.n;
    out->holders = LOCK(o)->held ? 1 : 0;
    return out->lock != NULL ? SM_OK : SM_ENOMEM;
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
    .save = lock_save,
    .load = lock_load,
    .info = lock_info_hook,
};

const srv_type srv_type_rlock = {
    .name = "rlock",
    .wire_type = SMWIRE__OBJ_TYPE__OBJ_RLOCK,
    .ops = rlock_ops,
    .nops = SM_NELEM(rlock_ops),
    .create = lock_create,
    .destroy = lock_destroy,
    .save = lock_save,
    .load = lock_load,
    .info = lock_info_hook,
};
