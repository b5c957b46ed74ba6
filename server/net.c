/* net.c - nng REP socket, listeners and contexts for syncmgrd.
 *
 * Each context runs a small state machine on its own aio: RECV (waiting
 * for a request), then either SEND (replying at once) or PARKED (the
 * request waits in the server for a lock, an item, ...). A received request
 * is handled inside the aio callback, with no hand-off to another thread:
 * srv_handle_into() packs the reply into the very nng_msg that carried the
 * request. A parked request keeps its context (nng routes a reply sent on
 * that context later, NNG-NOTES item 2) and its reply comes from
 * net_send_late(), called by the core under the state lock.
 *
 * If every context were parked, nng would deliver no new request, and the
 * request that would unpark them would never be read. So the number of
 * contexts in RECV is kept at `target`: a context that parks is replaced at
 * once from a pool of spare contexts, opened ahead of need by the timer
 * thread (never inside an nng callback). A context whose reply has gone out
 * returns to RECV if receivers are short, else to the spare pool.
 *
 * The timer thread also answers waiters whose deadline passed
 * (srv_expire), sleeping until the earliest deadline or a kick, and at
 * least once a second takes the samples SERVER_STATUS's rates need.
 *
 * For SERVER_STATUS the network also counts open connections (pipe events),
 * records the URLs it listens on, and tells the core the connection and
 * peer address of each request (the peer hook: a context remembers the
 * pipe its request came on).
 *
 * Messages larger than max_msg are refused by the transport (the connection
 * drops; clients have resend off, see NNG-NOTES).
 * Exported: net_start, net_stop. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>
#include <nng/transport/ipc/ipc.h>

#include "auth.h"
#include "net.h"

#define NET_SPARES 8
#define NET_TICK_MS 1000 /* the timer wakes at least this often (status samples) */

enum { CTX_RECV, CTX_SEND, CTX_PARKED, CTX_IDLE };

typedef struct net_ctx {
    srv_net *net;
    nng_ctx ctx;
    nng_aio *aio;
    int state;
    nng_pipe pipe; /* the connection its current request came on */
    struct net_ctx *next_idle;
    struct net_ctx *next_all;
} net_ctx;

struct srv_net {
    srv_state *st;
    nng_socket sock;
    pthread_mutex_t mtx; /* guards everything below; never held across srv_* */
    pthread_cond_t cv;
    net_ctx *all;  /* every context, for shutdown */
    net_ctx *idle; /* opened, not receiving */
    int nidle;
    int receiving; /* contexts in CTX_RECV */
    int target;
    uint64_t nctx;
    bool kicked, stopping;
    pthread_t timer;
    bool timer_started;
    char **listen; /* the bound URLs, for SERVER_STATUS */
    size_t nlisten;
};

/* net_msg_alloc is srv_handle_into's allocator: it reuses the request's
 * message for the reply. */
static void *
net_msg_alloc(void *arg, size_t size)
{
    nng_msg *m = arg;
    nng_msg_clear(m);
    if (nng_msg_realloc(m, size) != 0)
        return NULL;
    return nng_msg_body(m);
}

/* net_recv puts c in RECV. Called with n->mtx held (nng dispatches the
 * completion to its own threads, so no callback runs inside this call). */
static void
net_recv_locked(srv_net *n, net_ctx *c)
{
    c->state = CTX_RECV;
    n->receiving++;
    nng_ctx_recv(c->ctx, c->aio);
}

/* net_after_reply decides where a context goes once its reply is sent. */
static void
net_after_reply(net_ctx *c)
{
    srv_net *n = c->net;
    pthread_mutex_lock(&n->mtx);
    if (n->stopping) {
        c->state = CTX_IDLE;
    } else if (n->receiving < n->target || n->nidle >= NET_SPARES) {
        net_recv_locked(n, c);
    } else {
        c->state = CTX_IDLE;
        c->next_idle = n->idle;
        n->idle = c;
        n->nidle++;
    }
    pthread_mutex_unlock(&n->mtx);
}

static void
net_ctx_cb(void *arg)
{
    net_ctx *c = arg;
    srv_net *n = c->net;
    int rv = nng_aio_result(c->aio);

    if (c->state == CTX_SEND) {
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(c->aio)); /* still ours */
            nng_aio_set_msg(c->aio, NULL);
        }
        if (rv != NNG_ECLOSED)
            net_after_reply(c);
        return;
    }
    /* CTX_RECV completed. */
    pthread_mutex_lock(&n->mtx);
    n->receiving--;
    pthread_mutex_unlock(&n->mtx);
    if (rv == NNG_ECLOSED)
        return;
    if (rv != 0) {
        net_after_reply(c);
        return;
    }
    nng_msg *m = nng_aio_get_msg(c->aio);
    nng_aio_set_msg(c->aio, NULL);
    size_t outlen;
    bool parked;
    /* Mark the context parked before the core can answer it: a late reply
     * may come from another thread as soon as the state lock is released. */
    c->state = CTX_PARKED;
    c->pipe = nng_msg_get_pipe(m);
    if (srv_handle_into(n->st, nng_msg_body(m), nng_msg_len(m), net_msg_alloc, m, c, &parked,
                        &outlen) != SM_OK) {
        nng_msg_free(m); /* not even an error reply fits in memory */
        net_after_reply(c);
        return;
    }
    if (parked) {
        nng_msg_free(m);
        /* c is no longer ours to touch. Replace it as a receiver. */
        pthread_mutex_lock(&n->mtx);
        if (n->idle != NULL && !n->stopping) {
            net_ctx *s = n->idle;
            n->idle = s->next_idle;
            n->nidle--;
            net_recv_locked(n, s);
        }
        n->kicked = true; /* refill the spares */
        pthread_cond_signal(&n->cv);
        pthread_mutex_unlock(&n->mtx);
        return;
    }
    c->state = CTX_SEND;
    nng_aio_set_msg(c->aio, m);
    nng_ctx_send(c->ctx, c->aio);
}

/* net_send_late is the core's send hook: the reply of a parked request.
 * Called under the state lock; copies buf. */
static void
net_send_late(void *arg, void *conn, const uint8_t *buf, size_t len)
{
    net_ctx *c = conn;
    nng_msg *m;
    (void)arg;
    if (nng_msg_alloc(&m, len) != 0) {
        srv_log(SRV_LOG_WARN, "no memory for a late reply; its caller will time out");
        net_after_reply(c);
        return;
    }
    memcpy(nng_msg_body(m), buf, len);
    c->state = CTX_SEND;
    nng_aio_set_msg(c->aio, m);
    nng_ctx_send(c->ctx, c->aio);
}

/* net_release is the core's release hook: a parked context will get no
 * reply (its session ended, or a repeat of its request took over). */
static void
net_release(void *arg, void *conn)
{
    (void)arg;
    net_after_reply(conn);
}

static void net_pipe_url(nng_pipe p, char *buf, size_t size);

/* net_peer is the core's peer hook: the pipe conn's request came on, and
 * with size > 0 its peer's address. */
static uint32_t
net_peer(void *arg, void *conn, char *buf, size_t size)
{
    const net_ctx *c = conn;
    (void)arg;
    int id = nng_pipe_id(c->pipe);
    if (size > 0)
        net_pipe_url(c->pipe, buf, size);
    return id > 0 ? (uint32_t)id : 0;
}

/* net_kick is the core's kick hook: the earliest deadline changed. */
static void
net_kick(void *arg)
{
    srv_net *n = arg;
    pthread_mutex_lock(&n->mtx);
    n->kicked = true;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mtx);
}

/* net_ctx_new opens a context (idle, not receiving); NULL on failure. */
static net_ctx *
net_ctx_new(srv_net *n)
{
    net_ctx *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->net = n;
    c->state = CTX_IDLE;
    int rv = nng_aio_alloc(&c->aio, net_ctx_cb, c);
    if (rv == 0) {
        rv = nng_ctx_open(&c->ctx, n->sock);
        if (rv != 0)
            nng_aio_free(c->aio);
    }
    if (rv != 0) {
        srv_log(SRV_LOG_WARN, "cannot open a context: %s", nng_strerror(rv));
        free(c);
        return NULL;
    }
    pthread_mutex_lock(&n->mtx);
    c->next_all = n->all;
    n->all = c;
    n->nctx++;
    pthread_mutex_unlock(&n->mtx);
    return c;
}

/* net_refill keeps `target` contexts receiving and NET_SPARES spare. */
static void
net_refill(srv_net *n)
{
    for (;;) {
        pthread_mutex_lock(&n->mtx);
        if (n->stopping) {
            pthread_mutex_unlock(&n->mtx);
            return;
        }
        if (n->receiving < n->target && n->idle != NULL) {
            net_ctx *s = n->idle;
            n->idle = s->next_idle;
            n->nidle--;
            net_recv_locked(n, s);
            pthread_mutex_unlock(&n->mtx);
            continue;
        }
        bool need = n->receiving < n->target || n->nidle < NET_SPARES;
        pthread_mutex_unlock(&n->mtx);
        if (!need)
            return;
        net_ctx *c = net_ctx_new(n); /* outside the lock: it allocates */
        if (c == NULL)
            return; /* logged; tried again on the next kick */
        pthread_mutex_lock(&n->mtx);
        c->next_idle = n->idle;
        n->idle = c;
        n->nidle++;
        pthread_mutex_unlock(&n->mtx);
    }
}

static void *
net_timer_main(void *arg)
{
    srv_net *n = arg;
    for (;;) {
        net_refill(n);
        int64_t now = srv_now_ms();
        srv_status_tick(n->st, now);
        int64_t next = srv_expire(n->st, now);
        if (next < 0 || next > now + NET_TICK_MS)
            next = now + NET_TICK_MS;
        pthread_mutex_lock(&n->mtx);
        while (!n->kicked && !n->stopping) {
            if (next < 0) {
                pthread_cond_wait(&n->cv, &n->mtx);
            } else {
                if (next <= srv_now_ms() ||
                    srv_cond_wait_until(&n->cv, &n->mtx, next) == ETIMEDOUT)
                    break;
            }
        }
        n->kicked = false;
        bool stop = n->stopping;
        pthread_mutex_unlock(&n->mtx);
        if (stop)
            return NULL;
    }
}

/* net_pipe_name describes the peer of pipe p for the log. */
static void
net_pipe_name(nng_pipe p, char *buf, size_t size)
{
    nng_sockaddr sa;
    uint64_t pid;
    char ip[INET6_ADDRSTRLEN];

    snprintf(buf, size, "unknown peer");
    if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
        return;
    switch (sa.s_family) {
    case NNG_AF_IPC:
        if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &pid) == 0)
            snprintf(buf, size, "ipc pid %" PRIu64, pid);
        else
            snprintf(buf, size, "ipc");
        break;
    case NNG_AF_INET:
        inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip));
        snprintf(buf, size, "%s:%u", ip, ntohs(sa.s_in.sa_port));
        break;
    case NNG_AF_INET6:
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip));
        snprintf(buf, size, "[%s]:%u", ip, ntohs(sa.s_in6.sa_port));
        break;
    default:
        break;
    }
}

/* net_pipe_url describes the peer of pipe p as a URL: the listener's
 * scheme and the peer's address (tcp://1.2.3.4:5678, tls+tcp://[::1]:5678),
 * or for ipc:// the socket's path and the peer's pid
 * (ipc:///run/sm.sock?pid=1234). */
static void
net_pipe_url(nng_pipe p, char *buf, size_t size)
{
    nng_sockaddr sa;
    uint64_t pid;
    char ip[INET6_ADDRSTRLEN], scheme[16] = "tcp";
    char *url = NULL;

    snprintf(buf, size, "unknown");
    if (nng_listener_get_string(nng_pipe_listener(p), NNG_OPT_URL, &url) == 0) {
        size_t n = strcspn(url, ":");
        if (n < sizeof(scheme) && strncmp(url + n, "://", 3) == 0)
            snprintf(scheme, sizeof(scheme), "%.*s", (int)n, url);
        nng_strfree(url);
    }
    if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
        return;
    switch (sa.s_family) {
    case NNG_AF_IPC:
        if (nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &pid) == 0)
            snprintf(buf, size, "ipc://%.80s?pid=%" PRIu64, sa.s_ipc.sa_path, pid);
        else
            snprintf(buf, size, "ipc://%.80s", sa.s_ipc.sa_path);
        break;
    case NNG_AF_INET:
        inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip));
        snprintf(buf, size, "%s://%s:%u", scheme, ip, ntohs(sa.s_in.sa_port));
        break;
    case NNG_AF_INET6:
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip));
        snprintf(buf, size, "%s://[%s]:%u", scheme, ip, ntohs(sa.s_in6.sa_port));
        break;
    default:
        break;
    }
}

static void
net_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    char who[128];
    srv_net *n = arg;
    /* Every pipe that gets ADD_PRE gets REM_POST once (nng 1.5.2). */
    if (ev == NNG_PIPE_EV_ADD_PRE) {
        __atomic_add_fetch(&n->st->stats.connections, 1, __ATOMIC_RELAXED);
        return;
    }
    if (ev == NNG_PIPE_EV_REM_POST)
        __atomic_sub_fetch(&n->st->stats.connections, 1, __ATOMIC_RELAXED);
    if (srv_log_level > SRV_LOG_NOTICE)
        return;
    net_pipe_name(p, who, sizeof(who));
    if (ev == NNG_PIPE_EV_ADD_POST)
        srv_log(SRV_LOG_NOTICE, "client connected: pipe %u from %s", (unsigned)nng_pipe_id(p),
                who);
    else
        srv_log(SRV_LOG_NOTICE, "client disconnected: pipe %u", (unsigned)nng_pipe_id(p));
}

/* net_bound_url writes the URL listener l really listens on. */
static void
net_bound_url(nng_listener l, const char *url, char *buf, size_t size)
{
    nng_sockaddr sa;
    char ip[INET6_ADDRSTRLEN];
    /* The scheme as given (tcp://, tls+tcp://, tcp4://, ...). */
    const char *sep = strstr(url, "://");
    int slen = sep != NULL ? (int)(sep - url) : 3;
    const char *scheme = sep != NULL ? url : "tcp";
    snprintf(buf, size, "%s", url);
    if (nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) != 0)
        return;
    if (sa.s_family == NNG_AF_INET) {
        inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip));
        snprintf(buf, size, "%.*s://%s:%u", slen, scheme, ip, ntohs(sa.s_in.sa_port));
    } else if (sa.s_family == NNG_AF_INET6) {
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip));
        snprintf(buf, size, "%.*s://[%s]:%u", slen, scheme, ip, ntohs(sa.s_in6.sa_port));
    }
}

int
net_start(srv_net **np, srv_state *st, const net_opts *o, FILE *ready_out)
{
    srv_net *n = calloc(1, sizeof(*n));
    int rv;

    if (n == NULL)
        return SM_ENOMEM;
    n->st = st;
    n->target = o->nctx;
    pthread_mutex_init(&n->mtx, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&n->cv, &ca);
    pthread_condattr_destroy(&ca);
    rv = nng_rep0_open(&n->sock);
    if (rv != 0) {
        srv_log(SRV_LOG_WARN, "cannot open the REP socket: %s", nng_strerror(rv));
        pthread_cond_destroy(&n->cv);
        pthread_mutex_destroy(&n->mtx);
        free(n);
        return SM_EINTERNAL;
    }
    nng_socket_set_size(n->sock, NNG_OPT_RECVMAXSZ, o->max_msg);
    nng_pipe_notify(n->sock, NNG_PIPE_EV_ADD_PRE, net_pipe_cb, n);
    nng_pipe_notify(n->sock, NNG_PIPE_EV_ADD_POST, net_pipe_cb, n);
    nng_pipe_notify(n->sock, NNG_PIPE_EV_REM_POST, net_pipe_cb, n);

    /* The hooks go in before any request can arrive. */
    pthread_mutex_lock(&st->lock);
    st->hooks.send = net_send_late;
    st->hooks.kick = net_kick;
    st->hooks.release = net_release;
    st->hooks.peer = net_peer;
    st->hooks.arg = n;
    st->stats.started = srv_now_ms();
    pthread_mutex_unlock(&st->lock);

    n->listen = calloc(o->nurls ? o->nurls : 1, sizeof(*n->listen));
    if (n->listen == NULL)
        goto fail;

    for (int i = 0; i < n->target + NET_SPARES; i++) {
        net_ctx *c = net_ctx_new(n);
        if (c == NULL)
            goto fail;
        c->next_idle = n->idle;
        n->idle = c;
        n->nidle++;
    }
    for (size_t i = 0; i < o->nurls; i++) {
        nng_listener l;
        char bound[512];
        rv = nng_listener_create(&l, n->sock, o->urls[i]);
        if (rv == 0 && strncmp(o->urls[i], "tls+", 4) == 0) {
            char err[300];
            nng_tls_config *cfg =
                smauth_tls_config(true, o->tls_ca, o->tls_cert, o->tls_key, NULL, err, sizeof(err));
            if (cfg == NULL) {
                srv_log(SRV_LOG_WARN, "%s: %s", o->urls[i], err);
                goto fail;
            }
            rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, cfg);
            nng_tls_config_free(cfg); /* the listener holds its own reference */
        }
        if (rv == 0) {
            nng_listener_set_size(l, NNG_OPT_RECVMAXSZ, o->max_msg);
            rv = nng_listener_start(l, 0);
        }
        if (rv != 0) {
            srv_log(SRV_LOG_WARN, "cannot listen on %s: %s", o->urls[i], nng_strerror(rv));
            goto fail;
        }
        net_bound_url(l, o->urls[i], bound, sizeof(bound));
        srv_log(SRV_LOG_NOTICE, "listening on %s", bound);
        if (ready_out != NULL)
            fprintf(ready_out, "%s\n", bound);
        if ((n->listen[n->nlisten] = strdup(bound)) == NULL)
            goto fail;
        n->nlisten++;
    }
    pthread_mutex_lock(&st->lock);
    st->stats.listen = (const char *const *)n->listen;
    st->stats.nlisten = n->nlisten;
    for (size_t i = 0; i < o->nurls; i++)
        st->stats.tls |= strncmp(o->urls[i], "tls+", 4) == 0;
    pthread_mutex_unlock(&st->lock);
    if (pthread_create(&n->timer, NULL, net_timer_main, n) != 0) {
        srv_log(SRV_LOG_WARN, "cannot start the timer thread");
        goto fail;
    }
    n->timer_started = true;
    net_refill(n); /* starts `target` receivers from the spares */
    *np = n;
    return SM_OK;
fail:
    net_stop(n);
    return SM_EINTERNAL;
}

void
net_stop(srv_net *n)
{
    if (n == NULL)
        return;
    pthread_mutex_lock(&n->mtx);
    n->stopping = true;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mtx);
    if (n->timer_started)
        pthread_join(n->timer, NULL);
    /* No more late replies: the core frees parked waiters unanswered. */
    pthread_mutex_lock(&n->st->lock);
    n->st->hooks.send = NULL;
    n->st->hooks.kick = NULL;
    n->st->hooks.release = NULL;
    n->st->hooks.peer = NULL;
    n->st->stats.listen = NULL;
    n->st->stats.nlisten = 0;
    pthread_mutex_unlock(&n->st->lock);
    for (size_t i = 0; i < n->nlisten; i++)
        free(n->listen[i]);
    free(n->listen);
    nng_close(n->sock); /* every pending aio completes with NNG_ECLOSED */
    net_ctx *c = n->all;
    while (c != NULL) {
        net_ctx *next = c->next_all;
        nng_aio_free(c->aio); /* waits for its callback */
        free(c);
        c = next;
    }
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mtx);
    free(n);
}
