/* smt.c - test helpers: spawn a real syncmgrd, fresh names, status asserts.
 *
 * The server binary is SMT_SYNCMGRD (set by CMake). It is started with
 * --ready-fd so that it reports the URL it really listens on (a tcp:// port
 * 0 is resolved by the server) once it is listening: no sleeps, no polling. */

#include "smt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SMT_SYNCMGRD
#error "SMT_SYNCMGRD must name the syncmgrd binary"
#endif

static smt_server smt_srv;
static sm_client *smt_cli;
static const char *smt_cur_transport = "ipc";

const char *
smt_url(void)
{
    return smt_srv.url;
}

sm_client *
smt_client(void)
{
    return smt_cli;
}

const char *
smt_transport(void)
{
    return smt_cur_transport;
}

const char *
smt_name(const char *prefix)
{
    static __thread char buf[256];
    static int counter;
    int n = __atomic_add_fetch(&counter, 1, __ATOMIC_SEQ_CST);
    snprintf(buf, sizeof(buf), "%s.%ld.%d", prefix, (long)getpid(), n);
    return buf;
}

void
smt_assert_status(int got, int want, const char *expr, const char *file, int line)
{
    if (got == want)
        return;
    print_error("%s returned %s (%s), wanted %s; detail: %s\n", expr, sm_errname(got),
                sm_strerror(got), sm_errname(want), sm_errdetail());
    _fail(file, line);
}

void
smt_wait_child(pid_t pid)
{
    int st = 0;
    pid_t r;
    do {
        r = waitpid(pid, &st, 0);
    } while (r < 0 && errno == EINTR);
    assert_int_equal(r, pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        print_error("child %ld ended with status 0x%x\n", (long)pid, st);
        fail();
    }
}

int
smt_server_spawn(smt_server *s, const char *transport, const char *const *extra)
{
    char listen[512];
    int fds[2];

    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "/tmp/smt.XXXXXX");
    if (mkdtemp(s->dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    if (strcmp(transport, "tcp") == 0)
        snprintf(listen, sizeof(listen), "tcp://127.0.0.1:0");
    else
        snprintf(listen, sizeof(listen), "ipc://%s/sock", s->dir);
    if (pipe2(fds, O_CLOEXEC) != 0) {
        perror("pipe2");
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return -1;
    }
    if (pid == 0) {
        const char *argv[32];
        char fdbuf[16];
        int k = 0;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int wfd = dup(fds[1]); /* without O_CLOEXEC */
        snprintf(fdbuf, sizeof(fdbuf), "%d", wfd);
        argv[k++] = SMT_SYNCMGRD;
        argv[k++] = "--listen";
        argv[k++] = listen;
        argv[k++] = "--ready-fd";
        argv[k++] = fdbuf;
        argv[k++] = "--log-level";
        argv[k++] = getenv("SMT_LOG_LEVEL") ? getenv("SMT_LOG_LEVEL") : "warn";
        for (int i = 0; extra != NULL && extra[i] != NULL && k < 30; i++)
            argv[k++] = extra[i];
        argv[k] = NULL;
        execv(SMT_SYNCMGRD, (char *const *)argv);
        perror("execv " SMT_SYNCMGRD);
        _exit(127);
    }
    close(fds[1]);
    if (!smt_read_ready(fds[0], 10000, s->url, sizeof(s->url))) {
        fprintf(stderr, "smt: syncmgrd failed to start (%s)\n", s->url);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    s->pid = pid;
    return 0;
}

bool
smt_read_ready(int fd, int timeout_ms, char *url, size_t size)
{
    size_t got = 0;
    char buf[1024];
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    for (;;) {
        int pr = poll(&pfd, 1, timeout_ms);
        if (pr <= 0) {
            fprintf(stderr, "smt: syncmgrd did not report ready in %d ms\n", timeout_ms);
            break;
        }
        ssize_t r = read(fd, buf + got, sizeof(buf) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        buf[got] = '\0';
        if (strstr(buf, "\n\n") != NULL)
            break;
    }
    close(fd);
    buf[got] = '\0';
    char *nl = strchr(buf, '\n');
    bool ready = nl != NULL && strstr(buf, "\n\n") != NULL;
    if (ready)
        *nl = '\0';
    snprintf(url, size, "%s", buf);
    return ready;
}

int
smt_reap(pid_t pid, int timeout_ms)
{
    int st;
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0 && errno != EINTR)
            return -1;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL); /* waiting on process exit: no fd to block on */
    }
    return -2;
}

int
smt_server_stop(smt_server *s)
{
    int st = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        /* Longer than syncmgrd's own 5 s close watchdog, so a server that is
         * about to exit cleanly is never killed first. */
        st = smt_reap(s->pid, 10000);
        if (st == -2) {
            fprintf(stderr, "smt: syncmgrd %ld ignored SIGTERM for 10 s; killing it\n",
                    (long)s->pid);
            kill(s->pid, SIGKILL);
            waitpid(s->pid, NULL, 0);
            st = -1;
        }
        s->pid = 0;
    }
    if (s->dir[0] != '\0') {
        char sock[300];
        snprintf(sock, sizeof(sock), "%s/sock", s->dir);
        unlink(sock);
        rmdir(s->dir);
        s->dir[0] = '\0';
    }
    return st;
}

void
smt_server_kill(smt_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
    smt_server_stop(s);
}

static int
smt_group_setup(void **state)
{
    (void)state;
    if (smt_server_spawn(&smt_srv, smt_cur_transport, NULL) != 0)
        return -1;
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    int rv = sm_client_open(&smt_cli, smt_srv.url, &o);
    if (rv != SM_OK) {
        fprintf(stderr, "smt: sm_client_open(%s): %s\n", smt_srv.url, sm_errname(rv));
        smt_server_kill(&smt_srv);
        return -1;
    }
    return 0;
}

static int
smt_group_teardown(void **state)
{
    (void)state;
    sm_client_close(smt_cli);
    smt_cli = NULL;
    int st = smt_server_stop(&smt_srv);
    if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        fprintf(stderr, "smt: syncmgrd did not exit cleanly on SIGTERM (status %d)\n", st);
        return -1;
    }
    return 0;
}

pid_t
smt_spawn(const char *name, ...)
{
    const char *argv[64];
    int k = 0;
    va_list ap;

    argv[k++] = "smt-child";
    argv[k++] = "--smt-child";
    argv[k++] = name;
    va_start(ap, name);
    for (const char *a = va_arg(ap, const char *); a != NULL && k < 63;
         a = va_arg(ap, const char *))
        argv[k++] = a;
    va_end(ap);
    argv[k] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Only exec here: this process has nng state it may not touch. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv("/proc/self/exe", (char *const *)argv);
        _exit(126);
    }
    return pid;
}

int
smt_main(int argc, char **argv, const char *name, const struct CMUnitTest *tests, size_t n,
         const smt_child *children, size_t nchildren)
{
    static const char *const all[] = {"ipc", "tcp"};
    int failed = 0;
    signal(SIGPIPE, SIG_IGN);
    /* SMT_TEST=PATTERN runs only the tests whose names match (cmocka's
     * filter: '*' and '?' wildcards). */
    if (getenv("SMT_TEST") != NULL)
        cmocka_set_test_filter(getenv("SMT_TEST"));
    if (argc >= 3 && strcmp(argv[1], "--smt-child") == 0) {
        for (size_t i = 0; i < nchildren; i++)
            if (strcmp(children[i].name, argv[2]) == 0)
                return children[i].fn(argc - 2, argv + 2);
        fprintf(stderr, "smt: no child function '%s'\n", argv[2]);
        return 125;
    }
    for (size_t i = 0; i < 2; i++) {
        if (argc > 1 && strcmp(argv[1], all[i]) != 0)
            continue;
        char group[128];
        smt_cur_transport = all[i];
        snprintf(group, sizeof(group), "%s/%s", name, all[i]);
        failed += _cmocka_run_group_tests(group, tests, n, smt_group_setup, smt_group_teardown);
    }
    return failed;
}

/* ------------------------------------------------------- clocks and waits */

int64_t
smt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
smt_sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

bool
smt_join_within(pthread_t t, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    return pthread_timedjoin_np(t, NULL, &until) == 0;
}

int64_t
smt_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------- strict value checks */

const char *
smt_type_name(sm_type t)
{
    switch (t) {
    case SM_NIL:
        return "nil";
    case SM_BOOL:
        return "bool";
    case SM_INT:
        return "int";
    case SM_DOUBLE:
        return "double";
    case SM_BYTES:
        return "bytes";
    case SM_STR:
        return "str";
    case SM_REF:
        return "ref";
    }
    return "?";
}

void
smt_describe(const sm_value *v, char *buf, size_t cap)
{
    switch (v->type) {
    case SM_NIL:
        snprintf(buf, cap, "nil");
        return;
    case SM_BOOL:
        snprintf(buf, cap, "bool %s", v->u.b ? "true" : "false");
        return;
    case SM_INT:
        snprintf(buf, cap, "int %" PRId64, v->u.i);
        return;
    case SM_DOUBLE:
        snprintf(buf, cap, "double %.17g", v->u.d);
        return;
    case SM_BYTES:
    case SM_STR:
    case SM_REF: {
        size_t k = (size_t)snprintf(buf, cap, "%s[%zu] \"", smt_type_name(v->type), v->u.buf.len);
        const unsigned char *p = v->u.buf.ptr;
        for (size_t i = 0; p != NULL && i < v->u.buf.len && i < 24 && k + 8 < cap; i++) {
            if (p[i] >= 0x20 && p[i] < 0x7f)
                k += (size_t)snprintf(buf + k, cap - k, "%c", p[i]);
            else
                k += (size_t)snprintf(buf + k, cap - k, "\\x%02x", p[i]);
        }
        snprintf(buf + k, cap - k, "%s\"", v->u.buf.len > 24 ? "..." : "");
        return;
    }
    }
    snprintf(buf, cap, "type %d", (int)v->type);
}

bool
smt_value_same(const sm_value *got, const sm_value *want, const char **why)
{
    *why = "content differs";
    if (got->type != want->type) {
        *why = "kind differs";
        return false;
    }
    switch (want->type) {
    case SM_NIL:
        return true;
    case SM_BOOL:
        return got->u.b == want->u.b;
    case SM_INT:
        return got->u.i == want->u.i;
    case SM_DOUBLE:
        return memcmp(&got->u.d, &want->u.d, sizeof(double)) == 0;
    case SM_BYTES:
    case SM_STR:
    case SM_REF:
        if (got->u.buf.len != want->u.buf.len) {
            *why = "length differs";
            return false;
        }
        if (got->u.buf.len > 0 || want->type != SM_BYTES) {
            if (got->u.buf.ptr == NULL) {
                *why = "buffer is NULL";
                return false;
            }
            if (!got->u.buf.owned) {
                *why = "buffer handed out is not owned";
                return false;
            }
        }
        if (want->type != SM_BYTES && ((const char *)got->u.buf.ptr)[got->u.buf.len] != '\0') {
            *why = "text is not NUL-terminated";
            return false;
        }
        return got->u.buf.len == 0 || memcmp(got->u.buf.ptr, want->u.buf.ptr, got->u.buf.len) == 0;
    }
    *why = "unknown kind";
    return false;
}

void
smt_check_value(const sm_value *got, const sm_value *want, const char *what,
                const char *file, int line)
{
    const char *why;
    char g[160], w[160];

    if (smt_value_same(got, want, &why))
        return;
    smt_describe(got, g, sizeof(g));
    smt_describe(want, w, sizeof(w));
    print_error("%s: got %s, wanted %s (%s)\n", what, g, w, why);
    _fail(file, line);
}

/* ------------------------------------------------ content value checks */

const char *
smt_value_text(const sm_value *v, char *buf, size_t size)
{
    switch (v->type) {
    case SM_NIL:
        snprintf(buf, size, "nil");
        break;
    case SM_BOOL:
        snprintf(buf, size, "bool %s", v->u.b ? "true" : "false");
        break;
    case SM_INT:
        snprintf(buf, size, "int %" PRId64, v->u.i);
        break;
    case SM_DOUBLE:
        snprintf(buf, size, "double %.17g", v->u.d);
        break;
    case SM_BYTES:
    case SM_STR:
    case SM_REF: {
        const char *kind = v->type == SM_BYTES ? "bytes" : v->type == SM_STR ? "str" : "ref";
        size_t n = v->u.buf.len < 48 ? v->u.buf.len : 48;
        size_t at = (size_t)snprintf(buf, size, "%s[%zu] ", kind, v->u.buf.len);
        const unsigned char *p = v->u.buf.ptr;
        for (size_t i = 0; p != NULL && i < n && at + 5 < size; i++) {
            if (p[i] >= 0x20 && p[i] < 0x7f)
                at += (size_t)snprintf(buf + at, size - at, "%c", p[i]);
            else
                at += (size_t)snprintf(buf + at, size - at, "\\x%02x", p[i]);
        }
        break;
    }
    default:
        snprintf(buf, size, "type %d", (int)v->type);
        break;
    }
    return buf;
}

bool
smt_value_matches(const sm_value *got, const sm_value *want)
{
    if (got->type != want->type)
        return false;
    switch (got->type) {
    case SM_NIL:
        return true;
    case SM_BOOL:
        return got->u.b == want->u.b;
    case SM_INT:
        return got->u.i == want->u.i;
    case SM_DOUBLE:
        return memcmp(&got->u.d, &want->u.d, sizeof(double)) == 0;
    case SM_BYTES:
    case SM_STR:
    case SM_REF:
        if (got->u.buf.len != want->u.buf.len)
            return false;
        if (got->type != SM_BYTES &&
            (got->u.buf.ptr == NULL || ((const char *)got->u.buf.ptr)[got->u.buf.len] != '\0'))
            return false;
        return got->u.buf.len == 0 || memcmp(got->u.buf.ptr, want->u.buf.ptr, got->u.buf.len) == 0;
    default:
        return false;
    }
}

void
smt_value_check(const sm_value *got, sm_value want, const char *file, int line)
{
    char g[256], w[256];
    if (smt_value_matches(got, &want))
        return;
    print_error("value is %s, wanted %s\n", smt_value_text(got, g, sizeof(g)),
                smt_value_text(&want, w, sizeof(w)));
    _fail(file, line);
}

/* ------------------------------------------------------------ misc helpers */

int
smt_child_fail(const char *who, const char *what, int rv)
{
    fprintf(stderr, "%s %ld: %s: %s (%s): %s\n", who, (long)getpid(), what, sm_errname(rv),
            sm_strerror(rv), sm_errdetail());
    return 1;
}

void
smt_join_or_fail(pthread_t t, time_t secs)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += secs;
    assert_int_equal(pthread_timedjoin_np(t, NULL, &dl), 0);
}

int64_t
smt_dict_int(sm_dict *d, const char *key)
{
    sm_value v = sm_value_nil();
    assert_sm_ok(sm_dict_get_or(d, key, (const sm_value[]){sm_value_int(0)}, &v));
    assert_int_equal(v.type, SM_INT);
    return v.u.i;
}

int
smt_tcp_connect(unsigned port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        fail_msg("connect to 127.0.0.1:%u: %s", port, strerror(errno));
    return fd;
}

int
smt_ipc_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(path) < sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        fail_msg("connect to %s: %s", path, strerror(errno));
    return fd;
}

void
smt_close_reset(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    close(fd);
}
