/* SHA-256 of certgate's own data (CRL and issuer identities, certificate
 * digests), through PSA: with the bundled mbedTLS that is certgate's PSA
 * driver (nettle, using the x86 SHA extensions where the CPU has them;
 * docs/platform.md), with a system mbedTLS its own code. Needs no
 * psa_crypto_init(); falls back to mbedtls_sha256() should PSA refuse. */
#ifndef CG_SHA256_H
#define CG_SHA256_H

#include <stddef.h>

void cg_sha256(const void *data, size_t len, unsigned char out[32]);

/* The SHA-256 of a then b, as one message. */
void cg_sha256_2(const void *a, size_t alen, const void *b, size_t blen, unsigned char out[32]);

#endif
