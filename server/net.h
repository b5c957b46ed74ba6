/* net.h - syncmgrd's network layer: one nng REP socket, its listeners and
 * a set of contexts feeding srv_handle_into(). */
#ifndef NET_H
#define NET_H

#include <stddef.h>
#include <stdio.h>

#include "srv.h"

typedef struct srv_net srv_net;

typedef struct net_opts {
    const char **urls;
    size_t nurls;
    size_t max_msg; /* bytes; a larger request drops its connection */
    int nctx;       /* contexts kept receiving */
    /* tls+tcp:// listeners: our certificate and key; with ca, clients must
     * show a certificate it signed. */
    const char *tls_cert, *tls_key, *tls_ca;
} net_opts;

/* net_start opens the socket, starts every listener and the receiving
 * contexts. On success *np is live and ready_out (may be NULL) has received
 * one line per listener with the URL it really listens on (a tcp port 0
 * resolved). Returns SM_OK or an SM_ status (the log says why). */
int net_start(srv_net **np, srv_state *st, const net_opts *o, FILE *ready_out);

/* net_stop closes the socket, waits for every callback and frees all. */
void net_stop(srv_net *n);

#endif
