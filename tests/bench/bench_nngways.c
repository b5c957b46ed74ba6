/* bench_nngways.c - which way of driving nng 1.5.2 REQ/REP costs least per round trip.
 *
 * A raw nng echo of a 32-byte payload (no syncmgr code in the path), measured in several
 * variants, each against one baseline: the way syncmgrd and libsyncmgr drive nng today.
 *
 *   base          server S-ctx-cb: a cooked REP socket with 16 contexts, each an aio whose
 *                 callback sends the request's own nng_msg back (nng_ctx_send) and, once the
 *                 send completes, re-arms nng_ctx_recv (server/net.c). Client C-ctx-aio: a REQ
 *                 socket (resend off) with one context + aio: per call nng_msg_alloc, append
 *                 the payload, nng_ctx_send + nng_aio_wait, nng_ctx_recv + nng_aio_wait
 *                 (proxy/client.c).
 *   Server variants (client = base):
 *   s-handoff     contexts receive in their callbacks, but hand the message to one worker
 *                 thread (mutex + condvar FIFO) that calls nng_ctx_send.
 *   s-raw1/2      a raw REP socket (nng_rep0_open_raw), 1 or 2 threads looping blocking
 *                 nng_recvmsg / nng_sendmsg of the same message (its header routes the reply).
 *   s-cooked      a cooked REP socket, one thread looping nng_recvmsg / nng_sendmsg: one
 *                 request at a time.
 *   s-newmsg      as base, but the reply is a freshly allocated nng_msg (request freed).
 *   Client variants (server = base):
 *   c-sync        nng_sendmsg / nng_recvmsg on the REQ socket, no context.
 *   c-syncbuf     nng_send / nng_recv of a caller buffer (no NNG_FLAG_ALLOC): nng copies.
 *   c-reuse       as base, but the reply nng_msg is kept and becomes the next request
 *                 (nng_msg_clear + append) instead of allocating one per call.
 *   Options (server and client both base), each alone:
 *   buf0, buf64   NNG_OPT_RECVBUF and NNG_OPT_SENDBUF set to 0 / 64 on every socket (base =
 *                 nng's default, 1 and 0). In 1.5.2 only raw sockets use the queues these
 *                 size (xrep.c, xreq.c); cooked req0/rep0 accept the options and ignore them.
 *   nodelay-off   NNG_OPT_TCP_NODELAY false on the listener and every dialer (tcp only; base
 *                 = nng's default, true).
 *   pin0          the server and every client process pinned to core 0 (sched_setaffinity).
 *   Not run by default (--variants):
 *   s-raw1-buf64  s-raw1 with buf64: the raw REP socket is the one that uses those queues.
 *
 * Processes: the server and every client are separate processes, this program re-exec'd as
 * `--serve ...` / `--client ...` (the driver itself never touches nng, so it may fork freely).
 * Each client process has one REQ socket and one call in flight, like a real worker process.
 * The server reports its bound URL on a control socket, then answers "c" there with its own
 * getrusage(RUSAGE_SELF) (CPU and context switches, all its threads), and stops cleanly when
 * the driver shuts the control socket (nng_close, join, free; the driver SIGKILLs it after
 * 5 s, NNG-NOTES item 7). A client dials, makes NW_WARMUP untimed calls, says ready, waits for
 * the shared go pipe to close, then calls for --seconds and sends back its own getrusage
 * delta and every call's latency. Any nng error in a child is printed there and the child
 * exits 1; the driver marks the cell failed and exits 1 at the end.
 *
 * A cell (variant, transport, client count) is run --rounds times. Rounds are outermost:
 * round 1 runs every cell once (within a transport and client count, the variants in an
 * order shuffled afresh each round, baseline among them, so no variant always runs right after
 * the same other one), then round 2, ... so each round's baseline runs seconds away from its
 * variants. --pin-all pins every process of every cell to core 0 (then pin0 is not run): with
 * no cross-core wake-ups left, the figures are the cost of the code path alone.
 *
 * Reported per cell: the round with the median rt/s (its rt/s, p50/p99 latency over all
 * calls of all clients, CPU and context switches per round trip of all client processes
 * together and of the server), and the ratios to the
 * baseline of the same transport and client count: per round (variant / base of that round),
 * then the median and the spread (min..max) of those per-round ratios. `x cpu` is the ratio
 * of total CPU per round trip (clients + server).
 *
 * A benchmark never passes or fails on figures: exit 0 when every cell ran, 1 when one
 * failed (the table says which and why), 2 on a usage error. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#define NW_PAYLOAD     32
#define NW_SERVER_CTXS 16 /* as syncmgrd's default --contexts */
#define NW_WARMUP      50 /* untimed calls per client before the clock starts */
#define NW_MAX_CLIENTS 64
#define NW_MAX_COUNTS  4
#define NW_MAX_ROUNDS  20
#define NW_CTL_FD      200   /* a child's control socket to the driver */
#define NW_GO_FD       201   /* a client's end of the shared go pipe */
#define NW_IO_MS       10000 /* nng send/receive bound in the children */
#define NW_SPAWN_S     30    /* bound on a child getting ready / reporting */

/* ----------------------------------------------------------------- variants */

enum { NW_S_CTXCB, NW_S_HANDOFF, NW_S_RAW, NW_S_COOKED, NW_S_NEWMSG, NW_S_KINDS };
static const char *const nw_s_names[NW_S_KINDS] = {"ctx-cb", "ctx-handoff", "raw", "cooked",
                                                   "newmsg"};
enum { NW_C_CTXAIO, NW_C_SYNC, NW_C_SYNCBUF, NW_C_REUSE, NW_C_KINDS };
static const char *const nw_c_names[NW_C_KINDS] = {"ctx-aio", "sync", "sync-buf", "reuse"};

typedef struct nw_variant {
    const char *name;  /* for --variants and the table */
    const char *label; /* what it is */
    int server;        /* NW_S_* */
    int sthreads;      /* threads of a sync server */
    int client;        /* NW_C_* */
    int buf;           /* NNG_OPT_RECVBUF/SENDBUF on every socket; -1: nng's default */
    int nodelay;       /* NNG_OPT_TCP_NODELAY on every endpoint; -1: nng's default */
    bool pin;          /* every process on core 0 */
    bool tcp_only;
    bool dflt; /* run without --variants */
} nw_variant;

static const nw_variant nw_variants[] = {
    {"base", "S-ctx-cb + C-ctx-aio (baseline)", NW_S_CTXCB, 1, NW_C_CTXAIO, -1, -1, false, false,
     true},
    {"s-handoff", "S-ctx-handoff", NW_S_HANDOFF, 1, NW_C_CTXAIO, -1, -1, false, false, true},
    {"s-raw1", "S-sync-raw, 1 thread", NW_S_RAW, 1, NW_C_CTXAIO, -1, -1, false, false, true},
    {"s-raw2", "S-sync-raw, 2 threads", NW_S_RAW, 2, NW_C_CTXAIO, -1, -1, false, false, true},
    {"s-cooked", "S-sync-cooked", NW_S_COOKED, 1, NW_C_CTXAIO, -1, -1, false, false, true},
    {"s-newmsg", "S-newmsg", NW_S_NEWMSG, 1, NW_C_CTXAIO, -1, -1, false, false, true},
    {"c-sync", "C-sync", NW_S_CTXCB, 1, NW_C_SYNC, -1, -1, false, false, true},
    {"c-syncbuf", "C-sync-buf", NW_S_CTXCB, 1, NW_C_SYNCBUF, -1, -1, false, false, true},
    {"c-reuse", "C-reuse", NW_S_CTXCB, 1, NW_C_REUSE, -1, -1, false, false, true},
    {"buf0", "RECVBUF/SENDBUF 0", NW_S_CTXCB, 1, NW_C_CTXAIO, 0, -1, false, false, true},
    {"buf64", "RECVBUF/SENDBUF 64", NW_S_CTXCB, 1, NW_C_CTXAIO, 64, -1, false, false, true},
    {"nodelay-off", "TCP_NODELAY off", NW_S_CTXCB, 1, NW_C_CTXAIO, -1, 0, false, true, true},
    {"pin0", "all pinned to core 0", NW_S_CTXCB, 1, NW_C_CTXAIO, -1, -1, true, false, true},
    {"s-raw1-buf64", "S-sync-raw 1 thread, buf 64", NW_S_RAW, 1, NW_C_CTXAIO, 64, -1, false, false,
     false},
};
#define NW_NVARIANTS (sizeof(nw_variants) / sizeof(nw_variants[0]))

/* ------------------------------------------------------------------ helpers */

static uint64_t
nw_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* This process's CPU time (all threads, µs) and context switches (voluntary + involuntary). */
static void
nw_self_usage(double *cpu_us, double *cs)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        *cpu_us = *cs = NAN;
        return;
    }
    *cpu_us = (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
              (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
    *cs = (double)ru.ru_nvcsw + (double)ru.ru_nivcsw;
}

/* Fatal nng error in a child: print and leave at once (callback threads may be running, so
 * no atexit work). */
static void
nw_die(const char *who, const char *what, int rv)
{
    fprintf(stderr, "bench_nngways %s: %s: %s\n", who, what, nng_strerror(rv));
    fflush(stderr);
    _exit(1);
}

static void
nw_check(const char *who, const char *what, int rv)
{
    if (rv != 0)
        nw_die(who, what, rv);
}

/* Writes all of buf; false on error. */
static bool
nw_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads exactly len bytes before deadline (ns, CLOCK_MONOTONIC). 0, or -1 with why. */
static int
nw_read_full(int fd, void *buf, size_t len, uint64_t deadline, char *why, size_t whylen)
{
    char *p = buf;
    while (len > 0) {
        uint64_t now = nw_now_ns();
        if (now >= deadline) {
            snprintf(why, whylen, "timed out");
            return -1;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0) {
            snprintf(why, whylen, "poll: %s", strerror(errno));
            return -1;
        }
        if (pr == 0)
            continue;
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(why, whylen, "read: %s", strerror(errno));
            return -1;
        }
        if (n == 0) {
            snprintf(why, whylen, "closed early (the process failed; see its message above)");
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads one '\n'-terminated line (without the '\n') before deadline. As nw_read_full. */
static int
nw_read_line(int fd, char *buf, size_t size, uint64_t deadline, char *why, size_t whylen)
{
    size_t got = 0;
    for (;;) {
        if (got + 1 >= size) {
            snprintf(why, whylen, "line too long");
            return -1;
        }
        if (nw_read_full(fd, buf + got, 1, deadline, why, whylen) != 0)
            return -1;
        if (buf[got] == '\n') {
            buf[got] = '\0';
            return 0;
        }
        got++;
    }
}

/* Applies the socket-level option of a variant and reads it back. */
static void
nw_set_bufs(const char *who, nng_socket s, int buf)
{
    if (buf < 0)
        return;
    int back = -1;
    nw_check(who, "set NNG_OPT_RECVBUF", nng_socket_set_int(s, NNG_OPT_RECVBUF, buf));
    nw_check(who, "set NNG_OPT_SENDBUF", nng_socket_set_int(s, NNG_OPT_SENDBUF, buf));
    nw_check(who, "get NNG_OPT_RECVBUF", nng_socket_get_int(s, NNG_OPT_RECVBUF, &back));
    if (back != buf) {
        fprintf(stderr, "bench_nngways %s: NNG_OPT_RECVBUF reads back %d, set %d\n", who, back,
                buf);
        _exit(1);
    }
}

/* ------------------------------------------------------------------- server */

typedef struct nw_sctx {
    nng_ctx ctx;
    nng_aio *aio;
    bool sending;
    nng_msg *msg; /* handoff: the request waiting for the worker */
    struct nw_sctx *qnext;
} nw_sctx;

static struct {
    int kind;
    nng_socket sock;
    nw_sctx ctxs[NW_SERVER_CTXS];
    pthread_mutex_t qmu; /* handoff: guards the FIFO and stopping */
    pthread_cond_t qcv;
    nw_sctx *qhead, *qtail;
    bool stopping;
} nw_srv = {.qmu = PTHREAD_MUTEX_INITIALIZER, .qcv = PTHREAD_COND_INITIALIZER};

/* One context's state machine (base, s-newmsg, s-handoff): a received request goes back as the
 * reply (or to the worker); a completed send re-arms the receive. On nng's task threads. */
static void
nw_srv_cb(void *arg)
{
    nw_sctx *e = arg;
    int rv = nng_aio_result(e->aio);
    if (e->sending) {
        if (rv != 0) {
            nng_msg_free(nng_aio_get_msg(e->aio)); /* a failed send leaves it ours */
            nng_aio_set_msg(e->aio, NULL);
            if (rv == NNG_ECLOSED)
                return;
            nw_die("server", "nng_ctx_send", rv);
        }
        e->sending = false;
        nng_ctx_recv(e->ctx, e->aio);
        return;
    }
    if (rv == NNG_ECLOSED)
        return;
    nw_check("server", "nng_ctx_recv", rv);
    nng_msg *m = nng_aio_get_msg(e->aio);
    nng_aio_set_msg(e->aio, NULL);
    if (nw_srv.kind == NW_S_HANDOFF) {
        pthread_mutex_lock(&nw_srv.qmu);
        if (nw_srv.stopping) {
            nng_msg_free(m);
        } else {
            e->msg = m;
            e->qnext = NULL;
            if (nw_srv.qtail != NULL)
                nw_srv.qtail->qnext = e;
            else
                nw_srv.qhead = e;
            nw_srv.qtail = e;
            pthread_cond_signal(&nw_srv.qcv);
        }
        pthread_mutex_unlock(&nw_srv.qmu);
        return;
    }
    if (nw_srv.kind == NW_S_NEWMSG) {
        nng_msg *r;
        nw_check("server", "nng_msg_alloc", nng_msg_alloc(&r, 0));
        nw_check("server", "nng_msg_append", nng_msg_append(r, nng_msg_body(m), nng_msg_len(m)));
        nng_msg_free(m);
        m = r;
    }
    nng_aio_set_msg(e->aio, m);
    e->sending = true;
    nng_ctx_send(e->ctx, e->aio);
}

/* s-handoff's worker: sends each queued request back on its context. At stop it frees what is
 * still queued. */
static void *
nw_srv_worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&nw_srv.qmu);
    for (;;) {
        while (nw_srv.qhead == NULL && !nw_srv.stopping)
            pthread_cond_wait(&nw_srv.qcv, &nw_srv.qmu);
        if (nw_srv.stopping)
            break;
        nw_sctx *e = nw_srv.qhead;
        nw_srv.qhead = e->qnext;
        if (nw_srv.qhead == NULL)
            nw_srv.qtail = NULL;
        pthread_mutex_unlock(&nw_srv.qmu);
        nng_aio_set_msg(e->aio, e->msg);
        e->msg = NULL;
        e->sending = true;
        nng_ctx_send(e->ctx, e->aio);
        pthread_mutex_lock(&nw_srv.qmu);
    }
    while (nw_srv.qhead != NULL) {
        nw_sctx *e = nw_srv.qhead;
        nw_srv.qhead = e->qnext;
        nng_msg_free(e->msg);
        e->msg = NULL;
    }
    nw_srv.qtail = NULL;
    pthread_mutex_unlock(&nw_srv.qmu);
    return NULL;
}

/* s-raw and s-cooked: one blocking receive, then send the same message back, until close. */
static void *
nw_srv_sync(void *arg)
{
    (void)arg;
    for (;;) {
        nng_msg *m;
        int rv = nng_recvmsg(nw_srv.sock, &m, 0);
        if (rv == NNG_ECLOSED)
            return NULL;
        nw_check("server", "nng_recvmsg", rv);
        rv = nng_sendmsg(nw_srv.sock, m, 0);
        if (rv != 0) {
            nng_msg_free(m);
            if (rv == NNG_ECLOSED)
                return NULL;
            nw_die("server", "nng_sendmsg", rv);
        }
    }
}

/* `bench_nngways --serve KIND THREADS URL BUF NODELAY`, control socket on NW_CTL_FD. */
static int
nw_serve_main(char **argv)
{
    int kind = -1;
    for (int k = 0; k < NW_S_KINDS; k++)
        if (strcmp(argv[0], nw_s_names[k]) == 0)
            kind = k;
    int nthreads = atoi(argv[1]);
    const char *url = argv[2];
    int buf = atoi(argv[3]), nodelay = atoi(argv[4]);
    if (kind < 0 || nthreads < 1 || nthreads > 8) {
        fprintf(stderr, "bench_nngways server: bad arguments\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    nw_srv.kind = kind;

    int rv = kind == NW_S_RAW ? nng_rep0_open_raw(&nw_srv.sock) : nng_rep0_open(&nw_srv.sock);
    nw_check("server", "open REP socket", rv);
    nw_set_bufs("server", nw_srv.sock, buf);
    nng_listener l;
    nw_check("server", "nng_listener_create", nng_listener_create(&l, nw_srv.sock, url));
    bool tcp = strncmp(url, "tcp://", 6) == 0;
    if (tcp && nodelay >= 0) {
        bool back = !nodelay;
        nw_check("server", "set NNG_OPT_TCP_NODELAY",
                 nng_listener_set_bool(l, NNG_OPT_TCP_NODELAY, nodelay != 0));
        nw_check("server", "get NNG_OPT_TCP_NODELAY",
                 nng_listener_get_bool(l, NNG_OPT_TCP_NODELAY, &back));
        if (back != (nodelay != 0)) {
            fprintf(stderr, "bench_nngways server: NNG_OPT_TCP_NODELAY did not take\n");
            return 1;
        }
    }
    nw_check("server", "nng_listener_start", nng_listener_start(l, 0));

    pthread_t threads[8], worker;
    bool worker_started = false;
    int started = 0;
    if (kind == NW_S_RAW || kind == NW_S_COOKED) {
        for (; started < nthreads; started++)
            if (pthread_create(&threads[started], NULL, nw_srv_sync, NULL) != 0) {
                fprintf(stderr, "bench_nngways server: pthread_create failed\n");
                return 1;
            }
    } else {
        if (kind == NW_S_HANDOFF) {
            if (pthread_create(&worker, NULL, nw_srv_worker, NULL) != 0) {
                fprintf(stderr, "bench_nngways server: pthread_create failed\n");
                return 1;
            }
            worker_started = true;
        }
        for (int i = 0; i < NW_SERVER_CTXS; i++) {
            nw_sctx *e = &nw_srv.ctxs[i];
            nw_check("server", "nng_ctx_open", nng_ctx_open(&e->ctx, nw_srv.sock));
            nw_check("server", "nng_aio_alloc", nng_aio_alloc(&e->aio, nw_srv_cb, e));
            nng_ctx_recv(e->ctx, e->aio);
        }
    }

    char line[600];
    if (tcp) {
        nng_sockaddr sa;
        nw_check("server", "get NNG_OPT_LOCADDR", nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa));
        char host[INET_ADDRSTRLEN] = "?";
        inet_ntop(AF_INET, &sa.s_in.sa_addr, host, sizeof(host));
        snprintf(line, sizeof(line), "tcp://%s:%u\n", host, (unsigned)ntohs(sa.s_in.sa_port));
    } else {
        snprintf(line, sizeof(line), "%.500s\n", url);
    }
    if (!nw_write_all(NW_CTL_FD, line, strlen(line)))
        return 1;

    /* Serve until the driver shuts the control socket; "c" asks for our usage so far. */
    for (;;) {
        char c;
        ssize_t n = read(NW_CTL_FD, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (c == 'c') {
            double cpu, cs;
            nw_self_usage(&cpu, &cs);
            snprintf(line, sizeof(line), "%.0f %.0f\n", cpu, cs);
            if (!nw_write_all(NW_CTL_FD, line, strlen(line)))
                break;
        }
    }

    /* Clean stop: the worker first (it frees what is queued), then the socket, then threads
     * and aios (nng_aio_free waits for a running callback). */
    if (worker_started) {
        pthread_mutex_lock(&nw_srv.qmu);
        nw_srv.stopping = true;
        pthread_cond_signal(&nw_srv.qcv);
        pthread_mutex_unlock(&nw_srv.qmu);
        pthread_join(worker, NULL);
    }
    nng_close(nw_srv.sock);
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    for (int i = 0; i < NW_SERVER_CTXS; i++)
        if (nw_srv.ctxs[i].aio != NULL)
            nng_aio_free(nw_srv.ctxs[i].aio);
    close(NW_CTL_FD);
    nng_fini();
    return 0;
}

/* ------------------------------------------------------------------- client */

/* What a client sends the driver after its timed run, followed by nlat uint32 latencies (ns). */
typedef struct nw_report {
    uint64_t ops;
    uint64_t t0_ns, t1_ns; /* its timed window, CLOCK_MONOTONIC */
    double cpu_us;         /* its CPU over the window, all threads */
    double cs;             /* its context switches over the window */
    uint64_t nlat;
} nw_report;

typedef struct nw_client {
    int kind;
    nng_socket sock;
    nng_ctx ctx;
    nng_aio *aio;
    nng_msg *keep; /* c-reuse: the last reply, the next request */
    uint8_t payload[NW_PAYLOAD];
} nw_client;

/* One round trip of cl->payload; the echo must come back byte for byte. */
static void
nw_call(nw_client *cl)
{
    const char *me = "client";
    if (cl->kind == NW_C_SYNCBUF) {
        uint8_t back[NW_PAYLOAD + 16];
        size_t sz = sizeof(back);
        nw_check(me, "nng_send", nng_send(cl->sock, cl->payload, NW_PAYLOAD, 0));
        nw_check(me, "nng_recv", nng_recv(cl->sock, back, &sz, 0));
        if (sz != NW_PAYLOAD || memcmp(back, cl->payload, NW_PAYLOAD) != 0) {
            fprintf(stderr, "bench_nngways client: the echo differs from the request\n");
            _exit(1);
        }
        return;
    }
    nng_msg *m;
    if (cl->kind == NW_C_REUSE && cl->keep != NULL) {
        m = cl->keep;
        cl->keep = NULL;
        nng_msg_clear(m);
    } else {
        nw_check(me, "nng_msg_alloc", nng_msg_alloc(&m, 0));
    }
    nw_check(me, "nng_msg_append", nng_msg_append(m, cl->payload, NW_PAYLOAD));
    int rv;
    if (cl->kind == NW_C_SYNC) {
        rv = nng_sendmsg(cl->sock, m, 0);
        if (rv != 0)
            nw_die(me, "nng_sendmsg", rv); /* m is still ours; we leave at once */
        nw_check(me, "nng_recvmsg", nng_recvmsg(cl->sock, &m, 0));
    } else {
        nng_aio_set_msg(cl->aio, m);
        nng_ctx_send(cl->ctx, cl->aio);
        nng_aio_wait(cl->aio);
        nw_check(me, "nng_ctx_send", nng_aio_result(cl->aio));
        nng_ctx_recv(cl->ctx, cl->aio);
        nng_aio_wait(cl->aio);
        nw_check(me, "nng_ctx_recv", nng_aio_result(cl->aio));
        m = nng_aio_get_msg(cl->aio);
        nng_aio_set_msg(cl->aio, NULL);
    }
    if (nng_msg_len(m) != NW_PAYLOAD || memcmp(nng_msg_body(m), cl->payload, NW_PAYLOAD) != 0) {
        fprintf(stderr, "bench_nngways client: the echo differs from the request\n");
        _exit(1);
    }
    if (cl->kind == NW_C_REUSE)
        cl->keep = m;
    else
        nng_msg_free(m);
}

/* `bench_nngways --client KIND URL BUF NODELAY SECONDS ID`, control socket on NW_CTL_FD, go
 * pipe on NW_GO_FD. */
static int
nw_client_main(char **argv)
{
    nw_client cl;
    memset(&cl, 0, sizeof(cl));
    cl.kind = -1;
    for (int k = 0; k < NW_C_KINDS; k++)
        if (strcmp(argv[0], nw_c_names[k]) == 0)
            cl.kind = k;
    const char *url = argv[1];
    int buf = atoi(argv[2]), nodelay = atoi(argv[3]);
    double seconds = strtod(argv[4], NULL);
    int id = atoi(argv[5]);
    if (cl.kind < 0 || !(seconds > 0)) {
        fprintf(stderr, "bench_nngways client: bad arguments\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *me = "client";

    nw_check(me, "nng_req0_open", nng_req0_open(&cl.sock));
    nw_check(me, "set NNG_OPT_REQ_RESENDTIME",
             nng_socket_set_ms(cl.sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE));
    nw_check(me, "set NNG_OPT_SENDTIMEO", nng_socket_set_ms(cl.sock, NNG_OPT_SENDTIMEO, NW_IO_MS));
    nw_check(me, "set NNG_OPT_RECVTIMEO", nng_socket_set_ms(cl.sock, NNG_OPT_RECVTIMEO, NW_IO_MS));
    nw_set_bufs(me, cl.sock, buf);
    nng_dialer d;
    nw_check(me, "nng_dialer_create", nng_dialer_create(&d, cl.sock, url));
    if (strncmp(url, "tcp://", 6) == 0 && nodelay >= 0) {
        bool back = !nodelay;
        nw_check(me, "set NNG_OPT_TCP_NODELAY",
                 nng_dialer_set_bool(d, NNG_OPT_TCP_NODELAY, nodelay != 0));
        nw_check(me, "get NNG_OPT_TCP_NODELAY", nng_dialer_get_bool(d, NNG_OPT_TCP_NODELAY, &back));
        if (back != (nodelay != 0)) {
            fprintf(stderr, "bench_nngways client: NNG_OPT_TCP_NODELAY did not take\n");
            return 1;
        }
    }
    nw_check(me, "nng_dialer_start", nng_dialer_start(d, 0));
    if (cl.kind == NW_C_CTXAIO || cl.kind == NW_C_REUSE) {
        nw_check(me, "nng_ctx_open", nng_ctx_open(&cl.ctx, cl.sock));
        nw_check(me, "set ctx NNG_OPT_REQ_RESENDTIME",
                 nng_ctx_set_ms(cl.ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE));
        nw_check(me, "nng_aio_alloc", nng_aio_alloc(&cl.aio, NULL, NULL));
        nng_aio_set_timeout(cl.aio, NW_IO_MS);
    }
    for (int i = 0; i < NW_PAYLOAD; i++)
        cl.payload[i] = (uint8_t)('a' + (id + i) % 26);

    uint64_t seq = 0;
    for (int i = 0; i < NW_WARMUP; i++, seq++) {
        memcpy(cl.payload, &seq, sizeof(seq));
        nw_call(&cl);
    }
    size_t cap = 1u << 16, n = 0;
    uint32_t *lat = malloc(cap * sizeof(*lat));
    if (lat == NULL) {
        fprintf(stderr, "bench_nngways client: out of memory\n");
        return 1;
    }
    char c = 'r';
    if (!nw_write_all(NW_CTL_FD, &c, 1))
        return 1;
    for (;;) { /* the driver closes the go pipe to start every client at once */
        ssize_t r = read(NW_GO_FD, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        break;
    }

    nw_report rep;
    memset(&rep, 0, sizeof(rep));
    double cpu0, cs0, cpu1, cs1;
    nw_self_usage(&cpu0, &cs0);
    uint64_t t0 = nw_now_ns(), now = t0, deadline = t0 + (uint64_t)(seconds * 1e9);
    while (now < deadline) {
        if (n == cap) {
            uint32_t *more = realloc(lat, 2 * cap * sizeof(*lat));
            if (more == NULL) {
                fprintf(stderr, "bench_nngways client: out of memory\n");
                free(lat);
                return 1;
            }
            lat = more;
            cap *= 2;
        }
        memcpy(cl.payload, &seq, sizeof(seq));
        seq++;
        uint64_t a = now;
        nw_call(&cl);
        now = nw_now_ns();
        uint64_t dt = now - a;
        lat[n++] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
    }
    nw_self_usage(&cpu1, &cs1);
    rep.ops = n;
    rep.t0_ns = t0;
    rep.t1_ns = now;
    rep.cpu_us = cpu1 - cpu0;
    rep.cs = cs1 - cs0;
    rep.nlat = n;
    bool ok = nw_write_all(NW_CTL_FD, &rep, sizeof(rep)) &&
              nw_write_all(NW_CTL_FD, lat, n * sizeof(*lat));
    free(lat);

    if (cl.keep != NULL)
        nng_msg_free(cl.keep);
    if (cl.aio != NULL) {
        nng_ctx_close(cl.ctx);
        nng_aio_free(cl.aio);
    }
    nng_close(cl.sock);
    nng_fini();
    return ok ? 0 : 1;
}

/* ------------------------------------------------------------------- driver */

typedef struct nw_opts {
    double seconds;
    int rounds;
    bool do_ipc, do_tcp;
    bool on[NW_NVARIANTS];
    bool pin_all;  /* every cell on core 0 */
    uint64_t seed; /* of the per-round shuffle */
    int clients[NW_MAX_COUNTS];
    int nclients;
    const char *csv;
} nw_opts;

/* One run of one cell. */
typedef struct nw_sample {
    bool ok;
    char err[240];
    uint64_t ops;
    double secs, rt_s, p50_us, p99_us;
    double cli_cpu, srv_cpu, cli_cs, srv_cs; /* per round trip */
    double x_rt, x_cpu;                      /* over this round's baseline; NAN if none */
} nw_sample;

typedef struct nw_cell {
    const nw_variant *v;
    const char *transport;
    int nclients;
    nw_sample s[NW_MAX_ROUNDS];
    int med; /* index of the median round by rt/s; -1: none ran */
    double x_rt, x_rt_lo, x_rt_hi;
    double x_cpu, x_cpu_lo, x_cpu_hi;
    int nratios;
} nw_cell;

static char nw_self[4096];

typedef struct nw_child {
    pid_t pid;
    int ctl; /* the driver's end of the control socket; -1 if closed */
} nw_child;

/* Forks and execs this program with argv, the control socket on NW_CTL_FD and (if go >= 0) the
 * go pipe on NW_GO_FD. Between fork and exec only async-signal-safe calls. 0 or -1 with why. */
static int
nw_spawn(nw_child *ch, char *const argv[], int go, bool pin, char *why, size_t whylen)
{
    int sv[2];
    ch->pid = 0;
    ch->ctl = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        snprintf(why, whylen, "socketpair: %s", strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, whylen, "fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (pin) {
            cpu_set_t cs;
            CPU_ZERO(&cs);
            CPU_SET(0, &cs);
            if (sched_setaffinity(0, sizeof(cs), &cs) != 0)
                _exit(125);
        }
        if (dup2(sv[1], NW_CTL_FD) < 0) /* dup2 clears FD_CLOEXEC */
            _exit(126);
        if (go >= 0 && dup2(go, NW_GO_FD) < 0)
            _exit(126);
        execv(nw_self, argv);
        _exit(127);
    }
    close(sv[1]);
    ch->pid = pid;
    ch->ctl = sv[0];
    return 0;
}

/* Waits for ch to exit, up to ms, then SIGKILLs it. Returns its wait status, or -1 if it had
 * to be killed. */
static int
nw_reap(nw_child *ch, int ms)
{
    int st = 0;
    if (ch->ctl >= 0) {
        close(ch->ctl);
        ch->ctl = -1;
    }
    if (ch->pid <= 0)
        return 0;
    uint64_t deadline = nw_now_ns() + (uint64_t)ms * 1000000u;
    for (;;) {
        pid_t r = waitpid(ch->pid, &st, WNOHANG);
        if (r == ch->pid)
            break;
        if (r < 0 && errno != EINTR) {
            st = 0;
            break;
        }
        if (nw_now_ns() >= deadline) {
            kill(ch->pid, SIGKILL);
            waitpid(ch->pid, &st, 0);
            ch->pid = 0;
            return -1;
        }
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL); /* waiting for a process to exit: nothing to block on */
    }
    ch->pid = 0;
    return st;
}

/* Asks the server for its CPU µs and context switches so far. */
static int
nw_srv_usage(nw_child *srv, double *cpu, double *cs, char *why, size_t whylen)
{
    char line[128];
    if (!nw_write_all(srv->ctl, "c", 1)) {
        snprintf(why, whylen, "server control: %s", strerror(errno));
        return -1;
    }
    if (nw_read_line(srv->ctl, line, sizeof(line), nw_now_ns() + 10ull * 1000000000u, why,
                     whylen) != 0 ||
        sscanf(line, "%lf %lf", cpu, cs) != 2) {
        if (why[0] == '\0')
            snprintf(why, whylen, "server control: bad answer");
        return -1;
    }
    return 0;
}

static int
nw_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n), in µs. */
static double
nw_pct_us(const uint32_t *v, size_t n, double p)
{
    if (n == 0)
        return NAN;
    size_t k = (size_t)ceil(p * (double)n);
    if (k < 1)
        k = 1;
    return (double)v[k - 1] / 1000.0;
}

static void
nw_status_text(int st, char *buf, size_t len)
{
    if (st < 0)
        snprintf(buf, len, "did not exit in time (killed)");
    else if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, len, "exit status %d", WEXITSTATUS(st));
}

/* Puts "what[ idx]: " in front of the message in why (idx < 0: no index). */
static void
nw_why_prefix(char *why, size_t len, const char *what, int idx)
{
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%.150s", why[0] != '\0' ? why : "failed");
    if (idx >= 0)
        snprintf(why, len, "%.20s %d: %.150s", what, idx, tmp);
    else
        snprintf(why, len, "%.20s: %.150s", what, tmp);
}

/* Runs one cell once; fills out. seq names the ipc socket. */
static void
nw_run_once(const nw_opts *o, const nw_variant *v, const char *transport, int nclients,
            const char *dir, int seq, nw_sample *out)
{
    char why[200] = "", url[600], buf[16], nodelay[16], threads[16], secs[32];
    nw_child srv = {0, -1}, cli[NW_MAX_CLIENTS];
    int ncli = 0, go[2] = {-1, -1};
    uint32_t *lat = NULL;
    size_t nlat = 0;
    double srv_cpu0 = 0, srv_cs0 = 0, srv_cpu1 = 0, srv_cs1 = 0;
    double cli_cpu = 0, cli_cs = 0;
    uint64_t ops = 0, t0 = UINT64_MAX, t1 = 0;

    memset(out, 0, sizeof(*out));
    out->x_rt = out->x_cpu = NAN;
    if (strcmp(transport, "tcp") == 0)
        snprintf(url, sizeof(url), "tcp://127.0.0.1:0");
    else
        snprintf(url, sizeof(url), "ipc://%s/s%d.sock", dir, seq);
    snprintf(buf, sizeof(buf), "%d", v->buf);
    snprintf(nodelay, sizeof(nodelay), "%d", v->nodelay);
    snprintf(threads, sizeof(threads), "%d", v->sthreads);
    snprintf(secs, sizeof(secs), "%.6f", o->seconds);

    char *sargv[] = {
        nw_self, (char *)"--serve", (char *)nw_s_names[v->server], threads, url, buf, nodelay,
        NULL};
    bool pin = v->pin || o->pin_all;
    if (nw_spawn(&srv, sargv, -1, pin, why, sizeof(why)) != 0)
        goto fail;
    char surl[600];
    if (nw_read_line(srv.ctl, surl, sizeof(surl), nw_now_ns() + NW_SPAWN_S * 1000000000ull, why,
                     sizeof(why)) != 0) {
        nw_why_prefix(why, sizeof(why), "server start", -1);
        goto fail;
    }

    if (pipe2(go, O_CLOEXEC) != 0) {
        snprintf(why, sizeof(why), "pipe2: %s", strerror(errno));
        goto fail;
    }
    for (; ncli < nclients; ncli++) {
        char id[16];
        snprintf(id, sizeof(id), "%d", ncli);
        char *cargv[] = {nw_self,
                         (char *)"--client",
                         (char *)nw_c_names[v->client],
                         surl,
                         buf,
                         nodelay,
                         secs,
                         id,
                         NULL};
        if (nw_spawn(&cli[ncli], cargv, go[0], pin, why, sizeof(why)) != 0)
            goto fail;
    }
    close(go[0]);
    go[0] = -1;

    uint64_t deadline = nw_now_ns() + NW_SPAWN_S * 1000000000ull;
    for (int i = 0; i < ncli; i++) {
        char c;
        if (nw_read_full(cli[i].ctl, &c, 1, deadline, why, sizeof(why)) != 0 || c != 'r') {
            nw_why_prefix(why, sizeof(why), "start of client", i);
            goto fail;
        }
    }
    if (nw_srv_usage(&srv, &srv_cpu0, &srv_cs0, why, sizeof(why)) != 0)
        goto fail;
    close(go[1]); /* go */
    go[1] = -1;

    deadline = nw_now_ns() + (uint64_t)(o->seconds * 1e9) + NW_SPAWN_S * 1000000000ull;
    for (int i = 0; i < ncli; i++) {
        nw_report rep;
        if (nw_read_full(cli[i].ctl, &rep, sizeof(rep), deadline, why, sizeof(why)) != 0) {
            nw_why_prefix(why, sizeof(why), "client", i);
            goto fail;
        }
        if (rep.nlat != rep.ops || rep.nlat > 100000000u) {
            snprintf(why, sizeof(why), "client %d: a malformed report", i);
            goto fail;
        }
        uint32_t *more = realloc(lat, (nlat + rep.nlat + 1) * sizeof(*lat));
        if (more == NULL) {
            snprintf(why, sizeof(why), "out of memory for latencies");
            goto fail;
        }
        lat = more;
        if (nw_read_full(cli[i].ctl, lat + nlat, rep.nlat * sizeof(*lat), deadline, why,
                         sizeof(why)) != 0) {
            nw_why_prefix(why, sizeof(why), "client", i);
            goto fail;
        }
        nlat += rep.nlat;
        ops += rep.ops;
        cli_cpu += rep.cpu_us;
        cli_cs += rep.cs;
        if (rep.t0_ns < t0)
            t0 = rep.t0_ns;
        if (rep.t1_ns > t1)
            t1 = rep.t1_ns;
    }
    if (nw_srv_usage(&srv, &srv_cpu1, &srv_cs1, why, sizeof(why)) != 0)
        goto fail;
    for (int i = 0; i < ncli; i++) {
        int st = nw_reap(&cli[i], 10000);
        if (st != 0) {
            char tmp[100];
            nw_status_text(st, tmp, sizeof(tmp));
            snprintf(why, sizeof(why), "client %d: %s", i, tmp);
            goto fail;
        }
    }
    ncli = 0;
    shutdown(srv.ctl, SHUT_WR); /* the server stops cleanly on EOF */
    int st = nw_reap(&srv, 5000);
    if (st != 0) {
        char tmp[100];
        nw_status_text(st, tmp, sizeof(tmp));
        snprintf(why, sizeof(why), "server stop: %s", tmp);
        goto fail;
    }
    if (ops == 0 || t1 <= t0) {
        snprintf(why, sizeof(why), "no round trips");
        goto fail;
    }
    qsort(lat, nlat, sizeof(*lat), nw_cmp_u32);
    out->ok = true;
    out->ops = ops;
    out->secs = (double)(t1 - t0) / 1e9;
    out->rt_s = (double)ops / out->secs;
    out->p50_us = nw_pct_us(lat, nlat, 0.50);
    out->p99_us = nw_pct_us(lat, nlat, 0.99);
    out->cli_cpu = cli_cpu / (double)ops;
    out->cli_cs = cli_cs / (double)ops;
    out->srv_cpu = (srv_cpu1 - srv_cpu0) / (double)ops;
    out->srv_cs = (srv_cs1 - srv_cs0) / (double)ops;
    free(lat);
    if (strcmp(transport, "ipc") == 0)
        unlink(url + 6);
    return;

fail:
    snprintf(out->err, sizeof(out->err), "%s", why);
    for (int i = 0; i < ncli; i++) {
        if (cli[i].pid > 0)
            kill(cli[i].pid, SIGKILL);
        nw_reap(&cli[i], 5000);
    }
    if (go[0] >= 0)
        close(go[0]);
    if (go[1] >= 0)
        close(go[1]);
    if (srv.pid > 0) {
        if (srv.ctl >= 0)
            shutdown(srv.ctl, SHUT_WR);
        nw_reap(&srv, 5000);
    }
    free(lat);
    if (strcmp(transport, "ipc") == 0)
        unlink(url + 6);
}

static int
nw_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median (lower middle for an even count), min and max of v[0..n); n > 0. Sorts v. */
static void
nw_med(double *v, int n, double *med, double *lo, double *hi)
{
    qsort(v, (size_t)n, sizeof(*v), nw_cmp_double);
    *med = v[(n - 1) / 2];
    *lo = v[0];
    *hi = v[n - 1];
}

/* Picks each cell's median round and the median and spread of its per-round ratios. */
static void
nw_summarise(nw_cell *c, int rounds)
{
    double rt[NW_MAX_ROUNDS], xr[NW_MAX_ROUNDS], xc[NW_MAX_ROUNDS];
    int n = 0, nx = 0;
    c->med = -1;
    c->x_rt = c->x_rt_lo = c->x_rt_hi = NAN;
    c->x_cpu = c->x_cpu_lo = c->x_cpu_hi = NAN;
    for (int r = 0; r < rounds; r++) {
        if (!c->s[r].ok)
            continue;
        rt[n++] = c->s[r].rt_s;
        if (!isnan(c->s[r].x_rt)) {
            xr[nx] = c->s[r].x_rt;
            xc[nx++] = c->s[r].x_cpu;
        }
    }
    c->nratios = nx;
    if (n == 0)
        return;
    double med, lo, hi;
    nw_med(rt, n, &med, &lo, &hi);
    for (int r = 0; r < rounds; r++)
        if (c->s[r].ok && c->s[r].rt_s == med) {
            c->med = r;
            break;
        }
    if (nx > 0) {
        nw_med(xr, nx, &c->x_rt, &c->x_rt_lo, &c->x_rt_hi);
        nw_med(xc, nx, &c->x_cpu, &c->x_cpu_lo, &c->x_cpu_hi);
    }
}

static void
nw_print_header(FILE *f)
{
    fprintf(f, "%-12s %-3s %3s %8s %8s %8s %7s %7s %6s %6s  %-18s %-18s\n", "variant", "tr", "cl",
            "rt/s", "p50 us", "p99 us", "cli us", "srv us", "cli cs", "srv cs", "x rt/s [min..max]",
            "x cpu [min..max]");
}

static void
nw_print_cell(FILE *f, const nw_cell *c)
{
    if (c->med < 0) {
        fprintf(f, "%-12s %-3s %3d  FAILED: %s\n", c->v->name, c->transport, c->nclients,
                c->s[0].err);
        return;
    }
    const nw_sample *s = &c->s[c->med];
    char xr[40] = "-", xc[40] = "-";
    if (c->nratios > 0 && c->v != &nw_variants[0]) {
        snprintf(xr, sizeof(xr), "%.2f [%.2f..%.2f]", c->x_rt, c->x_rt_lo, c->x_rt_hi);
        snprintf(xc, sizeof(xc), "%.2f [%.2f..%.2f]", c->x_cpu, c->x_cpu_lo, c->x_cpu_hi);
    }
    fprintf(f, "%-12s %-3s %3d %8.0f %8.1f %8.1f %7.1f %7.1f %6.2f %6.2f  %-18s %-18s\n",
            c->v->name, c->transport, c->nclients, s->rt_s, s->p50_us, s->p99_us, s->cli_cpu,
            s->srv_cpu, s->cli_cs, s->srv_cs, xr, xc);
}

static void
nw_csv_row(FILE *f, const nw_cell *c, const char *round, const nw_sample *s, double x_rt,
           double x_cpu)
{
    fprintf(
        f, "%s,%s,%d,%s,%d,%" PRIu64 ",%.3f,%.1f,%.2f,%.2f,%.2f,%.2f,%.3f,%.3f,%.4f,%.4f,\"%s\"\n",
        c->v->name, c->transport, c->nclients, round, s->ok ? 1 : 0, s->ops, s->secs, s->rt_s,
        s->p50_us, s->p99_us, s->cli_cpu, s->srv_cpu, s->cli_cs, s->srv_cs, x_rt, x_cpu, s->err);
}

static int
nw_write_csv(const char *path, const nw_cell *cells, int ncells, int rounds)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "bench_nngways: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "variant,transport,clients,round,ok,ops,secs,rt_s,p50_us,p99_us,cli_cpu_us_rt,"
               "srv_cpu_us_rt,cli_cs_rt,srv_cs_rt,x_rt,x_cpu,error\n");
    for (int i = 0; i < ncells; i++) {
        const nw_cell *c = &cells[i];
        for (int r = 0; r < rounds; r++) {
            char rs[16];
            snprintf(rs, sizeof(rs), "%d", r + 1);
            nw_csv_row(f, c, rs, &c->s[r], c->s[r].x_rt, c->s[r].x_cpu);
        }
        if (c->med >= 0)
            nw_csv_row(f, c, "median", &c->s[c->med], c->x_rt, c->x_cpu);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "bench_nngways: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void
nw_print_load(const char *when)
{
    double la[3] = {NAN, NAN, NAN};
    if (getloadavg(la, 3) < 3)
        la[0] = la[1] = la[2] = NAN;
    time_t t = time(NULL);
    char ts[64];
    strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
    printf("%s: %s, cores online %ld, load average %.2f %.2f %.2f\n", when, ts,
           sysconf(_SC_NPROCESSORS_ONLN), la[0], la[1], la[2]);
}

/* Fills order[0..n) with a random permutation of 0..n-1 (xorshift64 on *state). */
static void
nw_shuffle(int *order, int n, uint64_t *state)
{
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        uint64_t x = *state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *state = x;
        int j = (int)(x % (uint64_t)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static void
nw_usage(FILE *f)
{
    fprintf(f,
            "usage: bench_nngways [--seconds S] [--rounds R] [--only ipc|tcp] [--variants LIST]\n"
            "                     [--clients LIST] [--pin-all] [--seed N] [--csv FILE]\n"
            "  --seconds S      timed seconds per cell and round (default 1)\n"
            "  --rounds R       rounds per cell (default 3, at most %d); the median is reported\n"
            "  --only T         run only transport T (ipc or tcp)\n"
            "  --variants LIST  comma-separated variants (default: every one marked *); ratios\n"
            "                   need base in the list\n"
            "  --clients LIST   comma-separated client process counts (default 1,16; each\n"
            "                   1..%d, at most %d counts)\n"
            "  --pin-all        pin every process of every cell to core 0 (pin0 is then\n"
            "                   not run)\n"
            "  --seed N         seed of the per-round shuffle of the variants (default: from\n"
            "                   the clock; printed)\n"
            "  --csv FILE       also write every round and the medians as CSV\n"
            "variants:\n",
            NW_MAX_ROUNDS, NW_MAX_CLIENTS, NW_MAX_COUNTS);
    for (size_t i = 0; i < NW_NVARIANTS; i++)
        fprintf(f, "  %c %-13s %s%s\n", nw_variants[i].dflt ? '*' : ' ', nw_variants[i].name,
                nw_variants[i].label, nw_variants[i].tcp_only ? " (tcp only)" : "");
}

static int
nw_parse(int argc, char **argv, nw_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->seconds = 1.0;
    o->rounds = 3;
    o->do_ipc = o->do_tcp = true;
    o->clients[0] = 1;
    o->clients[1] = 16;
    o->nclients = 2;
    for (size_t i = 0; i < NW_NVARIANTS; i++)
        o->on[i] = nw_variants[i].dflt;
    o->seed = (uint64_t)time(NULL) % 1000000u + 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            nw_usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--pin-all") == 0) {
            o->pin_all = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        char *end = NULL;
        if (v == NULL) {
            fprintf(stderr, "bench_nngways: %s: unknown option or missing value\n", a);
            return -1;
        }
        if (strcmp(a, "--seconds") == 0) {
            o->seconds = strtod(v, &end);
            if (*end != '\0' || !(o->seconds >= 0.05 && o->seconds <= 600)) {
                fprintf(stderr, "bench_nngways: --seconds wants a number in [0.05, 600]\n");
                return -1;
            }
        } else if (strcmp(a, "--rounds") == 0) {
            long n = strtol(v, &end, 10);
            if (*end != '\0' || n < 1 || n > NW_MAX_ROUNDS) {
                fprintf(stderr, "bench_nngways: --rounds wants 1..%d\n", NW_MAX_ROUNDS);
                return -1;
            }
            o->rounds = (int)n;
        } else if (strcmp(a, "--only") == 0) {
            if (strcmp(v, "ipc") != 0 && strcmp(v, "tcp") != 0) {
                fprintf(stderr, "bench_nngways: --only wants ipc or tcp\n");
                return -1;
            }
            o->do_ipc = strcmp(v, "ipc") == 0;
            o->do_tcp = !o->do_ipc;
        } else if (strcmp(a, "--variants") == 0) {
            memset(o->on, 0, sizeof(o->on));
            char tmp[512];
            snprintf(tmp, sizeof(tmp), "%s", v);
            int count = 0;
            for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t != NULL;
                 t = strtok_r(NULL, ",", &save)) {
                size_t k = 0;
                while (k < NW_NVARIANTS && strcmp(nw_variants[k].name, t) != 0)
                    k++;
                if (k == NW_NVARIANTS) {
                    fprintf(stderr, "bench_nngways: unknown variant %s\n", t);
                    return -1;
                }
                o->on[k] = true;
                count++;
            }
            if (count == 0) {
                fprintf(stderr, "bench_nngways: --variants is empty\n");
                return -1;
            }
        } else if (strcmp(a, "--clients") == 0) {
            o->nclients = 0;
            const char *p = v;
            while (*p) {
                long n = strtol(p, &end, 10);
                if (end == p || n < 1 || n > NW_MAX_CLIENTS || o->nclients == NW_MAX_COUNTS ||
                    (*end != ',' && *end != '\0')) {
                    fprintf(stderr, "bench_nngways: --clients wants up to %d counts, each 1..%d\n",
                            NW_MAX_COUNTS, NW_MAX_CLIENTS);
                    return -1;
                }
                o->clients[o->nclients++] = (int)n;
                p = *end == ',' ? end + 1 : end;
            }
            if (o->nclients == 0) {
                fprintf(stderr, "bench_nngways: --clients is empty\n");
                return -1;
            }
        } else if (strcmp(a, "--seed") == 0) {
            o->seed = strtoull(v, &end, 10);
            if (*end != '\0' || o->seed == 0) {
                fprintf(stderr, "bench_nngways: --seed wants a positive integer\n");
                return -1;
            }
        } else if (strcmp(a, "--csv") == 0) {
            o->csv = v;
        } else {
            fprintf(stderr, "bench_nngways: unknown option %s\n", a);
            return -1;
        }
    }
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "--serve") == 0)
        return nw_serve_main(argv + 2);
    if (argc == 8 && strcmp(argv[1], "--client") == 0)
        return nw_client_main(argv + 2);

    nw_opts o;
    if (nw_parse(argc, argv, &o) != 0) {
        nw_usage(stderr);
        return 2;
    }
    ssize_t n = readlink("/proc/self/exe", nw_self, sizeof(nw_self) - 1);
    if (n <= 0) {
        perror("bench_nngways: readlink /proc/self/exe");
        return 1;
    }
    nw_self[n] = '\0';
    signal(SIGPIPE, SIG_IGN);

    /* The cells: every transport x client count x chosen variant. */
    const char *transports[2];
    int ntr = 0;
    if (o.do_ipc)
        transports[ntr++] = "ipc";
    if (o.do_tcp)
        transports[ntr++] = "tcp";
    size_t maxcells = 2 * NW_MAX_COUNTS * NW_NVARIANTS;
    nw_cell *cells = calloc(maxcells, sizeof(*cells));
    if (cells == NULL) {
        fprintf(stderr, "bench_nngways: out of memory\n");
        return 1;
    }
    int ncells = 0;
    for (int t = 0; t < ntr; t++)
        for (int k = 0; k < o.nclients; k++)
            for (size_t i = 0; i < NW_NVARIANTS; i++) {
                if (!o.on[i] || (nw_variants[i].tcp_only && strcmp(transports[t], "tcp") != 0) ||
                    (o.pin_all && nw_variants[i].pin))
                    continue;
                nw_cell *c = &cells[ncells++];
                c->v = &nw_variants[i];
                c->transport = transports[t];
                c->nclients = o.clients[k];
            }

    printf("bench_nngways: ways of driving nng %s REQ/REP, a %d-byte echo\ncommand:", nng_version(),
           NW_PAYLOAD);
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n");
    nw_print_load("start");
    printf("each cell: %d round(s) of %.2f s timed, rounds outermost, variants shuffled within a "
           "round (seed %" PRIu64 ");\n",
           o.rounds, o.seconds, o.seed);
    printf("  clients = separate processes, one REQ socket and one call in flight each, %d "
           "untimed warm-up calls;\n  server = a separate process, %d contexts where it uses "
           "contexts\n",
           NW_WARMUP, NW_SERVER_CTXS);
    if (o.pin_all)
        printf("--pin-all: every process of every cell pinned to core 0\n");
    printf("estimated time: %.0f s\n\n", ncells * o.rounds * (o.seconds + 0.2));
    fflush(stdout);

    char dir[] = "/tmp/bench_nngways.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("bench_nngways: mkdtemp");
        free(cells);
        return 1;
    }
    int seq = 0;
    uint64_t rng = o.seed;
    for (int r = 0; r < o.rounds; r++) {
        /* Cells of one transport and client count form a group with one baseline. */
        for (int g0 = 0; g0 < ncells;) {
            int g1 = g0;
            while (g1 < ncells && cells[g1].transport == cells[g0].transport &&
                   cells[g1].nclients == cells[g0].nclients)
                g1++;
            int gn = g1 - g0;
            int order[NW_NVARIANTS];
            nw_shuffle(order, gn, &rng);
            for (int j = 0; j < gn; j++) {
                nw_cell *c = &cells[g0 + order[j]];
                nw_sample *s = &c->s[r];
                nw_run_once(&o, c->v, c->transport, c->nclients, dir, seq++, s);
                if (s->ok)
                    printf("round %d %-3s %2d %-12s %7.0f rt/s  p50 %7.1f  p99 %8.1f us  cpu "
                           "%6.1f + %6.1f us  cs %5.2f + %5.2f\n",
                           r + 1, c->transport, c->nclients, c->v->name, s->rt_s, s->p50_us,
                           s->p99_us, s->cli_cpu, s->srv_cpu, s->cli_cs, s->srv_cs);
                else
                    printf("round %d %-3s %2d %-12s FAILED: %s\n", r + 1, c->transport, c->nclients,
                           c->v->name, s->err);
                fflush(stdout);
            }
            /* This round's ratios to this round's baseline. */
            const nw_sample *b = NULL;
            for (int j = g0; j < g1; j++)
                if (cells[j].v == &nw_variants[0] && cells[j].s[r].ok)
                    b = &cells[j].s[r];
            for (int j = g0; j < g1 && b != NULL; j++) {
                nw_sample *s = &cells[j].s[r];
                if (!s->ok)
                    continue;
                s->x_rt = s->rt_s / b->rt_s;
                s->x_cpu = (s->cli_cpu + s->srv_cpu) / (b->cli_cpu + b->srv_cpu);
            }
            g0 = g1;
        }
    }
    rmdir(dir);

    printf("\n");
    nw_print_load("end");
    printf("\nMedian round per cell (rt/s = round trips per second, all clients; p50/p99 of "
           "every call;\ncli/srv us = CPU us per round trip of all client processes / of the "
           "server process;\ncli/srv cs = context switches per round trip; x rt/s, x cpu = "
           "median [min..max] over rounds of\nthe round's ratio to the same round's base, x cpu "
           "on client + server CPU per round trip)\n\n");
    nw_print_header(stdout);
    int failed = 0;
    for (int i = 0; i < ncells; i++) {
        nw_summarise(&cells[i], o.rounds);
        if (i > 0 && (cells[i].transport != cells[i - 1].transport ||
                      cells[i].nclients != cells[i - 1].nclients))
            printf("\n");
        nw_print_cell(stdout, &cells[i]);
        for (int r = 0; r < o.rounds; r++)
            failed += !cells[i].s[r].ok;
    }
    if (failed > 0)
        printf("\n%d cell run(s) failed; see the FAILED lines above\n", failed);
    fflush(stdout);
    int rc = failed > 0 ? 1 : 0;
    if (o.csv != NULL) {
        if (nw_write_csv(o.csv, cells, ncells, o.rounds) == 0)
            printf("\nCSV written to %s\n", o.csv);
        else
            rc = 1;
    }
    free(cells);
    return rc;
}
