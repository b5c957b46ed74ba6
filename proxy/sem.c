/* sem.c - the semaphore proxy (Semaphore and BoundedSemaphore).
 * Exported: the sm_sem_* functions of syncmgr.h. */
#include <stdlib.h>

#include "smi.h"

SMI_PROXY(sem, SMWIRE__OBJ_TYPE__OBJ_SEMAPHORE)

static int
sem_open_common(sm_client *c, const char *name, int64_t value, bool bounded, sm_sem **out)
{
    Smwire__Open op = SMWIRE__OPEN__INIT;
    if (value < 0)
        return smi_fail(SM_EINVAL, "semaphore value %lld < 0", (long long)value);
    op.type = SMWIRE__OBJ_TYPE__OBJ_SEMAPHORE;
    op.count = value;
    op.bounded = bounded;
    return smi_obj_typed_open(c, name, &op, sizeof(sm_sem), (void **)out, NULL);
}

int
sm_sem_open(sm_client *c, const char *name, int64_t value, bool bounded, sm_sem **out)
{
    if (name == NULL)
        return smi_fail(SM_EINVAL, "no name");
    return sem_open_common(c, name, value, bounded, out);
}

int
sm_sem_new(sm_client *c, int64_t value, bool bounded, sm_sem **out)
{
    return sem_open_common(c, NULL, value, bounded, out);
}

int
sm_sem_acquire(sm_sem *s, int64_t timeout_ms)
{
    smi_detail_clear();
    if (s == NULL)
        return smi_fail(SM_EINVAL, "no semaphore");
    int rv = smi_check_wait(timeout_ms);
    if (rv != SM_OK)
        return rv;
    return smi_op(&s->o, SMWIRE__REQUEST__OP_SEM_ACQUIRE, NULL, timeout_ms, NULL);
}

int
sm_sem_release(sm_sem *s, int64_t n)
{
    Smwire__Index ix = SMWIRE__INDEX__INIT;
    smi_detail_clear();
    if (s == NULL || n < 1)
        return smi_fail(SM_EINVAL, "no semaphore, or n < 1");
    ix.index = n;
    return smi_op(&s->o, SMWIRE__REQUEST__OP_SEM_RELEASE, &ix, 0, NULL);
}

int
sm_sem_value(sm_sem *s, int64_t *out)
{
    Smwire__Reply *rep;
    smi_detail_clear();
    if (s == NULL || out == NULL)
        return smi_fail(SM_EINVAL, "no semaphore or output");
    int rv = smi_op(&s->o, SMWIRE__REQUEST__OP_SEM_VALUE, NULL, 0, &rep);
    if (rv == SM_OK) {
        *out = rep->n;
        smwire__reply__free_unpacked(rep, NULL);
    }
    return rv;
}
