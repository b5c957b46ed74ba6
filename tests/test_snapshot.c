/* test_snapshot.c - syncmgrd --snapshot FILE: the objects' data across a
 * restart, against real syncmgrd processes on ipc://.
 *
 * - every saved kind filled with exact contents (unicode and binary values,
 *   an empty dict, a 10,000-key dict, a named dict holding a reference to
 *   an anonymous list, which refers on to an anonymous dict), written by
 *   sm_server_snapshot, the server SIGKILLed and restarted on the same
 *   file: every content is back exactly, tokens attach, an anonymous
 *   object nothing saved refers to is gone, new ids continue above the old;
 * - held locks are free after the restart (their next acquirer is told
 *   SM_EOWNERDEAD, with a larger fence), a held permit came back, and the
 *   old client's session is gone (SM_ESESSION);
 * - SIGTERM writes what changed after the last sm_server_snapshot;
 * - --snapshot-every 1 writes by itself: the test reads the file until it
 *   holds a change (bounded poll), then kills and restarts;
 * - damaged files (cut at several offsets, a flipped payload byte, a wrong
 *   magic or version, a valid checksum over a payload with a dangling or
 *   mistyped reference, duplicate ids, a limit passed) are refused at start:
 *   exit status 2, one stderr line naming the file and the fault, and the
 *   file left byte for byte;
 * - a snapshot that cannot be written (its directory unwritable, or moved
 *   away) is logged and answered SM_EINTERNAL, the server keeps serving and
 *   the old file stays as it was;
 * - SNAPSHOT_SAVE goes through the session and authkey checks like any
 *   request, and a server without --snapshot refuses it with a detail.
 *
 * The test reads and forges snapshot files itself (schemas/smsnap.proto and
 * SHA-256), so it waits for exact contents instead of guessing at time. */
#include "smt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/md.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "smsnap.pb-c.h"
#include "smwire.pb-c.h"

#define SN_HDR 56
#define SN_BOUND_MS 20000 /* the longest any wait in this file may take */
#define SN_BIG 10000      /* keys of the big dict */
#define SN_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* --------------------------------------------------------------- servers */

typedef struct sn_srv {
    pid_t pid;
    char url[600];
} sn_srv;

static char sn_dir[256];  /* this test's directory */
static char sn_file[320]; /* the snapshot file */
static char sn_log[320];  /* every syncmgrd's stderr, appended */
static sn_srv sn_server;
static sm_client *sn_c1, *sn_c2;

/* sn_spawn starts syncmgrd on ipc://DIR/sock with --snapshot file and the
 * extra arguments (NULL-terminated). With as_nobody and root, the server
 * runs as uid/gid 65534. Returns 0 once it listens; otherwise the server
 * has exited (or been killed), *status holds its wait status and -1. */
static int
sn_spawn(sn_srv *s, const char *file, const char *const *extra, bool as_nobody, int *status)
{
    char listen[400], fdbuf[16];
    int fds[2];
    memset(s, 0, sizeof(*s));
    snprintf(listen, sizeof(listen), "ipc://%s/sock", sn_dir);
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* Only system calls and exec: this process has nng state. */
        const char *argv[40];
        int k = 0;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int lfd = open(sn_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (lfd >= 0)
            dup2(lfd, 2);
        int wfd = dup(fds[1]);
        snprintf(fdbuf, sizeof(fdbuf), "%d", wfd);
        /* Opened while still root: nobody may not be able to reach the
         * build directory (a checkout under a 0700 directory), and an exec
         * through the descriptor checks the file's own mode only. */
        int xfd = open(SMT_SYNCMGRD, O_RDONLY | O_CLOEXEC);
        if (xfd < 0)
            _exit(127);
        if (as_nobody && geteuid() == 0) {
            if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
                _exit(126);
        }
        argv[k++] = SMT_SYNCMGRD;
        argv[k++] = "--listen";
        argv[k++] = listen;
        argv[k++] = "--ready-fd";
        argv[k++] = fdbuf;
        argv[k++] = "--log-level";
        argv[k++] = "info";
        if (file != NULL) {
            argv[k++] = "--snapshot";
            argv[k++] = file;
        }
        for (int i = 0; extra != NULL && extra[i] != NULL && k < 38; i++)
            argv[k++] = extra[i];
        argv[k] = NULL;
        fexecve(xfd, (char *const *)argv, environ);
        _exit(127);
    }
    close(fds[1]);
    if (!smt_read_ready(fds[0], SN_BOUND_MS, s->url, sizeof(s->url))) {
        int st = smt_reap(pid, SN_BOUND_MS);
        if (st < 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
        }
        if (status != NULL)
            *status = st;
        return -1;
    }
    s->pid = pid;
    return 0;
}

/* sn_start starts the server or fails the test. */
static void
sn_start(const char *const *extra)
{
    int st = 0;
    if (sn_spawn(&sn_server, sn_file, extra, false, &st) != 0) {
        print_error("syncmgrd did not start (status 0x%x); see %s\n", st, sn_log);
        fail();
    }
}

static void
sn_kill(void)
{
    if (sn_server.pid > 0) {
        kill(sn_server.pid, SIGKILL);
        waitpid(sn_server.pid, NULL, 0);
        sn_server.pid = 0;
    }
}

/* sn_term sends SIGTERM and asserts a clean exit (status 0). */
static void
sn_term(void)
{
    assert_true(sn_server.pid > 0);
    kill(sn_server.pid, SIGTERM);
    int st = smt_reap(sn_server.pid, SN_BOUND_MS);
    if (st < 0) {
        kill(sn_server.pid, SIGKILL);
        waitpid(sn_server.pid, NULL, 0);
    }
    sn_server.pid = 0;
    assert_true(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static sm_client *
sn_open(void)
{
    sm_client *c = NULL;
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    o.call_timeout_ms = SN_BOUND_MS;
    assert_sm_ok(sm_client_open(&c, sn_server.url, &o));
    return c;
}

/* ----------------------------------------------------------------- files */

/* sn_read reads a whole file; NULL (and *lenp 0) if it cannot. */
static uint8_t *
sn_read(const char *path, size_t *lenp)
{
    *lenp = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat sb;
    uint8_t *buf = NULL;
    if (fstat(fd, &sb) == 0 && (buf = malloc((size_t)sb.st_size + 1)) != NULL) {
        size_t off = 0;
        while (off < (size_t)sb.st_size) {
            ssize_t r = read(fd, buf + off, (size_t)sb.st_size - off);
            if (r <= 0)
                break;
            off += (size_t)r;
        }
        *lenp = off;
    }
    close(fd);
    return buf;
}

static void
sn_write(const char *path, const uint8_t *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static void
sn_sha256(const uint8_t *p, size_t len, uint8_t out[32])
{
    assert_int_equal(mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), p, len, out), 0);
}

/* sn_decode decodes a snapshot file's payload (header checked); NULL if the
 * file is absent or not a whole snapshot. */
static Smsnap__Snapshot *
sn_decode(const uint8_t *buf, size_t len)
{
    uint8_t sum[32];
    if (buf == NULL || len < SN_HDR || memcmp(buf, "\x89SMSNAP\n", 8) != 0)
        return NULL;
    sn_sha256(buf + SN_HDR, len - SN_HDR, sum);
    if (memcmp(sum, buf + 24, 32) != 0)
        return NULL;
    return smsnap__snapshot__unpack(NULL, len - SN_HDR, buf + SN_HDR);
}

/* sn_encode packs snap into a complete file (header and checksum). */
static uint8_t *
sn_encode(const Smsnap__Snapshot *snap, size_t *lenp)
{
    size_t plen = smsnap__snapshot__get_packed_size(snap);
    uint8_t *buf = malloc(SN_HDR + plen);
    assert_non_null(buf);
    smsnap__snapshot__pack(snap, buf + SN_HDR);
    memcpy(buf, "\x89SMSNAP\n", 8);
    uint32_t version = 1, flags = 0;
    uint64_t l = plen;
    for (int i = 0; i < 4; i++) {
        buf[8 + i] = (uint8_t)(version >> (8 * i));
        buf[12 + i] = (uint8_t)(flags >> (8 * i));
    }
    for (int i = 0; i < 8; i++)
        buf[16 + i] = (uint8_t)(l >> (8 * i));
    sn_sha256(buf + SN_HDR, plen, buf + 24);
    *lenp = SN_HDR + plen;
    return buf;
}

static Smsnap__Object *
sn_find(const Smsnap__Snapshot *snap, const char *name)
{
    for (size_t i = 0; i < snap->n_objects; i++)
        if (strcmp(snap->objects[i]->shape->name, name) == 0)
            return snap->objects[i];
    return NULL;
}

/* sn_file_var reads the int in var name in the snapshot file now (-1 when
 * the file or the var is not there). */
static int64_t
sn_file_var(const char *name)
{
    size_t len;
    uint8_t *buf = sn_read(sn_file, &len);
    Smsnap__Snapshot *snap = sn_decode(buf, len);
    int64_t v = -1;
    Smsnap__Object *o = snap != NULL ? sn_find(snap, name) : NULL;
    if (o != NULL && o->n_values == 1 && o->values[0]->kind_case == SMWIRE__VALUE__KIND_I)
        v = o->values[0]->i;
    if (snap != NULL)
        smsnap__snapshot__free_unpacked(snap, NULL);
    free(buf);
    return v;
}

/* sn_log_has says whether the servers' stderr so far contains text. */
static bool
sn_log_has(const char *text)
{
    size_t len;
    char *buf = (char *)sn_read(sn_log, &len);
    bool has = buf != NULL && (buf[len] = '\0', strstr(buf, text) != NULL);
    free(buf);
    return has;
}

/* sn_temp_files counts the temporary files a snapshot write would leave. */
static int
sn_temp_files(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    for (struct dirent *de = readdir(d); de != NULL; de = readdir(d))
        if (strncmp(de->d_name, ".snap.", 6) == 0)
            n++;
    closedir(d);
    return n;
}

static int
sn_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
sn_setup(void **state)
{
    (void)state;
    snprintf(sn_dir, sizeof(sn_dir), "/tmp/smsnap.XXXXXX");
    if (mkdtemp(sn_dir) == NULL)
        return -1;
    chmod(sn_dir, 0755);
    snprintf(sn_file, sizeof(sn_file), "%s/snap", sn_dir);
    snprintf(sn_log, sizeof(sn_log), "%s/log", sn_dir);
    return 0;
}

static int
sn_teardown(void **state)
{
    (void)state;
    sm_client_close(sn_c1);
    sm_client_close(sn_c2);
    sn_c1 = sn_c2 = NULL;
    sn_kill();
    if (getenv("SN_KEEP") != NULL) {
        fprintf(stderr, "kept %s\n", sn_dir);
        return 0;
    }
    chmod(sn_dir, 0755);
    nftw(sn_dir, sn_rm, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* ------------------------------------------------------------ value checks */

static uint64_t
sn_token_id(const char *token)
{
    const char *p = strchr(token, ':');
    p = p != NULL ? strchr(p + 1, ':') : NULL;
    assert_non_null(p);
    return strtoull(p + 1, NULL, 16);
}

static void
sn_check_list(sm_list *l, const sm_value *want, size_t n)
{
    sm_value *got = NULL;
    size_t gn = 0;
    assert_sm_ok(sm_list_slice(l, 0, INT64_MAX, &got, &gn));
    assert_int_equal(gn, n);
    for (size_t i = 0; i < n; i++)
        smt_assert_value_is(&got[i], &want[i]);
    sm_values_free(got, gn);
}

static void
sn_check_dict(sm_dict *d, const char *const *keys, const sm_value *want, size_t n)
{
    char **gk = NULL;
    sm_value *gv = NULL;
    size_t gn = 0;
    assert_sm_ok(sm_dict_items(d, &gk, &gv, &gn));
    assert_int_equal(gn, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(gk[i], keys[i]);
        smt_assert_value_is(&gv[i], &want[i]);
    }
    sm_strings_free(gk, gn);
    sm_values_free(gv, gn);
}

static void
sn_check_var(sm_client *c, const char *name, sm_value want)
{
    sm_var *v = NULL;
    sm_value got = sm_value_nil(), other = sm_value_str("not restored");
    assert_sm_ok(sm_var_open(c, name, &other, &v)); /* init ignored: it exists */
    assert_sm_ok(sm_var_get(v, &got));
    smt_assert_value_is(&got, &want);
    sm_value_clear(&got);
    sm_var_close(v);
}

static void
sn_check_array(sm_client *c, const char *name, char tc, const sm_value *want, size_t n)
{
    sm_array *a = NULL;
    sm_value *got = NULL;
    size_t gn = 0;
    assert_sm_ok(sm_array_open(c, name, tc, NULL, n, &a));
    assert_sm_ok(sm_array_get_slice(a, 0, (int64_t)n, &got, &gn));
    assert_int_equal(gn, n);
    for (size_t i = 0; i < n; i++)
        smt_assert_value_is(&got[i], &want[i]);
    sm_values_free(got, gn);
    sm_array_close(a);
}

/* sn_exists: name holds some object (opening it as a dict says which). */
static void
sn_exists(sm_client *c, const char *name)
{
    sm_dict *d = NULL;
    assert_sm_status(sm_dict_open(c, name, &d), SM_EWRONGTYPE);
}

/* -------------------------------------------------------- every kind saved */

static const uint8_t sn_bin[] = {0x00, 0x01, 0xff, 0xfe, 0x00, '\n', 0x80};
static const char sn_uni[] = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac "
                             "\xf0\x9f\x8e\x89";

/* What sn_fill made that sn_verify needs. */
typedef struct sn_made {
    char anon_list[128], anon_dict[128], orphan[128], named_list[128];
    char cv_lock[128], cv2_lock[128];
    uint64_t max_id, fence_lk, fence_rlk;
} sn_made;

static const char *const sn_dkeys[] = {"int",       "neg",       "dbl",  "t",   "nil",
                                       "uni",       "bin",       "estr", "ebin", "ref",
                                       "named_ref", "f"};

static void
sn_dvals(const sn_made *m, sm_value *v)
{
    v[0] = sm_value_int(42);
    v[1] = sm_value_int(INT64_MIN);
    v[2] = sm_value_double(-0.1);
    v[3] = sm_value_bool(true);
    v[4] = sm_value_nil();
    v[5] = sm_value_str(sn_uni);
    v[6] = sm_value_bytes(sn_bin, sizeof(sn_bin));
    v[7] = sm_value_str("");
    v[8] = sm_value_bytes("", 0);
    v[9] = sm_value_ref(m->anon_list);
    v[10] = sm_value_ref(m->named_list);
    v[11] = sm_value_bool(false);
}

static void
sn_alvals(const sn_made *m, sm_value *v)
{
    v[0] = sm_value_int(1);
    v[1] = sm_value_str("two");
    v[2] = sm_value_bytes(sn_bin, 2);
    v[3] = sm_value_double(4.5);
    v[4] = sm_value_nil();
    v[5] = sm_value_bool(true);
    v[6] = sm_value_ref(m->anon_dict);
}

static void
sn_note_id(sn_made *m, const char *token)
{
    uint64_t id = sn_token_id(token);
    if (id > m->max_id)
        m->max_id = id;
}

/* sn_fill makes one object of every kind with exact contents, on c. */
static void
sn_fill(sm_client *c, sn_made *m)
{
    sm_value v[16];
    memset(m, 0, sizeof(*m));

    /* An anonymous dict reachable only through an anonymous list. */
    sm_dict *ad;
    assert_sm_ok(sm_dict_new(c, &ad));
    sm_value yes = sm_value_str("yes");
    assert_sm_ok(sm_dict_set(ad, "deep", &yes));
    snprintf(m->anon_dict, sizeof(m->anon_dict), "%s", sm_dict_token(ad));
    sm_list *al;
    assert_sm_ok(sm_list_new(c, &al));
    snprintf(m->anon_list, sizeof(m->anon_list), "%s", sm_list_token(al));
    sn_alvals(m, v);
    assert_sm_ok(sm_list_extend(al, v, 7));
    /* An anonymous dict nothing refers to: not restored. */
    sm_dict *orphan;
    assert_sm_ok(sm_dict_new(c, &orphan));
    assert_sm_ok(sm_dict_set(orphan, "lost", &yes));
    snprintf(m->orphan, sizeof(m->orphan), "%s", sm_dict_token(orphan));

    sm_list *nl;
    assert_sm_ok(sm_list_open(c, "sn.l", &nl));
    snprintf(m->named_list, sizeof(m->named_list), "%s", sm_list_token(nl));
    v[0] = sm_value_str("a");
    v[1] = sm_value_str("b");
    v[2] = sm_value_ref(m->anon_list);
    assert_sm_ok(sm_list_extend(nl, v, 3));

    sm_dict *d;
    assert_sm_ok(sm_dict_open(c, "sn.d", &d));
    sn_dvals(m, v);
    for (size_t i = 0; i < SN_NELEM(sn_dkeys); i++)
        assert_sm_ok(sm_dict_set(d, sn_dkeys[i], &v[i]));
    /* Deleted and set again: insertion order, not first-set order. */
    assert_sm_ok(sm_dict_del(d, "int"));
    assert_sm_ok(sm_dict_set(d, "int", &v[0]));
    assert_sm_ok(sm_dict_del(d, "int"));
    for (size_t i = 0; i < SN_NELEM(sn_dkeys); i++)
        if (strcmp(sn_dkeys[i], "int") == 0)
            assert_sm_ok(sm_dict_set(d, "int", &v[i]));

    sm_dict *empty, *big;
    assert_sm_ok(sm_dict_open(c, "sn.empty", &empty));
    assert_sm_ok(sm_dict_open(c, "sn.big", &big));
    char(*bk)[16] = calloc(1000, sizeof(*bk));
    const char **bkp = calloc(1000, sizeof(*bkp));
    sm_value *bv = calloc(1000, sizeof(*bv));
    assert_non_null(bk);
    assert_non_null(bkp);
    assert_non_null(bv);
    for (int chunk = 0; chunk < SN_BIG / 1000; chunk++) {
        for (int i = 0; i < 1000; i++) {
            int k = chunk * 1000 + i;
            snprintf(bk[i], sizeof(bk[i]), "k%05d", k);
            bkp[i] = bk[i];
            bv[i] = sm_value_int((int64_t)k * 3 - 5000);
        }
        assert_sm_ok(sm_dict_update(big, bkp, bv, 1000));
    }
    free(bk);
    free(bkp);
    free(bv);

    sm_var *var;
    v[0] = sm_value_str("var \xe2\x9c\x93");
    assert_sm_ok(sm_var_open(c, "sn.v", &v[0], &var));
    sm_var_close(var);
    v[0] = sm_value_double(2.5);
    assert_sm_ok(sm_var_open(c, "sn.vd", &v[0], &var));
    sm_var_close(var);
    v[0] = sm_value_nil();
    assert_sm_ok(sm_var_open(c, "sn.vnil", &v[0], &var));
    sm_var_close(var);
    v[0] = sm_value_ref(m->anon_list);
    assert_sm_ok(sm_var_open(c, "sn.vref", &v[0], &var));
    sm_var_close(var);

    sm_array *a;
    sm_value ad4[4] = {sm_value_double(1.5), sm_value_double(-2.25), sm_value_double(1e300),
                       sm_value_double(-0.0)};
    assert_sm_ok(sm_array_open(c, "sn.ad", 'd', ad4, 4, &a));
    sm_array_close(a);
    sm_value ab4[4] = {sm_value_int(-128), sm_value_int(127), sm_value_int(0), sm_value_int(-1)};
    assert_sm_ok(sm_array_open(c, "sn.ab", 'b', ab4, 4, &a));
    sm_array_close(a);
    sm_value aq3[3] = {sm_value_int(0), sm_value_int(INT64_MAX), sm_value_int(12345)};
    assert_sm_ok(sm_array_open(c, "sn.aQ", 'Q', aq3, 3, &a));
    sm_array_close(a);
    sm_value af2[2] = {sm_value_double(0.5), sm_value_double(-3.0)};
    assert_sm_ok(sm_array_open(c, "sn.af", 'f', af2, 2, &a));
    sm_array_close(a);
    sm_value ah2[2] = {sm_value_int(65535), sm_value_int(7)};
    assert_sm_ok(sm_array_open(c, "sn.aH", 'H', ah2, 2, &a));
    sm_array_close(a);

    sm_ns *ns;
    assert_sm_ok(sm_ns_open(c, "sn.ns", &ns));
    v[0] = sm_value_int(1);
    assert_sm_ok(sm_ns_set(ns, "alpha", &v[0]));
    v[0] = sm_value_str("two");
    assert_sm_ok(sm_ns_set(ns, "beta", &v[0]));
    sm_ns_close(ns);

    sm_queue *q;
    assert_sm_ok(sm_queue_open(c, "sn.q", 5, true, &q));
    v[0] = sm_value_int(1);
    v[1] = sm_value_str("x");
    v[2] = sm_value_ref(m->anon_list);
    for (int i = 0; i < 3; i++)
        assert_sm_ok(sm_queue_put(q, &v[i], SM_NOWAIT));
    sm_value taken = sm_value_nil();
    assert_sm_ok(sm_queue_get(q, SM_NOWAIT, &taken)); /* held by this session, not done */
    sm_value_clear(&taken);
    sm_queue *q2;
    assert_sm_ok(sm_queue_open(c, "sn.q2", 0, false, &q2));
    v[0] = sm_value_str("a");
    v[1] = sm_value_str("b");
    v[2] = sm_value_str("c");
    for (int i = 0; i < 3; i++)
        assert_sm_ok(sm_queue_put(q2, &v[i], SM_NOWAIT));

    sm_event *e1, *e0;
    assert_sm_ok(sm_event_open(c, "sn.ev1", &e1));
    assert_sm_ok(sm_event_set(e1));
    assert_sm_ok(sm_event_open(c, "sn.ev0", &e0));

    sm_sem *s3, *sb, *s5;
    assert_sm_ok(sm_sem_open(c, "sn.sem", 3, false, &s3));
    assert_sm_ok(sm_sem_acquire(s3, SM_NOWAIT)); /* held: comes back after the restart */
    assert_sm_ok(sm_sem_open(c, "sn.bsem", 2, true, &sb));
    assert_sm_ok(sm_sem_acquire(sb, SM_NOWAIT));
    assert_sm_ok(sm_sem_acquire(sb, SM_NOWAIT));
    assert_sm_ok(sm_sem_open(c, "sn.sem5", 5, false, &s5));
    assert_sm_ok(sm_sem_release(s5, 4)); /* 9, none held */

    sm_barrier *b, *bb;
    assert_sm_ok(sm_barrier_open(c, "sn.bar", 3, &b));
    assert_sm_ok(sm_barrier_open(c, "sn.barb", 2, &bb));
    assert_sm_ok(sm_barrier_abort(bb));

    sm_lock *lk, *lk2;
    sm_rlock *rlk;
    assert_sm_ok(sm_lock_open(c, "sn.lk", &lk));
    assert_sm_ok(sm_lock_acquire_fenced(lk, SM_NOWAIT, &m->fence_lk)); /* held at the kill */
    assert_sm_ok(sm_rlock_open(c, "sn.rlk", &rlk));
    assert_sm_ok(sm_rlock_acquire_fenced(rlk, SM_NOWAIT, &m->fence_rlk));
    assert_sm_ok(sm_rlock_acquire(rlk, SM_NOWAIT));
    assert_sm_ok(sm_lock_open(c, "sn.lk2", &lk2));
    sm_cond *cv, *cv2;
    assert_sm_ok(sm_cond_open(c, "sn.cv", NULL, &cv)); /* its own anonymous rlock */
    snprintf(m->cv_lock, sizeof(m->cv_lock), "%s", sm_cond_lock_token(cv));
    assert_sm_ok(sm_cond_open(c, "sn.cv2", sm_lock_token(lk2), &cv2));
    snprintf(m->cv2_lock, sizeof(m->cv2_lock), "%s", sm_cond_lock_token(cv2));

    sm_pool *p;
    assert_sm_ok(sm_pool_open(c, "sn.pool", &p));

    /* The last object made has the largest id so far. */
    sm_list *last;
    assert_sm_ok(sm_list_new(c, &last));
    const char *toks[] = {m->anon_dict, m->anon_list, m->orphan, m->named_list, m->cv_lock,
                          sm_list_token(last), sm_cond_token(cv2)};
    for (size_t i = 0; i < SN_NELEM(toks); i++)
        sn_note_id(m, toks[i]);

    /* Written while every proxy is open, the lock and rlock held, a permit
     * and a queue item taken. */
    assert_sm_ok(sm_server_snapshot(c));
    sm_dict_close(ad);
    sm_list_close(al);
    sm_dict_close(orphan);
    sm_list_close(nl);
    sm_dict_close(d);
    sm_dict_close(empty);
    sm_dict_close(big);
    sm_queue_close(q);
    sm_queue_close(q2);
    sm_event_close(e1);
    sm_event_close(e0);
    sm_sem_close(s3);
    sm_sem_close(sb);
    sm_sem_close(s5);
    sm_barrier_close(b);
    sm_barrier_close(bb);
    sm_lock_close(lk);
    sm_rlock_close(rlk);
    sm_lock_close(lk2);
    sm_cond_close(cv);
    sm_cond_close(cv2);
    sm_pool_close(p);
    sm_list_close(last);
}

/* sn_verify checks everything sn_fill made, on a client of the restarted
 * server. */
static void
sn_verify(sm_client *c, const sn_made *m)
{
    sm_value v[16];

    sm_dict *d;
    assert_sm_ok(sm_dict_open(c, "sn.d", &d));
    sm_value dv[12];
    sn_dvals(m, v);
    /* sn_fill moved "int" to the end. */
    const char *keys[12];
    size_t k = 0;
    for (size_t i = 0; i < 12; i++)
        if (strcmp(sn_dkeys[i], "int") != 0) {
            keys[k] = sn_dkeys[i];
            dv[k++] = v[i];
        }
    keys[k] = "int";
    dv[k++] = v[0];
    sn_check_dict(d, keys, dv, k);
    sm_dict_close(d);

    /* The anonymous list attaches by its token, with its contents; so does
     * the anonymous dict only it refers to. */
    sm_list *al;
    assert_sm_ok(sm_list_attach(c, m->anon_list, &al));
    sn_alvals(m, v);
    sn_check_list(al, v, 7);
    sm_list_close(al);
    sm_dict *ad;
    assert_sm_ok(sm_dict_attach(c, m->anon_dict, &ad));
    sm_value yes = sm_value_str("yes");
    const char *deep[] = {"deep"};
    sn_check_dict(ad, deep, &yes, 1);
    sm_dict_close(ad);
    sm_dict *orphan = NULL;
    assert_sm_status(sm_dict_attach(c, m->orphan, &orphan), SM_ENOOBJ);

    sm_list *nl;
    assert_sm_ok(sm_list_open(c, "sn.l", &nl));
    assert_string_equal(sm_list_token(nl), m->named_list);
    v[0] = sm_value_str("a");
    v[1] = sm_value_str("b");
    v[2] = sm_value_ref(m->anon_list);
    sn_check_list(nl, v, 3);
    sm_list_close(nl);

    sm_dict *empty, *big;
    assert_sm_ok(sm_dict_open(c, "sn.empty", &empty));
    size_t n = 99;
    assert_sm_ok(sm_dict_len(empty, &n));
    assert_int_equal(n, 0);
    sm_dict_close(empty);
    assert_sm_ok(sm_dict_open(c, "sn.big", &big));
    char **gk = NULL;
    sm_value *gv = NULL;
    assert_sm_ok(sm_dict_items(big, &gk, &gv, &n));
    assert_int_equal(n, SN_BIG);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "k%05zu", i);
        assert_string_equal(gk[i], want);
        assert_int_equal(gv[i].type, SM_INT);
        assert_int_equal(gv[i].u.i, (int64_t)i * 3 - 5000);
    }
    sm_strings_free(gk, n);
    sm_values_free(gv, n);
    sm_dict_close(big);

    sn_check_var(c, "sn.v", sm_value_str("var \xe2\x9c\x93"));
    sn_check_var(c, "sn.vd", sm_value_double(2.5));
    sn_check_var(c, "sn.vnil", sm_value_nil());
    sn_check_var(c, "sn.vref", sm_value_ref(m->anon_list));

    sm_value ad4[4] = {sm_value_double(1.5), sm_value_double(-2.25), sm_value_double(1e300),
                       sm_value_double(-0.0)};
    sn_check_array(c, "sn.ad", 'd', ad4, 4);
    sm_value ab4[4] = {sm_value_int(-128), sm_value_int(127), sm_value_int(0), sm_value_int(-1)};
    sn_check_array(c, "sn.ab", 'b', ab4, 4);
    sm_value aq3[3] = {sm_value_int(0), sm_value_int(INT64_MAX), sm_value_int(12345)};
    sn_check_array(c, "sn.aQ", 'Q', aq3, 3);
    sm_value af2[2] = {sm_value_double(0.5), sm_value_double(-3.0)};
    sn_check_array(c, "sn.af", 'f', af2, 2);
    sm_value ah2[2] = {sm_value_int(65535), sm_value_int(7)};
    sn_check_array(c, "sn.aH", 'H', ah2, 2);

    sm_ns *ns;
    assert_sm_ok(sm_ns_open(c, "sn.ns", &ns));
    char **names = NULL;
    assert_sm_ok(sm_ns_list(ns, &names, &n));
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "alpha");
    assert_string_equal(names[1], "beta");
    sm_strings_free(names, n);
    sm_value got = sm_value_nil();
    assert_sm_ok(sm_ns_get(ns, "beta", &got));
    v[0] = sm_value_str("two");
    smt_assert_value_is(&got, &v[0]);
    sm_value_clear(&got);
    sm_ns_close(ns);

    /* The joinable queue: what was in it, its shape; the item taken and not
     * done went with its session; unfinished counts the items in it. */
    sm_queue *q;
    int64_t size = -1, maxsize = -1, unfinished = -1;
    assert_sm_ok(sm_queue_open(c, "sn.q", 1, false, &q));
    assert_sm_ok(sm_queue_info(q, &size, &maxsize, &unfinished));
    assert_int_equal(size, 2);
    assert_int_equal(maxsize, 5);
    assert_int_equal(unfinished, 2);
    v[0] = sm_value_str("x");
    v[1] = sm_value_ref(m->anon_list);
    for (int i = 0; i < 2; i++) {
        assert_sm_ok(sm_queue_get(q, SM_NOWAIT, &got));
        smt_assert_value_is(&got, &v[i]);
        sm_value_clear(&got);
        assert_sm_ok(sm_queue_task_done(q)); /* joinable, as saved */
    }
    assert_sm_ok(sm_queue_join(q, SM_NOWAIT));
    sm_queue_close(q);
    assert_sm_ok(sm_queue_open(c, "sn.q2", 9, true, &q));
    assert_sm_ok(sm_queue_info(q, &size, &maxsize, &unfinished));
    assert_int_equal(size, 3);
    assert_int_equal(maxsize, 0);
    assert_int_equal(unfinished, 0);
    const char *abc[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        assert_sm_ok(sm_queue_get(q, SM_NOWAIT, &got));
        v[0] = sm_value_str(abc[i]);
        smt_assert_value_is(&got, &v[0]);
        sm_value_clear(&got);
    }
    assert_sm_status(sm_queue_task_done(q), SM_EINVAL); /* not joinable */
    sm_queue_close(q);

    sm_event *e;
    bool flag = false;
    assert_sm_ok(sm_event_open(c, "sn.ev1", &e));
    assert_sm_ok(sm_event_is_set(e, &flag));
    assert_true(flag);
    sm_event_close(e);
    sn_exists(c, "sn.ev0");
    assert_sm_ok(sm_event_open(c, "sn.ev0", &e));
    assert_sm_ok(sm_event_is_set(e, &flag));
    assert_false(flag);
    sm_event_close(e);

    sm_sem *s;
    int64_t val = -1;
    assert_sm_ok(sm_sem_open(c, "sn.sem", 99, true, &s)); /* shape from the file */
    assert_sm_ok(sm_sem_value(s, &val));
    assert_int_equal(val, 3); /* the permit its dead session held came back */
    assert_sm_ok(sm_sem_release(s, 100)); /* unbounded, as saved */
    sm_sem_close(s);
    assert_sm_ok(sm_sem_open(c, "sn.bsem", 99, false, &s));
    assert_sm_ok(sm_sem_value(s, &val));
    assert_int_equal(val, 2);
    assert_sm_status(sm_sem_release(s, 1), SM_EOVERFLOW); /* bounded at 2, as saved */
    sm_sem_close(s);
    assert_sm_ok(sm_sem_open(c, "sn.sem5", 0, false, &s));
    assert_sm_ok(sm_sem_value(s, &val));
    assert_int_equal(val, 9);
    sm_sem_close(s);

    sm_barrier *b;
    int64_t parties = 0, waiting = -1;
    bool broken = true;
    assert_sm_ok(sm_barrier_open(c, "sn.bar", 7, &b));
    assert_sm_ok(sm_barrier_info(b, &parties, &waiting, &broken));
    assert_int_equal(parties, 3);
    assert_int_equal(waiting, 0);
    assert_false(broken);
    sm_barrier_close(b);
    assert_sm_ok(sm_barrier_open(c, "sn.barb", 7, &b));
    assert_sm_ok(sm_barrier_info(b, &parties, &waiting, &broken));
    assert_int_equal(parties, 2);
    assert_true(broken);
    sm_barrier_close(b);

    /* Locks held at the kill are free; their next acquirer hears that the
     * holder died, once, with a fence above every fence before. */
    sm_lock *lk;
    uint64_t fence = 0;
    sn_exists(c, "sn.lk");
    assert_sm_ok(sm_lock_open(c, "sn.lk", &lk));
    assert_sm_ok(sm_lock_locked(lk, &flag));
    assert_false(flag);
    assert_sm_status(sm_lock_acquire_fenced(lk, SM_NOWAIT, &fence), SM_EOWNERDEAD);
    assert_true(fence > m->fence_lk);
    assert_sm_ok(sm_lock_release(lk));
    assert_sm_ok(sm_lock_acquire(lk, SM_NOWAIT));
    assert_sm_ok(sm_lock_release(lk));
    sm_lock_close(lk);
    sm_rlock *rlk;
    assert_sm_ok(sm_rlock_open(c, "sn.rlk", &rlk));
    assert_sm_status(sm_rlock_acquire_fenced(rlk, SM_NOWAIT, &fence), SM_EOWNERDEAD);
    assert_true(fence > m->fence_rlk);
    assert_sm_ok(sm_rlock_release(rlk)); /* depth 1: the old depth 2 went with its holder */
    assert_sm_ok(sm_rlock_locked(rlk, &flag));
    assert_false(flag);
    sm_rlock_close(rlk);
    sn_exists(c, "sn.lk2");
    assert_sm_ok(sm_lock_open(c, "sn.lk2", &lk));
    assert_sm_ok(sm_lock_acquire(lk, SM_NOWAIT)); /* not held when saved: no news */
    assert_sm_ok(sm_lock_release(lk));
    sm_lock_close(lk);

    sm_cond *cv;
    assert_sm_ok(sm_cond_open(c, "sn.cv", NULL, &cv));
    assert_string_equal(sm_cond_lock_token(cv), m->cv_lock);
    assert_sm_ok(sm_cond_acquire(cv, SM_NOWAIT));
    assert_sm_ok(sm_cond_notify_all(cv));
    assert_sm_ok(sm_cond_release(cv));
    sm_cond_close(cv);
    assert_sm_ok(sm_cond_open(c, "sn.cv2", NULL, &cv));
    assert_string_equal(sm_cond_lock_token(cv), m->cv2_lock);
    sm_cond_close(cv);

    sn_exists(c, "sn.pool");

    /* New ids continue above every id before the restart. */
    sm_list *fresh;
    assert_sm_ok(sm_list_new(c, &fresh));
    assert_true(sn_token_id(sm_list_token(fresh)) > m->max_id);
    sm_list_close(fresh);
}

static void
test_snapshot_restores_every_kind_after_sigkill(void **state)
{
    (void)state;
    static sn_made m;
    const char *const every0[] = {"--snapshot-every", "0", NULL};
    sn_start(every0);
    sn_c1 = sn_open();
    sn_fill(sn_c1, &m);
    assert_int_equal(sn_temp_files(sn_dir), 0);
    struct stat sb;
    assert_int_equal(stat(sn_file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600); /* the data is the server user's only */

    sn_kill();
    sn_start(every0);
    sn_c2 = sn_open();
    sn_verify(sn_c2, &m);

    /* The old client's session did not survive: its next call says so. */
    sm_dict *old = NULL;
    assert_sm_status(sm_dict_open(sn_c1, "sn.d", &old), SM_ESESSION);
    /* 29 named; anonymous: the list, the dict only it refers to, and the
     * condition's own rlock (not the orphan, nor the list made last). */
    assert_true(sn_log_has("loaded 32 objects (29 named, 3 anonymous)"));
}

/* ------------------------------------------------------- SIGTERM, periodic */

static void
test_snapshot_sigterm_writes_changes_after_the_last_save(void **state)
{
    (void)state;
    const char *const every0[] = {"--snapshot-every", "0", NULL};
    sn_start(every0);
    sn_c1 = sn_open();
    sm_dict *d;
    sm_value one = sm_value_int(1), two = sm_value_int(2), got = sm_value_nil();
    assert_sm_ok(sm_dict_open(sn_c1, "t.d", &d));
    assert_sm_ok(sm_dict_set(d, "x", &one));
    assert_sm_ok(sm_server_snapshot(sn_c1));
    size_t len1;
    uint8_t *first = sn_read(sn_file, &len1);
    assert_non_null(first);
    assert_sm_ok(sm_dict_set(d, "x", &two));
    assert_sm_ok(sm_dict_set(d, "after", &one));
    sm_dict_close(d);
    sm_client_close(sn_c1);
    sn_c1 = NULL;
    sn_term();
    size_t len2;
    uint8_t *second = sn_read(sn_file, &len2);
    assert_non_null(second);
    assert_true(len1 != len2 || memcmp(first, second, len1) != 0);
    free(first);
    free(second);
    assert_int_equal(sn_temp_files(sn_dir), 0);

    sn_start(every0);
    sn_c2 = sn_open();
    assert_sm_ok(sm_dict_open(sn_c2, "t.d", &d));
    assert_sm_ok(sm_dict_get(d, "x", &got));
    smt_assert_value_is(&got, &two);
    assert_sm_ok(sm_dict_get(d, "after", &got));
    smt_assert_value_is(&got, &one);
    sm_dict_close(d);
}

/* sn_wait_file_var polls the file (bounded) until var name holds want. */
static void
sn_wait_file_var(const char *name, int64_t want)
{
    int64_t end = smt_now_ms() + SN_BOUND_MS, got = -1;
    while ((got = sn_file_var(name)) != want && smt_now_ms() < end)
        smt_sleep_ms(20);
    if (got != want) {
        print_error("the snapshot file never held %s = %" PRId64 " (last %" PRId64 ")\n", name,
                    want, got);
        fail();
    }
}

static void
test_snapshot_every_second_writes_by_itself(void **state)
{
    (void)state;
    const char *const every1[] = {"--snapshot-every", "1", NULL};
    sn_start(every1);
    sn_c1 = sn_open();
    sm_var *v;
    sm_dict *d;
    sm_value one = sm_value_int(1), two = sm_value_int(2), got = sm_value_nil();
    sm_value word = sm_value_str("periodic");
    assert_sm_ok(sm_var_open(sn_c1, "p.tick", &one, &v));
    assert_sm_ok(sm_dict_open(sn_c1, "p.d", &d));
    assert_sm_ok(sm_dict_set(d, "w", &word));
    sn_wait_file_var("p.tick", 1); /* a write, nobody asked */
    assert_sm_ok(sm_var_set(v, &two));
    sn_wait_file_var("p.tick", 2); /* and the next one, after a change */
    sm_var_close(v);
    sm_dict_close(d);
    sm_client_close(sn_c1);
    sn_c1 = NULL;
    sn_kill();
    assert_int_equal(sn_temp_files(sn_dir), 0);

    sn_start(every1);
    sn_c2 = sn_open();
    sn_check_var(sn_c2, "p.tick", two);
    assert_sm_ok(sm_dict_open(sn_c2, "p.d", &d));
    assert_sm_ok(sm_dict_get(d, "w", &got));
    smt_assert_value_is(&got, &word);
    sm_value_clear(&got);
    sm_dict_close(d);
}

/* ------------------------------------------------------- refused at start */

/* sn_base makes a small valid snapshot and returns its bytes: a named dict
 * "b.d" whose value "ref" refers to an anonymous list, and a named list. */
static uint8_t *
sn_base(size_t *lenp)
{
    const char *const every0[] = {"--snapshot-every", "0", NULL};
    sn_start(every0);
    sm_client *c = sn_open();
    sm_dict *d;
    sm_list *l, *nl;
    assert_sm_ok(sm_dict_open(c, "b.d", &d));
    assert_sm_ok(sm_list_new(c, &l));
    assert_sm_ok(sm_list_open(c, "b.l", &nl));
    sm_value ref = sm_value_ref(sm_list_token(l)), s = sm_value_str("long enough string");
    assert_sm_ok(sm_dict_set(d, "ref", &ref));
    assert_sm_ok(sm_dict_set(d, "s", &s));
    assert_sm_ok(sm_list_append(l, &s));
    assert_sm_ok(sm_server_snapshot(c));
    sm_dict_close(d);
    sm_list_close(l);
    sm_list_close(nl);
    sm_client_close(c);
    sn_term();
    uint8_t *buf = sn_read(sn_file, lenp);
    assert_non_null(buf);
    Smsnap__Snapshot *snap = sn_decode(buf, *lenp);
    assert_non_null(snap);
    assert_int_equal(snap->n_objects, 3);
    smsnap__snapshot__free_unpacked(snap, NULL);
    return buf;
}

/* sn_refused writes bytes as the snapshot file, starts syncmgrd on it
 * (with extra arguments) and asserts that it refuses: exit status 2, no
 * listening, a message naming the file and containing why, the file left
 * byte for byte and nothing written beside it. */
static void
sn_refused(const uint8_t *bytes, size_t len, const char *why, const char *const *extra)
{
    sn_write(sn_file, bytes, len);
    sn_write(sn_log, (const uint8_t *)"", 0);
    sn_srv s;
    int st = 0;
    if (sn_spawn(&s, sn_file, extra, false, &st) == 0) {
        kill(s.pid, SIGKILL);
        waitpid(s.pid, NULL, 0);
        print_error("syncmgrd started on a file it should refuse (%s)\n", why);
        fail();
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    size_t n;
    char *log = (char *)sn_read(sn_log, &n);
    assert_non_null(log);
    log[n] = '\0';
    char named[400];
    snprintf(named, sizeof(named), "syncmgrd: snapshot %s: ", sn_file);
    if (strstr(log, named) == NULL || strstr(log, why) == NULL) {
        print_error("wanted a message naming %s and saying '%s'; got:\n%s\n", sn_file, why, log);
        fail();
    }
    free(log);
    size_t after;
    uint8_t *now = sn_read(sn_file, &after);
    assert_int_equal(after, len);
    assert_true(len == 0 || memcmp(now, bytes, len) == 0);
    free(now);
    assert_int_equal(sn_temp_files(sn_dir), 0);
}

static void
test_snapshot_refuses_truncated_files(void **state)
{
    (void)state;
    size_t len;
    uint8_t *base = sn_base(&len);
    const size_t cuts[] = {0, 1, 8, 30, SN_HDR - 1, SN_HDR, SN_HDR + 1, len / 2, len - 1};
    for (size_t i = 0; i < SN_NELEM(cuts); i++)
        sn_refused(base, cuts[i], cuts[i] < SN_HDR ? "shorter than the 56-byte header"
                                                   : "truncated",
                   NULL);
    /* One byte too many is refused too. */
    uint8_t *longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, base, len);
    longer[len] = 0;
    sn_refused(longer, len + 1, "extra bytes at the end", NULL);
    free(longer);
    /* The intact file still loads. */
    sn_write(sn_file, base, len);
    sn_start(NULL);
    sn_kill();
    free(base);
}

static void
test_snapshot_refuses_damaged_headers_and_payloads(void **state)
{
    (void)state;
    size_t len;
    uint8_t *base = sn_base(&len);
    uint8_t *bad = malloc(len);
    assert_non_null(bad);

    memcpy(bad, base, len);
    bad[SN_HDR + (len - SN_HDR) / 2] ^= 0x01;
    sn_refused(bad, len, "SHA-256 does not match", NULL);

    memcpy(bad, base, len);
    bad[len - 1] ^= 0x80;
    sn_refused(bad, len, "SHA-256 does not match", NULL);

    memcpy(bad, base, len);
    bad[1] = 'X';
    sn_refused(bad, len, "wrong magic", NULL);

    memcpy(bad, base, len);
    bad[8] = 2;
    sn_refused(bad, len, "format version 2", NULL);

    memcpy(bad, base, len);
    bad[13] = 1;
    sn_refused(bad, len, "header flags", NULL);

    memcpy(bad, base, len);
    bad[24] ^= 0xff; /* the checksum itself */
    sn_refused(bad, len, "SHA-256 does not match", NULL);

    /* Garbage with a valid checksum: the payload does not decode. */
    uint8_t junk[SN_HDR + 5] = {0};
    memcpy(junk, base, SN_HDR);
    memcpy(junk + SN_HDR, "\xff\xff\xff\xff\xff", 5);
    junk[16] = 5;
    for (int i = 17; i < 24; i++)
        junk[i] = 0;
    sn_sha256(junk + SN_HDR, 5, junk + 24);
    sn_refused(junk, sizeof(junk), "does not decode", NULL);
    free(bad);
    free(base);
}

/* sn_forge decodes base, lets edit change it, and returns the file that
 * holds the result with a correct header and checksum. */
static uint8_t *
sn_forge(const uint8_t *base, size_t len, void (*edit)(Smsnap__Snapshot *), size_t *outlen)
{
    Smsnap__Snapshot *snap = sn_decode(base, len);
    assert_non_null(snap);
    edit(snap);
    uint8_t *out = sn_encode(snap, outlen);
    smsnap__snapshot__free_unpacked(snap, NULL);
    return out;
}

static Smwire__Value *
sn_ref_value(Smsnap__Snapshot *snap)
{
    Smsnap__Object *d = sn_find(snap, "b.d");
    assert_non_null(d);
    for (size_t i = 0; i < d->n_values; i++)
        if (d->values[i]->kind_case == SMWIRE__VALUE__KIND_REF)
            return d->values[i];
    fail();
    return NULL;
}

static void
sn_edit_dangling(Smsnap__Snapshot *snap)
{
    sn_ref_value(snap)->ref->id += 1000;
}

static void
sn_edit_wrong_nonce(Smsnap__Snapshot *snap)
{
    sn_ref_value(snap)->ref->nonce ^= 1;
}

static void
sn_edit_wrong_type(Smsnap__Snapshot *snap)
{
    sn_ref_value(snap)->ref->type = SMWIRE__OBJ_TYPE__OBJ_DICT; /* it is a list */
}

static void
sn_edit_duplicate_id(Smsnap__Snapshot *snap)
{
    Smsnap__Object *l = sn_find(snap, "b.l");
    Smsnap__Object *d = sn_find(snap, "b.d");
    l->id = d->id;
}

static void
sn_edit_unreferenced(Smsnap__Snapshot *snap)
{
    Smwire__Value *v = sn_ref_value(snap);
    smwire__obj_ref__free_unpacked(v->ref, NULL);
    v->kind_case = SMWIRE__VALUE__KIND_I; /* the anonymous list loses its only holder */
    v->i = 7;
}

static void
sn_edit_duplicate_name(Smsnap__Snapshot *snap)
{
    Smsnap__Object *l = sn_find(snap, "b.l");
    free(l->shape->name); /* strings are freed with the snapshot */
    l->shape->name = strdup("b.d");
}

static void
sn_edit_bad_typecode(Smsnap__Snapshot *snap)
{
    Smsnap__Object *l = sn_find(snap, "b.l");
    assert_int_equal(l->n_values, 0);
    l->shape->type = SMWIRE__OBJ_TYPE__OBJ_ARRAY;
    l->shape->typecode = strdup("z"); /* it was the shared empty default */
    l->shape->length = 1;
}

static void
sn_edit_unknown_type(Smsnap__Snapshot *snap)
{
    sn_find(snap, "b.l")->shape->type = (Smwire__ObjType)99;
}

static void
test_snapshot_refuses_impossible_states(void **state)
{
    (void)state;
    size_t len, flen;
    uint8_t *base = sn_base(&len);
    static const struct {
        void (*edit)(Smsnap__Snapshot *);
        const char *why;
    } cases[] = {
        {sn_edit_dangling, "which is not in the file"},
        {sn_edit_wrong_nonce, "with a nonce that is not its own"},
        {sn_edit_wrong_type, "as a dict"},
        {sn_edit_duplicate_id, "belongs to two objects"},
        {sn_edit_unreferenced, "is referred to by nothing in the file"},
        {sn_edit_duplicate_name, "the name 'b.d' belongs to two objects"},
        {sn_edit_bad_typecode, "unknown typecode 'z'"},
        {sn_edit_unknown_type, "unknown type 99"},
    };
    for (size_t i = 0; i < SN_NELEM(cases); i++) {
        uint8_t *f = sn_forge(base, len, cases[i].edit, &flen);
        sn_refused(f, flen, cases[i].why, NULL);
        free(f);
    }
    /* A valid file past this server's limits. */
    const char *const objs[] = {"--max-objects", "2", NULL};
    sn_refused(base, len, "3 objects, over the limit of 2 (--max-objects)", objs);
    const char *const value[] = {"--max-value", "4", NULL};
    sn_refused(base, len, "(--max-value)", value);
    const char *const items[] = {"--max-keys", "1", NULL};
    sn_refused(base, len, "(--max-keys)", items);
    free(base);
}

/* ------------------------------------------------------- failed writes */

static void
sn_dict_roundtrip(sm_client *c, const char *name, int64_t x)
{
    sm_dict *d;
    sm_value v = sm_value_int(x), got = sm_value_nil();
    assert_sm_ok(sm_dict_open(c, name, &d));
    assert_sm_ok(sm_dict_set(d, "x", &v));
    assert_sm_ok(sm_dict_get(d, "x", &got));
    smt_assert_value_is(&got, &v);
    sm_dict_close(d);
}

static void
test_snapshot_unwritable_directory_keeps_the_old_file(void **state)
{
    (void)state;
    /* The server runs as nobody when the test runs as root, so that a
     * directory without write permission stops it. */
    if (geteuid() == 0)
        assert_int_equal(chown(sn_dir, 65534, 65534), 0);
    const char *const every0[] = {"--snapshot-every", "0", NULL};
    int st = 0;
    if (sn_spawn(&sn_server, sn_file, every0, true, &st) != 0) {
        print_error("syncmgrd did not start (status 0x%x)\n", st);
        fail();
    }
    sn_c1 = sn_open();
    sn_dict_roundtrip(sn_c1, "w.d", 1);
    assert_sm_ok(sm_server_snapshot(sn_c1));
    size_t len;
    uint8_t *old = sn_read(sn_file, &len);
    assert_non_null(old);

    assert_int_equal(chmod(sn_dir, 0555), 0);
    sn_dict_roundtrip(sn_c1, "w.d", 2);
    assert_sm_status(sm_server_snapshot(sn_c1), SM_EINTERNAL);
    assert_non_null(strstr(sm_errdetail(), "snapshot not written"));
    assert_non_null(strstr(sm_errdetail(), sn_dir));
    assert_true(sn_log_has("NOT written"));
    sn_dict_roundtrip(sn_c1, "w.d", 3); /* still serving */
    size_t now_len;
    uint8_t *now = sn_read(sn_file, &now_len);
    assert_int_equal(now_len, len);
    assert_memory_equal(now, old, len);
    free(now);
    assert_int_equal(sn_temp_files(sn_dir), 0);

    /* Writable again: the next snapshot goes through. */
    assert_int_equal(chmod(sn_dir, 0755), 0);
    assert_sm_ok(sm_server_snapshot(sn_c1));
    now = sn_read(sn_file, &now_len);
    assert_true(now_len != len || memcmp(now, old, len) != 0);
    free(now);
    free(old);
}

static void
test_snapshot_directory_moved_away_keeps_the_old_file(void **state)
{
    (void)state;
    char sub[300], away[300];
    snprintf(sub, sizeof(sub), "%s/data", sn_dir);
    snprintf(away, sizeof(away), "%s/away", sn_dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(sn_file, sizeof(sn_file), "%s/snap", sub);
    const char *const every0[] = {"--snapshot-every", "0", NULL};
    sn_start(every0);
    sn_c1 = sn_open();
    sn_dict_roundtrip(sn_c1, "m.d", 1);
    assert_sm_ok(sm_server_snapshot(sn_c1));
    size_t len;
    uint8_t *old = sn_read(sn_file, &len);
    assert_non_null(old);

    assert_int_equal(rename(sub, away), 0);
    sn_dict_roundtrip(sn_c1, "m.d", 2);
    assert_sm_status(sm_server_snapshot(sn_c1), SM_EINTERNAL);
    assert_non_null(strstr(sm_errdetail(), sub));
    assert_true(sn_log_has("NOT written"));
    sn_dict_roundtrip(sn_c1, "m.d", 3);
    char moved[320];
    snprintf(moved, sizeof(moved), "%s/snap", away);
    size_t now_len;
    uint8_t *now = sn_read(moved, &now_len);
    assert_int_equal(now_len, len);
    assert_memory_equal(now, old, len);
    free(now);
    assert_int_equal(sn_temp_files(away), 0);

    /* Back in place: the old file is still what was written first, and the
     * next snapshot replaces it. */
    assert_int_equal(rename(away, sub), 0);
    now = sn_read(sn_file, &now_len);
    assert_int_equal(now_len, len);
    assert_memory_equal(now, old, len);
    free(now);
    assert_sm_ok(sm_server_snapshot(sn_c1));
    sm_client_close(sn_c1);
    sn_c1 = NULL;
    sn_kill();
    sn_start(every0);
    sn_c2 = sn_open();
    sm_dict *d;
    sm_value three = sm_value_int(3), got = sm_value_nil();
    assert_sm_ok(sm_dict_open(sn_c2, "m.d", &d));
    assert_sm_ok(sm_dict_get(d, "x", &got));
    smt_assert_value_is(&got, &three);
    sm_dict_close(d);
    free(old);
}

/* ------------------------------------------------ the request and its checks */

static void
test_snapshot_request_needs_a_snapshot_file(void **state)
{
    (void)state;
    int st = 0;
    assert_int_equal(sn_spawn(&sn_server, NULL, NULL, false, &st), 0);
    sn_c1 = sn_open();
    assert_sm_status(sm_server_snapshot(sn_c1), SM_EINVAL);
    assert_non_null(strstr(sm_errdetail(), "--snapshot FILE"));
    assert_sm_status(sm_server_snapshot(NULL), SM_EINVAL);
    /* Not in a batch: it waits for the disk. */
    sm_batch *b = NULL;
    assert_sm_ok(sm_batch_begin(sn_c1, SM_BATCH_PIPELINE, &b));
    assert_sm_status(sm_server_snapshot(sn_c1), SM_EINVAL);
    sm_batch_free(b);
}

/* sn_raw sends one SNAPSHOT_SAVE with the given session on a raw REQ
 * socket and returns the reply's status. */
static int
sn_raw(const char *url, uint64_t session)
{
    nng_socket sock;
    nng_msg *m = NULL;
    int status = -1;
    assert_int_equal(nng_req0_open(&sock), 0);
    nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, SN_BOUND_MS);
    assert_int_equal(nng_dial(sock, url, NULL, 0), 0);
    Smwire__Request req = SMWIRE__REQUEST__INIT;
    Smwire__Empty e = SMWIRE__EMPTY__INIT;
    req.version = 1;
    req.session = session;
    req.seq = 1;
    req.op_case = SMWIRE__REQUEST__OP_SNAPSHOT_SAVE;
    req.snapshot_save = &e;
    size_t len = smwire__request__get_packed_size(&req);
    assert_int_equal(nng_msg_alloc(&m, len), 0);
    smwire__request__pack(&req, nng_msg_body(m));
    assert_int_equal(nng_sendmsg(sock, m, 0), 0);
    assert_int_equal(nng_recvmsg(sock, &m, 0), 0);
    Smwire__Reply *rep = smwire__reply__unpack(NULL, nng_msg_len(m), nng_msg_body(m));
    assert_non_null(rep);
    status = (int)rep->status;
    smwire__reply__free_unpacked(rep, NULL);
    nng_msg_free(m);
    nng_close(sock);
    return status;
}

static void
test_snapshot_request_goes_through_session_and_authkey_checks(void **state)
{
    (void)state;
    char key[320];
    snprintf(key, sizeof(key), "%s/key", sn_dir);
    sn_write(key, (const uint8_t *)"a snapshot test key\n", 20);
    const char *const keyed[] = {"--authkey-file", key, "--snapshot-every", "0", NULL};
    sn_start(keyed);
    sm_client *c = NULL;
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    o.authkey = "wrong key";
    o.authkey_len = 9;
    assert_sm_status(sm_client_open(&c, sn_server.url, &o), SM_EAUTH);
    o.authkey = "a snapshot test key";
    o.authkey_len = 19;
    assert_sm_ok(sm_client_open(&sn_c1, sn_server.url, &o));
    /* A live session's id without the key's MAC, or no session at all:
     * refused, and nothing is written. */
    uint64_t sid = 0;
    assert_sm_ok(sm_client_session(sn_c1, &sid));
    assert_int_equal(sn_raw(sn_server.url, sid), SM_EAUTH);
    assert_int_equal(sn_raw(sn_server.url, 0), SM_ESESSION);
    struct stat sb;
    assert_int_equal(stat(sn_file, &sb), -1);
    assert_sm_ok(sm_server_snapshot(sn_c1));
    assert_int_equal(stat(sn_file, &sb), 0);
    sm_client_close(sn_c1);
    sn_c1 = NULL;
    sn_kill();

    /* Without an authkey, a request still needs a live session. */
    sn_start(NULL);
    assert_int_equal(sn_raw(sn_server.url, 0x1234), SM_ESESSION);
}

int
main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_snapshot_restores_every_kind_after_sigkill,
                                        sn_setup, sn_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_sigterm_writes_changes_after_the_last_save,
                                        sn_setup, sn_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_every_second_writes_by_itself, sn_setup,
                                        sn_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_refuses_truncated_files, sn_setup,
                                        sn_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_refuses_damaged_headers_and_payloads,
                                        sn_setup, sn_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_refuses_impossible_states, sn_setup,
                                        sn_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_unwritable_directory_keeps_the_old_file,
                                        sn_setup, sn_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_directory_moved_away_keeps_the_old_file,
                                        sn_setup, sn_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_request_needs_a_snapshot_file, sn_setup,
                                        sn_teardown),
        cmocka_unit_test_setup_teardown(
            test_snapshot_request_goes_through_session_and_authkey_checks, sn_setup,
            sn_teardown),
    };
    return cmocka_run_group_tests_name("snapshot", tests, NULL, NULL);
}
