/* sinkmap/hash.h: SHA-256 (FIPS 180-4) of buffers and files, in one call or streamed.
 * Used to fingerprint every parameter table and input in run.json and the carbon ledger,
 * so that an audited figure can be traced to the exact bytes it was computed from. */
#ifndef SINKMAP_HASH_H
#define SINKMAP_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "sinkmap/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Streaming state. Its fields are private; it is a plain struct so that it can live on the
 * stack and needs no create/destroy. */
typedef struct sm_sha256_state {
    uint32_t h[8];
    uint64_t nbytes;
    uint8_t block[64];
    size_t nblock;
} sm_sha256_state;

/* Starts a new digest. */
void sm_sha256_init(sm_sha256_state *s);
/* Adds n bytes (data may be NULL when n is 0). */
void sm_sha256_update(sm_sha256_state *s, const void *data, size_t n);
/* Finishes the digest into out; the state must be re-initialised before reuse. */
void sm_sha256_final(sm_sha256_state *s, uint8_t out[32]);

/* The digest of n bytes in one call. */
void sm_sha256(const void *data, size_t n, uint8_t out[32]);

/* Lower-case hex of n bytes into out, which must hold 2n + 1 characters (NUL-terminated). */
void sm_hex(const uint8_t *bytes, size_t n, char *out);

/* The SHA-256 of a file's bytes as 64 lower-case hex digits plus NUL. On failure hex is set
 * to "" and SM_ERR_IO is returned with a message naming the path and the reason. */
sm_status sm_sha256_file(sm_context *ctx, const char *path, char hex[65]);

#ifdef __cplusplus
}
#endif
#endif
