/* main.c - syncmgrd: flags, signals, start and a clean stop.
 *
 * SIGINT and SIGTERM are blocked in every thread (the mask is set before nng
 * starts its threads) and taken by sigwait() in main, so no handler runs on
 * an nng thread. Stopping closes the socket under a watchdog: nng 1.5.2's
 * nng_close can hang while clients keep sending (NNG-NOTES item 7), and a
 * manager told to stop must stop.
 * Exported: main. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "http.h"
#include "net.h"
#include "snapshot.h"

#define MAIN_STOP_WATCHDOG_S 5

static void
main_usage(FILE *f)
{
    fprintf(f,
            "usage: syncmgrd [options]\n"
            "\n"
            "The syncmgr manager: hosts shared objects (dicts, lists, values, arrays,\n"
            "namespaces, locks, semaphores, conditions, events, barriers, queues) and\n"
            "task pools, and serves them to libsyncmgr clients over nng request/reply.\n"
            "\n"
            "  --listen URL       listen on URL (repeatable): ipc:///path/to/sock,\n"
            "                     tcp://HOST:PORT (port 0 picks a free one) or\n"
            "                     tls+tcp://HOST:PORT. Default: ipc:///tmp/syncmgrd.sock\n"
            "\n"
            "Security:\n"
            "  --authkey-file F   clients must prove this shared secret (the file's\n"
            "                     bytes, less a trailing newline) by an HMAC-SHA256\n"
            "                     challenge, and sign every request with it. Without\n"
            "                     this flag: $SYNCMGR_AUTHKEY_FILE, else the text of\n"
            "                     $SYNCMGR_AUTHKEY. Never give a key on the command line.\n"
            "  --insecure         allow listening beyond loopback and ipc:// with no\n"
            "                     authkey (and no TLS client certificates); without it\n"
            "                     such a --listen is refused\n"
            "  --tls-cert F       this server's certificate (PEM), for tls+tcp://\n"
            "  --tls-key F        its private key (PEM)\n"
            "  --tls-ca F         require client certificates signed by this CA (PEM)\n"
            "\n"
            "  --max-msg BYTES    largest request accepted, nng's 4-byte header\n"
            "                     included; a larger one drops its connection\n"
            "                     (default 16777216)\n"
            "  --contexts N       receiving contexts, i.e. requests handled at once\n"
            "                     (default 16)\n"
            "\n"
            "Limits (exceeding one answers SM_ELIMIT and changes nothing):\n"
            "  --max-value BYTES  one string or bytes value (default 8388608)\n"
            "  --max-keys N       keys per dict or namespace (default 10000000)\n"
            "  --max-items N      items per list or queue, queued tasks per pool\n"
            "                     (default 10000000)\n"
            "  --max-objects N    live objects (default 1000000)\n"
            "  --max-sessions N   live sessions, i.e. clients (default 10000)\n"
            "  --max-waits N      requests one session may have waiting in the server\n"
            "                     (default 10000)\n"
            "\n"
            "Snapshots (the objects' data across a restart):\n"
            "  --snapshot FILE    load FILE at start if it exists (a damaged or\n"
            "                     impossible one stops syncmgrd, exit status 2, and\n"
            "                     is left as it is); write it at SIGINT/SIGTERM,\n"
            "                     every --snapshot-every seconds and when a client\n"
            "                     asks (sm_server_snapshot). Locks and sessions are\n"
            "                     not saved\n"
            "  --snapshot-every N seconds between snapshots; 0: only at stop and on\n"
            "                     demand (default 60)\n"
            "\n"
            "Status page (off by default):\n"
            "  --http ADDR        serve a live status page (GET /) and the status as\n"
            "                     JSON (GET /status.json) over HTTP at ADDR: HOST:PORT,\n"
            "                     or :PORT for 127.0.0.1 (port 0 picks a free one). It\n"
            "                     has no password and shows object names, sizes,\n"
            "                     sessions and their addresses, never values\n"
            "  --http-public      allow an --http HOST that is not loopback\n"
            "\n"
            "  --log-level LEVEL  debug, info, notice (default), warn or none; the log\n"
            "                     goes to stderr, one line per event\n"
            "  --ready-fd FD      once listening, write each bound URL and then an empty\n"
            "                     line to FD and close it (for supervisors and tests)\n"
            "  --version          print the version and exit\n"
            "  --help             print this help and exit\n"
            "\n"
            "SIGINT or SIGTERM stops the server cleanly (exit status 0), writing the\n"
            "--snapshot FILE first.\n");
}

static void
main_watchdog(int sig)
{
    static const char msg[] = "syncmgrd: the socket did not close within the watchdog; "
                              "exiting without it\n";
    (void)sig;
    ssize_t w = write(2, msg, sizeof(msg) - 1);
    (void)w;
    _exit(0);
}

/* main_local_url: ipc://, inproc:// or a loopback tcp address. */
static bool
main_local_url(const char *url)
{
    if (strncmp(url, "ipc://", 6) == 0 || strncmp(url, "inproc://", 9) == 0)
        return true;
    const char *h = strstr(url, "://");
    if (h == NULL)
        return false;
    h += 3;
    if (strncmp(h, "localhost:", 10) == 0 || strncmp(h, "[::1]:", 6) == 0)
        return true;
    /* An IPv4 literal in 127.0.0.0/8, not a name that starts with "127." */
    char host[INET_ADDRSTRLEN];
    size_t n = strcspn(h, ":");
    struct in_addr a;
    if (n == 0 || n >= sizeof(host))
        return false;
    memcpy(host, h, n);
    host[n] = '\0';
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* main_parse_size reads a positive decimal number; false if it is not one. */
static bool
main_parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || s[0] == '-')
        return false;
    *out = (size_t)v;
    return true;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},  {"max-msg", required_argument, NULL, 'm'},
        {"contexts", required_argument, NULL, 'c'}, {"log-level", required_argument, NULL, 'L'},
        {"ready-fd", required_argument, NULL, 'r'}, {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {"max-value", required_argument, NULL, 1000}, {"max-keys", required_argument, NULL, 1001},
        {"max-items", required_argument, NULL, 1002},
        {"max-objects", required_argument, NULL, 1003},
        {"max-sessions", required_argument, NULL, 1004},
        {"max-waits", required_argument, NULL, 1005},
        {"authkey-file", required_argument, NULL, 'k'}, {"insecure", no_argument, NULL, 'I'},
        {"tls-cert", required_argument, NULL, 'C'},     {"tls-key", required_argument, NULL, 'K'},
        {"tls-ca", required_argument, NULL, 'A'},
        {"snapshot", required_argument, NULL, 1100},
        {"snapshot-every", required_argument, NULL, 1101},
        {"http", required_argument, NULL, 1200},
        {"http-public", no_argument, NULL, 1201},
        {NULL, 0, NULL, 0},
    };
    const char *authkey_file = NULL;
    const char *http_addr = NULL;
    bool http_public = false;
    srv_http *http = NULL;
    char http_url[300];
    const char *snap_path = NULL;
    int64_t snap_every = SNAP_EVERY_DEFAULT;
    bool snap_every_set = false;
    srv_snap *snap = NULL;
    bool insecure = false;
    srv_limits limits = SRV_LIMITS_DEFAULT;
    uint64_t *const limit_of[] = {&limits.max_value,   &limits.max_keys,
                                  &limits.max_items,   &limits.max_objects,
                                  &limits.max_sessions, &limits.max_waits};
    const char **urls = calloc((size_t)argc + 1, sizeof(*urls));
    net_opts no = {.urls = urls, .max_msg = 16u * 1024 * 1024, .nctx = 16};
    int ready_fd = -1, opt;
    size_t sz;

    if (urls == NULL)
        return 1;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'l':
            urls[no.nurls++] = optarg;
            break;
        case 'm':
            if (!main_parse_size(optarg, &no.max_msg)) {
                fprintf(stderr, "syncmgrd: --max-msg wants a positive number of bytes\n");
                return 2;
            }
            break;
        case 'c':
            if (!main_parse_size(optarg, &sz) || sz > 4096) {
                fprintf(stderr, "syncmgrd: --contexts wants 1 to 4096\n");
                return 2;
            }
            no.nctx = (int)sz;
            break;
        case 'L':
            srv_log_level = srv_log_parse_level(optarg);
            if (srv_log_level < 0) {
                fprintf(stderr, "syncmgrd: unknown log level '%s'\n", optarg);
                return 2;
            }
            break;
        case 'r':
            if (!main_parse_size(optarg, &sz) || sz > 65535) {
                fprintf(stderr, "syncmgrd: --ready-fd wants a file descriptor number\n");
                return 2;
            }
            ready_fd = (int)sz;
            break;
        case 1000:
        case 1001:
        case 1002:
        case 1003:
        case 1004:
        case 1005:
            if (!main_parse_size(optarg, &sz)) {
                fprintf(stderr, "syncmgrd: --%s wants a positive number\n",
                        longopts[opt - 1000 + 7].name);
                free(urls);
                return 2;
            }
            *limit_of[opt - 1000] = sz;
            break;
        case 'k':
            authkey_file = optarg;
            break;
        case 1100:
            if (optarg[0] == '\0') {
                fprintf(stderr, "syncmgrd: --snapshot wants a file name\n");
                free(urls);
                return 2;
            }
            snap_path = optarg;
            break;
        case 1101: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-' ||
                v > 31536000) {
                fprintf(stderr, "syncmgrd: --snapshot-every wants 0 to 31536000 seconds\n");
                free(urls);
                return 2;
            }
            snap_every = (int64_t)v;
            snap_every_set = true;
            break;
        }
        case 1200:
            http_addr = optarg;
            break;
        case 1201:
            http_public = true;
            break;
        case 'I':
            insecure = true;
            break;
        case 'C':
            no.tls_cert = optarg;
            break;
        case 'K':
            no.tls_key = optarg;
            break;
        case 'A':
            no.tls_ca = optarg;
            break;
        case 'V':
            printf("syncmgrd %d.%d.%d\n", SM_VERSION_MAJOR, SM_VERSION_MINOR, SM_VERSION_PATCH);
            free(urls);
            return 0;
        case 'h':
            main_usage(stdout);
            free(urls);
            return 0;
        default:
            main_usage(stderr);
            free(urls);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "syncmgrd: unexpected argument '%s'\n", argv[optind]);
        free(urls);
        return 2;
    }
    if (snap_every_set && snap_path == NULL) {
        fprintf(stderr, "syncmgrd: --snapshot-every needs --snapshot FILE\n");
        free(urls);
        return 2;
    }
    if (http_public && http_addr == NULL) {
        fprintf(stderr, "syncmgrd: --http-public needs --http ADDR\n");
        free(urls);
        return 2;
    }
    if (http_addr != NULL) {
        char herr[400];
        if (!http_parse_addr(http_addr, http_public, http_url, sizeof(http_url), herr,
                             sizeof(herr))) {
            fprintf(stderr, "syncmgrd: %s\n", herr);
            free(urls);
            return 2;
        }
    }
    if (no.nurls == 0)
        urls[no.nurls++] = "ipc:///tmp/syncmgrd.sock";

    char err[300];
    size_t klen = 0;
    uint8_t *key = authkey_file != NULL
                       ? smauth_key_load(authkey_file, NULL, &klen, err, sizeof(err))
                       : smauth_key_from_env(&klen, err, sizeof(err));
    if (key == NULL && err[0] != '\0') {
        fprintf(stderr, "syncmgrd: %s\n", err);
        free(urls);
        return 2;
    }
    for (size_t i = 0; key == NULL && !insecure && i < no.nurls; i++) {
        bool certs = strncmp(urls[i], "tls+", 4) == 0 && no.tls_ca != NULL;
        if (!main_local_url(urls[i]) && !certs) {
            fprintf(stderr,
                    "syncmgrd: refusing to listen on %s with no authkey: anyone who can reach it\n"
                    "could use every object. Give --authkey-file (or $SYNCMGR_AUTHKEY_FILE),\n"
                    "require TLS client certificates (--tls-ca), or say --insecure.\n",
                    urls[i]);
            free(urls);
            return 2;
        }
    }

    /* Before any nng call, so that nng's threads inherit the mask. */
    sigset_t stopset;
    sigemptyset(&stopset);
    sigaddset(&stopset, SIGINT);
    sigaddset(&stopset, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stopset, NULL);
    signal(SIGPIPE, SIG_IGN);

    srv_state st;
    srv_net *net = NULL;
    FILE *ready = NULL;
    if (ready_fd >= 0) {
        ready = fdopen(ready_fd, "w");
        if (ready == NULL) {
            fprintf(stderr, "syncmgrd: --ready-fd %d: %s\n", ready_fd, strerror(errno));
            free(urls);
            return 2;
        }
    }
    if (srv_state_init(&st) != SM_OK) {
        free(urls);
        return 1;
    }
    st.limits = limits;
    if (key != NULL) {
        int krv = srv_auth_set_key(&st, key, klen);
        memset(key, 0, klen);
        free(key);
        if (krv != SM_OK) {
            srv_state_fini(&st);
            free(urls);
            return 1;
        }
        srv_log(SRV_LOG_NOTICE, "authkey set: every client proves it (HMAC-SHA256)");
    } else {
        srv_log(SRV_LOG_NOTICE, "no authkey: any client that reaches a listener is served%s",
                insecure ? " (--insecure)"
                         : "; listening only on ipc://, loopback or TLS with client certificates");
    }
    if (snap_path != NULL) {
        /* Before anything is served; a file refused is never written over. */
        char serr[700];
        if (snap_load(&st, snap_path, serr, sizeof(serr)) != SM_OK) {
            fprintf(stderr, "syncmgrd: %s; not starting (the file is left as it is)\n", serr);
            srv_state_fini(&st);
            if (ready != NULL)
                fclose(ready);
            free(urls);
            return 2;
        }
        if (snap_start(&snap, &st, snap_path, snap_every) != SM_OK) {
            srv_state_fini(&st);
            if (ready != NULL)
                fclose(ready);
            free(urls);
            return 1;
        }
    }
    st.stats.snapshot = snap_path;
    if (net_start(&net, &st, &no, ready) != SM_OK) {
        snap_free(snap);
        srv_state_fini(&st);
        if (ready != NULL)
            fclose(ready);
        free(urls);
        return 1;
    }
    if (http_addr != NULL) {
        char bound[300];
        if (http_start(&http, &st, http_url, http_public, bound, sizeof(bound)) != SM_OK) {
            fprintf(stderr, "syncmgrd: cannot serve --http %s (the log says why)\n", http_addr);
            net_stop(net);
            snap_free(snap);
            srv_state_fini(&st);
            if (ready != NULL)
                fclose(ready);
            free(urls);
            return 1;
        }
        srv_log(SRV_LOG_NOTICE, "status page on %s/", bound);
    }
    if (ready != NULL) {
        fprintf(ready, "\n");
        fclose(ready);
    }

    int sig = 0;
    while (sigwait(&stopset, &sig) != 0)
        ;
    srv_log(SRV_LOG_NOTICE, "signal %d: stopping", sig);
    http_stop(http); /* its handlers take st->lock */

    if (snap != NULL) {
        /* Written before the close, which the watchdog may cut short. */
        snap_stop_thread(snap);
        snap_save(snap, "stop");
    }
    signal(SIGALRM, main_watchdog);
    alarm(MAIN_STOP_WATCHDOG_S);
    net_stop(net);
    alarm(0);
    if (snap != NULL) {
        /* Requests applied while the socket closed, if any (an unchanged
         * state is not written again). */
        snap_save(snap, "stopped");
        snap_free(snap);
    }
    srv_log(SRV_LOG_NOTICE, "stopped: %" PRIu64 " requests served, %" PRIu64 " malformed",
            st.requests, st.bad_requests);
    srv_state_fini(&st);
    free(urls);
    return 0;
}
