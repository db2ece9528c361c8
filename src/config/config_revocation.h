/* The configuration of revocation checking: the top-level revocation
 * section (CRL fetching for every listener) and a listener's own
 * (mode, crl_files, stale_grace). Part of the loader.
 */
#ifndef CG_CONFIG_REVOCATION_H
#define CG_CONFIG_REVOCATION_H

#include "config_loader.h"

void cg_config_parse_revocation(cg_loader *ld, const cg_map *root);
/* lm: the listener's mapping; ldesc: "listener \"main\"", for messages. */
void cg_config_parse_listener_revocation(cg_loader *ld, const cg_map *lm, const char *ldesc, cg_listener_cfg *l);

#endif
