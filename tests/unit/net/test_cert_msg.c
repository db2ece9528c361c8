/* Unit tests of the Certificate message watcher (cert_msg.c): client
 * flights built here byte by byte, fed whole, in one-byte pieces and in
 * random pieces; the watcher must hand over exactly the Certificate message
 * however records and feeds cut it, and stop (holding no memory) at
 * anything else. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "net/cert_msg.h"

#define MAX_LEN 16384

typedef struct flight {
    unsigned char b[70000];
    size_t n;
} flight;

static void put(flight *f, const void *p, size_t n)
{
    assert_true(f->n + n <= sizeof f->b);
    memcpy(f->b + f->n, p, n);
    f->n += n;
}

/* One record of type carrying body[0..n). */
static void record(flight *f, unsigned char type, const unsigned char *body, size_t n)
{
    unsigned char h[5] = { type, 3, 3, (unsigned char)(n >> 8), (unsigned char)n };
    put(f, h, sizeof h);
    put(f, body, n);
}

/* A handshake message of type with a body of n bytes (pattern). */
static size_t message(unsigned char *out, unsigned char type, size_t n, unsigned char fill)
{
    out[0] = type;
    out[1] = (unsigned char)(n >> 16);
    out[2] = (unsigned char)(n >> 8);
    out[3] = (unsigned char)n;
    for (size_t i = 0; i < n; i++)
        out[4 + i] = (unsigned char)(fill + i);
    return 4 + n;
}

/* Feeds f in pieces of step bytes (0: random 1..40); returns the state
 * after the first piece that ended watching, and how many bytes went in. */
static cg_cert_msg_state feed(cg_cert_msg *m, const flight *f, size_t step, size_t *used)
{
    size_t off = 0;
    cg_cert_msg_state s = CG_CERT_MSG_WATCHING;
    while (off < f->n && s == CG_CERT_MSG_WATCHING) {
        size_t k = step ? step : 1 + (size_t)(rand() % 40);
        if (k > f->n - off)
            k = f->n - off;
        s = cg_cert_msg_feed(m, f->b + off, k, MAX_LEN);
        off += k;
    }
    if (used)
        *used = off;
    return s;
}

static unsigned char hello[300], cert[3000], cke[70];
static size_t hello_n, cert_n, cke_n;

static int setup(void **state)
{
    (void)state;
    hello_n = message(hello, 1, sizeof hello - 4, 0x10);
    cert_n = message(cert, 11, sizeof cert - 4, 0x40);
    cke_n = message(cke, 16, sizeof cke - 4, 0x90);
    return 0;
}

/* ClientHello alone in a record; the Certificate message split over two
 * records, the second also carrying ClientKeyExchange. */
static void full_flight(flight *f)
{
    f->n = 0;
    record(f, 22, hello, hello_n);
    record(f, 22, cert, 1000);
    unsigned char rest[4000];
    memcpy(rest, cert + 1000, cert_n - 1000);
    memcpy(rest + cert_n - 1000, cke, cke_n);
    record(f, 22, rest, cert_n - 1000 + cke_n);
    unsigned char ccs = 1;
    record(f, 20, &ccs, 1);
}

static void test_message_whole_however_cut(void **state)
{
    (void)state;
    flight f;
    full_flight(&f);
    size_t steps[] = { 1, 2, 3, 5, 7, 4096, sizeof f.b, 0, 0, 0 };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        cg_cert_msg m;
        memset(&m, 0, sizeof m);
        size_t used;
        assert_int_equal(feed(&m, &f, steps[i], &used), CG_CERT_MSG_COMPLETE);
        assert_int_equal(m.len, cert_n);
        assert_memory_equal(m.buf, cert, cert_n);
        /* complete no later than the piece holding the message's last byte */
        assert_true(used <= 5 + hello_n + 5 + 1000 + 5 + (cert_n - 1000) + (steps[i] ? steps[i] : 40));
        assert_int_equal(cg_cert_msg_feed(&m, f.b, 1, MAX_LEN), CG_CERT_MSG_COMPLETE); /* until freed */
        cg_cert_msg_free(&m);
        assert_null(m.buf);
        assert_int_equal(cg_cert_msg_feed(&m, f.b, f.n, MAX_LEN), CG_CERT_MSG_DONE);
    }
}

/* Several messages in one record, Certificate among them. */
static void test_messages_in_one_record(void **state)
{
    (void)state;
    flight f = { .n = 0 };
    unsigned char all[4000];
    memcpy(all, hello, hello_n);
    memcpy(all + hello_n, cert, cert_n);
    record(&f, 22, all, hello_n + cert_n);
    cg_cert_msg m;
    memset(&m, 0, sizeof m);
    assert_int_equal(feed(&m, &f, 0, NULL), CG_CERT_MSG_COMPLETE);
    assert_int_equal(m.len, cert_n);
    assert_memory_equal(m.buf, cert, cert_n);
    cg_cert_msg_free(&m);
}

/* A resumed handshake: ClientHello, then ChangeCipherSpec: nothing held. */
static void test_abbreviated_flight_stops(void **state)
{
    (void)state;
    flight f = { .n = 0 };
    record(&f, 22, hello, hello_n);
    unsigned char ccs = 1;
    record(&f, 20, &ccs, 1);
    cg_cert_msg m;
    memset(&m, 0, sizeof m);
    assert_int_equal(feed(&m, &f, 1, NULL), CG_CERT_MSG_DONE);
    assert_null(m.buf);
}

/* No Certificate message (the client has none to send in TLS 1.2 it sends
 * an empty one; one that skips it goes straight to ClientKeyExchange). */
static void test_other_message_stops(void **state)
{
    (void)state;
    flight f = { .n = 0 };
    record(&f, 22, hello, hello_n);
    record(&f, 22, cke, cke_n);
    cg_cert_msg m;
    memset(&m, 0, sizeof m);
    assert_int_equal(feed(&m, &f, 3, NULL), CG_CERT_MSG_DONE);
    assert_null(m.buf);
}

/* A Certificate message announcing more than mbedTLS takes: not kept
 * (nothing allocated for the announced length), left to mbedTLS. */
static void test_oversized_message_not_kept(void **state)
{
    (void)state;
    flight f = { .n = 0 };
    unsigned char big_hdr[4] = { 11, 0xFF, 0xFF, 0xFF };
    record(&f, 22, big_hdr, sizeof big_hdr);
    cg_cert_msg m;
    memset(&m, 0, sizeof m);
    assert_int_equal(feed(&m, &f, 0, NULL), CG_CERT_MSG_DONE);
    assert_null(m.buf);
    unsigned char just_over[4] = { 11, 0, (MAX_LEN - 3) >> 8, (MAX_LEN - 3) & 0xFF };
    f.n = 0;
    record(&f, 22, just_over, sizeof just_over);
    memset(&m, 0, sizeof m);
    assert_int_equal(feed(&m, &f, 0, NULL), CG_CERT_MSG_DONE);
    /* exactly MAX_LEN with its header: kept */
    unsigned char at_limit[4] = { 11, 0, (MAX_LEN - 4) >> 8, (MAX_LEN - 4) & 0xFF };
    f.n = 0;
    record(&f, 22, at_limit, sizeof at_limit);
    memset(&m, 0, sizeof m);
    assert_int_equal(feed(&m, &f, 0, NULL), CG_CERT_MSG_WATCHING);
    assert_non_null(m.buf);
    cg_cert_msg_free(&m);
}

/* Not TLS records at all, an empty Certificate message, empty records. */
static void test_odd_input(void **state)
{
    (void)state;
    cg_cert_msg m;
    memset(&m, 0, sizeof m);
    static const unsigned char http[] = "GET / HTTP/1.1\r\n\r\n";
    assert_int_equal(cg_cert_msg_feed(&m, http, sizeof http - 1, MAX_LEN), CG_CERT_MSG_DONE);

    flight f = { .n = 0 };
    record(&f, 22, hello, 0); /* an empty record is skipped */
    unsigned char empty_cert[4] = { 11, 0, 0, 0 };
    record(&f, 22, empty_cert, sizeof empty_cert);
    memset(&m, 0, sizeof m);
    assert_int_equal(feed(&m, &f, 1, NULL), CG_CERT_MSG_COMPLETE);
    assert_int_equal(m.len, 4);
    cg_cert_msg_free(&m);

    memset(&m, 0, sizeof m);
    assert_int_equal(cg_cert_msg_feed(&m, NULL, 0, MAX_LEN), CG_CERT_MSG_WATCHING);
    assert_int_equal(cg_cert_msg_feed(&m, hello, 0, 3), CG_CERT_MSG_WATCHING);
    flight g = { .n = 0 };
    record(&g, 22, cert, cert_n);
    assert_int_equal(feed(&m, &g, 0, NULL), CG_CERT_MSG_COMPLETE);
    cg_cert_msg_free(&m);
    memset(&m, 0, sizeof m);
    assert_int_equal(cg_cert_msg_feed(&m, g.b, g.n, 3), CG_CERT_MSG_DONE); /* max_len under a header */
}

int main(void)
{
    srand(13);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_whole_however_cut),
        cmocka_unit_test(test_messages_in_one_record),
        cmocka_unit_test(test_abbreviated_flight_stops),
        cmocka_unit_test(test_other_message_stops),
        cmocka_unit_test(test_oversized_message_not_kept),
        cmocka_unit_test(test_odd_input),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
