/* certgate's PSA transparent driver, compiled into the bundled mbedTLS
 * (-Dmbedtls=bundled; CERTGATE_PSA_DRIVER in certgate_mbedtls_config.h).
 * mbedTLS's dispatch reaches it through patches/0002-psa-dispatch-certgate-driver.patch.
 *
 * Two jobs, both where every TLS and X.509 operation of mbedTLS passes
 * (MBEDTLS_USE_PSA_CRYPTO is on, so TLS 1.2, TLS 1.3 and chain verification
 * all go through PSA):
 *
 * - The verified-signature cache (verify_hash): a (public key, algorithm,
 *   hash, signature) that verified once is answered from a table: the
 *   signature of a returning user's certificate by its CA is the same in
 *   each of the user's full handshakes. A miss is verified by the next
 *   implementation (p256-m when it is on, else mbedTLS's built-in code),
 *   called by this driver so that it learns the outcome; only successes are
 *   recorded. Exact match only: the entry is a keyed BLAKE2b-256 digest of
 *   all four inputs. ECDSA, RSA PKCS#1 v1.5 and RSA-PSS, public keys only.
 *   psa_verify_message reaches it too (the built-in verify_message hashes,
 *   then dispatches verify_hash). Bounded (CG_SIG_CACHE_ENTRIES), thread-safe.
 * - X25519 through libsodium (generate_key, export_public_key,
 *   key_agreement): crypto_scalarmult(_base); an all-zero shared secret
 *   (a small-order peer point) is refused (RFC 7748 section 6.1).
 *
 * - SHA-256 and SHA-384 through nettle (hash.c: hash_compute and the
 *   multipart hash_setup/update/finish/clone/abort): the TLS handshake
 *   checksums, the TLS 1.2 PRF and TLS 1.3 HKDF (PSA's HMAC hashes through
 *   the same dispatch) and the session ticket code. nettle uses the x86 SHA
 *   extensions for SHA-256 when the CPU has them.
 * - AES-128/256-GCM through nettle (aead.c, certgate_psa_aead.h: the
 *   one-shot aead_encrypt/aead_decrypt of the tickets, and of TLS records
 *   whose key is in PSA; dispatched by
 *   patches/0008-psa-dispatch-certgate-aead.patch). The TLS record keys
 *   themselves are not PSA keys: mbedTLS's transform holds them, expanded
 *   once (record_key.c, certgate_record_key.h,
 *   patches/0009-tls-record-keys.patch).
 *
 * Every entry point returns PSA_ERROR_NOT_SUPPORTED for what it does not
 * handle, and mbedTLS's dispatch continues with its own code.
 */
#ifndef CERTGATE_PSA_DRIVER_H
#define CERTGATE_PSA_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <psa/crypto.h>

#include "certgate_psa_hash.h"

/* What the dispatch tests for transparent drivers. */
#ifndef PSA_CRYPTO_ACCELERATOR_DRIVER_PRESENT
#define PSA_CRYPTO_ACCELERATOR_DRIVER_PRESENT
#endif

/* ---- Entry points (called by mbedTLS's dispatch only) -------------------- */

psa_status_t certgate_transparent_verify_hash(const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                                              size_t key_buffer_size, psa_algorithm_t alg, const uint8_t *hash,
                                              size_t hash_length, const uint8_t *signature, size_t signature_length);

psa_status_t certgate_transparent_generate_key(const psa_key_attributes_t *attributes, uint8_t *key_buffer,
                                               size_t key_buffer_size, size_t *key_buffer_length);

psa_status_t certgate_transparent_export_public_key(const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                                                    size_t key_buffer_size, uint8_t *data, size_t data_size,
                                                    size_t *data_length);

psa_status_t certgate_transparent_key_agreement(const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                                                size_t key_buffer_size, psa_algorithm_t alg, const uint8_t *peer_key,
                                                size_t peer_key_length, uint8_t *shared_secret,
                                                size_t shared_secret_size, size_t *shared_secret_length);

/* SHA-256 and SHA-384 (hash.c). The multipart context lives in PSA's
 * psa_driver_hash_context_t (certgate_psa_hash.h, through patch 0002). */
psa_status_t certgate_transparent_hash_compute(psa_algorithm_t alg, const uint8_t *input, size_t input_length,
                                               uint8_t *hash, size_t hash_size, size_t *hash_length);
psa_status_t certgate_transparent_hash_setup(certgate_psa_hash_operation_t *operation, psa_algorithm_t alg);
psa_status_t certgate_transparent_hash_clone(const certgate_psa_hash_operation_t *source,
                                             certgate_psa_hash_operation_t *target);
psa_status_t certgate_transparent_hash_update(certgate_psa_hash_operation_t *operation, const uint8_t *input,
                                              size_t input_length);
psa_status_t certgate_transparent_hash_finish(certgate_psa_hash_operation_t *operation, uint8_t *hash,
                                              size_t hash_size, size_t *hash_length);
psa_status_t certgate_transparent_hash_abort(certgate_psa_hash_operation_t *operation);

/* X25519 operations done by the driver since the start (tests, bench:
 * proof that TLS 1.2 and 1.3 reach it). */
typedef struct cg_psa_driver_counts {
    uint64_t x25519_keys;       /* key pairs generated */
    uint64_t x25519_agreements; /* shared secrets computed (or refused) */
} cg_psa_driver_counts;
void cg_psa_driver_counts_get(cg_psa_driver_counts *out);

/* ---- The verified-signature table (sig_cache.c) --------------------------- */

#define CG_SIG_CACHE_WAYS 8                                  /* entries per set */
#define CG_SIG_CACHE_SETS 1024                               /* a power of two */
#define CG_SIG_CACHE_ENTRIES (CG_SIG_CACHE_WAYS * CG_SIG_CACHE_SETS) /* 8192: 256 KiB of digests */
#define CG_SIG_CACHE_DIGEST 32

typedef struct cg_sig_cache_stats {
    uint64_t hits;      /* verifications answered from the table */
    uint64_t misses;    /* verifications done by mbedTLS (then recorded if they succeeded) */
    uint64_t evictions; /* entries replaced by newer ones */
    size_t entries;     /* entries held now */
} cg_sig_cache_stats;

/* The table's key for one verification: BLAKE2b-256 keyed with a random
 * per-process key (so set indexes cannot be aimed at), over the lengths and
 * bytes of every input. Returns false when libsodium cannot start. */
bool cg_sig_cache_digest(uint8_t out[CG_SIG_CACHE_DIGEST], psa_key_type_t type, size_t bits, psa_algorithm_t alg,
                         const uint8_t *key, size_t key_len, const uint8_t *hash, size_t hash_len,
                         const uint8_t *sig, size_t sig_len);

/* True when digest is in the table (and marks it used: see sig_cache.c's eviction). */
bool cg_sig_cache_find(const uint8_t digest[CG_SIG_CACHE_DIGEST]);

/* Records digest (a verification that succeeded), evicting in its set an
 * entry that was not used since it was last passed over. */
void cg_sig_cache_add(const uint8_t digest[CG_SIG_CACHE_DIGEST]);

void cg_sig_cache_stats_get(cg_sig_cache_stats *out);

/* Empties the table and zeroes the counters (tests, bench). */
void cg_sig_cache_clear(void);

#endif
