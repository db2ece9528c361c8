/* HTTP/1.1 head scanning (see http1_scan.h): the byte-level rules of a head,
 * checked as its bytes arrive, before anything parses it. */
#include "http1_scan.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* One bit (the high one) per byte of the word x, little-endian, that is
 * below 0x20 or is 0x7f: x - 0x20 and (x ^ 0x7f) - 1 set the high bit of
 * such a byte, ~x keeps only bytes below 0x80. Exact up to the first byte
 * flagged: above it a borrow may flag a plain byte too (a space after a
 * control character), so the caller looks at the byte it is pointed to. */
static inline uint64_t odd_bytes(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    return ((x - 0x20 * ones) | ((x ^ (0x7f * ones)) - ones)) & ~x & highs;
}

static inline uint64_t load_word(const char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

/* The first byte of buf[i..stop) that may need a rule (CR, LF, another
 * control character, 0x7f; now and then a plain byte, see odd_bytes), or
 * stop: sixteen bytes at a time (a GCC/Clang vector: SSE2 or NEON compares,
 * exact per byte), then eight as a word, and the last few as the last word
 * before stop (overlapping bytes already passed) rather than one by one.
 * Inlined by force: a call per line costs more than the search. */
static inline __attribute__((always_inline)) size_t next_odd(const char *buf, size_t i, size_t stop)
{
    typedef unsigned char v16 __attribute__((vector_size(16)));
    while (stop - i >= 16) {
        v16 v, odd;
        uint64_t m[2];
        memcpy(&v, buf + i, 16);
        odd = (v16)((v < 0x20) | (v == 0x7f));
        memcpy(m, &odd, 16);
        if (m[0])
            return i + ((size_t)__builtin_ctzll(m[0]) >> 3);
        if (m[1])
            return i + 8 + ((size_t)__builtin_ctzll(m[1]) >> 3);
        i += 16;
    }
    if (stop - i >= 8) {
        uint64_t m = odd_bytes(load_word(buf + i));
        if (m)
            return i + ((size_t)__builtin_ctzll(m) >> 3);
        i += 8;
    }
    if (i == stop)
        return stop;
    if (stop >= 8) {
        /* bytes stop-8 .. i-1 were passed already: their bits cleared */
        uint64_t m = odd_bytes(load_word(buf + stop - 8)) & (~(uint64_t)0 << (8 * (8 - (stop - i))));
        return m ? stop - 8 + ((size_t)__builtin_ctzll(m) >> 3) : stop;
    }
    while (i < stop && plain_byte((unsigned char)buf[i]))
        i++;
    return i;
}
#else
static inline __attribute__((always_inline)) size_t next_odd(const char *buf, size_t i, size_t stop)
{
    while (i < stop && plain_byte((unsigned char)buf[i]))
        i++;
    return i;
}
#endif

/* The rules of a field line's first byte (c, not CR): no obs-fold, and no
 * more than max_headers fields before it. Inline, once per line; the
 * refusal is field_line_refused. */
static inline bool field_line_ok(const cg_http_limits *lim, unsigned char c, size_t nheaders)
{
    return c != ' ' && c != '\t' && nheaders != lim->max_headers;
}

static cg_head_scan field_line_refused(const scan_ctx *s, unsigned char c, unsigned line_no)
{
    if (c == ' ' || c == '\t')
        cg_refuse(s->why, bad_kind(s),
                  "obs-fold (a header line starting with whitespace) at line %u of the %s "
                  "is not allowed; send each field on one line", line_no, head_noun(s));
    else if (s->is_response)
        cg_refuse(s->why, CG_REFUSE_BACKEND_BAD_RESPONSE,
                  "backend response has more than %zu header fields", s->lim->max_headers);
    else
        cg_refuse(s->why, CG_REFUSE_HEAD_TOO_LARGE,
                  "request has more than %zu header fields (limits.max_headers)", s->lim->max_headers);
    return CG_HEAD_INVALID;
}

/* The end of a line at k, recorded for the parse (see cg_head_scanner):
 * lines complete in order, so the recorded ones are the first ones. */
static inline void record_line_end(cg_head_scanner *st, size_t k)
{
    if (st->nline_ends < CG_HEAD_LINE_ENDS && k <= UINT16_MAX)
        st->line_end[st->nline_ends++] = (uint16_t)k;
}

#if defined(__SSE2__)
/* Sixty-four bytes at p as bit masks, bit j for p[j]: odd, the bytes that
 * may need a rule (below 0x20, 0x7f, and here also 0x80 and above: p[j] + 1
 * below 0x21 as a signed byte; CR and LF included), and cr, the CRs among
 * them. HTAB and bytes above 0x7f are plain, but rare in a head: they stop
 * the steps, and the byte-wise loop takes them. */
static inline void block_masks(const char *p, uint64_t *odd, uint64_t *cr)
{
    const __m128i one = _mm_set1_epi8(1), limit = _mm_set1_epi8(0x21), vcr = _mm_set1_epi8('\r');
    uint64_t o = 0, r = 0;
#pragma GCC unroll 4
    for (unsigned k = 0; k < 4; k++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
        __m128i bad = _mm_cmpgt_epi8(limit, _mm_add_epi8(v, one));
        o |= (uint64_t)(unsigned)_mm_movemask_epi8(bad) << (16 * k);
        r |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vcr)) << (16 * k);
    }
    *odd = o;
    *cr = r;
}

/* block_masks for buf[i..end), at most 64 bytes of it, bit 0 for buf[i];
 * bits past end are clear. Returns how many bytes the masks cover. Never
 * reads outside buf[0..end), which is 64 bytes or more: a short rest is
 * the last 64 bytes before end, shifted. */
static inline size_t scan_block(const char *buf, size_t i, size_t end, uint64_t *odd, uint64_t *cr)
{
    size_t n = end - i;
    if (n >= 64) {
        block_masks(buf + i, odd, cr);
        return 64;
    }
    block_masks(buf + end - 64, odd, cr);
    *odd >>= 64 - n;
    *cr >>= 64 - n;
    return n;
}

/* The usual head, 64 bytes a step: while each step's only odd bytes are
 * CRs each followed by an LF, every CR ends a line, and the line rules are
 * checked there. Anything else (another odd byte, a CR whose LF has not
 * arrived, a rule broken) stops it where the byte-wise loop of
 * cg_http_scan_head_more can take over with the same state and finds the
 * same refusal: *i, *line_start and *line_no are always such a state.
 * Returns true with *head_len when the head is complete. */
static inline bool scan_usual_lines(cg_head_scanner *st, const char *buf, size_t end, const cg_http_limits *lim,
                                    size_t *i_io, size_t *line_start_io, unsigned *line_no_io, size_t *head_len)
{
    size_t i = *i_io, line_start = *line_start_io;
    unsigned line_no = *line_no_io;
    const size_t max_line = lim->max_line;
    /* field_line_ok's count, as a line number: line_no - 2 fields before it */
    const size_t full = lim->max_headers + 2;
    unsigned nends = st->nline_ends;
    bool complete = false;
    if (end < 64) /* fewer bytes than a step: the byte-wise loop */
        return false;
    if (i < end && i == line_start && line_no > 1 && buf[i] != '\r' &&
        !field_line_ok(lim, (unsigned char)buf[i], line_no - 2))
        return false; /* a field line whose first byte had not arrived */
    while (i < end) {
        uint64_t odd, cr;
        size_t n = scan_block(buf, i, end, &odd, &cr);
        if (n == 64 && cr >> 63) { /* its LF is in the next step */
            n = 63;
            odd &= ~(uint64_t)0 >> 1;
            cr &= ~(uint64_t)0 >> 1;
        }
        /* The first byte where an odd byte that is not a CR does not follow
         * a CR, or a CR is not followed by an odd byte (whether that is an
         * LF is asked line by line): the lines that end before it are
         * taken (a body may follow the head in the same step), then the
         * loop below takes over from the line it is in. */
        uint64_t off = (odd & ~cr) ^ (cr << 1);
        if (off) {
            cr &= (((uint64_t)1 << __builtin_ctzll(off)) - 1) >> 1;
            n = 0;
        }
        for (; cr; cr &= cr - 1) {
            size_t k = i + (size_t)__builtin_ctzll(cr);
            if (buf[k + 1] != '\n' || k - line_start > max_line) {
                i = k;
                goto stop;
            }
            if (k == line_start) {
                if (line_no == 1) {
                    i = k;
                    goto stop;
                }
                *head_len = k + 2;
                complete = true;
                goto stop;
            }
            if (nends < CG_HEAD_LINE_ENDS && k <= UINT16_MAX) /* as record_line_end */
                st->line_end[nends++] = (uint16_t)k;
            line_no++;
            line_start = k + 2;
            if (line_start < end) {
                unsigned char c = (unsigned char)buf[line_start];
                if (c == ' ' || c == '\t' || (c != '\r' && line_no == full)) {
                    i = line_start;
                    goto stop;
                }
            }
        }
        if (!n) { /* stopped at the first odd byte left */
            i = line_start > i ? line_start : i;
            break;
        }
        i += n;
    }
stop:
    st->nline_ends = (uint16_t)nends;
    *i_io = i;
    *line_start_io = line_start;
    *line_no_io = line_no;
    return complete;
}
#endif

cg_head_scan cg_http_scan_head(const char *buf, size_t len, const cg_http_limits *lim,
                               bool is_response, size_t *head_len, cg_refusal *why)
{
    cg_head_scanner st = CG_HEAD_SCANNER_INIT;
    return cg_http_scan_head_more(&st, buf, len, lim, is_response, head_len, why);
}

/* One line at a time: the next byte that needs a rule (next_odd), which is
 * most often the CR that ends the line, then that line's end and the first
 * byte of the next. What a byte-at-a-time scan would refuse first is what
 * is refused: the bytes before k are plain, so a line over max_line is over
 * it before k. */
cg_head_scan cg_http_scan_head_more(cg_head_scanner *st, const char *buf, size_t len, const cg_http_limits *lim,
                                    bool is_response, size_t *head_len, cg_refusal *why)
{
    scan_ctx s = { buf, len, lim, is_response, why };
    size_t end = len < lim->max_head ? len : lim->max_head;
    size_t line_start = st->line_start;
    unsigned line_no = st->line_no ? st->line_no : 1;
    size_t i = st->pos;
    /* Every line after the start line is a field line until the empty one:
     * the fields before line line_no (> 1) are line_no - 2. */

#if defined(__SSE2__)
    if (scan_usual_lines(st, buf, end, lim, &i, &line_start, &line_no, head_len)) {
        st->scanned_head = buf;
        st->scanned_len = *head_len;
        st->scanned_response = is_response;
        return CG_HEAD_COMPLETE;
    }
    if (i == end && end - line_start > lim->max_line) /* as the loop below would find */
        return scan_line_too_long(&s, line_start, line_no);
#endif
    /* a field line whose first byte had not arrived at the previous call,
     * or that stopped scan_usual_lines */
    if (i < end && i == line_start && line_no > 1 && buf[i] != '\r' &&
        !field_line_ok(lim, (unsigned char)buf[i], line_no - 2))
        return field_line_refused(&s, (unsigned char)buf[i], line_no);
    while (i < end) {
        size_t k = next_odd(buf, i, end);
        while (k < end && buf[k] != '\r' && plain_byte((unsigned char)buf[k])) /* HTAB, or flagged by a borrow */
            k = next_odd(buf, k + 1, end);
        if (k - line_start > lim->max_line)
            return scan_line_too_long(&s, line_start, line_no);
        if (k == end) {
            i = end;
            break;
        }
        if (buf[k] != '\r')
            return scan_invalid_char(&s, k, line_start, line_no);
        if (k + 1 >= end) { /* nothing after this CR may be looked at yet */
            if (k + 1 == len) { /* the LF may still come, if it fits: look at this CR again then */
                if (k + 2 > lim->max_head)
                    return scan_too_large(&s);
                i = k;
                break;
            }
            if (buf[k + 1] != '\n')
                return scan_invalid_char(&s, k, line_start, line_no);
            return scan_too_large(&s); /* the LF is past max_head */
        }
        if (buf[k + 1] != '\n')
            return scan_invalid_char(&s, k, line_start, line_no);
        if (k == line_start) {
            if (line_no == 1) {
                cg_refuse(why, bad_kind(&s), "the %s starts with an empty line; expected a %s",
                          head_noun(&s), is_response ? "status line" : "request line");
                return CG_HEAD_INVALID;
            }
            *head_len = k + 2;
            st->scanned_head = buf;
            st->scanned_len = k + 2;
            st->scanned_response = is_response;
            return CG_HEAD_COMPLETE;
        }
        record_line_end(st, k);
        line_no++;
        i = line_start = k + 2;
        if (i < end && buf[i] != '\r' && !field_line_ok(lim, (unsigned char)buf[i], line_no - 2))
            return field_line_refused(&s, (unsigned char)buf[i], line_no);
    }

    st->pos = i;
    st->line_start = line_start;
    st->nheaders = line_no > 1 ? line_no - 2 : 0;
    st->line_no = line_no;
    if (i < end) /* stopped at a CR that ends the bytes so far */
        return CG_HEAD_INCOMPLETE;
    /* max_head bytes seen and no end of head among them. */
    if (end < len || end == lim->max_head)
        return scan_too_large(&s);
    return CG_HEAD_INCOMPLETE;
}
