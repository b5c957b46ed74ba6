/* test_auth.c - the authkey (proxy/auth.h has the protocol): who gets in,
 * what a peer without the key can do (nothing), and the per-request MAC.
 *
 * Each test that needs a keyed server starts its own syncmgrd with
 * --authkey-file (a temporary file holding KEY and a newline, which is not
 * part of the key) and --max-sessions 3, and opens one good client on it;
 * the session limit lets the tests prove exactly how many sessions the
 * server holds. The group's own server (smt.c) has no key.
 *
 * - The right key, from sm_client_opts, from $SYNCMGR_AUTHKEY_FILE or from
 *   $SYNCMGR_AUTHKEY, opens a client whose calls work with exact values, as
 *   the good client sees them; the options come before the environment and
 *   the file before the text.
 * - A wrong key (one bit off, one byte short, one byte long) and no key at
 *   all are SM_EAUTH with the detail exactly "authentication failed", and
 *   twelve such attempts leave the server as it was: a counter is unchanged
 *   and no session was made (two more good clients fit under the limit of
 *   three, a third does not).
 * - A client with a key, against a server without one: SM_EAUTH, "does not
 *   authenticate"; against a server that answers the handshake but cannot
 *   prove the key (a random proof, or none): SM_EAUTH, "did not prove".
 * - A key file the client cannot read is SM_EINVAL naming it; one syncmgrd
 *   cannot read, or an empty one, stops it with exit status 2.
 * - An idle keyed client outlives its 1 s lease by 2.5x: its heartbeats
 *   carry the MAC too.
 * - The handshake on a raw REQ socket: a correct AUTH_HELLO + SESSION_OPEN
 *   gets a session and the server's proof; the same SESSION_OPEN bytes
 *   again, an OPEN for a challenge never issued, a proof with one bit
 *   flipped (after which even the right proof for that challenge fails),
 *   and a challenge used with another client nonce are all SM_EAUTH, and
 *   none of them made a session.
 * - Requests of the raw session: with the right trailer they work; with one
 *   byte of the body changed, without a trailer, or with a trailer under
 *   another key they are SM_EAUTH and change nothing (nor use up their
 *   sequence number); the exact bytes of an increment sent again get the
 *   first reply byte for byte and apply once; the same increment with a new
 *   seq and the old trailer is SM_EAUTH; once acknowledged, a copy is
 *   refused as late (SM_EPROTO) and applies nothing; a SESSION_CLOSE
 *   without the MAC does not end the session, one with it does, and then
 *   the session's requests are SM_ESESSION.
 * - syncmgrd refuses --listen tcp://0.0.0.0:0 (and [::]) without a key,
 *   exit status 2, naming the URL and --insecure; with --authkey-file or
 *   --insecure it listens there and serves. */
#include "smt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "auth.h"
#include "smwire.pb-c.h"

#define KEY "correct horse battery staple"
#define MAX_SESSIONS 3
#define RAW_LEASE_MS 60000 /* the raw session's lease: it cannot lapse in a test */
#define RAW_RECV_MS 10000  /* how long a raw request waits for its reply */
#define SPAWN_MS 10000     /* how long syncmgrd may take to listen, or to exit */
#define IDLE_LEASE_MS 1000 /* the lease of the client that stays idle past it */
#define SMV(expr) ((const sm_value[]){expr})
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* One test's keyed server, its key file and a good client on it. */
typedef struct fx {
    smt_server srv;
    char dir[64];
    char keyfile[128];
    char wrongfile[128]; /* a file holding a wrong key */
    char dname[128];     /* a dict the test uses */
    sm_client *good;
    sm_dict *gd;
} fx;

/* ---------------------------------------------------------------- helpers */

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* open_keyed opens a client on url with key (NULL: none in the options). */
static int
open_keyed(const char *url, const char *key, size_t len, sm_client **cp)
{
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    o.authkey = key;
    o.authkey_len = len;
    *cp = NULL;
    return sm_client_open(cp, url, &o);
}

static int
fx_setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/smt-auth.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->keyfile, sizeof(f->keyfile), "%s/key", f->dir);
    snprintf(f->wrongfile, sizeof(f->wrongfile), "%s/wrong", f->dir);
    write_file(f->keyfile, KEY "\n");
    write_file(f->wrongfile, "not the key\n");
    snprintf(f->dname, sizeof(f->dname), "%s", smt_name("auth"));
    char maxs[16];
    snprintf(maxs, sizeof(maxs), "%d", MAX_SESSIONS);
    const char *extra[] = {"--authkey-file", f->keyfile, "--max-sessions", maxs, NULL};
    if (smt_server_spawn(&f->srv, smt_transport(), extra) != 0)
        goto fail;
    int rv = open_keyed(f->srv.url, KEY, strlen(KEY), &f->good);
    if (rv == SM_OK)
        rv = sm_dict_open(f->good, f->dname, &f->gd);
    if (rv != SM_OK) {
        fprintf(stderr, "good client on %s: %s (%s)\n", f->srv.url, sm_errname(rv),
                sm_errdetail());
        sm_client_close(f->good);
        smt_server_kill(&f->srv);
        goto fail;
    }
    *state = f;
    return 0;
fail:
    unlink(f->keyfile);
    unlink(f->wrongfile);
    rmdir(f->dir);
    free(f);
    return -1;
}

static int
fx_teardown(void **state)
{
    fx *f = *state;
    sm_dict_close(f->gd);
    sm_client_close(f->good);
    int st = smt_server_stop(&f->srv);
    unlink(f->keyfile);
    unlink(f->wrongfile);
    rmdir(f->dir);
    free(f);
    if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        fprintf(stderr, "keyed syncmgrd did not exit cleanly (status %d)\n", st);
        return -1;
    }
    return 0;
}

/* assert_detail fails unless the last call's detail is exactly want. */
#define assert_detail(want) assert_string_equal(sm_errdetail(), (want))

/* use_dict checks that client c works: d[name]["n"] += 1 and "s" reads
 * back, both as the good client sees them. Returns nothing; asserts. */
static void
use_dict(fx *f, sm_client *c, int64_t n_before)
{
    sm_dict *d;
    sm_value v = sm_value_nil();
    assert_sm_ok(sm_dict_open(c, f->dname, &d));
    assert_sm_ok(sm_dict_incr(d, "n", SMV(sm_value_int(1)), &v));
    smt_assert_value(&v, sm_value_int(n_before + 1));
    assert_sm_ok(sm_dict_set(d, "s", SMV(sm_value_str("hello"))));
    sm_value_clear(&v);
    assert_sm_ok(sm_dict_get(d, "s", &v));
    smt_assert_value_is(&v, SMV(sm_value_str("hello")));
    sm_value_clear(&v);
    assert_sm_ok(sm_dict_close(d));
    assert_int_equal(smt_dict_int(f->gd, "n"), n_before + 1);
    assert_sm_ok(sm_dict_get(f->gd, "s", &v));
    smt_assert_value_is(&v, SMV(sm_value_str("hello")));
    sm_value_clear(&v);
}

/* assert_sessions_left proves the server holds MAX_SESSIONS - left
 * sessions: `left` more good clients open, one more is SM_ELIMIT. */
static void
assert_sessions_left(fx *f, int left)
{
    sm_client *c[MAX_SESSIONS + 1] = {0};
    for (int i = 0; i < left; i++)
        assert_sm_ok(open_keyed(f->srv.url, KEY, strlen(KEY), &c[i]));
    sm_client *extra = NULL;
    assert_sm_status(open_keyed(f->srv.url, KEY, strlen(KEY), &extra), SM_ELIMIT);
    for (int i = 0; i < left; i++)
        sm_client_close(c[i]);
}

/* ------------------------------------------------------- raw REQ sessions */

/* A REQ socket that speaks the wire protocol itself. */
typedef struct raw {
    nng_socket sock;
    uint64_t session;
    uint8_t skey[SMAUTH_MAC];
    uint8_t last_reply[4096]; /* the bytes of the last reply */
    size_t last_len;
} raw;

static void
raw_dial(raw *r, const char *url)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(nng_req0_open(&r->sock), 0);
    /* nng must not send a request again by itself: that would be a replay
     * the test did not ask for. */
    assert_int_equal(nng_socket_set_ms(r->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE), 0);
    assert_int_equal(nng_socket_set_ms(r->sock, NNG_OPT_RECVTIMEO, RAW_RECV_MS), 0);
    assert_int_equal(nng_dial(r->sock, url, NULL, 0), 0);
}

static void
raw_close(raw *r)
{
    nng_close(r->sock);
}

/* pack packs req, with the MAC trailer under skey unless skey is NULL.
 * Returns malloc'd bytes (*lenp of them). */
static uint8_t *
pack(const Smwire__Request *req, const uint8_t *skey, size_t *lenp)
{
    size_t n = smwire__request__get_packed_size(req);
    uint8_t *b = malloc(n + SMAUTH_TRAILER);
    assert_non_null(b);
    assert_int_equal(smwire__request__pack(req, b), n);
    if (skey != NULL) {
        smauth_trailer(skey, b, n, b + n);
        n += SMAUTH_TRAILER;
    }
    *lenp = n;
    return b;
}

/* raw_send sends len bytes and returns the unpacked reply (the caller
 * frees it); the reply's bytes stay in r->last_reply. */
static Smwire__Reply *
raw_send(raw *r, const uint8_t *bytes, size_t len)
{
    void *buf = NULL;
    size_t sz = 0;
    assert_int_equal(nng_send(r->sock, (void *)bytes, len, 0), 0);
    assert_int_equal(nng_recv(r->sock, &buf, &sz, NNG_FLAG_ALLOC), 0);
    assert_true(sz <= sizeof(r->last_reply));
    if (sz > 0) /* an SM_OK with nothing else packs to no bytes at all */
        memcpy(r->last_reply, buf, sz);
    r->last_len = sz;
    Smwire__Reply *rep = smwire__reply__unpack(NULL, sz, buf);
    nng_free(buf, sz);
    assert_non_null(rep);
    return rep;
}

/* raw_status sends len bytes and returns the reply's status; *detail (if
 * not NULL) gets a copy of its detail. */
static int
raw_status(raw *r, const uint8_t *bytes, size_t len, char *detail, size_t dsize)
{
    Smwire__Reply *rep = raw_send(r, bytes, len);
    int st = (int)rep->status;
    if (detail != NULL)
        snprintf(detail, dsize, "%s", rep->detail != NULL ? rep->detail : "");
    smwire__reply__free_unpacked(rep, NULL);
    return st;
}

/* raw_hello asks for a challenge for cnonce (fresh random bytes unless
 * keep) and puts it in snonce. */
static void
raw_hello(raw *r, uint8_t cnonce[SMAUTH_NONCE], bool keep, uint8_t snonce[SMAUTH_NONCE])
{
    Smwire__Request req = SMWIRE__REQUEST__INIT;
    Smwire__AuthHello h = SMWIRE__AUTH_HELLO__INIT;
    if (!keep)
        assert_true(smauth_random(cnonce, SMAUTH_NONCE));
    h.client_nonce.data = cnonce;
    h.client_nonce.len = SMAUTH_NONCE;
    req.version = 1;
    req.op_case = SMWIRE__REQUEST__OP_AUTH_HELLO;
    req.auth_hello = &h;
    size_t len;
    uint8_t *b = pack(&req, NULL, &len);
    Smwire__Reply *rep = raw_send(r, b, len);
    free(b);
    assert_int_equal(rep->status, SM_OK);
    assert_int_equal(rep->challenge.len, SMAUTH_NONCE);
    memcpy(snonce, rep->challenge.data, SMAUTH_NONCE);
    smwire__reply__free_unpacked(rep, NULL);
}

/* open_bytes packs a SESSION_OPEN with these nonces and proof. */
static uint8_t *
open_bytes(const uint8_t *cnonce, const uint8_t *snonce, const uint8_t *proof, size_t *lenp)
{
    Smwire__Request req = SMWIRE__REQUEST__INIT;
    Smwire__SessionOpen so = SMWIRE__SESSION_OPEN__INIT;
    so.lease_ms = RAW_LEASE_MS;
    so.client_nonce.data = (uint8_t *)cnonce;
    so.client_nonce.len = SMAUTH_NONCE;
    so.server_nonce.data = (uint8_t *)snonce;
    so.server_nonce.len = SMAUTH_NONCE;
    so.proof.data = (uint8_t *)proof;
    so.proof.len = SMAUTH_MAC;
    req.version = 1;
    req.op_case = SMWIRE__REQUEST__OP_SESSION_OPEN;
    req.session_open = &so;
    return pack(&req, NULL, lenp);
}

/* assert_open_refused sends a SESSION_OPEN and asserts SM_EAUTH with the
 * one detail, no session and no proof. */
static void
assert_open_refused(raw *r, const uint8_t *bytes, size_t len)
{
    Smwire__Reply *rep = raw_send(r, bytes, len);
    assert_int_equal(rep->status, SM_EAUTH);
    assert_string_equal(rep->detail, "authentication failed");
    assert_int_equal(rep->session, 0);
    assert_int_equal(rep->proof.len, 0);
    smwire__reply__free_unpacked(rep, NULL);
}

/* raw_login does the whole handshake with KEY and keeps the session key. */
static void
raw_login(raw *r)
{
    uint8_t cn[SMAUTH_NONCE], sn[SMAUTH_NONCE], proof[SMAUTH_MAC], want[SMAUTH_MAC];
    raw_hello(r, cn, false, sn);
    smauth_client_proof((const uint8_t *)KEY, strlen(KEY), sn, cn, proof);
    size_t len;
    uint8_t *b = open_bytes(cn, sn, proof, &len);
    Smwire__Reply *rep = raw_send(r, b, len);
    free(b);
    assert_int_equal(rep->status, SM_OK);
    assert_int_not_equal(rep->session, 0);
    assert_int_equal(rep->m, RAW_LEASE_MS);
    smauth_server_proof((const uint8_t *)KEY, strlen(KEY), sn, cn, want);
    assert_int_equal(rep->proof.len, SMAUTH_MAC);
    assert_memory_equal(rep->proof.data, want, SMAUTH_MAC);
    r->session = rep->session;
    smwire__reply__free_unpacked(rep, NULL);
    smauth_session_key((const uint8_t *)KEY, strlen(KEY), sn, cn, r->skey);
}

/* req_init starts a request of the raw session with sequence number seq. */
static void
req_init(const raw *r, Smwire__Request *req, uint64_t seq)
{
    Smwire__Request init = SMWIRE__REQUEST__INIT;
    *req = init;
    req->version = 1;
    req->session = r->session;
    req->seq = seq;
    req->ack_below = 1;
}

/* dict_kv_bytes packs a DICT_SET or DICT_INCR of the raw session. */
static uint8_t *
dict_kv_bytes(const raw *r, const Smwire__ObjRef *obj, uint64_t seq, int op, const char *key,
              Smwire__Value *val, const uint8_t *skey, size_t *lenp)
{
    Smwire__Request req;
    Smwire__KeyValue kv = SMWIRE__KEY_VALUE__INIT;
    req_init(r, &req, seq);
    kv.key = (char *)key;
    kv.value = val;
    req.obj = (Smwire__ObjRef *)obj;
    req.op_case = op;
    if (op == SMWIRE__REQUEST__OP_DICT_SET)
        req.dict_set = &kv;
    else
        req.dict_incr = &kv;
    return pack(&req, skey, lenp);
}

/* pack_ack_get packs a DICT_LEN of the raw session with ack_below set. */
static uint8_t *
pack_ack_get(const raw *r, const Smwire__ObjRef *obj, uint64_t seq, uint64_t ack_below,
             size_t *lenp)
{
    Smwire__Request req;
    Smwire__Empty empty = SMWIRE__EMPTY__INIT;
    req_init(r, &req, seq);
    req.ack_below = ack_below;
    req.obj = (Smwire__ObjRef *)obj;
    req.op_case = SMWIRE__REQUEST__OP_DICT_LEN;
    req.dict_len = &empty;
    return pack(&req, r->skey, lenp);
}

/* find locates needle in hay; asserts it is there. */
static size_t
find(const uint8_t *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return i;
    fail_msg("'%s' is not in the packed request", needle);
    return 0;
}

/* ------------------------------------------------------- who gets in */

static void
test_auth_right_key_in_options_works(void **state)
{
    fx *f = *state;
    sm_client *c;
    assert_sm_ok(open_keyed(f->srv.url, KEY, strlen(KEY), &c));
    use_dict(f, c, 0);
    /* Many requests, each with its own MAC, all accepted. */
    sm_dict *d;
    sm_value v = sm_value_nil();
    assert_sm_ok(sm_dict_open(c, f->dname, &d));
    for (int i = 0; i < 100; i++)
        assert_sm_ok(sm_dict_incr(d, "n", SMV(sm_value_int(2)), &v));
    smt_assert_value(&v, sm_value_int(201));
    assert_sm_ok(sm_dict_close(d));
    sm_client_close(c);
    assert_int_equal(smt_dict_int(f->gd, "n"), 201);
}

static void
test_auth_right_key_from_env_file_works(void **state)
{
    fx *f = *state;
    sm_client *c = NULL;
    int rv;

    assert_int_equal(setenv("SYNCMGR_AUTHKEY_FILE", f->keyfile, 1), 0);
    rv = open_keyed(f->srv.url, NULL, 0, &c);
    unsetenv("SYNCMGR_AUTHKEY_FILE");
    assert_sm_ok(rv);
    use_dict(f, c, 0);
    sm_client_close(c);

    /* The file comes before the text. */
    setenv("SYNCMGR_AUTHKEY_FILE", f->keyfile, 1);
    setenv("SYNCMGR_AUTHKEY", "not the key", 1);
    rv = open_keyed(f->srv.url, NULL, 0, &c);
    unsetenv("SYNCMGR_AUTHKEY_FILE");
    unsetenv("SYNCMGR_AUTHKEY");
    assert_sm_ok(rv);
    use_dict(f, c, 1);
    sm_client_close(c);

    /* The options come before the environment. */
    setenv("SYNCMGR_AUTHKEY_FILE", f->wrongfile, 1);
    rv = open_keyed(f->srv.url, KEY, strlen(KEY), &c);
    unsetenv("SYNCMGR_AUTHKEY_FILE");
    assert_sm_ok(rv);
    use_dict(f, c, 2);
    sm_client_close(c);

    /* A key file that cannot be read is the caller's mistake. */
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/missing", f->dir);
    setenv("SYNCMGR_AUTHKEY_FILE", missing, 1);
    rv = open_keyed(f->srv.url, NULL, 0, &c);
    unsetenv("SYNCMGR_AUTHKEY_FILE");
    assert_sm_status(rv, SM_EINVAL);
    assert_non_null(strstr(sm_errdetail(), missing));

    /* A wrong key in the file is wrong. */
    setenv("SYNCMGR_AUTHKEY_FILE", f->wrongfile, 1);
    rv = open_keyed(f->srv.url, NULL, 0, &c);
    unsetenv("SYNCMGR_AUTHKEY_FILE");
    assert_sm_status(rv, SM_EAUTH);
    assert_detail("authentication failed");
    assert_int_equal(smt_dict_int(f->gd, "n"), 3);
}

static void
test_auth_right_key_from_env_text_works(void **state)
{
    fx *f = *state;
    sm_client *c = NULL;

    assert_int_equal(setenv("SYNCMGR_AUTHKEY", KEY, 1), 0);
    int rv = open_keyed(f->srv.url, NULL, 0, &c);
    unsetenv("SYNCMGR_AUTHKEY");
    assert_sm_ok(rv);
    use_dict(f, c, 0);
    sm_client_close(c);

    setenv("SYNCMGR_AUTHKEY", KEY "x", 1);
    rv = open_keyed(f->srv.url, NULL, 0, &c);
    unsetenv("SYNCMGR_AUTHKEY");
    assert_sm_status(rv, SM_EAUTH);
    assert_detail("authentication failed");
}

static void
test_auth_wrong_or_no_key_is_refused_and_changes_nothing(void **state)
{
    fx *f = *state;
    char flipped[] = KEY;
    flipped[5] ^= 0x01;
    const struct {
        const char *key;
        size_t len;
    } wrong[] = {
        {flipped, strlen(flipped)},       /* one bit off */
        {KEY, strlen(KEY) - 1},           /* one byte short */
        {KEY "!", strlen(KEY) + 1},       /* one byte long */
        {NULL, 0},                        /* none at all */
    };
    sm_value v = sm_value_nil();

    assert_sm_ok(sm_dict_incr(f->gd, "counter", SMV(sm_value_int(7)), &v));
    smt_assert_value(&v, sm_value_int(7));
    /* Twelve refused opens: more than the server's session limit. */
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < COUNT(wrong); i++) {
            sm_client *c = NULL;
            assert_sm_status(open_keyed(f->srv.url, wrong[i].key, wrong[i].len, &c), SM_EAUTH);
            assert_detail("authentication failed");
        }
    }
    assert_int_equal(smt_dict_int(f->gd, "counter"), 7);
    /* The good client holds one of three sessions; no refused open made one. */
    assert_sessions_left(f, MAX_SESSIONS - 1);
    /* The good client still works. */
    assert_sm_ok(sm_dict_incr(f->gd, "counter", SMV(sm_value_int(1)), &v));
    smt_assert_value(&v, sm_value_int(8));
}

static void
test_auth_key_against_a_server_without_one_is_refused(void **state)
{
    (void)state;
    sm_client *c = NULL;
    assert_sm_status(open_keyed(smt_url(), KEY, strlen(KEY), &c), SM_EAUTH);
    assert_non_null(strstr(sm_errdetail(), "does not authenticate"));

    setenv("SYNCMGR_AUTHKEY", KEY, 1);
    int rv = open_keyed(smt_url(), NULL, 0, &c);
    unsetenv("SYNCMGR_AUTHKEY");
    assert_sm_status(rv, SM_EAUTH);
    assert_non_null(strstr(sm_errdetail(), "does not authenticate"));

    /* A keyless client there is served. */
    sm_dict *d;
    sm_value v = sm_value_nil();
    assert_sm_ok(sm_dict_open(smt_client(), smt_name("keyless"), &d));
    assert_sm_ok(sm_dict_incr(d, "n", SMV(sm_value_int(5)), &v));
    smt_assert_value(&v, sm_value_int(5));
    assert_sm_ok(sm_dict_close(d));
}

static void
test_auth_idle_client_outlives_its_lease(void **state)
{
    fx *f = *state;
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    sm_client *c;
    sm_dict *d;
    sm_value v = sm_value_nil();
    o.authkey = KEY;
    o.authkey_len = strlen(KEY);
    o.lease_ms = IDLE_LEASE_MS;
    assert_sm_ok(sm_client_open(&c, f->srv.url, &o));
    assert_sm_ok(sm_dict_open(c, f->dname, &d));
    /* Idle for 2.5 leases: only the heartbeat's pings (every third of a
     * lease), each with its MAC, keep the session. */
    smt_sleep_ms(IDLE_LEASE_MS * 5 / 2);
    assert_sm_ok(sm_dict_incr(d, "n", SMV(sm_value_int(1)), &v));
    smt_assert_value(&v, sm_value_int(1));
    assert_sm_ok(sm_dict_close(d));
    sm_client_close(c);
}

/* A server that answers like syncmgrd but does not have the key. */
typedef struct fake {
    nng_socket sock;
    bool send_proof; /* a proof of random bytes, or none */
    char url[128];
    char dir[64];
    pthread_t thr;
} fake;

static void *
fake_main(void *arg)
{
    fake *fk = arg;
    for (;;) {
        void *buf = NULL;
        size_t sz = 0;
        if (nng_recv(fk->sock, &buf, &sz, NNG_FLAG_ALLOC) != 0)
            return NULL; /* closed, or idle too long */
        Smwire__Request *req = smwire__request__unpack(NULL, sz, buf);
        nng_free(buf, sz);
        Smwire__Reply rep = SMWIRE__REPLY__INIT;
        uint8_t challenge[SMAUTH_NONCE], proof[SMAUTH_MAC];
        if (req != NULL && req->op_case == SMWIRE__REQUEST__OP_AUTH_HELLO) {
            smauth_random(challenge, sizeof(challenge));
            rep.challenge.data = challenge;
            rep.challenge.len = sizeof(challenge);
        } else if (req != NULL && req->op_case == SMWIRE__REQUEST__OP_SESSION_OPEN) {
            rep.session = 77;
            rep.m = req->session_open->lease_ms;
            if (fk->send_proof) {
                smauth_random(proof, sizeof(proof));
                rep.proof.data = proof;
                rep.proof.len = sizeof(proof);
            }
        }
        smwire__request__free_unpacked(req, NULL);
        uint8_t out[256];
        size_t n = smwire__reply__pack(&rep, out);
        if (nng_send(fk->sock, out, n, 0) != 0)
            return NULL;
    }
}

static void
test_auth_client_refuses_a_server_that_cannot_prove_the_key(void **state)
{
    (void)state;
    for (int mode = 0; mode < 2; mode++) {
        fake fk;
        memset(&fk, 0, sizeof(fk));
        fk.send_proof = mode == 0;
        snprintf(fk.dir, sizeof(fk.dir), "/tmp/smt-auth.XXXXXX");
        assert_non_null(mkdtemp(fk.dir));
        snprintf(fk.url, sizeof(fk.url), "ipc://%s/fake", fk.dir);
        assert_int_equal(nng_rep0_open(&fk.sock), 0);
        assert_int_equal(nng_socket_set_ms(fk.sock, NNG_OPT_RECVTIMEO, 20000), 0);
        assert_int_equal(nng_listen(fk.sock, fk.url, NULL, 0), 0);
        assert_int_equal(pthread_create(&fk.thr, NULL, fake_main, &fk), 0);

        sm_client_opts o = SM_CLIENT_OPTS_INIT;
        sm_client *c = NULL;
        o.authkey = KEY;
        o.authkey_len = strlen(KEY);
        o.call_timeout_ms = 5000;
        int rv = sm_client_open(&c, fk.url, &o);
        if (rv == SM_OK)
            sm_client_close(c);
        assert_sm_status(rv, SM_EAUTH);
        assert_non_null(strstr(sm_errdetail(), "did not prove"));

        nng_close(fk.sock); /* ends fake_main's receive */
        smt_join_or_fail(fk.thr, 10);
        char sock[128];
        snprintf(sock, sizeof(sock), "%s/fake", fk.dir);
        unlink(sock);
        rmdir(fk.dir);
    }
}

/* ------------------------------------------------------------- handshake */

static void
test_auth_handshake_replays_and_forgeries_are_refused(void **state)
{
    fx *f = *state;
    raw r;
    uint8_t cn[SMAUTH_NONCE], sn[SMAUTH_NONCE], proof[SMAUTH_MAC], want[SMAUTH_MAC];
    size_t len;
    uint8_t *b;

    raw_dial(&r, f->srv.url);

    /* A correct handshake. */
    raw_hello(&r, cn, false, sn);
    smauth_client_proof((const uint8_t *)KEY, strlen(KEY), sn, cn, proof);
    uint8_t *first = open_bytes(cn, sn, proof, &len);
    size_t first_len = len;
    Smwire__Reply *rep = raw_send(&r, first, first_len);
    assert_int_equal(rep->status, SM_OK);
    assert_int_not_equal(rep->session, 0);
    smauth_server_proof((const uint8_t *)KEY, strlen(KEY), sn, cn, want);
    assert_int_equal(rep->proof.len, SMAUTH_MAC);
    assert_memory_equal(rep->proof.data, want, SMAUTH_MAC);
    smwire__reply__free_unpacked(rep, NULL);

    /* The same SESSION_OPEN again: its challenge is used. */
    assert_open_refused(&r, first, first_len);
    free(first);

    /* A proof, right for its nonces, for a challenge never issued. */
    assert_true(smauth_random(cn, SMAUTH_NONCE));
    assert_true(smauth_random(sn, SMAUTH_NONCE));
    smauth_client_proof((const uint8_t *)KEY, strlen(KEY), sn, cn, proof);
    b = open_bytes(cn, sn, proof, &len);
    assert_open_refused(&r, b, len);
    free(b);

    /* A proof with one bit flipped; the challenge is then spent, so the
     * right proof for it fails too. */
    raw_hello(&r, cn, false, sn);
    smauth_client_proof((const uint8_t *)KEY, strlen(KEY), sn, cn, proof);
    proof[SMAUTH_MAC / 2] ^= 0x10;
    b = open_bytes(cn, sn, proof, &len);
    assert_open_refused(&r, b, len);
    free(b);
    proof[SMAUTH_MAC / 2] ^= 0x10;
    b = open_bytes(cn, sn, proof, &len);
    assert_open_refused(&r, b, len);
    free(b);

    /* A challenge belongs to the client nonce it was issued for. */
    uint8_t other[SMAUTH_NONCE];
    raw_hello(&r, cn, false, sn);
    assert_true(smauth_random(other, SMAUTH_NONCE));
    smauth_client_proof((const uint8_t *)KEY, strlen(KEY), sn, other, proof);
    b = open_bytes(other, sn, proof, &len);
    assert_open_refused(&r, b, len);
    free(b);

    /* A SESSION_OPEN without any nonce or proof. */
    Smwire__Request req = SMWIRE__REQUEST__INIT;
    Smwire__SessionOpen so = SMWIRE__SESSION_OPEN__INIT;
    so.lease_ms = RAW_LEASE_MS;
    req.version = 1;
    req.op_case = SMWIRE__REQUEST__OP_SESSION_OPEN;
    req.session_open = &so;
    b = pack(&req, NULL, &len);
    assert_open_refused(&r, b, len);
    free(b);

    /* Live: the good client and the one raw session. */
    assert_sessions_left(f, MAX_SESSIONS - 2);
    raw_close(&r);
}

/* ------------------------------------------------------------ request MAC */

static void
test_auth_request_mac_is_checked_and_replay_applies_once(void **state)
{
    fx *f = *state;
    raw r;
    Smwire__Request req;
    Smwire__Open op = SMWIRE__OPEN__INIT;
    Smwire__ObjRef obj = SMWIRE__OBJ_REF__INIT;
    Smwire__Value val = SMWIRE__VALUE__INIT;
    sm_value v = sm_value_nil();
    char detail[128];
    size_t len, len2;
    uint8_t *b, *b2;

    raw_dial(&r, f->srv.url);
    raw_login(&r);

    /* seq 1: open the test's dict, with a right trailer. */
    req_init(&r, &req, 1);
    op.type = SMWIRE__OBJ_TYPE__OBJ_DICT;
    op.name = f->dname;
    req.op_case = SMWIRE__REQUEST__OP_OPEN;
    req.open = &op;
    b = pack(&req, r.skey, &len);
    Smwire__Reply *rep = raw_send(&r, b, len);
    free(b);
    assert_int_equal(rep->status, SM_OK);
    assert_non_null(rep->obj);
    obj.id = rep->obj->id;
    obj.nonce = rep->obj->nonce;
    obj.type = SMWIRE__OBJ_TYPE__OBJ_DICT;
    smwire__reply__free_unpacked(rep, NULL);

    /* seq 2: k = "before". */
    val.kind_case = SMWIRE__VALUE__KIND_STR;
    val.str = "before";
    b = dict_kv_bytes(&r, &obj, 2, SMWIRE__REQUEST__OP_DICT_SET, "k", &val, r.skey, &len);
    assert_int_equal(raw_status(&r, b, len, NULL, 0), SM_OK);
    free(b);
    assert_sm_ok(sm_dict_get(f->gd, "k", &v));
    smt_assert_value_is(&v, SMV(sm_value_str("before")));
    sm_value_clear(&v);

    /* seq 3: k = "after", first forged three ways. */
    val.str = "after";
    b = dict_kv_bytes(&r, &obj, 3, SMWIRE__REQUEST__OP_DICT_SET, "k", &val, r.skey, &len);
    uint8_t *forged = malloc(len);
    assert_non_null(forged);
    memcpy(forged, b, len);
    forged[find(forged, len - SMAUTH_TRAILER, "after")] = 'X'; /* "Xfter"; trailer kept */
    assert_int_equal(raw_status(&r, forged, len, detail, sizeof(detail)), SM_EAUTH);
    assert_string_equal(detail, "authentication failed");
    /* without a trailer */
    assert_int_equal(raw_status(&r, b, len - SMAUTH_TRAILER, detail, sizeof(detail)), SM_EAUTH);
    assert_string_equal(detail, "authentication failed");
    /* with a trailer under another key */
    uint8_t otherkey[SMAUTH_MAC];
    memcpy(otherkey, r.skey, SMAUTH_MAC);
    otherkey[0] ^= 0x01;
    b2 = dict_kv_bytes(&r, &obj, 3, SMWIRE__REQUEST__OP_DICT_SET, "k", &val, otherkey, &len2);
    assert_int_equal(raw_status(&r, b2, len2, detail, sizeof(detail)), SM_EAUTH);
    assert_string_equal(detail, "authentication failed");
    free(b2);
    free(forged);
    assert_sm_ok(sm_dict_get(f->gd, "k", &v));
    smt_assert_value_is(&v, SMV(sm_value_str("before")));
    sm_value_clear(&v);
    size_t n = 0;
    assert_sm_ok(sm_dict_len(f->gd, &n));
    assert_int_equal(n, 1); /* no "Xfter" anywhere, no other key */
    /* The forgeries did not use up seq 3: the real request applies. */
    assert_int_equal(raw_status(&r, b, len, NULL, 0), SM_OK);
    free(b);
    assert_sm_ok(sm_dict_get(f->gd, "k", &v));
    smt_assert_value_is(&v, SMV(sm_value_str("after")));
    sm_value_clear(&v);

    /* seq 4: n += 1, then the same bytes again: the first reply, byte for
     * byte, and one increment. */
    val.kind_case = SMWIRE__VALUE__KIND_I;
    val.i = 1;
    b = dict_kv_bytes(&r, &obj, 4, SMWIRE__REQUEST__OP_DICT_INCR, "n", &val, r.skey, &len);
    rep = raw_send(&r, b, len);
    assert_int_equal(rep->status, SM_OK);
    assert_non_null(rep->value);
    assert_int_equal(rep->value->kind_case, SMWIRE__VALUE__KIND_I);
    assert_int_equal(rep->value->i, 1);
    smwire__reply__free_unpacked(rep, NULL);
    uint8_t first_reply[sizeof(r.last_reply)];
    size_t first_len = r.last_len;
    memcpy(first_reply, r.last_reply, first_len);
    assert_int_equal(raw_status(&r, b, len, NULL, 0), SM_OK);
    assert_int_equal(r.last_len, first_len);
    assert_memory_equal(r.last_reply, first_reply, first_len);
    assert_int_equal(smt_dict_int(f->gd, "n"), 1);

    /* The same increment with a new seq cannot keep its trailer. */
    Smwire__Request req5;
    Smwire__KeyValue kv = SMWIRE__KEY_VALUE__INIT;
    req_init(&r, &req5, 5);
    kv.key = "n";
    kv.value = &val;
    req5.obj = &obj;
    req5.op_case = SMWIRE__REQUEST__OP_DICT_INCR;
    req5.dict_incr = &kv;
    b2 = pack(&req5, NULL, &len2);
    uint8_t *moved = malloc(len2 + SMAUTH_TRAILER);
    assert_non_null(moved);
    memcpy(moved, b2, len2);
    memcpy(moved + len2, b + len - SMAUTH_TRAILER, SMAUTH_TRAILER); /* seq 4's trailer */
    assert_int_equal(raw_status(&r, moved, len2 + SMAUTH_TRAILER, detail, sizeof(detail)),
                     SM_EAUTH);
    assert_string_equal(detail, "authentication failed");
    assert_int_equal(smt_dict_int(f->gd, "n"), 1);
    free(moved);
    free(b2);
    free(b);
    /* ... and with its own MAC it is a new increment. */
    b = dict_kv_bytes(&r, &obj, 5, SMWIRE__REQUEST__OP_DICT_INCR, "n", &val, r.skey, &len);
    assert_int_equal(raw_status(&r, b, len, NULL, 0), SM_OK);
    free(b);
    assert_int_equal(smt_dict_int(f->gd, "n"), 2);

    /* Once its reply is acknowledged, a copy of seq 4 is refused as late. */
    b = pack_ack_get(&r, &obj, 6, 6, &len);
    assert_int_equal(raw_status(&r, b, len, NULL, 0), SM_OK);
    free(b);
    b = dict_kv_bytes(&r, &obj, 4, SMWIRE__REQUEST__OP_DICT_INCR, "n", &val, r.skey, &len);
    assert_int_equal(raw_status(&r, b, len, detail, sizeof(detail)), SM_EPROTO);
    assert_non_null(strstr(detail, "late copy"));
    assert_int_equal(smt_dict_int(f->gd, "n"), 2);
    uint8_t *seq4 = b; /* kept for after the session ends */
    size_t seq4_len = len;

    /* Whoever knows the session id cannot end it without the key. */
    Smwire__Empty empty = SMWIRE__EMPTY__INIT;
    req_init(&r, &req, 0);
    req.op_case = SMWIRE__REQUEST__OP_SESSION_CLOSE;
    req.session_close = &empty;
    b = pack(&req, NULL, &len);
    assert_int_equal(raw_status(&r, b, len, detail, sizeof(detail)), SM_EAUTH);
    assert_string_equal(detail, "authentication failed");
    free(b);
    req_init(&r, &req, 0);
    req.op_case = SMWIRE__REQUEST__OP_SESSION_PING;
    req.session_ping = &empty;
    b = pack(&req, r.skey, &len);
    assert_int_equal(raw_status(&r, b, len, NULL, 0), SM_OK);
    free(b);
    assert_sessions_left(f, MAX_SESSIONS - 2); /* the good client and the raw one */
    req_init(&r, &req, 0);
    req.op_case = SMWIRE__REQUEST__OP_SESSION_CLOSE;
    req.session_close = &empty;
    b = pack(&req, r.skey, &len);
    assert_int_equal(raw_status(&r, b, len, NULL, 0), SM_OK);
    free(b);
    assert_sessions_left(f, MAX_SESSIONS - 1); /* the raw session is gone */
    /* Its requests are now for no session. */
    assert_int_equal(raw_status(&r, seq4, seq4_len, NULL, 0), SM_ESESSION);
    free(seq4);
    assert_int_equal(smt_dict_int(f->gd, "n"), 2);
    raw_close(&r);
}

/* --------------------------------------------------- listening beyond loopback */

/* A syncmgrd started directly, with its stderr and ready lines captured. */
typedef struct direct {
    pid_t pid;
    int errfd;         /* read end of its stderr */
    char ready[1024];  /* what it wrote on --ready-fd */
} direct;

#define DIRECT_READY_FD 50   /* the descriptor the child gets for --ready-fd */
#define DIRECT_READY_ARG "50" /* ... as its argument */

static void
direct_start(direct *d, const char *const *args)
{
    int rp[2], ep[2];
    const char *argv[24];
    int k = 0;
    argv[k++] = SMT_SYNCMGRD;
    for (int i = 0; args[i] != NULL && k < 20; i++)
        argv[k++] = args[i];
    argv[k++] = "--ready-fd";
    argv[k++] = DIRECT_READY_ARG;
    argv[k] = NULL;
    memset(d, 0, sizeof(*d));
    assert_int_equal(pipe2(rp, O_CLOEXEC), 0);
    assert_int_equal(pipe2(ep, O_CLOEXEC), 0);
    pid_t parent = getpid();
    fflush(NULL);
    d->pid = fork();
    assert_true(d->pid >= 0);
    if (d->pid == 0) {
        /* Only exec here: this process has nng state it may not touch. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (dup2(rp[1], DIRECT_READY_FD) < 0 || dup2(ep[1], 2) < 0)
            _exit(127);
        execv(SMT_SYNCMGRD, (char *const *)argv);
        _exit(127);
    }
    close(rp[1]);
    close(ep[1]);
    d->errfd = ep[0];
    /* Until the blank line, or end of file (it exited). */
    size_t got = 0;
    int64_t end = smt_now_ms() + SPAWN_MS;
    while (got + 1 < sizeof(d->ready) && strstr(d->ready, "\n\n") == NULL) {
        struct pollfd p = {.fd = rp[0], .events = POLLIN};
        int64_t left = end - smt_now_ms();
        if (left <= 0)
            break;
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        ssize_t r = read(rp[0], d->ready + got, sizeof(d->ready) - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        d->ready[got] = '\0';
    }
    close(rp[0]);
}

/* direct_wait waits for its exit (SIGTERM first if term) and returns the
 * wait status; its stderr goes to err. */
static int
direct_wait(direct *d, bool term, char *err, size_t esize)
{
    int st = -1;
    if (term)
        kill(d->pid, SIGTERM);
    int64_t end = smt_now_ms() + SPAWN_MS;
    for (;;) {
        pid_t r = waitpid(d->pid, &st, WNOHANG);
        if (r == d->pid)
            break;
        if (smt_now_ms() > end) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, &st, 0);
            fail_msg("syncmgrd %ld did not exit within %d ms", (long)d->pid, SPAWN_MS);
        }
        smt_sleep_ms(10); /* waiting on a process exit: no descriptor to block on */
    }
    size_t got = 0;
    ssize_t r;
    while (got + 1 < esize && (r = read(d->errfd, err + got, esize - 1 - got)) > 0)
        got += (size_t)r;
    err[got] = '\0';
    close(d->errfd);
    return st;
}

/* serve_on_any checks a syncmgrd started with args listens on 0.0.0.0 and
 * serves a client with key (NULL: none) through 127.0.0.1. */
static void
serve_on_any(const char *const *args, const char *key)
{
    direct d;
    char err[4096], url[128];
    unsigned port = 0;
    direct_start(&d, args);
    if (sscanf(d.ready, "tcp://0.0.0.0:%u\n", &port) != 1 || port == 0) {
        direct_wait(&d, true, err, sizeof(err));
        fail_msg("syncmgrd did not report listening on 0.0.0.0: '%s'; stderr: %s", d.ready, err);
    }
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", port);
    sm_client *c;
    sm_dict *dd;
    sm_value v = sm_value_nil();
    assert_sm_ok(open_keyed(url, key, key != NULL ? strlen(key) : 0, &c));
    assert_sm_ok(sm_dict_open(c, "any", &dd));
    assert_sm_ok(sm_dict_incr(dd, "n", SMV(sm_value_int(3)), &v));
    smt_assert_value(&v, sm_value_int(3));
    assert_sm_ok(sm_dict_close(dd));
    sm_client_close(c);
    int st = direct_wait(&d, true, err, sizeof(err));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void
test_auth_listen_beyond_loopback_needs_a_key_or_insecure(void **state)
{
    (void)state;
    static const char *const urls[] = {"tcp://0.0.0.0:0", "tcp://[::]:0"};
    char err[4096];

    for (size_t i = 0; i < COUNT(urls); i++) {
        const char *args[] = {"--listen", urls[i], "--log-level", "none", NULL};
        direct d;
        direct_start(&d, args);
        assert_string_equal(d.ready, ""); /* it never listened */
        int st = direct_wait(&d, false, err, sizeof(err));
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 2);
        assert_non_null(strstr(err, urls[i]));
        assert_non_null(strstr(err, "--insecure"));
    }
    /* One non-local listener among local ones is refused as well. */
    const char *mixed[] = {"--listen", "tcp://127.0.0.1:0", "--listen", "tcp://0.0.0.0:0",
                           "--log-level", "none", NULL};
    direct d;
    direct_start(&d, mixed);
    int st = direct_wait(&d, false, err, sizeof(err));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    assert_non_null(strstr(err, "--insecure"));

    char dir[64], keyfile[128];
    snprintf(dir, sizeof(dir), "/tmp/smt-auth.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(keyfile, sizeof(keyfile), "%s/key", dir);

    /* A key file that is missing, or holds only a newline, stops it. */
    write_file(keyfile, "\n");
    for (int i = 0; i < 2; i++) {
        const char *args[] = {"--listen", "tcp://127.0.0.1:0", "--authkey-file",
                              i == 0 ? "/nonexistent/syncmgr.key" : keyfile, "--log-level",
                              "none", NULL};
        direct_start(&d, args);
        assert_string_equal(d.ready, "");
        st = direct_wait(&d, false, err, sizeof(err));
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 2);
        assert_non_null(strstr(err, i == 0 ? "/nonexistent/syncmgr.key" : "empty"));
    }
    write_file(keyfile, KEY "\n");
    const char *keyed[] = {"--listen", "tcp://0.0.0.0:0", "--authkey-file", keyfile,
                           "--log-level", "none", NULL};
    serve_on_any(keyed, KEY);
    unlink(keyfile);
    rmdir(dir);

    const char *insecure[] = {"--listen", "tcp://0.0.0.0:0", "--insecure", "--log-level", "none",
                              NULL};
    serve_on_any(insecure, NULL);
}

int
main(int argc, char **argv)
{
    /* The tests decide where each key comes from. */
    unsetenv("SYNCMGR_AUTHKEY_FILE");
    unsetenv("SYNCMGR_AUTHKEY");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auth_right_key_in_options_works, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_auth_right_key_from_env_file_works, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_auth_right_key_from_env_text_works, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_auth_wrong_or_no_key_is_refused_and_changes_nothing,
                                        fx_setup, fx_teardown),
        cmocka_unit_test(test_auth_key_against_a_server_without_one_is_refused),
        cmocka_unit_test_setup_teardown(test_auth_idle_client_outlives_its_lease, fx_setup,
                                        fx_teardown),
        cmocka_unit_test(test_auth_client_refuses_a_server_that_cannot_prove_the_key),
        cmocka_unit_test_setup_teardown(test_auth_handshake_replays_and_forgeries_are_refused,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_auth_request_mac_is_checked_and_replay_applies_once,
                                        fx_setup, fx_teardown),
        cmocka_unit_test(test_auth_listen_beyond_loopback_needs_a_key_or_insecure),
    };
    return SMT_MAIN("auth", tests);
}
