#include "sha256.h"

#include <mbedtls/sha256.h>
#include <psa/crypto.h>

void cg_sha256_2(const void *a, size_t alen, const void *b, size_t blen, unsigned char out[32])
{
    psa_hash_operation_t op = PSA_HASH_OPERATION_INIT;
    size_t n = 0;
    if (psa_hash_setup(&op, PSA_ALG_SHA_256) == PSA_SUCCESS && psa_hash_update(&op, a, alen) == PSA_SUCCESS &&
        psa_hash_update(&op, b, blen) == PSA_SUCCESS && psa_hash_finish(&op, out, 32, &n) == PSA_SUCCESS && n == 32)
        return;
    psa_hash_abort(&op);
    mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    mbedtls_sha256_starts(&ctx, 0);
    mbedtls_sha256_update(&ctx, a, alen);
    mbedtls_sha256_update(&ctx, b, blen);
    mbedtls_sha256_finish(&ctx, out);
    mbedtls_sha256_free(&ctx);
}

void cg_sha256(const void *data, size_t len, unsigned char out[32])
{
    size_t n = 0;
    if (psa_hash_compute(PSA_ALG_SHA_256, data, len, out, 32, &n) == PSA_SUCCESS && n == 32)
        return;
    mbedtls_sha256(data, len, out, 0);
}
