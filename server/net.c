/* net.c - nng REP socket, listeners and contexts for syncmgrd.
 *
 * Each context is a two-state machine on its own aio: RECV (waiting for a
 * request) and SEND (replying). A received request is handled inside the aio
 * callback, with no hand-off to another thread: srv_handle_into() packs the
 * reply into the very nng_msg that carried the request, which is then sent
 * on the same context. Every context goes back to RECV after its reply, so
 * the socket always has receivers.
 *
 * Messages larger than max_msg are refused by the transport (the connection
 * drops; clients have resend off, see NNG-NOTES).
 * Exported: net_start, net_stop. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/transport/ipc/ipc.h>

#include "net.h"

enum { CTX_RECV, CTX_SEND };

typedef struct net_ctx {
    srv_net *net;
    nng_ctx ctx;
    nng_aio *aio;
    int state;
} net_ctx;

struct srv_net {
    srv_state *st;
    nng_socket sock;
    net_ctx *ctxs;
    int nctx;
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

static void
net_ctx_cb(void *arg)
{
    net_ctx *c = arg;
    int rv = nng_aio_result(c->aio);

    if (c->state == CTX_SEND) {
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(c->aio)); /* still ours */
            nng_aio_set_msg(c->aio, NULL);
        }
        if (rv == NNG_ECLOSED)
            return;
        c->state = CTX_RECV;
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    if (rv == NNG_ECLOSED)
        return;
    if (rv != 0) {
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    nng_msg *m = nng_aio_get_msg(c->aio);
    size_t len = nng_msg_len(m);
    size_t outlen;
    /* The reply is packed into m itself: srv_handle_into has unpacked (and
     * so copied) the request before it asks for reply space. */
    if (srv_handle_into(c->net->st, nng_msg_body(m), len, net_msg_alloc, m, &outlen) != SM_OK) {
        nng_msg_free(m); /* not even an error reply fits in memory */
        nng_ctx_recv(c->ctx, c->aio);
        return;
    }
    c->state = CTX_SEND;
    nng_aio_set_msg(c->aio, m);
    nng_ctx_send(c->ctx, c->aio);
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

static void
net_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    char who[128];
    (void)arg;
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
    snprintf(buf, size, "%s", url);
    if (nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa) != 0)
        return;
    if (sa.s_family == NNG_AF_INET) {
        inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip));
        snprintf(buf, size, "tcp://%s:%u", ip, ntohs(sa.s_in.sa_port));
    } else if (sa.s_family == NNG_AF_INET6) {
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip));
        snprintf(buf, size, "tcp://[%s]:%u", ip, ntohs(sa.s_in6.sa_port));
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
    rv = nng_rep0_open(&n->sock);
    if (rv != 0) {
        srv_log(SRV_LOG_WARN, "cannot open the REP socket: %s", nng_strerror(rv));
        free(n);
        return SM_EINTERNAL;
    }
    nng_socket_set_size(n->sock, NNG_OPT_RECVMAXSZ, o->max_msg);
    nng_pipe_notify(n->sock, NNG_PIPE_EV_ADD_POST, net_pipe_cb, n);
    nng_pipe_notify(n->sock, NNG_PIPE_EV_REM_POST, net_pipe_cb, n);

    n->nctx = o->nctx;
    n->ctxs = calloc((size_t)n->nctx, sizeof(*n->ctxs));
    if (n->ctxs == NULL)
        goto fail;
    for (int i = 0; i < n->nctx; i++) {
        net_ctx *c = &n->ctxs[i];
        c->net = n;
        rv = nng_aio_alloc(&c->aio, net_ctx_cb, c);
        if (rv == 0) {
            rv = nng_ctx_open(&c->ctx, n->sock);
            if (rv != 0) {
                nng_aio_free(c->aio);
                c->aio = NULL;
            }
        }
        if (rv != 0) {
            srv_log(SRV_LOG_WARN, "cannot open context %d: %s", i, nng_strerror(rv));
            goto fail;
        }
    }
    for (size_t i = 0; i < o->nurls; i++) {
        nng_listener l;
        char bound[512];
        rv = nng_listener_create(&l, n->sock, o->urls[i]);
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
    }
    for (int i = 0; i < n->nctx; i++) {
        n->ctxs[i].state = CTX_RECV;
        nng_ctx_recv(n->ctxs[i].ctx, n->ctxs[i].aio);
    }
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
    nng_close(n->sock); /* every pending aio completes with NNG_ECLOSED */
    for (int i = 0; n->ctxs != NULL && i < n->nctx; i++) {
        if (n->ctxs[i].aio != NULL) {
            nng_aio_free(n->ctxs[i].aio); /* waits for its callback */
        }
    }
    free(n->ctxs);
    free(n);
}
