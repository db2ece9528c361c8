/* doctor's Active Directory checks (doctor_ad.h). */
#include "doctor_ad.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cg_kdc_kind cg_doctor_kdc_kind(krb5_context ctx, const krb5_ticket *tkt)
{
    if (!tkt || !tkt->enc_part2)
        return CG_KDC_KIND_UNKNOWN;
    /* The PAC sits inside AD-IF-RELEVANT; krb5_find_authdata looks there.
     * MIT 1.20 and later issue a PAC too, without logon information: only
     * AD's (and Samba AD's) carries the user's groups (KERB_VALIDATION_INFO). */
    cg_kdc_kind kind = CG_KDC_KIND_OTHER;
    krb5_authdata **pac = NULL;
    krb5_pac parsed = NULL;
    if (krb5_find_authdata(ctx, tkt->enc_part2->authorization_data, NULL, KRB5_AUTHDATA_WIN2K_PAC, &pac) == 0 &&
        pac && pac[0] && krb5_pac_parse(ctx, pac[0]->contents, pac[0]->length, &parsed) == 0) {
        size_t ntypes = 0;
        krb5_ui_4 *types = NULL;
        if (krb5_pac_get_types(ctx, parsed, &ntypes, &types) == 0) {
            for (size_t i = 0; i < ntypes; i++)
                if (types[i] == KRB5_PAC_LOGON_INFO)
                    kind = CG_KDC_KIND_AD;
            free(types);
        }
        krb5_pac_free(ctx, parsed);
    }
    if (pac)
        krb5_free_authdata(ctx, pac);
    return kind;
}

/* "HTTP/proxy.example.test@REALM" -> "HTTP/proxy.example.test" (the part
 * before the realm) into out. */
static void name_part(const char *proxy, char *out, size_t cap)
{
    size_t n = strcspn(proxy, "@");
    snprintf(out, cap, "%.*s", (int)n, proxy);
}

void cg_doctor_ad_naming(const char *proxy, krb5_error_code tgt_rc, cg_kdc_kind kind, cg_doctor_note *out)
{
    char name[256];
    name_part(proxy, name, sizeof name);
    const char *realm = strchr(proxy, '@') ? strchr(proxy, '@') + 1 : "REALM";
    bool spn_form = strchr(name, '/') != NULL;
    bool machine = !spn_form && name[0] && name[strlen(name) - 1] == '$';
    out->status = NULL;
    out->check = "ad-name";
    out->text[0] = '\0';

    if (tgt_rc == KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN) {
        out->status = "warn";
        if (spn_form)
            snprintf(out->text, sizeof out->text,
                     "%s has the form of an SPN. On Active Directory a client is found only by its account name "
                     "(sAMAccountName) or its UPN, never by an SPN: set kerberos.principal to the account that holds "
                     "the SPN (`setspn -Q %s` names it: ACCOUNT@%s, or HOST$@%s for a computer account or gMSA), with "
                     "that name's key in the keytab (ktpass -princ ACCOUNT@%s, msktutil, adcli); or give the "
                     "account the UPN %s (ktpass -princ %s -mapuser ACCOUNT sets it). On MIT the principal itself "
                     "must exist", proxy, name, realm, realm, realm, proxy, proxy);
        else if (machine)
            snprintf(out->text, sizeof out->text,
                     "no account %s in %s: a computer account or gMSA is found by its sAMAccountName, which ends "
                     "with $ (check `Get-ADComputer NAME` / `Get-ADServiceAccount NAME`), and the keytab must hold "
                     "the key of exactly that name (adcli or msktutil export it)", name, realm);
        else
            snprintf(out->text, sizeof out->text,
                     "no account %s and no UPN %s in %s: on Active Directory use the account's sAMAccountName "
                     "(a user account: %s@%s; a computer account or gMSA: NAME$@%s) or its UPN exactly; MIT: the "
                     "principal itself must exist", name, proxy, realm, name, realm, realm);
        return;
    }
    if (tgt_rc || kind != CG_KDC_KIND_AD)
        return;
    out->status = "ok";
    if (spn_form)
        snprintf(out->text, sizeof out->text,
                 "Active Directory (the tickets carry a PAC with logon information): %s authenticates because it is its account's UPN (what "
                 "ktpass -princ ... -mapuser sets); it stops working if that UPN is changed or removed, while the "
                 "account name (sAMAccountName@%s) works without it", proxy, realm);
    else if (machine)
        snprintf(out->text, sizeof out->text,
                 "Active Directory (the tickets carry a PAC with logon information): %s is a computer account or gMSA name "
                 "(sAMAccountName ending in $)", proxy);
    else
        snprintf(out->text, sizeof out->text,
                 "Active Directory (the tickets carry a PAC with logon information): %s is an account name (sAMAccountName) or a UPN, "
                 "the form AD always accepts; the account needs an SPN (setspn -S HTTP/PROXYHOST %s) for S4U2Self",
                 proxy, name);
}

void cg_doctor_evidence(const char *proxy, const char *user, bool forwardable, cg_doctor_note *out)
{
    out->check = "s4u2self";
    if (forwardable) {
        out->status = "ok";
        snprintf(out->text, sizeof out->text, "%s got a forwardable ticket for %s to itself (protocol transition "
                 "allowed)", proxy, user);
        return;
    }
    out->status = "warn";
    snprintf(out->text, sizeof out->text,
             "%s got a ticket for %s to itself that is not forwardable: protocol transition is off for the proxy (AD: "
             "\"Use any authentication protocol\"; MIT: ok_to_auth_as_delegate) or %s cannot be delegated. Only "
             "resource-based constrained delegation (the backend account's msDS-AllowedToActOnBehalfOfOtherIdentity) "
             "accepts it, on Windows AD; Samba's and MIT's KDCs refuse it: s4u2proxy below says what the KDC answered",
             proxy, user, user);
}
