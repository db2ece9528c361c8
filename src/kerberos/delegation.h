/* Kerberos constrained delegation: for a mapped user and a backend SPN,
 * S4U2Self + S4U2Proxy with the proxy's own keytab (MIT krb5 GSSAPI), and a
 * fresh SPNEGO token per request (backends keep replay caches).
 *
 * Impersonated credentials are cached per (user, SPN) until shortly before
 * they expire; concurrent first requests of one user share one KDC exchange.
 * Every GSSAPI call that can reach the KDC runs on the libuv thread pool.
 */
#ifndef CG_DELEGATION_H
#define CG_DELEGATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config/config.h"
#include "base/base.h"

typedef struct cg_kerberos cg_kerberos;      /* process-wide, thread-safe */
typedef struct cg_deleg_req cg_deleg_req;

/* Checks the keytab is readable (never logs its contents). */
cg_kerberos *cg_kerberos_new(const cg_kerberos_cfg *cfg, cg_diag *diag);
void cg_kerberos_free(cg_kerberos *k);

/* The realms served (kerberos.realm, kerberos.realms and their KDCs, read
 * from cfg and the krb5.conf in force): at start and at each reload, on the
 * main thread, never per request. Exchanges already started keep the realms
 * they started with. false (k unchanged) with a diagnostic when the krb5
 * configuration cannot be read. */
bool cg_kerberos_set_realms(cg_kerberos *k, const cg_kerberos_cfg *cfg, cg_diag *diag);

/* token_b64 is the base64 SPNEGO token for "Authorization: Negotiate", valid
 * only during the callback; on failure it is NULL and why says what to fix:
 * 503 KDC unreachable, 403 principal not found in realm, 502 not allowed to
 * delegate to the SPN, 502 S4U2Self ticket not forwardable. */
typedef void (*cg_deleg_cb)(void *ctx, const char *token_b64, const cg_refusal *why);

/* cb runs on loop's thread; before this returns when the answer is known
 * at once (then the result is NULL). */
cg_deleg_req *cg_delegation_token(cg_kerberos *k, uv_loop_t *loop, const char *principal, const char *spn,
                                  cg_deleg_cb cb, void *ctx);
void cg_delegation_cancel(cg_deleg_req *r);

/* Drops cached credentials of one user (NULL: all). */
void cg_delegation_flush(cg_kerberos *k, const char *principal);

/* ---- for metrics and readiness (metrics.c, admin.c) ---- */

typedef struct cg_kerberos_stats {
    uint64_t exchanges_ok, exchanges_failed;   /* S4U2Self + S4U2Proxy exchanges finished */
    uint64_t cache_hits, cache_misses;         /* token requests answered from a cached ticket, or not */
    size_t cache_entries;                      /* (user, SPN) entries held */
    uint64_t latency_buckets[CG_HIST_BUCKETS + 1]; /* exchange durations (stats.h bounds, not cumulative) */
    uint64_t latency_sum_ns;
    int64_t kdc_ok_s;                          /* unix s of the last KDC exchange that succeeded, 0: none */
    int64_t tgt_end_s;                         /* the proxy TGT's end, 0: none yet */
    bool probing;                              /* a probe is in flight */
    char probe_error[768];                     /* why the last probe failed ("" when it did not); no user names */
} cg_kerberos_stats;

void cg_kerberos_read_stats(cg_kerberos *k, cg_kerberos_stats *out);

/* Proves the KDC answers: an AS exchange for the proxy's own TGT on loop's
 * thread pool (no user involved), unless one is in flight. Its result
 * shows in cg_kerberos_stats (kdc_ok_s, probe_error). */
void cg_kerberos_probe(cg_kerberos *k, uv_loop_t *loop);

/* For tests and benchmarks: KDC exchanges started so far, in flight now,
 * cache entries. */
void cg_deleg_stats(cg_kerberos *k, unsigned *exchanges, unsigned *inflight, size_t *entries);

/* ---- cache timing (exposed for its unit test) ---- */

/* In unix seconds. A ticket valid [start, end) is refreshed in the
 * background from refresh_at() on (refresh_before before the end, but never
 * earlier than half its lifetime) and no longer used from
 * end - CG_DELEG_HARD_MARGIN_S on (the backend's clock may be a little ahead). */
#define CG_DELEG_HARD_MARGIN_S 30
int64_t cg_deleg_refresh_at(int64_t start, int64_t end, uint32_t refresh_before_s);
bool cg_deleg_usable(int64_t now, int64_t end);

#endif
