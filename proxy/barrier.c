/* barrier.c - the barrier proxy.
 * Exported: the sm_barrier_* functions of syncmgr.h. */
#include <stdlib.h>

#include "smi.h"

SMI_PROXY(barrier, SMWIRE__OBJ_TYPE__OBJ_BARRIER)

static int
barrier_open_common(sm_client *c, const char *name, int64_t parties, sm_barrier **out)
{
    Smwire__Open op = SMWIRE__OPEN__INIT;
    if (parties < 1 || parties > 65536)
        return smi_fail(SM_EINVAL, "parties %lld is not in 1..65536", (long long)parties);
    op.type = SMWIRE__OBJ_TYPE__OBJ_BARRIER;
    op.count = parties;
    return smi_obj_typed_open(c, name, &op, sizeof(sm_barrier), (void **)out, NULL);
}

int
sm_barrier_open(sm_client *c, const char *name, int64_t parties, sm_barrier **out)
{
    if (name == NULL)
        return smi_fail(SM_EINVAL, "no name");
    return barrier_open_common(c, name, parties, out);
}

int
sm_barrier_new(sm_client *c, int64_t parties, sm_barrier **out)
{
    return barrier_open_common(c, NULL, parties, out);
}

/* barrier_call makes one call and hands back the reply on SM_OK. */
static int
barrier_call(sm_barrier *b, int op_case, int64_t wait_ms, Smwire__Reply **repp)
{
    smi_detail_clear();
    if (b == NULL)
        return smi_fail(SM_EINVAL, "no barrier");
    int rv = smi_check_wait(wait_ms);
    return rv == SM_OK ? smi_op(&b->o, op_case, NULL, wait_ms, repp) : rv;
}

int
sm_barrier_wait(sm_barrier *b, int64_t timeout_ms, int64_t *index)
{
    Smwire__Reply *rep;
    int rv = barrier_call(b, SMWIRE__REQUEST__OP_BARRIER_WAIT, timeout_ms, &rep);
    if (rv == SM_OK) {
        if (index != NULL)
            *index = rep->n;
        smwire__reply__free_unpacked(rep, NULL);
    }
    return rv;
}

int
sm_barrier_abort(sm_barrier *b)
{
    return barrier_call(b, SMWIRE__REQUEST__OP_BARRIER_ABORT, 0, NULL);
}

int
sm_barrier_reset(sm_barrier *b)
{
    return barrier_call(b, SMWIRE__REQUEST__OP_BARRIER_RESET, 0, NULL);
}

int
sm_barrier_info(sm_barrier *b, int64_t *parties, int64_t *n_waiting, bool *broken)
{
    Smwire__Reply *rep;
    int rv = barrier_call(b, SMWIRE__REQUEST__OP_BARRIER_INFO, 0, &rep);
    if (rv == SM_OK) {
        if (parties != NULL)
            *parties = rep->m;
        if (n_waiting != NULL)
            *n_waiting = rep->n;
        if (broken != NULL)
            *broken = rep->flag;
        smwire__reply__free_unpacked(rep, NULL);
    }
    return rv;
}
