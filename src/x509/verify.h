/* Client certificate verdicts.
 *
 * mbedTLS verifies the chain during the handshake (requested with
 * MBEDTLS_SSL_VERIFY_OPTIONAL so the handshake completes either way, under
 * the certificate profile cg_verify_profile() returns); cg_verify_record()
 * captures what it found for each certificate, and cg_verify_client() turns
 * that into a verdict after the handshake, so a refusal is an HTTP page that
 * names the certificate, not a TLS alert.
 *
 * The policy, per listener: a chain from the client's certificates to one of
 * the trust anchors; for every certificate its signature, validity period,
 * basic constraints, path length and key usage (checked by mbedTLS, explained
 * here); the Client Authentication EKU on the leaf (configurable); at most
 * max_chain_depth certificates; no MD5 or SHA-1 signatures unless
 * allow_weak_signatures. Verdicts are 403.16 (untrusted, invalid) and 403.17
 * (expired, not yet valid) and name the certificate (subject, serial, depth).
 *
 * Resumed TLS sessions. A session resumed from a ticket keeps the
 * verification flags of its full handshake but only the LEAF certificate,
 * not the chain. So each listener's policy owns a pool (cg_verify_pool):
 * copies of the CA certificates of every chain verified in a full handshake
 * (bounded, never freed before the policy), and, by SHA-256 of the leaf, the
 * chain that leaf was verified with. cg_verify_chain() hands a resumed
 * session its chain back from there (or rebuilds it from the pool and the
 * trust anchors, checking every signature), so the depth policy and the
 * revocation check (crl_check.h) apply to resumed sessions exactly as to full
 * handshakes (a TLS 1.3 session's leaf and flags come from certgate's ticket:
 * net/tls13_ticket.h). Tickets sealed with the process's random keys never
 * outlive the listener's TLS context (a reload makes a new one). Shared tickets (tls.session_ticket_keys,
 * ticket_keys.h) do, and may come from another instance: they carry the CA
 * certificates the client sent after its leaf (tls.c), so the chain is
 * rebuilt from those, every signature checked, when the pool does not know it.
 */
#ifndef CG_VERIFY_H
#define CG_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mbedtls/x509_crt.h>

#include "base/base.h"

#define CG_VERIFY_MAX_DEPTH 12
#define CG_VERIFY_DEFAULT_DEPTH 6

typedef struct cg_verify_trace {
    int depth_count;                               /* 0: callback never ran */
    uint32_t flags[CG_VERIFY_MAX_DEPTH];           /* MBEDTLS_X509_BADCERT_* at depth i */
    const mbedtls_x509_crt *crt[CG_VERIFY_MAX_DEPTH]; /* borrowed; depth 0 = leaf */
} cg_verify_trace;

typedef struct cg_verify_pool cg_verify_pool;

typedef struct cg_verify_policy {
    const char *listener;            /* for messages */
    const mbedtls_x509_crt *anchors; /* trusted client CAs */
    bool require_client_auth_eku;
    unsigned max_chain_depth;        /* certificates, leaf and anchor included; 0: CG_VERIFY_DEFAULT_DEPTH */
    bool allow_weak_signatures;      /* MD5 / SHA-1 signatures (the profile enforces it) */
    cg_verify_pool *pool;            /* NULL: resumed sessions are judged from their flags only */
} cg_verify_policy;

/* The certificate profile for mbedtls_ssl_conf_cert_profile(): SHA-2 only
 * (SHA-224 to SHA-512) unless allow_weak_signatures also admits MD5 and
 * SHA-1; any public key algorithm and curve; RSA keys of 2048 bits or more. */
const mbedtls_x509_crt_profile *cg_verify_profile(bool allow_weak_signatures);

cg_verify_pool *cg_verify_pool_new(void);
void cg_verify_pool_free(cg_verify_pool *pool);
/* CA certificates and leaf chains remembered (for tests and explain). */
void cg_verify_pool_stats(cg_verify_pool *pool, size_t *cas, size_t *chains);

/* mbedTLS verification callback (mbedtls_ssl_set_verify); p is a
 * cg_verify_trace. Never fails the handshake itself. */
int cg_verify_record(void *p, mbedtls_x509_crt *crt, int depth, uint32_t *flags);

/* The verdict for a connection's client certificate. peer is the chain the
 * client sent (NULL if none), session_flags the session's verification result
 * (kept across resumption), trace what cg_verify_record saw (empty or NULL
 * for a resumed session). A full handshake's anchored chain is remembered in
 * p->pool. Returns true when acceptable; otherwise fills why. Thread-safe. */
bool cg_verify_client(const cg_verify_policy *p, const mbedtls_x509_crt *peer,
                      uint32_t session_flags, const cg_verify_trace *trace, cg_refusal *why);

/* The verified chain of leaf into out[0..n-1]: leaf first, trust anchor
 * last. From trace when it holds a full handshake's chain; otherwise (a
 * resumed session, or a trace already cleared) the chain remembered for this
 * leaf, or one rebuilt from the certificates following leaf (as the client
 * sent them), the pool and the trust anchors, every signature checked.
 * Returns n (1 when the leaf is itself a trust anchor), or 0 with a sentence
 * in why when no chain to a trust anchor can be found. The pointers are
 * borrowed from leaf's list, p->anchors and p->pool: valid while those are.
 * Thread-safe. */
int cg_verify_chain(const cg_verify_policy *p, const mbedtls_x509_crt *leaf, const cg_verify_trace *trace,
                    const mbedtls_x509_crt **out, int cap, char *why, size_t why_cap);

/* A certificate's subject / issuer as RFC 4514 text (dn.h: "CN=alice,O=Example",
 * the identity headers' and logs' text), cut with "..." to fit cap, and its
 * serial in hex; always NUL-terminated. */
void cg_cert_subject(const mbedtls_x509_crt *c, char *out, size_t cap);
void cg_cert_issuer(const mbedtls_x509_crt *c, char *out, size_t cap);
void cg_cert_serial(const mbedtls_x509_crt *c, char *out, size_t cap);
/* Lowercase hex SHA-256 of the DER certificate (65 bytes with the NUL). */
void cg_cert_sha256_hex(const mbedtls_x509_crt *c, char out[65]);
/* "\"CN=alice, ...\" (serial 0A, depth 0, the client certificate)". */
void cg_cert_describe(const mbedtls_x509_crt *c, int depth, char *out, size_t cap);
/* "SHA-256" and so on for MD5 and SHA-1/2, NULL for any other hash. */
const char *cg_md_name(mbedtls_md_type_t md);
/* "2026-01-31 12:00:00 UTC". */
void cg_x509_time_format(const mbedtls_x509_time *t, char *out, size_t cap);
/* True when child names parent as its issuer (issuer DN == subject DN). */
bool cg_cert_names_issuer(const mbedtls_x509_crt *child, const mbedtls_x509_crt *parent);
/* What mbedTLS 3.6 parses but keeps in private fields of a certificate.
 * cg_cert_is_ca: basicConstraints CA:TRUE (public accessor underneath).
 * cg_cert_max_pathlen: mbedTLS's convention, 0 when unlimited, else
 * pathLenConstraint + 1. cg_cert_sig_md: the hash of its signature. The
 * last two have no public accessor in 3.6: verify.c reads them, nothing
 * else does. */
bool cg_cert_is_ca(const mbedtls_x509_crt *c);
int cg_cert_max_pathlen(const mbedtls_x509_crt *c);
mbedtls_md_type_t cg_cert_sig_md(const mbedtls_x509_crt *c);
/* Verifies child's signature with parent's public key: 0 or an mbedTLS error. */
int cg_cert_check_signature(const mbedtls_x509_crt *child, const mbedtls_x509_crt *parent);

#endif
