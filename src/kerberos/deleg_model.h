/* Which model of constrained delegation lets the proxy act for a user, as
 * far as the tickets tell. A refusal of S4U2Proxy is worded by the catalogue
 * (kdc_errors.h, through kdc_diagnose.h), which reads the evidence's flag.
 *
 * S4U2Self gives the proxy a ticket for the user to itself (the evidence).
 * The KDC makes it forwardable only when the proxy may use protocol
 * transition (AD: TrustedToAuthForDelegation, "Use any authentication
 * protocol"; MIT: ok_to_auth_as_delegate) and the user may be delegated.
 *
 *   classic          msDS-AllowedToDelegateTo on the proxy's account (MIT:
 *                    krbAllowedToDelegateTo) lists the backend's SPN; needs
 *                    forwardable evidence
 *   resource-based   (RBCD) the backend account's
 *                    msDS-AllowedToActOnBehalfOfOtherIdentity names the proxy;
 *                    Windows AD accepts non-forwardable evidence for it,
 *                    Samba's KDC (4.19 and later) still wants it forwardable
 *
 * So certgate never rejects non-forwardable evidence itself: it asks for
 * S4U2Proxy and the KDC's answer decides. A ticket granted for
 * non-forwardable evidence can only come from RBCD; for forwardable evidence
 * the KDC may have used either model (it does not say which).
 */
#ifndef CG_DELEG_MODEL_H
#define CG_DELEG_MODEL_H

#include <stdbool.h>

#include <krb5.h>

typedef enum cg_deleg_model {
    CG_DELEG_MODEL_UNKNOWN = 0,      /* no S4U2Proxy granted (yet) */
    CG_DELEG_MODEL_CLASSIC_OR_RBCD,  /* granted for forwardable evidence */
    CG_DELEG_MODEL_RBCD,             /* granted for non-forwardable evidence: only RBCD does that */
} cg_deleg_model;

/* Whether the S4U2Self ticket is forwardable. */
bool cg_deleg_evidence_forwardable(const krb5_creds *evidence);

/* The model that granted an S4U2Proxy ticket for evidence of this kind. */
cg_deleg_model cg_deleg_model_of(bool evidence_forwardable);

/* Stable short name for log lines: "unknown", "classic_or_rbcd", "rbcd". */
const char *cg_deleg_model_name(cg_deleg_model m);

/* A sentence for the operator (doctor): the model and the attribute behind it. */
const char *cg_deleg_model_text(cg_deleg_model m);

#endif
