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
 * The TLS record keys do not come here: mbedTLS's transform holds them
 * expanded once (certgate_record_key.h, patch 0009). What still does: the
 * session tickets' key, and record keys that could not be made there. */
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

/* Messages the driver encrypted and decrypted (tag failures included) since
 * the start: proof for tests of what reaches it. */
typedef struct cg_psa_aead_counts {
    uint64_t encrypts;
    uint64_t decrypts;
} cg_psa_aead_counts;
void cg_psa_aead_counts_get(cg_psa_aead_counts *out);

/* How many bytes at the start of nettle's GCM table (struct gcm_key) the
 * driver wipes after each call: what nettle's gcm_set_key writes on this CPU,
 * measured once (aead.c); everything after the table is wiped too. The
 * record keys (record_key.c) keep that much of the table. */
size_t cg_psa_aead_table_wiped(void);

#endif
