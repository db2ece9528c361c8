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

static _Atomic uint64_t encrypts, decrypts, opaque_encrypts, opaque_decrypts, opaque_keys, opaque_fallbacks;

void cg_psa_aead_counts_get(cg_psa_aead_counts *out)
{
    out->encrypts = atomic_load_explicit(&encrypts, memory_order_relaxed);
    out->decrypts = atomic_load_explicit(&decrypts, memory_order_relaxed);
    out->opaque_encrypts = atomic_load_explicit(&opaque_encrypts, memory_order_relaxed);
    out->opaque_decrypts = atomic_load_explicit(&opaque_decrypts, memory_order_relaxed);
    out->opaque_keys = atomic_load_explicit(&opaque_keys, memory_order_relaxed);
    out->opaque_fallbacks = atomic_load_explicit(&opaque_fallbacks, memory_order_relaxed);
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

/* The key set from its raw bytes (transparent keys, and opaque import). */
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

/* ---- Opaque keys: the key expanded once, in the key slot -----------------
 *
 * The slot's buffer (allocated by the PSA core with the size below, wiped and
 * freed by it at psa_destroy_key) holds, in this order:
 *   opaque_head: the key's bits and how many bytes of the GHASH table follow;
 *   the GHASH table's first table_written bytes (what gcm_set_key writes on
 *   this CPU: all of it without PCLMUL);
 *   nettle's AES key schedule (struct aes128_ctx or aes256_ctx).
 * A call copies them into a stack context, runs, and wipes what it wrote:
 * the slot is only read, so threads may share the key. */
typedef struct opaque_head {
    uint32_t bits;
    uint32_t table_bytes;
} opaque_head;

static size_t schedule_size(size_t bits)
{
    return bits == 128 ? sizeof(struct aes128_ctx) : bits == 256 ? sizeof(struct aes256_ctx) : 0;
}

static size_t opaque_size(psa_key_type_t type, size_t bits)
{
    if (type != PSA_KEY_TYPE_AES || schedule_size(bits) == 0)
        return 0;
    pthread_once(&table_once, measure_table_written);
    return sizeof(opaque_head) + table_written + schedule_size(bits);
}

size_t certgate_opaque_size_function(psa_key_type_t key_type, size_t key_bits)
{
    return opaque_size(key_type, key_bits);
}

psa_status_t certgate_opaque_import_key(const psa_key_attributes_t *attributes, const uint8_t *data,
                                        size_t data_length, uint8_t *key_buffer, size_t key_buffer_size,
                                        size_t *key_buffer_length, size_t *bits)
{
    size_t data_bits = data_length * 8;
    size_t declared = psa_get_key_bits(attributes);
    /* AES keys for GCM (the full tag) only: nothing else has entry points
     * here. Volatile only: the representation depends on this CPU and this
     * nettle (the table's written part), so it must never be stored. */
    if (psa_get_key_algorithm(attributes) != PSA_ALG_GCM || opaque_size(psa_get_key_type(attributes), data_bits) == 0 ||
        (declared != 0 && declared != data_bits) || !PSA_KEY_LIFETIME_IS_VOLATILE(psa_get_key_lifetime(attributes)))
        return PSA_ERROR_NOT_SUPPORTED;
    size_t need = opaque_size(PSA_KEY_TYPE_AES, data_bits);
    if (key_buffer_size < need)
        return PSA_ERROR_BUFFER_TOO_SMALL;

    gcm_state g;
    gcm_set_raw_key(&g, data, data_bits);
    opaque_head head = { .bits = (uint32_t)data_bits, .table_bytes = (uint32_t)table_written };
    uint8_t *p = key_buffer;
    memcpy(p, &head, sizeof head);
    p += sizeof head;
    memcpy(p, &g.u, table_written); /* the table is first in both contexts */
    p += table_written;
    if (data_bits == 128)
        memcpy(p, &g.u.k128.cipher, sizeof g.u.k128.cipher);
    else
        memcpy(p, &g.u.k256.cipher, sizeof g.u.k256.cipher);
    gcm_wipe(&g);
    *key_buffer_length = need;
    *bits = data_bits;
    atomic_fetch_add_explicit(&opaque_keys, 1, memory_order_relaxed);
    return PSA_SUCCESS;
}

psa_status_t certgate_opaque_export_key(const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                                        size_t key_buffer_size, uint8_t *data, size_t data_size, size_t *data_length)
{
    (void)attributes, (void)key_buffer, (void)key_buffer_size, (void)data, (void)data_size;
    *data_length = 0;
    return PSA_ERROR_NOT_PERMITTED; /* the raw key is not kept; nothing needs it */
}

psa_status_t certgate_opaque_copy_key(const psa_key_attributes_t *attributes, const uint8_t *source_key,
                                      size_t source_key_length, uint8_t *target_key_buffer,
                                      size_t target_key_buffer_size, size_t *target_key_buffer_length)
{
    (void)attributes, (void)source_key, (void)source_key_length, (void)target_key_buffer;
    (void)target_key_buffer_size;
    *target_key_buffer_length = 0;
    return PSA_ERROR_NOT_SUPPORTED;
}

/* The stored key into a stack context; false if the buffer is not one this
 * process wrote for a key of these attributes. */
static bool gcm_load(gcm_state *g, const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                     size_t key_buffer_size)
{
    opaque_head head;
    if (key_buffer_size < sizeof head)
        return false;
    memcpy(&head, key_buffer, sizeof head);
    if (head.bits != psa_get_key_bits(attributes) || head.table_bytes != cg_psa_aead_table_wiped() ||
        key_buffer_size != opaque_size(psa_get_key_type(attributes), head.bits))
        return false;
    const uint8_t *p = key_buffer + sizeof head;
    g->bits = head.bits;
    memcpy(&g->u, p, head.table_bytes);
    p += head.table_bytes;
    if (head.bits == 128)
        memcpy(&g->u.k128.cipher, p, sizeof g->u.k128.cipher);
    else
        memcpy(&g->u.k256.cipher, p, sizeof g->u.k256.cipher);
    return true;
}

/* An opaque key has no other implementation to fall back to: what the
 * driver does not take is NOT_SUPPORTED for good. */
static bool opaque_taken(psa_algorithm_t alg, size_t nonce_length, size_t text_length)
{
    return alg == PSA_ALG_GCM && nonce_length == GCM_NONCE && (uint64_t)text_length <= GCM_MAX_TEXT;
}

psa_status_t certgate_opaque_aead_encrypt(const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                                          size_t key_buffer_size, psa_algorithm_t alg, const uint8_t *nonce,
                                          size_t nonce_length, const uint8_t *additional_data,
                                          size_t additional_data_length, const uint8_t *plaintext,
                                          size_t plaintext_length, uint8_t *ciphertext, size_t ciphertext_size,
                                          size_t *ciphertext_length)
{
    if (!opaque_taken(alg, nonce_length, plaintext_length))
        return PSA_ERROR_NOT_SUPPORTED;
    psa_status_t status = seal_sizes(plaintext_length, ciphertext_size);
    if (status != PSA_SUCCESS)
        return status;
    gcm_state g;
    if (!gcm_load(&g, attributes, key_buffer, key_buffer_size))
        return PSA_ERROR_DATA_CORRUPT;
    atomic_fetch_add_explicit(&opaque_encrypts, 1, memory_order_relaxed);
    gcm_begin(&g, nonce, additional_data, additional_data_length);
    gcm_seal(&g, plaintext, plaintext_length, ciphertext);
    *ciphertext_length = plaintext_length + GCM_TAG;
    return PSA_SUCCESS;
}

psa_status_t certgate_opaque_aead_decrypt(const psa_key_attributes_t *attributes, const uint8_t *key_buffer,
                                          size_t key_buffer_size, psa_algorithm_t alg, const uint8_t *nonce,
                                          size_t nonce_length, const uint8_t *additional_data,
                                          size_t additional_data_length, const uint8_t *ciphertext,
                                          size_t ciphertext_length, uint8_t *plaintext, size_t plaintext_size,
                                          size_t *plaintext_length)
{
    if (!opaque_taken(alg, nonce_length, ciphertext_length))
        return PSA_ERROR_NOT_SUPPORTED;
    psa_status_t status = open_sizes(ciphertext_length, plaintext_size);
    if (status != PSA_SUCCESS)
        return status;
    gcm_state g;
    if (!gcm_load(&g, attributes, key_buffer, key_buffer_size))
        return PSA_ERROR_DATA_CORRUPT;
    atomic_fetch_add_explicit(&opaque_decrypts, 1, memory_order_relaxed);
    gcm_begin(&g, nonce, additional_data, additional_data_length);
    return gcm_open(&g, ciphertext, ciphertext_length - GCM_TAG, plaintext, plaintext_length);
}

psa_status_t certgate_psa_import_record_key(const psa_key_attributes_t *attributes, const uint8_t *data,
                                            size_t data_length, mbedtls_svc_key_id_t *key)
{
    psa_key_lifetime_t lifetime = psa_get_key_lifetime(attributes);
    if (psa_get_key_type(attributes) == PSA_KEY_TYPE_AES && psa_get_key_algorithm(attributes) == PSA_ALG_GCM &&
        (data_length == 16 || data_length == 32) && PSA_KEY_LIFETIME_IS_VOLATILE(lifetime) &&
        PSA_KEY_LIFETIME_GET_LOCATION(lifetime) == PSA_KEY_LOCATION_LOCAL_STORAGE) {
        psa_key_attributes_t opaque = *attributes;
        psa_set_key_lifetime(&opaque, CERTGATE_PSA_KEY_LIFETIME_OPAQUE);
        if (psa_import_key(&opaque, data, data_length, key) == PSA_SUCCESS)
            return PSA_SUCCESS;
        /* TLS never fails because of this: the key goes local */
        atomic_fetch_add_explicit(&opaque_fallbacks, 1, memory_order_relaxed);
    }
    return psa_import_key(attributes, data, data_length, key);
}
