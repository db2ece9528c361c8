/* The multipart hash context of certgate's PSA driver (certgate_psa_driver.h:
 * SHA-256 and SHA-384 through nettle). mbedTLS's
 * psa/crypto_driver_contexts_primitives.h includes this file (certgate patch
 * 0002) to put the context into psa_driver_hash_context_t, so it includes no
 * PSA header itself and keeps nettle's types out of every PSA user: the
 * state is opaque here, its size and alignment checked in hash.c. */
#ifndef CERTGATE_PSA_HASH_H
#define CERTGATE_PSA_HASH_H

#include <stdint.h>

/* nettle's struct sha512_ctx (also SHA-384's) is 216 bytes on x86_64, struct
 * sha256_ctx 112: hash.c asserts that both fit. */
#define CERTGATE_PSA_HASH_STATE_BYTES 224

typedef struct {
    uint32_t alg; /* psa_algorithm_t: PSA_ALG_SHA_256 or PSA_ALG_SHA_384; 0 when not set up */
    union {
        uint64_t align;
        unsigned char bytes[CERTGATE_PSA_HASH_STATE_BYTES];
    } state;
} certgate_psa_hash_operation_t;

#endif
