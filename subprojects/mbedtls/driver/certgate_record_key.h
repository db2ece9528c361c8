/* TLS record keys held by mbedTLS's transform (the bundled mbedTLS,
 * CERTGATE_PSA_DRIVER; patches/0009-tls-record-keys.patch): AES-128/256-GCM
 * with a 12-byte nonce and the full 16-byte tag, the key expanded once when
 * the transform is populated, each record sealed or opened with a direct call
 * from mbedtls_ssl_encrypt_buf / mbedtls_ssl_decrypt_buf (ssl_msg.c). No PSA
 * core on the way: no key-store mutex, no slot lookup, no policy check, no
 * copy of the expanded key per record.
 *
 * One key per direction; the object is only read by seal and open (threads
 * may share one), and certgate_record_key_free wipes it. What happens inside
 * is private to record_key.c: gcm_fast (AES-NI and PCLMULQDQ, gcm_fast.h)
 * where the CPU has them, nettle's AES and GHASH otherwise. */
#ifndef CERTGATE_RECORD_KEY_H
#define CERTGATE_RECORD_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <psa/crypto.h>

#define CERTGATE_RECORD_NONCE 12
#define CERTGATE_RECORD_TAG 16

typedef struct certgate_record_key certgate_record_key;

/* An AES-GCM key of 16 or 32 bytes, expanded. NULL: not taken (another key
 * length) or no memory; the caller then imports the key into PSA as before. */
certgate_record_key *certgate_record_key_new(const uint8_t *key, size_t key_length);

/* Wipes and frees; NULL is fine. */
void certgate_record_key_free(certgate_record_key *key);

/* As psa_aead_encrypt with PSA_ALG_GCM and a 12-byte nonce: ciphertext and
 * the tag (plaintext_length + 16 bytes) into ciphertext, which may be
 * plaintext itself (in place). PSA_ERROR_BUFFER_TOO_SMALL when
 * ciphertext_size is short, PSA_ERROR_INVALID_ARGUMENT when the plaintext
 * is longer than GCM allows. */
psa_status_t certgate_record_seal(const certgate_record_key *key, const uint8_t *nonce, const uint8_t *aad,
                                  size_t aad_length, const uint8_t *plaintext, size_t plaintext_length,
                                  uint8_t *ciphertext, size_t ciphertext_size, size_t *ciphertext_length);

/* As psa_aead_decrypt: ciphertext_length includes the tag; plaintext may be
 * ciphertext (in place). A tag that does not match: PSA_ERROR_INVALID_SIGNATURE
 * and the plaintext buffer's first ciphertext_length - 16 bytes zeroed
 * (nothing unauthenticated released). PSA_ERROR_INVALID_ARGUMENT when shorter
 * than a tag, PSA_ERROR_BUFFER_TOO_SMALL when plaintext_size is short. */
psa_status_t certgate_record_open(const certgate_record_key *key, const uint8_t *nonce, const uint8_t *aad,
                                  size_t aad_length, const uint8_t *ciphertext, size_t ciphertext_length,
                                  uint8_t *plaintext, size_t plaintext_size, size_t *plaintext_length);

/* Since the start: keys made and freed, records sealed and opened (tag
 * failures included in opens, and counted in open_failures). Proof for tests
 * that TLS records take this path. */
typedef struct cg_record_key_counts {
    uint64_t keys;
    uint64_t keys_freed;
    uint64_t fast_keys; /* of keys: gcm_fast's */
    uint64_t seals;
    uint64_t opens;
    uint64_t open_failures;
} cg_record_key_counts;
void cg_record_key_counts_get(cg_record_key_counts *out);

/* Tests: keys made after cg_record_key_prefer_fast(false) use nettle even
 * where gcm_fast could run; true (the default) gives gcm_fast back. */
void cg_record_key_prefer_fast(bool allowed);

/* Bytes of a key object of this key length (for tests that watch the
 * allocator); 0 if not taken. */
size_t cg_record_key_size(size_t key_length);

#endif
