/* Unit tests of the request pipeline (admit.c): the stages in their order
 * (the certificate's verdict before the rate, the rate before the route,
 * the route before the certificate requirement, that before the body size),
 * one answer per run by callback with what each stage decided, a request
 * waiting for a pending revocation verdict, and a cancelled request. The
 * client is filled in by hand: the verdict itself (after a TLS handshake) is
 * covered by the integration tests. */
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

#include "http/admit.h"
#include "revocation/crl_store.h"
#include "http/ratelimit.h"

typedef struct fixture {
    cg_config *cfg;
    cg_worker w;
    cg_services services;
    cg_conn conn;
    cg_client client;
    cg_http_request req;
    cg_admit a;
    /* what the callback saw */
    int answers;
    cg_admit_outcome outcome;
    bool close_after, had_token;
    cg_refusal why;
} fixture;

static fixture F;

/* The routes of most tests: "/" (client certificate required) and
 * "/public" (optional, max_request_body 10). */
#define ROUTES                          \
    "      - path: /\n"                 \
    "        backend: app\n"            \
    "      - path: /public\n"           \
    "        backend: app\n"            \
    "        client_cert: optional\n"   \
    "        max_request_body: 10\n"

/* One listener ("main", revocation off); listener_extra goes after "port:". */
static cg_config *load_ok(const char *listener_extra, const char *routes)
{
    char *y;
    int n = asprintf(&y,
                     "backends:\n"
                     "  - name: app\n"
                     "    url: http://127.0.0.1:8080\n"
                     "listeners:\n"
                     "  - name: main\n"
                     "    port: 8443\n"
                     "%s"
                     "    revocation: {mode: off}\n"
                     "    tls:\n"
                     "      certificate: s.crt\n"
                     "      key: s.key\n"
                     "      client_ca: ca.crt\n"
                     "    routes:\n"
                     "%s",
                     listener_extra, routes);
    assert_true(n > 0);
    cg_diag d;
    cg_diag_init(&d);
    cg_config *cfg = cg_config_load_string(y, strlen(y), "t.yaml", CG_CONFIG_SKIP_TLS, &d);
    free(y);
    if (!cfg || d.errors) { /* one warning: revocation is off */
        cg_diag_print(&d, stderr);
        fail_msg("expected a load without errors");
    }
    cg_diag_free(&d);
    return cfg;
}

static void on_answer(void *ctx, const cg_admit_answer *ans)
{
    fixture *f = ctx;
    f->answers++;
    f->outcome = ans->outcome;
    f->close_after = ans->close_after;
    f->had_token = ans->token != NULL;
    if (ans->why)
        f->why = *ans->why;
    else
        memset(&f->why, 0, sizeof f->why);
}

/* A client at 192.0.2.7; with_cert: a certificate that verified (ok) or not. */
static void setup_routes(const char *listener_extra, const char *routes, bool with_cert, bool ok)
{
    memset(&F, 0, sizeof F);
    F.cfg = load_ok(listener_extra, routes);
    cg_diag d;
    cg_diag_init(&d);
    F.services.crl = cg_crl_store_new(F.cfg, &d);
    cg_diag_free(&d);
    assert_non_null(F.services.crl);
    F.services.ratelimit = cg_ratelimit_new(64);
    assert_non_null(F.services.ratelimit);
    F.w.services = &F.services;
    F.conn.w = &F.w;
    F.conn.tls_cfg = F.cfg;
    F.conn.listener = 0;
    snprintf(F.conn.peer_ip, sizeof F.conn.peer_ip, "192.0.2.7");
    snprintf(F.conn.peer, sizeof F.conn.peer, "192.0.2.7:40000");
    struct sockaddr_in sin = { .sin_family = AF_INET };
    inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
    F.conn.admit_key = cg_admission_key_of((const struct sockaddr *)&sin, 64);

    F.client.conn = &F.conn;
    F.client.crl_generation = cg_crl_store_generation(F.services.crl);
    if (with_cert) {
        F.client.cert_present = true;
        F.client.cert_ok = ok;
        snprintf(F.client.fingerprint, sizeof F.client.fingerprint, "%064d", 7);
        snprintf(F.client.serial, sizeof F.client.serial, "01");
        cg_identity_format(F.client.identity, "cert", F.client.fingerprint);
        if (!ok)
            cg_refuse(&F.client.cert_refusal, CG_REFUSE_CERT_UNTRUSTED, "the chain does not verify");
    } else {
        snprintf(F.client.identity, sizeof F.client.identity, "anonymous");
        cg_refuse(&F.client.cert_refusal, CG_REFUSE_CERT_MISSING, "no certificate was sent");
    }

    F.a.client = &F.client;
    F.a.answer = on_answer;
    F.a.ctx = &F;
    F.a.cfg = F.cfg;
    F.a.req = &F.req;
    F.a.request_id = "t-1";
}

static void setup(const char *listener_extra, bool with_cert, bool ok)
{
    setup_routes(listener_extra, ROUTES, with_cert, ok);
}

static void teardown(void)
{
    cg_admit_cancel(&F.a);
    cg_client_close(&F.client);
    cg_ratelimit_free(F.services.ratelimit);
    cg_crl_store_free(F.services.crl);
    cg_config_unref(F.cfg);
}

/* Runs the pipeline for a request to path with a body of length bytes
 * (0: none) and checks that exactly one answer came. */
static void run(const char *path, uint64_t length)
{
    F.req.path = (cg_slice){ path, strlen(path) };
    F.req.body = length ? CG_BODY_LENGTH : CG_BODY_NONE;
    F.req.content_length = length;
    F.answers = 0;
    cg_admit_run(&F.a);
    assert_int_equal(F.answers, 1);
}

static void test_admitted_with_what_was_decided(void **state)
{
    (void)state;
    setup("", true, true);
    run("/app/x", 0);
    assert_int_equal(F.outcome, CG_ADMIT_FORWARD);
    assert_false(F.had_token); /* the backend does not delegate */
    assert_non_null(F.a.route);
    assert_string_equal(F.a.route->path, "/");
    assert_int_equal(F.a.backend, 0);
    assert_false(F.a.replay_ok);
    run("/public/page", 10); /* at the route's limit */
    assert_int_equal(F.outcome, CG_ADMIT_FORWARD);
    assert_string_equal(F.a.route->path, "/public");
    assert_int_equal(F.a.body_room, 10);
    teardown();
}

static void test_failed_verdict_before_route(void **state)
{
    (void)state;
    setup("", true, false);
    run("/app", 0);
    assert_int_equal(F.outcome, CG_ADMIT_REFUSED);
    assert_int_equal(F.why.kind, CG_REFUSE_CERT_UNTRUSTED);
    assert_true(F.close_after);
    assert_null(F.a.route); /* refused before the route was looked up */
    /* even where no certificate is required */
    run("/public", 0);
    assert_int_equal(F.why.kind, CG_REFUSE_CERT_UNTRUSTED);
    teardown();
}

static void test_no_route(void **state)
{
    (void)state;
    setup_routes("", "      - path: /public\n        backend: app\n", true, true);
    run("/private", 0);
    assert_int_equal(F.outcome, CG_ADMIT_REFUSED);
    assert_int_equal(F.why.kind, CG_REFUSE_NO_ROUTE);
    assert_false(F.close_after); /* the next request may match */
    assert_null(F.a.route);
    assert_non_null(strstr(F.why.detail, "\"/private\""));
    teardown();
}

static void test_certificate_required_after_route(void **state)
{
    (void)state;
    setup("", false, false);
    run("/app", 0);
    assert_int_equal(F.outcome, CG_ADMIT_REFUSED);
    assert_int_equal(F.why.kind, CG_REFUSE_CERT_MISSING);
    assert_true(F.close_after);
    assert_non_null(F.a.route); /* the access log names the route's backend */
    assert_string_equal(F.a.route->path, "/");
    /* the optional route lets the same client through */
    run("/public", 0);
    assert_int_equal(F.outcome, CG_ADMIT_FORWARD);
    teardown();
}

static void test_body_size_after_certificate(void **state)
{
    (void)state;
    setup("", false, false);
    run("/public/upload", 11);
    assert_int_equal(F.outcome, CG_ADMIT_REFUSED);
    assert_int_equal(F.why.kind, CG_REFUSE_BODY_TOO_LARGE);
    assert_true(F.close_after);
    assert_int_equal(F.a.body_room, 10);
    /* the certificate requirement comes first */
    run("/app", 11);
    assert_int_equal(F.why.kind, CG_REFUSE_CERT_MISSING);
    teardown();
}

static void test_rate_before_route(void **state)
{
    (void)state;
    setup("    rate_limit:\n      per_client: {rate: 1/m, burst: 1}\n", true, true);
    run("/app", 0);
    assert_int_equal(F.outcome, CG_ADMIT_FORWARD);
    run("/app", 0);
    assert_int_equal(F.outcome, CG_ADMIT_REFUSED);
    assert_int_equal(F.why.kind, CG_REFUSE_RATE_LIMITED);
    assert_false(F.close_after);
    assert_true(F.a.retry_after_s > 0);
    assert_null(F.a.route);
    teardown();
}

static void test_pending_verdict_waits(void **state)
{
    (void)state;
    setup("", true, true);
    F.client.verdict_pending = true; /* a revocation check in flight */
    F.req.path = (cg_slice){ "/app", 4 };
    cg_admit_run(&F.a);
    assert_int_equal(F.answers, 0);
    assert_ptr_equal(F.client.waiting, &F.a);
    /* the request goes away before the answer: nothing waits any more */
    cg_admit_cancel(&F.a);
    assert_null(F.client.waiting);
    assert_int_equal(F.answers, 0);
    F.client.verdict_pending = false;
    teardown();
}

/* A request that went without a token (its pooled connection was
 * authenticated: connection-bound) and lost that connection: the new one
 * needs a token, unless the backend asks for one itself (send: on_401) or
 * the request does not delegate. Shared by HTTP/1.1 and HTTP/2. */
static void test_new_connection_needs_token(void **state)
{
    (void)state;
    setup("", true, true);
    F.cfg->backends[0].kerberos = true;
    F.cfg->backends[0].connection_bound = true;
    F.client.mapped = true;
    F.a.backend = 0;
    assert_true(cg_admit_delegates(&F.a));
    assert_true(cg_admit_new_connection_needs_token(&F.a, false));
    assert_false(cg_admit_new_connection_needs_token(&F.a, true)); /* it carries its token already */
    F.cfg->backends[0].send_on_401_only = true;
    assert_false(cg_admit_new_connection_needs_token(&F.a, false));
    F.cfg->backends[0].send_on_401_only = false;
    F.client.mapped = false; /* nobody to delegate as */
    assert_false(cg_admit_new_connection_needs_token(&F.a, false));
    F.client.mapped = true;
    F.cfg->backends[0].kerberos = false;
    assert_false(cg_admit_new_connection_needs_token(&F.a, false));
    teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admitted_with_what_was_decided),
        cmocka_unit_test(test_failed_verdict_before_route),
        cmocka_unit_test(test_no_route),
        cmocka_unit_test(test_certificate_required_after_route),
        cmocka_unit_test(test_body_size_after_certificate),
        cmocka_unit_test(test_rate_before_route),
        cmocka_unit_test(test_pending_verdict_waits),
        cmocka_unit_test(test_new_connection_needs_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
