/* batch.c - many operations in one round trip (syncmgr.h, "batches").
 *
 * While a thread records, smi_batchable() hands each batchable call here:
 * its request is packed at once (the caller's keys and values may not
 * outlive the call) and its output pointers are kept. sm_batch_exec joins
 * the packed requests into one Batch message, sends it as one request and
 * decodes each operation's packed reply into the outputs kept for it.
 * Exported: the sm_batch_* functions of syncmgr.h. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "smi.h"

#define BATCH_MAX_OPS 65536 /* as the server's CORE_MAX_BATCH */

typedef struct batch_op {
    uint8_t *bytes; /* the packed sub-request */
    size_t len;
    int kind; /* SMI_R_... */
    void *out1, *out2;
    int status;
} batch_op;

struct sm_batch {
    sm_client *c;
    pthread_t owner; /* the thread that records it */
    bool atomic;
    bool done;
    batch_op *ops;
    size_t n, cap;
    int64_t failed;
};

/* The batch this thread records, if any. */
static __thread sm_batch *batch_cur;

sm_batch *
smi_recording(const sm_client *c)
{
    sm_batch *b = batch_cur;
    return b != NULL && b->c == c ? b : NULL;
}

int
sm_batch_begin(sm_client *c, int mode, sm_batch **bp)
{
    smi_detail_clear();
    if (c == NULL || bp == NULL)
        return smi_fail(SM_EINVAL, "no client or no output pointer");
    if (mode != SM_BATCH_ATOMIC && mode != SM_BATCH_PIPELINE)
        return smi_fail(SM_EINVAL, "mode %d is neither SM_BATCH_ATOMIC nor SM_BATCH_PIPELINE",
                        mode);
    if (batch_cur != NULL)
        return smi_fail(SM_EINVAL, "this thread already records a batch");
    sm_batch *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return SM_ENOMEM;
    b->c = c;
    b->owner = pthread_self();
    b->atomic = mode == SM_BATCH_ATOMIC;
    b->failed = -1;
    batch_cur = b;
    *bp = b;
    return SM_OK;
}

int
smi_batch_add(sm_batch *b, const Smwire__Request *req, int kind, void *out1, void *out2)
{
    if (b->n == BATCH_MAX_OPS)
        return smi_fail(SM_EINVAL, "a batch holds at most %d operations", BATCH_MAX_OPS);
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        batch_op *ops = realloc(b->ops, cap * sizeof(*ops));
        if (ops == NULL)
            return SM_ENOMEM;
        b->ops = ops;
        b->cap = cap;
    }
    batch_op *op = &b->ops[b->n];
    op->len = smwire__request__get_packed_size(req);
    op->bytes = malloc(op->len + 1);
    if (op->bytes == NULL)
        return SM_ENOMEM;
    smwire__request__pack(req, op->bytes);
    op->kind = kind;
    op->out1 = out1;
    op->out2 = out2;
    op->status = SM_ECANCELLED;
    b->n++;
    return SM_OK;
}

/* batch_message builds the Batch from the packed requests: each one is a
 * length-delimited field 1, exactly as protobuf packs an embedded message,
 * so one unpack gives the structure to send. NULL when out of memory. */
static Smwire__Batch *
batch_message(const sm_batch *b)
{
    size_t total = 2;
    for (size_t i = 0; i < b->n; i++)
        total += 1 + 10 + b->ops[i].len;
    uint8_t *buf = malloc(total);
    if (buf == NULL)
        return NULL;
    size_t at = 0;
    for (size_t i = 0; i < b->n; i++) {
        buf[at++] = (1 << 3) | 2; /* field 1, length-delimited */
        uint64_t len = b->ops[i].len;
        do {
            buf[at++] = (uint8_t)((len & 0x7f) | (len > 0x7f ? 0x80 : 0));
            len >>= 7;
        } while (len != 0);
        memcpy(buf + at, b->ops[i].bytes, b->ops[i].len);
        at += b->ops[i].len;
    }
    if (b->atomic) {
        buf[at++] = (2 << 3) | 0; /* field 2, varint */
        buf[at++] = 1;
    }
    Smwire__Batch *m = smwire__batch__unpack(NULL, at, buf);
    free(buf);
    return m;
}

int
sm_batch_exec(sm_batch *b)
{
    smi_detail_clear();
    if (b == NULL)
        return smi_fail(SM_EINVAL, "no batch");
    if (!pthread_equal(b->owner, pthread_self()))
        return smi_fail(SM_EINVAL, "a batch is sent by the thread that recorded it");
    if (batch_cur == b)
        batch_cur = NULL;
    if (b->done)
        return smi_fail(SM_EINVAL, "this batch was sent already");
    b->done = true;
    if (b->n == 0)
        return SM_OK;
    Smwire__Batch *m = batch_message(b);
    if (m == NULL)
        return SM_ENOMEM;
    Smwire__Reply *rep = NULL;
    int rv = smi_client_call_batch(b->c, m, &rep);
    smwire__batch__free_unpacked(m, NULL);
    if (rv != SM_OK) {
        /* An atomic batch that failed in the server: which operation. The
         * reply itself is gone, but its status and index came back. */
        if (b->atomic && rv != SM_ENOREPLY && rv != SM_ECLOSED && rv != SM_EUNREACHABLE) {
            int64_t at = smi_last_fail_index();
            if (at >= 0 && (size_t)at < b->n) {
                b->failed = at;
                b->ops[at].status = rv;
            }
        }
        return rv;
    }
    if (rep->n_replies != b->n) {
        smwire__reply__free_unpacked(rep, NULL);
        return smi_fail(SM_EPROTO, "%zu replies to a batch of %zu", rep->n_replies, b->n);
    }
    int first = SM_OK;
    for (size_t i = 0; i < b->n; i++) {
        batch_op *op = &b->ops[i];
        Smwire__Reply *r = smwire__reply__unpack(NULL, rep->replies[i].len, rep->replies[i].data);
        if (r == NULL) {
            op->status = SM_EPROTO;
        } else {
            op->status = (int)r->status;
            if (op->status == SM_OK)
                op->status = smi_reply_decode(r, op->kind, op->out1, op->out2);
            else if (first == SM_OK)
                smi_detail_set(r->detail);
            smwire__reply__free_unpacked(r, NULL);
        }
        if (op->status != SM_OK && first == SM_OK) {
            first = op->status;
            b->failed = (int64_t)i;
        }
    }
    smwire__reply__free_unpacked(rep, NULL);
    return first;
}

size_t
sm_batch_len(const sm_batch *b)
{
    return b != NULL ? b->n : 0;
}

int
sm_batch_status(const sm_batch *b, size_t i)
{
    if (b == NULL || i >= b->n)
        return smi_fail(SM_EINVAL, "no operation %zu in this batch", i);
    if (!b->done)
        return smi_fail(SM_EINVAL, "the batch has not been sent");
    return b->ops[i].status;
}

int64_t
sm_batch_failed(const sm_batch *b)
{
    return b != NULL ? b->failed : -1;
}

void
sm_batch_free(sm_batch *b)
{
    if (b == NULL)
        return;
    if (batch_cur == b)
        batch_cur = NULL;
    for (size_t i = 0; i < b->n; i++)
        free(b->ops[i].bytes);
    free(b->ops);
    free(b);
}
