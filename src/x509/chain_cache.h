/* Verified client chains: a chain verified once skips its signature checks
 * in later full handshakes.
 *
 * mbedTLS 2.28 verifies the client's chain inside the handshake, every time,
 * and has no hook to skip it. With ECDSA P-256 the two chain signatures (leaf
 * by intermediate, intermediate by root) cost about 2.9 ms per handshake
 * here, as much as all the other public-key work of the handshake together.
 * Signature verification is a pure function of (public key, signed data,
 * signature), so a chain whose exact bytes were verified before need not be
 * verified again. Two pieces make mbedTLS use that, while it still does
 * everything else (dates, key usage, basic constraints, the profile):
 *
 * 1. Learned CAs as trust anchors. After a full handshake whose chain
 *    verified cleanly to a trust anchor, copies of its CA certificates join
 *    the worker's trust list, which the handshake uses for the client's
 *    Certificate message (tls.c sets it after the CertificateRequest went
 *    out, so the CA names clients see never change). A later chain through a
 *    learned CA stops there; cg_chain_cache_complete() appends the rest of
 *    the path learned with it, rechecking dates and path lengths, and only
 *    when the client sent those CA certificates itself, so the verdict, the
 *    depth policy and the revocation check see exactly the chain, and give
 *    exactly the answer, that a full verification would.
 * 2. Verified signatures. Every certificate in the trust list gets a public
 *    key whose verify operation first looks up (key, hash of the signed data,
 *    signature) among the signatures already verified with it, and calls
 *    mbedTLS's own verify only on a miss (remembering a success). This needs
 *    mbedtls_pk_info_t from mbedtls/pk_internal.h, which 2.28 installs.
 *
 * One trust list and one signature table per worker: the handshake path
 * takes no lock and shares nothing. Bounded (CG_CHAIN_CACHE_MAX_CAS learned
 * CAs, CG_CHAIN_CACHE_SIGS signatures per worker, oldest replaced first) and
 * owned by the listener's TLS context, so a reload starts from nothing.
 */
#ifndef CG_CHAIN_CACHE_H
#define CG_CHAIN_CACHE_H

#include <stdint.h>

#include <mbedtls/x509_crt.h>

#include "verify.h"

#define CG_CHAIN_CACHE_MAX_CAS 64  /* learned CA certificates per worker */
#define CG_CHAIN_CACHE_SIGS 4096   /* verified signatures per worker (power of two) */

typedef struct cg_chain_cache cg_chain_cache;

typedef struct cg_chain_cache_stats {
    uint64_t hits;   /* chain signatures answered from the table */
    uint64_t misses; /* chain signatures verified by mbedTLS */
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

/* Brackets the handshake step that verifies the client's chain: signature
 * checks on trust-list keys consult worker's table only in between. */
void cg_chain_cache_enter(cg_chain_cache *cc, unsigned worker);
void cg_chain_cache_leave(void);

/* After the handshake verified peer (the chain the client sent, leaf first)
 * into t: when t stops at a learned CA, appends the path to the anchor
 * learned with it (or, if the client did not send a CA of that path, ends
 * the chain below it and marks it untrusted, as mbedTLS would have). Then
 * learns t's CAs and signatures when t is clean (no flags above the leaf,
 * no signature problem on the leaf) and ends at a trust anchor. */
void cg_chain_cache_complete(cg_chain_cache *cc, unsigned worker, const mbedtls_x509_crt *peer, cg_verify_trace *t);

void cg_chain_cache_stats_get(cg_chain_cache *cc, unsigned worker, cg_chain_cache_stats *out);

#endif
