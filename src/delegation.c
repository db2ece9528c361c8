/* placeholder until the delegation module lands */
#include "delegation.h"

cg_kerberos *cg_kerberos_new(const cg_kerberos_cfg *cfg, cg_diag *diag)
{
    (void)cfg;
    cg_diag_add(diag, CG_DIAG_ERROR, NULL, 0, 0, "Kerberos delegation is not available in this build yet");
    return NULL;
}
void cg_kerberos_free(cg_kerberos *k) { (void)k; }
cg_deleg_req *cg_delegation_token(cg_kerberos *k, uv_loop_t *loop, const char *principal, const char *spn,
                                  cg_deleg_cb cb, void *ctx)
{
    (void)k; (void)loop; (void)principal; (void)spn;
    cg_refusal why;
    cg_refuse(&why, CG_REFUSE_DELEGATION_FAILED, "Kerberos delegation is not available in this build yet");
    cb(ctx, NULL, &why);
    return NULL;
}
void cg_delegation_cancel(cg_deleg_req *r) { (void)r; }
void cg_delegation_flush(cg_kerberos *k, const char *principal) { (void)k; (void)principal; }
