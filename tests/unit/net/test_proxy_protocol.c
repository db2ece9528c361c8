/* Unit tests for proxy_protocol.c: PROXY protocol v1 and v2 headers, every
 * field, at once, byte by byte and in random pieces, with the client's
 * stream after them; then random and mutated inputs against the parser's
 * invariants (bounded, prefix-consistent, the reader agreeing with the
 * parser). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "net/proxy_protocol.h"

#define SIG "\r\n\r\n\0\r\nQUIT\n"
#define B(s) s, sizeof(s) - 1

typedef struct pp_case {
    const char *name;
    const char *bytes;
    size_t n;
    cg_pp_status st;
    int version;
    bool local;
    const char *src;
    unsigned sport;
    const char *dst;
    unsigned dport;
    unsigned tlvs;
    const char *why; /* BAD: part of the sentence */
} pp_case;

#define V1(name, s, src, sp, dst, dp) { name, B(s), CG_PP_DONE, 1, false, src, sp, dst, dp, 0, NULL }
#define V2(name, s, src, sp, dst, dp, tlvs) { name, B(s), CG_PP_DONE, 2, false, src, sp, dst, dp, tlvs, NULL }
#define LOCAL(name, s, v) { name, B(s), CG_PP_DONE, v, true, NULL, 0, NULL, 0, 0, NULL }
#define BAD(name, s, why) { name, B(s), CG_PP_BAD, 0, false, NULL, 0, NULL, 0, 0, why }

#define FFFF8 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
#define A91 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const pp_case cases[] = {
    /* ---- v1 ---- */
    V1("v1 tcp4", "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n", "192.0.2.7", 56324, "198.51.100.1", 443),
    V1("v1 tcp6", "PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n", "2001:db8::7", 65535, "2001:db8::1", 0),
    V1("v1 tcp4 extremes", "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", "0.0.0.0", 0, "255.255.255.255", 65535),
    V1("v1 tcp6 mapped", "PROXY TCP6 ::ffff:192.0.2.7 ::1 1 2\r\n", "::ffff:192.0.2.7", 1, "::1", 2),
    V1("v1 tcp6 longest (104 bytes)", "PROXY TCP6 " FFFF8 " " FFFF8 " 65535 65535\r\n", FFFF8, 65535, FFFF8, 65535),
    LOCAL("v1 unknown", "PROXY UNKNOWN\r\n", 1),
    LOCAL("v1 unknown with addresses (107 bytes)", "PROXY UNKNOWN " FFFF8 " " FFFF8 " 65535 65535\r\n", 1),
    LOCAL("v1 unknown, 107 bytes of anything", "PROXY UNKNOWN " A91 "\r\n", 1),
    BAD("v1 108 bytes", "PROXY UNKNOWN " A91 "a\r\n", "no CRLF within 107"),
    BAD("v1 107 bytes without CRLF", "PROXY UNKNOWN " A91 "aa", "no CRLF within 107"),
    BAD("v1 bare LF", "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\n", "bare LF"),
    BAD("v1 CR inside", "PROXY TCP4 192.0.2.7\r198.51.100.1 56324 443\r\n", "CR not followed by LF"),
    BAD("v1 CR CR LF", "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\r\n", "CR not followed by LF"),
    BAD("v1 lowercase", "proxy TCP4 192.0.2.7 198.51.100.1 56324 443\r\n", "byte 0x70"),
    BAD("v1 tab", "PROXY\tTCP4 192.0.2.7 198.51.100.1 56324 443\r\n", "not a PROXY protocol header"),
    BAD("v1 nothing after PROXY", "PROXY \r\n", "empty field"),
    BAD("v1 no space", "PROXY\r\n", "not a PROXY protocol header"),
    BAD("v1 double space", "PROXY TCP4  192.0.2.7 198.51.100.1 56324 443\r\n", "empty field"),
    BAD("v1 trailing space", "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443 \r\n", "empty field"),
    BAD("v1 unknown protocol", "PROXY TCP5 192.0.2.7 198.51.100.1 56324 443\r\n", "unknown protocol \"TCP5\""),
    BAD("v1 UNKNOWN glued", "PROXY UNKNOWNX\r\n", "unknown protocol"),
    BAD("v1 udp", "PROXY UDP4 192.0.2.7 198.51.100.1 56324 443\r\n", "unknown protocol"),
    BAD("v1 four fields", "PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n", "4 fields"),
    BAD("v1 six fields", "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443 1\r\n", "more than 5 fields"),
    BAD("v1 only protocol", "PROXY TCP4\r\n", "1 fields"),
    BAD("v1 leading zero octet", "PROXY TCP4 192.0.2.07 198.51.100.1 56324 443\r\n", "source address \"192.0.2.07\""),
    BAD("v1 three octets", "PROXY TCP4 192.0.2 198.51.100.1 56324 443\r\n", "source address"),
    BAD("v1 octet 256", "PROXY TCP4 192.0.2.7 198.51.100.256 56324 443\r\n", "destination address"),
    BAD("v1 tcp4 with ipv6", "PROXY TCP4 2001:db8::7 198.51.100.1 56324 443\r\n", "not an IPv4 address"),
    BAD("v1 tcp6 with ipv4", "PROXY TCP6 192.0.2.7 2001:db8::1 56324 443\r\n", "not an IPv6 address"),
    BAD("v1 zone", "PROXY TCP6 fe80::1%eth0 2001:db8::1 56324 443\r\n", "source address"),
    BAD("v1 bracketed", "PROXY TCP6 [2001:db8::7] 2001:db8::1 56324 443\r\n", "source address"),
    BAD("v1 address too long", "PROXY TCP6 0000:0000:0000:0000:0000:0000:0000:0000:0000 ::1 1 2\r\n", "source address"),
    BAD("v1 port leading zero", "PROXY TCP4 192.0.2.7 198.51.100.1 056324 443\r\n", "source port \"056324\""),
    BAD("v1 port 0443", "PROXY TCP4 192.0.2.7 198.51.100.1 56324 0443\r\n", "destination port \"0443\""),
    BAD("v1 port 65536", "PROXY TCP4 192.0.2.7 198.51.100.1 65536 443\r\n", "source port"),
    BAD("v1 port 99999", "PROXY TCP4 192.0.2.7 198.51.100.1 1 99999\r\n", "destination port"),
    BAD("v1 port sign", "PROXY TCP4 192.0.2.7 198.51.100.1 +80 443\r\n", "source port"),
    BAD("v1 port hex", "PROXY TCP4 192.0.2.7 198.51.100.1 80 0x1bb\r\n", "destination port"),
    BAD("v1 port letters", "PROXY TCP4 192.0.2.7 198.51.100.1 8a 443\r\n", "source port"),
    BAD("v1 NUL", "PROXY TCP4 192.0.2.7\0 198.51.100.1 56324 443\r\n", "0x00"),
    BAD("v1 high byte", "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\xff\r\n", "0xff"),
    /* ---- neither ---- */
    BAD("tls client hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "starts with a TLS handshake"),
    BAD("http request", "GET / HTTP/1.1\r\n\r\n", "byte 0x47"),
    /* ---- v2 ---- */
    V2("v2 tcp4", SIG "\x21\x11\x00\x0c" "\xc0\x00\x02\x07" "\xc6\x33\x64\x01" "\xdc\x04" "\x01\xbb",
       "192.0.2.7", 56324, "198.51.100.1", 443, 0),
    V2("v2 tcp6", SIG "\x21\x21\x00\x24"
       "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x07"
       "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01" "\xff\xff" "\x00\x00",
       "2001:db8::7", 65535, "2001:db8::1", 0, 0),
    V2("v2 tcp4 with TLVs", SIG "\x21\x11\x00\x1d" "\xc0\x00\x02\x07" "\xc6\x33\x64\x01" "\x00\x50" "\x01\xbb"
       "\x01\x00\x02" "h2" "\x04\x00\x00" "\xea\x00\x06" "\x01" "vpc-1",
       "192.0.2.7", 80, "198.51.100.1", 443, 3),
    LOCAL("v2 local", SIG "\x20\x00\x00\x00", 2),
    LOCAL("v2 local with addresses", SIG "\x20\x11\x00\x0c" "\x7f\x00\x00\x01" "\x7f\x00\x00\x01" "\x00\x01" "\x00\x02", 2),
    LOCAL("v2 local, any family", SIG "\x20\xff\x00\x05" "junk!", 2),
    LOCAL("v2 proxy unspec", SIG "\x21\x00\x00\x00", 2),
    LOCAL("v2 proxy unspec with bytes", SIG "\x21\x00\x00\x03" "\x01\x02\x03", 2),
    BAD("v2 signature", "\r\n\r\n\0\r\nQUIT\r\x21\x11\x00\x0c", "signature"),
    BAD("v2 signature early", "\r\n\r\n\x01", "signature"),
    BAD("v2 version 1", SIG "\x11\x11\x00\x0c", "version 1"),
    BAD("v2 version 3", SIG "\x31\x11\x00\x0c", "version 3"),
    BAD("v2 command 2", SIG "\x22\x11\x00\x0c", "unknown command 0x2"),
    BAD("v2 udp4", SIG "\x21\x12\x00\x0c" "\xc0\x00\x02\x07" "\xc6\x33\x64\x01" "\xdc\x04" "\x01\xbb", "UDP"),
    BAD("v2 udp6", SIG "\x21\x22\x00\x24", "UDP"),
    BAD("v2 unix stream", SIG "\x21\x31\x00\xd8", "AF_UNIX"),
    BAD("v2 unix dgram", SIG "\x21\x32\x00\xd8", "AF_UNIX"),
    BAD("v2 family 4", SIG "\x21\x41\x00\x0c", "unknown address family and protocol 0x41"),
    BAD("v2 inet unspec protocol", SIG "\x21\x10\x00\x0c", "0x10"),
    BAD("v2 protocol 3", SIG "\x21\x13\x00\x0c", "0x13"),
    BAD("v2 over the limit", SIG "\x21\x11\x08\x01", "2049 bytes"),
    BAD("v2 over the limit, local", SIG "\x20\x00\xff\xff", "65535 bytes"),
    BAD("v2 tcp4 too short", SIG "\x21\x11\x00\x0b", "too short"),
    BAD("v2 tcp6 too short", SIG "\x21\x21\x00\x0c", "too short"),
    BAD("v2 truncated TLV", SIG "\x21\x11\x00\x0e" "\xc0\x00\x02\x07" "\xc6\x33\x64\x01" "\x00\x50" "\x01\xbb" "\x01\x00",
        "truncated TLV"),
    BAD("v2 TLV overrun", SIG "\x21\x11\x00\x11" "\xc0\x00\x02\x07" "\xc6\x33\x64\x01" "\x00\x50" "\x01\xbb"
        "\x01\x00\x0a" "h2", "overruns"),
};

static void check_header(const pp_case *c, const cg_pp_header *h)
{
    assert_int_equal(h->version, c->version);
    assert_int_equal(h->local, c->local);
    if (c->local)
        return;
    char ip[64];
    unsigned port;
    assert_true(cg_pp_address_text(&h->src, ip, sizeof ip, &port));
    assert_string_equal(ip, c->src);
    assert_int_equal(port, c->sport);
    assert_true(cg_pp_address_text(&h->dst, ip, sizeof ip, &port));
    assert_string_equal(ip, c->dst);
    assert_int_equal(port, c->dport);
    assert_int_equal(h->tlvs, c->tlvs);
}

/* Feeds bytes to a fresh reader in pieces of the given sizes (cycled);
 * returns the status, *consumed the bytes the reader took in all. */
static cg_pp_status feed_pieces(const uint8_t *p, size_t n, const size_t *sizes, size_t nsizes, cg_pp_header *h,
                                size_t *consumed, char *why, size_t cap)
{
    cg_pp_reader *r = calloc(1, sizeof *r);
    assert_non_null(r);
    cg_pp_status st = CG_PP_MORE;
    size_t off = 0;
    for (size_t i = 0; off < n; i++) {
        size_t k = sizes[i % nsizes];
        if (k > n - off)
            k = n - off;
        size_t used = 0;
        st = cg_pp_reader_feed(r, p + off, k, &used, h, why, cap);
        assert_true(used <= k);
        off += used;
        if (st != CG_PP_MORE)
            break;
        assert_int_equal(used, k); /* MORE takes everything it was given */
    }
    free(r);
    *consumed = off;
    return st;
}

static void test_cases(void **state)
{
    (void)state;
    static const uint8_t tls[] = { 0x16, 0x03, 0x01, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o' };
    uint8_t buf[512];
    char why[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const pp_case *c = &cases[i];
        print_message("%s\n", c->name);
        const uint8_t *p = (const uint8_t *)c->bytes;
        cg_pp_header h;
        size_t len = 0;

        /* At once. */
        cg_pp_status st = cg_pp_parse(p, c->n, &h, &len, why, sizeof why);
        assert_int_equal(st, c->st);
        if (st == CG_PP_DONE) {
            assert_int_equal(len, c->n);
            check_header(c, &h);
        } else if (!strstr(why, c->why)) {
            fail_msg("%s: \"%s\" does not say \"%s\"", c->name, why, c->why);
        }

        /* Every strict prefix of a header is a valid beginning. */
        if (c->st == CG_PP_DONE)
            for (size_t k = 0; k < c->n; k++)
                assert_int_equal(cg_pp_parse(p, k, &h, &len, why, sizeof why), CG_PP_MORE);

        /* Followed by the client's TLS bytes: the reader stops at the header's end. */
        assert_true(c->n + sizeof tls <= sizeof buf);
        memcpy(buf, p, c->n);
        memcpy(buf + c->n, tls, sizeof tls);
        size_t all = c->n + sizeof tls, consumed;
        static const size_t whole[] = { 4096 }, ones[] = { 1 }, odd[] = { 3, 1, 7, 2, 16, 5 };
        const size_t *plans[] = { whole, ones, odd };
        const size_t nplans[] = { 1, 1, 6 };
        for (int pl = 0; pl < 3; pl++) {
            st = feed_pieces(buf, all, plans[pl], nplans[pl], &h, &consumed, why, sizeof why);
            assert_int_equal(st, c->st);
            if (st == CG_PP_DONE) {
                assert_int_equal(consumed, c->n); /* not one byte of TLS */
                check_header(c, &h);
            } else {
                assert_non_null(strstr(why, c->why));
            }
        }
    }
}

/* v2 at and over CG_PP_V2_MAX_PAYLOAD, with one large TLV. */
static void test_v2_limit(void **state)
{
    (void)state;
    static uint8_t buf[CG_PP_V2_FIXED + 70000];
    char why[256];
    for (size_t plen = CG_PP_V2_MAX_PAYLOAD - 1; plen <= CG_PP_V2_MAX_PAYLOAD + 1; plen++) {
        memset(buf, 0, sizeof buf);
        memcpy(buf, SIG, 12);
        buf[12] = 0x21;
        buf[13] = 0x11;
        buf[14] = (uint8_t)(plen >> 8);
        buf[15] = (uint8_t)plen;
        buf[16] = 192, buf[19] = 7;
        uint8_t *t = buf + CG_PP_V2_FIXED + 12;
        size_t vlen = plen - 12 - 3;
        t[0] = 0xe0;
        t[1] = (uint8_t)(vlen >> 8);
        t[2] = (uint8_t)vlen;
        cg_pp_header h;
        size_t len, consumed;
        cg_pp_status st = cg_pp_parse(buf, CG_PP_V2_FIXED + plen, &h, &len, why, sizeof why);
        static const size_t ones[] = { 1 }, big[] = { 100000 };
        if (plen <= CG_PP_V2_MAX_PAYLOAD) {
            assert_int_equal(st, CG_PP_DONE);
            assert_int_equal(len, CG_PP_V2_FIXED + plen);
            assert_int_equal(h.tlvs, 1);
            assert_int_equal(feed_pieces(buf, CG_PP_V2_FIXED + plen + 50, ones, 1, &h, &consumed, why, sizeof why),
                             CG_PP_DONE);
            assert_int_equal(consumed, CG_PP_V2_FIXED + plen);
        } else {
            assert_int_equal(st, CG_PP_BAD);
            /* Refused as soon as the length is read, before the payload. */
            assert_int_equal(cg_pp_parse(buf, CG_PP_V2_FIXED, &h, &len, why, sizeof why), CG_PP_BAD);
            assert_non_null(strstr(why, "over certgate's limit"));
            assert_int_equal(feed_pieces(buf, sizeof buf, big, 1, &h, &consumed, why, sizeof why), CG_PP_BAD);
            assert_true(consumed <= CG_PP_V2_FIXED);
        }
    }
}

/* A small deterministic generator (the test must be reproducible). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* The invariants of any input: bounded, prefixes consistent (MORE until
 * one length decides it: DONE at exactly the header's length and for every
 * longer input, or BAD for every longer input), and the reader in random
 * pieces agreeing with the parser at once. */
static void check_invariants(const uint8_t *p, size_t n)
{
    char why[256];
    cg_pp_header h, h2;
    size_t len = 0, first_len = 0;
    cg_pp_status decided = CG_PP_MORE;
    for (size_t k = 0; k <= n; k++) {
        cg_pp_status st = cg_pp_parse(p, k, &h, &len, why, sizeof why);
        assert_true(st == CG_PP_MORE || st == CG_PP_DONE || st == CG_PP_BAD);
        if (decided == CG_PP_MORE) {
            decided = st;
            if (st == CG_PP_DONE) {
                assert_int_equal(len, k);
                assert_true(len <= CG_PP_MAX);
                first_len = len;
            }
            if (st == CG_PP_BAD)
                assert_true(why[0] != '\0' && strlen(why) < sizeof why);
        } else {
            assert_int_equal(st, decided);
            if (st == CG_PP_DONE)
                assert_int_equal(len, first_len);
        }
    }
    size_t sizes[4] = { 1 + rnd() % 7, 1 + rnd() % 40, 1, 1 + rnd() % 300 }, consumed;
    cg_pp_status st = feed_pieces(p, n, sizes, 4, &h2, &consumed, why, sizeof why);
    assert_int_equal(st, decided);
    if (st == CG_PP_DONE) {
        assert_int_equal(consumed, first_len);
        cg_pp_parse(p, n, &h, &len, why, sizeof why);
        assert_int_equal(h.version, h2.version);
        assert_int_equal(h.local, h2.local);
        assert_int_equal(h.tlvs, h2.tlvs);
        assert_memory_equal(&h.src, &h2.src, sizeof h.src);
        assert_memory_equal(&h.dst, &h2.dst, sizeof h.dst);
    } else {
        assert_true(consumed <= n);
    }
}

static void test_random_inputs(void **state)
{
    (void)state;
    uint8_t buf[300];
    size_t done = 0, bad = 0, more = 0;
    for (int iter = 0; iter < 10000; iter++) {
        size_t n;
        uint32_t kind = rnd() % 4;
        if (kind == 0) { /* random bytes behind a valid start */
            n = rnd() % sizeof buf;
            for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t)rnd();
            const char *start = (rnd() & 1) ? "PROXY " : SIG;
            size_t sl = start[0] == 'P' ? 6 : 12;
            memcpy(buf, start, n < sl ? n : sl);
        } else { /* a valid case mutated: a byte or two changed, cut or extended */
            const pp_case *c = &cases[rnd() % (sizeof cases / sizeof cases[0])];
            n = c->n;
            memcpy(buf, c->bytes, n);
            int flips = (int)(rnd() % 3);
            for (int f = 0; f < flips && n; f++)
                buf[rnd() % n] = (kind == 1) ? (uint8_t)rnd() : (uint8_t)"0 :.\r\nPROXY\x11\x21\x00\xff"[rnd() % 16];
            if (kind == 3) {
                size_t extra = rnd() % 64;
                for (size_t i = 0; i < extra && n < sizeof buf; i++)
                    buf[n++] = (uint8_t)rnd();
            } else if (rnd() % 4 == 0 && n) {
                n = rnd() % n;
            }
        }
        check_invariants(buf, n);
        cg_pp_header h;
        size_t len;
        char why[256];
        cg_pp_status st = cg_pp_parse(buf, n, &h, &len, why, sizeof why);
        done += st == CG_PP_DONE;
        bad += st == CG_PP_BAD;
        more += st == CG_PP_MORE;
    }
    print_message("random inputs: %zu done, %zu bad, %zu incomplete\n", done, bad, more);
    /* The generator reaches every outcome (else the test would prove little). */
    assert_true(done > 100 && bad > 100 && more > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_v2_limit),
        cmocka_unit_test(test_random_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
