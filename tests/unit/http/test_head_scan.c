/* Unit tests for the resumable head scan (cg_http_scan_head_more): a head
 * fed in pieces, down to one byte at a time, gets the same answer as the
 * same head scanned at once, and each byte is looked at once. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http1_scan.h"

typedef struct result {
    cg_head_scan r;
    size_t head_len;
    cg_refusal why;
    size_t fed; /* bytes given when the answer came */
} result;

static result scan_at_once(const char *buf, size_t len, const cg_http_limits *lim, bool resp)
{
    result out = { 0 };
    out.r = cg_http_scan_head(buf, len, lim, resp, &out.head_len, &out.why);
    out.fed = len;
    return out;
}

/* Feeds growing prefixes in steps of `step` bytes (the last may be
 * shorter); stops at the first answer other than INCOMPLETE. With rescan,
 * every prefix is scanned from byte 0 (what certgate did before). */
static result scan_in_pieces(const char *buf, size_t len, size_t step, bool rescan, const cg_http_limits *lim,
                             bool resp)
{
    result out = { 0 };
    cg_head_scanner st = CG_HEAD_SCANNER_INIT;
    for (size_t have = 0; have < len;) {
        have = have + step < len ? have + step : len;
        memset(&out.why, 0, sizeof out.why);
        if (rescan)
            out.r = cg_http_scan_head(buf, have, lim, resp, &out.head_len, &out.why);
        else
            out.r = cg_http_scan_head_more(&st, buf, have, lim, resp, &out.head_len, &out.why);
        out.fed = have;
        if (out.r != CG_HEAD_INCOMPLETE)
            break;
    }
    return out;
}

static void assert_same(const result *a, const result *b, const char *name)
{
    if (a->r != b->r || a->head_len != b->head_len || a->why.kind != b->why.kind || a->fed != b->fed ||
        strcmp(a->why.detail, b->why.detail) != 0) {
        print_error("%s: %d/%zu/%d after %zu \"%s\" vs %d/%zu/%d after %zu \"%s\"\n", name, a->r, a->head_len,
                    a->why.kind, a->fed, a->why.detail, b->r, b->head_len, b->why.kind, b->fed, b->why.detail);
        fail();
    }
}

typedef struct head_case {
    const char *name;
    const char *bytes; /* literal, CRLF written out */
    bool response;
    cg_head_scan expect; /* at once */
    cg_refusal_kind kind;
} head_case;

static char long_line[700], many_headers[2000], big_head[5000];

static void make_big_cases(void)
{
    int o = snprintf(long_line, sizeof long_line, "GET / HTTP/1.1\r\nX-Long: ");
    memset(long_line + o, 'a', 300);
    strcpy(long_line + o + 300, "\r\n\r\n");
    o = snprintf(many_headers, sizeof many_headers, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 12; i++)
        o += snprintf(many_headers + o, sizeof many_headers - (size_t)o, "X-H%d: v\r\n", i);
    strcpy(many_headers + o, "\r\n");
    o = snprintf(big_head, sizeof big_head, "GET / HTTP/1.1\r\n");
    while (o < 4500)
        o += snprintf(big_head + o, sizeof big_head - (size_t)o, "X-Filler: %0200d\r\n", 7);
    strcpy(big_head + o, "\r\n");
}

static const cg_http_limits lim = { .max_head = 4096, .max_line = 256, .max_headers = 10 };

static void test_pieces_match_at_once(void **state)
{
    (void)state;
    make_big_cases();
    const head_case cases[] = {
        { "simple", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", false, CG_HEAD_COMPLETE, 0 },
        { "body after head", "GET / HTTP/1.1\r\nHost: a\r\n\r\nBODYBYTES", false, CG_HEAD_COMPLETE, 0 },
        { "incomplete", "GET / HTTP/1.1\r\nHost: a\r\n", false, CG_HEAD_INCOMPLETE, 0 },
        { "ends in CR", "GET / HTTP/1.1\r\nHost: a\r\n\r", false, CG_HEAD_INCOMPLETE, 0 },
        { "tab in value", "GET / HTTP/1.1\r\nX: a\tb\r\n\r\n", false, CG_HEAD_COMPLETE, 0 },
        { "obs-fold", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", false, CG_HEAD_INVALID, CG_REFUSE_BAD_REQUEST },
        { "bare LF", "GET / HTTP/1.1\nHost: a\r\n\r\n", false, CG_HEAD_INVALID, CG_REFUSE_BAD_REQUEST },
        { "bare CR", "GET / HTTP/1.1\rHost: a\r\n\r\n", false, CG_HEAD_INVALID, CG_REFUSE_BAD_REQUEST },
        { "NUL", "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", false, CG_HEAD_INVALID, CG_REFUSE_BAD_REQUEST },
        { "DEL", "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", false, CG_HEAD_INVALID, CG_REFUSE_BAD_REQUEST },
        { "empty first line", "\r\nGET / HTTP/1.1\r\n\r\n", false, CG_HEAD_INVALID, CG_REFUSE_BAD_REQUEST },
        { "line too long", long_line, false, CG_HEAD_INVALID, CG_REFUSE_HEAD_TOO_LARGE },
        { "too many headers", many_headers, false, CG_HEAD_INVALID, CG_REFUSE_HEAD_TOO_LARGE },
        { "head too large", big_head, false, CG_HEAD_INVALID, CG_REFUSE_HEAD_TOO_LARGE },
        { "response", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true, CG_HEAD_COMPLETE, 0 },
        { "response bare LF", "HTTP/1.1 200 OK\r\nA: b\n\r\n", true, CG_HEAD_INVALID,
          CG_REFUSE_BACKEND_BAD_RESPONSE },
        { "response obs-fold", "HTTP/1.1 200 OK\r\nA: b\r\n\tc\r\n\r\n", true, CG_HEAD_INVALID,
          CG_REFUSE_BACKEND_BAD_RESPONSE },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const head_case *hc = &cases[i];
        size_t len = strlen(hc->bytes);
        if (strcmp(hc->name, "NUL") == 0)
            len = sizeof "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n" - 1;
        result once = scan_at_once(hc->bytes, len, &lim, hc->response);
        if (once.r != hc->expect || (hc->expect == CG_HEAD_INVALID && once.why.kind != hc->kind)) {
            print_error("%s: at once %d (%s), expected %d\n", hc->name, once.r, once.why.detail, hc->expect);
            fail();
        }
        for (size_t step = 1; step <= 7; step++) {
            result resumed = scan_in_pieces(hc->bytes, len, step, false, &lim, hc->response);
            result rescanned = scan_in_pieces(hc->bytes, len, step, true, &lim, hc->response);
            /* Resuming answers exactly what scanning each prefix from byte 0 answered ... */
            assert_same(&resumed, &rescanned, hc->name);
            /* ... which is what the whole head gets at once: the same verdict,
             * head length and kind of refusal. (A line over the limit is
             * refused as soon as it is, before its end arrives, so that
             * sentence may say "longer than" rather than its length.) */
            assert_int_equal(resumed.r, once.r);
            assert_int_equal(resumed.head_len, once.head_len);
            assert_int_equal(resumed.why.kind, once.why.kind);
        }
    }
}

/* Each byte is scanned once: after every call the scanner's position is at
 * the end of what it was given (but for a CR whose LF has not come), so the
 * next call starts there, not at byte 0. (Time is for bench/abuse.py.) */
static void test_resume_position_is_kept(void **state)
{
    (void)state;
    cg_http_limits big = { .max_head = 65536, .max_line = 65536, .max_headers = 100 };
    static char head[61000];
    int o = snprintf(head, sizeof head, "GET / HTTP/1.1\r\nX: ");
    memset(head + o, 'v', 60000);
    strcpy(head + o + 60000, "\r\n\r\n");
    size_t len = strlen(head);
    cg_head_scanner st = CG_HEAD_SCANNER_INIT;
    size_t hl = 0;
    cg_refusal why;
    for (size_t have = 1; have < len; have++) {
        assert_int_equal(cg_http_scan_head_more(&st, head, have, &big, false, &hl, &why), CG_HEAD_INCOMPLETE);
        /* Everything but a trailing CR is done with. */
        assert_int_equal(st.pos, head[have - 1] == '\r' ? have - 1 : have);
    }
    assert_int_equal(cg_http_scan_head_more(&st, head, len, &big, false, &hl, &why), CG_HEAD_COMPLETE);
    assert_int_equal(hl, len);
}

/* The rules one byte at a time, as the scanner applied them before it
 * passed over plain bytes in a tight loop: verdict, head length and kind of
 * refusal (not its sentence). */
static cg_head_scan reference_scan(const char *buf, size_t len, const cg_http_limits *l, bool resp,
                                   size_t *head_len, cg_refusal_kind *kind)
{
    cg_refusal_kind bad = resp ? CG_REFUSE_BACKEND_BAD_RESPONSE : CG_REFUSE_BAD_REQUEST;
    cg_refusal_kind big = resp ? CG_REFUSE_BACKEND_BAD_RESPONSE : CG_REFUSE_HEAD_TOO_LARGE;
    size_t end = len < l->max_head ? len : l->max_head, line_start = 0, nheaders = 0, i = 0;
    unsigned line_no = 1;
    for (; i < end; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (i == line_start && line_no > 1 && c != '\r') {
            if (c == ' ' || c == '\t')
                return *kind = bad, CG_HEAD_INVALID;
            if (nheaders == l->max_headers)
                return *kind = big, CG_HEAD_INVALID;
        }
        if (c == '\r') {
            if (i + 1 == len) {
                if (i + 2 > l->max_head)
                    return *kind = big, CG_HEAD_INVALID;
                break;
            }
            if (buf[i + 1] != '\n')
                return *kind = bad, CG_HEAD_INVALID;
            continue;
        }
        if (c == '\n') {
            if (i == 0 || buf[i - 1] != '\r')
                return *kind = bad, CG_HEAD_INVALID;
            if (i - 1 == line_start) {
                if (line_no == 1)
                    return *kind = bad, CG_HEAD_INVALID;
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
            return *kind = bad, CG_HEAD_INVALID;
        if (i - line_start + 1 > l->max_line)
            return *kind = big, CG_HEAD_INVALID;
    }
    if (i < end)
        return CG_HEAD_INCOMPLETE;
    if (end < len || end == l->max_head)
        return *kind = big, CG_HEAD_INVALID;
    return CG_HEAD_INCOMPLETE;
}

/* Random heads (mostly plain bytes and CRLFs, some of every byte that
 * matters) under random limits: the scanner, at once and in pieces, gives
 * the reference's answers. */
static void test_matches_byte_by_byte_rules(void **state)
{
    (void)state;
    static const char pool[] = "aaaaaaaaaaaaaaaaaaaaZz09 ::\t\x01\x7f\x80\xff";
    srand(13);
    char buf[200];
    for (int iter = 0; iter < 200000; iter++) {
        size_t len = (size_t)(rand() % 120);
        for (size_t i = 0; i < len; i++) {
            int r = rand() % 100;
            if (r < 12 && i + 1 < len) {
                buf[i++] = '\r';
                buf[i] = '\n';
            } else if (r < 14) {
                buf[i] = r == 12 ? '\r' : '\n';
            } else {
                buf[i] = pool[rand() % (int)(sizeof pool - 1)];
            }
        }
        cg_http_limits l = { .max_head = (size_t)(rand() % 130), .max_line = (size_t)(rand() % 40),
                             .max_headers = (size_t)(rand() % 6) };
        if (rand() % 4 == 0)
            l.max_line = (size_t)-1; /* no line limit to speak of */
        bool resp = rand() % 2;
        size_t want_len = 0, got_len = 0;
        cg_refusal_kind want_kind = 0;
        cg_refusal why = { 0 };
        cg_head_scan want = reference_scan(buf, len, &l, resp, &want_len, &want_kind);
        /* Scanned in a block of exactly len bytes: a read past the head is
         * a fault under ASan (the scanner reads words at a time). */
        char *exact = malloc(len ? len : 1);
        assert_non_null(exact);
        memcpy(exact, buf, len);
        cg_head_scan got = cg_http_scan_head(exact, len, &l, resp, &got_len, &why);
        if (got != want || (want == CG_HEAD_COMPLETE && got_len != want_len) ||
            (want == CG_HEAD_INVALID && why.kind != want_kind)) {
            print_error("iteration %d: %d/%zu/%d, the rules say %d/%zu/%d (%s)\n", iter, got, got_len, why.kind, want,
                        want_len, want_kind, why.detail);
            fail();
        }
        /* In pieces: at each prefix, what the rules say of that prefix. */
        cg_head_scanner st = CG_HEAD_SCANNER_INIT;
        size_t step = 1 + (size_t)(rand() % 9);
        for (size_t have = 0; have < len;) {
            have = have + step < len ? have + step : len;
            cg_refusal pw = { 0 };
            want = reference_scan(buf, have, &l, resp, &want_len, &want_kind);
            got = cg_http_scan_head_more(&st, exact, have, &l, resp, &got_len, &pw);
            if (got != want || (want == CG_HEAD_COMPLETE && got_len != want_len) ||
                (want == CG_HEAD_INVALID && pw.kind != want_kind)) {
                print_error("iteration %d, %zu bytes in steps of %zu: %d/%d, the rules say %d/%d\n", iter, have, step,
                            got, pw.kind, want, want_kind);
                fail();
            }
            if (got != CG_HEAD_INCOMPLETE)
                break;
        }
        free(exact);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pieces_match_at_once),
        cmocka_unit_test(test_resume_position_is_kept),
        cmocka_unit_test(test_matches_byte_by_byte_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
