/* certgate's numbers in the Prometheus text exposition format (0.0.4),
 * for the admin listener's /metrics (admin.h; every metric is listed in
 * docs/operations.md "Monitoring").
 *
 * Data flows one way: this module reads the workers' counters (stats.h)
 * and the modules' read-only accessors (cg_crl_store_issuers,
 * cg_kerberos_read_stats); nothing calls it on the request path. It runs
 * on the main thread. No metric carries anything about a user (principal,
 * subject, serial, client address): label values come from the
 * configuration (listener, route, backend names), the refusal vocabulary
 * (status, sub-status, code) and CA names (bounded by the configured
 * trust anchors).
 */
#ifndef CG_METRICS_H
#define CG_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "base/base.h"

struct cg_worker;
struct cg_services;

/* ---- certgate's metrics ---- */

/* Gives every route of cfg its series (cg_route.stats_series) before the
 * snapshot is used: the same (listener, route) keeps its series across
 * reloads, so counters never go backwards. Main thread. */
void cg_metrics_bind_routes(cg_config *cfg);

typedef struct cg_metrics_sources {
    const cg_config *cfg;              /* in force */
    struct cg_worker *workers;
    unsigned nworkers;
    struct cg_services *services;
    unsigned reloads, reload_failures;
    int64_t last_reload_ok_s;          /* unix s of the last applied configuration (start counts) */
    int64_t start_s;                   /* unix s at start */
    bool serving;                      /* every worker listens */
    bool stopping;                     /* a stop signal arrived */
} cg_metrics_sources;

/* The whole /metrics text into p->out. */
void cg_metrics_render(const cg_metrics_sources *src, cg_prom *p);

#endif
