/* certgate's PSA driver encrypts and decrypts AES-GCM through nettle
 * (subprojects/mbedtls/driver/aead.c): psa_aead_encrypt / psa_aead_decrypt,
 * as mbedTLS's TLS record layer calls them (in place, 12-byte nonce, 5 or 13
 * bytes of AAD), must give mbedTLS's built-in GCM results for every length,
 * refuse a tampered record without releasing plaintext, and leave what the
 * driver does not take (AES-192, shortened tags, other nonce lengths,
 * ChaCha20-Poly1305) to mbedTLS's own code. (The TLS record keys themselves
 * are held by mbedTLS's transform, patch 0009: tests/platform/
 * test_record_key.c.) Built with -Dmbedtls=bundled only (a system mbedTLS
 * has no driver). tests/meson.build runs it twice: as the CPU is, and with
 * NETTLE_FAT_OVERRIDE=none (nettle's generic code, which writes the whole
 * GHASH table). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/gcm.h>

#include <mbedtls/chachapoly.h>
#include <mbedtls/gcm.h>
#include <mbedtls/platform.h>
#include <mbedtls/platform_util.h>
#include <psa/crypto.h>

#include "psa_test_support.h"

#include "certgate_psa_aead.h"

#define TAG 16
#define MAX_TEXT 17000

static mbedtls_svc_key_id_t import_at(psa_key_lifetime_t lifetime, psa_key_type_t type, const uint8_t *key,
                                      size_t bytes, psa_algorithm_t alg)
{
    psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_lifetime(&a, lifetime);
    psa_set_key_type(&a, type);
    psa_set_key_usage_flags(&a, PSA_KEY_USAGE_ENCRYPT | PSA_KEY_USAGE_DECRYPT);
    psa_set_key_algorithm(&a, alg);
    mbedtls_svc_key_id_t id;
    assert_int_equal(psa_import_key(&a, key, bytes, &id), PSA_SUCCESS);
    return id;
}

static mbedtls_svc_key_id_t import(psa_key_type_t type, const uint8_t *key, size_t bytes, psa_algorithm_t alg)
{
    psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&a, type);
    psa_set_key_usage_flags(&a, PSA_KEY_USAGE_ENCRYPT | PSA_KEY_USAGE_DECRYPT);
    psa_set_key_algorithm(&a, alg);
    mbedtls_svc_key_id_t id;
    assert_int_equal(psa_import_key(&a, key, bytes, &id), PSA_SUCCESS);
    return id;
}

/* mbedTLS's built-in GCM, through its own API (not PSA): the reference. */
static void reference_gcm(const uint8_t *key, size_t bytes, const uint8_t *nonce, size_t nonce_len,
                          const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t n, uint8_t *out,
                          uint8_t *tag, size_t tag_len)
{
    mbedtls_gcm_context g;
    mbedtls_gcm_init(&g);
    assert_int_equal(mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, (unsigned)bytes * 8), 0);
    assert_int_equal(mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, n, nonce, nonce_len, aad, aad_len, in, out,
                                               tag_len, tag),
                     0);
    mbedtls_gcm_free(&g);
}

static cg_psa_aead_counts counts(void)
{
    cg_psa_aead_counts c;
    cg_psa_aead_counts_get(&c);
    return c;
}

/* A test's state: the lifetime its keys are imported with (local keys,
 * which reach the driver's transparent entry points). */
static psa_key_lifetime_t local_keys = PSA_KEY_LIFETIME_VOLATILE;

static psa_key_lifetime_t lifetime_of(void **state)
{
    return *(const psa_key_lifetime_t *)*state;
}

/* The counters of the entry points that keys of this lifetime reach. */
static uint64_t sealed(cg_psa_aead_counts c, psa_key_lifetime_t lifetime)
{
    (void)lifetime;
    return c.encrypts;
}

static uint64_t opened(cg_psa_aead_counts c, psa_key_lifetime_t lifetime)
{
    (void)lifetime;
    return c.decrypts;
}

static void hex(uint8_t *out, const char *h)
{
    for (size_t i = 0; h[2 * i]; i++) {
        char two[3] = { h[2 * i], h[2 * i + 1], 0 };
        out[i] = (uint8_t)strtoul(two, NULL, 16);
    }
}

/* The GCM specification's test case 4 (AES-128, 60 bytes, 20 bytes of AAD). */
static void test_known_vector(void **state)
{
    psa_key_lifetime_t lifetime = lifetime_of(state);
    uint8_t key[16], nonce[12], aad[20], pt[60], want[60 + TAG], out[60 + TAG];
    hex(key, "feffe9928665731c6d6a8f9467308308");
    hex(nonce, "cafebabefacedbaddecaf888");
    hex(aad, "feedfacedeadbeeffeedfacedeadbeefabaddad2");
    hex(pt, "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
            "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    hex(want, "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
              "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
              "5bc94fbc3221a5db94fae95ae7121a47");
    mbedtls_svc_key_id_t id = import_at(lifetime, PSA_KEY_TYPE_AES, key, sizeof key, PSA_ALG_GCM);
    cg_psa_aead_counts before = counts();
    size_t len = 0;
    assert_int_equal(psa_aead_encrypt(id, PSA_ALG_GCM, nonce, 12, aad, 20, pt, 60, out, sizeof out, &len),
                     PSA_SUCCESS);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(out, want, sizeof want);
    uint8_t back[60];
    assert_int_equal(psa_aead_decrypt(id, PSA_ALG_GCM, nonce, 12, aad, 20, want, sizeof want, back, sizeof back, &len),
                     PSA_SUCCESS);
    assert_int_equal(len, 60);
    assert_memory_equal(back, pt, 60);
    cg_psa_aead_counts after = counts();
    assert_int_equal(sealed(after, lifetime) - sealed(before, lifetime), 1);
    assert_int_equal(opened(after, lifetime) - opened(before, lifetime), 1);
    psa_destroy_key(id);
}

/* Random lengths 0..17000 (beyond a 16 KiB record), AAD 0..64 bytes, both key
 * sizes, separate buffers and in place: the built-in code's ciphertext and
 * tag, and the plaintext back. */
static void test_random_lengths_against_builtin(void **state)
{
    psa_key_lifetime_t lifetime = lifetime_of(state);
    uint8_t *pt = malloc(MAX_TEXT), *want = malloc(MAX_TEXT + TAG), *buf = malloc(MAX_TEXT + TAG);
    assert_non_null(pt);
    assert_non_null(want);
    assert_non_null(buf);
    for (int round = 0; round < 600; round++) {
        size_t bytes = round % 2 ? 32 : 16;
        size_t n = round < 100 ? (size_t)round : round < 140 ? 16384 + (size_t)round % 7 : next_u32() % (MAX_TEXT + 1);
        size_t aad_len = round % 3 == 0 ? 13 : round % 3 == 1 ? 5 : next_u32() % 65;
        bool in_place = round % 4 >= 2;
        uint8_t key[32], nonce[12], aad[64];
        fill(key, bytes);
        fill(nonce, sizeof nonce);
        fill(aad, aad_len);
        fill(pt, n);
        reference_gcm(key, bytes, nonce, 12, aad, aad_len, pt, n, want, want + n, TAG);

        mbedtls_svc_key_id_t id = import_at(lifetime, PSA_KEY_TYPE_AES, key, bytes, PSA_ALG_GCM);
        cg_psa_aead_counts before = counts();
        size_t len = 0;
        if (in_place) {
            memcpy(buf, pt, n);
            assert_int_equal(psa_aead_encrypt(id, PSA_ALG_GCM, nonce, 12, aad, aad_len, buf, n, buf, n + TAG, &len),
                             PSA_SUCCESS);
        } else {
            assert_int_equal(psa_aead_encrypt(id, PSA_ALG_GCM, nonce, 12, aad, aad_len, pt, n, buf, n + TAG, &len),
                             PSA_SUCCESS);
        }
        assert_int_equal(len, n + TAG);
        assert_memory_equal(buf, want, n + TAG);

        if (in_place) {
            assert_int_equal(psa_aead_decrypt(id, PSA_ALG_GCM, nonce, 12, aad, aad_len, buf, n + TAG, buf, n, &len),
                             PSA_SUCCESS);
        } else {
            memset(buf, 0xa5, n + TAG);
            assert_int_equal(psa_aead_decrypt(id, PSA_ALG_GCM, nonce, 12, aad, aad_len, want, n + TAG, buf, n, &len),
                             PSA_SUCCESS);
        }
        assert_int_equal(len, n);
        if (n > 0)
            assert_memory_equal(buf, pt, n);
        cg_psa_aead_counts after = counts();
        assert_int_equal(sealed(after, lifetime) - sealed(before, lifetime), 1);
        assert_int_equal(opened(after, lifetime) - opened(before, lifetime), 1);
        psa_destroy_key(id);
    }
    free(pt);
    free(want);
    free(buf);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Flips a bit of a record (n bytes and the tag in rec), its 12-byte nonce or
 * its 13 bytes of AAD, by what: the ciphertext, the tag, the AAD (the
 * sequence number), the nonce, or the ciphertext and the tag. Returns the
 * random number it used. */
enum { TAMPERINGS = 5 };
static size_t tamper(int what, uint8_t *rec, size_t n, uint8_t *nonce, uint8_t *aad)
{
    size_t bit = next_u32();
    switch (what) {
    case 0: rec[bit % n] ^= (uint8_t)(1u << (bit % 8)); break;
    case 1: rec[n + bit % TAG] ^= (uint8_t)(1u << (bit % 8)); break;
    case 2: aad[bit % 13] ^= (uint8_t)(1u << (bit % 8)); break;
    case 3: nonce[bit % 12] ^= (uint8_t)(1u << (bit % 8)); break;
    case 4: rec[0] ^= 1; rec[n] ^= 1; break;
    }
    return bit;
}

/* A flipped bit in the ciphertext, the tag, the AAD or the nonce:
 * PSA_ERROR_INVALID_SIGNATURE, and no plaintext comes out, in place (the
 * record layer's case, called on the driver itself so that its own wipe is
 * what is seen) or through PSA. */
static void test_tampered_refused(void **state)
{
    (void)state;
    enum { N = 300 };
    uint8_t key[32], nonce[12], aad[13], pt[N], rec[N + TAG], buf[N + TAG];
    for (size_t bytes = 16; bytes <= 32; bytes += 16) {
        fill(key, bytes);
        fill(nonce, sizeof nonce);
        fill(aad, sizeof aad);
        fill(pt, sizeof pt);
        reference_gcm(key, bytes, nonce, 12, aad, sizeof aad, pt, N, rec, rec + N, TAG);
        psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
        psa_set_key_type(&a, PSA_KEY_TYPE_AES);
        psa_set_key_bits(&a, bytes * 8);
        for (int what = 0; what < TAMPERINGS; what++) {
            uint8_t n2[12], a2[13];
            memcpy(buf, rec, sizeof rec);
            memcpy(n2, nonce, sizeof n2);
            memcpy(a2, aad, sizeof a2);
            size_t bit = tamper(what, buf, N, n2, a2);
            size_t len = 12345;
            assert_int_equal(certgate_transparent_aead_decrypt(&a, key, bytes, PSA_ALG_GCM, n2, 12, a2, sizeof a2, buf,
                                                               sizeof buf, buf, N, &len),
                             PSA_ERROR_INVALID_SIGNATURE);
            assert_true(all_zero(buf, N));
            assert_int_equal(len, 12345);

            memcpy(buf, rec, sizeof rec);
            if (what == 0 || what == 4)
                buf[bit % N] ^= 1;
            if (what == 1 || what == 4)
                buf[N + bit % TAG] ^= 1;
            mbedtls_svc_key_id_t id = import(PSA_KEY_TYPE_AES, key, bytes, PSA_ALG_GCM);
            uint8_t out[N];
            memset(out, 0xa5, sizeof out);
            assert_int_equal(psa_aead_decrypt(id, PSA_ALG_GCM, n2, 12, a2, sizeof a2, buf, sizeof buf, out, sizeof out,
                                              &len),
                             PSA_ERROR_INVALID_SIGNATURE);
            assert_true(all_zero(out, N));
            psa_destroy_key(id);
        }
        /* the untouched record still opens */
        size_t len;
        memcpy(buf, rec, sizeof rec);
        assert_int_equal(certgate_transparent_aead_decrypt(&a, key, bytes, PSA_ALG_GCM, nonce, 12, aad, sizeof aad,
                                                           buf, sizeof buf, buf, N, &len),
                         PSA_SUCCESS);
        assert_int_equal(len, N);
        assert_memory_equal(buf, pt, N);
    }
}

/* Short buffers and a ciphertext shorter than a tag: the same errors as
 * mbedTLS's built-in code, nothing written past the buffers. */
static void test_sizes_refused(void **state)
{
    psa_key_lifetime_t lifetime = lifetime_of(state);
    uint8_t key[16], nonce[12], pt[64], out[64 + TAG + 8];
    fill(key, sizeof key);
    fill(nonce, sizeof nonce);
    fill(pt, sizeof pt);
    mbedtls_svc_key_id_t id = import_at(lifetime, PSA_KEY_TYPE_AES, key, sizeof key, PSA_ALG_GCM);
    size_t len;
    memset(out, 0x5a, sizeof out);
    assert_int_equal(psa_aead_encrypt(id, PSA_ALG_GCM, nonce, 12, NULL, 0, pt, 64, out, 64 + TAG - 1, &len),
                     PSA_ERROR_BUFFER_TOO_SMALL);
    assert_int_equal(out[64 + TAG - 1], 0x5a);
    assert_int_equal(psa_aead_encrypt(id, PSA_ALG_GCM, nonce, 12, NULL, 0, pt, 0, out, TAG - 1, &len),
                     PSA_ERROR_BUFFER_TOO_SMALL);
    assert_int_equal(psa_aead_encrypt(id, PSA_ALG_GCM, nonce, 12, NULL, 0, pt, 64, out, 64 + TAG, &len), PSA_SUCCESS);
    uint8_t back[64];
    assert_int_equal(psa_aead_decrypt(id, PSA_ALG_GCM, nonce, 12, NULL, 0, out, 64 + TAG, back, 63, &len),
                     PSA_ERROR_BUFFER_TOO_SMALL);
    assert_int_equal(psa_aead_decrypt(id, PSA_ALG_GCM, nonce, 12, NULL, 0, out, TAG - 1, back, sizeof back, &len),
                     PSA_ERROR_INVALID_ARGUMENT);
    assert_int_equal(psa_aead_decrypt(id, PSA_ALG_GCM, nonce, 12, NULL, 0, out, 64 + TAG, back, 64, &len), PSA_SUCCESS);
    assert_memory_equal(back, pt, 64);
    /* an empty nonce is refused by PSA before any driver */
    assert_int_equal(psa_aead_encrypt(id, PSA_ALG_GCM, nonce, 0, NULL, 0, pt, 64, out, sizeof out, &len),
                     PSA_ERROR_INVALID_ARGUMENT);
    psa_destroy_key(id);
}

/* What the driver does not take runs in mbedTLS's code, with its results,
 * and the driver's counters do not move. */
static void test_others_fall_through(void **state)
{
    (void)state;
    enum { N = 777 };
    uint8_t key[32], nonce[16], aad[13], pt[N], want[N + TAG], out[N + TAG], back[N];
    fill(key, sizeof key);
    fill(nonce, sizeof nonce);
    fill(aad, sizeof aad);
    fill(pt, sizeof pt);
    const struct {
        const char *name;
        psa_key_type_t type;
        size_t bytes, nonce_len, tag_len;
        psa_algorithm_t alg;
    } c[] = {
        { "AES-192-GCM", PSA_KEY_TYPE_AES, 24, 12, 16, PSA_ALG_GCM },
        { "AES-128-GCM, 12-byte tag", PSA_KEY_TYPE_AES, 16, 12, 12, PSA_ALG_AEAD_WITH_SHORTENED_TAG(PSA_ALG_GCM, 12) },
        { "AES-256-GCM, 16-byte nonce", PSA_KEY_TYPE_AES, 32, 16, 16, PSA_ALG_GCM },
        { "AES-128-GCM, 8-byte nonce", PSA_KEY_TYPE_AES, 16, 8, 16, PSA_ALG_GCM },
        { "ChaCha20-Poly1305", PSA_KEY_TYPE_CHACHA20, 32, 12, 16, PSA_ALG_CHACHA20_POLY1305 },
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        if (c[i].type == PSA_KEY_TYPE_CHACHA20) {
            mbedtls_chachapoly_context cp;
            mbedtls_chachapoly_init(&cp);
            assert_int_equal(mbedtls_chachapoly_setkey(&cp, key), 0);
            assert_int_equal(mbedtls_chachapoly_encrypt_and_tag(&cp, N, nonce, aad, sizeof aad, pt, want, want + N), 0);
            mbedtls_chachapoly_free(&cp);
        } else {
            reference_gcm(key, c[i].bytes, nonce, c[i].nonce_len, aad, sizeof aad, pt, N, want, want + N, c[i].tag_len);
        }
        mbedtls_svc_key_id_t id = import(c[i].type, key, c[i].bytes, c[i].alg);
        cg_psa_aead_counts before = counts();
        size_t len;
        assert_int_equal(psa_aead_encrypt(id, c[i].alg, nonce, c[i].nonce_len, aad, sizeof aad, pt, N, out, sizeof out,
                                          &len),
                         PSA_SUCCESS);
        assert_int_equal(len, N + c[i].tag_len);
        assert_memory_equal(out, want, N + c[i].tag_len);
        assert_int_equal(psa_aead_decrypt(id, c[i].alg, nonce, c[i].nonce_len, aad, sizeof aad, out, len, back,
                                          sizeof back, &len),
                         PSA_SUCCESS);
        assert_memory_equal(back, pt, N);
        out[3] ^= 4;
        assert_int_equal(psa_aead_decrypt(id, c[i].alg, nonce, c[i].nonce_len, aad, sizeof aad, out,
                                          N + c[i].tag_len, back, sizeof back, &len),
                         PSA_ERROR_INVALID_SIGNATURE);
        cg_psa_aead_counts after = counts();
        if (after.encrypts != before.encrypts || after.decrypts != before.decrypts)
            fail_msg("%s reached certgate's driver", c[i].name);
        psa_destroy_key(id);
    }
}

/* The driver wipes the part of nettle's table that gcm_set_key writes: with
 * other keys and another fill pattern than the driver's own measurement,
 * nothing is written past it (whole 16-byte entries, within the table). */
static void test_wipe_covers_what_set_key_writes(void **state)
{
    (void)state;
    size_t wiped = cg_psa_aead_table_wiped();
    assert_true(wiped > 0 && wiped % 16 == 0 && wiped <= sizeof(struct gcm_key));
    for (int round = 0; round < 8; round++) {
        uint8_t key[32];
        fill(key, sizeof key);
        union {
            struct gcm_aes128_ctx k128;
            struct gcm_aes256_ctx k256;
        } probe;
        memset(&probe, 0x5a, sizeof probe);
        if (round % 2)
            gcm_aes256_set_key(&probe.k256, key);
        else
            gcm_aes128_set_key(&probe.k128, key);
        const uint8_t *table = (const uint8_t *)&probe;
        for (size_t i = wiped; i < sizeof(struct gcm_key); i++)
            if (table[i] != 0x5a)
                fail_msg("gcm_set_key wrote byte %zu of the table, the driver wipes %zu", i, wiped);
    }
}

/* Worker threads seal and open records at the same time (certgate's
 * workers are threads): each thread's records stay its own, byte for byte
 * mbedTLS's, and the counters add up. */
enum { THREADS = 4, THREAD_ROUNDS = 300 };
typedef struct thread_job {
    uint32_t seed;
    int bad; /* records that differed or did not open */
} thread_job;

/* One record sealed and opened with the key id (whose bytes are key),
 * compared with mbedTLS's built-in GCM; false if anything differed. Called
 * from threads: no cmocka assertion here. */
static bool record_round_trip(mbedtls_svc_key_id_t id, const uint8_t *key, size_t bytes, const uint8_t *nonce,
                              const uint8_t *aad, const uint8_t *pt, size_t n, uint8_t *want, uint8_t *buf,
                              size_t buf_size)
{
    enum { AAD = 13 };
    bool ok = true;
    mbedtls_gcm_context g;
    mbedtls_gcm_init(&g);
    if (mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, (unsigned)bytes * 8) != 0 ||
        mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, n, nonce, 12, aad, AAD, pt, want, TAG, want + n) != 0)
        ok = false;
    mbedtls_gcm_free(&g);
    size_t len;
    memcpy(buf, pt, n);
    if (psa_aead_encrypt(id, PSA_ALG_GCM, nonce, 12, aad, AAD, buf, n, buf, buf_size, &len) != PSA_SUCCESS ||
        len != n + TAG || memcmp(buf, want, n + TAG) != 0)
        ok = false;
    else if (psa_aead_decrypt(id, PSA_ALG_GCM, nonce, 12, aad, AAD, buf, len, buf, buf_size, &len) != PSA_SUCCESS ||
             len != n || memcmp(buf, pt, n) != 0)
        ok = false;
    return ok;
}

/* Each round a new key of the thread's own (local keys). */
static void *thread_records(void *arg)
{
    thread_job *job = arg;
    uint32_t x = job->seed;
    uint8_t key[32], nonce[12], aad[13], pt[2048], want[2048 + TAG], buf[2048 + TAG];
    for (int round = 0; round < THREAD_ROUNDS; round++) {
        size_t bytes = round % 2 ? 32 : 16;
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        size_t n = x % sizeof pt;
        for (size_t i = 0; i < sizeof key; i++)
            key[i] = (uint8_t)(x >> (i % 24)) ^ (uint8_t)i;
        for (size_t i = 0; i < n; i++)
            pt[i] = (uint8_t)(i * 31 + x);
        memset(nonce, (int)(round & 0xff), sizeof nonce);
        memset(aad, (int)(x & 0xff), sizeof aad);
        psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
        psa_set_key_type(&a, PSA_KEY_TYPE_AES);
        psa_set_key_usage_flags(&a, PSA_KEY_USAGE_ENCRYPT | PSA_KEY_USAGE_DECRYPT);
        psa_set_key_algorithm(&a, PSA_ALG_GCM);
        mbedtls_svc_key_id_t id;
        if (psa_import_key(&a, key, bytes, &id) != PSA_SUCCESS) {
            job->bad++;
            continue;
        }
        if (!record_round_trip(id, key, bytes, nonce, aad, pt, n, want, buf, sizeof buf))
            job->bad++;
        psa_destroy_key(id);
    }
    return NULL;
}

/* THREADS threads run fn at once; each must see no bad record, and the
 * entry points of keys of this lifetime must have sealed and opened every
 * record. */
static void run_threads(void *(*fn)(void *), uint32_t seed, psa_key_lifetime_t lifetime)
{
    pthread_t t[THREADS];
    thread_job jobs[THREADS];
    cg_psa_aead_counts before = counts();
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (thread_job){ .seed = seed * (uint32_t)(i + 1), .bad = 0 };
        assert_int_equal(pthread_create(&t[i], NULL, fn, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(jobs[i].bad, 0);
    }
    cg_psa_aead_counts after = counts();
    assert_int_equal(sealed(after, lifetime) - sealed(before, lifetime), THREADS * THREAD_ROUNDS);
    assert_int_equal(opened(after, lifetime) - opened(before, lifetime), THREADS * THREAD_ROUNDS);
}

static void test_threads(void **state)
{
    (void)state;
    run_threads(thread_records, 0x1234567u, local_keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_known_vector, &local_keys),
        cmocka_unit_test_prestate(test_random_lengths_against_builtin, &local_keys),
        cmocka_unit_test(test_tampered_refused),
        cmocka_unit_test_prestate(test_sizes_refused, &local_keys),
        cmocka_unit_test(test_others_fall_through),
        cmocka_unit_test(test_wipe_covers_what_set_key_writes),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
