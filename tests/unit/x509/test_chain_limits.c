/* Unit tests of the Certificate-message inspection (chain_limits.c): the
 * message walk (counts, hostile lengths: never a read out of bounds, which
 * ASan would catch as every input is an exact-size heap copy), and each
 * limit: count, same-name candidates, path length, RSA exponent, each judged
 * alike from the message (TLS 1.2) and from the parsed chain (TLS 1.3). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "x509/chain_limits.h"
#include <mbedtls/ssl.h>

#include "x509_kit.h"

#define KU_CA (MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN)

static mbedtls_pk_context k_root, k_int, k_leaf, k_fake, k_rsa;

static int setup(void **state)
{
    (void)state;
    tk_key(&k_root, 0);
    tk_key(&k_int, 0);
    tk_key(&k_leaf, 0);
    tk_key(&k_fake, 0);
    tk_key(&k_rsa, 2048);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mbedtls_pk_free(&k_root);
    mbedtls_pk_free(&k_int);
    mbedtls_pk_free(&k_leaf);
    mbedtls_pk_free(&k_fake);
    mbedtls_pk_free(&k_rsa);
    return 0;
}

static mbedtls_x509_crt *ca(const char *subject, const char *issuer, mbedtls_pk_context *key,
                            mbedtls_pk_context *issuer_key, const char *serial)
{
    return tk_cert(&(tk_cert_opts){ .subject = subject, .issuer = issuer, .key = key, .issuer_key = issuer_key,
                                    .serial = serial, .ca = 1, .pathlen = -1, .key_usage = KU_CA });
}

static mbedtls_x509_crt *leaf(const char *issuer, mbedtls_pk_context *key, mbedtls_pk_context *issuer_key)
{
    return tk_cert(&(tk_cert_opts){ .subject = "CN=leaf,O=Test", .issuer = issuer, .key = key,
                                    .issuer_key = issuer_key, .ca = 0,
                                    .key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE, .eku = "client" });
}

static void drop(mbedtls_x509_crt *c)
{
    mbedtls_x509_crt_free(c);
    free(c);
}

/* A Certificate handshake message of certs, in an exact-size heap block. */
static unsigned char *message(mbedtls_x509_crt *const *certs, size_t n, size_t *len)
{
    size_t body = 0;
    for (size_t i = 0; i < n; i++)
        body += 3 + certs[i]->raw.len;
    *len = 4 + 3 + body;
    unsigned char *m = malloc(*len), *p = m;
    *p++ = MBEDTLS_SSL_HS_CERTIFICATE;
    size_t hl = 3 + body;
    *p++ = (unsigned char)(hl >> 16), *p++ = (unsigned char)(hl >> 8), *p++ = (unsigned char)hl;
    *p++ = (unsigned char)(body >> 16), *p++ = (unsigned char)(body >> 8), *p++ = (unsigned char)body;
    for (size_t i = 0; i < n; i++) {
        size_t l = certs[i]->raw.len;
        *p++ = (unsigned char)(l >> 16), *p++ = (unsigned char)(l >> 8), *p++ = (unsigned char)l;
        memcpy(p, certs[i]->raw.p, l);
        p += l;
    }
    return m;
}

static unsigned char *copy(const unsigned char *p, size_t n)
{
    unsigned char *c = malloc(n ? n : 1);
    memcpy(c, p, n);
    return c;
}

/* Judges certs both ways and requires the same verdict and sentence: as
 * the TLS 1.2 message (cg_chain_limits_check()) and as the chain mbedTLS
 * parsed, which TLS 1.3 hands certgate before verifying it
 * (cg_chain_limits_check_chain(), through the bundled mbedTLS's hook). */
static cg_chain_verdict check(mbedtls_x509_crt *const *certs, size_t n, const cg_chain_limits *lim, char *why,
                              size_t cap, mbedtls_x509_crt *named)
{
    size_t len;
    unsigned char *m = message(certs, n, &len);
    why[0] = '\0';
    cg_chain_verdict v = cg_chain_limits_check(m, len, lim, why, cap, named);
    free(m);
    mbedtls_x509_crt parsed;
    mbedtls_x509_crt_init(&parsed);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(mbedtls_x509_crt_parse_der(&parsed, certs[i]->raw.p, certs[i]->raw.len), 0);
    char why_parsed[600] = "";
    assert_true(cap <= sizeof why_parsed);
    cg_chain_verdict v_parsed = cg_chain_limits_check_chain(&parsed, lim, why_parsed, cap);
    mbedtls_x509_crt_free(&parsed);
    assert_int_equal(v_parsed, v);
    if (v == CG_CHAIN_OVER)
        assert_string_equal(why_parsed, why);
    return v;
}

static void test_split_counts_and_spans(void **state)
{
    (void)state;
    mbedtls_x509_crt *r = ca("CN=Root,O=Test", NULL, &k_root, NULL, "1");
    mbedtls_x509_crt *l = leaf("CN=Root,O=Test", &k_leaf, &k_root);
    mbedtls_x509_crt *certs[] = { l, r, r };
    size_t len;
    unsigned char *m = message(certs, 3, &len);
    cg_chain_span sp[2];
    assert_int_equal(cg_chain_msg_split(m, len, sp, 2), 3); /* counts past cap */
    assert_int_equal(sp[0].off, 10);
    assert_int_equal(sp[0].len, l->raw.len);
    assert_memory_equal(m + sp[1].off, r->raw.p, r->raw.len);
    /* No certificate at all. */
    unsigned char empty[] = { MBEDTLS_SSL_HS_CERTIFICATE, 0, 0, 3, 0, 0, 0 };
    assert_int_equal(cg_chain_msg_split(empty, sizeof empty, sp, 2), 0);
    /* Every truncation of a valid message is malformed, read within bounds. */
    for (size_t n = 0; n < len; n++) {
        unsigned char *c = copy(m, n);
        assert_int_equal(cg_chain_msg_split(c, n, sp, 2), -1);
        free(c);
    }
    free(m);
    drop(r);
    drop(l);
}

static void test_split_hostile_lengths(void **state)
{
    (void)state;
    cg_chain_span sp[4];
    /* Wrong type; header or list length not matching the message. */
    unsigned char wrong_type[] = { MBEDTLS_SSL_HS_CLIENT_KEY_EXCHANGE, 0, 0, 3, 0, 0, 0 };
    unsigned char hs_long[] = { MBEDTLS_SSL_HS_CERTIFICATE, 0, 0, 4, 0, 0, 0 };
    unsigned char list_long[] = { MBEDTLS_SSL_HS_CERTIFICATE, 0, 0, 3, 0, 0, 1 };
    /* A certificate length of 0xffffff, of 0, and 2 stray bytes. */
    unsigned char huge[] = { MBEDTLS_SSL_HS_CERTIFICATE, 0, 0, 7, 0, 0, 4, 0xff, 0xff, 0xff, 0x30 };
    unsigned char zero[] = { MBEDTLS_SSL_HS_CERTIFICATE, 0, 0, 6, 0, 0, 3, 0, 0, 0 };
    unsigned char stray[] = { MBEDTLS_SSL_HS_CERTIFICATE, 0, 0, 9, 0, 0, 6, 0, 0, 1, 0x30, 0, 0 };
    /* One byte past the message in the last certificate's length. */
    unsigned char over[] = { MBEDTLS_SSL_HS_CERTIFICATE, 0, 0, 7, 0, 0, 4, 0, 0, 2, 0x30 };
    struct { unsigned char *p; size_t n; } bad[] = {
        { wrong_type, sizeof wrong_type }, { hs_long, sizeof hs_long }, { list_long, sizeof list_long },
        { huge, sizeof huge }, { zero, sizeof zero }, { stray, sizeof stray }, { over, sizeof over },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char *c = copy(bad[i].p, bad[i].n);
        assert_int_equal(cg_chain_msg_split(c, bad[i].n, sp, 4), -1);
        char why[64];
        cg_chain_limits lim = { .max_certificates = 10, .max_depth = 6 };
        assert_int_equal(cg_chain_limits_check(c, bad[i].n, &lim, why, sizeof why, NULL), CG_CHAIN_MALFORMED);
        free(c);
    }
    assert_int_equal(cg_chain_msg_split(NULL, 0, sp, 4), -1);
    /* 5,000 one-byte "certificates": counted (over any limit), bounded work. */
    size_t n = 5000, len = 7 + n * 4;
    unsigned char *m = malloc(len);
    m[0] = MBEDTLS_SSL_HS_CERTIFICATE;
    m[1] = (unsigned char)((len - 4) >> 16), m[2] = (unsigned char)((len - 4) >> 8), m[3] = (unsigned char)(len - 4);
    m[4] = (unsigned char)((len - 7) >> 16), m[5] = (unsigned char)((len - 7) >> 8), m[6] = (unsigned char)(len - 7);
    for (size_t i = 0; i < n; i++)
        memcpy(m + 7 + i * 4, "\0\0\1\x30", 4);
    assert_int_equal(cg_chain_msg_split(m, len, sp, 4), 5000);
    char why[300];
    cg_chain_limits lim = { .listener = "main", .max_certificates = 10, .max_depth = 6 };
    assert_int_equal(cg_chain_limits_check(m, len, &lim, why, sizeof why, NULL), CG_CHAIN_OVER);
    assert_non_null(strstr(why, "sent 5000 certificates"));
    free(m);
}

static void test_count_limit(void **state)
{
    (void)state;
    mbedtls_x509_crt *r = ca("CN=Root,O=Test", NULL, &k_root, NULL, "1");
    mbedtls_x509_crt *i = ca("CN=Int,O=Test", "CN=Root,O=Test", &k_int, &k_root, "2");
    mbedtls_x509_crt *l = leaf("CN=Int,O=Test", &k_leaf, &k_int);
    mbedtls_x509_crt *u[3];
    for (int k = 0; k < 3; k++) {
        char name[32];
        snprintf(name, sizeof name, "CN=Unrelated %d", k);
        u[k] = ca(name, NULL, &k_fake, NULL, "3");
    }
    mbedtls_x509_crt *certs[] = { l, i, u[0], u[1], u[2] };
    cg_chain_limits lim = { .listener = "main", .max_certificates = 5, .max_depth = 6, .trust = r };
    char why[600];
    mbedtls_x509_crt named;
    mbedtls_x509_crt_init(&named);
    assert_int_equal(check(certs, 5, &lim, why, sizeof why, &named), CG_CHAIN_WITHIN);
    assert_null(named.raw.p); /* only parsed on a refusal */
    lim.max_certificates = 4;
    assert_int_equal(check(certs, 5, &lim, why, sizeof why, &named), CG_CHAIN_OVER);
    assert_non_null(strstr(why, "sent 5 certificates"));
    assert_non_null(strstr(why, "listeners[main].tls.max_client_certificates"));
    /* The leaf, parsed to name the client. */
    assert_non_null(named.raw.p);
    assert_memory_equal(named.raw.p, l->raw.p, l->raw.len);
    mbedtls_x509_crt_free(&named);
    /* The legitimate two (leaf + intermediate). */
    lim.max_certificates = 2;
    assert_int_equal(check(certs, 2, &lim, why, sizeof why, NULL), CG_CHAIN_WITHIN);
    drop(r), drop(i), drop(l);
    for (int k = 0; k < 3; k++)
        drop(u[k]);
}

static void test_same_name_candidates(void **state)
{
    (void)state;
    mbedtls_x509_crt *r = ca("CN=Root,O=Test", NULL, &k_root, NULL, "1");
    mbedtls_x509_crt *l = leaf("CN=Root,O=Test", &k_leaf, &k_fake);
    /* Fakes named like the trusted root, with the attacker's key; one with
     * the name in other letter case (the same name to mbedTLS). */
    mbedtls_x509_crt *f1 = ca("CN=Root,O=Test", NULL, &k_fake, NULL, "11");
    mbedtls_x509_crt *f2 = ca("CN=Root,O=Test", NULL, &k_fake, NULL, "12");
    mbedtls_x509_crt *f3 = ca("CN=ROOT,O=test", NULL, &k_fake, NULL, "13");
    cg_chain_limits lim = { .listener = "main", .max_certificates = 10, .max_depth = 6, .trust = r };
    char why[600];
    mbedtls_x509_crt *two[] = { l, f1, f2 };
    assert_int_equal(check(two, 3, &lim, why, sizeof why, NULL), CG_CHAIN_WITHIN);
    mbedtls_x509_crt *three[] = { l, f1, f2, f3 };
    assert_int_equal(check(three, 4, &lim, why, sizeof why, NULL), CG_CHAIN_OVER);
    assert_non_null(strstr(why, "3 certificates named like the trusted CA \""));
    assert_non_null(strstr(why, "Root"));
    /* Not named like a trusted CA: the sentence says so. */
    mbedtls_x509_crt *g[3];
    for (int k = 0; k < 3; k++)
        g[k] = ca("CN=Other CA", NULL, &k_fake, NULL, k == 0 ? "21" : k == 1 ? "22" : "23");
    mbedtls_x509_crt *others[] = { l, g[0], g[1], g[2] };
    assert_int_equal(check(others, 4, &lim, why, sizeof why, NULL), CG_CHAIN_OVER);
    assert_non_null(strstr(why, "named like the CA \""));
    drop(r), drop(l), drop(f1), drop(f2), drop(f3);
    for (int k = 0; k < 3; k++)
        drop(g[k]);
}

static void test_path_length(void **state)
{
    (void)state;
    /* leaf <- P0 <- P1 <- ... : distinct names, one path through the message. */
    mbedtls_x509_crt *p[8];
    char names[9][32];
    for (int k = 0; k < 9; k++)
        snprintf(names[k], sizeof names[k], "CN=Path %d", k);
    for (int k = 0; k < 8; k++)
        p[k] = ca(names[k], names[k + 1], &k_fake, &k_fake, "5");
    mbedtls_x509_crt *l = leaf(names[0], &k_leaf, &k_fake);
    mbedtls_x509_crt *r = ca("CN=Root,O=Test", NULL, &k_root, NULL, "1");
    mbedtls_x509_crt *certs[9] = { l, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7] };
    cg_chain_limits lim = { .listener = "main", .max_certificates = 10, .max_depth = 6, .trust = r };
    char why[600];
    /* 5 certificates + the anchor = 6: within; 6 + 1: over. */
    assert_int_equal(check(certs, 5, &lim, why, sizeof why, NULL), CG_CHAIN_WITHIN);
    assert_int_equal(check(certs, 6, &lim, why, sizeof why, NULL), CG_CHAIN_OVER);
    assert_non_null(strstr(why, "chain of 6 certificates"));
    assert_non_null(strstr(why, "listeners[main].tls.max_chain_depth"));
    /* The same certificates out of path order (each issuer before its
     * subject) form no path: mbedTLS only looks forward. */
    mbedtls_x509_crt *reversed[] = { l, p[5], p[4], p[3], p[2], p[1], p[0] };
    assert_int_equal(check(reversed, 7, &lim, why, sizeof why, NULL), CG_CHAIN_WITHIN);
    /* A copy of a trust-list certificate ends the path. */
    lim.trust = p[3];
    assert_int_equal(check(certs, 9, &lim, why, sizeof why, NULL), CG_CHAIN_WITHIN);
    drop(l), drop(r);
    for (int k = 0; k < 8; k++)
        drop(p[k]);
}

static void test_rsa_exponent(void **state)
{
    (void)state;
    mbedtls_x509_crt *r = ca("CN=Root,O=Test", NULL, &k_root, NULL, "1");
    /* An RSA public key with a 100-bit exponent (valid: odd, below N). */
    mbedtls_pk_context big;
    mbedtls_pk_init(&big);
    assert_int_equal(mbedtls_pk_setup(&big, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), 0);
    mbedtls_mpi n, e;
    mbedtls_mpi_init(&n);
    mbedtls_mpi_init(&e);
    assert_int_equal(mbedtls_rsa_export(mbedtls_pk_rsa(k_rsa), &n, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(mbedtls_mpi_read_string(&e, 16, "10000000000000000000000001"), 0);
    assert_int_equal(mbedtls_rsa_import(mbedtls_pk_rsa(big), &n, NULL, NULL, NULL, &e), 0);
    assert_int_equal(mbedtls_rsa_complete(mbedtls_pk_rsa(big)), 0);
    mbedtls_mpi_free(&n);
    mbedtls_mpi_free(&e);
    mbedtls_x509_crt *bad = tk_cert(&(tk_cert_opts){ .subject = "CN=leaf,O=Test", .issuer = "CN=Root,O=Test",
                                                     .key = &big, .issuer_key = &k_root, .ca = 0,
                                                     .key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE });
    mbedtls_x509_crt *good = tk_cert(&(tk_cert_opts){ .subject = "CN=leaf,O=Test", .issuer = "CN=Root,O=Test",
                                                      .key = &k_rsa, .issuer_key = &k_root, .ca = 0,
                                                      .key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE });
    cg_chain_limits lim = { .listener = "main", .max_certificates = 10, .max_depth = 6, .trust = r };
    char why[600];
    assert_int_equal(check(&good, 1, &lim, why, sizeof why, NULL), CG_CHAIN_WITHIN);
    assert_int_equal(check(&bad, 1, &lim, why, sizeof why, NULL), CG_CHAIN_OVER);
    assert_non_null(strstr(why, "RSA public exponent of 101 bits"));
    mbedtls_pk_free(&big);
    drop(r), drop(bad), drop(good);
}

static void test_names_match_like_mbedtls(void **state)
{
    (void)state;
    mbedtls_x509_crt *a = ca("CN=Example CA,O=Test", NULL, &k_fake, NULL, "1");
    mbedtls_x509_crt *b = ca("CN=EXAMPLE ca,O=TEST", NULL, &k_fake, NULL, "2");
    mbedtls_x509_crt *c = ca("CN=Example CA2,O=Test", NULL, &k_fake, NULL, "3");
    mbedtls_x509_crt *d = ca("O=Test,CN=Example CA", NULL, &k_fake, NULL, "4");
    mbedtls_x509_crt *e = ca("CN=Example CA", NULL, &k_fake, NULL, "5");
    assert_true(cg_chain_names_match(&a->subject, &b->subject));
    assert_false(cg_chain_names_match(&a->subject, &c->subject));
    assert_false(cg_chain_names_match(&a->subject, &d->subject)); /* order counts */
    assert_false(cg_chain_names_match(&a->subject, &e->subject)); /* a prefix is not the name */
    assert_false(cg_chain_names_match(&e->subject, &a->subject));
    drop(a), drop(b), drop(c), drop(d), drop(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_counts_and_spans),
        cmocka_unit_test(test_split_hostile_lengths),
        cmocka_unit_test(test_count_limit),
        cmocka_unit_test(test_same_name_candidates),
        cmocka_unit_test(test_path_length),
        cmocka_unit_test(test_rsa_exponent),
        cmocka_unit_test(test_names_match_like_mbedtls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
