/* obj_pool.c - pools: named tasks leased to worker sessions, results kept
 * for the session that submitted them.
 *
 * A task is one call of a named function on a chunk of inputs. Queued
 * tasks wait in one FIFO per task name; a worker session JOINs with the
 * names it can run and TAKEs up to `max` tasks at a time (the oldest among
 * its names first), reporting what it finished in the same round trip. A
 * take that finds nothing parks in the pool's idle list until a submit
 * feeds it. A leased task belongs to its worker until reported; when the
 * worker's session ends the task goes back to the FRONT of its queue:
 *   - a task that was the worker's only lease is charged with the death;
 *     one charged max_kills times fails with SM_EKILLED. A chunk of
 *     several inputs is split into single inputs that carry the charge,
 *     so that a crashing input ends up alone and fails only itself, after
 *     max_kills deaths in all;
 *   - tasks leased together are not charged, but are marked suspect:
 *     leased alone from then on, so the next death names the culprit.
 * Tasks with a timeout are also leased alone, so their clock (started at
 * the lease, checked by pool_expire) measures their own run.
 *
 * Finished tasks wait, per (submitter session, group), until the submitter
 * COLLECTs them; a collect parks until one finishes. The reply carries the
 * results and is remembered by the session layer, so a collect repeated
 * after a lost reply gets the same results: each result is delivered once.
 * The submitter's session ending cancels its queued tasks and drops its
 * results (tasks still running are dropped when they finish).
 * A submit that would take the pool's queued tasks past --max-items, or
 * carries an input longer than --max-value, is SM_ELIMIT and submits
 * nothing. Tasks put back in the queue (a worker died) are not counted
 * against the limit: they were in already.
 * Exported: srv_type_pool, pool_session_gone, pool_expire, and for
 * SERVER_STATUS pool_status, pool_leases, pool_next. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

#define POOL_MAX_INPUTS 65536          /* per task */
#define POOL_MAX_SUBMIT 100000         /* tasks per submit */
#define POOL_MAX_MSG 4096              /* a failure message, bytes */
#define POOL_REPLY_BUDGET (4u << 20)   /* bytes of inputs or outputs per reply */
#define POOL_DEFAULT_KILLS 3

enum { T_QUEUED = SM_TASK_QUEUED, T_RUNNING = SM_TASK_RUNNING, T_DONE = SM_TASK_DONE,
       T_FAILED = SM_TASK_FAILED, T_CANCELLED = SM_TASK_CANCELLED };

typedef struct ptask ptask;
typedef struct pname pname;
typedef struct psess psess;

/* An intrusive FIFO of tasks; a task is in at most one at a time (its
 * name's queue, its worker's leases, or its group's results). */
typedef struct plist {
    ptask *head, *tail;
    size_t n;
} plist;

typedef struct pout {
    uint32_t status;
    uint8_t *data;
    size_t len;
} pout;

struct ptask {
    ptask *prev, *next; /* in the plist it is in */
    plist *in;
    ptask *tprev, *tnext; /* in the pool's timed list while running with a deadline */
    uint64_t id, group, index, order;
    uint64_t owner; /* submitter's session id */
    pname *pn;
    int state;
    bool suspect;
    bool timed;
    uint32_t max_kills, kills;
    int64_t timeout_ms, deadline;
    psess *worker; /* while running */
    pout *outs;    /* once finished: ninputs outcomes, one allocation */
    size_t ninputs;
    size_t *off; /* ninputs + 1 offsets into data */
    uint8_t *data;
};

struct pname {
    char *name;
    plist queue;
    uint64_t nworkers; /* joined workers that can run it */
};

typedef struct pgroup {
    uint64_t group;
    plist done;
    srv_wlist collectors;
    uint64_t live; /* tasks of the group not yet collected (any state) */
    bool forget;
    /* Progress, for SERVER_STATUS: tasks submitted (a split chunk adds its
     * parts), finished with every input ok, and finished otherwise (a
     * failed input, a timeout, a kill, cancelled). */
    uint64_t total, ndone, nfailed;
    Smwire__GroupInfo *info; /* while pool_status fills a reply; else NULL */
} pgroup;

struct psess {
    uint64_t sid;
    bool worker, stopping;
    pname **names;
    size_t nnames;
    plist leased;
    srv_map groups; /* 8-byte group -> pgroup */
    uint64_t live;  /* tasks submitted by it, not yet collected */
    char *where;    /* a worker's "host:pid" */
};

typedef struct pool {
    srv_obj hdr;
    srv_obj *next; /* in st->pools */
    srv_map names;    /* task name -> pname */
    srv_map sessions; /* 8-byte session id -> psess */
    srv_map tasks;    /* 8-byte task id -> ptask */
    srv_wlist idle;   /* parked takes */
    ptask *timed;     /* running tasks with a deadline */
    uint64_t next_id;
    uint64_t queued, running, done, failed, cancelled, workers, results, requeued;
} pool;

#define POOL(o) ((pool *)(o))

/* ------------------------------------------------------------------ lists */

static void
plist_push(plist *l, ptask *t)
{
    t->in = l;
    t->next = NULL;
    t->prev = l->tail;
    if (l->tail)
        l->tail->next = t;
    else
        l->head = t;
    l->tail = t;
    l->n++;
}

static void
plist_push_front(plist *l, ptask *t)
{
    t->in = l;
    t->prev = NULL;
    t->next = l->head;
    if (l->head)
        l->head->prev = t;
    else
        l->tail = t;
    l->head = t;
    l->n++;
}

static void
plist_unlink(ptask *t)
{
    plist *l = t->in;
    if (l == NULL)
        return;
    if (t->prev)
        t->prev->next = t->next;
    else
        l->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        l->tail = t->prev;
    l->n--;
    t->in = NULL;
    t->prev = t->next = NULL;
}

/* ------------------------------------------------------------ small maps */

static void *
map_get_ptr(const srv_map *m, const void *key, size_t klen)
{
    map_ent *e = map_find(m, key, klen);
    return e != NULL ? (void *)e->val.u.s.p : NULL;
}

/* map_put_ptr adds key -> p (absent before); false when out of memory. */
static bool
map_put_ptr(srv_map *m, const void *key, size_t klen, void *p)
{
    map_ent *e = map_add(m, key, klen);
    if (e == NULL)
        return false;
    e->val.u.s.p = p;
    return true;
}

static void
map_drop_key(srv_map *m, const void *key, size_t klen)
{
    map_ent *e = map_find(m, key, klen);
    if (e != NULL)
        map_del(m, e);
}

/* ------------------------------------------------------------------ tasks */

static const char *
task_name(const ptask *t)
{
    return t->pn->name;
}

/* task_new makes a queued-to-be task with copies of n inputs. */
static ptask *
task_new(pool *p, pname *pn, uint64_t owner, uint64_t group, uint64_t index,
         const ProtobufCBinaryData *in, size_t n, int64_t timeout_ms, uint32_t max_kills)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += in[i].len;
    ptask *t = calloc(1, sizeof(*t));
    size_t *off = malloc((n + 1) * sizeof(*off));
    uint8_t *data = malloc(total ? total : 1);
    if (t == NULL || off == NULL || data == NULL) {
        free(t);
        free(off);
        free(data);
        return NULL;
    }
    off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i].len)
            memcpy(data + off[i], in[i].data, in[i].len);
        off[i + 1] = off[i] + in[i].len;
    }
    t->id = ++p->next_id;
    t->order = t->id;
    t->owner = owner;
    t->group = group;
    t->index = index;
    t->pn = pn;
    t->ninputs = n;
    t->off = off;
    t->data = data;
    t->timeout_ms = timeout_ms;
    t->max_kills = max_kills ? max_kills : POOL_DEFAULT_KILLS;
    t->deadline = -1;
    return t;
}

static void
task_free(pool *p, ptask *t)
{
    map_drop_key(&p->tasks, &t->id, sizeof(t->id));
    if (t->outs != NULL) {
        free(t->outs[0].data); /* one block for every outcome's bytes */
        free(t->outs);
    }
    free(t->off);
    free(t->data);
    free(t);
}

static void
timed_unlink(pool *p, ptask *t)
{
    if (!t->timed)
        return;
    if (t->tprev)
        t->tprev->tnext = t->tnext;
    else
        p->timed = t->tnext;
    if (t->tnext)
        t->tnext->tprev = t->tprev;
    t->tprev = t->tnext = NULL;
    t->timed = false;
    t->deadline = -1;
}

static psess *
sess_of(pool *p, uint64_t sid)
{
    return map_get_ptr(&p->sessions, &sid, sizeof(sid));
}

static pgroup *
group_of(psess *ps, uint64_t group)
{
    return map_get_ptr(&ps->groups, &group, sizeof(group));
}

/* psess_get finds or makes s's record; the session holds the pool while
 * it has one. NULL when out of memory. */
static psess *
psess_get(srv_state *st, pool *p, srv_sess *s)
{
    uint64_t sid = srv_sess_id(s);
    psess *ps = sess_of(p, sid);
    if (ps != NULL || s == NULL)
        return ps;
    ps = calloc(1, sizeof(*ps));
    if (ps == NULL)
        return NULL;
    ps->sid = sid;
    if (!map_put_ptr(&p->sessions, &sid, sizeof(sid), ps)) {
        free(ps);
        return NULL;
    }
    srv_hold_add(st, s, &p->hdr, HOLD_POOL, 1);
    return ps;
}

static pgroup *
group_get(psess *ps, uint64_t group)
{
    pgroup *g = group_of(ps, group);
    if (g != NULL)
        return g;
    g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    g->group = group;
    if (!map_put_ptr(&ps->groups, &group, sizeof(group), g)) {
        free(g);
        return NULL;
    }
    return g;
}

/* group_maybe_free frees g once nothing of it is left to deliver. */
static void
group_maybe_free(psess *ps, pgroup *g)
{
    if (g->live > 0 || g->done.n > 0 || g->collectors.head != NULL)
        return;
    map_drop_key(&ps->groups, &g->group, sizeof(g->group));
    free(g);
}

/* -------------------------------------------------------------- delivery */

static int collect_fill(pool *p, pgroup *g, uint32_t max, Smwire__Reply *rep, srv_call *call,
                        ptask ***takenp);

/* task_forget drops a task that nobody will collect. */
static void
task_forget(pool *p, psess *ps, pgroup *g, ptask *t)
{
    if (g != NULL && g->live > 0)
        g->live--;
    if (ps != NULL && ps->live > 0)
        ps->live--;
    task_free(p, t);
}

/* task_deliver hands a finished task to its group: the first parked
 * collector gets it at once, else it waits in the group's results. A task
 * whose submitter is gone, or whose group was forgotten, is dropped. */
static void
task_deliver(srv_state *st, pool *p, ptask *t)
{
    psess *ps = sess_of(p, t->owner);
    pgroup *g = ps != NULL ? group_of(ps, t->group) : NULL;
    if (g != NULL) {
        if (t->state == T_DONE)
            g->ndone++;
        else
            g->nfailed++;
    }
    if (g == NULL || g->forget) {
        task_forget(p, ps, g, t);
        if (ps != NULL && g != NULL)
            group_maybe_free(ps, g);
        return;
    }
    plist_push(&g->done, t);
    p->results++;
    srv_waiter *w = g->collectors.head;
    if (w == NULL)
        return;
    Smwire__Reply rep = SMWIRE__REPLY__INIT;
    srv_call call;
    ptask **taken = NULL;
    call_scratch(&call, st);
    rep.detail = (char *)"";
    int n = collect_fill(p, g, (uint32_t)w->n, &rep, &call, &taken);
    if (n < 0) {
        rep.status = SM_ENOMEM;
        srv_answer_rep(st, w, &rep);
    } else {
        srv_answer_rep(st, w, &rep);
        for (int i = 0; i < n; i++)
            task_forget(p, ps, g, taken[i]);
    }
    call_scratch_free(&call);
    free(taken);
    group_maybe_free(ps, g);
}

/* task_finish_all ends a task with one status and message for every input. */
static void
task_finish_all(srv_state *st, pool *p, ptask *t, int status, const char *msg)
{
    size_t mlen = strlen(msg);
    pout *outs = calloc(t->ninputs, sizeof(*outs));
    uint8_t *bytes = malloc(mlen + 1);
    if (outs == NULL || bytes == NULL) {
        free(outs);
        free(bytes);
        outs = NULL;
    } else {
        memcpy(bytes, msg, mlen + 1);
        for (size_t i = 0; i < t->ninputs; i++) {
            outs[i].status = (uint32_t)status;
            outs[i].data = bytes; /* shared; freed once, through outs[0] */
            outs[i].len = mlen;
        }
    }
    t->outs = outs; /* NULL: out of memory, delivered with no outcomes */
    t->state = status == SM_ECANCELLED ? T_CANCELLED : T_FAILED;
    if (status == SM_ECANCELLED)
        p->cancelled++;
    else
        p->failed++;
    task_deliver(st, p, t);
}

/* ----------------------------------------------------------------- leases */

static void
task_queue(pool *p, ptask *t, bool front)
{
    t->state = T_QUEUED;
    t->worker = NULL;
    if (front)
        plist_push_front(&t->pn->queue, t);
    else
        plist_push(&t->pn->queue, t);
    p->queued++;
}

/* unlease takes a running task off its worker. */
static void
unlease(pool *p, ptask *t)
{
    plist_unlink(t);
    timed_unlink(p, t);
    t->worker = NULL;
    p->running--;
}

/* pick returns the oldest queued task among ps's names, or NULL. */
static ptask *
pick(psess *ps)
{
    ptask *best = NULL;
    for (size_t i = 0; i < ps->nnames; i++) {
        ptask *h = ps->names[i]->queue.head;
        if (h != NULL && (best == NULL || h->order < best->order))
            best = h;
    }
    return best;
}

static bool
alone(const ptask *t)
{
    return t->suspect || t->timeout_ms > 0;
}

/* lease_some leases up to max tasks to ps into a TAKE reply (arena from
 * call); returns how many, or -1 when out of memory (nothing leased). */
static int
lease_some(srv_state *st, pool *p, psess *ps, uint32_t max, Smwire__Reply *rep, srv_call *call)
{
    /* No worker leases more than its share of what is queued, so a deep
     * prefetch cannot leave other workers idle at the end of a map. */
    uint64_t share = p->workers > 0 ? (p->queued + p->workers - 1) / p->workers : p->queued;
    if (share < 1)
        share = 1;
    if (max > share)
        max = (uint32_t)share;
    size_t n = 0, bytes = 0, cap = max < 64 ? max : 64;
    Smwire__TaskLease **v = NULL;
    while (n < max && bytes < POOL_REPLY_BUDGET) {
        ptask *t = pick(ps);
        if (t == NULL || (n > 0 && alone(t)))
            break;
        if (v == NULL || n == cap) {
            size_t ncap = v == NULL ? cap : cap * 2;
            Smwire__TaskLease **nv = call_alloc(call, ncap * sizeof(*nv));
            if (nv == NULL)
                goto oom;
            if (v != NULL)
                memcpy(nv, v, n * sizeof(*nv));
            v = nv;
            cap = ncap;
        }
        Smwire__TaskLease *l = call_alloc(call, sizeof(*l));
        ProtobufCBinaryData *in = call_alloc(call, t->ninputs * sizeof(*in));
        if (l == NULL || in == NULL)
            goto oom;
        smwire__task_lease__init(l);
        l->id = t->id;
        l->name = t->pn->name;
        l->timeout_ms = t->timeout_ms;
        for (size_t i = 0; i < t->ninputs; i++) {
            in[i].data = t->data + t->off[i];
            in[i].len = t->off[i + 1] - t->off[i];
        }
        l->inputs = in;
        l->n_inputs = t->ninputs;
        v[n++] = l;
        bytes += t->off[t->ninputs];
        /* Leased. */
        plist_unlink(t);
        p->queued--;
        t->state = T_RUNNING;
        t->worker = ps;
        plist_push(&ps->leased, t);
        p->running++;
        if (t->timeout_ms > 0) {
            int64_t now = srv_now_ms() + 1;
            t->deadline = t->timeout_ms > INT64_MAX - now ? INT64_MAX : now + t->timeout_ms;
            t->timed = true;
            t->tprev = NULL;
            t->tnext = p->timed;
            if (p->timed)
                p->timed->tprev = t;
            p->timed = t;
            if (st->hooks.kick != NULL)
                st->hooks.kick(st->hooks.arg);
        }
        if (alone(t))
            break;
    }
    rep->tasks = v;
    rep->n_tasks = n;
    return (int)n;
oom:
    /* Give back what was leased in this reply, in order. */
    for (size_t i = n; i-- > 0;) {
        ptask *t = map_get_ptr(&p->tasks, &v[i]->id, sizeof(v[i]->id));
        if (t != NULL) {
            unlease(p, t);
            task_queue(p, t, true);
        }
    }
    rep->tasks = NULL;
    rep->n_tasks = 0;
    return -1;
}

/* pool_feed answers parked takes while there are tasks their workers can
 * run. */
static void
pool_feed(srv_state *st, pool *p)
{
    srv_waiter *w = p->idle.head;
    while (w != NULL && p->queued > 0) {
        srv_waiter *next = w->next;
        psess *ps = sess_of(p, w->session);
        if (ps != NULL && pick(ps) != NULL) {
            Smwire__Reply rep = SMWIRE__REPLY__INIT;
            srv_call call;
            call_scratch(&call, st);
            rep.detail = (char *)"";
            int n = lease_some(st, p, ps, (uint32_t)w->n, &rep, &call);
            if (n < 0)
                rep.status = SM_ENOMEM;
            srv_answer_rep(st, w, &rep);
            call_scratch_free(&call);
        }
        w = next;
    }
}

/* give_back requeues a worker's unreported leases at the front, in lease
 * order. died: the worker's session ended without reporting them. */
static void
give_back(srv_state *st, pool *p, psess *ps, bool died)
{
    size_t n = ps->leased.n;
    if (n == 0)
        return;
    if (died && n == 1) {
        ptask *t = ps->leased.head;
        unlease(p, t);
        if (t->ninputs > 1) {
            /* Split the chunk: each input becomes a suspect task of its
             * own, in the chunk's place at the front, carrying the charge
             * (one of them caused it), so the culprit fails after
             * max_kills deaths in all and the others run once more. */
            p->requeued++;
            ptask **parts = calloc(t->ninputs, sizeof(*parts));
            bool ok = parts != NULL;
            for (size_t i = 0; ok && i < t->ninputs; i++) {
                ProtobufCBinaryData in = {t->off[i + 1] - t->off[i], t->data + t->off[i]};
                parts[i] = task_new(p, t->pn, t->owner, t->group, t->index + i, &in, 1,
                                    t->timeout_ms, t->max_kills);
                ok = parts[i] != NULL &&
                     map_put_ptr(&p->tasks, &parts[i]->id, sizeof(parts[i]->id), parts[i]);
                if (!ok && parts[i] != NULL) {
                    task_free(p, parts[i]);
                    parts[i] = NULL;
                }
            }
            if (ok) {
                psess *owner = sess_of(p, t->owner);
                pgroup *g = owner != NULL ? group_of(owner, t->group) : NULL;
                for (size_t i = t->ninputs; i-- > 0;) {
                    parts[i]->order = t->order;
                    parts[i]->suspect = true;
                    parts[i]->kills = t->kills + 1;
                    task_queue(p, parts[i], true);
                }
                if (g != NULL) {
                    g->live += t->ninputs - 1;
                    g->total += t->ninputs - 1;
                }
                if (owner != NULL)
                    owner->live += t->ninputs - 1;
                srv_log(SRV_LOG_NOTICE, "pool %s: a worker died running chunk %" PRIu64
                        " of task '%s'; split into %zu tasks", p->hdr.name ? p->hdr.name : "",
                        t->id, task_name(t), t->ninputs);
                task_free(p, t);
            } else {
                for (size_t i = 0; parts != NULL && i < t->ninputs; i++)
                    if (parts[i] != NULL)
                        task_free(p, parts[i]);
                t->suspect = true; /* no memory to split: retry it whole */
                task_queue(p, t, true);
            }
            free(parts);
        } else if (++t->kills >= t->max_kills) {
            char msg[POOL_MAX_MSG];
            snprintf(msg, sizeof(msg),
                     "task '%s' killed its worker %u time%s (last: session %016" PRIx64 ")",
                     task_name(t), t->kills, t->kills == 1 ? "" : "s", ps->sid);
            srv_log(SRV_LOG_NOTICE, "pool %s: %s; failed", p->hdr.name ? p->hdr.name : "", msg);
            task_finish_all(st, p, t, SM_EKILLED, msg);
        } else {
            t->suspect = true;
            p->requeued++;
            task_queue(p, t, true);
        }
    } else {
        /* Newest first to the front, so the queue reads in lease order. */
        while (ps->leased.tail != NULL) {
            ptask *t = ps->leased.tail;
            unlease(p, t);
            if (died) {
                t->suspect = true;
                p->requeued++;
            }
            task_queue(p, t, true);
        }
    }
    pool_feed(st, p);
}

/* take_stopped answers ps's parked take, if any, with the "stopped" flag. */
static void
take_stopped(srv_state *st, pool *p, psess *ps)
{
    for (srv_waiter *w = p->idle.head; w != NULL; w = w->next)
        if (w->session == ps->sid) {
            srv_answer(st, w, SM_OK, NULL, 0, true);
            return;
        }
}

/* worker_leave unregisters ps as a worker; its leases go back. */
static void
worker_leave(srv_state *st, pool *p, psess *ps, bool died)
{
    if (!ps->worker)
        return;
    take_stopped(st, p, ps); /* it is no longer a worker */
    for (size_t i = 0; i < ps->nnames; i++)
        ps->names[i]->nworkers--;
    free(ps->names);
    ps->names = NULL;
    ps->nnames = 0;
    ps->worker = false;
    p->workers--;
    give_back(st, p, ps, died);
    srv_log(SRV_LOG_NOTICE, "pool %s: worker %s (session %016" PRIx64 ") %s",
            p->hdr.name ? p->hdr.name : "", ps->where ? ps->where : "?", ps->sid,
            died ? "gone" : "left");
}

/* ---------------------------------------------------------------- reports */

/* task_report applies a worker's TaskOut. */
static void
task_report(srv_state *st, pool *p, psess *ps, const Smwire__TaskOut *o)
{
    ptask *t = map_get_ptr(&p->tasks, &o->id, sizeof(o->id));
    if (t == NULL || t->state != T_RUNNING || t->worker != ps) {
        srv_log(SRV_LOG_DEBUG, "pool: report of task %" PRIu64 " not leased to this worker; "
                "ignored", o->id);
        return;
    }
    unlease(p, t);
    size_t total = 0;
    bool ok = o->n_outs == t->ninputs;
    for (size_t i = 0; ok && i < o->n_outs; i++) {
        if (o->outs[i] == NULL) {
            ok = false;
            break;
        }
        total += o->outs[i]->data.len + 1;
    }
    if (!ok) {
        char msg[200];
        snprintf(msg, sizeof(msg), "worker reported %zu outcomes for %zu inputs", o->n_outs,
                 t->ninputs);
        task_finish_all(st, p, t, SM_EPROTO, msg);
        return;
    }
    pout *outs = calloc(t->ninputs, sizeof(*outs));
    uint8_t *bytes = malloc(total ? total : 1);
    if (outs == NULL || bytes == NULL) {
        free(outs);
        free(bytes);
        task_finish_all(st, p, t, SM_ENOMEM, "no memory for the task's outcome");
        return;
    }
    bool failed = false;
    uint8_t *at = bytes;
    for (size_t i = 0; i < t->ninputs; i++) {
        const Smwire__Outcome *w = o->outs[i];
        uint32_t status = w->status;
        if (status != SM_OK && status != SM_ETASK && status != SM_ENOMEM)
            status = SM_ETASK; /* a worker speaks for its task only */
        size_t len = w->data.len;
        if (status != SM_OK && len > POOL_MAX_MSG)
            len = POOL_MAX_MSG;
        outs[i].status = status;
        outs[i].data = at;
        outs[i].len = len;
        if (len)
            memcpy(at, w->data.data, len);
        at[len] = '\0';
        at += len + 1;
        failed |= status != SM_OK;
    }
    t->outs = outs;
    t->state = failed ? T_FAILED : T_DONE;
    if (failed)
        p->failed++;
    else
        p->done++;
    task_deliver(st, p, t);
}

/* -------------------------------------------------------------- collect */

/* collect_fill moves up to max of g's results into rep (borrowing their
 * bytes); *takenp gets the tasks, to free once the reply is packed.
 * Returns how many, or -1 when out of memory (nothing moved). */
static int
collect_fill(pool *p, pgroup *g, uint32_t max, Smwire__Reply *rep, srv_call *call,
             ptask ***takenp)
{
    size_t n = 0, bytes = 0;
    for (ptask *t = g->done.head; t != NULL && n < max && (n == 0 || bytes < POOL_REPLY_BUDGET);
         t = t->next) {
        n++;
        if (t->outs != NULL)
            for (size_t i = 0; i < t->ninputs; i++)
                bytes += t->outs[i].len;
    }
    *takenp = NULL;
    rep->results = NULL;
    rep->n_results = 0;
    if (n == 0)
        return 0;
    ptask **taken = malloc(n * sizeof(*taken));
    Smwire__TaskResult **v = call_alloc(call, n * sizeof(*v));
    if (taken == NULL || v == NULL) {
        free(taken);
        return -1;
    }
    size_t i = 0;
    for (ptask *t = g->done.head; i < n; t = t->next, i++) {
        Smwire__TaskResult *r = call_alloc(call, sizeof(*r));
        size_t no = t->outs != NULL ? t->ninputs : 0;
        Smwire__Outcome **po = call_alloc(call, (no ? no : 1) * sizeof(*po));
        Smwire__Outcome *oc = call_alloc(call, (no ? no : 1) * sizeof(*oc));
        if (r == NULL || po == NULL || oc == NULL) {
            free(taken);
            return -1;
        }
        smwire__task_result__init(r);
        r->id = t->id;
        r->group = t->group;
        r->index = t->index;
        for (size_t k = 0; k < no; k++) {
            smwire__outcome__init(&oc[k]);
            oc[k].status = t->outs[k].status;
            oc[k].data.data = t->outs[k].data;
            oc[k].data.len = t->outs[k].len;
            po[k] = &oc[k];
        }
        r->outs = po;
        r->n_outs = no;
        v[i] = r;
        taken[i] = t;
    }
    for (i = 0; i < n; i++) {
        plist_unlink(taken[i]);
        p->results--;
    }
    rep->results = v;
    rep->n_results = n;
    *takenp = taken;
    return (int)n;
}

typedef struct collect_done {
    pool *p;
    uint64_t sid, group;
    ptask **taken;
    size_t n;
} collect_done;

/* collect_free runs once a collect's reply is packed: the delivered tasks
 * are freed. */
static void
collect_free(srv_state *st, void *arg)
{
    (void)st;
    collect_done *d = arg;
    psess *ps = sess_of(d->p, d->sid);
    pgroup *g = ps != NULL ? group_of(ps, d->group) : NULL;
    for (size_t i = 0; i < d->n; i++)
        task_forget(d->p, ps, g, d->taken[i]);
    free(d->taken);
    if (g != NULL)
        group_maybe_free(ps, g);
}

/* ------------------------------------------------------------------ ops */

/* name_get finds or makes the queue of a task name. */
static pname *
name_get(pool *p, const char *name)
{
    size_t len = strlen(name);
    pname *pn = map_get_ptr(&p->names, name, len);
    if (pn != NULL)
        return pn;
    pn = calloc(1, sizeof(*pn));
    if (pn == NULL)
        return NULL;
    pn->name = strdup(name);
    if (pn->name == NULL || !map_put_ptr(&p->names, name, len, pn)) {
        free(pn->name);
        free(pn);
        return NULL;
    }
    return pn;
}

static int
check_task_name(srv_call *call, const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > SRV_MAX_NAME)
        return call_fail(call, SM_EINVAL, "task name is %zu bytes; names are 1 to %d bytes", n,
                         SRV_MAX_NAME);
    return SM_OK;
}

/* POOL.SUBMIT tasks -> n: first id (ids are consecutive), k: count */
static int
pool_op_submit(srv_call *call, srv_obj *o)
{
    pool *p = POOL(o);
    srv_state *st = call->st;
    const Smwire__PoolSubmit *sub = call->req->pool_submit;
    size_t n = sub->n_tasks;
    if (n == 0)
        return call_fail(call, SM_EINVAL, "no tasks");
    if (n > POOL_MAX_SUBMIT)
        return call_fail(call, SM_ELIMIT, "%zu tasks in one submit; at most %d", n,
                         POOL_MAX_SUBMIT);
    uint64_t max = st->limits.max_items;
    if (n > max || p->queued > max - n)
        return call_fail(call, SM_ELIMIT,
                         "pool has %" PRIu64 " queued tasks; %zu more would pass the limit of %"
                         PRIu64 " (--max-items)",
                         p->queued, n, max);
    /* Check everything before changing anything. */
    for (size_t i = 0; i < n; i++) {
        const Smwire__TaskIn *t = sub->tasks[i];
        int rv = check_task_name(call, t->name);
        if (rv != SM_OK)
            return rv;
        if (t->n_inputs == 0 || t->n_inputs > POOL_MAX_INPUTS)
            return call_fail(call, SM_EINVAL, "task %zu has %zu inputs; 1 to %d", i,
                             t->n_inputs, POOL_MAX_INPUTS);
        if (t->timeout_ms < 0)
            return call_fail(call, SM_EINVAL, "task timeout %" PRId64 " ms < 0", t->timeout_ms);
        for (size_t k = 0; k < t->n_inputs; k++)
            if (t->inputs[k].len > st->limits.max_value)
                return call_fail(call, SM_ELIMIT,
                                 "task %zu input %zu is %zu bytes, over the limit of %" PRIu64
                                 " (--max-value)",
                                 i, k, t->inputs[k].len, st->limits.max_value);
        if (p->workers > 0) {
            pname *pn = map_get_ptr(&p->names, t->name, strlen(t->name));
            if (pn == NULL || pn->nworkers == 0)
                return call_fail(call, SM_ENOTFOUND,
                                 "none of the %" PRIu64 " workers in pool '%s' has task '%s'",
                                 p->workers, o->name ? o->name : "", t->name);
        }
    }
    psess *ps = psess_get(st, p, call->sess);
    if (ps == NULL)
        return SM_ENOMEM;
    ptask **made = calloc(n, sizeof(*made));
    if (made == NULL)
        return SM_ENOMEM;
    size_t i;
    for (i = 0; i < n; i++) {
        const Smwire__TaskIn *in = sub->tasks[i];
        pname *pn = name_get(p, in->name);
        pgroup *g = pn != NULL ? group_get(ps, in->group) : NULL;
        if (g == NULL)
            break;
        made[i] = task_new(p, pn, ps->sid, in->group, in->index, in->inputs, in->n_inputs,
                           in->timeout_ms, in->max_kills);
        if (made[i] == NULL)
            break;
        if (!map_put_ptr(&p->tasks, &made[i]->id, sizeof(made[i]->id), made[i])) {
            task_free(p, made[i]);
            break;
        }
    }
    if (i < n) { /* out of memory: none of them is submitted */
        while (i-- > 0)
            task_free(p, made[i]);
        free(made);
        return SM_ENOMEM;
    }
    for (i = 0; i < n; i++) {
        pgroup *g = group_of(ps, made[i]->group);
        g->live++;
        g->total++;
        ps->live++;
        task_queue(p, made[i], false);
    }
    call->rep.n = (int64_t)made[0]->id;
    call->rep.k = (int64_t)n;
    free(made);
    pool_feed(st, p);
    return SM_OK;
}

/* POOL.JOIN names host pid -> SM_OK */
static int
pool_op_join(srv_call *call, srv_obj *o)
{
    pool *p = POOL(o);
    const Smwire__PoolJoin *j = call->req->pool_join;
    if (j->n_names == 0)
        return call_fail(call, SM_EINVAL, "a worker with no tasks");
    if (j->n_names > 4096)
        return call_fail(call, SM_ELIMIT, "%zu task names; at most 4096", j->n_names);
    for (size_t i = 0; i < j->n_names; i++) {
        int rv = check_task_name(call, j->names[i]);
        if (rv != SM_OK)
            return rv;
    }
    psess *ps = psess_get(call->st, p, call->sess);
    if (ps == NULL)
        return SM_ENOMEM;
    if (ps->worker)
        return call_fail(call, SM_EINVAL, "this session already serves the pool");
    pname **names = calloc(j->n_names, sizeof(*names));
    if (names == NULL)
        return SM_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < j->n_names; i++) {
        pname *pn = name_get(p, j->names[i]);
        if (pn == NULL) {
            free(names);
            return SM_ENOMEM;
        }
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup |= names[k] == pn;
        if (!dup)
            names[n++] = pn;
    }
    char where[300];
    snprintf(where, sizeof(where), "%.255s:%" PRIu64, j->host[0] ? j->host : "?", j->pid);
    free(ps->where);
    ps->where = strdup(where);
    for (size_t k = 0; k < n; k++)
        names[k]->nworkers++;
    ps->names = names;
    ps->nnames = n;
    ps->worker = true;
    ps->stopping = false;
    p->workers++;
    srv_log(SRV_LOG_NOTICE, "pool %s: worker %s joined (session %016" PRIx64 ", %zu tasks)",
            o->name ? o->name : "", where, ps->sid, n);
    return SM_OK;
}

/* POOL.TAKE max done -> tasks; flag: the worker is stopped (no tasks) */
static int
pool_op_take(srv_call *call, srv_obj *o)
{
    pool *p = POOL(o);
    const Smwire__PoolTake *tk = call->req->pool_take;
    psess *ps = sess_of(p, srv_sess_id(call->sess));
    if (ps == NULL || !ps->worker)
        return call_fail(call, SM_EINVAL, "take before join: this session is not a worker");
    /* A take that may wait asks for room (--max-waits) before its reports
     * apply, so that a refusal changes nothing. */
    if (tk->n_done > 0 && !ps->stopping && tk->max != 0 && call->req->timeout_ms != 0) {
        int rv = srv_sess_park_room(call);
        if (rv != SM_OK)
            return rv;
    }
    for (size_t i = 0; i < tk->n_done; i++)
        if (tk->done[i] != NULL)
            task_report(call->st, p, ps, tk->done[i]);
    if (ps->stopping) {
        call->rep.flag = true; /* stopped: no more leases */
        return SM_OK;
    }
    if (tk->max == 0)
        return SM_OK;
    int n = lease_some(call->st, p, ps, tk->max, &call->rep, call);
    if (n < 0)
        return SM_ENOMEM;
    if (n > 0 || call->req->timeout_ms == 0)
        return SM_OK;
    srv_waiter *w;
    int rv = srv_park(call, o, &p->idle, &w);
    if (rv == SRV_PARKED)
        w->n = tk->max;
    return rv;
}

/* POOL.LEAVE final -> SM_OK */
static int
pool_op_leave(srv_call *call, srv_obj *o)
{
    pool *p = POOL(o);
    psess *ps = sess_of(p, srv_sess_id(call->sess));
    if (ps == NULL || !ps->worker)
        return SM_OK;
    if (call->req->pool_leave->final) {
        worker_leave(call->st, p, ps, false);
        return SM_OK;
    }
    ps->stopping = true;
    take_stopped(call->st, p, ps);
    return SM_OK;
}

/* POOL.COLLECT group max -> results, n: tasks of the group still to come */
static int
pool_op_collect(srv_call *call, srv_obj *o)
{
    pool *p = POOL(o);
    const Smwire__PoolCollect *c = call->req->pool_collect;
    psess *ps = sess_of(p, srv_sess_id(call->sess));
    pgroup *g = ps != NULL ? group_of(ps, c->group) : NULL;
    if (g == NULL)
        return SM_OK; /* nothing of it here: n = 0 */
    uint32_t max = c->max ? c->max : 1;
    if (g->done.n == 0) {
        call->rep.n = (int64_t)g->live;
        if (g->live == 0 || call->req->timeout_ms == 0)
            return SM_OK;
        srv_waiter *w;
        int rv = srv_park(call, o, &g->collectors, &w);
        if (rv == SRV_PARKED)
            w->n = max;
        return rv;
    }
    collect_done *d = call_alloc(call, sizeof(*d));
    if (d == NULL)
        return SM_ENOMEM;
    int n = collect_fill(p, g, max, &call->rep, call, &d->taken);
    if (n < 0)
        return SM_ENOMEM;
    d->p = p;
    d->sid = ps->sid;
    d->group = c->group;
    d->n = (size_t)n;
    if (call_defer(call, collect_free, d) != SM_OK) {
        /* Put them back: the caller will ask again. */
        for (int i = n; i-- > 0;) {
            plist_push_front(&g->done, d->taken[i]);
            p->results++;
        }
        free(d->taken);
        call->rep.results = NULL;
        call->rep.n_results = 0;
        return SM_ENOMEM;
    }
    call->rep.n = (int64_t)(g->live - (uint64_t)n);
    return SM_OK;
}

/* cancel_one cancels t if it is queued; true if it was. */
static bool
cancel_one(srv_state *st, pool *p, ptask *t)
{
    if (t->state != T_QUEUED)
        return false;
    plist_unlink(t);
    p->queued--;
    task_finish_all(st, p, t, SM_ECANCELLED, "cancelled before it started");
    return true;
}

/* POOL.CANCEL group | ids, forget -> n: tasks cancelled */
static int
pool_op_cancel(srv_call *call, srv_obj *o)
{
    pool *p = POOL(o);
    const Smwire__PoolCancel *c = call->req->pool_cancel;
    uint64_t sid = srv_sess_id(call->sess);
    psess *ps = sess_of(p, sid);
    int64_t n = 0;
    if (ps == NULL)
        return SM_OK;
    pgroup *g = group_of(ps, c->group);
    if (g != NULL && c->forget)
        g->forget = true;
    if (c->n_ids > 0) {
        for (size_t i = 0; i < c->n_ids; i++) {
            ptask *t = map_get_ptr(&p->tasks, &c->ids[i], sizeof(c->ids[i]));
            if (t != NULL && t->owner == sid)
                n += cancel_one(call->st, p, t);
        }
    } else if (g != NULL) {
        for (map_ent *e = p->names.head; e != NULL; e = e->next) {
            pname *pn = (pname *)(void *)e->val.u.s.p;
            ptask *t = pn->queue.head;
            while (t != NULL) {
                ptask *next = t->next;
                if (t->owner == sid && t->group == c->group)
                    n += cancel_one(call->st, p, t);
                t = next;
            }
        }
    }
    g = group_of(ps, c->group); /* cancelling may have delivered and freed it */
    if (g != NULL && g->forget) {
        while (g->done.head != NULL) {
            ptask *t = g->done.head;
            plist_unlink(t);
            p->results--;
            task_forget(p, ps, g, t);
        }
        group_maybe_free(ps, g);
    }
    call->rep.n = n;
    return SM_OK;
}

/* POOL.STATUS ids -> states */
static int
pool_op_status(srv_call *call, srv_obj *o)
{
    pool *p = POOL(o);
    const Smwire__PoolStatus *s = call->req->pool_status;
    if (s->n_ids > POOL_MAX_SUBMIT)
        return call_fail(call, SM_ELIMIT, "%zu ids; at most %d", s->n_ids, POOL_MAX_SUBMIT);
    if (s->n_ids == 0)
        return SM_OK;
    uint32_t *states = call_alloc(call, s->n_ids * sizeof(*states));
    if (states == NULL)
        return SM_ENOMEM;
    for (size_t i = 0; i < s->n_ids; i++) {
        ptask *t = map_get_ptr(&p->tasks, &s->ids[i], sizeof(s->ids[i]));
        states[i] = t != NULL ? (uint32_t)t->state : SM_TASK_UNKNOWN;
    }
    call->rep.states = states;
    call->rep.n_states = s->n_ids;
    return SM_OK;
}

/* pool_info_new describes p's counters (arena memory); NULL when out of
 * memory. */
static Smwire__PoolInfo *
pool_info_new(srv_call *call, const pool *p)
{
    Smwire__PoolInfo *i = call_alloc(call, sizeof(*i));
    if (i == NULL)
        return NULL;
    smwire__pool_info__init(i);
    i->queued = p->queued;
    i->running = p->running;
    i->done = p->done;
    i->failed = p->failed;
    i->cancelled = p->cancelled;
    i->workers = p->workers;
    i->results = p->results;
    i->requeued = p->requeued;
    return i;
}

/* POOL.INFO -> pool */
static int
pool_op_info(srv_call *call, srv_obj *o)
{
    call->rep.pool = pool_info_new(call, POOL(o));
    return call->rep.pool != NULL ? SM_OK : SM_ENOMEM;
}

/* ----------------------------------------------------------------- status */

srv_obj *
pool_next(srv_obj *o)
{
    return POOL(o)->next;
}

uint64_t
pool_leases(srv_obj *o, uint64_t sid)
{
    const psess *ps = sess_of(POOL(o), sid);
    return ps != NULL ? ps->leased.n : 0;
}

/* STATUS: pool, waiters (parked takes and collects), holders (workers
 * holding leases) */
static int
pool_info_hook(srv_call *call, srv_obj *o, Smwire__ObjectInfo *out)
{
    pool *p = POOL(o);
    uint64_t waiters = p->idle.n, holders = 0;
    for (const map_ent *e = p->sessions.head; e != NULL; e = e->next) {
        const psess *ps = (const psess *)(const void *)e->val.u.s.p;
        holders += ps->leased.n > 0;
        for (const map_ent *g = ps->groups.head; g != NULL; g = g->next)
            waiters += ((const pgroup *)(const void *)g->val.u.s.p)->collectors.n;
    }
    out->waiters = waiters;
    out->holders = holders;
    out->pool = pool_info_new(call, p);
    return out->pool != NULL ? SM_OK : SM_ENOMEM;
}

int
pool_status(srv_call *call, srv_obj *o, int64_t now, Smwire__PoolStatusInfo *out)
{
    pool *p = POOL(o);
    size_t ng = 0, nw = 0;
    out->id = o->id;
    out->name = o->name != NULL ? o->name : (char *)"";
    out->info = pool_info_new(call, p);
    if (out->info == NULL)
        return SM_ENOMEM;
    for (const map_ent *e = p->sessions.head; e != NULL; e = e->next) {
        const psess *ps = (const psess *)(const void *)e->val.u.s.p;
        ng += ps->groups.len;
        nw += ps->worker;
    }
    Smwire__GroupInfo **gv = call_alloc(call, (ng ? ng : 1) * sizeof(*gv));
    Smwire__GroupInfo *gi = call_alloc(call, (ng ? ng : 1) * sizeof(*gi));
    Smwire__SessionInfo **wv = call_alloc(call, (nw ? nw : 1) * sizeof(*wv));
    Smwire__SessionInfo *wi = call_alloc(call, (nw ? nw : 1) * sizeof(*wi));
    if (gv == NULL || gi == NULL || wv == NULL || wi == NULL)
        return SM_ENOMEM;
    size_t k = 0, w = 0;
    for (const map_ent *e = p->sessions.head; e != NULL; e = e->next) {
        psess *ps = (psess *)(void *)e->val.u.s.p;
        for (const map_ent *ge = ps->groups.head; ge != NULL; ge = ge->next, k++) {
            pgroup *g = (pgroup *)(void *)ge->val.u.s.p;
            smwire__group_info__init(&gi[k]);
            gi[k].session = ps->sid;
            gi[k].group = g->group;
            gi[k].total = g->total;
            gi[k].done = g->ndone;
            gi[k].failed = g->nfailed;
            gv[k] = g->info = &gi[k];
        }
        if (ps->worker) {
            smwire__session_info__init(&wi[w]);
            const srv_sess *s = srv_sess_lookup(call->st, ps->sid);
            if (s != NULL)
                srv_sess_info(s, now, &wi[w]);
            else
                wi[w].id = ps->sid;
            wv[w] = &wi[w];
            w++;
        }
    }
    /* Queued and running tasks, by group: one pass over the pool's tasks. */
    for (const map_ent *e = p->tasks.head; e != NULL; e = e->next) {
        const ptask *t = (const ptask *)(const void *)e->val.u.s.p;
        if (t->state != T_QUEUED && t->state != T_RUNNING)
            continue;
        psess *ps = sess_of(p, t->owner);
        pgroup *g = ps != NULL ? group_of(ps, t->group) : NULL;
        if (g == NULL || g->info == NULL)
            continue;
        if (t->state == T_QUEUED)
            g->info->queued++;
        else
            g->info->running++;
    }
    for (const map_ent *e = p->sessions.head; e != NULL; e = e->next) {
        const psess *ps = (const psess *)(const void *)e->val.u.s.p;
        for (const map_ent *ge = ps->groups.head; ge != NULL; ge = ge->next)
            ((pgroup *)(void *)ge->val.u.s.p)->info = NULL;
    }
    out->groups = gv;
    out->n_groups = ng;
    out->workers = wv;
    out->n_workers = nw;
    return SM_OK;
}

/* -------------------------------------------------------- session, timer */

void
pool_session_gone(srv_state *st, srv_obj *o, srv_sess *s)
{
    pool *p = POOL(o);
    uint64_t sid = srv_sess_id(s);
    psess *ps = sess_of(p, sid);
    if (ps == NULL)
        return;
    worker_leave(st, p, ps, true);
    /* As a submitter: cancel what is queued, drop what is finished; what
     * is running is dropped when it is reported (its owner is gone). */
    uint64_t ncancel = 0;
    for (map_ent *e = p->names.head; e != NULL; e = e->next) {
        pname *pn = (pname *)(void *)e->val.u.s.p;
        ptask *t = pn->queue.head;
        while (t != NULL) {
            ptask *next = t->next;
            if (t->owner == sid) {
                plist_unlink(t);
                p->queued--;
                p->cancelled++;
                task_free(p, t);
                ncancel++;
            }
            t = next;
        }
    }
    for (map_ent *e = ps->groups.head; e != NULL; e = e->next) {
        pgroup *g = (pgroup *)(void *)e->val.u.s.p;
        while (g->done.head != NULL) {
            ptask *t = g->done.head;
            plist_unlink(t);
            p->results--;
            task_free(p, t);
        }
        free(g);
    }
    map_clear(NULL, &ps->groups);
    if (ncancel > 0)
        srv_log(SRV_LOG_NOTICE, "pool %s: session %016" PRIx64 " gone; %" PRIu64
                " queued task(s) cancelled", o->name ? o->name : "", sid, ncancel);
    map_drop_key(&p->sessions, &sid, sizeof(sid));
    free(ps->where);
    free(ps);
}

int64_t
pool_expire(srv_state *st, int64_t now)
{
    int64_t next = -1;
    for (srv_obj *o = st->pools; o != NULL; o = POOL(o)->next) {
        pool *p = POOL(o);
        ptask *t = p->timed;
        while (t != NULL) {
            ptask *nx = t->tnext;
            if (t->deadline <= now) {
                char msg[300];
                snprintf(msg, sizeof(msg), "task '%s' ran past its timeout of %" PRId64 " ms",
                         task_name(t), t->timeout_ms);
                unlease(p, t);
                task_finish_all(st, p, t, SM_ETIMEDOUT, msg);
                nx = p->timed; /* delivering may have changed the list */
            } else if (next < 0 || t->deadline < next) {
                next = t->deadline;
            }
            t = nx;
        }
    }
    return next;
}

/* -------------------------------------------------------------------- type */

static int
pool_create(srv_call *call, const Smwire__Open *op, srv_obj **out)
{
    (void)op;
    pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return SM_ENOMEM;
    p->next = call->st->pools;
    call->st->pools = &p->hdr;
    *out = &p->hdr;
    return SM_OK;
}

static void
pool_destroy(srv_state *st, srv_obj *o)
{
    pool *p = POOL(o);
    for (srv_obj **pp = &st->pools; *pp != NULL; pp = &POOL(*pp)->next)
        if (*pp == o) {
            *pp = p->next;
            break;
        }
    srv_wlist_fail(st, &p->idle, SM_ENOOBJ);
    for (map_ent *e = p->sessions.head; e != NULL; e = e->next) {
        psess *ps = (psess *)(void *)e->val.u.s.p;
        for (map_ent *g = ps->groups.head; g != NULL; g = g->next) {
            pgroup *pg = (pgroup *)(void *)g->val.u.s.p;
            srv_wlist_fail(st, &pg->collectors, SM_ENOOBJ);
            free(pg);
        }
        map_clear(NULL, &ps->groups);
        free(ps->names);
        free(ps->where);
        free(ps);
    }
    map_clear(NULL, &p->sessions);
    while (p->tasks.head != NULL)
        task_free(p, (ptask *)(void *)p->tasks.head->val.u.s.p);
    map_clear(NULL, &p->tasks);
    for (map_ent *e = p->names.head; e != NULL; e = e->next) {
        pname *pn = (pname *)(void *)e->val.u.s.p;
        free(pn->name);
        free(pn);
    }
    map_clear(NULL, &p->names);
    free(p);
}

static const srv_op pool_ops[] = {
    {SMWIRE__REQUEST__OP_POOL_SUBMIT, "pool.submit", pool_op_submit, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_POOL_COLLECT, "pool.collect", pool_op_collect, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_POOL_CANCEL, "pool.cancel", pool_op_cancel, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_POOL_STATUS, "pool.status", pool_op_status, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_POOL_INFO, "pool.info", pool_op_info, SRV_OP_READ},
    {SMWIRE__REQUEST__OP_POOL_JOIN, "pool.join", pool_op_join, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_POOL_TAKE, "pool.take", pool_op_take, SRV_OP_WRITE},
    {SMWIRE__REQUEST__OP_POOL_LEAVE, "pool.leave", pool_op_leave, SRV_OP_WRITE},
};

const srv_type srv_type_pool = {
    .name = "pool",
    .wire_type = SMWIRE__OBJ_TYPE__OBJ_POOL,
    .ops = pool_ops,
    .nops = SM_NELEM(pool_ops),
    .create = pool_create,
    .destroy = pool_destroy,
    .info = pool_info_hook,
};
