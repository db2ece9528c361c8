/* certgate's PSA driver (subprojects/mbedtls/driver/), through PSA's public
 * API as mbedTLS's TLS and X.509 code reach it: the verified-signature cache
 * answers only an exact (key, algorithm, hash, signature) that verified
 * before, never a failure; its table stays bounded; X25519 runs in libsodium
 * and refuses small-order peer points. Built with -Dmbedtls=bundled only (a
 * system mbedTLS has no driver). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <string.h>

#include <psa/crypto.h>

#include "certgate_psa_driver.h"

static const uint8_t hash_a[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

typedef struct keys {
    mbedtls_svc_key_id_t ec_pair, ec_pub, ec_other_pub, rsa_pair, rsa_pub;
    uint8_t ec_sig[PSA_SIGNATURE_MAX_SIZE], rsa15_sig[PSA_SIGNATURE_MAX_SIZE], pss_sig[PSA_SIGNATURE_MAX_SIZE];
    size_t ec_sig_len, rsa15_sig_len, pss_sig_len;
} keys;
static keys k;

#define ECDSA_ALG PSA_ALG_ECDSA(PSA_ALG_SHA_256)
#define RSA15_ALG PSA_ALG_RSA_PKCS1V15_SIGN(PSA_ALG_SHA_256)
#define PSS_ALG PSA_ALG_RSA_PSS(PSA_ALG_SHA_256)

static mbedtls_svc_key_id_t public_of(mbedtls_svc_key_id_t pair, psa_key_type_t type, psa_algorithm_t alg,
                                      psa_algorithm_t alg2)
{
    uint8_t buf[PSA_EXPORT_PUBLIC_KEY_MAX_SIZE];
    size_t len;
    assert_int_equal(psa_export_public_key(pair, buf, sizeof buf, &len), PSA_SUCCESS);
    psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&a, type);
    psa_set_key_usage_flags(&a, PSA_KEY_USAGE_VERIFY_HASH | PSA_KEY_USAGE_VERIFY_MESSAGE);
    psa_set_key_algorithm(&a, alg);
    psa_set_key_enrollment_algorithm(&a, alg2);
    mbedtls_svc_key_id_t id;
    assert_int_equal(psa_import_key(&a, buf, len, &id), PSA_SUCCESS);
    return id;
}

#define SIGNING (PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_VERIFY_HASH | PSA_KEY_USAGE_SIGN_MESSAGE | \
                 PSA_KEY_USAGE_VERIFY_MESSAGE)

static mbedtls_svc_key_id_t pair_of(psa_key_type_t type, size_t bits, psa_key_usage_t usage, psa_algorithm_t alg,
                                    psa_algorithm_t alg2)
{
    psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&a, type);
    psa_set_key_bits(&a, bits);
    psa_set_key_usage_flags(&a, usage);
    psa_set_key_algorithm(&a, alg);
    psa_set_key_enrollment_algorithm(&a, alg2);
    mbedtls_svc_key_id_t id;
    assert_int_equal(psa_generate_key(&a, &id), PSA_SUCCESS);
    return id;
}

static int setup(void **state)
{
    (void)state;
    if (psa_crypto_init() != PSA_SUCCESS)
        return -1;
    psa_key_type_t ec = PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1);
    k.ec_pair = pair_of(ec, 256, SIGNING, ECDSA_ALG, PSA_ALG_NONE);
    k.ec_pub = public_of(k.ec_pair, PSA_KEY_TYPE_PUBLIC_KEY_OF_KEY_PAIR(ec), ECDSA_ALG, PSA_ALG_NONE);
    mbedtls_svc_key_id_t other = pair_of(ec, 256, SIGNING, ECDSA_ALG, PSA_ALG_NONE);
    k.ec_other_pub = public_of(other, PSA_KEY_TYPE_PUBLIC_KEY_OF_KEY_PAIR(ec), ECDSA_ALG, PSA_ALG_NONE);
    psa_destroy_key(other);
    /* 1024 bits: the cache does not depend on the size, and generation stays short under ASan */
    k.rsa_pair = pair_of(PSA_KEY_TYPE_RSA_KEY_PAIR, 1024, SIGNING, RSA15_ALG, PSS_ALG);
    k.rsa_pub = public_of(k.rsa_pair, PSA_KEY_TYPE_RSA_PUBLIC_KEY, RSA15_ALG, PSS_ALG);
    if (psa_sign_hash(k.ec_pair, ECDSA_ALG, hash_a, 32, k.ec_sig, sizeof k.ec_sig, &k.ec_sig_len) != PSA_SUCCESS ||
        psa_sign_hash(k.rsa_pair, RSA15_ALG, hash_a, 32, k.rsa15_sig, sizeof k.rsa15_sig, &k.rsa15_sig_len) !=
            PSA_SUCCESS ||
        psa_sign_hash(k.rsa_pair, PSS_ALG, hash_a, 32, k.pss_sig, sizeof k.pss_sig, &k.pss_sig_len) != PSA_SUCCESS)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mbedtls_psa_crypto_free();
    return 0;
}

static cg_sig_cache_stats stats(void)
{
    cg_sig_cache_stats s;
    cg_sig_cache_stats_get(&s);
    return s;
}

static psa_status_t verify(mbedtls_svc_key_id_t key, psa_algorithm_t alg, const uint8_t *hash, const uint8_t *sig,
                           size_t sig_len)
{
    return psa_verify_hash(key, alg, hash, 32, sig, sig_len);
}

/* A signature verified once is answered from the table the second time;
 * anything that differs in one byte (signature, hash, key, algorithm) is not. */
static void test_ecdsa_exact_match(void **state)
{
    (void)state;
    cg_sig_cache_clear();
    assert_int_equal(verify(k.ec_pub, ECDSA_ALG, hash_a, k.ec_sig, k.ec_sig_len), PSA_SUCCESS);
    cg_sig_cache_stats s = stats();
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.hits, 0);
    assert_int_equal(s.entries, 1);
    assert_int_equal(verify(k.ec_pub, ECDSA_ALG, hash_a, k.ec_sig, k.ec_sig_len), PSA_SUCCESS);
    assert_int_equal(stats().hits, 1);

    uint8_t sig[PSA_SIGNATURE_MAX_SIZE], hash[32];
    for (size_t i = 0; i < k.ec_sig_len; i += 7) { /* one bit of the signature */
        memcpy(sig, k.ec_sig, k.ec_sig_len);
        sig[i] ^= 0x01;
        assert_int_equal(verify(k.ec_pub, ECDSA_ALG, hash_a, sig, k.ec_sig_len), PSA_ERROR_INVALID_SIGNATURE);
    }
    memcpy(hash, hash_a, 32);
    hash[31] ^= 0x80; /* one bit of the hash */
    assert_int_equal(verify(k.ec_pub, ECDSA_ALG, hash, k.ec_sig, k.ec_sig_len), PSA_ERROR_INVALID_SIGNATURE);
    /* another key */
    assert_int_equal(verify(k.ec_other_pub, ECDSA_ALG, hash_a, k.ec_sig, k.ec_sig_len), PSA_ERROR_INVALID_SIGNATURE);
    s = stats();
    assert_int_equal(s.hits, 1);    /* none of those was answered from the table */
    assert_int_equal(s.entries, 1); /* and no failure was recorded */
    /* the original still hits */
    assert_int_equal(verify(k.ec_pub, ECDSA_ALG, hash_a, k.ec_sig, k.ec_sig_len), PSA_SUCCESS);
    assert_int_equal(stats().hits, 2);
}

/* A failure is verified again each time, never answered from the table. */
static void test_failure_not_cached(void **state)
{
    (void)state;
    cg_sig_cache_clear();
    uint8_t sig[PSA_SIGNATURE_MAX_SIZE];
    memcpy(sig, k.ec_sig, k.ec_sig_len);
    sig[k.ec_sig_len - 1] ^= 0x40;
    for (int i = 0; i < 3; i++)
        assert_int_equal(verify(k.ec_pub, ECDSA_ALG, hash_a, sig, k.ec_sig_len), PSA_ERROR_INVALID_SIGNATURE);
    cg_sig_cache_stats s = stats();
    assert_int_equal(s.misses, 3);
    assert_int_equal(s.hits, 0);
    assert_int_equal(s.entries, 0);
}

/* RSA PKCS#1 v1.5 and PSS are cached each under its own algorithm: a PSS
 * signature does not pass as PKCS#1 v1.5 because the key is the same. */
static void test_rsa(void **state)
{
    (void)state;
    cg_sig_cache_clear();
    for (int i = 0; i < 2; i++) {
        assert_int_equal(verify(k.rsa_pub, RSA15_ALG, hash_a, k.rsa15_sig, k.rsa15_sig_len), PSA_SUCCESS);
        assert_int_equal(verify(k.rsa_pub, PSS_ALG, hash_a, k.pss_sig, k.pss_sig_len), PSA_SUCCESS);
    }
    cg_sig_cache_stats s = stats();
    assert_int_equal(s.misses, 2);
    assert_int_equal(s.hits, 2);
    assert_int_equal(verify(k.rsa_pub, RSA15_ALG, hash_a, k.pss_sig, k.pss_sig_len), PSA_ERROR_INVALID_SIGNATURE);
    assert_int_equal(verify(k.rsa_pub, PSS_ALG, hash_a, k.rsa15_sig, k.rsa15_sig_len), PSA_ERROR_INVALID_SIGNATURE);
    uint8_t sig[PSA_SIGNATURE_MAX_SIZE];
    memcpy(sig, k.rsa15_sig, k.rsa15_sig_len);
    sig[k.rsa15_sig_len / 2] ^= 0x10;
    assert_int_equal(verify(k.rsa_pub, RSA15_ALG, hash_a, sig, k.rsa15_sig_len), PSA_ERROR_INVALID_SIGNATURE);
    assert_int_equal(stats().hits, 2);
}

/* psa_verify_message reaches the cache (mbedTLS hashes, then dispatches verify_hash). */
static void test_verify_message(void **state)
{
    (void)state;
    cg_sig_cache_clear();
    static const uint8_t msg[] = "a CA's signature over a certificate";
    uint8_t sig[PSA_SIGNATURE_MAX_SIZE];
    size_t len;
    assert_int_equal(psa_sign_message(k.ec_pair, ECDSA_ALG, msg, sizeof msg, sig, sizeof sig, &len), PSA_SUCCESS);
    assert_int_equal(psa_verify_message(k.ec_pub, ECDSA_ALG, msg, sizeof msg, sig, len), PSA_SUCCESS);
    assert_int_equal(psa_verify_message(k.ec_pub, ECDSA_ALG, msg, sizeof msg, sig, len), PSA_SUCCESS);
    assert_int_equal(stats().hits, 1);
    assert_int_equal(psa_verify_message(k.ec_pub, ECDSA_ALG, msg, sizeof msg - 1, sig, len),
                     PSA_ERROR_INVALID_SIGNATURE);
}

/* Verifying with a key pair is not cached (nothing derived from a private key is kept). */
static void test_key_pair_not_cached(void **state)
{
    (void)state;
    cg_sig_cache_clear();
    for (int i = 0; i < 2; i++)
        assert_int_equal(verify(k.ec_pair, ECDSA_ALG, hash_a, k.ec_sig, k.ec_sig_len), PSA_SUCCESS);
    cg_sig_cache_stats s = stats();
    assert_int_equal(s.hits + s.misses, 0);
    assert_int_equal(s.entries, 0);
}

/* The digest covers every input with its length: moving a byte from the key
 * to the hash, or changing type, bits or algorithm, gives another digest. */
static void test_digest_fields(void **state)
{
    (void)state;
    static const uint8_t ab[] = "ab", a[] = "a", bc[] = "bc", c[] = "c", s[] = "s";
    uint8_t d[7][CG_SIG_CACHE_DIGEST];
    psa_key_type_t t = PSA_KEY_TYPE_RSA_PUBLIC_KEY;
    assert_true(cg_sig_cache_digest(d[0], t, 2048, RSA15_ALG, ab, 2, c, 1, s, 1));
    assert_true(cg_sig_cache_digest(d[1], t, 2048, RSA15_ALG, a, 1, bc, 2, s, 1));
    assert_true(cg_sig_cache_digest(d[2], t, 2048, PSS_ALG, ab, 2, c, 1, s, 1));
    assert_true(cg_sig_cache_digest(d[3], t, 3072, RSA15_ALG, ab, 2, c, 1, s, 1));
    assert_true(cg_sig_cache_digest(d[4], PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1), 2048, RSA15_ALG, ab, 2,
                                    c, 1, s, 1));
    assert_true(cg_sig_cache_digest(d[5], t, 2048, RSA15_ALG, ab, 2, c, 1, s, 0));
    assert_true(cg_sig_cache_digest(d[6], t, 2048, RSA15_ALG, ab, 2, c, 1, s, 1));
    for (int i = 0; i < 6; i++)
        for (int j = i + 1; j < 6; j++)
            assert_memory_not_equal(d[i], d[j], CG_SIG_CACHE_DIGEST);
    assert_memory_equal(d[0], d[6], CG_SIG_CACHE_DIGEST); /* and the same inputs, the same digest */
}

/* Digests for the table tests: SET picks the set (the table indexes by the
 * first four bytes), N tells them apart. */
static void synthetic(uint8_t d[CG_SIG_CACHE_DIGEST], uint32_t set, uint32_t n)
{
    memset(d, 0xA5, CG_SIG_CACHE_DIGEST);
    for (int i = 0; i < 4; i++) {
        d[i] = (uint8_t)(set >> (8 * i));
        d[4 + i] = (uint8_t)(n >> (8 * i));
    }
}

/* Twice the capacity recorded: the table holds at most CG_SIG_CACHE_ENTRIES
 * and counts what it replaced. */
static void test_table_bounded(void **state)
{
    (void)state;
    cg_sig_cache_clear();
    uint8_t d[CG_SIG_CACHE_DIGEST];
    const uint32_t n = 2 * CG_SIG_CACHE_ENTRIES;
    for (uint32_t i = 0; i < n; i++) {
        synthetic(d, i % CG_SIG_CACHE_SETS, i);
        cg_sig_cache_add(d);
    }
    cg_sig_cache_stats s = stats();
    assert_int_equal(s.entries, CG_SIG_CACHE_ENTRIES);
    assert_int_equal(s.evictions, n - CG_SIG_CACHE_ENTRIES);
    synthetic(d, (n - 1) % CG_SIG_CACHE_SETS, n - 1); /* the newest is there, */
    assert_true(cg_sig_cache_find(d));
    synthetic(d, 0, 0); /* the oldest is not */
    assert_false(cg_sig_cache_find(d));
    cg_sig_cache_add(d); /* recording one that is there already adds nothing */
    cg_sig_cache_add(d);
    assert_int_equal(stats().entries, CG_SIG_CACHE_ENTRIES);
}

/* Second chance: in a full set, an entry found again outlives entries
 * recorded before it that nobody asked for (a returning user's certificate
 * signature against one-off CertificateVerify signatures). */
static void test_table_second_chance(void **state)
{
    (void)state;
    cg_sig_cache_clear();
    uint8_t d[CG_SIG_CACHE_DIGEST];
    const uint32_t set = 77;
    for (uint32_t w = 0; w < CG_SIG_CACHE_WAYS; w++) {
        synthetic(d, set, w);
        cg_sig_cache_add(d);
    }
    synthetic(d, set, 3);
    assert_true(cg_sig_cache_find(d)); /* entry 3 is used */
    for (uint32_t w = 0; w < CG_SIG_CACHE_WAYS - 1; w++) {
        synthetic(d, set, 100 + w); /* seven one-off entries */
        cg_sig_cache_add(d);
    }
    synthetic(d, set, 3);
    assert_true(cg_sig_cache_find(d));
    for (uint32_t w = 0; w < CG_SIG_CACHE_WAYS; w++) {
        if (w == 3)
            continue;
        synthetic(d, set, w);
        assert_false(cg_sig_cache_find(d));
    }
    assert_int_equal(stats().entries, CG_SIG_CACHE_WAYS);
}

/* Threads verifying at once (as the workers and the verification pool do):
 * every good signature passes, every bad one fails, the table stays bounded. */
#define THREADS 4
static void *verifier(void *arg)
{
    uintptr_t id = (uintptr_t)arg;
    uint8_t bad[PSA_SIGNATURE_MAX_SIZE], d[CG_SIG_CACHE_DIGEST];
    memcpy(bad, k.ec_sig, k.ec_sig_len);
    bad[5] ^= (uint8_t)(1u << id);
    uintptr_t failures = 0;
    for (uint32_t i = 0; i < 200; i++) {
        if (verify(k.ec_pub, ECDSA_ALG, hash_a, k.ec_sig, k.ec_sig_len) != PSA_SUCCESS)
            failures++;
        if (i % 50 == 0 && verify(k.ec_pub, ECDSA_ALG, hash_a, bad, k.ec_sig_len) != PSA_ERROR_INVALID_SIGNATURE)
            failures++;
        synthetic(d, i % 16, (uint32_t)(id << 16 | i)); /* crowd a few sets meanwhile */
        cg_sig_cache_add(d);
        cg_sig_cache_find(d);
    }
    return (void *)failures;
}

static void test_threads(void **state)
{
    (void)state;
    cg_sig_cache_clear();
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, verifier, (void *)i), 0);
    for (int i = 0; i < THREADS; i++) {
        void *failures;
        pthread_join(t[i], &failures);
        assert_int_equal((uintptr_t)failures, 0);
    }
    cg_sig_cache_stats s = stats();
    assert_true(s.entries <= 16 * CG_SIG_CACHE_WAYS + 1);
    assert_true(s.hits > 0);
}

/* ---- X25519 ------------------------------------------------------------- */

static mbedtls_svc_key_id_t x25519_pair(void)
{
    return pair_of(PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY), 255, PSA_KEY_USAGE_DERIVE, PSA_ALG_ECDH,
                   PSA_ALG_NONE);
}

/* Two key pairs made by the driver agree on one secret; the driver did it. */
static void test_x25519_agreement(void **state)
{
    (void)state;
    cg_psa_driver_counts before, after;
    cg_psa_driver_counts_get(&before);
    mbedtls_svc_key_id_t a = x25519_pair(), b = x25519_pair();
    uint8_t pa[32], pb[32], sa[32], sb[32];
    size_t len;
    assert_int_equal(psa_export_public_key(a, pa, sizeof pa, &len), PSA_SUCCESS);
    assert_int_equal(len, 32);
    assert_int_equal(psa_export_public_key(b, pb, sizeof pb, &len), PSA_SUCCESS);
    assert_int_equal(psa_raw_key_agreement(PSA_ALG_ECDH, a, pb, 32, sa, sizeof sa, &len), PSA_SUCCESS);
    assert_int_equal(len, 32);
    assert_int_equal(psa_raw_key_agreement(PSA_ALG_ECDH, b, pa, 32, sb, sizeof sb, &len), PSA_SUCCESS);
    assert_memory_equal(sa, sb, 32);
    assert_memory_not_equal(pa, pb, 32);
    cg_psa_driver_counts_get(&after);
    assert_int_equal(after.x25519_keys - before.x25519_keys, 2);
    assert_int_equal(after.x25519_agreements - before.x25519_agreements, 2);
    psa_destroy_key(a);
    psa_destroy_key(b);
}

/* Peer points of small order give an all-zero secret: refused, the output
 * not left with a secret. A peer key of the wrong length: refused. */
static void test_x25519_refusals(void **state)
{
    (void)state;
    mbedtls_svc_key_id_t a = x25519_pair();
    uint8_t peer[33] = { 0 }, out[32];
    size_t len;
    assert_int_not_equal(psa_raw_key_agreement(PSA_ALG_ECDH, a, peer, 32, out, sizeof out, &len), PSA_SUCCESS);
    peer[0] = 1; /* u = 1: a point of order 4 */
    assert_int_not_equal(psa_raw_key_agreement(PSA_ALG_ECDH, a, peer, 32, out, sizeof out, &len), PSA_SUCCESS);
    uint8_t good[32];
    mbedtls_svc_key_id_t b = x25519_pair();
    assert_int_equal(psa_export_public_key(b, good, sizeof good, &len), PSA_SUCCESS);
    memcpy(peer, good, 32);
    assert_int_not_equal(psa_raw_key_agreement(PSA_ALG_ECDH, a, peer, 31, out, sizeof out, &len), PSA_SUCCESS);
    assert_int_not_equal(psa_raw_key_agreement(PSA_ALG_ECDH, a, peer, 33, out, sizeof out, &len), PSA_SUCCESS);
    assert_int_equal(psa_raw_key_agreement(PSA_ALG_ECDH, a, peer, 32, out, sizeof out, &len), PSA_SUCCESS);
    psa_destroy_key(a);
    psa_destroy_key(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ecdsa_exact_match),
        cmocka_unit_test(test_failure_not_cached),
        cmocka_unit_test(test_rsa),
        cmocka_unit_test(test_verify_message),
        cmocka_unit_test(test_key_pair_not_cached),
        cmocka_unit_test(test_digest_fields),
        cmocka_unit_test(test_table_bounded),
        cmocka_unit_test(test_table_second_chance),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_x25519_agreement),
        cmocka_unit_test(test_x25519_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
