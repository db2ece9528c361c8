/* The configuration's backends: name, URL (split into host, port and the
 * Host header), max_idle, max_connections, kerberos, tls (https backends).
 * Part of the loader.
 */
#ifndef CG_CONFIG_BACKENDS_H
#define CG_CONFIG_BACKENDS_H

#include "config_loader.h"

/* Before the listeners: routes name backends. */
void cg_config_parse_backends(cg_loader *ld, const cg_map *root);

/* After a clean parse: each https backend's TLS client, built by the
 * installed builder (its CA bundle, certificate and key opened now, once
 * per snapshot). False with at least one error in diag. */
bool cg_config_load_backend_tls(cg_config *cfg, cg_diag *diag);

#endif
