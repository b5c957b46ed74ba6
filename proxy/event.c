/* event.c - the event proxy.
 * Exported: the sm_event_* functions of syncmgr.h. */
#include <stdlib.h>

#include "smi.h"

SMI_PROXY(event, SMWIRE__OBJ_TYPE__OBJ_EVENT)
SMI_PROXY_PLAIN(event, SMWIRE__OBJ_TYPE__OBJ_EVENT)

/* event_call makes one call; *flag (may be NULL) gets the reply's flag. */
static int
event_call(sm_event *e, int op_case, int64_t wait_ms, bool *flag)
{
    Smwire__Reply *rep;
    smi_detail_clear();
    if (e == NULL)
        return smi_fail(SM_EINVAL, "no event");
    int rv = smi_check_wait(wait_ms);
    if (rv == SM_OK)
        rv = smi_op(&e->o, op_case, NULL, wait_ms, &rep);
    if (rv == SM_OK) {
        if (flag != NULL)
            *flag = rep->flag;
        smwire__reply__free_unpacked(rep, NULL);
    }
    return rv;
}

int
sm_event_set(sm_event *e)
{
    return event_call(e, SMWIRE__REQUEST__OP_EVENT_SET, 0, NULL);
}

int
sm_event_clear(sm_event *e)
{
    return event_call(e, SMWIRE__REQUEST__OP_EVENT_CLEAR, 0, NULL);
}

int
sm_event_is_set(sm_event *e, bool *out)
{
    if (out == NULL)
        return smi_fail(SM_EINVAL, "no output");
    return event_call(e, SMWIRE__REQUEST__OP_EVENT_IS_SET, 0, out);
}

int
sm_event_wait(sm_event *e, int64_t timeout_ms, bool *was_set)
{
    return event_call(e, SMWIRE__REQUEST__OP_EVENT_WAIT, timeout_ms, was_set);
}
