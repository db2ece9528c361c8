#include "log_format.h"

#include <string.h>

#include "text.h"

/* Room kept at the end of every line for " truncated=true" or
 * ",\"truncated\":true" and "}\n". */
#define END_ROOM 32
/* The most one source byte or character can take once escaped. */
#define ESC_MAX 6

static const char hex[] = "0123456789abcdef";

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s[0..n) (2 to 4), or 0: overlong
 * forms, surrogates and code points above U+10FFFF are not valid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* ---- low-level appends ---- */

static size_t room(const cg_logline *l) { return l->cap - END_ROOM - l->len; }

static void put(cg_logline *l, const char *s, size_t n)
{
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static bool safe_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '/' || c == ':' || c == '@' || c == '+' || c == ',' || c == '[' ||
           c == ']' || c == '%' || c == '~' || c == '*' || c == '!' || c == '$' || c == '(' || c == ')' ||
           c == ';' || c == '&' || c == '?';
}

static bool is_bare(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!safe_char((unsigned char)s[i]))
            return false;
    return true;
}

/* Writes s[0..n) escaped for the format, within out[0..cap) minus room for
 * "...\"": returns the bytes written; *cut when not all of s fit. */
static size_t escape(cg_log_format f, char *out, size_t cap, const char *s, size_t n, bool *cut)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    *cut = false;
    for (size_t i = 0; i < n;) {
        if (o + ESC_MAX + 4 > cap) {
            *cut = true;
            break;
        }
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c == '\n' || c == '\t' || c == '\r') {
            out[o++] = '\\';
            out[o++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
        } else if (c < 0x20 || c == 0x7f) {
            if (f == CG_LOG_JSON) {
                memcpy(out + o, "\\u00", 4);
                o += 4;
            } else {
                out[o++] = '\\';
                out[o++] = 'x';
            }
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else if (c < 0x80) {
            out[o++] = (char)c;
        } else {
            size_t k = utf8_len(u + i, n - i);
            if (k) {
                memcpy(out + o, u + i, k);
                o += k;
                i += k;
                continue;
            }
            if (f == CG_LOG_JSON) {
                memcpy(out + o, "\\ufffd", 6);
                o += 6;
            } else {
                out[o++] = '\\';
                out[o++] = 'x';
                out[o++] = hex[c >> 4];
                out[o++] = hex[c & 15];
            }
        }
        i++;
    }
    if (*cut) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    return o;
}

size_t cg_logfmt_value(char *out, size_t cap, const char *s, size_t n)
{
    if (cap == 0)
        return 0;
    if (is_bare(s, n) && (n < cap || cap >= 4)) {
        if (n >= cap) { /* cut: still bare, '.' is a safe character */
            memcpy(out, s, cap - 4);
            memcpy(out + cap - 4, "...", 4);
            return cap - 1;
        }
        memcpy(out, s, n);
        out[n] = '\0';
        return n;
    }
    if (cap < ESC_MAX + 8) { /* no room for any character: an empty value, well-formed */
        size_t k = cap >= 3 ? 2 : 0;
        memcpy(out, "\"\"", k);
        out[k] = '\0';
        return k;
    }
    bool cut;
    size_t o = 0;
    out[o++] = '"';
    o += escape(CG_LOG_LOGFMT, out + o, cap - o - 2, s, n, &cut);
    out[o++] = '"';
    out[o] = '\0';
    return o;
}

/* ---- fields ---- */

/* Starts a field: separator and key. False (and the line marked cut) when
 * not even the key and a short value fit. */
static bool key(cg_logline *l, const char *k)
{
    size_t kn = strlen(k);
    if (l->cut || room(l) < kn + 24)
        return l->cut = true, false;
    if (l->format == CG_LOG_JSON) {
        put(l, ",\"", 2);
        for (size_t i = 0; i < kn; i++) {
            unsigned char c = (unsigned char)k[i];
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
            l->p[l->len++] = ok ? (char)c : '_';
        }
        put(l, "\":", 2);
    } else {
        put(l, " ", 1);
        for (size_t i = 0; i < kn; i++) {
            unsigned char c = (unsigned char)k[i];
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
            l->p[l->len++] = ok ? (char)c : '_';
        }
        put(l, "=", 1);
    }
    return true;
}

static void value_str(cg_logline *l, const char *s, size_t n)
{
    if (!s)
        s = "-", n = 1;
    if (l->format == CG_LOG_LOGFMT && is_bare(s, n) && n <= room(l)) {
        put(l, s, n);
        return;
    }
    bool cut;
    put(l, "\"", 1);
    l->len += escape(l->format, l->p + l->len, room(l), s, n, &cut);
    put(l, "\"", 1);
    if (cut)
        l->cut = true;
}

/* A number already rendered (digits, '-', '.'): bare in both formats. */
static void value_num(cg_logline *l, const char *s, size_t n) { put(l, s, n); }

void cg_logline_begin(cg_logline *l, char *out, size_t cap, cg_log_format format, int prio, const char *ts,
                      const char *level, const char *event)
{
    l->p = out;
    l->cap = cap;
    l->len = 0;
    l->format = format;
    l->cut = false;
    if (prio >= 0 && prio <= 7) {
        char pfx[3] = { '<', (char)('0' + prio), '>' };
        put(l, pfx, 3);
    }
    if (format == CG_LOG_JSON)
        put(l, "{", 1);
    /* The first field has no separator: written as if it had one, then
     * the separator is taken out. */
    size_t start = l->len;
    bool first = true;
    const char *keys[3] = { "ts", "level", "event" };
    const char *vals[3] = { ts, level, event };
    for (int i = 0; i < 3; i++) {
        if (!vals[i])
            continue;
        key(l, keys[i]);
        if (first) {
            memmove(l->p + start, l->p + start + 1, l->len - start - 1);
            l->len--;
            first = false;
        }
        value_str(l, vals[i], strlen(vals[i]));
    }
}

void cg_logline_str(cg_logline *l, const char *k, const char *s, size_t n)
{
    if (key(l, k))
        value_str(l, s, n);
}

static char *put_u64(char *end, uint64_t v)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

void cg_logline_uint(cg_logline *l, const char *k, uint64_t v)
{
    char b[24], *s = put_u64(b + sizeof b, v);
    if (key(l, k))
        value_num(l, s, (size_t)(b + sizeof b - s));
}

void cg_logline_int(cg_logline *l, const char *k, int64_t v)
{
    char b[24], *s = put_u64(b + sizeof b, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    if (v < 0)
        *--s = '-';
    if (key(l, k))
        value_num(l, s, (size_t)(b + sizeof b - s));
}

void cg_logline_bool(cg_logline *l, const char *k, bool v)
{
    if (key(l, k))
        value_num(l, v ? "true" : "false", v ? 4 : 5);
}

void cg_logline_fixed3(cg_logline *l, const char *k, double v)
{
    if (!(v >= 0)) /* NaN too */
        v = 0;
    if (v > 1e15)
        v = 1e15;
    uint64_t thousandths = (uint64_t)(v * 1000.0 + 0.5);
    char b[32], *s = b + sizeof b;
    for (int i = 0; i < 3; i++) {
        *--s = (char)('0' + thousandths % 10);
        thousandths /= 10;
    }
    *--s = '.';
    s = put_u64(s, thousandths);
    if (key(l, k))
        value_num(l, s, (size_t)(b + sizeof b - s));
}

size_t cg_logline_end(cg_logline *l)
{
    /* END_ROOM is always there: every append stops short of it. */
    if (l->cut)
        put(l, l->format == CG_LOG_JSON ? ",\"truncated\":true" : " truncated=true",
            l->format == CG_LOG_JSON ? 17 : 15);
    if (l->format == CG_LOG_JSON)
        put(l, "}", 1);
    put(l, "\n", 1);
    return l->len;
}

/* ---- reading logfmt ---- */

static bool key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

cg_logfmt_tok cg_logfmt_next(cg_logfmt_reader *r, cg_slice *k, cg_slice *v, bool *quoted)
{
    const char *p = r->p, *end = r->end;
    while (p < end && *p == ' ')
        p++;
    r->p = p;
    if (p == end)
        return CG_LOGFMT_END;
    const char *ks = p;
    while (p < end && key_char((unsigned char)*p))
        p++;
    if (p == ks || p == end || *p != '=')
        return CG_LOGFMT_BAD;
    *k = (cg_slice){ ks, (size_t)(p - ks) };
    p++;
    const char *vs = p;
    if (p < end && *p == '"') {
        p++;
        for (;;) {
            if (p == end)
                return CG_LOGFMT_BAD;
            unsigned char c = (unsigned char)*p;
            if (c == '"')
                break;
            if (c < 0x20 || c == 0x7f)
                return CG_LOGFMT_BAD;
            if (c == '\\') {
                if (p + 1 == end)
                    return CG_LOGFMT_BAD;
                char e = p[1];
                if (e == 'x') {
                    if (end - p < 4 || cg_hex_value((unsigned char)p[2]) < 0 || cg_hex_value((unsigned char)p[3]) < 0)
                        return CG_LOGFMT_BAD;
                    p += 4;
                } else if (e == '"' || e == '\\' || e == 'n' || e == 't' || e == 'r') {
                    p += 2;
                } else {
                    return CG_LOGFMT_BAD;
                }
                continue;
            }
            if (c >= 0x80) {
                size_t len = utf8_len((const unsigned char *)p, (size_t)(end - p));
                if (!len)
                    return CG_LOGFMT_BAD;
                p += len;
                continue;
            }
            p++;
        }
        p++; /* closing quote */
        if (p < end && *p != ' ')
            return CG_LOGFMT_BAD;
        *quoted = true;
    } else {
        while (p < end && *p != ' ') {
            unsigned char c = (unsigned char)*p;
            if (c <= 0x20 || c == 0x7f || c == '"')
                return CG_LOGFMT_BAD;
            p++;
        }
        *quoted = false;
    }
    *v = (cg_slice){ vs, (size_t)(p - vs) };
    r->p = p;
    return CG_LOGFMT_FIELD;
}

size_t cg_logfmt_unquote(cg_slice q, char *out, size_t cap)
{
    size_t o = 0;
    const char *p = q.p + 1, *end = q.p + q.n - 1; /* inside the quotes */
    while (p < end && o < cap) {
        if (*p != '\\' || p + 1 >= end) {
            out[o++] = *p++;
            continue;
        }
        char e = p[1];
        if (e == 'x' && end - p >= 4) {
            out[o++] = (char)(cg_hex_value((unsigned char)p[2]) * 16 + cg_hex_value((unsigned char)p[3]));
            p += 4;
            continue;
        }
        out[o++] = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        p += 2;
    }
    return o;
}

/* ---- printf-style fields ---- */

/* Whether fmt writes key as exactly one integer or floating conversion
 * ("status=%d", "ms=%.3f", "bytes=%" PRIu64), the whole value. */
static bool numeric_in_format(const char *fmt, cg_slice k)
{
    for (const char *p = fmt; (p = strstr(p, "=%")) != NULL; p += 2) {
        /* the key before '=', starting the format or after a space */
        const char *ks = p;
        while (ks > fmt && key_char((unsigned char)ks[-1]))
            ks--;
        if ((ks != fmt && ks[-1] != ' ') || (size_t)(p - ks) != k.n || memcmp(ks, k.p, k.n) != 0)
            continue;
        const char *c = p + 2;
        while (*c == '-' || *c == '+' || *c == ' ' || *c == '0' || *c == '#')
            c++;
        while (*c >= '0' && *c <= '9')
            c++;
        if (*c == '.') {
            c++;
            while (*c >= '0' && *c <= '9')
                c++;
        }
        while (*c == 'l' || *c == 'h' || *c == 'z' || *c == 'j' || *c == 't' || *c == 'L')
            c++;
        if (!strchr("diufeg", *c) || *c == '\0')
            continue;
        c++;
        return *c == ' ' || *c == '\0';
    }
    return false;
}

/* A JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number(cg_slice v)
{
    const char *p = v.p, *end = v.p + v.n;
    if (p < end && *p == '-')
        p++;
    if (p == end)
        return false;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    else
        return false;
    if (p < end && *p == '.') {
        const char *d = ++p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == d)
            return false;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        const char *d = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == d)
            return false;
    }
    return p == end;
}

void cg_logline_fields(cg_logline *l, char *text, size_t n, const char *fmt)
{
    cg_logfmt_reader r = { text, text + n };
    cg_slice k, v;
    bool quoted;
    char kbuf[64];
    cg_logfmt_tok t;
    while ((t = cg_logfmt_next(&r, &k, &v, &quoted)) == CG_LOGFMT_FIELD) {
        size_t kn = k.n < sizeof kbuf - 1 ? k.n : sizeof kbuf - 1;
        memcpy(kbuf, k.p, kn);
        kbuf[kn] = '\0';
        if (quoted) {
            /* decoded in place: never longer than the quoted text */
            char *out = text + (v.p - text);
            size_t vn = cg_logfmt_unquote(v, out, v.n);
            cg_logline_str(l, kbuf, out, vn);
        } else if (fmt && json_number(v) && numeric_in_format(fmt, k) && v.n + 24 <= room(l)) {
            if (key(l, kbuf))
                value_num(l, v.p, v.n);
        } else {
            cg_logline_str(l, kbuf, v.p, v.n);
        }
    }
    if (t == CG_LOGFMT_BAD)
        cg_logline_str(l, "unparsed", r.p, (size_t)(r.end - r.p));
}

/* ---- query redaction ---- */

#define REDACTED "[redacted]"
#define NAME_MAX_KEPT 32

size_t cg_log_redact_query(char *out, size_t cap, const char *t, size_t n)
{
    if (cap == 0)
        return 0;
    size_t o = 0;
    bool cut = false;
#define EMIT(s, len)                                                                                               \
    do {                                                                                                           \
        size_t len_ = (len);                                                                                       \
        if (o + len_ + 4 > cap) {                                                                                  \
            cut = true;                                                                                            \
            goto done;                                                                                             \
        }                                                                                                          \
        memcpy(out + o, (s), len_);                                                                                \
        o += len_;                                                                                                 \
    } while (0)
    const char *q = memchr(t, '?', n);
    size_t pathlen = q ? (size_t)(q - t) : n;
    EMIT(t, pathlen);
    if (q) {
        EMIT("?", 1);
        const char *p = q + 1, *end = t + n;
        while (p <= end) {
            const char *amp = memchr(p, '&', (size_t)(end - p));
            const char *pe = amp ? amp : end;
            const char *eq = memchr(p, '=', (size_t)(pe - p));
            if (eq && (size_t)(eq - p) <= NAME_MAX_KEPT) {
                EMIT(p, (size_t)(eq - p) + 1);
                if (eq + 1 < pe)
                    EMIT(REDACTED, sizeof REDACTED - 1);
            } else if (pe > p) {
                EMIT(REDACTED, sizeof REDACTED - 1);
            }
            if (!amp)
                break;
            EMIT("&", 1);
            p = amp + 1;
        }
    }
done:
    if (cut && cap >= 4) {
        if (o + 4 > cap)
            o = cap - 4;
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return o;
#undef EMIT
}
