/* http.c - syncmgrd --http ADDR: a live status page over nng's HTTP server.
 *
 * Two resources, GET only:
 *   /             the page (server/status.html, embedded at build time: one
 *                 self-contained file, no external URL), which fetches
 *                 /status.json every second and redraws itself;
 *   /status.json  the whole SERVER_STATUS (every section, anonymous objects
 *                 too, the first STATUS_DEFAULT_OBJECTS objects) as JSON,
 *                 rendered from the protobuf-c descriptors by pbjson.h:
 *                 field names as in smwire.proto, 64-bit numbers as
 *                 strings, enums by name.
 * The status is built and packed under st->lock, as a request's reply is;
 * the copy is unpacked, rendered and sent outside it.
 *
 * What it shows holds no values (no keys' contents, no items, no task
 * inputs or outputs, no tokens or nonces): names, types, sizes, counts,
 * sessions' ids and peer addresses, lock holders, pool progress, rates.
 * It has no authentication of its own: ADDR defaults to loopback and a
 * non-loopback host needs --http-public (main.c). Off --http-public, only
 * requests whose Host header names a loopback address are answered, so a
 * web page elsewhere cannot read the status through a DNS name rebound to
 * 127.0.0.1.
 * Exported: http_parse_addr, http_start, http_stop. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "http.h"
#include "pbjson.h"

#ifndef SM_STATUS_PAGE
#error "SM_STATUS_PAGE must name server/status.html"
#endif

/* The page, embedded by the assembler from SM_STATUS_PAGE (CMake rebuilds
 * this file when the page changes). */
__asm__(".pushsection .rodata\n"
        ".balign 16\n"
        "http_page_start:\n"
        ".incbin \"" SM_STATUS_PAGE "\"\n"
        "http_page_end:\n"
        ".popsection\n");
extern const char http_page_start[] __attribute__((visibility("hidden")));
extern const char http_page_end[] __attribute__((visibility("hidden")));

struct srv_http {
    srv_state *st;
    nng_http_server *server;
    bool public_ok;
};

/* ------------------------------------------------------------- addresses */

/* http_loopback_host: 127.0.0.0/8, ::1 (bracketed or not) or localhost. */
static bool
http_loopback_host(const char *host, size_t n)
{
    char buf[64];
    struct in_addr a4;
    struct in6_addr a6;
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, host, n);
    buf[n] = '\0';
    if (strcasecmp(buf, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, buf, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, buf, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

bool
http_parse_addr(const char *addr, bool public_ok, char *url, size_t urlsize, char *err,
                size_t errlen)
{
    const char *colon = strrchr(addr, ':');
    const char *host = addr;
    size_t hlen = colon != NULL ? (size_t)(colon - addr) : 0;
    char *end;

    if (colon == NULL || colon[1] == '\0') {
        snprintf(err, errlen, "--http wants HOST:PORT or :PORT, not '%.100s'", addr);
        return false;
    }
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] == '-' || colon[1] == '+' || port > 65535) {
        snprintf(err, errlen, "--http: '%.100s' is not a port (0 to 65535)", colon + 1);
        return false;
    }
    if (hlen == 0) {
        host = "127.0.0.1"; /* loopback unless told */
        hlen = strlen(host);
    }
    bool v6 = host[0] == '[';
    if ((v6 && host[hlen - 1] != ']') || (!v6 && memchr(host, ':', hlen) != NULL) ||
        strcspn(host, "/?#@ ") < hlen || hlen > 255) {
        snprintf(err, errlen,
                 "--http: '%.*s' is not a host (an IPv6 address goes in brackets: [::1]:8080)",
                 (int)(hlen > 100 ? 100 : hlen), host);
        return false;
    }
    if (!public_ok && !http_loopback_host(host, hlen)) {
        snprintf(err, errlen,
                 "refusing --http %.100s: the status page has no password and shows object "
                 "names, sessions and their addresses to anyone who reaches it. Serve it on "
                 "loopback (:PORT), or add --http-public",
                 addr);
        return false;
    }
    if ((size_t)snprintf(url, urlsize, "http://%.*s:%lu", (int)hlen, host, port) >= urlsize) {
        snprintf(err, errlen, "--http: address too long");
        return false;
    }
    return true;
}

/* -------------------------------------------------------------- handlers */

/* http_host_ok says whether to answer req: always with --http-public,
 * else only a loopback Host header (or none). */
static bool
http_host_ok(const srv_http *h, nng_http_req *req)
{
    if (h->public_ok)
        return true;
    const char *host = nng_http_req_get_header(req, "Host");
    if (host == NULL)
        return true;
    size_t n = strlen(host);
    const char *colon = strrchr(host, ':');
    if (colon != NULL && (host[0] != '[' || colon > strchr(host, ']')))
        n = (size_t)(colon - host);
    return http_loopback_host(host, n);
}

/* http_reply finishes aio with a response: status, and a body of len bytes
 * that nng copies (copy) or that outlives the response (the page). */
static void
http_reply(nng_aio *aio, uint16_t status, const char *type, const void *body, size_t len,
           bool copy)
{
    nng_http_res *res;
    int rv = status == 200 ? nng_http_res_alloc(&res) : nng_http_res_alloc_error(&res, status);
    if (rv != 0) {
        nng_aio_finish(aio, rv);
        return;
    }
    if (status == 200) {
        if ((rv = nng_http_res_set_header(res, "Content-Type", type)) == 0)
            rv = copy ? nng_http_res_copy_data(res, body, len)
                      : nng_http_res_set_data(res, body, len);
        if (rv != 0) {
            nng_http_res_free(res);
            nng_aio_finish(aio, rv);
            return;
        }
    }
    nng_http_res_set_header(res, "Cache-Control", "no-store");
    nng_http_res_set_header(res, "X-Content-Type-Options", "nosniff");
    nng_http_res_set_header(res, "Referrer-Policy", "no-referrer");
    nng_http_res_set_header(res, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; "
                            "style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; "
                            "form-action 'none'; frame-ancestors 'none'");
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

/* GET / -> the page */
static void
http_page(nng_aio *aio)
{
    nng_http_req *req = nng_aio_get_input(aio, 0);
    const srv_http *h = nng_http_handler_get_data(nng_aio_get_input(aio, 1));
    if (!http_host_ok(h, req)) {
        http_reply(aio, 403, NULL, NULL, 0, false);
        return;
    }
    http_reply(aio, 200, "text/html; charset=utf-8", http_page_start,
               (size_t)(http_page_end - http_page_start), false);
}

/* http_status_bytes packs the whole status, under st->lock; NULL when out
 * of memory (logged). */
static uint8_t *
http_status_bytes(srv_state *st, size_t *lenp)
{
    srv_call call;
    Smwire__ServerStatus *ss = NULL;
    uint8_t *buf = NULL;
    pthread_mutex_lock(&st->lock);
    call_scratch(&call, st);
    int rv = srv_status_fill(&call, NULL, &ss);
    if (rv == SM_OK) {
        *lenp = smwire__server_status__get_packed_size(ss);
        buf = malloc(*lenp ? *lenp : 1);
        if (buf != NULL)
            smwire__server_status__pack(ss, buf);
    }
    pthread_mutex_unlock(&st->lock);
    call_scratch_free(&call);
    if (buf == NULL)
        srv_log(SRV_LOG_WARN, "status page: no status (status %d)", rv == SM_OK ? SM_ENOMEM : rv);
    return buf;
}

/* GET /status.json -> the status as JSON */
static void
http_json(nng_aio *aio)
{
    nng_http_req *req = nng_aio_get_input(aio, 0);
    const srv_http *h = nng_http_handler_get_data(nng_aio_get_input(aio, 1));
    if (!http_host_ok(h, req)) {
        http_reply(aio, 403, NULL, NULL, 0, false);
        return;
    }
    size_t len = 0, jlen = 0;
    uint8_t *buf = http_status_bytes(h->st, &len);
    Smwire__ServerStatus *ss = buf != NULL ? smwire__server_status__unpack(NULL, len, buf) : NULL;
    char *json = ss != NULL ? pbjson_render(&ss->base, &jlen) : NULL;
    if (json != NULL)
        http_reply(aio, 200, "application/json", json, jlen, true);
    else
        http_reply(aio, 500, NULL, NULL, 0, false);
    free(json);
    if (ss != NULL)
        smwire__server_status__free_unpacked(ss, NULL);
    free(buf);
}

/* ----------------------------------------------------------- start, stop */

static int
http_add(srv_http *h, const char *path, void (*fn)(nng_aio *))
{
    nng_http_handler *hd;
    int rv = nng_http_handler_alloc(&hd, path, fn);
    if (rv != 0)
        return rv;
    if ((rv = nng_http_handler_set_data(hd, h, NULL)) != 0 ||
        (rv = nng_http_server_add_handler(h->server, hd)) != 0)
        nng_http_handler_free(hd); /* once added, the server owns it */
    return rv;
}

int
http_start(srv_http **hp, srv_state *st, const char *url, bool public_ok, char *bound,
           size_t boundsize)
{
    nng_url *u = NULL;
    srv_http *h = calloc(1, sizeof(*h));
    int rv;
    if (h == NULL)
        return SM_ENOMEM;
    h->st = st;
    h->public_ok = public_ok;
    if ((rv = nng_url_parse(&u, url)) != 0 || (rv = nng_http_server_hold(&h->server, u)) != 0) {
        srv_log(SRV_LOG_WARN, "--http %s: %s", url, nng_strerror(rv));
        nng_url_free(u);
        free(h);
        return SM_EINTERNAL;
    }
    nng_url_free(u);
    if ((rv = http_add(h, "/", http_page)) != 0 ||
        (rv = http_add(h, "/status.json", http_json)) != 0 ||
        (rv = nng_http_server_start(h->server)) != 0) {
        srv_log(SRV_LOG_WARN, "--http %s: %s", url, nng_strerror(rv));
        nng_http_server_release(h->server);
        free(h);
        return SM_EINTERNAL;
    }
    nng_sockaddr sa;
    char ip[INET6_ADDRSTRLEN];
    snprintf(bound, boundsize, "%s", url);
    if (nng_http_server_get_addr(h->server, &sa) == 0) {
        if (sa.s_family == NNG_AF_INET) {
            inet_ntop(AF_INET, &sa.s_in.sa_addr, ip, sizeof(ip));
            snprintf(bound, boundsize, "http://%s:%u", ip, ntohs(sa.s_in.sa_port));
        } else if (sa.s_family == NNG_AF_INET6) {
            inet_ntop(AF_INET6, sa.s_in6.sa_addr, ip, sizeof(ip));
            snprintf(bound, boundsize, "http://[%s]:%u", ip, ntohs(sa.s_in6.sa_port));
        }
    }
    *hp = h;
    return SM_OK;
}

void
http_stop(srv_http *h)
{
    if (h == NULL)
        return;
    nng_http_server_stop(h->server);
    nng_http_server_release(h->server); /* frees the handlers */
    free(h);
}
