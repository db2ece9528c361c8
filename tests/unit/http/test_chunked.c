/* Unit tests for chunked.c: strict chunked framing, at once and byte by
 * byte, and cg_chunked_execute in front of http-parser (Debian's non-strict
 * build, which accepts any two bytes after chunk data). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "http/chunked.h"

typedef struct body_case {
    const char *bytes;
    size_t accepted;  /* bytes accepted: strlen for a valid body without anything after it */
    bool error;
} body_case;

#define OK(s) { s, sizeof(s) - 1, false }
#define BAD(s, at) { s, at, true }

static const body_case cases[] = {
    OK("0\r\n\r\n"),
    OK("5\r\nhello\r\n0\r\n\r\n"),
    OK("5;name=value\r\nhello\r\n0\r\n\r\n"),
    OK("5 ;ext\r\nhello\r\n0\r\n\r\n"),
    OK("5 \r\nhello\r\n0\r\n\r\n"),
    OK("A\r\n0123456789\r\n0\r\n\r\n"),
    OK("a\r\n0123456789\r\n00\r\n\r\n"),
    OK("5\r\nhello\r\n0\r\nTrailer: x\r\nOther: y\r\n\r\n"),
    OK("3\r\n\r\n\r\r\n0\r\n\r\n"),                   /* data may hold CR and LF */
    { "5\r\nhello\r\n0\r\n\r\nNEXT", 15, false },        /* stops at the end of the body */
    BAD("5\r\nhelloXX0\r\n\r\n", 8),                      /* any two bytes after data */
    BAD("5\r\nhello\rX0\r\n\r\n", 9),
    BAD("5\r\nhello\n\r0\r\n\r\n", 8),
    BAD("5\rXhello\r\n0\r\n\r\n", 2),                     /* any byte for the size line's LF */
    BAD("5\nhello\r\n0\r\n\r\n", 1),
    BAD("0\r\n\r\r", 4),                                  /* end of trailers */
    BAD("0\r\n\rX", 4),
    BAD("0\r\nA: b\rX\r\n", 8),
    BAD("0\r\n b\r\n\r\n", 3),                            /* obs-fold in trailers */
    BAD("0\r\nA: \x01\r\n\r\n", 6),
    BAD("x\r\n", 0),
    BAD("\r\n", 0),
    BAD("-5\r\n", 0),
    BAD("5x\r\n", 1),
    BAD("5 x\r\n", 2),
    BAD("5;a\nb\r\n", 3),
    BAD("11111111111111111\r\n", 16),                    /* 17 hex digits */
};

static void test_bodies_at_once_and_byte_by_byte(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const body_case *bc = &cases[i];
        size_t len = strlen(bc->bytes);
        const char *what;
        cg_chunked ck = CG_CHUNKED_INIT;
        size_t n = cg_chunked_scan(&ck, bc->bytes, len, &what);
        if (n != bc->accepted || (what != NULL) != bc->error) {
            print_error("case %zu at once: accepted %zu (%s), expected %zu\n", i, n, what ? what : "-", bc->accepted);
            fail();
        }
        if (!bc->error)
            assert_true(cg_chunked_done(&ck));
        /* One byte at a time: the same answer. */
        cg_chunked one = CG_CHUNKED_INIT;
        size_t total = 0;
        const char *what1 = NULL;
        for (size_t k = 0; k < len; k++) {
            size_t m = cg_chunked_scan(&one, bc->bytes + k, 1, &what1);
            total += m;
            if (m == 0)
                break;
        }
        if (total != bc->accepted || (what1 != NULL) != bc->error) {
            print_error("case %zu byte by byte: accepted %zu, expected %zu\n", i, total, bc->accepted);
            fail();
        }
    }
}

static void test_long_lines_refused(void **state)
{
    (void)state;
    static char body[CG_CHUNKED_MAX_LINE + 64];
    strcpy(body, "5;");
    memset(body + 2, 'e', CG_CHUNKED_MAX_LINE);
    cg_chunked ck = CG_CHUNKED_INIT;
    const char *what;
    size_t n = cg_chunked_scan(&ck, body, CG_CHUNKED_MAX_LINE + 2, &what);
    assert_non_null(what);
    assert_int_equal(n, CG_CHUNKED_MAX_LINE);
}

/* ---- in front of http-parser ---- */

static char seen[256];
static size_t seen_len;
static int completes;

static int on_body(http_parser *p, const char *at, size_t len)
{
    (void)p;
    memcpy(seen + seen_len, at, len);
    seen_len += len;
    return 0;
}

static int on_complete(http_parser *p)
{
    completes++;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = { .on_body = on_body, .on_message_complete = on_complete };

static void start(http_parser *p)
{
    static const char head[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    http_parser_init(p, HTTP_REQUEST);
    assert_int_equal(http_parser_execute(p, &settings, head, sizeof head - 1), sizeof head - 1);
    seen_len = 0;
    completes = 0;
}

static void test_parser_never_sees_bad_framing(void **state)
{
    (void)state;
    http_parser p;
    cg_chunked ck;
    const char *what;

    /* http-parser alone takes "XX" for the CRLF and completes the message. */
    static const char smuggle[] = "5\r\nhelloXX5\r\nworld\r\n0\r\n\r\n";
    start(&p);
    http_parser_execute(&p, &settings, smuggle, sizeof smuggle - 1);
    assert_int_equal(completes, 1);

    /* Through cg_chunked_execute: "hello" only, stopped at the first X. */
    start(&p);
    ck = CG_CHUNKED_INIT;
    size_t n = cg_chunked_execute(&ck, &p, &settings, smuggle, sizeof smuggle - 1, &what);
    assert_non_null(what);
    assert_int_equal(n, 8);
    assert_int_equal(seen_len, 5);
    assert_memory_equal(seen, "hello", 5);
    assert_int_equal(completes, 0);

    /* Byte by byte, the same. */
    start(&p);
    ck = CG_CHUNKED_INIT;
    size_t off = 0;
    what = NULL;
    while (off < sizeof smuggle - 1 && !what)
        off += cg_chunked_execute(&ck, &p, &settings, smuggle + off, 1, &what);
    assert_non_null(what);
    assert_int_equal(off, 8);
    assert_int_equal(completes, 0);

    /* A good body: all of it, the message completes, and the state
     * follows the parser when it stops at the end of the message. */
    static const char good[] = "5\r\nhello\r\n0\r\n\r\nGET";
    start(&p);
    ck = CG_CHUNKED_INIT;
    n = cg_chunked_execute(&ck, &p, &settings, good, sizeof good - 1, &what);
    assert_null(what);
    assert_int_equal(n, sizeof good - 1 - 3);
    assert_int_equal(completes, 1);
    assert_true(cg_chunked_done(&ck));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bodies_at_once_and_byte_by_byte),
        cmocka_unit_test(test_long_lines_refused),
        cmocka_unit_test(test_parser_never_sees_bad_framing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
