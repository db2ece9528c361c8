/* The Kerberos module's readiness and metrics (delegation.h): its counters
 * read for /metrics, and the KDC probe behind /readyz (an AS exchange for
 * the proxy's own TGT, no user involved).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "delegation_internal.h"

void cg_deleg_stats(cg_kerberos *k, unsigned *exchanges, unsigned *inflight, size_t *entries)
{
    pthread_mutex_lock(&k->mu);
    *exchanges = atomic_load(&k->exchanges);
    *inflight = atomic_load(&k->inflight);
    *entries = k->nentries;
    pthread_mutex_unlock(&k->mu);
}

void cg_kerberos_read_stats(cg_kerberos *k, cg_kerberos_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&k->mu);
    out->cache_entries = k->nentries;
    pthread_mutex_unlock(&k->mu);
    out->exchanges_ok = cg_counter_get(&k->s4u_ok);
    out->exchanges_failed = cg_counter_get(&k->s4u_failed);
    out->cache_hits = cg_counter_get(&k->cache_hits);
    out->cache_misses = cg_counter_get(&k->cache_misses);
    for (int i = 0; i <= CG_HIST_BUCKETS; i++)
        out->latency_buckets[i] = cg_counter_get(&k->s4u_latency.bucket[i]);
    out->latency_sum_ns = cg_counter_get(&k->s4u_latency.sum_ns);
    out->kdc_ok_s = atomic_load(&k->kdc_ok_s);
    out->tgt_end_s = atomic_load(&k->tgt_end_s);
    out->probing = atomic_load(&k->probing);
    pthread_mutex_lock(&k->stats_mu);
    snprintf(out->probe_error, sizeof out->probe_error, "%s", k->probe_error);
    pthread_mutex_unlock(&k->stats_mu);
}

typedef struct probe_work {
    uv_work_t w;
    cg_kerberos *k;
} probe_work;

/* A forced AS exchange: the KDC is reached even while the TGT is valid. */
static void probe_run(uv_work_t *w)
{
    cg_kerberos *k = ((probe_work *)w)->k;
    krb5_context ctx;
    cg_refusal why = { 0 };
    cg_kdc_realms *realms = cg_deleg_realms(k);
    krb5_error_code rc = cg_kdc_realms_context(realms, &ctx);
    cg_kdc_realms_unref(realms);
    if (rc != 0) {
        pthread_mutex_lock(&k->stats_mu);
        snprintf(k->probe_error, sizeof k->probe_error, "cannot initialise Kerberos (krb5_init_context)");
        pthread_mutex_unlock(&k->stats_mu);
        return;
    }
    cg_proxy *p = cg_deleg_proxy_get(k, ctx, &why, true);
    /* cg_deleg_proxy_get hands back the old TGT when the exchange fails: success is
     * a new kdc_ok_s, told by the error it leaves */
    pthread_mutex_lock(&k->stats_mu);
    snprintf(k->probe_error, sizeof k->probe_error, "%s", why.detail);
    pthread_mutex_unlock(&k->stats_mu);
    if (p)
        cg_deleg_proxy_put(k, p);
    krb5_free_context(ctx);
}

static void probe_done(uv_work_t *w, int status)
{
    (void)status;
    probe_work *pw = (probe_work *)w;
    atomic_store(&pw->k->probing, false);
    free(pw);
}

void cg_kerberos_probe(cg_kerberos *k, uv_loop_t *loop)
{
    if (atomic_exchange(&k->probing, true))
        return;
    probe_work *pw = calloc(1, sizeof *pw);
    if (pw) {
        pw->k = k;
        if (uv_queue_work(loop, &pw->w, probe_run, probe_done) == 0)
            return;
        free(pw);
    }
    atomic_store(&k->probing, false);
}
