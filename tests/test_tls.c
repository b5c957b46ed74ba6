/* test_tls.c - tls+tcp:// between libsyncmgr and syncmgrd (syncmgr.h,
 * sm_client_opts; syncmgrd --tls-cert, --tls-key, --tls-ca).
 *
 * The group setup makes, with the openssl command, a throwaway CA, a server
 * certificate signed by it for 127.0.0.1 and localhost (subjectAltName IP
 * and DNS), a client certificate signed by it, and a second, unrelated CA
 * with a client certificate of its own; then it starts two syncmgrds on
 * tls+tcp://127.0.0.1:0, one with only --tls-cert/--tls-key ("open") and
 * one that also requires client certificates (--tls-ca, "certs"). Without
 * openssl every test is skipped, saying so.
 *
 * - syncmgrd's ready line names the tls+tcp:// transport it listens on.
 * - A client trusting the CA (tls_ca_file, or $SYNCMGR_TLS_CA) connects and
 *   its calls work with exact values; with tls+tcp://127.0.0.1 and no
 *   tls_server_name the server is checked against its IP subjectAltName.
 * - A client trusting the other CA, or expecting another server name, is
 *   refused: SM_EUNREACHABLE within its 1 s dial timeout (plus a margin),
 *   and the server goes on serving.
 * - A plain tcp:// client on the TLS port gets no connection
 *   (SM_EUNREACHABLE): the transport really is TLS.
 * - With client certificates required: no certificate, and the other CA's
 *   certificate, are refused (SM_EUNREACHABLE); the right one, from the
 *   options or from $SYNCMGR_TLS_CERT and $SYNCMGR_TLS_KEY, works.
 * - A client configuration that cannot work is SM_EINVAL at once: no CA
 *   file, a certificate without its key, a file that does not exist.
 * - Without an authkey, syncmgrd refuses tls+tcp://0.0.0.0:0 (exit status
 *   2) unless --tls-ca requires client certificates; with --tls-ca it
 *   listens there and serves a client with a certificate.
 * - TLS and an authkey together: the key is still asked for (SM_EAUTH
 *   without it), and with both the client works.
 * - Peers that send a ClientHello and reset the connection, or close it,
 *   before the handshake ends never stop either server from accepting
 *   (server/epipe.c; under nng 1.5.2 alone a few dozen of them did). */
#include "smt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIAL_MS 1000    /* the dial timeout of clients that must be refused */
#define MARGIN_MS 2000  /* ... which must give up within DIAL_MS + this */
#define SPAWN_MS 10000  /* how long syncmgrd may take to listen, or to exit */
#define READY_FD 50     /* the descriptor syncmgrd gets for --ready-fd */
#define READY_ARG "50"  /* ... as its argument */
#define KEY "tls and a key"
#define SMV(expr) ((const sm_value[]){expr})
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* A syncmgrd started directly, with its ready lines and stderr. */
typedef struct direct {
    pid_t pid;
    int errfd;        /* read end of its stderr */
    char ready[1024]; /* what it wrote on --ready-fd */
    unsigned port;    /* the port of its first listener, 0 if none */
} direct;

static bool have_openssl;
static char dir[64];
static direct srv_open;  /* TLS, no client certificates */
static direct srv_certs; /* TLS, client certificates required */

/* path returns dir/name in a static buffer of its own per call slot. */
static const char *
path(const char *name)
{
    static char buf[16][256];
    static int next;
    char *p = buf[next++ % 16];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

/* ------------------------------------------------------ running programs */

/* run runs argv (PATH search) with stdout and stderr appended to
 * dir/openssl.log; returns its wait status, or -1 if it could not start. */
static int
run(const char *const *argv)
{
    int st = -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(path("openssl.log"), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

static bool
run_ok(const char *const *argv)
{
    int st = run(argv);
    if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return true;
    fprintf(stderr, "test_tls: %s %s failed (wait status 0x%x); see %s\n", argv[0], argv[1], st,
            path("openssl.log"));
    return false;
}

static bool
write_text(const char *p, const char *text)
{
    FILE *f = fopen(p, "w");
    if (f == NULL)
        return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

/* make_ca makes NAME.key and NAME.crt, a self-signed CA. */
static bool
make_ca(const char *name, const char *cn)
{
    char key[64], crt[64], subj[128];
    snprintf(key, sizeof(key), "%s.key", name);
    snprintf(crt, sizeof(crt), "%s.crt", name);
    snprintf(subj, sizeof(subj), "/CN=%s", cn);
    const char *argv[] = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path(key), "-out",
                          path(crt), "-days", "2", "-subj", subj, "-addext",
                          "basicConstraints=critical,CA:TRUE", "-addext",
                          "keyUsage=critical,keyCertSign,cRLSign", NULL};
    return run_ok(argv);
}

/* make_leaf makes NAME.key and NAME.crt signed by CA (CA.key, CA.crt),
 * with the extensions in ext. */
static bool
make_leaf(const char *name, const char *cn, const char *ca, const char *serial, const char *ext)
{
    char key[64], csr[64], crt[64], extf[64], subj[128], cakey[64], cacrt[64];
    snprintf(key, sizeof(key), "%s.key", name);
    snprintf(csr, sizeof(csr), "%s.csr", name);
    snprintf(crt, sizeof(crt), "%s.crt", name);
    snprintf(extf, sizeof(extf), "%s.ext", name);
    snprintf(subj, sizeof(subj), "/CN=%s", cn);
    snprintf(cakey, sizeof(cakey), "%s.key", ca);
    snprintf(cacrt, sizeof(cacrt), "%s.crt", ca);
    if (!write_text(path(extf), ext))
        return false;
    const char *req[] = {"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path(key), "-out",
                         path(csr), "-subj", subj, NULL};
    const char *sign[] = {"openssl", "x509", "-req", "-in", path(csr), "-CA", path(cacrt),
                          "-CAkey", path(cakey), "-set_serial", serial, "-days", "2", "-out",
                          path(crt), "-extfile", path(extf), NULL};
    return run_ok(req) && run_ok(sign);
}

/* direct_start starts syncmgrd with args and --ready-fd, and reads what it
 * reports until it listens (a blank line) or exits. */
static void
direct_start(direct *d, const char *const *args)
{
    int rp[2], ep[2];
    const char *argv[32];
    int k = 0;
    memset(d, 0, sizeof(*d));
    argv[k++] = SMT_SYNCMGRD;
    for (int i = 0; args[i] != NULL && k < 28; i++)
        argv[k++] = args[i];
    argv[k++] = "--ready-fd";
    argv[k++] = READY_ARG;
    argv[k] = NULL;
    if (pipe2(rp, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0)
        return;
    pid_t parent = getpid();
    fflush(NULL);
    d->pid = fork();
    if (d->pid < 0)
        return;
    if (d->pid == 0) {
        /* Only exec here: this process may have nng state it may not touch. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (dup2(rp[1], READY_FD) < 0 || dup2(ep[1], 2) < 0)
            _exit(127);
        execv(SMT_SYNCMGRD, (char *const *)argv);
        _exit(127);
    }
    close(rp[1]);
    close(ep[1]);
    d->errfd = ep[0];
    size_t got = 0;
    int64_t end = smt_now_ms() + SPAWN_MS;
    while (got + 1 < sizeof(d->ready) && strstr(d->ready, "\n\n") == NULL) {
        struct pollfd p = {.fd = rp[0], .events = POLLIN};
        int64_t left = end - smt_now_ms();
        if (left <= 0)
            break;
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        ssize_t r = read(rp[0], d->ready + got, sizeof(d->ready) - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        d->ready[got] = '\0';
    }
    close(rp[0]);
    /* The port of the first line, whatever scheme it names. */
    const char *colon = strchr(d->ready, '\n');
    if (colon != NULL) {
        const char *p = d->ready;
        const char *last = NULL;
        for (; p < colon; p++)
            if (*p == ':')
                last = p;
        if (last != NULL)
            d->port = (unsigned)strtoul(last + 1, NULL, 10);
    }
}

/* direct_wait stops it (SIGTERM first if term), reaps it and returns the
 * wait status; its stderr goes to err. */
static int
direct_wait(direct *d, bool term, char *err, size_t esize)
{
    int st = -1;
    if (d->pid <= 0)
        return -1;
    if (term)
        kill(d->pid, SIGTERM);
    int64_t end = smt_now_ms() + SPAWN_MS;
    for (;;) {
        pid_t r = waitpid(d->pid, &st, WNOHANG);
        if (r == d->pid)
            break;
        if (smt_now_ms() > end) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, &st, 0);
            st = -1;
            break;
        }
        smt_sleep_ms(10); /* waiting on a process exit: no descriptor to block on */
    }
    size_t got = 0;
    ssize_t r;
    while (err != NULL && got + 1 < esize && (r = read(d->errfd, err + got, esize - 1 - got)) > 0)
        got += (size_t)r;
    if (err != NULL)
        err[got] = '\0';
    close(d->errfd);
    d->pid = 0;
    return st;
}

/* url_of writes SCHEME://127.0.0.1:PORT of d into buf. */
static const char *
url_of(const direct *d, const char *scheme, char *buf, size_t size)
{
    snprintf(buf, size, "%s://127.0.0.1:%u", scheme, d->port);
    return buf;
}

/* ---------------------------------------------------------- group set-up */

static bool
find_openssl(void)
{
    const char *p = getenv("PATH");
    char cand[512];
    while (p != NULL && *p != '\0') {
        size_t n = strcspn(p, ":");
        snprintf(cand, sizeof(cand), "%.*s/openssl", (int)n, p);
        if (access(cand, X_OK) == 0)
            return true;
        p += n;
        if (*p == ':')
            p++;
    }
    return false;
}

static int
group_setup(void **state)
{
    (void)state;
    have_openssl = find_openssl();
    if (!have_openssl) {
        fprintf(stderr, "SKIP: no openssl command in PATH, so no certificates to test with "
                        "(tests/deps.sh installs it)\n");
        return 0;
    }
    snprintf(dir, sizeof(dir), "/tmp/smt-tls.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    if (!make_ca("ca", "smt test CA") || !make_ca("other-ca", "smt unrelated CA") ||
        !make_leaf("server", "localhost", "ca", "2",
                   "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                   "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n") ||
        !make_leaf("client", "smt client", "ca", "3",
                   "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n") ||
        !make_leaf("other-client", "smt other client", "other-ca", "4",
                   "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n"))
        return -1;
    const char *open_args[] = {"--listen", "tls+tcp://127.0.0.1:0", "--tls-cert",
                               path("server.crt"), "--tls-key", path("server.key"),
                               "--log-level", "warn", NULL};
    direct_start(&srv_open, open_args);
    const char *certs_args[] = {"--listen", "tls+tcp://127.0.0.1:0", "--tls-cert",
                                path("server.crt"), "--tls-key", path("server.key"), "--tls-ca",
                                path("ca.crt"), "--log-level", "warn", NULL};
    direct_start(&srv_certs, certs_args);
    if (srv_open.port == 0 || srv_certs.port == 0) {
        fprintf(stderr, "test_tls: a TLS syncmgrd did not start ('%s', '%s')\n", srv_open.ready,
                srv_certs.ready);
        return -1;
    }
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    int bad = 0;
    char err[4096];
    if (!have_openssl)
        return 0;
    direct *all[] = {&srv_open, &srv_certs};
    for (size_t i = 0; i < COUNT(all); i++) {
        if (all[i]->pid <= 0)
            continue;
        int st = direct_wait(all[i], true, err, sizeof(err));
        if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
            fprintf(stderr, "test_tls: syncmgrd did not exit cleanly (status %d): %s\n", st,
                    err);
            bad = -1;
        }
    }
    const char *files[] = {"ca.key", "ca.crt", "other-ca.key", "other-ca.crt", "openssl.log"};
    const char *leaves[] = {"server", "client", "other-client"};
    const char *exts[] = {"key", "csr", "crt", "ext"};
    for (size_t i = 0; i < COUNT(files); i++)
        unlink(path(files[i]));
    for (size_t i = 0; i < COUNT(leaves); i++) {
        for (size_t j = 0; j < COUNT(exts); j++) {
            char n[64];
            snprintf(n, sizeof(n), "%s.%s", leaves[i], exts[j]);
            unlink(path(n));
        }
    }
    if (rmdir(dir) != 0)
        fprintf(stderr, "test_tls: %s left behind: %s\n", dir, strerror(errno));
    return bad;
}

#define NEED_OPENSSL()                                                                           \
    do {                                                                                         \
        if (!have_openssl)                                                                       \
            skip();                                                                              \
    } while (0)

/* ---------------------------------------------------------------- helpers */

/* tls_opts fills o for a TLS client: ca (may be NULL), cert and key (may be
 * NULL), server name (NULL: the URL's host), dial timeout. */
static void
tls_opts(sm_client_opts *o, const char *ca, const char *cert, const char *key, const char *name,
         int64_t dial_ms)
{
    sm_client_opts init = SM_CLIENT_OPTS_INIT;
    *o = init;
    o->tls_ca_file = ca;
    o->tls_cert_file = cert;
    o->tls_key_file = key;
    o->tls_server_name = name;
    o->dial_timeout_ms = dial_ms;
}

/* use_client checks that c works: a fresh dict, an increment, a string. */
static void
use_client(sm_client *c)
{
    sm_dict *d;
    sm_value v = sm_value_nil();
    assert_sm_ok(sm_dict_open(c, smt_name("tls"), &d));
    assert_sm_ok(sm_dict_incr(d, "n", SMV(sm_value_int(40)), &v));
    smt_assert_value(&v, sm_value_int(40));
    assert_sm_ok(sm_dict_incr(d, "n", SMV(sm_value_int(2)), &v));
    smt_assert_value(&v, sm_value_int(42));
    assert_sm_ok(sm_dict_set(d, "s", SMV(sm_value_str("over tls"))));
    sm_value_clear(&v);
    assert_sm_ok(sm_dict_get(d, "s", &v));
    smt_assert_value_is(&v, SMV(sm_value_str("over tls")));
    sm_value_clear(&v);
    assert_sm_ok(sm_dict_close(d));
}

/* assert_works opens a client on url with o, uses it and closes it. */
static void
assert_works(const char *url, const sm_client_opts *o)
{
    sm_client *c = NULL;
    assert_sm_ok(sm_client_open(&c, url, o));
    use_client(c);
    sm_client_close(c);
}

/* assert_refused: sm_client_open on url with o is SM_EUNREACHABLE, and
 * gives up within its dial timeout and a margin. */
static void
assert_refused(const char *url, const sm_client_opts *o)
{
    sm_client *c = NULL;
    int64_t t0 = smt_now_ms();
    int rv = sm_client_open(&c, url, o);
    int64_t took = smt_now_ms() - t0;
    if (rv == SM_OK)
        sm_client_close(c);
    assert_sm_status(rv, SM_EUNREACHABLE);
    if (took > o->dial_timeout_ms + MARGIN_MS)
        fail_msg("refused after %" PRId64 " ms; the dial timeout is %" PRId64 " ms", took,
                 o->dial_timeout_ms);
}

/* ------------------------------------------------------------------ tests */

static void
test_tls_ready_line_names_the_tls_transport(void **state)
{
    (void)state;
    NEED_OPENSSL();
    char want[64];
    snprintf(want, sizeof(want), "tls+tcp://127.0.0.1:%u\n\n", srv_open.port);
    assert_string_equal(srv_open.ready, want);
}

static void
test_tls_client_trusting_the_ca_works(void **state)
{
    (void)state;
    NEED_OPENSSL();
    char url[64];
    sm_client_opts o;
    url_of(&srv_open, "tls+tcp", url, sizeof(url));

    /* The certificate's DNS name. */
    tls_opts(&o, path("ca.crt"), NULL, NULL, "localhost", 5000);
    assert_works(url, &o);

    /* The CA from the environment. */
    assert_int_equal(setenv("SYNCMGR_TLS_CA", path("ca.crt"), 1), 0);
    tls_opts(&o, NULL, NULL, NULL, "localhost", 5000);
    sm_client *c = NULL;
    int rv = sm_client_open(&c, url, &o);
    unsetenv("SYNCMGR_TLS_CA");
    assert_sm_ok(rv);
    use_client(c);
    sm_client_close(c);
}

static void
test_tls_ip_url_needs_a_server_name(void **state)
{
    (void)state;
    NEED_OPENSSL();
    char url[64];
    sm_client_opts o;
    sm_client *c = NULL;
    url_of(&srv_open, "tls+tcp", url, sizeof(url));
    /* No tls_server_name and an IP address in the URL: the mbedtls under
     * Debian's nng checks DNS names only, so the client says so at once
     * instead of failing the handshake. */
    tls_opts(&o, path("ca.crt"), NULL, NULL, NULL, 3000);
    assert_sm_status(sm_client_open(&c, url, &o), SM_EINVAL);
    assert_null(c);
    assert_non_null(strstr(sm_errdetail(), "tls_server_name"));
    /* The same URL with a DNS name of the certificate works. */
    tls_opts(&o, path("ca.crt"), NULL, NULL, "localhost", 3000);
    assert_works(url, &o);
}

static void
test_tls_client_trusting_another_ca_is_refused(void **state)
{
    (void)state;
    NEED_OPENSSL();
    char url[64];
    sm_client_opts o;
    url_of(&srv_open, "tls+tcp", url, sizeof(url));

    tls_opts(&o, path("other-ca.crt"), NULL, NULL, "localhost", DIAL_MS);
    assert_refused(url, &o);
    /* The server's certificate names localhost and 127.0.0.1, nothing else. */
    tls_opts(&o, path("ca.crt"), NULL, NULL, "elsewhere.example", DIAL_MS);
    assert_refused(url, &o);
    /* A server certificate is not a CA. */
    tls_opts(&o, path("server.crt"), NULL, NULL, "localhost", DIAL_MS);
    assert_refused(url, &o);

    /* The server goes on serving. */
    tls_opts(&o, path("ca.crt"), NULL, NULL, "localhost", 5000);
    assert_works(url, &o);
}

static void
test_tls_plain_tcp_to_the_tls_port_gets_no_connection(void **state)
{
    (void)state;
    NEED_OPENSSL();
    char url[64];
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    o.dial_timeout_ms = DIAL_MS;
    assert_refused(url_of(&srv_open, "tcp", url, sizeof(url)), &o);
    assert_refused(url_of(&srv_certs, "tcp", url, sizeof(url)), &o);
    tls_opts(&o, path("ca.crt"), NULL, NULL, "localhost", 5000);
    assert_works(url_of(&srv_open, "tls+tcp", url, sizeof(url)), &o);
}

static void
test_tls_required_client_certificate_is_checked(void **state)
{
    (void)state;
    NEED_OPENSSL();
    char url[64];
    sm_client_opts o;
    url_of(&srv_certs, "tls+tcp", url, sizeof(url));

    tls_opts(&o, path("ca.crt"), NULL, NULL, "localhost", DIAL_MS);
    assert_refused(url, &o);
    tls_opts(&o, path("ca.crt"), path("other-client.crt"), path("other-client.key"), "localhost",
             DIAL_MS);
    assert_refused(url, &o);
    /* The server's own certificate was not made for clients. */
    tls_opts(&o, path("ca.crt"), path("server.crt"), path("server.key"), "localhost", DIAL_MS);
    assert_refused(url, &o);

    tls_opts(&o, path("ca.crt"), path("client.crt"), path("client.key"), "localhost", 5000);
    assert_works(url, &o);

    /* Everything from the environment. */
    setenv("SYNCMGR_TLS_CA", path("ca.crt"), 1);
    setenv("SYNCMGR_TLS_CERT", path("client.crt"), 1);
    setenv("SYNCMGR_TLS_KEY", path("client.key"), 1);
    tls_opts(&o, NULL, NULL, NULL, "localhost", 5000);
    sm_client *c = NULL;
    int rv = sm_client_open(&c, url, &o);
    unsetenv("SYNCMGR_TLS_CA");
    unsetenv("SYNCMGR_TLS_CERT");
    unsetenv("SYNCMGR_TLS_KEY");
    assert_sm_ok(rv);
    use_client(c);
    sm_client_close(c);
}

static void
test_tls_unusable_client_configuration_is_einval(void **state)
{
    (void)state;
    NEED_OPENSSL();
    char url[64];
    sm_client_opts o;
    sm_client *c = NULL;
    url_of(&srv_open, "tls+tcp", url, sizeof(url));

    tls_opts(&o, NULL, NULL, NULL, "localhost", DIAL_MS);
    assert_sm_status(sm_client_open(&c, url, &o), SM_EINVAL);
    tls_opts(&o, path("ca.crt"), path("client.crt"), NULL, "localhost", DIAL_MS);
    assert_sm_status(sm_client_open(&c, url, &o), SM_EINVAL);
    tls_opts(&o, path("no-such-ca.crt"), NULL, NULL, "localhost", DIAL_MS);
    assert_sm_status(sm_client_open(&c, url, &o), SM_EINVAL);
}

static void
test_tls_any_address_without_a_key_needs_client_certificates(void **state)
{
    (void)state;
    NEED_OPENSSL();
    char err[4096], url[64];
    direct d;

    const char *bare[] = {"--listen", "tls+tcp://0.0.0.0:0", "--tls-cert", path("server.crt"),
                          "--tls-key", path("server.key"), "--log-level", "none", NULL};
    direct_start(&d, bare);
    assert_string_equal(d.ready, "");
    int st = direct_wait(&d, false, err, sizeof(err));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 2);
    assert_non_null(strstr(err, "tls+tcp://0.0.0.0:0"));
    assert_non_null(strstr(err, "--insecure"));

    const char *certs[] = {"--listen", "tls+tcp://0.0.0.0:0", "--tls-cert", path("server.crt"),
                           "--tls-key", path("server.key"), "--tls-ca", path("ca.crt"),
                           "--log-level", "none", NULL};
    direct_start(&d, certs);
    if (d.port == 0) {
        direct_wait(&d, true, err, sizeof(err));
        fail_msg("syncmgrd with --tls-ca did not listen: '%s'; stderr: %s", d.ready, err);
    }
    sm_client_opts o;
    tls_opts(&o, path("ca.crt"), path("client.crt"), path("client.key"), "localhost", 5000);
    assert_works(url_of(&d, "tls+tcp", url, sizeof(url)), &o);
    tls_opts(&o, path("ca.crt"), NULL, NULL, "localhost", DIAL_MS);
    assert_refused(url, &o);
    st = direct_wait(&d, true, err, sizeof(err));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void
test_tls_with_an_authkey_still_asks_for_the_key(void **state)
{
    (void)state;
    NEED_OPENSSL();
    char err[4096], url[64];
    assert_true(write_text(path("authkey"), KEY "\n"));
    const char *args[] = {"--listen", "tls+tcp://127.0.0.1:0", "--tls-cert", path("server.crt"),
                          "--tls-key", path("server.key"), "--authkey-file", path("authkey"),
                          "--log-level", "none", NULL};
    direct d;
    direct_start(&d, args);
    unlink(path("authkey"));
    if (d.port == 0) {
        direct_wait(&d, true, err, sizeof(err));
        fail_msg("syncmgrd with TLS and a key did not listen: '%s'; stderr: %s", d.ready, err);
    }
    url_of(&d, "tls+tcp", url, sizeof(url));
    sm_client_opts o;
    sm_client *c = NULL;
    tls_opts(&o, path("ca.crt"), NULL, NULL, "localhost", 5000);
    assert_sm_status(sm_client_open(&c, url, &o), SM_EAUTH);
    assert_string_equal(sm_errdetail(), "authentication failed");
    o.authkey = KEY;
    o.authkey_len = strlen(KEY);
    assert_works(url, &o);
    int st = direct_wait(&d, true, err, sizeof(err));
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* A TLS 1.2 ClientHello that the test servers answer (ECDHE-ECDSA suites,
 * P-256, ecdsa_secp256r1_sha256, the fixed client random 0..31). */
static const unsigned char client_hello[] = {
    0x16, 0x03, 0x01, 0x00, 0x49,                   /* handshake record, 73 bytes */
    0x01, 0x00, 0x00, 0x45, 0x03, 0x03,             /* ClientHello, 69 bytes, TLS 1.2 */
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
    0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
    0x1e, 0x1f,                                     /* random */
    0x00,                                           /* no session id */
    0x00, 0x06, 0xc0, 0x2b, 0xc0, 0x2c, 0xc0, 0x23, /* cipher suites */
    0x01, 0x00,                                     /* no compression */
    0x00, 0x16,                                     /* extensions, 22 bytes */
    0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17, /* supported groups: secp256r1 */
    0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,             /* point formats: uncompressed */
    0x00, 0x0d, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03, /* signatures: ecdsa_secp256r1_sha256 */
};

/* hello_and_leave connects to d's port, sends the ClientHello and leaves:
 * with a reset (SO_LINGER 0) or with a close. */
static void
hello_and_leave(const direct *d, bool reset)
{
    int fd = smt_tcp_connect(d->port);
    if (send(fd, client_hello, sizeof(client_hello), MSG_NOSIGNAL) != (ssize_t)sizeof(client_hello))
        fail_msg("send: %s", strerror(errno));
    if (reset)
        smt_close_reset(fd);
    else
        close(fd);
}

static void
test_tls_peers_leaving_mid_handshake_leave_the_listener_accepting(void **state)
{
    (void)state;
    NEED_OPENSSL();
    char url[64];
    sm_client_opts o;
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 100; i++) {
            hello_and_leave(&srv_open, round == 0 || i % 2 == 0);
            hello_and_leave(&srv_certs, round == 0 || i % 2 == 0);
        }
        tls_opts(&o, path("ca.crt"), NULL, NULL, "localhost", 5000);
        assert_works(url_of(&srv_open, "tls+tcp", url, sizeof(url)), &o);
        tls_opts(&o, path("ca.crt"), path("client.crt"), path("client.key"), "localhost", 5000);
        assert_works(url_of(&srv_certs, "tls+tcp", url, sizeof(url)), &o);
    }
}


int
main(void)
{
    /* Each test says where its keys and certificates come from. */
    const char *vars[] = {"SYNCMGR_AUTHKEY_FILE", "SYNCMGR_AUTHKEY", "SYNCMGR_TLS_CA",
                          "SYNCMGR_TLS_CERT", "SYNCMGR_TLS_KEY"};
    for (size_t i = 0; i < COUNT(vars); i++)
        unsetenv(vars[i]);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_ready_line_names_the_tls_transport),
        cmocka_unit_test(test_tls_client_trusting_the_ca_works),
        cmocka_unit_test(test_tls_ip_url_needs_a_server_name),
        cmocka_unit_test(test_tls_client_trusting_another_ca_is_refused),
        cmocka_unit_test(test_tls_plain_tcp_to_the_tls_port_gets_no_connection),
        cmocka_unit_test(test_tls_required_client_certificate_is_checked),
        cmocka_unit_test(test_tls_unusable_client_configuration_is_einval),
        cmocka_unit_test(test_tls_any_address_without_a_key_needs_client_certificates),
        cmocka_unit_test(test_tls_with_an_authkey_still_asks_for_the_key),
        cmocka_unit_test(test_tls_peers_leaving_mid_handshake_leave_the_listener_accepting),
    };
    return cmocka_run_group_tests_name("tls", tests, group_setup, group_teardown);
}
