/* Distinguished names as RFC 4514 text (dn.h). Reads the DER itself,
 * bounds-checked byte by byte, so it renders any input, certificate or
 * not, and a fuzzer can feed it anything. */
#include "dn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- UTF-8 ---- */

size_t cg_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, v = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, v = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, v = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

size_t cg_utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- string values ---- */

enum {
    TAG_UTF8 = 0x0C, TAG_NUMERIC = 0x12, TAG_PRINTABLE = 0x13, TAG_T61 = 0x14, TAG_IA5 = 0x16,
    TAG_VISIBLE = 0x1A, TAG_UNIVERSAL = 0x1C, TAG_BMP = 0x1E,
};

/* The code point at p[*i] of a value of string type tag; advances *i.
 * Returns false when the value does not decode there (*bad: why). The
 * value's length was checked against the unit size by value_check(). */
static bool value_next(int tag, const unsigned char *p, size_t len, size_t *i, uint32_t *cp,
                       cg_dn_value_status *bad)
{
    size_t k;
    switch (tag) {
    case TAG_UTF8:
        k = cg_utf8_next(p + *i, len - *i, cp);
        if (k == 0) {
            *bad = CG_DN_VALUE_UTF8;
            return false;
        }
        *i += k;
        return true;
    case TAG_BMP:
    case TAG_UNIVERSAL:
        k = tag == TAG_BMP ? 2 : 4;
        *cp = 0;
        for (size_t j = 0; j < k; j++)
            *cp = (*cp << 8) | p[*i + j];
        *i += k;
        /* UCS-2 has no surrogates, so a pair is not decoded either. */
        if (*cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) {
            *bad = CG_DN_VALUE_CHARSET;
            return false;
        }
        return true;
    default: /* the ASCII types */
        *cp = p[(*i)++];
        if (*cp >= 0x80) {
            *bad = CG_DN_VALUE_CHARSET;
            return false;
        }
        return true;
    }
}

static cg_dn_value_status value_check(int tag, const unsigned char *p, size_t len, size_t *bad_at)
{
    switch (tag) {
    case TAG_UTF8: case TAG_NUMERIC: case TAG_PRINTABLE: case TAG_T61: case TAG_IA5: case TAG_VISIBLE:
        break;
    case TAG_BMP:
        if (len % 2)
            return CG_DN_VALUE_CHARSET;
        break;
    case TAG_UNIVERSAL:
        if (len % 4)
            return CG_DN_VALUE_CHARSET;
        break;
    default:
        return CG_DN_VALUE_NOT_STRING;
    }
    cg_dn_value_status bad = CG_DN_VALUE_OK;
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        size_t at = i;
        if (!value_next(tag, p, len, &i, &cp, &bad)) {
            *bad_at = at;
            return bad;
        }
    }
    return CG_DN_VALUE_OK;
}

cg_dn_value_status cg_dn_value_decode(int tag, const unsigned char *p, size_t len, char *out, size_t cap,
                                      size_t *olen, size_t *bad_at)
{
    size_t at = 0;
    cg_dn_value_status st = value_check(tag, p, len, &at);
    if (bad_at)
        *bad_at = at;
    if (st != CG_DN_VALUE_OK)
        return st;
    size_t o = 0;
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        char u[4];
        value_next(tag, p, len, &i, &cp, &st);
        size_t n = cg_utf8_put(cp, u);
        if (cap - o < n)
            return CG_DN_VALUE_ROOM;
        memcpy(out + o, u, n);
        o += n;
    }
    *olen = o;
    return CG_DN_VALUE_OK;
}

/* ---- attribute types ---- */

#define T(name, oid) { name, oid, sizeof(oid) - 1 }
static const cg_dn_type types[] = {
    T("CN", "\x55\x04\x03"),
    T("O", "\x55\x04\x0A"),
    T("OU", "\x55\x04\x0B"),
    T("L", "\x55\x04\x07"),
    T("ST", "\x55\x04\x08"),
    T("C", "\x55\x04\x06"),
    T("STREET", "\x55\x04\x09"),
    T("DC", "\x09\x92\x26\x89\x93\xF2\x2C\x64\x01\x19"),   /* 0.9.2342.19200300.100.1.25 */
    T("UID", "\x09\x92\x26\x89\x93\xF2\x2C\x64\x01\x01"),  /* 0.9.2342.19200300.100.1.1 */
    T("emailAddress", "\x2A\x86\x48\x86\xF7\x0D\x01\x09\x01"), /* 1.2.840.113549.1.9.1 */
    T("serialNumber", "\x55\x04\x05"),
    T("SN", "\x55\x04\x04"),
    T("GN", "\x55\x04\x2A"),
    T("title", "\x55\x04\x0C"),
    T("initials", "\x55\x04\x2B"),
    T("generationQualifier", "\x55\x04\x2C"),
    T("dnQualifier", "\x55\x04\x2E"),
    T("pseudonym", "\x55\x04\x41"),
    T("postalCode", "\x55\x04\x11"),
};
#undef T

const cg_dn_type *cg_dn_type_by_oid(const unsigned char *oid, size_t len)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (types[i].oid_len == len && memcmp(types[i].oid, oid, len) == 0)
            return &types[i];
    return NULL;
}

/* Arcs up to 128 bits (2.25.<UUID> names fit); larger ones are refused. */
typedef unsigned __int128 arc_t;

static size_t arc_decimal(arc_t v, char *out)
{
    char tmp[40];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(v % 10));
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

bool cg_dn_oid_dotted(const unsigned char *oid, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    bool first = true;
    if (len == 0 || cap == 0)
        return false;
    for (size_t i = 0; i < len;) {
        arc_t v = 0;
        if (oid[i] == 0x80)
            return false; /* not minimal */
        for (;;) {
            if (i >= len || v >> 121)
                return false; /* truncated, or past 128 bits */
            unsigned char b = oid[i++];
            v = (v << 7) | (b & 0x7F);
            if (!(b & 0x80))
                break;
        }
        char num[2][41];
        size_t nl[2], k = 0;
        if (first) {
            unsigned top = v < 40 ? 0 : v < 80 ? 1 : 2;
            nl[k++] = arc_decimal(top, num[0]);
            v -= (arc_t)top * 40;
            first = false;
        }
        nl[k] = arc_decimal(v, num[k]);
        k++;
        for (size_t j = 0; j < k; j++) {
            if (o + (o ? 1 : 0) + nl[j] + 1 > cap)
                return false;
            if (o)
                out[o++] = '.';
            memcpy(out + o, num[j], nl[j]);
            o += nl[j];
        }
    }
    out[o] = '\0';
    return true;
}

/* ---- DER ---- */

/* One TLV at [*p, end): its tag (single byte; high tag numbers give 0x1F
 * with *tlv covering the whole encoding), content and whole encoding.
 * Definite lengths only, up to 4 length bytes. */
typedef struct tlv {
    int tag;
    const unsigned char *start, *content, *end;
} tlv;

static bool der_next(const unsigned char **p, const unsigned char *end, tlv *t)
{
    const unsigned char *q = *p;
    if (q >= end)
        return false;
    t->start = q;
    t->tag = *q++;
    if ((t->tag & 0x1F) == 0x1F) {
        do {
            if (q >= end)
                return false;
        } while (*q++ & 0x80);
    }
    if (q >= end)
        return false;
    size_t len = *q++;
    if (len & 0x80) {
        size_t nb = len & 0x7F;
        if (nb == 0 || nb > 4)
            return false;
        len = 0;
        for (size_t i = 0; i < nb; i++) {
            if (q >= end)
                return false;
            len = (len << 8) | *q++;
        }
    }
    if (len > (size_t)(end - q))
        return false;
    t->content = q;
    t->end = q + len;
    *p = t->end;
    return true;
}

/* AttributeTypeAndValue ::= SEQUENCE { type OID, value ANY } */
static bool atv_parse(const tlv *atv, tlv *type, tlv *value)
{
    const unsigned char *p = atv->content;
    return atv->tag == 0x30 && der_next(&p, atv->end, type) && type->tag == 0x06 &&
           type->end > type->content && der_next(&p, atv->end, value) && p == atv->end;
}

/* ---- the text ---- */

/* Output that counts everything and writes whole pieces while they fit. */
typedef struct w {
    char *out;
    size_t cap, len, written;
    bool full;
    unsigned flags;
} w;

static void put(w *o, const char *s, size_t n)
{
    if (!o->full && o->written + n < o->cap) {
        memcpy(o->out + o->written, s, n);
        o->written += n;
    } else {
        o->full = true;
    }
    o->len += n;
}

static void put_hex_byte(w *o, unsigned char b, bool upper)
{
    static const char lo[] = "0123456789abcdef", up[] = "0123456789ABCDEF";
    const char *d = upper ? up : lo;
    char x[2] = { d[b >> 4], d[b & 15] };
    put(o, x, 2);
}

/* Characters that change how the text around them displays: bidi marks,
 * embeddings, overrides and isolates; line and paragraph separators; BOM. */
static bool invisible(uint32_t cp)
{
    return cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) ||
           (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

static void put_char(w *o, uint32_t cp, bool first, bool last)
{
    char u[4];
    size_t n = cg_utf8_put(cp, u);
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || invisible(cp) || (cp >= 0x80 && (o->flags & CG_DN_ASCII))) {
        char e[12];
        static const char d[] = "0123456789ABCDEF";
        for (size_t i = 0; i < n; i++) {
            unsigned char b = (unsigned char)u[i];
            e[3 * i] = '\\';
            e[3 * i + 1] = d[b >> 4];
            e[3 * i + 2] = d[b & 15];
        }
        put(o, e, 3 * n);
        return;
    }
    bool esc = (cp < 0x80 && strchr("\"+,;<>\\=", (int)cp) != NULL) || (first && (cp == '#' || cp == ' ')) ||
               (last && cp == ' ');
    if (esc) {
        char e[2] = { '\\', (char)cp };
        put(o, e, 2);
        return;
    }
    put(o, u, n);
}

static void put_value(w *o, const tlv *v)
{
    size_t at;
    size_t len = (size_t)(v->end - v->content);
    if (value_check(v->tag, v->content, len, &at) != CG_DN_VALUE_OK) {
        put(o, "#", 1);
        for (const unsigned char *p = v->start; p < v->end; p++)
            put_hex_byte(o, *p, false);
        return;
    }
    cg_dn_value_status st;
    uint32_t cp;
    for (size_t i = 0; i < len;) {
        bool first = i == 0;
        value_next(v->tag, v->content, len, &i, &cp, &st);
        put_char(o, cp, first, i == len);
    }
}

/* Room for the dotted text of an OID of n content bytes: an arc of k
 * bytes has at most 7k bits, 2.11k + 1 digits, plus its dot; the first
 * byte also gives "2.". */
static size_t oid_text_cap(size_t n) { return 4 * n + 8; }

static bool put_type(w *o, const tlv *type)
{
    size_t n = (size_t)(type->end - type->content);
    const cg_dn_type *t = cg_dn_type_by_oid(type->content, n);
    if (t) {
        put(o, t->name, strlen(t->name));
        return true;
    }
    char stackbuf[256];
    size_t cap = oid_text_cap(n);
    char *buf = cap <= sizeof stackbuf ? stackbuf : malloc(cap);
    bool ok = buf && cg_dn_oid_dotted(type->content, n, buf, cap);
    if (ok)
        put(o, buf, strlen(buf));
    if (buf != stackbuf)
        free(buf);
    return ok;
}

/* Checks the whole Name; counts its RDNs. */
static bool name_check(const unsigned char *der, size_t len, const unsigned char **body, const unsigned char **end,
                       size_t *nrdn)
{
    const unsigned char *p = der;
    tlv name;
    if (!der_next(&p, der + len, &name) || name.tag != 0x30 || p != der + len)
        return false;
    *body = name.content;
    *end = name.end;
    *nrdn = 0;
    for (p = name.content; p < name.end;) {
        tlv rdn;
        if (!der_next(&p, name.end, &rdn) || rdn.tag != 0x31 || rdn.content == rdn.end)
            return false;
        for (const unsigned char *q = rdn.content; q < rdn.end;) {
            tlv atv, type, value;
            if (!der_next(&q, rdn.end, &atv) || !atv_parse(&atv, &type, &value))
                return false;
            w probe = { .flags = 0 };
            if (!put_type(&probe, &type))
                return false; /* not a well-formed OID */
        }
        (*nrdn)++;
    }
    return true;
}

size_t cg_dn_format(const unsigned char *der, size_t len, unsigned flags, char *out, size_t cap)
{
    w o = { .out = out, .cap = cap, .flags = flags };
    const unsigned char *body, *end;
    size_t n;
    if (cap)
        out[0] = '\0';
    if (!der || !name_check(der, len, &body, &end, &n))
        return CG_DN_MALFORMED;
    /* RFC 4514 order is the reverse of DER's: take the RDNs a block at a
     * time from the end (a Name has no back links). */
    enum { BLOCK = 64 };
    const unsigned char *starts[BLOCK];
    bool first_rdn = true;
    for (size_t hi = n; hi > 0;) {
        size_t lo = hi > BLOCK ? hi - BLOCK : 0, k = 0;
        const unsigned char *p = body;
        for (size_t i = 0; i < hi; i++) {
            tlv rdn;
            if (i >= lo)
                starts[k++] = p;
            der_next(&p, end, &rdn);
        }
        while (k-- > 0) {
            const unsigned char *q = starts[k];
            tlv rdn;
            der_next(&q, end, &rdn);
            if (!first_rdn)
                put(&o, ",", 1);
            first_rdn = false;
            bool firstv = true;
            for (const unsigned char *a = rdn.content; a < rdn.end;) {
                tlv atv, type, value;
                der_next(&a, rdn.end, &atv);
                atv_parse(&atv, &type, &value);
                if (!firstv)
                    put(&o, "+", 1);
                firstv = false;
                put_type(&o, &type);
                put(&o, "=", 1);
                put_value(&o, &value);
            }
        }
        hi = lo;
    }
    if (cap)
        out[o.written] = '\0';
    return o.len;
}

char *cg_dn_text(const unsigned char *der, size_t len, unsigned flags)
{
    /* One pass for the names of real certificates (each connection's
     * client subject); a second only for a longer text. */
    char first[512];
    size_t n = cg_dn_format(der, len, flags, first, sizeof first);
    if (n == CG_DN_MALFORMED)
        return strdup("(malformed name)");
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    if (n < sizeof first)
        memcpy(s, first, n + 1);
    else
        cg_dn_format(der, len, flags, s, n + 1);
    return s;
}

char *cg_dn_text_into(const unsigned char *der, size_t len, char *out, size_t cap)
{
    if (cap == 0)
        return out;
    size_t n = cg_dn_format(der, len, 0, out, cap);
    if (n == CG_DN_MALFORMED) {
        snprintf(out, cap, "(malformed name)");
    } else if (n >= cap && cap > 4) {
        cg_dn_format(der, len, 0, out, cap - 3);
        strcat(out, "...");
    }
    return out;
}
