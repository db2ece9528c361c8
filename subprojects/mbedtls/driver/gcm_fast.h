/* AES-GCM for small messages (TLS records) with AES-NI and PCLMULQDQ on
 * x86-64: the AES key schedule and the GHASH key (H^1..H^16) expanded once,
 * then one call per message. 96-bit nonces and 16-byte tags only; AES-128
 * and AES-256. The functions are compiled for those instructions alone
 * (target attributes), so a caller must check cg_gcm_fast_available() once
 * and keep another implementation for CPUs without them: on such a CPU (or
 * off x86-64) cg_gcm_key_init returns false and nothing else may be called.
 *
 * Limits are the caller's: len at most 2^36 - 32 bytes (NIST SP 800-38D;
 * the 32-bit block counter would wrap after that). */
#ifndef CERTGATE_GCM_FAST_H
#define CERTGATE_GCM_FAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Round keys and powers of H; opaque. The caller provides cg_gcm_key_size()
 * bytes aligned to 16 (malloc's alignment on x86-64). */
typedef struct cg_gcm_key cg_gcm_key;

/* This CPU has AES-NI, PCLMULQDQ, SSSE3 and SSE4.1 (x86-64 only). */
bool cg_gcm_fast_available(void);

size_t cg_gcm_key_size(void);

/* Expands key (bits: 128 or 256). False, k untouched: another key size, k
 * not aligned to 16, or !cg_gcm_fast_available(). */
bool cg_gcm_key_init(cg_gcm_key *k, const uint8_t *key, size_t bits);

/* Tests: keys set up after cg_gcm_fast_allow_avx(false) run the SSE-encoded
 * code even where the CPU has AVX (both encodings are built; AVX is chosen
 * where present). Not for concurrent use with cg_gcm_key_init. */
void cg_gcm_fast_allow_avx(bool allowed);

/* Zeroes all cg_gcm_key_size() bytes of k. */
void cg_gcm_key_wipe(cg_gcm_key *k);

/* Encrypts len bytes of in to out (out == in allowed, other overlaps not)
 * and writes the tag over nonce, aad and the ciphertext. */
void cg_gcm_seal(const cg_gcm_key *k, const uint8_t nonce[12], const uint8_t *aad, size_t aad_len,
                 const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[16]);

/* Decrypts len bytes of in to out (out == in allowed) and checks tag in
 * constant time. A mismatch: false, and out's len bytes zeroed. */
bool cg_gcm_open(const cg_gcm_key *k, const uint8_t nonce[12], const uint8_t *aad, size_t aad_len,
                 const uint8_t *in, size_t len, const uint8_t tag[16], uint8_t *out);

#endif
