/* worker.c - the serving side of a pool: registered task functions run on
 * leased tasks.
 *
 * sm_worker_run JOINs the pool with its task names, then loops on one
 * round trip: TAKE reports the outcomes of the tasks it just ran and
 * leases up to `prefetch` more, waiting in the server while there are
 * none. sm_worker_stop sends LEAVE (not final) on another context of the
 * same client: the server answers the parked take, or the next take after
 * applying its reports, with the "stopped" flag, and run returns. sm_worker_free
 * sends the final LEAVE, so a lease never reported goes back uncharged.
 * Exported: the sm_worker_* and sm_task_* functions of syncmgr.h. */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smi.h"

#define WORKER_MAX_TASKS 4096
#define WORKER_MAX_ERROR 4096
#define WORKER_MAX_PREFETCH 4096

typedef struct wtask {
    char *name;
    sm_task_fn fn;
    void *arg;
} wtask;

struct sm_worker {
    smi_obj o;
    sm_client *c;
    wtask *tasks;
    size_t ntasks;
    bool ran;
    int stop; /* atomic */
};

struct sm_task {
    sm_worker *w;
    uint64_t id;
    uint8_t *out;
    size_t len;
    bool failed;
};

/* ------------------------------------------------------------ task side */

int
sm_task_return(sm_task *t, const void *data, size_t len)
{
    if (t == NULL || (data == NULL && len > 0))
        return smi_fail(SM_EINVAL, t == NULL ? "no task" : "NULL data");
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return SM_ENOMEM;
    if (len)
        memcpy(copy, data, len);
    free(t->out);
    t->out = copy;
    t->len = len;
    t->failed = false;
    return SM_OK;
}

int
sm_task_error(sm_task *t, const char *fmt, ...)
{
    if (t == NULL)
        return SM_ETASK;
    char *msg = malloc(WORKER_MAX_ERROR);
    if (msg != NULL) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(msg, WORKER_MAX_ERROR, fmt != NULL ? fmt : "(no message)", ap);
        va_end(ap);
        free(t->out);
        t->out = (uint8_t *)msg;
        t->len = n < 0 ? 0 : (size_t)n < WORKER_MAX_ERROR ? (size_t)n : WORKER_MAX_ERROR - 1;
    }
    t->failed = true;
    return SM_ETASK;
}

sm_client *
sm_task_client(const sm_task *t)
{
    return t != NULL ? t->w->c : NULL;
}

uint64_t
sm_task_id(const sm_task *t)
{
    return t != NULL ? t->id : 0;
}

/* ---------------------------------------------------------- worker side */

int
sm_worker_new(sm_client *c, const char *pool, sm_worker **wp)
{
    Smwire__Open op = SMWIRE__OPEN__INIT;
    smi_detail_clear();
    if (pool == NULL || wp == NULL)
        return smi_fail(SM_EINVAL, pool == NULL ? "no pool name" : "no output pointer");
    op.type = SMWIRE__OBJ_TYPE__OBJ_POOL;
    int rv = smi_obj_typed_open(c, pool, &op, sizeof(sm_worker), (void **)wp, NULL);
    if (rv == SM_OK)
        (*wp)->c = c;
    return rv;
}

int
sm_worker_register(sm_worker *w, const char *name, sm_task_fn fn, void *arg)
{
    smi_detail_clear();
    if (w == NULL || fn == NULL)
        return smi_fail(SM_EINVAL, w == NULL ? "no worker" : "no task function");
    if (__atomic_load_n(&w->ran, __ATOMIC_ACQUIRE))
        return smi_fail(SM_EINVAL, "tasks are registered before sm_worker_run");
    int rv = smi_check_key(name, SMI_MAX_NAME);
    if (rv != SM_OK)
        return smi_fail(rv, "task name: %s", sm_errdetail());
    for (size_t i = 0; i < w->ntasks; i++)
        if (strcmp(w->tasks[i].name, name) == 0)
            return smi_fail(SM_EINVAL, "task '%s' is already registered", name);
    if (w->ntasks == WORKER_MAX_TASKS)
        return smi_fail(SM_ELIMIT, "at most %d tasks per worker", WORKER_MAX_TASKS);
    wtask *t = realloc(w->tasks, (w->ntasks + 1) * sizeof(*t));
    if (t == NULL)
        return SM_ENOMEM;
    w->tasks = t;
    t[w->ntasks].name = strdup(name);
    if (t[w->ntasks].name == NULL)
        return SM_ENOMEM;
    t[w->ntasks].fn = fn;
    t[w->ntasks].arg = arg;
    w->ntasks++;
    return SM_OK;
}

static int
worker_join(sm_worker *w)
{
    char host[256];
    char **names = malloc(w->ntasks * sizeof(*names));
    if (names == NULL)
        return SM_ENOMEM;
    for (size_t i = 0; i < w->ntasks; i++)
        names[i] = w->tasks[i].name;
    if (gethostname(host, sizeof(host)) != 0)
        strcpy(host, "?");
    host[sizeof(host) - 1] = '\0';
    Smwire__PoolJoin j = SMWIRE__POOL_JOIN__INIT;
    j.names = names;
    j.n_names = w->ntasks;
    j.host = host;
    j.pid = (uint64_t)getpid();
    int rv = smi_op(&w->o, SMWIRE__REQUEST__OP_POOL_JOIN, &j, 0, NULL);
    free(names);
    return rv;
}

static const wtask *
worker_find(const sm_worker *w, const char *name)
{
    for (size_t i = 0; i < w->ntasks; i++)
        if (strcmp(w->tasks[i].name, name) == 0)
            return &w->tasks[i];
    return NULL;
}

/* The outcomes of the tasks run since the last take. */
typedef struct report {
    Smwire__TaskOut *outs; /* one per task */
    Smwire__TaskOut **pouts;
    size_t n, cap;
} report;

static void
report_clear(report *r)
{
    for (size_t i = 0; i < r->n; i++) {
        for (size_t k = 0; k < r->outs[i].n_outs; k++) {
            free(r->outs[i].outs[k]->data.data);
            free(r->outs[i].outs[k]);
        }
        free(r->outs[i].outs);
    }
    r->n = 0;
}

static void
report_free(report *r)
{
    report_clear(r);
    free(r->outs);
    free(r->pouts);
}

static void
overrun_exit(int sig)
{
    (void)sig;
    _exit(3);
}

/* run_input runs one input of a lease into *oc (owned bytes). */
static int
run_input(sm_worker *w, const wtask *wt, const Smwire__TaskLease *l, size_t k,
          Smwire__Outcome *oc, bool exit_on_overrun)
{
    sm_bytes argv[SMI_MAX_ARGS];
    int argc = 0;
    sm_task t = {.w = w, .id = l->id};
    smwire__outcome__init(oc);
    int rv = smi_args_unpack(l->inputs[k].data, l->inputs[k].len, argv, SMI_MAX_ARGS, &argc);
    if (rv != SM_OK) {
        sm_task_error(&t, "%s", sm_errdetail());
    } else if (wt == NULL) {
        sm_task_error(&t, "this worker has no task '%s'", l->name);
    } else {
        if (exit_on_overrun && l->timeout_ms > 0)
            alarm((unsigned)((l->timeout_ms + 1000 + 999) / 1000));
        rv = wt->fn(&t, argc, argv, wt->arg);
        if (exit_on_overrun && l->timeout_ms > 0)
            alarm(0);
        if (rv != SM_OK && !t.failed)
            sm_task_error(&t, "task '%s' returned %s", l->name, sm_errname(rv));
        else if (rv == SM_OK && t.failed) /* an error message, then success */
            t.failed = false;
    }
    oc->status = t.failed ? SM_ETASK : SM_OK;
    oc->data.data = t.out;
    oc->data.len = t.len;
    if (t.failed && t.out == NULL) { /* no memory for the message */
        oc->data.data = NULL;
        oc->data.len = 0;
    }
    return SM_OK;
}

/* run_lease runs every input of l and appends its TaskOut to r. */
static int
run_lease(sm_worker *w, const Smwire__TaskLease *l, report *r, bool exit_on_overrun)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        Smwire__TaskOut *o = realloc(r->outs, cap * sizeof(*o));
        if (o == NULL)
            return SM_ENOMEM;
        r->outs = o;
        Smwire__TaskOut **po = realloc(r->pouts, cap * sizeof(*po));
        if (po == NULL)
            return SM_ENOMEM;
        r->pouts = po;
        r->cap = cap;
    }
    Smwire__TaskOut *to = &r->outs[r->n];
    smwire__task_out__init(to);
    to->id = l->id;
    to->outs = calloc(l->n_inputs ? l->n_inputs : 1, sizeof(*to->outs));
    if (to->outs == NULL)
        return SM_ENOMEM;
    const wtask *wt = worker_find(w, l->name);
    for (size_t k = 0; k < l->n_inputs; k++) {
        Smwire__Outcome *oc = malloc(sizeof(*oc));
        if (oc == NULL) {
            r->n++; /* keep what is there so report_clear frees it */
            return SM_ENOMEM;
        }
        run_input(w, wt, l, k, oc, exit_on_overrun);
        to->outs[to->n_outs++] = oc;
    }
    r->n++;
    return SM_OK;
}

int
sm_worker_run(sm_worker *w, const sm_worker_opts *opts)
{
    smi_detail_clear();
    if (w == NULL)
        return smi_fail(SM_EINVAL, "no worker");
    sm_worker_opts o = SM_WORKER_OPTS_INIT;
    if (opts != NULL) {
        if (opts->size < sizeof(o))
            return smi_fail(SM_EINVAL, "sm_worker_opts.size is %zu; use SM_WORKER_OPTS_INIT",
                            opts->size);
        o = *opts;
    }
    if (o.prefetch < 1 || o.prefetch > WORKER_MAX_PREFETCH)
        return smi_fail(SM_EINVAL, "prefetch %d is not in 1..%d", o.prefetch,
                        WORKER_MAX_PREFETCH);
    if (o.max_tasks < 0)
        return smi_fail(SM_EINVAL, "max_tasks %" PRId64 " < 0", o.max_tasks);
    if (w->ntasks == 0)
        return smi_fail(SM_EINVAL, "no tasks registered");
    int rv = SM_OK;
    if (!__atomic_load_n(&w->ran, __ATOMIC_ACQUIRE)) {
        rv = worker_join(w);
        if (rv != SM_OK)
            return rv;
        __atomic_store_n(&w->ran, true, __ATOMIC_RELEASE);
    }
    if (o.exit_on_overrun) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = overrun_exit;
        sigaction(SIGALRM, &sa, NULL);
    }
    report r = {0};
    int64_t ran = 0;
    for (;;) {
        bool last = __atomic_load_n(&w->stop, __ATOMIC_ACQUIRE) ||
                    (o.max_tasks > 0 && ran >= o.max_tasks);
        int64_t want = o.prefetch;
        if (o.max_tasks > 0 && o.max_tasks - ran < want)
            want = o.max_tasks - ran;
        Smwire__PoolTake tk = SMWIRE__POOL_TAKE__INIT;
        tk.max = last ? 0 : (uint32_t)want;
        tk.done = r.pouts;
        tk.n_done = r.n;
        for (size_t i = 0; i < r.n; i++)
            r.pouts[i] = &r.outs[i];
        Smwire__Reply *rep;
        rv = smi_op(&w->o, SMWIRE__REQUEST__OP_POOL_TAKE, &tk, last ? 0 : SM_WAIT_FOREVER, &rep);
        if (rv != SM_OK)
            break;
        report_clear(&r); /* they went with the take */
        if (last || rep->flag) { /* done, or stopped by sm_worker_stop */
            smwire__reply__free_unpacked(rep, NULL);
            break;
        }
        for (size_t i = 0; i < rep->n_tasks && rv == SM_OK; i++) {
            rv = run_lease(w, rep->tasks[i], &r, o.exit_on_overrun);
            ran++;
        }
        smwire__reply__free_unpacked(rep, NULL);
        if (rv != SM_OK)
            break;
    }
    report_free(&r);
    return rv;
}

int
sm_worker_stop(sm_worker *w)
{
    smi_detail_clear();
    if (w == NULL)
        return smi_fail(SM_EINVAL, "no worker");
    /* Always tell the server, even if run has not joined yet: run reads
     * the flag after its join, and a LEAVE sent after the flag was set
     * reaches the server after that join, so one of the two stops it. */
    __atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
    Smwire__PoolLeave l = SMWIRE__POOL_LEAVE__INIT;
    return smi_op(&w->o, SMWIRE__REQUEST__OP_POOL_LEAVE, &l, 0, NULL);
}

void
sm_worker_free(sm_worker *w)
{
    if (w == NULL)
        return;
    if (__atomic_load_n(&w->ran, __ATOMIC_ACQUIRE)) {
        Smwire__PoolLeave l = SMWIRE__POOL_LEAVE__INIT;
        l.final = true;
        smi_op(&w->o, SMWIRE__REQUEST__OP_POOL_LEAVE, &l, 0, NULL);
    }
    smi_obj_release(&w->o);
    for (size_t i = 0; i < w->ntasks; i++)
        free(w->tasks[i].name);
    free(w->tasks);
    free(w);
}
