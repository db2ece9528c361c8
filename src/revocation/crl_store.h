/* The process-wide CRL store: CRLs by issuer (from crl_files, cache_dir and
 * fetches), thread-safe, surviving configuration reloads. It also holds
 * what the workers' fetchers (crl_fetch.h) share: the revocation section's
 * settings, which fetch is in flight on which worker and how the last one of
 * each CRL ended, and which fetched CRLs are due for a background refresh.
 * One mutex guards it all; fetched CRLs are persisted to cache_dir
 * (crl_files.h).
 *
 * docs/revocation.md describes the behaviour, the cache and its files.
 */
#ifndef CG_CRL_STORE_H
#define CG_CRL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/x509_crt.h>
#include <uv.h>

#include "config/config.h"
#include "crl_parse.h"
#include "base/base.h"

typedef struct cg_crl_store cg_crl_store;
typedef struct cg_crl_fetcher cg_crl_fetcher; /* crl_fetch.h; here only a name for its fetches */

/* Loads the persisted cache and every listener's crl_files. Errors (an
 * unreadable crl_files entry, a file that is not a CRL) go to diag. */
cg_crl_store *cg_crl_store_new(const cg_config *cfg, cg_diag *diag);
/* Reload: re-reads crl_files and adopts the new global settings. */
bool cg_crl_store_configure(cg_crl_store *s, const cg_config *cfg, cg_diag *diag);
void cg_crl_store_free(cg_crl_store *s);
/* The process's verified OCSP answers (ocsp_cache.h), kept with the CRLs. */
struct cg_ocsp_cache *crl_store_ocsp_cache(cg_crl_store *s);
/* false: fetched CRLs are not written to cache_dir (certgate explain). */
void cg_crl_store_set_persist(cg_crl_store *s, bool on);

/* Bumped whenever a newer CRL replaces a cached one: connections compare it
 * at each request boundary and re-check (revoked ones are then closed). */
uint64_t cg_crl_store_generation(const cg_crl_store *s);

/* One fetch of a CRL from one URL (certgate explain, metrics). */
#define CG_CRL_MAX_ATTEMPTS 8

typedef struct cg_crl_attempt {
    char url[512];
    char result[300];     /* "ok", or why it failed (as in the refusal detail) */
    int status;           /* HTTP status, 0 when none (LDAP, no answer) */
    uint64_t bytes;       /* body bytes received */
    uint32_t ms;          /* duration of the transfer */
    bool ok;
} cg_crl_attempt;

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

/* ---- for the revocation modules (crl_fetch, crl_check), tests, bench ---- */

#define CRL_PER_ISSUER_MAX 8 /* CRLs kept per issuer name (keys, kinds, scopes) */

/* The revocation section's settings, as the fetches use them. */
typedef struct crl_store_settings {
    char *cache_dir;
    uint32_t fetch_timeout_ms;
    uint64_t max_crl_size;
    uint32_t max_redirects;
    bool allow_http, allow_https, allow_ldap;
    uint32_t refresh_before_s;
    uint32_t ocsp_timeout_ms;
    uint32_t ocsp_max_response;
    bool ocsp_nonce;
} crl_store_settings;

/* A copy of the current settings, cache_dir NULL (crl_store_cache_dir). */
void crl_store_settings_get(cg_crl_store *s, crl_store_settings *out);
/* Where fetched CRLs are written (malloc'd), NULL when nowhere. */
char *crl_store_cache_dir(cg_crl_store *s);
/* Where OCSP answers are persisted (<cache_dir>/ocsp, malloc'd; ocsp_files.h), NULL when nowhere;
 * *writable false when they are only read (certgate explain). */
char *crl_store_ocsp_dir(cg_crl_store *s, bool *writable);

/* Adds c (taking the reference); true when it joined the store (false: an
 * identical or newer CRL of the same issuer key is there, or no memory). */
bool crl_store_add(cg_crl_store *s, crl *c);
/* The newest CRL of issuer that verifies with its key, is in scope and
 * valid now (NULL: none; why says what was found). A reference. */
crl *crl_store_find_fresh(cg_crl_store *s, const mbedtls_x509_crt *issuer, bool delta, char *why, size_t why_cap);

typedef struct crl_cand {
    crl *c;    /* a reference */
    int memo;  /* signature with this issuer: 1 good, -1 bad */
} crl_cand;

#define CRL_STORE_MAX_CANDS (CRL_PER_ISSUER_MAX * 2)

/* The CRLs named after issuer (its subject DN), of one kind (delta or
 * full), each with what is known of its signature with the issuer's key, whose
 * id (crl_issuer_id) is id; with verify, an unknown one is checked now (one
 * public-key operation, on the caller's thread), else its memo stays 0.
 * out holds CRL_STORE_MAX_CANDS. Returns how many; the caller releases them
 * with crl_cands_free. */
int crl_store_candidates(cg_crl_store *s, const mbedtls_x509_crt *issuer, const unsigned char id[32], bool delta,
                         crl_cand *out, bool verify);
/* What a signature check of c with the issuer id taught (kept in c's memo). */
void crl_store_memo_learn(cg_crl_store *s, crl *c, const unsigned char id[32], bool good);
void crl_cands_free(crl_cand *v, int n);

/* c (in the store) is to be refetched now: not tried within the last
 * minute. Marks it tried. */
bool crl_store_refresh_due(cg_crl_store *s, crl *c, int64_t now);

/* A fetched CRL due for a background refresh: how to fetch its successor. */
typedef struct crl_refresh {
    unsigned char key[33];     /* issuer id + 'B' (full CRL) or 'D' (delta) */
    char **urls;
    size_t nurls;
    unsigned char *dn, *spki;  /* the issuer's subject Name and public key (DER) */
    size_t dn_len, spki_len;
    char name[256];
} crl_refresh;
/* Up to cap CRLs fetched by this process whose nextUpdate is within
 * refresh_before, that nobody fetches and that were not tried within the
 * last minute (now marked tried). The caller frees urls, dn and spki. */
int crl_store_due(cg_crl_store *s, int64_t now, crl_refresh *list, int cap);

/* Fetches shared between workers. key: issuer id + 'B' or 'D'. f names
 * the fetcher (never dereferenced); wake is its wake-up handle, sent
 * (uv_async_send) when a fetch it waits for ends. */

/* Registers f as the fetcher of key, or (when another worker already is)
 * as a subscriber to its result (when subscribe). Returns true when f is
 * to fetch. */
bool crl_store_claim(cg_crl_store *s, const unsigned char key[33], const cg_crl_fetcher *f, uv_async_t *wake,
                     bool subscribe);
/* f's fetch of key ended: its outcome is recorded for the subscribers (and
 * the issuer statistics, unless cancelled), and they are woken. */
void crl_store_publish(cg_crl_store *s, const unsigned char key[33], const cg_crl_fetcher *f, bool ok, bool cancelled,
                       const cg_crl_attempt attempts[CG_CRL_MAX_ATTEMPTS], int nattempts,
                       const char issuer_name[256]);

enum {
    CRL_SHARED_RUNNING, /* still in flight (or taken over by another worker: f subscribed) */
    CRL_SHARED_MINE,    /* its worker stopped: f claimed it and fetches it now */
    CRL_SHARED_DONE,    /* ended: *ok and the attempts copied (untouched when no outcome was kept) */
};
/* Where a fetch of key that f waited for stands. may_claim: f may take over
 * a fetch its worker cancelled. */
int crl_store_shared(cg_crl_store *s, const unsigned char key[33], const cg_crl_fetcher *f, uv_async_t *wake,
                     bool may_claim, bool *ok, cg_crl_attempt attempts[CG_CRL_MAX_ATTEMPTS], int *nattempts);
/* No more wake-ups to wake (its fetcher closes). */
void crl_store_unsubscribe(cg_crl_store *s, uv_async_t *wake);

#endif
