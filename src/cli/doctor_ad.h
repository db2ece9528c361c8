/* `certgate doctor`'s Active Directory checks: what kind of KDC answers,
 * the form of the proxy's principal as AD sees it (account name
 * (sAMAccountName), UPN or SPN), the S4U2Self ticket and the delegation
 * model (deleg_model.h). Each fills a note the caller prints as one line.
 *
 * On AD an account authenticates (AS exchange) only as its account name,
 * proxysvc@REALM (HOST$@REALM for a computer account or a gMSA), or as its
 * UPN, which `ktpass -princ HTTP/proxy.example.test@REALM -mapuser proxysvc`
 * sets; an SPN alone (setspn) names a service, never a client. So
 * HTTP/proxy.example.test works as kerberos.principal only while the
 * account's UPN is that; the account name always works.
 */
#ifndef CG_DOCTOR_AD_H
#define CG_DOCTOR_AD_H

#include <stdbool.h>

#include <krb5.h>

typedef struct cg_doctor_note {
    const char *status;  /* "ok", "warn", "FAIL"; NULL: nothing to say */
    const char *check;   /* the check's name, e.g. "ad-name" */
    char text[1024];
} cg_doctor_note;

typedef enum cg_kdc_kind {
    CG_KDC_KIND_UNKNOWN = 0,  /* no ticket to look at */
    CG_KDC_KIND_AD,           /* a PAC with logon information: Active Directory (or Samba AD) */
    CG_KDC_KIND_OTHER,        /* no PAC, or MIT's (1.20+) without logon information */
} cg_kdc_kind;

/* The kind of KDC that issued tkt, a ticket decrypted with the keytab (doctor's
 * kvno check has one, from the proxy to itself): a PAC with logon
 * information (groups) in it means AD. UNKNOWN for NULL or an undecrypted one. */
cg_kdc_kind cg_doctor_kdc_kind(krb5_context ctx, const krb5_ticket *tkt);

/* The proxy principal's form (proxy is "name@REALM") after the AS exchange
 * returned tgt_rc, on a KDC of kind: an AD-shaped hint when the KDC knows no
 * such client, what the form relies on when it worked on AD. */
void cg_doctor_ad_naming(const char *proxy, krb5_error_code tgt_rc, cg_kdc_kind kind, cg_doctor_note *out);

/* The S4U2Self line: a forwardable ticket (protocol transition allowed), or
 * one that only resource-based delegation can use. */
void cg_doctor_evidence(const char *proxy, const char *user, bool forwardable, cg_doctor_note *out);

#endif
