/* Request targets: the canonical form (see target.h and docs/proxy.md). */
#include "target.h"

#include <stdio.h>
#include <string.h>

#include "http_excerpt.h"
#include "text.h"

static const char upper_hex[] = "0123456789ABCDEF";

/* RFC 3986 2.3 */
static bool is_unreserved(unsigned char c)
{
    unsigned char l = c | 0x20;
    return (l >= 'a' && l <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

/* RFC 3986 sub-delims, ':' and '@': allowed raw in a path segment, and
 * decoded from %XX by IIS. */
static bool is_pchar_delim(unsigned char c)
{
    return c != '\0' && strchr("!$&'()*+,;=:@", c) != NULL;
}

/* The value of "%XY" at in[i], or -1 when in[i..] is not one. */
static int pct_at(const char *in, size_t n, size_t i)
{
    if (i >= n || n - i < 3 || in[i] != '%')
        return -1;
    int hi = cg_hex_value((unsigned char)in[i + 1]), lo = cg_hex_value((unsigned char)in[i + 2]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* The refusal: what, the refused bytes (escaped) and where. */
static bool refuse(cg_refusal *why, const char *in, size_t n, size_t at, size_t len, const char *what)
{
    char ex[96];
    if (at > n)
        at = n;
    if (len > n - at)
        len = n - at;
    /* Never the query's bytes: refusal sentences go to the log, and
     * queries carry tokens and personal data (the offset says where). */
    const char *q = memchr(in, '?', n);
    size_t qs = q ? (size_t)(q - in) : n;
    if (at >= qs) {
        snprintf(ex, sizeof ex, "[query redacted]");
    } else {
        bool cut = at + len > qs;
        cg_http_excerpt(ex, sizeof ex - 12, (cg_slice){ in + at, cut ? qs - at : len });
        if (cut)
            strcat(ex, "?[redacted]");
    }
    cg_refuse(why, CG_REFUSE_BAD_REQUEST, "request target refused: %s (\"%s\" at byte %zu of the target)",
              what, ex, at);
    return false;
}

static bool refuse_byte(cg_refusal *why, const char *in, size_t n, size_t at, bool query)
{
    unsigned char c = (unsigned char)in[at];
    char what[300];
    if (c == '\t')
        snprintf(what, sizeof what, "a TAB in the %s: servers that split the request line on any "
                 "whitespace would read another target", query ? "query" : "path");
    else if (c == ' ')
        snprintf(what, sizeof what, "a space in the %s: send it percent-encoded (%%20)",
                 query ? "query" : "path");
    else if (c == '\0')
        snprintf(what, sizeof what, "a NUL byte in the %s", query ? "query" : "path");
    else if (c < 0x20 || c == 0x7f)
        snprintf(what, sizeof what, "the control character 0x%02x in the %s", c, query ? "query" : "path");
    else if (c >= 0x80)
        snprintf(what, sizeof what, "the non-ASCII byte 0x%02x in the %s: non-ASCII characters must be "
                 "percent-encoded (UTF-8)", c, query ? "query" : "path");
    else if (c == '#')
        snprintf(what, sizeof what, "a fragment (\"#\"), which clients must not send");
    else if (c == ';')
        snprintf(what, sizeof what, "a ';' in the path: Java servers (Tomcat, Jetty) read what follows it "
                 "as path parameters, so \"/admin;x\" is their \"/admin\"; send %%3B when it is part of a "
                 "name");
    else /* '\\' */
        snprintf(what, sizeof what, "a backslash in the path: Windows servers read it as \"/\" "
                 "and certgate does not");
    return refuse(why, in, n, at, 1, what);
}

/* A raw byte that may appear in a query as sent; the path allows the
 * same minus '\\'. */
static bool query_byte_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '#';
}

/* A %XY the path cannot keep: encoded separators, controls, overlong UTF-8.
 * v is the value at in[i]. */
static bool pct_refused(const char *in, size_t n, size_t i, int v, cg_refusal *why)
{
    const char *what = NULL;
    if (v == '/')
        what = "an encoded slash (%2F): backends disagree on whether it separates path segments";
    else if (v == '\\')
        what = "an encoded backslash (%5C): Windows servers read it as a path separator";
    else if (v == 0)
        what = "an encoded NUL (%00)";
    else if (v == '%' && i + 3 < n &&
             (cg_hex_value((unsigned char)in[i + 3]) >= 0 || cg_hex_value(pct_at(in, n, i + 3)) >= 0))
        /* "%2561" is "%61" once decoded and "a" twice: an application that
         * decodes again (ASP.NET, CGI scripts) reads another path than the
         * one the routes matched (IIS refuses it too: allowDoubleEscaping). */
        what = "a double percent-encoding (%25 followed by a hex digit, raw or encoded): a backend that "
               "decodes twice reads another path";
    else if (v < 0x20 || v == 0x7f)
        what = "an encoded control character";
    else if (v == 0xc0 || v == 0xc1)
        what = "an overlong UTF-8 sequence (lead byte %C0 or %C1): old IIS decoded such sequences "
               "to \".\", \"/\" or \"\\\"";
    else if (v == 0xe0 || v == 0xf0) {
        int next = pct_at(in, n, i + 3);
        if ((v == 0xe0 && next >= 0x80 && next <= 0x9f) || (v == 0xf0 && next >= 0x80 && next <= 0x8f))
            what = "an overlong UTF-8 sequence (%E0%80-%E0%9F or %F0%80-%F0%8F)";
    }
    if (!what)
        return false;
    refuse(why, in, n, i, v == 0xe0 || v == 0xf0 ? 6 : 3, what);
    return true;
}

/* Segment flags, gathered while a segment is written (windows_paths). */
enum { SEG_COLON = 1, SEG_SHORT_NAME = 2 };

/* With windows_paths: refuses the canonical segment out[seg..w) (sent at
 * in[seg_in]) when the Windows file system would read it as another name,
 * which route matching would not see. Not called for "." and "..". */
static bool windows_alias(const char *out, size_t seg, size_t w, unsigned flags, size_t seg_in,
                          cg_refusal *why)
{
    size_t len = w - seg;
    const char *what;
    if (len && out[w - 1] == '.')
        what = "ends in '.': a path segment ending in '.' or ' ' is the same file as without it on Windows";
    else if (len >= 3 && memcmp(out + w - 3, "%20", 3) == 0)
        what = "ends in a space (%20): a path segment ending in '.' or ' ' is the same file as without it "
               "on Windows";
    else if (flags & SEG_COLON)
        what = "contains ':': on Windows \"name:stream\" is an NTFS alternate data stream of \"name\" "
               "(\"admin::$DATA\" is \"admin\")";
    else if (flags & SEG_SHORT_NAME)
        what = "has the shape of an 8.3 short name ('~' and a digit): Windows may resolve it to a long "
               "name (\"ADMINI~1\" to \"administration\")";
    else
        return false;
    char ex[96];
    cg_http_excerpt(ex, sizeof ex, (cg_slice){ out + seg, len });
    cg_refuse(why, CG_REFUSE_BAD_REQUEST, "request target refused: the path segment \"%s\" (at byte %zu of "
              "the target) %s (windows_paths)", ex, seg_in, what);
    return true;
}

/* The length of the segment at in[i] when it is "." or ".." with at least
 * one dot written %2E, else 0. Checked before the segment is written, so
 * that the refusal can quote it even when normalizing in place. */
static size_t encoded_dot_segment(const char *in, size_t n, size_t i)
{
    size_t j = i;
    int dots = 0;
    bool encoded = false;
    while (j < n && dots < 3) {
        if (in[j] == '.') {
            j++;
        } else if (pct_at(in, n, j) == '.') {
            encoded = true;
            j += 3;
        } else {
            break;
        }
        dots++;
    }
    bool ends = j == n || in[j] == '/' || in[j] == '?';
    return encoded && ends && dots <= 2 ? j - i : 0;
}

bool cg_target_normalize(const char *in, size_t n, char *out, unsigned rules, cg_target *t, cg_refusal *why)
{
    memset(t, 0, sizeof *t);
    if (n == 1 && in[0] == '*') {
        out[0] = '*';
        t->target = t->path = (cg_slice){ out, 1 };
        return true;
    }
    if (n == 0 || in[0] != '/')
        return refuse(why, in, n, 0, 16, "not a path starting with \"/\" (or \"*\" for OPTIONS)");

    /* Invariants: w <= i (a byte of in is read before out overwrites it);
     * out[0..w) is canonical up to the current segment, which starts at
     * out[seg] (after its '/') and at in[seg_in]. A "." or ".." segment
     * left here was written with raw dots: encoded ones were refused at
     * the segment's start. */
    size_t i = 1, w = 1, seg = 1, seg_in = 1;
    unsigned seg_flags = 0;
    bool recased = false;
    out[0] = '/';
    for (;;) {
        if (i == seg_in) {
            size_t len = encoded_dot_segment(in, n, i);
            if (len) {
                char what[200];
                snprintf(what, sizeof what, "a path segment that is \"%s\" only once its percent-encoded "
                         "dots (%%2E) are decoded: certgate does not guess whether the backend removes it",
                         len == 3 ? "." : "..");
                return refuse(why, in, n, i, len, what);
            }
        }
        unsigned char c = i < n ? (unsigned char)in[i] : '?';
        if (c == '/' || c == '?') {
            size_t len = w - seg;
            bool dot = len == 1 && out[seg] == '.';
            bool dotdot = len == 2 && out[seg] == '.' && out[seg + 1] == '.';
            if (dotdot) {
                if (seg == 1)
                    return refuse(why, in, n, seg_in, 2, "\"..\" would climb above the root of the path");
                w = seg - 1; /* the '/' before "..", then back to after the previous '/' */
                while (out[w - 1] != '/')
                    w--;
            } else if (dot) {
                w = seg;
            } else if ((rules & CG_TARGET_WINDOWS) && windows_alias(out, seg, w, seg_flags, seg_in, why)) {
                return false;
            }
            if (c == '?')
                break;
            if (out[w - 1] != '/') /* "//" is "/", as IIS and nginx read it */
                out[w++] = '/';
            i++;
            seg = w;
            seg_in = i;
            seg_flags = 0;
            continue;
        }
        if (c == '%') {
            int v = pct_at(in, n, i);
            if (v < 0)
                return refuse(why, in, n, i, 3, "an invalid percent-encoding (\"%\" must be followed by two "
                              "hex digits)");
            if (pct_refused(in, n, i, v, why))
                return false;
            if (is_unreserved((unsigned char)v)) {
                if (v >= '0' && v <= '9' && out[w - 1] == '~') /* out[seg - 1] is '/' */
                    seg_flags |= SEG_SHORT_NAME;
                out[w++] = (char)v;
            } else {
                if (v == ':')
                    seg_flags |= SEG_COLON;
                char hi = upper_hex[v >> 4], lo = upper_hex[v & 15];
                recased |= in[i + 1] != hi || in[i + 2] != lo;
                out[w++] = '%';
                out[w++] = hi;
                out[w++] = lo;
            }
            i += 3;
            continue;
        }
        if (!query_byte_ok(c) || c == '\\' || c == ';')
            return refuse_byte(why, in, n, i, false);
        if (c == ':')
            seg_flags |= SEG_COLON;
        else if (c >= '0' && c <= '9' && out[w - 1] == '~')
            seg_flags |= SEG_SHORT_NAME;
        out[w++] = (char)c;
        i++;
    }

    size_t path_len = w;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (!query_byte_ok(c))
            return refuse_byte(why, in, n, i, true);
        out[w++] = (char)c;
    }
    t->target = (cg_slice){ out, w };
    t->path = (cg_slice){ out, path_len };
    t->changed = w != n || recased;
    return true;
}

bool cg_target_route_covers(cg_slice prefix, cg_slice path, bool nocase)
{
    if (prefix.n == 0 || prefix.n > path.n)
        return false;
    if (nocase ? !cg_ascii_ieq(prefix.p, path.p, prefix.n) : memcmp(prefix.p, path.p, prefix.n) != 0)
        return false;
    return prefix.n == path.n || prefix.p[prefix.n - 1] == '/' || path.p[prefix.n] == '/';
}

bool cg_target_route_path_ok(const char *p, unsigned rules, char *why, size_t cap)
{
    size_t n = strlen(p);
    if (n == 0 || p[0] != '/') {
        snprintf(why, cap, "does not start with \"/\"");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '%') {
            int v = pct_at(p, n, i);
            if (v < 0 || p[i + 1] != upper_hex[v >> 4] ||
                p[i + 2] != upper_hex[v & 15]) {
                snprintf(why, cap, "has a \"%%\" at byte %zu not followed by two uppercase hex digits", i);
                return false;
            }
            if (is_unreserved((unsigned char)v)) {
                snprintf(why, cap, "encodes the unreserved character '%c' as %.3s: requests are matched "
                         "with it decoded, so write '%c'", v, p + i, v);
                return false;
            }
            if (v == '/' || v == '\\' || v < 0x20 || v == 0x7f || v == 0xc0 || v == 0xc1 ||
                is_pchar_delim((unsigned char)v)) {
                snprintf(why, cap, "has %.3s, which %s", p + i,
                         is_pchar_delim((unsigned char)v)
                             ? "IIS reads like its raw character: a request written the other way "
                               "would not match the route"
                             : "certgate refuses in every request");
                return false;
            }
            i += 2;
            continue;
        }
        if (!is_unreserved(c) && c != '/') {
            if (c > 0x20 && c < 0x7f)
                snprintf(why, cap, "contains '%c' at byte %zu: route paths hold only letters, digits, "
                         "'-', '.', '_', '~', '/' and percent-encodings such as %%20 (a character that "
                         "IIS also accepts percent-encoded would let a request avoid the route)", c, i);
            else
                snprintf(why, cap, "contains the byte 0x%02x at byte %zu (a space, control character or "
                         "non-ASCII byte; write it percent-encoded, e.g. %%20)", c, i);
            return false;
        }
    }
    /* Canonical: no "//", no "." or ".." segment (they would never match). */
    char canon[512];
    cg_target t;
    cg_refusal r;
    if (n < sizeof canon && cg_target_normalize(p, n, canon, CG_TARGET_POSIX, &t, &r) && !t.changed) {
        if (cg_target_normalize(p, n, canon, rules, &t, &r))
            return true;
        /* Only the rules' own refusals are left (a Windows alias). */
        static const char prefix[] = "request target refused: ";
        const char *d = strncmp(r.detail, prefix, sizeof prefix - 1) == 0 ? r.detail + sizeof prefix - 1
                                                                           : r.detail;
        snprintf(why, cap, "can never match: every request for it is refused, because %s", d);
        return false;
    }
    if (n < sizeof canon && cg_target_normalize(p, n, canon, CG_TARGET_POSIX, &t, &r))
        snprintf(why, cap, "is not in canonical form (requests are matched after \"//\" becomes \"/\" and "
                 "\".\" and \"..\" segments are removed): write \"%.*s\"", (int)t.target.n, t.target.p);
    else if (n >= sizeof canon)
        snprintf(why, cap, "is longer than %zu bytes", sizeof canon - 1);
    else
        snprintf(why, cap, "is not a path certgate accepts in a request (\"..\" above the root or an "
                 "encoded dot-segment)");
    return false;
}
