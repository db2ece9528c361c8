/* Unit tests for src/config/config_sni.c: listeners[].tls.sni parsed
 * (names lower-cased, paths resolved, positions kept) and every bad entry
 * refused at its file:line:column (bad names, wildcards other than one
 * leading label, a name listed twice, missing keys, wrong types). Loads with
 * CG_CONFIG_SKIP_TLS: the files are net/sni.c's (tests/unit/net/test_sni.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config/config.h"

/* The listener's tls mapping ends on line 7; tls.sni entries follow from line 8. */
#define HEAD \
    "backends:\n" \
    "  - name: app\n" \
    "    url: http://127.0.0.1:8080\n" \
    "listeners:\n" \
    "  - name: main\n" \
    "    port: 8443\n" \
    "    routes: [{path: /, backend: app}]\n" \
    "    tls:\n" \
    "      certificate: s.crt\n" \
    "      key: s.key\n" \
    "      client_ca: ca.crt\n"

static cg_config *load(const char *yaml, cg_diag *d)
{
    cg_diag_init(d);
    return cg_config_load_string(yaml, strlen(yaml), "t.yaml", CG_CONFIG_SKIP_TLS, d);
}

static void check_error(const char *yaml, int line, int col, const char *sub, int at)
{
    cg_diag d;
    cg_config *cfg = load(yaml, &d);
    bool found = false;
    for (size_t i = 0; i < d.count; i++)
        found = found || (d.items[i].severity == CG_DIAG_ERROR && d.items[i].line == line &&
                          d.items[i].column == col && strstr(d.items[i].message, sub));
    if (cfg || !found) {
        fprintf(stderr, "--- line %d: expected an error at %d:%d containing \"%s\"; got:\n", at, line, col, sub);
        cg_diag_print(&d, stderr);
        fail_msg("%s", cfg ? "config loaded" : "error not found");
    }
    cg_diag_free(&d);
}
#define expect_error(yaml, line, col, sub) check_error(yaml, line, col, sub, __LINE__)

static void test_parsed(void **state)
{
    (void)state;
    static const char yaml[] = HEAD
        "      sni:\n"
        "        - server_names: [A.Example, \"*.B.example\"]\n"
        "          certificate: /etc/certgate/a.crt\n"
        "          key: /etc/certgate/a.key\n"
        "          chain: /etc/certgate/a-chain.pem\n"
        "        - server_names: [c.example]\n"
        "          certificate: /etc/certgate/c.crt\n"
        "          key: /etc/certgate/c.key\n";
    cg_diag d;
    cg_config *cfg = load(yaml, &d);
    if (!cfg || d.count)
        cg_diag_print(&d, stderr);
    assert_non_null(cfg);
    assert_int_equal(d.count, 0);
    const cg_listener_cfg *l = &cfg->listeners[0];
    assert_int_equal(l->nsni, 2);
    assert_int_equal(l->sni[0].nserver_names, 2);
    assert_string_equal(l->sni[0].server_names[0], "a.example");
    assert_string_equal(l->sni[0].server_names[1], "*.b.example");
    assert_string_equal(l->sni[0].cert_file, "/etc/certgate/a.crt");
    assert_string_equal(l->sni[0].key_file, "/etc/certgate/a.key");
    assert_string_equal(l->sni[0].chain_file, "/etc/certgate/a-chain.pem");
    assert_int_equal(l->sni[0].names_pos.line, 13);
    assert_int_equal(l->sni[0].names_pos.column, 25);
    assert_int_equal(l->sni[0].cert_pos.line, 14);
    assert_int_equal(l->sni[0].key_pos.line, 15);
    assert_int_equal(l->sni[1].nserver_names, 1);
    assert_string_equal(l->sni[1].server_names[0], "c.example");
    assert_null(l->sni[1].chain_file);
    assert_false(l->strict_sni);
    cg_config_unref(cfg);
    cg_diag_free(&d);

    cfg = load(HEAD "      strict_sni: true\n", &d);
    assert_non_null(cfg);
    assert_int_equal(d.count, 0);
    assert_true(cfg->listeners[0].strict_sni);
    cg_config_unref(cfg);
    cg_diag_free(&d);

    /* sni: [] is the same as no sni. */
    cfg = load(HEAD "      sni: []\n", &d);
    assert_non_null(cfg);
    assert_int_equal(d.count, 0);
    assert_int_equal(cfg->listeners[0].nsni, 0);
    cg_config_unref(cfg);
    cg_diag_free(&d);
}

static void test_refused(void **state)
{
    (void)state;
    /* A name listed twice, across entries and in any case. */
    expect_error(HEAD
                 "      sni:\n"
                 "        - server_names: [a.example, x.example]\n"
                 "          certificate: a.crt\n"
                 "          key: a.key\n"
                 "        - server_names: [c.example, A.EXAMPLE]\n"
                 "          certificate: c.crt\n"
                 "          key: c.key\n",
                 16, 37, "listeners[main].tls.sni: \"a.example\" is listed twice (first at line 13, column 26");
    expect_error(HEAD
                 "      sni:\n"
                 "        - server_names: [\"*.b.example\", \"*.B.example\"]\n"
                 "          certificate: a.crt\n"
                 "          key: a.key\n",
                 13, 41, "\"*.b.example\" is listed twice");
    /* Names. */
    expect_error(HEAD
                 "      sni:\n"
                 "        - server_names: [\"a.*.example\"]\n"
                 "          certificate: a.crt\n"
                 "          key: a.key\n",
                 13, 26, "listeners[main].tls.sni[#1].server_names[#1]: \"a.*.example\" has \"*\" inside a label");
    expect_error(HEAD
                 "      sni:\n"
                 "        - server_names: [\"*.example\"]\n"
                 "          certificate: a.crt\n"
                 "          key: a.key\n",
                 13, 26, "wildcard over a top-level domain");
    expect_error(HEAD
                 "      sni:\n"
                 "        - server_names: [ok.example, 192.0.2.1]\n"
                 "          certificate: a.crt\n"
                 "          key: a.key\n",
                 13, 38, "server_names[#2]: \"192.0.2.1\" ends with a numeric label");
    expect_error(HEAD
                 "      sni:\n"
                 "        - server_names: [a_b.example]\n"
                 "          certificate: a.crt\n"
                 "          key: a.key\n",
                 13, 26, "has a character a host name cannot have");
    expect_error(HEAD
                 "      sni:\n"
                 "        - server_names: [a.example., x]\n"
                 "          certificate: a.crt\n"
                 "          key: a.key\n",
                 13, 26, "ends with a dot");
    expect_error(HEAD
                 "      sni:\n"
                 "        - server_names: [[a.example]]\n"
                 "          certificate: a.crt\n"
                 "          key: a.key\n",
                 13, 26, "server_names[#1]: expected a host name, got a list");
    expect_error(HEAD
                 "      sni:\n"
                 "        - server_names: []\n"
                 "          certificate: a.crt\n"
                 "          key: a.key\n",
                 13, 25, "server_names: is empty (expected at least one host name)");
    expect_error(HEAD
                 "      sni:\n"
                 "        - server_names: a.example\n"
                 "          certificate: a.crt\n"
                 "          key: a.key\n",
                 13, 25, "listeners[main].tls.sni[#1].server_names: expected a list of host names");
    /* Keys. */
    expect_error(HEAD
                 "      sni:\n"
                 "        - server_names: [a.example]\n"
                 "          key: a.key\n",
                 13, 11, "certificate");
    expect_error(HEAD
                 "      sni:\n"
                 "        - certificate: a.crt\n"
                 "          key: a.key\n",
                 13, 11, "server_names");
    expect_error(HEAD
                 "      sni:\n"
                 "        - server_names: [a.example]\n"
                 "          certificate: a.crt\n"
                 "          key: a.key\n"
                 "          client_ca: other.crt\n",
                 16, 11, "unknown key \"client_ca\" in tls.sni[#1] of listener \"main\" (expected one of: "
                         "server_names, certificate, key, chain)");
    expect_error(HEAD "      strict_sni: 1\n", 12, 19, "listeners[main].tls.strict_sni: expected true or false");
    expect_error(HEAD "      sni: a.example\n", 12, 12, "listeners[main].tls.sni: expected a list of certificates");
    expect_error(HEAD "      sni:\n        - a.example\n", 13, 11, "listeners[main].tls.sni[#1]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parsed),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
