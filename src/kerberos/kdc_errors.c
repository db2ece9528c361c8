/* The error catalogue of the Kerberos steps (kdc_errors.h): a krb5 error
 * code, read in the light of the step that returned it and of what certgate
 * knows besides it (the hints of cg_kdc_known), becomes a refusal kind and an
 * operator sentence naming the principals and the setting to change.
 *
 * The catalogue is a table (first matching row wins, so a row with hints
 * comes before the same code without): `certgate doctor`, the proxy and the
 * unit tests read the same rows. */
#include "kdc_errors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

const char *cg_kdc_phase_name(cg_kdc_phase p)
{
    switch (p) {
    case CG_KDC_PHASE_KEYTAB: return "keytab";
    case CG_KDC_PHASE_PROXY_TGT: return "proxy TGT (AS exchange with the keytab)";
    case CG_KDC_PHASE_S4U2SELF: return "S4U2Self";
    case CG_KDC_PHASE_S4U2PROXY: return "S4U2Proxy";
    case CG_KDC_PHASE_TOKEN: return "SPNEGO token";
    }
    return "?";
}

/* What a sentence may name, with defaults for what the caller did not know. */
typedef struct say_ctx {
    const char *msg, *user, *target, *realm, *proxy, *keytab, *ph;
    long code;
    const cg_kdc_known *k;
} say_ctx;

#define SAY(name) static void name(const cg_kdc_row *row, const void *ctx_, cg_refusal *out)
#define X ((const say_ctx *)ctx_)
#define K (row->kind)

#define DELEG_AD_HOW "AD: the proxy account's Delegation tab, \"Trust this user for delegation to specified services only\" " \
                     "+ \"Use any authentication protocol\", the SPN in the list"
#define DELEG_MIT_HOW "MIT: krbAllowedToDelegateTo on the proxy's LDAP entry"
#define RBCD_HOW "or (RBCD) let the backend's account trust the proxy: its msDS-AllowedToActOnBehalfOfOtherIdentity " \
                 "(Set-ADComputer BACKEND -PrincipalsAllowedToDelegateToAccount PROXY)"
#define PT_HOW "set ok_to_auth_as_delegate / \"Use any authentication protocol\" on %s (AD: Delegation tab; " \
               "MIT: kadmin modprinc +ok_to_auth_as_delegate)"
#define SENSITIVE_HOW "clear \"Account is sensitive and cannot be delegated\" on %s's account and take it out of " \
                      "Protected Users (AD), or kadmin modprinc +allow_forwardable %s (MIT); or accept that this " \
                      "user cannot reach delegated backends"

SAY(say_unreach)
{
    cg_refuse(out, K, "no KDC of realm %s answered during %s (%s): check that the KDC runs and is reachable from this "
              "host (krb5.conf [realms] %s kdc = ..., port 88 TCP and UDP)", X->realm, X->ph, X->msg, X->realm);
}

SAY(say_no_kdc)
{
    cg_refuse(out, K, "no KDC is known for realm %s (%s): add \"kdc = host\" under [realms] %s in the krb5.conf "
              "certgate uses (kerberos.krb5_config), or enable dns_lookup_kdc", X->realm, X->msg, X->realm);
}

SAY(say_skew)
{
    cg_refuse(out, K, "clock skew during %s (%s): this host's clock and the KDC's differ by more than the realm allows "
              "(5 minutes by default; AD: \"Maximum tolerance for computer clock synchronization\"): synchronise both "
              "with NTP (AD: the domain controllers' time source); `certgate doctor` shows the difference",
              X->ph, X->msg);
}

/* "the keytab holds aes256-cts (kvno 3); the KDC has for PROXY: rc4-hmac" */
static const char *enctype_lists(const say_ctx *x, char *buf, size_t cap)
{
    const cg_kdc_known *k = x->k;
    snprintf(buf, cap, "%s holds for %s: %s; the KDC has for the account: %s", x->keytab, x->proxy,
             k && k->keytab_enctypes[0] ? k->keytab_enctypes : "(not known)",
             k && k->account_enctypes[0] ? k->account_enctypes : "(not known)");
    return buf;
}

SAY(say_enctype_proxy)
{
    char l[400];
    cg_refuse(out, K, "the keytab has no key of the encryption type the KDC uses for the proxy's account during %s "
              "(%s): %s. Export the key again with an enctype the account has (AD: tick \"This account supports Kerberos AES 256 bit "
              "encryption\" on the account, then ktpass -crypto AES256-SHA1 -princ %s ...; MIT: kadmin ktadd -e "
              "aes256-cts:normal), or allow the keytab's enctype on the account (msDS-SupportedEncryptionTypes; MIT: "
              "supported_enctypes, permitted_enctypes)", X->ph, X->msg, enctype_lists(X, l, sizeof l), X->proxy);
}

SAY(say_enctype_ticket)
{
    cg_refuse(out, K, "the KDC found no encryption type it may use for %s's ticket during %s (%s): the service "
              "account of %s needs a key of an enctype the KDC and this host allow (AD: \"This account supports "
              "Kerberos AES 256 bit encryption\" / msDS-SupportedEncryptionTypes, then reset its password or "
              "re-run ktpass; MIT: supported_enctypes and permitted_enctypes in krb5.conf)",
              X->user, X->ph, X->msg, row->phase == CG_KDC_PHASE_S4U2SELF ? X->proxy : X->target);
}

SAY(say_stale_key)
{
    char l[400];
    cg_refuse(out, K, "the key for %s in %s does not match the KDC's (%s): the account's password or key version "
              "(kvno) changed after the keytab was exported (%s); export it again (AD: ktpass -princ %s -mapuser "
              "ACCOUNT -crypto AES256-SHA1 -ptype KRB5_NT_PRINCIPAL -pass * -out FILE; MIT: kadmin ktadd -k %s %s); "
              "`certgate doctor` shows the kvno of each", X->proxy, X->keytab, X->msg, enctype_lists(X, l, sizeof l),
              X->proxy, X->keytab, X->proxy);
}

SAY(say_no_key)
{
    char l[400];
    cg_refuse(out, K, "%s holds no usable key for %s (%s; %s): export the key of kerberos.principal into "
              "kerberos.keytab, or set kerberos.principal to a principal the keytab holds", X->keytab, X->proxy,
              X->msg, enctype_lists(X, l, sizeof l));
}

SAY(say_proxy_unknown)
{
    /* On AD the account usually exists: it is asked for by a name it does
     * not answer to (an SPN is not a client name). */
    cg_refuse(out, K, "the KDC of realm %s knows no client %s (%s): on AD a client is an account name "
              "(sAMAccountName: ACCOUNT@%s, HOST$@%s for a computer account or gMSA) or a UPN, never an SPN: set "
              "kerberos.principal to the name of the account holding the SPN, with its key in the keytab, or give "
              "that account this UPN (ktpass -princ %s -mapuser ACCOUNT); MIT: kadmin addprinc -randkey %s",
              X->realm, X->proxy, X->msg, X->realm, X->realm, X->proxy, X->proxy);
}

SAY(say_proxy_disabled)
{
    cg_refuse(out, K, "the proxy account %s is disabled, locked or expired (%s): enable it on the KDC (AD: "
              "Enable-ADAccount, and set its password never to expire; MIT: kadmin modprinc +allow_tix -expire never)",
              X->proxy, X->msg);
}

SAY(say_keytab_unusable)
{
    cg_refuse(out, K, "cannot use the keytab %s for %s (%s): check kerberos.keytab, the file's owner and mode (readable "
              "by the user certgate runs as, by nobody else)", X->keytab, X->proxy, X->msg);
}

SAY(say_user_unknown)
{
    cg_refuse(out, K, "the user %s does not exist in realm %s (%s: %s): check the principal the certificate mapping "
              "gives for this certificate, or create the account", X->user, X->realm, X->ph, X->msg);
}

SAY(say_user_disabled)
{
    cg_refuse(out, K, "the account of %s is disabled or locked (%s: %s; AD answers KDC_ERR_POLICY here for a "
              "disabled account or one outside its logon hours, MIT KDC_ERR_CLIENT_REVOKED): enable or unlock it "
              "(AD: Enable-ADAccount / Unlock-ADAccount; MIT: kadmin modprinc +allow_tix), or fix the mapping if "
              "this certificate should map to another account", X->user, X->ph, X->msg);
}

SAY(say_user_expired)
{
    cg_refuse(out, K, "the account of %s or its password has expired (%s: %s): extend it (AD: accountExpires / "
              "Set-ADAccountExpiration, or reset the password; MIT: kadmin modprinc -expire / -pwexpire)",
              X->user, X->ph, X->msg);
}

SAY(say_proxy_not_service)
{
    cg_refuse(out, K, "the KDC does not know the proxy %s as a service (%s: %s): the proxy account must hold the SPN "
              "(AD: setspn -S %s ACCOUNT; MIT: the principal itself)", X->proxy, X->ph, X->msg, X->proxy);
}

SAY(say_s4u2self_refused)
{
    cg_refuse(out, K, "realm %s refused protocol transition (S4U2Self) by %s for %s (%s): " PT_HOW,
              X->realm, X->proxy, X->user, X->msg, X->proxy);
}

SAY(say_deleg_denied)
{
    cg_refuse(out, K, "%s may not delegate to %s (S4U2Proxy for %s: %s; the S4U2Self ticket was forwardable): allow "
              "it (" DELEG_AD_HOW "; " DELEG_MIT_HOW "), " RBCD_HOW ", then flush certgate's ticket cache",
              X->proxy, X->target, X->user, X->msg);
}

SAY(say_deleg_denied_unknown)
{
    cg_refuse(out, K, "%s may not delegate %s to %s (S4U2Proxy: %s): allow it (" DELEG_AD_HOW "; " DELEG_MIT_HOW "), "
              RBCD_HOW ", then flush certgate's ticket cache", X->proxy, X->user, X->target, X->msg);
}

SAY(say_user_sensitive)
{
    cg_refuse(out, K, "%s cannot be delegated: the KDC gave an S4U2Self ticket for this user that is not forwardable, "
              "while it gives %s forwardable ones for others, which is what \"Account is sensitive and cannot be delegated\" "
              "(NOT_DELEGATED) or membership of Protected Users does (%s: %s): " SENSITIVE_HOW,
              X->user, X->proxy, X->ph, X->msg, X->user, X->user);
}

SAY(say_no_transition)
{
    cg_refuse(out, K, "the KDC refused S4U2Proxy to %s for %s (%s): the S4U2Self ticket is not forwardable and %s "
              "gets no forwardable one for anyone: no protocol transition, which classic delegation needs (and "
              "Samba's RBCD too), and no resource-based delegation let it through: set \"Use any authentication "
              "protocol\" on it (AD: Delegation tab; MIT: kadmin modprinc +ok_to_auth_as_delegate); " RBCD_HOW,
              X->target, X->user, X->msg, X->proxy);
}

SAY(say_not_fwd_either)
{
    cg_refuse(out, K, "the KDC refused S4U2Proxy to %s for %s (%s): the S4U2Self ticket is not forwardable and no "
              "other principal could be asked to tell why: either %s has no protocol transition (AD \"Use any "
              "authentication protocol\", MIT +ok_to_auth_as_delegate) and the backend's account does not trust it "
              "(RBCD: Set-ADComputer BACKEND -PrincipalsAllowedToDelegateToAccount PROXY), or %s is \"Account is "
              "sensitive and cannot be delegated\" / in Protected Users (MIT: +allow_forwardable); `certgate doctor "
              "--user` tells which", X->target, X->user, X->msg, X->proxy, X->user);
}

SAY(say_spn_unknown)
{
    cg_refuse(out, K, "no account in realm %s holds the SPN %s (S4U2Proxy: %s): register it on the backend's service "
              "account (AD: setspn -S %s ACCOUNT; MIT: kadmin addprinc -randkey %s) or fix the backend's kerberos.spn",
              X->realm, X->target, X->msg, X->target, X->target);
}

SAY(say_fallback)
{
    (void)row;
    cg_refuse(out, CG_REFUSE_DELEGATION_FAILED, "Kerberos %s for %s to %s failed: %s (krb5 code %ld); run `certgate "
              "doctor --user %s` for a step-by-step check", X->ph, X->user, X->target, X->msg, X->code,
              strcmp(X->user, "the user") ? X->user : "NAME");
}

#define U CG_KDC_UNKNOWN
#define Y CG_KDC_YES
#define N CG_KDC_NO
#define ANY CG_KDC_PHASE_ANY
#define TGT CG_KDC_PHASE_PROXY_TGT
#define KT CG_KDC_PHASE_KEYTAB
#define SELF CG_KDC_PHASE_S4U2SELF
#define PROXY CG_KDC_PHASE_S4U2PROXY

/* The proxy's own AS exchange fails on its key: the same rows for the
 * keytab step and the AS exchange. */
/* A key failure of the AS exchange: when the keytab has no key of the
 * enctype the KDC picks for the account, an enctype mismatch whatever the
 * code (MIT's client says "no key table entry", with Samba "preauthentication
 * failed"); otherwise a stale key. */
#define MISMATCH(ph, c)                                                                                             \
    { ph, c, U, U, N, CG_REFUSE_ENCTYPE_MISMATCH, "keytab has no key of the enctype the KDC picks", say_enctype_proxy }
#define STALE(ph, c)                                                                                                \
    MISMATCH(ph, c), { ph, c, U, U, U, CG_REFUSE_KEYTAB_STALE, "keytab key is not the account's (kvno)", say_stale_key }
#define KEY_ROWS(ph)                                                                                                \
    { ph, KRB5KDC_ERR_ETYPE_NOSUPP, U, U, U, CG_REFUSE_ENCTYPE_MISMATCH, "keytab and proxy account share no enctype", \
      say_enctype_proxy },                                                                                          \
    MISMATCH(ph, KRB5_KT_NOTFOUND),                                                                                 \
    { ph, KRB5_KT_NOTFOUND, U, U, U, CG_REFUSE_DELEGATION_FAILED, "keytab holds no key for the proxy", say_no_key }, \
    STALE(ph, KRB5KDC_ERR_PREAUTH_FAILED), STALE(ph, KRB5KRB_AP_ERR_BAD_INTEGRITY), STALE(ph, KRB5KRB_AP_ERR_MODIFIED), \
    STALE(ph, KRB5KRB_AP_ERR_BADKEYVER), STALE(ph, KRB5_KT_KVNONOTFOUND), STALE(ph, KRB5_PREAUTH_FAILED),            \
    { ph, KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, U, U, U, CG_REFUSE_DELEGATION_FAILED, "proxy principal unknown",          \
      say_proxy_unknown },                                                                                          \
    { ph, KRB5KDC_ERR_CLIENT_REVOKED, U, U, U, CG_REFUSE_DELEGATION_FAILED, "proxy account disabled or locked",      \
      say_proxy_disabled },                                                                                         \
    { ph, KRB5KDC_ERR_POLICY, U, U, U, CG_REFUSE_DELEGATION_FAILED, "proxy account disabled or restricted (AD)",     \
      say_proxy_disabled },                                                                                         \
    { ph, KRB5KDC_ERR_NAME_EXP, U, U, U, CG_REFUSE_DELEGATION_FAILED, "proxy account expired", say_proxy_disabled }, \
    { ph, KRB5KDC_ERR_KEY_EXP, U, U, U, CG_REFUSE_DELEGATION_FAILED, "proxy account's password expired",             \
      say_proxy_disabled },                                                                                         \
    { ph, ENOENT, U, U, U, CG_REFUSE_DELEGATION_FAILED, "keytab missing", say_keytab_unusable },                     \
    { ph, EACCES, U, U, U, CG_REFUSE_DELEGATION_FAILED, "keytab not readable", say_keytab_unusable },                \
    { ph, EPERM, U, U, U, CG_REFUSE_DELEGATION_FAILED, "keytab not readable", say_keytab_unusable },                 \
    { ph, KRB5_KT_END, U, U, U, CG_REFUSE_DELEGATION_FAILED, "keytab empty", say_keytab_unusable },                  \
    { ph, KRB5_KT_BADNAME, U, U, U, CG_REFUSE_DELEGATION_FAILED, "keytab name invalid", say_keytab_unusable },       \
    { ph, KRB5_KT_UNKNOWN_TYPE, U, U, U, CG_REFUSE_DELEGATION_FAILED, "keytab type unknown", say_keytab_unusable },  \
    { ph, KRB5_KEYTAB_BADVNO, U, U, U, CG_REFUSE_DELEGATION_FAILED, "keytab format unknown", say_keytab_unusable }

/* A refusal of S4U2Proxy, the one place that words it: certgate offers
 * non-forwardable S4U2Self evidence too (resource-based delegation may accept
 * it: deleg_model.h), so the KDC's no is read with what the evidence was and
 * whether the KDC gives the proxy forwardable tickets for others: who is
 * refused, the proxy (classic delegation, protocol transition, RBCD) or the
 * user (sensitive, Protected Users). MIT and AD answer KDC_ERR_BADOPTION in
 * every case; AD may say KDC_ERR_POLICY. */
#define S4U2PROXY_REFUSED(code)                                                                                     \
    { PROXY, code, Y, U, U, CG_REFUSE_DELEGATION_DENIED, "proxy not allowed to delegate to the SPN",                 \
      say_deleg_denied },                                                                                           \
    { PROXY, code, N, Y, U, CG_REFUSE_USER_NOT_DELEGABLE, "user cannot be delegated (sensitive, Protected Users)",   \
      say_user_sensitive },                                                                                         \
    { PROXY, code, N, N, U, CG_REFUSE_NOT_FORWARDABLE, "proxy without protocol transition (or RBCD not set)",        \
      say_no_transition },                                                                                          \
    { PROXY, code, N, U, U, CG_REFUSE_NOT_FORWARDABLE, "evidence not forwardable, cause not established",           \
      say_not_fwd_either },                                                                                         \
    { PROXY, code, U, U, U, CG_REFUSE_DELEGATION_DENIED, "delegation refused", say_deleg_denied_unknown }

static const cg_kdc_row rows[] = {
    { ANY, KRB5_KDC_UNREACH, U, U, U, CG_REFUSE_KDC_UNREACHABLE, "no KDC answered", say_unreach },
    { ANY, KRB5KDC_ERR_SVC_UNAVAILABLE, U, U, U, CG_REFUSE_KDC_UNREACHABLE, "KDC unavailable", say_unreach },
    { ANY, KRB5_REALM_CANT_RESOLVE, U, U, U, CG_REFUSE_KDC_UNREACHABLE, "no KDC known for the realm", say_no_kdc },
    { ANY, KRB5_REALM_UNKNOWN, U, U, U, CG_REFUSE_KDC_UNREACHABLE, "no KDC known for the realm", say_no_kdc },
    { ANY, KRB5KRB_AP_ERR_SKEW, U, U, U, CG_REFUSE_CLOCK_SKEW, "clock skew", say_skew },
    { ANY, KRB5KDC_ERR_NEVER_VALID, U, U, U, CG_REFUSE_CLOCK_SKEW, "clock skew (ticket not yet valid)", say_skew },
    { ANY, KRB5KRB_AP_ERR_TKT_NYV, U, U, U, CG_REFUSE_CLOCK_SKEW, "clock skew (ticket not yet valid)", say_skew },
    KEY_ROWS(KT),
    KEY_ROWS(TGT),
    { SELF, KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, U, U, U, CG_REFUSE_PRINCIPAL_UNKNOWN, "user unknown", say_user_unknown },
    { SELF, KRB5KDC_ERR_CLIENT_REVOKED, U, U, U, CG_REFUSE_ACCOUNT_DISABLED, "user disabled or locked (MIT, AD)",
      say_user_disabled },
    { SELF, KRB5KDC_ERR_POLICY, U, U, U, CG_REFUSE_ACCOUNT_DISABLED, "user disabled or restricted (AD)",
      say_user_disabled },
    { SELF, KRB5KDC_ERR_NAME_EXP, U, U, U, CG_REFUSE_ACCOUNT_EXPIRED, "user account expired", say_user_expired },
    { SELF, KRB5KDC_ERR_KEY_EXP, U, U, U, CG_REFUSE_ACCOUNT_EXPIRED, "user password expired", say_user_expired },
    { SELF, KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN, U, U, U, CG_REFUSE_DELEGATION_FAILED, "proxy not a service",
      say_proxy_not_service },
    { SELF, KRB5KDC_ERR_BADOPTION, U, U, U, CG_REFUSE_NOT_FORWARDABLE, "protocol transition refused",
      say_s4u2self_refused },
    { SELF, KRB5KDC_ERR_ETYPE_NOSUPP, U, U, U, CG_REFUSE_ENCTYPE_MISMATCH, "no enctype for the proxy's ticket",
      say_enctype_ticket },
    S4U2PROXY_REFUSED(KRB5KDC_ERR_BADOPTION),
    S4U2PROXY_REFUSED(KRB5KDC_ERR_POLICY),
    { PROXY, KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN, U, U, U, CG_REFUSE_DELEGATION_FAILED, "SPN unknown", say_spn_unknown },
    { PROXY, KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN, U, U, U, CG_REFUSE_PRINCIPAL_UNKNOWN, "user unknown", say_user_unknown },
    { PROXY, KRB5KDC_ERR_CLIENT_REVOKED, U, U, U, CG_REFUSE_ACCOUNT_DISABLED, "user disabled or locked",
      say_user_disabled },
    { PROXY, KRB5KDC_ERR_NAME_EXP, U, U, U, CG_REFUSE_ACCOUNT_EXPIRED, "user account expired", say_user_expired },
    { PROXY, KRB5KDC_ERR_KEY_EXP, U, U, U, CG_REFUSE_ACCOUNT_EXPIRED, "user password expired", say_user_expired },
    { PROXY, KRB5KDC_ERR_ETYPE_NOSUPP, U, U, U, CG_REFUSE_ENCTYPE_MISMATCH, "no enctype for the backend's ticket",
      say_enctype_ticket },
};

static const cg_kdc_row fallback = { ANY, 0, U, U, U, CG_REFUSE_DELEGATION_FAILED, "any other failure", say_fallback };

const cg_kdc_row *cg_kdc_catalogue(size_t *n)
{
    *n = sizeof rows / sizeof rows[0];
    return rows;
}

static bool hint_ok(cg_kdc_answer want, cg_kdc_answer have) { return want == CG_KDC_UNKNOWN || want == have; }

void cg_kdc_map_error(cg_kdc_phase phase, krb5_error_code code, const char *krb_msg, const cg_kdc_names *n,
                      cg_refusal *out)
{
    static const cg_kdc_known nothing;
    const cg_kdc_known *k = n->known ? n->known : &nothing;
    say_ctx x = {
        .msg = krb_msg && *krb_msg ? krb_msg : "unknown Kerberos error",
        .user = n->user ? n->user : "the user",
        .target = n->target ? n->target : "the backend's SPN",
        .realm = n->realm ? n->realm : "the realm",
        .proxy = n->proxy ? n->proxy : "the proxy principal",
        .keytab = n->keytab ? n->keytab : "the keytab",
        .ph = cg_kdc_phase_name(phase),
        .code = (long)code,
        .k = k,
    };
    const cg_kdc_row *row = &fallback;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const cg_kdc_row *r = &rows[i];
        if (r->code == code && (r->phase == CG_KDC_PHASE_ANY || r->phase == phase) &&
            hint_ok(r->evidence_forwardable, k->evidence_forwardable) &&
            hint_ok(r->proxy_transition, k->proxy_transition) && hint_ok(r->enctypes_shared, k->enctypes_shared)) {
            row = r;
            break;
        }
    }
    row->say(row, &x, out);
}

const char *cg_kdc_krb_message(krb5_context ctx, krb5_error_code code, char *out, size_t cap)
{
    if (code > 0 && code < 4096) { /* errno */
        snprintf(out, cap, "%s", strerror((int)code));
        return out;
    }
    const char *m = ctx ? krb5_get_error_message(ctx, code) : NULL;
    snprintf(out, cap, "%s", m ? m : "unknown Kerberos error");
    if (m)
        krb5_free_error_message(ctx, m);
    return out;
}
