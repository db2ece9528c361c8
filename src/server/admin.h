/* The admin listener: plain HTTP on the main thread's loop, for Prometheus
 * and for liveness/readiness probes (configuration section `admin`).
 *
 *   GET /metrics   the Prometheus text format (metrics.h)
 *   GET /healthz   200 "ok": the main loop answers
 *   GET /readyz    200 or 503 with the checks as JSON (health.h)
 *
 * On the main loop, not a worker's: a scrape never delays a request, and
 * it reads every worker's counters alike. One request per connection
 * (answered with Connection: close), GET only, a head of at most 4 KiB
 * that must arrive within admin.timeout, at most admin.max_connections at
 * once, clients outside admin.allow refused. No authentication: the
 * address is loopback unless admin.expose says otherwise.
 */
#ifndef CG_ADMIN_H
#define CG_ADMIN_H

#include <stddef.h>

#include <uv.h>

#include "metrics.h"

typedef struct cg_admin cg_admin;

/* Binds src->cfg->admin on loop and serves it from there. src is read at
 * each request (the server keeps it current: configuration, reload
 * counts). NULL with a sentence in err when it cannot listen. */
cg_admin *cg_admin_start(uv_loop_t *loop, const cg_metrics_sources *src, char *err, size_t errcap);

/* Stops listening and closes every admin connection; freed once its
 * handles are closed (the loop must run on). */
void cg_admin_close(cg_admin *a);

#endif
