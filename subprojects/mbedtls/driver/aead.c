/* AES-GCM through nettle for certgate's PSA driver (certgate_psa_aead.h). */
#include "certgate_psa_aead.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <nettle/gcm.h>
#include <nettle/memops.h>

#include <mbedtls/platform_util.h>

#define GCM_NONCE 12
#define GCM_TAG 16
/* NIST SP 800-38D: at most 2^39 - 256 bits of plaintext per message. */
#define GCM_MAX_TEXT ((UINT64_C(1) << 36) - 32)

static _Atomic uint64_t encrypts, decrypts;

void cg_psa_aead_counts_get(cg_psa_aead_counts *out)
{
    out->encrypts = atomic_load_explicit(&encrypts, memory_order_relaxed);
    out->decrypts = atomic_load_explicit(&decrypts, memory_order_relaxed);
}

/* nettle's context for either key size; set up per call (key schedule and
 * GHASH table), wiped by the caller. */
typedef struct gcm_state {
    size_t bits;
    union {
        struct gcm_aes128_ctx k128;
        struct gcm_aes256_ctx k256;
    } u;
} gcm_state;

/* The wipe. nettle's GCM context is a 4 KiB multiplication table, then the
 * GHASH state and the AES key schedule (gcm.h's GCM_CTX: key, gcm, cipher).
 * With PCLMUL, gcm_set_key writes only the table's first entries (two with
 * nettle 3.8); the generic code writes all 256. Wiping 4 KiB per record
 * costs more than encrypting a small one (~60 ns of ~200), so the driver
 * wipes what nettle writes: the table's written prefix, measured once per
 * process by setting keys over two fill patterns (the code that fills the
 * table does not depend on the key's value, only on the CPU), and everything
 * after the table. */
static size_t table_written; /* bytes of struct gcm_key that set_key writes */
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void measure_table_written(void)
{
    static const uint8_t key[32] = { 0x42, 0x17, 0xa9 };
    size_t last = 0;
    for (int fill = 0; fill < 2; fill++) {
        gcm_state probe;
        const uint8_t pattern = fill ? 0xff : 0x00;
        memset(&probe, pattern, sizeof probe);
        gcm_aes128_set_key(&probe.u.k128, key);
        gcm_aes256_set_key(&probe.u.k256, key); /* same table at the same place */
        const uint8_t *table = (const uint8_t *)&probe.u.k256.key;
        for (size_t i = 0; i < sizeof probe.u.k256.key; i++)
            if (table[i] != pattern && i + 1 > last)
                last = i + 1;
        mbedtls_platform_zeroize(&probe, sizeof probe);
    }
    /* whole table entries (16 bytes), at least one */
    table_written = (last + 15) / 16 * 16;
    if (table_written == 0)
        table_written = sizeof(struct gcm_key);
}

size_t cg_psa_aead_table_wiped(void)
{
    pthread_once(&table_once, measure_table_written);
    return table_written;
}

static void gcm_wipe(gcm_state *g)
{
    _Static_assert(offsetof(struct gcm_aes128_ctx, key) == 0 && offsetof(struct gcm_aes256_ctx, key) == 0,
                   "nettle's GCM context starts with the table");
    _Static_assert(offsetof(struct gcm_aes128_ctx, gcm) == sizeof(struct gcm_key) &&
                       offsetof(struct gcm_aes256_ctx, gcm) == sizeof(struct gcm_key),
                   "the GHASH state and the key schedule follow the table");
    uint8_t *ctx = (uint8_t *)&g->u;
    mbedtls_platform_zeroize(ctx, table_written);
    mbedtls_platform_zeroize(ctx + sizeof(struct gcm_key), sizeof g->u - sizeof(struct gcm_key));
}

/* What the driver takes; anything else goes to mbedTLS's code. The PSA core
 * already checked the key's policy, the algorithm and that a GCM nonce is
 * not empty. */
static bool taken(const psa_key_attributes_t *attributes, size_t key_buffer_size, psa_algorithm_t alg,
                  size_t nonce_length, size_t text_length)
{
    if (alg != PSA_ALG_GCM || nonce_length != GCM_NONCE || psa_get_key_type(attributes) != PSA_KEY_TYPE_AES)
        return false;
    size_t bits = psa_get_key_bits(attributes);
    if ((bits != 128 && bits != 256) || key_buffer_size != bits / 8)
        return false;
    return (uint64_t)text_length <= GCM_MAX_TEXT; /* the built-in code refuses longer ones */
}

/* A message's start: nonce and AAD, on a context whose key is set. */
static void gcm_begin(gcm_state *g, const uint8_t *nonce, const uint8_t *aad, size_t aad_length)
{
    if (g->bits == 128) {
        gcm_aes128_set_iv(&g->u.k128, GCM_NONCE, nonce);
        gcm_aes128_update(&g->u.k128, aad_length, aad);
    } else {
        gcm_aes256_set_iv(&g->u.k256, GCM_NONCE, nonce);
        gcm_aes256_update(&g->u.k256, aad_length, aad);
    }
}

/* The key set from its raw bytes. */
static void gcm_set_raw_key(gcm_state *g, const uint8_t *key, size_t bits)
{
    pthread_once(&table_once, measure_table_written);
    g->bits = bits;
    if (bits == 128)
        gcm_aes128_set_key(&g->u.k128, key);
    else
        gcm_aes256_set_key(&g->u.k256, key);
}

/* Encrypts and wipes g. The caller checked the sizes. */
static void gcm_seal(gcm_state *g, const uint8_t *plaintext, size_t plaintext_length, uint8_t *ciphertext)
{
    /* nettle encrypts in place when ciphertext == plaintext (the record layer's case) */
    if (g->bits == 128) {
        gcm_aes128_encrypt(&g->u.k128, plaintext_length, ciphertext, plaintext);
        gcm_aes128_digest(&g->u.k128, GCM_TAG, ciphertext + plaintext_length);
    } else {
        gcm_aes256_encrypt(&g->u.k256, plaintext_length, ciphertext, plaintext);
        gcm_aes256_digest(&g->u.k256, GCM_TAG, ciphertext + plaintext_length);
    }
    gcm_wipe(g);
}

/* Decrypts and checks the tag, wipes g; payload = ciphertext length without
 * the tag, checked by the caller. */
static psa_status_t gcm_open(gcm_state *g, const uint8_t *ciphertext, size_t payload, uint8_t *plaintext,
                             size_t *plaintext_length)
{
    /* The received tag is kept aside: decrypting in place may write over
     * the ciphertext buffer. */
    uint8_t received[GCM_TAG], computed[GCM_TAG];
    memcpy(received, ciphertext + payload, GCM_TAG);
    if (g->bits == 128) {
        gcm_aes128_decrypt(&g->u.k128, payload, plaintext, ciphertext);
        gcm_aes128_digest(&g->u.k128, GCM_TAG, computed);
    } else {
        gcm_aes256_decrypt(&g->u.k256, payload, plaintext, ciphertext);
        gcm_aes256_digest(&g->u.k256, GCM_TAG, computed);
    }
    gcm_wipe(g);
    int same = memeql_sec(received, computed, GCM_TAG);
    mbedtls_platform_zeroize(computed, sizeof computed);
    if (!same) {
        /* no unauthenticated plaintext leaves the driver */
        mbedtls_platform_zeroize(plaintext, payload);
        return PSA_ERROR_INVALID_SIGNATURE;
    }
    *plaintext_length = payload;
    return PSA_SUCCESS;
}

/* The output and input sizes, as mbedTLS's GCM checks them. */
static psa_status_t seal_sizes(size_t plaintext_length, size_t ciphertext_size)
{
    if (ciphertext_size < GCM_TAG || ciphertext_size - GCM_TAG < plaintext_length)
        return PSA_ERROR_BUFFER_TOO_SMALL;
    return PSA_SUCCESS;
}

static psa_status_t open_sizes(size_t ciphertext_length, size_t plaintext_size)
{
    /* as mbedTLS's psa_aead_unpadded_locate_tag */
    if (ciphertext_length < GCM_TAG)
        return PSA_ERROR_INVALID_ARGUMENT;
    if (ciphertext_length - GCM_TAG > plaintext_size)
        return PSA_ERROR_BUFFER_TOO_SMALL;
    return PSA_SUCCESS;
}

psa_status_t certgate_transparent_aead_encrypt(const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                                               size_t key_buffer_size, psa_algorithm_t alg, const uint8_t *nonce,
                                               size_t nonce_length, const uint8_t *additional_data,
                                               size_t additional_data_length, const uint8_t *plaintext,
                                               size_t plaintext_length, uint8_t *ciphertext, size_t ciphertext_size,
                                               size_t *ciphertext_length)
{
    if (!taken(attributes, key_buffer_size, alg, nonce_length, plaintext_length))
        return PSA_ERROR_NOT_SUPPORTED;
    psa_status_t status = seal_sizes(plaintext_length, ciphertext_size);
    if (status != PSA_SUCCESS)
        return status;
    atomic_fetch_add_explicit(&encrypts, 1, memory_order_relaxed);

    gcm_state g;
    gcm_set_raw_key(&g, key_buffer, key_buffer_size * 8);
    gcm_begin(&g, nonce, additional_data, additional_data_length);
    gcm_seal(&g, plaintext, plaintext_length, ciphertext);
    *ciphertext_length = plaintext_length + GCM_TAG;
    return PSA_SUCCESS;
}

psa_status_t certgate_transparent_aead_decrypt(const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                                               size_t key_buffer_size, psa_algorithm_t alg, const uint8_t *nonce,
                                               size_t nonce_length, const uint8_t *additional_data,
                                               size_t additional_data_length, const uint8_t *ciphertext,
                                               size_t ciphertext_length, uint8_t *plaintext, size_t plaintext_size,
                                               size_t *plaintext_length)
{
    if (!taken(attributes, key_buffer_size, alg, nonce_length, ciphertext_length))
        return PSA_ERROR_NOT_SUPPORTED;
    psa_status_t status = open_sizes(ciphertext_length, plaintext_size);
    if (status != PSA_SUCCESS)
        return status;
    atomic_fetch_add_explicit(&decrypts, 1, memory_order_relaxed);

    gcm_state g;
    gcm_set_raw_key(&g, key_buffer, key_buffer_size * 8);
    gcm_begin(&g, nonce, additional_data, additional_data_length);
    return gcm_open(&g, ciphertext, ciphertext_length - GCM_TAG, plaintext, plaintext_length);
}
