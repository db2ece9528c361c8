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
 *   1. cg_http_scan_head() (http1_scan.c) enforces the byte-level rules
 *      (CRLF only, no control characters, no obs-fold, limits).
 *   2. tokenize_*() splits the head into start line and fields itself and
 *      the rule checks below run on that, so every refusal has a precise
 *      sentence instead of an http-parser errno.
 *   3. The body's framing (NONE, LENGTH, CHUNKED, UNTIL_CLOSE) is decided
 *      from those fields alone, and certgate frames the body itself
 *      (body_framing.h): a Content-Length body is counted, an until-close
 *      body ends at EOF. http-parser is used only where it is needed, for
 *      chunked bodies (it decodes them, behind chunked.c's strict check):
 *      for those it parses the same head bytes, because the caller
 *      continues with it for the body. Its callbacks only verify that it
 *      sees the very same field boundaries, and the framing it decided
 *      (F_CHUNKED, message completion) is compared with ours
 *      (http1_agree.c). Any disagreement is a refusal: it would mean that
 *      http-parser frames the body differently from what we forward. For
 *      every other message http-parser never runs, so there is nothing to
 *      disagree with: the framing is by construction certgate's. What it
 *      used to refuse in such heads certgate refuses itself (its method
 *      list, its 80 KiB head limit, the checks above, which are stricter).
 * Writing the heads certgate sends is http1_write.c.
 */
#include "http1.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "http1_agree.h"
#include "http1_scan.h"
#include "http1_text.h"
#include "base/base.h"

/* Content-Length values above this are refused. http-parser overflows a bit
 * above 1.8e18; a round, documented limit is easier to explain. */
#define CG_MAX_CONTENT_LENGTH 999999999999999999ULL

/* ------------------------------------------------------------------------ */
/* small helpers                                                            */

#define EXCERPT(name, s) char name##_buf[256]; const char *name = cg_http_excerpt(name##_buf, sizeof name##_buf, (s))
#define EXCERPT_NO_QUERY(name, s) char name##_buf[256]; const char *name = cg_http_excerpt_no_query(name##_buf, sizeof name##_buf, (s))

/* tchar (RFC 9110 5.6.2): the bytes allowed in a field name and method:
 * ALPHA, DIGIT and !#$%&'*+-.^_`|~, one byte per byte value (every name byte
 * of every head is looked up here: one load and one test). CR is not a
 * tchar, so a walk over tchars stops at the end of its line at the latest. */
static const unsigned char tchars[256] = {
    /* 0x00-0x1f */ 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    /*  !"#$%&'()*+,-./ */ 0,1,0,1,1,1,1,1,0,0,1,1,0,1,1,0,
    /* 0123456789:;<=>? */ 1,1,1,1,1,1,1,1,1,1,0,0,0,0,0,0,
    /* @ABCDEFGHIJKLMNO */ 0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    /* PQRSTUVWXYZ[\]^_ */ 1,1,1,1,1,1,1,1,1,1,1,0,0,0,1,1,
    /* `abcdefghijklmno */ 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    /* pqrstuvwxyz{|}~  */ 1,1,1,1,1,1,1,1,1,1,1,0,1,0,1,0,
    /* 0x80-0xff: 0 */
};

static inline bool is_tchar(unsigned char c) { return tchars[c]; }

/* ------------------------------------------------------------------------ */
/* tokenizer shared by requests and responses                               */

/* The fields the rules below look at, found in the tokenizer's one pass over
 * the names: how many there are and where the first one is, so that a rule
 * looks from there on, and not at all when there is none. */
enum { F_HOST, F_CONTENT_LENGTH, F_TRANSFER_ENCODING, F_CONNECTION, F_EXPECT, F_COUNT };

typedef struct field_index {
    size_t count[F_COUNT];
    size_t first[F_COUNT];
    size_t te_lookalike; /* the first name longer than "Transfer-Encoding" that starts with it; SIZE_MAX: none */
} field_index;

/* Whether p[0..n), bytes of one line of a checked head (a name, a value,
 * a token: never CR, head_valid() saw to that), is lit, a lower-case ASCII
 * text of letters and '-' of n >= 4 bytes, ASCII case aside: a word at a
 * time (the last word overlapping), with 0x20 OR-ed in. That is exact: only
 * 'X' and 'x' become 'x', and only '-' and CR become '-'. */
static inline bool head_text_is(const char *p, const char *lit, size_t n)
{
    const uint64_t lower = 0x2020202020202020u;
    uint64_t x, y;
    if (n < 8) {
        uint32_t a, b, c, d;
        memcpy(&a, p, 4);
        memcpy(&b, lit, 4);
        memcpy(&c, p + n - 4, 4);
        memcpy(&d, lit + n - 4, 4);
        return ((a | (uint32_t)lower) == b) & ((c | (uint32_t)lower) == d);
    }
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&x, p + i, 8);
        memcpy(&y, lit + i, 8);
        if ((x | lower) != y)
            return false;
    }
    if (i == n)
        return true;
    memcpy(&x, p + n - 8, 8);
    memcpy(&y, lit + n - 8, 8);
    return (x | lower) == y;
}

/* The F_* of a field name of tchars, or -1. */
static inline int known_field(const char *p, size_t n)
{
    switch (n) {
    case 4:  return head_text_is(p, "host", 4) ? F_HOST : -1;
    case 6:  return head_text_is(p, "expect", 6) ? F_EXPECT : -1;
    case 10: return head_text_is(p, "connection", 10) ? F_CONNECTION : -1;
    case 14: return head_text_is(p, "content-length", 14) ? F_CONTENT_LENGTH : -1;
    case 17: return head_text_is(p, "transfer-encoding", 17) ? F_TRANSFER_ENCODING : -1;
    default: return -1;
    }
}

/* The same for a slice: its length first. */
static inline bool head_slice_is(cg_slice name, const char *lit)
{
    size_t n = strlen(lit);
    return name.n == n && head_text_is(name.p, lit, n);
}

typedef struct head_ctx {
    const char *head;
    size_t head_len;
    bool is_response;
    cg_refusal *why;
    field_index idx; /* filled by tokenize_fields */
    /* where the first lines end, from the scan that proved the head (see
     * cg_head_scanner): line_end[j] ends line j + 1 */
    const uint16_t *line_end;
    size_t nline_ends;
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

/* The CR that ends line j + 1, the scan's or searched from p. */
static inline const char *line_cr(const head_ctx *h, size_t j, const char *p)
{
    if (j < h->nline_ends)
        return h->head + h->line_end[j];
    return memchr(p, '\r', (size_t)(h->head + h->head_len - p));
}

/* Returns the start line (without CRLF) and sets *pos past it. head_valid()
 * has checked that every line ends with CRLF. */
static cg_slice start_line(const head_ctx *h, size_t *pos)
{
    const char *p = h->head;
    size_t left = h->head_len;
    const char *cr = line_cr(h, 0, p);
    size_t n = cr ? (size_t)(cr - p) : left;
    *pos = n + (cr ? 2 : 0);
    return slice(p, n);
}

/* A field line that is not the usual "name:" (tchars right up to the
 * colon; k is how many tchars it starts with): the rule it breaks, said in
 * a refusal. Such a line always breaks one; *name is set only if not. */
static bool odd_field_line(head_ctx *h, cg_slice line, size_t k, unsigned line_no, cg_slice *name)
{
    const char *colon = k > 0 && k < line.n && line.p[k] == ':' ? line.p + k : memchr(line.p, ':', line.n);
    if (!colon) {
        EXCERPT(l, line);
        cg_refuse(h->why, head_bad(h), "%s header line %u (\"%s\") has no colon",
                  msg_noun(h), line_no, l);
        return false;
    }
    *name = slice(line.p, (size_t)(colon - line.p));
    if (name->n == 0) {
        cg_refuse(h->why, head_bad(h), "%s header line %u has an empty field name",
                  msg_noun(h), line_no);
        return false;
    }
    if (is_ows(name->p[name->n - 1])) {
        /* RFC 9112 5.1: must be rejected, since some recipients would
         * see "Content-Length " and others "Content-Length". */
        EXCERPT(nm, trim_ows(*name));
        cg_refuse(h->why, head_bad(h),
                  "%s header line %u has whitespace between the field name \"%s\" and the colon; "
                  "this is not allowed (%s)", msg_noun(h), line_no, nm, smuggling(h));
        return false;
    }
    for (size_t i = k < name->n ? k : name->n; i < name->n; i++) { /* the first k are tchars */
        if (!is_tchar((unsigned char)name->p[i])) {
            EXCERPT(nm, *name);
            cg_refuse(h->why, head_bad(h),
                      "%s header line %u: field name \"%s\" contains the invalid character 0x%02x",
                      msg_noun(h), line_no, nm, (unsigned char)name->p[i]);
            return false;
        }
    }
    return true;
}

/* Splits the field lines after the start line into hdrs, and indexes the
 * ones the rules look at (h->idx), in one pass: per line, the name's tchars
 * up to the colon, then the CR that ends the value. head_valid() has checked
 * that every line ends with CRLF and the head with an empty line, so the
 * walks stop at a CR within the head. */
static bool tokenize_fields(head_ctx *h, size_t pos, cg_http_header *hdrs, size_t max,
                            size_t *nhdrs)
{
    static const char te[] = "transfer-encoding";
    const char *p = h->head + pos;
    size_t n = 0;
    unsigned line_no = 2;
    memset(h->idx.count, 0, sizeof h->idx.count);
    h->idx.te_lookalike = SIZE_MAX;
    for (;; line_no++) {
        size_t k = 0;
        while (is_tchar((unsigned char)p[k]))
            k++;
        cg_slice name;
        const char *vstart, *cr;
        if (k > 0 && p[k] == ':') { /* the usual line */
            name = slice(p, k);
            vstart = p + k + 1;
            cr = line_cr(h, line_no - 1, vstart);
        } else {
            if (*p == '\r') /* the empty line */
                break;
            cr = line_cr(h, line_no - 1, p);
            cg_slice line = slice(p, (size_t)(cr - p));
            if (!odd_field_line(h, line, k, line_no, &name))
                return false;
            vstart = name.p + name.n + 1;
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
        const char *vend = cr;
        while (is_ows(*vstart)) /* stops at the CR at the latest */
            vstart++;
        while (vend > vstart && is_ows(vend[-1]))
            vend--;
        hdrs[n].name = name;
        hdrs[n].value = slice(vstart, (size_t)(vend - vstart));
        if (name.n >= 4) {
            int f = known_field(name.p, name.n);
            if (f >= 0 && h->idx.count[f]++ == 0)
                h->idx.first[f] = n;
            if (name.n > sizeof te - 1 && h->idx.te_lookalike == SIZE_MAX &&
                head_text_is(name.p, te, sizeof te - 1))
                h->idx.te_lookalike = n;
        }
        n++;
        p = cr + 2;
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
    if (v.n == 8 && memcmp(v.p, "HTTP/", 5) == 0 && cg_ascii_is_digit(v.p[5]) && v.p[6] == '.' && cg_ascii_is_digit(v.p[7]))
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
static bool check_te_lookalikes(const head_ctx *h, const cg_http_header *hdrs)
{
    if (h->idx.te_lookalike == SIZE_MAX)
        return true;
    EXCERPT(nm, hdrs[h->idx.te_lookalike].name);
    cg_refuse(h->why, head_bad(h),
              "%s has a header named \"%s\"; names starting with \"Transfer-Encoding\" "
              "are refused because the HTTP parser takes them for Transfer-Encoding",
              msg_noun(h), nm);
    return false;
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
    if (!h->idx.count[F_CONTENT_LENGTH])
        return true;
    size_t left = h->idx.count[F_CONTENT_LENGTH];
    for (size_t i = h->idx.first[F_CONTENT_LENGTH]; i < n && left; i++) {
        if (!head_slice_is(hdrs[i].name, "content-length"))
            continue;
        left--;
        cg_slice v = hdrs[i].value;
        char vb[256]; /* the value quoted only when refused */
#define VS cg_http_excerpt(vb, sizeof vb, v)
        if (first) {
            EXCERPT(fs, first->value);
            if (slices_ieq(first->value, v))
                cg_refuse(h->why, head_bad(h),
                          "%s has several Content-Length headers (\"%s\" twice); send exactly one",
                          msg_noun(h), VS);
            else
                cg_refuse(h->why, head_bad(h),
                          "%s has conflicting Content-Length headers (\"%s\" and \"%s\"); "
                          "send exactly one (%s)", msg_noun(h), fs, VS, smuggling(h));
            return false;
        }
        first = &hdrs[i];
        if (v.n == 0) {
            cg_refuse(h->why, head_bad(h), "%s has an empty Content-Length header", msg_noun(h));
            return false;
        }
        uint64_t x = 0;
        for (size_t k = 0; k < v.n; k++) {
            if (!cg_ascii_is_digit(v.p[k])) {
                cg_refuse(h->why, head_bad(h),
                          "%s has an invalid Content-Length \"%s\"; it must be a single decimal number",
                          msg_noun(h), VS);
                return false;
            }
            x = x * 10 + (uint64_t)(v.p[k] - '0');
            if (x > CG_MAX_CONTENT_LENGTH) {
                cg_refuse(h->why, head_bad(h), "%s has a Content-Length \"%s\" larger than %llu",
                          msg_noun(h), VS, (unsigned long long)CG_MAX_CONTENT_LENGTH);
                return false;
            }
        }
        if (!no_trailing_tab(h, &hdrs[i]))
            return false;
        *value = x;
        *present = true;
#undef VS
    }
    return true;
}

/* Transfer-Encoding: exactly one header whose value is exactly "chunked".
 * Returns false with a refusal; *present tells whether there was one. */
static bool check_transfer_encoding(const head_ctx *h, const cg_http_header *hdrs, int version_minor,
                                    bool *present)
{
    size_t count = h->idx.count[F_TRANSFER_ENCODING];
    *present = count > 0;
    if (!count)
        return true;
    const cg_http_header *te = &hdrs[h->idx.first[F_TRANSFER_ENCODING]];
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
    while (cg_http_next_list_token(&rest, &tok)) {
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
        while (cg_http_next_list_token(&rest, &tok))
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

/* CG_CONNECTION_* of the message: its Connection fields' tokens, once. */
static unsigned connection_tokens(const head_ctx *h, const cg_http_header *hdrs, size_t n)
{
    size_t left = h->idx.count[F_CONNECTION];
    if (!left)
        return 0;
    unsigned bits = CG_CONNECTION_FIELD;
    for (size_t i = h->idx.first[F_CONNECTION]; i < n && left; i++) {
        if (!head_slice_is(hdrs[i].name, "connection"))
            continue;
        left--;
        cg_slice rest = hdrs[i].value, tok;
        /* the usual value is one of the two: then it is the one token */
        if (head_slice_is(rest, "keep-alive")) {
            bits |= CG_CONNECTION_KEEP_ALIVE;
            continue;
        }
        if (head_slice_is(rest, "close")) {
            bits |= CG_CONNECTION_CLOSE;
            continue;
        }
        while (cg_http_next_list_token(&rest, &tok))
            bits |= head_slice_is(tok, "close")        ? CG_CONNECTION_CLOSE
                    : head_slice_is(tok, "keep-alive") ? CG_CONNECTION_KEEP_ALIVE
                                                       : CG_CONNECTION_OTHER;
    }
    return bits;
}

/* keep-alive per RFC 9112 9.3, from our own reading of Connection. */
static bool wants_keep_alive(unsigned connection, int version_minor)
{
    if (connection & CG_CONNECTION_CLOSE)
        return false;
    return version_minor >= 1 || (connection & CG_CONNECTION_KEEP_ALIVE);
}

/* ------------------------------------------------------------------------ */
/* requests                                                                 */

static bool known_method(cg_slice m)
{
    /* lengths known at compile time: most entries cost one comparison */
    static const struct {
        const char *name;
        size_t n;
    } methods[] = {
#define XX(num, name, string) { #string, sizeof #string - 1 },
        HTTP_METHOD_MAP(XX)
#undef XX
    };
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (methods[i].n != m.n)
            continue;
        size_t k = 0;
        while (k < m.n && methods[i].name[k] == m.p[k])
            k++;
        if (k == m.n)
            return true;
    }
    return false;
}

/* The usual request line, "METHOD /target HTTP/1.x" with a known method
 * other than CONNECT and a target of visible ASCII without '#', read in
 * one walk: true with req's method, target, path and version filled. Any
 * other line is left to parse_request_line's rules, which refuse it or
 * read it the same way. */
static inline bool usual_request_line(cg_slice line, cg_http_request *req)
{
    size_t k = 0;
    while (k < line.n && is_tchar((unsigned char)line.p[k]))
        k++;
    /* at least " / HTTP/1.x" after the method */
    if (k == 0 || line.n < k + 11 || line.p[k] != ' ' || line.p[k + 1] != '/')
        return false;
    size_t t = k + 1, q = 0, e = t;
    for (; line.p[e] != ' '; e++) { /* stops at the version's SP at the latest */
        unsigned char c = (unsigned char)line.p[e];
        if (c <= 0x20 || c >= 0x7f || c == '#')
            return false;
        if (c == '?' && !q)
            q = e;
    }
    cg_slice method = slice(line.p, k);
    if (line.n - e != 9 || memcmp(line.p + e + 1, "HTTP/1.", 7) != 0 || (line.p[e + 8] != '0' && line.p[e + 8] != '1') ||
        cg_slice_ieq(method, "CONNECT") || !known_method(method))
        return false;
    req->method = method;
    req->target = slice(line.p + t, e - t);
    req->path = slice(line.p + t, (q ? q : e) - t);
    req->version_minor = line.p[e + 8] - '0';
    return true;
}

static bool parse_request_line(const head_ctx *h, cg_slice line, cg_http_request *req)
{
    if (usual_request_line(line, req))
        return true;
    /* Client bytes quoted only when refused: excerpts cost more than the
     * checks on the way of every request. */
    char xb[256];
#define LINE_EXCERPT() cg_http_excerpt_no_query(xb, sizeof xb, line)
#define TARGET_EXCERPT() cg_http_excerpt_no_query(xb, sizeof xb, t)
    const char *sp1 = memchr(line.p, ' ', line.n);
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line.p + line.n - sp1 - 1)) : NULL;
    const char *sp3 = sp2 ? memchr(sp2 + 1, ' ', (size_t)(line.p + line.n - sp2 - 1)) : NULL;
    if (!sp2 || sp3 || sp1 == line.p || sp2 == sp1 + 1 || sp2 + 1 == line.p + line.n) {
        cg_refuse(h->why, CG_REFUSE_BAD_REQUEST,
                  "request line \"%s\" is not \"METHOD target HTTP/1.1\" with single spaces", LINE_EXCERPT());
        return false;
    }
    req->method = slice(line.p, (size_t)(sp1 - line.p));
    req->target = slice(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    for (size_t i = 0; i < req->method.n; i++) {
        if (!is_tchar((unsigned char)req->method.p[i])) {
            cg_refuse(h->why, CG_REFUSE_BAD_REQUEST, "request line \"%s\" has an invalid method", LINE_EXCERPT());
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
    if (t.n == 1 && t.p[0] == '*') {
        if (!cg_slice_ieq(req->method, "OPTIONS")) {
            cg_refuse(h->why, CG_REFUSE_BAD_REQUEST,
                      "request target \"*\" is only allowed with OPTIONS");
            return false;
        }
    } else if (t.p[0] != '/') {
        cg_refuse(h->why, CG_REFUSE_BAD_REQUEST,
                  "request target \"%s\" is not in origin-form (a path starting with \"/\"); "
                  "absolute URLs are for forward proxies", TARGET_EXCERPT());
        return false;
    }
    for (size_t i = 0; i < t.n; i++) {
        unsigned char c = (unsigned char)t.p[i];
        if (c == '#') {
            cg_refuse(h->why, CG_REFUSE_BAD_REQUEST,
                      "request target \"%s\" contains a fragment (\"#\"), which clients must not send",
                      TARGET_EXCERPT());
            return false;
        }
        if (c < 0x20) {
            /* The head scan lets HTAB through (it is fine in header values);
             * in a target, a server that splits the request line on any
             * whitespace would read another target. */
            cg_refuse(h->why, CG_REFUSE_BAD_REQUEST,
                      "request target \"%s\" contains the control character 0x%02x at offset %zu",
                      TARGET_EXCERPT(), c, i);
            return false;
        }
        if (c >= 0x7f) {
            /* Backends decode raw non-ASCII differently (UTF-8, code
             * pages); routing decisions must not depend on that. */
            cg_refuse(h->why, CG_REFUSE_BAD_REQUEST,
                      "request target \"%s\" contains the byte 0x%02x at offset %zu; "
                      "non-ASCII characters must be percent-encoded", TARGET_EXCERPT(), c, i);
            return false;
        }
    }
    const char *q = memchr(t.p, '?', t.n);
    req->path = slice(t.p, q ? (size_t)(q - t.p) : t.n);
    return true;
#undef LINE_EXCERPT
#undef TARGET_EXCERPT
}

/* Host = uri-host [ ":" port ]; anything else (spaces, "/", "@", ",") is
 * either a spoofing attempt or would be read differently by the backend.
 * The bytes allowed: ALPHA, DIGIT and -._~%!$&'()*+;=:[] (one load a byte:
 * every request's Host is looked at). */
static const unsigned char host_chars[256] = {
    /* 0x00-0x1f */ 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    /*  !"#$%&'()*+,-./ */ 0,1,0,0,1,1,1,1,1,1,1,1,0,1,1,0,
    /* 0123456789:;<=>? */ 1,1,1,1,1,1,1,1,1,1,1,1,0,1,0,0,
    /* @ABCDEFGHIJKLMNO */ 0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    /* PQRSTUVWXYZ[\]^_ */ 1,1,1,1,1,1,1,1,1,1,1,1,0,1,0,1,
    /* `abcdefghijklmno */ 0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,
    /* pqrstuvwxyz{|}~  */ 1,1,1,1,1,1,1,1,1,1,1,0,0,0,1,0,
    /* 0x80-0xff: 0 */
};

static inline bool host_char_ok(unsigned char c) { return host_chars[c]; }

static bool check_host(const head_ctx *h, const cg_http_request *req)
{
    size_t n = h->idx.count[F_HOST];
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
    cg_slice v = req->headers[h->idx.first[F_HOST]].value;
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
    if (!h->idx.count[F_EXPECT])
        return true;
    for (size_t i = h->idx.first[F_EXPECT]; i < req->nheaders; i++) {
        if (!head_slice_is(req->headers[i].name, "expect"))
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
    if (h->idx.count[F_CONTENT_LENGTH] && h->idx.count[F_TRANSFER_ENCODING]) {
        cg_refuse(h->why, CG_REFUSE_BAD_REQUEST,
                  "request has both Content-Length and Transfer-Encoding (request smuggling risk); "
                  "send one of them");
        return false;
    }
    if (!check_te_lookalikes(h, req->headers) ||
        !parse_content_length(h, req->headers, req->nheaders, &has_cl, &cl))
        return false;
    if (!check_transfer_encoding(h, req->headers, req->version_minor, &has_te))
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

/* http-parser refuses a head over HTTP_MAX_HEADER_SIZE (81,920 bytes in
 * Debian's build). It only parses the heads of chunked messages now, but one
 * limit for every head is easier to explain than a limit that depends on the
 * framing, and it keeps what certgate accepts as it was. */
static bool within_parser_limit(const head_ctx *h)
{
    if (h->head_len <= HTTP_MAX_HEADER_SIZE)
        return true;
    cg_refuse(h->why, h->is_response ? CG_REFUSE_BACKEND_BAD_RESPONSE : CG_REFUSE_HEAD_TOO_LARGE,
              "%s head is %zu bytes, over http-parser's built-in limit of %u bytes; "
              "set %s to %u or less", msg_noun(h), h->head_len, (unsigned)HTTP_MAX_HEADER_SIZE,
              h->is_response ? "limits.max_response_head" : "limits.max_request_head",
              (unsigned)HTTP_MAX_HEADER_SIZE);
    return false;
}

static bool head_valid(head_ctx *h, cg_head_scanner *scanned, size_t max_headers)
{
    /* The tokenizer and the writers rely on the byte rules (a stray LF in a
     * value would be a header of its own for the backend), so they must not
     * depend on the caller having scanned exactly these bytes: either the
     * scanner proves it did (the whole of these bytes, just now; the proof
     * is used once), or they are checked again here, without the size
     * limits (the limits add refusals only; too many fields for hdrs is the
     * tokenizer's refusal, with the same words). */
    if (scanned) {
        bool proven = scanned->scanned_head == h->head && scanned->scanned_len == h->head_len &&
                      scanned->scanned_response == h->is_response && h->head_len > 0;
        scanned->scanned_head = NULL;
        scanned->scanned_len = 0;
        if (proven) {
            h->line_end = scanned->line_end;
            h->nline_ends = scanned->nline_ends;
            return true;
        }
    }
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
    return cg_http_parse_request_scanned(p, head, head_len, NULL, hdrs, max_headers, req, why);
}

bool cg_http_parse_request_scanned(http_parser *p, const char *head, size_t head_len, cg_head_scanner *scanned,
                                   cg_http_header *hdrs, size_t max_headers,
                                   cg_http_request *req, cg_refusal *why)
{
    head_ctx h = { .head = head, .head_len = head_len, .is_response = false, .why = why };
    memset(req, 0, sizeof *req);
    req->headers = hdrs;
    http_parser_init(p, HTTP_REQUEST);

    if (!head_valid(&h, scanned, max_headers))
        return false;
    size_t pos = 0;
    cg_slice line = start_line(&h, &pos);
    if (!parse_request_line(&h, line, req) ||
        !tokenize_fields(&h, pos, hdrs, max_headers, &req->nheaders) ||
        !check_host(&h, req) ||
        !check_request_framing(&h, req) ||
        !check_expect(&h, req))
        return false;
    req->connection = connection_tokens(&h, hdrs, req->nheaders);
    req->keep_alive = wants_keep_alive(req->connection, req->version_minor);
    if (!within_parser_limit(&h))
        return false;
    if (req->body != CG_BODY_CHUNKED) {
        req->message_complete =
            req->body == CG_BODY_NONE || (req->body == CG_BODY_LENGTH && req->content_length == 0);
        return true; /* framed by certgate alone (body_framing.h) */
    }

    cg_http_agree a = { .hdrs = hdrs, .n = req->nheaders, .last = CG_AGREE_NONE };
    if (!cg_http_agree_run(p, &a, head, head_len, false, why))
        return false;
    if (a.url.p != req->target.p || a.url.n != req->target.n || p->http_major != 1 ||
        p->http_minor != req->version_minor ||
        !cg_slice_ieq(req->method, http_method_str((enum http_method)p->method))) {
        cg_refuse(why, CG_REFUSE_BAD_REQUEST,
                  "request line is ambiguous: http-parser reads it differently from certgate");
        return false;
    }
    if (!cg_http_agree_framing(p, &a, false, req->body, req->content_length, why))
        return false;
    req->message_complete = a.message_complete;
    return true;
}

/* ------------------------------------------------------------------------ */
/* responses                                                                */

static bool parse_status_line(const head_ctx *h, cg_slice line, cg_http_response *res)
{
    char xb[256]; /* the line quoted only when refused */
    /* HTTP-version SP 3DIGIT SP [reason]; a missing final SP is tolerated
     * (RFC 9112 4: recipients should accept it). */
    if (line.n < 12 || line.p[8] != ' ' || !cg_ascii_is_digit(line.p[9]) || !cg_ascii_is_digit(line.p[10]) ||
        !cg_ascii_is_digit(line.p[11]) || (line.n > 12 && line.p[12] != ' ')) {
        cg_refuse(h->why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                  "backend sent a malformed status line \"%s\"",
                  cg_http_excerpt(xb, sizeof xb, line));
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
    if (h->idx.count[F_CONTENT_LENGTH] && h->idx.count[F_TRANSFER_ENCODING]) {
        cg_refuse(h->why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                  "backend response has both Content-Length and Transfer-Encoding "
                  "(response smuggling risk); it must send one of them");
        return false;
    }
    if (!check_te_lookalikes(h, res->headers) ||
        !parse_content_length(h, res->headers, res->nheaders, &has_cl, &cl))
        return false;
    if (has_cl)
        res->content_length = cl; /* also for HEAD / 304: passed on as sent */
    has_te = h->idx.count[F_TRANSFER_ENCODING] > 0;
    if (!skip && !check_transfer_encoding(h, res->headers, res->version_minor, &has_te))
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
    return cg_http_parse_response_scanned(p, head, head_len, NULL, request_was_head, hdrs, max_headers, res, why);
}

bool cg_http_parse_response_scanned(http_parser *p, const char *head, size_t head_len, cg_head_scanner *scanned,
                                    bool request_was_head, cg_http_header *hdrs, size_t max_headers,
                                    cg_http_response *res, cg_refusal *why)
{
    head_ctx h = { .head = head, .head_len = head_len, .is_response = true, .why = why };
    memset(res, 0, sizeof *res);
    res->headers = hdrs;
    http_parser_init(p, HTTP_RESPONSE);

    if (!head_valid(&h, scanned, max_headers))
        return false;
    size_t pos = 0;
    cg_slice line = start_line(&h, &pos);
    if (!parse_status_line(&h, line, res) ||
        !tokenize_fields(&h, pos, hdrs, max_headers, &res->nheaders) ||
        !check_response_framing(&h, res, request_was_head))
        return false;
    res->connection = connection_tokens(&h, hdrs, res->nheaders);
    res->keep_alive = res->body != CG_BODY_UNTIL_CLOSE && wants_keep_alive(res->connection, res->version_minor);
    if (!within_parser_limit(&h))
        return false;
    if (res->body != CG_BODY_CHUNKED) {
        res->message_complete =
            res->body == CG_BODY_NONE || (res->body == CG_BODY_LENGTH && res->content_length == 0);
        return true; /* framed by certgate alone (body_framing.h) */
    }

    /* http-parser expects a body after a 1xx, 204 or 304 that carries
     * Content-Length or chunked: returning 1 from on_headers_complete is
     * the only way to tell it otherwise (the same as for HEAD). */
    cg_http_agree a = { .hdrs = hdrs, .n = res->nheaders, .last = CG_AGREE_NONE,
                        .skip_body = res->body == CG_BODY_NONE };
    if (!cg_http_agree_run(p, &a, head, head_len, true, why))
        return false;
    if (p->status_code != (unsigned)res->status || p->http_major != 1 ||
        p->http_minor != res->version_minor) {
        cg_refuse(why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                  "backend status line is ambiguous: http-parser reads it differently from certgate");
        return false;
    }
    if (!cg_http_agree_framing(p, &a, true, res->body, res->content_length, why))
        return false;
    res->message_complete = a.message_complete;
    return true;
}
