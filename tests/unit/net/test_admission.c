/* Unit tests of the per-address admission table (admission.c): counting,
 * release, IPv6 prefixes, the rate-limited refusal log, and the bound (an
 * entry lives only while its address has a connection). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "net/admission.h"

static cg_admission_key v4(const char *ip)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
    return cg_admission_key_of((struct sockaddr *)&sa, 64);
}

static cg_admission_key v6(const char *ip, unsigned prefix)
{
    struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };
    assert_int_equal(inet_pton(AF_INET6, ip, &sa.sin6_addr), 1);
    return cg_admission_key_of((struct sockaddr *)&sa, prefix);
}

static cg_admit_result acquire(cg_admission *a, cg_admission_key k, uint32_t hs, uint32_t open, uint64_t now,
                               cg_admit_log *lg)
{
    cg_admission_limits lim = { .max_handshakes = hs, .max_open = open };
    return cg_admission_acquire(a, &k, &lim, now, 10000, lg);
}

static void counts_are(cg_admission *a, cg_admission_key k, uint32_t hs, uint32_t open)
{
    uint32_t h, o;
    cg_admission_counts(a, &k, &h, &o);
    assert_int_equal(h, hs);
    assert_int_equal(o, open);
}

static void test_counts_handshakes_then_open(void **state)
{
    (void)state;
    cg_admission *a = cg_admission_new();
    cg_admit_log lg;
    cg_admission_key k = v4("192.0.2.7");
    for (int i = 0; i < 3; i++)
        assert_int_equal(acquire(a, k, 3, 5, 1000, &lg), CG_ADMIT_OK);
    counts_are(a, k, 3, 3);
    assert_int_equal(acquire(a, k, 3, 5, 1000, &lg), CG_ADMIT_HANDSHAKES);
    counts_are(a, k, 3, 3); /* a refusal counts nothing */
    /* Another address is not affected. */
    assert_int_equal(acquire(a, v4("192.0.2.8"), 3, 5, 1000, &lg), CG_ADMIT_OK);
    /* Handshakes finish: room for more, up to the open limit. */
    for (int i = 0; i < 3; i++)
        cg_admission_handshake_done(a, &k);
    counts_are(a, k, 0, 3);
    assert_int_equal(acquire(a, k, 3, 5, 1000, &lg), CG_ADMIT_OK);
    assert_int_equal(acquire(a, k, 3, 5, 1000, &lg), CG_ADMIT_OK);
    assert_int_equal(acquire(a, k, 3, 5, 1000, &lg), CG_ADMIT_OPEN);
    counts_are(a, k, 2, 5);
    /* Release: a handshaking one and an established one. */
    cg_admission_release(a, &k, true);
    cg_admission_release(a, &k, false);
    counts_are(a, k, 1, 3);
    /* 0 means no limit. */
    cg_admission_key u = v4("198.51.100.1");
    for (int i = 0; i < 100; i++)
        assert_int_equal(acquire(a, u, 0, 0, 1000, &lg), CG_ADMIT_OK);
    counts_are(a, u, 100, 100);
    cg_admission_free(a);
}

static void test_entry_goes_with_last_connection(void **state)
{
    (void)state;
    cg_admission *a = cg_admission_new();
    cg_admit_log lg;
    size_t used, cap;
    cg_admission_key k = v4("203.0.113.9");
    assert_int_equal(acquire(a, k, 2, 2, 0, &lg), CG_ADMIT_OK);
    assert_int_equal(acquire(a, k, 2, 2, 0, &lg), CG_ADMIT_OK);
    cg_admission_size(a, &used, &cap);
    assert_int_equal(used, 1);
    cg_admission_release(a, &k, true);
    cg_admission_release(a, &k, true);
    cg_admission_size(a, &used, &cap);
    assert_int_equal(used, 0);
    counts_are(a, k, 0, 0);
    /* A release of an address never counted is a no-op. */
    cg_admission_release(a, &k, true);
    cg_admission_handshake_done(a, &k);
    cg_admission_size(a, &used, &cap);
    assert_int_equal(used, 0);
    cg_admission_free(a);
}

static void test_ipv6_counted_per_prefix(void **state)
{
    (void)state;
    cg_admission *a = cg_admission_new();
    cg_admit_log lg;
    /* Two hosts of one /64 share the count; another /64 has its own. */
    assert_int_equal(acquire(a, v6("2001:db8:1:2::1", 64), 2, 2, 0, &lg), CG_ADMIT_OK);
    assert_int_equal(acquire(a, v6("2001:db8:1:2:ffff::9", 64), 2, 2, 0, &lg), CG_ADMIT_OK);
    assert_int_equal(acquire(a, v6("2001:db8:1:2:abcd::1", 64), 2, 2, 0, &lg), CG_ADMIT_HANDSHAKES);
    assert_int_equal(acquire(a, v6("2001:db8:1:3::1", 64), 2, 2, 0, &lg), CG_ADMIT_OK);
    /* A prefix that is not a multiple of 8. */
    cg_admission_key x = v6("2001:db8:1:2:ff00::1", 57), y = v6("2001:db8:1:7f::1", 57);
    assert_memory_equal(x.bytes, y.bytes, 16); /* 0x02 and 0x7f agree on their first bit */
    cg_admission_key z = v6("2001:db8:1:80::1", 57);
    assert_memory_not_equal(x.bytes, z.bytes, 16);
    /* /128: every address on its own. */
    cg_admission_key p = v6("2001:db8::1", 128), q = v6("2001:db8::2", 128);
    assert_memory_not_equal(p.bytes, q.bytes, 16);
    /* An IPv4-mapped address counts as the IPv4 address. */
    cg_admission_key m = v6("::ffff:192.0.2.7", 64), n = v4("192.0.2.7");
    assert_int_equal(m.family, 4);
    assert_memory_equal(m.bytes, n.bytes, 16);
    char out[64];
    cg_admission_key_format(&x, 57, out, sizeof out);
    assert_string_equal(out, "2001:db8:1::/57");
    cg_admission_key_format(&n, 64, out, sizeof out);
    assert_string_equal(out, "192.0.2.7");
    /* Unknown family: not counted, always admitted. */
    struct sockaddr un = { .sa_family = AF_UNIX };
    cg_admission_key none = cg_admission_key_of(&un, 64);
    assert_int_equal(none.family, 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(acquire(a, none, 1, 1, 0, &lg), CG_ADMIT_OK);
    cg_admission_free(a);
}

static void test_refusals_logged_once_per_period(void **state)
{
    (void)state;
    cg_admission *a = cg_admission_new();
    cg_admit_log lg;
    cg_admission_key k = v4("192.0.2.1");
    assert_int_equal(acquire(a, k, 1, 1, 5000, &lg), CG_ADMIT_OK);
    assert_false(lg.log);
    assert_int_equal(acquire(a, k, 1, 1, 5000, &lg), CG_ADMIT_HANDSHAKES);
    assert_true(lg.log); /* the first refusal is logged */
    assert_int_equal(lg.refused, 1);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(acquire(a, k, 1, 1, 5000 + (uint64_t)i * 100, &lg), CG_ADMIT_HANDSHAKES);
        assert_false(lg.log);
    }
    assert_int_equal(acquire(a, k, 1, 1, 15000, &lg), CG_ADMIT_HANDSHAKES);
    assert_true(lg.log); /* 10 s later: one line counting the 50 silent ones and itself */
    assert_int_equal(lg.refused, 51);
    assert_int_equal(lg.handshakes, 1);
    assert_int_equal(lg.open, 1);
    cg_admission_free(a);
}

static void test_table_bounded_by_live_addresses(void **state)
{
    (void)state;
    cg_admission *a = cg_admission_new();
    cg_admit_log lg;
    size_t used, cap, first_cap;
    cg_admission_size(a, &used, &first_cap);
    /* Many IPv6 /64s come and go, 100 at a time: the table holds at most
     * the live ones and never grows past what those need. */
    for (unsigned round = 0; round < 200; round++) {
        cg_admission_key keys[100];
        for (unsigned i = 0; i < 100; i++) {
            char ip[64];
            snprintf(ip, sizeof ip, "2001:db8:%x:%x::1", round, i);
            keys[i] = v6(ip, 64);
            assert_int_equal(acquire(a, keys[i], 4, 4, 0, &lg), CG_ADMIT_OK);
        }
        cg_admission_size(a, &used, &cap);
        assert_int_equal(used, 100);
        for (unsigned i = 0; i < 100; i++) {
            counts_are(a, keys[i], 1, 1); /* every one still found after the deletions before it */
            cg_admission_release(a, &keys[i], true);
        }
    }
    cg_admission_size(a, &used, &cap);
    assert_int_equal(used, 0);
    assert_int_equal(cap, first_cap);
    /* Growth keeps every count. */
    cg_admission_key keys[3000];
    for (unsigned i = 0; i < 3000; i++) {
        char ip[32];
        snprintf(ip, sizeof ip, "10.%u.%u.1", i / 256, i % 256);
        keys[i] = v4(ip);
        assert_int_equal(acquire(a, keys[i], 4, 4, 0, &lg), CG_ADMIT_OK);
        if (i % 3 == 0)
            assert_int_equal(acquire(a, keys[i], 4, 4, 0, &lg), CG_ADMIT_OK);
    }
    cg_admission_size(a, &used, &cap);
    assert_int_equal(used, 3000);
    assert_true(cap >= 6000);
    for (unsigned i = 0; i < 3000; i++)
        counts_are(a, keys[i], i % 3 == 0 ? 2 : 1, i % 3 == 0 ? 2 : 1);
    for (unsigned i = 0; i < 3000; i += 2)
        cg_admission_release(a, &keys[i], false);
    for (unsigned i = 0; i < 3000; i++) {
        uint32_t base = i % 3 == 0 ? 2 : 1, open = base - (i % 2 == 0);
        counts_are(a, keys[i], open ? base : 0, open); /* handshakes go with the entry */
    }
    cg_admission_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_handshakes_then_open),
        cmocka_unit_test(test_entry_goes_with_last_connection),
        cmocka_unit_test(test_ipv6_counted_per_prefix),
        cmocka_unit_test(test_refusals_logged_once_per_period),
        cmocka_unit_test(test_table_bounded_by_live_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
