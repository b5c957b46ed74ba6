/* bench_pool.c - pool throughput: tasks/s of a trivial task through syncmgr's pool.
 *
 * One run starts a syncmgrd on ipc:// in a fresh temporary directory and W local worker
 * processes (default 2), then for each chunksize (default 1 and 100) maps the task "ident"
 * (returns its one 8-byte input) over inputs, for --seconds each, and reports:
 *
 *   tasks/s   inputs mapped per second (one call of the task function each, whatever the
 *             chunksize), over whole maps: each map is timed from submit to its last outcome
 *   cpu       CPU time per input of every process involved: this client (getrusage), the
 *             workers and syncmgrd (/proc/PID/stat, 10 ms ticks)
 *
 * A cell runs maps of `chunksize x --tasks-per-map` inputs (default 500 tasks a map) until
 * --seconds have passed, after one untimed warm-up map per cell. Every output is compared with
 * its input; a wrong or failed outcome ends the cell with an error row.
 *
 * Processes: syncmgrd is fork/exec'd with --listen ipc://DIR/pool.sock --ready-fd N and
 * reports its URL on fd N. The workers are forked next, before this process uses nng (nng
 * 1.5.2 does not run in a process forked after nng was used); each opens its own client and
 * serves the pool "bench" until this process closes its end of the worker's socket pair. All
 * die with this process (PR_SET_PDEATHSIG).
 *
 * --prefetch P is each worker's sm_worker_opts.prefetch: tasks leased per round trip, the
 * finished ones reported on the next (Python's Pool keeps its workers' pipes full, which is
 * like a large prefetch).
 *
 * Output: a table, or with --tsv one line per cell for tests/bench/pool.sh:
 *     syncmgr<TAB>CHUNKSIZE<TAB>PREFETCH<TAB>INPUTS<TAB>SECONDS<TAB>CPU_SECONDS
 *     syncmgr<TAB>CHUNKSIZE<TAB>PREFETCH<TAB>error<TAB>MESSAGE
 *
 * A benchmark never passes or fails: it exits 0 once it printed its results, even when a cell
 * could not run (that row says why); 1 if nothing could be set up, 2 on a usage error. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
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

#include "syncmgr.h"

#ifndef SMB_SYNCMGRD
#error "SMB_SYNCMGRD must name the syncmgrd binary"
#endif

#define SMB_POOL "bench"
#define SMB_INPUT_LEN 8
#define SMB_MAX_WORKERS 64
#define SMB_MAX_CHUNKS 8
#define SMB_READY_FD 200 /* where syncmgrd finds its ready pipe */

typedef struct smb_opts {
    double seconds;         /* per cell */
    size_t tasks_per_map;   /* a map is chunksize x this many inputs */
    int workers;
    int prefetch;           /* sm_worker_opts.prefetch */
    size_t chunks[SMB_MAX_CHUNKS];
    int nchunks;
    bool tsv;
} smb_opts;

typedef struct smb_cell {
    size_t chunk;
    uint64_t inputs;    /* mapped in the timed part */
    double seconds;     /* wall time of the timed part */
    double cpu_seconds; /* all processes, timed part */
    char err[200];      /* "" if the cell ran */
} smb_cell;

static double
smb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* smb_self_cpu is this process's CPU time (all threads), in seconds. */
static double
smb_self_cpu(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* smb_proc_cpu is the CPU time (utime + stime) of process pid in seconds; 0 if unknown. */
static double
smb_proc_cpu(pid_t pid)
{
    char path[64], buf[2048];
    unsigned long long ut = 0, st = 0;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* comm may hold spaces; count fields after it */
    if (p == NULL ||
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    long hz = sysconf(_SC_CLK_TCK);
    return (double)(ut + st) / (double)(hz > 0 ? hz : 100);
}

/* ------------------------------------------------------------------ workers */

/* ident X -> X */
static int
smb_ident(sm_task *t, int argc, const sm_bytes *argv, void *arg)
{
    (void)arg;
    if (argc != 1)
        return sm_task_error(t, "ident: wants one argument, got %d", argc);
    return sm_task_return(t, argv[0].data, argv[0].len);
}

typedef struct smb_stopper {
    int fd;
    sm_worker *w;
    int rv;
} smb_stopper;

/* smb_stop_on_eof stops the worker once the parent closes its end of the socket pair (or
 * dies), or the worker's main thread shuts it down. */
static void *
smb_stop_on_eof(void *arg)
{
    smb_stopper *s = arg;
    char b;
    ssize_t r;
    do
        r = read(s->fd, &b, 1);
    while (r < 0 && errno == EINTR);
    s->rv = sm_worker_stop(s->w);
    return NULL;
}

/* smb_serve is a worker process: returns its exit status. */
static int
smb_serve(const char *url, int fd, int prefetch)
{
    sm_client *c = NULL;
    sm_worker *w = NULL;
    smb_stopper s = {fd, NULL, SM_OK};
    sm_worker_opts wo = SM_WORKER_OPTS_INIT;
    pthread_t th;
    bool started = false;
    const char *what = "sm_client_open";
    int rv;

    wo.prefetch = prefetch;
    if ((rv = sm_client_open(&c, url, NULL)) != SM_OK)
        goto out;
    what = "sm_worker_new";
    if ((rv = sm_worker_new(c, SMB_POOL, &w)) != SM_OK)
        goto out;
    what = "sm_worker_register";
    if ((rv = sm_worker_register(w, "ident", smb_ident, NULL)) != SM_OK)
        goto out;
    s.w = w;
    if (pthread_create(&th, NULL, smb_stop_on_eof, &s) != 0) {
        what = "pthread_create";
        rv = SM_ENOMEM;
        goto out;
    }
    started = true;
    what = "sm_worker_run";
    rv = sm_worker_run(w, &wo);
out:
    if (started) {
        shutdown(fd, SHUT_RDWR);
        pthread_join(th, NULL);
        if (rv == SM_OK && s.rv != SM_OK) {
            what = "sm_worker_stop";
            rv = s.rv;
        }
    }
    if (rv != SM_OK)
        fprintf(stderr, "bench_pool: worker %ld: %s: %s (%s)\n", (long)getpid(), what,
                sm_errname(rv), sm_errdetail());
    sm_worker_free(w);
    sm_client_close(c);
    return rv == SM_OK ? 0 : 1;
}

/* ------------------------------------------------------------------ processes */

typedef struct smb_procs {
    pid_t server;
    char url[600];
    char dir[64];
    int n;
    pid_t pids[SMB_MAX_WORKERS];
    int fds[SMB_MAX_WORKERS]; /* our end of each worker's socket pair */
} smb_procs;

/* smb_start_server fork/execs syncmgrd on ipc://DIR/pool.sock and waits up to 10 s for it to
 * report ready. Returns 0, or -1 having said why. */
static int
smb_start_server(smb_procs *pr)
{
    char fdstr[16], listen[600];
    int fds[2];

    snprintf(pr->dir, sizeof(pr->dir), "/tmp/bench_pool.XXXXXX");
    if (mkdtemp(pr->dir) == NULL) {
        perror("bench_pool: mkdtemp");
        return -1;
    }
    snprintf(listen, sizeof(listen), "ipc://%s/pool.sock", pr->dir);
    snprintf(fdstr, sizeof(fdstr), "%d", SMB_READY_FD);
    if (pipe2(fds, O_CLOEXEC) != 0) {
        perror("bench_pool: pipe2");
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench_pool: fork");
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (dup2(fds[1], SMB_READY_FD) < 0) /* dup2 clears FD_CLOEXEC */
            _exit(126);
        char *argv[] = {(char *)SMB_SYNCMGRD, (char *)"--listen", listen,   (char *)"--ready-fd",
                        fdstr,                (char *)"--log-level", (char *)"warn", NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    pr->server = pid;

    char buf[1024] = "";
    size_t got = 0;
    double deadline = smb_now() + 10;
    while (strstr(buf, "\n\n") == NULL && got < sizeof(buf) - 1) {
        double left = deadline - smb_now();
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int r = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        ssize_t k = read(fds[0], buf + got, sizeof(buf) - 1 - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
        buf[got] = '\0';
    }
    close(fds[0]);
    buf[got] = '\0';
    char *nl = strchr(buf, '\n');
    if (strstr(buf, "\n\n") == NULL || nl == NULL || nl == buf) {
        fprintf(stderr, "bench_pool: %s did not report ready in 10 s\n", SMB_SYNCMGRD);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        pr->server = 0;
        rmdir(pr->dir);
        return -1;
    }
    *nl = '\0';
    snprintf(pr->url, sizeof(pr->url), "%s", buf);
    return 0;
}

/* smb_start_workers forks n workers; returns 0 if all started. */
static int
smb_start_workers(smb_procs *pr, int n, int prefetch)
{
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    for (int k = 0; k < n; k++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
            perror("bench_pool: socketpair");
            return -1;
        }
        pid_t pid = fork();
        if (pid < 0) {
            perror("bench_pool: fork");
            close(sv[0]);
            close(sv[1]);
            return -1;
        }
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(1);
            close(sv[0]);
            for (int j = 0; j < k; j++)
                close(pr->fds[j]);
            _exit(smb_serve(pr->url, sv[1], prefetch));
        }
        close(sv[1]);
        pr->pids[k] = pid;
        pr->fds[k] = sv[0];
        pr->n = k + 1;
    }
    return 0;
}

/* smb_reap waits up to ms for pid; true if it was reaped (status in *st). */
static bool
smb_reap(pid_t pid, int ms, int *st)
{
    for (int waited = 0; waited <= ms; waited += 5) {
        pid_t r = waitpid(pid, st, WNOHANG);
        if (r == pid)
            return true;
        if (r < 0 && errno != EINTR)
            return false;
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* smb_stop_all stops the workers (closing their socket pairs), then syncmgrd (SIGTERM),
 * killing whatever has not exited after 5 s. */
static void
smb_stop_all(smb_procs *pr)
{
    int st;
    for (int k = 0; k < pr->n; k++)
        close(pr->fds[k]);
    for (int k = 0; k < pr->n; k++) {
        if (!smb_reap(pr->pids[k], 5000, &st)) {
            fprintf(stderr, "bench_pool: worker %ld did not stop in 5 s; killing it\n",
                    (long)pr->pids[k]);
            kill(pr->pids[k], SIGKILL);
            waitpid(pr->pids[k], &st, 0);
        } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "bench_pool: worker %ld ended with status 0x%x\n",
                    (long)pr->pids[k], st);
        }
    }
    pr->n = 0;
    if (pr->server > 0) {
        kill(pr->server, SIGTERM);
        if (!smb_reap(pr->server, 5000, &st)) {
            fprintf(stderr, "bench_pool: syncmgrd ignored SIGTERM for 5 s; killing it\n");
            kill(pr->server, SIGKILL);
            waitpid(pr->server, &st, 0);
        }
        pr->server = 0;
    }
    char path[128];
    snprintf(path, sizeof(path), "%s/pool.sock", pr->dir);
    unlink(path);
    rmdir(pr->dir);
}

/* smb_cpu_all: CPU seconds of this process, the workers and syncmgrd. */
static double
smb_cpu_all(const smb_procs *pr)
{
    double s = smb_self_cpu() + smb_proc_cpu(pr->server);
    for (int k = 0; k < pr->n; k++)
        s += smb_proc_cpu(pr->pids[k]);
    return s;
}

/* ------------------------------------------------------------------ a cell */

/* smb_map maps ident over in[0..n) and checks every outcome. Returns 0, or -1 with why. */
static int
smb_map(sm_pool *p, const sm_bytes *in, size_t n, sm_result *res, const sm_map_opts *mo,
        char *err, size_t errlen)
{
    int rv = sm_pool_map(p, "ident", in, n, res, mo);
    if (rv != SM_OK) {
        snprintf(err, errlen, "sm_pool_map: %s (%s)", sm_errname(rv), sm_errdetail());
        sm_results_clear(res, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (res[i].status != SM_OK || res[i].len != in[i].len ||
            memcmp(res[i].data, in[i].data, in[i].len) != 0) {
            snprintf(err, errlen, "input %zu: wrong outcome (status %s, %zu bytes)", i,
                     sm_errname(res[i].status), res[i].len);
            sm_results_clear(res, n);
            return -1;
        }
    sm_results_clear(res, n);
    return 0;
}

static void
smb_run_cell(const smb_opts *o, const smb_procs *pr, sm_pool *p, smb_cell *cell)
{
    size_t n = cell->chunk * o->tasks_per_map;
    unsigned char *buf = malloc(n * SMB_INPUT_LEN);
    sm_bytes *in = malloc(n * sizeof(*in));
    sm_result *res = calloc(n, sizeof(*res));
    sm_map_opts mo = SM_MAP_OPTS_INIT;

    if (buf == NULL || in == NULL || res == NULL) {
        snprintf(cell->err, sizeof(cell->err), "out of memory for %zu inputs", n);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t v = i;
        memcpy(buf + i * SMB_INPUT_LEN, &v, SMB_INPUT_LEN);
        in[i].data = buf + i * SMB_INPUT_LEN;
        in[i].len = SMB_INPUT_LEN;
    }
    mo.chunksize = cell->chunk;
    if (smb_map(p, in, n, res, &mo, cell->err, sizeof(cell->err)) != 0) /* warm-up */
        goto out;
    double cpu0 = smb_cpu_all(pr), t0 = smb_now(), t;
    do {
        if (smb_map(p, in, n, res, &mo, cell->err, sizeof(cell->err)) != 0)
            goto out;
        cell->inputs += n;
        t = smb_now();
    } while (t - t0 < o->seconds);
    cell->seconds = t - t0;
    cell->cpu_seconds = smb_cpu_all(pr) - cpu0;
out:
    free(res);
    free(in);
    free(buf);
}

/* ------------------------------------------------------------------ main */

static void
smb_usage(FILE *f)
{
    fprintf(f, "usage: bench_pool [--seconds S] [--chunks N,N,...] [--workers N] [--prefetch N]\n"
               "                  [--tasks-per-map N] [--tsv]\n"
               "  defaults: --seconds 3 --chunks 1,100 --workers 2 --prefetch 1 "
               "--tasks-per-map 500\n");
}

static int
smb_parse(int argc, char **argv, smb_opts *o)
{
    *o = (smb_opts){.seconds = 3, .tasks_per_map = 500, .workers = 2, .prefetch = 1,
                    .chunks = {1, 100}, .nchunks = 2};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
        if (strcmp(a, "--tsv") == 0) {
            o->tsv = true;
            continue;
        }
        if (v == NULL)
            return -1;
        i++;
        errno = 0;
        if (strcmp(a, "--seconds") == 0) {
            o->seconds = strtod(v, &end);
            if (*end != '\0' || !(o->seconds > 0 && o->seconds <= 3600))
                return -1;
        } else if (strcmp(a, "--workers") == 0 || strcmp(a, "--prefetch") == 0 ||
                   strcmp(a, "--tasks-per-map") == 0) {
            long n = strtol(v, &end, 10);
            if (*end != '\0' || errno != 0 || n < 1 || n > 100000)
                return -1;
            if (a[2] == 'w') {
                if (n > SMB_MAX_WORKERS)
                    return -1;
                o->workers = (int)n;
            } else if (a[2] == 'p') {
                o->prefetch = (int)n;
            } else {
                o->tasks_per_map = (size_t)n;
            }
        } else if (strcmp(a, "--chunks") == 0) {
            o->nchunks = 0;
            for (const char *s = v; *s != '\0';) {
                long n = strtol(s, &end, 10);
                if (end == s || n < 1 || n > 256 || o->nchunks == SMB_MAX_CHUNKS)
                    return -1;
                o->chunks[o->nchunks++] = (size_t)n;
                s = *end == ',' ? end + 1 : end;
                if (*end != ',' && *end != '\0')
                    return -1;
            }
            if (o->nchunks == 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

int
main(int argc, char **argv)
{
    smb_opts o;
    smb_procs pr = {.server = 0};
    smb_cell cells[SMB_MAX_CHUNKS];
    sm_client *c = NULL;
    sm_pool *p = NULL;
    char setup_err[200] = "";
    int rv;

    if (smb_parse(argc, argv, &o) != 0) {
        smb_usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(cells, 0, sizeof(cells));
    for (int i = 0; i < o.nchunks; i++)
        cells[i].chunk = o.chunks[i];

    /* Server, then workers, then our first nng use. */
    if (smb_start_server(&pr) != 0)
        return 1;
    if (smb_start_workers(&pr, o.workers, o.prefetch) != 0) {
        smb_stop_all(&pr);
        return 1;
    }
    if ((rv = sm_client_open(&c, pr.url, NULL)) != SM_OK ||
        (rv = sm_pool_open(c, SMB_POOL, &p)) != SM_OK) {
        snprintf(setup_err, sizeof(setup_err), "client/pool open: %s (%s)", sm_errname(rv),
                 sm_errdetail());
        goto report;
    }
    for (int tries = 0;; tries++) { /* every worker in the pool before the first map */
        sm_pool_info info;
        if ((rv = sm_pool_status(p, &info)) != SM_OK) {
            snprintf(setup_err, sizeof(setup_err), "sm_pool_status: %s (%s)", sm_errname(rv),
                     sm_errdetail());
            goto report;
        }
        if (info.workers >= (uint64_t)o.workers)
            break;
        if (tries == 1000) {
            snprintf(setup_err, sizeof(setup_err), "%" PRIu64 " of %d workers joined in 10 s",
                     info.workers, o.workers);
            goto report;
        }
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < o.nchunks; i++)
        smb_run_cell(&o, &pr, p, &cells[i]);

report:
    if (setup_err[0] != '\0')
        for (int i = 0; i < o.nchunks; i++)
            snprintf(cells[i].err, sizeof(cells[i].err), "%s", setup_err);
    if (o.tsv) {
        for (int i = 0; i < o.nchunks; i++) {
            if (cells[i].err[0] != '\0')
                printf("syncmgr\t%zu\t%d\terror\t%s\n", cells[i].chunk, o.prefetch,
                       cells[i].err);
            else
                printf("syncmgr\t%zu\t%d\t%" PRIu64 "\t%.6f\t%.3f\n", cells[i].chunk,
                       o.prefetch, cells[i].inputs, cells[i].seconds, cells[i].cpu_seconds);
        }
    } else {
        printf("bench_pool: map of the task ident (8 bytes in, 8 out) on %d local workers over "
               "ipc://, prefetch %d, %zu tasks a map, %.1f s a cell\n",
               o.workers, o.prefetch, o.tasks_per_map, o.seconds);
        printf("%9s %10s %8s %10s %14s\n", "chunksize", "inputs", "seconds", "tasks/s",
               "cpu us/input");
        for (int i = 0; i < o.nchunks; i++) {
            if (cells[i].err[0] != '\0') {
                printf("%9zu  error: %s\n", cells[i].chunk, cells[i].err);
                continue;
            }
            printf("%9zu %10" PRIu64 " %8.2f %10.0f %14.1f\n", cells[i].chunk, cells[i].inputs,
                   cells[i].seconds, (double)cells[i].inputs / cells[i].seconds,
                   cells[i].cpu_seconds * 1e6 / (double)cells[i].inputs);
        }
    }
    fflush(stdout);
    if (p != NULL && (rv = sm_pool_close(p)) != SM_OK)
        fprintf(stderr, "bench_pool: sm_pool_close: %s\n", sm_errname(rv));
    sm_client_close(c);
    smb_stop_all(&pr);
    return 0;
}
