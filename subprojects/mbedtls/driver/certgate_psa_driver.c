/* certgate's PSA transparent driver: entry points (certgate_psa_driver.h).
 * Compiled into mbedcrypto, with mbedTLS's library headers in reach. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <sodium.h>

#include "certgate_psa_driver.h"
#include "psa_crypto_core.h" /* psa_verify_hash_builtin */
#if defined(MBEDTLS_PSA_P256M_DRIVER_ENABLED)
#include "../3rdparty/p256-m/p256-m_driver_entrypoints.h"
#endif

#define X25519_BYTES 32

/* ---- Verified-signature cache ------------------------------------------ */

static bool cacheable(psa_key_type_t type, psa_algorithm_t alg)
{
    /* Public keys only: nothing derived from a private key is kept. */
    if (!PSA_KEY_TYPE_IS_PUBLIC_KEY(type))
        return false;
    return PSA_ALG_IS_ECDSA(alg) || PSA_ALG_IS_RSA_PKCS1V15_SIGN(alg) || PSA_ALG_IS_RSA_PSS(alg);
}

/* What the dispatch would have called after this driver. */
static psa_status_t verify_next(const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                                size_t key_buffer_size, psa_algorithm_t alg, const uint8_t *hash,
                                size_t hash_length, const uint8_t *signature, size_t signature_length)
{
#if defined(MBEDTLS_PSA_P256M_DRIVER_ENABLED)
    psa_key_type_t type = psa_get_key_type(attributes);
    if (PSA_KEY_TYPE_IS_ECC(type) && PSA_ALG_IS_ECDSA(alg) &&
        PSA_KEY_TYPE_ECC_GET_FAMILY(type) == PSA_ECC_FAMILY_SECP_R1 && psa_get_key_bits(attributes) == 256) {
        psa_status_t status = p256_transparent_verify_hash(attributes, key_buffer, key_buffer_size, alg, hash,
                                                           hash_length, signature, signature_length);
        if (status != PSA_ERROR_NOT_SUPPORTED)
            return status;
    }
#endif
    return psa_verify_hash_builtin(attributes, key_buffer, key_buffer_size, alg, hash, hash_length, signature,
                                   signature_length);
}

psa_status_t certgate_transparent_verify_hash(const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                                              size_t key_buffer_size, psa_algorithm_t alg, const uint8_t *hash,
                                              size_t hash_length, const uint8_t *signature, size_t signature_length)
{
    psa_key_type_t type = psa_get_key_type(attributes);
    if (!cacheable(type, alg))
        return PSA_ERROR_NOT_SUPPORTED;
    uint8_t digest[CG_SIG_CACHE_DIGEST];
    if (!cg_sig_cache_digest(digest, type, psa_get_key_bits(attributes), alg, key_buffer, key_buffer_size, hash,
                             hash_length, signature, signature_length))
        return PSA_ERROR_NOT_SUPPORTED;
    if (cg_sig_cache_find(digest))
        return PSA_SUCCESS;
    psa_status_t status = verify_next(attributes, key_buffer, key_buffer_size, alg, hash, hash_length, signature,
                                      signature_length);
    if (status == PSA_SUCCESS)
        cg_sig_cache_add(digest);
    return status;
}

/* ---- X25519 through libsodium -------------------------------------------- */

static atomic_uint_fast64_t x25519_keys, x25519_agreements;

void cg_psa_driver_counts_get(cg_psa_driver_counts *out)
{
    out->x25519_keys = atomic_load_explicit(&x25519_keys, memory_order_relaxed);
    out->x25519_agreements = atomic_load_explicit(&x25519_agreements, memory_order_relaxed);
}

static bool sodium_ready;
static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;

static void sodium_start(void)
{
    sodium_ready = sodium_init() >= 0;
}

/* An X25519 key pair as PSA describes it (Curve448 and the rest: not ours). */
static bool is_x25519_pair(const psa_key_attributes_t *attributes)
{
    if (psa_get_key_type(attributes) != PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY) ||
        psa_get_key_bits(attributes) != 255)
        return false;
    pthread_once(&sodium_once, sodium_start);
    return sodium_ready;
}

psa_status_t certgate_transparent_generate_key(const psa_key_attributes_t *attributes, uint8_t *key_buffer,
                                               size_t key_buffer_size, size_t *key_buffer_length)
{
    if (!is_x25519_pair(attributes))
        return PSA_ERROR_NOT_SUPPORTED;
    if (key_buffer_size < X25519_BYTES)
        return PSA_ERROR_BUFFER_TOO_SMALL;
    atomic_fetch_add_explicit(&x25519_keys, 1, memory_order_relaxed);
    randombytes_buf(key_buffer, X25519_BYTES);
    /* The private key as PSA stores a Montgomery key (and as mbedTLS's own
     * generator makes it): the RFC 7748 section 5 scalar, clamped.
     * libsodium clamps again when it uses it. */
    key_buffer[0] &= 248;
    key_buffer[31] &= 127;
    key_buffer[31] |= 64;
    *key_buffer_length = X25519_BYTES;
    return PSA_SUCCESS;
}

psa_status_t certgate_transparent_export_public_key(const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                                                    size_t key_buffer_size, uint8_t *data, size_t data_size,
                                                    size_t *data_length)
{
    if (!is_x25519_pair(attributes))
        return PSA_ERROR_NOT_SUPPORTED;
    if (key_buffer_size != X25519_BYTES)
        return PSA_ERROR_INVALID_ARGUMENT;
    if (data_size < X25519_BYTES)
        return PSA_ERROR_BUFFER_TOO_SMALL;
    if (crypto_scalarmult_base(data, key_buffer) != 0)
        return PSA_ERROR_INVALID_ARGUMENT;
    *data_length = X25519_BYTES;
    return PSA_SUCCESS;
}

psa_status_t certgate_transparent_key_agreement(const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                                                size_t key_buffer_size, psa_algorithm_t alg, const uint8_t *peer_key,
                                                size_t peer_key_length, uint8_t *shared_secret,
                                                size_t shared_secret_size, size_t *shared_secret_length)
{
    if (alg != PSA_ALG_ECDH || !is_x25519_pair(attributes))
        return PSA_ERROR_NOT_SUPPORTED;
    if (key_buffer_size != X25519_BYTES || peer_key_length != X25519_BYTES)
        return PSA_ERROR_INVALID_ARGUMENT;
    if (shared_secret_size < X25519_BYTES)
        return PSA_ERROR_BUFFER_TOO_SMALL;
    /* libsodium returns -1 for an all-zero result (a small-order peer
     * point): refused, as RFC 7748 section 6.1 allows and RFC 8446 section
     * 7.4.2 requires of TLS 1.3. */
    atomic_fetch_add_explicit(&x25519_agreements, 1, memory_order_relaxed);
    if (crypto_scalarmult(shared_secret, key_buffer, peer_key) != 0) {
        sodium_memzero(shared_secret, X25519_BYTES);
        return PSA_ERROR_INVALID_ARGUMENT;
    }
    *shared_secret_length = X25519_BYTES;
    return PSA_SUCCESS;
}
