/* Unit tests for body_framing.c: bodies certgate frames itself (Content-Length,
 * until close) with http_parser_execute's contract (pause, callback errors,
 * the last byte held back, nothing consumed after the end), checked against
 * http-parser itself driven the way the callers used to drive it; chunked
 * bodies still go through http-parser behind the strict check. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "http/body_framing.h"

typedef struct sink {
    char data[4096];
    size_t len;
    int bodies;           /* on_body calls */
    int completes;
    bool pause_on_body;   /* backpressure: every on_body pauses */
    bool pause_on_last;   /* on_body pauses when the body's last byte is in it */
    size_t body_total;    /* for pause_on_last */
    bool pause_on_complete;
    int fail_body;        /* on_body returns this */
    int fail_complete;    /* on_message_complete returns this */
} sink;

static int on_body(http_parser *p, const char *at, size_t n)
{
    sink *s = p->data;
    assert_true(n > 0);
    assert_true(s->len + n <= sizeof s->data);
    memcpy(s->data + s->len, at, n);
    s->len += n;
    s->bodies++;
    if (s->pause_on_body || (s->pause_on_last && s->len == s->body_total))
        http_parser_pause(p, 1);
    return s->fail_body;
}

static int on_complete(http_parser *p)
{
    sink *s = p->data;
    s->completes++;
    if (s->pause_on_complete)
        http_parser_pause(p, 1);
    return s->fail_complete;
}

static const http_parser_settings settings = { .on_body = on_body, .on_message_complete = on_complete };

/* A parser as cg_http_parse_request leaves it for a counted body: initialized,
 * never run over the head. */
static void start(http_parser *p, cg_body_framing *f, sink *s, cg_body_kind kind, uint64_t length)
{
    http_parser_init(p, kind == CG_BODY_UNTIL_CLOSE ? HTTP_RESPONSE : HTTP_REQUEST);
    p->data = s;
    cg_body_framing_start(f, kind, length);
}

static size_t exec(cg_body_framing *f, http_parser *p, const char *buf, size_t len)
{
    const char *what = "unset";
    size_t n = cg_body_framing_execute(f, p, &settings, buf, len, &what);
    assert_null(what);
    return n;
}

static void test_length_zero_and_none_are_complete_at_once(void **state)
{
    (void)state;
    http_parser p;
    cg_body_framing f;
    sink s = { 0 };
    start(&p, &f, &s, CG_BODY_LENGTH, 0);
    assert_int_equal(exec(&f, &p, "GET / HTTP/1.1\r\n", 16), 0); /* the next request's */
    assert_int_equal(s.bodies + s.completes, 0);
    assert_true(cg_body_framing_eof(&f, &p, &settings));
    start(&p, &f, &s, CG_BODY_NONE, 0);
    assert_int_equal(exec(&f, &p, "x", 1), 0);
    assert_int_equal(s.bodies + s.completes, 0);
    assert_int_equal(HTTP_PARSER_ERRNO(&p), HPE_OK);
}

static void test_lengths_at_once_and_byte_by_byte(void **state)
{
    (void)state;
    static const char body[] = "0123456789abcdefghijXYZ"; /* 20 body bytes, then the next message */
    static const size_t lengths[] = { 1, 2, 7, 20 };
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        size_t len = lengths[i];
        http_parser p;
        cg_body_framing f;
        sink s = { 0 };
        start(&p, &f, &s, CG_BODY_LENGTH, len);
        assert_int_equal(exec(&f, &p, body, sizeof body - 1), len); /* stops at the end */
        assert_int_equal(s.completes, 1);
        assert_int_equal(s.bodies, 1);
        assert_int_equal(s.len, len);
        assert_memory_equal(s.data, body, len);
        assert_int_equal(exec(&f, &p, body + len, sizeof body - 1 - len), 0);
        assert_int_equal(s.completes, 1);

        sink b = { 0 };
        start(&p, &f, &b, CG_BODY_LENGTH, len);
        size_t off = 0;
        for (size_t k = 0; k < sizeof body - 1; k++) {
            size_t n = exec(&f, &p, body + off, 1);
            off += n;
            if (n == 0)
                break;
        }
        assert_int_equal(off, len);
        assert_int_equal(b.completes, 1);
        assert_int_equal(b.bodies, (int)len);
        assert_memory_equal(b.data, body, len);
        assert_int_equal(HTTP_PARSER_ERRNO(&p), HPE_OK);
    }
}

/* Backpressure in the middle: the bytes handed to on_body are consumed, a
 * paused parser consumes nothing, and feeding resumes where it stopped. */
static void test_pause_in_the_middle(void **state)
{
    (void)state;
    http_parser p;
    cg_body_framing f;
    sink s = { .pause_on_body = true };
    start(&p, &f, &s, CG_BODY_LENGTH, 10);
    assert_int_equal(exec(&f, &p, "hello", 5), 5);
    assert_int_equal(HTTP_PARSER_ERRNO(&p), HPE_PAUSED);
    assert_int_equal(exec(&f, &p, "world", 5), 0);
    assert_int_equal(s.bodies, 1);
    http_parser_pause(&p, 0);
    s.pause_on_body = false;
    assert_int_equal(exec(&f, &p, "world!", 6), 5);
    assert_int_equal(s.completes, 1);
    assert_int_equal(s.len, 10);
    assert_memory_equal(s.data, "helloworld", 10);
}

/* Backpressure on the body's last bytes (req_on_body): http-parser leaves the
 * last byte unconsumed, and the completion comes when it is fed again. */
static void test_pause_on_the_last_bytes(void **state)
{
    (void)state;
    http_parser p;
    cg_body_framing f;
    sink s = { .pause_on_last = true, .body_total = 5, .pause_on_complete = true };
    start(&p, &f, &s, CG_BODY_LENGTH, 5);
    const char *in = "hel";
    assert_int_equal(exec(&f, &p, in, 3), 3);
    in = "loNEXT";
    assert_int_equal(exec(&f, &p, in, 6), 1); /* "l" taken, "o" held back */
    assert_int_equal(s.len, 5);               /* but handed to on_body */
    assert_int_equal(s.completes, 0);
    assert_int_equal(HTTP_PARSER_ERRNO(&p), HPE_PAUSED);
    assert_int_equal(exec(&f, &p, in + 1, 5), 0); /* still paused */
    http_parser_pause(&p, 0);
    assert_int_equal(exec(&f, &p, in + 1, 5), 1); /* the held byte, with the completion */
    assert_int_equal(s.completes, 1);
    assert_int_equal(s.bodies, 2);
    assert_int_equal(s.len, 5);
    assert_int_equal(HTTP_PARSER_ERRNO(&p), HPE_PAUSED); /* paused by on_message_complete */
    http_parser_pause(&p, 0);
    assert_int_equal(exec(&f, &p, "NEXT", 4), 0);
    assert_int_equal(s.completes, 1);

    /* The whole body in one call that pauses: the same. */
    sink t = { .pause_on_body = true };
    start(&p, &f, &t, CG_BODY_LENGTH, 4);
    assert_int_equal(exec(&f, &p, "abcd", 4), 3);
    http_parser_pause(&p, 0);
    t.pause_on_body = false;
    assert_int_equal(exec(&f, &p, "d", 1), 1);
    assert_int_equal(t.completes, 1);
    assert_int_equal(t.len, 4);
}

static void test_callback_errors(void **state)
{
    (void)state;
    http_parser p;
    cg_body_framing f;
    sink s = { .fail_body = -1 };
    start(&p, &f, &s, CG_BODY_LENGTH, 10);
    exec(&f, &p, "abc", 3);
    assert_int_equal(HTTP_PARSER_ERRNO(&p), HPE_CB_body);
    assert_int_equal(exec(&f, &p, "def", 3), 0); /* a failed parser consumes nothing */
    assert_int_equal(s.bodies, 1);
    assert_false(cg_body_framing_eof(&f, &p, &settings));

    sink t = { .fail_body = 1 };
    start(&p, &f, &t, CG_BODY_LENGTH, 3);
    assert_int_equal(exec(&f, &p, "abc", 3), 2); /* as http-parser: the last byte not counted */
    assert_int_equal(HTTP_PARSER_ERRNO(&p), HPE_CB_body);
    assert_int_equal(t.completes, 0);

    sink u = { .fail_complete = 1 };
    start(&p, &f, &u, CG_BODY_LENGTH, 3);
    assert_int_equal(exec(&f, &p, "abcd", 4), 3);
    assert_int_equal(HTTP_PARSER_ERRNO(&p), HPE_CB_message_complete);
    assert_int_equal(u.completes, 1);

    sink v = { .fail_body = 1 };
    start(&p, &f, &v, CG_BODY_UNTIL_CLOSE, 0);
    exec(&f, &p, "abc", 3);
    assert_int_equal(HTTP_PARSER_ERRNO(&p), HPE_CB_body);
    assert_false(cg_body_framing_eof(&f, &p, &settings));
    assert_int_equal(v.completes, 0);

    sink w = { .fail_complete = 1 };
    start(&p, &f, &w, CG_BODY_UNTIL_CLOSE, 0);
    assert_false(cg_body_framing_eof(&f, &p, &settings));
    assert_int_equal(HTTP_PARSER_ERRNO(&p), HPE_CB_message_complete);
}

static void test_eof(void **state)
{
    (void)state;
    http_parser p;
    cg_body_framing f;
    /* Until close: everything is body, EOF completes it. */
    sink s = { 0 };
    start(&p, &f, &s, CG_BODY_UNTIL_CLOSE, 0);
    assert_int_equal(exec(&f, &p, "HTTP/1.1 200 OK\r\n\r\n", 19), 19);
    assert_int_equal(s.completes, 0);
    assert_true(cg_body_framing_eof(&f, &p, &settings));
    assert_int_equal(s.completes, 1);
    assert_int_equal(s.len, 19);
    assert_true(cg_body_framing_eof(&f, &p, &settings)); /* once */
    assert_int_equal(s.completes, 1);
    /* Empty until-close body. */
    sink e = { 0 };
    start(&p, &f, &e, CG_BODY_UNTIL_CLOSE, 0);
    assert_true(cg_body_framing_eof(&f, &p, &settings));
    assert_int_equal(e.completes, 1);
    assert_int_equal(e.bodies, 0);
    /* A paused parser ignores EOF, as http-parser does. */
    sink q = { .pause_on_body = true };
    start(&p, &f, &q, CG_BODY_UNTIL_CLOSE, 0);
    exec(&f, &p, "ab", 2);
    assert_false(cg_body_framing_eof(&f, &p, &settings));
    assert_int_equal(q.completes, 0);
    /* A counted body cut short: refused like http-parser's EOF in it. */
    sink t = { 0 };
    start(&p, &f, &t, CG_BODY_LENGTH, 5);
    exec(&f, &p, "abc", 3);
    assert_false(cg_body_framing_eof(&f, &p, &settings));
    assert_int_equal(HTTP_PARSER_ERRNO(&p), HPE_INVALID_EOF_STATE);
    assert_int_equal(t.completes, 0);
    /* A counted body that ended: EOF afterwards is nothing. */
    sink u = { 0 };
    start(&p, &f, &u, CG_BODY_LENGTH, 3);
    exec(&f, &p, "abc", 3);
    assert_true(cg_body_framing_eof(&f, &p, &settings));
    assert_int_equal(u.completes, 1);
    assert_int_equal(HTTP_PARSER_ERRNO(&p), HPE_OK);
}

static void test_64_bit_lengths(void **state)
{
    (void)state;
    static char big[4000];
    memset(big, 'x', sizeof big);
    static const uint64_t lengths[] = { (1ULL << 32) + 3, 999999999999999999ULL, UINT64_MAX - 1 };
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        http_parser p;
        cg_body_framing f;
        sink s = { 0 };
        start(&p, &f, &s, CG_BODY_LENGTH, lengths[i]);
        assert_int_equal(exec(&f, &p, big, sizeof big), sizeof big);
        assert_true(f.left == lengths[i] - sizeof big);
        s.len = 0;
        assert_int_equal(exec(&f, &p, big, sizeof big), sizeof big);
        assert_true(f.left == lengths[i] - 2 * sizeof big);
        assert_int_equal(s.completes, 0);
        assert_false(cg_body_framing_eof(&f, &p, &settings));
    }
    /* Near the end of a length above 4 GiB: exact. */
    http_parser p;
    cg_body_framing f;
    sink s = { 0 };
    start(&p, &f, &s, CG_BODY_LENGTH, (1ULL << 32) + 3);
    f.left = 3; /* as after 4 GiB of body */
    assert_int_equal(exec(&f, &p, "abcdef", 6), 3);
    assert_int_equal(s.completes, 1);
}

/* What http-parser itself does with the same body after the same head,
 * fed in the same pieces with the same pauses: bytes consumed per call,
 * callbacks and errno must be equal. */
typedef struct trace {
    size_t consumed[64];
    int errs[64];
    int steps;
    sink s;
} trace;

static void drive(bool reference, uint64_t length, const char *bytes, size_t n, size_t piece, int pause_mode,
                  trace *t)
{
    http_parser p;
    cg_body_framing f;
    memset(t, 0, sizeof *t);
    t->s.pause_on_body = pause_mode == 1;
    t->s.pause_on_last = pause_mode == 2;
    t->s.body_total = length;
    t->s.pause_on_complete = true;
    if (reference) {
        char head[128];
        int hl = snprintf(head, sizeof head, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %llu\r\n\r\n",
                          (unsigned long long)length);
        http_parser_init(&p, HTTP_REQUEST);
        static const http_parser_settings none = { 0 };
        assert_int_equal(http_parser_execute(&p, &none, head, (size_t)hl), (size_t)hl);
    } else {
        http_parser_init(&p, HTTP_REQUEST);
    }
    cg_body_framing_start(&f, CG_BODY_LENGTH, length);
    p.data = &t->s;
    size_t off = 0;
    while (off < n && t->steps < 64 && !t->s.completes) {
        size_t k = piece < n - off ? piece : n - off;
        const char *what;
        size_t got = reference ? http_parser_execute(&p, &settings, bytes + off, k)
                               : cg_body_framing_execute(&f, &p, &settings, bytes + off, k, &what);
        t->consumed[t->steps] = got;
        t->errs[t->steps++] = HTTP_PARSER_ERRNO(&p);
        off += got;
        if (HTTP_PARSER_ERRNO(&p) == HPE_PAUSED)
            http_parser_pause(&p, 0);
    }
}

static void test_same_as_http_parser(void **state)
{
    (void)state;
    static const char bytes[] = "0123456789abcdefNEXT";
    static const uint64_t lengths[] = { 1, 2, 3, 5, 16 };
    int compared = 0;
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++)
        for (size_t piece = 1; piece <= sizeof bytes - 1; piece++)
            for (int mode = 0; mode < 3; mode++) {
                trace a, b;
                drive(true, lengths[li], bytes, sizeof bytes - 1, piece, mode, &a);
                drive(false, lengths[li], bytes, sizeof bytes - 1, piece, mode, &b);
                if (a.steps != b.steps || memcmp(a.consumed, b.consumed, sizeof a.consumed) != 0 ||
                    memcmp(a.errs, b.errs, sizeof a.errs) != 0 || a.s.len != b.s.len ||
                    a.s.bodies != b.s.bodies || a.s.completes != b.s.completes) {
                    print_error("length %llu, pieces of %zu, pause mode %d: differs from http-parser\n",
                                (unsigned long long)lengths[li], piece, mode);
                    fail();
                }
                assert_int_equal(b.s.completes, 1);
                assert_memory_equal(b.s.data, bytes, lengths[li]);
                compared++;
            }
    assert_int_equal(compared, 5 * 20 * 3);
}

/* Chunked bodies: http-parser decodes them behind the strict check. */
static void test_chunked_through_http_parser(void **state)
{
    (void)state;
    static const char head[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    static const char good[] = "5\r\nhello\r\n0\r\n\r\nNEXT";
    static const char smuggle[] = "5\r\nhelloXX5\r\nworld\r\n0\r\n\r\n";
    static const http_parser_settings none = { 0 };
    http_parser p;
    cg_body_framing f;
    sink s = { .pause_on_complete = true };
    http_parser_init(&p, HTTP_REQUEST);
    assert_int_equal(http_parser_execute(&p, &none, head, sizeof head - 1), sizeof head - 1);
    p.data = &s;
    cg_body_framing_start(&f, CG_BODY_CHUNKED, 0);
    assert_int_equal(exec(&f, &p, good, sizeof good - 1), sizeof good - 1 - 4);
    assert_int_equal(s.completes, 1);
    assert_memory_equal(s.data, "hello", 5);
    assert_true(cg_body_framing_eof(&f, &p, &settings));

    sink t = { 0 };
    http_parser_init(&p, HTTP_REQUEST);
    assert_int_equal(http_parser_execute(&p, &none, head, sizeof head - 1), sizeof head - 1);
    p.data = &t;
    cg_body_framing_start(&f, CG_BODY_CHUNKED, 0);
    const char *what;
    assert_int_equal(cg_body_framing_execute(&f, &p, &settings, smuggle, sizeof smuggle - 1, &what), 8);
    assert_non_null(what);
    assert_int_equal(t.len, 5);
    assert_int_equal(t.completes, 0);
    assert_false(cg_body_framing_eof(&f, &p, &settings));
    assert_int_equal(HTTP_PARSER_ERRNO(&p), HPE_INVALID_EOF_STATE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_length_zero_and_none_are_complete_at_once),
        cmocka_unit_test(test_lengths_at_once_and_byte_by_byte),
        cmocka_unit_test(test_pause_in_the_middle),
        cmocka_unit_test(test_pause_on_the_last_bytes),
        cmocka_unit_test(test_callback_errors),
        cmocka_unit_test(test_eof),
        cmocka_unit_test(test_64_bit_lengths),
        cmocka_unit_test(test_same_as_http_parser),
        cmocka_unit_test(test_chunked_through_http_parser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
