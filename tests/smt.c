/* smt.c - test helpers: spawn a real syncmgrd, fresh names, status asserts.
 *
 * The server binary is SMT_SYNCMGRD (set by CMake). It is started with
 * --ready-fd so that it reports the URL it really listens on (a tcp:// port
 * 0 is resolved by the server) once it is listening: no sleeps, no polling. */

#include "smt.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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
    /* The server writes one URL per listener and a blank line once it listens. */
    size_t got = 0;
    char buf[1024];
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    for (;;) {
        int pr = poll(&pfd, 1, 10000);
        if (pr <= 0) {
            fprintf(stderr, "smt: syncmgrd did not report ready in 10 s\n");
            break;
        }
        ssize_t r = read(fds[0], buf + got, sizeof(buf) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        buf[got] = '\0';
        if (strstr(buf, "\n\n") != NULL)
            break;
    }
    close(fds[0]);
    buf[got] = '\0';
    char *nl = strchr(buf, '\n');
    if (got == 0 || nl == NULL || strstr(buf, "\n\n") == NULL) {
        fprintf(stderr, "smt: syncmgrd failed to start (%s)\n", buf);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    *nl = '\0';
    snprintf(s->url, sizeof(s->url), "%.500s", buf);
    s->pid = pid;
    return 0;
}

static int
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
        st = smt_reap(s->pid, 5000);
        if (st == -2) {
            fprintf(stderr, "smt: syncmgrd %ld ignored SIGTERM for 5 s; killing it\n",
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
