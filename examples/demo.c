/* demo.c - syncmgr in one screen: a private manager, four worker processes
 * sharing a dict, a list, a counter and an array, and the parent reading
 * the result.
 *
 * Run: ./demo            (starts its own syncmgrd)
 *      ./demo URL        (uses a running syncmgrd, e.g. tcp://127.0.0.1:7878)
 *
 * Workers are forked before this process opens its first client: nng 1.5.2
 * does not run in a child forked after nng was used (see syncmgr.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "syncmgr.h"

#define WORKERS 4
#define PER_WORKER 250

#define CHECK(call)                                                                              \
    do {                                                                                         \
        int rv_ = (call);                                                                        \
        if (rv_ != SM_OK) {                                                                      \
            fprintf(stderr, "%s:%d %s: %s (%s)\n", __FILE__, __LINE__, #call,                    \
                    sm_strerror(rv_), sm_errdetail());                                           \
            exit(1);                                                                             \
        }                                                                                        \
    } while (0)

/* worker: count its squares into the shared objects. */
static void
worker(const char *url, int id)
{
    sm_client *c;
    sm_dict *stats;
    sm_list *results;
    sm_var *total;
    sm_array *per_worker;

    CHECK(sm_client_open(&c, url, NULL));
    CHECK(sm_dict_open(c, "demo.stats", &stats));
    CHECK(sm_list_open(c, "demo.results", &results));
    CHECK(sm_var_open(c, "demo.total", NULL, &total));
    CHECK(sm_array_open(c, "demo.per_worker", 'q', NULL, WORKERS, &per_worker));

    for (int i = 0; i < PER_WORKER; i++) {
        int64_t n = (int64_t)id * PER_WORKER + i;
        sm_value sq = sm_value_int(n * n), one = sm_value_int(1);
        if (n < 10) /* keep the list short enough to print */
            CHECK(sm_list_append(results, &sq));
        CHECK(sm_var_add(total, &sq, NULL));                /* atomic, one round trip */
        CHECK(sm_dict_incr(stats, "tasks", &one, NULL));    /* likewise */
        CHECK(sm_array_add(per_worker, id, &one, NULL));
    }
    char key[32];
    snprintf(key, sizeof(key), "worker.%d.pid", id);
    sm_value pid = sm_value_int(getpid());
    CHECK(sm_dict_set(stats, key, &pid));

    sm_array_close(per_worker);
    sm_var_close(total);
    sm_list_close(results);
    sm_dict_close(stats);
    sm_client_close(c);
}

int
main(int argc, char **argv)
{
    sm_manager *m = NULL;
    const char *url;
    sm_client *c;

    if (argc > 1) {
        url = argv[1];
    } else {
        CHECK(sm_manager_start(&m, NULL)); /* no client yet: we fork next */
        url = sm_manager_url(m);
    }
    printf("manager at %s\n", url);

    pid_t pids[WORKERS];
    for (int id = 0; id < WORKERS; id++) {
        pids[id] = fork();
        if (pids[id] == 0) {
            worker(url, id);
            _exit(0);
        }
    }
    int failed = 0;
    for (int id = 0; id < WORKERS; id++) {
        int st;
        waitpid(pids[id], &st, 0);
        failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    if (failed) {
        fprintf(stderr, "a worker failed\n");
        sm_manager_stop(m);
        return 1;
    }

    /* The parent's first nng use: after the last fork. */
    CHECK(sm_client_open(&c, url, NULL));
    sm_dict *stats;
    sm_list *results;
    sm_var *total;
    sm_array *per_worker;
    CHECK(sm_dict_open(c, "demo.stats", &stats));
    CHECK(sm_list_open(c, "demo.results", &results));
    CHECK(sm_var_open(c, "demo.total", NULL, &total));
    CHECK(sm_array_open(c, "demo.per_worker", 'q', NULL, WORKERS, &per_worker));

    char **keys;
    sm_value *vals, *items, t;
    size_t n, ni;
    CHECK(sm_dict_items(stats, &keys, &vals, &n));
    printf("stats:");
    for (size_t i = 0; i < n; i++)
        printf(" %s=%" PRId64, keys[i], vals[i].u.i);
    printf("\n");
    sm_strings_free(keys, n);
    sm_values_free(vals, n);

    CHECK(sm_list_slice(results, 0, SM_END, &items, &ni));
    printf("first squares, in arrival order:");
    for (size_t i = 0; i < ni; i++)
        printf(" %" PRId64, items[i].u.i);
    printf("\n");
    sm_values_free(items, ni);

    CHECK(sm_array_get_slice(per_worker, 0, SM_END, &items, &ni));
    printf("tasks per worker:");
    for (size_t i = 0; i < ni; i++)
        printf(" %" PRId64, items[i].u.i);
    printf("\n");
    sm_values_free(items, ni);

    CHECK(sm_var_get(total, &t));
    int64_t want = 0;
    for (int64_t k = 0; k < WORKERS * PER_WORKER; k++)
        want += k * k;
    printf("sum of squares 0..%d: %" PRId64 " (expected %" PRId64 ")\n",
           WORKERS * PER_WORKER - 1, t.u.i, want);

    sm_array_close(per_worker);
    sm_var_close(total);
    sm_list_close(results);
    sm_dict_close(stats);
    sm_client_close(c);
    if (m != NULL)
        CHECK(sm_manager_stop(m));
    return t.u.i == want ? 0 : 1;
}
