/* obj_queue.c - FIFO queues, bounded or not, joinable or not.
 *
 * Items live in a ring buffer. A put that finds a parked getter hands the
 * item straight to it; a get that makes room moves the first parked put's
 * item in. A bounded queue parks puts while full (their item waits in the
 * waiter). A joinable queue counts unfinished items: one more when an item
 * enters, one less per TASK_DONE; JOIN parks until none is left. Timeouts
 * answer as Python raises: a get SM_EEMPTY, a put SM_EFULL, a join
 * SM_ETIMEDOUT. The session that takes an item from a joinable queue holds
 * a copy until its TASK_DONE; if the session ends first, queue_session_gone
 * puts the item back at the front, so a worker that dies loses no task.
 * A put into a queue that holds --max-items items is SM_ELIMIT (a bounded
 * queue's own maxsize is checked first: full is SM_EFULL, or a wait). Items
 * given back by a dead session return even past the limit: they were in.
 * Exported: srv_type_queue, queue_session_give, queue_session_return, and for
 * moves (srv.h) queue_can_take, queue_put_item. */
#include <stdlib.h>
#include <string.h>

#include "srv.h"

typedef struct queue {
    srv_obj hdr;
    srv_val *ring;
    size_t cap, head, len;
    int64_t maxsize; /* 0: unbounded */
    bool joinable;
    int64_t unfinished;
    srv_wlist getters, putters, joiners;
} queue;

#define QUEUE(o) ((queue *)(o))

/* ---------------------------------------------------------------- queue API */

/* queue_room makes room for one more item; false (queue unchanged) when
 * out of memory. */
static bool
queue_room(queue *q)
{
    if (q->len < q->cap)
        return true;
    size_t cap = q->cap ? q->cap * 2 : 16;
    srv_val *r = malloc(cap * sizeof(*r));
    if (r == NULL)
        return false;
    for (size_t i = 0; i < q->len; i++)
        r[i] = q->ring[(q->head + i) % q->cap];
    free(q->ring);
    q->ring = r;
    q->cap = cap;
    q->head = 0;
    return true;
}

/* queue_push takes *v onto the tail; false (nothing taken) when out of
 * memory. */
static bool
queue_push(queue *q, srv_val *v)
{
    if (!queue_room(q))
        return false;
    q->ring[(q->head + q->len) % q->cap] = *v;
    v->type = SM_NIL;
    q->len++;
    return true;
}

/* queue_push_front takes *v onto the head; false when out of memory. */
static bool
queue_push_front(queue *q, srv_val *v)
{
    if (!queue_room(q))
        return false;
    q->head = (q->head + q->cap - 1) % q->cap;
    q->ring[q->head] = *v;
    v->type = SM_NIL;
    q->len++;
    return true;
}

/* queue_pop moves the head item into *out; the queue is not empty. */
static void
queue_pop(queue *q, srv_val *out)
{
    *out = q->ring[q->head];
    q->head = (q->head + 1) % q->cap;
    q->len--;
}

static void
queue_item_entered(srv_state *st, queue *q)
{
    (void)st;
    if (q->joinable)
        q->unfinished++;
}

/* queue_taken records that session s took item from a joinable queue. */
static void
queue_taken(srv_state *st, queue *q, srv_sess *s, srv_val *item)
{
    if (q->joinable)
        srv_hold_item(st, s, &q->hdr, item);
}

/* queue_give hands item to the first parked getter; false if none. */
static bool
queue_give(srv_state *st, queue *q, srv_val *item)
{
    srv_waiter *g = q->getters.head;
    if (g == NULL)
        return false;
    queue_taken(st, q, g->sess, item);
    srv_answer(st, g, SM_OK, item, 0, false);
    return true;
}

bool
queue_session_give(srv_state *st, srv_obj *o, srv_val *item)
{
    return queue_give(st, QUEUE(o), item);
}

void
queue_session_return(srv_state *st, srv_obj *o, srv_val *item)
{
    srv_val v;
    if (val_copy(&v, item) != SM_OK)
        return;
    if (!queue_push_front(QUEUE(o), &v))
        val_clear(st, &v);
}

/* queue_admit lets the first parked put's item in, if there is room. */
static void
queue_admit(srv_state *st, queue *q)
{
    srv_waiter *p = q->putters.head;
    if (p != NULL && (q->maxsize == 0 || (int64_t)q->len < q->maxsize) && queue_push(q, &p->val)) {
        queue_item_entered(st, q);
        srv_answer(st, p, SM_OK, NULL, 0, false);
    }
}

/* ------------------------------------------------------------------ moves */

int
queue_can_take(srv_call *call, srv_obj *o, bool same)
{
    queue *q = QUEUE(o);
    if (q->getters.head != NULL)
        return SM_OK; /* handed on at once */
    if (!same && q->maxsize > 0 && (int64_t)q->len >= q->maxsize)
        return call_fail(call, SM_EFULL, "the destination queue is full");
    if (!same && (uint64_t)q->len >= call->st->limits.max_items)
        return call_fail(call, SM_ELIMIT, "queue has %zu items, the limit (--max-items)",
                         q->len);
    return queue_room(q) ? SM_OK : SM_ENOMEM;
}

void
queue_put_item(srv_call *call, srv_obj *o, srv_val *item)
{
    queue *q = QUEUE(o);
    queue_item_entered(call->st, q);
    if (queue_give(call->st, q, item))
        val_clear(call->st, item);
    else
        queue_push(q, item); /* room was made by queue_can_take */
}

/* QUEUE.MOVE dest -> value | SM_EEMPTY. A move never waits. */
static int
queue_op_move(srv_call *call, srv_obj *o)
{
    const Smwire__Move *mv = call->req->queue_move;
    queue *q = QUEUE(o);
    if (mv->src_front)
        return call_fail(call, SM_EINVAL, "a queue gives its oldest item only");
    srv_obj *dst = NULL;
    int rv = move_dest(call, o, mv, &dst);
    if (rv != SM_OK)
        return rv;
    if (q->len == 0)
        return SM_EEMPTY;
    srv_val copy, *kept;
    if (val_copy(&copy, &q->ring[q->head]) != SM_OK)
        return SM_ENOMEM;
    if ((kept = call_keep(call, &copy)) == NULL) {
        val_clear(call->st, &copy);
        return SM_ENOMEM;
    }
    srv_val item;
    queue_pop(q, &item);
    queue_taken(call->st, q, call->sess, &item);
    move_put(call, dst, &item, mv->dst_front);
    queue_admit(call->st, q);
    return reply_value(call, kept);
}

/* ----------------------------------------------------------------- handlers */

/* QUEUE.PUT value (timeout) -> SM_OK | SM_EFULL | SM_ELIMIT (holding
 * --max-items already: refused at once, never parked) */
static int
queue_op_put(srv_call *call, srv_obj *o)
{
    queue *q = QUEUE(o);
    srv_val v;
    srv_waiter *w;
    int rv = val_from_wire(call, call->req->queue_put, &v);
    if (rv != SM_OK)
        return rv;
    if (q->getters.head != NULL) {
        queue_item_entered(call->st, q);
        queue_give(call->st, q, &v);
        val_clear(call->st, &v);
        return SM_OK;
    }
    if (q->maxsize > 0 && (int64_t)q->len >= q->maxsize) {
        if (call->req->timeout_ms == 0) {
            val_clear(call->st, &v);
            return SM_EFULL;
        }
        rv = srv_park(call, o, &q->putters, &w);
        if (rv == SRV_PARKED)
            w->val = v;
        else
            val_clear(call->st, &v);
        return rv;
    }
    if ((uint64_t)q->len >= call->st->limits.max_items) {
        val_clear(call->st, &v);
        return call_fail(call, SM_ELIMIT, "queue has %zu items, the limit (--max-items)",
                         q->len);
    }
    if (!queue_push(q, &v)) {
        val_clear(call->st, &v);
        return SM_ENOMEM;
    }
    queue_item_entered(call->st, q);
    return SM_OK;
}

/* QUEUE.GET (timeout) -> value | SM_EEMPTY */
static int
queue_op_get(srv_call *call, srv_obj *o)
{
    queue *q = QUEUE(o);
    if (q->len == 0) {
        if (call->req->timeout_ms == 0)
            return SM_EEMPTY;
        return srv_park(call, o, &q->getters, NULL);
    }
    srv_val item;
    queue_pop(q, &item);
    queue_taken(call->st, q, call->sess, &item);
    srv_val *kept = call_keep(call, &item);
    if (kept == NULL) {
        val_clear(call->st, &item); /* lost, but the queue stays consistent */
        return SM_ENOMEM;
    }
    queue_admit(call->st, q); /* room now: the first parked put's item goes in */
    return reply_value(call, kept);
}

/* QUEUE.INFO -> n: size, m: maxsize, k: unfinished */
static int
queue_op_info(srv_call *call, srv_obj *o)
{
    call->rep.n = (int64_t)QUEUE(o)->len;
    call->rep.m = QUEUE(o)->maxsize;
    call->rep.k = QUEUE(o)->unfinished;
    return SM_OK;
}

/* QUEUE.TASK_DONE -> SM_OK | SM_EINVAL */
static int
queue_op_task_done(srv_call *call, srv_obj *o)
{
    queue *q = QUEUE(o);
    if (!q->joinable)
        return call_fail(call, SM_EINVAL, "task_done on a queue that is not joinable");
    if (q->unfinished == 0)
        return call_fail(call, SM_EINVAL, "task_done called more times than items were put");
    srv_hold_item_done(call->st, call->sess, o);
    if (--q->unfinished == 0)
        while (q->joiners.head != NULL)
            srv_answer(call->st, q->joiners.head, SM_OK, NULL, 0, false);
    return SM_OK;
}

/* QUEUE.JOIN (timeout) -> SM_OK | SM_ETIMEDOUT */
static int
queue_op_join(srv_call *call, srv_obj *o)
{
    queue *q = QUEUE(o);
    if (!q->joinable)
        return call_fail(call, SM_EINVAL, "join on a queue that is not joinable");
    if (q->unfinished == 0)
        return SM_OK;
    if (call->req->timeout_ms == 0)
        return SM_ETIMEDOUT;
    return srv_park(call, o, &q->joiners, NULL);
}

static void
queue_timeout(srv_state *st, srv_waiter *w)
{
    int status = SM_ETIMEDOUT;
    if (w->op_case == SMWIRE__REQUEST__OP_QUEUE_GET)
        status = SM_EEMPTY;
    else if (w->op_case == SMWIRE__REQUEST__OP_QUEUE_PUT)
        status = SM_EFULL;
    srv_answer(st, w, status, NULL, 0, false);
}

/* -------------------------------------------------------------------- type */

static int
queue_create(srv_call *call, const Smwire__Open *op, srv_obj **out)
{
    if (op->count < 0)
        return call_fail(call, SM_EINVAL, "maxsize %" PRId64 " < 0", op->count);
    queue *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return SM_ENOMEM;
    q->maxsize = op->count;
    q->joinable = op->joinable;
    *out = &q->hdr;
    return SM_OK;
}

static void
queue_fill_open(srv_call *call, srv_obj *o)
{
    call->rep.m = QUEUE(o)->maxsize;
    call->rep.joinable = QUEUE(o)->joinable;
}

static void
queue_destroy(srv_state *st, srv_obj *o)
{
    queue *q = QUEUE(o);
    srv_wlist_fail(st, &q->getters, SM_ENOOBJ);
    srv_wlist_fail(st, &q->putters, SM_ENOOBJ);
    srv_wlist_fail(st, &q->joiners, SM_ENOOBJ);
    for (size_t i = 0; i < q->len; i++)
        val_clear(st, &q->ring[(q->head + i) % q->cap]);
    free(q->ring);
    free(o);
}

static const srv_op queue_ops[] = {
    {SMWIRE__REQUEST__OP_QUEUE_PUT, "queue.put", queue_op_put, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_QUEUE_GET, "queue.get", queue_op_get, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_QUEUE_INFO, "queue.info", queue_op_info, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_QUEUE_TASK_DONE, "queue.task_done", queue_op_task_done, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_QUEUE_MOVE, "queue.move", queue_op_move, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_QUEUE_JOIN, "queue.join", queue_op_join, SRV_OP_READ},
};

const srv_type srv_type_queue = {
    .name = "queue",
    .wire_type = SMWIRE__OBJ_TYPE__OBJ_QUEUE,
    .ops = queue_ops,
    .nops = SM_NELEM(queue_ops),
    .create = queue_create,
    .destroy = queue_destroy,
    .fill_open = queue_fill_open,
    .timeout = queue_timeout,
};
