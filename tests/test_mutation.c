/* test_mutation.c - mutated requests against a live syncmgrd change nothing
 * they may not change.
 *
 * An owner client builds objects with known contents through the library:
 * a dict, a list, a var, an array, a namespace, a queue with items, a lock
 * it holds, a semaphore it took a permit of, and an event it set. A raw nng
 * REQ socket then sends MT_MUTATIONS requests made by mutating valid packed
 * requests that name those very objects (their real id and nonce, read from
 * the tokens): bit flips, byte changes, truncations, insertions, deletions,
 * duplicated fields, changed op numbers, changed sessions, changed object
 * ids and nonces, changed numbers (seq, timeout, owner, version).
 *
 * Which mutated requests can change state, and why the final check is exact:
 *
 *   - Every request except SESSION_OPEN and AUTH_HELLO names a session, and
 *     the server refuses one that names no live session before it looks at
 *     any object (SM_ESESSION). The raw sender never learns the owner's
 *     session id; it uses random ids (class A) or a session it opened itself
 *     (class B). A mutation turns a random id into the owner's 64-bit random
 *     id with negligible probability.
 *   - In class B the request is the raw sender's own, so the server would
 *     apply it if it named an object by its right (id, nonce). So class B
 *     always changes the nonce (XOR with a random non-zero 64-bit mask)
 *     before mutating, and, since a mutation could in principle restore it
 *     (or a duplicated field merge it back), every mutated request is decoded
 *     here first: one that decodes, names the raw sender's session and names
 *     a known object by its right (id, nonce) is not sent (counted as
 *     skipped; in practice none).
 *   - What such requests may still do: SESSION_OPEN makes a new session,
 *     SESSION_PING/CLOSE act on the raw sender's own session, OPEN gets or
 *     makes an object (an existing name is only looked up, never changed),
 *     AUTH_HELLO hands out a challenge. None touches the known objects: a
 *     new condition bound to the known lock holds a reference to it but does
 *     not change who holds it, and the raw session never holds anything.
 *   - A control first shows the check is not vacuous: the same raw sender,
 *     its own session and the right (id, nonce) of a throwaway dict, gets
 *     an unmutated DICT_SET applied.
 *   - So every reply must decode, and SM_OK is allowed only for those five
 *     operations (as decoded here; a request that does not decode must get
 *     an error), for a pipelined BATCH whose every operation's own reply is
 *     an error (it applied nothing), or for a request of the raw session
 *     whose seq a successful request used before (a mutated seq): the
 *     server answers such a repeat from its reply memory with the earlier
 *     reply, applying nothing. Afterwards each known object must hold exactly what it held
 *     before, the lock must still be the owner's (another client cannot take
 *     it; the owner can release it), and a fresh client must be served
 *     normally.
 *
 * The random seed is printed; SMT_MUTATION_SEED=N repeats a run. */
#include "smt.h"

#include <inttypes.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smwire.pb-c.h"

#define MT_MUTATIONS 10000
#define MT_MAX_MSG 4096
#define MT_RECV_MS 5000
#define MT_NKNOWN 9
#define SMV(expr) ((const sm_value[]){expr})
#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ random numbers */

static uint64_t mt_rng;

static uint64_t
mt_rand(void)
{
    /* xorshift64* */
    mt_rng ^= mt_rng >> 12;
    mt_rng ^= mt_rng << 25;
    mt_rng ^= mt_rng >> 27;
    return mt_rng * 0x2545F4914F6CDD1DULL;
}

static size_t
mt_below(size_t n)
{
    return n ? (size_t)(mt_rand() % n) : 0;
}

/* ------------------------------------------------------------- the objects */

typedef struct mt_known {
    const char *what;
    Smwire__ObjType type;
    uint64_t id, nonce;
} mt_known;

typedef struct mt_world {
    sm_client *owner;
    sm_dict *dict;
    sm_list *list;
    sm_var *var;
    sm_array *array;
    sm_ns *ns;
    sm_queue *queue;
    sm_lock *lock;
    sm_sem *sem;
    sm_event *event;
    char names[MT_NKNOWN][128];
    mt_known known[MT_NKNOWN];
} mt_world;

static void
mt_parse_token(const char *token, mt_known *k)
{
    uint64_t id = 0, nonce = 0;
    const char *p = strchr(token + 3, ':'); /* "sm:TYPE:ID:NONCE" */
    assert_non_null(p);
    assert_int_equal(sscanf(p + 1, "%" SCNx64 ":%" SCNx64, &id, &nonce), 2);
    k->id = id;
    k->nonce = nonce;
}

static void
mt_know(mt_world *w, int i, const char *what, Smwire__ObjType type, const char *token)
{
    w->known[i].what = what;
    w->known[i].type = type;
    mt_parse_token(token, &w->known[i]);
}

/* The contents the owner builds, and the check that they are still there. */
static const char *const mt_dict_keys[] = {"alpha", "beta", "gamma", "delta"};
static const int64_t mt_list_items[] = {5, -7, 11, 0, 13};
static const int64_t mt_array_init[] = {1, 2, 3, 4, 5, 6};
static const int64_t mt_queue_items[] = {100, 200, 300};

static void
mt_build(mt_world *w)
{
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    assert_sm_ok(sm_client_open(&w->owner, smt_url(), &o));
    const char *kinds[MT_NKNOWN] = {"dict", "list", "var", "array", "ns",
                                    "queue", "lock", "sem", "event"};
    for (int i = 0; i < MT_NKNOWN; i++)
        snprintf(w->names[i], sizeof(w->names[i]), "%s", smt_name(kinds[i]));

    assert_sm_ok(sm_dict_open(w->owner, w->names[0], &w->dict));
    assert_sm_ok(sm_dict_set(w->dict, "alpha", SMV(sm_value_int(1))));
    assert_sm_ok(sm_dict_set(w->dict, "beta", SMV(sm_value_str("two"))));
    assert_sm_ok(sm_dict_set(w->dict, "gamma", SMV(sm_value_double(3.25))));
    assert_sm_ok(sm_dict_set(w->dict, "delta", SMV(sm_value_int(-4))));
    mt_know(w, 0, "dict", SMWIRE__OBJ_TYPE__OBJ_DICT, sm_dict_token(w->dict));

    assert_sm_ok(sm_list_open(w->owner, w->names[1], &w->list));
    for (size_t i = 0; i < N_ELEMS(mt_list_items); i++)
        assert_sm_ok(sm_list_append(w->list, SMV(sm_value_int(mt_list_items[i]))));
    mt_know(w, 1, "list", SMWIRE__OBJ_TYPE__OBJ_LIST, sm_list_token(w->list));

    assert_sm_ok(sm_var_open(w->owner, w->names[2], SMV(sm_value_str("steady")), &w->var));
    mt_know(w, 2, "var", SMWIRE__OBJ_TYPE__OBJ_VAR, sm_var_token(w->var));

    sm_value init[N_ELEMS(mt_array_init)];
    for (size_t i = 0; i < N_ELEMS(mt_array_init); i++)
        init[i] = sm_value_int(mt_array_init[i]);
    assert_sm_ok(sm_array_open(w->owner, w->names[3], 'q', init, N_ELEMS(init), &w->array));
    mt_know(w, 3, "array", SMWIRE__OBJ_TYPE__OBJ_ARRAY, sm_array_token(w->array));

    assert_sm_ok(sm_ns_open(w->owner, w->names[4], &w->ns));
    assert_sm_ok(sm_ns_set(w->ns, "x", SMV(sm_value_int(42))));
    assert_sm_ok(sm_ns_set(w->ns, "y", SMV(sm_value_str("why"))));
    mt_know(w, 4, "namespace", SMWIRE__OBJ_TYPE__OBJ_NAMESPACE, sm_ns_token(w->ns));

    assert_sm_ok(sm_queue_open(w->owner, w->names[5], 10, true, &w->queue));
    for (size_t i = 0; i < N_ELEMS(mt_queue_items); i++)
        assert_sm_ok(sm_queue_put(w->queue, SMV(sm_value_int(mt_queue_items[i])), SM_NOWAIT));
    mt_know(w, 5, "queue", SMWIRE__OBJ_TYPE__OBJ_QUEUE, sm_queue_token(w->queue));

    assert_sm_ok(sm_lock_open(w->owner, w->names[6], &w->lock));
    assert_sm_ok(sm_lock_acquire(w->lock, SM_NOWAIT));
    mt_know(w, 6, "lock", SMWIRE__OBJ_TYPE__OBJ_LOCK, sm_lock_token(w->lock));

    assert_sm_ok(sm_sem_open(w->owner, w->names[7], 3, true, &w->sem));
    assert_sm_ok(sm_sem_acquire(w->sem, SM_NOWAIT));
    mt_know(w, 7, "semaphore", SMWIRE__OBJ_TYPE__OBJ_SEMAPHORE, sm_sem_token(w->sem));

    assert_sm_ok(sm_event_open(w->owner, w->names[8], &w->event));
    assert_sm_ok(sm_event_set(w->event));
    mt_know(w, 8, "event", SMWIRE__OBJ_TYPE__OBJ_EVENT, sm_event_token(w->event));
}

static void
mt_check_int(const sm_value *v, int64_t want, const char *what)
{
    if (v->type != SM_INT || v->u.i != want)
        fail_msg("%s: a %s, wanted the int %" PRId64, what, smt_type_name(v->type), want);
}

/* mt_check_unchanged asserts each object holds exactly what mt_build put
 * there, and that the owner still holds its lock and permit. */
static void
mt_check_unchanged(mt_world *w)
{
    char **keys = NULL;
    sm_value *vals = NULL;
    size_t n = 0;
    assert_sm_ok(sm_dict_items(w->dict, &keys, &vals, &n));
    assert_int_equal(n, N_ELEMS(mt_dict_keys));
    for (size_t i = 0; i < n; i++)
        assert_string_equal(keys[i], mt_dict_keys[i]);
    smt_assert_value(&vals[0], sm_value_int(1));
    smt_assert_value(&vals[1], sm_value_str("two"));
    smt_assert_value(&vals[2], sm_value_double(3.25));
    smt_assert_value(&vals[3], sm_value_int(-4));
    sm_strings_free(keys, n);
    sm_values_free(vals, n);

    assert_sm_ok(sm_list_slice(w->list, 0, INT64_MAX, &vals, &n));
    assert_int_equal(n, N_ELEMS(mt_list_items));
    for (size_t i = 0; i < n; i++)
        mt_check_int(&vals[i], mt_list_items[i], "list item");
    sm_values_free(vals, n);

    sm_value v = sm_value_nil();
    assert_sm_ok(sm_var_get(w->var, &v));
    smt_assert_value(&v, sm_value_str("steady"));
    sm_value_clear(&v);

    assert_sm_ok(sm_array_get_slice(w->array, 0, INT64_MAX, &vals, &n));
    assert_int_equal(n, N_ELEMS(mt_array_init));
    for (size_t i = 0; i < n; i++)
        mt_check_int(&vals[i], mt_array_init[i], "array element");
    sm_values_free(vals, n);

    assert_sm_ok(sm_ns_list(w->ns, &keys, &n));
    assert_int_equal(n, 2);
    assert_string_equal(keys[0], "x");
    assert_string_equal(keys[1], "y");
    sm_strings_free(keys, n);
    assert_sm_ok(sm_ns_get(w->ns, "x", &v));
    smt_assert_value(&v, sm_value_int(42));
    sm_value_clear(&v);
    assert_sm_ok(sm_ns_get(w->ns, "y", &v));
    smt_assert_value(&v, sm_value_str("why"));
    sm_value_clear(&v);

    int64_t size = -1, maxsize = -1, unfinished = -1;
    assert_sm_ok(sm_queue_info(w->queue, &size, &maxsize, &unfinished));
    assert_int_equal(size, N_ELEMS(mt_queue_items));
    assert_int_equal(maxsize, 10);
    assert_int_equal(unfinished, N_ELEMS(mt_queue_items));

    int64_t permits = -1;
    assert_sm_ok(sm_sem_value(w->sem, &permits));
    assert_int_equal(permits, 2);

    bool set = false;
    assert_sm_ok(sm_event_is_set(w->event, &set));
    assert_true(set);

    /* The lock: held, another client cannot take it, the owner can release
     * it (so the owner held it), and then it is free. */
    bool locked = false;
    assert_sm_ok(sm_lock_locked(w->lock, &locked));
    assert_true(locked);
    sm_client *other = NULL;
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    assert_sm_ok(sm_client_open(&other, smt_url(), &o));
    sm_lock *l2 = NULL;
    assert_sm_ok(sm_lock_open(other, w->names[6], &l2));
    assert_sm_status(sm_lock_acquire(l2, SM_NOWAIT), SM_ETIMEDOUT);
    assert_sm_ok(sm_lock_release(w->lock));
    assert_sm_ok(sm_lock_acquire(l2, SM_NOWAIT));
    assert_sm_ok(sm_lock_release(l2));
    sm_lock_close(l2);
    sm_client_close(other);

    /* The queue's items, in order, and nothing after them. */
    for (size_t i = 0; i < N_ELEMS(mt_queue_items); i++) {
        assert_sm_ok(sm_queue_get(w->queue, SM_NOWAIT, &v));
        mt_check_int(&v, mt_queue_items[i], "queue item");
        assert_sm_ok(sm_queue_task_done(w->queue));
    }
    assert_sm_status(sm_queue_get(w->queue, SM_NOWAIT, &v), SM_EEMPTY);
}

static void
mt_teardown_world(mt_world *w)
{
    sm_dict_close(w->dict);
    sm_list_close(w->list);
    sm_var_close(w->var);
    sm_array_close(w->array);
    sm_ns_close(w->ns);
    sm_queue_close(w->queue);
    sm_lock_close(w->lock);
    sm_sem_close(w->sem);
    sm_event_close(w->event);
    sm_client_close(w->owner);
}

/* --------------------------------------------------------- the raw sender */

typedef struct mt_raw {
    nng_socket sock;
    uint64_t session; /* its own session (class B) */
    uint64_t seq;
    uint64_t ok_seqs[MT_MUTATIONS + 1]; /* seqs of its requests applied with SM_OK */
    size_t n_ok_seqs;
} mt_raw;

/* mt_seq_seen says whether a request with this seq was applied with SM_OK
 * in the raw sender's current session (the control's DICT_SET, OPENs): a
 * repeat is answered from reply memory. */
static bool
mt_seq_seen(const mt_raw *r, uint64_t seq)
{
    for (size_t i = 0; i < r->n_ok_seqs; i++)
        if (r->ok_seqs[i] == seq)
            return true;
    return false;
}

/* mt_roundtrip sends len bytes and receives the reply into *repp (free it
 * with nng_msg_free; it may be empty: a Reply of status 0 and nothing else
 * packs to no bytes). Returns 0 or nng's error. */
static int
mt_roundtrip(mt_raw *r, const uint8_t *buf, size_t len, nng_msg **repp)
{
    int rv = nng_send(r->sock, (void *)buf, len, 0);
    if (rv == 0)
        rv = nng_recvmsg(r->sock, repp, 0);
    return rv;
}

static void
mt_raw_open_session(mt_raw *r)
{
    Smwire__SessionOpen so = SMWIRE__SESSION_OPEN__INIT;
    Smwire__Request req = SMWIRE__REQUEST__INIT;
    uint8_t buf[128];
    so.lease_ms = 60000;
    req.version = 1;
    req.op_case = SMWIRE__REQUEST__OP_SESSION_OPEN;
    req.session_open = &so;
    size_t n = smwire__request__pack(&req, buf);
    nng_msg *m = NULL;
    int rv = mt_roundtrip(r, buf, n, &m);
    if (rv != 0)
        fail_msg("raw SESSION_OPEN: %s", nng_strerror(rv));
    Smwire__Reply *rep = smwire__reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    nng_msg_free(m);
    assert_non_null(rep);
    assert_int_equal(rep->status, SM_OK);
    assert_true(rep->session != 0);
    r->session = rep->session;
    r->seq = 0;
    r->n_ok_seqs = 0;
    smwire__reply__free_unpacked(rep, NULL);
}

static void
mt_raw_open(mt_raw *r)
{
    int rv = nng_req0_open(&r->sock);
    assert_int_equal(rv, 0);
    assert_int_equal(nng_socket_set_ms(r->sock, NNG_OPT_RECVTIMEO, MT_RECV_MS), 0);
    assert_int_equal(nng_socket_set_ms(r->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE),
                     0);
    rv = nng_dial(r->sock, smt_url(), NULL, 0);
    if (rv != 0)
        fail_msg("nng_dial %s: %s", smt_url(), nng_strerror(rv));
    mt_raw_open_session(r);
}

/* ------------------------------------------------------- the base requests */

/* The valid requests mutated, each against known object k: the writes that
 * would change it and reads, the generic and session operations. */
typedef struct mt_base {
    int k; /* index into known[] */
    int op_case;
} mt_base;

#define B(k, op) {k, SMWIRE__REQUEST__OP_##op}
static const mt_base mt_bases[] = {
    B(0, DICT_SET),       B(0, DICT_DEL),       B(0, DICT_CLEAR),      B(0, DICT_POP),
    B(0, DICT_UPDATE),    B(0, DICT_INCR),      B(0, DICT_GET),        B(0, DICT_ITEMS),
    B(0, DICT_SETDEFAULT), B(1, LIST_APPEND),   B(1, LIST_POP),        B(1, LIST_CLEAR),
    B(1, LIST_SET),       B(1, LIST_INSERT),    B(1, LIST_REMOVE),     B(1, LIST_SLICE),
    B(2, VAR_SET),        B(2, VAR_ADD),        B(2, VAR_CAS),         B(2, VAR_GET),
    B(3, ARRAY_SET),      B(3, ARRAY_ADD),      B(3, ARRAY_SET_SLICE), B(3, ARRAY_GET_SLICE),
    B(4, NS_SET),         B(4, NS_DEL),         B(4, NS_LIST),         B(5, QUEUE_PUT),
    B(5, QUEUE_GET),      B(5, QUEUE_TASK_DONE), B(5, QUEUE_INFO),     B(6, LOCK_RELEASE),
    B(6, LOCK_ACQUIRE),   B(7, SEM_RELEASE),    B(7, SEM_ACQUIRE),     B(8, EVENT_CLEAR),
    B(8, EVENT_WAIT),     B(0, RELEASE),        B(1, ATTACH),          B(0, OPEN),
    B(6, OPEN),           B(0, SESSION_CLOSE),  B(0, SESSION_PING),
};
#undef B

/* mt_pack_base packs base request b with the given session and object
 * reference into buf; returns its length. */
static size_t
mt_pack_base(const mt_world *w, const mt_base *b, uint64_t session, uint64_t seq, uint64_t id,
             uint64_t nonce, uint8_t *buf)
{
    const mt_known *k = &w->known[b->k];
    Smwire__Request req = SMWIRE__REQUEST__INIT;
    Smwire__ObjRef ref = SMWIRE__OBJ_REF__INIT;
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    Smwire__Key key = SMWIRE__KEY__INIT;
    Smwire__KeyValue kv = SMWIRE__KEY_VALUE__INIT;
    Smwire__Value v1 = SMWIRE__VALUE__INIT, v2 = SMWIRE__VALUE__INIT;
    Smwire__Value *vals[3] = {&v1, &v2, &v1};
    Smwire__Index ix = SMWIRE__INDEX__INIT;
    Smwire__IndexValue iv = SMWIRE__INDEX_VALUE__INIT;
    Smwire__IndexValues ivs = SMWIRE__INDEX_VALUES__INIT;
    Smwire__Range rg = SMWIRE__RANGE__INIT;
    Smwire__Cas cas = SMWIRE__CAS__INIT;
    Smwire__Items items = SMWIRE__ITEMS__INIT;
    Smwire__Open open = SMWIRE__OPEN__INIT;
    char *keys[] = {"alpha", "omega"};
    void *body = &e;

    v1.kind_case = SMWIRE__VALUE__KIND_I;
    v1.i = 77;
    v2.kind_case = SMWIRE__VALUE__KIND_STR;
    v2.str = "mutant";
    ref.id = id;
    ref.nonce = nonce;
    ref.type = k->type;
    key.key = "alpha";
    kv.key = "alpha";
    kv.value = &v1;
    ix.index = -1;
    iv.index = 0;
    iv.value = &v1;
    ivs.index = 1;
    ivs.values = vals;
    ivs.n_values = 3;
    rg.start = 0;
    rg.stop = INT64_MAX;
    cas.expected = &v2;
    cas.desired = &v1;
    items.keys = keys;
    items.n_keys = 2;
    items.values = vals;
    items.n_values = 2;
    open.type = k->type;
    open.name = (char *)w->names[b->k];
    open.typecode = "q";
    open.length = N_ELEMS(mt_array_init);
    open.lock = &ref; /* harmless unless a mutation makes it a condition */

    switch (b->op_case) {
    case SMWIRE__REQUEST__OP_DICT_GET:
    case SMWIRE__REQUEST__OP_DICT_DEL:
        body = &key;
        break;
    case SMWIRE__REQUEST__OP_DICT_SET:
    case SMWIRE__REQUEST__OP_DICT_POP:
    case SMWIRE__REQUEST__OP_DICT_INCR:
    case SMWIRE__REQUEST__OP_DICT_SETDEFAULT:
    case SMWIRE__REQUEST__OP_NS_SET:
        body = &kv;
        break;
    case SMWIRE__REQUEST__OP_NS_DEL:
        key.key = "x";
        body = &key;
        break;
    case SMWIRE__REQUEST__OP_DICT_UPDATE:
        body = &items;
        break;
    case SMWIRE__REQUEST__OP_LIST_APPEND:
    case SMWIRE__REQUEST__OP_LIST_REMOVE:
    case SMWIRE__REQUEST__OP_VAR_SET:
    case SMWIRE__REQUEST__OP_VAR_ADD:
    case SMWIRE__REQUEST__OP_QUEUE_PUT:
        v1.i = 5;
        body = &v1;
        break;
    case SMWIRE__REQUEST__OP_LIST_POP:
    case SMWIRE__REQUEST__OP_SEM_RELEASE:
        ix.index = b->op_case == SMWIRE__REQUEST__OP_SEM_RELEASE ? 1 : -1;
        body = &ix;
        break;
    case SMWIRE__REQUEST__OP_LIST_SET:
    case SMWIRE__REQUEST__OP_LIST_INSERT:
    case SMWIRE__REQUEST__OP_ARRAY_SET:
    case SMWIRE__REQUEST__OP_ARRAY_ADD:
        body = &iv;
        break;
    case SMWIRE__REQUEST__OP_ARRAY_SET_SLICE:
        v2 = v1;
        body = &ivs;
        break;
    case SMWIRE__REQUEST__OP_LIST_SLICE:
    case SMWIRE__REQUEST__OP_ARRAY_GET_SLICE:
        body = &rg;
        break;
    case SMWIRE__REQUEST__OP_VAR_CAS:
        v2.str = "steady"; /* the var's value: applied, it would swap */
        body = &cas;
        break;
    case SMWIRE__REQUEST__OP_OPEN:
        body = &open;
        break;
    default:
        break;
    }
    req.version = 1;
    req.session = session;
    req.seq = seq;
    req.owner = 1;
    req.timeout_ms = 0;
    req.op_case = (Smwire__Request__OpCase)b->op_case;
    req.open = body; /* every member of the op oneof is a message pointer here */
    if (b->op_case != SMWIRE__REQUEST__OP_OPEN)
        req.obj = &ref;
    size_t n = smwire__request__get_packed_size(&req);
    assert_true(n <= MT_MAX_MSG);
    return smwire__request__pack(&req, buf);
}

/* ---------------------------------------------------------------- mutations */

/* One top-level field of a packed message: its bytes [off, off+len). */
typedef struct mt_field {
    size_t off, len;
    uint32_t num;
} mt_field;

static bool
mt_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && *pos < n; shift += 7) {
        uint8_t b = p[(*pos)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

static size_t
mt_put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    do {
        p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

/* mt_fields lists the top-level fields of p until one does not parse. */
static size_t
mt_fields(const uint8_t *p, size_t n, mt_field *out, size_t max)
{
    size_t pos = 0, k = 0;
    while (pos < n && k < max) {
        size_t start = pos;
        uint64_t tag, len;
        if (!mt_varint(p, n, &pos, &tag))
            break;
        switch (tag & 7) {
        case 0:
            if (!mt_varint(p, n, &pos, &len))
                return k;
            break;
        case 1:
            pos += 8;
            break;
        case 2:
            if (!mt_varint(p, n, &pos, &len) || len > n - pos)
                return k;
            pos += (size_t)len;
            break;
        case 5:
            pos += 4;
            break;
        default:
            return k;
        }
        if (pos > n)
            break;
        out[k].off = start;
        out[k].len = pos - start;
        out[k].num = (uint32_t)(tag >> 3);
        k++;
    }
    return k;
}

/* mt_append adds a field of varint value v (or, if body, bytes) to p. */
static size_t
mt_append_varint(uint8_t *p, size_t n, uint32_t num, uint64_t v)
{
    if (n + 24 > MT_MAX_MSG)
        return n;
    n += mt_put_varint(p + n, (uint64_t)num << 3);
    n += mt_put_varint(p + n, v);
    return n;
}

static const char *const mt_kind_names[] = {
    "bit flip", "byte change", "truncation", "insertion", "deletion", "duplicated field",
    "changed op number", "changed session", "changed object", "changed number",
};
enum { MT_NKINDS = 10 };

/* mt_mutate applies mutation kind to p (n bytes), returning the new length. */
static size_t
mt_mutate(uint8_t *p, size_t n, int kind)
{
    mt_field f[64];
    size_t nf;
    switch (kind) {
    case 0:
        if (n > 0)
            p[mt_below(n)] ^= (uint8_t)(1u << mt_below(8));
        return n;
    case 1:
        if (n > 0)
            p[mt_below(n)] = (uint8_t)mt_rand();
        return n;
    case 2:
        return mt_below(n + 1);
    case 3: {
        size_t at = mt_below(n + 1), k = 1 + mt_below(8);
        if (n + k > MT_MAX_MSG)
            return n;
        memmove(p + at + k, p + at, n - at);
        for (size_t i = 0; i < k; i++)
            p[at + i] = (uint8_t)mt_rand();
        return n + k;
    }
    case 4: {
        if (n == 0)
            return 0;
        size_t at = mt_below(n), k = 1 + mt_below(8);
        if (k > n - at)
            k = n - at;
        memmove(p + at, p + at + k, n - at - k);
        return n - k;
    }
    case 5:
        nf = mt_fields(p, n, f, N_ELEMS(f));
        if (nf > 0) {
            mt_field *d = &f[mt_below(nf)];
            if (n + d->len <= MT_MAX_MSG) {
                memmove(p + n, p + d->off, d->len);
                n += d->len;
            }
        }
        return n;
    case 6: {
        /* The op field (number 10 and up) under another op's number: its
         * body then decodes as that operation's message, or does not. */
        nf = mt_fields(p, n, f, N_ELEMS(f));
        for (size_t i = 0; i < nf; i++) {
            if (f[i].num < 10)
                continue;
            uint8_t tmp[MT_MAX_MSG + 16];
            size_t pos = f[i].off, t = 0;
            uint64_t tag;
            if (!mt_varint(p, n, &pos, &tag))
                return n;
            uint32_t num = 10 + (uint32_t)mt_below(160);
            t = mt_put_varint(tmp, ((uint64_t)num << 3) | (tag & 7));
            size_t rest = n - pos;
            if (f[i].off + t + rest > MT_MAX_MSG)
                return n;
            memcpy(tmp + t, p + pos, rest);
            memcpy(p + f[i].off, tmp, t + rest);
            return f[i].off + t + rest;
        }
        return n;
    }
    case 7: {
        /* The last occurrence wins: a session field appended overrides. */
        static const uint64_t few[] = {0, 1, 2, UINT64_MAX};
        uint64_t s = mt_below(3) == 0 ? few[mt_below(N_ELEMS(few))] : mt_rand();
        return mt_append_varint(p, n, 2, s);
    }
    case 8: {
        /* An ObjRef field appended: it merges into obj, replacing its id
         * and/or nonce. */
        uint8_t sub[32];
        size_t s = 0;
        if (mt_below(2)) {
            s += mt_put_varint(sub + s, 1u << 3);
            s += mt_put_varint(sub + s, mt_below(64));
        }
        s += mt_put_varint(sub + s, 2u << 3);
        s += mt_put_varint(sub + s, mt_rand());
        if (n + s + 4 > MT_MAX_MSG)
            return n;
        n += mt_put_varint(p + n, (5u << 3) | 2);
        n += mt_put_varint(p + n, s);
        memcpy(p + n, sub, s);
        return n + s;
    }
    default: {
        /* version 1, seq 3, timeout 4, owner 6, ack_below 7 */
        static const uint32_t nums[] = {1, 3, 4, 6, 7};
        static const uint64_t vals[] = {0, 1, 2, 0x7f, 0x80, UINT32_MAX, UINT64_MAX};
        uint64_t v = mt_below(2) ? vals[mt_below(N_ELEMS(vals))] : mt_rand();
        return mt_append_varint(p, n, nums[mt_below(N_ELEMS(nums))], v);
    }
    }
}

/* ---------------------------------------------------------------- the test */

typedef struct mt_stats {
    unsigned sent, skipped, undecodable_sent, ok, replayed, errors;
    unsigned batches_nothing; /* pipelined batches whose every operation failed */
    unsigned by_kind[MT_NKINDS];
    unsigned status[64];
} mt_stats;

/* mt_control shows that the check below is not vacuous: the raw sender's
 * requests are applied when they name an object rightly. On a throwaway
 * dict of the owner's, an unmutated DICT_SET from the raw session with the
 * right (id, nonce) succeeds and the owner sees it. */
static void
mt_control(mt_world *w, mt_raw *raw)
{
    sm_dict *d = NULL;
    mt_world tw;
    uint8_t buf[MT_MAX_MSG];
    memset(&tw, 0, sizeof(tw));
    assert_sm_ok(sm_dict_new(w->owner, &d));
    mt_know(&tw, 0, "throwaway dict", SMWIRE__OBJ_TYPE__OBJ_DICT, sm_dict_token(d));
    const mt_base set = {0, SMWIRE__REQUEST__OP_DICT_SET};
    size_t n = mt_pack_base(&tw, &set, raw->session, ++raw->seq, tw.known[0].id,
                            tw.known[0].nonce, buf);
    raw->ok_seqs[raw->n_ok_seqs++] = raw->seq; /* a repeat gets this reply */
    nng_msg *m = NULL;
    int rv = mt_roundtrip(raw, buf, n, &m);
    if (rv != 0)
        fail_msg("control DICT_SET: %s", nng_strerror(rv));
    Smwire__Reply *rep = smwire__reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    nng_msg_free(m);
    assert_non_null(rep);
    assert_int_equal(rep->status, SM_OK);
    smwire__reply__free_unpacked(rep, NULL);
    sm_value v = sm_value_nil();
    assert_sm_ok(sm_dict_get(d, "alpha", &v));
    smt_assert_value(&v, sm_value_int(77));
    sm_dict_close(d);
}

/* mt_batch_applied counts the operations of a BATCH reply that succeeded;
 * -1 when a sub-reply does not decode. */
static int
mt_batch_applied(const Smwire__Reply *rep)
{
    int applied = 0;
    for (size_t k = 0; k < rep->n_replies; k++) {
        Smwire__Reply *r = smwire__reply__unpack(NULL, rep->replies[k].len, rep->replies[k].data);
        if (r == NULL)
            return -1;
        if (r->status == SM_OK)
            applied++;
        smwire__reply__free_unpacked(r, NULL);
    }
    return applied;
}

static bool
mt_may_succeed(int op_case)
{
    return op_case == SMWIRE__REQUEST__OP_SESSION_OPEN ||
           op_case == SMWIRE__REQUEST__OP_SESSION_PING ||
           op_case == SMWIRE__REQUEST__OP_SESSION_CLOSE ||
           op_case == SMWIRE__REQUEST__OP_AUTH_HELLO || op_case == SMWIRE__REQUEST__OP_OPEN;
}

static void
test_mutation_random_requests_leave_known_objects_exactly_as_they_were(void **state)
{
    (void)state;
    mt_world w;
    mt_raw raw;
    mt_stats st;
    memset(&w, 0, sizeof(w));
    memset(&st, 0, sizeof(st));

    const char *seed_env = getenv("SMT_MUTATION_SEED");
    uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)smt_now_ns();
    mt_rng = seed ? seed : 1;
    printf("    seed %" PRIu64 " (SMT_MUTATION_SEED=%" PRIu64 " repeats this run)\n", seed, seed);

    mt_build(&w);
    mt_raw_open(&raw);
    mt_control(&w, &raw);

    uint8_t buf[MT_MAX_MSG + 64];
    for (unsigned i = 0; i < MT_MUTATIONS; i++) {
        const mt_base *b = &mt_bases[mt_below(N_ELEMS(mt_bases))];
        const mt_known *k = &w.known[b->k];
        bool own = mt_below(2) == 0; /* class B: the raw sender's own session */
        uint64_t session, id = k->id, nonce = k->nonce;
        if (own) {
            session = raw.session;
            do
                nonce = k->nonce ^ mt_rand();
            while (nonce == k->nonce);
            if (mt_below(4) == 0)
                id = k->id + 1 + mt_below(8);
        } else {
            session = mt_below(8) == 0 ? 0 : mt_rand();
        }
        size_t n = mt_pack_base(&w, b, session, ++raw.seq, id, nonce, buf);
        /* Mostly one mutation, so that many still decode and reach the
         * session and object checks; sometimes up to four. */
        unsigned nmut = mt_below(4) == 0 ? 2 + (unsigned)mt_below(3) : 1;
        for (unsigned m = 0; m < nmut; m++) {
            int kind = (int)mt_below(MT_NKINDS);
            st.by_kind[kind]++;
            n = mt_mutate(buf, n, kind);
        }

        /* What the server will see, decoded the same way. */
        Smwire__Request *req = smwire__request__unpack(NULL, n, buf);
        int op = req ? (int)req->op_case : -1;
        bool to_known = false;
        if (req != NULL && req->obj != NULL)
            for (int j = 0; j < MT_NKNOWN; j++)
                to_known |= req->obj->id == w.known[j].id && req->obj->nonce == w.known[j].nonce;
        bool own_session = req != NULL && req->session == raw.session;
        if (req != NULL && own_session && to_known) {
            /* Applying it would be legitimate: not what this test is about. */
            st.skipped++;
            smwire__request__free_unpacked(req, NULL);
            continue;
        }
        char what[160] = "does not decode";
        uint64_t seq = req != NULL ? req->seq : 0;
        if (req != NULL) {
            snprintf(what, sizeof(what),
                     "op %d, session %016" PRIx64 "%s, obj %" PRIu64 "/%016" PRIx64 ", seq %" PRIu64,
                     op, req->session, own_session ? " (the raw sender's)" : "",
                     req->obj ? req->obj->id : 0, req->obj ? req->obj->nonce : 0, req->seq);
            smwire__request__free_unpacked(req, NULL);
        }

        nng_msg *m = NULL;
        int rv = mt_roundtrip(&raw, buf, n, &m);
        if (rv != 0)
            fail_msg("mutation %u (%zu bytes, op %d): no reply: %s", i, n, op, nng_strerror(rv));
        st.sent++;
        if (req == NULL)
            st.undecodable_sent++;
        size_t outlen = nng_msg_len(m);
        Smwire__Reply *rep = smwire__reply__unpack(NULL, outlen, nng_msg_body(m));
        nng_msg_free(m);
        if (rep == NULL)
            fail_msg("mutation %u: the reply (%zu bytes) does not decode", i, outlen);
        uint32_t status = rep->status;
        /* A pipelined BATCH answers SM_OK with each operation's own reply:
         * it applied nothing if every one of those is an error. */
        int batch_applied = mt_batch_applied(rep);
        smwire__reply__free_unpacked(rep, NULL);
        st.status[status < N_ELEMS(st.status) ? status : N_ELEMS(st.status) - 1]++;
        if (status != SM_OK) {
            st.errors++;
            continue;
        }
        st.ok++;
        if (own_session && mt_seq_seen(&raw, seq)) {
            /* (session, seq) of a request that succeeded before: the server
             * answers from its reply memory, applying nothing. */
            st.replayed++;
            continue;
        }
        if (own_session && op == SMWIRE__REQUEST__OP_OPEN)
            raw.ok_seqs[raw.n_ok_seqs++] = seq;
        if (op < 0)
            fail_msg("mutation %u: a request that does not decode was answered SM_OK", i);
        (void)what;
        if (op == SMWIRE__REQUEST__OP_BATCH && batch_applied >= 0) {
            if (batch_applied > 0)
                fail_msg("mutation %u: a batch from a session that holds nothing of the known "
                         "objects applied %d operation(s): %s",
                         i, batch_applied, what);
            st.batches_nothing++;
            continue;
        }
        if (!mt_may_succeed(op))
            fail_msg("mutation %u: succeeded, from a session that holds nothing of the known "
                     "objects: %s",
                     i, what);
        if (op == SMWIRE__REQUEST__OP_SESSION_CLOSE && own_session)
            mt_raw_open_session(&raw); /* it closed its own session: a new one */
    }
    nng_close(raw.sock);

    printf("    %u mutated requests sent (%u did not decode), %u skipped as legitimately "
           "applicable; replies: %u SM_OK (session open/ping/close, open, auth hello; %u of "
           "them an earlier reply from memory; %u pipelined batches that applied nothing), "
           "%u errors\n",
           st.sent, st.undecodable_sent, st.skipped, st.ok, st.replayed, st.batches_nothing,
           st.errors);
    printf("    mutations applied:");
    for (int kind = 0; kind < MT_NKINDS; kind++)
        printf("%s %s %u", kind ? "," : "", mt_kind_names[kind], st.by_kind[kind]);
    printf("\n    error replies:");
    for (size_t s = 1; s < N_ELEMS(st.status); s++)
        if (st.status[s])
            printf(" %s %u", sm_errname((int)s), st.status[s]);
    printf("\n");
    assert_true(st.skipped < MT_MUTATIONS / 100);

    mt_check_unchanged(&w);
    mt_teardown_world(&w);

    /* A fresh client is served normally. */
    sm_client *c = NULL;
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    assert_sm_ok(sm_client_open(&c, smt_url(), &o));
    sm_dict *d = NULL;
    sm_list *l = NULL;
    sm_value v = sm_value_nil();
    size_t len = 0;
    assert_sm_ok(sm_dict_new(c, &d));
    assert_sm_ok(sm_dict_set(d, "after", SMV(sm_value_int(7))));
    assert_sm_ok(sm_dict_get(d, "after", &v));
    smt_assert_value(&v, sm_value_int(7));
    assert_sm_ok(sm_list_new(c, &l));
    assert_sm_ok(sm_list_append(l, SMV(sm_value_str("x"))));
    assert_sm_ok(sm_list_len(l, &len));
    assert_int_equal(len, 1);
    sm_list_close(l);
    sm_dict_close(d);
    sm_client_close(c);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutation_random_requests_leave_known_objects_exactly_as_they_were),
    };
    return SMT_MAIN("mutation", tests);
}
