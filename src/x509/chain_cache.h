/* Verified client chains: a chain verified once stops at its learned CA in
 * later full handshakes.
 *
 * mbedTLS verifies the client's chain inside the handshake, every time.
 * With ECDSA P-256 each signature of the chain (leaf by intermediate,
 * intermediate by root) costs about 1 ms here, as much as the rest of the
 * handshake's public-key work. mbedTLS 3.6 stops a chain at the first
 * certificate of its trust list that issued it, checking nothing above; so:
 *
 * Learned CAs as trust anchors. After a full handshake whose chain verified
 * cleanly to a trust anchor, copies of its CA certificates join the
 * worker's trust list, which tls.c gives each handshake
 * (mbedtls_ssl_set_hs_ca_chain; the CA names of CertificateRequest stay the
 * configured anchors: mbedtls_ssl_conf_dn_hints). A later chain through a
 * learned CA stops there: only the signatures below it are checked (the
 * leaf's own, usually). cg_chain_cache_complete() appends the rest of the
 * path learned with it, rechecking dates and path lengths, and only when the
 * client sent those CA certificates itself, so the verdict, the depth policy
 * and the revocation check see exactly the chain, and give exactly the
 * answer, that a full verification would.
 *
 * The leaf's own signature, the one left to check below a learned CA, is
 * the same in every handshake of a returning user: the verified-signature
 * cache of certgate's PSA driver answers it (subprojects/mbedtls/driver/,
 * docs/platform.md), below mbedTLS's X.509 code, for the bundled mbedTLS.
 * That driver is the one home of verified signatures: this module keeps no
 * table of them (2.28's did, through mbedtls_pk_info_t, private in 3.6).
 *
 * One trust list per worker: the handshake path takes no lock and shares
 * nothing. Bounded (CG_CHAIN_CACHE_MAX_CAS learned CAs per worker) and owned
 * by the listener's TLS context, so a reload starts from nothing.
 */
#ifndef CG_CHAIN_CACHE_H
#define CG_CHAIN_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include <mbedtls/x509_crt.h>

#include "verify.h"

#define CG_CHAIN_CACHE_MAX_CAS 64  /* learned CA certificates per worker */

typedef struct cg_chain_cache cg_chain_cache;

typedef struct cg_chain_cache_stats {
    uint64_t hits;   /* chains that stopped at a learned CA (nothing above it checked) */
    uint64_t misses; /* chains verified up to a configured trust anchor */
    size_t learned;  /* CA certificates learned */
} cg_chain_cache_stats;

/* anchors must outlive the cache. Returns NULL when out of memory. */
cg_chain_cache *cg_chain_cache_new(const mbedtls_x509_crt *anchors, unsigned workers);
void cg_chain_cache_free(cg_chain_cache *cc);

/* The trust list of worker's handshakes (copies of the anchors, then the
 * learned CAs), or NULL (worker out of range, out of memory): then use the
 * anchors. Only worker's own thread may call this and the functions below
 * with that worker. */
mbedtls_x509_crt *cg_chain_cache_trust(cg_chain_cache *cc, unsigned worker);

/* After the handshake verified peer (the chain the client sent, leaf first)
 * into t: when t stops at a learned CA, appends the path to the anchor
 * learned with it (or, if the client did not send a CA of that path, ends
 * the chain below it and marks it untrusted, as mbedTLS would have). Then
 * learns t's CAs when t is clean (no flags above the leaf, no signature
 * problem on the leaf) and ends at a trust anchor. Returns true when t
 * stopped at a learned CA (counted as a hit). */
bool cg_chain_cache_complete(cg_chain_cache *cc, unsigned worker, const mbedtls_x509_crt *peer, cg_verify_trace *t);

void cg_chain_cache_stats_get(cg_chain_cache *cc, unsigned worker, cg_chain_cache_stats *out);

#endif
