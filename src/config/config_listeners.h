/* The configuration's listeners: address and port, the sections of a
 * listener (tls, revocation, strip_request_headers, proxy_protocol, request
 * limits) and its routes. Part of the loader.
 */
#ifndef CG_CONFIG_LISTENERS_H
#define CG_CONFIG_LISTENERS_H

#include "config_loader.h"

/* After the backends (ld->cfg->backends): routes name them. */
void cg_config_parse_listeners(cg_loader *ld, const cg_map *root);

#endif
