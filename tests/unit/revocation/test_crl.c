/* Unit tests of the revocation modules (crl_parse.c, crl_asn1.c, crl_files.c,
 * crl_store.c, crl_fetch.c, crl_check.c): CRL parsing, serial lookup,
 * signatures, LDAP answers, transfer error texts, the store (files, cache
 * directory, replacement, generation), the chain check in cache-only mode
 * (revoked, expired, wrong key, delta CRLs, scopes, stale grace), and the
 * fetcher against a small HTTP server on loopback (shared fetches, 404,
 * refused, hang with timeout, redirects, size limit).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/pem.h>

#include "revocation/crl_check.h"
#include "revocation/crl_fetch.h"
#include "revocation/crl_parse.h"
#include "revocation/crl_store.h"
#include "revocation/ocsp_fetch.h"
#include "x509/verify.h"

#include "fixtures.h"
#include "x509_kit.h"

/* ---- a small PKI shared by the tests ---- */

static mbedtls_pk_context root_key, int_key, leaf_key, other_key;
static mbedtls_x509_crt *root, *inter, *leaf, *leaf2, *impostor;
static const char *ROOT_DN = "CN=Test Root,O=Test";
static const char *INT_DN = "CN=Test Intermediate,O=Test";

static int setup_pki(void **state)
{
    (void)state;
    tk_key(&root_key, 0);
    tk_key(&int_key, 0);
    tk_key(&leaf_key, 0);
    tk_key(&other_key, 0);
    root = tk_cert(&(tk_cert_opts){ .subject = ROOT_DN, .key = &root_key, .ca = 1, .pathlen = -1,
                                    .key_usage = MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN });
    inter = tk_cert(&(tk_cert_opts){ .subject = INT_DN, .issuer = ROOT_DN, .key = &int_key, .issuer_key = &root_key,
                                     .serial = "4660", .ca = 1, .pathlen = 0,
                                     .key_usage = MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN,
                                     .cdp = { "http://127.0.0.1:9/root.crl" } });
    leaf = tk_cert(&(tk_cert_opts){ .subject = "CN=alice,O=Test", .issuer = INT_DN, .key = &leaf_key,
                                    .issuer_key = &int_key, .serial = "1001", .ca = 0,
                                    .key_usage = MBEDTLS_X509_KU_DIGITAL_SIGNATURE, .eku = "client",
                                    .cdp = { "http://127.0.0.1:9/int.crl", "ldap://127.0.0.1:9/cn=x?crl" } });
    leaf2 = tk_cert(&(tk_cert_opts){ .subject = "CN=bob,O=Test", .issuer = INT_DN, .key = &leaf_key,
                                     .issuer_key = &int_key, .serial = "1002", .ca = 0, .eku = "client" });
    /* Same name as the intermediate, another key. */
    impostor = tk_cert(&(tk_cert_opts){ .subject = INT_DN, .issuer = ROOT_DN, .key = &other_key,
                                        .issuer_key = &root_key, .serial = "4661", .ca = 1, .pathlen = 0,
                                        .key_usage = MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN });
    return 0;
}

static int teardown_pki(void **state)
{
    (void)state;
    tk_cert_free(root);
    tk_cert_free(inter);
    tk_cert_free(leaf);
    tk_cert_free(leaf2);
    tk_cert_free(impostor);
    mbedtls_pk_free(&root_key);
    mbedtls_pk_free(&int_key);
    mbedtls_pk_free(&leaf_key);
    mbedtls_pk_free(&other_key);
    return 0;
}

static crl *parse_ok(const unsigned char *der, size_t len)
{
    char err[300] = "";
    crl *c = crl_parse(der, len, err, sizeof err);
    if (!c)
        fail_msg("crl_parse: %s", err);
    return c;
}

static crl *make_crl(const tk_crl_opts *o)
{
    size_t len;
    unsigned char *der = tk_crl(o, &len);
    crl *c = parse_ok(der, len);
    free(der);
    return c;
}

static void expect_parse_error(const unsigned char *buf, size_t len, const char *needle)
{
    char err[300] = "";
    crl *c = crl_parse(buf, len, err, sizeof err);
    if (c) {
        crl_unref(c);
        fail_msg("parsed, expected an error containing \"%s\"", needle);
    }
    if (!strstr(err, needle))
        fail_msg("error \"%s\" does not contain \"%s\"", err, needle);
}

/* ---- parsing ---- */

static void test_parse_entries_reasons_dates(void **state)
{
    (void)state;
    int64_t now = time(NULL);
    tk_crl_entry e[] = {
        { .serial = 1001, .when = now - 100, .reason = 1 },
        { .serial = 5, .reason = -1 },
        { .serial = 0x8000, .reason = 6 },
        { .serial = 77, .reason = 0 },
    };
    crl *c = make_crl(&(tk_crl_opts){ .issuer = INT_DN, .key = &int_key, .this_update = now - 60,
                                      .next_update = now + 3600, .number = 42, .entries = e, .nentries = 4 });
    assert_int_equal(c->nents, 4);
    assert_false(c->is_delta);
    assert_int_equal(c->this_update, now - 60);
    assert_int_equal(c->next_update, now + 3600);
    assert_int_equal(c->number_len, 1);
    assert_int_equal(c->number[0], 42);
    assert_string_equal(c->issuer, "O=Test,CN=Test Intermediate");

    unsigned char s1001[] = { 0x03, 0xe9 }, s5[] = { 0x05 }, s8000[] = { 0x00, 0x80, 0x00 }, s6[] = { 0x06 };
    const crl_entry *x = crl_find(c, s1001, sizeof s1001);
    assert_non_null(x);
    assert_int_equal(x->reason, CRL_REASON_KEY_COMPROMISE);
    assert_int_equal(x->revoked, now - 100);
    x = crl_find(c, s5, 1);
    assert_non_null(x);
    assert_int_equal(x->reason, CRL_REASON_NONE);
    /* A serial with its sign byte is the same serial. */
    x = crl_find(c, s8000, sizeof s8000);
    assert_non_null(x);
    assert_int_equal(x->reason, CRL_REASON_CERTIFICATE_HOLD);
    assert_non_null(crl_find(c, s8000 + 1, 2));
    assert_null(crl_find(c, s6, 1));
    assert_string_equal(crl_reason_name(CRL_REASON_KEY_COMPROMISE), "keyCompromise");
    assert_string_equal(crl_reason_name(CRL_REASON_REMOVE_FROM_CRL), "removeFromCRL");

    assert_int_equal(crl_check_signature(c, &int_key), 0);
    assert_int_not_equal(crl_check_signature(c, &root_key), 0);
    crl_unref(c);
}

static void test_parse_pem_and_empty(void **state)
{
    (void)state;
    size_t len;
    unsigned char *der = tk_crl(&(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key, .next_update = -1 }, &len);
    unsigned char pem[4096];
    size_t olen;
    assert_int_equal(mbedtls_pem_write_buffer("-----BEGIN X509 CRL-----\n", "-----END X509 CRL-----\n", der, len,
                                              pem, sizeof pem, &olen),
                     0);
    crl *c = parse_ok(pem, strlen((char *)pem));
    assert_int_equal(c->nents, 0);
    assert_int_equal(c->next_update, 0); /* absent */
    assert_int_equal(c->der_len, len);
    assert_memory_equal(c->der, der, len);
    crl_unref(c);
    free(der);
}

static void test_parse_rejects_non_crls(void **state)
{
    (void)state;
    expect_parse_error((const unsigned char *)"", 0, "empty");
    const char *html = "<!DOCTYPE html><html><body>Not Found</body></html>";
    expect_parse_error((const unsigned char *)html, strlen(html), "HTML");
    const char *text = "this is not a CRL at all\n";
    expect_parse_error((const unsigned char *)text, strlen(text), "text starting \"this is not a CRL");
    const char *cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    expect_parse_error((const unsigned char *)cert, strlen(cert), "PEM \"CERTIFICATE\"");
    const unsigned char junk[] = { 0x30, 0x82, 0x10, 0x00, 0x01, 0x02 };
    expect_parse_error(junk, sizeof junk, "not a CRL");
    /* A certificate in DER is a SEQUENCE too, but not a CRL. */
    expect_parse_error(leaf->raw.p, leaf->raw.len, "not a CRL");

    size_t len;
    unsigned char *der = tk_crl(&(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key }, &len);
    expect_parse_error(der, len - 5, "truncated");
    unsigned char *more = malloc(len + 3);
    memcpy(more, der, len);
    memcpy(more + len, "abc", 3);
    expect_parse_error(more, len + 3, "trailing bytes");
    free(more);
    free(der);

    der = tk_crl(&(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key, .unknown_critical = true }, &len);
    expect_parse_error(der, len, "unsupported critical extension (OID 1.3.6.1.4.1.311.99.1)");
    free(der);
}

static void test_parse_delta_idp_freshest(void **state)
{
    (void)state;
    crl *c = make_crl(&(tk_crl_opts){ .issuer = INT_DN, .key = &int_key, .number = 300, .delta = true,
                                      .base_number = 0x1234, .idp = 2,
                                      .freshest = { "http://x/delta.crl", "ldap://h/cn=d?deltaRevocationList" } });
    assert_true(c->is_delta);
    assert_int_equal(c->base_len, 2);
    assert_int_equal(c->base_number[0], 0x12);
    assert_int_equal(c->base_number[1], 0x34);
    assert_int_equal(c->number_len, 2); /* 300 = 0x012C */
    assert_true(c->idp & CRL_IDP_PRESENT);
    assert_true(c->idp & CRL_IDP_ONLY_CA);
    assert_false(c->idp & CRL_IDP_ONLY_USER);
    assert_int_equal(c->nfreshest, 2);
    assert_string_equal(c->freshest[0], "http://x/delta.crl");
    assert_string_equal(c->freshest[1], "ldap://h/cn=d?deltaRevocationList");
    crl_unref(c);

    c = make_crl(&(tk_crl_opts){ .issuer = INT_DN, .key = &int_key, .idp = 1 | 4 | 8 });
    assert_true(c->idp & CRL_IDP_ONLY_USER);
    assert_true(c->idp & CRL_IDP_SOME_REASONS);
    assert_true(c->idp & CRL_IDP_INDIRECT);
    crl_unref(c);
}

static void test_parse_rsa_and_sha384(void **state)
{
    (void)state;
    mbedtls_pk_context rsa;
    tk_key(&rsa, 2048);
    crl *c = make_crl(&(tk_crl_opts){ .issuer = ROOT_DN, .key = &rsa, .md = MBEDTLS_MD_SHA384 });
    assert_int_equal(c->md, MBEDTLS_MD_SHA384);
    assert_int_equal(c->pk, MBEDTLS_PK_RSA);
    assert_int_equal(crl_check_signature(c, &rsa), 0);
    assert_int_not_equal(crl_check_signature(c, &root_key), 0);
    cg_crl_info info;
    crl_info_fill(c, &info);
    assert_string_equal(info.signature, "RSA with SHA-384");
    crl_unref(c);
    mbedtls_pk_free(&rsa);
}

/* RSASSA-PSS CRLs (AD CS signs so with AlternateSignatureAlgorithm): the
 * parameters read (hash, MGF1 hash, salt length), the signature checked with
 * them; MGF1 with another hash than the signature's is refused, as mbedTLS
 * refuses it in certificates. */
static void test_parse_rsassa_pss(void **state)
{
    (void)state;
    mbedtls_pk_context rsa;
    tk_key(&rsa, 2048);
    crl *c = make_crl(&(tk_crl_opts){ .issuer = ROOT_DN, .key = &rsa, .pss = 1 });
    assert_int_equal(c->pk, MBEDTLS_PK_RSASSA_PSS);
    assert_int_equal(c->md, MBEDTLS_MD_SHA256);
    assert_int_equal(crl_check_signature(c, &rsa), 0);
    assert_int_not_equal(crl_check_signature(c, &root_key), 0);
    crl_unref(c);
    c = make_crl(&(tk_crl_opts){ .issuer = ROOT_DN, .key = &rsa, .pss = 1, .md = MBEDTLS_MD_SHA384 });
    assert_int_equal(c->md, MBEDTLS_MD_SHA384);
    assert_int_equal(crl_check_signature(c, &rsa), 0);
    crl_unref(c);
    size_t len;
    unsigned char *der = tk_crl(&(tk_crl_opts){ .issuer = ROOT_DN, .key = &rsa, .pss = 2 }, &len);
    expect_parse_error(der, len, "unsupported algorithm (OID 1.2.840.113549.1.1.10)");
    free(der);
    mbedtls_pk_free(&rsa);
}

/* The CRL's dates as DER times: a leap day, the GeneralizedTime of dates
 * from 2050, and impossible dates refused (the bytes changed in place). */
static void test_parse_times(void **state)
{
    (void)state;
    size_t len;
    unsigned char *der = tk_crl(&(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key, .next_update = -1,
                                                .this_update = 1709208000 /* 2024-02-29 12:00:00 */ },
                                &len);
    unsigned char *t = memmem(der, len, "\x17\x0d" "240229120000Z", 15);
    assert_non_null(t);
    crl *c = parse_ok(der, len);
    assert_int_equal(c->this_update, 1709208000);
    crl_unref(c);
    static const char *const bad[] = { "230229120000Z", "241301120000Z", "240230120000Z", "240229240000Z",
                                       "2402291200005", "24022912000aZ", "240229126000Z" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(t + 2, bad[i], 13);
        expect_parse_error(der, len, "malformed thisUpdate");
    }
    free(der);
    der = tk_crl(&(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key, .this_update = 2524608000 /* 2050-01-01 */,
                                 .next_update = 2556144000 /* 2051-01-01 */ },
                 &len);
    assert_non_null(memmem(der, len, "\x18\x0f" "20500101000000Z", 17));
    c = parse_ok(der, len);
    assert_int_equal(c->this_update, 2524608000);
    assert_int_equal(c->next_update, 2556144000);
    crl_unref(c);
    free(der);
}

static void test_tampered_crl_fails_signature(void **state)
{
    (void)state;
    size_t len;
    tk_crl_entry e[] = { { .serial = 1001, .reason = 1 } };
    unsigned char *der = tk_crl(&(tk_crl_opts){ .issuer = INT_DN, .key = &int_key, .entries = e, .nentries = 1 },
                                &len);
    /* Change the revoked serial 1001 (0x03E9) into 1000: still a CRL, signature broken. */
    unsigned char *p = memmem(der, len, "\x02\x02\x03\xe9", 4);
    assert_non_null(p);
    p[3] = 0xe8;
    crl *c = parse_ok(der, len);
    assert_int_not_equal(crl_check_signature(c, &int_key), 0);
    crl_unref(c);
    free(der);
}

static void test_lookup_100k_entries(void **state)
{
    (void)state;
    /* Serials 1000, 1007, 1014, ... in the CRL; the ones between are not. */
    crl *c = make_crl(&(tk_crl_opts){ .issuer = INT_DN, .key = &int_key, .gen_count = 100000, .gen_first = 1000,
                                      .gen_step = 7 });
    assert_int_equal(c->nents, 100000);
    for (uint64_t i = 0; i < 100000; i += 997) {
        for (int off = 0; off < 2; off++) {
            uint64_t v = 1000 + i * 7 + (uint64_t)off;
            unsigned char b[8];
            for (int k = 7; k >= 0; k--, v >>= 8)
                b[k] = (unsigned char)v;
            const crl_entry *e = crl_find(c, b, 8);
            if (off == 0)
                assert_non_null(e);
            else
                assert_null(e);
        }
    }
    /* The index is sorted: every entry is found by its own bytes. */
    for (size_t i = 0; i < c->nents; i += 1013)
        assert_ptr_equal(crl_find(c, c->der + c->ents[i].off, c->ents[i].len), &c->ents[i]);
    crl_unref(c);
}

/* ---- certificates' URLs, LDAP answers, transfer errors ---- */

static void test_cert_urls(void **state)
{
    (void)state;
    char *urls[8];
    size_t n = cg_crl_cert_urls(leaf, false, urls, 8);
    assert_int_equal(n, 2);
    assert_string_equal(urls[0], "http://127.0.0.1:9/int.crl");
    assert_string_equal(urls[1], "ldap://127.0.0.1:9/cn=x?crl");
    for (size_t i = 0; i < n; i++)
        free(urls[i]);
    assert_int_equal(cg_crl_cert_urls(leaf, true, urls, 8), 0);
    assert_int_equal(cg_crl_cert_urls(root, false, urls, 8), 0);
    mbedtls_x509_crt *c = tk_cert(&(tk_cert_opts){ .subject = "CN=d", .issuer = INT_DN, .key = &leaf_key,
                                                   .issuer_key = &int_key, .ca = 0,
                                                   .freshest = { "http://h/d.crl" } });
    n = cg_crl_cert_urls(c, true, urls, 8);
    assert_int_equal(n, 1);
    assert_string_equal(urls[0], "http://h/d.crl");
    free(urls[0]);
    tk_cert_free(c);
}

static void test_ldap_text(void **state)
{
    (void)state;
    size_t len, b64len;
    unsigned char *der = tk_crl(&(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key }, &len);
    unsigned char b64[4096];
    assert_int_equal(mbedtls_base64_encode(b64, sizeof b64, &b64len, der, len), 0);
    char text[8192];
    snprintf(text, sizeof text, "DN: cn=Sub1,dc=example,dc=test\n\tcertificateRevocationList;binary:: %s\n\n", b64);
    char err[300];
    size_t out_len;
    unsigned char *out = crl_from_ldap_text(text, strlen(text), &out_len, err, sizeof err);
    assert_non_null(out);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, der, len);
    free(out);
    snprintf(text, sizeof text, "DN: cn=x\n\tcn: x\n\tauthorityRevocationList: %s\n", b64);
    out = crl_from_ldap_text(text, strlen(text), &out_len, err, sizeof err);
    assert_non_null(out);
    free(out);
    snprintf(text, sizeof text, "DN: cn=x\n\tcn: x\n\n");
    assert_null(crl_from_ldap_text(text, strlen(text), &out_len, err, sizeof err));
    assert_non_null(strstr(err, "no certificateRevocationList value"));
    assert_null(crl_from_ldap_text("", 0, &out_len, err, sizeof err));
    assert_non_null(strstr(err, "no entry found"));
    snprintf(text, sizeof text, "DN: cn=x\n\tcertificateRevocationList;binary:: ###notbase64###\n");
    assert_null(crl_from_ldap_text(text, strlen(text), &out_len, err, sizeof err));
    assert_non_null(strstr(err, "not base64"));
    free(der);
}

static void test_transfer_error_texts(void **state)
{
    (void)state;
    char out[300];
    crl_transfer_error(CURLE_COULDNT_CONNECT, ECONNREFUSED, "Failed to connect", 3, 10000, 1 << 20, out, sizeof out);
    assert_string_equal(out, "connection refused");
    crl_transfer_error(CURLE_COULDNT_RESOLVE_HOST, 0, "Could not resolve host: cdp.invalid", 3, 10000, 1 << 20, out,
                       sizeof out);
    assert_string_equal(out, "DNS: Could not resolve host: cdp.invalid");
    crl_transfer_error(CURLE_OPERATION_TIMEDOUT, 0, "", 3, 2500, 1 << 20, out, sizeof out);
    assert_string_equal(out, "timeout: no complete answer within 2500ms (revocation.fetch_timeout)");
    crl_transfer_error(CURLE_OPERATION_TIMEDOUT, 0, "", 3, 10000, 1 << 20, out, sizeof out);
    assert_non_null(strstr(out, "within 10s"));
    crl_transfer_error(CURLE_FILESIZE_EXCEEDED, 0, "", 3, 10000, 64u << 20, out, sizeof out);
    assert_string_equal(out, "too big: larger than 64 MiB (revocation.max_crl_size)");
    crl_transfer_error(CURLE_TOO_MANY_REDIRECTS, 0, "", 3, 10000, 1 << 20, out, sizeof out);
    assert_string_equal(out, "too many redirects: more than 3 (revocation.max_redirects)");
    crl_transfer_error(CURLE_LDAP_SEARCH_FAILED, 0, "LDAP remote: No such object", 3, 10000, 1 << 20, out,
                       sizeof out);
    assert_string_equal(out, "LDAP search failed: LDAP remote: No such object");
    crl_transfer_error(CURLE_UNSUPPORTED_PROTOCOL, 0, "Protocol \"ftp\" not supported", 3, 10000, 1 << 20, out,
                       sizeof out);
    assert_non_null(strstr(out, "revocation.allowed_schemes"));
    crl_transfer_error(CURLE_GOT_NOTHING, 0, "", 3, 10000, 1 << 20, out, sizeof out);
    assert_non_null(strstr(out, "without answering"));
}

/* ---- the store and the check (no network: cache-only) ---- */

typedef struct env {
    cg_config cfg;
    cg_listener_cfg l;
    char *files[4];
    cg_crl_store *store;
    uv_loop_t loop;
    cg_crl_fetcher *f;
    cg_crl_policy pol;
    char dir[64];
} env;

static void env_init(env *e, cg_revocation_mode mode)
{
    memset(e, 0, sizeof *e);
    atomic_init(&e->cfg.refs, 1);
    e->cfg.revocation.fetch_timeout_ms = 2000;
    e->cfg.revocation.max_crl_size = 1u << 20;
    e->cfg.revocation.max_redirects = 2;
    e->cfg.revocation.allow_http = e->cfg.revocation.allow_ldap = true;
    e->l.name = "test";
    e->l.revocation.mode = mode;
    e->l.revocation.crl_files = e->files;
    e->cfg.listeners = &e->l;
    e->cfg.nlisteners = 1;
    assert_non_null(fx_tmpdir(e->dir, sizeof e->dir, "crl"));
}

static void env_start(env *e)
{
    cg_diag d;
    cg_diag_init(&d);
    e->store = cg_crl_store_new(&e->cfg, &d);
    if (!e->store) {
        cg_diag_print(&d, stderr);
        fail_msg("cg_crl_store_new failed");
    }
    cg_diag_free(&d);
    assert_int_equal(uv_loop_init(&e->loop), 0);
    e->f = cg_crl_fetcher_new(&e->loop, e->store);
    assert_non_null(e->f);
}

/* The check's policy of the test listener as it is now (no TLS context: no
 * verify policy). */
static const cg_crl_policy *policy(env *e)
{
    cg_crl_policy_from(&e->pol, &e->l, NULL);
    return &e->pol;
}

static void env_free(env *e)
{
    if (e->f) {
        cg_crl_fetcher_close(e->f);
        uv_run(&e->loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&e->loop), 0);
    }
    cg_crl_store_free(e->store);
    for (size_t i = 0; i < e->l.revocation.ncrl_files; i++)
        free(e->files[i]);
    assert_int_equal(fx_rm_rf(e->dir), 0);
}

static void add_crl_file(env *e, const char *name, const tk_crl_opts *o)
{
    size_t len;
    unsigned char *der = tk_crl(o, &len);
    char *path;
    assert_true(asprintf(&path, "%s/%s", e->dir, name) > 0);
    fx_write_file(path, der, len);
    free(der);
    e->files[e->l.revocation.ncrl_files++] = path;
}

typedef struct result {
    int calls;
    cg_rev_status st;
    cg_refusal why;
} result;

static void on_result(void *ctx, cg_rev_status st, const cg_refusal *why)
{
    result *r = ctx;
    r->calls++;
    r->st = st;
    if (why)
        r->why = *why;
    else
        memset(&r->why, 0, sizeof r->why);
}

/* Runs a check that needs no network (everything cached or in crl_files): it answers at once,
 * or once the first signature checks of CRLs never checked with their issuer's key ran on the
 * thread pool (then a second check of the same chain answers at once). */
static result check_now(env *e, const mbedtls_x509_crt *const *chain, int n)
{
    result r = { 0 };
    cg_crl_check *c = cg_crl_check_chain(e->f, policy(e), chain, n, on_result, &r);
    for (int i = 0; c && r.calls == 0 && i < 1000; i++)
        uv_run(&e->loop, UV_RUN_ONCE);
    assert_int_equal(r.calls, 1);
    if (c) {
        result again = { 0 };
        assert_null(cg_crl_check_chain(e->f, policy(e), chain, n, on_result, &again));
        assert_int_equal(again.calls, 1);
        assert_int_equal(again.st, r.st);
    }
    return r;
}

static void expect_detail(const result *r, const char *needle)
{
    if (!strstr(r->why.detail, needle))
        fail_msg("detail \"%s\"\ndoes not contain \"%s\"", r->why.detail, needle);
}

/* A CRL from crl_files is checked against its issuer's key on the thread pool the first time
 * (the check waits, the loop does not), then from the memo at once; a check cancelled while
 * it waits is never called back, and what its work learned stays. A CRL signed by another key:
 * unknown, after the same wait. */
static void test_first_signature_off_loop(void **state)
{
    (void)state;
    env e;
    env_init(&e, CG_REVOCATION_CACHE_ONLY);
    add_crl_file(&e, "int.crl", &(tk_crl_opts){ .issuer = INT_DN, .key = &int_key });
    add_crl_file(&e, "root.crl", &(tk_crl_opts){ .issuer = ROOT_DN, .key = &int_key }); /* wrong key */
    env_start(&e);
    const mbedtls_x509_crt *good[] = { leaf, inter, root };

    /* Cancelled while waiting: no call; the memo is learned anyway. */
    result r = { 0 };
    cg_crl_check *c = cg_crl_check_chain(e.f, policy(&e), good, 3, on_result, &r);
    assert_non_null(c);
    assert_int_equal(r.calls, 0);
    cg_crl_check_cancel(c);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 0);

    /* The leaf's CRL is known good now: only the root's (forged) is... known bad too. At once. */
    r = (result){ 0 };
    assert_null(cg_crl_check_chain(e.f, policy(&e), good, 3, on_result, &r));
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.st, CG_REV_UNKNOWN);
    expect_detail(&r, "Test Intermediate");
    env_free(&e);

    /* A fresh store: the first check waits for the thread pool, then answers. */
    env_init(&e, CG_REVOCATION_CACHE_ONLY);
    add_crl_file(&e, "int.crl", &(tk_crl_opts){ .issuer = INT_DN, .key = &int_key });
    add_crl_file(&e, "root.crl", &(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key });
    env_start(&e);
    r = (result){ 0 };
    c = cg_crl_check_chain(e.f, policy(&e), good, 3, on_result, &r);
    assert_non_null(c);
    assert_int_equal(r.calls, 0);
    for (int i = 0; r.calls == 0 && i < 1000; i++)
        uv_run(&e.loop, UV_RUN_ONCE);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.st, CG_REV_GOOD);
    env_free(&e);
}

static void test_check_good_and_revoked(void **state)
{
    (void)state;
    env e;
    env_init(&e, CG_REVOCATION_CACHE_ONLY);
    tk_crl_entry rev[] = { { .serial = 1002, .reason = 1 } };
    add_crl_file(&e, "int.crl", &(tk_crl_opts){ .issuer = INT_DN, .key = &int_key, .entries = rev, .nentries = 1 });
    add_crl_file(&e, "root.crl", &(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key });
    env_start(&e);

    const mbedtls_x509_crt *good[] = { leaf, inter, root };
    result r = check_now(&e, good, 3);
    assert_int_equal(r.st, CG_REV_GOOD);

    const mbedtls_x509_crt *bad[] = { leaf2, inter, root };
    r = check_now(&e, bad, 3);
    assert_int_equal(r.st, CG_REV_REVOKED);
    assert_int_equal(r.why.kind, CG_REFUSE_CERT_REVOKED);
    expect_detail(&r, "\"O=Test,CN=bob\" (serial 03EA, depth 0, the client certificate) was revoked on");
    expect_detail(&r, "reason: keyCompromise");
    expect_detail(&r, "CRL of \"O=Test,CN=Test Intermediate\"");

    /* The report for explain. */
    cg_crl_report rep;
    result r2 = { 0 };
    assert_null(cg_crl_check_chain_report(e.f, policy(&e), good, 3, on_result, &r2, &rep));
    assert_int_equal(rep.n, 2);
    assert_int_equal(rep.certs[0].status, CG_REV_GOOD);
    assert_true(rep.certs[0].base.present);
    assert_int_equal(rep.certs[0].base.entries, 1);
    assert_non_null(strstr(rep.certs[0].base.source, "crl_files"));
    assert_int_equal(rep.certs[1].depth, 1);
    assert_non_null(strstr(rep.certs[1].summary, "not revoked"));
    env_free(&e);
}

static void test_check_intermediate_revoked(void **state)
{
    (void)state;
    env e;
    env_init(&e, CG_REVOCATION_CACHE_ONLY);
    tk_crl_entry rev[] = { { .serial = 4660, .reason = 2 } };
    add_crl_file(&e, "int.crl", &(tk_crl_opts){ .issuer = INT_DN, .key = &int_key });
    add_crl_file(&e, "root.crl", &(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key, .entries = rev, .nentries = 1 });
    env_start(&e);
    const mbedtls_x509_crt *chain[] = { leaf, inter, root };
    result r = check_now(&e, chain, 3);
    assert_int_equal(r.st, CG_REV_REVOKED);
    expect_detail(&r, "\"O=Test,CN=Test Intermediate\" (serial 1234, depth 1, an issuing CA certificate)");
    expect_detail(&r, "cACompromise");
    env_free(&e);
}

/* A distribution point malformed after a valid URI: the minimized input of
 * the cert_ext fuzz target (tests/fuzz/corpus-cert_ext/leak-*). The URI it
 * had yielded was neither returned nor freed: every connection presenting
 * such a certificate leaked it in the revocation step (the ASan build of
 * these tests reports a leak if it comes back). */
static const unsigned char cut_dp[] = /* SEQUENCE OF, DistributionPoint, name, fullName, URI; then [1] cut */
    "\x30\x19" "\x30\x17\xa0\x12\xa0\x10\x86\x0e" "http://a/1.crl" "\x81\x05\x00";
/* A good distribution point, then the malformed one. */
static const unsigned char good_then_cut_dp[] =
    "\x30\x2f" "\x30\x14\xa0\x12\xa0\x10\x86\x0e" "http://g/0.crl"
    "\x30\x17\xa0\x12\xa0\x10\x86\x0e" "http://a/1.crl" "\x81\x05\x00";

static void test_malformed_dp_frees_its_urls(void **state)
{
    (void)state;
    char *urls[8];
    mbedtls_x509_crt *c = tk_cert(&(tk_cert_opts){ .subject = "CN=cut,O=Test", .issuer = INT_DN, .key = &leaf_key,
                                                   .issuer_key = &int_key, .serial = "1003", .ca = 0,
                                                   .cdp_raw = cut_dp, .cdp_raw_len = sizeof cut_dp - 1 });
    assert_int_equal(cg_crl_cert_urls(c, false, urls, 8), 0);
    /* Distribution points before the malformed one keep their URLs. */
    mbedtls_x509_crt *c2 = tk_cert(&(tk_cert_opts){ .subject = "CN=cut2,O=Test", .issuer = INT_DN,
                                                    .key = &leaf_key, .issuer_key = &int_key, .serial = "1004",
                                                    .ca = 0, .cdp_raw = good_then_cut_dp,
                                                    .cdp_raw_len = sizeof good_then_cut_dp - 1 });
    assert_int_equal(cg_crl_cert_urls(c2, false, urls, 8), 1);
    assert_string_equal(urls[0], "http://g/0.crl");
    free(urls[0]);

    /* The revocation step of a connection, many times: unknown (no CRL of
     * the intermediate), nothing left behind. */
    env e;
    env_init(&e, CG_REVOCATION_CACHE_ONLY);
    env_start(&e);
    for (int i = 0; i < 1000; i++) {
        const mbedtls_x509_crt *chain[] = { i % 2 ? c : c2, inter, root };
        result r = check_now(&e, chain, 3);
        assert_int_equal(r.st, CG_REV_UNKNOWN);
    }
    env_free(&e);
    tk_cert_free(c);
    tk_cert_free(c2);

    /* The same value as a CRL's Freshest CRL extension: refused, no leak. */
    size_t len;
    unsigned char *der = tk_crl(&(tk_crl_opts){ .issuer = INT_DN, .key = &int_key, .freshest_raw = cut_dp,
                                               .freshest_raw_len = sizeof cut_dp - 1 },
                                &len);
    char err[300];
    assert_null(crl_parse(der, len, err, sizeof err));
    assert_string_equal(err, "not a valid CRL: malformed extension 2.5.29.46");
    free(der);
}

static void test_check_unknown_reasons(void **state)
{
    (void)state;
    int64_t now = time(NULL);
    env e;
    env_init(&e, CG_REVOCATION_CACHE_ONLY);
    /* The intermediate's CRL expired yesterday; the root's is signed by the wrong key. */
    add_crl_file(&e, "int.crl", &(tk_crl_opts){ .issuer = INT_DN, .key = &int_key, .this_update = now - 3 * 86400,
                                                .next_update = now - 86400 });
    add_crl_file(&e, "root.crl", &(tk_crl_opts){ .issuer = ROOT_DN, .key = &other_key });
    env_start(&e);
    const mbedtls_x509_crt *chain[] = { leaf, inter, root };
    result r = check_now(&e, chain, 3);
    assert_int_equal(r.st, CG_REV_UNKNOWN);
    assert_int_equal(r.why.kind, CG_REFUSE_REVOCATION_UNKNOWN);
    /* The CA nearest the anchor is named first. */
    expect_detail(&r, "for the certificate \"O=Test,CN=Test Intermediate\" (serial 1234, depth 1");
    expect_detail(&r, "bad signature");
    expect_detail(&r, "revocation.mode cache-only");
    expect_detail(&r, "other certificates of the chain are unknown too");

    cg_crl_report rep;
    result r2 = { 0 };
    assert_null(cg_crl_check_chain_report(e.f, policy(&e), chain, 3, on_result, &r2, &rep));
    assert_non_null(strstr(rep.certs[0].summary, "expired (nextUpdate"));
    assert_non_null(strstr(rep.certs[1].summary, "bad signature"));
    env_free(&e);
}

static void test_check_no_crl_and_stale_grace(void **state)
{
    (void)state;
    int64_t now = time(NULL);
    env e;
    env_init(&e, CG_REVOCATION_CACHE_ONLY);
    add_crl_file(&e, "root.crl", &(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key });
    env_start(&e);
    const mbedtls_x509_crt *chain[] = { leaf, inter, root };
    result r = check_now(&e, chain, 3);
    assert_int_equal(r.st, CG_REV_UNKNOWN);
    expect_detail(&r, "no CRL of this issuer in crl_files or the cache");
    /* Chains that end at their own anchor need nothing. */
    const mbedtls_x509_crt *one[] = { inter, root };
    assert_int_equal(check_now(&e, one, 2).st, CG_REV_GOOD);

    /* Past nextUpdate by 10 minutes: refused without grace, accepted with an hour. */
    size_t len;
    unsigned char *der = tk_crl(&(tk_crl_opts){ .issuer = INT_DN, .key = &int_key, .this_update = now - 86400,
                                                .next_update = now - 600 },
                                &len);
    assert_true(crl_store_add(e.store, parse_ok(der, len)));
    free(der);
    r = check_now(&e, chain, 3);
    assert_int_equal(r.st, CG_REV_UNKNOWN);
    expect_detail(&r, "expired (nextUpdate");
    e.l.revocation.stale_grace_s = 3600;
    cg_crl_report rep;
    result r2 = { 0 };
    assert_null(cg_crl_check_chain_report(e.f, policy(&e), chain, 3, on_result, &r2, &rep));
    assert_int_equal(r2.st, CG_REV_GOOD);
    assert_true(rep.certs[0].base.stale);
    assert_non_null(strstr(rep.certs[0].summary, "stale_grace"));
    env_free(&e);
}

static void test_check_off_and_weak(void **state)
{
    (void)state;
    env e;
    env_init(&e, CG_REVOCATION_OFF);
    env_start(&e);
    const mbedtls_x509_crt *chain[] = { leaf, inter, root };
    assert_int_equal(check_now(&e, chain, 3).st, CG_REV_GOOD);
    env_free(&e);

    env_init(&e, CG_REVOCATION_CACHE_ONLY);
    add_crl_file(&e, "int.crl", &(tk_crl_opts){ .issuer = INT_DN, .key = &int_key, .md = MBEDTLS_MD_SHA1 });
    add_crl_file(&e, "root.crl", &(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key });
    env_start(&e);
    result r = check_now(&e, chain, 3);
    assert_int_equal(r.st, CG_REV_UNKNOWN);
    expect_detail(&r, "signed with SHA-1");
    e.l.allow_weak_signatures = true;
    assert_int_equal(check_now(&e, chain, 3).st, CG_REV_GOOD);
    env_free(&e);
}

static void test_check_delta_crls(void **state)
{
    (void)state;
    env e;
    env_init(&e, CG_REVOCATION_CACHE_ONLY);
    /* Base 10 puts bob on hold and announces a delta; delta 11 revokes alice and releases bob. */
    tk_crl_entry base_e[] = { { .serial = 1002, .reason = 6 } };
    add_crl_file(&e, "int.crl", &(tk_crl_opts){ .issuer = INT_DN, .key = &int_key, .number = 10,
                                                .entries = base_e, .nentries = 1,
                                                .freshest = { "http://127.0.0.1:9/int-delta.crl" } });
    add_crl_file(&e, "root.crl", &(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key });
    env_start(&e);
    const mbedtls_x509_crt *alice[] = { leaf, inter, root }, *bob[] = { leaf2, inter, root };
    result r = check_now(&e, alice, 3);
    assert_int_equal(r.st, CG_REV_UNKNOWN);
    expect_detail(&r, "no valid delta CRL");

    tk_crl_entry delta_e[] = { { .serial = 1001, .reason = 1 }, { .serial = 1002, .reason = 8 } };
    size_t len;
    unsigned char *der = tk_crl(&(tk_crl_opts){ .issuer = INT_DN, .key = &int_key, .number = 11, .delta = true,
                                                .base_number = 10, .entries = delta_e, .nentries = 2 },
                                &len);
    assert_true(crl_store_add(e.store, parse_ok(der, len)));
    free(der);
    r = check_now(&e, alice, 3);
    assert_int_equal(r.st, CG_REV_REVOKED);
    expect_detail(&r, "according to the delta CRL");
    assert_int_equal(check_now(&e, bob, 3).st, CG_REV_GOOD); /* removeFromCRL */

    /* A delta for a newer base than ours does not apply. */
    der = tk_crl(&(tk_crl_opts){ .issuer = INT_DN, .key = &int_key, .number = 13, .delta = true, .base_number = 12 },
                 &len);
    crl_store_add(e.store, parse_ok(der, len));
    free(der);
    r = check_now(&e, alice, 3);
    assert_int_equal(r.st, CG_REV_REVOKED); /* delta 11 still applies; 13 is skipped */
    env_free(&e);
}

static void test_check_scope_and_crlsign(void **state)
{
    (void)state;
    env e;
    env_init(&e, CG_REVOCATION_CACHE_ONLY);
    /* onlyContainsCACerts: says nothing about the leaf. */
    add_crl_file(&e, "int.crl", &(tk_crl_opts){ .issuer = INT_DN, .key = &int_key, .idp = 2 });
    add_crl_file(&e, "root.crl", &(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key, .idp = 2 });
    env_start(&e);
    const mbedtls_x509_crt *chain[] = { leaf, inter, root };
    result r = check_now(&e, chain, 3);
    assert_int_equal(r.st, CG_REV_UNKNOWN);
    assert_non_null(strstr(r.why.detail, "depth 0"));
    const mbedtls_x509_crt *ca_only[] = { inter, root };
    assert_int_equal(check_now(&e, ca_only, 2).st, CG_REV_GOOD);
    env_free(&e);

    /* An issuer whose key usage lacks cRLSign cannot vouch for any CRL. */
    mbedtls_pk_context k;
    tk_key(&k, 0);
    mbedtls_x509_crt *nosign = tk_cert(&(tk_cert_opts){ .subject = "CN=No CRL Sign", .issuer = ROOT_DN, .key = &k,
                                                        .issuer_key = &root_key, .ca = 1, .pathlen = -1,
                                                        .key_usage = MBEDTLS_X509_KU_KEY_CERT_SIGN });
    mbedtls_x509_crt *l2 = tk_cert(&(tk_cert_opts){ .subject = "CN=l2", .issuer = "CN=No CRL Sign", .key = &leaf_key,
                                                    .issuer_key = &k, .ca = 0 });
    env_init(&e, CG_REVOCATION_CACHE_ONLY);
    add_crl_file(&e, "ns.crl", &(tk_crl_opts){ .issuer = "CN=No CRL Sign", .key = &k });
    add_crl_file(&e, "root.crl", &(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key });
    env_start(&e);
    const mbedtls_x509_crt *c2[] = { l2, nosign, root };
    r = check_now(&e, c2, 3);
    assert_int_equal(r.st, CG_REV_UNKNOWN);
    expect_detail(&r, "does not include cRLSign");
    env_free(&e);
    tk_cert_free(l2);
    tk_cert_free(nosign);
    mbedtls_pk_free(&k);
}

static void test_store_keys_generation_replacement(void **state)
{
    (void)state;
    int64_t now = time(NULL);
    env e;
    env_init(&e, CG_REVOCATION_CACHE_ONLY);
    add_crl_file(&e, "root.crl", &(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key });
    env_start(&e);
    uint64_t g0 = cg_crl_store_generation(e.store);

    /* Two CAs with the same name and different keys (a renewed CA): both CRLs stay. */
    tk_crl_entry rev[] = { { .serial = 1001, .reason = 4 } };
    crl *a = make_crl(&(tk_crl_opts){ .issuer = INT_DN, .key = &int_key, .this_update = now - 100 });
    crl *b = make_crl(&(tk_crl_opts){ .issuer = INT_DN, .key = &other_key, .this_update = now - 50, .entries = rev,
                                      .nentries = 1 });
    assert_true(crl_store_add(e.store, a));
    assert_true(crl_store_add(e.store, b));
    assert_true(cg_crl_store_generation(e.store) > g0);
    const mbedtls_x509_crt *chain[] = { leaf, inter, root };
    assert_int_equal(check_now(&e, chain, 3).st, CG_REV_GOOD); /* b does not verify with inter's key */
    char why[300];
    crl *found = crl_store_find_fresh(e.store, inter, false, why, sizeof why);
    assert_non_null(found);
    assert_int_equal(found->this_update, now - 100);
    crl_unref(found);
    found = crl_store_find_fresh(e.store, impostor, false, why, sizeof why);
    assert_non_null(found);
    assert_int_equal(found->this_update, now - 50);
    crl_unref(found);

    /* A newer CRL of the same key replaces the older; the same one again changes nothing. */
    uint64_t g1 = cg_crl_store_generation(e.store);
    size_t len;
    unsigned char *der = tk_crl(&(tk_crl_opts){ .issuer = INT_DN, .key = &int_key, .this_update = now - 10,
                                                .entries = rev, .nentries = 1 },
                                &len);
    crl *c = parse_ok(der, len);
    memcpy(c->issuer_id, "x", 1);
    crl_issuer_id(inter, c->issuer_id);
    c->bound = true;
    assert_true(crl_store_add(e.store, c));
    assert_int_equal(cg_crl_store_generation(e.store), g1 + 1);
    assert_false(crl_store_add(e.store, parse_ok(der, len)));
    assert_int_equal(cg_crl_store_generation(e.store), g1 + 1);
    /* An older one is dropped. */
    crl *old = make_crl(&(tk_crl_opts){ .issuer = INT_DN, .key = &int_key, .this_update = now - 1000 });
    crl_issuer_id(inter, old->issuer_id);
    old->bound = true;
    assert_false(crl_store_add(e.store, old));
    free(der);
    result r = check_now(&e, chain, 3);
    assert_int_equal(r.st, CG_REV_REVOKED);
    expect_detail(&r, "superseded");
    size_t total, files, cached;
    cg_crl_store_stats(e.store, &total, &files, &cached);
    assert_int_equal(total, 3); /* root (file), b (other key), c (newest of inter's key) */
    assert_int_equal(files, 1);
    env_free(&e);
}

static void test_store_files_and_cache_dir(void **state)
{
    (void)state;
    env e;
    env_init(&e, CG_REVOCATION_CACHE_ONLY);
    /* A directory of CRLs in PEM and DER, with a stray file. */
    char sub[128];
    snprintf(sub, sizeof sub, "%s/crls", e.dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    size_t len, olen;
    unsigned char *der = tk_crl(&(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key }, &len);
    unsigned char pem[8192];
    assert_int_equal(mbedtls_pem_write_buffer("-----BEGIN X509 CRL-----\n", "-----END X509 CRL-----\n", der, len,
                                              pem, sizeof pem, &olen),
                     0);
    char path[256];
    snprintf(path, sizeof path, "%s/root.crl", sub);
    fx_write_file(path, pem, strlen((char *)pem));
    snprintf(path, sizeof path, "%s/root.crl.der", sub);
    fx_write_file(path, der, len); /* the same CRL twice: kept once */
    free(der);
    snprintf(path, sizeof path, "%s/README", sub);
    fx_write_file(path, "hello\n", 6);
    e.files[e.l.revocation.ncrl_files++] = strdup(sub);
    char cache[128];
    snprintf(cache, sizeof cache, "%s/cache", e.dir);
    e.cfg.revocation.cache_dir = cache;

    /* A persisted CRL, as the fetcher names them. */
    assert_int_equal(mkdir(cache, 0700), 0);
    unsigned char id[32];
    crl_issuer_id(inter, id);
    char name[80];
    for (int i = 0; i < 32; i++)
        snprintf(name + 2 * i, 3, "%02x", id[i]);
    snprintf(path, sizeof path, "%s/%s.crl", cache, name);
    der = tk_crl(&(tk_crl_opts){ .issuer = INT_DN, .key = &int_key }, &len);
    fx_write_file(path, der, len);
    free(der);
    snprintf(path, sizeof path, "%s/.%s.crl.123.tmp", cache, name);
    fx_write_file(path, "partial", 7);

    cg_diag d;
    cg_diag_init(&d);
    e.store = cg_crl_store_new(&e.cfg, &d);
    assert_non_null(e.store);
    assert_int_equal(d.errors, 0);
    assert_int_equal(d.warnings, 1);
    assert_non_null(strstr(d.items[0].message, "README"));
    cg_diag_free(&d);
    assert_int_equal(access(path, F_OK), -1); /* the interrupted write was removed */
    size_t total, files, cached;
    cg_crl_store_stats(e.store, &total, &files, &cached);
    assert_int_equal(total, 2);
    assert_int_equal(files, 1);
    assert_int_equal(cached, 1);
    assert_int_equal(uv_loop_init(&e.loop), 0);
    e.f = cg_crl_fetcher_new(&e.loop, e.store);
    const mbedtls_x509_crt *chain[] = { leaf, inter, root };
    assert_int_equal(check_now(&e, chain, 3).st, CG_REV_GOOD);

    /* Reload: the directory is gone from crl_files; the root CRL goes with it. */
    uint64_t g = cg_crl_store_generation(e.store);
    free(e.files[0]);
    e.l.revocation.ncrl_files = 0;
    cg_diag_init(&d);
    assert_true(cg_crl_store_configure(e.store, &e.cfg, &d));
    cg_diag_free(&d);
    assert_true(cg_crl_store_generation(e.store) > g);
    result r = check_now(&e, chain, 3);
    assert_int_equal(r.st, CG_REV_UNKNOWN);
    expect_detail(&r, "depth 1");

    /* A listed file that is not a CRL is an error. */
    snprintf(path, sizeof path, "%s/crls/README", e.dir);
    e.files[e.l.revocation.ncrl_files++] = strdup(path);
    cg_diag_init(&d);
    assert_false(cg_crl_store_configure(e.store, &e.cfg, &d));
    assert_int_equal(d.errors, 1);
    assert_non_null(strstr(d.items[0].message, "not a CRL"));
    cg_diag_free(&d);
    e.cfg.revocation.cache_dir = NULL;
    env_free(&e);
}

/* ---- the fetcher, against an HTTP server on loopback ---- */

typedef struct http_server {
    int fd, port;
    pthread_t thread;
    atomic_bool stop;
    atomic_int requests;
    unsigned char *body; /* served at /good.crl */
    size_t body_len;
    int hang_fd;
} http_server;

static void *http_main(void *arg)
{
    http_server *s = arg;
    while (!atomic_load(&s->stop)) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        if (atomic_load(&s->stop)) {
            close(c);
            break;
        }
        char req[2048];
        ssize_t n = recv(c, req, sizeof req - 1, 0);
        if (n <= 0) {
            close(c);
            continue;
        }
        req[n] = '\0';
        atomic_fetch_add(&s->requests, 1);
        char head[256];
        if (strncmp(req, "GET /good.crl ", 14) == 0 || strncmp(req, "GET /slow.crl ", 14) == 0) {
            if (strncmp(req, "GET /slow.crl ", 14) == 0)
                usleep(300 * 1000);
            int k = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                             s->body_len);
            send(c, head, (size_t)k, MSG_NOSIGNAL);
            send(c, s->body, s->body_len, MSG_NOSIGNAL);
        } else if (strncmp(req, "GET /hang ", 10) == 0) {
            s->hang_fd = c; /* never answered; closed at the end */
            continue;
        } else if (strncmp(req, "GET /redirect ", 14) == 0) {
            int k = snprintf(head, sizeof head, "HTTP/1.1 302 Found\r\nLocation: /good.crl\r\nContent-Length: 0\r\n"
                             "Connection: close\r\n\r\n");
            send(c, head, (size_t)k, MSG_NOSIGNAL);
        } else if (strncmp(req, "GET /loop ", 10) == 0) {
            int k = snprintf(head, sizeof head, "HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n"
                             "Connection: close\r\n\r\n");
            send(c, head, (size_t)k, MSG_NOSIGNAL);
        } else if (strncmp(req, "GET /big ", 9) == 0) {
            int k = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            send(c, head, (size_t)k, MSG_NOSIGNAL);
            char chunk[4096];
            memset(chunk, 'x', sizeof chunk);
            for (int i = 0; i < 600; i++)
                if (send(c, chunk, sizeof chunk, MSG_NOSIGNAL) < 0)
                    break;
        } else if (strncmp(req, "GET /garbage ", 13) == 0) {
            int k = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\n"
                             "hello, world!");
            send(c, head, (size_t)k, MSG_NOSIGNAL);
        } else {
            int k = snprintf(head, sizeof head, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            send(c, head, (size_t)k, MSG_NOSIGNAL);
        }
        close(c);
    }
    return NULL;
}

static void http_start(http_server *s, const unsigned char *body, size_t len)
{
    memset(s, 0, sizeof *s);
    s->hang_fd = -1;
    s->body = malloc(len);
    memcpy(s->body, body, len);
    s->body_len = len;
    s->fd = fx_listen_loopback(&s->port);
    pthread_create(&s->thread, NULL, http_main, s);
}

static void http_stop(http_server *s)
{
    atomic_store(&s->stop, true);
    fx_poke_port(s->port); /* wakes accept() */
    pthread_join(s->thread, NULL);
    close(s->fd);
    if (s->hang_fd >= 0)
        close(s->hang_fd);
    free(s->body);
}

static mbedtls_x509_crt *leaf_with_cdp(const char *u1, const char *u2, const char *serial)
{
    return tk_cert(&(tk_cert_opts){ .subject = "CN=fetched,O=Test", .issuer = INT_DN, .key = &leaf_key,
                                    .issuer_key = &int_key, .serial = serial, .ca = 0, .cdp = { u1, u2 } });
}

static void on_timer_stop(uv_timer_t *t) { uv_stop(t->loop); }

/* Runs the loop until every result has a call (or ms pass). */
static void run_until(env *e, result **r, int n, int ms)
{
    uv_timer_t t;
    uv_timer_init(&e->loop, &t);
    uint64_t deadline = uv_now(&e->loop) + (uint64_t)ms;
    for (;;) {
        bool all = true;
        for (int i = 0; i < n; i++)
            all = all && r[i]->calls > 0;
        if (all || uv_now(&e->loop) >= deadline)
            break;
        uv_timer_start(&t, on_timer_stop, 20, 0);
        uv_run(&e->loop, UV_RUN_DEFAULT);
        uv_update_time(&e->loop);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&e->loop, UV_RUN_NOWAIT);
}

static void fetch_env(env *e, http_server *srv, unsigned char **der, size_t *len)
{
    *der = tk_crl(&(tk_crl_opts){ .issuer = INT_DN, .key = &int_key,
                                  .entries = (tk_crl_entry[]){ { .serial = 666, .reason = 1 } }, .nentries = 1 },
                  len);
    http_start(srv, *der, *len);
    env_init(e, CG_REVOCATION_FETCH);
    add_crl_file(e, "root.crl", &(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key });
    env_start(e);
}

static void test_fetch_shared_and_cached(void **state)
{
    (void)state;
    env e;
    http_server srv;
    unsigned char *der;
    size_t len;
    fetch_env(&e, &srv, &der, &len);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow.crl", srv.port);
    mbedtls_x509_crt *l1 = leaf_with_cdp(url, NULL, "665"), *l2 = leaf_with_cdp(url, NULL, "666");
    const mbedtls_x509_crt *c1[] = { l1, inter, root }, *c2[] = { l2, inter, root };
    result r1 = { 0 }, r2 = { 0 };
    uint64_t g = cg_crl_store_generation(e.store);
    cg_crl_check *k1 = cg_crl_check_chain(e.f, policy(&e), c1, 3, on_result, &r1);
    cg_crl_check *k2 = cg_crl_check_chain(e.f, policy(&e), c2, 3, on_result, &r2);
    assert_non_null(k1);
    assert_non_null(k2);
    assert_int_equal(r1.calls + r2.calls, 0);
    result *all[] = { &r1, &r2 };
    run_until(&e, all, 2, 5000);
    assert_int_equal(r1.st, CG_REV_GOOD);
    assert_int_equal(r2.st, CG_REV_REVOKED);
    assert_int_equal(atomic_load(&srv.requests), 1); /* one fetch for both */
    /* The first CRL of an issuer changes no verdict given before: same generation. */
    assert_int_equal(cg_crl_store_generation(e.store), g);
    /* Now cached: answered at once, no new request. */
    result r3 = check_now(&e, c1, 3);
    assert_int_equal(r3.st, CG_REV_GOOD);
    assert_int_equal(atomic_load(&srv.requests), 1);
    tk_cert_free(l1);
    tk_cert_free(l2);
    env_free(&e);
    http_stop(&srv);
    free(der);
}

static void test_fetch_failures_and_fallback(void **state)
{
    (void)state;
    env e;
    http_server srv;
    unsigned char *der;
    size_t len;
    fetch_env(&e, &srv, &der, &len);
    char u404[128], ugood[128], urefused[128], ugarbage[128], ubig[128], uloop[128], uredir[128];
    snprintf(u404, sizeof u404, "http://127.0.0.1:%d/missing.crl", srv.port);
    snprintf(ugood, sizeof ugood, "http://127.0.0.1:%d/good.crl", srv.port);
    snprintf(ugarbage, sizeof ugarbage, "http://127.0.0.1:%d/garbage", srv.port);
    snprintf(ubig, sizeof ubig, "http://127.0.0.1:%d/big", srv.port);
    snprintf(uloop, sizeof uloop, "http://127.0.0.1:%d/loop", srv.port);
    snprintf(uredir, sizeof uredir, "http://127.0.0.1:%d/redirect", srv.port);
    /* A port nothing listens on. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(s, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    snprintf(urefused, sizeof urefused, "http://127.0.0.1:%d/x.crl", ntohs(a.sin_port));
    close(s);

    struct {
        const char *u1, *u2, *expect;
        cg_rev_status st;
    } cases[] = {
        { u404, NULL, "missing.crl: HTTP 404", CG_REV_UNKNOWN },
        { urefused, NULL, "x.crl: connection refused", CG_REV_UNKNOWN },
        { ugarbage, NULL, "garbage: not a CRL: text starting \"hello, world!\"", CG_REV_UNKNOWN },
        { ubig, NULL, "big: too big: larger than 1 MiB (revocation.max_crl_size)", CG_REV_UNKNOWN },
        { uloop, NULL, "loop: too many redirects: more than 2", CG_REV_UNKNOWN },
        { "ftp://127.0.0.1/x.crl", NULL, "skipped: unsupported scheme", CG_REV_UNKNOWN },
        { urefused, ugood, NULL, CG_REV_GOOD }, /* first dead, second good */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char serial[16];
        snprintf(serial, sizeof serial, "%zu", 700 + i);
        mbedtls_x509_crt *l1 = leaf_with_cdp(cases[i].u1, cases[i].u2, serial);
        const mbedtls_x509_crt *chain[] = { l1, inter, root };
        result r = { 0 };
        cg_crl_check *k = cg_crl_check_chain(e.f, policy(&e), chain, 3, on_result, &r);
        result *all[] = { &r };
        if (k)
            run_until(&e, all, 1, 5000);
        assert_int_equal(r.calls, 1);
        if (r.st != cases[i].st)
            fail_msg("case %zu: status %d, detail %s", i, r.st, r.why.detail);
        if (cases[i].expect)
            expect_detail(&r, cases[i].expect);
        if (cases[i].st == CG_REV_UNKNOWN)
            expect_detail(&r, "depth 0");
        tk_cert_free(l1);
    }
    /* The redirect is followed to a good CRL. */
    mbedtls_x509_crt *l1 = leaf_with_cdp(uredir, NULL, "800");
    const mbedtls_x509_crt *chain[] = { l1, inter, root };
    result r = { 0 };
    cg_crl_check *k = cg_crl_check_chain(e.f, policy(&e), chain, 3, on_result, &r);
    result *all[] = { &r };
    if (k)
        run_until(&e, all, 1, 5000);
    assert_int_equal(r.st, CG_REV_GOOD);
    tk_cert_free(l1);
    env_free(&e);
    http_stop(&srv);
    free(der);
}

static void test_fetch_hang_times_out_and_cancel(void **state)
{
    (void)state;
    env e;
    http_server srv;
    unsigned char *der;
    size_t len;
    fetch_env(&e, &srv, &der, &len);
    e.cfg.revocation.fetch_timeout_ms = 400; /* below the config minimum: tests only */
    cg_diag d;
    cg_diag_init(&d);
    assert_true(cg_crl_store_configure(e.store, &e.cfg, &d));
    cg_diag_free(&d);
    char uhang[128];
    snprintf(uhang, sizeof uhang, "http://127.0.0.1:%d/hang", srv.port);
    mbedtls_x509_crt *l1 = leaf_with_cdp(uhang, NULL, "900");
    const mbedtls_x509_crt *chain[] = { l1, inter, root };
    result r = { 0 }, rc = { 0 };
    uint64_t t0 = uv_now(&e.loop);
    assert_non_null(cg_crl_check_chain(e.f, policy(&e), chain, 3, on_result, &r));
    /* A second check on the same fetch, cancelled: never called back. */
    cg_crl_check *k2 = cg_crl_check_chain(e.f, policy(&e), chain, 3, on_result, &rc);
    assert_non_null(k2);
    cg_crl_check_cancel(k2);
    result *all[] = { &r };
    run_until(&e, all, 1, 5000);
    uint64_t took = uv_now(&e.loop) - t0;
    assert_int_equal(r.st, CG_REV_UNKNOWN);
    expect_detail(&r, "hang: timeout: no complete answer within 400ms (revocation.fetch_timeout)");
    assert_true(took >= 350 && took < 3000);
    assert_int_equal(rc.calls, 0);

    /* A fetch in flight when the fetcher closes: its check answers UNKNOWN. */
    mbedtls_x509_crt *l2 = leaf_with_cdp(uhang, NULL, "901");
    const mbedtls_x509_crt *chain2[] = { l2, inter, root };
    result r2 = { 0 };
    unsigned char id[33];
    crl_issuer_id(inter, id);
    (void)id;
    /* (a new job: the previous one failed) */
    assert_non_null(cg_crl_check_chain(e.f, policy(&e), chain2, 3, on_result, &r2));
    uv_run(&e.loop, UV_RUN_NOWAIT);
    cg_crl_fetcher_close(e.f);
    assert_int_equal(r2.calls, 1);
    assert_int_equal(r2.st, CG_REV_UNKNOWN);
    expect_detail(&r2, "certgate is stopping");
    uv_run(&e.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&e.loop), 0);
    e.f = NULL;
    tk_cert_free(l1);
    tk_cert_free(l2);
    env_free(&e);
    http_stop(&srv);
    free(der);
}

/* revocation.policy crl_then_ocsp: the CRL's failure, then OCSP's, both in the detail; and a
 * check waiting for a CRL when the worker stops (fetcher closed first, then the OCSP client, as
 * server.c does) hands over to OCSP, which answers at once that certgate is stopping. */
static void test_policy_crl_then_ocsp(void **state)
{
    (void)state;
    env e;
    http_server srv;
    unsigned char *der;
    size_t len;
    fetch_env(&e, &srv, &der, &len);
    cg_ocsp_client *ocsp = cg_ocsp_client_new(e.f, crl_store_ocsp_cache(e.store));
    assert_non_null(ocsp);
    char missing[128], responder[128], uhang[128];
    snprintf(missing, sizeof missing, "http://127.0.0.1:%d/missing.crl", srv.port);
    snprintf(responder, sizeof responder, "http://127.0.0.1:%d/ocsp", srv.port);
    snprintf(uhang, sizeof uhang, "http://127.0.0.1:%d/hang", srv.port);
    e.l.revocation.policy = CG_REVPOLICY_CRL_THEN_OCSP;
    e.l.revocation.ocsp_responder = responder;
    cg_crl_policy pol = *policy(&e);
    pol.ocsp = ocsp;

    mbedtls_x509_crt *l1 = leaf_with_cdp(missing, NULL, "910");
    const mbedtls_x509_crt *chain[] = { l1, inter, root };
    result r = { 0 };
    assert_non_null(cg_crl_check_chain(e.f, &pol, chain, 3, on_result, &r));
    result *all[] = { &r };
    run_until(&e, all, 1, 5000);
    assert_int_equal(r.st, CG_REV_UNKNOWN);
    char want[400];
    snprintf(want, sizeof want, "%s: HTTP 404; then OCSP: %s: HTTP 404", missing, responder);
    expect_detail(&r, want);
    expect_detail(&r, "revocation.policy crl_then_ocsp");

    mbedtls_x509_crt *l2 = leaf_with_cdp(uhang, NULL, "911");
    const mbedtls_x509_crt *chain2[] = { l2, inter, root };
    result r2 = { 0 };
    assert_non_null(cg_crl_check_chain(e.f, &pol, chain2, 3, on_result, &r2));
    uv_run(&e.loop, UV_RUN_NOWAIT);
    cg_crl_fetcher_close(e.f);
    cg_ocsp_client_free(ocsp);
    assert_int_equal(r2.calls, 1);
    assert_int_equal(r2.st, CG_REV_UNKNOWN);
    expect_detail(&r2, "certgate is stopping; then OCSP: cancelled: certgate is stopping");
    uv_run(&e.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&e.loop), 0);
    e.f = NULL;
    e.l.revocation.ocsp_responder = NULL;
    tk_cert_free(l1);
    tk_cert_free(l2);
    env_free(&e);
    http_stop(&srv);
    free(der);
}

static void test_fetch_persists_to_cache_dir(void **state)
{
    (void)state;
    env e;
    http_server srv;
    unsigned char *der;
    size_t len;
    der = tk_crl(&(tk_crl_opts){ .issuer = INT_DN, .key = &int_key }, &len);
    http_start(&srv, der, len);
    env_init(&e, CG_REVOCATION_FETCH);
    char cache[128];
    snprintf(cache, sizeof cache, "%s/cache", e.dir);
    e.cfg.revocation.cache_dir = cache;
    add_crl_file(&e, "root.crl", &(tk_crl_opts){ .issuer = ROOT_DN, .key = &root_key });
    env_start(&e);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/good.crl", srv.port);
    mbedtls_x509_crt *l1 = leaf_with_cdp(url, NULL, "1");
    const mbedtls_x509_crt *chain[] = { l1, inter, root };
    result r = { 0 };
    assert_non_null(cg_crl_check_chain(e.f, policy(&e), chain, 3, on_result, &r));
    result *all[] = { &r };
    run_until(&e, all, 1, 5000);
    assert_int_equal(r.st, CG_REV_GOOD);
    /* Closing the fetcher waits for the write. */
    cg_crl_fetcher_close(e.f);
    uv_run(&e.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&e.loop), 0);
    e.f = NULL;
    cg_crl_store_free(e.store);
    http_stop(&srv);

    /* A restart with the CDP down: the persisted CRL answers. */
    cg_diag d;
    cg_diag_init(&d);
    e.store = cg_crl_store_new(&e.cfg, &d);
    assert_non_null(e.store);
    cg_diag_free(&d);
    size_t total, files, cached;
    cg_crl_store_stats(e.store, &total, &files, &cached);
    assert_int_equal(cached, 1);
    assert_int_equal(uv_loop_init(&e.loop), 0);
    e.f = cg_crl_fetcher_new(&e.loop, e.store);
    assert_int_equal(check_now(&e, chain, 3).st, CG_REV_GOOD);
    tk_cert_free(l1);
    e.cfg.revocation.cache_dir = NULL;
    env_free(&e);
    free(der);
}

/* Two workers (loops on their own threads) need the same CRL at once: one
 * fetch; each callback runs on its own worker's thread. */
typedef struct worker_run {
    cg_crl_store *store;
    const cg_crl_policy *policy;
    const mbedtls_x509_crt *const *chain;
    pthread_barrier_t *go;
    result r;
    pthread_t cb_thread;
} worker_run;

static void on_worker_result(void *ctx, cg_rev_status st, const cg_refusal *why)
{
    worker_run *w = ctx;
    w->cb_thread = pthread_self();
    on_result(&w->r, st, why);
}

static void *worker_main(void *arg)
{
    worker_run *w = arg;
    uv_loop_t loop;
    uv_loop_init(&loop);
    cg_crl_fetcher *f = cg_crl_fetcher_new(&loop, w->store);
    pthread_barrier_wait(w->go);
    if (cg_crl_check_chain(f, w->policy, w->chain, 3, on_worker_result, w))
        while (w->r.calls == 0)
            uv_run(&loop, UV_RUN_ONCE);
    cg_crl_fetcher_close(f);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return NULL;
}

static void test_fetch_shared_across_workers(void **state)
{
    (void)state;
    env e;
    http_server srv;
    unsigned char *der;
    size_t len;
    fetch_env(&e, &srv, &der, &len);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow.crl", srv.port);
    mbedtls_x509_crt *l1 = leaf_with_cdp(url, NULL, "1");
    const mbedtls_x509_crt *chain[] = { l1, inter, root };
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    worker_run w[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (worker_run){ .store = e.store, .policy = policy(&e), .chain = chain, .go = &go };
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].r.calls, 1);
        assert_int_equal(w[i].r.st, CG_REV_GOOD);
        assert_true(pthread_equal(w[i].cb_thread, th[i]));
    }
    assert_int_equal(atomic_load(&srv.requests), 1);
    pthread_barrier_destroy(&go);
    tk_cert_free(l1);
    env_free(&e);
    http_stop(&srv);
    free(der);
}

static void test_resumed_session_chain(void **state)
{
    (void)state;
    /* n == 1: the chain comes from the listener's verify pool. Without a TLS
     * context in this test, the check says so (fail closed). */
    env e;
    env_init(&e, CG_REVOCATION_CACHE_ONLY);
    env_start(&e);
    const mbedtls_x509_crt *only[] = { leaf };
    result r = check_now(&e, only, 1);
    assert_int_equal(r.st, CG_REV_UNKNOWN);
    expect_detail(&r, "resumed");
    env_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_entries_reasons_dates),
        cmocka_unit_test(test_parse_pem_and_empty),
        cmocka_unit_test(test_parse_rejects_non_crls),
        cmocka_unit_test(test_parse_delta_idp_freshest),
        cmocka_unit_test(test_parse_rsa_and_sha384),
        cmocka_unit_test(test_parse_rsassa_pss),
        cmocka_unit_test(test_parse_times),
        cmocka_unit_test(test_tampered_crl_fails_signature),
        cmocka_unit_test(test_lookup_100k_entries),
        cmocka_unit_test(test_cert_urls),
        cmocka_unit_test(test_malformed_dp_frees_its_urls),
        cmocka_unit_test(test_ldap_text),
        cmocka_unit_test(test_transfer_error_texts),
        cmocka_unit_test(test_check_good_and_revoked),
        cmocka_unit_test(test_first_signature_off_loop),
        cmocka_unit_test(test_check_intermediate_revoked),
        cmocka_unit_test(test_check_unknown_reasons),
        cmocka_unit_test(test_check_no_crl_and_stale_grace),
        cmocka_unit_test(test_check_off_and_weak),
        cmocka_unit_test(test_check_delta_crls),
        cmocka_unit_test(test_check_scope_and_crlsign),
        cmocka_unit_test(test_store_keys_generation_replacement),
        cmocka_unit_test(test_store_files_and_cache_dir),
        cmocka_unit_test(test_fetch_shared_and_cached),
        cmocka_unit_test(test_fetch_failures_and_fallback),
        cmocka_unit_test(test_fetch_hang_times_out_and_cancel),
        cmocka_unit_test(test_policy_crl_then_ocsp),
        cmocka_unit_test(test_fetch_persists_to_cache_dir),
        cmocka_unit_test(test_fetch_shared_across_workers),
        cmocka_unit_test(test_resumed_session_chain),
    };
    return cmocka_run_group_tests(tests, setup_pki, teardown_pki);
}
