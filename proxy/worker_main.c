/* worker_main.c - syncmgr-worker: runs N worker processes that serve a pool's
 * tasks from shared libraries, and keeps them running.
 *
 * The parent never uses nng: nng 1.5.2 aborts in a process forked from one
 * that has used it, and the parent forks a fresh worker every time one dies.
 * It only dlopen()s the task libraries (to fail fast on a bad one; dlopen does
 * not touch nng), forks, and supervises. Each child opens its own client,
 * makes an sm_worker, lets every library register its tasks and runs.
 *
 * Signals. The parent blocks SIGCHLD, SIGTERM and SIGINT and takes them with
 * sigtimedwait(), whose timeout is the next pending restart, so it sleeps
 * until something happens. A child blocks SIGTERM and SIGINT before its first
 * nng call, so nng's threads inherit the mask, and a thread of its own
 * sigwait()s for them and calls sm_worker_stop(): the task in hand finishes
 * and is reported before the child exits.
 *
 * Restarts back off per worker slot: 100 ms, doubled after each death within
 * 1 s of starting, at most 5 s; a worker that lived 10 s resets it.
 * Exported: main. */
#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <syncmgr.h>

#define RUNNER_BACKOFF_MIN_MS 100
#define RUNNER_BACKOFF_MAX_MS 5000
#define RUNNER_QUICK_DEATH_MS 1000  /* died this soon after starting: back off more */
#define RUNNER_HEALTHY_MS     10000 /* lived this long: back to the shortest delay */
#define RUNNER_STOP_GRACE_MS  10000 /* SIGTERM, then SIGKILL after this */
#define RUNNER_MAX_PROCESSES  4096
#define RUNNER_MAX_PREFETCH   1024

/* Exit statuses of a worker process (3 is libsyncmgr's, see exit_on_overrun). */
enum {
    RUNNER_EXIT_OK = 0,       /* stopped by SIGTERM/SIGINT, or the pool let it go */
    RUNNER_EXIT_OVERRUN = 3,  /* a task ran 1 s past its timeout (sm_worker_opts) */
    RUNNER_EXIT_CONNECT = 10, /* cannot connect to the manager */
    RUNNER_EXIT_SETUP = 11,   /* cannot join the pool or a library's init failed */
    RUNNER_EXIT_RUN = 12,     /* sm_worker_run ended with an error */
};

enum { LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARN, LOG_NONE };
static const char *const runner_log_names[] = {"debug", "info", "notice", "warn", "none"};
static int runner_log_level = LOG_NOTICE;

typedef int (*runner_init_fn)(sm_worker *w);

/* One task library: its path as given and its sm_tasks_init. */
typedef struct runner_lib {
    const char *path;
    void *handle;
    runner_init_fn init;
} runner_lib;

/* One worker process slot. pid 0: not running, to be started at restart_ms. */
typedef struct runner_slot {
    pid_t pid;
    int64_t started_ms;
    int64_t restart_ms;
    int64_t backoff_ms;
} runner_slot;

typedef struct runner {
    const char *url;
    const char *pool;
    runner_lib *libs;
    size_t nlibs;
    int processes;
    int prefetch;
    int64_t lease_ms;
    runner_slot *slots;
    pid_t parent;
} runner;

/* What a worker's signal thread shares with its main thread, under mtx. */
typedef struct runner_stopper {
    pthread_mutex_t mtx;
    sigset_t set;
    sm_worker *w; /* set while sm_worker_run may be running */
    bool stop;    /* a stop signal came: do not start running */
    bool done;    /* run has returned: a signal now only wakes the thread */
    int index;
} runner_stopper;

static void runner_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* runner_log writes one line to stderr (time, level, program[pid], text) if
 * level is at least --log-level. One fprintf per line, so lines from several
 * processes sharing stderr do not interleave. */
static void
runner_log(int level, const char *fmt, ...)
{
    char msg[1024], when[64];
    struct timeval tv;
    struct tm tm;
    va_list ap;

    if (level < runner_log_level)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03ldZ %-6s syncmgr-worker[%ld] %s\n", when, (long)(tv.tv_usec / 1000),
            runner_log_names[level], (long)getpid(), msg);
}

static int64_t
runner_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
runner_usage(FILE *f)
{
    fprintf(f,
            "usage: syncmgr-worker --connect URL --pool NAME --tasks LIB.so [--tasks LIB2.so ...]\n"
            "                      [options]\n"
            "\n"
            "Runs worker processes that serve the tasks of pool NAME on the syncmgrd at URL,\n"
            "and restarts any that exits. The N processes share this host's work: each one\n"
            "takes tasks from the pool on its own, so N is how many tasks this host runs at\n"
            "once. Start one syncmgr-worker per host.\n"
            "\n"
            "  --connect URL      the manager: tcp://HOST:PORT or ipc:///path (required)\n"
            "  --pool NAME        the pool to serve, 1 to 255 bytes (required)\n"
            "  --tasks LIB.so     a shared library of tasks (required; repeatable). A path\n"
            "                     without '/' is looked up as dlopen() does unless a file of\n"
            "                     that name is in the current directory.\n"
            "  --processes N      worker processes, 1 to %d (default: the number of online\n"
            "                     CPUs)\n"
            "  --prefetch P       tasks each process leases at a time, 1 to %d (default 1;\n"
            "                     results go back with the next lease; never more than\n"
            "                     the queued tasks divided by the workers)\n"
            "  --lease-ms MS      each process's session lease, 100 to 600000 (default 3000):\n"
            "                     a process that dies or loses its host is noticed after about\n"
            "                     this long, and the tasks it held go to other workers\n"
            "  --log-level LEVEL  debug, info, notice (default), warn or none; the log goes\n"
            "                     to stderr, one line per event\n"
            "  --version          print the version and exit\n"
            "  --help             print this help and exit\n"
            "\n"
            "A task library exports\n"
            "    int sm_tasks_init(sm_worker *w);\n"
            "which registers its tasks with sm_worker_register(w, \"name\", fn, arg) and\n"
            "returns SM_OK (see syncmgr.h). Each worker process calls it once per library\n"
            "at start; task names must not repeat across libraries.\n"
            "\n"
            "A worker process exits with status 0 when stopped, 3 when a task ran 1 s past\n"
            "its timeout, 10 when it cannot connect, 11 when it cannot join the pool or a\n"
            "library's sm_tasks_init fails, 12 when it loses the manager while running.\n"
            "Whatever the cause, it is restarted after 100 ms, doubled for each death within\n"
            "1 s of starting up to 5 s, and back to 100 ms once a process has lived 10 s.\n"
            "\n"
            "SIGTERM or SIGINT stops every worker (each finishes and reports the task in\n"
            "hand; any still running after 10 s is killed) and exits with status 0.\n",
            RUNNER_MAX_PROCESSES, RUNNER_MAX_PREFETCH);
}

/* runner_parse_int reads a decimal integer in [lo, hi]; false if it is not one. */
static bool
runner_parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* ------------------------------------------------------------ the worker */

static void *
runner_stopper_main(void *arg)
{
    runner_stopper *s = arg;
    int sig = 0;

    while (sigwait(&s->set, &sig) != 0)
        ;
    pthread_mutex_lock(&s->mtx);
    if (!s->done) {
        s->stop = true;
        runner_log(LOG_INFO, "worker %d: signal %d: stopping after the task in hand", s->index,
                   sig);
        if (s->w != NULL) {
            int rv = sm_worker_stop(s->w);
            if (rv != SM_OK)
                runner_log(LOG_WARN, "worker %d: sm_worker_stop: %s", s->index, sm_strerror(rv));
        }
    }
    pthread_mutex_unlock(&s->mtx);
    return NULL;
}

/* runner_stopper_end wakes the signal thread if no signal did, and waits
 * for it: it may be inside sm_worker_stop(w), which must return before w is
 * freed. */
static void
runner_stopper_end(runner_stopper *s, pthread_t tid)
{
    pthread_mutex_lock(&s->mtx);
    s->done = true;
    pthread_mutex_unlock(&s->mtx);
    pthread_kill(tid, SIGTERM);
    pthread_join(tid, NULL);
}

/* runner_child is a worker process's whole life; it returns the process's
 * exit status (RUNNER_EXIT_*) and has logged why on failure. */
static int
runner_child(const runner *r, int index)
{
    runner_stopper st = {.index = index};
    sm_client *c = NULL;
    sm_worker *w = NULL;
    pthread_t tid;
    int code = RUNNER_EXIT_SETUP;
    int rv;

    /* Before any nng call, so that nng's threads inherit the mask. */
    sigemptyset(&st.set);
    sigaddset(&st.set, SIGTERM);
    sigaddset(&st.set, SIGINT);
    pthread_sigmask(SIG_SETMASK, &st.set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A worker outlives no supervisor: if the parent dies, stop as on SIGTERM. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != r->parent)
        return RUNNER_EXIT_OK;
    pthread_mutex_init(&st.mtx, NULL);
    rv = pthread_create(&tid, NULL, runner_stopper_main, &st);
    if (rv != 0) {
        runner_log(LOG_WARN, "worker %d: cannot start the signal thread: %s", index, strerror(rv));
        return RUNNER_EXIT_SETUP;
    }

    sm_client_opts co = SM_CLIENT_OPTS_INIT;
    co.lease_ms = r->lease_ms;
    rv = sm_client_open(&c, r->url, &co);
    if (rv != SM_OK) {
        runner_log(LOG_WARN, "worker %d: cannot connect to %s: %s%s%s", index, r->url,
                   sm_strerror(rv), *sm_errdetail() ? ": " : "", sm_errdetail());
        code = RUNNER_EXIT_CONNECT;
        goto out;
    }
    rv = sm_worker_new(c, r->pool, &w);
    if (rv != SM_OK) {
        runner_log(LOG_WARN, "worker %d: cannot make a worker for pool '%s': %s%s%s", index,
                   r->pool, sm_strerror(rv), *sm_errdetail() ? ": " : "", sm_errdetail());
        goto out;
    }
    for (size_t i = 0; i < r->nlibs; i++) {
        rv = r->libs[i].init(w);
        if (rv != SM_OK) {
            runner_log(LOG_WARN, "worker %d: %s: %s failed: %s (%s)%s%s", index, r->libs[i].path,
                       SM_TASKS_INIT_SYMBOL, sm_strerror(rv), sm_errname(rv),
                       *sm_errdetail() ? ": " : "", sm_errdetail());
            goto out;
        }
    }

    pthread_mutex_lock(&st.mtx);
    bool stopped = st.stop;
    st.w = w;
    pthread_mutex_unlock(&st.mtx);
    if (stopped) {
        code = RUNNER_EXIT_OK; /* told to stop while connecting: nothing to finish */
        goto out;
    }
    runner_log(LOG_INFO, "worker %d: serving pool '%s' at %s", index, r->pool, r->url);
    sm_worker_opts wo = SM_WORKER_OPTS_INIT;
    wo.prefetch = r->prefetch;
    wo.exit_on_overrun = true;
    rv = sm_worker_run(w, &wo);
    if (rv == SM_OK) {
        code = RUNNER_EXIT_OK;
    } else {
        runner_log(LOG_WARN, "worker %d: stopped serving pool '%s': %s (%s)%s%s", index, r->pool,
                   sm_strerror(rv), sm_errname(rv), *sm_errdetail() ? ": " : "", sm_errdetail());
        code = RUNNER_EXIT_RUN;
    }
out:
    runner_stopper_end(&st, tid);
    sm_worker_free(w);
    sm_client_close(c);
    pthread_mutex_destroy(&st.mtx);
    return code;
}

/* ------------------------------------------------------------ the parent */

/* runner_describe writes what a waitpid status means into buf. */
static void
runner_describe(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status)) {
        snprintf(buf, size, "killed by signal %d (%s)%s", WTERMSIG(status),
                 strsignal(WTERMSIG(status)), WCOREDUMP(status) ? ", core dumped" : "");
        return;
    }
    int code = WEXITSTATUS(status);
    const char *why = "";
    switch (code) {
    case RUNNER_EXIT_OK:
        why = " (stopped)";
        break;
    case RUNNER_EXIT_OVERRUN:
        why = " (a task overran its timeout)";
        break;
    case RUNNER_EXIT_CONNECT:
        why = " (cannot connect)";
        break;
    case RUNNER_EXIT_SETUP:
        why = " (cannot join the pool or load its tasks)";
        break;
    case RUNNER_EXIT_RUN:
        why = " (lost the pool)";
        break;
    default:
        break;
    }
    snprintf(buf, size, "exited with status %d%s", code, why);
}

/* runner_back_off doubles the slot's next restart delay, up to the maximum. */
static void
runner_back_off(runner_slot *s)
{
    s->backoff_ms *= 2;
    if (s->backoff_ms > RUNNER_BACKOFF_MAX_MS)
        s->backoff_ms = RUNNER_BACKOFF_MAX_MS;
}

/* runner_spawn forks worker slot i. A failed fork is logged and retried
 * with the slot's backoff. */
static void
runner_spawn(runner *r, int i)
{
    runner_slot *s = &r->slots[i];
    int64_t now = runner_now_ms();

    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    if (pid < 0) {
        s->restart_ms = now + s->backoff_ms;
        runner_log(LOG_WARN, "worker %d: fork: %s; retrying in %" PRId64 " ms", i + 1,
                   strerror(errno), s->backoff_ms);
        runner_back_off(s);
        return;
    }
    if (pid == 0)
        exit(runner_child(r, i + 1));
    s->pid = pid;
    s->started_ms = now;
    runner_log(LOG_NOTICE, "worker %d (pid %ld) started", i + 1, (long)pid);
}

/* runner_reap collects every child that has exited. While running it
 * schedules each one's restart; while stopping it only logs. */
static int
runner_reap(runner *r, bool stopping)
{
    int reaped = 0, status;
    pid_t pid;
    char why[128];

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int i;
        for (i = 0; i < r->processes; i++)
            if (r->slots[i].pid == pid)
                break;
        if (i == r->processes)
            continue; /* not one of ours (cannot happen: we start no others) */
        runner_slot *s = &r->slots[i];
        int64_t now = runner_now_ms(), lived = now - s->started_ms;
        s->pid = 0;
        reaped++;
        runner_describe(status, why, sizeof(why));
        if (stopping) {
            runner_log(WIFEXITED(status) && WEXITSTATUS(status) == 0 ? LOG_NOTICE : LOG_WARN,
                       "worker %d (pid %ld) %s", i + 1, (long)pid, why);
            continue;
        }
        if (lived >= RUNNER_HEALTHY_MS)
            s->backoff_ms = RUNNER_BACKOFF_MIN_MS;
        int64_t delay = s->backoff_ms;
        if (lived < RUNNER_QUICK_DEATH_MS)
            runner_back_off(s);
        s->restart_ms = now + delay;
        runner_log(LOG_WARN,
                   "worker %d (pid %ld) %s after %" PRId64 ".%03d s; restarting in %" PRId64 " ms",
                   i + 1, (long)pid, why, lived / 1000, (int)(lived % 1000), delay);
    }
    return reaped;
}

static int
runner_alive(const runner *r)
{
    int n = 0;
    for (int i = 0; i < r->processes; i++)
        n += r->slots[i].pid != 0;
    return n;
}

/* runner_wait takes the next of the signals in set, waiting at most
 * timeout_ms (-1: no limit). Returns the signal, or 0 on timeout. */
static int
runner_wait(const sigset_t *set, int64_t timeout_ms)
{
    for (;;) {
        int sig;
        if (timeout_ms < 0) {
            sig = sigwaitinfo(set, NULL);
        } else {
            struct timespec ts = {.tv_sec = timeout_ms / 1000,
                                  .tv_nsec = (long)(timeout_ms % 1000) * 1000000};
            sig = sigtimedwait(set, NULL, &ts);
        }
        if (sig > 0)
            return sig;
        if (errno == EAGAIN)
            return 0;
        /* EINTR: a signal outside set (SIGSTOP/SIGCONT): wait again. */
    }
}

/* runner_stop sends SIGTERM to every worker, waits up to 10 s for them
 * (a second SIGTERM/SIGINT cuts that short), then SIGKILLs the rest. */
static void
runner_stop(runner *r, const sigset_t *set)
{
    for (int i = 0; i < r->processes; i++)
        if (r->slots[i].pid != 0)
            kill(r->slots[i].pid, SIGTERM);
    int64_t deadline = runner_now_ms() + RUNNER_STOP_GRACE_MS;
    runner_reap(r, true);
    while (runner_alive(r) > 0) {
        int64_t left = deadline - runner_now_ms();
        if (left <= 0) {
            runner_log(LOG_WARN, "%d worker(s) still running after %d s: killing them",
                       runner_alive(r), RUNNER_STOP_GRACE_MS / 1000);
            break;
        }
        int sig = runner_wait(set, left);
        if (sig == SIGTERM || sig == SIGINT) {
            runner_log(LOG_WARN, "signal %d again: killing the workers now", sig);
            break;
        }
        runner_reap(r, true);
    }
    for (int i = 0; i < r->processes; i++)
        if (r->slots[i].pid != 0)
            kill(r->slots[i].pid, SIGKILL);
    while (runner_alive(r) > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0 && errno == ECHILD)
            break;
        if (pid < 0)
            continue;
        for (int i = 0; i < r->processes; i++) {
            if (r->slots[i].pid == pid) {
                char why[128];
                runner_describe(status, why, sizeof(why));
                runner_log(LOG_WARN, "worker %d (pid %ld) %s", i + 1, (long)pid, why);
                r->slots[i].pid = 0;
            }
        }
    }
}

/* runner_supervise starts every worker and keeps them running until SIGTERM
 * or SIGINT; then stops them. */
static void
runner_supervise(runner *r, const sigset_t *set)
{
    for (int i = 0; i < r->processes; i++) {
        r->slots[i].backoff_ms = RUNNER_BACKOFF_MIN_MS;
        r->slots[i].restart_ms = 0;
    }
    for (;;) {
        int64_t now = runner_now_ms(), next = -1;
        for (int i = 0; i < r->processes; i++) {
            runner_slot *s = &r->slots[i];
            if (s->pid == 0 && s->restart_ms <= now)
                runner_spawn(r, i);
            if (s->pid == 0 && (next < 0 || s->restart_ms < next))
                next = s->restart_ms;
        }
        int64_t timeout = -1;
        if (next >= 0) {
            now = runner_now_ms();
            timeout = next > now ? next - now : 0;
        }
        int sig = runner_wait(set, timeout);
        if (sig == SIGCHLD) {
            runner_reap(r, false);
        } else if (sig == SIGTERM || sig == SIGINT) {
            runner_log(LOG_NOTICE, "signal %d: stopping %d worker(s)", sig, runner_alive(r));
            runner_stop(r, set);
            return;
        }
    }
}

/* runner_load dlopen()s lib->path and finds its sm_tasks_init. Returns false
 * (and has printed why) if it cannot. */
static bool
runner_load(runner_lib *lib, const runner_lib *loaded, size_t nloaded)
{
    char local[4096];
    const char *path = lib->path;
    struct stat sb;

    /* dlopen("x.so") searches the library path, not the current directory;
     * a user naming a file here means that file. */
    if (strchr(path, '/') == NULL && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
        snprintf(local, sizeof(local), "./%s", path);
        path = local;
    }
    dlerror();
    lib->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib->handle == NULL) {
        fprintf(stderr, "syncmgr-worker: --tasks %s: cannot load it: %s\n", lib->path, dlerror());
        return false;
    }
    for (size_t i = 0; i < nloaded; i++) {
        if (loaded[i].handle == lib->handle) {
            fprintf(stderr, "syncmgr-worker: --tasks %s: the same library as --tasks %s\n",
                    lib->path, loaded[i].path);
            return false;
        }
    }
    dlerror();
    void *sym = dlsym(lib->handle, SM_TASKS_INIT_SYMBOL);
    const char *err = dlerror();
    if (sym == NULL || err != NULL) {
        fprintf(stderr,
                "syncmgr-worker: --tasks %s: it does not export %s (%s); a task library "
                "defines int %s(sm_worker *w)\n",
                lib->path, SM_TASKS_INIT_SYMBOL, err != NULL ? err : "symbol is NULL",
                SM_TASKS_INIT_SYMBOL);
        return false;
    }
    lib->init = (runner_init_fn)sym;
    return true;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"connect", required_argument, NULL, 'c'},
        {"pool", required_argument, NULL, 'p'},
        {"tasks", required_argument, NULL, 't'},
        {"processes", required_argument, NULL, 'n'},
        {"prefetch", required_argument, NULL, 'f'},
        {"lease-ms", required_argument, NULL, 'l'},
        {"log-level", required_argument, NULL, 'L'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    runner r = {.prefetch = 1, .lease_ms = 3000};
    int64_t v;
    int opt, code = 2;

    r.libs = calloc((size_t)argc + 1, sizeof(*r.libs));
    if (r.libs == NULL) {
        fprintf(stderr, "syncmgr-worker: out of memory\n");
        return 1;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    r.processes = ncpu < 1 ? 1 : ncpu > RUNNER_MAX_PROCESSES ? RUNNER_MAX_PROCESSES : (int)ncpu;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            r.url = optarg;
            break;
        case 'p':
            r.pool = optarg;
            break;
        case 't':
            r.libs[r.nlibs++].path = optarg;
            break;
        case 'n':
            if (!runner_parse_int(optarg, 1, RUNNER_MAX_PROCESSES, &v)) {
                fprintf(stderr, "syncmgr-worker: --processes wants 1 to %d\n",
                        RUNNER_MAX_PROCESSES);
                goto out;
            }
            r.processes = (int)v;
            break;
        case 'f':
            if (!runner_parse_int(optarg, 1, RUNNER_MAX_PREFETCH, &v)) {
                fprintf(stderr, "syncmgr-worker: --prefetch wants 1 to %d\n", RUNNER_MAX_PREFETCH);
                goto out;
            }
            r.prefetch = (int)v;
            break;
        case 'l':
            if (!runner_parse_int(optarg, 100, 600000, &v)) {
                fprintf(stderr, "syncmgr-worker: --lease-ms wants 100 to 600000\n");
                goto out;
            }
            r.lease_ms = v;
            break;
        case 'L': {
            int i;
            for (i = 0; i <= LOG_NONE; i++)
                if (strcmp(optarg, runner_log_names[i]) == 0)
                    break;
            if (i > LOG_NONE) {
                fprintf(stderr,
                        "syncmgr-worker: unknown log level '%s' (debug, info, notice, "
                        "warn or none)\n",
                        optarg);
                goto out;
            }
            runner_log_level = i;
            break;
        }
        case 'V':
            printf("syncmgr-worker %d.%d.%d\n", SM_VERSION_MAJOR, SM_VERSION_MINOR,
                   SM_VERSION_PATCH);
            code = 0;
            goto out;
        case 'h':
            runner_usage(stdout);
            code = 0;
            goto out;
        default:
            fprintf(stderr, "syncmgr-worker: try --help\n");
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "syncmgr-worker: unexpected argument '%s' (try --help)\n", argv[optind]);
        goto out;
    }
    if (r.url == NULL || r.pool == NULL || r.nlibs == 0) {
        fprintf(stderr, "syncmgr-worker: --connect, --pool and --tasks are required (try "
                        "--help)\n");
        goto out;
    }
    if (r.url[0] == '\0' || strstr(r.url, "://") == NULL) {
        fprintf(stderr,
                "syncmgr-worker: --connect wants a URL such as tcp://HOST:PORT or "
                "ipc:///path, not '%s'\n",
                r.url);
        goto out;
    }
    size_t plen = strlen(r.pool);
    if (plen == 0 || plen > 255) {
        fprintf(stderr, "syncmgr-worker: --pool wants a name of 1 to 255 bytes\n");
        goto out;
    }
    /* Fail fast on a library that cannot serve, here rather than in every
     * worker forever. dlopen() does not touch nng, so forking stays safe. */
    for (size_t i = 0; i < r.nlibs; i++) {
        if (!runner_load(&r.libs[i], r.libs, i)) {
            code = 1;
            goto out;
        }
    }
    r.slots = calloc((size_t)r.processes, sizeof(*r.slots));
    if (r.slots == NULL) {
        fprintf(stderr, "syncmgr-worker: out of memory\n");
        code = 1;
        goto out;
    }

    /* Taken by sigtimedwait() only. SIGCHLD must not be ignored, or the
     * kernel reaps children before we learn how they ended. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGCHLD, SIG_DFL);
    r.parent = getpid();

    runner_log(LOG_NOTICE,
               "serving pool '%s' at %s: %d process(es), prefetch %d, lease %" PRId64
               " ms, %zu task librar%s",
               r.pool, r.url, r.processes, r.prefetch, r.lease_ms, r.nlibs,
               r.nlibs == 1 ? "y" : "ies");
    runner_supervise(&r, &set);
    runner_log(LOG_NOTICE, "stopped");
    code = 0;
out:
    free(r.slots);
    free(r.libs);
    return code;
}
