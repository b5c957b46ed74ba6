/* make_corpus.c - seeds for the request fuzzer, and a small wire tool for
 * the script tests.
 *
 *   make_corpus DIR              write the seed corpus into DIR: one file per
 *                                scenario, each a record sequence in the
 *                                format of fuzz_request.h that opens a
 *                                session and objects and then uses them
 *   make_corpus --raw DIR        write every request of those seeds into
 *                                DIR as it would travel, one file each
 *                                (NNN-scenario.bin), without the records
 *   make_corpus --request WHAT [SESSION]
 *                                write one packed request to stdout: WHAT is
 *                                session_open, ping, close (SESSION in hex),
 *                                unknown_op, bad_version or no_op
 *   Replies are read as nngcat's --msgpack output writes them (one msgpack
 *   bin object per message), since a Reply may pack to no bytes at all
 *   (status 0, nothing else) and nngcat's --raw output cannot show that.
 *
 *   make_corpus --reply FILE     decode FILE as a Reply and print
 *                                "status N session HEX"; exit status 1 if it
 *                                does not decode
 *   make_corpus --garbage DIR SEED
 *                                write hostile messages into DIR, one file
 *                                each: random bytes of many sizes (up to
 *                                65536), every second seed request truncated
 *                                and every other one with bytes changed,
 *                                and hand-made protobuf traps (huge length
 *                                prefixes, overlong varints, groups, field 0)
 *   make_corpus --judge DIR      for every request file F in DIR with a
 *                                non-empty F.reply: the reply must decode, and
 *                                be an error unless F decodes as a
 *                                SESSION_OPEN or AUTH_HELLO (the requests
 *                                that need no session); prints a summary and
 *                                the files without a reply; exit status 1
 *                                if a reply breaks the rule
 *
 * The seeds cover every operation of the wire protocol: OPEN of each object
 * type, the dict, list, var, array, namespace, lock, rlock, semaphore,
 * condition, event, barrier and queue operations, the pool's submit, join,
 * take, collect, cancel, status, info and leave, ATTACH and RELEASE, the
 * session's open, ping and close, AUTH_HELLO, and a few malformed requests.
 * Sessions and objects are named by slot (fuzz_request.h: FZ_SESSION,
 * FZ_REFS), so the seeds work against any state. Output is deterministic.
 * Exported: main. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_request.h"
#include "smwire.pb-c.h"

#define MC_MAX 4096 /* a seed stays within the fuzzer's -max_len */
#define SM_NELEM_MC(a) (sizeof(a) / sizeof((a)[0]))

/* One seed being written. */
typedef struct mc_seed {
    uint8_t buf[MC_MAX];
    size_t len;
    uint64_t seq;
    const char *name;
} mc_seed;

static const char *mc_dir;
/* Where each request goes as well (--raw, --garbage); with a sink set, no
 * seed files are written. */
static void (*mc_sink)(const char *seed, const uint8_t *p, size_t n);
static const char *mc_out_dir;
static unsigned mc_nout;
static unsigned mc_nfiles;

static void
mc_die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "make_corpus: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static void
mc_write_file(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
        mc_die("%s: %s", path, strerror(errno));
}

/* ---------------------------------------------------------------- records */

static void
mc_begin(mc_seed *s, const char *name)
{
    s->len = 0;
    s->seq = 0;
    s->name = name;
}

static void
mc_end(mc_seed *s)
{
    char path[1024];
    if (mc_sink != NULL)
        return;
    snprintf(path, sizeof(path), "%s/%s", mc_dir, s->name);
    mc_write_file(path, s->buf, s->len);
    mc_nfiles++;
}

/* mc_bytes appends one record of raw bytes. */
static void
mc_bytes(mc_seed *s, unsigned ctl, const uint8_t *p, size_t n)
{
    if (s->len + FZ_HDR + n > sizeof(s->buf) || n > 0xffff)
        mc_die("seed %s is over %d bytes", s->name, MC_MAX);
    s->buf[s->len++] = (uint8_t)ctl;
    s->buf[s->len++] = (uint8_t)(n & 0xff);
    s->buf[s->len++] = (uint8_t)(n >> 8);
    if (n > 0)
        memcpy(s->buf + s->len, p, n);
    s->len += n;
    if (mc_sink != NULL)
        mc_sink(s->name, p, n);
}

/* mc_req makes a request of session slot sess (0: the newest) with the
 * next sequence number and the given operation body. */
static Smwire__Request
mc_req(mc_seed *s, unsigned sess, int op_case, void *body)
{
    Smwire__Request r = SMWIRE__REQUEST__INIT;
    r.version = 1;
    r.session = sess;
    r.seq = ++s->seq;
    r.op_case = (Smwire__Request__OpCase)op_case;
    r.open = body; /* every member of the op oneof is a message pointer here */
    return r;
}

static void
mc_put(mc_seed *s, unsigned ctl, const Smwire__Request *r)
{
    uint8_t buf[MC_MAX];
    size_t n = smwire__request__get_packed_size(r);
    if (n > sizeof(buf))
        mc_die("a request of %s is %zu bytes", s->name, n);
    smwire__request__pack(r, buf);
    mc_bytes(s, ctl, buf, n);
}

/* ------------------------------------------------------------ values, refs */

static Smwire__ObjRef mc_refs[64];
static size_t mc_nref_used;

/* mc_slot is the ObjRef naming object slot k (0: the newest handed out). */
static Smwire__ObjRef *
mc_slot(unsigned k, Smwire__ObjType type)
{
    Smwire__ObjRef *r = &mc_refs[mc_nref_used++ % 64];
    smwire__obj_ref__init(r);
    r->id = k;
    r->nonce = 0;
    r->type = type;
    return r;
}

static Smwire__Value mc_vals[64];
static size_t mc_nval_used;

static Smwire__Value *
mc_val(void)
{
    Smwire__Value *v = &mc_vals[mc_nval_used++ % 64];
    smwire__value__init(v);
    return v;
}

static Smwire__Value *
mc_int(int64_t i)
{
    Smwire__Value *v = mc_val();
    v->kind_case = SMWIRE__VALUE__KIND_I;
    v->i = i;
    return v;
}

static Smwire__Value *
mc_dbl(double d)
{
    Smwire__Value *v = mc_val();
    v->kind_case = SMWIRE__VALUE__KIND_D;
    v->d = d;
    return v;
}

static Smwire__Value *
mc_str(const char *str)
{
    Smwire__Value *v = mc_val();
    v->kind_case = SMWIRE__VALUE__KIND_STR;
    v->str = (char *)str;
    return v;
}

static Smwire__Value *
mc_bin(const char *p, size_t n)
{
    Smwire__Value *v = mc_val();
    v->kind_case = SMWIRE__VALUE__KIND_BYTES;
    v->bytes.data = (uint8_t *)p;
    v->bytes.len = n;
    return v;
}

static Smwire__Value *
mc_bool(bool b)
{
    Smwire__Value *v = mc_val();
    v->kind_case = SMWIRE__VALUE__KIND_B;
    v->b = b;
    return v;
}

static Smwire__Value *
mc_nil(void)
{
    Smwire__Value *v = mc_val();
    v->kind_case = SMWIRE__VALUE__KIND_NIL;
    v->nil = true;
    return v;
}

static Smwire__Value *
mc_ref(unsigned slot, Smwire__ObjType type)
{
    Smwire__Value *v = mc_val();
    v->kind_case = SMWIRE__VALUE__KIND_REF;
    v->ref = mc_slot(slot, type);
    return v;
}

/* --------------------------------------------------------- operation shapes */

#define P FZ_PATCH
#define OC(x) SMWIRE__REQUEST__OP_##x
#define T(x) SMWIRE__OBJ_TYPE__OBJ_##x

static void
mc_session_open(mc_seed *s, int64_t lease_ms)
{
    Smwire__SessionOpen so = SMWIRE__SESSION_OPEN__INIT;
    so.lease_ms = lease_ms;
    Smwire__Request r = mc_req(s, 0, OC(SESSION_OPEN), &so);
    r.seq = 0; /* a session's requests start after its open */
    mc_put(s, 0, &r);
}

/* mc_open opens an object (name NULL: anonymous) in session slot sess. */
static void
mc_open_full(mc_seed *s, unsigned sess, Smwire__Open *o)
{
    Smwire__Request r = mc_req(s, sess, OC(OPEN), o);
    mc_put(s, P, &r);
}

static void
mc_open(mc_seed *s, Smwire__ObjType type, const char *name)
{
    Smwire__Open o = SMWIRE__OPEN__INIT;
    o.type = type;
    o.name = (char *)(name ? name : "");
    mc_open_full(s, 0, &o);
}

/* mc_op sends an operation on object slot obj from session slot sess. */
static void
mc_op_full(mc_seed *s, unsigned ctl, unsigned sess, unsigned obj, int oc, void *body,
           int64_t timeout_ms, uint64_t owner)
{
    Smwire__Request r = mc_req(s, sess, oc, body);
    r.obj = mc_slot(obj, T(NONE));
    r.timeout_ms = timeout_ms;
    r.owner = owner;
    mc_put(s, ctl, &r);
}

static void
mc_op(mc_seed *s, unsigned obj, int oc, void *body)
{
    mc_op_full(s, P, 0, obj, oc, body, 0, 1);
}

static void
mc_empty(mc_seed *s, unsigned obj, int oc)
{
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    mc_op(s, obj, oc, &e);
}

/* mc_wait sends a blocking operation with a timeout from session sess. */
static void
mc_wait(mc_seed *s, unsigned sess, unsigned obj, int oc, int64_t timeout_ms)
{
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    mc_op_full(s, P, sess, obj, oc, &e, timeout_ms, 1);
}

static void
mc_key(mc_seed *s, unsigned obj, int oc, const char *key)
{
    Smwire__Key k = SMWIRE__KEY__INIT;
    k.key = (char *)key;
    mc_op(s, obj, oc, &k);
}

static void
mc_kv(mc_seed *s, unsigned obj, int oc, const char *key, Smwire__Value *v)
{
    Smwire__KeyValue kv = SMWIRE__KEY_VALUE__INIT;
    kv.key = (char *)key;
    kv.value = v;
    mc_op(s, obj, oc, &kv);
}

static void
mc_value(mc_seed *s, unsigned obj, int oc, Smwire__Value *v)
{
    mc_op(s, obj, oc, v);
}

static void
mc_index(mc_seed *s, unsigned obj, int oc, int64_t index)
{
    Smwire__Index ix = SMWIRE__INDEX__INIT;
    ix.index = index;
    mc_op(s, obj, oc, &ix);
}

static void
mc_index_value(mc_seed *s, unsigned obj, int oc, int64_t index, Smwire__Value *v)
{
    Smwire__IndexValue iv = SMWIRE__INDEX_VALUE__INIT;
    iv.index = index;
    iv.value = v;
    mc_op(s, obj, oc, &iv);
}

static void
mc_range(mc_seed *s, unsigned obj, int oc, int64_t start, int64_t stop)
{
    Smwire__Range rg = SMWIRE__RANGE__INIT;
    rg.start = start;
    rg.stop = stop;
    mc_op(s, obj, oc, &rg);
}

/* mc_expire runs the fuzz harness's timer after an empty record. */
static void
mc_expire(mc_seed *s, unsigned delay)
{
    mc_bytes(s, FZ_EXPIRE | FZ_DELAY_CTL(delay), NULL, 0);
}

/* ---------------------------------------------------------------- scenarios */

static void
seed_session(mc_seed *s)
{
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    Smwire__Request r;
    mc_begin(s, "session");
    mc_session_open(s, 30000);
    r = mc_req(s, 0, OC(SESSION_PING), &e);
    mc_put(s, P, &r);
    r = mc_req(s, 0, OC(SESSION_CLOSE), &e);
    mc_put(s, P, &r);
    r = mc_req(s, 0, OC(SESSION_PING), &e); /* closed: SM_ESESSION */
    mc_put(s, P, &r);
    mc_session_open(s, 50); /* below the minimum lease: SM_EINVAL */
    mc_end(s);

    mc_begin(s, "session-lapse");
    mc_session_open(s, 100);
    mc_open(s, T(LOCK), NULL);
    mc_wait(s, 0, 0, OC(LOCK_ACQUIRE), 0);
    mc_expire(s, 6); /* past the lease: the session ends, the lock is freed */
    mc_empty(s, 0, OC(LOCK_LOCKED));
    mc_end(s);

    Smwire__AuthHello ah = SMWIRE__AUTH_HELLO__INIT;
    uint8_t nonce[32] = {1, 2, 3};
    ah.client_nonce.data = nonce;
    ah.client_nonce.len = sizeof(nonce);
    mc_begin(s, "auth-hello");
    r = mc_req(s, 0, OC(AUTH_HELLO), &ah);
    r.seq = 0;
    mc_put(s, 0, &r);
    mc_session_open(s, 30000);
    mc_end(s);
}

static void
seed_dict(mc_seed *s)
{
    mc_begin(s, "dict");
    mc_session_open(s, 30000);
    mc_open(s, T(DICT), "fz.dict");
    mc_kv(s, 0, OC(DICT_SET), "a", mc_int(1));
    mc_kv(s, 0, OC(DICT_SET), "b", mc_str("two"));
    mc_kv(s, 0, OC(DICT_SET), "c", mc_dbl(3.5));
    mc_kv(s, 0, OC(DICT_SET), "d", mc_bin("\0\1\2", 3));
    mc_kv(s, 0, OC(DICT_SET), "e", mc_bool(true));
    mc_kv(s, 0, OC(DICT_SET), "f", mc_nil());
    mc_key(s, 0, OC(DICT_GET), "a");
    mc_key(s, 0, OC(DICT_GET), "missing");
    mc_key(s, 0, OC(DICT_CONTAINS), "b");
    mc_empty(s, 0, OC(DICT_LEN));
    mc_empty(s, 0, OC(DICT_KEYS));
    mc_empty(s, 0, OC(DICT_VALUES));
    mc_empty(s, 0, OC(DICT_ITEMS));
    mc_kv(s, 0, OC(DICT_INCR), "a", mc_int(41));
    mc_kv(s, 0, OC(DICT_INCR), "a", mc_int(INT64_MAX)); /* overflow */
    mc_kv(s, 0, OC(DICT_INCR), "b", mc_int(1));         /* not a number */
    mc_kv(s, 0, OC(DICT_SETDEFAULT), "g", mc_int(7));
    mc_kv(s, 0, OC(DICT_POP), "g", NULL);
    mc_kv(s, 0, OC(DICT_POP), "g", mc_str("dflt"));
    mc_key(s, 0, OC(DICT_DEL), "c");
    mc_key(s, 0, OC(DICT_DEL), "");
    mc_end(s);

    Smwire__Items it = SMWIRE__ITEMS__INIT;
    char *keys[] = {"x", "y", "x"};
    Smwire__Value *vals[] = {mc_int(1), mc_str("y"), mc_int(3)};
    it.keys = keys;
    it.n_keys = 3;
    it.values = vals;
    it.n_values = 3;
    mc_begin(s, "dict-update");
    mc_session_open(s, 30000);
    mc_open(s, T(DICT), NULL);
    mc_op(s, 0, OC(DICT_UPDATE), &it);
    it.n_values = 2; /* keys and values disagree */
    mc_op(s, 0, OC(DICT_UPDATE), &it);
    mc_empty(s, 0, OC(DICT_ITEMS));
    mc_empty(s, 0, OC(DICT_CLEAR));
    mc_empty(s, 0, OC(DICT_LEN));
    mc_empty(s, 0, OC(RELEASE));
    mc_empty(s, 0, OC(DICT_LEN)); /* released: SM_ENOOBJ */
    mc_end(s);
}

static void
seed_list(mc_seed *s)
{
    Smwire__Values vs = SMWIRE__VALUES__INIT;
    Smwire__Value *items[] = {mc_int(1), mc_int(2), mc_str("three"), mc_int(2)};
    vs.values = items;
    vs.n_values = 4;
    Smwire__ValueRange vr = SMWIRE__VALUE_RANGE__INIT;
    vr.value = mc_int(2);
    vr.start = 0;
    vr.stop = INT64_MAX;

    mc_begin(s, "list");
    mc_session_open(s, 30000);
    mc_open(s, T(LIST), NULL);
    mc_value(s, 0, OC(LIST_APPEND), mc_int(0));
    mc_op(s, 0, OC(LIST_EXTEND), &vs);
    mc_index_value(s, 0, OC(LIST_INSERT), -1, mc_dbl(0.5));
    mc_index(s, 0, OC(LIST_GET), -1);
    mc_index(s, 0, OC(LIST_GET), 100);
    mc_index_value(s, 0, OC(LIST_SET), 1, mc_str("one"));
    mc_index(s, 0, OC(LIST_POP), -1);
    mc_value(s, 0, OC(LIST_REMOVE), mc_int(2));
    mc_op(s, 0, OC(LIST_INDEX), &vr);
    mc_value(s, 0, OC(LIST_COUNT), mc_int(2));
    mc_empty(s, 0, OC(LIST_LEN));
    mc_range(s, 0, OC(LIST_SLICE), 1, -1);
    mc_range(s, 0, OC(LIST_SLICE), INT64_MIN, INT64_MAX);
    mc_empty(s, 0, OC(LIST_CLEAR));
    mc_index(s, 0, OC(LIST_POP), -1); /* empty: SM_ERANGE */
    mc_end(s);
}

/* Moves between lists and queues: slot 0 is the newest object opened. */
static void
seed_move(mc_seed *s)
{
    Smwire__Move mv = SMWIRE__MOVE__INIT;
    Smwire__Open q = SMWIRE__OPEN__INIT;
    q.type = T(QUEUE);
    q.name = "";
    q.count = 1;

    mc_begin(s, "move");
    mc_session_open(s, 30000);
    mc_open(s, T(LIST), NULL);                       /* slot 1 after the next open */
    mc_value(s, 0, OC(LIST_APPEND), mc_int(1));
    mc_value(s, 0, OC(LIST_APPEND), mc_str("two"));
    mc_open_full(s, 0, &q);                          /* slot 0: a queue of maxsize 1 */
    mv.dest = mc_slot(0, T(QUEUE));
    mc_op(s, 1, OC(LIST_MOVE), &mv);                 /* "two" into the queue */
    mc_op(s, 1, OC(LIST_MOVE), &mv);                 /* full: SM_EFULL */
    mv.dest = mc_slot(1, T(LIST));
    mv.dst_front = true;
    mc_op(s, 0, OC(QUEUE_MOVE), &mv);                /* back to the list's front */
    mc_op(s, 0, OC(QUEUE_MOVE), &mv);                /* empty: SM_EEMPTY */
    mv.src_front = true;
    mc_op(s, 1, OC(LIST_MOVE), &mv);                 /* a rotation */
    mv.dest = NULL;
    mc_op(s, 1, OC(LIST_MOVE), &mv);                 /* no destination: SM_EINVAL */
    mc_end(s);
}

/* Moves that wait on an empty queue: parked among its getters, woken by a
 * put, a chain of them around two queues, and one whose destination fills
 * up while it waits (answered SM_EFULL, the item stays). Slots after the
 * opens: 0 queue A, 1 queue B (maxsize 1), 2 list L. */
static void
seed_move_wait(mc_seed *s)
{
    Smwire__Move ab = SMWIRE__MOVE__INIT, al = SMWIRE__MOVE__INIT, ba = SMWIRE__MOVE__INIT;
    Smwire__Move none = SMWIRE__MOVE__INIT;
    Smwire__Open q = SMWIRE__OPEN__INIT;
    q.type = T(QUEUE);
    q.name = "";

    mc_begin(s, "move-wait");
    mc_session_open(s, 30000);
    mc_open(s, T(LIST), NULL);
    q.count = 1;
    mc_open_full(s, 0, &q);
    q.count = 0;
    mc_open_full(s, 0, &q);
    ab.dest = mc_slot(1, T(QUEUE));
    al.dest = mc_slot(2, T(LIST));
    al.dst_front = true;
    ba.dest = mc_slot(0, T(QUEUE));
    mc_op_full(s, P, 0, 0, OC(QUEUE_MOVE), &ab, 50, 1); /* parks on A */
    mc_op_full(s, P, 0, 0, OC(QUEUE_MOVE), &al, -1, 1); /* parks behind it */
    mc_op_full(s, P, 0, 1, OC(QUEUE_MOVE), &ba, 50, 1); /* parks on B */
    mc_op_full(s, P, 0, 0, OC(QUEUE_PUT), mc_int(1), 0, 1); /* A -> B -> A -> L */
    mc_op_full(s, P, 0, 1, OC(QUEUE_PUT), mc_int(2), 0, 1); /* B full */
    mc_op_full(s, P, 0, 0, OC(QUEUE_MOVE), &ab, 50, 1);     /* SM_EFULL at once */
    mc_wait(s, 0, 1, OC(QUEUE_GET), 0);                     /* B has room again */
    mc_op_full(s, P, 0, 0, OC(QUEUE_MOVE), &ab, 50, 1);     /* parks */
    mc_op_full(s, P, 0, 1, OC(QUEUE_PUT), mc_str("x"), 0, 1); /* B full */
    mc_op_full(s, P, 0, 0, OC(QUEUE_PUT), mc_int(4), 0, 1); /* the move: SM_EFULL */
    mc_op_full(s, P, 0, 0, OC(QUEUE_MOVE), &none, 50, 1);   /* no destination */
    mc_op_full(s, P, 0, 1, OC(QUEUE_MOVE), &ba, 0, 1);      /* B -> A at once */
    mc_empty(s, 0, OC(QUEUE_INFO));
    mc_expire(s, 3);
    mc_end(s);
}

/* SERVER_STATUS over a small state (a named dict, a held lock with a
 * parked waiter, an anonymous queue): every section, some, paged by id and
 * prefix, anonymous objects too; refused queries (an unknown section,
 * max_objects over the limit). Then SNAPSHOT_SAVE, refused on a server
 * without --snapshot FILE. */
static void
seed_status(mc_seed *s)
{
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    Smwire__StatusQuery q = SMWIRE__STATUS_QUERY__INIT;
    Smwire__Request r;
    char *some[] = {"objects", "sessions"}, *bad[] = {"server", "nonsense"};

    mc_begin(s, "status");
    mc_session_open(s, 30000);
    mc_open(s, T(DICT), "fz.status.dict");
    mc_kv(s, 0, OC(DICT_SET), "a", mc_int(7));
    mc_open(s, T(QUEUE), NULL);
    mc_open(s, T(LOCK), "fz.status.lock");
    mc_wait(s, 0, 0, OC(LOCK_ACQUIRE), 0);
    mc_session_open(s, 30000); /* now slot 1 holds the lock */
    mc_wait(s, 0, 0, OC(LOCK_ACQUIRE), 60000); /* parks */
    r = mc_req(s, 0, OC(SERVER_STATUS), &q); /* an empty query: everything */
    mc_put(s, P, &r);
    q.sections = some;
    q.n_sections = 2;
    q.anonymous = true;
    r = mc_req(s, 0, OC(SERVER_STATUS), &q);
    mc_put(s, P, &r);
    q.n_sections = 0;
    q.name_prefix = "fz.status.";
    q.max_objects = 1;
    q.after_id = 1;
    r = mc_req(s, 0, OC(SERVER_STATUS), &q);
    mc_put(s, P, &r);
    q.sections = bad; /* SM_EINVAL */
    q.n_sections = 2;
    r = mc_req(s, 0, OC(SERVER_STATUS), &q);
    mc_put(s, P, &r);
    q.n_sections = 0;
    q.max_objects = 10001; /* SM_EINVAL */
    r = mc_req(s, 0, OC(SERVER_STATUS), &q);
    mc_put(s, P, &r);
    r = mc_req(s, 0, OC(SNAPSHOT_SAVE), &e); /* no --snapshot FILE: SM_EINVAL */
    mc_put(s, P, &r);
    mc_end(s);
}

static void
seed_var(mc_seed *s)
{
    Smwire__Open o = SMWIRE__OPEN__INIT;
    Smwire__Value *init[] = {mc_int(10)};
    o.type = T(VAR);
    o.name = "";
    o.values = init;
    o.n_values = 1;
    Smwire__Cas cas = SMWIRE__CAS__INIT;
    cas.expected = mc_int(15);
    cas.desired = mc_dbl(1.5);

    mc_begin(s, "var");
    mc_session_open(s, 30000);
    mc_open_full(s, 0, &o);
    mc_empty(s, 0, OC(VAR_GET));
    mc_value(s, 0, OC(VAR_ADD), mc_int(5));
    mc_op(s, 0, OC(VAR_CAS), &cas);
    mc_op(s, 0, OC(VAR_CAS), &cas); /* no longer equal */
    mc_value(s, 0, OC(VAR_ADD), mc_str("x"));
    mc_value(s, 0, OC(VAR_SET), mc_str("text"));
    mc_empty(s, 0, OC(VAR_GET));
    mc_end(s);
}

static void
seed_array(mc_seed *s)
{
    Smwire__Open o = SMWIRE__OPEN__INIT;
    o.type = T(ARRAY);
    o.name = "fz.array";
    o.typecode = "i";
    o.length = 8;
    Smwire__IndexValues iv = SMWIRE__INDEX_VALUES__INIT;
    Smwire__Value *run[] = {mc_int(1), mc_int(2), mc_int(3)};
    iv.index = 2;
    iv.values = run;
    iv.n_values = 3;

    mc_begin(s, "array");
    mc_session_open(s, 30000);
    mc_open_full(s, 0, &o);
    mc_empty(s, 0, OC(ARRAY_LEN));
    mc_index_value(s, 0, OC(ARRAY_SET), 0, mc_int(-5));
    mc_index_value(s, 0, OC(ARRAY_SET), 1, mc_int(INT64_MAX)); /* does not fit 'i' */
    mc_index(s, 0, OC(ARRAY_GET), -1);
    mc_index(s, 0, OC(ARRAY_GET), 8);
    mc_op(s, 0, OC(ARRAY_SET_SLICE), &iv);
    iv.index = 7; /* the run does not fit */
    mc_op(s, 0, OC(ARRAY_SET_SLICE), &iv);
    mc_index_value(s, 0, OC(ARRAY_ADD), 2, mc_int(10));
    mc_range(s, 0, OC(ARRAY_GET_SLICE), 0, 8);
    mc_end(s);

    Smwire__Value *dv[] = {mc_dbl(0.25), mc_dbl(-1e300)};
    o.name = "";
    o.typecode = "d";
    o.length = 2;
    o.values = dv;
    o.n_values = 2;
    mc_begin(s, "array-double");
    mc_session_open(s, 30000);
    mc_open_full(s, 0, &o);
    mc_index_value(s, 0, OC(ARRAY_ADD), 1, mc_dbl(-1e300));
    mc_index_value(s, 0, OC(ARRAY_SET), 0, mc_str("no"));
    mc_range(s, 0, OC(ARRAY_GET_SLICE), -1, 100);
    o.typecode = "z"; /* unknown typecode */
    mc_open_full(s, 0, &o);
    mc_end(s);
}

static void
seed_ns(mc_seed *s)
{
    mc_begin(s, "namespace");
    mc_session_open(s, 30000);
    mc_open(s, T(NAMESPACE), "fz.ns");
    mc_kv(s, 0, OC(NS_SET), "alpha", mc_int(1));
    mc_kv(s, 0, OC(NS_SET), "beta", mc_str("b"));
    mc_key(s, 0, OC(NS_GET), "alpha");
    mc_key(s, 0, OC(NS_GET), "gamma");
    mc_empty(s, 0, OC(NS_LIST));
    mc_key(s, 0, OC(NS_DEL), "alpha");
    mc_open(s, T(DICT), "fz.ns"); /* the name holds a namespace */
    mc_end(s);
}

static void
seed_locks(mc_seed *s)
{
    mc_begin(s, "lock");
    mc_session_open(s, 30000);
    mc_open(s, T(LOCK), "fz.lock");
    mc_wait(s, 0, 0, OC(LOCK_ACQUIRE), 0);
    mc_empty(s, 0, OC(LOCK_LOCKED));
    mc_wait(s, 0, 0, OC(LOCK_ACQUIRE), 0); /* not re-entrant: times out at once */
    mc_empty(s, 0, OC(LOCK_RELEASE));
    mc_empty(s, 0, OC(LOCK_RELEASE)); /* not held: SM_ENOTOWNER */
    mc_end(s);

    mc_begin(s, "rlock");
    mc_session_open(s, 30000);
    mc_open(s, T(RLOCK), NULL);
    mc_wait(s, 0, 0, OC(RLOCK_ACQUIRE), -1);
    mc_wait(s, 0, 0, OC(RLOCK_ACQUIRE), -1);
    mc_empty(s, 0, OC(RLOCK_LOCKED));
    mc_empty(s, 0, OC(RLOCK_RELEASE));
    mc_empty(s, 0, OC(RLOCK_RELEASE));
    mc_empty(s, 0, OC(LOCK_LOCKED)); /* an rlock is no lock: SM_EWRONGTYPE */
    mc_end(s);

    /* Two sessions contend: the second parks, the first's release grants it
     * (a late reply), a third acquire times out through the timer, and the
     * holder's session ends holding it (owner died). */
    mc_begin(s, "lock-contend");
    mc_session_open(s, 30000);
    mc_open(s, T(LOCK), NULL);
    mc_wait(s, 0, 0, OC(LOCK_ACQUIRE), 0);
    mc_session_open(s, 30000); /* now slot 1 holds the lock */
    mc_wait(s, 0, 0, OC(LOCK_ACQUIRE), 10000);
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    mc_op_full(s, P, 1, 0, OC(LOCK_RELEASE), &e, 0, 1);
    mc_op_full(s, P, 1, 0, OC(LOCK_ACQUIRE), &e, 50, 1);
    mc_expire(s, 2);
    mc_op_full(s, P, 1, 0, OC(LOCK_ACQUIRE), &e, -1, 1);
    Smwire__Request r = mc_req(s, 0, OC(SESSION_CLOSE), &e);
    mc_put(s, P, &r);
    mc_end(s);
}

static void
seed_sem(mc_seed *s)
{
    Smwire__Open o = SMWIRE__OPEN__INIT;
    o.type = T(SEMAPHORE);
    o.name = "";
    o.count = 2;
    o.bounded = true;
    mc_begin(s, "semaphore");
    mc_session_open(s, 30000);
    mc_open_full(s, 0, &o);
    mc_wait(s, 0, 0, OC(SEM_ACQUIRE), 0);
    mc_wait(s, 0, 0, OC(SEM_ACQUIRE), 0);
    mc_wait(s, 0, 0, OC(SEM_ACQUIRE), 20); /* parks */
    mc_empty(s, 0, OC(SEM_VALUE));
    mc_index(s, 0, OC(SEM_RELEASE), 1); /* answers the parked one */
    mc_index(s, 0, OC(SEM_RELEASE), 5); /* bounded: SM_EOVERFLOW */
    mc_index(s, 0, OC(SEM_RELEASE), 0);
    mc_wait(s, 0, 0, OC(SEM_ACQUIRE), 20);
    mc_expire(s, 2);
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    Smwire__Request r = mc_req(s, 0, OC(SESSION_CLOSE), &e); /* permits return */
    mc_put(s, P, &r);
    mc_end(s);
}

static void
seed_cond(mc_seed *s)
{
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    mc_begin(s, "condition");
    mc_session_open(s, 30000);
    mc_open(s, T(CONDITION), NULL); /* slot 0 the condition, 1 its rlock */
    mc_wait(s, 0, 1, OC(RLOCK_ACQUIRE), 0);
    mc_wait(s, 0, 0, OC(COND_WAIT), 30); /* parks, lock released */
    mc_session_open(s, 30000);
    mc_wait(s, 0, 1, OC(RLOCK_ACQUIRE), 0);
    mc_index(s, 0, OC(COND_NOTIFY), 1); /* the waiter queues for the lock */
    mc_empty(s, 0, OC(COND_NOTIFY_ALL));
    mc_op_full(s, P, 0, 1, OC(RLOCK_RELEASE), &e, 0, 1); /* the waiter gets it */
    mc_op_full(s, P, 1, 0, OC(COND_WAIT), &e, 20, 1);
    mc_expire(s, 2); /* times out: queues for the lock, which is free */
    mc_index(s, 0, OC(COND_NOTIFY), 0);
    mc_end(s);

    /* A condition over an existing lock, given by slot. */
    Smwire__Open o = SMWIRE__OPEN__INIT;
    o.type = T(CONDITION);
    o.name = "fz.cond";
    o.lock = mc_slot(0, T(LOCK));
    mc_begin(s, "condition-lock");
    mc_session_open(s, 30000);
    mc_open(s, T(LOCK), NULL);
    mc_open_full(s, 0, &o);
    mc_empty(s, 0, OC(COND_NOTIFY_ALL)); /* lock not held: SM_ENOTOWNER */
    mc_wait(s, 0, 1, OC(LOCK_ACQUIRE), 0);
    mc_wait(s, 0, 0, OC(COND_WAIT), 0);
    mc_end(s);
}

static void
seed_event_barrier(mc_seed *s)
{
    mc_begin(s, "event");
    mc_session_open(s, 30000);
    mc_open(s, T(EVENT), NULL);
    mc_empty(s, 0, OC(EVENT_IS_SET));
    mc_wait(s, 0, 0, OC(EVENT_WAIT), 1000); /* parks */
    mc_empty(s, 0, OC(EVENT_SET));             /* answers it */
    mc_wait(s, 0, 0, OC(EVENT_WAIT), 0);
    mc_empty(s, 0, OC(EVENT_CLEAR));
    mc_wait(s, 0, 0, OC(EVENT_WAIT), 10);
    mc_expire(s, 2);
    mc_end(s);

    Smwire__Open o = SMWIRE__OPEN__INIT;
    o.type = T(BARRIER);
    o.name = "";
    o.count = 2;
    mc_begin(s, "barrier");
    mc_session_open(s, 30000);
    mc_open_full(s, 0, &o);
    mc_empty(s, 0, OC(BARRIER_INFO));
    mc_wait(s, 0, 0, OC(BARRIER_WAIT), -1);
    mc_session_open(s, 30000);
    mc_wait(s, 0, 0, OC(BARRIER_WAIT), -1); /* the second party releases both */
    mc_wait(s, 0, 0, OC(BARRIER_WAIT), 1000);
    mc_empty(s, 0, OC(BARRIER_ABORT));
    mc_empty(s, 0, OC(BARRIER_INFO));
    mc_empty(s, 0, OC(BARRIER_RESET));
    mc_wait(s, 1, 0, OC(BARRIER_WAIT), 10);
    mc_expire(s, 2); /* a timed-out wait breaks it */
    mc_end(s);
}

static void
seed_queue(mc_seed *s)
{
    Smwire__Open o = SMWIRE__OPEN__INIT;
    o.type = T(QUEUE);
    o.name = "";
    o.count = 2;
    o.joinable = true;
    mc_begin(s, "queue");
    mc_session_open(s, 30000);
    mc_open_full(s, 0, &o);
    mc_op_full(s, P, 0, 0, OC(QUEUE_PUT), mc_int(1), 0, 1);
    mc_op_full(s, P, 0, 0, OC(QUEUE_PUT), mc_str("two"), 0, 1);
    mc_op_full(s, P, 0, 0, OC(QUEUE_PUT), mc_int(3), 0, 1);  /* full: SM_EFULL */
    mc_op_full(s, P, 0, 0, OC(QUEUE_PUT), mc_int(3), 50, 1); /* parks */
    mc_empty(s, 0, OC(QUEUE_INFO));
    mc_wait(s, 0, 0, OC(QUEUE_GET), 0); /* room: the parked put goes in */
    mc_empty(s, 0, OC(QUEUE_TASK_DONE));
    mc_wait(s, 0, 0, OC(QUEUE_JOIN), 0);
    mc_wait(s, 0, 0, OC(QUEUE_GET), 0);
    mc_wait(s, 0, 0, OC(QUEUE_JOIN), 100); /* parks */
    mc_empty(s, 0, OC(QUEUE_TASK_DONE));
    mc_expire(s, 3);
    mc_end(s);

    /* Items taken by a session that ends go back to the queue, or to a
     * parked getter. */
    o.count = 0;
    mc_begin(s, "queue-session-end");
    mc_session_open(s, 30000);
    mc_open_full(s, 0, &o);
    mc_op_full(s, P, 0, 0, OC(QUEUE_PUT), mc_int(1), 0, 1);
    mc_op_full(s, P, 0, 0, OC(QUEUE_PUT), mc_int(2), 0, 1);
    mc_session_open(s, 1000);
    mc_wait(s, 0, 0, OC(QUEUE_GET), 0);
    mc_wait(s, 0, 0, OC(QUEUE_GET), 0);
    mc_wait(s, 1, 0, OC(QUEUE_GET), -1); /* slot 1: the first session parks */
    mc_expire(s, 4);                     /* the taker's lease lapses */
    mc_empty(s, 0, OC(QUEUE_INFO));
    mc_end(s);
}

/* ------------------------------------------------------------------- pool */

static void
mc_pool_open(mc_seed *s, const char *name)
{
    mc_open(s, T(POOL), name);
}

static void
mc_submit(mc_seed *s, unsigned sess, uint64_t group, size_t ninputs, int64_t timeout_ms)
{
    static const char *in[] = {"1", "22", "333", "4444"};
    ProtobufCBinaryData bins[4];
    for (size_t i = 0; i < ninputs && i < 4; i++) {
        bins[i].data = (uint8_t *)in[i];
        bins[i].len = strlen(in[i]);
    }
    Smwire__TaskIn t = SMWIRE__TASK_IN__INIT;
    t.group = group;
    t.index = 0;
    t.name = "square";
    t.inputs = bins;
    t.n_inputs = ninputs < 4 ? ninputs : 4;
    t.timeout_ms = timeout_ms;
    t.max_kills = 1;
    Smwire__TaskIn *tasks[] = {&t};
    Smwire__PoolSubmit sub = SMWIRE__POOL_SUBMIT__INIT;
    sub.tasks = tasks;
    sub.n_tasks = 1;
    mc_op_full(s, P, sess, 0, OC(POOL_SUBMIT), &sub, 0, 1);
}

static void
mc_join(mc_seed *s, unsigned sess)
{
    char *names[] = {"square", "sleep"};
    Smwire__PoolJoin j = SMWIRE__POOL_JOIN__INIT;
    j.names = names;
    j.n_names = 2;
    j.host = "fuzzhost";
    j.pid = 4242;
    mc_op_full(s, P, sess, 0, OC(POOL_JOIN), &j, 0, 1);
}

/* mc_take reports task id done (0: none) and leases up to max more. */
static void
mc_take(mc_seed *s, unsigned sess, uint64_t done, uint32_t max, int64_t timeout_ms)
{
    Smwire__Outcome out = SMWIRE__OUTCOME__INIT;
    out.status = 0;
    out.data.data = (uint8_t *)"1";
    out.data.len = 1;
    Smwire__Outcome *outs[] = {&out};
    Smwire__TaskOut to = SMWIRE__TASK_OUT__INIT;
    to.id = done;
    to.outs = outs;
    to.n_outs = 1;
    Smwire__TaskOut *dones[] = {&to};
    Smwire__PoolTake tk = SMWIRE__POOL_TAKE__INIT;
    tk.max = max;
    tk.done = done ? dones : NULL;
    tk.n_done = done ? 1 : 0;
    mc_op_full(s, P, sess, 0, OC(POOL_TAKE), &tk, timeout_ms, 1);
}

static void
mc_collect(mc_seed *s, unsigned sess, uint64_t group, int64_t timeout_ms)
{
    Smwire__PoolCollect pc = SMWIRE__POOL_COLLECT__INIT;
    pc.group = group;
    pc.max = 16;
    mc_op_full(s, P, sess, 0, OC(POOL_COLLECT), &pc, timeout_ms, 1);
}

static void
seed_pool(mc_seed *s)
{
    Smwire__PoolStatus ps = SMWIRE__POOL_STATUS__INIT;
    uint64_t ids[] = {1, 2, 99};
    ps.ids = ids;
    ps.n_ids = 3;
    Smwire__PoolCancel pc = SMWIRE__POOL_CANCEL__INIT;
    pc.group = 2;
    pc.forget = true;
    Smwire__PoolLeave lv = SMWIRE__POOL_LEAVE__INIT;

    /* One session is both submitter and worker. */
    mc_begin(s, "pool");
    mc_session_open(s, 30000);
    mc_pool_open(s, NULL);
    mc_join(s, 0);
    mc_submit(s, 0, 1, 1, 0);
    mc_submit(s, 0, 2, 4, 0);
    mc_empty(s, 0, OC(POOL_INFO));
    mc_op(s, 0, OC(POOL_STATUS), &ps);
    mc_take(s, 0, 0, 1, 0);      /* leases task 1 */
    mc_take(s, 0, 1, 0, 0);      /* reports it */
    mc_collect(s, 0, 1, 0);
    mc_op(s, 0, OC(POOL_CANCEL), &pc);
    mc_collect(s, 0, 2, 0);
    lv.final = false;
    mc_op(s, 0, OC(POOL_LEAVE), &lv);
    lv.final = true;
    mc_op(s, 0, OC(POOL_LEAVE), &lv);
    mc_end(s);

    /* A worker parks in take, a submit feeds it, the worker's lease lapses
     * with the task leased (requeued, charged), a task overruns its
     * timeout. */
    mc_begin(s, "pool-workers");
    mc_session_open(s, 30000); /* the submitter */
    mc_pool_open(s, "fz.pool");
    mc_session_open(s, 200); /* the worker */
    mc_join(s, 0);
    mc_take(s, 0, 0, 2, 5000); /* parks */
    mc_submit(s, 1, 7, 2, 0);  /* answers the take */
    mc_submit(s, 1, 7, 1, 10);
    mc_collect(s, 1, 7, 5000); /* parks */
    mc_expire(s, 3);           /* the worker's lease lapses */
    mc_empty(s, 0, OC(POOL_INFO));
    mc_expire(s, 4);
    mc_collect(s, 0, 7, 0);
    mc_end(s);
}

static void
seed_refs(mc_seed *s)
{
    /* Objects that hold references to others; releasing the holder frees a
     * chain. */
    mc_begin(s, "refs");
    mc_session_open(s, 30000);
    mc_open(s, T(LIST), NULL);
    mc_open(s, T(DICT), NULL);
    mc_kv(s, 0, OC(DICT_SET), "list", mc_ref(1, T(LIST)));
    mc_kv(s, 0, OC(DICT_SET), "self", mc_ref(0, T(DICT)));
    mc_value(s, 1, OC(LIST_APPEND), mc_ref(0, T(DICT)));
    mc_key(s, 0, OC(DICT_GET), "list");
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    Smwire__Request r = mc_req(s, 0, OC(ATTACH), &e);
    r.obj = mc_slot(1, T(LIST));
    mc_put(s, P, &r);
    r = mc_req(s, 0, OC(ATTACH), &e);
    r.obj = mc_slot(1, T(DICT)); /* of another type: SM_EWRONGTYPE */
    mc_put(s, P, &r);
    mc_empty(s, 1, OC(RELEASE));
    mc_empty(s, 1, OC(RELEASE));
    mc_empty(s, 0, OC(RELEASE));
    mc_key(s, 0, OC(DICT_DEL), "self");
    r = mc_req(s, 0, OC(SESSION_CLOSE), &e);
    mc_put(s, P, &r);
    mc_end(s);
}

static void
seed_malformed(mc_seed *s)
{
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    Smwire__Request r;
    mc_begin(s, "malformed");
    mc_session_open(s, 30000);
    mc_open(s, T(DICT), NULL);
    r = mc_req(s, 0, OC(DICT_LEN), &e);
    r.version = 99; /* SM_EVERSION */
    r.obj = mc_slot(0, T(NONE));
    mc_put(s, P, &r);
    r = mc_req(s, 0, 0, NULL); /* no operation */
    mc_put(s, P, &r);
    r = mc_req(s, 0, OC(DICT_LEN), &e); /* no object */
    mc_put(s, P, &r);
    r = mc_req(s, 0, OC(LIST_LEN), &e); /* the wrong type */
    r.obj = mc_slot(0, T(NONE));
    mc_put(s, P, &r);
    r = mc_req(s, 0, OC(DICT_LEN), &e);
    r.obj = mc_slot(0, T(NONE));
    r.seq = 0; /* no sequence number */
    mc_put(s, FZ_SESSION | FZ_REFS, &r);
    r.seq = 5;
    mc_put(s, FZ_SESSION | FZ_REFS, &r); /* applied */
    mc_put(s, FZ_SESSION | FZ_REFS, &r); /* a repeat: answered from memory */
    r.seq = 6;
    r.ack_below = 7; /* acknowledges itself */
    mc_put(s, FZ_SESSION | FZ_REFS, &r);
    r.seq = 3; /* below ack_below: a late copy */
    mc_put(s, FZ_SESSION | FZ_REFS, &r);
    /* an unknown field number where the operation would be */
    static const uint8_t unknown[] = {0x08, 0x01, 0x18, 0x01, 0xba, 0x0d, 0x00};
    mc_bytes(s, FZ_SESSION, unknown, sizeof(unknown));
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00};
    mc_bytes(s, 0, junk, sizeof(junk));
    mc_bytes(s, 0, NULL, 0); /* an empty message */
    mc_end(s);
}

static void
seed_limits(mc_seed *s)
{
    /* Past the fuzz harness's value limit (fuzz_request.c: 1024 bytes):
     * SM_ELIMIT, nothing changed. */
    static char big[1100];
    memset(big, 'x', sizeof(big) - 1);
    mc_begin(s, "limits");
    mc_session_open(s, 30000);
    mc_open(s, T(DICT), NULL);
    mc_kv(s, 0, OC(DICT_SET), "big", mc_str(big));
    mc_kv(s, 0, OC(DICT_SET), "bytes", mc_bin(big, sizeof(big)));
    mc_end(s);
}

/* A batch's ops: obj slots as in mc_op (patched like every ObjRef). */
static Smwire__Request *
mc_sub(Smwire__Request *r, unsigned obj, int oc, void *body)
{
    smwire__request__init(r);
    r->obj = mc_slot(obj, T(NONE));
    r->op_case = (Smwire__Request__OpCase)oc;
    r->open = body;
    return r;
}

static void
seed_batch(mc_seed *s)
{
    Smwire__KeyValue kv1 = SMWIRE__KEY_VALUE__INIT, kv2 = SMWIRE__KEY_VALUE__INIT;
    Smwire__Key k = SMWIRE__KEY__INIT;
    Smwire__Index ix = SMWIRE__INDEX__INIT;
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    Smwire__Request subs[6];
    Smwire__Request *ops[6];
    Smwire__Batch b = SMWIRE__BATCH__INIT;
    kv1.key = "a";
    kv1.value = mc_int(1);
    kv2.key = "s";
    kv2.value = mc_str("text");
    k.key = "a";
    ix.index = -1;
    /* slot 1: the dict, slot 0: the list (the newest) */
    ops[0] = mc_sub(&subs[0], 1, OC(DICT_SET), &kv2);
    ops[1] = mc_sub(&subs[1], 1, OC(DICT_INCR), &kv1);
    ops[2] = mc_sub(&subs[2], 0, OC(LIST_APPEND), mc_int(5));
    ops[3] = mc_sub(&subs[3], 1, OC(DICT_GET), &k);
    ops[4] = mc_sub(&subs[4], 0, OC(LIST_POP), &ix);
    ops[5] = mc_sub(&subs[5], 1, OC(DICT_LEN), &e);
    b.ops = ops;
    b.n_ops = 6;

    mc_begin(s, "batch");
    mc_session_open(s, 30000);
    mc_open(s, T(DICT), "fz.batch.dict");
    mc_open(s, T(LIST), "fz.batch.list");
    b.atomic = true;
    mc_op(s, 0, OC(BATCH), &b);
    b.atomic = false;
    mc_op(s, 0, OC(BATCH), &b);
    /* An atomic batch that fails at its last op: incr of a string. */
    kv1.key = "s";
    b.atomic = true;
    mc_op(s, 0, OC(BATCH), &b);
    mc_op(s, 0, OC(BATCH), &b); /* ... again, as a pipeline below */
    b.atomic = false;
    mc_op(s, 0, OC(BATCH), &b);
    /* Not batchable: an open, a batch inside a batch. */
    Smwire__Open o = SMWIRE__OPEN__INIT;
    o.type = T(DICT);
    o.name = "fz.batch.in";
    Smwire__Batch inner = SMWIRE__BATCH__INIT;
    ops[0] = mc_sub(&subs[0], 1, OC(OPEN), &o);
    ops[1] = mc_sub(&subs[1], 1, OC(BATCH), &inner);
    b.n_ops = 2;
    mc_op(s, 0, OC(BATCH), &b);
    b.n_ops = 0;
    mc_op(s, 0, OC(BATCH), &b);
    mc_end(s);
}

static void
seed_all(void)
{
    static mc_seed s;
    seed_session(&s);
    seed_dict(&s);
    seed_list(&s);
    seed_var(&s);
    seed_array(&s);
    seed_ns(&s);
    seed_locks(&s);
    seed_sem(&s);
    seed_cond(&s);
    seed_event_barrier(&s);
    seed_queue(&s);
    seed_pool(&s);
    seed_refs(&s);
    seed_malformed(&s);
    seed_limits(&s);
    seed_batch(&s);
    seed_move(&s);
    seed_move_wait(&s);
    seed_status(&s);
}

/* ------------------------------------------------------------ the wire tool */

static void
tool_request(const char *what, const char *session_hex)
{
    uint64_t session = session_hex ? strtoull(session_hex, NULL, 16) : 0;
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    Smwire__SessionOpen so = SMWIRE__SESSION_OPEN__INIT;
    Smwire__Request r = SMWIRE__REQUEST__INIT;
    r.version = 1;
    r.session = session;
    r.seq = 1;
    uint8_t buf[256];
    size_t n;
    if (strcmp(what, "session_open") == 0) {
        so.lease_ms = 10000;
        r.seq = 0;
        r.op_case = OC(SESSION_OPEN);
        r.session_open = &so;
    } else if (strcmp(what, "ping") == 0) {
        r.op_case = OC(SESSION_PING);
        r.session_ping = &e;
    } else if (strcmp(what, "close") == 0) {
        r.op_case = OC(SESSION_CLOSE);
        r.session_close = &e;
    } else if (strcmp(what, "bad_version") == 0) {
        r.version = 7;
        r.op_case = OC(SESSION_PING);
        r.session_ping = &e;
    } else if (strcmp(what, "no_op") == 0) {
        /* version, session and seq only */
    } else if (strcmp(what, "unknown_op") == 0) {
        /* version 1, seq 1, then field 215 (not in the op oneof), an empty
         * message: it decodes, with no operation the server knows. */
        static const uint8_t u[] = {0x08, 0x01, 0x18, 0x01, 0xba, 0x0d, 0x00};
        fwrite(u, 1, sizeof(u), stdout);
        return;
    } else {
        mc_die("--request: unknown request '%s'", what);
    }
    n = smwire__request__pack(&r, buf);
    if (fwrite(buf, 1, n, stdout) != n)
        mc_die("stdout: %s", strerror(errno));
}

/* unframe finds the message in one msgpack bin object (nngcat --msgpack);
 * false if buf is not one. */
static bool
unframe(const uint8_t *buf, size_t n, const uint8_t **msg, size_t *len)
{
    size_t hdr, m;
    if (n >= 2 && buf[0] == 0xc4) {
        hdr = 2;
        m = buf[1];
    } else if (n >= 3 && buf[0] == 0xc5) {
        hdr = 3;
        m = (size_t)buf[1] << 8 | buf[2];
    } else if (n >= 5 && buf[0] == 0xc6) {
        hdr = 5;
        m = (size_t)buf[1] << 24 | (size_t)buf[2] << 16 | (size_t)buf[3] << 8 | buf[4];
    } else {
        return false;
    }
    if (m != n - hdr)
        return false;
    *msg = buf + hdr;
    *len = m;
    return true;
}

static int
tool_reply(const char *path)
{
    static uint8_t buf[1 << 20];
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        mc_die("%s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, sizeof(buf), f), len;
    fclose(f);
    const uint8_t *msg;
    if (!unframe(buf, n, &msg, &len)) {
        printf("no reply (%zu bytes, not one nngcat --msgpack message)\n", n);
        return 1;
    }
    Smwire__Reply *rep = smwire__reply__unpack(NULL, len, msg);
    if (rep == NULL) {
        printf("undecodable (%zu bytes)\n", len);
        return 1;
    }
    printf("status %u session %016" PRIx64 "\n", rep->status, rep->session);
    smwire__reply__free_unpacked(rep, NULL);
    return 0;
}

/* ------------------------------------------------------- hostile messages */

static uint64_t gb_rng;

static uint64_t
gb_rand(void)
{
    /* xorshift64*: the same seed writes the same files */
    gb_rng ^= gb_rng >> 12;
    gb_rng ^= gb_rng << 25;
    gb_rng ^= gb_rng >> 27;
    return gb_rng * 0x2545F4914F6CDD1DULL;
}

static void
gb_write(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    mc_write_file(path, p, n);
}

/* raw_sink writes each request as it travels (--raw). */
static void
raw_sink(const char *seed, const uint8_t *p, size_t n)
{
    char name[128];
    snprintf(name, sizeof(name), "%03u-%s.bin", mc_nout++, seed);
    gb_write(mc_out_dir, name, p, n);
}

/* gb_sink writes every second request truncated short, and every other
 * with one to three bytes changed (--garbage). */
static void
gb_sink(const char *seed, const uint8_t *p, size_t n)
{
    static unsigned seen;
    uint8_t buf[MC_MAX];
    char name[128];
    if (n == 0 || n > sizeof(buf))
        return;
    memcpy(buf, p, n);
    if (seen++ % 2 == 0) {
        size_t cut = (size_t)(gb_rand() % n); /* 0 .. n-1: always short */
        snprintf(name, sizeof(name), "trunc-%03u-%s-at-%zu", mc_nout++, seed, cut);
        gb_write(mc_out_dir, name, buf, cut);
    } else {
        unsigned k = 1 + (unsigned)(gb_rand() % 3);
        for (unsigned j = 0; j < k; j++)
            buf[gb_rand() % n] = (uint8_t)gb_rand();
        snprintf(name, sizeof(name), "changed-%03u-%s", mc_nout++, seed);
        gb_write(mc_out_dir, name, buf, n);
    }
}

static int
tool_garbage(const char *dir, const char *seed)
{
    static uint8_t buf[65536];
    static const size_t sizes[] = {1,    2,    3,    4,    5,    6,    7,     8,     9,
                                   10,   11,   12,   13,   14,   15,   16,    24,    32,
                                   48,   64,   100,  127,  128,  129,  255,   256,   257,
                                   500,  1000, 1024, 2047, 4095, 4096, 8192,  16383, 16384,
                                   32768, 40000, 65535, 65536};
    char name[64];
    unsigned nfiles = 0;
    gb_rng = strtoull(seed, NULL, 0);
    if (gb_rng == 0)
        gb_rng = 1;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        mc_die("%s: %s", dir, strerror(errno));

    for (size_t i = 0; i < SM_NELEM_MC(sizes); i++)
        for (int k = 0; k < 3; k++) {
            for (size_t j = 0; j < sizes[i]; j++)
                buf[j] = (uint8_t)gb_rand();
            snprintf(name, sizeof(name), "random-%zu-%d", sizes[i], k);
            gb_write(dir, name, buf, sizes[i]);
            nfiles++;
        }

    /* The seeds' requests, each as it travels, truncated or changed. */
    mc_out_dir = dir;
    mc_nout = 0;
    mc_sink = gb_sink;
    seed_all();
    mc_sink = NULL;
    nfiles += mc_nout;

    /* Hand-made traps for a protobuf decoder. */
    const struct {
        const char *name;
        const uint8_t *p;
        size_t n;
    } traps[] = {
#define TRAP(nm, ...) {nm, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})}
        /* obj (field 5) claims 4 GiB */
        TRAP("trap-huge-length", 0x08, 0x01, 0x2a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x08, 0x01),
        /* a length that wraps a 64-bit size */
        TRAP("trap-wrapping-length", 0x2a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
             0x01),
        /* an 11-byte varint */
        TRAP("trap-overlong-varint", 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
             0xff, 0x01),
        /* field number 0 */
        TRAP("trap-field-zero", 0x00, 0x01, 0x08, 0x01),
        /* a group start (wire type 3) and end (4) */
        TRAP("trap-group", 0x08, 0x01, 0x0b, 0x08, 0x01, 0x0c),
        /* wire types 6 and 7 */
        TRAP("trap-wire-type-6", 0x08, 0x01, 0x0e, 0x00),
        TRAP("trap-wire-type-7", 0x0f, 0x00),
        /* the op oneof given twice, different members: the last one wins */
        TRAP("trap-two-ops", 0x08, 0x01, 0x18, 0x01, 0xc2, 0x01, 0x00, 0xba, 0x09, 0x00),
        /* a Value whose kind is a string of invalid UTF-8 inside dict.set */
        TRAP("trap-bad-utf8", 0x08, 0x01, 0x18, 0x01, 0xaa, 0x01, 0x09, 0x0a, 0x01, 0x6b, 0x12,
             0x04, 0x32, 0x02, 0xff, 0xfe),
        /* session_open whose lease is a 64-bit negative */
        TRAP("trap-lease-negative", 0x08, 0x01, 0xb2, 0x09, 0x02, 0x08, 0x01),
        /* an unknown field number past every op (field 536870911) */
        TRAP("trap-max-field", 0x08, 0x01, 0xfa, 0xff, 0xff, 0xff, 0x0f, 0x00),
#undef TRAP
    };
    for (size_t i = 0; i < SM_NELEM_MC(traps); i++) {
        gb_write(dir, traps[i].name, traps[i].p, traps[i].n);
        nfiles++;
    }
    printf("%u hostile messages written to %s\n", nfiles, dir);
    return 0;
}

/* judge_read reads a whole file (at most cap bytes); -1 if it cannot. */
static long
judge_read(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return (long)n;
}

static int
tool_judge(const char *dir)
{
    static uint8_t req[1 << 20], rep[1 << 20];
    unsigned nreq = 0, nrep = 0, nok = 0, bad = 0, status[64] = {0};
    DIR *d = opendir(dir);
    if (d == NULL)
        mc_die("%s: %s", dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || (len > 6 && strcmp(de->d_name + len - 6, ".reply") == 0))
            continue;
        char path[2048], rpath[2048];
        snprintf(path, sizeof(path), "%.1000s/%.255s", dir, de->d_name);
        snprintf(rpath, sizeof(rpath), "%.1000s/%.255s.reply", dir, de->d_name);
        nreq++;
        long qn = judge_read(path, req, sizeof(req));
        long rn = judge_read(rpath, rep, sizeof(rep));
        if (qn < 0)
            mc_die("%s: %s", path, strerror(errno));
        if (rn <= 0) {
            printf("no reply: %s (%ld bytes)\n", de->d_name, qn);
            continue;
        }
        const uint8_t *msg;
        size_t mlen;
        if (!unframe(rep, (size_t)rn, &msg, &mlen)) {
            printf("BAD: %s: the reply file (%ld bytes) is not one nngcat --msgpack message\n",
                   de->d_name, rn);
            bad++;
            continue;
        }
        nrep++;
        Smwire__Reply *r = smwire__reply__unpack(NULL, mlen, msg);
        if (r == NULL) {
            printf("BAD: %s: the reply (%zu bytes) does not decode\n", de->d_name, mlen);
            bad++;
            continue;
        }
        uint32_t st = r->status;
        smwire__reply__free_unpacked(r, NULL);
        status[st < 64 ? st : 63]++;
        if (st != 0)
            continue;
        nok++;
        Smwire__Request *q = smwire__request__unpack(NULL, (size_t)qn, req);
        int op = q != NULL ? (int)q->op_case : -1;
        if (q != NULL)
            smwire__request__free_unpacked(q, NULL);
        if (op != OC(SESSION_OPEN) && op != OC(AUTH_HELLO)) {
            printf("BAD: %s: answered SM_OK, but it is %s (op %d)\n", de->d_name,
                   op < 0 ? "no request" : "not a request that needs no session", op);
            bad++;
        }
    }
    closedir(d);
    printf("%u requests, %u replies: %u SM_OK (session open / auth hello), errors:", nreq,
           nrep, nok);
    for (unsigned i = 1; i < 64; i++)
        if (status[i])
            printf(" %u x status %u", status[i], i);
    printf("; %u broken\n", bad);
    return bad ? 1 : 0;
}

int
main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--garbage") == 0)
        return tool_garbage(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "--judge") == 0)
        return tool_judge(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--raw") == 0) {
        mc_out_dir = argv[2];
        mkdir(mc_out_dir, 0777);
        mc_nout = 0;
        mc_sink = raw_sink;
        seed_all();
        printf("%u requests written to %s\n", mc_nout, mc_out_dir);
        return 0;
    }
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "--request") == 0) {
        tool_request(argv[2], argc == 4 ? argv[3] : NULL);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--reply") == 0)
        return tool_reply(argv[2]);
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: make_corpus DIR | --raw DIR | --request WHAT [SESSION] |"
                        " --reply FILE | --garbage DIR SEED | --judge DIR\n");
        return 2;
    }
    mc_dir = argv[1];
    mkdir(mc_dir, 0777);
    seed_all();
    printf("%u seeds written to %s\n", mc_nfiles, mc_dir);
    return 0;
}
