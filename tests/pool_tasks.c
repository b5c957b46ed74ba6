/* pool_tasks.c - task functions for the pool tests, built as a module that
 * syncmgr-worker loads (--tasks) and that tests link into their own
 * workers through sm_tasks_init.
 *
 * Numbers travel as decimal text. Tasks:
 *   square N        -> N*N
 *   sum A B ...     -> A+B+...            (starmap)
 *   fail MSG        -> fails with "fail: MSG"
 *   crash X         -> abort()s the worker when X is "crash", else returns X
 *   sleep MS        -> sleeps MS ms, returns MS
 *   echo X          -> X
 *   count DICT KEY  -> increments KEY in the named dict DICT, returns the
 *                      new count (the task's effect, for exactly-once checks)
 *   whoami X        -> "HOST:PID" of the worker
 *   nonum X         -> fails unless X is a number; else X
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <syncmgr.h>

int sm_tasks_init(sm_worker *w) SM_API;

/* arg_int parses argument i as a decimal int64; false if it is not one. */
static bool
arg_int(const sm_bytes *argv, int i, int64_t *out)
{
    char buf[32];
    if (argv[i].len == 0 || argv[i].len >= sizeof(buf))
        return false;
    memcpy(buf, argv[i].data, argv[i].len);
    buf[argv[i].len] = '\0';
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (*end != '\0')
        return false;
    *out = v;
    return true;
}

static int
return_int(sm_task *t, int64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%" PRId64, v);
    return sm_task_return(t, buf, (size_t)n);
}

static int
task_square(sm_task *t, int argc, const sm_bytes *argv, void *arg)
{
    (void)arg;
    int64_t v;
    if (argc != 1 || !arg_int(argv, 0, &v))
        return sm_task_error(t, "square: wants one number");
    return return_int(t, v * v);
}

static int
task_sum(sm_task *t, int argc, const sm_bytes *argv, void *arg)
{
    (void)arg;
    int64_t s = 0, v;
    for (int i = 0; i < argc; i++) {
        if (!arg_int(argv, i, &v))
            return sm_task_error(t, "sum: argument %d is not a number", i);
        s += v;
    }
    return return_int(t, s);
}

static int
task_fail(sm_task *t, int argc, const sm_bytes *argv, void *arg)
{
    (void)arg;
    if (argc < 1)
        return sm_task_error(t, "fail: (no message)");
    return sm_task_error(t, "fail: %.*s", (int)argv[0].len, (const char *)argv[0].data);
}

static int
task_crash(sm_task *t, int argc, const sm_bytes *argv, void *arg)
{
    (void)arg;
    if (argc == 1 && argv[0].len == 5 && memcmp(argv[0].data, "crash", 5) == 0)
        abort();
    return argc == 1 ? sm_task_return(t, argv[0].data, argv[0].len) : SM_OK;
}

static int
task_sleep(sm_task *t, int argc, const sm_bytes *argv, void *arg)
{
    (void)arg;
    int64_t ms;
    if (argc != 1 || !arg_int(argv, 0, &ms) || ms < 0)
        return sm_task_error(t, "sleep: wants a number of milliseconds");
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0)
        ;
    return return_int(t, ms);
}

static int
task_echo(sm_task *t, int argc, const sm_bytes *argv, void *arg)
{
    (void)arg;
    return argc >= 1 ? sm_task_return(t, argv[0].data, argv[0].len) : SM_OK;
}

static int
task_count(sm_task *t, int argc, const sm_bytes *argv, void *arg)
{
    (void)arg;
    char name[256], key[256];
    if (argc != 2 || argv[0].len == 0 || argv[0].len >= sizeof(name) || argv[1].len == 0 ||
        argv[1].len >= sizeof(key))
        return sm_task_error(t, "count: wants DICT KEY");
    memcpy(name, argv[0].data, argv[0].len);
    name[argv[0].len] = '\0';
    memcpy(key, argv[1].data, argv[1].len);
    key[argv[1].len] = '\0';
    sm_dict *d;
    int rv = sm_dict_open(sm_task_client(t), name, &d);
    if (rv != SM_OK)
        return sm_task_error(t, "count: open %s: %s", name, sm_strerror(rv));
    sm_value one = sm_value_int(1), now;
    rv = sm_dict_incr(d, key, &one, &now);
    sm_dict_close(d);
    if (rv != SM_OK)
        return sm_task_error(t, "count: incr: %s", sm_strerror(rv));
    return return_int(t, now.u.i);
}

static int
task_whoami(sm_task *t, int argc, const sm_bytes *argv, void *arg)
{
    (void)arg;
    (void)argc;
    (void)argv;
    char host[128], buf[200];
    if (gethostname(host, sizeof(host)) != 0)
        strcpy(host, "?");
    host[sizeof(host) - 1] = '\0';
    int n = snprintf(buf, sizeof(buf), "%s:%ld", host, (long)getpid());
    return sm_task_return(t, buf, (size_t)n);
}

static int
task_nonum(sm_task *t, int argc, const sm_bytes *argv, void *arg)
{
    (void)arg;
    int64_t v;
    if (argc != 1 || !arg_int(argv, 0, &v))
        return sm_task_error(t, "nonum: %.*s is not a number", argc ? (int)argv[0].len : 0,
                             argc ? (const char *)argv[0].data : "");
    return return_int(t, v);
}

int
sm_tasks_init(sm_worker *w)
{
    static const struct {
        const char *name;
        sm_task_fn fn;
    } tasks[] = {
        {"square", task_square}, {"sum", task_sum},     {"fail", task_fail},
        {"crash", task_crash},   {"sleep", task_sleep}, {"echo", task_echo},
        {"count", task_count},   {"whoami", task_whoami}, {"nonum", task_nonum},
    };
    for (size_t i = 0; i < sizeof(tasks) / sizeof(tasks[0]); i++) {
        int rv = sm_worker_register(w, tasks[i].name, tasks[i].fn, NULL);
        if (rv != SM_OK)
            return rv;
    }
    return SM_OK;
}
