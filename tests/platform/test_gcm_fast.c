/* The AES-NI/PCLMULQDQ AES-GCM (subprojects/mbedtls/driver/gcm_fast.c):
 * the GCM specification's test cases (McGrew and Viega, AES-128 and AES-256,
 * 96-bit IV, with and without AAD, empty text), then against nettle's
 * gcm_aes128/gcm_aes256 for every text length 0..600 with AAD of 0..40
 * bytes and some large texts, in place and apart, both directions; a flipped
 * bit of tag, ciphertext, AAD or nonce refuses and zeroes the output; wipe
 * clears the key. All of it twice: with the code the CPU gets (AVX-encoded
 * where it has AVX) and with the SSE encoding. On a CPU without AES-NI/PCLMULQDQ (or with
 * CG_TEST_GCM_FAST_MISSING set, as tests/meson.build's second run does) the
 * module's tests are skipped with a message and the test cases run through
 * nettle alone. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nettle/gcm.h>

#include "gcm_fast.h"

#define TAG 16

static bool fast; /* the module may be used on this CPU (and run) */

static uint32_t rng_state = 0x6a09e667u;

static uint32_t next_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)next_u32();
}

static size_t hex(uint8_t *out, const char *h)
{
    size_t i = 0;
    for (; h[2 * i]; i++) {
        char two[3] = { h[2 * i], h[2 * i + 1], 0 };
        out[i] = (uint8_t)strtoul(two, NULL, 16);
    }
    return i;
}

static cg_gcm_key *new_key(const uint8_t *key, size_t bits)
{
    cg_gcm_key *k = aligned_alloc(16, (cg_gcm_key_size() + 15) / 16 * 16);
    assert_non_null(k);
    assert_true(cg_gcm_key_init(k, key, bits));
    return k;
}

static void free_key(cg_gcm_key *k)
{
    cg_gcm_key_wipe(k);
    free(k);
}

/* nettle's GCM, the reference: tag after the ciphertext in out. */
static void nettle_seal(const uint8_t *key, size_t bits, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                        const uint8_t *in, size_t len, uint8_t *out)
{
    if (bits == 128) {
        struct gcm_aes128_ctx c;
        gcm_aes128_set_key(&c, key);
        gcm_aes128_set_iv(&c, 12, nonce);
        gcm_aes128_update(&c, aad_len, aad);
        gcm_aes128_encrypt(&c, len, out, in);
        gcm_aes128_digest(&c, TAG, out + len);
    } else {
        struct gcm_aes256_ctx c;
        gcm_aes256_set_key(&c, key);
        gcm_aes256_set_iv(&c, 12, nonce);
        gcm_aes256_update(&c, aad_len, aad);
        gcm_aes256_encrypt(&c, len, out, in);
        gcm_aes256_digest(&c, TAG, out + len);
    }
}

/* The specification's test cases with a 96-bit IV: 1-4 (AES-128), 13-16 (AES-256). */
static const struct {
    const char *name, *key, *iv, *aad, *pt, *ct, *tag;
} cases[] = {
    { "1", "00000000000000000000000000000000", "000000000000000000000000", "", "", "",
      "58e2fccefa7e3061367f1d57a4e7455a" },
    { "2", "00000000000000000000000000000000", "000000000000000000000000", "", "00000000000000000000000000000000",
      "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf" },
    { "3", "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "",
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
      "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
      "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
      "4d5c2af327cd64a62cf35abd2ba6fab4" },
    { "4", "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
      "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
      "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
      "5bc94fbc3221a5db94fae95ae7121a47" },
    { "13", "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "", "", "",
      "530f8afbc74536b9a963b4f1c4cb738b" },
    { "14", "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "",
      "00000000000000000000000000000000", "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919" },
    { "15", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "",
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
      "b094dac5d93471bdec1a502270e3cc6c" },
    { "16", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
      "feedfacedeadbeeffeedfacedeadbeefabaddad2",
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
      "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
      "76fc6ece0f4e1768cddf8853bb2d551b" },
};

static void test_spec_vectors(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint8_t key[32], iv[12], aad[20], pt[64], want[64 + TAG], out[64 + TAG], back[64];
        size_t bits = hex(key, cases[c].key) * 8;
        hex(iv, cases[c].iv);
        size_t aad_len = hex(aad, cases[c].aad);
        size_t len = hex(pt, cases[c].pt);
        assert_int_equal(hex(want, cases[c].ct), len);
        hex(want + len, cases[c].tag);

        /* the reference agrees with the specification (so a typo here shows) */
        nettle_seal(key, bits, iv, aad, aad_len, pt, len, out);
        if (memcmp(out, want, len + TAG) != 0)
            fail_msg("test case %s: nettle disagrees with the vector", cases[c].name);
        if (!fast)
            continue;

        cg_gcm_key *k = new_key(key, bits);
        memset(out, 0xee, sizeof out);
        cg_gcm_seal(k, iv, aad, aad_len, pt, len, out, out + len);
        if (memcmp(out, want, len + TAG) != 0)
            fail_msg("test case %s: sealed wrong", cases[c].name);
        memset(back, 0xee, sizeof back);
        assert_true(cg_gcm_open(k, iv, aad, aad_len, want, len, want + len, back));
        assert_memory_equal(back, pt, len);
        free_key(k);
    }
}

/* One message both ways against nettle, apart and in place. */
static void check_against_nettle(const cg_gcm_key *k, const uint8_t *key, size_t bits, const uint8_t *nonce,
                                 const uint8_t *aad, size_t aad_len, const uint8_t *pt, size_t len, uint8_t *want,
                                 uint8_t *out, uint8_t *back)
{
    nettle_seal(key, bits, nonce, aad, aad_len, pt, len, want);

    uint8_t tag[TAG];
    cg_gcm_seal(k, nonce, aad, aad_len, pt, len, out, tag);
    if (memcmp(out, want, len) != 0 || memcmp(tag, want + len, TAG) != 0)
        fail_msg("seal: AES-%zu len %zu aad %zu differs from nettle", bits, len, aad_len);
    assert_true(cg_gcm_open(k, nonce, aad, aad_len, want, len, want + len, back));
    if (memcmp(back, pt, len) != 0)
        fail_msg("open: AES-%zu len %zu aad %zu", bits, len, aad_len);

    /* in place: out is the plaintext, then the ciphertext, then back */
    memcpy(out, pt, len);
    cg_gcm_seal(k, nonce, aad, aad_len, out, len, out, tag);
    if (memcmp(out, want, len) != 0 || memcmp(tag, want + len, TAG) != 0)
        fail_msg("seal in place: AES-%zu len %zu aad %zu differs from nettle", bits, len, aad_len);
    assert_true(cg_gcm_open(k, nonce, aad, aad_len, out, len, tag, out));
    if (memcmp(out, pt, len) != 0)
        fail_msg("open in place: AES-%zu len %zu aad %zu", bits, len, aad_len);
}

static void test_against_nettle(void **state)
{
    (void)state;
    if (!fast) {
        print_message("gcm_fast: no AES-NI/PCLMULQDQ here, the module is not tested (nettle is used)\n");
        skip();
    }
    enum { MAX_LEN = 65 * 1024 };
    uint8_t *pt = malloc(MAX_LEN), *want = malloc(MAX_LEN + TAG), *out = malloc(MAX_LEN), *back = malloc(MAX_LEN);
    assert_true(pt && want && out && back);
    for (size_t bits = 128; bits <= 256; bits += 128) {
        uint8_t key[32], nonce[12], aad[40];
        fill(key, sizeof key);
        cg_gcm_key *k = new_key(key, bits);
        for (size_t len = 0; len <= 600; len++) {
            for (size_t aad_len = 0; aad_len <= 40; aad_len++) {
                fill(nonce, sizeof nonce);
                fill(aad, aad_len);
                fill(pt, len);
                check_against_nettle(k, key, bits, nonce, aad, aad_len, pt, len, want, out, back);
            }
        }
        static const size_t large[] = { 16 * 1024 + 5, 16 * 1024 + 13, MAX_LEN };
        for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) {
            fill(nonce, sizeof nonce);
            fill(aad, 13);
            fill(pt, large[i]);
            check_against_nettle(k, key, bits, nonce, aad, 13, pt, large[i], want, out, back);
        }
        /* a key per message too: the schedule from many keys */
        for (int i = 0; i < 200; i++) {
            fill(key, sizeof key);
            cg_gcm_key *one = new_key(key, bits);
            size_t len = next_u32() % 300, aad_len = next_u32() % 41;
            fill(nonce, sizeof nonce);
            fill(aad, aad_len);
            fill(pt, len);
            check_against_nettle(one, key, bits, nonce, aad, aad_len, pt, len, want, out, back);
            free_key(one);
        }
        free_key(k);
    }
    free(pt), free(want), free(out), free(back);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* Each bit of tag, of ciphertext, of AAD and of nonce, flipped in turn (the
 * last of each byte, and every bit of a few): refused, out zeroed. Apart
 * and in place. */
static void test_tampering_refused(void **state)
{
    (void)state;
    if (!fast)
        skip();
    enum { LEN = 77, AAD = 13 };
    uint8_t key[16], nonce[12], aad[AAD], pt[LEN], ct[LEN], tag[TAG], out[LEN];
    fill(key, sizeof key), fill(nonce, sizeof nonce), fill(aad, sizeof aad), fill(pt, sizeof pt);
    cg_gcm_key *k = new_key(key, 128);
    cg_gcm_seal(k, nonce, aad, AAD, pt, LEN, ct, tag);
    assert_true(cg_gcm_open(k, nonce, aad, AAD, ct, LEN, tag, out));
    assert_memory_equal(out, pt, LEN);

    struct {
        uint8_t *p;
        size_t n;
    } parts[] = { { tag, TAG }, { ct, LEN }, { aad, AAD }, { nonce, 12 } };
    for (size_t w = 0; w < 4; w++) {
        for (size_t bit = 0; bit < parts[w].n * 8; bit++) {
            if (bit % 8 != 7 && bit >= 16)
                continue;
            parts[w].p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            memset(out, 0x5a, LEN);
            if (cg_gcm_open(k, nonce, aad, AAD, ct, LEN, tag, out))
                fail_msg("part %zu bit %zu flipped: accepted", w, bit);
            assert_true(all_zero(out, LEN));
            /* in place */
            uint8_t inplace[LEN];
            memcpy(inplace, ct, LEN);
            assert_false(cg_gcm_open(k, nonce, aad, AAD, inplace, LEN, tag, inplace));
            assert_true(all_zero(inplace, LEN));
            parts[w].p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
    }
    /* and the restored message still opens */
    assert_true(cg_gcm_open(k, nonce, aad, AAD, ct, LEN, tag, out));
    assert_memory_equal(out, pt, LEN);
    free_key(k);
}

/* Wipe zeroes every byte; init refuses what it does not do. */
static void test_wipe_and_refusals(void **state)
{
    (void)state;
    size_t size = (cg_gcm_key_size() + 15) / 16 * 16;
    uint8_t *mem = aligned_alloc(16, size + 16);
    assert_non_null(mem);
    uint8_t key[32];
    fill(key, sizeof key);
    if (!fast) {
        if (!cg_gcm_fast_available())
            assert_false(cg_gcm_key_init((cg_gcm_key *)mem, key, 128)); /* never usable here */
        free(mem);
        skip();
    }
    for (size_t bits = 128; bits <= 256; bits += 128) {
        memset(mem, 0, size);
        cg_gcm_key *k = (cg_gcm_key *)mem;
        assert_true(cg_gcm_key_init(k, key, bits));
        assert_false(all_zero(mem, cg_gcm_key_size()));
        cg_gcm_key_wipe(k);
        assert_true(all_zero(mem, cg_gcm_key_size()));
    }
    memset(mem, 0xa5, size + 16);
    assert_false(cg_gcm_key_init((cg_gcm_key *)mem, key, 192));
    assert_false(cg_gcm_key_init((cg_gcm_key *)mem, key, 0));
    assert_false(cg_gcm_key_init((cg_gcm_key *)(mem + 8), key, 128)); /* not aligned to 16 */
    for (size_t i = 0; i < size + 16; i++)
        assert_int_equal(mem[i], 0xa5); /* refused: untouched */
    free(mem);
}

int main(void)
{
    fast = cg_gcm_fast_available() && !getenv("CG_TEST_GCM_FAST_MISSING");
    if (!fast)
        printf("gcm_fast: %s: only nettle is checked against the vectors\n",
               cg_gcm_fast_available() ? "CG_TEST_GCM_FAST_MISSING is set" : "this CPU lacks AES-NI/PCLMULQDQ");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_vectors),
        cmocka_unit_test(test_against_nettle),
        cmocka_unit_test(test_tampering_refused),
        cmocka_unit_test(test_wipe_and_refusals),
    };
    /* twice: as chosen for this CPU (the AVX encoding where it has AVX),
     * then the SSE encoding */
    int failed = cmocka_run_group_tests_name("gcm_fast, as chosen", tests, NULL, NULL);
    cg_gcm_fast_allow_avx(false);
    failed += cmocka_run_group_tests_name("gcm_fast, SSE encoding", tests, NULL, NULL);
    return failed;
}
