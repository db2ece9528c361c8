/* The error catalogue of the Kerberos steps (kdc_errors.h): a krb5 error
 * code, read in the light of the step that returned it, becomes a refusal
 * kind and an operator sentence naming the principals and the KDC-side
 * setting to change. */
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

#define DELEG_AD_HOW "AD: the proxy account's Delegation tab, \"Trust this user for delegation to specified services only\" " \
                     "+ \"Use any authentication protocol\", with %s in the list"
#define DELEG_MIT_HOW "MIT: krbAllowedToDelegateTo: %s on %s's LDAP entry"

void cg_kdc_not_forwardable(const cg_kdc_names *n, cg_refusal *out)
{
    /* Reached after the KDC refused S4U2Proxy with this evidence: certgate
     * asks anyway, since resource-based delegation may accept it. */
    cg_refuse(out, CG_REFUSE_NOT_FORWARDABLE,
              "the KDC refused S4U2Proxy to %s: the S4U2Self ticket for %s issued to %s is not forwardable. Set "
              "ok_to_auth_as_delegate / \"Use any authentication protocol\" on %s (AD: Delegation tab; MIT: kadmin "
              "modprinc +ok_to_auth_as_delegate), or let the backend's account trust the proxy (RBCD: Set-ADComputer "
              "BACKEND -PrincipalsAllowedToDelegateToAccount PROXY); check that %s is not \"Account is sensitive "
              "and cannot be delegated\" or in Protected Users (MIT: +allow_forwardable)",
              n->target ? n->target : "the backend", n->user ? n->user : "the user", n->proxy, n->proxy,
              n->user ? n->user : "the user");
}

void cg_kdc_map_error(cg_kdc_phase phase, krb5_error_code code, const char *krb_msg, const cg_kdc_names *n,
                      cg_refusal *out)
{
    const char *msg = krb_msg && *krb_msg ? krb_msg : "unknown Kerberos error";
    const char *user = n->user ? n->user : "the user";
    const char *target = n->target ? n->target : "the backend's SPN";
    const char *realm = n->realm ? n->realm : "the realm";
    const char *proxy = n->proxy ? n->proxy : "the proxy principal";
    const char *keytab = n->keytab ? n->keytab : "the keytab";
    const char *ph = cg_kdc_phase_name(phase);

    switch (code) {
    case KRB5_KDC_UNREACH:
    case KRB5KDC_ERR_SVC_UNAVAILABLE:
        cg_refuse(out, CG_REFUSE_KDC_UNREACHABLE,
                  "no KDC of realm %s answered during %s (%s): check that the KDC runs and is reachable from this "
                  "host (krb5.conf [realms] %s kdc = ..., port 88 TCP and UDP)", realm, ph, msg, realm);
        return;
    case KRB5_REALM_CANT_RESOLVE:
    case KRB5_REALM_UNKNOWN:
        cg_refuse(out, CG_REFUSE_KDC_UNREACHABLE,
                  "no KDC is known for realm %s (%s): add \"kdc = host\" under [realms] %s in the krb5.conf certgate "
                  "uses (kerberos.krb5_config), or enable dns_lookup_kdc", realm, msg, realm);
        return;
    case KRB5KRB_AP_ERR_SKEW:
    case KRB5KDC_ERR_NEVER_VALID:
    case KRB5KRB_AP_ERR_TKT_NYV:
        cg_refuse(out, CG_REFUSE_DELEGATION_FAILED,
                  "clock skew during %s (%s): this host's clock and the KDC's differ by more than the realm allows "
                  "(5 minutes by default): synchronise both with NTP", ph, msg);
        return;
    case KRB5KDC_ERR_ETYPE_NOSUPP:
        cg_refuse(out, CG_REFUSE_DELEGATION_FAILED,
                  "no common encryption type during %s (%s): the keys in %s and the KDC's keys for %s must share an "
                  "enctype (AD: tick \"This account supports Kerberos AES 256 bit encryption\" and export with "
                  "ktpass -crypto AES256-SHA1; MIT: supported_enctypes)", ph, msg, keytab, proxy);
        return;
    default:
        break;
    }

    switch (phase) {
    case CG_KDC_PHASE_KEYTAB:
    case CG_KDC_PHASE_PROXY_TGT:
        switch (code) {
        case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
            /* On AD the account usually exists: it is asked for by a name
             * it does not answer to (an SPN is not a client name). */
            cg_refuse(out, CG_REFUSE_DELEGATION_FAILED,
                      "the KDC of realm %s knows no client %s (%s): on AD a client is an account name "
                      "(sAMAccountName: ACCOUNT@%s, HOST$@%s for a computer account or gMSA) or a UPN, never an SPN: "
                      "set kerberos.principal to the name of the account holding the SPN, with its key in the keytab, "
                      "or give that account this UPN (ktpass -princ %s -mapuser ACCOUNT); MIT: kadmin addprinc "
                      "-randkey %s", realm, proxy, msg, realm, realm, proxy, proxy);
            return;
        case KRB5KDC_ERR_PREAUTH_FAILED:
        case KRB5KRB_AP_ERR_BAD_INTEGRITY:
        case KRB5KRB_AP_ERR_MODIFIED:
        case KRB5KRB_AP_ERR_BADKEYVER:
        case KRB5_KT_KVNONOTFOUND:
        case KRB5_PREAUTH_FAILED:
            cg_refuse(out, CG_REFUSE_DELEGATION_FAILED,
                      "the key for %s in %s does not match the KDC's (%s): the account's password or key version "
                      "(kvno) changed after the keytab was exported; export it again (AD: ktpass -princ %s -mapuser "
                      "ACCOUNT -crypto AES256-SHA1 -ptype KRB5_NT_PRINCIPAL -pass * -out FILE; MIT: kadmin ktadd -k "
                      "%s %s); `certgate doctor` shows the kvno of each", proxy, keytab, msg, proxy, keytab, proxy);
            return;
        case KRB5_KT_NOTFOUND:
            cg_refuse(out, CG_REFUSE_DELEGATION_FAILED,
                      "%s holds no key for %s (%s): export the key of kerberos.principal into kerberos.keytab, or set "
                      "kerberos.principal to a principal the keytab holds", keytab, proxy, msg);
            return;
        case KRB5KDC_ERR_CLIENT_REVOKED:
        case KRB5KDC_ERR_NAME_EXP:
        case KRB5KDC_ERR_KEY_EXP:
            cg_refuse(out, CG_REFUSE_DELEGATION_FAILED,
                      "the proxy account %s is disabled, locked or expired (%s): enable it on the KDC", proxy, msg);
            return;
        case ENOENT:
        case EACCES:
        case EPERM:
        case KRB5_KT_END:
        case KRB5_KT_BADNAME:
        case KRB5_KT_UNKNOWN_TYPE:
        case KRB5_KEYTAB_BADVNO:
            cg_refuse(out, CG_REFUSE_DELEGATION_FAILED,
                      "cannot use the keytab %s for %s (%s): check kerberos.keytab, the file's owner and mode (readable "
                      "by the user certgate runs as, by nobody else)", keytab, proxy, msg);
            return;
        default:
            break;
        }
        break;
    case CG_KDC_PHASE_S4U2SELF:
        switch (code) {
        case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
            cg_refuse(out, CG_REFUSE_PRINCIPAL_UNKNOWN,
                      "the user %s does not exist in realm %s (S4U2Self: %s): check the principal the certificate "
                      "mapping gives for this certificate, or create the account", user, realm, msg);
            return;
        case KRB5KDC_ERR_CLIENT_REVOKED:
        case KRB5KDC_ERR_NAME_EXP:
        case KRB5KDC_ERR_KEY_EXP:
            cg_refuse(out, CG_REFUSE_PRINCIPAL_UNKNOWN,
                      "the account of %s is disabled, locked or expired (S4U2Self: %s): enable it on the KDC",
                      user, msg);
            return;
        case KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN:
            cg_refuse(out, CG_REFUSE_DELEGATION_FAILED,
                      "the KDC does not know the proxy %s as a service (S4U2Self: %s): the proxy account must hold the "
                      "SPN (AD: setspn -S %s ACCOUNT; MIT: the principal itself)", proxy, msg, proxy);
            return;
        case KRB5KDC_ERR_BADOPTION:
        case KRB5KDC_ERR_POLICY:
            cg_refuse(out, CG_REFUSE_NOT_FORWARDABLE,
                      "realm %s refused protocol transition (S4U2Self) by %s for %s (%s): set ok_to_auth_as_delegate / "
                      "\"Use any authentication protocol\" on %s (AD: Delegation tab; MIT: kadmin modprinc "
                      "+ok_to_auth_as_delegate), and check the user's account allows delegation",
                      realm, proxy, user, msg, proxy);
            return;
        default:
            break;
        }
        break;
    case CG_KDC_PHASE_S4U2PROXY:
        switch (code) {
        case KRB5KDC_ERR_BADOPTION:
        case KRB5KDC_ERR_POLICY:
        case KRB5KDC_ERR_C_OLD_MAST_KVNO:
            cg_refuse(out, CG_REFUSE_DELEGATION_DENIED,
                      "%s may not delegate to %s (S4U2Proxy for %s: %s): allow %s to delegate to %s (" DELEG_AD_HOW
                      "; " DELEG_MIT_HOW "), then flush certgate's ticket cache",
                      proxy, target, user, msg, proxy, target, target, target, proxy);
            return;
        case KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN:
            cg_refuse(out, CG_REFUSE_DELEGATION_FAILED,
                      "no account in realm %s holds the SPN %s (S4U2Proxy: %s): register it on the backend's service "
                      "account (AD: setspn -S %s ACCOUNT; MIT: kadmin addprinc -randkey %s) or fix the backend's "
                      "kerberos.spn", realm, target, msg, target, target);
            return;
        case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
        case KRB5KDC_ERR_CLIENT_REVOKED:
            cg_refuse(out, CG_REFUSE_PRINCIPAL_UNKNOWN,
                      "the KDC refused %s during S4U2Proxy to %s (%s): the account is unknown, disabled or locked",
                      user, target, msg);
            return;
        default:
            break;
        }
        break;
    case CG_KDC_PHASE_TOKEN:
        break;
    }
    cg_refuse(out, CG_REFUSE_DELEGATION_FAILED, "Kerberos %s for %s to %s failed: %s (krb5 code %ld); run `certgate "
              "doctor --user %s` for a step-by-step check", ph, user, target, msg, (long)code,
              n->user ? n->user : "NAME");
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
