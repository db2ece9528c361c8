/* Unit tests for src/net/tls13_ticket.c: the block a TLS 1.3 ticket carries
 * (start, verification result, leaf) written and read back, without a leaf,
 * and refused whole when truncated anywhere or when the leaf is not a
 * certificate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <mbedtls/x509.h>

#include "net/tls13_ticket.h"
#include "x509_kit.h"

static void test_round_trip(void **state)
{
    (void)state;
    mbedtls_pk_context key;
    tk_key(&key, 0);
    mbedtls_x509_crt *leaf = tk_cert(&(tk_cert_opts){ .subject = "CN=alice,O=Test", .key = &key, .ca = 0 });
    assert_non_null(leaf);
    unsigned char buf[4096];
    size_t n = cg_tls13_ticket_put(buf, sizeof buf, 1700000000, MBEDTLS_X509_BADCERT_EXPIRED, leaf);
    assert_int_equal(n, 15 + leaf->raw.len);
    assert_int_equal(cg_tls13_ticket_put(buf, n - 1, 1, 0, leaf), 0); /* no room: nothing */

    cg_tls13_resumed r = { 0 };
    size_t used = 0;
    assert_true(cg_tls13_ticket_get(buf, n + 7, &used, &r)); /* what follows is the caller's */
    assert_int_equal(used, n);
    assert_true(r.present);
    assert_int_equal(r.started, 1700000000);
    assert_int_equal(r.flags, MBEDTLS_X509_BADCERT_EXPIRED);
    assert_non_null(r.chain);
    assert_int_equal(r.chain->raw.len, leaf->raw.len);
    assert_memory_equal(r.chain->raw.p, leaf->raw.p, leaf->raw.len);

    /* Truncated anywhere: refused, nothing kept. */
    for (size_t cut = 0; cut < n; cut++) {
        assert_false(cg_tls13_ticket_get(buf, cut, &used, &r));
        assert_false(r.present);
        assert_null(r.chain);
    }
    /* The leaf's bytes altered into something that is not a certificate. */
    buf[15] ^= 0xFF;
    assert_false(cg_tls13_ticket_get(buf, n, &used, &r));
    assert_null(r.chain);
    cg_tls13_resumed_clear(&r);
    tk_cert_free(leaf);
    mbedtls_pk_free(&key);
}

static void test_without_leaf(void **state)
{
    (void)state;
    unsigned char buf[64];
    size_t n = cg_tls13_ticket_put(buf, sizeof buf, 42, MBEDTLS_X509_BADCERT_MISSING, NULL);
    assert_int_equal(n, 15);
    cg_tls13_resumed r = { 0 };
    size_t used = 0;
    assert_true(cg_tls13_ticket_get(buf, n, &used, &r));
    assert_int_equal(used, 15);
    assert_true(r.present);
    assert_null(r.chain);
    assert_int_equal(r.flags, MBEDTLS_X509_BADCERT_MISSING);
    assert_int_equal(r.started, 42);
    /* A length past the end. */
    buf[14] = 1;
    assert_false(cg_tls13_ticket_get(buf, n, &used, &r));
    cg_tls13_resumed_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_without_leaf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
