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
 *                   connections needing the same CRL share one fetch.
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

cg_crl_fetcher *cg_crl_fetcher_new(uv_loop_t *loop, cg_crl_store *s);
/* Cancels every fetch (their callbacks run with UNKNOWN) and frees the
 * fetcher once its handles are closed. */
void cg_crl_fetcher_close(cg_crl_fetcher *f);

/* why is filled for REVOKED and UNKNOWN: the certificate (subject, serial,
 * depth), and for UNKNOWN each URL tried and why it failed. */
typedef void (*cg_crl_cb)(void *ctx, cg_rev_status st, const cg_refusal *why);

/* Checks chain[0 .. n-2] (chain[0] the leaf, chain[n-1] the trust anchor, as
 * verified) under the listener's revocation settings and cfg's global ones.
 * When the answer is known at once (all CRLs cached and fresh, or mode off)
 * cb runs before this returns and the result is NULL; otherwise cb runs
 * later on the fetcher's loop, unless cancelled first. */
cg_crl_check *cg_crl_check_chain(cg_crl_fetcher *f, const cg_config *cfg, const cg_listener_cfg *l,
                                 const mbedtls_x509_crt *const *chain, int n, cg_crl_cb cb, void *ctx);
void cg_crl_check_cancel(cg_crl_check *c);

/* Bumped whenever a newer CRL replaces a cached one: connections compare it
 * at each request boundary and re-check (revoked ones are then closed). */
uint64_t cg_crl_store_generation(const cg_crl_store *s);

#endif
