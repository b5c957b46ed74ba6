/* main.c - syncmgrd: flags, signals, start and a clean stop.
 *
 * SIGINT and SIGTERM are blocked in every thread (the mask is set before nng
 * starts its threads) and taken by sigwait() in main, so no handler runs on
 * an nng thread. Stopping closes the socket under a watchdog: nng 1.5.2's
 * nng_close can hang while clients keep sending (NNG-NOTES item 7), and a
 * manager told to stop must stop.
 * Exported: main. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net.h"

#define MAIN_STOP_WATCHDOG_S 5

static void
main_usage(FILE *f)
{
    fprintf(f,
            "usage: syncmgrd [options]\n"
            "\n"
            "The syncmgr manager: hosts shared dicts, lists, vars, arrays and namespaces\n"
            "and serves them to libsyncmgr clients over nng request/reply.\n"
            "\n"
            "  --listen URL       listen on URL (repeatable): ipc:///path/to/sock or\n"
            "                     tcp://HOST:PORT (port 0 picks a free one).\n"
            "                     Default: ipc:///tmp/syncmgrd.sock\n"
            "  --max-msg BYTES    largest request accepted; a larger one drops its\n"
            "                     connection (default 16777216)\n"
            "  --contexts N       receiving contexts, i.e. requests handled at once\n"
            "                     (default 16)\n"
            "  --log-level LEVEL  debug, info, notice (default), warn or none; the log\n"
            "                     goes to stderr, one line per event\n"
            "  --ready-fd FD      once listening, write each bound URL and then an empty\n"
            "                     line to FD and close it (for supervisors and tests)\n"
            "  --version          print the version and exit\n"
            "  --help             print this help and exit\n"
            "\n"
            "SIGINT or SIGTERM stops the server cleanly (exit status 0).\n");
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
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
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
    if (no.nurls == 0)
        urls[no.nurls++] = "ipc:///tmp/syncmgrd.sock";

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
    if (net_start(&net, &st, &no, ready) != SM_OK) {
        srv_state_fini(&st);
        if (ready != NULL)
            fclose(ready);
        free(urls);
        return 1;
    }
    if (ready != NULL) {
        fprintf(ready, "\n");
        fclose(ready);
    }

    int sig = 0;
    while (sigwait(&stopset, &sig) != 0)
        ;
    srv_log(SRV_LOG_NOTICE, "signal %d: stopping", sig);

    signal(SIGALRM, main_watchdog);
    alarm(MAIN_STOP_WATCHDOG_S);
    net_stop(net);
    alarm(0);
    srv_log(SRV_LOG_NOTICE, "stopped: %" PRIu64 " requests served, %" PRIu64 " malformed",
            st.requests, st.bad_requests);
    srv_state_fini(&st);
    free(urls);
    return 0;
}
