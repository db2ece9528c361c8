/* Verified OCSP answers, process-wide, in memory, each kept until its nextUpdate (or
 * thisUpdate + the answer's max age when it has none): the workers' OCSP queries
 * (ocsp_fetch.c) write them, every handshake of the same certificate reads them. Thread-safe
 * (one mutex, held for a lookup or an insertion only); bounded in entries.
 */
#ifndef CG_OCSP_CACHE_H
#define CG_OCSP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocsp_msg.h"

typedef struct cg_ocsp_cache cg_ocsp_cache;

/* One verified answer. */
typedef struct cg_ocsp_entry {
    cg_ocsp_status status;
    int reason;                  /* CRLReason, -1 when none */
    int64_t revoked_at;
    int64_t this_update, next_update; /* next_update 0: none */
    int64_t expires;             /* kept until then */
    char responder[256];         /* the URL that answered */
    char signer[256];            /* who signed it */
} cg_ocsp_entry;

/* The key of a CertID: SHA-256 of its hash algorithm, issuer hashes and serial (this cache's
 * table, the persisted file's name, the query shared between workers). */
void cg_ocsp_certid_key(const cg_ocsp_certid *id, unsigned char key[32]);

cg_ocsp_cache *cg_ocsp_cache_new(size_t max_entries);
void cg_ocsp_cache_free(cg_ocsp_cache *c);

/* The answer for id still current at now (copied into out); false when none is. */
bool cg_ocsp_cache_get(cg_ocsp_cache *c, const cg_ocsp_certid *id, int64_t now, cg_ocsp_entry *out);
/* Keeps e for id (replacing an older one); when the cache is full, expired entries go first,
 * then the one expiring soonest. */
void cg_ocsp_cache_put(cg_ocsp_cache *c, const cg_ocsp_certid *id, const cg_ocsp_entry *e, int64_t now);
size_t cg_ocsp_cache_count(cg_ocsp_cache *c);

#endif
