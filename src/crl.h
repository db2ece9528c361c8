/* Revocation: a CRL for every certificate of a verified client chain except
 * the trust anchor, from the cache when fresh, otherwise fetched from the
 * certificate's CRL Distribution Points with libcurl's multi-socket API
 * driven by the worker's libuv loop. Never blocks a loop: fetches are
 * non-blocking transfers, parsing a large CRL runs on the libuv thread pool,
 * cache files are written off the loop.
 *
 *   cg_crl_store    process-wide: CRLs by issuer, persisted to cache_dir,
 *                   thread-safe, survives configuration reloads.
 *   cg_crl_fetcher  per worker: the transfers in flight on that loop;
 *                   connections needing the same CRL share one fetch (and
 *                   fetchers of other workers wait for it rather than
 *                   starting their own).
 *
 * docs/revocation.md describes the behaviour, the cache and its files.
 */
#ifndef CG_CRL_H
#define CG_CRL_H

#include <stdbool.h>
#include <stdint.h>

#include <mbedtls/x509_crt.h>
#include <uv.h>

#include "config.h"
#include "error.h"

typedef struct cg_crl_store cg_crl_store;
typedef struct cg_crl_fetcher cg_crl_fetcher;
typedef struct cg_crl_check cg_crl_check;

typedef enum {
    CG_REV_GOOD,     /* every certificate has a valid CRL and is not on it */
    CG_REV_REVOKED,  /* 403.13 "client certificate revoked" */
    CG_REV_UNKNOWN,  /* 403.13 "revocation status unknown" (fail closed) */
} cg_rev_status;

/* Loads the persisted cache and every listener's crl_files. Errors (an
 * unreadable crl_files entry, a file that is not a CRL) go to diag. */
cg_crl_store *cg_crl_store_new(const cg_config *cfg, cg_diag *diag);
/* Reload: re-reads crl_files and adopts the new global settings. */
bool cg_crl_store_configure(cg_crl_store *s, const cg_config *cfg, cg_diag *diag);
void cg_crl_store_free(cg_crl_store *s);
/* false: fetched CRLs are not written to cache_dir (certgate explain). */
void cg_crl_store_set_persist(cg_crl_store *s, bool on);

cg_crl_fetcher *cg_crl_fetcher_new(uv_loop_t *loop, cg_crl_store *s);
/* Cancels every fetch (their callbacks run with UNKNOWN) and frees the
 * fetcher once its handles are closed. Not from inside a cg_crl_cb. */
void cg_crl_fetcher_close(cg_crl_fetcher *f);

/* why is filled for REVOKED and UNKNOWN: the certificate (subject, serial,
 * depth), and for UNKNOWN each URL tried and why it failed. */
typedef void (*cg_crl_cb)(void *ctx, cg_rev_status st, const cg_refusal *why);

/* Checks chain[0 .. n-2] (chain[0] the leaf, chain[n-1] the trust anchor, as
 * verified) under the listener's revocation settings and cfg's global ones.
 * n == 1 with a leaf that is not itself a trust anchor means a resumed TLS
 * session (which keeps only the leaf): the chain is then the one remembered
 * from the full handshake by the listener's verify policy (verify.h,
 * cg_verify_chain), and UNKNOWN when there is none. The certificates must
 * stay valid until cb runs or the check is cancelled.
 * When the answer is known at once (all CRLs cached and fresh, or mode off)
 * cb runs before this returns and the result is NULL; otherwise cb runs
 * later on the fetcher's loop, unless cancelled first. */
cg_crl_check *cg_crl_check_chain(cg_crl_fetcher *f, const cg_config *cfg, const cg_listener_cfg *l,
                                 const mbedtls_x509_crt *const *chain, int n, cg_crl_cb cb, void *ctx);
void cg_crl_check_cancel(cg_crl_check *c);

/* Bumped whenever a newer CRL replaces a cached one: connections compare it
 * at each request boundary and re-check (revoked ones are then closed). */
uint64_t cg_crl_store_generation(const cg_crl_store *s);

/* ---- details, for `certgate explain` ---- */

#define CG_CRL_MAX_ATTEMPTS 8
#define CG_CRL_MAX_CHAIN 12

typedef struct cg_crl_attempt {
    char url[512];
    char result[300];     /* "ok", or why it failed (as in the refusal detail) */
    int status;           /* HTTP status, 0 when none (LDAP, no answer) */
    uint64_t bytes;       /* body bytes received */
    uint32_t ms;          /* duration of the transfer */
    bool ok;
} cg_crl_attempt;

typedef struct cg_crl_info {  /* one CRL, as used for a certificate */
    bool present;
    char issuer[256];
    char source[600];         /* URL, crl_files path or cache file */
    char this_update[32];
    char next_update[32];     /* "" when the CRL has none */
    char number[72];          /* CRL number in hex, "" when absent */
    char signature[40];       /* "ECDSA with SHA-256" */
    size_t entries;
    bool stale;               /* used past nextUpdate, within stale_grace */
} cg_crl_info;

typedef struct cg_crl_report_cert {
    int depth;
    cg_rev_status status;
    char summary[768];        /* one sentence: not revoked / revoked on ... / why unknown */
    cg_crl_info base, delta;
    cg_crl_attempt attempts[CG_CRL_MAX_ATTEMPTS]; /* fetches made for it (full CRL, then delta) */
    int nattempts;
} cg_crl_report_cert;

typedef struct cg_crl_report {
    int n;                    /* certificates checked (the chain minus its anchor) */
    cg_crl_report_cert certs[CG_CRL_MAX_CHAIN];
} cg_crl_report;

/* cg_crl_check_chain that also fills report (zeroed first; it must stay
 * valid until cb runs). */
cg_crl_check *cg_crl_check_chain_report(cg_crl_fetcher *f, const cg_config *cfg, const cg_listener_cfg *l,
                                        const mbedtls_x509_crt *const *chain, int n, cg_crl_cb cb, void *ctx,
                                        cg_crl_report *report);

/* The URIs of a certificate's CRL Distribution Points (freshest false) or of
 * its Freshest CRL extension (true), in order. Returns how many were written
 * to out (at most cap, each malloc'd: the caller frees them). */
size_t cg_crl_cert_urls(const mbedtls_x509_crt *c, bool freshest, char **out, size_t cap);

/* What metrics and readiness (metrics.c, admin.c) read, per CRL issuer
 * the store knows: CRLs held or fetches made. */
typedef struct cg_crl_issuer_stats {
    char issuer[256];          /* RFC 4514 (dn.h), as in the log lines */
    uint64_t fetches;          /* fetches finished, full and delta CRLs */
    uint64_t fetch_failures;   /* of them, without a usable CRL */
    bool fetched;              /* a fetch of its full CRL finished ... */
    bool last_fetch_ok;        /* ... and the last one got a fresh CRL */
    char last_error[840];      /* the last failed attempt: "URL: why" */
    bool held;                 /* a full CRL of it is in the store */
    int64_t next_update;       /* the latest nextUpdate among them (unix s); 0: one has none */
} cg_crl_issuer_stats;
/* Fills out (at most cap issuers, no particular order); returns how many. */
size_t cg_crl_store_issuers(cg_crl_store *s, cg_crl_issuer_stats *out, size_t cap);

/* CRLs held: total, of them from crl_files and from cache_dir. */
void cg_crl_store_stats(cg_crl_store *s, size_t *total, size_t *from_files, size_t *from_cache_dir);

#endif
