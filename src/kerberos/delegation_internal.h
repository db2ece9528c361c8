/* What delegation.c shares with delegation_stats.c (the counters and the
 * KDC probe): the module's state. Private to the delegation module.
 */
#ifndef CG_DELEGATION_INTERNAL_H
#define CG_DELEGATION_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <krb5.h>

#include "delegation.h"
#include "kdc_realms.h"
#include "kdc_state.h"
#include "base/base.h"

typedef struct cg_proxy {     /* the proxy's TGT in its memory ccache */
    unsigned refs;            /* under k->proxy_mu */
    char ccname[96];
    int64_t end;
} cg_proxy;

typedef struct cg_entry cg_entry;

#define NBUCKETS 4096u

struct cg_kerberos {
    char *keytab, *principal, *realm;
    uint32_t kdc_timeout_ms, refresh_before_s, negative_cache_ms;

    pthread_mutex_t mu;       /* entries, waiters, negative cache */
    cg_entry *buckets[NBUCKETS];
    size_t nentries;
    cg_kdc_state *state;      /* realms down, canonical names (its own lock) */
    atomic_uint inflight;     /* queued exchanges */
    atomic_uint exchanges;    /* started since cg_kerberos_new (stats) */

    /* For metrics and readiness (cg_kerberos_stats); several writers. */
    cg_counter s4u_ok, s4u_failed, cache_hits, cache_misses;
    cg_histogram s4u_latency;
    _Atomic int64_t kdc_ok_s;   /* unix s of the last KDC exchange that succeeded (AS or S4U) */
    _Atomic int64_t tgt_end_s;  /* the proxy TGT's end, 0: none yet */
    atomic_bool probing;        /* cg_kerberos_probe's AS exchange is in flight */
    atomic_int model;           /* cg_deleg_model of the last S4U2Proxy granted */
    pthread_mutex_t stats_mu;   /* probe_error only: proxy_mu is held across AS exchanges */
    char probe_error[768];      /* why the last probe failed (names no user) */

    pthread_mutex_t proxy_mu; /* the proxy TGT; held across its AS exchange */
    cg_proxy *proxy;

    pthread_mutex_t kctx_mu;  /* a context for destroying memory ccaches */
    krb5_context kctx;

    pthread_mutex_t realms_mu; /* the realms served, replaced whole at reload */
    cg_kdc_realms *realms;
};

/* The proxy TGT, renewed refresh_before its end (force: now). On the pool
 * (it may do an AS exchange). Returns a reference, or NULL with why. */
cg_proxy *cg_deleg_proxy_get(cg_kerberos *k, krb5_context ctx, cg_refusal *why, bool force);
void cg_deleg_proxy_put(cg_kerberos *k, cg_proxy *p);

/* The realms served now (a reference: cg_kdc_realms_unref). */
cg_kdc_realms *cg_deleg_realms(cg_kerberos *k);

#endif
