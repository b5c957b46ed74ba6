/* queue.c - the queue proxy (Queue and JoinableQueue).
 * Exported: the sm_queue_* functions of syncmgr.h. */
#include <stdlib.h>

#include "smi.h"

SMI_PROXY(queue, SMWIRE__OBJ_TYPE__OBJ_QUEUE)

static int
queue_open_common(sm_client *c, const char *name, int64_t maxsize, bool joinable,
                  sm_queue **out)
{
    Smwire__Open op = SMWIRE__OPEN__INIT;
    if (maxsize < 0)
        return smi_fail(SM_EINVAL, "maxsize %lld < 0", (long long)maxsize);
    op.type = SMWIRE__OBJ_TYPE__OBJ_QUEUE;
    op.count = maxsize;
    op.joinable = joinable;
    return smi_obj_typed_open(c, name, &op, sizeof(sm_queue), (void **)out, NULL);
}

int
sm_queue_open(sm_client *c, const char *name, int64_t maxsize, bool joinable, sm_queue **out)
{
    if (name == NULL)
        return smi_fail(SM_EINVAL, "no name");
    return queue_open_common(c, name, maxsize, joinable, out);
}

int
sm_queue_new(sm_client *c, int64_t maxsize, bool joinable, sm_queue **out)
{
    return queue_open_common(c, NULL, maxsize, joinable, out);
}

/* queue_call makes one call and hands back the reply on SM_OK. */
static int
queue_call(sm_queue *q, int op_case, void *body, int64_t wait_ms, Smwire__Reply **repp)
{
    smi_detail_clear();
    if (q == NULL)
        return smi_fail(SM_EINVAL, "no queue");
    int rv = smi_check_wait(wait_ms);
    return rv == SM_OK ? smi_op(&q->o, op_case, body, wait_ms, repp) : rv;
}

int
sm_queue_put(sm_queue *q, const sm_value *v, int64_t timeout_ms)
{
    smi_wval wv;
    int rv = smi_value_to_wire(v, &wv);
    if (rv != SM_OK)
        return rv;
    return queue_call(q, SMWIRE__REQUEST__OP_QUEUE_PUT, &wv.w, timeout_ms, NULL);
}

int
sm_queue_get(sm_queue *q, int64_t timeout_ms, sm_value *out)
{
    Smwire__Reply *rep;
    if (out == NULL)
        return smi_fail(SM_EINVAL, "no output value");
    int rv = queue_call(q, SMWIRE__REQUEST__OP_QUEUE_GET, NULL, timeout_ms, &rep);
    if (rv == SM_OK) {
        rv = smi_value_from_wire(rep->value, out);
        smwire__reply__free_unpacked(rep, NULL);
    }
    return rv;
}

int
sm_queue_move(sm_queue *src, const char *dst_token, bool dst_front, int64_t timeout_ms,
              sm_value *out)
{
    smi_detail_clear();
    if (src == NULL)
        return smi_fail(SM_EINVAL, "no queue");
    int rv = smi_check_wait(timeout_ms);
    if (rv != SM_OK)
        return rv;
    return smi_move(&src->o, SMWIRE__REQUEST__OP_QUEUE_MOVE, false, dst_token, dst_front,
                    timeout_ms, out);
}

int
sm_queue_info(sm_queue *q, int64_t *size, int64_t *maxsize, int64_t *unfinished)
{
    Smwire__Reply *rep;
    int rv = queue_call(q, SMWIRE__REQUEST__OP_QUEUE_INFO, NULL, 0, &rep);
    if (rv == SM_OK) {
        if (size != NULL)
            *size = rep->n;
        if (maxsize != NULL)
            *maxsize = rep->m;
        if (unfinished != NULL)
            *unfinished = rep->k;
        smwire__reply__free_unpacked(rep, NULL);
    }
    return rv;
}

int
sm_queue_task_done(sm_queue *q)
{
    return queue_call(q, SMWIRE__REQUEST__OP_QUEUE_TASK_DONE, NULL, 0, NULL);
}

int
sm_queue_join(sm_queue *q, int64_t timeout_ms)
{
    return queue_call(q, SMWIRE__REQUEST__OP_QUEUE_JOIN, NULL, timeout_ms, NULL);
}
