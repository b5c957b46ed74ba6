/* pool_client.c - sm_pool_client: a command-line pool client that script
 * tests drive (tests/test_pool_*.sh).
 *
 *   sm_pool_client --connect URL --pool NAME [options] CMD ARGS...
 *
 * Every command checks what it gets and says so on stdout; the exit status
 * is 0 when everything was as expected, 1 when not, 2 on bad usage. Task
 * inputs and outputs are decimal text, as tests/pool_tasks.c wants them.
 * Exported: main. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <syncmgr.h>

#define PC_MAX_INPUTS   10000000 /* 10 million inputs: more is a typo */
#define PC_MAX_REPORTED 20       /* wrong results printed, at most */

typedef struct pc_opts {
    const char *url;
    const char *pool;
    size_t chunksize;
    int64_t timeout_ms;
    bool progress;
} pc_opts;

/* The inputs of one map, as decimal text: one buffer, n slices of it. */
typedef struct pc_inputs {
    char *text;
    sm_bytes *in;
    size_t n;
} pc_inputs;

static void
pc_usage(FILE *f)
{
    fprintf(f, "usage: sm_pool_client --connect URL --pool NAME [options] COMMAND ARGS...\n"
               "\n"
               "A pool client for script tests; the tasks are those of tests/pool_tasks.c.\n"
               "\n"
               "  --connect URL      the manager (required)\n"
               "  --pool NAME        the pool (required)\n"
               "  --chunksize C      inputs per task (default 0: the library's choice)\n"
               "  --timeout-ms T     longest one task may run on a worker (default 0: no limit)\n"
               "  --deadline-ms D    give up (exit 1) if the command has not finished after D ms\n"
               "                     (default 0: no limit)\n"
               "  --progress         print 'progress DONE/TOTAL failed=F' on each map progress\n"
               "                     callback, flushed at once\n"
               "  --help             print this help and exit\n"
               "\n"
               "Commands:\n"
               "  map-square N       square 0..N-1; check every result is i*i\n"
               "  map-sleep N MS     run sleep MS on N inputs; check every result is MS\n"
               "  map-whoami N       run whoami on N inputs; count results per host:pid and host\n"
               "  status             print the pool's counters\n"
               "  wait-workers K MS  wait up to MS ms until the pool has at least K workers\n"
               "\n"
               "Exit status: 0 all as expected, 1 not (what was wrong is printed), 2 bad usage.\n");
}

static int64_t
pc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* pc_parse reads a decimal number in [lo, hi]; false if it is not one. */
static bool
pc_parse(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static void
pc_deadline(int sig)
{
    static const char msg[] = "sm_pool_client: the --deadline-ms passed; giving up\n";
    (void)sig;
    ssize_t w = write(1, msg, sizeof(msg) - 1);
    (void)w;
    _exit(1);
}

static void
pc_progress(void *arg, const sm_progress *p)
{
    (void)arg;
    printf("progress %zu/%zu failed=%zu\n", p->done, p->total, p->failed);
    fflush(stdout);
}

static void
pc_fail(const char *what, int rv)
{
    printf("%s: %s (%s)%s%s\n", what, sm_strerror(rv), sm_errname(rv), *sm_errdetail() ? ": " : "",
           sm_errdetail());
}

/* pc_inputs_make makes n inputs in `in` (zeroed by the caller): each the
 * decimal text of its index, or each a copy of fixed when fixed is not NULL.
 * false: out of memory (pc_inputs_free still frees what was made). */
static bool
pc_inputs_make(pc_inputs *in, size_t n, const char *fixed)
{
    size_t width = fixed != NULL ? strlen(fixed) + 1 : 21;
    in->n = n;
    in->text = malloc(n * width);
    in->in = calloc(n, sizeof(*in->in));
    if (in->text == NULL || in->in == NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        char *p = in->text + i * width;
        int len = fixed != NULL ? snprintf(p, width, "%s", fixed) : snprintf(p, width, "%zu", i);
        in->in[i].data = p;
        in->in[i].len = (size_t)len;
    }
    return true;
}

static void
pc_inputs_free(pc_inputs *in)
{
    free(in->text);
    free(in->in);
}

/* pc_map runs task over the inputs into results (n, zeroed by the caller)
 * and times it. Returns sm_pool_map's status; the caller reports it. */
static int
pc_map(sm_pool *p, const pc_opts *o, const char *task, const pc_inputs *in, sm_result *results,
       int64_t *elapsed_ms)
{
    sm_map_opts mo = SM_MAP_OPTS_INIT;
    mo.chunksize = o->chunksize;
    mo.timeout_ms = o->timeout_ms;
    if (o->progress)
        mo.progress = pc_progress;
    int64_t t0 = pc_now_ms();
    int rv = sm_pool_map(p, task, in->in, in->n, results, &mo);
    *elapsed_ms = pc_now_ms() - t0;
    return rv;
}

/* pc_check_results compares each result with want(i) (or with fixed) and
 * prints the first PC_MAX_REPORTED mismatches. Returns the number wrong. */
static size_t
pc_check_results(const char *cmd, const sm_result *results, size_t n, const char *fixed)
{
    size_t wrong = 0;
    char want[32];

    for (size_t i = 0; i < n; i++) {
        const sm_result *r = &results[i];
        if (fixed != NULL)
            snprintf(want, sizeof(want), "%s", fixed);
        else
            snprintf(want, sizeof(want), "%" PRIu64, (uint64_t)i * (uint64_t)i);
        bool ok = r->status == SM_OK && r->data != NULL && r->len == strlen(want) &&
                  memcmp(r->data, want, r->len) == 0;
        if (ok)
            continue;
        if (++wrong > PC_MAX_REPORTED)
            continue;
        if (r->status != SM_OK)
            printf("%s: input %zu failed: %s: %.*s\n", cmd, i, sm_errname(r->status),
                   r->data != NULL ? (int)r->len : 0, r->data != NULL ? (char *)r->data : "");
        else
            printf("%s: input %zu: got '%.*s', want '%s'\n", cmd, i,
                   r->data != NULL ? (int)(r->len > 64 ? 64 : r->len) : 0,
                   r->data != NULL ? (char *)r->data : "", want);
    }
    if (wrong > PC_MAX_REPORTED)
        printf("%s: ... and %zu more wrong\n", cmd, wrong - PC_MAX_REPORTED);
    return wrong;
}

/* pc_filled: whether the map filled the results (a filled result's data is
 * never NULL; after a transport status every result is cleared). */
static bool
pc_filled(const sm_result *results, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (results[i].data != NULL)
            return true;
    return false;
}

/* map-square N, map-sleep N MS: map and check each of the N results once. */
static int
pc_cmd_map_check(sm_pool *p, const pc_opts *o, const char *cmd, size_t n, const char *ms)
{
    pc_inputs in = {0};
    sm_result *results = calloc(n ? n : 1, sizeof(*results));
    int64_t elapsed;
    int code = 1;

    if (results == NULL || !pc_inputs_make(&in, n, ms)) {
        printf("%s: out of memory\n", cmd);
        goto out;
    }
    int rv = pc_map(p, o, ms != NULL ? "sleep" : "square", &in, results, &elapsed);
    if (rv != SM_OK && !pc_filled(results, n)) {
        pc_fail(cmd, rv); /* a transport status: no results were filled */
        goto out;
    }
    size_t wrong = pc_check_results(cmd, results, n, ms);
    if (rv != SM_OK)
        printf("%s: the map returned %s: %s\n", cmd, sm_errname(rv), sm_errdetail());
    if (wrong > 0 || rv != SM_OK) {
        printf("%s: %zu of %zu results wrong (%" PRId64 " ms)\n", cmd, wrong, n, elapsed);
        goto out;
    }
    printf("%s: %zu results correct in %" PRId64 " ms (%.0f inputs/s)\n", cmd, n, elapsed,
           elapsed > 0 ? (double)n * 1000.0 / (double)elapsed : 0.0);
    code = 0;
out:
    if (results != NULL)
        sm_results_clear(results, n);
    free(results);
    pc_inputs_free(&in);
    return code;
}

/* One distinct whoami answer and how many inputs it gave. */
typedef struct pc_count {
    char name[200];
    size_t count;
} pc_count;

static void
pc_count_add(pc_count *counts, size_t *ncounts, const char *name, size_t len)
{
    if (len >= sizeof(counts[0].name))
        len = sizeof(counts[0].name) - 1;
    for (size_t i = 0; i < *ncounts; i++) {
        if (strlen(counts[i].name) == len && memcmp(counts[i].name, name, len) == 0) {
            counts[i].count++;
            return;
        }
    }
    memcpy(counts[*ncounts].name, name, len);
    counts[*ncounts].name[len] = '\0';
    counts[*ncounts].count = 1;
    (*ncounts)++;
}

/* map-whoami N: who ran what. Every input must succeed. */
static int
pc_cmd_map_whoami(sm_pool *p, const pc_opts *o, size_t n)
{
    pc_inputs in = {0};
    sm_result *results = calloc(n ? n : 1, sizeof(*results));
    pc_count *procs = calloc(n ? n : 1, sizeof(*procs));
    pc_count *hosts = calloc(n ? n : 1, sizeof(*hosts));
    size_t nprocs = 0, nhosts = 0, failed = 0;
    int64_t elapsed;
    int code = 1;

    if (results == NULL || procs == NULL || hosts == NULL || !pc_inputs_make(&in, n, NULL)) {
        printf("map-whoami: out of memory\n");
        goto out;
    }
    int rv = pc_map(p, o, "whoami", &in, results, &elapsed);
    if (rv != SM_OK && !pc_filled(results, n)) {
        pc_fail("map-whoami", rv);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const sm_result *r = &results[i];
        if (r->status != SM_OK || r->data == NULL) {
            if (++failed <= PC_MAX_REPORTED)
                printf("map-whoami: input %zu failed: %s: %.*s\n", i, sm_errname(r->status),
                       r->data != NULL ? (int)r->len : 0, r->data != NULL ? (char *)r->data : "");
            continue;
        }
        const char *s = r->data;
        pc_count_add(procs, &nprocs, s, r->len);
        const char *colon = memchr(s, ':', r->len);
        pc_count_add(hosts, &nhosts, s, colon != NULL ? (size_t)(colon - s) : r->len);
    }
    for (size_t i = 0; i < nprocs; i++)
        printf("map-whoami: process %s ran %zu\n", procs[i].name, procs[i].count);
    for (size_t i = 0; i < nhosts; i++)
        printf("map-whoami: host %s ran %zu\n", hosts[i].name, hosts[i].count);
    if (failed > 0 || rv != SM_OK) {
        printf("map-whoami: %zu of %zu inputs failed (%s)\n", failed, n, sm_errname(rv));
        goto out;
    }
    printf("map-whoami: %zu results from %zu process(es) on %zu host(s) in %" PRId64 " ms\n", n,
           nprocs, nhosts, elapsed);
    code = 0;
out:
    if (results != NULL)
        sm_results_clear(results, n);
    free(results);
    free(procs);
    free(hosts);
    pc_inputs_free(&in);
    return code;
}

static int
pc_cmd_status(sm_pool *p)
{
    sm_pool_info pi;
    int rv = sm_pool_status(p, &pi);
    if (rv != SM_OK) {
        pc_fail("status", rv);
        return 1;
    }
    printf("queued=%" PRIu64 " running=%" PRIu64 " done=%" PRIu64 " failed=%" PRIu64
           " cancelled=%" PRIu64 " workers=%" PRIu64 " results=%" PRIu64 " requeued=%" PRIu64 "\n",
           pi.queued, pi.running, pi.done, pi.failed, pi.cancelled, pi.workers, pi.results,
           pi.requeued);
    return 0;
}

/* wait-workers K MS: read the status every 50 ms until workers >= K. */
static int
pc_cmd_wait_workers(sm_pool *p, uint64_t k, int64_t timeout_ms)
{
    int64_t deadline = pc_now_ms() + timeout_ms;
    sm_pool_info pi = {0};
    int rv = SM_OK;

    for (;;) {
        rv = sm_pool_status(p, &pi);
        if (rv == SM_OK && pi.workers >= k) {
            printf("wait-workers: %" PRIu64 " worker(s) in the pool\n", pi.workers);
            return 0;
        }
        if (pc_now_ms() >= deadline)
            break;
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (rv != SM_OK)
        pc_fail("wait-workers: status", rv);
    printf("wait-workers: only %" PRIu64 " of %" PRIu64 " worker(s) after %" PRId64 " ms\n",
           pi.workers, k, timeout_ms);
    return 1;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"connect", required_argument, NULL, 'c'},
        {"pool", required_argument, NULL, 'p'},
        {"chunksize", required_argument, NULL, 'k'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"deadline-ms", required_argument, NULL, 'd'},
        {"progress", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    pc_opts o = {0};
    int64_t v, deadline_ms = 0;
    int opt;

    while ((opt = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            o.url = optarg;
            break;
        case 'p':
            o.pool = optarg;
            break;
        case 'k':
            if (!pc_parse(optarg, 0, 1 << 20, &v)) {
                fprintf(stderr, "sm_pool_client: --chunksize wants 0 to %d\n", 1 << 20);
                return 2;
            }
            o.chunksize = (size_t)v;
            break;
        case 't':
            if (!pc_parse(optarg, 0, INT64_MAX, &o.timeout_ms)) {
                fprintf(stderr, "sm_pool_client: --timeout-ms wants a number of ms\n");
                return 2;
            }
            break;
        case 'd':
            if (!pc_parse(optarg, 0, INT32_MAX, &deadline_ms)) {
                fprintf(stderr, "sm_pool_client: --deadline-ms wants a number of ms\n");
                return 2;
            }
            break;
        case 'P':
            o.progress = true;
            break;
        case 'h':
            pc_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "sm_pool_client: try --help\n");
            return 2;
        }
    }
    if (o.url == NULL || o.pool == NULL || optind >= argc) {
        fprintf(stderr, "sm_pool_client: --connect, --pool and a command are required (try "
                        "--help)\n");
        return 2;
    }
    const char *cmd = argv[optind];
    char **args = argv + optind + 1;
    int nargs = argc - optind - 1;
    int64_t n = 0, k = 0, ms = 0;
    char msbuf[32];

    if (strcmp(cmd, "map-square") == 0 || strcmp(cmd, "map-whoami") == 0) {
        if (nargs != 1 || !pc_parse(args[0], 1, PC_MAX_INPUTS, &n)) {
            fprintf(stderr, "sm_pool_client: %s wants N, 1 to %d\n", cmd, PC_MAX_INPUTS);
            return 2;
        }
    } else if (strcmp(cmd, "map-sleep") == 0) {
        if (nargs != 2 || !pc_parse(args[0], 1, PC_MAX_INPUTS, &n) ||
            !pc_parse(args[1], 0, 3600000, &ms)) {
            fprintf(stderr, "sm_pool_client: map-sleep wants N (1 to %d) and MS\n", PC_MAX_INPUTS);
            return 2;
        }
    } else if (strcmp(cmd, "status") == 0) {
        if (nargs != 0) {
            fprintf(stderr, "sm_pool_client: status takes no arguments\n");
            return 2;
        }
    } else if (strcmp(cmd, "wait-workers") == 0) {
        if (nargs != 2 || !pc_parse(args[0], 0, INT32_MAX, &k) ||
            !pc_parse(args[1], 0, INT32_MAX, &ms)) {
            fprintf(stderr, "sm_pool_client: wait-workers wants K and TIMEOUT_MS\n");
            return 2;
        }
    } else {
        fprintf(stderr, "sm_pool_client: unknown command '%s' (try --help)\n", cmd);
        return 2;
    }

    if (deadline_ms > 0) {
        struct itimerval it = {
            .it_value = {.tv_sec = deadline_ms / 1000, .tv_usec = (deadline_ms % 1000) * 1000}};
        signal(SIGALRM, pc_deadline);
        setitimer(ITIMER_REAL, &it, NULL);
    }

    sm_client *c = NULL;
    sm_pool *p = NULL;
    int rv = sm_client_open(&c, o.url, NULL);
    if (rv != SM_OK) {
        printf("sm_pool_client: cannot connect to %s: %s%s%s\n", o.url, sm_strerror(rv),
               *sm_errdetail() ? ": " : "", sm_errdetail());
        return 1;
    }
    rv = sm_pool_open(c, o.pool, &p);
    if (rv != SM_OK) {
        pc_fail("sm_pool_client: pool open", rv);
        sm_client_close(c);
        return 1;
    }

    int code;
    if (strcmp(cmd, "map-square") == 0) {
        code = pc_cmd_map_check(p, &o, "map-square", (size_t)n, NULL);
    } else if (strcmp(cmd, "map-sleep") == 0) {
        snprintf(msbuf, sizeof(msbuf), "%" PRId64, ms); /* as the task prints it back */
        code = pc_cmd_map_check(p, &o, "map-sleep", (size_t)n, msbuf);
    } else if (strcmp(cmd, "map-whoami") == 0) {
        code = pc_cmd_map_whoami(p, &o, (size_t)n);
    } else if (strcmp(cmd, "status") == 0) {
        code = pc_cmd_status(p);
    } else {
        code = pc_cmd_wait_workers(p, (uint64_t)k, ms);
    }
    fflush(stdout);

    sm_pool_close(p);
    sm_client_close(c);
    return code;
}
