/* client.c - the connection to syncmgrd and the one round trip every call
 * makes.
 *
 * A client is one nng REQ socket with one dialer. Resend is off
 * (NNG_OPT_REQ_RESENDTIME infinite): nng's resend would deliver a request
 * twice (NNG-NOTES item 1), and a dropped connection then fails the call
 * with SM_ECLOSED instead. Each call borrows a context (with its aio) from
 * the client's pool, so any number of threads can have calls in flight on
 * one client; contexts are opened on demand and kept for reuse. Pipe events
 * keep a count of live connections, which tells a timeout with no server
 * (SM_EUNREACHABLE) from a slow server (SM_ETIMEDOUT).
 *
 * nng 1.5.2 redials a lost connection only after its reaper has stopped the
 * old pipe, and that reaper can stall for good (the race behind
 * client_close_socket). A client whose connection dropped and did not come
 * back within CLIENT_REDIAL_STALL_MS therefore starts a second dialer of
 * its own ("spare"): it connects without the reaper, and the session and
 * its calls carry on over it, since a session is named in each request, not
 * by its connection. At most one spare lives at a time; it is replaced only
 * after it has itself connected and lost its connection.
 * Exported: sm_client_open, sm_client_close, sm_client_set_timeout,
 * sm_client_url, sm_server_snapshot, smi_call. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/supplemental/util/platform.h>

#include "auth.h"
#include "smi.h"

typedef struct smi_ctx {
    nng_ctx ctx;
    nng_aio *aio;
    struct smi_ctx *next;
} smi_ctx;

/* A call in flight, on its caller's stack, in the client's list (ordered by
 * seq, because seqs are handed out under the same lock that appends). */
typedef struct smi_inflight {
    uint64_t seq;
    struct smi_inflight *prev, *next;
} smi_inflight;

struct sm_client {
    nng_socket sock;
    nng_dialer dialer;
    char *url;
    int64_t call_timeout_ms;
    int64_t lease_ms;
    nng_mtx *mtx;
    nng_cv *cv;    /* signalled when npipes changes, and to stop the heartbeat */
    int npipes;    /* live connections, under mtx */
    uint64_t replies; /* replies received so far; atomic */
    smi_ctx *idle; /* contexts ready for reuse, under mtx */
    uint64_t session;
    uint64_t seq;  /* the last seq handed out, under mtx */
    smi_inflight *inflight, *inflight_tail; /* under mtx */
    bool stopping; /* under mtx */
    /* Redial watch (under mtx): down_since is when the connection was last
     * seen lost (0: not since the last connection came up). */
    nng_time down_since;
    uint64_t down_replies; /* c->replies at down_since */
    nng_aio *watch;     /* sleeps until the next check */
    bool watch_armed;
    nng_dialer spare;   /* the client's own second dialer, if spare_on */
    bool spare_on, spare_used; /* spare_used: it has had a connection */
    nng_tls_config *tls; /* our reference, for spares; NULL without TLS */
    bool lost;     /* the server said SM_ESESSION; atomic */
    nng_thread *heartbeat;
    uint8_t *authkey; /* NULL: none */
    size_t authkey_len;
    bool keyed;                /* requests carry a MAC under skey */
    uint8_t skey[SMAUTH_MAC];
};

/* client_free_mem frees what the client allocated for itself. */
static void
client_free_mem(sm_client *c)
{
    if (c->authkey != NULL)
        memset(c->authkey, 0, c->authkey_len);
    free(c->authkey);
    memset(c->skey, 0, sizeof(c->skey));
    free(c->url);
    free(c);
}

/* Resends of one call after its connection dropped, at most, counting only
 * the drops that no other reply came between (the call was sent, then the
 * connection went with nothing answered): a server that drops every
 * connection that carries this request (say, one over its size limit) must
 * not make the call spin until its deadline, while a call that merely
 * shares a connection with others through many cuts keeps going. */
#define CLIENT_MAX_RESENDS 16

#define CLIENT_RECV_MAX (256u * 1024 * 1024)

/* nng 1.5.2 aborts on any call in a process forked after nng was used.
 * client_nng_used is set before our first nng call; a fork after that marks
 * the child, whose calls then fail with SM_EFORKED instead. */
static bool client_nng_used, client_forked;
static pthread_once_t client_once = PTHREAD_ONCE_INIT;

static void
client_atfork_child(void)
{
    if (client_nng_used)
        client_forked = true;
}

static void
client_init_once(void)
{
    pthread_atfork(NULL, NULL, client_atfork_child);
}

/* client_check_fork returns SM_OK where nng may be used. */
static int
client_check_fork(void)
{
    if (client_forked)
        return smi_fail(SM_EFORKED, "forked after nng was used: fork before the first "
                                    "sm_client_open, or exec in the child");
    return SM_OK;
}

/* How long a lost connection may stay lost before a spare dialer starts.
 * nng redials after at most NNG_OPT_RECONNMAXT (1 s, below) plus the dial. */
#define CLIENT_REDIAL_STALL_MS 2000

/* client_watch_arm_locked notes the connection lost (if not already) and
 * has client_watch_cb look in CLIENT_REDIAL_STALL_MS. */
static void
client_watch_arm_locked(sm_client *c)
{
    if (c->down_since == 0) {
        c->down_since = nng_clock();
        c->down_replies = __atomic_load_n(&c->replies, __ATOMIC_RELAXED);
    }
    if (c->watch_armed || c->stopping || c->watch == NULL)
        return;
    c->watch_armed = true;
    nng_sleep_aio(CLIENT_REDIAL_STALL_MS, c->watch);
}

static void
client_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    sm_client *c = arg;
    nng_mtx_lock(c->mtx);
    if (ev == NNG_PIPE_EV_ADD_POST) {
        c->npipes++;
        c->down_since = 0;
        if (c->spare_on && nng_dialer_id(nng_pipe_dialer(p)) == nng_dialer_id(c->spare))
            c->spare_used = true;
    } else if (--c->npipes == 0) {
        client_watch_arm_locked(c);
    }
    nng_cv_wake(c->cv);
    nng_mtx_unlock(c->mtx);
}

/* client_watch_stop stops the redial watch for good (c->stopping or a
 * failed open). */
static void
client_watch_stop(sm_client *c)
{
    if (c->watch == NULL)
        return;
    nng_mtx_lock(c->mtx);
    c->stopping = true;
    nng_mtx_unlock(c->mtx);
    nng_aio_stop(c->watch); /* waits for a running client_watch_cb */
    nng_aio_free(c->watch);
    c->watch = NULL;
}

/* client_spare_dial starts a new spare dialer, closing the old one. */
static void
client_spare_dial(sm_client *c)
{
    nng_dialer d;
    if (nng_dialer_create(&d, c->sock, c->url) != 0)
        return;
    if (c->tls != NULL && nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, c->tls) != 0) {
        nng_dialer_close(d);
        return;
    }
    nng_mtx_lock(c->mtx);
    nng_dialer old = c->spare;
    bool had = c->spare_on;
    c->spare = d;
    c->spare_on = true;
    c->spare_used = false;
    nng_mtx_unlock(c->mtx);
    if (had)
        nng_dialer_close(old);
    nng_dialer_start(d, NNG_FLAG_NONBLOCK); /* it retries by itself */
}

/* client_watch_cb runs CLIENT_REDIAL_STALL_MS after the connection was
 * lost: if it is still lost, and no spare is trying already, it starts
 * one; while the connection stays lost it looks again. */
static void
client_watch_cb(void *arg)
{
    sm_client *c = arg;
    bool dial = false;
    nng_mtx_lock(c->mtx);
    c->watch_armed = false;
    if (nng_aio_result(c->watch) != 0 || c->stopping || c->down_since == 0) {
        nng_mtx_unlock(c->mtx);
        return;
    }
    nng_time now = nng_clock();
    uint64_t replies = __atomic_load_n(&c->replies, __ATOMIC_RELAXED);
    if (replies != c->down_replies) {
        /* Replies came since: a connection works (a call may have seen
         * the loss of one that had been replaced already). */
        c->down_since = 0;
    } else if (now - c->down_since >= CLIENT_REDIAL_STALL_MS) {
        dial = !c->spare_on || c->spare_used;
        c->down_since = now; /* the next look is a whole stall later */
    }
    nng_mtx_unlock(c->mtx);
    if (dial)
        client_spare_dial(c);
    nng_mtx_lock(c->mtx);
    if (c->down_since != 0)
        client_watch_arm_locked(c);
    nng_mtx_unlock(c->mtx);
}

/* client_map maps an nng error of a call to a status. */
static int
client_map(sm_client *c, int rv)
{
    switch (rv) {
    case NNG_ETIMEDOUT: {
        nng_mtx_lock(c->mtx);
        int n = c->npipes;
        nng_mtx_unlock(c->mtx);
        if (n == 0)
            return smi_fail(SM_EUNREACHABLE, "no connection to %s within the deadline", c->url);
        return smi_fail(SM_ENOREPLY, "no reply within the deadline");
    }
    case NNG_ECONNRESET:
    case NNG_ECONNSHUT:
    case NNG_ECONNABORTED:
    case NNG_ECLOSED:
        return smi_fail(SM_ECLOSED, "%s", nng_strerror(rv));
    case NNG_ENOMEM:
        return SM_ENOMEM;
    default:
        return smi_fail(SM_EINTERNAL, "nng: %s", nng_strerror(rv));
    }
}

/* nng 1.5.2's nng_close can hang for good (a race between reaping a pipe
 * and a task it had prepared, nanomsg/nng#1543; fixed upstream after
 * 1.5.2). Seen here with a client closing while its dialer redials a server
 * that went away. So the close runs on a thread of its own, and a caller is
 * let go after CLIENT_CLOSE_WAIT_S: the socket, its memory and that thread
 * are then left to nng, and never touched again. */
#define CLIENT_CLOSE_WAIT_S 2

typedef struct client_closer {
    nng_socket sock;
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    bool done, abandoned;
} client_closer;

static void *
client_closer_main(void *arg)
{
    client_closer *k = arg;
    nng_close(k->sock);
    pthread_mutex_lock(&k->mtx);
    k->done = true;
    bool abandoned = k->abandoned;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mtx);
    if (abandoned) { /* the caller left: the closer frees itself */
        pthread_cond_destroy(&k->cv);
        pthread_mutex_destroy(&k->mtx);
        free(k);
    }
    return NULL;
}

/* client_close_socket closes c's socket; false if the close did not finish
 * within CLIENT_CLOSE_WAIT_S (the socket and c are then left to nng). */
static bool
client_close_socket(sm_client *c)
{
    client_closer *k = calloc(1, sizeof(*k));
    pthread_t t;
    pthread_condattr_t ca;
    if (k == NULL) {
        nng_close(c->sock);
        return true;
    }
    k->sock = c->sock;
    pthread_mutex_init(&k->mtx, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&k->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&t, NULL, client_closer_main, k) != 0) {
        nng_close(c->sock);
        k->done = true;
    } else {
        pthread_detach(t);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += CLIENT_CLOSE_WAIT_S;
        pthread_mutex_lock(&k->mtx);
        while (!k->done && pthread_cond_timedwait(&k->cv, &k->mtx, &until) == 0)
            ;
        if (!k->done) {
            k->abandoned = true;
            pthread_mutex_unlock(&k->mtx);
            return false;
        }
        pthread_mutex_unlock(&k->mtx);
    }
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mtx);
    free(k);
    return true;
}

/* client_challenge asks the server for an authkey challenge (AUTH_HELLO)
 * and fills so with both nonces and our proof. */
static int
client_challenge(sm_client *c, Smwire__SessionOpen *so, uint8_t cnonce[SMAUTH_NONCE],
                 uint8_t snonce[SMAUTH_NONCE], uint8_t proof[SMAUTH_MAC])
{
    Smwire__Request req = SMWIRE__REQUEST__INIT;
    Smwire__AuthHello hello = SMWIRE__AUTH_HELLO__INIT;
    Smwire__Reply *rep;
    if (!smauth_random(cnonce, SMAUTH_NONCE))
        return smi_fail(SM_EINTERNAL, "no randomness for the handshake");
    hello.client_nonce.data = cnonce;
    hello.client_nonce.len = SMAUTH_NONCE;
    req.op_case = SMWIRE__REQUEST__OP_AUTH_HELLO;
    req.auth_hello = &hello;
    int rv = smi_call(c, &req, 0, &rep);
    if (rv == SM_EPROTO) /* a server from before the handshake */
        return smi_fail(SM_EAUTH, "the server does not authenticate clients (no authkey there)");
    if (rv != SM_OK)
        return rv;
    bool ok = rep->challenge.len == SMAUTH_NONCE;
    if (ok)
        memcpy(snonce, rep->challenge.data, SMAUTH_NONCE);
    smwire__reply__free_unpacked(rep, NULL);
    if (!ok)
        return smi_fail(SM_EAUTH, "the server does not authenticate clients (no authkey there)");
    smauth_client_proof(c->authkey, c->authkey_len, snonce, cnonce, proof);
    so->client_nonce.data = cnonce;
    so->client_nonce.len = SMAUTH_NONCE;
    so->server_nonce.data = snonce;
    so->server_nonce.len = SMAUTH_NONCE;
    so->proof.data = proof;
    so->proof.len = SMAUTH_MAC;
    return SM_OK;
}

/* client_session_open opens this client's session (seq 0): with an
 * authkey, after a challenge, and checking the server's proof. */
static int
client_session_open(sm_client *c)
{
    Smwire__Request req = SMWIRE__REQUEST__INIT;
    Smwire__SessionOpen so = SMWIRE__SESSION_OPEN__INIT;
    Smwire__Reply *rep;
    uint8_t cnonce[SMAUTH_NONCE], snonce[SMAUTH_NONCE], proof[SMAUTH_MAC];
    int rv;
    so.lease_ms = c->lease_ms;
    if (c->authkey != NULL && (rv = client_challenge(c, &so, cnonce, snonce, proof)) != SM_OK)
        return rv;
    req.op_case = SMWIRE__REQUEST__OP_SESSION_OPEN;
    req.session_open = &so;
    rv = smi_call(c, &req, 0, &rep);
    if (rv != SM_OK)
        return rv;
    if (c->authkey != NULL) {
        uint8_t want[SMAUTH_MAC];
        smauth_server_proof(c->authkey, c->authkey_len, snonce, cnonce, want);
        if (rep->proof.len != SMAUTH_MAC || !smauth_equal(want, rep->proof.data, SMAUTH_MAC)) {
            smwire__reply__free_unpacked(rep, NULL);
            return smi_fail(SM_EAUTH, "the server did not prove the authkey");
        }
        smauth_session_key(c->authkey, c->authkey_len, snonce, cnonce, c->skey);
        c->keyed = true;
    }
    c->session = rep->session;
    smwire__reply__free_unpacked(rep, NULL);
    return c->session != 0 ? SM_OK : smi_fail(SM_EPROTO, "session opened without an id");
}

/* client_simple sends a session operation and frees its reply. */
static int
client_simple(sm_client *c, int op_case, int64_t timeout_ms)
{
    Smwire__Request req = SMWIRE__REQUEST__INIT;
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    Smwire__Reply *rep;
    req.op_case = (Smwire__Request__OpCase)op_case;
    req.session_ping = &e; /* every op member shares this slot */
    int rv = smi_call_deadline(c, &req, 0, timeout_ms, &rep);
    if (rv == SM_OK)
        smwire__reply__free_unpacked(rep, NULL);
    return rv;
}

/* client_heartbeat renews the lease every third of it until stopped. */
static void
client_heartbeat(void *arg)
{
    sm_client *c = arg;
    nng_mtx_lock(c->mtx);
    while (!c->stopping) {
        nng_time until = nng_clock() + (nng_time)(c->lease_ms / 3);
        while (!c->stopping && nng_cv_until(c->cv, until) != NNG_ETIMEDOUT)
            ;
        if (c->stopping)
            break;
        nng_mtx_unlock(c->mtx);
        int rv = client_simple(c, SMWIRE__REQUEST__OP_SESSION_PING, c->lease_ms);
        if (rv == SM_ESESSION)
            __atomic_store_n(&c->lost, true, __ATOMIC_RELAXED);
        nng_mtx_lock(c->mtx);
    }
    nng_mtx_unlock(c->mtx);
}

/* SNAPSHOT_SAVE: no object; the server answers once its file is written. */
int
sm_server_snapshot(sm_client *c)
{
    Smwire__Request req = SMWIRE__REQUEST__INIT;
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    Smwire__Reply *rep;
    req.op_case = SMWIRE__REQUEST__OP_SNAPSHOT_SAVE;
    req.snapshot_save = &e;
    int rv = smi_call(c, &req, 0, &rep);
    if (rv == SM_OK)
        smwire__reply__free_unpacked(rep, NULL);
    return rv;
}

int
sm_client_session(const sm_client *c, uint64_t *id)
{
    smi_detail_clear();
    if (c == NULL || id == NULL)
        return smi_fail(SM_EINVAL, "no client or output");
    *id = c->session;
    return SM_OK;
}

/* opt_or_env is the option, else the environment variable, else NULL. */
static const char *
opt_or_env(const char *opt, const char *var)
{
    const char *v = opt != NULL ? opt : getenv(var);
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* client_tls gives the dialer its TLS configuration: the server's
 * certificate is checked against the CA and the server name (default: the
 * URL's host). */
static int
client_tls(sm_client *c, const sm_client_opts *o)
{
    char err[300], host[256];
    const char *name = opt_or_env(o->tls_server_name, "SYNCMGR_TLS_SERVER_NAME");
    if (name == NULL) { /* tls+tcp://HOST:PORT or tls+tcp://[V6]:PORT */
        const char *h = strstr(c->url, "://");
        h = h != NULL ? h + 3 : c->url;
        size_t n = *h == '[' ? strcspn(h + 1, "]") : strcspn(h, ":/");
        if (*h == '[')
            h++;
        snprintf(host, sizeof(host), "%.*s", (int)(n < sizeof(host) ? n : sizeof(host) - 1), h);
        name = host;
        /* The mbedtls under Debian's nng (2.28) matches a name against a
         * certificate's DNS names only, never its IP addresses: say so now
         * rather than fail every handshake. */
        unsigned char ab[16];
        if (inet_pton(AF_INET, host, ab) == 1 || inet_pton(AF_INET6, host, ab) == 1)
            return smi_fail(SM_EINVAL,
                            "TLS to an IP address (%s) needs tls_server_name (or "
                            "$SYNCMGR_TLS_SERVER_NAME): a DNS name in the server's certificate; "
                            "this mbedtls cannot check IP addresses",
                            host);
    }
    nng_tls_config *cfg = smauth_tls_config(
        false, opt_or_env(o->tls_ca_file, "SYNCMGR_TLS_CA"),
        opt_or_env(o->tls_cert_file, "SYNCMGR_TLS_CERT"),
        opt_or_env(o->tls_key_file, "SYNCMGR_TLS_KEY"), name, err, sizeof(err));
    if (cfg == NULL)
        return smi_fail(SM_EINVAL, "%s", err);
    int rv = nng_dialer_set_ptr(c->dialer, NNG_OPT_TLS_CONFIG, cfg);
    c->tls = cfg; /* the dialer holds its own reference; this one is for spares */
    if (rv != 0)
        return smi_fail(SM_EINVAL, "TLS for %s: %s", c->url, nng_strerror(rv));
    return SM_OK;
}

int
sm_client_open(sm_client **cp, const char *url, const sm_client_opts *opts)
{
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    int rv;

    smi_detail_clear();
    if (cp == NULL || url == NULL)
        return smi_fail(SM_EINVAL, "no client pointer or url");
    pthread_once(&client_once, client_init_once);
    rv = client_check_fork();
    if (rv != SM_OK)
        return rv;
    client_nng_used = true;
    if (opts != NULL) {
        if (opts->size < sizeof(size_t) || opts->size > sizeof(o))
            return smi_fail(SM_EINVAL, "sm_client_opts.size is %zu", opts->size);
        memcpy(&o, opts, opts->size);
    }
    if ((o.call_timeout_ms < 1 && o.call_timeout_ms != SM_WAIT_FOREVER) ||
        o.dial_timeout_ms < 0)
        return smi_fail(SM_EINVAL, "timeouts must be positive");
    if (o.lease_ms < 100 || o.lease_ms > 600000)
        return smi_fail(SM_EINVAL, "lease_ms %" PRId64 " is not in 100..600000", o.lease_ms);

    sm_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return SM_ENOMEM;
    char err[300];
    if (o.authkey != NULL) {
        if (o.authkey_len == 0 || o.authkey_len > SMAUTH_KEY_MAX) {
            free(c);
            return smi_fail(SM_EINVAL, "authkey_len %zu is not in 1..%d", o.authkey_len,
                            SMAUTH_KEY_MAX);
        }
        c->authkey = malloc(o.authkey_len);
        if (c->authkey == NULL) {
            free(c);
            return SM_ENOMEM;
        }
        memcpy(c->authkey, o.authkey, o.authkey_len);
        c->authkey_len = o.authkey_len;
    } else {
        c->authkey = smauth_key_from_env(&c->authkey_len, err, sizeof(err));
        if (c->authkey == NULL && err[0] != '\0') {
            free(c);
            return smi_fail(SM_EINVAL, "%s", err);
        }
    }
    c->call_timeout_ms = o.call_timeout_ms;
    c->lease_ms = o.lease_ms;
    c->url = strdup(url);
    if (c->url == NULL || nng_mtx_alloc(&c->mtx) != 0 || nng_cv_alloc(&c->cv, c->mtx) != 0) {
        rv = SM_ENOMEM;
        goto fail_alloc;
    }
    rv = nng_req0_open(&c->sock);
    if (rv != 0) {
        rv = smi_fail(SM_EINTERNAL, "nng_req0_open: %s", nng_strerror(rv));
        goto fail_alloc;
    }
    nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ, CLIENT_RECV_MAX);
    /* nng's default first redial (100 ms), backing off to 1 s. Redialling
     * more eagerly widens nng 1.5.2's close race (see client_close_socket). */
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 100);
    nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000);
    rv = nng_aio_alloc(&c->watch, client_watch_cb, c);
    if (rv != 0) {
        rv = SM_ENOMEM;
        goto fail_sock;
    }
    nng_pipe_notify(c->sock, NNG_PIPE_EV_ADD_POST, client_pipe_cb, c);
    nng_pipe_notify(c->sock, NNG_PIPE_EV_REM_POST, client_pipe_cb, c);

    rv = nng_dialer_create(&c->dialer, c->sock, url);
    if (rv != 0) {
        rv = smi_fail(SM_EINVAL, "cannot dial '%s': %s", url, nng_strerror(rv));
        goto fail_sock;
    }
    if (strncmp(url, "tls+", 4) == 0 && (rv = client_tls(c, &o)) != SM_OK)
        goto fail_sock;
    /* Non-blocking: the dialer keeps trying (and later reconnects) in the
     * background; we wait for the first connection ourselves. */
    rv = nng_dialer_start(c->dialer, NNG_FLAG_NONBLOCK);
    if (rv != 0) {
        rv = smi_fail(SM_EUNREACHABLE, "cannot dial '%s': %s", url, nng_strerror(rv));
        goto fail_sock;
    }
    nng_time until = nng_clock() + (nng_time)o.dial_timeout_ms;
    nng_mtx_lock(c->mtx);
    while (c->npipes == 0 && nng_cv_until(c->cv, until) != NNG_ETIMEDOUT)
        ;
    int up = c->npipes;
    nng_mtx_unlock(c->mtx);
    if (up == 0) {
        rv = smi_fail(SM_EUNREACHABLE, "no connection to %s within %" PRId64 " ms", url,
                      o.dial_timeout_ms);
        goto fail_sock;
    }
    rv = client_session_open(c);
    if (rv != SM_OK)
        goto fail_sock;
    rv = nng_thread_create(&c->heartbeat, client_heartbeat, c);
    if (rv != 0) {
        rv = smi_fail(SM_EINTERNAL, "cannot start the heartbeat: %s", nng_strerror(rv));
        goto fail_sock;
    }
    *cp = c;
    return SM_OK;

fail_sock:
    client_watch_stop(c);
    while (c->idle != NULL) {
        smi_ctx *x = c->idle;
        c->idle = x->next;
        nng_ctx_close(x->ctx);
        nng_aio_free(x->aio);
        free(x);
    }
    if (!client_close_socket(c))
        return rv; /* nng's close hung: c stays with it */
    if (c->tls != NULL)
        nng_tls_config_free(c->tls);
fail_alloc:
    if (c->cv != NULL)
        nng_cv_free(c->cv);
    if (c->mtx != NULL)
        nng_mtx_free(c->mtx);
    client_free_mem(c);
    return rv;
}

void
sm_client_close(sm_client *c)
{
    if (c == NULL)
        return;
    if (client_forked) {
        /* A forked child may not touch nng: free only our own memory. */
        while (c->idle != NULL) {
            smi_ctx *x = c->idle;
            c->idle = x->next;
            free(x);
        }
        client_free_mem(c);
        return;
    }
    /* Stop renewing, then end the session so that the server gives back at
     * once what it holds (a lease would do it too, later). */
    nng_mtx_lock(c->mtx);
    c->stopping = true;
    nng_cv_wake(c->cv);
    nng_mtx_unlock(c->mtx);
    nng_thread_destroy(c->heartbeat); /* joins it */
    client_watch_stop(c);
    nng_mtx_lock(c->mtx);
    bool connected = c->npipes > 0;
    nng_mtx_unlock(c->mtx);
    /* With no connection the server cannot hear a close; its lease ends
     * the session instead. */
    if (connected && !__atomic_load_n(&c->lost, __ATOMIC_RELAXED)) {
        int64_t t = c->call_timeout_ms == SM_WAIT_FOREVER || c->call_timeout_ms > 2000
                        ? 2000
                        : c->call_timeout_ms;
        client_simple(c, SMWIRE__REQUEST__OP_SESSION_CLOSE, t);
    }
    /* Every context and aio goes before the socket, as nng advises. */
    while (c->idle != NULL) {
        smi_ctx *x = c->idle;
        c->idle = x->next;
        nng_ctx_close(x->ctx);
        nng_aio_free(x->aio);
        free(x);
    }
    if (!client_close_socket(c))
        return; /* nng's close hung: c stays with the thread that holds it */
    if (c->tls != NULL)
        nng_tls_config_free(c->tls);
    nng_cv_free(c->cv);
    nng_mtx_free(c->mtx);
    client_free_mem(c);
}

int
sm_client_set_timeout(sm_client *c, int64_t ms)
{
    smi_detail_clear();
    if (c == NULL || (ms < 1 && ms != SM_WAIT_FOREVER))
        return smi_fail(SM_EINVAL, "timeout must be positive or SM_WAIT_FOREVER");
    __atomic_store_n(&c->call_timeout_ms, ms, __ATOMIC_RELAXED);
    return SM_OK;
}

const char *
sm_client_url(const sm_client *c)
{
    return c != NULL ? c->url : "";
}

/* client_ctx_get takes an idle context or opens one; NULL on failure with
 * *rvp set. */
static smi_ctx *
client_ctx_get(sm_client *c, int *rvp)
{
    nng_mtx_lock(c->mtx);
    smi_ctx *x = c->idle;
    if (x != NULL)
        c->idle = x->next;
    nng_mtx_unlock(c->mtx);
    if (x != NULL)
        return x;
    x = calloc(1, sizeof(*x));
    if (x == NULL) {
        *rvp = SM_ENOMEM;
        return NULL;
    }
    int rv = nng_aio_alloc(&x->aio, NULL, NULL);
    if (rv == 0) {
        rv = nng_ctx_open(&x->ctx, c->sock);
        if (rv != 0)
            nng_aio_free(x->aio);
    }
    if (rv != 0) {
        free(x);
        *rvp = client_map(c, rv);
        return NULL;
    }
    nng_ctx_set_ms(x->ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    return x;
}

static void
client_ctx_put(sm_client *c, smi_ctx *x, bool reuse)
{
    if (!reuse) {
        /* A context whose call failed may still get a late reply: drop it. */
        nng_ctx_close(x->ctx);
        nng_aio_free(x->aio);
        free(x);
        return;
    }
    nng_mtx_lock(c->mtx);
    x->next = c->idle;
    c->idle = x;
    nng_mtx_unlock(c->mtx);
}

/* The n of the last error reply on this thread: an atomic batch's failed
 * operation + 1. */
static __thread int64_t client_fail_n;

int64_t
smi_last_fail_index(void)
{
    return client_fail_n - 1;
}

/* client_conn_lost: the call's connection dropped; the request may or may
 * not have been applied, and sending it again is safe. */
static bool
client_conn_lost(int rv)
{
    return rv == NNG_ECONNRESET || rv == NNG_ECONNSHUT || rv == NNG_ECONNABORTED;
}

/* client_roundtrip is the one round trip: it numbers the request, packs it
 * once, and sends those same bytes again (same session, same seq) on a
 * fresh context whenever the connection drops, until the deadline; the
 * server answers a repeat from memory, so the call applies once. */
static int
client_roundtrip(sm_client *c, Smwire__Request *req, int64_t wait_ms, nng_duration deadline,
                 Smwire__Reply **repp)
{
    smi_inflight me = {0};
    int rv;

    client_fail_n = 0;
    req->version = SMI_PROTO_VERSION;
    req->session = c->session;
    req->timeout_ms = wait_ms;
    nng_mtx_lock(c->mtx);
    me.seq = ++c->seq;
    me.prev = c->inflight_tail;
    if (c->inflight_tail)
        c->inflight_tail->next = &me;
    else
        c->inflight = &me;
    c->inflight_tail = &me;
    req->seq = me.seq;
    req->ack_below = c->inflight->seq; /* every seq below has had its reply */
    nng_mtx_unlock(c->mtx);

    size_t size = smwire__request__get_packed_size(req);
    bool keyed = c->keyed && req->session != 0;
    uint8_t *bytes = malloc(size + (keyed ? SMAUTH_TRAILER : 0) + 1);
    Smwire__Reply *rep = NULL;
    if (bytes == NULL) {
        rv = SM_ENOMEM;
        goto out;
    }
    smwire__request__pack(req, bytes);
    if (keyed) { /* the MAC: the last field, over every byte before it */
        smauth_trailer(c->skey, bytes, size, bytes + size);
        size += SMAUTH_TRAILER;
    }
    nng_time end = deadline == NNG_DURATION_INFINITE ? 0 : nng_clock() + (nng_time)deadline;

    for (int attempt = 0;;) {
        nng_duration left = NNG_DURATION_INFINITE;
        if (end != 0) {
            nng_time now = nng_clock();
            if (now >= end) {
                rv = client_map(c, NNG_ETIMEDOUT);
                break;
            }
            left = (nng_duration)(end - now);
        }
        nng_msg *m;
        if (nng_msg_alloc(&m, size) != 0) {
            rv = SM_ENOMEM;
            break;
        }
        memcpy(nng_msg_body(m), bytes, size);
        smi_ctx *x = client_ctx_get(c, &rv);
        if (x == NULL) {
            nng_msg_free(m);
            break;
        }
        uint64_t replies = __atomic_load_n(&c->replies, __ATOMIC_RELAXED);
        nng_aio_set_timeout(x->aio, left);
        nng_aio_set_msg(x->aio, m);
        nng_ctx_send(x->ctx, x->aio);
        nng_aio_wait(x->aio);
        int nrv = nng_aio_result(x->aio);
        if (nrv != 0) {
            nng_msg_free(m); /* still ours */
        } else {
            nng_ctx_recv(x->ctx, x->aio);
            nng_aio_wait(x->aio);
            nrv = nng_aio_result(x->aio);
        }
        if (nrv != 0) {
            client_ctx_put(c, x, false);
            if (client_conn_lost(nrv)) {
                /* nng's reaper sends the pipe events, so when it stalls
                 * only a lost call says the connection went. */
                nng_mtx_lock(c->mtx);
                client_watch_arm_locked(c);
                nng_mtx_unlock(c->mtx);
                if (__atomic_load_n(&c->replies, __ATOMIC_RELAXED) != replies ||
                    ++attempt <= CLIENT_MAX_RESENDS)
                    continue; /* the same bytes again, on the next connection */
            }
            rv = client_map(c, nrv);
            break;
        }
        m = nng_aio_get_msg(x->aio);
        __atomic_add_fetch(&c->replies, 1, __ATOMIC_RELAXED);
        client_ctx_put(c, x, true);
        rep = smwire__reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
        nng_msg_free(m);
        rv = rep != NULL ? SM_OK : smi_fail(SM_EPROTO, "reply does not decode");
        break;
    }
out:
    free(bytes);
    nng_mtx_lock(c->mtx);
    if (me.prev)
        me.prev->next = me.next;
    else
        c->inflight = me.next;
    if (me.next)
        me.next->prev = me.prev;
    else
        c->inflight_tail = me.prev;
    nng_mtx_unlock(c->mtx);
    if (rv != SM_OK)
        return rv;
    if (rep->status != SM_OK && rep->status != SM_EOWNERDEAD) {
        rv = (int)rep->status;
        client_fail_n = rep->n;
        if (rv == SM_ESESSION)
            __atomic_store_n(&c->lost, true, __ATOMIC_RELAXED);
        smi_detail_set(rep->detail);
        smwire__reply__free_unpacked(rep, NULL);
        return rv;
    }
    *repp = rep;
    return (int)rep->status;
}

static int smi_call_now(sm_client *c, Smwire__Request *req, int64_t wait_ms, bool unbounded,
                        Smwire__Reply **repp);

int
smi_call(sm_client *c, Smwire__Request *req, int64_t wait_ms, Smwire__Reply **repp)
{
    return smi_call_ex(c, req, wait_ms, false, repp);
}

int
smi_call_deadline(sm_client *c, Smwire__Request *req, int64_t wait_ms, int64_t deadline_ms,
                  Smwire__Reply **repp)
{
    smi_detail_clear();
    if (smi_recording(c) != NULL)
        return smi_fail(SM_EINVAL, "this call cannot be in a batch");
    int rv = client_check_fork();
    if (rv != SM_OK)
        return rv;
    return client_roundtrip(c, req, wait_ms, (nng_duration)deadline_ms, repp);
}

int
smi_call_ex(sm_client *c, Smwire__Request *req, int64_t wait_ms, bool unbounded,
            Smwire__Reply **repp)
{
    smi_detail_clear();
    if (c == NULL)
        return smi_fail(SM_EINVAL, "no client");
    if (smi_recording(c) != NULL)
        return smi_fail(SM_EINVAL, "this call cannot be in a batch");
    return smi_call_now(c, req, wait_ms, unbounded, repp);
}

/* smi_call_now is smi_call_ex without the batch check. */
static int
smi_call_now(sm_client *c, Smwire__Request *req, int64_t wait_ms, bool unbounded,
             Smwire__Reply **repp)
{
    int rv = client_check_fork();
    if (rv != SM_OK)
        return rv;
    int64_t call_ms = __atomic_load_n(&c->call_timeout_ms, __ATOMIC_RELAXED);
    nng_duration deadline;
    if (unbounded || wait_ms == SM_WAIT_FOREVER || call_ms == SM_WAIT_FOREVER)
        deadline = NNG_DURATION_INFINITE;
    else if (wait_ms > (int64_t)INT32_MAX - call_ms)
        deadline = NNG_DURATION_INFINITE; /* beyond ~24 days: no bound in practice */
    else
        deadline = (nng_duration)(wait_ms + call_ms);
    return client_roundtrip(c, req, wait_ms, deadline, repp);
}

int
smi_call_direct(sm_client *c, Smwire__Request *req, Smwire__Reply **repp)
{
    smi_detail_clear();
    if (c == NULL)
        return smi_fail(SM_EINVAL, "no client");
    return smi_call_now(c, req, 0, false, repp);
}

int
smi_client_call_batch(sm_client *c, const uint8_t *batch, size_t len, Smwire__Reply **repp)
{
    /* The Batch is packed already, its length in front (proxy/batch.c):
     * it travels as field 170 (op batch), carried as an unknown field so
     * that its bytes are copied once, not unpacked and packed again. */
    ProtobufCMessageUnknownField f = {
        .tag = SMWIRE__REQUEST__OP_BATCH,
        .wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED,
        .len = len,
        .data = (uint8_t *)batch,
    };
    Smwire__Request req;
    smwire__request__init(&req);
    req.base.n_unknown_fields = 1;
    req.base.unknown_fields = &f;
    return smi_call_now(c, &req, 0, false, repp);
}
