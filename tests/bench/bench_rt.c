/* bench_rt.c - round-trip benchmark: syncmgr dict set/get beside a raw nng REQ/REP echo.
 *
 * One run measures, for each transport (ipc://, tcp://127.0.0.1) and each client count
 * (1 and 16 by default), three cells side by side:
 *
 *   echo      a raw nng 1.5.2 REQ/REP echo of a 48-byte payload (the 16-byte key plus the
 *             32-byte value), served by our own echo server: a REP socket with 16 contexts
 *             (syncmgrd's default --contexts), each an aio state machine (recv -> send the
 *             same message back -> recv). Each client is a REQ socket with resend disabled
 *             (NNG_OPT_REQ_RESENDTIME infinite) and one context + aio reused for every call
 *             (nng_ctx_send, wait, nng_ctx_recv, wait), the path libsyncmgr's calls take.
 *   dict.set  sm_dict_set(d, key, 32-byte string) against a real syncmgrd.
 *   dict.get  sm_dict_get(d, key, &v) of that value.
 *
 * Concurrency: N client threads in this one process, each doing one call at a time with its
 * own 16-byte key in one shared dict. Two ways to connect them (the `conn` column):
 *
 *   own       each thread has its own connection: its own sm_client (+ sm_dict), or its own REQ
 *             socket (+ one context) for the echo. N sockets, N pipes.
 *   shared    all N threads share ONE connection, opened before they start: one sm_client and
 *             one sm_dict (the client's context pool then holds up to N contexts, one per call
 *             in flight), or one REQ socket on which each thread opens its own context for the
 *             echo. N live REQ contexts on one socket, whose one dialer makes one pipe: nng's
 *             REQ sends one request at a time per pipe and every context takes the socket's
 *             lock. Run only for N > 1 (with one thread it is `own`).
 *
 * Threads, not processes: nng's task threads are per process, so 16 clients in one process
 * share one nng thread pool on the client side; both halves of the comparison are built the
 * same way, so the ratio is fair, but absolute figures differ from 16 separate processes.
 *
 * A cell (transport, client count, conn, op) runs until it has done --ops calls in total or
 * --seconds have passed, whichever comes first. It runs as --rounds slices (default 8),
 * interleaved with the other cells of its transport and client count (echo, set, get, then the
 * same shared, then again), so that load from elsewhere on a shared machine hits all of them
 * rather than skewing one ratio. In each slice every thread connects (or takes the shared
 * connection), then all warm up together (SMB_WARMUP calls each; together, so that a shared
 * client's pool grows to N contexts), and timing starts after a barrier.
 *
 * Reported per cell, over all its slices: ops/s (completed calls / timed wall time, each slice
 * timed from its first thread's start to its last thread's end), p50/p99 of per-call latency
 * (nearest rank), CPU per call of this process (all client threads, getrusage) and of the
 * server (/proc/PID/stat, 10 ms ticks), `vs echo`: the ratio of the cell's ops/s to the echo's
 * ops/s for the same transport, client count and conn (so dict.set/shared is compared with the
 * shared echo), and `vs own`: a shared cell's ops/s over its own-connection twin's. On a shared
 * machine the CPU per call is the steadier figure: ops/s and latency move with whatever else
 * runs.
 *
 * Servers: syncmgrd (SMB_SYNCMGRD) is fork/exec'd with --listen URL --ready-fd N --log-level
 * warn and reports its URL(s) then an empty line on fd N. The echo server is this same program
 * re-exec'd as `bench_rt --echo-server URL FD` (a fresh process: nng's threads do not survive a
 * bare fork of a process that has used nng already) and reports the same way. Both are stopped
 * with SIGTERM and reaped (SIGKILL after 5 s). Both die with this process (PR_SET_PDEATHSIG).
 *
 * A benchmark never passes or fails: it exits 0 once it printed its table, even when a cell
 * could not run (that row shows the reason); 2 on a usage error. */
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
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "syncmgr.h"

#ifndef SMB_SYNCMGRD
#error "SMB_SYNCMGRD must name the syncmgrd binary"
#endif

#define SMB_KEY_LEN           16
#define SMB_VAL_LEN           32
#define SMB_ECHO_LEN          (SMB_KEY_LEN + SMB_VAL_LEN)
#define SMB_ECHO_CTXS         16 /* as syncmgrd's default --contexts, so both serve alike */
#define SMB_WARMUP            20 /* untimed calls per thread before the clock starts */
#define SMB_MAX_CLIENTS       64
#define SMB_MAX_CLIENT_COUNTS 8
#define SMB_READY_FD          200 /* where a child finds its ready pipe; below any sane fd limit */
#define SMB_CALL_TIMEOUT_MS   10000
#define SMB_DICT_NAME         "bench_rt"

typedef enum smb_op { SMB_ECHO = 0, SMB_SET = 1, SMB_GET = 2 } smb_op;
static const char *const smb_op_names[] = {"echo", "dict.set", "dict.get"};
#define SMB_NOPS 3

/* How the client threads of a cell connect: one connection each, or all on one. */
typedef enum smb_conn_mode { SMB_OWN = 0, SMB_SHARED = 1 } smb_conn_mode;
static const char *const smb_conn_names[] = {"own", "shared"};
#define SMB_NMODES 2

/* ------------------------------------------------------------------ options */

typedef struct smb_opts {
    double seconds;   /* per cell time bound */
    uint64_t max_ops; /* per cell op bound, all threads together */
    bool do_ipc;
    bool do_tcp;
    int rounds;      /* slices per cell, interleaved across echo/set/get */
    bool do_own;     /* the one-connection-per-thread cells */
    bool do_shared;  /* the one-connection-for-all cells (client counts > 1 only) */
    const char *csv; /* NULL: no CSV */
    int clients[SMB_MAX_CLIENT_COUNTS];
    int nclients;
} smb_opts;

/* ------------------------------------------------------------------- timing */

static uint64_t
smb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of this whole process (every thread), in microseconds. */
static double
smb_self_cpu_us(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return NAN;
    return (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
}

/* CPU time (utime + stime, all threads) of process pid, in microseconds; NAN if unknown.
 * Resolution is one clock tick (10 ms on Debian kernels). */
static double
smb_proc_cpu_us(pid_t pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NAN;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Field 2 (comm) may hold spaces; fields are counted after its closing ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return NAN;
    unsigned long long ut = 0, st = 0;
    /* after ')': state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
     * utime(14) stime(15) */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return NAN;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    return (double)(ut + st) * 1e6 / (double)hz;
}

/* ------------------------------------------------------------ child servers */

typedef struct smb_server {
    pid_t pid;
    char url[512]; /* the first URL the server reported */
    char what[32]; /* "syncmgrd" or "echo" */
} smb_server;

/* smb_spawn fork/execs argv (argv[0] is the path) with a ready pipe on SMB_READY_FD and waits
 * up to 10 s for "URL\n...\n\n" on it. Between fork and exec the child makes only
 * async-signal-safe calls (the parent may have nng threads). Returns 0, or -1 with why in err
 * (then no child is left). */
static int
smb_spawn(smb_server *s, const char *what, char *const argv[], char *err, size_t errlen)
{
    int fds[2];
    memset(s, 0, sizeof(*s));
    snprintf(s->what, sizeof(s->what), "%s", what);
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "pipe2: %s", strerror(errno));
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (fds[1] == SMB_READY_FD) {
            fcntl(fds[1], F_SETFD, 0);
        } else if (dup2(fds[1], SMB_READY_FD) < 0) { /* dup2 clears FD_CLOEXEC */
            _exit(126);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);

    char buf[2048];
    size_t got = 0;
    uint64_t deadline = smb_now_ns() + 10ull * 1000000000u;
    bool ready = false;
    while (!ready) {
        uint64_t now = smb_now_ns();
        if (now >= deadline)
            break;
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int pr = poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        ssize_t r = read(fds[0], buf + got, sizeof(buf) - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        buf[got] = '\0';
        ready = strstr(buf, "\n\n") != NULL;
        if (got == sizeof(buf) - 1)
            break;
    }
    close(fds[0]);
    buf[got] = '\0';
    char *nl = strchr(buf, '\n');
    if (!ready || nl == NULL || nl == buf) {
        int st = 0;
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
            snprintf(err, errlen, "%s: could not exec %s", what, argv[0]);
        else
            snprintf(err, errlen, "%s did not report ready in 10 s (got \"%.60s\")", what, buf);
        return -1;
    }
    *nl = '\0';
    snprintf(s->url, sizeof(s->url), "%.500s", buf);
    s->pid = pid;
    return 0;
}

/* smb_stop sends SIGTERM and reaps the child, SIGKILL after 5 s. Prints a line if the child
 * had to be killed or ended badly. */
static void
smb_stop(smb_server *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    int st = 0;
    pid_t r = 0;
    for (int waited = 0; waited < 5000; waited += 5) {
        r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid || (r < 0 && errno != EINTR))
            break;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL); /* waiting for a process to exit: nothing to block on */
    }
    if (r != s->pid) {
        fprintf(stderr, "bench_rt: %s (pid %ld) ignored SIGTERM for 5 s; killing it\n", s->what,
                (long)s->pid);
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
    } else if (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0)) {
        fprintf(stderr, "bench_rt: %s (pid %ld) ended with status 0x%x after SIGTERM\n", s->what,
                (long)s->pid, st);
    }
    s->pid = 0;
}

static int
smb_start_syncmgrd(smb_server *s, const char *listen_url, char *err, size_t errlen)
{
    char fdstr[16];
    snprintf(fdstr, sizeof(fdstr), "%d", SMB_READY_FD);
    char *argv[] = {(char *)SMB_SYNCMGRD,
                    (char *)"--listen",
                    (char *)listen_url,
                    (char *)"--ready-fd",
                    fdstr,
                    (char *)"--log-level",
                    (char *)"warn",
                    NULL};
    return smb_spawn(s, "syncmgrd", argv, err, errlen);
}

static int
smb_start_echo(smb_server *s, const char *listen_url, char *err, size_t errlen)
{
    char self[4096], fdstr[16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        snprintf(err, errlen, "readlink /proc/self/exe: %s", strerror(errno));
        return -1;
    }
    self[n] = '\0';
    snprintf(fdstr, sizeof(fdstr), "%d", SMB_READY_FD);
    char *argv[] = {self, (char *)"--echo-server", (char *)listen_url, fdstr, NULL};
    return smb_spawn(s, "echo server", argv, err, errlen);
}

/* -------------------------------------------------------------- echo server */

typedef struct smb_echo_ctx {
    nng_ctx ctx;
    nng_aio *aio;
    bool sending;
} smb_echo_ctx;

static smb_echo_ctx smb_echo_ctxs[SMB_ECHO_CTXS];

/* One context's state machine: a received request goes straight back as the reply; a finished
 * (or failed) send posts the next receive. Runs on nng's task threads; never blocks. */
static void
smb_echo_cb(void *arg)
{
    smb_echo_ctx *e = arg;
    int rv = nng_aio_result(e->aio);
    if (!e->sending) {
        if (rv == NNG_ECLOSED)
            return;
        if (rv != 0) {
            nng_ctx_recv(e->ctx, e->aio);
            return;
        }
        nng_msg *m = nng_aio_get_msg(e->aio);
        nng_aio_set_msg(e->aio, m);
        e->sending = true;
        nng_ctx_send(e->ctx, e->aio);
        return;
    }
    if (rv != 0)
        nng_msg_free(nng_aio_get_msg(e->aio)); /* a failed send leaves the message ours */
    if (rv == NNG_ECLOSED)
        return;
    e->sending = false;
    nng_ctx_recv(e->ctx, e->aio);
}

/* The echo server process: `bench_rt --echo-server URL FD`. Listens on URL, reports the real
 * URL (tcp port resolved) and an empty line on FD, then serves until SIGTERM or SIGINT and
 * leaves with _exit(0) without nng_close (nng 1.5.2's close can hang while clients send;
 * NNG-NOTES item 7). */
static int
smb_echo_main(const char *url, const char *fdstr)
{
    int fd = atoi(fdstr);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before nng starts threads: they inherit it */

    nng_socket sock;
    nng_listener l;
    int rv = nng_rep0_open(&sock);
    if (rv == 0)
        rv = nng_listener_create(&l, sock, url);
    if (rv == 0)
        rv = nng_listener_start(l, 0);
    if (rv != 0) {
        fprintf(stderr, "echo server: listen %s: %s\n", url, nng_strerror(rv));
        return 1;
    }
    for (int i = 0; i < SMB_ECHO_CTXS; i++) {
        smb_echo_ctx *e = &smb_echo_ctxs[i];
        rv = nng_ctx_open(&e->ctx, sock);
        if (rv == 0)
            rv = nng_aio_alloc(&e->aio, smb_echo_cb, e);
        if (rv != 0) {
            fprintf(stderr, "echo server: context %d: %s\n", i, nng_strerror(rv));
            return 1;
        }
        nng_ctx_recv(e->ctx, e->aio);
    }

    char line[600];
    if (strncmp(url, "tcp://", 6) == 0) {
        nng_sockaddr sa;
        rv = nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa);
        if (rv != 0 || sa.s_family != NNG_AF_INET) {
            fprintf(stderr, "echo server: local address: %s\n", nng_strerror(rv));
            return 1;
        }
        char host[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &sa.s_in.sa_addr, host, sizeof(host));
        snprintf(line, sizeof(line), "tcp://%s:%u\n\n", host, (unsigned)ntohs(sa.s_in.sa_port));
    } else {
        snprintf(line, sizeof(line), "%s\n\n", url);
    }
    size_t len = strlen(line);
    if (write(fd, line, len) != (ssize_t)len)
        return 1;
    close(fd);

    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    _exit(0);
}

/* ------------------------------------------------------------------ clients */

/* One client's connection: a REQ socket for the echo, an sm_client + dict proxy for syncmgr.
 * In a shared cell a thread's smb_conn borrows the slice's socket or client (borrowed) and, for
 * the echo, still opens its own context and aio on that socket. */
typedef struct smb_conn {
    nng_socket sock;
    bool sock_open; /* sock was opened here: ours to close */
    nng_ctx ctx;    /* the echo's one REQ context, reused for every call */
    bool ctx_open;
    nng_aio *aio; /* and its aio: the same path libsyncmgr's proxy takes */
    sm_client *cli;
    sm_dict *dict;
    bool borrowed; /* cli and dict belong to the slice (shared cell): not ours to close */
} smb_conn;

typedef struct smb_cell {
    smb_op op;
    const char *url;
    int nthreads;
    double seconds;
    uint64_t max_ops;
    pid_t server_pid;
    const smb_conn *shared; /* a shared cell's one connection; NULL: one per thread */

    pthread_barrier_t opened;  /* everyone connected: the warm-up starts, all at once */
    pthread_barrier_t ready;   /* everyone warm: the clock starts */
    pthread_barrier_t done;    /* everyone finished: teardown may begin */
    atomic_uint_fast64_t next; /* next op slot to claim */
    atomic_uint_fast64_t errors;
    uint64_t *lat_ns; /* [max_ops]; UINT64_MAX marks a failed call */

    pthread_mutex_t mu; /* guards the fields below */
    char err[256];      /* the first failure, for the report */
    int setup_failures;
    uint64_t t_start; /* earliest thread start after the ready barrier */
    uint64_t t_end;   /* latest thread end */
    double cli_cpu0, cli_cpu1, srv_cpu0, srv_cpu1;
} smb_cell;

typedef struct smb_worker {
    smb_cell *cell;
    int id;
    pthread_t tid;
} smb_worker;

static void
smb_cell_fail(smb_cell *c, const char *fmt_what, int id, const char *why)
{
    pthread_mutex_lock(&c->mu);
    if (c->err[0] == '\0')
        snprintf(c->err, sizeof(c->err), "client %d: %.16s: %.200s", id, fmt_what, why);
    pthread_mutex_unlock(&c->mu);
}

static void
smb_sm_why(char *buf, size_t len, int rv)
{
    const char *d = sm_errdetail();
    snprintf(buf, len, "%s (%s)%s%s", sm_errname(rv), sm_strerror(rv), d[0] ? ": " : "", d);
}

/* One call. Returns 0, or -1 with why in buf. */
static int
smb_call(smb_conn *cn, smb_op op, const char *key, const char *val, char *why, size_t whylen)
{
    if (op == SMB_ECHO) {
        nng_msg *m = NULL;
        int rv = nng_msg_alloc(&m, 0);
        if (rv == 0)
            rv = nng_msg_append(m, key, SMB_KEY_LEN);
        if (rv == 0)
            rv = nng_msg_append(m, val, SMB_VAL_LEN);
        if (rv == 0) {
            nng_aio_set_msg(cn->aio, m);
            nng_ctx_send(cn->ctx, cn->aio);
            nng_aio_wait(cn->aio);
            rv = nng_aio_result(cn->aio);
            if (rv == 0)
                m = NULL; /* nng owns it now; on failure it is still ours */
        }
        if (rv == 0) {
            nng_ctx_recv(cn->ctx, cn->aio);
            nng_aio_wait(cn->aio);
            rv = nng_aio_result(cn->aio);
            if (rv == 0)
                m = nng_aio_get_msg(cn->aio);
        }
        if (rv != 0) {
            nng_msg_free(m);
            snprintf(why, whylen, "nng: %s", nng_strerror(rv));
            return -1;
        }
        size_t got = nng_msg_len(m);
        nng_msg_free(m);
        if (got != SMB_ECHO_LEN) {
            snprintf(why, whylen, "echo came back with %zu bytes, sent %d", got, SMB_ECHO_LEN);
            return -1;
        }
        return 0;
    }
    if (op == SMB_SET) {
        sm_value v = sm_value_str(val);
        int rv = sm_dict_set(cn->dict, key, &v);
        if (rv != SM_OK) {
            smb_sm_why(why, whylen, rv);
            return -1;
        }
        return 0;
    }
    sm_value out = sm_value_nil();
    int rv = sm_dict_get(cn->dict, key, &out);
    if (rv != SM_OK) {
        smb_sm_why(why, whylen, rv);
        return -1;
    }
    bool good = out.type == SM_STR && out.u.buf.len == SMB_VAL_LEN &&
                memcmp(out.u.buf.ptr, val, SMB_VAL_LEN) == 0;
    sm_value_clear(&out);
    if (!good) {
        snprintf(why, whylen, "dict.get returned another value than was set");
        return -1;
    }
    return 0;
}

/* Opens a REQ socket with resend disabled and dials url (blocking). Returns 0 or -1 with why in
 * buf; on -1 whatever was opened is still in cn for smb_conn_close. */
static int
smb_sock_open(smb_conn *cn, const char *url, char *why, size_t whylen)
{
    int rv = nng_req0_open(&cn->sock);
    if (rv != 0) {
        snprintf(why, whylen, "nng_req0_open: %s", nng_strerror(rv));
        return -1;
    }
    cn->sock_open = true;
    rv = nng_socket_set_ms(cn->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    if (rv == 0)
        rv = nng_dial(cn->sock, url, NULL, 0);
    if (rv != 0) {
        snprintf(why, whylen, "nng socket setup / dial %s: %s", url, nng_strerror(rv));
        return -1;
    }
    return 0;
}

/* Opens cn's own REQ context (resend disabled) and aio on cn->sock. As smb_sock_open. */
static int
smb_ctx_open(smb_conn *cn, char *why, size_t whylen)
{
    int rv = nng_ctx_open(&cn->ctx, cn->sock);
    if (rv == 0) {
        cn->ctx_open = true;
        rv = nng_ctx_set_ms(cn->ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
    }
    if (rv == 0)
        rv = nng_aio_alloc(&cn->aio, NULL, NULL);
    if (rv == 0)
        nng_aio_set_timeout(cn->aio, SMB_CALL_TIMEOUT_MS);
    if (rv != 0) {
        snprintf(why, whylen, "nng context setup: %s", nng_strerror(rv));
        return -1;
    }
    return 0;
}

/* Opens an sm_client on url and the benchmark's dict on it. As smb_sock_open. */
static int
smb_sm_open(smb_conn *cn, const char *url, char *why, size_t whylen)
{
    int rv = sm_client_open(&cn->cli, url, NULL);
    if (rv == SM_OK)
        rv = sm_dict_open(cn->cli, SMB_DICT_NAME, &cn->dict);
    if (rv != SM_OK) {
        char tmp[200];
        smb_sm_why(tmp, sizeof(tmp), rv);
        snprintf(why, whylen, "%s %.100s: %.120s", cn->cli ? "sm_dict_open" : "sm_client_open",
                 url, tmp);
        return -1;
    }
    return 0;
}

/* Opens a thread's connection: its own, or in a shared cell the slice's one (plus, for the
 * echo, a context of its own on that socket). As smb_sock_open. */
static int
smb_conn_open(smb_conn *cn, const smb_cell *c, char *why, size_t whylen)
{
    if (c->shared != NULL) {
        cn->sock = c->shared->sock;
        cn->cli = c->shared->cli;
        cn->dict = c->shared->dict;
        cn->borrowed = true;
        return c->op == SMB_ECHO ? smb_ctx_open(cn, why, whylen) : 0;
    }
    if (c->op == SMB_ECHO) {
        if (smb_sock_open(cn, c->url, why, whylen) != 0)
            return -1;
        return smb_ctx_open(cn, why, whylen);
    }
    return smb_sm_open(cn, c->url, why, whylen);
}

/* Warms the connection up (for dict.get that also stores the key). Returns 0 or -1 with why
 * in buf. */
static int
smb_conn_warm(smb_conn *cn, smb_op op, const char *key, const char *val, char *why,
              size_t whylen)
{
    for (int i = 0; i < SMB_WARMUP; i++) {
        if (op == SMB_GET && smb_call(cn, SMB_SET, key, val, why, whylen) != 0)
            return -1;
        if (smb_call(cn, op, key, val, why, whylen) != 0)
            return -1;
    }
    return 0;
}

static void
smb_conn_close(smb_conn *cn)
{
    if (cn->ctx_open)
        nng_ctx_close(cn->ctx);
    if (cn->aio != NULL)
        nng_aio_free(cn->aio);
    if (!cn->borrowed) {
        sm_dict_close(cn->dict);
        sm_client_close(cn->cli);
    }
    if (cn->sock_open)
        nng_close(cn->sock);
    memset(cn, 0, sizeof(*cn));
}

static void *
smb_worker_main(void *arg)
{
    smb_worker *w = arg;
    smb_cell *c = w->cell;
    smb_conn cn;
    char key[SMB_KEY_LEN + 1], val[SMB_VAL_LEN + 1], why[256];

    memset(&cn, 0, sizeof(cn));
    snprintf(key, sizeof(key), "bench-key-%06d", w->id); /* exactly 16 bytes */
    for (int i = 0; i < SMB_VAL_LEN; i++)
        val[i] = (char)('a' + (w->id + i) % 26);
    val[SMB_VAL_LEN] = '\0';

    bool ok = smb_conn_open(&cn, c, why, sizeof(why)) == 0;
    pthread_barrier_wait(&c->opened);
    if (ok)
        ok = smb_conn_warm(&cn, c->op, key, val, why, sizeof(why)) == 0;
    if (!ok) {
        smb_cell_fail(c, "setup", w->id, why);
        pthread_mutex_lock(&c->mu);
        c->setup_failures++;
        pthread_mutex_unlock(&c->mu);
    }

    if (pthread_barrier_wait(&c->ready) == PTHREAD_BARRIER_SERIAL_THREAD) {
        double cpu = smb_self_cpu_us(), scpu = smb_proc_cpu_us(c->server_pid);
        pthread_mutex_lock(&c->mu);
        c->cli_cpu0 = cpu;
        c->srv_cpu0 = scpu;
        pthread_mutex_unlock(&c->mu);
    }

    uint64_t t0 = smb_now_ns(), now = t0;
    uint64_t deadline = t0 + (uint64_t)(c->seconds * 1e9);
    while (ok && now < deadline) {
        uint64_t slot = atomic_fetch_add(&c->next, 1);
        if (slot >= c->max_ops)
            break;
        uint64_t a = smb_now_ns();
        int rv = smb_call(&cn, c->op, key, val, why, sizeof(why));
        now = smb_now_ns();
        if (rv != 0) {
            c->lat_ns[slot] = UINT64_MAX;
            atomic_fetch_add(&c->errors, 1);
            smb_cell_fail(c, smb_op_names[c->op], w->id, why);
            break; /* a failing connection would only spin; this client stops */
        }
        c->lat_ns[slot] = now - a;
    }
    now = smb_now_ns();
    pthread_mutex_lock(&c->mu);
    if (ok && (c->t_start == 0 || t0 < c->t_start))
        c->t_start = t0;
    if (ok && now > c->t_end)
        c->t_end = now;
    pthread_mutex_unlock(&c->mu);

    if (pthread_barrier_wait(&c->done) == PTHREAD_BARRIER_SERIAL_THREAD) {
        double cpu = smb_self_cpu_us(), scpu = smb_proc_cpu_us(c->server_pid);
        pthread_mutex_lock(&c->mu);
        c->cli_cpu1 = cpu;
        c->srv_cpu1 = scpu;
        pthread_mutex_unlock(&c->mu);
    }
    smb_conn_close(&cn);
    return NULL;
}

/* ------------------------------------------------------------------ results */

typedef struct smb_result {
    const char *transport;
    smb_op op;
    smb_conn_mode mode;
    int clients;
    bool ran;     /* false: n/a, see err */
    uint64_t ops; /* completed calls */
    uint64_t errors;
    double secs;
    double ops_s;
    double p50_us, p99_us;
    double cli_cpu_us, srv_cpu_us; /* per call; NAN if unknown */
    double ratio;  /* ops_s / echo ops_s (same transport, clients, mode); NAN for echo or n/a */
    double vs_own; /* shared: ops_s / the own cell's ops_s (same transport, clients, op) */
    char err[256];
} smb_result;

static int
smb_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static double
smb_pct_us(const uint64_t *v, size_t n, double p)
{
    if (n == 0)
        return NAN;
    size_t k = (size_t)ceil(p * (double)n);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return (double)v[k - 1] / 1000.0;
}

/* What the slices of one cell add up to. */
typedef struct smb_acc {
    uint64_t *lat; /* [cap] latencies of successful calls, ns */
    size_t n, cap;
    uint64_t errors;
    double secs;                   /* timed wall time, all slices */
    double cli_cpu_us, srv_cpu_us; /* CPU over the timed parts, all slices; NAN if unknown */
    char err[256];                 /* the first problem */
} smb_acc;

/* Runs one slice of a cell (nthreads clients, at most seconds and max_ops calls) and adds it
 * to acc. A shared slice opens its one connection here, before the threads start, and closes it
 * after they are gone. Problems land in acc->err and acc->errors; never fails as a whole. */
static void
smb_run_slice(smb_op op, smb_conn_mode mode, int nthreads, const char *url, pid_t server_pid,
              double seconds, uint64_t max_ops, smb_acc *acc)
{
    if (max_ops > acc->cap - acc->n)
        max_ops = acc->cap - acc->n;
    if (max_ops == 0)
        return;
    smb_cell *c = calloc(1, sizeof(*c));
    smb_worker *w = calloc((size_t)nthreads, sizeof(*w));
    if (c == NULL || w == NULL) {
        if (acc->err[0] == '\0')
            snprintf(acc->err, sizeof(acc->err), "out of memory");
        free(c);
        free(w);
        return;
    }
    smb_conn shared;
    memset(&shared, 0, sizeof(shared));
    if (mode == SMB_SHARED) {
        char why[256];
        int rv = op == SMB_ECHO ? smb_sock_open(&shared, url, why, sizeof(why))
                                : smb_sm_open(&shared, url, why, sizeof(why));
        if (rv != 0) {
            if (acc->err[0] == '\0')
                snprintf(acc->err, sizeof(acc->err), "shared connection: %.200s", why);
            acc->errors++;
            smb_conn_close(&shared);
            free(c);
            free(w);
            return;
        }
        c->shared = &shared;
    }
    uint64_t *lat = acc->lat + acc->n;
    c->op = op;
    c->url = url;
    c->nthreads = nthreads;
    c->seconds = seconds;
    c->max_ops = max_ops;
    c->server_pid = server_pid;
    c->lat_ns = lat;
    atomic_init(&c->next, 0);
    atomic_init(&c->errors, 0);
    pthread_mutex_init(&c->mu, NULL);
    pthread_barrier_init(&c->opened, NULL, (unsigned)nthreads);
    pthread_barrier_init(&c->ready, NULL, (unsigned)nthreads);
    pthread_barrier_init(&c->done, NULL, (unsigned)nthreads);

    for (int i = 0; i < nthreads; i++) {
        w[i].cell = c;
        w[i].id = i;
        if (pthread_create(&w[i].tid, NULL, smb_worker_main, &w[i]) != 0) {
            /* The barriers would never open; with <= 64 threads this does not happen. */
            fprintf(stderr, "bench_rt: pthread_create failed; giving up\n");
            exit(1);
        }
    }
    for (int i = 0; i < nthreads; i++)
        pthread_join(w[i].tid, NULL);
    smb_conn_close(&shared); /* a no-op unless shared */

    uint64_t claimed = atomic_load(&c->next);
    size_t n = (size_t)(claimed < max_ops ? claimed : max_ops);
    size_t good = 0;
    for (size_t i = 0; i < n; i++)
        if (lat[i] != UINT64_MAX)
            lat[good++] = lat[i];

    acc->errors += atomic_load(&c->errors) + (uint64_t)c->setup_failures;
    if (acc->err[0] == '\0' && c->err[0] != '\0')
        snprintf(acc->err, sizeof(acc->err), "%s", c->err);
    if (c->setup_failures < nthreads && c->t_end > c->t_start) {
        acc->n += good;
        acc->secs += (double)(c->t_end - c->t_start) / 1e9;
        acc->cli_cpu_us += c->cli_cpu1 - c->cli_cpu0;
        acc->srv_cpu_us += c->srv_cpu1 - c->srv_cpu0;
    }

    pthread_barrier_destroy(&c->opened);
    pthread_barrier_destroy(&c->ready);
    pthread_barrier_destroy(&c->done);
    pthread_mutex_destroy(&c->mu);
    free(w);
    free(c);
}

/* Turns an accumulated cell into a result row (sorts acc->lat). */
static void
smb_finish(smb_acc *acc, const char *transport, smb_op op, smb_conn_mode mode, int nthreads,
           smb_result *r)
{
    memset(r, 0, sizeof(*r));
    r->transport = transport;
    r->op = op;
    r->mode = mode;
    r->clients = nthreads;
    r->vs_own = r->ratio = r->p50_us = r->p99_us = r->cli_cpu_us = r->srv_cpu_us = NAN;
    r->errors = acc->errors;
    snprintf(r->err, sizeof(r->err), "%s", acc->err);
    if (acc->n == 0 || acc->secs <= 0) {
        if (r->err[0] == '\0')
            snprintf(r->err, sizeof(r->err), "no call completed");
        return;
    }
    qsort(acc->lat, acc->n, sizeof(*acc->lat), smb_cmp_u64);
    r->ran = true;
    r->ops = acc->n;
    r->secs = acc->secs;
    r->ops_s = (double)acc->n / acc->secs;
    r->p50_us = smb_pct_us(acc->lat, acc->n, 0.50);
    r->p99_us = smb_pct_us(acc->lat, acc->n, 0.99);
    r->cli_cpu_us = acc->cli_cpu_us / (double)acc->n;
    r->srv_cpu_us = acc->srv_cpu_us / (double)acc->n;
}

/* ------------------------------------------------------------------- output */

static void
smb_fmt_num(char *buf, size_t len, double v, const char *fmt_kind)
{
    if (isnan(v)) {
        snprintf(buf, len, "-");
        return;
    }
    if (strcmp(fmt_kind, "int") == 0)
        snprintf(buf, len, "%.0f", v);
    else if (strcmp(fmt_kind, "2") == 0)
        snprintf(buf, len, "%.2f", v);
    else
        snprintf(buf, len, "%.1f", v);
}

static void
smb_print_header(FILE *f)
{
    fprintf(f, "%-9s %7s %-6s %-8s %8s %6s %9s %8s %8s %8s %8s %7s %6s %6s\n", "transport",
            "clients", "conn", "op", "ops", "secs", "ops/s", "p50 us", "p99 us", "cpu cli",
            "cpu srv", "vs echo", "vs own", "errors");
    fprintf(f, "%-9s %7s %-6s %-8s %8s %6s %9s %8s %8s %8s %8s %7s %6s %6s\n", "", "", "", "", "",
            "", "", "", "", "us/op", "us/op", "", "", "");
}

static void
smb_print_row(FILE *f, const smb_result *r)
{
    if (!r->ran) {
        fprintf(f, "%-9s %7d %-6s %-8s  n/a: %s\n", r->transport, r->clients,
                smb_conn_names[r->mode], smb_op_names[r->op], r->err);
        return;
    }
    char ops_s[32], p50[32], p99[32], cc[32], sc[32], ratio[32], vs_own[32];
    smb_fmt_num(ops_s, sizeof(ops_s), r->ops_s, "int");
    smb_fmt_num(p50, sizeof(p50), r->p50_us, "1");
    smb_fmt_num(p99, sizeof(p99), r->p99_us, "1");
    smb_fmt_num(cc, sizeof(cc), r->cli_cpu_us, "1");
    smb_fmt_num(sc, sizeof(sc), r->srv_cpu_us, "1");
    smb_fmt_num(ratio, sizeof(ratio), r->ratio, "2");
    smb_fmt_num(vs_own, sizeof(vs_own), r->vs_own, "2");
    fprintf(f, "%-9s %7d %-6s %-8s %8" PRIu64 " %6.2f %9s %8s %8s %8s %8s %7s %6s %6" PRIu64 "\n",
            r->transport, r->clients, smb_conn_names[r->mode], smb_op_names[r->op], r->ops, r->secs,
            ops_s, p50, p99, cc, sc, ratio, vs_own, r->errors);
}

static int
smb_write_csv(const char *path, const smb_result *res, size_t n)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "bench_rt: %s: %s\n", path, strerror(errno));
        return -1;
    }
    fprintf(f, "transport,clients,conn,op,ops,errors,secs,ops_per_s,p50_us,p99_us,"
               "cli_cpu_us_per_op,srv_cpu_us_per_op,ratio_vs_echo,ratio_vs_own,note\n");
    for (size_t i = 0; i < n; i++) {
        const smb_result *r = &res[i];
        char note[256];
        size_t k = 0;
        for (const char *p = r->err; *p && k < sizeof(note) - 1; p++)
            note[k++] = (*p == ',' || *p == '"' || *p == '\n') ? ';' : *p;
        note[k] = '\0';
        fprintf(f,
                "%s,%d,%s,%s,%" PRIu64 ",%" PRIu64 ",%.3f,%.1f,%.2f,%.2f,%.2f,%.2f,%.4f,%.4f,%s\n",
                r->transport, r->clients, smb_conn_names[r->mode], smb_op_names[r->op], r->ops,
                r->errors, r->secs, r->ops_s, r->p50_us, r->p99_us, r->cli_cpu_us, r->srv_cpu_us,
                r->ratio, r->vs_own, note);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "bench_rt: %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void
smb_print_machine(const char *when)
{
    double la[3] = {NAN, NAN, NAN};
    cpu_set_t cs;
    int affinity = -1;
    if (sched_getaffinity(0, sizeof(cs), &cs) == 0)
        affinity = CPU_COUNT(&cs);
    if (getloadavg(la, 3) < 3)
        la[0] = la[1] = la[2] = NAN;
    printf("%s: cores online %ld (usable by this process %d), load average 1m %.2f "
           "(5m %.2f, 15m %.2f)\n",
           when, sysconf(_SC_NPROCESSORS_ONLN), affinity, la[0], la[1], la[2]);
}

/* ------------------------------------------------------------------ driving */

static void
smb_usage(FILE *f)
{
    fprintf(f,
            "usage: bench_rt [--seconds S] [--ops N] [--only ipc|tcp] [--clients LIST]\n"
            "                [--conn own|shared|both] [--rounds R] [--csv FILE]\n"
            "  --seconds S     time bound per cell (default 2)\n"
            "  --ops N         op bound per cell, all clients together (default 200000)\n"
            "  --rounds R      run each cell as R slices, interleaved with the other cells\n"
            "                  of its transport and client count (default 8)\n"
            "  --only T        run only transport T (ipc or tcp)\n"
            "  --clients LIST  comma-separated client counts (default 1,16; each 1..%d)\n"
            "  --conn C        own: one connection per client thread; shared: all client\n"
            "                  threads on one sm_client / one REQ socket (counts > 1 only);\n"
            "                  both (default)\n"
            "  --csv FILE      also write the results as CSV\n",
            SMB_MAX_CLIENTS);
}

static int
smb_parse(int argc, char **argv, smb_opts *o)
{
    o->seconds = 2.0;
    o->max_ops = 200000;
    o->do_ipc = o->do_tcp = true;
    o->rounds = 8;
    o->do_own = o->do_shared = true;
    o->csv = NULL;
    o->clients[0] = 1;
    o->clients[1] = 16;
    o->nclients = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            smb_usage(stdout);
            exit(0);
        }
        if (v == NULL) {
            fprintf(stderr, "bench_rt: %s: unknown option or missing value\n", a);
            return -1;
        }
        i++;
        if (strcmp(a, "--seconds") == 0) {
            o->seconds = strtod(v, &end);
            if (*end != '\0' || !(o->seconds > 0 && o->seconds <= 600)) {
                fprintf(stderr, "bench_rt: --seconds wants a number in (0, 600]\n");
                return -1;
            }
        } else if (strcmp(a, "--ops") == 0) {
            unsigned long long n = strtoull(v, &end, 10);
            if (*end != '\0' || n < 1 || n > 100000000ull) {
                fprintf(stderr, "bench_rt: --ops wants 1..100000000\n");
                return -1;
            }
            o->max_ops = n;
        } else if (strcmp(a, "--only") == 0) {
            if (strcmp(v, "ipc") != 0 && strcmp(v, "tcp") != 0) {
                fprintf(stderr, "bench_rt: --only wants ipc or tcp\n");
                return -1;
            }
            o->do_ipc = strcmp(v, "ipc") == 0;
            o->do_tcp = !o->do_ipc;
        } else if (strcmp(a, "--clients") == 0) {
            o->nclients = 0;
            const char *p = v;
            while (*p) {
                long n = strtol(p, &end, 10);
                if (end == p || n < 1 || n > SMB_MAX_CLIENTS ||
                    o->nclients == SMB_MAX_CLIENT_COUNTS || (*end != ',' && *end != '\0')) {
                    fprintf(stderr, "bench_rt: --clients wants up to %d counts, each 1..%d\n",
                            SMB_MAX_CLIENT_COUNTS, SMB_MAX_CLIENTS);
                    return -1;
                }
                o->clients[o->nclients++] = (int)n;
                p = *end == ',' ? end + 1 : end;
            }
            if (o->nclients == 0) {
                fprintf(stderr, "bench_rt: --clients is empty\n");
                return -1;
            }
        } else if (strcmp(a, "--rounds") == 0) {
            long n = strtol(v, &end, 10);
            if (*end != '\0' || n < 1 || n > 50) {
                fprintf(stderr, "bench_rt: --rounds wants 1..50\n");
                return -1;
            }
            o->rounds = (int)n;
        } else if (strcmp(a, "--conn") == 0) {
            if (strcmp(v, "own") != 0 && strcmp(v, "shared") != 0 && strcmp(v, "both") != 0) {
                fprintf(stderr, "bench_rt: --conn wants own, shared or both\n");
                return -1;
            }
            o->do_own = strcmp(v, "shared") != 0;
            o->do_shared = strcmp(v, "own") != 0;
        } else if (strcmp(a, "--csv") == 0) {
            o->csv = v;
        } else {
            fprintf(stderr, "bench_rt: unknown option %s\n", a);
            return -1;
        }
    }
    return 0;
}

/* Runs every cell of one transport; appends to res[*nres]. */
static void
smb_run_transport(const smb_opts *o, const char *transport, const char *dir, smb_result *res,
                  size_t *nres)
{
    char echo_listen[512], sm_listen[512], err_echo[300] = "", err_sm[300] = "";
    if (strcmp(transport, "tcp") == 0) {
        snprintf(echo_listen, sizeof(echo_listen), "tcp://127.0.0.1:0");
        snprintf(sm_listen, sizeof(sm_listen), "tcp://127.0.0.1:0");
    } else {
        snprintf(echo_listen, sizeof(echo_listen), "ipc://%s/echo.sock", dir);
        snprintf(sm_listen, sizeof(sm_listen), "ipc://%s/syncmgrd.sock", dir);
    }
    smb_server echo, sm;
    bool echo_up = smb_start_echo(&echo, echo_listen, err_echo, sizeof(err_echo)) == 0;
    bool sm_up = smb_start_syncmgrd(&sm, sm_listen, err_sm, sizeof(err_sm)) == 0;
    printf("%s: echo server %s, syncmgrd %s\n\n", transport, echo_up ? echo.url : err_echo,
           sm_up ? sm.url : err_sm);
    smb_print_header(stdout);
    fflush(stdout);

    /* The cells of one client count run interleaved, in o->rounds slices each (echo, set, get,
     * echo/shared, set/shared, get/shared, echo, ...), so a burst of load from elsewhere on
     * this shared machine lands on all of them instead of skewing one ratio. */
    for (int k = 0; k < o->nclients; k++) {
        int nc = o->clients[k];
        bool on[SMB_NMODES] = {o->do_own, o->do_shared && nc > 1};
        bool up[SMB_NOPS] = {echo_up, sm_up, sm_up};
        smb_acc acc[SMB_NMODES][SMB_NOPS];
        memset(acc, 0, sizeof(acc));
        for (int m = 0; m < SMB_NMODES; m++) {
            for (int op = 0; op < SMB_NOPS && on[m]; op++) {
                smb_acc *a = &acc[m][op];
                a->cap = (size_t)o->max_ops;
                a->lat = malloc(a->cap * sizeof(*a->lat));
                if (a->lat == NULL) {
                    fprintf(stderr, "bench_rt: out of memory for %" PRIu64 " latencies\n",
                            o->max_ops);
                    exit(1);
                }
                if (!up[op])
                    snprintf(a->err, sizeof(a->err), "%.250s", op == SMB_ECHO ? err_echo : err_sm);
            }
        }
        double slice_s = o->seconds / o->rounds;
        uint64_t slice_ops = (o->max_ops + (uint64_t)o->rounds - 1) / (uint64_t)o->rounds;
        for (int round = 0; round < o->rounds; round++) {
            for (int m = 0; m < SMB_NMODES; m++) {
                for (int op = 0; op < SMB_NOPS && on[m]; op++) {
                    if (!up[op])
                        continue;
                    const smb_server *s = op == SMB_ECHO ? &echo : &sm;
                    smb_run_slice((smb_op)op, (smb_conn_mode)m, nc, s->url, s->pid, slice_s,
                                  slice_ops, &acc[m][op]);
                }
            }
        }
        const smb_result *own_r = NULL; /* this count's own cells, for vs own */
        for (int m = 0; m < SMB_NMODES; m++) {
            if (!on[m])
                continue;
            smb_result *echo_r = &res[*nres];
            if (m == SMB_OWN)
                own_r = echo_r;
            for (int op = 0; op < SMB_NOPS; op++) {
                smb_result *r = &res[(*nres)++];
                smb_finish(&acc[m][op], transport, (smb_op)op, (smb_conn_mode)m, nc, r);
                free(acc[m][op].lat);
                if (op != SMB_ECHO && r->ran && echo_r->ran && echo_r->ops_s > 0)
                    r->ratio = r->ops_s / echo_r->ops_s;
                if (m == SMB_SHARED && r->ran && own_r != NULL && own_r[op].ran &&
                    own_r[op].ops_s > 0)
                    r->vs_own = r->ops_s / own_r[op].ops_s;
                smb_print_row(stdout, r);
                if (r->ran && r->err[0] != '\0')
                    printf("          (first error: %s)\n", r->err);
            }
        }
        fflush(stdout);
    }
    printf("\n");
    if (echo_up)
        smb_stop(&echo);
    if (sm_up)
        smb_stop(&sm);
}

int
main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--echo-server") == 0)
        return smb_echo_main(argv[2], argv[3]);

    smb_opts o;
    if (smb_parse(argc, argv, &o) != 0) {
        smb_usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    printf("bench_rt: syncmgr dict set/get vs raw nng REQ/REP echo (nng %s)\n", nng_version());
    printf("command:");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n");
    smb_print_machine("start");
    printf("key %d B, value %d B, echo payload %d B; each cell: %" PRIu64
           " ops or %.1f s, whichever first,\n  run as %d interleaved slices "
           "(echo, set, get, echo, ...); %d untimed warm-up calls per client per slice\n",
           SMB_KEY_LEN, SMB_VAL_LEN, SMB_ECHO_LEN, o.max_ops, o.seconds, o.rounds, SMB_WARMUP);
    printf("clients: threads of this process, one call in flight each; conn own = one connection "
           "per thread\n  (own sm_client / own REQ socket), conn shared = all threads on ONE "
           "sm_client / ONE REQ socket\n  (one context per call in flight: N live contexts, one "
           "pipe; only for N > 1)\n");
    printf("noise: figures move with whatever else runs on this machine (load average above and "
           "below);\n  compare ratios and CPU per call rather than absolute ops/s, and rerun to "
           "see the spread\n");
    printf("syncmgrd: %s\n\n", SMB_SYNCMGRD);
    fflush(stdout);

    char dir[] = "/tmp/bench_rt.XXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("bench_rt: mkdtemp");
        return 1;
    }

    smb_result res[2 * SMB_MAX_CLIENT_COUNTS * SMB_NMODES * SMB_NOPS];
    size_t nres = 0;
    if (o.do_ipc)
        smb_run_transport(&o, "ipc", dir, res, &nres);
    if (o.do_tcp)
        smb_run_transport(&o, "tcp", dir, res, &nres);

    char path[sizeof(dir) + 32];
    snprintf(path, sizeof(path), "%s/echo.sock", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/syncmgrd.sock", dir);
    unlink(path);
    rmdir(dir);

    smb_print_machine("end");
    printf("\nResults (ops/s = completed calls / wall time; p50/p99 per call; cpu = CPU time per "
           "call of the client\nprocess / the server; vs echo = ops/s over the echo's ops/s with "
           "the same conn; vs own = a shared\ncell's ops/s over the same op's with own "
           "connections; noisy: see the load averages)\n\n");
    smb_print_header(stdout);
    for (size_t i = 0; i < nres; i++)
        smb_print_row(stdout, &res[i]);
    fflush(stdout);
    if (o.csv != NULL && smb_write_csv(o.csv, res, nres) == 0)
        printf("\nCSV written to %s\n", o.csv);
    return 0;
}
