/* What the PSA driver's cmocka tests share: a repeatable byte stream and
 * PSA set up around a group. Header-only: each test is one binary. */
#ifndef CERTGATE_TESTS_PSA_TEST_SUPPORT_H
#define CERTGATE_TESTS_PSA_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include <psa/crypto.h>

/* A deterministic byte stream (xorshift), so a failure repeats; a test may
 * set rng_state to its own seed first. */
static uint32_t rng_state = 0x2545f491u;

static inline uint32_t next_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static inline void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)next_u32();
}

static inline int setup(void **state)
{
    (void)state;
    return psa_crypto_init() == PSA_SUCCESS ? 0 : -1;
}

static inline int teardown(void **state)
{
    (void)state;
    mbedtls_psa_crypto_free();
    return 0;
}

#endif
