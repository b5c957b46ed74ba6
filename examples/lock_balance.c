/* lock_balance.c - four processes move money in and out of one shared
 * balance, each update a read-modify-write under a manager lock.
 *
 * The Python it follows:
 *
 *     def work(balance, lock):
 *         for i in range(1000):
 *             with lock:
 *                 balance.value += 10 if i % 2 == 0 else -10
 *
 *     balance = manager.Value('i', 1000); lock = manager.Lock()
 *     ...four Processes run work, then are joined...
 *     print(balance.value)   # 1000
 *
 * Each worker does 500 deposits of +10 and 500 withdrawals of -10, so the
 * balance must end where it started. Get and set are two round trips: without
 * the lock two workers could read the same balance and one update would be
 * lost. (sm_var_add does the whole update atomically in the server, in one
 * round trip and with no lock; the lock is here to show the general pattern
 * for an update the server has no single operation for.)
 *
 * nng does not run in a process forked after nng was used (see syncmgr.h),
 * so the workers are forked before this process opens its client, and each
 * opens its own. They find the objects by name; the names carry the parent's
 * pid so that every run, also against a shared syncmgrd, starts afresh.
 *
 * Usage: lock_balance [URL]
 *   With no URL it starts a private manager; with one it uses the syncmgrd
 *   listening there. Exits 0 if the final balance is 1000, 1 otherwise or on
 *   any failed call (reported with sm_strerror and sm_errdetail). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syncmgr.h"

#define WORKERS 4
#define ROUNDS 500 /* per worker: this many deposits and as many withdrawals */
#define START 1000
#define AMOUNT 10
#define TIMEOUT_MS 10000 /* give up on the lock after this long */

static sm_manager *manager; /* our private manager, or NULL */
static pid_t parent;        /* the pid that started it, and names the objects */

/* fail ends the process with status 1; the parent also stops its manager. */
static void
fail(void)
{
    if (getpid() == parent)
        sm_manager_stop(manager);
    exit(1);
}

#define CHECK(call)                                                                          \
    do {                                                                                     \
        int rv_ = (call);                                                                    \
        if (rv_ != SM_OK) {                                                                  \
            fprintf(stderr, "lock_balance[%ld] %s:%d %s: %s (%s)\n", (long)getpid(),         \
                    __FILE__, __LINE__, #call, sm_strerror(rv_), sm_errdetail());            \
            fail();                                                                          \
        }                                                                                    \
    } while (0)

/* objname writes this run's name for object what into buf. */
static const char *
objname(char *buf, size_t size, const char *what)
{
    snprintf(buf, size, "lock_balance.%ld.%s", (long)parent, what);
    return buf;
}

/* open_objects opens (or creates) the balance, starting at START, and the lock. */
static void
open_objects(sm_client *c, sm_var **balance, sm_lock **lock)
{
    char name[96];
    sm_value start = sm_value_int(START);

    CHECK(sm_var_open(c, objname(name, sizeof(name), "balance"), &start, balance));
    CHECK(sm_lock_open(c, objname(name, sizeof(name), "lock"), lock));
}

/* worker: alternate deposits and withdrawals, each one under the lock. */
static void
worker(const char *url)
{
    sm_client *c;
    sm_var *balance;
    sm_lock *lock;

    CHECK(sm_client_open(&c, url, NULL));
    open_objects(c, &balance, &lock);
    for (int i = 0; i < 2 * ROUNDS; i++) {
        sm_value v;
        CHECK(sm_lock_acquire(lock, TIMEOUT_MS));
        CHECK(sm_var_get(balance, &v)); /* read ... */
        v.u.i += i % 2 == 0 ? AMOUNT : -AMOUNT;
        CHECK(sm_var_set(balance, &v)); /* ... modify, write: no one else in between */
        CHECK(sm_lock_release(lock));
    }
    sm_lock_close(lock);
    sm_var_close(balance);
    sm_client_close(c);
}

int
main(int argc, char **argv)
{
    const char *url;
    pid_t pids[WORKERS];
    int started = 0, failed = 0;

    parent = getpid();
    if (argc > 1) {
        url = argv[1];
    } else {
        CHECK(sm_manager_start(&manager, NULL)); /* no client: we fork next */
        url = sm_manager_url(manager);
    }
    printf("manager at %s\n", url);

    fflush(stdout); /* or each child would print our buffered output again */
    for (; started < WORKERS; started++) {
        pids[started] = fork();
        if (pids[started] < 0) {
            perror("lock_balance: fork");
            failed = 1;
            break;
        }
        if (pids[started] == 0) {
            worker(url);
            _exit(0);
        }
    }
    for (int k = 0; k < started; k++) {
        int st;
        if (waitpid(pids[k], &st, 0) != pids[k] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "lock_balance: worker %ld failed\n", (long)pids[k]);
            failed = 1;
        }
    }
    if (failed)
        fail();

    /* The parent's first nng use: after the last fork. */
    sm_client *c;
    sm_var *balance;
    sm_lock *lock;
    sm_value v;
    CHECK(sm_client_open(&c, url, NULL));
    open_objects(c, &balance, &lock);
    CHECK(sm_var_get(balance, &v));
    int ok = v.type == SM_INT && v.u.i == START;
    if (v.type == SM_INT)
        printf("final balance: %" PRId64 " (expected %d)\n", v.u.i, START);
    else
        printf("final balance holds a value of type %d\n", (int)v.type);

    sm_value_clear(&v);
    sm_lock_close(lock);
    sm_var_close(balance);
    sm_client_close(c);
    sm_manager *m = manager;
    manager = NULL; /* so that a failure here does not stop it twice */
    if (m != NULL)
        CHECK(sm_manager_stop(m));
    return ok ? 0 : 1;
}
