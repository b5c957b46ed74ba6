/* auth.c - the authkey handshake's HMACs, key loading and randomness; see
 * auth.h for the protocol. Compiled into libsyncmgr and syncmgrd.
 * Exported: the smauth_* functions of auth.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/md.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "auth.h"

/* hmac3 computes HMAC-SHA256(key, label | a | b). */
static void
hmac3(const uint8_t *key, size_t klen, const char *label, const uint8_t *a, size_t alen,
      const uint8_t *b, size_t blen, uint8_t out[SMAUTH_MAC])
{
    mbedtls_md_context_t ctx;
    mbedtls_md_init(&ctx);
    int rv = mbedtls_md_setup(&ctx, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
    if (rv == 0)
        rv = mbedtls_md_hmac_starts(&ctx, key, klen);
    if (rv == 0 && label != NULL)
        rv = mbedtls_md_hmac_update(&ctx, (const unsigned char *)label, strlen(label));
    if (rv == 0 && alen > 0)
        rv = mbedtls_md_hmac_update(&ctx, a, alen);
    if (rv == 0 && blen > 0)
        rv = mbedtls_md_hmac_update(&ctx, b, blen);
    if (rv == 0)
        rv = mbedtls_md_hmac_finish(&ctx, out);
    if (rv != 0) /* only out of memory in setup: a MAC that matches nothing */
        smauth_random(out, SMAUTH_MAC);
    mbedtls_md_free(&ctx);
}

void
smauth_client_proof(const uint8_t *key, size_t klen, const uint8_t *snonce, const uint8_t *cnonce,
                    uint8_t out[SMAUTH_MAC])
{
    hmac3(key, klen, "syncmgr/1 client", snonce, SMAUTH_NONCE, cnonce, SMAUTH_NONCE, out);
}

void
smauth_server_proof(const uint8_t *key, size_t klen, const uint8_t *snonce, const uint8_t *cnonce,
                    uint8_t out[SMAUTH_MAC])
{
    hmac3(key, klen, "syncmgr/1 server", cnonce, SMAUTH_NONCE, snonce, SMAUTH_NONCE, out);
}

void
smauth_session_key(const uint8_t *key, size_t klen, const uint8_t *snonce, const uint8_t *cnonce,
                   uint8_t out[SMAUTH_MAC])
{
    hmac3(key, klen, "syncmgr/1 session", snonce, SMAUTH_NONCE, cnonce, SMAUTH_NONCE, out);
}

void
smauth_trailer(const uint8_t skey[SMAUTH_MAC], const uint8_t *msg, size_t len,
               uint8_t out[SMAUTH_TRAILER])
{
    out[0] = (8 << 3) | 2; /* field 8, length-delimited */
    out[1] = SMAUTH_MAC;
    hmac3(skey, SMAUTH_MAC, NULL, msg, len, NULL, 0, out + 2);
}

bool
smauth_trailer_ok(const uint8_t skey[SMAUTH_MAC], const uint8_t *data, size_t len)
{
    uint8_t want[SMAUTH_TRAILER];
    if (len < SMAUTH_TRAILER)
        return false;
    smauth_trailer(skey, data, len - SMAUTH_TRAILER, want);
    return smauth_equal(want, data + len - SMAUTH_TRAILER, SMAUTH_TRAILER);
}

bool
smauth_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    volatile uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= a[i] ^ b[i];
    return d == 0;
}

bool
smauth_random(uint8_t *out, size_t n)
{
    while (n > 0) {
        ssize_t got = getrandom(out, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        out += got;
        n -= (size_t)got;
    }
    return true;
}

uint8_t *
smauth_key_load(const char *path, const char *value, size_t *lenp, char *err, size_t errsize)
{
    uint8_t *key = malloc(SMAUTH_KEY_MAX + 2);
    size_t len = 0;
    if (key == NULL) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    if (path != NULL) {
        FILE *f = fopen(path, "rb");
        if (f == NULL) {
            snprintf(err, errsize, "authkey file %s: %s", path, strerror(errno));
            free(key);
            return NULL;
        }
        len = fread(key, 1, SMAUTH_KEY_MAX + 2, f);
        bool bad = ferror(f);
        fclose(f);
        if (bad) {
            snprintf(err, errsize, "authkey file %s: read error", path);
            free(key);
            return NULL;
        }
        if (len > 0 && key[len - 1] == '\n')
            len--;
        if (len > 0 && key[len - 1] == '\r')
            len--;
    } else {
        len = strlen(value);
        if (len > SMAUTH_KEY_MAX)
            len = SMAUTH_KEY_MAX + 1;
        memcpy(key, value, len);
    }
    if (len == 0 || len > SMAUTH_KEY_MAX) {
        snprintf(err, errsize, "the authkey%s%s is %s; it must be 1 to %d bytes",
                 path ? " in " : "", path ? path : "", len == 0 ? "empty" : "too long",
                 SMAUTH_KEY_MAX);
        free(key);
        return NULL;
    }
    *lenp = len;
    return key;
}

uint8_t *
smauth_key_from_env(size_t *lenp, char *err, size_t errsize)
{
    const char *file = getenv("SYNCMGR_AUTHKEY_FILE");
    const char *value = getenv("SYNCMGR_AUTHKEY");
    err[0] = '\0';
    if (file != NULL && file[0] != '\0')
        return smauth_key_load(file, NULL, lenp, err, errsize);
    if (value != NULL)
        return smauth_key_load(NULL, value, lenp, err, errsize);
    return NULL;
}

/* file_text reads a whole (PEM) file, NUL-terminated; NULL on failure. */
static char *
file_text(const char *path, char *err, size_t errsize)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errsize, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        len += fread(buf + len, 1, cap - len - 1, f);
        if (len < cap - 1 || cap >= (1u << 20))
            break;
        char *nb = realloc(buf, cap * 2);
        if (nb == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    bool bad = ferror(f);
    fclose(f);
    if (buf == NULL || bad) {
        snprintf(err, errsize, "%s: %s", path, buf == NULL ? "out of memory" : "read error");
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

struct nng_tls_config *
smauth_tls_config(bool server, const char *ca_file, const char *cert_file, const char *key_file,
                  const char *server_name, char *err, size_t errsize)
{
    nng_tls_config *cfg;
    int rv = nng_tls_config_alloc(&cfg, server ? NNG_TLS_MODE_SERVER : NNG_TLS_MODE_CLIENT);
    if (rv != 0) {
        snprintf(err, errsize, "TLS: %s", nng_strerror(rv));
        return NULL;
    }
    if ((cert_file == NULL) != (key_file == NULL)) {
        snprintf(err, errsize, "TLS: a certificate needs its key, and a key its certificate");
        goto fail;
    }
    if (cert_file != NULL) {
        char *cert = file_text(cert_file, err, errsize);
        char *key = cert != NULL ? file_text(key_file, err, errsize) : NULL;
        rv = key != NULL ? nng_tls_config_own_cert(cfg, cert, key, NULL) : -1;
        free(cert);
        free(key);
        if (rv > 0)
            snprintf(err, errsize, "TLS: %s or %s: %s", cert_file, key_file, nng_strerror(rv));
        if (rv != 0)
            goto fail;
    } else if (server) {
        snprintf(err, errsize, "TLS: a tls+tcp:// listener needs a certificate and its key");
        goto fail;
    }
    if (ca_file != NULL) {
        rv = nng_tls_config_ca_file(cfg, ca_file);
        if (rv != 0) {
            snprintf(err, errsize, "TLS: CA file %s: %s", ca_file, nng_strerror(rv));
            goto fail;
        }
        rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
    } else if (!server) {
        snprintf(err, errsize, "TLS: a tls+tcp:// client needs a CA file to check the server");
        goto fail;
    } else {
        rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE);
    }
    if (rv == 0 && server_name != NULL)
        rv = nng_tls_config_server_name(cfg, server_name);
    if (rv != 0) {
        snprintf(err, errsize, "TLS: %s", nng_strerror(rv));
        goto fail;
    }
    return cfg;
fail:
    nng_tls_config_free(cfg);
    return NULL;
}
