/* http.h - syncmgrd --http ADDR: the live status page and /status.json
 * (server/http.c). */
#ifndef HTTP_H
#define HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "srv.h"

typedef struct srv_http srv_http;

/* http_parse_addr checks --http's ADDR, "HOST:PORT" or ":PORT" (then the
 * host is 127.0.0.1), and writes the server's URL ("http://HOST:PORT")
 * into url. A host that is not loopback (127.0.0.0/8, [::1], localhost)
 * is refused unless public_ok (--http-public). Returns true, or false with
 * one line saying why in err. */
bool http_parse_addr(const char *addr, bool public_ok, char *url, size_t urlsize, char *err,
                     size_t errlen);

/* http_start serves the page (GET /) and the status as JSON (GET
 * /status.json) at url (from http_parse_addr) for st. public_ok: any Host
 * header is answered; otherwise only loopback ones (a page on a loopback
 * port is not readable through a name that resolves elsewhere). On success
 * *hp is live and bound holds the URL really served (a port 0 resolved).
 * Returns SM_OK, or SM_EINTERNAL (logged). */
int http_start(srv_http **hp, srv_state *st, const char *url, bool public_ok, char *bound,
               size_t boundsize);

/* http_stop stops serving and frees h; no handler runs once it returns.
 * NULL is a no-op. */
void http_stop(srv_http *h);

#endif
