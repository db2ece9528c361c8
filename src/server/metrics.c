#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/build_info.h> /* the configuration: CERTGATE_PSA_DRIVER in the bundled mbedTLS */
#if defined(CERTGATE_PSA_DRIVER)
#include <certgate_psa_driver.h> /* its PSA driver (docs/platform.md) */
#endif

#include "revocation/revocation.h"
#include "kerberos/kerberos.h"
#include "base/base.h"
#include "net/net.h"

#ifndef CG_VERSION
#define CG_VERSION "unknown"
#endif

/* ---- route series: (listener, route path, backend) -> a number ---- */

/* Main thread only (bind at load and reload, read at scrape). Grows with
 * the routes that ever existed, which reloads change rarely; past the cap
 * new routes share series 0 ("other"). */
#define SERIES_MAX 4096u

typedef struct series {
    char *listener, *route, *backend;
} series;

static series *g_series; /* index 0 unused: "other" */
static uint32_t g_nseries = 1;
static size_t g_series_cap;

static uint32_t series_of(const char *listener, const char *route, const char *backend)
{
    for (uint32_t i = 1; i < g_nseries; i++)
        if (!strcmp(g_series[i].listener, listener) && !strcmp(g_series[i].route, route) &&
            !strcmp(g_series[i].backend, backend))
            return i;
    if (g_nseries >= SERIES_MAX)
        return 0;
    if (!cg_vec_reserve(g_series, g_series_cap, (size_t)g_nseries + 1, 64))
        return 0;
    series *s = &g_series[g_nseries];
    s->listener = strdup(listener);
    s->route = strdup(route);
    s->backend = strdup(backend);
    if (!s->listener || !s->route || !s->backend) {
        free(s->listener);
        free(s->route);
        free(s->backend);
        return 0;
    }
    return g_nseries++;
}

void cg_metrics_bind_routes(cg_config *cfg)
{
    for (size_t li = 0; li < cfg->nlisteners; li++) {
        cg_listener_cfg *l = &cfg->listeners[li];
        for (size_t ri = 0; ri < l->nroutes; ri++) {
            cg_route *r = &l->routes[ri];
            r->stats_series = series_of(l->name, r->path, cfg->backends[r->backend].name);
        }
    }
}

/* ---- collection ---- */

static uint64_t sum_workers(const cg_metrics_sources *src, size_t offset)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < src->nworkers; i++)
        n += cg_counter_get((const cg_counter *)((const char *)&src->workers[i].stats + offset));
    return n;
}
#define SUM(field) sum_workers(src, offsetof(cg_worker_stats, field))

static void render_process(const cg_metrics_sources *src, cg_prom *p)
{
    cg_prom_family(p, "certgate_build_info", "gauge", "certgate's version (the value is always 1).");
    cg_prom_sample(p, "certgate_build_info", (cg_prom_label[]){ { "version", CG_VERSION } }, 1, 1);
    cg_prom_family(p, "certgate_start_time_seconds", "gauge", "When certgate started, in seconds since the epoch.");
    cg_prom_sample(p, "certgate_start_time_seconds", NULL, 0, (double)src->start_s);
    cg_prom_family(p, "certgate_workers", "gauge", "Worker threads (event loops) serving connections.");
    cg_prom_sample(p, "certgate_workers", NULL, 0, src->nworkers);

    cg_prom_family(p, "certgate_reloads_total", "counter",
                   "Configuration reloads attempted (SIGHUP, certgate reload, a mapping file change).");
    cg_prom_sample(p, "certgate_reloads_total", NULL, 0, src->reloads);
    cg_prom_family(p, "certgate_reload_failures_total", "counter",
                   "Reloads refused: the configuration in force was kept.");
    cg_prom_sample(p, "certgate_reload_failures_total", NULL, 0, src->reload_failures);
    cg_prom_family(p, "certgate_last_reload_success_timestamp_seconds", "gauge",
                   "When the configuration in force was applied (start or reload), in seconds since the epoch.");
    cg_prom_sample(p, "certgate_last_reload_success_timestamp_seconds", NULL, 0, (double)src->last_reload_ok_s);
}

static void render_connections(const cg_metrics_sources *src, cg_prom *p)
{
    const cg_config *cfg = src->cfg;
    size_t nl = cfg->nlisteners < CG_STATS_LISTENERS ? cfg->nlisteners : CG_STATS_LISTENERS;
    cg_prom_family(p, "certgate_connections_open", "gauge", "Client connections open, by listener.");
    for (size_t li = 0; li < nl; li++) {
        uint64_t acc = 0, closed = 0;
        for (unsigned w = 0; w < src->nworkers; w++) {
            /* closed first: a connection is counted accepted before it closes */
            closed += cg_counter_get(&src->workers[w].stats.closed[li]);
            acc += cg_counter_get(&src->workers[w].stats.accepted[li]);
        }
        cg_prom_sample(p, "certgate_connections_open",
                       (cg_prom_label[]){ { "listener", cfg->listeners[li].name } }, 1,
                       acc > closed ? (double)(acc - closed) : 0);
    }
    cg_prom_family(p, "certgate_connections_accepted_total", "counter",
                   "Client connections accepted, by listener (those refused at once included).");
    for (size_t li = 0; li < nl; li++) {
        uint64_t acc = 0;
        for (unsigned w = 0; w < src->nworkers; w++)
            acc += cg_counter_get(&src->workers[w].stats.accepted[li]);
        cg_prom_sample(p, "certgate_connections_accepted_total",
                       (cg_prom_label[]){ { "listener", cfg->listeners[li].name } }, 1, (double)acc);
    }
    cg_prom_family(p, "certgate_connections_refused_total", "counter",
                   "Client connections refused by a limit: limits.max_connections (reason=limits) or the "
                   "per-address limits (reason=admission).");
    cg_prom_sample(p, "certgate_connections_refused_total", (cg_prom_label[]){ { "reason", "limits" } }, 1,
                   (double)SUM(refused_limits));
    cg_prom_sample(p, "certgate_connections_refused_total", (cg_prom_label[]){ { "reason", "admission" } }, 1,
                   (double)SUM(refused_admission));

    cg_prom_family(p, "certgate_tls_handshakes_total", "counter",
                   "TLS handshakes: completed in full (result=full), resumed from a session (result=resumed), "
                   "failed or timed out (result=failed).");
    cg_prom_sample(p, "certgate_tls_handshakes_total", (cg_prom_label[]){ { "result", "full" } }, 1,
                   (double)SUM(handshakes_full));
    cg_prom_sample(p, "certgate_tls_handshakes_total", (cg_prom_label[]){ { "result", "resumed" } }, 1,
                   (double)SUM(handshakes_resumed));
    cg_prom_sample(p, "certgate_tls_handshakes_total", (cg_prom_label[]){ { "result", "failed" } }, 1,
                   (double)SUM(handshakes_failed));
    uint64_t counts[CG_HIST_BUCKETS + 1];
    for (int i = 0; i <= CG_HIST_BUCKETS; i++)
        counts[i] = SUM(handshake.bucket[i]);
    cg_prom_family(p, "certgate_tls_handshake_duration_seconds", "histogram",
                   "From accepting a connection to its completed TLS handshake (full and resumed).");
    cg_prom_histogram(p, "certgate_tls_handshake_duration_seconds", NULL, 0, cg_hist_bounds, CG_HIST_BUCKETS,
                      counts, (double)SUM(handshake.sum_ns) / 1e9);
}

/* Workers' request tables merged by key. */
typedef struct req_row {
    uint32_t key;
    uint64_t n;
} req_row;

static int row_cmp(const void *a, const void *b)
{
    uint32_t x = ((const req_row *)a)->key, y = ((const req_row *)b)->key;
    return x < y ? -1 : x > y;
}

static void render_requests(const cg_metrics_sources *src, cg_prom *p)
{
    size_t cap = (size_t)CG_STATS_REQ_MAX * src->nworkers, n = 0;
    req_row *rows = malloc((cap ? cap : 1) * sizeof *rows);
    if (!rows) {
        p->oom = true;
        return;
    }
    for (unsigned w = 0; w < src->nworkers; w++) {
        const cg_worker_stats *st = &src->workers[w].stats;
        for (uint32_t i = 0; i < CG_STATS_REQ_SLOTS && n < cap; i++) {
            uint32_t key = atomic_load_explicit(&((cg_stats_req_slot *)&st->req[i])->key, memory_order_acquire);
            if (key)
                rows[n++] = (req_row){ key, cg_counter_get(&st->req[i].n) };
        }
    }
    qsort(rows, n, sizeof *rows, row_cmp);
    cg_prom_family(p, "certgate_requests_total", "counter",
                   "Requests finished, by listener, route (its path prefix; - when none matched), backend, HTTP "
                   "status, IIS sub-status (0: none) and refusal code (ok: certgate refused nothing; the status "
                   "is then the backend's, or 499 when the client went away).");
    const cg_config *cfg = src->cfg;
    for (size_t i = 0; i < n;) {
        uint64_t total = 0;
        size_t j = i;
        for (; j < n && rows[j].key == rows[i].key; j++)
            total += rows[j].n;
        uint32_t ser;
        int status;
        cg_refusal_kind kind;
        cg_stats_req_decode(rows[i].key, &ser, &status, &kind);
        const char *listener = "other", *route = "other", *backend = "other";
        if (ser & CG_STATS_NO_ROUTE) {
            uint32_t li = ser & ~CG_STATS_NO_ROUTE;
            listener = li < cfg->nlisteners ? cfg->listeners[li].name : "other";
            route = backend = "-";
        } else if (ser > 0 && ser < g_nseries) {
            listener = g_series[ser].listener;
            route = g_series[ser].route;
            backend = g_series[ser].backend;
        }
        char st[8], sub[8];
        snprintf(st, sizeof st, "%d", status);
        snprintf(sub, sizeof sub, "%d", kind < CG_REFUSE_KIND_COUNT ? cg_refusal_substatus(kind) : 0);
        const char *code = kind < CG_REFUSE_KIND_COUNT ? cg_refusal_code(kind) : "other";
        cg_prom_label l[] = { { "listener", listener }, { "route", route }, { "backend", backend },
                              { "status", st }, { "substatus", sub }, { "code", code } };
        cg_prom_sample(p, "certgate_requests_total", l, 6, (double)total);
        i = j;
    }
    free(rows);
    cg_prom_family(p, "certgate_requests_unlabelled_total", "counter",
                   "Requests counted without labels: a worker's table of label sets was full.");
    cg_prom_sample(p, "certgate_requests_unlabelled_total", NULL, 0, (double)SUM(requests_unlabelled));
}

static void render_backends(const cg_metrics_sources *src, cg_prom *p)
{
    const cg_config *cfg = src->cfg;
    cg_prom_family(p, "certgate_backend_idle_connections", "gauge",
                   "Idle keep-alive connections pooled for a backend, all workers together.");
    for (size_t b = 0; b < cfg->nbackends && b < CG_STATS_BACKENDS; b++) {
        uint64_t n = 0;
        for (unsigned w = 0; w < src->nworkers; w++)
            n += atomic_load_explicit(&src->workers[w].stats.pool_idle[b], memory_order_relaxed);
        cg_prom_sample(p, "certgate_backend_idle_connections",
                       (cg_prom_label[]){ { "backend", cfg->backends[b].name } }, 1, (double)n);
    }
}

#define ISSUERS_MAX 256

static void render_crl(const cg_metrics_sources *src, cg_prom *p)
{
    cg_crl_issuer_stats *is = calloc(ISSUERS_MAX, sizeof *is);
    if (!is) {
        p->oom = true;
        return;
    }
    size_t n = src->services->crl ? cg_crl_store_issuers(src->services->crl, is, ISSUERS_MAX) : 0;
    int64_t now = (int64_t)time(NULL);
    cg_prom_family(p, "certgate_crl_fetches_total", "counter",
                   "CRL fetches finished (full and delta CRLs), by CRL issuer (RFC 4514).");
    for (size_t i = 0; i < n; i++)
        cg_prom_sample(p, "certgate_crl_fetches_total", (cg_prom_label[]){ { "issuer", is[i].issuer } }, 1,
                       (double)is[i].fetches);
    cg_prom_family(p, "certgate_crl_fetch_failures_total", "counter",
                   "CRL fetches that got no usable CRL (every URL failed, or only an expired CRL), by issuer.");
    for (size_t i = 0; i < n; i++)
        cg_prom_sample(p, "certgate_crl_fetch_failures_total", (cg_prom_label[]){ { "issuer", is[i].issuer } }, 1,
                       (double)is[i].fetch_failures);
    cg_prom_family(p, "certgate_crl_next_update_seconds", "gauge",
                   "Seconds until the nextUpdate of the latest CRL held for an issuer (negative: past it); "
                   "issuers whose CRL has no nextUpdate are not listed.");
    for (size_t i = 0; i < n; i++)
        if (is[i].held && is[i].next_update)
            cg_prom_sample(p, "certgate_crl_next_update_seconds", (cg_prom_label[]){ { "issuer", is[i].issuer } },
                           1, (double)(is[i].next_update - now));
    free(is);
}

static void render_kerberos(const cg_metrics_sources *src, cg_prom *p)
{
    cg_kerberos *k = src->services->kerberos;
    if (!k)
        return;
    cg_kerberos_stats ks;
    cg_kerberos_read_stats(k, &ks);
    cg_prom_family(p, "certgate_kerberos_s4u_exchanges_total", "counter",
                   "S4U2Self + S4U2Proxy exchanges with the KDC finished (successful or not).");
    cg_prom_sample(p, "certgate_kerberos_s4u_exchanges_total", NULL, 0,
                   (double)(ks.exchanges_ok + ks.exchanges_failed));
    cg_prom_family(p, "certgate_kerberos_s4u_failures_total", "counter", "S4U exchanges that got no ticket.");
    cg_prom_sample(p, "certgate_kerberos_s4u_failures_total", NULL, 0, (double)ks.exchanges_failed);
    cg_prom_family(p, "certgate_kerberos_s4u_duration_seconds", "histogram",
                   "Duration of S4U exchanges (proxy TGT when needed, S4U2Self, S4U2Proxy).");
    cg_prom_histogram(p, "certgate_kerberos_s4u_duration_seconds", NULL, 0, cg_hist_bounds, CG_HIST_BUCKETS,
                      ks.latency_buckets, (double)ks.latency_sum_ns / 1e9);
    cg_prom_family(p, "certgate_kerberos_ticket_cache_entries", "gauge", "(user, SPN) entries in the ticket cache.");
    cg_prom_sample(p, "certgate_kerberos_ticket_cache_entries", NULL, 0, (double)ks.cache_entries);
    cg_prom_family(p, "certgate_kerberos_ticket_cache_hits_total", "counter",
                   "Kerberos tokens made from a cached ticket.");
    cg_prom_sample(p, "certgate_kerberos_ticket_cache_hits_total", NULL, 0, (double)ks.cache_hits);
    cg_prom_family(p, "certgate_kerberos_ticket_cache_misses_total", "counter",
                   "Kerberos token requests without a usable cached ticket (an exchange, or a cached failure).");
    cg_prom_sample(p, "certgate_kerberos_ticket_cache_misses_total", NULL, 0, (double)ks.cache_misses);
    cg_prom_family(p, "certgate_kerberos_last_success_timestamp_seconds", "gauge",
                   "When a KDC exchange (proxy TGT or S4U) last succeeded, in seconds since the epoch (0: never).");
    cg_prom_sample(p, "certgate_kerberos_last_success_timestamp_seconds", NULL, 0, (double)ks.kdc_ok_s);
    cg_prom_family(p, "certgate_kerberos_proxy_tgt_expiry_timestamp_seconds", "gauge",
                   "When the proxy's own TGT expires, in seconds since the epoch (0: none yet).");
    cg_prom_sample(p, "certgate_kerberos_proxy_tgt_expiry_timestamp_seconds", NULL, 0, (double)ks.tgt_end_s);
}

/* The verified-signature cache of certgate's PSA driver: process-wide,
 * below mbedTLS (only with the bundled mbedTLS; a system one has no driver). */
static void render_signatures(cg_prom *p)
{
#if defined(CERTGATE_PSA_DRIVER)
    cg_sig_cache_stats st;
    cg_sig_cache_stats_get(&st);
    cg_prom_family(p, "certgate_signature_cache_hits_total", "counter",
                   "Signature verifications answered by the verified-signature cache (a signature verified before).");
    cg_prom_sample(p, "certgate_signature_cache_hits_total", NULL, 0, (double)st.hits);
    cg_prom_family(p, "certgate_signature_cache_misses_total", "counter",
                   "Signature verifications done by mbedTLS (then remembered when they succeeded).");
    cg_prom_sample(p, "certgate_signature_cache_misses_total", NULL, 0, (double)st.misses);
    cg_prom_family(p, "certgate_signature_cache_evictions_total", "counter",
                   "Remembered signatures replaced by newer ones (the cache holds a fixed number).");
    cg_prom_sample(p, "certgate_signature_cache_evictions_total", NULL, 0, (double)st.evictions);
    cg_prom_family(p, "certgate_signature_cache_entries", "gauge", "Signatures the cache remembers now.");
    cg_prom_sample(p, "certgate_signature_cache_entries", NULL, 0, (double)st.entries);
#else
    (void)p;
#endif
}

void cg_metrics_render(const cg_metrics_sources *src, cg_prom *p)
{
    render_process(src, p);
    render_connections(src, p);
    render_requests(src, p);
    render_backends(src, p);
    render_crl(src, p);
    render_kerberos(src, p);
    render_signatures(p);
}
