/* test_status_page.c - syncmgrd --http: the live status page, opened in
 * headless Chromium, shows the server's real state.
 *
 * A server with --http on a loopback port holds a known state, made by two
 * clients: a named dict of 3 keys, a lock held by client A with client B
 * parked on it, a bounded queue (maxsize 5) holding 2 items. Chromium loads
 * the page and runs its scripts for a few seconds of virtual time; the DOM
 * it prints must show, exactly: 2 sessions, 3 objects, 1 waiter, the dict
 * of size 3, the lock held by A's session with 1 waiter, the queue at 2 of
 * 5, and more than one redraw (the page refreshes itself every second).
 * Then A releases the lock, B holds it, and a fresh load shows B as the
 * holder and no waiter. /status.json is checked for the same state.
 *
 * Chromium comes from Debian (tests/deps.sh); without it the test says so
 * and is skipped. Waits are bounded polls of the page itself. */
#include "smt.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BOUND_MS 30000
#define DOM_MAX (1u << 20)

static const char *chromium;

static const char *
find_chromium(void)
{
    static const char *const paths[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

/* free_port returns a loopback TCP port that was free a moment ago. */
static unsigned
free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* run_capture runs cmd through the shell and returns its stdout (malloc'd,
 * NUL-terminated). */
static char *
run_capture(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *buf = malloc(DOM_MAX + 1);
    assert_non_null(buf);
    size_t n = 0, got;
    while (n < DOM_MAX && (got = fread(buf + n, 1, DOM_MAX - n, p)) > 0)
        n += got;
    buf[n] = '\0';
    pclose(p);
    return buf;
}

/* page_dom loads url in headless Chromium, lets its scripts run for
 * budget_ms of virtual time, and returns the DOM it ends with. */
static char *
page_dom(const char *url, int budget_ms)
{
    char profile[] = "/tmp/smt-chromium.XXXXXX", cmd[1024];
    assert_non_null(mkdtemp(profile));
    snprintf(cmd, sizeof(cmd),
             "'%s' --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir=%s "
             "--virtual-time-budget=%d --dump-dom '%s' 2>/dev/null",
             chromium, profile, budget_ms, url);
    char *dom = run_capture(cmd);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", profile);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", profile);
    return dom;
}

/* attr_value copies the value of attribute attr of the element whose id is
 * id (its data-value, say) into out; false if there is none. */
static bool
attr_of_id(const char *dom, const char *id, const char *attr, char *out, size_t size)
{
    char pat[128];
    snprintf(pat, sizeof(pat), "id=\"%s\"", id);
    const char *at = strstr(dom, pat);
    if (at == NULL)
        return false;
    const char *start = at;
    while (start > dom && *start != '<')
        start--;
    const char *end = strchr(at, '>');
    snprintf(pat, sizeof(pat), " %s=\"", attr);
    const char *a = strstr(start, pat);
    if (a == NULL || end == NULL || a > end)
        return false;
    a += strlen(pat);
    size_t n = strcspn(a, "\"");
    snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), a);
    return true;
}

/* row_of returns a copy of the table row that carries attr="value"
 * (malloc'd), or NULL. */
static char *
row_of(const char *dom, const char *attr, const char *value)
{
    char pat[300];
    snprintf(pat, sizeof(pat), "<tr %s=\"%s\"", attr, value);
    const char *r = strstr(dom, pat);
    if (r == NULL) {
        snprintf(pat, sizeof(pat), " %s=\"%s\"", attr, value);
        r = strstr(dom, pat);
        while (r != NULL && r > dom && strncmp(r, "<tr", 3) != 0)
            r--;
        if (r == NULL || strncmp(r, "<tr", 3) != 0)
            return NULL;
    }
    const char *e = strstr(r, "</tr>");
    if (e == NULL)
        return NULL;
    return strndup(r, (size_t)(e - r));
}

/* cell_of copies the text of the row's cell data-col="col" into out. */
static bool
cell_of(const char *row, const char *col, char *out, size_t size)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "data-col=\"%s\"", col);
    const char *c = row != NULL ? strstr(row, pat) : NULL;
    if (c == NULL || (c = strchr(c, '>')) == NULL)
        return false;
    c++;
    const char *e = strstr(c, "</td>");
    if (e == NULL)
        return false;
    /* the text, without any inner tags */
    size_t n = 0;
    bool tag = false;
    for (; c < e && n + 1 < size; c++) {
        if (*c == '<')
            tag = true;
        else if (*c == '>')
            tag = false;
        else if (!tag)
            out[n++] = *c;
    }
    out[n] = '\0';
    return true;
}

/* The state the page must show, and what it showed (for the message). */
typedef struct want {
    int sessions, objects, waiters;
    uint64_t holder;
    int lock_waiters;
} want;

/* page_shows checks one DOM against w; on a mismatch it writes what
 * differed to why and returns false. */
static bool
page_shows(const char *dom, const want *w, const char *dname, const char *kname,
           const char *qname, char *why, size_t size)
{
    char v[128], holder[32];
    int updates = 0;
    if (attr_of_id(dom, "live-state", "data-state", v, sizeof(v)) && strcmp(v, "live") != 0) {
        snprintf(why, size, "live-state is '%s'", v);
        return false;
    }
    const char *b = strstr(dom, "<body data-updates=\"");
    if (b != NULL)
        updates = atoi(b + strlen("<body data-updates=\""));
    if (updates < 2) {
        snprintf(why, size, "%d redraw(s)", updates);
        return false;
    }
    struct {
        const char *id;
        int want;
    } cards[] = {{"srv-sessions", w->sessions}, {"srv-objects", w->objects},
                 {"srv-waiters", w->waiters}};
    for (size_t i = 0; i < 3; i++) {
        if (!attr_of_id(dom, cards[i].id, "data-value", v, sizeof(v)) || atoi(v) != cards[i].want) {
            snprintf(why, size, "%s shows '%s', wanted %d", cards[i].id, v, cards[i].want);
            return false;
        }
    }
    char *row = row_of(dom, "data-name", dname);
    bool ok = row != NULL && cell_of(row, "size", v, sizeof(v)) && strcmp(v, "3") == 0 &&
              cell_of(row, "type", holder, sizeof(holder)) && strcmp(holder, "dict") == 0;
    free(row);
    if (!ok) {
        snprintf(why, size, "the dict row is missing or not of size 3");
        return false;
    }
    row = row_of(dom, "data-lock", kname);
    char want_holder[32];
    snprintf(want_holder, sizeof(want_holder), "%" PRIu64, w->holder);
    ok = row != NULL && strstr(row, "data-held=\"true\"") != NULL;
    if (ok) {
        const char *h = strstr(row, "data-holder=\"");
        ok = h != NULL && strncmp(h + 13, want_holder, strlen(want_holder)) == 0 &&
             h[13 + strlen(want_holder)] == '"';
    }
    ok = ok && cell_of(row, "waiters", v, sizeof(v)) && atoi(v) == w->lock_waiters;
    free(row);
    if (!ok) {
        snprintf(why, size, "the lock row does not show it held by session %s with %d waiter(s)",
                 want_holder, w->lock_waiters);
        return false;
    }
    row = row_of(dom, "data-queue", qname);
    ok = row != NULL && cell_of(row, "size", v, sizeof(v)) && strcmp(v, "2") == 0 &&
         cell_of(row, "maxsize", holder, sizeof(holder)) && strcmp(holder, "5") == 0;
    free(row);
    if (!ok) {
        snprintf(why, size, "the queue row does not show 2 of 5");
        return false;
    }
    return true;
}

/* await_page loads the page until it shows w (bounded). */
static void
await_page(const char *url, const want *w, const char *dname, const char *kname,
           const char *qname)
{
    char why[300] = "";
    int64_t until = smt_now_ms() + BOUND_MS;
    int loads = 0;
    for (;;) {
        char *dom = page_dom(url, 3500);
        loads++;
        bool ok = page_shows(dom, w, dname, kname, qname, why, sizeof(why));
        if (!ok && dom[0] == '\0')
            snprintf(why, sizeof(why), "chromium printed no DOM");
        free(dom);
        if (ok)
            return;
        if (smt_now_ms() > until)
            fail_msg("after %d page loads in %d ms: %s", loads, BOUND_MS, why);
    }
}

/* B's thread: acquires (parking behind A), then releases when told. */
typedef struct waiter_arg {
    sm_lock *k;
    int rv, release_rv;
    sem_t acquired, release;
} waiter_arg;

static void *
waiter_main(void *arg)
{
    waiter_arg *wa = arg;
    wa->rv = sm_lock_acquire(wa->k, BOUND_MS);
    sem_post(&wa->acquired);
    while (sem_wait(&wa->release) != 0)
        ;
    wa->release_rv = wa->rv == SM_OK ? sm_lock_release(wa->k) : SM_OK;
    return NULL;
}

static void
test_status_page_shows_the_servers_state_in_chromium(void **state)
{
    (void)state;
    if (chromium == NULL) {
        print_message("SKIPPED: no chromium (/usr/bin/chromium); tests/deps.sh installs it\n");
        skip();
    }
    unsigned port = free_port();
    char addr[64], url[128];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
    const char *extra[] = {"--http", addr, NULL};
    smt_server srv;
    assert_int_equal(smt_server_spawn(&srv, smt_transport(), extra), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);

    sm_client *a, *b;
    assert_sm_ok(sm_client_open(&a, srv.url, NULL));
    assert_sm_ok(sm_client_open(&b, srv.url, NULL));
    uint64_t sa, sb;
    assert_sm_ok(sm_client_session(a, &sa));
    assert_sm_ok(sm_client_session(b, &sb));

    char dname[64], kname[64], qname[64];
    snprintf(dname, sizeof(dname), "%s", smt_name("pg.dict"));
    snprintf(kname, sizeof(kname), "%s", smt_name("pg.lock"));
    snprintf(qname, sizeof(qname), "%s", smt_name("pg.queue"));
    sm_dict *d;
    sm_lock *ka, *kb;
    sm_queue *q;
    assert_sm_ok(sm_dict_open(a, dname, &d));
    const char *keys[] = {"k1", "k2", "k3"};
    for (int i = 0; i < 3; i++) {
        sm_value v = sm_value_int(i);
        assert_sm_ok(sm_dict_set(d, keys[i], &v));
    }
    assert_sm_ok(sm_queue_open(a, qname, 5, false, &q));
    for (int i = 0; i < 2; i++) {
        sm_value v = sm_value_int(i);
        assert_sm_ok(sm_queue_put(q, &v, SM_NOWAIT));
    }
    assert_sm_ok(sm_lock_open(a, kname, &ka));
    assert_sm_ok(sm_lock_acquire(ka, SM_NOWAIT));
    assert_sm_ok(sm_lock_open(b, kname, &kb));
    waiter_arg wa = {.k = kb, .rv = -1, .release_rv = -1};
    assert_int_equal(sem_init(&wa.acquired, 0, 0), 0);
    assert_int_equal(sem_init(&wa.release, 0, 0), 0);
    pthread_t wt;
    assert_int_equal(pthread_create(&wt, NULL, waiter_main, &wa), 0);

    want w = {.sessions = 2, .objects = 3, .waiters = 1, .holder = sa, .lock_waiters = 1};
    await_page(url, &w, dname, kname, qname);

    /* The same state as JSON. */
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "curl -s --max-time 10 'http://127.0.0.1:%u/status.json'", port);
    char *json = run_capture(cmd);
    char frag[128];
    snprintf(frag, sizeof(frag), "\"name\":\"%s\"", dname);
    if (strstr(json, frag) == NULL || strstr(json, "\"sessions\":\"2\"") == NULL)
        fail_msg("/status.json does not show the dict and 2 sessions: %.300s", json);
    free(json);

    /* A hands the lock to B: a fresh load shows B holding it, none waiting. */
    assert_sm_ok(sm_lock_release(ka));
    while (sem_wait(&wa.acquired) != 0)
        ;
    assert_sm_ok(wa.rv);
    w = (want){.sessions = 2, .objects = 3, .waiters = 0, .holder = sb, .lock_waiters = 0};
    await_page(url, &w, dname, kname, qname);

    sem_post(&wa.release);
    assert_int_equal(pthread_join(wt, NULL), 0);
    assert_sm_ok(wa.release_rv);
    sem_destroy(&wa.acquired);
    sem_destroy(&wa.release);
    sm_lock_close(kb);
    sm_lock_close(ka);
    sm_queue_close(q);
    sm_dict_close(d);
    sm_client_close(b);
    sm_client_close(a);
    assert_int_equal(smt_server_stop(&srv), 0);
}

/* Bad --http addresses are refused at start, with a clear message: a
 * non-loopback host without --http-public. */
static void
test_status_page_refuses_a_public_address_without_http_public(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "'%s' --listen ipc:///tmp/smt-http-refused.sock --http 0.0.0.0:1 2>&1",
             SMT_SYNCMGRD);
    char *out = run_capture(cmd);
    if (strstr(out, "--http-public") == NULL)
        fail_msg("syncmgrd did not refuse --http 0.0.0.0 naming --http-public: %.300s", out);
    free(out);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_status_page_shows_the_servers_state_in_chromium),
    cmocka_unit_test(test_status_page_refuses_a_public_address_without_http_public),
};

int
main(int argc, char **argv)
{
    chromium = find_chromium();
    return SMT_MAIN("status_page", tests);
}
