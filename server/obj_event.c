/* obj_event.c - events: a flag that waiters wait for.
 *
 * SET answers every parked wait (flag true); a wait whose timeout passes is
 * answered SM_OK with flag false, as Python's wait() returns False.
 * Exported: srv_type_event. */
#include <stdlib.h>

#include "srv.h"

typedef struct event {
    srv_obj hdr;
    bool set;
    srv_wlist waiters;
} event;

#define EVENT(o) ((event *)(o))

/* EVENT.SET */
static int
event_op_set(srv_call *call, srv_obj *o)
{
    EVENT(o)->set = true;
    while (EVENT(o)->waiters.head != NULL)
        srv_answer(call->st, EVENT(o)->waiters.head, SM_OK, NULL, 0, true);
    return SM_OK;
}

/* EVENT.CLEAR */
static int
event_op_clear(srv_call *call, srv_obj *o)
{
    (void)call;
    EVENT(o)->set = false;
    return SM_OK;
}

/* EVENT.IS_SET -> flag */
static int
event_op_is_set(srv_call *call, srv_obj *o)
{
    call->rep.flag = EVENT(o)->set;
    return SM_OK;
}

/* EVENT.WAIT (timeout) -> flag: set, or false when the timeout passed */
static int
event_op_wait(srv_call *call, srv_obj *o)
{
    if (EVENT(o)->set) {
        call->rep.flag = true;
        return SM_OK;
    }
    if (call->req->timeout_ms == 0)
        return SM_OK; /* flag false */
    return srv_park(call, o, &EVENT(o)->waiters, NULL);
}

static void
event_timeout(srv_state *st, srv_waiter *w)
{
    srv_answer(st, w, SM_OK, NULL, 0, false);
}

static int
event_create(srv_call *call, const Smwire__Open *op, srv_obj **out)
{
    (void)call;
    (void)op;
    event *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return SM_ENOMEM;
    *out = &e->hdr;
    return SM_OK;
}

static void
event_destroy(srv_state *st, srv_obj *o)
{
    srv_wlist_fail(st, &EVENT(o)->waiters, SM_ENOOBJ);
    free(o);
}

/* A snapshot holds the flag. */
static int
event_save(srv_call *call, srv_obj *o, Smsnap__Object *out)
{
    (void)call;
    out->flag = EVENT(o)->set;
    return SM_OK;
}

static int
event_load(srv_call *call, srv_obj *o, const Smsnap__Object *in)
{
    (void)call;
    EVENT(o)->set = in->flag;
    return SM_OK;
}

static const srv_op event_ops[] = {
    {SMWIRE__REQUEST__OP_EVENT_SET, "event.set", event_op_set, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_EVENT_CLEAR, "event.clear", event_op_clear, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_EVENT_IS_SET, "event.is_set", event_op_is_set, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_EVENT_WAIT, "event.wait", event_op_wait, SRV_OP_READ},
};

/* STATUS: value = the flag, waiters */
static int
event_info(srv_call *call, srv_obj *o, Smwire__ObjectInfo *out)
{
    (void)call;
    out->value = EVENT(o)->set;
    out->waiters = EVENT(o)->waiters.n;
    return SM_OK;
}

const srv_type srv_type_event = {
    .name = "event",
    .wire_type = SMWIRE__OBJ_TYPE__OBJ_EVENT,
    .ops = event_ops,
    .nops = SM_NELEM(event_ops),
    .create = event_create,
    .destroy = event_destroy,
    .timeout = event_timeout,
    .save = event_save,
    .load = event_load,
    .info = event_info,
};
