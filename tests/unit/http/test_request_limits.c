/* Unit tests of request limits: their configuration (config_limits.c:
 * max_request_body on listeners and routes, rate_limit; sizes and rates,
 * diagnostics at the value's position), which limit a route gets, the 413
 * sentences, and the per-request rate check (request_limits.c): who a
 * client is, both buckets, Retry-After. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/admission.h"
#include "config/config.h"
#include "config/config_limits.h"
#include "http/request_limits.h"

#define NAME "t.yaml"

/* A listener (line 4 on) whose extra lines come after "port:" (line 6) and
 * a route whose extra lines come after "backend: app" (line 9 + extra). */
static char *yaml_with(const char *listener_extra, const char *route_extra)
{
    char *out;
    int n = asprintf(&out,
                     "backends:\n"
                     "  - name: app\n"
                     "    url: http://127.0.0.1:8080\n"
                     "listeners:\n"
                     "  - name: main\n"
                     "    port: 8443\n"
                     "%s"
                     "    tls:\n"
                     "      certificate: s.crt\n"
                     "      key: s.key\n"
                     "      client_ca: ca.crt\n"
                     "    routes:\n"
                     "      - path: /\n"
                     "        backend: app\n"
                     "      - path: /upload\n"
                     "        backend: app\n"
                     "%s",
                     listener_extra, route_extra);
    assert_true(n > 0);
    return out;
}

static cg_config *load(const char *listener_extra, const char *route_extra, cg_diag *d)
{
    char *y = yaml_with(listener_extra, route_extra);
    cg_diag_init(d);
    cg_config *cfg = cg_config_load_string(y, strlen(y), NAME, CG_CONFIG_SKIP_TLS, d);
    free(y);
    return cfg;
}

static cg_config *load_ok(const char *listener_extra, const char *route_extra)
{
    cg_diag d;
    cg_config *cfg = load(listener_extra, route_extra, &d);
    if (!cfg || d.count) {
        cg_diag_print(&d, stderr);
        fail_msg("expected a clean load");
    }
    cg_diag_free(&d);
    return cfg;
}

static void expect_error(const char *listener_extra, const char *route_extra, int line, int col, const char *sub)
{
    cg_diag d;
    cg_config *cfg = load(listener_extra, route_extra, &d);
    bool found = false;
    for (size_t i = 0; i < d.count; i++)
        if (d.items[i].severity == CG_DIAG_ERROR && d.items[i].line == line && d.items[i].column == col &&
            strstr(d.items[i].message, sub))
            found = true;
    if (cfg || !found) {
        fprintf(stderr, "expected an error at %d:%d containing \"%s\"; got:\n", line, col, sub);
        cg_diag_print(&d, stderr);
        fail_msg("%s", cfg ? "config loaded" : "error not found");
    }
    cg_diag_free(&d);
}

static void test_defaults_are_off(void **state)
{
    (void)state;
    cg_config *cfg = load_ok("", "");
    const cg_listener_cfg *l = &cfg->listeners[0];
    assert_int_equal(l->max_request_body, 0);
    assert_int_equal(l->rate_per_client.per_minute, 0);
    assert_int_equal(l->rate_per_address.per_minute, 0);
    assert_false(cg_request_rate_enabled(l));
    assert_false(l->routes[1].has_max_request_body);
    assert_true(cg_request_body_max(l, &l->routes[0]) == UINT64_MAX);
    assert_true(cg_request_body_max(l, NULL) == UINT64_MAX);
    cg_config_unref(cfg);
}

static void test_body_limit_and_route_override(void **state)
{
    (void)state;
    cg_config *cfg = load_ok("    max_request_body: 10m\n", "        max_request_body: 1g\n");
    const cg_listener_cfg *l = &cfg->listeners[0];
    assert_int_equal(l->max_request_body, 10u << 20);
    assert_int_equal(cg_request_body_max(l, &l->routes[0]), 10u << 20); /* inherits */
    assert_true(l->routes[1].has_max_request_body);
    assert_int_equal(cg_request_body_max(l, &l->routes[1]), 1ull << 30); /* its own */
    cg_config_unref(cfg);

    /* A route may lift the listener's limit (0: unlimited), and sizes are
     * the ones max_request_head takes. */
    cfg = load_ok("    max_request_body: 16k\n", "        max_request_body: 0\n");
    l = &cfg->listeners[0];
    assert_int_equal(cg_request_body_max(l, &l->routes[0]), 16384);
    assert_true(cg_request_body_max(l, &l->routes[1]) == UINT64_MAX);
    cg_config_unref(cfg);

    cfg = load_ok("    max_request_body: 1000\n", "");
    assert_int_equal(cfg->listeners[0].max_request_body, 1000);
    cg_config_unref(cfg);
    cfg = load_ok("    max_request_body: 1024g\n", "");
    assert_true(cfg->listeners[0].max_request_body == 1024ull << 30);
    cg_config_unref(cfg);
}

static void test_body_limit_errors(void **state)
{
    (void)state;
    expect_error("    max_request_body: 10mb\n", "", 7, 23, "listeners[main].max_request_body: \"10mb\" is not a size");
    expect_error("    max_request_body: -1\n", "", 7, 23, "is not a size");
    expect_error("    max_request_body: 1025g\n", "", 7, 23, "out of range");
    expect_error("    max_request_body: 99999999999999999999999\n", "", 7, 23, "is not a size");
    expect_error("    max_request_body: [1]\n", "", 7, 23, "max_request_body");
    /* On a route: the route's path in the message. */
    expect_error("", "        max_request_body: ten\n", 16, 27,
                 "listeners[main].routes[/upload].max_request_body: \"ten\" is not a size");
}

static void test_rates(void **state)
{
    (void)state;
    uint32_t pm;
    assert_true(cg_parse_rate("20", &pm));
    assert_int_equal(pm, 1200);
    assert_true(cg_parse_rate("20/s", &pm));
    assert_int_equal(pm, 1200);
    assert_true(cg_parse_rate("30/m", &pm));
    assert_int_equal(pm, 30);
    assert_true(cg_parse_rate("1/m", &pm));
    assert_int_equal(pm, 1);
    assert_true(cg_parse_rate("1000000/s", &pm));
    assert_int_equal(pm, 60000000);
    const char *bad[] = { "", "0", "0/m", "1000001/s", "60000001/m", "2/h", "1.5", "-1", "20/", "/s", "20 /s",
                          "99999999999999999999/m", NULL };
    for (int i = 0; bad[i]; i++)
        if (cg_parse_rate(bad[i], &pm))
            fail_msg("\"%s\" parsed as a rate", bad[i]);
    char buf[32];
    assert_string_equal(cg_rate_format(1200, buf, sizeof buf), "20/s");
    assert_string_equal(cg_rate_format(30, buf, sizeof buf), "30/m");
}

static void test_rate_limit_section(void **state)
{
    (void)state;
    cg_config *cfg = load_ok("    rate_limit:\n"
                             "      per_client: {rate: 2/s, burst: 3}\n"
                             "      per_address:\n"
                             "        rate: 90/m\n",
                             "");
    const cg_listener_cfg *l = &cfg->listeners[0];
    assert_true(cg_request_rate_enabled(l));
    assert_int_equal(l->rate_per_client.per_minute, 120);
    assert_int_equal(l->rate_per_client.burst, 3);
    assert_int_equal(l->rate_per_address.per_minute, 90);
    assert_int_equal(l->rate_per_address.burst, 2); /* default: a second's worth, rounded up */
    cg_config_unref(cfg);

    expect_error("    rate_limit:\n      per_client: {rate: fast}\n", "", 8, 26,
                 "listeners[main].rate_limit.per_client.rate: \"fast\" is not a rate");
    expect_error("    rate_limit:\n      per_client: {burst: 3}\n", "", 8, 19, "missing required key \"rate\"");
    expect_error("    rate_limit:\n      per_client: {rate: 2, burst: 0}\n", "", 8, 36,
                 "rate_limit.per_client.burst: expected a whole number from 1 to 1000000");
    expect_error("    rate_limit:\n      per_client: {rate: 2, burst: 1000001}\n", "", 8, 36, "burst");
    expect_error("    rate_limit:\n      per_host: {rate: 2}\n", "", 8, 7, "unknown key \"per_host\"");
    expect_error("    rate_limit:\n      per_client: {rate: 2, bursts: 3}\n", "", 8, 29, "unknown key \"bursts\"");
    expect_error("    rate_limit: 20/s\n", "", 7, 17, "rate_limit: expected a mapping");
    expect_error("    rate_limit:\n      per_client: 20/s\n", "", 8, 19, "per_client: expected a mapping");
}

static void test_body_refusals_say_which_limit(void **state)
{
    (void)state;
    cg_config *cfg = load_ok("    max_request_body: 1k\n", "        max_request_body: 2k\n");
    const cg_listener_cfg *l = &cfg->listeners[0];
    cg_refusal why;
    cg_request_body_refusal(&why, l, &l->routes[0], 1024, 5000, true);
    assert_int_equal(why.kind, CG_REFUSE_BODY_TOO_LARGE);
    assert_non_null(strstr(why.detail, "Content-Length: 5000"));
    assert_non_null(strstr(why.detail, "max_request_body of listener \"main\" (1k = 1024 bytes)"));
    assert_non_null(strstr(why.detail, "nothing was forwarded"));
    cg_request_body_refusal(&why, l, &l->routes[1], 2048, 2000, false);
    assert_non_null(strstr(why.detail, "max_request_body of route \"/upload\" of listener \"main\" (2k"));
    assert_non_null(strstr(why.detail, "after 2000 bytes were forwarded"));
    assert_non_null(strstr(why.detail, "backend connection"));
    assert_int_equal(cg_refusal_status(CG_REFUSE_BODY_TOO_LARGE), 413);
    assert_string_equal(cg_refusal_code(CG_REFUSE_BODY_TOO_LARGE), "request_body_too_large");
    assert_int_equal(cg_refusal_status(CG_REFUSE_RATE_LIMITED), 429);
    assert_string_equal(cg_refusal_code(CG_REFUSE_RATE_LIMITED), "rate_limited");
    assert_string_equal(cg_http_reason_phrase(413), "Content Too Large");
    assert_string_equal(cg_http_reason_phrase(429), "Too Many Requests");
    cg_config_unref(cfg);
}

static cg_admission_key v4(const char *ip)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    assert_int_equal(inet_pton(AF_INET, ip, &sa.sin_addr), 1);
    return cg_admission_key_of((struct sockaddr *)&sa, 64);
}

#define FP_A "aa00000000000000000000000000000000000000000000000000000000000001"
#define FP_B "bb00000000000000000000000000000000000000000000000000000000000002"

static bool check(cg_ratelimit *t, const cg_listener_cfg *l, const cg_admission_key *addr, const char *fp,
                  uint64_t now, uint32_t *retry, cg_refusal *why)
{
    cg_rate_client who = { .address = addr, .ipv6_prefix = 64, .fingerprint = fp, .peer = "x", .request_id = "r" };
    return cg_request_rate_check(t, l, 0, &who, now, why, retry);
}

static void test_rate_check_per_client(void **state)
{
    (void)state;
    cg_config *cfg = load_ok("    rate_limit:\n      per_client: {rate: 2/s, burst: 3}\n", "");
    const cg_listener_cfg *l = &cfg->listeners[0];
    cg_ratelimit *t = cg_ratelimit_new(1024);
    cg_admission_key a1 = v4("192.0.2.1"), a2 = v4("192.0.2.2");
    cg_refusal why;
    uint32_t retry = 0;
    uint64_t now = 1000000000000ull;
    for (int i = 0; i < 3; i++)
        assert_true(check(t, l, &a1, FP_A, now, &retry, &why));
    assert_false(check(t, l, &a1, FP_A, now, &retry, &why));
    assert_int_equal(why.kind, CG_REFUSE_RATE_LIMITED);
    assert_int_equal(retry, 1);
    assert_non_null(strstr(why.detail, "certificate SHA-256 " FP_A));
    assert_non_null(strstr(why.detail, "rate_limit.per_client (2/s, burst 3)"));
    /* The certificate, not the address: from another address, still
     * refused; another certificate from the same address, allowed. */
    assert_false(check(t, l, &a2, FP_A, now, &retry, &why));
    assert_true(check(t, l, &a1, FP_B, now, &retry, &why));
    /* Without a certificate, the address is the client. */
    for (int i = 0; i < 3; i++)
        assert_true(check(t, l, &a1, NULL, now, &retry, &why));
    assert_false(check(t, l, &a1, NULL, now, &retry, &why));
    assert_non_null(strstr(why.detail, "address 192.0.2.1"));
    assert_true(check(t, l, &a2, NULL, now, &retry, &why));
    /* Half a second later: one more. */
    assert_true(check(t, l, &a1, FP_A, now + 500000000, &retry, &why));
    cg_ratelimit_free(t);
    cg_config_unref(cfg);
}

static void test_rate_check_per_address(void **state)
{
    (void)state;
    cg_config *cfg = load_ok("    rate_limit:\n"
                             "      per_client: {rate: 100/s, burst: 100}\n"
                             "      per_address: {rate: 1/s, burst: 2}\n",
                             "");
    const cg_listener_cfg *l = &cfg->listeners[0];
    cg_ratelimit *t = cg_ratelimit_new(1024);
    cg_admission_key a1 = v4("192.0.2.1"), a2 = v4("192.0.2.2"), none = { .family = 0 };
    cg_refusal why;
    uint32_t retry = 0;
    /* Two certificates behind one address (a NAT): the address's bucket. */
    assert_true(check(t, l, &a1, FP_A, 0, &retry, &why));
    assert_true(check(t, l, &a1, FP_B, 0, &retry, &why));
    assert_false(check(t, l, &a1, FP_A, 0, &retry, &why));
    assert_non_null(strstr(why.detail, "rate_limit.per_address (1/s, burst 2)"));
    assert_int_equal(retry, 1);
    assert_true(check(t, l, &a2, FP_A, 0, &retry, &why));
    /* An address that is not known is not counted per address. */
    for (int i = 0; i < 10; i++)
        assert_true(check(t, l, &none, FP_B, 0, &retry, &why));
    cg_ratelimit_free(t);
    cg_config_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_off),
        cmocka_unit_test(test_body_limit_and_route_override),
        cmocka_unit_test(test_body_limit_errors),
        cmocka_unit_test(test_rates),
        cmocka_unit_test(test_rate_limit_section),
        cmocka_unit_test(test_body_refusals_say_which_limit),
        cmocka_unit_test(test_rate_check_per_client),
        cmocka_unit_test(test_rate_check_per_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
