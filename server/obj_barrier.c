/* obj_barrier.c - barriers for a fixed number of parties.
 *
 * Each BARRIER.WAIT parks with its arrival index until the last party
 * arrives; that one answers them all (SM_OK, n = index) and the barrier is
 * ready for the next round. A wait that times out breaks the barrier, as in
 * Python: the timed-out caller and every other waiter get SM_EBROKEN, and so
 * does every later wait until RESET.
 * Exported: srv_type_barrier. */
#include <stdlib.h>

#include "srv.h"

#define BARRIER_MAX_PARTIES 65536

typedef struct barrier {
    srv_obj hdr;
    int64_t parties;
    bool broken;
    srv_wlist waiters;
} barrier;

#define BARRIER(o) ((barrier *)(o))

static void
barrier_break(srv_state *st, barrier *b)
{
    b->broken = true;
    srv_wlist_fail(st, &b->waiters, SM_EBROKEN);
}

/* BARRIER.WAIT (timeout) -> n: arrival index | SM_EBROKEN */
static int
barrier_op_wait(srv_call *call, srv_obj *o)
{
    barrier *b = BARRIER(o);
    srv_waiter *w;
    if (b->broken)
        return call_fail(call, SM_EBROKEN, "the barrier is broken");
    int64_t index = (int64_t)b->waiters.n;
    if (index == b->parties - 1) {
        while (b->waiters.head != NULL)
            srv_answer(call->st, b->waiters.head, SM_OK, NULL, b->waiters.head->n, false);
        call->rep.n = index;
        return SM_OK;
    }
    if (call->req->timeout_ms == 0) {
        barrier_break(call->st, b);
        return call_fail(call, SM_EBROKEN, "no wait: the barrier breaks");
    }
    int rv = srv_park(call, o, &b->waiters, &w);
    if (rv == SRV_PARKED)
        w->n = index;
    return rv;
}

/* BARRIER.ABORT: waiters and later waits get SM_EBROKEN */
static int
barrier_op_abort(srv_call *call, srv_obj *o)
{
    barrier_break(call->st, BARRIER(o));
    return SM_OK;
}

/* BARRIER.RESET: waiters get SM_EBROKEN; the barrier is whole and empty */
static int
barrier_op_reset(srv_call *call, srv_obj *o)
{
    barrier_break(call->st, BARRIER(o));
    BARRIER(o)->broken = false;
    return SM_OK;
}

/* BARRIER.INFO -> m: parties, n: waiting, flag: broken */
static int
barrier_op_info(srv_call *call, srv_obj *o)
{
    call->rep.m = BARRIER(o)->parties;
    call->rep.n = (int64_t)BARRIER(o)->waiters.n;
    call->rep.flag = BARRIER(o)->broken;
    return SM_OK;
}

static void
barrier_timeout(srv_state *st, srv_waiter *w)
{
    barrier *b = BARRIER(w->obj);
    srv_answer(st, w, SM_EBROKEN, NULL, 0, false);
    barrier_break(st, b);
}

static int
barrier_create(srv_call *call, const Smwire__Open *op, srv_obj **out)
{
    if (op->count < 1 || op->count > BARRIER_MAX_PARTIES)
        return call_fail(call, SM_EINVAL, "parties %" PRId64 " is not in 1..%d", op->count,
                         BARRIER_MAX_PARTIES);
    barrier *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return SM_ENOMEM;
    b->parties = op->count;
    *out = &b->hdr;
    return SM_OK;
}

static void
barrier_fill_open(srv_call *call, srv_obj *o)
{
    call->rep.m = BARRIER(o)->parties;
}

static void
barrier_destroy(srv_state *st, srv_obj *o)
{
    srv_wlist_fail(st, &BARRIER(o)->waiters, SM_ENOOBJ);
    free(o);
}

/* A snapshot holds the parties and whether it is broken; its waiters'
 * sessions end with the restart, so a whole barrier comes back empty. */
static int
barrier_save(srv_call *call, srv_obj *o, Smsnap__Object *out)
{
    (void)call;
    out->shape->count = BARRIER(o)->parties;
    out->flag = BARRIER(o)->broken;
    return SM_OK;
}

static int
barrier_load(srv_call *call, srv_obj *o, const Smsnap__Object *in)
{
    (void)call;
    BARRIER(o)->broken = in->flag;
    return SM_OK;
}

static const srv_op barrier_ops[] = {
    {SMWIRE__REQUEST__OP_BARRIER_WAIT, "barrier.wait", barrier_op_wait, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_BARRIER_ABORT, "barrier.abort", barrier_op_abort, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_BARRIER_RESET, "barrier.reset", barrier_op_reset, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_BARRIER_INFO, "barrier.info", barrier_op_info, SRV_OP_READ},
};

/* STATUS: value = parties, waiters = arrived and waiting */
static int
barrier_info(srv_call *call, srv_obj *o, Smwire__ObjectInfo *out)
{
    (void)call;
    out->value = BARRIER(o)->parties;
    out->waiters = BARRIER(o)->waiters.n;
    return SM_OK;
}

const srv_type srv_type_barrier = {
    .name = "barrier",
    .wire_type = SMWIRE__OBJ_TYPE__OBJ_BARRIER,
    .ops = barrier_ops,
    .nops = SM_NELEM(barrier_ops),
    .create = barrier_create,
    .destroy = barrier_destroy,
    .fill_open = barrier_fill_open,
    .timeout = barrier_timeout,
    .save = barrier_save,
    .load = barrier_load,
    .info = barrier_info,
};
