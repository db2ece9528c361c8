/* The CRL parser's DER readers and distribution points (crl_asn1.h). */
#include "crl_asn1.h"

#include <stdlib.h>
#include <time.h>

#include <mbedtls/oid.h>
#include <mbedtls/platform.h>

bool crl_asn1_is_time_tag(unsigned char t) { return t == MBEDTLS_ASN1_UTC_TIME || t == MBEDTLS_ASN1_GENERALIZED_TIME; }

static int digits(const unsigned char *p, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* A Time (RFC 5280 4.1.2.5: UTCTime YYMMDDHHMMSSZ, GeneralizedTime
 * YYYYMMDDHHMMSSZ) as Unix seconds. */
int crl_asn1_time(unsigned char **p, const unsigned char *end, int64_t *out)
{
    if (end - *p < 1 || !crl_asn1_is_time_tag(**p))
        return MBEDTLS_ERR_ASN1_UNEXPECTED_TAG;
    unsigned char tag = **p;
    size_t len;
    int ret = mbedtls_asn1_get_tag(p, end, &len, tag);
    if (ret != 0)
        return ret;
    const unsigned char *t = *p;
    size_t ylen = tag == MBEDTLS_ASN1_UTC_TIME ? 2 : 4;
    /* The trailing Z is optional, as mbedTLS 2.28 read it. */
    if (len != ylen + 10 && !(len == ylen + 11 && t[len - 1] == 'Z'))
        return MBEDTLS_ERR_ASN1_INVALID_DATA;
    int year = digits(t, ylen), mon = digits(t + ylen, 2), day = digits(t + ylen + 2, 2),
        hour = digits(t + ylen + 4, 2), min = digits(t + ylen + 6, 2), sec = digits(t + ylen + 8, 2);
    if (year < 0 || mon < 1 || mon > 12 || day < 1 || hour < 0 || hour > 23 || min < 0 || min > 59 || sec < 0 ||
        sec > 59)
        return MBEDTLS_ERR_ASN1_INVALID_DATA;
    if (ylen == 2)
        year += year < 50 ? 2000 : 1900;
    static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > mdays[mon - 1] || (mon == 2 && day == 29 && !leap))
        return MBEDTLS_ERR_ASN1_INVALID_DATA;
    struct tm tm = { .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day, .tm_hour = hour, .tm_min = min,
                     .tm_sec = sec };
    *out = (int64_t)timegm(&tm);
    *p += len;
    return 0;
}

/* A Name: SEQUENCE OF SET OF SEQUENCE { OID, value }, each well formed
 * (what mbedTLS's own reader would accept; the text is dn.c's). */
bool crl_asn1_name_ok(unsigned char *p, const unsigned char *end)
{
    size_t len;
    while (p < end) {
        if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SET) != 0 || len == 0)
            return false;
        const unsigned char *set_end = p + len;
        while (p < set_end) {
            if (mbedtls_asn1_get_tag(&p, set_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
                return false;
            const unsigned char *atv_end = p + len;
            if (mbedtls_asn1_get_tag(&p, atv_end, &len, MBEDTLS_ASN1_OID) != 0)
                return false;
            p += len;
            if (atv_end - p < 2 || (*p & MBEDTLS_ASN1_CONSTRUCTED))
                return false;
            p++;
            if (mbedtls_asn1_get_len(&p, atv_end, &len) != 0 || p + len != atv_end)
                return false;
            p += len;
        }
    }
    return true;
}

/* RSASSA-PSS-params (RFC 4055): the hash, the MGF1 hash and the salt
 * length, defaults SHA-1 and 20; mbedTLS's rule that the MGF1 hash is the
 * hash is the caller's. */
static int get_pss_params(const mbedtls_asn1_buf *params, mbedtls_md_type_t *md, mbedtls_md_type_t *mgf_md,
                          int *salt_len)
{
    unsigned char *p = params->p, *end = params->p + params->len;
    size_t len;
    mbedtls_asn1_buf alg, alg_params;
    *md = MBEDTLS_MD_SHA1;
    *mgf_md = MBEDTLS_MD_SHA1;
    *salt_len = 20;
    if (params->tag != (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
        return MBEDTLS_ERR_ASN1_UNEXPECTED_TAG;
    if (p < end && *p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0)) {
        if (mbedtls_asn1_get_tag(&p, end, &len, *p) != 0 || mbedtls_asn1_get_alg_null(&p, p + len, &alg) != 0 ||
            mbedtls_oid_get_md_alg(&alg, md) != 0)
            return MBEDTLS_ERR_ASN1_INVALID_DATA;
    }
    if (p < end && *p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 1)) {
        if (mbedtls_asn1_get_tag(&p, end, &len, *p) != 0)
            return MBEDTLS_ERR_ASN1_INVALID_DATA;
        const unsigned char *mgf_end = p + len;
        if (mbedtls_asn1_get_alg(&p, mgf_end, &alg, &alg_params) != 0 || MBEDTLS_OID_CMP(MBEDTLS_OID_MGF1, &alg) != 0 ||
            alg_params.tag != (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE))
            return MBEDTLS_ERR_ASN1_INVALID_DATA;
        /* The parameters' content: the hash's OID, then NULL or nothing. */
        unsigned char *q = alg_params.p, *q_end = alg_params.p + alg_params.len;
        alg.tag = MBEDTLS_ASN1_OID;
        if (mbedtls_asn1_get_tag(&q, q_end, &alg.len, MBEDTLS_ASN1_OID) != 0)
            return MBEDTLS_ERR_ASN1_INVALID_DATA;
        alg.p = q;
        q += alg.len;
        if (q < q_end && (mbedtls_asn1_get_tag(&q, q_end, &len, MBEDTLS_ASN1_NULL) != 0 || len != 0))
            return MBEDTLS_ERR_ASN1_INVALID_DATA;
        if (q != q_end || mbedtls_oid_get_md_alg(&alg, mgf_md) != 0)
            return MBEDTLS_ERR_ASN1_INVALID_DATA;
    }
    if (p < end && *p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 2)) {
        if (mbedtls_asn1_get_tag(&p, end, &len, *p) != 0 || mbedtls_asn1_get_int(&p, p + len, salt_len) != 0)
            return MBEDTLS_ERR_ASN1_INVALID_DATA;
    }
    if (p < end && *p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 3)) {
        int trailer;
        if (mbedtls_asn1_get_tag(&p, end, &len, *p) != 0 || mbedtls_asn1_get_int(&p, p + len, &trailer) != 0 ||
            trailer != 1)
            return MBEDTLS_ERR_ASN1_INVALID_DATA;
    }
    return p == end ? 0 : MBEDTLS_ERR_ASN1_LENGTH_MISMATCH;
}

/* The signature algorithm: its hash, key type and (RSASSA-PSS) options,
 * allocated into *opts; parameters must be absent or NULL otherwise. */
int crl_asn1_sig_alg(const mbedtls_asn1_buf *oid, const mbedtls_asn1_buf *params, mbedtls_md_type_t *md,
                       mbedtls_pk_type_t *pk, void **opts)
{
    *opts = NULL;
    if (mbedtls_oid_get_sig_alg(oid, md, pk) != 0)
        return MBEDTLS_ERR_ASN1_INVALID_DATA;
    if (*pk == MBEDTLS_PK_RSASSA_PSS) {
        mbedtls_md_type_t mgf_md;
        int salt_len;
        if (get_pss_params(params, md, &mgf_md, &salt_len) != 0 || mgf_md != *md || salt_len < 0)
            return MBEDTLS_ERR_ASN1_INVALID_DATA;
        mbedtls_pk_rsassa_pss_options *o = mbedtls_calloc(1, sizeof *o);
        if (!o)
            return MBEDTLS_ERR_ASN1_ALLOC_FAILED;
        o->mgf1_hash_id = mgf_md;
        o->expected_salt_len = salt_len;
        *opts = o;
        return 0;
    }
    if ((params->tag != MBEDTLS_ASN1_NULL && params->tag != 0) || params->len != 0)
        return MBEDTLS_ERR_ASN1_INVALID_DATA;
    return 0;
}

/* Leading zero bytes of a DER INTEGER's content carry no information. */
void crl_asn1_strip_zeros(const unsigned char **p, size_t *n)
{
    while (*n > 1 && (*p)[0] == 0) {
        (*p)++;
        (*n)--;
    }
}


/* Extensions ::= SEQUENCE OF Extension, at *p (the SEQUENCE tag). */
int crl_asn1_extensions(unsigned char *p, const unsigned char *end, crl_asn1_ext_fn fn, void *ctx)
{
    size_t len;
    int ret;
    if ((ret = mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0)
        return ret;
    end = p + len;
    while (p < end) {
        const unsigned char *ext_end;
        if ((ret = mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0)
            return ret;
        ext_end = p + len;
        size_t oid_len;
        if ((ret = mbedtls_asn1_get_tag(&p, ext_end, &oid_len, MBEDTLS_ASN1_OID)) != 0)
            return ret;
        const unsigned char *oid = p;
        p += oid_len;
        int critical = 0;
        if (p < ext_end && *p == MBEDTLS_ASN1_BOOLEAN &&
            (ret = mbedtls_asn1_get_bool(&p, ext_end, &critical)) != 0)
            return ret;
        size_t vlen;
        if ((ret = mbedtls_asn1_get_tag(&p, ext_end, &vlen, MBEDTLS_ASN1_OCTET_STRING)) != 0)
            return ret;
        if (p + vlen != ext_end)
            return MBEDTLS_ERR_ASN1_LENGTH_MISMATCH;
        if ((ret = fn(ctx, oid, oid_len, critical != 0, p, vlen)) != 0)
            return ret;
        p = (unsigned char *)ext_end;
    }
    return 0;
}

static void url_add(crl_url_list *u, const unsigned char *p, size_t n)
{
    if (u->n >= u->cap || n == 0 || n > 2048)
        return;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] > 0x7e)
            return; /* not a URI we could use (and not one to print) */
    char *s = strndup((const char *)p, n); /* printable ASCII: no NUL inside */
    if (s)
        u->v[u->n++] = s;
}

/* Frees the URLs a distribution point collected (not kept: indirect, or
 * malformed). */
static void url_list_drop(crl_url_list *u)
{
    for (size_t i = 0; i < u->n; i++)
        free(u->v[i]);
    u->n = 0;
}

/* CRLDistributionPoints / FreshestCRL ::= SEQUENCE OF DistributionPoint.
 * A malformed distribution point is an error, and the URLs it had yielded
 * until then are freed: they are not in u, so nobody else would. */
int crl_asn1_dps(unsigned char *p, const unsigned char *end, crl_url_list *u)
{
    size_t len;
    int ret;
    if ((ret = mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0)
        return ret;
    end = p + len;
    while (p < end) {
        if ((ret = mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) != 0)
            return ret;
        unsigned char *dp_end = p + len;
        crl_url_list mine = { .v = u->v + u->n, .cap = u->cap - u->n };
        bool indirect = false;
        while (p < dp_end) {
            unsigned char tag = *p;
            if ((ret = mbedtls_asn1_get_tag(&p, dp_end, &len, tag)) != 0)
                goto bad_dp;
            unsigned char *f_end = p + len;
            if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0)) {
                /* DistributionPointName: fullName [0] GeneralNames */
                unsigned char *q = p;
                if (q < f_end && *q == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0)) {
                    size_t glen;
                    if ((ret = mbedtls_asn1_get_tag(&q, f_end, &glen, *q)) != 0)
                        goto bad_dp;
                    unsigned char *g_end = q + glen;
                    while (q < g_end) {
                        unsigned char gtag = *q;
                        size_t nlen;
                        if ((ret = mbedtls_asn1_get_tag(&q, g_end, &nlen, gtag)) != 0)
                            goto bad_dp;
                        if (gtag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 6)) /* uniformResourceIdentifier */
                            url_add(&mine, q, nlen);
                        q += nlen;
                    }
                }
            } else if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 2)) {
                indirect = true; /* cRLIssuer: the CRL comes from someone else */
            }
            p = f_end;
        }
        if (indirect) {
            url_list_drop(&mine);
            u->indirect = true;
        } else {
            u->n += mine.n;
        }
        continue;
    bad_dp:
        url_list_drop(&mine);
        return ret;
    }
    return 0;
}

typedef struct cert_ext_ctx {
    bool freshest;
    crl_url_list *u;
} cert_ext_ctx;

static int cert_ext(void *ctx, const unsigned char *oid, size_t oid_len, bool critical, unsigned char *val,
                    size_t val_len)
{
    cert_ext_ctx *c = ctx;
    (void)critical;
    if ((!c->freshest && CRL_OID_EQ(CRL_OID_CDP, oid, oid_len)) || (c->freshest && CRL_OID_EQ(CRL_OID_FRESHEST, oid, oid_len)))
        crl_asn1_dps(val, val + val_len, c->u); /* a malformed extension yields no URL */
    return 0;
}

size_t cg_crl_cert_urls(const mbedtls_x509_crt *c, bool freshest, char **out, size_t cap)
{
    crl_url_list u = { .v = out, .cap = cap };
    cert_ext_ctx ctx = { freshest, &u };
    if (!c || !c->v3_ext.p || c->v3_ext.len == 0)
        return 0;
    crl_asn1_extensions(c->v3_ext.p, c->v3_ext.p + c->v3_ext.len, cert_ext, &ctx);
    return u.n;
}