/* Unit tests for the Prometheus exposition formatter (metrics.c), the
 * readiness JSON string (health.c) and the workers' request table (stats.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/health.h"
#include "server/metrics.h"
#include "base/stats.h"

static char *text(cg_prom *p)
{
    assert_false(p->oom);
    cg_buf_append(&p->out, "", 1);
    return p->out.data;
}

static void test_family_and_help_escaping(void **state)
{
    (void)state;
    cg_prom p = { 0 };
    cg_prom_family(&p, "certgate_x_total", "counter", "a \\ backslash and a\nline feed, \"quotes\" kept");
    assert_string_equal(text(&p), "# HELP certgate_x_total a \\\\ backslash and a\\nline feed, \"quotes\" kept\n"
                                  "# TYPE certgate_x_total counter\n");
    cg_buf_free(&p.out);
}

static void test_label_escaping(void **state)
{
    (void)state;
    cg_prom p = { 0 };
    cg_prom_label l[] = { { "issuer", "CN=a\\,b \"q\"\nO=x" }, { "route", "/é" } };
    cg_prom_sample(&p, "m", l, 2, 3);
    assert_string_equal(text(&p), "m{issuer=\"CN=a\\\\,b \\\"q\\\"\\nO=x\",route=\"/é\"} 3\n");
    cg_buf_free(&p.out);
}

static void test_values(void **state)
{
    (void)state;
    cg_prom p = { 0 };
    cg_prom_sample(&p, "a", NULL, 0, 0);
    cg_prom_sample(&p, "b", NULL, 0, 18446744073709551615.0); /* past 2^53: not printed as an integer */
    cg_prom_sample(&p, "c", NULL, 0, -42);
    cg_prom_sample(&p, "d", NULL, 0, 0.1);
    cg_prom_sample(&p, "e", NULL, 0, 1.0 / 3);
    cg_prom_sample(&p, "f", NULL, 0, 9007199254740991.0);
    assert_string_equal(text(&p), "a 0\nb 1.8446744073709552e+19\nc -42\nd 0.1\ne 0.33333333333333331\n"
                                  "f 9007199254740991\n");
    cg_buf_free(&p.out);
}

static void test_histogram_cumulative(void **state)
{
    (void)state;
    cg_prom p = { 0 };
    const double bounds[] = { 0.005, 0.1, 1 };
    const uint64_t counts[] = { 2, 0, 5, 1 }; /* per bucket; the last above 1 */
    cg_prom_label l[] = { { "listener", "main" } };
    cg_prom_histogram(&p, "h_seconds", l, 1, bounds, 3, counts, 7.25);
    assert_string_equal(text(&p), "h_seconds_bucket{listener=\"main\",le=\"0.005\"} 2\n"
                                  "h_seconds_bucket{listener=\"main\",le=\"0.1\"} 2\n"
                                  "h_seconds_bucket{listener=\"main\",le=\"1\"} 7\n"
                                  "h_seconds_bucket{listener=\"main\",le=\"+Inf\"} 8\n"
                                  "h_seconds_sum{listener=\"main\"} 7.25\n"
                                  "h_seconds_count{listener=\"main\"} 8\n");
    cg_buf_free(&p.out);
    cg_prom q = { 0 };
    cg_prom_histogram(&q, "g", NULL, 0, bounds, 3, (const uint64_t[]){ 0, 0, 0, 0 }, 0);
    assert_string_equal(text(&q), "g_bucket{le=\"0.005\"} 0\ng_bucket{le=\"0.1\"} 0\ng_bucket{le=\"1\"} 0\n"
                                  "g_bucket{le=\"+Inf\"} 0\ng_sum 0\ng_count 0\n");
    cg_buf_free(&q.out);
}

static void test_hist_slots(void **state)
{
    (void)state;
    assert_int_equal(cg_hist_slot(0), 0);
    assert_int_equal(cg_hist_slot(500000), 0);   /* 0.0005 s: le is inclusive */
    assert_int_equal(cg_hist_slot(500001), 1);
    assert_int_equal(cg_hist_slot(10000000000ull), CG_HIST_BUCKETS - 1);
    assert_int_equal(cg_hist_slot(10000000001ull), CG_HIST_BUCKETS);
    cg_histogram h = { 0 };
    cg_hist_observe(&h, 2000000);
    cg_hist_observe(&h, 3000000);
    assert_int_equal(cg_counter_get(&h.bucket[2]), 1); /* <= 0.0025 */
    assert_int_equal(cg_counter_get(&h.bucket[3]), 1); /* <= 0.005 */
    assert_int_equal(cg_counter_get(&h.sum_ns), 5000000);
}

static void test_json_string(void **state)
{
    (void)state;
    cg_prom p = { 0 };
    cg_health_json_string(&p, "a\"b\\c\n\x01\x7f é");
    assert_string_equal(text(&p), "\"a\\\"b\\\\c\\u000a\\u0001\\u007f é\"");
    cg_buf_free(&p.out);
}

static void test_request_table(void **state)
{
    (void)state;
    cg_worker_stats *s = calloc(1, sizeof *s);
    assert_non_null(s);
    for (int i = 0; i < 5; i++)
        cg_stats_request(s, 7, 200, CG_REFUSE_NONE);
    cg_stats_request(s, 7, 403, CG_REFUSE_CERT_REVOKED);
    cg_stats_request(s, CG_STATS_NO_ROUTE | 2, 404, CG_REFUSE_NO_ROUTE);
    uint64_t ok = 0, revoked = 0, noroute = 0;
    unsigned keys = 0;
    for (uint32_t i = 0; i < CG_STATS_REQ_SLOTS; i++) {
        uint32_t k = s->req[i].key;
        if (!k)
            continue;
        keys++;
        uint32_t ser;
        int st;
        cg_refusal_kind kind;
        cg_stats_req_decode(k, &ser, &st, &kind);
        if (ser == 7 && st == 200 && kind == CG_REFUSE_NONE)
            ok = s->req[i].n;
        if (ser == 7 && st == 403 && kind == CG_REFUSE_CERT_REVOKED)
            revoked = s->req[i].n;
        if (ser == (CG_STATS_NO_ROUTE | 2) && st == 404 && kind == CG_REFUSE_NO_ROUTE)
            noroute = s->req[i].n;
    }
    assert_int_equal(keys, 3);
    assert_int_equal(ok, 5);
    assert_int_equal(revoked, 1);
    assert_int_equal(noroute, 1);
    /* Full: further label sets are counted without labels, never lost. */
    for (uint32_t i = 0; i < CG_STATS_REQ_MAX + 10; i++)
        cg_stats_request(s, 100 + i, 200, CG_REFUSE_NONE);
    assert_int_equal(s->req_keys, CG_STATS_REQ_MAX);
    assert_int_equal(cg_counter_get(&s->requests_unlabelled), 13);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_family_and_help_escaping),
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_histogram_cumulative),
        cmocka_unit_test(test_hist_slots),
        cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_request_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
