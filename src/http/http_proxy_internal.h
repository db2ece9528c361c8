/* What the two halves of an exchange share: http_proxy.c (the request:
 * admission, forwarding, request body, retries) and http_response.c (the
 * response: head, body, completion). Not an API: only these two include it.
 */
#ifndef CG_HTTP_PROXY_INTERNAL_H
#define CG_HTTP_PROXY_INTERNAL_H

#include "http_proxy.h"

struct cg_conn;

static inline const cg_backend_cfg *cg_exchange_backend(const cg_exchange *ex)
{
    return &ex->cfg->backends[ex->backend];
}

/* The route's timeouts.backend_response, else the top-level one. */
static inline uint32_t cg_exchange_response_timeout(const cg_exchange *ex)
{
    return ex->route && ex->route->backend_response_ms ? ex->route->backend_response_ms
                                                       : ex->cfg->timeouts.backend_response;
}

/* http_proxy.c */
void cg_proxy_drop_backend(cg_exchange *ex, bool reusable); /* hands ex->bc back (reusable: to the pool) */
void cg_proxy_finish_exchange(struct cg_conn *c);           /* the exchange is over: next request or close */
/* The backend connection failed: retried (retry.h), a 502, or an abort. */
void cg_proxy_backend_failed(struct cg_conn *c, const char *what);
/* A backend 401 to a delegating request: true if it is being retried. */
bool cg_proxy_retry_after_401(struct cg_conn *c);
/* The client-side timer callback while the client sets the pace (a stalled
 * request body, or a client that stopped reading a response). */
void cg_proxy_on_body_timeout(uv_timer_t *t);

/* The backend switched protocols as offered (its 101's head is written to
 * the client): the connection becomes a tunnel (tunnel.h) between the client
 * and ex->bc; the backend's bytes after its head start at ex->bc->rbuf + off.
 * The HTTP/1.1 exchange is over: nothing may touch it afterwards. */
void cg_proxy_switch_to_tunnel(struct cg_conn *c, size_t off);

/* Drives the exchange from the client's plaintext (new bytes, a backend
 * write done, output drained). */
void cg_proxy_pump(struct cg_conn *c);
/* Client output fell below the low-water mark. */
void cg_proxy_on_drain(struct cg_conn *c);

/* http_response.c */
/* Starts reading the response on ex->bc (and its response timeout). */
void cg_response_start(struct cg_conn *c);
/* The response failed after its head was accepted: a 502 page while nothing
 * of it reached the client, otherwise the connection is aborted. */
void cg_response_failed(struct cg_conn *c, const char *what);

#endif
