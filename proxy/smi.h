/* smi.h - libsyncmgr's internal header: the client core, value codec and
 * the object base that every proxy type shares. Nothing here is API. */
#ifndef SMI_H
#define SMI_H

#include <stdint.h>

#include <nng/nng.h>

#include "smwire.pb-c.h"
#include "syncmgr.h"

#define SMI_PROTO_VERSION 1
#define SMI_MAX_NAME 255
#define SMI_MAX_KEY 65535
#define SMI_TOKEN_MAX 80

/* ---- status.c */

/* smi_fail records a detail for sm_errdetail() and returns rv. */
int smi_fail(int rv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* smi_detail_set copies the server's detail text (may be NULL). */
void smi_detail_set(const char *text);
void smi_detail_clear(void);

/* ---- value.c */

/* A wire value plus the storage its reference needs, so one stack slot or
 * one array element holds a complete request value. */
typedef struct smi_wval {
    Smwire__Value w;
    Smwire__ObjRef r;
} smi_wval;

/* smi_value_to_wire makes out describe v, borrowing v's memory. Returns
 * SM_OK or SM_EINVAL (v NULL, of no known kind, or a bad token). */
int smi_value_to_wire(const sm_value *v, smi_wval *out);
/* smi_values_to_wire does so for n values into one allocation; *ptrsp is
 * freed with free(). SM_ENOMEM, SM_EINVAL. */
int smi_values_to_wire(const sm_value *v, size_t n, Smwire__Value ***ptrsp);
/* smi_value_from_wire makes *out an owned copy; SM_EPROTO or SM_ENOMEM
 * leave *out untouched. */
int smi_value_from_wire(const Smwire__Value *w, sm_value *out);
/* smi_values_from_wire copies n values into a new array (NULL when n is 0). */
int smi_values_from_wire(Smwire__Value *const *w, size_t n, sm_value **outp);
/* smi_strings_from_wire copies n strings into a new array (NULL when 0). */
int smi_strings_from_wire(char *const *s, size_t n, char ***outp);

/* Tokens: "sm:TYPE:ID:NONCE" with ID and NONCE in hex. */
void smi_token_format(char *buf, size_t size, int type, uint64_t id, uint64_t nonce);
int smi_token_parse(const char *token, int *type, uint64_t *id, uint64_t *nonce);

/* ---- client.c */

/* smi_call sends req on c and waits for its reply. wait_ms is how long the
 * operation itself may wait in the server (0 for a non-blocking operation,
 * SM_WAIT_FOREVER for no bound); the transport deadline is the client's
 * call timeout on top of it. On SM_OK *repp is the reply (status SM_OK),
 * freed by the caller with smwire__reply__free_unpacked(*repp, NULL). Any
 * other status has its detail recorded and no reply. */
int smi_call(sm_client *c, Smwire__Request *req, int64_t wait_ms, Smwire__Reply **repp);
/* smi_call_ex is smi_call with no transport deadline when unbounded: for an
 * operation whose answer may wait past its own timeout (a condition wait
 * re-acquires its lock without one). A lost connection still ends it. */
int smi_call_ex(sm_client *c, Smwire__Request *req, int64_t wait_ms, bool unbounded,
                Smwire__Reply **repp);
/* smi_call_deadline is smi_call with a transport deadline of its own. */
int smi_call_deadline(sm_client *c, Smwire__Request *req, int64_t wait_ms, int64_t deadline_ms,
                      Smwire__Reply **repp);
/* NOTE: these return SM_EOWNERDEAD, a success, with *repp set as for SM_OK. */

/* ---- pool.c: an input's argument list on the wire: a varint count, then
 * a varint length and the bytes of each argument. */
#define SMI_MAX_ARGS 255
size_t smi_args_size(const sm_bytes *argv, int argc);
/* smi_args_pack writes smi_args_size() bytes to out; returns the end. */
uint8_t *smi_args_pack(const sm_bytes *argv, int argc, uint8_t *out);
/* smi_args_unpack points argv[0..*argc) into buf; SM_EPROTO if malformed
 * or more than max arguments. */
int smi_args_unpack(const uint8_t *buf, size_t len, sm_bytes *argv, int max, int *argc);

/* ---- object.c: what every proxy has */

typedef struct smi_obj {
    sm_client *c;
    uint64_t id;
    uint64_t nonce;
    int type; /* SMWIRE__OBJ_TYPE__... */
    char token[SMI_TOKEN_MAX];
} smi_obj;

/* smi_req_init starts a request on object o. */
void smi_req_init(Smwire__Request *req, Smwire__ObjRef *ref, const smi_obj *o);
/* smi_move sends a LIST_MOVE or QUEUE_MOVE (op_case) from src to the object
 * of dst_token (a list or a queue); out (may be NULL) gets the item. With
 * timeout_ms 0 it may be recorded in a batch; otherwise it may wait that
 * long in the server (a queue source) and is never batched. */
int smi_move(const smi_obj *src, int op_case, bool src_front, const char *dst_token,
             bool dst_front, int64_t timeout_ms, sm_value *out);

/* smi_obj_open sends OPEN (named when name is non-NULL) and fills o. On
 * SM_OK and repp non-NULL, *repp is the reply for shape fields. */
int smi_obj_open(sm_client *c, const char *name, Smwire__Open *op, smi_obj *o,
                 Smwire__Reply **repp);
int smi_obj_attach(sm_client *c, int type, const char *token, smi_obj *o, Smwire__Reply **repp);
int smi_obj_release(smi_obj *o);

/* Request helpers returning the reply's parts. out may be NULL. */
int smi_call_void(const smi_obj *o, Smwire__Request *req);
int smi_call_value(const smi_obj *o, Smwire__Request *req, sm_value *out);
int smi_call_values(const smi_obj *o, Smwire__Request *req, sm_value **valsp, size_t *np);
int smi_call_keys(const smi_obj *o, Smwire__Request *req, char ***keysp, size_t *np);
int smi_call_n(const smi_obj *o, Smwire__Request *req, int64_t *out);
int smi_call_flag(const smi_obj *o, Smwire__Request *req, bool *out);

/* What a reply gives back, for a call that may be recorded in a batch:
 * out1/out2 are the caller's output pointers (any may be NULL where the
 * immediate call allows it). VALUE: sm_value*; VALUES: sm_value**, size_t*;
 * KEYS: char***, size_t*; N: int64_t*; FLAG: bool*; CAS: sm_value* current,
 * bool* swapped. */
enum { SMI_R_VOID, SMI_R_VALUE, SMI_R_VALUES, SMI_R_KEYS, SMI_R_N, SMI_R_FLAG, SMI_R_CAS };
/* smi_reply_decode fills the outputs of kind from rep (status SM_OK). */
int smi_reply_decode(const Smwire__Reply *rep, int kind, void *out1, void *out2);
/* smi_batchable is the last step of a call that can be batched: while the
 * calling thread records a batch on o's client it records req (packed now)
 * and the outputs; otherwise it makes the round trip and decodes. */
int smi_batchable(const smi_obj *o, Smwire__Request *req, int kind, void *out1, void *out2);
/* ---- batch.c */
/* smi_recording: the batch the calling thread records for c, or NULL. */
sm_batch *smi_recording(const sm_client *c);
int smi_batch_add(sm_batch *b, const Smwire__Request *req, int kind, void *out1, void *out2);
/* smi_call_direct is smi_call (no wait) even while the thread records. */
int smi_call_direct(sm_client *c, Smwire__Request *req, Smwire__Reply **repp);
/* smi_client_call_batch sends a BATCH request on c (client.c). */
int smi_client_call_batch(sm_client *c, const uint8_t *batch, size_t len, Smwire__Reply **repp);
/* smi_last_fail_index: after a call failed in the server on this thread,
 * the index of an atomic batch's failed operation (-1 otherwise). */
int64_t smi_last_fail_index(void);

/* smi_op makes one round trip of operation op_case on o with body (an
 * Empty when NULL), carrying the calling thread's identity and wait_ms as
 * the operation's own timeout. On SM_OK, *repp (if repp is non-NULL) is the
 * reply to free with smwire__reply__free_unpacked. */
int smi_op(const smi_obj *o, int op_case, void *body, int64_t wait_ms, Smwire__Reply **repp);

/* smi_check_wait: a timeout is >= 0 or SM_WAIT_FOREVER; SM_EINVAL otherwise. */
int smi_check_wait(int64_t timeout_ms);

/* smi_thread_owner names the calling thread within this process. */
uint64_t smi_thread_owner(void);

/* smi_obj_typed_open opens an object of type `type` with a filled Open
 * (name NULL: anonymous) into a freshly allocated proxy of size bytes whose
 * first member is an smi_obj; *repp as for smi_obj_open. */
int smi_obj_typed_open(sm_client *c, const char *name, Smwire__Open *op, size_t size, void **pp,
                       Smwire__Reply **repp);

/* smi_check_key: non-NULL, 1..max bytes; SM_EINVAL otherwise. */
int smi_check_key(const char *key, size_t max);

/* SMI_PROXY defines the ways in and out that every proxy type T shares:
 * sm_T_attach, sm_T_token and sm_T_close, over a struct sm_T { smi_obj o; }. */
#define SMI_PROXY(T, WIRETYPE)                                                                   \
    struct sm_##T {                                                                              \
        smi_obj o;                                                                               \
    };                                                                                           \
    int sm_##T##_attach(sm_client *c, const char *token, sm_##T **out)                           \
    {                                                                                            \
        if (out == NULL)                                                                         \
            return smi_fail(SM_EINVAL, "no output pointer");                                     \
        sm_##T *p = calloc(1, sizeof(*p));                                                       \
        if (p == NULL)                                                                           \
            return SM_ENOMEM;                                                                    \
        int rv = smi_obj_attach(c, WIRETYPE, token, &p->o, NULL);                                \
        if (rv != SM_OK) {                                                                       \
            free(p);                                                                             \
            return rv;                                                                           \
        }                                                                                        \
        *out = p;                                                                                \
        return SM_OK;                                                                            \
    }                                                                                            \
    const char *sm_##T##_token(const sm_##T *p)                                                  \
    {                                                                                            \
        return p != NULL ? p->o.token : "";                                                      \
    }                                                                                            \
    int sm_##T##_close(sm_##T *p)                                                                \
    {                                                                                            \
        if (p == NULL)                                                                           \
            return SM_OK;                                                                        \
        int rv = smi_obj_release(&p->o);                                                         \
        free(p);                                                                                 \
        return rv;                                                                               \
    }

/* SMI_PROXY_PLAIN adds sm_T_open and sm_T_new for a type created with no
 * parameters (dict, list, namespace). */
#define SMI_PROXY_PLAIN(T, WIRETYPE)                                                             \
    static int T##_open_common(sm_client *c, const char *name, sm_##T **out)                     \
    {                                                                                            \
        if (out == NULL)                                                                         \
            return smi_fail(SM_EINVAL, "no output pointer");                                     \
        sm_##T *p = calloc(1, sizeof(*p));                                                       \
        if (p == NULL)                                                                           \
            return SM_ENOMEM;                                                                    \
        Smwire__Open op = SMWIRE__OPEN__INIT;                                                    \
        op.type = WIRETYPE;                                                                      \
        int rv = smi_obj_open(c, name, &op, &p->o, NULL);                                        \
        if (rv != SM_OK) {                                                                       \
            free(p);                                                                             \
            return rv;                                                                           \
        }                                                                                        \
        *out = p;                                                                                \
        return SM_OK;                                                                            \
    }                                                                                            \
    int sm_##T##_open(sm_client *c, const char *name, sm_##T **out)                              \
    {                                                                                            \
        if (name == NULL)                                                                        \
            return smi_fail(SM_EINVAL, "no name");                                               \
        return T##_open_common(c, name, out);                                                    \
    }                                                                                            \
    int sm_##T##_new(sm_client *c, sm_##T **out)                                                 \
    {                                                                                            \
        return T##_open_common(c, NULL, out);                                                    \
    }

#endif
