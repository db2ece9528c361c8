/* AES-GCM record encryption of certgate's PSA driver (aead.c; the bundled
 * mbedTLS, CERTGATE_PSA_DRIVER): the one-shot psa_aead_encrypt and
 * psa_aead_decrypt, which are all that mbedTLS 3.6's TLS 1.2 and 1.3 record
 * layer (ssl_msg.c) and its ticket code call, through nettle's gcm_aes128 /
 * gcm_aes256 (AES-NI and PCLMUL GHASH chosen at run time). mbedTLS's dispatch
 * reaches it through patches/0008-psa-dispatch-certgate-aead.patch.
 *
 * Taken: PSA_ALG_GCM (the full 16-byte tag), a 12-byte nonce, AES keys of 128
 * or 256 bits. Everything else (shortened tags, other nonce lengths,
 * AES-192, CCM, ChaCha20-Poly1305: libsodium's is no faster than mbedTLS's
 * here, docs/platform.md) returns PSA_ERROR_NOT_SUPPORTED and mbedTLS's own
 * code runs. The key is set up for each call on the stack and wiped after
 * (what nettle wrote of it): no state is shared between threads.
 *
 * Opaque keys (CERTGATE_PSA_LOCATION): a transparent driver gets the raw key
 * bytes at every call, so nettle expanded the AES key (plain C, ~850
 * instructions) for each TLS record. At certgate's own key location, the key
 * slot holds the expanded key instead: nettle's AES key schedule and the part
 * of the GHASH table its gcm_set_key writes, built once at psa_import_key and
 * wiped and freed by the PSA core at psa_destroy_key. Each call copies it
 * into a stack context, runs and wipes what it wrote; the slot is only read
 * (PSA lets threads use one key at once). AES-128/256 keys whose policy is
 * PSA_ALG_GCM only; export and copy are refused. The TLS record keys are
 * imported there (certgate_psa_import_record_key, called by
 * patches/0009-psa-opaque-record-keys.patch, which also adds the dispatch). */
#ifndef CERTGATE_PSA_AEAD_H
#define CERTGATE_PSA_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include <psa/crypto.h>

psa_status_t certgate_transparent_aead_encrypt(const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                                               size_t key_buffer_size, psa_algorithm_t alg, const uint8_t *nonce,
                                               size_t nonce_length, const uint8_t *additional_data,
                                               size_t additional_data_length, const uint8_t *plaintext,
                                               size_t plaintext_length, uint8_t *ciphertext, size_t ciphertext_size,
                                               size_t *ciphertext_length);

/* A tag that does not match: PSA_ERROR_INVALID_SIGNATURE, and the plaintext
 * buffer's first ciphertext_length - 16 bytes zeroed (nothing released). */
psa_status_t certgate_transparent_aead_decrypt(const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                                               size_t key_buffer_size, psa_algorithm_t alg, const uint8_t *nonce,
                                               size_t nonce_length, const uint8_t *additional_data,
                                               size_t additional_data_length, const uint8_t *ciphertext,
                                               size_t ciphertext_length, uint8_t *plaintext, size_t plaintext_size,
                                               size_t *plaintext_length);

/* ---- Opaque keys: certgate's key location ------------------------------- */

/* certgate's PSA key location: a vendor location (bit 23 set, PSA Crypto
 * API 9.4.1), volatile keys only. Keys there are this driver's: the dispatch
 * (patch 0009) sends them here and nowhere else. */
#define CERTGATE_PSA_LOCATION ((psa_key_location_t)0x806367) /* 0x80, "cg" */
#define CERTGATE_PSA_KEY_LIFETIME_OPAQUE \
    PSA_KEY_LIFETIME_FROM_PERSISTENCE_AND_LOCATION(PSA_KEY_PERSISTENCE_VOLATILE, CERTGATE_PSA_LOCATION)

/* Bytes of the slot buffer for a key of this type and size: 0 (not
 * supported) for anything but 128- and 256-bit AES. */
size_t certgate_opaque_size_function(psa_key_type_t key_type, size_t key_bits);

/* The key expanded into key_buffer. PSA_ERROR_NOT_SUPPORTED for anything but
 * a volatile AES-128/256 key with the algorithm PSA_ALG_GCM. */
psa_status_t certgate_opaque_import_key(const psa_key_attributes_t *attributes, const uint8_t *data,
                                        size_t data_length, uint8_t *key_buffer, size_t key_buffer_size,
                                        size_t *key_buffer_length, size_t *bits);

/* Always PSA_ERROR_NOT_PERMITTED: the raw key is not kept. */
psa_status_t certgate_opaque_export_key(const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                                        size_t key_buffer_size, uint8_t *data, size_t data_size, size_t *data_length);

/* Always PSA_ERROR_NOT_SUPPORTED. */
psa_status_t certgate_opaque_copy_key(const psa_key_attributes_t *attributes, const uint8_t *source_key,
                                      size_t source_key_length, uint8_t *target_key_buffer,
                                      size_t target_key_buffer_size, size_t *target_key_buffer_length);

/* As the transparent ones (same checks, sizes and refusals), on an opaque
 * key; with no other implementation behind them, what they do not take
 * (another nonce length, a shortened tag) stays PSA_ERROR_NOT_SUPPORTED. */
psa_status_t certgate_opaque_aead_encrypt(const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                                          size_t key_buffer_size, psa_algorithm_t alg, const uint8_t *nonce,
                                          size_t nonce_length, const uint8_t *additional_data,
                                          size_t additional_data_length, const uint8_t *plaintext,
                                          size_t plaintext_length, uint8_t *ciphertext, size_t ciphertext_size,
                                          size_t *ciphertext_length);
psa_status_t certgate_opaque_aead_decrypt(const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                                          size_t key_buffer_size, psa_algorithm_t alg, const uint8_t *nonce,
                                          size_t nonce_length, const uint8_t *additional_data,
                                          size_t additional_data_length, const uint8_t *ciphertext,
                                          size_t ciphertext_length, uint8_t *plaintext, size_t plaintext_size,
                                          size_t *plaintext_length);

/* psa_import_key for a TLS record key (ssl_tls.c, ssl_tls13_keys.c, patch
 * 0009): a volatile local AES-128/256 key for PSA_ALG_GCM is imported at
 * certgate's location; anything else, or an import there that fails, is
 * imported as asked (TLS never fails because of the opaque location). */
psa_status_t certgate_psa_import_record_key(const psa_key_attributes_t *attributes, const uint8_t *data,
                                            size_t data_length, mbedtls_svc_key_id_t *key);

/* Records the driver encrypted and decrypted (including refused ones) since
 * the start: proof for tests that TLS records reach it. encrypts/decrypts
 * are the transparent entry points' (a raw key), opaque_* the opaque ones';
 * opaque_keys are imports at certgate's location, opaque_fallbacks record
 * keys that went local because that import failed. */
typedef struct cg_psa_aead_counts {
    uint64_t encrypts;
    uint64_t decrypts;
    uint64_t opaque_encrypts;
    uint64_t opaque_decrypts;
    uint64_t opaque_keys;
    uint64_t opaque_fallbacks;
} cg_psa_aead_counts;
void cg_psa_aead_counts_get(cg_psa_aead_counts *out);

/* How many bytes at the start of nettle's GCM table (struct gcm_key) the
 * driver wipes after each call: what nettle's gcm_set_key writes on this CPU,
 * measured once (aead.c); everything after the table is wiped too. */
size_t cg_psa_aead_table_wiped(void);

#endif
