/* srv.h - syncmgrd's one internal header.
 *
 * The server is two layers:
 *   - the core (core.c, store.c, val.c, map.c, obj_*.c): bytes in, bytes out,
 *     no sockets. srv_handle_msg() is the whole request path, so a fuzzer can
 *     drive it without nng.
 *   - the network (net.c, main.c): nng REP contexts feeding the core.
 *
 * Concurrency: one mutex (srv_state.lock) guards every object, the name and
 * id tables and the counters. It is held for one request's unpack-free
 * work: lookup, operation, reply packing; never across I/O.
 *
 * Prototypes are grouped by the file that defines them. */
#ifndef SRV_H
#define SRV_H

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smsnap.pb-c.h"
#include "smwire.pb-c.h"
#include "syncmgr.h"

#define SM_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The protocol version this server speaks (Request.version). */
#define SRV_PROTO_VERSION 1

/* Fixed limits; issue-level configurable limits live in srv_limits. */
#define SRV_MAX_NAME 255
#define SRV_MAX_KEY 65535
#define SRV_MAX_ARRAY (16u * 1024 * 1024)

typedef struct srv_state srv_state;

/* Configurable limits (syncmgrd's --max-* flags). Exceeding one is
 * SM_ELIMIT with a detail naming it, and changes nothing. */
typedef struct srv_limits {
    uint64_t max_value;    /* bytes of one string or bytes value */
    uint64_t max_keys;     /* keys per dict or namespace */
    uint64_t max_items;    /* items per list or queue, queued tasks per pool */
    uint64_t max_objects;  /* live objects, named and anonymous */
    uint64_t max_sessions; /* live sessions */
    uint64_t max_waits;    /* parked requests per session */
} srv_limits;
#define SRV_LIMITS_DEFAULT                                                                       \
    {8u * 1024 * 1024, 10000000, 10000000, 1000000, 10000, 10000}
typedef struct srv_obj srv_obj;
typedef struct srv_call srv_call;
typedef struct srv_type srv_type;
typedef struct srv_sess srv_sess;
typedef struct srv_cached srv_cached;
typedef struct srv_challenge srv_challenge;

/* The authkey, when the server has one (server/auth.c). */
typedef struct srv_auth {
    uint8_t *key; /* NULL: no authkey; every client is let in */
    size_t klen;
    srv_challenge *pending; /* a ring of recent challenges */
    size_t next;
    uint64_t failures;
} srv_auth;

/* ---- log.c */

enum { SRV_LOG_DEBUG, SRV_LOG_INFO, SRV_LOG_NOTICE, SRV_LOG_WARN, SRV_LOG_NONE };
extern int srv_log_level;

/* srv_log checks the level before evaluating any argument. */
#define srv_log(level, ...)                                                                      \
    do {                                                                                         \
        if ((level) >= srv_log_level)                                                            \
            srv_log_impl((level), __FILE__, __LINE__, __VA_ARGS__);                              \
    } while (0)

void srv_log_impl(int level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* srv_log_parse_level maps "debug".."warn"/"none" to a level; -1 if unknown. */
int srv_log_parse_level(const char *s);

/* ---- val.c: values as the server stores them */

typedef struct srv_val {
    sm_type type;
    union {
        bool b;
        int64_t i;
        double d;
        struct {
            char *p; /* NUL-terminated copy; len excludes the NUL */
            size_t len;
        } s;
        srv_obj *ref; /* counted: the holder owns one reference */
    } u;
} srv_val;

/* val_from_wire converts w into *out. Strings are copied; one longer than
 * limits.max_value is SM_ELIMIT. A reference is looked up (SM_ENOOBJ if
 * gone) and counted as held by *out. On failure *out is NIL and nothing is
 * held. */
int val_from_wire(srv_call *call, const Smwire__Value *w, srv_val *out);

/* val_to_wire fills w to describe v. w borrows v's memory (strings), and
 * needs ref storage from the call's arena; valid until the reply is packed.
 * Returns SM_OK or SM_ENOMEM. */
int val_to_wire(srv_call *call, const srv_val *v, Smwire__Value *w);

/* val_to_wire_new is val_to_wire into a Value allocated from the arena. */
Smwire__Value *val_to_wire_new(srv_call *call, const srv_val *v);

/* val_clear frees v's string or drops its reference, leaving NIL. */
void val_clear(srv_state *st, srv_val *v);

/* val_copy makes *dst a deep copy of src (one more reference for a ref).
 * Returns SM_OK or SM_ENOMEM (then *dst is NIL). */
int val_copy(srv_val *dst, const srv_val *src);

/* val_equal: Python equality on our kinds; ints and doubles by number. */
bool val_equal(const srv_val *a, const srv_val *b);

/* val_add computes *out = a + b for numbers (NIL counts as 0 of b's kind).
 * Returns SM_OK, SM_EBADVALUE or SM_EOVERFLOW; *out written only on SM_OK. */
int val_add(const srv_val *a, const srv_val *b, srv_val *out);

/* ---- map.c: string-keyed hash map that keeps insertion order */

typedef struct map_ent {
    struct map_ent *hnext;      /* bucket chain */
    struct map_ent *prev, *next; /* insertion order */
    uint64_t hash;
    size_t klen;
    srv_val val;
    char key[]; /* klen bytes plus a NUL */
} map_ent;

typedef struct srv_map {
    map_ent **buckets;
    size_t nbuckets; /* a power of two, or 0 before the first insert */
    size_t len;
    map_ent *head, *tail;
} srv_map;

void map_seed_init(void);
map_ent *map_find(const srv_map *m, const char *key, size_t klen);
/* map_add inserts a new key (the caller has checked it is absent) with a NIL
 * value and returns its entry, or NULL when out of memory (map unchanged). */
map_ent *map_add(srv_map *m, const char *key, size_t klen);
/* map_del unlinks and frees e; the caller has cleared e->val. */
void map_del(srv_map *m, map_ent *e);
/* map_ent_new makes an entry for key with a NIL value, in no map (NULL when
 * out of memory); map_link_after links such an entry (its key absent from
 * m) into m just after entry after in insertion order (NULL: first), and
 * fails only for a map that has no buckets and cannot get any. map_unlink
 * takes e out of m without freeing it. */
map_ent *map_ent_new(const char *key, size_t klen);
bool map_link_after(srv_map *m, map_ent *e, map_ent *after);
void map_unlink(srv_map *m, map_ent *e);
/* map_copy makes dst (uninitialised) a deep copy of src, in the same
 * order (one more reference for each ref value). Returns SM_OK or
 * SM_ENOMEM (then dst is empty and holds nothing). */
int map_copy(srv_state *st, srv_map *dst, const srv_map *src);
/* map_clear frees every entry, calling val_clear on each value. */
void map_clear(srv_state *st, srv_map *m);

/* ---- store.c: the object table */

/* The common head of every managed object; a type's struct starts with it. */
struct srv_obj {
    const srv_type *type;
    uint64_t id;
    uint64_t nonce;
    char *name;    /* NULL for an anonymous object */
    uint64_t refs; /* proxies plus managed values holding it (anonymous objects) */
    srv_obj *gc_next;
};

void obj_incref(srv_obj *o);
/* obj_decref drops one reference; an anonymous object left with none is
 * destroyed, and what it held is released in turn (iteratively, so a long
 * chain of references cannot exhaust the stack). */
void obj_decref(srv_state *st, srv_obj *o);
/* store_lookup finds a live object by id and nonce; NULL if none. */
srv_obj *store_lookup(srv_state *st, uint64_t id, uint64_t nonce);
/* The generic operations every object has. */
int store_op_open(srv_call *call);
int store_op_attach(srv_call *call, srv_obj *o);
int store_op_release(srv_call *call, srv_obj *o);
/* store_create makes a new anonymous object of type t (one reference, the
 * caller's) and registers its id. Past limits.max_objects live objects it
 * is SM_ELIMIT and makes nothing. */
int store_create(srv_call *call, const srv_type *t, const Smwire__Open *op, srv_obj **out);
/* store_ref_to_wire describes o as an ObjRef from the call's arena. */
int store_ref_to_wire(srv_call *call, srv_obj *o, Smwire__ObjRef **out);
/* store_fini destroys every object, named or not. */
void store_fini(srv_state *st);

/* ---- wait.c: parked requests
 *
 * A blocking operation that cannot proceed parks its request: srv_park()
 * makes a waiter that remembers the network's handle for the reply (conn),
 * joins the object's FIFO and, with a deadline, the timer heap. Whoever
 * changes the object's state answers waiters with srv_answer(); the timer
 * (srv_expire) answers those whose deadline passed, through the type's
 * timeout hook. Everything here runs under st->lock. */

typedef struct srv_waiter srv_waiter;

typedef struct srv_wlist {
    srv_waiter *head, *tail;
    size_t n;
} srv_wlist;

struct srv_waiter {
    srv_waiter *prev, *next; /* in list */
    srv_wlist *list;         /* NULL when in none */
    srv_waiter *sprev, *snext; /* in its session's list of waiters */
    srv_sess *sess;
    srv_cached *cached;      /* its entry in the session's reply memory */
    srv_obj *obj;            /* not counted; its destroy answers the waiter */
    void *conn;
    int op_case;
    uint64_t session, owner;
    int64_t deadline; /* monotonic ms; -1 for none */
    size_t heap_idx;  /* in st->timers; SIZE_MAX when not there */
    int64_t n;        /* per operation: rlock depth to restore, ... */
    uint64_t fence;   /* a lock grant's fencing token, sent with the answer */
    bool flag;        /* per operation: e.g. a condition waiter was notified */
    srv_val val;      /* per operation: the item of a blocked put */
};

/* The value handlers return when they parked the request. Never on the wire. */
#define SRV_PARKED (-1)

/* srv_now_ms is the monotonic clock the deadlines use. */
int64_t srv_now_ms(void);
/* srv_cond_wait_until waits on cv (made with CLOCK_MONOTONIC, mtx held)
 * until signalled or until deadline_ms on srv_now_ms's clock; it returns
 * pthread_cond_timedwait's result (ETIMEDOUT at the deadline). */
int srv_cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mtx, int64_t deadline_ms);
/* srv_park parks the current request on list (deadline from the request's
 * timeout_ms). Returns SRV_PARKED, SM_ELIMIT (its session has
 * limits.max_waits parked already) or SM_ENOMEM; on failure nothing is
 * parked. *wp (may be NULL) receives the waiter for per-operation fields. */
int srv_park(srv_call *call, srv_obj *obj, srv_wlist *list, srv_waiter **wp);
/* srv_answer replies to w (status, and optional value / n / flag), and
 * frees it. value NULL: no value. */
void srv_answer(srv_state *st, srv_waiter *w, int status, const srv_val *value, int64_t n,
                bool flag);
/* srv_answer_rep replies to w with a complete reply (status and detail
 * set by the caller) and frees it. */
void srv_answer_rep(srv_state *st, srv_waiter *w, Smwire__Reply *rep);
/* srv_waiter_drop frees w without answering it (its session ended). */
void srv_waiter_drop(srv_state *st, srv_waiter *w);
/* srv_wlist_move moves w to the tail of list, without a deadline. */
void srv_wlist_move(srv_state *st, srv_waiter *w, srv_wlist *list);
/* srv_wlist_fail answers every waiter of list with status. */
void srv_wlist_fail(srv_state *st, srv_wlist *list, int status);
/* srv_expire answers the waiters whose deadline is <= now and returns the
 * next deadline (-1: none). Takes st->lock. */
int64_t srv_expire(srv_state *st, int64_t now);
/* srv_waiters_fini frees every waiter without answering (shutdown). */
void srv_waiters_fini(srv_state *st);

/* ---- session.c: sessions, leases, reply memory, what a session holds
 *
 * A session is opened by SESSION_OPEN and lives while its lease is renewed
 * (every request renews it). It remembers its recent replies by seq, so a
 * repeated request is answered, not applied again; and it records what it
 * holds so that its end can give everything back. */

enum { HOLD_LOCK, HOLD_PERMITS, HOLD_REFS, HOLD_ITEM, HOLD_POOL };

/* srv_sess_lookup finds a live session; NULL if none. */
srv_sess *srv_sess_lookup(srv_state *st, uint64_t id);
/* srv_sess_id is s's id (0 for NULL). */
uint64_t srv_sess_id(const srv_sess *s);
/* srv_sess_op handles SESSION_OPEN / PING / CLOSE. */
int srv_sess_op(srv_call *call);
/* srv_sess_begin runs before an operation: renews the lease, forgets
 * acknowledged replies and answers a repeat. Returns SM_OK (go on and apply
 * it), SRV_CACHED (the reply is in call->cached_reply), SRV_PARKED (it is
 * still parked; its conn now points here) or an error status. */
#define SRV_CACHED (-2)
int srv_sess_begin(srv_call *call);
/* srv_sess_remember keeps the packed reply of call's request (SM_OK if it
 * could; a failure only costs replay). */
void srv_sess_remember(srv_call *call, const uint8_t *buf, size_t len);
/* srv_sess_park_room says whether call's session may park one more request:
 * SM_OK, or SM_ELIMIT (limits.max_waits parked already; detail set). */
int srv_sess_park_room(srv_call *call);
/* srv_sess_park_note links a newly parked waiter to its session's memory. */
void srv_sess_park_note(srv_call *call, srv_waiter *w);
/* srv_sess_answered records a parked request's late reply. */
void srv_sess_answered(srv_state *st, srv_waiter *w, const uint8_t *buf, size_t len);
/* srv_sess_waiter_gone unlinks a waiter from its session. */
void srv_sess_waiter_gone(srv_waiter *w);
/* Holdings: add (count may be negative to give back; the hold goes at 0).
 * A hold keeps a reference on obj. HOLD_ITEM takes *item. Returns the count
 * now held. */
int64_t srv_hold_add(srv_state *st, srv_sess *s, srv_obj *obj, int kind, int64_t count);
int srv_hold_item(srv_state *st, srv_sess *s, srv_obj *q, srv_val *item);
/* srv_hold_item_done drops the oldest item s took from q; if s took none,
 * the oldest any session took from q (a task_done may come from another
 * process than the get). */
void srv_hold_item_done(srv_state *st, srv_sess *s, srv_obj *q);
/* srv_hold_retire drops up to n of kind held on obj by sessions other than
 * except, oldest session first; returns how many it dropped. (A semaphore
 * released by one process retires a permit another acquired.) */
int64_t srv_hold_retire(srv_state *st, srv_sess *except, srv_obj *obj, int kind, int64_t n);
/* srv_sess_expire ends sessions whose lease lapsed; returns the earliest
 * expiry still pending (-1: none). Called under st->lock. */
int64_t srv_sess_expire(srv_state *st, int64_t now);
/* srv_sess_key is the session's MAC key; NULL when it was opened without
 * an authkey. */
const uint8_t *srv_sess_key(const srv_sess *s);
/* srv_sess_fini frees every session without giving anything back. */
void srv_sess_fini(srv_state *st);
/* For SERVER_STATUS, under st->lock. srv_sess_info describes s in out
 * (its address borrowed from s: valid until the reply is packed).
 * srv_sess_holds_each calls fn once per hold of s that pins its object: a
 * lock, a semaphore's permits, a pool it takes part in, and each item it
 * took from a joinable queue (HOLD_ITEM once per item). */
void srv_sess_info(const srv_sess *s, int64_t now, Smwire__SessionInfo *out);
void srv_sess_holds_each(const srv_sess *s, void (*fn)(void *arg, srv_obj *obj, int kind),
                         void *arg);

/* ---- per-type session hooks: give back what a dead session held */
void lock_session_gone(srv_state *st, srv_obj *lk, srv_sess *s);
void sem_session_gone(srv_state *st, srv_obj *sem, int64_t permits);
/* queue_session_give hands a returned item to a parked getter; false if
 * none waits. queue_session_return puts it back at the front. */
bool queue_session_give(srv_state *st, srv_obj *q, srv_val *item);
void queue_session_return(srv_state *st, srv_obj *q, srv_val *item);
/* pool_session_gone gives back what session s had in pool: a worker's
 * leased tasks return to the queue (charging a lone task with the death),
 * a submitter's queued tasks are cancelled and its results dropped. */
void pool_session_gone(srv_state *st, srv_obj *pool, srv_sess *s);
/* pool_expire fails running tasks past their timeout; returns the next
 * task deadline (-1: none). Under st->lock. */
int64_t pool_expire(srv_state *st, int64_t now);

/* ---- auth.c: the authkey handshake (proxy/auth.h) */
/* srv_auth_set_key makes the server ask every client for key. */
int srv_auth_set_key(srv_state *st, const uint8_t *key, size_t len);
void srv_auth_fini(srv_state *st);
/* AUTH_HELLO: a fresh challenge (none when there is no key). */
int srv_auth_hello(srv_call *call);
/* srv_auth_open checks a SESSION_OPEN's proof, puts the server's proof in
 * the reply and derives the session key into skey. SM_EAUTH if it fails. */
int srv_auth_open(srv_call *call, uint8_t skey[32]);
/* srv_auth_request checks a request's MAC trailer (SM_EAUTH, SM_ESESSION). */
int srv_auth_request(srv_call *call);

/* ---- obj_list.c, obj_queue.c: moves (LIST_MOVE, QUEUE_MOVE)
 *
 * A move takes an item out of its source and puts it into Move.dest in one
 * step: move_dest finds the destination (SM_ENOOBJ, SM_EWRONGTYPE) and
 * checks it can take one item now (room reserved), so that nothing can fail
 * once the item is out; move_put then puts it there (list_put /
 * queue_put_item by type). move_can_take is that check alone, for a move
 * parked on an empty queue that an item wakes (the destination found again
 * by id and nonce): SM_OK, or a status with call's detail set. */
int move_dest(srv_call *call, srv_obj *src, const Smwire__Move *mv, srv_obj **dstp);
int move_can_take(srv_call *call, srv_obj *src, srv_obj *dst, bool front);
void move_put(srv_call *call, srv_obj *dst, srv_val *item, bool front);
int list_can_take(srv_call *call, srv_obj *l, bool same);
void list_put(srv_obj *l, srv_val *item, bool front);
/* same: the destination is the source, which the move leaves as long. */
int queue_can_take(srv_call *call, srv_obj *q, bool same);
void queue_put_item(srv_call *call, srv_obj *q, srv_val *item);

/* ---- obj_lock.c: what a condition needs of its lock or rlock */
bool lock_is_lock(const srv_obj *o);
/* lock_held_by says whether the request's (session, owner) holds lk. */
bool lock_held_by(const srv_obj *lk, const Smwire__Request *req);
/* lock_release_all releases every level held and hands the lock on;
 * returns the depth that was held. */
int64_t lock_release_all(srv_state *st, srv_obj *lk);
/* lock_enqueue queues w (a condition waiter, w->n its depth to restore)
 * for lk; it is answered SM_OK, flag w->flag, when it holds lk again. */
void lock_enqueue(srv_state *st, srv_obj *lk, srv_waiter *w);
/* lock_info describes lk for SERVER_STATUS (arena memory); NULL when out
 * of memory. */
Smwire__LockInfo *lock_info(srv_call *call, srv_obj *lk);

/* ---- obj_pool.c: for SERVER_STATUS, under st->lock */
/* pool_status describes pool: its counters, the progress of each
 * submitter's group and its worker sessions. SM_OK or SM_ENOMEM. */
int pool_status(srv_call *call, srv_obj *pool, int64_t now, Smwire__PoolStatusInfo *out);
/* pool_leases counts the tasks leased to session sid in pool. */
uint64_t pool_leases(srv_obj *pool, uint64_t sid);
/* pool_next is the pool after pool in st->pools (NULL: the last). */
srv_obj *pool_next(srv_obj *pool);

/* ---- core.c: the request path */

/* One operation of one type. flags are for the generic machinery. */
typedef struct srv_op {
    int op_case;
    const char *name;
    int (*fn)(srv_call *call, srv_obj *obj);
    unsigned flags;
} srv_op;
#define SRV_OP_READ 0x1u
#define SRV_OP_WRITE 0x2u

struct srv_type {
    const char *name;
    int wire_type; /* SMWIRE__OBJ_TYPE__... */
    const srv_op *ops;
    size_t nops;
    /* create makes a fresh object from an OPEN request (header zeroed by the
     * type; store.c fills it); SM_ status on failure, with detail set. */
    int (*create)(srv_call *call, const Smwire__Open *o, srv_obj **out);
    /* match checks an existing named object against an OPEN request
     * (array shape); NULL means any OPEN of the type matches. */
    int (*match)(srv_call *call, srv_obj *obj, const Smwire__Open *o);
    /* destroy frees the object and releases every reference it holds. */
    void (*destroy)(srv_state *st, srv_obj *obj);
    /* fill_open puts the object's shape into an OPEN reply (may be NULL). */
    void (*fill_open)(srv_call *call, srv_obj *obj);
    /* timeout answers a waiter whose deadline passed (NULL: SM_ETIMEDOUT). */
    void (*timeout)(srv_state *st, srv_waiter *w);
    /* Atomic batches (data types only; NULL elsewhere): clone makes an
     * unregistered copy of obj's content (a struct of size bytes, freed by
     * destroy); undoing a batch swaps the bytes after the header back. */
    int (*clone)(srv_state *st, srv_obj *obj, srv_obj **out);
    size_t size;
    /* kv: the key/value map of a dict or namespace (NULL elsewhere). An
     * atomic batch saves only the key an operation touches in it. */
    srv_map *(*kv)(srv_obj *obj);
    /* Snapshots (snapshot.c). save describes obj in out, under st->lock:
     * the shape fields of out->shape that an OPEN would need to make it
     * again (type, name, id and nonce are the caller's) and its content,
     * borrowing obj's memory and taking the rest from call's arena, valid
     * until the snapshot is packed. SM_OK or SM_ENOMEM. NULL: only the
     * object's existence is saved. */
    int (*save)(srv_call *call, srv_obj *obj, Smsnap__Object *out);
    /* load fills obj, just made by create from in->shape, with in's
     * content; every reference in it names an object already registered.
     * On failure (an SM_ status, detail set) obj holds what was loaded so
     * far and is destroyed with the rest. NULL: nothing beyond the shape. */
    int (*load)(srv_call *call, srv_obj *obj, const Smsnap__Object *in);
    /* SERVER_STATUS (status.c): info fills the type's own fields of out
     * (size, waiters, lock, value, maxsize, unfinished, pool, typecode;
     * holders when the type counts them itself), under st->lock, with
     * sub-messages from call's arena. SM_OK or SM_ENOMEM. NULL: only the
     * common fields. */
    int (*info)(srv_call *call, srv_obj *obj, Smwire__ObjectInfo *out);
};

extern const srv_type srv_type_dict, srv_type_list, srv_type_var, srv_type_array, srv_type_ns;
extern const srv_type srv_type_lock, srv_type_rlock, srv_type_sem, srv_type_cond, srv_type_event,
    srv_type_barrier, srv_type_queue, srv_type_pool;

/* The network's hooks, called under st->lock. send: reply bytes for a
 * parked request's conn (the callee copies them). kick: the earliest
 * deadline changed; wake the timer. */
typedef struct srv_hooks {
    void (*send)(void *arg, void *conn, const uint8_t *buf, size_t len);
    void (*kick)(void *arg);
    /* release: conn will get no reply (its request was dropped, or a repeat
     * took over); give it back to the network. */
    void (*release)(void *arg, void *conn);
    /* peer: the id of the connection conn's request came on (0: unknown);
     * with size > 0 it also writes that peer's address, URL-like, to buf. */
    uint32_t (*peer)(void *arg, void *conn, char *buf, size_t size);
    void *arg;
} srv_hooks;

/* What SERVER_STATUS reports besides the objects and sessions (status.c).
 * ops is counted by core.c under st->lock; connections by net.c's pipe
 * events, atomically; the rest is set before the network starts. */
#define SRV_MAX_OP 256      /* above the largest op field number in smwire.proto */
#define SRV_RATE_SAMPLES 8  /* per-second samples kept for the rates */
typedef struct srv_rate_sample {
    int64_t t; /* srv_now_ms() when taken; 0: none */
    uint64_t requests;
    uint64_t ops[SRV_MAX_OP];
} srv_rate_sample;
typedef struct srv_stats {
    uint64_t ops[SRV_MAX_OP]; /* requests by op case (operations in a batch too) */
    uint64_t connections;     /* open connections */
    int64_t started;          /* srv_now_ms() at start; 0: unknown */
    const char *const *listen; /* the URLs listened on (owned by net.c) */
    size_t nlisten;
    bool tls;                 /* a tls+tcp:// listener */
    const char *snapshot;     /* --snapshot FILE, NULL if none */
    srv_rate_sample ring[SRV_RATE_SAMPLES];
    size_t ring_next;
} srv_stats;

struct srv_state {
    pthread_mutex_t lock;
    srv_map ids;   /* 8-byte id -> object (val.u.ref, not counted) */
    srv_map names; /* "type\0name" -> object (not counted) */
    uint64_t next_id;
    srv_obj *gc;   /* objects waiting to be destroyed (obj_decref) */
    bool gc_running;
    uint64_t nobjects;
    uint64_t requests, bad_requests;
    srv_waiter **timers; /* binary min-heap on deadline */
    size_t ntimers, captimers;
    uint64_t nwaiters;
    srv_hooks hooks;
    srv_map sessions; /* 8-byte id -> srv_sess (val.u.s.p, not a value) */
    uint64_t nsessions;
    srv_obj *pools; /* every pool, linked through the pool's own next */
    srv_limits limits;
    srv_auth auth;
    struct srv_snap *snap; /* --snapshot FILE (snapshot.c); NULL: none */
    srv_stats stats;       /* for SERVER_STATUS (status.c) */
};

/* A bump allocator for one reply's sub-messages. */
typedef struct srv_arena_chunk srv_arena_chunk;
typedef struct srv_arena {
    srv_arena_chunk *chunks;
    char *cur;
    size_t left;
    char first[2048] __attribute__((aligned(16)));
} srv_arena;

typedef struct srv_trash {
    srv_val v;
    struct srv_trash *next;
} srv_trash;

/* Work to run once the reply is packed (freeing what it borrowed). */
typedef struct srv_defer {
    void (*fn)(srv_state *st, void *arg);
    void *arg;
    struct srv_defer *next;
} srv_defer;

struct srv_call {
    srv_state *st;
    void *conn; /* where a parked request's reply goes */
    srv_sess *sess;
    const Smwire__Request *req;
    const uint8_t *raw; /* the request's bytes */
    size_t rawlen;
    const uint8_t *cached_reply; /* SRV_CACHED: the remembered reply */
    size_t cached_len;
    bool remember; /* keep this reply for a repeat */
    Smwire__Reply rep;
    srv_trash *trash; /* values moved out of objects, cleared after packing */
    srv_defer *defer; /* run after packing, in the order added */
    srv_defer **defer_tail;
    srv_arena arena;
    bool in_batch;      /* an operation inside a BATCH: it may not park */
    int64_t fail_index; /* an atomic BATCH that failed: the op's index, else -1 */
    char detail[256];
};

/* srv_state_init / _fini: the empty state; fini destroys every object. */
int srv_state_init(srv_state *st);
void srv_state_fini(srv_state *st);

/* srv_handle_bytes is the whole request path: unpack data, apply it and
 * write the packed Reply into *outp (malloc'd, *outlenp bytes). Never
 * fails for what the bytes hold: a malformed request gets an error reply.
 * Returns SM_OK, or SM_ENOMEM when not even an error reply could be made
 * (then *outp is NULL). */
int srv_handle_bytes(srv_state *st, const uint8_t *data, size_t len, uint8_t **outp,
                     size_t *outlenp);

/* srv_handle_into is srv_handle_bytes packing into a buffer from alloc_fn
 * (the network layer passes one that resizes the nng message in hand).
 * conn is remembered if the request parks; then *parkedp is true, nothing
 * is packed, and the reply goes later through st->hooks.send. */
typedef void *(*srv_alloc_fn)(void *arg, size_t size);
int srv_handle_into(srv_state *st, const uint8_t *data, size_t len, srv_alloc_fn alloc_fn,
                    void *alloc_arg, void *conn, bool *parkedp, size_t *outlenp);

/* call_alloc returns zeroed arena memory valid until the reply is packed;
 * NULL when out of memory. */
void *call_alloc(srv_call *call, size_t size);
/* call_keep takes *v (leaving it NIL) and returns where it now lives: it
 * stays valid until the reply is packed, then is cleared. NULL when out of
 * memory (then *v is unchanged). */
srv_val *call_keep(srv_call *call, srv_val *v);
/* call_scratch prepares a call with no request, for a late reply built
 * outside the request path (its arena); call_scratch_free frees it. */
void call_scratch(srv_call *call, srv_state *st);
void call_scratch_free(srv_call *call);
/* call_defer runs fn(st, arg) once the reply is packed (or the request
 * parked), under st->lock. Returns SM_OK or SM_ENOMEM (then fn never runs). */
int call_defer(srv_call *call, void (*fn)(srv_state *st, void *arg), void *arg);
/* call_fail sets the reply's detail text and returns rv. */
int call_fail(srv_call *call, int rv, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Python index rules shared by list and array. index_norm maps a possibly
 * negative index into [0, len) or returns false. slice_norm clamps
 * [start, stop) as Python's slice.indices() does for step 1. */
bool index_norm(int64_t index, size_t len, size_t *out);
void slice_norm(int64_t start, int64_t stop, size_t len, size_t *lo, size_t *hi);

/* Reply helpers for handlers. */
int reply_value(srv_call *call, const srv_val *v);
int reply_values(srv_call *call, const srv_val *vals, size_t n);

/* Key checks shared by dict and namespace: non-empty, at most max bytes. */
int check_key(srv_call *call, const char *key, size_t max);

/* ---- obj_dict.c: the key/value half that the namespace shares */
int kv_get(srv_call *call, srv_map *m, const char *key);
/* kv_set stores w under key (1..max bytes) in m, the map of object o; a new
 * key past limits.max_keys is SM_ELIMIT and changes nothing. */
int kv_set(srv_call *call, srv_obj *o, srv_map *m, const char *key, size_t max,
           const Smwire__Value *w);
int kv_del(srv_call *call, srv_map *m, const char *key);
int kv_keys(srv_call *call, srv_map *m);
/* kv_save puts m's keys and values, in order, into a snapshot object;
 * kv_load refills m (empty) from one: keys of 1..max bytes, each once, at
 * most limits.max_keys. */
int kv_save(srv_call *call, srv_map *m, Smsnap__Object *out);
int kv_load(srv_call *call, srv_obj *o, srv_map *m, size_t max, const Smsnap__Object *in);

/* ---- snapshot.c: --snapshot FILE (see the file's opening comment) */
/* SNAPSHOT_SAVE: parks the request until the snapshot thread has written
 * the file; SM_EINVAL when the server has no --snapshot FILE. */
int snap_op_save(srv_call *call);
/* snap_values gives a snapshot object room for n values: out->values[i]
 * point at initialised Values from call's arena. SM_OK or SM_ENOMEM. */
int snap_values(srv_call *call, Smsnap__Object *out, size_t n);

/* ---- status.c: SERVER_STATUS (see the file's opening comment) */
/* SERVER_STATUS: fills the reply's server_status. */
int srv_status_op(srv_call *call);
/* srv_status_fill describes the server as q asks (NULL: every section,
 * anonymous objects too), under st->lock, into *out from call's arena,
 * borrowing names and addresses from the state: valid until the reply is
 * packed. SM_OK, SM_EINVAL (an unknown section, max_objects over
 * SRV_STATUS_MAX_OBJECTS, a name_prefix over SRV_MAX_NAME; detail set)
 * or SM_ENOMEM. */
#define SRV_STATUS_MAX_OBJECTS 10000
int srv_status_fill(srv_call *call, const Smwire__StatusQuery *q, Smwire__ServerStatus **out);
/* srv_status_tick takes the per-second sample the rates need, if one is
 * due. Takes st->lock; the network's timer calls it every second. */
void srv_status_tick(srv_state *st, int64_t now);

#endif
