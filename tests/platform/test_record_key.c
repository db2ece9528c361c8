/* TLS record keys (subprojects/mbedtls/driver/record_key.c,
 * certgate_record_key.h): the AES-GCM keys that mbedTLS's transform holds
 * (patch 0009), expanded once and used by ssl_msg.c for every record without
 * the PSA core. Seal and open must give mbedTLS's own GCM results for every
 * length (both key sizes, in place and not), refuse a tampered record with
 * its plaintext zeroed, give psa_aead_*'s errors for short buffers, refuse
 * keys of other lengths, serve threads at once, and wipe the key when it is
 * freed. Every test runs twice: with gcm_fast where the CPU has it (the
 * keys TLS gets here), then with nettle. tests/meson.build runs the program
 * twice: as the CPU is, and with NETTLE_FAT_OVERRIDE=none (nettle's generic
 * code, which writes the whole GHASH table: the key object then keeps all of
 * it). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/gcm.h>
#include <mbedtls/platform.h>
#include <psa/crypto.h>

#include "psa_test_support.h"

#include "certgate_record_key.h"
#include "gcm_fast.h"

#define TAG 16
#define MAX_TEXT 17000

/* mbedTLS's built-in GCM (not PSA, not the driver): the reference. */
static void reference_gcm(const uint8_t *key, size_t bytes, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                          const uint8_t *in, size_t n, uint8_t *out, uint8_t *tag)
{
    mbedtls_gcm_context g;
    mbedtls_gcm_init(&g);
    assert_int_equal(mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, (unsigned)bytes * 8), 0);
    assert_int_equal(mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, n, nonce, 12, aad, aad_len, in, out, TAG, tag),
                     0);
    mbedtls_gcm_free(&g);
}

static cg_record_key_counts counts(void)
{
    cg_record_key_counts c;
    cg_record_key_counts_get(&c);
    return c;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void hex(uint8_t *out, const char *h)
{
    for (size_t i = 0; h[2 * i]; i++) {
        char two[3] = { h[2 * i], h[2 * i + 1], 0 };
        out[i] = (uint8_t)strtoul(two, NULL, 16);
    }
}

/* The GCM specification's test cases 4 (AES-128) and 16 (AES-256): 60 bytes,
 * 20 bytes of AAD. */
static void test_known_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *key, *ct;
    } v[] = {
        { "feffe9928665731c6d6a8f9467308308",
          "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
          "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
          "5bc94fbc3221a5db94fae95ae7121a47" },
        { "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
          "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
          "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
          "76fc6ece0f4e1768cddf8853bb2d551b" },
    };
    for (size_t i = 0; i < 2; i++) {
        uint8_t key[32], nonce[12], aad[20], pt[60], want[60 + TAG], out[60 + TAG], back[60];
        size_t bytes = strlen(v[i].key) / 2;
        hex(key, v[i].key);
        hex(nonce, "cafebabefacedbaddecaf888");
        hex(aad, "feedfacedeadbeeffeedfacedeadbeefabaddad2");
        hex(pt, "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
        hex(want, v[i].ct);
        cg_record_key_counts before = counts();
        certgate_record_key *k = certgate_record_key_new(key, bytes);
        assert_non_null(k);
        size_t len = 0;
        assert_int_equal(certgate_record_seal(k, nonce, aad, 20, pt, 60, out, sizeof out, &len), PSA_SUCCESS);
        assert_int_equal(len, sizeof want);
        assert_memory_equal(out, want, sizeof want);
        assert_int_equal(certgate_record_open(k, nonce, aad, 20, want, sizeof want, back, sizeof back, &len),
                         PSA_SUCCESS);
        assert_int_equal(len, 60);
        assert_memory_equal(back, pt, 60);
        certgate_record_key_free(k);
        cg_record_key_counts after = counts();
        assert_int_equal(after.keys - before.keys, 1);
        assert_int_equal(after.keys_freed - before.keys_freed, 1);
        assert_int_equal(after.seals - before.seals, 1);
        assert_int_equal(after.opens - before.opens, 1);
        assert_int_equal(after.open_failures - before.open_failures, 0);
    }
}

/* Random lengths 0..17000 (beyond a 16 KiB record), AAD 0..64 bytes (5 and
 * 13 as TLS 1.3 and 1.2 give), both key sizes, in place and not, one key for
 * many records (the object is not changed by a call). */
static void test_random_lengths_against_builtin(void **state)
{
    (void)state;
    uint8_t *pt = malloc(MAX_TEXT), *want = malloc(MAX_TEXT + TAG), *buf = malloc(MAX_TEXT + TAG);
    assert_non_null(pt);
    assert_non_null(want);
    assert_non_null(buf);
    for (size_t bytes = 16; bytes <= 32; bytes += 16) {
        uint8_t key[32];
        fill(key, bytes);
        certgate_record_key *k = certgate_record_key_new(key, bytes);
        assert_non_null(k);
        for (int round = 0; round < 300; round++) {
            size_t n = round < 80 ? (size_t)round : round < 100 ? 16384 + (size_t)round % 7 : next_u32() % (MAX_TEXT + 1);
            size_t aad_len = round % 3 == 0 ? 13 : round % 3 == 1 ? 5 : next_u32() % 65;
            bool in_place = round % 4 >= 2;
            uint8_t nonce[12], aad[64];
            fill(nonce, sizeof nonce);
            fill(aad, aad_len);
            fill(pt, n);
            reference_gcm(key, bytes, nonce, aad, aad_len, pt, n, want, want + n);
            size_t len = 0;
            if (in_place) {
                memcpy(buf, pt, n);
                assert_int_equal(certgate_record_seal(k, nonce, aad, aad_len, buf, n, buf, n + TAG, &len), PSA_SUCCESS);
            } else {
                assert_int_equal(certgate_record_seal(k, nonce, aad, aad_len, pt, n, buf, n + TAG, &len), PSA_SUCCESS);
            }
            assert_int_equal(len, n + TAG);
            assert_memory_equal(buf, want, n + TAG);
            if (in_place) {
                assert_int_equal(certgate_record_open(k, nonce, aad, aad_len, buf, n + TAG, buf, n + TAG, &len),
                                 PSA_SUCCESS);
            } else {
                memset(buf, 0xa5, n + TAG);
                assert_int_equal(certgate_record_open(k, nonce, aad, aad_len, want, n + TAG, buf, n, &len),
                                 PSA_SUCCESS);
            }
            assert_int_equal(len, n);
            if (n > 0)
                assert_memory_equal(buf, pt, n);
        }
        certgate_record_key_free(k);
    }
    free(pt);
    free(want);
    free(buf);
}

/* A flipped bit in the ciphertext, the tag, the AAD (the sequence number) or
 * the nonce, or the wrong key: PSA_ERROR_INVALID_SIGNATURE (ssl_msg.c turns
 * it into MBEDTLS_ERR_SSL_INVALID_MAC), the plaintext zeroed in place and in
 * a separate buffer, the length not set. */
static void test_tampered_refused(void **state)
{
    (void)state;
    enum { N = 300 };
    uint8_t key[32], other[32], nonce[12], aad[13], pt[N], rec[N + TAG], buf[N + TAG], out[N];
    for (size_t bytes = 16; bytes <= 32; bytes += 16) {
        fill(key, bytes);
        memcpy(other, key, bytes);
        other[bytes - 1] ^= 0x80;
        fill(nonce, sizeof nonce);
        fill(aad, sizeof aad);
        fill(pt, sizeof pt);
        reference_gcm(key, bytes, nonce, aad, sizeof aad, pt, N, rec, rec + N);
        certgate_record_key *k = certgate_record_key_new(key, bytes), *wrong = certgate_record_key_new(other, bytes);
        assert_non_null(k);
        assert_non_null(wrong);
        cg_record_key_counts before = counts();
        for (int what = 0; what < 6; what++) {
            for (int in_place = 0; in_place < 2; in_place++) {
                uint8_t n2[12], a2[13];
                memcpy(buf, rec, sizeof rec);
                memcpy(n2, nonce, sizeof n2);
                memcpy(a2, aad, sizeof a2);
                size_t bit = next_u32();
                const certgate_record_key *use = k;
                switch (what) {
                case 0: buf[bit % N] ^= (uint8_t)(1u << (bit % 8)); break;
                case 1: buf[N + bit % TAG] ^= (uint8_t)(1u << (bit % 8)); break;
                case 2: a2[bit % 13] ^= (uint8_t)(1u << (bit % 8)); break;
                case 3: n2[bit % 12] ^= (uint8_t)(1u << (bit % 8)); break;
                case 4: buf[0] ^= 1; buf[N] ^= 1; break;
                case 5: use = wrong; break;
                }
                uint8_t *to = in_place ? buf : out;
                memset(out, 0xa5, sizeof out);
                size_t len = 12345;
                assert_int_equal(certgate_record_open(use, n2, a2, sizeof a2, buf, sizeof buf, to, N, &len),
                                 PSA_ERROR_INVALID_SIGNATURE);
                assert_true(all_zero(to, N));
                assert_int_equal(len, 12345);
            }
        }
        cg_record_key_counts after = counts();
        assert_int_equal(after.open_failures - before.open_failures, 12);
        assert_int_equal(after.opens - before.opens, 12);
        /* the untouched record still opens */
        size_t len;
        memcpy(buf, rec, sizeof rec);
        assert_int_equal(certgate_record_open(k, nonce, aad, sizeof aad, buf, sizeof buf, buf, N, &len), PSA_SUCCESS);
        assert_int_equal(len, N);
        assert_memory_equal(buf, pt, N);
        certgate_record_key_free(k);
        certgate_record_key_free(wrong);
    }
}

/* Short buffers and a ciphertext shorter than a tag: psa_aead_*'s errors
 * (mbedTLS's GCM behind PSA gives the same), nothing written past the
 * buffers. */
static void test_sizes_refused(void **state)
{
    (void)state;
    uint8_t key[16], nonce[12], pt[64], out[64 + TAG + 8], back[64 + 8];
    fill(key, sizeof key);
    fill(nonce, sizeof nonce);
    fill(pt, sizeof pt);
    certgate_record_key *k = certgate_record_key_new(key, sizeof key);
    assert_non_null(k);
    size_t len = 777;
    memset(out, 0x5a, sizeof out);
    assert_int_equal(certgate_record_seal(k, nonce, NULL, 0, pt, 64, out, 64 + TAG - 1, &len),
                     PSA_ERROR_BUFFER_TOO_SMALL);
    assert_int_equal(certgate_record_seal(k, nonce, NULL, 0, pt, 0, out, TAG - 1, &len), PSA_ERROR_BUFFER_TOO_SMALL);
    for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 0x5a);
    assert_int_equal(len, 777);
    assert_int_equal(certgate_record_seal(k, nonce, NULL, 0, pt, 64, out, 64 + TAG, &len), PSA_SUCCESS);
    assert_int_equal(out[64 + TAG], 0x5a);
    memset(back, 0x5a, sizeof back);
    len = 777;
    assert_int_equal(certgate_record_open(k, nonce, NULL, 0, out, 64 + TAG, back, 63, &len),
                     PSA_ERROR_BUFFER_TOO_SMALL);
    assert_int_equal(certgate_record_open(k, nonce, NULL, 0, out, TAG - 1, back, sizeof back, &len),
                     PSA_ERROR_INVALID_ARGUMENT);
    for (size_t i = 0; i < sizeof back; i++)
        assert_int_equal(back[i], 0x5a);
    assert_int_equal(len, 777);
    /* an empty record: only a tag */
    assert_int_equal(certgate_record_seal(k, nonce, NULL, 0, pt, 0, out, TAG, &len), PSA_SUCCESS);
    assert_int_equal(len, TAG);
    assert_int_equal(certgate_record_open(k, nonce, NULL, 0, out, TAG, back, 0, &len), PSA_SUCCESS);
    assert_int_equal(len, 0);
    assert_int_equal(certgate_record_open(k, nonce, NULL, 0, out, 64 + TAG, back, 64, &len), PSA_ERROR_INVALID_SIGNATURE);
    certgate_record_key_free(k);
}

/* Only AES-128 and AES-256 keys: anything else is not taken (NULL, the
 * caller imports it into PSA), and no key object is counted. */
static void test_other_lengths_not_taken(void **state)
{
    (void)state;
    uint8_t key[64];
    fill(key, sizeof key);
    cg_record_key_counts before = counts();
    static const size_t lengths[] = { 0, 1, 15, 17, 24, 31, 33, 64 };
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        assert_null(certgate_record_key_new(key, lengths[i]));
        assert_int_equal(cg_record_key_size(lengths[i]), 0);
    }
    assert_int_equal(counts().keys, before.keys);
    certgate_record_key_free(NULL);
    assert_int_equal(counts().keys_freed, before.keys_freed);
}

/* mbedTLS's allocator, watched: the key object is the one block of its size
 * allocated by certgate_record_key_new; when it is freed, is it all zero?
 * fail_size makes the next allocation of that size fail. */
static struct {
    size_t size;
    void *block;
    int allocations;
    bool freed, zero;
    size_t fail_size;
} watch;

static void *watch_calloc(size_t n, size_t size)
{
    if (watch.fail_size && n * size == watch.fail_size) {
        watch.fail_size = 0;
        return NULL;
    }
    void *p = calloc(n, size);
    if (p && watch.size && n * size == watch.size) {
        watch.block = p;
        watch.allocations++;
    }
    return p;
}

static void watch_free(void *p)
{
    if (p && p == watch.block) {
        watch.freed = true;
        watch.zero = all_zero(p, watch.size);
        watch.block = NULL;
    }
    free(p);
}

/* certgate_record_key_free wipes the expanded key before it frees it; an
 * allocation that fails gives NULL (TLS then imports into PSA). Prints the
 * object's size per key. */
static void test_free_wipes(void **state)
{
    (void)state;
    for (size_t bytes = 16; bytes <= 32; bytes += 16) {
        uint8_t key[32];
        fill(key, bytes);
        memset(&watch, 0, sizeof watch);
        watch.size = cg_record_key_size(bytes);
        print_message("AES-%zu-GCM record key: %zu bytes\n", bytes * 8, watch.size);
        mbedtls_platform_set_calloc_free(watch_calloc, watch_free);
        certgate_record_key *k = certgate_record_key_new(key, bytes);
        assert_non_null(k);
        assert_int_equal(watch.allocations, 1);
        assert_ptr_equal(watch.block, k);
        assert_false(all_zero(watch.block, watch.size)); /* the expanded key is there */
        uint8_t nonce[12] = { 7 }, pt[100] = { 9 }, out[100 + TAG];
        size_t len;
        assert_int_equal(certgate_record_seal(k, nonce, NULL, 0, pt, 100, out, sizeof out, &len), PSA_SUCCESS);
        assert_false(watch.freed);
        certgate_record_key_free(k);
        assert_true(watch.freed);
        assert_true(watch.zero);

        watch.fail_size = watch.size;
        assert_null(certgate_record_key_new(key, bytes));
        mbedtls_platform_set_calloc_free(calloc, free);
    }
}

/* Threads sealing and opening with one shared key each at once (the object
 * is only read), every result checked against the reference. */
static certgate_record_key *shared[2];
static uint8_t shared_key[2][32];

static void *thread_main(void *arg)
{
    uint32_t seed = (uint32_t)(uintptr_t)arg;
    uint8_t nonce[12], aad[13], pt[2000], want[2000 + TAG], buf[2000 + TAG];
    for (int round = 0; round < 200; round++) {
        seed = seed * 1103515245u + 12345u;
        size_t which = seed >> 31, n = (seed >> 8) % sizeof pt;
        for (size_t i = 0; i < sizeof nonce; i++)
            nonce[i] = (uint8_t)(seed >> (i % 4 * 8)) ^ (uint8_t)i;
        memset(aad, (int)round, sizeof aad);
        for (size_t i = 0; i < n; i++)
            pt[i] = (uint8_t)(i * 31 + seed);
        reference_gcm(shared_key[which], which ? 32 : 16, nonce, aad, sizeof aad, pt, n, want, want + n);
        size_t len;
        memcpy(buf, pt, n);
        if (certgate_record_seal(shared[which], nonce, aad, sizeof aad, buf, n, buf, n + TAG, &len) != PSA_SUCCESS ||
            memcmp(buf, want, n + TAG) != 0)
            return (void *)1;
        if (certgate_record_open(shared[which], nonce, aad, sizeof aad, buf, n + TAG, buf, n + TAG, &len) !=
                PSA_SUCCESS ||
            len != n || memcmp(buf, pt, n) != 0)
            return (void *)1;
    }
    return NULL;
}

static void test_threads_share_keys(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        fill(shared_key[i], 32);
        shared[i] = certgate_record_key_new(shared_key[i], i ? 32 : 16);
        assert_non_null(shared[i]);
    }
    pthread_t t[8];
    for (uintptr_t i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&t[i], NULL, thread_main, (void *)(i * 0x9e3779b9u + 1)), 0);
    for (int i = 0; i < 8; i++) {
        void *r;
        assert_int_equal(pthread_join(t[i], &r), 0);
        assert_null(r);
    }
    certgate_record_key_free(shared[0]);
    certgate_record_key_free(shared[1]);
}

/* The implementation asked for is the one keys get: gcm_fast where the CPU
 * has it (unless turned off), nettle otherwise. */
static bool group_fast; /* the group running prefers gcm_fast */

static void test_implementation_chosen(void **state)
{
    (void)state;
    uint8_t key[32];
    fill(key, sizeof key);
    for (size_t bytes = 16; bytes <= 32; bytes += 16) {
        cg_record_key_counts before, after;
        cg_record_key_counts_get(&before);
        certgate_record_key *k = certgate_record_key_new(key, bytes);
        assert_non_null(k);
        cg_record_key_counts_get(&after);
        assert_int_equal(after.keys - before.keys, 1);
        bool fast = group_fast && cg_gcm_fast_available();
        assert_int_equal(after.fast_keys - before.fast_keys, fast ? 1 : 0);
        print_message("AES-%zu-GCM record key: %s\n", bytes * 8, fast ? "gcm_fast" : "nettle");
        certgate_record_key_free(k);
    }
}

/* Text and output overlapping but not at the same address (mbedTLS works in
 * place; another caller might not): the reference's result either way. */
static void test_overlapping_buffers(void **state)
{
    (void)state;
    static const size_t lengths[] = { 0, 1, 15, 16, 17, 77, 186, 300 };
    static const int shifts[] = { -33, -17, -16, -5, -1, 1, 5, 16, 17, 33 };
    enum { BASE = 64 };
    uint8_t key[32], nonce[12], aad[13], pt[300], want[300 + TAG], area[BASE + 300 + TAG + BASE];
    for (size_t bytes = 16; bytes <= 32; bytes += 16) {
        fill(key, bytes);
        certgate_record_key *k = certgate_record_key_new(key, bytes);
        assert_non_null(k);
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
            for (size_t si = 0; si < sizeof shifts / sizeof shifts[0]; si++) {
                size_t n = lengths[li];
                int d = shifts[si];
                fill(nonce, sizeof nonce);
                fill(aad, sizeof aad);
                fill(pt, n);
                reference_gcm(key, bytes, nonce, aad, sizeof aad, pt, n, want, want + n);
                size_t len = 0;
                /* seal: the plaintext at BASE, the record written at BASE + d */
                memcpy(area + BASE, pt, n);
                assert_int_equal(certgate_record_seal(k, nonce, aad, sizeof aad, area + BASE, n, area + BASE + d,
                                                      n + TAG, &len),
                                 PSA_SUCCESS);
                assert_int_equal(len, n + TAG);
                assert_memory_equal(area + BASE + d, want, n + TAG);
                /* open: the record at BASE, the plaintext written at BASE + d */
                memcpy(area + BASE, want, n + TAG);
                assert_int_equal(certgate_record_open(k, nonce, aad, sizeof aad, area + BASE, n + TAG, area + BASE + d,
                                                      n, &len),
                                 PSA_SUCCESS);
                assert_int_equal(len, n);
                if (n > 0)
                    assert_memory_equal(area + BASE + d, pt, n);
            }
        }
        certgate_record_key_free(k);
    }
}

static int prefer_fast(void **state)
{
    group_fast = true;
    cg_record_key_prefer_fast(true);
    return setup(state);
}

static int prefer_nettle(void **state)
{
    group_fast = false;
    cg_record_key_prefer_fast(false);
    return setup(state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_implementation_chosen),
        cmocka_unit_test(test_overlapping_buffers),
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_random_lengths_against_builtin),
        cmocka_unit_test(test_tampered_refused),
        cmocka_unit_test(test_sizes_refused),
        cmocka_unit_test(test_other_lengths_not_taken),
        cmocka_unit_test(test_free_wipes),
        cmocka_unit_test(test_threads_share_keys),
    };
    if (!cg_gcm_fast_available())
        print_message("no AES-NI/PCLMULQDQ here: both groups use nettle\n");
    int failed = cmocka_run_group_tests_name("gcm_fast", tests, prefer_fast, teardown);
    failed += cmocka_run_group_tests_name("nettle", tests, prefer_nettle, teardown);
    return failed;
}
