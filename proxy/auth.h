/* auth.h - the authkey handshake's cryptography, shared by libsyncmgr and
 * syncmgrd (both compile proxy/auth.c). HMAC-SHA256 from mbedtls; nothing
 * here is hand-made cryptography.
 *
 * The handshake (only when the server has an authkey):
 *   1. AUTH_HELLO carries the client's nonce; the server answers with a
 *      fresh nonce of its own (the challenge), remembered for a short while.
 *   2. SESSION_OPEN carries both nonces and the client's proof,
 *      HMAC(key, "syncmgr/1 client" | server nonce | client nonce). The
 *      server takes the challenge out of its memory (so the same OPEN
 *      cannot be played again), checks the proof and answers with the
 *      session and its own proof, HMAC(key, "syncmgr/1 server" | client
 *      nonce | server nonce), so the client knows the server has the key.
 *   3. Every later request ends with a MAC under the session key,
 *      HMAC(key, "syncmgr/1 session" | server nonce | client nonce): the
 *      request's last 34 bytes are protobuf field 8 (Request.mac), 32 bytes,
 *      over every byte before them. A request without it, or with a wrong
 *      one, is refused with SM_EAUTH and changes nothing. */
#ifndef SM_AUTH_H
#define SM_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SMAUTH_NONCE 32
#define SMAUTH_MAC 32
#define SMAUTH_TRAILER (2 + SMAUTH_MAC)
#define SMAUTH_KEY_MAX 4096

/* The three derivations of the handshake (see above). */
void smauth_client_proof(const uint8_t *key, size_t klen, const uint8_t *snonce,
                         const uint8_t *cnonce, uint8_t out[SMAUTH_MAC]);
void smauth_server_proof(const uint8_t *key, size_t klen, const uint8_t *snonce,
                         const uint8_t *cnonce, uint8_t out[SMAUTH_MAC]);
void smauth_session_key(const uint8_t *key, size_t klen, const uint8_t *snonce,
                        const uint8_t *cnonce, uint8_t out[SMAUTH_MAC]);

/* smauth_trailer writes the MAC trailer of msg[0..len) under skey. */
void smauth_trailer(const uint8_t skey[SMAUTH_MAC], const uint8_t *msg, size_t len,
                    uint8_t out[SMAUTH_TRAILER]);
/* smauth_trailer_ok checks that data ends with the right trailer. */
bool smauth_trailer_ok(const uint8_t skey[SMAUTH_MAC], const uint8_t *data, size_t len);

/* smauth_equal compares in time independent of where they differ. */
bool smauth_equal(const uint8_t *a, const uint8_t *b, size_t n);

/* smauth_random fills out from the kernel's generator; false on failure. */
bool smauth_random(uint8_t *out, size_t n);

/* smauth_key_load reads a key from the file path, or (path NULL) takes the
 * text of value. A file's trailing newline is not part of the key. The key
 * is 1..SMAUTH_KEY_MAX bytes. Returns a malloc'd copy (*lenp bytes) or NULL
 * with a reason in err. */
uint8_t *smauth_key_load(const char *path, const char *value, size_t *lenp, char *err,
                         size_t errsize);

/* smauth_key_from_env loads SYNCMGR_AUTHKEY_FILE, else SYNCMGR_AUTHKEY.
 * Returns NULL with err "" when neither is set, or NULL with a reason. */
uint8_t *smauth_key_from_env(size_t *lenp, char *err, size_t errsize);

/* smauth_tls_config makes an nng TLS configuration: server (true) or
 * client; ca_file verifies the peer (a server then requires client
 * certificates; a client always needs one); cert_file and key_file are our
 * own (a server needs them); server_name is what a client checks the
 * server's certificate against. NULL with a reason in err on failure. */
struct nng_tls_config;
struct nng_tls_config *smauth_tls_config(bool server, const char *ca_file, const char *cert_file,
                                         const char *key_file, const char *server_name,
                                         char *err, size_t errsize);

#endif
