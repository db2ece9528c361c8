/* HTTP/1.1 message rules (see http1.h).
 *
 * Division of labour with http-parser: Debian's libhttp_parser is built with
 * HTTP_PARSER_STRICT=0, whatever the installed header says, so it accepts
 * "Host : x", "X y: 1", several spaces in the request line, HTTP/2.0 and
 * HTTP/1.2, "GET *", absolute-form targets, "Transfer-Encoding: chunked" in
 * HTTP/1.0, repeated "Transfer-Encoding: chunked", obs-fold and bare LF.
 * Since a proxy is only as safe as the disagreement between it and the
 * backend, certgate does not rely on it for any of that:
 *
 *   1. cg_http_scan_head() enforces the byte-level rules (CRLF only, no
 *      control characters, no obs-fold, limits).
 *   2. tokenize_*() splits the head into start line and fields itself and
 *      the rule checks below run on that, so every refusal has a precise
 *      sentence instead of an http-parser errno.
 *   3. http-parser then parses the same bytes, because the caller continues
 *      with it for the body (chunked decoding). Its callbacks only verify
 *      that it sees the very same field boundaries, and the framing it
 *      decided (F_CHUNKED, content_length, message completion) is compared
 *      with ours. Any disagreement is a refusal: it would mean that
 *      http-parser frames the body differently from what we forward.
 */
#include "http1.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Content-Length values above this are refused. http-parser overflows a bit
 * above 1.8e18; a round, documented limit is easier to explain. */
#define CG_MAX_CONTENT_LENGTH 999999999999999999ULL

/* ------------------------------------------------------------------------ */
/* small helpers                                                            */

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

static inline bool is_ows(char c) { return c == ' ' || c == '\t'; }

static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* tchar (RFC 9110 5.6.2): the bytes allowed in a field name and method. */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

static cg_slice slice(const char *p, size_t n) { return (cg_slice){ p, n }; }

static cg_slice trim_ows(cg_slice s)
{
    while (s.n && is_ows(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n && is_ows(s.p[s.n - 1]))
        s.n--;
    return s;
}

bool cg_slice_ieq(cg_slice a, const char *b)
{
    size_t i = 0;
    for (; i < a.n; i++) {
        if (b[i] == '\0' || lower((unsigned char)a.p[i]) != lower((unsigned char)b[i]))
            return false;
    }
    return b[i] == '\0';
}

static bool slices_ieq(cg_slice a, cg_slice b)
{
    if (a.n != b.n)
        return false;
    for (size_t i = 0; i < a.n; i++)
        if (lower((unsigned char)a.p[i]) != lower((unsigned char)b.p[i]))
            return false;
    return true;
}

const cg_http_header *cg_http_find_header(const cg_http_header *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (cg_slice_ieq(h[i].name, name))
            return &h[i];
    return NULL;
}

/* Writes s into out as a short, printable, quoted-safe excerpt for refusal
 * sentences: they end up in logs and on error pages, so client bytes are
 * never copied raw. */
static const char *excerpt(char *out, size_t cap, cg_slice s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, max = 60;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (o + 8 >= cap || i >= max) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

#define EXCERPT(name, s) char name##_buf[256]; const char *name = excerpt(name##_buf, sizeof name##_buf, (s))

/* An excerpt of a request line or target that stops at its query: queries
 * carry tokens and personal data, and refusal sentences go to the log. */
static const char *excerpt_no_query(char *out, size_t cap, cg_slice s)
{
    const char *q = memchr(s.p, '?', s.n);
    if (!q)
        return excerpt(out, cap, s);
    excerpt(out, cap - 12, (cg_slice){ s.p, (size_t)(q - s.p) });
    strcat(out, "?[redacted]");
    return out;
}
#define EXCERPT_NO_QUERY(name, s) char name##_buf[256]; const char *name = excerpt_no_query(name##_buf, sizeof name##_buf, (s))

const char *cg_http_excerpt(char *out, size_t cap, cg_slice s)
{
    return excerpt(out, cap, s);
}

/* Iterates the comma-separated tokens of a list-valued field (Connection,
 * Transfer-Encoding): returns false when the list is exhausted. Empty list
 * elements ("a,,b") are skipped, as RFC 9110 5.6.1 asks of recipients. */
static bool next_list_token(cg_slice *rest, cg_slice *tok)
{
    while (rest->n) {
        const char *comma = memchr(rest->p, ',', rest->n);
        size_t n = comma ? (size_t)(comma - rest->p) : rest->n;
        *tok = trim_ows(slice(rest->p, n));
        rest->p += comma ? n + 1 : n;
        rest->n -= comma ? n + 1 : n;
        if (tok->n)
            return true;
    }
    return false;
}

static bool list_has_token(const cg_http_header *h, size_t n, const char *field, const char *token)
{
    for (size_t i = 0; i < n; i++) {
        if (!cg_slice_ieq(h[i].name, field))
            continue;
        cg_slice rest = h[i].value, tok;
        while (next_list_token(&rest, &tok))
            if (cg_slice_ieq(tok, token))
                return true;
    }
    return false;
}

/* True when a Connection header of h names the field `name` (RFC 9110 7.6.1:
 * those fields are hop-by-hop and must not be forwarded). */
static bool named_by_connection(const cg_http_header *h, size_t n, cg_slice name)
{
    for (size_t i = 0; i < n; i++) {
        if (!cg_slice_ieq(h[i].name, "connection"))
            continue;
        cg_slice rest = h[i].value, tok;
        while (next_list_token(&rest, &tok))
            if (slices_ieq(tok, name))
                return true;
    }
    return false;
}

static size_t count_headers(const cg_http_header *h, size_t n, const char *name)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += cg_slice_ieq(h[i].name, name);
    return c;
}

/* ------------------------------------------------------------------------ */
/* head scanner                                                             */

typedef struct scan_ctx {
    const char *buf;
    size_t len;
    const cg_http_limits *lim;
    bool is_response;
    cg_refusal *why;
} scan_ctx;

static const char *head_noun(const scan_ctx *s) { return s->is_response ? "backend response head" : "request head"; }

static cg_refusal_kind bad_kind(const scan_ctx *s)
{
    return s->is_response ? CG_REFUSE_BACKEND_BAD_RESPONSE : CG_REFUSE_BAD_REQUEST;
}

static cg_refusal_kind limit_kind(const scan_ctx *s)
{
    return s->is_response ? CG_REFUSE_BACKEND_BAD_RESPONSE : CG_REFUSE_HEAD_TOO_LARGE;
}

static cg_head_scan scan_invalid_char(const scan_ctx *s, size_t i, size_t line_start, unsigned line_no)
{
    unsigned char c = (unsigned char)s->buf[i];
    size_t col = i - line_start + 1;
    if (c == '\n')
        cg_refuse(s->why, bad_kind(s),
                  "bare LF (a line ending without CR) at line %u, column %zu of the %s; "
                  "lines must end with CRLF", line_no, col, head_noun(s));
    else if (c == '\r')
        cg_refuse(s->why, bad_kind(s),
                  "bare CR (not followed by LF) at line %u, column %zu of the %s; "
                  "lines must end with CRLF", line_no, col, head_noun(s));
    else if (c == 0)
        cg_refuse(s->why, bad_kind(s), "NUL byte at line %u, column %zu of the %s",
                  line_no, col, head_noun(s));
    else
        cg_refuse(s->why, bad_kind(s),
                  "control character 0x%02x at line %u, column %zu of the %s is not allowed",
                  c, line_no, col, head_noun(s));
    return CG_HEAD_INVALID;
}

static cg_head_scan scan_line_too_long(const scan_ctx *s, size_t line_start, unsigned line_no)
{
    /* Report the full length when the end of the line has already arrived;
     * it tells the operator how far off the limit is. */
    const char *p = s->buf + line_start;
    size_t avail = s->len - line_start, n = 0;
    while (n < avail && p[n] != '\r' && p[n] != '\n')
        n++;
    bool known = n < avail;
    /* Which setting bounds response lines is the caller's choice: only the
     * request limits are named. */
    const char *setting = s->is_response ? "" : " (limits.max_header_line)";
    char what[96];
    if (line_no == 1) {
        snprintf(what, sizeof what, "%s", s->is_response ? "status line" : "request line");
    } else {
        const char *colon = memchr(p, ':', n < 40 ? n : 40);
        EXCERPT(name, slice(p, colon ? (size_t)(colon - p) : 0));
        if (colon)
            snprintf(what, sizeof what, "header line %u (\"%.40s\")", line_no, name);
        else
            snprintf(what, sizeof what, "header line %u", line_no);
    }
    if (known)
        cg_refuse(s->why, limit_kind(s), "%s%s is %zu bytes, over the limit of %zu%s",
                  s->is_response ? "backend response " : "", what, n, s->lim->max_line, setting);
    else
        cg_refuse(s->why, limit_kind(s), "%s%s is longer than the limit of %zu bytes%s",
                  s->is_response ? "backend response " : "", what, s->lim->max_line, setting);
    return CG_HEAD_INVALID;
}

static cg_head_scan scan_too_large(const scan_ctx *s)
{
    if (s->is_response)
        cg_refuse(s->why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                  "backend response head is larger than %zu bytes (limits.max_response_head)",
                  s->lim->max_head);
    else
        cg_refuse(s->why, CG_REFUSE_HEAD_TOO_LARGE,
                  "request head is larger than %zu bytes (limits.max_request_head)", s->lim->max_head);
    return CG_HEAD_INVALID;
}

cg_head_scan cg_http_scan_head(const char *buf, size_t len, const cg_http_limits *lim,
                               bool is_response, size_t *head_len, cg_refusal *why)
{
    cg_head_scanner st = CG_HEAD_SCANNER_INIT;
    return cg_http_scan_head_more(&st, buf, len, lim, is_response, head_len, why);
}

cg_head_scan cg_http_scan_head_more(cg_head_scanner *st, const char *buf, size_t len, const cg_http_limits *lim,
                                    bool is_response, size_t *head_len, cg_refusal *why)
{
    scan_ctx s = { buf, len, lim, is_response, why };
    size_t end = len < lim->max_head ? len : lim->max_head;
    size_t line_start = st->line_start, nheaders = st->nheaders;
    unsigned line_no = st->line_no ? st->line_no : 1;
    size_t i = st->pos;

    for (; i < end; i++) {
        unsigned char c = (unsigned char)buf[i];

        if (i == line_start && line_no > 1 && c != '\r') {
            if (c == ' ' || c == '\t') {
                cg_refuse(why, bad_kind(&s),
                          "obs-fold (a header line starting with whitespace) at line %u of the %s "
                          "is not allowed; send each field on one line", line_no, head_noun(&s));
                return CG_HEAD_INVALID;
            }
            if (nheaders == lim->max_headers) {
                if (is_response)
                    cg_refuse(why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                              "backend response has more than %zu header fields", lim->max_headers);
                else
                    cg_refuse(why, CG_REFUSE_HEAD_TOO_LARGE,
                              "request has more than %zu header fields (limits.max_headers)",
                              lim->max_headers);
                return CG_HEAD_INVALID;
            }
        }

        if (c == '\r') {
            if (i + 1 == len) { /* the LF may still come, if it fits: look at this CR again then */
                if (i + 2 > lim->max_head)
                    return scan_too_large(&s);
                break;
            }
            if (buf[i + 1] != '\n')
                return scan_invalid_char(&s, i, line_start, line_no);
            continue; /* the LF ends the line below */
        }
        if (c == '\n') {
            if (i == 0 || buf[i - 1] != '\r')
                return scan_invalid_char(&s, i, line_start, line_no);
            size_t line_len = i - 1 - line_start;
            if (line_len == 0) {
                if (line_no == 1) {
                    cg_refuse(why, bad_kind(&s), "the %s starts with an empty line; expected a %s",
                              head_noun(&s), is_response ? "status line" : "request line");
                    return CG_HEAD_INVALID;
                }
                *head_len = i + 1;
                return CG_HEAD_COMPLETE;
            }
            if (line_no > 1)
                nheaders++;
            line_no++;
            line_start = i + 1;
            continue;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return scan_invalid_char(&s, i, line_start, line_no);
        if (i - line_start + 1 > lim->max_line)
            return scan_line_too_long(&s, line_start, line_no);
    }

    st->pos = i;
    st->line_start = line_start;
    st->nheaders = nheaders;
    st->line_no = line_no;
    if (i < end) /* stopped at a CR that ends the bytes so far */
        return CG_HEAD_INCOMPLETE;
    /* max_head bytes seen and no end of head among them. */
    if (end < len || end == lim->max_head)
        return scan_too_large(&s);
    return CG_HEAD_INCOMPLETE;
}

/* ------------------------------------------------------------------------ */
/* tokenizer shared by requests and responses                               */

typedef struct head_ctx {
    const char *head;
    size_t head_len;
    bool is_response;
    cg_refusal *why;
} head_ctx;

static cg_refusal_kind head_bad(const head_ctx *h)
{
    return h->is_response ? CG_REFUSE_BACKEND_BAD_RESPONSE : CG_REFUSE_BAD_REQUEST;
}

static const char *msg_noun(const head_ctx *h) { return h->is_response ? "backend response" : "request"; }

static const char *smuggling(const head_ctx *h)
{
    return h->is_response ? "response smuggling risk" : "request smuggling risk";
}

/* Returns the line starting at *pos (without CRLF) and advances *pos past
 * it. head_valid() has checked that every line ends with CRLF. */
static cg_slice next_line(const head_ctx *h, size_t *pos)
{
    const char *p = h->head + *pos;
    size_t left = h->head_len - *pos;
    const char *cr = memchr(p, '\r', left);
    size_t n = cr ? (size_t)(cr - p) : left;
    *pos += n + (cr ? 2 : 0);
    return slice(p, n);
}

/* Splits the field lines after the start line into hdrs. */
static bool tokenize_fields(const head_ctx *h, size_t pos, cg_http_header *hdrs, size_t max,
                            size_t *nhdrs)
{
    size_t n = 0;
    unsigned line_no = 2;
    for (;; line_no++) {
        cg_slice line = next_line(h, &pos);
        if (line.n == 0)
            break;
        const char *colon = memchr(line.p, ':', line.n);
        if (!colon) {
            EXCERPT(l, line);
            cg_refuse(h->why, head_bad(h), "%s header line %u (\"%s\") has no colon",
                      msg_noun(h), line_no, l);
            return false;
        }
        cg_slice name = slice(line.p, (size_t)(colon - line.p));
        if (name.n == 0) {
            cg_refuse(h->why, head_bad(h), "%s header line %u has an empty field name",
                      msg_noun(h), line_no);
            return false;
        }
        if (is_ows(name.p[name.n - 1])) {
            /* RFC 9112 5.1: must be rejected, since some recipients would
             * see "Content-Length " and others "Content-Length". */
            EXCERPT(nm, trim_ows(name));
            cg_refuse(h->why, head_bad(h),
                      "%s header line %u has whitespace between the field name \"%s\" and the colon; "
                      "this is not allowed (%s)", msg_noun(h), line_no, nm, smuggling(h));
            return false;
        }
        for (size_t i = 0; i < name.n; i++) {
            if (!is_tchar((unsigned char)name.p[i])) {
                EXCERPT(nm, name);
                cg_refuse(h->why, head_bad(h),
                          "%s header line %u: field name \"%s\" contains the invalid character 0x%02x",
                          msg_noun(h), line_no, nm, (unsigned char)name.p[i]);
                return false;
            }
        }
        if (n == max) {
            if (h->is_response)
                cg_refuse(h->why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                          "backend response has more than %zu header fields", max);
            else
                cg_refuse(h->why, CG_REFUSE_HEAD_TOO_LARGE,
                          "request has more than %zu header fields (limits.max_headers)", max);
            return false;
        }
        const char *vstart = colon + 1;
        hdrs[n].name = name;
        hdrs[n].value = trim_ows(slice(vstart, (size_t)(line.p + line.n - vstart)));
        n++;
    }
    *nhdrs = n;
    return true;
}

/* Parses "HTTP/d.d" into *minor; false when it is not HTTP/1.0 or HTTP/1.1
 * (with a refusal naming what was received). */
static bool parse_version(const head_ctx *h, cg_slice v, int *minor)
{
    if (v.n == 8 && memcmp(v.p, "HTTP/1.", 7) == 0 && (v.p[7] == '0' || v.p[7] == '1')) {
        *minor = v.p[7] - '0';
        return true;
    }
    EXCERPT(ver, v);
    if (v.n == 8 && memcmp(v.p, "HTTP/", 5) == 0 && is_digit(v.p[5]) && v.p[6] == '.' && is_digit(v.p[7]))
        cg_refuse(h->why, head_bad(h),
                  "%s uses HTTP version \"%s\"; only HTTP/1.0 and HTTP/1.1 are supported",
                  msg_noun(h), ver);
    else
        cg_refuse(h->why, head_bad(h), "%s has a malformed HTTP version \"%s\"", msg_noun(h), ver);
    return false;
}

/* http-parser sets uses_transfer_encoding (and clears F_CHUNKED) as soon as
 * a field name *starts with* "transfer-encoding", so "Transfer-Encodings: x"
 * changes its framing while certgate would treat it as an ordinary field.
 * Such names are refused so that the two cannot disagree. */
static bool check_te_lookalikes(const head_ctx *h, const cg_http_header *hdrs, size_t n)
{
    static const char te[] = "transfer-encoding";
    for (size_t i = 0; i < n; i++) {
        cg_slice name = hdrs[i].name;
        if (name.n > sizeof te - 1 && cg_slice_ieq(slice(name.p, sizeof te - 1), te)) {
            EXCERPT(nm, name);
            cg_refuse(h->why, head_bad(h),
                      "%s has a header named \"%s\"; names starting with \"Transfer-Encoding\" "
                      "are refused because the HTTP parser takes them for Transfer-Encoding",
                      msg_noun(h), nm);
            return false;
        }
    }
    return true;
}

/* OWS after a value is trimmed, but after Content-Length digits and after
 * "chunked" http-parser accepts only spaces, not HTAB (it then rejects the
 * length, or silently stops treating the body as chunked). */
static bool no_trailing_tab(const head_ctx *h, const cg_http_header *f)
{
    for (const char *p = f->value.p + f->value.n; *p != '\r'; p++) {
        if (*p == '\t') {
            EXCERPT(nm, f->name);
            EXCERPT(v, f->value);
            cg_refuse(h->why, head_bad(h),
                      "%s has a tab after its %s value \"%s\"; it must be followed by nothing "
                      "or spaces", msg_noun(h), nm, v);
            return false;
        }
    }
    return true;
}

/* Content-Length: 1*DIGIT, nothing else (no sign, no list, no spaces). */
static bool parse_content_length(const head_ctx *h, const cg_http_header *hdrs, size_t n,
                                 bool *present, uint64_t *value)
{
    const cg_http_header *first = NULL;
    *present = false;
    for (size_t i = 0; i < n; i++) {
        if (!cg_slice_ieq(hdrs[i].name, "content-length"))
            continue;
        cg_slice v = hdrs[i].value;
        EXCERPT(vs, v);
        if (first) {
            EXCERPT(fs, first->value);
            if (slices_ieq(first->value, v))
                cg_refuse(h->why, head_bad(h),
                          "%s has several Content-Length headers (\"%s\" twice); send exactly one",
                          msg_noun(h), vs);
            else
                cg_refuse(h->why, head_bad(h),
                          "%s has conflicting Content-Length headers (\"%s\" and \"%s\"); "
                          "send exactly one (%s)", msg_noun(h), fs, vs, smuggling(h));
            return false;
        }
        first = &hdrs[i];
        if (v.n == 0) {
            cg_refuse(h->why, head_bad(h), "%s has an empty Content-Length header", msg_noun(h));
            return false;
        }
        uint64_t x = 0;
        for (size_t k = 0; k < v.n; k++) {
            if (!is_digit(v.p[k])) {
                cg_refuse(h->why, head_bad(h),
                          "%s has an invalid Content-Length \"%s\"; it must be a single decimal number",
                          msg_noun(h), vs);
                return false;
            }
            x = x * 10 + (uint64_t)(v.p[k] - '0');
            if (x > CG_MAX_CONTENT_LENGTH) {
                cg_refuse(h->why, head_bad(h), "%s has a Content-Length \"%s\" larger than %llu",
                          msg_noun(h), vs, (unsigned long long)CG_MAX_CONTENT_LENGTH);
                return false;
            }
        }
        if (!no_trailing_tab(h, &hdrs[i]))
            return false;
        *value = x;
        *present = true;
    }
    return true;
}

/* Transfer-Encoding: exactly one header whose value is exactly "chunked".
 * Returns false with a refusal; *present tells whether there was one. */
static bool check_transfer_encoding(const head_ctx *h, const cg_http_header *hdrs, size_t n,
                                    int version_minor, bool *present)
{
    size_t count = count_headers(hdrs, n, "transfer-encoding");
    *present = count > 0;
    if (!count)
        return true;
    const cg_http_header *te = cg_http_find_header(hdrs, n, "transfer-encoding");
    EXCERPT(v, te->value);
    if (count > 1) {
        cg_refuse(h->why, head_bad(h),
                  "%s has %zu Transfer-Encoding headers; send a single \"Transfer-Encoding: chunked\"",
                  msg_noun(h), count);
        return false;
    }
    if (version_minor == 0) {
        /* RFC 9112 6.1: HTTP/1.0 has no chunked coding; a 1.0 message with
         * it has faulty framing that intermediaries disagree about. */
        cg_refuse(h->why, head_bad(h),
                  "%s is HTTP/1.0 but has Transfer-Encoding \"%s\"; chunked needs HTTP/1.1",
                  msg_noun(h), v);
        return false;
    }
    if (!no_trailing_tab(h, te))
        return false;
    if (cg_slice_ieq(te->value, "chunked"))
        return true;

    /* Find the last coding to tell "chunked is not last" (malformed framing,
     * 400) from "another coding" (not implemented, 501). */
    cg_slice rest = te->value, tok, last = { NULL, 0 };
    size_t ntok = 0;
    while (next_list_token(&rest, &tok)) {
        last = tok;
        ntok++;
    }
    if (ntok == 0) {
        cg_refuse(h->why, head_bad(h), "%s has an empty Transfer-Encoding header", msg_noun(h));
        return false;
    }
    cg_slice last_name = last;
    const char *semi = memchr(last.p, ';', last.n);
    if (semi)
        last_name = trim_ows(slice(last.p, (size_t)(semi - last.p)));
    if (ntok == 1 && semi && cg_slice_ieq(last_name, "chunked")) {
        cg_refuse(h->why, head_bad(h),
                  "%s has Transfer-Encoding \"%s\"; chunked takes no parameters", msg_noun(h), v);
        return false;
    }
    if (!h->is_response && !cg_slice_ieq(last_name, "chunked")) {
        bool has_chunked = false;
        rest = te->value;
        while (next_list_token(&rest, &tok))
            has_chunked |= cg_slice_ieq(tok, "chunked");
        if (has_chunked) {
            cg_refuse(h->why, CG_REFUSE_BAD_REQUEST,
                      "Transfer-Encoding \"%s\" does not end with chunked, so the body length "
                      "cannot be determined", v);
            return false;
        }
    }
    if (h->is_response)
        cg_refuse(h->why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                  "backend response has Transfer-Encoding \"%s\", which certgate cannot decode; "
                  "only \"chunked\" is supported", v);
    else
        cg_refuse(h->why, CG_REFUSE_METHOD,
                  "Transfer-Encoding \"%s\" is not supported; only \"chunked\"", v);
    return false;
}

/* ------------------------------------------------------------------------ */
/* running http-parser and checking it agrees                               */

enum { CB_NONE, CB_FIELD, CB_VALUE };

typedef struct agree_ctx {
    const cg_http_header *hdrs;
    size_t n;
    size_t idx;          /* index of the current field (once last != CB_NONE) */
    int last;            /* CB_* */
    const char *mark;    /* end of the field name / value seen so far */
    const char *vstart;  /* start of the value seen so far */
    cg_slice url;        /* the request target as http-parser saw it */
    int skip_body;       /* on_headers_complete's answer */
    bool headers_done;
    bool disagree;
    bool message_complete;
} agree_ctx;

/* Whether http-parser's view of a value [vstart, mark) is ours, modulo the
 * trailing whitespace it keeps. */
static bool value_agrees(const agree_ctx *a)
{
    cg_slice ours = a->hdrs[a->idx].value;
    const char *start = a->last == CB_VALUE ? a->vstart : NULL;
    const char *end = a->last == CB_VALUE ? a->mark : NULL;
    if (ours.n == 0) {
        for (const char *p = start; p && p < end; p++)
            if (!is_ows(*p))
                return false;
        return true;
    }
    if (start != ours.p || end < ours.p + ours.n)
        return false;
    for (const char *p = ours.p + ours.n; p < end; p++)
        if (!is_ows(*p))
            return false;
    return true;
}

/* Closes the current field when a callback for something else arrives. */
static void finish_field(agree_ctx *a)
{
    if (a->last == CB_NONE)
        return;
    const cg_http_header *h = &a->hdrs[a->idx];
    if (a->last == CB_FIELD && a->mark != h->name.p + h->name.n)
        a->disagree = true;
    if (!value_agrees(a))
        a->disagree = true;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    agree_ctx *a = p->data;
    /* All head bytes are in one buffer, so pieces are adjacent. */
    if (!a->url.p)
        a->url = slice(at, n);
    else if (at == a->url.p + a->url.n)
        a->url.n += n;
    else
        a->disagree = true;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    agree_ctx *a = p->data;
    if (a->last == CB_FIELD) {
        if (at != a->mark)
            a->disagree = true;
        a->mark = at + n;
        return 0;
    }
    finish_field(a);
    a->idx = a->last == CB_NONE ? 0 : a->idx + 1;
    a->last = CB_FIELD;
    if (a->idx >= a->n || at != a->hdrs[a->idx].name.p) {
        a->disagree = true;
        return 1; /* stop: nothing after this can be trusted */
    }
    a->mark = at + n;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    agree_ctx *a = p->data;
    if (a->last == CB_VALUE) {
        if (at != a->mark && n)
            a->disagree = true;
        a->mark = at + n;
        return 0;
    }
    if (a->last != CB_FIELD) {
        a->disagree = true;
        return 1;
    }
    const cg_http_header *h = &a->hdrs[a->idx];
    if (a->mark != h->name.p + h->name.n)
        a->disagree = true;
    a->last = CB_VALUE;
    a->vstart = at;
    a->mark = at + n;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    agree_ctx *a = p->data;
    finish_field(a);
    size_t seen = a->last == CB_NONE ? 0 : a->idx + 1;
    if (seen != a->n)
        a->disagree = true;
    a->headers_done = true;
    return a->skip_body;
}

static int on_message_complete(http_parser *p)
{
    agree_ctx *a = p->data;
    a->message_complete = true;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    /* The head bytes end with CRLF CRLF: no body can be among them. */
    (void)at;
    (void)n;
    agree_ctx *a = p->data;
    a->disagree = true;
    return 1;
}

static const http_parser_settings agree_settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Executes p over the head. On return p is positioned at the body and
 * p->data is NULL (the caller installs its own). */
static bool run_parser(const head_ctx *h, http_parser *p, agree_ctx *a)
{
    p->data = a;
    size_t done = http_parser_execute(p, &agree_settings, h->head, h->head_len);
    p->data = NULL;
    enum http_errno err = HTTP_PARSER_ERRNO(p);

    if (err == HPE_HEADER_OVERFLOW) {
        cg_refuse(h->why, h->is_response ? CG_REFUSE_BACKEND_BAD_RESPONSE : CG_REFUSE_HEAD_TOO_LARGE,
                  "%s head is %zu bytes, over http-parser's built-in limit of %u bytes; "
                  "set %s to %u or less", msg_noun(h), h->head_len, (unsigned)HTTP_MAX_HEADER_SIZE,
                  h->is_response ? "limits.max_response_head" : "limits.max_request_head",
                  (unsigned)HTTP_MAX_HEADER_SIZE);
        return false;
    }
    if (a->disagree) {
        cg_refuse(h->why, head_bad(h),
                  "%s head is ambiguous: http-parser splits its header fields differently "
                  "from certgate's own checks", msg_noun(h));
        return false;
    }
    if (err != HPE_OK) {
        cg_refuse(h->why, head_bad(h), "%s rejected by the HTTP parser: %s (%s)", msg_noun(h),
                  http_errno_description(err), http_errno_name(err));
        return false;
    }
    if (done != h->head_len || !a->headers_done) {
        cg_refuse(h->why, head_bad(h), "%s head was not fully parsed (%zu of %zu bytes)",
                  msg_noun(h), done, h->head_len);
        return false;
    }
    return true;
}

/* The framing http-parser is now set up for must be ours; otherwise the body
 * the caller forwards would be delimited differently from what the head we
 * forward announces. */
static bool framing_agrees(const head_ctx *h, const http_parser *p, const agree_ctx *a,
                           cg_body_kind body, uint64_t length)
{
    bool ok;
    switch (body) {
    case CG_BODY_NONE:
        ok = a->message_complete;
        break;
    case CG_BODY_LENGTH:
        ok = !(p->flags & F_CHUNKED) &&
             (length == 0 ? a->message_complete : (!a->message_complete && p->content_length == length));
        break;
    case CG_BODY_CHUNKED:
        ok = (p->flags & F_CHUNKED) && !a->message_complete;
        break;
    case CG_BODY_UNTIL_CLOSE:
    default:
        ok = !(p->flags & F_CHUNKED) && !a->message_complete && p->content_length == UINT64_MAX;
        break;
    }
    if (!ok)
        cg_refuse(h->why, head_bad(h),
                  "%s framing is ambiguous: http-parser and certgate disagree about where its body ends",
                  msg_noun(h));
    return ok;
}

/* keep-alive per RFC 9112 9.3, from our own reading of Connection. */
static bool wants_keep_alive(const cg_http_header *hdrs, size_t n, int version_minor)
{
    if (list_has_token(hdrs, n, "connection", "close"))
        return false;
    return version_minor >= 1 || list_has_token(hdrs, n, "connection", "keep-alive");
}

/* ------------------------------------------------------------------------ */
/* requests                                                                 */

static bool known_method(cg_slice m)
{
    static const char *const methods[] = {
#define XX(num, name, string) #string,
        HTTP_METHOD_MAP(XX)
#undef XX
    };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strlen(methods[i]) == m.n && memcmp(methods[i], m.p, m.n) == 0)
            return true;
    return false;
}

static bool parse_request_line(const head_ctx *h, cg_slice line, cg_http_request *req)
{
    EXCERPT_NO_QUERY(l, line);
    const char *sp1 = memchr(line.p, ' ', line.n);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line.p + line.n - sp1 - 1)) : NULL;
    const char *sp3 = sp2 ? memchr(sp2 + 1, ' ', (size_t)(line.p + line.n - sp2 - 1)) : NULL;
    if (!sp2 || sp3 || sp1 == line.p || sp2 == sp1 + 1 || sp2 + 1 == line.p + line.n) {
        cg_refuse(h->why, CG_REFUSE_BAD_REQUEST,
                  "request line \"%s\" is not \"METHOD target HTTP/1.1\" with single spaces", l);
        return false;
    }
    req->method = slice(line.p, (size_t)(sp1 - line.p));
    req->target = slice(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    for (size_t i = 0; i < req->method.n; i++) {
        if (!is_tchar((unsigned char)req->method.p[i])) {
            cg_refuse(h->why, CG_REFUSE_BAD_REQUEST, "request line \"%s\" has an invalid method", l);
            return false;
        }
    }
    if (cg_slice_ieq(req->method, "CONNECT")) {
        cg_refuse(h->why, CG_REFUSE_METHOD,
                  "CONNECT is not supported: certgate is a reverse proxy, not a forward proxy");
        return false;
    }
    if (!known_method(req->method)) {
        /* http-parser only parses the methods it knows; RFC 9110 9.1 says
         * 501 for a method the server does not recognize. */
        EXCERPT(m, req->method);
        cg_refuse(h->why, CG_REFUSE_METHOD,
                  "method \"%s\" is not supported (methods are case-sensitive)", m);
        return false;
    }
    if (!parse_version(h, slice(sp2 + 1, (size_t)(line.p + line.n - sp2 - 1)), &req->version_minor))
        return false;

    cg_slice t = req->target;
    EXCERPT_NO_QUERY(ts, t);
    if (t.n == 1 && t.p[0] == '*') {
        if (!cg_slice_ieq(req->method, "OPTIONS")) {
            cg_refuse(h->why, CG_REFUSE_BAD_REQUEST,
                      "request target \"*\" is only allowed with OPTIONS");
            return false;
        }
    } else if (t.p[0] != '/') {
        cg_refuse(h->why, CG_REFUSE_BAD_REQUEST,
                  "request target \"%s\" is not in origin-form (a path starting with \"/\"); "
                  "absolute URLs are for forward proxies", ts);
        return false;
    }
    for (size_t i = 0; i < t.n; i++) {
        unsigned char c = (unsigned char)t.p[i];
        if (c == '#') {
            cg_refuse(h->why, CG_REFUSE_BAD_REQUEST,
                      "request target \"%s\" contains a fragment (\"#\"), which clients must not send", ts);
            return false;
        }
        if (c < 0x20) {
            /* The head scan lets HTAB through (it is fine in header values);
             * in a target, a server that splits the request line on any
             * whitespace would read another target. */
            cg_refuse(h->why, CG_REFUSE_BAD_REQUEST,
                      "request target \"%s\" contains the control character 0x%02x at offset %zu",
                      ts, c, i);
            return false;
        }
        if (c >= 0x7f) {
            /* Backends decode raw non-ASCII differently (UTF-8, code
             * pages); routing decisions must not depend on that. */
            cg_refuse(h->why, CG_REFUSE_BAD_REQUEST,
                      "request target \"%s\" contains the byte 0x%02x at offset %zu; "
                      "non-ASCII characters must be percent-encoded", ts, c, i);
            return false;
        }
    }
    const char *q = memchr(t.p, '?', t.n);
    req->path = slice(t.p, q ? (size_t)(q - t.p) : t.n);
    return true;
}

/* Host = uri-host [ ":" port ]; anything else (spaces, "/", "@", ",") is
 * either a spoofing attempt or would be read differently by the backend. */
static bool host_char_ok(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("-._~%!$&'()*+;=:[]", c) != NULL;
}

static bool check_host(const head_ctx *h, const cg_http_request *req)
{
    size_t n = count_headers(req->headers, req->nheaders, "host");
    if (n > 1) {
        cg_refuse(h->why, CG_REFUSE_BAD_REQUEST, "request has %zu Host headers; send exactly one", n);
        return false;
    }
    if (n == 0) {
        if (req->version_minor >= 1) {
            cg_refuse(h->why, CG_REFUSE_BAD_REQUEST, "HTTP/1.1 request without a Host header");
            return false;
        }
        return true;
    }
    cg_slice v = cg_http_find_header(req->headers, req->nheaders, "host")->value;
    for (size_t i = 0; i < v.n; i++) {
        if (!host_char_ok((unsigned char)v.p[i])) {
            EXCERPT(hs, v);
            cg_refuse(h->why, CG_REFUSE_BAD_REQUEST,
                      "Host header \"%s\" is not a host name with an optional port", hs);
            return false;
        }
    }
    return true;
}

static bool check_expect(const head_ctx *h, cg_http_request *req)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        if (!cg_slice_ieq(req->headers[i].name, "expect"))
            continue;
        if (!cg_slice_ieq(req->headers[i].value, "100-continue")) {
            EXCERPT(v, req->headers[i].value);
            cg_refuse(h->why, CG_REFUSE_BAD_REQUEST,
                      "Expect \"%s\" is not supported; only \"100-continue\"", v);
            return false;
        }
        /* RFC 9110 10.1.1: ignore the expectation from HTTP/1.0 clients. */
        req->expect_continue = req->version_minor >= 1;
    }
    return true;
}

static bool check_request_framing(const head_ctx *h, cg_http_request *req)
{
    bool has_cl, has_te;
    uint64_t cl = 0;
    if (count_headers(req->headers, req->nheaders, "content-length") &&
        count_headers(req->headers, req->nheaders, "transfer-encoding")) {
        cg_refuse(h->why, CG_REFUSE_BAD_REQUEST,
                  "request has both Content-Length and Transfer-Encoding (request smuggling risk); "
                  "send one of them");
        return false;
    }
    if (!check_te_lookalikes(h, req->headers, req->nheaders) ||
        !parse_content_length(h, req->headers, req->nheaders, &has_cl, &cl))
        return false;
    if (!check_transfer_encoding(h, req->headers, req->nheaders, req->version_minor, &has_te))
        return false;
    if (has_te) {
        req->body = CG_BODY_CHUNKED;
    } else if (has_cl) {
        req->body = CG_BODY_LENGTH;
        req->content_length = cl;
    } else {
        req->body = CG_BODY_NONE; /* RFC 9112 6.3: no framing means no body */
    }
    return true;
}

static bool head_valid(const head_ctx *h, size_t max_headers)
{
    /* The byte rules again, without the size limits: the tokenizer and the
     * writers rely on them (a stray LF in a value would be a header of its
     * own for the backend), so they must not depend on the caller having
     * scanned exactly these bytes. Linear and cheap next to the I/O. */
    cg_http_limits lim = { h->head_len + 1, h->head_len, max_headers };
    size_t len = 0;
    cg_head_scan r = cg_http_scan_head(h->head, h->head_len, &lim, h->is_response, &len, h->why);
    if (r == CG_HEAD_COMPLETE && len == h->head_len)
        return true;
    if (r != CG_HEAD_INVALID)
        cg_refuse(h->why, head_bad(h), "%s head does not end with its first empty line", msg_noun(h));
    return false;
}

bool cg_http_parse_request(http_parser *p, const char *head, size_t head_len,
                           cg_http_header *hdrs, size_t max_headers,
                           cg_http_request *req, cg_refusal *why)
{
    head_ctx h = { head, head_len, false, why };
    memset(req, 0, sizeof *req);
    req->headers = hdrs;
    http_parser_init(p, HTTP_REQUEST);

    if (!head_valid(&h, max_headers))
        return false;
    size_t pos = 0;
    cg_slice line = next_line(&h, &pos);
    if (!parse_request_line(&h, line, req) ||
        !tokenize_fields(&h, pos, hdrs, max_headers, &req->nheaders) ||
        !check_host(&h, req) ||
        !check_request_framing(&h, req) ||
        !check_expect(&h, req))
        return false;
    req->keep_alive = wants_keep_alive(hdrs, req->nheaders, req->version_minor);

    agree_ctx a = { .hdrs = hdrs, .n = req->nheaders, .last = CB_NONE };
    if (!run_parser(&h, p, &a))
        return false;
    if (a.url.p != req->target.p || a.url.n != req->target.n || p->http_major != 1 ||
        p->http_minor != req->version_minor ||
        !cg_slice_ieq(req->method, http_method_str((enum http_method)p->method))) {
        cg_refuse(why, CG_REFUSE_BAD_REQUEST,
                  "request line is ambiguous: http-parser reads it differently from certgate");
        return false;
    }
    if (!framing_agrees(&h, p, &a, req->body, req->content_length))
        return false;
    req->message_complete = a.message_complete;
    return true;
}

/* ------------------------------------------------------------------------ */
/* responses                                                                */

static bool parse_status_line(const head_ctx *h, cg_slice line, cg_http_response *res)
{
    EXCERPT(l, line);
    /* HTTP-version SP 3DIGIT SP [reason]; a missing final SP is tolerated
     * (RFC 9112 4: recipients should accept it). */
    if (line.n < 12 || line.p[8] != ' ' || !is_digit(line.p[9]) || !is_digit(line.p[10]) ||
        !is_digit(line.p[11]) || (line.n > 12 && line.p[12] != ' ')) {
        cg_refuse(h->why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                  "backend sent a malformed status line \"%s\"", l);
        return false;
    }
    if (!parse_version(h, slice(line.p, 8), &res->version_minor))
        return false;
    res->status = (line.p[9] - '0') * 100 + (line.p[10] - '0') * 10 + (line.p[11] - '0');
    res->reason = line.n > 13 ? slice(line.p + 13, line.n - 13) : slice(line.p + line.n, 0);
    if (res->status < 100 || res->status > 599) {
        cg_refuse(h->why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                  "backend sent status %d, outside 100-599", res->status);
        return false;
    }
    if (res->status == 101) {
        cg_refuse(h->why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                  "backend answered 101 Switching Protocols; protocol upgrades "
                  "(WebSocket, h2c) are not supported through certgate");
        return false;
    }
    return true;
}

static bool no_body_status(int status)
{
    return status < 200 || status == 204 || status == 304;
}

static bool check_response_framing(const head_ctx *h, cg_http_response *res, bool request_was_head)
{
    bool has_cl, has_te, skip = request_was_head || no_body_status(res->status);
    uint64_t cl = 0;
    if (count_headers(res->headers, res->nheaders, "content-length") &&
        count_headers(res->headers, res->nheaders, "transfer-encoding")) {
        cg_refuse(h->why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                  "backend response has both Content-Length and Transfer-Encoding "
                  "(response smuggling risk); it must send one of them");
        return false;
    }
    if (!check_te_lookalikes(h, res->headers, res->nheaders) ||
        !parse_content_length(h, res->headers, res->nheaders, &has_cl, &cl))
        return false;
    if (has_cl)
        res->content_length = cl; /* also for HEAD / 304: passed on as sent */
    has_te = count_headers(res->headers, res->nheaders, "transfer-encoding") > 0;
    if (!skip && !check_transfer_encoding(h, res->headers, res->nheaders, res->version_minor, &has_te))
        return false;

    if (skip)
        res->body = CG_BODY_NONE;
    else if (has_te)
        res->body = CG_BODY_CHUNKED;
    else if (has_cl)
        res->body = CG_BODY_LENGTH;
    else
        res->body = CG_BODY_UNTIL_CLOSE;
    return true;
}

bool cg_http_parse_response(http_parser *p, const char *head, size_t head_len,
                            bool request_was_head, cg_http_header *hdrs, size_t max_headers,
                            cg_http_response *res, cg_refusal *why)
{
    head_ctx h = { head, head_len, true, why };
    memset(res, 0, sizeof *res);
    res->headers = hdrs;
    http_parser_init(p, HTTP_RESPONSE);

    if (!head_valid(&h, max_headers))
        return false;
    size_t pos = 0;
    cg_slice line = next_line(&h, &pos);
    if (!parse_status_line(&h, line, res) ||
        !tokenize_fields(&h, pos, hdrs, max_headers, &res->nheaders) ||
        !check_response_framing(&h, res, request_was_head))
        return false;
    res->keep_alive = res->body != CG_BODY_UNTIL_CLOSE &&
                      wants_keep_alive(hdrs, res->nheaders, res->version_minor);

    /* http-parser expects a body after a 1xx, 204 or 304 that carries
     * Content-Length or chunked: returning 1 from on_headers_complete is
     * the only way to tell it otherwise (the same as for HEAD). */
    agree_ctx a = { .hdrs = hdrs, .n = res->nheaders, .last = CB_NONE,
                    .skip_body = res->body == CG_BODY_NONE };
    if (!run_parser(&h, p, &a))
        return false;
    if (p->status_code != (unsigned)res->status || p->http_major != 1 ||
        p->http_minor != res->version_minor) {
        cg_refuse(why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                  "backend status line is ambiguous: http-parser reads it differently from certgate");
        return false;
    }
    if (!framing_agrees(&h, p, &a, res->body, res->content_length))
        return false;
    res->message_complete = a.message_complete;
    return true;
}

/* ------------------------------------------------------------------------ */
/* rewriting                                                                */

/* Case-insensitive comparison with a lower-case literal in which '-' also
 * matches '_': CGI-style backends (and IIS server variables) map both to
 * '_', so "X_Client_Cert_Subject" would otherwise slip past as the identity
 * header. */
static bool name_is(cg_slice name, const char *lit, size_t litlen)
{
    if (name.n != litlen)
        return false;
    for (size_t i = 0; i < litlen; i++) {
        unsigned char c = lower((unsigned char)name.p[i]);
        if (c == '_')
            c = '-';
        if (c != (unsigned char)lit[i])
            return false;
    }
    return true;
}

#define NAME_IS(name, lit) name_is((name), (lit), sizeof(lit) - 1)

static bool has_prefix(cg_slice name, const char *prefix, size_t n)
{
    return name.n >= n && name_is(slice(name.p, n), prefix, n);
}

/* certgate's identity headers: X-Client-Cert-* (the certificate) and
 * X-Certgate-* (the mapped principal ...): only certgate may set them. */
static bool is_identity_header(cg_slice name)
{
    static const char cert[] = "x-client-cert-", own[] = "x-certgate-";
    return has_prefix(name, cert, sizeof cert - 1) || has_prefix(name, own, sizeof own - 1);
}

bool cg_http_request_header_dropped(cg_slice name)
{
    if (name.n == 0)
        return false;
    if (is_identity_header(name))
        return true;
    /* Switch on length so that most headers cost one comparison at most. */
    switch (name.n) {
    case 2:  return NAME_IS(name, "te");
    case 6:  return NAME_IS(name, "expect");
    case 7:  return NAME_IS(name, "trailer") || NAME_IS(name, "upgrade");
    case 9:  return NAME_IS(name, "forwarded");
    case 10: return NAME_IS(name, "connection") || NAME_IS(name, "keep-alive");
    case 12: return NAME_IS(name, "x-request-id");
    case 13: return NAME_IS(name, "authorization");
    case 14: return NAME_IS(name, "content-length");
    case 15: return NAME_IS(name, "x-forwarded-for");
    case 16: return NAME_IS(name, "proxy-connection") || NAME_IS(name, "x-forwarded-host");
    case 17: return NAME_IS(name, "transfer-encoding") || NAME_IS(name, "x-forwarded-proto");
    case 18: return NAME_IS(name, "proxy-authenticate");
    case 19: return NAME_IS(name, "proxy-authorization");
    default: return false;
    }
}

/* Headers some backend or framework believes as a statement of who the
 * client is or which URL it asked for, when a front end sets them: IIS URL
 * Rewrite and ARR (X-Original-URL / X-Rewrite-URL replace the routed path),
 * client-certificate forwarding conventions of other proxies, "already
 * authenticated" users (Remote-User, Azure App Service, oauth2-proxy), and
 * client addresses other than X-Forwarded-For. A client is none of those
 * front ends. Stripped unless the listener keeps one (cg_header_policy). */
const char *const cg_http_backend_trusted_headers[] = {
    "x-original-url", "x-rewrite-url",
    "x-arr-*",
    "x-forwarded-client-cert", "x-ssl-client-*", "ssl-client-*", "x-ssl-cert", "x-client-cert",
    "x-client-verify", "x-client-dn",
    "remote-user", "x-remote-user", "x-forwarded-user", "x-forwarded-email", "x-auth-request-*",
    "x-ms-client-principal*",
    "x-real-ip", "x-client-ip", "true-client-ip", "x-forwarded-server", "x-forwarded-port",
    "x-forwarded-prefix", "x-forwarded-ssl", "x-forwarded-scheme", "front-end-https",
    NULL,
};

/* An entry ending in '*' names a family by its prefix: proxies invent new
 * members (X-SSL-Client-DN, -Escaped-Cert, -Fingerprint ...) faster than a
 * list of exact names can follow. */
bool cg_http_backend_trusted_header(cg_slice name)
{
    for (const char *const *t = cg_http_backend_trusted_headers; *t; t++) {
        size_t n = strlen(*t);
        if ((*t)[n - 1] == '*' ? has_prefix(name, *t, n - 1) : name_is(name, *t, n))
            return true;
    }
    return false;
}

static bool listed(cg_slice name, char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (name_is(name, list[i], strlen(list[i])))
            return true;
    return false;
}

bool cg_http_request_header_stripped(cg_slice name, const cg_header_policy *p)
{
    if (cg_http_request_header_dropped(name))
        return true;
    if (cg_http_backend_trusted_header(name))
        return !p || !listed(name, p->keep, p->nkeep);
    return p && listed(name, p->strip, p->nstrip);
}

/* Hop-by-hop fields of a response (RFC 9110 7.6.1), plus the framing and
 * X-Request-Id that the proxy writes itself, and WWW-Authenticate: the
 * client's Authorization never reaches a backend (certgate authenticates
 * to it, with Kerberos), so no challenge of a backend can be answered by
 * the client, and a Negotiate one (a 401, or the mutual-authentication
 * token of a 200) would only invite the browser into Kerberos with
 * certgate's host. */
static bool response_header_dropped(cg_slice name)
{
    switch (name.n) {
    case 2:  return NAME_IS(name, "te");
    case 7:  return NAME_IS(name, "trailer") || NAME_IS(name, "upgrade");
    case 10: return NAME_IS(name, "connection") || NAME_IS(name, "keep-alive");
    case 12: return NAME_IS(name, "x-request-id");
    case 14: return NAME_IS(name, "content-length");
    case 16: return NAME_IS(name, "proxy-connection") || NAME_IS(name, "www-authenticate");
    case 17: return NAME_IS(name, "transfer-encoding");
    case 18: return NAME_IS(name, "proxy-authenticate");
    case 19: return NAME_IS(name, "proxy-authorization");
    default: return false;
    }
}

/* Appends after the single up-front reserve: never reallocates then, and
 * stays correct (just slower) should the estimate ever be short. */
static bool put(cg_buf *b, const char *p, size_t n) { return cg_buf_append(b, p, n); }

static bool put_str(cg_buf *b, const char *s) { return put(b, s, strlen(s)); }

static bool put_header(cg_buf *b, cg_slice name, cg_slice value)
{
    return put(b, name.p, name.n) && put(b, ": ", 2) && put(b, value.p, value.n) && put(b, "\r\n", 2);
}

static bool put_u64(cg_buf *b, uint64_t v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    return put(b, p, (size_t)(tmp + sizeof tmp - p));
}

size_t cg_http_chunk_line(char *out, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16], *p = tmp + sizeof tmp;
    do
        *--p = hex[len & 15];
    while ((len >>= 4) != 0);
    size_t n = (size_t)(tmp + sizeof tmp - p);
    memcpy(out, p, n);
    out[n] = '\r';
    out[n + 1] = '\n';
    return n + 2;
}

/* Extra headers come from certificates and configuration: a CR or LF in a
 * subject must not become a header of its own, so controls are replaced. */
static bool put_sanitized(cg_buf *b, cg_slice s)
{
    if (!cg_buf_reserve(b, s.n))
        return false;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        b->data[b->len++] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char)c;
    }
    return true;
}

static size_t headers_size(const cg_http_header *h, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += h[i].name.n + h[i].value.n + 4;
    return total;
}

bool cg_http_write_backend_head(const cg_http_request *req, const cg_forward_ctx *ctx, cg_buf *out)
{
    const cg_http_header *h = req->headers;
    size_t n = req->nheaders;
    bool has_conn = cg_http_find_header(h, n, "connection") != NULL;
    bool has_host = cg_http_find_header(h, n, "host") != NULL;

    size_t need = req->method.n + 1 + req->target.n + sizeof " HTTP/1.1\r\n" +
                  headers_size(h, n) + headers_size(ctx->extra, ctx->nextra) + ctx->extra_block.n +
                  sizeof "Host: \r\n" + ctx->default_host.n +
                  sizeof "X-Forwarded-For: \r\n" + ctx->client_ip.n +
                  sizeof "X-Forwarded-Proto: https\r\n" +
                  sizeof "X-Request-Id: \r\n" + ctx->request_id.n +
                  sizeof "Transfer-Encoding: chunked\r\n" + sizeof "Content-Length: \r\n" + 20 + 2;
    if (!cg_buf_reserve(out, need))
        return false;

    bool ok = put(out, req->method.p, req->method.n) && put(out, " ", 1) &&
              put(out, req->target.p, req->target.n) && put_str(out, " HTTP/1.1\r\n");
    if (ok && !has_host && ctx->default_host.n)
        ok = put_header(out, CG_SLICE_LIT("Host"), ctx->default_host);
    for (size_t i = 0; ok && i < n; i++) {
        if (cg_http_request_header_stripped(h[i].name, ctx->strip))
            continue;
        /* Host stays even if Connection names it: the backend needs it
         * and a client must not be able to swap in the default host. */
        if (has_conn && !cg_slice_ieq(h[i].name, "host") && named_by_connection(h, n, h[i].name))
            continue;
        ok = put_header(out, h[i].name, h[i].value);
    }
    if (ok && ctx->client_ip.n)
        ok = put_header(out, CG_SLICE_LIT("X-Forwarded-For"), ctx->client_ip);
    if (ok)
        ok = put_str(out, "X-Forwarded-Proto: https\r\n");
    if (ok && ctx->request_id.n)
        ok = put_header(out, CG_SLICE_LIT("X-Request-Id"), ctx->request_id);
    if (ok && ctx->extra_block.n)
        ok = put(out, ctx->extra_block.p, ctx->extra_block.n);
    for (size_t i = 0; ok && i < ctx->nextra; i++)
        ok = put_sanitized(out, ctx->extra[i].name) && put(out, ": ", 2) &&
             put_sanitized(out, ctx->extra[i].value) && put(out, "\r\n", 2);
    if (ok && req->body == CG_BODY_LENGTH)
        ok = put_str(out, "Content-Length: ") && put_u64(out, req->content_length) && put(out, "\r\n", 2);
    else if (ok && req->body == CG_BODY_CHUNKED)
        ok = put_str(out, "Transfer-Encoding: chunked\r\n");
    return ok && put(out, "\r\n", 2);
}

static const char *reason_for(int status)
{
    const char *s = http_status_str((enum http_status)status);
    if (s && strcmp(s, "<unknown>") != 0)
        return s;
    switch (status / 100) {
    case 1:  return "Informational";
    case 2:  return "Success";
    case 3:  return "Redirection";
    case 4:  return "Client Error";
    default: return "Server Error";
    }
}

bool cg_http_write_client_head(const cg_http_response *res, bool request_was_head,
                               int client_version_minor, bool keep_client,
                               cg_slice request_id, cg_buf *out, cg_client_body *framing)
{
    const cg_http_header *h = res->headers;
    size_t n = res->nheaders;
    bool has_conn = cg_http_find_header(h, n, "connection") != NULL;
    bool informational = res->status < 200;
    /* HEAD and 304 describe the representation: their Content-Length is
     * passed on as sent. 204 must not carry one at all (RFC 9110 8.6). */
    bool keep_cl = request_was_head || res->status == 304;

    cg_client_body fr;
    if (informational || request_was_head || res->status == 204 || res->status == 304)
        fr = CG_CLIENT_BODY_NONE;
    else if (res->body == CG_BODY_LENGTH)
        fr = CG_CLIENT_BODY_LENGTH;
    else if (res->body == CG_BODY_CHUNKED || res->body == CG_BODY_UNTIL_CLOSE)
        fr = client_version_minor >= 1 ? CG_CLIENT_BODY_CHUNKED : CG_CLIENT_BODY_CLOSE;
    else
        fr = CG_CLIENT_BODY_NONE;
    *framing = fr;
    if (fr == CG_CLIENT_BODY_CLOSE)
        keep_client = false; /* the close is the end of the body */

    int code = res->status % 1000;
    char status[4] = { (char)('0' + code / 100), (char)('0' + code / 10 % 10), (char)('0' + code % 10), '\0' };
    const char *reason = res->reason.n ? NULL : reason_for(res->status);

    size_t need = sizeof "HTTP/1.1 000 \r\n" + (reason ? strlen(reason) : res->reason.n) +
                  headers_size(h, n) + sizeof "Content-Length: \r\n" + 20 +
                  sizeof "Transfer-Encoding: chunked\r\n" + sizeof "Connection: keep-alive\r\n" +
                  sizeof "X-Request-Id: \r\n" + request_id.n + 2;
    if (!cg_buf_reserve(out, need))
        return false;

    bool ok = put_str(out, "HTTP/1.1 ") && put_str(out, status) && put(out, " ", 1) &&
              (reason ? put_str(out, reason) : put(out, res->reason.p, res->reason.n)) &&
              put(out, "\r\n", 2);
    for (size_t i = 0; ok && i < n; i++) {
        cg_slice name = h[i].name;
        if (keep_cl && NAME_IS(name, "content-length")) {
            ok = put_header(out, name, h[i].value);
            continue;
        }
        if (response_header_dropped(name) || (has_conn && named_by_connection(h, n, name)))
            continue;
        ok = put_header(out, name, h[i].value);
    }
    if (ok && fr == CG_CLIENT_BODY_LENGTH)
        ok = put_str(out, "Content-Length: ") && put_u64(out, res->content_length) && put(out, "\r\n", 2);
    else if (ok && fr == CG_CLIENT_BODY_CHUNKED)
        ok = put_str(out, "Transfer-Encoding: chunked\r\n");
    if (ok && !informational) {
        if (!keep_client)
            ok = put_str(out, "Connection: close\r\n");
        else if (client_version_minor == 0)
            ok = put_str(out, "Connection: keep-alive\r\n"); /* 1.0 closes by default */
    }
    if (ok && request_id.n)
        ok = put_header(out, CG_SLICE_LIT("X-Request-Id"), request_id);
    return ok && put(out, "\r\n", 2);
}
