/* One-to-one keys and canonical distinguished names (cert_key.h). */
#include "cert_key.h"

#include <string.h>

#include <mbedtls/sha1.h>

#include "mapping_text.h"
#include "base/base.h"
#include "x509/x509.h"

const char *const cg_kind_names[N_KINDS] = { "sha256", "issuer+serial", "ski", "sha1_public_key",
                                                 "issuer+subject", "rfc822" };

/* ---- the canonical form of distinguished names ---- */

/* RFC 4514 section 2.4 escaping, for text that will be read back. */
static void sb_dn_value(cg_sb *b, const char *s, size_t n, bool folded)
{
    for (size_t i = 0; i < n; i++) {
        char c = folded ? cg_ascii_lower(s[i]) : s[i];
        bool esc = (c && strchr("\"+,;<>\\", c) != NULL) || (c == '=' && folded) ||
                   (i == 0 && (c == '#' || c == ' ')) || (i == n - 1 && c == ' ');
        if (esc)
            sb_add(b, "\\", 1);
        sb_add(b, &c, 1);
    }
}

/* Order of attributes inside a multi-valued RDN, so "A+B" and "B+A" give
 * one canonical form. */
static int dn_attr_cmp(const cg_dn_attr *x, const cg_dn_attr *y)
{
    int c = strcmp(x->type, y->type);
    if (c)
        return c;
    size_t n = x->len < y->len ? x->len : y->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = (unsigned char)cg_ascii_lower(x->val[i]), b = (unsigned char)cg_ascii_lower(y->val[i]);
        if (a != b)
            return a < b ? -1 : 1;
    }
    return x->len < y->len ? -1 : x->len > y->len;
}

/* The canonical form strong keys compare: RDNs in RFC 4514 order, the
 * attributes of a multi-valued RDN sorted, types by canonical name or OID,
 * values escaped and ASCII-case-folded (RFC 5280 asks for case-insensitive
 * DN matching; ASCII folding is the locale-free part of it). */
bool cg_dn_canon(const cg_dn_attr *a, size_t n, char *out, size_t cap)
{
    cg_sb b;
    sb_init(&b, out, cap);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && a[j].rdn_more)
            j++;
        size_t k = j + 1 - i, idx[16];
        if (k > 16)
            return false;
        for (size_t x = 0; x < k; x++) {
            size_t y = x;
            while (y > 0 && dn_attr_cmp(&a[i + x], &a[idx[y - 1]]) < 0) {
                idx[y] = idx[y - 1];
                y--;
            }
            idx[y] = i + x;
        }
        if (i)
            sb_add(&b, ",", 1);
        for (size_t x = 0; x < k; x++) {
            if (x)
                sb_add(&b, "+", 1);
            sb_puts(&b, a[idx[x]].type);
            sb_add(&b, "=", 1);
            sb_dn_value(&b, a[idx[x]].val, a[idx[x]].len, true);
        }
        i = j + 1;
    }
    return !b.full;
}

/* Index ranges of the RDNs of a DN field, in DER order. */
static size_t view_rdns(const cg_view *v, int field, uint16_t starts[], size_t max)
{
    size_t n = 0;
    for (uint16_t i = v->dn_begin[field]; i < v->dn_end[field] && n < max; i++) {
        if (i == v->dn_begin[field] || !v->v[i - 1].rdn_more)
            starts[n++] = i;
    }
    return n;
}

/* The canonical DN of the subject or issuer; false when a value cannot be
 * decoded (such a DN matches no strong key) or the DN is too large. */
static bool view_dn_canon(const cg_view *v, int field, char *out, size_t cap)
{
    uint16_t starts[CG_VIEW_MAX_VALUES];
    cg_dn_attr attrs[CG_VIEW_MAX_VALUES];
    char oids[CG_VIEW_MAX_VALUES][64];
    size_t n = view_rdns(v, field, starts, CG_VIEW_MAX_VALUES), k = 0;
    if (v->overflow)
        return false;
    for (size_t r = n; r-- > 0;) {
        for (uint16_t i = starts[r];; i++) {
            const cg_value *x = &v->v[i];
            if (x->problem != VP_OK)
                return false;
            const cg_attr_type *t = cg_attr_by_oid(x->oid, x->oid_len);
            if (t) {
                attrs[k].type = t->canon;
            } else {
                cg_oid_text(x->oid, x->oid_len, oids[k], sizeof oids[k], "(unreadable OID)");
                attrs[k].type = oids[k];
            }
            attrs[k].val = x->s;
            attrs[k].len = x->len;
            bool more = x->rdn_more && i + 1 < v->dn_end[field];
            attrs[k].rdn_more = more;
            k++;
            if (!more)
                break;
        }
    }
    return cg_dn_canon(attrs, k, out, cap);
}

/* ---- parsing RFC 4514 text (issuer: and subject: keys) ---- */

/* A dotted OID without leading zeros (as mbedTLS prints them). */
static bool dotted_oid_ok(const char *s, size_t n)
{
    bool start = true;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (start)
                return false;
            start = true;
        } else if (cg_ascii_is_digit(s[i])) {
            if (start && s[i] == '0' && i + 1 < n && cg_ascii_is_digit(s[i + 1]))
                return false;
            start = false;
        } else {
            return false;
        }
    }
    return n > 0 && !start;
}

/* The canonical type of an attribute named in text; NULL if unknown. */
static const char *dn_type(cg_dn_parse *d, const char *s, size_t n, char *why, size_t wcap)
{
    if (n > 4 && cg_ascii_ieq_str(s, 4, "OID."))
        s += 4, n -= 4;
    if (n && cg_ascii_is_digit(s[0])) {
        if (!dotted_oid_ok(s, n) || n >= sizeof d->oids[0]) {
            cg_fmt_into(why, wcap, "\"%.*s\" is not a dotted OID", (int)n, s);
            return NULL;
        }
        for (size_t i = 0; i < cg_attr_type_count; i++) {
            char dotted[64];
            cg_oid_text((const unsigned char *)cg_attr_types[i].oid, cg_attr_types[i].oid_len, dotted,
                     sizeof dotted, "(unreadable OID)");
            if (strlen(dotted) == n && memcmp(dotted, s, n) == 0)
                return cg_attr_types[i].canon;
        }
        memcpy(d->oids[d->n], s, n);
        d->oids[d->n][n] = '\0';
        return d->oids[d->n];
    }
    const cg_attr_type *t = cg_attr_by_name(s, n);
    if (!t)
        cg_fmt_into(why, wcap, "unknown attribute type \"%.*s\" (use a name such as CN, O, OU, L, ST, "
                 "C, DC, UID, emailAddress, serialNumber, or a dotted OID)", (int)(n > 40 ? 40 : n), s);
    return t ? t->canon : NULL;
}

/* One value: up to an unescaped ',' or '+'. Unescaped spaces around it are
 * not part of it (RFC 4514 makes significant spaces escaped). */
static bool dn_value(cg_dn_parse *d, const char **pp, const char *end, char *why, size_t wcap)
{
    const char *p = *pp;
    size_t start = d->used, keep = d->used; /* keep: length up to the last significant byte */
    while (p < end && *p == ' ')
        p++;
    if (p < end && *p == '#') {
        cg_fmt_into(why, wcap, "hex-encoded values (\"#...\") are not supported: write the value as text");
        return false;
    }
    if (p < end && *p == '"') {
        cg_fmt_into(why, wcap, "quoted values are not RFC 4514: escape special characters with '\\' instead");
        return false;
    }
    while (p < end && *p != ',' && *p != '+') {
        char c = *p++;
        bool escaped = false;
        if (c == '\\') {
            if (p < end && *p && strchr(" \"#+,;<=>\\", *p)) {
                c = *p++;
            } else if (p + 1 < end && cg_hex_value(p[0]) >= 0 && cg_hex_value(p[1]) >= 0) {
                c = (char)(cg_hex_value(p[0]) * 16 + cg_hex_value(p[1]));
                p += 2;
            } else {
                cg_fmt_into(why, wcap, "'\\' must be followed by one of  \"#+,;<=>\\ or two hex digits");
                return false;
            }
            escaped = true;
        } else if (c && strchr("\";<>=", c)) {
            cg_fmt_into(why, wcap, "'%c' must be escaped as '\\%c' in a value", c, c);
            return false;
        }
        if (d->used + 1 >= sizeof d->vals) {
            cg_fmt_into(why, wcap, "the name is too long (over %d bytes)", CG_DN_MAX);
            return false;
        }
        d->vals[d->used++] = c;
        if (escaped || c != ' ')
            keep = d->used;
    }
    d->used = keep;
    size_t at;
    const char *bad = text_problem(d->vals + start, keep - start, &at);
    if (bad) {
        cg_fmt_into(why, wcap, "a value %s", bad);
        return false;
    }
    cg_dn_attr *a = &d->attrs[d->n];
    a->val = d->vals + start;
    a->len = keep - start;
    *pp = p;
    return true;
}

/* RFC 4514 text -> attributes. Spaces after ',' / '+' and around '=' are
 * allowed, so "CN=x, O=y" (RFC 2253 style) parses too. */
bool cg_dn_parse_text(cg_dn_parse *d, const char *s, size_t len, char *why, size_t wcap)
{
    const char *p = s, *end = s + len;
    d->n = d->used = 0;
    d->x500_order = false;
    while (p < end && *p == ' ')
        p++;
    if (p == end) {
        cg_fmt_into(why, wcap, "the name is empty");
        return false;
    }
    while (p < end) {
        if (d->n >= CG_VIEW_MAX_VALUES) {
            cg_fmt_into(why, wcap, "the name has more than %d attributes", CG_VIEW_MAX_VALUES);
            return false;
        }
        while (p < end && *p == ' ')
            p++;
        const char *t = p;
        while (p < end && (cg_ascii_is_alpha(*p) || cg_ascii_is_digit(*p) || *p == '-' || *p == '.'))
            p++;
        size_t tlen = (size_t)(p - t);
        while (p < end && *p == ' ')
            p++;
        if (tlen == 0 || p == end || *p != '=') {
            cg_fmt_into(why, wcap, "expected TYPE=value at \"%.*s\"", (int)((end - t) > 30 ? 30 : end - t), t);
            return false;
        }
        p++;
        const char *type = dn_type(d, t, tlen, why, wcap);
        if (!type || !dn_value(d, &p, end, why, wcap))
            return false;
        d->attrs[d->n].type = type;
        d->attrs[d->n].rdn_more = p < end && *p == '+';
        d->n++;
        if (p < end) {
            p++; /* ',' or '+' */
            if (p == end) {
                cg_fmt_into(why, wcap, "the name ends with a separator");
                return false;
            }
        }
    }
    /* "C=US,O=Example,CN=CA" is X.500 order, as OpenSSL prints by default;
     * compared in RFC 4514 order it would never match. */
    const char *first = d->attrs[0].type, *last = d->attrs[d->n - 1].type;
    d->x500_order = d->n > 1 && (!strcmp(first, "C") || !strcmp(first, "DC")) && !strcmp(last, "CN");
    return true;
}

/* The attributes in reverse RDN order: "C=US,O=Example,CN=x" -> "CN=x,O=Example,C=US". */
void cg_dn_reverse_text(const cg_dn_parse *d, char *out, size_t cap)
{
    cg_sb b;
    sb_init(&b, out, cap);
    for (size_t j = d->n; j-- > 0;) {
        size_t i = j;
        while (i > 0 && d->attrs[i - 1].rdn_more)
            i--;
        if (j != d->n - 1)
            sb_add(&b, ",", 1);
        for (size_t k = i; k <= j; k++) {
            const cg_attr_type *t = NULL;
            for (size_t x = 0; x < cg_attr_type_count && !t; x++)
                if (!strcmp(cg_attr_types[x].canon, d->attrs[k].type))
                    t = &cg_attr_types[x];
            if (k != i)
                sb_add(&b, "+", 1);
            sb_puts(&b, t ? t->name : d->attrs[k].type);
            sb_add(&b, "=", 1);
            sb_dn_value(&b, d->attrs[k].val, d->attrs[k].len, false);
        }
        j = i;
    }
}

bool cg_dn_canonical(const char *dn, char *out, size_t cap, char *why, size_t why_cap)
{
    static _Thread_local cg_dn_parse d;
    if (!cg_dn_parse_text(&d, dn, strlen(dn), why, why_cap))
        return false;
    if (!cg_dn_canon(d.attrs, d.n, out, cap)) {
        cg_fmt_into(why, why_cap, "the name is too long");
        return false;
    }
    return true;
}

/* ---- one-to-one keys of a certificate ---- */

const char *cg_view_key_sha256(cg_view *v)
{
    if (!v->keys.sha256_done) {
        cg_cert_sha256_hex(v->crt, v->keys.sha256);
        v->keys.sha256_done = true;
    }
    return v->keys.sha256;
}

/* Lower-case hex without leading zero bytes or digits ("0" for zero). */
static void serial_canon(const unsigned char *p, size_t n, char *out)
{
    char hex[2 * MBEDTLS_X509_RFC5280_MAX_SERIAL_LEN + 1];
    if (n > MBEDTLS_X509_RFC5280_MAX_SERIAL_LEN)
        n = MBEDTLS_X509_RFC5280_MAX_SERIAL_LEN;
    cg_hex_encode(p, n, hex, sizeof hex, false);
    const char *s = hex;
    while (*s == '0')
        s++;
    strcpy(out, *s ? s : "0");
}

static const char *view_key_serial(cg_view *v)
{
    if (!v->keys.serial_done) {
        serial_canon(v->crt->serial.p, v->crt->serial.len, v->keys.serial);
        v->keys.serial_done = true;
    }
    return v->keys.serial;
}

const char *cg_view_key_ski(cg_view *v)
{
    if (!v->keys.ski_done) {
        if (v->ski)
            cg_hex_encode(v->ski, v->ski_len, v->keys.ski, sizeof v->keys.ski, false);
        v->keys.has_ski = v->ski != NULL;
        v->keys.ski_done = true;
    }
    return v->keys.has_ski ? v->keys.ski : NULL;
}

/* SHA-1 of the DER SubjectPublicKeyInfo (crt->pk_raw). */
const char *cg_view_key_sha1pk(cg_view *v)
{
    if (!v->keys.sha1pk_done) {
        unsigned char d[20];
        mbedtls_sha1(v->crt->pk_raw.p, v->crt->pk_raw.len, d);
        cg_hex_encode(d, sizeof d, v->keys.sha1pk, sizeof v->keys.sha1pk, false);
        v->keys.sha1pk_done = true;
    }
    return v->keys.sha1pk;
}

static const char *view_key_dn(cg_view *v, int field)
{
    bool *done = field == FIELD_ISSUER ? &v->keys.issuer_done : &v->keys.subject_done;
    bool *ok = field == FIELD_ISSUER ? &v->keys.issuer_ok : &v->keys.subject_ok;
    char *out = field == FIELD_ISSUER ? v->keys.issuer : v->keys.subject;
    if (!*done) {
        *ok = view_dn_canon(v, field, out, CG_DN_MAX);
        *done = true;
    }
    return *ok ? out : NULL;
}

/* Builds the certificate's key of kind k (not rfc822) into key; false when
 * the certificate has none (no SKI); *undecodable when it cannot be
 * computed because a name does not decode. */
bool cg_view_key(cg_view *v, cg_kind k, char *key, size_t cap, bool *undecodable)
{
    const char *a = NULL, *b = NULL;
    switch (k) {
    case K_SHA256: a = cg_view_key_sha256(v); break;
    case K_SKI:
        if (!(a = cg_view_key_ski(v)))
            return false;
        break;
    case K_SHA1PK: a = cg_view_key_sha1pk(v); break;
    case K_ISSUER_SERIAL:
    case K_ISSUER_SUBJECT:
        a = view_key_dn(v, FIELD_ISSUER);
        b = k == K_ISSUER_SERIAL ? view_key_serial(v) : view_key_dn(v, FIELD_SUBJECT);
        if (!a || !b) {
            *undecodable = true;
            return false;
        }
        break;
    default: return false;
    }
    cg_fmt_into(key, cap, b ? "%s\n%s" : "%s", a, b);
    return true;
}
