/* OCSP queries: the status of one certificate asked of its responders (a configured override,
 * else the certificate's AIA id-ad-ocsp URLs), URL after URL, by HTTP GET when the request's URL
 * fits in 255 bytes, else POST (RFC 6960 A.1, RFC 5019 2.1.1), through
 * the CRL fetcher's libcurl multi on the worker's loop (crl_fetch.h: one transfer machinery for
 * both), never blocking it. Answers are parsed and verified (ocsp_msg.h, ocsp_verify.h) on the
 * libuv thread pool, the loop only gets the verdict; believed ones are kept in the process-wide
 * cache (ocsp_cache.h) until their nextUpdate and persisted under revocation.cache_dir
 * (ocsp_files.h, written on the thread pool). Before asking a responder, a query reads the
 * persisted answer of its certificate (on the thread pool) and verifies it again like a fresh one.
 *
 * Single flight: checks of the same certificate on one worker share one query, and queries of
 * other workers wait for it (the store's registry of shared transfers, as CRL fetches do: the
 * worker asking publishes its outcome, the others are woken on their own loops and read the
 * cache). A worker that stops hands its queries over to those waiting.
 */
#ifndef CG_OCSP_FETCH_H
#define CG_OCSP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/x509_crt.h>

#include "crl_fetch.h"
#include "ocsp_cache.h"
#include "ocsp_msg.h"

#define CG_OCSP_MAX_URLS 4

typedef struct cg_ocsp_settings {
    const char *responder;       /* override: this URL instead of the AIA's; NULL: the AIA */
    uint32_t timeout_ms;         /* for the whole query, all URLs */
    size_t max_response;         /* bytes */
    bool nonce;                  /* send a nonce; then an answer with another nonce is refused */
    bool allow_sha1;             /* SHA-1 signed answers */
    int64_t max_age_s;           /* answers without nextUpdate: kept and accepted this long */
} cg_ocsp_settings;

/* What a query learned. */
typedef struct cg_ocsp_answer {
    bool ok;                     /* entry holds a verified answer */
    bool from_cache;
    cg_ocsp_entry entry;
    /* !ok: why, URL by URL ("http://ocsp.example/: connection refused; ..."), or why no query was
     * possible ("the certificate names no OCSP responder ...") */
    char error[600];
} cg_ocsp_answer;

typedef struct cg_ocsp_client cg_ocsp_client;
typedef struct ocsp_query ocsp_query;

/* Someone waiting for a query. */
typedef struct cg_ocsp_waiter cg_ocsp_waiter;
struct cg_ocsp_waiter {
    cg_ocsp_waiter *next;
    ocsp_query *q;               /* NULL once told or cancelled */
    void (*done)(cg_ocsp_waiter *w, const cg_ocsp_answer *a);
};

/* One per worker, on its CRL fetcher and the process's cache. */
cg_ocsp_client *cg_ocsp_client_new(cg_crl_fetcher *f, cg_ocsp_cache *cache);
/* Ends every query (their waiters are told: "cancelled") and frees the client. At a stop, call it
 * right after cg_crl_fetcher_close (same loop turn): closing the fetcher ends the queries, and
 * checks whose CRL jobs it cancels may still ask this client (answered "cancelled" at once). */
void cg_ocsp_client_free(cg_ocsp_client *c);

/* The status of cert (issued by issuer). True when it is known now: *a filled from the cache, or
 * with the reason no query can be made (!a->ok). False when w waits for a query (w->done runs
 * once, on the loop, unless cancelled). */
bool cg_ocsp_check(cg_ocsp_client *c, const mbedtls_x509_crt *cert, const mbedtls_x509_crt *issuer,
                   const cg_ocsp_settings *set, cg_ocsp_waiter *w, cg_ocsp_answer *a);
/* Detaches w: done will not run. */
void cg_ocsp_waiter_cancel(cg_ocsp_waiter *w);
/* Queries in flight on this client, those waiting for another worker's included (tests). */
size_t cg_ocsp_client_queries(const cg_ocsp_client *c);

#endif
