/* CRL fetches: one cg_crl_fetcher per worker holds the transfers in flight
 * on that loop, libcurl's multi-socket API driven by the libuv loop (never
 * blocking it). HTTP(S) and LDAP answers are parsed and checked (issuer,
 * kind, signature) on the libuv thread pool, then join the store
 * (crl_store.h) and are persisted to cache_dir. Connections needing the same
 * CRL share one job, and fetchers of other workers wait for it rather than
 * starting their own. A timer refetches fetched CRLs before their
 * nextUpdate (revocation.refresh_before).
 */
#ifndef CG_CRL_FETCH_H
#define CG_CRL_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <uv.h>

#include "crl_store.h"

cg_crl_fetcher *cg_crl_fetcher_new(uv_loop_t *loop, cg_crl_store *s);
/* Cancels every fetch (their waiters are told, with a "cancelled" attempt)
 * and frees the fetcher once its handles are closed. Not from inside a
 * waiter's callback. */
void cg_crl_fetcher_close(cg_crl_fetcher *f);

/* ---- for the chain check (crl_check.c) ---- */

/* One fetch of an issuer's CRL or delta CRL, URL after URL. */
typedef struct crl_job crl_job;

/* Someone waiting for a job to end. */
typedef struct crl_waiter crl_waiter;
struct crl_waiter {
    crl_waiter *next;     /* in the job's list */
    crl_job *job;         /* the job waited for; NULL once it ended or cancelled */
    /* The job ended (delta: it fetched a delta CRL), with its attempts;
     * the new CRL, if any, is in the store. */
    void (*done)(crl_waiter *w, bool delta, const cg_crl_attempt *attempts, int nattempts);
};

/* The job for issuer's CRL (key: issuer id + 'B' full or 'D' delta) from
 * urls: an existing one, a new one this fetcher runs (*start set: call
 * crl_job_next() once the waiter is attached), or one that waits for the
 * worker already fetching it. dn, spki: the issuer's subject Name and public
 * key (DER). NULL when out of memory, or when !wait_for_others and another
 * worker fetches. */
crl_job *crl_job_start(cg_crl_fetcher *f, const unsigned char key[33], char *const *urls, size_t nurls,
                       const unsigned char *dn, size_t dn_len, const unsigned char *spki, size_t spki_len,
                       const char *issuer_name, bool wait_for_others, bool *start);
/* Starts the next URL of the job, or finishes it when none is left. */
void crl_job_next(crl_job *j);
/* The job of key on this fetcher, or NULL. */
crl_job *crl_job_find(cg_crl_fetcher *f, const unsigned char key[33]);
/* Attaches w (its done set) to j: done runs once when j ends. */
void crl_job_wait(crl_job *j, crl_waiter *w);
/* Detaches w from its job, if any: done will not run. */
void crl_waiter_cancel(crl_waiter *w);
bool crl_fetcher_closing(const cg_crl_fetcher *f);
cg_crl_store *crl_fetcher_store(const cg_crl_fetcher *f);

/* ---- other transfers on the same libcurl multi (ocsp_fetch.c) ---- */

/* Whoever owns an easy handle added to the fetcher's multi: its CURLOPT_PRIVATE points here.
 * done runs once the transfer ends (libcurl's verdict in rc), on the fetcher's loop; cancel
 * runs instead when the fetcher closes first (the owner removes and frees its handle). */
typedef struct crl_transfer_owner crl_transfer_owner;
struct crl_transfer_owner {
    void (*done)(crl_transfer_owner *o, CURLcode rc);
    void (*cancel)(crl_transfer_owner *o);
    /* Another worker published an outcome (crl_fetcher_share): true when o moved on (its state
     * changed: the tracked list may have too); NULL when o waits for no one. */
    bool (*woken)(crl_transfer_owner *o);
    crl_transfer_owner *next, *prev; /* the fetcher's list of tracked owners */
};
/* A transfer's answer so far (the write callback's buffer). */
typedef struct crl_body {
    unsigned char *p;
    size_t len, cap;
    bool too_big;      /* more than the limit came: the transfer was aborted */
} crl_body;
/* Appends n bytes (libcurl's write callback): n, or 0 to abort the transfer when the body would
 * pass max bytes (too_big set) or memory runs out. */
size_t crl_body_append(crl_body *b, const void *p, size_t n, uint64_t max);

/* Tracks o until it ends (crl_fetcher_untrack), so that closing the fetcher cancels it. */
void crl_fetcher_track(cg_crl_fetcher *f, crl_transfer_owner *o);
void crl_fetcher_untrack(cg_crl_fetcher *f, crl_transfer_owner *o);
CURLM *crl_fetcher_multi(const cg_crl_fetcher *f);
uv_loop_t *crl_fetcher_loop(const cg_crl_fetcher *f);
/* The current revocation settings (schemes, timeout, redirects), cache_dir NULL. */
void crl_fetcher_settings(const cg_crl_fetcher *f, crl_store_settings *out);

/* Transfers shared between workers the way CRL fetches are (the store's registry; key: 32 bytes
 * and a kind byte no CRL uses, 'O' for OCSP). claim: true when f is to do it, false when f now
 * waits for the worker doing it (the owner's woken runs on f's loop when it publishes; hold the
 * loop with crl_fetcher_wait_others meanwhile). publish: f's transfer of key ended (cancelled:
 * f stopped; a waiting worker may take over). shared: where a transfer waited for stands
 * (CRL_SHARED_*), *ok and the attempts filled when done and still recorded. */
bool crl_fetcher_claim(cg_crl_fetcher *f, const unsigned char key[33]);
void crl_fetcher_publish(cg_crl_fetcher *f, const unsigned char key[33], bool ok, bool cancelled,
                         const cg_crl_attempt attempts[CG_CRL_MAX_ATTEMPTS], int nattempts);
int crl_fetcher_shared(cg_crl_fetcher *f, const unsigned char key[33], bool *ok,
                       cg_crl_attempt attempts[CG_CRL_MAX_ATTEMPTS], int *nattempts);
/* While some owner waits for another worker (on), the fetcher's wake-up keeps the loop alive. */
void crl_fetcher_wait_others(cg_crl_fetcher *f, bool on);
/* Thread-pool work of another module whose end still uses f (crl_check.c's signature checks):
 * a closed fetcher is freed only once every such work released it. */
void crl_fetcher_hold(cg_crl_fetcher *f);
void crl_fetcher_release(cg_crl_fetcher *f);

/* ---- for tests ---- */

/* Why a transfer failed, in the words of a refusal detail. */
void crl_transfer_error(CURLcode code, long os_errno, const char *errbuf, long redirects_max,
                        uint32_t timeout_ms, uint64_t max_size, char *out, size_t cap);

#endif
