/* The x509 test kit (x509_kit.h): keys, certificates and CRLs made in
 * memory with mbedTLS. Every function aborts on failure. */
#include "x509_kit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/rsa.h>
#include <mbedtls/x509_csr.h>
#include <psa/crypto.h>

#define TK_CHECK(x)                                                                           \
    do {                                                                                      \
        int tk_ret_ = (x);                                                                    \
        if (tk_ret_ < 0) {                                                                    \
            fprintf(stderr, "%s:%d: %s failed: -0x%04x\n", __FILE__, __LINE__, #x, -tk_ret_); \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

int tk_rng(void *unused, unsigned char *out, size_t len)
{
    static bool seeded;
    static mbedtls_entropy_context entropy;
    static mbedtls_ctr_drbg_context drbg;
    (void)unused;
    if (!seeded) {
        /* mbedTLS 3.6: PSA before any key operation (every test's first
         * key or certificate comes through here). */
        if (psa_crypto_init() != PSA_SUCCESS)
            abort();
        mbedtls_entropy_init(&entropy);
        mbedtls_ctr_drbg_init(&drbg);
        TK_CHECK(mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, (const unsigned char *)"tk", 2));
        seeded = true;
    }
    return mbedtls_ctr_drbg_random(&drbg, out, len);
}

/* An EC P-256 key, or RSA of rsa_bits when rsa_bits > 0. */
void tk_key(mbedtls_pk_context *pk, int rsa_bits)
{
    unsigned char warm;
    tk_rng(NULL, &warm, 1); /* seeded, PSA started */
    mbedtls_pk_init(pk);
    if (rsa_bits > 0) {
        TK_CHECK(mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)));
        TK_CHECK(mbedtls_rsa_gen_key(mbedtls_pk_rsa(*pk), tk_rng, NULL, (unsigned)rsa_bits, 65537));
    } else {
        TK_CHECK(mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)));
        TK_CHECK(mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk), tk_rng, NULL));
    }
}

/* "YYYYMMDDHHMMSS" for t (UTC). */
static void tk_time14(int64_t t, char out[15])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 15, "%Y%m%d%H%M%S", &tm);
}

/* ---- DER helpers (mbedTLS writes backwards from the end of a buffer) ---- */

static int tk_w_len_tag(unsigned char **p, unsigned char *start, size_t len, unsigned char tag)
{
    int l1 = mbedtls_asn1_write_len(p, start, len);
    if (l1 < 0)
        return l1;
    int l2 = mbedtls_asn1_write_tag(p, start, tag);
    if (l2 < 0)
        return l2;
    return l1 + l2;
}

/* An INTEGER from big-endian magnitude bytes. */
static int tk_w_uint(unsigned char **p, unsigned char *start, const unsigned char *v, size_t n)
{
    while (n > 1 && v[0] == 0) {
        v++;
        n--;
    }
    if (*p - start < (ptrdiff_t)n + 1)
        return MBEDTLS_ERR_ASN1_BUF_TOO_SMALL;
    *p -= n;
    memcpy(*p, v, n);
    size_t len = n;
    if (v[0] & 0x80) {
        *--(*p) = 0;
        len++;
    }
    int k = tk_w_len_tag(p, start, len, MBEDTLS_ASN1_INTEGER);
    return k < 0 ? k : (int)len + k;
}

static int tk_w_u64(unsigned char **p, unsigned char *start, uint64_t v)
{
    unsigned char b[8];
    for (int i = 7; i >= 0; i--, v >>= 8)
        b[i] = (unsigned char)v;
    return tk_w_uint(p, start, b, 8);
}

/* A Name from mbedtls_x509_string_to_names() (mbedTLS 3.6 keeps its own
 * writer private): one attribute per RDN, in the list's order. */
static int tk_w_names(unsigned char **p, unsigned char *start, const mbedtls_asn1_named_data *names)
{
    size_t len = 0;
    int k;
    for (const mbedtls_asn1_named_data *n = names; n; n = n->next) {
        size_t one = 0;
        if ((k = mbedtls_asn1_write_tagged_string(p, start, n->val.tag, (const char *)n->val.p, n->val.len)) < 0)
            return k;
        one += (size_t)k;
        if ((k = mbedtls_asn1_write_oid(p, start, (const char *)n->oid.p, n->oid.len)) < 0)
            return k;
        one += (size_t)k;
        if ((k = tk_w_len_tag(p, start, one, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) < 0)
            return k;
        one += (size_t)k;
        if ((k = tk_w_len_tag(p, start, one, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SET)) < 0)
            return k;
        len += one + (size_t)k;
    }
    if ((k = tk_w_len_tag(p, start, len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)) < 0)
        return k;
    return (int)(len + (size_t)k);
}

static int tk_w_time(unsigned char **p, unsigned char *start, int64_t t)
{
    char s[16];
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    if (tm.tm_year + 1900 >= 1950 && tm.tm_year + 1900 < 2050) {
        strftime(s, sizeof s, "%y%m%d%H%M%SZ", &tm);
        return mbedtls_asn1_write_tagged_string(p, start, MBEDTLS_ASN1_UTC_TIME, s, strlen(s));
    }
    strftime(s, sizeof s, "%Y%m%d%H%M%SZ", &tm);
    return mbedtls_asn1_write_tagged_string(p, start, MBEDTLS_ASN1_GENERALIZED_TIME, s, strlen(s));
}

/* One Extension: SEQUENCE { OID, [critical BOOLEAN], OCTET STRING value }. */
static int tk_w_ext(unsigned char **p, unsigned char *start, const char *oid, size_t oid_len, bool critical,
                    const unsigned char *val, size_t val_len)
{
    size_t len = 0;
    int k;
    TK_CHECK(k = mbedtls_asn1_write_raw_buffer(p, start, val, val_len));
    len += (size_t)k;
    TK_CHECK(k = tk_w_len_tag(p, start, val_len, MBEDTLS_ASN1_OCTET_STRING));
    len += (size_t)k;
    if (critical) {
        TK_CHECK(k = mbedtls_asn1_write_bool(p, start, 1));
        len += (size_t)k;
    }
    TK_CHECK(k = mbedtls_asn1_write_oid(p, start, oid, oid_len));
    len += (size_t)k;
    TK_CHECK(k = tk_w_len_tag(p, start, len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    return (int)(len + (size_t)k);
}

/* AlgorithmIdentifier: NULL parameters for RSA, none for ECDSA. */
static int tk_w_sigalg(unsigned char **p, unsigned char *start, const char *oid, size_t oid_len, bool null_params)
{
    size_t len = 0;
    int k;
    if (null_params) {
        TK_CHECK(k = mbedtls_asn1_write_null(p, start));
        len += (size_t)k;
    }
    TK_CHECK(k = mbedtls_asn1_write_oid(p, start, oid, oid_len));
    len += (size_t)k;
    TK_CHECK(k = tk_w_len_tag(p, start, len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    return (int)(len + (size_t)k);
}

/* AlgorithmIdentifier of RSASSA-PSS (RFC 4055): SEQUENCE { id-RSASSA-PSS,
 * SEQUENCE { [0] hash, [1] MGF1(mgf), [2] saltLength } }. */
static int tk_w_pss_alg(unsigned char **p, unsigned char *start, mbedtls_md_type_t md, mbedtls_md_type_t mgf,
                        int salt_len)
{
    const char *oid;
    size_t oid_len, len = 0, part;
    int k;
    TK_CHECK(k = mbedtls_asn1_write_int(p, start, salt_len));
    part = (size_t)k;
    TK_CHECK(k = tk_w_len_tag(p, start, part, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 2));
    len += part + (size_t)k;
    TK_CHECK(mbedtls_oid_get_oid_by_md(mgf, &oid, &oid_len));
    TK_CHECK(k = mbedtls_asn1_write_algorithm_identifier(p, start, oid, oid_len, 0));
    part = (size_t)k;
    TK_CHECK(k = mbedtls_asn1_write_algorithm_identifier(p, start, MBEDTLS_OID_MGF1, MBEDTLS_OID_SIZE(MBEDTLS_OID_MGF1),
                                                         part));
    part = (size_t)k;
    TK_CHECK(k = tk_w_len_tag(p, start, part, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 1));
    len += part + (size_t)k;
    TK_CHECK(mbedtls_oid_get_oid_by_md(md, &oid, &oid_len));
    TK_CHECK(k = mbedtls_asn1_write_algorithm_identifier(p, start, oid, oid_len, 0));
    part = (size_t)k;
    TK_CHECK(k = tk_w_len_tag(p, start, part, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0));
    len += part + (size_t)k;
    TK_CHECK(k = tk_w_len_tag(p, start, len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    len += (size_t)k;
    static const char pss_oid[] = MBEDTLS_OID_RSASSA_PSS;
    TK_CHECK(k = mbedtls_asn1_write_algorithm_identifier(p, start, pss_oid, sizeof pss_oid - 1, len));
    return k;
}

/* CRLDistributionPoints / FreshestCRL value for urls (NULL-terminated),
 * one DistributionPoint with every URL as a fullName. Into out (cap bytes);
 * returns the length. */
size_t tk_dp_value(const char *const *urls, unsigned char *out, size_t cap)
{
    unsigned char *start = out, *p = out + cap;
    size_t n = 0, len = 0;
    int k;
    while (urls[n])
        n++;
    for (size_t i = n; i-- > 0;) {
        TK_CHECK(k = mbedtls_asn1_write_raw_buffer(&p, start, (const unsigned char *)urls[i], strlen(urls[i])));
        len += (size_t)k;
        TK_CHECK(k = tk_w_len_tag(&p, start, strlen(urls[i]), MBEDTLS_ASN1_CONTEXT_SPECIFIC | 6));
        len += (size_t)k;
    }
    /* fullName [0] GeneralNames, distributionPoint [0], DistributionPoint SEQUENCE, the SEQUENCE OF */
    TK_CHECK(k = tk_w_len_tag(&p, start, len, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0));
    len += (size_t)k;
    TK_CHECK(k = tk_w_len_tag(&p, start, len, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0));
    len += (size_t)k;
    TK_CHECK(k = tk_w_len_tag(&p, start, len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    len += (size_t)k;
    TK_CHECK(k = tk_w_len_tag(&p, start, len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    len += (size_t)k;
    memmove(out, p, len);
    return len;
}

/* ---- certificates ---- */

/* A parsed certificate (free with tk_cert_free). */
mbedtls_x509_crt *tk_cert(const tk_cert_opts *o)
{
    mbedtls_x509write_cert w;
    mbedtls_mpi serial;
    mbedtls_x509write_crt_init(&w);
    mbedtls_mpi_init(&serial);
    int64_t now = (int64_t)time(NULL);
    char nb[15], na[15];
    tk_time14(o->not_before ? o->not_before : now - 86400, nb);
    tk_time14(o->not_after ? o->not_after : now + 365 * 86400, na);
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, o->md ? o->md : MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, o->key);
    mbedtls_x509write_crt_set_issuer_key(&w, o->issuer_key ? o->issuer_key : o->key);
    TK_CHECK(mbedtls_x509write_crt_set_subject_name(&w, o->subject));
    TK_CHECK(mbedtls_x509write_crt_set_issuer_name(&w, o->issuer ? o->issuer : o->subject));
    TK_CHECK(mbedtls_mpi_read_string(&serial, 10, o->serial ? o->serial : "1"));
    unsigned char serial_raw[20];
    size_t serial_len = mbedtls_mpi_size(&serial);
    if (serial_len == 0 || serial_len > sizeof serial_raw)
        abort();
    TK_CHECK(mbedtls_mpi_write_binary(&serial, serial_raw, serial_len));
    TK_CHECK(mbedtls_x509write_crt_set_serial_raw(&w, serial_raw, serial_len));
    TK_CHECK(mbedtls_x509write_crt_set_validity(&w, nb, na));
    if (o->ca >= 0)
        TK_CHECK(mbedtls_x509write_crt_set_basic_constraints(&w, o->ca, o->ca ? o->pathlen : -1));
    if (o->key_usage)
        TK_CHECK(mbedtls_x509write_crt_set_key_usage(&w, o->key_usage));
    if (o->eku) {
        const char *oid = strcmp(o->eku, "client") == 0   ? MBEDTLS_OID_CLIENT_AUTH
                          : strcmp(o->eku, "server") == 0 ? MBEDTLS_OID_SERVER_AUTH
                                                          : MBEDTLS_OID_EMAIL_PROTECTION;
        unsigned char buf[64], *p = buf + sizeof buf;
        int k1, k2;
        TK_CHECK(k1 = mbedtls_asn1_write_oid(&p, buf, oid, strlen(oid)));
        TK_CHECK(k2 = tk_w_len_tag(&p, buf, (size_t)k1, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
        TK_CHECK(mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                                     MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, p,
                                                     (size_t)(k1 + k2)));
    }
    unsigned char dp[2048];
    if (o->cdp[0]) {
        size_t n = tk_dp_value(o->cdp, dp, sizeof dp);
        TK_CHECK(mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_CRL_DISTRIBUTION_POINTS,
                                                     MBEDTLS_OID_SIZE(MBEDTLS_OID_CRL_DISTRIBUTION_POINTS), 0, dp, n));
    }
    if (o->cdp_raw)
        TK_CHECK(mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_CRL_DISTRIBUTION_POINTS,
                                                     MBEDTLS_OID_SIZE(MBEDTLS_OID_CRL_DISTRIBUTION_POINTS), 0,
                                                     o->cdp_raw, o->cdp_raw_len));
    if (o->freshest[0]) {
        size_t n = tk_dp_value(o->freshest, dp, sizeof dp);
        TK_CHECK(mbedtls_x509write_crt_set_extension(&w, "\x55\x1d\x2e", 3, 0, dp, n));
    }
    if (o->san_dns[0]) {
        mbedtls_x509_san_list san[4];
        size_t n = 0;
        for (; n < 4 && o->san_dns[n]; n++) {
            memset(&san[n], 0, sizeof san[n]);
            san[n].node.type = MBEDTLS_X509_SAN_DNS_NAME;
            san[n].node.san.unstructured_name.p = (unsigned char *)o->san_dns[n];
            san[n].node.san.unstructured_name.len = strlen(o->san_dns[n]);
            san[n].next = n + 1 < 4 && o->san_dns[n + 1] ? &san[n + 1] : NULL;
        }
        TK_CHECK(mbedtls_x509write_crt_set_subject_alternative_name(&w, san));
    }
    unsigned char *der = malloc(8192);
    if (!der)
        abort();
    int len;
    TK_CHECK(len = mbedtls_x509write_crt_der(&w, der, 8192, tk_rng, NULL));
    mbedtls_x509_crt *c = malloc(sizeof *c);
    if (!c)
        abort();
    mbedtls_x509_crt_init(c);
    TK_CHECK(mbedtls_x509_crt_parse_der(c, der + 8192 - len, (size_t)len));
    free(der);
    mbedtls_x509write_crt_free(&w);
    mbedtls_mpi_free(&serial);
    return c;
}

void tk_cert_free(mbedtls_x509_crt *c)
{
    if (c) {
        mbedtls_x509_crt_free(c);
        free(c);
    }
}

/* ---- CRLs ---- */

/* A DER CRL (malloc'd; *len set). */
unsigned char *tk_crl(const tk_crl_opts *o, size_t *out_len)
{
    int64_t now = (int64_t)time(NULL);
    size_t n = o->entries ? o->nentries : (size_t)o->gen_count;
    size_t cap = 8192 + n * 64;
    unsigned char *buf = malloc(cap);
    if (!buf)
        abort();
    unsigned char *start = buf, *p = buf + cap;
    size_t len = 0, l;
    int k;
    mbedtls_md_type_t md = o->md ? o->md : MBEDTLS_MD_SHA256;

    /* crlExtensions [0] EXPLICIT */
    size_t ext = 0;
    if (o->unknown_critical) {
        static const unsigned char v[] = { 0x05, 0x00 };
        TK_CHECK(k = tk_w_ext(&p, start, "\x2b\x06\x01\x04\x01\x82\x37\x63\x01", 9, true, v, sizeof v));
        ext += (size_t)k;
    }
    if (o->freshest[0]) {
        unsigned char dp[2048];
        size_t dn = tk_dp_value(o->freshest, dp, sizeof dp);
        TK_CHECK(k = tk_w_ext(&p, start, "\x55\x1d\x2e", 3, false, dp, dn));
        ext += (size_t)k;
    } else if (o->freshest_raw) {
        TK_CHECK(k = tk_w_ext(&p, start, "\x55\x1d\x2e", 3, false, o->freshest_raw, o->freshest_raw_len));
        ext += (size_t)k;
    }
    if (o->idp) {
        unsigned char v[32], *q = v + sizeof v;
        size_t vl = 0;
        static const unsigned char t[] = { 0xff };
        if (o->idp & 8) {
            TK_CHECK(k = mbedtls_asn1_write_raw_buffer(&q, v, t, 1));
            TK_CHECK(k += tk_w_len_tag(&q, v, 1, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 4));
            vl += (size_t)k;
        }
        if (o->idp & 4) {
            static const unsigned char bits[] = { 0x07, 0x80 };
            TK_CHECK(k = mbedtls_asn1_write_raw_buffer(&q, v, bits, 2));
            TK_CHECK(k += tk_w_len_tag(&q, v, 2, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 3));
            vl += (size_t)k;
        }
        if (o->idp & 2) {
            TK_CHECK(k = mbedtls_asn1_write_raw_buffer(&q, v, t, 1));
            TK_CHECK(k += tk_w_len_tag(&q, v, 1, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2));
            vl += (size_t)k;
        }
        if (o->idp & 1) {
            TK_CHECK(k = mbedtls_asn1_write_raw_buffer(&q, v, t, 1));
            TK_CHECK(k += tk_w_len_tag(&q, v, 1, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 1));
            vl += (size_t)k;
        }
        TK_CHECK(k = tk_w_len_tag(&q, v, vl, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
        vl += (size_t)k;
        TK_CHECK(k = tk_w_ext(&p, start, "\x55\x1d\x1c", 3, true, q, vl));
        ext += (size_t)k;
    }
    if (o->delta) {
        unsigned char v[16], *q = v + sizeof v;
        int vl;
        TK_CHECK(vl = tk_w_u64(&q, v, o->base_number));
        TK_CHECK(k = tk_w_ext(&p, start, "\x55\x1d\x1b", 3, true, q, (size_t)vl));
        ext += (size_t)k;
    }
    if (o->number) {
        unsigned char v[16], *q = v + sizeof v;
        int vl;
        TK_CHECK(vl = tk_w_u64(&q, v, o->number));
        TK_CHECK(k = tk_w_ext(&p, start, "\x55\x1d\x14", 3, false, q, (size_t)vl));
        ext += (size_t)k;
    }
    if (ext) {
        TK_CHECK(k = tk_w_len_tag(&p, start, ext, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
        ext += (size_t)k;
        TK_CHECK(k = tk_w_len_tag(&p, start, ext, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0));
        ext += (size_t)k;
        len += ext;
    }
    /* revokedCertificates, written last entry first */
    if (n) {
        size_t list = 0;
        for (size_t i = n; i-- > 0;) {
            tk_crl_entry gen = { .serial = o->gen_first + i * (o->gen_step ? o->gen_step : 1), .reason = -1 };
            const tk_crl_entry *e = o->entries ? &o->entries[i] : &gen;
            l = 0;
            if (e->reason >= 0) {
                unsigned char v[8], *q = v + sizeof v;
                int vl;
                TK_CHECK(vl = mbedtls_asn1_write_enum(&q, v, e->reason));
                TK_CHECK(k = tk_w_ext(&p, start, "\x55\x1d\x15", 3, false, q, (size_t)vl));
                l += (size_t)k;
                TK_CHECK(k = tk_w_len_tag(&p, start, l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
                l += (size_t)k;
            }
            TK_CHECK(k = tk_w_time(&p, start, e->when ? e->when : now - 3600));
            l += (size_t)k;
            if (e->serial_bytes)
                TK_CHECK(k = tk_w_uint(&p, start, e->serial_bytes, e->serial_len));
            else
                TK_CHECK(k = tk_w_u64(&p, start, e->serial));
            l += (size_t)k;
            TK_CHECK(k = tk_w_len_tag(&p, start, l, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
            l += (size_t)k;
            list += l;
        }
        TK_CHECK(k = tk_w_len_tag(&p, start, list, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
        len += list + (size_t)k;
    }
    if (o->next_update >= 0) {
        TK_CHECK(k = tk_w_time(&p, start, o->next_update ? o->next_update : now + 86400));
        len += (size_t)k;
    }
    TK_CHECK(k = tk_w_time(&p, start, o->this_update ? o->this_update : now - 3600));
    len += (size_t)k;
    mbedtls_asn1_named_data *names = NULL;
    TK_CHECK(mbedtls_x509_string_to_names(&names, o->issuer));
    TK_CHECK(k = tk_w_names(&p, start, names));
    len += (size_t)k;
    mbedtls_asn1_free_named_data_list(&names);
    const char *sig_oid = NULL;
    size_t sig_oid_len = 0;
    mbedtls_pk_type_t pkt = mbedtls_pk_get_type(o->key) == MBEDTLS_PK_RSA ? MBEDTLS_PK_RSA : MBEDTLS_PK_ECDSA;
    bool pss = o->pss && pkt == MBEDTLS_PK_RSA;
    mbedtls_md_type_t mgf = o->pss == 2 ? (md == MBEDTLS_MD_SHA384 ? MBEDTLS_MD_SHA256 : MBEDTLS_MD_SHA384) : md;
    int salt_len = (int)mbedtls_md_get_size(mbedtls_md_info_from_type(md));
    if (pss) {
        TK_CHECK(k = tk_w_pss_alg(&p, start, md, mgf, salt_len));
    } else {
        TK_CHECK(mbedtls_oid_get_oid_by_sig_alg(pkt, md, &sig_oid, &sig_oid_len));
        TK_CHECK(k = tk_w_sigalg(&p, start, sig_oid, sig_oid_len, pkt == MBEDTLS_PK_RSA));
    }
    len += (size_t)k;
    TK_CHECK(k = mbedtls_asn1_write_int(&p, start, 1));
    len += (size_t)k;
    TK_CHECK(k = tk_w_len_tag(&p, start, len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    len += (size_t)k;
    unsigned char *tbs = p;
    size_t tbs_len = len;

    unsigned char hash[MBEDTLS_MD_MAX_SIZE], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t sig_len;
    const mbedtls_md_info_t *mi = mbedtls_md_info_from_type(md);
    TK_CHECK(mbedtls_md(mi, tbs, tbs_len, hash));
    if (pss)
        TK_CHECK(mbedtls_pk_sign_ext(MBEDTLS_PK_RSASSA_PSS, o->key, md, hash, mbedtls_md_get_size(mi), sig, sizeof sig,
                                     &sig_len, tk_rng, NULL));
    else
        TK_CHECK(mbedtls_pk_sign(o->key, md, hash, mbedtls_md_get_size(mi), sig, sizeof sig, &sig_len, tk_rng, NULL));

    /* CertificateList: tbs, algorithm, signature; built behind tbs in a second buffer */
    size_t cap2 = tbs_len + 1024;
    unsigned char *out = malloc(cap2);
    if (!out)
        abort();
    unsigned char *q = out + cap2;
    size_t olen = 0;
    TK_CHECK(k = mbedtls_asn1_write_bitstring(&q, out, sig, sig_len * 8));
    olen += (size_t)k;
    if (pss)
        TK_CHECK(k = tk_w_pss_alg(&q, out, md, mgf, salt_len));
    else
        TK_CHECK(k = tk_w_sigalg(&q, out, sig_oid, sig_oid_len, pkt == MBEDTLS_PK_RSA));
    olen += (size_t)k;
    TK_CHECK(k = mbedtls_asn1_write_raw_buffer(&q, out, tbs, tbs_len));
    olen += (size_t)k;
    TK_CHECK(k = tk_w_len_tag(&q, out, olen, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
    olen += (size_t)k;
    memmove(out, q, olen);
    free(buf);
    *out_len = olen;
    return out;
}
