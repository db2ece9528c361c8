/* A listener's TLS configuration: the tls section at load, then (unless
 * CG_CONFIG_SKIP_TLS) its certificates and keys opened into a TLS server
 * context by the installed builder (config.h cg_config_builders: tls.h's).
 * Part of the loader.
 */
#ifndef CG_CONFIG_TLS_H
#define CG_CONFIG_TLS_H

#include <stdbool.h>

#include "config_loader.h"

/* lm: the listener's mapping; ldesc: "listener \"main\"", for messages. */
void cg_config_parse_tls(cg_loader *ld, const cg_map *lm, const char *ldesc, cg_listener_cfg *l);
/* After a clean parse: every listener's TLS server context. Reports each
 * failure (at least one error when false). */
bool cg_config_load_tls(cg_config *cfg, cg_diag *diag);

#endif
