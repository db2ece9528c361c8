/* TLS record keys: AES-GCM with the key expanded once
 * (certgate_record_key.h): gcm_fast (AES-NI, PCLMULQDQ) where the CPU has
 * it, nettle otherwise. */
#include "certgate_record_key.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <nettle/aes.h>
#include <nettle/gcm.h>
#include <nettle/nettle-meta.h>

#include <mbedtls/platform.h>
#include <mbedtls/platform_util.h>

#include "certgate_psa_aead.h" /* cg_psa_aead_table_wiped */
#include "gcm_fast.h"

/* NIST SP 800-38D: at most 2^39 - 256 bits of plaintext per message. */
#define GCM_MAX_TEXT ((UINT64_C(1) << 36) - 32)

/* nettle's key: the AES key schedule, then the part of nettle's GHASH table
 * (struct gcm_key, 4 KiB) that gcm_set_key writes on this CPU: two entries
 * with PCLMUL, all of it with nettle's generic code (measured once, aead.c).
 * The GHASH code reads only what it wrote, so the rest is not kept: ~300
 * bytes a key instead of 4 KiB. */
struct nettle_key {
    union {
        struct aes128_ctx k128;
        struct aes256_ctx k256;
    } cipher;
    union nettle_block16 table[]; /* struct gcm_key's first entries */
};

/* The object: a header, then either gcm_fast's key (its round keys and
 * powers of H; calloc aligns body to 16 as it asks) or nettle's. size is
 * the whole object's, for the wipe. */
struct certgate_record_key {
    size_t size;
    bool fast;                   /* body is a cg_gcm_key, else a struct nettle_key */
    nettle_cipher_func *encrypt; /* nettle's: aes128_encrypt or aes256_encrypt */
    _Alignas(16) unsigned char body[];
};

/* nettle's GHASH code may load its table 16 bytes at a time: calloc's
 * alignment, kept by the offsets */
_Static_assert(offsetof(struct certgate_record_key, body) % 16 == 0, "the key body is 16-byte aligned");
_Static_assert(offsetof(struct nettle_key, table) % 16 == 0, "the GHASH table is 16-byte aligned");

#define HEADER_SIZE offsetof(struct certgate_record_key, body)

static _Atomic uint64_t keys, keys_freed, fast_keys, seals, opens, open_failures;
static _Atomic bool fast_allowed = true; /* cg_record_key_prefer_fast */

void cg_record_key_counts_get(cg_record_key_counts *out)
{
    out->keys = atomic_load_explicit(&keys, memory_order_relaxed);
    out->keys_freed = atomic_load_explicit(&keys_freed, memory_order_relaxed);
    out->fast_keys = atomic_load_explicit(&fast_keys, memory_order_relaxed);
    out->seals = atomic_load_explicit(&seals, memory_order_relaxed);
    out->opens = atomic_load_explicit(&opens, memory_order_relaxed);
    out->open_failures = atomic_load_explicit(&open_failures, memory_order_relaxed);
}

/* gcm_fast on this CPU (asked once, cpuid) and not turned off by a test; a
 * key it then refuses (an allocator that does not align to 16) goes to
 * nettle. */
static bool fast_here(void)
{
    static _Atomic int known; /* 0 not asked, 1 no, 2 yes */
    int v = atomic_load_explicit(&known, memory_order_relaxed);
    if (v == 0) {
        v = cg_gcm_fast_available() ? 2 : 1;
        atomic_store_explicit(&known, v, memory_order_relaxed);
    }
    return v == 2 && atomic_load_explicit(&fast_allowed, memory_order_relaxed);
}

void cg_record_key_prefer_fast(bool allowed)
{
    atomic_store_explicit(&fast_allowed, allowed, memory_order_relaxed);
}

static size_t nettle_key_size(void)
{
    return HEADER_SIZE + sizeof(struct nettle_key) + cg_psa_aead_table_wiped();
}

size_t cg_record_key_size(size_t key_length)
{
    if (key_length != 16 && key_length != 32)
        return 0;
    return fast_here() ? HEADER_SIZE + cg_gcm_key_size() : nettle_key_size();
}

static const cg_gcm_key *fast_key_of(const certgate_record_key *k)
{
    return (const cg_gcm_key *)(const void *)k->body;
}

static const struct nettle_key *nettle_of(const certgate_record_key *k)
{
    return (const struct nettle_key *)(const void *)k->body;
}

static const struct gcm_key *table_of(const certgate_record_key *k)
{
    return (const struct gcm_key *)(const void *)nettle_of(k)->table;
}

certgate_record_key *certgate_record_key_new(const uint8_t *key, size_t key_length)
{
    size_t size = cg_record_key_size(key_length);
    if (size == 0)
        return NULL;

    certgate_record_key *k = mbedtls_calloc(1, size);
    if (k == NULL)
        return NULL;
    k->size = size;
    if (fast_here()) {
        if (cg_gcm_key_init((cg_gcm_key *)(void *)k->body, key, key_length * 8)) {
            k->fast = true;
            atomic_fetch_add_explicit(&keys, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&fast_keys, 1, memory_order_relaxed);
            return k;
        }
        /* refused (not aligned): nettle's key, in an object of its size */
        mbedtls_free(k);
        size = nettle_key_size();
        if ((k = mbedtls_calloc(1, size)) == NULL)
            return NULL;
        k->size = size;
    }
    struct nettle_key *nk = (struct nettle_key *)(void *)k->body;
    size_t table_bytes = size - HEADER_SIZE - sizeof(struct nettle_key);
    if (key_length == 16) {
        aes128_set_encrypt_key(&nk->cipher.k128, key);
        k->encrypt = nettle_aes128.encrypt;
    } else {
        aes256_set_encrypt_key(&nk->cipher.k256, key);
        k->encrypt = nettle_aes256.encrypt;
    }
    /* gcm_set_key writes into a whole table: built on the stack, the
     * written part kept, the stack copy wiped */
    struct gcm_key full;
    gcm_set_key(&full, &nk->cipher, k->encrypt);
    memcpy(nk->table, &full, table_bytes);
    mbedtls_platform_zeroize(&full, table_bytes);
    atomic_fetch_add_explicit(&keys, 1, memory_order_relaxed);
    return k;
}

void certgate_record_key_free(certgate_record_key *k)
{
    if (k == NULL)
        return;
    atomic_fetch_add_explicit(&keys_freed, 1, memory_order_relaxed);
    mbedtls_platform_zeroize(k, k->size);
    mbedtls_free(k);
}

/* The two tags equal, in constant time: two 64-bit words (nettle's
 * memeql_sec goes a byte at a time, ~170 instructions for a tag). */
static int tags_equal(const uint8_t *a, const uint8_t *b)
{
    uint64_t a0, a1, b0, b1;
    memcpy(&a0, a, 8);
    memcpy(&a1, a + 8, 8);
    memcpy(&b0, b, 8);
    memcpy(&b1, b + 8, 8);
    uint64_t diff = (a0 ^ b0) | (a1 ^ b1);
    return (int)(1 & ((diff - 1) >> 63 & ~diff >> 63)); /* 1 iff diff == 0, no branch */
}

/* Per record, the one piece of state: nettle's GCM message context (IV,
 * counter, GHASH accumulator and lengths), on the stack, wiped after. */
psa_status_t certgate_record_seal(const certgate_record_key *k, const uint8_t *nonce, const uint8_t *aad,
                                  size_t aad_length, const uint8_t *plaintext, size_t plaintext_length,
                                  uint8_t *ciphertext, size_t ciphertext_size, size_t *ciphertext_length)
{
    if (ciphertext_size < CERTGATE_RECORD_TAG || ciphertext_size - CERTGATE_RECORD_TAG < plaintext_length)
        return PSA_ERROR_BUFFER_TOO_SMALL;
    if ((uint64_t)plaintext_length > GCM_MAX_TEXT)
        return PSA_ERROR_INVALID_ARGUMENT;
    atomic_fetch_add_explicit(&seals, 1, memory_order_relaxed);
    /* Both implementations take the text in place or apart, not partly
     * overlapping (mbedTLS works in place) */
    if (ciphertext != plaintext && ciphertext < plaintext + plaintext_length &&
        plaintext < ciphertext + plaintext_length + CERTGATE_RECORD_TAG) {
        memmove(ciphertext, plaintext, plaintext_length);
        plaintext = ciphertext;
    }
    if (k->fast) {
        cg_gcm_seal(fast_key_of(k), nonce, aad, aad_length, plaintext, plaintext_length, ciphertext,
                    ciphertext + plaintext_length);
        *ciphertext_length = plaintext_length + CERTGATE_RECORD_TAG;
        return PSA_SUCCESS;
    }
    const struct gcm_key *table = table_of(k);
    struct gcm_ctx m;
    gcm_set_iv(&m, table, CERTGATE_RECORD_NONCE, nonce);
    gcm_update(&m, table, aad_length, aad);
    /* in place when ciphertext == plaintext (the record layer's case) */
    gcm_encrypt(&m, table, &nettle_of(k)->cipher, k->encrypt, plaintext_length, ciphertext, plaintext);
    gcm_digest(&m, table, &nettle_of(k)->cipher, k->encrypt, CERTGATE_RECORD_TAG, ciphertext + plaintext_length);
    mbedtls_platform_zeroize(&m, sizeof m);
    *ciphertext_length = plaintext_length + CERTGATE_RECORD_TAG;
    return PSA_SUCCESS;
}

psa_status_t certgate_record_open(const certgate_record_key *k, const uint8_t *nonce, const uint8_t *aad,
                                  size_t aad_length, const uint8_t *ciphertext, size_t ciphertext_length,
                                  uint8_t *plaintext, size_t plaintext_size, size_t *plaintext_length)
{
    /* the checks and their order of psa_aead_decrypt's */
    if (ciphertext_length < CERTGATE_RECORD_TAG)
        return PSA_ERROR_INVALID_ARGUMENT;
    size_t payload = ciphertext_length - CERTGATE_RECORD_TAG;
    if (payload > plaintext_size)
        return PSA_ERROR_BUFFER_TOO_SMALL;
    if ((uint64_t)payload > GCM_MAX_TEXT)
        return PSA_ERROR_INVALID_ARGUMENT;
    atomic_fetch_add_explicit(&opens, 1, memory_order_relaxed);
    const struct gcm_key *table = table_of(k);
    /* The received tag is kept aside: writing the plaintext may go over it
     * (when plaintext starts after ciphertext). */
    uint8_t received[CERTGATE_RECORD_TAG], computed[CERTGATE_RECORD_TAG];
    memcpy(received, ciphertext + payload, CERTGATE_RECORD_TAG);
    if (plaintext != ciphertext && plaintext < ciphertext + payload && ciphertext < plaintext + payload) {
        memmove(plaintext, ciphertext, payload); /* in place from here (the tag is aside) */
        ciphertext = plaintext;
    }
    if (k->fast) {
        if (!cg_gcm_open(fast_key_of(k), nonce, aad, aad_length, ciphertext, payload, received, plaintext)) {
            atomic_fetch_add_explicit(&open_failures, 1, memory_order_relaxed);
            return PSA_ERROR_INVALID_SIGNATURE; /* plaintext zeroed by cg_gcm_open */
        }
        *plaintext_length = payload;
        return PSA_SUCCESS;
    }
    struct gcm_ctx m;
    gcm_set_iv(&m, table, CERTGATE_RECORD_NONCE, nonce);
    gcm_update(&m, table, aad_length, aad);
    gcm_decrypt(&m, table, &nettle_of(k)->cipher, k->encrypt, payload, plaintext, ciphertext);
    gcm_digest(&m, table, &nettle_of(k)->cipher, k->encrypt, CERTGATE_RECORD_TAG, computed);
    mbedtls_platform_zeroize(&m, sizeof m);
    int same = tags_equal(received, computed);
    mbedtls_platform_zeroize(computed, sizeof computed);
    if (!same) {
        mbedtls_platform_zeroize(plaintext, payload);
        atomic_fetch_add_explicit(&open_failures, 1, memory_order_relaxed);
        return PSA_ERROR_INVALID_SIGNATURE;
    }
    *plaintext_length = payload;
    return PSA_SUCCESS;
}
