/* The configuration's backends: name, URL (split into host, port and the
 * Host header), max_idle, max_connections, kerberos. Part of the loader.
 */
#ifndef CG_CONFIG_BACKENDS_H
#define CG_CONFIG_BACKENDS_H

#include "config_loader.h"

/* Before the listeners: routes name backends. */
void cg_config_parse_backends(cg_loader *ld, const cg_map *root);

#endif
