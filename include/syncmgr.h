/* syncmgr.h - the complete public API of libsyncmgr; nothing else is API.
 *
 * libsyncmgr talks to a syncmgrd manager process that owns shared objects
 * (dicts, lists, vars, arrays, namespaces) and serves them over nng
 * request/reply. Every function here returns a status (SM_OK is 0, failures
 * are positive and named by sm_strerror()/sm_errname()); results are written
 * through pointers only on SM_OK, so a caller's default survives a failure.
 *
 * Ownership, the same words everywhere:
 *   - Every input is copied before the call returns; the library never keeps
 *     a caller's pointer.
 *   - An output the caller owns names its release function.
 *   - close/free/clear functions accept NULL.
 *
 * Threads: an sm_client may be shared by any number of threads at once; each
 * call runs on its own nng context. A proxy (sm_dict, sm_list, ...) may also
 * be used from several threads; it only reads its own handle.
 *
 * Fork: nng (1.5.2) refuses to run in a process forked from one that has
 * already used it: any nng call there aborts with "nng is not fork-reentrant
 * safe". So a program that forks workers forks them BEFORE its first
 * sm_client_open() (sm_manager_start(&m, NULL) starts a manager without
 * touching nng, for exactly this), or the child exec()s a program of its own.
 * Each worker then opens its own client. A child never uses its parent's
 * client. In a child forked after nng was used, every call returns
 * SM_EFORKED instead of aborting (closing an inherited client only frees
 * its memory).
 *
 * The library never writes to stdout or stderr. */
#ifndef SYNCMGR_H
#define SYNCMGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SM_API __attribute__((visibility("default")))

#define SM_VERSION_MAJOR 0
#define SM_VERSION_MINOR 1
#define SM_VERSION_PATCH 0

/* ---------------------------------------------------------------- statuses */

/* One map makes the enum, sm_strerror() and sm_errname(). Numbers are
 * forever: new codes are appended, none is ever reused. They travel on the
 * wire unchanged. */
#define SM_STATUS_MAP(X)                                                                     \
    X(OK, 0, "success")                                                                      \
    X(EINVAL, 1, "invalid argument")                                                         \
    X(ENOMEM, 2, "out of memory")                                                            \
    X(EPROTO, 3, "protocol error: malformed or unexpected message")                          \
    X(EUNREACHABLE, 4, "server unreachable")                                                 \
    X(ETIMEDOUT, 5, "the operation's timeout passed; nothing was done")                      \
    X(ECLOSED, 6, "connection to the server lost during the call; outcome unknown")          \
    X(ENOOBJ, 7, "no such object")                                                           \
    X(EWRONGTYPE, 8, "object is of another type")                                            \
    X(ENOKEY, 9, "no such key")                                                              \
    X(ERANGE, 10, "index out of range")                                                      \
    X(ENOTFOUND, 11, "value not found")                                                      \
    X(EBADVALUE, 12, "value of the wrong kind for this operation")                           \
    X(EOVERFLOW, 13, "result does not fit the type")                                         \
    X(ELIMIT, 14, "a server limit would be exceeded")                                        \
    X(EVERSION, 15, "protocol version not supported")                                        \
    X(EINTERNAL, 16, "internal error")                                                       \
    X(ENOREPLY, 17, "no reply within the call deadline; outcome unknown")                    \
    X(EFORKED, 18, "this process was forked after its parent used nng; see syncmgr.h")       \
    X(ENOTOWNER, 19, "the caller does not hold the lock")                                    \
    X(EBROKEN, 20, "the barrier is broken")                                                  \
    X(EEMPTY, 21, "the queue is empty")                                                      \
    X(EFULL, 22, "the queue is full")                                                        \
    X(ESESSION, 23, "the session is lost (lease expired or server restarted); open a new client")\
    X(EOWNERDEAD, 24, "acquired; the previous holder's session ended without releasing it")  \
    X(ETASK, 25, "the task reported an error")                                               \
    X(EKILLED, 26, "the task killed its worker too many times; not retried")                 \
    X(ECANCELLED, 27, "the task was cancelled before it started")                           \
    X(EEND, 28, "no more results")                                                          \
    X(EAUTH, 29, "authentication failed")

typedef enum sm_status {
#define SM_X_(name, num, text) SM_##name = num,
    SM_STATUS_MAP(SM_X_)
#undef SM_X_
} sm_status;

/* sm_strerror returns a static English sentence for status rv ("unknown
 * status" for a number not in the map). Never NULL. */
SM_API const char *sm_strerror(int rv);

/* sm_errname returns the status's name ("SM_ENOKEY"); "SM_UNKNOWN" for a
 * number not in the map. Never NULL, static. */
SM_API const char *sm_errname(int rv);

/* sm_errdetail returns the detail of the last failed call on this thread
 * (the server's words, e.g. "key is 70000 bytes, limit 65535"), or "".
 * Borrowed: valid until the next sm_ call on this thread. Never NULL. */
SM_API const char *sm_errdetail(void);

/* Durations are int64_t milliseconds. */
#define SM_WAIT_FOREVER ((int64_t)-1)
#define SM_NOWAIT ((int64_t)0)

/* A slice bound meaning "to the end", as Python's a[start:]. */
#define SM_END INT64_MAX

/* ------------------------------------------------------------ opaque types */

typedef struct sm_client sm_client;   /* a connection; thread-safe */
typedef struct sm_manager sm_manager; /* a private syncmgrd started by sm_manager_start */
typedef struct sm_dict sm_dict;       /* proxies: one managed object each */
typedef struct sm_list sm_list;
typedef struct sm_var sm_var; /* Python's Value: one shared value */
typedef struct sm_array sm_array;
typedef struct sm_ns sm_ns; /* Python's Namespace */
typedef struct sm_lock sm_lock;
typedef struct sm_rlock sm_rlock;
typedef struct sm_sem sm_sem; /* Semaphore and BoundedSemaphore */
typedef struct sm_cond sm_cond;
typedef struct sm_event sm_event;
typedef struct sm_barrier sm_barrier;
typedef struct sm_queue sm_queue; /* Queue and JoinableQueue */
typedef struct sm_pool sm_pool;   /* the submitting side of a pool of workers */
typedef struct sm_future sm_future; /* one task started by sm_pool_apply_async */
typedef struct sm_batch sm_batch;   /* operations recorded for one round trip */
typedef struct sm_imap sm_imap;   /* an iterator over a map's results */
typedef struct sm_worker sm_worker; /* the serving side: runs named tasks */
typedef struct sm_task sm_task;   /* one running task, handed to its function */

/* ------------------------------------------------------------------ values */

typedef enum sm_type {
    SM_NIL = 0,
    SM_BOOL = 1,
    SM_INT = 2,    /* int64_t */
    SM_DOUBLE = 3,
    SM_BYTES = 4,  /* u.buf: ptr, len */
    SM_STR = 5,    /* u.buf: NUL-terminated text, len excludes the NUL */
    SM_REF = 6,    /* u.buf: an object token (a string), see sm_dict_token() */
} sm_type;

/* The one exposed struct. Its size is pinned by u.reserved: part of the ABI.
 * A value the library hands out owns its buffer (u.buf.owned is true) and is
 * released with sm_value_clear(). A value made by sm_value_str(),
 * sm_value_bytes() or sm_value_ref() borrows the caller's memory
 * (u.buf.owned is false); sm_value_clear() leaves borrowed memory alone. */
typedef struct sm_value {
    sm_type type;
    union {
        bool b;
        int64_t i;
        double d;
        struct {
            void *ptr;
            size_t len;
            bool owned;
        } buf;
        uint64_t reserved[4];
    } u;
} sm_value;

/* Constructors for inputs; none allocates. */
SM_API sm_value sm_value_nil(void);
SM_API sm_value sm_value_bool(bool b);
SM_API sm_value sm_value_int(int64_t i);
SM_API sm_value sm_value_double(double d);
SM_API sm_value sm_value_str(const char *s);               /* borrows s */
SM_API sm_value sm_value_bytes(const void *p, size_t len); /* borrows p */
SM_API sm_value sm_value_ref(const char *token);           /* borrows token */

/* sm_value_clear frees what v owns and makes it SM_NIL. NULL is a no-op. */
SM_API void sm_value_clear(sm_value *v);

/* sm_value_copy makes *dst an owned deep copy of src.
 * Returns: SM_OK, SM_EINVAL, SM_ENOMEM (then *dst is unchanged). */
SM_API int sm_value_copy(sm_value *dst, const sm_value *src);

/* sm_value_equal: same kind and content; SM_INT and SM_DOUBLE compare by
 * number (1 == 1.0), as in Python. The rule the server uses for list
 * remove/index/count and var cas. */
SM_API bool sm_value_equal(const sm_value *a, const sm_value *b);

/* sm_values_free clears n values and frees the array. NULL is a no-op. */
SM_API void sm_values_free(sm_value *v, size_t n);

/* sm_strings_free frees n strings and the array. NULL is a no-op. */
SM_API void sm_strings_free(char **s, size_t n);

/* ------------------------------------------------------------------ client */

/* Options for sm_client_open. Start from SM_CLIENT_OPTS_INIT; size lets new
 * members be appended without breaking old callers. */
typedef struct sm_client_opts {
    size_t size;             /* sizeof(sm_client_opts) */
    int64_t call_timeout_ms; /* per call deadline for non-blocking calls; default 10000 */
    int64_t dial_timeout_ms; /* how long sm_client_open waits for a connection; default 5000 */
    int64_t lease_ms;        /* the session's lease, 100 .. 600000; default 5000 */
    /* The shared secret the server asks for (its --authkey-file). NULL: the
     * file named by $SYNCMGR_AUTHKEY_FILE, else the text of
     * $SYNCMGR_AUTHKEY, else none. Copied. */
    const void *authkey;
    size_t authkey_len;
    /* For tls+tcp:// URLs (PEM files). tls_ca_file verifies the server's
     * certificate (required); tls_cert_file and tls_key_file are this
     * client's own, for a server that asks for one; tls_server_name is the
     * DNS name the server's certificate must carry (default: the URL's
     * host; a URL with an IP address needs it, since the mbedtls under
     * Debian's nng checks DNS names only: SM_EINVAL without it).
     * NULL: $SYNCMGR_TLS_CA, $SYNCMGR_TLS_CERT, $SYNCMGR_TLS_KEY,
     * $SYNCMGR_TLS_SERVER_NAME. */
    const char *tls_ca_file;
    const char *tls_cert_file;
    const char *tls_key_file;
    const char *tls_server_name;
} sm_client_opts;
#define SM_CLIENT_OPTS_INIT {sizeof(sm_client_opts), 10000, 5000, 5000, NULL, 0, NULL, NULL, NULL, NULL}

/* A client is one session with the server. The session owns what the
 * client holds there: locks and rlocks, semaphore permits, parked waits,
 * items taken from a joinable queue and not yet marked done, and references
 * to anonymous objects. A background thread renews its lease (every third
 * of lease_ms). A session that ends - sm_client_close, the process killed,
 * the host gone, the lease lapsed - gives all of it back: locks are freed
 * (their next holder gets SM_EOWNERDEAD), permits it acquired and no one
 * released return (a bounded semaphore never past its bound), parked waits
 * are dropped, items it took from a joinable queue that no task_done has
 * covered go back to the front of their queue in their order, references
 * are released.
 *
 * A dropped connection is not an expired session: the client reconnects by
 * itself and sends the calls in flight again; the server answers a repeated
 * request from memory, so each call applies exactly once. A client whose
 * session expired, or whose server restarted, gets SM_ESESSION from every
 * later call; open a new client. */

/* sm_client_open connects to a syncmgrd at url (ipc://PATH, tcp://HOST:PORT,
 * tls+tcp://HOST:PORT) and opens a session. With an authkey it proves the
 * key by an HMAC-SHA256 challenge and checks the server's proof in turn;
 * every later request then carries a MAC under a key of that session.
 * Blocks: until connected, at most opts->dial_timeout_ms, then one round
 *   trip (two with an authkey).
 * Ownership: opts may be NULL (defaults); on SM_OK the caller owns *cp and
 *   releases it with sm_client_close().
 * Returns: SM_OK, SM_EINVAL (bad url or opts, unreadable key or TLS files),
 *   SM_EUNREACHABLE (no connection; also a TLS handshake refused either
 *   way), SM_EAUTH (the server wants a key and this one is wrong or
 *   missing, or this client has a key and the server does not prove it),
 *   SM_ELIMIT (the server has its --max-sessions sessions live), SM_ENOMEM. */
SM_API int sm_client_open(sm_client **cp, const char *url, const sm_client_opts *opts);

/* sm_client_close ends the session (giving back what it holds) and closes
 * the connection. Proxies opened on c must be closed first. NULL is a
 * no-op.
 * Blocks: one round trip if connected (at most 2 s, or the call timeout if
 *   shorter), then the socket's close, at most 2 s: nng 1.5.2's close can
 *   hang for good (nanomsg/nng#1543, seen here when closing a client whose
 *   server had gone); after 2 s the socket is left to nng and the call
 *   returns. nng's other closes in this process may then hang as well. */
SM_API void sm_client_close(sm_client *c);

/* sm_client_session sets *id to the session's id (for logs and tools). */
SM_API int sm_client_session(const sm_client *c, uint64_t *id);

/* sm_client_set_timeout changes the deadline of later non-blocking calls.
 * Returns: SM_OK, SM_EINVAL (c NULL, or ms < 1 and not SM_WAIT_FOREVER). */
SM_API int sm_client_set_timeout(sm_client *c, int64_t ms);

/* sm_client_url returns the URL c was opened with. Borrowed: valid while c
 * is open. */
SM_API const char *sm_client_url(const sm_client *c);

/* sm_server_snapshot asks c's server to write its snapshot file (syncmgrd
 * --snapshot FILE) now: every call this or any client saw applied before
 * this one is in the file when it returns SM_OK. The server writes it
 * atomically (a temporary file, fsync, rename, fsync of the directory), so
 * FILE is either the old snapshot or the new one, never a mix.
 * Blocks: one round trip, answered once the file is written and fsynced,
 *   bounded by the client's call timeout (sm_client_set_timeout; a very
 *   large state may need more: SM_ENOREPLY then, and the write goes on).
 * Ownership: nothing is handed out.
 * Returns: SM_OK; SM_EINVAL (c NULL, or the server has no --snapshot FILE;
 *   sm_errdetail() says so); SM_EINTERNAL (the write failed: sm_errdetail()
 *   says why, e.g. a directory that is not writable; the old FILE is as it
 *   was and the server keeps serving); SM_ELIMIT (an object too large to
 *   save, over 2 GiB encoded); SM_ENOMEM; SM_ESESSION. */
SM_API int sm_server_snapshot(sm_client *c);

/* Every call on a client below may also return, besides the statuses it
 * names: SM_ENOREPLY (no reply within the call deadline; outcome unknown),
 * SM_ECLOSED (connection dropped during the call; outcome unknown),
 * SM_EUNREACHABLE (no connection to the server for the whole deadline; the
 * request was not delivered), SM_EINVAL (a NULL proxy, key or output
 * pointer, a key or name of 0 bytes or over its limit, a malformed value),
 * SM_ENOOBJ (the object, or one a reference value names, is gone),
 * SM_EPROTO, SM_EVERSION, SM_ENOMEM, SM_ELIMIT, SM_EINTERNAL, SM_EFORKED.
 * SM_ELIMIT is a server limit (syncmgrd's --max-* flags; sm_errdetail()
 * names it): the call was refused whole and changed nothing. The calls that
 * can meet one say so below. A string or bytes value longer than
 * --max-value is SM_ELIMIT wherever it is passed in. A call that would
 * wait in the server (see "blocking objects") is SM_ELIMIT when its client
 * already has --max-waits calls waiting there.
 * SM_ETIMEDOUT is only ever the server's answer: the operation's own
 * timeout passed and nothing was done. */

/* ----------------------------------------------------------------- manager */

/* sm_manager_start starts a private syncmgrd (a child process, listening on
 * ipc:// in a fresh temporary directory) and connects a client to it: C's
 * `with Manager() as m:`. The server binary is found by $SYNCMGRD, then
 * beside the running program, then where the build or install put it, then
 * on $PATH. The server dies with the process that started it.
 * Blocks: until the server listens (at most 10 s).
 * Ownership: on SM_OK the caller owns *mp (release with sm_manager_stop);
 *   *cp is borrowed from *mp and is closed by sm_manager_stop(). With cp
 *   NULL no client is opened and this process has not used nng yet, so it
 *   may still fork workers that connect to sm_manager_url(). 
 * Returns: SM_OK, SM_EINVAL, SM_ENOMEM, SM_EUNREACHABLE (the server could not
 *   be started; sm_errdetail() says why). */
SM_API int sm_manager_start(sm_manager **mp, sm_client **cp);

/* sm_manager_url returns the URL other processes pass to sm_client_open().
 * Borrowed: valid until sm_manager_stop(). */
SM_API const char *sm_manager_url(const sm_manager *m);

/* sm_manager_stop closes the manager's client, stops the server (SIGTERM,
 * then SIGKILL after 5 s) and removes its directory. In a forked child of
 * the process that started it, it only frees memory. NULL is a no-op.
 * Returns: SM_OK, or SM_EINTERNAL if the server had to be killed. */
SM_API int sm_manager_stop(sm_manager *m);

/* ------------------------------------------------------- objects in common
 *
 * Every object type T below (dict, list, var, array, ns) has the same four
 * ways in and one way out:
 *
 *   sm_T_open(c, name, ..., &p)   get-or-create the object called name: any
 *                                 process on any host that knows the name
 *                                 finds the same object. Opening a name that
 *                                 holds another type is SM_EWRONGTYPE. Named
 *                                 objects live as long as the server.
 *   sm_T_new(c, ..., &p)          create an anonymous object.
 *                                 Creating one (new, or open of a new name)
 *                                 is SM_ELIMIT when the server has its
 *                                 --max-objects objects live; opening or
 *                                 attaching an existing one still works.
 *   sm_T_attach(c, token, &p)     open an anonymous object another process
 *                                 handed over as sm_T_token(); SM_ENOOBJ if
 *                                 it is gone, SM_EWRONGTYPE if the token is
 *                                 of another type, SM_EINVAL if it is no
 *                                 token at all.
 *   sm_T_token(p)                 the printable token (borrowed, valid while
 *                                 p is open). Also stored in other objects as
 *                                 sm_value_ref(token).
 *   sm_T_close(p)                 release the proxy. An anonymous object is
 *                                 freed when the last proxy anywhere is closed
 *                                 and no managed object holds a reference to
 *                                 it. Always frees p; NULL is a no-op.
 *
 * Each is one round trip. Names are 1 to 255 bytes. */

/* -------------------------------------------------------------------- dict */

/* A dict maps string keys (1 to 65535 bytes) to values, in insertion order
 * (as Python's dict). */
SM_API int sm_dict_open(sm_client *c, const char *name, sm_dict **dp);
SM_API int sm_dict_new(sm_client *c, sm_dict **dp);
SM_API int sm_dict_attach(sm_client *c, const char *token, sm_dict **dp);
SM_API const char *sm_dict_token(const sm_dict *d);
SM_API int sm_dict_close(sm_dict *d);

/* sm_dict_get copies d[key] into *out (owned; sm_value_clear).
 * Returns: SM_OK, SM_ENOKEY (*out untouched), SM_EINVAL. */
SM_API int sm_dict_get(sm_dict *d, const char *key, sm_value *out);

/* sm_dict_get_or is d.get(key, dflt): a copy of dflt when key is absent.
 * Returns: SM_OK, SM_EINVAL. */
SM_API int sm_dict_get_or(sm_dict *d, const char *key, const sm_value *dflt, sm_value *out);

/* sm_dict_set stores d[key] = v. Returns: SM_OK, SM_EINVAL, SM_ENOOBJ (v is a
 * reference to an object that is gone), SM_ELIMIT (a new key past the
 * server's --max-keys, or v longer than --max-value). */
SM_API int sm_dict_set(sm_dict *d, const char *key, const sm_value *v);

/* sm_dict_del removes key. Returns: SM_OK, SM_ENOKEY, SM_EINVAL. */
SM_API int sm_dict_del(sm_dict *d, const char *key);

/* sm_dict_contains sets *out to whether key is present. */
SM_API int sm_dict_contains(sm_dict *d, const char *key, bool *out);

/* sm_dict_len sets *out to the number of keys. */
SM_API int sm_dict_len(sm_dict *d, size_t *out);

/* sm_dict_keys, _values and _items return the contents in insertion order.
 * Ownership: on SM_OK the caller frees *keysp with sm_strings_free(*keysp, *np)
 *   and *valsp with sm_values_free(*valsp, *np). With *np == 0 the arrays are
 *   NULL. */
SM_API int sm_dict_keys(sm_dict *d, char ***keysp, size_t *np);
SM_API int sm_dict_values(sm_dict *d, sm_value **valsp, size_t *np);
SM_API int sm_dict_items(sm_dict *d, char ***keysp, sm_value **valsp, size_t *np);

/* sm_dict_update stores n pairs in one round trip, in order (a later
 * duplicate key wins), all or nothing. Returns: SM_OK, SM_EINVAL, SM_ENOOBJ,
 * SM_ELIMIT (its new keys would take d past --max-keys, or a value is
 * longer than --max-value; no pair is stored). */
SM_API int sm_dict_update(sm_dict *d, const char *const *keys, const sm_value *vals, size_t n);

/* sm_dict_pop removes key and moves its value into *out (owned). With dflt
 * non-NULL an absent key gives a copy of dflt and SM_OK, as d.pop(k, dflt).
 * Returns: SM_OK, SM_ENOKEY (dflt NULL and key absent), SM_EINVAL. */
SM_API int sm_dict_pop(sm_dict *d, const char *key, const sm_value *dflt, sm_value *out);

/* sm_dict_setdefault is d.setdefault(key, dflt): stores dflt if key is
 * absent; *out (owned, may be NULL if not wanted) receives the value now
 * stored. Returns: SM_OK, SM_EINVAL, SM_ELIMIT (key absent and d has
 * --max-keys keys, or dflt longer than --max-value). */
SM_API int sm_dict_setdefault(sm_dict *d, const char *key, const sm_value *dflt, sm_value *out);

/* sm_dict_clear removes every key. */
SM_API int sm_dict_clear(sm_dict *d);

/* sm_dict_incr atomically adds delta (SM_INT or SM_DOUBLE) to d[key] (an
 * absent key counts as 0 of delta's kind) and returns the new value in *out
 * (may be NULL). An int plus a double gives a double.
 * Returns: SM_OK, SM_EBADVALUE (the stored value or delta is not a number),
 *   SM_EOVERFLOW (int64 overflow; nothing changes), SM_EINVAL, SM_ELIMIT (key
 *   absent and d has --max-keys keys). */
SM_API int sm_dict_incr(sm_dict *d, const char *key, const sm_value *delta, sm_value *out);

/* -------------------------------------------------------------------- list */

/* A list of values. Indices are int64_t and may be negative, counting from
 * the end, as in Python. */
SM_API int sm_list_open(sm_client *c, const char *name, sm_list **lp);
SM_API int sm_list_new(sm_client *c, sm_list **lp);
SM_API int sm_list_attach(sm_client *c, const char *token, sm_list **lp);
SM_API const char *sm_list_token(const sm_list *l);
SM_API int sm_list_close(sm_list *l);

/* sm_list_append, _extend and _insert grow the list.
 * Returns: SM_OK, SM_ELIMIT (the list would pass the server's --max-items,
 *   or a value is longer than --max-value; nothing is added). */
SM_API int sm_list_append(sm_list *l, const sm_value *v);
/* sm_list_extend appends n values in one round trip, all or nothing. */
SM_API int sm_list_extend(sm_list *l, const sm_value *vals, size_t n);
/* sm_list_insert inserts before index (clamped to the ends, as Python). */
SM_API int sm_list_insert(sm_list *l, int64_t index, const sm_value *v);
/* sm_list_get copies l[index] into *out (owned). Returns: SM_OK, SM_ERANGE. */
SM_API int sm_list_get(sm_list *l, int64_t index, sm_value *out);
/* sm_list_set stores l[index] = v. Returns: SM_OK, SM_ERANGE, SM_ELIMIT (v
 * longer than --max-value). */
SM_API int sm_list_set(sm_list *l, int64_t index, const sm_value *v);
/* sm_list_pop removes l[index] (-1: the last) into *out (owned, may be NULL).
 * Returns: SM_OK, SM_ERANGE (also for an empty list). */
SM_API int sm_list_pop(sm_list *l, int64_t index, sm_value *out);
/* sm_list_remove removes the first item equal to v (sm_value_equal).
 * Returns: SM_OK, SM_ENOTFOUND. */
SM_API int sm_list_remove(sm_list *l, const sm_value *v);
/* sm_list_index sets *out to the first index in [start, stop) holding a
 * value equal to v (l.index(v, start, stop); SM_END for no stop).
 * Returns: SM_OK, SM_ENOTFOUND. */
SM_API int sm_list_index(sm_list *l, const sm_value *v, int64_t start, int64_t stop,
                         int64_t *out);
/* sm_list_count sets *out to the number of items equal to v. */
SM_API int sm_list_count(sm_list *l, const sm_value *v, size_t *out);
SM_API int sm_list_len(sm_list *l, size_t *out);
/* sm_list_slice copies l[start:stop] (Python's clamping; SM_END for the end).
 * Ownership: on SM_OK the caller frees *valsp with sm_values_free(*valsp, *np);
 *   NULL when *np == 0. */
SM_API int sm_list_slice(sm_list *l, int64_t start, int64_t stop, sm_value **valsp, size_t *np);
SM_API int sm_list_clear(sm_list *l);
/* sm_list_move pops an item from src and pushes it into the list or queue
 * whose token is dst_token (Redis's LMOVE), in one round trip and one step:
 * no client ever sees the item in neither container or in both, and on any
 * failure nothing moves. src_front takes src's first item, else its last
 * (Python's pop()); dst_front puts it first in a list destination, else
 * last. A queue destination takes it at its back (dst_front must be false)
 * and its first parked getter (an sm_queue_get, or an sm_queue_move waiting
 * on it) has it at once. dst_token may name src itself: a rotation. The
 * destination is checked before anything is taken: a move never waits for
 * room. A reference moved keeps its one count: the object it names stays
 * alive while either container holds it.
 * Blocks: one round trip, bounded by the client's call timeout.
 * Ownership: dst_token is read during the call only; on SM_OK *out (may be
 *   NULL) is the item, owned (sm_value_clear); on failure it is untouched.
 * Batches: in SM_BATCH_PIPELINE batches only (it writes two objects).
 * Returns: SM_OK, SM_ERANGE (src is empty), SM_EFULL (a bounded queue
 *   destination is full), SM_ELIMIT (the destination holds --max-items),
 *   SM_ENOOBJ (no such destination: gone, or a wrong nonce), SM_EWRONGTYPE
 *   (not a list or queue token, or the token's type is not the object's),
 *   SM_EINVAL (src NULL, dst_token NULL or not a token, dst_front into a
 *   queue). */
SM_API int sm_list_move(sm_list *src, bool src_front, const char *dst_token, bool dst_front,
                        sm_value *out);

/* --------------------------------------------------------------------- var */

/* A var holds one value: Python's multiprocessing Value. */
SM_API int sm_var_open(sm_client *c, const char *name, const sm_value *init, sm_var **vp);
SM_API int sm_var_new(sm_client *c, const sm_value *init, sm_var **vp);
SM_API int sm_var_attach(sm_client *c, const char *token, sm_var **vp);
SM_API const char *sm_var_token(const sm_var *v);
SM_API int sm_var_close(sm_var *v);

/* init may be NULL (SM_NIL) in open and new; open ignores it when the name
 * exists. sm_var_set, sm_var_cas and an init longer than the server's
 * --max-value are SM_ELIMIT (nothing stored). */
SM_API int sm_var_get(sm_var *v, sm_value *out);
SM_API int sm_var_set(sm_var *v, const sm_value *val);
/* sm_var_add atomically adds delta (SM_INT or SM_DOUBLE) and returns the new
 * value in *out (may be NULL). A SM_NIL var counts as 0.
 * Returns: SM_OK, SM_EBADVALUE, SM_EOVERFLOW. */
SM_API int sm_var_add(sm_var *v, const sm_value *delta, sm_value *out);
/* sm_var_cas stores desired if the var equals expected (sm_value_equal).
 * *swapped (may be NULL) says whether it did; *current (may be NULL; owned)
 * receives the value held after the call. */
SM_API int sm_var_cas(sm_var *v, const sm_value *expected, const sm_value *desired,
                      bool *swapped, sm_value *current);

/* ------------------------------------------------------------------- array */

/* A fixed-length numeric array: Python's multiprocessing Array. typecode is
 * one of b B h H i I l L q Q (integers of 1, 1, 2, 2, 4, 4, 8, 8, 8, 8 bytes,
 * signed in lower case) or f d (float, double). Elements travel as SM_INT
 * for the integer codes (L and Q hold 0 .. INT64_MAX through this API) and
 * SM_DOUBLE for f and d. A value that does not fit the typecode is
 * SM_EOVERFLOW and changes nothing. */

/* init: n initial elements, or NULL for n zeros. open ignores init when the
 * name exists, and answers SM_EWRONGTYPE if the existing array has another
 * typecode or length. n is 1 to 16777216. */
SM_API int sm_array_open(sm_client *c, const char *name, char typecode, const sm_value *init,
                         size_t n, sm_array **ap);
SM_API int sm_array_new(sm_client *c, char typecode, const sm_value *init, size_t n,
                        sm_array **ap);
SM_API int sm_array_attach(sm_client *c, const char *token, sm_array **ap);
SM_API const char *sm_array_token(const sm_array *a);
SM_API int sm_array_close(sm_array *a);

/* sm_array_typecode and sm_array_len need no round trip: an array's shape
 * never changes. */
SM_API char sm_array_typecode(const sm_array *a);
SM_API size_t sm_array_len(const sm_array *a);

SM_API int sm_array_get(sm_array *a, int64_t index, sm_value *out);
SM_API int sm_array_set(sm_array *a, int64_t index, const sm_value *v);
/* sm_array_get_slice copies a[start:stop]; free with sm_values_free. A
 * slice of more than 1,048,576 elements is SM_ELIMIT: read it in parts. */
SM_API int sm_array_get_slice(sm_array *a, int64_t start, int64_t stop, sm_value **valsp,
                              size_t *np);
/* sm_array_set_slice stores n values at start..start+n-1, all or nothing.
 * Returns: SM_OK, SM_ERANGE (the run does not fit), SM_EBADVALUE, SM_EOVERFLOW. */
SM_API int sm_array_set_slice(sm_array *a, int64_t start, const sm_value *vals, size_t n);
/* sm_array_add atomically adds delta to a[index]; *out (may be NULL) gets the
 * new element. */
SM_API int sm_array_add(sm_array *a, int64_t index, const sm_value *delta, sm_value *out);

/* --------------------------------------------------------------- namespace */

/* A namespace holds named attributes: Python's manager Namespace. Attribute
 * names are 1 to 255 bytes. */
SM_API int sm_ns_open(sm_client *c, const char *name, sm_ns **np);
SM_API int sm_ns_new(sm_client *c, sm_ns **np);
SM_API int sm_ns_attach(sm_client *c, const char *token, sm_ns **np);
SM_API const char *sm_ns_token(const sm_ns *ns);
SM_API int sm_ns_close(sm_ns *ns);

/* sm_ns_set: SM_ELIMIT for a new attribute past the server's --max-keys,
 * or v longer than --max-value. */
SM_API int sm_ns_set(sm_ns *ns, const char *attr, const sm_value *v);
/* sm_ns_get: SM_ENOKEY when the attribute is not set. */
SM_API int sm_ns_get(sm_ns *ns, const char *attr, sm_value *out);
SM_API int sm_ns_del(sm_ns *ns, const char *attr);
/* sm_ns_list returns the attribute names in the order they were first set;
 * free with sm_strings_free. */
SM_API int sm_ns_list(sm_ns *ns, char ***namesp, size_t *np);

/* ----------------------------------------------------------------- batches
 *
 * A batch sends many operations, on any objects of one client, in one
 * round trip (fewer, fuller round trips: see the README's Performance).
 *
 *   sm_batch *b;
 *   sm_batch_begin(c, SM_BATCH_ATOMIC, &b);
 *   sm_dict_incr(stock, "apples", &minus_one, &left);  // recorded: SM_OK
 *   sm_list_append(orders, &order);                    // recorded: SM_OK
 *   rv = sm_batch_exec(b);      // one round trip; fills in `left`
 *   sm_batch_free(b);
 *
 * sm_batch_begin starts recording on the calling thread. Until
 * sm_batch_exec or sm_batch_free, every call this thread makes on a proxy
 * of c that can be batched is checked and recorded, not sent: it returns
 * SM_OK at once (or the error its own checks find, and is not recorded),
 * and its outputs (out values, arrays, counts) are filled in by
 * sm_batch_exec, which must come before they are read and while they are
 * still in scope. Other threads, and calls on other clients, go on as usual.
 *
 * Batchable: sm_dict_get, _set, _del, _contains, _pop, _setdefault, _incr,
 * _clear, _keys, _values; sm_list_append, _insert, _get, _set, _pop, _remove,
 * _index, _slice, _clear; sm_var_get, _set, _add, _cas; sm_array_get, _set,
 * _add, _get_slice; sm_ns_get, _set, _del, _list; and in SM_BATCH_PIPELINE
 * batches only, sm_list_move and sm_queue_move with SM_NOWAIT. Any other
 * call on c (one that waits, opens or closes an object, or works on the
 * reply, such as sm_dict_len) returns SM_EINVAL while recording, except
 * sm_T_close, which always frees its proxy and so releases it at once.
 *
 * SM_BATCH_ATOMIC: the operations are applied in order with no other
 * client's operation between them, and if one fails none is applied:
 * every object is left as it was and no output is filled in
 * (Redis's MULTI/EXEC, with rollback). sm_batch_exec returns the failed
 * operation's status and sm_batch_failed() its index.
 * SM_BATCH_PIPELINE: applied in order, also with no other operation
 * between them, but each on its own: one that fails leaves the others
 * applied. sm_batch_status() gives each one's status; outputs are filled
 * in for those that succeeded; sm_batch_exec returns the first failure's
 * status (sm_batch_failed() its index), or SM_OK.
 *
 * A batch is one request: it is applied exactly once however the
 * connection fails, and a transport failure (SM_ENOREPLY, SM_ECLOSED,
 * SM_EUNREACHABLE) leaves its outcome unknown, as for any call. At most
 * 65,536 operations. Several threads may run batches on one client at
 * once; each keeps one request in flight. */
#define SM_BATCH_PIPELINE 0
#define SM_BATCH_ATOMIC 1
SM_API int sm_batch_begin(sm_client *c, int mode, sm_batch **bp);
/* sm_batch_exec ends recording and makes the round trip; once only, on the
 * thread that began the batch (from another: SM_EINVAL, nothing changes). */
SM_API int sm_batch_exec(sm_batch *b);
/* How many operations were recorded. */
SM_API size_t sm_batch_len(const sm_batch *b);
/* After sm_batch_exec: operation i's status (an atomic batch that failed:
 * the failed one's status for it, SM_ECANCELLED for every other). */
SM_API int sm_batch_status(const sm_batch *b, size_t i);
/* After sm_batch_exec: the index of the (first) failed operation, or -1. */
SM_API int64_t sm_batch_failed(const sm_batch *b);
/* sm_batch_free ends recording if it still runs and frees b; NULL is a
 * no-op. Call it on the thread that began the batch (once sent, any thread
 * may free it). */
SM_API void sm_batch_free(sm_batch *b);

/* ------------------------------------------------------ blocking objects
 *
 * Locks, semaphores, conditions, events, barriers and queues block in the
 * server, not in the client: a call that cannot proceed is held there and
 * answered when it may proceed or when its timeout_ms passes (SM_NOWAIT:
 * answer at once; SM_WAIT_FOREVER: no bound). Waiters are served first come
 * first served. The client's call deadline is added on top of timeout_ms,
 * so the transport never gives up before the operation does. A negative
 * timeout other than SM_WAIT_FOREVER is SM_EINVAL. A call that would have
 * to wait is SM_ELIMIT instead, answered at once with nothing done (no
 * lock released, no barrier broken), when its client already has the
 * server's --max-waits calls waiting; the blocking calls below can all
 * return it. These proxies have the same open/new/attach/token/close set
 * as the objects above.
 *
 * Ownership of a lock or rlock is per thread of a client: another thread of
 * the same process, or another process, is another owner. */

/* -------------------------------------------------------------------- lock */

SM_API int sm_lock_open(sm_client *c, const char *name, sm_lock **lp);
SM_API int sm_lock_new(sm_client *c, sm_lock **lp);
SM_API int sm_lock_attach(sm_client *c, const char *token, sm_lock **lp);
SM_API const char *sm_lock_token(const sm_lock *l);
SM_API int sm_lock_close(sm_lock *l);

/* sm_lock_acquire takes the lock, waiting up to timeout_ms.
 * Blocks: until acquired or timed out, in the server.
 * Returns: SM_OK, SM_EOWNERDEAD (acquired: success, but the previous holder's
 *   session ended while holding it, so what it protects may need repair),
 *   SM_ETIMEDOUT (not acquired; also for SM_NOWAIT on a held lock),
 *   SM_ELIMIT (it would wait, and the client has --max-waits waiting). A
 *   lock is not re-entrant: its holder waits like anyone else. */
SM_API int sm_lock_acquire(sm_lock *l, int64_t timeout_ms);
/* sm_lock_acquire_fenced is sm_lock_acquire that also sets *fence (on SM_OK
 * and SM_EOWNERDEAD) to the grant's fencing token: larger than any token
 * this lock granted before, so a resource outside the manager can refuse a
 * holder whose token is older than one it has seen. */
SM_API int sm_lock_acquire_fenced(sm_lock *l, int64_t timeout_ms, uint64_t *fence);
/* sm_lock_release: SM_OK, SM_ENOTOWNER (the caller does not hold it). */
SM_API int sm_lock_release(sm_lock *l);
/* sm_lock_locked sets *out to whether anyone holds the lock. */
SM_API int sm_lock_locked(sm_lock *l, bool *out);

/* ------------------------------------------------------------------- rlock */

/* A re-entrant lock: its owner may acquire it again, and must release it as
 * many times. */
SM_API int sm_rlock_open(sm_client *c, const char *name, sm_rlock **lp);
SM_API int sm_rlock_new(sm_client *c, sm_rlock **lp);
SM_API int sm_rlock_attach(sm_client *c, const char *token, sm_rlock **lp);
SM_API const char *sm_rlock_token(const sm_rlock *l);
SM_API int sm_rlock_close(sm_rlock *l);
/* Returns: SM_OK, SM_EOWNERDEAD, SM_ETIMEDOUT, SM_ELIMIT (--max-waits). A
 * nested acquire by the holder keeps the fencing token of the first. */
SM_API int sm_rlock_acquire(sm_rlock *l, int64_t timeout_ms);
SM_API int sm_rlock_acquire_fenced(sm_rlock *l, int64_t timeout_ms, uint64_t *fence);
/* Returns: SM_OK, SM_ENOTOWNER. */
SM_API int sm_rlock_release(sm_rlock *l);
SM_API int sm_rlock_locked(sm_rlock *l, bool *out);

/* --------------------------------------------------------------- semaphore */

/* value: the initial count (0 .. INT64_MAX). A bounded semaphore refuses a
 * release that would raise the count above value (SM_EOVERFLOW), as
 * Python's BoundedSemaphore. open ignores value and bounded when the name
 * exists. */
SM_API int sm_sem_open(sm_client *c, const char *name, int64_t value, bool bounded, sm_sem **sp);
SM_API int sm_sem_new(sm_client *c, int64_t value, bool bounded, sm_sem **sp);
SM_API int sm_sem_attach(sm_client *c, const char *token, sm_sem **sp);
SM_API const char *sm_sem_token(const sm_sem *s);
SM_API int sm_sem_close(sm_sem *s);
/* sm_sem_acquire takes one permit. Returns: SM_OK, SM_ETIMEDOUT, SM_ELIMIT
 * (--max-waits). */
SM_API int sm_sem_acquire(sm_sem *s, int64_t timeout_ms);
/* sm_sem_release gives back n permits (n >= 1), waking waiters in order.
 * Returns: SM_OK, SM_EINVAL, SM_EOVERFLOW (bounded, or past INT64_MAX;
 * nothing changes). */
SM_API int sm_sem_release(sm_sem *s, int64_t n);
/* sm_sem_value sets *out to the current count. */
SM_API int sm_sem_value(sm_sem *s, int64_t *out);

/* --------------------------------------------------------------- condition */

/* A condition is bound to a manager lock or rlock, given by its token
 * (lock_token NULL: a fresh anonymous rlock of its own). sm_cond_acquire
 * and sm_cond_release act on that lock. open ignores lock_token when the
 * name exists. */
SM_API int sm_cond_open(sm_client *c, const char *name, const char *lock_token, sm_cond **cp);
SM_API int sm_cond_new(sm_client *c, const char *lock_token, sm_cond **cp);
SM_API int sm_cond_attach(sm_client *c, const char *token, sm_cond **cp);
SM_API const char *sm_cond_token(const sm_cond *cv);
/* sm_cond_lock_token is the token of the bound lock (borrowed, valid while
 * cv is open): an "sm:lock:..." or "sm:rlock:..." token. */
SM_API const char *sm_cond_lock_token(const sm_cond *cv);
SM_API int sm_cond_close(sm_cond *cv);
SM_API int sm_cond_acquire(sm_cond *cv, int64_t timeout_ms);
SM_API int sm_cond_release(sm_cond *cv);
/* sm_cond_wait releases the lock (all levels of an rlock), waits for a
 * notify or the timeout, and holds the lock again before it returns, also
 * on timeout. *notified (may be NULL) is false when the timeout passed.
 * Returns: SM_OK (the lock is held again), SM_EOWNERDEAD (held again, and
 * a holder meanwhile died holding it), SM_ENOTOWNER (the caller did not hold
 * the lock; nothing happened), SM_ELIMIT (--max-waits; the lock is still
 * held, nothing happened). */
SM_API int sm_cond_wait(sm_cond *cv, int64_t timeout_ms, bool *notified);
/* sm_cond_notify wakes up to n waiters (n >= 1), the longest waiting first;
 * sm_cond_notify_all wakes them all. The caller must hold the lock.
 * Returns: SM_OK, SM_ENOTOWNER, SM_EINVAL. */
SM_API int sm_cond_notify(sm_cond *cv, int64_t n);
SM_API int sm_cond_notify_all(sm_cond *cv);

/* ------------------------------------------------------------------- event */

SM_API int sm_event_open(sm_client *c, const char *name, sm_event **ep);
SM_API int sm_event_new(sm_client *c, sm_event **ep);
SM_API int sm_event_attach(sm_client *c, const char *token, sm_event **ep);
SM_API const char *sm_event_token(const sm_event *e);
SM_API int sm_event_close(sm_event *e);
SM_API int sm_event_set(sm_event *e);
SM_API int sm_event_clear(sm_event *e);
SM_API int sm_event_is_set(sm_event *e, bool *out);
/* sm_event_wait waits until the event is set or timeout_ms passes; *was_set
 * (may be NULL) says which. Returns: SM_OK, SM_ELIMIT (--max-waits). */
SM_API int sm_event_wait(sm_event *e, int64_t timeout_ms, bool *was_set);

/* ----------------------------------------------------------------- barrier */

/* parties: 1 .. 65536; open ignores it when the name exists. */
SM_API int sm_barrier_open(sm_client *c, const char *name, int64_t parties, sm_barrier **bp);
SM_API int sm_barrier_new(sm_client *c, int64_t parties, sm_barrier **bp);
SM_API int sm_barrier_attach(sm_client *c, const char *token, sm_barrier **bp);
SM_API const char *sm_barrier_token(const sm_barrier *b);
SM_API int sm_barrier_close(sm_barrier *b);
/* sm_barrier_wait waits until parties callers are waiting, then releases
 * them all; *index (may be NULL) is the caller's arrival order,
 * 0 .. parties-1. A wait that times out breaks the barrier for everyone,
 * as in Python. Returns: SM_OK, SM_EBROKEN (broken before or while
 * waiting, including by this caller's own timeout), SM_ELIMIT (--max-waits;
 * the barrier is not broken). */
SM_API int sm_barrier_wait(sm_barrier *b, int64_t timeout_ms, int64_t *index);
/* sm_barrier_abort breaks the barrier: waiters get SM_EBROKEN. */
SM_API int sm_barrier_abort(sm_barrier *b);
/* sm_barrier_reset makes it whole and empty; waiters get SM_EBROKEN. */
SM_API int sm_barrier_reset(sm_barrier *b);
/* sm_barrier_info reads parties, the number waiting and broken; any output
 * may be NULL. */
SM_API int sm_barrier_info(sm_barrier *b, int64_t *parties, int64_t *n_waiting, bool *broken);

/* ------------------------------------------------------------------- queue */

/* A FIFO queue of values. maxsize 0 is unbounded; put blocks while a
 * bounded queue is full. A joinable queue counts unfinished items: put
 * adds one, task_done removes one, join waits for none. open ignores
 * maxsize and joinable when the name exists. */
SM_API int sm_queue_open(sm_client *c, const char *name, int64_t maxsize, bool joinable,
                         sm_queue **qp);
SM_API int sm_queue_new(sm_client *c, int64_t maxsize, bool joinable, sm_queue **qp);
SM_API int sm_queue_attach(sm_client *c, const char *token, sm_queue **qp);
SM_API const char *sm_queue_token(const sm_queue *q);
SM_API int sm_queue_close(sm_queue *q);
/* sm_queue_put appends v, waiting up to timeout_ms for room.
 * Returns: SM_OK, SM_EFULL (no room in time; also SM_NOWAIT on a full
 * queue), SM_EINVAL, SM_ELIMIT (the queue holds the server's --max-items
 * items: refused at once, never waiting; v longer than --max-value; or a
 * full bounded queue and --max-waits). */
SM_API int sm_queue_put(sm_queue *q, const sm_value *v, int64_t timeout_ms);
/* sm_queue_get takes the oldest item into *out (owned), waiting up to
 * timeout_ms for one. Returns: SM_OK, SM_EEMPTY (none in time), SM_ELIMIT
 * (--max-waits). */
SM_API int sm_queue_get(sm_queue *q, int64_t timeout_ms, sm_value *out);
/* sm_queue_move takes src's oldest item and pushes it into the list or
 * queue whose token is dst_token (Redis's BLMOVE), in one round trip and one
 * step, as sm_list_move does (dst_front: first in a list destination; a
 * queue takes it at its back). dst_token may name src: a rotation, which a
 * full bounded queue allows too.
 * Blocks: the destination is checked first, and a failure there is
 *   answered at once, even when src is empty. An empty src is then waited
 *   on for up to timeout_ms (SM_NOWAIT: not at all; SM_WAIT_FOREVER), in
 *   the server, in turn with src's sm_queue_get callers. When an item
 *   arrives, the destination is checked again: if it can take the item
 *   now, the move completes; if not (a bounded queue that has filled up
 *   meanwhile, the --max-items limit, a destination since freed), the call
 *   returns that failure and the item stays in src for its next getter.
 *   Transport deadline: timeout_ms plus the client's call timeout.
 * Joinable src: a move counts as a get: the item stays unfinished until
 *   someone calls sm_queue_task_done(src). Unlike a get, the item is not
 *   held by the caller's session: it is in its destination, so if the
 *   caller's client ends before the task_done, nothing returns to src and
 *   the unfinished count stays as it was. Into a joinable queue a move
 *   counts as a put.
 * Ownership: as sm_list_move.
 * Batches: with timeout_ms SM_NOWAIT, in SM_BATCH_PIPELINE batches; any
 *   other timeout_ms is SM_EINVAL while recording.
 * Returns: SM_OK, SM_EEMPTY (src empty at the end of timeout_ms, or at once
 *   with SM_NOWAIT; as sm_queue_get), SM_ELIMIT (also: --max-waits), the
 *   failures of sm_list_move, SM_EINVAL (also: a negative timeout_ms other
 *   than SM_WAIT_FOREVER). */
SM_API int sm_queue_move(sm_queue *src, const char *dst_token, bool dst_front,
                         int64_t timeout_ms, sm_value *out);
/* sm_queue_info reads the size, maxsize (0: unbounded) and the unfinished
 * count (joinable; 0 otherwise); any output may be NULL. empty is size == 0,
 * full is maxsize > 0 && size >= maxsize. */
SM_API int sm_queue_info(sm_queue *q, int64_t *size, int64_t *maxsize, int64_t *unfinished);
/* sm_queue_task_done marks one item taken with get (or moved out with
 * sm_queue_move) as processed.
 * Returns: SM_OK, SM_EINVAL (not joinable, or more calls than puts). */
SM_API int sm_queue_task_done(sm_queue *q);
/* sm_queue_join waits until every item put has been marked done.
 * Returns: SM_OK, SM_ETIMEDOUT, SM_EINVAL (not joinable), SM_ELIMIT
 * (--max-waits). */
SM_API int sm_queue_join(sm_queue *q, int64_t timeout_ms);

/* -------------------------------------------------------------------- pool
 *
 * Python's Pool, across machines. C functions cannot travel, so tasks are
 * registered by NAME in worker processes (sm_worker, or the ready-made
 * runner syncmgr-worker loading them from a shared library), and inputs
 * and outputs travel as bytes. A pool is a named object on a manager;
 * several pools may share one manager, and any client may submit to it.
 *
 * Delivery: a task is leased to one worker until that worker reports it.
 * If the worker's session ends first (kill -9, host gone, lease lapsed),
 * the task goes back to the front of the queue and another worker runs it.
 * A task that was running alone on a worker that died is charged with the
 * death; one charged max_kills times (default 3) fails with SM_EKILLED
 * instead of being retried forever. A chunk of several inputs that was
 * running alone is split into single inputs, each carrying the charge, so
 * one crashing input fails only itself, after max_kills deaths in all.
 * Tasks leased together with others when their worker died are not charged
 * but are leased one at a time from then on. A task may thus RUN more than once
 * (a worker that dies after finishing it but before reporting), but its
 * result is delivered exactly once.
 *
 * The submitter's session owns its tasks' results: when it ends, its
 * queued tasks are cancelled and its results dropped. */

/* A borrowed byte string: an input argument. */
typedef struct sm_bytes {
    const void *data;
    size_t len;
} sm_bytes;

/* One input's argument list (Python's starmap): argc arguments. */
typedef struct sm_args {
    const sm_bytes *argv;
    int argc; /* 0 .. 255 */
} sm_args;

/* One input's outcome, owned by the caller (release with
 * sm_result_clear). status SM_OK: data/len is the task's output. Any other
 * status: data is a NUL-terminated message (len excludes the NUL):
 *   SM_ETASK       the task function failed; its message, e.g.
 *                  "square: not a number"
 *   SM_EKILLED     it killed its worker max_kills times
 *   SM_ETIMEDOUT   it ran past its timeout_ms on a worker
 *   SM_ECANCELLED  it was cancelled before it started
 * data is never NULL on a filled result (an empty output is ""). */
typedef struct sm_result {
    int status;
    void *data;
    size_t len;
} sm_result;
SM_API void sm_result_clear(sm_result *r);
SM_API void sm_results_clear(sm_result *r, size_t n);

/* Map progress, as the map's callback sees it. */
typedef struct sm_progress {
    size_t done;   /* inputs with an outcome, failed ones included */
    size_t failed; /* inputs whose outcome is not SM_OK */
    size_t total;
} sm_progress;

typedef struct sm_map_opts {
    size_t size;        /* sizeof(sm_map_opts) */
    size_t chunksize;   /* inputs per task; 0: as Python, ceil(n / (4 x workers)), at most 256 */
    int64_t timeout_ms; /* longest a task may run on a worker; 0: no limit */
    int max_kills;      /* worker deaths before a task fails; 0: 3 */
    /* Called on the calling thread as outcomes arrive (map, starmap,
     * imap's next); NULL for none. */
    void (*progress)(void *arg, const sm_progress *p);
    void *progress_arg;
} sm_map_opts;
#define SM_MAP_OPTS_INIT {sizeof(sm_map_opts), 0, 0, 0, NULL, NULL}

/* The states of a task. */
typedef enum sm_task_state {
    SM_TASK_UNKNOWN = 0,   /* no such task, or its result was collected */
    SM_TASK_QUEUED = 1,
    SM_TASK_RUNNING = 2,
    SM_TASK_DONE = 3,      /* finished; every input SM_OK */
    SM_TASK_FAILED = 4,    /* finished; some input failed (ETASK, EKILLED, ETIMEDOUT) */
    SM_TASK_CANCELLED = 5,
} sm_task_state;
/* sm_task_state_name: "queued", ...; static, never NULL. */
SM_API const char *sm_task_state_name(int state);

typedef struct sm_pool_info {
    uint64_t queued, running;
    uint64_t done, failed, cancelled; /* tasks finished so, since the pool was made */
    uint64_t workers;                 /* worker sessions alive in the pool */
    uint64_t results;                 /* finished, not yet collected by their submitter */
    uint64_t requeued;                /* put back in the queue after their worker died */
} sm_pool_info;

/* sm_pool_open gets or creates the pool named name (1..255 bytes). */
SM_API int sm_pool_open(sm_client *c, const char *name, sm_pool **pp);
/* sm_pool_close frees the handle. Free its futures and iterators first
 * (each cancels its own tasks that are still queued). Returns: SM_OK. */
SM_API int sm_pool_close(sm_pool *p);

/* sm_pool_map runs task on each of the n inputs (one argument each) and
 * waits for every outcome; results[i] (n of them, caller-allocated, owned
 * after the call) is input i's outcome, whatever the status.
 * Blocks: until every input has an outcome; tasks wait for workers for as
 *   long as it takes (use imap with a timeout to bound the wait).
 * Returns: SM_OK (every input SM_OK); the status of the first failed
 *   input, with sm_errdetail() "input 7 of 10: <message>"; SM_EINVAL;
 *   SM_ENOTFOUND (workers are in the pool and none has the task; with no
 *   worker at all the tasks wait for one); SM_ELIMIT (the pool's queued
 *   tasks would pass the server's --max-items, or an input is longer than
 *   --max-value: none of its tasks stays queued); or a transport status,
 *   after which the results are not filled (every result is cleared). */
SM_API int sm_pool_map(sm_pool *p, const char *task, const sm_bytes *inputs, size_t n,
                       sm_result *results, const sm_map_opts *opts);
/* sm_pool_starmap is sm_pool_map with an argument list per input. */
SM_API int sm_pool_starmap(sm_pool *p, const char *task, const sm_args *inputs, size_t n,
                           sm_result *results, const sm_map_opts *opts);

/* sm_pool_imap submits every input at once and returns an iterator giving
 * outcomes in input order; sm_pool_imap_unordered gives them as they
 * finish. The inputs are copied. Returns: SM_OK, SM_EINVAL, SM_ENOTFOUND,
 * SM_ELIMIT (as sm_pool_map; nothing stays queued). */
SM_API int sm_pool_imap(sm_pool *p, const char *task, const sm_bytes *inputs, size_t n,
                        const sm_map_opts *opts, sm_imap **itp);
SM_API int sm_pool_imap_unordered(sm_pool *p, const char *task, const sm_bytes *inputs,
                                  size_t n, const sm_map_opts *opts, sm_imap **itp);
/* sm_imap_next waits up to timeout_ms for the next outcome: *index (may be
 * NULL) is its input's index, *r (owned) its outcome.
 * Returns: SM_OK (look at r->status for the task's outcome), SM_EEND
 *   (every outcome was given), SM_ETIMEDOUT (none in time; call again),
 *   SM_ELIMIT (it would wait, and the client has --max-waits waiting), or a
 *   transport status. */
SM_API int sm_imap_next(sm_imap *it, int64_t timeout_ms, size_t *index, sm_result *r);
/* sm_imap_free cancels the iterator's queued tasks and drops outcomes not
 * yet taken. */
SM_API void sm_imap_free(sm_imap *it);

/* sm_pool_apply runs task once with argc arguments and waits for it; *r
 * (owned) is the outcome. Returns: r->status, or a transport status (then
 * *r is untouched). */
SM_API int sm_pool_apply(sm_pool *p, const char *task, const sm_bytes *argv, int argc,
                         const sm_map_opts *opts, sm_result *r);
/* sm_pool_apply_async submits it and returns at once with a future.
 * Returns: SM_OK, SM_EINVAL, SM_ENOTFOUND, SM_ELIMIT (as sm_pool_map). */
SM_API int sm_pool_apply_async(sm_pool *p, const char *task, const sm_bytes *argv, int argc,
                               const sm_map_opts *opts, sm_future **fp);
/* sm_future_wait waits up to timeout_ms for the outcome.
 * Returns: SM_OK (it has an outcome), SM_ETIMEDOUT, SM_ELIMIT (--max-waits),
 * transport statuses. */
SM_API int sm_future_wait(sm_future *f, int64_t timeout_ms);
/* sm_future_ready: *ready says whether the outcome is in (one round trip
 * unless it already is). */
SM_API int sm_future_ready(sm_future *f, bool *ready);
/* sm_future_get waits as sm_future_wait, then copies the outcome into *r
 * (owned). Returns: r->status (SM_ETASK: the worker's message is in
 * r->data and sm_errdetail()), SM_ETIMEDOUT (no outcome yet; *r untouched). */
SM_API int sm_future_get(sm_future *f, int64_t timeout_ms, sm_result *r);
/* sm_future_cancel cancels the task if it has not started: *cancelled
 * (may be NULL) says whether it was; its outcome is then SM_ECANCELLED. */
SM_API int sm_future_cancel(sm_future *f, bool *cancelled);
/* sm_future_state reads the task's state (a round trip unless the outcome
 * is in). */
SM_API int sm_future_state(sm_future *f, sm_task_state *state);
/* sm_future_id is the task's id, for sm_pool_task_state from any client. */
SM_API uint64_t sm_future_id(const sm_future *f);
/* sm_future_free drops the future; a queued task is cancelled. */
SM_API void sm_future_free(sm_future *f);

/* sm_pool_task_state reads any task's state by id (SM_TASK_UNKNOWN once
 * its result has been collected). */
SM_API int sm_pool_task_state(sm_pool *p, uint64_t id, sm_task_state *state);
/* sm_pool_status reads the pool's counters (any client). */
SM_API int sm_pool_status(sm_pool *p, sm_pool_info *info);

/* ---- the worker side */

/* A task function: argv[0..argc) are the input's arguments, borrowed for
 * the call. It returns SM_OK with its output set by sm_task_return (none:
 * an empty output), or a failure, normally `return sm_task_error(t, ...)`.
 * It runs on the thread that called sm_worker_run; sm_task_client gives it
 * the worker's client for shared objects (dicts, counters, ...). */
typedef int (*sm_task_fn)(sm_task *t, int argc, const sm_bytes *argv, void *arg);

/* sm_task_return sets the output (copied). Returns: SM_OK, SM_ENOMEM. */
SM_API int sm_task_return(sm_task *t, const void *data, size_t len);
/* sm_task_error sets the failure message (printf format, at most 4 KiB)
 * and returns SM_ETASK, for `return sm_task_error(t, "...", ...)`. */
SM_API int sm_task_error(sm_task *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
SM_API sm_client *sm_task_client(const sm_task *t);
SM_API uint64_t sm_task_id(const sm_task *t);

typedef struct sm_worker_opts {
    size_t size;       /* sizeof(sm_worker_opts) */
    /* tasks leased per round trip (results go back on the next); default 1:
     * a task that kills its worker is then charged at its first death, and
     * finished work is never run twice. For short tasks use 16 or more
     * (see the README's pool figures): the server never leases a worker
     * more than its share, the queued tasks divided by the workers (at
     * least 1), so a deep prefetch does not leave other workers idle at the
     * end of a map. */
    int prefetch;
    int64_t max_tasks; /* return after this many tasks; 0: until sm_worker_stop */
    /* true: a task that runs 1 s past its timeout_ms ends the process
     * (_exit(3)), so that its supervisor (syncmgr-worker) starts a fresh
     * one; the server has already failed the task with SM_ETIMEDOUT. */
    bool exit_on_overrun;
} sm_worker_opts;
#define SM_WORKER_OPTS_INIT {sizeof(sm_worker_opts), 1, 0, false}

/* sm_worker_new makes a worker for pool `pool` on c (c must outlive it). */
SM_API int sm_worker_new(sm_client *c, const char *pool, sm_worker **wp);
/* sm_worker_register adds task name (1..255 bytes) -> fn; before run.
 * Returns: SM_OK, SM_EINVAL (bad or duplicate name, run already called). */
SM_API int sm_worker_register(sm_worker *w, const char *name, sm_task_fn fn, void *arg);
/* sm_worker_run joins the pool and runs tasks until sm_worker_stop or
 * max_tasks; then it reports what it finished and returns. Call it from one
 * thread at a time.
 * Returns: SM_OK; SM_EINVAL (no task registered, bad opts); or the
 * transport status that ended it (the tasks it held go back to the queue
 * when its session ends). */
SM_API int sm_worker_run(sm_worker *w, const sm_worker_opts *opts);
/* sm_worker_stop, from any thread: run returns after the task in hand.
 * Not async-signal-safe (call it from a thread that waits for signals). */
SM_API int sm_worker_stop(sm_worker *w);
/* sm_worker_free leaves the pool (leases not reported go back to the
 * queue, uncharged) and frees w. */
SM_API void sm_worker_free(sm_worker *w);

/* A shared library for syncmgr-worker exports
 *     int sm_tasks_init(sm_worker *w);
 * which registers its tasks and returns SM_OK. */
#define SM_TASKS_INIT_SYMBOL "sm_tasks_init"

#ifdef __cplusplus
}
#endif
#endif /* SYNCMGR_H */
