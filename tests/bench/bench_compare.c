/* bench_compare.c - syncmgr beside a raw nng echo and Redis, op by op, at one client count.
 *
 * tests/bench/compare.sh runs this once per client count, runs tests/bench/compare_py.py
 * (Python's multiprocessing manager) beside it, and joins every row into one table of ratios.
 *
 * Peers, each its own server process:
 *   syncmgr  syncmgrd (SMB_SYNCMGRD), started here, on ipc:// and on tcp://127.0.0.1.
 *   nng      a raw nng 1.5.2 REQ/REP echo of a 32-byte payload (the 16-byte key plus the
 *            16-byte value a syncmgr op carries; syncmgr's own request adds its protobuf
 *            header), served by this program re-exec'd as `bench_compare --echo-server URL FD`:
 *            a REP socket with 16 contexts (syncmgrd's default --contexts), each an aio state
 *            machine. Each client is a REQ socket with resend off and one context + aio reused
 *            for every call, the path libsyncmgr takes. ipc:// and tcp://127.0.0.1.
 *   redis    a redis-server the caller started (--redis-unix PATH, --redis-tcp HOST:PORT),
 *            driven through hiredis: one blocking redisContext per client, one command at a
 *            time (no pipelining, as syncmgr's proxies make one call at a time).
 *
 * Ops. One op is the unit in the table; rt is the round trips it needs:
 *   op            syncmgr                          redis                            rt
 *   echo          -                                - (nng only: one round trip)      1
 *   dict.set      sm_dict_set(d, key, 16 bytes)    HSET h key val                    1
 *   dict.get      sm_dict_get(d, key)              HGET h key                        1
 *   list.append   sm_list_append(l, 16 bytes)      RPUSH l val                       1
 *   list.pop      sm_list_pop(l, -1)               RPOP l                            1
 *   counter.incr  sm_dict_incr(d, ctr, 1)          HINCRBY h ctr 1                   1
 *   lock          sm_lock_acquire + sm_lock_release SET k tok NX, sent again at once 2
 *                                                  until it succeeds, + DEL          (+ retries)
 *   queue         sm_queue_put + sm_queue_get      LPUSH q val + BRPOP q             2
 *   batch16.set   16 sm_dict_set in one            16 HSET h key_i val, pipelined:   1/16
 *                 SM_BATCH_ATOMIC batch            redisAppendCommand x 16, then
 *                                                  redisGetReply x 16
 *   batch256.set  as batch16.set with 256 sets     256 HSET pipelined                1/256
 *   pipe.set      --pipe N sm_dict_set in one      - (compare.sh holds it against    1/N
 *                 SM_BATCH_PIPELINE batch; only    Redis's dict.set at 16 clients)
 *                 with --clients 1
 * Every client has its own key for dict.set/get, and its own 16 or N keys for the batches;
 * the sets of every op go to one dict (hash) shared by all clients. The counter, the list,
 * the lock and the queue are one object shared by every client of a cell (contended, as
 * such objects are used), fresh for each cell. list.pop's list is filled before the clock
 * starts with more items than the cell can pop. The batches' ops are the sets: a round trip
 * of batch16.set counts 16 ops, and its Redis peer's too (Redis applies a pipeline's
 * commands one by one, with other clients' commands between them; syncmgr's atomic batch is
 * applied whole or not at all).
 *
 * Checks that cost no round trip: the counter is read back after each cell and must equal the
 * increments done (warm-up included); lock holders mark a flag in shared memory, so two
 * holders at once would be counted as an overlap. Both show in the row's note.
 *
 * Clients are processes, forked for each cell by this process, which itself never calls nng
 * (nng 1.5.2 aborts in a child forked after its parent used it). Each client opens its own
 * connection, client 0 prepares the cell's objects, all warm up (SMB_WARMUP calls each), and
 * the clock starts when the last one is warm. A cell runs --seconds or --max-ops ops in all,
 * whichever comes first, as --rounds slices interleaved with the other cells. Latencies go
 * into shared memory; ops/s is completed ops over the timed wall time (first client's start
 * to last client's end), p50/p99 are nearest-rank percentiles of per-call latency: per op,
 * and for the batches per round trip (begin, record, exec; the wait its caller sees for all
 * its 16 or N sets), not divided by the sets in it.
 *
 * With --mem N it measures memory instead: N entries (16-byte keys, 16-byte values) inserted
 * into one dict of a fresh syncmgrd (sm_dict_update, 1,000 pairs a call) against its VmRSS
 * growth (/proc/PID/status), and the same N HSETs (pipelined, 1,000 pairs a command) into
 * one hash of the given Redis against INFO memory's used_memory growth and its VmRSS growth.
 *
 * Output: progress lines on stdout, and with --tsv FILE rows appended to FILE:
 *   cell PEER TRANSPORT OP CLIENTS OPS SECONDS OPS_PER_S P50_US P99_US ERRORS RT NOTE
 *   mem  PEER MEASURE ENTRIES BYTES_BEFORE BYTES_AFTER NOTE
 * (tab-separated; RT is round trips per op, 1/16 or 1/N for the batches, and ERRORS counts
 * failed calls). A benchmark never passes or fails: exit 0 once the rows are written, even
 * when a cell could not run (its row says why); 1 if nothing could be set up; 2 on a usage
 * error. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "syncmgr.h"

#ifndef SMB_SYNCMGRD
#error "SMB_SYNCMGRD must name the syncmgrd binary"
#endif

#define SMB_KEY_LEN         16
#define SMB_VAL_LEN         16
#define SMB_ECHO_LEN        (SMB_KEY_LEN + SMB_VAL_LEN)
#define SMB_ECHO_CTXS       16 /* as syncmgrd's default --contexts, so both serve alike */
#define SMB_WARMUP          20 /* untimed ops per client before the clock starts */
#define SMB_MAX_CLIENTS     64
#define SMB_READY_FD        200 /* where a child server finds its ready pipe */
#define SMB_CALL_TIMEOUT_MS 10000
#define SMB_WAIT_MS         10000 /* lock and queue waits, in the server */
#define SMB_BATCH           1000  /* pairs or items per filling call */
#define SMB_SETUP_S         60    /* longest a cell's clients may take to connect and warm up */
#define SMB_BATCH16         16    /* sets per round trip of batch16.set */
#define SMB_BATCH256        256   /* sets per round trip of batch256.set */
#define SMB_PIPE_DEFAULT    128   /* sets per round trip of pipe.set unless --pipe says */

typedef enum smb_peer { SMB_SYNCMGR = 0, SMB_NNG = 1, SMB_REDIS = 2 } smb_peer;
static const char *const smb_peer_names[] = {"syncmgr", "nng", "redis"};

typedef enum smb_op {
    SMB_ECHO = 0,
    SMB_SET,
    SMB_GET,
    SMB_APPEND,
    SMB_POP,
    SMB_INCR,
    SMB_LOCK,
    SMB_QUEUE,
    SMB_BATCH_SET,
    SMB_PIPE_SET,
    SMB_BATCH256_SET,
    SMB_NOPS
} smb_op;
static const char *const smb_op_names[] = {
    "echo",         "dict.set", "dict.get", "list.append", "list.pop",
    "counter.incr", "lock",     "queue",    "batch16.set", "pipe.set", "batch256.set"};
/* Round trips per call; a batch's call is one round trip for many ops (smb_per). */
static const int smb_op_rt[] = {1, 1, 1, 1, 1, 1, 2, 2, 1, 1, 1};

/* ------------------------------------------------------------------ options */

typedef struct smb_opts {
    int clients;
    double seconds;   /* per cell, all rounds together */
    int rounds;       /* slices per cell */
    uint64_t max_ops; /* per cell, all rounds together */
    int pipe;         /* sets per round trip of pipe.set */
    const char *redis_unix;
    char redis_host[256];
    int redis_port; /* 0: no Redis over tcp */
    bool op_on[SMB_NOPS];
    bool peer_on[3];
    const char *tsv;
    long mem_entries; /* > 0: the memory phase instead of the cells */
} smb_opts;

/* ------------------------------------------------------------------- timing */

static uint64_t
smb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps us microseconds: used only while polling a child or a flag in shared memory. */
static void
smb_nap_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ child servers */

typedef struct smb_server {
    pid_t pid;
    char url[512]; /* the first URL the server reported */
    char what[32];
} smb_server;

/* smb_spawn fork/execs argv (argv[0] is the path) with a ready pipe on SMB_READY_FD and waits
 * up to 10 s for "URL\n...\n\n" on it. Returns 0, or -1 with why in err (then no child is
 * left). */
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
    fflush(NULL);
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
        if (fds[1] == SMB_READY_FD)
            fcntl(fds[1], F_SETFD, 0);
        else if (dup2(fds[1], SMB_READY_FD) < 0) /* dup2 clears FD_CLOEXEC */
            _exit(126);
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

/* smb_stop sends SIGTERM and reaps the child, SIGKILL after 5 s. */
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
        smb_nap_us(5000);
    }
    if (r != s->pid) {
        fprintf(stderr, "bench_compare: %s (pid %ld) ignored SIGTERM for 5 s; killing it\n",
                s->what, (long)s->pid);
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
    }
    s->pid = 0;
}

static int
smb_start_syncmgrd(smb_server *s, const char *listen_url, char *err, size_t errlen)
{
    char fdstr[16];
    snprintf(fdstr, sizeof(fdstr), "%d", SMB_READY_FD);
    char *argv[] = {(char *)SMB_SYNCMGRD, (char *)"--listen", (char *)listen_url,
                    (char *)"--ready-fd", fdstr, (char *)"--log-level", (char *)"warn", NULL};
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

/* smb_vmrss reads VmRSS of pid in bytes; -1 if unknown. */
static long long
smb_vmrss(pid_t pid)
{
    char path[64], line[256];
    long long kb = -1;
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %lld kB", &kb) == 1)
            break;
    }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
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
        nng_aio_set_msg(e->aio, nng_aio_get_msg(e->aio));
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

/* The echo server process: listens on url, reports the real URL (tcp port resolved) and an
 * empty line on fd, serves until SIGTERM or SIGINT, then leaves with _exit(0) without
 * nng_close (nng 1.5.2's close can hang while clients send). */
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

/* ----------------------------------------------------------------- targets */

/* One server to measure: a peer on a transport. */
typedef struct smb_target {
    smb_peer peer;
    const char *transport; /* ipc, tcp, unix */
    char url[512];         /* nng URL; Redis: the socket path, or the host (port below) */
    int port;
    bool up;
    char err[300]; /* why it is not up */
} smb_target;

/* --------------------------------------------------- shared memory of a cell */

/* What a cell's client processes and this process share (one mapping, made before any fork
 * and reset for each slice). Only lock-free atomics and plain fields written before a flag. */
typedef struct smb_shared {
    atomic_int opened;   /* clients connected (or failed) */
    atomic_int prepared; /* 1: client 0 has filled the cell's objects (or failed) */
    atomic_int ready;    /* clients warm (or failed) */
    atomic_int go;       /* 1: the clock runs; -1: abort */
    atomic_int finished; /* clients past their timed loop */
    atomic_int failed;   /* clients whose setup failed */
    atomic_uint_fast64_t next;   /* next latency slot: one per call */
    atomic_uint_fast64_t errors; /* failed calls */
    atomic_uint_fast64_t incrs;  /* increments that succeeded, warm-up included */
    atomic_uint_fast64_t tries;  /* Redis lock: SET NX sent in the timed part */
    atomic_uint_fast64_t grants; /* Redis lock: SET NX that succeeded in the timed part */
    atomic_int holders;          /* lock probe: clients holding the lock now */
    atomic_uint_fast64_t overlaps;
    atomic_uint_fast64_t t_start; /* earliest client start of the timed loop */
    atomic_uint_fast64_t t_end;   /* latest client end */
    atomic_int err_taken;
    char err[256];       /* the first failure */
    atomic_int checked;  /* 1: check holds the counter read back by client 0 */
    int64_t check;
    uint64_t go_ns;      /* written before go is set */
    uint64_t lat[];      /* ns per call; UINT64_MAX marks a failed call */
} smb_shared;

/* A slice of a cell, as its clients see it. */
typedef struct smb_cell {
    const smb_target *t;
    smb_op op;
    int per; /* ops per call: 1, or the sets of one batch */
    int clients;
    double seconds;
    uint64_t max_calls; /* this slice's bound, all clients together */
    int id;             /* unique in this run: names the cell's objects */
    smb_shared *sh;
} smb_cell;

static void
smb_fail(smb_shared *sh, int client, const char *what, const char *why)
{
    int expected = 0;
    if (atomic_compare_exchange_strong(&sh->err_taken, &expected, 1))
        snprintf(sh->err, sizeof(sh->err), "client %d: %.24s: %.200s", client, what, why);
}

static void
smb_atomic_min(atomic_uint_fast64_t *a, uint64_t v)
{
    uint_fast64_t cur = atomic_load(a);
    while ((cur == 0 || v < cur) && !atomic_compare_exchange_weak(a, &cur, v)) {
    }
}

static void
smb_atomic_max(atomic_uint_fast64_t *a, uint64_t v)
{
    uint_fast64_t cur = atomic_load(a);
    while (v > cur && !atomic_compare_exchange_weak(a, &cur, v)) {
    }
}

/* Waits until *flag reaches want, or go turns -1, or the setup time passes. Returns true when
 * reached. */
static bool
smb_wait_count(smb_shared *sh, atomic_int *flag, int want)
{
    uint64_t deadline = smb_now_ns() + (uint64_t)SMB_SETUP_S * 1000000000u;
    while (atomic_load(flag) < want) {
        if (atomic_load(&sh->go) < 0 || smb_now_ns() > deadline)
            return false;
        smb_nap_us(1000); /* many clients may wait here: poll gently */
    }
    return true;
}

/* ------------------------------------------------------------------ clients */

/* One client's connection and the cell's object on it. */
typedef struct smb_conn {
    const smb_cell *c;
    char key[SMB_KEY_LEN + 1];
    char val[SMB_VAL_LEN + 1];
    char name[64]; /* the cell's object (Redis: its key) */
    char field[64]; /* the counter's key in the dict or hash */
    char (*bkeys)[SMB_KEY_LEN + 1]; /* the batches: c->per keys, one per set */
    /* syncmgr */
    sm_client *cli;
    sm_dict *dict;
    sm_list *list;
    sm_lock *lock;
    sm_queue *queue;
    /* nng echo */
    nng_socket sock;
    nng_ctx ctx;
    nng_aio *aio;
    /* redis */
    redisContext *rc;
    uint64_t incrs;
} smb_conn;

static void
smb_sm_why(char *why, size_t len, const char *what, int rv)
{
    const char *d = sm_errdetail();
    snprintf(why, len, "%s: %s%s%.120s", what, sm_errname(rv), d[0] ? ": " : "", d);
}

/* smb_redis_why describes a failed or unexpected Redis reply (r may be NULL). */
static void
smb_redis_why(char *why, size_t len, const smb_conn *cn, const char *what, const redisReply *r)
{
    if (r == NULL)
        snprintf(why, len, "%s: %s", what, cn->rc->errstr[0] ? cn->rc->errstr : "no reply");
    else if (r->type == REDIS_REPLY_ERROR)
        snprintf(why, len, "%s: %.150s", what, r->str);
    else
        snprintf(why, len, "%s: unexpected reply type %d", what, r->type);
}

/* Runs one Redis command (printf-style, hiredis' %s/%b) and checks the reply's type. Returns
 * the reply (caller frees) or NULL with why set. */
static redisReply *
smb_redis_cmd(smb_conn *cn, int want_type, const char *what, char *why, size_t len,
              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(cn->rc, fmt, ap);
    va_end(ap);
    if (r == NULL || r->type != want_type) {
        smb_redis_why(why, len, cn, what, r);
        if (r != NULL)
            freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* One echo round trip: 32 bytes out, the same back. */
static int
smb_echo_call(smb_conn *cn, char *why, size_t len)
{
    nng_msg *m = NULL;
    int rv = nng_msg_alloc(&m, 0);
    if (rv == 0)
        rv = nng_msg_append(m, cn->key, SMB_KEY_LEN);
    if (rv == 0)
        rv = nng_msg_append(m, cn->val, SMB_VAL_LEN);
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
        snprintf(why, len, "nng: %s", nng_strerror(rv));
        return -1;
    }
    size_t got = nng_msg_len(m);
    nng_msg_free(m);
    if (got != SMB_ECHO_LEN) {
        snprintf(why, len, "echo came back with %zu bytes, sent %d", got, SMB_ECHO_LEN);
        return -1;
    }
    return 0;
}

/* Lock probe: entering must find nobody inside. */
static void
smb_lock_enter(smb_shared *sh)
{
    if (atomic_fetch_add(&sh->holders, 1) != 0)
        atomic_fetch_add(&sh->overlaps, 1);
}

static void
smb_lock_leave(smb_shared *sh)
{
    atomic_fetch_sub(&sh->holders, 1);
}

/* One syncmgr batch: c->per sm_dict_set, one per key of cn->bkeys, recorded and sent in one
 * round trip. Returns an SM_ status, with why set unless SM_OK. */
static int
smb_sm_batch(smb_conn *cn, int mode, char *why, size_t len)
{
    sm_value v = sm_value_bytes(cn->val, SMB_VAL_LEN);
    sm_batch *b = NULL;
    int rv = sm_batch_begin(cn->cli, mode, &b);
    if (rv != SM_OK) {
        smb_sm_why(why, len, "sm_batch_begin", rv);
        return rv;
    }
    for (int i = 0; i < cn->c->per && rv == SM_OK; i++)
        rv = sm_dict_set(cn->dict, cn->bkeys[i], &v);
    if (rv != SM_OK) {
        smb_sm_why(why, len, "sm_dict_set (recording)", rv);
    } else {
        rv = sm_batch_exec(b);
        if (rv != SM_OK)
            smb_sm_why(why, len, "sm_batch_exec", rv);
    }
    sm_batch_free(b);
    return rv;
}

/* One syncmgr op. Returns 0, or -1 with why set. */
static int
smb_sm_call(smb_conn *cn, smb_op op, char *why, size_t len)
{
    sm_value v = sm_value_bytes(cn->val, SMB_VAL_LEN);
    sm_value out = sm_value_nil();
    int rv = SM_OK;
    switch (op) {
    case SMB_SET:
        rv = sm_dict_set(cn->dict, cn->key, &v);
        if (rv != SM_OK)
            smb_sm_why(why, len, "sm_dict_set", rv);
        break;
    case SMB_GET:
        rv = sm_dict_get(cn->dict, cn->key, &out);
        if (rv != SM_OK) {
            smb_sm_why(why, len, "sm_dict_get", rv);
        } else if (out.type != SM_BYTES || out.u.buf.len != SMB_VAL_LEN ||
                   memcmp(out.u.buf.ptr, cn->val, SMB_VAL_LEN) != 0) {
            snprintf(why, len, "sm_dict_get returned another value than was set");
            rv = SM_EINTERNAL;
        }
        break;
    case SMB_APPEND:
        rv = sm_list_append(cn->list, &v);
        if (rv != SM_OK)
            smb_sm_why(why, len, "sm_list_append", rv);
        break;
    case SMB_POP:
        rv = sm_list_pop(cn->list, -1, &out);
        if (rv != SM_OK)
            smb_sm_why(why, len, "sm_list_pop", rv);
        break;
    case SMB_INCR: {
        sm_value one = sm_value_int(1);
        rv = sm_dict_incr(cn->dict, cn->field, &one, NULL);
        if (rv != SM_OK)
            smb_sm_why(why, len, "sm_dict_incr", rv);
        else
            cn->incrs++;
        break;
    }
    case SMB_LOCK:
        rv = sm_lock_acquire(cn->lock, SMB_WAIT_MS);
        if (rv != SM_OK) {
            smb_sm_why(why, len, "sm_lock_acquire", rv);
            break;
        }
        smb_lock_enter(cn->c->sh);
        smb_lock_leave(cn->c->sh);
        rv = sm_lock_release(cn->lock);
        if (rv != SM_OK)
            smb_sm_why(why, len, "sm_lock_release", rv);
        break;
    case SMB_QUEUE:
        rv = sm_queue_put(cn->queue, &v, SMB_WAIT_MS);
        if (rv != SM_OK) {
            smb_sm_why(why, len, "sm_queue_put", rv);
            break;
        }
        rv = sm_queue_get(cn->queue, SMB_WAIT_MS, &out);
        if (rv != SM_OK)
            smb_sm_why(why, len, "sm_queue_get", rv);
        break;
    case SMB_BATCH_SET:
    case SMB_BATCH256_SET:
        rv = smb_sm_batch(cn, SM_BATCH_ATOMIC, why, len);
        break;
    case SMB_PIPE_SET:
        rv = smb_sm_batch(cn, SM_BATCH_PIPELINE, why, len);
        break;
    default:
        snprintf(why, len, "no such syncmgr op");
        rv = SM_EINVAL;
    }
    sm_value_clear(&out);
    return rv == SM_OK ? 0 : -1;
}

/* One Redis pipeline: c->per HSET, one per key of cn->bkeys, all written before the first
 * reply is read. Every reply is read, so the connection stays in step after an error reply.
 * Returns 0, or -1 with why set (the first failure). */
static int
smb_redis_pipeline(smb_conn *cn, char *why, size_t len)
{
    int per = cn->c->per, failed = 0;
    for (int i = 0; i < per; i++) {
        if (redisAppendCommand(cn->rc, "HSET %s %b %b", cn->name, cn->bkeys[i],
                               (size_t)SMB_KEY_LEN, cn->val, (size_t)SMB_VAL_LEN) != REDIS_OK) {
            smb_redis_why(why, len, cn, "HSET (append)", NULL);
            return -1;
        }
    }
    for (int i = 0; i < per; i++) {
        void *rp = NULL;
        if (redisGetReply(cn->rc, &rp) != REDIS_OK) {
            smb_redis_why(why, len, cn, "HSET (pipelined)", NULL);
            return -1; /* the connection is broken: no reply is coming */
        }
        const redisReply *r = rp;
        if (r->type != REDIS_REPLY_INTEGER && failed++ == 0)
            smb_redis_why(why, len, cn, "HSET (pipelined)", r);
        freeReplyObject(rp);
    }
    return failed == 0 ? 0 : -1;
}

/* One Redis op. Returns 0, or -1 with why set. */
static int
smb_redis_call(smb_conn *cn, smb_op op, bool timed, char *why, size_t len)
{
    smb_shared *sh = cn->c->sh;
    redisReply *r = NULL;
    switch (op) {
    case SMB_SET:
        r = smb_redis_cmd(cn, REDIS_REPLY_INTEGER, "HSET", why, len, "HSET %s %b %b", cn->name,
                          cn->key, (size_t)SMB_KEY_LEN, cn->val, (size_t)SMB_VAL_LEN);
        break;
    case SMB_GET:
        r = smb_redis_cmd(cn, REDIS_REPLY_STRING, "HGET", why, len, "HGET %s %b", cn->name,
                          cn->key, (size_t)SMB_KEY_LEN);
        if (r != NULL && (r->len != SMB_VAL_LEN || memcmp(r->str, cn->val, SMB_VAL_LEN) != 0)) {
            snprintf(why, len, "HGET returned another value than was set");
            freeReplyObject(r);
            r = NULL;
        }
        break;
    case SMB_APPEND:
        r = smb_redis_cmd(cn, REDIS_REPLY_INTEGER, "RPUSH", why, len, "RPUSH %s %b", cn->name,
                          cn->val, (size_t)SMB_VAL_LEN);
        break;
    case SMB_POP:
        r = smb_redis_cmd(cn, REDIS_REPLY_STRING, "RPOP", why, len, "RPOP %s", cn->name);
        break;
    case SMB_INCR:
        r = smb_redis_cmd(cn, REDIS_REPLY_INTEGER, "HINCRBY", why, len, "HINCRBY %s %s 1",
                          cn->name, cn->field);
        if (r != NULL)
            cn->incrs++;
        break;
    case SMB_LOCK:
        /* A spin lock: SET NX again at once until it succeeds (no expiry: a benchmark's
         * holders do not die), then DEL. */
        for (;;) {
            r = redisCommand(cn->rc, "SET %s %b NX", cn->name, cn->key, (size_t)SMB_KEY_LEN);
            if (r == NULL || (r->type != REDIS_REPLY_STATUS && r->type != REDIS_REPLY_NIL)) {
                smb_redis_why(why, len, cn, "SET NX", r);
                if (r != NULL)
                    freeReplyObject(r);
                return -1;
            }
            bool got = r->type == REDIS_REPLY_STATUS;
            freeReplyObject(r);
            if (timed)
                atomic_fetch_add(&sh->tries, 1);
            if (got)
                break;
        }
        if (timed)
            atomic_fetch_add(&sh->grants, 1);
        smb_lock_enter(sh);
        smb_lock_leave(sh);
        r = smb_redis_cmd(cn, REDIS_REPLY_INTEGER, "DEL", why, len, "DEL %s", cn->name);
        break;
    case SMB_QUEUE:
        r = smb_redis_cmd(cn, REDIS_REPLY_INTEGER, "LPUSH", why, len, "LPUSH %s %b", cn->name,
                          cn->val, (size_t)SMB_VAL_LEN);
        if (r == NULL)
            break;
        freeReplyObject(r);
        r = smb_redis_cmd(cn, REDIS_REPLY_ARRAY, "BRPOP", why, len, "BRPOP %s %d", cn->name,
                          SMB_WAIT_MS / 1000);
        break;
    case SMB_BATCH_SET:
    case SMB_BATCH256_SET:
        return smb_redis_pipeline(cn, why, len);
    default:
        snprintf(why, len, "no such Redis op");
    }
    if (r == NULL)
        return -1;
    freeReplyObject(r);
    return 0;
}

static int
smb_call(smb_conn *cn, smb_op op, bool timed, char *why, size_t len)
{
    switch (cn->c->t->peer) {
    case SMB_SYNCMGR:
        return smb_sm_call(cn, op, why, len);
    case SMB_NNG:
        return smb_echo_call(cn, why, len);
    case SMB_REDIS:
        return smb_redis_call(cn, op, timed, why, len);
    }
    return -1;
}

/* Opens the client's connection and the cell's object on it. Returns 0 or -1 with why set;
 * on -1 whatever was opened is closed by smb_conn_close. */
static int
smb_conn_open(smb_conn *cn, char *why, size_t len)
{
    const smb_cell *c = cn->c;
    const smb_target *t = c->t;
    if (t->peer == SMB_NNG) {
        int rv = nng_req0_open(&cn->sock);
        if (rv == 0)
            rv = nng_socket_set_ms(cn->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
        if (rv == 0)
            rv = nng_dial(cn->sock, t->url, NULL, 0);
        if (rv == 0)
            rv = nng_ctx_open(&cn->ctx, cn->sock);
        if (rv == 0)
            rv = nng_ctx_set_ms(cn->ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
        if (rv == 0)
            rv = nng_aio_alloc(&cn->aio, NULL, NULL);
        if (rv != 0) {
            snprintf(why, len, "nng REQ socket to %.100s: %s", t->url, nng_strerror(rv));
            return -1;
        }
        nng_aio_set_timeout(cn->aio, SMB_CALL_TIMEOUT_MS);
        return 0;
    }
    if (t->peer == SMB_REDIS) {
        struct timeval tv = {SMB_CALL_TIMEOUT_MS / 1000, 0};
        cn->rc = t->port > 0 ? redisConnectWithTimeout(t->url, t->port, tv)
                             : redisConnectUnixWithTimeout(t->url, tv);
        if (cn->rc == NULL || cn->rc->err) {
            snprintf(why, len, "redis connect %.100s: %s", t->url,
                     cn->rc ? cn->rc->errstr : "out of memory");
            return -1;
        }
        if (redisSetTimeout(cn->rc, tv) != REDIS_OK) {
            snprintf(why, len, "redis timeout: %s", cn->rc->errstr);
            return -1;
        }
        return 0;
    }
    int rv = sm_client_open(&cn->cli, t->url, NULL);
    if (rv != SM_OK) {
        smb_sm_why(why, len, "sm_client_open", rv);
        return -1;
    }
    switch (c->op) {
    case SMB_SET:
    case SMB_GET:
    case SMB_INCR:
    case SMB_BATCH_SET:
    case SMB_PIPE_SET:
    case SMB_BATCH256_SET:
        rv = sm_dict_open(cn->cli, cn->name, &cn->dict);
        break;
    case SMB_APPEND:
    case SMB_POP:
        rv = sm_list_open(cn->cli, cn->name, &cn->list);
        break;
    case SMB_LOCK:
        rv = sm_lock_open(cn->cli, cn->name, &cn->lock);
        break;
    case SMB_QUEUE:
        rv = sm_queue_open(cn->cli, cn->name, 0, false, &cn->queue);
        break;
    default:
        rv = SM_EINVAL;
    }
    if (rv != SM_OK) {
        smb_sm_why(why, len, "open the cell's object", rv);
        return -1;
    }
    return 0;
}

static void
smb_conn_close(smb_conn *cn)
{
    sm_dict_close(cn->dict);
    sm_list_close(cn->list);
    sm_lock_close(cn->lock);
    sm_queue_close(cn->queue);
    sm_client_close(cn->cli);
    if (cn->rc != NULL)
        redisFree(cn->rc);
    /* The echo's REQ socket is left to _exit: nng 1.5.2's close can hang (NNG-NOTES item 7). */
}

/* Client 0's preparation: list.pop's list gets `items` items. Returns 0 or -1 with why. */
static int
smb_prepare(smb_conn *cn, uint64_t items, char *why, size_t len)
{
    if (cn->c->op != SMB_POP)
        return 0;
    if (cn->c->t->peer == SMB_SYNCMGR) {
        sm_value *vals = malloc(SMB_BATCH * sizeof(*vals));
        if (vals == NULL) {
            snprintf(why, len, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < SMB_BATCH; i++)
            vals[i] = sm_value_bytes(cn->val, SMB_VAL_LEN);
        int rv = SM_OK;
        for (uint64_t done = 0; done < items && rv == SM_OK; done += SMB_BATCH) {
            size_t n = items - done < SMB_BATCH ? (size_t)(items - done) : SMB_BATCH;
            rv = sm_list_extend(cn->list, vals, n);
        }
        free(vals);
        if (rv != SM_OK) {
            smb_sm_why(why, len, "sm_list_extend", rv);
            return -1;
        }
        return 0;
    }
    /* Redis: RPUSH of SMB_BATCH items a command, all commands pipelined. */
    const char *argv[SMB_BATCH + 2];
    size_t argl[SMB_BATCH + 2];
    argv[0] = "RPUSH";
    argl[0] = 5;
    argv[1] = cn->name;
    argl[1] = strlen(cn->name);
    for (size_t i = 0; i < SMB_BATCH; i++) {
        argv[i + 2] = cn->val;
        argl[i + 2] = SMB_VAL_LEN;
    }
    uint64_t cmds = 0;
    for (uint64_t done = 0; done < items; done += SMB_BATCH, cmds++) {
        size_t n = items - done < SMB_BATCH ? (size_t)(items - done) : SMB_BATCH;
        if (redisAppendCommandArgv(cn->rc, (int)n + 2, argv, argl) != REDIS_OK) {
            snprintf(why, len, "RPUSH: %s", cn->rc->errstr);
            return -1;
        }
    }
    for (uint64_t i = 0; i < cmds; i++) {
        void *rp = NULL;
        if (redisGetReply(cn->rc, &rp) != REDIS_OK ||
            ((redisReply *)rp)->type != REDIS_REPLY_INTEGER) {
            smb_redis_why(why, len, cn, "RPUSH", rp);
            if (rp != NULL)
                freeReplyObject(rp);
            return -1;
        }
        freeReplyObject(rp);
    }
    return 0;
}

/* Client 0, after every client finished: reads the counter back into sh->check. */
static void
smb_read_counter(smb_conn *cn)
{
    smb_shared *sh = cn->c->sh;
    int64_t v = -1;
    if (cn->c->t->peer == SMB_SYNCMGR) {
        sm_value out = sm_value_nil();
        if (sm_dict_get(cn->dict, cn->field, &out) == SM_OK && out.type == SM_INT)
            v = out.u.i;
        sm_value_clear(&out);
    } else {
        redisReply *r = redisCommand(cn->rc, "HGET %s %s", cn->name, cn->field);
        if (r != NULL && r->type == REDIS_REPLY_STRING)
            v = strtoll(r->str, NULL, 10);
        if (r != NULL)
            freeReplyObject(r);
    }
    sh->check = v;
    atomic_store(&sh->checked, 1);
}

/* A client process: connect, (client 0) prepare, warm up, run the timed loop, report, leave.
 * Never returns. */
static void
smb_client_main(const smb_cell *c, int id)
{
    smb_shared *sh = c->sh;
    smb_conn cn;
    char why[256] = "";
    memset(&cn, 0, sizeof(cn));
    cn.c = c;
    snprintf(cn.key, sizeof(cn.key), "bench-key-%06d", id); /* exactly 16 bytes */
    for (int i = 0; i < SMB_VAL_LEN; i++)
        cn.val[i] = (char)('a' + (id + i) % 26);
    cn.val[SMB_VAL_LEN] = '\0';
    const char *sep = c->t->peer == SMB_REDIS ? ":" : ".";
    switch (c->op) {
    case SMB_SET:
    case SMB_GET:
    case SMB_BATCH_SET:
    case SMB_PIPE_SET:
    case SMB_BATCH256_SET:
        snprintf(cn.name, sizeof(cn.name), "cmp%sdict", sep);
        break;
    case SMB_INCR:
        snprintf(cn.name, sizeof(cn.name), "cmp%sdict", sep);
        snprintf(cn.field, sizeof(cn.field), "counter-%d", c->id);
        break;
    default:
        snprintf(cn.name, sizeof(cn.name), "cmp%s%s%s%d", sep, smb_op_names[c->op], sep, c->id);
    }

    bool ok = true;
    if (c->per > 1) {
        cn.bkeys = malloc((size_t)c->per * sizeof(*cn.bkeys));
        /* 16 bytes each: id < 64 and i < 65,536, as the modulos tell the compiler */
        for (int i = 0; cn.bkeys != NULL && i < c->per; i++)
            snprintf(cn.bkeys[i], sizeof(cn.bkeys[i]), "batch-%03u-%06u", (unsigned)id % 1000u,
                     (unsigned)i % 1000000u);
        if (cn.bkeys == NULL) {
            smb_fail(sh, id, "keys", "out of memory");
            ok = false;
        }
    }
    if (ok && smb_conn_open(&cn, why, sizeof(why)) != 0) {
        smb_fail(sh, id, "connect", why);
        ok = false;
    }
    atomic_fetch_add(&sh->opened, 1);
    if (id == 0) {
        uint64_t items = c->max_calls + (uint64_t)c->clients * SMB_WARMUP + 64;
        if (ok && smb_prepare(&cn, items, why, sizeof(why)) != 0) {
            smb_fail(sh, id, "prepare", why);
            ok = false;
        }
        atomic_store(&sh->prepared, 1);
    }
    if (!smb_wait_count(sh, &sh->prepared, 1))
        ok = false;
    for (int i = 0; ok && i < SMB_WARMUP; i++) {
        if (c->op == SMB_GET && smb_call(&cn, SMB_SET, false, why, sizeof(why)) != 0)
            ok = false;
        if (ok && smb_call(&cn, c->op, false, why, sizeof(why)) != 0)
            ok = false;
        if (!ok)
            smb_fail(sh, id, "warm-up", why);
    }
    if (!ok)
        atomic_fetch_add(&sh->failed, 1);
    atomic_fetch_add(&sh->ready, 1);
    uint64_t deadline = smb_now_ns() + (uint64_t)SMB_SETUP_S * 1000000000u;
    while (atomic_load(&sh->go) == 0 && smb_now_ns() < deadline)
        smb_nap_us(200);
    if (atomic_load(&sh->go) != 1)
        ok = false;

    if (ok) {
        uint64_t t0 = smb_now_ns(), now = t0;
        uint64_t end = sh->go_ns + (uint64_t)(c->seconds * 1e9);
        while (now < end) {
            uint64_t slot = atomic_fetch_add(&sh->next, 1);
            if (slot >= c->max_calls)
                break;
            uint64_t a = smb_now_ns();
            int rv = smb_call(&cn, c->op, true, why, sizeof(why));
            now = smb_now_ns();
            if (rv != 0) {
                sh->lat[slot] = UINT64_MAX;
                atomic_fetch_add(&sh->errors, 1);
                smb_fail(sh, id, smb_op_names[c->op], why);
                break; /* a failing connection would only spin; this client stops */
            }
            sh->lat[slot] = now - a;
        }
        smb_atomic_min(&sh->t_start, t0);
        smb_atomic_max(&sh->t_end, smb_now_ns());
    }
    atomic_fetch_add(&sh->incrs, cn.incrs);
    atomic_fetch_add(&sh->finished, 1);
    if (id == 0 && ok && c->op == SMB_INCR && smb_wait_count(sh, &sh->finished, c->clients))
        smb_read_counter(&cn);
    smb_conn_close(&cn);
    free(cn.bkeys);
    _exit(0);
}

/* ------------------------------------------------------------------ results */

/* What the slices of one cell add up to. */
typedef struct smb_acc {
    uint64_t *lat; /* latencies of successful calls, ns */
    size_t n, cap;
    uint64_t errors;
    double secs;
    uint64_t incrs, counted; /* counter: increments done, and the sum of values read back */
    int checks, unchecked;   /* counter: slices read back, slices that could not be */
    uint64_t tries, grants, overlaps;
    char err[256];
} smb_acc;

/* Runs one slice of a cell and adds it to acc. Never fails as a whole: problems land in
 * acc->err and acc->errors. */
static void
smb_run_slice(smb_cell *c, smb_acc *acc)
{
    smb_shared *sh = c->sh;
    if (c->max_calls > acc->cap - acc->n)
        c->max_calls = acc->cap - acc->n;
    if (c->max_calls == 0)
        return;
    memset(sh, 0, sizeof(*sh));
    atomic_init(&sh->opened, 0);
    atomic_init(&sh->prepared, 0);
    atomic_init(&sh->ready, 0);
    atomic_init(&sh->go, 0);
    atomic_init(&sh->finished, 0);
    atomic_init(&sh->failed, 0);
    atomic_init(&sh->next, 0);
    atomic_init(&sh->errors, 0);
    atomic_init(&sh->incrs, 0);
    atomic_init(&sh->tries, 0);
    atomic_init(&sh->grants, 0);
    atomic_init(&sh->holders, 0);
    atomic_init(&sh->overlaps, 0);
    atomic_init(&sh->t_start, 0);
    atomic_init(&sh->t_end, 0);
    atomic_init(&sh->err_taken, 0);
    atomic_init(&sh->checked, 0);

    pid_t pids[SMB_MAX_CLIENTS];
    int n = 0;
    fflush(NULL); /* a child must not write this process's buffers again */
    pid_t parent = getpid();
    for (; n < c->clients; n++) {
        pid_t pid = fork();
        if (pid < 0)
            break;
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(1);
            smb_client_main(c, n);
        }
        pids[n] = pid;
    }
    bool ok = n == c->clients;
    if (!ok)
        snprintf(acc->err, sizeof(acc->err), "fork: %s", strerror(errno));

    /* Start the clock once every client is warm; abort if one died before. */
    uint64_t deadline = smb_now_ns() + (uint64_t)(SMB_SETUP_S + 5) * 1000000000u;
    while (ok && atomic_load(&sh->ready) < n) {
        for (int i = 0; i < n && ok; i++) {
            int st;
            if (pids[i] > 0 && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
                pids[i] = 0;
                ok = false;
                if (acc->err[0] == '\0')
                    snprintf(acc->err, sizeof(acc->err), "client %d died during setup", i);
            }
        }
        if (smb_now_ns() > deadline) {
            ok = false;
            snprintf(acc->err, sizeof(acc->err), "clients not ready in %d s", SMB_SETUP_S);
        }
        if (ok)
            smb_nap_us(200);
    }
    if (ok && atomic_load(&sh->failed) < n) {
        sh->go_ns = smb_now_ns();
        atomic_store(&sh->go, 1);
    } else {
        atomic_store(&sh->go, -1);
    }

    /* Reap; a client still there long after the cell's end is killed. */
    deadline = smb_now_ns() + (uint64_t)((c->seconds + 30) * 1e9);
    for (int left = n; left > 0;) {
        left = 0;
        for (int i = 0; i < n; i++) {
            int st;
            if (pids[i] <= 0)
                continue;
            if (waitpid(pids[i], &st, WNOHANG) == pids[i])
                pids[i] = 0;
            else
                left++;
        }
        if (left > 0 && smb_now_ns() > deadline) {
            for (int i = 0; i < n; i++) {
                if (pids[i] > 0) {
                    kill(pids[i], SIGKILL);
                    waitpid(pids[i], NULL, 0);
                    pids[i] = 0;
                }
            }
            if (acc->err[0] == '\0')
                snprintf(acc->err, sizeof(acc->err), "clients killed: still running 30 s late");
            break;
        }
        if (left > 0)
            smb_nap_us(2000);
    }

    if (acc->err[0] == '\0' && sh->err[0] != '\0' && atomic_load(&sh->err_taken))
        snprintf(acc->err, sizeof(acc->err), "%s", sh->err);
    acc->errors += atomic_load(&sh->errors) + (uint64_t)atomic_load(&sh->failed);
    uint64_t claimed = atomic_load(&sh->next);
    size_t slots = (size_t)(claimed < c->max_calls ? claimed : c->max_calls);
    uint64_t t0 = atomic_load(&sh->t_start), t1 = atomic_load(&sh->t_end);
    if (atomic_load(&sh->go) == 1 && t1 > t0) {
        for (size_t i = 0; i < slots; i++) {
            if (sh->lat[i] != UINT64_MAX && sh->lat[i] != 0)
                acc->lat[acc->n++] = sh->lat[i];
        }
        acc->secs += (double)(t1 - t0) / 1e9;
    }
    acc->tries += atomic_load(&sh->tries);
    acc->grants += atomic_load(&sh->grants);
    acc->overlaps += atomic_load(&sh->overlaps);
    if (c->op == SMB_INCR) {
        if (atomic_load(&sh->checked) && sh->check >= 0) {
            acc->incrs += atomic_load(&sh->incrs);
            acc->counted += (uint64_t)sh->check;
            acc->checks++;
        } else {
            acc->unchecked++;
        }
    }
}

static int
smb_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n), in microseconds. */
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

/* Makes the note of a cell: the checks, the Redis lock's retries, the first error. */
static void
smb_note(const smb_acc *a, const smb_target *t, smb_op op, char *note, size_t len)
{
    size_t k = 0;
    note[0] = '\0';
#define SMB_NOTE(...)                                                                          \
    do {                                                                                       \
        if (k < len)                                                                           \
            k += (size_t)snprintf(note + k, len - k, "%s", k ? "; " : "");                     \
        if (k < len)                                                                           \
            k += (size_t)snprintf(note + k, len - k, __VA_ARGS__);                             \
    } while (0)
    if (op == SMB_INCR && a->checks > 0) {
        if (a->counted == a->incrs)
            SMB_NOTE("counter exact (%" PRIu64 " increments)", a->incrs);
        else
            SMB_NOTE("counter WRONG: %" PRIu64 " read back, %" PRIu64 " done", a->counted,
                     a->incrs);
    }
    if (op == SMB_INCR && a->unchecked > 0)
        SMB_NOTE("counter not read back in %d slice(s)", a->unchecked);
    if (op == SMB_LOCK)
        SMB_NOTE("%s", a->overlaps == 0 ? "exclusion held" : "EXCLUSION BROKEN");
    if (op == SMB_LOCK && a->overlaps > 0)
        SMB_NOTE("%" PRIu64 " overlaps", a->overlaps);
    if (op == SMB_LOCK && t->peer == SMB_REDIS && a->grants > 0)
        SMB_NOTE("SET NX sent %.2f times per acquire", (double)a->tries / (double)a->grants);
    if (a->err[0] != '\0')
        SMB_NOTE("first error: %s", a->err);
#undef SMB_NOTE
    for (char *p = note; *p; p++) {
        if (*p == '\t' || *p == '\n')
            *p = ' ';
    }
}

static void
smb_fmt_int(char *buf, size_t len, double v)
{
    char t[64];
    if (isnan(v)) {
        snprintf(buf, len, "-");
        return;
    }
    snprintf(t, sizeof(t), "%.0f", v);
    size_t n = strlen(t), k = 0;
    for (size_t i = 0; i < n && k + 2 < len; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[k++] = ',';
        buf[k++] = t[i];
    }
    buf[k] = '\0';
}

/* Finishes a cell of `per` ops per call: prints its line and appends its TSV row. */
static void
smb_report(FILE *tsv, const smb_target *t, smb_op op, int per, int clients, smb_acc *a)
{
    char note[512], ops_s[32];
    double rate = NAN, p50 = NAN, p99 = NAN;
    uint64_t ops = (uint64_t)a->n * (uint64_t)per;
    if (a->n > 0 && a->secs > 0) {
        qsort(a->lat, a->n, sizeof(*a->lat), smb_cmp_u64);
        rate = (double)ops / a->secs;
        p50 = smb_pct_us(a->lat, a->n, 0.50);
        p99 = smb_pct_us(a->lat, a->n, 0.99);
    } else if (a->err[0] == '\0') {
        snprintf(a->err, sizeof(a->err), "no op completed");
    }
    smb_note(a, t, op, note, sizeof(note));
    smb_fmt_int(ops_s, sizeof(ops_s), rate);
    printf("  %-7s %-4s %-12s %2d clients %9s ops/s  p50 %8.1f us  p99 %9.1f us%s  %s\n",
           smb_peer_names[t->peer], t->transport, smb_op_names[op], clients, ops_s, p50, p99,
           per > 1 ? " (round trip)" : "", note);
    fflush(stdout);
    if (tsv != NULL) {
        fprintf(tsv,
                "cell\t%s\t%s\t%s\t%d\t%" PRIu64 "\t%.4f\t%.1f\t%.1f\t%.1f\t%" PRIu64 "\t%g\t%s\n",
                smb_peer_names[t->peer], t->transport, smb_op_names[op], clients, ops, a->secs,
                isnan(rate) ? 0.0 : rate, isnan(p50) ? 0.0 : p50, isnan(p99) ? 0.0 : p99,
                a->errors, (double)smb_op_rt[op] / per, note[0] ? note : "-");
        fflush(tsv);
    }
}

/* ------------------------------------------------------------- the memory */

static void
smb_mem_row(FILE *tsv, const char *peer, const char *measure, long entries, long long before,
            long long after, const char *note)
{
    double per = before >= 0 && after >= 0 ? (double)(after - before) / (double)entries : NAN;
    printf("  %-7s %-22s %ld entries: %lld -> %lld bytes, %.1f bytes per entry%s%s\n", peer,
           measure, entries, before, after, per, note[0] ? "; " : "", note);
    if (tsv != NULL) {
        fprintf(tsv, "mem\t%s\t%s\t%ld\t%lld\t%lld\t%s\n", peer, measure, entries, before, after,
                note[0] ? note : "-");
        fflush(tsv);
    }
}

/* The syncmgr half of --mem: a fresh syncmgrd, a client process that fills one dict between
 * two VmRSS readings. */
static void
smb_mem_syncmgr(const smb_opts *o, const char *dir, FILE *tsv)
{
    char listen[512], err[300] = "", note[300] = "";
    smb_server sm;
    long long before = -1, after = -1;
    snprintf(listen, sizeof(listen), "ipc://%s/mem.sock", dir);
    if (smb_start_syncmgrd(&sm, listen, err, sizeof(err)) != 0) {
        smb_mem_row(tsv, "syncmgr", "vmrss", o->mem_entries, -1, -1, err);
        return;
    }
    int to_child[2], to_parent[2];
    if (pipe(to_child) != 0 || pipe(to_parent) != 0) {
        smb_mem_row(tsv, "syncmgr", "vmrss", o->mem_entries, -1, -1, "pipe failed");
        smb_stop(&sm);
        return;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* The client: connect and open the dict, say 'r'; on 'g' fill it, say 'd' or 'e'. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(to_child[1]);
        close(to_parent[0]);
        sm_client *cli = NULL;
        sm_dict *d = NULL;
        char b = 'e';
        int rv = sm_client_open(&cli, sm.url, NULL);
        if (rv == SM_OK)
            rv = sm_dict_open(cli, "cmp.mem", &d);
        b = rv == SM_OK ? 'r' : 'e';
        if (write(to_parent[1], &b, 1) != 1 || b == 'e' || read(to_child[0], &b, 1) != 1)
            _exit(1);
        char(*keys)[SMB_KEY_LEN + 1] = malloc(SMB_BATCH * sizeof(*keys));
        char(*vals)[SMB_VAL_LEN + 1] = malloc(SMB_BATCH * sizeof(*vals));
        const char **kp = malloc(SMB_BATCH * sizeof(*kp));
        sm_value *vp = malloc(SMB_BATCH * sizeof(*vp));
        if (keys == NULL || vals == NULL || kp == NULL || vp == NULL)
            rv = SM_ENOMEM;
        for (long done = 0; rv == SM_OK && done < o->mem_entries; done += SMB_BATCH) {
            size_t n = 0;
            for (long i = done; i < o->mem_entries && n < SMB_BATCH; i++, n++) {
                snprintf(keys[n], sizeof(keys[n]), "k%015u", (unsigned)i);
                snprintf(vals[n], sizeof(vals[n]), "v%015u", (unsigned)i);
                kp[n] = keys[n];
                vp[n] = sm_value_bytes(vals[n], SMB_VAL_LEN);
            }
            rv = sm_dict_update(d, kp, vp, n);
        }
        size_t len = 0;
        if (rv == SM_OK)
            rv = sm_dict_len(d, &len);
        b = rv == SM_OK && len == (size_t)o->mem_entries ? 'd' : 'e';
        if (write(to_parent[1], &b, 1) != 1)
            _exit(1);
        if (read(to_child[0], &b, 1) < 0) /* stay connected until the reading is taken */
            _exit(1);
        sm_dict_close(d);
        sm_client_close(cli);
        _exit(0);
    }
    close(to_child[0]);
    close(to_parent[1]);
    char b = 'e';
    if (pid < 0) {
        snprintf(note, sizeof(note), "fork: %s", strerror(errno));
    } else if (read(to_parent[0], &b, 1) != 1 || b != 'r') {
        snprintf(note, sizeof(note), "the client could not open the dict");
    } else {
        smb_nap_us(200000); /* let the server settle after the session opened */
        before = smb_vmrss(sm.pid);
        b = 'g';
        if (write(to_child[1], &b, 1) != 1 || read(to_parent[0], &b, 1) != 1 || b != 'd')
            snprintf(note, sizeof(note), "filling the dict failed");
        smb_nap_us(200000);
        after = smb_vmrss(sm.pid);
    }
    close(to_child[1]); /* the client reads EOF and leaves */
    close(to_parent[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    smb_stop(&sm);
    smb_mem_row(tsv, "syncmgr", "vmrss", o->mem_entries, note[0] ? -1 : before,
                note[0] ? -1 : after, note);
}

/* Reads field `name` (an integer) from INFO `section`; -1 if absent. */
static long long
smb_redis_info(redisContext *rc, const char *section, const char *name)
{
    long long v = -1;
    redisReply *r = redisCommand(rc, "INFO %s", section);
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_STRING) {
        size_t nl = strlen(name);
        for (const char *p = r->str; p != NULL && *p; p = strchr(p, '\n')) {
            if (*p == '\n')
                p++;
            if (strncmp(p, name, nl) == 0 && p[nl] == ':') {
                v = strtoll(p + nl + 1, NULL, 10);
                break;
            }
        }
    }
    freeReplyObject(r);
    return v;
}

static redisContext *
smb_redis_connect(const smb_opts *o, char *why, size_t len)
{
    struct timeval tv = {SMB_CALL_TIMEOUT_MS / 1000, 0};
    redisContext *rc = o->redis_unix != NULL
                           ? redisConnectUnixWithTimeout(o->redis_unix, tv)
                           : redisConnectWithTimeout(o->redis_host, o->redis_port, tv);
    if (rc == NULL || rc->err) {
        snprintf(why, len, "redis connect: %s", rc ? rc->errstr : "out of memory");
        if (rc != NULL)
            redisFree(rc);
        return NULL;
    }
    return rc;
}

/* The Redis half of --mem: N HSETs into one hash, pipelined, between two INFO readings. */
static void
smb_mem_redis(const smb_opts *o, FILE *tsv)
{
    char why[300] = "";
    redisContext *rc = smb_redis_connect(o, why, sizeof(why));
    if (rc == NULL) {
        smb_mem_row(tsv, "redis", "used_memory", o->mem_entries, -1, -1, why);
        return;
    }
    const char *key = "cmp:mem";
    redisReply *r = redisCommand(rc, "DEL %s", key);
    if (r != NULL)
        freeReplyObject(r);
    long long pid = smb_redis_info(rc, "server", "process_id");
    long long used0 = smb_redis_info(rc, "memory", "used_memory");
    long long rss0 = pid > 0 ? smb_vmrss((pid_t)pid) : -1;

    static char keys[SMB_BATCH][SMB_KEY_LEN + 1], vals[SMB_BATCH][SMB_VAL_LEN + 1];
    static const char *argv[2 * SMB_BATCH + 2];
    static size_t argl[2 * SMB_BATCH + 2];
    argv[0] = "HSET";
    argl[0] = 4;
    argv[1] = key;
    argl[1] = strlen(key);
    long sent = 0, pending = 0;
    bool ok = true;
    while (ok && sent < o->mem_entries) {
        size_t n = 0;
        for (; sent < o->mem_entries && n < SMB_BATCH; sent++, n++) {
            snprintf(keys[n], sizeof(keys[n]), "k%015u", (unsigned)sent);
            snprintf(vals[n], sizeof(vals[n]), "v%015u", (unsigned)sent);
            argv[2 + 2 * n] = keys[n];
            argl[2 + 2 * n] = SMB_KEY_LEN;
            argv[3 + 2 * n] = vals[n];
            argl[3 + 2 * n] = SMB_VAL_LEN;
        }
        /* hiredis copies the command into its output buffer, so keys[] may be reused. */
        ok = redisAppendCommandArgv(rc, (int)(2 + 2 * n), argv, argl) == REDIS_OK;
        pending++;
        while (ok && (pending >= 16 || (sent >= o->mem_entries && pending > 0))) {
            void *rp = NULL;
            ok = redisGetReply(rc, &rp) == REDIS_OK && rp != NULL &&
                 ((redisReply *)rp)->type == REDIS_REPLY_INTEGER;
            if (rp != NULL)
                freeReplyObject(rp);
            pending--;
        }
    }
    long long hlen = -1;
    r = ok ? redisCommand(rc, "HLEN %s", key) : NULL;
    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        hlen = r->integer;
    if (r != NULL)
        freeReplyObject(r);
    if (!ok || hlen != o->mem_entries)
        snprintf(why, sizeof(why), "filling the hash failed (HLEN %lld): %s", hlen, rc->errstr);
    long long used1 = smb_redis_info(rc, "memory", "used_memory");
    long long rss1 = pid > 0 ? smb_vmrss((pid_t)pid) : -1;
    r = redisCommand(rc, "DEL %s", key);
    if (r != NULL)
        freeReplyObject(r);
    redisFree(rc);
    smb_mem_row(tsv, "redis", "used_memory", o->mem_entries, why[0] ? -1 : used0,
                why[0] ? -1 : used1, why);
    smb_mem_row(tsv, "redis", "vmrss", o->mem_entries, why[0] ? -1 : rss0, why[0] ? -1 : rss1,
                why);
}

/* ------------------------------------------------------------------ driving */

static void
smb_usage(FILE *f)
{
    fprintf(f,
            "usage: bench_compare --clients N [--seconds S] [--rounds R] [--max-ops N]\n"
            "                     [--redis-unix PATH] [--redis-tcp HOST:PORT]\n"
            "                     [--ops LIST] [--peers LIST] [--pipe N] [--tsv FILE]\n"
            "       bench_compare --mem N [--redis-unix PATH | --redis-tcp HOST:PORT] [--tsv F]\n"
            "  --clients N     client processes per cell, 1..%d\n"
            "  --seconds S     time per cell, all rounds together (default 1)\n"
            "  --rounds R      run each cell as R slices, interleaved (default 1)\n"
            "  --max-ops N     op bound per cell, all clients together (default 300000;\n"
            "                  a batch's sets are its ops)\n"
            "  --redis-unix P  the Redis to measure over its unix socket P\n"
            "  --redis-tcp H:P the Redis to measure over tcp\n"
            "  --ops LIST      some of: echo,dict.set,dict.get,list.append,list.pop,\n"
            "                  counter.incr,lock,queue,batch16.set,pipe.set,batch256.set (default all;\n"
            "                  pipe.set runs only with --clients 1)\n"
            "  --peers LIST    some of: syncmgr,nng,redis (default all)\n"
            "  --pipe N        sets per round trip of pipe.set, 2..65536 (default %d)\n"
            "  --tsv FILE      append the rows to FILE\n"
            "  --mem N         measure server memory for N dict entries instead (syncmgrd,\n"
            "                  and the Redis if one is given)\n",
            SMB_MAX_CLIENTS, SMB_PIPE_DEFAULT);
}

/* Sets on[i] for each comma-separated name of names[0..n) in list. Returns 0 or -1. */
static int
smb_parse_set(const char *list, const char *const *names, int n, bool *on)
{
    for (int i = 0; i < n; i++)
        on[i] = false;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int i = 0; i < n; i++) {
            if (strlen(names[i]) == len && strncmp(p, names[i], len) == 0)
                found = i;
        }
        if (found < 0)
            return -1;
        on[found] = true;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int
smb_parse(int argc, char **argv, smb_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->seconds = 1.0;
    o->rounds = 1;
    o->max_ops = 300000;
    o->pipe = SMB_PIPE_DEFAULT;
    for (int i = 0; i < SMB_NOPS; i++)
        o->op_on[i] = true;
    o->peer_on[0] = o->peer_on[1] = o->peer_on[2] = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            smb_usage(stdout);
            exit(0);
        }
        if (v == NULL) {
            fprintf(stderr, "bench_compare: %s: unknown option or missing value\n", a);
            return -1;
        }
        i++;
        if (strcmp(a, "--clients") == 0) {
            long n = strtol(v, &end, 10);
            if (*end != '\0' || n < 1 || n > SMB_MAX_CLIENTS) {
                fprintf(stderr, "bench_compare: --clients wants 1..%d\n", SMB_MAX_CLIENTS);
                return -1;
            }
            o->clients = (int)n;
        } else if (strcmp(a, "--seconds") == 0) {
            o->seconds = strtod(v, &end);
            if (*end != '\0' || !(o->seconds > 0 && o->seconds <= 600)) {
                fprintf(stderr, "bench_compare: --seconds wants a number in (0, 600]\n");
                return -1;
            }
        } else if (strcmp(a, "--rounds") == 0) {
            long n = strtol(v, &end, 10);
            if (*end != '\0' || n < 1 || n > 50) {
                fprintf(stderr, "bench_compare: --rounds wants 1..50\n");
                return -1;
            }
            o->rounds = (int)n;
        } else if (strcmp(a, "--max-ops") == 0) {
            unsigned long long n = strtoull(v, &end, 10);
            if (*end != '\0' || n < 100 || n > 50000000ull) {
                fprintf(stderr, "bench_compare: --max-ops wants 100..50000000\n");
                return -1;
            }
            o->max_ops = n;
        } else if (strcmp(a, "--redis-unix") == 0) {
            o->redis_unix = v;
        } else if (strcmp(a, "--redis-tcp") == 0) {
            const char *colon = strrchr(v, ':');
            long port = colon ? strtol(colon + 1, &end, 10) : -1;
            if (colon == NULL || *end != '\0' || port < 1 || port > 65535 ||
                (size_t)(colon - v) >= sizeof(o->redis_host) || colon == v) {
                fprintf(stderr, "bench_compare: --redis-tcp wants HOST:PORT\n");
                return -1;
            }
            snprintf(o->redis_host, sizeof(o->redis_host), "%.*s", (int)(colon - v), v);
            o->redis_port = (int)port;
        } else if (strcmp(a, "--ops") == 0) {
            if (smb_parse_set(v, smb_op_names, SMB_NOPS, o->op_on) != 0) {
                fprintf(stderr, "bench_compare: --ops: unknown op in %s\n", v);
                return -1;
            }
        } else if (strcmp(a, "--peers") == 0) {
            if (smb_parse_set(v, smb_peer_names, 3, o->peer_on) != 0) {
                fprintf(stderr, "bench_compare: --peers: unknown peer in %s\n", v);
                return -1;
            }
        } else if (strcmp(a, "--pipe") == 0) {
            long n = strtol(v, &end, 10);
            if (*end != '\0' || n < 2 || n > 65536) {
                fprintf(stderr, "bench_compare: --pipe wants 2..65536\n");
                return -1;
            }
            o->pipe = (int)n;
        } else if (strcmp(a, "--tsv") == 0) {
            o->tsv = v;
        } else if (strcmp(a, "--mem") == 0) {
            long n = strtol(v, &end, 10);
            if (*end != '\0' || n < 1000 || n > 100000000) {
                fprintf(stderr, "bench_compare: --mem wants 1000..100000000\n");
                return -1;
            }
            o->mem_entries = n;
        } else {
            fprintf(stderr, "bench_compare: unknown option %s\n", a);
            return -1;
        }
    }
    if (o->mem_entries == 0 && o->clients == 0) {
        fprintf(stderr, "bench_compare: --clients is required\n");
        return -1;
    }
    return 0;
}

/* Ops one call of op makes: a batch's sets, else 1. */
static int
smb_per(const smb_opts *o, smb_op op)
{
    return op == SMB_BATCH_SET      ? SMB_BATCH16
           : op == SMB_BATCH256_SET ? SMB_BATCH256
           : op == SMB_PIPE_SET     ? o->pipe
                                    : 1;
}

/* Whether peer runs op in this run: nng only the echo, which no other peer runs; pipe.set is
 * syncmgr's alone, from one client process. */
static bool
smb_applies(const smb_opts *o, smb_peer peer, smb_op op)
{
    if (!o->op_on[op] || (peer == SMB_NNG) != (op == SMB_ECHO))
        return false;
    return op != SMB_PIPE_SET || (peer == SMB_SYNCMGR && o->clients == 1);
}

/* Flushes the Redis under test, so that every run starts from an empty one. */
static void
smb_redis_flush(const smb_opts *o)
{
    char why[300];
    redisContext *rc = smb_redis_connect(o, why, sizeof(why));
    if (rc == NULL)
        return;
    redisReply *r = redisCommand(rc, "FLUSHALL");
    if (r != NULL)
        freeReplyObject(r);
    redisFree(rc);
}

static void
smb_rmdir(const char *dir)
{
    const char *files[] = {"syncmgrd.sock", "echo.sock", "mem.sock"};
    char path[300];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
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
    FILE *tsv = NULL;
    if (o.tsv != NULL) {
        tsv = fopen(o.tsv, "a");
        if (tsv == NULL) {
            fprintf(stderr, "bench_compare: %s: %s\n", o.tsv, strerror(errno));
            return 1;
        }
    }
    /* ipc:// paths live here: $TMPDIR (or /tmp)/bench_compare.XXXXXX */
    char dir[200];
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 120)
        tmp = "/tmp";
    snprintf(dir, sizeof(dir), "%s/bench_compare.XXXXXX", tmp);
    if (mkdtemp(dir) == NULL) {
        perror("bench_compare: mkdtemp");
        return 1;
    }

    if (o.mem_entries > 0) {
        printf("memory: %ld entries, %d-byte keys and %d-byte values, in one dict / hash\n",
               o.mem_entries, SMB_KEY_LEN, SMB_VAL_LEN);
        smb_mem_syncmgr(&o, dir, tsv);
        if (o.redis_unix != NULL || o.redis_port > 0)
            smb_mem_redis(&o, tsv);
        smb_rmdir(dir);
        if (tsv != NULL)
            fclose(tsv);
        return 0;
    }

    /* The servers. syncmgrd and the echo server are fresh for this run; Redis is flushed. */
    smb_target targets[6];
    smb_server servers[4];
    int ntargets = 0, nservers = 0;
    const char *transports[2] = {"ipc", "tcp"};
    for (int k = 0; k < 2; k++) {
        for (int p = SMB_SYNCMGR; p <= SMB_NNG; p++) {
            smb_target *t = &targets[ntargets++];
            memset(t, 0, sizeof(*t));
            t->peer = (smb_peer)p;
            t->transport = transports[k];
            if (!o.peer_on[p]) {
                ntargets--;
                continue;
            }
            char listen[512];
            if (k == 1)
                snprintf(listen, sizeof(listen), "tcp://127.0.0.1:0");
            else
                snprintf(listen, sizeof(listen), "ipc://%s/%s.sock", dir,
                         p == SMB_NNG ? "echo" : "syncmgrd");
            smb_server *s = &servers[nservers];
            int rv = p == SMB_NNG ? smb_start_echo(s, listen, t->err, sizeof(t->err))
                                  : smb_start_syncmgrd(s, listen, t->err, sizeof(t->err));
            if (rv == 0) {
                nservers++;
                t->up = true;
                snprintf(t->url, sizeof(t->url), "%s", s->url);
            }
        }
    }
    if (o.peer_on[SMB_REDIS] && o.redis_unix != NULL) {
        smb_target *t = &targets[ntargets++];
        memset(t, 0, sizeof(*t));
        t->peer = SMB_REDIS;
        t->transport = "unix";
        t->up = true;
        snprintf(t->url, sizeof(t->url), "%s", o.redis_unix);
    }
    if (o.peer_on[SMB_REDIS] && o.redis_port > 0) {
        smb_target *t = &targets[ntargets++];
        memset(t, 0, sizeof(*t));
        t->peer = SMB_REDIS;
        t->transport = "tcp";
        t->up = true;
        t->port = o.redis_port;
        snprintf(t->url, sizeof(t->url), "%s", o.redis_host);
    }
    if (o.peer_on[SMB_REDIS] && (o.redis_unix != NULL || o.redis_port > 0))
        smb_redis_flush(&o);

    double la[1] = {NAN};
    if (getloadavg(la, 1) < 1)
        la[0] = NAN;
    printf("bench_compare: %d client process(es); each cell %.2f s or %" PRIu64
           " ops in %d slice(s); load average %.2f\n",
           o.clients, o.seconds, o.max_ops, o.rounds, la[0]);
    for (int i = 0; i < ntargets; i++) {
        const smb_target *t = &targets[i];
        if (!t->up)
            printf("  %-7s %-4s not up: %s\n", smb_peer_names[t->peer], t->transport, t->err);
        else if (t->port > 0)
            printf("  %-7s %-4s %s:%d\n", smb_peer_names[t->peer], t->transport, t->url, t->port);
        else
            printf("  %-7s %-4s %s\n", smb_peer_names[t->peer], t->transport, t->url);
    }
    fflush(stdout);

    uint64_t slice_ops = (o.max_ops + (uint64_t)o.rounds - 1) / (uint64_t)o.rounds;
    size_t shsize = sizeof(smb_shared) + (size_t)slice_ops * sizeof(uint64_t);
    smb_shared *sh = mmap(NULL, shsize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("bench_compare: mmap");
        return 1;
    }

    /* One accumulator per (target, op) that applies, with room for a latency per call. */
    smb_acc *acc = calloc((size_t)ntargets * SMB_NOPS, sizeof(*acc));
    if (acc == NULL) {
        fprintf(stderr, "bench_compare: out of memory\n");
        return 1;
    }
    for (int i = 0; i < ntargets; i++) {
        for (int op = 0; op < SMB_NOPS; op++) {
            if (!smb_applies(&o, targets[i].peer, (smb_op)op))
                continue;
            smb_acc *a = &acc[i * SMB_NOPS + op];
            uint64_t per = (uint64_t)smb_per(&o, (smb_op)op);
            a->cap = (size_t)((o.max_ops + per - 1) / per);
            a->lat = malloc(a->cap * sizeof(*a->lat));
            if (a->lat == NULL) {
                fprintf(stderr, "bench_compare: out of memory\n");
                return 1;
            }
            if (!targets[i].up)
                snprintf(a->err, sizeof(a->err), "%s", targets[i].err);
        }
    }

    /* The cells, op by op, each target in turn; with --rounds, the whole pass again. A cell
     * is reported after its last slice. */
    int cell_id = 0;
    for (int round = 0; round < o.rounds; round++) {
        for (int op = 0; op < SMB_NOPS; op++) {
            for (int i = 0; i < ntargets; i++) {
                smb_acc *a = &acc[i * SMB_NOPS + op];
                if (a->lat == NULL)
                    continue;
                int per = smb_per(&o, (smb_op)op);
                if (targets[i].up) {
                    smb_cell c = {.t = &targets[i],
                                  .op = (smb_op)op,
                                  .per = per,
                                  .clients = o.clients,
                                  .seconds = o.seconds / o.rounds,
                                  .max_calls = (slice_ops + (uint64_t)per - 1) / (uint64_t)per,
                                  .id = cell_id++,
                                  .sh = sh};
                    smb_run_slice(&c, a);
                }
                if (round == o.rounds - 1) {
                    smb_report(tsv, &targets[i], (smb_op)op, per, o.clients, a);
                    free(a->lat);
                    a->lat = NULL;
                }
            }
        }
    }
    for (int i = 0; i < nservers; i++)
        smb_stop(&servers[i]);
    smb_rmdir(dir);
    free(acc);
    munmap(sh, shsize);
    if (tsv != NULL)
        fclose(tsv);
    return 0;
}
