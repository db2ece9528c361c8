/* placeholder until the mapping module lands */
#include "mapping.h"

#include <stdio.h>

cg_mapping *cg_mapping_load(const char *path, cg_diag *diag)
{
    cg_diag_add(diag, CG_DIAG_ERROR, path, 0, 0, "certificate mapping is not available in this build yet");
    return NULL;
}
cg_mapping *cg_mapping_ref(cg_mapping *m) { return m; }
void cg_mapping_unref(cg_mapping *m) { (void)m; }
void cg_mapping_map(const cg_mapping *m, const mbedtls_x509_crt *leaf, cg_map_result *out)
{
    (void)m; (void)leaf;
    out->outcome = CG_MAP_NONE;
    cg_refuse(&out->why, CG_REFUSE_MAP_NONE, "certificate mapping is not available in this build yet");
}
void cg_mapping_explain(const cg_mapping *m, const mbedtls_x509_crt *leaf, void *f) { (void)m; (void)leaf; (void)f; }
