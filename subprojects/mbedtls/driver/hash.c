/* certgate's PSA driver: SHA-256 and SHA-384 through nettle
 * (certgate_psa_driver.h). nettle (libnettle8) picks its compression
 * function at run time ("fat" build): SHA-256 uses the x86 SHA extensions
 * where the CPU has them, about four times mbedTLS's portable C; SHA-384
 * takes nettle's x86_64 assembly, about 1.4 times. Other algorithms answer
 * PSA_ERROR_NOT_SUPPORTED and mbedTLS's built-in code does them. */
#include <stdalign.h>
#include <string.h>

#include <nettle/sha2.h>

#include "certgate_psa_driver.h"
#include "mbedtls/platform_util.h" /* mbedtls_platform_zeroize */

_Static_assert(sizeof(struct sha256_ctx) <= CERTGATE_PSA_HASH_STATE_BYTES, "nettle's SHA-256 state fits");
_Static_assert(sizeof(struct sha512_ctx) <= CERTGATE_PSA_HASH_STATE_BYTES, "nettle's SHA-384 state fits");
_Static_assert(alignof(struct sha256_ctx) <= alignof(uint64_t), "nettle's SHA-256 state is aligned");
_Static_assert(alignof(struct sha512_ctx) <= alignof(uint64_t), "nettle's SHA-384 state is aligned");

static bool handled(psa_algorithm_t alg) { return alg == PSA_ALG_SHA_256 || alg == PSA_ALG_SHA_384; }

psa_status_t certgate_transparent_hash_setup(certgate_psa_hash_operation_t *operation, psa_algorithm_t alg)
{
    if (!handled(alg))
        return PSA_ERROR_NOT_SUPPORTED;
    if (alg == PSA_ALG_SHA_256)
        sha256_init((struct sha256_ctx *)operation->state.bytes);
    else
        sha384_init((struct sha512_ctx *)operation->state.bytes);
    operation->alg = alg;
    return PSA_SUCCESS;
}

psa_status_t certgate_transparent_hash_clone(const certgate_psa_hash_operation_t *source,
                                             certgate_psa_hash_operation_t *target)
{
    if (!handled(source->alg))
        return PSA_ERROR_BAD_STATE;
    *target = *source; /* nettle's states hold no pointers */
    return PSA_SUCCESS;
}

psa_status_t certgate_transparent_hash_update(certgate_psa_hash_operation_t *operation, const uint8_t *input,
                                              size_t input_length)
{
    if (operation->alg == PSA_ALG_SHA_256)
        sha256_update((struct sha256_ctx *)operation->state.bytes, input_length, input);
    else if (operation->alg == PSA_ALG_SHA_384)
        sha384_update((struct sha512_ctx *)operation->state.bytes, input_length, input);
    else
        return PSA_ERROR_BAD_STATE;
    return PSA_SUCCESS;
}

psa_status_t certgate_transparent_hash_finish(certgate_psa_hash_operation_t *operation, uint8_t *hash,
                                              size_t hash_size, size_t *hash_length)
{
    if (!handled(operation->alg))
        return PSA_ERROR_BAD_STATE;
    size_t n = PSA_HASH_LENGTH(operation->alg);
    *hash_length = n;
    if (hash_size < n)
        return PSA_ERROR_BUFFER_TOO_SMALL; /* as mbedTLS's built-in code: the core aborts */
    if (operation->alg == PSA_ALG_SHA_256)
        sha256_digest((struct sha256_ctx *)operation->state.bytes, n, hash);
    else
        sha384_digest((struct sha512_ctx *)operation->state.bytes, n, hash);
    return PSA_SUCCESS;
}

psa_status_t certgate_transparent_hash_abort(certgate_psa_hash_operation_t *operation)
{
    /* The state may be of a secret (HMAC's keyed inner hash). */
    mbedtls_platform_zeroize(operation, sizeof *operation);
    return PSA_SUCCESS;
}

psa_status_t certgate_transparent_hash_compute(psa_algorithm_t alg, const uint8_t *input, size_t input_length,
                                               uint8_t *hash, size_t hash_size, size_t *hash_length)
{
    certgate_psa_hash_operation_t op = { 0 };
    psa_status_t status = certgate_transparent_hash_setup(&op, alg);
    if (status == PSA_SUCCESS)
        status = certgate_transparent_hash_update(&op, input, input_length);
    if (status == PSA_SUCCESS)
        status = certgate_transparent_hash_finish(&op, hash, hash_size, hash_length);
    certgate_transparent_hash_abort(&op);
    return status;
}
