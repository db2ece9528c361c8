/* Names and realms of the Kerberos module, without a KDC: which name is
 * asked for a mapped principal (principal or enterprise name, realm case,
 * UPN suffixes), the request name read back, what kdc_state.h remembers
 * (realms down, per realm; canonical names), the realm refusals, and the
 * krb5 profile that tells libkrb5 the configured KDCs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <krb5.h>
#include <profile.h>

#include "kerberos/kdc_names.h"
#include "kerberos/kdc_realms.h"
#include "kerberos/kdc_state.h"

static char *corp_kdcs[] = {"127.0.0.1:8888", "dc2.corp.example.test"};
static char *corp_suffixes[] = {"corp.example.com", "Mail.Example.COM"};
static cg_kerberos_realm_cfg realms[] = {
    {.name = "CORP.EXAMPLE.TEST", .kdcs = corp_kdcs, .nkdcs = 2, .upn_suffixes = corp_suffixes, .nupn_suffixes = 2},
    {.name = "OTHER.TEST"},
};
static const cg_kdc_realm_view view = {.default_realm = "AD.EXAMPLE.TEST", .realms = realms, .nrealms = 2};

static cg_kdc_user resolve(const char *mapped)
{
    cg_kdc_user u;
    char err[300];
    if (!cg_kdc_user_resolve(mapped, &view, &u, err, sizeof err))
        fail_msg("%s: %s", mapped, err);
    return u;
}

static void test_principal_names_and_realm_case(void **s)
{
    (void)s;
    cg_kdc_user u = resolve("alice");
    assert_int_equal(u.kind, CG_KDC_NAME_PRINCIPAL);
    assert_string_equal(u.name, "alice@AD.EXAMPLE.TEST");
    assert_string_equal(u.realm, "AD.EXAMPLE.TEST");
    /* AD CS writes UPN suffixes in lower case: the realm, as configured */
    u = resolve("alice@ad.example.test");
    assert_int_equal(u.kind, CG_KDC_NAME_PRINCIPAL);
    assert_string_equal(u.name, "alice@AD.EXAMPLE.TEST");
    u = resolve("Bob@Corp.Example.Test");
    assert_string_equal(u.name, "Bob@CORP.EXAMPLE.TEST"); /* the user part is the KDC's to compare */
    assert_string_equal(u.realm, "CORP.EXAMPLE.TEST");
    u = resolve("eve@OTHER.TEST");
    assert_string_equal(u.name, "eve@OTHER.TEST");
}

static void test_enterprise_names(void **s)
{
    (void)s;
    /* a listed UPN suffix: asked in its realm */
    cg_kdc_user u = resolve("carol@corp.example.com");
    assert_int_equal(u.kind, CG_KDC_NAME_ENTERPRISE);
    assert_string_equal(u.name, "carol\\@corp.example.com@CORP.EXAMPLE.TEST");
    assert_string_equal(u.realm, "CORP.EXAMPLE.TEST");
    assert_string_equal(u.suffix, "corp.example.com");
    assert_true(u.suffix_listed);
    u = resolve("dan@mail.example.com"); /* suffixes match without regard to case too */
    assert_string_equal(u.realm, "CORP.EXAMPLE.TEST");
    assert_true(u.suffix_listed);
    /* any other suffix: in the proxy's realm (AD refers it onwards) */
    u = resolve("carol@elsewhere.example");
    assert_int_equal(u.kind, CG_KDC_NAME_ENTERPRISE);
    assert_string_equal(u.name, "carol\\@elsewhere.example@AD.EXAMPLE.TEST");
    assert_false(u.suffix_listed);
    /* a realm-looking part that is no realm served here is a UPN as well */
    u = resolve("alice@EXAMPLE.TEST");
    assert_int_equal(u.kind, CG_KDC_NAME_ENTERPRISE);
    assert_string_equal(u.name, "alice\\@EXAMPLE.TEST@AD.EXAMPLE.TEST");
}

static void test_refused_names(void **s)
{
    (void)s;
    static const char *bad[] = {"", "al ice", "alice/admin", "a@b@C", "@AD.EXAMPLE.TEST", "alice@", "ali\tce",
                                "ali\\ce", "al\x7f", "carol\\@corp@AD.EXAMPLE.TEST"};
    cg_kdc_user u;
    char err[300];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        assert_false(cg_kdc_user_resolve(bad[i], &view, &u, err, sizeof err));
        assert_true(strlen(err) > 10);
    }
    assert_false(cg_kdc_user_resolve(NULL, &view, &u, err, sizeof err));
    cg_kdc_realm_view none = {0};
    assert_false(cg_kdc_user_resolve("alice", &none, &u, err, sizeof err));
    assert_non_null(strstr(err, "kerberos.realm"));
    assert_false(cg_kdc_user_resolve("carol@corp.example.com", &none, &u, err, sizeof err));
    assert_non_null(strstr(err, "enterprise"));
    char longname[600];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(cg_kdc_user_resolve(longname, &view, &u, err, sizeof err));
    assert_non_null(strstr(err, "too long"));
}

static void test_request_names_read_back(void **s)
{
    (void)s;
    cg_kdc_user u;
    assert_true(cg_kdc_user_from_request("carol\\@corp.example.com@CORP.EXAMPLE.TEST", &view, &u));
    assert_int_equal(u.kind, CG_KDC_NAME_ENTERPRISE);
    assert_string_equal(u.realm, "CORP.EXAMPLE.TEST");
    assert_string_equal(u.suffix, "corp.example.com");
    assert_true(u.suffix_listed);
    assert_true(cg_kdc_user_from_request("x\\@nowhere.example@AD.EXAMPLE.TEST", &view, &u));
    assert_false(u.suffix_listed);
    assert_true(cg_kdc_user_from_request("alice@AD.EXAMPLE.TEST", &view, &u));
    assert_int_equal(u.kind, CG_KDC_NAME_PRINCIPAL);
    assert_string_equal(u.realm, "AD.EXAMPLE.TEST");
    assert_false(cg_kdc_user_from_request("alice", &view, &u));
    assert_string_equal(cg_kdc_name_realm("carol\\@corp.example.com@AD.EXAMPLE.TEST"), "AD.EXAMPLE.TEST");
    assert_string_equal(cg_kdc_name_realm("alice"), "");
    char out[128];
    assert_string_equal(cg_kdc_name_display("carol\\@corp.example.com@AD.EXAMPLE.TEST", out, sizeof out),
                        "carol@corp.example.com");
    assert_string_equal(cg_kdc_name_display("alice@AD.EXAMPLE.TEST", out, sizeof out), "alice@AD.EXAMPLE.TEST");
}

/* The request name becomes an enterprise principal (name type 10) with
 * the UPN as its one component; any other name stays a principal. */
static void test_request_principal_type(void **s)
{
    (void)s;
    krb5_context ctx;
    assert_int_equal(krb5_init_context(&ctx), 0);
    krb5_principal p;
    assert_int_equal(cg_kdc_request_principal(ctx, "carol\\@corp.example.com@AD.EXAMPLE.TEST", &p), 0);
    assert_int_equal(p->type, KRB5_NT_ENTERPRISE_PRINCIPAL);
    assert_int_equal(p->length, 1);
    assert_int_equal(p->data[0].length, strlen("carol@corp.example.com"));
    assert_memory_equal(p->data[0].data, "carol@corp.example.com", p->data[0].length);
    assert_int_equal(p->realm.length, strlen("AD.EXAMPLE.TEST"));
    char *back;
    assert_int_equal(krb5_unparse_name(ctx, p, &back), 0);
    assert_string_equal(back, "carol\\@corp.example.com@AD.EXAMPLE.TEST");
    krb5_free_unparsed_name(ctx, back);
    krb5_free_principal(ctx, p);
    assert_int_equal(cg_kdc_request_principal(ctx, "alice@AD.EXAMPLE.TEST", &p), 0);
    assert_int_equal(p->type, KRB5_NT_PRINCIPAL);
    krb5_free_principal(ctx, p);
    krb5_free_context(ctx);
}

static void test_realms_down_one_at_a_time(void **s)
{
    (void)s;
    cg_kdc_state *st = cg_kdc_state_new();
    assert_non_null(st);
    cg_refusal why;
    assert_false(cg_kdc_state_is_down(st, "CORP.EXAMPLE.TEST", 1000, &why));
    cg_kdc_state_realm_timed_out(st, "CORP.EXAMPLE.TEST", "did not answer", 2000, 1000);
    assert_true(cg_kdc_state_is_down(st, "CORP.EXAMPLE.TEST", 1500, &why));
    assert_int_equal(why.kind, CG_REFUSE_KDC_UNREACHABLE);
    assert_non_null(strstr(why.detail, "the KDC of realm CORP.EXAMPLE.TEST did not answer a moment ago"));
    assert_non_null(strstr(why.detail, "new tickets for names of realm CORP.EXAMPLE.TEST are not requested for "
                                       "2000ms"));
    /* users of another realm are not concerned */
    assert_false(cg_kdc_state_name_down(st, "alice@AD.EXAMPLE.TEST", "AD.EXAMPLE.TEST", 1500, &why));
    assert_true(cg_kdc_state_name_down(st, "bob@CORP.EXAMPLE.TEST", "AD.EXAMPLE.TEST", 1500, &why));
    /* the proxy's realm is every exchange's */
    cg_kdc_state_realm_timed_out(st, "AD.EXAMPLE.TEST", "did not answer", 2000, 1000);
    assert_true(cg_kdc_state_name_down(st, "x\\@y.example@OTHER.TEST", "AD.EXAMPLE.TEST", 1500, &why));
    assert_non_null(strstr(why.detail, "AD.EXAMPLE.TEST"));
    /* over: up again */
    assert_false(cg_kdc_state_is_down(st, "CORP.EXAMPLE.TEST", 3000, &why));
    cg_kdc_state_realm_timed_out(st, "CORP.EXAMPLE.TEST", "did not answer", 2000, 5000);
    cg_kdc_state_mark_up(st, "CORP.EXAMPLE.TEST");
    assert_false(cg_kdc_state_is_down(st, "CORP.EXAMPLE.TEST", 5001, &why));
    cg_kdc_state_realm_timed_out(st, "CORP.EXAMPLE.TEST", "did not answer", 2000, 5000);
    cg_kdc_state_clear_down(st);
    assert_false(cg_kdc_state_is_down(st, "CORP.EXAMPLE.TEST", 5001, &why));
    /* negative_cache 0: never down */
    cg_kdc_state_realm_timed_out(st, "OTHER.TEST", "did not answer", 0, 5000);
    assert_false(cg_kdc_state_is_down(st, "OTHER.TEST", 5000, &why));
    /* bounded: many realms, the table does not grow past its size */
    char realm[64];
    for (int i = 0; i < 3 * CG_KDC_STATE_REALMS; i++) {
        snprintf(realm, sizeof realm, "R%d.TEST", i);
        cg_kdc_state_realm_timed_out(st, realm, "did not answer", 2000, 10000);
    }
    assert_true(cg_kdc_state_is_down(st, "R0.TEST", 10001, &why));
    snprintf(realm, sizeof realm, "R%d.TEST", 3 * CG_KDC_STATE_REALMS - 1);
    assert_false(cg_kdc_state_is_down(st, realm, 10001, &why)); /* not remembered: not refused either */
    cg_kdc_state_free(st);
}

static void test_canonical_names(void **s)
{
    (void)s;
    cg_kdc_state *st = cg_kdc_state_new();
    char key[512], request[512], err[300];
    assert_true(cg_kdc_state_key(st, &view, "carol@elsewhere.example", key, sizeof key, request, sizeof request, err,
                                 sizeof err));
    assert_string_equal(key, "carol\\@elsewhere.example@AD.EXAMPLE.TEST");
    assert_string_equal(request, key);
    cg_kdc_state_set_canonical(st, request, "carol@AD.EXAMPLE.TEST");
    assert_true(cg_kdc_state_key(st, &view, "carol@elsewhere.example", key, sizeof key, request, sizeof request, err,
                                 sizeof err));
    assert_string_equal(key, "carol@AD.EXAMPLE.TEST");
    assert_string_equal(request, "carol\\@elsewhere.example@AD.EXAMPLE.TEST");
    /* updated, then forgotten */
    cg_kdc_state_set_canonical(st, request, "carol2@AD.EXAMPLE.TEST");
    assert_true(cg_kdc_state_canonical(st, request, key, sizeof key));
    assert_string_equal(key, "carol2@AD.EXAMPLE.TEST");
    cg_kdc_state_forget(st, request);
    assert_false(cg_kdc_state_canonical(st, request, key, sizeof key));
    assert_false(cg_kdc_state_key(st, &view, "a@b@c", key, sizeof key, NULL, 0, err, sizeof err));
    /* bounded: the table starts over when full */
    char name[64];
    for (int i = 0; i <= CG_KDC_STATE_ALIASES; i++) {
        snprintf(name, sizeof name, "u%d\\@x.example@AD.EXAMPLE.TEST", i);
        cg_kdc_state_set_canonical(st, name, "u@AD.EXAMPLE.TEST");
    }
    assert_false(cg_kdc_state_canonical(st, "u0\\@x.example@AD.EXAMPLE.TEST", key, sizeof key));
    snprintf(name, sizeof name, "u%d\\@x.example@AD.EXAMPLE.TEST", CG_KDC_STATE_ALIASES);
    assert_true(cg_kdc_state_canonical(st, name, key, sizeof key));
    cg_kdc_state_forget(st, NULL);
    assert_false(cg_kdc_state_canonical(st, name, key, sizeof key));
    cg_kdc_state_free(st);
}

/* A krb5.conf of its own, and kerberos.realms on top of it. */
static char krb5conf[256];

static int setup_conf(void **s)
{
    (void)s;
    snprintf(krb5conf, sizeof krb5conf, "/tmp/cg-kdc-names-%ld.conf", (long)getpid());
    FILE *f = fopen(krb5conf, "w");
    if (!f)
        return -1;
    fputs("[libdefaults]\n  default_realm = AD.EXAMPLE.TEST\n  dns_lookup_kdc = false\n"
          "[realms]\n  AD.EXAMPLE.TEST = {\n    kdc = 127.0.0.1:1\n  }\n"
          "  CORP.EXAMPLE.TEST = {\n    kdc = old.corp.example.test\n    admin_server = adm.corp.example.test\n  }\n",
          f);
    fclose(f);
    return 0;
}

static int teardown_conf(void **s)
{
    (void)s;
    unlink(krb5conf);
    return 0;
}

static void test_profile_tells_krb5_the_kdcs(void **s)
{
    (void)s;
    cg_kerberos_cfg cfg = {.realm = "AD.EXAMPLE.TEST", .krb5_config = krb5conf, .realms = realms, .nrealms = 2};
    char err[300];
    cg_kdc_realms *r = cg_kdc_realms_new(&cfg, err, sizeof err);
    assert_non_null(r);
    krb5_context ctx;
    assert_int_equal(cg_kdc_realms_context(r, &ctx), 0);
    profile_t p;
    assert_int_equal(krb5_get_profile(ctx, &p), 0);
    char **v;
    /* a configured realm's kdcs replace krb5.conf's */
    const char *corp[] = {"realms", "CORP.EXAMPLE.TEST", "kdc", NULL};
    assert_int_equal(profile_get_values(p, corp, &v), 0);
    assert_string_equal(v[0], "127.0.0.1:8888");
    assert_string_equal(v[1], "dc2.corp.example.test");
    assert_null(v[2]);
    profile_free_list(v);
    /* everything else is krb5.conf's */
    const char *adm[] = {"realms", "CORP.EXAMPLE.TEST", "admin_server", NULL};
    assert_int_equal(profile_get_values(p, adm, &v), 0);
    assert_string_equal(v[0], "adm.corp.example.test");
    profile_free_list(v);
    const char *ad[] = {"realms", "AD.EXAMPLE.TEST", "kdc", NULL};
    assert_int_equal(profile_get_values(p, ad, &v), 0);
    assert_string_equal(v[0], "127.0.0.1:1");
    profile_free_list(v);
    const char *other[] = {"realms", "OTHER.TEST", "kdc", NULL}; /* configured without kdcs */
    assert_int_not_equal(profile_get_values(p, other, &v), 0);
    char *realm;
    assert_int_equal(krb5_get_default_realm(ctx, &realm), 0);
    assert_string_equal(realm, "AD.EXAMPLE.TEST");
    krb5_free_default_realm(ctx, realm);
    profile_release(p);
    /* the context outlives the realms it was made from */
    cg_kdc_realms_unref(r);
    assert_int_equal(krb5_get_profile(ctx, &p), 0);
    assert_int_equal(profile_get_values(p, corp, &v), 0);
    assert_string_equal(v[0], "127.0.0.1:8888");
    profile_free_list(v);
    profile_release(p);
    krb5_free_context(ctx);

    char kdcs[200];
    r = cg_kdc_realms_new(&cfg, err, sizeof err);
    assert_string_equal(cg_kdc_realms_kdcs(r, "CORP.EXAMPLE.TEST", kdcs, sizeof kdcs),
                        "127.0.0.1:8888, dc2.corp.example.test");
    assert_string_equal(cg_kdc_realms_kdcs(r, "OTHER.TEST", kdcs, sizeof kdcs), "");
    assert_true(cg_kdc_realms_view(r)->realms[0].kdcs != realms[0].kdcs); /* a copy */
    cg_kdc_realms_unref(r);

    /* no krb5.conf at all: an empty profile, as krb5_init_context has */
    cfg.krb5_config = "/nonexistent/krb5.conf";
    r = cg_kdc_realms_new(&cfg, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(cg_kdc_realms_context(r, &ctx), 0);
    krb5_free_context(ctx);
    cg_kdc_realms_unref(r);
}

static void test_realm_refusals(void **s)
{
    (void)s;
    cg_kerberos_cfg cfg = {.realm = "AD.EXAMPLE.TEST", .krb5_config = krb5conf, .realms = realms, .nrealms = 2};
    char err[300];
    cg_kdc_realms *r = cg_kdc_realms_new(&cfg, err, sizeof err);
    cg_refusal why;
    /* an unknown UPN suffix: realm_unknown, naming the suffix and the key */
    cg_kdc_user u = resolve("alice@example.test");
    assert_true(cg_kdc_realm_refusal(r, &u, KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, "Client not found", &why));
    assert_int_equal(why.kind, CG_REFUSE_REALM_UNKNOWN);
    assert_non_null(strstr(why.detail, "the mapped principal alice@example.test is in example.test, which is not a "
                                       "realm served here"));
    assert_non_null(strstr(why.detail, "add it to kerberos.realms (- name: EXAMPLE.TEST"));
    assert_non_null(strstr(why.detail, "upn_suffixes"));
    /* a listed suffix, or a realm served: the user is unknown (not ours to word) */
    u = resolve("carol@corp.example.com");
    assert_false(cg_kdc_realm_refusal(r, &u, KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, "Client not found", &why));
    u = resolve("alice");
    assert_false(cg_kdc_realm_refusal(r, &u, KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, "Client not found", &why));
    assert_false(cg_kdc_realm_refusal(r, &u, KRB5_KDC_UNREACH, "Cannot contact", &why));
    /* no KDC known for the realm a name leads to */
    u = resolve("eve@OTHER.TEST");
    assert_true(cg_kdc_realm_refusal(r, &u, KRB5_REALM_CANT_RESOLVE, "Cannot resolve", &why));
    assert_int_equal(why.kind, CG_REFUSE_REALM_UNKNOWN);
    assert_non_null(strstr(why.detail, "no KDC is known for realm OTHER.TEST"));
    assert_non_null(strstr(why.detail, "give the realm its KDCs (kerberos.realms"));
    /* a foreign realm without a trust path */
    u = resolve("eve@OTHER.TEST");
    assert_true(cg_kdc_realm_refusal(r, &u, KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN, "Server not found", &why));
    assert_int_equal(why.kind, CG_REFUSE_REALM_UNKNOWN);
    assert_non_null(strstr(why.detail, "realm OTHER.TEST, of the mapped principal eve@OTHER.TEST, has no trust with "
                                       "AD.EXAMPLE.TEST"));
    assert_non_null(strstr(why.detail, "krbtgt/OTHER.TEST@AD.EXAMPLE.TEST"));
    u = resolve("alice"); /* the proxy's own realm: the proxy's SPN is what is missing (kdc_errors.h) */
    assert_false(cg_kdc_realm_refusal(r, &u, KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN, "Server not found", &why));
    cg_kdc_realms_unref(r);
    assert_int_equal(cg_refusal_status(CG_REFUSE_REALM_UNKNOWN), 403);
    assert_string_equal(cg_refusal_code(CG_REFUSE_REALM_UNKNOWN), "realm_unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_principal_names_and_realm_case),
        cmocka_unit_test(test_enterprise_names),
        cmocka_unit_test(test_refused_names),
        cmocka_unit_test(test_request_names_read_back),
        cmocka_unit_test(test_request_principal_type),
        cmocka_unit_test(test_realms_down_one_at_a_time),
        cmocka_unit_test(test_canonical_names),
        cmocka_unit_test(test_profile_tells_krb5_the_kdcs),
        cmocka_unit_test(test_realm_refusals),
    };
    return cmocka_run_group_tests(tests, setup_conf, teardown_conf);
}
