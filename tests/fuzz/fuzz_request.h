/* fuzz_request.h - the input format of the request fuzzer, and its harness.
 *
 * A fuzz input is a sequence of records, each one request:
 *
 *     ctl (1 byte) | len (2 bytes, little-endian) | len bytes of request
 *
 * A len past the end of the input takes what is left. ctl says what the
 * harness does with the record before and after it reaches the server:
 *
 *   FZ_SESSION  the request decodes: its session field picks one of the
 *               last FZ_NSESS sessions the server opened (session % count;
 *               0 is the newest), so a sequence can open a session and use
 *               it although session ids are random.
 *   FZ_SEQ      the request decodes: give it a fresh sequence number, so it
 *               is applied rather than answered from the reply memory.
 *   FZ_REFS     the request decodes: every ObjRef in it whose nonce is 0
 *               names one of the last FZ_NREFS objects the server handed out
 *               (id % count; 0 is the newest), for the same reason: nonces
 *               are random. A type of 0 takes the object's own type.
 *   FZ_NOCONN   go through srv_handle_bytes (a parked request then has no
 *               connection and its late reply goes nowhere) instead of
 *               srv_handle_into with a connection (late replies are checked
 *               like the others).
 *   FZ_EXPIRE   after the request, run the timer (srv_expire) as if
 *               fz_delay_ms[FZ_DELAY(ctl)] had passed: waits time out,
 *               leases lapse, pool tasks overrun. An empty record with
 *               FZ_EXPIRE is a tick of the timer alone (no request).
 *
 * A patched request is unpacked, changed and packed again; an unpatched one
 * (ctl without the three patch bits, or bytes that do not decode) goes to
 * the server byte for byte. tests/fuzz/make_corpus.c writes seeds in this
 * format; tests/test_fuzz_regressions.c replays them through the harness
 * below in the ordinary builds. */
#ifndef FUZZ_REQUEST_H
#define FUZZ_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FZ_HDR 3 /* ctl + 2-byte length */

#define FZ_SESSION 0x01u
#define FZ_SEQ 0x02u
#define FZ_REFS 0x04u
#define FZ_NOCONN 0x08u
#define FZ_EXPIRE 0x10u
#define FZ_DELAY(ctl) (((ctl) >> 5) & 7u)
#define FZ_DELAY_CTL(i) ((unsigned)(i) << 5)
#define FZ_PATCH (FZ_SESSION | FZ_SEQ | FZ_REFS)

#define FZ_NSESS 4
#define FZ_NREFS 16

/* The timer's jumps, indexed by FZ_DELAY(ctl): 0 ms up to past the longest
 * session lease (600 s). */
#define FZ_DELAYS_MS {0, 5, 50, 500, 5000, 60000, 700000, 86400000}

/* fz_start makes a fresh server state with small limits. abort_on_failure:
 * a broken reply aborts at once (libFuzzer keeps the input); otherwise it is
 * printed and counted (fz_failures). Returns 0, or -1 if the state could not
 * be made. */
int fz_start(bool abort_on_failure);

/* fz_run feeds one input (a record sequence) to the state. Between inputs
 * the state is kept, and made afresh every so many inputs or when it has
 * grown, so memory stays bounded. */
void fz_run(const uint8_t *data, size_t size);

/* fz_reset frees the state and makes a fresh one. */
void fz_reset(void);

/* fz_stop frees the state; every byte the server allocated must be freed. */
void fz_stop(void);

/* fz_failures is how many replies did not decode (or were wrong) so far. */
uint64_t fz_failures(void);

/* fz_requests is how many requests reached the server so far. */
uint64_t fz_requests(void);

/* The libFuzzer entry points (fuzz_request.c defines them). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
