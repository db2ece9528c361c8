/* Unit tests of the DN identity headers (identity.c): a Name's RFC 4514
 * text up to CG_IDENTITY_DN_MAX bytes is the header's value, exactly; one
 * byte longer, or bytes that are not a Name, and the value is the SHA-256
 * of the DER with the -Form header saying so. Names built here in DER. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "http/identity.h"

/* DER length octets of n at p; returns their count. */
static size_t der_len(unsigned char *p, size_t n)
{
    if (n < 128) {
        p[0] = (unsigned char)n;
        return 1;
    }
    p[0] = 0x82;
    p[1] = (unsigned char)(n >> 8);
    p[2] = (unsigned char)n;
    return 3;
}

/* Name = SEQUENCE { SET { SEQUENCE { OID 2.5.4.3 (CN), UTF8String value } } } */
static size_t name_der(unsigned char *out, const char *value)
{
    size_t vl = strlen(value);
    unsigned char atv[8192], set[8192];
    size_t a = 0, s = 0, o = 0;
    static const unsigned char oid[] = { 0x06, 0x03, 0x55, 0x04, 0x03 };
    unsigned char str[8192];
    size_t k = 0;
    str[k++] = 0x0c;
    k += der_len(str + k, vl);
    memcpy(str + k, value, vl);
    k += vl;
    atv[a++] = 0x30;
    a += der_len(atv + a, sizeof oid + k);
    memcpy(atv + a, oid, sizeof oid);
    a += sizeof oid;
    memcpy(atv + a, str, k);
    a += k;
    set[s++] = 0x31;
    s += der_len(set + s, a);
    memcpy(set + s, atv, a);
    s += a;
    out[o++] = 0x30;
    o += der_len(out + o, s);
    memcpy(out + o, set, s);
    return o + s;
}

static char *header_of(const unsigned char *der, size_t len)
{
    cg_buf b = { 0 };
    assert_true(cg_identity_dn_header(&b, "X-Client-Cert-Subject", der, len));
    assert_true(cg_buf_append(&b, "", 1));
    return b.data;
}

static void expect_digest_form(const unsigned char *der, size_t len)
{
    unsigned char d[32];
    char want[300];
    assert_int_equal(mbedtls_sha256(der, len, d, 0), 0);
    int o = snprintf(want, sizeof want, "X-Client-Cert-Subject: ");
    for (int i = 0; i < 32; i++)
        o += snprintf(want + o, sizeof want - (size_t)o, "%02x", d[i]);
    snprintf(want + o, sizeof want - (size_t)o, "\r\nX-Client-Cert-Subject-Form: sha256\r\n");
    char *got = header_of(der, len);
    assert_string_equal(got, want);
    free(got);
}

static void test_text_up_to_the_limit(void **state)
{
    (void)state;
    static unsigned char der[9000];
    static char value[6000], want[6100];
    /* short, and the text exactly CG_IDENTITY_DN_MAX bytes ("CN=" + value) */
    size_t lens[] = { 5, 200, CG_IDENTITY_DN_MAX - 3 };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        memset(value, 'a' + (int)i, lens[i]);
        value[lens[i]] = '\0';
        size_t n = name_der(der, value);
        snprintf(want, sizeof want, "X-Client-Cert-Subject: CN=%s\r\n", value);
        char *got = header_of(der, n);
        assert_string_equal(got, want);
        free(got);
    }
    /* one byte over: the digest instead */
    memset(value, 'z', CG_IDENTITY_DN_MAX - 2);
    value[CG_IDENTITY_DN_MAX - 2] = '\0';
    size_t n = name_der(der, value);
    expect_digest_form(der, n);
    /* far over */
    memset(value, 'y', 5000);
    value[5000] = '\0';
    n = name_der(der, value);
    expect_digest_form(der, n);
    /* not a Name */
    static const unsigned char junk[] = { 0x30, 0x05, 0x31, 0x09, 0x00, 0x00, 0x00 };
    expect_digest_form(junk, sizeof junk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_up_to_the_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
