/* Revocation (crl.h): CRL parsing, the process-wide store and its files,
 * per-worker fetchers (libcurl multi-socket on libuv), and the chain check.
 *
 * Layout of this file:
 *   1. helpers, DER parsing of CRLs and of certificate extensions
 *   2. the store: CRLs by issuer, verification memo, persistence, crl_files
 *   3. the fetcher: jobs, transfers, parsing on the thread pool, sharing
 *   4. the check: one per connection verdict
 *
 * Why not mbedtls_x509_crl_parse(): mbedTLS 2.28 refuses every critical CRL
 * extension, and both the delta CRL indicator and the issuing distribution
 * point are critical (RFC 5280 5.2.4, 5.2.5); it also allocates one list node
 * per entry and looks serials up linearly. This parser keeps the DER, builds
 * a sorted 16-byte index per entry (binary search), and uses mbedTLS only for
 * the ASN.1 primitives, names, times, signature algorithms and crypto.
 */
#include "crl.h"
#include "crl_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <mbedtls/asn1.h>
#include <mbedtls/base64.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/platform.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509.h>

#include "log.h"
#include "tls.h"
#include "verify.h"

/* ======================================================================
 * 1. helpers and DER parsing
 * ====================================================================== */

/* Clock skew tolerated on thisUpdate (a CRL issued "in the future"). */
#define CRL_SKEW_S 300

static int64_t now_s(void) { return (int64_t)time(NULL); }

static int64_t x509_time_epoch(const mbedtls_x509_time *t)
{
    struct tm tm = { 0 };
    tm.tm_year = t->year - 1900;
    tm.tm_mon = t->mon - 1;
    tm.tm_mday = t->day;
    tm.tm_hour = t->hour;
    tm.tm_min = t->min;
    tm.tm_sec = t->sec;
    return (int64_t)timegm(&tm);
}

static void fmt_time(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        snprintf(out, cap, "?");
        return;
    }
    strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

static void fmt_size(uint64_t v, char *out, size_t cap)
{
    if (v >= (1u << 30) && v % (1u << 30) == 0)
        snprintf(out, cap, "%" PRIu64 " GiB", v >> 30);
    else if (v >= (1u << 20) && v % (1u << 20) == 0)
        snprintf(out, cap, "%" PRIu64 " MiB", v >> 20);
    else if (v >= 1024 && v % 1024 == 0)
        snprintf(out, cap, "%" PRIu64 " KiB", v >> 10);
    else
        snprintf(out, cap, "%" PRIu64 " bytes", v);
}

static void fmt_ms(uint32_t ms, char *out, size_t cap)
{
    if (ms % 1000 == 0)
        snprintf(out, cap, "%us", ms / 1000);
    else
        snprintf(out, cap, "%ums", ms);
}

static void hex(const unsigned char *p, size_t n, char *out, size_t cap)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t o = 0;
    if (!cap)
        return;
    for (size_t i = 0; i < n && o + 2 < cap; i++) {
        out[o++] = digits[p[i] >> 4];
        out[o++] = digits[p[i] & 15];
    }
    out[o] = '\0';
}

static void sha256(const void *p, size_t n, unsigned char out[32])
{
    mbedtls_sha256_ret(p, n, out, 0);
}

static char *xstrndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static char **dup_strv(char *const *v, size_t n)
{
    char **d = calloc(n ? n : 1, sizeof *d);
    if (!d)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(d[i] = strdup(v[i]))) {
            free_strv(d, i);
            return NULL;
        }
    return d;
}

/* Appends with truncation ("..." when it does not fit); returns the length. */
static size_t append(char *out, size_t cap, size_t len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static size_t append(char *out, size_t cap, size_t len, const char *fmt, ...)
{
    if (len >= cap)
        return len;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(out + len, cap - len, fmt, ap);
    va_end(ap);
    if (k < 0)
        return len;
    if ((size_t)k >= cap - len) {
        if (cap >= 4)
            memcpy(out + cap - 4, "...", 4);
        return cap;
    }
    return len + (size_t)k;
}

static bool starts_with_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Leading zero bytes of a DER INTEGER's content carry no information. */
static void strip_zeros(const unsigned char **p, size_t *n)
{
    while (*n > 1 && (*p)[0] == 0) {
        (*p)++;
        (*n)--;
    }
}

#define OID_EQ(lit, buf, len) ((len) == sizeof(lit) - 1 && memcmp((buf), (lit), (len)) == 0)
#define OID_CRL_NUMBER "\x55\x1d\x14"
#define OID_REASON_CODE "\x55\x1d\x15"
#define OID_INVALIDITY_DATE "\x55\x1d\x18"
#define OID_DELTA_INDICATOR "\x55\x1d\x1b"
#define OID_IDP "\x55\x1d\x1c"
#define OID_CERT_ISSUER "\x55\x1d\x1d"
#define OID_CDP "\x55\x1d\x1f"
#define OID_AKI "\x55\x1d\x23"
#define OID_FRESHEST "\x55\x1d\x2e"

typedef int (*ext_fn)(void *ctx, const unsigned char *oid, size_t oid_len, bool critical, unsigned char *val,
                      size_t val_len);

/* Extensions ::= SEQUENCE OF Extension, at *p (the SEQUENCE tag). */
static int walk_extensions(unsigned char *p, const unsigned char *end, ext_fn fn, void *ctx)
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

typedef struct url_list {
    char **v;
    size_t n, cap;
    bool indirect; /* a distribution point named a cRLIssuer (skipped) */
} url_list;

static void url_add(url_list *u, const unsigned char *p, size_t n)
{
    if (u->n >= u->cap || n == 0 || n > 2048)
        return;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] > 0x7e)
            return; /* not a URI we could use (and not one to print) */
    char *s = xstrndup((const char *)p, n);
    if (s)
        u->v[u->n++] = s;
}

/* Frees the URLs a distribution point collected (not kept: indirect, or
 * malformed). */
static void url_list_drop(url_list *u)
{
    for (size_t i = 0; i < u->n; i++)
        free(u->v[i]);
    u->n = 0;
}

/* CRLDistributionPoints / FreshestCRL ::= SEQUENCE OF DistributionPoint.
 * A malformed distribution point is an error, and the URLs it had yielded
 * until then are freed: they are not in u, so nobody else would. */
static int parse_dps(unsigned char *p, const unsigned char *end, url_list *u)
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
        url_list mine = { .v = u->v + u->n, .cap = u->cap - u->n };
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
    url_list *u;
} cert_ext_ctx;

static int cert_ext(void *ctx, const unsigned char *oid, size_t oid_len, bool critical, unsigned char *val,
                    size_t val_len)
{
    cert_ext_ctx *c = ctx;
    (void)critical;
    if ((!c->freshest && OID_EQ(OID_CDP, oid, oid_len)) || (c->freshest && OID_EQ(OID_FRESHEST, oid, oid_len)))
        parse_dps(val, val + val_len, c->u); /* a malformed extension yields no URL */
    return 0;
}

size_t cg_crl_cert_urls(const mbedtls_x509_crt *c, bool freshest, char **out, size_t cap)
{
    url_list u = { .v = out, .cap = cap };
    cert_ext_ctx ctx = { freshest, &u };
    if (!c || !c->v3_ext.p || c->v3_ext.len == 0)
        return 0;
    walk_extensions(c->v3_ext.p, c->v3_ext.p + c->v3_ext.len, cert_ext, &ctx);
    return u.n;
}

/* ---- CRL parsing ---- */

typedef struct parse_ctx {
    crl *c;
    char *err;
    size_t err_cap;
    url_list fresh;
    char *fresh_v[8];
} parse_ctx;

static void oid_text(const unsigned char *oid, size_t len, char *out, size_t cap)
{
    mbedtls_x509_buf b = { .tag = MBEDTLS_ASN1_OID, .len = len, .p = (unsigned char *)oid };
    if (mbedtls_oid_get_numeric_string(out, cap, &b) < 0)
        snprintf(out, cap, "?");
}

static int get_integer_bytes(unsigned char *val, size_t val_len, unsigned char *out, size_t cap, size_t *n)
{
    unsigned char *p = val;
    size_t len;
    int ret = mbedtls_asn1_get_tag(&p, val + val_len, &len, MBEDTLS_ASN1_INTEGER);
    if (ret)
        return ret;
    const unsigned char *q = p;
    strip_zeros(&q, &len);
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
    if (OID_EQ(OID_CRL_NUMBER, oid, oid_len)) {
        ret = get_integer_bytes(val, val_len, c->number, sizeof c->number, &c->number_len);
    } else if (OID_EQ(OID_DELTA_INDICATOR, oid, oid_len)) {
        c->is_delta = true;
        ret = get_integer_bytes(val, val_len, c->base_number, sizeof c->base_number, &c->base_len);
    } else if (OID_EQ(OID_IDP, oid, oid_len)) {
        ret = parse_idp(val, val + val_len, &c->idp);
    } else if (OID_EQ(OID_FRESHEST, oid, oid_len)) {
        ret = parse_dps(val, val + val_len, &pc->fresh);
    } else if (OID_EQ(OID_AKI, oid, oid_len)) {
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
        oid_text(oid, oid_len, o, sizeof o);
        snprintf(pc->err, pc->err_cap, "the CRL has an unsupported critical extension (OID %s)", o);
        return -1;
    }
    if (ret) {
        char o[64];
        oid_text(oid, oid_len, o, sizeof o);
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
    if (OID_EQ(OID_REASON_CODE, oid, oid_len)) {
        unsigned char *p = val;
        int v;
        if (mbedtls_asn1_get_enum(&p, val + val_len, &v) != 0 || v < 0 || v > 10) {
            snprintf(ec->pc->err, ec->pc->err_cap, "not a valid CRL: malformed reasonCode in an entry");
            return -1;
        }
        ec->reason = (uint8_t)v;
    } else if (OID_EQ(OID_CERT_ISSUER, oid, oid_len)) {
        snprintf(ec->pc->err, ec->pc->err_cap,
                 "the CRL is an indirect CRL (entries with certificateIssuer), which certgate does not support");
        return -1;
    } else if (critical && !OID_EQ(OID_INVALIDITY_DATE, oid, oid_len)) {
        char o[64];
        oid_text(oid, oid_len, o, sizeof o);
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

static bool is_time_tag(unsigned char t) { return t == MBEDTLS_ASN1_UTC_TIME || t == MBEDTLS_ASN1_GENERALIZED_TIME; }

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
    mbedtls_x509_time tm;
    mbedtls_x509_name name;
    memset(&name, 0, sizeof name);

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
    if (mbedtls_x509_get_alg(&p, tbs_end, &alg1, &params1) != 0)
        FAIL("no signature algorithm");
    {
        unsigned char *name_start = p;
        if (mbedtls_asn1_get_tag(&p, tbs_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
            FAIL("no issuer name");
        unsigned char *q = p;
        p += len;
        c->issuer_off = (size_t)(name_start - der);
        c->issuer_len = (size_t)(p - name_start);
        if (mbedtls_x509_get_name(&q, p, &name) != 0)
            FAIL("malformed issuer name");
        if (mbedtls_x509_dn_gets(c->issuer, sizeof c->issuer, &name) < 0)
            snprintf(c->issuer, sizeof c->issuer, "(unprintable issuer)");
        sha256(name_start, c->issuer_len, c->dn_hash);
    }
    if (mbedtls_x509_get_time(&p, tbs_end, &tm) != 0)
        FAIL("malformed thisUpdate");
    c->this_update = x509_time_epoch(&tm);
    if (p < tbs_end && is_time_tag(*p)) {
        if (mbedtls_x509_get_time(&p, tbs_end, &tm) != 0)
            FAIL("malformed nextUpdate");
        c->next_update = x509_time_epoch(&tm);
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
            strip_zeros(&serial, &slen);
            if (slen > 255)
                FAIL("an entry serial number longer than 255 bytes");
            if (mbedtls_x509_get_time(&p, e_end, &tm) != 0)
                FAIL("malformed entry revocationDate");
            entry_ctx ec = { &pc, CRL_REASON_NONE };
            if (p < e_end) {
                if (walk_extensions(p, e_end, entry_ext, &ec) != 0) {
                    if (err[0])
                        goto fail;
                    FAIL("malformed entry extensions");
                }
            }
            p = e_end;
            if (c->nents == ents_cap) {
                size_t ncap = ents_cap ? ents_cap * 2 : 256;
                crl_entry *ne = realloc(c->ents, ncap * sizeof *ne);
                if (!ne)
                    FAIL("out of memory");
                c->ents = ne;
                ents_cap = ncap;
            }
            crl_entry *e = &c->ents[c->nents++];
            e->off = (uint32_t)(serial - der);
            e->len = (uint8_t)slen;
            e->reason = ec.reason;
            e->pad = 0;
            e->revoked = x509_time_epoch(&tm);
        }
    }
    if (p < tbs_end && *p == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0)) {
        if (mbedtls_asn1_get_tag(&p, tbs_end, &len, *p) != 0)
            FAIL("malformed crlExtensions");
        if (walk_extensions(p, p + len, crl_ext, &pc) != 0) {
            if (err[0])
                goto fail;
            FAIL("malformed crlExtensions");
        }
        p += len;
    }
    if (p != tbs_end)
        FAIL("unexpected data in tbsCertList");
    if (mbedtls_x509_get_alg(&p, end, &alg2, &params2) != 0)
        FAIL("no outer signature algorithm");
    if (alg1.len != alg2.len || memcmp(alg1.p, alg2.p, alg1.len) != 0 || params1.len != params2.len ||
        (params1.len && memcmp(params1.p, params2.p, params1.len) != 0))
        FAIL("the two signature algorithms differ");
    if (mbedtls_x509_get_sig(&p, end, &sig) != 0)
        FAIL("no signature");
    if (p != end)
        FAIL("trailing data");
    if (mbedtls_x509_get_sig_alg(&alg1, &params1, &c->md, &c->pk, &c->sig_opts) != 0) {
        char o[64];
        oid_text(alg1.p, alg1.len, o, sizeof o);
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
    sha256(der, der_len, c->content_hash);
    for (mbedtls_x509_name *n = name.next, *next; n; n = next) {
        next = n->next;
        mbedtls_free(n);
    }
    return c;
#undef FAIL

bad:
    describe_non_crl(der, der_len, what, err, cap);
fail:
    for (mbedtls_x509_name *n = name.next, *next; n; n = next) {
        next = n->next;
        mbedtls_free(n);
    }
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
        size_t dlen = pem_ctx.buflen;
        const unsigned char *d = pem_ctx.buf;
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
    free_strv(c->freshest, c->nfreshest);
    free_strv(c->urls, c->nurls);
    free(c->spki);
    mbedtls_free(c->sig_opts);
    free(c);
}

const crl_entry *crl_find(const crl *c, const unsigned char *serial, size_t len)
{
    strip_zeros(&serial, &len);
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
    fmt_time(c->this_update, out->this_update, sizeof out->this_update);
    if (c->next_update)
        fmt_time(c->next_update, out->next_update, sizeof out->next_update);
    hex(c->number, c->number_len, out->number, sizeof out->number);
    snprintf(out->signature, sizeof out->signature, "%s with %s", pk_text(c->pk), md_text(c->md));
    out->entries = c->nents;
}

void crl_issuer_id(const mbedtls_x509_crt *issuer, unsigned char out[32])
{
    mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    mbedtls_sha256_starts_ret(&ctx, 0);
    mbedtls_sha256_update_ret(&ctx, issuer->subject_raw.p, issuer->subject_raw.len);
    mbedtls_sha256_update_ret(&ctx, issuer->pk_raw.p, issuer->pk_raw.len);
    mbedtls_sha256_finish_ret(&ctx, out);
    mbedtls_sha256_free(&ctx);
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

/* ---- transfer errors ---- */

void crl_transfer_error(CURLcode code, long os_errno, const char *errbuf, long redirects_max, uint32_t timeout_ms,
                        uint64_t max_size, char *out, size_t cap)
{
    char t[32], sz[32];
    const char *detail = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(code);
    switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
        snprintf(out, cap, "DNS: %s", detail);
        break;
    case CURLE_COULDNT_CONNECT:
        if (os_errno == ECONNREFUSED)
            snprintf(out, cap, "connection refused");
        else if (os_errno == ENETUNREACH || os_errno == EHOSTUNREACH)
            snprintf(out, cap, "network or host unreachable");
        else
            snprintf(out, cap, "cannot connect: %s", detail);
        break;
    case CURLE_OPERATION_TIMEDOUT:
        fmt_ms(timeout_ms, t, sizeof t);
        snprintf(out, cap, "timeout: no complete answer within %s (revocation.fetch_timeout)", t);
        break;
    case CURLE_FILESIZE_EXCEEDED:
    case CURLE_WRITE_ERROR:
        fmt_size(max_size, sz, sizeof sz);
        snprintf(out, cap, "too big: larger than %s (revocation.max_crl_size)", sz);
        break;
    case CURLE_TOO_MANY_REDIRECTS:
        snprintf(out, cap, "too many redirects: more than %ld (revocation.max_redirects)", redirects_max);
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
        snprintf(out, cap, "scheme not allowed (revocation.allowed_schemes): %s", detail);
        break;
    case CURLE_LDAP_SEARCH_FAILED:
        snprintf(out, cap, "LDAP search failed: %s", detail);
        break;
    case CURLE_LDAP_CANNOT_BIND:
        snprintf(out, cap, "LDAP bind failed: %s", detail);
        break;
    case CURLE_GOT_NOTHING:
        snprintf(out, cap, "the server closed the connection without answering");
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
        snprintf(out, cap, "TLS: %s", detail);
        break;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
        snprintf(out, cap, "connection broken: %s", detail);
        break;
    default:
        snprintf(out, cap, "%s", detail);
        break;
    }
}

/* ======================================================================
 * 2. the store
 * ====================================================================== */

#define CRL_PER_ISSUER_MAX 8 /* CRLs kept per issuer name (keys, kinds, scopes) */
#define CRL_FILE_MAX (1024u * 1024u * 1024u)

typedef struct store_settings {
    char *cache_dir;
    uint32_t fetch_timeout_ms;
    uint64_t max_crl_size;
    uint32_t max_redirects;
    bool allow_http, allow_https, allow_ldap;
    uint32_t refresh_before_s;
} store_settings;

/* The result of the last fetch of one CRL (issuer id + kind), for fetchers
 * of other workers that waited for it. */
typedef struct outcome {
    unsigned char key[33];
    uint64_t seq;
    bool ok, cancelled;
    int nattempts;
    cg_crl_attempt attempts[CG_CRL_MAX_ATTEMPTS];
    struct outcome *next;
} outcome;

/* A fetch in progress on some worker; others subscribe instead of fetching. */
typedef struct inflight {
    unsigned char key[33];
    cg_crl_fetcher *owner;
    cg_crl_fetcher **subs;
    size_t nsubs, subs_cap;
    struct inflight *next;
} inflight;

struct cg_crl_store {
    pthread_mutex_t mu;
    crl **crls;
    size_t n, cap;
    _Atomic uint64_t generation;
    store_settings set;
    bool persist;
    inflight *inflight;
    outcome *outcomes;
    uint64_t outcome_seq;
    bool curl_ready;
};

static void settings_free(store_settings *st) { free(st->cache_dir); }

static void settings_from(store_settings *st, const cg_config *cfg)
{
    const cg_revocation_cfg *r = &cfg->revocation;
    memset(st, 0, sizeof *st);
    st->cache_dir = r->cache_dir ? strdup(r->cache_dir) : NULL;
    st->fetch_timeout_ms = r->fetch_timeout_ms ? r->fetch_timeout_ms : 10000;
    st->max_crl_size = r->max_crl_size ? r->max_crl_size : (64u << 20);
    st->max_redirects = r->max_redirects;
    st->allow_http = r->allow_http;
    st->allow_https = r->allow_https;
    st->allow_ldap = r->allow_ldap;
    if (!st->allow_http && !st->allow_https && !st->allow_ldap)
        st->allow_http = st->allow_ldap = true; /* the documented default */
    st->refresh_before_s = r->refresh_before_s;
}

uint64_t cg_crl_store_generation(const cg_crl_store *s)
{
    return s ? atomic_load(&((cg_crl_store *)s)->generation) : 0;
}

void cg_crl_store_set_persist(cg_crl_store *s, bool on) { s->persist = on; }

void cg_crl_store_stats(cg_crl_store *s, size_t *total, size_t *from_files, size_t *from_cache_dir)
{
    size_t f = 0, c = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        f += s->crls[i]->origin == CRL_ORIGIN_FILE;
        c += s->crls[i]->origin == CRL_ORIGIN_CACHE;
    }
    *total = s->n;
    pthread_mutex_unlock(&s->mu);
    *from_files = f;
    *from_cache_dir = c;
}

/* Issued with the same key, as far as can be told without verifying. */
static bool same_signer(const crl *a, const crl *b)
{
    if (a->bound && b->bound)
        return memcmp(a->issuer_id, b->issuer_id, 32) == 0;
    for (int i = 0; i < a->ngood; i++)
        if (b->bound && memcmp(a->good[i], b->issuer_id, 32) == 0)
            return true;
    for (int i = 0; i < b->ngood; i++)
        if (a->bound && memcmp(b->good[i], a->issuer_id, 32) == 0)
            return true;
    return a->aki_len && a->aki_len == b->aki_len && memcmp(a->aki, b->aki, a->aki_len) == 0;
}

static bool newer(const crl *a, const crl *b)
{
    if (a->this_update != b->this_update)
        return a->this_update > b->this_update;
    if (a->number_len != b->number_len)
        return a->number_len > b->number_len;
    return memcmp(a->number, b->number, a->number_len) > 0;
}

static void store_remove_at(cg_crl_store *s, size_t i)
{
    crl_unref(s->crls[i]);
    memmove(&s->crls[i], &s->crls[i + 1], (s->n - i - 1) * sizeof *s->crls);
    s->n--;
}

/* Adds c (taking its reference). Returns 1 when added, 0 when an identical
 * or newer CRL of the same issuer key is already there (c dropped), -1 out
 * of memory. The generation moves when c joins CRLs of the same issuer
 * name (it may say more than they did); a CRL for an issuer that had none
 * cannot change any verdict already given. Locked. */
static int store_insert_locked(cg_crl_store *s, crl *c)
{
    for (size_t i = 0; i < s->n; i++) {
        crl *e = s->crls[i];
        if (memcmp(e->content_hash, c->content_hash, 32) == 0) {
            /* The same CRL again: keep what we know about where it comes
             * from (a fetched one knows its URLs; a listed file outlives
             * the cache). */
            if ((c->origin == CRL_ORIGIN_FETCH && c->bound) ||
                (c->origin == CRL_ORIGIN_FILE && e->origin == CRL_ORIGIN_CACHE)) {
                memcpy(c->good, e->good, sizeof c->good);
                memcpy(c->bad, e->bad, sizeof c->bad);
                c->ngood = e->ngood;
                c->nbad = e->nbad;
                if (!c->bound && e->bound) {
                    memcpy(c->issuer_id, e->issuer_id, 32);
                    c->bound = true;
                }
                s->crls[i] = c;
                crl_unref(e);
            } else {
                crl_unref(c);
            }
            return 0;
        }
    }
    size_t same_dn = 0;
    bool known_issuer = false;
    for (size_t i = 0; i < s->n;) {
        crl *e = s->crls[i];
        if (memcmp(e->dn_hash, c->dn_hash, 32) != 0) {
            i++;
            continue;
        }
        known_issuer = true;
        if (e->is_delta == c->is_delta && e->idp == c->idp && same_signer(e, c)) {
            if (newer(e, c)) {
                crl_unref(c);
                return 0;
            }
            /* A file the operator listed stays until the next reload. */
            if (e->origin != CRL_ORIGIN_FILE) {
                store_remove_at(s, i);
                continue;
            }
        }
        same_dn++;
        i++;
    }
    while (same_dn >= CRL_PER_ISSUER_MAX) {
        size_t oldest = SIZE_MAX;
        for (size_t i = 0; i < s->n; i++)
            if (memcmp(s->crls[i]->dn_hash, c->dn_hash, 32) == 0 && s->crls[i]->origin != CRL_ORIGIN_FILE &&
                (oldest == SIZE_MAX || newer(s->crls[oldest], s->crls[i])))
                oldest = i;
        if (oldest == SIZE_MAX)
            break;
        store_remove_at(s, oldest);
        same_dn--;
    }
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 32;
        crl **nv = realloc(s->crls, ncap * sizeof *nv);
        if (!nv) {
            crl_unref(c);
            return -1;
        }
        s->crls = nv;
        s->cap = ncap;
    }
    s->crls[s->n++] = c;
    if (known_issuer)
        atomic_fetch_add(&s->generation, 1);
    return 1;
}

bool crl_store_add(cg_crl_store *s, crl *c)
{
    pthread_mutex_lock(&s->mu);
    int r = store_insert_locked(s, c);
    pthread_mutex_unlock(&s->mu);
    return r > 0;
}

/* Verification memo: 1 verifies with the issuer id, -1 does not, 0 unknown. Locked. */
static int memo_get(const crl *c, const unsigned char id[32])
{
    for (int i = 0; i < c->ngood; i++)
        if (memcmp(c->good[i], id, 32) == 0)
            return 1;
    for (int i = 0; i < c->nbad; i++)
        if (memcmp(c->bad[i], id, 32) == 0)
            return -1;
    return 0;
}

static void memo_set(crl *c, const unsigned char id[32], bool good)
{
    if (memo_get(c, id))
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

typedef struct cand {
    crl *c;    /* a reference */
    int memo;  /* signature with this issuer: 1 good, -1 bad */
} cand;

#define MAX_CANDS (CRL_PER_ISSUER_MAX * 2)

/* The CRLs named after issuer (its subject DN), of one kind, each with its
 * signature checked against the issuer's key (once per CRL and key: the
 * result is memoized; a CRL's hash is computed when it is parsed, so this is
 * one public-key operation). Returns how many; the caller unrefs them. */
static int store_candidates(cg_crl_store *s, const mbedtls_x509_crt *issuer, const unsigned char id[32], bool delta,
                            cand *out)
{
    unsigned char dn[32];
    int n = 0;
    sha256(issuer->subject_raw.p, issuer->subject_raw.len, dn);
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n && n < MAX_CANDS; i++) {
        crl *c = s->crls[i];
        if (c->is_delta != delta || memcmp(c->dn_hash, dn, 32) != 0)
            continue;
        out[n].c = crl_ref(c);
        out[n].memo = memo_get(c, id);
        n++;
    }
    pthread_mutex_unlock(&s->mu);
    bool learned = false;
    for (int i = 0; i < n; i++) {
        if (out[i].memo)
            continue;
        /* The issuer's DN matches by construction; the key decides. */
        out[i].memo = crl_check_signature(out[i].c, &issuer->pk) == 0 ? 1 : -1;
        learned = true;
    }
    if (learned) {
        pthread_mutex_lock(&s->mu);
        for (int i = 0; i < n; i++)
            memo_set(out[i].c, id, out[i].memo > 0);
        pthread_mutex_unlock(&s->mu);
    }
    return n;
}

static void cands_free(cand *v, int n)
{
    for (int i = 0; i < n; i++)
        crl_unref(v[i].c);
}

crl *crl_store_find_fresh(cg_crl_store *s, const mbedtls_x509_crt *issuer, bool delta, char *why, size_t why_cap)
{
    unsigned char id[32];
    cand v[MAX_CANDS];
    crl_issuer_id(issuer, id);
    int n = store_candidates(s, issuer, id, delta, v);
    int64_t now = now_s();
    crl *best = NULL;
    for (int i = 0; i < n; i++) {
        crl *c = v[i].c;
        if (v[i].memo > 0 && c->this_update <= now + CRL_SKEW_S && (!c->next_update || c->next_update > now) &&
            (!best || newer(c, best)))
            best = c;
    }
    crl_ref(best);
    if (!best && why)
        snprintf(why, why_cap, "%d CRL(s) named after this issuer, none valid for its key now", n);
    cands_free(v, n);
    return best;
}

/* ---- files ---- */

static unsigned char *read_file(const char *path, uint64_t max, size_t *len, char *err, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, cap, "cannot open: %s", strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, cap, "not a regular file");
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > max) {
        char sz[32];
        fmt_size(max, sz, sizeof sz);
        snprintf(err, cap, "larger than %s", sz);
        close(fd);
        return NULL;
    }
    size_t n = (size_t)st.st_size, got = 0;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) {
        snprintf(err, cap, "out of memory");
        close(fd);
        return NULL;
    }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(err, cap, "read error: %s", r < 0 ? strerror(errno) : "file shrank");
            free(buf);
            close(fd);
            return NULL;
        }
        got += (size_t)r;
    }
    close(fd);
    *len = n;
    return buf;
}

static crl *load_crl_file(const char *path, int origin, char *err, size_t cap)
{
    size_t len;
    unsigned char *buf = read_file(path, CRL_FILE_MAX, &len, err, cap);
    if (!buf)
        return NULL;
    crl *c = crl_parse(buf, len, err, cap);
    free(buf);
    if (c) {
        c->origin = origin;
        snprintf(c->source, sizeof c->source, "%s %s", origin == CRL_ORIGIN_FILE ? "crl_files" : "cache file", path);
        c->obtained = now_s();
    }
    return c;
}

typedef struct crl_set {
    crl **v;
    size_t n, cap;
} crl_set;

static bool set_add(crl_set *set, crl *c)
{
    if (set->n == set->cap) {
        size_t ncap = set->cap ? set->cap * 2 : 16;
        crl **nv = realloc(set->v, ncap * sizeof *nv);
        if (!nv)
            return false;
        set->v = nv;
        set->cap = ncap;
    }
    set->v[set->n++] = c;
    return true;
}

static void set_free(crl_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        crl_unref(set->v[i]);
    free(set->v);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Regular files of a directory (not hidden), sorted; NULL on error. */
static char **list_dir(const char *dir, size_t *n, char *err, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, cap, "cannot open the directory: %s", strerror(errno));
        return NULL;
    }
    char **v = NULL;
    size_t vn = 0, vcap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char *path;
        if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
            continue;
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (vn == vcap) {
            size_t ncap = vcap ? vcap * 2 : 16;
            char **nv = realloc(v, ncap * sizeof *nv);
            if (!nv) {
                free(path);
                break;
            }
            v = nv;
            vcap = ncap;
        }
        v[vn++] = path;
    }
    closedir(d);
    if (vn)
        qsort(v, vn, sizeof *v, name_cmp);
    *n = vn;
    return v ? v : calloc(1, sizeof *v);
}

/* Every listener's crl_files, each path once. A listed file that is not a
 * CRL is an error; in a listed directory, a warning (it may hold other
 * files). */
static bool load_crl_files(const cg_config *cfg, crl_set *out, cg_diag *diag)
{
    bool ok = true;
    char err[300];
    char **seen = NULL;
    size_t nseen = 0;
    for (size_t li = 0; li < cfg->nlisteners; li++) {
        const cg_listener_cfg *l = &cfg->listeners[li];
        for (size_t fi = 0; fi < l->revocation.ncrl_files; fi++) {
            const char *path = l->revocation.crl_files[fi];
            bool dup = false;
            for (size_t k = 0; k < nseen && !dup; k++)
                dup = strcmp(seen[k], path) == 0;
            if (dup)
                continue;
            char **ns = realloc(seen, (nseen + 1) * sizeof *ns);
            if (ns) {
                seen = ns;
                seen[nseen++] = (char *)path;
            }
            struct stat st;
            if (stat(path, &st) != 0) {
                cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, 0, 0, "listeners[%s].revocation.crl_files \"%s\": %s",
                            l->name, path, strerror(errno));
                ok = false;
                continue;
            }
            if (S_ISDIR(st.st_mode)) {
                size_t n = 0;
                char **files = list_dir(path, &n, err, sizeof err);
                if (!files) {
                    cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, 0, 0,
                                "listeners[%s].revocation.crl_files \"%s\": %s", l->name, path, err);
                    ok = false;
                    continue;
                }
                size_t loaded = 0;
                for (size_t k = 0; k < n; k++) {
                    crl *c = load_crl_file(files[k], CRL_ORIGIN_FILE, err, sizeof err);
                    if (c && set_add(out, c))
                        loaded++;
                    else if (c)
                        crl_unref(c);
                    else
                        cg_diag_add(diag, CG_DIAG_WARNING, cfg->file, 0, 0,
                                    "listeners[%s].revocation.crl_files: \"%s\" (in directory \"%s\") skipped: %s",
                                    l->name, files[k], path, err);
                }
                if (loaded == 0)
                    cg_diag_add(diag, CG_DIAG_WARNING, cfg->file, 0, 0,
                                "listeners[%s].revocation.crl_files: directory \"%s\" holds no CRL", l->name, path);
                free_strv(files, n);
            } else {
                crl *c = load_crl_file(path, CRL_ORIGIN_FILE, err, sizeof err);
                if (!c || !set_add(out, c)) {
                    if (c)
                        crl_unref(c);
                    cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, 0, 0, "listeners[%s].revocation.crl_files \"%s\": %s",
                                l->name, path, err);
                    ok = false;
                }
            }
        }
    }
    free(seen);
    return ok;
}

static bool is_cache_name(const char *name)
{
    size_t n = strlen(name);
    if (n != 68 && n != 74)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    return strcmp(name + 64, n == 68 ? ".crl" : "-delta.crl") == 0;
}

/* The persisted cache: <issuer id hex>.crl and <issuer id hex>-delta.crl. */
static void load_cache_dir(const char *dir, crl_set *out, cg_diag *diag, const char *cfg_file)
{
    char err[300];
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        cg_diag_add(diag, CG_DIAG_WARNING, cfg_file, 0, 0,
                    "revocation.cache_dir \"%s\": cannot create it (%s); CRLs are kept in memory only", dir,
                    strerror(errno));
        return;
    }
    DIR *d = opendir(dir);
    if (!d) {
        cg_diag_add(diag, CG_DIAG_WARNING, cfg_file, 0, 0,
                    "revocation.cache_dir \"%s\": cannot read it (%s); CRLs are kept in memory only", dir,
                    strerror(errno));
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (de->d_name[0] == '.' && strstr(de->d_name, ".tmp")) {
            unlink(path); /* an interrupted write */
            continue;
        }
        if (!is_cache_name(de->d_name))
            continue;
        crl *c = load_crl_file(path, CRL_ORIGIN_CACHE, err, sizeof err);
        if (!c) {
            cg_diag_add(diag, CG_DIAG_WARNING, cfg_file, 0, 0, "revocation.cache_dir: \"%s\" ignored: %s", path, err);
            continue;
        }
        if (!set_add(out, c))
            crl_unref(c);
    }
    closedir(d);
}

static void store_adopt(cg_crl_store *s, crl_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        store_insert_locked(s, set->v[i]);
    free(set->v);
    set->v = NULL;
    set->n = set->cap = 0;
}

cg_crl_store *cg_crl_store_new(const cg_config *cfg, cg_diag *diag)
{
    cg_crl_store *s = calloc(1, sizeof *s);
    if (!s) {
        cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, 0, 0, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->persist = true;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        cg_diag_add(diag, CG_DIAG_ERROR, cfg->file, 0, 0, "revocation: libcurl could not be initialized");
        cg_crl_store_free(s);
        return NULL;
    }
    s->curl_ready = true;
    settings_from(&s->set, cfg);
    crl_set set = { 0 };
    if (s->set.cache_dir)
        load_cache_dir(s->set.cache_dir, &set, diag, cfg->file);
    if (!load_crl_files(cfg, &set, diag)) {
        set_free(&set);
        cg_crl_store_free(s);
        return NULL;
    }
    store_adopt(s, &set);
    size_t files = 0, cached = 0;
    for (size_t i = 0; i < s->n; i++) {
        files += s->crls[i]->origin == CRL_ORIGIN_FILE;
        cached += s->crls[i]->origin == CRL_ORIGIN_CACHE;
    }
    char dir[600];
    cg_log_quote(dir, sizeof dir, s->set.cache_dir ? s->set.cache_dir : "-",
                 strlen(s->set.cache_dir ? s->set.cache_dir : "-"));
    cg_log(CG_LOG_INFO, "crl_store", "crls=%zu from_crl_files=%zu from_cache_dir=%zu cache_dir=%s", s->n, files,
           cached, dir);
    return s;
}

bool cg_crl_store_configure(cg_crl_store *s, const cg_config *cfg, cg_diag *diag)
{
    crl_set files = { 0 }, cached = { 0 };
    if (!load_crl_files(cfg, &files, diag)) {
        set_free(&files);
        return false;
    }
    store_settings next;
    settings_from(&next, cfg);
    bool new_dir = next.cache_dir && (!s->set.cache_dir || strcmp(next.cache_dir, s->set.cache_dir) != 0);
    if (new_dir)
        load_cache_dir(next.cache_dir, &cached, diag, cfg->file);

    pthread_mutex_lock(&s->mu);
    /* crl_files: drop those no longer listed (or changed), add the new ones. */
    bool changed = false;
    for (size_t i = 0; i < s->n;) {
        crl *e = s->crls[i];
        bool keep = e->origin != CRL_ORIGIN_FILE;
        for (size_t k = 0; k < files.n && !keep; k++)
            keep = memcmp(files.v[k]->content_hash, e->content_hash, 32) == 0;
        if (!keep) {
            store_remove_at(s, i);
            changed = true;
        } else {
            i++;
        }
    }
    size_t n_before = s->n;
    uint64_t before = atomic_load(&s->generation);
    store_adopt(s, &files);
    store_adopt(s, &cached);
    if ((changed || s->n != n_before) && atomic_load(&s->generation) == before)
        atomic_fetch_add(&s->generation, 1);
    settings_free(&s->set);
    s->set = next;
    pthread_mutex_unlock(&s->mu);
    return true;
}

void cg_crl_store_free(cg_crl_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        crl_unref(s->crls[i]);
    free(s->crls);
    for (inflight *f = s->inflight, *next; f; f = next) {
        next = f->next;
        free(f->subs);
        free(f);
    }
    for (outcome *o = s->outcomes, *next; o; o = next) {
        next = o->next;
        free(o);
    }
    settings_free(&s->set);
    pthread_mutex_destroy(&s->mu);
    if (s->curl_ready)
        curl_global_cleanup();
    free(s);
}

/* ======================================================================
 * 3. the fetcher
 * ====================================================================== */

#define SWEEP_MS 15000          /* background refresh scan */
#define REFRESH_RETRY_S 60      /* a failed background refresh is retried after */

typedef struct item item;
typedef struct job job;

struct job {
    cg_crl_fetcher *f;
    job *next;
    unsigned char key[33];        /* issuer id + 'B' (full CRL) or 'D' (delta) */
    bool delta;
    bool remote;                  /* another worker fetches it; we wait */
    bool orphan;                  /* the fetcher closed while it was parsing */
    char **urls;
    size_t nurls, next_url;
    unsigned char *issuer_dn;     /* the issuer's subject Name (DER) */
    size_t issuer_dn_len;
    unsigned char *spki;          /* the issuer's public key (DER) */
    size_t spki_len;
    char issuer_name[256];
    uint64_t deadline;            /* uv_now() ms */
    store_settings set;           /* cache_dir not copied */
    /* the transfer in progress */
    CURL *easy;
    char errbuf[CURL_ERROR_SIZE];
    unsigned char *body;
    size_t body_len, body_cap;
    bool too_big, is_ldap, is_http;
    uint64_t started;
    bool working;                 /* parsing on the thread pool */
    /* results */
    cg_crl_attempt attempts[CG_CRL_MAX_ATTEMPTS];
    int nattempts;
    bool ok;
    item *waiters;
};

typedef struct sock {
    uv_poll_t poll;
    curl_socket_t fd;
    cg_crl_fetcher *f;
    struct sock *next, *prev;
} sock;

struct cg_crl_fetcher {
    uv_loop_t *loop;
    cg_crl_store *store;
    CURLM *multi;
    uv_timer_t curl_timer, sweep;
    uv_async_t wake;
    job *jobs;
    sock *socks;
    int handles; /* open libuv handles */
    int work;    /* thread pool requests in flight */
    int remote;  /* jobs waiting for another worker: the wake-up keeps the loop alive */
    bool closing;
};

static void wake_waiters(job *j);
static void job_next(job *j);

static void key_hex(const unsigned char key[33], char out[80])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[key[i] >> 4];
        out[2 * i + 1] = digits[key[i] & 15];
    }
    strcpy(out + 64, key[32] == 'D' ? "-delta.crl" : ".crl");
}

static void maybe_free_fetcher(cg_crl_fetcher *f)
{
    if (f->closing && f->handles == 0 && f->work == 0 && !f->jobs)
        free(f);
}

static void on_handle_closed(uv_handle_t *h)
{
    cg_crl_fetcher *f = h->data;
    f->handles--;
    maybe_free_fetcher(f);
}

/* ---- libcurl <-> libuv ---- */

static void process_completions(cg_crl_fetcher *f);

static void on_sock_closed(uv_handle_t *h)
{
    sock *sk = h->data;
    cg_crl_fetcher *f = sk->f;
    free(sk);
    f->handles--;
    maybe_free_fetcher(f);
}

static void sock_close(sock *sk)
{
    cg_crl_fetcher *f = sk->f;
    if (sk->prev)
        sk->prev->next = sk->next;
    else
        f->socks = sk->next;
    if (sk->next)
        sk->next->prev = sk->prev;
    uv_poll_stop(&sk->poll);
    uv_close((uv_handle_t *)&sk->poll, on_sock_closed);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock *sk = h->data;
    cg_crl_fetcher *f = sk->f;
    int flags = 0, running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(f->multi, sk->fd, flags, &running);
    process_completions(f);
}

static int on_curl_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    cg_crl_fetcher *f = userp;
    sock *sk = socketp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (sk) {
            curl_multi_assign(f->multi, s, NULL);
            sock_close(sk);
        }
        return 0;
    }
    if (!sk) {
        sk = calloc(1, sizeof *sk);
        if (!sk)
            return -1;
        if (uv_poll_init_socket(f->loop, &sk->poll, s) != 0) {
            free(sk);
            return -1;
        }
        sk->fd = s;
        sk->f = f;
        sk->poll.data = sk;
        sk->next = f->socks;
        if (f->socks)
            f->socks->prev = sk;
        f->socks = sk;
        f->handles++;
        curl_multi_assign(f->multi, s, sk);
    }
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&sk->poll, ev, on_poll);
    return 0;
}

static void on_curl_timer(uv_timer_t *t)
{
    cg_crl_fetcher *f = t->data;
    int running;
    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    process_completions(f);
}

static int on_curl_timeout(CURLM *m, long timeout_ms, void *userp)
{
    cg_crl_fetcher *f = userp;
    (void)m;
    if (f->closing)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&f->curl_timer);
    else
        uv_timer_start(&f->curl_timer, on_curl_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- jobs ---- */

static void job_free(job *j)
{
    if (j->easy) {
        curl_multi_remove_handle(j->f->multi, j->easy);
        curl_easy_cleanup(j->easy);
    }
    free_strv(j->urls, j->nurls);
    free(j->issuer_dn);
    free(j->spki);
    free(j->body);
    free(j);
}

static void job_unlink(job *j)
{
    cg_crl_fetcher *f = j->f;
    for (job **pp = &f->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    j->next = NULL;
}

/* A job waits for another worker (or stops waiting): while any does, the
 * wake-up handle keeps this loop alive. */
static void set_remote(job *j, bool remote)
{
    cg_crl_fetcher *f = j->f;
    if (j->remote == remote)
        return;
    j->remote = remote;
    if (remote && f->remote++ == 0)
        uv_ref((uv_handle_t *)&f->wake);
    if (!remote && --f->remote == 0 && !f->closing)
        uv_unref((uv_handle_t *)&f->wake);
}

static cg_crl_attempt *attempt_add(job *j, const char *url)
{
    if (j->nattempts >= CG_CRL_MAX_ATTEMPTS)
        return NULL;
    cg_crl_attempt *a = &j->attempts[j->nattempts++];
    memset(a, 0, sizeof *a);
    snprintf(a->url, sizeof a->url, "%s", url);
    return a;
}

static job *find_job(cg_crl_fetcher *f, const unsigned char key[33])
{
    for (job *j = f->jobs; j; j = j->next)
        if (memcmp(j->key, key, 33) == 0)
            return j;
    return NULL;
}

static inflight *find_inflight(cg_crl_store *s, const unsigned char key[33])
{
    for (inflight *i = s->inflight; i; i = i->next)
        if (memcmp(i->key, key, 33) == 0)
            return i;
    return NULL;
}

static outcome *find_outcome(cg_crl_store *s, const unsigned char key[33])
{
    for (outcome *o = s->outcomes; o; o = o->next)
        if (memcmp(o->key, key, 33) == 0)
            return o;
    return NULL;
}

/* Registers f as the fetcher of key, or (when another worker already is)
 * as a subscriber to its result. Returns true when f is to fetch. Locked. */
static bool claim_locked(cg_crl_store *s, const unsigned char key[33], cg_crl_fetcher *f, bool subscribe)
{
    inflight *i = find_inflight(s, key);
    if (!i) {
        i = calloc(1, sizeof *i);
        if (!i)
            return true; /* fetch anyway, unshared */
        memcpy(i->key, key, 33);
        i->owner = f;
        i->next = s->inflight;
        s->inflight = i;
        return true;
    }
    if (i->owner == f)
        return true;
    if (subscribe) {
        for (size_t k = 0; k < i->nsubs; k++)
            if (i->subs[k] == f)
                return false;
        if (i->nsubs == i->subs_cap) {
            size_t ncap = i->subs_cap ? i->subs_cap * 2 : 4;
            cg_crl_fetcher **nv = realloc(i->subs, ncap * sizeof *nv);
            if (!nv)
                return true;
            i->subs = nv;
            i->subs_cap = ncap;
        }
        i->subs[i->nsubs++] = f;
    }
    return false;
}

/* A local job ends: record its outcome for subscribers and wake them. */
static void publish(job *j, bool cancelled)
{
    cg_crl_store *s = j->f->store;
    pthread_mutex_lock(&s->mu);
    outcome *o = find_outcome(s, j->key);
    if (!o && (o = calloc(1, sizeof *o))) {
        memcpy(o->key, j->key, 33);
        o->next = s->outcomes;
        s->outcomes = o;
    }
    if (o) {
        o->seq = ++s->outcome_seq;
        o->ok = j->ok;
        o->cancelled = cancelled;
        o->nattempts = j->nattempts;
        memcpy(o->attempts, j->attempts, sizeof o->attempts);
    }
    for (inflight **pp = &s->inflight; *pp; pp = &(*pp)->next) {
        inflight *i = *pp;
        if (memcmp(i->key, j->key, 33) != 0 || i->owner != j->f)
            continue;
        *pp = i->next;
        /* Under the lock: a subscriber unsubscribes under it before closing. */
        for (size_t k = 0; k < i->nsubs; k++)
            uv_async_send(&i->subs[k]->wake);
        free(i->subs);
        free(i);
        break;
    }
    pthread_mutex_unlock(&s->mu);
}

/* Ends a job: outcome published, waiters re-evaluated, job freed. */
static void job_finish(job *j)
{
    cg_crl_fetcher *f = j->f;
    job_unlink(j);
    if (!j->remote)
        publish(j, false);
    bool was_remote = j->remote;
    set_remote(j, false);
    if (!j->ok && !was_remote) {
        char urls[700];
        size_t len = 0;
        for (int i = 0; i < j->nattempts; i++)
            len = append(urls, sizeof urls, len, "%s%s: %s", i ? "; " : "", j->attempts[i].url,
                         j->attempts[i].result);
        if (!len)
            urls[0] = '\0';
        char iq[300], uq[800];
        cg_log_quote(iq, sizeof iq, j->issuer_name, strlen(j->issuer_name));
        cg_log_quote(uq, sizeof uq, urls, strlen(urls));
        cg_log(CG_LOG_WARN, "crl_fetch_failed", "issuer=%s kind=%s attempts=%s", iq, j->delta ? "delta" : "full",
               uq);
    }
    wake_waiters(j);
    job_free(j);
    (void)f;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    job *j = ud;
    size_t len = size * n;
    if (j->body_len + len > j->set.max_crl_size) {
        j->too_big = true;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (j->body_len + len > j->body_cap) {
        size_t ncap = j->body_cap ? j->body_cap : 64 * 1024;
        while (ncap < j->body_len + len)
            ncap *= 2;
        unsigned char *nb = realloc(j->body, ncap);
        if (!nb)
            return 0;
        j->body = nb;
        j->body_cap = ncap;
    }
    memcpy(j->body + j->body_len, p, len);
    j->body_len += len;
    return len;
}

/* Why a URL is not fetched at all, or NULL when it may be. */
static const char *url_refusal(const job *j, const char *url, bool *ldap, bool *http)
{
    *ldap = *http = false;
    if (starts_with_ci(url, "http://")) {
        *http = true;
        return j->set.allow_http ? NULL : "skipped: http is not in revocation.allowed_schemes";
    }
    if (starts_with_ci(url, "https://")) {
        *http = true;
        return j->set.allow_https ? NULL : "skipped: https is not in revocation.allowed_schemes";
    }
    if (starts_with_ci(url, "ldap://")) {
        *ldap = true;
        if (!j->set.allow_ldap)
            return "skipped: ldap is not in revocation.allowed_schemes";
        if (url[7] == '/' || url[7] == '\0')
            return "skipped: an LDAP URL without a server (ldap:///...) names the Windows domain's directory, "
                   "which certgate does not locate; publish the CRL at an http or ldap://host/ URL";
        return NULL;
    }
    return "skipped: unsupported scheme (certgate fetches http, https and ldap URLs)";
}

static bool start_transfer(job *j, const char *url)
{
    cg_crl_fetcher *f = j->f;
    uint64_t now = uv_now(f->loop);
    long left = j->deadline > now ? (long)(j->deadline - now) : 0;
    CURL *e = curl_easy_init();
    if (!e)
        return false;
    char protos[32] = "", redir[32] = "";
    if (j->set.allow_http) {
        strcat(protos, "http,");
        strcat(redir, "http,");
    }
    if (j->set.allow_https) {
        strcat(protos, "https,");
        strcat(redir, "https,");
    }
    if (j->set.allow_ldap)
        strcat(protos, "ldap,");
    if (protos[0])
        protos[strlen(protos) - 1] = '\0';
    if (redir[0])
        redir[strlen(redir) - 1] = '\0';
    j->errbuf[0] = '\0';
    j->body_len = 0;
    j->too_big = false;
    bool follow = j->set.max_redirects > 0 && redir[0];
    if (curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, protos) != CURLE_OK ||
        (follow && curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, redir) != CURLE_OK)) {
        curl_easy_cleanup(e);
        return false;
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, left > 0 ? left : 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, left > 0 ? left : 1L);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)j->set.max_crl_size);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)j->set.max_redirects);
    curl_easy_setopt(e, CURLOPT_PROXY, ""); /* never a proxy from the environment */
    curl_easy_setopt(e, CURLOPT_USERAGENT, "certgate/" CG_VERSION " (CRL fetcher)");
    if (curl_multi_add_handle(f->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        return false;
    }
    j->easy = e;
    j->started = now;
    return true;
}

/* Starts the next URL of the job, or finishes it when none is left. */
static void job_next(job *j)
{
    cg_crl_fetcher *f = j->f;
    while (!j->ok && j->next_url < j->nurls && !f->closing) {
        const char *url = j->urls[j->next_url++];
        cg_crl_attempt *a = attempt_add(j, url);
        const char *no = url_refusal(j, url, &j->is_ldap, &j->is_http);
        if (no) {
            if (a)
                snprintf(a->result, sizeof a->result, "%s", no);
            continue;
        }
        if (uv_now(f->loop) >= j->deadline) {
            char t[32];
            fmt_ms(j->set.fetch_timeout_ms, t, sizeof t);
            if (a)
                snprintf(a->result, sizeof a->result,
                         "not tried: revocation.fetch_timeout (%s) was used up by the URLs before it", t);
            continue;
        }
        if (start_transfer(j, url))
            return;
        if (a)
            snprintf(a->result, sizeof a->result, "could not start the transfer (out of memory?)");
    }
    job_finish(j);
}

typedef struct parse_work {
    uv_work_t req;
    job *j;
    unsigned char *body;
    size_t len;
    crl *result;
    char err[300];
} parse_work;

static void parse_run(uv_work_t *req)
{
    parse_work *w = req->data;
    job *j = w->j;
    const unsigned char *buf = w->body;
    size_t len = w->len;
    unsigned char *ldap = NULL;
    if (j->is_ldap) {
        ldap = crl_from_ldap_text((const char *)w->body, w->len, &len, w->err, sizeof w->err);
        if (!ldap)
            return;
        buf = ldap;
    }
    crl *c = crl_parse(buf, len, w->err, sizeof w->err);
    free(ldap);
    if (!c)
        return;
    if (c->issuer_len != j->issuer_dn_len || memcmp(c->der + c->issuer_off, j->issuer_dn, c->issuer_len) != 0) {
        snprintf(w->err, sizeof w->err, "wrong issuer: the CRL is issued by \"%.120s\", not by \"%.120s\"",
                 c->issuer, j->issuer_name);
        crl_unref(c);
        return;
    }
    if (c->is_delta != j->delta) {
        snprintf(w->err, sizeof w->err, "%s", j->delta ? "a full CRL where a delta CRL was expected (Freshest CRL)"
                                                         : "a delta CRL where a full CRL was expected");
        crl_unref(c);
        return;
    }
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    int ret = mbedtls_pk_parse_public_key(&pk, j->spki, j->spki_len);
    if (ret == 0)
        ret = crl_check_signature(c, &pk);
    mbedtls_pk_free(&pk);
    if (ret != 0) {
        snprintf(w->err, sizeof w->err,
                 "bad signature: the CRL does not verify with the public key of \"%.120s\" (forged, corrupted, or "
                 "signed by another key with the same name)",
                 j->issuer_name);
        crl_unref(c);
        return;
    }
    w->result = c;
}

typedef struct persist_work {
    uv_work_t req;
    cg_crl_fetcher *f;
    crl *c;
    char *dir;
    char name[80];
    char err[300];
} persist_work;

/* write temp + fsync + rename + fsync(dir): the cache file is whole or absent. */
static void persist_run(uv_work_t *req)
{
    persist_work *w = req->data;
    char tmp[4200], path[4200];
    snprintf(path, sizeof path, "%s/%s", w->dir, w->name);
    snprintf(tmp, sizeof tmp, "%s/.%s.%ld.tmp", w->dir, w->name, (long)getpid());
    if (mkdir(w->dir, 0700) != 0 && errno != EEXIST) {
        snprintf(w->err, sizeof w->err, "cannot create the directory: %s", strerror(errno));
        return;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(w->err, sizeof w->err, "cannot create .%s.tmp: %s", w->name, strerror(errno));
        return;
    }
    size_t done = 0;
    while (done < w->c->der_len) {
        ssize_t k = write(fd, w->c->der + done, w->c->der_len - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            snprintf(w->err, sizeof w->err, "cannot write .%s.tmp: %s", w->name, strerror(errno));
            close(fd);
            unlink(tmp);
            return;
        }
        done += (size_t)k;
    }
    if (fsync(fd) != 0) {
        snprintf(w->err, sizeof w->err, "fsync .%s.tmp: %s", w->name, strerror(errno));
        close(fd);
        unlink(tmp);
        return;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        snprintf(w->err, sizeof w->err, "cannot rename .%s.tmp to %s: %s", w->name, w->name, strerror(errno));
        unlink(tmp);
        return;
    }
    int dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

static void persist_done(uv_work_t *req, int status)
{
    persist_work *w = req->data;
    cg_crl_fetcher *f = w->f;
    (void)status;
    if (w->err[0]) {
        char q[400];
        cg_log_quote(q, sizeof q, w->err, strlen(w->err));
        cg_log(CG_LOG_WARN, "crl_cache_write_failed", "dir=%s detail=%s", w->dir, q);
    }
    crl_unref(w->c);
    free(w->dir);
    free(w);
    f->work--;
    maybe_free_fetcher(f);
}

static void persist(cg_crl_fetcher *f, crl *c, const unsigned char key[33])
{
    cg_crl_store *s = f->store;
    char *dir = NULL;
    pthread_mutex_lock(&s->mu);
    if (s->persist && s->set.cache_dir)
        dir = strdup(s->set.cache_dir);
    pthread_mutex_unlock(&s->mu);
    if (!dir)
        return;
    persist_work *w = calloc(1, sizeof *w);
    if (!w) {
        free(dir);
        return;
    }
    w->req.data = w;
    w->f = f;
    w->c = crl_ref(c);
    w->dir = dir;
    key_hex(key, w->name);
    if (uv_queue_work(f->loop, &w->req, persist_run, persist_done) != 0) {
        crl_unref(c);
        free(dir);
        free(w);
        return;
    }
    f->work++;
}

static void parse_done(uv_work_t *req, int status)
{
    parse_work *w = req->data;
    job *j = w->j;
    cg_crl_fetcher *f = j->f;
    crl *c = w->result;
    f->work--;
    j->working = false;
    free(w->body);
    if (j->orphan || status == UV_ECANCELED) {
        if (c)
            crl_unref(c);
        free(w);
        job_free(j);
        maybe_free_fetcher(f);
        return;
    }
    cg_crl_attempt *a = j->nattempts ? &j->attempts[j->nattempts - 1] : NULL;
    if (!c) {
        if (a)
            snprintf(a->result, sizeof a->result, "%s", w->err);
        free(w);
        job_next(j);
        return;
    }
    free(w);
    int64_t now = now_s();
    const char *url = j->urls[j->next_url - 1];
    c->origin = CRL_ORIGIN_FETCH;
    snprintf(c->source, sizeof c->source, "%s", url);
    c->obtained = now;
    c->urls = dup_strv(j->urls, j->nurls);
    c->nurls = c->urls ? j->nurls : 0;
    if ((c->spki = malloc(j->spki_len))) {
        memcpy(c->spki, j->spki, j->spki_len);
        c->spki_len = j->spki_len;
    }
    memcpy(c->issuer_id, j->key, 32);
    c->bound = true;
    memo_set(c, j->key, true);
    char when[40];
    if (c->this_update > now + CRL_SKEW_S) {
        fmt_time(c->this_update, when, sizeof when);
        if (a)
            snprintf(a->result, sizeof a->result,
                     "not yet valid: its thisUpdate (%s) is in the future (check the clocks of this server and the CA)",
                     when);
        crl_unref(c);
        job_next(j);
        return;
    }
    bool fresh = !c->next_update || c->next_update > now;
    if (!fresh && a) {
        fmt_time(c->next_update, when, sizeof when);
        snprintf(a->result, sizeof a->result, "expired: the CRL's nextUpdate (%s) has passed (the CDP serves an "
                 "outdated CRL)", when);
    }
    char tu[40], nu[40], iq[300], uq[600];
    fmt_time(c->this_update, tu, sizeof tu);
    if (c->next_update)
        fmt_time(c->next_update, nu, sizeof nu);
    else
        snprintf(nu, sizeof nu, "none");
    size_t nents = c->nents;
    cg_log_quote(iq, sizeof iq, c->issuer, strlen(c->issuer));
    cg_log_quote(uq, sizeof uq, url, strlen(url));
    int added;
    pthread_mutex_lock(&f->store->mu);
    added = store_insert_locked(f->store, crl_ref(c));
    pthread_mutex_unlock(&f->store->mu);
    if (added > 0) {
        cg_log(CG_LOG_INFO, "crl_updated", "issuer=%s kind=%s url=%s this_update=\"%s\" next_update=\"%s\" "
               "entries=%zu bytes=%zu ms=%u%s", iq, j->delta ? "delta" : "full", uq, tu, nu, nents, c->der_len,
               a ? a->ms : 0, fresh ? "" : " stale=1");
        persist(f, c, j->key);
    }
    crl_unref(c);
    if (!fresh) {
        job_next(j);
        return;
    }
    if (a) {
        a->ok = true;
        snprintf(a->result, sizeof a->result, "ok");
    }
    j->ok = true;
    job_finish(j);
}

/* A transfer ended (libcurl's verdict in rc). */
static void transfer_done(job *j, CURLcode rc)
{
    cg_crl_fetcher *f = j->f;
    long status = 0, oserr = 0;
    curl_off_t us = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(j->easy, CURLINFO_OS_ERRNO, &oserr);
    curl_easy_getinfo(j->easy, CURLINFO_TOTAL_TIME_T, &us);
    curl_multi_remove_handle(f->multi, j->easy);
    curl_easy_cleanup(j->easy);
    j->easy = NULL;
    cg_crl_attempt *a = j->nattempts ? &j->attempts[j->nattempts - 1] : NULL;
    if (a) {
        a->ms = (uint32_t)(us / 1000);
        a->bytes = j->body_len;
        a->status = j->is_http ? (int)status : 0;
    }
    char why[300];
    if (rc == CURLE_WRITE_ERROR && !j->too_big) {
        if (a)
            snprintf(a->result, sizeof a->result, "out of memory while receiving the CRL");
        job_next(j);
        return;
    }
    if (rc != CURLE_OK) {
        if (j->too_big)
            rc = CURLE_FILESIZE_EXCEEDED;
        crl_transfer_error(rc, oserr, j->errbuf, (long)j->set.max_redirects, j->set.fetch_timeout_ms,
                           j->set.max_crl_size, why, sizeof why);
        if (a)
            snprintf(a->result, sizeof a->result, "%s", why);
        job_next(j);
        return;
    }
    if (j->is_http && status != 200) {
        if (a) {
            if (status >= 300 && status < 400)
                snprintf(a->result, sizeof a->result, "HTTP %ld: a redirect, not followed (revocation.max_redirects "
                         "is %u, or the target's scheme is not allowed)", status, j->set.max_redirects);
            else
                snprintf(a->result, sizeof a->result, "HTTP %ld", status);
        }
        job_next(j);
        return;
    }
    parse_work *w = calloc(1, sizeof *w);
    if (!w) {
        if (a)
            snprintf(a->result, sizeof a->result, "out of memory");
        job_next(j);
        return;
    }
    w->req.data = w;
    w->j = j;
    w->body = j->body;
    w->len = j->body_len;
    j->body = NULL;
    j->body_len = j->body_cap = 0;
    if (uv_queue_work(f->loop, &w->req, parse_run, parse_done) != 0) {
        free(w->body);
        free(w);
        if (a)
            snprintf(a->result, sizeof a->result, "could not queue the CRL for parsing");
        job_next(j);
        return;
    }
    f->work++;
    j->working = true;
}

static void process_completions(cg_crl_fetcher *f)
{
    CURLMsg *m;
    int left;
    while (f->multi && (m = curl_multi_info_read(f->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        if (priv)
            transfer_done((job *)priv, rc);
    }
}

/* The job for issuer's CRL (or delta CRL) from urls: an existing one, a new
 * one this fetcher runs (*start set: call job_next() once the waiter is
 * attached), or one that waits for the worker already fetching it. NULL
 * when out of memory, or when !wait_for_others and another worker fetches. */
static job *job_start(cg_crl_fetcher *f, const unsigned char key[33], char *const *urls, size_t nurls,
                      const unsigned char *dn, size_t dn_len, const unsigned char *spki, size_t spki_len,
                      const char *issuer_name, bool wait_for_others, bool *start)
{
    *start = false;
    job *j = find_job(f, key);
    if (j)
        return j;
    j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->f = f;
    memcpy(j->key, key, 33);
    j->delta = key[32] == 'D';
    j->urls = dup_strv(urls, nurls);
    j->nurls = nurls;
    j->issuer_dn = malloc(dn_len ? dn_len : 1);
    j->issuer_dn_len = dn_len;
    j->spki = malloc(spki_len ? spki_len : 1);
    j->spki_len = spki_len;
    if (!j->urls || !j->issuer_dn || !j->spki) {
        if (!j->urls)
            j->nurls = 0;
        job_free(j);
        return NULL;
    }
    memcpy(j->issuer_dn, dn, dn_len);
    memcpy(j->spki, spki, spki_len);
    snprintf(j->issuer_name, sizeof j->issuer_name, "%s", issuer_name);
    cg_crl_store *s = f->store;
    pthread_mutex_lock(&s->mu);
    j->set = s->set;
    j->set.cache_dir = NULL;
    bool mine = claim_locked(s, key, f, wait_for_others);
    pthread_mutex_unlock(&s->mu);
    if (!mine && !wait_for_others) {
        job_free(j); /* someone else refreshes it */
        return NULL;
    }
    j->deadline = uv_now(f->loop) + j->set.fetch_timeout_ms;
    j->next = f->jobs;
    f->jobs = j;
    set_remote(j, !mine);
    *start = mine;
    return j;
}

/* Another worker published results: finish the jobs that waited for them. */
static void on_wake(uv_async_t *h)
{
    cg_crl_fetcher *f = h->data;
    cg_crl_store *s = f->store;
    for (;;) {
        job *ready = NULL;
        bool retry = false;
        pthread_mutex_lock(&s->mu);
        for (job *j = f->jobs; j && !ready; j = j->next) {
            if (!j->remote || find_inflight(s, j->key))
                continue;
            outcome *o = find_outcome(s, j->key);
            if (o && o->cancelled && !f->closing) {
                /* Its worker stopped: fetch it here. */
                retry = claim_locked(s, j->key, f, true);
                if (!retry)
                    continue;
                set_remote(j, false);
            } else if (o) {
                j->ok = o->ok;
                j->nattempts = o->nattempts;
                memcpy(j->attempts, o->attempts, sizeof j->attempts);
            }
            ready = j;
        }
        pthread_mutex_unlock(&s->mu);
        if (!ready)
            return;
        if (retry) {
            ready->deadline = uv_now(f->loop) + ready->set.fetch_timeout_ms;
            job_next(ready);
        } else {
            job_finish(ready);
        }
    }
}

/* Background refresh: CRLs fetched by this process whose nextUpdate is
 * within refresh_before, refetched before they are needed. */
static void on_sweep(uv_timer_t *t)
{
    cg_crl_fetcher *f = t->data;
    cg_crl_store *s = f->store;
    int64_t now = now_s();
    typedef struct todo {
        unsigned char key[33];
        char **urls;
        size_t nurls;
        unsigned char *dn, *spki;
        size_t dn_len, spki_len;
        char name[256];
    } todo;
    todo list[8];
    int n = 0;
    pthread_mutex_lock(&s->mu);
    uint32_t before = s->set.refresh_before_s;
    for (size_t i = 0; i < s->n && n < 8; i++) {
        crl *c = s->crls[i];
        if (c->origin != CRL_ORIGIN_FETCH || !c->nurls || !c->spki || !c->bound || !c->next_update ||
            now < c->next_update - (int64_t)before || now - c->refresh_tried < REFRESH_RETRY_S)
            continue;
        unsigned char key[33];
        memcpy(key, c->issuer_id, 32);
        key[32] = c->is_delta ? 'D' : 'B';
        if (find_inflight(s, key))
            continue;
        todo *d = &list[n];
        memcpy(d->key, key, 33);
        d->urls = dup_strv(c->urls, c->nurls);
        d->nurls = c->nurls;
        d->dn = malloc(c->issuer_len);
        d->dn_len = c->issuer_len;
        d->spki = malloc(c->spki_len);
        d->spki_len = c->spki_len;
        if (!d->urls || !d->dn || !d->spki) {
            if (d->urls)
                free_strv(d->urls, d->nurls);
            free(d->dn);
            free(d->spki);
            continue;
        }
        memcpy(d->dn, c->der + c->issuer_off, c->issuer_len);
        memcpy(d->spki, c->spki, c->spki_len);
        snprintf(d->name, sizeof d->name, "%s", c->issuer);
        c->refresh_tried = now;
        n++;
    }
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < n; i++) {
        todo *d = &list[i];
        bool start = false;
        job *j = f->closing ? NULL
                            : job_start(f, d->key, d->urls, d->nurls, d->dn, d->dn_len, d->spki, d->spki_len,
                                        d->name, false, &start);
        if (j && start)
            job_next(j);
        free_strv(d->urls, d->nurls);
        free(d->dn);
        free(d->spki);
    }
}

cg_crl_fetcher *cg_crl_fetcher_new(uv_loop_t *loop, cg_crl_store *s)
{
    cg_crl_fetcher *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->loop = loop;
    f->store = s;
    f->multi = curl_multi_init();
    if (!f->multi) {
        free(f);
        return NULL;
    }
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, on_curl_timeout);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    uv_timer_init(loop, &f->curl_timer);
    uv_timer_init(loop, &f->sweep);
    uv_async_init(loop, &f->wake, on_wake);
    f->curl_timer.data = f->sweep.data = f->wake.data = f;
    f->handles = 3;
    uv_timer_start(&f->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    /* Neither keeps a loop alive on its own (certgate explain). */
    uv_unref((uv_handle_t *)&f->sweep);
    uv_unref((uv_handle_t *)&f->wake);
    return f;
}

void cg_crl_fetcher_close(cg_crl_fetcher *f)
{
    if (!f || f->closing)
        return;
    f->closing = true;
    cg_crl_store *s = f->store;
    /* No more wake-ups from other workers. */
    pthread_mutex_lock(&s->mu);
    for (inflight *i = s->inflight; i; i = i->next)
        for (size_t k = 0; k < i->nsubs;)
            if (i->subs[k] == f)
                i->subs[k] = i->subs[--i->nsubs];
            else
                k++;
    pthread_mutex_unlock(&s->mu);
    /* Cancel every job: waiters get UNKNOWN. */
    while (f->jobs) {
        job *j = f->jobs;
        job_unlink(j);
        if (j->easy) {
            curl_multi_remove_handle(f->multi, j->easy);
            curl_easy_cleanup(j->easy);
            j->easy = NULL;
        }
        cg_crl_attempt *a = attempt_add(j, j->next_url && j->next_url <= j->nurls ? j->urls[j->next_url - 1] : "-");
        if (a)
            snprintf(a->result, sizeof a->result, "cancelled: certgate is stopping");
        j->ok = false;
        if (!j->remote)
            publish(j, true);
        set_remote(j, false);
        wake_waiters(j);
        if (j->working)
            j->orphan = true; /* parse_done frees it */
        else
            job_free(j);
    }
    curl_multi_cleanup(f->multi);
    f->multi = NULL;
    while (f->socks)
        sock_close(f->socks);
    uv_close((uv_handle_t *)&f->curl_timer, on_handle_closed);
    uv_close((uv_handle_t *)&f->sweep, on_handle_closed);
    uv_close((uv_handle_t *)&f->wake, on_handle_closed);
}

/* ======================================================================
 * 4. the check
 * ====================================================================== */

typedef enum { IT_EVAL, IT_WAIT, IT_GOOD, IT_REVOKED, IT_UNKNOWN } it_state;

struct item {
    cg_crl_check *chk;
    item *next_waiter;        /* in waiting->waiters */
    job *waiting;
    int depth;
    const mbedtls_x509_crt *cert, *issuer;
    unsigned char id[32];     /* the issuer's id: SHA-256(subject || key) */
    bool cert_is_ca;
    char *cdp[16], *fresh[16];
    size_t ncdp, nfresh;
    it_state st;
    bool fetched_base, fetched_delta;
    cg_crl_attempt attempts[CG_CRL_MAX_ATTEMPTS];
    int nattempts;
    char reasons[700];        /* UNKNOWN: why no CRL could be used */
    /* the verdict (copied: the CRL may be replaced meanwhile) */
    int64_t revoked_at;
    int reason;
    bool via_delta, stale;
    cg_crl_info base, delta;
};

struct cg_crl_check {
    cg_crl_fetcher *f;
    cg_crl_cb cb;
    void *ctx;
    cg_crl_report *report;
    char listener[128];
    cg_revocation_mode mode;
    uint32_t stale_grace_s, refresh_before_s;
    bool allow_weak;
    const mbedtls_x509_crt *chain[CG_CRL_MAX_CHAIN];
    int busy; /* evaluating: completion waits */
    bool done;
    int nitems;
    item items[]; /* one per certificate but the anchor (an item is ~8 KiB) */
};

static const char *mode_name(cg_revocation_mode m)
{
    return m == CG_REVOCATION_FETCH ? "fetch" : m == CG_REVOCATION_CACHE_ONLY ? "cache-only" : "off";
}

static int cmp_number(const unsigned char *a, size_t al, const unsigned char *b, size_t bl)
{
    if (al != bl)
        return al < bl ? -1 : 1;
    return memcmp(a, b, al);
}

static bool tried_url(const item *it, const char *url)
{
    for (int i = 0; i < it->nattempts; i++)
        if (strcmp(it->attempts[i].url, url) == 0)
            return true;
    return false;
}

/* Is c usable for it? 1 fresh, 2 expired but within stale_grace, 0 not
 * (reason appended), -1 not applicable (out of scope, superseded). */
static int judge(const item *it, const crl *c, int memo, const crl *base, int64_t now, char *rej, size_t cap,
                 size_t *rlen)
{
    const cg_crl_check *chk = it->chk;
    char when[40];
    bool say = !(c->origin == CRL_ORIGIN_FETCH && tried_url(it, c->source)); /* the attempt said it already */
#define REJECT(...) do { if (say) { *rlen = append(rej, cap, *rlen, "%s%s: ", *rlen ? "; " : "", c->source); \
                                    *rlen = append(rej, cap, *rlen, __VA_ARGS__); } return 0; } while (0)
    if (memo < 0)
        REJECT("bad signature (does not verify with the public key of the issuer)");
    if (!chk->allow_weak && (c->md == MBEDTLS_MD_MD5 || c->md == MBEDTLS_MD_SHA1))
        REJECT("signed with %s, a weak hash (tls.allow_weak_signatures is false)", md_text(c->md));
    if (c->idp & (CRL_IDP_SOME_REASONS | CRL_IDP_INDIRECT | CRL_IDP_ONLY_ATTR))
        REJECT("a partial CRL (onlySomeReasons, indirectCRL or attribute certificates only), not supported");
    if (((c->idp & CRL_IDP_ONLY_USER) && it->cert_is_ca) || ((c->idp & CRL_IDP_ONLY_CA) && !it->cert_is_ca))
        return -1;
    if (base) {
        if (cmp_number(c->base_number, c->base_len, base->number, base->number_len) > 0) {
            char bn[72], dn[72];
            hex(c->base_number, c->base_len, dn, sizeof dn);
            hex(base->number, base->number_len, bn, sizeof bn);
            REJECT("a delta CRL for full CRL number %s, newer than the full CRL in use (number %s)", dn, bn);
        }
        if (cmp_number(c->number, c->number_len, base->number, base->number_len) <= 0)
            return -1; /* older than the full CRL: nothing new in it */
    }
    if (c->this_update > now + CRL_SKEW_S) {
        fmt_time(c->this_update, when, sizeof when);
        REJECT("not yet valid (thisUpdate %s is in the future)", when);
    }
    if (c->next_update && c->next_update <= now) {
        fmt_time(c->next_update, when, sizeof when);
        if (say) {
            *rlen = append(rej, cap, *rlen, "%s%s: ", *rlen ? "; " : "", c->source);
            *rlen = append(rej, cap, *rlen, "expired (nextUpdate %s has passed)", when);
        }
        return chk->stale_grace_s && now - c->next_update <= (int64_t)chk->stale_grace_s ? 2 : 0;
    }
    return 1;
#undef REJECT
}

static void item_unknown(item *it, const char *rej)
{
    size_t len = 0;
    it->st = IT_UNKNOWN;
    it->reasons[0] = '\0';
    for (int i = 0; i < it->nattempts; i++)
        len = append(it->reasons, sizeof it->reasons, len, "%s%s: %s", len ? "; " : "", it->attempts[i].url,
                     it->attempts[i].result);
    if (rej && rej[0])
        len = append(it->reasons, sizeof it->reasons, len, "%s%s", len ? "; " : "", rej);
    if (!len)
        snprintf(it->reasons, sizeof it->reasons, "no CRL found");
}

static void item_copy_attempts(item *it, const job *j)
{
    for (int i = 0; i < j->nattempts && it->nattempts < CG_CRL_MAX_ATTEMPTS; i++)
        it->attempts[it->nattempts++] = j->attempts[i];
}

/* Waits for issuer's CRL (or delta) from urls. false: no job (no memory). */
static bool item_fetch(item *it, bool delta, char *const *urls, size_t n)
{
    cg_crl_fetcher *f = it->chk->f;
    unsigned char key[33];
    memcpy(key, it->id, 32);
    key[32] = delta ? 'D' : 'B';
    char name[256];
    cg_cert_subject(it->issuer, name, sizeof name);
    bool start;
    job *j = job_start(f, key, urls, n, it->issuer->subject_raw.p, it->issuer->subject_raw.len,
                       it->issuer->pk_raw.p, it->issuer->pk_raw.len, name, true, &start);
    if (!j)
        return false;
    it->st = IT_WAIT;
    it->waiting = j;
    it->next_waiter = j->waiters;
    j->waiters = it;
    if (start)
        job_next(j); /* may finish at once (no URL usable): the waiter is told */
    return true;
}

/* Refetch c in the background when its nextUpdate is within refresh_before. */
static void maybe_refresh(item *it, crl *c, bool delta, int64_t now)
{
    cg_crl_check *chk = it->chk;
    cg_crl_fetcher *f = chk->f;
    if (chk->mode != CG_REVOCATION_FETCH || f->closing || !c->next_update ||
        now < c->next_update - (int64_t)chk->refresh_before_s)
        return;
    char *urls[32];
    size_t n = 0;
    if (delta) {
        for (size_t i = 0; i < it->nfresh && n < 32; i++)
            urls[n++] = it->fresh[i];
        for (size_t i = 0; i < c->nfreshest && n < 32; i++)
            urls[n++] = c->freshest[i];
    } else {
        for (size_t i = 0; i < it->ncdp && n < 32; i++)
            urls[n++] = it->cdp[i];
    }
    if (!n)
        return;
    bool due;
    pthread_mutex_lock(&f->store->mu);
    due = now - c->refresh_tried >= REFRESH_RETRY_S;
    if (due)
        c->refresh_tried = now;
    pthread_mutex_unlock(&f->store->mu);
    if (!due)
        return;
    unsigned char key[33];
    memcpy(key, it->id, 32);
    key[32] = delta ? 'D' : 'B';
    if (find_job(f, key))
        return;
    char name[256];
    cg_cert_subject(it->issuer, name, sizeof name);
    bool start;
    job *j = job_start(f, key, urls, n, it->issuer->subject_raw.p, it->issuer->subject_raw.len,
                       it->issuer->pk_raw.p, it->issuer->pk_raw.len, name, false, &start);
    if (j && start)
        job_next(j);
}

static void item_decide(item *it, crl *base, crl *delta)
{
    const unsigned char *serial = it->cert->serial.p;
    size_t len = it->cert->serial.len;
    const crl_entry *e = NULL;
    const crl_entry *de = delta ? crl_find(delta, serial, len) : NULL;
    bool via_delta = false;
    if (de) {
        e = de->reason == CRL_REASON_REMOVE_FROM_CRL ? NULL : de;
        via_delta = e != NULL;
    } else {
        e = crl_find(base, serial, len);
        if (e && e->reason == CRL_REASON_REMOVE_FROM_CRL)
            e = NULL;
    }
    crl_info_fill(base, &it->base);
    it->base.stale = base->next_update && base->next_update <= now_s();
    if (delta) {
        crl_info_fill(delta, &it->delta);
        it->delta.stale = delta->next_update && delta->next_update <= now_s();
    }
    it->stale = it->base.stale || it->delta.stale;
    if (e) {
        it->st = IT_REVOKED;
        it->revoked_at = e->revoked;
        it->reason = e->reason;
        it->via_delta = via_delta;
    } else {
        it->st = IT_GOOD;
    }
}

static void item_eval(item *it)
{
    cg_crl_check *chk = it->chk;
    cg_crl_fetcher *f = chk->f;
    cg_crl_store *s = f->store;
    int64_t now = now_s();
    char rej[600];
    size_t rlen = 0;
    rej[0] = '\0';
    cand bc[MAX_CANDS], dc[MAX_CANDS];
    int nb = 0, nd = 0;

    if (mbedtls_x509_crt_check_key_usage(it->issuer, MBEDTLS_X509_KU_CRL_SIGN) != 0) {
        item_unknown(it, "the issuer's key usage does not include cRLSign, so no CRL signed by it is valid");
        return;
    }
    nb = store_candidates(s, it->issuer, it->id, false, bc);
    crl *base = NULL, *stale = NULL;
    for (int i = 0; i < nb; i++) {
        int v = judge(it, bc[i].c, bc[i].memo, NULL, now, rej, sizeof rej, &rlen);
        if (v == 1 && (!base || newer(bc[i].c, base)))
            base = bc[i].c;
        else if (v == 2 && (!stale || newer(bc[i].c, stale)))
            stale = bc[i].c;
    }
    if (!base) {
        if (chk->mode == CG_REVOCATION_FETCH && !it->fetched_base && !f->closing && it->ncdp) {
            if (item_fetch(it, false, it->cdp, it->ncdp))
                goto out;
        }
        if (stale) {
            base = stale;
        } else {
            if (chk->mode == CG_REVOCATION_FETCH && !it->ncdp)
                rlen = append(rej, sizeof rej, rlen, "%sthe certificate has no CRL Distribution Point URL",
                              rlen ? "; " : "");
            else if (chk->mode == CG_REVOCATION_CACHE_ONLY && nb == 0)
                rlen = append(rej, sizeof rej, rlen,
                              "%sno CRL of this issuer in crl_files or the cache (revocation.mode cache-only "
                              "does not fetch)", rlen ? "; " : "");
            else if (f->closing)
                rlen = append(rej, sizeof rej, rlen, "%scertgate is stopping", rlen ? "; " : "");
            item_unknown(it, rej);
            goto out;
        }
    } else {
        maybe_refresh(it, base, false, now);
    }

    crl *delta = NULL;
    if (it->nfresh || base->nfreshest) {
        crl *dstale = NULL;
        nd = store_candidates(s, it->issuer, it->id, true, dc);
        for (int i = 0; i < nd; i++) {
            int v = judge(it, dc[i].c, dc[i].memo, base, now, rej, sizeof rej, &rlen);
            if (v == 1 && (!delta || newer(dc[i].c, delta)))
                delta = dc[i].c;
            else if (v == 2 && (!dstale || newer(dc[i].c, dstale)))
                dstale = dc[i].c;
        }
        if (!delta) {
            char *urls[32];
            size_t n = 0;
            for (size_t i = 0; i < it->nfresh && n < 32; i++)
                urls[n++] = it->fresh[i];
            for (size_t i = 0; i < base->nfreshest && n < 32; i++)
                urls[n++] = base->freshest[i];
            if (chk->mode == CG_REVOCATION_FETCH && !it->fetched_delta && !f->closing && n &&
                item_fetch(it, true, urls, n))
                goto out;
            if (dstale) {
                delta = dstale;
            } else {
                rlen = append(rej, sizeof rej, rlen,
                              "%sno valid delta CRL, which the %s announces (Freshest CRL)", rlen ? "; " : "",
                              it->nfresh ? "certificate" : "full CRL");
                item_unknown(it, rej);
                goto out;
            }
        } else {
            maybe_refresh(it, delta, true, now);
        }
    }
    item_decide(it, base, delta);
out:
    cands_free(bc, nb);
    cands_free(dc, nd);
}

static void item_release(item *it)
{
    if (it->waiting) {
        for (item **pp = &it->waiting->waiters; *pp; pp = &(*pp)->next_waiter)
            if (*pp == it) {
                *pp = it->next_waiter;
                break;
            }
        it->waiting = NULL;
    }
    for (size_t i = 0; i < it->ncdp; i++)
        free(it->cdp[i]);
    for (size_t i = 0; i < it->nfresh; i++)
        free(it->fresh[i]);
    it->ncdp = it->nfresh = 0;
}

static void check_free(cg_crl_check *chk)
{
    for (int i = 0; i < chk->nitems; i++)
        item_release(&chk->items[i]);
    free(chk);
}

static void item_summary(const item *it, char *out, size_t cap)
{
    char when[40];
    switch (it->st) {
    case IT_GOOD:
        snprintf(out, cap, "not revoked: not listed in the CRL of \"%s\"%s%s%s", it->base.issuer,
                 it->delta.present ? " nor in its delta CRL" : "",
                 it->stale ? " (a CRL past its nextUpdate, accepted within revocation.stale_grace)" : "", "");
        break;
    case IT_REVOKED:
        fmt_time(it->revoked_at, when, sizeof when);
        snprintf(out, cap, "REVOKED on %s, reason %s (%sCRL of \"%s\", from %s)", when, crl_reason_name(it->reason),
                 it->via_delta ? "delta " : "", it->via_delta ? it->delta.issuer : it->base.issuer,
                 it->via_delta ? it->delta.source : it->base.source);
        break;
    case IT_UNKNOWN:
        snprintf(out, cap, "UNKNOWN: %s", it->reasons);
        break;
    default:
        snprintf(out, cap, "not checked (the verdict was decided by another certificate of the chain)");
        break;
    }
}

static void fill_report(cg_crl_check *chk)
{
    cg_crl_report *r = chk->report;
    r->n = chk->nitems;
    for (int i = 0; i < chk->nitems; i++) {
        const item *it = &chk->items[i];
        cg_crl_report_cert *rc = &r->certs[i];
        rc->depth = it->depth;
        rc->status = it->st == IT_GOOD ? CG_REV_GOOD : it->st == IT_REVOKED ? CG_REV_REVOKED : CG_REV_UNKNOWN;
        item_summary(it, rc->summary, sizeof rc->summary);
        rc->base = it->base;
        rc->delta = it->delta;
        rc->nattempts = it->nattempts;
        memcpy(rc->attempts, it->attempts, sizeof rc->attempts);
    }
}

static void refusal_revoked(const cg_crl_check *chk, const item *it, cg_refusal *why)
{
    char who[400], when[40];
    (void)chk;
    cg_cert_describe(it->cert, it->depth, who, sizeof who);
    fmt_time(it->revoked_at, when, sizeof when);
    const cg_crl_info *src = it->via_delta ? &it->delta : &it->base;
    cg_refuse(why, CG_REFUSE_CERT_REVOKED,
              "The certificate %s was revoked on %s (reason: %s), according to the %sCRL of \"%s\" (thisUpdate %s, "
              "from %s).",
              who, when, crl_reason_name(it->reason), it->via_delta ? "delta " : "", src->issuer, src->this_update,
              src->source);
}

static void refusal_unknown(const cg_crl_check *chk, const item *it, int others, cg_refusal *why)
{
    char who[400], issuer[256], tail[300];
    cg_cert_describe(it->cert, it->depth, who, sizeof who);
    cg_cert_subject(it->issuer, issuer, sizeof issuer);
    snprintf(tail, sizeof tail, ". Revocation is checked fail-closed (listener \"%s\", revocation.mode %s)%s.",
             chk->listener, mode_name(chk->mode),
             others ? "; other certificates of the chain are unknown too" : "");
    why->kind = CG_REFUSE_REVOCATION_UNKNOWN;
    size_t cap = sizeof why->detail, tl = strlen(tail), len = 0;
    len = append(why->detail, cap - tl, len, "No valid CRL could be obtained for the certificate %s, issued by \"%s\": %s",
                 who, issuer, it->reasons);
    if (len > cap - tl - 1)
        len = cap - tl - 1;
    memcpy(why->detail + len, tail, tl + 1);
}

/* Completes chk when its verdict is known. Returns true when it finished
 * (chk is then freed). */
static bool check_maybe_done(cg_crl_check *chk)
{
    if (chk->done || chk->busy)
        return false;
    const item *revoked = NULL, *unknown = NULL;
    int nunknown = 0;
    bool waiting = false;
    for (int i = chk->nitems - 1; i >= 0; i--) { /* from the CA nearest the anchor down */
        const item *it = &chk->items[i];
        if (it->st == IT_REVOKED && !revoked)
            revoked = it;
        if (it->st == IT_UNKNOWN) {
            if (!unknown)
                unknown = it;
            nunknown++;
        }
        if (it->st == IT_WAIT || it->st == IT_EVAL)
            waiting = true;
    }
    if (!revoked && waiting)
        return false;
    chk->done = true;
    for (int i = 0; i < chk->nitems; i++)
        item_release(&chk->items[i]);
    cg_refusal why;
    cg_rev_status st = revoked ? CG_REV_REVOKED : unknown ? CG_REV_UNKNOWN : CG_REV_GOOD;
    if (revoked)
        refusal_revoked(chk, revoked, &why);
    else if (unknown)
        refusal_unknown(chk, unknown, nunknown - 1, &why);
    if (chk->report)
        fill_report(chk);
    chk->cb(chk->ctx, st, st == CG_REV_GOOD ? NULL : &why);
    check_free(chk);
    return true;
}

/* A job the item waited for ended (its attempts are the job's). */
static void wake_waiters(job *j)
{
    item *it;
    while ((it = j->waiters)) {
        j->waiters = it->next_waiter;
        it->waiting = NULL;
        it->next_waiter = NULL;
        cg_crl_check *chk = it->chk;
        item_copy_attempts(it, j);
        if (j->delta)
            it->fetched_delta = true;
        else
            it->fetched_base = true;
        it->st = IT_EVAL;
        chk->busy++;
        item_eval(it);
        chk->busy--;
        check_maybe_done(chk);
    }
}

static void immediate(cg_crl_cb cb, void *ctx, cg_rev_status st, cg_refusal_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void immediate(cg_crl_cb cb, void *ctx, cg_rev_status st, cg_refusal_kind kind, const char *fmt, ...)
{
    cg_refusal why;
    why.kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why.detail, sizeof why.detail, fmt, ap);
    va_end(ap);
    cb(ctx, st, st == CG_REV_GOOD ? NULL : &why);
}

cg_crl_check *cg_crl_check_chain_report(cg_crl_fetcher *f, const cg_config *cfg, const cg_listener_cfg *l,
                                        const mbedtls_x509_crt *const *chain, int n, cg_crl_cb cb, void *ctx,
                                        cg_crl_report *report)
{
    (void)cfg;
    if (report)
        memset(report, 0, sizeof *report);
    if (l->revocation.mode == CG_REVOCATION_OFF || n <= 0) {
        cb(ctx, CG_REV_GOOD, NULL);
        return NULL;
    }
    const cg_verify_policy *policy = l->tls ? cg_tls_server_policy(l->tls) : NULL;
    const mbedtls_x509_crt *full[CG_CRL_MAX_CHAIN];
    if (n > CG_CRL_MAX_CHAIN)
        n = CG_CRL_MAX_CHAIN;
    for (int i = 0; i < n; i++)
        full[i] = chain[i];
    if (n == 1) {
        /* A resumed session: only the leaf. The chain it was verified with
         * is remembered by the listener's verify policy. */
        char err[400] = "";
        int m = policy ? cg_verify_chain(policy, chain[0], NULL, full, CG_CRL_MAX_CHAIN, err, sizeof err) : 0;
        if (m <= 0) {
            char who[400];
            cg_cert_describe(chain[0], 0, who, sizeof who);
            immediate(cb, ctx, CG_REV_UNKNOWN, CG_REFUSE_REVOCATION_UNKNOWN,
                      "The revocation status of the certificate %s cannot be checked: the TLS session was resumed "
                      "and its certificate chain is not known (%s). Connect again without resuming the session.",
                      who, err[0] ? err : "listener without a verify policy");
            return NULL;
        }
        n = m;
    }
    /* Sized for this chain: a check per connection must not cost a 100 KiB
     * allocation (every item of the longest chain). */
    cg_crl_check *chk = calloc(1, sizeof *chk + (size_t)(n > 1 ? n - 1 : 0) * sizeof(item));
    if (!chk) {
        immediate(cb, ctx, CG_REV_UNKNOWN, CG_REFUSE_REVOCATION_UNKNOWN,
                  "The revocation status could not be checked: out of memory.");
        return NULL;
    }
    memcpy(chk->chain, full, (size_t)n * sizeof full[0]);
    chk->f = f;
    chk->cb = cb;
    chk->ctx = ctx;
    chk->report = report;
    snprintf(chk->listener, sizeof chk->listener, "%s", l->name ? l->name : "?");
    chk->mode = l->revocation.mode;
    chk->stale_grace_s = l->revocation.stale_grace_s;
    chk->allow_weak = l->allow_weak_signatures;
    pthread_mutex_lock(&f->store->mu);
    chk->refresh_before_s = f->store->set.refresh_before_s;
    pthread_mutex_unlock(&f->store->mu);
    chk->nitems = n - 1;
    chk->busy = 1;
    for (int i = 0; i < chk->nitems; i++) {
        item *it = &chk->items[i];
        it->chk = chk;
        it->depth = i;
        it->cert = chk->chain[i];
        it->issuer = chk->chain[i + 1];
        it->cert_is_ca = it->cert->ca_istrue != 0;
        crl_issuer_id(it->issuer, it->id);
        it->ncdp = cg_crl_cert_urls(it->cert, false, it->cdp, 16);
        it->nfresh = cg_crl_cert_urls(it->cert, true, it->fresh, 16);
        it->st = IT_EVAL;
    }
    for (int i = 0; i < chk->nitems && !chk->done; i++) {
        item_eval(&chk->items[i]);
        /* A revoked CA decides at once: no need to fetch the others. */
        if (chk->items[i].st == IT_REVOKED)
            break;
    }
    chk->busy = 0;
    if (check_maybe_done(chk))
        return NULL;
    return chk;
}

cg_crl_check *cg_crl_check_chain(cg_crl_fetcher *f, const cg_config *cfg, const cg_listener_cfg *l,
                                 const mbedtls_x509_crt *const *chain, int n, cg_crl_cb cb, void *ctx)
{
    return cg_crl_check_chain_report(f, cfg, l, chain, n, cb, ctx, NULL);
}

void cg_crl_check_cancel(cg_crl_check *c)
{
    if (!c || c->done)
        return;
    c->done = true;
    check_free(c);
}
