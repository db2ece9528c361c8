/* Unit tests for the certificate mapping (src/mapping/mapping.c and the modules
 * under it: cert_view, cert_key, glob, principal, cert_text, mapping_load).
 *
 * Certificates with odd names (NUL or control characters, invalid UTF-8,
 * BMPString, multi-valued RDNs, several OUs, RFC 4514 special characters)
 * are built here as DER, byte by byte: neither openssl's -subj nor
 * mbedtls_x509write can write all of them. The signature is a dummy (the
 * mapper never verifies one; mbedtls_x509_crt_parse_der does not either).
 * The public keys come from the dev PKI (certs-dev/client).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/x509_crt.h>

#include "mapping/cert_key.h"
#include "mapping/cert_view.h"
#include "fixtures.h"
#include "mapping/glob.h"
#include "mapping/mapping.h"
#include "mapping/mapping_load.h"
#include "mapping/mapping_table.h"
#include "mapping/principal.h"
#include "x509/verify.h"

/* ======================================================================
 * Test data
 * ====================================================================== */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* A dev PKI client certificate: alice, bob ... */
static mbedtls_x509_crt *dev_cert(const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "certs-dev/client/%s.crt", name);
    char *path = fx_repo_file(rel);
    mbedtls_x509_crt *c = malloc(sizeof *c);
    mbedtls_x509_crt_init(c);
    assert_int_equal(mbedtls_x509_crt_parse_file(c, path), 0);
    free(path);
    return c;
}

static void free_cert(mbedtls_x509_crt *c)
{
    mbedtls_x509_crt_free(c);
    free(c);
}

/* ======================================================================
 * DER builder
 * ====================================================================== */

typedef struct der {
    unsigned char *p;
    size_t n;
} der;

static der *der_new(const void *p, size_t n)
{
    der *d = malloc(sizeof *d);
    d->p = malloc(n ? n : 1);
    if (n)
        memcpy(d->p, p, n);
    d->n = n;
    return d;
}

static void der_free(der *d)
{
    if (d) {
        free(d->p);
        free(d);
    }
}

/* tag + length + the concatenation of the parts (consumed), NULL-terminated. */
static der *tlv(int tag, ...)
{
    va_list ap;
    size_t len = 0;
    va_start(ap, tag);
    for (der *x; (x = va_arg(ap, der *));)
        len += x->n;
    va_end(ap);
    unsigned char head[6];
    size_t h = 0;
    head[h++] = (unsigned char)tag;
    if (len < 0x80) {
        head[h++] = (unsigned char)len;
    } else if (len < 0x100) {
        head[h++] = 0x81;
        head[h++] = (unsigned char)len;
    } else {
        head[h++] = 0x82;
        head[h++] = (unsigned char)(len >> 8);
        head[h++] = (unsigned char)len;
    }
    der *out = malloc(sizeof *out);
    out->p = malloc(h + len);
    memcpy(out->p, head, h);
    out->n = h;
    va_start(ap, tag);
    for (der *x; (x = va_arg(ap, der *));) {
        memcpy(out->p + out->n, x->p, x->n);
        out->n += x->n;
        der_free(x);
    }
    va_end(ap);
    return out;
}

static der *prim(int tag, const void *p, size_t n)
{
    return tlv(tag, der_new(p, n), NULL);
}

#define OID_CN "\x55\x04\x03"
#define OID_O "\x55\x04\x0A"
#define OID_OU "\x55\x04\x0B"
#define OID_C "\x55\x04\x06"
#define OID_UID "\x09\x92\x26\x89\x93\xF2\x2C\x64\x01\x01"
#define OID_DC "\x09\x92\x26\x89\x93\xF2\x2C\x64\x01\x19"
#define OID_EMAIL "\x2A\x86\x48\x86\xF7\x0D\x01\x09\x01"
#define OID_TITLE "\x55\x04\x0C"
#define OID_UPN "\x2B\x06\x01\x04\x01\x82\x37\x14\x02\x03"

enum { UTF8 = 0x0C, PRINTABLE = 0x13, T61 = 0x14, IA5 = 0x16, BMP = 0x1E, UNIVERSAL = 0x1C };

/* AttributeTypeAndValue with an explicit value length (values may hold NUL). */
static der *attr_n(const char *oid, int tag, const char *val, size_t n)
{
    return tlv(0x30, prim(0x06, oid, strlen(oid)), prim(tag, val, n), NULL);
}

static der *attr(const char *oid, int tag, const char *val)
{
    return attr_n(oid, tag, val, strlen(val));
}

/* An RDN (a SET) of one or more attributes. */
#define RDN(...) tlv(0x31, __VA_ARGS__, NULL)
/* A Name: RDNs in DER order (most general first). */
#define NAME(...) tlv(0x30, __VA_ARGS__, NULL)

static der *std_issuer(void)
{
    return NAME(RDN(attr(OID_C, PRINTABLE, "US")), RDN(attr(OID_O, UTF8, "Example")),
                RDN(attr(OID_CN, UTF8, "Example Dev Intermediate CA")));
}

/* GeneralName entries for a SAN extension. */
static der *san_email(const char *s) { return prim(0x81, s, strlen(s)); }
static der *san_dns(const char *s) { return prim(0x82, s, strlen(s)); }
static der *san_uri(const char *s) { return prim(0x86, s, strlen(s)); }
static der *san_upn_n(const char *s, size_t n)
{
    return tlv(0xA0, prim(0x06, OID_UPN, strlen(OID_UPN)), tlv(0xA0, prim(UTF8, s, n), NULL), NULL);
}
static der *san_upn(const char *s) { return san_upn_n(s, strlen(s)); }

static der *ext(const char *oid, der *value)
{
    return tlv(0x30, prim(0x06, oid, strlen(oid)), tlv(0x04, value, NULL), NULL);
}

#define SAN(...) ext("\x55\x1D\x11", tlv(0x30, __VA_ARGS__, NULL))

static der *ski_ext(const char *id, size_t n) { return ext("\x55\x1D\x0E", prim(0x04, id, n)); }

/* The SubjectPublicKeyInfo of a dev PKI client certificate. */
static der *spki_of(const char *who)
{
    mbedtls_x509_crt *c = dev_cert(who);
    der *d = der_new(c->pk_raw.p, c->pk_raw.len);
    free_cert(c);
    return d;
}

/* A v3 certificate: serial (bytes), subject, issuer (NULL: the dev
 * intermediate), extensions (NULL: none), key of `who`. Consumes the parts. */
static mbedtls_x509_crt *make_cert(const char *serial, der *subject, der *issuer, der *exts,
                                   const char *who)
{
    static const char ecdsa_sha256[] = "\x2A\x86\x48\xCE\x3D\x04\x03\x02";
    der *alg = tlv(0x30, prim(0x06, ecdsa_sha256, 8), NULL);
    der *alg2 = tlv(0x30, prim(0x06, ecdsa_sha256, 8), NULL);
    der *validity = tlv(0x30, prim(0x17, "250101000000Z", 13), prim(0x17, "350101000000Z", 13), NULL);
    der *tbs = tlv(0x30, tlv(0xA0, prim(0x02, "\x02", 1), NULL), prim(0x02, serial, strlen(serial)),
                   alg, issuer ? issuer : std_issuer(), validity, subject, spki_of(who ? who : "alice"),
                   exts ? tlv(0xA3, tlv(0x30, exts, NULL), NULL) : der_new("", 0), NULL);
    der *sig = tlv(0x03, der_new("\x00", 1),
                   tlv(0x30, prim(0x02, "\x01", 1), prim(0x02, "\x01", 1), NULL), NULL);
    der *cert = tlv(0x30, tbs, alg2, sig, NULL);
    mbedtls_x509_crt *c = malloc(sizeof *c);
    mbedtls_x509_crt_init(c);
    int ret = mbedtls_x509_crt_parse_der(c, cert->p, cert->n);
    if (ret != 0)
        fail_msg("mbedtls_x509_crt_parse_der: -0x%04x", (unsigned)-ret);
    der_free(cert);
    return c;
}

/* A certificate with just this subject (and key of alice). */
static mbedtls_x509_crt *cert_subject(der *subject)
{
    return make_cert("\x11", subject, NULL, NULL, NULL);
}

/* ======================================================================
 * Loading and mapping helpers
 * ====================================================================== */

static cg_mapping *load_ok(const char *yaml)
{
    cg_diag d;
    cg_diag_init(&d);
    cg_mapping *m = cg_mapping_load_string(yaml, strlen(yaml), "test.yaml", NULL, &d);
    if (!m || d.errors) {
        cg_diag_print(&d, stderr);
        fail_msg("the mapping did not load");
    }
    cg_diag_free(&d);
    return m;
}

/* Loads yaml expecting failure, and an error at line:col whose message
 * holds want. */
static void load_err(const char *yaml, int line, int col, const char *want)
{
    cg_diag d;
    cg_diag_init(&d);
    cg_mapping *m = cg_mapping_load_string(yaml, strlen(yaml), "test.yaml", NULL, &d);
    if (m) {
        cg_mapping_unref(m);
        fail_msg("loaded, expected an error containing \"%s\"", want);
    }
    for (size_t i = 0; i < d.count; i++) {
        const cg_diag_item *it = &d.items[i];
        if (it->severity == CG_DIAG_ERROR && it->line == line && it->column == col &&
            strstr(it->message, want)) {
            assert_string_equal(it->file, "test.yaml");
            cg_diag_free(&d);
            return;
        }
    }
    cg_diag_print(&d, stderr);
    cg_diag_free(&d);
    fail_msg("no error at %d:%d containing \"%s\"", line, col, want);
}

/* Loads yaml (which must load) and checks for a warning at line:col
 * containing want (want NULL: no warning at all). */
static void load_warn(const char *yaml, int line, int col, const char *want)
{
    cg_diag d;
    cg_diag_init(&d);
    cg_mapping *m = cg_mapping_load_string(yaml, strlen(yaml), "test.yaml", NULL, &d);
    if (!m) {
        cg_diag_print(&d, stderr);
        fail_msg("the mapping did not load");
    }
    cg_mapping_unref(m);
    if (!want) {
        if (d.warnings)
            cg_diag_print(&d, stderr);
        assert_int_equal(d.warnings, 0);
        cg_diag_free(&d);
        return;
    }
    for (size_t i = 0; i < d.count; i++) {
        const cg_diag_item *it = &d.items[i];
        if (it->severity == CG_DIAG_WARNING && it->line == line && it->column == col &&
            strstr(it->message, want)) {
            cg_diag_free(&d);
            return;
        }
    }
    cg_diag_print(&d, stderr);
    cg_diag_free(&d);
    fail_msg("no warning at %d:%d containing \"%s\"", line, col, want);
}

static cg_map_result map(const cg_mapping *m, const mbedtls_x509_crt *c)
{
    cg_map_result r;
    memset(&r, 0x5A, sizeof r); /* the mapper must set every field it promises */
    cg_mapping_map(m, c, &r);
    return r;
}

static void expect_allow(const char *yaml, const mbedtls_x509_crt *c, const char *principal,
                         const char *rule)
{
    cg_mapping *m = load_ok(yaml);
    cg_map_result r = map(m, c);
    if (r.outcome != CG_MAP_ALLOW)
        fail_msg("expected ALLOW %s, got outcome %d: %s", principal, r.outcome, r.why.detail);
    assert_string_equal(r.principal, principal);
    if (rule)
        assert_string_equal(r.rule, rule);
    cg_mapping_unref(m);
}

/* NONE (401.2) with a detail holding want (NULL: any). */
static void expect_none(const char *yaml, const mbedtls_x509_crt *c, const char *want)
{
    cg_mapping *m = load_ok(yaml);
    cg_map_result r = map(m, c);
    if (r.outcome != CG_MAP_NONE)
        fail_msg("expected NONE, got outcome %d (principal %s, rule %s)", r.outcome,
                 r.outcome == CG_MAP_ALLOW ? r.principal : "-", r.rule);
    assert_int_equal(r.why.kind, CG_REFUSE_MAP_NONE);
    assert_string_equal(r.principal, "");
    if (want && !strstr(r.why.detail, want))
        fail_msg("detail lacks \"%s\": %s", want, r.why.detail);
    cg_mapping_unref(m);
}

static void expect_deny(const char *yaml, const mbedtls_x509_crt *c, const char *rule)
{
    cg_mapping *m = load_ok(yaml);
    cg_map_result r = map(m, c);
    assert_int_equal(r.outcome, CG_MAP_DENY);
    assert_int_equal(r.why.kind, CG_REFUSE_MAP_DENIED);
    assert_int_equal(cg_refusal_status(r.why.kind), 403);
    assert_int_equal(cg_refusal_substatus(r.why.kind), 12);
    assert_string_equal(r.rule, rule);
    assert_string_equal(r.principal, "");
    cg_mapping_unref(m);
}

static char *explain(const cg_mapping *m, const mbedtls_x509_crt *c)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    cg_mapping_explain(m, c, f);
    fclose(f);
    return out;
}

/* A one-rule many-to-one mapping "r" allowing as {subject.CN}@EXAMPLE.TEST. */
static char *one_rule(const char *field, const char *sub, const char *pattern, const char *cs)
{
    char *y;
    assert_true(asprintf(&y,
                         "many_to_one:\n"
                         "  - name: r\n"
                         "    principal: \"user@EXAMPLE.TEST\"\n"
                         "    rules:\n"
                         "      - field: %s\n"
                         "        sub_field: %s\n"
                         "        pattern: \"%s\"\n"
                         "%s%s%s",
                         field, sub, pattern, cs ? "        case_sensitive: " : "", cs ? cs : "",
                         cs ? "\n" : "") > 0);
    return y;
}

static bool rule_matches(const mbedtls_x509_crt *c, const char *field, const char *sub,
                         const char *pattern, const char *cs)
{
    char *y = one_rule(field, sub, pattern, cs);
    cg_mapping *m = load_ok(y);
    cg_map_result r = map(m, c);
    cg_mapping_unref(m);
    free(y);
    return r.outcome == CG_MAP_ALLOW;
}

/* ======================================================================
 * Wildcards
 * ====================================================================== */

static bool glob(const char *pattern, const char *value, bool cs)
{
    char out[256];
    size_t n = 0, at = 0;
    const char *why = cg_glob_compile(pattern, strlen(pattern), cs, out, &n, &at);
    if (why)
        fail_msg("pattern \"%s\": %s", pattern, why);
    return cg_glob_match(out, n, cs, value, strlen(value));
}

static void test_glob_basics(void **state)
{
    (void)state;
    assert_true(glob("Sales", "Sales", true));
    assert_false(glob("Sales", "Sales2", true));
    assert_false(glob("Sales", "Sale", true));
    assert_true(glob("*", "", true));
    assert_true(glob("*", "anything at all", true));
    assert_true(glob("Sa*", "Sa", true));
    assert_true(glob("Sa*", "Sales", true));
    assert_true(glob("*les", "Sales", true));
    assert_false(glob("*les", "Salesman", true));
    assert_true(glob("S*l*s", "Sales", true));
    assert_true(glob("*ab", "aab", true));        /* backtracking */
    assert_true(glob("a*b*c", "a-b-b-c", true));
    assert_false(glob("a*b*c", "a-b-b-", true));
    assert_true(glob("**", "x", true));           /* "**" is "*" */
    assert_true(glob("?", "x", true));
    assert_false(glob("?", "", true));
    assert_false(glob("?", "xy", true));
    assert_true(glob("??", "xy", true));
    assert_true(glob("b?b", "bob", true));
    assert_true(glob("*?", "x", true));
    assert_false(glob("*?", "", true));
}

static void test_glob_code_points(void **state)
{
    (void)state;
    /* '?' is one character, not one byte: é is two bytes, 😀 four. */
    assert_true(glob("Zo?", "Zoë", true));
    assert_false(glob("Zo??", "Zoë", true));
    assert_true(glob("?", "😀", true));
    assert_true(glob("*ë", "Zoë", true));
    assert_true(glob("Z*?", "Zoë", true));
    assert_true(glob("Zoë", "Zoë", true));
}

static void test_glob_escapes(void **state)
{
    (void)state;
    assert_true(glob("a\\*b", "a*b", true));
    assert_false(glob("a\\*b", "axb", true));
    assert_true(glob("\\?", "?", true));
    assert_false(glob("\\?", "x", true));
    assert_true(glob("C:\\\\dir", "C:\\dir", true));
}

static void test_glob_case(void **state)
{
    (void)state;
    assert_false(glob("sales", "Sales", true)); /* default, as IIS: case-sensitive */
    assert_true(glob("sales", "SALES", false));
    assert_true(glob("SA*", "sales", false));
    assert_true(glob("s?LES", "SaLeS", false));
    /* ASCII-only folding: no Unicode case pairs... */
    assert_false(glob("émile", "Émile", false));
    assert_true(glob("émile", "éMILE", false));
    /* ...so the Kelvin sign (U+212A) is not "k", and dotless/dotted i stay apart. */
    assert_false(glob("kelvin", "\xE2\x84\xAA" "elvin", false));
    assert_false(glob("istanbul", "\xC4\xB0stanbul", false));
    assert_false(glob("\xC4\xB1", "I", false));
}

static void test_glob_bad_patterns(void **state)
{
    (void)state;
    char out[64];
    size_t n, at;
    assert_non_null(cg_glob_compile("", 0, true, out, &n, &at));
    assert_non_null(strstr(cg_glob_compile("abc\\", 4, true, out, &n, &at), "lone"));
    assert_int_equal(at, 3);
    assert_non_null(strstr(cg_glob_compile("a\\b", 3, true, out, &n, &at), "other than"));
    assert_int_equal(at, 1);
    assert_non_null(strstr(cg_glob_compile("a\x01", 2, true, out, &n, &at), "control"));
    assert_non_null(strstr(cg_glob_compile("a\xff", 2, true, out, &n, &at), "UTF-8"));
    assert_non_null(strstr(cg_glob_compile("a\0b", 3, true, out, &n, &at), "NUL"));
}

/* A pathological pattern must not take exponential time. */
static void test_glob_no_blowup(void **state)
{
    (void)state;
    char value[2001];
    memset(value, 'a', 2000);
    value[2000] = '\0';
    clock_t t0 = clock();
    for (int i = 0; i < 20; i++)
        assert_false(glob("*a*a*a*a*a*a*a*a*b", value, true));
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    assert_true(secs < 2.0);
}

static bool covers(const char *a, bool acs, const char *b, bool bcs)
{
    char ca[128], cb[128];
    size_t na, nb, at;
    assert_null(cg_glob_compile(a, strlen(a), acs, ca, &na, &at));
    assert_null(cg_glob_compile(b, strlen(b), bcs, cb, &nb, &at));
    return cg_glob_covers(ca, na, acs, cb, nb, bcs);
}

static void test_glob_covers(void **state)
{
    (void)state;
    assert_true(covers("*", true, "anything*", true));
    assert_true(covers("Sales", true, "Sales", true));
    assert_true(covers("Sa*", true, "Sales", true));
    assert_true(covers("Sa*", true, "Sa?es*", true));
    assert_true(covers("S?les", true, "Sales", true));
    assert_true(covers("S?les", true, "S?les", true));
    assert_false(covers("Sales", true, "Sa*", true));
    assert_false(covers("S?les", true, "S*les", true));
    assert_false(covers("Sales", true, "Marketing", true));
    /* case: an insensitive pattern covers the sensitive spelling, not the reverse */
    assert_true(covers("sales", false, "SALES", true));
    assert_true(covers("sales", false, "Sales", false));
    assert_false(covers("sales", true, "sales", false));
    assert_true(covers("1234", true, "1234", false)); /* no letters: case does not matter */
    assert_false(covers("SALES", true, "sales", true));
}

/* ======================================================================
 * Principals and templates
 * ====================================================================== */

static void test_principal_validity(void **state)
{
    (void)state;
    static const char *const good[] = { "alice@EXAMPLE.TEST", "a.b-c_d@EX.TEST", "zoë@EXAMPLE.TEST",
                                        "x@R", NULL };
    for (int i = 0; good[i]; i++)
        if (cg_principal_problem(good[i], strlen(good[i])))
            fail_msg("%s: %s", good[i], cg_principal_problem(good[i], strlen(good[i])));
    static const struct { const char *p; size_t n; const char *why; } bad[] = {
        { "alice", 5, "no \"@REALM\"" },
        { "@EXAMPLE.TEST", 13, "user name is empty" },
        { "alice@", 6, "realm is empty" },
        { "alice@evil@EXAMPLE.TEST", 23, "more than one '@'" },
        { "alice\0@evil", 11, "NUL" },
        { "alice/admin@EXAMPLE.TEST", 24, "'/'" },
        { "dom\\alice@EXAMPLE.TEST", 22, "'/' or '\\'" },
        { "john smith@EXAMPLE.TEST", 23, "space" },
        { "al\x1bice@EXAMPLE.TEST", 19, "control" },
        { "al\xE2\x80\x8Bice@EXAMPLE.TEST", 21, "invisible" },
        { "alice@EXAMPLE..TEST", 19, "empty label" },
        { "alice@EXAMPLE TEST", 18, "realm has a character" },
        { "al\xffice@EXAMPLE.TEST", 19, "UTF-8" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *why = cg_principal_problem(bad[i].p, bad[i].n);
        if (!why || !strstr(why, bad[i].why))
            fail_msg("principal #%zu: got %s, expected \"%s\"", i, why ? why : "valid", bad[i].why);
    }
}

static void test_template_fields(void **state)
{
    (void)state;
    mbedtls_x509_crt *alice = dev_cert("alice"), *bob = dev_cert("bob");
    const char *rule_ou = "    rules: [{field: subject, sub_field: O, pattern: Example}]\n";
    char y[1024];
    snprintf(y, sizeof y, "many_to_one:\n  - name: t\n    principal: \"{san.upn}\"\n%s", rule_ou);
    expect_allow(y, alice, "alice@EXAMPLE.TEST", "many-to-one \"t\"");
    snprintf(y, sizeof y, "many_to_one:\n  - name: t\n    principal: \"{subject.CN}@EXAMPLE.TEST\"\n%s",
             rule_ou);
    expect_allow(y, bob, "bob@EXAMPLE.TEST", NULL);
    /* default realm for a result without '@' */
    snprintf(y, sizeof y, "default_realm: CORP.TEST\nmany_to_one:\n  - name: t\n    principal: "
             "\"{subject.cn}\"\n%s", rule_ou);
    expect_allow(y, bob, "bob@CORP.TEST", NULL);
    /* filters */
    snprintf(y, sizeof y, "many_to_one:\n  - name: t\n    principal: "
             "\"{san.email|local}@{san.email|domain|upper}\"\n%s", rule_ou);
    expect_allow(y, bob, "bob@EXAMPLE.TEST", NULL);
    snprintf(y, sizeof y, "many_to_one:\n  - name: t\n    principal: "
             "\"{subject.CN|upper}.{issuer.O|lower}@EXAMPLE.TEST\"\n%s", rule_ou);
    expect_allow(y, bob, "BOB.example@EXAMPLE.TEST", NULL);
    /* literal braces */
    snprintf(y, sizeof y, "many_to_one:\n  - name: t\n    principal: \"{{x}}{subject.CN}@EXAMPLE.TEST\"\n%s",
             rule_ou);
    expect_allow(y, bob, "{x}bob@EXAMPLE.TEST", NULL);
    /* a missing field: no mapping, and nothing after the matching mapping is tried */
    snprintf(y, sizeof y, "many_to_one:\n  - name: t\n    principal: \"{san.upn}\"\n%s"
             "  - name: later\n    principal: later@EXAMPLE.TEST\n"
             "    rules: [{field: subject, sub_field: CN, pattern: \"*\"}]\n", rule_ou);
    expect_none(y, bob, "no san.upn");
    free_cert(alice);
    free_cert(bob);
}

/* A CN of "alice\0@evil" must never become alice (nor anything else). */
static void test_template_nul_in_cn(void **state)
{
    (void)state;
    mbedtls_x509_crt *c = cert_subject(NAME(RDN(attr(OID_O, UTF8, "Example")),
                                            RDN(attr_n(OID_CN, UTF8, "alice\0@evil", 11))));
    const char *y = "many_to_one:\n  - name: t\n    principal: \"{subject.CN}@EXAMPLE.TEST\"\n"
                    "    rules: [{field: subject, sub_field: O, pattern: Example}]\n";
    expect_none(y, c, "NUL character");
    /* IA5String and BMPString NULs too */
    free_cert(c);
    c = cert_subject(NAME(RDN(attr(OID_O, UTF8, "Example")),
                          RDN(attr_n(OID_CN, BMP, "\0a\0l\0i\0c\0e\0\0\0@\0e", 16))));
    expect_none(y, c, "NUL character");
    free_cert(c);
    /* an UPN with NUL */
    c = make_cert("\x12", NAME(RDN(attr(OID_O, UTF8, "Example"))), NULL,
                  SAN(san_upn_n("alice\0@evil.test", 16)), NULL);
    expect_none("many_to_one:\n  - name: t\n    principal: \"{san.upn}\"\n"
                "    rules: [{field: subject, sub_field: O, pattern: Example}]\n", c, "NUL");
    free_cert(c);
}

static void test_template_invalid_results(void **state)
{
    (void)state;
    static const struct { const char *cn; const char *why; } cases[] = {
        { "alice@evil", "more than one '@'" },
        { "john smith", "space" },
        { "alice/admin", "'/'" },
        { "al\xE2\x80\xAE" "ecila", "invisible" },
    };
    const char *y = "many_to_one:\n  - name: t\n    principal: \"{subject.CN}@EXAMPLE.TEST\"\n"
                    "    rules: [{field: subject, sub_field: O, pattern: Example}]\n";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mbedtls_x509_crt *c = cert_subject(NAME(RDN(attr(OID_O, UTF8, "Example")),
                                                RDN(attr(OID_CN, UTF8, cases[i].cn))));
        expect_none(y, c, cases[i].why);
        free_cert(c);
    }
}

static void test_template_multi_valued(void **state)
{
    (void)state;
    mbedtls_x509_crt *c = cert_subject(NAME(RDN(attr(OID_O, UTF8, "Example")),
                                            RDN(attr(OID_OU, UTF8, "Sales")),
                                            RDN(attr(OID_OU, UTF8, "Engineering")),
                                            RDN(attr(OID_CN, UTF8, "carol"))));
    expect_none("many_to_one:\n  - name: t\n    principal: \"{subject.OU}@EXAMPLE.TEST\"\n"
                "    rules: [{field: subject, sub_field: O, pattern: Example}]\n", c,
                "2 subject.OU values");
    free_cert(c);
}

static void test_template_load_errors(void **state)
{
    (void)state;
    const char *head = "many_to_one:\n  - name: t\n    rules: [{field: subject, sub_field: O, pattern: x}]\n";
    char y[512];
    static const struct { const char *principal; const char *want; } cases[] = {
        { "\"{subject.XX}@EXAMPLE.TEST\"", "unknown sub-field" },
        { "\"{subjekt.CN}@EXAMPLE.TEST\"", "unknown field" },
        { "\"{san.cn}@EXAMPLE.TEST\"", "unknown san sub-field" },
        { "\"{subject.CN|trim}@EXAMPLE.TEST\"", "unknown filter" },
        { "\"{subject.CN@EXAMPLE.TEST\"", "'{' without '}'" },
        { "\"subject.CN}@EXAMPLE.TEST\"", "'}' without '{'" },
        { "\"{CN}@EXAMPLE.TEST\"", "{field.sub_field}" },
        { "\"{subject.CN}\"", "no @REALM and default_realm is not set" },
        { "alice", "no @REALM" },
        { "\"{san.upn}@EXAMPLE.TEST\"", "more than one '@'" },
        { "\"{subject.CN} x@EXAMPLE.TEST\"", "space" },
        { "\"alice@bad realm\"", "realm has a character" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(y, sizeof y, "%s    principal: %s\n", head, cases[i].principal);
        load_err(y, 4, 16, cases[i].want);
    }
    load_err("default_realm: \"BAD REALM\"\n", 1, 16, "not a Kerberos realm");
}

/* ======================================================================
 * Certificate fields
 * ====================================================================== */

static void test_fields_dev_certs(void **state)
{
    (void)state;
    mbedtls_x509_crt *alice = dev_cert("alice");
    assert_true(rule_matches(alice, "subject", "CN", "alice", NULL));
    assert_true(rule_matches(alice, "subject", "OU", "Engineering", NULL));
    assert_true(rule_matches(alice, "subject", "O", "Example", NULL));
    assert_true(rule_matches(alice, "subject", "C", "US", NULL));
    assert_true(rule_matches(alice, "issuer", "CN", "Example Dev Intermediate CA", NULL));
    assert_true(rule_matches(alice, "issuer", "cn", "Example Dev *", NULL)); /* names: any case */
    assert_true(rule_matches(alice, "san", "upn", "alice@EXAMPLE.TEST", NULL));
    assert_true(rule_matches(alice, "san", "email", "alice@example.test", NULL));
    assert_false(rule_matches(alice, "san", "dns", "*", NULL));     /* absent */
    assert_false(rule_matches(alice, "subject", "L", "*", NULL));   /* absent: even "*" fails */
    assert_false(rule_matches(alice, "subject", "CN", "Alice", NULL));
    assert_true(rule_matches(alice, "subject", "CN", "ALICE", "false"));
    free_cert(alice);
}

static void test_fields_all_sub_fields(void **state)
{
    (void)state;
    der *subject = NAME(RDN(attr(OID_DC, IA5, "test")), RDN(attr(OID_DC, IA5, "example")),
                        RDN(attr(OID_C, PRINTABLE, "DE")), RDN(attr("\x55\x04\x08", UTF8, "Bayern")),
                        RDN(attr("\x55\x04\x07", UTF8, "München")), RDN(attr(OID_O, UTF8, "Example")),
                        RDN(attr(OID_OU, UTF8, "Ops")), RDN(attr(OID_UID, UTF8, "dave42")),
                        RDN(attr("\x55\x04\x05", PRINTABLE, "EMP-0042")),
                        RDN(attr(OID_EMAIL, IA5, "dave@example.test")),
                        RDN(attr(OID_CN, UTF8, "dave")));
    mbedtls_x509_crt *c = make_cert("\x13", subject, NULL,
                                    SAN(san_dns("dave.example.test"), san_uri("https://id.example.test/dave"),
                                        san_email("Dave@Example.Test"), san_upn("dave@EXAMPLE.TEST")),
                                    NULL);
    static const char *const yes[][3] = {
        { "subject", "DC", "example" }, { "subject", "DC", "test" }, { "subject", "C", "DE" },
        { "subject", "ST", "Bayern" }, { "subject", "S", "Bayern" }, { "subject", "L", "M?nchen" },
        { "subject", "O", "Example" }, { "subject", "OU", "Ops" }, { "subject", "UID", "dave42" },
        { "subject", "serialNumber", "EMP-*" }, { "subject", "emailAddress", "dave@example.test" },
        { "subject", "E", "dave@*" }, { "subject", "CN", "dave" }, { "san", "dns", "*.example.test" },
        { "san", "uri", "https://id.example.test/*" }, { "san", "email", "Dave@Example.Test" },
        { "san", "upn", "dave@EXAMPLE.TEST" },
    };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!rule_matches(c, yes[i][0], yes[i][1], yes[i][2], NULL))
            fail_msg("%s.%s = %s should match", yes[i][0], yes[i][1], yes[i][2]);
    free_cert(c);
}

/* RFC 4514 special characters are compared decoded (no escapes), and shown
 * escaped. */
static void test_fields_special_characters(void **state)
{
    (void)state;
    mbedtls_x509_crt *c = cert_subject(NAME(RDN(attr(OID_O, UTF8, "Example")),
                                            RDN(attr(OID_CN, UTF8, "Smith, John+Jr \"x\" <y>;z\\"))));
    assert_true(rule_matches(c, "subject", "CN", "Smith, John+Jr \\\"x\\\" <y>;z\\\\\\\\", NULL));
    assert_true(rule_matches(c, "subject", "CN", "Smith, John*", NULL));
    assert_false(rule_matches(c, "subject", "CN", "Smith\\\\\\\\, John*", NULL));
    char dn[256];
    cg_mapping_cert_dn(c, false, dn, sizeof dn);
    assert_string_equal(dn, "CN=Smith\\, John\\+Jr \\\"x\\\" \\<y\\>\\;z\\\\,O=Example");
    free_cert(c);
}

static void test_fields_string_types(void **state)
{
    (void)state;
    /* BMPString (UCS-2 BE) "Zoë", UniversalString "Zoë", T61 ASCII */
    mbedtls_x509_crt *c = cert_subject(NAME(RDN(attr_n(OID_O, BMP, "\0Z\0o\0\xEB", 6)),
                                            RDN(attr_n(OID_OU, UNIVERSAL, "\0\0\0Z\0\0\0o\0\0\0\xEB", 12)),
                                            RDN(attr(OID_CN, T61, "plain"))));
    assert_true(rule_matches(c, "subject", "O", "Zoë", NULL));
    assert_true(rule_matches(c, "subject", "O", "Zo?", NULL));
    assert_true(rule_matches(c, "subject", "OU", "Zoë", NULL));
    assert_true(rule_matches(c, "subject", "CN", "plain", NULL));
    free_cert(c);
}

/* Non-ASCII names match as the UTF-8 they decode to, whatever their string
 * type: "Jörg Müller" as UTF8String and as BMPString are the same name, for
 * rules, templates, strong keys (written as the identity header shows it,
 * with \XX escapes, or as UTF-8) and the displayed text; "Jürg Møller" is
 * another name (the old display turned both into "J?rg M?ller"). */
static void test_fields_non_ascii_names(void **state)
{
    (void)state;
    mbedtls_x509_crt *utf8 = cert_subject(NAME(RDN(attr(OID_O, UTF8, "Example")),
                                               RDN(attr(OID_CN, UTF8, "J\xC3\xB6rg M\xC3\xBCller"))));
    mbedtls_x509_crt *bmp = cert_subject(NAME(RDN(attr(OID_O, UTF8, "Example")),
                                              RDN(attr_n(OID_CN, BMP, "\0J\0\xF6\0r\0g\0 \0M\0\xFC\0l\0l\0e\0r", 22))));
    mbedtls_x509_crt *other = cert_subject(NAME(RDN(attr(OID_O, UTF8, "Example")),
                                                RDN(attr(OID_CN, UTF8, "J\xC3\xBCrg M\xC3\xB8ller"))));
    char a[128], b[128], o[128];
    cg_mapping_cert_dn(utf8, false, a, sizeof a);
    cg_mapping_cert_dn(bmp, false, b, sizeof b);
    cg_mapping_cert_dn(other, false, o, sizeof o);
    assert_string_equal(a, "CN=J\xC3\xB6rg M\xC3\xBCller,O=Example");
    assert_string_equal(b, a);
    assert_string_not_equal(o, a);
    for (int i = 0; i < 2; i++) {
        mbedtls_x509_crt *c = i ? bmp : utf8;
        assert_true(rule_matches(c, "subject", "CN", "J\xC3\xB6rg M\xC3\xBCller", NULL));
        assert_true(rule_matches(c, "subject", "CN", "J\xC3\xB6rg *", NULL));
        assert_false(rule_matches(c, "subject", "CN", "J\xC3\xBCrg M\xC3\xB8ller", NULL));
        assert_true(rule_matches(c, "subject", "CN", "J?rg M?ller", NULL)); /* '?' is one character */
    }
    assert_false(rule_matches(other, "subject", "CN", "J\xC3\xB6rg M\xC3\xBCller", NULL));
    const char *keys[] = { "CN=J\\\\C3\\\\B6rg M\\\\C3\\\\BCller,O=Example", "CN=J\xC3\xB6rg M\xC3\xBCller,O=Example" };
    for (int k = 0; k < 2; k++) {
        char y[512];
        snprintf(y, sizeof y, "one_to_one:\n  - issuer: \"CN=Example Dev Intermediate CA,O=Example,C=US\"\n"
                 "    subject: \"%s\"\n    principal: joerg@EXAMPLE.TEST\n", keys[k]);
        expect_allow(y, utf8, "joerg@EXAMPLE.TEST", NULL);
        expect_allow(y, bmp, "joerg@EXAMPLE.TEST", NULL);
        expect_none(y, other, NULL);
    }
    free_cert(utf8);
    free_cert(bmp);
    free_cert(other);
}

/* Values that do not decode never match, even "*". */
static void test_fields_undecodable(void **state)
{
    (void)state;
    static const struct { int tag; const char *v; size_t n; const char *why; } bad[] = {
        { UTF8, "bob\x1b[31m", 8, "control character U+001B" },
        { UTF8, "bob\xc2\x85", 5, "control character U+0085" },   /* C1 NEL */
        { UTF8, "b\xc3\x28", 3, "not valid UTF-8" },
        { UTF8, "b\xc0\xaf", 3, "not valid UTF-8" },              /* overlong '/' */
        { UTF8, "b\xed\xa0\x80", 4, "not valid UTF-8" },          /* surrogate */
        { PRINTABLE, "b\xe9", 2, "string type" },
        { IA5, "b\x80", 2, "string type" },
        { T61, "b\xe9", 2, "string type" },                       /* non-ASCII T.61 */
        { BMP, "\0b\0", 3, "string type" },                       /* odd length */
        { BMP, "\xd8\x00", 2, "string type" },                    /* lone surrogate */
        { 0x03, "\0bob", 4, "not a character string" },           /* BIT STRING */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mbedtls_x509_crt *c = cert_subject(NAME(RDN(attr(OID_O, UTF8, "Example")),
                                                RDN(attr_n(OID_CN, bad[i].tag, bad[i].v, bad[i].n))));
        char *y = one_rule("subject", "CN", "*", NULL);
        cg_mapping *m = load_ok(y);
        cg_map_result r = map(m, c);
        assert_int_equal(r.outcome, CG_MAP_NONE);
        if (!strstr(r.why.detail, bad[i].why))
            fail_msg("case %zu: detail lacks \"%s\": %s", i, bad[i].why, r.why.detail);
        char *text = explain(m, c);
        assert_non_null(strstr(text, "UNDECODABLE"));
        free(text);
        cg_mapping_unref(m);
        free(y);
        /* other fields of the same certificate still map */
        assert_true(rule_matches(c, "subject", "O", "Example", NULL));
        free_cert(c);
    }
}

/* The RFC 4514 text (dn.h) shows values that do not decode in "#hex"
 * form, and escapes control characters of values that do (such a value
 * still never matches: test_fields_undecodable). */
static void test_fields_display_hex(void **state)
{
    (void)state;
    mbedtls_x509_crt *c = cert_subject(NAME(RDN(attr_n(OID_CN, UTF8, "a\xFF" "b", 3))));
    char dn[128];
    cg_mapping_cert_dn(c, false, dn, sizeof dn);
    assert_string_equal(dn, "CN=#0c0361ff62");
    free_cert(c);
    c = cert_subject(NAME(RDN(attr_n(OID_CN, UTF8, "a\0b", 3))));
    cg_mapping_cert_dn(c, false, dn, sizeof dn);
    assert_string_equal(dn, "CN=a\\00b");
    free_cert(c);
}

/* ======================================================================
 * Multi-valued attributes
 * ====================================================================== */

static mbedtls_x509_crt *two_ous(const char *first, size_t n1, const char *second, size_t n2)
{
    return cert_subject(NAME(RDN(attr(OID_O, UTF8, "Example")), RDN(attr_n(OID_OU, UTF8, first, n1)),
                             RDN(attr_n(OID_OU, UTF8, second, n2)), RDN(attr(OID_CN, UTF8, "carol"))));
}

/* A rule matches when any value of the sub-field matches. */
static void test_multi_values_any(void **state)
{
    (void)state;
    mbedtls_x509_crt *c = two_ous("Sales", 5, "Engineering", 11);
    assert_true(rule_matches(c, "subject", "OU", "Sales", NULL));
    assert_true(rule_matches(c, "subject", "OU", "Engineering", NULL));
    assert_false(rule_matches(c, "subject", "OU", "Marketing", NULL));
    /* two rules on the same sub-field may match different values */
    expect_allow("many_to_one:\n  - name: both\n    principal: x@EXAMPLE.TEST\n    rules:\n"
                 "      - {field: subject, sub_field: OU, pattern: Sales}\n"
                 "      - {field: subject, sub_field: OU, pattern: Eng*}\n", c, "x@EXAMPLE.TEST", NULL);
    free_cert(c);
}

/* Multi-valued RDN (OU=Sales+CN=bob): each attribute counts as a value. */
static void test_multi_valued_rdn(void **state)
{
    (void)state;
    mbedtls_x509_crt *c = cert_subject(NAME(RDN(attr(OID_O, UTF8, "Example")),
                                            RDN(attr(OID_OU, UTF8, "Sales"), attr(OID_CN, UTF8, "bob"))));
    assert_true(rule_matches(c, "subject", "OU", "Sales", NULL));
    assert_true(rule_matches(c, "subject", "CN", "bob", NULL));
    char dn[128];
    cg_mapping_cert_dn(c, false, dn, sizeof dn);
    assert_string_equal(dn, "OU=Sales+CN=bob,O=Example");
    free_cert(c);
}

/* One undecodable value among several: a match on a good value stands; a
 * miss cannot be trusted (the bad value might have matched), so mapping
 * stops rather than fall through to a later mapping. */
static void test_multi_values_undecodable(void **state)
{
    (void)state;
    mbedtls_x509_crt *c = two_ous("Sales", 5, "Contr\0actors", 12);
    assert_true(rule_matches(c, "subject", "OU", "Sales", NULL));
    const char *y = "many_to_one:\n"
                    "  - name: contractors\n    action: deny\n"
                    "    rules: [{field: subject, sub_field: OU, pattern: Contr*}]\n"
                    "  - name: staff\n    principal: \"{subject.CN}@EXAMPLE.TEST\"\n"
                    "    rules: [{field: subject, sub_field: O, pattern: Example}]\n";
    expect_none(y, c, "cannot tell whether many-to-one \"contractors\"");
    free_cert(c);
}

/* ======================================================================
 * One-to-one and strong keys
 * ====================================================================== */

static char *alice_pem(void)
{
    char *path = fx_repo_file("certs-dev/client/alice.crt");
    char *text = slurp(path);
    free(path);
    /* the file is alice then the intermediate: keep alice's block */
    char *pem = strdup(strstr(text, "-----BEGIN"));
    strstr(pem, "-----END CERTIFICATE-----")[25] = '\0';
    free(text);
    return pem;
}

/* The base64 DER of alice on one line, as IIS stores it. */
static char *alice_b64(void)
{
    char *pem = alice_pem(), *out = malloc(strlen(pem) + 1), *o = out;
    const char *p = strstr(pem, "\n") + 1, *end = strstr(pem, "-----END");
    for (; p < end; p++)
        if (*p != '\n' && *p != '\r')
            *o++ = *p;
    *o = '\0';
    free(pem);
    return out;
}

static void test_one_to_one_forms(void **state)
{
    (void)state;
    mbedtls_x509_crt *alice = dev_cert("alice"), *bob = dev_cert("bob");
    char sha[65], y[8192];
    char *b64 = alice_b64(), *pem = alice_pem();
    cg_cert_sha256_hex(alice, sha);

    snprintf(y, sizeof y, "one_to_one:\n  - sha256: \"%s\"\n    principal: alice@EXAMPLE.TEST\n", sha);
    expect_allow(y, alice, "alice@EXAMPLE.TEST", "one-to-one #1");
    expect_none(y, bob, "One-to-one: the one entry does not name it");
    /* upper case with colons, as openssl prints it */
    char colons[100] = "";
    for (int i = 0; i < 32; i++) {
        char two[4] = { (char)(sha[2 * i] >= 'a' ? sha[2 * i] - 32 : sha[2 * i]),
                        (char)(sha[2 * i + 1] >= 'a' ? sha[2 * i + 1] - 32 : sha[2 * i + 1]),
                        i < 31 ? ':' : '\0', 0 };
        strcat(colons, two);
    }
    snprintf(y, sizeof y, "one_to_one:\n  - sha256: \"%s\"\n    principal: alice@EXAMPLE.TEST\n", colons);
    expect_allow(y, alice, "alice@EXAMPLE.TEST", NULL);
    snprintf(y, sizeof y, "one_to_one:\n  - name: alice\n    certificate: %s\n    principal: a@EXAMPLE.TEST\n", b64);
    expect_allow(y, alice, "a@EXAMPLE.TEST", "one-to-one \"alice\"");
    /* PEM as a YAML block scalar */
    char indented[4096] = "", *line = strtok(pem, "\n");
    for (; line; line = strtok(NULL, "\n")) {
        strcat(indented, "      ");
        strcat(indented, line);
        strcat(indented, "\n");
    }
    snprintf(y, sizeof y, "one_to_one:\n  - certificate: |\n%s    principal: a@EXAMPLE.TEST\n", indented);
    expect_allow(y, alice, "a@EXAMPLE.TEST", NULL);
    /* certificate_file, relative to the mapping file's directory */
    char *dir = fx_repo_file("certs-dev/client");
    cg_diag d;
    cg_diag_init(&d);
    const char *yf = "one_to_one:\n  - certificate_file: alice.crt\n    principal: a@EXAMPLE.TEST\n";
    cg_mapping *m = cg_mapping_load_string(yf, strlen(yf), "t.yaml", dir, &d);
    assert_non_null(m);
    cg_map_result r = map(m, alice);
    assert_int_equal(r.outcome, CG_MAP_ALLOW);
    cg_mapping_unref(m);
    cg_diag_free(&d);
    free(dir);
    free(b64);
    free(pem);
    free_cert(alice);
    free_cert(bob);
}

static void test_strong_keys(void **state)
{
    (void)state;
    mbedtls_x509_crt *alice = dev_cert("alice"), *bob = dev_cert("bob");
    char y[2048], serial[80];
    cg_cert_serial(alice, serial, sizeof serial);
    /* issuer + serial; the DN compared case-insensitively, spaces after ',' allowed */
    snprintf(y, sizeof y, "one_to_one:\n  - issuer: \"cn=example dev intermediate CA, O=Example, C=US\"\n"
             "    serial: \"00:%s\"\n    principal: alice@EXAMPLE.TEST\n", serial);
    expect_allow(y, alice, "alice@EXAMPLE.TEST", NULL);
    expect_none(y, bob, NULL);
    /* issuer + subject */
    snprintf(y, sizeof y, "one_to_one:\n  - issuer: \"CN=Example Dev Intermediate CA,O=Example,C=US\"\n"
             "    subject: \"CN=bob,OU=Sales,O=Example,C=US\"\n    principal: bob@EXAMPLE.TEST\n");
    expect_allow(y, bob, "bob@EXAMPLE.TEST", NULL);
    expect_none(y, alice, NULL);
    /* subject key identifier (openssl prints it upper-case with colons) */
    expect_allow("one_to_one:\n  - ski: \"80:2D:AD:F3:FE:00:A0:46:7F:9C:45:1D:8C:D2:3F:57:B0:22:B7:51\"\n"
                 "    principal: alice@EXAMPLE.TEST\n", alice, "alice@EXAMPLE.TEST", NULL);
    /* a short key identifier of a hand-made certificate; none at all */
    mbedtls_x509_crt *c = make_cert("\x21", NAME(RDN(attr(OID_CN, UTF8, "k"))), NULL,
                                    ski_ext("\x01\x02\xfe", 3), NULL);
    expect_allow("one_to_one:\n  - ski: 0102FE\n    principal: k@EXAMPLE.TEST\n", c, "k@EXAMPLE.TEST", NULL);
    free_cert(c);
    c = cert_subject(NAME(RDN(attr(OID_CN, UTF8, "k"))));
    expect_none("one_to_one:\n  - ski: 0102FE\n    principal: k@EXAMPLE.TEST\n", c, NULL);
    free_cert(c);
    /* SHA-1 of the public key */
    expect_allow("one_to_one:\n  - sha1_public_key: 8fabe1db0010c1189c62351051c45fa618f4f9f6\n"
                 "    principal: alice@EXAMPLE.TEST\n", alice, "alice@EXAMPLE.TEST", NULL);
    /* RFC 822 name from the SAN, case-insensitively */
    expect_allow("one_to_one:\n  - rfc822: Bob@EXAMPLE.test\n    principal: bob@EXAMPLE.TEST\n", bob,
                 "bob@EXAMPLE.TEST", NULL);
    free_cert(alice);
    free_cert(bob);
}

/* A multi-valued RDN matches whatever order the attributes are written in. */
static void test_strong_multi_valued_rdn(void **state)
{
    (void)state;
    mbedtls_x509_crt *c = cert_subject(NAME(RDN(attr(OID_O, UTF8, "Example")),
                                            RDN(attr(OID_OU, UTF8, "Sales"), attr(OID_CN, UTF8, "bob"))));
    const char *tail = "    principal: bob@EXAMPLE.TEST\n";
    char y[512];
    snprintf(y, sizeof y, "one_to_one:\n  - issuer: \"CN=Example Dev Intermediate CA,O=Example,C=US\"\n"
             "    subject: \"CN=bob+OU=Sales,O=Example\"\n%s", tail);
    expect_allow(y, c, "bob@EXAMPLE.TEST", NULL);
    snprintf(y, sizeof y, "one_to_one:\n  - issuer: \"CN=Example Dev Intermediate CA,O=Example,C=US\"\n"
             "    subject: \"OU=Sales+CN=bob,O=Example\"\n%s", tail);
    expect_allow(y, c, "bob@EXAMPLE.TEST", NULL);
    /* but not as two RDNs */
    snprintf(y, sizeof y, "one_to_one:\n  - issuer: \"CN=Example Dev Intermediate CA,O=Example,C=US\"\n"
             "    subject: \"OU=Sales,CN=bob,O=Example\"\n%s", tail);
    expect_none(y, c, NULL);
    char canon[256], why[128];
    assert_true(cg_dn_canonical("CN=a\\,b + OU=x,O=Ex\\41mple", canon, sizeof canon, why, sizeof why));
    assert_string_equal(canon, "CN=a\\,b+OU=x,O=example");
    free_cert(c);
}

/* A subject whose values do not decode has no issuer+subject key; an
 * entry of that kind ahead of the one that matched makes it unknown. */
static void test_strong_undecodable(void **state)
{
    (void)state;
    mbedtls_x509_crt *c = cert_subject(NAME(RDN(attr(OID_O, UTF8, "Example")),
                                            RDN(attr_n(OID_CN, UTF8, "bob\0", 4))));
    char sha[65], y[1024];
    cg_cert_sha256_hex(c, sha);
    snprintf(y, sizeof y, "one_to_one:\n  - sha256: %s\n    principal: bob@EXAMPLE.TEST\n"
             "  - issuer: \"CN=Example Dev Intermediate CA,O=Example,C=US\"\n"
             "    subject: \"CN=bob,O=Example\"\n    principal: other@EXAMPLE.TEST\n", sha);
    expect_allow(y, c, "bob@EXAMPLE.TEST", "one-to-one #1"); /* the sha256 entry comes first */
    snprintf(y, sizeof y, "one_to_one:\n  - issuer: \"CN=Example Dev Intermediate CA,O=Example,C=US\"\n"
             "    subject: \"CN=bob,O=Example\"\n    principal: other@EXAMPLE.TEST\n"
             "  - sha256: %s\n    principal: bob@EXAMPLE.TEST\n", sha);
    expect_none(y, c, "issuer+subject key cannot be computed");
    free_cert(c);
}

static void test_strong_key_errors(void **state)
{
    (void)state;
    load_err("one_to_one:\n  - issuer: \"C=US,O=Example,CN=Example CA\"\n    serial: 01\n"
             "    principal: a@EXAMPLE.TEST\n", 2, 13, "write \"CN=Example CA,O=Example,C=US\"");
    load_err("one_to_one:\n  - issuer: \"CN=x,FOO=y\"\n    serial: 01\n    principal: a@EXAMPLE.TEST\n",
             2, 13, "unknown attribute type \"FOO\"");
    load_err("one_to_one:\n  - issuer: \"CN=x;y\"\n    serial: 01\n    principal: a@EXAMPLE.TEST\n",
             2, 13, "must be escaped");
    load_err("one_to_one:\n  - issuer: \"CN=#0c0161\"\n    serial: 01\n    principal: a@EXAMPLE.TEST\n",
             2, 13, "hex-encoded");
    load_err("one_to_one:\n  - issuer: \"CN=a\\\\00b\"\n    serial: 01\n    principal: a@EXAMPLE.TEST\n",
             2, 13, "NUL");
    load_err("one_to_one:\n  - issuer: \"CN=x\"\n    serial: 12345G\n    principal: a@EXAMPLE.TEST\n",
             3, 13, "not a hexadecimal serial");
    load_err("one_to_one:\n  - issuer: \"CN=x\"\n    principal: a@EXAMPLE.TEST\n", 2, 13,
             "exactly one of serial");
    load_err("one_to_one:\n  - serial: 01\n    principal: a@EXAMPLE.TEST\n", 2, 5, "but no issuer");
    load_err("one_to_one:\n  - ski: xyz\n    principal: a@EXAMPLE.TEST\n", 2, 10, "not hexadecimal");
    load_err("one_to_one:\n  - sha1_public_key: abcd\n    principal: a@EXAMPLE.TEST\n", 2, 22,
             "has 4 hex digits");
    load_err("one_to_one:\n  - rfc822: not-an-address\n    principal: a@EXAMPLE.TEST\n", 2, 13,
             "not an e-mail address");
    load_err("one_to_one:\n  - sha256: 8fabe1db0010c1189c62351051c45fa618f4f9f6\n"
             "    principal: a@EXAMPLE.TEST\n", 2, 13, "SHA-1 thumbprint");
}

/* ======================================================================
 * Precedence
 * ====================================================================== */

static void test_precedence_one_to_one_first(void **state)
{
    (void)state;
    mbedtls_x509_crt *alice = dev_cert("alice");
    char sha[65], y[1024];
    cg_cert_sha256_hex(alice, sha);
    /* many-to-one written first in the file: one-to-one still wins */
    snprintf(y, sizeof y, "many_to_one:\n  - name: everyone\n    principal: guest@EXAMPLE.TEST\n"
             "    rules: [{field: subject, sub_field: O, pattern: Example}]\n"
             "  - name: deny-all\n    action: deny\n"
             "    rules: [{field: subject, sub_field: CN, pattern: \"*\"}]\n"
             "one_to_one:\n  - sha256: %s\n    principal: alice@EXAMPLE.TEST\n", sha);
    expect_allow(y, alice, "alice@EXAMPLE.TEST", "one-to-one #1");
    /* a disabled one-to-one entry is skipped */
    snprintf(y, sizeof y, "one_to_one:\n  - sha256: %s\n    principal: alice@EXAMPLE.TEST\n"
             "    enabled: false\n"
             "many_to_one:\n  - name: everyone\n    principal: guest@EXAMPLE.TEST\n"
             "    rules: [{field: subject, sub_field: O, pattern: Example}]\n", sha);
    expect_allow(y, alice, "guest@EXAMPLE.TEST", "many-to-one \"everyone\"");
    free_cert(alice);
}

/* Within one-to-one, the earliest entry naming the certificate wins,
 * whatever kinds of keys they use. */
static void test_precedence_within_one_to_one(void **state)
{
    (void)state;
    mbedtls_x509_crt *alice = dev_cert("alice");
    char sha[65], y[1024];
    cg_cert_sha256_hex(alice, sha);
    const char *by_email = "  - rfc822: alice@example.test\n    principal: by-email@EXAMPLE.TEST\n";
    snprintf(y, sizeof y, "one_to_one:\n%s  - sha256: %s\n    principal: by-sha@EXAMPLE.TEST\n", by_email, sha);
    expect_allow(y, alice, "by-email@EXAMPLE.TEST", "one-to-one #1");
    snprintf(y, sizeof y, "one_to_one:\n  - sha256: %s\n    principal: by-sha@EXAMPLE.TEST\n%s", sha, by_email);
    expect_allow(y, alice, "by-sha@EXAMPLE.TEST", "one-to-one #1");
    snprintf(y, sizeof y, "one_to_one:\n  - sha256: %s\n    principal: by-sha@EXAMPLE.TEST\n    enabled: false\n%s",
             sha, by_email);
    expect_allow(y, alice, "by-email@EXAMPLE.TEST", "one-to-one #2");
    free_cert(alice);
}

static void test_precedence_many_to_one_order(void **state)
{
    (void)state;
    mbedtls_x509_crt *bob = dev_cert("bob");
    const char *allow = "  - name: sales\n    principal: \"{subject.CN}@EXAMPLE.TEST\"\n"
                        "    rules: [{field: subject, sub_field: OU, pattern: Sales}]\n";
    const char *deny = "  - name: no-bob\n    action: deny\n"
                       "    rules: [{field: subject, sub_field: CN, pattern: bob}]\n";
    char y[1024];
    snprintf(y, sizeof y, "many_to_one:\n%s%s", allow, deny);
    expect_allow(y, bob, "bob@EXAMPLE.TEST", "many-to-one \"sales\"");
    snprintf(y, sizeof y, "many_to_one:\n%s%s", deny, allow);
    expect_deny(y, bob, "many-to-one \"no-bob\"");
    /* a disabled deny mapping is skipped */
    snprintf(y, sizeof y, "many_to_one:\n%s    enabled: false\n%s", deny, allow);
    expect_allow(y, bob, "bob@EXAMPLE.TEST", NULL);
    /* all rules must match */
    expect_none("many_to_one:\n  - name: both\n    principal: x@EXAMPLE.TEST\n    rules:\n"
                "      - {field: subject, sub_field: OU, pattern: Sales}\n"
                "      - {field: subject, sub_field: CN, pattern: alice}\n", bob,
                "\"both\": subject.CN \"bob\" does not match \"alice\"");
    free_cert(bob);
}

static void test_deny_detail(void **state)
{
    (void)state;
    mbedtls_x509_crt *bob = dev_cert("bob");
    cg_mapping *m = load_ok("many_to_one:\n  - name: no-sales\n    action: deny\n"
                            "    rules: [{field: subject, sub_field: OU, pattern: Sales}]\n");
    cg_map_result r = map(m, bob);
    assert_int_equal(r.outcome, CG_MAP_DENY);
    assert_non_null(strstr(r.why.detail, "deny mapping \"no-sales\""));
    assert_non_null(strstr(r.why.detail, "CN=bob,OU=Sales,O=Example,C=US"));
    assert_string_equal(cg_refusal_code(r.why.kind), "mapper_denied");
    cg_mapping_unref(m);
    free_cert(bob);
}

static void test_no_match_detail(void **state)
{
    (void)state;
    mbedtls_x509_crt *bob = dev_cert("bob");
    cg_mapping *m = load_ok("many_to_one:\n"
                            "  - name: m1\n    principal: x@EXAMPLE.TEST\n"
                            "    rules: [{field: subject, sub_field: OU, pattern: Engineering}]\n"
                            "  - name: off\n    enabled: false\n    principal: x@EXAMPLE.TEST\n"
                            "    rules: [{field: subject, sub_field: OU, pattern: Sales}]\n"
                            "  - name: m2\n    principal: x@EXAMPLE.TEST\n"
                            "    rules: [{field: subject, sub_field: UID, pattern: \"*\"}]\n"
                            "  - name: m3\n    principal: x@EXAMPLE.TEST\n"
                            "    rules: [{field: subject, sub_field: CN, pattern: BOB, case_sensitive: false},\n"
                            "            {field: issuer, sub_field: O, pattern: Other}]\n"
                            "  - name: m4\n    principal: x@EXAMPLE.TEST\n"
                            "    rules: [{field: san, sub_field: dns, pattern: \"*\"}]\n"
                            "  - name: m5\n    principal: x@EXAMPLE.TEST\n"
                            "    rules: [{field: san, sub_field: dns, pattern: \"*\"}]\n");
    cg_map_result r = map(m, bob);
    assert_int_equal(r.outcome, CG_MAP_NONE);
    assert_int_equal(r.why.kind, CG_REFUSE_MAP_NONE);
    assert_int_equal(cg_refusal_status(r.why.kind), 401);
    assert_int_equal(cg_refusal_substatus(r.why.kind), 2);
    const char *want[] = { "certificate \"CN=bob,OU=Sales,O=Example,C=US\"", "serial 2BD2F8902BFD90D0F1",
                           "\"m1\": subject.OU \"Sales\" does not match \"Engineering\"",
                           "\"m2\": the certificate has no subject.UID",
                           "\"m3\": issuer.O \"Example\" does not match \"Other\"", "and 2 more",
                           "certgate explain", NULL };
    for (int i = 0; want[i]; i++)
        if (!strstr(r.why.detail, want[i]))
            fail_msg("detail lacks \"%s\": %s", want[i], r.why.detail);
    assert_null(strstr(r.why.detail, "\"off\""));
    assert_true(strlen(r.why.detail) < sizeof r.why.detail);
    cg_mapping_unref(m);
    /* no_match: 403 */
    m = load_ok("no_match: 403\nmany_to_one:\n  - name: m1\n    principal: x@EXAMPLE.TEST\n"
                "    rules: [{field: subject, sub_field: OU, pattern: Engineering}]\n");
    r = map(m, bob);
    assert_int_equal(r.outcome, CG_MAP_NONE);
    assert_int_equal(r.why.kind, CG_REFUSE_MAP_NONE_403);
    assert_string_equal(cg_refusal_code(r.why.kind), "no_mapping");
    cg_mapping_unref(m);
    free_cert(bob);
}

/* A long subject must not push the advice out of the detail. */
static void test_no_match_detail_bounded(void **state)
{
    (void)state;
    char cn[600];
    memset(cn, 'x', sizeof cn - 1);
    cn[sizeof cn - 1] = '\0';
    mbedtls_x509_crt *c = cert_subject(NAME(RDN(attr(OID_CN, UTF8, cn))));
    char y[4096] = "many_to_one:\n";
    for (int i = 0; i < 5; i++) {
        char one[512];
        snprintf(one, sizeof one, "  - name: m%d-%.80s\n    principal: x@EXAMPLE.TEST\n"
                 "    rules: [{field: subject, sub_field: CN, pattern: \"%.200s\"}]\n", i, cn, cn);
        strcat(y, one);
    }
    cg_mapping *m = load_ok(y);
    cg_map_result r = map(m, c);
    assert_int_equal(r.outcome, CG_MAP_NONE);
    assert_non_null(strstr(r.why.detail, "certgate explain"));
    cg_mapping_unref(m);
    free_cert(c);
}

static void test_explain(void **state)
{
    (void)state;
    mbedtls_x509_crt *alice = dev_cert("alice");
    char sha[65], y[1024];
    cg_cert_sha256_hex(alice, sha);
    snprintf(y, sizeof y, "default_realm: EXAMPLE.TEST\none_to_one:\n  - name: alice\n    sha256: %s\n"
             "    principal: alice\n  - rfc822: alice@example.test\n    principal: x\n    enabled: false\n"
             "many_to_one:\n  - name: eng\n    principal: \"{subject.CN}\"\n"
             "    rules: [{field: subject, sub_field: OU, pattern: Engineering}]\n", sha);
    cg_mapping *m = load_ok(y);
    char *text = explain(m, alice);
    const char *want[] = { "subject.CN             \"alice\"", "issuer.CN              \"Example Dev Intermediate CA\"",
                           "san.upn                \"alice@EXAMPLE.TEST\"", "subject key identifier   802dadf3",
                           "SHA-1 of public key      8fabe1db", sha,
                           "by sha256: one-to-one \"alice\" (line 3) names it -> alice@EXAMPLE.TEST",
                           "by rfc822: one-to-one #2 (line 6) names it, but is disabled",
                           "\"eng\" (line 10, allow -> {subject.CN}): MATCHES (not reached)",
                           "Result: ALLOW as alice@EXAMPLE.TEST (one-to-one \"alice\")", NULL };
    for (int i = 0; want[i]; i++)
        if (!strstr(text, want[i]))
            fail_msg("explain lacks \"%s\":\n%s", want[i], text);
    free(text);
    cg_mapping_unref(m);
    text = explain(NULL, alice);
    assert_non_null(strstr(text, "No mapping file"));
    free(text);
    free_cert(alice);
}

/* ======================================================================
 * Validation
 * ====================================================================== */

static void test_errors_keys_and_types(void **state)
{
    (void)state;
    load_err("one_to_one: []\nmany_to_one: []\nbogus: 1\n", 3, 1, "unknown key \"bogus\" at the top level");
    load_err("one_to_one:\n  - sha256: 00\n    principle: a@EXAMPLE.TEST\n", 3, 5,
             "unknown key \"principle\" in one_to_one[#1]");
    load_err("many_to_one:\n  - name: m\n    principal: a@EXAMPLE.TEST\n    rules:\n"
             "      - {field: subject, sub_field: CN, patern: x}\n", 5, 41,
             "unknown key \"patern\" in many_to_one[m].rules[#1]");
    load_err("one_to_one: {}\n", 1, 13, "one_to_one: expected a list of one-to-one entries, got a mapping");
    load_err("many_to_one:\n  - name: m\n    enabled: yes\n    principal: a@EXAMPLE.TEST\n"
             "    rules: [{field: subject, sub_field: CN, pattern: x}]\n", 3, 14,
             "many_to_one[m].enabled: expected true or false, got \"yes\"");
    load_err("no_match: 402\n", 1, 11, "no_match: expected 401");
    load_err("many_to_one:\n  - name: m\n    principal: a@EXAMPLE.TEST\n    rules: []\n", 4, 12,
             "the list is empty");
    load_err("many_to_one:\n  - name: m\n    principal: a@EXAMPLE.TEST\n", 2, 5,
             "missing required key \"rules\" in many_to_one[m]");
    load_err("many_to_one:\n  - principal: a@EXAMPLE.TEST\n    rules: [{field: subject, sub_field: CN, pattern: x}]\n",
             2, 5, "missing required key \"name\"");
    load_err("many_to_one:\n  - name: m\n    action: permit\n    principal: a@EXAMPLE.TEST\n"
             "    rules: [{field: subject, sub_field: CN, pattern: x}]\n", 3, 13, "expected allow or deny");
    load_err("many_to_one:\n  - name: m\n    principal: a@EXAMPLE.TEST\n"
             "    rules: [{field: subjet, sub_field: CN, pattern: x}]\n", 4, 21, "not a certificate field");
    load_err("many_to_one:\n  - name: m\n    principal: a@EXAMPLE.TEST\n"
             "    rules: [{field: subject, sub_field: upn, pattern: x}]\n", 4, 41, "it is a san sub-field");
    load_err("many_to_one:\n  - name: m\n    principal: a@EXAMPLE.TEST\n"
             "    rules: [{field: san, sub_field: CN, pattern: x}]\n", 4, 37, "not a sub-field of san");
    load_err("many_to_one:\n  - name: m\n    principal: a@EXAMPLE.TEST\n"
             "    rules: [{field: subject, sub_field: CN}]\n", 4, 13, "missing required key \"pattern\"");
    load_err("many_to_one:\n  - name: m\n    action: deny\n    principal: a@EXAMPLE.TEST\n"
             "    rules: [{field: subject, sub_field: CN, pattern: x}]\n", 4, 16, "a deny mapping");
    load_err("many_to_one:\n  - name: m\n    rules: [{field: subject, sub_field: CN, pattern: x}]\n", 2, 5,
             "missing required key \"principal\"");
    load_err("many_to_one:\n  - name: m\n    principal: a@EXAMPLE.TEST\n    rules: [{field: subject, "
             "sub_field: CN, pattern: x}]\n  - name: m\n    principal: a@EXAMPLE.TEST\n    rules: "
             "[{field: subject, sub_field: CN, pattern: y}]\n", 5, 11, "duplicate many-to-one name \"m\"");
    load_err("one_to_one:\n  - sha256: 00\n    sha256: 01\n    principal: a@EXAMPLE.TEST\n", 3, 5,
             "duplicate key \"sha256\"");
    load_err("one_to_one:\n  - principal: a@EXAMPLE.TEST\n", 2, 5, "does not say which certificate");
    load_err("one_to_one:\n  - sha256: 00\n    rfc822: a@b\n    principal: a@EXAMPLE.TEST\n", 3, 5,
             "names the certificate twice, by sha256 and by rfc822");
    load_err("one_to_one:\n  - rfc822: a@b\n", 2, 5, "missing required key \"principal\"");
    load_err("one_to_one:\n  - just a string\n", 2, 5, "expected a mapping with principal");
    load_err("one_to_one:\n  - certificate_file: /nonexistent/x.crt\n    principal: a@EXAMPLE.TEST\n",
             2, 23, "cannot read /nonexistent/x.crt: No such file");
    load_err("one_to_one:\n  - certificate_file: /dev/null\n    principal: a@EXAMPLE.TEST\n",
             2, 23, "/dev/null is not a regular file");
}

/* The IIS case: a base64 certificate that is not one (0x80093102). */
static void test_errors_bad_certificates(void **state)
{
    (void)state;
    load_err("one_to_one:\n  - certificate: \"MIIFwjDwAwggEKAo...O5U=\"\n    principal: a@EXAMPLE.TEST\n",
             2, 18, "'.' at position 17 is not a base64 character (IIS reports a certificate pasted "
             "like this as 0x80093102");
    load_err("one_to_one:\n  - certificate: BASE-64-Cert\n    principal: a@EXAMPLE.TEST\n", 2, 18,
             "'-' at position 5");
    load_err("one_to_one:\n  - certificate: MIIBCgKC\n    principal: a@EXAMPLE.TEST\n", 2, 18,
             "not a DER certificate");
    load_err("one_to_one:\n  - certificate: MIIBCgK\n    principal: a@EXAMPLE.TEST\n", 2, 18,
             "not a multiple of 4");
    load_err("one_to_one:\n  - certificate: |\n      -----BEGIN PRIVATE KEY-----\n      MIIB\n"
             "      -----END PRIVATE KEY-----\n    principal: a@EXAMPLE.TEST\n", 2, 18,
             "labelled \"PRIVATE KEY\", not CERTIFICATE");
    /* the private key text is never echoed */
    cg_diag d;
    cg_diag_init(&d);
    const char *y = "one_to_one:\n  - certificate: \"-----BEGIN PRIVATE KEY----- SECRETSECRET "
                    "-----END PRIVATE KEY-----\"\n    principal: a@EXAMPLE.TEST\n";
    assert_null(cg_mapping_load_string(y, strlen(y), "t.yaml", NULL, &d));
    for (size_t i = 0; i < d.count; i++)
        assert_null(strstr(d.items[i].message, "SECRET"));
    cg_diag_free(&d);
}

static void test_errors_duplicates(void **state)
{
    (void)state;
    mbedtls_x509_crt *alice = dev_cert("alice");
    char sha[65], y[4096];
    char *b64 = alice_b64();
    cg_cert_sha256_hex(alice, sha);
    snprintf(y, sizeof y, "one_to_one:\n  - sha256: %s\n    principal: a@EXAMPLE.TEST\n"
             "  - sha256: %s\n    principal: b@EXAMPLE.TEST\n", sha, sha);
    load_err(y, 4, 5, "one_to_one[#2] maps the same certificate as one_to_one[#1] (line 2)");
    /* the same certificate given two ways */
    snprintf(y, sizeof y, "one_to_one:\n  - certificate: %s\n    principal: a@EXAMPLE.TEST\n"
             "  - sha256: %s\n    principal: b@EXAMPLE.TEST\n    enabled: false\n", b64, sha);
    load_err(y, 4, 5, "both by sha256");
    load_err("one_to_one:\n  - rfc822: a@b.test\n    principal: a@EXAMPLE.TEST\n"
             "  - rfc822: A@B.TEST\n    principal: b@EXAMPLE.TEST\n", 4, 5, "both by rfc822");
    free(b64);
    free_cert(alice);
}

static void test_errors_wildcards(void **state)
{
    (void)state;
    const char *head = "many_to_one:\n  - name: m\n    principal: a@EXAMPLE.TEST\n    rules:\n"
                       "      - field: subject\n        sub_field: CN\n";
    char y[512];
    snprintf(y, sizeof y, "%s        pattern: \"a\\\\b\"\n", head);
    load_err(y, 7, 18, "'\\' before a character other than");
    snprintf(y, sizeof y, "%s        pattern: \"ab\\\\\"\n", head);
    load_err(y, 7, 18, "lone '\\'");
    snprintf(y, sizeof y, "%s        pattern: \"\"\n", head);
    load_err(y, 7, 18, "must not be empty");
    snprintf(y, sizeof y, "%s        pattern: \"a\\tb\"\n", head);
    load_err(y, 7, 18, "control character");
    /* an unquoted leading '*' is a YAML alias: say how to fix it */
    snprintf(y, sizeof y, "%s        pattern: *Sales\n", head);
    load_err(y, 7, 18, "quote it");
}

static void test_errors_yaml(void **state)
{
    (void)state;
    load_err("", 1, 1, "the mapping file is empty");
    load_err("- a\n- b\n", 1, 1, "expected a mapping at the top level");
    load_err("one_to_one: [\n", 2, 1, "YAML syntax error");
    load_err("default_realm: &r EXAMPLE.TEST\n", 1, 16, "anchor \"&r\" is not supported");
    load_err("one_to_one: []\n---\nmany_to_one: []\n", 2, 1, "a second YAML document");
    load_err("default_realm: \"A\\0B\"\n", 1, 16, "NUL");
}

/* Every error of a file is reported, in file order. */
static void test_errors_all_reported(void **state)
{
    (void)state;
    const char *y = "many_to_one:\n  - name: m\n    bad1: x\n    principal: a@EXAMPLE.TEST\n"
                    "    rules: [{field: subject, sub_field: XX, pattern: x}]\n"
                    "one_to_one:\n  - sha256: zz\n    principal: a@EXAMPLE.TEST\n";
    cg_diag d;
    cg_diag_init(&d);
    assert_null(cg_mapping_load_string(y, strlen(y), "t.yaml", NULL, &d));
    assert_int_equal(d.errors, 3);
    assert_int_equal(d.items[0].line, 3);
    assert_int_equal(d.items[1].line, 5);
    assert_int_equal(d.items[2].line, 7);
    cg_diag_free(&d);
}

static void test_shadow_warnings(void **state)
{
    (void)state;
    const char *a = "many_to_one:\n  - name: a\n    principal: a@EXAMPLE.TEST\n    rules:\n";
    char y[1024];
    /* identical rule sets */
    snprintf(y, sizeof y, "%s      - {field: subject, sub_field: OU, pattern: Sales}\n"
             "  - name: b\n    action: deny\n    rules:\n      - {field: subject, sub_field: OU, pattern: Sales}\n", a);
    load_warn(y, 6, 5, "many_to_one[b] can never match: many_to_one[a] (line 2) comes first");
    /* a subset of the rules, with a covering wildcard */
    snprintf(y, sizeof y, "%s      - {field: subject, sub_field: OU, pattern: \"Sa*\"}\n"
             "  - name: b\n    principal: b@EXAMPLE.TEST\n    rules:\n"
             "      - {field: subject, sub_field: CN, pattern: bob}\n"
             "      - {field: subject, sub_field: OU, pattern: Sales}\n", a);
    load_warn(y, 6, 5, "can never match");
    /* case: insensitive covers sensitive */
    snprintf(y, sizeof y, "%s      - {field: subject, sub_field: OU, pattern: sales, case_sensitive: false}\n"
             "  - name: b\n    principal: b@EXAMPLE.TEST\n    rules:\n"
             "      - {field: subject, sub_field: OU, pattern: SALES}\n", a);
    load_warn(y, 6, 5, "can never match");
    /* not covered: more rules in a, another sub-field, a narrower pattern, sensitivity */
    static const char *const fine[] = {
        "      - {field: subject, sub_field: OU, pattern: Sales}\n      - {field: subject, sub_field: CN, pattern: x}\n"
        "  - name: b\n    principal: b@EXAMPLE.TEST\n    rules:\n      - {field: subject, sub_field: OU, pattern: Sales}\n",
        "      - {field: issuer, sub_field: OU, pattern: Sales}\n"
        "  - name: b\n    principal: b@EXAMPLE.TEST\n    rules:\n      - {field: subject, sub_field: OU, pattern: Sales}\n",
        "      - {field: subject, sub_field: OU, pattern: Sales}\n"
        "  - name: b\n    principal: b@EXAMPLE.TEST\n    rules:\n      - {field: subject, sub_field: OU, pattern: \"Sa*\"}\n",
        "      - {field: subject, sub_field: OU, pattern: sales}\n"
        "  - name: b\n    principal: b@EXAMPLE.TEST\n    rules:\n      - {field: subject, sub_field: OU, pattern: sales, case_sensitive: false}\n",
        "      - {field: subject, sub_field: OU, pattern: Sales}\n    enabled: false\n"
        "  - name: b\n    principal: b@EXAMPLE.TEST\n    rules:\n      - {field: subject, sub_field: OU, pattern: Sales}\n",
    };
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        snprintf(y, sizeof y, "%s%s", a, fine[i]);
        load_warn(y, 0, 0, NULL);
    }
    load_warn("one_to_one: []\n", 1, 1, "no enabled mapping");
}

/* ======================================================================
 * Scale, lifetime, odd inputs
 * ====================================================================== */

/* 10,000 one-to-one entries and 1,000 many-to-one mappings: the loader
 * stays linear-ish and lookups are hashed. (bench/mapping_bench.c has
 * the figures; this guards against accidental quadratic behaviour.) */
static void test_scale(void **state)
{
    (void)state;
    size_t cap = 4u << 20, n = 0;
    char *y = malloc(cap);
    n += (size_t)snprintf(y + n, cap - n, "default_realm: EXAMPLE.TEST\none_to_one:\n");
    for (int i = 0; i < 10000; i++)
        n += (size_t)snprintf(y + n, cap - n, "  - sha256: %064x\n    principal: u%d\n", i + 1, i);
    n += (size_t)snprintf(y + n, cap - n, "many_to_one:\n");
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(y + n, cap - n, "  - name: m%d\n    principal: \"{subject.CN}\"\n"
                              "    rules: [{field: subject, sub_field: OU, pattern: \"team-%d-*\"}]\n", i, i);
    clock_t t0 = clock();
    cg_mapping *m = load_ok(y);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    assert_true(secs < 5.0); /* generous: sanitizer builds are slow */
    size_t ones, m2o;
    cg_mapping_counts(m, &ones, &m2o);
    assert_int_equal(ones, 10000);
    assert_int_equal(m2o, 1000);
    mbedtls_x509_crt *c = cert_subject(NAME(RDN(attr(OID_OU, UTF8, "team-999-x")), RDN(attr(OID_CN, UTF8, "zed"))));
    cg_map_result r = map(m, c);
    assert_int_equal(r.outcome, CG_MAP_ALLOW);
    assert_string_equal(r.principal, "zed@EXAMPLE.TEST");
    assert_string_equal(r.rule, "many-to-one \"m999\"");
    free_cert(c);
    cg_mapping_unref(m);
    free(y);
}

static void test_refcount_and_file(void **state)
{
    (void)state;
    char path[] = "/tmp/cg-mapping-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *y = "default_realm: EXAMPLE.TEST\nmany_to_one:\n  - name: all\n    principal: \"{subject.CN}\"\n"
                    "    rules: [{field: subject, sub_field: O, pattern: Example}]\n";
    assert_int_equal(write(fd, y, strlen(y)), (ssize_t)strlen(y));
    close(fd);
    cg_diag d;
    cg_diag_init(&d);
    cg_mapping *m = cg_mapping_load(path, &d);
    assert_non_null(m);
    assert_ptr_equal(cg_mapping_ref(m), m);
    cg_mapping_unref(m);
    mbedtls_x509_crt *bob = dev_cert("bob");
    cg_map_result r = map(m, bob);
    assert_string_equal(r.principal, "bob@EXAMPLE.TEST");
    cg_mapping_unref(m);
    unlink(path);
    assert_null(cg_mapping_load(path, &d));
    assert_non_null(strstr(d.items[d.count - 1].message, "cannot read the mapping file"));
    cg_diag_free(&d);
    /* a NULL mapping or certificate never allows */
    r = map(NULL, bob);
    assert_int_equal(r.outcome, CG_MAP_NONE);
    free_cert(bob);
}

/* The shipped examples load without a warning. */
static void test_shipped_files(void **state)
{
    (void)state;
    static const char *const files[] = { "conf/mapping.example.yaml", "conf/demo-mapping.yaml", NULL };
    for (int i = 0; files[i]; i++) {
        char *path = fx_repo_file(files[i]);
        cg_diag d;
        cg_diag_init(&d);
        cg_mapping *m = cg_mapping_load(path, &d);
        if (!m || d.count)
            cg_diag_print(&d, stderr);
        assert_non_null(m);
        assert_int_equal(d.count, 0);
        cg_mapping_unref(m);
        cg_diag_free(&d);
        free(path);
    }
}

/* certificate_file: a leaf and its CA chain is fine, two client certificates are not. */
static void test_certificate_file_bundle(void **state)
{
    (void)state;
    char *alice = fx_repo_file("certs-dev/client/alice.crt"), *bob = fx_repo_file("certs-dev/client/bob.crt");
    char *a = slurp(alice), *b = slurp(bob);
    char path[] = "/tmp/cg-mapping-bundle-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_true(write(fd, a, strlen(a)) > 0 && write(fd, b, strlen(b)) > 0);
    close(fd);
    char y[512];
    snprintf(y, sizeof y, "one_to_one:\n  - certificate_file: %s\n    principal: a@EXAMPLE.TEST\n", path);
    load_err(y, 2, 23, "more than one end-entity certificate (also \"CN=bob,OU=Sales,O=Example,C=US\")");
    snprintf(y, sizeof y, "one_to_one:\n  - certificate_file: %s\n    principal: a@EXAMPLE.TEST\n", alice);
    mbedtls_x509_crt *c = dev_cert("alice");
    expect_allow(y, c, "a@EXAMPLE.TEST", NULL);
    free_cert(c);
    unlink(path);
    free(a);
    free(b);
    free(alice);
    free(bob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_glob_basics),
        cmocka_unit_test(test_glob_code_points),
        cmocka_unit_test(test_glob_escapes),
        cmocka_unit_test(test_glob_case),
        cmocka_unit_test(test_glob_bad_patterns),
        cmocka_unit_test(test_glob_no_blowup),
        cmocka_unit_test(test_glob_covers),
        cmocka_unit_test(test_principal_validity),
        cmocka_unit_test(test_template_fields),
        cmocka_unit_test(test_template_nul_in_cn),
        cmocka_unit_test(test_template_invalid_results),
        cmocka_unit_test(test_template_multi_valued),
        cmocka_unit_test(test_template_load_errors),
        cmocka_unit_test(test_fields_dev_certs),
        cmocka_unit_test(test_fields_all_sub_fields),
        cmocka_unit_test(test_fields_special_characters),
        cmocka_unit_test(test_fields_string_types),
        cmocka_unit_test(test_fields_undecodable),
        cmocka_unit_test(test_fields_display_hex),
        cmocka_unit_test(test_fields_non_ascii_names),
        cmocka_unit_test(test_multi_values_any),
        cmocka_unit_test(test_multi_valued_rdn),
        cmocka_unit_test(test_multi_values_undecodable),
        cmocka_unit_test(test_one_to_one_forms),
        cmocka_unit_test(test_strong_keys),
        cmocka_unit_test(test_strong_multi_valued_rdn),
        cmocka_unit_test(test_strong_undecodable),
        cmocka_unit_test(test_strong_key_errors),
        cmocka_unit_test(test_precedence_one_to_one_first),
        cmocka_unit_test(test_precedence_within_one_to_one),
        cmocka_unit_test(test_precedence_many_to_one_order),
        cmocka_unit_test(test_deny_detail),
        cmocka_unit_test(test_no_match_detail),
        cmocka_unit_test(test_no_match_detail_bounded),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_errors_keys_and_types),
        cmocka_unit_test(test_errors_bad_certificates),
        cmocka_unit_test(test_errors_duplicates),
        cmocka_unit_test(test_errors_wildcards),
        cmocka_unit_test(test_errors_yaml),
        cmocka_unit_test(test_errors_all_reported),
        cmocka_unit_test(test_shadow_warnings),
        cmocka_unit_test(test_scale),
        cmocka_unit_test(test_refcount_and_file),
        cmocka_unit_test(test_shipped_files),
        cmocka_unit_test(test_certificate_file_bundle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
