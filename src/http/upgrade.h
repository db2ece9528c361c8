/* Protocol upgrades (RFC 9110 7.8; WebSocket, RFC 6455): which requests
 * offer an upgrade certgate passes on to the backend, and whether a
 * backend's 101 switches to what was offered. Pure functions over parsed
 * heads; the switch itself is tunnel.h's.
 */
#ifndef CG_UPGRADE_H
#define CG_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"
#include "config/config.h"
#include "http1.h"

/* Room for the Upgrade value offered to a backend, NUL included. */
#define CG_UPGRADE_OFFER_MAX 128

typedef enum {
    CG_UPGRADE_NONE,     /* the request asks for no upgrade */
    CG_UPGRADE_OFFERED,  /* passed on: the value to send is in out */
    CG_UPGRADE_STRIPPED, /* asked for but not passed on (why_not): the request goes on without it */
} cg_upgrade_verdict;

/* Decides for a parsed request on route r. OFFERED needs all of: GET,
 * HTTP/1.1, no body, a Connection header listing "upgrade", exactly one
 * Upgrade header, every protocol it lists allowed by the route
 * (routes[].upgrade; "websocket" also allows "websocket/<version>"), and the
 * value shorter than CG_UPGRADE_OFFER_MAX. Anything else with an Upgrade
 * header is STRIPPED (the header is never forwarded: it is hop-by-hop), with
 * a short reason for the log. */
cg_upgrade_verdict cg_upgrade_offer(const cg_http_request *req, const cg_route *r, char out[CG_UPGRADE_OFFER_MAX],
                                    const char **why_not);

/* Whether a backend's 101 (its headers h) switches to a protocol offered:
 * exactly one Upgrade header naming exactly one protocol, listed in offered
 * (case-insensitive), and a Connection header listing "upgrade" (RFC 9110
 * 7.8). *protocol: the backend's value, for the client's head. */
bool cg_upgrade_accepted(const char *offered, const cg_http_header *h, size_t n, cg_slice *protocol);

#endif
