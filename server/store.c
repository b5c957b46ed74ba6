/* store.c - the object table: ids, names, reference counts, OPEN/ATTACH/
 * RELEASE.
 *
 * Every object has an id (never reused while the server runs) and a random
 * nonce; a request must present both, so ids cannot be guessed into other
 * people's anonymous objects. Names share one space across types: opening a
 * name that holds another type is SM_EWRONGTYPE. Named objects live as long
 * as the server. An anonymous object counts its proxies (OPEN/ATTACH add one,
 * RELEASE drops one) and the managed values that refer to it; at zero it is
 * destroyed through a work list (st->gc), so destroying a long chain of
 * containers never recurses. Creating an object past --max-objects live
 * ones (st->nobjects) is SM_ELIMIT; opening an existing name still works.
 * Exported: obj_incref, obj_decref, store_lookup, store_op_open,
 * store_op_attach, store_op_release, store_create, store_ref_to_wire,
 * store_fini. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "srv.h"

/* store_fini sets this so that destroying everything never frees twice. */
static __thread bool store_finishing;

void
obj_incref(srv_obj *o)
{
    o->refs++;
}

static void
store_destroy(srv_state *st, srv_obj *o)
{
    map_ent *e = map_find(&st->ids, (const char *)&o->id, sizeof(o->id));
    if (e != NULL)
        map_del(&st->ids, e);
    st->nobjects--;
    o->type->destroy(st, o); /* may queue more objects on st->gc */
}

void
obj_decref(srv_state *st, srv_obj *o)
{
    if (store_finishing)
        return;
    if (o->refs > 0)
        o->refs--;
    if (o->refs > 0 || o->name != NULL)
        return;
    o->gc_next = st->gc;
    st->gc = o;
    if (st->gc_running)
        return; /* the outer call drains the list */
    st->gc_running = true;
    while (st->gc != NULL) {
        srv_obj *d = st->gc;
        st->gc = d->gc_next;
        store_destroy(st, d);
    }
    st->gc_running = false;
}

srv_obj *
store_lookup(srv_state *st, uint64_t id, uint64_t nonce)
{
    map_ent *e = map_find(&st->ids, (const char *)&id, sizeof(id));
    if (e == NULL || e->val.u.ref->nonce != nonce)
        return NULL;
    return e->val.u.ref;
}

static const srv_type *const store_types[] = {
    &srv_type_dict, &srv_type_list, &srv_type_var,   &srv_type_array,   &srv_type_ns,
    &srv_type_lock, &srv_type_rlock, &srv_type_sem,  &srv_type_cond,    &srv_type_event,
    &srv_type_barrier, &srv_type_queue, &srv_type_pool,
};

static const srv_type *
store_type_of(int wire_type)
{
    for (size_t i = 0; i < SM_NELEM(store_types); i++)
        if (store_types[i]->wire_type == wire_type)
            return store_types[i];
    return NULL;
}

/* store_reply_obj describes o in the reply of an OPEN or ATTACH. */
static int
store_reply_obj(srv_call *call, srv_obj *o)
{
    int rv = store_ref_to_wire(call, o, &call->rep.obj);
    if (rv != SM_OK)
        return rv;
    if (o->type->fill_open != NULL)
        o->type->fill_open(call, o);
    return SM_OK;
}

/* OPEN type name? shape -> obj: get-or-create a named object, or create an
 * anonymous one. */
int
store_op_open(srv_call *call)
{
    srv_state *st = call->st;
    const Smwire__Open *op = call->req->open;
    const srv_type *t = store_type_of(op->type);
    size_t nlen = strlen(op->name);
    map_ent *ne = NULL;
    srv_obj *o = NULL;

    if (t == NULL)
        return call_fail(call, SM_EINVAL, "unknown object type %d", (int)op->type);
    if (nlen > SRV_MAX_NAME)
        return call_fail(call, SM_EINVAL, "name is %zu bytes, limit %d", nlen, SRV_MAX_NAME);
    if (nlen > 0) {
        ne = map_find(&st->names, op->name, nlen);
        if (ne != NULL) {
            o = ne->val.u.ref;
            if (o->type != t)
                return call_fail(call, SM_EWRONGTYPE, "'%s' is a %s, not a %s", op->name,
                                 o->type->name, t->name);
            if (t->match != NULL) {
                int rv = t->match(call, o, op);
                if (rv != SM_OK)
                    return rv;
            }
            return store_reply_obj(call, o); /* named: not counted */
        }
    }
    int rv = store_create(call, t, op, &o);
    if (rv != SM_OK)
        return rv;
    if (nlen == 0) {
        /* The creator's proxy holds the first reference; a session that
         * cannot record it must not keep an object it could never free. */
        if (call->sess != NULL && srv_hold_add(st, call->sess, o, HOLD_REFS, 1) == 0) {
            obj_decref(st, o);
            return SM_ENOMEM;
        }
    } else {
        o->name = strdup(op->name);
        ne = o->name ? map_add(&st->names, op->name, nlen) : NULL;
        if (ne == NULL) {
            free(o->name);
            o->name = NULL;
            obj_decref(st, o); /* destroys it: anonymous, one reference */
            return SM_ENOMEM;
        }
        ne->val.u.ref = o;
    }
    rv = store_reply_obj(call, o);
    if (rv != SM_OK) /* the object exists; the client will not learn of it */
        srv_log(SRV_LOG_WARN, "object %" PRIu64 " created but its reply failed", o->id);
    return rv;
}

/* store_full refuses an object past --max-objects. */
static int
store_full(srv_call *call)
{
    return call_fail(call, SM_ELIMIT, "%" PRIu64 " objects live, the limit (--max-objects)",
                     call->st->nobjects);
}

int
store_create(srv_call *call, const srv_type *t, const Smwire__Open *op, srv_obj **out)
{
    srv_state *st = call->st;
    srv_obj *o = NULL;
    if (st->nobjects >= st->limits.max_objects)
        return store_full(call);
    int rv = t->create(call, op, &o);
    if (rv != SM_OK)
        return rv;
    if (st->nobjects >= st->limits.max_objects) {
        /* Its create made objects of its own (a condition's rlock) and
         * took the last room; destroying it gives them back. */
        rv = store_full(call); /* the count before they are given back */
        t->destroy(st, o);
        return rv;
    }
    o->type = t;
    o->refs = 1;
    o->id = ++st->next_id;
    if (getrandom(&o->nonce, sizeof(o->nonce), 0) != (ssize_t)sizeof(o->nonce))
        o->nonce = o->id * 0x9e3779b97f4a7c15ULL; /* getrandom never fails on Linux >= 3.17 */
    map_ent *ie = map_add(&st->ids, (const char *)&o->id, sizeof(o->id));
    if (ie == NULL) {
        t->destroy(st, o);
        return SM_ENOMEM;
    }
    ie->val.u.ref = o; /* type stays NIL: the table does not count references */
    st->nobjects++;
    *out = o;
    return SM_OK;
}

int
store_ref_to_wire(srv_call *call, srv_obj *o, Smwire__ObjRef **out)
{
    Smwire__ObjRef *r = call_alloc(call, sizeof(*r));
    if (r == NULL)
        return SM_ENOMEM;
    smwire__obj_ref__init(r);
    r->id = o->id;
    r->nonce = o->nonce;
    r->type = o->type->wire_type;
    *out = r;
    return SM_OK;
}

/* ATTACH obj -> obj: one more proxy of this session holds obj. */
int
store_op_attach(srv_call *call, srv_obj *o)
{
    if (o->name == NULL) {
        obj_incref(o);
        srv_hold_add(call->st, call->sess, o, HOLD_REFS, 1);
    }
    return store_reply_obj(call, o);
}

/* RELEASE obj: a proxy of this session let go of obj. A session can only
 * drop references it took, so no client can free another's object. */
int
store_op_release(srv_call *call, srv_obj *o)
{
    if (o->name == NULL && srv_hold_add(call->st, call->sess, o, HOLD_REFS, 0) > 0) {
        srv_hold_add(call->st, call->sess, o, HOLD_REFS, -1);
        obj_decref(call->st, o);
    }
    return SM_OK;
}

void
store_fini(srv_state *st)
{
    store_finishing = true;
    map_ent *e = st->ids.head;
    while (e != NULL) {
        map_ent *next = e->next;
        srv_obj *o = e->val.u.ref;
        free(o->name);
        o->name = NULL;
        o->type->destroy(st, o);
        e = next;
    }
    srv_sess_fini(st); /* still finishing: no reference is dropped */
    map_clear(NULL, &st->ids);
    map_clear(NULL, &st->names);
    st->nobjects = 0;
    store_finishing = false;
}
