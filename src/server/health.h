/* Readiness: whether this certgate can serve requests as configured, and
 * if not, which check fails and why, for /readyz (admin.h) and operators.
 *
 * Checks (docs/operations.md "Monitoring"):
 *   config     a configuration is loaded (a refused reload keeps the one in
 *              force: still ready, the detail says so)
 *   listeners  every worker listens; not ready once a stop signal arrived
 *   crl        per CRL issuer the store knows, on listeners that check
 *              revocation: not ready when its newest CRL is past nextUpdate
 *              + stale_grace (the smallest of those listeners'), or when it
 *              has none and the last fetch failed: its clients get 403.13
 *   kerberos   when configured: a KDC exchange (proxy TGT or S4U)
 *              succeeded within admin.kdc_window. Evaluating it starts an
 *              AS exchange for the proxy's own TGT (thread pool) once half
 *              the window has passed, so an idle certgate stays ready while
 *              the KDC answers and turns not ready within the window when
 *              it stops.
 * Detail sentences name files, URLs and CA names, never a user.
 */
#ifndef CG_HEALTH_H
#define CG_HEALTH_H

#include <stdbool.h>

#include <uv.h>

#include "metrics.h"

/* Writes {"ready":bool,"checks":[{"name":..,"ok":..,"detail":..}, ...]}
 * into p->out and returns ready. loop: where the Kerberos probe runs. */
bool cg_health_ready(const cg_metrics_sources *src, uv_loop_t *loop, cg_prom *p);

/* JSON string (quotes included) of UTF-8 text: '"', '\' and controls escaped. */
void cg_health_json_string(cg_prom *p, const char *s);

#endif
