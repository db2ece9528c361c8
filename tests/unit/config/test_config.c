/* Unit tests for src/config.c: schema, defaults, diagnostics (exact
 * positions), value parsers, route lookup and snapshot lifetime.
 * Everything loads with CG_CONFIG_SKIP_TLS: certificate loading is tls.c's. */
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config/config.h"
#include "base/error_page.h"
#include "server/snapshot_builders.h"
#include "fixtures.h"

#define NAME "t.yaml"

/* Valid building blocks. MIN_BACKENDS is 3 lines, so a listener written
 * after it starts on line 4. */
#define MIN_BACKENDS \
    "backends:\n" \
    "  - name: app\n" \
    "    url: http://127.0.0.1:8080\n"

#define MIN_LISTENERS \
    "listeners:\n" \
    "  - name: main\n" \
    "    port: 8443\n" \
    "    tls:\n" \
    "      certificate: s.crt\n" \
    "      key: s.key\n" \
    "      client_ca: ca.crt\n" \
    "    routes:\n" \
    "      - path: /\n" \
    "        backend: app\n"

#define MINIMAL MIN_BACKENDS MIN_LISTENERS

static cg_config *load(const char *yaml, cg_diag *d)
{
    cg_diag_init(d);
    return cg_config_load_string(yaml, strlen(yaml), NAME, CG_CONFIG_SKIP_TLS, d);
}

static bool has_diag(const cg_diag *d, cg_diag_severity sev, int line, int col, const char *sub)
{
    for (size_t i = 0; i < d->count; i++) {
        const cg_diag_item *it = &d->items[i];
        if (it->severity == sev && it->line == line && it->column == col &&
            strstr(it->message, sub))
            return true;
    }
    return false;
}

/* yaml must fail with an error at line:col whose message contains sub. */
static void check_error(const char *yaml, int line, int col, const char *sub, const char *where,
                        int at)
{
    cg_diag d;
    cg_config *cfg = load(yaml, &d);
    if (cfg || !has_diag(&d, CG_DIAG_ERROR, line, col, sub)) {
        fprintf(stderr, "--- %s:%d: expected error at %d:%d containing \"%s\"; got:\n", where, at,
                line, col, sub);
        cg_diag_print(&d, stderr);
        fail_msg("%s", cfg ? "config loaded" : "error not found");
    }
    assert_true(d.errors >= 1);
    cg_diag_free(&d);
}
#define expect_error(yaml, line, col, sub) check_error(yaml, line, col, sub, __FILE__, __LINE__)

/* yaml must load with no diagnostics at all; the caller unrefs. */
static cg_config *check_ok(const char *yaml, const char *where, int at)
{
    cg_diag d;
    cg_config *cfg = load(yaml, &d);
    if (!cfg || d.count) {
        fprintf(stderr, "--- %s:%d: expected a clean load; got:\n", where, at);
        cg_diag_print(&d, stderr);
        fail_msg("unexpected diagnostics");
    }
    cg_diag_free(&d);
    return cfg;
}
#define expect_ok(yaml) check_ok(yaml, __FILE__, __LINE__)

static char *cwd_join(const char *rel)
{
    char cwd[PATH_MAX], *out;
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_true(asprintf(&out, "%s/%s", cwd, rel) > 0);
    return out;
}

static void assert_cwd_path(const char *got, const char *rel)
{
    char *want = cwd_join(rel);
    assert_string_equal(got, want);
    free(want);
}

/* ---- valid configurations ---- */

static void test_minimal_defaults(void **state)
{
    (void)state;
    cg_config *cfg = expect_ok(MINIMAL);

    assert_int_equal(atomic_load(&cfg->refs), 1);
    assert_string_equal(cfg->file, NAME);
    assert_int_equal(cfg->workers, 1);
    assert_int_equal(cfg->log_level, CG_LOG_INFO);
    assert_null(cfg->log_file);
    assert_int_equal(cfg->log_format, CG_LOG_LOGFMT);
    assert_false(cfg->log_query);

    assert_int_equal(cfg->limits.max_connections, 10000);
    assert_int_equal(cfg->limits.max_request_head, 16 * 1024);
    assert_int_equal(cfg->limits.max_header_line, 8 * 1024);
    assert_int_equal(cfg->limits.max_headers, 100);
    assert_int_equal(cfg->limits.max_response_head, 32 * 1024);
    assert_int_equal(cfg->limits.max_requests_per_connection, 0);
    assert_int_equal(cfg->limits.max_handshakes_per_address, 256);
    assert_int_equal(cfg->limits.max_connections_per_address, 4096);
    assert_int_equal(cfg->limits.per_address_ipv6_prefix, 64);

    assert_int_equal(cfg->timeouts.handshake, 10000);
    assert_int_equal(cfg->timeouts.request_header, 10000);
    assert_int_equal(cfg->timeouts.client_body, 60000);
    assert_int_equal(cfg->timeouts.keepalive_idle, 60000);
    assert_int_equal(cfg->timeouts.backend_connect, 5000);
    assert_int_equal(cfg->timeouts.backend_response, 60000);
    assert_int_equal(cfg->timeouts.backend_idle, 30000);
    assert_int_equal(cfg->timeouts.shutdown, 30000);

    assert_int_equal(cfg->nbackends, 1);
    const cg_backend_cfg *b = &cfg->backends[0];
    assert_string_equal(b->name, "app");
    assert_string_equal(b->url, "http://127.0.0.1:8080");
    assert_string_equal(b->host, "127.0.0.1");
    assert_int_equal(b->port, 8080);
    assert_string_equal(b->host_header, "127.0.0.1:8080");
    assert_int_equal(b->max_idle, 32);
    assert_int_equal(b->max_connections, 128);

    assert_int_equal(cfg->nlisteners, 1);
    const cg_listener_cfg *l = &cfg->listeners[0];
    assert_string_equal(l->name, "main");
    assert_string_equal(l->address, "0.0.0.0");
    assert_int_equal(l->port, 8443);
    assert_cwd_path(l->cert_file, "s.crt");
    assert_cwd_path(l->key_file, "s.key");
    assert_null(l->chain_file);
    assert_cwd_path(l->client_ca_file, "ca.crt");
    assert_true(l->client_ca_names);
    assert_true(l->require_client_auth_eku);
    assert_true(l->session_tickets);
    assert_int_equal(l->session_ticket_lifetime_s, 3600);
    assert_int_equal(l->cert_pos.line, 8);
    assert_int_equal(l->cert_pos.column, 20);
    assert_int_equal(l->key_pos.line, 9);
    assert_int_equal(l->key_pos.column, 12);
    assert_int_equal(l->client_ca_pos.line, 10);
    assert_int_equal(l->client_ca_pos.column, 18);
    assert_int_equal(l->chain_pos.line, 0);
    assert_false(l->forward_client_cert);
    assert_null(l->tls);

    assert_int_equal(l->nroutes, 1);
    assert_string_equal(l->routes[0].path, "/");
    assert_int_equal(l->routes[0].path_len, 1);
    assert_int_equal(l->routes[0].backend, 0);
    assert_true(l->routes[0].client_cert_required);

    cg_config_unref(cfg);
}

static const char full_yaml[] =
    "workers: 3\n"
    "logging:\n"
    "  level: debug\n"
    "  file: /var/log/certgate.log\n"
    "limits:\n"
    "  max_connections: 500\n"
    "  max_request_head: 32k\n"
    "  max_header_line: 4096\n"
    "  max_headers: 50\n"
    "  max_response_head: 1m\n"
    "  max_requests_per_connection: 1000\n"
    "timeouts:\n"
    "  handshake: 500ms\n"
    "  request_header: 15\n"
    "  client_body: 2m\n"
    "  keepalive_idle: 1h\n"
    "  backend_connect: 1s\n"
    "  backend_response: 90s\n"
    "  backend_idle: 10s\n"
    "  shutdown: 5s\n"
    "backends:\n"
    "  - name: app\n"
    "    url: http://app.internal\n"
    "    max_idle: 0\n"
    "  - name: v6\n"
    "    url: http://[::1]:9000/\n"
    "    max_idle: 1024\n"
    "listeners:\n"
    "  - name: main\n"
    "    address: \"::1\"\n"
    "    port: 443\n"
    "    tls:\n"
    "      certificate: /etc/certgate/server.crt\n"
    "      key: /etc/certgate/server.key\n"
    "      chain: /etc/certgate/chain.crt\n"
    "      client_ca: /etc/certgate/client-ca.crt\n"
    "      client_ca_names: false\n"
    "      require_client_auth_eku: false\n"
    "      session_tickets: false\n"
    "      session_ticket_lifetime: 30m\n"
    "    forward_client_cert: true\n"
    "    routes:\n"
    "      - path: /\n"
    "        backend: app\n"
    "        client_cert: optional\n"
    "      - path: /v6/\n"
    "        backend: v6\n"
    "        client_cert: required\n"
    "  - address: 10.0.0.1\n"
    "    port: 8443\n"
    "    tls: { certificate: a.crt, key: a.key, client_ca: ca.crt }\n"
    "    routes: [ { path: /x, backend: v6 } ]\n";

static void test_full(void **state)
{
    (void)state;
    cg_config *cfg = expect_ok(full_yaml);

    assert_int_equal(cfg->workers, 3);
    assert_int_equal(cfg->log_level, CG_LOG_DEBUG);
    assert_string_equal(cfg->log_file, "/var/log/certgate.log");

    assert_int_equal(cfg->limits.max_connections, 500);
    assert_int_equal(cfg->limits.max_request_head, 32 * 1024);
    assert_int_equal(cfg->limits.max_header_line, 4096);
    assert_int_equal(cfg->limits.max_headers, 50);
    assert_int_equal(cfg->limits.max_response_head, 1024 * 1024);
    assert_int_equal(cfg->limits.max_requests_per_connection, 1000);

    assert_int_equal(cfg->timeouts.handshake, 500);
    assert_int_equal(cfg->timeouts.request_header, 15000);
    assert_int_equal(cfg->timeouts.client_body, 120000);
    assert_int_equal(cfg->timeouts.keepalive_idle, 3600000);
    assert_int_equal(cfg->timeouts.backend_connect, 1000);
    assert_int_equal(cfg->timeouts.backend_response, 90000);
    assert_int_equal(cfg->timeouts.backend_idle, 10000);
    assert_int_equal(cfg->timeouts.shutdown, 5000);

    assert_int_equal(cfg->nbackends, 2);
    assert_string_equal(cfg->backends[0].host, "app.internal");
    assert_int_equal(cfg->backends[0].port, 80);
    assert_string_equal(cfg->backends[0].host_header, "app.internal");
    assert_int_equal(cfg->backends[0].max_idle, 0);
    assert_int_equal(cfg->backends[0].max_connections, 128);
    assert_string_equal(cfg->backends[1].url, "http://[::1]:9000/");
    assert_string_equal(cfg->backends[1].host, "::1");
    assert_int_equal(cfg->backends[1].port, 9000);
    assert_string_equal(cfg->backends[1].host_header, "[::1]:9000");
    assert_int_equal(cfg->backends[1].max_idle, 1024);

    assert_int_equal(cfg->nlisteners, 2);
    const cg_listener_cfg *l = &cfg->listeners[0];
    assert_string_equal(l->name, "main");
    assert_string_equal(l->address, "::1");
    assert_int_equal(l->port, 443);
    assert_string_equal(l->cert_file, "/etc/certgate/server.crt");
    assert_string_equal(l->key_file, "/etc/certgate/server.key");
    assert_string_equal(l->chain_file, "/etc/certgate/chain.crt");
    assert_string_equal(l->client_ca_file, "/etc/certgate/client-ca.crt");
    assert_int_equal(l->chain_pos.line, 35);
    assert_int_equal(l->chain_pos.column, 14);
    assert_false(l->client_ca_names);
    assert_false(l->require_client_auth_eku);
    assert_false(l->session_tickets);
    assert_int_equal(l->session_ticket_lifetime_s, 1800);
    assert_true(l->forward_client_cert);
    assert_int_equal(l->nroutes, 2);
    assert_false(l->routes[0].client_cert_required);
    assert_int_equal(l->routes[0].backend, 0);
    assert_string_equal(l->routes[1].path, "/v6/");
    assert_int_equal(l->routes[1].path_len, 4);
    assert_true(l->routes[1].client_cert_required);
    assert_int_equal(l->routes[1].backend, 1);

    /* Flow style works too; an unnamed listener is named after its socket. */
    l = &cfg->listeners[1];
    assert_string_equal(l->name, "10.0.0.1:8443");
    assert_string_equal(l->address, "10.0.0.1");
    assert_cwd_path(l->cert_file, "a.crt");
    assert_int_equal(l->nroutes, 1);
    assert_int_equal(l->routes[0].backend, 1);
    assert_false(l->forward_client_cert);

    cg_config_unref(cfg);
}

static void test_workers_auto(void **state)
{
    (void)state;
    cg_config *cfg = expect_ok("workers: auto\n" MINIMAL);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(cfg->workers, cpus < 1 ? 1 : cpus);
    cg_config_unref(cfg);
}

static void test_logging_file(void **state)
{
    (void)state;
    cg_config *cfg = expect_ok("logging:\n  file: stderr\n  level: error\n" MINIMAL);
    assert_null(cfg->log_file);
    assert_int_equal(cfg->log_level, CG_LOG_ERROR);
    cg_config_unref(cfg);

    cfg = expect_ok("logging:\n  file: logs/cg.log\n  level: warn\n" MINIMAL);
    assert_cwd_path(cfg->log_file, "logs/cg.log");
    assert_int_equal(cfg->log_level, CG_LOG_WARN);
    cg_config_unref(cfg);
}

static void test_logging_format(void **state)
{
    (void)state;
    cg_config *cfg = expect_ok("logging:\n  format: json\n  log_query: true\n" MINIMAL);
    assert_int_equal(cfg->log_format, CG_LOG_JSON);
    assert_true(cfg->log_query);
    cg_config_unref(cfg);
    cfg = expect_ok("logging:\n  format: logfmt\n  log_query: false\n" MINIMAL);
    assert_int_equal(cfg->log_format, CG_LOG_LOGFMT);
    assert_false(cfg->log_query);
    cg_config_unref(cfg);
    expect_error("logging:\n  format: xml\n" MINIMAL, 2, 11,
                 "logging.format: unknown value \"xml\" (expected one of: logfmt, json)");
    expect_error("logging:\n  log_query: maybe\n" MINIMAL, 2, 14, "logging.log_query");
}

static void test_backend_urls_valid(void **state)
{
    (void)state;
    static const struct {
        const char *url, *host, *host_header;
        int port;
    } cases[] = {
        { "http://backend", "backend", "backend", 80 },
        { "http://backend:80", "backend", "backend", 80 },
        { "http://10.1.2.3:8080/", "10.1.2.3", "10.1.2.3:8080", 8080 },
        { "http://[::1]", "::1", "[::1]", 80 },
        { "http://[2001:db8::5]:65535", "2001:db8::5", "[2001:db8::5]:65535", 65535 },
        { "HTTP://my-app_1.example.com:1", "my-app_1.example.com", "my-app_1.example.com:1", 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[1024];
        snprintf(yaml, sizeof yaml, "backends:\n  - name: app\n    url: \"%s\"\n" MIN_LISTENERS,
                 cases[i].url);
        cg_config *cfg = expect_ok(yaml);
        assert_string_equal(cfg->backends[0].url, cases[i].url);
        assert_string_equal(cfg->backends[0].host, cases[i].host);
        assert_string_equal(cfg->backends[0].host_header, cases[i].host_header);
        assert_int_equal(cfg->backends[0].port, cases[i].port);
        cg_config_unref(cfg);
    }
}

/* strip_request_headers: extra names to strip, built-in backend-trusted
 * names to keep (loudly), and nothing else. */
static void test_strip_request_headers(void **state)
{
    (void)state;
    cg_diag d;
    cg_config *cfg = load(MINIMAL "    strip_request_headers:\n"
                                  "      add: [X-Internal-Role, x_tenant, X-Original-URL]\n"
                                  "      keep: [X-Real-IP]\n", &d);
    if (!cfg || d.errors || d.warnings != 2) {
        cg_diag_print(&d, stderr);
        fail_msg("expected a load with 2 warnings");
    }
    assert_true(has_diag(&d, CG_DIAG_WARNING, 15, 40, "X-Original-URL is stripped by default; listing it changes nothing"));
    assert_true(has_diag(&d, CG_DIAG_WARNING, 16, 14, "X-Real-IP sent by clients now reaches the backends of "
                                                       "listener \"main\" unchecked"));
    const cg_listener_cfg *l = &cfg->listeners[0];
    assert_int_equal(l->nstrip_headers, 3);
    assert_string_equal(l->strip_headers[0], "x-internal-role");
    assert_string_equal(l->strip_headers[1], "x-tenant");
    assert_int_equal(l->nkeep_headers, 1);
    assert_string_equal(l->keep_headers[0], "x-real-ip");
    cg_diag_free(&d);
    cg_config_unref(cfg);

    expect_error(MINIMAL "    strip_request_headers:\n      keep: [Authorization]\n", 15, 14,
                 "Authorization is always removed from client requests");
    expect_error(MINIMAL "    strip_request_headers:\n      keep: [X-Client-Cert-Subject]\n", 15, 14,
                 "cannot be kept");
    /* The certificate headers certgate may set itself: never kept. An old
     * keep of X-ARR-ClientCert still loads (test_forward_client_cert_der). */
    expect_error(MINIMAL "    strip_request_headers:\n      keep: [Client-Cert]\n", 15, 14, "cannot be kept");
    expect_error(MINIMAL "    strip_request_headers:\n      keep: [client_cert_chain]\n", 15, 14, "cannot be kept");
    expect_error(MINIMAL "    strip_request_headers:\n      keep: [X-Tenant]\n", 15, 14,
                 "X-Tenant is not stripped by default, so there is nothing to keep");
    expect_error(MINIMAL "    strip_request_headers:\n      add: [\"X Bad\"]\n", 15, 13,
                 "listeners[main].strip_request_headers.add[#1]: expected a header name");
    expect_error(MINIMAL "    strip_request_headers:\n      add: X-One\n", 15, 12,
                 "expected a list of header names");
    expect_error(MINIMAL "    strip_request_headers:\n      drop: [X-One]\n", 15, 7, "unknown key \"drop\"");
}

static void test_no_routes_warns(void **state)
{
    (void)state;
    cg_diag d;
    cg_config *cfg = load(MIN_BACKENDS
                          "listeners:\n"
                          "  - port: 8443\n"
                          "    tls:\n"
                          "      certificate: s.crt\n"
                          "      key: s.key\n"
                          "      client_ca: ca.crt\n",
                          &d);
    assert_non_null(cfg);
    assert_int_equal(d.errors, 0);
    assert_int_equal(d.warnings, 1);
    assert_true(has_diag(&d, CG_DIAG_WARNING, 5, 5, "listeners[#1] has no routes: every request will get 404"));
    assert_int_equal(cfg->listeners[0].nroutes, 0);
    assert_null(cg_config_route(&cfg->listeners[0], "/", 1));
    cg_config_unref(cfg);
    cg_diag_free(&d);
}

/* ---- error classes ---- */

static void test_unknown_keys(void **state)
{
    (void)state;
    /* The message of the brief, in full. */
    cg_diag d;
    assert_null(load(MIN_BACKENDS
                     "listeners:\n"
                     "  - name: main\n"
                     "    adress: 127.0.0.1\n"
                     "    port: 8443\n"
                     "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                     "    routes: [ { path: /, backend: app } ]\n",
                     &d));
    assert_int_equal(d.count, 1);
    assert_int_equal(d.items[0].severity, CG_DIAG_ERROR);
    assert_string_equal(d.items[0].file, NAME);
    assert_int_equal(d.items[0].line, 6);
    assert_int_equal(d.items[0].column, 5);
    assert_string_equal(d.items[0].message,
                        "unknown key \"adress\" in listener \"main\" (expected one of: name, "
                        "address, port, tls, revocation, mapping, forward_client_cert, forward_client_cert_der, case_insensitive_paths, "
                        "windows_paths, http2, strip_request_headers, routes, proxy_protocol, max_request_body, "
                        "rate_limit)");
    cg_diag_free(&d);

    expect_error("worker: 2\n" MINIMAL, 1, 1,
                 "unknown key \"worker\" at top level (expected one of: workers, logging, limits, "
                 "timeouts, revocation, kerberos, errors, process, backends, listeners, admin)");
    expect_error("logging:\n  lvl: info\n" MINIMAL, 2, 3,
                 "unknown key \"lvl\" in logging (expected one of: level, file, format, log_query)");
    expect_error("limits:\n  max_body: 1m\n" MINIMAL, 2, 3, "unknown key \"max_body\" in limits");
    expect_error("timeouts:\n  idle: 1s\n" MINIMAL, 2, 3, "unknown key \"idle\" in timeouts");
    expect_error("backends:\n  - name: app\n    url: http://a\n    weight: 1\n" MIN_LISTENERS, 4, 5,
                 "unknown key \"weight\" in backend \"app\" (expected one of: name, url, max_idle, "
                 "max_connections, kerberos, tls)");
    /* Misplaced: a listener key inside tls, a tls key in the listener. */
    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - name: main\n"
                 "    port: 8443\n"
                 "    client_ca: ca.crt\n"
                 "    tls:\n"
                 "      certificate: s.crt\n"
                 "      key: s.key\n"
                 "      port: 1\n",
                 7, 5, "unknown key \"client_ca\" in listener \"main\"");
    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - name: main\n"
                 "    port: 8443\n"
                 "    tls:\n"
                 "      certificate: s.crt\n"
                 "      key: s.key\n"
                 "      client_ca: ca.crt\n"
                 "      port: 1\n",
                 11, 7, "unknown key \"port\" in tls of listener \"main\" (expected one of: "
                        "certificate, key, chain, client_ca, client_ca_names, "
                        "require_client_auth_eku, session_tickets, session_ticket_lifetime, "
                        "max_chain_depth, max_client_certificates, allow_weak_signatures, session_ticket_keys, "
                        "sni, strict_sni, min_version, max_version)");
    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - name: main\n"
                 "    port: 8443\n"
                 "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                 "    routes:\n"
                 "      - path: /api\n"
                 "        backend: app\n"
                 "        prefix: true\n",
                 11, 9, "unknown key \"prefix\" in route \"/api\" of listener \"main\" "
                        "(expected one of: path, backend, client_cert, max_request_body, upgrade, timeouts)");
    /* A non-scalar key. */
    expect_error("? [a, b]\n: 1\n" MINIMAL, 1, 3, "expected a key name at top level, got a list");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_error("logging:\n  - level: info\n" MINIMAL, 2, 3,
                 "logging: expected a mapping with keys level, file, format, log_query, got a list");
    expect_error("timeouts: 10s\n" MINIMAL, 1, 11, "timeouts: expected a mapping with keys handshake");
    expect_error("limits:\n" MINIMAL, 1, 8, "limits: expected a mapping with keys max_connections");
    expect_error(MIN_BACKENDS "listeners:\n  name: main\n  port: 8443\n", 5, 3,
                 "listeners: expected a list of listeners (items starting with \"- \"), got a mapping");
    expect_error("backends: app\n" MIN_LISTENERS, 1, 11,
                 "backends: expected a list of backends (items starting with \"- \"), got \"app\"");
    expect_error(MIN_BACKENDS "listeners:\n  - main\n", 5, 5,
                 "listeners[#1]: expected a mapping with keys name, address, port, tls, "
                 "revocation, mapping, forward_client_cert, forward_client_cert_der, case_insensitive_paths, windows_paths, "
                 "http2, strip_request_headers, routes, proxy_protocol, max_request_body, rate_limit, "
                 "got \"main\"");
    expect_error("workers: many\n" MINIMAL, 1, 10,
                 "workers: expected a whole number from 1 to 1024 or auto, got \"many\"");
    expect_error("workers: [1]\n" MINIMAL, 1, 10, "workers: expected a whole number from 1 to 1024 or auto, got a list");
    expect_error("workers: 1.5\n" MINIMAL, 1, 10, "got \"1.5\"");
    expect_error("limits:\n  max_headers: lots\n" MINIMAL, 2, 16,
                 "limits.max_headers: expected a whole number from 1 to 10000, got \"lots\"");
    expect_error("limits:\n  max_headers: -1\n" MINIMAL, 2, 16, "got \"-1\"");
    expect_error("logging:\n  level: verbose\n" MINIMAL, 2, 10,
                 "logging.level: unknown value \"verbose\" (expected one of: debug, info, warn, error)");
    expect_error("logging:\n  file:\n" MINIMAL, 2, 8,
                 "logging.file: expected \"stderr\" or a file path, got no value");
    expect_error("logging:\n  file: \"\"\n" MINIMAL, 2, 9,
                 "logging.file: must not be empty");

    static const char listener_head[] = MIN_BACKENDS
        "listeners:\n"
        "  - name: main\n"
        "    port: %s\n"
        "    forward_client_cert: %s\n"
        "    tls:\n"
        "      certificate: %s\n"
        "      key: s.key\n"
        "      client_ca: ca.crt\n"
        "      session_tickets: %s\n"
        "    routes:\n"
        "      - path: /\n"
        "        backend: app\n";
    char yaml[2048];
    snprintf(yaml, sizeof yaml, listener_head, "abc", "true", "s.crt", "true");
    expect_error(yaml, 6, 11, "listeners[main].port: expected a whole number from 1 to 65535, got \"abc\"");
    snprintf(yaml, sizeof yaml, listener_head, "\"8443\"", "yes", "s.crt", "true");
    expect_error(yaml, 7, 26, "listeners[main].forward_client_cert: expected true or false, got \"yes\"");
    snprintf(yaml, sizeof yaml, listener_head, "8443", "1", "s.crt", "on");
    expect_error(yaml, 7, 26, "expected true or false, got \"1\"");
    expect_error(yaml, 12, 24, "listeners[main].tls.session_tickets: expected true or false, got \"on\"");
    snprintf(yaml, sizeof yaml, listener_head, "8443", "false", "{ a: b }", "true");
    expect_error(yaml, 9, 20, "listeners[main].tls.certificate: expected a file path, got a mapping");
    snprintf(yaml, sizeof yaml, listener_head, "8443", "false", "[a, b]", "false");
    expect_error(yaml, 9, 20, "listeners[main].tls.certificate: expected a file path, got a list");
    snprintf(yaml, sizeof yaml, listener_head, "8443", "false", "~", "false");
    expect_error(yaml, 9, 20, "listeners[main].tls.certificate: expected a file path, got no value");
    /* A quoted number is still a number; a quoted "null" is a path. */
    snprintf(yaml, sizeof yaml, listener_head, "\"8443\"", "false", "\"null\"", "false");
    cg_config *cfg = expect_ok(yaml);
    assert_int_equal(cfg->listeners[0].port, 8443);
    assert_cwd_path(cfg->listeners[0].cert_file, "null");
    cg_config_unref(cfg);
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    expect_error("workers: 1\nworkers: 2\n" MINIMAL, 2, 1,
                 "duplicate key \"workers\" at top level (first at line 1, column 1)");
    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - name: main\n"
                 "    port: 8443\n"
                 "    port: 8444\n",
                 7, 5, "duplicate key \"port\" in listener \"main\" (first at line 6, column 5)");
    expect_error("timeouts: { handshake: 1s, handshake: 2s }\n" MINIMAL, 1, 28,
                 "duplicate key \"handshake\" in timeouts (first at line 1, column 13)");
}

static void test_duplicate_names(void **state)
{
    (void)state;
    expect_error("backends:\n"
                 "  - name: app\n"
                 "    url: http://a\n"
                 "  - name: app\n"
                 "    url: http://b\n" MIN_LISTENERS,
                 4, 11, "duplicate backend name \"app\" (first at line 2, column 11");

    static const char two[] = MIN_BACKENDS
        "listeners:\n"
        "  - name: %s\n"
        "    address: \"%s\"\n"
        "    port: 8443\n"
        "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
        "    routes: [ { path: /, backend: app } ]\n"
        "  - name: %s\n"
        "    address: \"%s\"\n"
        "    port: %s\n"
        "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
        "    routes: [ { path: /, backend: app } ]\n";
    char yaml[2048];
    snprintf(yaml, sizeof yaml, two, "a", "127.0.0.1", "a", "127.0.0.2", "8443");
    expect_error(yaml, 10, 11, "duplicate listener name \"a\" (first at line 5, column 11");
    snprintf(yaml, sizeof yaml, two, "a", "127.0.0.1", "b", "127.0.0.1", "8443");
    expect_error(yaml, 12, 11, "listener \"b\" uses address 127.0.0.1 port 8443, already used by "
                               "listener \"a\" (line 7;");
    /* Same address, spelled differently. */
    snprintf(yaml, sizeof yaml, two, "a", "::1", "b", "0:0::1", "8443");
    expect_error(yaml, 12, 11, "already used by listener \"a\"");
    /* Same address, other port: fine. */
    snprintf(yaml, sizeof yaml, two, "a", "::1", "b", "::1", "8444");
    cg_config_unref(expect_ok(yaml));

    /* Two unnamed listeners on one socket get the same default name; the
     * socket is what is reported. */
    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - port: 8443\n"
                 "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                 "  - port: 8443\n"
                 "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n",
                 7, 11, "listener \"0.0.0.0:8443\" uses address 0.0.0.0 port 8443, already used");
}

static void test_route_unknown_backend(void **state)
{
    (void)state;
    expect_error("backends:\n"
                 "  - name: app\n"
                 "    url: http://a\n"
                 "  - name: static\n"
                 "    url: http://b\n"
                 "listeners:\n"
                 "  - name: main\n"
                 "    port: 8443\n"
                 "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                 "    routes:\n"
                 "      - path: /\n"
                 "        backend: ap\n",
                 12, 18, "listeners[main].routes[/].backend: no backend named \"ap\" "
                         "(defined backends: app, static)");
}

static void test_missing_required(void **state)
{
    (void)state;
    expect_error(MIN_LISTENERS, 1, 1,
                 "missing required key \"backends\" at top level (expected a list of backends, "
                 "each with name and url)");
    expect_error(MIN_BACKENDS, 1, 1, "missing required key \"listeners\" at top level");
    expect_error("backends: []\n" MIN_LISTENERS, 1, 11,
                 "backends: the list is empty (at least one backend is required)");
    expect_error(MIN_BACKENDS "listeners: []\n", 4, 12,
                 "listeners: the list is empty (at least one listener is required)");
    expect_error("backends:\n  - url: http://a\n" MIN_LISTENERS, 2, 5,
                 "missing required key \"name\" in backends[#1]");
    expect_error("backends:\n  - name: app\n" MIN_LISTENERS, 2, 5,
                 "missing required key \"url\" in backend \"app\" (expected http://host[:port]");

    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - name: main\n"
                 "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n",
                 5, 5, "missing required key \"port\" in listener \"main\" (expected the TCP port "
                       "to listen on, 1 to 65535)");
    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - name: main\n"
                 "    port: 8443\n",
                 5, 5, "missing required key \"tls\" in listener \"main\"");
    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - name: main\n"
                 "    port: 8443\n"
                 "    tls:\n"
                 "      key: s.key\n"
                 "      client_ca: ca.crt\n",
                 8, 7, "missing required key \"certificate\" in tls of listener \"main\"");
    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - name: main\n"
                 "    port: 8443\n"
                 "    tls: { certificate: s.crt, client_ca: ca.crt }\n",
                 7, 10, "missing required key \"key\" in tls of listener \"main\"");
    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - name: main\n"
                 "    port: 8443\n"
                 "    tls: { certificate: s.crt, key: s.key }\n",
                 7, 10, "missing required key \"client_ca\" in tls of listener \"main\"");
    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - name: main\n"
                 "    port: 8443\n"
                 "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                 "    routes:\n"
                 "      - backend: app\n",
                 9, 9, "missing required key \"path\" in routes[#1] of listener \"main\"");
    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - name: main\n"
                 "    port: 8443\n"
                 "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                 "    routes:\n"
                 "      - path: /\n",
                 9, 9, "missing required key \"backend\" in route \"/\" of listener \"main\"");
}

static const char route_tmpl[] = MIN_BACKENDS
    "listeners:\n"
    "  - name: main\n"
    "    port: 8443\n"
    "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
    "    routes:\n"
    "      - path: %s\n"
    "        backend: app\n"
    "      - path: %s\n"
    "        backend: app\n";

static void test_route_paths(void **state)
{
    (void)state;
    char yaml[2048];
    snprintf(yaml, sizeof yaml, route_tmpl, "/", "api");
    expect_error(yaml, 11, 15, "listeners[main].routes[api].path: \"api\" does not start with \"/\"");
    snprintf(yaml, sizeof yaml, route_tmpl, "/api", "/api");
    expect_error(yaml, 11, 15, "duplicate route path \"/api\" in listener \"main\" (first at line "
                               "9, column 15");
    snprintf(yaml, sizeof yaml, route_tmpl, "/", "\"/a?b\"");
    expect_error(yaml, 11, 15, "\"/a?b\" contains '?' at byte 2: route paths hold only letters, digits");
    snprintf(yaml, sizeof yaml, route_tmpl, "/", "\"/a b\"");
    expect_error(yaml, 11, 15, "contains the byte 0x20 at byte 2 (a space, control character or non-ASCII "
                               "byte; write it percent-encoded, e.g. %20)");
    /* Routes are matched against canonical paths: one that is not canonical
     * could never match, or would be walked around. */
    snprintf(yaml, sizeof yaml, route_tmpl, "/", "//admin");
    expect_error(yaml, 11, 15, "\"//admin\" is not in canonical form (requests are matched after \"//\" "
                               "becomes \"/\" and \".\" and \"..\" segments are removed): write \"/admin\"");
    snprintf(yaml, sizeof yaml, route_tmpl, "/", "/a/./b/../c");
    expect_error(yaml, 11, 15, "is not in canonical form");
    expect_error(yaml, 11, 15, "write \"/a/c\"");
    snprintf(yaml, sizeof yaml, route_tmpl, "/", "/../a");
    expect_error(yaml, 11, 15, "\"..\" above the root");
    snprintf(yaml, sizeof yaml, route_tmpl, "/", "/%61dmin");
    expect_error(yaml, 11, 15, "encodes the unreserved character 'a' as %61: requests are matched with it "
                               "decoded, so write 'a'");
    snprintf(yaml, sizeof yaml, route_tmpl, "/", "/a%2fb");
    expect_error(yaml, 11, 15, "has a \"%\" at byte 2 not followed by two uppercase hex digits");
    snprintf(yaml, sizeof yaml, route_tmpl, "/", "/a%2Fb");
    expect_error(yaml, 11, 15, "has %2F, which certgate refuses in every request");
    snprintf(yaml, sizeof yaml, route_tmpl, "/", "/a%2Bb");
    expect_error(yaml, 11, 15, "has %2B, which IIS reads like its raw character");
    snprintf(yaml, sizeof yaml, route_tmpl, "/", "/a+b");
    expect_error(yaml, 11, 15, "contains '+' at byte 2");
    snprintf(yaml, sizeof yaml, route_tmpl, "/", "/admin*");
    expect_error(yaml, 11, 15, "contains '*' at byte 6");
    snprintf(yaml, sizeof yaml, route_tmpl, "/", "\"/a\\\\b\"");
    expect_error(yaml, 11, 15, "contains '\\' at byte 2");
    /* Encodings of what has no raw form in a path are fine. */
    snprintf(yaml, sizeof yaml, route_tmpl, "/", "/My%20Documents/caf%C3%A9");
    cg_config_unref(expect_ok(yaml));
    /* case_insensitive_paths (the default): "/Admin" is "/admin". */
    snprintf(yaml, sizeof yaml, route_tmpl, "/admin", "/Admin");
    expect_error(yaml, 11, 15, "duplicate route path \"/Admin\" in listener \"main\" (first at line 9, "
                               "column 15; expected each path once per listener, ignoring case: "
                               "case_insensitive_paths)");
    snprintf(yaml, sizeof yaml, route_tmpl, "/", "\"\"");
    expect_error(yaml, 11, 15, "listeners[main].routes[#2].path: must not be empty");
    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - name: main\n"
                 "    port: 8443\n"
                 "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                 "    case_insensitive_paths: sometimes\n"
                 "    routes: [ { path: /, backend: app } ]\n",
                 8, 29, "listeners[main].case_insensitive_paths: expected true or false, got \"sometimes\"");
    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - name: main\n"
                 "    port: 8443\n"
                 "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                 "    windows_paths: [yes]\n"
                 "    routes: [ { path: /, backend: app } ]\n",
                 8, 20, "listeners[main].windows_paths: expected true or false, got a list");
    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - name: main\n"
                 "    port: 8443\n"
                 "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                 "    http2: h2c\n"
                 "    routes: [ { path: /, backend: app } ]\n",
                 8, 12, "listeners[main].http2: expected true or false, got \"h2c\"");
    /* windows_paths (the default): a route that every request for is
     * refused could never match; without it, it is an ordinary route. */
    snprintf(yaml, sizeof yaml, route_tmpl, "/", "/admin.");
    expect_error(yaml, 11, 15, "listeners[main].routes[/admin.].path: \"/admin.\" can never match: every request "
                               "for it is refused, because the path segment \"admin.\" (at byte 1 of the "
                               "target) ends in '.'");
    snprintf(yaml, sizeof yaml, route_tmpl, "/", "/PROGRA~1");
    expect_error(yaml, 11, 15, "has the shape of an 8.3 short name");
    cg_config_unref(expect_ok(MIN_BACKENDS
                              "listeners:\n"
                              "  - name: main\n"
                              "    port: 8443\n"
                              "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                              "    windows_paths: false\n"
                              "    routes: [ { path: /, backend: app }, { path: /admin., backend: app },\n"
                              "              { path: /PROGRA~1, backend: app } ]\n"));
    /* "/api" and "/api/" are different prefixes. */
    snprintf(yaml, sizeof yaml, route_tmpl, "/api", "/api/");
    cg_config_unref(expect_ok(yaml));
}

static void test_ranges(void **state)
{
    (void)state;
    expect_error("workers: 0\n" MINIMAL, 1, 10,
                 "workers: 0 is out of range (expected 1 to 1024, or auto for one per CPU)");
    expect_error("workers: 1025\n" MINIMAL, 1, 10, "workers: 1025 is out of range");
    expect_error("workers: 99999999999999999999999\n" MINIMAL, 1, 10, "is out of range");

    char yaml[2048];
    static const char port_tmpl[] = MIN_BACKENDS
        "listeners:\n"
        "  - name: main\n"
        "    port: %s\n"
        "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
        "    routes: [ { path: /, backend: app } ]\n";
    snprintf(yaml, sizeof yaml, port_tmpl, "0");
    expect_error(yaml, 6, 11, "listeners[main].port: 0 is out of range (expected 1 to 65535)");
    snprintf(yaml, sizeof yaml, port_tmpl, "65536");
    expect_error(yaml, 6, 11, "listeners[main].port: 65536 is out of range (expected 1 to 65535)");
    snprintf(yaml, sizeof yaml, port_tmpl, "65535");
    cg_config_unref(expect_ok(yaml));

    expect_error("backends:\n  - name: app\n    url: http://a\n    max_idle: 1025\n" MIN_LISTENERS,
                 4, 15, "backends[app].max_idle: 1025 is out of range (expected 0 to 1024)");
    cg_config *mc = expect_ok("backends:\n  - name: app\n    url: http://a\n    max_connections: 1\n" MIN_LISTENERS);
    assert_int_equal(mc->backends[0].max_connections, 1);
    cg_config_unref(mc);
    expect_error("backends:\n  - name: app\n    url: http://a\n    max_connections: 0\n" MIN_LISTENERS,
                 4, 22, "backends[app].max_connections: 0 is out of range (expected 1 to 65535)");
    expect_error("backends:\n  - name: app\n    url: http://a\n    max_connections: 65536\n" MIN_LISTENERS,
                 4, 22, "backends[app].max_connections: 65536 is out of range (expected 1 to 65535)");

    expect_error("limits:\n  max_connections: 0\n" MINIMAL, 2, 20,
                 "limits.max_connections: 0 is out of range (expected 1 to 1000000)");
    expect_error("limits:\n  max_request_head: 512\n" MINIMAL, 2, 21,
                 "limits.max_request_head: \"512\" is out of range (expected 1k to 1m)");
    expect_error("limits:\n  max_request_head: 2m\n" MINIMAL, 2, 21,
                 "limits.max_request_head: \"2m\" is out of range (expected 1k to 1m)");
    expect_error("limits:\n  max_request_head: 16x\n" MINIMAL, 2, 21,
                 "limits.max_request_head: \"16x\" is not a size (use e.g. 512, 16k, 1m");
    expect_error("limits:\n  max_header_line: 100\n" MINIMAL, 2, 20,
                 "limits.max_header_line: \"100\" is out of range (expected 256 to 1m)");
    expect_error("limits:\n  max_headers: 0\n" MINIMAL, 2, 16,
                 "limits.max_headers: 0 is out of range (expected 1 to 10000)");
    expect_error("limits:\n  max_headers: 10001\n" MINIMAL, 2, 16, "expected 1 to 10000");
    expect_error("limits:\n  max_response_head: 100g\n" MINIMAL, 2, 22,
                 "limits.max_response_head: \"100g\" is out of range (expected 1k to 1m)");
    expect_error("limits:\n  max_requests_per_connection: 4294967296\n" MINIMAL, 2, 32,
                 "expected 0 to 4294967295");
    expect_error("limits:\n  max_handshakes_per_address: -1\n" MINIMAL, 2, 31,
                 "limits.max_handshakes_per_address: expected a whole number from 0 to 1000000");
    expect_error("limits:\n  max_connections_per_address: 1000001\n" MINIMAL, 2, 32,
                 "limits.max_connections_per_address: 1000001 is out of range (expected 0 to 1000000)");
    expect_error("limits:\n  per_address_ipv6_prefix: 129\n" MINIMAL, 2, 28,
                 "limits.per_address_ipv6_prefix: 129 is out of range (expected 16 to 128)");
    expect_error("limits:\n  per_address_ipv6_prefix: 8\n" MINIMAL, 2, 28, "expected 16 to 128");
    {
        cg_diag d;
        cg_diag_init(&d);
        static const char y[] = "limits:\n  max_handshakes_per_address: 0\n  max_connections_per_address: 0\n"
                                "  per_address_ipv6_prefix: 48\n" MINIMAL;
        cg_config *cfg = cg_config_load_string(y, sizeof y - 1, NAME, CG_CONFIG_SKIP_TLS, &d);
        assert_non_null(cfg);
        assert_int_equal(cfg->limits.max_handshakes_per_address, 0);
        assert_int_equal(cfg->limits.max_connections_per_address, 0);
        assert_int_equal(cfg->limits.per_address_ipv6_prefix, 48);
        cg_config_unref(cfg);
        cg_diag_free(&d);
    }
    /* max_header_line against max_request_head: explicit line, default
     * head; then explicit head, default line. */
    expect_error("limits:\n  max_header_line: 32k\n" MINIMAL, 2, 20,
                 "limits.max_header_line (32k) is larger than limits.max_request_head (16k)");
    expect_error("limits:\n  max_request_head: 4k\n" MINIMAL, 2, 21,
                 "limits.max_header_line (8k) is larger than limits.max_request_head (4k)");
    cg_config *cfg = expect_ok("limits:\n  max_request_head: 8k\n" MINIMAL);
    assert_int_equal(cfg->limits.max_request_head, 8192);
    cg_config_unref(cfg);

    expect_error("timeouts:\n  handshake: 10x\n" MINIMAL, 2, 14,
                 "timeouts.handshake: \"10x\" is not a duration (use e.g. 500ms, 30s, 5m, 1h)");
    expect_error("timeouts:\n  shutdown: 0s\n" MINIMAL, 2, 13,
                 "timeouts.shutdown: \"0s\" is out of range (expected 1ms to 24h)");
    expect_error("timeouts:\n  backend_idle: 25h\n" MINIMAL, 2, 17, "\"25h\" is out of range (expected 1ms to 24h)");
    expect_error("timeouts:\n  backend_idle: 5000000h\n" MINIMAL, 2, 17, "\"5000000h\" is out of range");
    expect_error("timeouts:\n  backend_idle: -5s\n" MINIMAL, 2, 17, "\"-5s\" is not a duration");

    static const char tl[] = MIN_BACKENDS
        "listeners:\n"
        "  - name: main\n"
        "    port: 8443\n"
        "    tls:\n"
        "      certificate: s.crt\n"
        "      key: s.key\n"
        "      client_ca: ca.crt\n"
        "      session_ticket_lifetime: %s\n"
        "    routes: [ { path: /, backend: app } ]\n";
    snprintf(yaml, sizeof yaml, tl, "169h");
    expect_error(yaml, 11, 32, "listeners[main].tls.session_ticket_lifetime: \"169h\" is out of "
                               "range (expected 1s to 168h)");
    snprintf(yaml, sizeof yaml, tl, "500ms");
    expect_error(yaml, 11, 32, "out of range (expected 1s to 168h)");
    snprintf(yaml, sizeof yaml, tl, "1500ms");
    expect_error(yaml, 11, 32, "session_ticket_lifetime: must be a whole number of seconds");
    snprintf(yaml, sizeof yaml, tl, "168h");
    cfg = expect_ok(yaml);
    assert_int_equal(cfg->listeners[0].session_ticket_lifetime_s, 168 * 3600);
    cg_config_unref(cfg);
}

static void test_listener_address(void **state)
{
    (void)state;
    static const char tmpl[] = MIN_BACKENDS
        "listeners:\n"
        "  - name: main\n"
        "    address: %s\n"
        "    port: 8443\n"
        "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
        "    routes: [ { path: /, backend: app } ]\n";
    static const char *const bad[] = { "localhost", "\"[::1]\"", "1.2.3", "256.0.0.1",
                                       "\"fe80::1%eth0\"", "\" 127.0.0.1\"" };
    char yaml[1024];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(yaml, sizeof yaml, tmpl, bad[i]);
        expect_error(yaml, 6, 14, "is not a numeric IPv4 or IPv6 address (expected e.g. 0.0.0.0, "
                                  "127.0.0.1, :: or ::1, without brackets");
    }
    snprintf(yaml, sizeof yaml, tmpl, "\"::\"");
    cg_config *cfg = expect_ok(yaml);
    assert_string_equal(cfg->listeners[0].address, "::");
    cg_config_unref(cfg);
}

/* backends[].tls (https backends): every key read; the files are opened
 * by the builder later (CG_CONFIG_SKIP_TLS here). */
static void test_backend_tls_keys(void **state)
{
    (void)state;
    cg_config *cfg = expect_ok("backends:\n"
                               "  - name: app\n"
                               "    url: https://iis.example.test\n"
                               "    tls:\n"
                               "      ca_file: /etc/certgate/backend-ca.crt\n"
                               "      server_name: app.example.test\n"
                               "      client_certificate: /etc/certgate/to-backend.crt\n"
                               "      client_key: /etc/certgate/to-backend.key\n"
                               "      min_version: \"1.3\"\n"
                               "  - name: sys\n"
                               "    url: https://[::1]:8443\n"
                               "    tls: {ca: system}\n" MIN_LISTENERS);
    const cg_backend_cfg *b = &cfg->backends[0];
    assert_true(b->https);
    assert_int_equal(b->port, 443);
    assert_string_equal(b->host_header, "iis.example.test");
    assert_string_equal(b->tls_ca_file, "/etc/certgate/backend-ca.crt");
    assert_false(b->tls_ca_system);
    assert_string_equal(b->tls_server_name, "app.example.test");
    assert_string_equal(b->tls_cert_file, "/etc/certgate/to-backend.crt");
    assert_string_equal(b->tls_key_file, "/etc/certgate/to-backend.key");
    assert_int_equal(b->tls_min_version, 13);
    assert_int_equal(b->tls_ca_pos.line, 5);
    assert_int_equal(b->tls_ca_pos.column, 16);
    b = &cfg->backends[1];
    assert_true(b->tls_ca_system);
    assert_string_equal(b->tls_ca_file, CG_SYSTEM_CA_FILE);
    assert_null(b->tls_server_name);
    assert_int_equal(b->tls_min_version, 12);
    assert_int_equal(b->port, 8443);
    cg_config_unref(cfg);
}

static void test_backend_tls_invalid(void **state)
{
    (void)state;
    expect_error("backends:\n  - name: app\n    url: http://a\n    tls: {ca: system}\n" MIN_LISTENERS, 4, 10,
                 "backends[app].tls: the backend's url \"http://a\" is http://; tls applies only to https://");
    expect_error("backends:\n  - name: app\n    url: https://a\n    tls: {server_name: a}\n" MIN_LISTENERS, 4, 10,
                 "missing required key \"ca_file\"");
    expect_error("backends:\n  - name: app\n    url: https://a\n    tls: {ca_file: /x, ca: system}\n" MIN_LISTENERS,
                 4, 28, "backends[app].tls.ca: set either ca_file or ca: system, not both");
    expect_error("backends:\n  - name: app\n    url: https://a\n    tls: {ca: mine}\n" MIN_LISTENERS, 4, 15,
                 "ca");
    expect_error("backends:\n  - name: app\n    url: https://a\n    tls: {ca: system, server_name: \"a/b\"}\n"
                 MIN_LISTENERS, 4, 36, "backends[app].tls.server_name: \"a/b\" is not a host name or address");
    expect_error("backends:\n  - name: app\n    url: https://a\n    tls: {ca: system, client_certificate: /c}\n"
                 MIN_LISTENERS, 4, 10, "missing required key \"client_key\"");
    expect_error("backends:\n  - name: app\n    url: https://a\n    tls: {ca: system, client_key: /k}\n"
                 MIN_LISTENERS, 4, 35, "backends[app].tls.client_key: set client_certificate too");
    expect_error("backends:\n  - name: app\n    url: https://a\n    tls: {ca: system, min_version: \"1.1\"}\n"
                 MIN_LISTENERS, 4, 36,
                 "backends[app].tls.min_version: unknown value \"1.1\" (expected one of: 1.2, 1.3)");
    expect_error("backends:\n  - name: app\n    url: https://a\n    tls: {ca: system, verify: false}\n"
                 MIN_LISTENERS, 4, 23, "unknown key \"verify\" in tls of backend \"app\" (expected one of: ca_file, "
                 "ca, server_name, client_certificate, client_key, min_version)");
}

static void test_backend_urls_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *url, *msg;
    } cases[] = {
        { "https://a:8443", "an https backend needs a tls section saying which CAs to trust" },
        { "ftp://a", "unsupported scheme \"ftp\"" },
        { "127.0.0.1:8080", "\"127.0.0.1:8080\" is not a URL (expected http://host[:port]" },
        { "http://a/api", "has a path \"/api\"; requests are forwarded with their own path" },
        { "http://a:8080//", "has a path \"//\"" },
        { "http://a?x=1", "has a query \"?x=1\", which is not supported" },
        { "http://a#frag", "has a fragment \"#frag\"" },
        { "http://user:pw@a", "has user information (user@); credentials in backend URLs are not supported" },
        { "http://", "has no host" },
        { "http://:8080", "has no host" },
        { "http://a:", "has an invalid port" },
        { "http://a:0", "port \"0\" is not a number from 1 to 65535" },
        { "http://a:65536", "port \"65536\" is not a number from 1 to 65535" },
        { "http://a:8x", "port \"8x\"" },
        { "http://::1:8080", "IPv6 addresses must be in brackets" },
        { "http://[::1", "has \"[\" without \"]\"" },
        { "http://[nope]:80", "\"[nope]\" is not an IPv6 address" },
        { "http://[::1]x", "has an invalid port" },
        { "http://a b", "\"a b\" is not a host name or IPv4 address" },
    };
    char yaml[1024];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(yaml, sizeof yaml, "backends:\n  - name: app\n    url: \"%s\"\n" MIN_LISTENERS,
                 cases[i].url);
        expect_error(yaml, 3, 10, "backends[app].url: ");
        expect_error(yaml, 3, 10, cases[i].msg);
    }
}

static void test_yaml_syntax(void **state)
{
    (void)state;
    expect_error("workers: 1\n  logging: x\n", 2, 10,
                 "YAML syntax error: mapping values are not allowed in this context");
    expect_error("workers: \"1\n", 2, 1,
                 "YAML syntax error: found unexpected end of stream (while scanning a quoted "
                 "scalar at line 1, column 10)");
    expect_error("listeners:\n  - name: a\n   port: 1\n", 3, 4, "YAML syntax error:");
    expect_error("workers:\t1\nlogging:\n\tlevel: info\n", 3, 1,
                 "YAML syntax error: found character that cannot start any token");
    expect_error("workers: 1\n\xff\n", 2, 1, "YAML syntax error: invalid leading UTF-8 octet (byte 0xff)");
}

static void test_empty_and_non_mapping(void **state)
{
    (void)state;
    expect_error("", 1, 1, "the configuration is empty (expected a mapping with at least backends and listeners");
    expect_error("# only a comment\n\n", 1, 1, "the configuration is empty");
    /* An explicit document with nothing in it: the (null) root is on line 2. */
    expect_error("---\n", 2, 1, "the configuration is empty");
    expect_error("- workers: 1\n", 1, 1,
                 "expected a mapping at the top level (keys: workers, logging, limits, timeouts, "
                 "revocation, kerberos, errors, process, backends, listeners, admin), got a list");
    expect_error("hello\n", 1, 1, "expected a mapping at the top level (keys: workers, logging, "
                                  "limits, timeouts, revocation, kerberos, errors, process, backends, listeners, admin), "
                                  "got \"hello\"");
}

static void test_anchors_rejected(void **state)
{
    (void)state;
    static const char yaml[] = MIN_BACKENDS
        "listeners:\n"
        "  - name: a\n"
        "    port: 8443\n"
        "    tls: &tls { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
        "  - name: b\n"
        "    port: 8444\n"
        "    tls: *tls\n";
    cg_diag d;
    assert_null(load(yaml, &d));
    assert_int_equal(d.errors, 2);
    assert_true(has_diag(&d, CG_DIAG_ERROR, 7, 10, "YAML anchor \"&tls\" is not supported: write "
                                                   "the value out in full"));
    assert_true(has_diag(&d, CG_DIAG_ERROR, 10, 10, "YAML alias \"*tls\" is not supported"));
    cg_diag_free(&d);
}

static void test_second_document(void **state)
{
    (void)state;
    expect_error(MINIMAL "---\nworkers: 2\n", 14, 1,
                 "a second YAML document (expected exactly one document per configuration file");
}

static void test_many_errors_at_once(void **state)
{
    (void)state;
    static const char yaml[] =
        "listeners:\n"                                 /* 1 */
        "  - name: main\n"                             /* 2 */
        "    port: 70000\n"                            /* 3 */
        "    adress: 1.2.3.4\n"                        /* 4 */
        "    tls:\n"                                   /* 5 */
        "      certificate: s.crt\n"                   /* 6 */
        "      key: s.key\n"                           /* 7 */
        "    routes:\n"                                /* 8 */
        "      - path: api\n"                          /* 9 */
        "        backend: nope\n"                      /* 10 */
        "timeouts:\n"                                  /* 11 */
        "  handshake: 10x\n"                           /* 12 */
        "backends:\n"                                  /* 13 */
        "  - name: app\n"                              /* 14 */
        "    url: https://x\n"                         /* 15 */
        "workers: 0\n";                                /* 16 */
    cg_diag d;
    assert_null(load(yaml, &d));
    static const struct {
        int line, col;
        const char *msg;
    } want[] = {
        { 3, 11, "listeners[main].port: 70000 is out of range" },
        { 4, 5, "unknown key \"adress\" in listener \"main\"" },
        { 6, 7, "missing required key \"client_ca\" in tls of listener \"main\"" },
        { 9, 15, "listeners[main].routes[api].path: \"api\" does not start with \"/\"" },
        { 10, 18, "no backend named \"nope\" (defined backends: app)" },
        { 12, 14, "timeouts.handshake: \"10x\" is not a duration" },
        { 15, 10, "backends[app].url: an https backend needs a tls section" },
        { 16, 10, "workers: 0 is out of range" },
    };
    size_t n = sizeof want / sizeof want[0];
    if (d.count != n)
        cg_diag_print(&d, stderr);
    assert_int_equal(d.count, n);
    assert_int_equal(d.errors, n);
    /* Reported in file order, whatever order the sections are checked in. */
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(d.items[i].line, want[i].line);
        assert_int_equal(d.items[i].column, want[i].col);
        assert_non_null(strstr(d.items[i].message, want[i].msg));
    }
    cg_diag_free(&d);
}

/* ---- revocation, kerberos, delegation, mapping ---- */

/* A valid top-level kerberos section: 4 lines. */
#define KRB_TOP \
    "kerberos:\n" \
    "  keytab: k.keytab\n" \
    "  principal: HTTP/proxy\n" \
    "  realm: EXAMPLE.TEST\n"

/* Like MIN_LISTENERS, with a mapping (on line 4 of it). */
#define MAPPED_LISTENERS \
    "listeners:\n" \
    "  - name: main\n" \
    "    port: 8443\n" \
    "    mapping: map.yaml\n" \
    "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n" \
    "    routes: [ { path: /, backend: app } ]\n"

/* <dir of tests/data, absolute>/rel */
static char *abs_data_file(const char *rel)
{
    const char *data = fx_test_data();
    char *out, *dir = data[0] == '/' ? strdup(data) : cwd_join(data);
    assert_non_null(dir);
    assert_true(asprintf(&out, "%s/%s", dir, rel) > 0);
    free(dir);
    return out;
}

/* yaml must load with exactly one warning, at line:col containing sub. */
static cg_config *check_warning(const char *yaml, int line, int col, const char *sub,
                                const char *where, int at)
{
    cg_diag d;
    cg_config *cfg = load(yaml, &d);
    if (!cfg || d.errors || d.warnings != 1 || !has_diag(&d, CG_DIAG_WARNING, line, col, sub)) {
        fprintf(stderr, "--- %s:%d: expected one warning at %d:%d containing \"%s\"; got:\n",
                where, at, line, col, sub);
        cg_diag_print(&d, stderr);
        fail_msg("warning not as expected");
    }
    cg_diag_free(&d);
    return cfg;
}
#define expect_warning(yaml, line, col, sub) check_warning(yaml, line, col, sub, __FILE__, __LINE__)

/* yaml must fail with exactly n errors (and the one at line:col). */
static void check_errors_n(const char *yaml, size_t n, int line, int col, const char *sub,
                           const char *where, int at)
{
    cg_diag d;
    cg_config *cfg = load(yaml, &d);
    if (cfg || d.errors != n || !has_diag(&d, CG_DIAG_ERROR, line, col, sub)) {
        fprintf(stderr, "--- %s:%d: expected %zu error(s), one at %d:%d containing \"%s\"; got:\n",
                where, at, n, line, col, sub);
        cg_diag_print(&d, stderr);
        fail_msg("errors not as expected");
    }
    cg_config_unref(cfg);
    cg_diag_free(&d);
}
#define expect_errors_n(yaml, n, line, col, sub) \
    check_errors_n(yaml, n, line, col, sub, __FILE__, __LINE__)

static void test_new_keys_defaults(void **state)
{
    (void)state;
    cg_config *cfg = expect_ok(MINIMAL);
    const cg_revocation_cfg *r = &cfg->revocation;
    assert_null(r->cache_dir);
    assert_int_equal(r->fetch_timeout_ms, 10000);
    assert_int_equal(r->max_crl_size, 64u << 20);
    assert_int_equal(r->max_redirects, 3);
    assert_true(r->allow_http);
    assert_false(r->allow_https);
    assert_true(r->allow_ldap);
    assert_int_equal(r->refresh_before_s, 600);

    const cg_kerberos_cfg *k = &cfg->kerberos;
    assert_false(k->enabled);
    assert_null(k->keytab);
    assert_null(k->principal);
    assert_null(k->realm);
    assert_null(k->krb5_config);

    const cg_backend_cfg *b = &cfg->backends[0];
    assert_false(b->kerberos);
    assert_null(b->spn);
    assert_false(b->send_on_401_only);
    assert_false(b->connection_bound);

    const cg_listener_cfg *l = &cfg->listeners[0];
    assert_int_equal(l->max_chain_depth, 6);
    assert_false(l->allow_weak_signatures);
    assert_int_equal(l->revocation.mode, CG_REVOCATION_FETCH);
    assert_int_equal(l->revocation.ncrl_files, 0);
    assert_null(l->revocation.crl_files);
    assert_int_equal(l->revocation.stale_grace_s, 0);
    assert_null(l->mapping_file);
    assert_int_equal(l->mapping_pos.line, 0);
    assert_null(l->mapping);
    cg_config_unref(cfg);

    /* Empty sections mean the defaults too. */
    cfg = expect_ok("revocation: {}\n" MIN_BACKENDS
                    "listeners:\n"
                    "  - port: 8443\n"
                    "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                    "    revocation: {}\n"
                    "    routes: [ { path: /, backend: app } ]\n");
    assert_int_equal(cfg->revocation.fetch_timeout_ms, 10000);
    assert_true(cfg->revocation.allow_http && cfg->revocation.allow_ldap);
    assert_false(cfg->revocation.allow_https);
    assert_int_equal(cfg->listeners[0].revocation.mode, CG_REVOCATION_FETCH);
    cg_config_unref(cfg);

    /* With only the required kerberos keys. */
    cfg = expect_ok(KRB_TOP MINIMAL);
    k = &cfg->kerberos;
    assert_true(k->enabled);
    assert_cwd_path(k->keytab, "k.keytab");
    assert_string_equal(k->principal, "HTTP/proxy@EXAMPLE.TEST");
    assert_string_equal(k->realm, "EXAMPLE.TEST");
    assert_null(k->krb5_config);
    assert_int_equal(k->kdc_timeout_ms, 5000);
    assert_int_equal(k->refresh_before_s, 300);
    assert_int_equal(k->negative_cache_ms, 10000);
    assert_false(cfg->backends[0].kerberos); /* the section alone delegates nothing */
    cg_config_unref(cfg);
}

static void test_revocation_section(void **state)
{
    (void)state;
    cg_config *cfg = expect_ok("revocation:\n"
                               "  cache_dir: crl-cache\n"
                               "  fetch_timeout: 1s\n"
                               "  max_crl_size: 1g\n"
                               "  max_redirects: 0\n"
                               "  allowed_schemes: [https]\n"
                               "  refresh_before: 168h\n" MINIMAL);
    const cg_revocation_cfg *r = &cfg->revocation;
    assert_cwd_path(r->cache_dir, "crl-cache");
    assert_int_equal(r->fetch_timeout_ms, 1000);
    assert_int_equal(r->max_crl_size, 1u << 30);
    assert_int_equal(r->max_redirects, 0);
    assert_false(r->allow_http);
    assert_true(r->allow_https);
    assert_false(r->allow_ldap);
    assert_int_equal(r->refresh_before_s, 168 * 3600);
    cg_config_unref(cfg);

    cfg = expect_ok("revocation:\n"
                    "  cache_dir: /var/cache/certgate/crl\n"
                    "  fetch_timeout: 5m\n"
                    "  max_crl_size: 1k\n"
                    "  max_redirects: 10\n"
                    "  allowed_schemes:\n"
                    "    - ldap\n"
                    "    - http\n"
                    "    - https\n"
                    "  refresh_before: 0s\n" MINIMAL);
    r = &cfg->revocation;
    assert_string_equal(r->cache_dir, "/var/cache/certgate/crl");
    assert_int_equal(r->fetch_timeout_ms, 300000);
    assert_int_equal(r->max_crl_size, 1024);
    assert_int_equal(r->max_redirects, 10);
    assert_true(r->allow_http && r->allow_https && r->allow_ldap);
    assert_int_equal(r->refresh_before_s, 0);
    cg_config_unref(cfg);
}

static void test_revocation_errors(void **state)
{
    (void)state;
    expect_error("revocation:\n  fetch_timeout: 500ms\n" MINIMAL, 2, 18,
                 "revocation.fetch_timeout: \"500ms\" is out of range (expected 1s to 5m)");
    expect_error("revocation:\n  fetch_timeout: 6m\n" MINIMAL, 2, 18, "(expected 1s to 5m)");
    expect_error("revocation:\n  max_crl_size: 512\n" MINIMAL, 2, 17,
                 "revocation.max_crl_size: \"512\" is out of range (expected 1k to 1g)");
    expect_error("revocation:\n  max_crl_size: 2g\n" MINIMAL, 2, 17, "(expected 1k to 1g)");
    expect_error("revocation:\n  max_crl_size: big\n" MINIMAL, 2, 17,
                 "revocation.max_crl_size: \"big\" is not a size");
    expect_error("revocation:\n  max_redirects: 11\n" MINIMAL, 2, 18,
                 "revocation.max_redirects: 11 is out of range (expected 0 to 10)");
    expect_error("revocation:\n  refresh_before: 169h\n" MINIMAL, 2, 19,
                 "revocation.refresh_before: \"169h\" is out of range (expected 0s to 168h)");
    expect_error("revocation:\n  refresh_before: 1500ms\n" MINIMAL, 2, 19,
                 "revocation.refresh_before: must be a whole number of seconds");
    expect_error("revocation:\n  cache_dir: \"\"\n" MINIMAL, 2, 14,
                 "revocation.cache_dir: must not be empty");
    expect_error("revocation:\n  cache: x\n" MINIMAL, 2, 3,
                 "unknown key \"cache\" in revocation (expected one of: cache_dir, fetch_timeout, "
                 "max_crl_size, max_redirects, allowed_schemes, refresh_before, ocsp_timeout, "
                 "ocsp_max_response_size, ocsp_nonce)");
    /* OCSP settings. */
    cg_config *oc = expect_ok("revocation:\n  ocsp_timeout: 2s\n  ocsp_max_response_size: 16k\n  ocsp_nonce: true\n"
                              MINIMAL);
    assert_int_equal(oc->revocation.ocsp_timeout_ms, 2000);
    assert_int_equal(oc->revocation.ocsp_max_response, 16384);
    assert_true(oc->revocation.ocsp_nonce);
    cg_config_unref(oc);
    oc = expect_ok(MINIMAL);
    assert_int_equal(oc->revocation.ocsp_timeout_ms, 5000);
    assert_int_equal(oc->revocation.ocsp_max_response, 65536);
    assert_false(oc->revocation.ocsp_nonce);
    cg_config_unref(oc);
    expect_error("revocation:\n  ocsp_timeout: 2m\n" MINIMAL, 2, 17,
                 "revocation.ocsp_timeout: \"2m\" is out of range (expected 100ms to 1m)");
    expect_error("revocation:\n  ocsp_max_response_size: 2m\n" MINIMAL, 2, 27,
                 "revocation.ocsp_max_response_size: \"2m\" is out of range");
    expect_error("revocation:\n  ocsp_nonce: yes\n" MINIMAL, 2, 15, "revocation.ocsp_nonce");
    expect_error("revocation: off\n" MINIMAL, 1, 13,
                 "revocation: expected a mapping with keys cache_dir, fetch_timeout");

    /* allowed_schemes */
    expect_error("revocation:\n  allowed_schemes: http\n" MINIMAL, 2, 20,
                 "revocation.allowed_schemes: expected a list of schemes such as [http, ldap] "
                 "(each one of: http, https, ldap), got \"http\"");
    expect_error("revocation:\n  allowed_schemes:\n" MINIMAL, 2, 19,
                 "revocation.allowed_schemes: expected a list of schemes such as [http, ldap] "
                 "(each one of: http, https, ldap), got no value");
    expect_error("revocation:\n  allowed_schemes: []\n" MINIMAL, 2, 20,
                 "revocation.allowed_schemes: the list is empty (expected at least one of: http, "
                 "https, ldap;");
    expect_error("revocation:\n  allowed_schemes: [http, ftp]\n" MINIMAL, 2, 27,
                 "revocation.allowed_schemes[#2]: unknown scheme \"ftp\" (expected one of: http, "
                 "https, ldap)");
    expect_error("revocation:\n  allowed_schemes: [HTTP]\n" MINIMAL, 2, 21,
                 "unknown scheme \"HTTP\" (expected one of: http, https, ldap)");
    expect_error("revocation:\n  allowed_schemes: [http, http]\n" MINIMAL, 2, 27,
                 "revocation.allowed_schemes[#2]: duplicate scheme \"http\" (first at line 2, "
                 "column 21;");
    expect_error("revocation:\n  allowed_schemes: [[http]]\n" MINIMAL, 2, 21,
                 "revocation.allowed_schemes[#1]: expected a scheme (one of: http, https, ldap), "
                 "got a list");
    expect_error("revocation:\n  allowed_schemes: [~]\n" MINIMAL, 2, 21, "got no value");
}

static void test_kerberos_section(void **state)
{
    (void)state;
    cg_config *cfg = expect_ok("kerberos:\n"
                               "  keytab: /etc/certgate/proxy.keytab\n"
                               "  principal: svc-proxy@OTHER.TEST\n"
                               "  realm: EXAMPLE.TEST\n"
                               "  krb5_config: krb5.conf\n"
                               "  kdc_timeout: 100ms\n"
                               "  refresh_before: 12h\n"
                               "  negative_cache: 0\n" MINIMAL);
    const cg_kerberos_cfg *k = &cfg->kerberos;
    assert_true(k->enabled);
    assert_string_equal(k->keytab, "/etc/certgate/proxy.keytab");
    /* A principal with a realm is kept as written (cross-realm is allowed). */
    assert_string_equal(k->principal, "svc-proxy@OTHER.TEST");
    assert_string_equal(k->realm, "EXAMPLE.TEST");
    assert_cwd_path(k->krb5_config, "krb5.conf");
    assert_int_equal(k->kdc_timeout_ms, 100);
    assert_int_equal(k->refresh_before_s, 12 * 3600);
    assert_int_equal(k->negative_cache_ms, 0);
    cg_config_unref(cfg);

    cfg = expect_ok("kerberos:\n"
                    "  keytab: proxy.keytab\n"
                    "  principal: HTTP/proxy.example.test\n"
                    "  realm: EXAMPLE.TEST\n"
                    "  kdc_timeout: 5m\n"
                    "  refresh_before: 1s\n"
                    "  negative_cache: 10m\n" MINIMAL);
    k = &cfg->kerberos;
    assert_cwd_path(k->keytab, "proxy.keytab");
    assert_string_equal(k->principal, "HTTP/proxy.example.test@EXAMPLE.TEST");
    assert_int_equal(k->kdc_timeout_ms, 300000);
    assert_int_equal(k->refresh_before_s, 1);
    assert_int_equal(k->negative_cache_ms, 600000);
    cg_config_unref(cfg);
}

/* kerberos.realms: trusted domains and forests with their KDCs and UPN
 * suffixes. */
static void test_kerberos_realms(void **state)
{
    (void)state;
    cg_config *cfg = expect_ok("kerberos:\n"
                               "  keytab: k.keytab\n"
                               "  principal: HTTP/proxy\n"
                               "  realm: AD.EXAMPLE.TEST\n"
                               "  realms:\n"
                               "    - name: AD.EXAMPLE.TEST\n"
                               "      kdcs: [dc1.ad.example.test, \"127.0.0.1:8888\"]\n"
                               "      upn_suffixes: [corp.example.com]\n"
                               "    - name: CORP.EXAMPLE.TEST\n"
                               "      kdcs: [\"[::1]:88\", dc.corp.example.test:750]\n"
                               "    - name: EMPTY.TEST\n" MINIMAL);
    const cg_kerberos_cfg *k = &cfg->kerberos;
    assert_int_equal(k->nrealms, 3);
    assert_string_equal(k->realms[0].name, "AD.EXAMPLE.TEST");
    assert_int_equal(k->realms[0].nkdcs, 2);
    assert_string_equal(k->realms[0].kdcs[1], "127.0.0.1:8888");
    assert_int_equal(k->realms[0].nupn_suffixes, 1);
    assert_string_equal(k->realms[0].upn_suffixes[0], "corp.example.com");
    assert_string_equal(k->realms[1].kdcs[0], "[::1]:88");
    assert_int_equal(k->realms[2].nkdcs, 0);
    cg_config_unref(cfg);

    static const char tmpl[] = "kerberos:\n"
                               "  keytab: k.keytab\n"
                               "  principal: HTTP/proxy\n"
                               "  realm: AD.EXAMPLE.TEST\n"
                               "  realms:\n"
                               "%s" MINIMAL;
    char yaml[2048];
    snprintf(yaml, sizeof yaml, tmpl, "    - name: CORP.TEST\n      kdcs: [\"dc1:0\"]\n");
    expect_error(yaml, 7, 14, "kerberos.realms[CORP.TEST].kdcs[#1]: expected a KDC address: host, host:port or "
                              "[IPv6]:port, got");
    snprintf(yaml, sizeof yaml, tmpl, "    - name: CORP.TEST\n      kdcs: [\"dc 1\"]\n");
    expect_error(yaml, 7, 14, "kdcs[#1]: expected a KDC address");
    snprintf(yaml, sizeof yaml, tmpl, "    - name: CORP.TEST\n      kdcs: [\"dc1:99999\"]\n");
    expect_error(yaml, 7, 14, "kdcs[#1]: expected a KDC address");
    snprintf(yaml, sizeof yaml, tmpl, "    - name: CORP.TEST\n      kdcs: [\"[zz]:88\"]\n");
    expect_error(yaml, 7, 14, "kdcs[#1]: expected a KDC address");
    snprintf(yaml, sizeof yaml, tmpl, "    - name: CORP.TEST\n      upn_suffixes: [\"a@b\"]\n");
    expect_error(yaml, 7, 22, "upn_suffixes[#1]: expected a UPN suffix");
    snprintf(yaml, sizeof yaml, tmpl, "    - name: CORP.TEST\n    - name: corp.test\n");
    expect_error(yaml, 7, 13, "kerberos.realms[corp.test].name: realm corp.test is listed twice");
    snprintf(yaml, sizeof yaml, tmpl, "    - name: ad.example.test\n");
    expect_error(yaml, 6, 13, "is kerberos.realm spelled with another case: write it as AD.EXAMPLE.TEST");
    snprintf(yaml, sizeof yaml, tmpl, "    - name: \"A@B\"\n");
    expect_error(yaml, 6, 13, "kerberos.realms[A@B].name: \"A@B\" is not a realm name");
    snprintf(yaml, sizeof yaml, tmpl, "    - kdcs: [dc1]\n");
    expect_error(yaml, 6, 7, "missing required key \"name\" in kerberos.realms[#1]");
    snprintf(yaml, sizeof yaml, tmpl, "    - name: X.TEST\n      kdc: [dc1]\n");
    expect_error(yaml, 7, 7, "unknown key \"kdc\" in realm \"X.TEST\" of kerberos.realms");
    snprintf(yaml, sizeof yaml, tmpl, "    - name: X.TEST\n      upn_suffixes: [corp.com]\n"
                                      "    - name: Y.TEST\n      upn_suffixes: [CORP.com]\n");
    expect_error(yaml, 9, 7, "kerberos.realms[Y.TEST].upn_suffixes: CORP.com is already the realm X.TEST");
    snprintf(yaml, sizeof yaml, tmpl, "    - name: X.TEST\n      upn_suffixes: [ad.example.test]\n");
    expect_error(yaml, 7, 7, "ad.example.test is already the realm AD.EXAMPLE.TEST");
    snprintf(yaml, sizeof yaml, tmpl, "    name: X.TEST\n");
    expect_error(yaml, 6, 5, "kerberos.realms: expected a list of realms");

    /* lower case: loads, with a warning */
    cg_diag d;
    snprintf(yaml, sizeof yaml, tmpl, "    - name: corp.test\n");
    cfg = load(yaml, &d);
    assert_non_null(cfg);
    assert_true(has_diag(&d, CG_DIAG_WARNING, 6, 13, "has lower-case letters"));
    cg_diag_free(&d);
    cg_config_unref(cfg);
}

static void test_kerberos_errors(void **state)
{
    (void)state;
    expect_error("kerberos:\n  principal: HTTP/proxy\n  realm: EXAMPLE.TEST\n" MINIMAL, 2, 3,
                 "missing required key \"keytab\" in kerberos (expected the keytab file");
    expect_error("kerberos:\n  keytab: k.keytab\n  realm: EXAMPLE.TEST\n" MINIMAL, 2, 3,
                 "missing required key \"principal\" in kerberos (expected the proxy's own principal");
    expect_error("kerberos:\n  keytab: k.keytab\n  principal: HTTP/proxy\n" MINIMAL, 2, 3,
                 "missing required key \"realm\" in kerberos (expected the default realm");
    expect_error("kerberos:\n" MINIMAL, 1, 10,
                 "kerberos: expected a mapping with keys keytab, principal, realm, realms, krb5_config, "
                 "kdc_timeout, refresh_before, negative_cache, got no value");
    expect_error("kerberos:\n  keytab: k\n  principal: p\n  realm: R\n  password: x\n" MINIMAL, 5, 3,
                 "unknown key \"password\" in kerberos");
    expect_error("kerberos:\n  keytab: \"\"\n  principal: p\n  realm: R\n" MINIMAL, 2, 11,
                 "kerberos.keytab: must not be empty");

    static const char tmpl[] = "kerberos:\n"
                               "  keytab: k.keytab\n"
                               "  principal: %s\n"
                               "  realm: %s\n"
                               "  %s\n" MINIMAL;
    char yaml[2048];
    snprintf(yaml, sizeof yaml, tmpl, "HTTP/proxy", "\"EXAMPLE.TEST@X\"", "kdc_timeout: 5s");
    expect_error(yaml, 4, 10, "kerberos.realm: \"EXAMPLE.TEST@X\" is not a realm name (expected "
                              "e.g. EXAMPLE.TEST, without \"@\"");
    snprintf(yaml, sizeof yaml, tmpl, "HTTP/proxy", "\"EXAMPLE TEST\"", "kdc_timeout: 5s");
    expect_error(yaml, 4, 10, "is not a realm name");
    snprintf(yaml, sizeof yaml, tmpl, "\"HTTP/proxy@\"", "EXAMPLE.TEST", "kdc_timeout: 5s");
    expect_error(yaml, 3, 14, "kerberos.principal: \"HTTP/proxy@\" is not a principal name "
                              "(expected name or name@REALM");
    snprintf(yaml, sizeof yaml, tmpl, "\"@EXAMPLE.TEST\"", "EXAMPLE.TEST", "kdc_timeout: 5s");
    expect_error(yaml, 3, 14, "is not a principal name");
    snprintf(yaml, sizeof yaml, tmpl, "a@B@C", "EXAMPLE.TEST", "kdc_timeout: 5s");
    expect_error(yaml, 3, 14, "is not a principal name");
    snprintf(yaml, sizeof yaml, tmpl, "\"HTTP/a b\"", "EXAMPLE.TEST", "kdc_timeout: 5s");
    expect_error(yaml, 3, 14, "is not a principal name");
    snprintf(yaml, sizeof yaml, tmpl, "HTTP/proxy", "EXAMPLE.TEST", "kdc_timeout: 50ms");
    expect_error(yaml, 5, 16, "kerberos.kdc_timeout: \"50ms\" is out of range (expected 100ms to 5m)");
    snprintf(yaml, sizeof yaml, tmpl, "HTTP/proxy", "EXAMPLE.TEST", "kdc_timeout: 301s");
    expect_error(yaml, 5, 16, "(expected 100ms to 5m)");
    snprintf(yaml, sizeof yaml, tmpl, "HTTP/proxy", "EXAMPLE.TEST", "refresh_before: 0s");
    expect_error(yaml, 5, 19, "kerberos.refresh_before: \"0s\" is out of range (expected 1s to 12h)");
    snprintf(yaml, sizeof yaml, tmpl, "HTTP/proxy", "EXAMPLE.TEST", "refresh_before: 13h");
    expect_error(yaml, 5, 19, "(expected 1s to 12h)");
    snprintf(yaml, sizeof yaml, tmpl, "HTTP/proxy", "EXAMPLE.TEST", "refresh_before: 1500ms");
    expect_error(yaml, 5, 19, "kerberos.refresh_before: must be a whole number of seconds");
    snprintf(yaml, sizeof yaml, tmpl, "HTTP/proxy", "EXAMPLE.TEST", "negative_cache: 11m");
    expect_error(yaml, 5, 19, "kerberos.negative_cache: \"11m\" is out of range (expected 0s to 10m)");
    snprintf(yaml, sizeof yaml, tmpl, "HTTP/proxy", "EXAMPLE.TEST", "krb5_config: [a]");
    expect_error(yaml, 5, 16, "kerberos.krb5_config: expected a file path, got a list");
}

/* Line 8 is the backend's "kerberos:" (its value at column 15). */
static const char bk_tmpl[] = KRB_TOP
    "backends:\n"
    "  - name: app\n"
    "    url: %s\n"
    "    kerberos: %s\n" MAPPED_LISTENERS;

/* HTTP/2 streams delegate like HTTP/1.1 requests (issue 15): a listener with
 * http2 may route to Kerberos backends and to plain ones. */
static void test_http2_allows_delegating_routes(void **state)
{
    (void)state;
    static const char yaml[] = KRB_TOP
        "backends:\n"                                  /* 5 */
        "  - name: app\n"
        "    url: http://a\n"
        "    kerberos: {}\n"
        "  - name: plain\n"
        "    url: http://b\n"                          /* 10 */
        "listeners:\n"
        "  - name: main\n"
        "    port: 8443\n"
        "    mapping: map.yaml\n"
        "    http2: true\n"                            /* 15 */
        "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
        "    routes:\n"
        "      - path: /plain\n"
        "        backend: plain\n"
        "      - path: /app\n"                         /* 20 */
        "        backend: app\n";
    cg_config *cfg = expect_ok(yaml);
    assert_true(cfg->listeners[0].http2);
    assert_true(cfg->backends[cfg->listeners[0].routes[1].backend].kerberos);
    cg_config_unref(cfg);
    static const char plain[] = MIN_BACKENDS
        "listeners:\n"
        "  - name: main\n"
        "    port: 8443\n"
        "    http2: true\n"
        "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
        "    routes: [ { path: /, backend: app } ]\n";
    cfg = expect_ok(plain);
    assert_true(cfg->listeners[0].http2);
    cg_config_unref(cfg);
}

static void test_backend_kerberos(void **state)
{
    (void)state;
    char yaml[2048];
    snprintf(yaml, sizeof yaml, bk_tmpl, "http://127.0.0.1:8080", "{}");
    cg_config *cfg = expect_ok(yaml);
    const cg_backend_cfg *b = &cfg->backends[0];
    assert_true(b->kerberos);
    assert_string_equal(b->spn, "HTTP/127.0.0.1");
    assert_false(b->send_on_401_only);
    assert_false(b->connection_bound);
    const cg_listener_cfg *l = &cfg->listeners[0];
    assert_cwd_path(l->mapping_file, "map.yaml");
    assert_int_equal(l->mapping_pos.line, 12);
    assert_int_equal(l->mapping_pos.column, 14);
    assert_null(l->mapping); /* CG_CONFIG_SKIP_TLS: not opened */
    cg_config_unref(cfg);

    /* The default SPN is the URL's host, never with the port. */
    snprintf(yaml, sizeof yaml, bk_tmpl, "http://App.Internal:8080", "{ send: always }");
    cfg = expect_ok(yaml);
    assert_string_equal(cfg->backends[0].spn, "HTTP/App.Internal");
    assert_false(cfg->backends[0].send_on_401_only);
    cg_config_unref(cfg);

    snprintf(yaml, sizeof yaml, bk_tmpl, "http://[::1]:8080",
             "\n      spn: HTTP/app.example.test\n      send: on_401\n      connection_bound: true");
    cfg = expect_ok(yaml);
    b = &cfg->backends[0];
    assert_true(b->kerberos);
    assert_string_equal(b->spn, "HTTP/app.example.test");
    assert_true(b->send_on_401_only);
    assert_true(b->connection_bound);
    cg_config_unref(cfg);

    static const struct {
        const char *url, *value;
        int col;
        const char *msg;
    } bad[] = {
        { "http://a", "{ spn: \"HTTP/app:8080\" }", 22,
          "backends[app].kerberos.spn: \"HTTP/app:8080\" has a port (\":\"); SPNs never carry a "
          "port, and the realm is added from kerberos.realm (expected service/host, e.g. "
          "HTTP/app.example.test)" },
        { "http://a", "{ spn: HTTP/app@EXAMPLE.TEST }", 22,
          "backends[app].kerberos.spn: \"HTTP/app@EXAMPLE.TEST\" has a realm (\"@\"); SPNs never "
          "carry a port, and the realm is added from kerberos.realm" },
        { "http://a", "{ spn: app.example.test }", 22,
          "backends[app].kerberos.spn: \"app.example.test\" is not a service principal name "
          "(expected service/host, e.g. HTTP/app.example.test)" },
        { "http://a", "{ spn: HTTP/ }", 22, "is not a service principal name" },
        { "http://a", "{ spn: /app }", 22, "is not a service principal name" },
        { "http://a", "{ spn: \"\" }", 22, "backends[app].kerberos.spn: must not be empty" },
        { "http://a", "{ send: sometimes }", 23,
          "backends[app].kerberos.send: unknown value \"sometimes\" (expected one of: always, on_401)" },
        { "http://a", "{ connection_bound: yes }", 35,
          "backends[app].kerberos.connection_bound: expected true or false, got \"yes\"" },
        { "http://a", "{ realm: X }", 17,
          "unknown key \"realm\" in kerberos of backend \"app\" (expected one of: spn, send, "
          "connection_bound)" },
        { "http://a", "true", 15,
          "backends[app].kerberos: expected a mapping with keys spn, send, connection_bound, "
          "got \"true\"" },
        { "http://a", "~", 15,
          "backends[app].kerberos: expected a mapping with keys spn, send, connection_bound, got "
          "no value (write \"kerberos: {}\" for the defaults, or remove the key to not delegate)" },
        { "http://[::1]:8080", "{}", 15,
          "backends[app].kerberos: the backend's host ::1 is an IPv6 address, which makes no SPN "
          "(set kerberos.spn" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(yaml, sizeof yaml, bk_tmpl, bad[i].url, bad[i].value);
        expect_errors_n(yaml, 1, 8, bad[i].col, bad[i].msg);
    }
}

static void test_backend_kerberos_needs_section(void **state)
{
    (void)state;
    /* Reported once, at the backend's key, not again at the route. */
    expect_errors_n("backends:\n"
                    "  - name: app\n"
                    "    url: http://a\n"
                    "    kerberos: {}\n" MAPPED_LISTENERS,
                    1, 4, 5, "backends[app].kerberos: delegation needs the top-level kerberos "
                    "section, which is missing (add kerberos: with keytab, principal and realm");
    /* An invalid top-level section is reported as itself, not as missing. */
    expect_errors_n("kerberos: {}\n"
                    "backends:\n"
                    "  - name: app\n"
                    "    url: http://a\n"
                    "    kerberos: {}\n" MAPPED_LISTENERS,
                    3, 1, 11, "missing required key \"keytab\" in kerberos");
}

static void test_route_to_kerberos_backend_needs_mapping(void **state)
{
    (void)state;
    static const char yaml[] = KRB_TOP
        "backends:\n"                                  /* 5 */
        "  - name: app\n"
        "    url: http://a\n"
        "    kerberos: {}\n"
        "  - name: plain\n"
        "    url: http://b\n"                          /* 10 */
        "listeners:\n"
        "  - name: main\n"
        "    port: 8443\n"
        "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
        "    routes:\n"                                /* 15 */
        "      - path: /plain\n"
        "        backend: plain\n"
        "      - path: /app\n"
        "        backend: app\n";
    expect_errors_n(yaml, 1, 18, 9,
                    "listeners[main].routes[/app]: the backend \"app\" delegates as the mapped "
                    "user: set mapping on listener \"main\" (a certificate -> Kerberos principal "
                    "mapping file");
    /* An invalid mapping is reported as itself only. */
    expect_errors_n(KRB_TOP
                    "backends:\n"
                    "  - name: app\n"
                    "    url: http://a\n"
                    "    kerberos: {}\n"
                    "listeners:\n"
                    "  - name: main\n"
                    "    port: 8443\n"
                    "    mapping: \"\"\n"
                    "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                    "    routes: [ { path: /, backend: app } ]\n",
                    1, 12, 14, "listeners[main].mapping: must not be empty");
    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - name: main\n"
                 "    port: 8443\n"
                 "    mapping: [a.yaml]\n"
                 "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n",
                 7, 14, "listeners[main].mapping: expected a file path, got a list");
    /* A mapping without any delegating backend is fine (the identity is
     * then the mapped principal, for logs and headers). */
    cg_config *cfg = expect_ok(MIN_BACKENDS MAPPED_LISTENERS);
    assert_cwd_path(cfg->listeners[0].mapping_file, "map.yaml");
    assert_int_equal(cfg->listeners[0].mapping_pos.line, 7);
    cg_config_unref(cfg);
}

static const char tls_new_tmpl[] = MIN_BACKENDS
    "listeners:\n"
    "  - name: main\n"
    "    port: 8443\n"
    "    tls:\n"
    "      certificate: s.crt\n"
    "      key: s.key\n"
    "      client_ca: ca.crt\n"
    "      max_chain_depth: %s\n"
    "      allow_weak_signatures: %s\n"
    "    routes: [ { path: /, backend: app } ]\n";

static void test_listener_tls_new_keys(void **state)
{
    (void)state;
    char yaml[2048];
    snprintf(yaml, sizeof yaml, tls_new_tmpl, "2", "true");
    cg_config *cfg = expect_ok(yaml);
    assert_int_equal(cfg->listeners[0].max_chain_depth, 2);
    assert_true(cfg->listeners[0].allow_weak_signatures);
    cg_config_unref(cfg);
    snprintf(yaml, sizeof yaml, tls_new_tmpl, "12", "false");
    cfg = expect_ok(yaml);
    assert_int_equal(cfg->listeners[0].max_chain_depth, 12);
    assert_false(cfg->listeners[0].allow_weak_signatures);
    cg_config_unref(cfg);

    snprintf(yaml, sizeof yaml, tls_new_tmpl, "1", "false");
    expect_error(yaml, 11, 24, "listeners[main].tls.max_chain_depth: 1 is out of range (expected 2 to 12)");
    snprintf(yaml, sizeof yaml, tls_new_tmpl, "13", "false");
    expect_error(yaml, 11, 24, "listeners[main].tls.max_chain_depth: 13 is out of range (expected 2 to 12)");
    snprintf(yaml, sizeof yaml, tls_new_tmpl, "six", "false");
    expect_error(yaml, 11, 24, "listeners[main].tls.max_chain_depth: expected a whole number from 2 "
                               "to 12, got \"six\"");
    snprintf(yaml, sizeof yaml, tls_new_tmpl, "6", "yes");
    expect_error(yaml, 12, 30, "listeners[main].tls.allow_weak_signatures: expected true or false, "
                               "got \"yes\"");

    /* max_client_certificates: 10 by default, 1 to 32. */
    snprintf(yaml, sizeof yaml, tls_new_tmpl, "6", "false");
    cfg = expect_ok(yaml);
    assert_int_equal(cfg->listeners[0].max_client_certificates, 10);
    cg_config_unref(cfg);
    static const char certs_tmpl[] = MIN_BACKENDS
        "listeners:\n"
        "  - name: main\n"
        "    port: 8443\n"
        "    tls:\n"
        "      certificate: s.crt\n"
        "      key: s.key\n"
        "      client_ca: ca.crt\n"
        "      max_client_certificates: %s\n"
        "    routes: [ { path: /, backend: app } ]\n";
    snprintf(yaml, sizeof yaml, certs_tmpl, "32");
    cfg = expect_ok(yaml);
    assert_int_equal(cfg->listeners[0].max_client_certificates, 32);
    cg_config_unref(cfg);
    snprintf(yaml, sizeof yaml, certs_tmpl, "0");
    expect_error(yaml, 11, 32, "listeners[main].tls.max_client_certificates: 0 is out of range (expected 1 to 32)");
    snprintf(yaml, sizeof yaml, certs_tmpl, "33");
    expect_error(yaml, 11, 32, "listeners[main].tls.max_client_certificates: 33 is out of range (expected 1 to 32)");
}

/* tls.min_version / max_version: "1.2" or "1.3" (quoted or not), 1.2 to
 * 1.3 by default, min above max refused. Line 11: min_version (value at
 * column 20), 12: max_version (20). */
static const char versions_tmpl[] = MIN_BACKENDS
    "listeners:\n"
    "  - name: main\n"
    "    port: 8443\n"
    "    tls:\n"
    "      certificate: s.crt\n"
    "      key: s.key\n"
    "      client_ca: ca.crt\n"
    "      min_version: %s\n"
    "      max_version: %s\n"
    "    routes: [ { path: /, backend: app } ]\n";

static void test_listener_tls_versions(void **state)
{
    (void)state;
    char yaml[2048];
    cg_config *cfg = expect_ok(MIN_BACKENDS "listeners:\n"
                                            "  - name: main\n"
                                            "    port: 8443\n"
                                            "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                                            "    routes: [ { path: /, backend: app } ]\n");
    assert_int_equal(cfg->listeners[0].tls_min_version, CG_TLS_1_2);
    assert_int_equal(cfg->listeners[0].tls_max_version, CG_TLS_1_3);
    cg_config_unref(cfg);
    snprintf(yaml, sizeof yaml, versions_tmpl, "\"1.3\"", "\"1.3\"");
    cfg = expect_ok(yaml);
    assert_int_equal(cfg->listeners[0].tls_min_version, CG_TLS_1_3);
    assert_int_equal(cfg->listeners[0].tls_max_version, CG_TLS_1_3);
    cg_config_unref(cfg);
    snprintf(yaml, sizeof yaml, versions_tmpl, "1.2", "1.2"); /* unquoted: YAML's plain text */
    cfg = expect_ok(yaml);
    assert_int_equal(cfg->listeners[0].tls_min_version, CG_TLS_1_2);
    assert_int_equal(cfg->listeners[0].tls_max_version, CG_TLS_1_2);
    cg_config_unref(cfg);

    snprintf(yaml, sizeof yaml, versions_tmpl, "\"1.3\"", "\"1.2\"");
    expect_error(yaml, 11, 20, "listeners[main].tls.min_version: min_version 1.3 is above max_version 1.2");
    snprintf(yaml, sizeof yaml, versions_tmpl, "\"1.1\"", "\"1.3\"");
    expect_error(yaml, 11, 20, "listeners[main].tls.min_version: unknown value");
    snprintf(yaml, sizeof yaml, versions_tmpl, "\"1.2\"", "TLSv1.3");
    expect_error(yaml, 12, 20, "listeners[main].tls.max_version: unknown value");
    snprintf(yaml, sizeof yaml, versions_tmpl, "\"1.2\"", "1.30");
    expect_error(yaml, 12, 20, "(expected one of: 1.2, 1.3)");
}

/* Line 9: mode (value at column 13), 10: crl_files (18), 11: stale_grace (20). */
static const char rv_tmpl[] = MIN_BACKENDS
    "listeners:\n"
    "  - name: main\n"
    "    port: 8443\n"
    "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
    "    revocation:\n"
    "      mode: %s\n"
    "      crl_files: %s\n"
    "      stale_grace: %s\n"
    "    routes: [ { path: /, backend: app } ]\n";

static void test_listener_revocation(void **state)
{
    (void)state;
    char yaml[4096], files[2048];
    char *crl = abs_data_file("config-crl.pem"), *dir = abs_data_file("");
    dir[strlen(dir) - 1] = '\0'; /* no trailing slash */

    snprintf(files, sizeof files, "[\"%s\", \"%s\"]", crl, dir);
    snprintf(yaml, sizeof yaml, rv_tmpl, "cache-only", files, "720h");
    cg_config *cfg = expect_ok(yaml);
    const cg_listener_revocation *r = &cfg->listeners[0].revocation;
    assert_int_equal(r->mode, CG_REVOCATION_CACHE_ONLY);
    assert_int_equal(r->ncrl_files, 2);
    assert_string_equal(r->crl_files[0], crl);
    assert_string_equal(r->crl_files[1], dir);
    assert_int_equal(r->stale_grace_s, 30 * 24 * 3600);
    cg_config_unref(cfg);

    snprintf(yaml, sizeof yaml, rv_tmpl, "fetch", "[]", "0s");
    cfg = expect_ok(yaml);
    r = &cfg->listeners[0].revocation;
    assert_int_equal(r->mode, CG_REVOCATION_FETCH);
    assert_int_equal(r->ncrl_files, 0);
    assert_int_equal(r->stale_grace_s, 0);
    cg_config_unref(cfg);

    /* fetch may have crl_files too: they are used before fetching. */
    snprintf(files, sizeof files, "[\"%s\"]", crl);
    snprintf(yaml, sizeof yaml, rv_tmpl, "fetch", files, "1h");
    cfg = expect_ok(yaml);
    assert_int_equal(cfg->listeners[0].revocation.ncrl_files, 1);
    assert_int_equal(cfg->listeners[0].revocation.stale_grace_s, 3600);
    cg_config_unref(cfg);

    /* off: loads, but loudly. */
    snprintf(yaml, sizeof yaml, rv_tmpl, "off", "[]", "0s");
    cfg = expect_warning(yaml, 9, 13, "revocation checking is OFF for listener \"main\": revoked "
                                      "certificates will be accepted");
    assert_int_equal(cfg->listeners[0].revocation.mode, CG_REVOCATION_OFF);
    cg_config_unref(cfg);

    snprintf(yaml, sizeof yaml, rv_tmpl, "cache-only", "[]", "0s");
    expect_errors_n(yaml, 1, 9, 13, "listeners[main].revocation.mode: cache-only needs crl_files "
                                    "(without them no CRL can be obtained");
    expect_errors_n(MIN_BACKENDS
                    "listeners:\n"
                    "  - name: main\n"
                    "    port: 8443\n"
                    "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                    "    revocation: { mode: cache-only }\n",
                    1, 8, 25, "listeners[main].revocation.mode: cache-only needs crl_files");

    snprintf(yaml, sizeof yaml, rv_tmpl, "nope", "[]", "0s");
    expect_error(yaml, 9, 13, "listeners[main].revocation.mode: unknown value \"nope\" (expected "
                              "one of: fetch, cache-only, off)");
    snprintf(yaml, sizeof yaml, rv_tmpl, "fetch", "[]", "721h");
    expect_error(yaml, 11, 20, "listeners[main].revocation.stale_grace: \"721h\" is out of range "
                               "(expected 0s to 720h)");
    snprintf(yaml, sizeof yaml, rv_tmpl, "fetch", "[]", "1500ms");
    expect_error(yaml, 11, 20, "listeners[main].revocation.stale_grace: must be a whole number of "
                               "seconds");

    /* crl_files must exist; a missing one with cache-only is one error. */
    snprintf(yaml, sizeof yaml, rv_tmpl, "cache-only", "[/nonexistent/x.crl]", "0s");
    expect_errors_n(yaml, 1, 10, 19, "listeners[main].revocation.crl_files[#1]: /nonexistent/x.crl "
                                     "does not exist (expected a CRL file (PEM or DER) or a "
                                     "directory of them)");
    /* Relative to the configuration's directory (the cwd for a string). */
    snprintf(files, sizeof files, "[\"%s\", missing.crl]", crl);
    snprintf(yaml, sizeof yaml, rv_tmpl, "fetch", files, "0s");
    char *missing = cwd_join("missing.crl"), want[PATH_MAX + 64];
    snprintf(want, sizeof want, "crl_files[#2]: %s does not exist", missing);
    expect_error(yaml, 10, 23 + (int)strlen(crl), want);
    free(missing);
    snprintf(yaml, sizeof yaml, rv_tmpl, "fetch", "[/dev/null]", "0s");
    expect_error(yaml, 10, 19, "listeners[main].revocation.crl_files[#1]: /dev/null is neither a "
                               "file nor a directory");
    snprintf(yaml, sizeof yaml, rv_tmpl, "fetch", "x.crl", "0s");
    expect_error(yaml, 10, 18, "listeners[main].revocation.crl_files: expected a list of CRL files "
                               "or directories (items starting with \"- \"), got \"x.crl\"");
    snprintf(yaml, sizeof yaml, rv_tmpl, "fetch", "[{ a: b }]", "0s");
    expect_error(yaml, 10, 19, "listeners[main].revocation.crl_files[#1]: expected a CRL file (PEM "
                               "or DER) or a directory of them, got a mapping");
    snprintf(yaml, sizeof yaml, rv_tmpl, "fetch", "[\"\"]", "0s");
    expect_error(yaml, 10, 19, "crl_files[#1]: expected a CRL file (PEM or DER) or a directory of "
                               "them, got an empty string");

    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - name: main\n"
                 "    port: 8443\n"
                 "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                 "    revocation: { mode: fetch, grace: 1s }\n",
                 8, 32, "unknown key \"grace\" in revocation of listener \"main\" (expected one of: "
                        "mode, crl_files, stale_grace, policy, ocsp_responder)");

    /* policy and ocsp_responder */
    static const char pol_tmpl[] = MIN_BACKENDS
        "listeners:\n"
        "  - name: main\n"
        "    port: 8443\n"
        "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
        "    revocation: { mode: %s, policy: %s, ocsp_responder: %s }\n"
        "    routes: [ { path: /, backend: app } ]\n";
    static const char *const pols[] = { "crl", "ocsp", "ocsp_then_crl", "crl_then_ocsp" };
    for (int i = 0; i < 4; i++) {
        snprintf(yaml, sizeof yaml, pol_tmpl, "fetch", pols[i], "\"http://127.0.0.1:8/ocsp\"");
        cg_config *pc = expect_ok(yaml);
        assert_int_equal(pc->listeners[0].revocation.policy, i);
        assert_string_equal(pc->listeners[0].revocation.ocsp_responder, "http://127.0.0.1:8/ocsp");
        cg_config_unref(pc);
    }
    snprintf(yaml, sizeof yaml, pol_tmpl, "fetch", "ocsp_first", "\"http://x/\"");
    expect_error(yaml, 8, 40, "listeners[main].revocation.policy: unknown value \"ocsp_first\" (expected one "
                              "of: crl, ocsp, ocsp_then_crl, crl_then_ocsp)");
    snprintf(yaml, sizeof yaml, pol_tmpl, "fetch", "ocsp", "ldap://x/");
    expect_error(yaml, 8, 62, "listeners[main].revocation.ocsp_responder: expected an http:// or https:// URL of "
                              "an OCSP responder, got \"ldap://x/\"");
    snprintf(yaml, sizeof yaml, pol_tmpl, "fetch", "ocsp", "\"http://\"");
    expect_error(yaml, 8, 62, "ocsp_responder: expected an http:// or https:// URL");
    snprintf(yaml, sizeof yaml, pol_tmpl, "fetch", "ocsp", "\"http://a b/\"");
    expect_error(yaml, 8, 62, "ocsp_responder: expected an http:// or https:// URL");
    snprintf(yaml, sizeof yaml, pol_tmpl, "cache-only", "ocsp_then_crl", "\"http://x/\"");
    expect_error(yaml, 8, 25, "listeners[main].revocation.mode: cache-only does not fetch, and OCSP answers are "
                              "fetched (revocation.policy ocsp_then_crl needs mode fetch");
    expect_error(MIN_BACKENDS
                 "listeners:\n"
                 "  - port: 8443\n"
                 "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                 "    revocation: off\n",
                 7, 17, "listeners[#1].revocation: expected a mapping with keys mode, crl_files, "
                        "stale_grace, policy, ocsp_responder, got \"off\"");
    free(crl);
    free(dir);
}

/* Without CG_CONFIG_SKIP_TLS the mapping file is loaded, after TLS; a
 * mapping that fails to load fails the configuration. */
static void test_mapping_loaded_with_tls(void **state)
{
    (void)state;
    char *crt = fx_repo_file("certs-dev/server/server.crt"), *key = fx_repo_file("certs-dev/server/server.key");
    char *ca = fx_repo_file("certs-dev/ca/root.crt"), yaml[4096];
    static const char tmpl[] = MIN_BACKENDS
        "listeners:\n"
        "  - name: main\n"
        "    port: 8443\n"
        "    tls: { certificate: \"%s\", key: \"%s\", client_ca: \"%s\" }\n"
        "    %s\n"
        "    routes: [ { path: /, backend: app } ]\n";
    cg_diag d;

    snprintf(yaml, sizeof yaml, tmpl, crt, key, ca, "forward_client_cert: false");
    cg_diag_init(&d);
    cg_config *cfg = cg_config_load_string(yaml, strlen(yaml), NAME, 0, &d);
    if (!cfg)
        cg_diag_print(&d, stderr);
    assert_non_null(cfg); /* TLS alone loads */
    assert_non_null(cfg->listeners[0].tls);
    assert_null(cfg->listeners[0].mapping);
    cg_config_unref(cfg);
    cg_diag_free(&d);

    snprintf(yaml, sizeof yaml, tmpl, crt, key, ca, "mapping: /nonexistent/certgate-mapping.yaml");
    cg_diag_init(&d);
    assert_null(cg_config_load_string(yaml, strlen(yaml), NAME, 0, &d));
    assert_true(d.errors >= 1);
    /* Reported by the mapping loader under its own name, or at the key. */
    for (size_t i = 0; i < d.count; i++) {
        const cg_diag_item *it = &d.items[i];
        if (it->severity != CG_DIAG_ERROR)
            continue;
        bool own = it->file && strcmp(it->file, "/nonexistent/certgate-mapping.yaml") == 0;
        bool at_key = it->file && strcmp(it->file, NAME) == 0 && it->line == 8 && it->column == 14;
        if (!own && !at_key)
            cg_diag_print(&d, stderr);
        assert_true(own || at_key);
    }
    cg_diag_free(&d);
    free(crt);
    free(key);
    free(ca);
}

/* The snapshot's runtime objects come from the installed builders
 * (config.h): each listener's TLS context and mapping built through them,
 * with the listener's own settings, and freed by the last unref through
 * the builders that built them; a builder that fails without saying why
 * still fails the load with one error at the listener's certificate. */
static struct {
    unsigned tls_new, tls_free, mapping_load, mapping_unref;
    unsigned workers;
    const char *listener, *mapping_path;
    bool fail_tls;
} fake;
static int fake_tls, fake_mapping; /* their addresses stand for the objects */

static struct cg_tls_server *fake_tls_new(const cg_listener_cfg *l, unsigned workers, const char *file,
                                          cg_diag *diag)
{
    (void)file;
    (void)diag;
    fake.tls_new++;
    fake.workers = workers;
    fake.listener = l->name;
    return fake.fail_tls ? NULL : (struct cg_tls_server *)&fake_tls;
}
static void fake_tls_free(struct cg_tls_server *tls)
{
    assert_ptr_equal(tls, (struct cg_tls_server *)&fake_tls);
    fake.tls_free++;
}
static struct cg_mapping *fake_mapping_load(const char *path, cg_diag *diag)
{
    (void)diag;
    fake.mapping_load++;
    fake.mapping_path = path;
    return (struct cg_mapping *)&fake_mapping;
}
static void fake_mapping_unref(struct cg_mapping *m)
{
    assert_ptr_equal(m, (struct cg_mapping *)&fake_mapping);
    fake.mapping_unref++;
}

static void test_snapshot_objects_from_builders(void **state)
{
    (void)state;
    static const cg_config_builders builders = { fake_tls_new, fake_tls_free, fake_mapping_load,
                                                 fake_mapping_unref, NULL, NULL };
    static const char yaml[] = "workers: 3\n" MIN_BACKENDS
        "listeners:\n"
        "  - name: main\n"
        "    port: 8443\n"
        "    tls: { certificate: /x/server.crt, key: /x/server.key, client_ca: /x/ca.crt }\n"
        "    mapping: /x/map.yaml\n"
        "    routes: [ { path: /, backend: app } ]\n";
    cg_diag d;

    memset(&fake, 0, sizeof fake);
    cg_config_set_builders(&builders);
    cg_diag_init(&d);
    cg_config *cfg = cg_config_load_string(yaml, strlen(yaml), NAME, 0, &d);
    assert_non_null(cfg);
    assert_ptr_equal(cfg->listeners[0].tls, (struct cg_tls_server *)&fake_tls);
    assert_ptr_equal(cfg->listeners[0].mapping, (struct cg_mapping *)&fake_mapping);
    assert_int_equal(fake.tls_new, 1);
    assert_int_equal(fake.workers, 3);
    assert_string_equal(fake.listener, "main");
    assert_int_equal(fake.mapping_load, 1);
    assert_string_equal(fake.mapping_path, "/x/map.yaml");
    assert_int_equal(fake.tls_free + fake.mapping_unref, 0);
    /* Freed by what built it, whatever is installed by then. */
    cg_snapshot_builders_install();
    cg_config_unref(cfg);
    assert_int_equal(fake.tls_free, 1);
    assert_int_equal(fake.mapping_unref, 1);
    cg_diag_free(&d);
    cg_config_set_builders(&builders);

    /* CG_CONFIG_SKIP_TLS: neither is built. */
    memset(&fake, 0, sizeof fake);
    cg_diag_init(&d);
    cfg = cg_config_load_string(yaml, strlen(yaml), NAME, CG_CONFIG_SKIP_TLS, &d);
    assert_non_null(cfg);
    assert_null(cfg->listeners[0].tls);
    assert_null(cfg->listeners[0].mapping);
    cg_config_unref(cfg);
    assert_int_equal(fake.tls_new + fake.tls_free + fake.mapping_load + fake.mapping_unref, 0);
    cg_diag_free(&d);

    memset(&fake, 0, sizeof fake);
    fake.fail_tls = true;
    cg_diag_init(&d);
    assert_null(cg_config_load_string(yaml, strlen(yaml), NAME, 0, &d));
    assert_int_equal(d.errors, 1);
    if (!has_diag(&d, CG_DIAG_ERROR, 8, 25, "listener \"main\": TLS setup failed"))
        cg_diag_print(&d, stderr);
    assert_true(has_diag(&d, CG_DIAG_ERROR, 8, 25, "listener \"main\": TLS setup failed"));
    assert_int_equal(fake.mapping_load, 0); /* mappings come after TLS */
    cg_diag_free(&d);

    cg_snapshot_builders_install();
}

/* ---- files ---- */

static void test_reference_config_parses(void **state)
{
    (void)state;
    char *path = fx_repo_file("conf/certgate.yaml");
    cg_diag d;
    cg_diag_init(&d);
    cg_config *cfg = cg_config_load(path, CG_CONFIG_SKIP_TLS, &d);
    if (!cfg || d.count)
        cg_diag_print(&d, stderr);
    assert_non_null(cfg);
    assert_int_equal(d.count, 0);
    assert_int_equal(cfg->nlisteners, 1);
    assert_int_equal(cfg->nbackends, 1);
    const cg_listener_cfg *l = &cfg->listeners[0];
    assert_string_equal(l->name, "main");
    assert_string_equal(l->address, "127.0.0.1");
    assert_int_equal(l->port, 8443);
    assert_string_equal(l->chain_file, "/etc/certgate/chain.crt");
    assert_true(l->forward_client_cert);
    assert_int_equal(l->forward_der.form, CG_CERT_DER_OFF);
    assert_false(l->forward_der.chain);
    assert_int_equal(l->forward_der.max_size, CG_CERT_DER_DEFAULT_MAX_SIZE);
    assert_int_equal(l->session_ticket_lifetime_s, 3600);
    assert_string_equal(cfg->backends[0].host_header, "127.0.0.1:8080");
    assert_null(cfg->process.user); /* commented out: the user must exist where the file loads */
    assert_false(cfg->process.allow_root);
    assert_string_equal(cfg->process.pid_file, "/run/certgate/certgate.pid");
    /* The reference shows the defaults: same values as an empty section. */
    cg_config *min = expect_ok(MINIMAL);
    assert_memory_equal(&cfg->limits, &min->limits, sizeof cfg->limits);
    assert_memory_equal(&cfg->timeouts, &min->timeouts, sizeof cfg->timeouts);
    assert_int_equal(cfg->workers, min->workers);
    assert_int_equal(cfg->log_level, min->log_level);
    assert_null(cfg->log_file);

    const cg_revocation_cfg *r = &cfg->revocation, *rmin = &min->revocation;
    assert_string_equal(r->cache_dir, "/var/cache/certgate/crl");
    assert_int_equal(r->fetch_timeout_ms, rmin->fetch_timeout_ms);
    assert_int_equal(r->max_crl_size, rmin->max_crl_size);
    assert_int_equal(r->max_redirects, rmin->max_redirects);
    assert_int_equal(r->allow_http, rmin->allow_http);
    assert_int_equal(r->allow_https, rmin->allow_https);
    assert_int_equal(r->allow_ldap, rmin->allow_ldap);
    assert_int_equal(r->refresh_before_s, rmin->refresh_before_s);

    const cg_kerberos_cfg *k = &cfg->kerberos;
    assert_true(k->enabled);
    assert_string_equal(k->keytab, "/etc/certgate/proxy.keytab");
    assert_string_equal(k->principal, "HTTP/proxy.example.test@EXAMPLE.TEST");
    assert_string_equal(k->realm, "EXAMPLE.TEST");
    assert_string_equal(k->krb5_config, "/etc/krb5.conf");
    assert_int_equal(k->kdc_timeout_ms, min->kerberos.kdc_timeout_ms);
    assert_int_equal(k->refresh_before_s, min->kerberos.refresh_before_s);
    assert_int_equal(k->negative_cache_ms, min->kerberos.negative_cache_ms);

    const cg_backend_cfg *b = &cfg->backends[0];
    assert_true(b->kerberos);
    assert_string_equal(b->spn, "HTTP/app.example.test");
    assert_false(b->send_on_401_only);
    assert_false(b->connection_bound);

    assert_int_equal(l->max_chain_depth, min->listeners[0].max_chain_depth);
    assert_false(l->allow_weak_signatures);
    assert_int_equal(l->revocation.mode, CG_REVOCATION_FETCH);
    assert_int_equal(l->revocation.ncrl_files, 0);
    assert_int_equal(l->revocation.stale_grace_s, 0);
    assert_string_equal(l->mapping_file, "/etc/certgate/mapping.yaml");
    assert_null(l->mapping); /* CG_CONFIG_SKIP_TLS: the file is not opened */
    cg_config_unref(min);
    cg_config_unref(cfg);
    cg_diag_free(&d);
    free(path);
}

static void test_demo_config_parses(void **state)
{
    (void)state;
    char *path = fx_repo_file("conf/demo.yaml");
    cg_diag d;
    cg_diag_init(&d);
    cg_config *cfg = cg_config_load(path, CG_CONFIG_SKIP_TLS, &d);
    if (!cfg || d.count)
        cg_diag_print(&d, stderr);
    assert_non_null(cfg);
    assert_int_equal(d.count, 0);
    const cg_listener_cfg *l = &cfg->listeners[0];
    assert_string_equal(l->name, "demo");
    assert_string_equal(l->address, "127.0.0.1");
    assert_int_equal(l->port, 8443);
    assert_true(l->forward_client_cert);
    assert_non_null(strstr(l->cert_file, "/conf/../certs-dev/server/server.crt"));
    assert_non_null(strstr(l->key_file, "/conf/../certs-dev/server/server.key"));
    assert_non_null(strstr(l->client_ca_file, "/conf/../certs-dev/ca/root.crt"));
    assert_true(l->cert_file[0] == '/');
    assert_int_equal(l->nroutes, 3);
    const cg_route *echo = cg_config_route(l, "/", 1);
    assert_non_null(echo);
    assert_true(echo->client_cert_required);
    assert_string_equal(cfg->backends[echo->backend].host_header, "127.0.0.1:8080");
    assert_false(cfg->backends[echo->backend].kerberos);
    /* /whoami goes to the Kerberos backend, as the mapped user. */
    const cg_route *who = cg_config_route(l, "/whoami", 7);
    assert_non_null(who);
    const cg_backend_cfg *kb = &cfg->backends[who->backend];
    assert_true(kb->kerberos);
    assert_string_equal(kb->spn, "HTTP/backend.example.test");
    assert_true(cfg->kerberos.enabled);
    assert_string_equal(cfg->kerberos.principal, "HTTP/proxy.example.test@EXAMPLE.TEST");
    assert_non_null(l->mapping_file);
    assert_int_equal(l->revocation.mode, CG_REVOCATION_FETCH);
    cg_config_unref(cfg);
    cg_diag_free(&d);
    free(path);
}

static void test_relative_paths_from_file(void **state)
{
    (void)state;
    char *path = fx_data_file("config-relative.yaml");
    cg_diag d;
    cg_diag_init(&d);
    cg_config *cfg = cg_config_load(path, CG_CONFIG_SKIP_TLS, &d);
    if (!cfg || d.count)
        cg_diag_print(&d, stderr);
    assert_non_null(cfg);

    /* Expected: <absolute dir of the file>/<relative path>. */
    const char *data = fx_test_data();
    char *dir = data[0] == '/' ? strdup(data) : cwd_join(data), *want;
    assert_true(asprintf(&want, "%s/logs/certgate.log", dir) > 0);
    assert_string_equal(cfg->log_file, want);
    free(want);
    const cg_listener_cfg *l = &cfg->listeners[0];
    assert_true(asprintf(&want, "%s/certs/server.crt", dir) > 0);
    assert_string_equal(l->cert_file, want);
    free(want);
    assert_string_equal(l->key_file, "/etc/certgate/server.key");
    assert_true(asprintf(&want, "%s/../chain.crt", dir) > 0);
    assert_string_equal(l->chain_file, want);
    free(want);
    assert_true(asprintf(&want, "%s/./ca.crt", dir) > 0);
    assert_string_equal(l->client_ca_file, want);
    free(want);
    assert_true(asprintf(&want, "%s/crl-cache", dir) > 0);
    assert_string_equal(cfg->revocation.cache_dir, want);
    free(want);
    assert_true(asprintf(&want, "%s/proxy.keytab", dir) > 0);
    assert_string_equal(cfg->kerberos.keytab, want);
    free(want);
    assert_true(asprintf(&want, "%s/../krb5.conf", dir) > 0);
    assert_string_equal(cfg->kerberos.krb5_config, want);
    free(want);
    assert_int_equal(l->revocation.mode, CG_REVOCATION_CACHE_ONLY);
    assert_int_equal(l->revocation.ncrl_files, 3);
    assert_true(asprintf(&want, "%s/config-crl.pem", dir) > 0);
    assert_string_equal(l->revocation.crl_files[0], want);
    free(want);
    assert_true(asprintf(&want, "%s/.", dir) > 0);
    assert_string_equal(l->revocation.crl_files[1], want);
    free(want);
    assert_string_equal(l->revocation.crl_files[2], "/");
    assert_true(asprintf(&want, "%s/mapping.yaml", dir) > 0);
    assert_string_equal(l->mapping_file, want);
    free(want);
    assert_int_equal(l->mapping_pos.line, 26);
    assert_int_equal(l->mapping_pos.column, 14);
    assert_string_equal(cfg->backends[0].spn, "HTTP/127.0.0.1");
    assert_string_equal(cfg->file, path);
    free(dir);
    cg_config_unref(cfg);
    cg_diag_free(&d);
    free(path);
}

static void test_errors_in_file(void **state)
{
    (void)state;
    char *path = fx_data_file("config-errors.yaml");
    cg_diag d;
    cg_diag_init(&d);
    assert_null(cg_config_load(path, CG_CONFIG_SKIP_TLS, &d));
    if (d.count != 3)
        cg_diag_print(&d, stderr);
    assert_int_equal(d.count, 3);
    for (size_t i = 0; i < d.count; i++)
        assert_string_equal(d.items[i].file, path);
    assert_int_equal(d.items[0].line, 2);
    assert_int_equal(d.items[1].line, 5);
    assert_int_equal(d.items[2].line, 15);
    assert_int_equal(d.items[2].column, 18);

    /* The printed form is the compiler one. */
    char buf[4096] = "";
    FILE *f = fmemopen(buf, sizeof buf, "w");
    assert_non_null(f);
    cg_diag_print(&d, f);
    fclose(f);
    char *want;
    assert_true(asprintf(&want, "%s:2:10: error: workers: 0 is out of range", path) > 0);
    assert_non_null(strstr(buf, want));
    free(want);
    cg_diag_free(&d);
    free(path);
}

static void test_missing_file(void **state)
{
    (void)state;
    cg_diag d;
    cg_diag_init(&d);
    assert_null(cg_config_load("/nonexistent/certgate.yaml", 0, &d));
    assert_int_equal(d.errors, 1);
    assert_string_equal(d.items[0].file, "/nonexistent/certgate.yaml");
    assert_string_equal(d.items[0].message,
                        "cannot read the configuration file: No such file or directory");
    cg_diag_free(&d);
}

/* ---- value parsers ---- */

static void test_parse_duration(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint32_t ms;
    } ok[] = {
        { "0", 0 }, { "30", 30000 }, { "0ms", 0 }, { "500ms", 500 }, { "30s", 30000 },
        { "5m", 300000 }, { "1h", 3600000 }, { "007s", 7000 }, { "4294967295ms", UINT32_MAX },
        { "4294967s", 4294967000u }, { "1193h", 1193u * 3600000u }, { "71582m", 71582u * 60000u },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint32_t v = 12345;
        if (!cg_parse_duration_ms(ok[i].s, &v))
            fail_msg("\"%s\" rejected", ok[i].s);
        assert_int_equal(v, ok[i].ms);
    }
    static const char *const bad[] = {
        "", "s", "ms", "-1s", "+1s", " 1s", "1s ", "1 s", "1.5s", "10x", "1S", "1sec", "1d",
        "1hm", "1ms5", "0x10", "4294967296ms", "4294968s", "1194h", "71583m",
        "99999999999999999999999999h",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t v = 12345;
        if (cg_parse_duration_ms(bad[i], &v))
            fail_msg("\"%s\" accepted", bad[i]);
        assert_int_equal(v, 12345); /* untouched on failure */
    }
    uint32_t v;
    assert_false(cg_parse_duration_ms(NULL, &v));
}

static void test_parse_size(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t v;
    } ok[] = {
        { "0", 0 }, { "512", 512 }, { "16k", 16384 }, { "16K", 16384 }, { "1m", 1048576 },
        { "1g", 1073741824 }, { "3G", 3ull << 30 },
        { "18446744073709551615", UINT64_MAX }, { "17179869183g", 17179869183ull << 30 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 12345;
        if (!cg_parse_size(ok[i].s, &v))
            fail_msg("\"%s\" rejected", ok[i].s);
        assert_true(v == ok[i].v);
    }
    static const char *const bad[] = {
        "", "k", "-1", "+1", " 1k", "1k ", "1.5k", "1kb", "1kk", "1t", "16x", "0x10",
        "18446744073709551616", "17179869184g", "99999999999999999999999k",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 12345;
        if (cg_parse_size(bad[i], &v))
            fail_msg("\"%s\" accepted", bad[i]);
        assert_true(v == 12345);
    }
    uint64_t v;
    assert_false(cg_parse_size(NULL, &v));
}

/* ---- routes ---- */

static void test_route_lookup(void **state)
{
    (void)state;
    cg_config *cfg = expect_ok(MIN_BACKENDS
                               "listeners:\n"
                               "  - port: 8443\n"
                               "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                               "    routes:\n"
                               "      - { path: /app, backend: app }\n"
                               "      - { path: /, backend: app }\n"
                               "      - { path: /app/v2/, backend: app }\n"
                               "      - { path: /static/, backend: app }\n"
                               "  - port: 8444\n"
                               "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                               "    routes:\n"
                               "      - { path: /api, backend: app }\n"
                               "  - port: 8445\n"
                               "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n"
                               "    case_insensitive_paths: false\n"
                               "    routes:\n"
                               "      - { path: /Api, backend: app, client_cert: optional }\n"
                               "      - { path: /api, backend: app }\n");
    const cg_listener_cfg *l = &cfg->listeners[0];
    static const struct {
        const char *path, *route;
    } cases[] = {
        { "/", "/" },
        { "/app", "/app" },
        { "/app/", "/app" },
        { "/app/x", "/app" },
        { "/APP/x", "/app" },     /* case_insensitive_paths: true by default */
        { "/aPp", "/app" },
        { "/APPlication", "/" },
        { "/application", "/" },  /* the boundary rule */
        { "/app/v2", "/app" },    /* "/app/v2/" needs the slash */
        { "/app/v2/", "/app/v2/" },
        { "/app/v2/users?id=3", "/app/v2/" },
        { "/static/", "/static/" },
        { "/static/css/a.css", "/static/" },
        { "/static", "/" },
        { "/staticfoo", "/" },
        { "", NULL },
        { "app", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const cg_route *r = cg_config_route(l, cases[i].path, strlen(cases[i].path));
        if (!cases[i].route) {
            if (r)
                fail_msg("\"%s\" matched \"%s\", expected no match", cases[i].path, r->path);
            continue;
        }
        if (!r || strcmp(r->path, cases[i].route) != 0)
            fail_msg("\"%s\" matched \"%s\", expected \"%s\"", cases[i].path, r ? r->path : "(none)",
                     cases[i].route);
    }
    /* Only path_len bytes count: the buffer need not be NUL-terminated there. */
    const cg_route *r = cg_config_route(l, "/app/v2/xyz", 4);
    assert_non_null(r);
    assert_string_equal(r->path, "/app");

    /* No "/" route: no match outside the prefixes. */
    l = &cfg->listeners[1];
    assert_null(cg_config_route(l, "/", 1));
    assert_null(cg_config_route(l, "/apis", 5));
    assert_null(cg_config_route(l, "/ap", 3));
    assert_non_null(cg_config_route(l, "/api/v1", 7));
    assert_non_null(cg_config_route(l, "/api", 4));
    assert_non_null(cg_config_route(l, "/API/v1", 7)); /* default: either case */
    assert_true(l->case_insensitive_paths);
    assert_true(l->windows_paths); /* default: the backends are IIS */
    assert_false(l->http2);        /* default: HTTP/1.1 only until asked */

    /* case_insensitive_paths: false: case counts, and "/Api" and "/api" are
     * two routes. */
    l = &cfg->listeners[2];
    assert_false(l->case_insensitive_paths);
    r = cg_config_route(l, "/Api/x", 6);
    assert_true(r && strcmp(r->path, "/Api") == 0 && !r->client_cert_required);
    r = cg_config_route(l, "/api/x", 6);
    assert_true(r && strcmp(r->path, "/api") == 0 && r->client_cert_required);
    assert_null(cg_config_route(l, "/API/x", 6));
    cg_config_unref(cfg);
}

/* ---- lifetime ---- */

static void test_refcount(void **state)
{
    (void)state;
    cg_config *cfg = expect_ok(MINIMAL);
    assert_int_equal(atomic_load(&cfg->refs), 1);
    assert_ptr_equal(cg_config_ref(cfg), cfg);
    assert_ptr_equal(cg_config_ref(cfg), cfg);
    assert_int_equal(atomic_load(&cfg->refs), 3);
    cg_config_unref(cfg);
    cg_config_unref(cfg);
    /* Still alive with one reference: the data is intact. */
    assert_int_equal(atomic_load(&cfg->refs), 1);
    assert_string_equal(cfg->listeners[0].name, "main");
    cg_config_unref(cfg); /* frees; LeakSanitizer checks nothing is left */
    cg_config_unref(NULL);
    assert_null(cg_config_ref(NULL));
}

/* Diagnostics already in diag (from an earlier load) are kept, and a load
 * only fails on its own errors. */
static void test_diag_accumulates(void **state)
{
    (void)state;
    cg_diag d;
    cg_diag_init(&d);
    assert_null(cg_config_load_string("workers: 0\n", 11, "a.yaml", CG_CONFIG_SKIP_TLS, &d));
    size_t before = d.count;
    assert_true(before >= 1);
    cg_config *cfg = cg_config_load_string(MINIMAL, strlen(MINIMAL), "b.yaml", CG_CONFIG_SKIP_TLS, &d);
    assert_non_null(cfg);
    assert_int_equal(d.count, before);
    assert_string_equal(d.items[0].file, "a.yaml");
    cg_config_unref(cfg);
    cg_diag_free(&d);
}

/* ---- listeners[].proxy_protocol ---- */

static void test_proxy_protocol_section(void **state)
{
    (void)state;
    cg_config *cfg = expect_ok(MINIMAL);
    assert_false(cfg->listeners[0].proxy_protocol.enabled);
    cg_config_unref(cfg);

    /* line 14 is "    proxy_protocol:", 15 its first key */
    cfg = expect_ok(MINIMAL "    proxy_protocol:\n      trusted: [127.0.0.1, 10.0.1.0/24, \"2001:db8::/32\"]\n");
    const cg_listener_cfg *l = &cfg->listeners[0];
    assert_true(l->proxy_protocol.enabled);
    assert_false(l->proxy_protocol.allow_direct); /* the secure default */
    assert_int_equal(l->proxy_protocol.ntrusted, 3);
    assert_true(cg_cidr_list_contains(l->proxy_protocol.trusted, l->proxy_protocol.ntrusted, "127.0.0.1"));
    assert_true(cg_cidr_list_contains(l->proxy_protocol.trusted, l->proxy_protocol.ntrusted, "::ffff:10.0.1.9"));
    assert_true(cg_cidr_list_contains(l->proxy_protocol.trusted, l->proxy_protocol.ntrusted, "2001:db8::5"));
    assert_false(cg_cidr_list_contains(l->proxy_protocol.trusted, l->proxy_protocol.ntrusted, "127.0.0.2"));
    cg_config_unref(cfg);

    cfg = expect_ok(MINIMAL "    proxy_protocol:\n      trusted:\n        - 192.0.2.0/24\n      direct_clients: allow\n");
    assert_true(cfg->listeners[0].proxy_protocol.allow_direct);
    cg_config_unref(cfg);
    cfg = expect_ok(MINIMAL "    proxy_protocol:\n      trusted: [192.0.2.1]\n      direct_clients: refuse\n");
    assert_false(cfg->listeners[0].proxy_protocol.allow_direct);
    cg_config_unref(cfg);

    /* Trusting every address lets any client name any address: warned. */
    cg_diag d;
    cfg = load(MINIMAL "    proxy_protocol:\n      trusted: [0.0.0.0/0]\n", &d);
    assert_non_null(cfg);
    assert_true(has_diag(&d, CG_DIAG_WARNING, 15, 17, "listeners[main].proxy_protocol.trusted[0]: 0.0.0.0/0 is every "
                                                      "address: any client may send a PROXY header"));
    cg_config_unref(cfg);
    cg_diag_free(&d);

    expect_error(MINIMAL "    proxy_protocol: true\n", 14, 21, "listeners[main].proxy_protocol: expected a mapping with keys trusted, direct_clients");
    expect_error(MINIMAL "    proxy_protocol:\n      direct_clients: allow\n", 15, 7,
                 "missing required key \"trusted\" in proxy_protocol of listener \"main\"");
    expect_error(MINIMAL "    proxy_protocol:\n      trusted: []\n", 15, 16, "listeners[main].proxy_protocol.trusted: the list is empty");
    expect_error(MINIMAL "    proxy_protocol:\n      trusted: 10.0.0.0/8\n", 15, 16,
                 "listeners[main].proxy_protocol.trusted: expected a list");
    expect_error(MINIMAL "    proxy_protocol:\n      trusted: [10.0.0.1/8]\n", 15, 17,
                 "listeners[main].proxy_protocol.trusted[0]: \"10.0.0.1/8\" has bits set after the /8 prefix");
    expect_error(MINIMAL "    proxy_protocol:\n      trusted: [10.0.0.0/8, lb.example]\n", 15, 29,
                 "listeners[main].proxy_protocol.trusted[1]: \"lb.example\" is not a numeric IPv4 or IPv6 address");
    expect_error(MINIMAL "    proxy_protocol:\n      trusted: [10.0.0.0/8]\n      direct_clients: yes\n", 16, 23,
                 "listeners[main].proxy_protocol.direct_clients: unknown value \"yes\" (expected one of: refuse, allow)");
    expect_error(MINIMAL "    proxy_protocol:\n      trusted: [10.0.0.0/8]\n      version: 2\n", 16, 7,
                 "unknown key \"version\" in proxy_protocol of listener \"main\"");
}

/* forward_client_cert_der: the certificate itself for the application
 * (cert_headers.h). Line 14 is the section's first line. */
static void test_forward_client_cert_der(void **state)
{
    (void)state;
    cg_config *cfg = expect_ok(MINIMAL);
    const cg_cert_der_cfg *f = &cfg->listeners[0].forward_der;
    assert_int_equal(f->form, CG_CERT_DER_OFF); /* off by default */
    assert_false(f->chain);
    assert_int_equal(f->max_size, CG_CERT_DER_DEFAULT_MAX_SIZE);
    cg_config_unref(cfg);

    cfg = expect_ok(MINIMAL "    forward_client_cert_der:\n      form: rfc9440\n      chain: true\n"
                            "      max_size: 32k\n");
    f = &cfg->listeners[0].forward_der;
    assert_int_equal(f->form, CG_CERT_DER_RFC9440);
    assert_true(f->chain);
    assert_int_equal(f->max_size, 32768);
    cg_config_unref(cfg);
    cfg = expect_ok(MINIMAL "    forward_client_cert_der:\n      form: arr\n");
    assert_int_equal(cfg->listeners[0].forward_der.form, CG_CERT_DER_ARR);
    assert_false(cfg->listeners[0].forward_der.chain);
    cg_config_unref(cfg);
    cfg = expect_ok(MINIMAL "    forward_client_cert_der:\n      form: both\n      chain: true\n");
    assert_int_equal(cfg->listeners[0].forward_der.form, CG_CERT_DER_BOTH);
    cg_config_unref(cfg);
    cfg = expect_ok(MINIMAL "    forward_client_cert_der:\n      form: off\n");
    assert_int_equal(cfg->listeners[0].forward_der.form, CG_CERT_DER_OFF);
    cg_config_unref(cfg);

    /* A keep of X-ARR-ClientCert, written before certgate set it, loads
     * with a warning and keeps nothing. */
    cfg = expect_warning(MINIMAL "    strip_request_headers:\n      keep: [X-ARR-ClientCert]\n", 15, 14,
                         "X-ARR-ClientCert is always removed from client requests");
    assert_int_equal(cfg->listeners[0].nkeep_headers, 0);
    cg_config_unref(cfg);

    expect_error(MINIMAL "    forward_client_cert_der: rfc9440\n", 14, 30,
                 "listeners[main].forward_client_cert_der: expected a mapping with keys form, chain, max_size");
    expect_error(MINIMAL "    forward_client_cert_der:\n      form: pem\n", 15, 13,
                 "listeners[main].forward_client_cert_der.form: unknown value \"pem\" (expected one of: off, rfc9440, "
                 "arr, both)");
    expect_error(MINIMAL "    forward_client_cert_der:\n      chain: true\n", 15, 7,
                 "missing required key \"form\" in forward_client_cert_der of listener \"main\"");
    expect_error(MINIMAL "    forward_client_cert_der:\n      form: arr\n      chain: true\n", 16, 14,
                 "listeners[main].forward_client_cert_der.chain: true needs form: rfc9440 or both");
    expect_error(MINIMAL "    forward_client_cert_der:\n      form: rfc9440\n      chain: yes\n", 16, 14,
                 "listeners[main].forward_client_cert_der.chain: expected true or false");
    expect_error(MINIMAL "    forward_client_cert_der:\n      form: rfc9440\n      max_size: 100\n", 16, 17,
                 "listeners[main].forward_client_cert_der.max_size");
    expect_error(MINIMAL "    forward_client_cert_der:\n      form: rfc9440\n      max_size: 2m\n", 16, 17,
                 "listeners[main].forward_client_cert_der.max_size");
    expect_error(MINIMAL "    forward_client_cert_der:\n      form: rfc9440\n      anchor: true\n", 16, 7,
                 "unknown key \"anchor\" in forward_client_cert_der of listener \"main\"");
}

/* ---- errors: what refusal pages show ---- */

static void test_errors_section(void **state)
{
    (void)state;
    /* Defaults: the user level, no support line, no operator networks. */
    cg_config *cfg = expect_ok(MINIMAL);
    assert_false(cfg->errors.operator_detail);
    assert_null(cfg->errors.support);
    assert_int_equal(cfg->errors.noperator_networks, 0);
    assert_false(cg_config_operator_client(cfg, "127.0.0.1"));
    cg_config_unref(cfg);

    cfg = expect_ok(MINIMAL "errors:\n"
                    "  detail: user\n"
                    "  support: \"Call the IT help desk at 555-0100 <ext. 7> & ask\"\n"
                    "  operator_networks: [127.0.0.1/32, 10.20.0.0/16, \"::1\", \"2001:db8:a::/48\", 192.0.2.7]\n");
    assert_false(cfg->errors.operator_detail);
    assert_string_equal(cfg->errors.support, "Call the IT help desk at 555-0100 <ext. 7> & ask");
    assert_int_equal(cfg->errors.noperator_networks, 5);
    assert_true(cg_config_operator_client(cfg, "127.0.0.1"));
    assert_false(cg_config_operator_client(cfg, "127.0.0.2"));
    assert_true(cg_config_operator_client(cfg, "10.20.255.1"));
    assert_false(cg_config_operator_client(cfg, "10.21.0.1"));
    assert_true(cg_config_operator_client(cfg, "::1"));
    assert_false(cg_config_operator_client(cfg, "::2"));
    assert_true(cg_config_operator_client(cfg, "2001:db8:a:ffff::1"));
    assert_false(cg_config_operator_client(cfg, "2001:db8:b::1"));
    assert_true(cg_config_operator_client(cfg, "192.0.2.7"));
    assert_false(cg_config_operator_client(cfg, "192.0.2.8"));
    /* A dual-stack listener sees IPv4 clients as IPv4-mapped IPv6. */
    assert_true(cg_config_operator_client(cfg, "::ffff:10.20.1.2"));
    assert_false(cg_config_operator_client(cfg, "::ffff:10.21.1.2"));
    assert_false(cg_config_operator_client(cfg, "not-an-address"));
    assert_false(cg_config_operator_client(cfg, ""));
    assert_false(cg_config_operator_client(cfg, NULL));
    cg_config_unref(cfg);

    /* detail: operator shows it to everyone, with a warning saying so. */
    cg_diag d;
    cfg = load(MINIMAL "errors:\n  detail: operator\n", &d);
    assert_non_null(cfg);
    assert_true(has_diag(&d, CG_DIAG_WARNING, 15, 11, "every client sees the operator sentence") ||
                has_diag(&d, CG_DIAG_WARNING, 15, 11, "shows every client the operator sentence"));
    assert_true(cfg->errors.operator_detail);
    assert_true(cg_config_operator_client(cfg, "203.0.113.9"));
    cg_config_unref(cfg);
    cg_diag_free(&d);

    /* A list naming every address: warned. */
    cfg = load(MINIMAL "errors:\n  operator_networks: [0.0.0.0/0]\n", &d);
    assert_non_null(cfg);
    assert_true(has_diag(&d, CG_DIAG_WARNING, 15, 23, "every address"));
    assert_true(cg_config_operator_client(cfg, "198.51.100.1"));
    cg_config_unref(cfg);
    cg_diag_free(&d);
}

/* ---- errors.templates ---- */

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_texts(const char *dir, const char *const names[])
{
    char path[512];
    for (size_t i = 0; names[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static char *render_kind(const cg_config *cfg, cg_refusal_kind k)
{
    const cg_error_template *t = cfg->errors.template_for[k];
    assert_non_null(t);
    size_t cap = cg_error_template_page_max(t);
    char *out = malloc(cap);
    assert_non_null(out);
    cg_page_values v = { .kind = k, .request_id = "id-1" };
    assert_true(cg_error_template_render(t, &v, out, cap) > 0);
    return out;
}

/* Each refusal gets its most specific template; the files are read at
 * load and a new load (a reload) reads them again. */
static void test_error_templates(void **state)
{
    (void)state;
    char dir[] = "/tmp/cg-cfg-tpl-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_text(dir, "403-7.html", "<p>no cert {{status}}</p>");
    write_text(dir, "403.html", "<p>forbidden {{status}}</p>");
    write_text(dir, "default.html", "<p>default {{status}} {{code}}</p>");
    char yaml[2048];
    snprintf(yaml, sizeof yaml, MINIMAL "errors:\n  templates:\n    403.7: %s/403-7.html\n    \"403\": %s/403.html\n"
             "    default: %s/default.html\n", dir, dir, dir);
    cg_config *cfg = expect_ok(yaml);
    assert_int_equal(cfg->errors.ntemplates, 3);
    assert_string_equal(cfg->errors.templates[0].key, "403.7");
    assert_int_equal(cfg->errors.templates[0].pos.line, 16);
    assert_int_equal(cfg->errors.templates[0].pos.column, 12);
    char *p = render_kind(cfg, CG_REFUSE_CERT_MISSING);
    assert_string_equal(p, "<p>no cert 403.7</p>");
    free(p);
    p = render_kind(cfg, CG_REFUSE_CERT_REVOKED);
    assert_string_equal(p, "<p>forbidden 403.13</p>");
    free(p);
    p = render_kind(cfg, CG_REFUSE_MAP_NONE_403);
    assert_string_equal(p, "<p>forbidden 403</p>");
    free(p);
    p = render_kind(cfg, CG_REFUSE_NO_ROUTE);
    assert_string_equal(p, "<p>default 404 no_route</p>");
    free(p);
    p = render_kind(cfg, CG_REFUSE_MAP_NONE);
    assert_string_equal(p, "<p>default 401.2 no_mapping</p>");
    free(p);

    /* A reload builds a new snapshot from the files as they are now; the
     * old one keeps what it loaded. */
    write_text(dir, "403.html", "<p>changed {{code}}</p>");
    cg_config *next = expect_ok(yaml);
    p = render_kind(next, CG_REFUSE_CERT_REVOKED);
    assert_string_equal(p, "<p>changed client_cert_revoked</p>");
    free(p);
    p = render_kind(cfg, CG_REFUSE_CERT_REVOKED);
    assert_string_equal(p, "<p>forbidden 403.13</p>");
    free(p);
    cg_config_unref(next);
    cg_config_unref(cfg);

    /* Without a default, the others keep the built-in page. */
    snprintf(yaml, sizeof yaml, MINIMAL "errors:\n  templates: {503: %s/403.html}\n", dir);
    cfg = expect_ok(yaml);
    assert_non_null(cfg->errors.template_for[CG_REFUSE_OVERLOADED]);
    assert_non_null(cfg->errors.template_for[CG_REFUSE_KDC_UNREACHABLE]);
    assert_null(cfg->errors.template_for[CG_REFUSE_CERT_MISSING]);
    assert_null(cfg->errors.template_for[CG_REFUSE_BACKEND_UNREACHABLE]);
    cg_config_unref(cfg);
    cfg = expect_ok(MINIMAL);
    for (int k = 0; k < CG_REFUSE_KIND_COUNT; k++)
        assert_null(cfg->errors.template_for[k]);
    cg_config_unref(cfg);
    remove_texts(dir, (const char *const[]){ "403-7.html", "403.html", "default.html", NULL });
}

static void test_error_templates_invalid(void **state)
{
    (void)state;
    char dir[] = "/tmp/cg-cfg-tpl-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_text(dir, "ok.html", "<p>{{title}}</p>");
    write_text(dir, "bad.html", "<html>\n<body>\n  <p>{{what_hapened}}</p>\n");
    char yaml[2048], path[512];
    /* line 14 is "errors:", 15 "  templates:", 16 the first key */
    expect_error(MINIMAL "errors:\n  templates: /etc/403.html\n", 15, 14, "errors.templates: expected a mapping");
    snprintf(yaml, sizeof yaml, MINIMAL "errors:\n  templates:\n    418: %s/ok.html\n", dir);
    expect_error(yaml, 16, 5, "errors.templates: \"418\" is not a status certgate refuses with (expected default "
                 "or one of: 400, ");
    expect_error(yaml, 16, 5, ", 403, 403.7, 403.16, ");
    snprintf(yaml, sizeof yaml, MINIMAL "errors:\n  templates:\n    403.99: %s/ok.html\n", dir);
    expect_error(yaml, 16, 5, "\"403.99\" is not a status certgate refuses with");
    snprintf(yaml, sizeof yaml, MINIMAL "errors:\n  templates:\n    forbidden: %s/ok.html\n", dir);
    expect_error(yaml, 16, 5, "\"forbidden\" is not a status");
    snprintf(yaml, sizeof yaml, MINIMAL "errors:\n  templates:\n    403: %s/ok.html\n    \"403\": %s/ok.html\n", dir,
             dir);
    expect_error(yaml, 17, 5, "errors.templates: duplicate key \"403\"");
    expect_error(MINIMAL "errors:\n  templates:\n    403:\n", 16, 9, "errors.templates.403: expected the path of an "
                 "HTML file, got no value");
    expect_error(MINIMAL "errors:\n  templates:\n    403: [a.html]\n", 16, 10, "errors.templates.403: expected the path");
    /* A file that cannot be used: at the path's position. */
    snprintf(yaml, sizeof yaml, MINIMAL "errors:\n  templates:\n    default: %s/missing.html\n", dir);
    expect_error(yaml, 16, 14, "errors.templates.default: cannot open");
    snprintf(yaml, sizeof yaml, MINIMAL "errors:\n  templates:\n    default: %s\n", dir);
    expect_error(yaml, 16, 14, "is not a regular file");
    /* A problem inside the template: at the template's own line:column. */
    snprintf(yaml, sizeof yaml, MINIMAL "errors:\n  templates:\n    403: %s/ok.html\n    default: %s/bad.html\n",
             dir, dir);
    cg_diag d;
    assert_null(load(yaml, &d));
    snprintf(path, sizeof path, "%s/bad.html", dir);
    assert_int_equal(d.errors, 1);
    assert_string_equal(d.items[0].file, path);
    assert_int_equal(d.items[0].line, 3);
    assert_int_equal(d.items[0].column, 6);
    assert_non_null(strstr(d.items[0].message, "unknown placeholder {{what_hapened}}"));
    cg_diag_free(&d);
    remove_texts(dir, (const char *const[]){ "ok.html", "bad.html", NULL });
}

static void test_errors_section_invalid(void **state)
{
    (void)state;
    /* line 14 is "errors:", 15 the first key */
    expect_error(MINIMAL "errors:\n  detail: verbose\n", 15, 11, "unknown value \"verbose\" (expected one of: user, operator)");
    expect_error(MINIMAL "errors:\n  detial: user\n", 15, 3, "unknown key \"detial\" in errors");
    expect_error(MINIMAL "errors: yes\n", 14, 9, "errors: expected a mapping");
    expect_error(MINIMAL "errors:\n  support: \"\"\n", 15, 12, "errors.support: must not be empty");
    expect_error(MINIMAL "errors:\n  support: \"line one\\nline two\"\n", 15, 12, "line break or control character");
    expect_error(MINIMAL "errors:\n  operator_networks: 10.0.0.0/8\n", 15, 22, "errors.operator_networks: expected a list");
    /* Bad ranges, each at its own item's position. */
    expect_error(MINIMAL "errors:\n  operator_networks:\n    - 10.0.0.0/8\n    - 10.0.0.1/8\n", 17, 7,
                 "errors.operator_networks[1]: \"10.0.0.1/8\" has bits set after the /8 prefix: write the network "
                 "(10.0.0.0/8) or one address (10.0.0.1/32)");
    expect_error(MINIMAL "errors:\n  operator_networks: [10.0.0.0/33]\n", 15, 23, "prefix length /33 is longer than an IPv4 address");
    expect_error(MINIMAL "errors:\n  operator_networks: [\"::/129\"]\n", 15, 23, "prefix length /129 is longer than an IPv6 address");
    expect_error(MINIMAL "errors:\n  operator_networks: [10.0.0.0/]\n", 15, 23, "prefix length after '/' must be a number");
    expect_error(MINIMAL "errors:\n  operator_networks: [10.0.0.0/08]\n", 15, 23, "prefix length after '/' must be a number");
    expect_error(MINIMAL "errors:\n  operator_networks: [10.0.0.0/-1]\n", 15, 23, "prefix length after '/' must be a number");
    expect_error(MINIMAL "errors:\n  operator_networks: [10.0.0/8]\n", 15, 23, "\"10.0.0\" is not a numeric IPv4 or IPv6 address");
    expect_error(MINIMAL "errors:\n  operator_networks: [intranet.example/24]\n", 15, 23, "not a numeric IPv4 or IPv6");
    expect_error(MINIMAL "errors:\n  operator_networks: [\"/8\"]\n", 15, 23, "expected an address such as");
    expect_error(MINIMAL "errors:\n  operator_networks: [\" 10.0.0.0/8\"]\n", 15, 23, "not a numeric");
    expect_error(MINIMAL "errors:\n  operator_networks: [\"fe80::1%eth0/64\"]\n", 15, 23, "not a numeric");
    expect_error(MINIMAL "errors:\n  operator_networks: [[10.0.0.0/8]]\n", 15, 23, "errors.operator_networks[0]: expected a network");
    expect_error(MINIMAL "errors:\n  operator_networks: [~]\n", 15, 23, "errors.operator_networks[0]: expected a network");
    /* Over the length the page reserves room for. */
    char big[1200];
    int n = snprintf(big, sizeof big, MINIMAL "errors:\n  support: \"");
    memset(big + n, 'x', 600);
    snprintf(big + n + 600, sizeof big - (size_t)n - 600, "\"\n");
    expect_error(big, 15, 12, "errors.support: 600 bytes is too long (expected at most 512)");
}

static void test_cidr_ranges(void **state)
{
    (void)state;
    cg_cidr c;
    char why[200], text[64];
    assert_true(cg_cidr_parse("192.168.1.0/24", &c, why, sizeof why));
    assert_string_equal(cg_cidr_format(&c, text, sizeof text), "192.168.1.0/24");
    assert_true(cg_cidr_list_contains(&c, 1, "192.168.1.255"));
    assert_false(cg_cidr_list_contains(&c, 1, "192.168.2.0"));
    assert_true(cg_cidr_parse("10.1.2.3", &c, why, sizeof why));
    assert_string_equal(cg_cidr_format(&c, text, sizeof text), "10.1.2.3/32");
    assert_true(cg_cidr_parse("172.16.0.0/12", &c, why, sizeof why));
    assert_true(cg_cidr_list_contains(&c, 1, "172.31.255.255"));
    assert_false(cg_cidr_list_contains(&c, 1, "172.32.0.0"));
    assert_true(cg_cidr_parse("0.0.0.0/0", &c, why, sizeof why));
    assert_true(cg_cidr_list_contains(&c, 1, "1.2.3.4"));
    assert_false(cg_cidr_list_contains(&c, 1, "2001:db8::1")); /* IPv4's "everything" is not IPv6's */
    assert_true(cg_cidr_parse("2001:db8::/32", &c, why, sizeof why));
    assert_string_equal(cg_cidr_format(&c, text, sizeof text), "2001:db8::/32");
    assert_true(cg_cidr_list_contains(&c, 1, "2001:db8:ffff::1"));
    assert_false(cg_cidr_list_contains(&c, 1, "2001:db9::1"));
    assert_false(cg_cidr_list_contains(&c, 1, "10.0.0.1"));
    assert_true(cg_cidr_parse("::/0", &c, why, sizeof why));
    assert_true(cg_cidr_list_contains(&c, 1, "10.0.0.1")); /* as ::ffff:10.0.0.1 */
    assert_true(cg_cidr_parse("fe80::/10", &c, why, sizeof why));
    assert_true(cg_cidr_list_contains(&c, 1, "febf::1"));
    assert_false(cg_cidr_list_contains(&c, 1, "fec0::1"));
    assert_false(cg_cidr_parse("fe80::1/10", &c, why, sizeof why));
    assert_non_null(strstr(why, "(fe80::/10)"));
    assert_false(cg_cidr_parse("", &c, why, sizeof why));
    assert_false(cg_cidr_parse("1.2.3.4/32/1", &c, why, sizeof why));
    assert_false(cg_cidr_parse("1.2.3.4/1234", &c, why, sizeof why));
    assert_false(cg_cidr_parse("1.2.3.4 /32", &c, why, sizeof why));
    /* A very long input is refused, not copied. */
    char longs[300];
    memset(longs, '1', sizeof longs - 1);
    longs[sizeof longs - 1] = '\0';
    assert_false(cg_cidr_parse(longs, &c, why, sizeof why));
}

/* process: user and group resolved at load, pid_file a path, allow_root. */
static void test_process_section(void **state)
{
    (void)state;
    cg_config *cfg = expect_ok(MINIMAL);
    assert_null(cfg->process.user);
    assert_null(cfg->process.pid_file);
    assert_false(cfg->process.allow_root);
    cg_config_unref(cfg);

    cfg = expect_ok("process:\n"
                    "  user: root\n"
                    "  group: root\n"
                    "  allow_root: true\n"
                    "  pid_file: /run/certgate/certgate.pid\n" MINIMAL);
    assert_string_equal(cfg->process.user, "root");
    assert_int_equal(cfg->process.uid, 0);
    assert_int_equal(cfg->process.gid, 0);
    assert_int_equal(cfg->process.user_pos.line, 2);
    assert_int_equal(cfg->process.user_pos.column, 9);
    assert_true(cfg->process.allow_root);
    assert_string_equal(cfg->process.pid_file, "/run/certgate/certgate.pid");
    assert_int_equal(cfg->process.pid_file_pos.line, 5);
    cg_config_unref(cfg);
}

static void test_process_section_invalid(void **state)
{
    (void)state;
    expect_error("process:\n  user: no-such-user-cg\n" MINIMAL, 2, 9, "process.user: no user \"no-such-user-cg\"");
    expect_error("process:\n  user: root\n  group: no-such-group-cg\n" MINIMAL, 3, 10,
                 "process.group: no group \"no-such-group-cg\"");
    expect_error("process:\n  group: root\n" MINIMAL, 2, 10, "process.group: needs process.user");
    expect_error("process:\n  allow_root: yes please\n" MINIMAL, 2, 15, "process.allow_root");
    expect_error("process:\n  user: \"\"\n" MINIMAL, 2, 9, "must not be empty");
    expect_error("process:\n  pid_file: [a]\n" MINIMAL, 2, 13, "process.pid_file");
    expect_error("process:\n  usr: root\n" MINIMAL, 2, 3, "unknown key \"usr\" in process");
    expect_error("process: root\n" MINIMAL, 1, 10, "process: expected a mapping");
}

static void test_admin_section(void **state)
{
    (void)state;
    cg_config *cfg = expect_ok(MINIMAL);
    assert_false(cfg->admin.enabled); /* off without the section */
    cg_config_unref(cfg);
    cfg = expect_ok("admin: {}\n" MINIMAL);
    assert_true(cfg->admin.enabled);
    assert_string_equal(cfg->admin.address, "127.0.0.1");
    assert_int_equal(cfg->admin.port, 9180);
    assert_int_equal(cfg->admin.max_connections, 8);
    assert_int_equal(cfg->admin.timeout_ms, 5000);
    assert_int_equal(cfg->admin.kdc_window_s, 300);
    assert_int_equal(cfg->admin.nallow, 0);
    cg_config_unref(cfg);
    cfg = expect_ok("admin:\n  address: \"::1\"\n  port: 9100\n  allow: [127.0.0.1/32, \"::1\"]\n"
                    "  max_connections: 2\n  timeout: 2s\n  kdc_window: 90s\n" MINIMAL);
    assert_string_equal(cfg->admin.address, "::1");
    assert_int_equal(cfg->admin.port, 9100);
    assert_int_equal(cfg->admin.nallow, 2);
    assert_true(cg_cidr_list_contains(cfg->admin.allow, cfg->admin.nallow, "127.0.0.1"));
    assert_false(cg_cidr_list_contains(cfg->admin.allow, cfg->admin.nallow, "127.0.0.2"));
    assert_int_equal(cfg->admin.max_connections, 2);
    assert_int_equal(cfg->admin.timeout_ms, 2000);
    assert_int_equal(cfg->admin.kdc_window_s, 90);
    cg_config_unref(cfg);
    cfg = expect_ok("admin:\n  address: 0.0.0.0\n  expose: true\n  allow: [10.0.0.0/8]\n" MINIMAL);
    assert_true(cfg->admin.expose);
    cg_config_unref(cfg);
}

static void test_admin_section_invalid(void **state)
{
    (void)state;
    expect_error("admin:\n  address: 0.0.0.0\n" MINIMAL, 2, 12, "admin.address: 0.0.0.0 is not a loopback address");
    expect_error("admin:\n  address: 192.0.2.1\n  expose: false\n" MINIMAL, 2, 12, "set admin.expose: true");
    expect_error("admin:\n  address: localhost\n" MINIMAL, 2, 12, "admin.address: \"localhost\" is not a numeric");
    expect_error("admin:\n  port: 0\n" MINIMAL, 2, 9, "admin.port");
    expect_error("admin:\n  allow: [10.0.0.1/8]\n" MINIMAL, 2, 11, "admin.allow[0]:");
    expect_error("admin:\n  allow: []\n" MINIMAL, 2, 10, "admin.allow: an empty list");
    expect_error("admin:\n  allow: 10.0.0.0/8\n" MINIMAL, 2, 10, "admin.allow: expected a list");
    expect_error("admin:\n  max_connections: 0\n" MINIMAL, 2, 20, "admin.max_connections");
    expect_error("admin:\n  timeout: 1h\n" MINIMAL, 2, 12, "admin.timeout");
    expect_error("admin:\n  kdc_window: soon\n" MINIMAL, 2, 15, "admin.kdc_window");
    expect_error("admin:\n  adress: 127.0.0.1\n" MINIMAL, 2, 3, "unknown key \"adress\" in admin");
    expect_error("admin: on\n" MINIMAL, 1, 8, "admin: expected a mapping");
    /* The listener listens on 0.0.0.0:8443: the admin listener cannot share it. */
    expect_error("admin:\n  port: 8443\n" MINIMAL, 2, 9, "admin.port: 8443 is also listener \"main\"'s port");
}

/* A listener whose one route is given by ROUTE_KEYS (lines 13 on: the
 * route's "- path" is on line 11, col 9 its keys). */
#define UPGRADE_LISTENER(route_keys) \
    MIN_BACKENDS \
    "listeners:\n" \
    "  - name: main\n" \
    "    port: 8443\n" \
    "    tls: { certificate: s.crt, key: s.key, client_ca: ca.crt }\n" \
    "    routes:\n" \
    "      - path: /\n" \
    "        backend: app\n" \
    "      - path: /hub\n" \
    "        backend: app\n" route_keys

static void test_route_upgrade_and_timeouts(void **state)
{
    (void)state;
    /* Defaults: no upgrade anywhere, the top-level timeouts. */
    cg_config *cfg = expect_ok(UPGRADE_LISTENER(""));
    assert_int_equal(cfg->listeners[0].routes[1].nupgrade, 0);
    assert_int_equal(cfg->listeners[0].routes[1].backend_response_ms, 0);
    assert_int_equal(cfg->listeners[0].routes[1].tunnel_idle_ms, 0);
    assert_int_equal(cfg->timeouts.tunnel_idle, 300000);
    assert_int_equal(cfg->timeouts.backend_response, 60000);
    cg_config_unref(cfg);

    cfg = expect_ok(UPGRADE_LISTENER("        upgrade: [WebSocket, x-chat/2]\n"
                                     "        timeouts: { backend_response: 150s, tunnel_idle: 30m }\n")
                    "timeouts:\n"
                    "  tunnel_idle: 90s\n");
    const cg_route *r = &cfg->listeners[0].routes[1];
    assert_int_equal(r->nupgrade, 2);
    assert_string_equal(r->upgrade[0], "websocket"); /* compared without case: kept lowercase */
    assert_string_equal(r->upgrade[1], "x-chat/2");
    assert_int_equal(r->backend_response_ms, 150000);
    assert_int_equal(r->tunnel_idle_ms, 1800000);
    assert_int_equal(cfg->timeouts.tunnel_idle, 90000);
    assert_int_equal(cfg->listeners[0].routes[0].nupgrade, 0);
    cg_config_unref(cfg);

    /* backend_response alone on a route: long polling, no upgrade needed. */
    cfg = expect_ok(UPGRADE_LISTENER("        timeouts:\n"
                                     "          backend_response: 2m\n"));
    assert_int_equal(cfg->listeners[0].routes[1].backend_response_ms, 120000);
    cg_config_unref(cfg);

    /* Each problem at its node (line:column). */
    expect_error(UPGRADE_LISTENER("        upgrade: websocket\n"), 13, 18,
                 "listeners[main].routes[/hub].upgrade: expected a list of protocols such as [websocket]");
    expect_error(UPGRADE_LISTENER("        upgrade: [websocket, h2c]\n"), 13, 30,
                 "\"h2c\" cannot be allowed: certgate never lets a connection switch to another HTTP version");
    expect_error(UPGRADE_LISTENER("        upgrade: [HTTP/2.0]\n"), 13, 19, "cannot be allowed");
    expect_error(UPGRADE_LISTENER("        upgrade: [\"web socket\"]\n"), 13, 19,
                 "listeners[main].routes[/hub].upgrade: \"web socket\" is not a protocol name");
    expect_error(UPGRADE_LISTENER("        upgrade: [websocket, WEBSOCKET]\n"), 13, 30,
                 "\"websocket\" is listed twice");
    expect_error(UPGRADE_LISTENER("        upgrade: [[websocket]]\n"), 13, 19, "expected a protocol name");
    expect_error(UPGRADE_LISTENER("        timeouts: { backend_response: 0s }\n"), 13, 39,
                 "listeners[main].routes[/hub].timeouts.backend_response: \"0s\" is out of range");
    expect_error(UPGRADE_LISTENER("        timeouts: { backend_response: soon }\n"), 13, 39, "is not a duration");
    expect_error(UPGRADE_LISTENER("        timeouts: { tunnel_idle: 25h }\n"), 13, 34, "out of range");
    expect_error(UPGRADE_LISTENER("        timeouts: { backend_idle: 5s }\n"), 13, 21,
                 "unknown key \"backend_idle\" in listeners[main].routes[/hub].timeouts (expected one of: "
                 "backend_response, tunnel_idle)");
    expect_error(UPGRADE_LISTENER("        timeouts: 150s\n"), 13, 19, "listeners[main].routes[/hub].timeouts");
    expect_error(MINIMAL "timeouts:\n  tunnel_idle: never\n", 15, 16,
                 "timeouts.tunnel_idle: \"never\" is not a duration");
    /* Allowed but without effect: said so. */
    cg_config_unref(expect_warning(UPGRADE_LISTENER("        timeouts: { tunnel_idle: 5m }\n"), 13, 34,
                                   "tunnel_idle has no effect: the route allows no upgrade"));
}

int main(void)
{
    /* TLS contexts and mappings: tls.h's and mapping.h's, as in certgate. */
    cg_snapshot_builders_install();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_workers_auto),
        cmocka_unit_test(test_logging_file),
        cmocka_unit_test(test_logging_format),
        cmocka_unit_test(test_backend_urls_valid),
        cmocka_unit_test(test_no_routes_warns),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_strip_request_headers),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_route_unknown_backend),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_route_paths),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_listener_address),
        cmocka_unit_test(test_backend_urls_invalid),
        cmocka_unit_test(test_backend_tls_keys),
        cmocka_unit_test(test_backend_tls_invalid),
        cmocka_unit_test(test_yaml_syntax),
        cmocka_unit_test(test_empty_and_non_mapping),
        cmocka_unit_test(test_anchors_rejected),
        cmocka_unit_test(test_second_document),
        cmocka_unit_test(test_many_errors_at_once),
        cmocka_unit_test(test_new_keys_defaults),
        cmocka_unit_test(test_revocation_section),
        cmocka_unit_test(test_revocation_errors),
        cmocka_unit_test(test_kerberos_section),
        cmocka_unit_test(test_kerberos_errors),
        cmocka_unit_test(test_kerberos_realms),
        cmocka_unit_test(test_backend_kerberos),
        cmocka_unit_test(test_http2_allows_delegating_routes),
        cmocka_unit_test(test_backend_kerberos_needs_section),
        cmocka_unit_test(test_route_to_kerberos_backend_needs_mapping),
        cmocka_unit_test(test_listener_tls_new_keys),
        cmocka_unit_test(test_listener_tls_versions),
        cmocka_unit_test(test_listener_revocation),
        cmocka_unit_test(test_mapping_loaded_with_tls),
        cmocka_unit_test(test_snapshot_objects_from_builders),
        cmocka_unit_test(test_reference_config_parses),
        cmocka_unit_test(test_demo_config_parses),
        cmocka_unit_test(test_relative_paths_from_file),
        cmocka_unit_test(test_errors_in_file),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_route_lookup),
        cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_diag_accumulates),
        cmocka_unit_test(test_proxy_protocol_section),
        cmocka_unit_test(test_forward_client_cert_der),
        cmocka_unit_test(test_errors_section),
        cmocka_unit_test(test_errors_section_invalid),
        cmocka_unit_test(test_error_templates),
        cmocka_unit_test(test_error_templates_invalid),
        cmocka_unit_test(test_cidr_ranges),
        cmocka_unit_test(test_process_section),
        cmocka_unit_test(test_process_section_invalid),
        cmocka_unit_test(test_admin_section),
        cmocka_unit_test(test_admin_section_invalid),
        cmocka_unit_test(test_route_upgrade_and_timeouts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
