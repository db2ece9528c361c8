/* CRL parsing (crl_parse.h): DER, PEM and LDAP renderings of a CRL, the
 * sorted serial table and its lookups. Pure: no I/O, no lock, no global
 * state. Its DER readers and distribution points are crl_asn1.c's.
 *
 * Why not mbedtls_x509_crl_parse(): mbedTLS 2.28 refuses every critical CRL
 * extension, and both the delta CRL indicator and the issuing distribution
 * point are critical (RFC 5280 5.2.4, 5.2.5); it also allocates one list node
 * per entry and looks serials up linearly. This parser keeps the DER, builds
 * a sorted 16-byte index per entry (binary search), and uses mbedTLS only for
 * the ASN.1 primitives, signature algorithm identifiers and crypto (mbedTLS
 * 3.6 keeps its X.509 readers of names, times and signatures private: the
 * few lines of each are in crl_asn1.c).
 */
#include "crl_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <mbedtls/asn1.h>
#include <mbedtls/base64.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/platform.h>
#include <mbedtls/x509.h>

#include "base/base.h"
#include "x509/x509.h"


static char *xstrndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* ---- CRL parsing ---- */

#define OID_CRL_NUMBER "\x55\x1d\x14"
#define OID_REASON_CODE "\x55\x1d\x15"
#define OID_INVALIDITY_DATE "\x55\x1d\x18"
#define OID_DELTA_INDICATOR "\x55\x1d\x1b"
#define OID_IDP "\x55\x1d\x1c"
#define OID_CERT_ISSUER "\x55\x1d\x1d"
#define OID_AKI "\x55\x1d\x23"


typedef struct parse_ctx {
    crl *c;
    char *err;
    size_t err_cap;
    crl_url_list fresh;
    char *fresh_v[8];
} parse_ctx;

static int get_integer_bytes(unsigned char *val, size_t val_len, unsigned char *out, size_t cap, size_t *n)
{
    unsigned char *p = val;
    size_t len;
    int ret = mbedtls_asn1_get_tag(&p, val + val_len, &len, MBEDTLS_ASN1_INTEGER);
    if (ret)
        return ret;
    const unsigned char *q = p;
    crl_asn1_strip_zeros(&q, &len);
    if (len == 0 || len > cap)
        return MBEDTLS_ERR_ASN1_INVALID_LENGTH;
    memcpy(out, q, len);
    *n = len;
    return 0;
}

static int parse_idp(unsigned char *p, const unsigned char *end, unsigned *idp)
{
    size_t len;
    int ret = mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
    if (ret)
        return ret;
    end = p + len;
    *idp |= CRL_IDP_PRESENT;
    while (p < end) {
        unsigned char tag = *p;
        if ((ret = mbedtls_asn1_get_tag(&p, end, &len, tag)) != 0)
            return ret;
        bool set = len == 1 && p[0] != 0;
        switch (tag & 0x1f) {
        case 1: if (set) *idp |= CRL_IDP_ONLY_USER; break;
        case 2: if (set) *idp |= CRL_IDP_ONLY_CA; break;
        case 3: *idp |= CRL_IDP_SOME_REASONS; break;
        case 4: if (set) *idp |= CRL_IDP_INDIRECT; break;
        case 5: if (set) *idp |= CRL_IDP_ONLY_ATTR; break;
        default: break; /* [0] distributionPoint: not compared */
        }
        p += len;
    }
    return 0;
}

static int crl_ext(void *ctx, const unsigned char *oid, size_t oid_len, bool critical, unsigned char *val,
                   size_t val_len)
{
    parse_ctx *pc = ctx;
    crl *c = pc->c;
    int ret = 0;
    if (CRL_OID_EQ(OID_CRL_NUMBER, oid, oid_len)) {
        ret = get_integer_bytes(val, val_len, c->number, sizeof c->number, &c->number_len);
    } else if (CRL_OID_EQ(OID_DELTA_INDICATOR, oid, oid_len)) {
        c->is_delta = true;
        ret = get_integer_bytes(val, val_len, c->base_number, sizeof c->base_number, &c->base_len);
    } else if (CRL_OID_EQ(OID_IDP, oid, oid_len)) {
        ret = parse_idp(val, val + val_len, &c->idp);
    } else if (CRL_OID_EQ(CRL_OID_FRESHEST, oid, oid_len)) {
        ret = crl_asn1_dps(val, val + val_len, &pc->fresh);
    } else if (CRL_OID_EQ(OID_AKI, oid, oid_len)) {
        /* AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] OCTET STRING OPTIONAL, ... } */
        unsigned char *q = val;
        size_t len;
        ret = mbedtls_asn1_get_tag(&q, val + val_len, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
        if (!ret && q < val + val_len && *q == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0)) {
            ret = mbedtls_asn1_get_tag(&q, val + val_len, &len, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0);
            if (!ret && len <= sizeof c->aki) {
                memcpy(c->aki, q, len);
                c->aki_len = len;
            }
        }
    } else if (critical) {
        char o[64];
        cg_oid_text(oid, oid_len, o, sizeof o, "?");
        snprintf(pc->err, pc->err_cap, "the CRL has an unsupported critical extension (OID %s)", o);
        return -1;
    }
    if (ret) {
        char o[64];
        cg_oid_text(oid, oid_len, o, sizeof o, "?");
        snprintf(pc->err, pc->err_cap, "not a valid CRL: malformed extension %s", o);
        return -1;
    }
    return 0;
}

typedef struct entry_ctx {
    parse_ctx *pc;
    uint8_t reason;
} entry_ctx;

static int entry_ext(void *ctx, const unsigned char *oid, size_t oid_len, bool critical, unsigned char *val,
                     size_t val_len)
{
    entry_ctx *ec = ctx;
    if (CRL_OID_EQ(OID_REASON_CODE, oid, oid_len)) {
        unsigned char *p = val;
        int v;
        if (mbedtls_asn1_get_enum(&p, val + val_len, &v) != 0 || v < 0 || v > 10) {
            snprintf(ec->pc->err, ec->pc->err_cap, "not a valid CRL: malformed reasonCode in an entry");
            return -1;
        }
        ec->reason = (uint8_t)v;
    } else if (CRL_OID_EQ(OID_CERT_ISSUER, oid, oid_len)) {
        snprintf(ec->pc->err, ec->pc->err_cap,
                 "the CRL is an indirect CRL (entries with certificateIssuer), which certgate does not support");
        return -1;
    } else if (critical && !CRL_OID_EQ(OID_INVALIDITY_DATE, oid, oid_len)) {
        char o[64];
        cg_oid_text(oid, oid_len, o, sizeof o, "?");
        snprintf(ec->pc->err, ec->pc->err_cap, "the CRL has an entry with an unsupported critical extension (OID %s)",
                 o);
        return -1;
    }
    return 0;
}

static bool entry_less(const crl_entry *a, const crl_entry *b, const unsigned char *base)
{
    return a->len != b->len ? a->len < b->len : memcmp(base + a->off, base + b->off, a->len) < 0;
}

/* Moves a[root] down the max-heap a[0, n). */
static void sift_down(crl_entry *a, size_t root, size_t n, const unsigned char *base)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && entry_less(&a[child], &a[child + 1], base))
            child++;
        if (!entry_less(&a[root], &a[child], base))
            return;
        crl_entry t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

/* Heap sort of the 16-byte index by (length, serial bytes): O(n log n), no
 * allocation, and reentrant (qsort has no context argument). */
static void sort_entries(crl *c)
{
    crl_entry *a = c->ents;
    size_t n = c->nents;
    for (size_t start = n / 2; start-- > 0;)
        sift_down(a, start, n, c->der);
    for (size_t end = n; end-- > 1;) {
        crl_entry t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end, c->der);
    }
}


/* What a buffer that is not a CRL looks like, for the operator. */
static void describe_non_crl(const unsigned char *buf, size_t len, const char *why, char *err, size_t cap)
{
    size_t i = 0;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
        i++;
    if (len == 0) {
        snprintf(err, cap, "not a CRL: the answer is empty");
        return;
    }
    if (i < len && buf[i] == '<') {
        snprintf(err, cap, "not a CRL: an HTML or XML document (%zu bytes)", len);
        return;
    }
    size_t printable = 0, n = len < 256 ? len : 256;
    for (size_t k = 0; k < n; k++)
        if ((buf[k] >= 0x20 && buf[k] < 0x7f) || buf[k] == '\n' || buf[k] == '\r' || buf[k] == '\t')
            printable++;
    if (printable == n) {
        char text[48];
        size_t t = 0;
        for (size_t k = i; k < len && t < 40; k++)
            text[t++] = (buf[k] == '\n' || buf[k] == '\r' || buf[k] == '\t' || buf[k] == '"') ? ' ' : (char)buf[k];
        text[t] = '\0';
        snprintf(err, cap, "not a CRL: text starting \"%s\" (%zu bytes)", text, len);
        return;
    }
    snprintf(err, cap, "not a CRL: %s (%zu bytes, first byte 0x%02x)", why, len, buf[0]);
}

static crl *parse_der(unsigned char *der, size_t der_len, char *err, size_t cap)
{
    crl *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, cap, "out of memory");
        free(der);
        return NULL;
    }
    atomic_init(&c->refs, 1);
    c->der = der;
    c->der_len = der_len;
    parse_ctx pc = { .c = c, .err = err, .err_cap = cap };
    pc.fresh.v = pc.fresh_v;
    pc.fresh.cap = sizeof pc.fresh_v / sizeof pc.fresh_v[0];
    err[0] = '\0';

    unsigned char *p = der, *end = der + der_len, *tbs, *tbs_end;
    size_t len, ents_cap = 0;
    const char *what = "not DER";
    mbedtls_x509_buf alg1, params1, alg2, params2, sig;
    int64_t when;

#define FAIL(w) do { what = (w); goto bad; } while (0)
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
        unsigned char *q = der + 1;
        if (der_len > 1 && der[0] == (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) &&
            mbedtls_asn1_get_len(&q, end, &len) == MBEDTLS_ERR_ASN1_OUT_OF_DATA && len < (1u << 30)) {
            snprintf(err, cap, "not a CRL: truncated (%zu bytes of %zu)", der_len, (size_t)(q - der) + len);
            goto fail;
        }
        FAIL("not a DER SEQUENCE");
    }
    if (p + len != end)
        FAIL(p + len < end ? "trailing bytes after the CRL" : "truncated");
    tbs = p;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
        FAIL("no tbsCertList");
    tbs_end = p + len;
    if (p < tbs_end && *p == MBEDTLS_ASN1_INTEGER) {
        int ver;
        if (mbedtls_asn1_get_int(&p, tbs_end, &ver) != 0 || ver < 0 || ver > 1)
            FAIL("unsupported CRL version");
    }
    if (mbedtls_asn1_get_alg(&p, tbs_end, &alg1, &params1) != 0)
        FAIL("no signature algorithm");
    {
        unsigned char *name_start = p;
        if (mbedtls_asn1_get_tag(&p, tbs_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
            FAIL("no issuer name");
        unsigned char *q = p;
        p += len;
        c->issuer_off = (size_t)(name_start - der);
        c->issuer_len = (size_t)(p - name_start);
        if (!crl_asn1_name_ok(q, p))
            FAIL("malformed issuer name");
        cg_dn_text_into(name_start, c->issuer_len, c->issuer, sizeof c->issuer);
        cg_sha256(name_start, c->issuer_len, c->dn_hash);
    }
    if (crl_asn1_time(&p, tbs_end, &when) != 0)
        FAIL("malformed thisUpdate");
    c->this_update = when;
    if (p < tbs_end && crl_asn1_is_time_tag(*p)) {
        if (crl_asn1_time(&p, tbs_end, &when) != 0)
            FAIL("malformed nextUpdate");
        c->next_update = when;
    }
    if (p < tbs_end && *p == (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) {
        if (mbedtls_asn1_get_tag(&p, tbs_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
            FAIL("malformed revokedCertificates");
        unsigned char *list_end = p + len;
        while (p < list_end) {
            if (mbedtls_asn1_get_tag(&p, list_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
                FAIL("malformed entry");
            unsigned char *e_end = p + len;
            size_t slen;
            if (mbedtls_asn1_get_tag(&p, e_end, &slen, MBEDTLS_ASN1_INTEGER) != 0 || slen == 0)
                FAIL("malformed entry serial number");
            const unsigned char *serial = p;
            p += slen;
            crl_asn1_strip_zeros(&serial, &slen);
            if (slen > 255)
                FAIL("an entry serial number longer than 255 bytes");
            if (crl_asn1_time(&p, e_end, &when) != 0)
                FAIL("malformed entry revocationDate");
            entry_ctx ec = { &pc, CRL_REASON_NONE };
            if (p < e_end) {
                if (crl_asn1_extensions(p, e_end, entry_ext, &ec) != 0) {
                    if (err[0])
                        goto fail;
                    FAIL("malformed entry extensions");
                }
            }
            p = e_end;
            if (!cg_vec_reserve(c->ents, ents_cap, c->nents + 1, 256))
                FAIL("out of memory");
            crl_entry *e = &c->ents[c->nents++];
            e->off = (uint32_t)(serial - der);
            e->len = (uint8_t)slen;
            e->reason = ec.reason;
            e->pad = 0;
            e->revoked = when;
        }
    }
    if (p < tbs_end && *p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0)) {
        if (mbedtls_asn1_get_tag(&p, tbs_end, &len, *p) != 0)
            FAIL("malformed crlExtensions");
        if (crl_asn1_extensions(p, p + len, crl_ext, &pc) != 0) {
            if (err[0])
                goto fail;
            FAIL("malformed crlExtensions");
        }
        p += len;
    }
    if (p != tbs_end)
        FAIL("unexpected data in tbsCertList");
    if (mbedtls_asn1_get_alg(&p, end, &alg2, &params2) != 0)
        FAIL("no outer signature algorithm");
    if (alg1.len != alg2.len || memcmp(alg1.p, alg2.p, alg1.len) != 0 || params1.len != params2.len ||
        (params1.len && memcmp(params1.p, params2.p, params1.len) != 0))
        FAIL("the two signature algorithms differ");
    sig.tag = p < end ? *p : 0;
    if (mbedtls_asn1_get_bitstring_null(&p, end, &sig.len) != 0)
        FAIL("no signature");
    sig.p = p;
    p += sig.len;
    if (p != end)
        FAIL("trailing data");
    if (crl_asn1_sig_alg(&alg1, &params1, &c->md, &c->pk, &c->sig_opts) != 0) {
        char o[64];
        cg_oid_text(alg1.p, alg1.len, o, sizeof o, "?");
        snprintf(err, cap, "the CRL is signed with an unsupported algorithm (OID %s)", o);
        goto fail;
    }
    c->sig_off = (size_t)(sig.p - der);
    c->sig_len = sig.len;
    {
        const mbedtls_md_info_t *md = mbedtls_md_info_from_type(c->md);
        if (!md || mbedtls_md(md, tbs, (size_t)(tbs_end - tbs), c->hash) != 0) {
            snprintf(err, cap, "the CRL is signed with an unsupported hash");
            goto fail;
        }
        c->hash_len = mbedtls_md_get_size(md);
    }
    if (pc.fresh.n) {
        c->freshest = calloc(pc.fresh.n, sizeof *c->freshest);
        if (!c->freshest)
            FAIL("out of memory");
        memcpy(c->freshest, pc.fresh.v, pc.fresh.n * sizeof *c->freshest);
        c->nfreshest = pc.fresh.n;
        pc.fresh.n = 0;
    }
    sort_entries(c);
    cg_sha256(der, der_len, c->content_hash);
    return c;
#undef FAIL

bad:
    describe_non_crl(der, der_len, what, err, cap);
fail:
    for (size_t i = 0; i < pc.fresh.n; i++)
        free(pc.fresh.v[i]);
    crl_unref(c);
    return NULL;
}

crl *crl_parse(const unsigned char *buf, size_t len, char *err, size_t cap)
{
    static const char begin[] = "-----BEGIN X509 CRL-----", end_[] = "-----END X509 CRL-----";
    const char *pem = buf && len > 11 ? memmem(buf, len, "-----BEGIN ", 11) : NULL;
    if (pem) {
        if (!memmem(buf, len, begin, sizeof begin - 1)) {
            char type[40];
            const char *t = pem + 11;
            size_t k = 0;
            while (t < (const char *)buf + len && *t != '-' && k + 1 < sizeof type)
                type[k++] = *t++;
            type[k] = '\0';
            snprintf(err, cap, "not a CRL: a PEM \"%s\", not an \"X509 CRL\"", type);
            return NULL;
        }
        char *text = xstrndup((const char *)buf, len); /* the PEM reader wants a C string */
        if (!text) {
            snprintf(err, cap, "out of memory");
            return NULL;
        }
        mbedtls_pem_context pem_ctx;
        mbedtls_pem_init(&pem_ctx);
        size_t used;
        int ret = mbedtls_pem_read_buffer(&pem_ctx, begin, end_, (const unsigned char *)text, NULL, 0, &used);
        free(text);
        if (ret != 0) {
            mbedtls_pem_free(&pem_ctx);
            snprintf(err, cap, "not a CRL: malformed PEM (bad base64 or no END line)");
            return NULL;
        }
        size_t dlen = 0;
        const unsigned char *d = mbedtls_pem_get_buffer(&pem_ctx, &dlen);
        unsigned char *der = malloc(dlen ? dlen : 1);
        if (der)
            memcpy(der, d, dlen);
        mbedtls_pem_free(&pem_ctx);
        if (!der) {
            snprintf(err, cap, "out of memory");
            return NULL;
        }
        return parse_der(der, dlen, err, cap);
    }
    unsigned char *der = malloc(len ? len : 1);
    if (!der) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    memcpy(der, buf, len);
    return parse_der(der, len, err, cap);
}

crl *crl_ref(crl *c)
{
    if (c)
        atomic_fetch_add(&c->refs, 1);
    return c;
}

void crl_unref(crl *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    free(c->der);
    free(c->ents);
    cg_strv_free(c->freshest, c->nfreshest);
    cg_strv_free(c->urls, c->nurls);
    free(c->spki);
    mbedtls_free(c->sig_opts);
    free(c);
}

const crl_entry *crl_find(const crl *c, const unsigned char *serial, size_t len)
{
    crl_asn1_strip_zeros(&serial, &len);
    if (len > 255)
        return NULL;
    size_t lo = 0, hi = c->nents;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const crl_entry *e = &c->ents[mid];
        int cmp = e->len != len ? (e->len < len ? -1 : 1) : memcmp(c->der + e->off, serial, len);
        if (cmp == 0)
            return e;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int crl_check_signature(const crl *c, const mbedtls_pk_context *pk)
{
    if (!mbedtls_pk_can_do(pk, c->pk))
        return MBEDTLS_ERR_PK_TYPE_MISMATCH;
    return mbedtls_pk_verify_ext(c->pk, c->sig_opts, (mbedtls_pk_context *)pk, c->md, c->hash, c->hash_len,
                                 c->der + c->sig_off, c->sig_len);
}

const char *crl_reason_name(int reason)
{
    switch (reason) {
    case CRL_REASON_UNSPECIFIED: return "unspecified";
    case CRL_REASON_KEY_COMPROMISE: return "keyCompromise";
    case CRL_REASON_CA_COMPROMISE: return "cACompromise";
    case CRL_REASON_AFFILIATION_CHANGED: return "affiliationChanged";
    case CRL_REASON_SUPERSEDED: return "superseded";
    case CRL_REASON_CESSATION: return "cessationOfOperation";
    case CRL_REASON_CERTIFICATE_HOLD: return "certificateHold";
    case CRL_REASON_REMOVE_FROM_CRL: return "removeFromCRL";
    case CRL_REASON_PRIVILEGE_WITHDRAWN: return "privilegeWithdrawn";
    case CRL_REASON_AA_COMPROMISE: return "aACompromise";
    case CRL_REASON_NONE: return "no reason given";
    default: return "unknown reason";
    }
}

static const char *md_text(mbedtls_md_type_t md)
{
    const char *n = cg_md_name(md);
    return n ? n : "?";
}

static const char *pk_text(mbedtls_pk_type_t pk)
{
    switch (pk) {
    case MBEDTLS_PK_RSA: return "RSA";
    case MBEDTLS_PK_RSASSA_PSS: return "RSA-PSS";
    case MBEDTLS_PK_ECDSA: case MBEDTLS_PK_ECKEY: return "ECDSA";
    default: return "?";
    }
}

void crl_info_fill(const crl *c, cg_crl_info *out)
{
    memset(out, 0, sizeof *out);
    if (!c)
        return;
    out->present = true;
    snprintf(out->issuer, sizeof out->issuer, "%s", c->issuer);
    snprintf(out->source, sizeof out->source, "%s", c->source);
    cg_fmt_time_utc(c->this_update, out->this_update, sizeof out->this_update);
    if (c->next_update)
        cg_fmt_time_utc(c->next_update, out->next_update, sizeof out->next_update);
    cg_hex_encode(c->number, c->number_len, out->number, sizeof out->number, true);
    snprintf(out->signature, sizeof out->signature, "%s with %s", pk_text(c->pk), md_text(c->md));
    out->entries = c->nents;
}

void crl_issuer_id(const mbedtls_x509_crt *issuer, unsigned char out[32])
{
    cg_sha256_2(issuer->subject_raw.p, issuer->subject_raw.len, issuer->pk_raw.p, issuer->pk_raw.len, out);
}

/* ---- LDAP answers (libcurl's text rendering of the search result) ---- */

unsigned char *crl_from_ldap_text(const char *text, size_t len, size_t *out_len, char *err, size_t cap)
{
    static const char *const attrs[] = { "certificateRevocationList", "authorityRevocationList",
                                         "deltaRevocationList", NULL };
    const char *p = text, *end = text + len;
    bool saw_dn = false;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        if (line_end - p >= 3 && memcmp(p, "DN:", 3) == 0)
            saw_dn = true;
        if (p < line_end && *p == '\t') {
            const char *name = p + 1, *colon = memchr(name, ':', (size_t)(line_end - name));
            if (colon) {
                bool wanted = false;
                for (int i = 0; attrs[i] && !wanted; i++) {
                    size_t al = strlen(attrs[i]);
                    wanted = (size_t)(colon - name) >= al && strncasecmp(name, attrs[i], al) == 0 &&
                             (name + al == colon || name[al] == ';');
                }
                if (wanted) {
                    const char *v = colon + 1;
                    /* libcurl writes binary values (";binary", or not printable) in base64 */
                    if (v < line_end && *v == ':')
                        v++;
                    while (v < line_end && *v == ' ')
                        v++;
                    size_t vlen = (size_t)(line_end - v);
                    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                        vlen--;
                    size_t olen = 0;
                    if (mbedtls_base64_decode(NULL, 0, &olen, (const unsigned char *)v, vlen) ==
                                   MBEDTLS_ERR_BASE64_INVALID_CHARACTER) {
                        snprintf(err, cap, "not a CRL: the LDAP attribute value is not base64");
                        return NULL;
                    }
                    unsigned char *out = malloc(olen ? olen : 1);
                    if (!out) {
                        snprintf(err, cap, "out of memory");
                        return NULL;
                    }
                    if (mbedtls_base64_decode(out, olen, out_len, (const unsigned char *)v, vlen) != 0) {
                        free(out);
                        snprintf(err, cap, "not a CRL: the LDAP attribute value is not base64");
                        return NULL;
                    }
                    return out;
                }
            }
        }
        p = nl ? nl + 1 : end;
    }
    if (saw_dn)
        snprintf(err, cap, "LDAP: the entry has no certificateRevocationList value");
    else
        snprintf(err, cap, "LDAP: no entry found (empty search result)");
    return NULL;
}

/* ---- order and verification memo ---- */

bool crl_newer(const crl *a, const crl *b)
{
    if (a->this_update != b->this_update)
        return a->this_update > b->this_update;
    if (a->number_len != b->number_len)
        return a->number_len > b->number_len;
    return memcmp(a->number, b->number, a->number_len) > 0;
}

int crl_memo_get(const crl *c, const unsigned char id[32])
{
    for (int i = 0; i < c->ngood; i++)
        if (memcmp(c->good[i], id, 32) == 0)
            return 1;
    for (int i = 0; i < c->nbad; i++)
        if (memcmp(c->bad[i], id, 32) == 0)
            return -1;
    return 0;
}

void crl_memo_set(crl *c, const unsigned char id[32], bool good)
{
    if (crl_memo_get(c, id))
        return;
    if (good) {
        if (c->ngood == CRL_MEMO)
            memmove(c->good[0], c->good[1], 32 * (CRL_MEMO - 1)), c->ngood--;
        memcpy(c->good[c->ngood++], id, 32);
    } else {
        if (c->nbad == CRL_MEMO)
            memmove(c->bad[0], c->bad[1], 32 * (CRL_MEMO - 1)), c->nbad--;
        memcpy(c->bad[c->nbad++], id, 32);
    }
}
