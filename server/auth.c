/* auth.c - syncmgrd's side of the authkey handshake (proxy/auth.h has the
 * protocol): challenges, the SESSION_OPEN check and every request's MAC.
 *
 * A challenge lives SRV_AUTH_TTL_MS and is used at most once: a recorded
 * SESSION_OPEN played again finds no challenge and fails. Challenges are
 * kept in a fixed ring, so a flood of AUTH_HELLOs costs no memory. To push
 * an honest client's challenge out, a flood would have to send the whole
 * ring (1,024 hellos) between that client's two round trips, some 100 µs
 * here, where nng serves about 30,000 requests a second; if it ever did,
 * that sm_client_open fails with SM_EAUTH and can simply be called again.
 * A failure says "authentication failed" and nothing else.
 * Exported: srv_auth_set_key, srv_auth_fini, srv_auth_hello, srv_auth_open,
 * srv_auth_request. */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "srv.h"

#define SRV_AUTH_PENDING 1024
#define SRV_AUTH_TTL_MS 10000

struct srv_challenge {
    uint8_t snonce[SMAUTH_NONCE];
    uint8_t cnonce[SMAUTH_NONCE];
    int64_t expires; /* 0: free */
};

int
srv_auth_set_key(srv_state *st, const uint8_t *key, size_t len)
{
    srv_auth_fini(st);
    st->auth.key = malloc(len);
    st->auth.pending = calloc(SRV_AUTH_PENDING, sizeof(*st->auth.pending));
    if (st->auth.key == NULL || st->auth.pending == NULL) {
        srv_auth_fini(st);
        return SM_ENOMEM;
    }
    memcpy(st->auth.key, key, len);
    st->auth.klen = len;
    return SM_OK;
}

void
srv_auth_fini(srv_state *st)
{
    if (st->auth.key != NULL)
        memset(st->auth.key, 0, st->auth.klen);
    free(st->auth.key);
    free(st->auth.pending);
    memset(&st->auth, 0, sizeof(st->auth));
}

static int
auth_failed(srv_call *call)
{
    call->st->auth.failures++;
    srv_log(SRV_LOG_NOTICE, "authentication failed (%s; %" PRIu64 " so far)",
            call->req->op_case == SMWIRE__REQUEST__OP_SESSION_OPEN ? "session open"
            : call->req->op_case == SMWIRE__REQUEST__OP_AUTH_HELLO ? "hello"
                                                                   : "request MAC",
            call->st->auth.failures);
    return call_fail(call, SM_EAUTH, "authentication failed");
}

int
srv_auth_hello(srv_call *call)
{
    srv_state *st = call->st;
    const Smwire__AuthHello *h = call->req->auth_hello;
    if (st->auth.key == NULL)
        return SM_OK; /* no challenge: this server asks for no key */
    if (h->client_nonce.len != SMAUTH_NONCE)
        return auth_failed(call);
    struct srv_challenge *c = &st->auth.pending[st->auth.next];
    st->auth.next = (st->auth.next + 1) % SRV_AUTH_PENDING;
    uint8_t *out = call_alloc(call, SMAUTH_NONCE);
    if (out == NULL || !smauth_random(c->snonce, SMAUTH_NONCE))
        return SM_ENOMEM;
    memcpy(c->cnonce, h->client_nonce.data, SMAUTH_NONCE);
    c->expires = srv_now_ms() + SRV_AUTH_TTL_MS;
    memcpy(out, c->snonce, SMAUTH_NONCE);
    call->rep.challenge.data = out;
    call->rep.challenge.len = SMAUTH_NONCE;
    return SM_OK;
}

int
srv_auth_open(srv_call *call, uint8_t skey[SMAUTH_MAC])
{
    srv_state *st = call->st;
    const Smwire__SessionOpen *o = call->req->session_open;
    if (o->client_nonce.len != SMAUTH_NONCE || o->server_nonce.len != SMAUTH_NONCE ||
        o->proof.len != SMAUTH_MAC)
        return auth_failed(call);
    int64_t now = srv_now_ms();
    struct srv_challenge *c = NULL;
    for (size_t i = 0; i < SRV_AUTH_PENDING; i++) {
        struct srv_challenge *p = &st->auth.pending[i];
        if (p->expires > now && smauth_equal(p->snonce, o->server_nonce.data, SMAUTH_NONCE) &&
            smauth_equal(p->cnonce, o->client_nonce.data, SMAUTH_NONCE)) {
            c = p;
            break;
        }
    }
    if (c == NULL)
        return auth_failed(call); /* unknown, expired or already used */
    c->expires = 0;               /* used, whatever the outcome */
    uint8_t want[SMAUTH_MAC];
    smauth_client_proof(st->auth.key, st->auth.klen, o->server_nonce.data, o->client_nonce.data,
                        want);
    if (!smauth_equal(want, o->proof.data, SMAUTH_MAC))
        return auth_failed(call);
    uint8_t *proof = call_alloc(call, SMAUTH_MAC);
    if (proof == NULL)
        return SM_ENOMEM;
    smauth_server_proof(st->auth.key, st->auth.klen, o->server_nonce.data, o->client_nonce.data,
                        proof);
    smauth_session_key(st->auth.key, st->auth.klen, o->server_nonce.data, o->client_nonce.data,
                       skey);
    call->rep.proof.data = proof;
    call->rep.proof.len = SMAUTH_MAC;
    return SM_OK;
}

int
srv_auth_request(srv_call *call)
{
    srv_sess *s = srv_sess_lookup(call->st, call->req->session);
    if (s == NULL)
        return call_fail(call, SM_ESESSION, "no session %016" PRIx64, call->req->session);
    const uint8_t *skey = srv_sess_key(s);
    /* The MAC covers every byte before the trailer, so what decoded is
     * what the key holder sent, plus the mac field itself. */
    if (skey == NULL || call->req->mac.len != SMAUTH_MAC ||
        !smauth_trailer_ok(skey, call->raw, call->rawlen))
        return auth_failed(call);
    return SM_OK;
}
