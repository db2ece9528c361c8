/* A tunnel: the connection after a protocol upgrade (a WebSocket, RFC 6455;
 * RFC 9110 7.8). When a backend answers 101 to an upgrade the route allows
 * (upgrade.h), the HTTP/1.1 handler switches the client connection to this
 * handler (cg_conn_switch_handler): the client and the request's dedicated
 * backend connection (new, never pooled, so never another identity's) are
 * joined both ways, bytes as they come, with backpressure on each side (the
 * backend is not read while the client's output is over CG_OUT_HIGH_WATER;
 * the client is not read while a write to the backend is queued), so a
 * tunnel holds at most about one read buffer per direction besides the
 * client's output queue.
 *
 * It ends: when either side ends (the client's end, close_notify or FIN,
 * reaches the backend as a FIN and the backend's remaining bytes still
 * reach the client; the backend's end closes the client after what it sent,
 * since TLS 1.2 has no half-close); after tunnel_idle without a byte either
 * way (routes[].timeouts.tunnel_idle, else timeouts.tunnel_idle); when a
 * CRL that changed revokes the client's certificate (checked every
 * CG_TUNNEL_REJUDGE_MS); at a graceful shutdown. Then the upgrade request's
 * access log line is written (status 101, bytes each way) with a
 * tunnel_closed line that says why.
 */
#ifndef CG_TUNNEL_H
#define CG_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>

#include "admit.h"
#include "backend.h"
#include "net/net.h"

struct cg_exchange;

/* How often an open tunnel asks whether a CRL changed since its verdict. */
#define CG_TUNNEL_REJUDGE_MS 1000

/* The handler of an upgraded connection. */
extern const cg_conn_handler cg_tunnel_handler;

/* Switches c to a tunnel between its client and bc, right after the 101's
 * head was written to the client. cl and ex stay where they are (the
 * HTTP/1.1 handler's state, which the switch keeps) and become the tunnel's:
 * it closes the client and writes, then releases, the exchange's log record
 * and snapshot at its end. early: backend bytes that came after the 101's
 * head (at bc->rbuf + off), sent to the client first; the client's bytes
 * after the upgrade request (c->pbuf[c->ppos, c->plen)) go to the backend
 * first. False when out of memory: nothing was switched. */
bool cg_tunnel_start(cg_conn *c, cg_client *cl, struct cg_exchange *ex, cg_backend_conn *bc, size_t off);

#endif
