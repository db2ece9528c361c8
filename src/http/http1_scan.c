/* HTTP/1.1 head scanning (see http1_scan.h): the byte-level rules of a head,
 * checked as its bytes arrive, before anything parses it. */
#include "http1_scan.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"

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
        char name[256];
        cg_http_excerpt(name, sizeof name, (cg_slice){ p, colon ? (size_t)(colon - p) : 0 });
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

/* A byte allowed anywhere in a line: not CR or LF, no control character but HTAB. */
static inline bool plain_byte(unsigned char c) { return c >= 0x20 ? c != 0x7f : c == '\t'; }

/* Where the plain bytes from i on end (at stop at the latest): eight at a
 * time while none is below 0x20 or 0x7f (the word tests are exact about
 * whether such a byte is there, not which: HTAB, plain but below 0x20, and
 * the word's other bytes are then looked at one by one). */
static inline size_t plain_run(const char *buf, size_t i, size_t stop)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    while (i < stop && stop - i >= 8) {
        uint64_t x, y;
        memcpy(&x, buf + i, 8);
        y = x ^ (0x7f * ones);
        if (((x - 0x20 * ones) & ~x & highs) | ((y - ones) & ~y & highs))
            break;
        i += 8;
    }
    while (i < stop && plain_byte((unsigned char)buf[i]))
        i++;
    return i;
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
        /* Inside a line, bytes that need none of the checks below (neither
         * CR, LF nor a control character, and within max_line) are passed
         * over in a tight loop: every head goes through here twice. */
        if (i != line_start || line_no == 1) {
            size_t stop = lim->max_line <= end - line_start ? line_start + lim->max_line : end;
            i = plain_run(buf, i, stop);
            if (i == end)
                break;
        }
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
                st->scanned_head = buf;
                st->scanned_len = i + 1;
                st->scanned_response = is_response;
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
