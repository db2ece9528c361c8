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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pieces_match_at_once),
        cmocka_unit_test(test_resume_position_is_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
