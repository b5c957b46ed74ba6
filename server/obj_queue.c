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
 *
 * Moves (QUEUE.MOVE, and LIST.MOVE into a queue; srv.h): a move from an
 * empty queue parks among its getters, first come first served with the
 * gets. Its waiter keeps the destination's id in n, its nonce in val (an
 * int) and dst_front in flag; nothing pins the destination. Whenever items
 * enter a queue that has getters, queue_serve hands them out in order: a
 * get takes its item; a move finds its destination again and, if it can
 * take the item now, puts it there and answers with it, else it is
 * answered with why (SM_EFULL, SM_ELIMIT, SM_ENOOBJ) and the item stays for
 * the next getter, or in the queue: a failed move takes nothing. So a
 * queue with items has no getters, and one with getters is empty. A move
 * from a joinable queue counts as a get (the item stays unfinished until a
 * TASK_DONE) but no session holds it: it is safe in its destination, and
 * giving it back when the mover's session ends would put it in both.
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
    srv_wlist getters, putters, joiners; /* getters: gets and parked moves */
    struct queue *serve_next; /* on queue_serve's work list */
    bool serving;
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

/* queue_serve_move answers g, a move parked on q (which has an item): the
 * oldest item goes to g's destination if it can take it now, and g gets it;
 * else g gets the reason and q keeps the item. Returns the destination when
 * it is a queue, whose getters may want the item in turn. */
static queue *
queue_serve_move(srv_state *st, queue *q, srv_waiter *g)
{
    srv_call sc; /* for the checks' detail and limits */
    call_scratch(&sc, st);
    srv_obj *dst = store_lookup(st, (uint64_t)g->n, (uint64_t)g->val.u.i);
    int rv = dst == NULL ? call_fail(&sc, SM_ENOOBJ, "the destination object is gone")
                         : move_can_take(&sc, &q->hdr, dst, g->flag);
    if (rv != SM_OK) {
        Smwire__Reply rep = SMWIRE__REPLY__INIT;
        rep.status = (uint32_t)rv;
        rep.detail = sc.detail;
        srv_answer_rep(st, g, &rep);
        call_scratch_free(&sc);
        return NULL;
    }
    call_scratch_free(&sc);
    bool front = g->flag;
    srv_val item;
    queue_pop(q, &item);
    srv_answer(st, g, SM_OK, &item, 0, false); /* packs a copy of the item */
    if (dst->type == &srv_type_list) {
        list_put(dst, &item, front);
        return NULL;
    }
    queue *d = QUEUE(dst);
    queue_push(d, &item); /* room was made by move_can_take */
    queue_item_entered(st, d);
    return d;
}

/* queue_serve hands the items of q to its parked getters, oldest first to
 * the first parked, after items entered it. A move that puts an item into
 * another queue with getters adds that queue to a work list, served in turn
 * rather than by recursion, so a long chain of moves parked on one another
 * cannot exhaust the stack. Each queue is pinned while on the list: a value
 * cleared on the way may hold the last reference to it. */
static void
queue_serve(srv_state *st, queue *q)
{
    if (q->len == 0 || q->getters.head == NULL || q->serving)
        return;
    queue *work = q;
    q->serve_next = NULL;
    q->serving = true;
    obj_incref(&q->hdr);
    while (work != NULL) {
        queue *cur = work;
        work = cur->serve_next;
        cur->serving = false;
        while (cur->len > 0 && cur->getters.head != NULL) {
            srv_waiter *g = cur->getters.head;
            if (g->op_case == SMWIRE__REQUEST__OP_QUEUE_MOVE) {
                queue *d = queue_serve_move(st, cur, g);
                if (d != NULL && d != cur && !d->serving && d->getters.head != NULL) {
                    obj_incref(&d->hdr);
                    d->serving = true;
                    d->serve_next = work;
                    work = d;
                }
            } else {
                srv_val item;
                queue_pop(cur, &item);
                queue_taken(st, cur, g->sess, &item);
                srv_answer(st, g, SM_OK, &item, 0, false);
                val_clear(st, &item);
            }
            queue_admit(st, cur); /* room now: the first parked put's item goes in */
        }
        obj_decref(st, &cur->hdr);
    }
}

bool
queue_session_give(srv_state *st, srv_obj *o, srv_val *item)
{
    queue *q = QUEUE(o);
    srv_val v;
    if (q->getters.head == NULL || val_copy(&v, item) != SM_OK)
        return false;
    if (!queue_push_front(q, &v)) {
        val_clear(st, &v);
        return false;
    }
    queue_serve(st, q); /* a getter takes it, or it stays in front */
    return true;
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

/* ------------------------------------------------------------------ moves */

int
queue_can_take(srv_call *call, srv_obj *o, bool same)
{
    queue *q = QUEUE(o);
    /* Into itself the queue stays as long; a full one may rotate. */
    if (!same && q->maxsize > 0 && (int64_t)q->len >= q->maxsize)
        return call_fail(call, SM_EFULL, "the destination queue is full (maxsize %" PRId64 ")",
                         q->maxsize);
    if (!same && (uint64_t)q->len >= call->st->limits.max_items)
        return call_fail(call, SM_ELIMIT, "queue has %zu items, the limit (--max-items)",
                         q->len);
    return queue_room(q) ? SM_OK : SM_ENOMEM;
}

void
queue_put_item(srv_call *call, srv_obj *o, srv_val *item)
{
    queue *q = QUEUE(o);
    queue_push(q, item); /* room was made by queue_can_take */
    queue_item_entered(call->st, q);
    queue_serve(call->st, q);
}

/* QUEUE.MOVE dest (timeout) -> value | SM_EEMPTY (empty, also when the
 * timeout passes) | what the destination refuses (checked first, also
 * before parking; never waited for). */
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
    if (q->len == 0) {
        srv_waiter *w;
        if (call->req->timeout_ms == 0)
            return SM_EEMPTY;
        rv = srv_park(call, o, &q->getters, &w);
        if (rv == SRV_PARKED) {
            w->n = (int64_t)mv->dest->id;
            w->val.type = SM_INT;
            w->val.u.i = (int64_t)mv->dest->nonce;
            w->flag = mv->dst_front;
        }
        return rv;
    }
    srv_val copy, *kept;
    if (val_copy(&copy, &q->ring[q->head]) != SM_OK)
        return SM_ENOMEM;
    if ((kept = call_keep(call, &copy)) == NULL) {
        val_clear(call->st, &copy);
        return SM_ENOMEM;
    }
    rv = reply_value(call, kept); /* before the item leaves: nothing fails after */
    if (rv != SM_OK)
        return rv;
    srv_val item;
    queue_pop(q, &item);
    move_put(call, dst, &item, mv->dst_front);
    queue_admit(call->st, q);
    return SM_OK;
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
    if (q->getters.head != NULL) { /* empty, so room: the first getter takes it */
        if (!queue_push(q, &v)) {
            val_clear(call->st, &v);
            return SM_ENOMEM;
        }
        queue_item_entered(call->st, q);
        queue_serve(call->st, q);
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
    if (w->op_case == SMWIRE__REQUEST__OP_QUEUE_GET || w->op_case == SMWIRE__REQUEST__OP_QUEUE_MOVE)
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

/* A snapshot holds maxsize, joinable and the items, oldest first. Items
 * taken from a joinable queue and not yet marked done are with their
 * sessions, which a restart ends: they are not saved, and a loaded
 * joinable queue counts exactly its items as unfinished. */
static int
queue_save(srv_call *call, srv_obj *o, Smsnap__Object *out)
{
    const queue *q = QUEUE(o);
    out->shape->count = q->maxsize;
    out->shape->joinable = q->joinable;
    if (snap_values(call, out, q->len) != SM_OK)
        return SM_ENOMEM;
    for (size_t i = 0; i < q->len; i++)
        if (val_to_wire(call, &q->ring[(q->head + i) % q->cap], out->values[i]) != SM_OK)
            return SM_ENOMEM;
    return SM_OK;
}

static int
queue_load(srv_call *call, srv_obj *o, const Smsnap__Object *in)
{
    queue *q = QUEUE(o);
    if ((uint64_t)in->n_values > call->st->limits.max_items)
        return call_fail(call, SM_ELIMIT, "%zu items, over the limit of %" PRIu64
                         " (--max-items)", in->n_values, call->st->limits.max_items);
    for (size_t i = 0; i < in->n_values; i++) {
        srv_val v;
        int rv = val_from_wire(call, in->values[i], &v);
        if (rv != SM_OK)
            return rv;
        if (!queue_push(q, &v)) {
            val_clear(call->st, &v);
            return SM_ENOMEM;
        }
        queue_item_entered(call->st, q);
    }
    return SM_OK;
}

static const srv_op queue_ops[] = {
    {SMWIRE__REQUEST__OP_QUEUE_PUT, "queue.put", queue_op_put, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_QUEUE_GET, "queue.get", queue_op_get, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_QUEUE_INFO, "queue.info", queue_op_info, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_QUEUE_TASK_DONE, "queue.task_done", queue_op_task_done, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_QUEUE_MOVE, "queue.move", queue_op_move, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_QUEUE_JOIN, "queue.join", queue_op_join, SRV_OP_READ},
};

/* STATUS: size = items, maxsize, unfinished, waiters (gets, puts, joins) */
static int
queue_info(srv_call *call, srv_obj *o, Smwire__ObjectInfo *out)
{
    (void)call;
    const queue *q = QUEUE(o);
    out->size = q->len;
    out->maxsize = q->maxsize;
    out->unfinished = q->unfinished;
    out->waiters = q->getters.n + q->putters.n + q->joiners.n;
    return SM_OK;
}

const srv_type srv_type_queue = {
    .name = "queue",
    .wire_type = SMWIRE__OBJ_TYPE__OBJ_QUEUE,
    .ops = queue_ops,
    .nops = SM_NELEM(queue_ops),
    .create = queue_create,
    .destroy = queue_destroy,
    .fill_open = queue_fill_open,
    .timeout = queue_timeout,
    .save = queue_save,
    .load = queue_load,
    .info = queue_info,
};
