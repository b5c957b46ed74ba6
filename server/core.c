/* core.c - the request path without sockets: unpack, check, dispatch, pack.
 *
 * srv_handle_into() is the one entry point; the network layer and the fuzz
 * target both call it. Checks run in order: the message decodes, the
 * protocol version is ours, the operation is known and carries its body, the
 * object exists (id and nonce), the operation belongs to the object's type.
 * Only then does a type's handler run, under st->lock. Every failure is a
 * reply with a status and a detail; nothing from the wire is asserted.
 * Exported: srv_state_init, srv_state_fini, srv_handle_into, srv_handle_bytes,
 * call_alloc, call_fail, index_norm, slice_norm, reply_value, reply_values,
 * check_key. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

/* ------------------------------------------------------------ dispatch table */

#define CORE_MAX_OP 256 /* above the largest op field number in smwire.proto */

typedef struct core_entry {
    const srv_op *op;
    const srv_type *type;
} core_entry;

static core_entry core_ops[CORE_MAX_OP];
static pthread_once_t core_once = PTHREAD_ONCE_INIT;

static void
core_build_table(void)
{
    const srv_type *const types[] = {
        &srv_type_dict,  &srv_type_list, &srv_type_var,   &srv_type_array,
        &srv_type_ns,    &srv_type_lock, &srv_type_rlock, &srv_type_sem,
        &srv_type_cond,  &srv_type_event, &srv_type_barrier, &srv_type_queue,
        &srv_type_pool,
    };
    for (size_t t = 0; t < SM_NELEM(types); t++) {
        for (size_t i = 0; i < types[t]->nops; i++) {
            const srv_op *op = &types[t]->ops[i];
            /* Our own tables: a duplicate or out-of-range case is a bug here. */
            assert(op->op_case > 0 && op->op_case < CORE_MAX_OP);
            assert(core_ops[op->op_case].op == NULL);
            core_ops[op->op_case].op = op;
            core_ops[op->op_case].type = types[t];
        }
    }
    map_seed_init();
}

int
srv_state_init(srv_state *st)
{
    static const srv_limits defaults = SRV_LIMITS_DEFAULT;
    memset(st, 0, sizeof(*st));
    st->limits = defaults;
    pthread_once(&core_once, core_build_table);
    if (pthread_mutex_init(&st->lock, NULL) != 0)
        return SM_ENOMEM;
    return SM_OK;
}

void
srv_state_fini(srv_state *st)
{
    st->hooks.send = NULL; /* the network is gone: waiters are freed, not answered */
    st->hooks.kick = NULL;
    st->hooks.release = NULL;
    store_fini(st);
    srv_waiters_fini(st);
    srv_auth_fini(st);
    pthread_mutex_destroy(&st->lock);
}

/* -------------------------------------------------------------------- arena */

struct srv_arena_chunk {
    srv_arena_chunk *next;
    max_align_t data[];
};

/* arena_raw returns size bytes (not zeroed) from a, or NULL. A large block
 * gets a chunk of its own and leaves the current chunk's room in use. */
static void *
arena_raw(srv_arena *a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size > a->left) {
        bool own = size > 4096;
        size_t want = own ? size : 8192;
        srv_arena_chunk *c = malloc(sizeof(*c) + want);
        if (c == NULL)
            return NULL;
        c->next = a->chunks;
        a->chunks = c;
        if (own)
            return c->data;
        a->cur = (char *)c->data;
        a->left = want;
    }
    void *p = a->cur;
    a->cur += size;
    a->left -= size;
    return p;
}

void *
call_alloc(srv_call *call, size_t size)
{
    void *p = arena_raw(&call->arena, size);
    if (p != NULL)
        memset(p, 0, size);
    return p;
}

/* The request is unpacked into the call's arena: one bump per field
 * instead of a malloc, and nothing to walk and free afterwards. */
static void *
arena_pb_alloc(void *data, size_t size)
{
    return arena_raw(data, size);
}

static void
arena_pb_free(void *data, void *p)
{
    (void)data;
    (void)p; /* freed with the arena */
}

static void
arena_init(srv_arena *a)
{
    a->chunks = NULL;
    a->cur = a->first;
    a->left = sizeof(a->first);
}

static void
arena_fini(srv_arena *a)
{
    while (a->chunks != NULL) {
        srv_arena_chunk *c = a->chunks;
        a->chunks = c->next;
        free(c);
    }
}

srv_val *
call_keep(srv_call *call, srv_val *v)
{
    srv_trash *t = call_alloc(call, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->v = *v;
    v->type = SM_NIL;
    t->next = call->trash;
    call->trash = t;
    return &t->v;
}

void
call_scratch(srv_call *call, srv_state *st)
{
    memset(call, 0, sizeof(*call));
    call->st = st;
    call->defer_tail = &call->defer;
    arena_init(&call->arena);
}

void
call_scratch_free(srv_call *call)
{
    arena_fini(&call->arena);
}

int
call_defer(srv_call *call, void (*fn)(srv_state *st, void *arg), void *arg)
{
    srv_defer *d = call_alloc(call, sizeof(*d));
    if (d == NULL)
        return SM_ENOMEM;
    d->fn = fn;
    d->arg = arg;
    *call->defer_tail = d;
    call->defer_tail = &d->next;
    return SM_OK;
}

/* call_finish clears what the call kept and runs its deferred work. */
static void
call_finish(srv_call *call)
{
    for (srv_trash *t = call->trash; t != NULL; t = t->next)
        val_clear(call->st, &t->v);
    for (srv_defer *d = call->defer; d != NULL; d = d->next)
        d->fn(call->st, d->arg);
}

int
call_fail(srv_call *call, int rv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(call->detail, sizeof(call->detail), fmt, ap);
    va_end(ap);
    return rv;
}

/* ------------------------------------------------------------------ helpers */

bool
index_norm(int64_t index, size_t len, size_t *out)
{
    if (index < 0) {
        if ((uint64_t)(-(index + 1)) >= (uint64_t)len) /* -(index+1) cannot overflow */
            return false;
        *out = len - (size_t)(-(index + 1)) - 1;
        return true;
    }
    if ((uint64_t)index >= (uint64_t)len)
        return false;
    *out = (size_t)index;
    return true;
}

/* clamp_bound maps a Python slice bound into [0, len]. */
static size_t
clamp_bound(int64_t b, size_t len)
{
    if (b < 0) {
        uint64_t back = (uint64_t)(-(b + 1)) + 1;
        return back >= len ? 0 : len - (size_t)back;
    }
    return (uint64_t)b > len ? len : (size_t)b;
}

void
slice_norm(int64_t start, int64_t stop, size_t len, size_t *lo, size_t *hi)
{
    *lo = clamp_bound(start, len);
    *hi = clamp_bound(stop, len);
    if (*hi < *lo)
        *hi = *lo;
}

int
reply_value(srv_call *call, const srv_val *v)
{
    call->rep.value = val_to_wire_new(call, v);
    return call->rep.value ? SM_OK : SM_ENOMEM;
}

int
reply_values(srv_call *call, const srv_val *vals, size_t n)
{
    if (n == 0)
        return SM_OK;
    Smwire__Value **pv = call_alloc(call, n * sizeof(*pv));
    Smwire__Value *wv = call_alloc(call, n * sizeof(*wv));
    if (pv == NULL || wv == NULL)
        return SM_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (val_to_wire(call, &vals[i], &wv[i]) != SM_OK)
            return SM_ENOMEM;
        pv[i] = &wv[i];
    }
    call->rep.values = pv;
    call->rep.n_values = n;
    return SM_OK;
}

int
check_key(srv_call *call, const char *key, size_t max)
{
    size_t n = strlen(key);
    if (n == 0)
        return call_fail(call, SM_EINVAL, "empty key");
    if (n > max)
        return call_fail(call, SM_EINVAL, "key is %zu bytes, limit %zu", n, max);
    return SM_OK;
}

/* ----------------------------------------------------------------- dispatch */

static int core_batch(srv_call *call);

/* core_unpin drops the reference core_dispatch took for one operation. */
static void
core_unpin(srv_state *st, void *arg)
{
    obj_decref(st, arg);
}

/* core_lookup finds the request's object: SM_EPROTO without one, SM_ENOOBJ
 * when it is gone. */
static int
core_lookup(srv_call *call, srv_obj **out)
{
    const Smwire__Request *req = call->req;
    if (req->obj == NULL)
        return call_fail(call, SM_EPROTO, "operation without an object");
    *out = store_lookup(call->st, req->obj->id, req->obj->nonce);
    if (*out == NULL)
        return call_fail(call, SM_ENOOBJ, "no object %" PRIu64, req->obj->id);
    return SM_OK;
}

/* core_run applies op to obj (of op's type). The operation may drop the
 * last reference to its own object (a dict held only by a value inside
 * itself, deleted): the object is kept until the reply is packed, so
 * neither the handler nor the reply touches freed memory. */
static int
core_run(srv_call *call, const srv_op *op, srv_obj *obj)
{
    obj_incref(obj);
    if (call_defer(call, core_unpin, obj) != SM_OK) {
        obj_decref(call->st, obj);
        return SM_ENOMEM;
    }
    return op->fn(call, obj);
}

static int
core_dispatch(srv_call *call)
{
    const Smwire__Request *req = call->req;
    int oc = (int)req->op_case;

    if (req->version != SRV_PROTO_VERSION)
        return call_fail(call, SM_EVERSION, "client speaks protocol %u, server %d",
                         req->version, SRV_PROTO_VERSION);
    if (oc == SMWIRE__REQUEST__OP__NOT_SET)
        return call_fail(call, SM_EPROTO, "request without an operation");
    /* Every member of the op oneof is a message pointer in one union: the
     * body is present exactly when that pointer is non-NULL. */
    if (req->open == NULL)
        return call_fail(call, SM_EPROTO, "operation without its body");
    if (oc == SMWIRE__REQUEST__OP_AUTH_HELLO)
        return srv_auth_hello(call);
    /* With an authkey, everything after the handshake carries a MAC. */
    if (call->st->auth.key != NULL && oc != SMWIRE__REQUEST__OP_SESSION_OPEN) {
        int arv = srv_auth_request(call);
        if (arv != SM_OK)
            return arv;
    }
    if (oc == SMWIRE__REQUEST__OP_SESSION_OPEN || oc == SMWIRE__REQUEST__OP_SESSION_PING ||
        oc == SMWIRE__REQUEST__OP_SESSION_CLOSE)
        return srv_sess_op(call);
    /* Every other request belongs to a session: a repeat is answered here. */
    int rv = srv_sess_begin(call);
    if (rv != SM_OK)
        return rv;
    if (oc == SMWIRE__REQUEST__OP_OPEN)
        return store_op_open(call);
    if (oc == SMWIRE__REQUEST__OP_BATCH)
        return core_batch(call);
    if (oc == SMWIRE__REQUEST__OP_SNAPSHOT_SAVE)
        return snap_op_save(call);
    if (oc == SMWIRE__REQUEST__OP_SERVER_STATUS)
        return srv_status_op(call);

    const srv_op *op = NULL;
    const srv_type *type = NULL;
    if (oc > 0 && oc < CORE_MAX_OP) {
        op = core_ops[oc].op;
        type = core_ops[oc].type;
    }
    bool generic = oc == SMWIRE__REQUEST__OP_ATTACH || oc == SMWIRE__REQUEST__OP_RELEASE;
    if (op == NULL && !generic)
        return call_fail(call, SM_EPROTO, "unknown operation %d", oc);
    srv_obj *obj;
    rv = core_lookup(call, &obj);
    if (rv != SM_OK)
        return rv;
    if (oc == SMWIRE__REQUEST__OP_ATTACH) {
        if ((int)req->obj->type != obj->type->wire_type)
            return call_fail(call, SM_EWRONGTYPE, "object %" PRIu64 " is a %s", obj->id,
                             obj->type->name);
        return store_op_attach(call, obj);
    }
    if (oc == SMWIRE__REQUEST__OP_RELEASE)
        return store_op_release(call, obj);
    if (obj->type != type)
        return call_fail(call, SM_EWRONGTYPE, "%s on a %s", op->name, obj->type->name);
    return core_run(call, op, obj);
}

/* -------------------------------------------------------------------- batch */

#define CORE_MAX_BATCH 65536 /* operations in one BATCH */

/* core_batch_ok says whether op (of type) may run in a batch. Every
 * operation of the data types (dict, list, var, array, namespace) may, and
 * the reads of the others that never wait; a non-atomic batch may also put
 * to and get from queues and set or clear events, without waiting. Nothing
 * that opens, attaches, releases, waits for a lock or runs a pool. */
static bool
core_batch_ok(const srv_type *type, const srv_op *op, bool atomic)
{
    if (op->op_case == SMWIRE__REQUEST__OP_LIST_MOVE ||
        op->op_case == SMWIRE__REQUEST__OP_QUEUE_MOVE)
        return !atomic; /* two objects, and a queue's getters woken: not undoable */
    if (type->clone != NULL)
        return true;
    switch (op->op_case) {
    case SMWIRE__REQUEST__OP_LOCK_LOCKED:
    case SMWIRE__REQUEST__OP_RLOCK_LOCKED:
    case SMWIRE__REQUEST__OP_SEM_VALUE:
    case SMWIRE__REQUEST__OP_EVENT_IS_SET:
    case SMWIRE__REQUEST__OP_QUEUE_INFO:
    case SMWIRE__REQUEST__OP_BARRIER_INFO:
        return true;
    case SMWIRE__REQUEST__OP_QUEUE_PUT:
    case SMWIRE__REQUEST__OP_QUEUE_GET:
    case SMWIRE__REQUEST__OP_QUEUE_TASK_DONE:
    case SMWIRE__REQUEST__OP_EVENT_SET:
    case SMWIRE__REQUEST__OP_EVENT_CLEAR:
        return !atomic; /* they wake other clients: not undoable */
    default:
        return false;
    }
}

/* What an atomic batch must be able to put back, one record per write, undone
 * newest first. A record is either a whole copy of an object from before its
 * first write (copy set), or, in a dict or namespace, the one key a write
 * touches: its entry as it was (old, unlinked; NULL when the key was absent)
 * and the key before it in insertion order, so that the entry goes back
 * where it was. A single-key write costs a copy of one value instead of a
 * copy of the whole map. */
typedef struct core_undo {
    srv_obj *obj;  /* counted until the batch ends */
    srv_obj *copy; /* a whole copy, or NULL: a key record */
    map_ent *old;  /* the key's entry before the write, or NULL */
    char *key;     /* the key, then the key before it (malloc'd together) */
    size_t klen;
    const char *pred; /* NULL: the key was first, or absent */
    size_t predlen;
} core_undo;

typedef struct core_undo_log {
    core_undo *recs;
    size_t n;
    srv_map cloned; /* 8-byte object id -> nothing: objects with a whole copy */
} core_undo_log;

/* core_swap exchanges the contents (everything after the header) of a and
 * its clone b. */
static void
core_swap(srv_obj *a, srv_obj *b)
{
    unsigned char *pa = (unsigned char *)a + sizeof(srv_obj);
    unsigned char *pb = (unsigned char *)b + sizeof(srv_obj);
    for (size_t i = sizeof(srv_obj); i < a->type->size; i++, pa++, pb++) {
        unsigned char t = *pa;
        *pa = *pb;
        *pb = t;
    }
}

/* core_undo_key is the one key a write touches in a dict or namespace, or
 * NULL for a write that may touch many (clear, update). */
static const char *
core_undo_key(const Smwire__Request *req)
{
    switch (req->op_case) {
    case SMWIRE__REQUEST__OP_DICT_SET:
        return req->dict_set->key;
    case SMWIRE__REQUEST__OP_DICT_DEL:
        return req->dict_del->key;
    case SMWIRE__REQUEST__OP_DICT_POP:
        return req->dict_pop->key;
    case SMWIRE__REQUEST__OP_DICT_SETDEFAULT:
        return req->dict_setdefault->key;
    case SMWIRE__REQUEST__OP_DICT_INCR:
        return req->dict_incr->key;
    case SMWIRE__REQUEST__OP_NS_SET:
        return req->ns_set->key;
    case SMWIRE__REQUEST__OP_NS_DEL:
        return req->ns_del->key;
    default:
        return NULL;
    }
}

/* core_undo_save records what the write req is about to do to obj. */
static int
core_undo_save(srv_call *sub, core_undo_log *log, srv_obj *obj)
{
    srv_state *st = sub->st;
    if (map_find(&log->cloned, (const char *)&obj->id, sizeof(obj->id)) != NULL)
        return SM_OK; /* its whole copy puts back everything after it */
    core_undo *u = &log->recs[log->n];
    memset(u, 0, sizeof(*u));
    const char *key = obj->type->kv != NULL ? core_undo_key(sub->req) : NULL;
    if (key == NULL) {
        if (map_add(&log->cloned, (const char *)&obj->id, sizeof(obj->id)) == NULL)
            return SM_ENOMEM;
        if (obj->type->clone(st, obj, &u->copy) != SM_OK) {
            map_del(&log->cloned, map_find(&log->cloned, (const char *)&obj->id,
                                           sizeof(obj->id)));
            return SM_ENOMEM;
        }
    } else {
        srv_map *m = obj->type->kv(obj);
        size_t klen = strlen(key);
        map_ent *e = map_find(m, key, klen);
        u->klen = klen;
        if (e != NULL && e->prev != NULL)
            u->predlen = e->prev->klen;
        u->key = malloc(klen + 1 + u->predlen + 1);
        if (u->key == NULL)
            return SM_ENOMEM;
        memcpy(u->key, key, klen + 1);
        if (e != NULL && e->prev != NULL) {
            memcpy(u->key + klen + 1, e->prev->key, u->predlen + 1);
            u->pred = u->key + klen + 1;
        }
        if (e != NULL) {
            u->old = map_ent_new(key, klen);
            if (u->old == NULL || val_copy(&u->old->val, &e->val) != SM_OK) {
                free(u->old);
                free(u->key);
                return SM_ENOMEM;
            }
        }
    }
    obj_incref(obj); /* kept until the batch ends, whatever it deletes */
    u->obj = obj;
    log->n++;
    return SM_OK;
}

/* core_undo_end ends the log: with undo, puts every record back, newest
 * first; then frees the records and what they hold. */
static void
core_undo_end(srv_state *st, core_undo_log *log, bool undo)
{
    for (size_t k = log->n; k-- > 0;) {
        core_undo *u = &log->recs[k];
        if (u->copy != NULL) {
            if (undo)
                core_swap(u->obj, u->copy);
            u->obj->type->destroy(st, u->copy);
        } else {
            if (undo) {
                /* The map is as the write left it: take out what is
                 * there now, put back what was, after the same key. */
                srv_map *m = u->obj->type->kv(u->obj);
                map_ent *e = map_find(m, u->key, u->klen);
                if (e != NULL) {
                    val_clear(st, &e->val);
                    map_del(m, e);
                }
                if (u->old != NULL) {
                    map_ent *after = u->pred != NULL ? map_find(m, u->pred, u->predlen) : NULL;
                    if (map_link_after(m, u->old, after))
                        u->old = NULL;
                    else /* cannot happen: the map had this key before */
                        srv_log(SRV_LOG_WARN, "batch undo: key lost (no memory)");
                }
            }
            if (u->old != NULL) {
                val_clear(st, &u->old->val);
                free(u->old);
            }
            free(u->key);
        }
        obj_decref(st, u->obj);
    }
    map_clear(st, &log->cloned);
}

/* core_batch_op applies one operation of a batch in sub, a call of its own
 * (its reply, detail and arena); in an atomic batch, a write to a data
 * object is first recorded in log. */
static int
core_batch_op(srv_call *sub, bool atomic, core_undo_log *log)
{
    const Smwire__Request *req = sub->req;
    int oc = (int)req->op_case;
    const srv_op *op = oc > 0 && oc < CORE_MAX_OP ? core_ops[oc].op : NULL;
    const srv_type *type = op != NULL ? core_ops[oc].type : NULL;
    if (oc == SMWIRE__REQUEST__OP__NOT_SET || req->open == NULL)
        return call_fail(sub, SM_EPROTO, "operation without its body");
    if (oc < SRV_MAX_OP)
        sub->st->stats.ops[oc]++;
    if (op == NULL || !core_batch_ok(type, op, atomic))
        return call_fail(sub, SM_EINVAL, "operation %d cannot be in %s batch", oc,
                         atomic ? "an atomic" : "a");
    srv_obj *obj;
    int rv = core_lookup(sub, &obj);
    if (rv != SM_OK)
        return rv;
    if (obj->type != type)
        return call_fail(sub, SM_EWRONGTYPE, "%s on a %s", op->name, obj->type->name);
    if (atomic && (op->flags & SRV_OP_WRITE) && type->clone != NULL) {
        rv = core_undo_save(sub, log, obj);
        if (rv != SM_OK)
            return rv;
    }
    return core_run(sub, op, obj);
}

/* core_sub_init prepares sub for one operation of call's batch. */
static void
core_sub_init(srv_call *sub, srv_call *call, Smwire__Request *req)
{
    memset(sub, 0, offsetof(srv_call, arena));
    sub->st = call->st;
    sub->sess = call->sess;
    sub->req = req;
    sub->defer_tail = &sub->defer;
    sub->in_batch = true;
    sub->fail_index = -1;
    sub->detail[0] = '\0';
    smwire__reply__init(&sub->rep);
    arena_init(&sub->arena);
}

static void
core_sub_fini(srv_call *sub)
{
    call_finish(sub);
    arena_fini(&sub->arena);
}

/* core_batch applies a BATCH (smwire.proto): in order, under the one state
 * lock, so no other request comes between its operations. Each reply is
 * packed as soon as its operation is done, so a later operation cannot
 * change what an earlier one returned. An atomic batch that fails puts
 * back every object it wrote, from the copies saved before their first
 * write, and answers with the failed operation's status and index. */
static int
core_batch(srv_call *call)
{
    const Smwire__Batch *b = call->req->batch;
    size_t n = b->n_ops;
    if (n > CORE_MAX_BATCH)
        return call_fail(call, SM_EINVAL, "batch of %zu operations; at most %d", n,
                         CORE_MAX_BATCH);
    if (n == 0)
        return SM_OK;
    ProtobufCBinaryData *outs = call_alloc(call, n * sizeof(*outs));
    core_undo_log log = {0};
    if (outs == NULL)
        return SM_ENOMEM;
    if (b->atomic) {
        log.recs = malloc(n * sizeof(*log.recs));
        if (log.recs == NULL)
            return SM_ENOMEM;
    }
    int rv = SM_OK;
    for (size_t i = 0; i < n && rv == SM_OK; i++) {
        srv_call sub;
        b->ops[i]->timeout_ms = 0;
        core_sub_init(&sub, call, b->ops[i]);
        int orv = core_batch_op(&sub, b->atomic, &log);
        if (orv != SM_OK && orv != SM_EOWNERDEAD) {
            Smwire__Reply empty = SMWIRE__REPLY__INIT;
            sub.rep = empty;
        }
        if (orv != SM_OK && b->atomic) {
            const srv_op *op = b->ops[i]->op_case > 0 && b->ops[i]->op_case < CORE_MAX_OP
                                   ? core_ops[b->ops[i]->op_case].op
                                   : NULL;
            rv = call_fail(call, orv, "batch operation %zu (%s): %s", i,
                           op != NULL ? op->name : "?", sub.detail);
            call->fail_index = (int64_t)i;
        } else {
            sub.rep.status = (uint32_t)orv;
            sub.rep.detail = sub.detail;
            outs[i].len = smwire__reply__get_packed_size(&sub.rep);
            outs[i].data = call_alloc(call, outs[i].len + 1);
            if (outs[i].data == NULL)
                rv = SM_ENOMEM; /* (a non-atomic batch stops here too) */
            else
                smwire__reply__pack(&sub.rep, outs[i].data);
        }
        core_sub_fini(&sub);
    }
    if (b->atomic) {
        core_undo_end(call->st, &log, rv != SM_OK);
        free(log.recs);
    }
    if (rv != SM_OK)
        return rv;
    call->rep.replies = outs;
    call->rep.n_replies = n;
    return SM_OK;
}

int
srv_handle_into(srv_state *st, const uint8_t *data, size_t len, srv_alloc_fn alloc_fn,
                void *alloc_arg, void *conn, bool *parkedp, size_t *outlenp)
{
    srv_call call;
    Smwire__Request *req;
    int rv;

    *parkedp = false;
    call.st = st;
    call.conn = conn;
    call.sess = NULL;
    call.cached_reply = NULL;
    call.cached_len = 0;
    call.remember = false;
    call.trash = NULL;
    call.raw = data;
    call.rawlen = len;
    call.defer = NULL;
    call.defer_tail = &call.defer;
    call.in_batch = false;
    call.fail_index = -1;
    call.detail[0] = '\0';
    smwire__reply__init(&call.rep);
    arena_init(&call.arena);

    ProtobufCAllocator pba = {arena_pb_alloc, arena_pb_free, &call.arena};
    req = smwire__request__unpack(&pba, len, data);
    pthread_mutex_lock(&st->lock);
    st->requests++;
    if (req != NULL && (unsigned)req->op_case < SRV_MAX_OP)
        st->stats.ops[req->op_case]++;
    if (req == NULL) {
        rv = call_fail(&call, SM_EPROTO, "request does not decode");
    } else {
        call.req = req;
        rv = core_dispatch(&call);
    }
    if (rv == SRV_PARKED) {
        /* The reply goes out later, from srv_answer. */
        call_finish(&call);
        pthread_mutex_unlock(&st->lock);
        arena_fini(&call.arena);
        *parkedp = true;
        *outlenp = 0;
        return SM_OK;
    }
    if (rv == SRV_CACHED) {
        /* A repeat: the first reply again, byte for byte. */
        uint8_t *out = alloc_fn(alloc_arg, call.cached_len);
        if (out != NULL)
            memcpy(out, call.cached_reply, call.cached_len);
        call_finish(&call);
        pthread_mutex_unlock(&st->lock);
        arena_fini(&call.arena);
        *outlenp = call.cached_len;
        return out != NULL ? SM_OK : SM_ENOMEM;
    }
    if (rv == SM_EPROTO || rv == SM_EVERSION) {
        st->bad_requests++;
        srv_log(SRV_LOG_DEBUG, "bad request (%zu bytes): %s", len, call.detail);
    }
    if (rv != SM_OK && rv != SM_EOWNERDEAD) {
        /* A failed operation returns no partial result, only its status. */
        Smwire__Reply empty = SMWIRE__REPLY__INIT;
        call.rep = empty;
        if (call.fail_index >= 0)
            call.rep.n = call.fail_index + 1; /* which op of an atomic batch failed */
    }
    call.rep.status = (uint32_t)rv;
    call.rep.detail = call.detail;
    size_t size = smwire__reply__get_packed_size(&call.rep);
    uint8_t *out = alloc_fn(alloc_arg, size);
    if (out != NULL) {
        smwire__reply__pack(&call.rep, out);
        srv_sess_remember(&call, out, size);
    }
    call_finish(&call);
    pthread_mutex_unlock(&st->lock);

    arena_fini(&call.arena);
    *outlenp = size;
    return out != NULL ? SM_OK : SM_ENOMEM;
}

static void *
core_malloc(void *arg, size_t size)
{
    uint8_t **p = arg;
    *p = malloc(size ? size : 1);
    return *p;
}

int
srv_handle_bytes(srv_state *st, const uint8_t *data, size_t len, uint8_t **outp,
                 size_t *outlenp)
{
    bool parked;
    *outp = NULL;
    return srv_handle_into(st, data, len, core_malloc, outp, NULL, &parked, outlenp);
}
