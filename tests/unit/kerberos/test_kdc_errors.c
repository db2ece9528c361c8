/* The Kerberos error catalogue (kdc_errors.h): every (step, code, hints)
 * row gives its refusal kind and status, an operator sentence that names the
 * principals and the fix, and user words that name none of them; the
 * situations MIT and AD answer alike are told apart by the hints. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <krb5.h>

#include "base/error.h"
#include "kerberos/kdc_errors.h"

#define PROXY "HTTP/proxy.example.test@EXAMPLE.TEST"
#define USER "alice@EXAMPLE.TEST"
#define TARGET "HTTP/backend.example.test@EXAMPLE.TEST"
#define KEYTAB "/etc/certgate/proxy.keytab"

static const cg_kdc_names names = {
    .proxy = PROXY, .user = USER, .target = TARGET, .realm = "EXAMPLE.TEST", .keytab = KEYTAB,
};

static cg_refusal map_with(cg_kdc_phase ph, krb5_error_code code, const cg_kdc_known *k)
{
    cg_kdc_names n = names;
    n.known = k;
    cg_refusal r;
    memset(&r, 0, sizeof r);
    cg_kdc_map_error(ph, code, "KDC says no", &n, &r);
    return r;
}

static void expect(cg_kdc_phase ph, krb5_error_code code, const cg_kdc_known *k, cg_refusal_kind kind, int status,
                   const char *const *needles)
{
    cg_refusal r = map_with(ph, code, k);
    if (r.kind != kind)
        fail_msg("phase %d code %ld: %s, expected %s (%s)", ph, (long)code, cg_refusal_code(r.kind),
                 cg_refusal_code(kind), r.detail);
    assert_int_equal(cg_refusal_status(r.kind), status);
    if (!strstr(r.detail, "KDC says no"))
        fail_msg("the KDC's message is not quoted: %s", r.detail);
    if (strlen(r.detail) >= sizeof r.detail - 1)
        fail_msg("phase %d code %ld: sentence cut at %zu bytes: %s", ph, (long)code, strlen(r.detail), r.detail);
    for (const char *const *nd = needles; nd && *nd; nd++)
        if (!strstr(r.detail, *nd))
            fail_msg("phase %d code %ld: \"%s\" not in: %s", ph, (long)code, *nd, r.detail);
}

#define NEED(...) ((const char *[]){ __VA_ARGS__, NULL })

static const cg_kdc_known fwd = { .evidence_forwardable = CG_KDC_YES };
static const cg_kdc_known sensitive = { .evidence_forwardable = CG_KDC_NO, .proxy_transition = CG_KDC_YES };
static const cg_kdc_known no_pt = { .evidence_forwardable = CG_KDC_NO, .proxy_transition = CG_KDC_NO };
static const cg_kdc_known not_fwd = { .evidence_forwardable = CG_KDC_NO };
static const cg_kdc_known rc4_vs_aes = {
    .enctypes_shared = CG_KDC_NO,
    .keytab_enctypes = "DEPRECATED:arcfour-hmac (kvno 1)",
    .account_enctypes = "aes256-cts-hmac-sha1-96",
};

/* Each situation of docs/delegation.md's table, keyed as the KDCs answer it. */
static void test_user_side_is_403(void **s)
{
    (void)s;
    expect(CG_KDC_PHASE_S4U2SELF, KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, NULL, CG_REFUSE_PRINCIPAL_UNKNOWN, 403,
           NEED(USER, "does not exist", "mapping"));
    /* disabled: MIT says CLIENT_REVOKED, AD (Samba) KDC_ERR_POLICY at S4U2Self */
    expect(CG_KDC_PHASE_S4U2SELF, KRB5KDC_ERR_CLIENT_REVOKED, NULL, CG_REFUSE_ACCOUNT_DISABLED, 403,
           NEED(USER, "disabled", "Enable-ADAccount", "+allow_tix"));
    expect(CG_KDC_PHASE_S4U2SELF, KRB5KDC_ERR_POLICY, NULL, CG_REFUSE_ACCOUNT_DISABLED, 403,
           NEED(USER, "disabled", "KDC_ERR_POLICY"));
    expect(CG_KDC_PHASE_S4U2SELF, KRB5KDC_ERR_NAME_EXP, NULL, CG_REFUSE_ACCOUNT_EXPIRED, 403, NEED(USER, "expired"));
    expect(CG_KDC_PHASE_S4U2SELF, KRB5KDC_ERR_KEY_EXP, NULL, CG_REFUSE_ACCOUNT_EXPIRED, 403,
           NEED(USER, "password has expired"));
    expect(CG_KDC_PHASE_S4U2PROXY, KRB5KDC_ERR_CLIENT_REVOKED, &fwd, CG_REFUSE_ACCOUNT_DISABLED, 403, NEED(USER));
    expect(CG_KDC_PHASE_S4U2PROXY, KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, &fwd, CG_REFUSE_PRINCIPAL_UNKNOWN, 403, NEED(USER));
    /* not delegable: S4U2Proxy refused (BADOPTION on both KDCs, POLICY on
     * some AD) with non-forwardable evidence while the proxy gets
     * forwardable tickets for others */
    expect(CG_KDC_PHASE_S4U2PROXY, KRB5KDC_ERR_BADOPTION, &sensitive, CG_REFUSE_USER_NOT_DELEGABLE, 403,
           NEED(USER, "Account is sensitive and cannot be delegated", "Protected Users", "+allow_forwardable"));
    expect(CG_KDC_PHASE_S4U2PROXY, KRB5KDC_ERR_POLICY, &sensitive, CG_REFUSE_USER_NOT_DELEGABLE, 403,
           NEED("sensitive"));
}

static void test_proxy_side_is_502(void **s)
{
    (void)s;
    /* the same KDC answer, three situations */
    expect(CG_KDC_PHASE_S4U2PROXY, KRB5KDC_ERR_BADOPTION, &fwd, CG_REFUSE_DELEGATION_DENIED, 502,
           NEED(PROXY " may not delegate to " TARGET, "krbAllowedToDelegateTo",
                "Trust this user for delegation to specified services only", "msDS-AllowedToActOnBehalfOfOtherIdentity"));
    expect(CG_KDC_PHASE_S4U2PROXY, KRB5KDC_ERR_BADOPTION, &no_pt, CG_REFUSE_NOT_FORWARDABLE, 502,
           NEED("not forwardable", "no protocol transition", "ok_to_auth_as_delegate", "Use any authentication protocol",
                "msDS-AllowedToActOnBehalfOfOtherIdentity"));
    expect(CG_KDC_PHASE_S4U2PROXY, KRB5KDC_ERR_BADOPTION, &not_fwd, CG_REFUSE_NOT_FORWARDABLE, 502,
           NEED("either", "ok_to_auth_as_delegate", "Account is sensitive"));
    expect(CG_KDC_PHASE_S4U2PROXY, KRB5KDC_ERR_BADOPTION, NULL, CG_REFUSE_DELEGATION_DENIED, 502,
           NEED(TARGET, "krbAllowedToDelegateTo"));
    expect(CG_KDC_PHASE_S4U2PROXY, KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN, &fwd, CG_REFUSE_DELEGATION_FAILED, 502,
           NEED(TARGET, "setspn", "kerberos.spn"));
    expect(CG_KDC_PHASE_S4U2SELF, KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN, NULL, CG_REFUSE_DELEGATION_FAILED, 502,
           NEED(PROXY, "setspn"));
    expect(CG_KDC_PHASE_S4U2SELF, KRB5KDC_ERR_BADOPTION, NULL, CG_REFUSE_NOT_FORWARDABLE, 502,
           NEED("ok_to_auth_as_delegate"));
    /* keys: an RC4-only keytab against an AES-only account is not a kvno change */
    expect(CG_KDC_PHASE_PROXY_TGT, KRB5_KT_NOTFOUND, &rc4_vs_aes, CG_REFUSE_ENCTYPE_MISMATCH, 502,
           NEED("arcfour-hmac (kvno 1)", "aes256-cts-hmac-sha1-96", KEYTAB, "ktpass -crypto AES256-SHA1",
                "msDS-SupportedEncryptionTypes"));
    expect(CG_KDC_PHASE_PROXY_TGT, KRB5KDC_ERR_PREAUTH_FAILED, &rc4_vs_aes, CG_REFUSE_ENCTYPE_MISMATCH, 502,
           NEED("arcfour-hmac"));
    expect(CG_KDC_PHASE_PROXY_TGT, KRB5KDC_ERR_ETYPE_NOSUPP, NULL, CG_REFUSE_ENCTYPE_MISMATCH, 502, NEED(PROXY));
    expect(CG_KDC_PHASE_PROXY_TGT, KRB5KDC_ERR_PREAUTH_FAILED, NULL, CG_REFUSE_KEYTAB_STALE, 502,
           NEED(KEYTAB, "kvno", "ktpass", "ktadd", "does not match"));
    expect(CG_KDC_PHASE_PROXY_TGT, KRB5_KT_KVNONOTFOUND, NULL, CG_REFUSE_KEYTAB_STALE, 502, NEED("kvno"));
    expect(CG_KDC_PHASE_PROXY_TGT, KRB5KRB_AP_ERR_BAD_INTEGRITY, NULL, CG_REFUSE_KEYTAB_STALE, 502, NEED("kvno"));
    expect(CG_KDC_PHASE_PROXY_TGT, KRB5_KT_NOTFOUND, NULL, CG_REFUSE_DELEGATION_FAILED, 502,
           NEED("holds no usable key", "kerberos.principal"));
    /* AD: the proxy asked for by an SPN, which is never a client name */
    expect(CG_KDC_PHASE_PROXY_TGT, KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, NULL, CG_REFUSE_DELEGATION_FAILED, 502,
           NEED("knows no client", "never an SPN", "sAMAccountName", "kerberos.principal", "addprinc"));
    expect(CG_KDC_PHASE_PROXY_TGT, KRB5KDC_ERR_CLIENT_REVOKED, NULL, CG_REFUSE_DELEGATION_FAILED, 502,
           NEED("proxy account", PROXY));
    expect(CG_KDC_PHASE_KEYTAB, EACCES, NULL, CG_REFUSE_DELEGATION_FAILED, 502, NEED("mode"));
    expect(CG_KDC_PHASE_S4U2PROXY, KRB5KDC_ERR_ETYPE_NOSUPP, &fwd, CG_REFUSE_ENCTYPE_MISMATCH, 502, NEED(TARGET, "AES"));
    /* clock: every step */
    expect(CG_KDC_PHASE_PROXY_TGT, KRB5KRB_AP_ERR_SKEW, NULL, CG_REFUSE_CLOCK_SKEW, 502, NEED("clock", "NTP"));
    expect(CG_KDC_PHASE_S4U2PROXY, KRB5KRB_AP_ERR_SKEW, &fwd, CG_REFUSE_CLOCK_SKEW, 502, NEED("clock"));
    expect(CG_KDC_PHASE_S4U2SELF, KRB5KRB_AP_ERR_TKT_NYV, NULL, CG_REFUSE_CLOCK_SKEW, 502, NEED("clock"));
    /* anything else */
    expect(CG_KDC_PHASE_TOKEN, KRB5_CC_NOTFOUND, NULL, CG_REFUSE_DELEGATION_FAILED, 502,
           NEED("certgate doctor --user " USER));
}

static void test_kdc_side_is_503(void **s)
{
    (void)s;
    expect(CG_KDC_PHASE_S4U2SELF, KRB5_KDC_UNREACH, NULL, CG_REFUSE_KDC_UNREACHABLE, 503, NEED("EXAMPLE.TEST", "kdc ="));
    expect(CG_KDC_PHASE_PROXY_TGT, KRB5_KDC_UNREACH, NULL, CG_REFUSE_KDC_UNREACHABLE, 503, NEED("port 88"));
    expect(CG_KDC_PHASE_PROXY_TGT, KRB5_REALM_CANT_RESOLVE, NULL, CG_REFUSE_KDC_UNREACHABLE, 503,
           NEED("[realms] EXAMPLE.TEST"));
    expect(CG_KDC_PHASE_S4U2PROXY, KRB5KDC_ERR_SVC_UNAVAILABLE, NULL, CG_REFUSE_KDC_UNREACHABLE, 503, NULL);
}

/* Every row of the table: its own kind with its own hints, a sentence that
 * fits, and user words that name nothing inside the service. The status
 * follows the side: the user's account 403, the proxy or KDC 502/503. */
static void test_every_row(void **s)
{
    (void)s;
    size_t n = 0;
    const cg_kdc_row *rows = cg_kdc_catalogue(&n);
    assert_true(n > 30);
    for (size_t i = 0; i < n; i++) {
        const cg_kdc_row *row = &rows[i];
        cg_kdc_known k = { .evidence_forwardable = row->evidence_forwardable,
                           .proxy_transition = row->proxy_transition,
                           .enctypes_shared = row->enctypes_shared };
        cg_kdc_phase ph = row->phase == CG_KDC_PHASE_ANY ? CG_KDC_PHASE_S4U2PROXY : row->phase;
        cg_refusal r = map_with(ph, row->code, &k);
        if (r.kind != row->kind)
            fail_msg("row %zu (%s): %s, expected %s", i, row->situation, cg_refusal_code(r.kind),
                     cg_refusal_code(row->kind));
        if (strlen(r.detail) >= sizeof r.detail - 1)
            fail_msg("row %zu (%s): sentence cut: %s", i, row->situation, r.detail);
        int st = cg_refusal_status(r.kind);
        bool user_side = r.kind == CG_REFUSE_PRINCIPAL_UNKNOWN || r.kind == CG_REFUSE_ACCOUNT_DISABLED ||
                         r.kind == CG_REFUSE_ACCOUNT_EXPIRED || r.kind == CG_REFUSE_USER_NOT_DELEGABLE;
        if (user_side)
            assert_int_equal(st, 403);
        else
            assert_true(st == 502 || st == 503);
        const cg_refusal_words *w = cg_refusal_user(r.kind);
        const char *parts[] = { w->title, w->what, w->todo };
        static const char *const inside[] = { "alice", "EXAMPLE", "HTTP/", "keytab", "KDC", "Kerberos", "S4U" };
        for (size_t p = 0; p < 3; p++) {
            assert_true(parts[p] && *parts[p]);
            for (size_t b = 0; b < sizeof inside / sizeof inside[0]; b++)
                if (strstr(parts[p], inside[b]))
                    fail_msg("%s: the user's words name \"%s\": %s", cg_refusal_code(r.kind), inside[b], parts[p]);
        }
    }
}

/* The user-side refusals say which: the page names the cause. */
static void test_user_words_name_the_cause(void **s)
{
    (void)s;
    assert_non_null(strstr(cg_refusal_user(CG_REFUSE_ACCOUNT_DISABLED)->what, "disabled or locked"));
    assert_non_null(strstr(cg_refusal_user(CG_REFUSE_ACCOUNT_EXPIRED)->what, "expired"));
    assert_non_null(strstr(cg_refusal_user(CG_REFUSE_USER_NOT_DELEGABLE)->what, "protected"));
    assert_non_null(strstr(cg_refusal_user(CG_REFUSE_PRINCIPAL_UNKNOWN)->what, "does not exist"));
    assert_non_null(strstr(cg_refusal_user(CG_REFUSE_CLOCK_SKEW)->what, "clock"));
    assert_non_null(strstr(cg_refusal_user(CG_REFUSE_TOKEN_TOO_LARGE)->what, "groups"));
    assert_string_equal(cg_refusal_code(CG_REFUSE_ACCOUNT_DISABLED), "account_disabled");
    assert_string_equal(cg_refusal_code(CG_REFUSE_USER_NOT_DELEGABLE), "user_not_delegable");
    assert_string_equal(cg_refusal_code(CG_REFUSE_ENCTYPE_MISMATCH), "enctype_mismatch");
    assert_string_equal(cg_refusal_code(CG_REFUSE_KEYTAB_STALE), "keytab_stale");
    assert_string_equal(cg_refusal_code(CG_REFUSE_CLOCK_SKEW), "clock_skew");
    assert_string_equal(cg_refusal_code(CG_REFUSE_TOKEN_TOO_LARGE), "backend_token_too_large");
}

/* RBCD: non-forwardable evidence is offered to S4U2Proxy and the KDC
 * decides; its refusal (BADOPTION, or POLICY on some AD) is read with the
 * evidence's flag and what the probe learnt about the proxy. The wording is
 * this catalogue's alone (deleg_model.h has none). */
static void test_rbcd_flow_refusals(void **s)
{
    (void)s;
    const krb5_error_code refusals[] = { KRB5KDC_ERR_BADOPTION, KRB5KDC_ERR_POLICY };
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        /* the probe could not tell: either cause, both fixes */
        expect(CG_KDC_PHASE_S4U2PROXY, refusals[i], &not_fwd, CG_REFUSE_NOT_FORWARDABLE, 502,
               NEED("refused S4U2Proxy", TARGET, USER, "ok_to_auth_as_delegate", "PrincipalsAllowedToDelegateToAccount",
                    "Account is sensitive"));
        /* the proxy gets no forwardable ticket for anyone: neither protocol
         * transition nor RBCD let it through */
        expect(CG_KDC_PHASE_S4U2PROXY, refusals[i], &no_pt, CG_REFUSE_NOT_FORWARDABLE, 502,
               NEED("refused S4U2Proxy", TARGET, "ok_to_auth_as_delegate", "PrincipalsAllowedToDelegateToAccount"));
        cg_refusal r = map_with(CG_KDC_PHASE_S4U2PROXY, refusals[i], &no_pt);
        assert_null(strstr(r.detail, "Account is sensitive"));
        assert_string_equal(cg_refusal_code(r.kind), "s4u2self_not_forwardable");
        /* it does for others: this user cannot be delegated */
        expect(CG_KDC_PHASE_S4U2PROXY, refusals[i], &sensitive, CG_REFUSE_USER_NOT_DELEGABLE, 403, NEED(USER));
        /* forwardable evidence refused: the proxy may not delegate to the SPN */
        expect(CG_KDC_PHASE_S4U2PROXY, refusals[i], &fwd, CG_REFUSE_DELEGATION_DENIED, 502,
               NEED("PrincipalsAllowedToDelegateToAccount"));
    }
    /* with names and the message as long as the AD lab's, every S4U2Proxy
     * refusal's sentence fits whole (the fix is at its end) */
    const cg_kdc_known *hints[] = { &not_fwd, &no_pt, &sensitive, &fwd, NULL };
    for (size_t i = 0; i < sizeof hints / sizeof hints[0]; i++) {
        cg_kdc_names n = { .proxy = "HTTP/proxy.example.test@AD.EXAMPLE.TEST", .user = "alice@AD.EXAMPLE.TEST",
                           .target = "HTTP/backend.example.test@AD.EXAMPLE.TEST", .realm = "AD.EXAMPLE.TEST",
                           .keytab = "/etc/certgate/proxy.keytab", .known = hints[i] };
        cg_refusal r;
        cg_kdc_map_error(CG_KDC_PHASE_S4U2PROXY, KRB5KDC_ERR_BADOPTION, "KDC can't fulfill requested option", &n, &r);
        if (strlen(r.detail) >= sizeof r.detail - 1)
            fail_msg("hints %zu: sentence cut: %s", i, r.detail);
    }
    /* non-forwardable evidence, but the KDC's answer is about something
     * else: that answer is the diagnosis, not the flag */
    expect(CG_KDC_PHASE_S4U2PROXY, KRB5_KDC_UNREACH, &not_fwd, CG_REFUSE_KDC_UNREACHABLE, 503, NULL);
    expect(CG_KDC_PHASE_S4U2PROXY, KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN, &not_fwd, CG_REFUSE_DELEGATION_FAILED, 502,
           NEED("setspn"));
}

static void test_long_names_are_cut_never_overflow(void **s)
{
    (void)s;
    char longp[400];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    cg_kdc_known k = { .evidence_forwardable = CG_KDC_NO, .proxy_transition = CG_KDC_YES };
    memset(k.keytab_enctypes, 'e', sizeof k.keytab_enctypes - 1);
    memset(k.account_enctypes, 'a', sizeof k.account_enctypes - 1);
    cg_kdc_names n = { .proxy = longp, .user = longp, .target = longp, .realm = longp, .keytab = longp, .known = &k };
    size_t rows_n = 0;
    const cg_kdc_row *rows = cg_kdc_catalogue(&rows_n);
    for (size_t i = 0; i < rows_n; i++) {
        cg_refusal r;
        cg_kdc_map_error(rows[i].phase == CG_KDC_PHASE_ANY ? CG_KDC_PHASE_S4U2SELF : rows[i].phase, rows[i].code,
                         longp, &n, &r);
        assert_true(strlen(r.detail) < sizeof r.detail);
    }
    cg_refusal r;
    cg_kdc_map_error(CG_KDC_PHASE_S4U2SELF, 12345, NULL, &n, &r);
    assert_int_equal(r.kind, CG_REFUSE_DELEGATION_FAILED);
    n = (cg_kdc_names){ 0 }; /* nothing known: defaults, never NULL in a sentence */
    cg_kdc_map_error(CG_KDC_PHASE_S4U2PROXY, KRB5KDC_ERR_BADOPTION, NULL, &n, &r);
    assert_null(strstr(r.detail, "(null)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_side_is_403),
        cmocka_unit_test(test_proxy_side_is_502),
        cmocka_unit_test(test_kdc_side_is_503),
        cmocka_unit_test(test_every_row),
        cmocka_unit_test(test_user_words_name_the_cause),
        cmocka_unit_test(test_rbcd_flow_refusals),
        cmocka_unit_test(test_long_names_are_cut_never_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
