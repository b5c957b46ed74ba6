/* test_status.c - SERVER_STATUS (op 180): what the CLI and the status page
 * read, sent on a raw REQ socket speaking the wire protocol (the generated
 * messages, nng, and for the authkey case the handshake of proxy/auth.c).
 *
 * What is asserted, exactly:
 *   - a fresh server (one per transport) holding a known state: a named
 *     dict of 3 keys, a list of 5 items, a lock held by client A with client
 *     B parked on it, a semaphore of 3 with one permit taken by A, a bounded
 *     joinable queue (maxsize 5) with 2 items, and a pool served by one
 *     syncmgr-worker process running a map of 4 `sleep` tasks frozen with 2
 *     done, 1 running (a long sleep) and 1 queued. Every object: type,
 *     size, refs, waiters, holders, the lock's holder session (A's id),
 *     depth and fence, the semaphore's value, the queue's depth, maxsize and
 *     unfinished count, the pool's counters; every session: lease, parked
 *     requests, holds, peer address (this process over ipc, 127.0.0.1 over
 *     tcp); the pool's group (A's session, total 4, done 2, running 1,
 *     queued 1, failed 0) and its one worker (holding 1 lease); the server:
 *     version, pid, listen URL, sessions, objects, waiters, connections,
 *     authkey and TLS off; the op counts equal exactly the operations the
 *     test sent (dict.set 3, list.append 5, lock.acquire 2, sem.acquire 1,
 *     queue.put 2, pool.submit 1, server.status: each one sent), and
 *     requests is the sum of all op counts (no batches were sent).
 *   - paging: objects in id order after after_id, at most max_objects,
 *     more_objects set exactly when the list was cut; name_prefix keeps its
 *     names only; anonymous objects only with anonymous set (name "", refs
 *     1 for the one proxy holding it).
 *   - sections: only those asked for are filled.
 *   - refused, with SM_EINVAL, a detail naming the fault, and no status: an
 *     unknown section, max_objects over 10000, a name_prefix over 255
 *     bytes; a request without a session or with an unknown one is
 *     SM_ESESSION; with an authkey, a request without its MAC is SM_EAUTH,
 *     and a keyed session gets the status (authkey on, the session keyed).
 *
 * Waits for the frozen map and the parked waiter are bounded polls of the
 * status itself. */
#include "smt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "auth.h"
#include "smwire.pb-c.h"

#ifndef SMT_WORKER
#error "SMT_WORKER must name the syncmgr-worker binary"
#endif
#ifndef SMT_TASKS
#error "SMT_TASKS must name the test task module"
#endif

#define LEASE_MS   600000 /* no lease renewal (ping) can happen during a test */
#define LEASE_ARG  "600000"
#define RECV_MS    10000  /* how long a raw request waits for its reply */
#define BOUND_MS   30000  /* the longest a wait on a condition may take */
#define POLL_MS    5
#define KEY        "status test key"

/* ------------------------------------------------------- raw REQ sessions */

typedef struct raw {
    nng_socket sock;
    uint64_t session, seq;
    bool keyed;
    uint8_t skey[SMAUTH_MAC];
    unsigned nstatus; /* SERVER_STATUS requests sent */
} raw;

/* raw_send packs req (with the MAC trailer when keyed), sends it and
 * returns the unpacked reply (the caller frees it). */
static Smwire__Reply *
raw_send(raw *r, const Smwire__Request *req, bool mac)
{
    size_t n = smwire__request__get_packed_size(req);
    uint8_t *b = malloc(n + SMAUTH_TRAILER);
    assert_non_null(b);
    assert_int_equal(smwire__request__pack(req, b), n);
    if (mac) {
        smauth_trailer(r->skey, b, n, b + n);
        n += SMAUTH_TRAILER;
    }
    void *buf = NULL;
    size_t sz = 0;
    int rv = nng_send(r->sock, b, n, 0);
    free(b);
    assert_int_equal(rv, 0);
    assert_int_equal(nng_recv(r->sock, &buf, &sz, NNG_FLAG_ALLOC), 0);
    Smwire__Reply *rep = smwire__reply__unpack(NULL, sz, buf);
    nng_free(buf, sz);
    assert_non_null(rep);
    return rep;
}

/* raw_open dials url and opens a session (with the handshake under key
 * when key is not NULL). */
static void
raw_open(raw *r, const char *url, const char *key)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(nng_req0_open(&r->sock), 0);
    assert_int_equal(nng_socket_set_ms(r->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE), 0);
    assert_int_equal(nng_socket_set_ms(r->sock, NNG_OPT_RECVTIMEO, RECV_MS), 0);
    assert_int_equal(nng_socket_set_size(r->sock, NNG_OPT_RECVMAXSZ, 64u << 20), 0);
    assert_int_equal(nng_dial(r->sock, url, NULL, 0), 0);
    uint8_t cn[SMAUTH_NONCE], sn[SMAUTH_NONCE], proof[SMAUTH_MAC];
    Smwire__SessionOpen so = SMWIRE__SESSION_OPEN__INIT;
    so.lease_ms = LEASE_MS;
    if (key != NULL) {
        Smwire__Request hello = SMWIRE__REQUEST__INIT;
        Smwire__AuthHello h = SMWIRE__AUTH_HELLO__INIT;
        assert_true(smauth_random(cn, SMAUTH_NONCE));
        h.client_nonce.data = cn;
        h.client_nonce.len = SMAUTH_NONCE;
        hello.version = 1;
        hello.op_case = SMWIRE__REQUEST__OP_AUTH_HELLO;
        hello.auth_hello = &h;
        Smwire__Reply *rep = raw_send(r, &hello, false);
        assert_int_equal(rep->status, SM_OK);
        assert_int_equal(rep->challenge.len, SMAUTH_NONCE);
        memcpy(sn, rep->challenge.data, SMAUTH_NONCE);
        smwire__reply__free_unpacked(rep, NULL);
        smauth_client_proof((const uint8_t *)key, strlen(key), sn, cn, proof);
        so.client_nonce.data = cn;
        so.client_nonce.len = SMAUTH_NONCE;
        so.server_nonce.data = sn;
        so.server_nonce.len = SMAUTH_NONCE;
        so.proof.data = proof;
        so.proof.len = SMAUTH_MAC;
    }
    Smwire__Request req = SMWIRE__REQUEST__INIT;
    req.version = 1;
    req.op_case = SMWIRE__REQUEST__OP_SESSION_OPEN;
    req.session_open = &so;
    Smwire__Reply *rep = raw_send(r, &req, false);
    assert_int_equal(rep->status, SM_OK);
    assert_int_not_equal(rep->session, 0);
    r->session = rep->session;
    smwire__reply__free_unpacked(rep, NULL);
    if (key != NULL) {
        smauth_session_key((const uint8_t *)key, strlen(key), sn, cn, r->skey);
        r->keyed = true;
    }
}

static void
raw_close(raw *r)
{
    nng_close(r->sock);
}

/* raw_query sends SERVER_STATUS with q (NULL: an empty query) in session
 * `session` and returns the reply (the caller frees it). */
static Smwire__Reply *
raw_query_in(raw *r, uint64_t session, const Smwire__StatusQuery *q)
{
    Smwire__StatusQuery empty = SMWIRE__STATUS_QUERY__INIT;
    Smwire__Request req = SMWIRE__REQUEST__INIT;
    req.version = 1;
    req.session = session;
    req.seq = ++r->seq;
    req.ack_below = r->seq; /* every earlier reply has arrived */
    req.op_case = SMWIRE__REQUEST__OP_SERVER_STATUS;
    req.server_status = (Smwire__StatusQuery *)(q != NULL ? q : &empty);
    r->nstatus++;
    return raw_send(r, &req, r->keyed);
}

static Smwire__Reply *
raw_query(raw *r, const Smwire__StatusQuery *q)
{
    return raw_query_in(r, r->session, q);
}

/* status_ok asks for the status and asserts it came. */
static Smwire__Reply *
status_ok(raw *r, const Smwire__StatusQuery *q)
{
    Smwire__Reply *rep = raw_query(r, q);
    if (rep->status != SM_OK)
        fail_msg("SERVER_STATUS: status %u (%s): %s", rep->status, sm_errname((int)rep->status),
                 rep->detail);
    assert_non_null(rep->server_status);
    return rep;
}

/* status_refused asserts that q is refused with want and a detail holding
 * needle, and that the reply carries no status. */
static void
status_refused(raw *r, const Smwire__StatusQuery *q, int want, const char *needle)
{
    Smwire__Reply *rep = raw_query(r, q);
    assert_int_equal(rep->status, want);
    assert_null(rep->server_status);
    if (strstr(rep->detail, needle) == NULL)
        fail_msg("detail '%s' does not say '%s'", rep->detail, needle);
    smwire__reply__free_unpacked(rep, NULL);
}

/* ------------------------------------------------------------- finders */

static const Smwire__ObjectInfo *
find_obj(const Smwire__ServerStatus *ss, const char *name)
{
    for (size_t i = 0; i < ss->n_objects; i++)
        if (strcmp(ss->objects[i]->name, name) == 0)
            return ss->objects[i];
    fail_msg("no object '%s' in the status", name);
    return NULL;
}

static const Smwire__SessionInfo *
find_session(const Smwire__ServerStatus *ss, uint64_t id)
{
    for (size_t i = 0; i < ss->n_sessions; i++)
        if (ss->sessions[i]->id == id)
            return ss->sessions[i];
    fail_msg("no session %016" PRIx64 " in the status", id);
    return NULL;
}

static uint64_t
op_count(const Smwire__ServerStatus *ss, const char *name)
{
    for (size_t i = 0; i < ss->n_ops; i++)
        if (strcmp(ss->ops[i]->name, name) == 0)
            return ss->ops[i]->count;
    return 0;
}

static const Smwire__PoolStatusInfo *
find_pool(const Smwire__ServerStatus *ss, const char *name)
{
    for (size_t i = 0; i < ss->n_pools; i++)
        if (strcmp(ss->pools[i]->name, name) == 0)
            return ss->pools[i];
    return NULL;
}

/* ------------------------------------------------------------ processes */

/* runner_start starts syncmgr-worker with one worker process for pool. */
static pid_t
runner_start(const char *url, const char *pool)
{
    const char *argv[] = {SMT_WORKER, "--connect", url,         "--pool",     pool,
                          "--tasks",  SMT_TASKS,   "--processes", "1",        "--lease-ms",
                          LEASE_ARG,  NULL};
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execv(SMT_WORKER, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* runner_kill stops the runner at once: a second SIGTERM makes it SIGKILL
 * its workers (one sleeps in a long task) without waiting for them. */
static void
runner_kill(pid_t pid)
{
    int st;
    kill(pid, SIGTERM);
    kill(pid, SIGTERM);
    int64_t until = smt_now_ms() + BOUND_MS;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        if (smt_now_ms() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        smt_sleep_ms(POLL_MS);
    }
}

/* The other client's acquire, parked in the server until A releases. */
typedef struct waiter_arg {
    sm_lock *lock;
    int rv_acquire, rv_release;
} waiter_arg;

static void *
waiter_main(void *arg)
{
    waiter_arg *w = arg;
    w->rv_acquire = sm_lock_acquire(w->lock, SM_WAIT_FOREVER);
    w->rv_release = w->rv_acquire == SM_OK ? sm_lock_release(w->lock) : -1;
    return NULL;
}

static sm_client *
client_open(const char *url)
{
    sm_client *c = NULL;
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    o.lease_ms = LEASE_MS;
    assert_sm_ok(sm_client_open(&c, url, &o));
    return c;
}

/* ---------------------------------------------------------------- tests */

static void
test_status_shows_the_exact_state_of_a_fresh_server(void **state)
{
    (void)state;
    smt_server srv;
    assert_int_equal(smt_server_spawn(&srv, smt_transport(), NULL), 0);
    sm_client *a = client_open(srv.url), *b = client_open(srv.url);
    uint64_t sa, sb;
    assert_sm_ok(sm_client_session(a, &sa));
    assert_sm_ok(sm_client_session(b, &sb));

    char dname[64], lname[64], kname[64], sname[64], qname[64], pname[64];
    snprintf(dname, sizeof(dname), "%s", smt_name("st.dict"));
    snprintf(lname, sizeof(lname), "%s", smt_name("st.list"));
    snprintf(kname, sizeof(kname), "%s", smt_name("st.lock"));
    snprintf(sname, sizeof(sname), "%s", smt_name("st.sem"));
    snprintf(qname, sizeof(qname), "%s", smt_name("st.queue"));
    snprintf(pname, sizeof(pname), "%s", smt_name("st.pool"));

    sm_dict *d;
    sm_list *l;
    sm_lock *ka, *kb;
    sm_sem *s;
    sm_queue *q;
    sm_pool *p;
    assert_sm_ok(sm_dict_open(a, dname, &d));
    const char *keys[] = {"k1", "k2", "k3"};
    for (int i = 0; i < 3; i++) {
        sm_value v = sm_value_int(i);
        assert_sm_ok(sm_dict_set(d, keys[i], &v));
    }
    assert_sm_ok(sm_list_open(a, lname, &l));
    for (int i = 0; i < 5; i++) {
        sm_value v = sm_value_str("item");
        assert_sm_ok(sm_list_append(l, &v));
    }
    assert_sm_ok(sm_lock_open(a, kname, &ka));
    assert_sm_ok(sm_lock_acquire(ka, SM_NOWAIT));
    assert_sm_ok(sm_lock_open(b, kname, &kb));
    waiter_arg wa = {kb, -1, -1};
    pthread_t wt;
    assert_int_equal(pthread_create(&wt, NULL, waiter_main, &wa), 0);
    assert_sm_ok(sm_sem_open(a, sname, 3, false, &s));
    assert_sm_ok(sm_sem_acquire(s, SM_NOWAIT));
    assert_sm_ok(sm_queue_open(a, qname, 5, true, &q));
    for (int i = 0; i < 2; i++) {
        sm_value v = sm_value_int(i);
        assert_sm_ok(sm_queue_put(q, &v, SM_NOWAIT));
    }
    assert_sm_ok(sm_pool_open(a, pname, &p));
    pid_t runner = runner_start(srv.url, pname);
    sm_bytes in[4] = {{"0", 1}, {"0", 1}, {"600000", 6}, {"0", 1}};
    sm_map_opts mo = SM_MAP_OPTS_INIT;
    mo.chunksize = 1;
    sm_imap *it;
    assert_sm_ok(sm_pool_imap(p, "sleep", in, 4, &mo, &it));

    /* Wait for B's acquire to park and for the map to freeze on its long
     * task: 2 done, 1 running, 1 queued. */
    raw r;
    raw_open(&r, srv.url, NULL);
    Smwire__Reply *rep = NULL;
    const Smwire__ServerStatus *ss = NULL;
    int64_t until = smt_now_ms() + BOUND_MS;
    for (;;) {
        rep = status_ok(&r, NULL);
        ss = rep->server_status;
        const Smwire__PoolStatusInfo *pi = find_pool(ss, pname);
        bool parked = find_obj(ss, kname)->waiters == 1;
        bool frozen = pi != NULL && pi->n_groups == 1 && pi->groups[0]->done == 2 &&
                      pi->groups[0]->running == 1 && pi->n_workers == 1;
        if (parked && frozen)
            break;
        smwire__reply__free_unpacked(rep, NULL);
        if (smt_now_ms() > until)
            fail_msg("the waiter did not park or the map did not freeze in %d ms", BOUND_MS);
        smt_sleep_ms(POLL_MS);
    }

    /* The server. */
    const Smwire__ServerInfo *si = ss->server;
    char version[32];
    snprintf(version, sizeof(version), "%d.%d.%d", SM_VERSION_MAJOR, SM_VERSION_MINOR,
             SM_VERSION_PATCH);
    assert_non_null(si);
    assert_string_equal(si->version, version);
    assert_int_equal(si->pid, (uint64_t)srv.pid);
    assert_true(si->uptime_ms >= 0);
    assert_int_equal(si->n_listen, 1);
    assert_string_equal(si->listen[0], srv.url);
    assert_int_equal(si->sessions, 4); /* A, B, this raw one, the worker */
    assert_int_equal(si->connections, 4);
    assert_int_equal(si->objects, 6);
    assert_int_equal(si->waiters, 1); /* B's acquire */
    assert_int_equal(si->bad_requests, 0);
    assert_true(si->rss_bytes > 0);
    assert_false(si->authkey);
    assert_false(si->tls);
    assert_string_equal(si->snapshot, "");
    assert_true(si->request_rate >= 0.0);

    /* The objects, in id order, all of them (none is anonymous). */
    assert_int_equal(ss->n_objects, 6);
    assert_false(ss->more_objects);
    for (size_t i = 1; i < ss->n_objects; i++)
        assert_true(ss->objects[i - 1]->id < ss->objects[i]->id);
    const Smwire__ObjectInfo *o = find_obj(ss, dname);
    assert_int_equal(o->type, SMWIRE__OBJ_TYPE__OBJ_DICT);
    assert_int_equal(o->size, 3);
    assert_int_equal(o->refs, 0);
    assert_int_equal(o->waiters, 0);
    assert_int_equal(o->holders, 0);
    assert_null(o->lock);
    o = find_obj(ss, lname);
    assert_int_equal(o->type, SMWIRE__OBJ_TYPE__OBJ_LIST);
    assert_int_equal(o->size, 5);
    assert_int_equal(o->refs, 0);
    assert_int_equal(o->holders, 0);
    o = find_obj(ss, kname);
    assert_int_equal(o->type, SMWIRE__OBJ_TYPE__OBJ_LOCK);
    assert_int_equal(o->size, 0);
    assert_int_equal(o->refs, 0); /* the holder's pin is not a reference */
    assert_int_equal(o->waiters, 1);
    assert_int_equal(o->holders, 1);
    assert_non_null(o->lock);
    assert_true(o->lock->held);
    assert_int_equal(o->lock->session, sa);
    assert_int_not_equal(o->lock->owner, 0);
    assert_int_equal(o->lock->depth, 1);
    assert_int_equal(o->lock->fence, 1);
    assert_false(o->lock->owner_died);
    o = find_obj(ss, sname);
    assert_int_equal(o->type, SMWIRE__OBJ_TYPE__OBJ_SEMAPHORE);
    assert_int_equal(o->value, 2);
    assert_int_equal(o->holders, 1);
    assert_int_equal(o->waiters, 0);
    assert_int_equal(o->refs, 0);
    o = find_obj(ss, qname);
    assert_int_equal(o->type, SMWIRE__OBJ_TYPE__OBJ_QUEUE);
    assert_int_equal(o->size, 2);
    assert_int_equal(o->maxsize, 5);
    assert_int_equal(o->unfinished, 2);
    assert_int_equal(o->waiters, 0);
    assert_int_equal(o->holders, 0);
    o = find_obj(ss, pname);
    assert_int_equal(o->type, SMWIRE__OBJ_TYPE__OBJ_POOL);
    assert_int_equal(o->holders, 1); /* the worker with a lease */
    assert_int_equal(o->waiters, 0);
    assert_int_equal(o->refs, 0);
    assert_non_null(o->pool);
    assert_int_equal(o->pool->queued, 1);
    assert_int_equal(o->pool->running, 1);
    assert_int_equal(o->pool->done, 2);
    assert_int_equal(o->pool->failed, 0);
    assert_int_equal(o->pool->workers, 1);
    assert_int_equal(o->pool->results, 2); /* not collected: no sm_imap_next */

    /* The sessions. */
    assert_int_equal(ss->n_sessions, 4);
    const Smwire__SessionInfo *se = find_session(ss, sa);
    assert_int_equal(se->lease_ms, LEASE_MS);
    assert_true(se->age_ms >= 0);
    assert_true(se->expires_in_ms > 0 && se->expires_in_ms <= LEASE_MS);
    assert_int_equal(se->parked, 0);
    assert_int_equal(se->holds, 2); /* the lock and one permit */
    assert_false(se->keyed);
    char want[600];
    if (strcmp(smt_transport(), "ipc") == 0) {
        snprintf(want, sizeof(want), "%s?pid=%ld", srv.url, (long)getpid());
        assert_string_equal(se->address, want);
    } else {
        assert_true(strncmp(se->address, "tcp://127.0.0.1:", 16) == 0);
    }
    se = find_session(ss, sb);
    assert_int_equal(se->parked, 1);
    assert_int_equal(se->holds, 0);
    se = find_session(ss, r.session);
    assert_int_equal(se->parked, 0);
    assert_int_equal(se->holds, 0);

    /* The pool: the map's progress and its worker. */
    assert_int_equal(ss->n_pools, 1);
    const Smwire__PoolStatusInfo *pi = find_pool(ss, pname);
    assert_non_null(pi);
    assert_int_equal(pi->id, find_obj(ss, pname)->id);
    assert_int_equal(pi->info->done, 2);
    assert_int_equal(pi->n_groups, 1);
    const Smwire__GroupInfo *g = pi->groups[0];
    assert_int_equal(g->session, sa);
    assert_int_equal(g->total, 4);
    assert_int_equal(g->done, 2);
    assert_int_equal(g->running, 1);
    assert_int_equal(g->queued, 1);
    assert_int_equal(g->failed, 0);
    assert_int_equal(pi->n_workers, 1);
    const Smwire__SessionInfo *wk = pi->workers[0];
    assert_int_equal(wk->holds, 1); /* its lease */
    assert_int_equal(find_session(ss, wk->id)->holds, 1);
    assert_true(wk->id != sa && wk->id != sb && wk->id != r.session);

    /* The ops: exactly what this test sent, and requests their sum. */
    assert_int_equal(op_count(ss, "dict.set"), 3);
    assert_int_equal(op_count(ss, "list.append"), 5);
    assert_int_equal(op_count(ss, "lock.acquire"), 2);
    assert_int_equal(op_count(ss, "sem.acquire"), 1);
    assert_int_equal(op_count(ss, "queue.put"), 2);
    assert_int_equal(op_count(ss, "pool.submit"), 1);
    assert_int_equal(op_count(ss, "server.status"), r.nstatus);
    assert_int_equal(op_count(ss, "dict.get"), 0);
    uint64_t sum = 0;
    for (size_t i = 0; i < ss->n_ops; i++) {
        assert_int_not_equal(ss->ops[i]->count, 0); /* only ops that were sent */
        assert_true(ss->ops[i]->rate >= 0.0);
        sum += ss->ops[i]->count;
    }
    assert_int_equal(si->requests, sum);
    smwire__reply__free_unpacked(rep, NULL);

    /* Release: B gets the lock; the map is abandoned with its worker. */
    runner_kill(runner);
    sm_imap_free(it);
    assert_sm_ok(sm_lock_release(ka));
    smt_join_or_fail(wt, 30);
    assert_sm_ok(wa.rv_acquire);
    assert_sm_ok(wa.rv_release);

    /* The lock as the status now shows it: free, fence 2 (B's grant). */
    rep = status_ok(&r, NULL);
    o = find_obj(rep->server_status, kname);
    assert_false(o->lock->held);
    assert_int_equal(o->lock->session, 0);
    assert_int_equal(o->lock->fence, 2);
    assert_int_equal(o->waiters, 0);
    assert_int_equal(o->holders, 0);
    smwire__reply__free_unpacked(rep, NULL);

    sm_pool_close(p);
    sm_queue_close(q);
    sm_sem_close(s);
    sm_lock_close(kb);
    sm_lock_close(ka);
    sm_list_close(l);
    sm_dict_close(d);
    sm_client_close(b);
    sm_client_close(a);
    raw_close(&r);
    int st = smt_server_stop(&srv);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void
test_status_pages_objects_in_id_order_by_prefix(void **state)
{
    (void)state;
    char prefix[64], name[96];
    snprintf(prefix, sizeof(prefix), "%s.", smt_name("st.page"));
    sm_dict *d[5];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof(name), "%sd%d", prefix, i);
        assert_sm_ok(sm_dict_open(smt_client(), name, &d[i]));
    }
    sm_list *anon;
    assert_sm_ok(sm_list_new(smt_client(), &anon));
    raw r;
    raw_open(&r, smt_url(), NULL);

    /* Pages of 2: d0 d1 (more), d2 d3 (more), d4 (no more). */
    Smwire__StatusQuery qq = SMWIRE__STATUS_QUERY__INIT;
    char *objects = "objects";
    qq.sections = &objects;
    qq.n_sections = 1;
    qq.name_prefix = prefix;
    qq.max_objects = 2;
    uint64_t after = 0;
    int seen = 0;
    for (int page = 0; page < 3; page++) {
        qq.after_id = after;
        Smwire__Reply *rep = status_ok(&r, &qq);
        const Smwire__ServerStatus *ss = rep->server_status;
        size_t want = page < 2 ? 2 : 1;
        assert_int_equal(ss->n_objects, want);
        assert_int_equal(ss->more_objects, page < 2);
        for (size_t i = 0; i < ss->n_objects; i++, seen++) {
            snprintf(name, sizeof(name), "%sd%d", prefix, seen);
            assert_string_equal(ss->objects[i]->name, name);
            assert_true(ss->objects[i]->id > after);
            assert_int_equal(ss->objects[i]->type, SMWIRE__OBJ_TYPE__OBJ_DICT);
            after = ss->objects[i]->id;
        }
        /* Only the sections asked for. */
        assert_null(ss->server);
        assert_int_equal(ss->n_sessions, 0);
        assert_int_equal(ss->n_pools, 0);
        assert_int_equal(ss->n_ops, 0);
        smwire__reply__free_unpacked(rep, NULL);
    }
    assert_int_equal(seen, 5);

    /* All five fit in a page of 5: no more. */
    qq.after_id = 0;
    qq.max_objects = 5;
    Smwire__Reply *rep = status_ok(&r, &qq);
    assert_int_equal(rep->server_status->n_objects, 5);
    assert_false(rep->server_status->more_objects);
    smwire__reply__free_unpacked(rep, NULL);

    /* Anonymous objects: only with anonymous set and no prefix. */
    qq.name_prefix = "";
    qq.max_objects = 10000;
    int anon_seen = 0;
    for (int with = 0; with < 2; with++) {
        qq.anonymous = with;
        rep = status_ok(&r, &qq);
        const Smwire__ServerStatus *ss = rep->server_status;
        assert_false(ss->more_objects);
        anon_seen = 0;
        for (size_t i = 0; i < ss->n_objects; i++)
            if (ss->objects[i]->name[0] == '\0') {
                anon_seen++;
                assert_int_equal(ss->objects[i]->type, SMWIRE__OBJ_TYPE__OBJ_LIST);
                assert_int_equal(ss->objects[i]->refs, 1); /* our one proxy */
            }
        assert_int_equal(anon_seen, with ? 1 : 0);
        smwire__reply__free_unpacked(rep, NULL);
    }
    qq.name_prefix = prefix; /* a prefix never matches an anonymous object */
    qq.anonymous = true;
    rep = status_ok(&r, &qq);
    assert_int_equal(rep->server_status->n_objects, 5);
    smwire__reply__free_unpacked(rep, NULL);

    /* Sections: server and ops only. */
    Smwire__StatusQuery q2 = SMWIRE__STATUS_QUERY__INIT;
    char *two[] = {"ops", "server"};
    q2.sections = two;
    q2.n_sections = 2;
    rep = status_ok(&r, &q2);
    assert_non_null(rep->server_status->server);
    assert_true(rep->server_status->n_ops > 0);
    assert_int_equal(rep->server_status->n_objects, 0);
    assert_int_equal(rep->server_status->n_sessions, 0);
    smwire__reply__free_unpacked(rep, NULL);

    raw_close(&r);
    sm_list_close(anon);
    for (int i = 0; i < 5; i++)
        sm_dict_close(d[i]);
}

static void
test_status_refuses_bad_queries_and_foreign_sessions(void **state)
{
    (void)state;
    raw r;
    raw_open(&r, smt_url(), NULL);
    Smwire__StatusQuery q = SMWIRE__STATUS_QUERY__INIT;
    char *bad[] = {"server", "bogus"};
    q.sections = bad;
    q.n_sections = 2;
    status_refused(&r, &q, SM_EINVAL, "unknown status section 'bogus'");

    Smwire__StatusQuery q2 = SMWIRE__STATUS_QUERY__INIT;
    q2.max_objects = 10001;
    status_refused(&r, &q2, SM_EINVAL, "max_objects 10001 is over the limit of 10000");
    q2.max_objects = UINT32_MAX;
    status_refused(&r, &q2, SM_EINVAL, "over the limit");
    q2.max_objects = 10000; /* the limit itself is fine */
    Smwire__Reply *rep = status_ok(&r, &q2);
    smwire__reply__free_unpacked(rep, NULL);

    char longname[300];
    memset(longname, 'x', 256);
    longname[256] = '\0';
    Smwire__StatusQuery q3 = SMWIRE__STATUS_QUERY__INIT;
    q3.name_prefix = longname;
    status_refused(&r, &q3, SM_EINVAL, "name_prefix is 256 bytes");

    /* The same session checks as every request. */
    rep = raw_query_in(&r, 0, NULL);
    assert_int_equal(rep->status, SM_ESESSION);
    assert_null(rep->server_status);
    smwire__reply__free_unpacked(rep, NULL);
    rep = raw_query_in(&r, r.session ^ 0x5a5a5a5a5a5a5a5aULL, NULL);
    assert_int_equal(rep->status, SM_ESESSION);
    smwire__reply__free_unpacked(rep, NULL);

    /* Nothing refused was counted as bad input, and the server still answers. */
    rep = status_ok(&r, NULL);
    assert_int_equal(rep->server_status->server->bad_requests, 0);
    smwire__reply__free_unpacked(rep, NULL);
    raw_close(&r);
}

static void
test_status_with_an_authkey_needs_a_keyed_session(void **state)
{
    (void)state;
    char dir[] = "/tmp/smt-status-key.XXXXXX", path[300];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/key", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(KEY, f);
    fclose(f);
    const char *extra[] = {"--authkey-file", path, NULL};
    smt_server srv;
    assert_int_equal(smt_server_spawn(&srv, smt_transport(), extra), 0);

    raw r;
    raw_open(&r, srv.url, KEY);
    Smwire__Reply *rep = status_ok(&r, NULL);
    assert_true(rep->server_status->server->authkey);
    assert_int_equal(rep->server_status->n_sessions, 1);
    assert_true(rep->server_status->sessions[0]->keyed);
    assert_int_equal(rep->server_status->sessions[0]->id, r.session);
    smwire__reply__free_unpacked(rep, NULL);

    /* Without the MAC trailer: refused, however right the session. */
    r.keyed = false;
    rep = raw_query(&r, NULL);
    assert_int_equal(rep->status, SM_EAUTH);
    assert_null(rep->server_status);
    smwire__reply__free_unpacked(rep, NULL);

    raw_close(&r);
    int st = smt_server_stop(&srv);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unlink(path);
    rmdir(dir);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_shows_the_exact_state_of_a_fresh_server),
        cmocka_unit_test(test_status_pages_objects_in_id_order_by_prefix),
        cmocka_unit_test(test_status_refuses_bad_queries_and_foreign_sessions),
        cmocka_unit_test(test_status_with_an_authkey_needs_a_keyed_session),
    };
    return SMT_MAIN("status", tests);
}
