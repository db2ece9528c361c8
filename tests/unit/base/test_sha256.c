/* base/sha256.h: certgate's own SHA-256 (through PSA: certgate's driver with
 * the bundled mbedTLS) gives mbedTLS's built-in digests, one message or two
 * parts, with or without psa_crypto_init(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <mbedtls/sha256.h>
#include <psa/crypto.h>

#include "base/sha256.h"

static void test_vector(void **state)
{
    (void)state;
    static const unsigned char abc[32] = { 0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                                           0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                                           0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
    unsigned char out[32];
    cg_sha256("abc", 3, out);
    assert_memory_equal(out, abc, 32);
    cg_sha256_2("a", 1, "bc", 2, out);
    assert_memory_equal(out, abc, 32);
    cg_sha256_2("", 0, "abc", 3, out);
    assert_memory_equal(out, abc, 32);
}

/* Lengths across block boundaries, split at every place for a few. */
static void run_lengths(void)
{
    static unsigned char msg[1200];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (unsigned char)(i * 37 + (i >> 7));
    for (size_t n = 0; n <= sizeof msg; n += (n < 200 ? 1 : 97)) {
        unsigned char want[32], got[32];
        assert_int_equal(mbedtls_sha256(msg, n, want, 0), 0);
        cg_sha256(msg, n, got);
        assert_memory_equal(got, want, 32);
        for (size_t cut = 0; cut <= n; cut += (n < 130 ? 1 : 61)) {
            memset(got, 0, sizeof got);
            cg_sha256_2(msg, cut, msg + cut, n - cut, got);
            assert_memory_equal(got, want, 32);
        }
    }
}

static void test_lengths_before_init(void **state)
{
    (void)state;
    run_lengths();
}

static void test_lengths_after_init(void **state)
{
    (void)state;
    assert_int_equal(psa_crypto_init(), PSA_SUCCESS);
    run_lengths();
    mbedtls_psa_crypto_free();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vector),
        cmocka_unit_test(test_lengths_before_init),
        cmocka_unit_test(test_lengths_after_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
