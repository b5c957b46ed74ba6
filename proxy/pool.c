/* pool.c - the submitting side of a pool: map, starmap, imap, apply and
 * futures over the POOL_* operations.
 *
 * Every map, iterator and future is a GROUP of tasks: its inputs are cut
 * into chunks (one task each) and submitted in as few round trips as the
 * message size allows; its outcomes are then collected, many per round
 * trip, each result naming the index of its first input. The server keeps
 * a group's results for this session until they are collected, and the
 * session layer answers a repeated collect with the same reply, so each
 * outcome arrives exactly once.
 * Exported: the sm_pool_*, sm_imap_*, sm_future_* and sm_result_*
 * functions of syncmgr.h, sm_task_state_name, smi_args_*. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>

#include "smi.h"

#define POOL_SUBMIT_BYTES (1u << 20) /* a submit message's inputs, roughly */
#define POOL_SUBMIT_TASKS 4096       /* tasks per submit message */
#define POOL_COLLECT_MAX 4096        /* results per collect */
#define POOL_AUTO_CHUNK_MAX 256

struct sm_pool {
    smi_obj o;
};

/* -------------------------------------------------------------- arguments */

static size_t
varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *
varint_put(uint64_t v, uint8_t *out)
{
    while (v >= 0x80) {
        *out++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *out++ = (uint8_t)v;
    return out;
}

/* varint_get reads one varint; NULL if it runs past end or is too long. */
static const uint8_t *
varint_get(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; p < end && shift < 64; shift += 7) {
        uint8_t b = *p++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return p;
        }
    }
    return NULL;
}

size_t
smi_args_size(const sm_bytes *argv, int argc)
{
    size_t n = varint_size((uint64_t)argc);
    for (int i = 0; i < argc; i++)
        n += varint_size(argv[i].len) + argv[i].len;
    return n;
}

uint8_t *
smi_args_pack(const sm_bytes *argv, int argc, uint8_t *out)
{
    out = varint_put((uint64_t)argc, out);
    for (int i = 0; i < argc; i++) {
        out = varint_put(argv[i].len, out);
        if (argv[i].len)
            memcpy(out, argv[i].data, argv[i].len);
        out += argv[i].len;
    }
    return out;
}

int
smi_args_unpack(const uint8_t *buf, size_t len, sm_bytes *argv, int max, int *argc)
{
    const uint8_t *p = buf, *end = buf + len;
    uint64_t n, l;
    if ((p = varint_get(p, end, &n)) == NULL || n > (uint64_t)max)
        return smi_fail(SM_EPROTO, "malformed task input (argument count)");
    for (uint64_t i = 0; i < n; i++) {
        if ((p = varint_get(p, end, &l)) == NULL || l > (uint64_t)(end - p))
            return smi_fail(SM_EPROTO, "malformed task input (argument %" PRIu64 ")", i);
        argv[i].data = p;
        argv[i].len = (size_t)l;
        p += l;
    }
    if (p != end)
        return smi_fail(SM_EPROTO, "malformed task input (trailing bytes)");
    *argc = (int)n;
    return SM_OK;
}

/* ---------------------------------------------------------------- results */

void
sm_result_clear(sm_result *r)
{
    if (r == NULL)
        return;
    free(r->data);
    r->data = NULL;
    r->len = 0;
    r->status = SM_OK;
}

void
sm_results_clear(sm_result *r, size_t n)
{
    for (size_t i = 0; r != NULL && i < n; i++)
        sm_result_clear(&r[i]);
}

/* result_set makes *r an owned copy of an outcome. */
static int
result_set(sm_result *r, uint32_t status, const void *data, size_t len)
{
    char *d = malloc(len + 1);
    if (d == NULL)
        return SM_ENOMEM;
    if (len)
        memcpy(d, data, len);
    d[len] = '\0';
    r->status = (int)status;
    r->data = d;
    r->len = len;
    return SM_OK;
}

const char *
sm_task_state_name(int state)
{
    static const char *const names[] = {"unknown", "queued", "running", "done", "failed",
                                        "cancelled"};
    return state >= 0 && state < (int)(sizeof(names) / sizeof(names[0])) ? names[state]
                                                                         : "unknown";
}

/* ------------------------------------------------------------------- pool */

int
sm_pool_open(sm_client *c, const char *name, sm_pool **pp)
{
    Smwire__Open op = SMWIRE__OPEN__INIT;
    if (name == NULL)
        return smi_fail(SM_EINVAL, "no name");
    op.type = SMWIRE__OBJ_TYPE__OBJ_POOL;
    return smi_obj_typed_open(c, name, &op, sizeof(sm_pool), (void **)pp, NULL);
}

int
sm_pool_close(sm_pool *p)
{
    if (p == NULL)
        return SM_OK;
    int rv = smi_obj_release(&p->o);
    free(p);
    return rv;
}

/* group_next gives a group id unique within this process (and so within
 * each of its sessions). */
static uint64_t
group_next(void)
{
    static uint64_t next;
    return __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED);
}

int
sm_pool_status(sm_pool *p, sm_pool_info *info)
{
    smi_detail_clear();
    if (p == NULL || info == NULL)
        return smi_fail(SM_EINVAL, p == NULL ? "no pool" : "no output");
    Smwire__Reply *rep;
    int rv = smi_op(&p->o, SMWIRE__REQUEST__OP_POOL_INFO, NULL, 0, &rep);
    if (rv != SM_OK)
        return rv;
    if (rep->pool == NULL) {
        smwire__reply__free_unpacked(rep, NULL);
        return smi_fail(SM_EPROTO, "pool info reply without counters");
    }
    info->queued = rep->pool->queued;
    info->running = rep->pool->running;
    info->done = rep->pool->done;
    info->failed = rep->pool->failed;
    info->cancelled = rep->pool->cancelled;
    info->workers = rep->pool->workers;
    info->results = rep->pool->results;
    info->requeued = rep->pool->requeued;
    smwire__reply__free_unpacked(rep, NULL);
    return SM_OK;
}

int
sm_pool_task_state(sm_pool *p, uint64_t id, sm_task_state *state)
{
    smi_detail_clear();
    if (p == NULL || state == NULL)
        return smi_fail(SM_EINVAL, p == NULL ? "no pool" : "no output");
    Smwire__PoolStatus st = SMWIRE__POOL_STATUS__INIT;
    st.ids = &id;
    st.n_ids = 1;
    Smwire__Reply *rep;
    int rv = smi_op(&p->o, SMWIRE__REQUEST__OP_POOL_STATUS, &st, 0, &rep);
    if (rv != SM_OK)
        return rv;
    if (rep->n_states != 1) {
        smwire__reply__free_unpacked(rep, NULL);
        return smi_fail(SM_EPROTO, "status reply with %zu states", rep->n_states);
    }
    *state = (sm_task_state)rep->states[0];
    smwire__reply__free_unpacked(rep, NULL);
    return SM_OK;
}

/* ------------------------------------------------------------- submitting */

typedef struct submit_opts {
    size_t chunk;
    int64_t timeout_ms;
    uint32_t max_kills;
} submit_opts;

static int
opts_check(const sm_map_opts *o)
{
    if (o == NULL)
        return SM_OK;
    if (o->size < sizeof(sm_map_opts))
        return smi_fail(SM_EINVAL, "sm_map_opts.size is %zu; use SM_MAP_OPTS_INIT", o->size);
    if (o->timeout_ms < 0)
        return smi_fail(SM_EINVAL, "timeout_ms %" PRId64 " < 0", o->timeout_ms);
    if (o->max_kills < 0)
        return smi_fail(SM_EINVAL, "max_kills %d < 0", o->max_kills);
    return SM_OK;
}

static int
task_check(const char *task)
{
    if (task == NULL)
        return smi_fail(SM_EINVAL, "no task name");
    size_t n = strlen(task);
    if (n == 0 || n > SMI_MAX_NAME)
        return smi_fail(SM_EINVAL, "task name is %zu bytes; names are 1 to %d bytes", n,
                        SMI_MAX_NAME);
    return SM_OK;
}

static int
args_check(const sm_args *a)
{
    if (a->argc < 0 || a->argc > SMI_MAX_ARGS)
        return smi_fail(SM_EINVAL, "%d arguments; 0 to %d", a->argc, SMI_MAX_ARGS);
    if (a->argc > 0 && a->argv == NULL)
        return smi_fail(SM_EINVAL, "%d arguments and no argv", a->argc);
    for (int i = 0; i < a->argc; i++)
        if (a->argv[i].data == NULL && a->argv[i].len > 0)
            return smi_fail(SM_EINVAL, "argument %d: NULL data of %zu bytes", i, a->argv[i].len);
    return SM_OK;
}

/* chunk_auto is Python's default: ceil(n / (4 x workers)). */
static size_t
chunk_auto(sm_pool *p, size_t n)
{
    sm_pool_info info;
    uint64_t workers = 1;
    if (sm_pool_status(p, &info) == SM_OK && info.workers > 0)
        workers = info.workers;
    size_t c = (size_t)((n + 4 * workers - 1) / (4 * workers));
    if (c < 1)
        c = 1;
    return c > POOL_AUTO_CHUNK_MAX ? POOL_AUTO_CHUNK_MAX : c;
}

/* submit_group submits inputs [0, n) of one group, chunked; *first_id is
 * the first task's id. The inputs are packed into one buffer per message.
 * On failure nothing of the failing message was submitted; earlier
 * messages were (the caller cancels the group). */
static int
submit_group(sm_pool *p, const char *task, const sm_args *in, size_t n, uint64_t group,
             const submit_opts *so, uint64_t *first_id)
{
    size_t done = 0;
    bool first = true;
    while (done < n) {
        /* This message: whole chunks until the byte or task budget. */
        size_t ntasks = 0, bytes = 0, end = done;
        while (end < n && ntasks < POOL_SUBMIT_TASKS && (ntasks == 0 || bytes < POOL_SUBMIT_BYTES)) {
            size_t stop = end + so->chunk < n ? end + so->chunk : n;
            for (size_t i = end; i < stop; i++)
                bytes += smi_args_size(in[i].argv, in[i].argc);
            end = stop;
            ntasks++;
        }
        size_t ninputs = end - done;
        Smwire__TaskIn *tin = calloc(ntasks, sizeof(*tin));
        Smwire__TaskIn **ptin = calloc(ntasks, sizeof(*ptin));
        ProtobufCBinaryData *bins = calloc(ninputs, sizeof(*bins));
        uint8_t *buf = malloc(bytes ? bytes : 1);
        int rv = SM_ENOMEM;
        if (tin != NULL && ptin != NULL && bins != NULL && buf != NULL) {
            uint8_t *at = buf;
            size_t k = done;
            for (size_t t = 0; t < ntasks; t++) {
                smwire__task_in__init(&tin[t]);
                size_t stop = k + so->chunk < end ? k + so->chunk : end;
                tin[t].group = group;
                tin[t].index = k;
                tin[t].name = (char *)task;
                tin[t].timeout_ms = so->timeout_ms;
                tin[t].max_kills = so->max_kills;
                tin[t].inputs = &bins[k - done];
                tin[t].n_inputs = stop - k;
                for (; k < stop; k++) {
                    uint8_t *next = smi_args_pack(in[k].argv, in[k].argc, at);
                    bins[k - done].data = at;
                    bins[k - done].len = (size_t)(next - at);
                    at = next;
                }
                ptin[t] = &tin[t];
            }
            Smwire__PoolSubmit sub = SMWIRE__POOL_SUBMIT__INIT;
            sub.tasks = ptin;
            sub.n_tasks = ntasks;
            Smwire__Reply *rep;
            rv = smi_op(&p->o, SMWIRE__REQUEST__OP_POOL_SUBMIT, &sub, 0, &rep);
            if (rv == SM_OK) {
                if (first && first_id != NULL)
                    *first_id = (uint64_t)rep->n;
                first = false;
                smwire__reply__free_unpacked(rep, NULL);
            }
        }
        free(tin);
        free(ptin);
        free(bins);
        free(buf);
        if (rv != SM_OK)
            return rv;
        done = end;
    }
    return SM_OK;
}

/* group_cancel cancels what is queued of a group and, with forget, drops
 * its results (best effort: used on the way out). */
static int
group_cancel(sm_pool *p, uint64_t group, const uint64_t *id, bool forget, int64_t *ncancelled)
{
    Smwire__PoolCancel c = SMWIRE__POOL_CANCEL__INIT;
    c.group = group;
    c.forget = forget;
    if (id != NULL) {
        c.ids = (uint64_t *)id;
        c.n_ids = 1;
    }
    Smwire__Reply *rep;
    int rv = smi_op(&p->o, SMWIRE__REQUEST__OP_POOL_CANCEL, &c, 0, &rep);
    if (rv == SM_OK) {
        if (ncancelled != NULL)
            *ncancelled = rep->n;
        smwire__reply__free_unpacked(rep, NULL);
    }
    return rv;
}

/* -------------------------------------------------------------- collecting */

/* A group being collected: outcomes land in res[index]. */
typedef struct collector {
    sm_pool *p;
    uint64_t group;
    size_t n;
    sm_result *res; /* n slots */
    bool *have;     /* n flags */
    size_t got, failed;
    size_t *order;  /* indices in arrival order (imap_unordered) */
    size_t norder;
    sm_map_opts opts;
    bool has_opts;
} collector;

/* now_ms is nng's monotonic clock, as the client's own deadlines use. */
static int64_t
now_ms(void)
{
    return (int64_t)nng_clock();
}

/* collect_once makes one COLLECT round trip waiting up to wait_ms and
 * files what arrives. Returns SM_OK (maybe nothing new), SM_ETIMEDOUT,
 * SM_EEND (the server holds nothing more of the group while outcomes are
 * missing: they are lost), or a transport status. */
static int
collect_once(collector *c, int64_t wait_ms)
{
    Smwire__PoolCollect pc = SMWIRE__POOL_COLLECT__INIT;
    pc.group = c->group;
    pc.max = POOL_COLLECT_MAX;
    Smwire__Reply *rep;
    int rv = smi_op(&c->p->o, SMWIRE__REQUEST__OP_POOL_COLLECT, &pc, wait_ms, &rep);
    if (rv != SM_OK)
        return rv;
    size_t before = c->got;
    for (size_t i = 0; i < rep->n_results && rv == SM_OK; i++) {
        const Smwire__TaskResult *r = rep->results[i];
        if (r->n_outs == 0 || r->index >= c->n || r->n_outs > c->n - r->index) {
            rv = smi_fail(SM_EPROTO, "result for inputs %" PRIu64 "+%zu of %zu", r->index,
                          r->n_outs, c->n);
            break;
        }
        for (size_t k = 0; k < r->n_outs; k++) {
            size_t idx = (size_t)r->index + k;
            if (c->have[idx])
                continue; /* never happens: each result is delivered once */
            const Smwire__Outcome *oc = r->outs[k];
            rv = result_set(&c->res[idx], oc->status, oc->data.data, oc->data.len);
            if (rv != SM_OK)
                break;
            c->have[idx] = true;
            c->got++;
            if (oc->status != SM_OK)
                c->failed++;
            if (c->order != NULL)
                c->order[c->norder++] = idx;
        }
    }
    bool gone = rep->n_results == 0 && rep->n == 0;
    smwire__reply__free_unpacked(rep, NULL);
    if (rv != SM_OK)
        return rv;
    if (gone && c->got < c->n)
        return smi_fail(SM_EEND, "the server holds no more results of this group (%zu of %zu "
                        "outcomes arrived)", c->got, c->n);
    if (c->got > before && c->has_opts && c->opts.progress != NULL) {
        sm_progress pr = {c->got, c->failed, c->n};
        c->opts.progress(c->opts.progress_arg, &pr);
    }
    return SM_OK;
}

/* collect_until collects until done(c, arg) or the timeout. */
static int
collect_until(collector *c, int64_t timeout_ms, bool (*done)(const collector *c, const void *arg),
              const void *arg)
{
    int64_t deadline = timeout_ms == SM_WAIT_FOREVER ? -1 : now_ms() + timeout_ms;
    while (!done(c, arg)) {
        int64_t wait = SM_WAIT_FOREVER;
        if (deadline >= 0) {
            wait = deadline - now_ms();
            if (wait < 0)
                wait = 0;
        }
        int rv = collect_once(c, wait);
        if (rv == SM_ETIMEDOUT)
            return done(c, arg) ? SM_OK : SM_ETIMEDOUT;
        if (rv != SM_OK)
            return rv;
        if (!done(c, arg) && deadline >= 0 && now_ms() >= deadline)
            return SM_ETIMEDOUT;
    }
    return SM_OK;
}

static bool
all_done(const collector *c, const void *arg)
{
    (void)arg;
    return c->got == c->n;
}

static void
collector_free(collector *c)
{
    if (c->res != NULL)
        sm_results_clear(c->res, c->n);
    free(c->have);
    free(c->order);
}

/* start makes the common checks and submits a group. */
static int
start_group(sm_pool *p, const char *task, const sm_args *in, size_t n, const sm_map_opts *opts,
            uint64_t group, uint64_t *first_id)
{
    int rv;
    smi_detail_clear();
    if (p == NULL)
        return smi_fail(SM_EINVAL, "no pool");
    if ((rv = task_check(task)) != SM_OK || (rv = opts_check(opts)) != SM_OK)
        return rv;
    if (n > 0 && in == NULL)
        return smi_fail(SM_EINVAL, "%zu inputs and no input array", n);
    for (size_t i = 0; i < n; i++)
        if ((rv = args_check(&in[i])) != SM_OK)
            return smi_fail(rv, "input %zu: %s", i, sm_errdetail());
    if (n == 0)
        return SM_OK;
    submit_opts so = {1, 0, 0};
    if (opts != NULL) {
        so.chunk = opts->chunksize;
        so.timeout_ms = opts->timeout_ms;
        so.max_kills = (uint32_t)opts->max_kills;
    }
    if (so.chunk == 0)
        so.chunk = chunk_auto(p, n);
    rv = submit_group(p, task, in, n, group, &so, first_id);
    if (rv != SM_OK) {
        char detail[512];
        snprintf(detail, sizeof(detail), "%s", sm_errdetail());
        group_cancel(p, group, NULL, true, NULL);
        smi_fail(rv, "%s", detail);
    }
    return rv;
}

/* map_args wraps single inputs as one-argument lists. */
static sm_args *
map_args(const sm_bytes *inputs, size_t n)
{
    sm_args *a = malloc((n ? n : 1) * sizeof(*a));
    if (a == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        a[i].argv = &inputs[i];
        a[i].argc = 1;
    }
    return a;
}

int
sm_pool_starmap(sm_pool *p, const char *task, const sm_args *inputs, size_t n,
                sm_result *results, const sm_map_opts *opts)
{
    if (results == NULL && n > 0)
        return smi_fail(SM_EINVAL, "no results array");
    uint64_t group = group_next();
    int rv = start_group(p, task, inputs, n, opts, group, NULL);
    if (rv != SM_OK || n == 0)
        return rv;
    collector c = {.p = p, .group = group, .n = n, .res = results};
    c.have = calloc(n, sizeof(*c.have));
    if (opts != NULL) {
        c.opts = *opts;
        c.has_opts = true;
    }
    memset(results, 0, n * sizeof(*results));
    if (c.have == NULL)
        rv = SM_ENOMEM;
    else
        rv = collect_until(&c, SM_WAIT_FOREVER, all_done, NULL);
    if (rv != SM_OK) {
        char detail[512];
        snprintf(detail, sizeof(detail), "%s", sm_errdetail());
        group_cancel(p, group, NULL, true, NULL);
        collector_free(&c); /* clears the results */
        return smi_fail(rv, "%s", detail);
    }
    c.res = NULL; /* the caller's now */
    collector_free(&c);
    for (size_t i = 0; i < n; i++)
        if (results[i].status != SM_OK)
            return smi_fail(results[i].status, "input %zu of %zu: %s", i, n,
                            (const char *)results[i].data);
    return SM_OK;
}

int
sm_pool_map(sm_pool *p, const char *task, const sm_bytes *inputs, size_t n,
            sm_result *results, const sm_map_opts *opts)
{
    smi_detail_clear();
    if (n > 0 && inputs == NULL)
        return smi_fail(SM_EINVAL, "%zu inputs and no input array", n);
    sm_args *a = map_args(inputs, n);
    if (a == NULL)
        return SM_ENOMEM;
    int rv = sm_pool_starmap(p, task, a, n, results, opts);
    free(a);
    return rv;
}

/* ------------------------------------------------------------------- imap */

struct sm_imap {
    collector c;
    bool ordered;
    size_t next; /* ordered: the next index to give; unordered: into c.order */
};

static int
imap_start(sm_pool *p, const char *task, const sm_bytes *inputs, size_t n,
           const sm_map_opts *opts, bool ordered, sm_imap **itp)
{
    smi_detail_clear();
    if (itp == NULL)
        return smi_fail(SM_EINVAL, "no output pointer");
    if (n > 0 && inputs == NULL)
        return smi_fail(SM_EINVAL, "%zu inputs and no input array", n);
    sm_imap *it = calloc(1, sizeof(*it));
    sm_args *a = map_args(inputs, n);
    if (it == NULL || a == NULL) {
        free(it);
        free(a);
        return SM_ENOMEM;
    }
    it->ordered = ordered;
    it->c.p = p;
    it->c.n = n;
    it->c.group = group_next();
    it->c.res = calloc(n ? n : 1, sizeof(*it->c.res));
    it->c.have = calloc(n ? n : 1, sizeof(*it->c.have));
    if (!ordered)
        it->c.order = calloc(n ? n : 1, sizeof(*it->c.order));
    if (opts != NULL) {
        it->c.opts = *opts;
        it->c.has_opts = true;
    }
    int rv = SM_ENOMEM;
    if (it->c.res != NULL && it->c.have != NULL && (ordered || it->c.order != NULL))
        rv = start_group(p, task, a, n, opts, it->c.group, NULL);
    free(a);
    if (rv != SM_OK) {
        collector_free(&it->c);
        free(it->c.res);
        free(it);
        return rv;
    }
    *itp = it;
    return SM_OK;
}

int
sm_pool_imap(sm_pool *p, const char *task, const sm_bytes *inputs, size_t n,
             const sm_map_opts *opts, sm_imap **itp)
{
    return imap_start(p, task, inputs, n, opts, true, itp);
}

int
sm_pool_imap_unordered(sm_pool *p, const char *task, const sm_bytes *inputs, size_t n,
                       const sm_map_opts *opts, sm_imap **itp)
{
    return imap_start(p, task, inputs, n, opts, false, itp);
}

/* imap_ready: the iterator's next outcome is in. */
static bool
imap_ready(const collector *c, const void *arg)
{
    const sm_imap *it = arg;
    if (it->ordered)
        return it->next < c->n && c->have[it->next];
    return it->next < c->norder;
}

int
sm_imap_next(sm_imap *it, int64_t timeout_ms, size_t *index, sm_result *r)
{
    smi_detail_clear();
    if (it == NULL || r == NULL)
        return smi_fail(SM_EINVAL, it == NULL ? "no iterator" : "no output");
    int rv = smi_check_wait(timeout_ms);
    if (rv != SM_OK)
        return rv;
    if (it->next >= it->c.n)
        return SM_EEND;
    rv = collect_until(&it->c, timeout_ms, imap_ready, it);
    if (rv != SM_OK)
        return rv;
    size_t idx = it->ordered ? it->next : it->c.order[it->next];
    it->next++;
    *r = it->c.res[idx];
    memset(&it->c.res[idx], 0, sizeof(it->c.res[idx]));
    if (index != NULL)
        *index = idx;
    return SM_OK;
}

void
sm_imap_free(sm_imap *it)
{
    if (it == NULL)
        return;
    if (it->c.got < it->c.n)
        group_cancel(it->c.p, it->c.group, NULL, true, NULL);
    collector_free(&it->c);
    free(it->c.res);
    free(it);
}

/* ---------------------------------------------------------------- futures */

struct sm_future {
    collector c; /* one input */
    sm_result res;
    bool have;
    uint64_t id;
};

int
sm_pool_apply_async(sm_pool *p, const char *task, const sm_bytes *argv, int argc,
                    const sm_map_opts *opts, sm_future **fp)
{
    smi_detail_clear();
    if (fp == NULL)
        return smi_fail(SM_EINVAL, "no output pointer");
    sm_future *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return SM_ENOMEM;
    sm_args a = {argv, argc};
    sm_map_opts o = SM_MAP_OPTS_INIT;
    if (opts != NULL)
        o = *opts;
    o.chunksize = 1;
    o.progress = NULL;
    f->c.p = p;
    f->c.n = 1;
    f->c.group = group_next();
    f->c.res = &f->res;
    f->c.have = &f->have;
    int rv = start_group(p, task, &a, 1, opts != NULL ? &o : NULL, f->c.group, &f->id);
    if (rv != SM_OK) {
        free(f);
        return rv;
    }
    *fp = f;
    return SM_OK;
}

int
sm_future_wait(sm_future *f, int64_t timeout_ms)
{
    smi_detail_clear();
    if (f == NULL)
        return smi_fail(SM_EINVAL, "no future");
    int rv = smi_check_wait(timeout_ms);
    return rv == SM_OK ? collect_until(&f->c, timeout_ms, all_done, NULL) : rv;
}

int
sm_future_ready(sm_future *f, bool *ready)
{
    smi_detail_clear();
    if (f == NULL || ready == NULL)
        return smi_fail(SM_EINVAL, f == NULL ? "no future" : "no output");
    int rv = f->have ? SM_OK : collect_once(&f->c, 0);
    if (rv == SM_OK)
        *ready = f->have;
    return rv;
}

int
sm_future_get(sm_future *f, int64_t timeout_ms, sm_result *r)
{
    if (r == NULL)
        return smi_fail(SM_EINVAL, "no output");
    int rv = sm_future_wait(f, timeout_ms);
    if (rv != SM_OK)
        return rv;
    rv = result_set(r, (uint32_t)f->res.status, f->res.data, f->res.len);
    if (rv != SM_OK)
        return rv;
    if (r->status != SM_OK)
        return smi_fail(r->status, "%s", (const char *)r->data);
    return SM_OK;
}

int
sm_future_cancel(sm_future *f, bool *cancelled)
{
    smi_detail_clear();
    if (f == NULL)
        return smi_fail(SM_EINVAL, "no future");
    int64_t n = 0;
    int rv = f->have ? SM_OK : group_cancel(f->c.p, f->c.group, &f->id, false, &n);
    if (rv == SM_OK && cancelled != NULL)
        *cancelled = n > 0;
    return rv;
}

int
sm_future_state(sm_future *f, sm_task_state *state)
{
    smi_detail_clear();
    if (f == NULL || state == NULL)
        return smi_fail(SM_EINVAL, f == NULL ? "no future" : "no output");
    if (!f->have) {
        int rv = sm_pool_task_state(f->c.p, f->id, state);
        if (rv != SM_OK || (*state != SM_TASK_UNKNOWN && *state < SM_TASK_DONE))
            return rv;
        /* Finished: fetch the outcome so the state is exact. */
        rv = collect_once(&f->c, 0);
        if (rv != SM_OK)
            return rv;
        if (!f->have) {
            *state = SM_TASK_UNKNOWN;
            return SM_OK;
        }
    }
    if (f->res.status == SM_OK)
        *state = SM_TASK_DONE;
    else if (f->res.status == SM_ECANCELLED)
        *state = SM_TASK_CANCELLED;
    else
        *state = SM_TASK_FAILED;
    return SM_OK;
}

uint64_t
sm_future_id(const sm_future *f)
{
    return f != NULL ? f->id : 0;
}

void
sm_future_free(sm_future *f)
{
    if (f == NULL)
        return;
    if (!f->have)
        group_cancel(f->c.p, f->c.group, NULL, true, NULL);
    sm_result_clear(&f->res);
    free(f);
}

int
sm_pool_apply(sm_pool *p, const char *task, const sm_bytes *argv, int argc,
              const sm_map_opts *opts, sm_result *r)
{
    smi_detail_clear();
    if (r == NULL)
        return smi_fail(SM_EINVAL, "no output");
    sm_future *f;
    int rv = sm_pool_apply_async(p, task, argv, argc, opts, &f);
    if (rv != SM_OK)
        return rv;
    rv = sm_future_wait(f, SM_WAIT_FOREVER);
    if (rv == SM_OK) {
        *r = f->res;
        memset(&f->res, 0, sizeof(f->res));
        rv = r->status;
        if (rv != SM_OK)
            smi_fail(rv, "%s", (const char *)r->data);
    }
    sm_future_free(f);
    return rv;
}
