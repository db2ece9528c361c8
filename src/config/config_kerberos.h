/* The configuration of Kerberos delegation: the top-level kerberos section
 * (the proxy's keytab and principal) and a backend's kerberos section (its
 * SPN, when to send). Part of the loader.
 */
#ifndef CG_CONFIG_KERBEROS_H
#define CG_CONFIG_KERBEROS_H

#include "config_loader.h"

/* Before the backends: theirs need to know whether this one is present. */
void cg_config_parse_kerberos(cg_loader *ld, const cg_map *root);
/* bm: the backend's mapping. Present (even as {}) means delegation on. */
void cg_config_parse_backend_kerberos(cg_loader *ld, const cg_map *bm, cg_backend_cfg *b);

#endif
