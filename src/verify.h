/* Client certificate verdicts.
 *
 * mbedTLS verifies the chain during the handshake (requested with
 * MBEDTLS_SSL_VERIFY_OPTIONAL so the handshake completes either way);
 * cg_verify_record() captures what it found for each certificate, and
 * cg_verify_client() turns that into a verdict after the handshake, so a
 * refusal is an HTTP page that names the certificate, not a TLS alert.
 */
#ifndef CG_VERIFY_H
#define CG_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include <mbedtls/x509_crt.h>

#include "error.h"

#define CG_VERIFY_MAX_DEPTH 12

typedef struct cg_verify_trace {
    int depth_count;                               /* 0: callback never ran */
    uint32_t flags[CG_VERIFY_MAX_DEPTH];           /* MBEDTLS_X509_BADCERT_* at depth i */
    const mbedtls_x509_crt *crt[CG_VERIFY_MAX_DEPTH]; /* borrowed; depth 0 = leaf */
} cg_verify_trace;

typedef struct cg_verify_policy {
    const char *listener;            /* for messages */
    const mbedtls_x509_crt *anchors; /* trusted client CAs */
    bool require_client_auth_eku;
} cg_verify_policy;

/* mbedTLS verification callback (mbedtls_ssl_set_verify); p is a
 * cg_verify_trace. Never fails the handshake itself. */
int cg_verify_record(void *p, mbedtls_x509_crt *crt, int depth, uint32_t *flags);

/* The verdict for a connection's client certificate. peer is the chain the
 * client sent (NULL if none), session_flags the session's verification result
 * (kept across resumption), trace what cg_verify_record saw (empty for a
 * resumed session). Returns true when acceptable; otherwise fills why. */
bool cg_verify_client(const cg_verify_policy *p, const mbedtls_x509_crt *peer,
                      uint32_t session_flags, const cg_verify_trace *trace, cg_refusal *why);

/* "CN=alice, O=Example" style text of a certificate's subject / issuer and its
 * serial in hex; always NUL-terminated. */
void cg_cert_subject(const mbedtls_x509_crt *c, char *out, size_t cap);
void cg_cert_issuer(const mbedtls_x509_crt *c, char *out, size_t cap);
void cg_cert_serial(const mbedtls_x509_crt *c, char *out, size_t cap);
/* Lowercase hex SHA-256 of the DER certificate (65 bytes with the NUL). */
void cg_cert_sha256_hex(const mbedtls_x509_crt *c, char out[65]);

#endif
