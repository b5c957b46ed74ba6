/* snapshot.c - --snapshot FILE: the objects' data across a restart.
 *
 * Saving. The state is serialised into memory under st->lock, so a
 * snapshot is one point in time; the file is then written outside the lock,
 * so no request waits for the disk: a temporary file in FILE's directory,
 * written, fsynced, renamed over FILE, and the directory fsynced. A write
 * that fails is logged and leaves the old FILE as it was; the server keeps
 * serving. One thread writes: every --snapshot-every seconds and whenever a
 * SNAPSHOT_SAVE asks. A SNAPSHOT_SAVE parks (no deadline) until a snapshot
 * serialised after it arrived is on disk, so its reply means "everything
 * applied before this call is in FILE". Writers (that thread, and main at
 * stop) take s->wmtx before st->lock, so an older state never replaces a
 * newer one. A periodic or stop-time state identical to the file this
 * process last wrote, still in place, is not written again.
 *
 * What is saved: every named object, and every anonymous object reachable
 * from one through reference values and conditions' locks, each with its
 * id and nonce, so tokens and stored references stay valid; each type's
 * save hook writes its shape and content. An anonymous object that nothing
 * saved refers to is left out: only proxies held it, and no proxy survives
 * a restart. Sessions, lock holders, parked requests and pool tasks are not
 * saved.
 *
 * Loading, before the server listens. The header is checked (magic,
 * version, flags, length, SHA-256), the payload decoded, and the whole
 * state checked before anything is made: known types, unique ids and
 * names, content only where the type has some, every reference naming an
 * object of the file with its own nonce and type, --max-objects. Objects
 * are then made empty from their shapes by their type's create (conditions
 * last: they take their lock there), registered under their own ids and
 * nonces, and filled by their type's load hook, which applies the other
 * limits. Any fault stops the load with one message naming the file; the
 * file is only ever read.
 *
 * File: a 56-byte header (schemas/smsnap.proto) and a packed
 * smsnap.Snapshot.
 * Exported: snap_load, snap_start, snap_stop_thread, snap_save, snap_free
 * (snapshot.h), snap_op_save (srv.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/md.h>

#include "snapshot.h"

#define SNAP_HDR 56
#define SNAP_VERSION 1
#define SNAP_SUM 32
/* Each object is one length-prefixed protobuf field: keep it under 2 GiB. */
#define SNAP_MAX_OBJECT ((size_t)INT32_MAX)

static const uint8_t snap_magic[8] = {0x89, 'S', 'M', 'S', 'N', 'A', 'P', '\n'};

struct srv_snap {
    srv_state *st;
    char *path, *dir, *base;
    int64_t every_ms;
    pthread_mutex_t wmtx; /* one writer at a time; taken before st->lock */
    pthread_mutex_t mtx;  /* asked, stopping; taken with nothing else, or inside st->lock */
    pthread_cond_t cv;
    bool asked, stopping;
    pthread_t thread;
    bool thread_started;
    srv_wlist pending; /* parked SNAPSHOT_SAVEs, under st->lock */
    /* Under wmtx: the file this process last wrote. */
    bool have_last;
    uint8_t last_sum[SNAP_SUM];
    dev_t last_dev;
    ino_t last_ino;
};

/* The types a snapshot holds, by wire type, and where they keep content. */
typedef struct snap_kind {
    const srv_type *t;
    bool keys;   /* dict, namespace */
    bool values; /* anything that holds values */
} snap_kind;

static const snap_kind snap_kinds[] = {
    {&srv_type_dict, true, true},     {&srv_type_list, false, true},
    {&srv_type_var, false, true},     {&srv_type_array, false, false},
    {&srv_type_ns, true, true},       {&srv_type_lock, false, false},
    {&srv_type_rlock, false, false},  {&srv_type_sem, false, false},
    {&srv_type_cond, false, false},   {&srv_type_event, false, false},
    {&srv_type_barrier, false, false}, {&srv_type_queue, false, true},
    {&srv_type_pool, false, false},
};

static const snap_kind *
snap_kind_of(int wire_type)
{
    for (size_t i = 0; i < SM_NELEM(snap_kinds); i++)
        if (snap_kinds[i].t->wire_type == wire_type)
            return &snap_kinds[i];
    return NULL;
}

static void
snap_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void
snap_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t
snap_get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t
snap_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* snap_sha256 hashes len bytes; false if mbedtls fails (it does not, for
 * SHA-256 on memory). */
static bool
snap_sha256(const uint8_t *p, size_t len, uint8_t out[SNAP_SUM])
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    return md != NULL && mbedtls_md(md, p, len, out) == 0;
}

/* ------------------------------------------------------------------ saving */

/* The objects to save, in the order found, and their records. */
typedef struct snap_vec {
    srv_obj **objs;
    Smsnap__Object **recs;
    size_t n, cap;
    srv_map seen; /* 8-byte id -> nothing: objects already in the vector */
} snap_vec;

/* snap_visit adds o unless it is in already. SM_OK or SM_ENOMEM. */
static int
snap_visit(snap_vec *v, srv_obj *o)
{
    if (o == NULL || map_find(&v->seen, (const char *)&o->id, sizeof(o->id)) != NULL)
        return SM_OK;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        srv_obj **objs = realloc(v->objs, cap * sizeof(*objs));
        if (objs == NULL)
            return SM_ENOMEM;
        v->objs = objs;
        Smsnap__Object **recs = realloc(v->recs, cap * sizeof(*recs));
        if (recs == NULL)
            return SM_ENOMEM;
        v->recs = recs;
        v->cap = cap;
    }
    if (map_add(&v->seen, (const char *)&o->id, sizeof(o->id)) == NULL)
        return SM_ENOMEM;
    v->objs[v->n] = o;
    v->recs[v->n] = NULL;
    v->n++;
    return SM_OK;
}

int
snap_values(srv_call *call, Smsnap__Object *out, size_t n)
{
    if (n == 0)
        return SM_OK;
    Smwire__Value **pv = call_alloc(call, n * sizeof(*pv));
    Smwire__Value *wv = call_alloc(call, n * sizeof(*wv));
    if (pv == NULL || wv == NULL)
        return SM_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        smwire__value__init(&wv[i]);
        pv[i] = &wv[i];
    }
    out->values = pv;
    out->n_values = n;
    return SM_OK;
}

/* snap_record describes o (a live object) in a record from call's arena
 * and adds the objects it refers to. */
static int
snap_record(srv_call *call, snap_vec *v, size_t i)
{
    srv_obj *o = v->objs[i];
    Smsnap__Object *rec = call_alloc(call, sizeof(*rec));
    Smwire__Open *shape = call_alloc(call, sizeof(*shape));
    if (rec == NULL || shape == NULL)
        return SM_ENOMEM;
    smsnap__object__init(rec);
    smwire__open__init(shape);
    rec->id = o->id;
    rec->nonce = o->nonce;
    rec->shape = shape;
    shape->type = o->type->wire_type;
    if (o->name != NULL)
        shape->name = o->name;
    if (o->type->save != NULL) {
        int rv = o->type->save(call, o, rec);
        if (rv != SM_OK)
            return rv;
    }
    v->recs[i] = rec;
    for (size_t k = 0; k < rec->n_values; k++) {
        const Smwire__Value *w = rec->values[k];
        if (w->kind_case == SMWIRE__VALUE__KIND_REF) {
            int rv = snap_visit(v, store_lookup(call->st, w->ref->id, w->ref->nonce));
            if (rv != SM_OK)
                return rv;
        }
    }
    if (shape->lock != NULL) {
        int rv = snap_visit(v, store_lookup(call->st, shape->lock->id, shape->lock->nonce));
        if (rv != SM_OK)
            return rv;
    }
    return SM_OK;
}

/* snap_serialise packs the state into *bufp (malloc'd: SNAP_HDR bytes left
 * for the header, then *lenp bytes of payload). Under st->lock. SM_OK,
 * SM_ENOMEM or SM_ELIMIT (an object too large; err says which). */
static int
snap_serialise(srv_state *st, uint8_t **bufp, size_t *lenp, size_t *nobjp, char *err,
               size_t errlen)
{
    srv_call call;
    snap_vec v;
    int rv = SM_OK;

    memset(&v, 0, sizeof(v));
    call_scratch(&call, st);
    for (map_ent *e = st->names.head; e != NULL && rv == SM_OK; e = e->next)
        rv = snap_visit(&v, e->val.u.ref);
    for (size_t i = 0; i < v.n && rv == SM_OK; i++) /* v grows as references are found */
        rv = snap_record(&call, &v, i);
    Smsnap__Snapshot snap = SMSNAP__SNAPSHOT__INIT;
    snap.next_id = st->next_id;
    snap.n_objects = v.n;
    snap.objects = v.recs;
    size_t len = rv == SM_OK ? smsnap__snapshot__get_packed_size(&snap) : 0;
    if (rv == SM_OK && len > SNAP_MAX_OBJECT) {
        for (size_t i = 0; i < v.n; i++) {
            if (smsnap__object__get_packed_size(v.recs[i]) > SNAP_MAX_OBJECT) {
                snprintf(err, errlen, "%s %" PRIu64 " is over 2 GiB encoded: too large to save",
                         v.objs[i]->type->name, v.objs[i]->id);
                rv = SM_ELIMIT;
                break;
            }
        }
    }
    uint8_t *buf = NULL;
    if (rv == SM_OK) {
        buf = len <= SIZE_MAX - SNAP_HDR ? malloc(SNAP_HDR + len) : NULL;
        if (buf == NULL)
            rv = SM_ENOMEM;
        else
            smsnap__snapshot__pack(&snap, buf + SNAP_HDR);
    }
    if (rv == SM_ENOMEM && err[0] == '\0')
        snprintf(err, errlen, "out of memory serialising %zu objects", v.n);
    map_clear(NULL, &v.seen);
    free(v.objs);
    free(v.recs);
    call_scratch_free(&call);
    if (rv != SM_OK)
        return rv;
    *bufp = buf;
    *lenp = len;
    *nobjp = v.n;
    return SM_OK;
}

/* snap_header fills the header in front of a payload of len bytes. */
static void
snap_header(uint8_t *buf, size_t len)
{
    memcpy(buf, snap_magic, sizeof(snap_magic));
    snap_put32(buf + 8, SNAP_VERSION);
    snap_put32(buf + 12, 0);
    snap_put64(buf + 16, len);
    if (!snap_sha256(buf + SNAP_HDR, len, buf + 24))
        memset(buf + 24, 0, SNAP_SUM); /* a file that will be refused, not a wrong one */
}

/* snap_write puts len bytes at s->path atomically. SM_OK, or SM_EINTERNAL
 * with err set; before the rename FILE is untouched and the temporary
 * file is removed. */
static int
snap_write(srv_snap *s, const uint8_t *buf, size_t len, struct stat *sb, char *err,
           size_t errlen)
{
    char tmp[PATH_MAX];
    const char *step = "create";
    int n = snprintf(tmp, sizeof(tmp), "%s/.%.200s.XXXXXX", s->dir, s->base);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        snprintf(err, errlen, "the path of its temporary file is too long");
        return SM_EINTERNAL;
    }
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a temporary file in %.300s: %s", s->dir,
                 strerror(errno));
        return SM_EINTERNAL;
    }
    size_t off = 0;
    step = "write";
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            goto fail;
        }
        off += (size_t)w;
    }
    step = "fsync";
    if (fsync(fd) != 0)
        goto fail;
    step = "fstat";
    if (fstat(fd, sb) != 0)
        goto fail;
    step = "close";
    int crv = close(fd);
    fd = -1;
    if (crv != 0)
        goto fail;
    step = "rename";
    if (rename(tmp, s->path) != 0)
        goto fail;
    /* The new name must reach the disk too, or a crash could bring back
     * the old file (or none) after a reply that said "written". */
    int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        snprintf(err, errlen, "%.250s replaced, but the fsync of %.250s failed: %s", s->path,
                 s->dir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return SM_EINTERNAL;
    }
    close(dfd);
    return SM_OK;
fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    snprintf(err, errlen, "%s of %.300s failed: %s", step, tmp, strerror(e));
    return SM_EINTERNAL;
}

/* snap_unchanged: the file this process last wrote is still at path and
 * holds this payload. Under wmtx. */
static bool
snap_unchanged(const srv_snap *s, const uint8_t *hdr, size_t len)
{
    struct stat sb;
    return s->have_last && memcmp(s->last_sum, hdr + 24, SNAP_SUM) == 0 &&
           stat(s->path, &sb) == 0 && sb.st_dev == s->last_dev && sb.st_ino == s->last_ino &&
           (uint64_t)sb.st_size == (uint64_t)SNAP_HDR + len;
}

int
snap_save(srv_snap *s, const char *why)
{
    srv_state *st = s->st;
    srv_wlist asked = {0};
    uint8_t *buf = NULL;
    size_t len = 0, nobj = 0;
    char err[600] = "";

    pthread_mutex_lock(&s->wmtx);
    int64_t t0 = srv_now_ms();
    pthread_mutex_lock(&st->lock);
    /* Those parked until now are answered by this write: everything they
     * saw applied is in the state serialised below. */
    while (s->pending.head != NULL)
        srv_wlist_move(st, s->pending.head, &asked);
    bool forced = asked.head != NULL;
    int rv = snap_serialise(st, &buf, &len, &nobj, err, sizeof(err));
    pthread_mutex_unlock(&st->lock);
    int64_t t1 = srv_now_ms();
    bool skipped = false;
    if (rv == SM_OK) {
        snap_header(buf, len);
        if (!forced && snap_unchanged(s, buf, len)) {
            skipped = true;
        } else {
            struct stat sb;
            rv = snap_write(s, buf, SNAP_HDR + len, &sb, err, sizeof(err));
            if (rv == SM_OK) {
                s->have_last = true;
                memcpy(s->last_sum, buf + 24, SNAP_SUM);
                s->last_dev = sb.st_dev;
                s->last_ino = sb.st_ino;
            } else {
                s->have_last = false;
            }
        }
    }
    int64_t t2 = srv_now_ms();
    free(buf);
    if (rv != SM_OK)
        srv_log(SRV_LOG_WARN, "snapshot (%s) NOT written: %s; %s is as it was", why, err,
                s->path);
    else if (skipped)
        srv_log(SRV_LOG_DEBUG, "snapshot (%s): unchanged since the last write", why);
    else
        srv_log(SRV_LOG_INFO,
                "snapshot (%s) written to %s: %zu objects, %zu bytes; serialised in %" PRId64
                " ms under the state lock, written in %" PRId64 " ms",
                why, s->path, nobj, (size_t)SNAP_HDR + len, t1 - t0, t2 - t1);

    pthread_mutex_lock(&st->lock);
    while (asked.head != NULL) {
        Smwire__Reply rep = SMWIRE__REPLY__INIT;
        char detail[700];
        rep.status = (uint32_t)rv;
        if (rv != SM_OK) {
            snprintf(detail, sizeof(detail), "snapshot not written: %.400s; %.250s is as it was",
                     err, s->path);
            rep.detail = detail;
        }
        srv_answer_rep(st, asked.head, &rep);
    }
    pthread_mutex_unlock(&st->lock);
    pthread_mutex_unlock(&s->wmtx);
    return rv;
}

/* SNAPSHOT_SAVE -> SM_OK once written | SM_EINTERNAL (not written; detail) */
int
snap_op_save(srv_call *call)
{
    srv_snap *s = call->st->snap;
    srv_waiter *w;
    if (s == NULL)
        return call_fail(call, SM_EINVAL,
                         "this server keeps no snapshot (start syncmgrd with --snapshot FILE)");
    int rv = srv_park(call, NULL, &s->pending, &w);
    if (rv != SRV_PARKED)
        return rv;
    /* No deadline, whatever timeout_ms says: the write answers it (and a
     * waiter without an object could not be timed out). */
    srv_wlist_move(call->st, w, &s->pending);
    pthread_mutex_lock(&s->mtx);
    s->asked = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mtx);
    return SRV_PARKED;
}

static void *
snap_main(void *arg)
{
    srv_snap *s = arg;
    int64_t next = s->every_ms > 0 ? srv_now_ms() + s->every_ms : -1;
    for (;;) {
        pthread_mutex_lock(&s->mtx);
        while (!s->stopping && !s->asked && (next < 0 || srv_now_ms() < next)) {
            if (next < 0) {
                pthread_cond_wait(&s->cv, &s->mtx);
                continue;
            }
            srv_cond_wait_until(&s->cv, &s->mtx, next);
        }
        bool stop = s->stopping, asked = s->asked;
        s->asked = false;
        pthread_mutex_unlock(&s->mtx);
        if (stop)
            return NULL;
        snap_save(s, asked ? "asked" : "periodic");
        if (s->every_ms > 0)
            next = srv_now_ms() + s->every_ms;
    }
}

/* snap_sweep removes temporary files a killed syncmgrd left in the
 * directory: ".BASE." and six characters, as snap_write names them. */
static void
snap_sweep(const srv_snap *s)
{
    char prefix[220];
    snprintf(prefix, sizeof(prefix), ".%.200s.", s->base);
    size_t plen = strlen(prefix);
    DIR *d = opendir(s->dir);
    if (d == NULL)
        return;
    for (struct dirent *de = readdir(d); de != NULL; de = readdir(d)) {
        if (strncmp(de->d_name, prefix, plen) != 0 || strlen(de->d_name) != plen + 6)
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) == 0)
            srv_log(SRV_LOG_NOTICE, "snapshot: removed %s/%s, left by an interrupted write",
                    s->dir, de->d_name);
    }
    closedir(d);
}

int
snap_start(srv_snap **sp, srv_state *st, const char *path, int64_t every_s)
{
    srv_snap *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return SM_ENOMEM;
    s->st = st;
    s->every_ms = every_s * 1000;
    s->path = strdup(path);
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        s->dir = strdup(".");
        s->base = strdup(path);
    } else {
        s->dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
        s->base = strdup(slash + 1);
    }
    if (s->path == NULL || s->dir == NULL || s->base == NULL) {
        free(s->path);
        free(s->dir);
        free(s->base);
        free(s);
        return SM_ENOMEM;
    }
    pthread_mutex_init(&s->wmtx, NULL);
    pthread_mutex_init(&s->mtx, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    snap_sweep(s);
    /* The file just loaded counts as written by this process: a state that
     * has not changed since is not written again. */
    int fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        uint8_t hdr[SNAP_HDR];
        struct stat sb;
        if (fstat(fd, &sb) == 0 && pread(fd, hdr, SNAP_HDR, 0) == SNAP_HDR &&
            memcmp(hdr, snap_magic, sizeof(snap_magic)) == 0) {
            s->have_last = true;
            memcpy(s->last_sum, hdr + 24, SNAP_SUM);
            s->last_dev = sb.st_dev;
            s->last_ino = sb.st_ino;
        }
        close(fd);
    }
    if (access(s->dir, W_OK | X_OK) != 0)
        srv_log(SRV_LOG_WARN, "snapshot: cannot write in %s (%s); snapshots will fail until it "
                "can", s->dir, strerror(errno));
    pthread_mutex_lock(&st->lock);
    st->snap = s;
    pthread_mutex_unlock(&st->lock);
    if (pthread_create(&s->thread, NULL, snap_main, s) != 0) {
        srv_log(SRV_LOG_WARN, "cannot start the snapshot thread");
        snap_free(s);
        return SM_EINTERNAL;
    }
    s->thread_started = true;
    srv_log(SRV_LOG_NOTICE, "snapshots to %s: every %" PRId64 " s%s, at stop and on demand",
            s->path, every_s, every_s == 0 ? " (never on their own)" : "");
    *sp = s;
    return SM_OK;
}

void
snap_stop_thread(srv_snap *s)
{
    if (s == NULL || !s->thread_started)
        return;
    pthread_mutex_lock(&s->mtx);
    s->stopping = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mtx);
    pthread_join(s->thread, NULL);
    s->thread_started = false;
}

void
snap_free(srv_snap *s)
{
    if (s == NULL)
        return;
    snap_stop_thread(s);
    srv_state *st = s->st;
    pthread_mutex_lock(&st->lock);
    srv_wlist_fail(st, &s->pending, SM_EINTERNAL);
    st->snap = NULL;
    pthread_mutex_unlock(&st->lock);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mtx);
    pthread_mutex_destroy(&s->wmtx);
    free(s->path);
    free(s->dir);
    free(s->base);
    free(s);
}

/* ----------------------------------------------------------------- loading */

/* snap_fail writes "snapshot PATH: WHAT" into err and returns rv. */
static int snap_fail(char *err, size_t errlen, const char *path, int rv, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int
snap_fail(char *err, size_t errlen, const char *path, int rv, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(err, errlen, "snapshot %s: ", path);
    if (n > 0 && (size_t)n < errlen) {
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return rv;
}

/* snap_status_text is sm_strerror's text (proxy/status.c is not linked
 * into the server). */
static const char *
snap_status_text(int rv)
{
    switch (rv) {
#define SNAP_X(name, num, text)                                                                  \
    case num:                                                                                    \
        return text;
        SM_STATUS_MAP(SNAP_X)
#undef SNAP_X
    default:
        return "unknown status";
    }
}

/* snap_what names record r for a message: "list 12 'jobs'" or
 * "anonymous list 12". */
static const char *
snap_what(const Smsnap__Object *r, char *buf, size_t size)
{
    const snap_kind *k = r->shape != NULL ? snap_kind_of(r->shape->type) : NULL;
    const char *tn = k != NULL ? k->t->name : "object";
    if (r->shape != NULL && r->shape->name[0] != '\0')
        snprintf(buf, size, "%s %" PRIu64 " '%.64s'", tn, r->id, r->shape->name);
    else
        snprintf(buf, size, "anonymous %s %" PRIu64, tn, r->id);
    return buf;
}

/* The records of a snapshot being loaded, indexed by id and name. */
typedef struct snap_in {
    const char *path;
    const Smsnap__Snapshot *snap;
    srv_map ids;   /* 8-byte id -> record index (val.u.i) */
    srv_map names; /* name -> record index */
    char *err;
    size_t errlen;
} snap_in;

/* snap_check_ref checks that ref, held by record r, names an object of the
 * file by its id, nonce and type. */
static int
snap_check_ref(snap_in *in, const Smsnap__Object *r, const Smwire__ObjRef *ref)
{
    char a[128];
    if (ref == NULL)
        return snap_fail(in->err, in->errlen, in->path, SM_EPROTO,
                         "%s holds a reference without an object", snap_what(r, a, sizeof(a)));
    map_ent *e = map_find(&in->ids, (const char *)&ref->id, sizeof(ref->id));
    if (e == NULL)
        return snap_fail(in->err, in->errlen, in->path, SM_ENOOBJ,
                         "%s refers to object %" PRIu64 ", which is not in the file",
                         snap_what(r, a, sizeof(a)), ref->id);
    const Smsnap__Object *t = in->snap->objects[e->val.u.i];
    if (t->nonce != ref->nonce)
        return snap_fail(in->err, in->errlen, in->path, SM_ENOOBJ,
                         "%s refers to object %" PRIu64 " with a nonce that is not its own",
                         snap_what(r, a, sizeof(a)), ref->id);
    if ((int)t->shape->type != (int)ref->type) {
        const snap_kind *k = snap_kind_of(ref->type);
        char b[128];
        return snap_fail(in->err, in->errlen, in->path, SM_EWRONGTYPE,
                         "%s refers to %s as a %s", snap_what(r, a, sizeof(a)),
                         snap_what(t, b, sizeof(b)), k != NULL ? k->t->name : "thing of no type");
    }
    return SM_OK;
}

/* snap_check checks the whole snapshot before anything is made. */
static int
snap_check(snap_in *in, const srv_state *st)
{
    const Smsnap__Snapshot *snap = in->snap;
    char a[128];
    if ((uint64_t)snap->n_objects > st->limits.max_objects)
        return snap_fail(in->err, in->errlen, in->path, SM_ELIMIT,
                         "%zu objects, over the limit of %" PRIu64 " (--max-objects)",
                         snap->n_objects, st->limits.max_objects);
    for (size_t i = 0; i < snap->n_objects; i++) {
        const Smsnap__Object *r = snap->objects[i];
        if (r->shape == NULL)
            return snap_fail(in->err, in->errlen, in->path, SM_EPROTO,
                             "object %" PRIu64 " (#%zu) has no shape", r->id, i);
        const snap_kind *k = snap_kind_of(r->shape->type);
        if (k == NULL)
            return snap_fail(in->err, in->errlen, in->path, SM_EPROTO,
                             "object %" PRIu64 " (#%zu) is of unknown type %d", r->id, i,
                             (int)r->shape->type);
        snap_what(r, a, sizeof(a));
        if (r->id == 0)
            return snap_fail(in->err, in->errlen, in->path, SM_EPROTO, "%s has id 0", a);
        if (map_find(&in->ids, (const char *)&r->id, sizeof(r->id)) != NULL)
            return snap_fail(in->err, in->errlen, in->path, SM_EPROTO,
                             "id %" PRIu64 " belongs to two objects", r->id);
        map_ent *e = map_add(&in->ids, (const char *)&r->id, sizeof(r->id));
        if (e == NULL)
            return snap_fail(in->err, in->errlen, in->path, SM_ENOMEM, "out of memory");
        e->val.u.i = (int64_t)i;
        size_t nlen = strlen(r->shape->name);
        if (nlen > SRV_MAX_NAME)
            return snap_fail(in->err, in->errlen, in->path, SM_EPROTO,
                             "%s has a name of %zu bytes, over %d", a, nlen, SRV_MAX_NAME);
        if (nlen > 0) {
            if (map_find(&in->names, r->shape->name, nlen) != NULL)
                return snap_fail(in->err, in->errlen, in->path, SM_EPROTO,
                                 "the name '%.64s' belongs to two objects", r->shape->name);
            e = map_add(&in->names, r->shape->name, nlen);
            if (e == NULL)
                return snap_fail(in->err, in->errlen, in->path, SM_ENOMEM, "out of memory");
            e->val.u.i = (int64_t)i;
        }
        if (r->shape->n_values != 0)
            return snap_fail(in->err, in->errlen, in->path, SM_EPROTO,
                             "%s carries values in its shape", a);
        if (!k->keys && r->n_keys != 0)
            return snap_fail(in->err, in->errlen, in->path, SM_EPROTO, "%s has keys", a);
        if (!k->values && r->n_values != 0)
            return snap_fail(in->err, in->errlen, in->path, SM_EPROTO, "%s holds values", a);
        if (k->t != &srv_type_array && r->elements.len != 0)
            return snap_fail(in->err, in->errlen, in->path, SM_EPROTO,
                             "%s holds array elements", a);
        if (k->keys && r->n_keys != r->n_values)
            return snap_fail(in->err, in->errlen, in->path, SM_EPROTO,
                             "%s has %zu keys and %zu values", a, r->n_keys, r->n_values);
        bool is_cond = k->t == &srv_type_cond;
        if (is_cond != (r->shape->lock != NULL))
            return snap_fail(in->err, in->errlen, in->path, SM_EPROTO,
                             is_cond ? "%s has no lock" : "%s has a lock, and is no condition",
                             a);
    }
    for (size_t i = 0; i < snap->n_objects; i++) {
        const Smsnap__Object *r = snap->objects[i];
        for (size_t k = 0; k < r->n_values; k++) {
            const Smwire__Value *w = r->values[k];
            if (w->kind_case != SMWIRE__VALUE__KIND_REF)
                continue;
            int rv = snap_check_ref(in, r, w->ref);
            if (rv != SM_OK)
                return rv;
        }
        if (r->shape->lock != NULL) {
            int rv = snap_check_ref(in, r, r->shape->lock);
            if (rv != SM_OK)
                return rv;
            if (r->shape->lock->type != SMWIRE__OBJ_TYPE__OBJ_LOCK &&
                r->shape->lock->type != SMWIRE__OBJ_TYPE__OBJ_RLOCK)
                return snap_fail(in->err, in->errlen, in->path, SM_EWRONGTYPE,
                                 "%s has a lock that is no lock", snap_what(r, a, sizeof(a)));
        }
    }
    return SM_OK;
}

/* snap_make makes record r's object, empty, from its shape and registers
 * it under its own id, nonce and name. */
static int
snap_make(snap_in *in, srv_call *call, const Smsnap__Object *r, srv_obj **out)
{
    srv_state *st = call->st;
    const srv_type *t = snap_kind_of(r->shape->type)->t;
    srv_obj *o = NULL;
    char a[128];
    call->detail[0] = '\0';
    int rv = t->create(call, r->shape, &o);
    if (rv != SM_OK)
        return snap_fail(in->err, in->errlen, in->path, rv, "%s cannot be made: %s",
                         snap_what(r, a, sizeof(a)),
                         call->detail[0] != '\0' ? call->detail : snap_status_text(rv));
    o->type = t;
    o->id = r->id;
    o->nonce = r->nonce;
    o->name = NULL;
    o->refs = 0; /* what the loaded values and conditions hold, counted as they load,
                  * and a name's own (below) */
    map_ent *ie = map_add(&st->ids, (const char *)&o->id, sizeof(o->id));
    if (ie == NULL) {
        t->destroy(st, o);
        return snap_fail(in->err, in->errlen, in->path, SM_ENOMEM, "out of memory");
    }
    ie->val.u.ref = o;
    st->nobjects++;
    size_t nlen = strlen(r->shape->name);
    if (nlen > 0) {
        o->name = strdup(r->shape->name);
        map_ent *ne = o->name != NULL ? map_add(&st->names, o->name, nlen) : NULL;
        if (ne == NULL)
            return snap_fail(in->err, in->errlen, in->path, SM_ENOMEM, "out of memory");
        ne->val.u.ref = o;
        o->refs = 1; /* the name's own, as store_create gives a named object */
    }
    *out = o;
    return SM_OK;
}

/* snap_read reads the whole file at fd into *bufp. */
static int
snap_read(snap_in *in, int fd, uint8_t **bufp, size_t *sizep)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return snap_fail(in->err, in->errlen, in->path, SM_EINVAL, "cannot stat it: %s",
                         strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return snap_fail(in->err, in->errlen, in->path, SM_EINVAL, "is not a regular file");
    if ((uint64_t)sb.st_size > SIZE_MAX - 1)
        return snap_fail(in->err, in->errlen, in->path, SM_ENOMEM, "is too large to read");
    size_t size = (size_t)sb.st_size;
    uint8_t *buf = malloc(size + 1);
    if (buf == NULL)
        return snap_fail(in->err, in->errlen, in->path, SM_ENOMEM,
                         "no memory to read its %zu bytes", size);
    size_t off = 0;
    while (off < size) {
        ssize_t r = read(fd, buf + off, size - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : 0;
            free(buf);
            return snap_fail(in->err, in->errlen, in->path, SM_EINVAL, "cannot read it: %s",
                             e != 0 ? strerror(e) : "it shrank while being read");
        }
        off += (size_t)r;
    }
    *bufp = buf;
    *sizep = size;
    return SM_OK;
}

/* snap_open_payload checks the header of the size bytes at buf and decodes
 * the payload into *snapp. */
static int
snap_open_payload(snap_in *in, const uint8_t *buf, size_t size, Smsnap__Snapshot **snapp)
{
    if (size < SNAP_HDR)
        return snap_fail(in->err, in->errlen, in->path, SM_EPROTO,
                         "is %zu bytes, shorter than the %d-byte header: truncated", size,
                         SNAP_HDR);
    if (memcmp(buf, snap_magic, sizeof(snap_magic)) != 0)
        return snap_fail(in->err, in->errlen, in->path, SM_EPROTO,
                         "is not a syncmgrd snapshot (wrong magic bytes)");
    uint32_t version = snap_get32(buf + 8), flags = snap_get32(buf + 12);
    if (version != SNAP_VERSION)
        return snap_fail(in->err, in->errlen, in->path, SM_EVERSION,
                         "is format version %" PRIu32 "; this syncmgrd reads version %d",
                         version, SNAP_VERSION);
    if (flags != 0)
        return snap_fail(in->err, in->errlen, in->path, SM_EVERSION,
                         "has header flags 0x%" PRIx32 " this syncmgrd does not know", flags);
    uint64_t plen = snap_get64(buf + 16);
    if (plen != (uint64_t)(size - SNAP_HDR))
        return snap_fail(in->err, in->errlen, in->path, SM_EPROTO,
                         "its header announces a %" PRIu64 "-byte payload, but %zu bytes "
                         "follow it: %s",
                         plen, size - SNAP_HDR,
                         plen > size - SNAP_HDR ? "truncated" : "extra bytes at the end");
    uint8_t sum[SNAP_SUM];
    if (!snap_sha256(buf + SNAP_HDR, (size_t)plen, sum))
        return snap_fail(in->err, in->errlen, in->path, SM_EINTERNAL, "cannot hash it");
    if (memcmp(sum, buf + 24, SNAP_SUM) != 0)
        return snap_fail(in->err, in->errlen, in->path, SM_EPROTO,
                         "the payload's SHA-256 does not match its header: the file is "
                         "damaged");
    *snapp = smsnap__snapshot__unpack(NULL, (size_t)plen, buf + SNAP_HDR);
    if (*snapp == NULL)
        return snap_fail(in->err, in->errlen, in->path, SM_EPROTO,
                         "the payload does not decode as a snapshot");
    return SM_OK;
}

/* snap_build makes every object of the checked snapshot in st. */
static int
snap_build(snap_in *in, srv_state *st, size_t *namedp)
{
    const Smsnap__Snapshot *snap = in->snap;
    srv_call call;
    int rv = SM_OK;
    char a[128];
    srv_obj **objs = calloc(snap->n_objects + 1, sizeof(*objs));
    if (objs == NULL)
        return snap_fail(in->err, in->errlen, in->path, SM_ENOMEM, "out of memory");
    call_scratch(&call, st);
    /* Conditions last: each takes its lock, which must exist by then. */
    for (int pass = 0; pass < 2 && rv == SM_OK; pass++) {
        for (size_t i = 0; i < snap->n_objects && rv == SM_OK; i++) {
            bool is_cond = snap->objects[i]->shape->type == SMWIRE__OBJ_TYPE__OBJ_CONDITION;
            if (is_cond == (pass == 1))
                rv = snap_make(in, &call, snap->objects[i], &objs[i]);
        }
    }
    for (size_t i = 0; i < snap->n_objects && rv == SM_OK; i++) {
        srv_obj *o = objs[i];
        if (o->type->load == NULL)
            continue;
        call.detail[0] = '\0';
        rv = o->type->load(&call, o, snap->objects[i]);
        if (rv != SM_OK)
            snap_fail(in->err, in->errlen, in->path, rv, "%s: %s",
                      snap_what(snap->objects[i], a, sizeof(a)),
                      call.detail[0] != '\0' ? call.detail : snap_status_text(rv));
    }
    uint64_t maxid = 0;
    size_t named = 0;
    for (size_t i = 0; i < snap->n_objects && rv == SM_OK; i++) {
        srv_obj *o = objs[i];
        if (o->id > maxid)
            maxid = o->id;
        if (o->name != NULL)
            named++;
        else if (o->refs == 0)
            rv = snap_fail(in->err, in->errlen, in->path, SM_EPROTO,
                           "%s is referred to by nothing in the file",
                           snap_what(snap->objects[i], a, sizeof(a)));
    }
    if (rv == SM_OK) {
        st->next_id = snap->next_id > maxid ? snap->next_id : maxid;
        *namedp = named;
    }
    call_scratch_free(&call);
    free(objs);
    return rv;
}

int
snap_load(srv_state *st, const char *path, char *err, size_t errlen)
{
    snap_in in;
    uint8_t *buf = NULL;
    size_t size = 0, named = 0;
    Smsnap__Snapshot *snap = NULL;

    memset(&in, 0, sizeof(in));
    in.path = path;
    in.err = err;
    in.errlen = errlen;
    err[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            srv_log(SRV_LOG_NOTICE, "snapshot %s: no such file yet; starting empty", path);
            return SM_OK;
        }
        return snap_fail(err, errlen, path, SM_EINVAL, "cannot open it: %s", strerror(errno));
    }
    int64_t t0 = srv_now_ms();
    int rv = snap_read(&in, fd, &buf, &size);
    close(fd);
    if (rv == SM_OK)
        rv = snap_open_payload(&in, buf, size, &snap);
    if (rv == SM_OK) {
        in.snap = snap;
        rv = snap_check(&in, st);
    }
    if (rv == SM_OK)
        rv = snap_build(&in, st, &named);
    if (rv == SM_OK)
        srv_log(SRV_LOG_NOTICE,
                "snapshot %s: loaded %zu objects (%zu named, %zu anonymous), %zu bytes, in "
                "%" PRId64 " ms",
                path, snap->n_objects, named, snap->n_objects - named, size,
                srv_now_ms() - t0);
    map_clear(NULL, &in.ids);
    map_clear(NULL, &in.names);
    if (snap != NULL)
        smsnap__snapshot__free_unpacked(snap, NULL);
    free(buf);
    return rv;
}
