/* obj_sem.c - counting and bounded semaphores.
 *
 * A semaphore is a count plus a FIFO of parked SEM.ACQUIRE calls.
 * sem_release hands permits to parked callers, in arrival order, before it
 * raises the count, so a stream of new acquirers cannot starve a parked one.
 * A bounded semaphore refuses a release that would lift the count above its
 * initial value, and so does any semaphore past INT64_MAX. Permits belong
 * to sessions (HOLD_PERMITS): sem_session_gone returns a dead session's.
 * Exported: srv_type_sem, sem_session_gone. */
#include <stdlib.h>

#include "srv.h"

typedef struct sem {
    srv_obj hdr;
    int64_t value, initial;
    bool bounded;
    srv_wlist waiters;
} sem;

#define SEM(o) ((sem *)(o))

/* sem_wake hands free permits to parked acquirers, in order. */
static void
sem_wake(srv_state *st, sem *s)
{
    while (s->value > 0 && s->waiters.head != NULL) {
        srv_waiter *w = s->waiters.head;
        s->value--;
        srv_hold_add(st, w->sess, &s->hdr, HOLD_PERMITS, 1);
        srv_answer(st, w, SM_OK, NULL, 0, false);
    }
}

/* SEM.ACQUIRE (timeout) -> SM_OK | SM_ETIMEDOUT */
static int
sem_op_acquire(srv_call *call, srv_obj *o)
{
    sem *s = SEM(o);
    if (s->value > 0) {
        s->value--;
        srv_hold_add(call->st, call->sess, o, HOLD_PERMITS, 1);
        return SM_OK;
    }
    if (call->req->timeout_ms == 0)
        return SM_ETIMEDOUT;
    return srv_park(call, o, &s->waiters, NULL);
}

/* SEM.RELEASE n -> SM_OK | SM_EOVERFLOW */
static int
sem_op_release(srv_call *call, srv_obj *o)
{
    sem *s = SEM(o);
    int64_t n = call->req->sem_release->index, v;
    if (n < 1)
        return call_fail(call, SM_EINVAL, "release %" PRId64 " permits", n);
    if (__builtin_add_overflow(s->value, n, &v))
        return call_fail(call, SM_EOVERFLOW, "count past INT64_MAX");
    if (s->bounded && v > s->initial)
        return call_fail(call, SM_EOVERFLOW, "bounded semaphore released too many times");
    s->value = v;
    sem_wake(call->st, s);
    /* A release retires held permits: the caller's own first, then the
     * oldest other session's (one process may acquire and another release,
     * as with a semaphore used as a signal). Last: dropping a hold may free
     * an anonymous semaphore. */
    int64_t held = srv_hold_add(call->st, call->sess, o, HOLD_PERMITS, 0);
    int64_t own = n < held ? n : held;
    srv_hold_retire(call->st, call->sess, o, HOLD_PERMITS, n - own);
    srv_hold_add(call->st, call->sess, o, HOLD_PERMITS, -own);
    return SM_OK;
}

void
sem_session_gone(srv_state *st, srv_obj *o, int64_t permits)
{
    sem *s = SEM(o);
    if (__builtin_add_overflow(s->value, permits, &s->value))
        s->value = INT64_MAX;
    if (s->bounded && s->value > s->initial)
        s->value = s->initial;
    sem_wake(st, s);
}

/* SEM.VALUE -> n */
static int
sem_op_value(srv_call *call, srv_obj *o)
{
    call->rep.n = SEM(o)->value;
    return SM_OK;
}

static int
sem_create(srv_call *call, const Smwire__Open *op, srv_obj **out)
{
    if (op->count < 0)
        return call_fail(call, SM_EINVAL, "semaphore value %" PRId64 " < 0", op->count);
    sem *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SM_ENOMEM;
    s->value = s->initial = op->count;
    s->bounded = op->bounded;
    *out = &s->hdr;
    return SM_OK;
}

static void
sem_fill_open(srv_call *call, srv_obj *o)
{
    call->rep.m = SEM(o)->initial;
    call->rep.bounded = SEM(o)->bounded;
}

static void
sem_destroy(srv_state *st, srv_obj *o)
{
    srv_wlist_fail(st, &SEM(o)->waiters, SM_ENOOBJ);
    free(o);
}

/* A snapshot holds the initial value, boundedness and the value with the
 * permits sessions hold given back (as their end would: a restart ends
 * them), capped as sem_session_gone caps it. */
static int
sem_save(srv_call *call, srv_obj *o, Smsnap__Object *out)
{
    srv_state *st = call->st;
    const sem *s = SEM(o);
    int64_t v = s->value;
    for (map_ent *e = st->sessions.head; e != NULL; e = e->next) {
        int64_t held = srv_hold_add(st, (srv_sess *)(void *)e->val.u.s.p, o, HOLD_PERMITS, 0);
        if (__builtin_add_overflow(v, held, &v))
            v = INT64_MAX;
    }
    if (s->bounded && v > s->initial)
        v = s->initial;
    out->shape->count = s->initial;
    out->shape->bounded = s->bounded;
    out->n = v;
    return SM_OK;
}

static int
sem_load(srv_call *call, srv_obj *o, const Smsnap__Object *in)
{
    sem *s = SEM(o);
    if (in->n < 0 || (s->bounded && in->n > s->initial))
        return call_fail(call, SM_EINVAL, "value %" PRId64 " of a %ssemaphore of %" PRId64,
                         in->n, s->bounded ? "bounded " : "", s->initial);
    s->value = in->n;
    return SM_OK;
}

static const srv_op sem_ops[] = {
    {SMWIRE__REQUEST__OP_SEM_ACQUIRE, "sem.acquire", sem_op_acquire, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_SEM_RELEASE, "sem.release", sem_op_release, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_SEM_VALUE, "sem.value", sem_op_value, SRV_OP_READ},
};

/* STATUS: value, waiters */
static int
sem_info(srv_call *call, srv_obj *o, Smwire__ObjectInfo *out)
{
    (void)call;
    out->value = SEM(o)->value;
    out->waiters = SEM(o)->waiters.n;
    return SM_OK;
}

const srv_type srv_type_sem = {
    .name = "semaphore",
    .wire_type = SMWIRE__OBJ_TYPE__OBJ_SEMAPHORE,
    .ops = sem_ops,
    .nops = SM_NELEM(sem_ops),
    .create = sem_create,
    .destroy = sem_destroy,
    .fill_open = sem_fill_open,
    .save = sem_save,
    .load = sem_load,
    .info = sem_info,
};
