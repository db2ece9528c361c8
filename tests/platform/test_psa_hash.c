/* certgate's PSA driver hashes SHA-256 and SHA-384 through nettle
 * (subprojects/mbedtls/driver/hash.c): PSA's hash API, as mbedTLS's TLS code
 * reaches it (handshake checksums, the TLS 1.2 PRF, TLS 1.3's HKDF through
 * PSA's HMAC), must give mbedTLS's built-in results, one-shot and multipart,
 * over cloned and aborted operations; other algorithms stay with mbedTLS's
 * code. Built with -Dmbedtls=bundled only (a system mbedTLS has no driver). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <mbedtls/md.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>
#include <psa/crypto.h>

#include "psa_test_support.h"

#include "certgate_psa_driver.h"

/* psa_crypto_driver_wrappers.h's ids (certgate patch 0002). */
#define BUILTIN_ID 1u
#define CERTGATE_ID 5u

static unsigned op_id(const psa_hash_operation_t *op) { return op->MBEDTLS_PRIVATE(id); }

/* mbedTLS's built-in code, through its own API (not PSA): the reference. */
static size_t reference(psa_algorithm_t alg, const uint8_t *in, size_t n, uint8_t out[64])
{
    if (alg == PSA_ALG_SHA_256) {
        assert_int_equal(mbedtls_sha256(in, n, out, 0), 0);
        return 32;
    }
    if (alg == PSA_ALG_SHA_224) {
        assert_int_equal(mbedtls_sha256(in, n, out, 1), 0);
        return 28;
    }
    assert_int_equal(mbedtls_sha512(in, n, out, alg == PSA_ALG_SHA_384), 0);
    return alg == PSA_ALG_SHA_384 ? 48 : 64;
}

static void hex_equal(const uint8_t *got, size_t n, const char *hex)
{
    assert_int_equal(strlen(hex), 2 * n);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        char two[3] = { hex[2 * i], hex[2 * i + 1], 0 };
        assert_int_equal(sscanf(two, "%2x", &v), 1);
        assert_int_equal(got[i], v);
    }
}

/* FIPS 180-2's vectors, one-shot and through an operation the driver owns. */
static void test_known_vectors(void **state)
{
    (void)state;
    static const struct {
        psa_algorithm_t alg;
        const char *msg, *hex;
    } v[] = {
        { PSA_ALG_SHA_256, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { PSA_ALG_SHA_256, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { PSA_ALG_SHA_256, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
        { PSA_ALG_SHA_384, "abc",
          "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7" },
        { PSA_ALG_SHA_384, "",
          "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t out[64];
        size_t len = 0, n = PSA_HASH_LENGTH(v[i].alg);
        assert_int_equal(psa_hash_compute(v[i].alg, (const uint8_t *)v[i].msg, strlen(v[i].msg), out, sizeof out, &len),
                         PSA_SUCCESS);
        assert_int_equal(len, n);
        hex_equal(out, n, v[i].hex);

        psa_hash_operation_t op = PSA_HASH_OPERATION_INIT;
        assert_int_equal(psa_hash_setup(&op, v[i].alg), PSA_SUCCESS);
        assert_int_equal(op_id(&op), CERTGATE_ID);
        assert_int_equal(psa_hash_update(&op, (const uint8_t *)v[i].msg, strlen(v[i].msg)), PSA_SUCCESS);
        memset(out, 0, sizeof out);
        assert_int_equal(psa_hash_finish(&op, out, sizeof out, &len), PSA_SUCCESS);
        assert_int_equal(len, n);
        hex_equal(out, n, v[i].hex);
        /* psa_hash_verify goes through the same operation */
        assert_int_equal(psa_hash_setup(&op, v[i].alg), PSA_SUCCESS);
        assert_int_equal(psa_hash_update(&op, (const uint8_t *)v[i].msg, strlen(v[i].msg)), PSA_SUCCESS);
        assert_int_equal(psa_hash_verify(&op, out, n), PSA_SUCCESS);
    }
}

/* Random lengths around the block sizes and beyond, in random pieces:
 * one-shot and multipart agree with the built-in code. */
static void test_random_lengths_multipart(void **state)
{
    (void)state;
    static uint8_t msg[4100];
    const psa_algorithm_t algs[] = { PSA_ALG_SHA_256, PSA_ALG_SHA_384 };
    for (int round = 0; round < 400; round++) {
        psa_algorithm_t alg = algs[round % 2];
        size_t n = round < 300 ? (size_t)round : next_u32() % sizeof msg;
        fill(msg, n);
        uint8_t want[64], got[64];
        size_t wn = reference(alg, msg, n, want), len = 0;
        assert_int_equal(psa_hash_compute(alg, msg, n, got, sizeof got, &len), PSA_SUCCESS);
        assert_int_equal(len, wn);
        assert_memory_equal(got, want, wn);

        psa_hash_operation_t op = PSA_HASH_OPERATION_INIT;
        assert_int_equal(psa_hash_setup(&op, alg), PSA_SUCCESS);
        for (size_t at = 0; at < n;) {
            size_t piece = next_u32() % 200;
            if (piece > n - at)
                piece = n - at;
            assert_int_equal(psa_hash_update(&op, msg + at, piece), PSA_SUCCESS);
            at += piece;
        }
        memset(got, 0, sizeof got);
        assert_int_equal(psa_hash_finish(&op, got, sizeof got, &len), PSA_SUCCESS);
        assert_int_equal(len, wn);
        assert_memory_equal(got, want, wn);
    }
}

/* A clone continues on its own: the TLS checksums are cloned for each
 * Finished and then updated further. */
static void test_clone(void **state)
{
    (void)state;
    uint8_t a[300], b[170], joined[470], want[64], got[64];
    fill(a, sizeof a);
    fill(b, sizeof b);
    memcpy(joined, a, sizeof a);
    memcpy(joined + sizeof a, b, sizeof b);
    const psa_algorithm_t algs[] = { PSA_ALG_SHA_256, PSA_ALG_SHA_384 };
    for (size_t i = 0; i < 2; i++) {
        psa_hash_operation_t op = PSA_HASH_OPERATION_INIT, copy = PSA_HASH_OPERATION_INIT;
        size_t len, wn;
        assert_int_equal(psa_hash_setup(&op, algs[i]), PSA_SUCCESS);
        assert_int_equal(psa_hash_update(&op, a, sizeof a), PSA_SUCCESS);
        assert_int_equal(psa_hash_clone(&op, &copy), PSA_SUCCESS);
        assert_int_equal(op_id(&copy), CERTGATE_ID);
        /* the copy finishes over a only, the original goes on with b */
        assert_int_equal(psa_hash_finish(&copy, got, sizeof got, &len), PSA_SUCCESS);
        wn = reference(algs[i], a, sizeof a, want);
        assert_int_equal(len, wn);
        assert_memory_equal(got, want, wn);
        assert_int_equal(psa_hash_update(&op, b, sizeof b), PSA_SUCCESS);
        assert_int_equal(psa_hash_finish(&op, got, sizeof got, &len), PSA_SUCCESS);
        wn = reference(algs[i], joined, sizeof joined, want);
        assert_memory_equal(got, want, wn);
    }
}

/* Abort ends an operation (and wipes it); a short output buffer is refused
 * and ends it too; the same operation object sets up again. */
static void test_abort_and_errors(void **state)
{
    (void)state;
    psa_hash_operation_t op = PSA_HASH_OPERATION_INIT;
    uint8_t out[64], want[64];
    size_t len;
    assert_int_equal(psa_hash_setup(&op, PSA_ALG_SHA_256), PSA_SUCCESS);
    assert_int_equal(psa_hash_update(&op, (const uint8_t *)"secret", 6), PSA_SUCCESS);
    assert_int_equal(psa_hash_abort(&op), PSA_SUCCESS);
    assert_int_equal(op_id(&op), 0);
    assert_int_equal(psa_hash_update(&op, (const uint8_t *)"x", 1), PSA_ERROR_BAD_STATE);
    assert_int_equal(psa_hash_finish(&op, out, sizeof out, &len), PSA_ERROR_BAD_STATE);

    assert_int_equal(psa_hash_setup(&op, PSA_ALG_SHA_384), PSA_SUCCESS);
    assert_int_equal(psa_hash_update(&op, (const uint8_t *)"abc", 3), PSA_SUCCESS);
    assert_int_equal(psa_hash_finish(&op, out, 47, &len), PSA_ERROR_BUFFER_TOO_SMALL);
    assert_int_equal(psa_hash_update(&op, (const uint8_t *)"x", 1), PSA_ERROR_BAD_STATE);
    assert_int_equal(psa_hash_compute(PSA_ALG_SHA_256, (const uint8_t *)"abc", 3, out, 31, &len),
                     PSA_ERROR_BUFFER_TOO_SMALL);

    assert_int_equal(psa_hash_setup(&op, PSA_ALG_SHA_256), PSA_SUCCESS);
    assert_int_equal(psa_hash_update(&op, (const uint8_t *)"abc", 3), PSA_SUCCESS);
    assert_int_equal(psa_hash_finish(&op, out, sizeof out, &len), PSA_SUCCESS);
    reference(PSA_ALG_SHA_256, (const uint8_t *)"abc", 3, want);
    assert_memory_equal(out, want, 32);
}

/* What the driver does not take stays with mbedTLS's code, correct. */
static void test_other_algorithms_builtin(void **state)
{
    (void)state;
    const psa_algorithm_t algs[] = { PSA_ALG_SHA_224, PSA_ALG_SHA_512 };
    uint8_t msg[200], want[64], got[64];
    fill(msg, sizeof msg);
    for (size_t i = 0; i < 2; i++) {
        psa_hash_operation_t op = PSA_HASH_OPERATION_INIT;
        size_t len;
        assert_int_equal(psa_hash_setup(&op, algs[i]), PSA_SUCCESS);
        assert_int_equal(op_id(&op), BUILTIN_ID);
        assert_int_equal(psa_hash_update(&op, msg, sizeof msg), PSA_SUCCESS);
        assert_int_equal(psa_hash_finish(&op, got, sizeof got, &len), PSA_SUCCESS);
        size_t wn = reference(algs[i], msg, sizeof msg, want);
        assert_int_equal(len, wn);
        assert_memory_equal(got, want, wn);
    }
}

/* PSA's HMAC (the TLS 1.2 PRF, TLS 1.3's HKDF) hashes through the driver:
 * the same MACs as mbedTLS's own HMAC (md.c, built-in hashes). */
static void test_hmac_through_driver(void **state)
{
    (void)state;
    const psa_algorithm_t algs[] = { PSA_ALG_SHA_256, PSA_ALG_SHA_384 };
    const mbedtls_md_type_t mds[] = { MBEDTLS_MD_SHA256, MBEDTLS_MD_SHA384 };
    for (size_t i = 0; i < 2; i++) {
        for (size_t keylen = 16; keylen <= 160; keylen += 48) {
            uint8_t key[160], msg[333], want[64], got[64];
            fill(key, keylen);
            fill(msg, sizeof msg);
            psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
            psa_set_key_type(&a, PSA_KEY_TYPE_HMAC);
            psa_set_key_usage_flags(&a, PSA_KEY_USAGE_SIGN_MESSAGE);
            psa_set_key_algorithm(&a, PSA_ALG_HMAC(algs[i]));
            mbedtls_svc_key_id_t id;
            assert_int_equal(psa_import_key(&a, key, keylen, &id), PSA_SUCCESS);
            size_t len;
            assert_int_equal(psa_mac_compute(id, PSA_ALG_HMAC(algs[i]), msg, sizeof msg, got, sizeof got, &len),
                             PSA_SUCCESS);
            psa_destroy_key(id);
            assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(mds[i]), key, keylen, msg, sizeof msg, want),
                             0);
            assert_int_equal(len, PSA_HASH_LENGTH(algs[i]));
            assert_memory_equal(got, want, len);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_random_lengths_multipart),
        cmocka_unit_test(test_clone),
        cmocka_unit_test(test_abort_and_errors),
        cmocka_unit_test(test_other_algorithms_builtin),
        cmocka_unit_test(test_hmac_through_driver),
    };
    rng_state = 0x9e3779b9u; /* this test's own stream */
    return cmocka_run_group_tests(tests, setup, teardown);
}
