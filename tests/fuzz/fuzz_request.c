/* fuzz_request.c - libFuzzer target over syncmgrd's request path.
 *
 * Every input is a sequence of requests (fuzz_request.h gives the format)
 * fed to one srv_state through srv_handle_into / srv_handle_bytes, the
 * whole request path without sockets. The state is kept across inputs, so
 * sessions, objects, held locks and parked waits built by one input meet
 * the next; it is made afresh every FZ_RESET_EVERY inputs, or sooner when
 * it has grown (objects, or heap bytes under ASan), and freed at exit, so
 * memory stays bounded and LeakSanitizer still sees anything
 * srv_state_fini fails to free.
 *
 * Checked for every reply, direct or late (a parked request answered
 * later through hooks.send): it decodes as a Reply; its status is a
 * status, not an internal code; a request that does not decode is answered
 * with an error. Any failure aborts (libFuzzer keeps the input), or, for the
 * regression test, is printed and counted. An array OPEN longer than
 * FZ_MAX_ARRAY is shortened first (see there).
 *
 * Exported: fz_start, fz_run, fz_reset, fz_stop, fz_failures, fz_requests,
 * LLVMFuzzerInitialize, LLVMFuzzerTestOneInput. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_request.h"
#include "srv.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FZ_ASAN 1
#endif
#ifdef FZ_ASAN
/* From the sanitizer runtime (gcc 12 ships no header for it). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#define FZ_RESET_EVERY 1000           /* inputs per state */
#define FZ_RESET_OBJECTS 256          /* live objects that call for a fresh state */
#define FZ_RESET_BYTES (256u << 20)   /* heap bytes (ASan builds) likewise */
#define FZ_MAX_STATUS 255             /* SM_ statuses are small; -1, -2 are internal */
/* Arrays opened here are at most this long. The server takes up to
 * SRV_MAX_ARRAY (16M) elements; before get_slice replies were bounded (1M
 * elements, obj_array.c), one ARRAY_GET_SLICE of such an array cost about
 * 1.4 GB and 5 s under the state lock. Arrays of 16M elements (128 MB of
 * doubles, more under ASan) would still make each input slow and press on
 * libFuzzer's 2 GB limit, so the clamp stays to keep the fuzzer fast. */
#define FZ_MAX_ARRAY 65536

/* Small limits, within reach of one 4 KiB input (values) or of a few kept
 * in one state (keys, items, objects): the limit paths get exercised, and
 * growth stays cheap. */
static const srv_limits fz_limits = {
    .max_value = 1024,
    .max_keys = 1024,
    .max_items = 1024,
    .max_objects = 256,
    .max_sessions = 64,
    .max_waits = 64,
};

static const int64_t fz_delay_ms[8] = FZ_DELAYS_MS;

static srv_state fz_st;
static bool fz_live;
static bool fz_abort = true;
static bool fz_trace; /* $FZ_TRACE: print every request's operation and reply */
static unsigned fz_inputs; /* since the state was made */
static uint64_t fz_nfail, fz_nreq;
static uint64_t fz_seq;    /* fresh sequence numbers (FZ_SEQ) */
static char fz_conn;       /* the one "connection": its address is the handle */

/* What the server handed out, newest first. */
static uint64_t fz_sess[FZ_NSESS];
static size_t fz_nsess;
static Smwire__ObjRef fz_refs[FZ_NREFS];
static size_t fz_nrefs;

/* ------------------------------------------------------------------ failures */

static void fz_fail(const uint8_t *bytes, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fz_fail(const uint8_t *bytes, size_t len, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "fuzz_request: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (%zu bytes:", len);
    for (size_t i = 0; i < len && i < 64; i++)
        fprintf(stderr, " %02x", bytes[i]);
    fprintf(stderr, "%s)\n", len > 64 ? " ..." : "");
    fz_nfail++;
    if (fz_abort)
        abort();
}

/* ------------------------------------------------------ what the server gave */

static void
fz_note_session(uint64_t id)
{
    memmove(&fz_sess[1], &fz_sess[0], (FZ_NSESS - 1) * sizeof(fz_sess[0]));
    fz_sess[0] = id;
    if (fz_nsess < FZ_NSESS)
        fz_nsess++;
}

static void
fz_note_ref(const Smwire__ObjRef *r)
{
    memmove(&fz_refs[1], &fz_refs[0], (FZ_NREFS - 1) * sizeof(fz_refs[0]));
    smwire__obj_ref__init(&fz_refs[0]);
    fz_refs[0].id = r->id;
    fz_refs[0].nonce = r->nonce;
    fz_refs[0].type = r->type;
    if (fz_nrefs < FZ_NREFS)
        fz_nrefs++;
}

/* fz_check_reply unpacks a reply and checks it; what it hands out (a new
 * session, objects) is remembered for FZ_SESSION and FZ_REFS. req_ok says
 * whether the request decoded (a direct reply to one that did not must be
 * an error); late replies pass true. */
static void
fz_check_reply(const uint8_t *buf, size_t len, bool req_ok, const char *what)
{
    Smwire__Reply *rep = smwire__reply__unpack(NULL, len, buf);
    if (rep == NULL) {
        fz_fail(buf, len, "%s does not decode as a Reply", what);
        return;
    }
    if (fz_trace)
        fprintf(stderr, "fuzz_request:   %s: status %u%s%s\n", what, rep->status,
                rep->detail && rep->detail[0] ? ": " : "", rep->detail ? rep->detail : "");
    if (rep->status > FZ_MAX_STATUS)
        fz_fail(buf, len, "%s has status %u, not an SM_ status", what, rep->status);
    if (!req_ok && rep->status == SM_OK)
        fz_fail(buf, len, "%s: a request that does not decode was answered SM_OK", what);
    if (rep->status == SM_OK && rep->session != 0)
        fz_note_session(rep->session);
    if (rep->lock != NULL)
        fz_note_ref(rep->lock);
    if (rep->obj != NULL)
        fz_note_ref(rep->obj); /* after the lock: a condition is the newer */
    smwire__reply__free_unpacked(rep, NULL);
}

/* ------------------------------------------------------------- server hooks */

static void
fz_hook_send(void *arg, void *conn, const uint8_t *buf, size_t len)
{
    (void)arg;
    if (conn != &fz_conn)
        fz_fail(buf, len, "late reply for a connection %p that never sent", conn);
    fz_check_reply(buf, len, true, "late reply");
}

static void
fz_hook_kick(void *arg)
{
    (void)arg;
}

static void
fz_hook_release(void *arg, void *conn)
{
    (void)arg;
    if (conn != &fz_conn)
        fz_fail(NULL, 0, "release of a connection %p that never sent", conn);
}

static void *
fz_alloc(void *arg, size_t size)
{
    uint8_t **p = arg;
    *p = malloc(size ? size : 1);
    return *p;
}

/* ------------------------------------------------------------------ patching */

static void
fz_patch_ref(Smwire__ObjRef *r)
{
    if (r->nonce != 0 || fz_nrefs == 0)
        return;
    const Smwire__ObjRef *k = &fz_refs[r->id % fz_nrefs];
    r->id = k->id;
    r->nonce = k->nonce;
    if (r->type == SMWIRE__OBJ_TYPE__OBJ_NONE)
        r->type = k->type;
}

/* fz_patch_refs walks m through protobuf-c's descriptors and patches every
 * ObjRef (the schema has no recursion: the depth is bounded). */
static void
fz_patch_refs(ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (d == &smwire__obj_ref__descriptor) {
        fz_patch_ref((Smwire__ObjRef *)(void *)m);
        return;
    }
    char *base = (char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n;
            ProtobufCMessage **v;
            memcpy(&n, base + f->quantifier_offset, sizeof(n));
            memcpy(&v, base + f->offset, sizeof(v));
            for (size_t k = 0; k < n; k++)
                if (v[k] != NULL)
                    fz_patch_refs(v[k]);
            continue;
        }
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which;
            memcpy(&which, base + f->quantifier_offset, sizeof(which));
            if (which != f->id)
                continue;
        }
        ProtobufCMessage *sub;
        memcpy(&sub, base + f->offset, sizeof(sub));
        if (sub != NULL)
            fz_patch_refs(sub);
    }
}

/* ------------------------------------------------------------------- records */

static void
fz_one(unsigned ctl, const uint8_t *data, size_t len)
{
    const uint8_t *req = data;
    size_t reqlen = len;
    uint8_t *patched = NULL;

    if (len == 0 && (ctl & FZ_EXPIRE)) { /* a tick of the timer alone */
        srv_expire(&fz_st, srv_now_ms() + fz_delay_ms[FZ_DELAY(ctl)]);
        return;
    }

    Smwire__Request *r = smwire__request__unpack(NULL, len, data);
    bool decodes = r != NULL;
    bool clamp = r != NULL && r->op_case == SMWIRE__REQUEST__OP_OPEN && r->open != NULL &&
                 r->open->type == SMWIRE__OBJ_TYPE__OBJ_ARRAY && r->open->length > FZ_MAX_ARRAY;
    if (fz_trace)
        fprintf(stderr, "fuzz_request: ctl %02x, %zu bytes, op %d\n", ctl, len,
                r ? (int)r->op_case : -1);
    if (clamp)
        r->open->length = 1 + r->open->length % FZ_MAX_ARRAY;
    if (r != NULL && ((ctl & FZ_PATCH) != 0 || clamp)) {
        if ((ctl & FZ_SESSION) && fz_nsess > 0)
            r->session = fz_sess[r->session % fz_nsess];
        if (ctl & FZ_SEQ)
            r->seq = ++fz_seq;
        if (ctl & FZ_REFS)
            fz_patch_refs(&r->base);
        reqlen = smwire__request__get_packed_size(r);
        patched = malloc(reqlen ? reqlen : 1);
        if (patched == NULL)
            abort();
        smwire__request__pack(r, patched);
        req = patched;
    }
    if (r != NULL)
        smwire__request__free_unpacked(r, NULL);

    uint8_t *out = NULL;
    size_t outlen = 0;
    bool parked = false;
    int rv;
    fz_nreq++;
    if (ctl & FZ_NOCONN) {
        rv = srv_handle_bytes(&fz_st, req, reqlen, &out, &outlen);
        parked = out == NULL && rv == SM_OK;
    } else {
        rv = srv_handle_into(&fz_st, req, reqlen, fz_alloc, &out, &fz_conn, &parked, &outlen);
    }
    if (rv != SM_OK)
        fz_fail(req, reqlen, "srv_handle returned %d", rv);
    else if (!parked)
        fz_check_reply(out, outlen, decodes, "reply");
    free(out);
    free(patched);

    if (ctl & FZ_EXPIRE)
        srv_expire(&fz_st, srv_now_ms() + fz_delay_ms[FZ_DELAY(ctl)]);
}

/* ------------------------------------------------------------------- harness */

static int
fz_make(void)
{
    if (srv_state_init(&fz_st) != SM_OK)
        return -1;
    fz_st.limits = fz_limits;
    fz_st.hooks.send = fz_hook_send;
    fz_st.hooks.kick = fz_hook_kick;
    fz_st.hooks.release = fz_hook_release;
    fz_live = true;
    fz_inputs = 0;
    fz_nsess = 0;
    fz_nrefs = 0;
    return 0;
}

int
fz_start(bool abort_on_failure)
{
    fz_abort = abort_on_failure;
    fz_trace = getenv("FZ_TRACE") != NULL;
    srv_log_level = SRV_LOG_NONE;
    if (fz_live)
        fz_stop();
    return fz_make();
}

void
fz_stop(void)
{
    if (!fz_live)
        return;
    srv_state_fini(&fz_st);
    /* Forget every pointer: what fini did not free is then unreachable,
     * so LeakSanitizer reports it instead of finding it through fz_st. */
    memset(&fz_st, 0, sizeof(fz_st));
    fz_live = false;
}

void
fz_reset(void)
{
    fz_stop();
    if (fz_make() != 0)
        abort();
}

static bool
fz_grown(void)
{
    if (fz_inputs >= FZ_RESET_EVERY || fz_st.nobjects >= FZ_RESET_OBJECTS)
        return true;
#ifdef FZ_ASAN
    if (__sanitizer_get_current_allocated_bytes() > FZ_RESET_BYTES)
        return true;
#endif
    return false;
}

void
fz_run(const uint8_t *data, size_t size)
{
    if (!fz_live && fz_make() != 0)
        abort();
    if (fz_grown())
        fz_reset();
    fz_inputs++;
    while (size >= FZ_HDR) {
        unsigned ctl = data[0];
        size_t len = (size_t)data[1] | (size_t)data[2] << 8;
        data += FZ_HDR;
        size -= FZ_HDR;
        if (len > size)
            len = size;
        fz_one(ctl, data, len);
        data += len;
        size -= len;
    }
}

uint64_t
fz_failures(void)
{
    return fz_nfail;
}

uint64_t
fz_requests(void)
{
    return fz_nreq;
}

/* ----------------------------------------------------------------- libFuzzer */

static void
fz_atexit(void)
{
    fz_stop(); /* before LeakSanitizer's exit check: what is left is a leak */
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (fz_start(true) != 0)
        abort();
    atexit(fz_atexit);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_run(data, size);
    return 0;
}
