/* manager.c - the embedded default: a private syncmgrd for this process,
 * C's `with Manager() as m:`.
 *
 * sm_manager_start forks and execs syncmgrd on ipc:// in a fresh temporary
 * directory, with --ready-fd so that it says when it listens (no sleeps, no
 * polling), and PR_SET_PDEATHSIG so that it dies with its parent. Everything
 * the child needs is prepared before fork(): between fork and exec in a
 * threaded program only async-signal-safe calls are allowed.
 * Exported: sm_manager_start, sm_manager_url, sm_manager_stop. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "smi.h"

struct sm_manager {
    pid_t pid;   /* the server */
    pid_t owner; /* the process that started it */
    sm_client *c;
    char dir[PATH_MAX];
    char sock[PATH_MAX + 8];
    char url[PATH_MAX + 16];
};

/* manager_find_server writes the syncmgrd to run into buf; false if none. */
static bool
manager_find_server(char *buf, size_t size)
{
    const char *env = getenv("SYNCMGRD");
    if (env != NULL && env[0] != '\0') {
        snprintf(buf, size, "%s", env);
        return access(buf, X_OK) == 0;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            if (snprintf(buf, size, "%.*s/syncmgrd", (int)(size - 10), self) < (int)size &&
                access(buf, X_OK) == 0)
                return true;
        }
    }
    const char *fixed[] = {SM_SYNCMGRD_BUILD_PATH, SM_SYNCMGRD_INSTALL_PATH};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        snprintf(buf, size, "%s", fixed[i]);
        if (access(buf, X_OK) == 0)
            return true;
    }
    const char *path = getenv("PATH");
    while (path != NULL && *path != '\0') {
        const char *end = strchr(path, ':');
        size_t len = end ? (size_t)(end - path) : strlen(path);
        snprintf(buf, size, "%.*s/syncmgrd", (int)len, path);
        if (len > 0 && access(buf, X_OK) == 0)
            return true;
        path = end ? end + 1 : NULL;
    }
    return false;
}

/* manager_reap waits up to ms for the server to exit; true if it did. */
static bool
manager_reap(pid_t pid, int ms)
{
    for (int waited = 0; waited <= ms; waited += 10) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return true;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL); /* a child's exit has no fd to wait on */
    }
    return false;
}

static void
manager_cleanup_dir(sm_manager *m)
{
    unlink(m->sock);
    rmdir(m->dir);
}

int
sm_manager_start(sm_manager **mp, sm_client **cp)
{
    char server[PATH_MAX];
    char listen[PATH_MAX + 16];
    char fdarg[16];
    int fds[2];

    smi_detail_clear();
    if (mp == NULL)
        return smi_fail(SM_EINVAL, "no manager pointer");
    if (!manager_find_server(server, sizeof(server)))
        return smi_fail(SM_EUNREACHABLE, "no syncmgrd found (set SYNCMGRD to its path)");
    sm_manager *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return SM_ENOMEM;
    const char *tmp = getenv("TMPDIR");
    snprintf(m->dir, sizeof(m->dir), "%s/syncmgr.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(m->dir) == NULL) {
        free(m);
        return smi_fail(SM_EUNREACHABLE, "mkdtemp: %s", strerror(errno));
    }
    snprintf(m->sock, sizeof(m->sock), "%s/sock", m->dir);
    snprintf(m->url, sizeof(m->url), "ipc://%s", m->sock);
    snprintf(listen, sizeof(listen), "%s", m->url);
    if (pipe2(fds, O_CLOEXEC) != 0) {
        manager_cleanup_dir(m);
        free(m);
        return smi_fail(SM_EUNREACHABLE, "pipe: %s", strerror(errno));
    }
    /* The child's copy of the write end: dup3 without O_CLOEXEC, to a
     * number known before fork. */
    int childfd = fds[1] < 64 ? 64 : fds[1] + 1;
    snprintf(fdarg, sizeof(fdarg), "%d", childfd);
    char *const argv[] = {server, "--listen", listen, "--ready-fd", fdarg,
                          "--log-level", "warn", NULL};
    pid_t owner = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        manager_cleanup_dir(m);
        free(m);
        return smi_fail(SM_EUNREACHABLE, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != owner)
            _exit(127);
        if (dup3(fds[1], childfd, 0) < 0)
            _exit(127);
        execv(server, argv);
        _exit(127);
    }
    close(fds[1]);
    m->pid = pid;
    m->owner = owner;

    char buf[PATH_MAX + 64];
    size_t got = 0;
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    while (got < sizeof(buf) - 1 && poll(&pfd, 1, 10000) > 0) {
        ssize_t r = read(fds[0], buf + got, sizeof(buf) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fds[0]);
    buf[got] = '\0';
    int rv = SM_OK;
    if (strstr(buf, "\n\n") == NULL) {
        rv = smi_fail(SM_EUNREACHABLE, "%s did not start", server);
    } else {
        rv = cp != NULL ? sm_client_open(&m->c, m->url, NULL) : SM_OK;
    }
    if (rv != SM_OK) {
        char detail[512];
        snprintf(detail, sizeof(detail), "%s", sm_errdetail());
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        manager_cleanup_dir(m);
        free(m);
        smi_detail_set(detail);
        return rv;
    }
    *mp = m;
    if (cp != NULL)
        *cp = m->c;
    return SM_OK;
}

const char *
sm_manager_url(const sm_manager *m)
{
    return m != NULL ? m->url : "";
}

int
sm_manager_stop(sm_manager *m)
{
    int rv = SM_OK;
    if (m == NULL)
        return SM_OK;
    if (getpid() != m->owner) {
        /* A forked child: the server and the client's threads are the
         * parent's. Only our copy of the memory is ours to free. */
        free(m);
        return SM_OK;
    }
    sm_client_close(m->c);
    kill(m->pid, SIGTERM);
    if (!manager_reap(m->pid, 5000)) {
        kill(m->pid, SIGKILL);
        waitpid(m->pid, NULL, 0);
        rv = smi_fail(SM_EINTERNAL, "syncmgrd ignored SIGTERM for 5 s and was killed");
    }
    manager_cleanup_dir(m);
    free(m);
    return rv;
}
