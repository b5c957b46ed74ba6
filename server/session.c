/* session.c - sessions: leases, reply memory (exactly once), holdings.
 *
 * A session is opened by SESSION_OPEN and named by a random 64-bit id. Any
 * request renews its lease; a session whose lease lapses, or that is closed,
 * ends, and srv_sess_end() gives back what it held:
 *   - its parked waits are dropped (their contexts go back to the network),
 *   - locks it holds are freed, marked "owner died" for the next holder,
 *   - semaphore permits it took return,
 *   - items it took from a joinable queue and did not mark done go back to
 *     the front of that queue,
 *   - its references to anonymous objects are released.
 * Locks, permits and items pin their object with a reference while held, so
 * the object outlives the session that must give it back.
 *
 * Reply memory: every request carries (session, seq). The reply of each
 * applied request is kept by seq until the client says (ack_below) that it
 * has every reply below; a request seen again is answered from memory, or,
 * if it is still parked, re-pointed at the connection that sent it again.
 * A late copy of a request below ack_below finds no reply and is refused,
 * never applied. Memory is bounded at SESS_MAX_REPLIES per session: past
 * that the oldest answered replies at or above ack_below are forgotten, and
 * a repeat of one of those would be applied again. Clients keep far fewer
 * calls in flight than that.
 *
 * Limits: a SESSION_OPEN past --max-sessions live sessions, and a request
 * that would park past --max-waits parked requests of its session
 * (srv_sess_park_room, asked by srv_park), are SM_ELIMIT.
 * Exported: the srv_sess_* and srv_hold_* functions of srv.h. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "srv.h"

#define SESS_MAX_REPLIES 4096
#define SESS_LEASE_MIN 100
#define SESS_LEASE_MAX 600000

struct srv_cached {
    uint64_t seq;
    srv_waiter *w;  /* while the request is parked */
    uint8_t *bytes; /* once answered */
    size_t len;
};

typedef struct srv_hold {
    srv_obj *obj;
    int kind;
    int64_t count;
    srv_val item; /* HOLD_ITEM */
    struct srv_hold *next;
} srv_hold;

struct srv_sess {
    uint64_t id;
    int64_t lease_ms;
    int64_t expires;
    srv_map cache;      /* 8-byte seq -> srv_cached (val.u.s.p) */
    srv_map holds;      /* 8-byte id + kind byte -> srv_hold (val.u.s.p) */
    srv_hold *items;    /* HOLD_ITEM, oldest first */
    srv_hold *items_tail;
    srv_waiter *waiters;
    uint64_t nwaiters; /* in waiters: parked requests (--max-waits) */
    uint64_t ack_below;
    bool keyed;
    uint8_t key[32]; /* the MAC key, when opened with an authkey */
    int64_t opened;  /* srv_now_ms() at SESSION_OPEN */
    uint32_t pipe;   /* the connection of its last request (0: none known) */
    char addr[112];  /* that connection's peer, for SERVER_STATUS */
};

srv_sess *
srv_sess_lookup(srv_state *st, uint64_t id)
{
    map_ent *e = map_find(&st->sessions, (const char *)&id, sizeof(id));
    return e != NULL ? (srv_sess *)(void *)e->val.u.s.p : NULL;
}

const uint8_t *
srv_sess_key(const srv_sess *s)
{
    return s != NULL && s->keyed ? s->key : NULL;
}

uint64_t
srv_sess_id(const srv_sess *s)
{
    return s != NULL ? s->id : 0;
}

/* ---------------------------------------------------------------- holdings */

static map_ent *
hold_find(srv_sess *s, srv_obj *obj, int kind, bool create)
{
    char key[9];
    memcpy(key, &obj->id, 8);
    key[8] = (char)kind;
    map_ent *e = map_find(&s->holds, key, sizeof(key));
    if (e != NULL || !create)
        return e;
    srv_hold *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    e = map_add(&s->holds, key, sizeof(key));
    if (e == NULL) {
        free(h);
        return NULL;
    }
    h->obj = obj;
    h->kind = kind;
    if (kind != HOLD_REFS)
        obj_incref(obj); /* REFS mirror proxy references; the rest pin */
    e->val.u.s.p = (char *)(void *)h;
    return e;
}

int64_t
srv_hold_add(srv_state *st, srv_sess *s, srv_obj *obj, int kind, int64_t count)
{
    if (s == NULL)
        return 0;
    map_ent *e = hold_find(s, obj, kind, count > 0);
    if (e == NULL)
        return 0;
    srv_hold *h = (srv_hold *)(void *)e->val.u.s.p;
    h->count += count;
    if (h->count > 0)
        return h->count;
    map_del(&s->holds, e);
    if (kind != HOLD_REFS)
        obj_decref(st, obj);
    free(h);
    return 0;
}

int
srv_hold_item(srv_state *st, srv_sess *s, srv_obj *q, srv_val *item)
{
    (void)st;
    if (s == NULL)
        return SM_OK;
    srv_hold *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return SM_ENOMEM;
    if (val_copy(&h->item, item) != SM_OK) {
        free(h);
        return SM_ENOMEM;
    }
    h->obj = q;
    h->kind = HOLD_ITEM;
    h->count = 1;
    obj_incref(q);
    if (s->items_tail)
        s->items_tail->next = h;
    else
        s->items = h;
    s->items_tail = h;
    return SM_OK;
}

/* item_done drops the oldest item s took from q; false if none. */
static bool
item_done(srv_state *st, srv_sess *s, srv_obj *q)
{
    if (s == NULL)
        return false;
    srv_hold *prev = NULL;
    for (srv_hold *h = s->items; h != NULL; prev = h, h = h->next) {
        if (h->obj != q)
            continue;
        if (prev)
            prev->next = h->next;
        else
            s->items = h->next;
        if (s->items_tail == h)
            s->items_tail = prev;
        val_clear(st, &h->item);
        obj_decref(st, h->obj);
        free(h);
        return true;
    }
    return false;
}

void
srv_hold_item_done(srv_state *st, srv_sess *s, srv_obj *q)
{
    if (item_done(st, s, q))
        return;
    for (map_ent *e = st->sessions.head; e != NULL; e = e->next)
        if (item_done(st, (srv_sess *)(void *)e->val.u.s.p, q))
            return;
}

int64_t
srv_hold_retire(srv_state *st, srv_sess *except, srv_obj *obj, int kind, int64_t n)
{
    int64_t done = 0;
    for (map_ent *e = st->sessions.head; e != NULL && done < n; e = e->next) {
        srv_sess *s = (srv_sess *)(void *)e->val.u.s.p;
        if (s == except)
            continue;
        int64_t held = srv_hold_add(st, s, obj, kind, 0);
        int64_t take = held < n - done ? held : n - done;
        if (take > 0) {
            srv_hold_add(st, s, obj, kind, -take);
            done += take;
        }
    }
    return done;
}

/* sess_seen remembers the connection call came on, and its peer's address
 * when the connection is new to s (once per connection, not per request). */
static void
sess_seen(srv_call *call, srv_sess *s)
{
    srv_state *st = call->st;
    if (st->hooks.peer == NULL || call->conn == NULL)
        return;
    uint32_t pipe = st->hooks.peer(st->hooks.arg, call->conn, NULL, 0);
    if (pipe == 0 || pipe == s->pipe)
        return;
    s->pipe = pipe;
    st->hooks.peer(st->hooks.arg, call->conn, s->addr, sizeof(s->addr));
}

/* ------------------------------------------------------------ reply memory */

static void
cached_free(srv_cached *c)
{
    free(c->bytes);
    free(c);
}

/* sess_forget drops remembered replies below ack_below, and the oldest
 * answered ones past the bound. */
static void
sess_forget(srv_sess *s)
{
    map_ent *e = s->cache.head;
    while (e != NULL) {
        map_ent *next = e->next;
        srv_cached *c = (srv_cached *)(void *)e->val.u.s.p;
        bool over = s->cache.len > SESS_MAX_REPLIES;
        if (c->seq >= s->ack_below && !over)
            break;
        if (c->w == NULL) { /* a parked request is never forgotten */
            map_del(&s->cache, e);
            cached_free(c);
        }
        e = next;
    }
}

int
srv_sess_begin(srv_call *call)
{
    const Smwire__Request *req = call->req;
    srv_state *st = call->st;
    srv_sess *s = srv_sess_lookup(st, req->session);
    if (s == NULL)
        return call_fail(call, SM_ESESSION, "no session %016" PRIx64, req->session);
    call->sess = s;
    s->expires = srv_now_ms() + s->lease_ms;
    sess_seen(call, s);
    if (req->ack_below > s->ack_below) {
        s->ack_below = req->ack_below;
        sess_forget(s);
    }
    if (req->seq == 0)
        return call_fail(call, SM_EPROTO, "request without a sequence number");
    map_ent *e = map_find(&s->cache, (const char *)&req->seq, sizeof(req->seq));
    if (e == NULL) {
        /* Below ack_below every reply has reached the client: this is a
         * late copy of a request already answered (or already given up on),
         * whose reply was forgotten. Applying it would apply it twice. */
        if (req->seq < s->ack_below)
            return call_fail(call, SM_EPROTO, "late copy of request %" PRIu64
                             " (acknowledged below %" PRIu64 "); not applied",
                             req->seq, s->ack_below);
        call->remember = true;
        return SM_OK;
    }
    srv_cached *c = (srv_cached *)(void *)e->val.u.s.p;
    if (c->w != NULL) {
        /* Still parked: the reply now goes to the connection that asked again. */
        if (st->hooks.release != NULL && c->w->conn != NULL && c->w->conn != call->conn)
            st->hooks.release(st->hooks.arg, c->w->conn);
        c->w->conn = call->conn;
        return SRV_PARKED;
    }
    call->cached_reply = c->bytes;
    call->cached_len = c->len;
    return SRV_CACHED;
}

/* sess_entry makes the memory entry for seq; NULL when out of memory. */
static srv_cached *
sess_entry(srv_sess *s, uint64_t seq)
{
    srv_cached *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    map_ent *e = map_add(&s->cache, (const char *)&seq, sizeof(seq));
    if (e == NULL) {
        free(c);
        return NULL;
    }
    c->seq = seq;
    e->val.u.s.p = (char *)(void *)c;
    if (s->cache.len > SESS_MAX_REPLIES)
        sess_forget(s);
    return c;
}

void
srv_sess_remember(srv_call *call, const uint8_t *buf, size_t len)
{
    if (!call->remember || call->sess == NULL)
        return;
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return;
    memcpy(copy, buf, len);
    srv_cached *c = sess_entry(call->sess, call->req->seq);
    if (c == NULL) {
        free(copy);
        return;
    }
    c->bytes = copy;
    c->len = len;
}

int
srv_sess_park_room(srv_call *call)
{
    const srv_sess *s = call->sess;
    if (s == NULL || s->nwaiters < call->st->limits.max_waits)
        return SM_OK;
    return call_fail(call, SM_ELIMIT,
                     "session has %" PRIu64 " requests waiting, the limit (--max-waits)",
                     s->nwaiters);
}

void
srv_sess_park_note(srv_call *call, srv_waiter *w)
{
    srv_sess *s = call->sess;
    w->sess = s;
    if (s == NULL)
        return;
    w->sprev = NULL;
    w->snext = s->waiters;
    if (s->waiters)
        s->waiters->sprev = w;
    s->waiters = w;
    s->nwaiters++;
    if (call->remember) {
        w->cached = sess_entry(s, call->req->seq);
        if (w->cached != NULL)
            w->cached->w = w;
    }
}

void
srv_sess_answered(srv_state *st, srv_waiter *w, const uint8_t *buf, size_t len)
{
    (void)st;
    if (w->cached != NULL) {
        w->cached->w = NULL;
        w->cached->bytes = malloc(len ? len : 1);
        if (w->cached->bytes != NULL) {
            memcpy(w->cached->bytes, buf, len);
            w->cached->len = len;
        }
        w->cached = NULL;
    }
}

void
srv_sess_waiter_gone(srv_waiter *w)
{
    srv_sess *s = w->sess;
    if (s == NULL)
        return;
    if (w->sprev)
        w->sprev->snext = w->snext;
    else
        s->waiters = w->snext;
    if (w->snext)
        w->snext->sprev = w->sprev;
    w->sprev = w->snext = NULL;
    s->nwaiters--;
    if (w->cached != NULL && w->cached->bytes == NULL)
        w->cached->w = NULL; /* an unanswered entry: a repeat would apply it again */
    w->sess = NULL;
}

/* ------------------------------------------------------------ begin and end */

static srv_sess *
sess_new(srv_state *st, int64_t lease_ms)
{
    srv_sess *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    do {
        if (getrandom(&s->id, sizeof(s->id), 0) != (ssize_t)sizeof(s->id))
            s->id = (uint64_t)srv_now_ms() * 0x9e3779b97f4a7c15ULL + st->nsessions;
    } while (s->id == 0 || srv_sess_lookup(st, s->id) != NULL);
    map_ent *e = map_add(&st->sessions, (const char *)&s->id, sizeof(s->id));
    if (e == NULL) {
        free(s);
        return NULL;
    }
    e->val.u.s.p = (char *)(void *)s;
    s->lease_ms = lease_ms;
    s->opened = srv_now_ms();
    s->expires = s->opened + lease_ms;
    st->nsessions++;
    if (st->hooks.kick != NULL)
        st->hooks.kick(st->hooks.arg); /* a new expiry for the timer */
    return s;
}

static void
sess_free(srv_state *st, srv_sess *s)
{
    for (map_ent *e = s->cache.head; e != NULL; e = e->next)
        cached_free((srv_cached *)(void *)e->val.u.s.p);
    map_clear(NULL, &s->cache);
    map_ent *e = map_find(&st->sessions, (const char *)&s->id, sizeof(s->id));
    if (e != NULL)
        map_del(&st->sessions, e);
    st->nsessions--;
    free(s);
}

/* sess_end gives back everything s held and frees it. */
static void
sess_end(srv_state *st, srv_sess *s, const char *why)
{
    unsigned nwait = 0, nlock = 0, nitem = 0;
    int64_t npermit = 0, nref = 0;

    while (s->waiters != NULL) {
        srv_waiter *w = s->waiters;
        void *conn = w->conn;
        srv_waiter_drop(st, w);
        if (st->hooks.release != NULL && conn != NULL)
            st->hooks.release(st->hooks.arg, conn);
        nwait++;
    }
    /* Give back locks, permits and items while their holds still pin the
     * objects; then release references; then unpin. */
    for (map_ent *e = s->holds.head; e != NULL; e = e->next) {
        srv_hold *h = (srv_hold *)(void *)e->val.u.s.p;
        if (h->kind == HOLD_LOCK) {
            lock_session_gone(st, h->obj, s);
            nlock++;
        } else if (h->kind == HOLD_PERMITS) {
            sem_session_gone(st, h->obj, h->count);
            npermit += h->count;
        } else if (h->kind == HOLD_POOL) {
            pool_session_gone(st, h->obj, s);
        }
    }
    /* Taken items: parked getters get them oldest first; the rest go back
     * to the front newest first, so the queue reads as before they were
     * taken. */
    srv_hold *rev = NULL;
    while (s->items != NULL) {
        srv_hold *h = s->items;
        s->items = h->next;
        nitem++;
        if (queue_session_give(st, h->obj, &h->item)) {
            val_clear(st, &h->item);
            obj_decref(st, h->obj);
            free(h);
        } else {
            h->next = rev;
            rev = h;
        }
    }
    while (rev != NULL) {
        srv_hold *h = rev;
        rev = h->next;
        queue_session_return(st, h->obj, &h->item);
        val_clear(st, &h->item);
        obj_decref(st, h->obj);
        free(h);
    }
    s->items_tail = NULL;
    for (map_ent *e = s->holds.head; e != NULL; e = e->next) {
        srv_hold *h = (srv_hold *)(void *)e->val.u.s.p;
        if (h->kind == HOLD_REFS)
            for (int64_t i = 0; i < h->count; i++, nref++)
                obj_decref(st, h->obj);
    }
    map_ent *e = s->holds.head;
    while (e != NULL) {
        map_ent *next = e->next;
        srv_hold *h = (srv_hold *)(void *)e->val.u.s.p;
        if (h->kind != HOLD_REFS)
            obj_decref(st, h->obj);
        free(h);
        e = next;
    }
    map_clear(NULL, &s->holds);
    srv_log(SRV_LOG_NOTICE,
            "session %016" PRIx64 " ended (%s): released %u lock(s), %" PRId64
            " permit(s), %u queue item(s), %" PRId64 " reference(s); dropped %u wait(s)",
            s->id, why, nlock, npermit, nitem, nref, nwait);
    sess_free(st, s);
}

int64_t
srv_sess_expire(srv_state *st, int64_t now)
{
    int64_t next = -1;
    map_ent *e = st->sessions.head;
    while (e != NULL) {
        map_ent *nx = e->next;
        srv_sess *s = (srv_sess *)(void *)e->val.u.s.p;
        if (s->expires <= now) {
            sess_end(st, s, "lease lapsed");
            nx = st->sessions.head; /* ending may have changed the table */
            e = nx;
            continue;
        }
        if (next < 0 || s->expires < next)
            next = s->expires;
        e = nx;
    }
    return next;
}

/* SESSION.OPEN lease_ms -> session, m: lease | SESSION.PING | SESSION.CLOSE */
int
srv_sess_op(srv_call *call)
{
    const Smwire__Request *req = call->req;
    srv_state *st = call->st;
    if (req->op_case == SMWIRE__REQUEST__OP_SESSION_OPEN) {
        /* With an authkey, a peer that cannot prove it learns nothing else. */
        uint8_t skey[32];
        if (st->auth.key != NULL) {
            int rv = srv_auth_open(call, skey);
            if (rv != SM_OK)
                return rv;
        }
        int64_t lease = req->session_open->lease_ms;
        if (lease < SESS_LEASE_MIN || lease > SESS_LEASE_MAX)
            return call_fail(call, SM_EINVAL, "lease %" PRId64 " ms is not in %d..%d", lease,
                             SESS_LEASE_MIN, SESS_LEASE_MAX);
        if (st->nsessions >= st->limits.max_sessions)
            return call_fail(call, SM_ELIMIT,
                             "%" PRIu64 " sessions live, the limit (--max-sessions)",
                             st->nsessions);
        srv_sess *s = sess_new(st, lease);
        if (s == NULL)
            return SM_ENOMEM;
        if (st->auth.key != NULL) {
            memcpy(s->key, skey, sizeof(s->key));
            s->keyed = true;
        }
        sess_seen(call, s);
        call->rep.session = s->id;
        call->rep.m = lease;
        srv_log(SRV_LOG_NOTICE, "session %016" PRIx64 " opened (lease %" PRId64 " ms)", s->id,
                lease);
        return SM_OK;
    }
    srv_sess *s = srv_sess_lookup(st, req->session);
    if (s == NULL)
        return call_fail(call, SM_ESESSION, "no session %016" PRIx64, req->session);
    s->expires = srv_now_ms() + s->lease_ms;
    if (req->op_case == SMWIRE__REQUEST__OP_SESSION_CLOSE)
        sess_end(st, s, "closed");
    else
        sess_seen(call, s);
    return SM_OK;
}

/* ------------------------------------------------------------------ status */

void
srv_sess_holds_each(const srv_sess *s, void (*fn)(void *arg, srv_obj *obj, int kind), void *arg)
{
    for (const map_ent *e = s->holds.head; e != NULL; e = e->next) {
        const srv_hold *h = (const srv_hold *)(const void *)e->val.u.s.p;
        if (h->kind != HOLD_REFS)
            fn(arg, h->obj, h->kind);
    }
    for (const srv_hold *h = s->items; h != NULL; h = h->next)
        fn(arg, h->obj, HOLD_ITEM);
}

void
srv_sess_info(const srv_sess *s, int64_t now, Smwire__SessionInfo *out)
{
    uint64_t holds = 0;
    for (const map_ent *e = s->holds.head; e != NULL; e = e->next) {
        const srv_hold *h = (const srv_hold *)(const void *)e->val.u.s.p;
        if (h->kind == HOLD_LOCK || h->kind == HOLD_PERMITS)
            holds += (uint64_t)h->count;
        else if (h->kind == HOLD_POOL)
            holds += pool_leases(h->obj, s->id);
    }
    for (const srv_hold *h = s->items; h != NULL; h = h->next)
        holds++;
    out->id = s->id;
    out->address = (char *)s->addr;
    out->age_ms = now - s->opened;
    out->lease_ms = s->lease_ms;
    out->expires_in_ms = s->expires - now;
    out->parked = s->nwaiters;
    out->holds = holds;
    out->keyed = s->keyed;
}

void
srv_sess_fini(srv_state *st)
{
    map_ent *e = st->sessions.head;
    while (e != NULL) {
        map_ent *next = e->next;
        srv_sess *s = (srv_sess *)(void *)e->val.u.s.p;
        for (map_ent *h = s->holds.head; h != NULL; h = h->next)
            free(h->val.u.s.p);
        map_clear(NULL, &s->holds);
        while (s->items != NULL) {
            srv_hold *h = s->items;
            s->items = h->next;
            val_clear(st, &h->item);
            free(h);
        }
        for (map_ent *c = s->cache.head; c != NULL; c = c->next)
            cached_free((srv_cached *)(void *)c->val.u.s.p);
        map_clear(NULL, &s->cache);
        free(s);
        e = next;
    }
    map_clear(NULL, &st->sessions);
    st->nsessions = 0;
}
