/* cert_headers.h: the client certificate for the application. RFC 8941 Byte
 * Sequences (standard base64 with padding between colons), RFC 9440's
 * Client-Cert / Client-Cert-Chain lines, ARR's X-ARR-ClientCert, and sizes
 * that are exactly what is written. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "http/cert_headers.h"

static char *render(const cg_cert_der_cfg *cfg, cg_der leaf, const cg_der *inter, size_t ninter)
{
    cg_buf b = { 0 };
    assert_true(cg_cert_headers_append(&b, cfg, leaf, inter, ninter));
    assert_int_equal(b.len, cg_cert_headers_size(cfg, leaf, inter, ninter));
    assert_true(cg_buf_append(&b, "", 1)); /* the NUL */
    return b.data;
}

static char *sf(const void *p, size_t n)
{
    cg_buf b = { 0 };
    assert_true(cg_sf_bytes_append(&b, p, n));
    assert_int_equal(b.len, cg_sf_bytes_len(n));
    assert_true(cg_buf_append(&b, "", 1));
    return b.data;
}

#define DER(s) ((cg_der){ (const unsigned char *)(s), sizeof(s) - 1 })

/* RFC 8941 4.1.8: ":" base64 (RFC 4648 section 4, the standard alphabet,
 * with padding) ":". */
static void test_byte_sequence(void **state)
{
    (void)state;
    struct {
        const char *in;
        size_t n;
        const char *out;
    } rows[] = {
        { "", 0, "::" },
        { "\x00", 1, ":AA==:" },
        { "he", 2, ":aGU=:" },
        { "hello", 5, ":aGVsbG8=:" },
        { "pretend this is binary content.", 31, ":cHJldGVuZCB0aGlzIGlzIGJpbmFyeSBjb250ZW50Lg==:" }, /* RFC 8941's */
        { "\xfb\xff\xbf", 3, ":+/+/:" },  /* '+' and '/', never the URL-safe '-' and '_' */
        { "\x30\x82\x01", 3, ":MIIB:" }, /* how every DER certificate starts */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char *got = sf(rows[i].in, rows[i].n);
        assert_string_equal(got, rows[i].out);
        free(got);
    }
    /* Lengths: 2 + 4 * ceil(n / 3), for every remainder. */
    for (size_t n = 0; n < 40; n++)
        assert_int_equal(cg_sf_bytes_len(n), 2 + (n + 2) / 3 * 4);
}

static void test_forms(void **state)
{
    (void)state;
    cg_der leaf = DER("\x30\x82\x01"), i1 = DER("\x01\x02"), i2 = DER("hello");
    cg_der inter[] = { i1, i2 };

    cg_cert_der_cfg off = { .form = CG_CERT_DER_OFF, .chain = true, .max_size = 16384 };
    assert_int_equal(cg_cert_headers_size(&off, leaf, inter, 2), 0);
    char *s = render(&off, leaf, inter, 2);
    assert_string_equal(s, "");
    free(s);

    cg_cert_der_cfg leaf_only = { .form = CG_CERT_DER_RFC9440, .chain = false, .max_size = 16384 };
    s = render(&leaf_only, leaf, inter, 2);
    assert_string_equal(s, "Client-Cert: :MIIB:\r\n");
    free(s);

    /* The chain: a List of Byte Sequences, the leaf's issuer first, ", " between. */
    cg_cert_der_cfg chain = { .form = CG_CERT_DER_RFC9440, .chain = true, .max_size = 16384 };
    s = render(&chain, leaf, inter, 2);
    assert_string_equal(s, "Client-Cert: :MIIB:\r\nClient-Cert-Chain: :AQI=:, :aGVsbG8=:\r\n");
    free(s);
    /* One intermediate: a List of one item. */
    s = render(&chain, leaf, inter, 1);
    assert_string_equal(s, "Client-Cert: :MIIB:\r\nClient-Cert-Chain: :AQI=:\r\n");
    free(s);
    /* No intermediate (the leaf issued by the anchor): an empty List is not
     * sent at all (RFC 8941 3.1). */
    s = render(&chain, leaf, NULL, 0);
    assert_string_equal(s, "Client-Cert: :MIIB:\r\n");
    free(s);

    /* ARR: the base64 alone, the leaf only, whatever chain says. */
    cg_cert_der_cfg arr = { .form = CG_CERT_DER_ARR, .chain = true, .max_size = 16384 };
    s = render(&arr, leaf, inter, 2);
    assert_string_equal(s, "X-ARR-ClientCert: MIIB\r\n");
    free(s);

    cg_cert_der_cfg both = { .form = CG_CERT_DER_BOTH, .chain = true, .max_size = 16384 };
    s = render(&both, leaf, inter, 2);
    assert_string_equal(s, "Client-Cert: :MIIB:\r\nClient-Cert-Chain: :AQI=:, :aGVsbG8=:\r\n"
                           "X-ARR-ClientCert: MIIB\r\n");
    free(s);
}

/* Real sizes: a leaf of 1,500 bytes and four intermediates of 2,000, every
 * byte value; the size said is the size written, and every value is one
 * line of base64 characters (nothing that could end a header line). */
static void test_sizes_and_bytes(void **state)
{
    (void)state;
    unsigned char *big = malloc(2000);
    assert_non_null(big);
    for (size_t i = 0; i < 2000; i++)
        big[i] = (unsigned char)(i * 7 + 3);
    cg_der leaf = { big, 1500 };
    cg_der inter[4] = { { big, 2000 }, { big + 1, 1999 }, { big + 2, 1998 }, { big, 1 } };
    cg_cert_der_cfg both = { .form = CG_CERT_DER_BOTH, .chain = true, .max_size = 1u << 20 };
    size_t want = (sizeof "Client-Cert: " - 1) + 2 + 2000 + 2 +                            /* leaf */
                  (sizeof "Client-Cert-Chain: " - 1) + (2 + 2668) + 2 + (2 + 2668) + 2 + /* 2000, 1999 */
                  (2 + 2664) + 2 + (2 + 4) + 2 +                                          /* 1998, 1 */
                  (sizeof "X-ARR-ClientCert: " - 1) + 2000 + 2;
    assert_int_equal(cg_cert_headers_size(&both, leaf, inter, 4), want);
    char *s = render(&both, leaf, inter, 4);
    assert_int_equal(strlen(s), want);
    size_t lines = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '\r') {
            assert_int_equal(p[1], '\n');
            lines++;
            p++;
            continue;
        }
        assert_true(*p >= 0x20 && *p < 0x7f);
    }
    assert_int_equal(lines, 3);
    free(s);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_byte_sequence),
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_sizes_and_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
