/* Unit tests of the OCSP messages and their verification (ocsp_msg.c, ocsp_verify.c), against
 * requests and responses made by `openssl ocsp` (tests/data/ocsp/, made by make-fixtures.sh):
 * our request is byte for byte openssl's; good, revoked (time, reason) and unknown answers,
 * SHA-1 and SHA-256 CertIDs, several answers in one response, responses that are not
 * successful or not for us; every truncation and every single-byte change is refused or read
 * without harm; signed by the issuer, by a delegated responder (by name and by key id), by a
 * certificate without id-kp-OCSPSigning, forged under the CA's name, forged by a responder of
 * another CA with the same name, tampered; thisUpdate/nextUpdate window with skew; nonces;
 * SHA-1 signatures; the responders named by a certificate's AIA.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <psa/crypto.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "revocation/ocsp_msg.h"
#include "revocation/ocsp_verify.h"

#include "fixtures.h"

static mbedtls_x509_crt ca, good, revoked, unknown, rogue_ca;
static cg_ocsp_certid id_good, id_revoked, id_unknown, id_good_sha256;

static unsigned char *load(const char *name, size_t *len)
{
    char rel[128];
    snprintf(rel, sizeof rel, "ocsp/%s", name);
    char *path = fx_data_file(rel);
    cg_file_error e;
    unsigned char *buf = cg_file_read(path, 1 << 20, 0, len, &e);
    if (!buf) {
        fprintf(stderr, "test_ocsp: cannot read %s\n", path);
        abort();
    }
    free(path);
    return buf;
}

static void load_cert(mbedtls_x509_crt *c, const char *name)
{
    size_t len;
    unsigned char *pem = load(name, &len);
    mbedtls_x509_crt_init(c);
    if (mbedtls_x509_crt_parse(c, pem, len + 1) != 0) {
        fprintf(stderr, "test_ocsp: %s is not a certificate\n", name);
        abort();
    }
    free(pem);
}

static int setup(void **state)
{
    (void)state;
    char err[200];
    load_cert(&ca, "ca.crt");
    load_cert(&good, "good.crt");
    load_cert(&revoked, "revoked.crt");
    load_cert(&unknown, "unknown.crt");
    load_cert(&rogue_ca, "rogue-ca.crt");
    if (!cg_ocsp_certid_make(&good, &ca, MBEDTLS_MD_SHA1, &id_good, err, sizeof err) ||
        !cg_ocsp_certid_make(&revoked, &ca, MBEDTLS_MD_SHA1, &id_revoked, err, sizeof err) ||
        !cg_ocsp_certid_make(&unknown, &ca, MBEDTLS_MD_SHA1, &id_unknown, err, sizeof err) ||
        !cg_ocsp_certid_make(&good, &ca, MBEDTLS_MD_SHA256, &id_good_sha256, err, sizeof err))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_free(&good);
    mbedtls_x509_crt_free(&revoked);
    mbedtls_x509_crt_free(&unknown);
    mbedtls_x509_crt_free(&rogue_ca);
    return 0;
}

/* ---- requests ---- */

static void assert_request_is(const cg_ocsp_certid *id, const unsigned char *nonce, size_t nonce_len,
                              const char *file)
{
    size_t want_len;
    unsigned char *want = load(file, &want_len);
    unsigned char out[CG_OCSP_REQUEST_MAX];
    size_t n = cg_ocsp_request_build(id, nonce, nonce_len, out, sizeof out);
    assert_int_equal(n, want_len);
    assert_memory_equal(out, want, n);
    free(want);
}

static void test_request_like_openssl(void **state)
{
    (void)state;
    assert_int_equal(id_good.hash_len, 20);
    assert_int_equal(id_good_sha256.hash_len, 32);
    assert_int_equal(id_good.serial_len, 2);
    assert_memory_equal(id_good.serial, "\x10\x01", 2);
    assert_request_is(&id_good, NULL, 0, "req-good.der");
    assert_request_is(&id_revoked, NULL, 0, "req-revoked.der");
    assert_request_is(&id_good_sha256, NULL, 0, "req-good-sha256.der");
}

static void test_request_nonce_like_openssl(void **state)
{
    (void)state;
    size_t len;
    unsigned char *req = load("req-good-nonce.der", &len);
    /* openssl's random nonce: OCTET STRING { OCTET STRING (16) } after the nonce OID. */
    static const unsigned char oid[] = { 0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02 };
    unsigned char *at = memmem(req, len, oid, sizeof oid);
    assert_non_null(at);
    at += sizeof oid;
    assert_int_equal(at[0], 0x04);
    assert_int_equal(at[2], 0x04);
    size_t nonce_len = at[3];
    assert_int_equal(nonce_len, 16);
    assert_request_is(&id_good, at + 4, nonce_len, "req-good-nonce.der");
    free(req);
}

static void test_request_bounds(void **state)
{
    (void)state;
    unsigned char out[CG_OCSP_REQUEST_MAX], nonce[CG_OCSP_NONCE_MAX + 1] = { 0 };
    assert_int_equal(cg_ocsp_request_build(&id_good, nonce, sizeof nonce, out, sizeof out), 0);
    size_t full = cg_ocsp_request_build(&id_good_sha256, nonce, CG_OCSP_NONCE_MAX, out, sizeof out);
    assert_true(full > 0);
    for (size_t cap = 0; cap < full; cap++)
        assert_int_equal(cg_ocsp_request_build(&id_good_sha256, nonce, CG_OCSP_NONCE_MAX, out, cap), 0);
    /* A serial with its high bit set stays a positive INTEGER. */
    size_t plain = cg_ocsp_request_build(&id_good, NULL, 0, out, sizeof out);
    cg_ocsp_certid big = id_good;
    big.serial[0] = 0x90;
    size_t n = cg_ocsp_request_build(&big, NULL, 0, out, sizeof out);
    assert_int_equal(n, plain + 1);
    unsigned char *serial = memmem(out, n, "\x02\x03\x00\x90\x01", 5);
    assert_non_null(serial);
    char err[200];
    cg_ocsp_certid id;
    assert_false(cg_ocsp_certid_make(&good, &ca, MBEDTLS_MD_SHA384, &id, err, sizeof err));
    assert_non_null(strstr(err, "SHA-1 or SHA-256"));
}

static void test_aia_urls(void **state)
{
    (void)state;
    char *urls[4];
    assert_int_equal(cg_ocsp_cert_urls(&good, urls, 4), 1);
    assert_string_equal(urls[0], "http://127.0.0.1:9/ocsp");
    free(urls[0]);
    assert_int_equal(cg_ocsp_cert_urls(&good, urls, 0), 0);
    assert_int_equal(cg_ocsp_cert_urls(&ca, urls, 4), 0); /* no AIA */
}

/* ---- responses ---- */

static bool parse_file(const char *file, const cg_ocsp_certid *id, cg_ocsp_response *r, unsigned char **buf,
                       char *err, size_t cap)
{
    size_t len;
    *buf = load(file, &len);
    return cg_ocsp_response_parse(*buf, len, id, r, err, cap);
}

static void test_parse_answers(void **state)
{
    (void)state;
    cg_ocsp_response r;
    unsigned char *buf;
    char err[300];

    assert_true(parse_file("resp-ca-good.der", &id_good, &r, &buf, err, sizeof err));
    assert_int_equal(r.response_status, CG_OCSP_SUCCESSFUL);
    assert_int_equal(r.status, CG_OCSP_GOOD);
    assert_string_equal(cg_ocsp_status_name(r.status), "good");
    assert_int_equal(r.next_update - r.this_update, 36500LL * 86400);
    assert_true(r.produced_at >= r.this_update - 5 && r.produced_at <= r.this_update + 5);
    assert_int_equal(r.sig_md, MBEDTLS_MD_SHA256);
    assert_int_equal(r.sig_pk, MBEDTLS_PK_ECDSA);
    assert_int_equal(r.ncerts, 0);
    assert_int_equal(r.nresponses, 1);
    assert_non_null(r.responder_name.p);
    assert_null(r.nonce.p);
    free(buf);

    assert_true(parse_file("resp-ca-revoked.der", &id_revoked, &r, &buf, err, sizeof err));
    assert_int_equal(r.status, CG_OCSP_REVOKED);
    assert_int_equal(r.revoked_at, 1704164645); /* 2024-01-02 03:04:05Z, the index file's */
    assert_int_equal(r.reason, 1);              /* keyCompromise */
    free(buf);

    assert_true(parse_file("resp-ca-unknown.der", &id_unknown, &r, &buf, err, sizeof err));
    assert_int_equal(r.status, CG_OCSP_UNKNOWN);
    assert_int_equal(r.reason, -1);
    free(buf);

    assert_true(parse_file("resp-ca-good-sha256.der", &id_good_sha256, &r, &buf, err, sizeof err));
    assert_int_equal(r.status, CG_OCSP_GOOD);
    free(buf);

    assert_true(parse_file("resp-ca-good-no-next.der", &id_good, &r, &buf, err, sizeof err));
    assert_int_equal(r.next_update, 0);
    free(buf);

    assert_true(parse_file("resp-ca-two.der", &id_good, &r, &buf, err, sizeof err));
    assert_int_equal(r.nresponses, 2);
    assert_int_equal(r.status, CG_OCSP_GOOD);
    free(buf);
    assert_true(parse_file("resp-ca-two.der", &id_unknown, &r, &buf, err, sizeof err));
    assert_int_equal(r.status, CG_OCSP_UNKNOWN);
    free(buf);

    assert_true(parse_file("resp-delegated-good.der", &id_good, &r, &buf, err, sizeof err));
    assert_int_equal(r.ncerts, 1);
    assert_int_equal(r.sig_pk, MBEDTLS_PK_RSA);
    free(buf);

    assert_true(parse_file("resp-delegated-revoked-keyid.der", &id_revoked, &r, &buf, err, sizeof err));
    assert_null(r.responder_name.p);
    assert_int_equal(r.responder_key.len, 20);
    assert_int_equal(r.status, CG_OCSP_REVOKED);
    free(buf);

    assert_true(parse_file("resp-ca-good-nonce.der", &id_good, &r, &buf, err, sizeof err));
    assert_int_equal(r.nonce.len, 16);
    free(buf);
}

static void test_parse_refusals(void **state)
{
    (void)state;
    cg_ocsp_response r;
    unsigned char *buf;
    char err[300];

    /* An answer for another certificate, and for the right serial under another hash. */
    assert_false(parse_file("resp-ca-revoked.der", &id_good, &r, &buf, err, sizeof err));
    assert_string_equal(err, "the OCSP response does not answer for this certificate (1 other answer)");
    free(buf);
    assert_false(parse_file("resp-ca-good.der", &id_good_sha256, &r, &buf, err, sizeof err));
    assert_non_null(strstr(err, "does not answer for this certificate"));
    free(buf);

    assert_false(parse_file("resp-trylater.der", &id_good, &r, &buf, err, sizeof err));
    assert_int_equal(r.response_status, CG_OCSP_TRY_LATER);
    assert_string_equal(err, "the OCSP responder answered tryLater (3), not successful");
    free(buf);

    static const char html[] = "<html>busy</html>";
    assert_false(cg_ocsp_response_parse((const unsigned char *)html, sizeof html - 1, &id_good, &r, err, sizeof err));
    assert_non_null(strstr(err, "HTML"));
    assert_false(cg_ocsp_response_parse((const unsigned char *)"", 0, &id_good, &r, err, sizeof err));
    assert_non_null(strstr(err, "empty"));

    /* Trailing bytes after a good response. */
    size_t len;
    buf = load("resp-ca-good.der", &len);
    unsigned char *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    assert_false(cg_ocsp_response_parse(longer, len + 1, &id_good, &r, err, sizeof err));
    assert_non_null(strstr(err, "trailing"));
    free(longer);
    free(buf);
}

/* Every prefix is refused with a reason; every single-byte change is refused with a reason or
 * read into fields inside the buffer (ASan watches the reads). */
static void test_parse_damaged(void **state)
{
    (void)state;
    static const char *const files[] = { "resp-delegated-good.der", "resp-ca-revoked.der", "resp-ca-good-nonce.der" };
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        size_t len;
        unsigned char *buf = load(files[f], &len);
        const cg_ocsp_certid *id = f == 1 ? &id_revoked : &id_good;
        cg_ocsp_response r;
        char err[300];
        for (size_t n = 0; n < len; n++) {
            unsigned char *copy = malloc(n ? n : 1);
            memcpy(copy, buf, n);
            assert_false(cg_ocsp_response_parse(copy, n, id, &r, err, sizeof err));
            assert_true(err[0] != '\0');
            free(copy);
        }
        unsigned char *copy = malloc(len);
        for (size_t i = 0; i < len; i++) {
            static const unsigned char flips[] = { 0x01, 0x80, 0xff };
            for (size_t k = 0; k < sizeof flips; k++) {
                memcpy(copy, buf, len);
                copy[i] ^= flips[k];
                err[0] = '\0';
                if (cg_ocsp_response_parse(copy, len, id, &r, err, sizeof err)) {
                    assert_true(r.tbs.p >= copy && r.tbs.p + r.tbs.len <= copy + len);
                    assert_true(r.sig.p >= copy && r.sig.p + r.sig.len <= copy + len);
                    assert_true(r.ncerts <= CG_OCSP_CERTS_MAX);
                } else {
                    assert_true(err[0] != '\0');
                }
            }
        }
        free(copy);
        free(buf);
    }
}

static void test_time(void **state)
{
    (void)state;
    int64_t t;
    assert_true(cg_ocsp_time((const unsigned char *)"20240102030405Z", 15, &t));
    assert_int_equal(t, 1704164645);
    assert_true(cg_ocsp_time((const unsigned char *)"19700101000000Z", 15, &t));
    assert_int_equal(t, 0);
    assert_true(cg_ocsp_time((const unsigned char *)"20240229235959.5Z", 17, &t));
    assert_int_equal(t, 1709251199);
    assert_false(cg_ocsp_time((const unsigned char *)"20241302030405Z", 15, &t));
    assert_false(cg_ocsp_time((const unsigned char *)"2024010203040Z", 14, &t));
    assert_false(cg_ocsp_time((const unsigned char *)"20240102030405", 14, &t));
    assert_false(cg_ocsp_time((const unsigned char *)"20240102030405.Z", 16, &t));
    assert_false(cg_ocsp_time((const unsigned char *)"2024010203040+Z", 15, &t));
}

/* ---- verification ---- */

static cg_ocsp_fault verify_file(const char *file, const cg_ocsp_certid *id, const mbedtls_x509_crt *issuer,
                                 cg_ocsp_verify_opts *o, cg_ocsp_signer *signer, char *why, size_t cap)
{
    cg_ocsp_response r;
    unsigned char *buf;
    char err[300];
    if (!parse_file(file, id, &r, &buf, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", file, err);
        fail();
    }
    if (o->now == 0)
        o->now = r.this_update + 60;
    cg_ocsp_fault f = cg_ocsp_verify(&r, issuer, o, signer, why, cap);
    free(buf);
    return f;
}

static cg_ocsp_verify_opts defaults(void)
{
    return (cg_ocsp_verify_opts){ .skew_s = CG_OCSP_SKEW_S, .max_age_s = 3600 };
}

static void test_verify_signers(void **state)
{
    (void)state;
    cg_ocsp_signer s;
    char why[300];
    cg_ocsp_verify_opts o = defaults();

    assert_int_equal(verify_file("resp-ca-good.der", &id_good, &ca, &o, &s, why, sizeof why), CG_OCSP_TRUSTED);
    assert_false(s.delegated);
    assert_non_null(strstr(s.subject, "OCSP Test CA"));

    o = defaults();
    assert_int_equal(verify_file("resp-ca-good-sha256.der", &id_good_sha256, &ca, &o, &s, why, sizeof why),
                     CG_OCSP_TRUSTED);

    o = defaults();
    assert_int_equal(verify_file("resp-delegated-good.der", &id_good, &ca, &o, &s, why, sizeof why), CG_OCSP_TRUSTED);
    assert_true(s.delegated);
    assert_true(s.nocheck);
    assert_non_null(strstr(s.subject, "OCSP Responder"));

    o = defaults();
    assert_int_equal(verify_file("resp-delegated-revoked-keyid.der", &id_revoked, &ca, &o, &s, why, sizeof why),
                     CG_OCSP_TRUSTED);
    assert_true(s.delegated);

    o = defaults();
    assert_int_equal(verify_file("resp-noeku-good.der", &id_good, &ca, &o, &s, why, sizeof why),
                     CG_OCSP_SIGNER_NOT_AUTHORIZED);
    assert_non_null(strstr(why, "lacks id-kp-OCSPSigning"));
    assert_false(s.delegated);

    /* Checked against another CA of the same name: the responder's certificate does not verify. */
    o = defaults();
    assert_int_equal(verify_file("resp-delegated-good.der", &id_good, &rogue_ca, &o, &s, why, sizeof why),
                     CG_OCSP_SIGNER_NOT_AUTHORIZED);
}

static void test_verify_forged(void **state)
{
    (void)state;
    cg_ocsp_signer s;
    char why[300];
    cg_ocsp_verify_opts o = defaults();

    /* Another key under the CA's name: "revoked" for a good certificate would deny service; "good"
     * for a revoked one would let it in. Either way the signature does not verify. */
    assert_int_equal(verify_file("resp-forged-name.der", &id_revoked, &ca, &o, &s, why, sizeof why),
                     CG_OCSP_BAD_SIGNATURE);
    assert_non_null(strstr(why, "does not verify with the key of"));

    o = defaults();
    assert_int_equal(verify_file("resp-forged-delegated.der", &id_revoked, &ca, &o, &s, why, sizeof why),
                     CG_OCSP_SIGNER_NOT_AUTHORIZED);
    assert_non_null(strstr(why, "does not verify with the issuer's key"));

    /* The CA's own answer with one digit of thisUpdate changed. */
    size_t len;
    unsigned char *buf = load("resp-ca-good.der", &len);
    cg_ocsp_response r;
    char err[300];
    assert_true(cg_ocsp_response_parse(buf, len, &id_good, &r, err, sizeof err));
    int64_t this_update = r.this_update;
    unsigned char *t = (unsigned char *)r.tbs.p;
    size_t i = 0;
    /* the last GeneralizedTime in tbsResponseData is the SingleResponse's nextUpdate */
    for (size_t k = 0; k + 17 <= r.tbs.len; k++)
        if (t[k] == 0x18 && t[k + 1] == 15)
            i = k + 2 + 13; /* the seconds' last digit */
    assert_true(i > 0);
    t[i] = t[i] == '0' ? '1' : '0';
    assert_true(cg_ocsp_response_parse(buf, len, &id_good, &r, err, sizeof err));
    o = defaults();
    o.now = this_update + 60;
    assert_int_equal(cg_ocsp_verify(&r, &ca, &o, &s, why, sizeof why), CG_OCSP_BAD_SIGNATURE);
    free(buf);
}

static void test_verify_window(void **state)
{
    (void)state;
    cg_ocsp_signer s;
    char why[300];
    size_t len;
    unsigned char *buf = load("resp-ca-good.der", &len);
    cg_ocsp_response r;
    char err[300];
    assert_true(cg_ocsp_response_parse(buf, len, &id_good, &r, err, sizeof err));
    cg_ocsp_verify_opts o = defaults();

    o.now = r.this_update - CG_OCSP_SKEW_S;
    assert_int_equal(cg_ocsp_verify(&r, &ca, &o, &s, why, sizeof why), CG_OCSP_TRUSTED);
    o.now = r.this_update - CG_OCSP_SKEW_S - 1;
    assert_int_equal(cg_ocsp_verify(&r, &ca, &o, &s, why, sizeof why), CG_OCSP_NOT_YET_VALID);
    assert_non_null(strstr(why, "in the future"));
    o.now = r.next_update + CG_OCSP_SKEW_S;
    assert_int_equal(cg_ocsp_verify(&r, &ca, &o, &s, why, sizeof why), CG_OCSP_TRUSTED);
    o.now = r.next_update + CG_OCSP_SKEW_S + 1;
    assert_int_equal(cg_ocsp_verify(&r, &ca, &o, &s, why, sizeof why), CG_OCSP_EXPIRED);
    assert_non_null(strstr(why, "nextUpdate"));
    free(buf);

    buf = load("resp-ca-good-no-next.der", &len);
    assert_true(cg_ocsp_response_parse(buf, len, &id_good, &r, err, sizeof err));
    o.now = r.this_update + o.max_age_s;
    assert_int_equal(cg_ocsp_verify(&r, &ca, &o, &s, why, sizeof why), CG_OCSP_TRUSTED);
    o.now = r.this_update + o.max_age_s + 1;
    assert_int_equal(cg_ocsp_verify(&r, &ca, &o, &s, why, sizeof why), CG_OCSP_EXPIRED);
    assert_non_null(strstr(why, "no nextUpdate"));
    free(buf);
}

static void test_verify_nonce_and_sha1(void **state)
{
    (void)state;
    cg_ocsp_signer s;
    char why[300];
    size_t len;
    unsigned char *req = load("req-good-nonce.der", &len);
    unsigned char nonce[16];
    memcpy(nonce, req + len - 16, 16); /* the request ends with the nonce */
    free(req);

    cg_ocsp_verify_opts o = defaults();
    o.nonce = nonce;
    o.nonce_len = 16;
    o.nonce_required = true;
    assert_int_equal(verify_file("resp-ca-good-nonce.der", &id_good, &ca, &o, &s, why, sizeof why), CG_OCSP_TRUSTED);
    unsigned char other[16] = { 1 };
    o = defaults();
    o.nonce = other;
    o.nonce_len = 16;
    assert_int_equal(verify_file("resp-ca-good-nonce.der", &id_good, &ca, &o, &s, why, sizeof why),
                     CG_OCSP_NONCE_MISMATCH);
    assert_non_null(strstr(why, "another nonce"));
    /* A responder that ignores nonces: accepted unless required. */
    o = defaults();
    o.nonce = nonce;
    o.nonce_len = 16;
    assert_int_equal(verify_file("resp-ca-good.der", &id_good, &ca, &o, &s, why, sizeof why), CG_OCSP_TRUSTED);
    o.now = 0;
    o.nonce_required = true;
    assert_int_equal(verify_file("resp-ca-good.der", &id_good, &ca, &o, &s, why, sizeof why), CG_OCSP_NONCE_MISMATCH);

    o = defaults();
    assert_int_equal(verify_file("resp-ca-good-sha1sig.der", &id_good, &ca, &o, &s, why, sizeof why),
                     CG_OCSP_WEAK_SIGNATURE);
    o = defaults();
    o.allow_sha1 = true;
    assert_int_equal(verify_file("resp-ca-good-sha1sig.der", &id_good, &ca, &o, &s, why, sizeof why),
                     CG_OCSP_TRUSTED);
}

int main(void)
{
    /* mbedTLS verifies signatures through PSA (MBEDTLS_USE_PSA_CRYPTO) */
    if (psa_crypto_init() != PSA_SUCCESS)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_like_openssl),
        cmocka_unit_test(test_request_nonce_like_openssl),
        cmocka_unit_test(test_request_bounds),
        cmocka_unit_test(test_aia_urls),
        cmocka_unit_test(test_parse_answers),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_parse_damaged),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_verify_signers),
        cmocka_unit_test(test_verify_forged),
        cmocka_unit_test(test_verify_window),
        cmocka_unit_test(test_verify_nonce_and_sha1),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
