/* OCSP messages (ocsp_msg.h): the request we send and the response we read, RFC 6960 4.1-4.2.
 *
 * The parser walks the DER with mbedtls_asn1_get_* only and allocates nothing: every field it
 * keeps is a span of the caller's buffer, every loop advances through it, so work and memory are
 * bounded by the response's length. Signature algorithms and GeneralizedTime are read here rather
 * than through mbedtls_x509_get_sig_alg()/_get_time(), whose place in the API differs between
 * mbedTLS 2.28 and 3.6.
 */
#include "ocsp_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>

#include "base/base.h"

#define SEQ (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)
#define CTX_CONS(n) (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | (n))
#define CTX_PRIM(n) (MBEDTLS_ASN1_CONTEXT_SPECIFIC | (n))

#define OID_EQ(lit, buf, len) ((len) == sizeof(lit) - 1 && memcmp((buf), (lit), (len)) == 0)
#define OID_SHA1 "\x2b\x0e\x03\x02\x1a"                         /* 1.3.14.3.2.26 */
#define OID_SHA256 "\x60\x86\x48\x01\x65\x03\x04\x02\x01"       /* 2.16.840.1.101.3.4.2.1 */
#define OID_OCSP_BASIC "\x2b\x06\x01\x05\x05\x07\x30\x01\x01"   /* 1.3.6.1.5.5.7.48.1.1 */
#define OID_OCSP_NONCE "\x2b\x06\x01\x05\x05\x07\x30\x01\x02"   /* 1.3.6.1.5.5.7.48.1.2 */
#define OID_AD_OCSP "\x2b\x06\x01\x05\x05\x07\x30\x01"          /* 1.3.6.1.5.5.7.48.1 */
#define OID_AIA "\x2b\x06\x01\x05\x05\x07\x01\x01"              /* 1.3.6.1.5.5.7.1.1 */

/* The signature algorithms a responder may use that mbedtls_pk_verify() checks as is (no
 * RSASSA-PSS: its parameters would need mbedtls_pk_verify_ext). */
static const struct sig_alg {
    const char *oid;
    size_t oid_len;
    mbedtls_md_type_t md;
    mbedtls_pk_type_t pk;
} sig_algs[] = {
#define RSA_ALG(last, md) { "\x2a\x86\x48\x86\xf7\x0d\x01\x01" last, 9, md, MBEDTLS_PK_RSA }
    RSA_ALG("\x05", MBEDTLS_MD_SHA1), RSA_ALG("\x0b", MBEDTLS_MD_SHA256), RSA_ALG("\x0c", MBEDTLS_MD_SHA384),
    RSA_ALG("\x0d", MBEDTLS_MD_SHA512),
#undef RSA_ALG
    { "\x2a\x86\x48\xce\x3d\x04\x01", 7, MBEDTLS_MD_SHA1, MBEDTLS_PK_ECDSA },
    { "\x2a\x86\x48\xce\x3d\x04\x03\x02", 8, MBEDTLS_MD_SHA256, MBEDTLS_PK_ECDSA },
    { "\x2a\x86\x48\xce\x3d\x04\x03\x03", 8, MBEDTLS_MD_SHA384, MBEDTLS_PK_ECDSA },
    { "\x2a\x86\x48\xce\x3d\x04\x03\x04", 8, MBEDTLS_MD_SHA512, MBEDTLS_PK_ECDSA },
};

const char *cg_ocsp_status_name(cg_ocsp_status s)
{
    switch (s) {
    case CG_OCSP_GOOD: return "good";
    case CG_OCSP_REVOKED: return "revoked";
    case CG_OCSP_UNKNOWN: return "unknown";
    }
    return "?";
}

const char *cg_ocsp_response_status_name(int s)
{
    switch (s) {
    case CG_OCSP_SUCCESSFUL: return "successful";
    case CG_OCSP_MALFORMED_REQUEST: return "malformedRequest";
    case CG_OCSP_INTERNAL_ERROR: return "internalError";
    case CG_OCSP_TRY_LATER: return "tryLater";
    case CG_OCSP_SIG_REQUIRED: return "sigRequired";
    case CG_OCSP_UNAUTHORIZED: return "unauthorized";
    default: return "an undefined status";
    }
}

/* ---- small readers ---- */

static bool digits(const unsigned char *p, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool cg_ocsp_time(const unsigned char *p, size_t len, int64_t *out)
{
    int y, mo, d, h, mi, s;
    if (len < 15 || p[len - 1] != 'Z')
        return false;
    if (!digits(p, 4, &y) || !digits(p + 4, 2, &mo) || !digits(p + 6, 2, &d) || !digits(p + 8, 2, &h) ||
        !digits(p + 10, 2, &mi) || !digits(p + 12, 2, &s))
        return false;
    if (len > 15) { /* fractional seconds: "." and at least one digit, ignored */
        int f;
        if (p[14] != '.' || len < 17 || len > 15 + 10 || !digits(p + 15, len - 16, &f))
            return false;
    }
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || s > 60)
        return false;
    *out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    return true;
}

static int get_gentime(unsigned char **p, const unsigned char *end, int64_t *out)
{
    size_t len;
    int ret = mbedtls_asn1_get_tag(p, end, &len, MBEDTLS_ASN1_GENERALIZED_TIME);
    if (ret)
        return ret;
    if (!cg_ocsp_time(*p, len, out))
        return MBEDTLS_ERR_ASN1_INVALID_DATA;
    *p += len;
    return 0;
}

static void strip_zeros(const unsigned char **p, size_t *n)
{
    while (*n > 1 && (*p)[0] == 0) {
        (*p)++;
        (*n)--;
    }
}

bool cg_ocsp_spki_key(const unsigned char *spki, size_t spki_len, cg_ocsp_span *key)
{
    unsigned char *p = (unsigned char *)spki, *end = p + spki_len;
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0 || p + len != end)
        return false;
    if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0) /* algorithm */
        return false;
    p += len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_BIT_STRING) != 0 || p + len != end || len < 2 || p[0] != 0)
        return false;
    key->p = p + 1;
    key->len = len - 1;
    return true;
}

/* ---- responders of a certificate ---- */

/* AuthorityInfoAccessSyntax ::= SEQUENCE OF AccessDescription { accessMethod, accessLocation } */
static size_t aia_urls(unsigned char *p, const unsigned char *end, char **out, size_t cap)
{
    size_t len, n = 0;
    if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0 || p + len != end)
        return 0;
    while (p < end && n < cap) {
        if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0)
            break;
        unsigned char *ad_end = p + len;
        size_t oid_len, ulen;
        if (mbedtls_asn1_get_tag(&p, ad_end, &oid_len, MBEDTLS_ASN1_OID) == 0 && OID_EQ(OID_AD_OCSP, p, oid_len)) {
            p += oid_len;
            if (mbedtls_asn1_get_tag(&p, ad_end, &ulen, CTX_PRIM(6)) == 0 && ulen > 0 && ulen <= 2048) {
                bool printable = true;
                for (size_t i = 0; i < ulen; i++)
                    printable = printable && p[i] > 0x20 && p[i] < 0x7f;
                char *url = printable ? malloc(ulen + 1) : NULL;
                if (url) {
                    memcpy(url, p, ulen);
                    url[ulen] = '\0';
                    out[n++] = url;
                }
            }
        }
        p = ad_end;
    }
    return n;
}

size_t cg_ocsp_cert_urls(const mbedtls_x509_crt *c, char **out, size_t cap)
{
    unsigned char *p = c->v3_ext.p, *end = p + c->v3_ext.len;
    size_t len;
    if (!p || mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0)
        return 0;
    end = p + len;
    while (p < end) {
        if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0)
            return 0;
        unsigned char *ext_end = p + len;
        size_t oid_len, vlen;
        if (mbedtls_asn1_get_tag(&p, ext_end, &oid_len, MBEDTLS_ASN1_OID) != 0)
            return 0;
        bool aia = OID_EQ(OID_AIA, p, oid_len);
        p += oid_len;
        int critical;
        if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN && mbedtls_asn1_get_bool(&p, ext_end, &critical) != 0)
            return 0;
        if (aia && mbedtls_asn1_get_tag(&p, ext_end, &vlen, MBEDTLS_ASN1_OCTET_STRING) == 0 && p + vlen == ext_end)
            return aia_urls(p, ext_end, out, cap);
        p = ext_end;
    }
    return 0;
}

/* ---- the request ---- */

bool cg_ocsp_certid_make(const mbedtls_x509_crt *cert, const mbedtls_x509_crt *issuer, mbedtls_md_type_t md,
                         cg_ocsp_certid *out, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    const mbedtls_md_info_t *info = mbedtls_md_info_from_type(md);
    if (!info || (md != MBEDTLS_MD_SHA1 && md != MBEDTLS_MD_SHA256)) {
        snprintf(err, cap, "an OCSP CertID is hashed with SHA-1 or SHA-256");
        return false;
    }
    cg_ocsp_span key;
    if (!cg_ocsp_spki_key(issuer->pk_raw.p, issuer->pk_raw.len, &key)) {
        snprintf(err, cap, "the issuer's public key is unreadable");
        return false;
    }
    const unsigned char *serial = cert->serial.p;
    size_t serial_len = cert->serial.len;
    strip_zeros(&serial, &serial_len);
    if (serial_len == 0 || serial_len > sizeof out->serial) {
        snprintf(err, cap, "the certificate's serial number is longer than %d octets", CG_OCSP_SERIAL_MAX);
        return false;
    }
    /* The issuer's Name as the certificate states it: the same octets as the issuer's subject. */
    if (mbedtls_md(info, cert->issuer_raw.p, cert->issuer_raw.len, out->name_hash) != 0 ||
        mbedtls_md(info, key.p, key.len, out->key_hash) != 0) {
        snprintf(err, cap, "hashing the CertID failed");
        return false;
    }
    out->md = md;
    out->hash_len = mbedtls_md_get_size(info);
    memcpy(out->serial, serial, serial_len);
    out->serial_len = serial_len;
    return true;
}

/* mbedtls_asn1_write_* write backwards from *p down to start; each returns the octets written or
 * a negative error. W() adds to the running length or gives up. */
#define W(expr)                                                                                                       \
    do {                                                                                                              \
        int w_ = (expr);                                                                                              \
        if (w_ < 0)                                                                                                   \
            return 0;                                                                                                 \
        n += (size_t)w_;                                                                                              \
    } while (0)

static int write_len_tag(unsigned char **p, unsigned char *start, size_t len, unsigned char tag)
{
    int a = mbedtls_asn1_write_len(p, start, len);
    if (a < 0)
        return a;
    int b = mbedtls_asn1_write_tag(p, start, tag);
    return b < 0 ? b : a + b;
}

/* CertID ::= SEQUENCE { hashAlgorithm, issuerNameHash, issuerKeyHash, serialNumber } */
static size_t write_certid(unsigned char **p, unsigned char *start, const cg_ocsp_certid *id)
{
    size_t n = 0;
    W(mbedtls_asn1_write_raw_buffer(p, start, id->serial, id->serial_len));
    if (id->serial[0] & 0x80)
        W(mbedtls_asn1_write_raw_buffer(p, start, (const unsigned char *)"", 1)); /* stays positive */
    W(write_len_tag(p, start, n, MBEDTLS_ASN1_INTEGER));
    W(mbedtls_asn1_write_octet_string(p, start, id->key_hash, id->hash_len));
    W(mbedtls_asn1_write_octet_string(p, start, id->name_hash, id->hash_len));
    size_t alg = 0;
    {
        size_t before = n;
        W(mbedtls_asn1_write_null(p, start));
        if (id->md == MBEDTLS_MD_SHA1)
            W(mbedtls_asn1_write_oid(p, start, OID_SHA1, sizeof OID_SHA1 - 1));
        else
            W(mbedtls_asn1_write_oid(p, start, OID_SHA256, sizeof OID_SHA256 - 1));
        alg = n - before;
    }
    W(write_len_tag(p, start, alg, SEQ));
    W(write_len_tag(p, start, n, SEQ));
    return n;
}

size_t cg_ocsp_request_build(const cg_ocsp_certid *id, const unsigned char *nonce, size_t nonce_len,
                             unsigned char *out, size_t cap)
{
    if (nonce_len > CG_OCSP_NONCE_MAX || (nonce_len && !nonce) || id->serial_len == 0 ||
        id->serial_len > sizeof id->serial || (id->md != MBEDTLS_MD_SHA1 && id->md != MBEDTLS_MD_SHA256))
        return 0;
    unsigned char *p = out + cap;
    size_t n = 0;
    if (nonce_len) {
        /* requestExtensions [2] EXPLICIT SEQUENCE OF Extension { id-pkix-ocsp-nonce, OCTET STRING
         * { OCTET STRING nonce } } (RFC 8954 2.1) */
        W(mbedtls_asn1_write_octet_string(&p, out, nonce, nonce_len));
        W(write_len_tag(&p, out, n, MBEDTLS_ASN1_OCTET_STRING));
        W(mbedtls_asn1_write_oid(&p, out, OID_OCSP_NONCE, sizeof OID_OCSP_NONCE - 1));
        W(write_len_tag(&p, out, n, SEQ));
        W(write_len_tag(&p, out, n, SEQ));
        W(write_len_tag(&p, out, n, CTX_CONS(2)));
    }
    size_t ext = n;
    size_t certid = write_certid(&p, out, id);
    if (certid == 0)
        return 0;
    n += certid;
    W(write_len_tag(&p, out, n - ext, SEQ)); /* Request */
    W(write_len_tag(&p, out, n - ext, SEQ)); /* requestList */
    W(write_len_tag(&p, out, n, SEQ));       /* TBSRequest */
    W(write_len_tag(&p, out, n, SEQ));       /* OCSPRequest */
    memmove(out, p, n);
    return n;
}
#undef W

/* ---- the response ---- */

typedef struct parse_state {
    cg_ocsp_response *r;
    char *err;
    size_t cap;
} parse_state;

#define FAIL(...)                                                                                                     \
    do {                                                                                                              \
        snprintf(st->err, st->cap, __VA_ARGS__);                                                                      \
        return false;                                                                                                 \
    } while (0)

/* Extensions ::= SEQUENCE OF Extension. The nonce is kept (when nonce is not NULL); any other
 * critical extension refuses the response: RFC 6960 4.4 defines none we could honour. */
static bool read_extensions(parse_state *st, unsigned char *p, const unsigned char *end, cg_ocsp_span *nonce,
                            const char *where)
{
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0 || p + len != end)
        FAIL("not a valid OCSP response: malformed %s extensions", where);
    while (p < end) {
        if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0)
            FAIL("not a valid OCSP response: malformed %s extension", where);
        unsigned char *ext_end = p + len;
        size_t oid_len, vlen;
        if (mbedtls_asn1_get_tag(&p, ext_end, &oid_len, MBEDTLS_ASN1_OID) != 0)
            FAIL("not a valid OCSP response: malformed %s extension", where);
        const unsigned char *oid = p;
        p += oid_len;
        int critical = 0;
        if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN && mbedtls_asn1_get_bool(&p, ext_end, &critical) != 0)
            FAIL("not a valid OCSP response: malformed %s extension", where);
        if (mbedtls_asn1_get_tag(&p, ext_end, &vlen, MBEDTLS_ASN1_OCTET_STRING) != 0 || p + vlen != ext_end)
            FAIL("not a valid OCSP response: malformed %s extension", where);
        if (nonce && OID_EQ(OID_OCSP_NONCE, oid, oid_len)) {
            /* RFC 8954: the value is an OCTET STRING; early responders put the octets bare. */
            unsigned char *q = p;
            size_t inner;
            if (mbedtls_asn1_get_tag(&q, ext_end, &inner, MBEDTLS_ASN1_OCTET_STRING) == 0 && q + inner == ext_end)
                *nonce = (cg_ocsp_span){ q, inner };
            else
                *nonce = (cg_ocsp_span){ p, vlen };
        } else if (critical) {
            char o[64];
            cg_oid_text(oid, oid_len, o, sizeof o, "?");
            FAIL("the OCSP response has an unsupported critical %s extension (OID %s)", where, o);
        }
        p = ext_end;
    }
    return true;
}

/* Reads a CertID and tells whether it is id (same hash algorithm, hashes and serial). */
static bool read_certid(parse_state *st, unsigned char **pp, const unsigned char *end, const cg_ocsp_certid *id,
                        bool *match)
{
    unsigned char *p = *pp;
    size_t len, oid_len, name_len, key_len, serial_len;
    if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0)
        FAIL("not a valid OCSP response: malformed CertID");
    unsigned char *cid_end = p + len;
    if (mbedtls_asn1_get_tag(&p, cid_end, &len, SEQ) != 0)
        FAIL("not a valid OCSP response: malformed CertID hash algorithm");
    unsigned char *alg_end = p + len;
    if (mbedtls_asn1_get_tag(&p, alg_end, &oid_len, MBEDTLS_ASN1_OID) != 0)
        FAIL("not a valid OCSP response: malformed CertID hash algorithm");
    const unsigned char *oid = p;
    p = alg_end; /* parameters: NULL or absent, not compared */
    if (mbedtls_asn1_get_tag(&p, cid_end, &name_len, MBEDTLS_ASN1_OCTET_STRING) != 0)
        FAIL("not a valid OCSP response: malformed CertID issuerNameHash");
    const unsigned char *name = p;
    p += name_len;
    if (mbedtls_asn1_get_tag(&p, cid_end, &key_len, MBEDTLS_ASN1_OCTET_STRING) != 0)
        FAIL("not a valid OCSP response: malformed CertID issuerKeyHash");
    const unsigned char *key = p;
    p += key_len;
    if (mbedtls_asn1_get_tag(&p, cid_end, &serial_len, MBEDTLS_ASN1_INTEGER) != 0 || serial_len == 0)
        FAIL("not a valid OCSP response: malformed CertID serialNumber");
    const unsigned char *serial = p;
    p += serial_len;
    if (p != cid_end)
        FAIL("not a valid OCSP response: unexpected data in a CertID");
    strip_zeros(&serial, &serial_len);
    bool same_alg = id->md == MBEDTLS_MD_SHA1 ? OID_EQ(OID_SHA1, oid, oid_len) : OID_EQ(OID_SHA256, oid, oid_len);
    *match = same_alg && name_len == id->hash_len && key_len == id->hash_len &&
             memcmp(name, id->name_hash, name_len) == 0 && memcmp(key, id->key_hash, key_len) == 0 &&
             serial_len == id->serial_len && memcmp(serial, id->serial, serial_len) == 0;
    *pp = p;
    return true;
}

/* SingleResponse; the fields go to r only when it is the one for id. */
static bool read_single(parse_state *st, unsigned char *p, const unsigned char *end, const cg_ocsp_certid *id,
                        bool *found)
{
    cg_ocsp_response *r = st->r;
    bool match;
    if (!read_certid(st, &p, end, id, &match))
        return false;
    cg_ocsp_status status;
    int64_t revoked_at = 0, this_update, next_update = 0;
    int reason = -1;
    size_t len;
    if (p >= end)
        FAIL("not a valid OCSP response: a SingleResponse without certStatus");
    unsigned char tag = *p;
    if (mbedtls_asn1_get_tag(&p, end, &len, tag) != 0)
        FAIL("not a valid OCSP response: malformed certStatus");
    unsigned char *status_end = p + len;
    if (tag == CTX_PRIM(0) && len == 0) {
        status = CG_OCSP_GOOD;
    } else if (tag == CTX_PRIM(2) && len == 0) {
        status = CG_OCSP_UNKNOWN;
    } else if (tag == CTX_CONS(1)) {
        status = CG_OCSP_REVOKED;
        if (get_gentime(&p, status_end, &revoked_at) != 0)
            FAIL("not a valid OCSP response: malformed revocationTime");
        if (p < status_end) {
            int v;
            if (mbedtls_asn1_get_tag(&p, status_end, &len, CTX_CONS(0)) != 0 || p + len != status_end ||
                mbedtls_asn1_get_enum(&p, status_end, &v) != 0 || v < 0 || v > 10 || v == 7)
                FAIL("not a valid OCSP response: malformed revocationReason");
            reason = v;
        }
        if (p != status_end)
            FAIL("not a valid OCSP response: unexpected data in RevokedInfo");
    } else {
        FAIL("not a valid OCSP response: certStatus is neither good, revoked nor unknown");
    }
    p = status_end;
    if (get_gentime(&p, end, &this_update) != 0)
        FAIL("not a valid OCSP response: malformed thisUpdate");
    if (p < end && *p == CTX_CONS(0)) {
        if (mbedtls_asn1_get_tag(&p, end, &len, CTX_CONS(0)) != 0)
            FAIL("not a valid OCSP response: malformed nextUpdate");
        unsigned char *next_end = p + len;
        if (get_gentime(&p, next_end, &next_update) != 0 || p != next_end)
            FAIL("not a valid OCSP response: malformed nextUpdate");
    }
    if (p < end && *p == CTX_CONS(1)) {
        if (mbedtls_asn1_get_tag(&p, end, &len, CTX_CONS(1)) != 0 || p + len != end)
            FAIL("not a valid OCSP response: malformed singleExtensions");
        if (!read_extensions(st, p, p + len, NULL, "single response"))
            return false;
        p += len;
    }
    if (p != end)
        FAIL("not a valid OCSP response: unexpected data in a SingleResponse");
    if (!match)
        return true;
    if (*found)
        FAIL("the OCSP response answers twice for the certificate");
    *found = true;
    r->status = status;
    r->revoked_at = revoked_at;
    r->reason = reason;
    r->this_update = this_update;
    r->next_update = next_update;
    return true;
}

/* ResponseData ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1, responderID, producedAt,
 * responses, responseExtensions [1] EXPLICIT OPTIONAL } */
static bool read_response_data(parse_state *st, unsigned char *p, const unsigned char *end, const cg_ocsp_certid *id)
{
    cg_ocsp_response *r = st->r;
    size_t len;
    if (p < end && *p == CTX_CONS(0)) {
        int version;
        if (mbedtls_asn1_get_tag(&p, end, &len, CTX_CONS(0)) != 0 || mbedtls_asn1_get_int(&p, p + len, &version) != 0)
            FAIL("not a valid OCSP response: malformed version");
        if (version != 0)
            FAIL("the OCSP response has version %d, not v1", version + 1);
    }
    if (p < end && *p == CTX_CONS(1)) {
        if (mbedtls_asn1_get_tag(&p, end, &len, CTX_CONS(1)) != 0)
            FAIL("not a valid OCSP response: malformed responderID");
        unsigned char *name = p, *name_end = p + len, *q = p;
        size_t nlen;
        if (mbedtls_asn1_get_tag(&q, name_end, &nlen, SEQ) != 0 || q + nlen != name_end)
            FAIL("not a valid OCSP response: malformed responderID name");
        r->responder_name = (cg_ocsp_span){ name, len };
        p = name_end;
    } else if (p < end && *p == CTX_CONS(2)) {
        size_t klen;
        if (mbedtls_asn1_get_tag(&p, end, &len, CTX_CONS(2)) != 0 ||
            mbedtls_asn1_get_tag(&p, p + len, &klen, MBEDTLS_ASN1_OCTET_STRING) != 0 || klen != 20)
            FAIL("not a valid OCSP response: malformed responderID key hash");
        r->responder_key = (cg_ocsp_span){ p, klen };
        p += klen;
    } else {
        FAIL("not a valid OCSP response: no responderID");
    }
    if (get_gentime(&p, end, &r->produced_at) != 0)
        FAIL("not a valid OCSP response: malformed producedAt");
    if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0)
        FAIL("not a valid OCSP response: malformed responses");
    unsigned char *list_end = p + len;
    bool found = false;
    while (p < list_end) {
        if (mbedtls_asn1_get_tag(&p, list_end, &len, SEQ) != 0)
            FAIL("not a valid OCSP response: malformed SingleResponse");
        if (!read_single(st, p, p + len, id, &found))
            return false;
        p += len;
        r->nresponses++;
    }
    if (p < end && *p == CTX_CONS(1)) {
        if (mbedtls_asn1_get_tag(&p, end, &len, CTX_CONS(1)) != 0 || p + len != end)
            FAIL("not a valid OCSP response: malformed responseExtensions");
        if (!read_extensions(st, p, p + len, &r->nonce, "response"))
            return false;
        p += len;
    }
    if (p != end)
        FAIL("not a valid OCSP response: unexpected data in tbsResponseData");
    if (r->nresponses == 0)
        FAIL("the OCSP response answers for no certificate");
    if (!found)
        FAIL("the OCSP response does not answer for this certificate (%zu other answer%s)", r->nresponses,
             r->nresponses == 1 ? "" : "s");
    return true;
}

bool cg_ocsp_sig_alg(const unsigned char *der, size_t der_len, mbedtls_md_type_t *md, mbedtls_pk_type_t *pk)
{
    unsigned char *p = (unsigned char *)der, *end = p + der_len;
    size_t len, oid_len;
    if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0 || p + len != end ||
        mbedtls_asn1_get_tag(&p, end, &oid_len, MBEDTLS_ASN1_OID) != 0)
        return false;
    /* Parameters: absent, or NULL (RSA); nothing else for the algorithms above. */
    const unsigned char *q = p + oid_len;
    if (q != end && !(end - q == 2 && q[0] == MBEDTLS_ASN1_NULL && q[1] == 0))
        return false;
    for (size_t i = 0; i < sizeof sig_algs / sizeof sig_algs[0]; i++)
        if (sig_algs[i].oid_len == oid_len && memcmp(sig_algs[i].oid, p, oid_len) == 0) {
            *md = sig_algs[i].md;
            *pk = sig_algs[i].pk;
            return true;
        }
    return false;
}

static bool read_sig_alg(parse_state *st, unsigned char **pp, const unsigned char *end)
{
    unsigned char *p = *pp, *alg = p;
    size_t len, oid_len;
    if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0)
        FAIL("not a valid OCSP response: malformed signatureAlgorithm");
    unsigned char *alg_end = p + len;
    if (cg_ocsp_sig_alg(alg, (size_t)(alg_end - alg), &st->r->sig_md, &st->r->sig_pk)) {
        *pp = alg_end;
        return true;
    }
    char o[64] = "?";
    if (mbedtls_asn1_get_tag(&p, alg_end, &oid_len, MBEDTLS_ASN1_OID) == 0)
        cg_oid_text(p, oid_len, o, sizeof o, "?");
    FAIL("the OCSP response is signed with an unsupported algorithm (OID %s)", o);
}

/* BasicOCSPResponse ::= SEQUENCE { tbsResponseData, signatureAlgorithm, signature BIT STRING,
 * certs [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL } */
static bool read_basic(parse_state *st, unsigned char *p, const unsigned char *end, const cg_ocsp_certid *id)
{
    cg_ocsp_response *r = st->r;
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0 || p + len != end)
        FAIL("not a valid OCSP response: malformed BasicOCSPResponse");
    unsigned char *tbs = p;
    if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0)
        FAIL("not a valid OCSP response: malformed tbsResponseData");
    unsigned char *tbs_end = p + len;
    r->tbs = (cg_ocsp_span){ tbs, (size_t)(tbs_end - tbs) };
    if (!read_response_data(st, p, tbs_end, id))
        return false;
    p = tbs_end;
    if (!read_sig_alg(st, &p, end))
        return false;
    /* (mbedtls_asn1_get_bitstring() wants the BIT STRING to end the buffer: certs may follow.) */
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_BIT_STRING) != 0 || len < 2 || p[0] != 0)
        FAIL("not a valid OCSP response: malformed signature");
    r->sig = (cg_ocsp_span){ p + 1, len - 1 };
    p += len;
    if (p < end) {
        if (mbedtls_asn1_get_tag(&p, end, &len, CTX_CONS(0)) != 0 || p + len != end ||
            mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0 || p + len != end)
            FAIL("not a valid OCSP response: malformed certs");
        while (p < end) {
            unsigned char *cert = p;
            if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0)
                FAIL("not a valid OCSP response: malformed certificate in certs");
            p += len;
            if (r->ncerts == CG_OCSP_CERTS_MAX)
                FAIL("the OCSP response carries more than %d certificates", CG_OCSP_CERTS_MAX);
            r->certs[r->ncerts++] = (cg_ocsp_span){ cert, (size_t)(p - cert) };
        }
    }
    return true;
}

bool cg_ocsp_response_parse(const unsigned char *der, size_t der_len, const cg_ocsp_certid *id, cg_ocsp_response *r,
                            char *err, size_t cap)
{
    memset(r, 0, sizeof *r);
    r->reason = -1;
    r->response_status = -1;
    parse_state state = { r, err, cap }, *st = &state;
    err[0] = '\0';
    unsigned char *p = (unsigned char *)der, *end = p + der_len;
    size_t len;
    if (der_len == 0)
        FAIL("not an OCSP response: the answer is empty");
    if (mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0)
        FAIL("not an OCSP response: %s (%zu bytes, first byte 0x%02x)",
             der[0] == '<' ? "an HTML or XML document" : "not a DER SEQUENCE", der_len, der[0]);
    if (p + len != end)
        FAIL("not an OCSP response: trailing bytes after it");
    int status;
    if (mbedtls_asn1_get_enum(&p, end, &status) != 0)
        FAIL("not an OCSP response: no responseStatus");
    r->response_status = status;
    if (status != CG_OCSP_SUCCESSFUL)
        FAIL("the OCSP responder answered %s (%d), not successful", cg_ocsp_response_status_name(status), status);
    if (mbedtls_asn1_get_tag(&p, end, &len, CTX_CONS(0)) != 0 || p + len != end ||
        mbedtls_asn1_get_tag(&p, end, &len, SEQ) != 0 || p + len != end)
        FAIL("not a valid OCSP response: successful without responseBytes");
    size_t oid_len;
    if (mbedtls_asn1_get_tag(&p, end, &oid_len, MBEDTLS_ASN1_OID) != 0)
        FAIL("not a valid OCSP response: malformed responseType");
    if (!OID_EQ(OID_OCSP_BASIC, p, oid_len)) {
        char o[64];
        cg_oid_text(p, oid_len, o, sizeof o, "?");
        FAIL("the OCSP response is of type %s, not a BasicOCSPResponse", o);
    }
    p += oid_len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_OCTET_STRING) != 0 || p + len != end)
        FAIL("not a valid OCSP response: malformed response octets");
    return read_basic(st, p, end, id);
}
#undef FAIL
