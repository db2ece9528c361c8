/* Classic or resource-based constrained delegation, from the tickets
 * (deleg_model.h). */
#include "deleg_model.h"

bool cg_deleg_evidence_forwardable(const krb5_creds *evidence)
{
    return evidence && (evidence->ticket_flags & TKT_FLG_FORWARDABLE);
}

cg_deleg_model cg_deleg_model_of(bool evidence_forwardable)
{
    return evidence_forwardable ? CG_DELEG_MODEL_CLASSIC_OR_RBCD : CG_DELEG_MODEL_RBCD;
}

const char *cg_deleg_model_name(cg_deleg_model m)
{
    switch (m) {
    case CG_DELEG_MODEL_CLASSIC_OR_RBCD: return "classic_or_rbcd";
    case CG_DELEG_MODEL_RBCD: return "rbcd";
    case CG_DELEG_MODEL_UNKNOWN: break;
    }
    return "unknown";
}

const char *cg_deleg_model_text(cg_deleg_model m)
{
    switch (m) {
    case CG_DELEG_MODEL_CLASSIC_OR_RBCD:
        return "classic constrained delegation (msDS-AllowedToDelegateTo on the proxy's account; MIT: "
               "krbAllowedToDelegateTo) or resource-based (the backend account's "
               "msDS-AllowedToActOnBehalfOfOtherIdentity): with a forwardable S4U2Self ticket the KDC may use either "
               "and does not say which";
    case CG_DELEG_MODEL_RBCD:
        return "resource-based constrained delegation (RBCD: the backend account's "
               "msDS-AllowedToActOnBehalfOfOtherIdentity names the proxy): the S4U2Self ticket was not forwardable, "
               "which only RBCD accepts";
    case CG_DELEG_MODEL_UNKNOWN:
        break;
    }
    return "unknown (no S4U2Proxy ticket was granted)";
}
