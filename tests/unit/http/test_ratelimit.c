/* Unit tests of the token buckets and their table (ratelimit.c): refill,
 * burst, Retry-After rounding, a clock read out of order, per-key and
 * per-listener buckets, the rate-limited refusal log, and the bound (LRU
 * reuse, idle buckets first, concurrent workers). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <uv.h>

#include "http/ratelimit.h"

#define S 1000000000ull  /* ns per second */
#define MS 1000000ull

static cg_rate per_s(uint32_t rate, uint32_t burst) { return (cg_rate){ rate * 60, burst }; }

static void test_burst_then_refused(void **state)
{
    (void)state;
    cg_rate r = per_s(2, 3);
    cg_bucket b = cg_bucket_full(&r, 100 * S);
    for (int i = 0; i < 3; i++)
        assert_int_equal(cg_bucket_take(&b, &r, 100 * S), 0);
    /* Empty: the next token comes in 1/2 s. */
    assert_int_equal(cg_bucket_take(&b, &r, 100 * S), S / 2);
    assert_int_equal(cg_rate_retry_after_s(S / 2), 1);
    /* Refused requests take nothing: still half a second. */
    assert_int_equal(cg_bucket_take(&b, &r, 100 * S), S / 2);
}

static void test_refill(void **state)
{
    (void)state;
    cg_rate r = per_s(2, 3);
    cg_bucket b = cg_bucket_full(&r, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(cg_bucket_take(&b, &r, 0), 0);
    /* 0.25 s later: half a token, 0.25 s more to wait. */
    assert_int_equal(cg_bucket_take(&b, &r, S / 4), S / 4);
    /* 0.5 s: one token, taken; the next is 0.5 s away. */
    assert_int_equal(cg_bucket_take(&b, &r, S / 2), 0);
    assert_int_equal(cg_bucket_take(&b, &r, S / 2), S / 2);
    /* A long idle time fills the bucket up to the burst, not beyond. */
    uint64_t later = 3600 * S;
    for (int i = 0; i < 3; i++)
        assert_int_equal(cg_bucket_take(&b, &r, later), 0);
    assert_true(cg_bucket_take(&b, &r, later) > 0);
    /* A very long idle time does not overflow. */
    b = (cg_bucket){ 0, 0 };
    assert_int_equal(cg_bucket_take(&b, &r, UINT64_MAX - 1), 0);
    assert_true(b.level <= 3 * CG_RATE_TOKEN);
}

static void test_fractional_and_large_rates(void **state)
{
    (void)state;
    /* 30 per minute: one token every 2 s. */
    cg_rate r = { 30, 1 };
    cg_bucket b = cg_bucket_full(&r, 0);
    assert_int_equal(cg_bucket_take(&b, &r, 0), 0);
    assert_int_equal(cg_bucket_take(&b, &r, 0), 2 * S);
    assert_int_equal(cg_bucket_take(&b, &r, 2 * S), 0);
    /* 1 per minute. */
    r = (cg_rate){ 1, 1 };
    b = cg_bucket_full(&r, 0);
    assert_int_equal(cg_bucket_take(&b, &r, 0), 0);
    assert_int_equal(cg_rate_retry_after_s(cg_bucket_take(&b, &r, 0)), 60);
    /* The largest: a million per second, a burst of a million. */
    r = per_s(1000000, CG_RATE_BURST_MAX);
    b = cg_bucket_full(&r, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(cg_bucket_take(&b, &r, (uint64_t)i), 0);
}

static void test_retry_after_rounding(void **state)
{
    (void)state;
    assert_int_equal(cg_rate_retry_after_s(0), 1);
    assert_int_equal(cg_rate_retry_after_s(1), 1);
    assert_int_equal(cg_rate_retry_after_s(S), 1);
    assert_int_equal(cg_rate_retry_after_s(S + 1), 2);
    assert_int_equal(cg_rate_retry_after_s(2 * S), 2);
    assert_int_equal(cg_rate_retry_after_s(59 * S + 1), 60);
    assert_int_equal(cg_rate_retry_after_s(UINT64_MAX), UINT32_MAX); /* capped */
    /* 3/s: 333,333,334 ns, rounded up to 1 s. */
    cg_rate r = per_s(3, 1);
    cg_bucket b = cg_bucket_full(&r, 0);
    assert_int_equal(cg_bucket_take(&b, &r, 0), 0);
    uint64_t wait = cg_bucket_take(&b, &r, 0);
    assert_true(wait >= S / 3 && wait <= S / 3 + 1);
    assert_int_equal(cg_rate_retry_after_s(wait), 1);
}

static void test_time_going_backwards(void **state)
{
    (void)state;
    cg_rate r = per_s(1, 2);
    cg_bucket b = cg_bucket_full(&r, 10 * S);
    assert_int_equal(cg_bucket_take(&b, &r, 10 * S), 0);
    assert_int_equal(cg_bucket_take(&b, &r, 10 * S), 0);
    /* An earlier clock (another worker read it a moment before) refills
     * nothing and does not move the bucket's time back... */
    assert_int_equal(cg_bucket_take(&b, &r, 9 * S), S);
    assert_int_equal(b.at_ns, 10 * S);
    /* ...so no token is earned twice. */
    assert_int_equal(cg_bucket_take(&b, &r, 11 * S), 0);
    assert_true(cg_bucket_take(&b, &r, 11 * S) > 0);
    assert_true(cg_bucket_take(&b, &r, 5 * S) > 0);
}

static void test_burst_lowered_by_reload(void **state)
{
    (void)state;
    cg_rate big = per_s(1, 100), small = per_s(1, 2);
    cg_bucket b = cg_bucket_full(&big, 0);
    assert_int_equal(cg_bucket_take(&b, &small, 0), 0);
    assert_int_equal(cg_bucket_take(&b, &small, 0), 0);
    assert_true(cg_bucket_take(&b, &small, 0) > 0);
}

static cg_rate_key client_key(unsigned n, uint16_t scope)
{
    cg_rate_key k = { .kind = CG_RATE_KEY_CLIENT, .scope = scope };
    memcpy(k.id, &n, sizeof n);
    return k;
}

static cg_rate_key address_key(unsigned n)
{
    cg_rate_key k = { .kind = CG_RATE_KEY_ADDRESS, .family = 4 };
    memcpy(k.id, &n, sizeof n);
    return k;
}

static bool take(cg_ratelimit *t, cg_rate_key k, cg_rate r, uint64_t now, cg_rate_verdict *v)
{
    cg_ratelimit_take(t, &k, &r, now, 10 * S, v);
    return v->allowed;
}

static void test_table_keys_are_separate(void **state)
{
    (void)state;
    cg_ratelimit *t = cg_ratelimit_new(1024);
    assert_non_null(t);
    cg_rate r = per_s(2, 3);
    cg_rate_verdict v;
    for (int i = 0; i < 3; i++)
        assert_true(take(t, client_key(1, 0), r, 0, &v));
    assert_false(take(t, client_key(1, 0), r, 0, &v));
    assert_int_equal(v.retry_after_s, 1);
    /* Another certificate, the same one on another listener, and an
     * address with the same bytes each have their own bucket. */
    assert_true(take(t, client_key(2, 0), r, 0, &v));
    assert_true(take(t, client_key(1, 1), r, 0, &v));
    assert_true(take(t, address_key(1), r, 0, &v));
    /* Refilled after the Retry-After time. */
    assert_true(take(t, client_key(1, 0), r, S / 2, &v));
    assert_false(take(t, client_key(1, 0), r, S / 2, &v));
    /* No limit: never refused, no bucket. */
    cg_rate off = { 0, 0 };
    size_t used, cap;
    uint64_t evicted;
    cg_ratelimit_stats(t, &used, &cap, &evicted);
    for (int i = 0; i < 10; i++)
        assert_true(take(t, client_key(99, 0), off, 0, &v));
    size_t used2;
    cg_ratelimit_stats(t, &used2, &cap, &evicted);
    assert_int_equal(used2, used);
    cg_ratelimit_free(t);
}

static void test_refusals_logged_once_per_period(void **state)
{
    (void)state;
    cg_ratelimit *t = cg_ratelimit_new(1024);
    cg_rate r = per_s(1, 1);
    cg_rate_verdict v;
    assert_true(take(t, client_key(5, 0), r, S, &v));
    assert_false(take(t, client_key(5, 0), r, S, &v));
    assert_true(v.log);
    assert_int_equal(v.refused, 1);
    for (int i = 0; i < 5; i++) {
        assert_false(take(t, client_key(5, 0), r, S + (uint64_t)i, &v));
        assert_false(v.log);
    }
    /* 10 s later: one line for the refusals since. The bucket refilled,
     * so empty it first. */
    assert_true(take(t, client_key(5, 0), r, 11 * S, &v));
    assert_false(take(t, client_key(5, 0), r, 11 * S, &v));
    assert_true(v.log);
    assert_int_equal(v.refused, 6);
    /* A clock read out of order neither logs nor breaks the count. */
    assert_false(take(t, client_key(5, 0), r, 2 * S, &v));
    assert_false(v.log);
    cg_ratelimit_free(t);
}

static void test_table_is_bounded(void **state)
{
    (void)state;
    cg_ratelimit *t = cg_ratelimit_new(256);
    cg_rate r = per_s(1, 2);
    cg_rate_verdict v;
    size_t used, cap;
    uint64_t evicted;
    cg_ratelimit_stats(t, &used, &cap, &evicted);
    assert_int_equal(used, 0);
    assert_int_equal(cap, 256);
    /* One active client, then a flood of new keys (an attacker with many
     * addresses), all at the same moment: the table never grows past its
     * bound. */
    assert_true(take(t, client_key(0, 0), r, 0, &v));
    assert_true(take(t, client_key(0, 0), r, 0, &v));
    for (unsigned i = 1; i <= 100000; i++)
        assert_true(take(t, address_key(i), r, 0, &v));
    cg_ratelimit_stats(t, &used, &cap, &evicted);
    assert_int_equal(used, 256);
    assert_int_equal(cap, 256);
    /* Those buckets were in use (one token taken, not refilled): reusing
     * them is counted. */
    assert_true(evicted > 90000);
    cg_ratelimit_free(t);
}

static void test_idle_buckets_go_first(void **state)
{
    (void)state;
    cg_ratelimit *t = cg_ratelimit_new(64); /* 16 shards of 4 */
    cg_rate r = per_s(1, 2);
    cg_rate_verdict v;
    size_t used, cap;
    uint64_t evicted;
    /* Many keys, each used once long ago (t=0): idle, refilled by now. */
    for (unsigned i = 0; i < 1000; i++)
        assert_true(take(t, address_key(i), r, 0, &v));
    /* Then an active client, emptied at t=100 s: the most recently used. */
    uint64_t now = 100 * S;
    assert_true(take(t, client_key(7, 0), r, now, &v));
    assert_true(take(t, client_key(7, 0), r, now, &v));
    assert_false(take(t, client_key(7, 0), r, now, &v));
    cg_ratelimit_stats(t, &used, &cap, &evicted);
    uint64_t before = evicted;
    /* New keys now: they reuse the least recently used buckets, idle ones
     * (not counted), and the active client keeps its bucket: still empty. */
    for (unsigned i = 0; i < 3; i++)
        assert_true(take(t, address_key(5000 + i), r, now, &v));
    assert_false(take(t, client_key(7, 0), r, now, &v));
    cg_ratelimit_stats(t, &used, &cap, &evicted);
    assert_int_equal(evicted, before);
    assert_true(used <= 64);
    cg_ratelimit_free(t);
}

/* Workers take tokens from the same buckets at once: exactly burst + what
 * the rate earns is allowed, whatever the interleaving. */
typedef struct {
    cg_ratelimit *t;
    int allowed;
} worker_arg;

static void worker(void *p)
{
    worker_arg *a = p;
    cg_rate r = per_s(1, 100);
    for (int i = 0; i < 1000; i++) {
        cg_rate_key k = client_key(42, 0);
        cg_rate_verdict v;
        cg_ratelimit_take(a->t, &k, &r, 5 * S, 10 * S, &v);
        a->allowed += v.allowed;
        /* And others' keys meanwhile. */
        k = address_key((unsigned)i);
        cg_ratelimit_take(a->t, &k, &r, 5 * S, 10 * S, &v);
    }
}

static void test_shared_across_threads(void **state)
{
    (void)state;
    cg_ratelimit *t = cg_ratelimit_new(4096);
    uv_thread_t th[4];
    worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg){ t, 0 };
        assert_int_equal(uv_thread_create(&th[i], worker, &args[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        uv_thread_join(&th[i]);
        total += args[i].allowed;
    }
    assert_int_equal(total, 100);
    cg_ratelimit_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refused),
        cmocka_unit_test(test_refill),
        cmocka_unit_test(test_fractional_and_large_rates),
        cmocka_unit_test(test_retry_after_rounding),
        cmocka_unit_test(test_time_going_backwards),
        cmocka_unit_test(test_burst_lowered_by_reload),
        cmocka_unit_test(test_table_keys_are_separate),
        cmocka_unit_test(test_refusals_logged_once_per_period),
        cmocka_unit_test(test_table_is_bounded),
        cmocka_unit_test(test_idle_buckets_go_first),
        cmocka_unit_test(test_shared_across_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
