/* Differential test of the head scanner (http1_scan.c) against a reference
 * written here: one byte at a time, each rule of http1_scan.h in the order
 * the bytes arrive, nothing skipped. The scanner's fast paths (words of
 * bytes, line ends found ahead) must give the same verdict, head length and
 * refusal (kind and sentence, line and column included) on:
 *   - random heads over a small alphabet rich in the bytes the rules are
 *     about (CR, LF, HTAB, SP, ':', NUL, 0x1f, 0x7f, 0x80, 0xff, letters);
 *   - mutations of real request and response heads;
 *   - every split of each head into two pieces, and many into three, fed to
 *     cg_http_scan_head_more (each prefix is compared with the reference
 *     on that prefix).
 * Limits are drawn small so that max_head, max_line and max_headers are hit
 * at every position. The seed is fixed: a failure repeats. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http1_scan.h"

typedef struct verdict {
    cg_head_scan r;
    size_t head_len;
    cg_refusal why;
    size_t line_end[CG_HEAD_LINE_ENDS + 1]; /* where the first lines end (their CR) */
    size_t lines;                           /* lines completed, all counted */
} verdict;

/* ------------------------------------------------------------------------ */
/* the reference                                                            */

static cg_head_scan ref_refuse(verdict *v, cg_refusal_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cg_head_scan ref_refuse(verdict *v, cg_refusal_kind kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    v->why.kind = kind;
    vsnprintf(v->why.detail, sizeof v->why.detail, fmt, ap);
    va_end(ap);
    return v->r = CG_HEAD_INVALID;
}

static cg_head_scan ref_too_large(verdict *v, const cg_http_limits *lim, bool resp)
{
    if (resp)
        return ref_refuse(v, CG_REFUSE_BACKEND_BAD_RESPONSE,
                          "backend response head is larger than %zu bytes (limits.max_response_head)",
                          lim->max_head);
    return ref_refuse(v, CG_REFUSE_HEAD_TOO_LARGE, "request head is larger than %zu bytes (limits.max_request_head)",
                      lim->max_head);
}

/* The line starting at b + start is longer than max_line: its length when
 * its end is among the bytes given, else "longer than". */
static cg_head_scan ref_too_long(verdict *v, const unsigned char *b, size_t len, size_t start, unsigned line,
                                 const cg_http_limits *lim, bool resp)
{
    size_t n = 0;
    bool known = false;
    for (size_t k = start; k < len; k++) {
        if (b[k] == '\r' || b[k] == '\n') {
            known = true;
            break;
        }
        n++;
    }
    char what[96];
    if (line == 1) {
        snprintf(what, sizeof what, "%s", resp ? "status line" : "request line");
    } else {
        size_t colon = SIZE_MAX;
        for (size_t k = 0; k < n && k < 40; k++)
            if (b[start + k] == ':') {
                colon = k;
                break;
            }
        if (colon == SIZE_MAX) {
            snprintf(what, sizeof what, "header line %u", line);
        } else {
            char name[256];
            cg_http_excerpt(name, sizeof name, (cg_slice){ (const char *)b + start, colon });
            snprintf(what, sizeof what, "header line %u (\"%.40s\")", line, name);
        }
    }
    cg_refusal_kind kind = resp ? CG_REFUSE_BACKEND_BAD_RESPONSE : CG_REFUSE_HEAD_TOO_LARGE;
    const char *who = resp ? "backend response " : "", *setting = resp ? "" : " (limits.max_header_line)";
    if (known)
        return ref_refuse(v, kind, "%s%s is %zu bytes, over the limit of %zu%s", who, what, n, lim->max_line,
                          setting);
    return ref_refuse(v, kind, "%s%s is longer than the limit of %zu bytes%s", who, what, lim->max_line, setting);
}

static verdict reference(const unsigned char *b, size_t len, const cg_http_limits *lim, bool resp)
{
    verdict v = { .r = CG_HEAD_INCOMPLETE };
    const char *noun = resp ? "backend response head" : "request head";
    cg_refusal_kind bad = resp ? CG_REFUSE_BACKEND_BAD_RESPONSE : CG_REFUSE_BAD_REQUEST;
    size_t line_start = 0, fields = 0;
    unsigned line = 1;
    for (size_t i = 0;; i++) {
        if (i >= lim->max_head) {
            ref_too_large(&v, lim, resp);
            return v;
        }
        if (i == len)
            return v; /* incomplete */
        unsigned char c = b[i];
        size_t col = i - line_start + 1;
        if (i == line_start && line > 1 && c != '\r') {
            if (c == ' ' || c == '\t') {
                ref_refuse(&v, bad,
                           "obs-fold (a header line starting with whitespace) at line %u of the %s "
                           "is not allowed; send each field on one line", line, noun);
                return v;
            }
            if (fields == lim->max_headers) {
                if (resp)
                    ref_refuse(&v, CG_REFUSE_BACKEND_BAD_RESPONSE, "backend response has more than %zu header fields",
                               lim->max_headers);
                else
                    ref_refuse(&v, CG_REFUSE_HEAD_TOO_LARGE,
                               "request has more than %zu header fields (limits.max_headers)", lim->max_headers);
                return v;
            }
        }
        if (c == '\r') {
            if (i + 1 == len) { /* its LF may still come, if it fits */
                if (i + 2 > lim->max_head)
                    ref_too_large(&v, lim, resp);
                return v;
            }
            if (b[i + 1] != '\n') {
                ref_refuse(&v, bad,
                           "bare CR (not followed by LF) at line %u, column %zu of the %s; "
                           "lines must end with CRLF", line, col, noun);
                return v;
            }
            if (i + 1 >= lim->max_head) { /* the LF is one byte too many */
                ref_too_large(&v, lim, resp);
                return v;
            }
            if (i == line_start) {
                if (line == 1) {
                    ref_refuse(&v, bad, "the %s starts with an empty line; expected a %s", noun,
                               resp ? "status line" : "request line");
                    return v;
                }
                v.r = CG_HEAD_COMPLETE;
                v.head_len = i + 2;
                return v;
            }
            if (v.lines < sizeof v.line_end / sizeof v.line_end[0])
                v.line_end[v.lines] = i;
            v.lines++;
            if (line > 1)
                fields++;
            line++;
            line_start = i + 2;
            i++; /* the LF */
            continue;
        }
        if (c == '\n') { /* an LF after a CR was taken with the CR */
            ref_refuse(&v, bad,
                       "bare LF (a line ending without CR) at line %u, column %zu of the %s; "
                       "lines must end with CRLF", line, col, noun);
            return v;
        }
        if (c == 0) {
            ref_refuse(&v, bad, "NUL byte at line %u, column %zu of the %s", line, col, noun);
            return v;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            ref_refuse(&v, bad, "control character 0x%02x at line %u, column %zu of the %s is not allowed", c, line,
                       col, noun);
            return v;
        }
        if (col > lim->max_line) {
            ref_too_long(&v, b, len, line_start, line, lim, resp);
            return v;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* comparison                                                               */

static unsigned long checked, splits_checked;

static void dump(const char *what, const unsigned char *b, size_t len)
{
    fprintf(stderr, "%s (%zu bytes):", what, len);
    for (size_t k = 0; k < len; k++)
        fprintf(stderr, " %02x", b[k]);
    fprintf(stderr, "\n");
}

static void expect_same(const verdict *want, cg_head_scan r, size_t head_len, const cg_refusal *why,
                        const unsigned char *b, size_t len, const cg_http_limits *lim, bool resp, const char *how)
{
    bool same = want->r == r;
    if (same && r == CG_HEAD_COMPLETE)
        same = want->head_len == head_len;
    if (same && r == CG_HEAD_INVALID)
        same = want->why.kind == why->kind && strcmp(want->why.detail, why->detail) == 0;
    if (same)
        return;
    dump(how, b, len);
    print_error("%s (limits head %zu line %zu headers %zu, %s): reference %d/%zu/%d \"%s\", scanner %d/%zu/%d \"%s\"\n",
                how, lim->max_head, lim->max_line, lim->max_headers, resp ? "response" : "request", want->r,
                want->head_len, want->why.kind, want->why.detail, r, head_len, why->kind, why->detail);
    fail();
}

/* The line ends a scanner that completed a head recorded for the parse,
 * which trusts them: each must be where the reference found that line's
 * CR, and as many as fit (the first CG_HEAD_LINE_ENDS, below 65536). */
static void expect_line_ends(const verdict *want, const cg_head_scanner *st, const unsigned char *b, size_t len,
                             const char *how)
{
    size_t n = 0;
    while (n < want->lines && n < CG_HEAD_LINE_ENDS && want->line_end[n] <= UINT16_MAX)
        n++;
    bool same = st->nline_ends == n;
    for (size_t j = 0; same && j < n; j++)
        same = st->line_end[j] == want->line_end[j];
    if (same)
        return;
    dump(how, b, len);
    print_error("%s: the scanner recorded %u line ends, the reference %zu of %zu lines\n", how,
                (unsigned)st->nline_ends, n, want->lines);
    for (size_t j = 0; j < st->nline_ends || j < n; j++)
        print_error("  line %zu: scanner %ld, reference %ld\n", j + 1,
                    j < st->nline_ends ? (long)st->line_end[j] : -1L, j < n ? (long)want->line_end[j] : -1L);
    fail();
}

/* Feeds b[0..len) in pieces ending at cut[0] < cut[1] < ... < cut[ncut-1]
 * == len, comparing each answer with the reference on that prefix, until
 * the first answer other than INCOMPLETE. */
static void check_pieces(const unsigned char *b, const size_t *cut, size_t ncut, const cg_http_limits *lim, bool resp)
{
    cg_head_scanner st = CG_HEAD_SCANNER_INIT;
    for (size_t k = 0; k < ncut; k++) {
        verdict want = reference(b, cut[k], lim, resp);
        size_t head_len = 0;
        cg_refusal why = { 0 };
        cg_head_scan r = cg_http_scan_head_more(&st, (const char *)b, cut[k], lim, resp, &head_len, &why);
        expect_same(&want, r, head_len, &why, b, cut[k], lim, resp, ncut == 2 ? "two pieces" : "three pieces");
        if (r == CG_HEAD_COMPLETE && (st.scanned_head != (const char *)b || st.scanned_len != head_len ||
                                      st.scanned_response != resp)) {
            print_error("scan proof does not name the head it completed\n");
            fail();
        }
        if (r == CG_HEAD_COMPLETE)
            expect_line_ends(&want, &st, b, cut[k], ncut == 2 ? "two pieces" : "three pieces");
        if (r != CG_HEAD_INCOMPLETE)
            break;
    }
    splits_checked++;
}

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static size_t below(size_t n) { return n ? next_rand() % n : 0; }

/* Every check for one head under one set of limits: at once, every split
 * in two, and `threes` random splits in three (every one when the head is
 * short). */
static void check_head(const unsigned char *b, size_t len, const cg_http_limits *lim, bool resp, size_t threes)
{
    verdict want = reference(b, len, lim, resp);
    size_t head_len = 0;
    cg_refusal why = { 0 };
    cg_head_scan r = cg_http_scan_head((const char *)b, len, lim, resp, &head_len, &why);
    expect_same(&want, r, head_len, &why, b, len, lim, resp, "at once");
    cg_head_scanner st = CG_HEAD_SCANNER_INIT;
    if (cg_http_scan_head_more(&st, (const char *)b, len, lim, resp, &head_len, &why) == CG_HEAD_COMPLETE)
        expect_line_ends(&want, &st, b, len, "at once");
    checked++;

    for (size_t a = 0; a < len; a++) {
        size_t cut[2] = { a, len };
        check_pieces(b, cut, 2, lim, resp);
    }
    if (len < 2)
        return;
    if (len <= 40) {
        for (size_t a = 1; a < len; a++)
            for (size_t c = a + 1; c < len; c++) {
                size_t cut[3] = { a, c, len };
                check_pieces(b, cut, 3, lim, resp);
            }
        return;
    }
    for (size_t t = 0; t < threes; t++) {
        size_t a = 1 + below(len - 1), c = 1 + below(len - 1);
        if (a == c)
            continue;
        size_t cut[3] = { a < c ? a : c, a < c ? c : a, len };
        check_pieces(b, cut, 3, lim, resp);
    }
}

/* Limits small enough to be reached anywhere in len bytes, or roomy. */
static cg_http_limits draw_limits(size_t len)
{
    cg_http_limits lim = { 8192, 4096, 100 };
    switch (below(4)) {
    case 0:
        break;
    case 1:
        lim.max_head = 1 + below(len + 4);
        break;
    case 2:
        lim.max_line = below(40);
        break;
    default:
        lim.max_head = 1 + below(len + 4);
        lim.max_line = below(60);
        lim.max_headers = below(6);
        break;
    }
    if (below(3) == 0)
        lim.max_headers = below(4);
    return lim;
}

/* ------------------------------------------------------------------------ */
/* the cases                                                                */

static const unsigned char alphabet[] = { '\r', '\n', '\t', ' ', ':', 0x00, 0x1f, 0x7f, 0x80, 0xff,
                                          'a', 'Z', '0', '/', '-', 0x20, 0x21, 0x7e, 0x08, 0x0b };

/* A random byte: mostly letters, often CR LF pairs, now and then anything. */
static size_t random_bytes(unsigned char *b, size_t cap)
{
    size_t len = below(cap + 1), k = 0;
    while (k < len) {
        unsigned roll = below(16);
        if (roll < 6) {
            b[k++] = (unsigned char)('a' + below(26));
        } else if (roll < 9 && k + 2 <= len) {
            b[k++] = '\r';
            b[k++] = '\n';
        } else if (roll < 15) {
            b[k++] = alphabet[below(sizeof alphabet)];
        } else {
            b[k++] = (unsigned char)below(256);
        }
    }
    return len;
}

static void test_random_heads(void **state)
{
    (void)state;
    unsigned char b[200];
    for (int n = 0; n < 6000; n++) {
        size_t len = random_bytes(b, n % 3 == 0 ? 24 : sizeof b);
        /* a start line and an end of head now and then, so that heads also
         * get far enough to complete */
        if (n % 4 == 1 && len > 12) {
            memcpy(b, "GET / HTTP/1.1\r\n", len > 16 ? 16 : len);
            memcpy(b + len - 4, "\r\n\r\n", 4);
        }
        cg_http_limits lim = draw_limits(len);
        check_head(b, len, &lim, n & 1, 8);
    }
}

static const char *const real_heads[] = {
    "GET /index.html?a=1&b=2 HTTP/1.1\r\nHost: app.example.test\r\nUser-Agent: curl/8.5.0\r\n"
    "Accept: */*\r\nConnection: keep-alive\r\nX-Request-Id: 2f0c61f4-6f1e-4a5a\r\n\r\n",
    "POST /api/v1/items HTTP/1.1\r\nHost: app.example.test:8443\r\nContent-Type: application/json\r\n"
    "Content-Length: 27\r\nAccept-Encoding: gzip, deflate\r\nCookie: s=abc; t=\txyz\r\n\r\n",
    "HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: Sun, 06 Dec 2026 19:00:00 GMT\r\n"
    "Content-Type: text/html\r\nContent-Length: 612\r\nLast-Modified: Tue, 01 Dec 2026 10:00:00 GMT\r\n"
    "Connection: keep-alive\r\nETag: \"6571a2b0-264\"\r\nAccept-Ranges: bytes\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "GET / HTTP/1.0\r\n\r\n",
};

static void test_real_heads_and_mutations(void **state)
{
    (void)state;
    unsigned char b[400];
    for (size_t h = 0; h < sizeof real_heads / sizeof real_heads[0]; h++) {
        size_t n0 = strlen(real_heads[h]);
        bool resp = real_heads[h][0] == 'H';
        cg_http_limits roomy = { 8192, 4096, 100 };
        memcpy(b, real_heads[h], n0);
        check_head(b, n0, &roomy, resp, 200);
        /* every limit at every value it can be reached with */
        for (size_t m = 0; m <= n0 + 1; m++) {
            cg_http_limits lim = { m, 4096, 100 };
            check_head(b, n0, &lim, resp, 0);
        }
        for (size_t m = 0; m <= 80; m++) {
            cg_http_limits lim = { 8192, m, 100 };
            check_head(b, n0, &lim, resp, 0);
        }
        for (size_t m = 0; m <= 10; m++) {
            cg_http_limits lim = { 8192, 4096, m };
            check_head(b, n0, &lim, resp, 0);
        }
        for (int n = 0; n < 600; n++) {
            size_t len = n0;
            memcpy(b, real_heads[h], n0);
            for (size_t k = 0, edits = 1 + below(3); k < edits; k++) {
                size_t at = below(len);
                unsigned char c = below(4) ? alphabet[below(sizeof alphabet)] : (unsigned char)below(256);
                switch (below(3)) {
                case 0: /* replace */
                    if (len)
                        b[at] = c;
                    break;
                case 1: /* insert */
                    if (len < sizeof b) {
                        memmove(b + at + 1, b + at, len - at);
                        b[at] = c;
                        len++;
                    }
                    break;
                default: /* delete */
                    if (len) {
                        memmove(b + at, b + at + 1, len - at - 1);
                        len--;
                    }
                    break;
                }
            }
            cg_http_limits lim = n % 2 ? roomy : draw_limits(len);
            check_head(b, len, &lim, resp, 40);
        }
    }
}

/* Long runs of plain bytes around the word boundaries of the fast paths:
 * one odd byte at each position of lines of every length up to 40 (the
 * 64-byte steps: the real heads and test_many_lines). */
static void test_one_odd_byte(void **state)
{
    (void)state;
    static const unsigned char odd[] = { '\r', '\n', '\t', 0x00, 0x1f, 0x7f, 0x80, 0xff, ' ', 0x7e, 0x20 };
    unsigned char b[128];
    for (size_t linelen = 0; linelen <= 40; linelen++) {
        for (size_t at = 0; at <= linelen; at++) {
            for (size_t o = 0; o < sizeof odd; o++) {
                for (int resp = 0; resp < 2; resp++) {
                    /* a start line, then "X-a: bbbb..." of linelen bytes */
                    size_t len = 0;
                    memcpy(b, "GET / HTTP/1.1\r\n", 16);
                    len = 16;
                    for (size_t k = 0; k < linelen; k++)
                        b[len + k] = k < 4 ? (unsigned char)"X-a:"[k] : (unsigned char)('b' + k % 20);
                    if (at < linelen)
                        b[len + at] = odd[o];
                    len += linelen;
                    memcpy(b + len, "\r\n\r\n", 4);
                    len += 4;
                    cg_http_limits lim = { 8192, 4096, 100 };
                    check_head(b, len, &lim, resp, 20);
                    lim.max_line = linelen > 3 ? linelen - 3 : 0;
                    check_head(b, len, &lim, resp, 0);
                    /* the same bytes as the start line */
                    cg_http_limits lim1 = { 8192, linelen ? linelen - 1 : 0, 100 };
                    check_head(b + 16, len - 16, &lim1, resp, 0);
                }
            }
        }
    }
    print_message("%lu heads, %lu piecewise feeds compared\n", checked, splits_checked);
}

/* More lines than the scanner records, lines ending at every offset
 * around a 64-byte step, and a line ending past 65535 (not recorded, nor
 * any after it). */
static void test_many_lines(void **state)
{
    (void)state;
    static unsigned char b[70000];
    cg_http_limits roomy = { sizeof b, sizeof b, 200 };
    static const size_t counts[] = { 0, 1, 2, 7, CG_HEAD_LINE_ENDS - 2, CG_HEAD_LINE_ENDS - 1, CG_HEAD_LINE_ENDS,
                                     CG_HEAD_LINE_ENDS + 1, CG_HEAD_LINE_ENDS + 8 };
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        size_t fields = counts[c];
        for (size_t pad = 0; pad < 8; pad++) {
            size_t len = 0;
            memcpy(b, "GET / HTTP/1.1\r\n", 16);
            len = 16;
            for (size_t f = 0; f < fields; f++)
                len += (size_t)sprintf((char *)b + len, "X-%zu: %.*s\r\n", f, (int)((f * 7 + pad) % 19), "abcdefghijklmnopqrs");
            memcpy(b + len, "\r\n", 2);
            len += 2;
            check_head(b, len, &roomy, pad & 1, 2);
        }
    }
    size_t len = 0;
    memcpy(b, "HTTP/1.1 200 OK\r\nX-a: ", 22);
    len = 22;
    memset(b + len, 'v', 65600);
    len += 65600;
    memcpy(b + len, "\r\nX-b: 1\r\n\r\n", 12);
    len += 12;
    verdict want = reference(b, len, &roomy, true);
    cg_head_scanner st = CG_HEAD_SCANNER_INIT;
    size_t head_len = 0;
    cg_refusal why = { 0 };
    assert_int_equal(cg_http_scan_head_more(&st, (const char *)b, len, &roomy, true, &head_len, &why),
                     CG_HEAD_COMPLETE);
    assert_int_equal(want.r, CG_HEAD_COMPLETE);
    expect_line_ends(&want, &st, b, 40, "a line past 65535");
    assert_int_equal(st.nline_ends, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_heads),
        cmocka_unit_test(test_real_heads_and_mutations),
        cmocka_unit_test(test_one_odd_byte),
        cmocka_unit_test(test_many_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
