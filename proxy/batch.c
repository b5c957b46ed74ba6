/* batch.c - many operations in one round trip (syncmgr.h, "batches").
 *
 * While a thread records, smi_batchable() hands each batchable call here:
 * its request is packed at once (the caller's keys and values may not
 * outlive the call) straight into the Batch message's bytes, one
 * length-delimited field 1 per operation, and its output pointers are kept.
 * sm_batch_exec sends those bytes as the request's batch field without
 * unpacking or packing them again, and decodes each operation's packed
 * reply (unpacked into a bump arena, freed at once) into the outputs kept
 * for it.
 * Exported: the sm_batch_* functions of syncmgr.h. */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "smi.h"

#define BATCH_MAX_OPS 65536 /* as the server's CORE_MAX_BATCH */
#define BATCH_HEAD 10      /* room for the Batch's length, written at exec */

typedef struct batch_op {
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
    uint8_t *buf; /* BATCH_HEAD bytes of room, then the Batch: ops, atomic */
    size_t len, bufcap;
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
    size_t len = smwire__request__get_packed_size(req);
    if (b->len == 0)
        b->len = BATCH_HEAD;
    size_t need = b->len + 1 + 10 + len + 2; /* tag, length, op; room for atomic */
    if (need > b->bufcap) {
        size_t cap = b->bufcap ? b->bufcap : 1024;
        while (cap < need)
            cap *= 2;
        uint8_t *buf = realloc(b->buf, cap);
        if (buf == NULL)
            return SM_ENOMEM;
        b->buf = buf;
        b->bufcap = cap;
    }
    b->buf[b->len++] = (1 << 3) | 2; /* field 1, length-delimited */
    for (uint64_t v = len;; v >>= 7) {
        b->buf[b->len++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        if (v <= 0x7f)
            break;
    }
    smwire__request__pack(req, b->buf + b->len);
    b->len += len;
    batch_op *op = &b->ops[b->n];
    op->kind = kind;
    op->out1 = out1;
    op->out2 = out2;
    op->status = SM_ECANCELLED;
    b->n++;
    return SM_OK;
}

/* A bump arena for unpacking the sub-replies: one malloc per 16 KB instead
 * of several per reply, and no walk to free each one. */
typedef struct batch_chunk {
    struct batch_chunk *next;
    size_t left;
    max_align_t data[];
} batch_chunk;

static void *
batch_pb_alloc(void *arg, size_t size)
{
    batch_chunk **head = arg;
    size = (size + 15) & ~(size_t)15;
    batch_chunk *c = *head;
    if (c == NULL || c->left < size) {
        size_t want = size > 16384 ? size : 16384;
        c = malloc(sizeof(*c) + want);
        if (c == NULL)
            return NULL;
        c->next = *head;
        c->left = want;
        *head = c;
    }
    c->left -= size;
    return (char *)c->data + c->left;
}

static void
batch_pb_free(void *arg, void *p)
{
    (void)arg;
    (void)p; /* freed with the arena */
}

static void
batch_arena_free(batch_chunk *c)
{
    while (c != NULL) {
        batch_chunk *next = c->next;
        free(c);
        c = next;
    }
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
    if (b->atomic) {
        b->buf[b->len++] = (2 << 3) | 0; /* field 2, varint */
        b->buf[b->len++] = 1;
    }
    /* The field's length goes just before the Batch, as protobuf packs it. */
    uint8_t len[10];
    size_t nlen = 0;
    for (uint64_t v = b->len - BATCH_HEAD;; v >>= 7) {
        len[nlen++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        if (v <= 0x7f)
            break;
    }
    memcpy(b->buf + BATCH_HEAD - nlen, len, nlen);
    Smwire__Reply *rep = NULL;
    int rv = smi_client_call_batch(b->c, b->buf + BATCH_HEAD - nlen, b->len - BATCH_HEAD + nlen,
                                   &rep);
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
    batch_chunk *arena = NULL;
    ProtobufCAllocator pba = {batch_pb_alloc, batch_pb_free, &arena};
    for (size_t i = 0; i < b->n; i++) {
        batch_op *op = &b->ops[i];
        Smwire__Reply *r = smwire__reply__unpack(&pba, rep->replies[i].len, rep->replies[i].data);
        if (r == NULL) {
            op->status = SM_EPROTO;
        } else {
            op->status = (int)r->status;
            if (op->status == SM_OK)
                op->status = smi_reply_decode(r, op->kind, op->out1, op->out2);
            else if (first == SM_OK)
                smi_detail_set(r->detail);
        }
        if (op->status != SM_OK && first == SM_OK) {
            first = op->status;
            b->failed = (int64_t)i;
        }
    }
    batch_arena_free(arena);
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
    free(b->buf);
    free(b->ops);
    free(b);
}
