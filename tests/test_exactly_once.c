/* test_exactly_once.c - a dropped connection is not an expired session: the
 * client reconnects by itself, sends the calls in flight again with the same
 * (session, seq), and the server answers a repeated request from memory, so
 * each call applies exactly once and the caller sees success (syncmgr.h,
 * the paragraph before sm_client_open).
 *
 * A TCP relay inside the test sits between a client and a private syncmgrd.
 * Armed, it cuts the connection that carries the next reply: the request
 * reached the server and was applied, the reply never reaches the client
 * (or, armed for requests, the next request never reaches the server; or
 * the next request is held back and delivered late, after its retry was
 * answered). A second client, connected straight to the server, is the
 * referee that reads the state afterwards. Calls that change state (incr,
 * append, put, pop, lock and semaphore acquire and release), calls parked
 * in the server (queue get, lock acquire), sm_client_open's own round trip
 * and four threads sharing one client through repeated cuts are covered.
 *
 * The last two tests kill counter clients (SIGKILL) at random moments, with
 * a fixed, printed seed (SMT_EO_SEED picks another), and check that no
 * increment a caller saw succeed is lost and that at most the one call in
 * flight per killed client is added on top; the second also cuts replies
 * through the relay at random moments.
 *
 * The relay speaks TCP, so this program runs its group once, over tcp://
 * (each test starts its own server); "ipc" or "tcp" as argv[1] still picks
 * a group as in every test program. */
#include "smt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#define CALL_TIMEOUT_MS 5000   /* every client's deadline for a non-blocking call */
#define LEASE_MS        60000  /* long: no lease renewal can be the reply a cut hits */
#define GET_TIMEOUT_MS  10000  /* the parked get's own timeout */
#define KILL_ROUNDS     100
#define KILL_MAX_MS     20
#define DEFAULT_SEED    20240611u

/* ------------------------------------------------------------------ time */

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ----------------------------------------------------------------- relay */

/* An nng SP connection opens with an 8-byte header from each side; only
 * what the server sends after its header is a reply, and only what the
 * client sends after its header is a request. */
#define SP_HEADER_LEN   8
#define RELAY_MAX_CONNS 32

/* What an armed relay cuts on: the connection that carries the next reply
 * (the request was applied, its answer is lost), or the next request (it
 * never reaches the server), or - CUT_HOLD - the next request is held back:
 * the client's side is closed, the server's side stays open, and the held
 * bytes reach the server later, when the test says so (relay_release). */
enum { CUT_NONE = 0, CUT_REPLY = 1, CUT_REQUEST = 2, CUT_HOLD = 3 };

#define RELAY_HELD_MAX 4096

typedef struct relay_conn {
    int cfd;           /* the client's side, accepted here; -1 once held */
    int sfd;           /* our connection to the server */
    uint64_t from_srv; /* bytes the server has sent on it so far */
    uint64_t from_cli; /* bytes the client has sent on it so far */
    bool held;         /* its request is held back, not yet released */
} relay_conn;

typedef struct relay {
    int lfd;                /* listening on 127.0.0.1, port chosen by the kernel */
    int stop[2];            /* 'x' on stop[1] ends the thread, 'r' releases */
    struct sockaddr_in srv; /* the server's address */
    char url[64];           /* "tcp://127.0.0.1:PORT" for clients */
    pthread_t thread;
    bool running;
    relay_conn conns[RELAY_MAX_CONNS]; /* the relay thread's alone */
    size_t nconns;
    int armed;       /* atomic: CUT_NONE, CUT_REPLY or CUT_REQUEST */
    int rearm;       /* atomic: cuts still to make after the next one, same side */
    int cuts;        /* atomic: connections cut so far */
    int accepted;    /* atomic: connections accepted so far */
    uint64_t to_srv; /* atomic: bytes forwarded from clients to the server */
    char held[RELAY_HELD_MAX]; /* the held request (relay thread's) */
    size_t held_len;
    int released;    /* atomic: the held request has been sent on */
    int late_replies; /* atomic: replies the server sent to a released request */
} relay;

static void
relay_drop(relay_conn *k)
{
    if (k->cfd >= 0)
        close(k->cfd);
    if (k->sfd >= 0)
        close(k->sfd);
    k->cfd = -1;
    k->sfd = -1;
}

/* write_all writes n bytes to fd, waiting at most 5 s for room. */
static bool
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            if (poll(&pfd, 1, 5000) > 0)
                continue;
        }
        return false;
    }
    return true;
}

/* relay_cut_here decides whether got bytes, of which *count came before on
 * this side, are to be cut instead of forwarded: they hold more than the
 * SP header and the relay is armed to cut on this side. It disarms, unless
 * more cuts were asked for. */
static bool
relay_cut_here(relay *r, uint64_t *count, ssize_t got, int side)
{
    int want = side;
    uint64_t header = *count < SP_HEADER_LEN ? SP_HEADER_LEN - *count : 0;
    *count += (uint64_t)got;
    if ((uint64_t)got <= header ||
        !__atomic_compare_exchange_n(&r->armed, &want, CUT_NONE, false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST))
        return false;
    if (__atomic_load_n(&r->rearm, __ATOMIC_SEQ_CST) > 0) {
        __atomic_sub_fetch(&r->rearm, 1, __ATOMIC_SEQ_CST);
        __atomic_store_n(&r->armed, side, __ATOMIC_SEQ_CST);
    }
    return true;
}

/* relay_cut closes both sides of k and counts a cut. */
static void
relay_cut(relay *r, relay_conn *k)
{
    relay_drop(k);
    __atomic_add_fetch(&r->cuts, 1, __ATOMIC_SEQ_CST);
}

/* relay_up forwards what the client sent, unless it is a request while the
 * relay is armed with CUT_REQUEST; drops the connection on EOF. */
static void
relay_up(relay *r, relay_conn *k, char *buf, size_t size)
{
    ssize_t got = read(k->cfd, buf, size);
    if (got < 0 && errno == EINTR)
        return;
    if (got <= 0) {
        relay_drop(k);
        return;
    }
    uint64_t before = k->from_cli;
    if (relay_cut_here(r, &k->from_cli, got, CUT_REQUEST)) {
        relay_cut(r, k);
        return;
    }
    k->from_cli = before;
    if (relay_cut_here(r, &k->from_cli, got, CUT_HOLD)) {
        size_t header = before < SP_HEADER_LEN ? (size_t)(SP_HEADER_LEN - before) : 0;
        if (!write_all(k->sfd, buf, header) || (size_t)got - header > RELAY_HELD_MAX) {
            relay_drop(k);
            return;
        }
        memcpy(r->held, buf + header, (size_t)got - header);
        r->held_len = (size_t)got - header;
        close(k->cfd); /* the client sees its connection drop; the server does not */
        k->cfd = -1;
        k->held = true;
        __atomic_add_fetch(&r->cuts, 1, __ATOMIC_SEQ_CST);
        return;
    }
    if (!write_all(k->sfd, buf, (size_t)got)) {
        relay_drop(k);
        return;
    }
    __atomic_add_fetch(&r->to_srv, (uint64_t)got, __ATOMIC_SEQ_CST);
}

/* relay_down forwards what the server sent, unless it is a reply while the
 * relay is armed with CUT_REPLY: then both sides are closed instead. */
static void
relay_down(relay *r, relay_conn *k, char *buf, size_t size)
{
    ssize_t got = read(k->sfd, buf, size);
    if (got < 0 && errno == EINTR)
        return;
    if (got <= 0) {
        relay_drop(k);
        return;
    }
    if (k->cfd < 0) { /* a released request's answer: nobody to give it to */
        __atomic_add_fetch(&r->late_replies, 1, __ATOMIC_SEQ_CST);
        return;
    }
    if (relay_cut_here(r, &k->from_srv, got, CUT_REPLY)) {
        relay_cut(r, k);
        return;
    }
    if (!write_all(k->cfd, buf, (size_t)got))
        relay_drop(k);
}

static void
relay_accept(relay *r)
{
    int one = 1;
    int cfd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (cfd < 0)
        return;
    int sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sfd < 0 || connect(sfd, (const struct sockaddr *)&r->srv, sizeof(r->srv)) != 0 ||
        r->nconns == RELAY_MAX_CONNS) {
        close(cfd);
        if (sfd >= 0)
            close(sfd);
        return;
    }
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    r->conns[r->nconns++] = (relay_conn){.cfd = cfd, .sfd = sfd};
    __atomic_add_fetch(&r->accepted, 1, __ATOMIC_SEQ_CST);
}

/* relay_release_held sends the held request on to the server, on the
 * connection it came in on. */
static void
relay_release_held(relay *r)
{
    for (size_t i = 0; i < r->nconns; i++) {
        relay_conn *k = &r->conns[i];
        if (!k->held)
            continue;
        k->held = false;
        if (!write_all(k->sfd, r->held, r->held_len))
            relay_drop(k);
        break;
    }
    __atomic_store_n(&r->released, 1, __ATOMIC_SEQ_CST);
}

static void *
relay_thread(void *arg)
{
    relay *r = arg;
    static __thread char buf[65536];
    struct pollfd pfd[2 + 2 * RELAY_MAX_CONNS];

    for (;;) {
        nfds_t n = 0;
        pfd[n++] = (struct pollfd){.fd = r->stop[0], .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = r->lfd, .events = POLLIN};
        for (size_t i = 0; i < r->nconns; i++) {
            pfd[n++] = (struct pollfd){.fd = r->conns[i].cfd, .events = POLLIN};
            pfd[n++] = (struct pollfd){.fd = r->conns[i].sfd, .events = POLLIN};
        }
        if (poll(pfd, n, 1000) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[0].revents != 0) {
            char c = 'x';
            if (read(r->stop[0], &c, 1) != 1 || c != 'r')
                break;
            relay_release_held(r);
        }
        for (size_t i = 0; i < r->nconns; i++) {
            relay_conn *k = &r->conns[i];
            if (k->cfd >= 0 && pfd[2 + 2 * i].revents != 0)
                relay_up(r, k, buf, sizeof(buf));
            if (k->sfd >= 0 && pfd[3 + 2 * i].revents != 0)
                relay_down(r, k, buf, sizeof(buf));
        }
        size_t kept = 0;
        for (size_t i = 0; i < r->nconns; i++)
            if (r->conns[i].cfd >= 0 || r->conns[i].sfd >= 0)
                r->conns[kept++] = r->conns[i];
        r->nconns = kept;
        if (pfd[1].revents & POLLIN)
            relay_accept(r);
    }
    for (size_t i = 0; i < r->nconns; i++)
        relay_drop(&r->conns[i]);
    r->nconns = 0;
    return NULL;
}

/* relay_start listens on 127.0.0.1:0 and relays to server_url
 * ("tcp://127.0.0.1:PORT"). Returns 0 or -1 (and prints why). */
static int
relay_start(relay *r, const char *server_url)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    const char *colon = strrchr(server_url, ':');
    int port = colon != NULL ? atoi(colon + 1) : 0;

    memset(r, 0, sizeof(*r));
    r->lfd = r->stop[0] = r->stop[1] = -1;
    if (strncmp(server_url, "tcp://127.0.0.1:", 16) != 0 || port <= 0 || port > 65535) {
        fprintf(stderr, "relay: cannot relay to '%s'\n", server_url);
        return -1;
    }
    r->srv = a;
    r->srv.sin_port = htons((uint16_t)port);
    r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (r->lfd < 0 || bind(r->lfd, (const struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(r->lfd, 16) != 0 || getsockname(r->lfd, (struct sockaddr *)&a, &alen) != 0 ||
        pipe2(r->stop, O_CLOEXEC) != 0) {
        perror("relay");
        return -1;
    }
    snprintf(r->url, sizeof(r->url), "tcp://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    if (pthread_create(&r->thread, NULL, relay_thread, r) != 0) {
        fprintf(stderr, "relay: pthread_create failed\n");
        return -1;
    }
    r->running = true;
    return 0;
}

static void
relay_stop(relay *r)
{
    if (r->running) {
        ssize_t w;
        do {
            w = write(r->stop[1], "x", 1);
        } while (w < 0 && errno == EINTR);
        pthread_join(r->thread, NULL);
        r->running = false;
    }
    if (r->lfd >= 0)
        close(r->lfd);
    if (r->stop[0] >= 0)
        close(r->stop[0]);
    if (r->stop[1] >= 0)
        close(r->stop[1]);
    r->lfd = r->stop[0] = r->stop[1] = -1;
}

/* relay_arm: cut the connection that carries the next reply. */
static void
relay_arm(relay *r)
{
    __atomic_store_n(&r->armed, CUT_REPLY, __ATOMIC_SEQ_CST);
}

/* relay_arm_times: cut the connections that carry the next n replies, one
 * after another (each reconnect's first reply is cut again). */
static void
relay_arm_times(relay *r, int n)
{
    __atomic_store_n(&r->rearm, n - 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&r->armed, CUT_REPLY, __ATOMIC_SEQ_CST);
}

/* relay_arm_request: cut the connection that carries the next request. */
static void
relay_arm_request(relay *r)
{
    __atomic_store_n(&r->armed, CUT_REQUEST, __ATOMIC_SEQ_CST);
}

/* relay_arm_hold: hold back the next request (see CUT_HOLD). */
static void
relay_arm_hold(relay *r)
{
    __atomic_store_n(&r->armed, CUT_HOLD, __ATOMIC_SEQ_CST);
}

/* relay_release sends a held request on and waits (at most 2 s) until the
 * relay did. */
static bool
relay_release(relay *r)
{
    ssize_t w;
    do {
        w = write(r->stop[1], "r", 1);
    } while (w < 0 && errno == EINTR);
    for (int i = 0; i < 2000 && !__atomic_load_n(&r->released, __ATOMIC_SEQ_CST); i++)
        sleep_ms(1);
    return __atomic_load_n(&r->released, __ATOMIC_SEQ_CST) != 0;
}

/* relay_disarm disarms; true if it was still armed (no cut happened). */
static bool
relay_disarm(relay *r)
{
    __atomic_store_n(&r->rearm, 0, __ATOMIC_SEQ_CST);
    return __atomic_exchange_n(&r->armed, CUT_NONE, __ATOMIC_SEQ_CST) != CUT_NONE;
}

static int
relay_cuts(relay *r)
{
    return __atomic_load_n(&r->cuts, __ATOMIC_SEQ_CST);
}

static int
relay_accepted(relay *r)
{
    return __atomic_load_n(&r->accepted, __ATOMIC_SEQ_CST);
}

static uint64_t
relay_to_srv(relay *r)
{
    return __atomic_load_n(&r->to_srv, __ATOMIC_SEQ_CST);
}

/* --------------------------------------------------------------- fixture */

typedef struct eo_fixture {
    smt_server srv;    /* a private syncmgrd on tcp://127.0.0.1 */
    relay rl;          /* relays to srv */
    sm_client *via;    /* connected through the relay */
    sm_client *direct; /* connected straight to srv: the referee */
    bool leak_via;     /* a call on via never returned: leave via alone */
} eo_fixture;

static int
open_client(sm_client **cp, const char *url)
{
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    o.call_timeout_ms = CALL_TIMEOUT_MS;
    o.lease_ms = LEASE_MS;
    int rv = sm_client_open(cp, url, &o);
    if (rv != SM_OK)
        fprintf(stderr, "sm_client_open(%s): %s %s\n", url, sm_errname(rv), sm_errdetail());
    return rv;
}

/* server_stop stops a spawned server: SIGTERM, then up to 10 s for it to
 * exit (its own stop watchdog gives up on a hung nng_close after 5 s and
 * exits 0, NNG-NOTES item 7); smt_server_stop then removes its directory.
 * Returns 0 if it exited cleanly, -1 (and says why) if not. */
static int
server_stop(smt_server *srv)
{
    int st = 0;
    bool spawned = srv->pid > 0, exited = false;
    int64_t t0 = now_ms();

    if (spawned) {
        kill(srv->pid, SIGTERM);
        while (now_ms() - t0 < 10000) {
            pid_t r = waitpid(srv->pid, &st, WNOHANG);
            if (r == srv->pid) {
                exited = true;
                srv->pid = 0;
                break;
            }
            if (r < 0 && errno != EINTR)
                break;
            sleep_ms(10); /* waiting on a process exit: no fd to block on */
        }
    }
    int64_t took = now_ms() - t0;
    smt_server_stop(srv); /* a server still there gets SIGTERM again, then SIGKILL */
    if (!spawned)
        return 0;
    if (took > 1000)
        fprintf(stderr, "syncmgrd took %" PRId64 " ms to stop\n", took);
    if (!exited || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "syncmgrd did not exit cleanly on SIGTERM (%s 0x%x)\n",
                exited ? "status" : "still running after 10 s; killed, status", st);
        return -1;
    }
    return 0;
}

static int
eo_teardown(void **state)
{
    eo_fixture *fx = *state;
    if (fx == NULL)
        return 0;
    if (!fx->leak_via)
        sm_client_close(fx->via);
    sm_client_close(fx->direct);
    relay_stop(&fx->rl);
    int rv = server_stop(&fx->srv);
    free(fx);
    *state = NULL;
    return rv;
}

static int
eo_setup(void **state)
{
    eo_fixture *fx = calloc(1, sizeof(*fx));
    *state = fx;
    if (fx == NULL)
        return -1;
    fx->rl.lfd = fx->rl.stop[0] = fx->rl.stop[1] = -1;
    if (smt_server_spawn(&fx->srv, "tcp", NULL) != 0 || relay_start(&fx->rl, fx->srv.url) != 0 ||
        open_client(&fx->direct, fx->srv.url) != SM_OK ||
        open_client(&fx->via, fx->rl.url) != SM_OK) {
        eo_teardown(state);
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------------- helpers */

static void
int_check(const sm_value *v, int64_t want, const char *what, const char *file, int line)
{
    if (v->type == SM_INT && v->u.i == want)
        return;
    if (v->type == SM_INT)
        print_error("%s is %" PRId64 ", wanted %" PRId64 "\n", what, v->u.i, want);
    else
        print_error("%s is of type %d, wanted the int %" PRId64 "\n", what, (int)v->type, want);
    _fail(file, line);
}
#define assert_int_value(v, want) int_check((v), (want), #v, __FILE__, __LINE__)

static void
str_check(const sm_value *v, const char *want, const char *what, const char *file, int line)
{
    if (v->type == SM_STR && v->u.buf.len == strlen(want) &&
        memcmp(v->u.buf.ptr, want, v->u.buf.len) == 0)
        return;
    if (v->type == SM_STR)
        print_error("%s is \"%.*s\", wanted \"%s\"\n", what, (int)v->u.buf.len,
                    (const char *)v->u.buf.ptr, want);
    else
        print_error("%s is of type %d, wanted the str \"%s\"\n", what, (int)v->type, want);
    _fail(file, line);
}
#define assert_str_value(v, want) str_check((v), (want), #v, __FILE__, __LINE__)

/* --------------------------------------------------------- relay itself */

/* The relay is transparent while not armed: calls through it succeed and
 * land where the referee sees them. */
static void
test_exactly_once_relay_forwards_calls_while_not_armed(void **state)
{
    eo_fixture *fx = *state;
    sm_dict *dv = NULL, *dd = NULL;
    sm_value one = sm_value_int(1), out = sm_value_nil();
    char name[256];

    snprintf(name, sizeof(name), "%s", smt_name("eo.relay"));
    assert_int_equal(relay_accepted(&fx->rl), 1);
    assert_sm_ok(sm_dict_open(fx->via, name, &dv));
    assert_sm_ok(sm_dict_open(fx->direct, name, &dd));
    for (int64_t i = 1; i <= 20; i++) {
        assert_sm_ok(sm_dict_incr(dv, "k", &one, &out));
        assert_int_value(&out, i);
    }
    assert_sm_ok(sm_dict_get(dd, "k", &out));
    assert_int_value(&out, 20);
    assert_int_equal(relay_cuts(&fx->rl), 0);
    assert_int_equal(relay_accepted(&fx->rl), 1);
    assert_sm_ok(sm_dict_close(dd));
    assert_sm_ok(sm_dict_close(dv));
}

/* An armed relay lets the server's SP header through: a new connection is
 * not "a reply". A raw socket says hello as an nng REQ peer (protocol 48)
 * and gets the server's REP header (49) back, uncut. */
static void
test_exactly_once_relay_passes_the_sp_header_while_armed(void **state)
{
    eo_fixture *fx = *state;
    static const unsigned char hello[SP_HEADER_LEN] = {0, 'S', 'P', 0, 0, 48, 0, 0};
    static const unsigned char want[SP_HEADER_LEN] = {0, 'S', 'P', 0, 0, 49, 0, 0};
    unsigned char got[SP_HEADER_LEN];
    size_t n = 0;
    const char *colon = strrchr(fx->rl.url, ':');
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)atoi(colon + 1)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    relay_arm(&fx->rl);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (const struct sockaddr *)&a, sizeof(a)), 0);
    assert_true(write_all(fd, (const char *)hello, sizeof(hello)));
    while (n < sizeof(got)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 2000) <= 0)
            break;
        ssize_t r = read(fd, got + n, sizeof(got) - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    assert_int_equal(n, sizeof(got));
    assert_memory_equal(got, want, sizeof(want));
    assert_int_equal(relay_cuts(&fx->rl), 0);
    assert_true(relay_disarm(&fx->rl)); /* still armed: nothing was cut */
}

/* ------------------------------------------------- one reply cut, applied */

static void
test_exactly_once_dict_incr_whose_reply_is_cut_applies_once(void **state)
{
    eo_fixture *fx = *state;
    sm_dict *dv = NULL, *dd = NULL;
    sm_value one = sm_value_int(1), out = sm_value_nil();
    size_t n = 0;
    char name[256];

    snprintf(name, sizeof(name), "%s", smt_name("eo.dict"));
    assert_sm_ok(sm_dict_open(fx->via, name, &dv));
    assert_sm_ok(sm_dict_open(fx->direct, name, &dd));

    relay_arm(&fx->rl);
    assert_sm_ok(sm_dict_incr(dv, "k", &one, &out));
    assert_int_value(&out, 1);
    assert_int_equal(relay_cuts(&fx->rl), 1);
    assert_true(relay_accepted(&fx->rl) >= 2); /* it reconnected */

    assert_sm_ok(sm_dict_get(dd, "k", &out));
    assert_int_value(&out, 1);
    assert_sm_ok(sm_dict_len(dd, &n));
    assert_int_equal(n, 1);

    /* the reconnected client goes on as before */
    assert_sm_ok(sm_dict_incr(dv, "k", &one, &out));
    assert_int_value(&out, 2);
    assert_sm_ok(sm_dict_get(dd, "k", &out));
    assert_int_value(&out, 2);
    assert_int_equal(relay_cuts(&fx->rl), 1);
    assert_sm_ok(sm_dict_close(dd));
    assert_sm_ok(sm_dict_close(dv));
}

/* ------------------------------------------------- nng's reaper stalled */

/* nng 1.5.2 tears a closed connection down on one "reaper" thread for the
 * whole process, and only then redials and sends the pipe-removed event;
 * that thread can stall for good (the close race in proxy/client.c). A
 * wedge reproduces the stall for real: a REQ socket of the test's own whose
 * pipe-removed callback blocks the reaper until wedge_release. */
typedef struct wedge {
    nng_socket req, rep;
    nng_pipe pipe;
    pthread_mutex_t mtx;
    pthread_cond_t cv;
    bool in, released;
} wedge;

static void
wedge_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    wedge *w = arg;
    pthread_mutex_lock(&w->mtx);
    if (ev == NNG_PIPE_EV_ADD_POST) {
        w->pipe = p;
    } else {
        w->in = true; /* on the reaper thread, which now waits */
        pthread_cond_broadcast(&w->cv);
        while (!w->released)
            pthread_cond_wait(&w->cv, &w->mtx);
    }
    pthread_mutex_unlock(&w->mtx);
}

/* wedge_reaper returns once nng's reaper thread is blocked in wedge_cb. */
static void
wedge_reaper(wedge *w)
{
    char url[64];
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->mtx, NULL);
    pthread_cond_init(&w->cv, NULL);
    snprintf(url, sizeof(url), "inproc://wedge-%d", (int)getpid());
    assert_int_equal(nng_rep0_open(&w->rep), 0);
    assert_int_equal(nng_listen(w->rep, url, NULL, 0), 0);
    assert_int_equal(nng_req0_open(&w->req), 0);
    nng_pipe_notify(w->req, NNG_PIPE_EV_ADD_POST, wedge_cb, w);
    nng_pipe_notify(w->req, NNG_PIPE_EV_REM_POST, wedge_cb, w);
    assert_int_equal(nng_dial(w->req, url, NULL, 0), 0);
    pthread_mutex_lock(&w->mtx);
    nng_pipe p = w->pipe;
    pthread_mutex_unlock(&w->mtx);
    assert_true(nng_pipe_id(p) > 0);
    assert_int_equal(nng_pipe_close(p), 0);
    pthread_mutex_lock(&w->mtx);
    while (!w->in)
        pthread_cond_wait(&w->cv, &w->mtx);
    pthread_mutex_unlock(&w->mtx);
}

static void
wedge_release(wedge *w)
{
    pthread_mutex_lock(&w->mtx);
    w->released = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mtx);
    nng_close(w->req);
    nng_close(w->rep);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mtx);
}

/* With the reaper stalled, nng never redials a cut connection (nor says it
 * went). The client dials again by itself after two seconds without a
 * connection (a "spare" dialer, proxy/client.c): the cut call still
 * returns within its deadline, applied once, over exactly one new
 * connection, and no sooner than that two-second limit, which shows nng's
 * own dialer did not redial. A second cut, on the spare's connection,
 * needs a second spare, and the count is exact again. */
static void
test_exactly_once_client_carries_on_over_its_own_dialer_while_nng_cannot_redial(void **state)
{
    eo_fixture *fx = *state;
    sm_dict *dv = NULL, *dd = NULL;
    sm_value one = sm_value_int(1), out = sm_value_nil();
    char name[256];
    wedge w;

    snprintf(name, sizeof(name), "%s", smt_name("eo.spare"));
    assert_sm_ok(sm_dict_open(fx->via, name, &dv));
    assert_sm_ok(sm_dict_open(fx->direct, name, &dd));
    int accepted = relay_accepted(&fx->rl);

    wedge_reaper(&w);
    for (int round = 1; round <= 2; round++) {
        relay_arm(&fx->rl);
        int64_t t0 = now_ms();
        int rv = sm_dict_incr(dv, "k", &one, &out);
        int64_t took = now_ms() - t0;
        if (rv != SM_OK || relay_cuts(&fx->rl) != round ||
            relay_accepted(&fx->rl) != accepted + round || took < 1900) {
            wedge_release(&w);
            fail_msg("round %d: %s after %" PRId64 " ms, %d cut(s), %d new connection(s)",
                     round, sm_errname(rv), took, relay_cuts(&fx->rl),
                     relay_accepted(&fx->rl) - accepted);
        }
        assert_int_value(&out, round);
        assert_sm_ok(sm_dict_get(dd, "k", &out));
        assert_int_value(&out, round);
    }
    wedge_release(&w);

    assert_sm_ok(sm_dict_incr(dv, "k", &one, &out));
    assert_int_value(&out, 3);
    assert_sm_ok(sm_dict_close(dd));
    assert_sm_ok(sm_dict_close(dv));
}

/* Ten calls in a row, each with its reply cut: ten reconnects, ten
 * increments, each seen once. */
static void
test_exactly_once_every_reply_cut_ten_times_in_a_row_applies_each_once(void **state)
{
    eo_fixture *fx = *state;
    sm_dict *dv = NULL, *dd = NULL;
    sm_value one = sm_value_int(1), out = sm_value_nil();
    char name[256];

    snprintf(name, sizeof(name), "%s", smt_name("eo.dict10"));
    assert_sm_ok(sm_dict_open(fx->via, name, &dv));
    assert_sm_ok(sm_dict_open(fx->direct, name, &dd));
    for (int64_t i = 1; i <= 10; i++) {
        relay_arm(&fx->rl);
        assert_sm_ok(sm_dict_incr(dv, "k", &one, &out));
        assert_int_value(&out, i);
        assert_int_equal(relay_cuts(&fx->rl), i);
        assert_sm_ok(sm_dict_get(dd, "k", &out));
        assert_int_value(&out, i);
    }
    assert_sm_ok(sm_dict_close(dd));
    assert_sm_ok(sm_dict_close(dv));
}

/* One call whose reply is cut on five connections in a row (each reconnect
 * is cut again as soon as the repeat is answered) still applies once and
 * returns SM_OK, and the client goes on working. */
static void
test_exactly_once_reply_cut_on_five_connections_in_a_row_applies_once(void **state)
{
    eo_fixture *fx = *state;
    sm_dict *dv = NULL, *dd = NULL;
    sm_value one = sm_value_int(1), out = sm_value_nil();
    char name[256];

    snprintf(name, sizeof(name), "%s", smt_name("eo.dict5"));
    assert_sm_ok(sm_dict_open(fx->via, name, &dv));
    assert_sm_ok(sm_dict_open(fx->direct, name, &dd));

    relay_arm_times(&fx->rl, 5);
    assert_sm_ok(sm_dict_incr(dv, "k", &one, &out));
    assert_int_value(&out, 1);
    assert_int_equal(relay_cuts(&fx->rl), 5);
    assert_false(relay_disarm(&fx->rl));
    assert_sm_ok(sm_dict_get(dd, "k", &out));
    assert_int_value(&out, 1);

    assert_sm_ok(sm_dict_incr(dv, "k", &one, &out));
    assert_int_value(&out, 2);
    assert_sm_ok(sm_dict_close(dd));
    assert_sm_ok(sm_dict_close(dv));
}

/* A request lost on the way (the connection drops before the server reads
 * it) is sent again and applied once. */
static void
test_exactly_once_dict_incr_whose_request_is_cut_applies_once(void **state)
{
    eo_fixture *fx = *state;
    sm_dict *dv = NULL, *dd = NULL;
    sm_value one = sm_value_int(1), out = sm_value_nil();
    char name[256];

    snprintf(name, sizeof(name), "%s", smt_name("eo.dreq"));
    assert_sm_ok(sm_dict_open(fx->via, name, &dv));
    assert_sm_ok(sm_dict_open(fx->direct, name, &dd));

    relay_arm_request(&fx->rl);
    assert_sm_ok(sm_dict_incr(dv, "k", &one, &out));
    assert_int_value(&out, 1);
    assert_int_equal(relay_cuts(&fx->rl), 1);
    assert_sm_ok(sm_dict_get(dd, "k", &out));
    assert_int_value(&out, 1);
    assert_sm_ok(sm_dict_close(dd));
    assert_sm_ok(sm_dict_close(dv));
}

/* A request held up on a connection the client saw drop reaches the server
 * late, after the client sent it again, had its answer and moved on (its
 * later calls tell the server it has every reply up to them). That late
 * copy is a repeat too: it must not be applied a second time. */
static void
test_exactly_once_late_copy_of_an_answered_request_is_not_applied_again(void **state)
{
    eo_fixture *fx = *state;
    sm_list *lv = NULL, *ld = NULL;
    sm_value x = sm_value_str("x"), *vals = NULL;
    size_t n = 0;
    char name[256], text[8];

    snprintf(name, sizeof(name), "%s", smt_name("eo.late"));
    assert_sm_ok(sm_list_open(fx->via, name, &lv));
    assert_sm_ok(sm_list_open(fx->direct, name, &ld));

    relay_arm_hold(&fx->rl);
    assert_sm_ok(sm_list_append(lv, &x)); /* its first copy is held back */
    assert_int_equal(relay_cuts(&fx->rl), 1);
    for (int i = 1; i <= 3; i++) {
        snprintf(text, sizeof(text), "y%d", i);
        sm_value y = sm_value_str(text);
        assert_sm_ok(sm_list_append(lv, &y));
    }
    assert_true(relay_release(&fx->rl));
    sleep_ms(300); /* the server reads the late copy and answers it, or not */
    print_message("the server answered the late copy %d time(s)\n",
                  __atomic_load_n(&fx->rl.late_replies, __ATOMIC_SEQ_CST));

    assert_sm_ok(sm_list_slice(ld, 0, SM_END, &vals, &n));
    if (n != 4) {
        sm_values_free(vals, n);
        fail_msg("the list holds %zu items, wanted 4 (x y1 y2 y3): the late copy of the "
                 "append of x was %s",
                 n, n > 4 ? "applied again" : "lost");
    }
    assert_str_value(&vals[0], "x");
    assert_str_value(&vals[1], "y1");
    assert_str_value(&vals[2], "y2");
    assert_str_value(&vals[3], "y3");
    sm_values_free(vals, n);
    assert_sm_ok(sm_list_close(ld));
    assert_sm_ok(sm_list_close(lv));
}

/* sm_client_open's own round trip (opening the session) survives a cut
 * reply, and the client it returns works. */
static void
test_exactly_once_client_open_whose_reply_is_cut_still_opens(void **state)
{
    eo_fixture *fx = *state;
    sm_client *c = NULL;
    sm_dict *dc = NULL, *dd = NULL;
    sm_value one = sm_value_int(1), out = sm_value_nil();
    char name[256];

    snprintf(name, sizeof(name), "%s", smt_name("eo.open"));
    assert_sm_ok(sm_dict_open(fx->direct, name, &dd));
    relay_arm(&fx->rl); /* fx->via is idle: the next reply is the new client's */
    assert_sm_ok(open_client(&c, fx->rl.url));
    assert_int_equal(relay_cuts(&fx->rl), 1);
    assert_sm_ok(sm_dict_open(c, name, &dc));
    assert_sm_ok(sm_dict_incr(dc, "k", &one, &out));
    assert_int_value(&out, 1);
    assert_sm_ok(sm_dict_get(dd, "k", &out));
    assert_int_value(&out, 1);
    assert_sm_ok(sm_dict_close(dc));
    sm_client_close(c);
    assert_sm_ok(sm_dict_close(dd));
}

static void
test_exactly_once_list_append_whose_reply_is_cut_applies_once(void **state)
{
    eo_fixture *fx = *state;
    sm_list *lv = NULL, *ld = NULL;
    sm_value once = sm_value_str("once"), again = sm_value_str("again");
    sm_value *vals = NULL;
    size_t n = 0;
    char name[256];

    snprintf(name, sizeof(name), "%s", smt_name("eo.list"));
    assert_sm_ok(sm_list_open(fx->via, name, &lv));
    assert_sm_ok(sm_list_open(fx->direct, name, &ld));

    relay_arm(&fx->rl);
    assert_sm_ok(sm_list_append(lv, &once));
    assert_int_equal(relay_cuts(&fx->rl), 1);

    assert_sm_ok(sm_list_slice(ld, 0, SM_END, &vals, &n));
    assert_int_equal(n, 1);
    assert_str_value(&vals[0], "once");
    sm_values_free(vals, n);

    assert_sm_ok(sm_list_append(lv, &again));
    assert_sm_ok(sm_list_slice(ld, 0, SM_END, &vals, &n));
    assert_int_equal(n, 2);
    assert_str_value(&vals[0], "once");
    assert_str_value(&vals[1], "again");
    sm_values_free(vals, n);
    assert_int_equal(relay_cuts(&fx->rl), 1);
    assert_sm_ok(sm_list_close(ld));
    assert_sm_ok(sm_list_close(lv));
}

static void
test_exactly_once_queue_put_whose_reply_is_cut_applies_once(void **state)
{
    eo_fixture *fx = *state;
    sm_queue *qv = NULL, *qd = NULL;
    sm_value seven = sm_value_int(7), out = sm_value_nil();
    int64_t size = -1;
    char name[256];

    snprintf(name, sizeof(name), "%s", smt_name("eo.queue"));
    assert_sm_ok(sm_queue_open(fx->via, name, 0, false, &qv));
    assert_sm_ok(sm_queue_open(fx->direct, name, 0, false, &qd));

    relay_arm(&fx->rl);
    assert_sm_ok(sm_queue_put(qv, &seven, 1000));
    assert_int_equal(relay_cuts(&fx->rl), 1);

    assert_sm_ok(sm_queue_info(qd, &size, NULL, NULL));
    assert_int_equal(size, 1);
    assert_sm_ok(sm_queue_get(qd, SM_NOWAIT, &out));
    assert_int_value(&out, 7);
    assert_sm_status(sm_queue_get(qd, SM_NOWAIT, &out), SM_EEMPTY);
    assert_sm_ok(sm_queue_info(qv, &size, NULL, NULL));
    assert_int_equal(size, 0);
    assert_sm_ok(sm_queue_close(qd));
    assert_sm_ok(sm_queue_close(qv));
}

/* ------------------------------------------ taking calls, their reply cut */

/* A popped item comes back to the caller, and only one item goes. */
static void
test_exactly_once_list_pop_whose_reply_is_cut_removes_one_item(void **state)
{
    eo_fixture *fx = *state;
    sm_list *lv = NULL, *ld = NULL;
    sm_value abc[3] = {sm_value_str("a"), sm_value_str("b"), sm_value_str("c")};
    sm_value out = sm_value_nil(), *vals = NULL;
    size_t n = 0;
    char name[256];

    snprintf(name, sizeof(name), "%s", smt_name("eo.pop"));
    assert_sm_ok(sm_list_open(fx->via, name, &lv));
    assert_sm_ok(sm_list_open(fx->direct, name, &ld));
    assert_sm_ok(sm_list_extend(ld, abc, 3));

    relay_arm(&fx->rl);
    assert_sm_ok(sm_list_pop(lv, -1, &out));
    assert_int_equal(relay_cuts(&fx->rl), 1);
    assert_str_value(&out, "c");
    sm_value_clear(&out);

    assert_sm_ok(sm_list_slice(ld, 0, SM_END, &vals, &n));
    assert_int_equal(n, 2);
    assert_str_value(&vals[0], "a");
    assert_str_value(&vals[1], "b");
    sm_values_free(vals, n);
    assert_sm_ok(sm_list_close(ld));
    assert_sm_ok(sm_list_close(lv));
}

/* A lock is not re-entrant: an acquire applied twice would make its holder
 * wait for itself. The caller holds it once, and a release whose reply is
 * cut frees it once. */
static void
test_exactly_once_lock_acquire_and_release_whose_replies_are_cut_apply_once(void **state)
{
    eo_fixture *fx = *state;
    sm_lock *lv = NULL, *ld = NULL;
    bool locked = false;
    char name[256];

    snprintf(name, sizeof(name), "%s", smt_name("eo.lock"));
    assert_sm_ok(sm_lock_open(fx->via, name, &lv));
    assert_sm_ok(sm_lock_open(fx->direct, name, &ld));

    relay_arm(&fx->rl);
    assert_sm_ok(sm_lock_acquire(lv, 1000));
    assert_int_equal(relay_cuts(&fx->rl), 1);
    assert_sm_ok(sm_lock_locked(ld, &locked));
    assert_true(locked);
    assert_sm_status(sm_lock_acquire(ld, SM_NOWAIT), SM_ETIMEDOUT);

    relay_arm(&fx->rl);
    assert_sm_ok(sm_lock_release(lv));
    assert_int_equal(relay_cuts(&fx->rl), 2);
    assert_sm_ok(sm_lock_locked(ld, &locked));
    assert_false(locked);
    assert_sm_status(sm_lock_release(lv), SM_ENOTOWNER);

    /* free for anyone, the caller included */
    assert_sm_ok(sm_lock_acquire(ld, SM_NOWAIT));
    assert_sm_ok(sm_lock_release(ld));
    assert_sm_ok(sm_lock_acquire(lv, SM_NOWAIT));
    assert_sm_ok(sm_lock_release(lv));
    assert_sm_ok(sm_lock_close(ld));
    assert_sm_ok(sm_lock_close(lv));
}

/* An acquire whose reply is cut takes one permit, a release gives one. */
static void
test_exactly_once_sem_acquire_and_release_whose_replies_are_cut_move_one_permit(void **state)
{
    eo_fixture *fx = *state;
    sm_sem *sv = NULL, *sd = NULL;
    int64_t value = -1;
    char name[256];

    snprintf(name, sizeof(name), "%s", smt_name("eo.sem"));
    assert_sm_ok(sm_sem_open(fx->via, name, 2, false, &sv));
    assert_sm_ok(sm_sem_open(fx->direct, name, 2, false, &sd));

    relay_arm(&fx->rl);
    assert_sm_ok(sm_sem_acquire(sv, 1000));
    assert_int_equal(relay_cuts(&fx->rl), 1);
    assert_sm_ok(sm_sem_value(sd, &value));
    assert_int_equal(value, 1);

    relay_arm(&fx->rl);
    assert_sm_ok(sm_sem_release(sv, 1));
    assert_int_equal(relay_cuts(&fx->rl), 2);
    assert_sm_ok(sm_sem_value(sd, &value));
    assert_int_equal(value, 2);
    assert_sm_ok(sm_sem_close(sd));
    assert_sm_ok(sm_sem_close(sv));
}

/* ------------------------------------------ a parked call, its reply cut */

/* A blocking call on fx->via, run in its own thread. A lock belongs to the
 * thread that acquired it, so that thread also releases it, when told. */
typedef struct parked {
    pthread_t thread;
    sm_queue *q;     /* a get on q, or */
    sm_lock *l;      /* an acquire of l, then a release */
    sem_t returned;  /* posted when the blocking call has returned */
    sem_t release;   /* posted by the test: release l now */
    int rv;          /* the blocking call's status */
    int release_rv;  /* the release's */
    sm_value got;
    int64_t took_ms;
} parked;

/* sem_wait_s waits for sem at most s seconds; false on timeout. */
static bool
sem_wait_s(sem_t *sem, int s)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += s;
    int r;
    while ((r = sem_timedwait(sem, &dl)) != 0 && errno == EINTR)
        ;
    return r == 0;
}

static void *
parked_thread(void *arg)
{
    parked *p = arg;
    int64_t t0 = now_ms();
    if (p->q != NULL)
        p->rv = sm_queue_get(p->q, GET_TIMEOUT_MS, &p->got);
    else
        p->rv = sm_lock_acquire(p->l, GET_TIMEOUT_MS);
    p->took_ms = now_ms() - t0;
    sem_post(&p->returned);
    if (p->l != NULL && p->rv == SM_OK)
        p->release_rv = sem_wait_s(&p->release, 30) ? sm_lock_release(p->l) : -1;
    return NULL;
}

/* park starts p's call in a thread and returns once its request went
 * through the relay and the server has had 200 ms to park it. */
static void
park(eo_fixture *fx, parked *p)
{
    p->rv = -1;
    p->release_rv = -1;
    p->got = sm_value_nil();
    assert_int_equal(sem_init(&p->returned, 0, 0), 0);
    assert_int_equal(sem_init(&p->release, 0, 0), 0);
    uint64_t sent = relay_to_srv(&fx->rl);
    assert_int_equal(pthread_create(&p->thread, NULL, parked_thread, p), 0);
    int64_t until = now_ms() + 5000;
    while (relay_to_srv(&fx->rl) == sent && now_ms() < until)
        sleep_ms(1);
    if (relay_to_srv(&fx->rl) == sent) {
        fx->leak_via = true; /* the call may still use it */
        fail_msg("the parked call did not go through the relay within 5 s");
    }
    sleep_ms(200);
}

/* park_returned waits for p's call to return, at most its own bound plus
 * 5 s. */
static void
park_returned(eo_fixture *fx, parked *p, int64_t t_wake)
{
    const int bound_s = GET_TIMEOUT_MS / 1000 + CALL_TIMEOUT_MS / 1000 + 5;
    if (!sem_wait_s(&p->returned, bound_s)) {
        fx->leak_via = true; /* the call still uses it */
        fail_msg("the parked call did not return within %d s", bound_s);
    }
    print_message("parked call returned %s after %" PRId64 " ms, %" PRId64
                  " ms after it was woken\n",
                  sm_errname(p->rv), p->took_ms, now_ms() - t_wake);
}

/* park_join lets a lock holder release (if it holds) and joins its thread. */
static void
park_join(eo_fixture *fx, parked *p)
{
    struct timespec dl;
    sem_post(&p->release);
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += CALL_TIMEOUT_MS / 1000 + 5;
    if (pthread_timedjoin_np(p->thread, NULL, &dl) != 0) {
        fx->leak_via = true; /* the thread still uses it */
        fail_msg("the parked call's thread did not end");
    }
    sem_destroy(&p->returned);
    sem_destroy(&p->release);
}

/* queue_check_nothing_parked: q (the referee's proxy) is empty, and an item
 * put now stays there, so no get is left parked for the session to swallow
 * it; qv (the caller's proxy) then takes it. */
static void
queue_check_nothing_parked(sm_queue *qd, sm_queue *qv)
{
    sm_value b = sm_value_str("B"), out = sm_value_nil();
    int64_t size = -1;

    assert_sm_ok(sm_queue_info(qd, &size, NULL, NULL));
    assert_int_equal(size, 0);
    assert_sm_ok(sm_queue_put(qd, &b, 1000));
    sleep_ms(100);
    assert_sm_ok(sm_queue_info(qd, &size, NULL, NULL));
    assert_int_equal(size, 1);
    assert_sm_ok(sm_queue_get(qv, SM_NOWAIT, &out));
    assert_str_value(&out, "B");
    sm_value_clear(&out);
    assert_sm_ok(sm_queue_info(qd, &size, NULL, NULL));
    assert_int_equal(size, 0);
}

/* A get parks in the server on an empty queue; a put from the referee
 * makes the server hand the item to it, and that reply is cut. The getter
 * still receives the item, once: the queue is empty afterwards, and no
 * second get stays parked to swallow the next item. */
static void
test_exactly_once_parked_queue_get_whose_reply_is_cut_takes_the_item_once(void **state)
{
    eo_fixture *fx = *state;
    sm_queue *qv = NULL, *qd = NULL;
    sm_value a = sm_value_str("A");
    parked g = {0};
    char name[256];

    snprintf(name, sizeof(name), "%s", smt_name("eo.qget"));
    assert_sm_ok(sm_queue_open(fx->via, name, 0, false, &qv));
    assert_sm_ok(sm_queue_open(fx->direct, name, 0, false, &qd));

    g.q = qv;
    park(fx, &g);
    relay_arm(&fx->rl);
    int64_t t_put = now_ms();
    assert_sm_ok(sm_queue_put(qd, &a, 1000));
    park_returned(fx, &g, t_put);
    park_join(fx, &g);
    assert_int_equal(relay_cuts(&fx->rl), 1);
    assert_sm_ok(g.rv);
    assert_str_value(&g.got, "A");
    sm_value_clear(&g.got);

    queue_check_nothing_parked(qd, qv);
    assert_int_equal(relay_cuts(&fx->rl), 1);
    assert_sm_ok(sm_queue_close(qd));
    assert_sm_ok(sm_queue_close(qv));
}

/* Every call in flight is sent again, not only the one whose reply was
 * lost: a get parked in the server when another call's reply is cut on the
 * same connection goes on waiting, gets the item put later, once, and
 * leaves no second waiter behind. */
static void
test_exactly_once_parked_get_survives_a_cut_of_another_calls_reply(void **state)
{
    eo_fixture *fx = *state;
    sm_queue *qv = NULL, *qd = NULL;
    sm_dict *dv = NULL, *dd = NULL;
    sm_value a = sm_value_str("A"), one = sm_value_int(1), out = sm_value_nil();
    parked g = {0};
    char qname[256], dname[256];

    snprintf(qname, sizeof(qname), "%s", smt_name("eo.qboth"));
    snprintf(dname, sizeof(dname), "%s", smt_name("eo.dboth"));
    assert_sm_ok(sm_queue_open(fx->via, qname, 0, false, &qv));
    assert_sm_ok(sm_queue_open(fx->direct, qname, 0, false, &qd));
    assert_sm_ok(sm_dict_open(fx->via, dname, &dv));
    assert_sm_ok(sm_dict_open(fx->direct, dname, &dd));

    g.q = qv;
    park(fx, &g);
    relay_arm(&fx->rl);
    assert_sm_ok(sm_dict_incr(dv, "k", &one, &out));
    assert_int_value(&out, 1);
    assert_int_equal(relay_cuts(&fx->rl), 1);
    assert_sm_ok(sm_dict_get(dd, "k", &out));
    assert_int_value(&out, 1);

    sleep_ms(200); /* the get is parked again, or never stopped being */
    int64_t t_put = now_ms();
    assert_sm_ok(sm_queue_put(qd, &a, 1000));
    park_returned(fx, &g, t_put);
    park_join(fx, &g);
    assert_sm_ok(g.rv);
    assert_str_value(&g.got, "A");
    sm_value_clear(&g.got);
    queue_check_nothing_parked(qd, qv);
    assert_int_equal(relay_cuts(&fx->rl), 1);
    assert_sm_ok(sm_dict_close(dd));
    assert_sm_ok(sm_dict_close(dv));
    assert_sm_ok(sm_queue_close(qd));
    assert_sm_ok(sm_queue_close(qv));
}

/* An acquire parked on a lock the referee holds is granted when the referee
 * releases, and that grant's reply is cut: the caller holds the lock, once,
 * and no second acquire is left waiting to take it after its release. */
static void
test_exactly_once_parked_lock_acquire_whose_grant_is_cut_holds_the_lock_once(void **state)
{
    eo_fixture *fx = *state;
    sm_lock *lv = NULL, *ld = NULL;
    parked p = {0};
    bool locked = false;
    char name[256];

    snprintf(name, sizeof(name), "%s", smt_name("eo.plock"));
    assert_sm_ok(sm_lock_open(fx->via, name, &lv));
    assert_sm_ok(sm_lock_open(fx->direct, name, &ld));
    assert_sm_ok(sm_lock_acquire(ld, SM_NOWAIT));

    p.l = lv;
    park(fx, &p);
    relay_arm(&fx->rl);
    int64_t t_release = now_ms();
    assert_sm_ok(sm_lock_release(ld));
    park_returned(fx, &p, t_release);
    assert_int_equal(relay_cuts(&fx->rl), 1);
    assert_sm_ok(p.rv);

    assert_sm_ok(sm_lock_locked(ld, &locked));
    assert_true(locked);
    assert_sm_status(sm_lock_acquire(ld, SM_NOWAIT), SM_ETIMEDOUT);
    park_join(fx, &p); /* the acquiring thread releases */
    assert_sm_ok(p.release_rv);
    /* nothing is left parked to take it over */
    sleep_ms(100);
    assert_sm_ok(sm_lock_locked(ld, &locked));
    assert_false(locked);
    assert_sm_ok(sm_lock_acquire(ld, SM_NOWAIT));
    assert_sm_ok(sm_lock_release(ld));
    assert_int_equal(relay_cuts(&fx->rl), 1);
    assert_sm_ok(sm_lock_close(ld));
    assert_sm_ok(sm_lock_close(lv));
}

/* ------------------------------------------ threads sharing a cut client */

#define STRESS_THREADS 4
#define STRESS_CALLS   1000

typedef struct stresser {
    pthread_t thread;
    int id;
    sm_list *l;
    sm_dict *d;
    int ok;      /* iterations whose append and incr both returned SM_OK */
    int bad_rv;  /* the first other status */
    char bad_detail[160]; /* and its sm_errdetail */
    int done;    /* atomic */
} stresser;

static void *
stress_thread(void *arg)
{
    stresser *t = arg;
    sm_value one = sm_value_int(1);
    char text[32];
    for (int i = 0; i < STRESS_CALLS; i++) {
        snprintf(text, sizeof(text), "t%d.%d", t->id, i);
        sm_value v = sm_value_str(text);
        int rv = sm_list_append(t->l, &v);
        if (rv == SM_OK)
            rv = sm_dict_incr(t->d, "n", &one, NULL);
        if (rv != SM_OK) {
            t->bad_rv = rv;
            snprintf(t->bad_detail, sizeof(t->bad_detail), "%s", sm_errdetail());
            break;
        }
        t->ok++;
    }
    __atomic_store_n(&t->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Several threads share one client (one connection) while the relay cuts
 * a reply every 20 ms or so: each cut drops the calls of every thread in
 * flight at once, and all of them are sent again. Every call returns
 * SM_OK, every append is in the list exactly once and in each thread's
 * order, and the counter equals the number of increments. */
static void
test_exactly_once_threads_sharing_a_client_through_repeated_cuts_apply_each_call_once(
    void **state)
{
    eo_fixture *fx = *state;
    sm_list *lv = NULL, *ld = NULL;
    sm_dict *dv = NULL, *dd = NULL;
    sm_value out = sm_value_nil(), *vals = NULL;
    stresser t[STRESS_THREADS];
    int next[STRESS_THREADS] = {0};
    size_t n = 0;
    char lname[256], dname[256];

    snprintf(lname, sizeof(lname), "%s", smt_name("eo.slist"));
    snprintf(dname, sizeof(dname), "%s", smt_name("eo.sdict"));
    assert_sm_ok(sm_list_open(fx->via, lname, &lv));
    assert_sm_ok(sm_list_open(fx->direct, lname, &ld));
    assert_sm_ok(sm_dict_open(fx->via, dname, &dv));
    assert_sm_ok(sm_dict_open(fx->direct, dname, &dd));

    memset(t, 0, sizeof(t));
    for (int i = 0; i < STRESS_THREADS; i++) {
        t[i] = (stresser){.id = i, .l = lv, .d = dv};
        assert_int_equal(pthread_create(&t[i].thread, NULL, stress_thread, &t[i]), 0);
    }
    int64_t t0 = now_ms(), until = t0 + 60000;
    for (;;) {
        int done = 0;
        for (int i = 0; i < STRESS_THREADS; i++)
            done += __atomic_load_n(&t[i].done, __ATOMIC_SEQ_CST);
        if (done == STRESS_THREADS || now_ms() > until)
            break;
        sleep_ms(20);
        relay_arm(&fx->rl);
    }
    relay_disarm(&fx->rl);
    for (int i = 0; i < STRESS_THREADS; i++) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += CALL_TIMEOUT_MS / 1000 + 5;
        if (pthread_timedjoin_np(t[i].thread, NULL, &dl) != 0) {
            fx->leak_via = true; /* the thread still uses it */
            fail_msg("thread %d did not finish its %d calls within 60 s", i, STRESS_CALLS);
        }
    }
    int cuts = relay_cuts(&fx->rl);
    print_message("%d threads x %d appends and incrs, %d cuts, %" PRId64 " ms\n",
                  STRESS_THREADS, STRESS_CALLS, cuts, now_ms() - t0);
    for (int i = 0; i < STRESS_THREADS; i++)
        if (t[i].ok != STRESS_CALLS)
            fail_msg("thread %d: call %d of %d returned %s (%s); the relay accepted %d "
                     "connections and cut %d%s",
                     i, t[i].ok + 1, STRESS_CALLS, sm_errname(t[i].bad_rv), t[i].bad_detail,
                     relay_accepted(&fx->rl), cuts,
                     relay_accepted(&fx->rl) == cuts ? " (no reconnect after the last cut)"
                                                     : "");
    assert_true(cuts >= 3);

    assert_sm_ok(sm_dict_get(dd, "n", &out));
    assert_int_value(&out, STRESS_THREADS * STRESS_CALLS);
    assert_sm_ok(sm_list_slice(ld, 0, SM_END, &vals, &n));
    for (size_t k = 0; k < n; k++) {
        int id = -1, i = -1;
        if (vals[k].type != SM_STR || sscanf(vals[k].u.buf.ptr, "t%d.%d", &id, &i) != 2 ||
            id < 0 || id >= STRESS_THREADS) {
            sm_values_free(vals, n);
            fail_msg("item %zu is not one the threads appended", k);
        }
        if (i != next[id]) {
            sm_values_free(vals, n);
            fail_msg("item %zu is t%d.%d, wanted t%d.%d: %s", k, id, i, id, next[id],
                     i < next[id] ? "applied twice" : "one lost");
        }
        next[id]++;
    }
    sm_values_free(vals, n);
    assert_int_equal(n, STRESS_THREADS * STRESS_CALLS);
    assert_sm_ok(sm_dict_close(dd));
    assert_sm_ok(sm_dict_close(dv));
    assert_sm_ok(sm_list_close(ld));
    assert_sm_ok(sm_list_close(lv));
}

/* ------------------------------------------------ killed counter clients */

/* child_adder runs in a child process (smt_spawn): argv is NAME URL VAR FD.
 * It opens its own client and the var, writes 'R' to FD, then loops: '>'
 * before each sm_var_add(+1), '+' after each SM_OK. On a failure it writes
 * 'X' and the status as one byte, and exits 3. The parent kills it. */
static int
child_adder_main(int argc, char **argv)
{
    sm_client *c = NULL;
    sm_var *v = NULL;
    sm_value one = sm_value_int(1);
    int rv;

    alarm(20); /* the parent kills it within ms; never hang */
    if (argc != 4)
        return 99;
    int fd = atoi(argv[3]);
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    o.call_timeout_ms = CALL_TIMEOUT_MS;
    if ((rv = sm_client_open(&c, argv[1], &o)) != SM_OK ||
        (rv = sm_var_open(c, argv[2], NULL, &v)) != SM_OK) {
        fprintf(stderr, "adder: open: %s %s\n", sm_errname(rv), sm_errdetail());
        return 2;
    }
    if (!write_all(fd, "R", 1))
        return 4;
    for (;;) {
        if (!write_all(fd, ">", 1))
            return 4;
        rv = sm_var_add(v, &one, NULL);
        if (rv != SM_OK) {
            char x[2] = {'X', (char)rv};
            fprintf(stderr, "adder %ld: sm_var_add: %s %s\n", (long)getpid(), sm_errname(rv),
                    sm_errdetail());
            write_all(fd, x, 2);
            return 3;
        }
        if (!write_all(fd, "+", 1))
            return 4;
    }
}

static const smt_child children[] = {{"adder", child_adder_main}};

/* What one killed adder reported. */
typedef struct round_log {
    int64_t seen;   /* its calls that returned SM_OK */
    bool ready;     /* it wrote 'R' */
    bool in_flight; /* its last mark was '>': call seen+1 was under way */
    int error;      /* a status it got instead of SM_OK, or 0 */
    int status;     /* waitpid's */
} round_log;

/* read_marks reads fd into *lg until 'R' has come (want_ready) or EOF, at
 * most timeout_ms. */
static void
read_marks(int fd, round_log *lg, bool want_ready, int timeout_ms, bool *x_pending)
{
    int64_t until = now_ms() + timeout_ms;
    char buf[4096];
    for (;;) {
        if (want_ready && lg->ready)
            return;
        int64_t left = until - now_ms();
        if (left <= 0)
            return;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return;
        ssize_t got = read(fd, buf, sizeof(buf));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return;
        for (ssize_t i = 0; i < got; i++) {
            if (*x_pending) {
                lg->error = (unsigned char)buf[i];
                *x_pending = false;
                continue;
            }
            switch (buf[i]) {
            case 'R':
                lg->ready = true;
                break;
            case '>':
                lg->in_flight = true;
                break;
            case '+':
                lg->seen++;
                lg->in_flight = false;
                break;
            case 'X':
                *x_pending = true;
                lg->error = -1;
                break;
            default:
                break;
            }
        }
    }
}

/* kill_round spawns an adder on url and var, waits until it is ready,
 * kills it after delay_ms, and reads what it reported. With cut non-NULL
 * the relay is armed arm_ms after the adder is ready (arm_ms < delay_ms)
 * and disarmed after the kill. */
static void
kill_round(const char *url, const char *var, int delay_ms, relay *cut, int arm_ms,
           round_log *lg)
{
    int fds[2];
    char fdarg[16];
    bool x_pending = false;

    memset(lg, 0, sizeof(*lg));
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    /* the child inherits the write end, and only the child */
    assert_int_equal(fcntl(fds[1], F_SETFD, 0), 0);
    snprintf(fdarg, sizeof(fdarg), "%d", fds[1]);
    pid_t pid = smt_spawn("adder", url, var, fdarg, NULL);
    close(fds[1]);

    read_marks(fds[0], lg, true, 10000, &x_pending);
    if (lg->ready) {
        if (cut != NULL) {
            sleep_ms(arm_ms);
            relay_arm(cut);
            sleep_ms(delay_ms - arm_ms);
        } else {
            sleep_ms(delay_ms);
        }
    }
    kill(pid, SIGKILL);
    pid_t r;
    do {
        r = waitpid(pid, &lg->status, 0);
    } while (r < 0 && errno == EINTR);
    if (cut != NULL)
        relay_disarm(cut);
    read_marks(fds[0], lg, false, 5000, &x_pending);
    close(fds[0]);
    assert_int_equal(r, pid);
}

static unsigned
kill_seed(void)
{
    const char *s = getenv("SMT_EO_SEED");
    return s != NULL && *s != '\0' ? (unsigned)strtoul(s, NULL, 10) : DEFAULT_SEED;
}

/* run_kill_rounds runs KILL_ROUNDS rounds of killed adders on one var and
 * checks, after each round and at the end, seen <= counter <= seen + the
 * calls in flight at the kills. With cut, adders go through the relay and
 * each round also cuts a reply at a random moment before the kill. */
static void
run_kill_rounds(eo_fixture *fx, bool cut)
{
    const char *url = cut ? fx->rl.url : fx->srv.url;
    unsigned seed = kill_seed();
    sm_var *v = NULL;
    sm_value zero = sm_value_int(0), cur = sm_value_nil();
    int64_t seen = 0, in_flight = 0, cut_rounds = 0, errors = 0, not_ready = 0;
    int64_t t0 = now_ms();
    char name[256];

    snprintf(name, sizeof(name), "%s", smt_name(cut ? "eo.killcut" : "eo.kill"));
    print_message("%d rounds, %s, seed %u (SMT_EO_SEED=N picks another)\n", KILL_ROUNDS,
                  cut ? "adders through the relay, one reply cut per round" : "adders direct",
                  seed);
    srand(seed);
    assert_sm_ok(sm_var_open(fx->direct, name, &zero, &v));

    for (int round = 1; round <= KILL_ROUNDS; round++) {
        round_log lg;
        int delay = 1 + rand() % KILL_MAX_MS;
        int arm = rand() % delay;
        int cuts0 = relay_cuts(&fx->rl);
        kill_round(url, name, delay, cut ? &fx->rl : NULL, arm, &lg);
        bool was_cut = relay_cuts(&fx->rl) > cuts0;

        seen += lg.seen;
        if (lg.in_flight || lg.error != 0)
            in_flight++; /* outcome unknown: may or may not have been applied */
        cut_rounds += was_cut;
        errors += lg.error != 0;
        not_ready += !lg.ready;

        char what[96];
        if (lg.error > 0)
            snprintf(what, sizeof(what), "call #%" PRId64 " FAILED with %s", lg.seen + 1,
                     sm_errname(lg.error));
        else if (lg.error < 0)
            snprintf(what, sizeof(what), "call #%" PRId64 " FAILED", lg.seen + 1);
        else if (lg.in_flight)
            snprintf(what, sizeof(what), "call #%" PRId64 " in flight", lg.seen + 1);
        else
            snprintf(what, sizeof(what), "none in flight");
        assert_sm_ok(sm_var_get(v, &cur));
        assert_int_equal(cur.type, SM_INT);
        print_message("round %3d: %2d ms%s%s, %4" PRId64 " seen, %s; counter %" PRId64
                      " (seen so far %" PRId64 ", in flight so far %" PRId64 ")%s\n",
                      round, delay, cut ? (was_cut ? ", cut" : ", no cut") : "",
                      WIFSIGNALED(lg.status) ? "" : ", NOT killed", lg.seen, what, cur.u.i,
                      seen, in_flight, lg.ready ? "" : " NEVER READY");
        /* a call that returned SM_OK was applied; at most the ones in flight
         * are added on top: true at any moment, not only at the end */
        if (cur.u.i < seen || cur.u.i > seen + in_flight)
            fail_msg("round %d: counter %" PRId64 " outside [%" PRId64 ", %" PRId64 "]", round,
                     cur.u.i, seen, seen + in_flight);
    }
    sleep_ms(300); /* a request of the last adder may still be in the server's hands */
    assert_sm_ok(sm_var_get(v, &cur));
    assert_int_equal(cur.type, SM_INT);
    print_message("final counter %" PRId64 " = %" PRId64 " seen + %" PRId64 " of %" PRId64
                  " calls in flight; %" PRId64 " rounds cut a reply; %" PRId64 " ms\n",
                  cur.u.i, seen, cur.u.i - seen, in_flight, cut_rounds, now_ms() - t0);
    if (errors != 0)
        fail_msg("%" PRId64 " adders got another status than SM_OK (the rounds above say which)",
                 errors);
    if (not_ready != 0)
        fail_msg("%" PRId64 " adders never got ready (see their stderr)", not_ready);
    assert_true(cur.u.i >= seen);
    assert_true(cur.u.i <= seen + in_flight);
    assert_true(cur.u.i <= seen + KILL_ROUNDS);
    assert_true(seen > 0);
    if (cut)
        assert_true(cut_rounds >= KILL_ROUNDS / 4);
    assert_sm_ok(sm_var_close(v));
}

static void
test_exactly_once_killed_adders_lose_no_seen_increment_and_add_at_most_one_each(void **state)
{
    run_kill_rounds(*state, false);
}

static void
test_exactly_once_killed_adders_with_cut_replies_lose_none_and_add_at_most_one_each(
    void **state)
{
    run_kill_rounds(*state, true);
}

/* ------------------------------------------------------------------ main */

#define EO_TEST(f) cmocka_unit_test_setup_teardown(f, eo_setup, eo_teardown)

const struct CMUnitTest tests[] = {
    EO_TEST(test_exactly_once_relay_forwards_calls_while_not_armed),
    EO_TEST(test_exactly_once_relay_passes_the_sp_header_while_armed),
    EO_TEST(test_exactly_once_dict_incr_whose_reply_is_cut_applies_once),
    EO_TEST(test_exactly_once_client_carries_on_over_its_own_dialer_while_nng_cannot_redial),
    EO_TEST(test_exactly_once_every_reply_cut_ten_times_in_a_row_applies_each_once),
    EO_TEST(test_exactly_once_reply_cut_on_five_connections_in_a_row_applies_once),
    EO_TEST(test_exactly_once_dict_incr_whose_request_is_cut_applies_once),
    EO_TEST(test_exactly_once_late_copy_of_an_answered_request_is_not_applied_again),
    EO_TEST(test_exactly_once_client_open_whose_reply_is_cut_still_opens),
    EO_TEST(test_exactly_once_list_append_whose_reply_is_cut_applies_once),
    EO_TEST(test_exactly_once_queue_put_whose_reply_is_cut_applies_once),
    EO_TEST(test_exactly_once_list_pop_whose_reply_is_cut_removes_one_item),
    EO_TEST(test_exactly_once_lock_acquire_and_release_whose_replies_are_cut_apply_once),
    EO_TEST(test_exactly_once_sem_acquire_and_release_whose_replies_are_cut_move_one_permit),
    EO_TEST(test_exactly_once_parked_queue_get_whose_reply_is_cut_takes_the_item_once),
    EO_TEST(test_exactly_once_parked_get_survives_a_cut_of_another_calls_reply),
    EO_TEST(test_exactly_once_parked_lock_acquire_whose_grant_is_cut_holds_the_lock_once),
    EO_TEST(test_exactly_once_threads_sharing_a_client_through_repeated_cuts_apply_each_call_once),
    EO_TEST(test_exactly_once_killed_adders_lose_no_seen_increment_and_add_at_most_one_each),
    EO_TEST(test_exactly_once_killed_adders_with_cut_replies_lose_none_and_add_at_most_one_each),
};

int
main(int argc, char **argv)
{
    static char tcp[] = "tcp";
    char *tcp_only[] = {argv[0], tcp, NULL};
    if (argc == 1) {
        argc = 2;
        argv = tcp_only;
    }
    return SMT_MAIN_CHILDREN("exactly_once", tests, children);
}
