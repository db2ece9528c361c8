/* Unit tests of deleg_model.c (classic or resource-based delegation; the
 * S4U2Proxy refusals are the catalogue's: test_kdc_errors.c) and of
 * doctor_ad.c's notes (the proxy principal's form on Active Directory, the
 * S4U2Self line). The KDC side is in tests/integration/test_delegation.py
 * (Samba AD 4.22: RBCD; MIT). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <krb5.h>

#include "kerberos/deleg_model.h"
#include "kerberos/kdc_errors.h"
#include "cli/doctor_ad.h"
#include "base/error.h"

static const cg_kdc_names names = {
    .proxy = "proxysvc@AD.EXAMPLE.TEST",
    .user = "alice@AD.EXAMPLE.TEST",
    .target = "HTTP/backend.example.test@AD.EXAMPLE.TEST",
    .realm = "AD.EXAMPLE.TEST",
    .keytab = "/etc/certgate/proxy.keytab",
};

static void has(const char *text, const char *needle)
{
    if (!strstr(text, needle))
        fail_msg("\"%s\" not in: %s", needle, text);
}

static void test_evidence_flag(void **s)
{
    (void)s;
    krb5_creds c;
    memset(&c, 0, sizeof c);
    assert_false(cg_deleg_evidence_forwardable(NULL));
    assert_false(cg_deleg_evidence_forwardable(&c));
    c.ticket_flags = TKT_FLG_PRE_AUTH;
    assert_false(cg_deleg_evidence_forwardable(&c));
    c.ticket_flags |= TKT_FLG_FORWARDABLE;
    assert_true(cg_deleg_evidence_forwardable(&c));
}

static void test_model_of_the_evidence(void **s)
{
    (void)s;
    /* Granted for non-forwardable evidence: only RBCD does that. */
    assert_int_equal(cg_deleg_model_of(false), CG_DELEG_MODEL_RBCD);
    assert_int_equal(cg_deleg_model_of(true), CG_DELEG_MODEL_CLASSIC_OR_RBCD);
    assert_string_equal(cg_deleg_model_name(CG_DELEG_MODEL_RBCD), "rbcd");
    assert_string_equal(cg_deleg_model_name(CG_DELEG_MODEL_CLASSIC_OR_RBCD), "classic_or_rbcd");
    assert_string_equal(cg_deleg_model_name(CG_DELEG_MODEL_UNKNOWN), "unknown");
    has(cg_deleg_model_text(CG_DELEG_MODEL_RBCD), "msDS-AllowedToActOnBehalfOfOtherIdentity");
    has(cg_deleg_model_text(CG_DELEG_MODEL_RBCD), "resource-based");
    has(cg_deleg_model_text(CG_DELEG_MODEL_CLASSIC_OR_RBCD), "msDS-AllowedToDelegateTo");
    has(cg_deleg_model_text(CG_DELEG_MODEL_CLASSIC_OR_RBCD), "either");
    has(cg_deleg_model_text((cg_deleg_model)99), "unknown");
}

static void test_ad_naming_spn_form_unknown_client(void **s)
{
    (void)s;
    cg_doctor_note n;
    cg_doctor_ad_naming("HTTP/proxy.example.test@AD.EXAMPLE.TEST", KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN,
                        CG_KDC_KIND_UNKNOWN, &n);
    assert_string_equal(n.status, "warn");
    assert_string_equal(n.check, "ad-name");
    has(n.text, "form of an SPN");
    has(n.text, "sAMAccountName");
    has(n.text, "setspn -Q HTTP/proxy.example.test");
    has(n.text, "ACCOUNT@AD.EXAMPLE.TEST");
    has(n.text, "HOST$@AD.EXAMPLE.TEST");
    has(n.text, "ktpass -princ HTTP/proxy.example.test@AD.EXAMPLE.TEST -mapuser ACCOUNT");
}

static void test_ad_naming_account_names(void **s)
{
    (void)s;
    cg_doctor_note n;
    cg_doctor_ad_naming("WEB01$@AD.EXAMPLE.TEST", KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, CG_KDC_KIND_UNKNOWN, &n);
    assert_string_equal(n.status, "warn");
    has(n.text, "no account WEB01$");
    has(n.text, "ends with $");
    cg_doctor_ad_naming("proxysvc@AD.EXAMPLE.TEST", KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, CG_KDC_KIND_UNKNOWN, &n);
    assert_string_equal(n.status, "warn");
    has(n.text, "no account proxysvc and no UPN proxysvc@AD.EXAMPLE.TEST");
    has(n.text, "NAME$@AD.EXAMPLE.TEST");

    /* Worked, on AD: what each form relies on. */
    cg_doctor_ad_naming("HTTP/proxy.example.test@AD.EXAMPLE.TEST", 0, CG_KDC_KIND_AD, &n);
    assert_string_equal(n.status, "ok");
    has(n.text, "UPN");
    has(n.text, "ktpass");
    cg_doctor_ad_naming("proxysvc@AD.EXAMPLE.TEST", 0, CG_KDC_KIND_AD, &n);
    assert_string_equal(n.status, "ok");
    has(n.text, "account name (sAMAccountName)");
    has(n.text, "setspn -S HTTP/PROXYHOST proxysvc");
    cg_doctor_ad_naming("WEB01$@AD.EXAMPLE.TEST", 0, CG_KDC_KIND_AD, &n);
    assert_string_equal(n.status, "ok");
    has(n.text, "computer account or gMSA");
}

static void test_ad_naming_silent_elsewhere(void **s)
{
    (void)s;
    cg_doctor_note n;
    /* MIT (no logon info in the PAC), no ticket, or another failure: the
     * proxy TGT line says it all. */
    cg_doctor_ad_naming("HTTP/proxy.example.test@EXAMPLE.TEST", 0, CG_KDC_KIND_OTHER, &n);
    assert_null(n.status);
    cg_doctor_ad_naming("HTTP/proxy.example.test@EXAMPLE.TEST", 0, CG_KDC_KIND_UNKNOWN, &n);
    assert_null(n.status);
    cg_doctor_ad_naming("HTTP/proxy.example.test@EXAMPLE.TEST", KRB5KDC_ERR_PREAUTH_FAILED, CG_KDC_KIND_UNKNOWN, &n);
    assert_null(n.status);
    /* a name without a realm, far too long: bounded, no crash */
    char longname[3000];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    cg_doctor_ad_naming(longname, KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, CG_KDC_KIND_UNKNOWN, &n);
    assert_string_equal(n.status, "warn");
    assert_true(strlen(n.text) < sizeof n.text);
    cg_doctor_ad_naming("", KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, CG_KDC_KIND_UNKNOWN, &n);
    assert_string_equal(n.status, "warn");
}

/* A ticket whose authorization data holds a signed PAC (inside
 * AD-IF-RELEVANT, as KDCs put it), with a logon-info buffer or without. */
static cg_kdc_kind kind_of_pac(krb5_context ctx, bool logon_info)
{
    krb5_pac pac = NULL;
    krb5_keyblock *key = NULL;
    krb5_principal client = NULL;
    krb5_data signed_pac = {0};
    krb5_authdata **container = NULL;
    assert_int_equal(krb5_pac_init(ctx, &pac), 0);
    if (logon_info) {
        char blob[16] = "logon-info-blob";
        krb5_data d = {.magic = KV5M_DATA, .length = sizeof blob, .data = blob};
        assert_int_equal(krb5_pac_add_buffer(ctx, pac, KRB5_PAC_LOGON_INFO, &d), 0);
    }
    krb5_keyblock tmp;
    assert_int_equal(krb5_c_make_random_key(ctx, ENCTYPE_AES256_CTS_HMAC_SHA1_96, &tmp), 0);
    assert_int_equal(krb5_copy_keyblock(ctx, &tmp, &key), 0);
    krb5_free_keyblock_contents(ctx, &tmp);
    assert_int_equal(krb5_parse_name(ctx, "alice@AD.EXAMPLE.TEST", &client), 0);
    assert_int_equal(krb5_pac_sign(ctx, pac, 1700000000, client, key, key, &signed_pac), 0);
    krb5_authdata ad = {.magic = KV5M_AUTHDATA, .ad_type = KRB5_AUTHDATA_WIN2K_PAC,
                        .length = signed_pac.length, .contents = (krb5_octet *)signed_pac.data};
    krb5_authdata *list[] = {&ad, NULL};
    assert_int_equal(krb5_encode_authdata_container(ctx, KRB5_AUTHDATA_IF_RELEVANT, list, &container), 0);
    krb5_enc_tkt_part enc;
    memset(&enc, 0, sizeof enc);
    enc.authorization_data = container;
    krb5_ticket t;
    memset(&t, 0, sizeof t);
    t.enc_part2 = &enc;
    cg_kdc_kind k = cg_doctor_kdc_kind(ctx, &t);
    krb5_free_authdata(ctx, container);
    krb5_free_data_contents(ctx, &signed_pac);
    krb5_free_principal(ctx, client);
    krb5_free_keyblock(ctx, key);
    krb5_pac_free(ctx, pac);
    return k;
}

static void test_kdc_kind_from_the_pac(void **s)
{
    (void)s;
    krb5_context ctx;
    assert_int_equal(krb5_init_context(&ctx), 0);
    assert_int_equal(cg_doctor_kdc_kind(ctx, NULL), CG_KDC_KIND_UNKNOWN);
    krb5_ticket t;
    memset(&t, 0, sizeof t);
    assert_int_equal(cg_doctor_kdc_kind(ctx, &t), CG_KDC_KIND_UNKNOWN); /* not decrypted */
    krb5_enc_tkt_part enc;
    memset(&enc, 0, sizeof enc);
    t.enc_part2 = &enc;
    assert_int_equal(cg_doctor_kdc_kind(ctx, &t), CG_KDC_KIND_OTHER); /* no authorization data */
    /* MIT 1.20's PAC: signatures and client info, no logon info */
    assert_int_equal(kind_of_pac(ctx, false), CG_KDC_KIND_OTHER);
    /* AD's: the user's logon info (groups) */
    assert_int_equal(kind_of_pac(ctx, true), CG_KDC_KIND_AD);
    krb5_free_context(ctx);
}

static void test_evidence_note(void **s)
{
    (void)s;
    cg_doctor_note n;
    cg_doctor_evidence(names.proxy, names.user, true, &n);
    assert_string_equal(n.status, "ok");
    assert_string_equal(n.check, "s4u2self");
    has(n.text, "forwardable ticket for alice@AD.EXAMPLE.TEST");
    cg_doctor_evidence(names.proxy, names.user, false, &n);
    /* a warning, not a failure: RBCD on Windows AD accepts it */
    assert_string_equal(n.status, "warn");
    has(n.text, "not forwardable");
    has(n.text, "msDS-AllowedToActOnBehalfOfOtherIdentity");
    has(n.text, "s4u2proxy below");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_evidence_flag),
        cmocka_unit_test(test_model_of_the_evidence),
        cmocka_unit_test(test_ad_naming_spn_form_unknown_client),
        cmocka_unit_test(test_ad_naming_account_names),
        cmocka_unit_test(test_ad_naming_silent_elsewhere),
        cmocka_unit_test(test_kdc_kind_from_the_pac),
        cmocka_unit_test(test_evidence_note),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
