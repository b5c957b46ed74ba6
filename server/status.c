/* status.c - SERVER_STATUS: what an operator sees of a running server (the
 * syncmgr CLI, the status page of syncmgrd --http).
 *
 * srv_status_fill describes the server under st->lock, in one pass per
 * section, into the call's arena; names and addresses are borrowed from the
 * state, so the reply is packed before the lock is let go (as every reply
 * is). Sections (StatusQuery.sections; empty: all):
 *   - server: version, pid, uptime, listen URLs, request counts and rate,
 *     connections, sessions, objects, parked requests, RSS, authkey, TLS;
 *   - objects: in id order after after_id, at most max_objects (default
 *     STATUS_DEFAULT_OBJECTS, at most SRV_STATUS_MAX_OBJECTS): the common
 *     fields here, the type's own through its info hook. Selecting them
 *     walks every object once, keeping the max_objects + 1 smallest ids in
 *     a heap (ids are not in table order after a snapshot load);
 *   - sessions, and pools with each submitter group's progress and their
 *     worker sessions (obj_pool.c);
 *   - ops: requests by operation since start, and a rate.
 * Holders and references come from one census of every session's holds:
 * a hold (a lock, permits, a pool, a taken item) pins its object with a
 * reference, so refs reports the object's references less those pins
 * and less a named object's own (its name's), i.e. the proxies of an
 * anonymous object and the stored values that hold it.
 *
 * Rates: srv_status_tick keeps a ring of per-second samples of the counts
 * (the network's timer calls it every second); a rate is the change since
 * the oldest sample of the last STATUS_RATE_WINDOW_MS, per second.
 * Exported: srv_status_op, srv_status_fill, srv_status_tick. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "srv.h"

#define STATUS_DEFAULT_OBJECTS 1000
#define STATUS_RATE_WINDOW_MS 5000
#define STATUS_RATE_MIN_MS 200 /* less history than this: no rate yet */

enum {
    SEC_SERVER = 1u << 0,
    SEC_OBJECTS = 1u << 1,
    SEC_SESSIONS = 1u << 2,
    SEC_POOLS = 1u << 3,
    SEC_OPS = 1u << 4,
    SEC_ALL = (1u << 5) - 1,
};

static const struct {
    const char *name;
    unsigned bit;
} status_sections[] = {
    {"server", SEC_SERVER}, {"objects", SEC_OBJECTS}, {"sessions", SEC_SESSIONS},
    {"pools", SEC_POOLS},   {"ops", SEC_OPS},
};

/* ------------------------------------------------------------- op names */

/* Operation names from the wire's field names, "dict_set" -> "dict.set"
 * (the names the types' op tables use), built once. */
static const char *status_op_names[SRV_MAX_OP];
static char status_op_text[SRV_MAX_OP * 24];
static pthread_once_t status_once = PTHREAD_ONCE_INIT;

static void
status_names_build(void)
{
    const ProtobufCMessageDescriptor *d = &smwire__request__descriptor;
    size_t used = 0;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        size_t n = strlen(f->name);
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || f->id >= SRV_MAX_OP ||
            used + n + 1 > sizeof(status_op_text))
            continue;
        char *name = status_op_text + used;
        memcpy(name, f->name, n + 1);
        char *us = strchr(name, '_');
        if (us != NULL)
            *us = '.';
        status_op_names[f->id] = name;
        used += n + 1;
    }
}

/* ---------------------------------------------------------------- rates */

/* status_sample adds a sample of the counts if the newest is a second old. */
static void
status_sample(srv_state *st, int64_t now)
{
    srv_stats *ss = &st->stats;
    const srv_rate_sample *last =
        &ss->ring[(ss->ring_next + SRV_RATE_SAMPLES - 1) % SRV_RATE_SAMPLES];
    if (last->t != 0 && now - last->t < 1000)
        return;
    srv_rate_sample *r = &ss->ring[ss->ring_next];
    r->t = now;
    r->requests = st->requests;
    memcpy(r->ops, ss->ops, sizeof(r->ops));
    ss->ring_next = (ss->ring_next + 1) % SRV_RATE_SAMPLES;
}

void
srv_status_tick(srv_state *st, int64_t now)
{
    pthread_mutex_lock(&st->lock);
    status_sample(st, now);
    pthread_mutex_unlock(&st->lock);
}

/* status_base is the oldest sample of the rate window, or NULL when there
 * is too little history for a rate. */
static const srv_rate_sample *
status_base(const srv_state *st, int64_t now)
{
    const srv_rate_sample *base = NULL;
    for (size_t i = 0; i < SRV_RATE_SAMPLES; i++) {
        const srv_rate_sample *r = &st->stats.ring[i];
        if (r->t != 0 && now - r->t <= STATUS_RATE_WINDOW_MS && (base == NULL || r->t < base->t))
            base = r;
    }
    return base != NULL && now - base->t >= STATUS_RATE_MIN_MS ? base : NULL;
}

static double
status_rate(const srv_rate_sample *base, int64_t now, uint64_t count, uint64_t then)
{
    if (base == NULL || count < then)
        return 0.0;
    return (double)(count - then) * 1000.0 / (double)(now - base->t);
}

/* --------------------------------------------------------------- census */

/* What the sessions hold, per object: how many sessions hold it (a lock,
 * permits, taken items) and how many references their holds pin. */
typedef struct census_ent {
    uint64_t holders, pins;
    const srv_sess *last; /* the session that last counted as a holder */
} census_ent;

typedef struct census {
    srv_call *call;
    srv_map by_id; /* 8-byte object id -> census_ent (val.u.s.p, arena) */
    const srv_sess *cur;
    bool oom;
} census;

static void
census_add(void *arg, srv_obj *obj, int kind)
{
    census *c = arg;
    map_ent *e = map_find(&c->by_id, (const char *)&obj->id, sizeof(obj->id));
    if (e == NULL) {
        census_ent *ce = call_alloc(c->call, sizeof(*ce));
        e = ce != NULL ? map_add(&c->by_id, (const char *)&obj->id, sizeof(obj->id)) : NULL;
        if (e == NULL) {
            c->oom = true;
            return;
        }
        e->val.u.s.p = (char *)(void *)ce; /* type stays NIL: map_clear leaves it */
    }
    census_ent *ce = (census_ent *)(void *)e->val.u.s.p;
    ce->pins++;
    if (kind != HOLD_POOL && ce->last != c->cur) {
        ce->holders++;
        ce->last = c->cur;
    }
}

static const census_ent *
census_of(const census *c, const srv_obj *o)
{
    map_ent *e = map_find(&c->by_id, (const char *)&o->id, sizeof(o->id));
    return e != NULL ? (const census_ent *)(const void *)e->val.u.s.p : NULL;
}

/* -------------------------------------------------------------- objects */

/* A max-heap on id of at most cap objects: the smallest ids seen. */
typedef struct objheap {
    srv_obj **v;
    size_t n, cap;
} objheap;

static void
heap_down(objheap *h, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && h->v[l]->id > h->v[m]->id)
            m = l;
        if (r < h->n && h->v[r]->id > h->v[m]->id)
            m = r;
        if (m == i)
            return;
        srv_obj *t = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = t;
        i = m;
    }
}

static void
heap_offer(objheap *h, srv_obj *o)
{
    if (h->n < h->cap) {
        size_t i = h->n++;
        h->v[i] = o;
        while (i > 0 && h->v[(i - 1) / 2]->id < h->v[i]->id) {
            srv_obj *t = h->v[i];
            h->v[i] = h->v[(i - 1) / 2];
            h->v[(i - 1) / 2] = t;
            i = (i - 1) / 2;
        }
    } else if (o->id < h->v[0]->id) {
        h->v[0] = o;
        heap_down(h, 0);
    }
}

static int
obj_id_cmp(const void *a, const void *b)
{
    uint64_t x = (*(srv_obj *const *)a)->id, y = (*(srv_obj *const *)b)->id;
    return x < y ? -1 : x > y;
}

/* status_objects fills out's objects as q asks. */
static int
status_objects(srv_call *call, const Smwire__StatusQuery *q, const census *cs,
               Smwire__ServerStatus *out)
{
    srv_state *st = call->st;
    uint64_t after = q != NULL ? q->after_id : 0;
    const char *prefix = q != NULL ? q->name_prefix : "";
    size_t plen = strlen(prefix);
    bool anon = q == NULL || (q->anonymous && plen == 0);
    size_t want = q != NULL && q->max_objects != 0 ? q->max_objects : STATUS_DEFAULT_OBJECTS;

    objheap h = {call_alloc(call, (want + 1) * sizeof(srv_obj *)), 0, want + 1};
    if (h.v == NULL)
        return SM_ENOMEM;
    for (const map_ent *e = st->ids.head; e != NULL; e = e->next) {
        srv_obj *o = e->val.u.ref;
        if (o->id <= after)
            continue;
        if (o->name == NULL ? !anon : strncmp(o->name, prefix, plen) != 0)
            continue;
        heap_offer(&h, o);
    }
    qsort(h.v, h.n, sizeof(*h.v), obj_id_cmp);
    if (h.n > want) {
        h.n = want;
        out->more_objects = true;
    }
    Smwire__ObjectInfo **pv = call_alloc(call, (h.n ? h.n : 1) * sizeof(*pv));
    Smwire__ObjectInfo *iv = call_alloc(call, (h.n ? h.n : 1) * sizeof(*iv));
    if (pv == NULL || iv == NULL)
        return SM_ENOMEM;
    for (size_t i = 0; i < h.n; i++) {
        srv_obj *o = h.v[i];
        Smwire__ObjectInfo *oi = &iv[i];
        const census_ent *ce = census_of(cs, o);
        /* A named object keeps the reference it was made with: its name's. */
        uint64_t pins = (ce != NULL ? ce->pins : 0) + (o->name != NULL ? 1 : 0);
        smwire__object_info__init(oi);
        oi->id = o->id;
        oi->name = o->name != NULL ? o->name : (char *)"";
        oi->type = (Smwire__ObjType)o->type->wire_type;
        oi->refs = o->refs > pins ? o->refs - pins : 0;
        oi->holders = ce != NULL ? ce->holders : 0;
        if (o->type->info != NULL) {
            int rv = o->type->info(call, o, oi);
            if (rv != SM_OK)
                return rv;
        }
        pv[i] = oi;
    }
    out->objects = pv;
    out->n_objects = h.n;
    return SM_OK;
}

/* ------------------------------------------------------- other sections */

/* status_rss is the server's resident memory in bytes (0 if unknown). */
static uint64_t
status_rss(void)
{
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return (uint64_t)resident * (uint64_t)(page > 0 ? page : 4096);
}

static int
status_server(srv_call *call, int64_t now, const srv_rate_sample *base,
              Smwire__ServerStatus *out)
{
    srv_state *st = call->st;
    Smwire__ServerInfo *si = call_alloc(call, sizeof(*si));
    char *version = call_alloc(call, 32);
    if (si == NULL || version == NULL)
        return SM_ENOMEM;
    smwire__server_info__init(si);
    snprintf(version, 32, "%d.%d.%d", SM_VERSION_MAJOR, SM_VERSION_MINOR, SM_VERSION_PATCH);
    si->version = version;
    si->pid = (uint64_t)getpid();
    si->uptime_ms = st->stats.started != 0 ? now - st->stats.started : 0;
    si->listen = (char **)st->stats.listen;
    si->n_listen = st->stats.listen != NULL ? st->stats.nlisten : 0;
    si->requests = st->requests;
    si->bad_requests = st->bad_requests;
    si->request_rate = status_rate(base, now, st->requests, base ? base->requests : 0);
    si->connections = __atomic_load_n(&st->stats.connections, __ATOMIC_RELAXED);
    si->sessions = st->nsessions;
    si->objects = st->nobjects;
    si->waiters = st->nwaiters;
    si->rss_bytes = status_rss();
    si->authkey = st->auth.key != NULL;
    si->tls = st->stats.tls;
    si->snapshot = (char *)(st->stats.snapshot != NULL ? st->stats.snapshot : "");
    out->server = si;
    return SM_OK;
}

static int
status_sessions(srv_call *call, int64_t now, Smwire__ServerStatus *out)
{
    srv_state *st = call->st;
    size_t n = st->sessions.len;
    if (n == 0)
        return SM_OK;
    Smwire__SessionInfo **pv = call_alloc(call, n * sizeof(*pv));
    Smwire__SessionInfo *iv = call_alloc(call, n * sizeof(*iv));
    if (pv == NULL || iv == NULL)
        return SM_ENOMEM;
    size_t i = 0;
    for (const map_ent *e = st->sessions.head; e != NULL && i < n; e = e->next, i++) {
        smwire__session_info__init(&iv[i]);
        srv_sess_info((const srv_sess *)(const void *)e->val.u.s.p, now, &iv[i]);
        pv[i] = &iv[i];
    }
    out->sessions = pv;
    out->n_sessions = i;
    return SM_OK;
}

static int
pool_id_cmp(const void *a, const void *b)
{
    uint64_t x = (*(Smwire__PoolStatusInfo *const *)a)->id;
    uint64_t y = (*(Smwire__PoolStatusInfo *const *)b)->id;
    return x < y ? -1 : x > y;
}

static int
status_pools(srv_call *call, int64_t now, Smwire__ServerStatus *out)
{
    size_t n = 0;
    for (srv_obj *o = call->st->pools; o != NULL; o = pool_next(o))
        n++;
    if (n == 0)
        return SM_OK;
    Smwire__PoolStatusInfo **pv = call_alloc(call, n * sizeof(*pv));
    Smwire__PoolStatusInfo *iv = call_alloc(call, n * sizeof(*iv));
    if (pv == NULL || iv == NULL)
        return SM_ENOMEM;
    size_t i = 0;
    for (srv_obj *o = call->st->pools; o != NULL && i < n; o = pool_next(o), i++) {
        smwire__pool_status_info__init(&iv[i]);
        int rv = pool_status(call, o, now, &iv[i]);
        if (rv != SM_OK)
            return rv;
        pv[i] = &iv[i];
    }
    qsort(pv, n, sizeof(*pv), pool_id_cmp); /* the list is newest first */
    out->pools = pv;
    out->n_pools = n;
    return SM_OK;
}

static int
status_ops(srv_call *call, int64_t now, const srv_rate_sample *base, Smwire__ServerStatus *out)
{
    const srv_stats *ss = &call->st->stats;
    size_t n = 0;
    for (size_t i = 0; i < SRV_MAX_OP; i++)
        n += ss->ops[i] != 0 && status_op_names[i] != NULL;
    if (n == 0)
        return SM_OK;
    Smwire__OpCount **pv = call_alloc(call, n * sizeof(*pv));
    Smwire__OpCount *iv = call_alloc(call, n * sizeof(*iv));
    if (pv == NULL || iv == NULL)
        return SM_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < SRV_MAX_OP && k < n; i++) {
        if (ss->ops[i] == 0 || status_op_names[i] == NULL)
            continue;
        smwire__op_count__init(&iv[k]);
        iv[k].name = (char *)status_op_names[i];
        iv[k].count = ss->ops[i];
        iv[k].rate = status_rate(base, now, ss->ops[i], base ? base->ops[i] : 0);
        pv[k] = &iv[k];
        k++;
    }
    out->ops = pv;
    out->n_ops = k;
    return SM_OK;
}

/* ------------------------------------------------------------ the query */

/* status_check validates q and returns the sections it asks for in *secp. */
static int
status_check(srv_call *call, const Smwire__StatusQuery *q, unsigned *secp)
{
    unsigned sec = 0;
    if (q == NULL) {
        *secp = SEC_ALL;
        return SM_OK;
    }
    for (size_t i = 0; i < q->n_sections; i++) {
        unsigned bit = 0;
        for (size_t k = 0; k < SM_NELEM(status_sections); k++)
            if (strcmp(q->sections[i], status_sections[k].name) == 0)
                bit = status_sections[k].bit;
        if (bit == 0)
            return call_fail(call, SM_EINVAL,
                             "unknown status section '%.64s' (server, objects, sessions, "
                             "pools, ops)",
                             q->sections[i]);
        sec |= bit;
    }
    if (q->max_objects > SRV_STATUS_MAX_OBJECTS)
        return call_fail(call, SM_EINVAL, "max_objects %u is over the limit of %d",
                         q->max_objects, SRV_STATUS_MAX_OBJECTS);
    size_t plen = strlen(q->name_prefix);
    if (plen > SRV_MAX_NAME)
        return call_fail(call, SM_EINVAL, "name_prefix is %zu bytes; names are at most %d",
                         plen, SRV_MAX_NAME);
    *secp = sec != 0 ? sec : SEC_ALL;
    return SM_OK;
}

int
srv_status_fill(srv_call *call, const Smwire__StatusQuery *q, Smwire__ServerStatus **out)
{
    srv_state *st = call->st;
    unsigned sec = 0;
    int rv = status_check(call, q, &sec);
    if (rv != SM_OK)
        return rv;
    pthread_once(&status_once, status_names_build);
    Smwire__ServerStatus *ss = call_alloc(call, sizeof(*ss));
    if (ss == NULL)
        return SM_ENOMEM;
    smwire__server_status__init(ss);
    int64_t now = srv_now_ms();
    const srv_rate_sample *base = status_base(st, now);

    if ((sec & SEC_SERVER) && (rv = status_server(call, now, base, ss)) != SM_OK)
        return rv;
    if (sec & SEC_OBJECTS) {
        census cs = {.call = call};
        for (const map_ent *e = st->sessions.head; e != NULL && !cs.oom; e = e->next) {
            cs.cur = (const srv_sess *)(const void *)e->val.u.s.p;
            srv_sess_holds_each(cs.cur, census_add, &cs);
        }
        rv = cs.oom ? SM_ENOMEM : status_objects(call, q, &cs, ss);
        map_clear(NULL, &cs.by_id);
        if (rv != SM_OK)
            return rv;
    }
    if ((sec & SEC_SESSIONS) && (rv = status_sessions(call, now, ss)) != SM_OK)
        return rv;
    if ((sec & SEC_POOLS) && (rv = status_pools(call, now, ss)) != SM_OK)
        return rv;
    if ((sec & SEC_OPS) && (rv = status_ops(call, now, base, ss)) != SM_OK)
        return rv;
    /* After the rates: a sample taken now would be a window of nothing. */
    status_sample(st, now);
    *out = ss;
    return SM_OK;
}

/* SERVER_STATUS query -> server_status */
int
srv_status_op(srv_call *call)
{
    Smwire__ServerStatus *ss;
    int rv = srv_status_fill(call, call->req->server_status, &ss);
    if (rv == SM_OK)
        call->rep.server_status = ss;
    return rv;
}
