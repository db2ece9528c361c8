/* Unit tests of in-place EC key operations (pk_ops.c): the same signatures,
 * verdicts and error codes as mbedTLS's own mbedtls_pk_* path, for keys
 * switched with cg_pk_in_place(); other key types are left alone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <mbedtls/sha256.h>

#include "x509/pk_ops.h"

#include "x509_kit.h"

static void hash_of(const char *text, unsigned char out[32])
{
    mbedtls_sha256_ret((const unsigned char *)text, strlen(text), out, 0);
}

/* A public-key copy of key (as a certificate's key would be parsed). */
static void public_copy(mbedtls_pk_context *key, mbedtls_pk_context *pub)
{
    unsigned char der[1024];
    int n = mbedtls_pk_write_pubkey_der(key, der, sizeof der);
    assert_true(n > 0);
    mbedtls_pk_init(pub);
    assert_int_equal(mbedtls_pk_parse_public_key(pub, der + sizeof der - n, (size_t)n), 0);
}

/* A P-256 key, and two public copies of it: one left as mbedTLS made it, one in place. */
static void key_and_copies(mbedtls_pk_context *key, mbedtls_pk_context *pub, mbedtls_pk_context *pub_in_place)
{
    tk_key(key, 0);
    public_copy(key, pub);
    public_copy(key, pub_in_place);
    assert_true(cg_pk_in_place(pub_in_place));
}

static void test_signatures_verify_both_ways(void **state)
{
    (void)state;
    mbedtls_pk_context key, pub, pub_in_place;
    key_and_copies(&key, &pub, &pub_in_place);
    unsigned char hash[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE], sig2[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t len, len2;
    hash_of("ServerKeyExchange", hash);

    /* mbedTLS's own signature, verified in place ... */
    assert_int_equal(mbedtls_pk_sign(&key, MBEDTLS_MD_SHA256, hash, 32, sig, &len, tk_rng, NULL), 0);
    assert_int_equal(mbedtls_pk_verify(&pub_in_place, MBEDTLS_MD_SHA256, hash, 32, sig, len), 0);
    /* ... and an in-place signature, verified by mbedTLS's own path. */
    assert_true(cg_pk_in_place(&key));
    assert_int_equal(mbedtls_pk_sign(&key, MBEDTLS_MD_SHA256, hash, 32, sig2, &len2, tk_rng, NULL), 0);
    assert_int_equal(mbedtls_pk_verify(&pub, MBEDTLS_MD_SHA256, hash, 32, sig2, len2), 0);
    /* RFC 6979 nonces, as before: the same key and hash sign the same. */
    assert_int_equal(len, len2);
    assert_memory_equal(sig, sig2, len);
    /* Switching twice changes nothing. */
    assert_true(cg_pk_in_place(&key));

    mbedtls_pk_free(&key);
    mbedtls_pk_free(&pub);
    mbedtls_pk_free(&pub_in_place);
}

static void test_failures_match_mbedtls(void **state)
{
    (void)state;
    mbedtls_pk_context key, pub, pub_in_place;
    key_and_copies(&key, &pub, &pub_in_place);
    unsigned char hash[32], other[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t len;
    hash_of("signed", hash);
    hash_of("something else", other);
    assert_int_equal(mbedtls_pk_sign(&key, MBEDTLS_MD_SHA256, hash, 32, sig, &len, tk_rng, NULL), 0);

    int a = mbedtls_pk_verify(&pub, MBEDTLS_MD_SHA256, other, 32, sig, len);
    int b = mbedtls_pk_verify(&pub_in_place, MBEDTLS_MD_SHA256, other, 32, sig, len);
    assert_int_not_equal(a, 0);
    assert_int_equal(a, b);
    /* trailing garbage after the DER signature */
    sig[len] = 0;
    a = mbedtls_pk_verify(&pub, MBEDTLS_MD_SHA256, hash, 32, sig, len + 1);
    b = mbedtls_pk_verify(&pub_in_place, MBEDTLS_MD_SHA256, hash, 32, sig, len + 1);
    assert_int_not_equal(a, 0);
    assert_int_equal(a, b);
    /* truncated */
    a = mbedtls_pk_verify(&pub, MBEDTLS_MD_SHA256, hash, 32, sig, len - 3);
    b = mbedtls_pk_verify(&pub_in_place, MBEDTLS_MD_SHA256, hash, 32, sig, len - 3);
    assert_int_not_equal(a, 0);
    assert_int_equal(a, b);

    mbedtls_pk_free(&key);
    mbedtls_pk_free(&pub);
    mbedtls_pk_free(&pub_in_place);
}

static void test_rsa_left_alone(void **state)
{
    (void)state;
    mbedtls_pk_context rsa;
    tk_key(&rsa, 2048);
    const void *info = rsa.pk_info;
    assert_false(cg_pk_in_place(&rsa));
    assert_ptr_equal(rsa.pk_info, info);
    mbedtls_pk_free(&rsa);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signatures_verify_both_ways),
        cmocka_unit_test(test_failures_match_mbedtls),
        cmocka_unit_test(test_rsa_left_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
