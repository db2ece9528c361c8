/* The configuration of upgrades on a route (tunnel.h): routes[].upgrade,
 * the protocols a backend may switch the connection to, and
 * routes[].timeouts (backend_response, tunnel_idle), the route's own
 * timeouts. Part of the loader (config_listeners.c calls it on each route
 * mapping); problems go to the loader's diagnostics at the node they concern.
 */
#ifndef CG_CONFIG_TUNNEL_H
#define CG_CONFIG_TUNNEL_H

#include "config.h"
#include "config_loader.h"

/* route: the route's mapping, named for messages ("listeners[main].routes[/hub]"). */
void cg_config_parse_route_tunnel(cg_loader *ld, const cg_map *route, cg_route *r);

#endif
