/* Unit tests for src/net/sni.c: which tls.sni entry serves a name (exact
 * names, one-label wildcards, case, exact before wildcard, names a client
 * must not match), and the checks at load (subjectAltName must cover
 * server_names, key must belong to the certificate, unreadable files), each
 * reported at its key's position; and base/dns_name.c's rules behind them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <mbedtls/pk.h>
#include <psa/crypto.h>

#include "base/base.h"
#include "net/sni.h"
#include "fixtures.h"
#include "x509_kit.h"

static char dir[256];

/* A server certificate for sans (NULL-terminated) and its key, written as
 * dir/name.crt (DER) and dir/name.key (PEM); other_key: write another key. */
static void make_cert(const char *name, const char *const *sans, bool other_key, int64_t not_after, char **crt,
                      char **key)
{
    mbedtls_pk_context k, k2;
    tk_key(&k, 0);
    tk_cert_opts o = { .subject = "CN=server,O=Test", .key = &k, .ca = 0, .eku = "server", .not_after = not_after };
    if (not_after && not_after < (int64_t)time(NULL))
        o.not_before = not_after - 10 * 86400;
    for (size_t i = 0; i < 4 && sans[i]; i++)
        o.san_dns[i] = sans[i];
    mbedtls_x509_crt *c = tk_cert(&o);
    assert_true(asprintf(crt, "%s/%s.crt", dir, name) > 0);
    assert_true(asprintf(key, "%s/%s.key", dir, name) > 0);
    fx_write_file(*crt, c->raw.p, c->raw.len);
    unsigned char pem[4096];
    if (other_key)
        tk_key(&k2, 0);
    assert_int_equal(mbedtls_pk_write_key_pem(other_key ? &k2 : &k, pem, sizeof pem), 0);
    fx_write_text(*key, (const char *)pem);
    if (other_key)
        mbedtls_pk_free(&k2);
    mbedtls_pk_free(&k);
    tk_cert_free(c);
}

typedef struct entry_spec {
    const char *names[4];
    const char *sans[4];
    bool other_key;
    int64_t not_after;  /* 0: a year from now */
} entry_spec;

/* A listener with one tls.sni entry per spec, at made-up positions (entry i:
 * server_names at line 10*i+1, certificate 10*i+2, key 10*i+3). */
static void make_listener(cg_listener_cfg *l, const entry_spec *specs, size_t n)
{
    memset(l, 0, sizeof *l);
    l->name = "main";
    l->sni = calloc(n, sizeof *l->sni);
    l->nsni = n;
    for (size_t i = 0; i < n; i++) {
        cg_sni_cfg *e = &l->sni[i];
        char name[32];
        snprintf(name, sizeof name, "e%zu", i);
        make_cert(name, specs[i].sans, specs[i].other_key, specs[i].not_after, &e->cert_file, &e->key_file);
        e->server_names = calloc(4, sizeof *e->server_names);
        for (size_t k = 0; k < 4 && specs[i].names[k]; k++)
            e->server_names[e->nserver_names++] = strdup(specs[i].names[k]);
        e->names_pos = (cg_pos){ (int)(10 * i + 1), 5 };
        e->cert_pos = (cg_pos){ (int)(10 * i + 2), 7 };
        e->key_pos = (cg_pos){ (int)(10 * i + 3), 9 };
    }
}

static void free_listener(cg_listener_cfg *l)
{
    for (size_t i = 0; i < l->nsni; i++) {
        for (size_t k = 0; k < l->sni[i].nserver_names; k++)
            free(l->sni[i].server_names[k]);
        free(l->sni[i].server_names);
        free(l->sni[i].cert_file);
        free(l->sni[i].key_file);
    }
    free(l->sni);
}

static bool has_error(const cg_diag *d, int line, int col, const char *sub)
{
    for (size_t i = 0; i < d->count; i++)
        if (d->items[i].severity == CG_DIAG_ERROR && d->items[i].line == line && d->items[i].column == col &&
            strstr(d->items[i].message, sub))
            return true;
    cg_diag_print(d, stderr);
    return false;
}

static long find(const cg_sni_certs *t, const char *name) { return cg_sni_certs_find(t, name, strlen(name)); }

static void test_choice(void **state)
{
    (void)state;
    static const entry_spec specs[] = {
        { { "a.example", "*.b.example" }, { "a.example", "*.b.example" }, false, 0 },
        { { "c.example", "a.b.example" }, { "C.Example", "a.b.example" }, false, 0 },
    };
    cg_listener_cfg l;
    make_listener(&l, specs, 2);
    cg_diag d;
    cg_diag_init(&d);
    cg_sni_certs *t = cg_sni_certs_new(&l, NULL, NULL, "t.yaml", &d, tk_rng);
    if (!t)
        cg_diag_print(&d, stderr);
    assert_non_null(t);
    assert_int_equal(d.count, 0);
    assert_int_equal(find(t, "a.example"), 0);
    assert_int_equal(find(t, "A.EXAMPLE"), 0);          /* any case */
    assert_int_equal(find(t, "x.b.example"), 0);        /* the wildcard */
    assert_int_equal(find(t, "X-1.B.Example"), 0);
    assert_int_equal(find(t, "a.b.example"), 1);        /* an exact name before the wildcard */
    assert_int_equal(find(t, "c.example"), 1);
    assert_int_equal(find(t, "y.x.b.example"), -1);     /* one label only */
    assert_int_equal(find(t, "b.example"), -1);         /* the wildcard's own domain is not under it */
    assert_int_equal(find(t, ".b.example"), -1);        /* an empty label */
    assert_int_equal(find(t, "*.b.example"), -1);       /* a client's name is never a pattern */
    assert_int_equal(find(t, "d.example"), -1);         /* unknown: the listener's own certificate */
    assert_int_equal(find(t, "a.example."), -1);
    assert_int_equal(find(t, ""), -1);
    char longname[400];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(find(t, longname), -1);            /* over 253: never a name, never read past */
    cg_sni_certs_free(t);
    cg_diag_free(&d);
    free_listener(&l);

    /* No tls.sni: an empty table, never NULL. */
    cg_listener_cfg none = { .name = "main" };
    cg_diag_init(&d);
    t = cg_sni_certs_new(&none, NULL, NULL, "t.yaml", &d, tk_rng);
    assert_non_null(t);
    assert_int_equal(find(t, "a.example"), -1);
    cg_sni_certs_free(t);
    cg_diag_free(&d);
}

static void test_san_must_cover(void **state)
{
    (void)state;
    static const entry_spec specs[] = {
        { { "a.example" }, { "a.example" }, false, 0 },
        /* c.example is not in the SAN; *.b.example needs the wildcard itself, x.b.example does not suffice;
         * x.d.example is covered by the SAN's *.d.example. */
        { { "c.example", "*.b.example", "x.d.example" }, { "x.b.example", "*.d.example" }, false, 0 },
    };
    cg_listener_cfg l;
    make_listener(&l, specs, 2);
    cg_diag d;
    cg_diag_init(&d);
    assert_null(cg_sni_certs_new(&l, NULL, NULL, "t.yaml", &d, tk_rng));
    assert_int_equal(d.errors, 2);
    assert_true(has_error(&d, 11, 5, "listeners[main].tls.sni[#2].server_names: \"c.example\" is not a name of the "
                                     "certificate"));
    assert_true(has_error(&d, 11, 5, "\"*.b.example\" is not a name"));
    assert_true(has_error(&d, 11, 5, "(its subjectAltName: *.d.example, x.b.example)"));
    cg_diag_free(&d);
    free_listener(&l);
}

static void test_bad_files(void **state)
{
    (void)state;
    static const entry_spec specs[] = {
        { { "a.example" }, { "a.example" }, true, 0 },  /* the key of another certificate */
        { { "c.example" }, { "c.example" }, false, 0 },
    };
    cg_listener_cfg l;
    make_listener(&l, specs, 2);
    free(l.sni[1].cert_file);
    l.sni[1].cert_file = strdup("/nonexistent/c.crt");
    cg_diag d;
    cg_diag_init(&d);
    assert_null(cg_sni_certs_new(&l, NULL, NULL, "t.yaml", &d, tk_rng));
    assert_true(has_error(&d, 3, 9, "listeners[main].tls.sni[#1].key"));
    assert_true(has_error(&d, 3, 9, "does not belong to the certificate"));
    assert_true(has_error(&d, 12, 7, "listeners[main].tls.sni[#2].certificate \"/nonexistent/c.crt\": cannot read "
                                     "the file"));
    cg_diag_free(&d);
    free_listener(&l);
}

/* Expired, or ending within 30 days: a warning, the table still built. */
static void test_validity_warnings(void **state)
{
    (void)state;
    int64_t now = (int64_t)time(NULL);
    entry_spec specs[] = {
        { { "a.example" }, { "a.example" }, false, now + 5 * 86400 - 60 },
        { { "c.example" }, { "c.example" }, false, now - 86400 },
        { { "d.example" }, { "d.example" }, false, 0 },
    };
    cg_listener_cfg l;
    make_listener(&l, specs, 3);
    cg_diag d;
    cg_diag_init(&d);
    cg_sni_certs *t = cg_sni_certs_new(&l, NULL, NULL, "t.yaml", &d, tk_rng);
    assert_non_null(t);
    assert_int_equal(d.errors, 0);
    assert_int_equal(d.warnings, 2);
    bool soon = false, expired = false;
    for (size_t i = 0; i < d.count; i++) {
        const cg_diag_item *it = &d.items[i];
        soon = soon || (it->line == 2 && it->column == 7 &&
                        strstr(it->message, "listeners[main].tls.sni[#1].certificate") &&
                        strstr(it->message, "(in 4 day(s)): renew it and reload"));
        expired = expired || (it->line == 12 && strstr(it->message, "tls.sni[#2].certificate") &&
                              strstr(it->message, "expired on"));
    }
    if (!soon || !expired)
        cg_diag_print(&d, stderr);
    assert_true(soon && expired);
    assert_int_equal(find(t, "c.example"), 1); /* served anyway: a warning, not a refusal */
    cg_sni_certs_free(t);
    cg_diag_free(&d);
    free_listener(&l);
}

static void test_dns_names(void **state)
{
    (void)state;
    char why[200];
    static const char *const good[] = { "a.example", "A-1.example", "*.b.example", "xn--bcher-kva.example",
                                        "localhost", NULL };
    for (size_t i = 0; good[i]; i++)
        assert_true(cg_dns_name_check(good[i], strlen(good[i]), true, why, sizeof why));
    static const struct { const char *name, *why; } bad[] = {
        { "", "is empty" },
        { "a..example", "empty label" },
        { "a.example.", "ends with a dot" },
        { "-a.example", "starting or ending with \"-\"" },
        { "a_b.example", "a character" },
        { "a.*.example", "\"*\" inside a label" },
        { "a*.example", "\"*\" inside a label" },
        { "*.example", "top-level domain" },
        { "10.0.0.1", "numeric label" },
        { "caf\xc3\xa9.example", "a character" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(cg_dns_name_check(bad[i].name, strlen(bad[i].name), true, why, sizeof why));
        if (!strstr(why, bad[i].why))
            fail_msg("\"%s\": \"%s\" lacks \"%s\"", bad[i].name, why, bad[i].why);
    }
    assert_false(cg_dns_name_check("*.b.example", 11, false, why, sizeof why));
    char label[70];
    memset(label, 'a', 64);
    memcpy(label + 64, ".ex", 4);
    assert_false(cg_dns_name_check(label, strlen(label), false, why, sizeof why));
    assert_non_null(strstr(why, "at most 63"));

    assert_true(cg_dns_name_covers("*.b.example", 11, "X.B.EXAMPLE", 11));
    assert_false(cg_dns_name_covers("*.b.example", 11, "b.example", 9));
    assert_false(cg_dns_name_covers("*.b.example", 11, "y.x.b.example", 13));
    assert_false(cg_dns_name_covers("*.b.example", 11, ".b.example", 10));
    assert_true(cg_dns_name_covers("*.b.example", 11, "*.b.example", 11));
    assert_false(cg_dns_name_covers("x.b.example", 11, "*.b.example", 11));
    assert_false(cg_dns_name_covers("*.*.example", 11, "a.b.example", 11));
}

static int setup(void **state)
{
    (void)state;
    if (psa_crypto_init() != PSA_SUCCESS)
        return -1;
    return fx_tmpdir(dir, sizeof dir, "sni") ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return fx_rm_rf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_choice),
        cmocka_unit_test(test_san_must_cover),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_validity_warnings),
        cmocka_unit_test(test_dns_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
