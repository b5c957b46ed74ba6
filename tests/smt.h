/* smt.h - helpers for syncmgr's tests: a real syncmgrd per test group, fresh
 * names, and status assertions that print status names.
 *
 * Every test program runs its group twice, against a server listening on
 * ipc:// and against one on tcp://127.0.0.1 (argv[1] "ipc" or "tcp" runs
 * just one). Tests reach the group's server and client through smt_url()
 * and smt_client(). */
#ifndef SMT_H
#define SMT_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <cmocka.h>

#include "syncmgr.h"

/* A syncmgrd child process. */
typedef struct smt_server {
    pid_t pid;
    char url[512]; /* the URL it actually listens on (tcp port resolved) */
    char dir[256]; /* its private directory (ipc socket lives here) */
} smt_server;

/* smt_server_spawn starts syncmgrd listening on transport ("ipc" or "tcp"),
 * with extra command-line arguments (NULL-terminated; may be NULL), and
 * waits until it listens. Returns 0 or -1 (and prints why). */
int smt_server_spawn(smt_server *s, const char *transport, const char *const *extra);

/* smt_server_stop sends SIGTERM and reaps it (SIGKILL after 10 s, past the
 * server's own 5 s close watchdog). Returns its exit status as waitpid
 * reports it, or -1. */
int smt_server_stop(smt_server *s);

/* smt_reap waits at most timeout_ms for child pid: its wait status, -1 on
 * a waitpid error, -2 if it is still running. */
int smt_reap(pid_t pid, int timeout_ms);

/* smt_read_ready reads what syncmgrd --ready-fd writes to fd (each bound
 * URL on a line, then an empty line) for at most timeout_ms, and closes fd.
 * True once the empty line came, with the first URL in url; false (and
 * what came, if anything, in url) otherwise. */
bool smt_read_ready(int fd, int timeout_ms, char *url, size_t size);

/* smt_server_kill sends SIGKILL and reaps it. */
void smt_server_kill(smt_server *s);

/* The current group's server URL and shared client. */
const char *smt_url(void);
sm_client *smt_client(void);
const char *smt_transport(void);

/* smt_name returns a name no other test in this run uses: "prefix.PID.N".
 * The buffer is static per call site's prefix... so copy it if kept. */
const char *smt_name(const char *prefix);

/* Child processes. nng 1.5.2 aborts in a process forked from one that has
 * used nng, and every test process has (its group client), so a test's
 * child process is this test program itself, re-executed: smt_spawn() forks
 * and execs /proc/self/exe with "--smt-child NAME ARGS...", and smt_main()
 * runs the child function registered under NAME, whose return value is the
 * child's exit status (0 = success). Wait for it with smt_wait_child(). */
typedef int (*smt_child_fn)(int argc, char **argv); /* argv[0] is NAME */
typedef struct smt_child {
    const char *name;
    smt_child_fn fn;
} smt_child;

/* smt_spawn starts child NAME with string arguments (NULL-terminated list).
 * Returns its pid (the test fails if it cannot start). */
pid_t smt_spawn(const char *name, ...) __attribute__((sentinel));

/* smt_main runs the cmocka group `name` over each transport, or, when this
 * process was started by smt_spawn(), the child function it names. */
int smt_main(int argc, char **argv, const char *name, const struct CMUnitTest *tests, size_t n,
             const smt_child *children, size_t nchildren);
#define SMT_MAIN(name, tests)                                                                    \
    smt_main(argc, argv, name, tests, sizeof(tests) / sizeof((tests)[0]), NULL, 0)
#define SMT_MAIN_CHILDREN(name, tests, children)                                                 \
    smt_main(argc, argv, name, tests, sizeof(tests) / sizeof((tests)[0]), children,            \
             sizeof(children) / sizeof((children)[0]))

/* Status assertions that print SM_ names and the server's detail. */
void smt_assert_status(int got, int want, const char *expr, const char *file, int line);
#define assert_sm_status(expr, want) smt_assert_status((expr), (want), #expr, __FILE__, __LINE__)
#define assert_sm_ok(expr) assert_sm_status((expr), SM_OK)

/* smt_wait_child waits for pid and asserts it exited 0. */
void smt_wait_child(pid_t pid);

/* Clocks and waits. smt_now_ms and smt_now_ns read CLOCK_MONOTONIC;
 * smt_sleep_ms sleeps the whole time even if interrupted (only to give other
 * threads time, never as a proof). */
int64_t smt_now_ms(void);
int64_t smt_now_ns(void);
void smt_sleep_ms(int64_t ms);

/* Raw peers for tests of the listening side. smt_tcp_connect opens a TCP
 * connection to 127.0.0.1:port and smt_ipc_connect one to a unix socket
 * path; each fails the test if it cannot. smt_close_reset closes fd with
 * SO_LINGER 0, so a TCP peer sees a reset instead of an orderly close. */
int smt_tcp_connect(unsigned port);
int smt_ipc_connect(const char *path);
void smt_close_reset(int fd);

/* smt_join_within joins t, waiting at most ms; false if it is still running
 * (the caller then fails the test; the thread's data must outlive it). */
bool smt_join_within(pthread_t t, int64_t ms);

/* Strict value checks, for values the library handed out.
 * smt_type_name names a kind ("int", "str", ...; "?" if unknown).
 * smt_describe writes a short printable form of v into buf (text and bytes
 * quoted, at most 24 bytes shown).
 * smt_value_same says whether got is exactly want: same kind, same content,
 * doubles bit for bit. A text value must be NUL-terminated and a non-empty
 * buffer (any text buffer) must be non-NULL and owned. On false, *why says
 * what differs.
 * smt_check_value fails the test at file:line unless smt_value_same; the
 * message names `what`. smt_assert_value_is(got, want) takes pointers. */
const char *smt_type_name(sm_type t);
void smt_describe(const sm_value *v, char *buf, size_t cap);
bool smt_value_same(const sm_value *got, const sm_value *want, const char **why);
void smt_check_value(const sm_value *got, const sm_value *want, const char *what,
                     const char *file, int line);
#define smt_assert_value_is(got, want) smt_check_value((got), (want), #got, __FILE__, __LINE__)

/* Content value checks, which do not look at buffer ownership.
 * smt_value_text writes a printable form of v into buf (at most 48 bytes of
 * text or bytes shown, unquoted) and returns buf.
 * smt_value_matches: same kind and the very same content (doubles bit for
 * bit); a string or token the library hands out must also be non-NULL and
 * NUL-terminated.
 * smt_value_check fails the test at file:line unless smt_value_matches.
 * smt_assert_value(got, want) takes got by pointer and want by value. */
const char *smt_value_text(const sm_value *v, char *buf, size_t size);
bool smt_value_matches(const sm_value *got, const sm_value *want);
void smt_value_check(const sm_value *got, sm_value want, const char *file, int line);
#define smt_assert_value(got, want) smt_value_check((got), (want), __FILE__, __LINE__)

/* smt_child_fail prints "WHO PID: WHAT: NAME (TEXT): DETAIL" for a failed
 * call's status rv to stderr and returns 1, a child's failing exit status. */
int smt_child_fail(const char *who, const char *what, int rv);

/* smt_join_or_fail joins t, failing the test unless it has ended within
 * secs whole seconds (a thread stuck in a call must not hang the test). */
void smt_join_or_fail(pthread_t t, time_t secs);

/* smt_dict_int reads d[key] as an int, 0 when absent. */
int64_t smt_dict_int(sm_dict *d, const char *key);

#endif
