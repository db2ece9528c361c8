/* The configuration of request limits (request_limits.h): a listener's
 * max_request_body and rate_limit, a route's max_request_body. Part of the
 * loader (config_listeners.c calls it on each listener and route mapping);
 * problems go to the loader's diagnostics at the node they concern.
 */
#ifndef CG_CONFIG_LIMITS_H
#define CG_CONFIG_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "yaml_doc.h"

/* listener: the listener's mapping; prefix: its key path ("listeners[main]"). */
void cg_config_parse_listener_limits(cg_yaml *y, yaml_node_t *listener, const char *prefix, cg_listener_cfg *l);
/* route: the route's mapping; prefix: its key path ("listeners[main].routes[/api]"). */
void cg_config_parse_route_limits(cg_yaml *y, yaml_node_t *route, const char *prefix, cg_route *r);

/* "20" or "20/s" (per second), "30/m" (per minute) -> requests per minute,
 * 1/m to 1000000/s. */
bool cg_parse_rate(const char *s, uint32_t *per_minute);
/* "20/s" or "30/m", for messages and logs. */
const char *cg_rate_format(uint32_t per_minute, char *out, size_t cap);

#endif
