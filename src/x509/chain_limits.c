#include "chain_limits.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/bignum.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/ssl.h>

#include "verify.h"
#include "base/base.h"

static size_t get24(const unsigned char *p) { return (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2]; }

long cg_chain_msg_split(const unsigned char *msg, size_t len, cg_chain_span *out, size_t cap)
{
    /* type(1) length(3) | certificate_list length(3) | { length(3) DER }* */
    if (!msg || len < 7 || msg[0] != MBEDTLS_SSL_HS_CERTIFICATE)
        return -1;
    if (get24(msg + 1) != len - 4 || get24(msg + 4) != len - 7)
        return -1;
    long n = 0;
    size_t p = 7;
    while (p < len) {
        if (len - p < 3)
            return -1;
        size_t cl = get24(msg + p);
        p += 3;
        if (cl == 0 || cl > len - p)
            return -1;
        if ((size_t)n < cap)
            out[n] = (cg_chain_span){ .off = p, .len = cl };
        n++;
        p += cl;
    }
    return n;
}

static bool is_text(int tag) { return tag == MBEDTLS_ASN1_UTF8_STRING || tag == MBEDTLS_ASN1_PRINTABLE_STRING; }

static bool bytes_eq(const mbedtls_x509_buf *a, const mbedtls_x509_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

bool cg_chain_names_match(const mbedtls_x509_name *a, const mbedtls_x509_name *b)
{
    /* mbedTLS's x509_name_cmp rule, which decides candidate parents. */
    for (; a || b; a = a->next, b = b->next) {
        if (!a || !b)
            return false;
        if (a->oid.tag != b->oid.tag || !bytes_eq(&a->oid, &b->oid))
            return false;
        bool same = a->val.tag == b->val.tag && bytes_eq(&a->val, &b->val);
        if (!same && !(is_text(a->val.tag) && is_text(b->val.tag) && a->val.len == b->val.len &&
                       cg_ascii_ieq((const char *)a->val.p, (const char *)b->val.p, a->val.len)))
            return false;
        /* Private in mbedTLS 3.6, no accessor: whether the next attribute
         * belongs to the same RDN, part of what mbedTLS compares. */
        if (a->MBEDTLS_PRIVATE(next_merged) != b->MBEDTLS_PRIVATE(next_merged))
            return false;
    }
    return true;
}

static bool same_der(const mbedtls_x509_crt *a, const mbedtls_x509_crt *b) { return bytes_eq(&a->raw, &b->raw); }

static bool in_trust(const cg_chain_limits *lim, const mbedtls_x509_crt *c)
{
    for (const mbedtls_x509_crt *t = lim->trust; t && t->raw.p; t = t->next)
        if (same_der(t, c))
            return true;
    return false;
}

static const mbedtls_x509_crt *trusted_named(const cg_chain_limits *lim, const mbedtls_x509_name *name)
{
    for (const mbedtls_x509_crt *t = lim->trust; t && t->raw.p; t = t->next)
        if (cg_chain_names_match(&t->subject, name))
            return t;
    return NULL;
}

static bool valid_now(const mbedtls_x509_crt *c)
{
    return !mbedtls_x509_time_is_past(&c->valid_to) && !mbedtls_x509_time_is_future(&c->valid_from);
}

typedef struct parsed {
    mbedtls_x509_crt crt[CG_CHAIN_MAX_CERTIFICATES_LIMIT];
    bool ok[CG_CHAIN_MAX_CERTIFICATES_LIMIT];
    size_t n;
} parsed;

/* The chain judged: the certificates in the client's order; NULL for one
 * that did not parse. */
typedef struct chain_view {
    const mbedtls_x509_crt *crt[CG_CHAIN_MAX_CERTIFICATES_LIMIT];
    size_t n;
} chain_view;

/* The parent mbedTLS would pick for crt[i] among the later certificates:
 * the first valid in time, else the first, that is a CA with the name. */
static long next_on_path(const chain_view *cv, size_t i)
{
    long fallback = -1;
    for (size_t j = i + 1; j < cv->n; j++) {
        if (!cv->crt[j] || !cg_cert_is_ca(cv->crt[j]) || !cg_chain_names_match(&cv->crt[i]->issuer, &cv->crt[j]->subject))
            continue;
        if (valid_now(cv->crt[j]))
            return (long)j;
        if (fallback < 0)
            fallback = (long)j;
    }
    return fallback;
}

/* The size of an RSA key's public exponent in bits (0 for other keys). */
static size_t rsa_exponent_bits(const mbedtls_x509_crt *c)
{
    if (mbedtls_pk_get_type(&c->pk) != MBEDTLS_PK_RSA)
        return 0;
    mbedtls_mpi e;
    mbedtls_mpi_init(&e);
    size_t bits = mbedtls_rsa_export(mbedtls_pk_rsa(c->pk), NULL, NULL, NULL, NULL, &e) == 0 ? mbedtls_mpi_bitlen(&e) : 0;
    mbedtls_mpi_free(&e);
    return bits;
}

static cg_chain_verdict judge(const chain_view *cv, const cg_chain_limits *lim, char *why, size_t cap)
{
    char name[256];
    for (size_t i = 0; i < cv->n; i++) {
        if (!cv->crt[i])
            continue;
        size_t bits = rsa_exponent_bits(cv->crt[i]);
        if (bits > CG_CHAIN_RSA_EXPONENT_BITS) {
            cg_cert_subject(cv->crt[i], name, sizeof name);
            snprintf(why, cap,
                     "The client sent the certificate \"%s\" (position %zu of its chain) with an RSA public exponent "
                     "of %zu bits; certgate accepts at most %d (a larger one makes each signature check as slow as "
                     "a private-key operation). The chain was not verified.",
                     name, i + 1, bits, CG_CHAIN_RSA_EXPONENT_BITS);
            return CG_CHAIN_OVER;
        }
    }
    for (size_t i = 0; i < cv->n; i++) {
        if (!cv->crt[i])
            continue;
        size_t same = 0;
        for (size_t j = 0; j < cv->n; j++)
            if (cv->crt[j] && cg_chain_names_match(&cv->crt[i]->subject, &cv->crt[j]->subject))
                same++;
        if (same <= CG_CHAIN_SAME_NAME_MAX)
            continue;
        const mbedtls_x509_crt *t = trusted_named(lim, &cv->crt[i]->subject);
        cg_cert_subject(t ? t : cv->crt[i], name, sizeof name);
        snprintf(why, cap,
                 "The client's chain holds %zu certificates named like the %s \"%s\" (at most %d may share a "
                 "name: each is a candidate issuer that costs a signature check). The chain was not verified.",
                 same, t ? "trusted CA" : "CA", name, CG_CHAIN_SAME_NAME_MAX);
        return CG_CHAIN_OVER;
    }
    /* The path by names, as mbedTLS follows it; a copy of a trust-list
     * certificate ends it (mbedTLS finds the trusted one first). */
    unsigned depth = 1;
    for (long i = 0; cv->n > 0 && cv->crt[0];) {
        long j = next_on_path(cv, (size_t)i);
        if (j < 0 || in_trust(lim, cv->crt[j]))
            break;
        depth++;
        i = j;
    }
    unsigned max_depth = lim->max_depth ? lim->max_depth : CG_VERIFY_DEFAULT_DEPTH;
    if (depth + 1 > max_depth) {
        snprintf(why, cap,
                 "The client's certificates form a chain of %u certificates before its trust anchor; listener "
                 "\"%s\" accepts at most %u with the anchor (listeners[%s].tls.max_chain_depth). The chain was "
                 "not verified.",
                 depth, lim->listener ? lim->listener : "", max_depth, lim->listener ? lim->listener : "");
        return CG_CHAIN_OVER;
    }
    return CG_CHAIN_WITHIN;
}

static void count_sentence(long n, unsigned max, const cg_chain_limits *lim, char *why, size_t why_cap)
{
    snprintf(why, why_cap,
             "The client sent %ld certificates in its chain; listener \"%s\" accepts at most %u "
             "(listeners[%s].tls.max_client_certificates). The chain was not verified.",
             n, lim->listener ? lim->listener : "", max, lim->listener ? lim->listener : "");
}

static unsigned max_certificates(const cg_chain_limits *lim)
{
    unsigned max = lim->max_certificates ? lim->max_certificates : CG_CHAIN_DEFAULT_MAX_CERTIFICATES;
    return max > CG_CHAIN_MAX_CERTIFICATES_LIMIT ? CG_CHAIN_MAX_CERTIFICATES_LIMIT : max;
}

cg_chain_verdict cg_chain_limits_check(const unsigned char *msg, size_t len, const cg_chain_limits *lim,
                                       char *why, size_t why_cap, mbedtls_x509_crt *leaf)
{
    cg_chain_span spans[CG_CHAIN_MAX_CERTIFICATES_LIMIT];
    long n = cg_chain_msg_split(msg, len, spans, CG_CHAIN_MAX_CERTIFICATES_LIMIT);
    if (n < 0)
        return CG_CHAIN_MALFORMED;
    if (n == 0)
        return CG_CHAIN_WITHIN; /* no certificate: the verdict says 403.7 */
    unsigned max = max_certificates(lim);
    cg_chain_verdict v;
    if ((unsigned long)n > max) {
        count_sentence(n, max, lim, why, why_cap);
        v = CG_CHAIN_OVER;
    } else {
        /* Parsing (no signature checked) costs ~10-30 us a certificate. */
        static _Thread_local parsed ps;
        chain_view cv = { .n = (size_t)n };
        ps.n = (size_t)n;
        for (size_t i = 0; i < ps.n; i++) {
            mbedtls_x509_crt_init(&ps.crt[i]);
            ps.ok[i] = mbedtls_x509_crt_parse_der_nocopy(&ps.crt[i], msg + spans[i].off, spans[i].len) == 0;
            cv.crt[i] = ps.ok[i] ? &ps.crt[i] : NULL;
        }
        v = judge(&cv, lim, why, why_cap);
        for (size_t i = 0; i < ps.n; i++)
            mbedtls_x509_crt_free(&ps.crt[i]);
    }
    if (v == CG_CHAIN_OVER && leaf && mbedtls_x509_crt_parse_der(leaf, msg + spans[0].off, spans[0].len) != 0) {
        mbedtls_x509_crt_free(leaf);
        mbedtls_x509_crt_init(leaf);
    }
    return v;
}

cg_chain_verdict cg_chain_limits_check_chain(const mbedtls_x509_crt *chain, const cg_chain_limits *lim, char *why,
                                             size_t why_cap)
{
    chain_view cv = { .n = 0 };
    long n = 0;
    for (const mbedtls_x509_crt *c = chain; c && c->raw.p; c = c->next) {
        if (n < CG_CHAIN_MAX_CERTIFICATES_LIMIT)
            cv.crt[n] = c;
        n++;
    }
    if (n == 0)
        return CG_CHAIN_WITHIN;
    unsigned max = max_certificates(lim);
    if ((unsigned long)n > max) {
        count_sentence(n, max, lim, why, why_cap);
        return CG_CHAIN_OVER;
    }
    cv.n = (size_t)n;
    return judge(&cv, lim, why, why_cap);
}
