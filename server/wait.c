/* wait.c - parked requests: waiter lists, the timer heap, late replies.
 *
 * A waiter belongs to at most one list (its object's FIFO, kept in arrival
 * order) and, while it has a deadline, to the timer heap (a binary min-heap
 * on deadline, each waiter knowing its index so removal is O(log n)). A
 * waiter holds no reference to its object: answering a waiter can then
 * never destroy the object whose list is being walked, and an object that
 * is destroyed answers its waiters SM_ENOOBJ. Its reply is packed here and handed to the network through
 * st->hooks.send; a waiter parked without a network (the fuzz target)
 * simply has no one to tell.
 * Exported: srv_now_ms, srv_park, srv_answer, srv_wlist_move,
 * srv_wlist_fail, srv_expire, srv_waiters_fini. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srv.h"

int64_t
srv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
srv_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mtx, int64_t deadline_ms)
{
    struct timespec ts = {(time_t)(deadline_ms / 1000), (long)(deadline_ms % 1000) * 1000000L};
    return pthread_cond_timedwait(cv, mtx, &ts);
}

/* ------------------------------------------------------------------- heap */

static void
heap_set(srv_state *st, size_t i, srv_waiter *w)
{
    st->timers[i] = w;
    w->heap_idx = i;
}

static void
heap_up(srv_state *st, size_t i)
{
    srv_waiter *w = st->timers[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (st->timers[p]->deadline <= w->deadline)
            break;
        heap_set(st, i, st->timers[p]);
        i = p;
    }
    heap_set(st, i, w);
}

static void
heap_down(srv_state *st, size_t i)
{
    srv_waiter *w = st->timers[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= st->ntimers)
            break;
        if (c + 1 < st->ntimers && st->timers[c + 1]->deadline < st->timers[c]->deadline)
            c++;
        if (w->deadline <= st->timers[c]->deadline)
            break;
        heap_set(st, i, st->timers[c]);
        i = c;
    }
    heap_set(st, i, w);
}

static bool
heap_push(srv_state *st, srv_waiter *w)
{
    if (st->ntimers == st->captimers) {
        size_t cap = st->captimers ? st->captimers * 2 : 64;
        srv_waiter **t = realloc(st->timers, cap * sizeof(*t));
        if (t == NULL)
            return false;
        st->timers = t;
        st->captimers = cap;
    }
    heap_set(st, st->ntimers++, w);
    heap_up(st, w->heap_idx);
    if (w->heap_idx == 0 && st->hooks.kick != NULL)
        st->hooks.kick(st->hooks.arg);
    return true;
}

static void
heap_remove(srv_state *st, srv_waiter *w)
{
    size_t i = w->heap_idx;
    if (i == SIZE_MAX)
        return;
    w->heap_idx = SIZE_MAX;
    srv_waiter *last = st->timers[--st->ntimers];
    if (last == w)
        return;
    heap_set(st, i, last);
    heap_up(st, i);
    heap_down(st, last->heap_idx);
}

/* ------------------------------------------------------------------ lists */

static void
wlist_push(srv_wlist *l, srv_waiter *w)
{
    w->list = l;
    w->next = NULL;
    w->prev = l->tail;
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
    l->n++;
}

static void
wlist_unlink(srv_waiter *w)
{
    srv_wlist *l = w->list;
    if (l == NULL)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        l->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        l->tail = w->prev;
    l->n--;
    w->list = NULL;
    w->prev = w->next = NULL;
}

/* ---------------------------------------------------------------- waiters */

int
srv_park(srv_call *call, srv_obj *obj, srv_wlist *list, srv_waiter **wp)
{
    srv_state *st = call->st;
    const Smwire__Request *req = call->req;
    if (call->in_batch) /* no operation in a batch waits (core_batch_ok) */
        return call_fail(call, SM_ETIMEDOUT, "an operation in a batch does not wait");
    int rv = srv_sess_park_room(call);
    if (rv != SM_OK)
        return rv;
    srv_waiter *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return SM_ENOMEM;
    w->obj = obj;
    w->conn = call->conn;
    w->op_case = (int)req->op_case;
    w->session = req->session;
    w->owner = req->owner;
    w->heap_idx = SIZE_MAX;
    w->val.type = SM_NIL;
    /* +1: the clock counts whole milliseconds, so "now" may be up to 1 ms
     * old; a wait must never be answered before its full timeout. */
    int64_t now = srv_now_ms() + 1;
    if (req->timeout_ms < 0 || req->timeout_ms > INT64_MAX - now)
        w->deadline = -1; /* forever, or so far off that it is the same */
    else
        w->deadline = now + req->timeout_ms;
    if (w->deadline >= 0 && !heap_push(st, w)) {
        free(w);
        return SM_ENOMEM;
    }
    wlist_push(list, w);
    st->nwaiters++;
    srv_sess_park_note(call, w);
    if (wp != NULL)
        *wp = w;
    return SRV_PARKED;
}

/* waiter_free unlinks and frees w and drops its reference. */
static void
waiter_free(srv_state *st, srv_waiter *w)
{
    srv_sess_waiter_gone(w);
    wlist_unlink(w);
    heap_remove(st, w);
    val_clear(st, &w->val);
    st->nwaiters--;
    free(w);
}

void
srv_answer_rep(srv_state *st, srv_waiter *w, Smwire__Reply *rep)
{
    size_t len = smwire__reply__get_packed_size(rep);
    uint8_t stackbuf[256], *buf = len <= sizeof(stackbuf) ? stackbuf : malloc(len);
    if (buf != NULL) {
        smwire__reply__pack(rep, buf);
        srv_sess_answered(st, w, buf, len);
        if (st->hooks.send != NULL && w->conn != NULL)
            st->hooks.send(st->hooks.arg, w->conn, buf, len);
        if (buf != stackbuf)
            free(buf);
    } else {
        srv_log(SRV_LOG_WARN, "no memory for a late reply; its caller will time out");
    }
    waiter_free(st, w);
}

void
srv_answer(srv_state *st, srv_waiter *w, int status, const srv_val *value, int64_t n, bool flag)
{
    Smwire__Reply rep = SMWIRE__REPLY__INIT;
    Smwire__Value wv;
    srv_call call; /* only for val_to_wire's arena, which a REF needs */

    memset(&call, 0, sizeof(call));
    call.st = st;
    call.arena.cur = call.arena.first;
    call.arena.left = sizeof(call.arena.first);
    rep.status = (uint32_t)status;
    rep.detail = (char *)"";
    if (status == SM_OK || status == SM_EOWNERDEAD) {
        rep.n = n;
        rep.flag = flag;
        rep.fence = w->fence;
        if (value != NULL && val_to_wire(&call, value, &wv) == SM_OK)
            rep.value = &wv;
    }
    /* val_to_wire took its REF storage from the call's first arena chunk. */
    srv_answer_rep(st, w, &rep);
}

void
srv_waiter_drop(srv_state *st, srv_waiter *w)
{
    waiter_free(st, w);
}

void
srv_wlist_move(srv_state *st, srv_waiter *w, srv_wlist *list)
{
    wlist_unlink(w);
    heap_remove(st, w);
    w->deadline = -1;
    wlist_push(list, w);
}

void
srv_wlist_fail(srv_state *st, srv_wlist *list, int status)
{
    while (list->head != NULL)
        srv_answer(st, list->head, status, NULL, 0, false);
}

int64_t
srv_expire(srv_state *st, int64_t now)
{
    pthread_mutex_lock(&st->lock);
    while (st->ntimers > 0 && st->timers[0]->deadline <= now) {
        srv_waiter *w = st->timers[0];
        heap_remove(st, w);
        w->deadline = -1;
        if (w->obj->type->timeout != NULL)
            w->obj->type->timeout(st, w);
        else
            srv_answer(st, w, SM_ETIMEDOUT, NULL, 0, false);
    }
    int64_t next = st->ntimers > 0 ? st->timers[0]->deadline : -1;
    int64_t lease = srv_sess_expire(st, now);
    if (lease >= 0 && (next < 0 || lease < next))
        next = lease;
    int64_t task = pool_expire(st, now);
    if (task >= 0 && (next < 0 || task < next))
        next = task;
    pthread_mutex_unlock(&st->lock);
    return next;
}

void
srv_waiters_fini(srv_state *st)
{
    free(st->timers);
    st->timers = NULL;
    st->ntimers = st->captimers = 0;
}
