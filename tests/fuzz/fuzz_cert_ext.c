/* libFuzzer target for certgate's own reading of client certificate
 * extensions: CRL Distribution Points and Freshest CRL (crl.c, which walks
 * the DER itself: mbedTLS 2.28 does not parse them), SAN and SKI (mapping.c's
 * certificate view), and what names a certificate (verify.c). Each
 * certificate goes through the revocation step of a connection
 * (cg_crl_check_chain_report, cache-only: no network), the mapping and its
 * explanation, and the naming functions. Built and run by tests/fuzz/run,
 * from the source root (it reads certs-dev/).
 *
 * Input, structure-aware so that mutations reach certgate's code rather than
 * mbedTLS's refusals:
 *   'D' + DER     a whole certificate;
 *   otherwise     records [selector][length, 2 bytes big-endian][value],
 *                 the length clamped to what is left. Each record becomes one
 *                 extension of a fixed template (certs-dev/client/alice.crt,
 *                 its own extensions replaced): the selector's low 4 bits
 *                 pick the OID (table below), bit 0x80 marks it critical.
 *                 Lengths are re-encoded; mbedTLS does not check the
 *                 signature when parsing, so the certificate parses whenever
 *                 mbedTLS accepts the extensions themselves.
 */
#include <psa/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/x509_crt.h>
#include <uv.h>

#include "revocation/crl_check.h"
#include "revocation/crl_fetch.h"
#include "revocation/crl_parse.h"
#include "revocation/crl_store.h"
#include "base/log.h"
#include "mapping/mapping.h"
#include "mapping/cert_view.h"
#include "mapping/mapping_load.h"
#include "mapping/principal.h"
#include "x509/verify.h"

static const struct {
    const char *oid;
    size_t len;
} oids[16] = {
    { "\x55\x1d\x1f", 3 },                     /* 0 cRLDistributionPoints (crl.c) */
    { "\x55\x1d\x2e", 3 },                     /* 1 freshestCRL (crl.c) */
    { "\x55\x1d\x11", 3 },                     /* 2 subjectAltName (mapping.c, mbedTLS) */
    { "\x55\x1d\x0e", 3 },                     /* 3 subjectKeyIdentifier (mapping.c) */
    { "\x2b\x06\x01\x05\x05\x07\x01\x01", 8 }, /* 4 authorityInfoAccess (not read: must stay harmless) */
    { "\x55\x1d\x23", 3 },                     /* 5 authorityKeyIdentifier */
    { "\x55\x1d\x13", 3 },                     /* 6 basicConstraints (mbedTLS) */
    { "\x55\x1d\x0f", 3 },                     /* 7 keyUsage (mbedTLS) */
    { "\x55\x1d\x25", 3 },                     /* 8 extKeyUsage (mbedTLS) */
    { "\x55\x1d\x20", 3 },                     /* 9 certificatePolicies (mbedTLS) */
    { "\x55\x1d\x12", 3 },                     /* 10 issuerAltName */
    { "\x55\x1d\x1c", 3 },                     /* 11 issuingDistributionPoint (a CRL's, misplaced) */
    { "\x2b\x06\x01\x04\x01\x82\x37\x14\x02", 9 }, /* 12 Microsoft certificate template name */
    { "\x55\x1d\x1f", 3 },                     /* 13 CDP again: a duplicate */
    { "\x55\x1d\x11", 3 },                     /* 14 SAN again */
    { "\x2b\x06\x01\x04\x01\x83\x8f\x7f\x01", 9 }, /* 15 a private OID */
};

/* The template: tbsCertificate's content up to its extensions, and what
 * follows tbsCertificate (signature algorithm and value). */
static unsigned char *tbs_head, *tail;
static size_t tbs_head_len, tail_len;
static mbedtls_x509_crt ca_chain; /* intermediate, root */
static cg_mapping *mapping;
static FILE *devnull;
static cg_config cfg;
static cg_listener_cfg listener;
static char *crl_files[2];
static uv_loop_t loop;
static cg_crl_fetcher *fetcher;

/* Names every source of the SAN and SKI view and templates over them. */
static const char mapping_yaml[] =
    "default_realm: EXAMPLE.TEST\n"
    "no_match: 401\n"
    "one_to_one:\n"
    "  - ski: 802dadf3fe00a0467f9c451d8cd23f57b022b751\n"
    "    principal: \"{san.upn}\"\n"
    "  - rfc822: carol@example.test\n"
    "    principal: \"{san.email|local}@{san.email|domain|upper}\"\n"
    "many_to_one:\n"
    "  - name: upn\n"
    "    principal: \"{san.upn}\"\n"
    "    rules: [{field: san, sub_field: upn, pattern: \"*@EXAMPLE.TEST\"}]\n"
    "  - name: email\n"
    "    principal: \"{san.email|local}\"\n"
    "    rules: [{field: san, sub_field: email, pattern: \"*@*\", case_sensitive: false}]\n"
    "  - name: dns\n"
    "    principal: \"{san.dns|lower}@EXAMPLE.TEST\"\n"
    "    rules: [{field: san, sub_field: dns, pattern: \"*.example.test\"},\n"
    "            {field: san, sub_field: uri, pattern: \"https://*\"}]\n"
    "  - name: everyone\n"
    "    principal: \"{subject.CN|lower}@EXAMPLE.TEST\"\n"
    "    rules: [{field: subject, sub_field: CN, pattern: \"*\"}]\n";

static size_t hdr_len(const unsigned char *p) { return (p[1] & 0x80) ? 2 + (size_t)(p[1] & 0x7f) : 2; }

/* Writes a DER tag and length at out; returns the bytes written. */
static size_t put_hdr(unsigned char *out, unsigned char tag, size_t len)
{
    size_t n = 0;
    out[n++] = tag;
    if (len < 0x80) {
        out[n++] = (unsigned char)len;
    } else if (len < 0x100) {
        out[n++] = 0x81;
        out[n++] = (unsigned char)len;
    } else if (len < 0x10000) {
        out[n++] = 0x82;
        out[n++] = (unsigned char)(len >> 8);
        out[n++] = (unsigned char)len;
    } else {
        out[n++] = 0x83;
        out[n++] = (unsigned char)(len >> 16);
        out[n++] = (unsigned char)(len >> 8);
        out[n++] = (unsigned char)len;
    }
    return n;
}

static void load_template(void)
{
    mbedtls_x509_crt t;
    mbedtls_x509_crt_init(&t);
    if (mbedtls_x509_crt_parse_file(&t, "certs-dev/client/alice.crt") != 0) {
        fprintf(stderr, "fuzz_cert_ext: certs-dev/client/alice.crt not loaded (run from the source root)\n");
        abort();
    }
    /* v3_ext is the SEQUENCE inside [3]; [3]'s header is just before it. */
    const unsigned char *tbs = t.tbs.p, *ext = t.v3_ext.p;
    size_t ext3_hdr = t.v3_ext.len < 0x80 ? 2 : t.v3_ext.len < 0x100 ? 3 : 4;
    const unsigned char *from = tbs + hdr_len(tbs), *to = ext - ext3_hdr;
    tbs_head_len = (size_t)(to - from);
    tbs_head = malloc(tbs_head_len);
    memcpy(tbs_head, from, tbs_head_len);
    const unsigned char *after = t.tbs.p + t.tbs.len;
    tail_len = (size_t)(t.raw.p + t.raw.len - after);
    tail = malloc(tail_len);
    memcpy(tail, after, tail_len);
    mbedtls_x509_crt_free(&t);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* mbedTLS verifies signatures through PSA (MBEDTLS_USE_PSA_CRYPTO) */
    if (psa_crypto_init() != PSA_SUCCESS)
        abort();
    load_template();
    mbedtls_x509_crt_init(&ca_chain);
    if (mbedtls_x509_crt_parse_file(&ca_chain, "certs-dev/ca/intermediate.crt") != 0 ||
        mbedtls_x509_crt_parse_file(&ca_chain, "certs-dev/ca/root.crt") != 0)
        abort();
    cg_diag d;
    cg_diag_init(&d);
    mapping = cg_mapping_load_string(mapping_yaml, strlen(mapping_yaml), "fuzz.yaml", NULL, &d);
    if (!mapping) {
        cg_diag_print(&d, stderr);
        abort();
    }
    devnull = fopen("/dev/null", "w");
    if (!devnull || !cg_log_open("/dev/null", CG_LOG_DEBUG))
        abort();

    /* The revocation settings of a listener in cache-only mode, with the
     * dev PKI's CRLs as crl_files: each check looks the certificate up in
     * them and never fetches. */
    atomic_init(&cfg.refs, 1);
    cfg.revocation.fetch_timeout_ms = 2000;
    cfg.revocation.max_crl_size = 1u << 20;
    cfg.revocation.allow_http = cfg.revocation.allow_ldap = true;
    crl_files[0] = strdup("certs-dev/crl/intermediate.crl");
    crl_files[1] = strdup("certs-dev/crl/root.crl");
    listener.name = "fuzz";
    listener.revocation.mode = CG_REVOCATION_CACHE_ONLY;
    listener.revocation.crl_files = crl_files;
    listener.revocation.ncrl_files = 2;
    cfg.listeners = &listener;
    cfg.nlisteners = 1;
    cg_crl_store *store = cg_crl_store_new(&cfg, &d);
    if (!store || uv_loop_init(&loop) != 0 || !(fetcher = cg_crl_fetcher_new(&loop, store))) {
        cg_diag_print(&d, stderr);
        abort();
    }
    cg_crl_store_set_persist(store, false);
    cg_diag_free(&d);
    return 0;
}

/* Builds the certificate from records; returns its length in out. */
static size_t build(const uint8_t *data, size_t size, unsigned char *out)
{
    /* Extensions first, into the middle of out, then wrapped. */
    unsigned char *exts = out + 64 + tbs_head_len;
    size_t elen = 0;
    int n = 0;
    while (size >= 3 && n < 16) {
        unsigned sel = data[0];
        size_t vlen = (size_t)data[1] << 8 | data[2];
        data += 3;
        size -= 3;
        if (vlen > size)
            vlen = size;
        const unsigned char *oid = (const unsigned char *)oids[sel & 15].oid;
        size_t olen = oids[sel & 15].len;
        bool crit = sel & 0x80;
        unsigned char h[8];
        size_t ohdr = put_hdr(h, 0x06, olen);
        size_t vhdr = put_hdr(h, 0x04, vlen);
        size_t inner = ohdr + olen + (crit ? 3 : 0) + vhdr + vlen;
        unsigned char *q = exts + elen;
        q += put_hdr(q, 0x30, inner);
        q += put_hdr(q, 0x06, olen);
        memcpy(q, oid, olen);
        q += olen;
        if (crit) {
            memcpy(q, "\x01\x01\xff", 3);
            q += 3;
        }
        q += put_hdr(q, 0x04, vlen);
        memcpy(q, data, vlen);
        q += vlen;
        elen = (size_t)(q - exts);
        data += vlen;
        size -= vlen;
        n++;
    }
    /* [3] { SEQUENCE { exts } } */
    unsigned char h1[8], h2[8];
    size_t s1 = put_hdr(h1, 0x30, elen);
    size_t s2 = put_hdr(h2, 0xa3, s1 + elen);
    size_t tbs_len = tbs_head_len + s2 + s1 + elen;
    unsigned char h3[8], h4[8];
    size_t s3 = put_hdr(h3, 0x30, tbs_len);
    size_t s4 = put_hdr(h4, 0x30, s3 + tbs_len + tail_len);
    /* Assemble in order: the extensions move to their final place. */
    unsigned char *p = out;
    size_t ext_at = s4 + s3 + tbs_head_len + s2 + s1;
    memmove(out + ext_at, exts, elen);
    memcpy(p, h4, s4), p += s4;
    memcpy(p, h3, s3), p += s3;
    memcpy(p, tbs_head, tbs_head_len), p += tbs_head_len;
    memcpy(p, h2, s2), p += s2;
    memcpy(p, h1, s1), p += s1;
    p += elen;
    memcpy(p, tail, tail_len), p += tail_len;
    return (size_t)(p - out);
}

typedef struct result {
    int calls;
    cg_rev_status st;
} result;

static void on_result(void *ctx, cg_rev_status st, const cg_refusal *why)
{
    result *r = ctx;
    r->calls++;
    r->st = st;
    if (st != CG_REV_GOOD && (!why || !why->detail[0]))
        abort(); /* a refusal says which certificate and why */
}

static void check_urls(const mbedtls_x509_crt *c, bool freshest)
{
    char *urls[16];
    size_t n = cg_crl_cert_urls(c, freshest, urls, 16);
    if (n > 16)
        abort();
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(urls[i]);
        if (len == 0)
            abort();
        for (size_t k = 0; k < len; k++)
            if (urls[i][k] < 0x21 || urls[i][k] > 0x7e)
                abort(); /* URLs are logged and fetched: printable, no spaces */
        free(urls[i]);
    }
}

static void use_cert(const mbedtls_x509_crt *c)
{
    check_urls(c, false);
    check_urls(c, true);

    /* The revocation step of a connection: as leaf, then as intermediate. */
    static cg_crl_report report;
    const mbedtls_x509_crt *as_leaf[3] = { c, &ca_chain, ca_chain.next };
    const mbedtls_x509_crt *as_ca[3] = { &ca_chain, c, ca_chain.next }; /* c issued the "leaf" */
    cg_crl_policy policy;
    cg_crl_policy_from(&policy, &listener, NULL);
    for (int k = 0; k < 2; k++) {
        result r = { 0 };
        cg_crl_check *chk = cg_crl_check_chain_report(fetcher, &policy, k ? as_ca : as_leaf, 3, on_result, &r,
                                                      &report);
        if (chk)
            cg_crl_check_cancel(chk); /* cache-only: should not happen, but never leave one behind */
        else if (r.calls != 1)
            abort();
    }

    cg_map_result m;
    cg_mapping_map(mapping, c, &m);
    if (m.outcome == CG_MAP_ALLOW && cg_principal_problem(m.principal, strlen(m.principal)))
        abort();
    cg_mapping_explain(mapping, c, devnull);

    char buf[1024], sha[65];
    cg_cert_describe(c, 0, buf, sizeof buf);
    cg_cert_subject(c, buf, sizeof buf);
    cg_cert_issuer(c, buf, sizeof buf);
    cg_cert_serial(c, buf, sizeof buf);
    cg_cert_sha256_hex(c, sha);
    cg_mapping_cert_dn(c, false, buf, sizeof buf);
    cg_mapping_cert_dn(c, true, buf, sizeof buf);
    (void)cg_cert_names_issuer(c, &ca_chain);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *der;
    size_t len;
    if (size && data[0] == 'D') {
        len = size - 1;
        der = malloc(len ? len : 1);
        memcpy(der, data + 1, len);
    } else {
        /* each record adds at most 22 bytes of headers; 16 records */
        der = malloc(size + tbs_head_len + tail_len + 16 * 32 + 64);
        len = build(data, size, der);
    }
    mbedtls_x509_crt c;
    mbedtls_x509_crt_init(&c);
    if (mbedtls_x509_crt_parse_der(&c, der, len) == 0)
        use_cert(&c);
    mbedtls_x509_crt_free(&c);
    free(der);
    return 0;
}
